//! The wire format of POP3 commands: line framing and command grammar, without I/O.
//!
//! [`LineReader`] cuts a byte buffer into lines under a hard length cap; [`parse_command`]
//! turns one line into a [`Command`]. Both are pure: "need more bytes" and "bad input"
//! are ordinary values, so the tokio driver, the unit tests and the fuzz targets all use
//! the same code.
//!
//! Grammar notes (RFC 1939 §3, RFC 2449 §3):
//! - a command is a case-insensitive keyword followed by arguments separated by single
//!   spaces, ended by CRLF; we also accept a bare LF and runs of spaces, as Dovecot does;
//! - keywords are 3 or 4 characters and arguments at most 40 characters, except the
//!   PASS argument, which is the rest of the line and may contain spaces (RFC 1939 §7);
//! - message numbers are decimal and start at 1.

use wharf_store::Secret;

/// Longest command line we accept, CRLF not counted. RFC 2449 §4 limits commands to 255
/// octets with CRLF; we accept a little more, as clients sending long SASL initial
/// responses sometimes overshoot (RFC 5034 §4 forbids it, but refusing helps no one).
pub const MAX_COMMAND_LINE: usize = 1024;

/// Longest SASL continuation line. RFC 5034 §4: client responses in an AUTH exchange
/// are not limited to 255 octets.
pub const MAX_SASL_LINE: usize = 8192;

/// RFC 2449 §4: arguments are at most 40 characters (PASS excepted).
pub const MAX_ARG_LEN: usize = 40;

/// What [`LineReader::next`] found in the buffer.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Frame<'a> {
    /// A complete line, without its CRLF (or bare LF).
    Line(&'a [u8]),
    /// A line longer than the limit ended; its bytes were skipped, not kept.
    TooLong,
    /// No complete line yet: read more and call again.
    Incomplete,
}

/// Splits a byte stream into bounded lines. Keeps only one bit of state: whether it is
/// skipping the rest of an over-long line.
#[derive(Debug, Default, Clone)]
pub struct LineReader {
    skipping: bool,
}

impl LineReader {
    pub fn new() -> LineReader {
        LineReader::default()
    }

    /// Looks for the next line in `buf`. Returns how many bytes of `buf` the caller must
    /// consume, and what was found. With [`Frame::Incomplete`] the consumed count is
    /// non-zero only while an over-long line is being skipped, so the caller's buffer
    /// never holds more than `max + 2` bytes of one line.
    pub fn next<'a>(&mut self, buf: &'a [u8], max: usize) -> (usize, Frame<'a>) {
        match memchr::memchr(b'\n', buf) {
            Some(lf) => {
                if self.skipping {
                    self.skipping = false;
                    return (lf + 1, Frame::TooLong);
                }
                let end = if lf > 0 && buf[lf - 1] == b'\r' {
                    lf - 1
                } else {
                    lf
                };
                if end > max {
                    (lf + 1, Frame::TooLong)
                } else {
                    (lf + 1, Frame::Line(&buf[..end]))
                }
            }
            None if self.skipping => (buf.len(), Frame::Incomplete),
            // One octet of slack for the CR of a line exactly `max` long.
            None if buf.len() > max + 1 => {
                self.skipping = true;
                (buf.len(), Frame::Incomplete)
            }
            None => (0, Frame::Incomplete),
        }
    }
}

/// One POP3 command with its arguments checked for syntax (not yet for meaning: whether
/// message 7 exists is the session's business).
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Command {
    /// RFC 2449 §5.
    Capa,
    /// RFC 1939 §7 (optional command).
    User(String),
    /// RFC 1939 §7; the whole rest of the line.
    Pass(Secret),
    /// RFC 1939 §7. Never accepted: it needs the plain password on the server.
    Apop,
    /// RFC 5034 §4. Without a mechanism: the old RFC 1734 mechanism listing.
    Auth {
        mechanism: Option<String>,
        initial_response: Option<String>,
    },
    /// RFC 2595 §4.
    Stls,
    Quit,
    Stat,
    List(Option<u32>),
    Retr(u32),
    Dele(u32),
    Noop,
    Rset,
    /// TOP msg n (RFC 1939 §7).
    Top(u32, u32),
    Uidl(Option<u32>),
}

impl Command {
    /// The keyword as clients write it, for log lines and error texts.
    pub fn verb(&self) -> &'static str {
        match self {
            Command::Capa => "CAPA",
            Command::User(_) => "USER",
            Command::Pass(_) => "PASS",
            Command::Apop => "APOP",
            Command::Auth { .. } => "AUTH",
            Command::Stls => "STLS",
            Command::Quit => "QUIT",
            Command::Stat => "STAT",
            Command::List(_) => "LIST",
            Command::Retr(_) => "RETR",
            Command::Dele(_) => "DELE",
            Command::Noop => "NOOP",
            Command::Rset => "RSET",
            Command::Top(..) => "TOP",
            Command::Uidl(_) => "UIDL",
        }
    }
}

/// Why a line is not a command. Each variant knows its `-ERR` text.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum ParseError {
    Empty,
    /// The keyword is not one we know (kept short and printable for the reply).
    Unknown(String),
    /// The keyword is known; the arguments are wrong.
    BadArguments {
        verb: &'static str,
        why: &'static str,
    },
}

impl ParseError {
    /// The text after `-ERR `.
    pub fn reply_text(&self) -> String {
        match self {
            ParseError::Empty => "Empty command".into(),
            ParseError::Unknown(verb) => format!("Unknown command: {verb}"),
            ParseError::BadArguments { verb, why } => format!("{verb}: {why}"),
        }
    }
}

/// Parses one command line (without its line ending).
pub fn parse_command(line: &[u8]) -> Result<Command, ParseError> {
    let (keyword, rest) = match line.iter().position(|&b| b == b' ') {
        Some(i) => (&line[..i], &line[i + 1..]),
        None => (line, &[][..]),
    };
    if keyword.is_empty() {
        return Err(ParseError::Empty);
    }
    let upper = keyword.to_ascii_uppercase();
    // PASS takes the rest of the line verbatim: RFC 1939 §7 lets a password contain
    // spaces "since the PASS command has exactly one argument".
    if upper == b"PASS" {
        let bad = |why| ParseError::BadArguments { verb: "PASS", why };
        if rest.is_empty() {
            return Err(bad("a password is required"));
        }
        let password = std::str::from_utf8(rest).map_err(|_| bad("the password is not UTF-8"))?;
        return Ok(Command::Pass(Secret::new(password)));
    }
    let args: Vec<&[u8]> = rest
        .split(|&b| b == b' ')
        .filter(|a| !a.is_empty())
        .collect();
    let verb = match upper.as_slice() {
        b"CAPA" => "CAPA",
        b"USER" => "USER",
        b"APOP" => "APOP",
        b"AUTH" => "AUTH",
        b"STLS" => "STLS",
        b"QUIT" => "QUIT",
        b"STAT" => "STAT",
        b"LIST" => "LIST",
        b"RETR" => "RETR",
        b"DELE" => "DELE",
        b"NOOP" => "NOOP",
        b"RSET" => "RSET",
        b"TOP" => "TOP",
        b"UIDL" => "UIDL",
        _ => return Err(ParseError::Unknown(printable(keyword))),
    };
    let bad = |why| ParseError::BadArguments { verb, why };
    // RFC 2449 §4: arguments are at most 40 characters. AUTH's initial response is the
    // exception (RFC 5034 §4 bounds it by the line length instead).
    if verb != "AUTH" && args.iter().any(|a| a.len() > MAX_ARG_LEN) {
        return Err(bad("argument too long"));
    }
    let no_args = |cmd: Command| {
        if args.is_empty() {
            Ok(cmd)
        } else {
            Err(bad("takes no arguments"))
        }
    };
    match verb {
        "CAPA" => no_args(Command::Capa),
        "STLS" => no_args(Command::Stls),
        "QUIT" => no_args(Command::Quit),
        "STAT" => no_args(Command::Stat),
        "NOOP" => no_args(Command::Noop),
        "RSET" => no_args(Command::Rset),
        "APOP" => Ok(Command::Apop),
        "USER" => match args.as_slice() {
            [name] => {
                let name = std::str::from_utf8(name).map_err(|_| bad("the name is not UTF-8"))?;
                if name.chars().any(char::is_control) {
                    return Err(bad("control characters in the name"));
                }
                Ok(Command::User(name.to_string()))
            }
            [] => Err(bad("a user name is required")),
            _ => Err(bad("exactly one user name is required")),
        },
        "AUTH" => match args.as_slice() {
            [] => Ok(Command::Auth {
                mechanism: None,
                initial_response: None,
            }),
            [mech] | [mech, _] => {
                let mechanism = sasl_mechanism(mech).ok_or(bad("invalid mechanism name"))?;
                let initial_response = match args.get(1) {
                    Some(ir) => Some(
                        std::str::from_utf8(ir)
                            .map_err(|_| bad("the initial response is not base64"))?
                            .to_string(),
                    ),
                    None => None,
                };
                Ok(Command::Auth {
                    mechanism: Some(mechanism),
                    initial_response,
                })
            }
            _ => Err(bad("too many arguments")),
        },
        "LIST" | "UIDL" => {
            let n = match args.as_slice() {
                [] => None,
                [n] => Some(msg_number(n).ok_or(bad("invalid message number"))?),
                _ => return Err(bad("at most one message number")),
            };
            Ok(if verb == "LIST" {
                Command::List(n)
            } else {
                Command::Uidl(n)
            })
        }
        "RETR" | "DELE" => match args.as_slice() {
            [n] => {
                let n = msg_number(n).ok_or(bad("invalid message number"))?;
                Ok(if verb == "RETR" {
                    Command::Retr(n)
                } else {
                    Command::Dele(n)
                })
            }
            [] => Err(bad("a message number is required")),
            _ => Err(bad("exactly one message number is required")),
        },
        "TOP" => match args.as_slice() {
            [n, lines] => {
                let n = msg_number(n).ok_or(bad("invalid message number"))?;
                let lines = number(lines).ok_or(bad("invalid number of lines"))?;
                Ok(Command::Top(n, lines))
            }
            _ => Err(bad("a message number and a number of lines are required")),
        },
        _ => Err(ParseError::Unknown(verb.to_string())),
    }
}

/// A decimal number; values too large for u32 saturate (they name no message anyway,
/// and as a TOP line count they mean "all").
fn number(s: &[u8]) -> Option<u32> {
    if s.is_empty() || !s.iter().all(u8::is_ascii_digit) {
        return None;
    }
    Some(
        s.iter()
            .try_fold(0u32, |acc, &d| {
                acc.checked_mul(10)?.checked_add(u32::from(d - b'0'))
            })
            .unwrap_or(u32::MAX),
    )
}

/// RFC 1939 §3: message numbers start at 1.
fn msg_number(s: &[u8]) -> Option<u32> {
    number(s).filter(|&n| n > 0)
}

/// RFC 4422 §3.1: a mechanism name is 1 to 20 of `A-Z 0-9 - _`; clients may send it in
/// any case (RFC 5034 §4), we keep it upper-cased.
fn sasl_mechanism(s: &[u8]) -> Option<String> {
    (!s.is_empty()
        && s.len() <= 20
        && s.iter()
            .all(|b| b.is_ascii_alphanumeric() || *b == b'-' || *b == b'_'))
    .then(|| String::from_utf8_lossy(s).to_ascii_uppercase())
}

/// A short printable rendering of client bytes for an error reply.
fn printable(s: &[u8]) -> String {
    s.iter()
        .take(20)
        .map(|&b| {
            if (0x21..0x7f).contains(&b) {
                b as char
            } else {
                '?'
            }
        })
        .collect()
}

#[cfg(test)]
mod tests {
    use super::*;

    /// Feeds `input` to a LineReader `chunk` bytes at a time, as the driver does, and
    /// returns every line (as parse results) and TooLong it produced.
    fn frames(input: &[u8], chunk: usize, max: usize) -> Vec<Result<Vec<u8>, &'static str>> {
        let mut reader = LineReader::new();
        let mut buf: Vec<u8> = Vec::new();
        let mut out = Vec::new();
        for piece in input.chunks(chunk) {
            buf.extend_from_slice(piece);
            loop {
                let (used, frame) = reader.next(&buf, max);
                let done = match frame {
                    Frame::Line(l) => {
                        out.push(Ok(l.to_vec()));
                        false
                    }
                    Frame::TooLong => {
                        out.push(Err("too long"));
                        false
                    }
                    Frame::Incomplete => true,
                };
                buf.drain(..used);
                if done {
                    // Waiting for more input never holds more than one bounded line.
                    assert!(buf.len() <= max + 1, "buffer grew to {}", buf.len());
                    break;
                }
            }
        }
        out
    }

    const CHUNKS: [usize; 10] = [1, 2, 4, 8, 16, 32, 64, 128, 256, 512];

    #[test]
    fn framing_is_the_same_at_every_chunk_size() {
        let mut input = b"USER a@b.test\r\nPASS x y\nSTAT\r\n".to_vec();
        input.extend_from_slice(&[b'A'; 300]);
        input.extend_from_slice(b"\r\nNOOP\r\n\r\nLIST 1\r\npartial");
        let want: Vec<Result<Vec<u8>, &str>> = vec![
            Ok(b"USER a@b.test".to_vec()),
            Ok(b"PASS x y".to_vec()),
            Ok(b"STAT".to_vec()),
            Err("too long"),
            Ok(b"NOOP".to_vec()),
            Ok(b"".to_vec()),
            Ok(b"LIST 1".to_vec()),
        ];
        for chunk in CHUNKS {
            assert_eq!(frames(&input, chunk, 100), want, "chunk size {chunk}");
        }
    }

    #[test]
    fn a_line_exactly_at_the_limit_is_a_line() {
        let mut input = vec![b'x'; 10];
        input.extend_from_slice(b"\r\n");
        input.extend_from_slice(&[b'y'; 11]);
        input.extend_from_slice(b"\r\n");
        for chunk in CHUNKS {
            assert_eq!(
                frames(&input, chunk, 10),
                vec![Ok(vec![b'x'; 10]), Err("too long")],
                "chunk size {chunk}"
            );
        }
    }

    #[test]
    fn commands_parse_at_every_chunk_size() {
        let input = b"capa\r\nUSER alice@example.test\r\nPASS  two  spaces \r\nSTAT\r\n\
LIST\r\nLIST 2\r\nRETR 1\r\nTOP 1 10\r\nDELE 3\r\nUIDL\r\nUIDL 4\r\nNOOP\r\nRSET\r\n\
AUTH PLAIN AGFAYgBj\r\nAUTH\r\nSTLS\r\nQUIT\r\n";
        let want = vec![
            Command::Capa,
            Command::User("alice@example.test".into()),
            Command::Pass(Secret::new(" two  spaces ")),
            Command::Stat,
            Command::List(None),
            Command::List(Some(2)),
            Command::Retr(1),
            Command::Top(1, 10),
            Command::Dele(3),
            Command::Uidl(None),
            Command::Uidl(Some(4)),
            Command::Noop,
            Command::Rset,
            Command::Auth {
                mechanism: Some("PLAIN".into()),
                initial_response: Some("AGFAYgBj".into()),
            },
            Command::Auth {
                mechanism: None,
                initial_response: None,
            },
            Command::Stls,
            Command::Quit,
        ];
        for chunk in CHUNKS {
            let got: Vec<Command> = frames(input, chunk, MAX_COMMAND_LINE)
                .into_iter()
                .map(|l| parse_command(&l.unwrap()).unwrap())
                .collect();
            assert_eq!(got, want, "chunk size {chunk}");
        }
    }

    #[test]
    fn bad_commands_are_values_with_a_reason() {
        let cases: &[(&[u8], &str)] = &[
            (b"", "Empty command"),
            (b"FROB 1", "Unknown command: FROB"),
            (b"\x00\xff", "Unknown command: ??"),
            (b"RETR", "RETR: a message number is required"),
            (b"RETR 0", "RETR: invalid message number"),
            (b"RETR -1", "RETR: invalid message number"),
            (b"RETR 1x", "RETR: invalid message number"),
            (b"RETR 1 2", "RETR: exactly one message number is required"),
            (b"DELE", "DELE: a message number is required"),
            (b"LIST 1 2", "LIST: at most one message number"),
            (
                b"TOP 1",
                "TOP: a message number and a number of lines are required",
            ),
            (b"TOP 1 x", "TOP: invalid number of lines"),
            (b"STAT 1", "STAT: takes no arguments"),
            (b"USER", "USER: a user name is required"),
            (b"USER a b", "USER: exactly one user name is required"),
            (b"PASS", "PASS: a password is required"),
            (b"AUTH PL@IN", "AUTH: invalid mechanism name"),
            (b"AUTH PLAIN a b", "AUTH: too many arguments"),
        ];
        for (line, text) in cases {
            let err = parse_command(line).unwrap_err();
            assert_eq!(
                err.reply_text(),
                *text,
                "{:?}",
                String::from_utf8_lossy(line)
            );
        }
        let long = format!("USER {}", "a".repeat(41));
        assert_eq!(
            parse_command(long.as_bytes()).unwrap_err().reply_text(),
            "USER: argument too long"
        );
    }

    #[test]
    fn keywords_are_case_insensitive_and_numbers_saturate() {
        assert_eq!(parse_command(b"rEtR 7").unwrap(), Command::Retr(7));
        assert_eq!(
            parse_command(b"top 1 99999999999").unwrap(),
            Command::Top(1, u32::MAX)
        );
        assert_eq!(
            parse_command(b"list 99999999999").unwrap(),
            Command::List(Some(u32::MAX))
        );
        assert_eq!(parse_command(b"STAT ").unwrap(), Command::Stat);
        assert_eq!(
            parse_command(b"auth login").unwrap(),
            Command::Auth {
                mechanism: Some("LOGIN".into()),
                initial_response: None
            }
        );
    }

    #[test]
    fn pass_keeps_the_rest_of_the_line_and_never_prints_it() {
        let cmd = parse_command(b"PASS hunter2").unwrap();
        assert_eq!(cmd, Command::Pass(Secret::new("hunter2")));
        assert!(!format!("{cmd:?}").contains("hunter2"));
    }
}
