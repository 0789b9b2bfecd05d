//! End-to-end tests: a real `Server` on 127.0.0.1 listeners (plain with STLS, and
//! implicit TLS) over a real SqliteStore, driven by raw transcripts and by curl.

use std::net::SocketAddr;
use std::sync::Arc;
use std::time::Duration;
use tokio::io::{AsyncBufReadExt, AsyncRead, AsyncReadExt, AsyncWrite, AsyncWriteExt, BufReader};
use tokio::net::TcpStream;
use tokio_rustls::rustls;
use wharf_net::tls::TlsSource;
use wharf_net::{IpLimiter, ListenOptions, Shutdown};
use wharf_pop3::{Config, Server};
use wharf_store::{
    Account, Address, DomainName, DynStore, FlagOp, FlagUpdate, Flags, NewMessage, Secret,
    SqliteStore,
};

const ALICE: &str = "alice@example.test";
const ALICE_PW: &str = "alice pw 1";

/// A message with everything that tends to break byte-exactness: lines that start with
/// dots (one alone, which would end the transfer if not stuffed), 8-bit and UTF-8 text.
const TRICKY: &[u8] = b"From: Bob <bob@example.test>\r\nTo: alice@example.test\r\n\
Subject: =?UTF-8?Q?caf=C3=A9?=\r\nContent-Type: text/plain; charset=utf-8\r\n\
Content-Transfer-Encoding: 8bit\r\n\r\n.\r\n..\r\n.leading dot\r\n\
caf\xc3\xa9 \xe2\x82\xac \xf0\x9f\x93\xa8\r\nlatin1 \xe9\xe8\r\n\r\n.\r\nlast line\r\n";

struct Harness {
    plain: SocketAddr,
    tls: SocketAddr,
    store: DynStore,
    alice: Account,
    shutdown: Shutdown,
    _dir: tempfile::TempDir,
}

async fn start(config: Config) -> Harness {
    let dir = tempfile::tempdir().unwrap();
    let store: DynStore = SqliteStore::open(&dir.path().join("data")).unwrap();
    store
        .domain_add(&DomainName::parse("example.test").unwrap())
        .await
        .unwrap();
    let alice = store
        .user_add(&Address::parse(ALICE).unwrap(), &Secret::new(ALICE_PW))
        .await
        .unwrap();
    let acceptor = wharf_net::tls::acceptor(&TlsSource::SelfSigned {
        dir: dir.path().join("tls"),
        hostname: "pop.example.test".into(),
    })
    .unwrap();
    let server = Server::new(store.clone(), "pop.example.test".into(), config);
    let shutdown = Shutdown::new();
    let limiter = IpLimiter::new(0);
    let mut addrs = Vec::new();
    for implicit in [false, true] {
        let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
        addrs.push(listener.local_addr().unwrap());
        let options = ListenOptions {
            implicit_tls: implicit.then(|| acceptor.clone()),
            starttls: (!implicit).then(|| acceptor.clone()),
            limiter: limiter.clone(),
        };
        tokio::spawn(wharf_net::serve(
            listener,
            server.clone(),
            options,
            shutdown.signal(),
        ));
    }
    Harness {
        plain: addrs[0],
        tls: addrs[1],
        store,
        alice,
        shutdown,
        _dir: dir,
    }
}

fn fast() -> Config {
    Config {
        auth_failure_delay_ms: 0,
        ..Config::default()
    }
}

impl Harness {
    async fn deliver(&self, raw: &[u8]) {
        self.store
            .deliver(
                &[self.alice.id],
                NewMessage {
                    raw: raw.to_vec(),
                    internal_date: None,
                    flags: Flags::default(),
                    keywords: vec![],
                },
            )
            .await
            .unwrap();
    }

    async fn inbox(&self) -> wharf_store::MailboxSnapshot {
        let inbox = self
            .store
            .mailbox_get(self.alice.id, "INBOX")
            .await
            .unwrap()
            .unwrap();
        self.store.mailbox_snapshot(inbox.id).await.unwrap()
    }

    async fn connect(&self) -> Client<TcpStream> {
        let mut c = Client::new(TcpStream::connect(self.plain).await.unwrap());
        let greeting = c.line().await;
        assert!(greeting.starts_with("+OK pop.example.test"), "{greeting}");
        c
    }

    async fn login(&self) -> Client<TcpStream> {
        let mut c = self.connect().await;
        assert_eq!(
            c.cmd(&format!("USER {ALICE}")).await,
            "+OK Send your password"
        );
        let r = c.cmd(&format!("PASS {ALICE_PW}")).await;
        assert!(r.starts_with("+OK Logged in"), "{r}");
        c
    }
}

/// A raw POP3 client over any stream.
struct Client<S> {
    io: BufReader<S>,
}

impl<S: AsyncRead + AsyncWrite + Unpin> Client<S> {
    fn new(stream: S) -> Self {
        Client {
            io: BufReader::new(stream),
        }
    }

    async fn send(&mut self, data: &str) {
        self.io.get_mut().write_all(data.as_bytes()).await.unwrap();
        self.io.get_mut().flush().await.unwrap();
    }

    /// One reply line without CRLF ("" at end of stream).
    async fn line(&mut self) -> String {
        let mut buf = Vec::new();
        tokio::time::timeout(Duration::from_secs(30), self.io.read_until(b'\n', &mut buf))
            .await
            .expect("reply within 30 s")
            .unwrap();
        let s = String::from_utf8_lossy(&buf).into_owned();
        assert!(
            s.is_empty() || s.ends_with("\r\n"),
            "reply line without CRLF: {s:?}"
        );
        s.trim_end_matches("\r\n").to_string()
    }

    async fn cmd(&mut self, line: &str) -> String {
        self.send(&format!("{line}\r\n")).await;
        self.line().await
    }

    /// The raw bytes of a multi-line block up to and including the `.` line.
    async fn block_raw(&mut self) -> Vec<u8> {
        let mut all = Vec::new();
        loop {
            let mut line = Vec::new();
            let n = self.io.read_until(b'\n', &mut line).await.unwrap();
            assert!(n > 0, "connection closed inside a multi-line reply");
            all.extend_from_slice(&line);
            if line == b".\r\n" {
                return all;
            }
        }
    }

    /// A multi-line block with the stuffing undone, as a client sees the data.
    async fn block(&mut self) -> Vec<u8> {
        let raw = self.block_raw().await;
        let mut data = Vec::new();
        for line in raw[..raw.len() - 3].split_inclusive(|&b| b == b'\n') {
            data.extend_from_slice(line.strip_prefix(b".").unwrap_or(line));
        }
        data
    }

    /// Reads until the server closes the connection.
    async fn rest(&mut self) -> String {
        let mut rest = Vec::new();
        tokio::time::timeout(Duration::from_secs(30), self.io.read_to_end(&mut rest))
            .await
            .expect("close within 30 s")
            .unwrap();
        String::from_utf8_lossy(&rest).into_owned()
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn retr_is_byte_exact_and_list_sizes_match() {
    let h = start(fast()).await;
    h.deliver(TRICKY).await;
    h.deliver(b"Subject: second\r\n\r\nhello\r\n").await;
    let mut c = h.login().await;
    let total = TRICKY.len() + 26;
    assert_eq!(c.cmd("STAT").await, format!("+OK 2 {total}"));
    assert_eq!(
        c.cmd("LIST").await,
        format!("+OK 2 messages ({total} octets)")
    );
    assert_eq!(
        c.block_raw().await,
        format!("1 {}\r\n2 26\r\n.\r\n", TRICKY.len()).into_bytes()
    );
    assert_eq!(c.cmd("LIST 1").await, format!("+OK 1 {}", TRICKY.len()));
    assert_eq!(
        c.cmd("RETR 1").await,
        format!("+OK {} octets", TRICKY.len())
    );
    let raw = c.block_raw().await;
    // The stuffing itself: the lone dot line went out as "..".
    let stuffed: &[u8] = b"\r\n\r\n..\r\n...\r\n..leading dot\r\n";
    assert!(
        raw.windows(stuffed.len()).any(|w| w == stuffed),
        "{}",
        String::from_utf8_lossy(&raw)
    );
    let mut unstuffed = Vec::new();
    for line in raw[..raw.len() - 3].split_inclusive(|&b| b == b'\n') {
        unstuffed.extend_from_slice(line.strip_prefix(b".").unwrap_or(line));
    }
    assert_eq!(unstuffed, TRICKY);
    assert_eq!(c.cmd("RETR 3").await, "-ERR No such message: 3");
    c.cmd("QUIT").await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn top_sends_headers_and_n_body_lines() {
    let h = start(fast()).await;
    h.deliver(TRICKY).await;
    let mut c = h.login().await;
    assert_eq!(c.cmd("TOP 1 0").await, "+OK Top of message follows");
    let header_end = TRICKY.windows(4).position(|w| w == b"\r\n\r\n").unwrap() + 4;
    assert_eq!(c.block().await, &TRICKY[..header_end]);
    assert_eq!(c.cmd("TOP 1 3").await, "+OK Top of message follows");
    assert_eq!(
        c.block().await,
        [&TRICKY[..header_end], b".\r\n..\r\n.leading dot\r\n"].concat()
    );
    assert_eq!(c.cmd("TOP 1 1000").await, "+OK Top of message follows");
    assert_eq!(c.block().await, TRICKY);
    assert_eq!(c.cmd("TOP 2 1").await, "-ERR No such message: 2");
    assert_eq!(
        c.cmd("TOP 1").await,
        "-ERR TOP: a message number and a number of lines are required"
    );
    // TOP is not retrieval: QUIT leaves the message unseen.
    c.cmd("QUIT").await;
    assert!(!h.inbox().await.messages[0].flags.contains(Flags::SEEN));
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn dele_applies_only_at_quit_and_imap_sees_the_expunge() {
    let h = start(fast()).await;
    for i in 1..=3 {
        h.deliver(format!("Subject: {i}\r\n\r\nbody {i}\r\n").as_bytes())
            .await;
    }
    let mut events = h.store.subscribe();
    let mut c = h.login().await;
    assert_eq!(c.cmd("DELE 2").await, "+OK Message 2 deleted");
    assert_eq!(c.cmd("DELE 2").await, "-ERR Message 2 already deleted");
    assert_eq!(c.cmd("RETR 2").await, "-ERR Message 2 already deleted");
    assert_eq!(c.cmd("LIST 2").await, "-ERR Message 2 already deleted");
    assert_eq!(c.cmd("STAT").await, "+OK 2 44");
    // Numbers stay put: message 3 is still 3.
    assert_eq!(c.cmd("LIST").await, "+OK 2 messages (44 octets)");
    assert_eq!(c.block_raw().await, b"1 22\r\n3 22\r\n.\r\n");
    assert_eq!(
        c.cmd("RSET").await,
        "+OK Maildrop has 3 messages (66 octets)"
    );
    assert_eq!(c.cmd("DELE 1").await, "+OK Message 1 deleted");
    assert_eq!(c.cmd("DELE 3").await, "+OK Message 3 deleted");
    // Not yet applied.
    assert_eq!(h.inbox().await.messages.len(), 3);
    let bye = c.cmd("QUIT").await;
    assert!(
        bye.starts_with("+OK pop.example.test POP3 server signing off (2 deleted"),
        "{bye}"
    );
    assert_eq!(c.rest().await, "");
    let left: Vec<u32> = h.inbox().await.messages.iter().map(|m| m.uid).collect();
    assert_eq!(left, vec![2]);
    let expunged = loop {
        match events.recv().await.unwrap() {
            wharf_store::Change::Expunged { uids, .. } => break uids,
            _ => continue,
        }
    };
    assert_eq!(expunged, vec![1, 3]);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_connection_dropped_before_quit_deletes_nothing() {
    let h = start(fast()).await;
    h.deliver(b"Subject: keep\r\n\r\nme\r\n").await;
    let mut c = h.login().await;
    assert_eq!(c.cmd("DELE 1").await, "+OK Message 1 deleted");
    assert_eq!(c.cmd("RETR 1").await, "-ERR Message 1 already deleted");
    drop(c);
    // The lock is released when the server notices the close; then a new session sees
    // the message, unchanged and unseen.
    let mut c = loop {
        let mut c = h.connect().await;
        c.cmd(&format!("USER {ALICE}")).await;
        let r = c.cmd(&format!("PASS {ALICE_PW}")).await;
        if r.starts_with("+OK") {
            break c;
        }
        assert!(r.starts_with("-ERR [IN-USE]"), "{r}");
        tokio::time::sleep(Duration::from_millis(20)).await;
    };
    assert_eq!(c.cmd("STAT").await, "+OK 1 21");
    c.cmd("QUIT").await;
    let m = &h.inbox().await.messages[0];
    assert!(!m.flags.contains(Flags::SEEN));
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn uidl_is_stable_across_sessions_and_retr_marks_seen() {
    let h = start(fast()).await;
    h.deliver(b"Subject: a\r\n\r\na\r\n").await;
    h.deliver(b"Subject: b\r\n\r\nb\r\n").await;
    let uidvalidity = h.inbox().await.mailbox.uidvalidity;
    let mut c = h.login().await;
    assert_eq!(c.cmd("UIDL").await, "+OK Unique-id listing follows");
    let first = c.block_raw().await;
    assert_eq!(
        first,
        format!("1 {uidvalidity}.1\r\n2 {uidvalidity}.2\r\n.\r\n").into_bytes()
    );
    assert_eq!(c.cmd("UIDL 2").await, format!("+OK 2 {uidvalidity}.2"));
    assert_eq!(c.cmd("RETR 1").await, "+OK 17 octets");
    c.block().await;
    assert_eq!(c.cmd("DELE 1").await, "+OK Message 1 deleted");
    assert_eq!(c.cmd("RETR 2").await, "+OK 17 octets");
    c.block().await;
    c.cmd("QUIT").await;
    // Keep mode for message 2: still there, now \Seen, same UIDL; a new message gets a
    // new id, and message 1's id is never handed out again.
    h.deliver(b"Subject: c\r\n\r\nc\r\n").await;
    let snap = h.inbox().await;
    assert!(snap.messages[0].flags.contains(Flags::SEEN));
    let mut c = h.login().await;
    assert_eq!(c.cmd("UIDL").await, "+OK Unique-id listing follows");
    assert_eq!(
        c.block_raw().await,
        format!("1 {uidvalidity}.2\r\n2 {uidvalidity}.3\r\n.\r\n").into_bytes()
    );
    c.cmd("QUIT").await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn imap_deleted_messages_are_not_offered_and_imap_expunge_is_tolerated() {
    let h = start(fast()).await;
    for s in ["a", "b", "c"] {
        h.deliver(format!("Subject: {s}\r\n\r\n{s}\r\n").as_bytes())
            .await;
    }
    let inbox = h.inbox().await.mailbox.id;
    h.store
        .store_flags(
            inbox,
            FlagUpdate {
                uids: vec![1],
                op: FlagOp::Add,
                flags: Flags::DELETED,
                keywords: vec![],
                unchanged_since: None,
            },
        )
        .await
        .unwrap();
    let mut c = h.login().await;
    assert_eq!(c.cmd("STAT").await, "+OK 2 34");
    assert_eq!(c.cmd("UIDL 1").await.rsplit('.').next().unwrap(), "2");
    // IMAP expunges message 2 (uid 3) while POP3 is in TRANSACTION.
    h.store.expunge(inbox, &[3]).await.unwrap();
    assert_eq!(
        c.cmd("RETR 2").await,
        "-ERR Message 2 was removed by another session"
    );
    assert_eq!(c.cmd("DELE 2").await, "+OK Message 2 deleted");
    let bye = c.cmd("QUIT").await;
    assert!(bye.starts_with("+OK"), "{bye}");
    let left: Vec<u32> = h.inbox().await.messages.iter().map(|m| m.uid).collect();
    assert_eq!(left, vec![1, 2]);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn second_session_gets_in_use_and_the_first_view_is_untouched() {
    let h = start(fast()).await;
    h.deliver(b"Subject: a\r\n\r\na\r\n").await;
    let mut first = h.login().await;
    let mut second = h.connect().await;
    second.cmd(&format!("USER {ALICE}")).await;
    assert_eq!(
        second.cmd(&format!("PASS {ALICE_PW}")).await,
        "-ERR [IN-USE] Maildrop is locked by another POP3 session"
    );
    // Still in AUTHORIZATION, still talking.
    assert_eq!(
        second.cmd("STAT").await,
        "-ERR STAT is not valid before login"
    );
    assert_eq!(first.cmd("STAT").await, "+OK 1 17");
    first.cmd("QUIT").await;
    first.rest().await;
    second.cmd(&format!("USER {ALICE}")).await;
    assert!(
        second
            .cmd(&format!("PASS {ALICE_PW}"))
            .await
            .starts_with("+OK Logged in")
    );
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn pipelined_commands_are_answered_in_order() {
    let h = start(fast()).await;
    h.deliver(b"Subject: a\r\n\r\n.a\r\n").await;
    let mut c = h.connect().await;
    c.send(&format!(
        "CAPA\r\nUSER {ALICE}\r\nPASS {ALICE_PW}\r\nSTAT\r\nRETR 1\r\nBOGUS\r\nLIST 1\r\nQUIT\r\n"
    ))
    .await;
    assert_eq!(c.line().await, "+OK Capability list follows");
    let caps = String::from_utf8(c.block_raw().await).unwrap();
    for cap in [
        "TOP",
        "UIDL",
        "RESP-CODES",
        "AUTH-RESP-CODE",
        "PIPELINING",
        "USER",
        "SASL PLAIN LOGIN",
        "STLS",
        "EXPIRE NEVER",
        "IMPLEMENTATION Wharf",
    ] {
        assert!(
            caps.contains(&format!("{cap}\r\n")),
            "{cap} missing from {caps}"
        );
    }
    assert_eq!(c.line().await, "+OK Send your password");
    assert_eq!(c.line().await, "+OK Logged in, 1 messages (18 octets)");
    assert_eq!(c.line().await, "+OK 1 18");
    assert_eq!(c.line().await, "+OK 18 octets");
    assert_eq!(c.block_raw().await, b"Subject: a\r\n\r\n..a\r\n.\r\n");
    assert_eq!(c.line().await, "-ERR Unknown command: BOGUS");
    assert_eq!(c.line().await, "+OK 1 18");
    assert!(
        c.line()
            .await
            .starts_with("+OK pop.example.test POP3 server signing off")
    );
    assert_eq!(c.rest().await, "");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn malformed_input_gets_err_and_the_session_continues() {
    let h = start(fast()).await;
    let mut c = h.connect().await;
    assert_eq!(c.cmd("").await, "-ERR Empty command");
    assert_eq!(
        c.cmd("\u{0}\u{1}junk").await,
        "-ERR Unknown command: ??junk"
    );
    let long = "X".repeat(100_000);
    assert_eq!(c.cmd(&long).await, "-ERR Line too long");
    assert_eq!(
        c.cmd("APOP alice 0123456789abcdef").await,
        "-ERR APOP not supported; use USER/PASS or AUTH"
    );
    c.send("USER alice@example.test\n").await; // bare LF is accepted
    assert_eq!(c.line().await, "+OK Send your password");
    assert_eq!(
        c.cmd("PASS wrong").await,
        "-ERR [AUTH] Authentication failed"
    );
    assert_eq!(
        c.cmd("USER a b").await,
        "-ERR USER: exactly one user name is required"
    );
    assert_eq!(
        c.cmd("QUIT").await,
        "+OK pop.example.test POP3 server signing off"
    );
    assert_eq!(c.rest().await, "");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn expire_zero_removes_retrieved_messages_at_quit() {
    let h = start(Config {
        expire_days: Some(0),
        ..fast()
    })
    .await;
    h.deliver(b"Subject: a\r\n\r\na\r\n").await;
    h.deliver(b"Subject: b\r\n\r\nb\r\n").await;
    let mut c = h.connect().await;
    assert_eq!(c.cmd("CAPA").await, "+OK Capability list follows");
    let caps = String::from_utf8(c.block_raw().await).unwrap();
    assert!(caps.contains("\r\nEXPIRE 0\r\n"), "{caps}");
    c.cmd(&format!("USER {ALICE}")).await;
    c.cmd(&format!("PASS {ALICE_PW}")).await;
    c.cmd("RETR 2").await;
    c.block().await;
    let bye = c.cmd("QUIT").await;
    assert!(bye.ends_with("(0 deleted, 1 expired, 1 left)"), "{bye}");
    let left: Vec<u32> = h.inbox().await.messages.iter().map(|m| m.uid).collect();
    assert_eq!(left, vec![1]);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn idle_sessions_are_logged_out_without_update() {
    let h = start(Config {
        idle_timeout_secs: 1,
        ..fast()
    })
    .await;
    h.deliver(b"Subject: a\r\n\r\na\r\n").await;
    let mut c = h.login().await;
    assert_eq!(c.cmd("DELE 1").await, "+OK Message 1 deleted");
    assert_eq!(c.rest().await, "-ERR Autologout; idle for too long\r\n");
    assert_eq!(h.inbox().await.messages.len(), 1);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn shutdown_says_goodbye_and_applies_nothing() {
    let h = start(fast()).await;
    h.deliver(b"Subject: a\r\n\r\na\r\n").await;
    let mut c = h.login().await;
    assert_eq!(c.cmd("DELE 1").await, "+OK Message 1 deleted");
    h.shutdown.trigger();
    assert_eq!(c.rest().await, "-ERR [SYS/TEMP] Server shutting down\r\n");
    assert_eq!(h.inbox().await.messages.len(), 1);
}

// ---- TLS ----

#[derive(Debug)]
struct AcceptAnyCert;

impl rustls::client::danger::ServerCertVerifier for AcceptAnyCert {
    fn verify_server_cert(
        &self,
        _: &rustls::pki_types::CertificateDer<'_>,
        _: &[rustls::pki_types::CertificateDer<'_>],
        _: &rustls::pki_types::ServerName<'_>,
        _: &[u8],
        _: rustls::pki_types::UnixTime,
    ) -> Result<rustls::client::danger::ServerCertVerified, rustls::Error> {
        Ok(rustls::client::danger::ServerCertVerified::assertion())
    }
    fn verify_tls12_signature(
        &self,
        _: &[u8],
        _: &rustls::pki_types::CertificateDer<'_>,
        _: &rustls::DigitallySignedStruct,
    ) -> Result<rustls::client::danger::HandshakeSignatureValid, rustls::Error> {
        Ok(rustls::client::danger::HandshakeSignatureValid::assertion())
    }
    fn verify_tls13_signature(
        &self,
        _: &[u8],
        _: &rustls::pki_types::CertificateDer<'_>,
        _: &rustls::DigitallySignedStruct,
    ) -> Result<rustls::client::danger::HandshakeSignatureValid, rustls::Error> {
        Ok(rustls::client::danger::HandshakeSignatureValid::assertion())
    }
    fn supported_verify_schemes(&self) -> Vec<rustls::SignatureScheme> {
        rustls::crypto::ring::default_provider()
            .signature_verification_algorithms
            .supported_schemes()
    }
}

fn tls_connector() -> tokio_rustls::TlsConnector {
    let config = rustls::ClientConfig::builder_with_provider(Arc::new(
        rustls::crypto::ring::default_provider(),
    ))
    .with_safe_default_protocol_versions()
    .unwrap()
    .dangerous()
    .with_custom_certificate_verifier(Arc::new(AcceptAnyCert))
    .with_no_client_auth();
    tokio_rustls::TlsConnector::from(Arc::new(config))
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn stls_discards_pipelined_plaintext_and_then_allows_login() {
    let h = start(fast()).await;
    h.deliver(b"Subject: a\r\n\r\na\r\n").await;
    let mut tcp = TcpStream::connect(h.plain).await.unwrap();
    let mut greeting = [0u8; 512];
    let n = tcp.read(&mut greeting).await.unwrap();
    assert!(greeting[..n].starts_with(b"+OK"));
    // A man in the middle appends a command after STLS; it must not run inside TLS.
    tcp.write_all(b"STLS\r\nCAPA\r\n").await.unwrap();
    let mut reply = Vec::new();
    while !reply.ends_with(b"\r\n") {
        let mut b = [0u8; 1];
        tcp.read_exact(&mut b).await.unwrap();
        reply.push(b[0]);
    }
    assert_eq!(reply, b"+OK Begin TLS negotiation now\r\n");
    let name = rustls::pki_types::ServerName::try_from("pop.example.test").unwrap();
    let tls = tls_connector().connect(name, tcp).await.unwrap();
    let mut c = Client::new(tls);
    // The first reply inside TLS answers the CAPA sent inside TLS; the injected plaintext
    // CAPA was dropped (or a second capability list would be waiting after QUIT).
    assert_eq!(c.cmd("CAPA").await, "+OK Capability list follows");
    let caps = String::from_utf8(c.block_raw().await).unwrap();
    assert!(!caps.contains("STLS"), "{caps}");
    assert_eq!(
        c.cmd(&format!("USER {ALICE}")).await,
        "+OK Send your password"
    );
    assert!(
        c.cmd(&format!("PASS {ALICE_PW}"))
            .await
            .starts_with("+OK Logged in")
    );
    assert_eq!(c.cmd("STAT").await, "+OK 1 17");
    assert!(c.cmd("QUIT").await.starts_with("+OK"));
    assert_eq!(c.rest().await, "");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn pop3s_serves_tls_from_the_first_byte() {
    let h = start(fast()).await;
    h.deliver(TRICKY).await;
    let tcp = TcpStream::connect(h.tls).await.unwrap();
    let name = rustls::pki_types::ServerName::try_from("pop.example.test").unwrap();
    let tls = tls_connector().connect(name, tcp).await.unwrap();
    let mut c = Client::new(tls);
    assert!(c.line().await.starts_with("+OK pop.example.test"));
    assert_eq!(c.cmd("STLS").await, "-ERR Already using TLS");
    assert_eq!(c.cmd("AUTH PLAIN").await, "+ ");
    let creds = format!("\0{ALICE}\0{ALICE_PW}");
    use base64::Engine;
    let b64 = base64::engine::general_purpose::STANDARD.encode(creds);
    assert!(c.cmd(&b64).await.starts_with("+OK Logged in, 1 messages"));
    assert!(c.cmd("RETR 1").await.starts_with("+OK"));
    assert_eq!(c.block().await, TRICKY);
    assert!(c.cmd("QUIT").await.starts_with("+OK"));
}

// ---- curl ----

/// Runs curl and returns (exit status, stdout).
async fn curl(args: Vec<String>) -> (i32, Vec<u8>) {
    tokio::task::spawn_blocking(move || {
        let out = std::process::Command::new("curl")
            .args(["-s", "-S", "--max-time", "30"])
            .args(&args)
            .output()
            .expect("curl is installed");
        if !out.status.success() {
            eprintln!("curl {args:?}: {}", String::from_utf8_lossy(&out.stderr));
        }
        (out.status.code().unwrap_or(-1), out.stdout)
    })
    .await
    .unwrap()
}

fn user_arg() -> String {
    format!("{ALICE}:{ALICE_PW}")
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn curl_pop3_lists_retrieves_and_deletes() {
    let h = start(fast()).await;
    h.deliver(TRICKY).await;
    h.deliver(b"Subject: second\r\n\r\nhello\r\n").await;
    let base = format!("pop3://{}", h.plain);
    let (code, list) = curl(vec![format!("{base}/"), "-u".into(), user_arg()]).await;
    assert_eq!(code, 0);
    assert_eq!(list, format!("1 {}\r\n2 26\r\n", TRICKY.len()).into_bytes());
    let (code, body) = curl(vec![format!("{base}/1"), "-u".into(), user_arg()]).await;
    assert_eq!(code, 0);
    assert_eq!(body, TRICKY);
    let (code, uidl) = curl(vec![
        format!("{base}/"),
        "-X".into(),
        "UIDL".into(),
        "-u".into(),
        user_arg(),
    ])
    .await;
    assert_eq!(code, 0);
    let uidvalidity = h.inbox().await.mailbox.uidvalidity;
    assert_eq!(
        uidl,
        format!("1 {uidvalidity}.1\r\n2 {uidvalidity}.2\r\n").into_bytes()
    );
    // SASL PLAIN explicitly (curl picks LOGIN by default from our SASL list).
    let (code, body) = curl(vec![
        format!("{base}/2"),
        "--login-options".into(),
        "AUTH=PLAIN".into(),
        "-u".into(),
        user_arg(),
    ])
    .await;
    assert_eq!(code, 0);
    assert_eq!(body, b"Subject: second\r\n\r\nhello\r\n");
    let (code, _) = curl(vec![
        format!("{base}/1"),
        "-X".into(),
        "DELE".into(),
        "-I".into(),
        "-u".into(),
        user_arg(),
    ])
    .await;
    assert_eq!(code, 0);
    let left: Vec<u32> = h.inbox().await.messages.iter().map(|m| m.uid).collect();
    assert_eq!(left, vec![2]);
    // A wrong password is an error for curl (67: login denied).
    let (code, _) = curl(vec![
        format!("{base}/"),
        "-u".into(),
        format!("{ALICE}:nope"),
    ])
    .await;
    assert_eq!(code, 67);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn curl_pop3s_and_stls() {
    let h = start(fast()).await;
    h.deliver(TRICKY).await;
    let (code, body) = curl(vec![
        format!("pop3s://{}/1", h.tls),
        "-k".into(),
        "-u".into(),
        user_arg(),
    ])
    .await;
    assert_eq!(code, 0);
    assert_eq!(body, TRICKY);
    let (code, body) = curl(vec![
        format!("pop3://{}/1", h.plain),
        "--ssl-reqd".into(),
        "-k".into(),
        "-u".into(),
        user_arg(),
    ])
    .await;
    assert_eq!(code, 0);
    assert_eq!(body, TRICKY);
}

/// RETR reads the next message ahead; whatever order the client asks in, each RETR must
/// still send its own message.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn retr_in_any_order_sends_the_right_bodies() {
    let h = start(fast()).await;
    let bodies: Vec<Vec<u8>> = (1..=4)
        .map(|i| format!("Subject: {i}\r\n\r\n{}\r\n", "x".repeat(i * 100)).into_bytes())
        .collect();
    for b in &bodies {
        h.deliver(b).await;
    }
    let mut c = h.login().await;
    for n in [1usize, 2, 4, 3, 1, 3] {
        assert!(c.cmd(&format!("RETR {n}")).await.starts_with("+OK"));
        assert_eq!(c.block().await, bodies[n - 1], "RETR {n}");
    }
    assert!(c.cmd("RETR 1").await.starts_with("+OK"));
    c.block().await;
    assert_eq!(c.cmd("DELE 2").await, "+OK Message 2 deleted");
    assert_eq!(c.cmd("RETR 2").await, "-ERR Message 2 already deleted");
    assert!(c.cmd("RETR 3").await.starts_with("+OK"));
    assert_eq!(c.block().await, bodies[2]);
    assert!(c.cmd("QUIT").await.starts_with("+OK"));
}
