//! Final handling of a received message: quota, trace headers, durable store writes,
//! then the 250 (RFC 5321 §4.1.1.4: "the receiver MUST NOT ... accept the message
//! until it has been safely stored").
//!
//! On the mail exchanger every recipient is local: one `store.deliver`. On submission
//! the message is first fixed up (RFC 6409 §8, see [`crate::fixup`]) and gets its
//! `Received:` with `ESMTPA`/`ESMTPSA` (RFC 3848); local recipients get it at once,
//! the others go to the outbound queue (one durable `queue_add`), and the outbound
//! worker is woken.

use crate::proto::{Body, Reply, Ret};
use crate::session::{Mode, Session, Transaction};
use crate::trace;
use wharf_store::NewMessage;
use wharf_store::queue::QueueEnvelope;

/// Received fields at which a message is taken to be looping. RFC 5321 §6.3: "SHOULD
/// use a large rejection threshold, normally at least 100" (Postfix uses 50).
const MAX_HOPS: usize = 100;

impl Session {
    /// Delivers `body` for the transaction and returns the reply for the end of data.
    pub(crate) async fn deliver(&mut self, tx: Transaction, body: Vec<u8>) -> Reply {
        let qid = trace::queue_id();
        let id = qid.to_string();
        let Some(helo) = self.helo.clone() else {
            return Reply::bad_sequence("Send HELO/EHLO first");
        };
        // RFC 5321 §6.3: a message that went through too many hops is in a loop.
        if crate::fixup::count_received(&body) >= MAX_HOPS {
            tracing::info!(conn = self.conn.id, queue_id = %id, "refused: mail loop (too many Received fields)");
            return Reply::new(
                554,
                crate::proto::Status(5, 4, 6),
                "Too many hops: mail loop detected",
            );
        }
        let now = chrono::Utc::now();
        let info = trace::TraceInfo {
            id: &id,
            hostname: &self.shared.hostname,
            helo: &helo,
            peer: self.conn.peer.ip(),
            tls: self.conn.tls,
            tx: &tx,
            now,
            authenticated: self.auth.is_some(),
        };
        // What goes to other servers: no Return-Path (RFC 5321 §4.4: only final
        // delivery adds it).
        let (local_raw, remote_raw) = match self.shared.mode {
            Mode::Exchanger => {
                let mut raw = trace::headers(&info);
                let mut body = body;
                if let Some(check) = &self.shared.hooks.inbound {
                    let from = tx.from.to_string();
                    let v = check
                        .message(
                            self.conn.peer.ip(),
                            &helo.name,
                            &from,
                            &body,
                            &self.shared.hostname,
                        )
                        .await;
                    if let Some(text) = v.reject {
                        tracing::info!(conn = self.conn.id, queue_id = %id, from = %tx.from, "refused by policy: {text}");
                        return policy_reject(&text);
                    }
                    raw.extend_from_slice(&v.prepend);
                    if let Some(cleaned) = v.cleaned {
                        body = cleaned;
                    }
                }
                // Forwarded copies (off-site alias targets) leave without Return-Path.
                let mut transit = Vec::new();
                if !tx.remote.is_empty() {
                    transit = trace::received(&info);
                    transit.extend_from_slice(&body);
                }
                raw.extend_from_slice(&body);
                (raw, transit)
            }
            Mode::Submission => {
                let mut transit = trace::received(&info);
                let mut fixed = crate::fixup::fixup(&body, &self.shared.hostname, now);
                // RFC 6376: signed once, before it is stored or queued, for the
                // sender's domain (DMARC alignment with From: is the signer's concern).
                // An RSA signature is most of a millisecond of CPU (and a new domain's
                // first one generates its keys): off the async threads.
                if let Some(signer) = &self.shared.hooks.signer
                    && let crate::proto::ReversePath::Mailbox(m) = &tx.from
                {
                    let signer = signer.clone();
                    let domain = m.domain().to_string();
                    let signed = tokio::task::spawn_blocking(move || {
                        let sig = signer.sign(&domain, &fixed);
                        (sig, fixed)
                    })
                    .await;
                    match signed {
                        Ok((sig, message)) => {
                            fixed = message;
                            if let Some(sig) = sig {
                                transit.extend_from_slice(&sig);
                            }
                        }
                        Err(e) => {
                            tracing::error!(conn = self.conn.id, "DKIM signing task failed: {e}");
                            return Reply::local_error();
                        }
                    }
                }
                transit.extend_from_slice(&fixed);
                let mut local = Vec::new();
                if !tx.accounts.is_empty() {
                    local = trace::return_path(&tx);
                    local.extend_from_slice(&transit);
                }
                (local, transit)
            }
        };

        let size = local_raw.len().max(remote_raw.len()) as u64;
        if !tx.accounts.is_empty()
            && let Err(reply) = self.deliver_local(&tx, local_raw, &id).await
        {
            return reply;
        }
        if !tx.remote.is_empty() {
            let envelope = envelope(&tx);
            match self.shared.store.queue_add(qid, remote_raw, envelope).await {
                Ok(_) => {
                    tracing::info!(conn = self.conn.id, queue_id = %id, recipients = tx.remote.len(), "queued for outbound delivery");
                    crate::outbound::kick();
                }
                Err(wharf_store::Error::NoSpace(why)) => {
                    tracing::warn!(conn = self.conn.id, queue_id = %id, "refused: {why}");
                    return Reply::insufficient_storage();
                }
                Err(e) => {
                    tracing::warn!(conn = self.conn.id, queue_id = %id, "queueing failed: {e}");
                    return Reply::local_error();
                }
            }
        }
        self.junk = 0;
        tracing::info!(
            conn = self.conn.id,
            queue_id = %id,
            from = %tx.from,
            recipients = tx.recipients.len(),
            mailboxes = tx.accounts.len(),
            remote = tx.remote.len(),
            size,
            "message accepted"
        );
        Reply::queued(&id)
    }

    /// One store write for every local mailbox, after the quota check.
    async fn deliver_local(
        &mut self,
        tx: &Transaction,
        raw: Vec<u8>,
        id: &str,
    ) -> Result<(), Reply> {
        let size = raw.len() as u64;
        // Quota: the message must fit in every mailbox it goes to. With one reply for
        // all recipients, one full mailbox refuses the message for all of them (the
        // sender learns of it; a silent partial delivery would lose mail).
        for account in &tx.accounts {
            match self.over_quota(account, size).await {
                Ok(false) => {}
                Ok(true) => {
                    tracing::info!(conn = self.conn.id, account = %account.address, size, "refused: over quota");
                    return Err(Reply::quota_exceeded());
                }
                Err(e) => {
                    tracing::warn!(conn = self.conn.id, "store error reading usage: {e}");
                    return Err(Reply::local_error());
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
            Ok(_) => Ok(()),
            // The store checks quota again in the transaction that delivers: another
            // session may have filled the mailbox since the check above.
            Err(wharf_store::Error::OverQuota(who)) => {
                tracing::info!(conn = self.conn.id, queue_id = %id, account = %who, size, "refused: over quota");
                Err(Reply::quota_exceeded())
            }
            Err(wharf_store::Error::NoSpace(why)) => {
                tracing::warn!(conn = self.conn.id, queue_id = %id, "refused: {why}");
                Err(Reply::insufficient_storage())
            }
            Err(e) => {
                tracing::warn!(conn = self.conn.id, queue_id = %id, "delivery failed: {e}");
                Err(Reply::local_error())
            }
        }
    }
}

/// The queue's envelope for the remote recipients of a transaction.
fn envelope(tx: &Transaction) -> QueueEnvelope {
    QueueEnvelope {
        sender: match &tx.from {
            crate::proto::ReversePath::Null => String::new(),
            crate::proto::ReversePath::Mailbox(m) => m.to_string(),
        },
        envid: tx.params.envid.clone(),
        ret: tx.params.ret.map(|r| {
            match r {
                Ret::Full => "FULL",
                Ret::Hdrs => "HDRS",
            }
            .to_string()
        }),
        smtputf8: tx.params.smtputf8,
        body: tx.params.body.map(|b| {
            match b {
                Body::SevenBit => "7BIT",
                Body::EightBitMime => "8BITMIME",
                Body::BinaryMime => "BINARYMIME",
            }
            .to_string()
        }),
        recipients: tx.remote.clone(),
    }
}

/// `550` with the enhanced status the checker put first (`5.7.1` when it gave none).
fn policy_reject(text: &str) -> Reply {
    let parsed = text.split_once(' ').and_then(|(code, rest)| {
        let mut p = code.split('.').map(|x| x.parse::<u16>().ok());
        match (
            p.next().flatten(),
            p.next().flatten(),
            p.next().flatten(),
            p.next(),
        ) {
            (Some(5), Some(b), Some(c), None) => Some((crate::proto::Status(5, b, c), rest)),
            _ => None,
        }
    });
    match parsed {
        Some((status, rest)) => Reply::new(550, status, rest.to_string()),
        None => Reply::new(550, crate::proto::Status(5, 7, 1), text.to_string()),
    }
}
