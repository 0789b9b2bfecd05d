//! The SMTP sections of wharf.toml: `[smtp]` (limits of every SMTP listener),
//! `[submission]` (authentication on the submission listeners), `[outbound]` (the
//! queue's delivery: retries, routes, smarthost) and `[dns]` (resolvers for MX lookups).

use serde::Deserialize;
use std::collections::BTreeMap;
use std::time::Duration;

/// `[smtp]` section of wharf.toml.
#[derive(Debug, Clone, Deserialize)]
#[serde(deny_unknown_fields, default)]
pub struct Config {
    /// Longest command line accepted, in octets without CRLF. RFC 5321 §4.5.3.1.4 sets
    /// 512 as the minimum a server must take; longer lines (many parameters, UTF-8
    /// addresses) are tolerated up to this. Over it: `500 5.5.2 Line too long`.
    /// Key `max_line_length` (formerly `max_line_len`).
    #[serde(rename = "max_line_length")]
    pub max_line_len: usize,
    /// Longest text line inside DATA, in octets without CRLF. RFC 5321 §4.5.3.1.6 says
    /// 1000 including CRLF; real mail often exceeds that, so the default is generous.
    /// Over it the message is refused with `550 5.6.0` after its end has been read.
    /// Key `max_data_line_length` (formerly `max_data_line_len`).
    #[serde(rename = "max_data_line_length")]
    pub max_data_line_len: usize,
    /// Largest message accepted, in octets (advertised in EHLO SIZE). Over it:
    /// `552 5.3.4`, at MAIL FROM when SIZE= declares more, else after the data.
    pub max_message_size: u64,
    /// Most recipients in one transaction; the next RCPT gets `452 4.5.3`.
    pub max_recipients: usize,
    /// Seconds a client may stay silent while a command is expected (RFC 5321
    /// §4.5.3.2.7: at least 5 minutes). Then `421 4.4.2` and the connection closes.
    pub idle_timeout_secs: u64,
    /// Seconds a client may stay silent in the middle of DATA or a BDAT chunk.
    pub data_timeout_secs: u64,
    /// Error replies (4xx/5xx to commands) a session may cause before it gets
    /// `421 4.7.0` and is closed. Key `max_bad_commands` (formerly `max_errors`), the
    /// name every protocol uses.
    #[serde(rename = "max_bad_commands")]
    pub max_errors: u32,
    /// NOOP, RSET, VRFY, EXPN and HELP commands a session may send before each further
    /// one counts as an error (as Postfix's smtpd_junk_command_limit).
    pub max_junk_commands: u32,
    /// Mail exchanger: queue mail for alias targets in other domains (forwarding, as
    /// Postfix does for virtual aliases), keeping the original envelope sender (no SRS,
    /// so SPF at the target may fail). Off: such targets are not delivered (`550 5.3.0`
    /// when an alias has no local target). Submission always queues them.
    pub forward_off_site_aliases: bool,
}

impl Default for Config {
    fn default() -> Self {
        Config {
            max_line_len: 4096,
            max_data_line_len: 32 * 1024,
            max_message_size: 35 * 1024 * 1024,
            max_recipients: 100,
            idle_timeout_secs: 300,
            data_timeout_secs: 300,
            max_errors: 20,
            max_junk_commands: 100,
            forward_off_site_aliases: true,
        }
    }
}

/// `[submission]` section of wharf.toml: the submission (587, STARTTLS) and
/// submissions (465, implicit TLS) listeners (RFC 6409, RFC 8314).
#[derive(Debug, Clone, Deserialize)]
#[serde(deny_unknown_fields, default)]
pub struct SubmissionConfig {
    /// Offer AUTH PLAIN/LOGIN on connections that are neither TLS nor from loopback.
    /// Off by default: passwords travel only encrypted (RFC 8314 §3).
    pub allow_plaintext_auth: bool,
    /// Offer AUTH on plain connections from loopback (local webmail, scripts, tests).
    pub allow_loopback_plaintext: bool,
    /// Failed AUTH attempts on one connection after which it is closed (`421 4.7.0`).
    pub max_auth_failures: u32,
    /// Failed AUTH attempts from one IP address within `auth_failure_window_secs` after
    /// which that address is refused (`454 4.7.0`) until the window passes. Set from
    /// `[limits]` (the one throttle of every protocol), not read from `[submission]`.
    #[serde(skip)]
    pub max_auth_failures_per_ip: u32,
    /// Failed AUTH attempts for one account (from anywhere) within
    /// `auth_failure_window_secs` after which that account's logins are refused. Set
    /// from `[limits]`.
    #[serde(skip)]
    pub max_auth_failures_per_account: u32,
    /// Length of the failed-login windows, in seconds. Set from `[limits]`.
    #[serde(skip)]
    pub auth_failure_window_secs: u64,
    /// Delay added to the answer of each failed AUTH, in milliseconds; it grows with each
    /// failure from the same address (capped at 5 s). Set from `[limits]`.
    #[serde(skip)]
    pub auth_failure_delay_ms: u64,
    /// Accounts (their login addresses) whose messages may carry any address in the
    /// header `From:`/`Sender:`, e.g. a mailing-list manager. Everyone else may use only
    /// the addresses they may send as in the envelope (`550 5.7.1` after the data).
    pub allow_any_header_from: Vec<String>,
}

impl Default for SubmissionConfig {
    fn default() -> Self {
        SubmissionConfig {
            allow_plaintext_auth: false,
            allow_loopback_plaintext: true,
            max_auth_failures: 3,
            max_auth_failures_per_ip: 10,
            max_auth_failures_per_account: 20,
            auth_failure_window_secs: 300,
            auth_failure_delay_ms: 1000,
            allow_any_header_from: Vec::new(),
        }
    }
}

/// `[outbound]` section of wharf.toml: how queued mail is carried to other servers.
#[derive(Debug, Clone, Deserialize)]
#[serde(deny_unknown_fields, default)]
pub struct OutboundConfig {
    /// Waits between attempts for a deferred recipient, e.g. `["5m", "15m", "1h"]`
    /// (units `s`, `m`, `h`, `d`); the last one repeats.
    pub retry: Vec<String>,
    /// How long a message may stay in the queue before its pending recipients fail
    /// and a bounce goes to the sender (RFC 5321 §4.5.4.1 suggests 4-5 days).
    pub max_age: String,
    /// Send a "delayed" DSN once a recipient has waited this long (e.g. `"4h"`);
    /// unset = no delay warnings (as Postfix's default).
    pub delay_warning: Option<String>,
    /// Destination port for delivery to MX hosts (25; tests and odd networks change it).
    pub port: u16,
    /// Static routes, `{ "example.net" = "mail.example.net:2525" }`: mail for a domain
    /// goes to that host and port without an MX lookup (Postfix's transport maps).
    pub routes: BTreeMap<String, String>,
    /// Send everything not routed statically through this relay, `"host:port"`.
    pub smarthost: Option<String>,
    /// User name for AUTH PLAIN at the smarthost (sent only over TLS or to loopback).
    pub smarthost_user: Option<String>,
    /// Password for AUTH PLAIN at the smarthost.
    pub smarthost_password: Option<wharf_store::Secret>,
    /// Seconds to wait for a TCP connection to a remote server.
    pub connect_timeout_secs: u64,
    /// Seconds to wait for each reply of a remote server (RFC 5321 §4.5.3.2 suggests
    /// 5 minutes for the greeting and MAIL; 10 minutes after the data).
    pub command_timeout_secs: u64,
    /// Messages delivered at the same time.
    pub concurrency: usize,
    /// Seconds between looks at the queue when nothing new was submitted (this is also
    /// how soon `wharf queue retry`, run from another process, takes effect).
    pub poll_interval_secs: u64,
}

impl Default for OutboundConfig {
    fn default() -> Self {
        OutboundConfig {
            retry: ["5m", "15m", "30m", "1h", "2h", "4h"]
                .map(String::from)
                .to_vec(),
            max_age: "5d".into(),
            delay_warning: None,
            port: 25,
            routes: BTreeMap::new(),
            smarthost: None,
            smarthost_user: None,
            smarthost_password: None,
            connect_timeout_secs: 30,
            command_timeout_secs: 300,
            concurrency: 16,
            poll_interval_secs: 5,
        }
    }
}

impl OutboundConfig {
    /// Checks the duration strings and host:port values; the message names the key.
    pub fn validate(&self) -> Result<(), String> {
        self.retry_schedule()?;
        self.max_age()?;
        self.delay_warning()?;
        for (domain, target) in &self.routes {
            split_host_port(target)
                .ok_or_else(|| format!("outbound.routes.{domain}: {target:?} is not host:port"))?;
        }
        if let Some(s) = &self.smarthost {
            split_host_port(s)
                .ok_or_else(|| format!("outbound.smarthost: {s:?} is not host:port"))?;
        }
        Ok(())
    }

    /// The retry waits, never empty.
    pub fn retry_schedule(&self) -> Result<Vec<Duration>, String> {
        let v = self
            .retry
            .iter()
            .map(|s| parse_duration(s).map_err(|e| format!("outbound.retry: {e}")))
            .collect::<Result<Vec<_>, _>>()?;
        if v.is_empty() {
            return Err("outbound.retry: at least one interval is needed".into());
        }
        Ok(v)
    }

    pub fn max_age(&self) -> Result<Duration, String> {
        parse_duration(&self.max_age).map_err(|e| format!("outbound.max_age: {e}"))
    }

    pub fn delay_warning(&self) -> Result<Option<Duration>, String> {
        self.delay_warning
            .as_deref()
            .map(parse_duration)
            .transpose()
            .map_err(|e| format!("outbound.delay_warning: {e}"))
    }
}

/// `[dns]` section of wharf.toml: where MX and address lookups go.
#[derive(Debug, Clone, Default, Deserialize)]
#[serde(deny_unknown_fields, default)]
pub struct DnsConfig {
    /// Resolvers as `"ip:port"` (or `"ip"` for port 53); empty = the system's
    /// (`/etc/resolv.conf`).
    pub nameservers: Vec<String>,
}

impl DnsConfig {
    /// Checks that every nameserver is `ip` or `ip:port`.
    pub fn validate(&self) -> Result<(), String> {
        for s in &self.nameservers {
            parse_nameserver(s)
                .ok_or_else(|| format!("dns.nameservers: {s:?} is not ip or ip:port"))?;
        }
        Ok(())
    }
}

/// `ip:port`, `[v6]:port`, or a bare `ip` (port 53).
pub fn parse_nameserver(s: &str) -> Option<std::net::SocketAddr> {
    s.parse().ok().or_else(|| {
        s.parse::<std::net::IpAddr>()
            .ok()
            .map(|ip| std::net::SocketAddr::new(ip, 53))
    })
}

/// Parses `"30s"`, `"5m"`, `"1h"`, `"2d"` (a bare number is seconds).
pub fn parse_duration(s: &str) -> Result<Duration, String> {
    let s = s.trim();
    let split = s.find(|c: char| !c.is_ascii_digit()).unwrap_or(s.len());
    let (num, unit) = s.split_at(split);
    let n: u64 = num
        .parse()
        .map_err(|_| format!("{s:?} is not a duration like 30s, 5m, 1h or 2d"))?;
    let mult = match unit {
        "" | "s" => 1,
        "m" => 60,
        "h" => 3600,
        "d" => 86400,
        _ => return Err(format!("{s:?} is not a duration like 30s, 5m, 1h or 2d")),
    };
    n.checked_mul(mult)
        .map(Duration::from_secs)
        .ok_or_else(|| format!("{s:?} is too long"))
}

/// Splits `host:port` (`[v6]:port` too); the port is required.
pub fn split_host_port(s: &str) -> Option<(String, u16)> {
    let (host, port) = if let Some(rest) = s.strip_prefix('[') {
        let (h, p) = rest.split_once("]:")?;
        (h, p)
    } else {
        s.rsplit_once(':')?
    };
    if host.is_empty() || host.contains(':') && !s.starts_with('[') {
        return None;
    }
    Some((host.to_string(), port.parse().ok()?))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn durations() {
        assert_eq!(parse_duration("30s"), Ok(Duration::from_secs(30)));
        assert_eq!(parse_duration("5m"), Ok(Duration::from_secs(300)));
        assert_eq!(parse_duration("1h"), Ok(Duration::from_secs(3600)));
        assert_eq!(parse_duration("2d"), Ok(Duration::from_secs(172800)));
        assert_eq!(parse_duration("7"), Ok(Duration::from_secs(7)));
        assert!(parse_duration("5 m").is_err());
        assert!(parse_duration("m").is_err());
        assert!(parse_duration("5w").is_err());
        assert!(parse_duration("99999999999999999999d").is_err());
    }

    #[test]
    fn nameservers() {
        assert!(
            DnsConfig {
                nameservers: vec!["127.0.0.1:5353".into(), "::1".into(), "[::1]:53".into()]
            }
            .validate()
            .is_ok()
        );
        let e = DnsConfig {
            nameservers: vec!["dns.example".into()],
        }
        .validate()
        .unwrap_err();
        assert!(e.starts_with("dns.nameservers"), "{e}");
    }

    #[test]
    fn host_ports() {
        assert_eq!(split_host_port("a.test:25"), Some(("a.test".into(), 25)));
        assert_eq!(split_host_port("[::1]:2525"), Some(("::1".into(), 2525)));
        assert_eq!(split_host_port("a.test"), None);
        assert_eq!(split_host_port("::1:25"), None);
        assert_eq!(split_host_port("a.test:x"), None);
    }

    #[test]
    fn outbound_validation_names_the_key() {
        let c = OutboundConfig {
            retry: vec!["5x".into()],
            ..Default::default()
        };
        assert!(c.validate().unwrap_err().starts_with("outbound.retry"));
        let mut routes = BTreeMap::new();
        routes.insert("x.test".to_string(), "nohost".to_string());
        let c = OutboundConfig {
            routes,
            ..Default::default()
        };
        assert!(c.validate().unwrap_err().contains("outbound.routes.x.test"));
        assert!(OutboundConfig::default().validate().is_ok());
    }

    #[test]
    fn unknown_keys_are_refused() {
        let err = toml_like(r#"{"max_line_length": 10, "max_lines": 5}"#).unwrap_err();
        assert!(err.contains("max_lines"), "{err}");
    }

    #[test]
    fn missing_keys_take_defaults() {
        let c = toml_like(r#"{"max_recipients": 5}"#).unwrap();
        assert_eq!(c.max_recipients, 5);
        assert_eq!(c.max_message_size, 35 * 1024 * 1024);
    }

    /// serde_json stands in for TOML here: the same derive does the work.
    fn toml_like(s: &str) -> Result<Config, String> {
        serde_json::from_str(s).map_err(|e| e.to_string())
    }
}
