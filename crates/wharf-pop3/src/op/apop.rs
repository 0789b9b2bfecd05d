//! APOP (RFC 1939 §7): refused. It needs the plain password on the server to compute
//! the digest, and the store keeps only Argon2id hashes; the greeting carries no
//! timestamp, so clients know APOP is not offered.

use crate::reply::Pop3Error;
use crate::session::Action;

pub fn handle_apop() -> Result<Action, Pop3Error> {
    Err(Pop3Error::new("APOP not supported; use USER/PASS or AUTH"))
}
