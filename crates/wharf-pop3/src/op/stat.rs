//! STAT (RFC 1939 §5): count and size of the messages not marked deleted.

use crate::reply::{Pop3Error, ok};
use crate::session::{Action, Transaction};

pub fn handle_stat(t: &mut Transaction, out: &mut Vec<u8>) -> Result<Action, Pop3Error> {
    let (count, size) = t.maildrop.stat();
    ok(out, &format!("{count} {size}"));
    Ok(Action::Continue)
}
