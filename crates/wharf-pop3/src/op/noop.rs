//! NOOP (RFC 1939 §5).

use crate::reply::{Pop3Error, ok};
use crate::session::{Action, Transaction};

pub fn handle_noop(_t: &mut Transaction, out: &mut Vec<u8>) -> Result<Action, Pop3Error> {
    ok(out, "");
    Ok(Action::Continue)
}
