//! LOGOUT (RFC 9051 §6.1.3): untagged BYE, tagged OK, close.

use crate::session::{Done, OpResult, Outcome, Session, State};

pub fn handle_logout(s: &mut Session) -> (OpResult, Outcome) {
    s.untagged("BYE Logging out");
    s.state = State::Logout;
    (Ok(Done::text("LOGOUT completed")), Outcome::Close)
}
