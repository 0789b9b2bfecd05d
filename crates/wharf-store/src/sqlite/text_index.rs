//! The body index behind [`Store::search_text`](crate::Store::search_text): one FTS5 row
//! per stored message body, with the trigram tokenizer, so that IMAP SEARCH BODY / TEXT
//! is answered without reading and decoding every message.
//!
//! Implementation notes:
//! - The indexed text is [`SearchText`] (the same decoding the fallback scan uses), already
//!   folded by [`mime::fold`]; the tokenizer is `trigram case_sensitive 1`, so it adds no
//!   folding of its own. A phrase query of three or more characters is then an exact
//!   substring test on the folded text: the phrase's trigrams must follow each other in
//!   the column, which is the case exactly where the string occurs. Shorter strings have
//!   no trigram: they are tested with `instr` on the stored folded text of the mailbox's
//!   indexed rows (a scan, but of text already decoded).
//! - Columns: `headers` (every header value, one per line) and `body`. TEXT asks both; a
//!   string holding a line feed could match across two header values there, so such a
//!   string is not asked for TEXT (the caller scans).
//! - Row id = the body's id in `blobs`. A body shared by several messages (one delivery to
//!   many accounts, COPY, MOVE) has one row; it goes with the blob row when the last
//!   reference is dropped.
//! - `blobs.text_state` says what the index holds for a body: [`STATE_PENDING`] (not
//!   yet, and queue bodies), [`STATE_INDEXED`], or [`STATE_TOO_LARGE`]. Search reports
//!   every message whose body is not indexed as "unindexed", and the caller decodes those
//!   itself: never a wrong answer, however far behind the indexer is.
//! - Indexing is off the delivery path: a delivery commits its body as pending and wakes
//!   the indexer thread ([`spawn_indexer`]), which reads pending bodies, decodes them on
//!   its own thread, and writes [`BATCH`] rows per write job through the single writer.
//!   Measured with indexing inside the delivery's transaction, SMTP acceptance dropped by
//!   about half (bench/imap/observations.md); batching also gives FTS5 fewer, larger
//!   segments. While deliveries keep coming it yields to them ([`QUIET`]), and catches
//!   up when they pause. The same thread catches up, at open, with bodies stored before the index
//!   existed (schema migration 3). Memory stays bounded by one batch.

use super::{SqliteStore, WriteCtx, blob_path, open_conn};
use crate::mime::SearchText;
use crate::{MailboxId, Result, TextHits, TextScope, Uid};
use rusqlite::{Connection, params};
use std::path::Path;
use std::sync::{Weak, mpsc};
use std::time::Duration;

/// Migration 3: the body index.
pub(super) const MIGRATION: &str = r#"
    ALTER TABLE blobs ADD COLUMN text_state INTEGER NOT NULL DEFAULT 0;
    CREATE INDEX blobs_not_indexed ON blobs (id) WHERE text_state != 1;
    CREATE VIRTUAL TABLE body_text USING fts5(
        headers, body,
        tokenize = 'trigram case_sensitive 1',
        columnsize = 0
    );
"#;

/// Not indexed (yet), or a queue body.
pub(super) const STATE_PENDING: i64 = 0;
/// The body has its row in `body_text`.
pub(super) const STATE_INDEXED: i64 = 1;
/// Decoded text over [`MAX_INDEXED_TEXT`]: not indexed, searched by decoding.
pub(super) const STATE_TOO_LARGE: i64 = 2;

/// Largest decoded text (headers + body, octets) put into the index. Larger messages are
/// rare and are decoded at search time instead, so one message cannot hold the writer.
pub const MAX_INDEXED_TEXT: usize = 4 << 20;

/// Bodies indexed per write job, and most raw octets read for one job.
const BATCH: usize = 64;
const BATCH_OCTETS: i64 = 8 << 20;
/// Deliveries within this long make the indexer wait (up to [`BUSY_WAIT`] per batch):
/// while mail is arriving it indexes about one batch a second, and catches up at full
/// speed once things are quiet.
const QUIET: Duration = Duration::from_millis(250);
const BUSY_WAIT: Duration = Duration::from_secs(1);
/// How often the indexer looks for pending bodies when nobody wakes it (bodies whose
/// file could not be read, or a store written by another process).
const IDLE_RECHECK: Duration = Duration::from_secs(300);

/// What a body contributes to the index.
pub(super) enum IndexText {
    /// Header lines and body text, folded.
    Text {
        headers: String,
        body: String,
    },
    TooLarge,
}

impl IndexText {
    /// Decodes a message for the index (on the indexer thread, never on the writer).
    pub(super) fn of(raw: &[u8]) -> IndexText {
        let t = SearchText::of(raw, true);
        let headers = t.header_lines();
        if headers.len() + t.body.len() > MAX_INDEXED_TEXT {
            return IndexText::TooLarge;
        }
        IndexText::Text {
            headers,
            body: t.body,
        }
    }
}

/// Puts a pending body into the index. Only a body still pending is touched, so none is
/// indexed twice and one deleted meanwhile is left alone.
pub(super) fn put(conn: &Connection, blob: i64, text: &IndexText) -> Result<()> {
    let state = match text {
        IndexText::Text { .. } => STATE_INDEXED,
        IndexText::TooLarge => STATE_TOO_LARGE,
    };
    let changed = conn
        .prepare_cached("UPDATE blobs SET text_state = ?2 WHERE id = ?1 AND text_state = ?3")?
        .execute(params![blob, state, STATE_PENDING])?;
    if changed == 1
        && let IndexText::Text { headers, body } = text
    {
        conn.prepare_cached("INSERT INTO body_text (rowid, headers, body) VALUES (?1, ?2, ?3)")?
            .execute(params![blob, headers, body])?;
    }
    Ok(())
}

/// Removes a body's row (the body is being deleted; `state` is its `text_state`).
pub(super) fn remove(conn: &Connection, blob: i64, state: i64) -> Result<()> {
    if state == STATE_INDEXED {
        conn.prepare_cached("DELETE FROM body_text WHERE rowid = ?1")?
            .execute([blob])?;
    }
    Ok(())
}

/// How the index answers one search string.
#[derive(Debug, PartialEq, Eq)]
pub(super) enum Query {
    /// An FTS5 phrase query (3+ characters): the trigram index finds the rows.
    Match(String),
    /// A string under three characters has no trigram: the stored (folded) text of the
    /// mailbox's indexed rows is tested with `instr`, still without decoding anything.
    Instr { scope: TextScope, folded: String },
}

/// The query that holds for a row exactly when its folded text contains `folded`, or
/// `None` when the index cannot say so exactly.
pub(super) fn query(scope: TextScope, folded: &str) -> Option<Query> {
    // A NUL would end the query string inside SQLite and widen it.
    if folded.contains('\0') {
        return None;
    }
    // Header values are one per line in one column: a line feed could join two of them.
    if scope == TextScope::Text && folded.contains('\n') {
        return None;
    }
    if folded.chars().count() < 3 {
        return Some(Query::Instr {
            scope,
            folded: folded.to_string(),
        });
    }
    // FTS5 string: double quotes, an inner `"` doubled; anything else is literal.
    let phrase = format!("\"{}\"", folded.replace('"', "\"\""));
    Some(Query::Match(match scope {
        TextScope::Body => format!("body : {phrase}"),
        TextScope::Text => phrase,
    }))
}

/// Runs a search in one read transaction (both lists from the same state).
pub(super) fn search(conn: &Connection, mailbox: MailboxId, query: &Query) -> Result<TextHits> {
    conn.execute_batch("BEGIN")?;
    let r = (|| {
        let mut matched: Vec<Uid> = match query {
            Query::Match(q) => conn
                .prepare_cached(
                    // CROSS JOIN keeps the FTS match as the outer loop; left to itself the
                    // planner walks the mailbox and runs the match once per message.
                    "SELECT m.uid FROM body_text CROSS JOIN messages m ON m.blob_id = body_text.rowid
                     WHERE body_text MATCH ?1 AND m.mailbox_id = ?2",
                )?
                .query_map(params![q, mailbox.0], |r| r.get(0))?
                .collect::<rusqlite::Result<_>>()?,
            Query::Instr { scope, folded } => conn
                .prepare_cached(match scope {
                    TextScope::Body => {
                        "SELECT m.uid FROM messages m CROSS JOIN body_text t ON t.rowid = m.blob_id
                         WHERE m.mailbox_id = ?1 AND instr(t.body, ?2) > 0"
                    }
                    TextScope::Text => {
                        "SELECT m.uid FROM messages m CROSS JOIN body_text t ON t.rowid = m.blob_id
                         WHERE m.mailbox_id = ?1
                         AND (instr(t.headers, ?2) > 0 OR instr(t.body, ?2) > 0)"
                    }
                })?
                .query_map(params![mailbox.0, folded], |r| r.get(0))?
                .collect::<rusqlite::Result<_>>()?,
        };
        matched.sort_unstable();
        let unindexed: Vec<Uid> = conn
            .prepare_cached(
                // From the (few, once backfilled) bodies not indexed, not from the mailbox.
                "SELECT m.uid FROM blobs b CROSS JOIN messages m ON m.blob_id = b.id
                 WHERE b.text_state != 1 AND m.mailbox_id = ?1 ORDER BY m.uid",
            )?
            .query_map([mailbox.0], |r| r.get(0))?
            .collect::<rusqlite::Result<_>>()?;
        Ok(TextHits { matched, unindexed })
    })();
    let _ = conn.execute_batch("COMMIT");
    r
}

/// Unix time in milliseconds.
pub(super) fn now_ms() -> i64 {
    std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .map(|d| d.as_millis() as i64)
        .unwrap_or(0)
}

/// Starts the indexer thread; returns the handle that wakes it. The thread holds the
/// store only weakly and stops when the store (and so the handle) is dropped.
pub(super) fn spawn_indexer(store: Weak<SqliteStore>) -> Option<mpsc::SyncSender<()>> {
    let (wake, woken) = mpsc::sync_channel::<()>(1);
    let spawned = std::thread::Builder::new()
        .name("wharf-store-index".into())
        .spawn(move || indexer(store, woken));
    match spawned {
        Ok(_) => Some(wake),
        Err(e) => {
            tracing::warn!("body indexer not started ({e}); SEARCH BODY/TEXT will decode");
            None
        }
    }
}

fn indexer(store: Weak<SqliteStore>, woken: mpsc::Receiver<()>) {
    let Some((db_path, blob_root)) = store
        .upgrade()
        .map(|s| (s.db_path.clone(), s.blob_root.clone()))
    else {
        return;
    };
    let conn = match open_conn(&db_path) {
        Ok(c) => c,
        Err(e) => {
            tracing::warn!("body indexer: opening the database: {e}");
            return;
        }
    };
    let passes = |f: fn(&mut (u64, u64))| {
        if let Some(s) = store.upgrade() {
            s.index_passes.send_modify(f);
        }
    };
    loop {
        passes(|p| p.0 += 1);
        match index_pending(&store, &conn, &blob_root) {
            Ok(n) if n >= 10_000 => tracing::info!("body index: {n} bodies indexed"),
            Ok(n) => tracing::debug!("body index: {n} bodies indexed"),
            Err(e) => tracing::warn!("body index: {e}; retrying later"),
        }
        passes(|p| p.1 += 1);
        match woken.recv_timeout(IDLE_RECHECK) {
            Ok(()) | Err(mpsc::RecvTimeoutError::Timeout) => {}
            Err(mpsc::RecvTimeoutError::Disconnected) => return,
        }
    }
}

impl SqliteStore {
    /// Wakes the body indexer and waits until it has finished a pass that began after
    /// this call: whatever was committed before the call and is to be indexed, is then.
    /// For tests and tools; answers never depend on it (SEARCH decodes what is not
    /// indexed yet).
    pub async fn index_settled(&self) -> Result<()> {
        let mut passes = self.index_passes.subscribe();
        // A pass already running may have looked before the caller's writes: wait for
        // the next one to start and end (the wake below is kept until it does).
        let target = passes.borrow_and_update().0 + 1;
        match &*self.index_wake.lock().unwrap_or_else(|e| e.into_inner()) {
            Some(w) => {
                let _ = w.try_send(());
            }
            None => {
                return Err(crate::Error::Internal(
                    "the body indexer is not running".into(),
                ));
            }
        }
        passes
            .wait_for(|p| p.1 >= target)
            .await
            .map_err(|_| crate::Error::Internal("the body indexer stopped".into()))?;
        Ok(())
    }
}

/// Indexes every pending body that a message points to; returns how many.
fn index_pending(store: &Weak<SqliteStore>, conn: &Connection, blob_root: &Path) -> Result<usize> {
    // A pass starts from the lowest id each time: ids of deleted bodies can come back.
    let mut cursor = 0i64;
    let mut done = 0usize;
    loop {
        // Only bodies that messages point to (queue bodies are never searched). The
        // `!= 1` lets SQLite use the partial index `blobs_not_indexed`.
        let pending: Vec<(i64, String, i64)> = conn
            .prepare_cached(
                "SELECT b.id, b.name, b.size FROM blobs b
                 WHERE b.text_state = 0 AND b.text_state != 1 AND b.id > ?1
                 AND EXISTS (SELECT 1 FROM messages m WHERE m.blob_id = b.id)
                 ORDER BY b.id LIMIT ?2",
            )?
            .query_map(params![cursor, BATCH as i64], |r| {
                Ok((r.get(0)?, r.get(1)?, r.get(2)?))
            })?
            .collect::<rusqlite::Result<_>>()?;
        if pending.is_empty() {
            return Ok(done);
        }
        // Low on disk: leave the room to mail and to deletes (see `maintain.rs`).
        match store.upgrade() {
            Some(s) if !s.reserve.room_to_index(&s.blob_root) => {
                tracing::debug!("body index: low on disk space; indexing paused");
                return Ok(done);
            }
            Some(_) => {}
            None => return Ok(done),
        }
        // Let deliveries go first.
        let waited = std::time::Instant::now();
        while waited.elapsed() < BUSY_WAIT {
            let last = match store.upgrade() {
                Some(s) => s.last_stored.load(std::sync::atomic::Ordering::Relaxed),
                None => return Ok(done),
            };
            if now_ms() - last >= QUIET.as_millis() as i64 {
                break;
            }
            std::thread::sleep(QUIET / 4);
        }
        let mut batch = Vec::with_capacity(pending.len());
        let mut octets = 0;
        for (id, name, size) in pending {
            if octets > 0 && octets + size > BATCH_OCTETS {
                break;
            }
            octets += size;
            cursor = id;
            match std::fs::read(blob_path(blob_root, &name)) {
                Ok(raw) => batch.push((id, IndexText::of(&raw))),
                // Deleted between listing and reading (an expunge racing the indexer):
                // nothing to index and nothing for the operator to do.
                Err(e) if e.kind() == std::io::ErrorKind::NotFound => {
                    tracing::debug!(blob = id, "body index: body gone before indexing: {e}")
                }
                Err(e) => tracing::warn!(blob = id, "body index: reading the body: {e}"),
            }
        }
        done += batch.len();
        let Some(store) = store.upgrade() else {
            return Ok(done);
        };
        let (tx, rx) = mpsc::channel();
        let job = super::job(
            move |ctx: &mut WriteCtx<'_>| {
                for (id, text) in &batch {
                    put(ctx.conn, *id, text)?;
                }
                Ok(())
            },
            move |r: Result<()>| {
                let _ = tx.send(r);
            },
        );
        store.submit(job)?;
        drop(store);
        rx.recv()
            .map_err(|_| crate::Error::Internal("store writer stopped".into()))??;
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::mime;

    fn fts() -> Connection {
        let conn = Connection::open_in_memory().unwrap();
        conn.execute_batch(
            "CREATE TABLE blobs (id INTEGER PRIMARY KEY);
             CREATE VIRTUAL TABLE body_text USING fts5(headers, body,
                 tokenize = 'trigram case_sensitive 1', columnsize = 0);",
        )
        .unwrap();
        conn
    }

    /// The bundled SQLite has FTS5 with the trigram tokenizer, and a phrase query is a
    /// substring test, non-ASCII included.
    #[test]
    fn fts5_trigram_phrase_is_a_substring_test() {
        let conn = fts();
        let docs = [
            "crème brûlée, s'il vous plaît",
            "zebrafish \"quoted\" 100% a_b *star*",
            "Ünïcödé ΣΊΣΥΦΟΣ straße",
            "line one\nline two",
        ];
        for (i, d) in docs.iter().enumerate() {
            conn.execute(
                "INSERT INTO body_text (rowid, headers, body) VALUES (?1, '', ?2)",
                params![i as i64 + 1, mime::fold(d)],
            )
            .unwrap();
        }
        let needles = [
            "rème",
            "ÈME BR",
            "brûlée,",
            "\"quoted\"",
            "100%",
            "a_b",
            "*star*",
            "ΣΊΣ",
            "σίσυφος",
            "STRASSE",
            "straße",
            "one\nline",
            "e o",
            "zzz",
            "fish \"q",
            "ish",
        ];
        for n in needles {
            let folded = mime::fold(n);
            let Some(Query::Match(q)) = query(TextScope::Body, &folded) else {
                panic!("{n:?}")
            };
            let mut got: Vec<i64> = conn
                .prepare("SELECT rowid FROM body_text WHERE body_text MATCH ?1 ORDER BY rowid")
                .unwrap()
                .query_map([&q], |r| r.get(0))
                .unwrap()
                .map(|r| r.unwrap())
                .collect();
            got.sort_unstable();
            let want: Vec<i64> = docs
                .iter()
                .enumerate()
                .filter(|(_, d)| mime::fold(d).contains(&folded))
                .map(|(i, _)| i as i64 + 1)
                .collect();
            assert_eq!(got, want, "needle {n:?}");
        }
    }

    #[test]
    fn how_strings_are_asked() {
        let instr = |scope, f: &str| {
            Some(Query::Instr {
                scope,
                folded: f.into(),
            })
        };
        assert_eq!(query(TextScope::Body, "ab"), instr(TextScope::Body, "ab"));
        assert_eq!(query(TextScope::Text, "éé"), instr(TextScope::Text, "éé"));
        assert_eq!(query(TextScope::Body, ""), instr(TextScope::Body, ""));
        assert_eq!(query(TextScope::Body, "a\0bc"), None);
        assert_eq!(query(TextScope::Text, "ab\ncd"), None);
        assert_eq!(query(TextScope::Text, "\n"), None);
        assert_eq!(
            query(TextScope::Body, "ab\ncd"),
            Some(Query::Match("body : \"ab\ncd\"".into()))
        );
        assert_eq!(
            query(TextScope::Text, "say \"hi\""),
            Some(Query::Match("\"say \"\"hi\"\"\"".into()))
        );
    }
}
