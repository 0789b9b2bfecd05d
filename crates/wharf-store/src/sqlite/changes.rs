//! [`crate::Store::mailbox_changes_since`] for SQLite: what changed in a mailbox after a
//! mod-sequence, read in one transaction.
//!
//! Every change to a mailbox's messages takes a new mod-sequence from the mailbox row
//! (`allocate_uid` for a new message, `bump_modseq` for a flag change or an expunge) in
//! the same transaction that makes it, and an expunge leaves a row in `expunged` with its
//! mod-sequence (kept, for QRESYNC). So the messages with `modseq > since`, the `expunged`
//! rows with `modseq > since` and the mailbox's HIGHESTMODSEQ, read together, are exactly
//! what a view that was current at `since` lacks, up to that HIGHESTMODSEQ. A session
//! reads this instead of every message's metadata after each change event (issue 11:
//! the whole-mailbox reload was most of the cost of a command in a shared mailbox).

use super::{get_mailbox, keywords_from_string, meta_from_row};
use crate::{Flags, MailboxChanges, MailboxCounts, MailboxId, MessageMeta, ModSeq, Result};
use rusqlite::{Connection, params};

/// The messages changed after a modseq. No `ORDER BY uid`: with it SQLite walks the
/// primary key (every message of the mailbox) to skip a sort; without it, it takes the
/// `messages_modseq` index (migration 9) to the changed rows only, sorted here.
const CHANGED_SQL: &str = "SELECT uid, flags, keywords, modseq, size, internal_date, blob_id
     FROM messages WHERE mailbox_id = ?1 AND modseq > ?2";
/// The expunges after a modseq, by the `expunged_modseq` index (migration 9).
const EXPUNGED_SQL: &str =
    "SELECT uid, flags, keywords FROM expunged WHERE mailbox_id = ?1 AND modseq > ?2";

/// Reads the changes after `since` and the mailbox row in one read transaction.
pub(super) fn changes_since(
    conn: &Connection,
    mailbox: MailboxId,
    since: ModSeq,
) -> Result<MailboxChanges> {
    conn.execute_batch("BEGIN")?;
    let result = read(conn, mailbox, since as i64);
    let _ = conn.execute_batch("COMMIT");
    result
}

/// [`crate::Store::mailbox_counts`]: the mailbox row and STATUS's counts, counted by
/// SQLite (one pass over the mailbox's rows, nothing built per message), in one read
/// transaction.
pub(super) fn counts(conn: &Connection, mailbox: MailboxId) -> Result<MailboxCounts> {
    conn.execute_batch("BEGIN")?;
    let result = (|| {
        let mb = get_mailbox(conn, mailbox)?;
        let (messages, unseen, deleted, size) = conn
            .prepare_cached(
                "SELECT count(*), coalesce(sum((flags & ?2) = 0), 0),
                        coalesce(sum((flags & ?3) != 0), 0), coalesce(sum(size), 0)
                 FROM messages WHERE mailbox_id = ?1",
            )?
            .query_row(params![mailbox.0, Flags::SEEN.0, Flags::DELETED.0], |r| {
                Ok((
                    r.get::<_, i64>(0)?,
                    r.get::<_, i64>(1)?,
                    r.get::<_, i64>(2)?,
                    r.get::<_, i64>(3)?,
                ))
            })?;
        Ok(MailboxCounts {
            mailbox: mb,
            messages: messages as u64,
            unseen: unseen as u64,
            deleted: deleted as u64,
            size: size as u64,
        })
    })();
    let _ = conn.execute_batch("COMMIT");
    result
}

fn read(conn: &Connection, mailbox: MailboxId, since: i64) -> Result<MailboxChanges> {
    let mb = get_mailbox(conn, mailbox)?;
    if mb.highest_modseq as i64 <= since {
        // Nothing happened since: one row read, no message scan.
        return Ok(MailboxChanges {
            mailbox: mb,
            changed: Vec::new(),
            expunged: Vec::new(),
            expunged_flags: Vec::new(),
        });
    }
    let mut changed: Vec<MessageMeta> = conn
        .prepare_cached(CHANGED_SQL)?
        .query_map(params![mailbox.0, since], meta_from_row)?
        .collect::<rusqlite::Result<_>>()?;
    // Flags and keywords are NULL in records written before schema 10.
    type Row = (crate::Uid, Option<u8>, Option<String>);
    let mut rows: Vec<Row> = conn
        .prepare_cached(EXPUNGED_SQL)?
        .query_map(params![mailbox.0, since], |r| {
            Ok((r.get(0)?, r.get(1)?, r.get(2)?))
        })?
        .collect::<rusqlite::Result<_>>()?;
    changed.sort_unstable_by_key(|m| m.uid);
    rows.sort_unstable_by_key(|r| r.0);
    let expunged = rows.iter().map(|r| r.0).collect();
    let expunged_flags = rows
        .into_iter()
        .filter_map(|(uid, f, k)| Some((uid, Flags(f?), keywords_from_string(&k?))))
        .collect();
    Ok(MailboxChanges {
        mailbox: mb,
        changed,
        expunged,
        expunged_flags,
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    /// Both reads go by the modseq indexes, not over every row of the mailbox: a
    /// session's catch-up costs what changed, however large the mailbox and its
    /// expunge history (issue 11; before migration 9 both walked the primary key).
    #[test]
    fn changes_are_read_by_the_modseq_indexes() {
        let dir = tempfile::tempdir().unwrap();
        let _store = crate::SqliteStore::open(dir.path()).unwrap();
        let conn = Connection::open(dir.path().join("wharf.db")).unwrap();
        for (sql, index) in [
            (CHANGED_SQL, "messages_modseq"),
            (EXPUNGED_SQL, "expunged_modseq"),
        ] {
            let plan: Vec<String> = conn
                .prepare(&format!("EXPLAIN QUERY PLAN {sql}"))
                .unwrap()
                .query_map(params![1, 5], |r| r.get::<_, String>(3))
                .unwrap()
                .collect::<rusqlite::Result<_>>()
                .unwrap();
            let plan = plan.join(" | ");
            assert!(
                plan.contains(&format!("INDEX {index} (mailbox_id=? AND modseq>?)")),
                "{sql}: {plan}"
            );
            assert!(!plan.contains("TEMP B-TREE"), "{sql}: {plan}");
        }
    }
}
