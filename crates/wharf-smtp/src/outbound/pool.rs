//! The outbound connection cache: idle SMTP connections, already greeted and EHLO'd,
//! kept a few seconds per destination so that the next message to the same server
//! skips connect, greeting, EHLO (and STARTTLS/AUTH), as Postfix's connection cache does.
//!
//! Implementation notes:
//! - A connection is keyed by everything that shaped its session: the address, the host
//!   name (TLS server name, and the name in messages), our EHLO name, whether TLS was
//!   asked for, and the AUTH user. Only a session of the same key is reused.
//! - A connection goes back to the cache only after a transaction that ended in step
//!   (every command's reply read: no I/O error, timeout or unreadable reply; see
//!   [`Session::in_step`]) and with an outcome per recipient. A connection that failed
//!   in any way is closed, never reused.
//! - Before its next transaction a reused connection gets RSET (RFC 5321 §4.1.1.5) and
//!   must answer 250; otherwise (the server closed it meanwhile, say) it is dropped and
//!   a new connection is opened, so a stale connection never costs a delivery attempt.
//! - Each transaction is still one per destination server with all its recipients: the
//!   cache changes which TCP connection carries it, nothing else.
//! - A connection is closed (QUIT) after [`IDLE_LIMIT`] unused, after [`REUSE_LIMIT`]
//!   transactions, or when [`MAX_IDLE_PER_KEY`] others already wait for the same key.

use super::client::{self, Attempt, HostError, Outcome, Session};
use std::collections::HashMap;
use std::net::SocketAddr;
use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

/// How long an idle connection is kept (Postfix: `smtp_connection_cache_time_limit`, 2 s).
pub const IDLE_LIMIT: Duration = Duration::from_secs(3);
/// Transactions per connection before it is closed.
pub const REUSE_LIMIT: u32 = 100;
/// Idle connections kept per key.
pub const MAX_IDLE_PER_KEY: usize = 32;

/// What a session was opened with; only a session of the same key is reused.
#[derive(Clone, Debug, PartialEq, Eq, Hash)]
struct Key {
    addr: SocketAddr,
    host: String,
    helo: String,
    tls: bool,
    auth_user: Option<String>,
}

impl Key {
    fn of(a: &Attempt<'_>) -> Key {
        Key {
            addr: a.addr,
            host: a.host.to_string(),
            helo: a.helo_name.to_string(),
            tls: a.tls,
            auth_user: a.auth.map(|(u, _)| u.to_string()),
        }
    }
}

struct Idle {
    id: u64,
    since: Instant,
    session: Session,
}

/// Idle connections by destination.
#[derive(Default)]
pub struct Pool {
    idle: Mutex<HashMap<Key, Vec<Idle>>>,
    next_id: AtomicU64,
}

impl Pool {
    pub fn new() -> Arc<Pool> {
        Arc::new(Pool::default())
    }

    /// Runs one attempt as [`client::deliver`] does, on a cached connection when one is
    /// idle for this destination (after a successful RSET), else on a new one; the
    /// connection goes back to the cache if it is still in step.
    pub async fn deliver(self: &Arc<Self>, a: &Attempt<'_>) -> Result<Vec<Outcome>, HostError> {
        let key = Key::of(a);
        let mut session = None;
        while let Some(mut s) = self.take(&key) {
            if s.reset(a.command_timeout).await {
                session = Some(s);
                break;
            }
            // Stale (closed by the server, or an odd answer): drop it, try the next.
            tracing::debug!(
                service = "outbound",
                "cached connection to {} is gone",
                a.host
            );
        }
        let mut s = match session {
            Some(s) => s,
            None => client::open(a).await?,
        };
        let outcome = s.transaction(a).await;
        if outcome.is_ok() && s.in_step() && s.transactions() < REUSE_LIMIT {
            self.put(key, s);
        } else {
            s.quit().await;
        }
        outcome
    }

    /// The most recently used idle connection for `key`, if one is younger than
    /// [`IDLE_LIMIT`].
    fn take(&self, key: &Key) -> Option<Session> {
        let mut idle = self.idle.lock().unwrap_or_else(|e| e.into_inner());
        let list = idle.get_mut(key)?;
        let mut found = None;
        while let Some(i) = list.pop() {
            if i.since.elapsed() < IDLE_LIMIT {
                found = Some(i.session);
                break;
            }
        }
        if list.is_empty() {
            idle.remove(key);
        }
        found
    }

    /// Keeps a connection for reuse, and closes it once it has been idle for
    /// [`IDLE_LIMIT`] (unless it was taken again before).
    fn put(self: &Arc<Self>, key: Key, session: Session) {
        let id = self.next_id.fetch_add(1, Ordering::Relaxed);
        {
            let mut idle = self.idle.lock().unwrap_or_else(|e| e.into_inner());
            let list = idle.entry(key.clone()).or_default();
            if list.len() >= MAX_IDLE_PER_KEY {
                drop(idle);
                tokio::spawn(session.quit());
                return;
            }
            list.push(Idle {
                id,
                since: Instant::now(),
                session,
            });
        }
        let pool = Arc::downgrade(self);
        tokio::spawn(async move {
            tokio::time::sleep(IDLE_LIMIT).await;
            let Some(pool) = pool.upgrade() else { return };
            let expired = {
                let mut idle = pool.idle.lock().unwrap_or_else(|e| e.into_inner());
                let Some(list) = idle.get_mut(&key) else {
                    return;
                };
                let found = list
                    .iter()
                    .position(|i| i.id == id)
                    .map(|n| list.remove(n).session);
                if list.is_empty() {
                    idle.remove(&key);
                }
                found
            };
            if let Some(s) = expired {
                s.quit().await;
            }
        });
    }

    /// Closes every idle connection (QUIT), as the worker stops.
    pub async fn close_all(&self) {
        let all: Vec<Idle> = {
            let mut idle = self.idle.lock().unwrap_or_else(|e| e.into_inner());
            idle.drain().flat_map(|(_, v)| v).collect()
        };
        for i in all {
            i.session.quit().await;
        }
    }

    /// Idle connections kept now (tests).
    pub fn idle_count(&self) -> usize {
        self.idle
            .lock()
            .unwrap_or_else(|e| e.into_inner())
            .values()
            .map(Vec::len)
            .sum()
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use tokio::io::{AsyncBufReadExt, AsyncWriteExt, BufReader};
    use tokio::net::TcpListener;
    use wharf_store::queue::{QueueEnvelope, QueueRecipientSpec};

    /// How the fake server ends a session after a message's final reply.
    #[derive(Clone, Copy)]
    enum After {
        Stay,
        /// Closes the connection once the message is taken (a server with no patience).
        Close,
    }

    /// A fake SMTP server; returns its address and the log of (connection, command).
    async fn server(
        after: After,
        drop_at_data: bool,
    ) -> (SocketAddr, Arc<Mutex<Vec<(usize, String)>>>) {
        let listener = TcpListener::bind("127.0.0.1:0").await.unwrap();
        let addr = listener.local_addr().unwrap();
        let log = Arc::new(Mutex::new(Vec::new()));
        let log2 = log.clone();
        tokio::spawn(async move {
            let mut n = 0;
            while let Ok((tcp, _)) = listener.accept().await {
                n += 1;
                let log = log2.clone();
                tokio::spawn(async move {
                    let (r, mut w) = tcp.into_split();
                    let mut lines = BufReader::new(r).lines();
                    w.write_all(b"220 fake ESMTP\r\n").await.unwrap();
                    while let Ok(Some(line)) = lines.next_line().await {
                        let verb = line.split(' ').next().unwrap_or("").to_ascii_uppercase();
                        log.lock().unwrap().push((n, verb.clone()));
                        let reply: &[u8] = match verb.as_str() {
                            "EHLO" => b"250-fake\r\n250 PIPELINING\r\n",
                            "QUIT" => b"221 bye\r\n",
                            "DATA" if drop_at_data => return,
                            "DATA" => {
                                w.write_all(b"354 go\r\n").await.unwrap();
                                while let Ok(Some(l)) = lines.next_line().await {
                                    if l == "." {
                                        break;
                                    }
                                }
                                let _ = w.write_all(b"250 2.0.0 taken\r\n").await;
                                if let After::Close = after {
                                    return;
                                }
                                continue;
                            }
                            _ => b"250 ok\r\n",
                        };
                        if w.write_all(reply).await.is_err() || verb == "QUIT" {
                            return;
                        }
                    }
                });
            }
        });
        (addr, log)
    }

    fn envelope() -> QueueEnvelope {
        QueueEnvelope {
            sender: "alice@example.test".into(),
            envid: None,
            ret: None,
            smtputf8: false,
            body: None,
            recipients: Vec::new(),
        }
    }

    async fn send(pool: &Arc<Pool>, addr: SocketAddr) -> Result<Vec<Outcome>, HostError> {
        let env = envelope();
        let rcpt = QueueRecipientSpec {
            address: "bob@far.test".into(),
            orcpt: None,
            notify: None,
        };
        let rcpts = [&rcpt];
        let a = Attempt {
            helo_name: "wharf.test",
            host: "far.test",
            addr,
            tls: true,
            auth: None,
            envelope: &env,
            recipients: &rcpts,
            message: b"Subject: hi\r\n\r\nhello\r\n",
            connect_timeout: Duration::from_secs(10),
            command_timeout: Duration::from_secs(10),
        };
        pool.deliver(&a).await
    }

    fn delivered(r: &Result<Vec<Outcome>, HostError>) -> bool {
        matches!(r, Ok(o) if o.len() == 1 && matches!(o[0], Outcome::Delivered { .. }))
    }

    fn commands(log: &Mutex<Vec<(usize, String)>>) -> Vec<(usize, String)> {
        log.lock().unwrap().clone()
    }

    #[tokio::test]
    async fn second_message_reuses_the_connection_after_rset() {
        let (addr, log) = server(After::Stay, false).await;
        let pool = Pool::new();
        assert!(delivered(&send(&pool, addr).await));
        assert_eq!(pool.idle_count(), 1);
        assert!(delivered(&send(&pool, addr).await));
        let seen: Vec<String> = commands(&log)
            .into_iter()
            .map(|(n, v)| format!("{n} {v}"))
            .collect();
        assert_eq!(
            seen,
            [
                "1 EHLO", "1 MAIL", "1 RCPT", "1 DATA", "1 RSET", "1 MAIL", "1 RCPT", "1 DATA"
            ]
        );
    }

    #[tokio::test]
    async fn a_connection_the_server_closed_is_replaced_not_a_failed_delivery() {
        let (addr, log) = server(After::Close, false).await;
        let pool = Pool::new();
        assert!(delivered(&send(&pool, addr).await));
        assert!(delivered(&send(&pool, addr).await));
        let log = commands(&log);
        // The second message went over a second connection, after a fresh EHLO.
        assert!(log.contains(&(2, "EHLO".into())));
        assert!(log.contains(&(2, "DATA".into())));
    }

    #[tokio::test]
    async fn a_broken_transaction_does_not_keep_its_connection() {
        let (addr, log) = server(After::Stay, true).await;
        let pool = Pool::new();
        let r = send(&pool, addr).await;
        assert!(
            matches!(&r, Ok(o) if matches!(o[0], Outcome::Deferred { .. })),
            "{r:?}"
        );
        assert_eq!(pool.idle_count(), 0);
        let _ = send(&pool, addr).await;
        assert!(commands(&log).contains(&(2, "EHLO".into())));
    }
}
