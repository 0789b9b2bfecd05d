//! NAMESPACE (RFC 2342, RFC 9051 §6.3.10): one personal namespace, no shared ones.

use crate::session::{Done, OpResult, Session};

pub fn handle_namespace(s: &mut Session) -> OpResult {
    s.untagged("NAMESPACE ((\"\" \"/\")) NIL NIL");
    Ok(Done::text("NAMESPACE completed"))
}
