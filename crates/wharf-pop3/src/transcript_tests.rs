//! Session tests without sockets: lines in, replies out, against a real SqliteStore in a
//! temporary directory. They cover what the end-to-end tests cannot reach from loopback
//! (the plaintext-password policy on a remote, unencrypted connection).

use crate::session::{Action, Session};
use crate::{Config, Server};
use base64::Engine;
use std::net::IpAddr;
use std::sync::Arc;
use wharf_store::{Address, DomainName, DynStore, NewMessage, Secret, SqliteStore};

const REMOTE: &str = "192.0.2.7";

struct Fixture {
    server: Arc<Server>,
    store: DynStore,
    _dir: tempfile::TempDir,
}

async fn fixture(config: Config) -> Fixture {
    let dir = tempfile::tempdir().unwrap();
    let store: DynStore = SqliteStore::open(dir.path()).unwrap();
    store
        .domain_add(&DomainName::parse("example.test").unwrap())
        .await
        .unwrap();
    let alice = Address::parse("alice@example.test").unwrap();
    let account = store
        .user_add(&alice, &Secret::new("alice-pw"))
        .await
        .unwrap();
    for body in [
        "Subject: one\r\n\r\nfirst\r\n",
        "Subject: two\r\n\r\n.dot\r\n",
    ] {
        store
            .deliver(
                &[account.id],
                NewMessage {
                    raw: body.as_bytes().to_vec(),
                    internal_date: None,
                    flags: Default::default(),
                    keywords: vec![],
                },
            )
            .await
            .unwrap();
    }
    let config = Config {
        auth_failure_delay_ms: 0,
        ..config
    };
    Fixture {
        server: Server::new(store.clone(), "pop.example.test".into(), config),
        store,
        _dir: dir,
    }
}

/// Feeds each line and returns every reply, with the last action.
async fn run(s: &mut Session<'_>, lines: &[&str]) -> (String, Action) {
    let mut out = Vec::new();
    let mut action = Action::Continue;
    for line in lines {
        action = s.handle_line(line.as_bytes(), &mut out).await;
    }
    (String::from_utf8(out).unwrap(), action)
}

fn remote_plain(server: &Server) -> Session<'_> {
    let ip: IpAddr = REMOTE.parse().unwrap();
    Session::new(server, ip, false, false, true)
}

#[tokio::test]
async fn plaintext_login_is_refused_on_an_unencrypted_remote_connection() {
    let f = fixture(Config::default()).await;
    let mut s = remote_plain(&f.server);
    let (out, _) = run(&mut s, &["CAPA"]).await;
    assert!(out.contains("\r\nSTLS\r\n"), "{out}");
    assert!(!out.contains("\r\nUSER\r\n"), "{out}");
    assert!(!out.contains("SASL"), "{out}");
    let (out, _) = run(&mut s, &["USER alice@example.test"]).await;
    assert_eq!(
        out,
        "-ERR [AUTH] Plaintext authentication disallowed on non-secure connection; use STLS or POP3S\r\n"
    );
    let ir = base64::engine::general_purpose::STANDARD.encode("\0alice@example.test\0alice-pw");
    let (out, _) = run(&mut s, &[&format!("AUTH PLAIN {ir}")]).await;
    assert!(
        out.starts_with("-ERR [AUTH] Plaintext authentication disallowed"),
        "{out}"
    );
    let (out, _) = run(&mut s, &["AUTH"]).await;
    assert_eq!(out, "+OK Supported mechanisms follow\r\n.\r\n");
}

#[tokio::test]
async fn the_same_connection_may_log_in_once_tls_is_on() {
    let f = fixture(Config::default()).await;
    let mut s = remote_plain(&f.server);
    let (out, action) = run(&mut s, &["USER alice@example.test", "STLS"]).await;
    assert!(out.ends_with("+OK Begin TLS negotiation now\r\n"), "{out}");
    assert_eq!(action, Action::StartTls);
    s.tls_started();
    let (out, _) = run(&mut s, &["CAPA"]).await;
    assert!(!out.contains("STLS"), "{out}");
    assert!(out.contains("\r\nUSER\r\nSASL PLAIN LOGIN\r\n"), "{out}");
    let (out, _) = run(&mut s, &["STLS"]).await;
    assert_eq!(out, "-ERR Already using TLS\r\n");
    let (out, _) = run(&mut s, &["USER alice@example.test", "PASS alice-pw"]).await;
    assert_eq!(
        out,
        "+OK Send your password\r\n+OK Logged in, 2 messages (45 octets)\r\n"
    );
}

#[tokio::test]
async fn config_may_allow_plaintext_passwords() {
    let f = fixture(Config {
        allow_plaintext_auth: true,
        ..Config::default()
    })
    .await;
    let mut s = remote_plain(&f.server);
    let (out, _) = run(
        &mut s,
        &["USER alice@example.test", "PASS alice-pw", "STAT"],
    )
    .await;
    assert!(out.ends_with("+OK 2 45\r\n"), "{out}");
}

#[tokio::test]
async fn pass_must_follow_user_immediately() {
    let f = fixture(Config::default()).await;
    let mut s = Session::new(&f.server, "127.0.0.1".parse().unwrap(), false, true, false);
    let (out, _) = run(&mut s, &["PASS alice-pw"]).await;
    assert_eq!(out, "-ERR PASS must follow USER\r\n");
    let (out, _) = run(
        &mut s,
        &["USER alice@example.test", "CAPA", "PASS alice-pw"],
    )
    .await;
    assert!(out.ends_with("-ERR PASS must follow USER\r\n"), "{out}");
    let (out, _) = run(
        &mut s,
        &["USER alice@example.test", "BOGUS", "PASS alice-pw"],
    )
    .await;
    assert!(out.ends_with("-ERR PASS must follow USER\r\n"), "{out}");
}

#[tokio::test]
async fn commands_in_the_wrong_state_get_err_and_the_session_goes_on() {
    let f = fixture(Config::default()).await;
    let mut s = Session::new(&f.server, "127.0.0.1".parse().unwrap(), false, true, false);
    let (out, action) = run(&mut s, &["STAT", "RETR 1", "NOOP"]).await;
    assert_eq!(
        out,
        "-ERR STAT is not valid before login\r\n-ERR RETR is not valid before login\r\n\
-ERR NOOP is not valid before login\r\n"
    );
    assert_eq!(action, Action::Continue);
    let (out, _) = run(
        &mut s,
        &["USER alice@example.test", "PASS alice-pw", "USER x", "STLS"],
    )
    .await;
    assert!(
        out.ends_with(
            "-ERR USER is not valid after login\r\n-ERR STLS is not valid after login\r\n"
        ),
        "{out}"
    );
    let (out, _) = run(&mut s, &["STAT"]).await;
    assert_eq!(out, "+OK 2 45\r\n");
}

#[tokio::test]
async fn failed_logins_close_the_connection_after_the_limit() {
    let f = fixture(Config {
        max_auth_failures: 2,
        ..Config::default()
    })
    .await;
    let mut s = Session::new(&f.server, "127.0.0.1".parse().unwrap(), false, true, false);
    let (out, action) = run(&mut s, &["USER alice@example.test", "PASS wrong"]).await;
    assert!(
        out.ends_with("-ERR [AUTH] Authentication failed\r\n"),
        "{out}"
    );
    assert_eq!(action, Action::Continue);
    let (out, action) = run(&mut s, &["USER nobody@example.test", "PASS x"]).await;
    assert!(
        out.ends_with("-ERR [AUTH] Authentication failed, too many failures, closing\r\n"),
        "{out}"
    );
    assert_eq!(action, Action::Close);
}

#[tokio::test]
async fn an_address_with_too_many_failures_is_refused_even_with_the_right_password() {
    let f = fixture(Config {
        max_auth_failures_per_ip: 2,
        max_auth_failures: 10,
        ..Config::default()
    })
    .await;
    let ip: IpAddr = "127.0.0.9".parse().unwrap();
    let mut s = Session::new(&f.server, ip, false, true, false);
    run(
        &mut s,
        &[
            "USER alice@example.test",
            "PASS wrong",
            "USER alice@example.test",
            "PASS wrong",
        ],
    )
    .await;
    let mut s = Session::new(&f.server, ip, false, true, false);
    let (out, action) = run(&mut s, &["USER alice@example.test", "PASS alice-pw"]).await;
    assert!(
        out.ends_with(
            "-ERR [SYS/TEMP] Too many failed logins from your address, try again later\r\n"
        ),
        "{out}"
    );
    assert_eq!(action, Action::Close);
}

#[tokio::test]
async fn too_many_bad_commands_close_the_connection() {
    let f = fixture(Config {
        max_bad_commands: 3,
        ..Config::default()
    })
    .await;
    let mut s = Session::new(&f.server, "127.0.0.1".parse().unwrap(), false, true, false);
    let (out, action) = run(&mut s, &["FOO", "BAR"]).await;
    assert_eq!(
        out,
        "-ERR Unknown command: FOO\r\n-ERR Unknown command: BAR\r\n"
    );
    assert_eq!(action, Action::Continue);
    let (out, action) = run(&mut s, &["RETR x"]).await;
    assert_eq!(
        out,
        "-ERR RETR: invalid message number\r\n-ERR Too many bad commands, closing connection\r\n"
    );
    assert_eq!(action, Action::Close);
}

#[tokio::test]
async fn sasl_login_and_cancel() {
    let f = fixture(Config::default()).await;
    let b64 = |s: &str| base64::engine::general_purpose::STANDARD.encode(s);
    let mut s = Session::new(&f.server, "127.0.0.1".parse().unwrap(), false, true, false);
    let (out, _) = run(&mut s, &["AUTH LOGIN", "*"]).await;
    assert_eq!(out, "+ VXNlcm5hbWU6\r\n-ERR AUTH cancelled\r\n");
    let (out, _) = run(&mut s, &["AUTH CRAM-MD5"]).await;
    assert_eq!(
        out,
        "-ERR Unsupported authentication mechanism CRAM-MD5\r\n"
    );
    let (out, _) = run(&mut s, &["AUTH PLAIN", "not base64!"]).await;
    assert_eq!(out, "+ \r\n-ERR AUTH: invalid base64\r\n");
    let (out, _) = run(
        &mut s,
        &[
            "AUTH LOGIN",
            &b64("alice@example.test"),
            &b64("alice-pw"),
            "STAT",
        ],
    )
    .await;
    assert_eq!(
        out,
        "+ VXNlcm5hbWU6\r\n+ UGFzc3dvcmQ6\r\n+OK Logged in, 2 messages (45 octets)\r\n+OK 2 45\r\n"
    );
}

#[tokio::test]
async fn second_session_on_the_same_maildrop_gets_in_use_until_the_first_ends() {
    let f = fixture(Config::default()).await;
    let lo: IpAddr = "127.0.0.1".parse().unwrap();
    let mut first = Session::new(&f.server, lo, false, true, false);
    let (out, _) = run(&mut first, &["USER alice@example.test", "PASS alice-pw"]).await;
    assert!(
        out.ends_with("+OK Logged in, 2 messages (45 octets)\r\n"),
        "{out}"
    );
    let mut second = Session::new(&f.server, lo, false, true, false);
    let (out, action) = run(&mut second, &["USER alice@example.test", "PASS alice-pw"]).await;
    assert!(
        out.ends_with("-ERR [IN-USE] Maildrop is locked by another POP3 session\r\n"),
        "{out}"
    );
    assert_eq!(action, Action::Continue);
    // A dropped session (no QUIT) releases the lock too.
    drop(first);
    let (out, _) = run(&mut second, &["USER alice@example.test", "PASS alice-pw"]).await;
    assert!(
        out.ends_with("+OK Logged in, 2 messages (45 octets)\r\n"),
        "{out}"
    );
    let _ = &f.store;
}

#[tokio::test]
async fn pop3_and_pop3s_servers_on_one_store_share_the_failure_count() {
    let f = fixture(Config {
        max_auth_failures_per_ip: 2,
        max_auth_failures: 10,
        ..Config::default()
    })
    .await;
    // What the binary does: one Server per listener, on the same store.
    let pop3s = Server::new(
        f.store.clone(),
        "pop.example.test".into(),
        f.server.config().clone(),
    );
    let ip: IpAddr = "127.0.0.10".parse().unwrap();
    let mut s = Session::new(&f.server, ip, false, true, false);
    run(&mut s, &["USER alice@example.test", "PASS wrong"]).await;
    let mut s = Session::new(&pop3s, ip, true, true, false);
    run(&mut s, &["USER alice@example.test", "PASS wrong"]).await;
    let mut s = Session::new(&f.server, ip, false, true, false);
    let (out, action) = run(&mut s, &["USER alice@example.test", "PASS alice-pw"]).await;
    assert!(
        out.ends_with(
            "-ERR [SYS/TEMP] Too many failed logins from your address, try again later\r\n"
        ),
        "{out}"
    );
    assert_eq!(action, Action::Close);
}

#[tokio::test]
async fn capa_after_login_lists_no_ways_to_log_in() {
    let f = fixture(Config {
        expire_days: Some(30),
        ..Config::default()
    })
    .await;
    let mut s = Session::new(&f.server, "127.0.0.1".parse().unwrap(), false, true, true);
    let (before, _) = run(&mut s, &["CAPA"]).await;
    assert!(
        before.contains("\r\nUSER\r\nSASL PLAIN LOGIN\r\nSTLS\r\nEXPIRE 30\r\n"),
        "{before}"
    );
    let (after, _) = run(
        &mut s,
        &["USER alice@example.test", "PASS alice-pw", "CAPA"],
    )
    .await;
    let caps = after
        .split_once("+OK Capability list follows\r\n")
        .unwrap()
        .1;
    assert_eq!(
        caps,
        "CAPA\r\nTOP\r\nUIDL\r\nRESP-CODES\r\nAUTH-RESP-CODE\r\nPIPELINING\r\nEXPIRE 30\r\n\
IMPLEMENTATION Wharf\r\n.\r\n"
    );
}
