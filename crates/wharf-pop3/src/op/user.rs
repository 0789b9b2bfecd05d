//! USER (RFC 1939 §7): remembers the name for the PASS that must follow.

use crate::reply::{Pop3Error, ok};
use crate::session::{Action, Session, State, plaintext_refused};

pub fn handle_user(
    s: &mut Session<'_>,
    name: String,
    out: &mut Vec<u8>,
) -> Result<Action, Pop3Error> {
    if !s.plaintext_auth_allowed() {
        return Err(plaintext_refused());
    }
    // Whether the user exists is not said here: that would let anyone probe addresses.
    s.state = State::Authorization { user: Some(name) };
    ok(out, "Send your password");
    Ok(Action::Continue)
}
