//! HELO (RFC 5321 §4.1.1.1): the old greeting; no extensions follow.

use crate::proto::Reply;
use crate::session::{Helo, Session, Step};

impl Session {
    pub(crate) fn handle_helo(&mut self, name: String) -> Step {
        // RFC 5321 §4.1.4: HELO in a transaction resets it, as RSET would.
        self.helo = Some(Helo { name, esmtp: false });
        self.reset_transaction();
        // RFC 2034 §3: no enhanced status code on the HELO reply.
        Step::reply(Reply::plain(250, self.shared.hostname.clone()))
    }
}
