//! The `[smtp]` section of wharf.toml: limits of the mail exchanger.

use serde::Deserialize;

/// `[smtp]` section of wharf.toml.
#[derive(Debug, Clone, Deserialize)]
#[serde(deny_unknown_fields, default)]
pub struct Config {
    /// Longest command line accepted, in octets without CRLF. RFC 5321 §4.5.3.1.4 sets
    /// 512 as the minimum a server must take; longer lines (many parameters, UTF-8
    /// addresses) are tolerated up to this. Over it: `500 5.5.2 Line too long`.
    pub max_line_len: usize,
    /// Longest text line inside DATA, in octets without CRLF. RFC 5321 §4.5.3.1.6 says
    /// 1000 including CRLF; real mail often exceeds that, so the default is generous.
    /// Over it the message is refused with `550 5.6.0` after its end has been read.
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
    /// `421 4.7.0` and is closed.
    pub max_errors: u32,
    /// NOOP, RSET, VRFY, EXPN and HELP commands a session may send before each further
    /// one counts as an error (as Postfix's smtpd_junk_command_limit).
    pub max_junk_commands: u32,
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
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn unknown_keys_are_refused() {
        let err = toml_like(r#"{"max_line_len": 10, "max_lines": 5}"#).unwrap_err();
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
