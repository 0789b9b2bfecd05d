//! The outbound worker for real: a local DNS server (UDP, answering from a little zone
//! built per test, through hickory-resolver) and a local SMTP sink that records what
//! it receives and answers RCPTs by rule; a real `SqliteStore` holds the queue. The
//! worker is driven with `run_once`, so nothing depends on timing.

mod common;

use common::addr;
use hickory_resolver::proto::op::{Message, MessageType, ResponseCode};
use hickory_resolver::proto::rr::rdata::{A, MX};
use hickory_resolver::proto::rr::{Name, RData, Record, RecordType};
use std::collections::HashMap;
use std::net::{Ipv4Addr, SocketAddr};
use std::sync::{Arc, Mutex};
use tokio::io::{AsyncBufReadExt, AsyncRead, AsyncWrite, AsyncWriteExt, BufReader};
use tokio::net::{TcpListener, UdpSocket};
use wharf_smtp::outbound::Worker;
use wharf_smtp::outbound::dns::HickoryResolver;
use wharf_smtp::{DnsConfig, OutboundConfig};
use wharf_store::queue::{QueueEnvelope, QueueId, QueueRecipientSpec, RecipientState};
use wharf_store::{DomainName, DynStore, Secret, SqliteStore, Store};

// ---- DNS ----

#[derive(Default, Clone)]
struct Zone {
    mx: HashMap<String, Vec<(u16, String)>>,
    a: HashMap<String, Ipv4Addr>,
}

/// Answers MX and A queries from `zone`; names not in it are NXDOMAIN.
async fn dns_server(zone: Zone) -> SocketAddr {
    let sock = UdpSocket::bind("127.0.0.1:0").await.unwrap();
    let local = sock.local_addr().unwrap();
    tokio::spawn(async move {
        let mut buf = vec![0u8; 4096];
        loop {
            let Ok((n, peer)) = sock.recv_from(&mut buf).await else {
                return;
            };
            let Ok(req) = Message::from_vec(&buf[..n]) else {
                continue;
            };
            let Some(q) = req.queries.first().cloned() else {
                continue;
            };
            let name = q.name().to_ascii().trim_end_matches('.').to_lowercase();
            let mut resp =
                Message::new(req.metadata.id, MessageType::Response, req.metadata.op_code);
            resp.metadata.recursion_desired = req.metadata.recursion_desired;
            resp.metadata.recursion_available = true;
            resp.metadata.authoritative = true;
            resp.add_query(q.clone());
            let known = zone.mx.contains_key(&name) || zone.a.contains_key(&name);
            match q.query_type() {
                RecordType::MX => {
                    for (pref, host) in zone.mx.get(&name).into_iter().flatten() {
                        let exch = if host.is_empty() {
                            Name::root()
                        } else {
                            Name::from_ascii(format!("{host}.")).unwrap()
                        };
                        resp.add_answer(Record::from_rdata(
                            q.name().clone(),
                            60,
                            RData::MX(MX::new(*pref, exch)),
                        ));
                    }
                }
                RecordType::A => {
                    if let Some(ip) = zone.a.get(&name) {
                        resp.add_answer(Record::from_rdata(q.name().clone(), 60, RData::A(A(*ip))));
                    }
                }
                _ => {}
            }
            if !known {
                resp.metadata.response_code = ResponseCode::NXDomain;
            }
            let _ = sock.send_to(&resp.to_vec().unwrap(), peer).await;
        }
    });
    local
}

// ---- SMTP sink ----

#[derive(Debug, Clone, Default)]
struct Received {
    mail: String,
    rcpts: Vec<String>,
    data: String,
    tls: bool,
}

#[derive(Clone)]
struct Sink {
    addr: SocketAddr,
    got: Arc<Mutex<Vec<Received>>>,
    /// RCPT replies by local part; anything else is 250.
    rules: Arc<Mutex<HashMap<String, String>>>,
    /// Never answer the end of data (the "crash after the remote took it" window).
    hang_after_data: Arc<std::sync::atomic::AtomicBool>,
    /// Signalled when a message's data has been read.
    data_seen: Arc<tokio::sync::Notify>,
}

impl Sink {
    async fn start(ext: &'static [&'static str]) -> Sink {
        Sink::start_on("127.0.0.1:0", ext).await
    }

    async fn start_on(bind: &str, ext: &'static [&'static str]) -> Sink {
        let listener = TcpListener::bind(bind).await.unwrap();
        let sink = Sink {
            addr: listener.local_addr().unwrap(),
            got: Arc::default(),
            rules: Arc::default(),
            hang_after_data: Arc::default(),
            data_seen: Arc::default(),
        };
        let s = sink.clone();
        let dir = tempfile::tempdir().unwrap();
        let tls = wharf_net::tls::acceptor(&wharf_net::tls::TlsSource::SelfSigned {
            dir: dir.path().to_path_buf(),
            hostname: "sink.test".into(),
        })
        .unwrap();
        tokio::spawn(async move {
            let _dir = dir;
            loop {
                let Ok((tcp, _)) = listener.accept().await else {
                    return;
                };
                let s = s.clone();
                let tls = tls.clone();
                tokio::spawn(async move {
                    let mut tcp = tcp;
                    tcp.write_all(b"220 sink.test ESMTP\r\n").await.unwrap();
                    if let Some(tcp) = s.session(tcp, ext, false).await {
                        let Ok(stream) = tls.accept(tcp).await else {
                            return;
                        };
                        s.session(stream, ext, true).await;
                    }
                });
            }
        });
        sink
    }

    fn rule(&self, local: &str, reply: &str) {
        self.rules
            .lock()
            .unwrap()
            .insert(local.into(), reply.into());
    }

    fn received(&self) -> Vec<Received> {
        self.got.lock().unwrap().clone()
    }

    /// Runs until QUIT (None) or STARTTLS (the stream back, to be upgraded).
    async fn session<S: AsyncRead + AsyncWrite + Unpin + Send>(
        &self,
        stream: S,
        ext: &[&str],
        tls: bool,
    ) -> Option<S> {
        let mut io = BufReader::new(stream);
        let mut cur = Received {
            tls,
            ..Default::default()
        };
        loop {
            let mut line = String::new();
            if io.read_line(&mut line).await.ok()? == 0 {
                return None;
            }
            let line = line.trim_end().to_string();
            let verb = line.split(' ').next().unwrap_or("").to_ascii_uppercase();
            let reply: String = match verb.as_str() {
                "EHLO" => {
                    let mut r = String::from("250-sink.test\r\n");
                    for e in ext.iter().filter(|e| !(tls && **e == "STARTTLS")) {
                        r.push_str(&format!("250-{e}\r\n"));
                    }
                    r + "250 OK\r\n"
                }
                "STARTTLS" => {
                    io.get_mut().write_all(b"220 go ahead\r\n").await.ok()?;
                    return Some(io.into_inner());
                }
                "MAIL" => {
                    cur = Received {
                        tls,
                        mail: line.clone(),
                        ..Default::default()
                    };
                    "250 2.1.0 ok\r\n".into()
                }
                "RCPT" => {
                    let local = line.split(['<', '@']).nth(1).unwrap_or("").to_string();
                    match self.rules.lock().unwrap().get(&local) {
                        Some(r) => format!("{r}\r\n"),
                        None => {
                            cur.rcpts.push(line.clone());
                            "250 2.1.5 ok\r\n".into()
                        }
                    }
                }
                "DATA" => {
                    io.get_mut().write_all(b"354 go\r\n").await.ok()?;
                    let mut data = String::new();
                    loop {
                        let mut l = String::new();
                        if io.read_line(&mut l).await.ok()? == 0 {
                            return None;
                        }
                        if l == ".\r\n" {
                            break;
                        }
                        data.push_str(l.strip_prefix('.').unwrap_or(&l));
                    }
                    cur.data = data;
                    self.got.lock().unwrap().push(cur.clone());
                    self.data_seen.notify_one();
                    if self
                        .hang_after_data
                        .load(std::sync::atomic::Ordering::SeqCst)
                    {
                        std::future::pending::<()>().await;
                    }
                    "250 2.0.0 queued\r\n".into()
                }
                "RSET" | "NOOP" => "250 2.0.0 ok\r\n".into(),
                "QUIT" => {
                    let _ = io.get_mut().write_all(b"221 bye\r\n").await;
                    return None;
                }
                _ => "502 5.5.1 no\r\n".into(),
            };
            io.get_mut().write_all(reply.as_bytes()).await.ok()?;
        }
    }
}

const FULL: &[&str] = &[
    "PIPELINING",
    "8BITMIME",
    "SIZE 100000",
    "DSN",
    "SMTPUTF8",
    "STARTTLS",
];

// ---- the store and the worker ----

struct Env {
    store: Arc<SqliteStore>,
    _dir: tempfile::TempDir,
}

async fn env() -> Env {
    let dir = tempfile::tempdir().unwrap();
    let store = SqliteStore::open(&dir.path().join("data")).unwrap();
    store
        .domain_add(&DomainName::parse("example.test").unwrap())
        .await
        .unwrap();
    store
        .user_add(&addr("alice@example.test"), &Secret::new("pw"))
        .await
        .unwrap();
    Env { store, _dir: dir }
}

impl Env {
    async fn worker(&self, zone: Zone, config: OutboundConfig) -> Arc<Worker> {
        let dns = dns_server(zone).await;
        let resolver = HickoryResolver::new(&DnsConfig {
            nameservers: vec![dns.to_string()],
        })
        .unwrap();
        let store: DynStore = self.store.clone();
        Worker::new(store, "mx.example.test".into(), config, Arc::new(resolver)).unwrap()
    }

    async fn queue(
        &self,
        sender: &str,
        rcpts: &[(&str, Option<&str>)],
        envid: Option<&str>,
        ret: Option<&str>,
        body: &str,
    ) -> QueueId {
        let env = QueueEnvelope {
            sender: sender.into(),
            envid: envid.map(String::from),
            ret: ret.map(String::from),
            recipients: rcpts
                .iter()
                .map(|(a, notify)| QueueRecipientSpec {
                    address: a.to_string(),
                    orcpt: Some(format!("rfc822;{a}")),
                    notify: notify.map(String::from),
                })
                .collect(),
            ..Default::default()
        };
        self.store
            .queue_add(QueueId::generate(), body.as_bytes().to_vec(), env)
            .await
            .unwrap()
    }

    async fn inbox(&self, user: &str) -> Vec<String> {
        let account = self.store.user_get(&addr(user)).await.unwrap().unwrap();
        let mailbox = self
            .store
            .mailbox_get(account.id, "INBOX")
            .await
            .unwrap()
            .unwrap();
        let snap = self.store.mailbox_snapshot(mailbox.id).await.unwrap();
        let mut out = Vec::new();
        for m in snap.messages {
            out.push(
                String::from_utf8_lossy(&self.store.read_body(m.blob).await.unwrap()).into_owned(),
            );
        }
        out
    }
}

fn config(port: u16) -> OutboundConfig {
    OutboundConfig {
        port,
        ..Default::default()
    }
}

const BODY: &str = "From: alice@example.test\r\nSubject: outbound\r\n\r\nHello\r\n.dot line\r\n";

#[tokio::test]
async fn mx_preference_fallback_one_transaction_for_recipients_sharing_it() {
    let e = env().await;
    let sink = Sink::start(FULL).await;
    let mut zone = Zone::default();
    // mx1 (preferred) has nothing listening; mx2 is the sink.
    zone.mx.insert(
        "a.test".into(),
        vec![(20, "mx2.a.test".into()), (10, "mx1.a.test".into())],
    );
    zone.a
        .insert("mx1.a.test".into(), Ipv4Addr::new(127, 0, 0, 3));
    zone.a
        .insert("mx2.a.test".into(), Ipv4Addr::new(127, 0, 0, 1));
    let w = e.worker(zone, config(sink.addr.port())).await;
    let id = e
        .queue(
            "alice@example.test",
            &[("x@a.test", None), ("y@a.test", None)],
            None,
            None,
            BODY,
        )
        .await;
    assert_eq!(w.run_once().await.unwrap(), 1);
    let got = sink.received();
    assert_eq!(got.len(), 1, "one transaction: {got:?}");
    assert_eq!(
        got[0].mail,
        format!("MAIL FROM:<alice@example.test> SIZE={}", BODY.len())
    );
    assert_eq!(
        got[0].rcpts,
        [
            "RCPT TO:<x@a.test> ORCPT=rfc822;x@a.test",
            "RCPT TO:<y@a.test> ORCPT=rfc822;y@a.test"
        ]
    );
    assert_eq!(got[0].data, BODY);
    // Opportunistic STARTTLS was used (the sink's certificate is self-signed).
    assert!(got[0].tls);
    // Everything delivered: the message left the queue.
    assert!(e.store.queue_get(id).await.unwrap().is_none());
    assert!(
        e.inbox("alice@example.test").await.is_empty(),
        "no DSN for success"
    );
}

#[tokio::test]
async fn null_mx_and_missing_domain_fail_at_once_with_a_dsn() {
    let e = env().await;
    let mut zone = Zone::default();
    zone.mx.insert("null.test".into(), vec![(0, String::new())]);
    let w = e.worker(zone, config(1)).await;
    let id = e
        .queue(
            "alice@example.test",
            &[("u@null.test", None), ("v@nx.test", None)],
            Some("env+2B1"),
            Some("HDRS"),
            BODY,
        )
        .await;
    w.run_once().await.unwrap();
    assert!(e.store.queue_get(id).await.unwrap().is_none());
    let inbox = e.inbox("alice@example.test").await;
    assert_eq!(inbox.len(), 1, "one DSN for both");
    let dsn = &inbox[0];
    assert!(
        dsn.starts_with("Return-Path: <>\r\nReceived: by mx.example.test (Wharf) id "),
        "{dsn}"
    );
    assert!(
        dsn.contains("Content-Type: multipart/report; report-type=delivery-status;"),
        "{dsn}"
    );
    assert!(dsn.contains("Original-Envelope-Id: env+1\r\n"), "{dsn}");
    assert!(dsn.contains("Original-Recipient: rfc822; u@null.test\r\nFinal-Recipient: rfc822; u@null.test\r\nAction: failed\r\nStatus: 5.1.10\r\n"), "{dsn}");
    assert!(
        dsn.contains("Final-Recipient: rfc822; v@nx.test\r\nAction: failed\r\nStatus: 5.1.2\r\n"),
        "{dsn}"
    );
    // RET=HDRS: the header only.
    assert!(dsn.contains("Content-Type: text/rfc822-headers\r\n\r\nFrom: alice@example.test\r\nSubject: outbound\r\n"), "{dsn}");
    assert!(!dsn.contains("Hello"), "{dsn}");
}

#[tokio::test]
async fn temporary_failure_defers_permanent_bounces_retry_delivers() {
    let e = env().await;
    let sink = Sink::start(FULL).await;
    sink.rule("later", "451 4.3.0 try again later");
    sink.rule("nobody", "550 5.1.1 no such user");
    let mut config = config(sink.addr.port());
    config
        .routes
        .insert("b.test".into(), format!("127.0.0.1:{}", sink.addr.port()));
    let w = e.worker(Zone::default(), config).await;
    let id = e
        .queue(
            "alice@example.test",
            &[
                ("good@b.test", Some("SUCCESS,FAILURE")),
                ("later@b.test", None),
                ("nobody@b.test", None),
            ],
            None,
            None,
            BODY,
        )
        .await;
    let before = chrono::Utc::now().timestamp();
    w.run_once().await.unwrap();
    let got = sink.received();
    assert_eq!(got.len(), 1);
    // DSN parameters passed on to a server that offers DSN.
    assert_eq!(
        got[0].rcpts,
        ["RCPT TO:<good@b.test> NOTIFY=SUCCESS,FAILURE ORCPT=rfc822;good@b.test"]
    );
    let entry = e.store.queue_get(id).await.unwrap().unwrap();
    let by = |a: &str| {
        entry
            .recipients
            .iter()
            .find(|r| r.spec.address == a)
            .unwrap()
            .clone()
    };
    assert_eq!(by("good@b.test").state, RecipientState::Delivered);
    assert_eq!(by("nobody@b.test").state, RecipientState::Failed);
    let later = by("later@b.test");
    assert_eq!(later.state, RecipientState::Pending);
    assert!(
        later
            .last_error
            .as_deref()
            .unwrap()
            .contains("451 4.3.0 try again later"),
        "{later:?}"
    );
    // First retry interval of the default schedule: 5 minutes.
    assert!(
        later.next_attempt >= before + 300 && later.next_attempt <= before + 310,
        "{later:?}"
    );
    // The bounce names only the failed recipient.
    let inbox = e.inbox("alice@example.test").await;
    assert_eq!(inbox.len(), 1);
    assert!(inbox[0].contains("Final-Recipient: rfc822; nobody@b.test\r\nAction: failed\r\nStatus: 5.1.1\r\nRemote-MTA: dns; 127.0.0.1\r\nDiagnostic-Code: smtp; 127.0.0.1[127.0.0.1] said: 550 5.1.1 no such user\r\n"), "{}", inbox[0]);
    assert!(
        !inbox[0].contains("later@b.test") && !inbox[0].contains("Final-Recipient: rfc822; good@"),
        "{}",
        inbox[0]
    );
    // Not due yet: nothing happens.
    assert_eq!(w.run_once().await.unwrap(), 0);
    // `wharf queue retry`, and the server now takes it.
    sink.rules.lock().unwrap().clear();
    assert_eq!(e.store.queue_retry(Some(id)).await.unwrap(), 1);
    w.run_once().await.unwrap();
    let got = sink.received();
    assert_eq!(got.len(), 2);
    assert_eq!(
        got[1].rcpts,
        ["RCPT TO:<later@b.test> ORCPT=rfc822;later@b.test"]
    );
    assert!(e.store.queue_get(id).await.unwrap().is_none());
}

#[tokio::test]
async fn connection_failure_defers_and_max_age_bounces() {
    let e = env().await;
    let mut config = config(1);
    config
        .routes
        .insert("down.test".into(), "127.0.0.1:1".into());
    config.max_age = "0s".into();
    let w = e.worker(Zone::default(), config).await;
    let id = e
        .queue(
            "alice@example.test",
            &[("u@down.test", None)],
            None,
            None,
            BODY,
        )
        .await;
    w.run_once().await.unwrap();
    assert!(e.store.queue_get(id).await.unwrap().is_none());
    let inbox = e.inbox("alice@example.test").await;
    assert_eq!(inbox.len(), 1);
    assert!(
        inbox[0].contains("Action: failed\r\nStatus: 5.4.1\r\n"),
        "{}",
        inbox[0]
    );
    assert!(inbox[0].contains("gave up after"), "{}", inbox[0]);
    // With the default max_age the same failure only defers.
    let mut config = OutboundConfig::default();
    config
        .routes
        .insert("down.test".into(), "127.0.0.1:1".into());
    let w = e.worker(Zone::default(), config).await;
    let id = e
        .queue(
            "alice@example.test",
            &[("u@down.test", None)],
            None,
            None,
            BODY,
        )
        .await;
    w.run_once().await.unwrap();
    let entry = e.store.queue_get(id).await.unwrap().unwrap();
    assert_eq!(entry.recipients[0].state, RecipientState::Pending);
    assert!(
        entry.recipients[0]
            .last_error
            .as_deref()
            .unwrap()
            .contains("connect to 127.0.0.1[127.0.0.1]:1"),
        "{:?}",
        entry.recipients[0]
    );
}

#[tokio::test]
async fn no_dsn_to_the_null_sender_or_with_notify_never() {
    let e = env().await;
    let mut zone = Zone::default();
    zone.mx.insert("null.test".into(), vec![(0, String::new())]);
    let w = e.worker(zone, config(1)).await;
    let a = e
        .queue("", &[("u@null.test", None)], None, None, BODY)
        .await;
    let b = e
        .queue(
            "alice@example.test",
            &[("u@null.test", Some("NEVER"))],
            None,
            None,
            BODY,
        )
        .await;
    w.run_once().await.unwrap();
    assert!(e.store.queue_get(a).await.unwrap().is_none());
    assert!(e.store.queue_get(b).await.unwrap().is_none());
    assert!(e.inbox("alice@example.test").await.is_empty());
    assert!(
        e.store.queue_list().await.unwrap().is_empty(),
        "no bounce queued either"
    );
}

#[tokio::test]
async fn smtputf8_and_8bit_need_the_extensions() {
    let e = env().await;
    let sink = Sink::start(&["PIPELINING"]).await;
    let mut config = config(sink.addr.port());
    config
        .routes
        .insert("c.test".into(), format!("127.0.0.1:{}", sink.addr.port()));
    let w = e.worker(Zone::default(), config).await;
    let id = e
        .queue(
            "alice@example.test",
            &[("u@c.test", None)],
            None,
            None,
            "Subject: caf\u{e9}\r\n\r\nx\r\n",
        )
        .await;
    w.run_once().await.unwrap();
    assert!(e.store.queue_get(id).await.unwrap().is_none());
    assert!(sink.received().is_empty());
    let inbox = e.inbox("alice@example.test").await;
    assert!(inbox[0].contains("Status: 5.6.3\r\n"), "{}", inbox[0]);
    let env = QueueEnvelope {
        sender: "alice@example.test".into(),
        smtputf8: true,
        recipients: vec![QueueRecipientSpec {
            address: "u@c.test".into(),
            orcpt: None,
            notify: None,
        }],
        ..Default::default()
    };
    e.store
        .queue_add(
            QueueId::generate(),
            b"Subject: x\r\n\r\nx\r\n".to_vec(),
            env,
        )
        .await
        .unwrap();
    w.run_once().await.unwrap();
    let inbox = e.inbox("alice@example.test").await;
    assert!(inbox[1].contains("Status: 5.6.7\r\n"), "{}", inbox[1]);
}

#[tokio::test]
async fn smarthost_with_auth_gets_everything() {
    let e = env().await;
    // The smarthost here is our own submission server, which needs AUTH: the worker
    // must log in (plaintext is fine to loopback) and relay through it.
    let s = common::TestServer::start_submission().await;
    let mut config = config(1);
    config.smarthost = Some(s.addr.to_string());
    config.smarthost_user = Some("bob@example.test".into());
    config.smarthost_password = Some(wharf_store::Secret::new("pw"));
    let w = e.worker(Zone::default(), config).await;
    // The smarthost only lets bob send as bob, in the envelope and in the header.
    let id = e
        .queue(
            "bob@example.test",
            &[("alice@example.test", None)],
            None,
            None,
            &BODY.replace("From: alice@", "From: bob@"),
        )
        .await;
    w.run_once().await.unwrap();
    assert!(e.store.queue_get(id).await.unwrap().is_none());
    let inbox = s.inbox("alice@example.test").await;
    assert_eq!(inbox.len(), 1);
    let raw = String::from_utf8_lossy(&inbox[0]);
    assert!(
        raw.contains("with ESMTPSA id") || raw.contains("with ESMTPA id"),
        "{raw}"
    );
}

#[tokio::test]
async fn crash_before_the_final_reply_leaves_the_recipient_pending() {
    let e = env().await;
    let sink = Sink::start(FULL).await;
    sink.hang_after_data
        .store(true, std::sync::atomic::Ordering::SeqCst);
    let mut config = config(sink.addr.port());
    config
        .routes
        .insert("d.test".into(), format!("127.0.0.1:{}", sink.addr.port()));
    let w = e.worker(Zone::default(), config.clone()).await;
    let id = e
        .queue(
            "alice@example.test",
            &[("u@d.test", None)],
            None,
            None,
            BODY,
        )
        .await;
    // The delivery is cut off (as by kill -9) after the data went out, before the
    // remote server's reply was read and recorded.
    let task = tokio::spawn({
        let w = w.clone();
        async move { w.run_once().await }
    });
    sink.data_seen.notified().await;
    task.abort();
    let _ = task.await;
    let entry = e.store.queue_get(id).await.unwrap().unwrap();
    assert_eq!(entry.recipients[0].state, RecipientState::Pending);
    assert_eq!(entry.recipients[0].attempts, 0, "nothing recorded");
    // After "restart" it is delivered again: the documented duplicate window.
    sink.hang_after_data
        .store(false, std::sync::atomic::Ordering::SeqCst);
    let w = e.worker(Zone::default(), config).await;
    w.run_once().await.unwrap();
    assert!(e.store.queue_get(id).await.unwrap().is_none());
    assert_eq!(sink.received().len(), 2);
}

#[tokio::test]
async fn delay_warning_is_sent_once() {
    let e = env().await;
    let mut config = config(1);
    config
        .routes
        .insert("down.test".into(), "127.0.0.1:1".into());
    config.delay_warning = Some("0s".into());
    let w = e.worker(Zone::default(), config).await;
    let id = e
        .queue(
            "alice@example.test",
            &[("u@down.test", None)],
            Some("e7"),
            None,
            BODY,
        )
        .await;
    w.run_once().await.unwrap();
    let inbox = e.inbox("alice@example.test").await;
    assert_eq!(inbox.len(), 1);
    assert!(
        inbox[0].contains("Subject: Delayed Mail (still being retried)\r\n"),
        "{}",
        inbox[0]
    );
    assert!(
        inbox[0].contains("Action: delayed\r\nStatus: 4.4.1\r\n"),
        "{}",
        inbox[0]
    );
    let entry = e.store.queue_get(id).await.unwrap().unwrap();
    assert!(entry.recipients[0].delay_notified);
    e.store.queue_retry(Some(id)).await.unwrap();
    w.run_once().await.unwrap();
    assert_eq!(
        e.inbox("alice@example.test").await.len(),
        1,
        "only one warning"
    );
}

#[tokio::test]
async fn submitted_with_lettre_then_delivered_by_the_worker() {
    use lettre::transport::smtp::authentication::Credentials;
    use lettre::transport::smtp::client::{Tls, TlsParameters};
    use lettre::{AsyncSmtpTransport, AsyncTransport, Tokio1Executor};
    let s = common::TestServer::start_submission().await;
    let sink = Sink::start(FULL).await;
    let params = TlsParameters::builder("localhost".into())
        .dangerous_accept_invalid_certs(true)
        .build_rustls()
        .unwrap();
    let mailer = AsyncSmtpTransport::<Tokio1Executor>::builder_dangerous("127.0.0.1")
        .port(s.addr.port())
        .tls(Tls::Required(params))
        .credentials(Credentials::new("alice@example.test".into(), "pw".into()))
        .build();
    let envelope = lettre::address::Envelope::new(
        Some("alice@example.test".parse().unwrap()),
        vec![
            "carol@remote.test".parse().unwrap(),
            "bob@example.test".parse().unwrap(),
        ],
    )
    .unwrap();
    let body = b"From: alice@example.test\r\nTo: carol@remote.test\r\nBcc: bob@example.test\r\nSubject: via lettre\r\n\r\nHi Carol\r\n";
    let resp = mailer.send_raw(&envelope, body).await.unwrap();
    assert_eq!(resp.code().to_string(), "250");
    // bob (local) has it already; carol's copy waits in the queue.
    assert_eq!(s.inbox("bob@example.test").await.len(), 1);
    let queued = s.store.queue_list().await.unwrap();
    assert_eq!(queued.len(), 1);
    assert_eq!(
        queued[0].envelope.recipients[0].address,
        "carol@remote.test"
    );
    // A wrong password is 535 5.7.8.
    let bad = AsyncSmtpTransport::<Tokio1Executor>::builder_dangerous("127.0.0.1")
        .port(s.addr.port())
        .credentials(Credentials::new("alice@example.test".into(), "nope".into()))
        .build();
    let err = bad.send_raw(&envelope, body).await.unwrap_err();
    assert!(err.to_string().contains("5.7.8"), "{err}");
    // The worker carries carol's copy to her server.
    let mut config = config(sink.addr.port());
    config.routes.insert(
        "remote.test".into(),
        format!("127.0.0.1:{}", sink.addr.port()),
    );
    let store: DynStore = s.store.clone();
    let w = Worker::new(
        store,
        "mx.example.test".into(),
        config,
        Arc::new(
            HickoryResolver::new(&DnsConfig {
                nameservers: vec!["127.0.0.1:9".into()],
            })
            .unwrap(),
        ),
    )
    .unwrap();
    w.run_once().await.unwrap();
    let got = sink.received();
    assert_eq!(got.len(), 1);
    assert_eq!(
        got[0].mail,
        format!("MAIL FROM:<alice@example.test> SIZE={}", got[0].data.len())
    );
    assert!(
        got[0].data.starts_with("Received: from "),
        "{}",
        got[0].data
    );
    assert!(got[0].data.contains(" with ESMTPSA id "), "{}", got[0].data);
    assert!(!got[0].data.contains("Bcc"), "{}", got[0].data);
    assert!(
        got[0].data.contains("\r\nMessage-ID: <") && got[0].data.contains("\r\nDate: "),
        "{}",
        got[0].data
    );
    assert!(s.store.queue_list().await.unwrap().is_empty());
}

#[tokio::test]
async fn the_run_loop_delivers_and_stops_on_shutdown() {
    let e = env().await;
    let sink = Sink::start(FULL).await;
    let mut config = config(sink.addr.port());
    config
        .routes
        .insert("r.test".into(), format!("127.0.0.1:{}", sink.addr.port()));
    config.poll_interval_secs = 3600;
    let w = e.worker(Zone::default(), config).await;
    let shutdown = wharf_net::Shutdown::new();
    let task = tokio::spawn(w.clone().run(shutdown.signal()));
    let id = e
        .queue(
            "alice@example.test",
            &[("u@r.test", None)],
            None,
            None,
            BODY,
        )
        .await;
    wharf_smtp::outbound::kick();
    // Bounded only so that a broken wake-up fails instead of hanging.
    tokio::time::timeout(
        std::time::Duration::from_secs(60),
        sink.data_seen.notified(),
    )
    .await
    .expect("the worker delivered after being woken");
    shutdown.trigger();
    tokio::time::timeout(std::time::Duration::from_secs(60), task)
        .await
        .expect("the worker stopped")
        .unwrap();
    assert_eq!(sink.received().len(), 1);
    // The worker stopped only after recording the delivery.
    assert!(e.store.queue_get(id).await.unwrap().is_none());
}

struct Blocklist;

#[async_trait::async_trait]
impl wharf_smtp::InboundCheck for Blocklist {
    async fn connect(&self, peer: std::net::IpAddr) -> Option<String> {
        Some(format!(
            "Service unavailable; client [{peer}] blocked using zen.example"
        ))
    }
    async fn message(
        &self,
        _: std::net::IpAddr,
        _: &str,
        _: &str,
        _: &[u8],
        _: &str,
    ) -> wharf_smtp::InboundVerdict {
        wharf_smtp::InboundVerdict::default()
    }
}

#[tokio::test]
async fn exchanger_refuses_listed_clients_at_connect() {
    let e = env().await;
    let store: DynStore = e.store.clone();
    let server = wharf_smtp::Server::with_hooks(
        store,
        "mx.example.test".into(),
        wharf_smtp::Config::default(),
        wharf_smtp::Mode::Exchanger,
        Default::default(),
        wharf_smtp::Hooks {
            inbound: Some(Arc::new(Blocklist)),
            ..Default::default()
        },
    );
    let listener = TcpListener::bind("127.0.0.1:0").await.unwrap();
    let at = listener.local_addr().unwrap();
    let shutdown = wharf_net::Shutdown::new();
    tokio::spawn(wharf_net::serve(
        listener,
        server,
        wharf_net::ListenOptions {
            implicit_tls: None,
            starttls: None,
            limiter: wharf_net::IpLimiter::new(0),
        },
        shutdown.signal(),
    ));
    let mut c = common::Client::new(tokio::net::TcpStream::connect(at).await.unwrap());
    assert_eq!(
        c.reply().await,
        "554 5.7.1 Service unavailable; client [127.0.0.1] blocked using zen.example"
    );
    assert!(c.closed().await);
}

#[tokio::test]
async fn eight_bit_text_is_converted_for_a_7bit_server() {
    let e = env().await;
    let sink = Sink::start(&["PIPELINING"]).await;
    let mut config = config(sink.addr.port());
    config
        .routes
        .insert("c.test".into(), format!("127.0.0.1:{}", sink.addr.port()));
    let w = e.worker(Zone::default(), config).await;
    let body = "MIME-Version: 1.0\r\nContent-Type: text/plain; charset=utf-8\r\nContent-Transfer-Encoding: 8bit\r\n\r\ncaf\u{e9}\r\n";
    let id = e
        .queue(
            "alice@example.test",
            &[("u@c.test", None)],
            None,
            None,
            body,
        )
        .await;
    w.run_once().await.unwrap();
    assert!(e.store.queue_get(id).await.unwrap().is_none());
    let got = sink.received();
    assert_eq!(got.len(), 1);
    assert_eq!(
        got[0].mail, "MAIL FROM:<alice@example.test>",
        "no BODY=8BITMIME to a 7-bit server"
    );
    assert_eq!(
        got[0].data,
        "MIME-Version: 1.0\r\nContent-Type: text/plain; charset=utf-8\r\nContent-Transfer-Encoding: quoted-printable\r\n\r\ncaf=C3=A9\r\n"
    );
    assert!(e.inbox("alice@example.test").await.is_empty(), "no bounce");
}

#[tokio::test]
async fn domains_sharing_an_mx_host_share_the_transaction() {
    let e = env().await;
    let sink = Sink::start(FULL).await;
    let mut zone = Zone::default();
    zone.mx
        .insert("one.test".into(), vec![(10, "mx.shared.test".into())]);
    zone.mx
        .insert("two.test".into(), vec![(5, "mx.shared.test".into())]);
    zone.mx
        .insert("other.test".into(), vec![(10, "mx.other.test".into())]);
    zone.a
        .insert("mx.shared.test".into(), Ipv4Addr::new(127, 0, 0, 1));
    zone.a
        .insert("mx.other.test".into(), Ipv4Addr::new(127, 0, 0, 1));
    let w = e.worker(zone, config(sink.addr.port())).await;
    e.queue(
        "alice@example.test",
        &[
            ("a@one.test", None),
            ("b@two.test", None),
            ("c@other.test", None),
        ],
        None,
        None,
        BODY,
    )
    .await;
    w.run_once().await.unwrap();
    let mut got: Vec<Vec<String>> = sink.received().into_iter().map(|r| r.rcpts).collect();
    got.sort();
    assert_eq!(
        got,
        [
            vec![
                "RCPT TO:<a@one.test> ORCPT=rfc822;a@one.test".to_string(),
                "RCPT TO:<b@two.test> ORCPT=rfc822;b@two.test".to_string()
            ],
            vec!["RCPT TO:<c@other.test> ORCPT=rfc822;c@other.test".to_string()],
        ]
    );
}
