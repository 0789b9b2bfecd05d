//! PASS (RFC 1939 §7): the password for the name USER just gave.

use crate::reply::Pop3Error;
use crate::session::{Action, Session, plaintext_refused};
use wharf_store::Secret;

pub async fn handle_pass(
    s: &mut Session<'_>,
    pending_user: Option<String>,
    password: Secret,
    out: &mut Vec<u8>,
) -> Result<Action, Pop3Error> {
    if !s.plaintext_auth_allowed() {
        return Err(plaintext_refused());
    }
    // RFC 1939 §7: "may only be given ... immediately after a successful USER command".
    let Some(user) = pending_user else {
        return Err(Pop3Error::new("PASS must follow USER"));
    };
    s.login(&user, &password, out).await
}
