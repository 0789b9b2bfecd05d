//! In-process test server: a real `SqliteStore` in a temporary directory, the IMAP
//! `Server` behind `wharf_net::serve` on 127.0.0.1:0 (STARTTLS offered with a
//! self-signed certificate), and a raw IMAP client that reads responses with literals.
#![allow(dead_code)]

use std::net::SocketAddr;
use std::sync::Arc;
use tokio::io::{AsyncRead, AsyncReadExt, AsyncWrite, AsyncWriteExt};
use tokio::net::{TcpListener, TcpStream};
use wharf_imap::{Config, Server};
use wharf_net::tls::{TlsSource, acceptor};
use wharf_net::{IpLimiter, ListenOptions, Shutdown};
use wharf_store::{Address, DomainName, DynStore, Flags, NewMessage, Secret, SqliteStore, Store};

pub struct TestServer {
    pub addr: SocketAddr,
    pub store: Arc<SqliteStore>,
    pub shutdown: Shutdown,
    pub dir: tempfile::TempDir,
}

pub fn addr(s: &str) -> Address {
    Address::parse(s).unwrap()
}

impl TestServer {
    /// Domain example.test with alice and bob (password "pw").
    pub async fn start(config: Config) -> TestServer {
        let dir = tempfile::tempdir().unwrap();
        let store = SqliteStore::open(&dir.path().join("data")).unwrap();
        store
            .domain_add(&DomainName::parse("example.test").unwrap())
            .await
            .unwrap();
        for user in ["alice", "bob"] {
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
        let server = Server::new(dyn_store, "imap.example.test".into(), config);
        let listener = TcpListener::bind("127.0.0.1:0").await.unwrap();
        let addr = listener.local_addr().unwrap();
        let shutdown = Shutdown::new();
        let options = ListenOptions {
            implicit_tls: None,
            starttls: Some(tls),
            limiter: IpLimiter::new(0),
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

    /// Delivers a message to a user's INBOX as SMTP would.
    pub async fn deliver(&self, user: &str, raw: &[u8]) {
        let account = self.store.user_get(&addr(user)).await.unwrap().unwrap();
        self.store
            .deliver(
                &[account.id],
                NewMessage {
                    raw: raw.to_vec(),
                    internal_date: Some(1_700_000_000),
                    flags: Flags::default(),
                    keywords: vec![],
                },
            )
            .await
            .unwrap();
    }

    pub async fn connect(&self) -> Client<TcpStream> {
        let mut c = Client::new(TcpStream::connect(self.addr).await.unwrap());
        let greeting = c.line().await.unwrap();
        assert!(
            greeting.starts_with("* OK [CAPABILITY IMAP4rev1 IMAP4rev2"),
            "{greeting}"
        );
        c
    }

    /// Connected and logged in as `user`.
    pub async fn login(&self, user: &str) -> Client<TcpStream> {
        let mut c = self.connect().await;
        let r = c.cmd(&format!("LOGIN {user}@example.test pw")).await;
        assert!(r.last().unwrap().contains("OK ["), "{r:?}");
        c
    }
}

/// A raw IMAP client. Responses are returned as lines; a literal's octets are put
/// inline where its `{n}` announcement was.
pub struct Client<S> {
    pub stream: S,
    buf: Vec<u8>,
    next_tag: u32,
}

impl<S: AsyncRead + AsyncWrite + Unpin> Client<S> {
    pub fn new(stream: S) -> Client<S> {
        Client {
            stream,
            buf: Vec::new(),
            next_tag: 1,
        }
    }

    pub async fn send(&mut self, data: impl AsRef<[u8]>) {
        self.stream.write_all(data.as_ref()).await.unwrap();
        self.stream.flush().await.unwrap();
    }

    async fn fill(&mut self) -> bool {
        let mut chunk = [0u8; 8192];
        let n = tokio::time::timeout(
            std::time::Duration::from_secs(20),
            self.stream.read(&mut chunk),
        )
        .await
        .expect("server did not answer within 20 s")
        .unwrap();
        self.buf.extend_from_slice(&chunk[..n]);
        n > 0
    }

    /// One response line with literals inlined; None at end of stream.
    pub async fn line(&mut self) -> Option<String> {
        let mut out: Vec<u8> = Vec::new();
        loop {
            let Some(i) = self.buf.iter().position(|&b| b == b'\n') else {
                if !self.fill().await {
                    return None;
                }
                continue;
            };
            let mut l: Vec<u8> = self.buf.drain(..=i).collect();
            l.truncate(l.len() - 1);
            if l.last() == Some(&b'\r') {
                l.pop();
            }
            let lit = literal_len(&l);
            out.extend_from_slice(&l);
            match lit {
                Some(n) => {
                    while self.buf.len() < n {
                        assert!(self.fill().await, "stream ended inside a literal");
                    }
                    out.extend(self.buf.drain(..n));
                }
                None => return Some(String::from_utf8_lossy(&out).into_owned()),
            }
        }
    }

    /// Sends a tagged command and reads up to its tagged reply (included, last).
    pub async fn cmd(&mut self, command: &str) -> Vec<String> {
        let tag = format!("t{}", self.next_tag);
        self.next_tag += 1;
        self.send(format!("{tag} {command}\r\n")).await;
        self.until_tag(&tag).await
    }

    pub async fn until_tag(&mut self, tag: &str) -> Vec<String> {
        let mut lines = Vec::new();
        loop {
            let l = self
                .line()
                .await
                .expect("connection closed before the tagged reply");
            let done = l.starts_with(&format!("{tag} "));
            lines.push(l);
            if done {
                return lines;
            }
        }
    }

    /// The last tag used.
    pub fn last_tag(&self) -> String {
        format!("t{}", self.next_tag - 1)
    }

    pub fn take_tag(&mut self) -> String {
        let t = format!("t{}", self.next_tag);
        self.next_tag += 1;
        t
    }
}

fn literal_len(line: &[u8]) -> Option<usize> {
    let inner = line.strip_suffix(b"}")?;
    let open = inner.iter().rposition(|&b| b == b'{')?;
    std::str::from_utf8(&inner[open + 1..]).ok()?.parse().ok()
}

/// The tagged reply's status word.
pub fn status(lines: &[String]) -> &str {
    lines.last().unwrap().split(' ').nth(1).unwrap_or("")
}

pub fn has(lines: &[String], needle: &str) -> bool {
    lines.iter().any(|l| l.contains(needle))
}
