//! A client connection: the stream, its read buffer, and the framing helpers that every
//! protocol needs (bounded command lines, exact-length reads, STARTTLS upgrade).
//!
//! Invariants:
//! - The read buffer never grows past `max_buffer`; a line longer than the caller's
//!   limit is skipped up to its end and reported as [`Line::TooLong`], never buffered.
//! - `start_tls` drops every byte that arrived before the handshake, so commands
//!   pipelined after STARTTLS/STLS/AUTH TLS are never executed inside TLS
//!   (CVE-2011-0411; RFC 3207 §4.2, RFC 2595 §3.1).
//! - Every read waits at most `read_timeout`, then fails with `TimedOut`.

use crate::stream::Stream;
use crate::tls::TlsAcceptor;
use std::io;
use std::net::SocketAddr;
use std::time::Duration;
use tokio::io::{AsyncReadExt, AsyncWriteExt};

/// One line read from the client.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Line {
    /// A complete line without its terminator; `crlf` says whether it ended in CRLF
    /// (false: a bare LF).
    Complete { bytes: Vec<u8>, crlf: bool },
    /// The line exceeded the limit; its bytes were discarded up to and including the LF.
    TooLong,
    /// The client closed the connection (any partial line is dropped).
    Eof,
}

/// Size of one socket read.
const READ_CHUNK: usize = 16 * 1024;

/// A buffered client connection.
pub struct Conn {
    stream: Option<Stream>,
    buf: Vec<u8>,
    /// Start of unconsumed bytes in `buf`.
    pos: usize,
    peer: SocketAddr,
    local: SocketAddr,
    starttls: Option<TlsAcceptor>,
    /// Identifies the connection in logs.
    pub id: u64,
    /// How long a single read may wait.
    pub read_timeout: Duration,
    /// How long a single write may wait.
    pub write_timeout: Duration,
}

impl Conn {
    pub fn new(
        stream: Stream,
        peer: SocketAddr,
        local: SocketAddr,
        starttls: Option<TlsAcceptor>,
        id: u64,
    ) -> Conn {
        Conn {
            stream: Some(stream),
            buf: Vec::with_capacity(4096),
            pos: 0,
            peer,
            local,
            starttls,
            id,
            read_timeout: Duration::from_secs(300),
            write_timeout: Duration::from_secs(300),
        }
    }

    pub fn peer(&self) -> SocketAddr {
        self.peer
    }
    pub fn local(&self) -> SocketAddr {
        self.local
    }
    pub fn is_tls(&self) -> bool {
        self.stream.as_ref().is_some_and(Stream::is_tls)
    }
    /// Whether the peer is on the loopback interface (where plaintext passwords are
    /// allowed by default).
    pub fn is_loopback(&self) -> bool {
        self.peer.ip().is_loopback()
    }
    /// Whether STARTTLS (or its protocol's twin) can be offered: a certificate is
    /// configured and the connection is not already encrypted.
    pub fn can_starttls(&self) -> bool {
        self.starttls.is_some() && !self.is_tls()
    }

    fn stream(&mut self) -> io::Result<&mut Stream> {
        self.stream.as_mut().ok_or_else(|| {
            io::Error::new(
                io::ErrorKind::NotConnected,
                "connection lost in TLS handshake",
            )
        })
    }

    /// The bytes received and not yet consumed.
    pub fn buffer(&self) -> &[u8] {
        &self.buf[self.pos..]
    }

    /// Marks `n` buffered bytes as used.
    pub fn consume(&mut self, n: usize) {
        self.pos = (self.pos + n).min(self.buf.len());
        if self.pos == self.buf.len() {
            self.buf.clear();
            self.pos = 0;
            // A large literal or upload grew the buffer: give the memory back instead of
            // keeping it for the rest of the connection (idle connections stay small).
            if self.buf.capacity() > 4 * READ_CHUNK {
                self.buf.shrink_to(READ_CHUNK);
            }
        }
    }

    /// Reads more bytes from the socket into the buffer. Returns how many arrived (0 at
    /// end of stream). The caller bounds how much it lets accumulate.
    pub async fn fill(&mut self) -> io::Result<usize> {
        if self.pos > 0 && self.pos * 2 >= self.buf.len() {
            self.buf.drain(..self.pos);
            self.pos = 0;
        }
        // Cancel-safe: `read_buf` fills spare capacity and only extends the length by
        // what arrived, so a caller that drops this future (a `select!` between the
        // control connection and an FTP data transfer) never leaves filler in the buffer.
        self.buf.reserve(READ_CHUNK);
        let timeout = self.read_timeout;
        let result = match self.stream.as_mut() {
            Some(stream) => tokio::time::timeout(timeout, stream.read_buf(&mut self.buf)).await,
            None => Ok(Ok(0)),
        };
        match result {
            Ok(r) => r,
            Err(_) => Err(io::Error::new(io::ErrorKind::TimedOut, "idle timeout")),
        }
    }

    /// Reads one line of at most `max` octets (terminator not counted).
    pub async fn read_line(&mut self, max: usize) -> io::Result<Line> {
        let mut skipping = false;
        let mut scanned = 0;
        loop {
            let avail = self.buffer();
            if let Some(i) = avail[scanned..].iter().position(|&b| b == b'\n') {
                let lf = scanned + i;
                if skipping {
                    self.consume(lf + 1);
                    return Ok(Line::TooLong);
                }
                let crlf = lf > 0 && avail[lf - 1] == b'\r';
                let end = if crlf { lf - 1 } else { lf };
                if end > max {
                    self.consume(lf + 1);
                    return Ok(Line::TooLong);
                }
                let bytes = avail[..end].to_vec();
                self.consume(lf + 1);
                return Ok(Line::Complete { bytes, crlf });
            }
            scanned = avail.len();
            // Keep one extra octet for a CR that may precede the LF.
            if scanned > max + 1 {
                skipping = true;
                let n = scanned;
                self.consume(n);
                scanned = 0;
            }
            if self.fill().await? == 0 {
                return Ok(Line::Eof);
            }
        }
    }

    /// Fills the buffer until it holds at least `n` bytes; false if the stream ended first.
    pub async fn fill_to(&mut self, n: usize) -> io::Result<bool> {
        while self.buffer().len() < n {
            if self.fill().await? == 0 {
                return Ok(false);
            }
        }
        Ok(true)
    }

    /// Writes all of `data` (buffered by TLS, sent immediately on plain TCP).
    pub async fn write_all(&mut self, data: &[u8]) -> io::Result<()> {
        let timeout = self.write_timeout;
        let stream = self.stream()?;
        match tokio::time::timeout(timeout, stream.write_all(data)).await {
            Ok(r) => r,
            Err(_) => Err(io::Error::new(io::ErrorKind::TimedOut, "write timeout")),
        }
    }

    pub async fn flush(&mut self) -> io::Result<()> {
        let timeout = self.write_timeout;
        let stream = self.stream()?;
        match tokio::time::timeout(timeout, stream.flush()).await {
            Ok(r) => r,
            Err(_) => Err(io::Error::new(io::ErrorKind::TimedOut, "write timeout")),
        }
    }

    /// Writes and flushes.
    pub async fn send(&mut self, data: &[u8]) -> io::Result<()> {
        self.write_all(data).await?;
        self.flush().await
    }

    /// Closes the write side politely.
    pub async fn shutdown(&mut self) {
        if let Some(stream) = self.stream.as_mut() {
            let _ = tokio::time::timeout(Duration::from_secs(5), stream.shutdown()).await;
        }
    }

    /// Upgrades a plain connection to TLS. Bytes the client sent before the handshake
    /// are discarded (CVE-2011-0411); returns how many were. The caller must have sent
    /// its "go ahead" reply first, and must reset its session state afterwards.
    pub async fn start_tls(&mut self) -> io::Result<usize> {
        let acceptor = self
            .starttls
            .clone()
            .ok_or_else(|| io::Error::new(io::ErrorKind::Unsupported, "TLS not available"))?;
        let discarded = self.buffer().len();
        self.buf.clear();
        self.pos = 0;
        let plain = match self.stream.take() {
            Some(Stream::Plain(tcp)) => tcp,
            Some(tls @ Stream::Tls(_)) => {
                self.stream = Some(tls);
                return Err(io::Error::new(
                    io::ErrorKind::AlreadyExists,
                    "TLS already active",
                ));
            }
            None => return Err(io::Error::new(io::ErrorKind::NotConnected, "no stream")),
        };
        let handshake = tokio::time::timeout(
            self.read_timeout.min(Duration::from_secs(60)),
            acceptor.accept(plain),
        );
        match handshake.await {
            Ok(Ok(tls)) => {
                self.stream = Some(Stream::Tls(Box::new(tls)));
                Ok(discarded)
            }
            Ok(Err(e)) => Err(e),
            Err(_) => Err(io::Error::new(
                io::ErrorKind::TimedOut,
                "TLS handshake timeout",
            )),
        }
    }

    /// The TLS acceptor, for protocols that open TLS data connections (FTPS).
    pub fn tls_acceptor(&self) -> Option<&TlsAcceptor> {
        self.starttls.as_ref()
    }

    /// Takes the stream out, e.g. to hand a data connection to a copy loop.
    pub fn into_parts(self) -> (Option<Stream>, Vec<u8>) {
        let rest = self.buf[self.pos..].to_vec();
        (self.stream, rest)
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use tokio::net::{TcpListener, TcpStream};

    async fn pair() -> (Conn, TcpStream) {
        let l = TcpListener::bind("127.0.0.1:0").await.unwrap();
        let addr = l.local_addr().unwrap();
        let client = TcpStream::connect(addr).await.unwrap();
        let (server, peer) = l.accept().await.unwrap();
        (
            Conn::new(Stream::Plain(server), peer, addr, None, 1),
            client,
        )
    }

    #[tokio::test]
    async fn reads_lines_split_across_writes() {
        let (mut conn, mut client) = pair().await;
        tokio::spawn(async move {
            for chunk in [&b"HE"[..], b"LO x\r", b"\nNOOP\nQUIT\r\n"] {
                client.write_all(chunk).await.unwrap();
                tokio::time::sleep(Duration::from_millis(5)).await;
            }
        });
        assert_eq!(
            conn.read_line(100).await.unwrap(),
            Line::Complete {
                bytes: b"HELO x".to_vec(),
                crlf: true
            }
        );
        assert_eq!(
            conn.read_line(100).await.unwrap(),
            Line::Complete {
                bytes: b"NOOP".to_vec(),
                crlf: false
            }
        );
        assert_eq!(
            conn.read_line(100).await.unwrap(),
            Line::Complete {
                bytes: b"QUIT".to_vec(),
                crlf: true
            }
        );
        assert_eq!(conn.read_line(100).await.unwrap(), Line::Eof);
    }

    #[tokio::test]
    async fn long_lines_are_skipped_not_buffered() {
        let (mut conn, mut client) = pair().await;
        tokio::spawn(async move {
            let long = vec![b'a'; 100_000];
            client.write_all(&long).await.unwrap();
            client.write_all(b"\r\nNOOP\r\n").await.unwrap();
        });
        assert_eq!(conn.read_line(512).await.unwrap(), Line::TooLong);
        assert!(
            conn.buf.capacity() < 64 * 1024,
            "buffer grew to {}",
            conn.buf.capacity()
        );
        assert_eq!(
            conn.read_line(512).await.unwrap(),
            Line::Complete {
                bytes: b"NOOP".to_vec(),
                crlf: true
            }
        );
    }

    #[tokio::test]
    async fn a_line_exactly_at_the_limit_is_accepted() {
        let (mut conn, mut client) = pair().await;
        tokio::spawn(async move {
            client.write_all(&[b'x'; 10]).await.unwrap();
            client.write_all(b"\r\n").await.unwrap();
            client.write_all(&[b'y'; 11]).await.unwrap();
            client.write_all(b"\r\n").await.unwrap();
        });
        assert_eq!(
            conn.read_line(10).await.unwrap(),
            Line::Complete {
                bytes: vec![b'x'; 10],
                crlf: true
            }
        );
        assert_eq!(conn.read_line(10).await.unwrap(), Line::TooLong);
    }

    #[tokio::test]
    async fn a_large_read_does_not_keep_its_buffer() {
        let (mut conn, mut client) = pair().await;
        tokio::spawn(async move {
            client.write_all(&vec![b'x'; 1 << 20]).await.unwrap();
        });
        assert!(conn.fill_to(1 << 20).await.unwrap());
        conn.consume(1 << 20);
        assert!(
            conn.buf.capacity() <= 4 * READ_CHUNK,
            "{}",
            conn.buf.capacity()
        );
    }

    #[tokio::test]
    async fn idle_read_times_out() {
        let (mut conn, _client) = pair().await;
        conn.read_timeout = Duration::from_millis(50);
        let err = conn.read_line(10).await.unwrap_err();
        assert_eq!(err.kind(), io::ErrorKind::TimedOut);
    }
}
