//! A client connection: the stream, its read buffer, and the framing helpers that every
//! protocol needs (bounded command lines, exact-length reads, STARTTLS upgrade).
//!
//! Invariants:
//! - The read buffer never grows past `max_buffer`; a line longer than the caller's
//!   limit is skipped up to its end and reported as [`Line::TooLong`], never buffered.
//! - `start_tls` drops every byte that arrived before the handshake, so commands
//!   pipelined after STARTTLS/STLS/AUTH TLS are never executed inside TLS
//!   (CVE-2011-0411; RFC 3207 §4.2, RFC 2595 §3.1).
//! - Every read waits at most `read_timeout` (idle), then fails with `TimedOut`.
//! - Slow clients: a command line must be complete within `line_timeout` of its first
//!   octet (Dovecot drops such clients at 180 s), and message data (`fill_data`: DATA,
//!   BDAT, literals) must arrive at [`MIN_DATA_PROGRESS`] octets per `line_timeout` at
//!   least. A line counts as complete when the caller consumes bytes ending in LF (or
//!   calls [`Conn::line_done`]); skipping an over-long line does not reset the clock.
//! - A session deadline (`set_deadline`, used for the whole time before login) bounds
//!   every read, whatever the client sends.
//! - A read whose bound has already passed fails at once, without polling the socket:
//!   a caller that loops on timeouts must end the session (see [`timeout_of`]).

use crate::stream::Stream;
use crate::tls::TlsAcceptor;
use std::io;
use std::net::SocketAddr;
use std::time::Duration;
use tokio::io::{AsyncReadExt, AsyncWriteExt};
use tokio::time::Instant;

/// Which bound a read ran into; carried inside the `TimedOut` error (see [`timeout_of`]).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Timeout {
    /// Silence for `read_timeout`.
    Idle,
    /// A command line not completed (or message data too slow) within `line_timeout`.
    Line,
    /// The session deadline (e.g. the time allowed before login) passed.
    Deadline,
}

impl std::fmt::Display for Timeout {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str(match self {
            Timeout::Idle => "idle timeout",
            Timeout::Line => "command line too slow",
            Timeout::Deadline => "session deadline passed",
        })
    }
}

impl std::error::Error for Timeout {}

/// Which bound a `TimedOut` error from [`Conn`] ran into (`None` for other errors).
pub fn timeout_of(e: &io::Error) -> Option<Timeout> {
    if e.kind() != io::ErrorKind::TimedOut {
        return None;
    }
    Some(
        e.get_ref()
            .and_then(|inner| inner.downcast_ref::<Timeout>())
            .copied()
            .unwrap_or(Timeout::Idle),
    )
}

/// Message data must arrive at this many octets per `line_timeout` at least.
pub const MIN_DATA_PROGRESS: usize = 4096;

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
    /// How long one command line may take from its first octet to its end (`None`: no
    /// bound); also the window for [`MIN_DATA_PROGRESS`] in [`Conn::fill_data`].
    pub line_timeout: Option<Duration>,
    /// When the current line (or data window) started; `None` between lines.
    line_start: Option<Instant>,
    /// Message octets received in the current data window.
    data_progress: usize,
    /// The last read was for message data ([`Conn::fill_data`]): there, only the data
    /// rate counts, and a consumed LF does not restart the clock.
    data_mode: bool,
    /// Reads fail after this instant (the session's deadline, e.g. for login).
    deadline: Option<Instant>,
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
            line_timeout: None,
            line_start: None,
            data_progress: 0,
            data_mode: false,
            deadline: None,
        }
    }

    /// Sets (or with `None` clears) a deadline `after` from now for every later read.
    pub fn set_deadline(&mut self, after: Option<Duration>) {
        self.deadline = after.map(|d| Instant::now() + d);
    }

    /// Whether a session deadline is set.
    pub fn has_deadline(&self) -> bool {
        self.deadline.is_some()
    }

    /// Marks the current command line as complete (for framers whose lines do not end in
    /// LF, e.g. FTP's bare CR): the line clock restarts with the next octet.
    pub fn line_done(&mut self) {
        self.line_start = None;
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

    /// Marks `n` buffered bytes as used. Bytes that end in LF complete a line (the line
    /// clock stops until the next octet).
    pub fn consume(&mut self, n: usize) {
        let end = (self.pos + n).min(self.buf.len());
        if !self.data_mode && end > self.pos && self.buf[end - 1] == b'\n' {
            self.line_start = None;
        }
        self.pos = end;
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
    /// end of stream). The caller bounds how much it lets accumulate. For command lines:
    /// the line clock (`line_timeout`) runs from a line's first octet to its end.
    pub async fn fill(&mut self) -> io::Result<usize> {
        self.fill_mode(false).await
    }

    /// Like [`Conn::fill`], for message data (DATA, BDAT, literals, uploads on the
    /// control connection): instead of a whole line within `line_timeout`, at least
    /// [`MIN_DATA_PROGRESS`] octets must arrive in each `line_timeout`.
    pub async fn fill_data(&mut self) -> io::Result<usize> {
        self.fill_mode(true).await
    }

    /// The time the next read may wait, and the bound that sets it.
    fn wait_limit(&self, now: Instant) -> (Duration, Timeout) {
        let mut limit = (self.read_timeout, Timeout::Idle);
        if let (Some(start), Some(lt)) = (self.line_start, self.line_timeout) {
            let left = (start + lt).saturating_duration_since(now);
            if left < limit.0 {
                limit = (left, Timeout::Line);
            }
        }
        if let Some(deadline) = self.deadline {
            let left = deadline.saturating_duration_since(now);
            if left <= limit.0 {
                limit = (left, Timeout::Deadline);
            }
        }
        limit
    }

    async fn fill_mode(&mut self, data: bool) -> io::Result<usize> {
        let now = Instant::now();
        if data != self.data_mode {
            // A message began or ended: its clock starts afresh.
            self.data_mode = data;
            self.line_start = None;
        }
        if self.line_start.is_none() && (data || !self.buffer().is_empty()) {
            // A partial line waits for its end, or a data window opens.
            self.line_start = Some(now);
            self.data_progress = 0;
        }
        let (timeout, kind) = self.wait_limit(now);
        if timeout.is_zero() {
            // Never poll past a bound: a caller that retries gets the same answer at
            // once, and must end the session rather than spin.
            return Err(io::Error::new(io::ErrorKind::TimedOut, kind));
        }
        if self.pos > 0 && self.pos * 2 >= self.buf.len() {
            self.buf.drain(..self.pos);
            self.pos = 0;
        }
        // Cancel-safe: `read_buf` fills spare capacity and only extends the length by
        // what arrived, so a caller that drops this future (a `select!` between the
        // control connection and an FTP data transfer) never leaves filler in the buffer.
        self.buf.reserve(READ_CHUNK);
        let result = match self.stream.as_mut() {
            Some(stream) => tokio::time::timeout(timeout, stream.read_buf(&mut self.buf)).await,
            None => Ok(Ok(0)),
        };
        match result {
            Ok(Ok(n)) => {
                if n > 0 {
                    if self.line_start.is_none() {
                        self.line_start = Some(Instant::now());
                        self.data_progress = 0;
                    }
                    if data {
                        self.data_progress += n;
                        if self.data_progress >= MIN_DATA_PROGRESS {
                            self.line_start = Some(Instant::now());
                            self.data_progress = 0;
                        }
                    }
                }
                Ok(n)
            }
            Ok(Err(e)) => Err(e),
            Err(_) => Err(io::Error::new(io::ErrorKind::TimedOut, kind)),
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
        self.line_start = None;
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

    /// A client that trickles a line one octet at a time is cut off `line_timeout` after
    /// the line began, although no single read waited long.
    #[tokio::test]
    async fn a_trickled_line_is_bounded() {
        let (mut conn, mut client) = pair().await;
        conn.read_timeout = Duration::from_secs(5);
        conn.line_timeout = Some(Duration::from_millis(300));
        tokio::spawn(async move {
            for _ in 0..100 {
                if client.write_all(b"A").await.is_err() {
                    return;
                }
                tokio::time::sleep(Duration::from_millis(50)).await;
            }
        });
        let started = std::time::Instant::now();
        let err = conn.read_line(100).await.unwrap_err();
        assert_eq!(timeout_of(&err), Some(Timeout::Line));
        assert!(
            started.elapsed() < Duration::from_secs(2),
            "{:?}",
            started.elapsed()
        );
        // Past its bound a read fails at once, without polling.
        assert_eq!(
            timeout_of(&conn.fill().await.unwrap_err()),
            Some(Timeout::Line)
        );
    }

    /// Skipping an over-long line does not restart the line clock.
    #[tokio::test]
    async fn skipping_a_long_line_keeps_the_clock() {
        let (mut conn, mut client) = pair().await;
        conn.line_timeout = Some(Duration::from_millis(300));
        tokio::spawn(async move {
            for _ in 0..200 {
                if client.write_all(b"AAAAAAAAAAAAAAAAAAAA").await.is_err() {
                    return;
                }
                tokio::time::sleep(Duration::from_millis(20)).await;
            }
        });
        let err = conn.read_line(10).await.unwrap_err();
        assert_eq!(timeout_of(&err), Some(Timeout::Line));
    }

    /// Complete lines at a slow pace are fine: the clock runs per line.
    #[tokio::test]
    async fn slow_complete_lines_are_not_cut() {
        let (mut conn, mut client) = pair().await;
        conn.line_timeout = Some(Duration::from_millis(150));
        tokio::spawn(async move {
            for _ in 0..4 {
                client.write_all(b"NOOP\r\n").await.unwrap();
                tokio::time::sleep(Duration::from_millis(100)).await;
            }
        });
        for _ in 0..4 {
            assert!(matches!(
                conn.read_line(100).await.unwrap(),
                Line::Complete { .. }
            ));
        }
    }

    /// Message data must keep a minimum rate; a steady stream is not cut.
    #[tokio::test]
    async fn data_needs_a_minimum_rate() {
        let (mut conn, mut client) = pair().await;
        conn.line_timeout = Some(Duration::from_millis(200));
        tokio::spawn(async move {
            for _ in 0..10 {
                client.write_all(&[b'x'; MIN_DATA_PROGRESS]).await.unwrap();
                tokio::time::sleep(Duration::from_millis(60)).await;
            }
            for _ in 0..100 {
                if client.write_all(b"x").await.is_err() {
                    return;
                }
                tokio::time::sleep(Duration::from_millis(20)).await;
            }
        });
        let mut got = 0;
        let err = loop {
            // Message data that ends its chunks in LF must not restart the clock.
            match conn.fill_data().await {
                Ok(n) => {
                    got += n;
                    let all = conn.buffer().len();
                    conn.consume(all);
                }
                Err(e) => break e,
            }
        };
        assert!(got >= 10 * MIN_DATA_PROGRESS, "cut off after {got} octets");
        assert_eq!(timeout_of(&err), Some(Timeout::Line));
    }

    /// A trickle of short "lines" inside message data (each chunk consumed ending in
    /// LF) is still held to the data rate.
    #[tokio::test]
    async fn line_feeds_inside_data_do_not_restart_the_clock() {
        let (mut conn, mut client) = pair().await;
        conn.line_timeout = Some(Duration::from_millis(200));
        tokio::spawn(async move {
            for _ in 0..100 {
                if client.write_all(b"x\n").await.is_err() {
                    return;
                }
                tokio::time::sleep(Duration::from_millis(20)).await;
            }
        });
        let started = std::time::Instant::now();
        let err = loop {
            match conn.fill_data().await {
                Ok(_) => {
                    let all = conn.buffer().len();
                    conn.consume(all);
                }
                Err(e) => break e,
            }
        };
        assert_eq!(timeout_of(&err), Some(Timeout::Line));
        assert!(
            started.elapsed() < Duration::from_secs(1),
            "{:?}",
            started.elapsed()
        );
        // Back to commands after the message: a fresh clock, not the data window's.
        conn.line_timeout = Some(Duration::from_secs(5));
        assert!(conn.fill().await.is_ok());
    }

    #[tokio::test]
    async fn the_deadline_bounds_the_whole_session() {
        let (mut conn, mut client) = pair().await;
        conn.set_deadline(Some(Duration::from_millis(300)));
        tokio::spawn(async move {
            for _ in 0..100 {
                if client.write_all(b"NOOP\r\n").await.is_err() {
                    return;
                }
                tokio::time::sleep(Duration::from_millis(30)).await;
            }
        });
        let err = loop {
            match conn.read_line(100).await {
                Ok(_) => {}
                Err(e) => break e,
            }
        };
        assert_eq!(timeout_of(&err), Some(Timeout::Deadline));
    }

    #[tokio::test]
    async fn idle_read_times_out() {
        let (mut conn, _client) = pair().await;
        conn.read_timeout = Duration::from_millis(50);
        let err = conn.read_line(10).await.unwrap_err();
        assert_eq!(err.kind(), io::ErrorKind::TimedOut);
        assert_eq!(timeout_of(&err), Some(Timeout::Idle));
    }
}
