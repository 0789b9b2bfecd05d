//! Raw IMAP transcripts against the in-process server with a real store, written like
//! the protocol exchanges they check, including two sessions cross-checking each other.

mod common;

use common::{TestServer, has, status};
use wharf_imap::Config;

const PLAIN: &[u8] = b"From: Fred Foobar <foobar@example.org>\r\n\
Subject: afternoon meeting\r\n\
To: alice@example.test\r\n\
Message-Id: <1@example.org>\r\n\
Date: Mon, 7 Feb 1994 21:52:25 -0800\r\n\
\r\n\
Hello Joe, do you think we can meet at 3:30 tomorrow?\r\n";

const MIME: &[u8] = b"From: b@example.org\r\n\
Subject: =?utf-8?q?caf=C3=A9?=\r\n\
Content-Type: multipart/mixed; boundary=\"o\"\r\n\
\r\n\
--o\r\n\
Content-Type: text/plain; charset=utf-8\r\n\
Content-Transfer-Encoding: quoted-printable\r\n\
\r\n\
Cr=C3=A8me br=C3=BBl=C3=A9e\r\n\
--o\r\n\
Content-Type: message/rfc822\r\n\
\r\n\
Subject: inner\r\n\
\r\n\
inner body\r\n\
--o\r\n\
Content-Type: application/octet-stream; name=\"a.bin\"\r\n\
Content-Transfer-Encoding: base64\r\n\
Content-Disposition: attachment; filename=\"a.bin\"\r\n\
\r\n\
aGVsbG8=\r\n\
--o--\r\n";

#[tokio::test]
async fn login_capability_logout() {
    let s = TestServer::start(Config::default()).await;
    let mut c = s.connect().await;
    let r = c.cmd("CAPABILITY").await;
    assert!(
        r[0].starts_with("* CAPABILITY IMAP4rev1 IMAP4rev2 STARTTLS AUTH=PLAIN"),
        "{r:?}"
    );
    assert_eq!(status(&r), "OK");
    let r = c.cmd("LOGIN alice@example.test wrong").await;
    assert!(r[0].contains("NO [AUTHENTICATIONFAILED]"), "{r:?}");
    let r = c.cmd("SELECT INBOX").await;
    assert_eq!(status(&r), "BAD", "{r:?}");
    let r = c.cmd("LOGIN \"alice@example.test\" {2+}\r\npw").await;
    assert!(r[0].contains("OK [CAPABILITY IMAP4rev1 IMAP4rev2"), "{r:?}");
    assert!(
        r[0].contains("IDLE") && r[0].contains("APPENDLIMIT="),
        "{r:?}"
    );
    let r = c.cmd("LOGOUT").await;
    assert_eq!(r[0], "* BYE Logging out");
    assert!(r[1].ends_with("OK LOGOUT completed"));
    assert_eq!(c.line().await, None);
}

#[tokio::test]
async fn authenticate_plain_with_and_without_initial_response() {
    let s = TestServer::start(Config::default()).await;
    let mut c = s.connect().await;
    // base64("\0alice@example.test\0pw")
    let r = c
        .cmd("AUTHENTICATE PLAIN AGFsaWNlQGV4YW1wbGUudGVzdABwdw==")
        .await;
    assert!(r[0].contains("OK [CAPABILITY"), "{r:?}");
    let mut c = s.connect().await;
    c.send("l AUTHENTICATE LOGIN\r\n").await;
    assert_eq!(c.line().await.unwrap(), "+ VXNlcm5hbWU6");
    c.send("YWxpY2VAZXhhbXBsZS50ZXN0\r\n").await;
    assert_eq!(c.line().await.unwrap(), "+ UGFzc3dvcmQ6");
    c.send("cHc=\r\n").await;
    let r = c.until_tag("l").await;
    assert!(r[0].starts_with("l OK [CAPABILITY"), "{r:?}");
    let mut c = s.connect().await;
    c.send("a AUTHENTICATE PLAIN\r\n").await;
    assert_eq!(c.line().await.unwrap(), "+ ");
    c.send("AGFsaWNlQGV4YW1wbGUudGVzdAB3cm9uZw==\r\n").await;
    let r = c.until_tag("a").await;
    assert!(r[0].starts_with("a NO [AUTHENTICATIONFAILED]"), "{r:?}");
    c.send("b AUTHENTICATE PLAIN\r\n").await;
    assert_eq!(c.line().await.unwrap(), "+ ");
    c.send("*\r\n").await;
    let r = c.until_tag("b").await;
    assert!(r[0].starts_with("b BAD"), "{r:?}");
}

#[tokio::test]
async fn select_fetch_and_implicit_seen() {
    let s = TestServer::start(Config::default()).await;
    s.deliver("alice@example.test", PLAIN).await;
    s.deliver("alice@example.test", MIME).await;
    // An earlier session claims the new messages' \Recent (tests/semantics.rs covers it).
    s.login("alice").await.cmd("SELECT INBOX").await;
    let mut c = s.login("alice").await;
    let r = c.cmd("SELECT INBOX").await;
    assert!(has(&r, "* 2 EXISTS"), "{r:?}");
    assert!(has(&r, "* 0 RECENT"), "{r:?}");
    assert!(has(&r, "* OK [UIDNEXT 3]"), "{r:?}");
    assert!(has(&r, "* OK [UIDVALIDITY "), "{r:?}");
    assert!(has(&r, "* OK [UNSEEN 1]"), "{r:?}");
    assert!(r.last().unwrap().contains("OK [READ-WRITE]"), "{r:?}");

    let r = c
        .cmd("FETCH 1 (UID FLAGS RFC822.SIZE INTERNALDATE ENVELOPE)")
        .await;
    assert_eq!(
        r[0],
        format!(
            "* 1 FETCH (UID 1 FLAGS () RFC822.SIZE {} INTERNALDATE \"14-Nov-2023 22:13:20 +0000\" \
ENVELOPE (\"Mon, 7 Feb 1994 21:52:25 -0800\" \"afternoon meeting\" \
((\"Fred Foobar\" NIL \"foobar\" \"example.org\")) ((\"Fred Foobar\" NIL \"foobar\" \"example.org\")) \
((\"Fred Foobar\" NIL \"foobar\" \"example.org\")) ((NIL NIL \"alice\" \"example.test\")) NIL NIL NIL \
\"<1@example.org>\"))",
            PLAIN.len()
        )
    );
    // PEEK leaves \Seen alone.
    let r = c.cmd("FETCH 1 BODY.PEEK[HEADER.FIELDS (SUBJECT)]").await;
    assert_eq!(
        r[0],
        "* 1 FETCH (BODY[HEADER.FIELDS (SUBJECT)] {30}Subject: afternoon meeting\r\n\r\n)"
    );
    let r = c.cmd("FETCH 1 FLAGS").await;
    assert_eq!(r[0], "* 1 FETCH (FLAGS ())");
    // BODY[TEXT] sets \Seen and says so.
    let r = c.cmd("FETCH 1 BODY[TEXT]").await;
    assert_eq!(
        r[0],
        "* 1 FETCH (BODY[TEXT] {55}Hello Joe, do you think we can meet at 3:30 tomorrow?\r\n FLAGS (\\Seen))"
    );
    let r = c.cmd("UID FETCH 1:* FLAGS").await;
    assert_eq!(r[0], "* 1 FETCH (UID 1 FLAGS (\\Seen))");
    assert_eq!(r[1], "* 2 FETCH (UID 2 FLAGS ())");
    // A message number beyond the mailbox is BAD; a UID beyond it is just nothing.
    assert_eq!(status(&c.cmd("FETCH 3 FLAGS").await), "BAD");
    let r = c.cmd("UID FETCH 7 FLAGS").await;
    assert_eq!(r.len(), 1);
    assert_eq!(status(&r), "OK");
}

#[tokio::test]
async fn bodystructure_and_sections_of_a_mime_message() {
    let s = TestServer::start(Config::default()).await;
    s.deliver("alice@example.test", MIME).await;
    let mut c = s.login("alice").await;
    c.cmd("EXAMINE INBOX").await;
    let r = c.cmd("FETCH 1 BODYSTRUCTURE").await;
    assert_eq!(
        r[0],
        "* 1 FETCH (BODYSTRUCTURE ((\"text\" \"plain\" (\"charset\" \"utf-8\") NIL NIL \"quoted-printable\" 27 0 NIL NIL NIL NIL)\
(\"message\" \"rfc822\" NIL NIL NIL \"7BIT\" 28 (NIL \"inner\" NIL NIL NIL NIL NIL NIL NIL NIL) \
(\"text\" \"plain\" (\"charset\" \"us-ascii\") NIL NIL \"7BIT\" 10 0 NIL NIL NIL NIL) 2 NIL NIL NIL NIL)\
(\"application\" \"octet-stream\" (\"name\" \"a.bin\") NIL NIL \"base64\" 8 NIL (\"attachment\" (\"filename\" \"a.bin\")) NIL NIL) \
\"mixed\" (\"boundary\" \"o\") NIL NIL NIL))"
    );
    let r = c
        .cmd("FETCH 1 (BODY[1] BODY[2.HEADER] BODY[2.1] BODY[3.MIME] BINARY[3] BODY[1]<4.6>)")
        .await;
    assert_eq!(
        r[0],
        "* 1 FETCH (BODY[1] {27}Cr=C3=A8me br=C3=BBl=C3=A9e BODY[2.HEADER] {18}Subject: inner\r\n\r\n \
BODY[2.1] {10}inner body BODY[3.MIME] {142}Content-Type: application/octet-stream; name=\"a.bin\"\r\n\
Content-Transfer-Encoding: base64\r\nContent-Disposition: attachment; filename=\"a.bin\"\r\n\r\n \
BINARY[3] {5}hello BODY[1]<4> {6}3=A8me)"
    );
    // EXAMINE is read-only: no \Seen (and \Recent shown, not claimed).
    let r = c.cmd("FETCH 1 FLAGS").await;
    assert_eq!(r[0], "* 1 FETCH (FLAGS (\\Recent))");
    assert!(has(
        &c.cmd("STORE 1 +FLAGS (\\Seen)").await,
        "NO [READ-ONLY]"
    ));
}

#[tokio::test]
async fn store_and_search() {
    let s = TestServer::start(Config::default()).await;
    s.deliver("alice@example.test", PLAIN).await;
    s.deliver("alice@example.test", MIME).await;
    s.deliver(
        "alice@example.test",
        b"Subject: third\r\n\r\nnothing here\r\n",
    )
    .await;
    let mut c = s.login("alice").await;
    c.cmd("SELECT INBOX").await;
    let r = c.cmd("STORE 2:3 +FLAGS (\\Flagged $Work)").await;
    // RFC 9051 §7.3.5: the new keyword is announced before the FETCH carrying it.
    assert_eq!(
        r[0],
        "* FLAGS (\\Answered \\Flagged \\Deleted \\Seen \\Draft $Work)"
    );
    assert!(r[1].starts_with("* OK [PERMANENTFLAGS ("), "{r:?}");
    assert_eq!(r[2], "* 2 FETCH (UID 2 FLAGS (\\Flagged $Work \\Recent))");
    assert_eq!(r[3], "* 3 FETCH (UID 3 FLAGS (\\Flagged $Work \\Recent))");
    let r = c.cmd("STORE 3 -FLAGS.SILENT (\\Flagged)").await;
    assert_eq!(r.len(), 1, "{r:?}");
    let cases = [
        ("SEARCH FLAGGED", "* SEARCH 2"),
        ("SEARCH UNFLAGGED", "* SEARCH 1 3"),
        ("SEARCH KEYWORD $Work", "* SEARCH 2 3"),
        ("SEARCH SUBJECT café", "* SEARCH 2"),
        ("SEARCH SUBJECT \"MEETING\"", "* SEARCH 1"),
        ("SEARCH BODY \"brûlée\"", "* SEARCH 2"),
        ("SEARCH TEXT foobar", "* SEARCH 1"),
        ("SEARCH OR FROM fred NOT 1:2", "* SEARCH 1 3"),
        ("SEARCH (UNSEEN LARGER 100) SMALLER 10000", "* SEARCH 1 2"),
        ("SEARCH SENTBEFORE 1-Jan-2000", "* SEARCH 1"),
        (
            "SEARCH SINCE 1-Nov-2023 BEFORE 20-Nov-2023",
            "* SEARCH 1 2 3",
        ),
        ("SEARCH HEADER Message-Id \"<1@\"", "* SEARCH 1"),
        ("UID SEARCH UID 2:*", "* SEARCH 2 3"),
        ("SEARCH CHARSET UTF-8 BODY nomatch", "* SEARCH"),
    ];
    for (cmd, want) in cases {
        let r = c.cmd(cmd).await;
        assert_eq!(r[0], want, "{cmd}");
        assert_eq!(status(&r), "OK", "{cmd}");
    }
    let r = c.cmd("SEARCH RETURN (MIN MAX COUNT ALL) FLAGGED").await;
    assert_eq!(
        r[0],
        format!(
            "* ESEARCH (TAG \"{}\") MIN 2 MAX 2 ALL 2 COUNT 1",
            c.last_tag()
        )
    );
    let r = c.cmd("SEARCH CHARSET KOI8-R ALL").await;
    // RFC 9051 §6.4.4: NO [BADCHARSET], not BAD.
    assert!(r[0].contains("NO [BADCHARSET"), "{r:?}");
    let r = c.cmd("SORT (DATE) KOI8-R ALL").await;
    assert!(r[0].contains("NO [BADCHARSET"), "{r:?}");
}

#[tokio::test]
async fn append_copy_move_expunge_with_uidplus() {
    let s = TestServer::start(Config::default()).await;
    s.deliver("alice@example.test", PLAIN).await;
    s.deliver("alice@example.test", PLAIN).await;
    let mut c = s.login("alice").await;
    c.send("a APPEND Drafts (\\Draft) \"05-Jan-2024 10:00:00 +0100\" {24}\r\n")
        .await;
    assert_eq!(c.line().await.unwrap(), "+ Ready for literal data");
    c.send("Subject: draft\r\n\r\nbody\r\n\r\n").await; // literal, then the command's CRLF
    let r = c.until_tag("a").await;
    assert!(r[0].starts_with("a OK [APPENDUID "), "{r:?}");
    assert!(r[0].contains(" 1] APPEND completed"), "{r:?}");
    let r = c.cmd("APPEND Nowhere {2+}\r\nhi").await;
    assert!(r[0].contains("NO [TRYCREATE]"), "{r:?}");

    c.cmd("SELECT INBOX").await;
    // APPEND and COPY into the selected mailbox announce the new messages.
    let r = c.cmd("APPEND INBOX {8+}\r\nX: y\r\n\r\n").await;
    assert_eq!(r[0], "* 3 EXISTS");
    let r = c.cmd("COPY 3 INBOX").await;
    assert_eq!(r[0], "* 4 EXISTS");
    c.cmd("STORE 3:4 +FLAGS.SILENT (\\Deleted)").await;
    let r = c.cmd("UID EXPUNGE 3:4").await;
    assert_eq!(r[0], "* 3 EXPUNGE");
    assert_eq!(r[1], "* 3 EXPUNGE");
    let r = c.cmd("COPY 1:2 Trash").await;
    assert!(
        r[0].contains("OK [COPYUID ") && r[0].contains(" 1:2 1:2] COPY completed"),
        "{r:?}"
    );
    let r = c.cmd("UID MOVE 1 Junk").await;
    assert!(
        r[0].starts_with("* OK [COPYUID ") && r[0].ends_with(" 1 1] Moved"),
        "{r:?}"
    );
    assert_eq!(r[1], "* 1 EXPUNGE");
    assert_eq!(status(&r), "OK");
    let r = c.cmd("STORE 1 +FLAGS.SILENT (\\Deleted)").await;
    assert_eq!(status(&r), "OK");
    let r = c.cmd("EXPUNGE").await;
    assert_eq!(r[0], "* 1 EXPUNGE");
    let r = c.cmd("STATUS Trash (MESSAGES UIDNEXT UNSEEN)").await;
    assert_eq!(r[0], "* STATUS Trash (MESSAGES 2 UIDNEXT 3 UNSEEN 2)");
    let r = c.cmd("STATUS Drafts (MESSAGES)").await;
    assert_eq!(r[0], "* STATUS Drafts (MESSAGES 1)");
    c.cmd("SELECT Drafts").await;
    let r = c.cmd("FETCH 1 (FLAGS INTERNALDATE RFC822.SIZE)").await;
    assert_eq!(
        r[0],
        "* 1 FETCH (FLAGS (\\Draft \\Recent) INTERNALDATE \"05-Jan-2024 09:00:00 +0000\" RFC822.SIZE 24)"
    );
}

#[tokio::test]
async fn mailboxes_list_create_rename_delete() {
    let s = TestServer::start(Config::default()).await;
    let mut c = s.login("alice").await;
    let r = c.cmd("LIST \"\" \"\"").await;
    assert_eq!(r[0], "* LIST (\\Noselect) \"/\" \"\"");
    assert_eq!(status(&c.cmd("CREATE Projects/2024/Q1").await), "OK");
    let r = c.cmd("CREATE Projects/2024/Q1").await;
    assert!(r[0].contains("NO [ALREADYEXISTS]"), "{r:?}");
    let r = c.cmd("LIST \"\" %").await;
    assert_eq!(r[0], "* LIST (\\HasNoChildren) \"/\" INBOX");
    assert!(has(&r, "* LIST (\\HasChildren) \"/\" Projects"), "{r:?}");
    assert!(
        has(&r, "* LIST (\\HasNoChildren \\Sent) \"/\" Sent"),
        "{r:?}"
    );
    assert!(!has(&r, "Projects/2024"), "{r:?}");
    let r = c.cmd("LIST Projects/ *").await;
    assert_eq!(r.len(), 3, "{r:?}");
    assert_eq!(r[1], "* LIST (\\HasNoChildren) \"/\" Projects/2024/Q1");
    let r = c.cmd("CREATE \"Entw&APw-rfe\"").await;
    assert_eq!(status(&r), "OK");
    let r = c.cmd("LIST \"\" Entw*").await;
    assert_eq!(r[0], "* LIST (\\HasNoChildren) \"/\" Entw&APw-rfe");
    assert_eq!(
        status(&c.cmd("RENAME Projects Archive/Projects").await),
        "OK"
    );
    let r = c.cmd("LIST \"\" Archive/*").await;
    assert!(has(&r, "\"/\" Archive/Projects/2024/Q1"), "{r:?}");
    assert!(c.cmd("DELETE INBOX").await[0].contains("NO"));
    assert_eq!(
        status(&c.cmd("SELECT Archive/Projects/2024/Q1").await),
        "OK"
    );
    assert_eq!(
        status(&c.cmd("DELETE Archive/Projects/2024/Q1").await),
        "OK"
    );
    // The deleted mailbox is no longer selected, and the session goes on.
    let r = c.cmd("FETCH 1:* FLAGS").await;
    assert!(r[0].contains("BAD FETCH No mailbox selected"), "{r:?}");
    assert!(c.cmd("DELETE Archive/Projects/2024/Q1").await[0].contains("NO [NONEXISTENT]"));
    let r = c
        .cmd("LIST (SPECIAL-USE) \"\" * RETURN (STATUS (MESSAGES))")
        .await;
    assert!(
        has(&r, "* LIST (\\HasNoChildren \\Trash) \"/\" Trash"),
        "{r:?}"
    );
    assert!(has(&r, "* STATUS Trash (MESSAGES 0)"), "{r:?}");
    assert!(!has(&r, "INBOX"), "{r:?}");
    assert_eq!(status(&c.cmd("UNSUBSCRIBE Junk").await), "OK");
    let r = c.cmd("LSUB \"\" *").await;
    assert!(has(&r, "* LSUB () \"/\" Sent") && !has(&r, "Junk"), "{r:?}");
    let r = c.cmd("NAMESPACE").await;
    assert_eq!(r[0], "* NAMESPACE ((\"\" \"/\")) NIL NIL");
    let r = c.cmd("ENABLE UTF8=ACCEPT CONDSTORE X-UNKNOWN").await;
    assert_eq!(r[0], "* ENABLED UTF8=ACCEPT CONDSTORE");
    let r = c.cmd("LIST \"\" Entw*").await;
    assert_eq!(r[0], "* LIST (\\HasNoChildren) \"/\" {9}Entw\u{fc}rfe");
    // RFC 9051 §6.3.6: renaming INBOX moves its messages and leaves it empty.
    c.cmd("APPEND INBOX {8+}\r\nX: y\r\n\r\n").await;
    assert_eq!(status(&c.cmd("RENAME inbox \"Old Inbox\"").await), "OK");
    let r = c.cmd("STATUS INBOX (MESSAGES)").await;
    assert_eq!(r[0], "* STATUS INBOX (MESSAGES 0)");
    let r = c.cmd("STATUS \"Old Inbox\" (MESSAGES)").await;
    assert_eq!(r[0], "* STATUS \"Old Inbox\" (MESSAGES 1)");
    let r = c.cmd("GETQUOTAROOT INBOX").await;
    assert_eq!(r[0], "* QUOTAROOT INBOX \"\"");
    assert_eq!(r[1], "* QUOTA \"\" ()");
}

#[tokio::test]
async fn two_sessions_see_each_others_changes_at_the_right_time() {
    let s = TestServer::start(Config::default()).await;
    for _ in 0..3 {
        s.deliver("alice@example.test", PLAIN).await;
    }
    let mut a = s.login("alice").await;
    let mut b = s.login("alice").await;
    a.cmd("SELECT INBOX").await;
    b.cmd("SELECT INBOX").await;

    // B flags and expunges message 1; A is told about the flag change at once but the
    // expunge only outside FETCH/STORE/SEARCH (RFC 9051 §7.5.1).
    b.cmd("STORE 2 +FLAGS (\\Answered)").await;
    b.cmd("STORE 1 +FLAGS (\\Deleted)").await;
    let r = b.cmd("EXPUNGE").await;
    assert_eq!(r[0], "* 1 EXPUNGE");
    s.deliver("alice@example.test", PLAIN).await;

    let r = a.cmd("FETCH 1:* UID").await;
    assert!(!has(&r, "EXPUNGE"), "{r:?}");
    assert!(has(&r, "* 4 EXISTS"), "{r:?}");
    assert!(
        has(&r, "* 2 FETCH (UID 2 FLAGS (\\Answered \\Recent))"),
        "{r:?}"
    );
    // Numbers held still, and message 1 (UID 1), gone but not reported yet, is still
    // served (RFC 2180 §4.1.1).
    assert!(
        has(&r, "* 1 FETCH (UID 1)")
            && has(&r, "* 2 FETCH (UID 2)")
            && has(&r, "* 4 FETCH (UID 4)"),
        "{r:?}"
    );
    let r = a.cmd("SEARCH ALL").await;
    assert!(!has(&r, "EXPUNGE"), "{r:?}");
    let r = a.cmd("NOOP").await;
    assert_eq!(r[0], "* 1 EXPUNGE");
    let r = a.cmd("FETCH 1:* UID").await;
    assert_eq!(r[0], "* 1 FETCH (UID 2)");
    assert_eq!(r[2], "* 3 FETCH (UID 4)");

    // IDLE reports a delivery.
    a.send("i1 IDLE\r\n").await;
    assert_eq!(a.line().await.unwrap(), "+ idling");
    s.deliver("alice@example.test", PLAIN).await;
    let l = a.line().await.unwrap();
    assert_eq!(l, "* 4 EXISTS");
    // Recent here: UIDs 2 and 3 (from SELECT), 4 and 5 (told of them first).
    let l = a.line().await.unwrap();
    assert_eq!(l, "* 4 RECENT");
    b.cmd("STORE 1 +FLAGS (\\Deleted)").await;
    b.cmd("EXPUNGE").await;
    assert_eq!(a.line().await.unwrap(), "* 1 EXPUNGE");
    a.send("DONE\r\n").await;
    let r = a.until_tag("i1").await;
    assert_eq!(r.last().unwrap(), "i1 OK IDLE terminated");
}

#[tokio::test]
async fn bad_input_gets_protocol_errors_and_the_session_goes_on() {
    let config = Config {
        append_limit: 1000,
        max_line_length: 200,
        ..Config::default()
    };
    let s = TestServer::start(config).await;
    let mut c = s.login("alice").await;
    let r = c.cmd("FROBNICATE").await;
    assert!(
        r[0].starts_with("t2 BAD Unknown command FROBNICATE"),
        "{r:?}"
    );
    let r = c.cmd("FETCH 1 FLAGS").await;
    assert!(r[0].contains("BAD FETCH No mailbox selected"), "{r:?}");
    let long = "x".repeat(500);
    let r = c.cmd(&format!("LOGIN {long} pw")).await;
    assert!(r[0].contains("BAD [TOOBIG]"), "{r:?}");
    // APPEND over APPENDLIMIT: refused before the literal is sent.
    c.send("a1 APPEND INBOX {5000}\r\n").await;
    let r = c.until_tag("a1").await;
    assert_eq!(r[0], "a1 NO [TOOBIG] Message exceeds APPENDLIMIT");
    let r = c.cmd("NOOP").await;
    assert_eq!(status(&r), "OK");
    let r = c.cmd("SELECT \"unterminated").await;
    assert_eq!(status(&r), "BAD");
    c.send("+ NOOP\r\n").await;
    assert_eq!(c.line().await.unwrap(), "* BAD Invalid tag");
    let r = c.cmd("NOOP").await;
    assert_eq!(status(&r), "OK");
    // A non-synchronizing literal over the limit closes the connection.
    c.send("a2 APPEND INBOX {5000+}\r\n").await;
    let l = c.line().await.unwrap();
    assert!(l.starts_with("* BYE [TOOBIG]"), "{l}");
    assert_eq!(c.line().await, None);
}

#[tokio::test]
async fn condstore_and_qresync() {
    let s = TestServer::start(Config::default()).await;
    s.deliver("alice@example.test", PLAIN).await;
    s.deliver("alice@example.test", PLAIN).await;
    let mut c = s.login("alice").await;
    let r = c.cmd("ENABLE QRESYNC").await;
    assert_eq!(r[0], "* ENABLED QRESYNC");
    let r = c.cmd("SELECT INBOX").await;
    let hms = r
        .iter()
        .find_map(|l| l.strip_prefix("* OK [HIGHESTMODSEQ "))
        .and_then(|l| l.split(']').next())
        .and_then(|n| n.parse::<u64>().ok())
        .expect("HIGHESTMODSEQ");
    let uv = r
        .iter()
        .find_map(|l| l.strip_prefix("* OK [UIDVALIDITY "))
        .and_then(|l| l.split(']').next())
        .unwrap()
        .to_string();
    let r = c.cmd("STORE 1 +FLAGS (\\Seen)").await;
    assert!(
        r[0].starts_with("* 1 FETCH (UID 1 FLAGS (\\Seen \\Recent) MODSEQ ("),
        "{r:?}"
    );
    let r = c
        .cmd(&format!(
            "STORE 1,2 (UNCHANGEDSINCE {hms}) +FLAGS (\\Flagged)"
        ))
        .await;
    assert!(r.last().unwrap().contains("OK [MODIFIED 1]"), "{r:?}");
    let r = c
        .cmd(&format!("UID FETCH 1:* (FLAGS) (CHANGEDSINCE {hms})"))
        .await;
    assert_eq!(r.len(), 3, "{r:?}");
    let r = c
        .cmd(&format!("FETCH 1:* (FLAGS) (CHANGEDSINCE {hms})"))
        .await;
    assert!(
        r[0].starts_with("* 1 FETCH (UID 1 FLAGS (\\Seen \\Recent) MODSEQ ("),
        "{r:?}"
    );
    c.cmd("STORE 2 +FLAGS.SILENT (\\Deleted)").await;
    let r = c.cmd("EXPUNGE").await;
    assert_eq!(r[0], "* VANISHED 2");
    // The expunged message was recent here: the count falls to 1 (RFC 3501 §7.3.2,
    // sent when it changes, as Dovecot does).
    assert_eq!(r[1], "* 1 RECENT", "{r:?}");
    assert!(r[2].contains("OK [HIGHESTMODSEQ "), "{r:?}");
    c.cmd("UNSELECT").await;
    let r = c
        .cmd(&format!("SELECT INBOX (QRESYNC ({uv} {hms} 1:2))"))
        .await;
    assert!(has(&r, "* VANISHED (EARLIER) 2"), "{r:?}");
    assert!(has(&r, "* 1 FETCH (UID 1 FLAGS (\\Seen) MODSEQ ("), "{r:?}");
}

#[tokio::test]
async fn sort_and_thread() {
    let s = TestServer::start(Config::default()).await;
    let msgs: [&[u8]; 4] = [
        b"From: Zed <zed@example.org>\r\nSubject: Plans\r\nDate: Tue, 2 Jan 2024 10:00:00 +0000\r\nMessage-ID: <a@x>\r\n\r\n1\r\n",
        b"From: amy@example.org\r\nSubject: Re: plans\r\nDate: Wed, 3 Jan 2024 10:00:00 +0000\r\nMessage-ID: <b@x>\r\nIn-Reply-To: <a@x>\r\n\r\n22\r\n",
        b"From: Bob <bob@example.org>\r\nSubject: Lunch\r\nDate: Mon, 1 Jan 2024 10:00:00 +0000\r\nMessage-ID: <c@x>\r\n\r\n333\r\n",
        b"From: carl@example.org\r\nSubject: Re: Plans\r\nDate: Thu, 4 Jan 2024 10:00:00 +0000\r\nMessage-ID: <d@x>\r\nReferences: <a@x> <b@x>\r\n\r\n4444\r\n",
    ];
    for m in msgs {
        s.deliver("alice@example.test", m).await;
    }
    let mut c = s.login("alice").await;
    c.cmd("SELECT INBOX").await;
    let cases = [
        ("SORT (DATE) UTF-8 ALL", "* SORT 3 1 2 4"),
        ("SORT (REVERSE SIZE) UTF-8 ALL", "* SORT 4 2 3 1"),
        ("SORT (FROM) UTF-8 ALL", "* SORT 2 3 4 1"),
        ("SORT (DISPLAYFROM) UTF-8 ALL", "* SORT 2 3 4 1"),
        ("SORT (SUBJECT DATE) UTF-8 NOT 2", "* SORT 3 1 4"),
        ("UID SORT (ARRIVAL) US-ASCII UID 2:3", "* SORT 2 3"),
        ("THREAD ORDEREDSUBJECT UTF-8 ALL", "* THREAD (3)(1 (2)(4))"),
        ("THREAD REFERENCES UTF-8 ALL", "* THREAD (3)(1 2 4)"),
        ("UID THREAD REFERENCES UTF-8 SUBJECT lunch", "* THREAD (3)"),
    ];
    for (cmd, want) in cases {
        let r = c.cmd(cmd).await;
        assert_eq!(r[0], want, "{cmd}");
        assert_eq!(status(&r), "OK", "{cmd}");
    }
}

#[tokio::test]
async fn multiappend_and_utf8_append() {
    let s = TestServer::start(Config::default()).await;
    let mut c = s.login("alice").await;
    let r = c
        .cmd("APPEND Drafts (\\Seen) {12+}\r\nSubject: 1\r\n (\\Flagged) {12+}\r\nSubject: 2\r\n")
        .await;
    assert!(
        r[0].contains("OK [APPENDUID ") && r[0].contains(" 1:2] APPEND completed"),
        "{r:?}"
    );
    c.cmd("ENABLE UTF8=ACCEPT").await;
    let msg = "Subject: caf\u{e9}\r\n\r\n\u{e9}t\u{e9}\r\n";
    let r = c
        .cmd(&format!(
            "APPEND Drafts UTF8 (~{{{}+}}\r\n{msg})",
            msg.len()
        ))
        .await;
    assert!(r[0].contains(" 3] APPEND completed"), "{r:?}");
    c.cmd("SELECT Drafts").await;
    let r = c
        .cmd("FETCH 1:3 (FLAGS BODY.PEEK[HEADER.FIELDS (SUBJECT)])")
        .await;
    assert_eq!(
        r[0],
        "* 1 FETCH (FLAGS (\\Seen \\Recent) BODY[HEADER.FIELDS (SUBJECT)] {14}Subject: 1\r\n\r\n)"
    );
    assert_eq!(
        r[1],
        "* 2 FETCH (FLAGS (\\Flagged \\Recent) BODY[HEADER.FIELDS (SUBJECT)] {14}Subject: 2\r\n\r\n)"
    );
    assert_eq!(
        r[2],
        format!(
            "* 3 FETCH (FLAGS (\\Recent) BODY[HEADER.FIELDS (SUBJECT)] {{18}}Subject: caf\u{e9}\r\n\r\n)"
        )
    );
}

#[tokio::test]
async fn large_append_arrives_whole() {
    let s = TestServer::start(Config::default()).await;
    let mut c = s.login("alice").await;
    let mut msg = b"Subject: big\r\n\r\n".to_vec();
    while msg.len() < 3 * 1024 * 1024 {
        msg.extend_from_slice(
            b"0123456789abcdefghijklmnopqrstuvwxyz0123456789abcdefghijklmnopqrstu\r\n",
        );
    }
    c.send(format!("a APPEND INBOX {{{}}}\r\n", msg.len()))
        .await;
    assert_eq!(c.line().await.unwrap(), "+ Ready for literal data");
    c.send(&msg).await;
    c.send(b"\r\n").await;
    let r = c.until_tag("a").await;
    assert!(r[0].starts_with("a OK [APPENDUID "), "{r:?}");
    c.cmd("SELECT INBOX").await;
    let r = c
        .cmd("FETCH 1 (RFC822.SIZE BODY.PEEK[]<3145700.100>)")
        .await;
    let tail = &msg[3_145_700..(3_145_700 + 100).min(msg.len())];
    assert_eq!(
        r[0],
        format!(
            "* 1 FETCH (RFC822.SIZE {} BODY[]<3145700> {{{}}}{})",
            msg.len(),
            tail.len(),
            String::from_utf8_lossy(tail)
        )
    );
}

#[tokio::test]
async fn searchres_saves_results_as_dollar() {
    let s = TestServer::start(Config::default()).await;
    for subject in ["a", "b", "a", "c"] {
        s.deliver(
            "alice@example.test",
            format!("Subject: {subject}\r\n\r\nx\r\n").as_bytes(),
        )
        .await;
    }
    let mut c = s.login("alice").await;
    c.cmd("SELECT INBOX").await;
    // SAVE alone answers nothing but the tagged OK.
    let r = c.cmd("SEARCH RETURN (SAVE) SUBJECT a").await;
    assert_eq!(r.len(), 1, "{r:?}");
    let r = c.cmd("FETCH $ (UID)").await;
    assert_eq!(r[0], "* 1 FETCH (UID 1)");
    assert_eq!(r[1], "* 3 FETCH (UID 3)");
    assert_eq!(r.len(), 3);
    // $ keeps naming the same messages after an expunge shifts their numbers.
    c.cmd("STORE 1 +FLAGS.SILENT (\\Deleted)").await;
    c.cmd("UID EXPUNGE 1").await;
    let r = c.cmd("FETCH $ (UID)").await;
    assert_eq!(r[0], "* 2 FETCH (UID 3)");
    let r = c.cmd("UID SEARCH UID $").await;
    assert_eq!(r[0], "* SEARCH 3");
    let r = c.cmd("SEARCH RETURN (SAVE MAX) ALL").await;
    assert_eq!(r[0], format!("* ESEARCH (TAG \"{}\") MAX 3", c.last_tag()));
    let r = c.cmd("UID FETCH $ FLAGS").await;
    assert_eq!(r[0], "* 3 FETCH (UID 4 FLAGS (\\Recent))");
    // A new SELECT forgets the result.
    c.cmd("SELECT INBOX").await;
    let r = c.cmd("FETCH $ (UID)").await;
    assert_eq!(r.len(), 1);
    assert_eq!(status(&r), "OK");
}

#[tokio::test]
async fn silent_clients_are_logged_out() {
    let config = Config {
        login_timeout_secs: 1,
        ..Config::default()
    };
    let s = TestServer::start(config).await;
    let mut c = s.connect().await;
    assert_eq!(
        c.line().await.unwrap(),
        "* BYE Autologout; idle for too long"
    );
    assert_eq!(c.line().await, None);
}

/// The grammar items of the compliance run: `~` atoms, invalid UTF-8 search strings,
/// FROM with comments inside the address, ORDEREDSUBJECT's two-message thread and the
/// order of `[` / `_` subjects.
#[tokio::test]
async fn grammar_search_sort_and_thread_details() {
    let s = TestServer::start(Config::default()).await;
    let msgs: [&[u8]; 4] = [
        b"From: Fred <user-from (c)@ (c) domain.org>\r\nSubject: _\r\nDate: Tue, 2 Jan 2024 10:00:00 +0000\r\n\r\n1\r\n",
        b"From: amy@example.org\r\nSubject: Re: _\r\nDate: Wed, 3 Jan 2024 10:00:00 +0000\r\n\r\n2\r\n",
        b"From: bob@example.org\r\nSubject: [xyz]\r\nDate: Mon, 1 Jan 2024 10:00:00 +0000\r\n\r\n3\r\n",
        b"From: carl@example.org\r\nSubject: caf\xe9 apple\r\nDate: Thu, 4 Jan 2024 10:00:00 +0000\r\n\r\n4\r\n",
    ];
    for m in msgs {
        s.deliver("alice@example.test", m).await;
    }
    let mut c = s.login("alice").await;
    // RFC 9051 §9: `~` is an ATOM-CHAR.
    let r = c.cmd("SELECT ~foo").await;
    assert!(r[0].contains("NO [NONEXISTENT]"), "{r:?}");
    assert_eq!(status(&c.cmd("CREATE ~foo").await), "OK");
    assert_eq!(status(&c.cmd("EXAMINE ~foo").await), "OK");
    c.cmd("SELECT INBOX").await;
    let r = c.cmd("FETCH 1 ENVELOPE").await;
    assert!(r[0].contains("\"user-from\" \"domain.org\""), "{r:?}");
    let cases = [
        // One address parse for ENVELOPE and SEARCH.
        ("SEARCH FROM user-from@domain.org", "* SEARCH 1"),
        ("SEARCH FROM fred", "* SEARCH 1"),
        ("SEARCH FROM DOMAIN.ORG", "* SEARCH 1"),
        ("SEARCH NOT FROM example.org", "* SEARCH 1"),
        ("SEARCH OR FROM amy TO nobody", "* SEARCH 2"),
        // RFC 5256 §5: a two-message thread is `(1 2)`.
        ("THREAD ORDEREDSUBJECT UTF-8 ALL", "* THREAD (3)(1 2)(4)"),
        // i;ascii-casemap: letters, then `[`, then `_`.
        ("SORT (SUBJECT) UTF-8 ALL", "* SORT 4 3 1 2"),
    ];
    for (cmd, want) in cases {
        let r = c.cmd(cmd).await;
        assert_eq!(r[0], want, "{cmd}");
        assert_eq!(status(&r), "OK", "{cmd}");
    }
    // RFC 9051 §6.4.4: a string not valid in its charset is BAD, not U+FFFD that
    // matches message 4's own bad octet.
    for cmd in [
        &b"SEARCH CHARSET UTF-8 SUBJECT {4}\r\ncaf\xe9"[..],
        b"SEARCH SUBJECT \"caf\xe9\"",
    ] {
        let tag = c.take_tag();
        let mut line = format!("{tag} ").into_bytes();
        line.extend_from_slice(cmd);
        line.extend_from_slice(b"\r\n");
        if cmd.contains(&b'{') {
            let at = line.iter().position(|&b| b == b'\n').unwrap() + 1;
            c.send(&line[..at]).await;
            assert!(c.line().await.unwrap().starts_with('+'));
            c.send(&line[at..]).await;
        } else {
            c.send(&line).await;
        }
        let r = c.until_tag(&tag).await;
        assert!(r[0].starts_with(&format!("{tag} BAD")), "{r:?}");
    }
    let r = c
        .cmd("SEARCH CHARSET ISO-8859-1 SUBJECT {5+}\r\ncaf\u{e9}")
        .await;
    assert_eq!(status(&r), "OK", "{r:?}");
    // RFC 9051 §6.4.4, RFC 5256 §3: an unknown charset is NO [BADCHARSET], not BAD.
    for cmd in [
        "SEARCH CHARSET KOI8-Q ALL",
        "SORT (DATE) KOI8-Q ALL",
        "THREAD REFERENCES KOI8-Q ALL",
    ] {
        let r = c.cmd(cmd).await;
        assert!(
            r.last()
                .unwrap()
                .contains("NO [BADCHARSET (UTF-8 US-ASCII ISO-8859-1)]"),
            "{cmd}: {r:?}"
        );
    }
    let r = c.cmd("NOOP").await;
    assert_eq!(status(&r), "OK");
}

/// Subscriptions as RFC 3501 §6.3.9 / RFC 5258 §3 and Dovecot 2.3 have them: CREATE
/// does not subscribe, `%` in LSUB stops at an unsubscribed superior (`\Noselect`),
/// DELETE leaves the name subscribed (`\Subscribed \NonExistent`).
#[tokio::test]
async fn subscriptions_are_names() {
    let s = TestServer::start(Config::default()).await;
    let mut c = s.login("alice").await;
    assert_eq!(status(&c.cmd("CREATE a/b").await), "OK");
    let r = c.cmd("LSUB \"\" *").await;
    assert!(!has(&r, "\"/\" a"), "{r:?}");
    assert!(has(&r, "* LSUB () \"/\" Sent"), "{r:?}");
    let r = c.cmd("LIST (SUBSCRIBED) \"\" *").await;
    assert!(!has(&r, "\"/\" a"), "{r:?}");
    assert_eq!(status(&c.cmd("SUBSCRIBE a/b").await), "OK");
    let r = c.cmd("LSUB \"\" %").await;
    assert!(has(&r, "* LSUB (\\Noselect) \"/\" a"), "{r:?}");
    assert!(!has(&r, "a/b"), "{r:?}");
    let r = c.cmd("LSUB \"\" a/%").await;
    assert_eq!(r[0], "* LSUB () \"/\" a/b");
    assert_eq!(r.len(), 2, "{r:?}");
    assert_eq!(status(&c.cmd("DELETE a/b").await), "OK");
    let r = c.cmd("LIST (SUBSCRIBED) \"\" *").await;
    assert!(
        has(
            &r,
            "* LIST (\\NonExistent \\HasNoChildren \\Subscribed) \"/\" a/b"
        ),
        "{r:?}"
    );
    let r = c.cmd("LIST \"\" *").await;
    assert!(!has(&r, "a/b"), "{r:?}");
    let r = c.cmd("LSUB \"\" *").await;
    assert!(has(&r, "* LSUB () \"/\" a/b"), "{r:?}");
    let r = c.cmd("LIST (SUBSCRIBED RECURSIVEMATCH) \"\" %").await;
    assert!(has(&r, "\"/\" a (\"CHILDINFO\" (\"SUBSCRIBED\"))"), "{r:?}");
    let r = c.cmd("SUBSCRIBE nonexistent").await;
    assert!(r[0].contains("NO [NONEXISTENT]"), "{r:?}");
    assert_eq!(status(&c.cmd("UNSUBSCRIBE nonexistent").await), "OK");
    assert_eq!(status(&c.cmd("UNSUBSCRIBE a/b").await), "OK");
    let r = c.cmd("LIST (SUBSCRIBED) \"\" *").await;
    assert!(!has(&r, "a/b"), "{r:?}");
}

/// ESORT (RFC 5267 §3): SORT RETURN answers ESEARCH in the sort order; PARTIAL (RFC
/// 9394) pages SEARCH and SORT results from either end. Answers as Dovecot 2.3 gives
/// them for the same mailbox (except negative ranges, which it does not have).
#[tokio::test]
async fn esort_and_partial() {
    let s = TestServer::start(Config::default()).await;
    for (subj, day) in [("c", 2), ("a", 3), ("b", 1), ("a", 5), ("d", 4), ("e", 6)] {
        let m = format!("Subject: {subj}\r\nDate: {day} Jan 2024 10:00:00 +0000\r\n\r\nx\r\n");
        s.deliver("alice@example.test", m.as_bytes()).await;
    }
    let mut c = s.login("alice").await;
    let r = c.cmd("CAPABILITY").await;
    assert!(r[0].contains(" ESORT"), "{r:?}");
    c.cmd("SELECT INBOX").await;
    let cases = [
        (
            "SORT RETURN (MIN MAX COUNT ALL) (SUBJECT) UTF-8 ALL",
            "ESEARCH (TAG \"{t}\") MIN 2 MAX 6 ALL 2,4,3,1,5:6 COUNT 6",
        ),
        (
            "SORT RETURN () (DATE) UTF-8 ALL",
            "ESEARCH (TAG \"{t}\") ALL 3,1:2,5,4,6",
        ),
        (
            "UID SORT RETURN (MIN MAX) (DATE) UTF-8 ALL",
            "ESEARCH (TAG \"{t}\") UID MIN 3 MAX 6",
        ),
        (
            "SORT RETURN (COUNT) (DATE) UTF-8 SUBJECT zzz",
            "ESEARCH (TAG \"{t}\") COUNT 0",
        ),
        (
            "SORT RETURN (MIN MAX ALL) (DATE) UTF-8 SUBJECT zzz",
            "ESEARCH (TAG \"{t}\")",
        ),
        (
            "SORT RETURN (PARTIAL 2:3) (DATE) UTF-8 ALL",
            "ESEARCH (TAG \"{t}\") PARTIAL (2:3 1:2)",
        ),
        (
            "SEARCH RETURN (PARTIAL 2:3) ALL",
            "ESEARCH (TAG \"{t}\") PARTIAL (2:3 2:3)",
        ),
        (
            "UID SEARCH RETURN (PARTIAL -1:-2 COUNT) ALL",
            "ESEARCH (TAG \"{t}\") UID COUNT 6 PARTIAL (-1:-2 5:6)",
        ),
    ];
    for (cmd, want) in cases {
        let r = c.cmd(cmd).await;
        let want = format!("* {}", want.replace("{t}", &c.last_tag()));
        assert_eq!(r[0], want, "{cmd}");
        assert_eq!(status(&r), "OK", "{cmd}");
    }
    // SAVE with SORT: MIN alone saves the first sorted message (RFC 5182 §2.4).
    let r = c
        .cmd("SORT RETURN (SAVE MIN) (REVERSE DATE) UTF-8 ALL")
        .await;
    assert_eq!(r[0], format!("* ESEARCH (TAG \"{}\") MIN 6", c.last_tag()));
    let r = c.cmd("FETCH $ (UID)").await;
    assert_eq!(r[0], "* 6 FETCH (UID 6)");
    // Without RETURN, SORT answers SORT as before.
    let r = c.cmd("SORT (DATE) UTF-8 ALL").await;
    assert_eq!(r[0], "* SORT 3 1 2 5 4 6");
}

/// PARTIAL (RFC 9394): advertised; the FETCH / UID FETCH modifier keeps the messages
/// at those positions of the ones the set names, from the first (1) or the last (-1);
/// CHANGEDSINCE filters within the window; a second PARTIAL or a bad range is BAD.
#[tokio::test]
async fn fetch_partial_modifier() {
    let s = TestServer::start(Config::default()).await;
    for i in 1..=6 {
        let m = format!("Subject: m{i}\r\n\r\nx\r\n");
        s.deliver("alice@example.test", m.as_bytes()).await;
    }
    let mut c = s.login("alice").await;
    let r = c.cmd("CAPABILITY").await;
    assert!(r[0].contains(" PARTIAL"), "{r:?}");
    c.cmd("SELECT INBOX").await;
    c.cmd("STORE 3 +FLAGS.SILENT (\\Seen)").await;
    let r = c.cmd("UID FETCH 1:* (UID) (PARTIAL -1:-2)").await;
    assert_eq!(r[..2], ["* 5 FETCH (UID 5)", "* 6 FETCH (UID 6)"], "{r:?}");
    assert_eq!(status(&r), "OK");
    let r = c.cmd("FETCH 2:* (UID) (PARTIAL 2:3)").await;
    assert_eq!(r[..2], ["* 3 FETCH (UID 3)", "* 4 FETCH (UID 4)"], "{r:?}");
    assert_eq!(r.len(), 3, "{r:?}");
    // Past the end: nothing, OK.
    let r = c.cmd("UID FETCH 1:* (UID) (PARTIAL 7:9)").await;
    assert_eq!(r.len(), 1, "{r:?}");
    assert_eq!(status(&r), "OK");
    // CHANGEDSINCE within the window: of messages 1..3 only 3 changed after modseq 6
    // (the deliveries' modseqs are lower than the STORE's).
    let r = c
        .cmd("FETCH 1:4 (FLAGS) (CHANGEDSINCE 6 PARTIAL 1:3)")
        .await;
    let fetched: Vec<&String> = r.iter().filter(|l| l.contains(" FETCH (")).collect();
    assert_eq!(fetched.len(), 1, "{r:?}");
    assert!(
        fetched[0].starts_with("* 3 FETCH (UID 3 FLAGS (\\Seen"),
        "{r:?}"
    );
    let r = c.cmd("FETCH 1:* (UID) (PARTIAL 1:2 PARTIAL 3:4)").await;
    assert_eq!(status(&r), "BAD", "{r:?}");
    let r = c.cmd("FETCH 1:* (UID) (PARTIAL 0:2)").await;
    assert_eq!(status(&r), "BAD", "{r:?}");
    c.cmd("NOOP").await;
}

/// CATENATE (RFC 4469): a message built from TEXT literals and URLs of this account's
/// messages and sections; bad URLs are NO [BADURL url], too big is NO [TOOBIG]. The
/// parts and codes are those Dovecot 2.3 gives for the same commands.
#[tokio::test]
async fn append_catenate() {
    let s = TestServer::start(Config::default()).await;
    let plain: &[u8] = b"Subject: hi\r\nContent-Type: text/plain\r\n\r\nbody line 1\r\nbody\r\n";
    s.deliver("alice@example.test", plain).await;
    let mut c = s.login("alice").await;
    let r = c.cmd("CAPABILITY").await;
    assert!(r[0].contains(" CATENATE"), "{r:?}");
    let r = c.cmd("SELECT INBOX").await;
    let uv = r
        .iter()
        .find_map(|l| l.split("[UIDVALIDITY ").nth(1))
        .and_then(|x| x.split(']').next())
        .unwrap()
        .to_string();
    let url = format!("/INBOX;UIDVALIDITY={uv}/;UID=1");
    // A synchronizing literal in the middle of the list gets its continuation.
    let tag = c.take_tag();
    c.send(format!(
        "{tag} APPEND INBOX CATENATE (URL \"{url}/;SECTION=HEADER\" TEXT {{5}}\r\n"
    ))
    .await;
    assert!(c.line().await.unwrap().starts_with('+'));
    c.send(format!("xyz\r\n URL \"{url}/;SECTION=TEXT\")\r\n"))
        .await;
    let r = c.until_tag(&tag).await;
    assert!(
        r.last()
            .unwrap()
            .contains(&format!("OK [APPENDUID {uv} 2]")),
        "{r:?}"
    );
    let cases = [
        // Relative to the mailbox appended to, the whole message.
        ("APPEND INBOX CATENATE (URL \";UID=1\")".to_string(), "3"),
        (
            format!("APPEND INBOX CATENATE (URL \"{url}/;SECTION=HEADER.FIELDS%20(SUBJECT)\")"),
            "4",
        ),
        // With MULTIAPPEND and flags.
        (
            format!(
                "APPEND INBOX (\\Seen) CATENATE (TEXT {{9+}}\r\nA: b\r\n\r\nx) CATENATE (URL \"{url}/;SECTION=1\")"
            ),
            "5:6",
        ),
    ];
    for (cmd, uids) in cases {
        let r = c.cmd(&cmd).await;
        assert!(
            r.last()
                .unwrap()
                .contains(&format!("OK [APPENDUID {uv} {uids}]")),
            "{cmd}: {r:?}"
        );
    }
    let r = c.cmd("UID FETCH 2:* (BODY.PEEK[])").await;
    let bodies: Vec<&str> = r
        .iter()
        .filter_map(|l| l.split_once("BODY[] ").map(|x| x.1))
        .collect();
    assert_eq!(
        bodies,
        vec![
            "{65}Subject: hi\r\nContent-Type: text/plain\r\n\r\nxyz\r\nbody line 1\r\nbody\r\n)",
            "{60}Subject: hi\r\nContent-Type: text/plain\r\n\r\nbody line 1\r\nbody\r\n)",
            "{15}Subject: hi\r\n\r\n)",
            "{9}A: b\r\n\r\nx)",
            "{19}body line 1\r\nbody\r\n)",
        ],
        "{r:?}"
    );
    for (u, why) in [
        (format!("/INBOX;UIDVALIDITY={uv}/;UID=99"), "message"),
        ("/INBOX;UIDVALIDITY=1/;UID=1".to_string(), "UIDVALIDITY"),
        (format!("/NoSuch;UIDVALIDITY={uv}/;UID=1"), "mailbox"),
        (
            format!("imap://alice@example.test/INBOX;UIDVALIDITY={uv}/;UID=1"),
            "URL",
        ),
        (format!("{url}/;SECTION=BOGUS"), "section"),
    ] {
        let r = c.cmd(&format!("APPEND INBOX CATENATE (URL \"{u}\")")).await;
        assert!(
            r.last().unwrap().contains(&format!("NO [BADURL {u}]"))
                && r.last().unwrap().contains(why),
            "{u}: {r:?}"
        );
    }
    let r = c.cmd("APPEND INBOX CATENATE (FILE \"x\")").await;
    assert_eq!(status(&r), "BAD", "{r:?}");
    let r = c.cmd("NOOP").await;
    assert_eq!(status(&r), "OK");

    // Built past APPENDLIMIT: NO [TOOBIG], nothing stored.
    let s = TestServer::start(Config {
        append_limit: 100,
        ..Config::default()
    })
    .await;
    s.deliver("alice@example.test", plain).await;
    let mut c = s.login("alice").await;
    c.cmd("SELECT INBOX").await;
    let r = c
        .cmd("APPEND INBOX CATENATE (URL \";UID=1\" URL \";UID=1\")")
        .await;
    assert!(r.last().unwrap().contains("NO [TOOBIG]"), "{r:?}");
    let r = c.cmd("STATUS INBOX (MESSAGES)").await;
    assert_eq!(r[0], "* STATUS INBOX (MESSAGES 1)");
}
