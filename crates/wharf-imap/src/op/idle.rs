//! IDLE (RFC 2177, RFC 9051 §6.3.13): report what is pending, then the driver follows
//! the store's change events until the client says DONE.

use crate::proto::Tag;
use crate::session::{Done, OpResult, Outcome, Session, State};

pub async fn handle_idle(s: &mut Session, tag: &Tag) -> (OpResult, Outcome) {
    // Start from the store's current state, not only from the events received so far.
    if let State::Selected { mailbox, .. } = &mut s.state {
        mailbox.dirty = true;
    }
    if let Err(e) = s.sync(true).await {
        return (Err(e), Outcome::Continue);
    }
    (Ok(Done::text("")), Outcome::Idle(tag.clone()))
}
