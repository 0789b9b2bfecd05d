//! MAIL FROM (RFC 5321 §4.1.1.2): starts a transaction. Any sender is accepted (the
//! mail exchanger receives from the whole Internet); what is checked is the envelope:
//! declared size (RFC 1870), UTF-8 (RFC 6531), and that extensions came after EHLO.
//!
//! On submission the sender must have authenticated first (RFC 4954 §6: `530 5.7.0`)
//! and may send only as one of their own addresses or of the aliases that reach them
//! (`553 5.7.1`); the null sender is refused too (bounces come from the server).
//!
//! The same list bounds the message's header: every `From:` and `Sender:` mailbox
//! must be one the user may send as, or the message is refused after the data with
//! `550 5.7.1` (as mox does), so nobody gets a message DKIM-signed for our domain in
//! someone else's name. Accounts listed in `[submission] allow_any_header_from` (list
//! managers) are exempt; a message with no `From:` has nothing to check.

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

    /// The addresses the authenticated user may send as (loaded once per login).
    async fn owned_addresses(&mut self) -> Result<&[Address], Reply> {
        let Some(account) = &self.auth else {
            return Err(Reply::auth_required());
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
        Ok(self.owned.as_deref().unwrap_or_default())
    }

    /// Submission, after the data: may the user put these `From:`/`Sender:` addresses
    /// in the header? (Anti-spoofing; see the module notes.)
    pub(crate) async fn check_header_senders(&mut self, message: &[u8]) -> Result<(), Reply> {
        if self.shared.mode != Mode::Submission {
            return Ok(());
        }
        let Some(account) = self.auth.clone() else {
            return Err(Reply::auth_required());
        };
        let exempt = self
            .shared
            .submission
            .allow_any_header_from
            .iter()
            .filter_map(|a| Address::parse(a).ok())
            .any(|a| a.key() == account.address.key());
        if exempt {
            return Ok(());
        }
        let claimed = crate::fixup::header_senders(message);
        if claimed.is_empty() {
            return Ok(());
        }
        let conn = self.conn.id;
        let owned = self.owned_addresses().await?;
        for (field, address) in claimed {
            let ok = address
                .as_deref()
                .and_then(|a| Address::parse(a).ok())
                .is_some_and(|a| owned.iter().any(|o| o.key() == a.key()));
            if !ok {
                let shown = address.unwrap_or_else(|| "(none)".into());
                tracing::info!(conn, user = %account.address, field, address = %shown, "message refused: header sender not owned");
                return Err(Reply::header_sender_not_owned(field, &shown));
            }
        }
        Ok(())
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
        let user = account.address.clone();
        let conn = self.conn.id;
        let owned = self.owned_addresses().await?;
        if owned.iter().any(|a| a.key() == address.key()) {
            Ok(())
        } else {
            tracing::info!(conn, user = %user, from = %address, "sender refused: not owned");
            Err(Reply::sender_not_owned())
        }
    }
}
