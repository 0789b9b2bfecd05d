//! The login check, in exactly one place: throttling, the password, the maildrop lock
//! and the maildrop snapshot. PASS and AUTH both end here.

use crate::lock::MaildropLock;
use crate::maildrop::Maildrop;
use crate::reply::{Pop3Error, RespCode};
use crate::session::{Session, Transaction};
use wharf_store::{Address, Secret};

pub async fn login(
    s: &mut Session<'_>,
    user: &str,
    password: &Secret,
) -> Result<Transaction, Pop3Error> {
    let server = s.server;
    let config = &server.config;
    if !server.logins.throttle.allowed(s.peer) {
        tracing::warn!(peer = %s.peer, "pop3: login refused, too many failures from this address");
        // Not [AUTH]: the credentials may be right; the client should retry later, not
        // ask the user for a new password (RFC 3206 §5).
        return Err(Pop3Error::with_code(
            RespCode::SysTemp,
            "Too many failed logins from your address, try again later",
        )
        .closing());
    }
    let account = match Address::parse(user) {
        Ok(address) => {
            // Never fails: the semaphore is not closed.
            let _slot = server.logins.throttle.login_slot().await;
            server.store.authenticate(&address, password).await?
        }
        Err(_) => None,
    };
    let Some(account) = account else {
        let delay = server.logins.throttle.failed(s.peer);
        s.auth_failures += 1;
        tracing::info!(peer = %s.peer, user, failures = s.auth_failures, "pop3: authentication failed");
        tokio::time::sleep(delay).await;
        // RFC 3206 §4: [AUTH] says the credentials were the problem.
        let err = Pop3Error::with_code(RespCode::Auth, "Authentication failed");
        return Err(if s.auth_failures >= config.max_auth_failures {
            Pop3Error::with_code(
                RespCode::Auth,
                "Authentication failed, too many failures, closing",
            )
            .closing()
        } else {
            err
        });
    };
    server.logins.throttle.succeeded(s.peer);
    let Some(inbox) = server.store.mailbox_get(account.id, "INBOX").await? else {
        return Err(Pop3Error::with_code(
            RespCode::SysPerm,
            "This account has no INBOX",
        ));
    };
    // RFC 1939 §8 / RFC 2449 §8.1.1: one session per maildrop.
    let Some(lock) = MaildropLock::try_acquire(&server.store, inbox.id) else {
        return Err(Pop3Error::with_code(
            RespCode::InUse,
            "Maildrop is locked by another POP3 session",
        ));
    };
    let snapshot = server.store.mailbox_snapshot(inbox.id).await?;
    Ok(Transaction {
        account,
        maildrop: Maildrop::new(&snapshot),
        _lock: lock,
        read_ahead: Default::default(),
    })
}
