//! Session semantics the compliance suite and the stress test checked against Dovecot:
//! what a session answers when other sessions change the mailbox under it, when stored
//! data cannot be read, CONDSTORE's enabling responses, new keywords and `\Recent`.
//! Written like transcripts, with two concurrent sessions where order matters.

mod common;

use common::{TestServer, has, status};
use wharf_imap::Config;

fn msg(n: u32) -> Vec<u8> {
    format!(
        "From: a@example.org\r\nSubject: message {n}\r\nMessage-Id: <{n}@example.org>\r\n\r\nbody of message {n} {}\r\n",
        "x".repeat(n as usize * 10)
    )
    .into_bytes()
}

/// Body files under the store's blob root.
fn blob_files(dir: &std::path::Path) -> Vec<std::path::PathBuf> {
    let mut out = Vec::new();
    let mut stack = vec![dir.join("data").join("blobs")];
    while let Some(d) = stack.pop() {
        for e in std::fs::read_dir(&d).into_iter().flatten().flatten() {
            let p = e.path();
            if p.is_dir() {
                stack.push(p);
            } else {
                out.push(p);
            }
        }
    }
    out
}

/// RFC 9051 §7.5.1, RFC 2180 §4.1: a message another session expunged, before this
/// session was told, is still served; when its body is gone, FETCH ends NO
/// [EXPUNGEISSUED] after the data it could send, never OK with the message left out.
#[tokio::test]
async fn fetch_of_a_message_expunged_elsewhere_is_served_or_refused() {
    let s = TestServer::start(Config::default()).await;
    for n in 1..=3 {
        s.deliver("alice@example.test", &msg(n)).await;
    }
    let mut a = s.login("alice").await;
    let mut b = s.login("alice").await;
    a.cmd("SELECT INBOX").await;
    b.cmd("SELECT INBOX").await;
    b.cmd("STORE 2 +FLAGS (\\Deleted)").await;
    let r = b.cmd("EXPUNGE").await;
    assert_eq!(r[0], "* 2 EXPUNGE", "{r:?}");

    // What the view holds is served for all three, the expunge is not reported yet.
    let r = a.cmd("FETCH 1:3 (UID RFC822.SIZE)").await;
    assert!(!r.iter().any(|l| l.ends_with(" EXPUNGE")), "{r:?}");
    for (seq, uid) in [(1, 1), (2, 2), (3, 3)] {
        assert!(
            r.iter()
                .any(|l| l.starts_with(&format!("* {seq} FETCH (UID {uid} RFC822.SIZE"))),
            "message {seq} missing: {r:?}"
        );
    }
    assert_eq!(status(&r), "OK", "{r:?}");
    // Its body went with the expunge: the others are sent, then NO [EXPUNGEISSUED].
    let r = a.cmd("FETCH 1:3 BODY.PEEK[HEADER.FIELDS (SUBJECT)]").await;
    assert!(!r.iter().any(|l| l.ends_with(" EXPUNGE")), "{r:?}");
    assert!(has(&r, "* 1 FETCH (BODY[HEADER.FIELDS (SUBJECT)]"), "{r:?}");
    assert!(has(&r, "* 3 FETCH (BODY[HEADER.FIELDS (SUBJECT)]"), "{r:?}");
    assert!(!has(&r, "* 2 FETCH"), "{r:?}");
    assert!(
        r.last().unwrap().contains("NO [EXPUNGEISSUED]"),
        "must not be OK with message 2 left out: {r:?}"
    );
    // The same by UID.
    let r = a.cmd("UID FETCH 2 BODY.PEEK[]").await;
    assert!(r.last().unwrap().contains("NO [EXPUNGEISSUED]"), "{r:?}");
    // Outside FETCH the expunge is reported, and the numbers move.
    let r = a.cmd("NOOP").await;
    assert_eq!(r[0], "* 2 EXPUNGE", "{r:?}");
    let r = a.cmd("FETCH 1:* BODY.PEEK[HEADER.FIELDS (SUBJECT)]").await;
    assert_eq!(status(&r), "OK", "{r:?}");
    assert!(has(&r, "Subject: message 3"), "{r:?}");
}

/// A body file removed under a running server: FETCH and SEARCH say NO [UNAVAILABLE]
/// (RFC 5530) after the data they could send, instead of OK with a message left out.
#[tokio::test]
async fn unreadable_body_ends_fetch_and_search_with_unavailable() {
    let s = TestServer::start(Config::default()).await;
    for n in 1..=3 {
        s.deliver("alice@example.test", &msg(n)).await;
    }
    let victim = blob_files(s.dir.path())
        .into_iter()
        .find(|p| std::fs::read(p).unwrap() == msg(2))
        .expect("body file of message 2");
    std::fs::remove_file(&victim).unwrap();
    let mut a = s.login("alice").await;
    a.cmd("SELECT INBOX").await;
    // Metadata does not need the body.
    let r = a.cmd("FETCH 1:3 (UID FLAGS)").await;
    assert_eq!(status(&r), "OK", "{r:?}");
    let r = a.cmd("FETCH 1:3 BODY.PEEK[]").await;
    assert!(has(&r, "* 1 FETCH (BODY[]"), "{r:?}");
    assert!(has(&r, "* 3 FETCH (BODY[]"), "{r:?}");
    assert!(!has(&r, "* 2 FETCH"), "{r:?}");
    assert!(r.last().unwrap().contains("NO [UNAVAILABLE]"), "{r:?}");
    // Header keys are read from the bodies.
    let r = a.cmd("SEARCH HEADER Subject message").await;
    assert!(r.last().unwrap().contains("NO [UNAVAILABLE]"), "{r:?}");
    // The session goes on.
    let r = a.cmd("FETCH 3 BODY.PEEK[HEADER.FIELDS (SUBJECT)]").await;
    assert_eq!(status(&r), "OK", "{r:?}");
}
