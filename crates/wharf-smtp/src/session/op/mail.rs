//! MAIL FROM (RFC 5321 §4.1.1.2): starts a transaction. Any sender is accepted (the
//! mail exchanger receives from the whole Internet); what is checked is the envelope:
//! declared size (RFC 1870), UTF-8 (RFC 6531), and that extensions came after EHLO.
//!
//! On submission the sender must have authenticated first (RFC 4954 §6: `530 5.7.0`)
//! and may send only as one of their own addresses or of the aliases that reach them
//! (`553 5.7.1`); the null sender is refused too (bounces come from the server).

use crate::proto::{MailParams, Reply, ReversePath};
use crate::session::{Mode, Session, State, Step, Transaction};
use wharf_store::Address;

impl Session {
    pub(crate) async fn handle_mail(&mut self, from: ReversePath, params: MailParams) -> Step {
        if self.shared.mode == Mode::Submission
            && let Err(reply) = self.check_sender(&from).await
        {
            return Step::reply(reply);
        }
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
            remote: Vec::new(),
        });
        Step::reply(Reply::sender_ok())
    }

    /// Submission: is the authenticated user allowed to use this reverse path?
    async fn check_sender(&mut self, from: &ReversePath) -> Result<(), Reply> {
        let Some(account) = &self.auth else {
            return Err(
                if !self.conn.tls && self.conn.can_starttls && !self.auth_offered() {
                    Reply::starttls_first()
                } else {
                    Reply::auth_required()
                },
            );
        };
        let ReversePath::Mailbox(m) = from else {
            return Err(Reply::sender_not_owned());
        };
        let Ok(address) = Address::parse(&m.to_string()) else {
            return Err(Reply::sender_not_owned());
        };
        if self.owned.is_none() {
            match self.shared.store.addresses_of(account.id).await {
                Ok(list) => self.owned = Some(list),
                Err(e) => {
                    tracing::warn!(conn = self.conn.id, "store error listing addresses: {e}");
                    return Err(Reply::local_error());
                }
            }
        }
        let owned = self.owned.as_deref().unwrap_or_default();
        if owned.iter().any(|a| a.key() == address.key()) {
            Ok(())
        } else {
            tracing::info!(conn = self.conn.id, user = %account.address, from = %address, "sender refused: not owned");
            Err(Reply::sender_not_owned())
        }
    }
}
