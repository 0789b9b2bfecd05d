//! Command framing: where one command ends in the byte stream, apart from what it means.
//!
//! An IMAP command is a line, unless that line ends in a literal announcement `{n}`
//! (synchronizing: the server must answer `+` before the client sends the octets),
//! `{n+}` (LITERAL+, RFC 7888: the octets follow at once) or `~{n}` (literal8, RFC 3516);
//! then n octets follow and the command goes on with another line. The [`Framer`] scans
//! the connection's buffer and says what the driver must do next; it never copies.
//!
//! Bounds (the issue's "bad input" rules):
//! - a line longer than `max_line` is refused (`BAD`) and skipped to its end;
//! - a literal larger than the limit (APPENDLIMIT for APPEND, `max_literal` otherwise) is
//!   refused *before* its octets are read: a synchronizing one with a tagged `NO
//!   [TOOBIG]` / `BAD` (the client then does not send it), a non-synchronizing one
//!   closes the connection with `BYE`, as its octets are already on the way (RFC 7888 §4);
//! - the whole command, lines and non-APPEND literals together, is at most `max_command`.

use super::command::Tag;

/// Size limits for framing.
#[derive(Debug, Clone, Copy)]
pub struct Limits {
    /// Longest command line, without CRLF.
    pub max_line: usize,
    /// Largest literal outside APPEND.
    pub max_literal: u64,
    /// Largest APPEND message (APPENDLIMIT).
    pub max_append: u64,
    /// Largest command outside APPEND literals.
    pub max_command: usize,
}

impl Default for Limits {
    fn default() -> Self {
        Limits {
            max_line: 64 * 1024,
            max_literal: 64 * 1024,
            max_append: 50 * 1024 * 1024,
            max_command: 1024 * 1024,
        }
    }
}

/// A MULTIAPPEND may carry at most this many APPENDLIMITs in all.
pub const MULTIAPPEND_FACTOR: u64 = 2;

/// Why a command is refused while framing.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Reject {
    LineTooLong,
    /// A synchronizing literal over the limit; the client will not send its octets.
    LiteralTooBig {
        append: bool,
        size: u64,
    },
    /// The command as a whole is too big.
    CommandTooBig,
    /// A non-synchronizing literal over the limit: the connection must close.
    NonSyncLiteralTooBig,
}

/// What the driver does next.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Frame {
    /// Read more bytes, then poll again.
    Incomplete,
    /// Send a continuation request (`+ ...`), then poll again: a synchronizing literal
    /// was announced and is within limits.
    Continue,
    /// A complete command fills the first `n` buffered bytes.
    Command(usize),
    /// Drop `n` bytes silently (the rest of a line already refused).
    Discard(usize),
    /// Refuse the command: drop `consume` bytes and answer for `reason`.
    Reject {
        consume: usize,
        tag: Option<Tag>,
        reason: Reject,
    },
}

/// Scans buffered bytes for command boundaries. Keeps its place between polls, so each
/// byte is looked at about once.
#[derive(Debug, Default)]
pub struct Framer {
    limits: Limits,
    /// Start of the line being scanned (after the lines and literals already checked).
    pos: usize,
    /// Octets of the current command that count against `max_command`.
    counted: usize,
    /// Literal octets of the current APPEND (all its messages, RFC 3502).
    append_bytes: u64,
    /// Start offset of the literal whose continuation was already sent.
    acked: Option<usize>,
    /// Whether the current command is an APPEND (decided on its first line).
    append: Option<bool>,
    /// Skipping the rest of a refused line.
    discarding: bool,
    /// The last `Incomplete` waits for a literal's octets (not for a line's end).
    in_literal: bool,
}

impl Framer {
    pub fn new(limits: Limits) -> Framer {
        Framer {
            limits,
            ..Framer::default()
        }
    }

    pub fn limits(&self) -> &Limits {
        &self.limits
    }

    /// Whether the last [`Frame::Incomplete`] waits for the octets of a literal (message
    /// data, read at a minimum rate) rather than for the end of a line (read within the
    /// line bound).
    pub fn awaiting_literal(&self) -> bool {
        self.in_literal
    }

    fn reset(&mut self) {
        self.pos = 0;
        self.counted = 0;
        self.append_bytes = 0;
        self.acked = None;
        self.append = None;
    }

    /// Looks at the buffer (everything received and not yet consumed) and says what to
    /// do. After `Command`, `Discard` or `Reject`, the caller consumes the bytes it was
    /// told to before polling again.
    pub fn poll(&mut self, buf: &[u8]) -> Frame {
        self.in_literal = false;
        if self.discarding {
            return match buf.iter().position(|&b| b == b'\n') {
                Some(lf) => {
                    self.discarding = false;
                    Frame::Discard(lf + 1)
                }
                // Nothing buffered: the driver must read, not be told to drop 0 bytes
                // (a `Discard(0)` answered by another poll spun a runtime thread forever
                // and stalled every service).
                None if buf.is_empty() => Frame::Incomplete,
                None => Frame::Discard(buf.len()),
            };
        }
        loop {
            let Some(i) = buf[self.pos..].iter().position(|&b| b == b'\n') else {
                if buf.len() - self.pos > self.limits.max_line + 1 {
                    let tag = leading_tag(buf);
                    self.reset();
                    self.discarding = true;
                    return Frame::Reject {
                        consume: buf.len(),
                        tag,
                        reason: Reject::LineTooLong,
                    };
                }
                return Frame::Incomplete;
            };
            let lf = self.pos + i;
            let mut line = &buf[self.pos..lf];
            if let Some(l) = line.strip_suffix(b"\r") {
                line = l;
            }
            if line.len() > self.limits.max_line {
                let tag = leading_tag(buf);
                self.reset();
                return Frame::Reject {
                    consume: lf + 1,
                    tag,
                    reason: Reject::LineTooLong,
                };
            }
            let append = *self.append.get_or_insert_with(|| is_append(line));
            self.counted += line.len() + 2;
            let Some((size, sync)) = literal_announcement(line) else {
                self.reset();
                return Frame::Command(lf + 1);
            };
            let limit = if append {
                self.limits.max_append
            } else {
                self.limits.max_literal
            };
            // MULTIAPPEND: each message within APPENDLIMIT, all of them within
            // MULTIAPPEND_FACTOR times that.
            let too_big_command = if append {
                self.append_bytes + size > self.limits.max_append.saturating_mul(MULTIAPPEND_FACTOR)
            } else {
                self.counted as u64 + size > self.limits.max_command as u64
            };
            if size > limit || too_big_command {
                let tag = leading_tag(buf);
                self.reset();
                if !sync {
                    return Frame::Reject {
                        consume: buf.len(),
                        tag,
                        reason: Reject::NonSyncLiteralTooBig,
                    };
                }
                let reason = if too_big_command && size <= limit {
                    Reject::CommandTooBig
                } else {
                    Reject::LiteralTooBig { append, size }
                };
                return Frame::Reject {
                    consume: lf + 1,
                    tag,
                    reason,
                };
            }
            let start = lf + 1;
            if sync && self.acked != Some(start) {
                self.acked = Some(start);
                return Frame::Continue;
            }
            let end = start + size as usize;
            if buf.len() < end {
                self.in_literal = true;
                return Frame::Incomplete;
            }
            if append {
                self.append_bytes += size;
            } else {
                self.counted += size as usize;
            }
            self.pos = end;
        }
    }
}

/// The tag at the start of a command, if it is a valid one.
fn leading_tag(buf: &[u8]) -> Option<Tag> {
    let end = buf
        .iter()
        .position(|&b| b == b' ' || b == b'\r' || b == b'\n')
        .unwrap_or(buf.len());
    Tag::parse(&buf[..end.min(Tag::MAX + 1)])
}

/// Whether a first command line is an APPEND (so its literal may be message-sized).
fn is_append(line: &[u8]) -> bool {
    let mut words = line.splitn(3, |&b| b == b' ');
    words.next();
    words
        .next()
        .is_some_and(|w| w.eq_ignore_ascii_case(b"APPEND"))
}

/// `{n}` / `{n+}` / `~{n}` at the end of a line: (n, synchronizing).
pub fn literal_announcement(line: &[u8]) -> Option<(u64, bool)> {
    let inner = line.strip_suffix(b"}")?;
    let open = inner.iter().rposition(|&b| b == b'{')?;
    let mut digits = &inner[open + 1..];
    let sync = match digits.strip_suffix(b"+") {
        Some(d) => {
            digits = d;
            false
        }
        None => true,
    };
    if digits.is_empty() || digits.len() > 19 || !digits.iter().all(u8::is_ascii_digit) {
        return None;
    }
    std::str::from_utf8(digits)
        .ok()?
        .parse()
        .ok()
        .map(|n| (n, sync))
}

#[cfg(test)]
mod tests {
    use super::*;

    /// What a driver does with the frames, as a transcript.
    #[derive(Debug, PartialEq)]
    enum Ev {
        Cmd(Vec<u8>),
        Cont,
        Rej(Option<String>, Reject),
    }

    /// Feeds `input` in chunks of `chunk` octets, acting on frames like the driver.
    fn run(input: &[u8], chunk: usize, limits: Limits) -> Vec<Ev> {
        let mut f = Framer::new(limits);
        let mut buf: Vec<u8> = Vec::new();
        let mut fed = 0;
        let mut out = Vec::new();
        loop {
            match f.poll(&buf) {
                Frame::Incomplete => {
                    if fed >= input.len() {
                        return out;
                    }
                    let n = chunk.min(input.len() - fed);
                    buf.extend_from_slice(&input[fed..fed + n]);
                    fed += n;
                }
                Frame::Continue => out.push(Ev::Cont),
                Frame::Command(n) => {
                    out.push(Ev::Cmd(buf[..n].to_vec()));
                    buf.drain(..n);
                }
                Frame::Discard(n) => {
                    // Every frame but Incomplete/Continue makes progress.
                    assert!(n > 0, "Discard(0) would make the driver spin");
                    buf.drain(..n);
                }
                Frame::Reject {
                    consume,
                    tag,
                    reason,
                } => {
                    out.push(Ev::Rej(tag.map(|t| t.as_str().to_string()), reason));
                    buf.drain(..consume);
                }
            }
        }
    }

    fn chunk_sizes() -> impl Iterator<Item = usize> {
        (0..10).map(|i| 1 << i)
    }

    #[test]
    fn commands_and_literals_at_every_chunk_size() {
        let input = b"a1 NOOP\r\na2 LOGIN {4}\r\nuser {4+}\r\npass\r\na3 APPEND x {5}\r\nhello\r\n";
        for chunk in chunk_sizes() {
            let ev = run(input, chunk, Limits::default());
            assert_eq!(
                ev,
                vec![
                    Ev::Cmd(b"a1 NOOP\r\n".to_vec()),
                    Ev::Cont,
                    Ev::Cmd(b"a2 LOGIN {4}\r\nuser {4+}\r\npass\r\n".to_vec()),
                    Ev::Cont,
                    Ev::Cmd(b"a3 APPEND x {5}\r\nhello\r\n".to_vec()),
                ],
                "chunk {chunk}"
            );
        }
    }

    #[test]
    fn bare_lf_lines_are_commands() {
        for chunk in chunk_sizes() {
            assert_eq!(
                run(b"a NOOP\nb NOOP\n", chunk, Limits::default()),
                vec![Ev::Cmd(b"a NOOP\n".to_vec()), Ev::Cmd(b"b NOOP\n".to_vec())]
            );
        }
    }

    #[test]
    fn long_lines_are_refused_and_skipped() {
        let limits = Limits {
            max_line: 20,
            ..Limits::default()
        };
        let mut input = b"t1 LOGIN ".to_vec();
        input.extend(std::iter::repeat_n(b'x', 100));
        input.extend_from_slice(b"\r\nt2 NOOP\r\n");
        for chunk in chunk_sizes() {
            assert_eq!(
                run(&input, chunk, limits),
                vec![
                    Ev::Rej(Some("t1".into()), Reject::LineTooLong),
                    Ev::Cmd(b"t2 NOOP\r\n".to_vec())
                ],
                "chunk {chunk}"
            );
        }
    }

    /// The outside finding: `max_line + 2` octets with no line feed, then silence. After
    /// the refusal the framer must ask for more input, not for a discard of nothing.
    #[test]
    fn an_overlong_line_then_silence_waits_for_input() {
        let limits = Limits {
            max_line: 16,
            ..Limits::default()
        };
        let mut f = Framer::new(limits);
        let buf = vec![b'A'; 18];
        assert!(matches!(
            f.poll(&buf),
            Frame::Reject {
                consume: 18,
                reason: Reject::LineTooLong,
                ..
            }
        ));
        assert_eq!(f.poll(&[]), Frame::Incomplete);
        assert_eq!(f.poll(b"AAAA"), Frame::Discard(4));
        assert_eq!(f.poll(&[]), Frame::Incomplete);
        assert_eq!(f.poll(b"A\r\nt1 NOOP\r\n"), Frame::Discard(3));
        assert_eq!(f.poll(b"t1 NOOP\r\n"), Frame::Command(9));
    }

    /// The driver reads literal octets at a minimum rate and lines within a bound; the
    /// framer says which one an `Incomplete` waits for.
    #[test]
    fn incomplete_says_whether_it_waits_for_a_literal() {
        let mut f = Framer::new(Limits::default());
        assert_eq!(f.poll(b"a1 NOOP"), Frame::Incomplete);
        assert!(!f.awaiting_literal());
        assert_eq!(f.poll(b"a1 APPEND INBOX {10}\r\n"), Frame::Continue);
        assert_eq!(f.poll(b"a1 APPEND INBOX {10}\r\n"), Frame::Incomplete);
        assert!(f.awaiting_literal());
        assert_eq!(
            f.poll(b"a1 APPEND INBOX {10}\r\n0123456789"),
            Frame::Incomplete
        );
        assert!(
            !f.awaiting_literal(),
            "the rest of the line is a line again"
        );
        assert_eq!(
            f.poll(b"a1 APPEND INBOX {10}\r\n0123456789\r\n"),
            Frame::Command(34)
        );
    }

    #[test]
    fn oversized_literals_are_refused_before_reading() {
        let limits = Limits {
            max_literal: 10,
            max_append: 100,
            ..Limits::default()
        };
        for chunk in chunk_sizes() {
            // Synchronizing: refused, nothing is waited for, the next command works.
            assert_eq!(
                run(
                    b"a LOGIN {11}\r\nb APPEND x {101}\r\nc APPEND x {100}\r\n",
                    chunk,
                    limits
                ),
                vec![
                    Ev::Rej(
                        Some("a".into()),
                        Reject::LiteralTooBig {
                            append: false,
                            size: 11
                        }
                    ),
                    Ev::Rej(
                        Some("b".into()),
                        Reject::LiteralTooBig {
                            append: true,
                            size: 101
                        }
                    ),
                    Ev::Cont,
                ],
                "chunk {chunk}"
            );
            // Non-synchronizing: fatal.
            let ev = run(b"a LOGIN {11+}\r\n01234567890\r\n", chunk, limits);
            assert_eq!(
                ev[0],
                Ev::Rej(Some("a".into()), Reject::NonSyncLiteralTooBig)
            );
        }
    }

    /// The fuzz target's loop over pseudo-random IMAP-ish input: no panic, no consuming
    /// more than is buffered, and the input is always used up.
    #[test]
    fn random_input_never_stalls() {
        let alphabet: &[&[u8]] = &[
            b"a", b" ", b"{", b"}", b"+", b"5", b"40", b"\r\n", b"\n", b"APPEND", b"LOGIN", b"~",
            b"x",
        ];
        let limits = Limits {
            max_line: 64,
            max_literal: 32,
            max_append: 128,
            max_command: 256,
        };
        let mut seed: u64 = 0x9e37_79b9_7f4a_7c15;
        for _ in 0..2000 {
            let mut input = Vec::new();
            for _ in 0..40 {
                seed = seed
                    .wrapping_mul(6364136223846793005)
                    .wrapping_add(1442695040888963407);
                input.extend_from_slice(alphabet[(seed >> 33) as usize % alphabet.len()]);
            }
            let mut f = Framer::new(limits);
            let mut buf = input.clone();
            let mut steps = 0;
            loop {
                steps += 1;
                assert!(steps < 10_000, "stalled on {input:?}");
                match f.poll(&buf) {
                    Frame::Incomplete => break,
                    Frame::Continue => {}
                    Frame::Command(n) | Frame::Discard(n) | Frame::Reject { consume: n, .. } => {
                        assert!(n <= buf.len());
                        assert!(n > 0, "a frame that consumes nothing stalls: {input:?}");
                        let cmd: Vec<u8> = buf.drain(..n).collect();
                        let _ = super::super::parse::parse_command(&cmd);
                    }
                }
            }
        }
    }

    #[test]
    fn multiappend_total_is_bounded() {
        let limits = Limits {
            max_append: 100,
            ..Limits::default()
        };
        let mut input = b"m APPEND x".to_vec();
        for _ in 0..MULTIAPPEND_FACTOR {
            input.extend_from_slice(b" {100+}\r\n");
            input.extend(std::iter::repeat_n(b'x', 100));
        }
        let mut fits = input.clone();
        fits.extend_from_slice(b"\r\n");
        input.extend_from_slice(b" {1}\r\n");
        for chunk in chunk_sizes() {
            assert_eq!(
                run(&fits, chunk, limits),
                vec![Ev::Cmd(fits.clone())],
                "chunk {chunk}"
            );
            assert_eq!(
                run(&input, chunk, limits),
                vec![Ev::Rej(Some("m".into()), Reject::CommandTooBig)],
                "chunk {chunk}"
            );
        }
    }

    #[test]
    fn literal_announcements() {
        assert_eq!(literal_announcement(b"a LOGIN {5}"), Some((5, true)));
        assert_eq!(literal_announcement(b"a LOGIN {5+}"), Some((5, false)));
        assert_eq!(literal_announcement(b"a X ~{0}"), Some((0, true)));
        assert_eq!(literal_announcement(b"a LOGIN {}"), None);
        assert_eq!(literal_announcement(b"a LOGIN {x}"), None);
        assert_eq!(
            literal_announcement(b"a LOGIN {99999999999999999999}"),
            None
        );
        assert_eq!(literal_announcement(b"a NOOP"), None);
    }
}
