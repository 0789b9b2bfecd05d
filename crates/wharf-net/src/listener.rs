//! Accept loops: one task per bound address, one task per connection, per-IP limits,
//! implicit TLS, and graceful shutdown.

use crate::conn::Conn;
use crate::limits::{Busy, IpLimiter};
use crate::shutdown::ShutdownSignal;
use crate::stream::Stream;
use crate::tls::TlsAcceptor;
use std::sync::Arc;
use std::sync::atomic::{AtomicU64, Ordering};
use std::time::Duration;
use tokio::io::AsyncWriteExt;
use tokio::net::TcpListener;

/// A protocol server: gets every accepted connection of its listeners.
#[async_trait::async_trait]
pub trait Service: Send + Sync + 'static {
    /// Short name for log lines: `smtp`, `imap`...
    fn name(&self) -> &'static str;
    /// What to write to a client refused because its address has too many connections,
    /// in the protocol's own words (e.g. `421 4.7.0 Too many connections\r\n`).
    fn busy_reply(&self) -> &'static [u8];
    /// What to write to a client refused because the whole server is at
    /// `max_connections`, in the protocol's own words (SMTP `421 4.7.0`, POP3
    /// `-ERR [SYS/TEMP]`, IMAP `* BYE [UNAVAILABLE]`, FTP `421`).
    fn server_busy_reply(&self) -> &'static [u8] {
        self.busy_reply()
    }
    /// Runs one session to its end. `shutdown` fires when the server is stopping: the
    /// session should finish the current command, say goodbye and return.
    async fn handle(&self, conn: Conn, shutdown: ShutdownSignal);
}

/// How a listener treats its connections.
#[derive(Clone)]
pub struct ListenOptions {
    /// TLS from the first byte (SMTPS/submissions, POP3S, IMAPS).
    pub implicit_tls: Option<TlsAcceptor>,
    /// TLS offered by upgrade (STARTTLS, STLS, AUTH TLS).
    pub starttls: Option<TlsAcceptor>,
    /// Shared across every listener of the server.
    pub limiter: Arc<IpLimiter>,
}

static NEXT_CONN_ID: AtomicU64 = AtomicU64::new(1);

/// Accepts connections until shutdown, handing each to `service` in its own task.
pub async fn serve(
    listener: TcpListener,
    service: Arc<dyn Service>,
    options: ListenOptions,
    mut shutdown: ShutdownSignal,
) {
    let local = listener.local_addr().ok();
    loop {
        let accepted = tokio::select! {
            _ = shutdown.triggered() => break,
            r = listener.accept() => r,
        };
        let (tcp, peer) = match accepted {
            Ok(x) => x,
            Err(e) => {
                // EMFILE and friends: back off instead of spinning.
                tracing::warn!(service = service.name(), "accept failed: {e}");
                tokio::time::sleep(Duration::from_millis(100)).await;
                continue;
            }
        };
        let _ = tcp.set_nodelay(true);
        let id = NEXT_CONN_ID.fetch_add(1, Ordering::Relaxed);
        let service = service.clone();
        let options = options.clone();
        let shutdown = shutdown.clone();
        let local = local.unwrap_or_else(|| tcp.local_addr().expect("bound socket"));
        tokio::spawn(async move {
            let _live = shutdown.live_guard();
            let _slot = match options.limiter.try_acquire(peer.ip()) {
                Ok(slot) => slot,
                Err(busy) => {
                    let reply = match busy {
                        Busy::PerIp => {
                            tracing::warn!(service = service.name(), conn = id, %peer, "refused: too many connections from this address");
                            service.busy_reply()
                        }
                        Busy::Total => {
                            tracing::warn!(service = service.name(), conn = id, %peer, "refused: the server is at max_connections");
                            service.server_busy_reply()
                        }
                    };
                    let mut tcp = tcp;
                    let _ =
                        tokio::time::timeout(Duration::from_secs(5), tcp.write_all(reply)).await;
                    return;
                }
            };
            let stream = match &options.implicit_tls {
                Some(acceptor) => {
                    match tokio::time::timeout(Duration::from_secs(30), acceptor.accept(tcp)).await
                    {
                        Ok(Ok(tls)) => Stream::Tls(Box::new(tls)),
                        Ok(Err(e)) => {
                            tracing::info!(service = service.name(), conn = id, %peer, "TLS handshake failed: {e}");
                            return;
                        }
                        Err(_) => {
                            tracing::info!(service = service.name(), conn = id, %peer, "TLS handshake timed out");
                            return;
                        }
                    }
                }
                None => Stream::Plain(tcp),
            };
            tracing::info!(service = service.name(), conn = id, %peer, tls = stream.is_tls(), "connected");
            // On an implicit-TLS connection the acceptor is kept too (`can_starttls()` is
            // false there): FTPS needs it for PROT P data connections.
            let starttls = if stream.is_tls() {
                options.implicit_tls.clone()
            } else {
                options.starttls.clone()
            };
            let mut conn = Conn::new(stream, peer, local, starttls, id);
            conn.line_timeout = options.limiter.line_timeout;
            conn.set_deadline(options.limiter.login_timeout);
            service.handle(conn, shutdown).await;
            tracing::info!(service = service.name(), conn = id, %peer, "disconnected");
        });
    }
}
