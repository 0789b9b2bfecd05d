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
//!   no trigram and are not asked (the caller scans).
//! - Columns: `headers` (every header value, one per line) and `body`. TEXT asks both; a
//!   string holding a line feed could match across two header values there, so such a
//!   string is not asked for TEXT (the caller scans).
//! - Row id = the body's id in `blobs`. A body shared by several messages (one delivery to
//!   many accounts, COPY, MOVE) has one row; it goes with the blob row when the last
//!   reference is dropped.
//! - `blobs.text_state` says what the index holds for a body: [`STATE_PENDING`] (bodies
//!   stored before the index existed, and queue bodies), [`STATE_INDEXED`], or
//!   [`STATE_TOO_LARGE`]. Search treats every message whose body is not indexed as
//!   "unindexed", and the caller decodes those itself: never a wrong answer.
//! - Bodies delivered before the index existed are indexed by a background thread started
//!   at open ([`spawn_backfill`]): [`BACKFILL_BATCH`] bodies at a time, each batch one
//!   write job through the single writer, so memory stays bounded and deliveries keep
//!   their turn.

use super::{SqliteStore, WriteCtx, blob_path, open_conn};
use crate::mime::SearchText;
use crate::{MailboxId, Result, TextHits, TextScope, Uid};
use rusqlite::{Connection, params};
use std::sync::Weak;

/// Migration 3: the body index.
pub(super) const MIGRATION: &str = r#"
    ALTER TABLE blobs ADD COLUMN text_state INTEGER NOT NULL DEFAULT 0;
    CREATE VIRTUAL TABLE body_text USING fts5(
        headers, body,
        tokenize = 'trigram case_sensitive 1',
        columnsize = 0
    );
"#;

/// Not indexed (yet): stored before the index, or a queue body.
pub(super) const STATE_PENDING: i64 = 0;
/// The body has its row in `body_text`.
pub(super) const STATE_INDEXED: i64 = 1;
/// Decoded text over [`MAX_INDEXED_TEXT`]: not indexed, searched by decoding.
pub(super) const STATE_TOO_LARGE: i64 = 2;

/// Largest decoded text (headers + body, octets) put into the index. Larger messages are
/// rare and are decoded at search time instead, so one message cannot hold the writer.
pub const MAX_INDEXED_TEXT: usize = 4 << 20;

/// Bodies indexed per backfill write job.
const BACKFILL_BATCH: usize = 32;

/// What a body contributes to the index.
pub(super) enum IndexText {
    /// Nothing, now: a queue body, never searched.
    None,
    /// Header lines and body text, folded.
    Text {
        headers: String,
        body: String,
    },
    TooLarge,
}

impl IndexText {
    /// Decodes a message for the index (call off the async threads and off the writer).
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

    pub(super) fn state(&self) -> i64 {
        match self {
            IndexText::None => STATE_PENDING,
            IndexText::Text { .. } => STATE_INDEXED,
            IndexText::TooLarge => STATE_TOO_LARGE,
        }
    }
}

/// Puts a body's text into the index. `fresh`: its blob row was just inserted with
/// `text_state` = [`IndexText::state`]. Otherwise (backfill) the body is indexed only if
/// it is still pending, so no body is ever indexed twice.
pub(super) fn put(conn: &Connection, blob: i64, text: &IndexText, fresh: bool) -> Result<()> {
    if let IndexText::None = text {
        return Ok(());
    }
    if !fresh {
        let changed = conn
            .prepare_cached("UPDATE blobs SET text_state = ?2 WHERE id = ?1 AND text_state = 0")?
            .execute(params![blob, text.state()])?;
        if changed == 0 {
            return Ok(());
        }
    }
    if let IndexText::Text { headers, body } = text {
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

/// The FTS5 query that holds for a row exactly when its folded text contains `folded`,
/// or `None` when the index cannot say so exactly.
pub(super) fn fts_query(scope: TextScope, folded: &str) -> Option<String> {
    // Under three characters there is no trigram to look up. A NUL would end the query
    // string inside SQLite and widen it.
    if folded.chars().count() < 3 || folded.contains('\0') {
        return None;
    }
    // Header values are one per line in one column: a line feed could join two of them.
    if scope == TextScope::Text && folded.contains('\n') {
        return None;
    }
    // FTS5 string: double quotes, an inner `"` doubled; anything else is literal.
    let phrase = format!("\"{}\"", folded.replace('"', "\"\""));
    Some(match scope {
        TextScope::Body => format!("body : {phrase}"),
        TextScope::Text => phrase,
    })
}

/// Runs a search in one read transaction (both lists from the same state).
pub(super) fn search(conn: &Connection, mailbox: MailboxId, query: &str) -> Result<TextHits> {
    conn.execute_batch("BEGIN")?;
    let r = (|| {
        let mut matched: Vec<Uid> = conn
            .prepare_cached(
                "SELECT m.uid FROM body_text JOIN messages m ON m.blob_id = body_text.rowid
                 WHERE body_text MATCH ?1 AND m.mailbox_id = ?2",
            )?
            .query_map(params![query, mailbox.0], |r| r.get(0))?
            .collect::<rusqlite::Result<_>>()?;
        matched.sort_unstable();
        let unindexed: Vec<Uid> = conn
            .prepare_cached(
                "SELECT m.uid FROM messages m JOIN blobs b ON b.id = m.blob_id
                 WHERE m.mailbox_id = ?1 AND b.text_state != 1 ORDER BY m.uid",
            )?
            .query_map([mailbox.0], |r| r.get(0))?
            .collect::<rusqlite::Result<_>>()?;
        Ok(TextHits { matched, unindexed })
    })();
    let _ = conn.execute_batch("COMMIT");
    r
}

/// Starts the thread that indexes bodies stored before the index existed. It holds the
/// store only weakly (a dropped store stops it) and ends when nothing is pending.
pub(super) fn spawn_backfill(store: Weak<SqliteStore>) {
    let spawned = std::thread::Builder::new()
        .name("wharf-store-index".into())
        .spawn(move || {
            if let Err(e) = backfill(&store) {
                tracing::warn!("body index backfill stopped: {e}; it resumes at the next start");
            }
        });
    if let Err(e) = spawned {
        tracing::warn!("body index backfill not started: {e}");
    }
}

fn backfill(store: &Weak<SqliteStore>) -> Result<()> {
    let (db_path, blob_root) = match store.upgrade() {
        Some(s) => (s.db_path.clone(), s.blob_root.clone()),
        None => return Ok(()),
    };
    let conn = open_conn(&db_path)?;
    let mut cursor = 0i64;
    let mut done = 0usize;
    loop {
        // Only bodies that messages point to (queue bodies are never searched).
        let pending: Vec<(i64, String)> = conn
            .prepare_cached(
                "SELECT b.id, b.name FROM blobs b WHERE b.text_state = 0 AND b.id > ?1
                 AND EXISTS (SELECT 1 FROM messages m WHERE m.blob_id = b.id)
                 ORDER BY b.id LIMIT ?2",
            )?
            .query_map(params![cursor, BACKFILL_BATCH as i64], |r| {
                Ok((r.get(0)?, r.get(1)?))
            })?
            .collect::<rusqlite::Result<_>>()?;
        let Some(last) = pending.last() else {
            if done > 0 {
                tracing::info!("body index backfill done: {done} bodies indexed");
            }
            return Ok(());
        };
        if done == 0 {
            tracing::info!("body index backfill: indexing bodies stored before the index");
        }
        cursor = last.0;
        let mut batch = Vec::with_capacity(pending.len());
        for (id, name) in pending {
            match std::fs::read(blob_path(&blob_root, &name)) {
                Ok(raw) => batch.push((id, IndexText::of(&raw))),
                Err(e) => tracing::warn!(blob = id, "body index backfill: reading body: {e}"),
            }
        }
        done += batch.len();
        let Some(store) = store.upgrade() else {
            return Ok(());
        };
        let (tx, rx) = std::sync::mpsc::channel();
        let job = super::job(
            move |ctx: &mut WriteCtx<'_>| {
                for (id, text) in &batch {
                    put(ctx.conn, *id, text, false)?;
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
            let q = fts_query(TextScope::Body, &folded).unwrap();
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
    fn short_or_unsafe_strings_are_not_asked() {
        assert!(fts_query(TextScope::Body, "ab").is_none());
        assert!(fts_query(TextScope::Body, "éé").is_none());
        assert!(fts_query(TextScope::Body, "a\0bc").is_none());
        assert!(fts_query(TextScope::Text, "ab\ncd").is_none());
        assert_eq!(
            fts_query(TextScope::Body, "ab\ncd").as_deref(),
            Some("body : \"ab\ncd\"")
        );
        assert_eq!(
            fts_query(TextScope::Text, "say \"hi\"").as_deref(),
            Some("\"say \"\"hi\"\"\"")
        );
    }
}
