//! In-process test server: a real `SqliteStore` in a temporary directory, the SMTP
//! `Server` behind `wharf_net::serve` on 127.0.0.1:0, STARTTLS with a self-signed
//! certificate, and helpers to talk to it over raw sockets and to read mailboxes.
#![allow(dead_code)]

use std::net::SocketAddr;
use std::sync::Arc;
use tokio::io::{AsyncRead, AsyncReadExt, AsyncWrite, AsyncWriteExt};
use tokio::net::{TcpListener, TcpStream};
use wharf_net::tls::{TlsSource, acceptor};
use wharf_net::{IpLimiter, ListenOptions, Shutdown};
use wharf_smtp::{Config, Server};
use wharf_store::{Address, DomainName, DynStore, Secret, SqliteStore, Store};

pub struct TestServer {
    pub addr: SocketAddr,
    pub store: Arc<SqliteStore>,
    pub shutdown: Shutdown,
    pub dir: tempfile::TempDir,
}

impl TestServer {
    /// Domain example.test with alice, bob and postmaster.
    pub async fn start(config: Config) -> TestServer {
        TestServer::start_limited(config, 0).await
    }

    /// Like [`TestServer::start`], with at most `per_ip` connections per client address
    /// (0: no limit).
    pub async fn start_limited(config: Config, per_ip: usize) -> TestServer {
        TestServer::start_with(config, per_ip, false).await
    }

    /// A submission server (AUTH over plaintext allowed from loopback, no delay on
    /// failed logins).
    pub async fn start_submission() -> TestServer {
        TestServer::start_with(Config::default(), 0, true).await
    }

    async fn start_with(config: Config, per_ip: usize, submission: bool) -> TestServer {
        let dir = tempfile::tempdir().unwrap();
        let store = SqliteStore::open(&dir.path().join("data")).unwrap();
        store
            .domain_add(&DomainName::parse("example.test").unwrap())
            .await
            .unwrap();
        for user in ["alice", "bob", "postmaster"] {
            store
                .user_add(&addr(&format!("{user}@example.test")), &Secret::new("pw"))
                .await
                .unwrap();
        }
        let tls = acceptor(&TlsSource::SelfSigned {
            dir: dir.path().join("tls"),
            hostname: "localhost".into(),
        })
        .unwrap();
        let dyn_store: DynStore = store.clone();
        let server = if submission {
            Server::submission(
                dyn_store,
                "mx.example.test".into(),
                config,
                wharf_smtp::SubmissionConfig {
                    auth_failure_delay_ms: 0,
                    ..Default::default()
                },
            )
        } else {
            Server::new(dyn_store, "mx.example.test".into(), config)
        };
        let listener = TcpListener::bind("127.0.0.1:0").await.unwrap();
        let addr = listener.local_addr().unwrap();
        let shutdown = Shutdown::new();
        let options = ListenOptions {
            implicit_tls: None,
            starttls: Some(tls),
            limiter: IpLimiter::new(per_ip),
        };
        tokio::spawn(wharf_net::serve(
            listener,
            server,
            options,
            shutdown.signal(),
        ));
        TestServer {
            addr,
            store,
            shutdown,
            dir,
        }
    }

    /// The raw messages in a user's INBOX, in UID order.
    pub async fn inbox(&self, user: &str) -> Vec<Vec<u8>> {
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
            out.push(self.store.read_body(m.blob).await.unwrap());
        }
        out
    }

    pub async fn connect(&self) -> Client<TcpStream> {
        let mut c = Client::new(TcpStream::connect(self.addr).await.unwrap());
        let greeting = c.reply().await;
        assert!(
            greeting.starts_with("220 mx.example.test ESMTP"),
            "{greeting}"
        );
        c
    }
}

pub fn addr(s: &str) -> Address {
    Address::parse(s).unwrap()
}

/// A raw SMTP client over any stream.
pub struct Client<S> {
    pub stream: S,
    buf: Vec<u8>,
}

impl<S: AsyncRead + AsyncWrite + Unpin> Client<S> {
    pub fn new(stream: S) -> Client<S> {
        Client {
            stream,
            buf: Vec::new(),
        }
    }

    pub async fn send(&mut self, data: impl AsRef<[u8]>) {
        self.stream.write_all(data.as_ref()).await.unwrap();
        self.stream.flush().await.unwrap();
    }

    /// Reads one line (without CRLF); None at end of stream.
    pub async fn line(&mut self) -> Option<String> {
        loop {
            if let Some(i) = self.buf.iter().position(|&b| b == b'\n') {
                let line: Vec<u8> = self.buf.drain(..=i).collect();
                let s = String::from_utf8_lossy(&line);
                return Some(s.trim_end_matches(['\r', '\n']).to_string());
            }
            let mut chunk = [0u8; 4096];
            let n = self.stream.read(&mut chunk).await.unwrap_or(0);
            if n == 0 {
                return None;
            }
            self.buf.extend_from_slice(&chunk[..n]);
        }
    }

    /// Reads one complete (possibly multi-line) reply, lines joined with '\n'.
    pub async fn reply(&mut self) -> String {
        let mut lines = Vec::new();
        loop {
            let line = self.line().await.expect("connection closed before a reply");
            let last = line.as_bytes().get(3) != Some(&b'-');
            lines.push(line);
            if last {
                return lines.join("\n");
            }
        }
    }

    /// Sends a command and returns the reply.
    pub async fn cmd(&mut self, line: &str) -> String {
        self.send(format!("{line}\r\n")).await;
        self.reply().await
    }

    /// Whether the server has closed the connection (reads to the end).
    pub async fn closed(&mut self) -> bool {
        self.line().await.is_none()
    }

    pub fn into_inner(self) -> S {
        assert!(self.buf.is_empty(), "unread bytes: {:?}", self.buf);
        self.stream
    }
}

/// A rustls client config that accepts any certificate (the test server's is
/// self-signed).
pub fn insecure_tls() -> Arc<rustls::ClientConfig> {
    use rustls::client::danger::{HandshakeSignatureValid, ServerCertVerified, ServerCertVerifier};
    use rustls::pki_types::{CertificateDer, ServerName, UnixTime};
    use rustls::{DigitallySignedStruct, SignatureScheme};

    #[derive(Debug)]
    struct AcceptAll(Arc<rustls::crypto::CryptoProvider>);
    impl ServerCertVerifier for AcceptAll {
        fn verify_server_cert(
            &self,
            _: &CertificateDer<'_>,
            _: &[CertificateDer<'_>],
            _: &ServerName<'_>,
            _: &[u8],
            _: UnixTime,
        ) -> Result<ServerCertVerified, rustls::Error> {
            Ok(ServerCertVerified::assertion())
        }
        fn verify_tls12_signature(
            &self,
            m: &[u8],
            c: &CertificateDer<'_>,
            d: &DigitallySignedStruct,
        ) -> Result<HandshakeSignatureValid, rustls::Error> {
            rustls::crypto::verify_tls12_signature(
                m,
                c,
                d,
                &self.0.signature_verification_algorithms,
            )
        }
        fn verify_tls13_signature(
            &self,
            m: &[u8],
            c: &CertificateDer<'_>,
            d: &DigitallySignedStruct,
        ) -> Result<HandshakeSignatureValid, rustls::Error> {
            rustls::crypto::verify_tls13_signature(
                m,
                c,
                d,
                &self.0.signature_verification_algorithms,
            )
        }
        fn supported_verify_schemes(&self) -> Vec<SignatureScheme> {
            self.0.signature_verification_algorithms.supported_schemes()
        }
    }
    let provider = Arc::new(rustls::crypto::ring::default_provider());
    let config = rustls::ClientConfig::builder_with_provider(provider.clone())
        .with_safe_default_protocol_versions()
        .unwrap()
        .dangerous()
        .with_custom_certificate_verifier(Arc::new(AcceptAll(provider)))
        .with_no_client_auth();
    Arc::new(config)
}

/// Runs the TLS handshake as a client on a raw connection after `220 Ready`.
pub async fn start_tls(c: Client<TcpStream>) -> Client<tokio_rustls::client::TlsStream<TcpStream>> {
    let connector = tokio_rustls::TlsConnector::from(insecure_tls());
    let name = rustls::pki_types::ServerName::try_from("localhost").unwrap();
    let tls = connector.connect(name, c.into_inner()).await.unwrap();
    Client::new(tls)
}
