//! Identity that never comes back: ids the store hands out (bodies, accounts, mailboxes,
//! queued messages) are never handed out again after a delete, so nothing keyed by one
//! (the summary cache, a session's snapshot, the file area's home, a log line) can reach
//! another thing's data.

use wharf_store::queue::{QueueEnvelope, QueueId, QueueRecipientSpec};
use wharf_store::*;

mod common;
use common::*;

fn msg(raw: &str) -> NewMessage {
    NewMessage {
        raw: raw.as_bytes().to_vec(),
        internal_date: Some(1_700_000_000),
        flags: Flags::default(),
        keywords: vec![],
    }
}

/// The outside report's repro at the store: a 55-byte message in c1, its summary read
/// (and cached), c1 deleted, c2 created, a 23-byte message appended. The new message's
/// summary must be its own, not the deleted one's.
#[tokio::test]
async fn a_new_body_never_gets_a_deleted_bodys_id_or_summary() {
    let (_dir, store, alice) = store_with_alice().await;
    let first = "Subject: first message\r\nFrom: a@example.test\r\n\r\nhello\r\n";
    assert_eq!(first.len(), 55);
    let c1 = store.mailbox_create(alice.id, "c1", None).await.unwrap();
    store.append(c1.id, msg(first)).await.unwrap();
    let old = store.mailbox_snapshot(c1.id).await.unwrap().messages[0].clone();
    let old_summary = store.summary(old.blob).await.unwrap();
    assert_eq!(
        old_summary.envelope.subject.as_deref(),
        Some("first message")
    );
    store.mailbox_delete(alice.id, "c1").await.unwrap();
    let c2 = store.mailbox_create(alice.id, "c2", None).await.unwrap();
    let second = "Subject: 2nd\r\n\r\nshort\r\n";
    assert_eq!(second.len(), 23);
    store.append(c2.id, msg(second)).await.unwrap();
    let new = store.mailbox_snapshot(c2.id).await.unwrap().messages[0].clone();
    assert_eq!(new.size, 23);
    assert_ne!(new.blob, old.blob, "a deleted body's id came back");
    let summary = store.summary(new.blob).await.unwrap();
    assert_eq!(summary.envelope.subject.as_deref(), Some("2nd"));
    assert_eq!(summary.root.end, 23);
    assert_eq!(store.read_body(new.blob).await.unwrap(), second.as_bytes());
    // The old id now names nothing.
    assert!(store.read_body(old.blob).await.is_err());
}

#[tokio::test]
async fn deleted_accounts_and_mailboxes_ids_are_not_reused() {
    let (_dir, store, alice) = store_with_alice().await;
    let mb = store.mailbox_create(alice.id, "gone", None).await.unwrap();
    let mut all: Vec<i64> = store
        .mailbox_list(alice.id)
        .await
        .unwrap()
        .iter()
        .map(|m| m.id.0)
        .collect();
    store.mailbox_delete(alice.id, "gone").await.unwrap();
    let again = store.mailbox_create(alice.id, "again", None).await.unwrap();
    assert_ne!(again.id, mb.id, "a deleted mailbox's id came back");
    assert!(!all.contains(&again.id.0));
    all.push(again.id.0);

    store.user_del(&addr("alice@example.test")).await.unwrap();
    let carol = store
        .user_add(&addr("carol@example.test"), &Secret::new("pw-c"))
        .await
        .unwrap();
    assert_ne!(carol.id, alice.id, "a deleted account's id came back");
    for m in store.mailbox_list(carol.id).await.unwrap() {
        assert!(!all.contains(&m.id.0), "mailbox id {} came back", m.id.0);
    }
}

fn env(to: &str) -> QueueEnvelope {
    QueueEnvelope {
        sender: "alice@example.test".into(),
        recipients: vec![QueueRecipientSpec {
            address: to.into(),
            orcpt: None,
            notify: None,
        }],
        ..Default::default()
    }
}

/// The queue id the caller gave (in its SMTP reply, Received: field and logs) is the
/// one `wharf queue list/show` shows, and a deleted entry's id is not handed out again.
#[tokio::test]
async fn queue_ids_are_the_callers_and_never_reused() {
    let (_dir, store, _) = store_with_alice().await;
    let a = QueueId::generate();
    let got = store
        .queue_add(a, b"Subject: x\r\n\r\nx\r\n".to_vec(), env("x@far.test"))
        .await
        .unwrap();
    assert_eq!(got, a);
    assert_eq!(store.queue_list().await.unwrap()[0].id, a);
    assert_eq!(a.to_string().parse::<QueueId>().unwrap(), a);
    store.queue_delete(a).await.unwrap();
    let b = QueueId::generate();
    assert_ne!(a, b);
    assert_eq!(
        store
            .queue_add(b, b"Subject: y\r\n\r\ny\r\n".to_vec(), env("y@far.test"))
            .await
            .unwrap(),
        b
    );
    // The same id twice is refused, not merged.
    assert!(
        store
            .queue_add(b, b"Subject: z\r\n\r\nz\r\n".to_vec(), env("z@far.test"))
            .await
            .is_err()
    );
    let ids: std::collections::HashSet<QueueId> =
        (0..10_000).map(|_| QueueId::generate()).collect();
    assert_eq!(ids.len(), 10_000);
}
