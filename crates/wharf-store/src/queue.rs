//! The outbound queue's data: messages waiting to be carried to other servers, with
//! per-recipient state (RFC 5321 §4.5.4.1 retry, RFC 3461 DSN parameters kept for the
//! bounce). The queue is part of the store so that a queued message survives a crash
//! exactly as a delivered one does.

/// A queued message's id: the one its SMTP 250 reply, its `Received:` field, every log
/// line about it and `wharf queue list/show/retry/delete` show. The caller that accepts
/// a message makes it ([`QueueId::generate`]) before it writes the trace header, and the
/// store keeps it as the row's key: one id per message everywhere, never handed out
/// twice (a table-assigned rowid comes back after a delete, and ten messages in a row
/// were logged as `queue_id=1`).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, PartialOrd, Ord)]
pub struct QueueId(pub i64);

impl QueueId {
    /// A new id: microseconds since the epoch, shifted left by 8, with 8 random low bits
    /// (two processes in the same microsecond), and strictly increasing within the process
    /// (a burst in one microsecond, a clock step back). Sorts by time of acceptance;
    /// positive until the year 2255.
    pub fn generate() -> QueueId {
        use std::sync::atomic::{AtomicI64, Ordering};
        static LAST: AtomicI64 = AtomicI64::new(0);
        let micros = std::time::SystemTime::now()
            .duration_since(std::time::UNIX_EPOCH)
            .map(|d| d.as_micros() as i64)
            .unwrap_or(0);
        let candidate = (micros << 8) | i64::from(rand::random::<u8>());
        let prev = LAST
            .fetch_update(Ordering::Relaxed, Ordering::Relaxed, |last| {
                Some(candidate.max(last + 1))
            })
            .unwrap_or(0);
        QueueId(candidate.max(prev + 1))
    }
}

impl std::fmt::Display for QueueId {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        write!(f, "{:X}", self.0)
    }
}

impl std::str::FromStr for QueueId {
    type Err = String;
    fn from_str(s: &str) -> Result<QueueId, String> {
        i64::from_str_radix(s, 16)
            .map(QueueId)
            .map_err(|_| format!("{s:?} is not a queue id"))
    }
}

/// One recipient as the client gave it (RFC 3461 §4: NOTIFY and ORCPT kept verbatim).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct QueueRecipientSpec {
    pub address: String,
    /// ORCPT parameter value, e.g. `rfc822;user@example.test`.
    pub orcpt: Option<String>,
    /// NOTIFY parameter value, e.g. `SUCCESS,FAILURE` or `NEVER`.
    pub notify: Option<String>,
}

/// The envelope of a message handed to the queue.
#[derive(Debug, Clone, PartialEq, Eq, Default)]
pub struct QueueEnvelope {
    /// Reverse path; empty for the null sender `<>` (bounces are never bounced).
    pub sender: String,
    /// RFC 3461 ENVID.
    pub envid: Option<String>,
    /// RFC 3461 RET: `FULL` or `HDRS`.
    pub ret: Option<String>,
    /// The message needs SMTPUTF8 (RFC 6531).
    pub smtputf8: bool,
    /// BODY= parameter as received: `7BIT`, `8BITMIME` or `BINARYMIME`.
    pub body: Option<String>,
    pub recipients: Vec<QueueRecipientSpec>,
}

/// Where a recipient stands.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum RecipientState {
    /// Not delivered yet; tried again at `next_attempt`.
    Pending,
    Delivered,
    /// Permanently failed (5xx, or gave up after `max_age`).
    Failed,
}

impl RecipientState {
    pub fn as_str(self) -> &'static str {
        match self {
            RecipientState::Pending => "pending",
            RecipientState::Delivered => "delivered",
            RecipientState::Failed => "failed",
        }
    }
    pub fn parse(s: &str) -> Option<RecipientState> {
        Some(match s {
            "pending" => RecipientState::Pending,
            "delivered" => RecipientState::Delivered,
            "failed" => RecipientState::Failed,
            _ => return None,
        })
    }
}

/// One recipient of a queued message and its delivery history.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct QueueRecipient {
    pub id: i64,
    pub spec: QueueRecipientSpec,
    pub state: RecipientState,
    pub attempts: u32,
    /// Unix seconds of the next try (meaningful while pending).
    pub next_attempt: i64,
    /// The last error, e.g. `451 4.3.0 try later (mx.example.net)`.
    pub last_error: Option<String>,
    /// A "delayed" DSN was already sent for this recipient.
    pub delay_notified: bool,
}

/// A queued message with its recipients.
#[derive(Debug, Clone)]
pub struct QueueEntry {
    pub id: QueueId,
    pub blob: crate::BlobId,
    pub size: u64,
    /// Unix seconds when it was queued.
    pub created: i64,
    pub envelope: QueueEnvelope,
    pub recipients: Vec<QueueRecipient>,
}

/// The outcome of one delivery attempt for one recipient.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct RecipientUpdate {
    pub recipient: i64,
    pub state: RecipientState,
    /// For `Pending`: when to try next.
    pub next_attempt: Option<i64>,
    pub error: Option<String>,
    /// Mark that a "delayed" DSN has gone out.
    pub delay_notified: bool,
}
