//! Raw-socket transcripts against the in-process server with a real store: the
//! malformed, pipelined, smuggling, STARTTLS and limit cases.

mod common;

use common::{TestServer, start_tls};
use wharf_smtp::Config;
use wharf_store::Store;

const EHLO: &str = "EHLO client.test";

#[tokio::test]
async fn full_transaction_lands_in_the_inbox() {
    let s = TestServer::start(Config::default()).await;
    let mut c = s.connect().await;
    let ehlo = c.cmd(EHLO).await;
    assert!(
        ehlo.contains("250-PIPELINING")
            && ehlo.contains("250-STARTTLS")
            && ehlo.ends_with("250 HELP"),
        "{ehlo}"
    );
    assert_eq!(
        c.cmd("MAIL FROM:<sender@remote.test>").await,
        "250 2.1.0 Sender ok"
    );
    assert_eq!(
        c.cmd("RCPT TO:<alice@example.test>").await,
        "250 2.1.5 Recipient ok"
    );
    assert_eq!(c.cmd("DATA").await, "354 End data with <CR><LF>.<CR><LF>");
    c.send("Subject: hello\r\n\r\n..leading dot\r\n.\r\n").await;
    let r = c.reply().await;
    assert!(r.starts_with("250 2.0.0 Ok: queued as "), "{r}");
    assert_eq!(c.cmd("QUIT").await, "221 2.0.0 Bye");
    assert!(c.closed().await);
    let inbox = s.inbox("alice@example.test").await;
    assert_eq!(inbox.len(), 1);
    let raw = String::from_utf8(inbox[0].clone()).unwrap();
    let id = r.rsplit(' ').next().unwrap();
    assert!(
        raw.starts_with(
            "Return-Path: <sender@remote.test>\r\nReceived: from client.test ([127.0.0.1])\r\n"
        ),
        "{raw}"
    );
    assert!(
        raw.contains(&format!(
            "with ESMTP id {id}\r\n\tfor <alice@example.test>; "
        )),
        "{raw}"
    );
    assert!(
        raw.ends_with("\r\nSubject: hello\r\n\r\n.leading dot\r\n"),
        "{raw}"
    );
}

#[tokio::test]
async fn pipelined_commands_get_replies_in_order() {
    let s = TestServer::start(Config::default()).await;
    let mut c = s.connect().await;
    c.send(
        "EHLO client.test\r\nMAIL FROM:<>\r\nRCPT TO:<ghost@example.test>\r\nRCPT TO:<outside@elsewhere.test>\r\n\
         RCPT TO:<bob@example.test>\r\nDATA\r\n",
    )
    .await;
    assert!(c.reply().await.ends_with("250 HELP"));
    assert_eq!(c.reply().await, "250 2.1.0 Sender ok");
    assert_eq!(c.reply().await, "550 5.1.1 No such user here");
    assert_eq!(c.reply().await, "550 5.7.1 Relaying denied");
    assert_eq!(c.reply().await, "250 2.1.5 Recipient ok");
    assert_eq!(c.reply().await, "354 End data with <CR><LF>.<CR><LF>");
    c.send("one\r\n.\r\nMAIL FROM:<a@b.test>\r\nRCPT TO:<bob@example.test>\r\nDATA\r\n")
        .await;
    assert!(c.reply().await.starts_with("250 2.0.0 Ok: queued as "));
    assert_eq!(c.reply().await, "250 2.1.0 Sender ok");
    assert_eq!(c.reply().await, "250 2.1.5 Recipient ok");
    assert_eq!(c.reply().await, "354 End data with <CR><LF>.<CR><LF>");
    c.send("two\r\n.\r\nQUIT\r\n").await;
    assert!(c.reply().await.starts_with("250 2.0.0 Ok: queued as "));
    assert_eq!(c.reply().await, "221 2.0.0 Bye");
    let inbox = s.inbox("bob@example.test").await;
    assert_eq!(inbox.len(), 2);
    assert!(inbox[0].ends_with(b"\r\none\r\n") && inbox[1].ends_with(b"\r\ntwo\r\n"));
}

/// Each smuggling variant tries to end the first message early and slip a forged
/// second one in. None may end the message; the whole thing is refused.
#[tokio::test]
async fn smuggling_variants_are_refused() {
    let s = TestServer::start(Config::default()).await;
    for (name, trick) in [
        ("\\n.\\n", "\n.\n"),
        ("\\r.\\r", "\r.\r"),
        ("\\r.\\n", "\r.\n"),
        ("\\n.\\r\\n", "\n.\r\n"),
        ("\\r\\n.\\n", "\r\n.\n"),
    ] {
        let mut c = s.connect().await;
        c.cmd(EHLO).await;
        c.cmd("MAIL FROM:<a@remote.test>").await;
        c.cmd("RCPT TO:<alice@example.test>").await;
        assert_eq!(c.cmd("DATA").await, "354 End data with <CR><LF>.<CR><LF>");
        c.send(format!(
            "Subject: one\r\n\r\nbody{trick}MAIL FROM:<ceo@example.test>\r\nRCPT TO:<bob@example.test>\r\nDATA\r\n\
             Subject: forged\r\n\r\nx\r\n.\r\n"
        ))
        .await;
        assert_eq!(
            c.reply().await,
            "550 5.5.2 Error: bare <CR> or <LF> received",
            "{name}"
        );
        // The session goes on, in step.
        assert_eq!(c.cmd("NOOP").await, "250 2.0.0 Ok", "{name}");
        c.cmd("QUIT").await;
    }
    assert!(s.inbox("alice@example.test").await.is_empty());
    assert!(s.inbox("bob@example.test").await.is_empty());
}

#[tokio::test]
async fn nul_before_and_after_the_dot_is_content() {
    let s = TestServer::start(Config::default()).await;
    let mut c = s.connect().await;
    c.cmd(EHLO).await;
    c.cmd("MAIL FROM:<>").await;
    c.cmd("RCPT TO:<alice@example.test>").await;
    c.cmd("DATA").await;
    c.send("a\r\n\0.\r\n.\0\r\nb\r\n.\r\n").await;
    assert!(c.reply().await.starts_with("250 2.0.0 Ok"));
    let inbox = s.inbox("alice@example.test").await;
    assert!(inbox[0].ends_with(b"\r\na\r\n\0.\r\n\0\r\nb\r\n"));
}

#[tokio::test]
async fn starttls_discards_pipelined_plaintext() {
    let s = TestServer::start(Config::default()).await;
    let mut c = s.connect().await;
    c.cmd(EHLO).await;
    // CVE-2011-0411: commands injected behind STARTTLS in the same packet.
    c.send("STARTTLS\r\nMAIL FROM:<evil@x.test>\r\nRCPT TO:<alice@example.test>\r\n")
        .await;
    assert_eq!(c.reply().await, "220 2.0.0 Ready to start TLS");
    let mut t = start_tls(c).await;
    // Fresh state: EHLO is needed again; the injected MAIL was never run.
    assert_eq!(
        t.cmd("RCPT TO:<alice@example.test>").await,
        "503 5.5.1 Send HELO/EHLO first"
    );
    let ehlo = t.cmd(EHLO).await;
    assert!(!ehlo.contains("STARTTLS"), "{ehlo}");
    assert_eq!(
        t.cmd("RCPT TO:<alice@example.test>").await,
        "503 5.5.1 Need MAIL command"
    );
    assert_eq!(t.cmd("STARTTLS").await, "503 5.5.1 TLS already active");
    t.cmd("MAIL FROM:<a@b.test>").await;
    t.cmd("RCPT TO:<alice@example.test>").await;
    t.cmd("DATA").await;
    t.send("secret\r\n.\r\n").await;
    assert!(t.reply().await.starts_with("250 2.0.0 Ok"));
    let raw = String::from_utf8(s.inbox("alice@example.test").await[0].clone()).unwrap();
    assert!(raw.contains(" with ESMTPS id "), "{raw}");
}

#[tokio::test]
async fn size_limits_answer_and_continue() {
    let config = Config {
        max_message_size: 1000,
        ..Config::default()
    };
    let s = TestServer::start(config).await;
    let mut c = s.connect().await;
    assert!(c.cmd(EHLO).await.contains("250-SIZE 1000\n"));
    assert_eq!(
        c.cmd("MAIL FROM:<> SIZE=1001").await,
        "552 5.3.4 Message size exceeds fixed maximum message size"
    );
    c.cmd("MAIL FROM:<>").await;
    c.cmd("RCPT TO:<alice@example.test>").await;
    c.cmd("DATA").await;
    let line = format!("{}\r\n", "x".repeat(98));
    c.send(line.repeat(200)).await; // 20 000 octets
    c.send(".\r\n").await;
    assert_eq!(
        c.reply().await,
        "552 5.3.4 Message size exceeds fixed maximum message size"
    );
    assert_eq!(c.cmd("RSET").await, "250 2.0.0 Ok");
    // BDAT too.
    c.cmd("MAIL FROM:<>").await;
    c.cmd("RCPT TO:<alice@example.test>").await;
    c.send(format!("BDAT 2000 LAST\r\n{}", "y".repeat(2000)))
        .await;
    assert_eq!(
        c.reply().await,
        "552 5.3.4 Message size exceeds fixed maximum message size"
    );
    assert_eq!(c.cmd("NOOP").await, "250 2.0.0 Ok");
    assert!(s.inbox("alice@example.test").await.is_empty());
}

#[tokio::test]
async fn recipient_limit() {
    let config = Config {
        max_recipients: 2,
        ..Config::default()
    };
    let s = TestServer::start(config).await;
    let mut c = s.connect().await;
    c.cmd(EHLO).await;
    c.cmd("MAIL FROM:<>").await;
    assert_eq!(
        c.cmd("RCPT TO:<alice@example.test>").await,
        "250 2.1.5 Recipient ok"
    );
    assert_eq!(
        c.cmd("RCPT TO:<bob@example.test>").await,
        "250 2.1.5 Recipient ok"
    );
    assert_eq!(
        c.cmd("RCPT TO:<postmaster@example.test>").await,
        "452 4.5.3 Too many recipients"
    );
}

#[tokio::test]
async fn quota_is_checked_at_rcpt_and_at_end_of_data() {
    let s = TestServer::start(Config::default()).await;
    let alice = common::addr("alice@example.test");
    // Room for about one small message.
    s.store
        .user_set_quota(&alice, Some(600), None)
        .await
        .unwrap();
    let mut c = s.connect().await;
    c.cmd(EHLO).await;
    c.cmd("MAIL FROM:<>").await;
    assert_eq!(
        c.cmd("RCPT TO:<alice@example.test>").await,
        "250 2.1.5 Recipient ok"
    );
    c.cmd("DATA").await;
    c.send(format!("{}\r\n.\r\n", "z".repeat(1000))).await;
    assert_eq!(
        c.reply().await,
        "552 5.2.2 Mailbox full: message exceeds quota"
    );
    c.cmd("MAIL FROM:<>").await;
    c.cmd("RCPT TO:<alice@example.test>").await;
    c.cmd("DATA").await;
    c.send("small\r\n.\r\n").await;
    assert!(c.reply().await.starts_with("250 2.0.0 Ok"));
    s.store
        .user_set_quota(&alice, Some(100), None)
        .await
        .unwrap();
    c.cmd("MAIL FROM:<>").await;
    assert_eq!(
        c.cmd("RCPT TO:<alice@example.test>").await,
        "452 4.2.2 Mailbox full"
    );
    assert_eq!(s.inbox("alice@example.test").await.len(), 1);
}

#[tokio::test]
async fn aliases_expand_to_one_stored_message_per_mailbox() {
    let s = TestServer::start(Config::default()).await;
    s.store
        .alias_add(
            &common::addr("team@example.test"),
            &[
                common::addr("alice@example.test"),
                common::addr("bob@example.test"),
            ],
        )
        .await
        .unwrap();
    let mut c = s.connect().await;
    c.cmd(EHLO).await;
    c.cmd("MAIL FROM:<x@remote.test>").await;
    assert_eq!(
        c.cmd("RCPT TO:<Team@Example.test>").await,
        "250 2.1.5 Recipient ok"
    );
    assert_eq!(
        c.cmd("RCPT TO:<alice@example.test>").await,
        "250 2.1.5 Recipient ok"
    );
    assert_eq!(
        c.cmd("RCPT TO:<POSTMASTER>").await,
        "250 2.1.5 Recipient ok"
    );
    c.cmd("DATA").await;
    c.send("team news\r\n.\r\n").await;
    assert!(c.reply().await.starts_with("250 2.0.0 Ok"));
    for user in ["alice", "bob", "postmaster"] {
        let inbox = s.inbox(&format!("{user}@example.test")).await;
        assert_eq!(inbox.len(), 1, "{user}");
        assert!(inbox[0].ends_with(b"team news\r\n"));
    }
}

#[tokio::test]
async fn bdat_message() {
    let s = TestServer::start(Config::default()).await;
    let mut c = s.connect().await;
    c.cmd(EHLO).await;
    c.cmd("MAIL FROM:<> BODY=8BITMIME").await;
    c.cmd("RCPT TO:<bob@example.test>").await;
    let part1 = "Subject: chunks\r\n\r\n";
    let part2 = "caf\u{e9}\r\n";
    c.send(format!(
        "BDAT {}\r\n{part1}BDAT {} LAST\r\n{part2}",
        part1.len(),
        part2.len()
    ))
    .await;
    assert_eq!(
        c.reply().await,
        format!("250 2.0.0 {} octets received", part1.len())
    );
    assert!(c.reply().await.starts_with("250 2.0.0 Ok: queued as "));
    let inbox = s.inbox("bob@example.test").await;
    assert!(inbox[0].ends_with(format!("{part1}{part2}").as_bytes()));
}

#[tokio::test]
async fn malformed_input_gets_protocol_errors() {
    let config = Config {
        max_line_len: 512,
        ..Config::default()
    };
    let s = TestServer::start(config).await;
    let mut c = s.connect().await;
    assert_eq!(c.cmd("EHLO").await, "501 5.5.4 Syntax: EHLO hostname");
    assert_eq!(
        c.cmd(&format!("NOOP {}", "a".repeat(5000))).await,
        "500 5.5.2 Line too long"
    );
    assert_eq!(
        c.cmd("\u{1}\u{2}").await,
        "501 5.5.4 Control character in command"
    );
    c.send(b"MAIL FROM:<\xff>\r\n").await;
    assert_eq!(c.reply().await, "501 5.5.4 Invalid UTF-8 in command");
    c.cmd(EHLO).await;
    assert_eq!(
        c.cmd("MAIL FROM:<a@b.test> FROB=1").await,
        "555 5.5.4 Unsupported parameter FROB"
    );
    assert_eq!(
        c.cmd("MAIL FROM:<a b@c.test>").await,
        "501 5.1.7 Bad sender address syntax"
    );
    assert_eq!(c.cmd("TURN").await, "502 5.5.1 TURN not implemented");
    assert_eq!(c.cmd("NOOP").await, "250 2.0.0 Ok");
}

#[tokio::test]
async fn too_many_errors_closes_the_connection() {
    let config = Config {
        max_errors: 3,
        ..Config::default()
    };
    let s = TestServer::start(config).await;
    let mut c = s.connect().await;
    c.send("XX\r\nYY\r\nZZ\r\nNOOP\r\n").await;
    assert_eq!(c.reply().await, "500 5.5.2 Command unrecognized");
    assert_eq!(c.reply().await, "500 5.5.2 Command unrecognized");
    assert_eq!(c.reply().await, "500 5.5.2 Command unrecognized");
    assert_eq!(
        c.reply().await,
        "421 4.7.0 mx.example.test Too many errors, closing"
    );
    assert!(c.closed().await);
}

#[tokio::test]
async fn idle_client_is_told_and_dropped() {
    let config = Config {
        idle_timeout_secs: 1,
        ..Config::default()
    };
    let s = TestServer::start(config).await;
    let mut c = s.connect().await;
    assert_eq!(
        c.reply().await,
        "421 4.4.2 mx.example.test Timeout exceeded, closing"
    );
    assert!(c.closed().await);
}

#[tokio::test]
async fn shutdown_finishes_the_session_with_421() {
    let s = TestServer::start(Config::default()).await;
    let mut c = s.connect().await;
    c.cmd(EHLO).await;
    s.shutdown.trigger();
    assert_eq!(
        c.reply().await,
        "421 4.3.2 mx.example.test Service shutting down"
    );
    assert!(c.closed().await);
}

#[tokio::test]
async fn client_vanishing_mid_data_stores_nothing() {
    let s = TestServer::start(Config::default()).await;
    let mut c = s.connect().await;
    c.cmd(EHLO).await;
    c.cmd("MAIL FROM:<>").await;
    c.cmd("RCPT TO:<alice@example.test>").await;
    c.cmd("DATA").await;
    c.send("half a message\r\n").await;
    drop(c);
    // A later session still works and sees an empty mailbox.
    let mut c = s.connect().await;
    assert_eq!(c.cmd("NOOP").await, "250 2.0.0 Ok");
    assert!(s.inbox("alice@example.test").await.is_empty());
}

#[tokio::test]
async fn concurrent_sessions_each_message_stored_once() {
    let s = std::sync::Arc::new(TestServer::start(Config::default()).await);
    let mut tasks = Vec::new();
    for worker in 0..8 {
        let s = s.clone();
        tasks.push(tokio::spawn(async move {
            let mut c = s.connect().await;
            c.cmd(EHLO).await;
            for n in 0..10 {
                // Pipelined, as a bulk sender would.
                c.send(format!(
                    "MAIL FROM:<w{worker}@remote.test>\r\nRCPT TO:<alice@example.test>\r\nRCPT TO:<bob@example.test>\r\nDATA\r\n"
                ))
                .await;
                assert_eq!(c.reply().await, "250 2.1.0 Sender ok");
                assert_eq!(c.reply().await, "250 2.1.5 Recipient ok");
                assert_eq!(c.reply().await, "250 2.1.5 Recipient ok");
                assert_eq!(c.reply().await, "354 End data with <CR><LF>.<CR><LF>");
                c.send(format!("X-Tag: w{worker}-m{n}\r\n\r\nbody\r\n.\r\n")).await;
                assert!(c.reply().await.starts_with("250 2.0.0 Ok: queued as "));
            }
            c.cmd("QUIT").await;
        }));
    }
    for t in tasks {
        t.await.unwrap();
    }
    for user in ["alice@example.test", "bob@example.test"] {
        let inbox = s.inbox(user).await;
        assert_eq!(inbox.len(), 80, "{user}");
        let mut tags: Vec<String> = inbox
            .iter()
            .map(|m| {
                let text = String::from_utf8_lossy(m);
                let i = text.find("X-Tag: ").unwrap();
                text[i + 7..].split("\r\n").next().unwrap().to_string()
            })
            .collect();
        tags.sort();
        tags.dedup();
        assert_eq!(tags.len(), 80, "{user}: every message exactly once");
    }
}

#[tokio::test]
async fn connections_over_the_per_ip_limit_get_421() {
    let s = TestServer::start_limited(Config::default(), 1).await;
    let mut first = s.connect().await;
    let mut second = common::Client::new(tokio::net::TcpStream::connect(s.addr).await.unwrap());
    assert_eq!(
        second.reply().await,
        "421 4.7.0 Too many connections from your address, try again later"
    );
    assert!(second.closed().await);
    assert_eq!(first.cmd("NOOP").await, "250 2.0.0 Ok");
}
