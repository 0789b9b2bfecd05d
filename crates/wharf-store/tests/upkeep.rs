//! A serving store's upkeep: orphaned body files swept in the background (never by a
//! mere open), and the free-space reserve below which new mail is refused while reads
//! and deletes go on.

use std::path::Path;
use std::sync::Arc;
use std::time::{Duration, SystemTime};
use wharf_store::queue::{QueueEnvelope, QueueId, QueueRecipientSpec};
use wharf_store::*;

fn addr(s: &str) -> Address {
    Address::parse(s).unwrap()
}

async fn store_with_alice(dir: &Path) -> (Arc<SqliteStore>, Account) {
    let store = SqliteStore::open(dir).unwrap();
    store
        .domain_add(&DomainName::parse("example.test").unwrap())
        .await
        .unwrap();
    let alice = store
        .user_add(&addr("alice@example.test"), &Secret::new("pw-a"))
        .await
        .unwrap();
    (store, alice)
}

fn msg(body: &str) -> NewMessage {
    NewMessage {
        raw: format!("Subject: t\r\n\r\n{body}\r\n").into_bytes(),
        internal_date: Some(1_700_000_000),
        flags: Flags::default(),
        keywords: vec![],
    }
}

fn age(path: &Path, secs: u64) {
    let f = std::fs::File::options().write(true).open(path).unwrap();
    f.set_modified(SystemTime::now() - Duration::from_secs(secs))
        .unwrap();
}

fn files_under(p: &Path) -> Vec<std::path::PathBuf> {
    let mut out = Vec::new();
    for e in std::fs::read_dir(p).unwrap() {
        let e = e.unwrap();
        if e.file_type().unwrap().is_dir() {
            out.extend(files_under(&e.path()));
        } else {
            out.push(e.path());
        }
    }
    out
}

#[tokio::test]
async fn orphans_are_swept_by_the_upkeep_not_by_open() {
    let dir = tempfile::tempdir().unwrap();
    let (store, alice) = store_with_alice(dir.path()).await;
    store.deliver(&[alice.id], msg("kept")).await.unwrap();
    let referenced = files_under(&dir.path().join("blobs"));
    assert_eq!(referenced.len(), 1);
    // An old referenced body must survive however old it is.
    age(&referenced[0], 7200);
    drop(store);
    // Planted orphans: old ones in the current layout and the older shard layout, a
    // fresh one (its COMMIT may still be coming), and a stray file in the root.
    std::fs::create_dir_all(dir.path().join("blobs/20000/0001")).unwrap();
    std::fs::create_dir_all(dir.path().join("blobs/cd")).unwrap();
    let old: Vec<_> = (0..30)
        .map(|i| dir.path().join(format!("blobs/20000/0001/ab{i:030x}")))
        .chain([dir.path().join("blobs/cd/cd000000000000000000000000000000")])
        .collect();
    for p in &old {
        std::fs::write(p, b"x").unwrap();
        age(p, 7200);
    }
    let fresh = dir
        .path()
        .join("blobs/20000/0001/ff000000000000000000000000000000");
    std::fs::write(&fresh, b"x").unwrap();
    let stray = dir.path().join("blobs/README");
    std::fs::write(&stray, b"x").unwrap();
    age(&stray, 7200);

    // Opening (what every CLI command does) walks nothing.
    let store = SqliteStore::open(dir.path()).unwrap();
    assert!(old.iter().all(|p| p.exists()), "open swept");
    let removed = store.sweep_orphans_now(Duration::from_secs(900)).unwrap();
    assert_eq!(removed, old.len());
    assert!(old.iter().all(|p| !p.exists()));
    assert!(fresh.exists(), "a fresh file was swept");
    assert!(stray.exists(), "a file that is not a body was swept");
    assert!(referenced[0].exists(), "a referenced body was swept");
    let inbox = store.mailbox_get(alice.id, "INBOX").await.unwrap().unwrap();
    let snap = store.mailbox_snapshot(inbox.id).await.unwrap();
    assert_eq!(
        store.read_body(snap.messages[0].blob).await.unwrap(),
        b"Subject: t\r\n\r\nkept\r\n"
    );
}

#[tokio::test]
async fn below_the_reserve_new_mail_is_refused_and_deletes_go_on() {
    let dir = tempfile::tempdir().unwrap();
    let (store, alice) = store_with_alice(dir.path()).await;
    let inbox = store.mailbox_get(alice.id, "INBOX").await.unwrap().unwrap();
    let d = store.deliver(&[alice.id], msg("one")).await.unwrap();
    // A reserve larger than any disk.
    store.set_min_free_space(u64::MAX);
    assert!(matches!(
        store.deliver(&[alice.id], msg("two")).await,
        Err(Error::NoSpace(_))
    ));
    assert!(matches!(
        store.append(inbox.id, msg("three")).await,
        Err(Error::NoSpace(_))
    ));
    let env = QueueEnvelope {
        sender: "alice@example.test".into(),
        recipients: vec![QueueRecipientSpec {
            address: "x@far.test".into(),
            orcpt: None,
            notify: None,
        }],
        ..Default::default()
    };
    assert!(matches!(
        store
            .queue_add(QueueId::generate(), b"x\r\n".to_vec(), env)
            .await,
        Err(Error::NoSpace(_))
    ));
    assert!(Error::NoSpace(String::new()).is_temporary());
    // Nothing was written for the refused ones.
    assert_eq!(files_under(&dir.path().join("blobs")).len(), 1);
    // Reads, flags and expunge still work.
    let snap = store.mailbox_snapshot(inbox.id).await.unwrap();
    store.read_body(snap.messages[0].blob).await.unwrap();
    store
        .store_flags(
            inbox.id,
            FlagUpdate {
                uids: vec![d[0].uid],
                op: FlagOp::Add,
                flags: Flags::DELETED,
                keywords: vec![],
                unchanged_since: None,
            },
        )
        .await
        .unwrap();
    assert_eq!(
        store.expunge(inbox.id, &[d[0].uid]).await.unwrap(),
        vec![d[0].uid]
    );
    store.set_min_free_space(0);
    store.deliver(&[alice.id], msg("again")).await.unwrap();
}
