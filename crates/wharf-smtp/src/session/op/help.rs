//! HELP (RFC 5321 §4.1.1.8): the commands we take.

use crate::proto::{Reply, Status};
use crate::session::{Mode, Session, Step};

impl Session {
    pub(crate) fn handle_help(&mut self, _topic: Option<String>) -> Step {
        let status = Status(2, 0, 0);
        let reply = match self.shared.mode {
            Mode::Exchanger => Reply::new(
                214,
                status,
                "Commands: HELO EHLO MAIL RCPT DATA BDAT RSET NOOP QUIT VRFY HELP STARTTLS",
            )
            .line("See RFC 5321; mail for this host only, no relaying"),
            Mode::Submission => Reply::new(
                214,
                status,
                "Commands: HELO EHLO AUTH MAIL RCPT DATA BDAT RSET NOOP QUIT VRFY HELP STARTTLS",
            )
            .line("See RFC 6409; authenticate first, then send as your own address"),
        };
        Step::reply(reply)
    }
}
