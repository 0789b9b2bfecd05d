//! Stored summaries carry the `mime::SUMMARY_VERSION` that made them; one made by an
//! older parser is made again from the body when read, and stored, so an existing data
//! directory gets parsing fixes without a re-import.

use wharf_store::mime::{self, MessageSummary};
use wharf_store::*;

mod common;
use common::store_with_alice;

#[tokio::test]
async fn an_old_summary_is_made_again_and_stored() {
    let (dir, store, alice) = store_with_alice().await;
    let inbox = store.mailbox_get(alice.id, "INBOX").await.unwrap().unwrap();
    let raw = b"From: <@route:user@domain>\r\nTo: d\r\nSubject: old\r\n\r\nbody\r\n".to_vec();
    store
        .append(
            inbox.id,
            NewMessage {
                raw: raw.clone(),
                internal_date: Some(1_700_000_000),
                flags: Flags::default(),
                keywords: vec![],
            },
        )
        .await
        .unwrap();
    let blob = store.mailbox_snapshot(inbox.id).await.unwrap().messages[0].blob;
    let fresh = store.summary(blob).await.unwrap();
    assert_eq!(fresh.version, mime::SUMMARY_VERSION);
    assert_eq!(*fresh, mime::summarize(&raw));
    drop(store);

    // What a build before versions stored: no "version", the old (wrong) envelope.
    let mut old = mime::summarize(&raw);
    old.envelope.to.clear();
    old.envelope.from[0].adl = None;
    old.envelope.from[0].mailbox = Some("@route:user".into());
    let mut json: serde_json::Value = serde_json::to_value(&old).unwrap();
    json.as_object_mut().unwrap().remove("version");
    let conn = rusqlite::Connection::open(dir.path().join("wharf.db")).unwrap();
    conn.execute(
        "UPDATE blobs SET summary = ?1 WHERE id = ?2",
        rusqlite::params![json.to_string(), blob.0],
    )
    .unwrap();
    drop(conn);

    let store = SqliteStore::open(dir.path()).unwrap();
    let again = store.summary(blob).await.unwrap();
    assert_eq!(*again, mime::summarize(&raw), "the old summary was served");
    assert_eq!(
        again.envelope.to[0].host.as_deref(),
        Some(mime::MISSING_DOMAIN)
    );
    drop(store);
    // ... and stored, so the next open reads the current one.
    let conn = rusqlite::Connection::open(dir.path().join("wharf.db")).unwrap();
    let stored: String = conn
        .query_row("SELECT summary FROM blobs WHERE id = ?1", [blob.0], |r| {
            r.get(0)
        })
        .unwrap();
    let stored: MessageSummary = serde_json::from_str(&stored).unwrap();
    assert_eq!(stored.version, mime::SUMMARY_VERSION);
    assert_eq!(stored, mime::summarize(&raw));
}

/// Schema migration 8: a body index made by an older `SearchText` (here: the QP soft
/// break `= ` before CRLF not undone) is emptied and made again in the background.
#[tokio::test]
async fn the_body_index_is_rebuilt_after_upgrade() {
    let dir = tempfile::tempdir().unwrap();
    let db = || rusqlite::Connection::open(dir.path().join("wharf.db")).unwrap();
    let indexed = |conn: &rusqlite::Connection| -> Vec<String> {
        let mut stmt = conn.prepare("SELECT body FROM body_text").unwrap();
        stmt.query_map([], |r| r.get::<_, String>(0))
            .unwrap()
            .map(|r| r.unwrap())
            .collect::<Vec<_>>()
    };
    {
        let store = SqliteStore::open(dir.path()).unwrap();
        store
            .domain_add(&DomainName::parse("example.test").unwrap())
            .await
            .unwrap();
        let alice = store
            .user_add(
                &Address::parse("alice@example.test").unwrap(),
                &Secret::new("pw-a"),
            )
            .await
            .unwrap();
        let inbox = store.mailbox_get(alice.id, "INBOX").await.unwrap().unwrap();
        let raw = b"Content-Transfer-Encoding: quoted-printable\r\n\r\nhello  \r\nfoo= \r\nbar\r\n";
        store
            .append(
                inbox.id,
                NewMessage {
                    raw: raw.to_vec(),
                    internal_date: None,
                    flags: Flags::default(),
                    keywords: vec![],
                },
            )
            .await
            .unwrap();
        let mut waited = 0;
        while indexed(&db()).is_empty() {
            waited += 1;
            assert!(waited < 200, "not indexed");
            tokio::time::sleep(std::time::Duration::from_millis(50)).await;
        }
        assert_eq!(indexed(&db()), vec!["hello\r\nfoobar\r\n\n".to_string()]);
    }
    // Back to schema 7 (what migrations 9 and 10 added dropped), its index holding the
    // old decoding's text.
    db().execute_batch(
        "UPDATE body_text SET body = 'hello  \r\nfoo= \r\nbar\r\n\n';
         DROP INDEX messages_modseq; DROP INDEX expunged_modseq;
         ALTER TABLE expunged DROP COLUMN flags; ALTER TABLE expunged DROP COLUMN keywords;
         PRAGMA user_version = 7;",
    )
    .unwrap();
    let _store = SqliteStore::open(dir.path()).unwrap();
    let mut waited = 0;
    loop {
        let rows = indexed(&db());
        if rows == vec!["hello\r\nfoobar\r\n\n".to_string()] {
            break;
        }
        waited += 1;
        assert!(waited < 200, "index not rebuilt: {rows:?}");
        tokio::time::sleep(std::time::Duration::from_millis(50)).await;
    }
}
