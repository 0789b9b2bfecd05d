//! The outbound queue in SQLite: one `queue` row per message, one `queue_rcpts` row per
//! recipient. The body is a blob like any delivered message's, so the write-once,
//! durable-before-commit rules are the same (but it is not summarized:
//! [`BodyKind::Queue`]), and one of at most `INLINE_MAX` bytes is kept in its `blobs` row
//! rather than in a file.

use super::{BodyKind, SqliteStore, WriteCtx, now};
use crate::queue::{
    QueueEntry, QueueEnvelope, QueueId, QueueRecipient, QueueRecipientSpec, RecipientState,
    RecipientUpdate,
};
use crate::{AccountId, Address, BlobId, Error, Result};
use rusqlite::{Connection, OptionalExtension, params};
use std::collections::{HashSet, VecDeque};

const ENTRY_COLS: &str = "id, blob_id, size, created, sender, envid, ret, smtputf8, body";

/// Queue entries matching `where_sql`, oldest first, at most `limit`.
fn load_entries(
    conn: &Connection,
    where_sql: &str,
    args: &[&dyn rusqlite::ToSql],
    limit: usize,
) -> Result<Vec<QueueEntry>> {
    let mut entries: Vec<QueueEntry> = conn
        .prepare_cached(&format!(
            "SELECT {ENTRY_COLS} FROM queue WHERE {where_sql} ORDER BY created, id LIMIT {limit}"
        ))?
        .query_map(args, |r| {
            Ok(QueueEntry {
                id: QueueId(r.get(0)?),
                blob: BlobId(r.get(1)?),
                size: r.get::<_, i64>(2)? as u64,
                created: r.get(3)?,
                envelope: QueueEnvelope {
                    sender: r.get(4)?,
                    envid: r.get(5)?,
                    ret: r.get(6)?,
                    smtputf8: r.get(7)?,
                    body: r.get(8)?,
                    recipients: Vec::new(),
                },
                recipients: Vec::new(),
            })
        })?
        .collect::<rusqlite::Result<_>>()?;
    let mut stmt = conn.prepare_cached(
        "SELECT id, address, orcpt, notify, state, attempts, next_attempt, last_error, delay_notified
         FROM queue_rcpts WHERE queue_id = ?1 ORDER BY id",
    )?;
    for e in &mut entries {
        e.recipients = stmt
            .query_map([e.id.0], |r| {
                let state: String = r.get(4)?;
                Ok(QueueRecipient {
                    id: r.get(0)?,
                    spec: QueueRecipientSpec {
                        address: r.get(1)?,
                        orcpt: r.get(2)?,
                        notify: r.get(3)?,
                    },
                    state: RecipientState::parse(&state).unwrap_or(RecipientState::Pending),
                    attempts: r.get(5)?,
                    next_attempt: r.get(6)?,
                    last_error: r.get(7)?,
                    delay_notified: r.get(8)?,
                })
            })?
            .collect::<rusqlite::Result<_>>()?;
        e.envelope.recipients = e.recipients.iter().map(|r| r.spec.clone()).collect();
    }
    Ok(entries)
}

impl WriteCtx<'_> {
    /// Removes a queued message and releases its body.
    fn drop_queue_entry(&mut self, id: QueueId) -> Result<bool> {
        let blob: Option<i64> = self
            .conn
            .prepare_cached("DELETE FROM queue WHERE id = ?1 RETURNING blob_id")?
            .query_row([id.0], |r| r.get(0))
            .optional()?;
        match blob {
            Some(b) => {
                self.release_blobs(&[b])?;
                Ok(true)
            }
            None => Ok(false),
        }
    }
}

impl SqliteStore {
    pub(super) async fn queue_add_impl(
        &self,
        id: QueueId,
        raw: Vec<u8>,
        env: QueueEnvelope,
    ) -> Result<QueueId> {
        if env.recipients.is_empty() {
            return Err(Error::Invalid(
                "a queued message needs at least one recipient".into(),
            ));
        }
        self.reserve.check(&self.blob_root, raw.len() as u64)?;
        let body = self.prepare_body(raw, BodyKind::Queue).await?;
        let file = body.file(&self.blob_root);
        let queued = self.write(move |ctx| {
            let blob = body.insert(ctx, 1)?;
            let created = now();
            ctx.conn
                .prepare_cached(
                    "INSERT INTO queue (id, blob_id, size, created, sender, envid, ret, smtputf8, body)
                     VALUES (?1, ?2, ?3, ?4, ?5, ?6, ?7, ?8, ?9)",
                )?
                .execute(params![id.0, blob, body.size as i64, created, env.sender, env.envid, env.ret, env.smtputf8, env.body])
                .map_err(|e| match e {
                    rusqlite::Error::SqliteFailure(f, _)
                        if f.code == rusqlite::ErrorCode::ConstraintViolation =>
                    {
                        Error::AlreadyExists(format!("queued message {id}"))
                    }
                    e => e.into(),
                })?;
            let mut stmt = ctx.conn.prepare_cached(
                "INSERT INTO queue_rcpts (queue_id, address, orcpt, notify, next_attempt) VALUES (?1, ?2, ?3, ?4, ?5)",
            )?;
            for r in &env.recipients {
                stmt.execute(params![id.0, r.address, r.orcpt, r.notify, created])?;
            }
            Ok(id)
        })
        .await;
        super::forget_unless_committed(&queued, file);
        queued
    }

    /// Up to `limit` messages with a recipient due at `at`, the longest due first, other
    /// than those in `skip`.
    ///
    /// Walks the `queue_rcpts_due` index (state, next_attempt) in order and stops at the
    /// `limit`-th distinct message, so the cost follows `limit`, not the queue's length
    /// (it used to materialize every due id and sort the lot: ~30% of delivery CPU with
    /// a backlog of thousands). Skipped messages cost an index row, not a load: the
    /// outbound worker reads the queue after every delivery, with up to its concurrency
    /// in flight.
    pub(super) async fn queue_due_impl(
        &self,
        at: i64,
        limit: usize,
        skip: HashSet<i64>,
    ) -> Result<Vec<QueueEntry>> {
        self.read(move |conn| {
            let mut ids: Vec<i64> = Vec::new();
            let mut seen: HashSet<i64> = skip;
            let mut stmt = conn.prepare_cached(
                "SELECT queue_id FROM queue_rcpts INDEXED BY queue_rcpts_due
                 WHERE state = 'pending' AND next_attempt <= ?1 ORDER BY next_attempt",
            )?;
            let mut rows = stmt.query([at])?;
            while ids.len() < limit {
                let Some(row) = rows.next()? else { break };
                let id: i64 = row.get(0)?;
                if seen.insert(id) {
                    ids.push(id);
                }
            }
            drop(rows);
            let mut out = Vec::with_capacity(ids.len());
            for id in ids {
                out.extend(load_entries(conn, "id = ?1", &[&id], 1)?);
            }
            Ok(out)
        })
        .await
    }

    pub(super) async fn queue_next_due_impl(&self) -> Result<Option<i64>> {
        self.read(|conn| {
            Ok(conn.query_row(
                "SELECT min(next_attempt) FROM queue_rcpts WHERE state = 'pending'",
                [],
                |r| r.get(0),
            )?)
        })
        .await
    }

    pub(super) async fn queue_update_impl(
        &self,
        id: QueueId,
        updates: Vec<RecipientUpdate>,
    ) -> Result<()> {
        self.write(move |ctx| {
            let mut stmt = ctx.conn.prepare_cached(
                "UPDATE queue_rcpts SET state = ?3, attempts = attempts + 1,
                     next_attempt = COALESCE(?4, next_attempt), last_error = COALESCE(?5, last_error),
                     delay_notified = delay_notified OR ?6
                 WHERE id = ?1 AND queue_id = ?2",
            )?;
            for u in &updates {
                let n = stmt.execute(params![
                    u.recipient,
                    id.0,
                    u.state.as_str(),
                    u.next_attempt,
                    u.error,
                    u.delay_notified
                ])?;
                if n == 0 {
                    return Err(Error::NotFound(format!("recipient {} of queued message {id}", u.recipient)));
                }
            }
            drop(stmt);
            let pending: i64 = ctx
                .conn
                .prepare_cached(
                    "SELECT count(*) FROM queue_rcpts WHERE queue_id = ?1 AND state = 'pending'",
                )?
                .query_row([id.0], |r| r.get(0))?;
            if pending == 0 {
                ctx.drop_queue_entry(id)?;
            }
            Ok(())
        })
        .await
    }

    pub(super) async fn queue_list_impl(&self) -> Result<Vec<QueueEntry>> {
        self.read(|conn| load_entries(conn, "1 = 1", &[], i64::MAX as usize))
            .await
    }

    pub(super) async fn queue_get_impl(&self, id: QueueId) -> Result<Option<QueueEntry>> {
        self.read(move |conn| Ok(load_entries(conn, "id = ?1", &[&id.0], 1)?.pop()))
            .await
    }

    pub(super) async fn queue_retry_impl(&self, id: Option<QueueId>) -> Result<usize> {
        self.write(move |ctx| {
            let n = match id {
                Some(id) => {
                    let exists: bool = ctx.conn.query_row(
                        "SELECT EXISTS (SELECT 1 FROM queue WHERE id = ?1)",
                        [id.0],
                        |r| r.get(0),
                    )?;
                    if !exists {
                        return Err(Error::NotFound(format!("queued message {id}")));
                    }
                    ctx.conn.execute(
                        "UPDATE queue_rcpts SET next_attempt = ?2 WHERE queue_id = ?1 AND state = 'pending'",
                        params![id.0, now()],
                    )?
                }
                None => ctx.conn.execute(
                    "UPDATE queue_rcpts SET next_attempt = ?1 WHERE state = 'pending'",
                    [now()],
                )?,
            };
            Ok(n)
        })
        .await
    }

    pub(super) async fn queue_delete_impl(&self, id: QueueId) -> Result<()> {
        self.write(move |ctx| {
            if !ctx.drop_queue_entry(id)? {
                return Err(Error::NotFound(format!("queued message {id}")));
            }
            Ok(())
        })
        .await
    }

    pub(super) async fn addresses_of_impl(&self, account: AccountId) -> Result<Vec<Address>> {
        self.read(move |conn| {
            let (own, own_key): (String, String) = conn
                .query_row(
                    "SELECT address, addr_key FROM accounts WHERE id = ?1",
                    [account.0],
                    |r| Ok((r.get(0)?, r.get(1)?)),
                )
                .optional()?
                .ok_or_else(|| Error::NotFound(format!("account {}", account.0)))?;
            let mut out = vec![Address::parse(&own).map_err(Error::Internal)?];
            // Walk aliases backwards from the account's address.
            let mut seen: HashSet<String> = HashSet::from([own_key.clone()]);
            let mut queue: VecDeque<(String, usize)> = VecDeque::from([(own_key, 0)]);
            let mut stmt = conn.prepare_cached(
                "SELECT DISTINCT alias_key, alias FROM aliases WHERE target_key = ?1",
            )?;
            while let Some((key, depth)) = queue.pop_front() {
                if depth >= super::MAX_ALIAS_DEPTH {
                    continue;
                }
                let rows: Vec<(String, String)> = stmt
                    .query_map([&key], |r| Ok((r.get(0)?, r.get(1)?)))?
                    .collect::<rusqlite::Result<_>>()?;
                for (alias_key, alias) in rows {
                    if seen.insert(alias_key.clone()) {
                        out.push(Address::parse(&alias).map_err(Error::Internal)?);
                        queue.push_back((alias_key, depth + 1));
                    }
                }
            }
            Ok(out)
        })
        .await
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::Store;

    fn env(rcpts: &[&str]) -> QueueEnvelope {
        QueueEnvelope {
            sender: "alice@example.test".into(),
            envid: None,
            ret: None,
            smtputf8: false,
            body: None,
            recipients: rcpts
                .iter()
                .map(|r| QueueRecipientSpec {
                    address: r.to_string(),
                    orcpt: None,
                    notify: None,
                })
                .collect(),
        }
    }

    /// `queue_due` reads the index up to its limit: each message once however many of its
    /// recipients are due, the longest due first, and none that is not due yet.
    #[tokio::test]
    async fn queue_due_takes_distinct_messages_in_due_order_up_to_the_limit() {
        let dir = tempfile::tempdir().unwrap();
        let store = SqliteStore::open(dir.path()).unwrap();
        let mut ids = Vec::new();
        for i in 0..5 {
            let rcpts = ["a@far.test", "b@far.test", "c@far.test"];
            let id = store
                .queue_add(
                    QueueId::generate(),
                    format!("Subject: {i}\r\n\r\nx\r\n").into_bytes(),
                    env(&rcpts),
                )
                .await
                .unwrap();
            ids.push(id);
        }
        // Make the first message due last, the third never (until far in the future).
        let set = |id: QueueId, at: i64| {
            let store = store.clone();
            async move {
                store
                    .write(move |ctx| {
                        ctx.conn.execute(
                            "UPDATE queue_rcpts SET next_attempt = ?2 WHERE queue_id = ?1",
                            params![id.0, at],
                        )?;
                        Ok(())
                    })
                    .await
                    .unwrap()
            }
        };
        let now = now();
        set(ids[0], now + 10).await;
        set(ids[2], now + 1_000_000).await;

        let due = |limit| {
            let store = store.clone();
            async move {
                store
                    .queue_due(now + 100, limit, &[])
                    .await
                    .unwrap()
                    .into_iter()
                    .map(|e| {
                        assert_eq!(e.recipients.len(), 3);
                        e.id
                    })
                    .collect::<Vec<_>>()
            }
        };
        assert_eq!(due(2).await, vec![ids[1], ids[3]]);
        assert_eq!(due(10).await, vec![ids[1], ids[3], ids[4], ids[0]]);
        assert!(due(0).await.is_empty());
        // Skipped messages are left out and do not count against the limit.
        let skipping: Vec<QueueId> = store
            .queue_due(now + 100, 2, &[ids[1], ids[4]])
            .await
            .unwrap()
            .into_iter()
            .map(|e| e.id)
            .collect();
        assert_eq!(skipping, vec![ids[3], ids[0]]);
    }

    /// A queue body is a blob like any other (readable, durable), with a summary column
    /// that still parses.
    #[tokio::test]
    async fn queue_body_is_stored_without_a_real_summary() {
        let dir = tempfile::tempdir().unwrap();
        let store = SqliteStore::open(dir.path()).unwrap();
        let raw = b"Subject: out\r\n\r\nbody\r\n".to_vec();
        store
            .queue_add(QueueId::generate(), raw.clone(), env(&["a@far.test"]))
            .await
            .unwrap();
        let e = store
            .queue_due(i64::MAX, 1, &[])
            .await
            .unwrap()
            .pop()
            .unwrap();
        assert_eq!(store.read_body(e.blob).await.unwrap(), raw);
        assert_eq!(e.size, raw.len() as u64);
        assert_eq!(
            *store.summary(e.blob).await.unwrap(),
            crate::mime::MessageSummary::default()
        );
    }

    /// Small queue bodies live in their row (no file to create, fsync or unlink), large
    /// ones in a file; both read back whole and go away with their entry.
    #[tokio::test]
    async fn small_queue_bodies_are_kept_inline_and_large_ones_in_files() {
        let dir = tempfile::tempdir().unwrap();
        let store = SqliteStore::open(dir.path()).unwrap();
        let files = || {
            walk(&dir.path().join("blobs"))
                .into_iter()
                .filter(|p| p.is_file())
                .count()
        };
        let small = b"Subject: small\r\n\r\nbody\r\n".to_vec();
        let mut large = b"Subject: large\r\n\r\n".to_vec();
        large.resize(super::super::INLINE_MAX + 1, b'x');
        let small_id = store
            .queue_add(QueueId::generate(), small.clone(), env(&["a@far.test"]))
            .await
            .unwrap();
        assert_eq!(files(), 0, "a small body is not a file");
        let large_id = store
            .queue_add(QueueId::generate(), large.clone(), env(&["b@far.test"]))
            .await
            .unwrap();
        assert_eq!(files(), 1, "a large body is a file");
        for (id, raw) in [(small_id, &small), (large_id, &large)] {
            let e = store.queue_get(id).await.unwrap().unwrap();
            assert_eq!(&store.read_body(e.blob).await.unwrap(), raw);
            assert_eq!(e.size, raw.len() as u64);
        }
        let small_blob = store.queue_get(small_id).await.unwrap().unwrap().blob;
        store.queue_delete(small_id).await.unwrap();
        store.queue_delete(large_id).await.unwrap();
        assert_eq!(files(), 0, "the large body's file goes with its entry");
        assert!(store.read_body(small_blob).await.is_err());
        let rows: i64 = rusqlite::Connection::open(dir.path().join("wharf.db"))
            .unwrap()
            .query_row("SELECT count(*) FROM blobs", [], |r| r.get(0))
            .unwrap();
        assert_eq!(rows, 0);
    }

    fn walk(dir: &std::path::Path) -> Vec<std::path::PathBuf> {
        let mut out = Vec::new();
        for entry in std::fs::read_dir(dir).into_iter().flatten().flatten() {
            let path = entry.path();
            if path.is_dir() {
                out.extend(walk(&path));
            }
            out.push(path);
        }
        out
    }
}
