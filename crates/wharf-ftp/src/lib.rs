//! Wharf's FTP and FTPS service: RFC 959 with the extensions clients expect (RFC 2389
//! FEAT/OPTS, RFC 2428 EPSV/EPRT, RFC 3659 SIZE/MDTM/REST/MLST/MLSD, RFC 2640 UTF-8,
//! RFC 4217 explicit FTPS), serving each account's home tree from
//! [`wharf_store::files::FileArea`].
//!
//! Layout: [`command`] (framing and grammar, sans I/O), [`reply`] (codes and wire form),
//! `session` (state, the one state check, the control loop), `op/` (one handler per
//! verb), `data` (data connections and streaming copies), [`listing`] and [`ascii`]
//! (pure formatters and TYPE A conversion).
//!
//! Implementation notes:
//! - Passwords travel only over TLS or from loopback unless `allow_plaintext_auth`
//!   (ARCHITECTURE "Security defaults"); `require_tls` also demands PROT P for data.
//! - ABOR sent as TCP urgent data (RFC 959 §4.1.3 "Synch", as ftplib and BSD ftp do)
//!   loses its urgent octet (the LF for ftplib, an IAC for BSD ftp) from the stream: the
//!   framer ends a line at CR as well as LF and drops Telnet IP/DM, so such an ABOR still
//!   parses at once. (SO_OOBINLINE is not used: a read that stops at the urgent mark is a
//!   short read, after which tokio waits for an edge that never comes.)
//! - Every reader is bounded: command lines at `max_line_length`, copies in
//!   fixed-size chunks, listings at `op::list::MAX_ENTRIES`, commands before login.
#![forbid(unsafe_code)]

pub mod ascii;
pub mod command;
mod data;
mod error;
pub mod listing;
mod op;
pub mod reply;
mod session;

use std::collections::HashMap;
use std::net::Ipv4Addr;
use std::path::PathBuf;
use std::sync::{Arc, Weak};
use std::time::Duration;
use wharf_net::{AuthThrottle, Conn, Service, ShutdownSignal};
use wharf_store::files::{FileArea, LocalFileArea};
use wharf_store::{AccountId, DynStore};

/// A port range `first-last` for passive data connections.
#[derive(Debug, Clone, Copy, PartialEq, Eq, serde::Deserialize)]
#[serde(try_from = "String")]
pub struct PortRange {
    pub first: u16,
    pub last: u16,
}

impl TryFrom<String> for PortRange {
    type Error = String;
    fn try_from(s: String) -> Result<PortRange, String> {
        let (a, b) = s
            .split_once('-')
            .ok_or_else(|| format!("passive_ports {s:?}: expected \"first-last\""))?;
        let first: u16 = a
            .trim()
            .parse()
            .map_err(|_| format!("passive_ports {s:?}: bad first port"))?;
        let last: u16 = b
            .trim()
            .parse()
            .map_err(|_| format!("passive_ports {s:?}: bad last port"))?;
        if first == 0 || first > last {
            return Err(format!("passive_ports {s:?}: need 1 <= first <= last"));
        }
        Ok(PortRange { first, last })
    }
}

/// `[ftp]` section of wharf.toml.
#[derive(Debug, Clone, serde::Deserialize)]
#[serde(deny_unknown_fields, default)]
pub struct Config {
    /// Refuse USER until the control connection is TLS (AUTH TLS or an implicit-TLS
    /// listener), and refuse transfers without `PROT P`. Default `false`.
    pub require_tls: bool,
    /// Accept passwords over a plaintext control connection from non-loopback clients.
    /// Default `false` (plaintext login only from loopback).
    pub allow_plaintext_auth: bool,
    /// Directory served read-only to `USER anonymous` / `USER ftp` (any password).
    /// Absent (the default): anonymous login is off.
    pub anonymous_root: Option<PathBuf>,
    /// Ports for passive data connections, as `"first-last"` (e.g. `"50000-50100"`).
    /// Absent (the default): any free port.
    pub passive_ports: Option<PortRange>,
    /// IPv4 address advertised in PASV replies, for servers behind NAT. Absent (the
    /// default): the control connection's local address.
    pub passive_address: Option<Ipv4Addr>,
    /// Per-account transfer rate limit in bytes per second, shared by all the account's
    /// sessions (all anonymous users count as one account); 0 (the default) = unlimited.
    pub max_rate: u64,
    /// Per-account storage quota for files in bytes; 0 (the default) = unlimited. An
    /// upload that would pass it ends with 552 and its partial file is removed.
    pub quota_bytes: u64,
    /// Seconds a control connection may stay idle (between commands). Default 300.
    pub idle_timeout_secs: u64,
    /// Seconds to wait for a data connection to open, and for each read or write on it.
    /// Default 60.
    pub data_timeout_secs: u64,
    /// Allow active mode (PORT/EPRT). Default `true`.
    pub allow_active: bool,
    /// Failed logins on one connection before it is closed (`421`). Default 3. (Failed
    /// logins per client address are counted by the one throttle in `[limits]`.)
    pub max_auth_failures: u32,
    /// Commands accepted before login; past this the connection is closed (`421`).
    /// Default 50.
    pub max_commands_before_auth: u32,
    /// Longest control line accepted, in octets without CRLF (`500` over it). Default
    /// 4096.
    pub max_line_length: usize,
    /// Text of the 220 greeting. Default: `<hostname> Wharf FTP server ready.`
    pub banner: Option<String>,
}

impl Default for Config {
    fn default() -> Config {
        Config {
            require_tls: false,
            allow_plaintext_auth: false,
            anonymous_root: None,
            passive_ports: None,
            passive_address: None,
            max_rate: 0,
            quota_bytes: 0,
            idle_timeout_secs: 300,
            data_timeout_secs: 60,
            allow_active: true,
            max_auth_failures: 3,
            max_commands_before_auth: 50,
            max_line_length: command::MAX_LINE,
            banner: None,
        }
    }
}

/// The FTP service: hand it to `wharf_net::serve`.
pub struct Server {
    store: DynStore,
    files: Arc<dyn FileArea>,
    /// The anonymous read-only area, when configured and present.
    anonymous: Option<Arc<dyn FileArea>>,
    hostname: String,
    config: Config,
    /// Failed logins per client address, and the login slots that bound concurrent
    /// password checks: each Argon2id verification takes ~19 MiB and a core, so a burst
    /// of logins must queue rather than multiply memory. Under `serve`, the one throttle
    /// every protocol shares.
    throttle: Arc<AuthThrottle>,
    /// Per-account bandwidth limits, shared by the account's sessions while any lives.
    rates: std::sync::Mutex<HashMap<AccountId, Weak<data::RateLimit>>>,
    passive_ports: Option<(u16, u16)>,
}

impl Server {
    /// `files` holds the accounts' homes (the binary roots it at `<data_dir>/files`).
    pub fn new(
        store: DynStore,
        files: Arc<dyn FileArea>,
        hostname: String,
        config: Config,
    ) -> Arc<Server> {
        let anonymous =
            config.anonymous_root.as_ref().and_then(|root| {
                match LocalFileArea::shared(root, true) {
                    Ok(area) => Some(area as Arc<dyn FileArea>),
                    Err(e) => {
                        tracing::warn!(
                            "ftp anonymous_root {}: {e}; anonymous login is off",
                            root.display()
                        );
                        None
                    }
                }
            });
        let throttle = AuthThrottle::shared_or(|| {
            AuthThrottle::new(10, Duration::from_secs(300), Duration::from_millis(500))
        });
        Arc::new(Server {
            store,
            files,
            anonymous,
            hostname,
            passive_ports: config.passive_ports.map(|r| (r.first, r.last)),
            config,
            throttle,
            rates: std::sync::Mutex::new(HashMap::new()),
        })
    }
}

impl Server {
    /// The account's shared rate limit, when `max_rate` is set.
    fn rate_for(&self, owner: AccountId) -> Option<Arc<data::RateLimit>> {
        if self.config.max_rate == 0 {
            return None;
        }
        let mut rates = self.rates.lock().unwrap_or_else(|e| e.into_inner());
        if let Some(rate) = rates.get(&owner).and_then(Weak::upgrade) {
            return Some(rate);
        }
        rates.retain(|_, w| w.strong_count() > 0);
        let rate = Arc::new(data::RateLimit::new(self.config.max_rate));
        rates.insert(owner, Arc::downgrade(&rate));
        Some(rate)
    }
}

#[async_trait::async_trait]
impl Service for Server {
    fn name(&self) -> &'static str {
        "ftp"
    }

    fn busy_reply(&self) -> &'static [u8] {
        b"421 Too many connections from your address.\r\n"
    }

    fn server_busy_reply(&self) -> &'static [u8] {
        b"421 Server busy, try again later.\r\n"
    }

    async fn handle(&self, conn: Conn, shutdown: ShutdownSignal) {
        let mut conn = conn;
        conn.read_timeout = Duration::from_secs(self.config.idle_timeout_secs.max(1));
        conn.write_timeout = Duration::from_secs(self.config.data_timeout_secs.max(30));
        session::Session::new(self, conn).run(shutdown).await;
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn config_parses_and_rejects_unknown_keys() {
        #[derive(serde::Deserialize)]
        struct W {
            ftp: Config,
        }
        let w: W = toml::from_str(
            "[ftp]\nrequire_tls = true\npassive_ports = \"50000-50010\"\npassive_address = \"203.0.113.5\"\nquota_bytes = 1000\n",
        )
        .unwrap();
        assert!(w.ftp.require_tls);
        assert_eq!(
            w.ftp.passive_ports,
            Some(PortRange {
                first: 50000,
                last: 50010
            })
        );
        assert_eq!(w.ftp.idle_timeout_secs, 300);
        assert!(toml::from_str::<W>("[ftp]\nbogus = 1\n").is_err());
        assert!(toml::from_str::<W>("[ftp]\npassive_ports = \"9-1\"\n").is_err());
    }
}
