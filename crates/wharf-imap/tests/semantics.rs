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
    // Its flags are the last it had (\Deleted, set by b just before the expunge, which
    // a learns from the expunge record), not the ones a knew (issue 11, imapdiff
    // expunge.imap:14; as Dovecot).
    let r = a.cmd("FETCH 2 (FLAGS)").await;
    assert!(has(&r, "* 2 FETCH (FLAGS (\\Deleted \\Recent))"), "{r:?}");
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

/// Index of the first line containing `needle` (panics with the transcript if none).
fn pos(r: &[String], needle: &str) -> usize {
    r.iter()
        .position(|l| l.contains(needle))
        .unwrap_or_else(|| panic!("no {needle:?} in {r:?}"))
}

/// RFC 7162 §3.1: the first CONDSTORE-enabling command while a mailbox is selected gets
/// `* OK [HIGHESTMODSEQ n]` (once); from then on STORE's FETCHes carry MODSEQ, and
/// STORE.SILENT still reports the new MODSEQ (§3.1.3).
#[tokio::test]
async fn condstore_enabling_commands_and_store_replies() {
    let s = TestServer::start(Config::default()).await;
    for n in 1..=2 {
        s.deliver("alice@example.test", &msg(n)).await;
    }
    // Each enabling command, in a fresh session with INBOX selected.
    for cmd in [
        "FETCH 1 (MODSEQ)",
        "FETCH 1:* (FLAGS) (CHANGEDSINCE 1)",
        "SEARCH MODSEQ 1",
        "STORE 2 (UNCHANGEDSINCE 99999) +FLAGS (\\Answered)",
        "STATUS INBOX (HIGHESTMODSEQ)",
    ] {
        let mut c = s.login("alice").await;
        let r = c.cmd("SELECT INBOX").await;
        assert!(!has(&r, "HIGHESTMODSEQ"), "{r:?}");
        let r = c.cmd(cmd).await;
        assert_eq!(status(&r), "OK", "{cmd}: {r:?}");
        assert!(
            r[0].starts_with("* OK [HIGHESTMODSEQ "),
            "{cmd}: HIGHESTMODSEQ first: {r:?}"
        );
        let r = c.cmd(cmd).await;
        assert!(
            !has(&r, "[HIGHESTMODSEQ"),
            "{cmd}: only the first time: {r:?}"
        );
    }

    let mut c = s.login("alice").await;
    c.cmd("SELECT INBOX").await;
    let r = c.cmd("FETCH 1 (MODSEQ)").await;
    assert!(r[0].starts_with("* OK [HIGHESTMODSEQ "), "{r:?}");
    let r = c.cmd("STORE 1 +FLAGS (\\Flagged)").await;
    assert!(
        r[0].starts_with("* 1 FETCH (UID 1 FLAGS (\\Flagged) MODSEQ ("),
        "{r:?}"
    );
    let modseq = |l: &str| -> u64 {
        let m = l.split("MODSEQ (").nth(1).unwrap();
        m[..m.find(')').unwrap()].parse().unwrap()
    };
    let before = modseq(&r[0]);
    let r = c.cmd("STORE 1 +FLAGS.SILENT (\\Seen)").await;
    assert!(r[0].starts_with("* 1 FETCH (UID 1 MODSEQ ("), "{r:?}");
    assert!(!r[0].contains("FLAGS"), "{r:?}");
    assert!(modseq(&r[0]) > before, "{r:?}");
    assert_eq!(status(&r), "OK");
    // Nothing changed: nothing to report, even without .SILENT the MODSEQ stays.
    let r = c.cmd("UID STORE 1 +FLAGS.SILENT (\\Seen)").await;
    assert_eq!(r.len(), 1, "{r:?}");
}

/// RFC 9051 §7.3.5 / RFC 3501 §7.2.6: a keyword new to the client is announced with
/// FLAGS and PERMANENTFLAGS before the FETCH that carries it, in the session that set
/// it and in another one that has the mailbox selected (after a command and in IDLE).
#[tokio::test]
async fn new_keywords_are_announced_before_the_fetch_that_carries_them() {
    let s = TestServer::start(Config::default()).await;
    for n in 1..=2 {
        s.deliver("alice@example.test", &msg(n)).await;
    }
    let mut a = s.login("alice").await;
    let mut b = s.login("alice").await;
    a.cmd("SELECT INBOX").await;
    let r = b.cmd("SELECT INBOX").await;
    assert!(
        has(
            &r,
            "* FLAGS (\\Answered \\Flagged \\Deleted \\Seen \\Draft)"
        ),
        "{r:?}"
    );

    let r = b.cmd("STORE 1 +FLAGS ($Important)").await;
    let flags = pos(
        &r,
        "* FLAGS (\\Answered \\Flagged \\Deleted \\Seen \\Draft $Important)",
    );
    let perm = pos(
        &r,
        "* OK [PERMANENTFLAGS (\\Answered \\Flagged \\Deleted \\Seen \\Draft $Important \\*)]",
    );
    let fetch = pos(&r, "* 1 FETCH (UID 1 FLAGS ($Important))");
    assert!(flags < perm && perm < fetch, "{r:?}");
    // Known now: not announced again.
    let r = b.cmd("STORE 2 +FLAGS ($Important)").await;
    assert!(!has(&r, "* FLAGS"), "{r:?}");

    // The other session hears of it before its FETCH of the change.
    // (A selected first: the messages are \Recent there.)
    let r = a.cmd("NOOP").await;
    let flags = pos(&r, "* FLAGS (");
    let perm = pos(&r, "* OK [PERMANENTFLAGS (");
    let fetch = pos(&r, "* 1 FETCH (UID 1 FLAGS ($Important \\Recent))");
    assert!(flags < perm && perm < fetch, "{r:?}");
    assert!(r[flags].contains("$Important"), "{r:?}");

    // In IDLE too.
    a.send("i1 IDLE\r\n").await;
    assert_eq!(a.line().await.unwrap(), "+ idling");
    b.cmd("STORE 2 +FLAGS ($Later)").await;
    let l = a.line().await.unwrap();
    assert!(
        l.starts_with("* FLAGS (") && l.contains("$Important $Later"),
        "{l}"
    );
    let l = a.line().await.unwrap();
    assert!(
        l.starts_with("* OK [PERMANENTFLAGS (") && l.contains("$Later"),
        "{l}"
    );
    let l = a.line().await.unwrap();
    assert_eq!(l, "* 2 FETCH (UID 2 FLAGS ($Important $Later \\Recent))");
    a.send("DONE\r\n").await;
    a.until_tag("i1").await;

    // New mail with a keyword nobody has seen yet: announced before EXISTS.
    b.cmd("APPEND INBOX ($Fresh) {20}\r\nSubject: k\r\n\r\nbody\r\n")
        .await;
    let r = a.cmd("NOOP").await;
    assert!(pos(&r, "$Fresh") < pos(&r, "EXISTS"), "{r:?}");
    // A read-only session gets FLAGS; its PERMANENTFLAGS stays ().
    let mut e = s.login("alice").await;
    e.cmd("EXAMINE INBOX").await;
    b.cmd("STORE 1 +FLAGS ($Ro)").await;
    let r = e.cmd("NOOP").await;
    assert!(pos(&r, "* FLAGS (") < pos(&r, "* 1 FETCH"), "{r:?}");
    assert!(!has(&r, "PERMANENTFLAGS"), "{r:?}");
}

/// RFC 2180 §4.2 / §4.4: STORE and COPY of a message expunged elsewhere (not yet
/// reported): STORE.SILENT ignores it, STORE ends NO [EXPUNGEISSUED] after the others'
/// FETCH, COPY refuses the whole set; none of them answers OK with something missing.
#[tokio::test]
async fn store_and_copy_of_a_message_expunged_elsewhere() {
    let s = TestServer::start(Config::default()).await;
    for n in 1..=3 {
        s.deliver("alice@example.test", &msg(n)).await;
    }
    let mut a = s.login("alice").await;
    let mut b = s.login("alice").await;
    a.cmd("CREATE Archive").await;
    a.cmd("SELECT INBOX").await;
    b.cmd("SELECT INBOX").await;
    b.cmd("STORE 2 +FLAGS.SILENT (\\Deleted)").await;
    b.cmd("EXPUNGE").await;

    let r = a.cmd("STORE 1:3 +FLAGS (\\Flagged)").await;
    assert!(
        has(&r, "* 1 FETCH (UID 1 FLAGS (\\Flagged \\Recent))"),
        "{r:?}"
    );
    assert!(
        has(&r, "* 3 FETCH (UID 3 FLAGS (\\Flagged \\Recent))"),
        "{r:?}"
    );
    assert!(r.last().unwrap().contains("NO [EXPUNGEISSUED]"), "{r:?}");
    let r = a.cmd("STORE 1:3 +FLAGS.SILENT (\\Answered)").await;
    assert_eq!(status(&r), "OK", "{r:?}");
    let r = a.cmd("COPY 1:3 Archive").await;
    assert!(r.last().unwrap().contains("NO [EXPUNGEISSUED]"), "{r:?}");
    let r = a.cmd("STATUS Archive (MESSAGES)").await;
    assert!(has(&r, "(MESSAGES 0)"), "nothing copied: {r:?}");
    // STATUS may report the expunge (it is not FETCH, STORE or SEARCH).
    assert!(has(&r, "* 2 EXPUNGE"), "{r:?}");
    let r = a.cmd("COPY 1:2 Archive").await;
    assert_eq!(status(&r), "OK", "{r:?}");
}

/// RFC 3501 §2.3.2 `\Recent`: a message appended by a session with no mailbox selected,
/// or delivered, is recent for the next session that selects the mailbox, and only
/// there; STATUS RECENT and SEARCH RECENT/NEW/OLD agree with SELECT; EXAMINE shows
/// recent messages without claiming them.
#[tokio::test]
async fn recent_belongs_to_the_next_session_that_selects() {
    let s = TestServer::start(Config::default()).await;
    s.deliver("alice@example.test", &msg(1)).await;
    let mut c = s.login("alice").await;
    let r = c
        .cmd("APPEND INBOX {20}\r\nSubject: r\r\n\r\nbody\r\n")
        .await;
    assert_eq!(status(&r), "OK", "{r:?}");
    let r = c.cmd("STATUS INBOX (MESSAGES RECENT)").await;
    assert!(has(&r, "(MESSAGES 2 RECENT 2)"), "{r:?}");

    // EXAMINE looks without claiming.
    let mut e = s.login("alice").await;
    let r = e.cmd("EXAMINE INBOX").await;
    assert!(has(&r, "* 2 RECENT"), "{r:?}");
    let r = e.cmd("SEARCH RECENT").await;
    assert_eq!(r[0], "* SEARCH 1 2", "{r:?}");

    let mut a = s.login("alice").await;
    let r = a.cmd("SELECT INBOX").await;
    assert!(has(&r, "* 2 RECENT"), "{r:?}");
    let r = a.cmd("FETCH 1:2 FLAGS").await;
    assert_eq!(r[0], "* 1 FETCH (FLAGS (\\Recent))", "{r:?}");
    assert_eq!(r[1], "* 2 FETCH (FLAGS (\\Recent))", "{r:?}");
    let r = a.cmd("SEARCH NEW").await;
    assert_eq!(r[0], "* SEARCH 1 2", "{r:?}");
    // Claimed: nobody else gets them.
    let mut b = s.login("alice").await;
    let r = b.cmd("SELECT INBOX").await;
    assert!(has(&r, "* 0 RECENT"), "{r:?}");
    let r = b.cmd("SEARCH OLD").await;
    assert_eq!(r[0], "* SEARCH 1 2", "{r:?}");
    let r = c.cmd("STATUS INBOX (RECENT)").await;
    assert!(has(&r, "(RECENT 0)"), "{r:?}");

    // New mail while both have it selected: recent for the one told first only.
    s.deliver("alice@example.test", &msg(3)).await;
    let r = c.cmd("STATUS INBOX (RECENT)").await;
    assert!(has(&r, "(RECENT 1)"), "{r:?}");
    let r = b.cmd("NOOP").await;
    assert!(has(&r, "* 3 EXISTS") && has(&r, "* 1 RECENT"), "{r:?}");
    // a's RECENT count stays 2: EXISTS alone (RECENT is sent when the count changes,
    // as Dovecot's imap-sync does).
    let r = a.cmd("NOOP").await;
    assert!(
        has(&r, "* 3 EXISTS") && !r.iter().any(|l| l.ends_with(" RECENT")),
        "{r:?}"
    );
    let r = a.cmd("SEARCH RECENT").await;
    assert_eq!(r[0], "* SEARCH 1 2", "{r:?}");
    let r = b.cmd("SEARCH RECENT").await;
    assert_eq!(r[0], "* SEARCH 3", "{r:?}");
    let r = c.cmd("STATUS INBOX (RECENT)").await;
    assert!(has(&r, "(RECENT 0)"), "{r:?}");
    // The EXAMINE session saw 1 and 2 as recent; 3 was claimed before it looked, so
    // its count stays 2 and EXISTS comes alone (RFC 3501 §7.3.2; Dovecot likewise,
    // imapdiff recent.imap:18).
    let r = e.cmd("NOOP").await;
    assert!(
        has(&r, "* 3 EXISTS") && !r.iter().any(|l| l.ends_with(" RECENT")),
        "{r:?}"
    );
    let r = e.cmd("SEARCH RECENT").await;
    assert_eq!(r[0], "* SEARCH 1 2", "{r:?}");
}

/// RFC 9051 §6.4.3 / §6.4.1: EXPUNGE, UID EXPUNGE and CLOSE remove every message that
/// has \Deleted in the mailbox, also when another session set the flag and this one
/// has not been told yet.
#[tokio::test]
async fn expunge_and_close_act_on_deleted_flags_set_elsewhere() {
    let s = TestServer::start(Config::default()).await;
    for n in 1..=4 {
        s.deliver("alice@example.test", &msg(n)).await;
    }
    let mut a = s.login("alice").await;
    let mut b = s.login("alice").await;
    a.cmd("SELECT INBOX").await;
    b.cmd("SELECT INBOX").await;
    b.cmd("STORE 1 +FLAGS.SILENT (\\Deleted)").await;
    let r = a.cmd("EXPUNGE").await;
    let fetch = pos(&r, "* 1 FETCH (UID 1 FLAGS (\\Deleted");
    let expunge = pos(&r, "* 1 EXPUNGE");
    assert!(fetch < expunge, "{r:?}");
    assert_eq!(status(&r), "OK", "{r:?}");

    // B was not told of UID 1's expunge yet: it names the messages by UID.
    b.cmd("UID STORE 2 +FLAGS.SILENT (\\Deleted)").await;
    let r = a.cmd("UID EXPUNGE 2").await;
    assert!(has(&r, "* 1 EXPUNGE"), "{r:?}");

    b.cmd("UID STORE 3 +FLAGS.SILENT (\\Deleted)").await;
    let r = a.cmd("CLOSE").await;
    assert_eq!(status(&r), "OK", "{r:?}");
    assert!(
        !r.iter().any(|l| l.ends_with(" EXPUNGE")),
        "CLOSE is silent: {r:?}"
    );
    let r = a.cmd("STATUS INBOX (MESSAGES)").await;
    assert!(has(&r, "(MESSAGES 1)"), "{r:?}");
}

/// RFC 7162 §3.1 / §3.2.4: a FETCH that sets \Seen reports the change as any flag
/// change is reported once CONDSTORE (MODSEQ) or QRESYNC (UID) is enabled.
#[tokio::test]
async fn implicit_seen_carries_modseq_and_uid_when_enabled() {
    let s = TestServer::start(Config::default()).await;
    for n in 1..=2 {
        s.deliver("alice@example.test", &msg(n)).await;
    }
    let mut c = s.login("alice").await;
    c.cmd("ENABLE QRESYNC").await;
    c.cmd("SELECT INBOX").await;
    let r = c.cmd("FETCH 1 BODY[HEADER.FIELDS (SUBJECT)]").await;
    assert!(
        r[0].contains("\r\n\r\n UID 1 FLAGS (\\Seen \\Recent) MODSEQ (") && r[0].ends_with("))"),
        "{r:?}"
    );
    let r = c
        .cmd("FETCH 2 (UID MODSEQ BODY[HEADER.FIELDS (SUBJECT)])")
        .await;
    assert!(r[0].starts_with("* 2 FETCH (UID 2 MODSEQ ("), "{r:?}");
    assert!(r[0].ends_with("\r\n\r\n FLAGS (\\Seen \\Recent))"), "{r:?}");
}
