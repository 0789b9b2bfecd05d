//! The schema and its migrations: `PRAGMA user_version` records how many ran.
//!
//! Implementation notes:
//! - Never edit a released migration: add a new one. A data directory of any earlier
//!   version upgrades at open, one transaction per migration.
//! - Foreign keys are off while migrations run (a table rebuild drops the parent table
//!   its children point to) and `PRAGMA foreign_key_check` must be clean before each
//!   migration commits.
//! - Ids the store hands out (accounts, mailboxes, bodies) use AUTOINCREMENT (migration
//!   6): caches, snapshots, file-area homes and log lines are keyed by them, and a reused
//!   id would serve one thing's data for another.

use super::{now, text_index};
use crate::{Error, Result};
use rusqlite::{Connection, OptionalExtension};

/// Schema migrations, applied in order; `PRAGMA user_version` records how many ran.
/// Never edit a released migration: add a new one.
pub(super) const MIGRATIONS: &[&str] = &[
    // 1: directory, mailboxes, messages, bodies.
    r#"
    CREATE TABLE meta (key TEXT PRIMARY KEY, value INTEGER NOT NULL);
    CREATE TABLE domains (
        id INTEGER PRIMARY KEY,
        name TEXT NOT NULL UNIQUE,
        created INTEGER NOT NULL
    );
    CREATE TABLE accounts (
        id INTEGER PRIMARY KEY,
        address TEXT NOT NULL,
        addr_key TEXT NOT NULL UNIQUE,
        domain_id INTEGER NOT NULL REFERENCES domains(id),
        password_hash TEXT NOT NULL,
        quota_bytes INTEGER,
        quota_messages INTEGER,
        created INTEGER NOT NULL
    );
    CREATE TABLE aliases (
        alias_key TEXT NOT NULL,
        alias TEXT NOT NULL,
        target_key TEXT NOT NULL,
        target TEXT NOT NULL,
        domain_id INTEGER NOT NULL REFERENCES domains(id),
        PRIMARY KEY (alias_key, target_key)
    );
    CREATE TABLE mailboxes (
        id INTEGER PRIMARY KEY,
        account_id INTEGER NOT NULL REFERENCES accounts(id) ON DELETE CASCADE,
        name TEXT NOT NULL,
        uidvalidity INTEGER NOT NULL,
        uidnext INTEGER NOT NULL DEFAULT 1,
        highestmodseq INTEGER NOT NULL DEFAULT 1,
        special_use TEXT,
        subscribed INTEGER NOT NULL DEFAULT 1,
        UNIQUE (account_id, name)
    );
    CREATE TABLE blobs (
        id INTEGER PRIMARY KEY,
        name TEXT NOT NULL UNIQUE,
        size INTEGER NOT NULL,
        refs INTEGER NOT NULL,
        summary TEXT NOT NULL
    );
    CREATE TABLE messages (
        mailbox_id INTEGER NOT NULL REFERENCES mailboxes(id) ON DELETE CASCADE,
        uid INTEGER NOT NULL,
        blob_id INTEGER NOT NULL REFERENCES blobs(id),
        size INTEGER NOT NULL,
        internal_date INTEGER NOT NULL,
        flags INTEGER NOT NULL DEFAULT 0,
        keywords TEXT NOT NULL DEFAULT '',
        modseq INTEGER NOT NULL,
        PRIMARY KEY (mailbox_id, uid)
    ) WITHOUT ROWID;
    CREATE INDEX messages_blob ON messages (blob_id);
    CREATE TABLE expunged (
        mailbox_id INTEGER NOT NULL REFERENCES mailboxes(id) ON DELETE CASCADE,
        uid INTEGER NOT NULL,
        modseq INTEGER NOT NULL,
        PRIMARY KEY (mailbox_id, uid)
    ) WITHOUT ROWID;
    "#,
    // 2: the outbound queue, and DKIM signing keys per domain.
    r#"
    CREATE TABLE queue (
        id INTEGER PRIMARY KEY,
        blob_id INTEGER NOT NULL REFERENCES blobs(id),
        size INTEGER NOT NULL,
        created INTEGER NOT NULL,
        sender TEXT NOT NULL,
        envid TEXT,
        ret TEXT,
        smtputf8 INTEGER NOT NULL DEFAULT 0,
        body TEXT
    );
    CREATE TABLE queue_rcpts (
        id INTEGER PRIMARY KEY,
        queue_id INTEGER NOT NULL REFERENCES queue(id) ON DELETE CASCADE,
        address TEXT NOT NULL,
        orcpt TEXT,
        notify TEXT,
        state TEXT NOT NULL DEFAULT 'pending',
        attempts INTEGER NOT NULL DEFAULT 0,
        next_attempt INTEGER NOT NULL,
        last_error TEXT,
        delay_notified INTEGER NOT NULL DEFAULT 0
    );
    CREATE INDEX queue_rcpts_due ON queue_rcpts (state, next_attempt);
    CREATE INDEX queue_rcpts_queue ON queue_rcpts (queue_id);
    CREATE TABLE dkim_keys (
        domain TEXT PRIMARY KEY,
        selector TEXT NOT NULL,
        algorithm TEXT NOT NULL,
        private_key TEXT NOT NULL,
        created INTEGER NOT NULL
    );
    "#,
    // 3: the body index for SEARCH BODY / TEXT (see text_index.rs).
    text_index::MIGRATION,
    // 4: small queue bodies kept in their row (see `INLINE_MAX`).
    "ALTER TABLE blobs ADD COLUMN data BLOB;",
    // 5: IMAP \Recent (RFC 3501 §2.3.2): the first UID of each mailbox that no session
    // has claimed as recent yet. Existing mailboxes start with nothing recent.
    "ALTER TABLE mailboxes ADD COLUMN recent_from INTEGER NOT NULL DEFAULT 1;
     UPDATE mailboxes SET recent_from = uidnext;",
    // 6: ids that never come back (no cache, snapshot, file-area home or log line may
    // name one thing and then another): accounts, mailboxes and bodies are rebuilt with
    // AUTOINCREMENT, so a deleted row's id is never handed out again (without it SQLite
    // reuses the highest id once that row is gone). Queue ids are chosen by the caller
    // (`QueueId::generate`), never by the table.
    r#"
    CREATE TABLE accounts_v6 (
        id INTEGER PRIMARY KEY AUTOINCREMENT,
        address TEXT NOT NULL,
        addr_key TEXT NOT NULL UNIQUE,
        domain_id INTEGER NOT NULL REFERENCES domains(id),
        password_hash TEXT NOT NULL,
        quota_bytes INTEGER,
        quota_messages INTEGER,
        created INTEGER NOT NULL
    );
    INSERT INTO accounts_v6 (id, address, addr_key, domain_id, password_hash, quota_bytes,
                             quota_messages, created)
        SELECT id, address, addr_key, domain_id, password_hash, quota_bytes, quota_messages,
               created FROM accounts;
    DROP TABLE accounts;
    ALTER TABLE accounts_v6 RENAME TO accounts;

    CREATE TABLE mailboxes_v6 (
        id INTEGER PRIMARY KEY AUTOINCREMENT,
        account_id INTEGER NOT NULL REFERENCES accounts(id) ON DELETE CASCADE,
        name TEXT NOT NULL,
        uidvalidity INTEGER NOT NULL,
        uidnext INTEGER NOT NULL DEFAULT 1,
        highestmodseq INTEGER NOT NULL DEFAULT 1,
        special_use TEXT,
        subscribed INTEGER NOT NULL DEFAULT 1,
        recent_from INTEGER NOT NULL DEFAULT 1,
        UNIQUE (account_id, name)
    );
    INSERT INTO mailboxes_v6 (id, account_id, name, uidvalidity, uidnext, highestmodseq,
                              special_use, subscribed, recent_from)
        SELECT id, account_id, name, uidvalidity, uidnext, highestmodseq, special_use,
               subscribed, recent_from FROM mailboxes;
    DROP TABLE mailboxes;
    ALTER TABLE mailboxes_v6 RENAME TO mailboxes;

    CREATE TABLE blobs_v6 (
        id INTEGER PRIMARY KEY AUTOINCREMENT,
        name TEXT NOT NULL UNIQUE,
        size INTEGER NOT NULL,
        refs INTEGER NOT NULL,
        summary TEXT NOT NULL,
        text_state INTEGER NOT NULL DEFAULT 0,
        data BLOB
    );
    INSERT INTO blobs_v6 (id, name, size, refs, summary, text_state, data)
        SELECT id, name, size, refs, summary, text_state, data FROM blobs;
    DROP TABLE blobs;
    ALTER TABLE blobs_v6 RENAME TO blobs;
    CREATE INDEX blobs_not_indexed ON blobs (id) WHERE text_state != 1;
    "#,
    // 7: subscriptions are names, not a mark on a mailbox (RFC 9051 §6.3.7, RFC 3501
    // §6.3.9, RFC 5258 §3): DELETE leaves the name subscribed (LIST (SUBSCRIBED) shows
    // it \NonExistent), CREATE does not subscribe. `mailboxes.subscribed` is no longer
    // read or written.
    r#"
    CREATE TABLE subscriptions (
        account_id INTEGER NOT NULL REFERENCES accounts(id) ON DELETE CASCADE,
        name TEXT NOT NULL,
        PRIMARY KEY (account_id, name)
    ) WITHOUT ROWID;
    INSERT INTO subscriptions (account_id, name)
        SELECT account_id, name FROM mailboxes WHERE subscribed = 1;
    "#,
    // 8: the body index is made again, in the background, from the current
    // `mime::SearchText` (quoted-printable decoding per RFC 2045 §6.7, parts found by
    // `mime::summarize`); until a body is indexed again SEARCH decodes it itself.
    // (Stored summaries carry their own version, `mime::SUMMARY_VERSION`, and are made
    // again when read.)
    "DELETE FROM body_text;
     UPDATE blobs SET text_state = 0 WHERE text_state != 0;",
    // 9: a session catches up from the changes after the HIGHESTMODSEQ it last saw
    // (`Store::mailbox_changes_since`, changes.rs): messages and expunge records found by
    // mailbox and modseq, not by scanning the mailbox's every row and every expunge
    // since it was made (the `expunged` rows are kept for QRESYNC and only grow).
    "CREATE INDEX messages_modseq ON messages (mailbox_id, modseq);
     CREATE INDEX expunged_modseq ON expunged (mailbox_id, modseq);",
    // 10: an expunge record keeps the message's last flags and keywords, so a session
    // that has not reported the expunge yet serves those (imapdiff expunge.imap:14).
    // NULL in records made before.
    "ALTER TABLE expunged ADD COLUMN flags INTEGER;
     ALTER TABLE expunged ADD COLUMN keywords TEXT;",
];

/// The schema version this build writes.
pub const SCHEMA_VERSION: i64 = MIGRATIONS.len() as i64;

pub(super) fn migrate(conn: &mut Connection) -> Result<()> {
    let version: i64 = conn.query_row("PRAGMA user_version", [], |r| r.get(0))?;
    if version > SCHEMA_VERSION {
        return Err(Error::SchemaTooNew {
            found: version,
            supported: SCHEMA_VERSION,
        });
    }
    if version == SCHEMA_VERSION {
        return Ok(());
    }
    // A rebuilt table is dropped while its children still point to it (see above).
    conn.execute_batch("PRAGMA foreign_keys = OFF")?;
    let r = run_migrations(conn, version);
    conn.execute_batch("PRAGMA foreign_keys = ON")?;
    r
}

fn run_migrations(conn: &mut Connection, version: i64) -> Result<()> {
    for (i, sql) in MIGRATIONS.iter().enumerate().skip(version as usize) {
        let tx = conn.transaction_with_behavior(rusqlite::TransactionBehavior::Immediate)?;
        // Another process may have migrated while we waited for the lock.
        let current: i64 = tx.query_row("PRAGMA user_version", [], |r| r.get(0))?;
        if current > i as i64 {
            continue;
        }
        tx.execute_batch(sql)?;
        let broken: Option<String> = tx
            .query_row("PRAGMA foreign_key_check", [], |r| r.get(0))
            .optional()?;
        if let Some(table) = broken {
            return Err(Error::Internal(format!(
                "schema migration {} left a dangling reference in table {table}",
                i + 1
            )));
        }
        tx.execute_batch(&format!("PRAGMA user_version = {}", i + 1))?;
        if i == 0 {
            tx.execute(
                "INSERT INTO meta (key, value) VALUES ('uidvalidity_next', ?1)",
                [now().max(1)],
            )?;
        }
        tx.commit()?;
        tracing::info!("store schema migrated to version {}", i + 1);
    }
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::{Address, MailboxId, Secret, SqliteStore, Store};

    /// A data directory as the previous release (schema 5) left it: one account with an
    /// INBOX holding one message, whose body is the highest body id; a second account
    /// and a body that were deleted (so the highest ids were handed out once already).
    fn previous_release(dir: &std::path::Path) {
        let conn = Connection::open(dir.join("wharf.db")).unwrap();
        conn.execute_batch("PRAGMA journal_mode = WAL;").unwrap();
        for sql in &MIGRATIONS[..5] {
            conn.execute_batch(sql).unwrap();
        }
        conn.execute_batch(
            "PRAGMA user_version = 5;
             INSERT INTO meta (key, value) VALUES ('uidvalidity_next', 100);
             INSERT INTO domains (id, name, created) VALUES (1, 'example.test', 0);
             INSERT INTO accounts (id, address, addr_key, domain_id, password_hash, created)
                 VALUES (1, 'a@example.test', 'a@example.test', 1, 'x', 0),
                        (2, 'b@example.test', 'b@example.test', 1, 'x', 0);
             INSERT INTO mailboxes (id, account_id, name, uidvalidity, uidnext, recent_from)
                 VALUES (1, 1, 'INBOX', 7, 2, 2), (2, 2, 'INBOX', 8, 1, 1);
             INSERT INTO blobs (id, name, size, refs, summary, data)
                 VALUES (1, 'inline:01', 19, 1, '{}', CAST('Subject: s' || char(13, 10, 13, 10) || 'body' || char(13, 10) AS BLOB)),
                        (2, 'inline:02', 1, 1, '{}', x'78');
             INSERT INTO messages (mailbox_id, uid, blob_id, size, internal_date, modseq)
                 VALUES (1, 1, 1, 19, 0, 1), (2, 1, 2, 1, 0, 1);
             DELETE FROM messages WHERE mailbox_id = 2;
             DELETE FROM blobs WHERE id = 2;
             DELETE FROM mailboxes WHERE id = 2;
             DELETE FROM accounts WHERE id = 2;",
        )
        .unwrap();
    }

    #[tokio::test]
    async fn a_previous_release_data_dir_upgrades_and_keeps_everything() {
        let dir = tempfile::tempdir().unwrap();
        previous_release(dir.path());
        let store = SqliteStore::open(dir.path()).unwrap();
        let a = store
            .user_get(&Address::parse("a@example.test").unwrap())
            .await
            .unwrap()
            .expect("the account survived");
        assert_eq!(a.id.0, 1);
        let snap = store.mailbox_snapshot(MailboxId(1)).await.unwrap();
        assert_eq!(snap.mailbox.uidvalidity, 7);
        assert_eq!(snap.mailbox.uidnext, 2);
        assert_eq!(snap.messages.len(), 1);
        let body = store.read_body(snap.messages[0].blob).await.unwrap();
        assert_eq!(body, b"Subject: s\r\n\r\nbody\r\n");
        assert_eq!(store.claim_recent(MailboxId(1), None).await.unwrap(), 2);

        // From now on no id comes back: delete the newest of each and make another.
        let c = store
            .user_add(
                &Address::parse("c@example.test").unwrap(),
                &Secret::new("pw"),
            )
            .await
            .unwrap();
        let inbox_c = store.mailbox_get(c.id, "INBOX").await.unwrap().unwrap();
        let last_mailbox = store
            .mailbox_list(c.id)
            .await
            .unwrap()
            .iter()
            .map(|m| m.id)
            .max()
            .unwrap();
        let delivered = store
            .deliver(
                &[c.id],
                crate::NewMessage {
                    raw: b"Subject: t\r\n\r\nx\r\n".to_vec(),
                    internal_date: None,
                    flags: Default::default(),
                    keywords: vec![],
                },
            )
            .await
            .unwrap();
        let blob = store.mailbox_snapshot(inbox_c.id).await.unwrap().messages[0].blob;
        store
            .expunge(inbox_c.id, &[delivered[0].uid])
            .await
            .unwrap();
        store
            .user_del(&Address::parse("c@example.test").unwrap())
            .await
            .unwrap();
        let d = store
            .user_add(
                &Address::parse("d@example.test").unwrap(),
                &Secret::new("pw"),
            )
            .await
            .unwrap();
        assert!(d.id.0 > c.id.0, "account id {} came back", c.id.0);
        let inbox_d = store.mailbox_get(d.id, "INBOX").await.unwrap().unwrap();
        assert!(
            store
                .mailbox_list(d.id)
                .await
                .unwrap()
                .iter()
                .all(|m| m.id > last_mailbox)
        );
        store
            .deliver(
                &[d.id],
                crate::NewMessage {
                    raw: b"Subject: u\r\n\r\ny\r\n".to_vec(),
                    internal_date: None,
                    flags: Default::default(),
                    keywords: vec![],
                },
            )
            .await
            .unwrap();
        let blob_d = store.mailbox_snapshot(inbox_d.id).await.unwrap().messages[0].blob;
        assert!(blob_d.0 > blob.0, "body id {} came back", blob.0);
        drop(store);

        // The rebuilt tables still enforce their references, and the schema is current.
        let conn = Connection::open(dir.path().join("wharf.db")).unwrap();
        conn.execute_batch("PRAGMA foreign_keys = ON").unwrap();
        let v: i64 = conn
            .query_row("PRAGMA user_version", [], |r| r.get(0))
            .unwrap();
        assert_eq!(v, SCHEMA_VERSION);
        assert!(
            conn.execute(
                "INSERT INTO messages (mailbox_id, uid, blob_id, size, internal_date, modseq)
                 VALUES (1, 99, 424242, 1, 0, 1)",
                [],
            )
            .is_err(),
            "a message pointing at no body was accepted"
        );
        let dangling: Option<String> = conn
            .query_row("PRAGMA foreign_key_check", [], |r| r.get(0))
            .optional()
            .unwrap();
        assert_eq!(dangling, None);
    }
}
