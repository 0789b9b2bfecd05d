//! `Store::append_batch` (bulk import): messages go in in the order given, with their
//! dates, flags and keywords, and all or none of them when the account cannot take them.

use wharf_store::*;

mod common;
use common::*;

fn msg(i: usize) -> NewMessage {
    NewMessage {
        raw: format!("Subject: {i}\r\n\r\nbody {i}\r\n").into_bytes(),
        internal_date: Some(1_600_000_000 + i as i64),
        flags: if i.is_multiple_of(2) {
            Flags::SEEN
        } else {
            Flags::default()
        },
        keywords: if i.is_multiple_of(3) {
            vec!["work".into()]
        } else {
            vec![]
        },
    }
}

#[tokio::test]
async fn append_batch_keeps_order_dates_flags_and_keywords() {
    let (_dir, store, alice) = store_with_alice().await;
    let inbox = store.mailbox_get(alice.id, "INBOX").await.unwrap().unwrap();
    let n = 100;
    let delivered = store
        .append_batch(inbox.id, (0..n).map(msg).collect())
        .await
        .unwrap();
    let uids: Vec<Uid> = delivered.iter().map(|d| d.uid).collect();
    assert_eq!(uids, (1..=n as u32).collect::<Vec<_>>());
    let snap = store.mailbox_snapshot(inbox.id).await.unwrap();
    assert_eq!(snap.messages.len(), n);
    for (i, m) in snap.messages.iter().enumerate() {
        let want = msg(i);
        assert_eq!(
            store.read_body(m.blob).await.unwrap(),
            want.raw,
            "message {i}"
        );
        assert_eq!(Some(m.internal_date), want.internal_date);
        assert_eq!(m.flags, want.flags);
        assert_eq!(m.keywords, want.keywords);
    }
    assert!(
        store
            .append_batch(inbox.id, vec![])
            .await
            .unwrap()
            .is_empty()
    );
}

#[tokio::test]
async fn append_batch_over_quota_stores_none() {
    let (_dir, store, alice) = store_with_alice().await;
    store
        .user_set_quota(&alice.address, None, Some(5))
        .await
        .unwrap();
    let inbox = store.mailbox_get(alice.id, "INBOX").await.unwrap().unwrap();
    let r = store
        .append_batch(inbox.id, (0..6).map(msg).collect())
        .await;
    assert!(matches!(r, Err(Error::OverQuota(_))), "{r:?}");
    assert!(
        store
            .mailbox_snapshot(inbox.id)
            .await
            .unwrap()
            .messages
            .is_empty()
    );
    // Nothing of the refused batch counts; a batch that fits goes in.
    assert_eq!(store.usage(alice.id).await.unwrap().messages, 0);
    let ok = store
        .append_batch(inbox.id, (0..5).map(msg).collect())
        .await;
    assert_eq!(ok.unwrap().len(), 5);
}
