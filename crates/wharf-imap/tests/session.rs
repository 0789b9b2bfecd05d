//! The session without sockets: commands in, responses out, over a real store. Covers
//! what a loopback TCP test cannot: a connection from another host without TLS.

use std::sync::Arc;
use std::time::Duration;
use wharf_imap::Config;
use wharf_imap::proto::parse_command;
use wharf_imap::session::{ConnInfo, Context, Outcome, Session};
use wharf_net::AuthThrottle;
use wharf_store::{Address, DomainName, DynStore, Secret, SqliteStore, Store};

async fn session(config: Config) -> (Session, tempfile::TempDir) {
    let dir = tempfile::tempdir().unwrap();
    let store = SqliteStore::open(dir.path()).unwrap();
    store
        .domain_add(&DomainName::parse("example.test").unwrap())
        .await
        .unwrap();
    store
        .user_add(
            &Address::parse("alice@example.test").unwrap(),
            &Secret::new("pw"),
        )
        .await
        .unwrap();
    let store: DynStore = store;
    let ctx = Arc::new(Context {
        store,
        hostname: "imap.example.test".into(),
        config,
        throttle: AuthThrottle::new(100, Duration::from_secs(60), Duration::from_millis(1)),
    });
    let info = ConnInfo {
        tls: false,
        loopback: false,
        can_starttls: true,
        peer: "192.0.2.7".parse().unwrap(),
    };
    (Session::new(ctx, info), dir)
}

async fn run(s: &mut Session, line: &str) -> (String, Outcome) {
    let cmd = parse_command(line.as_bytes()).unwrap();
    let mut sink: Vec<u8> = Vec::new();
    let outcome = s.handle(cmd, &mut sink).await;
    sink.extend(s.take_output());
    (String::from_utf8(sink).unwrap(), outcome)
}

#[tokio::test]
async fn plaintext_login_is_refused_without_tls_from_other_hosts() {
    let (mut s, _dir) = session(Config::default()).await;
    let greeting = String::from_utf8(s.greeting()).unwrap();
    assert!(greeting.contains("STARTTLS LOGINDISABLED"), "{greeting}");
    assert!(!greeting.contains("AUTH=PLAIN"), "{greeting}");
    let (out, _) = run(&mut s, "a LOGIN alice@example.test pw\r\n").await;
    assert!(out.starts_with("a NO [PRIVACYREQUIRED]"), "{out}");
    let (out, _) = run(
        &mut s,
        "b AUTHENTICATE PLAIN AGFsaWNlQGV4YW1wbGUudGVzdABwdw==\r\n",
    )
    .await;
    assert!(out.starts_with("b NO [PRIVACYREQUIRED]"), "{out}");
    let (out, outcome) = run(&mut s, "c STARTTLS\r\n").await;
    assert_eq!(out, "c OK Begin TLS negotiation now\r\n");
    assert_eq!(outcome, Outcome::StartTls);
    s.tls_started();
    let (out, _) = run(&mut s, "d CAPABILITY\r\n").await;
    assert!(
        out.contains("AUTH=PLAIN") && !out.contains("STARTTLS"),
        "{out}"
    );
    let (out, _) = run(&mut s, "e LOGIN alice@example.test pw\r\n").await;
    assert!(out.starts_with("e OK [CAPABILITY"), "{out}");
}

#[tokio::test]
async fn config_can_allow_plaintext_and_failures_end_the_connection() {
    let config = Config {
        allow_plaintext_auth: true,
        max_auth_failures: 2,
        ..Config::default()
    };
    let (mut s, _dir) = session(config).await;
    let (out, _) = run(&mut s, "a LOGIN alice@example.test nope\r\n").await;
    assert!(out.starts_with("a NO [AUTHENTICATIONFAILED]"), "{out}");
    let (out, outcome) = run(&mut s, "b LOGIN alice@example.test nope\r\n").await;
    assert_eq!(out, "* BYE Too many failed logins\r\n");
    assert_eq!(outcome, Outcome::Close);
}

#[tokio::test]
async fn too_many_commands_before_login_end_the_connection() {
    let config = Config {
        max_unauthenticated_commands: 3,
        ..Config::default()
    };
    let (mut s, _dir) = session(config).await;
    for i in 0..3 {
        let (out, _) = run(&mut s, &format!("n{i} NOOP\r\n")).await;
        assert!(out.ends_with("OK NOOP completed\r\n"), "{out}");
    }
    let (out, outcome) = run(&mut s, "n4 NOOP\r\n").await;
    assert!(out.starts_with("* BYE"), "{out}");
    assert_eq!(outcome, Outcome::Close);
}

/// Random commands from an IMAP-ish vocabulary against a real store: every command that
/// parses gets exactly one tagged reply with its tag, and nothing panics.
#[tokio::test]
async fn random_commands_always_get_their_tagged_reply() {
    let config = Config {
        allow_plaintext_auth: true,
        max_unauthenticated_commands: 1_000_000,
        max_auth_failures: 1_000_000,
        ..Config::default()
    };
    let (mut s, _dir) = session(config).await;
    let (out, _) = run(&mut s, "l LOGIN alice@example.test pw\r\n").await;
    assert!(out.starts_with("l OK"), "{out}");
    for i in 0..5 {
        let msg = format!(
            "Subject: m{i}\r\nContent-Type: multipart/mixed; boundary=b\r\n\r\n--b\r\n\r\npart\r\n--b\r\nContent-Type: message/rfc822\r\n\r\nSubject: in\r\n\r\nx\r\n--b--\r\n"
        );
        let (out, _) = run(
            &mut s,
            &format!("a{i} APPEND INBOX {{{}+}}\r\n{msg}\r\n", msg.len()),
        )
        .await;
        assert!(out.contains("OK [APPENDUID"), "{out}");
    }
    let verbs = [
        "SELECT INBOX",
        "EXAMINE INBOX",
        "FETCH",
        "UID FETCH",
        "STORE",
        "UID STORE",
        "SEARCH",
        "UID SEARCH",
        "COPY",
        "MOVE",
        "UID MOVE",
        "EXPUNGE",
        "UID EXPUNGE",
        "NOOP",
        "CLOSE",
        "UNSELECT",
        "STATUS INBOX (MESSAGES UNSEEN HIGHESTMODSEQ)",
        "LIST \"\" *",
        "SORT",
        "THREAD REFERENCES UTF-8",
        "ENABLE QRESYNC",
        "CREATE x",
        "DELETE x",
        "IDLE",
    ];
    let sets = [
        "1",
        "*",
        "1:*",
        "0",
        "2:1",
        "5,3,1",
        "4294967295",
        "1:4294967295",
        "7:*",
    ];
    let items = [
        "FLAGS",
        "(UID ENVELOPE)",
        "BODY[]",
        "BODY.PEEK[2.1]",
        "BODY[2.HEADER]",
        "BODY[3]",
        "BODY[1.2.3.4]",
        "BODY[]<5.3>",
        "BODY[]<4294967295.1>",
        "BINARY[2]",
        "BINARY.SIZE[1]",
        "BODYSTRUCTURE",
        "(FLAGS) (CHANGEDSINCE 1)",
        "(FLAGS) (CHANGEDSINCE 1 VANISHED)",
        "RFC822.HEADER",
        "MODSEQ",
        "BODY[2.MIME]",
        "BODY[HEADER.FIELDS.NOT (Subject)]",
    ];
    let stores = [
        "+FLAGS (\\Seen)",
        "-FLAGS.SILENT (\\Deleted)",
        "FLAGS ($x \\Flagged)",
        "(UNCHANGEDSINCE 1) +FLAGS (\\Answered)",
    ];
    let searches = [
        "ALL",
        "BODY part",
        "NOT OR SEEN 1:2 UID 3",
        "SUBJECT in",
        "(((ALL)))",
        "MODSEQ 1",
        "RETURN (COUNT MIN) ALL",
        "SENTON 1-Jan-2024",
    ];
    let mut seed: u64 = 42;
    let mut next = |n: usize| {
        seed = seed
            .wrapping_mul(6364136223846793005)
            .wrapping_add(1442695040888963407);
        (seed >> 33) as usize % n
    };
    for i in 0..600 {
        let verb = verbs[next(verbs.len())];
        let args = match verb {
            "FETCH" | "UID FETCH" => {
                format!(" {} {}", sets[next(sets.len())], items[next(items.len())])
            }
            "STORE" | "UID STORE" => {
                format!(" {} {}", sets[next(sets.len())], stores[next(stores.len())])
            }
            "SEARCH" | "UID SEARCH" => format!(" {}", searches[next(searches.len())]),
            "SORT" => format!(" (SUBJECT) UTF-8 {}", searches[next(3)]),
            "THREAD REFERENCES UTF-8" => " ALL".to_string(),
            "COPY" | "MOVE" | "UID MOVE" => format!(" {} INBOX", sets[next(sets.len())]),
            "UID EXPUNGE" => format!(" {}", sets[next(sets.len())]),
            _ => String::new(),
        };
        let tag = format!("r{i}");
        let line = format!("{tag} {verb}{args}\r\n");
        let Ok(cmd) = parse_command(line.as_bytes()) else {
            continue;
        };
        let mut sink: Vec<u8> = Vec::new();
        let outcome = s.handle(cmd, &mut sink).await;
        sink.extend(s.take_output());
        let out = String::from_utf8_lossy(&sink).into_owned();
        match outcome {
            Outcome::Idle(t) => {
                assert_eq!(t.as_str(), tag);
                s.idle_done(&t, b"DONE");
                let done = String::from_utf8(s.take_output()).unwrap();
                assert_eq!(done, format!("{tag} OK IDLE terminated\r\n"));
            }
            _ => {
                let tagged: Vec<&str> = out
                    .lines()
                    .filter(|l| l.starts_with(&format!("{tag} ")))
                    .collect();
                assert_eq!(tagged.len(), 1, "{line}: {out}");
                assert!(out.ends_with("\r\n"), "{line}: {out}");
            }
        }
    }
}

/// NOOP looks at the store even when no change event has reached the session (events
/// are published after the writer acknowledges, so a poll can come first).
#[tokio::test]
async fn noop_sees_changes_whose_events_it_missed() {
    let config = Config {
        allow_plaintext_auth: true,
        ..Config::default()
    };
    let (mut s, _dir) = session(config).await;
    run(&mut s, "l LOGIN alice@example.test pw\r\n").await;
    let (out, _) = run(&mut s, "s SELECT INBOX\r\n").await;
    assert!(out.contains("* 0 EXISTS"), "{out}");
    let account = s.state.account().unwrap().id;
    s.ctx
        .store
        .deliver(
            &[account],
            wharf_store::NewMessage {
                raw: b"Subject: x\r\n\r\ny\r\n".to_vec(),
                internal_date: None,
                flags: wharf_store::Flags::default(),
                keywords: vec![],
            },
        )
        .await
        .unwrap();
    // Lose the event, as if it had not arrived yet.
    s.changes = s.ctx.store.subscribe();
    let (out, _) = run(&mut s, "n NOOP\r\n").await;
    assert!(out.starts_with("* 1 EXISTS\r\n"), "{out}");
}
