//! Quotas are enforced by the store, in the transaction that writes: concurrent
//! deliveries, APPENDs and COPYs cannot pass an account's quota together, and a refused
//! write leaves no body file behind.

use wharf_store::*;

mod common;
use common::*;

/// A message of exactly `n` octets.
fn msg(n: usize) -> NewMessage {
    let head = "Subject: q\r\n\r\n";
    let mut raw = head.as_bytes().to_vec();
    raw.resize(n - 2, b'x');
    raw.extend_from_slice(b"\r\n");
    NewMessage {
        raw,
        internal_date: Some(1_700_000_000),
        flags: Flags::default(),
        keywords: vec![],
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn concurrent_deliveries_never_pass_the_quota_together() {
    let (dir, store, alice) = store_with_alice().await;
    store
        .user_set_quota(&alice.address, Some(10_000), None)
        .await
        .unwrap();
    // Nearly full: 9,000 of 10,000 used; twenty 400-octet messages race for the rest.
    store.deliver(&[alice.id], msg(9_000)).await.unwrap();
    let tasks: Vec<_> = (0..20)
        .map(|_| {
            let store = store.clone();
            tokio::spawn(async move { store.deliver(&[alice.id], msg(400)).await })
        })
        .collect();
    let mut ok = 0;
    for t in tasks {
        match t.await.unwrap() {
            Ok(_) => ok += 1,
            Err(Error::OverQuota(who)) => assert_eq!(who, "alice@example.test"),
            Err(e) => panic!("unexpected error {e}"),
        }
    }
    assert_eq!(ok, 2, "exactly the two that fit are delivered");
    let usage = store.usage(alice.id).await.unwrap();
    assert_eq!(usage.bytes, 9_800);
    assert_eq!(usage.messages, 3);
    // The refused ones left no body file.
    assert_eq!(blob_files(dir.path()), 3);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn concurrent_appends_and_copies_respect_quota_in_bytes_and_messages() {
    let (_dir, store, alice) = store_with_alice().await;
    store
        .user_set_quota(&alice.address, None, Some(5))
        .await
        .unwrap();
    let inbox = store.mailbox_get(alice.id, "INBOX").await.unwrap().unwrap();
    let tasks: Vec<_> = (0..12)
        .map(|_| {
            let store = store.clone();
            tokio::spawn(async move { store.append(inbox.id, msg(100)).await })
        })
        .collect();
    let mut ok = 0;
    for t in tasks {
        match t.await.unwrap() {
            Ok(_) => ok += 1,
            Err(Error::OverQuota(_)) => {}
            Err(e) => panic!("unexpected error {e}"),
        }
    }
    assert_eq!(ok, 5);
    // At the message quota: a COPY is refused, a MOVE within the account is not.
    let sent = store.mailbox_get(alice.id, "Sent").await.unwrap().unwrap();
    assert!(matches!(
        store.copy(inbox.id, &[1], sent.id).await,
        Err(Error::OverQuota(_))
    ));
    let uids: Vec<Uid> = store
        .mailbox_snapshot(inbox.id)
        .await
        .unwrap()
        .messages
        .iter()
        .map(|m| m.uid)
        .collect();
    let (_, moved) = store
        .move_messages(inbox.id, &uids[..2], sent.id)
        .await
        .unwrap();
    assert_eq!(moved.len(), 2);
    assert_eq!(store.usage(alice.id).await.unwrap().messages, 5);

    // Bytes: 5 x 100 used, quota 650: one more 100 fits, a copy of two does not.
    store
        .user_set_quota(&alice.address, Some(650), None)
        .await
        .unwrap();
    store.append(inbox.id, msg(100)).await.unwrap();
    let (_, copied) = store
        .copy(sent.id, &[1], inbox.id)
        .await
        .map_or((0, vec![]), |r| r);
    assert!(copied.is_empty(), "a copy past the byte quota went through");
}
