//! `Store::mailbox_changes_since`: a view that was current at a HIGHESTMODSEQ, brought
//! forward with the changes after it, equals a fresh snapshot, whatever happened in
//! between (appends, flag changes, expunges, copies in, moves out, and nothing at all).

use wharf_store::*;

mod common;
use common::store_with_alice;

fn msg(i: u32) -> NewMessage {
    NewMessage {
        raw: format!("Subject: m{i}\r\n\r\nbody {i}\r\n").into_bytes(),
        internal_date: Some(1_700_000_000 + i as i64),
        flags: Flags::default(),
        keywords: vec![],
    }
}

fn flags(uids: Vec<Uid>, op: FlagOp, f: Flags, kw: &[&str]) -> FlagUpdate {
    FlagUpdate {
        uids,
        op,
        flags: f,
        keywords: kw.iter().map(|k| k.to_string()).collect(),
        unchanged_since: None,
    }
}

/// (uid, flags, keywords, modseq, size, blob) of each message, for comparing views.
fn key(v: &[MessageMeta]) -> Vec<(Uid, u8, Vec<String>, ModSeq, u64, i64)> {
    v.iter()
        .map(|m| {
            (
                m.uid,
                m.flags.0,
                m.keywords.clone(),
                m.modseq,
                m.size,
                m.blob.0,
            )
        })
        .collect()
}

/// Applies changes to a view the way a session does: expunged out, changed replaced or
/// added, UID order kept.
fn apply(view: &mut Vec<MessageMeta>, ch: &MailboxChanges) {
    view.retain(|m| !ch.expunged.contains(&m.uid));
    for c in &ch.changed {
        match view.binary_search_by_key(&c.uid, |m| m.uid) {
            Ok(i) => view[i] = c.clone(),
            Err(i) => view.insert(i, c.clone()),
        }
    }
}

#[tokio::test]
async fn changes_since_bring_a_view_up_to_a_fresh_snapshot() {
    let (_dir, store, a) = store_with_alice().await;
    let inbox = store.mailbox_get(a.id, "INBOX").await.unwrap().unwrap().id;
    let other = store.mailbox_get(a.id, "Sent").await.unwrap().unwrap().id;
    for i in 0..6 {
        store.append(inbox, msg(i)).await.unwrap();
        store.append(other, msg(100 + i)).await.unwrap();
    }

    // Each step changes the mailbox in one way (or not at all); after each, the view of
    // before the step, brought forward, must equal a fresh snapshot.
    let mut n = 10;
    for step in 0..9 {
        let snap = store.mailbox_snapshot(inbox).await.unwrap();
        let since = snap.mailbox.highest_modseq;
        let mut view = snap.messages.clone();
        let uids: Vec<Uid> = view.iter().map(|m| m.uid).collect();
        match step {
            0 => {} // nothing
            1 => {
                store.append(inbox, msg(n)).await.unwrap();
                n += 1;
            }
            2 => {
                store
                    .store_flags(
                        inbox,
                        flags(vec![uids[1], uids[3]], FlagOp::Add, Flags::SEEN, &["$Work"]),
                    )
                    .await
                    .unwrap();
            }
            3 => {
                store.expunge(inbox, &[uids[0], uids[2]]).await.unwrap();
            }
            4 => {
                // Appended and expunged after `since`: in neither list's result view.
                let u = store.append(inbox, msg(n)).await.unwrap().uid;
                n += 1;
                store.expunge(inbox, &[u]).await.unwrap();
                store
                    .store_flags(
                        inbox,
                        flags(vec![uids[1]], FlagOp::Remove, Flags::SEEN, &["$work"]),
                    )
                    .await
                    .unwrap();
            }
            5 => {
                let sent = store.mailbox_snapshot(other).await.unwrap();
                store
                    .copy(other, &[sent.messages[0].uid], inbox)
                    .await
                    .unwrap();
            }
            6 => {
                store.move_messages(inbox, &[uids[0]], other).await.unwrap();
            }
            7 => {
                // Several changes of each kind at once.
                store.append(inbox, msg(n)).await.unwrap();
                store.append(inbox, msg(n + 1)).await.unwrap();
                n += 2;
                store
                    .store_flags(inbox, flags(uids.clone(), FlagOp::Set, Flags::FLAGGED, &[]))
                    .await
                    .unwrap();
                store
                    .expunge(inbox, &[*uids.last().unwrap()])
                    .await
                    .unwrap();
            }
            _ => {
                // A change in another mailbox only.
                store.append(other, msg(n)).await.unwrap();
                n += 1;
            }
        }
        let ch = store.mailbox_changes_since(inbox, since).await.unwrap();
        let fresh = store.mailbox_snapshot(inbox).await.unwrap();
        assert_eq!(
            ch.mailbox.highest_modseq, fresh.mailbox.highest_modseq,
            "step {step}"
        );
        assert_eq!(ch.mailbox.uidnext, fresh.mailbox.uidnext, "step {step}");
        // Only what changed is read.
        assert!(ch.changed.iter().all(|m| m.modseq > since), "step {step}");
        if matches!(step, 0 | 8) {
            assert!(
                ch.changed.is_empty() && ch.expunged.is_empty(),
                "step {step}"
            );
        }
        if step == 3 {
            assert_eq!(ch.expunged, vec![uids[0], uids[2]]);
            assert!(ch.changed.is_empty());
        }
        apply(&mut view, &ch);
        assert_eq!(key(&view), key(&fresh.messages), "step {step}");
    }
    assert!(matches!(
        store.mailbox_changes_since(MailboxId(9999), 0).await,
        Err(Error::NotFound(_))
    ));
}

/// `Store::mailbox_counts` answers what counting a snapshot answers, empty or not.
#[tokio::test]
async fn counts_equal_what_a_snapshot_counts() {
    let (_dir, store, a) = store_with_alice().await;
    let inbox = store.mailbox_get(a.id, "INBOX").await.unwrap().unwrap().id;
    let check = |label: &'static str| {
        let store = &store;
        async move {
            let c = store.mailbox_counts(inbox).await.unwrap();
            let s = store.mailbox_snapshot(inbox).await.unwrap();
            let m = &s.messages;
            assert_eq!(c.messages, m.len() as u64, "{label}");
            let unseen = m.iter().filter(|x| !x.flags.contains(Flags::SEEN)).count();
            assert_eq!(c.unseen, unseen as u64, "{label}");
            let deleted = m
                .iter()
                .filter(|x| x.flags.contains(Flags::DELETED))
                .count();
            assert_eq!(c.deleted, deleted as u64, "{label}");
            assert_eq!(c.size, m.iter().map(|x| x.size).sum::<u64>(), "{label}");
            assert_eq!(c.mailbox.uidnext, s.mailbox.uidnext, "{label}");
            assert_eq!(
                c.mailbox.highest_modseq, s.mailbox.highest_modseq,
                "{label}"
            );
            c
        }
    };
    let c = check("empty").await;
    assert_eq!((c.messages, c.unseen, c.deleted, c.size), (0, 0, 0, 0));
    let mut uids = Vec::new();
    for i in 0..5 {
        uids.push(store.append(inbox, msg(i)).await.unwrap().uid);
    }
    store
        .store_flags(
            inbox,
            flags(vec![uids[0], uids[1]], FlagOp::Add, Flags::SEEN, &[]),
        )
        .await
        .unwrap();
    store
        .store_flags(
            inbox,
            flags(vec![uids[1], uids[2]], FlagOp::Add, Flags::DELETED, &["$x"]),
        )
        .await
        .unwrap();
    let c = check("flags").await;
    assert_eq!((c.messages, c.unseen, c.deleted), (5, 3, 2));
    store.expunge(inbox, &[uids[1]]).await.unwrap();
    let c = check("expunged").await;
    assert_eq!((c.messages, c.unseen, c.deleted), (4, 3, 1));
    assert!(matches!(
        store.mailbox_counts(MailboxId(9999)).await,
        Err(Error::NotFound(_))
    ));
}

/// Issue 11 (imapdiff expunge.imap:14): a session that was idle while another set
/// \Deleted and expunged a message learns the message's last flags and keywords from
/// the expunge record, so it can serve them until it reports the EXPUNGE (Dovecot's
/// answer), not the flags it knew before.
#[tokio::test]
async fn expunge_records_keep_the_last_flags() {
    let (_dir, store, a) = store_with_alice().await;
    let inbox = store.mailbox_get(a.id, "INBOX").await.unwrap().unwrap().id;
    let u1 = store.append(inbox, msg(1)).await.unwrap().uid;
    let u2 = store.append(inbox, msg(2)).await.unwrap().uid;
    let since = store
        .mailbox_snapshot(inbox)
        .await
        .unwrap()
        .mailbox
        .highest_modseq;
    store
        .store_flags(
            inbox,
            flags(
                vec![u2],
                FlagOp::Add,
                Flags::DELETED.union(Flags::SEEN),
                &["$Gone"],
            ),
        )
        .await
        .unwrap();
    store.expunge(inbox, &[u2]).await.unwrap();
    let ch = store.mailbox_changes_since(inbox, since).await.unwrap();
    assert_eq!(ch.expunged, vec![u2]);
    assert_eq!(
        ch.expunged_flags,
        vec![(
            u2,
            Flags::DELETED.union(Flags::SEEN),
            vec!["$Gone".to_string()]
        )]
    );
    assert!(ch.changed.iter().all(|m| m.uid == u1));
}
