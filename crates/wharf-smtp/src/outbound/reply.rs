//! Replies of a remote SMTP server, parsed without I/O (RFC 5321 §4.2): one or more
//! lines `code-text`, the last `code text`, every line with the same code. Bounded:
//! a line longer than [`MAX_LINE`] or a reply of more than [`MAX_LINES`] lines is an
//! error, so a hostile server cannot make us buffer without end.

/// Longest reply line we read (RFC 5321 §4.5.3.1.5 says 512 including CRLF; servers
/// send longer ones, so we allow more).
pub const MAX_LINE: usize = 4096;
/// Most lines in one reply (EHLO lists are the longest in practice).
pub const MAX_LINES: usize = 128;

/// A reply from the other side.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct RemoteReply {
    pub code: u16,
    /// Text of each line, without code and separator.
    pub lines: Vec<String>,
}

impl RemoteReply {
    pub fn class(&self) -> u16 {
        self.code / 100
    }
    pub fn is_ok(&self) -> bool {
        self.class() == 2
    }
    pub fn is_temporary(&self) -> bool {
        self.class() == 4
    }
    /// RFC 3463 enhanced status at the start of the first line, if any.
    pub fn enhanced(&self) -> Option<String> {
        let first = self.lines.first()?;
        let word = first.split(' ').next()?;
        let parts: Vec<&str> = word.split('.').collect();
        let ok = parts.len() == 3
            && parts
                .iter()
                .all(|p| !p.is_empty() && p.len() <= 3 && p.bytes().all(|b| b.is_ascii_digit()))
            && parts[0] == (self.code / 100).to_string();
        ok.then(|| word.to_string())
    }
    /// The status for a DSN: the enhanced code, or one derived from the reply class.
    pub fn status(&self) -> String {
        self.enhanced()
            .unwrap_or_else(|| format!("{}.0.0", self.class().clamp(2, 5)))
    }
    /// One line for logs, the queue's last error and DSN Diagnostic-Code.
    pub fn one_line(&self) -> String {
        let text = self.lines.join(" ");
        let text: String = text.chars().filter(|c| !c.is_control()).take(400).collect();
        format!("{} {}", self.code, text).trim_end().to_string()
    }
    /// The EHLO keywords (all lines but the first), upper-cased, with their parameters.
    pub fn ehlo_keywords(&self) -> Vec<(String, String)> {
        self.lines
            .iter()
            .skip(1)
            .map(|l| {
                let (k, v) = l.split_once(' ').unwrap_or((l, ""));
                (k.to_ascii_uppercase(), v.to_string())
            })
            .collect()
    }
}

/// What the parser found in the buffer.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Parsed {
    /// Not a whole reply yet; read more.
    Incomplete,
    /// A whole reply that took this many octets.
    Reply(RemoteReply, usize),
    /// Not SMTP: bad syntax, mixed codes, or over the limits.
    Error(&'static str),
}

/// Parses one reply from the start of `buf`.
pub fn parse_reply(buf: &[u8]) -> Parsed {
    let mut pos = 0;
    let mut code = None;
    let mut lines = Vec::new();
    loop {
        let rest = &buf[pos..];
        let Some(nl) = memchr::memchr(b'\n', rest) else {
            return if rest.len() > MAX_LINE {
                Parsed::Error("reply line too long")
            } else {
                Parsed::Incomplete
            };
        };
        if nl > MAX_LINE {
            return Parsed::Error("reply line too long");
        }
        let line = &rest[..nl];
        let line = line.strip_suffix(b"\r").unwrap_or(line);
        pos += nl + 1;
        if line.len() < 3 || !line[..3].iter().all(u8::is_ascii_digit) {
            return Parsed::Error("reply without a code");
        }
        let c =
            (line[0] - b'0') as u16 * 100 + (line[1] - b'0') as u16 * 10 + (line[2] - b'0') as u16;
        if !(100..600).contains(&c) {
            return Parsed::Error("reply code out of range");
        }
        if *code.get_or_insert(c) != c {
            return Parsed::Error("reply lines with different codes");
        }
        let (last, text) = match line.get(3) {
            None => (true, &b""[..]),
            Some(b' ') => (true, &line[4..]),
            Some(b'-') => (false, &line[4..]),
            Some(_) => return Parsed::Error("bad separator after the reply code"),
        };
        lines.push(String::from_utf8_lossy(text).into_owned());
        if last {
            return Parsed::Reply(RemoteReply { code: c, lines }, pos);
        }
        if lines.len() >= MAX_LINES {
            return Parsed::Error("reply has too many lines");
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn reply(code: u16, lines: &[&str]) -> RemoteReply {
        RemoteReply {
            code,
            lines: lines.iter().map(|s| s.to_string()).collect(),
        }
    }

    #[test]
    fn single_and_multi_line_at_every_chunk_size() {
        let input = b"250-mx.example\r\n250-PIPELINING\r\n250 SIZE 1000\r\n220 next";
        for chunk in [1, 2, 4, 8, 16, 32, 64, 128, 256, 512] {
            // Feed growing prefixes as a reader would.
            let mut got = None;
            let mut have = 0;
            while have < input.len() {
                have = (have + chunk).min(input.len());
                match parse_reply(&input[..have]) {
                    Parsed::Incomplete => continue,
                    other => {
                        got = Some(other);
                        break;
                    }
                }
            }
            assert_eq!(
                got,
                Some(Parsed::Reply(
                    reply(250, &["mx.example", "PIPELINING", "SIZE 1000"]),
                    47
                )),
                "chunk {chunk}"
            );
        }
        assert_eq!(parse_reply(b"354\r\n"), Parsed::Reply(reply(354, &[""]), 5));
        assert_eq!(
            parse_reply(b"221 bye\n"),
            Parsed::Reply(reply(221, &["bye"]), 8)
        );
    }

    #[test]
    fn malformed_replies() {
        assert_eq!(
            parse_reply(b"25 x\r\n"),
            Parsed::Error("reply without a code")
        );
        assert_eq!(
            parse_reply(b"250-a\r\n251 b\r\n"),
            Parsed::Error("reply lines with different codes")
        );
        assert_eq!(
            parse_reply(b"250xa\r\n"),
            Parsed::Error("bad separator after the reply code")
        );
        assert_eq!(
            parse_reply(b"999 x\r\n"),
            Parsed::Error("reply code out of range")
        );
        assert_eq!(
            parse_reply(&vec![b'2'; MAX_LINE + 10]),
            Parsed::Error("reply line too long")
        );
        let many = "250-x\r\n".repeat(MAX_LINES + 1);
        assert_eq!(
            parse_reply(many.as_bytes()),
            Parsed::Error("reply has too many lines")
        );
    }

    #[test]
    fn status_and_keywords() {
        assert_eq!(reply(550, &["5.1.1 No such user"]).status(), "5.1.1");
        assert_eq!(reply(550, &["No such user"]).status(), "5.0.0");
        assert_eq!(
            reply(451, &["4.3.0 later"]).enhanced().as_deref(),
            Some("4.3.0")
        );
        assert_eq!(reply(451, &["5.3.0 mismatch"]).enhanced(), None);
        assert_eq!(reply(550, &["a", "b"]).one_line(), "550 a b");
        assert_eq!(
            reply(250, &["mx", "size 10", "8BITMIME"]).ehlo_keywords(),
            vec![
                ("SIZE".into(), "10".into()),
                ("8BITMIME".into(), String::new())
            ]
        );
    }
}
