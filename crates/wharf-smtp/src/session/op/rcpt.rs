//! RCPT TO (RFC 5321 §4.1.1.3): checks each recipient against the directory at once,
//! so that unknown users are refused in the session, not bounced later.
//!
//! - Not one of our domains: `550 5.7.1` — the mail exchanger never relays.
//! - Our domain, nobody there: `550 5.1.1`.
//! - An alias that only forwards off-site: `550 5.3.0` on the mail exchanger (it does
//!   not forward); on submission the off-site targets are queued.
//! - Submission: any other domain is accepted and queued (the user authenticated).
//! - A mailbox at or over quota (or that the declared SIZE would push over): `452 4.2.2`.
//! - More than `max_recipients`: `452 4.5.3` (RFC 5321 §4.5.3.1.10).

use crate::proto::{ForwardPath, Notify, RcptParams, Reply};
use crate::session::{Mode, Recipient, Session, State, Step, recipient_address};
use wharf_store::queue::QueueRecipientSpec;
use wharf_store::{Account, Resolution};

impl Session {
    pub(crate) async fn handle_rcpt(&mut self, to: ForwardPath, params: RcptParams) -> Step {
        let Some(tx) = self.transaction() else {
            return Step::reply(Reply::bad_sequence("Need MAIL command"));
        };
        if tx.recipients.len() >= self.shared.config.max_recipients {
            return Step::reply(Reply::too_many_recipients());
        }
        // RFC 6531 §3.4: UTF-8 addresses only in an SMTPUTF8 transaction.
        if let ForwardPath::Mailbox(m) = &to
            && !m.is_ascii()
            && !tx.params.smtputf8
        {
            return Step::reply(Reply::utf8_needs_smtputf8());
        }
        let declared = tx.params.size.unwrap_or(0);
        let address = match recipient_address(&self.shared, &to).await {
            Ok(a) => a,
            Err(reply) => return Step::reply(reply),
        };
        let resolution = match self.shared.store.resolve(&address).await {
            Ok(r) => r,
            Err(e) => {
                tracing::warn!(conn = self.conn.id, "store error resolving {address}: {e}");
                return Step::reply(Reply::local_error());
            }
        };
        let submission = self.shared.mode == Mode::Submission;
        let mut remote = Vec::new();
        let accounts = match resolution {
            // Submission relays for the authenticated user: the queue takes it.
            Resolution::NotLocal if submission => {
                remote.push(queue_spec(address.as_str(), &params, None));
                Vec::new()
            }
            Resolution::NotLocal => {
                // The refusal an operator looks for when a sender says mail bounced.
                tracing::info!(
                    conn = self.conn.id,
                    peer = %self.conn.peer,
                    from = %tx.from,
                    to = %address,
                    "relay refused: recipient not in a local domain"
                );
                return Step::reply(Reply::relay_denied());
            }
            Resolution::Unknown => return Step::reply(Reply::no_such_user()),
            Resolution::Local { accounts, forward } => {
                if submission || self.shared.config.forward_off_site_aliases {
                    // Off-site alias targets are queued; the DSN names the alias
                    // (RFC 3461 §4.2: ORCPT is the address as the sender gave it).
                    for target in &forward {
                        remote.push(queue_spec(target, &params, Some(address.as_str())));
                    }
                } else {
                    if accounts.is_empty() {
                        return Step::reply(Reply::forward_unavailable());
                    }
                    if !forward.is_empty() {
                        tracing::warn!(
                            conn = self.conn.id,
                            "{address} also forwards to {} remote address(es); not delivered there (the mail exchanger does not forward)",
                            forward.len()
                        );
                    }
                }
                accounts
            }
        };
        for account in &accounts {
            match self.over_quota(account, declared).await {
                Ok(false) => {}
                Ok(true) => return Step::reply(Reply::mailbox_full()),
                Err(e) => {
                    tracing::warn!(conn = self.conn.id, "store error reading usage: {e}");
                    return Step::reply(Reply::local_error());
                }
            }
        }
        let state = std::mem::replace(&mut self.state, State::Connected);
        let (State::Mail(mut tx) | State::Rcpt(mut tx)) = state else {
            // `allowed` only lets RCPT through in Mail or Rcpt.
            self.state = state;
            return Step::reply(Reply::bad_sequence("Need MAIL command"));
        };
        for account in accounts {
            if !tx.accounts.iter().any(|a| a.id == account.id) {
                tx.accounts.push(account);
            }
        }
        for spec in remote {
            if !tx
                .remote
                .iter()
                .any(|r| r.address.eq_ignore_ascii_case(&spec.address))
            {
                tx.remote.push(spec);
            }
        }
        tx.recipients.push(Recipient { address, params });
        self.state = State::Rcpt(tx);
        Step::reply(Reply::recipient_ok())
    }

    /// Whether the account is full already, or would be with `incoming` more octets.
    pub(crate) async fn over_quota(
        &self,
        account: &Account,
        incoming: u64,
    ) -> wharf_store::Result<bool> {
        if account.quota_bytes.is_none() && account.quota_messages.is_none() {
            return Ok(false);
        }
        let usage = self.shared.store.usage(account.id).await?;
        let bytes_over = account
            .quota_bytes
            .is_some_and(|q| usage.bytes.saturating_add(incoming.max(1)) > q);
        let count_over = account.quota_messages.is_some_and(|q| usage.messages >= q);
        Ok(bytes_over || count_over)
    }
}

/// The queue's form of a recipient: RFC 3461 NOTIFY and ORCPT as text. An alias
/// target without its own ORCPT gets the alias as ORCPT, so the DSN names the address
/// the sender used.
pub(crate) fn queue_spec(
    address: &str,
    params: &RcptParams,
    via_alias: Option<&str>,
) -> QueueRecipientSpec {
    let notify = params.notify.map(|n| match n {
        Notify::Never => "NEVER".to_string(),
        Notify::On {
            success,
            failure,
            delay,
        } => [(success, "SUCCESS"), (failure, "FAILURE"), (delay, "DELAY")]
            .iter()
            .filter(|(on, _)| *on)
            .map(|(_, name)| *name)
            .collect::<Vec<_>>()
            .join(","),
    });
    let orcpt = match (&params.orcpt, via_alias) {
        (Some((kind, addr)), _) => Some(format!("{kind};{addr}")),
        (None, Some(alias)) if alias.is_ascii() => {
            Some(format!("rfc822;{}", crate::dsn::xtext(alias)))
        }
        (None, Some(alias)) => Some(format!("utf-8;{}", crate::dsn::xtext(alias))),
        (None, None) => None,
    };
    QueueRecipientSpec {
        address: address.to_string(),
        orcpt,
        notify,
    }
}
