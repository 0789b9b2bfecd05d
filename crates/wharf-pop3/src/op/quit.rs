//! QUIT (RFC 1939 §4, §6). In AUTHORIZATION it just ends the session; in TRANSACTION it
//! enters UPDATE: messages marked by DELE (and those the EXPIRE policy removes) are
//! expunged, which publishes the change to IMAP sessions, and retrieved messages get
//! `\Seen`.

use crate::reply::{Pop3Error, RespCode, ok};
use crate::session::{Action, Session, State};
use wharf_store::{FlagOp, FlagUpdate, Flags};

pub async fn handle_quit(s: &mut Session<'_>, out: &mut Vec<u8>) -> Result<Action, Pop3Error> {
    let State::Transaction(t) =
        std::mem::replace(&mut s.state, State::Authorization { user: None })
    else {
        ok(
            out,
            &format!("{} POP3 server signing off", s.server.hostname),
        );
        return Ok(Action::Close);
    };
    let store = &s.server.store;
    let plan = t.maildrop.update_plan(s.server.config.expire_days, now());
    let mailbox = t.maildrop.mailbox;
    if !plan.mark_seen.is_empty() {
        let update = FlagUpdate {
            uids: plan.mark_seen.clone(),
            op: FlagOp::Add,
            flags: Flags::SEEN,
            keywords: Vec::new(),
            unchanged_since: None,
        };
        // Losing `\Seen` is not worth failing the session for.
        if let Err(e) = store.store_flags(mailbox, update).await {
            tracing::warn!(user = %t.account.address, "pop3: setting \\Seen failed: {e}");
        }
    }
    if !plan.expunge.is_empty()
        && let Err(e) = store.expunge(mailbox, &plan.expunge).await
    {
        tracing::warn!(user = %t.account.address, "pop3: UPDATE failed: {e}");
        // RFC 1939 §6: "-ERR some deleted messages not removed".
        return Err(
            Pop3Error::with_code(RespCode::SysTemp, "Some deleted messages not removed").closing(),
        );
    }
    let deleted = plan.expunge.len() - plan.expired;
    let (left, _) = t.maildrop.stat();
    let left = left.saturating_sub(plan.expired);
    tracing::info!(user = %t.account.address, deleted, expired = plan.expired, "pop3 update");
    ok(
        out,
        &format!(
            "{} POP3 server signing off ({deleted} deleted, {} expired, {left} left)",
            s.server.hostname, plan.expired
        ),
    );
    // The maildrop lock goes with `t`.
    drop(t);
    Ok(Action::Close)
}

fn now() -> i64 {
    std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .map(|d| d.as_secs() as i64)
        .unwrap_or(0)
}
