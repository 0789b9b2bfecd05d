//! Final delivery of a received message into the local mailboxes: quota, trace
//! headers, one durable store write, then the 250 (RFC 5321 §4.1.1.4: "the receiver
//! MUST NOT ... accept the message until it has been safely stored").

use crate::proto::Reply;
use crate::session::{Session, Transaction};
use crate::trace;
use wharf_store::NewMessage;

impl Session {
    /// Delivers `body` for the transaction and returns the reply for the end of data.
    pub(crate) async fn deliver(&mut self, tx: Transaction, body: Vec<u8>) -> Reply {
        let id = trace::queue_id();
        let Some(helo) = self.helo.clone() else {
            return Reply::bad_sequence("Send HELO/EHLO first");
        };
        let mut raw = trace::headers(&trace::TraceInfo {
            id: &id,
            hostname: &self.shared.hostname,
            helo: &helo,
            peer: self.conn.peer.ip(),
            tls: self.conn.tls,
            tx: &tx,
            now: chrono::Utc::now(),
        });
        raw.extend_from_slice(&body);
        drop(body);
        let size = raw.len() as u64;
        // Quota: the message must fit in every mailbox it goes to. With one reply for
        // all recipients, one full mailbox refuses the message for all of them (the
        // sender learns of it; a silent partial delivery would lose mail).
        for account in &tx.accounts {
            match self.over_quota(account, size).await {
                Ok(false) => {}
                Ok(true) => {
                    tracing::info!(conn = self.conn.id, account = %account.address, size, "refused: over quota");
                    return Reply::quota_exceeded();
                }
                Err(e) => {
                    tracing::warn!(conn = self.conn.id, "store error reading usage: {e}");
                    return Reply::local_error();
                }
            }
        }
        let ids: Vec<_> = tx.accounts.iter().map(|a| a.id).collect();
        let message = NewMessage {
            raw,
            internal_date: None,
            flags: Default::default(),
            keywords: Vec::new(),
        };
        match self.shared.store.deliver(&ids, message).await {
            Ok(_) => {
                self.junk = 0;
                tracing::info!(
                    conn = self.conn.id,
                    queue_id = %id,
                    from = %tx.from,
                    recipients = tx.recipients.len(),
                    mailboxes = ids.len(),
                    size,
                    "message accepted"
                );
                Reply::queued(&id)
            }
            Err(e) => {
                tracing::warn!(conn = self.conn.id, queue_id = %id, "delivery failed: {e}");
                Reply::local_error()
            }
        }
    }
}
