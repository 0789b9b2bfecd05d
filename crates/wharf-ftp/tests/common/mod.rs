//! In-process FTP test server: a real `SqliteStore` and `LocalFileArea` in a temporary
//! directory, the FTP `Server` behind `wharf_net::serve` on 127.0.0.1:0 (AUTH TLS with a
//! self-signed certificate), plus an implicit-TLS listener, on a runtime of its own so
//! tests can use blocking clients (suppaftp, curl, raw sockets) directly.
#![allow(dead_code)]

use std::io::{BufRead, BufReader, Read, Write};
use std::net::{SocketAddr, TcpStream};
use std::path::PathBuf;
use std::sync::Arc;
use std::time::Duration;
use tokio::net::TcpListener;
use wharf_ftp::{Config, Server};
use wharf_net::tls::{TlsSource, acceptor};
use wharf_net::{IpLimiter, ListenOptions, Shutdown};
use wharf_store::files::LocalFileArea;
use wharf_store::{Address, DomainName, DynStore, Secret, SqliteStore, Store};

pub const PASSWORD: &str = "pw-secret";

pub struct TestServer {
    pub addr: SocketAddr,
    pub implicit_addr: SocketAddr,
    pub store: Arc<SqliteStore>,
    pub files_root: PathBuf,
    pub cert: PathBuf,
    pub dir: tempfile::TempDir,
    shutdown: Shutdown,
    server: Arc<Server>,
    tls: wharf_net::TlsAcceptor,
    pub rt: tokio::runtime::Runtime,
}

impl TestServer {
    /// Domain example.test with alice and bob (password [`PASSWORD`]).
    pub fn start(config: Config) -> TestServer {
        let rt = tokio::runtime::Builder::new_multi_thread()
            .worker_threads(2)
            .enable_all()
            .build()
            .unwrap();
        let dir = tempfile::tempdir().unwrap();
        let files_root = dir.path().join("data/files");
        let (store, addr, implicit_addr, shutdown, server, tls) = rt.block_on(async {
            let store = SqliteStore::open(&dir.path().join("data")).unwrap();
            store
                .domain_add(&DomainName::parse("example.test").unwrap())
                .await
                .unwrap();
            for user in ["alice", "bob"] {
                store
                    .user_add(&address(user), &Secret::new(PASSWORD))
                    .await
                    .unwrap();
            }
            let tls = acceptor(&TlsSource::SelfSigned {
                dir: dir.path().join("tls"),
                hostname: "localhost".into(),
            })
            .unwrap();
            let files = LocalFileArea::new(&files_root).unwrap();
            let dyn_store: DynStore = store.clone();
            let server = Server::new(dyn_store, files, "ftp.example.test".into(), config);
            let shutdown = Shutdown::new();
            let listener = TcpListener::bind("127.0.0.1:0").await.unwrap();
            let addr = listener.local_addr().unwrap();
            let options = ListenOptions {
                implicit_tls: None,
                starttls: Some(tls.clone()),
                limiter: IpLimiter::new(0),
            };
            tokio::spawn(wharf_net::serve(
                listener,
                server.clone(),
                options,
                shutdown.signal(),
            ));
            let implicit = TcpListener::bind("127.0.0.1:0").await.unwrap();
            let implicit_addr = implicit.local_addr().unwrap();
            let options = ListenOptions {
                implicit_tls: Some(tls.clone()),
                starttls: None,
                limiter: IpLimiter::new(0),
            };
            tokio::spawn(wharf_net::serve(
                implicit,
                server.clone(),
                options,
                shutdown.signal(),
            ));
            (store, addr, implicit_addr, shutdown, server, tls)
        });
        let cert = dir.path().join("tls/self-signed-cert.pem");
        TestServer {
            addr,
            implicit_addr,
            store,
            files_root,
            cert,
            dir,
            shutdown,
            server,
            tls,
            rt,
        }
    }

    /// Serves the same server on an [::1] listener too; returns its address.
    pub fn listen_v6(&self) -> SocketAddr {
        self.rt.block_on(async {
            let listener = TcpListener::bind("[::1]:0").await.unwrap();
            let addr = listener.local_addr().unwrap();
            let options = ListenOptions {
                implicit_tls: None,
                starttls: Some(self.tls.clone()),
                limiter: IpLimiter::new(0),
            };
            tokio::spawn(wharf_net::serve(
                listener,
                self.server.clone(),
                options,
                self.shutdown.signal(),
            ));
            addr
        })
    }

    /// Where a user's home is on disk.
    pub fn home(&self, user: &str) -> PathBuf {
        let account = self
            .rt
            .block_on(self.store.user_get(&address(user)))
            .unwrap()
            .unwrap();
        self.files_root.join(account.id.0.to_string())
    }

    pub fn url(&self, path: &str) -> String {
        format!("ftp://127.0.0.1:{}/{}", self.addr.port(), path)
    }

    /// A raw control connection, greeting read.
    pub fn raw(&self) -> Raw {
        let mut r = Raw::connect(self.addr);
        let (code, _) = r.reply();
        assert_eq!(code, 220);
        r
    }

    /// A raw control connection logged in as `user`.
    pub fn raw_login(&self, user: &str) -> Raw {
        let mut r = self.raw();
        r.expect(&format!("USER {user}@example.test"), 331);
        r.expect(&format!("PASS {PASSWORD}"), 230);
        r
    }
}

impl Drop for TestServer {
    fn drop(&mut self) {
        self.shutdown.trigger();
    }
}

pub fn address(user: &str) -> Address {
    Address::parse(&format!("{user}@example.test")).unwrap()
}

/// A transcript-style client: send a line, read the reply.
pub struct Raw {
    pub reader: BufReader<TcpStream>,
    pub writer: TcpStream,
}

impl Raw {
    pub fn connect(addr: SocketAddr) -> Raw {
        let s = TcpStream::connect(addr).unwrap();
        s.set_read_timeout(Some(Duration::from_secs(30))).unwrap();
        Raw {
            reader: BufReader::new(s.try_clone().unwrap()),
            writer: s,
        }
    }

    pub fn send(&mut self, line: &str) {
        self.writer.write_all(line.as_bytes()).unwrap();
        self.writer.write_all(b"\r\n").unwrap();
    }

    pub fn send_bytes(&mut self, bytes: &[u8]) {
        self.writer.write_all(bytes).unwrap();
    }

    /// Reads one (possibly multi-line) reply: code and all its text lines.
    pub fn reply(&mut self) -> (u16, Vec<String>) {
        let mut lines = Vec::new();
        let mut first = String::new();
        self.reader.read_line(&mut first).unwrap();
        assert!(first.len() >= 4, "short reply {first:?}");
        let code: u16 = first[..3]
            .parse()
            .unwrap_or_else(|_| panic!("bad reply {first:?}"));
        lines.push(first.trim_end().to_string());
        if first.as_bytes()[3] == b'-' {
            loop {
                let mut l = String::new();
                if self.reader.read_line(&mut l).unwrap() == 0 {
                    panic!("eof in multi-line reply");
                }
                lines.push(l.trim_end().to_string());
                if l.starts_with(&format!("{code} ")) {
                    break;
                }
            }
        }
        (code, lines)
    }

    /// Sends a command and asserts the reply code; returns the reply text.
    pub fn expect(&mut self, line: &str, code: u16) -> String {
        self.send(line);
        let (got, lines) = self.reply();
        assert_eq!(got, code, "{line} -> {lines:?}");
        lines.join("\n")
    }

    /// EPSV and connect to the announced port.
    pub fn epsv(&mut self) -> TcpStream {
        let text = self.expect("EPSV", 229);
        let port: u16 = text
            .split("|||")
            .nth(1)
            .and_then(|s| s.split('|').next())
            .and_then(|s| s.parse().ok())
            .unwrap_or_else(|| panic!("bad EPSV reply {text}"));
        let addr = self.writer.peer_addr().unwrap();
        let s = TcpStream::connect((addr.ip(), port)).unwrap();
        s.set_read_timeout(Some(Duration::from_secs(30))).unwrap();
        s
    }

    /// Downloads a file over EPSV; asserts 150 and 226.
    pub fn retr(&mut self, path: &str) -> Vec<u8> {
        let mut data = self.epsv();
        self.expect(&format!("RETR {path}"), 150);
        let mut out = Vec::new();
        data.read_to_end(&mut out).unwrap();
        assert_eq!(self.reply().0, 226);
        out
    }

    /// Uploads with the given verb (STOR/APPE) over EPSV; asserts 150 and 226.
    pub fn store(&mut self, verb: &str, path: &str, body: &[u8]) {
        let mut data = self.epsv();
        self.expect(&format!("{verb} {path}"), 150);
        data.write_all(body).unwrap();
        drop(data);
        let (code, text) = self.reply();
        assert_eq!(code, 226, "{text:?}");
    }
}

/// Deterministic test content.
pub fn pattern(len: usize) -> Vec<u8> {
    let mut x: u32 = 0x1234_5678;
    (0..len)
        .map(|_| {
            x ^= x << 13;
            x ^= x >> 17;
            x ^= x << 5;
            x as u8
        })
        .collect()
}
