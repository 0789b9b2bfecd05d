//! RSET (RFC 1939 §5): unmarks every message marked deleted.

use crate::reply::{Pop3Error, ok};
use crate::session::{Action, Transaction};

pub fn handle_rset(t: &mut Transaction, out: &mut Vec<u8>) -> Result<Action, Pop3Error> {
    t.maildrop.rset();
    let (count, size) = t.maildrop.stat();
    ok(
        out,
        &format!("Maildrop has {count} messages ({size} octets)"),
    );
    Ok(Action::Continue)
}
