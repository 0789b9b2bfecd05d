//! ID (RFC 2971): the client's parameters are logged, ours are name and version.

use crate::session::{Done, OpResult, Session};

pub fn handle_id(s: &mut Session, params: Vec<(String, Option<String>)>) -> OpResult {
    if !params.is_empty() {
        let shown: Vec<String> = params
            .iter()
            .map(|(k, v)| format!("{k}={}", v.as_deref().unwrap_or("NIL")))
            .collect();
        tracing::debug!(peer = %s.conn.peer, "client ID: {}", shown.join(", "));
    }
    s.untagged(&format!(
        "ID (\"name\" \"Wharf\" \"version\" \"{}\")",
        env!("CARGO_PKG_VERSION")
    ));
    Ok(Done::text("ID completed"))
}
