//! The one source of truth for every Wharf service.
//!
//! The store holds the directory (domains, accounts, aliases, password hashes), the
//! mailboxes and their messages (UIDs, flags, keywords, modification sequences), message
//! bodies, and the change events that IMAP IDLE and POP3 sessions follow. Protocol crates
//! reach it only through the [`Store`] trait, so that a PostgreSQL + object-store backend
//! can stand in for the embedded one without touching them.
//!
//! Implementation notes (invariants every backend keeps):
//! - A write that returns `Ok` is durable: bodies are fsynced before the metadata that
//!   points to them commits, and the commit itself is synced.
//! - A message is visible in full or not at all; a crash leaves at worst an orphaned body
//!   file, which a serving store sweeps in the background.
//! - Ids the store hands out (accounts, mailboxes, bodies, queued messages) are never
//!   handed out again after a delete: anything keyed by one names one thing for ever.
//! - A mailbox's UIDVALIDITY never changes for its life and is never reused by another
//!   mailbox of the same name; UIDs strictly grow and are never reused (RFC 9051 §2.3.1.1).
//! - Every change to a message bumps the mailbox's HIGHESTMODSEQ (RFC 7162 §3.1).
// Denied, not forbidden: the one exception is `password.rs`, which views an anonymous
// mapping as Argon2 blocks (its SAFETY comment says why that is sound).
#![deny(unsafe_code)]

pub mod address;
pub mod error;
pub mod files;
pub mod mime;
mod password;
pub mod queue;
pub mod secret;
mod sqlite;

use std::sync::Arc;

pub use address::{Address, DomainName};
pub use error::{Error, Result};
pub use mime::MessageSummary;
pub use password::{DEFAULT_AUTH_CACHE_SECS, set_auth_cache_ttl};
pub use secret::Secret;
pub use sqlite::{DEFAULT_MIN_FREE_CAP, SqliteStore, default_min_free, disk_space};

/// Shared handle that protocol crates hold.
pub type DynStore = Arc<dyn Store>;

/// Row id of an account.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, PartialOrd, Ord, serde::Serialize)]
pub struct AccountId(pub i64);

/// Row id of a mailbox.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, PartialOrd, Ord, serde::Serialize)]
pub struct MailboxId(pub i64);

/// An IMAP UID: non-zero, strictly increasing within a mailbox.
pub type Uid = u32;

/// An RFC 7162 modification sequence (non-zero).
pub type ModSeq = u64;

/// A user account, as the directory knows it.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Account {
    pub id: AccountId,
    pub address: Address,
    /// Storage quota in bytes (sum of message sizes); `None` = unlimited.
    pub quota_bytes: Option<u64>,
    /// Storage quota in number of messages; `None` = unlimited.
    pub quota_messages: Option<u64>,
}

/// What an account currently uses, for quota checks (SMTP RCPT/DATA, IMAP QUOTA).
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub struct Usage {
    pub bytes: u64,
    pub messages: u64,
}

/// RFC 6154 special-use attributes of a mailbox.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum SpecialUse {
    All,
    Archive,
    Drafts,
    Flagged,
    Junk,
    Sent,
    Trash,
}

impl SpecialUse {
    /// The attribute as IMAP writes it, e.g. `\Sent`.
    pub fn as_imap(self) -> &'static str {
        match self {
            SpecialUse::All => "\\All",
            SpecialUse::Archive => "\\Archive",
            SpecialUse::Drafts => "\\Drafts",
            SpecialUse::Flagged => "\\Flagged",
            SpecialUse::Junk => "\\Junk",
            SpecialUse::Sent => "\\Sent",
            SpecialUse::Trash => "\\Trash",
        }
    }

    pub fn parse(s: &str) -> Option<SpecialUse> {
        Some(match s.to_ascii_lowercase().as_str() {
            "\\all" => SpecialUse::All,
            "\\archive" => SpecialUse::Archive,
            "\\drafts" => SpecialUse::Drafts,
            "\\flagged" => SpecialUse::Flagged,
            "\\junk" => SpecialUse::Junk,
            "\\sent" => SpecialUse::Sent,
            "\\trash" => SpecialUse::Trash,
            _ => return None,
        })
    }
}

/// The mailboxes every new account gets (INBOX has no special use).
pub const DEFAULT_MAILBOXES: &[(&str, Option<SpecialUse>)] = &[
    ("INBOX", None),
    ("Sent", Some(SpecialUse::Sent)),
    ("Drafts", Some(SpecialUse::Drafts)),
    ("Trash", Some(SpecialUse::Trash)),
    ("Junk", Some(SpecialUse::Junk)),
];

/// Hierarchy delimiter of mailbox names.
pub const MAILBOX_DELIMITER: char = '/';

/// A mailbox and its counters.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Mailbox {
    pub id: MailboxId,
    pub account: AccountId,
    /// Full name in UTF-8 with `/` as delimiter; `INBOX` is always spelled so.
    pub name: String,
    pub uidvalidity: u32,
    pub uidnext: Uid,
    pub highest_modseq: ModSeq,
    pub special_use: Option<SpecialUse>,
    /// Its name is subscribed ([`Store::subscriptions`] also has names without a mailbox).
    pub subscribed: bool,
}

/// System flags as a bit set; keywords are kept beside them as strings.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq, Hash)]
pub struct Flags(pub u8);

impl Flags {
    pub const SEEN: Flags = Flags(1);
    pub const ANSWERED: Flags = Flags(2);
    pub const FLAGGED: Flags = Flags(4);
    pub const DELETED: Flags = Flags(8);
    pub const DRAFT: Flags = Flags(16);

    pub const ALL: [(Flags, &'static str); 5] = [
        (Flags::SEEN, "\\Seen"),
        (Flags::ANSWERED, "\\Answered"),
        (Flags::FLAGGED, "\\Flagged"),
        (Flags::DELETED, "\\Deleted"),
        (Flags::DRAFT, "\\Draft"),
    ];

    pub fn contains(self, other: Flags) -> bool {
        self.0 & other.0 == other.0
    }
    pub fn union(self, other: Flags) -> Flags {
        Flags(self.0 | other.0)
    }
    pub fn difference(self, other: Flags) -> Flags {
        Flags(self.0 & !other.0)
    }
    /// Parses one system flag name (case-insensitive), e.g. `\Seen`.
    pub fn parse_system(name: &str) -> Option<Flags> {
        Flags::ALL
            .iter()
            .find(|(_, n)| n.eq_ignore_ascii_case(name))
            .map(|(f, _)| *f)
    }
    /// The flag names in IMAP spelling.
    pub fn names(self) -> impl Iterator<Item = &'static str> {
        Flags::ALL
            .into_iter()
            .filter(move |(f, _)| self.contains(*f))
            .map(|(_, n)| n)
    }
}

/// What a listing of a mailbox returns per message: everything but the body.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct MessageMeta {
    pub uid: Uid,
    pub flags: Flags,
    /// Keywords (user flags), each an IMAP atom, kept in insertion order.
    pub keywords: Vec<String>,
    pub modseq: ModSeq,
    /// Exact size in octets, CRLF line endings, as IMAP RFC822.SIZE and POP3 LIST report it.
    pub size: u64,
    /// Unix seconds at which the message was delivered or appended.
    pub internal_date: i64,
    /// The body's id, for [`Store::read_body`] and [`Store::summary`].
    pub blob: BlobId,
}

/// Identifies a stored message body.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub struct BlobId(pub i64);

/// A consistent view of one mailbox: its counters and every message, in UID order.
#[derive(Debug, Clone)]
pub struct MailboxSnapshot {
    pub mailbox: Mailbox,
    pub messages: Vec<MessageMeta>,
}

/// What changed in a mailbox after a mod-sequence ([`Store::mailbox_changes_since`]).
#[derive(Debug, Clone)]
pub struct MailboxChanges {
    /// The mailbox's counters, read with the changes: its HIGHESTMODSEQ is the point the
    /// changes bring a view up to.
    pub mailbox: Mailbox,
    /// Messages whose modseq is above `since` (new messages and flag changes), in UID
    /// order.
    pub changed: Vec<MessageMeta>,
    /// UIDs expunged with a modseq above `since`, ascending.
    pub expunged: Vec<Uid>,
    /// The flags and keywords those messages had when they were expunged, where the
    /// store kept them (expunge records written since schema 10), ascending by UID: a
    /// session that has not reported an expunge yet serves these for the message, not
    /// the older ones it knew (issue 11, RFC 2180 §4.1).
    pub expunged_flags: Vec<(Uid, Flags, Vec<String>)>,
}

/// What STATUS counts in a mailbox ([`Store::mailbox_counts`]), read in one transaction.
#[derive(Debug, Clone)]
pub struct MailboxCounts {
    pub mailbox: Mailbox,
    pub messages: u64,
    /// Messages without `\Seen`.
    pub unseen: u64,
    /// Messages with `\Deleted`.
    pub deleted: u64,
    /// The messages' sizes summed (RFC 8438 STATUS SIZE).
    pub size: u64,
}

/// Where a recipient address leads.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Resolution {
    /// The domain is not one of ours.
    NotLocal,
    /// The domain is ours but no user or alias has this address.
    Unknown,
    /// The address is ours: these accounts receive it (aliases expanded, duplicates
    /// removed), and these outside addresses are forwarded to (alias targets off-site).
    Local {
        accounts: Vec<Account>,
        forward: Vec<String>,
    },
}

/// A message to put into one or more mailboxes, with one body stored for all of them.
#[derive(Debug, Clone)]
pub struct NewMessage {
    /// The full message as it will be served, CRLF line endings.
    pub raw: Vec<u8>,
    /// Unix seconds; `None` = now.
    pub internal_date: Option<i64>,
    pub flags: Flags,
    pub keywords: Vec<String>,
}

/// Where a delivered copy landed.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Delivered {
    pub account: AccountId,
    pub mailbox: MailboxId,
    pub uid: Uid,
    pub uidvalidity: u32,
}

/// A change in a mailbox, published after it commits. IMAP IDLE and POP3 follow these.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Change {
    /// New messages with these UIDs arrived.
    Appended {
        account: AccountId,
        mailbox: MailboxId,
        uids: Vec<Uid>,
    },
    /// Flags or keywords of these messages changed.
    FlagsChanged {
        account: AccountId,
        mailbox: MailboxId,
        uids: Vec<Uid>,
    },
    /// These messages were removed.
    Expunged {
        account: AccountId,
        mailbox: MailboxId,
        uids: Vec<Uid>,
    },
    /// Mailboxes were created, renamed, deleted or (un)subscribed in this account.
    MailboxesChanged { account: AccountId },
}

impl Change {
    pub fn account(&self) -> AccountId {
        match self {
            Change::Appended { account, .. }
            | Change::FlagsChanged { account, .. }
            | Change::Expunged { account, .. }
            | Change::MailboxesChanged { account } => *account,
        }
    }
}

/// How a STORE-like flag change applies.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum FlagOp {
    Set,
    Add,
    Remove,
}

/// A flag change on a set of messages (RFC 9051 §6.4.6, RFC 7162 UNCHANGEDSINCE).
#[derive(Debug, Clone)]
pub struct FlagUpdate {
    pub uids: Vec<Uid>,
    pub op: FlagOp,
    pub flags: Flags,
    pub keywords: Vec<String>,
    /// RFC 7162 §3.1.3: only messages whose modseq is at most this are changed.
    pub unchanged_since: Option<ModSeq>,
}

/// The messages a flag change touched and the ones it skipped.
#[derive(Debug, Clone, Default)]
pub struct FlagResult {
    /// (uid, new flags, new keywords, new modseq) of every message that still exists.
    pub updated: Vec<(Uid, Flags, Vec<String>, ModSeq)>,
    /// UIDs skipped because of UNCHANGEDSINCE.
    pub failed_unchanged: Vec<Uid>,
}

/// Which text a [`Store::search_text`] looks in (RFC 9051 §6.4.4).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum TextScope {
    /// SEARCH BODY: the text parts.
    Body,
    /// SEARCH TEXT: the header values and the text parts.
    Text,
}

/// What a body-index lookup found in one mailbox.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct TextHits {
    /// UIDs of indexed messages whose text contains the string, ascending.
    pub matched: Vec<Uid>,
    /// UIDs of messages the index does not cover (delivered before it existed and not yet
    /// backfilled, or too large to index), ascending: the caller decides these itself,
    /// with [`mime::SearchText`].
    pub unindexed: Vec<Uid>,
}

/// The storage interface. Every method is safe to call concurrently.
#[async_trait::async_trait]
pub trait Store: Send + Sync + 'static {
    // ---- directory: domains ----
    async fn domain_add(&self, domain: &DomainName) -> Result<()>;
    async fn domain_list(&self) -> Result<Vec<DomainName>>;
    /// Refused while accounts or aliases of the domain exist.
    async fn domain_del(&self, domain: &DomainName) -> Result<()>;
    async fn is_local_domain(&self, domain: &DomainName) -> Result<bool>;

    // ---- directory: accounts ----
    /// Creates the account with its default mailboxes ([`DEFAULT_MAILBOXES`]).
    async fn user_add(&self, address: &Address, password: &Secret) -> Result<Account>;
    async fn user_list(&self) -> Result<Vec<Account>>;
    /// Removes the account, its mailboxes and messages.
    async fn user_del(&self, address: &Address) -> Result<()>;
    async fn user_passwd(&self, address: &Address, password: &Secret) -> Result<()>;
    async fn user_get(&self, address: &Address) -> Result<Option<Account>>;
    /// Sets or clears the account's quotas.
    async fn user_set_quota(
        &self,
        address: &Address,
        bytes: Option<u64>,
        messages: Option<u64>,
    ) -> Result<()>;
    /// Checks a password; `Ok(None)` for an unknown user or a wrong password (the
    /// caller cannot tell which, and the time taken is about the same).
    async fn authenticate(&self, address: &Address, password: &Secret) -> Result<Option<Account>>;
    async fn usage(&self, account: AccountId) -> Result<Usage>;

    // ---- directory: aliases ----
    /// Adds targets to an alias (creating it). The alias must be in a local domain and
    /// must not be an account's address.
    async fn alias_add(&self, alias: &Address, targets: &[Address]) -> Result<()>;
    /// Every alias with its targets, sorted.
    async fn alias_list(&self) -> Result<Vec<(Address, Vec<Address>)>>;
    async fn alias_del(&self, alias: &Address) -> Result<()>;
    /// Where mail for this address goes (aliases expanded recursively, bounded depth).
    async fn resolve(&self, address: &Address) -> Result<Resolution>;

    // ---- mailboxes ----
    async fn mailbox_list(&self, account: AccountId) -> Result<Vec<Mailbox>>;
    /// Looks a mailbox up by name (`INBOX` case-insensitively).
    async fn mailbox_get(&self, account: AccountId, name: &str) -> Result<Option<Mailbox>>;
    /// Creates the mailbox and any missing parents; `AlreadyExists` if it is there.
    async fn mailbox_create(
        &self,
        account: AccountId,
        name: &str,
        special_use: Option<SpecialUse>,
    ) -> Result<Mailbox>;
    /// Deletes a mailbox and its messages (not its children).
    async fn mailbox_delete(&self, account: AccountId, name: &str) -> Result<()>;
    /// Renames a mailbox and its children; renaming INBOX moves its messages into a new
    /// mailbox and leaves INBOX empty (RFC 9051 §6.3.6).
    async fn mailbox_rename(&self, account: AccountId, from: &str, to: &str) -> Result<()>;
    /// Subscribes an existing mailbox's name (`NotFound` otherwise) or unsubscribes a
    /// name (subscribed or not). A subscription is a name: DELETE and RENAME leave it.
    async fn mailbox_subscribe(&self, account: AccountId, name: &str, on: bool) -> Result<()>;
    /// Every subscribed name, sorted, including names no mailbox has any more.
    async fn subscriptions(&self, account: AccountId) -> Result<Vec<String>> {
        let mut v: Vec<String> = self
            .mailbox_list(account)
            .await?
            .into_iter()
            .filter(|m| m.subscribed)
            .map(|m| m.name)
            .collect();
        v.sort();
        Ok(v)
    }
    /// The mailbox and all its messages in UID order, read in one transaction.
    async fn mailbox_snapshot(&self, mailbox: MailboxId) -> Result<MailboxSnapshot>;
    /// The mailbox row and what STATUS counts, without reading every message's
    /// metadata. This default reads a snapshot; a backend should count where it stores.
    async fn mailbox_counts(&self, mailbox: MailboxId) -> Result<MailboxCounts> {
        let snap = self.mailbox_snapshot(mailbox).await?;
        let m = &snap.messages;
        Ok(MailboxCounts {
            messages: m.len() as u64,
            unseen: m.iter().filter(|x| !x.flags.contains(Flags::SEEN)).count() as u64,
            deleted: m
                .iter()
                .filter(|x| x.flags.contains(Flags::DELETED))
                .count() as u64,
            size: m.iter().map(|x| x.size).sum(),
            mailbox: snap.mailbox,
        })
    }
    /// What changed in a mailbox after `since` (a HIGHESTMODSEQ the caller has seen):
    /// the messages with a higher modseq and the UIDs expunged after it, with the
    /// mailbox row. Lets a session catch up without reading every message. This default
    /// reads a snapshot; a backend should read only the changes, in one transaction.
    async fn mailbox_changes_since(
        &self,
        mailbox: MailboxId,
        since: ModSeq,
    ) -> Result<MailboxChanges> {
        let snap = self.mailbox_snapshot(mailbox).await?;
        let expunged = self.expunged_since(mailbox, since).await?;
        Ok(MailboxChanges {
            changed: snap
                .messages
                .into_iter()
                .filter(|m| m.modseq > since)
                .collect(),
            mailbox: snap.mailbox,
            expunged,
            expunged_flags: Vec::new(),
        })
    }

    // ---- messages ----
    /// Delivers one message into the INBOX of each account, storing the body once.
    /// Returns only when everything is durable. Each account's quota is checked in the
    /// transaction that delivers ([`Error::OverQuota`] for all if one is full; callers
    /// may check [`Store::usage`] earlier to answer sooner), and new mail is refused with
    /// [`Error::NoSpace`] below the free-space reserve. `append`, `copy` and cross-account
    /// moves check the same way.
    async fn deliver(&self, accounts: &[AccountId], message: NewMessage) -> Result<Vec<Delivered>>;
    /// Appends a message to a mailbox (IMAP APPEND).
    async fn append(&self, mailbox: MailboxId, message: NewMessage) -> Result<Delivered>;
    /// Appends messages to a mailbox in the order given (their UIDs ascend in it), for
    /// bulk imports. A backend should write them all or none, in one transaction, with
    /// the bodies' syncs overlapped; this default appends them one by one and stops at
    /// the first error (what went in stays).
    async fn append_batch(
        &self,
        mailbox: MailboxId,
        messages: Vec<NewMessage>,
    ) -> Result<Vec<Delivered>> {
        let mut out = Vec::with_capacity(messages.len());
        for m in messages {
            out.push(self.append(mailbox, m).await?);
        }
        Ok(out)
    }
    /// Changes flags; publishes [`Change::FlagsChanged`].
    async fn store_flags(&self, mailbox: MailboxId, update: FlagUpdate) -> Result<FlagResult>;
    /// Removes messages for good; publishes [`Change::Expunged`]. Returns the UIDs that
    /// were there and are now gone.
    async fn expunge(&self, mailbox: MailboxId, uids: &[Uid]) -> Result<Vec<Uid>>;
    /// Copies messages (bodies shared); returns (source uid, new uid) pairs and the
    /// destination's UIDVALIDITY, for UIDPLUS COPYUID.
    async fn copy(
        &self,
        from: MailboxId,
        uids: &[Uid],
        to: MailboxId,
    ) -> Result<(u32, Vec<(Uid, Uid)>)>;
    /// Moves messages atomically (RFC 6851): copy then expunge in one transaction.
    async fn move_messages(
        &self,
        from: MailboxId,
        uids: &[Uid],
        to: MailboxId,
    ) -> Result<(u32, Vec<(Uid, Uid)>)>;
    /// The full stored body of a message.
    async fn read_body(&self, blob: BlobId) -> Result<Vec<u8>>;
    /// What was parsed at delivery: envelope and MIME structure with byte offsets.
    async fn summary(&self, blob: BlobId) -> Result<Arc<MessageSummary>>;
    /// The messages of a mailbox whose decoded text ([`mime::SearchText`]) contains
    /// `needle` case-insensitively, from the backend's body index: exactly the messages
    /// that [`mime::SearchText::body_contains`] (for [`TextScope::Body`]) or
    /// [`mime::SearchText::text_contains`] (for [`TextScope::Text`]) would accept, among
    /// those it covers. `Ok(None)` when the backend cannot answer this string exactly (no
    /// index, or a string too short for it): the caller decodes every message itself.
    async fn search_text(
        &self,
        mailbox: MailboxId,
        scope: TextScope,
        needle: &str,
    ) -> Result<Option<TextHits>> {
        let _ = (mailbox, scope, needle);
        Ok(None)
    }
    /// IMAP `\Recent` (RFC 3501 §2.3.2): returns the mailbox's first UID that no
    /// session has claimed as recent yet; with `upto`, claims every UID up to it, so the
    /// caller's messages from the returned UID to `upto` are recent for it alone. Kept
    /// in the store, so it holds across restarts and for every node.
    async fn claim_recent(&self, mailbox: MailboxId, upto: Option<Uid>) -> Result<Uid> {
        let _ = (mailbox, upto);
        Err(Error::Internal(
            "this backend keeps no \\Recent marks".into(),
        ))
    }
    /// UIDs expunged from the mailbox after `since` (RFC 7162 QRESYNC VANISHED).
    async fn expunged_since(&self, mailbox: MailboxId, since: ModSeq) -> Result<Vec<Uid>>;

    // ---- outbound queue ----
    /// Queues a message for delivery to other servers under `id` (the caller's, from
    /// [`queue::QueueId::generate`], already in its reply and logs); returns it once it is
    /// durable. An id already in the queue is refused.
    async fn queue_add(
        &self,
        id: queue::QueueId,
        raw: Vec<u8>,
        envelope: queue::QueueEnvelope,
    ) -> Result<queue::QueueId>;
    /// Messages with a pending recipient due at or before `now` (unix seconds), the
    /// longest due first, at most `limit`, leaving out those in `skip` (the caller has
    /// them already, e.g. in flight: they are neither loaded nor counted).
    async fn queue_due(
        &self,
        now: i64,
        limit: usize,
        skip: &[queue::QueueId],
    ) -> Result<Vec<queue::QueueEntry>>;
    /// The earliest `next_attempt` of any pending recipient, if any.
    async fn queue_next_due(&self) -> Result<Option<i64>>;
    /// Records attempt outcomes (each counts one attempt). A message with no pending
    /// recipient left is removed from the queue, and its body released.
    async fn queue_update(
        &self,
        id: queue::QueueId,
        updates: Vec<queue::RecipientUpdate>,
    ) -> Result<()>;
    /// Every queued message, oldest first.
    async fn queue_list(&self) -> Result<Vec<queue::QueueEntry>>;
    async fn queue_get(&self, id: queue::QueueId) -> Result<Option<queue::QueueEntry>>;
    /// Makes pending recipients due now: of one message, or of all (`None`). Returns how
    /// many recipients were rescheduled.
    async fn queue_retry(&self, id: Option<queue::QueueId>) -> Result<usize>;
    /// Removes a message from the queue without delivering it.
    async fn queue_delete(&self, id: queue::QueueId) -> Result<()>;

    /// The addresses an account may send as: its own and every alias that delivers to it
    /// (directly or through other aliases).
    async fn addresses_of(&self, account: AccountId) -> Result<Vec<Address>>;

    // ---- change events ----
    /// Every change committed from now on, for every account. Receivers filter by account.
    fn subscribe(&self) -> tokio::sync::broadcast::Receiver<Change>;
}
