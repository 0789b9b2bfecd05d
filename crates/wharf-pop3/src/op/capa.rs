//! CAPA (RFC 2449 §5): the capabilities of the current state.

use crate::reply::{Pop3Error, ok};
use crate::sasl::MECHANISMS;
use crate::session::{Action, Phase, Session};

pub fn handle_capa(s: &mut Session<'_>, out: &mut Vec<u8>) -> Result<Action, Pop3Error> {
    ok(out, "Capability list follows");
    for line in capabilities(s) {
        out.extend_from_slice(line.as_bytes());
        out.extend_from_slice(b"\r\n");
    }
    out.extend_from_slice(b".\r\n");
    Ok(Action::Continue)
}

/// The capability lines. Ways to log in are listed only where they can be used: USER and
/// SASL when passwords may be sent on this connection, STLS while it can be started
/// (RFC 2595 §4: only in AUTHORIZATION).
pub fn capabilities(s: &Session<'_>) -> Vec<String> {
    let mut caps = vec![
        "CAPA".to_string(),
        "TOP".into(),
        "UIDL".into(),
        "RESP-CODES".into(),
        "AUTH-RESP-CODE".into(),
        "PIPELINING".into(),
    ];
    if s.phase() == Phase::Authorization {
        if s.plaintext_auth_allowed() {
            caps.push("USER".into());
            caps.push(format!("SASL {}", MECHANISMS.join(" ")));
        }
        if s.can_stls {
            caps.push("STLS".into());
        }
    }
    // RFC 2449 §6.7: the minimum number of days retrieved messages stay.
    caps.push(match s.server.config.expire_days {
        None => "EXPIRE NEVER".into(),
        Some(days) => format!("EXPIRE {days}"),
    });
    caps.push("IMPLEMENTATION Wharf".into());
    caps
}
