//! Wharf's IMAP service: IMAP4rev2 (RFC 9051) and IMAP4rev1 (RFC 3501) over the store.
//!
//! Layers, from the wire in:
//! - [`proto`]: framing (`{n}` literals, bounds), the command grammar, response encoding.
//!   No I/O; table-tested at every chunk size and fuzzed.
//! - [`session`]: the state machine (not authenticated / authenticated / selected /
//!   logout), the one command-vs-state check, and the selected mailbox's view (sequence
//!   numbers, pending expunges, change tracking).
//! - [`op`]: one handler per verb (`op/fetch.rs` answers FETCH and UID FETCH).
//! - [`driver`]: the tokio loop that moves bytes between the socket and the session,
//!   sends continuation requests, runs IDLE and STARTTLS, applies timeouts and shutdown.
//!
//! Implementation notes (invariants):
//! - Sequence numbers change only when this session reports an EXPUNGE (or VANISHED);
//!   expunges seen by other sessions are held back while a FETCH, STORE or SEARCH runs
//!   (RFC 9051 §7.5.1) and reported at the next command that may carry them.
//! - Every tagged reply carries the tag of the command it ends; a command that cannot be
//!   parsed gets `BAD` with its tag when the tag could be read.
//! - Message structure comes from the summary the store made at delivery
//!   ([`wharf_store::mime`]); FETCH never re-parses a message.
#![forbid(unsafe_code)]

pub mod driver;
pub mod op;
pub mod proto;
pub mod session;

use std::sync::Arc;
use std::time::Duration;
use wharf_net::AuthThrottle;
use wharf_store::DynStore;

/// `[imap]` section of wharf.toml.
#[derive(Debug, Clone, serde::Deserialize)]
#[serde(deny_unknown_fields, default)]
pub struct Config {
    /// Accept LOGIN and AUTHENTICATE PLAIN over unencrypted connections from other hosts
    /// than loopback. Off by default: then LOGINDISABLED is advertised until STARTTLS.
    pub allow_plaintext_auth: bool,
    /// Largest message APPEND accepts, in octets (advertised as APPENDLIMIT, RFC 7889).
    pub append_limit: u64,
    /// Longest command line accepted, in octets.
    pub max_line_length: usize,
    /// Largest literal accepted outside APPEND, in octets.
    pub max_literal: u64,
    /// Seconds a client may stay silent before it is logged out (RFC 9051 §5.4 asks for
    /// at least 30 minutes).
    pub idle_timeout_secs: u64,
    /// Seconds from connecting to logging in, when the listener sets no deadline (tests,
    /// embedders). wharf.toml sets it as `[limits] login_timeout_secs`.
    #[serde(skip)]
    pub login_timeout_secs: u64,
    /// Failed logins on one connection before it is closed.
    pub max_auth_failures: u32,
    /// Commands accepted before authentication, after which the connection is closed.
    /// Key `max_commands_before_auth` (formerly `max_unauthenticated_commands`).
    #[serde(rename = "max_commands_before_auth")]
    pub max_unauthenticated_commands: u32,
}

impl Default for Config {
    fn default() -> Self {
        Config {
            allow_plaintext_auth: false,
            append_limit: 50 * 1024 * 1024,
            max_line_length: 64 * 1024,
            max_literal: 64 * 1024,
            idle_timeout_secs: 30 * 60,
            login_timeout_secs: 60,
            max_auth_failures: 3,
            max_unauthenticated_commands: 50,
        }
    }
}

impl Config {
    pub(crate) fn limits(&self) -> proto::Limits {
        proto::Limits {
            max_line: self.max_line_length,
            max_literal: self.max_literal,
            max_append: self.append_limit,
            max_command: (self.max_line_length * 4).max(1024 * 1024),
        }
    }
    pub(crate) fn idle_timeout(&self) -> Duration {
        Duration::from_secs(self.idle_timeout_secs.max(1))
    }
    pub(crate) fn login_timeout(&self) -> Duration {
        Duration::from_secs(self.login_timeout_secs.max(1))
    }
}

/// The IMAP service: one per process, shared by every IMAP and IMAPS listener.
pub struct Server {
    pub(crate) ctx: Arc<session::Context>,
}

impl Server {
    pub fn new(store: DynStore, hostname: String, config: Config) -> Arc<Server> {
        let throttle = AuthThrottle::shared_or(|| {
            AuthThrottle::new(10, Duration::from_secs(300), Duration::from_millis(500))
        });
        Arc::new(Server {
            ctx: Arc::new(session::Context {
                store,
                hostname,
                config,
                throttle,
            }),
        })
    }
}

#[async_trait::async_trait]
impl wharf_net::Service for Server {
    fn name(&self) -> &'static str {
        "imap"
    }

    fn busy_reply(&self) -> &'static [u8] {
        b"* BYE [UNAVAILABLE] Too many connections from your address\r\n"
    }

    fn server_busy_reply(&self) -> &'static [u8] {
        b"* BYE [UNAVAILABLE] Server busy, try again later\r\n"
    }

    async fn handle(&self, conn: wharf_net::Conn, shutdown: wharf_net::ShutdownSignal) {
        driver::run(self.ctx.clone(), conn, shutdown).await;
    }
}
