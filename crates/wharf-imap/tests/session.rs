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
