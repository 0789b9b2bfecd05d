//! STARTTLS (RFC 9051 §6.2.1): the driver runs the handshake after our OK; pipelined
//! plaintext is discarded by [`wharf_net::Conn::start_tls`] (CVE-2011-0411).

use crate::session::{Done, ImapError, OpResult, Outcome, Session};

pub fn handle_starttls(s: &mut Session) -> (OpResult, Outcome) {
    if s.conn.tls {
        return (
            Err(ImapError::bad("TLS is already active")),
            Outcome::Continue,
        );
    }
    if !s.conn.can_starttls {
        return (
            Err(ImapError::no("TLS is not available")),
            Outcome::Continue,
        );
    }
    (
        Ok(Done::text("Begin TLS negotiation now")),
        Outcome::StartTls,
    )
}
