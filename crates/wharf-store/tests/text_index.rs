//! The body index behind `Store::search_text`: it answers exactly what decoding every
//! message with `mime::SearchText` answers, keeps one row per body, and catches up with
//! new bodies and with bodies stored before it existed.

use std::collections::BTreeSet;
use std::sync::Arc;
use std::time::Duration;
use wharf_store::mime::{SearchText, fold};
use wharf_store::*;

fn addr(s: &str) -> Address {
    Address::parse(s).unwrap()
}

async fn store_with_users(dir: &std::path::Path) -> (Arc<SqliteStore>, Account, Account) {
    let store = SqliteStore::open(dir).unwrap();
    store
        .domain_add(&DomainName::parse("example.test").unwrap())
        .await
        .unwrap();
    let alice = store
        .user_add(&addr("alice@example.test"), &Secret::new("pw-a"))
        .await
        .unwrap();
    let bob = store
        .user_add(&addr("bob@example.test"), &Secret::new("pw-b"))
        .await
        .unwrap();
    (store, alice, bob)
}

fn crlf(s: &str) -> Vec<u8> {
    s.replace("\r\n", "\n").replace('\n', "\r\n").into_bytes()
}

fn new_message(raw: Vec<u8>) -> NewMessage {
    NewMessage {
        raw,
        internal_date: Some(1_700_000_000),
        flags: Flags::default(),
        keywords: vec![],
    }
}

/// Messages of every shape SEARCH has to decode.
fn corpus() -> Vec<Vec<u8>> {
    let mut v: Vec<Vec<u8>> = vec![
        crlf(
            "From: \"Bob\" <bob@example.org>\nTo: alice@example.test\n\
Subject: =?utf-8?q?Caf=C3=A9_menu?=\nDate: Tue, 2 Jan 2024 10:00:00 +0100\n\
Content-Type: text/plain; charset=utf-8\nContent-Transfer-Encoding: quoted-printable\n\n\
Cr=C3=A8me br=C3=BBl=C3=A9e, 100% pure_butter *today*\nsoft=\nbreak here\n",
        ),
        crlf(
            "From: =?ISO-8859-1?Q?Andr=E9?= <andre@example.org>\n\
Subject: =?iso-8859-1?b?cOJ0aXNzZXJpZQ==?=\nMIME-Version: 1.0\n\
Content-Type: multipart/alternative; boundary=\"alt\"\n\n\
--alt\nContent-Type: text/plain; charset=iso-8859-1\nContent-Transfer-Encoding: quoted-printable\n\n\
Voil=E0 le g=E2teau \"sp=E9cial\" du jour\n\
--alt\nContent-Type: text/html; charset=utf-8\nContent-Transfer-Encoding: base64\n\n\
PGI+WmVicmFmaXNoPC9iPiBpbiB0aGUgPGk+cml2ZXI8L2k+IC0gzqPOr8+Dz4XPhs6/z4I=\n\
--alt--\n",
        ),
        crlf(
            "From: carol@example.org\nSubject: Fwd: the report\n\
Content-Type: multipart/mixed; boundary=\"mix\"\n\n\
--mix\nContent-Type: text/plain\n\nSee the attached message.\n\
--mix\nContent-Type: message/rfc822\n\n\
From: dave@example.org\nSubject: =?UTF-8?B?w5xiZXJzaWNodA==?=\n\
Content-Type: multipart/mixed; boundary=\"in\"\n\n\
--in\nContent-Type: text/plain; charset=utf-8\nContent-Transfer-Encoding: base64\n\n\
UXVhcnRlcmx5IG51bWJlcnM6IFNUUkFTU0UgdW5kIHN0cmHDn2UgLSDEsHN0YW5idWw=\n\
--in\nContent-Type: application/octet-stream\nContent-Transfer-Encoding: base64\n\n\
emVicmFmaXNoIGluIGJpbmFyeQ==\n\
--in--\n\
--mix--\n",
        ),
        crlf(
            "Subject: ISO body\nContent-Type: text/plain; charset=ISO-8859-1\n\
Content-Transfer-Encoding: 8bit\n\n",
        ),
        crlf("Subject: no MIME at all\n\nJust PLAIN text with a \"quote\" and 50% off_sale.\n"),
        crlf("Subject: ab\n\nab\n"),
        crlf(
            "Subject: =?utf-8?q?=CE=A3=CE=AF=CF=83=CF=85=CF=86=CE=BF=CF=82?= ZEBRAFISH\n\
Content-Type: text/plain; charset=utf-8\n\nΣΊΣΥΦΟΣ and ὈΔΥΣΣΕΎΣ; İstanbul; ǅemal; ß\n",
        ),
    ];
    // ISO-8859-1 octets in an 8bit body.
    let mut iso = v[3].clone();
    iso.extend_from_slice(b"Na\xefve caf\xe9 cr\xe8me, \xc0 bient\xf4t\r\n");
    v[3] = iso;
    // Not MIME-parseable headers: octets only.
    v.push(b"\xff\xfe garbage without a header\r\n".to_vec());
    v
}

const NEEDLES: &[&str] = &[
    "",
    "a",
    "é",
    "ab",
    "AB",
    "e ",
    "crème",
    "CRÈME",
    "brûlée",
    "creme",
    "café menu",
    "CAFÉ",
    "pure_butter",
    "100%",
    "50% off",
    "_",
    "%",
    "*today*",
    "*",
    "\"spécial\"",
    "\"",
    "sp\"",
    "voilà",
    "gâteau",
    "zebrafish",
    "ZebraFish",
    "river",
    "<b>",
    "σίσυφος",
    "ΣΊΣΥΦΟΣ",
    "σίσυφοσ",
    "ὀδυσσεύς",
    "istanbul",
    "i̇stanbul",
    "İstanbul",
    "straße",
    "strasse",
    "STRASSE",
    "übersicht",
    "quarterly numbers",
    "in binary",
    "attached message",
    "the report",
    "andré",
    "pâtisserie",
    "naïve",
    "à bientôt",
    "bob@example.org",
    "alice@example",
    "soft break",
    "softbreak",
    "break here",
    "menu\ncr",
    "pure\nbutter",
    "ǆemal",
    "ǅemal",
    "plain text",
    "garbage",
    "\u{fffd}",
    "no mime",
    "iso body",
    "text/plain",
    "content-type",
    "boundary",
    "  ",
    "e, 1",
    "xyz-not-there",
];

/// What decoding every message says: the UIDs whose text contains the needle.
fn scan(texts: &[(Uid, SearchText)], scope: TextScope, needle: &str) -> BTreeSet<Uid> {
    let folded = fold(needle);
    texts
        .iter()
        .filter(|(_, t)| match scope {
            TextScope::Body => t.body_contains(&folded),
            TextScope::Text => t.text_contains(&folded),
        })
        .map(|(u, _)| *u)
        .collect()
}

async fn texts_of(store: &SqliteStore, mailbox: MailboxId) -> Vec<(Uid, SearchText)> {
    let snap = store.mailbox_snapshot(mailbox).await.unwrap();
    let mut out = Vec::new();
    for m in snap.messages {
        let raw = store.read_body(m.blob).await.unwrap();
        out.push((m.uid, SearchText::of(&raw, true)));
    }
    out
}

/// Waits until the indexer has caught up with the mailbox.
async fn wait_indexed(store: &SqliteStore, mailbox: MailboxId) {
    for _ in 0..400 {
        let hits = store
            .search_text(mailbox, TextScope::Body, "anything")
            .await
            .unwrap()
            .unwrap();
        if hits.unindexed.is_empty() {
            return;
        }
        tokio::time::sleep(Duration::from_millis(25)).await;
    }
    panic!("the indexer did not catch up");
}

/// Index answer, with the unindexed ones decided by decoding (as IMAP SEARCH does).
async fn via_index(
    store: &SqliteStore,
    mailbox: MailboxId,
    texts: &[(Uid, SearchText)],
    scope: TextScope,
    needle: &str,
) -> Option<(BTreeSet<Uid>, usize)> {
    let hits = store.search_text(mailbox, scope, needle).await.unwrap()?;
    let unindexed: BTreeSet<Uid> = hits.unindexed.iter().copied().collect();
    let mut got: BTreeSet<Uid> = hits.matched.iter().copied().collect();
    assert!(got.is_disjoint(&unindexed));
    let rest: Vec<(Uid, SearchText)> = texts
        .iter()
        .filter(|(u, _)| unindexed.contains(u))
        .cloned()
        .collect();
    got.extend(scan(&rest, scope, needle));
    Some((got, unindexed.len()))
}

#[tokio::test]
async fn index_answers_exactly_what_decoding_answers() {
    let dir = tempfile::tempdir().unwrap();
    let (store, alice, bob) = store_with_users(dir.path()).await;
    for raw in corpus() {
        store
            .deliver(&[alice.id, bob.id], new_message(raw))
            .await
            .unwrap();
    }
    let inbox = store.mailbox_get(alice.id, "INBOX").await.unwrap().unwrap();
    let texts = texts_of(&store, inbox.id).await;
    assert_eq!(texts.len(), corpus().len());
    // Right after delivery: answers are already right, whatever is indexed yet.
    for scope in [TextScope::Body, TextScope::Text] {
        let (got, _) = via_index(&store, inbox.id, &texts, scope, "crème")
            .await
            .unwrap();
        assert_eq!(got, scan(&texts, scope, "crème"));
    }
    wait_indexed(&store, inbox.id).await;
    let mut answered = 0;
    for needle in NEEDLES {
        for scope in [TextScope::Body, TextScope::Text] {
            let want = scan(&texts, scope, needle);
            match via_index(&store, inbox.id, &texts, scope, needle).await {
                Some((got, unindexed)) => {
                    assert_eq!(unindexed, 0, "every body is indexed at delivery");
                    assert_eq!(got, want, "{scope:?} {needle:?}");
                    answered += 1;
                }
                None => assert!(
                    scope == TextScope::Text && needle.contains('\n'),
                    "{scope:?} {needle:?} should be answered by the index"
                ),
            }
        }
    }
    assert!(answered > 100, "{answered}");
    // A few that must match, so the comparison above is not vacuous.
    for (scope, needle, n) in [
        (TextScope::Body, "zebrafish", 1),
        (TextScope::Text, "zebrafish", 2),
        (TextScope::Text, "café menu", 1),
        (TextScope::Body, "café menu", 0),
        (TextScope::Body, "crème", 2),
        (TextScope::Body, "straße", 1),
        (TextScope::Text, "quarterly numbers", 1),
    ] {
        assert_eq!(scan(&texts, scope, needle).len(), n, "{scope:?} {needle:?}");
    }
}

/// Raw access to the database, as an older version of Wharf would have left it.
fn db(dir: &std::path::Path) -> rusqlite::Connection {
    rusqlite::Connection::open(dir.join("wharf.db")).unwrap()
}

fn index_rows(dir: &std::path::Path) -> i64 {
    db(dir)
        .query_row("SELECT count(*) FROM body_text", [], |r| r.get(0))
        .unwrap()
}

#[tokio::test]
async fn one_row_per_body_gone_with_its_last_reference() {
    let dir = tempfile::tempdir().unwrap();
    let (store, alice, bob) = store_with_users(dir.path()).await;
    let raw = crlf("Subject: shared\n\nzebrafish shared by copies\n");
    store
        .deliver(&[alice.id, bob.id], new_message(raw))
        .await
        .unwrap();
    let inbox = store.mailbox_get(alice.id, "INBOX").await.unwrap().unwrap();
    let trash = store.mailbox_get(alice.id, "Trash").await.unwrap().unwrap();
    let junk = store.mailbox_get(alice.id, "Junk").await.unwrap().unwrap();
    store.copy(inbox.id, &[1], trash.id).await.unwrap();
    store.move_messages(inbox.id, &[1], junk.id).await.unwrap();
    wait_indexed(&store, junk.id).await;
    assert_eq!(index_rows(dir.path()), 1);
    for (mb, uid) in [(trash.id, 1), (junk.id, 1)] {
        let hits = store
            .search_text(mb, TextScope::Body, "ZEBRAFISH")
            .await
            .unwrap()
            .unwrap();
        assert_eq!(hits.matched, vec![uid]);
        assert!(hits.unindexed.is_empty());
    }
    let hits = store
        .search_text(inbox.id, TextScope::Body, "zebrafish")
        .await
        .unwrap()
        .unwrap();
    assert!(hits.matched.is_empty(), "moved away");
    store.expunge(trash.id, &[1]).await.unwrap();
    store.expunge(junk.id, &[1]).await.unwrap();
    assert_eq!(index_rows(dir.path()), 1, "bob still has it");
    store.user_del(&addr("bob@example.test")).await.unwrap();
    assert_eq!(index_rows(dir.path()), 0);
    // Queue bodies are not indexed.
    store
        .queue_add(
            queue::QueueId::generate(),
            // Over the inline limit (256 KiB), so the body is a file the indexer could read.
            crlf(&format!(
                "Subject: out\n\nzebrafish outbound\n{}",
                "filler line\n".repeat(30_000)
            )),
            queue::QueueEnvelope {
                sender: "alice@example.test".into(),
                recipients: vec![queue::QueueRecipientSpec {
                    address: "x@remote.test".into(),
                    orcpt: None,
                    notify: None,
                }],
                envid: None,
                ret: None,
                smtputf8: false,
                body: None,
            },
        )
        .await
        .unwrap();
    // A whole indexer pass after the queue_add: a queue body it would index is there now.
    store.index_settled().await.unwrap();
    assert_eq!(index_rows(dir.path()), 0, "a queue body was indexed");
}

#[tokio::test]
async fn bodies_stored_before_the_index_are_searched_then_backfilled() {
    let dir = tempfile::tempdir().unwrap();
    let inbox;
    {
        let (store, alice, _) = store_with_users(dir.path()).await;
        for raw in corpus() {
            store.deliver(&[alice.id], new_message(raw)).await.unwrap();
        }
        inbox = store.mailbox_get(alice.id, "INBOX").await.unwrap().unwrap();
    }
    // As a store written before the index (or whose index a migration emptied): every
    // body pending, no row in the index. (Going back to schema 2 instead broke with every
    // later migration that is not idempotent.)
    let conn = db(dir.path());
    conn.execute_batch("DELETE FROM body_text; UPDATE blobs SET text_state = 0;")
        .unwrap();
    drop(conn);
    let store = SqliteStore::open(dir.path()).unwrap();
    let texts = texts_of(&store, inbox.id).await;
    // Whatever the backfill has done so far, the answers are the same.
    let mut rounds = 0;
    loop {
        let mut pending = 0;
        for needle in [
            "zebrafish",
            "crème",
            "straße",
            "café menu",
            "\"spécial\"",
            "xyz-not-there",
        ] {
            for scope in [TextScope::Body, TextScope::Text] {
                let (got, unindexed) = via_index(&store, inbox.id, &texts, scope, needle)
                    .await
                    .unwrap();
                assert_eq!(got, scan(&texts, scope, needle), "{scope:?} {needle:?}");
                pending = pending.max(unindexed);
            }
        }
        if pending == 0 {
            break;
        }
        rounds += 1;
        assert!(rounds < 200, "backfill did not finish");
        tokio::time::sleep(Duration::from_millis(50)).await;
    }
    assert_eq!(index_rows(dir.path()), corpus().len() as i64);
}
