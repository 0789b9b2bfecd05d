//! DELE msg (RFC 1939 §5): marks a message; it is removed only in UPDATE, after QUIT.

use crate::reply::{Pop3Error, ok};
use crate::session::{Action, Transaction};

pub fn handle_dele(t: &mut Transaction, n: u32, out: &mut Vec<u8>) -> Result<Action, Pop3Error> {
    t.maildrop.dele(n)?;
    ok(out, &format!("Message {n} deleted"));
    Ok(Action::Continue)
}
