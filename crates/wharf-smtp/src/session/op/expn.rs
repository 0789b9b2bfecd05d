//! EXPN (RFC 5321 §4.1.1.7). Expanding aliases would list their members to anyone;
//! RFC 5321 §3.5.2 and §7.3 allow refusing it, which we do with 502.

use crate::proto::Reply;
use crate::session::{Session, Step};

impl Session {
    pub(crate) fn handle_expn(&mut self, _arg: String) -> Step {
        Step::reply(Reply::not_implemented("EXPN"))
    }
}
