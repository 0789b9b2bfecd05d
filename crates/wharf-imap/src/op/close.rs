//! CLOSE (RFC 9051 §6.4.1: expunge \Deleted silently, unless read-only) and UNSELECT
//! (RFC 3691: leave without expunging).
//!
//! CLOSE removes what has \Deleted in the store now, also where another session set
//! the flag and this one was not told yet; it reports nothing (no EXPUNGE).

use crate::session::{Done, OpResult, Session, State};
use wharf_store::Flags;

pub async fn handle_close(s: &mut Session, expunge: bool) -> OpResult {
    let account = super::account(s)?;
    if let State::Selected { mailbox, .. } = &s.state
        && expunge
        && !mailbox.read_only
    {
        let uids: Vec<u32> = s
            .ctx
            .store
            .mailbox_snapshot(mailbox.id)
            .await?
            .messages
            .iter()
            .filter(|m| m.flags.contains(Flags::DELETED))
            .map(|m| m.uid)
            .collect();
        if !uids.is_empty() {
            s.ctx.store.expunge(mailbox.id, &uids).await?;
        }
    }
    s.state = State::Authenticated { account };
    Ok(Done::text(if expunge {
        "CLOSE completed"
    } else {
        "UNSELECT completed"
    }))
}
