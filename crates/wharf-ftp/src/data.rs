//! Data connections (RFC 959 §3.2-3.3, RFC 2428, RFC 4217 §9): set up by PASV/EPSV
//! (we listen) or PORT/EPRT (we connect), opened per transfer and closed after it,
//! wrapped in TLS under PROT P; and the streaming copy loops that run over them.
//!
//! Implementation notes:
//! - RFC 2577 (FTP bounce): PORT/EPRT may only name the control connection's client
//!   address and a port >= 1024 (checked in `op/port.rs`); a passive listener accepts
//!   only a connection from the control connection's client address and ignores others
//!   (no data theft by a third party).
//! - Copies are streaming with fixed buffers (at most two of [`CHUNK`]; an upload past
//!   4 MiB reads in steps of [`BIG_CHUNK`] instead), or zero-copy `sendfile` for plain
//!   binary downloads: memory per transfer is bounded whatever the file size. Every read and write on the data connection waits at most the
//!   configured data timeout.
//! - A transfer future owns everything it touches, so ABOR cancels it by dropping it:
//!   an upload dropped unfinished removes its temporary file (see `wharf_store::files`).

use crate::reply::{Reply, code};
use crate::session::Session;
use std::io;
use std::net::{IpAddr, SocketAddr};
use std::sync::Arc;
use std::sync::atomic::{AtomicU64, Ordering};
use std::time::Duration;
use tokio::io::{AsyncRead, AsyncReadExt, AsyncWriteExt};
use tokio::net::{TcpListener, TcpSocket, TcpStream};
use wharf_net::Stream;
use wharf_store::files::{FileError, Upload};

/// Size of one copy step.
pub const CHUNK: usize = 128 * 1024;
/// Size of one copy step of an upload once it has passed [`BIG_UPLOAD`] bytes.
pub const BIG_CHUNK: usize = 1024 * 1024;
/// Uploads bigger than this receive in steps of [`BIG_CHUNK`].
const BIG_UPLOAD: u64 = 4 * 1024 * 1024;

/// How the next data connection will be made.
pub(crate) enum DataSetup {
    None,
    /// PASV/EPSV: we listen here.
    Passive(TcpListener),
    /// PORT/EPRT: we connect there.
    Active(SocketAddr),
}

/// The address as plain IPv4 when it is an IPv4-mapped IPv6 one, so comparisons and
/// PASV replies see the same address the client does.
pub(crate) fn canonical(ip: IpAddr) -> IpAddr {
    match ip {
        IpAddr::V6(v6) => match v6.to_ipv4_mapped() {
            Some(v4) => IpAddr::V4(v4),
            None => ip,
        },
        v4 => v4,
    }
}

/// Binds a passive listener on `ip`, on a port from `range` when one is configured
/// (tried from a random start so concurrent sessions spread out).
pub(crate) async fn bind_passive(ip: IpAddr, range: Option<(u16, u16)>) -> io::Result<TcpListener> {
    let Some((first, last)) = range else {
        return TcpListener::bind(SocketAddr::new(ip, 0)).await;
    };
    let count = u32::from(last - first) + 1;
    let start = rand::random::<u32>() % count;
    for i in 0..count {
        let port = first + ((start + i) % count) as u16;
        let socket = if ip.is_ipv4() {
            TcpSocket::new_v4()?
        } else {
            TcpSocket::new_v6()?
        };
        if socket.bind(SocketAddr::new(ip, port)).is_err() {
            continue;
        }
        if let Ok(listener) = socket.listen(1) {
            return Ok(listener);
        }
    }
    Err(io::Error::new(
        io::ErrorKind::AddrInUse,
        "no free passive port",
    ))
}

/// Limits every transfer of a session applies.
#[derive(Clone)]
pub(crate) struct Limits {
    /// The account's shared rate limit, if any (`max_rate`).
    pub rate: Option<Arc<RateLimit>>,
    /// Longest wait for one read or write.
    pub timeout: Duration,
}

/// A bandwidth limit shared by every transfer of one account: a virtual clock that each
/// chunk advances by `len / rate`; a transfer sleeps until its chunk's slot has passed,
/// so concurrent sessions of the account share the rate instead of multiplying it.
pub(crate) struct RateLimit {
    bytes_per_sec: u64,
    next: std::sync::Mutex<tokio::time::Instant>,
}

impl RateLimit {
    pub fn new(bytes_per_sec: u64) -> RateLimit {
        RateLimit {
            bytes_per_sec: bytes_per_sec.max(1),
            next: std::sync::Mutex::new(tokio::time::Instant::now()),
        }
    }

    /// Accounts for `len` bytes just moved; waits as long as the rate requires.
    pub async fn take(&self, len: usize) {
        let now = tokio::time::Instant::now();
        let until = {
            let mut next = self.next.lock().unwrap_or_else(|e| e.into_inner());
            // Idle time is not saved up, beyond a little slack that absorbs timer
            // overshoot (a sleep ends up to a tick late).
            let floor = now.checked_sub(Duration::from_millis(10)).unwrap_or(now);
            let start = (*next).max(floor);
            *next = start + Duration::from_secs_f64(len as f64 / self.bytes_per_sec as f64);
            *next
        };
        // Timers tick in milliseconds: sleeping for less would cost a whole tick per
        // chunk. Short debts stay on the clock and are slept off once they add up.
        if until > now + Duration::from_millis(2) {
            tokio::time::sleep_until(until).await;
        }
    }
}

/// How a transfer ended.
#[derive(Debug)]
pub(crate) enum TransferEnd {
    /// Every byte moved (and, for uploads, committed): the count.
    Done(u64),
    /// The data connection failed or stalled.
    DataError(io::Error),
    /// The file area failed.
    FileError(FileError),
}

async fn timed<T>(
    limit: Duration,
    f: impl std::future::Future<Output = io::Result<T>>,
) -> io::Result<T> {
    match tokio::time::timeout(limit, f).await {
        Ok(r) => r,
        Err(_) => Err(io::Error::new(
            io::ErrorKind::TimedOut,
            "data connection timed out",
        )),
    }
}

/// Waits as the account's rate limit requires after moving `len` bytes.
async fn pace(limits: &Limits, len: usize) {
    if let Some(rate) = &limits.rate {
        rate.take(len).await;
    }
}

/// What a download sends.
pub(crate) struct Source {
    pub reader: Box<dyn AsyncRead + Send + Unpin>,
    /// How many bytes `reader` will give, when known (sizes the buffers).
    pub len: Option<u64>,
    /// The same bytes as a local file from `.1` to `.2`, for `sendfile`.
    pub file: Option<(std::fs::File, u64, u64)>,
}

impl Source {
    /// An in-memory body (listings).
    pub fn bytes(body: Vec<u8>) -> Source {
        Source {
            len: Some(body.len() as u64),
            reader: Box::new(std::io::Cursor::new(body)),
            file: None,
        }
    }
}

/// Sends `source` to the client, then closes the data connection (with a TLS
/// close_notify under PROT P). Binary, unthrottled sends of a local file over plain TCP
/// use `sendfile` (zero-copy; a page-cache miss blocks this worker thread for the read,
/// as it would block vsftpd's process); everything else streams through two buffers, so
/// the next read from the file overlaps the write to the client. TYPE A converts LF to
/// CRLF.
pub(crate) async fn send(
    source: Source,
    mut data: Stream,
    ascii: bool,
    limits: Limits,
    progress: Arc<AtomicU64>,
) -> TransferEnd {
    let result = match (&source.file, &data) {
        (Some((file, start, end)), Stream::Plain(tcp)) if !ascii && limits.rate.is_none() => {
            send_file(tcp, file, *start, *end, limits.timeout, &progress).await
        }
        _ => send_stream(source, &mut data, ascii, &limits, &progress).await,
    };
    let sent = match result {
        Ok(n) => n,
        Err(end) => return end,
    };
    if let Err(e) = timed(limits.timeout, data.flush()).await {
        return TransferEnd::DataError(e);
    }
    if let Err(e) = timed(limits.timeout, data.shutdown()).await {
        return TransferEnd::DataError(e);
    }
    TransferEnd::Done(sent)
}

/// `sendfile(2)` from `file` (bytes `start..end`) to the socket.
async fn send_file(
    tcp: &TcpStream,
    file: &std::fs::File,
    start: u64,
    end: u64,
    timeout: Duration,
    progress: &AtomicU64,
) -> Result<u64, TransferEnd> {
    let mut offset = start;
    while offset < end {
        let count = (end - offset).min(4 << 20) as usize;
        let step = async {
            loop {
                tcp.writable().await?;
                match tcp.try_io(tokio::io::Interest::WRITABLE, || {
                    rustix::fs::sendfile(tcp, file, Some(&mut offset), count)
                        .map_err(io::Error::from)
                }) {
                    Err(e) if e.kind() == io::ErrorKind::WouldBlock => continue,
                    r => return r,
                }
            }
        };
        match timed(timeout, step).await {
            // The file shrank under us: send what there was.
            Ok(0) => break,
            Ok(_) => progress.store(offset - start, Ordering::Relaxed),
            Err(e) => return Err(TransferEnd::DataError(e)),
        }
    }
    Ok(offset - start)
}

/// Streams `source` through two buffers (read the next while writing the current).
async fn send_stream(
    mut source: Source,
    data: &mut Stream,
    ascii: bool,
    limits: &Limits,
    progress: &AtomicU64,
) -> Result<u64, TransferEnd> {
    let size = match source.len {
        Some(n) => (n as usize).saturating_add(1).clamp(4096, CHUNK),
        None => CHUNK,
    };
    let mut cur = vec![0u8; size];
    let mut next = vec![0u8; size];
    let mut converted = Vec::new();
    let mut sent = 0u64;
    let mut n = match source.reader.read(&mut cur).await {
        Ok(n) => n,
        Err(e) => return Err(TransferEnd::FileError(e.into())),
    };
    while n > 0 {
        let out = if ascii {
            converted.clear();
            crate::ascii::to_network(&cur[..n], &mut converted);
            &converted[..]
        } else {
            &cur[..n]
        };
        let (read, written) = tokio::join!(
            source.reader.read(&mut next),
            timed(limits.timeout, data.write_all(out))
        );
        if let Err(e) = written {
            return Err(TransferEnd::DataError(e));
        }
        sent += out.len() as u64;
        progress.store(sent, Ordering::Relaxed);
        pace(limits, out.len()).await;
        n = match read {
            Ok(n) => n,
            Err(e) => return Err(TransferEnd::FileError(e.into())),
        };
        std::mem::swap(&mut cur, &mut next);
    }
    Ok(sent)
}

/// Receives the client's bytes into `upload` until the client closes the data
/// connection, converting CRLF to LF under TYPE A; commits (fsync + rename) at the end.
pub(crate) async fn receive(
    mut data: Stream,
    mut upload: Box<dyn Upload>,
    ascii: bool,
    limits: Limits,
    progress: Arc<AtomicU64>,
) -> TransferEnd {
    let mut buf = vec![0u8; CHUNK];
    let mut converted = Vec::new();
    let mut conv = crate::ascii::FromNetwork::default();
    let mut received = 0u64;
    loop {
        let n = match timed(limits.timeout, data.read(&mut buf)).await {
            Ok(0) => break,
            // A TLS peer that closes without close_notify: taken as the end of the file,
            // as vsftpd does by default (strict_ssl_read_eof=NO); many clients do it.
            Err(e) if e.kind() == io::ErrorKind::UnexpectedEof => break,
            Ok(n) => n,
            Err(e) => {
                upload.abort().await;
                return TransferEnd::DataError(e);
            }
        };
        received += n as u64;
        progress.store(received, Ordering::Relaxed);
        if received >= BIG_UPLOAD && buf.len() < BIG_CHUNK {
            // A big upload: fewer, larger reads and disk writes (one blocking-pool hop
            // per write).
            buf.resize(BIG_CHUNK, 0);
        }
        let chunk = if ascii {
            converted.clear();
            conv.convert(&buf[..n], &mut converted);
            &converted[..]
        } else {
            &buf[..n]
        };
        if let Err(e) = upload.write(chunk).await {
            upload.abort().await;
            return TransferEnd::FileError(e);
        }
        pace(&limits, n).await;
    }
    if ascii {
        converted.clear();
        conv.finish(&mut converted);
        if !converted.is_empty()
            && let Err(e) = upload.write(&converted).await
        {
            upload.abort().await;
            return TransferEnd::FileError(e);
        }
    }
    // Answer the client's close_notify with ours (ftplib's unwrap() waits for it).
    let _ = timed(limits.timeout, data.shutdown()).await;
    drop(data);
    match upload.commit().await {
        Ok(_) => TransferEnd::Done(received),
        Err(e) => TransferEnd::FileError(e),
    }
}

impl Session<'_> {
    /// Opens the data connection the client set up, sends the 150 `opening` reply, and
    /// under PROT P runs the TLS handshake (after the 150, which is when clients start
    /// it). On failure the error reply has been sent and `None` is returned.
    pub(crate) async fn open_data(&mut self, opening: String) -> io::Result<Option<Stream>> {
        // RFC 4217 §9: 521 when policy demands protected data and PROT P was not given.
        if self.server.config.require_tls && !self.prot_private {
            self.reply(Reply::new(
                code::PROT_REFUSED,
                "Data connections must be encrypted (PBSZ 0, PROT P).",
            ))
            .await?;
            return Ok(None);
        }
        let setup = std::mem::replace(&mut self.data, DataSetup::None);
        let timeout = Duration::from_secs(self.server.config.data_timeout_secs.max(1));
        let peer_ip = canonical(self.conn.peer().ip());
        let tcp = match setup {
            DataSetup::None => {
                self.reply(Reply::new(
                    code::CANT_OPEN_DATA,
                    "Use PORT, EPRT, PASV or EPSV first.",
                ))
                .await?;
                return Ok(None);
            }
            DataSetup::Passive(listener) => {
                let accept = async {
                    loop {
                        let (tcp, from) = listener.accept().await?;
                        // RFC 2577 §3 / RFC 4217 §10: only the control connection's
                        // client may use this port.
                        if canonical(from.ip()) == peer_ip {
                            return Ok::<TcpStream, io::Error>(tcp);
                        }
                        tracing::warn!(conn = self.conn.id, %from, "refused a data connection from a foreign address");
                    }
                };
                timed(timeout, accept).await
            }
            DataSetup::Active(addr) => {
                let local = SocketAddr::new(self.conn.local().ip(), 0);
                let connect = async {
                    let socket = if addr.is_ipv4() && local.is_ipv4() {
                        TcpSocket::new_v4()?
                    } else {
                        TcpSocket::new_v6()?
                    };
                    if local.is_ipv4() == addr.is_ipv4() {
                        socket.bind(local)?;
                    }
                    socket.connect(addr).await
                };
                timed(timeout, connect).await
            }
        };
        let tcp = match tcp {
            Ok(tcp) => tcp,
            Err(e) => {
                tracing::info!(conn = self.conn.id, "data connection failed: {e}");
                self.reply(Reply::new(
                    code::CANT_OPEN_DATA,
                    "Can't open data connection.",
                ))
                .await?;
                return Ok(None);
            }
        };
        let _ = tcp.set_nodelay(true);
        self.reply(Reply::new(code::OPENING_DATA, opening)).await?;
        if !self.prot_private {
            return Ok(Some(Stream::Plain(tcp)));
        }
        let Some(acceptor) = self.tls.clone() else {
            self.reply(Reply::new(code::CANT_OPEN_DATA, "TLS is not available."))
                .await?;
            return Ok(None);
        };
        match timed(timeout, acceptor.accept(tcp)).await {
            Ok(tls) => Ok(Some(Stream::Tls(Box::new(tls)))),
            Err(e) => {
                tracing::info!(conn = self.conn.id, "data TLS handshake failed: {e}");
                self.reply(Reply::new(
                    code::CANT_OPEN_DATA,
                    "TLS handshake on the data connection failed.",
                ))
                .await?;
                Ok(None)
            }
        }
    }

    pub(crate) fn limits(&self) -> Limits {
        Limits {
            rate: self.rate.clone(),
            timeout: Duration::from_secs(self.server.config.data_timeout_secs.max(1)),
        }
    }

    /// Runs a transfer while answering ABOR and STAT on the control connection. Returns
    /// `None` if ABOR cancelled it (426 and 226 already sent).
    pub(crate) async fn supervise(
        &mut self,
        transfer: impl std::future::Future<Output = TransferEnd>,
        progress: &AtomicU64,
    ) -> io::Result<Option<TransferEnd>> {
        let mut transfer = Box::pin(transfer);
        loop {
            if self.has_queued() {
                return Ok(Some(transfer.await));
            }
            let frame = tokio::select! {
                end = &mut transfer => return Ok(Some(end)),
                frame = self.next_frame() => frame,
            };
            match frame {
                // A long transfer outlasts the control idle timeout: not an error. A line
                // left unfinished past its bound is (and a read past its bound fails at
                // once, so going round again would spin).
                Err(e) if wharf_net::timeout_of(&e) == Some(wharf_net::Timeout::Idle) => continue,
                Err(e) => return Err(e),
                Ok(None) => {
                    return Err(io::Error::new(
                        io::ErrorKind::UnexpectedEof,
                        "control connection closed",
                    ));
                }
                Ok(Some(crate::command::Frame::TooLong)) => {
                    self.reply(Reply::new(code::UNKNOWN_COMMAND, "Command line too long."))
                        .await?;
                }
                Ok(Some(crate::command::Frame::Line(line))) => match crate::command::parse(&line) {
                    Ok(crate::command::Command::Abor) => {
                        drop(transfer);
                        // RFC 959 §4.1.3 ABOR: 426 for the aborted command, then 226.
                        self.reply(Reply::new(
                            code::TRANSFER_ABORTED,
                            "Connection closed; transfer aborted.",
                        ))
                        .await?;
                        self.reply(Reply::new(code::TRANSFER_COMPLETE, "ABOR successful."))
                            .await?;
                        return Ok(None);
                    }
                    Ok(crate::command::Command::Stat(None)) => {
                        let n = progress.load(Ordering::Relaxed);
                        self.reply(Reply::new(
                            code::FILE_STATUS,
                            format!("Status: transfer in progress, {n} bytes so far."),
                        ))
                        .await?;
                    }
                    _ => self.queue(line),
                },
            }
        }
    }

    /// The final reply of a transfer.
    pub(crate) async fn finish_transfer(
        &mut self,
        end: Option<TransferEnd>,
        done_text: &str,
    ) -> io::Result<()> {
        let reply = match end {
            None => return Ok(()),
            Some(TransferEnd::Done(bytes)) => {
                tracing::debug!(conn = self.conn.id, bytes, "transfer complete");
                Reply::new(code::TRANSFER_COMPLETE, done_text)
            }
            Some(TransferEnd::DataError(e)) => {
                tracing::info!(conn = self.conn.id, "data connection error: {e}");
                Reply::new(
                    code::TRANSFER_ABORTED,
                    "Connection closed; transfer aborted.",
                )
            }
            Some(TransferEnd::FileError(FileError::QuotaExceeded)) => Reply::new(
                code::EXCEEDED_STORAGE,
                "Exceeded storage allocation (quota); transfer aborted.",
            ),
            // RFC 959 §4.2.2: 452 "Insufficient storage space in system" (the server's
            // disk, not the user's quota: transient, try again later).
            Some(TransferEnd::FileError(FileError::NoSpace)) => Reply::new(
                code::INSUFFICIENT_STORAGE,
                "Insufficient storage space in system; transfer aborted.",
            ),
            Some(TransferEnd::FileError(e)) => {
                tracing::warn!(conn = self.conn.id, "file error during transfer: {e}");
                Reply::new(
                    code::LOCAL_ERROR,
                    "Local error in processing; transfer aborted.",
                )
            }
        };
        self.reply(reply).await
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    /// On tokio's paused clock (virtual time, no real waiting): the account's sessions
    /// share one rate.
    #[tokio::test(start_paused = true)]
    async fn rate_limit_is_shared_by_the_accounts_transfers() {
        let rate = Arc::new(RateLimit::new(1000));
        let start = tokio::time::Instant::now();
        let a = tokio::spawn({
            let rate = rate.clone();
            async move {
                for _ in 0..5 {
                    rate.take(100).await;
                }
            }
        });
        let b = tokio::spawn({
            let rate = rate.clone();
            async move {
                for _ in 0..5 {
                    rate.take(100).await;
                }
            }
        });
        a.await.unwrap();
        b.await.unwrap();
        // 1000 bytes at 1000 B/s: one second for both together, not half a second each.
        assert_eq!(start.elapsed(), Duration::from_secs(1));
    }

    #[tokio::test(start_paused = true)]
    async fn idle_time_is_not_saved_up() {
        let rate = RateLimit::new(1000);
        tokio::time::sleep(Duration::from_secs(10)).await;
        let start = tokio::time::Instant::now();
        rate.take(500).await;
        // At most the 10 ms slack is credited.
        assert_eq!(start.elapsed(), Duration::from_millis(490));
    }

    #[tokio::test(start_paused = true)]
    async fn small_debts_add_up_instead_of_costing_a_tick_each() {
        let rate = RateLimit::new(1_000_000);
        let start = tokio::time::Instant::now();
        // 1000 chunks of 100 bytes at 1 MB/s: 100 ms in all, not 1000 timer ticks.
        for _ in 0..1000 {
            rate.take(100).await;
        }
        let took = start.elapsed();
        assert!(
            took >= Duration::from_millis(98) && took <= Duration::from_millis(102),
            "{took:?}"
        );
    }
}
