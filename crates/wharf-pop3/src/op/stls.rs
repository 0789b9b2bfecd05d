//! STLS (RFC 2595 §4): upgrade to TLS in the AUTHORIZATION state. The driver runs the
//! handshake after this +OK; `Conn::start_tls` drops anything the client pipelined
//! before it (RFC 2595 §3.1, CVE-2011-0411).

use crate::reply::{Pop3Error, ok};
use crate::session::{Action, Session};

pub fn handle_stls(s: &mut Session<'_>, out: &mut Vec<u8>) -> Result<Action, Pop3Error> {
    if s.tls {
        return Err(Pop3Error::new("Already using TLS"));
    }
    if !s.can_stls {
        return Err(Pop3Error::new("TLS not available"));
    }
    ok(out, "Begin TLS negotiation now");
    Ok(Action::StartTls)
}
