//! Stored summaries carry the `mime::SUMMARY_VERSION` that made them; one made by an
//! older parser is made again from the body when read, and stored, so an existing data
//! directory gets parsing fixes without a re-import.

use wharf_store::mime::{self, MessageSummary};
use wharf_store::*;

#[tokio::test]
async fn an_old_summary_is_made_again_and_stored() {
    let dir = tempfile::tempdir().unwrap();
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
