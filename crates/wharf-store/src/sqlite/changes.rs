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

use super::{get_mailbox, keywords_from_string};
use crate::{BlobId, Flags, MailboxChanges, MailboxId, MessageMeta, ModSeq, Result};
use rusqlite::{Connection, params};

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

fn read(conn: &Connection, mailbox: MailboxId, since: i64) -> Result<MailboxChanges> {
    let mb = get_mailbox(conn, mailbox)?;
    if mb.highest_modseq as i64 <= since {
        // Nothing happened since: one row read, no message scan.
        return Ok(MailboxChanges {
            mailbox: mb,
            changed: Vec::new(),
            expunged: Vec::new(),
        });
    }
    let changed = conn
        .prepare_cached(
            "SELECT uid, flags, keywords, modseq, size, internal_date, blob_id
             FROM messages WHERE mailbox_id = ?1 AND modseq > ?2 ORDER BY uid",
        )?
        .query_map(params![mailbox.0, since], |r| {
            Ok(MessageMeta {
                uid: r.get(0)?,
                flags: Flags(r.get(1)?),
                keywords: keywords_from_string(&r.get::<_, String>(2)?),
                modseq: r.get::<_, i64>(3)? as u64,
                size: r.get::<_, i64>(4)? as u64,
                internal_date: r.get(5)?,
                blob: BlobId(r.get(6)?),
            })
        })?
        .collect::<rusqlite::Result<_>>()?;
    let expunged = conn
        .prepare_cached(
            "SELECT uid FROM expunged WHERE mailbox_id = ?1 AND modseq > ?2 ORDER BY uid",
        )?
        .query_map(params![mailbox.0, since], |r| r.get(0))?
        .collect::<rusqlite::Result<_>>()?;
    Ok(MailboxChanges {
        mailbox: mb,
        changed,
        expunged,
    })
}
