//! EHLO (RFC 5321 §4.1.1.1): greeting plus the list of extensions we offer.

use crate::proto::Reply;
use crate::session::{Helo, Session, Step};

impl Session {
    pub(crate) fn handle_ehlo(&mut self, name: String) -> Step {
        // RFC 5321 §4.1.4: EHLO in a transaction resets it, as RSET would.
        self.helo = Some(Helo { name, esmtp: true });
        self.reset_transaction();
        let mut reply = Reply::plain(250, self.shared.hostname.clone())
            .line("PIPELINING")
            .line(format!("SIZE {}", self.shared.config.max_message_size))
            .line("8BITMIME")
            .line("ENHANCEDSTATUSCODES");
        // RFC 3207 §4.2: not offered once TLS is on, nor without a certificate.
        if self.conn.can_starttls {
            reply = reply.line("STARTTLS");
        }
        // RFC 4954 §3; RFC 8314 §3: plaintext mechanisms only where passwords are safe.
        if self.auth_offered() {
            reply = reply.line("AUTH PLAIN LOGIN");
        }
        reply = reply
            .line("SMTPUTF8")
            .line("CHUNKING")
            .line("BINARYMIME")
            .line("DSN")
            .line("HELP");
        Step::reply(reply)
    }
}
