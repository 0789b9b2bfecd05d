//! RSET (RFC 5321 §4.1.1.5): drop the transaction, keep the greeting.

use crate::proto::Reply;
use crate::session::{Session, Step};

impl Session {
    pub(crate) fn handle_rset(&mut self) -> Step {
        self.reset_transaction();
        Step::reply(Reply::ok())
    }
}
