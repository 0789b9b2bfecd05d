//! CAPABILITY (RFC 9051 §6.1.1).

use crate::session::{Done, OpResult, Session};

pub fn handle_capability(s: &mut Session) -> OpResult {
    let caps = s.capabilities();
    s.untagged(&format!("CAPABILITY {caps}"));
    Ok(Done::text("CAPABILITY completed"))
}
