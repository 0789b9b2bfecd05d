//! Wharf's SMTP: the inbound mail exchanger (RFC 5321 with PIPELINING, SIZE, 8BITMIME,
//! ENHANCEDSTATUSCODES, STARTTLS, SMTPUTF8, CHUNKING/BINARYMIME and DSN parameters),
//! message submission (RFC 6409, AUTH per RFC 4954), and outbound delivery: the queue
//! worker, its SMTP client, MX routing and delivery status notifications (RFC 3464).
//!
//! Layout, sans-IO first:
//! - [`proto`]: command grammar, paths, typed replies, and the bounded receivers for
//!   command lines, DATA and BDAT. Pure functions, table-tested and fuzzed.
//! - [`session`]: the state machine (connected / greeted / mail / rcpt / bdat), one
//!   handler per verb in `session/op/`, the state check in one place.
//! - `server`: the tokio driver behind [`Server`]'s [`wharf_net::Service`] impl.
//! - [`fixup`]: RFC 6409 §8 message fix-ups at submission.
//! - [`outbound`]: the queue worker, routing (MX, static routes, smarthost), the SMTP
//!   client; [`dsn`]: bounce and delay reports.
//!
//! Implementation notes (what the mail exchanger promises):
//! - It never relays: a recipient outside our domains gets `550 5.7.1`.
//! - `250` after the data only once the store says the message is durable.
//! - A message ends only at CRLF.CRLF; messages with bare CR or LF are refused
//!   (SMTP smuggling, CVE-2023-51764).
//! - Plaintext pipelined after STARTTLS is discarded, never executed (CVE-2011-0411).
//! - Every reader is bounded by the [`Config`] limits.
#![forbid(unsafe_code)]

pub mod config;
pub mod dsn;
pub mod fixup;
pub mod hooks;
pub mod outbound;
pub mod proto;
mod server;
pub mod session;
pub mod trace;

#[cfg(test)]
pub(crate) mod testing;

pub use config::{Config, DnsConfig, OutboundConfig, SubmissionConfig};
pub use hooks::{DkimSigner, Hooks, InboundCheck, InboundVerdict};
pub use session::Mode;

use session::{ConnInfo, Session, Shared};
use std::sync::Arc;
use std::time::Duration;
use wharf_net::{Conn, ShutdownSignal};
use wharf_store::DynStore;

/// The SMTP service that the binary hands connections to.
pub struct Server {
    shared: Arc<Shared>,
}

impl Server {
    /// A mail exchanger for `hostname` (used in the greeting, EHLO and `Received:`).
    pub fn new(store: DynStore, hostname: String, config: Config) -> Arc<Server> {
        Server::with_mode(store, hostname, config, Mode::Exchanger)
    }

    /// A submission server (RFC 6409) for the `submission` (587, STARTTLS) and
    /// `submissions` (465, implicit TLS) listeners: AUTH, relay for the authenticated
    /// user, remote recipients queued for the [`outbound::Worker`].
    pub fn submission(
        store: DynStore,
        hostname: String,
        config: Config,
        submission: SubmissionConfig,
    ) -> Arc<Server> {
        Arc::new(Server {
            shared: Arc::new(Shared::new(
                store,
                hostname,
                config,
                Mode::Submission,
                submission,
            )),
        })
    }

    /// Like [`Server::new`] or [`Server::submission`], with mail-authentication hooks:
    /// `hooks.inbound` is used by the mail exchanger, `hooks.signer` by submission.
    pub fn with_hooks(
        store: DynStore,
        hostname: String,
        config: Config,
        mode: Mode,
        submission: SubmissionConfig,
        hooks: Hooks,
    ) -> Arc<Server> {
        let mut shared = Shared::new(store, hostname, config, mode, submission);
        shared.hooks = hooks;
        Arc::new(Server {
            shared: Arc::new(shared),
        })
    }

    /// A server with an explicit policy [`Mode`] (submission with default
    /// `[submission]` settings).
    pub fn with_mode(store: DynStore, hostname: String, config: Config, mode: Mode) -> Arc<Server> {
        Arc::new(Server {
            shared: Arc::new(Shared::new(
                store,
                hostname,
                config,
                mode,
                SubmissionConfig::default(),
            )),
        })
    }

    pub fn config(&self) -> &Config {
        &self.shared.config
    }
}

#[async_trait::async_trait]
impl wharf_net::Service for Server {
    fn name(&self) -> &'static str {
        match self.shared.mode {
            Mode::Exchanger => "smtp",
            Mode::Submission => "submission",
        }
    }

    fn busy_reply(&self) -> &'static [u8] {
        b"421 4.7.0 Too many connections from your address, try again later\r\n"
    }

    fn server_busy_reply(&self) -> &'static [u8] {
        b"421 4.7.0 Server busy, try again later\r\n"
    }

    async fn handle(&self, mut conn: Conn, shutdown: ShutdownSignal) {
        let config = &self.shared.config;
        let idle = Duration::from_secs(config.idle_timeout_secs.max(1));
        let data = Duration::from_secs(config.data_timeout_secs.max(1));
        conn.read_timeout = idle;
        conn.write_timeout = idle;
        let info = ConnInfo {
            id: conn.id,
            peer: conn.peer(),
            tls: conn.is_tls(),
            can_starttls: conn.can_starttls(),
        };
        let id = conn.id;
        // DNSBL and the like, before the greeting.
        if self.shared.mode == Mode::Exchanger
            && let Some(check) = &self.shared.hooks.inbound
            && let Some(text) = check.connect(info.peer.ip()).await
        {
            tracing::info!(service = "smtp", conn = id, peer = %info.peer, "refused at connect: {text}");
            let reply = proto::Reply::new(554, proto::Status(5, 7, 1), text);
            let _ = conn.send(&reply.to_bytes()).await;
            conn.shutdown().await;
            return;
        }
        let mut session = Session::new(self.shared.clone(), info);
        let mut driver = server::Driver::new(conn, shutdown, idle, data);
        let host = self.shared.hostname.clone();
        match driver.run(&mut session, &host).await {
            Ok(end) => tracing::debug!(service = "smtp", conn = id, "session ended: {end:?}"),
            Err(e) if server::is_timeout(&e) => {
                tracing::info!(service = "smtp", conn = id, "timeout inside a message");
                let _ = driver.send_now(&proto::Reply::timeout(&host)).await;
            }
            Err(e) => tracing::info!(service = "smtp", conn = id, "session ended: {e}"),
        }
        driver.close().await;
    }
}
