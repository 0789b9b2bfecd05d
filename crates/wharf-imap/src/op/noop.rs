//! NOOP (RFC 9051 §6.1.2) and CHECK (RFC 3501 §6.4.1, which rev2 dropped): nothing to
//! do but report changes, which the session does after every command.

use crate::session::{Done, OpResult, Session};

pub fn handle_noop(_s: &mut Session) -> OpResult {
    Ok(Done::text("NOOP completed"))
}
