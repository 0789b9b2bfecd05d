//! LIST [msg] (RFC 1939 §5): exact sizes, i.e. the octets RETR sends before
//! byte-stuffing, CRLF line endings included.

use crate::reply::{Pop3Error, ok};
use crate::session::{Action, Transaction};
use std::io::Write;

pub fn handle_list(
    t: &mut Transaction,
    n: Option<u32>,
    out: &mut Vec<u8>,
) -> Result<Action, Pop3Error> {
    match n {
        Some(n) => {
            let e = t.maildrop.get(n)?;
            ok(out, &format!("{n} {}", e.size));
        }
        None => {
            let (count, size) = t.maildrop.stat();
            ok(out, &format!("{count} messages ({size} octets)"));
            for (n, e) in t.maildrop.live() {
                let _ = write!(out, "{n} {}\r\n", e.size);
            }
            out.extend_from_slice(b".\r\n");
        }
    }
    Ok(Action::Continue)
}
