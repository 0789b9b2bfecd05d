//! Behaviour of the embedded store through the `Store` trait.

use wharf_store::*;

mod common;
use common::*;

fn msg(body: &str) -> NewMessage {
    NewMessage {
        raw: format!("Subject: test\r\n\r\n{body}\r\n").into_bytes(),
        internal_date: Some(1_700_000_000),
        flags: Flags::default(),
        keywords: vec![],
    }
}

#[tokio::test]
async fn users_get_default_mailboxes_and_passwords_are_checked() {
    let (_dir, store, alice, _) = store_with_users().await;
    let names: Vec<String> = store
        .mailbox_list(alice.id)
        .await
        .unwrap()
        .into_iter()
        .map(|m| m.name)
        .collect();
    assert_eq!(names, ["Drafts", "INBOX", "Junk", "Sent", "Trash"]);
    let sent = store.mailbox_get(alice.id, "Sent").await.unwrap().unwrap();
    assert_eq!(sent.special_use, Some(SpecialUse::Sent));
    assert!(
        store
            .authenticate(&addr("ALICE@example.test"), &Secret::new("pw-a"))
            .await
            .unwrap()
            .is_some()
    );
    assert!(
        store
            .authenticate(&addr("alice@example.test"), &Secret::new("nope"))
            .await
            .unwrap()
            .is_none()
    );
    assert!(
        store
            .authenticate(&addr("carol@example.test"), &Secret::new("pw-a"))
            .await
            .unwrap()
            .is_none()
    );
    store
        .user_passwd(&addr("alice@example.test"), &Secret::new("new"))
        .await
        .unwrap();
    assert!(
        store
            .authenticate(&addr("alice@example.test"), &Secret::new("new"))
            .await
            .unwrap()
            .is_some()
    );
}

#[tokio::test]
async fn directory_refuses_what_it_should() {
    let (_dir, store, _, _) = store_with_users().await;
    let dup = store
        .user_add(&addr("Alice@example.test"), &Secret::new("x"))
        .await;
    assert!(matches!(dup, Err(Error::AlreadyExists(_))), "{dup:?}");
    let nodomain = store
        .user_add(&addr("a@elsewhere.test"), &Secret::new("x"))
        .await;
    assert!(matches!(nodomain, Err(Error::NotFound(_))), "{nodomain:?}");
    let busy = store
        .domain_del(&DomainName::parse("example.test").unwrap())
        .await;
    assert!(matches!(busy, Err(Error::Refused(_))), "{busy:?}");
    let empty = store
        .user_add(&addr("c@example.test"), &Secret::new(""))
        .await;
    assert!(matches!(empty, Err(Error::Invalid(_))), "{empty:?}");
    let shadow = store
        .alias_add(&addr("bob@example.test"), &[addr("alice@example.test")])
        .await;
    assert!(matches!(shadow, Err(Error::AlreadyExists(_))), "{shadow:?}");
    let to_self = store
        .alias_add(&addr("x@example.test"), &[addr("X@example.test")])
        .await;
    assert!(matches!(to_self, Err(Error::Invalid(_))), "{to_self:?}");
    let nodomain = store
        .alias_add(&addr("x@nowhere.test"), &[addr("alice@example.test")])
        .await;
    assert!(matches!(nodomain, Err(Error::NotFound(_))), "{nodomain:?}");
}

#[tokio::test]
async fn off_site_alias_targets_are_forwarded() {
    let (_dir, store, alice, _bob) = store_with_users().await;
    store
        .alias_add(
            &addr("fwd@example.test"),
            &[addr("far@away.test"), addr("alice@example.test")],
        )
        .await
        .unwrap();
    match store.resolve(&addr("fwd@example.test")).await.unwrap() {
        Resolution::Local { accounts, forward } => {
            assert_eq!(
                accounts.iter().map(|a| a.id).collect::<Vec<_>>(),
                vec![alice.id]
            );
            assert_eq!(forward, vec!["far@away.test".to_string()]);
        }
        other => panic!("{other:?}"),
    }
    let list = store.alias_list().await.unwrap();
    assert_eq!(list.len(), 1);
    assert_eq!(list[0].1.len(), 2);
}

#[tokio::test]
async fn aliases_expand_recursively_without_duplicates_or_loops() {
    let (_dir, store, alice, bob) = store_with_users().await;
    store
        .alias_add(
            &addr("team@example.test"),
            &[addr("alice@example.test"), addr("bob@example.test")],
        )
        .await
        .unwrap();
    store
        .alias_add(
            &addr("all@example.test"),
            &[addr("team@example.test"), addr("alice@example.test")],
        )
        .await
        .unwrap();
    store
        .alias_add(&addr("loop1@example.test"), &[addr("loop2@example.test")])
        .await
        .unwrap();
    store
        .alias_add(&addr("loop2@example.test"), &[addr("loop1@example.test")])
        .await
        .unwrap();
    match store.resolve(&addr("ALL@example.test")).await.unwrap() {
        Resolution::Local { accounts, forward } => {
            let mut ids: Vec<_> = accounts.iter().map(|a| a.id).collect();
            ids.sort();
            assert_eq!(ids, vec![alice.id, bob.id]);
            assert!(forward.is_empty());
        }
        other => panic!("{other:?}"),
    }
    assert_eq!(
        store.resolve(&addr("loop1@example.test")).await.unwrap(),
        Resolution::Unknown
    );
    assert_eq!(
        store.resolve(&addr("nobody@example.test")).await.unwrap(),
        Resolution::Unknown
    );
    assert_eq!(
        store.resolve(&addr("x@other.test")).await.unwrap(),
        Resolution::NotLocal
    );
    let list = store.alias_list().await.unwrap();
    assert_eq!(list.len(), 4);
    store.alias_del(&addr("team@example.test")).await.unwrap();
    assert!(matches!(
        store.alias_del(&addr("team@example.test")).await,
        Err(Error::NotFound(_))
    ));
}

#[tokio::test]
async fn one_body_for_many_recipients_and_it_goes_when_the_last_copy_does() {
    let (dir, store, alice, bob) = store_with_users().await;
    let delivered = store
        .deliver(&[alice.id, bob.id, alice.id], msg("hello"))
        .await
        .unwrap();
    assert_eq!(delivered.len(), 2);
    assert_eq!(blob_files(dir.path()), 1);
    let inbox = store.mailbox_get(alice.id, "inbox").await.unwrap().unwrap();
    let snap = store.mailbox_snapshot(inbox.id).await.unwrap();
    assert_eq!(snap.messages.len(), 1);
    let m = &snap.messages[0];
    assert_eq!(m.uid, 1);
    assert_eq!(m.internal_date, 1_700_000_000);
    let body = store.read_body(m.blob).await.unwrap();
    assert_eq!(body, b"Subject: test\r\n\r\nhello\r\n");
    assert_eq!(m.size, body.len() as u64);
    assert_eq!(
        store.usage(alice.id).await.unwrap(),
        Usage {
            bytes: m.size,
            messages: 1
        }
    );
    let summary = store.summary(m.blob).await.unwrap();
    assert_eq!(summary.root.body_start, 17);

    assert_eq!(store.expunge(inbox.id, &[1]).await.unwrap(), vec![1]);
    assert_eq!(blob_files(dir.path()), 1, "bob still has a copy");
    let bob_inbox = store.mailbox_get(bob.id, "INBOX").await.unwrap().unwrap();
    store.expunge(bob_inbox.id, &[1]).await.unwrap();
    assert_eq!(blob_files(dir.path()), 0);
}

#[tokio::test]
async fn uids_grow_and_are_never_reused_and_modseq_follows_changes() {
    let (_dir, store, alice, _) = store_with_users().await;
    let inbox = store.mailbox_get(alice.id, "INBOX").await.unwrap().unwrap();
    for i in 0..3 {
        store
            .deliver(&[alice.id], msg(&format!("m{i}")))
            .await
            .unwrap();
    }
    store.expunge(inbox.id, &[3]).await.unwrap();
    let d = store.deliver(&[alice.id], msg("m4")).await.unwrap();
    assert_eq!(d[0].uid, 4);
    assert_eq!(d[0].uidvalidity, inbox.uidvalidity);
    let before = store.mailbox_snapshot(inbox.id).await.unwrap();
    let hms = before.mailbox.highest_modseq;
    let r = store
        .store_flags(
            inbox.id,
            FlagUpdate {
                uids: vec![1, 2, 3],
                op: FlagOp::Add,
                flags: Flags::SEEN,
                keywords: vec!["$Label1".into()],
                unchanged_since: None,
            },
        )
        .await
        .unwrap();
    assert_eq!(r.updated.len(), 2, "uid 3 is gone");
    assert!(
        r.updated
            .iter()
            .all(|u| u.3 == hms + 1 && u.1.contains(Flags::SEEN))
    );
    // UNCHANGEDSINCE older than the messages' modseq fails them (RFC 7162 §3.1.3).
    let r = store
        .store_flags(
            inbox.id,
            FlagUpdate {
                uids: vec![1, 4],
                op: FlagOp::Add,
                flags: Flags::FLAGGED,
                keywords: vec![],
                unchanged_since: Some(hms),
            },
        )
        .await
        .unwrap();
    assert_eq!(r.failed_unchanged, vec![1]);
    assert_eq!(r.updated.len(), 1);
    let gone = store.expunged_since(inbox.id, 0).await.unwrap();
    assert_eq!(gone, vec![3]);
}

#[tokio::test]
async fn copy_move_and_rename_inbox() {
    let (_dir, store, alice, _) = store_with_users().await;
    let inbox = store.mailbox_get(alice.id, "INBOX").await.unwrap().unwrap();
    store.deliver(&[alice.id], msg("a")).await.unwrap();
    store.deliver(&[alice.id], msg("b")).await.unwrap();
    let arch = store
        .mailbox_create(alice.id, "Archive/2026/11", None)
        .await
        .unwrap();
    assert!(
        store
            .mailbox_get(alice.id, "Archive/2026")
            .await
            .unwrap()
            .is_some(),
        "parents created"
    );
    let (validity, pairs) = store.copy(inbox.id, &[1, 2, 99], arch.id).await.unwrap();
    assert_eq!(validity, arch.uidvalidity);
    assert_eq!(pairs, vec![(1, 1), (2, 2)]);
    let (_, moved) = store.move_messages(inbox.id, &[2], arch.id).await.unwrap();
    assert_eq!(moved, vec![(2, 3)]);
    assert_eq!(
        store
            .mailbox_snapshot(inbox.id)
            .await
            .unwrap()
            .messages
            .len(),
        1
    );

    store
        .mailbox_rename(alice.id, "Archive", "Old")
        .await
        .unwrap();
    let renamed = store
        .mailbox_get(alice.id, "Old/2026/11")
        .await
        .unwrap()
        .unwrap();
    assert_eq!(renamed.uidvalidity, arch.uidvalidity);
    assert!(
        store
            .mailbox_get(alice.id, "Archive/2026/11")
            .await
            .unwrap()
            .is_none()
    );

    store
        .mailbox_rename(alice.id, "INBOX", "Saved")
        .await
        .unwrap();
    let saved = store.mailbox_get(alice.id, "Saved").await.unwrap().unwrap();
    assert_eq!(
        store
            .mailbox_snapshot(saved.id)
            .await
            .unwrap()
            .messages
            .len(),
        1
    );
    let inbox_after = store.mailbox_snapshot(inbox.id).await.unwrap();
    assert!(inbox_after.messages.is_empty());
    assert_eq!(inbox_after.mailbox.uidvalidity, inbox.uidvalidity);

    assert!(matches!(
        store.mailbox_delete(alice.id, "inbox").await,
        Err(Error::Refused(_))
    ));
    assert!(matches!(
        store.mailbox_create(alice.id, "a//b", None).await,
        Err(Error::Invalid(_))
    ));
    assert!(matches!(
        store.mailbox_create(alice.id, "Saved", None).await,
        Err(Error::AlreadyExists(_))
    ));
    // A recreated name gets a new UIDVALIDITY (RFC 9051 §2.3.1.1).
    store.mailbox_delete(alice.id, "Saved").await.unwrap();
    let again = store.mailbox_create(alice.id, "Saved", None).await.unwrap();
    assert_ne!(again.uidvalidity, saved.uidvalidity);
}

#[tokio::test]
async fn change_events_are_published_after_commit() {
    let (_dir, store, alice, _) = store_with_users().await;
    let mut rx = store.subscribe();
    let d = store.deliver(&[alice.id], msg("x")).await.unwrap();
    let ev = rx.recv().await.unwrap();
    assert_eq!(
        ev,
        Change::Appended {
            account: alice.id,
            mailbox: d[0].mailbox,
            uids: vec![1]
        }
    );
}

#[tokio::test]
async fn concurrent_deliveries_all_land_exactly_once() {
    let (_dir, store, alice, _) = store_with_users().await;
    let mut tasks = Vec::new();
    for i in 0..200 {
        let store = store.clone();
        tasks.push(tokio::spawn(async move {
            store
                .deliver(&[alice.id], msg(&format!("n{i}")))
                .await
                .unwrap()[0]
                .uid
        }));
    }
    let mut uids = Vec::new();
    for t in tasks {
        uids.push(t.await.unwrap());
    }
    uids.sort();
    assert_eq!(uids, (1..=200).collect::<Vec<_>>());
}

#[tokio::test]
async fn user_delete_removes_mail_and_bodies() {
    let (dir, store, alice, bob) = store_with_users().await;
    store
        .deliver(&[alice.id, bob.id], msg("shared"))
        .await
        .unwrap();
    store.deliver(&[alice.id], msg("own")).await.unwrap();
    assert_eq!(blob_files(dir.path()), 2);
    store.user_del(&addr("alice@example.test")).await.unwrap();
    assert_eq!(
        blob_files(dir.path()),
        1,
        "bob's copy keeps the shared body"
    );
    assert!(
        store
            .user_get(&addr("alice@example.test"))
            .await
            .unwrap()
            .is_none()
    );
}

#[tokio::test]
async fn reopening_keeps_data_and_a_newer_schema_is_refused() {
    let dir = tempfile::tempdir().unwrap();
    {
        let store = SqliteStore::open(dir.path()).unwrap();
        store
            .domain_add(&DomainName::parse("example.test").unwrap())
            .await
            .unwrap();
    }
    let store = SqliteStore::open(dir.path()).unwrap();
    assert_eq!(store.domain_list().await.unwrap().len(), 1);
    drop(store);
    let conn = rusqlite::Connection::open(dir.path().join("wharf.db")).unwrap();
    conn.execute_batch("PRAGMA user_version = 999").unwrap();
    drop(conn);
    match SqliteStore::open(dir.path()) {
        Err(Error::SchemaTooNew { found: 999, .. }) => {}
        Err(e) => panic!("unexpected error {e}"),
        Ok(_) => panic!("a newer schema was accepted"),
    }
}

mod outbound_queue {
    use super::*;
    use wharf_store::queue::*;

    fn env(rcpts: &[&str]) -> QueueEnvelope {
        QueueEnvelope {
            sender: "alice@example.test".into(),
            envid: Some("env-1".into()),
            ret: Some("HDRS".into()),
            smtputf8: false,
            body: Some("8BITMIME".into()),
            recipients: rcpts
                .iter()
                .map(|r| QueueRecipientSpec {
                    address: r.to_string(),
                    orcpt: Some(format!("rfc822;{r}")),
                    notify: Some("FAILURE,DELAY".into()),
                })
                .collect(),
        }
    }

    #[tokio::test]
    async fn queued_mail_survives_reopen_and_leaves_when_done() {
        let dir = tempfile::tempdir().unwrap();
        let id = {
            let store = SqliteStore::open(dir.path()).unwrap();
            store
                .queue_add(
                    QueueId::generate(),
                    b"Subject: out\r\n\r\nbody\r\n".to_vec(),
                    env(&["a@far.test", "b@far.test"]),
                )
                .await
                .unwrap()
        };
        let store = SqliteStore::open(dir.path()).unwrap();
        let due = store.queue_due(i64::MAX, 10, &[]).await.unwrap();
        assert_eq!(due.len(), 1);
        let e = &due[0];
        assert_eq!(e.id, id);
        assert_eq!(e.envelope.envid.as_deref(), Some("env-1"));
        assert_eq!(e.recipients.len(), 2);
        assert_eq!(
            e.recipients[0].spec.notify.as_deref(),
            Some("FAILURE,DELAY")
        );
        assert_eq!(
            store.read_body(e.blob).await.unwrap(),
            b"Subject: out\r\n\r\nbody\r\n"
        );

        // One delivered, one deferred: still queued, not due until its next attempt.
        let later = 4_000_000_000;
        store
            .queue_update(
                id,
                vec![
                    RecipientUpdate {
                        recipient: e.recipients[0].id,
                        state: RecipientState::Delivered,
                        next_attempt: None,
                        error: None,
                        delay_notified: false,
                    },
                    RecipientUpdate {
                        recipient: e.recipients[1].id,
                        state: RecipientState::Pending,
                        next_attempt: Some(later),
                        error: Some("451 4.3.0 later".into()),
                        delay_notified: false,
                    },
                ],
            )
            .await
            .unwrap();
        assert!(
            store
                .queue_due(later - 1, 10, &[])
                .await
                .unwrap()
                .is_empty()
        );
        assert_eq!(store.queue_next_due().await.unwrap(), Some(later));
        let listed = store.queue_get(id).await.unwrap().unwrap();
        assert_eq!(listed.recipients[1].attempts, 1);
        assert_eq!(
            listed.recipients[1].last_error.as_deref(),
            Some("451 4.3.0 later")
        );
        assert_eq!(store.queue_retry(Some(id)).await.unwrap(), 1);
        assert_eq!(
            store.queue_due(wharf_now(), 10, &[]).await.unwrap().len(),
            1
        );

        // The last one fails: the message leaves the queue and its body goes.
        store
            .queue_update(
                id,
                vec![RecipientUpdate {
                    recipient: e.recipients[1].id,
                    state: RecipientState::Failed,
                    next_attempt: None,
                    error: Some("550 5.1.1 no".into()),
                    delay_notified: false,
                }],
            )
            .await
            .unwrap();
        assert!(store.queue_list().await.unwrap().is_empty());
        assert_eq!(blob_files(dir.path()), 0);
    }

    fn wharf_now() -> i64 {
        std::time::SystemTime::now()
            .duration_since(std::time::UNIX_EPOCH)
            .unwrap()
            .as_secs() as i64
            + 1
    }

    #[tokio::test]
    async fn delete_and_bad_ids() {
        let (dir, store, _, _) = store_with_users().await;
        let id = store
            .queue_add(QueueId::generate(), b"x\r\n".to_vec(), env(&["a@far.test"]))
            .await
            .unwrap();
        assert_eq!(id.to_string().parse::<QueueId>().unwrap(), id);
        store.queue_delete(id).await.unwrap();
        assert!(matches!(
            store.queue_delete(id).await,
            Err(Error::NotFound(_))
        ));
        assert!(matches!(
            store.queue_retry(Some(id)).await,
            Err(Error::NotFound(_))
        ));
        assert!(
            store
                .queue_add(QueueId::generate(), b"x\r\n".to_vec(), env(&[]))
                .await
                .is_err()
        );
        assert_eq!(blob_files(dir.path()), 0);
    }

    #[tokio::test]
    async fn an_account_may_send_as_itself_and_aliases_that_reach_it() {
        let (_dir, store, alice, bob) = store_with_users().await;
        store
            .alias_add(&addr("sales@example.test"), &[addr("alice@example.test")])
            .await
            .unwrap();
        store
            .alias_add(
                &addr("team@example.test"),
                &[addr("sales@example.test"), addr("bob@example.test")],
            )
            .await
            .unwrap();
        let mut a: Vec<String> = store
            .addresses_of(alice.id)
            .await
            .unwrap()
            .iter()
            .map(|a| a.to_string())
            .collect();
        a.sort();
        assert_eq!(
            a,
            [
                "alice@example.test",
                "sales@example.test",
                "team@example.test"
            ]
        );
        let b: Vec<String> = store
            .addresses_of(bob.id)
            .await
            .unwrap()
            .iter()
            .map(|a| a.to_string())
            .collect();
        assert_eq!(b, ["bob@example.test", "team@example.test"]);
    }
}

#[tokio::test]
async fn concurrent_bodies_share_a_directory() {
    // One directory per time bucket, so a batch commit syncs one directory, not one
    // per body. Two at most: the burst may straddle a bucket boundary.
    let (dir, store, alice, _) = store_with_users().await;
    let mut tasks = Vec::new();
    for i in 0..20 {
        let store = store.clone();
        tasks.push(tokio::spawn(async move {
            store
                .deliver(&[alice.id], msg(&format!("b{i}")))
                .await
                .unwrap()
        }));
    }
    for t in tasks {
        t.await.unwrap();
    }
    let mut dirs = std::collections::HashSet::new();
    for day in std::fs::read_dir(dir.path().join("blobs")).unwrap() {
        for bucket in std::fs::read_dir(day.unwrap().path()).unwrap() {
            let bucket = bucket.unwrap().path();
            if std::fs::read_dir(&bucket).unwrap().count() > 0 {
                dirs.insert(bucket);
            }
        }
    }
    assert!(!dirs.is_empty() && dirs.len() <= 2, "{dirs:?}");
    assert_eq!(blob_files(dir.path()), 20);
}

/// Subscriptions are names (RFC 9051 §6.3.7, RFC 5258 §3): the default mailboxes start
/// subscribed, CREATE does not subscribe, DELETE and RENAME leave the name subscribed,
/// only an existing mailbox can be subscribed to, unsubscribing any name succeeds.
#[tokio::test]
async fn subscriptions_are_names_that_outlive_their_mailbox() {
    let (_dir, store, alice, bob) = store_with_users().await;
    let defaults: Vec<String> = DEFAULT_MAILBOXES
        .iter()
        .map(|(n, _)| n.to_string())
        .collect::<std::collections::BTreeSet<_>>()
        .into_iter()
        .collect();
    assert_eq!(store.subscriptions(alice.id).await.unwrap(), defaults);
    store.mailbox_create(alice.id, "a/b", None).await.unwrap();
    assert!(
        !store
            .subscriptions(alice.id)
            .await
            .unwrap()
            .contains(&"a/b".to_string())
    );
    assert!(matches!(
        store.mailbox_subscribe(alice.id, "nope", true).await,
        Err(Error::NotFound(_))
    ));
    store
        .mailbox_subscribe(alice.id, "a/b", true)
        .await
        .unwrap();
    store
        .mailbox_subscribe(alice.id, "a/b", true)
        .await
        .unwrap();
    let mb = store.mailbox_get(alice.id, "a/b").await.unwrap().unwrap();
    assert!(mb.subscribed);
    store.mailbox_delete(alice.id, "a/b").await.unwrap();
    assert!(
        store
            .subscriptions(alice.id)
            .await
            .unwrap()
            .contains(&"a/b".to_string())
    );
    store.mailbox_create(alice.id, "a/b", None).await.unwrap();
    assert!(
        store
            .mailbox_get(alice.id, "a/b")
            .await
            .unwrap()
            .unwrap()
            .subscribed
    );
    store.mailbox_rename(alice.id, "a", "c").await.unwrap();
    let subs = store.subscriptions(alice.id).await.unwrap();
    assert!(subs.contains(&"a/b".to_string()) && !subs.contains(&"c/b".to_string()));
    store
        .mailbox_subscribe(alice.id, "a/b", false)
        .await
        .unwrap();
    store
        .mailbox_subscribe(alice.id, "never", false)
        .await
        .unwrap();
    assert_eq!(store.subscriptions(alice.id).await.unwrap(), defaults);
    // One account's subscriptions are its own.
    assert_eq!(store.subscriptions(bob.id).await.unwrap(), defaults);
}
