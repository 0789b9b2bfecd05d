//! The tokio driver: moves bytes between the connection and the session, flushes
//! replies when the input holds no further complete command (PIPELINING), runs the STLS
//! upgrade, and ends the session on idle timeout, disconnect or shutdown.
//!
//! Slow clients (docs/limits.md): the listener's login deadline bounds the whole
//! AUTHORIZATION state and is lifted at login; a command line must be complete within
//! the line bound. Either ends the session with `-ERR` and no UPDATE.

use crate::config::Config;
use crate::parse::{Frame, LineReader};
use crate::reply::{Pop3Error, RespCode, ok};
use crate::session::{Action, Session};
use std::collections::HashMap;
use std::sync::{Arc, Mutex, OnceLock, Weak};
use std::time::Duration;
use wharf_net::{AuthThrottle, Conn, ShutdownSignal};
use wharf_store::DynStore;

/// Replies buffered past this size are written out before the next command runs, so a
/// pipelined batch of RETRs does not pile up in memory.
const FLUSH_AT: usize = 64 * 1024;

/// The POP3 service. One instance can serve every POP3 and POP3S listener; when the
/// binary builds several (one per listener), they share the login bookkeeping below.
pub struct Server {
    pub(crate) store: DynStore,
    pub(crate) hostname: String,
    pub(crate) config: Config,
    pub(crate) logins: Arc<Logins>,
}

/// Login bookkeeping shared by every POP3 `Server` on one store, so that an address
/// cannot double its failed-login allowance by alternating between the POP3 and POP3S
/// ports.
pub(crate) struct Logins {
    /// Failed logins per client; it also holds the login slots that bound the password
    /// checks running at once: each Argon2id verification takes ~19 MiB and a CPU for
    /// its duration, so running more than there are CPUs only multiplies peak memory
    /// (20 clients logging in together would take ~400 MiB). Under `serve`, the one
    /// throttle every protocol shares.
    pub throttle: Arc<AuthThrottle>,
}

impl Logins {
    /// The bookkeeping of `store`, created on first use. Keyed like the maildrop locks:
    /// by the address of the store instance, only compared, never dereferenced; the
    /// entry lives as long as a `Server` holds it.
    fn for_store(store: &DynStore, config: &Config) -> Arc<Logins> {
        static REGISTRY: OnceLock<Mutex<HashMap<usize, Weak<Logins>>>> = OnceLock::new();
        let key = Arc::as_ptr(store) as *const () as usize;
        let mut map = REGISTRY
            .get_or_init(|| Mutex::new(HashMap::new()))
            .lock()
            .unwrap_or_else(|e| e.into_inner());
        map.retain(|_, w| w.strong_count() > 0);
        if let Some(logins) = map.get(&key).and_then(Weak::upgrade) {
            return logins;
        }
        let logins = Arc::new(Logins {
            throttle: AuthThrottle::shared_or(|| {
                AuthThrottle::new(
                    config.max_auth_failures_per_ip,
                    Duration::from_secs(config.auth_failure_window_secs),
                    Duration::from_millis(config.auth_failure_delay_ms),
                )
            }),
        });
        map.insert(key, Arc::downgrade(&logins));
        logins
    }
}

impl Server {
    pub fn new(store: DynStore, hostname: String, config: Config) -> Arc<Server> {
        let logins = Logins::for_store(&store, &config);
        Arc::new(Server {
            store,
            hostname,
            config,
            logins,
        })
    }

    pub fn config(&self) -> &Config {
        &self.config
    }
}

#[async_trait::async_trait]
impl wharf_net::Service for Server {
    fn name(&self) -> &'static str {
        "pop3"
    }

    fn busy_reply(&self) -> &'static [u8] {
        b"-ERR [SYS/TEMP] Too many connections from your address\r\n"
    }

    fn server_busy_reply(&self) -> &'static [u8] {
        b"-ERR [SYS/TEMP] Server busy, try again later\r\n"
    }

    async fn handle(&self, mut conn: Conn, mut shutdown: ShutdownSignal) {
        conn.read_timeout = self.config.idle_timeout();
        let peer = conn.peer();
        let mut session = Session::new(
            self,
            peer.ip(),
            conn.is_tls(),
            conn.is_loopback(),
            conn.can_starttls(),
        );
        let mut out = Vec::with_capacity(4096);
        // RFC 1939 §4. No `<timestamp>`: that would announce APOP, which we do not offer.
        ok(
            &mut out,
            &format!("{} Wharf POP3 server ready", self.hostname),
        );
        if conn.send(&out).await.is_err() {
            return;
        }
        out.clear();
        let mut reader = LineReader::new();
        loop {
            // Run every complete command already received, then flush once.
            loop {
                let max = session.line_limit();
                let (used, frame) = reader.next(conn.buffer(), max);
                let action = match frame {
                    Frame::Incomplete => {
                        conn.consume(used);
                        break;
                    }
                    Frame::TooLong => {
                        conn.consume(used);
                        session.line_too_long(&mut out)
                    }
                    Frame::Line(line) => {
                        let line = line.to_vec();
                        conn.consume(used);
                        session.handle_line(&line, &mut out).await
                    }
                };
                match action {
                    Action::Continue => {
                        if out.len() >= FLUSH_AT {
                            if conn.write_all(&out).await.is_err() {
                                return;
                            }
                            out.clear();
                        }
                    }
                    Action::Close => {
                        let _ = conn.send(&out).await;
                        conn.shutdown().await;
                        return;
                    }
                    Action::StartTls => {
                        if conn.send(&out).await.is_err() {
                            return;
                        }
                        out.clear();
                        match conn.start_tls().await {
                            Ok(discarded) => {
                                if discarded > 0 {
                                    tracing::info!(%peer, discarded, "pop3: dropped plaintext pipelined after STLS");
                                }
                                session.tls_started();
                                reader = LineReader::new();
                            }
                            Err(e) => {
                                tracing::info!(%peer, "pop3: TLS handshake failed: {e}");
                                return;
                            }
                        }
                    }
                }
            }
            if !out.is_empty() {
                if conn.send(&out).await.is_err() {
                    return;
                }
                out.clear();
            }
            if conn.has_deadline() && session.phase() == crate::session::Phase::Transaction {
                // Logged in: the login deadline no longer applies.
                conn.set_deadline(None);
            }
            let filled = tokio::select! {
                r = conn.fill() => r,
                _ = shutdown.triggered() => {
                    // No UPDATE: the client did not say QUIT (RFC 1939 §6).
                    Pop3Error::with_code(RespCode::SysTemp, "Server shutting down").write(&mut out);
                    let _ = conn.send(&out).await;
                    conn.shutdown().await;
                    return;
                }
            };
            match filled {
                Ok(0) => return,
                Ok(_) => {}
                Err(e) if e.kind() == std::io::ErrorKind::TimedOut => {
                    // RFC 1939 §3: the autologout timer ends the session without UPDATE.
                    tracing::info!(%peer, "pop3: {e}");
                    let text = match wharf_net::timeout_of(&e) {
                        Some(wharf_net::Timeout::Deadline) => "Login timeout, closing",
                        Some(wharf_net::Timeout::Line) => "Command line too slow, closing",
                        _ => "Autologout; idle for too long",
                    };
                    Pop3Error::new(text).write(&mut out);
                    let _ = conn.send(&out).await;
                    conn.shutdown().await;
                    return;
                }
                Err(_) => return,
            }
        }
    }
}
