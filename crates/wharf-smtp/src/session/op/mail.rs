//! MAIL FROM (RFC 5321 §4.1.1.2): starts a transaction. Any sender is accepted (the
//! mail exchanger receives from the whole Internet); what is checked is the envelope:
//! declared size (RFC 1870), UTF-8 (RFC 6531), and that extensions came after EHLO.

use crate::proto::{MailParams, Reply, ReversePath};
use crate::session::{Session, State, Step, Transaction};

impl Session {
    pub(crate) fn handle_mail(&mut self, from: ReversePath, params: MailParams) -> Step {
        let esmtp = self.helo.as_ref().is_some_and(|h| h.esmtp);
        // RFC 5321 §4.1.1.1: parameters belong to extensions, offered only after EHLO.
        if !esmtp && params != MailParams::default() {
            return Step::reply(Reply::unknown_param("(parameters need EHLO)"));
        }
        // RFC 1870 §6.1: refuse at once if the declared size is over our limit.
        if params
            .size
            .is_some_and(|s| s > self.shared.config.max_message_size)
        {
            return Step::reply(Reply::too_big());
        }
        // RFC 6531 §3.4: a UTF-8 address needs SMTPUTF8 on MAIL.
        if let ReversePath::Mailbox(m) = &from
            && !m.is_ascii()
            && !params.smtputf8
        {
            return Step::reply(Reply::utf8_needs_smtputf8());
        }
        self.state = State::Mail(Transaction {
            from,
            params,
            recipients: Vec::new(),
            accounts: Vec::new(),
        });
        Step::reply(Reply::sender_ok())
    }
}
