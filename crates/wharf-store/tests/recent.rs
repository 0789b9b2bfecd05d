//! IMAP `\Recent` marks kept by the store (`Store::claim_recent`): each UID is claimed
//! as recent once, whoever asks, and the mark survives reopening the store.

use wharf_store::*;

fn msg() -> NewMessage {
    NewMessage {
        raw: b"Subject: r\r\n\r\nbody\r\n".to_vec(),
        internal_date: Some(1_700_000_000),
        flags: Flags::default(),
        keywords: vec![],
    }
}

#[tokio::test]
async fn each_uid_is_claimed_once_and_the_mark_survives_a_restart() {
    let dir = tempfile::tempdir().unwrap();
    let mailbox = {
        let store = SqliteStore::open(dir.path()).unwrap();
        store
            .domain_add(&DomainName::parse("example.test").unwrap())
            .await
            .unwrap();
        let a = store
            .user_add(
                &Address::parse("a@example.test").unwrap(),
                &Secret::new("p"),
            )
            .await
            .unwrap();
        let mb = store.mailbox_get(a.id, "INBOX").await.unwrap().unwrap();
        // A new mailbox: nothing claimed yet.
        assert_eq!(store.claim_recent(mb.id, None).await.unwrap(), 1);
        let u1 = store.append(mb.id, msg()).await.unwrap().uid;
        let u2 = store.append(mb.id, msg()).await.unwrap().uid;
        // Looking does not claim.
        assert_eq!(store.claim_recent(mb.id, None).await.unwrap(), 1);
        // The first claimer gets 1..=u2; a second claim of the same UIDs gets none.
        assert_eq!(store.claim_recent(mb.id, Some(u2)).await.unwrap(), 1);
        assert_eq!(store.claim_recent(mb.id, Some(u2)).await.unwrap(), u2 + 1);
        // Claiming less than what is claimed never moves the mark back.
        assert_eq!(store.claim_recent(mb.id, Some(u1)).await.unwrap(), u2 + 1);
        let u3 = store.append(mb.id, msg()).await.unwrap().uid;
        assert_eq!(store.claim_recent(mb.id, None).await.unwrap(), u3);
        mb.id
    };
    let store = SqliteStore::open(dir.path()).unwrap();
    assert_eq!(store.claim_recent(mailbox, None).await.unwrap(), 3);
    assert_eq!(store.claim_recent(mailbox, Some(3)).await.unwrap(), 3);
    assert_eq!(store.claim_recent(mailbox, None).await.unwrap(), 4);
    assert!(matches!(
        store.claim_recent(MailboxId(9999), None).await,
        Err(Error::NotFound(_))
    ));
}
