//! FTP replies (RFC 959 §4.2): codes named by meaning, and the single- and multi-line
//! wire forms.

/// Reply codes, named by what they mean (RFC 959 §4.2.2, RFC 2228, RFC 2428, RFC 4217,
/// RFC 3659).
pub mod code {
    pub const RESTART_MARKER: u16 = 110;
    pub const ALREADY_OPEN: u16 = 125;
    pub const OPENING_DATA: u16 = 150;
    pub const OK: u16 = 200;
    pub const SUPERFLUOUS: u16 = 202;
    pub const SYSTEM_STATUS: u16 = 211;
    pub const DIRECTORY_STATUS: u16 = 212;
    pub const FILE_STATUS: u16 = 213;
    pub const HELP: u16 = 214;
    pub const SYSTEM_TYPE: u16 = 215;
    pub const READY: u16 = 220;
    pub const CLOSING: u16 = 221;
    pub const NO_TRANSFER: u16 = 225;
    pub const TRANSFER_COMPLETE: u16 = 226;
    pub const ENTERING_PASSIVE: u16 = 227;
    pub const ENTERING_EXTENDED_PASSIVE: u16 = 229;
    pub const LOGGED_IN: u16 = 230;
    pub const AUTH_OK: u16 = 234;
    pub const FILE_ACTION_OK: u16 = 250;
    pub const PATH_CREATED: u16 = 257;
    pub const NEED_PASSWORD: u16 = 331;
    pub const PENDING_FURTHER_INFO: u16 = 350;
    pub const SERVICE_UNAVAILABLE: u16 = 421;
    pub const CANT_OPEN_DATA: u16 = 425;
    pub const TRANSFER_ABORTED: u16 = 426;
    pub const TLS_UNAVAILABLE: u16 = 431;
    pub const FILE_BUSY: u16 = 450;
    pub const LOCAL_ERROR: u16 = 451;
    pub const INSUFFICIENT_STORAGE: u16 = 452;
    pub const UNKNOWN_COMMAND: u16 = 500;
    pub const SYNTAX_ERROR: u16 = 501;
    pub const NOT_IMPLEMENTED: u16 = 502;
    pub const BAD_SEQUENCE: u16 = 503;
    pub const PARAM_NOT_IMPLEMENTED: u16 = 504;
    pub const PROT_REFUSED: u16 = 521;
    pub const NETWORK_PROTOCOL_UNSUPPORTED: u16 = 522;
    pub const NOT_LOGGED_IN: u16 = 530;
    pub const POLICY_DENIED: u16 = 534;
    pub const PROT_NOT_SUPPORTED: u16 = 536;
    pub const FILE_UNAVAILABLE: u16 = 550;
    pub const EXCEEDED_STORAGE: u16 = 552;
    pub const NAME_NOT_ALLOWED: u16 = 553;
}

/// One reply: a code and one or more lines of text.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Reply {
    pub code: u16,
    pub lines: Vec<String>,
}

impl Reply {
    pub fn new(code: u16, text: impl Into<String>) -> Reply {
        Reply {
            code,
            lines: vec![text.into()],
        }
    }

    /// A multi-line reply; the first and last lines carry the code.
    pub fn multi(code: u16, lines: Vec<String>) -> Reply {
        Reply { code, lines }
    }

    /// The reply on the wire. Control characters in the text (an echoed argument) are
    /// replaced so a reply can never be split or forged. Middle lines of a multi-line
    /// reply that start with a digit are indented (RFC 959 §4.2).
    pub fn encode(&self) -> Vec<u8> {
        let clean = |s: &str| -> String {
            s.chars()
                .map(|c| if c.is_control() { '?' } else { c })
                .collect()
        };
        let mut out = String::new();
        let n = self.lines.len();
        if n <= 1 {
            let text = self.lines.first().map(String::as_str).unwrap_or("");
            out.push_str(&format!("{} {}\r\n", self.code, clean(text)));
            return out.into_bytes();
        }
        for (i, line) in self.lines.iter().enumerate() {
            let line = clean(line);
            if i == 0 {
                out.push_str(&format!("{}-{}\r\n", self.code, line));
            } else if i == n - 1 {
                out.push_str(&format!("{} {}\r\n", self.code, line));
            } else if line.starts_with(|c: char| c.is_ascii_digit()) {
                out.push_str(&format!(" {line}\r\n"));
            } else {
                out.push_str(&format!("{line}\r\n"));
            }
        }
        out.into_bytes()
    }
}

/// A path quoted for a 257 reply: doubled quotes inside (RFC 959 Appendix II).
pub fn quote_path(path: &str) -> String {
    format!("\"{}\"", path.replace('"', "\"\""))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn single_and_multi_line_forms() {
        assert_eq!(Reply::new(200, "OK").encode(), b"200 OK\r\n");
        let r = Reply::multi(
            211,
            vec![
                "Features:".into(),
                " SIZE".into(),
                "123 starts with digits".into(),
                "End".into(),
            ],
        );
        assert_eq!(
            r.encode(),
            b"211-Features:\r\n SIZE\r\n 123 starts with digits\r\n211 End\r\n"
        );
    }

    #[test]
    fn echoed_text_cannot_inject_lines() {
        let r = Reply::new(550, "x\r\n230 Logged in");
        assert_eq!(r.encode(), b"550 x??230 Logged in\r\n");
    }

    #[test]
    fn quotes_double_in_257() {
        assert_eq!(quote_path("/a \"b\""), "\"/a \"\"b\"\"\"");
    }
}
