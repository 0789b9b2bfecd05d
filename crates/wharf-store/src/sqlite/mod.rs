//! The embedded backend: SQLite (WAL, `synchronous=FULL`) for metadata, one file per
//! message body under `blobs/`.
//!
//! Implementation notes:
//! - Every write runs on one writer thread that owns the write connection. Jobs that
//!   arrive while a transaction is being committed are batched into the next one, each
//!   inside its own SAVEPOINT (a failing job rolls back alone): this is group commit, one
//!   WAL fsync for many concurrent deliveries. A caller is answered only after COMMIT.
//! - A body file is written and fsynced before its job is queued; the directories of new
//!   files are fsynced before the COMMIT that makes them visible. A crash in between leaves
//!   an unreferenced file, removed by `wharf serve`'s background sweep (`maintain.rs`);
//!   a write refused before its COMMIT removes its file at once.
//! - Queue bodies up to [`INLINE_MAX`] live in their `blobs` row instead of a file,
//!   durable with the transaction's WAL fsync.
//! - Body files have unique random names and are never rewritten; a body shared by several
//!   messages (one delivery to many accounts, COPY) carries a reference count, and its file
//!   is unlinked after the COMMIT that drops the count to zero.
//! - Reads use a small pool of read-only connections; WAL lets them run beside the writer.
//! - Message bodies get their row in the body index (`text_index.rs`, FTS5 trigram) from
//!   an indexer thread shortly after they commit, not in the delivery's transaction
//!   (measured: indexing at delivery halved SMTP acceptance); until then SEARCH decodes
//!   them.

use crate::mime::{self, MessageSummary};
use crate::{
    Account, AccountId, Address, BlobId, Change, DEFAULT_MAILBOXES, Delivered, DomainName, Error,
    FlagOp, FlagResult, FlagUpdate, Flags, MAILBOX_DELIMITER, Mailbox, MailboxId, MailboxSnapshot,
    MessageMeta, ModSeq, NewMessage, Resolution, Result, Secret, SpecialUse, Store, TextHits,
    TextScope, Uid, Usage,
};
use rusqlite::{Connection, OptionalExtension, params};
use std::collections::{HashMap, HashSet, VecDeque};
use std::io::Write;
use std::path::{Path, PathBuf};
use std::sync::{Arc, Mutex, mpsc};
use std::time::Duration;
use tokio::sync::{broadcast, oneshot};

mod changes;
mod maintain;
mod queue;
mod schema;
mod text_index;

use schema::migrate;

pub use maintain::{DEFAULT_MIN_FREE_CAP, default_min_free, disk_space};

/// Most jobs committed in one transaction.
const MAX_BATCH: usize = 512;
/// Deepest alias chain followed.
const MAX_ALIAS_DEPTH: usize = 10;
/// Read connections kept open for reuse, and the most reads that run at once.
const READ_POOL: usize = 16;
/// Parsed summaries kept in memory.
const SUMMARY_CACHE: usize = 4096;
/// Queue bodies up to this size are kept in their `blobs` row (`data`) rather than in a
/// file: committed and fsynced with the transaction that queues them, so acceptance
/// costs no file creation, file fsync or directory fsync, and delivery no open or unlink.
/// (perf on bench/relay: writing and fsyncing the file, 5.6% of the server's CPU, and
/// unlinking it, 2.8%, besides a directory fsync in every write batch).
const INLINE_MAX: usize = 256 * 1024;
/// Names of inline bodies start with this (names stay unique; no file has it).
const INLINE_PREFIX: &str = "inline:";

/// What a write job sees: the connection (inside the batch transaction) and the side
/// effects to carry out once the batch commits.
struct WriteCtx<'a> {
    conn: &'a Connection,
    events: Vec<Change>,
    sync_dirs: HashSet<PathBuf>,
    unlink: Vec<PathBuf>,
    blob_root: &'a Path,
    /// A job of this batch failed for want of space (SQLite may then have rolled the
    /// whole batch back: its other jobs are told `NoSpace` too).
    no_space: bool,
}

/// Why a batch did not commit, told to every job in it.
#[derive(Clone, Debug)]
struct BatchFailed {
    /// The disk (or the database's room on it) is full: [`Error::NoSpace`].
    no_space: bool,
    message: String,
}

impl BatchFailed {
    fn new(message: String, no_space: bool) -> BatchFailed {
        BatchFailed { no_space, message }
    }

    fn of_sqlite(context: &str, e: &rusqlite::Error) -> BatchFailed {
        let no_space = matches!(e, rusqlite::Error::SqliteFailure(f, _) if f.code == rusqlite::ErrorCode::DiskFull);
        BatchFailed::new(format!("{context}: {e}"), no_space)
    }

    fn into_error(self) -> Error {
        if self.no_space {
            Error::NoSpace(self.message)
        } else {
            Error::Internal(self.message)
        }
    }
}

type Completion = Box<dyn FnOnce(std::result::Result<(), BatchFailed>) + Send>;
type Job = Box<dyn FnOnce(&mut WriteCtx<'_>) -> Completion + Send>;

/// The embedded store.
pub struct SqliteStore {
    db_path: PathBuf,
    blob_root: PathBuf,
    writer: Mutex<mpsc::Sender<Job>>,
    readers: Mutex<Vec<Connection>>,
    /// At most [`READ_POOL`] reads at once, so the pool always has (or may open) a
    /// connection for each: without the bound, reads past the pool's size opened a
    /// connection and closed it again (perf on the IMAP mixed benchmark, 32 clients:
    /// `open_conn` was 17% of the store's SQLite time).
    read_slots: tokio::sync::Semaphore,
    events: broadcast::Sender<Change>,
    summaries: Mutex<HashMap<i64, Arc<MessageSummary>>>,
    /// Body directories known to exist durably (created and their parent synced).
    ready_dirs: Arc<Mutex<HashSet<PathBuf>>>,
    /// A hash with the parameters of real ones that no password matches, checked against
    /// when the user does not exist, so that a failed login takes the same time either way.
    dummy_hash: String,
    /// Wakes the body indexer thread (`text_index.rs`); dropping it stops the thread.
    index_wake: Mutex<Option<mpsc::SyncSender<()>>>,
    /// When the last message was stored (unix ms): the indexer yields to deliveries.
    last_stored: Arc<std::sync::atomic::AtomicI64>,
    /// `[limits] min_free_space`: below it new mail is refused (`maintain.rs`).
    reserve: maintain::Reserve,
    /// Body indexer passes (started, finished), for [`SqliteStore::index_settled`].
    index_passes: tokio::sync::watch::Sender<(u64, u64)>,
}

pub(crate) fn now() -> i64 {
    chrono::Utc::now().timestamp()
}

fn open_conn(path: &Path) -> Result<Connection> {
    let conn = Connection::open(path)?;
    conn.busy_timeout(Duration::from_secs(30))?;
    conn.execute_batch(
        "PRAGMA journal_mode = WAL; PRAGMA synchronous = FULL; PRAGMA foreign_keys = ON;",
    )?;
    Ok(conn)
}

fn hash_password(password: &Secret) -> Result<String> {
    crate::password::hash(password)
}

fn verify_password(password: &Secret, hash: &str) -> bool {
    crate::password::verify(password, hash)
}

fn check_password_acceptable(password: &Secret) -> Result<()> {
    let p = password.expose();
    if p.is_empty() {
        return Err(Error::Invalid("empty password".into()));
    }
    if p.len() > 1024 {
        return Err(Error::Invalid("password longer than 1024 octets".into()));
    }
    if p.chars().any(|c| c == '\0' || c == '\r' || c == '\n') {
        return Err(Error::Invalid(
            "password contains NUL, CR or LF, which no protocol can carry".into(),
        ));
    }
    Ok(())
}

/// Canonical form of a mailbox name: `INBOX` (and an `INBOX/` prefix) in upper case.
fn canonical_mailbox(name: &str) -> String {
    let (first, rest) = match name.find(MAILBOX_DELIMITER) {
        Some(i) => (&name[..i], &name[i..]),
        None => (name, ""),
    };
    if first.eq_ignore_ascii_case("INBOX") {
        format!("INBOX{rest}")
    } else {
        name.to_string()
    }
}

fn validate_mailbox_name(name: &str) -> Result<()> {
    if name.is_empty() {
        return Err(Error::Invalid("empty mailbox name".into()));
    }
    if name.len() > 1000 {
        return Err(Error::Invalid("mailbox name too long".into()));
    }
    if name.chars().any(|c| c.is_control()) {
        return Err(Error::Invalid(
            "mailbox name contains a control character".into(),
        ));
    }
    if name.split(MAILBOX_DELIMITER).any(str::is_empty) {
        return Err(Error::Invalid(format!(
            "mailbox name {name:?} has an empty hierarchy level"
        )));
    }
    if name.split(MAILBOX_DELIMITER).count() > 32 {
        return Err(Error::Invalid(
            "mailbox hierarchy deeper than 32 levels".into(),
        ));
    }
    Ok(())
}

fn special_use_str(s: Option<SpecialUse>) -> Option<&'static str> {
    s.map(SpecialUse::as_imap)
}

fn keywords_to_string(k: &[String]) -> String {
    k.join(" ")
}

fn keywords_from_string(s: &str) -> Vec<String> {
    s.split(' ')
        .filter(|k| !k.is_empty())
        .map(str::to_string)
        .collect()
}

/// A [`MessageMeta`] from a `messages` row selected as `uid, flags, keywords, modseq,
/// size, internal_date, blob_id` (in that order).
fn meta_from_row(r: &rusqlite::Row<'_>) -> rusqlite::Result<MessageMeta> {
    Ok(MessageMeta {
        uid: r.get(0)?,
        flags: Flags(r.get(1)?),
        keywords: keywords_from_string(&r.get::<_, String>(2)?),
        modseq: r.get::<_, i64>(3)? as u64,
        size: r.get::<_, i64>(4)? as u64,
        internal_date: r.get(5)?,
        blob: BlobId(r.get(6)?),
    })
}

/// Adds keywords not yet present (keywords compare case-insensitively).
fn merge_keywords(into: &mut Vec<String>, add: &[String]) {
    for k in add {
        if !into.iter().any(|x| x.eq_ignore_ascii_case(k)) {
            into.push(k.clone());
        }
    }
}

fn row_to_mailbox(r: &rusqlite::Row<'_>) -> rusqlite::Result<Mailbox> {
    let special: Option<String> = r.get(6)?;
    Ok(Mailbox {
        id: MailboxId(r.get(0)?),
        account: AccountId(r.get(1)?),
        name: r.get(2)?,
        uidvalidity: r.get(3)?,
        uidnext: r.get(4)?,
        highest_modseq: r.get::<_, i64>(5)? as u64,
        special_use: special.as_deref().and_then(SpecialUse::parse),
        subscribed: r.get(7)?,
    })
}

/// Used as `SELECT {MAILBOX_COLS} FROM mailboxes ...` (the subscription test names the
/// table).
const MAILBOX_COLS: &str = "id, account_id, name, uidvalidity, uidnext, highestmodseq, special_use,
     EXISTS (SELECT 1 FROM subscriptions s
             WHERE s.account_id = mailboxes.account_id AND s.name = mailboxes.name)";

fn row_to_account(r: &rusqlite::Row<'_>) -> rusqlite::Result<Account> {
    let address: String = r.get(1)?;
    Ok(Account {
        id: AccountId(r.get(0)?),
        address: Address::parse(&address).map_err(|e| {
            rusqlite::Error::FromSqlConversionFailure(1, rusqlite::types::Type::Text, e.into())
        })?,
        quota_bytes: r.get::<_, Option<i64>>(2)?.map(|v| v as u64),
        quota_messages: r.get::<_, Option<i64>>(3)?.map(|v| v as u64),
    })
}

const ACCOUNT_COLS: &str = "id, address, quota_bytes, quota_messages";

// Both from the connection's statement cache: parsed anew on every call they were 4.7%
// of wharf's CPU in the IMAP long-session benchmark (issue 11; every STORE, EXPUNGE,
// APPEND and session catch-up reads its mailbox row, many on the one writer thread).
fn get_mailbox(conn: &Connection, id: MailboxId) -> Result<Mailbox> {
    conn.prepare_cached(&format!(
        "SELECT {MAILBOX_COLS} FROM mailboxes WHERE id = ?1"
    ))?
    .query_row([id.0], row_to_mailbox)
    .optional()?
    .ok_or_else(|| Error::NotFound("mailbox".into()))
}

fn find_mailbox(conn: &Connection, account: AccountId, name: &str) -> Result<Option<Mailbox>> {
    Ok(conn
        .prepare_cached(&format!(
            "SELECT {MAILBOX_COLS} FROM mailboxes WHERE account_id = ?1 AND name = ?2"
        ))?
        .query_row(params![account.0, canonical_mailbox(name)], row_to_mailbox)
        .optional()?)
}

fn domain_id(conn: &Connection, domain: &DomainName) -> Result<Option<i64>> {
    Ok(conn
        .query_row(
            "SELECT id FROM domains WHERE name = ?1",
            [domain.as_str()],
            |r| r.get(0),
        )
        .optional()?)
}

fn next_uidvalidity(conn: &Connection) -> Result<u32> {
    let v: i64 = conn.query_row(
        "UPDATE meta SET value = value + 1 WHERE key = 'uidvalidity_next' RETURNING value - 1",
        [],
        |r| r.get(0),
    )?;
    // UIDVALIDITY is a non-zero 32-bit number; wrap far in the future rather than fail.
    Ok(((v - 1).rem_euclid(u32::MAX as i64) + 1) as u32)
}

fn create_mailbox_row(
    conn: &Connection,
    account: AccountId,
    name: &str,
    special: Option<SpecialUse>,
) -> Result<Mailbox> {
    let uidvalidity = next_uidvalidity(conn)?;
    conn.execute(
        "INSERT INTO mailboxes (account_id, name, uidvalidity, special_use) VALUES (?1, ?2, ?3, ?4)",
        params![account.0, name, uidvalidity, special_use_str(special)],
    )?;
    get_mailbox(conn, MailboxId(conn.last_insert_rowid()))
}

/// Creates every missing superior of `name` (`a` and `a/b` for `a/b/c`).
fn create_parents(conn: &Connection, account: AccountId, name: &str) -> Result<()> {
    let mut end = 0;
    while let Some(i) = name[end..].find(MAILBOX_DELIMITER) {
        end += i;
        let parent = &name[..end];
        if find_mailbox(conn, account, parent)?.is_none() {
            create_mailbox_row(conn, account, parent, None)?;
        }
        end += MAILBOX_DELIMITER.len_utf8();
    }
    Ok(())
}

/// Takes the next UID of a mailbox and a new modseq; returns (uid, modseq, uidvalidity).
fn allocate_uid(conn: &Connection, mailbox: MailboxId) -> Result<(Uid, ModSeq, u32)> {
    conn.prepare_cached(
        "UPDATE mailboxes SET uidnext = uidnext + 1, highestmodseq = highestmodseq + 1
         WHERE id = ?1 RETURNING uidnext - 1, highestmodseq, uidvalidity",
    )?
    .query_row([mailbox.0], |r| {
        Ok((r.get::<_, u32>(0)?, r.get::<_, i64>(1)? as u64, r.get(2)?))
    })
    .optional()?
    .ok_or_else(|| Error::NotFound("mailbox".into()))
}

/// Bumps a mailbox's HIGHESTMODSEQ and returns the new value.
fn bump_modseq(conn: &Connection, mailbox: MailboxId) -> Result<ModSeq> {
    conn.prepare_cached(
        "UPDATE mailboxes SET highestmodseq = highestmodseq + 1 WHERE id = ?1 RETURNING highestmodseq",
    )?
    .query_row([mailbox.0], |r| r.get::<_, i64>(0))
    .optional()?
    .map(|v| v as u64)
    .ok_or_else(|| Error::NotFound("mailbox".into()))
}

/// What an account's messages use, read in the caller's transaction.
fn usage_of(conn: &Connection, account: AccountId) -> Result<Usage> {
    Ok(conn
        .prepare_cached(
            "SELECT COALESCE(SUM(m.size), 0), COUNT(*) FROM messages m
             JOIN mailboxes b ON b.id = m.mailbox_id WHERE b.account_id = ?1",
        )?
        .query_row([account.0], |r| {
            Ok(Usage {
                bytes: r.get::<_, i64>(0)? as u64,
                messages: r.get::<_, i64>(1)? as u64,
            })
        })?)
}

/// Refuses a write that would take `account` past its quota. Runs inside the write
/// transaction, on the one writer thread: every write before it in the batch is
/// counted, so concurrent deliveries, APPENDs and COPYs cannot pass the quota together
/// (a check before the write, as the protocols did, let each of them see the old usage).
/// Accounts without a quota cost one row lookup.
fn check_quota(conn: &Connection, account: AccountId, bytes: u64, messages: u64) -> Result<()> {
    let (quota_bytes, quota_messages, address): (Option<i64>, Option<i64>, String) = conn
        .prepare_cached("SELECT quota_bytes, quota_messages, address FROM accounts WHERE id = ?1")?
        .query_row([account.0], |r| Ok((r.get(0)?, r.get(1)?, r.get(2)?)))
        .optional()?
        .ok_or_else(|| Error::NotFound(format!("account {}", account.0)))?;
    if quota_bytes.is_none() && quota_messages.is_none() {
        return Ok(());
    }
    let usage = usage_of(conn, account)?;
    let over_bytes = quota_bytes.is_some_and(|q| usage.bytes + bytes > q.max(0) as u64);
    let over_messages = quota_messages.is_some_and(|q| usage.messages + messages > q.max(0) as u64);
    if over_bytes || over_messages {
        return Err(Error::OverQuota(address));
    }
    Ok(())
}

impl WriteCtx<'_> {
    /// Drops one reference to each blob (repeat an id to drop several); bodies left with
    /// none are deleted after commit.
    fn release_blobs(&mut self, blobs: &[i64]) -> Result<()> {
        let mut counts: HashMap<i64, i64> = HashMap::new();
        for b in blobs {
            *counts.entry(*b).or_default() += 1;
        }
        for (blob, n) in counts {
            let left: Option<(i64, String, i64, bool)> = self
                .conn
                .prepare_cached(
                    "UPDATE blobs SET refs = refs - ?2 WHERE id = ?1
                     RETURNING refs, name, text_state, data IS NOT NULL",
                )?
                .query_row(params![blob, n], |r| {
                    Ok((r.get(0)?, r.get(1)?, r.get(2)?, r.get(3)?))
                })
                .optional()?;
            if let Some((refs, name, text_state, inline)) = left
                && refs <= 0
            {
                text_index::remove(self.conn, blob, text_state)?;
                self.conn
                    .prepare_cached("DELETE FROM blobs WHERE id = ?1")?
                    .execute([blob])?;
                if !inline {
                    self.unlink.push(blob_path(self.blob_root, &name));
                }
            }
        }
        Ok(())
    }

    /// Removes messages of a mailbox, recording them for QRESYNC; returns those removed.
    fn expunge(&mut self, mailbox: MailboxId, uids: &[Uid]) -> Result<Vec<Uid>> {
        let mut removed = Vec::new();
        let mut blobs = Vec::new();
        // The flags and keywords each message had, kept in its expunge record (schema 10).
        let mut last: Vec<(i64, String)> = Vec::new();
        {
            let mut del = self.conn.prepare_cached(
                "DELETE FROM messages WHERE mailbox_id = ?1 AND uid = ?2
                 RETURNING blob_id, flags, keywords",
            )?;
            for &uid in uids {
                if let Some((blob, f, k)) = del
                    .query_row(params![mailbox.0, uid], |r| {
                        Ok((
                            r.get::<_, i64>(0)?,
                            r.get::<_, i64>(1)?,
                            r.get::<_, String>(2)?,
                        ))
                    })
                    .optional()?
                {
                    removed.push(uid);
                    blobs.push(blob);
                    last.push((f, k));
                }
            }
        }
        if removed.is_empty() {
            return Ok(removed);
        }
        let modseq = bump_modseq(self.conn, mailbox)?;
        {
            let mut ins = self.conn.prepare_cached(
                "INSERT OR REPLACE INTO expunged (mailbox_id, uid, modseq, flags, keywords)
                 VALUES (?1, ?2, ?3, ?4, ?5)",
            )?;
            for (&uid, (f, k)) in removed.iter().zip(&last) {
                ins.execute(params![mailbox.0, uid, modseq as i64, f, k])?;
            }
        }
        self.release_blobs(&blobs)?;
        let account = get_mailbox(self.conn, mailbox)?.account;
        self.events.push(Change::Expunged {
            account,
            mailbox,
            uids: removed.clone(),
        });
        Ok(removed)
    }

    /// Copies messages into another mailbox, sharing bodies; returns (old, new) UID pairs.
    /// With `quota`, refuses a copy that would take the destination's account past its
    /// quota (a MOVE within an account, or renaming INBOX, uses nothing new).
    fn copy(
        &mut self,
        from: MailboxId,
        uids: &[Uid],
        to: MailboxId,
        quota: bool,
    ) -> Result<(u32, Vec<(Uid, Uid)>)> {
        let dest = get_mailbox(self.conn, to)?;
        let mut pairs = Vec::new();
        let mut sorted = uids.to_vec();
        sorted.sort_unstable();
        sorted.dedup();
        if quota {
            let (bytes, count): (i64, i64) = {
                let mut stmt = self.conn.prepare_cached(
                    "SELECT size FROM messages WHERE mailbox_id = ?1 AND uid = ?2",
                )?;
                let mut bytes = 0i64;
                let mut count = 0i64;
                for &uid in &sorted {
                    if let Some(size) = stmt
                        .query_row(params![from.0, uid], |r| r.get::<_, i64>(0))
                        .optional()?
                    {
                        bytes += size;
                        count += 1;
                    }
                }
                (bytes, count)
            };
            check_quota(self.conn, dest.account, bytes as u64, count as u64)?;
        }
        for uid in sorted {
            let row: Option<(i64, i64, i64, i64, String)> = self
                .conn
                .prepare_cached(
                    "SELECT blob_id, size, internal_date, flags, keywords FROM messages
                     WHERE mailbox_id = ?1 AND uid = ?2",
                )?
                .query_row(params![from.0, uid], |r| {
                    Ok((r.get(0)?, r.get(1)?, r.get(2)?, r.get(3)?, r.get(4)?))
                })
                .optional()?;
            let Some((blob, size, date, flags, keywords)) = row else {
                continue;
            };
            let (new_uid, modseq, _) = allocate_uid(self.conn, to)?;
            self.conn
                .prepare_cached(
                    "INSERT INTO messages (mailbox_id, uid, blob_id, size, internal_date, flags, keywords, modseq)
                     VALUES (?1, ?2, ?3, ?4, ?5, ?6, ?7, ?8)",
                )?
                .execute(params![to.0, new_uid, blob, size, date, flags, keywords, modseq as i64])?;
            self.conn
                .prepare_cached("UPDATE blobs SET refs = refs + 1 WHERE id = ?1")?
                .execute([blob])?;
            pairs.push((uid, new_uid));
        }
        if !pairs.is_empty() {
            self.events.push(Change::Appended {
                account: dest.account,
                mailbox: to,
                uids: pairs.iter().map(|p| p.1).collect(),
            });
        }
        Ok((dest.uidvalidity, pairs))
    }

    /// Drops every message of the mailboxes selected by `where_sql` (one `?1` parameter).
    fn drop_messages_where(&mut self, where_sql: &str, param: i64) -> Result<()> {
        let blobs: Vec<i64> = self
            .conn
            .prepare(&format!(
                "SELECT m.blob_id FROM messages m JOIN mailboxes b ON b.id = m.mailbox_id WHERE {where_sql}"
            ))?
            .query_map([param], |r| r.get(0))?
            .collect::<rusqlite::Result<_>>()?;
        self.conn.execute(
            &format!(
                "DELETE FROM messages WHERE mailbox_id IN (SELECT b.id FROM mailboxes b WHERE {where_sql})"
            ),
            [param],
        )?;
        self.release_blobs(&blobs)
    }
}

/// Seconds during which new bodies go to the same directory.
const BUCKET_SECS: i64 = 16;

/// The directory (relative to the blob root) for bodies written at `unix` seconds:
/// `<day>/<bucket>`.
fn bucket_dir(unix: i64) -> String {
    format!(
        "{}/{:04}",
        unix / 86_400,
        unix.rem_euclid(86_400) / BUCKET_SECS
    )
}

/// Creates a body directory if needed and makes its entry durable (parent synced)
/// before any body in it can be committed.
fn ensure_dir(root: &Path, rel: &str, ready: &Mutex<HashSet<PathBuf>>) -> Result<PathBuf> {
    let dir = root.join(rel);
    if ready
        .lock()
        .unwrap_or_else(|e| e.into_inner())
        .contains(&dir)
    {
        return Ok(dir);
    }
    let day = dir.parent().unwrap_or(root).to_path_buf();
    let new_day = !day.exists();
    std::fs::create_dir_all(&dir)?;
    std::fs::File::open(&day)?.sync_all()?;
    if new_day {
        std::fs::File::open(root)?.sync_all()?;
    }
    let mut ready = ready.lock().unwrap_or_else(|e| e.into_inner());
    if ready.len() > 1024 {
        ready.clear();
    }
    ready.insert(dir.clone());
    Ok(dir)
}

/// Where a body file is: `name` is a path under the root (`day/bucket/hex`), or, in
/// stores written before bucketing, a bare hex name under a two-character shard.
fn blob_path(root: &Path, name: &str) -> PathBuf {
    if name.contains('/') {
        root.join(name)
    } else {
        root.join(&name[..2]).join(name)
    }
}

/// A write job: `f` runs inside its own SAVEPOINT of the next batch (rolled back alone if
/// it fails); `reply` gets its result once the batch has committed (or the commit error).
fn job<R, F, A>(f: F, reply: A) -> Job
where
    R: Send + 'static,
    F: FnOnce(&mut WriteCtx<'_>) -> Result<R> + Send + 'static,
    A: FnOnce(Result<R>) + Send + 'static,
{
    Box::new(move |ctx: &mut WriteCtx<'_>| {
        let events_before = ctx.events.len();
        let unlink_before = ctx.unlink.len();
        // SQLite rolls a whole transaction back by itself on some errors (SQLITE_FULL
        // among them). Past that point a SAVEPOINT would open a new transaction and the
        // job's statements would commit one by one, outside the batch: it must not run.
        let skipped = ctx.conn.is_autocommit();
        let r = if skipped {
            Err(Error::Internal(
                "the batch's transaction was rolled back by an earlier failure".into(),
            ))
        } else {
            run_in_savepoint(ctx, f)
        };
        if r.is_err() {
            ctx.events.truncate(events_before);
            ctx.unlink.truncate(unlink_before);
        }
        if matches!(r, Err(Error::NoSpace(_))) {
            ctx.no_space = true;
        }
        Box::new(move |commit: std::result::Result<(), BatchFailed>| {
            reply(match (commit, r) {
                (Ok(()), r) => r,
                // A job that did not run is told why the batch failed.
                (Err(e), _) if skipped => Err(e.into_error()),
                // A job's own error says more than the batch's (e.g. its NoSpace).
                (Err(e), r) => Err(r.err().unwrap_or_else(|| e.into_error())),
            })
        })
    })
}

/// Runs `f` inside its own SAVEPOINT: released if it succeeds, rolled back alone if not.
/// A failing job keeps its own error even if the rollback fails too (after SQLite gave
/// the transaction up by itself there is no savepoint left to roll back to).
fn run_in_savepoint<R>(
    ctx: &mut WriteCtx<'_>,
    f: impl FnOnce(&mut WriteCtx<'_>) -> Result<R>,
) -> Result<R> {
    exec(ctx.conn, "SAVEPOINT job")?;
    match f(ctx) {
        Ok(r) => {
            exec(ctx.conn, "RELEASE job")?;
            Ok(r)
        }
        Err(e) => {
            if !ctx.conn.is_autocommit()
                && exec(ctx.conn, "ROLLBACK TO job")
                    .and_then(|()| exec(ctx.conn, "RELEASE job"))
                    .is_err()
            {
                // The job's changes cannot be taken back alone: give the batch up.
                let _ = exec(ctx.conn, "ROLLBACK");
            }
            Err(e)
        }
    }
}

/// Runs one of the writer's constant statements (transaction control) from the statement
/// cache: `execute_batch` parsed them anew every time, ~4% of relay CPU.
fn exec(conn: &Connection, sql: &str) -> rusqlite::Result<()> {
    conn.prepare_cached(sql)?.execute([]).map(|_| ())
}

/// Runs one batch of jobs in one transaction; answers every job after the commit.
///
/// A batch that does not commit is rolled back whole and every job in it is told so;
/// the connection is left outside any transaction, ready for the next batch (a failed
/// COMMIT on a full disk used to leave later jobs running in autocommit mode and answer
/// "cannot commit - no transaction is active").
fn run_batch(
    conn: &Connection,
    blob_root: &Path,
    jobs: Vec<Job>,
    events: &broadcast::Sender<Change>,
) {
    let mut ctx = WriteCtx {
        conn,
        events: Vec::new(),
        sync_dirs: HashSet::new(),
        unlink: Vec::new(),
        blob_root,
        no_space: false,
    };
    let mut result: std::result::Result<(), BatchFailed> = match exec(conn, "BEGIN IMMEDIATE") {
        Ok(()) => Ok(()),
        Err(e) => Err(BatchFailed::of_sqlite("starting a write transaction", &e)),
    };
    // Jobs of a batch that could not begin do not run (see `job`): they are answered
    // with the batch's failure.
    let done: Vec<Completion> = jobs.into_iter().map(|job| job(&mut ctx)).collect();
    if result.is_ok() && conn.is_autocommit() {
        result = Err(BatchFailed::new(
            "the write transaction was rolled back by SQLite after an error".into(),
            // SQLite gives up a transaction by itself on a full disk (and on I/O errors):
            // a full disk is what it is in practice.
            ctx.no_space || disk_is_full(blob_root),
        ));
    }
    if result.is_ok() {
        for dir in &ctx.sync_dirs {
            if let Err(e) = std::fs::File::open(dir).and_then(|d| d.sync_all()) {
                let no_space = crate::error::is_no_space(&e);
                result = Err(BatchFailed::new(
                    format!("syncing {}: {e}", dir.display()),
                    no_space,
                ));
                break;
            }
        }
    }
    if result.is_ok()
        && let Err(e) = exec(conn, "COMMIT")
    {
        result = Err(BatchFailed::of_sqlite("commit failed", &e));
    }
    if let Err(e) = &result {
        if !conn.is_autocommit()
            && let Err(re) = exec(conn, "ROLLBACK")
        {
            tracing::error!("rolling back a failed batch: {re}");
        }
        tracing::error!("write batch failed: {}", e.message);
    } else {
        for path in ctx.unlink.drain(..) {
            if let Err(e) = std::fs::remove_file(&path)
                && e.kind() != std::io::ErrorKind::NotFound
            {
                tracing::warn!("removing {}: {e}", path.display());
            }
        }
    }
    // Events go out before the callers are answered, so that whoever acts on a reply
    // (another session's NOOP, say) finds the change's event already queued.
    if result.is_ok() {
        for ev in ctx.events.drain(..) {
            let _ = events.send(ev);
        }
    }
    for d in done {
        d(result.clone());
    }
}

/// Whether the file system holding `dir` has (next to) nothing free.
fn disk_is_full(dir: &Path) -> bool {
    maintain::disk_space(dir).is_ok_and(|(free, _)| free < (1 << 20))
}

fn writer_loop(
    conn: Connection,
    db_path: PathBuf,
    blob_root: PathBuf,
    rx: mpsc::Receiver<Job>,
    events: broadcast::Sender<Change>,
) {
    // The write connection keeps its statement cache warm across batches.
    conn.set_prepared_statement_cache_capacity(64);
    let mut wal_trimmed = std::time::Instant::now();
    while let Ok(first) = rx.recv() {
        let mut jobs = vec![first];
        while jobs.len() < MAX_BATCH {
            match rx.try_recv() {
                Ok(j) => jobs.push(j),
                Err(_) => break,
            }
        }
        // On a full disk, room for this batch (deletes) from the ballast file.
        if let Some(data_dir) = db_path.parent() {
            maintain::release_ballast_if_full(data_dir);
        }
        run_batch(&conn, &blob_root, jobs, &events);
        // A stat of the WAL per batch; a checkpoint only when it is large or old.
        maintain::trim_wal(&conn, &db_path, &mut wal_trimmed);
    }
}

impl SqliteStore {
    /// Opens (creating if needed) the store in `data_dir` and runs pending migrations. It
    /// walks no body files: body files left by a crash are swept by a serving store
    /// ([`SqliteStore::start_maintenance`]).
    pub fn open(data_dir: &Path) -> Result<Arc<SqliteStore>> {
        std::fs::create_dir_all(data_dir)?;
        let blob_root = data_dir.join("blobs");
        let fresh = !blob_root.exists();
        std::fs::create_dir_all(&blob_root)?;
        if fresh {
            std::fs::File::open(data_dir)?.sync_all()?;
        }
        let db_path = data_dir.join("wharf.db");
        let mut conn = open_conn(&db_path)?;
        migrate(&mut conn)?;
        // What the WAL is cut back to after a checkpoint (see `maintain.rs`).
        conn.execute_batch(&format!(
            "PRAGMA journal_size_limit = {}",
            maintain::WAL_SIZE_LIMIT
        ))?;
        let writer_db = db_path.clone();
        let (events, _) = broadcast::channel(4096);
        let (tx, rx) = mpsc::channel::<Job>();
        // No Argon2 run (and no 19 MiB) at startup: see `unmatchable_hash`.
        let dummy_hash = crate::password::unmatchable_hash()?;
        let store = Arc::new(SqliteStore {
            db_path,
            blob_root: blob_root.clone(),
            writer: Mutex::new(tx),
            readers: Mutex::new(Vec::new()),
            read_slots: tokio::sync::Semaphore::new(READ_POOL),
            events: events.clone(),
            summaries: Mutex::new(HashMap::new()),
            ready_dirs: Arc::new(Mutex::new(HashSet::new())),
            dummy_hash,
            index_wake: Mutex::new(None),
            last_stored: Arc::new(std::sync::atomic::AtomicI64::new(0)),
            reserve: maintain::Reserve::default(),
            index_passes: tokio::sync::watch::channel((0, 0)).0,
        });
        std::thread::Builder::new()
            .name("wharf-store-writer".into())
            .spawn(move || writer_loop(conn, writer_db, blob_root, rx, events))?;
        let wake = text_index::spawn_indexer(Arc::downgrade(&store));
        *store.index_wake.lock().unwrap_or_else(|e| e.into_inner()) = wake;
        Ok(store)
    }

    /// A summary written by an older [`mime::summarize`] (its version is below
    /// [`mime::SUMMARY_VERSION`]) made again from the body, and stored, so data
    /// directories from before a parsing fix get it message by message as they are read.
    async fn summarize_again(&self, blob: BlobId) -> Result<MessageSummary> {
        let raw = self.read_body(blob).await?;
        let fresh = tokio::task::spawn_blocking(move || mime::summarize(&raw))
            .await
            .map_err(|e| Error::Internal(format!("summarizing: {e}")))?;
        let json = serde_json::to_string(&fresh)
            .map_err(|e| Error::Internal(format!("serializing summary: {e}")))?;
        // Best effort: if the write fails, the next read summarizes again.
        let stored = self
            .write(move |ctx| {
                ctx.conn.execute(
                    "UPDATE blobs SET summary = ?1 WHERE id = ?2",
                    params![json, blob.0],
                )?;
                Ok(())
            })
            .await;
        if let Err(e) = stored {
            tracing::warn!(blob = blob.0, "storing a remade summary failed: {e}");
        }
        Ok(fresh)
    }

    /// Runs `f` on the writer thread inside the next batch; answers after commit.
    async fn write<R, F>(&self, f: F) -> Result<R>
    where
        R: Send + 'static,
        F: FnOnce(&mut WriteCtx<'_>) -> Result<R> + Send + 'static,
    {
        let (tx, rx) = oneshot::channel::<Result<R>>();
        self.submit(job(f, move |r| {
            let _ = tx.send(r);
        }))?;
        rx.await
            .map_err(|_| Error::Internal("store writer stopped".into()))?
    }

    /// Tells the body indexer that new bodies are waiting (never blocks).
    fn wake_indexer(&self) {
        self.last_stored
            .store(text_index::now_ms(), std::sync::atomic::Ordering::Relaxed);
        if let Some(w) = &*self.index_wake.lock().unwrap_or_else(|e| e.into_inner()) {
            let _ = w.try_send(());
        }
    }

    /// Queues a job for the writer thread.
    fn submit(&self, job: Job) -> Result<()> {
        self.writer
            .lock()
            .unwrap_or_else(|e| e.into_inner())
            .send(job)
            .map_err(|_| Error::Internal("store writer stopped".into()))
    }

    /// Runs `f` on a read connection in the blocking pool.
    async fn read<R, F>(&self, f: F) -> Result<R>
    where
        R: Send + 'static,
        F: FnOnce(&Connection) -> Result<R> + Send + 'static,
    {
        let _slot = self
            .read_slots
            .acquire()
            .await
            .map_err(|e| Error::Internal(e.to_string()))?;
        let pooled = self.readers.lock().unwrap_or_else(|e| e.into_inner()).pop();
        let conn = match pooled {
            Some(c) => c,
            None => {
                let path = self.db_path.clone();
                tokio::task::spawn_blocking(move || open_conn(&path))
                    .await
                    .map_err(|e| Error::Internal(e.to_string()))??
            }
        };
        let (conn, r) = tokio::task::spawn_blocking(move || {
            let r = f(&conn);
            (conn, r)
        })
        .await
        .map_err(|e| Error::Internal(e.to_string()))?;
        let mut pool = self.readers.lock().unwrap_or_else(|e| e.into_inner());
        if pool.len() < READ_POOL {
            pool.push(conn);
        }
        r
    }

    /// Writes a body file and fsyncs it; returns its name (path relative to the blob
    /// root) and directory.
    ///
    /// Bodies written within the same [`BUCKET_SECS`] share a directory, so a batch of
    /// concurrent deliveries commits with one directory sync instead of one per body
    /// (measured: directory syncs were the bottleneck of SMTP acceptance).
    fn write_blob(
        blob_root: &Path,
        ready: &Mutex<HashSet<PathBuf>>,
        raw: &[u8],
    ) -> Result<(String, PathBuf)> {
        let rel_dir = bucket_dir(now());
        let dir = ensure_dir(blob_root, &rel_dir, ready)?;
        let name = format!("{rel_dir}/{:032x}", rand::random::<u128>());
        let mut f = std::fs::OpenOptions::new()
            .write(true)
            .create_new(true)
            .open(blob_root.join(&name))?;
        f.write_all(raw)?;
        f.sync_all()?;
        Ok((name, dir))
    }

    /// Writes a body file ([`Self::write_blob`], fsynced) and serializes its summary: the
    /// [`PreparedBody`] of a body that is not kept inline.
    fn write_body_file(
        blob_root: &Path,
        ready: &Mutex<HashSet<PathBuf>>,
        raw: &[u8],
        summary: &MessageSummary,
    ) -> Result<PreparedBody> {
        let summary_json = serde_json::to_string(summary)
            .map_err(|e| Error::Internal(format!("serializing summary: {e}")))?;
        let (name, dir) = Self::write_blob(blob_root, ready, raw)?;
        Ok(PreparedBody {
            name,
            dir: Some(dir),
            size: raw.len() as u64,
            summary_json,
            inline: None,
        })
    }

    /// Writes the body (fsynced) and, for a message body, parses it for its summary, off
    /// the async threads. Queue bodies are not summarized: summaries are for IMAP and the
    /// outbound worker reads the raw body; their `summary` column holds an empty one. A
    /// queue body of at most [`INLINE_MAX`] goes into its row instead of a file.
    async fn prepare_body(&self, raw: Vec<u8>, kind: BodyKind) -> Result<PreparedBody> {
        if matches!(kind, BodyKind::Queue) && raw.len() <= INLINE_MAX {
            return Ok(PreparedBody {
                name: format!("{INLINE_PREFIX}{:032x}", rand::random::<u128>()),
                dir: None,
                size: raw.len() as u64,
                summary_json: empty_summary_json(),
                inline: Some(raw),
            });
        }
        let root = self.blob_root.clone();
        let ready = self.ready_dirs.clone();
        tokio::task::spawn_blocking(move || {
            let summary = match kind {
                BodyKind::Message => mime::summarize(&raw),
                BodyKind::Queue => MessageSummary::default(),
            };
            Self::write_body_file(&root, &ready, &raw, &summary)
        })
        .await
        .map_err(|e| Error::Internal(e.to_string()))?
    }
}

/// The `summary` column of bodies that are not summarized (queue bodies).
fn empty_summary_json() -> String {
    static JSON: std::sync::OnceLock<String> = std::sync::OnceLock::new();
    JSON.get_or_init(|| {
        serde_json::to_string(&MessageSummary::default()).unwrap_or_else(|_| "{}".into())
    })
    .clone()
}

/// What a body is stored for.
#[derive(Clone, Copy)]
enum BodyKind {
    /// A message in mailboxes: summarized, and indexed later.
    Message,
    /// An outbound queue entry: neither.
    Queue,
}

struct PreparedBody {
    name: String,
    /// The directory of the body's file, to fsync before the commit; `None` when inline.
    dir: Option<PathBuf>,
    size: u64,
    summary_json: String,
    /// The body itself when it is kept in the row.
    inline: Option<Vec<u8>>,
}

/// Removes the body file of a write that did not commit (refused over quota, disk full,
/// a failed COMMIT): no row points to it, and waiting for the orphan sweep would hold
/// its space for an hour.
fn forget_unless_committed<R>(result: &Result<R>, file: Option<PathBuf>) {
    if result.is_err()
        && let Some(path) = file
        && let Err(e) = std::fs::remove_file(&path)
        && e.kind() != std::io::ErrorKind::NotFound
    {
        tracing::warn!("removing the unused body {}: {e}", path.display());
    }
}

impl PreparedBody {
    /// The body's file, if it has one.
    fn file(&self, root: &Path) -> Option<PathBuf> {
        self.dir.as_ref().map(|_| blob_path(root, &self.name))
    }

    /// Inserts the blob row with `refs` references (not yet in the body index: the
    /// indexer thread takes it from there); registers its directory for fsync.
    fn insert(&self, ctx: &mut WriteCtx<'_>, refs: usize) -> Result<i64> {
        if let Some(dir) = &self.dir {
            ctx.sync_dirs.insert(dir.clone());
        }
        ctx.conn
            .prepare_cached(
                "INSERT INTO blobs (name, size, refs, summary, data) VALUES (?1, ?2, ?3, ?4, ?5)",
            )?
            .execute(params![
                self.name,
                self.size as i64,
                refs as i64,
                self.summary_json,
                self.inline
            ])?;
        Ok(ctx.conn.last_insert_rowid())
    }
}

fn insert_message(
    ctx: &mut WriteCtx<'_>,
    mailbox: MailboxId,
    blob: i64,
    size: u64,
    date: i64,
    flags: Flags,
    keywords: &str,
) -> Result<(Uid, u32)> {
    let (uid, modseq, uidvalidity) = allocate_uid(ctx.conn, mailbox)?;
    ctx.conn
        .prepare_cached(
            "INSERT INTO messages (mailbox_id, uid, blob_id, size, internal_date, flags, keywords, modseq)
             VALUES (?1, ?2, ?3, ?4, ?5, ?6, ?7, ?8)",
        )?
        .execute(params![mailbox.0, uid, blob, size as i64, date, flags.0, keywords, modseq as i64])?;
    Ok((uid, uidvalidity))
}

fn inbox_for(conn: &Connection, account: AccountId) -> Result<MailboxId> {
    if let Some(id) = conn
        .prepare_cached("SELECT id FROM mailboxes WHERE account_id = ?1 AND name = 'INBOX'")?
        .query_row([account.0], |r| r.get(0))
        .optional()?
    {
        return Ok(MailboxId(id));
    }
    // INBOX always exists (RFC 9051 §5.1); recreate it if it is somehow missing.
    let exists: bool = conn.query_row(
        "SELECT EXISTS (SELECT 1 FROM accounts WHERE id = ?1)",
        [account.0],
        |r| r.get(0),
    )?;
    if !exists {
        return Err(Error::NotFound(format!("account {}", account.0)));
    }
    Ok(create_mailbox_row(conn, account, "INBOX", None)?.id)
}

#[async_trait::async_trait]
impl Store for SqliteStore {
    async fn domain_add(&self, domain: &DomainName) -> Result<()> {
        let name = domain.as_str().to_string();
        self.write(move |ctx| {
            if domain_id(ctx.conn, &DomainName::parse(&name).map_err(Error::Invalid)?)?.is_some() {
                return Err(Error::AlreadyExists(format!("domain {name}")));
            }
            ctx.conn.execute(
                "INSERT INTO domains (name, created) VALUES (?1, ?2)",
                params![name, now()],
            )?;
            Ok(())
        })
        .await
    }

    async fn domain_list(&self) -> Result<Vec<DomainName>> {
        self.read(|conn| {
            let names: Vec<String> = conn
                .prepare("SELECT name FROM domains ORDER BY name")?
                .query_map([], |r| r.get(0))?
                .collect::<rusqlite::Result<_>>()?;
            names
                .iter()
                .map(|n| DomainName::parse(n).map_err(Error::Internal))
                .collect()
        })
        .await
    }

    async fn domain_del(&self, domain: &DomainName) -> Result<()> {
        let domain = domain.clone();
        self.write(move |ctx| {
            let id = domain_id(ctx.conn, &domain)?
                .ok_or_else(|| Error::NotFound(format!("domain {domain}")))?;
            let (users, aliases): (i64, i64) = ctx.conn.query_row(
                "SELECT (SELECT count(*) FROM accounts WHERE domain_id = ?1),
                        (SELECT count(DISTINCT alias_key) FROM aliases WHERE domain_id = ?1)",
                [id],
                |r| Ok((r.get(0)?, r.get(1)?)),
            )?;
            if users > 0 || aliases > 0 {
                return Err(Error::Refused(format!(
                    "domain {domain} still has {users} user(s) and {aliases} alias(es); delete them first"
                )));
            }
            ctx.conn.execute("DELETE FROM domains WHERE id = ?1", [id])?;
            Ok(())
        })
        .await
    }

    async fn is_local_domain(&self, domain: &DomainName) -> Result<bool> {
        let domain = domain.clone();
        self.read(move |conn| Ok(domain_id(conn, &domain)?.is_some()))
            .await
    }

    async fn user_add(&self, address: &Address, password: &Secret) -> Result<Account> {
        check_password_acceptable(password)?;
        let password = password.clone();
        let hash = tokio::task::spawn_blocking(move || hash_password(&password))
            .await
            .map_err(|e| Error::Internal(e.to_string()))??;
        let address = address.clone();
        self.write(move |ctx| {
            let domain = address.domain();
            let dom = domain_id(ctx.conn, &domain)?.ok_or_else(|| {
                Error::NotFound(format!(
                    "domain {domain} (add it with `wharf domain add {domain}`)"
                ))
            })?;
            let key = address.key();
            let taken: bool = ctx.conn.query_row(
                "SELECT EXISTS (SELECT 1 FROM accounts WHERE addr_key = ?1)
                     OR EXISTS (SELECT 1 FROM aliases WHERE alias_key = ?1)",
                [&key],
                |r| r.get(0),
            )?;
            if taken {
                return Err(Error::AlreadyExists(format!("user or alias {address}")));
            }
            ctx.conn.execute(
                "INSERT INTO accounts (address, addr_key, domain_id, password_hash, created)
                 VALUES (?1, ?2, ?3, ?4, ?5)",
                params![address.as_str(), key, dom, hash, now()],
            )?;
            let id = AccountId(ctx.conn.last_insert_rowid());
            for (name, special) in DEFAULT_MAILBOXES {
                create_mailbox_row(ctx.conn, id, name, *special)?;
                // The default mailboxes start subscribed (Dovecot's `auto = subscribe`);
                // mailboxes created later do not (clients subscribe themselves).
                ctx.conn.execute(
                    "INSERT INTO subscriptions (account_id, name) VALUES (?1, ?2)",
                    params![id.0, name],
                )?;
            }
            Ok(Account {
                id,
                address,
                quota_bytes: None,
                quota_messages: None,
            })
        })
        .await
    }

    async fn user_list(&self) -> Result<Vec<Account>> {
        self.read(|conn| {
            Ok(conn
                .prepare(&format!(
                    "SELECT {ACCOUNT_COLS} FROM accounts ORDER BY addr_key"
                ))?
                .query_map([], row_to_account)?
                .collect::<rusqlite::Result<_>>()?)
        })
        .await
    }

    async fn user_del(&self, address: &Address) -> Result<()> {
        let address = address.clone();
        self.write(move |ctx| {
            let id: i64 = ctx
                .conn
                .query_row(
                    "SELECT id FROM accounts WHERE addr_key = ?1",
                    [address.key()],
                    |r| r.get(0),
                )
                .optional()?
                .ok_or_else(|| Error::NotFound(format!("user {address}")))?;
            ctx.drop_messages_where("b.account_id = ?1", id)?;
            ctx.conn
                .execute("DELETE FROM accounts WHERE id = ?1", [id])?;
            ctx.events.push(Change::MailboxesChanged {
                account: AccountId(id),
            });
            Ok(())
        })
        .await
    }

    async fn user_passwd(&self, address: &Address, password: &Secret) -> Result<()> {
        check_password_acceptable(password)?;
        let password = password.clone();
        let hash = tokio::task::spawn_blocking(move || hash_password(&password))
            .await
            .map_err(|e| Error::Internal(e.to_string()))??;
        let address = address.clone();
        self.write(move |ctx| {
            let n = ctx.conn.execute(
                "UPDATE accounts SET password_hash = ?2 WHERE addr_key = ?1",
                params![address.key(), hash],
            )?;
            if n == 0 {
                return Err(Error::NotFound(format!("user {address}")));
            }
            Ok(())
        })
        .await
    }

    async fn user_get(&self, address: &Address) -> Result<Option<Account>> {
        let key = address.key();
        self.read(move |conn| {
            Ok(conn
                .query_row(
                    &format!("SELECT {ACCOUNT_COLS} FROM accounts WHERE addr_key = ?1"),
                    [key],
                    row_to_account,
                )
                .optional()?)
        })
        .await
    }

    async fn user_set_quota(
        &self,
        address: &Address,
        bytes: Option<u64>,
        messages: Option<u64>,
    ) -> Result<()> {
        let address = address.clone();
        self.write(move |ctx| {
            let n = ctx.conn.execute(
                "UPDATE accounts SET quota_bytes = ?2, quota_messages = ?3 WHERE addr_key = ?1",
                params![
                    address.key(),
                    bytes.map(|v| v as i64),
                    messages.map(|v| v as i64)
                ],
            )?;
            if n == 0 {
                return Err(Error::NotFound(format!("user {address}")));
            }
            Ok(())
        })
        .await
    }

    async fn authenticate(&self, address: &Address, password: &Secret) -> Result<Option<Account>> {
        let key = address.key();
        let row = self
            .read(move |conn| {
                Ok(conn
                    .prepare_cached(&format!(
                        "SELECT {ACCOUNT_COLS}, password_hash FROM accounts WHERE addr_key = ?1"
                    ))?
                    .query_row([key], |r| Ok((row_to_account(r)?, r.get::<_, String>(4)?)))
                    .optional()?)
            })
            .await?;
        // The check runs without a database connection: Argon2 takes tens of ms, longer
        // when it waits for working memory or for the same login's run in flight.
        let password = password.clone();
        let dummy = self.dummy_hash.clone();
        tokio::task::spawn_blocking(move || match row {
            Some((account, hash)) => verify_password(&password, &hash).then_some(account),
            None => {
                // Same work as a real check, so timing does not reveal unknown users.
                let _ = verify_password(&password, &dummy);
                None
            }
        })
        .await
        .map_err(|e| Error::Internal(format!("password check: {e}")))
    }

    async fn usage(&self, account: AccountId) -> Result<Usage> {
        self.read(move |conn| usage_of(conn, account)).await
    }

    async fn alias_add(&self, alias: &Address, targets: &[Address]) -> Result<()> {
        if targets.is_empty() {
            return Err(Error::Invalid("an alias needs at least one target".into()));
        }
        let alias = alias.clone();
        let targets = targets.to_vec();
        self.write(move |ctx| {
            let domain = alias.domain();
            let dom = domain_id(ctx.conn, &domain)?.ok_or_else(|| {
                Error::NotFound(format!(
                    "domain {domain} (add it with `wharf domain add {domain}`)"
                ))
            })?;
            let is_user: bool = ctx.conn.query_row(
                "SELECT EXISTS (SELECT 1 FROM accounts WHERE addr_key = ?1)",
                [alias.key()],
                |r| r.get(0),
            )?;
            if is_user {
                return Err(Error::AlreadyExists(format!(
                    "{alias} is a user's address; an alias cannot have the same address"
                )));
            }
            for t in &targets {
                if t.key() == alias.key() {
                    return Err(Error::Invalid(format!(
                        "alias {alias} cannot point to itself"
                    )));
                }
                // Targets in other domains are forwarded: the SMTP side queues them for
                // outbound delivery (`[smtp] forward_off_site_aliases`).
                ctx.conn.execute(
                    "INSERT OR IGNORE INTO aliases (alias_key, alias, target_key, target, domain_id)
                     VALUES (?1, ?2, ?3, ?4, ?5)",
                    params![alias.key(), alias.as_str(), t.key(), t.as_str(), dom],
                )?;
            }
            Ok(())
        })
        .await
    }

    async fn alias_list(&self) -> Result<Vec<(Address, Vec<Address>)>> {
        self.read(|conn| {
            let rows: Vec<(String, String)> = conn
                .prepare("SELECT alias, target FROM aliases ORDER BY alias_key, target_key")?
                .query_map([], |r| Ok((r.get(0)?, r.get(1)?)))?
                .collect::<rusqlite::Result<_>>()?;
            let mut out: Vec<(Address, Vec<Address>)> = Vec::new();
            for (alias, target) in rows {
                let alias = Address::parse(&alias).map_err(Error::Internal)?;
                let target = Address::parse(&target).map_err(Error::Internal)?;
                match out.last_mut() {
                    Some((a, ts)) if a.key() == alias.key() => ts.push(target),
                    _ => out.push((alias, vec![target])),
                }
            }
            Ok(out)
        })
        .await
    }

    async fn alias_del(&self, alias: &Address) -> Result<()> {
        let alias = alias.clone();
        self.write(move |ctx| {
            let n = ctx
                .conn
                .execute("DELETE FROM aliases WHERE alias_key = ?1", [alias.key()])?;
            if n == 0 {
                return Err(Error::NotFound(format!("alias {alias}")));
            }
            Ok(())
        })
        .await
    }

    async fn resolve(&self, address: &Address) -> Result<Resolution> {
        let address = address.clone();
        self.read(move |conn| {
            if domain_id(conn, &address.domain())?.is_none() {
                return Ok(Resolution::NotLocal);
            }
            let mut accounts: Vec<Account> = Vec::new();
            let mut forward: Vec<String> = Vec::new();
            let mut seen: HashSet<String> = HashSet::new();
            // (lookup key, the address as written, depth)
            let mut queue: VecDeque<(String, String, usize)> =
                VecDeque::from([(address.key(), address.as_str().to_string(), 0)]);
            let mut account_stmt = conn.prepare_cached(&format!(
                "SELECT {ACCOUNT_COLS} FROM accounts WHERE addr_key = ?1"
            ))?;
            let mut alias_stmt =
                conn.prepare_cached("SELECT target_key, target FROM aliases WHERE alias_key = ?1")?;
            while let Some((key, written, depth)) = queue.pop_front() {
                if !seen.insert(key.clone()) {
                    continue;
                }
                if let Some(acct) = account_stmt.query_row([&key], row_to_account).optional()? {
                    if !accounts.iter().any(|a| a.id == acct.id) {
                        accounts.push(acct);
                    }
                    continue;
                }
                if depth >= MAX_ALIAS_DEPTH {
                    tracing::warn!("alias chain for {address} deeper than {MAX_ALIAS_DEPTH}; cut");
                    continue;
                }
                let targets: Vec<(String, String)> = alias_stmt
                    .query_map([&key], |r| Ok((r.get(0)?, r.get(1)?)))?
                    .collect::<rusqlite::Result<_>>()?;
                if targets.is_empty() && depth > 0 {
                    // A target that is neither a user nor an alias: forwarded when its
                    // domain is not ours; a dangling local target delivers nowhere.
                    let target = Address::parse(&written).map_err(Error::Internal)?;
                    if domain_id(conn, &target.domain())?.is_none() {
                        forward.push(written);
                    }
                    continue;
                }
                queue.extend(targets.into_iter().map(|(k, w)| (k, w, depth + 1)));
            }
            Ok(if accounts.is_empty() && forward.is_empty() {
                Resolution::Unknown
            } else {
                Resolution::Local { accounts, forward }
            })
        })
        .await
    }

    async fn mailbox_list(&self, account: AccountId) -> Result<Vec<Mailbox>> {
        self.read(move |conn| {
            Ok(conn
                .prepare(&format!(
                    "SELECT {MAILBOX_COLS} FROM mailboxes WHERE account_id = ?1 ORDER BY name"
                ))?
                .query_map([account.0], row_to_mailbox)?
                .collect::<rusqlite::Result<_>>()?)
        })
        .await
    }

    async fn mailbox_get(&self, account: AccountId, name: &str) -> Result<Option<Mailbox>> {
        let name = name.to_string();
        self.read(move |conn| find_mailbox(conn, account, &name))
            .await
    }

    async fn mailbox_create(
        &self,
        account: AccountId,
        name: &str,
        special_use: Option<SpecialUse>,
    ) -> Result<Mailbox> {
        let name = canonical_mailbox(name.trim_end_matches(MAILBOX_DELIMITER));
        validate_mailbox_name(&name)?;
        self.write(move |ctx| {
            if find_mailbox(ctx.conn, account, &name)?.is_some() {
                return Err(Error::AlreadyExists(format!("mailbox {name}")));
            }
            // RFC 9051 §6.3.4: CREATE makes any missing superior names.
            create_parents(ctx.conn, account, &name)?;
            let mb = create_mailbox_row(ctx.conn, account, &name, special_use)?;
            ctx.events.push(Change::MailboxesChanged { account });
            Ok(mb)
        })
        .await
    }

    async fn mailbox_delete(&self, account: AccountId, name: &str) -> Result<()> {
        let name = canonical_mailbox(name);
        self.write(move |ctx| {
            if name == "INBOX" {
                return Err(Error::Refused("INBOX cannot be deleted".into()));
            }
            let mb = find_mailbox(ctx.conn, account, &name)?
                .ok_or_else(|| Error::NotFound(format!("mailbox {name}")))?;
            ctx.drop_messages_where("b.id = ?1", mb.id.0)?;
            ctx.conn
                .execute("DELETE FROM mailboxes WHERE id = ?1", [mb.id.0])?;
            ctx.events.push(Change::MailboxesChanged { account });
            Ok(())
        })
        .await
    }

    async fn mailbox_rename(&self, account: AccountId, from: &str, to: &str) -> Result<()> {
        let from = canonical_mailbox(from);
        let to = canonical_mailbox(to.trim_end_matches(MAILBOX_DELIMITER));
        validate_mailbox_name(&to)?;
        self.write(move |ctx| {
            let src = find_mailbox(ctx.conn, account, &from)?
                .ok_or_else(|| Error::NotFound(format!("mailbox {from}")))?;
            if find_mailbox(ctx.conn, account, &to)?.is_some() {
                return Err(Error::AlreadyExists(format!("mailbox {to}")));
            }
            if to.starts_with(&format!("{from}{MAILBOX_DELIMITER}")) {
                return Err(Error::Invalid(format!("cannot rename {from} into itself")));
            }
            create_parents(ctx.conn, account, &to)?;
            if from == "INBOX" {
                // RFC 9051 §6.3.6: renaming INBOX moves its messages to a new mailbox
                // and leaves INBOX in place, empty; its children are not moved.
                let dest = create_mailbox_row(ctx.conn, account, &to, None)?;
                let uids: Vec<Uid> = ctx
                    .conn
                    .prepare("SELECT uid FROM messages WHERE mailbox_id = ?1 ORDER BY uid")?
                    .query_map([src.id.0], |r| r.get(0))?
                    .collect::<rusqlite::Result<_>>()?;
                ctx.copy(src.id, &uids, dest.id, false)?;
                ctx.expunge(src.id, &uids)?;
            } else {
                ctx.conn.execute(
                    "UPDATE mailboxes SET name = ?3 || substr(name, length(?2) + 1)
                     WHERE account_id = ?1 AND (name = ?2 OR substr(name, 1, length(?2) + 1) = ?2 || '/')",
                    params![account.0, from, to],
                )?;
            }
            ctx.events.push(Change::MailboxesChanged { account });
            Ok(())
        })
        .await
    }

    async fn mailbox_subscribe(&self, account: AccountId, name: &str, on: bool) -> Result<()> {
        let name = canonical_mailbox(name.trim_end_matches(MAILBOX_DELIMITER));
        self.write(move |ctx| {
            if on {
                // Only existing mailboxes are subscribed to (as Dovecot; RFC 9051 §6.3.7
                // allows either). The name stays subscribed after a DELETE or RENAME.
                if find_mailbox(ctx.conn, account, &name)?.is_none() {
                    return Err(Error::NotFound(format!("mailbox {name}")));
                }
                ctx.conn.execute(
                    "INSERT OR IGNORE INTO subscriptions (account_id, name) VALUES (?1, ?2)",
                    params![account.0, name],
                )?;
            } else {
                ctx.conn.execute(
                    "DELETE FROM subscriptions WHERE account_id = ?1 AND name = ?2",
                    params![account.0, name],
                )?;
            }
            ctx.events.push(Change::MailboxesChanged { account });
            Ok(())
        })
        .await
    }

    async fn subscriptions(&self, account: AccountId) -> Result<Vec<String>> {
        self.read(move |conn| {
            Ok(conn
                .prepare("SELECT name FROM subscriptions WHERE account_id = ?1 ORDER BY name")?
                .query_map([account.0], |r| r.get(0))?
                .collect::<rusqlite::Result<_>>()?)
        })
        .await
    }

    async fn claim_recent(&self, mailbox: MailboxId, upto: Option<Uid>) -> Result<Uid> {
        let read = move |conn: &Connection| -> Result<Uid> {
            conn.prepare_cached("SELECT recent_from FROM mailboxes WHERE id = ?1")?
                .query_row([mailbox.0], |r| r.get(0))
                .optional()?
                .ok_or_else(|| Error::NotFound("mailbox".into()))
        };
        let from = self.read(read).await?;
        let Some(upto) = upto.filter(|&u| u >= from) else {
            // Nothing to claim: a read, no write.
            return Ok(from);
        };
        // The writer runs one job at a time, so read-then-raise is atomic: each UID is
        // handed out as recent once.
        self.write(move |ctx| {
            let from = read(ctx.conn)?;
            ctx.conn
                .prepare_cached(
                    "UPDATE mailboxes SET recent_from = ?2 WHERE id = ?1 AND recent_from < ?2",
                )?
                .execute(params![mailbox.0, upto as i64 + 1])?;
            Ok(from)
        })
        .await
    }

    async fn mailbox_changes_since(
        &self,
        mailbox: MailboxId,
        since: ModSeq,
    ) -> Result<crate::MailboxChanges> {
        self.read(move |conn| changes::changes_since(conn, mailbox, since))
            .await
    }

    async fn mailbox_counts(&self, mailbox: MailboxId) -> Result<crate::MailboxCounts> {
        self.read(move |conn| changes::counts(conn, mailbox)).await
    }

    async fn mailbox_snapshot(&self, mailbox: MailboxId) -> Result<MailboxSnapshot> {
        self.read(move |conn| {
            conn.execute_batch("BEGIN")?;
            let result = (|| {
                let mb = get_mailbox(conn, mailbox)?;
                let messages = conn
                    .prepare_cached(
                        "SELECT uid, flags, keywords, modseq, size, internal_date, blob_id
                         FROM messages WHERE mailbox_id = ?1 ORDER BY uid",
                    )?
                    .query_map([mailbox.0], meta_from_row)?
                    .collect::<rusqlite::Result<_>>()?;
                Ok(MailboxSnapshot {
                    mailbox: mb,
                    messages,
                })
            })();
            let _ = conn.execute_batch("COMMIT");
            result
        })
        .await
    }

    async fn deliver(&self, accounts: &[AccountId], message: NewMessage) -> Result<Vec<Delivered>> {
        let mut accounts = accounts.to_vec();
        accounts.sort_unstable();
        accounts.dedup();
        if accounts.is_empty() {
            return Ok(Vec::new());
        }
        let date = message.internal_date.unwrap_or_else(now);
        let flags = message.flags;
        let keywords = keywords_to_string(&message.keywords);
        self.reserve
            .check(&self.blob_root, message.raw.len() as u64)?;
        let body = self.prepare_body(message.raw, BodyKind::Message).await?;
        let file = body.file(&self.blob_root);
        let delivered = self
            .write(move |ctx| {
                // One full mailbox refuses the message for every recipient: the caller
                // has one reply for all of them.
                for &account in &accounts {
                    check_quota(ctx.conn, account, body.size, 1)?;
                }
                let blob = body.insert(ctx, accounts.len())?;
                let mut out = Vec::with_capacity(accounts.len());
                for account in accounts {
                    let mailbox = inbox_for(ctx.conn, account)?;
                    let (uid, uidvalidity) =
                        insert_message(ctx, mailbox, blob, body.size, date, flags, &keywords)?;
                    ctx.events.push(Change::Appended {
                        account,
                        mailbox,
                        uids: vec![uid],
                    });
                    out.push(Delivered {
                        account,
                        mailbox,
                        uid,
                        uidvalidity,
                    });
                }
                Ok(out)
            })
            .await;
        forget_unless_committed(&delivered, file);
        self.wake_indexer();
        delivered
    }

    async fn append(&self, mailbox: MailboxId, message: NewMessage) -> Result<Delivered> {
        let date = message.internal_date.unwrap_or_else(now);
        let flags = message.flags;
        let keywords = keywords_to_string(&message.keywords);
        self.reserve
            .check(&self.blob_root, message.raw.len() as u64)?;
        let body = self.prepare_body(message.raw, BodyKind::Message).await?;
        let file = body.file(&self.blob_root);
        let appended = self
            .write(move |ctx| {
                let account = get_mailbox(ctx.conn, mailbox)?.account;
                check_quota(ctx.conn, account, body.size, 1)?;
                let blob = body.insert(ctx, 1)?;
                let (uid, uidvalidity) =
                    insert_message(ctx, mailbox, blob, body.size, date, flags, &keywords)?;
                ctx.events.push(Change::Appended {
                    account,
                    mailbox,
                    uids: vec![uid],
                });
                Ok(Delivered {
                    account,
                    mailbox,
                    uid,
                    uidvalidity,
                })
            })
            .await;
        forget_unless_committed(&appended, file);
        self.wake_indexer();
        appended
    }

    async fn append_batch(
        &self,
        mailbox: MailboxId,
        messages: Vec<NewMessage>,
    ) -> Result<Vec<Delivered>> {
        if messages.is_empty() {
            return Ok(Vec::new());
        }
        let total: u64 = messages.iter().map(|m| m.raw.len() as u64).sum();
        self.reserve.check(&self.blob_root, total)?;
        let root = self.blob_root.clone();
        let ready = self.ready_dirs.clone();
        // The bodies' fsyncs are the cost of a bulk import: a few threads write and sync
        // them side by side; the rows then go in, in order, in one transaction.
        let prepared = tokio::task::spawn_blocking(move || {
            let n = messages.len();
            let threads = n.min(8);
            let mut chunks: Vec<Vec<(usize, NewMessage)>> =
                (0..threads).map(|_| Vec::new()).collect();
            for (i, m) in messages.into_iter().enumerate() {
                chunks[i % threads].push((i, m));
            }
            let mut done: Vec<(usize, Result<(PreparedBody, NewMessage)>)> =
                std::thread::scope(|s| {
                    let handles: Vec<_> = chunks
                        .into_iter()
                        .map(|chunk| {
                            let (root, ready) = (&root, &ready);
                            s.spawn(move || {
                                chunk
                                    .into_iter()
                                    .map(|(i, mut m)| {
                                        let raw = std::mem::take(&mut m.raw);
                                        let summary = mime::summarize(&raw);
                                        let body =
                                            Self::write_body_file(root, ready, &raw, &summary);
                                        (i, body.map(|b| (b, m)))
                                    })
                                    .collect::<Vec<_>>()
                            })
                        })
                        .collect();
                    handles
                        .into_iter()
                        .flat_map(|h| h.join().unwrap_or_default())
                        .collect()
                });
            done.sort_by_key(|(i, _)| *i);
            (n, done)
        })
        .await
        .map_err(|e| Error::Internal(e.to_string()))?;
        let (n, done) = prepared;
        let files: Vec<PathBuf> = done
            .iter()
            .filter_map(|(_, r)| r.as_ref().ok().and_then(|(b, _)| b.file(&self.blob_root)))
            .collect();
        let mut items = Vec::with_capacity(n);
        let mut failed = None;
        for (_, r) in done {
            match r {
                Ok(x) => items.push(x),
                Err(e) => failed = failed.or(Some(e)),
            }
        }
        if failed.is_some() || items.len() != n {
            for f in files {
                let _ = std::fs::remove_file(f);
            }
            return Err(failed.unwrap_or_else(|| Error::Internal("writing a body failed".into())));
        }
        let appended = self
            .write(move |ctx| {
                let account = get_mailbox(ctx.conn, mailbox)?.account;
                check_quota(ctx.conn, account, total, items.len() as u64)?;
                let mut out = Vec::with_capacity(items.len());
                for (body, m) in &items {
                    let blob = body.insert(ctx, 1)?;
                    let (uid, uidvalidity) = insert_message(
                        ctx,
                        mailbox,
                        blob,
                        body.size,
                        m.internal_date.unwrap_or_else(now),
                        m.flags,
                        &keywords_to_string(&m.keywords),
                    )?;
                    out.push(Delivered {
                        account,
                        mailbox,
                        uid,
                        uidvalidity,
                    });
                }
                ctx.events.push(Change::Appended {
                    account,
                    mailbox,
                    uids: out.iter().map(|d| d.uid).collect(),
                });
                Ok(out)
            })
            .await;
        if appended.is_err() {
            for f in files {
                forget_unless_committed(&appended, Some(f));
            }
        }
        self.wake_indexer();
        appended
    }

    async fn store_flags(&self, mailbox: MailboxId, update: FlagUpdate) -> Result<FlagResult> {
        self.write(move |ctx| {
            let account = get_mailbox(ctx.conn, mailbox)?.account;
            let mut result = FlagResult::default();
            let mut changed: Vec<(Uid, Flags, Vec<String>)> = Vec::new();
            let mut uids = update.uids.clone();
            uids.sort_unstable();
            uids.dedup();
            for uid in uids {
                let row: Option<(u8, String, i64)> = ctx
                    .conn
                    .prepare_cached(
                        "SELECT flags, keywords, modseq FROM messages WHERE mailbox_id = ?1 AND uid = ?2",
                    )?
                    .query_row(params![mailbox.0, uid], |r| Ok((r.get(0)?, r.get(1)?, r.get(2)?)))
                    .optional()?;
                let Some((old_flags, old_kw, modseq)) = row else {
                    continue;
                };
                let modseq = modseq as u64;
                if let Some(limit) = update.unchanged_since
                    && modseq > limit
                {
                    result.failed_unchanged.push(uid);
                    continue;
                }
                let old_flags = Flags(old_flags);
                let old_kw = keywords_from_string(&old_kw);
                let (new_flags, new_kw) = match update.op {
                    FlagOp::Set => {
                        let mut kw = Vec::new();
                        merge_keywords(&mut kw, &update.keywords);
                        (update.flags, kw)
                    }
                    FlagOp::Add => {
                        let mut kw = old_kw.clone();
                        merge_keywords(&mut kw, &update.keywords);
                        (old_flags.union(update.flags), kw)
                    }
                    FlagOp::Remove => {
                        let kw = old_kw
                            .iter()
                            .filter(|k| !update.keywords.iter().any(|r| r.eq_ignore_ascii_case(k)))
                            .cloned()
                            .collect();
                        (old_flags.difference(update.flags), kw)
                    }
                };
                if new_flags == old_flags && new_kw == old_kw {
                    result.updated.push((uid, old_flags, old_kw, modseq));
                } else {
                    changed.push((uid, new_flags, new_kw));
                }
            }
            if !changed.is_empty() {
                // RFC 7162 §3.1: one new mod-sequence for everything this command changed.
                let modseq = bump_modseq(ctx.conn, mailbox)?;
                let mut stmt = ctx.conn.prepare_cached(
                    "UPDATE messages SET flags = ?3, keywords = ?4, modseq = ?5 WHERE mailbox_id = ?1 AND uid = ?2",
                )?;
                for (uid, flags, kw) in &changed {
                    stmt.execute(params![mailbox.0, uid, flags.0, keywords_to_string(kw), modseq as i64])?;
                }
                ctx.events.push(Change::FlagsChanged {
                    account,
                    mailbox,
                    uids: changed.iter().map(|c| c.0).collect(),
                });
                result
                    .updated
                    .extend(changed.into_iter().map(|(u, f, k)| (u, f, k, modseq)));
                result.updated.sort_by_key(|u| u.0);
            }
            Ok(result)
        })
        .await
    }

    async fn expunge(&self, mailbox: MailboxId, uids: &[Uid]) -> Result<Vec<Uid>> {
        let uids = uids.to_vec();
        self.write(move |ctx| ctx.expunge(mailbox, &uids)).await
    }

    async fn copy(
        &self,
        from: MailboxId,
        uids: &[Uid],
        to: MailboxId,
    ) -> Result<(u32, Vec<(Uid, Uid)>)> {
        let uids = uids.to_vec();
        self.write(move |ctx| ctx.copy(from, &uids, to, true)).await
    }

    async fn move_messages(
        &self,
        from: MailboxId,
        uids: &[Uid],
        to: MailboxId,
    ) -> Result<(u32, Vec<(Uid, Uid)>)> {
        let uids = uids.to_vec();
        self.write(move |ctx| {
            // Within one account a move uses nothing new.
            let across = get_mailbox(ctx.conn, from)?.account != get_mailbox(ctx.conn, to)?.account;
            let (validity, pairs) = ctx.copy(from, &uids, to, across)?;
            let moved: Vec<Uid> = pairs.iter().map(|p| p.0).collect();
            ctx.expunge(from, &moved)?;
            Ok((validity, pairs))
        })
        .await
    }

    async fn read_body(&self, blob: BlobId) -> Result<Vec<u8>> {
        let (name, inline): (String, Option<Vec<u8>>) = self
            .read(move |conn| {
                conn.prepare_cached("SELECT name, data FROM blobs WHERE id = ?1")?
                    .query_row([blob.0], |r| Ok((r.get(0)?, r.get(1)?)))
                    .optional()?
                    .ok_or_else(|| Error::NotFound("message body".into()))
            })
            .await?;
        if let Some(raw) = inline {
            return Ok(raw);
        }
        Ok(tokio::fs::read(blob_path(&self.blob_root, &name)).await?)
    }

    async fn summary(&self, blob: BlobId) -> Result<Arc<MessageSummary>> {
        if let Some(s) = self
            .summaries
            .lock()
            .unwrap_or_else(|e| e.into_inner())
            .get(&blob.0)
        {
            return Ok(s.clone());
        }
        let json: String = self
            .read(move |conn| {
                conn.prepare_cached("SELECT summary FROM blobs WHERE id = ?1")?
                    .query_row([blob.0], |r| r.get(0))
                    .optional()?
                    .ok_or_else(|| Error::NotFound("message body".into()))
            })
            .await?;
        let mut summary: MessageSummary = serde_json::from_str(&json)
            .map_err(|e| Error::Internal(format!("stored summary unreadable: {e}")))?;
        // The placeholder of a queue body (`empty_summary_json`) is never made again:
        // queue bodies are not summarized. Any summary `mime::summarize` made has a
        // version, and one made before versions equals the placeholder only for an
        // empty message.
        if summary.version < mime::SUMMARY_VERSION && summary != MessageSummary::default() {
            summary = self.summarize_again(blob).await?;
        }
        let summary = Arc::new(summary);
        let mut cache = self.summaries.lock().unwrap_or_else(|e| e.into_inner());
        if cache.len() >= SUMMARY_CACHE {
            cache.clear();
        }
        cache.insert(blob.0, summary.clone());
        Ok(summary)
    }

    async fn search_text(
        &self,
        mailbox: MailboxId,
        scope: TextScope,
        needle: &str,
    ) -> Result<Option<TextHits>> {
        let Some(query) = text_index::query(scope, &mime::fold(needle)) else {
            return Ok(None);
        };
        self.read(move |conn| text_index::search(conn, mailbox, &query).map(Some))
            .await
    }

    async fn expunged_since(&self, mailbox: MailboxId, since: ModSeq) -> Result<Vec<Uid>> {
        self.read(move |conn| {
            Ok(conn
                .prepare_cached(
                    "SELECT uid FROM expunged WHERE mailbox_id = ?1 AND modseq > ?2 ORDER BY uid",
                )?
                .query_map(params![mailbox.0, since as i64], |r| r.get(0))?
                .collect::<rusqlite::Result<_>>()?)
        })
        .await
    }

    async fn queue_add(
        &self,
        id: crate::queue::QueueId,
        raw: Vec<u8>,
        envelope: crate::queue::QueueEnvelope,
    ) -> Result<crate::queue::QueueId> {
        self.queue_add_impl(id, raw, envelope).await
    }

    async fn queue_due(
        &self,
        now: i64,
        limit: usize,
        skip: &[crate::queue::QueueId],
    ) -> Result<Vec<crate::queue::QueueEntry>> {
        self.queue_due_impl(now, limit, skip.iter().map(|q| q.0).collect())
            .await
    }

    async fn queue_next_due(&self) -> Result<Option<i64>> {
        self.queue_next_due_impl().await
    }

    async fn queue_update(
        &self,
        id: crate::queue::QueueId,
        updates: Vec<crate::queue::RecipientUpdate>,
    ) -> Result<()> {
        self.queue_update_impl(id, updates).await
    }

    async fn queue_list(&self) -> Result<Vec<crate::queue::QueueEntry>> {
        self.queue_list_impl().await
    }

    async fn queue_get(
        &self,
        id: crate::queue::QueueId,
    ) -> Result<Option<crate::queue::QueueEntry>> {
        self.queue_get_impl(id).await
    }

    async fn queue_retry(&self, id: Option<crate::queue::QueueId>) -> Result<usize> {
        self.queue_retry_impl(id).await
    }

    async fn queue_delete(&self, id: crate::queue::QueueId) -> Result<()> {
        self.queue_delete_impl(id).await
    }

    async fn addresses_of(&self, account: AccountId) -> Result<Vec<Address>> {
        self.addresses_of_impl(account).await
    }

    fn subscribe(&self) -> broadcast::Receiver<Change> {
        self.events.subscribe()
    }
}
