//! VRFY (RFC 5321 §4.1.1.6). We never confirm or deny an address (that would hand out
//! the user list); RFC 5321 §3.5.3 allows 252 for exactly this.

use crate::proto::Reply;
use crate::session::{Session, Step};

impl Session {
    pub(crate) fn handle_vrfy(&mut self, _arg: String) -> Step {
        Step::reply(Reply::cannot_verify())
    }
}
