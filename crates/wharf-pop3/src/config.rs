//! The `[pop3]` section of `wharf.toml`.

use std::time::Duration;

/// `[pop3]` section of wharf.toml. Every key is optional; the defaults suit a server on
/// the public Internet.
#[derive(Debug, Clone, serde::Deserialize)]
#[serde(deny_unknown_fields, default)]
pub struct Config {
    /// Accept USER/PASS and AUTH PLAIN/LOGIN on connections that are neither TLS nor from
    /// loopback. Off by default: passwords then travel only encrypted (RFC 8314 §3).
    pub allow_plaintext_auth: bool,
    /// RFC 2449 EXPIRE policy: messages that were retrieved (RETR, or `\Seen` set by IMAP)
    /// and were delivered at least this many days ago are deleted when a POP3 session
    /// ends with QUIT. Unset = `NEVER` (nothing is deleted without DELE). `0` = retrieved
    /// messages are deleted at the end of the session that retrieved them.
    pub expire_days: Option<u32>,
    /// Seconds a client may stay silent before the session is closed without applying
    /// its deletions (RFC 1939 §3 asks for at least 10 minutes).
    pub idle_timeout_secs: u64,
    /// Failed logins on one connection after which it is closed.
    pub max_auth_failures: u32,
    /// Failed logins from one IP address within `auth_failure_window_secs` after which
    /// that address is refused until the window passes. Set from `[limits]` (the one
    /// throttle of every protocol), not read from `[pop3]`.
    #[serde(skip)]
    pub max_auth_failures_per_ip: u32,
    /// Length of the per-IP failed-login window, in seconds. Set from `[limits]`.
    #[serde(skip)]
    pub auth_failure_window_secs: u64,
    /// Delay added to the answer of each failed login, in milliseconds; it grows with each
    /// failure from the same address (capped at 5 s). Set from `[limits]`.
    #[serde(skip)]
    pub auth_failure_delay_ms: u64,
    /// Unknown or malformed commands on one connection after which it is closed.
    pub max_bad_commands: u32,
    /// Commands accepted before a successful login; past this the connection is closed.
    pub max_commands_before_auth: u32,
    /// Longest command line accepted, in octets without CRLF (`-ERR Line too long`,
    /// counted as a bad command). RFC 2449 §4 allows 255; clients send longer. SASL
    /// responses may be up to 8192.
    pub max_line_length: usize,
}

impl Default for Config {
    fn default() -> Self {
        Config {
            allow_plaintext_auth: false,
            expire_days: None,
            idle_timeout_secs: 600,
            max_auth_failures: 3,
            max_auth_failures_per_ip: 10,
            auth_failure_window_secs: 300,
            auth_failure_delay_ms: 1000,
            max_bad_commands: 20,
            max_commands_before_auth: 50,
            max_line_length: crate::parse::MAX_COMMAND_LINE,
        }
    }
}

impl Config {
    pub(crate) fn idle_timeout(&self) -> Duration {
        // RFC 1939 §3: the autologout timer MUST be at least 10 minutes; a shorter value
        // is honoured anyway because operators (and tests) ask for it on purpose.
        Duration::from_secs(self.idle_timeout_secs.max(1))
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn defaults_apply_to_missing_keys() {
        let c: Config = toml_like(r#"{"expire_days": 7}"#);
        assert_eq!(c.expire_days, Some(7));
        assert!(!c.allow_plaintext_auth);
        assert_eq!(c.idle_timeout_secs, 600);
    }

    #[test]
    fn unknown_keys_are_refused() {
        let r: Result<Config, _> = serde_json::from_str(r#"{"expire": 7}"#);
        assert!(r.is_err());
    }

    fn toml_like(json: &str) -> Config {
        serde_json::from_str(json).unwrap()
    }
}
