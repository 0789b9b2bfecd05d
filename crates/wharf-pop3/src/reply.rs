//! Replies: `+OK` / `-ERR` lines, RFC 2449 extended response codes, and the error type
//! that every handler returns, which knows the reply it causes.

use std::borrow::Cow;

/// Extended response codes (RFC 2449 §8, RFC 3206), named by meaning.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum RespCode {
    /// RFC 2449 §8.1.1: the maildrop is locked by another session.
    InUse,
    /// RFC 3206 §4: the failure is about the credentials or the authentication policy.
    Auth,
    /// RFC 3206 §5: a temporary problem on our side; try again later.
    SysTemp,
    /// RFC 3206 §5: a permanent problem on our side.
    SysPerm,
}

impl RespCode {
    pub fn as_str(self) -> &'static str {
        match self {
            RespCode::InUse => "IN-USE",
            RespCode::Auth => "AUTH",
            RespCode::SysTemp => "SYS/TEMP",
            RespCode::SysPerm => "SYS/PERM",
        }
    }
}

/// A failed command: the `-ERR` line it answers with, and whether the connection must
/// close after it.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Pop3Error {
    pub code: Option<RespCode>,
    pub text: Cow<'static, str>,
    pub close: bool,
}

impl Pop3Error {
    pub fn new(text: impl Into<Cow<'static, str>>) -> Pop3Error {
        Pop3Error {
            code: None,
            text: text.into(),
            close: false,
        }
    }
    pub fn with_code(code: RespCode, text: impl Into<Cow<'static, str>>) -> Pop3Error {
        Pop3Error {
            code: Some(code),
            text: text.into(),
            close: false,
        }
    }
    /// The connection closes after this reply.
    pub fn closing(mut self) -> Pop3Error {
        self.close = true;
        self
    }
    /// Appends the `-ERR` line to `out`.
    pub fn write(&self, out: &mut Vec<u8>) {
        err(out, self.code, &self.text);
    }
}

/// What a store failure means to a POP3 client.
impl From<wharf_store::Error> for Pop3Error {
    fn from(e: wharf_store::Error) -> Pop3Error {
        tracing::warn!("pop3: store error: {e}");
        if e.is_temporary() {
            Pop3Error::with_code(RespCode::SysTemp, "Temporary server error, try again later")
        } else {
            Pop3Error::with_code(RespCode::SysPerm, "Server error")
        }
    }
}

/// Appends `+OK text`.
pub fn ok(out: &mut Vec<u8>, text: &str) {
    out.extend_from_slice(b"+OK");
    if !text.is_empty() {
        out.push(b' ');
        out.extend_from_slice(text.as_bytes());
    }
    out.extend_from_slice(b"\r\n");
}

/// Appends `-ERR [CODE] text`.
pub fn err(out: &mut Vec<u8>, code: Option<RespCode>, text: &str) {
    out.extend_from_slice(b"-ERR ");
    if let Some(code) = code {
        out.push(b'[');
        out.extend_from_slice(code.as_str().as_bytes());
        out.extend_from_slice(b"] ");
    }
    out.extend_from_slice(text.as_bytes());
    out.extend_from_slice(b"\r\n");
}

/// Appends a multi-line body: each line of `data` byte-stuffed, then the terminating
/// `.` line. RFC 1939 §3: a line that begins with the termination octet gets one more
/// prepended. `data` normally ends with CRLF; if it does not, one is added so that the
/// terminator stands on its own line.
pub fn dot_stuffed(out: &mut Vec<u8>, data: &[u8]) {
    out.reserve(data.len() + data.len() / 64 + 5);
    let mut at_line_start = true;
    let mut rest = data;
    while !rest.is_empty() {
        if at_line_start && rest[0] == b'.' {
            out.push(b'.');
        }
        match memchr::memchr(b'\n', rest) {
            Some(lf) => {
                out.extend_from_slice(&rest[..=lf]);
                rest = &rest[lf + 1..];
                at_line_start = true;
            }
            None => {
                out.extend_from_slice(rest);
                rest = &[];
                at_line_start = false;
            }
        }
    }
    if !at_line_start {
        out.extend_from_slice(b"\r\n");
    }
    out.extend_from_slice(b".\r\n");
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn error_lines_carry_their_code() {
        let mut out = Vec::new();
        Pop3Error::with_code(RespCode::InUse, "locked").write(&mut out);
        Pop3Error::new("no such message").write(&mut out);
        assert_eq!(out, b"-ERR [IN-USE] locked\r\n-ERR no such message\r\n");
    }

    #[test]
    fn dot_stuffing_doubles_leading_dots_only() {
        let mut out = Vec::new();
        dot_stuffed(&mut out, b".a\r\nb.c\r\n..\r\n.\r\nend\r\n");
        assert_eq!(out, b"..a\r\nb.c\r\n...\r\n..\r\nend\r\n.\r\n");
    }

    #[test]
    fn dot_stuffing_terminates_an_unterminated_last_line() {
        let mut out = Vec::new();
        dot_stuffed(&mut out, b"a\r\n.b");
        assert_eq!(out, b"a\r\n..b\r\n.\r\n");
        let mut out = Vec::new();
        dot_stuffed(&mut out, b"");
        assert_eq!(out, b".\r\n");
    }

    /// Undoing the stuffing as a client does gives back the original bytes.
    #[test]
    fn dot_stuffing_round_trips() {
        let samples: &[&[u8]] = &[
            b"Subject: x\r\n\r\n.\r\n..\r\n.x\r\n",
            b"\r\n\r\n",
            b"caf\xc3\xa9 \xff\x80\r\n.\r\n",
        ];
        for sample in samples {
            let mut out = Vec::new();
            dot_stuffed(&mut out, sample);
            assert!(out.ends_with(b"\r\n.\r\n") || out == b".\r\n");
            let body = &out[..out.len() - 3];
            let mut back = Vec::new();
            for line in body.split_inclusive(|&b| b == b'\n') {
                back.extend_from_slice(line.strip_prefix(b".").unwrap_or(line));
            }
            assert_eq!(&back, sample);
        }
    }
}
