//! UIDL [msg] (RFC 1939 §7): unique-ids that never change and are never reused.

use crate::reply::{Pop3Error, ok};
use crate::session::{Action, Transaction};
use std::io::Write;

pub fn handle_uidl(
    t: &mut Transaction,
    n: Option<u32>,
    out: &mut Vec<u8>,
) -> Result<Action, Pop3Error> {
    match n {
        Some(n) => {
            let e = t.maildrop.get(n)?;
            ok(out, &format!("{n} {}", t.maildrop.unique_id(e)));
        }
        None => {
            ok(out, "Unique-id listing follows");
            for (n, e) in t.maildrop.live() {
                let _ = write!(out, "{n} {}\r\n", t.maildrop.unique_id(e));
            }
            out.extend_from_slice(b".\r\n");
        }
    }
    Ok(Action::Continue)
}
