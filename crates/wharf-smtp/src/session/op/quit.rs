//! QUIT (RFC 5321 §4.1.1.10): 221 and close. An unfinished transaction is dropped.

use crate::proto::Reply;
use crate::session::{Session, Step};

impl Session {
    pub(crate) fn handle_quit(&mut self) -> Step {
        self.reset_transaction();
        Step::close(Reply::closing())
    }
}
