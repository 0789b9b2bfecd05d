//! NOOP (RFC 5321 §4.1.1.9): nothing happens.

use crate::proto::Reply;
use crate::session::{Session, Step};

impl Session {
    pub(crate) fn handle_noop(&mut self) -> Step {
        Step::reply(Reply::ok())
    }
}
