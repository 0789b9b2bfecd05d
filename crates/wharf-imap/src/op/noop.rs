//! NOOP (RFC 9051 §6.1.2) and CHECK (RFC 3501 §6.4.1, which rev2 dropped): nothing to
//! do but report changes, which the session does after every command.
//!
//! NOOP is what clients send to poll, so it looks at the store itself instead of
//! trusting that every change event has already arrived.

use crate::session::{Done, OpResult, Session, State};

pub fn handle_noop(s: &mut Session) -> OpResult {
    if let State::Selected { mailbox, .. } = &mut s.state {
        mailbox.dirty = true;
    }
    Ok(Done::text("NOOP completed"))
}
