//! LOGIN (RFC 9051 §6.2.3), and the login step AUTHENTICATE PLAIN shares with it.
//!
//! Plaintext passwords only over TLS or loopback unless the config allows them
//! (RFC 9051 §6.2.3: LOGINDISABLED); failures are throttled per client address and
//! a connection is closed after `max_auth_failures`.

use crate::session::{Done, ImapError, OpResult, Session, State};
use wharf_store::{Address, Secret};

pub async fn handle_login(s: &mut Session, user: &str, password: &Secret) -> OpResult {
    if !s.plaintext_ok() {
        return Err(ImapError::no_code(
            "PRIVACYREQUIRED",
            "Plaintext login is disabled on unencrypted connections; use STARTTLS",
        ));
    }
    log_in(s, user, password).await
}

/// Checks the credentials and moves to the authenticated state.
pub async fn log_in(s: &mut Session, user: &str, password: &Secret) -> OpResult {
    let ip = s.conn.peer;
    if !s.ctx.throttle.allowed(ip) {
        return Err(ImapError::no_code(
            "UNAVAILABLE",
            "Too many failed logins from your address; try again later",
        ));
    }
    let account = match Address::parse(user) {
        Ok(addr) => {
            // Argon2id waits for a login slot (shared with every protocol): a login
            // flood queues here instead of filling the blocking pool store reads share.
            let _slot = s.ctx.throttle.login_slot().await;
            s.ctx.store.authenticate(&addr, password).await?
        }
        Err(_) => None,
    };
    let Some(account) = account else {
        let delay = s.ctx.throttle.failed(ip);
        tokio::time::sleep(delay).await;
        s.auth_failures += 1;
        // The name as the client sent it (bounded, escaped: it is the client's input).
        let shown: String = user.chars().take(256).collect();
        tracing::info!(
            peer = %ip,
            user = ?shown,
            failures = s.auth_failures,
            "IMAP login failed"
        );
        if s.auth_failures >= s.ctx.config.max_auth_failures {
            return Err(ImapError::bye("Too many failed logins"));
        }
        return Err(ImapError::no_code(
            "AUTHENTICATIONFAILED",
            "Authentication failed",
        ));
    };
    s.ctx.throttle.succeeded(ip);
    tracing::info!(peer = %ip, user = %account.address, "IMAP login");
    s.state = State::Authenticated { account };
    let caps = s.capabilities();
    Ok(Done::code(format!("CAPABILITY {caps}"), "Logged in"))
}
