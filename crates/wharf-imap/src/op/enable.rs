//! ENABLE (RFC 5161): IMAP4rev2, CONDSTORE, QRESYNC (which implies CONDSTORE, RFC 7162
//! §3.2.3) and UTF8=ACCEPT (RFC 6855). Unknown capabilities are ignored, as §3.1 asks.

use crate::session::{Done, OpResult, Session};

pub fn handle_enable(s: &mut Session, caps: &[String]) -> OpResult {
    let mut newly: Vec<&str> = Vec::new();
    for c in caps {
        match c.as_str() {
            "IMAP4REV2" if !s.enabled.rev2 => {
                s.enabled.rev2 = true;
                // RFC 9051 mailbox names are UTF-8.
                s.enabled.utf8 = true;
                newly.push("IMAP4rev2");
            }
            "CONDSTORE" if !s.enabled.condstore => {
                s.enabled.condstore = true;
                newly.push("CONDSTORE");
            }
            "QRESYNC" if !s.enabled.qresync => {
                s.enabled.qresync = true;
                s.enabled.condstore = true;
                newly.push("QRESYNC");
            }
            "UTF8=ACCEPT" if !s.enabled.utf8 => {
                s.enabled.utf8 = true;
                newly.push("UTF8=ACCEPT");
            }
            _ => {}
        }
    }
    let line = format!("ENABLED {}", newly.join(" "));
    s.untagged(line.trim_end());
    Ok(Done::text("ENABLE completed"))
}
