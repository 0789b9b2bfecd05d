//! Message receivers: DATA (dot-terminated, dot-stuffed text, RFC 5321 §4.1.1.4 and
//! §4.5.2) and BDAT chunks (exact octet counts, RFC 3030). Both are sans-IO: they take
//! whatever bytes have arrived, say how many they used, and never hold more than the
//! maximum message size.
//!
//! Implementation notes for DATA:
//! - The message ends only at CRLF "." CRLF. The CRLF before the dot belongs to the
//!   message. The beginning of the data counts as just after a CRLF, so ".\r\n" first is
//!   an empty message.
//! - Only a real CRLF starts a line. A bare LF or bare CR never does, so none of `\n.\n`,
//!   `\r.\r`, `\r.\n`, `\n.\r\n` ends the message (SMTP smuggling, CVE-2023-51764).
//! - Policy: a message that holds a bare CR or bare LF anywhere is rejected with
//!   `550 5.5.2` once its real end has been read (what Postfix does with
//!   `smtpd_forbid_bare_newline = reject`). Nothing of it is stored.
//! - Dot-unstuffing is byte-exact: a line starting with "." loses that one dot and
//!   nothing else (RFC 5321 §4.5.2). NUL and other octets pass through unchanged.
//! - Over the size limit the receiver keeps reading to the end but stops storing, so
//!   the client gets its `552 5.3.4` in step and the session goes on.

use memchr::memchr2;

/// Why a received message is refused.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum DataError {
    /// More than the maximum message size (RFC 1870 §6: 552 5.3.4).
    TooBig,
    /// A bare CR or bare LF (550 5.5.2).
    BareLineEnding,
    /// A text line over the configured maximum (550 5.6.0).
    LineTooLong,
}

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum State {
    /// Just after CRLF (or at the very start).
    LineStart,
    /// A "." at the start of a line.
    Dot,
    /// "." CR at the start of a line.
    DotCr,
    /// Inside a line.
    Mid,
    /// A CR inside (or ending) a line.
    Cr,
    /// CRLF.CRLF seen.
    Done,
}

/// Receives one DATA message.
#[derive(Debug)]
pub struct DataReceiver {
    state: State,
    max_size: u64,
    max_line: usize,
    body: Vec<u8>,
    /// Octets of message content so far (after unstuffing), stored or not.
    size: u64,
    line_len: usize,
    error: Option<DataError>,
}

impl DataReceiver {
    /// `max_size`: the largest message kept; `max_line`: the longest text line, CRLF not
    /// counted.
    pub fn new(max_size: u64, max_line: usize) -> DataReceiver {
        DataReceiver {
            state: State::LineStart,
            max_size,
            max_line,
            body: Vec::new(),
            size: 0,
            line_len: 0,
            error: None,
        }
    }

    /// Whether CRLF.CRLF has been seen.
    pub fn is_done(&self) -> bool {
        self.state == State::Done
    }

    /// Octets of message content received so far.
    pub fn size(&self) -> u64 {
        self.size
    }

    fn fail(&mut self, error: DataError) {
        // The first error decides the reply; storage stops at once.
        if self.error.is_none() {
            self.error = Some(error);
        }
        self.body = Vec::new();
    }

    /// Message content inside a line (no line ending).
    fn push_text(&mut self, bytes: &[u8]) {
        self.size += bytes.len() as u64;
        self.line_len += bytes.len();
        if self.size > self.max_size {
            self.fail(DataError::TooBig);
        } else if self.line_len > self.max_line {
            self.fail(DataError::LineTooLong);
        }
        if self.error.is_none() {
            self.body.extend_from_slice(bytes);
        }
    }

    fn push_crlf(&mut self) {
        self.size += 2;
        self.line_len = 0;
        if self.size > self.max_size {
            self.fail(DataError::TooBig);
        }
        if self.error.is_none() {
            self.body.extend_from_slice(b"\r\n");
        }
    }

    /// A bare CR or LF: recorded as content so sizes stay right, and the message refused.
    fn push_bare(&mut self, byte: u8) {
        self.push_text(&[byte]);
        self.fail(DataError::BareLineEnding);
    }

    /// Takes bytes that follow the 354 reply. Returns how many were used: all of them,
    /// unless the end of the message is among them, in which case the bytes after it
    /// (pipelined commands) are left for the command reader.
    pub fn feed(&mut self, input: &[u8]) -> usize {
        let mut i = 0;
        while i < input.len() {
            match self.state {
                State::Done => return i,
                State::Mid => match memchr2(b'\r', b'\n', &input[i..]) {
                    None => {
                        self.push_text(&input[i..]);
                        i = input.len();
                    }
                    Some(k) => {
                        self.push_text(&input[i..i + k]);
                        if input[i + k] == b'\r' {
                            self.state = State::Cr;
                        } else {
                            self.push_bare(b'\n');
                        }
                        i += k + 1;
                    }
                },
                State::LineStart => {
                    let b = input[i];
                    i += 1;
                    self.state = match b {
                        b'.' => State::Dot,
                        b'\r' => State::Cr,
                        b'\n' => {
                            self.push_bare(b'\n');
                            State::Mid
                        }
                        _ => {
                            self.push_text(&[b]);
                            State::Mid
                        }
                    };
                }
                State::Dot => {
                    // RFC 5321 §4.5.2: the line began with a dot and has more characters:
                    // the first dot goes. (If the next octets are CR LF, this is the end.)
                    let b = input[i];
                    i += 1;
                    self.state = match b {
                        b'\r' => State::DotCr,
                        b'\n' => {
                            self.push_bare(b'\n');
                            State::Mid
                        }
                        _ => {
                            self.push_text(&[b]);
                            State::Mid
                        }
                    };
                }
                State::DotCr => {
                    if input[i] == b'\n' {
                        self.state = State::Done;
                        return i + 1;
                    }
                    // ".\r" then something else: a stuffed dot and a bare CR. The octet
                    // after the CR is looked at again as ordinary text.
                    self.push_bare(b'\r');
                    self.state = State::Mid;
                }
                State::Cr => {
                    if input[i] == b'\n' {
                        i += 1;
                        self.push_crlf();
                        self.state = State::LineStart;
                    } else {
                        self.push_bare(b'\r');
                        self.state = State::Mid;
                    }
                }
            }
        }
        i
    }

    /// The message (unstuffed, CRLF line endings) or why it is refused. Call once
    /// [`DataReceiver::is_done`].
    pub fn finish(self) -> Result<Vec<u8>, DataError> {
        match self.error {
            Some(e) => Err(e),
            None => Ok(self.body),
        }
    }
}

/// The inverse of [`DataReceiver`]: dot-stuffs a message (RFC 5321 §4.5.2) and adds
/// the terminating CRLF "." CRLF, for sending it with DATA. A message that does not end
/// in CRLF gets one first.
pub fn dot_stuff(message: &[u8]) -> Vec<u8> {
    let mut out = Vec::with_capacity(message.len() + message.len() / 64 + 5);
    let mut line_start = true;
    for &b in message {
        if line_start && b == b'.' {
            out.push(b'.');
        }
        out.push(b);
        line_start = b == b'\n';
    }
    if !message.is_empty() && !message.ends_with(b"\r\n") {
        out.extend_from_slice(b"\r\n");
    }
    out.extend_from_slice(b".\r\n");
    out
}

/// Receives one BDAT chunk of a known size (RFC 3030 §2). The chunk's octets are read
/// in full whatever happens, so they are never taken for commands.
#[derive(Debug)]
pub struct ChunkReceiver {
    remaining: u64,
    /// How many octets may still be kept; `None`: discard the chunk.
    room: Option<u64>,
    data: Vec<u8>,
    too_big: bool,
}

/// What a chunk turned out to be.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Chunk {
    /// The chunk's octets, exactly.
    Data(Vec<u8>),
    /// Discarded, as asked.
    Discarded,
    /// The chunk would have made the message larger than allowed; discarded.
    TooBig,
}

impl ChunkReceiver {
    /// `size` from the BDAT command; `room` how many octets the message may still grow
    /// by, or `None` to read and drop the chunk (e.g. a BDAT out of sequence).
    pub fn new(size: u64, room: Option<u64>) -> ChunkReceiver {
        let too_big = room.is_some_and(|room| size > room);
        let keep = room.is_some() && !too_big;
        // Never trust the client's number for an allocation up front.
        let reserve = if keep { size.min(1 << 20) as usize } else { 0 };
        ChunkReceiver {
            remaining: size,
            room: if keep { room } else { None },
            data: Vec::with_capacity(reserve),
            too_big,
        }
    }

    pub fn is_done(&self) -> bool {
        self.remaining == 0
    }

    /// Takes up to the chunk's remaining octets from `input`; returns how many.
    pub fn feed(&mut self, input: &[u8]) -> usize {
        let n = (input.len() as u64).min(self.remaining) as usize;
        if self.room.is_some() {
            self.data.extend_from_slice(&input[..n]);
        }
        self.remaining -= n as u64;
        n
    }

    pub fn finish(self) -> Chunk {
        if self.too_big {
            Chunk::TooBig
        } else if self.room.is_some() {
            Chunk::Data(self.data)
        } else {
            Chunk::Discarded
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    /// The message (or why not) and the bytes left after its end.
    type Outcome = (Result<Vec<u8>, DataError>, Vec<u8>);

    const SIZES: [usize; 10] = [1, 2, 4, 8, 16, 32, 64, 128, 256, 512];

    /// Feeds `input` at a chunk size; returns (result, bytes left after the end), or
    /// None if the message never ended.
    fn receive(input: &[u8], chunk: usize, max_size: u64, max_line: usize) -> Option<Outcome> {
        let mut rx = DataReceiver::new(max_size, max_line);
        let (mut fed, mut consumed) = (0, 0);
        while fed < input.len() {
            fed = (fed + chunk).min(input.len());
            consumed += rx.feed(&input[consumed..fed]);
            if rx.is_done() {
                // What follows the end stays for the command reader.
                return Some((rx.finish(), input[consumed..].to_vec()));
            }
            assert_eq!(consumed, fed, "unfinished receiver left input unused");
        }
        None
    }

    /// The same case at every chunk size must give the same answer.
    fn all_sizes(input: &[u8]) -> Option<Outcome> {
        let first = receive(input, SIZES[0], 1 << 20, 1000);
        for size in SIZES {
            assert_eq!(
                receive(input, size, 1 << 20, 1000),
                first,
                "chunk size {size}"
            );
        }
        first
    }

    fn accepted(input: &[u8]) -> (Vec<u8>, Vec<u8>) {
        match all_sizes(input) {
            Some((Ok(body), rest)) => (body, rest),
            other => panic!("{:?}: {other:?}", String::from_utf8_lossy(input)),
        }
    }

    #[test]
    fn simple_message_and_pipelined_rest() {
        let (body, rest) = accepted(b"Subject: x\r\n\r\nHello\r\n.\r\nQUIT\r\n");
        assert_eq!(body, b"Subject: x\r\n\r\nHello\r\n");
        assert_eq!(rest, b"QUIT\r\n");
    }

    #[test]
    fn empty_message() {
        assert_eq!(accepted(b".\r\n"), (vec![], vec![]));
    }

    #[test]
    fn dot_unstuffing_is_byte_exact() {
        let (body, _) = accepted(b"..\r\n...x\r\n.a.b.\r\nno.dot\r\n. \r\n.\r\n");
        assert_eq!(body, b".\r\n..x\r\na.b.\r\nno.dot\r\n \r\n");
    }

    #[test]
    fn eight_bit_and_nul_pass_through() {
        let (body, _) = accepted(b"caf\xc3\xa9 \xff\x00\r\n.\r\n");
        assert_eq!(body, b"caf\xc3\xa9 \xff\x00\r\n");
    }

    // ---- SMTP smuggling (CVE-2023-51764 and friends): none of these ends the message,
    // and each, being a bare CR or LF, gets the message refused once the real end comes.

    fn smuggled(name: &str, trick: &[u8]) {
        let mut input = b"Subject: a\r\n\r\nbody".to_vec();
        input.extend_from_slice(trick);
        input.extend_from_slice(
            b"MAIL FROM:<evil@x.test>\r\nRCPT TO:<v@y.test>\r\nDATA\r\n\r\nforged\r\n.\r\n",
        );
        match all_sizes(&input) {
            Some((Err(DataError::BareLineEnding), rest)) => {
                assert!(rest.is_empty(), "{name}: ended early, left {rest:?}")
            }
            other => panic!("{name}: {other:?}"),
        }
    }

    #[test]
    fn smuggling_lf_dot_lf() {
        smuggled("\\n.\\n", b"\n.\n");
    }
    #[test]
    fn smuggling_cr_dot_cr() {
        smuggled("\\r.\\r", b"\r.\r");
    }
    #[test]
    fn smuggling_cr_dot_lf() {
        smuggled("\\r.\\n", b"\r.\n");
    }
    #[test]
    fn smuggling_lf_dot_crlf() {
        smuggled("\\n.\\r\\n", b"\n.\r\n");
    }
    #[test]
    fn smuggling_crlf_dot_lf() {
        smuggled("\\r\\n.\\n", b"\r\n.\n");
    }
    #[test]
    fn smuggling_crlf_dot_cr() {
        smuggled("\\r\\n.\\r", b"\r\n.\rX");
    }

    #[test]
    fn smuggling_nul_before_the_dot() {
        // "\r\n\0.\r\n" is a line holding NUL and a dot: content, not the end.
        let (body, rest) = accepted(b"a\r\n\x00.\r\nMAIL FROM:<e@x.test>\r\n.\r\nQUIT\r\n");
        assert_eq!(body, b"a\r\n\x00.\r\nMAIL FROM:<e@x.test>\r\n");
        assert_eq!(rest, b"QUIT\r\n");
    }

    #[test]
    fn smuggling_nul_after_the_dot() {
        // ".\0\r\n" is a stuffed line whose content is NUL: content, not the end.
        let (body, rest) = accepted(b"a\r\n.\x00\r\nMAIL FROM:<e@x.test>\r\n.\r\nQUIT\r\n");
        assert_eq!(body, b"a\r\n\x00\r\nMAIL FROM:<e@x.test>\r\n");
        assert_eq!(rest, b"QUIT\r\n");
    }

    #[test]
    fn bare_lf_alone_is_refused_after_the_real_end() {
        let r = all_sizes(b"line one\nline two\r\n.\r\nNOOP\r\n").unwrap();
        assert_eq!(r, (Err(DataError::BareLineEnding), b"NOOP\r\n".to_vec()));
    }

    #[test]
    fn bare_cr_alone_is_refused() {
        let r = all_sizes(b"a\rb\r\n.\r\n").unwrap();
        assert_eq!(r.0, Err(DataError::BareLineEnding));
    }

    #[test]
    fn unterminated_message_never_ends() {
        assert_eq!(all_sizes(b"a\r\n.\n"), None);
        assert_eq!(all_sizes(b"a\r\n."), None);
        assert_eq!(all_sizes(b"a\r\n.\r"), None);
    }

    #[test]
    fn over_the_size_limit_reads_to_the_end_and_keeps_nothing() {
        let mut input = Vec::new();
        for _ in 0..100 {
            input.extend_from_slice(b"0123456789\r\n");
        }
        input.extend_from_slice(b".\r\nRSET\r\n");
        for size in SIZES {
            let (r, rest) = receive(&input, size, 1000, 1000).unwrap();
            assert_eq!(r, Err(DataError::TooBig), "chunk size {size}");
            assert_eq!(rest, b"RSET\r\n");
        }
        // Exactly at the limit is fine: 100 lines of 12 octets.
        assert!(receive(&input, 64, 1200, 1000).unwrap().0.is_ok());
        assert_eq!(
            receive(&input, 64, 1199, 1000).unwrap().0,
            Err(DataError::TooBig)
        );
    }

    #[test]
    fn storage_stops_at_the_limit() {
        let mut rx = DataReceiver::new(10, 1000);
        rx.feed(&[b'a'; 100_000]);
        assert!(rx.body.capacity() < 1000);
        assert_eq!(rx.size(), 100_000);
    }

    #[test]
    fn long_text_lines() {
        let line = [b'x'; 20];
        let mut input = line.to_vec();
        input.extend_from_slice(b"\r\n.\r\n");
        assert!(receive(&input, 4, 1000, 20).unwrap().0.is_ok());
        assert_eq!(
            receive(&input, 4, 1000, 19).unwrap().0,
            Err(DataError::LineTooLong)
        );
    }

    #[test]
    fn dot_stuff_round_trips() {
        for body in [
            &b""[..],
            b"a\r\n",
            b".\r\n",
            b"..\r\n.x\r\n\r\n.\r\n",
            b"Subject: s\r\n\r\n.\r\n..\r\nend\r\n",
        ] {
            let wire = dot_stuff(body);
            for size in SIZES {
                let (got, rest) = receive(&wire, size, 1 << 20, 1000).unwrap();
                assert_eq!(got.unwrap(), body, "chunk size {size}");
                assert!(rest.is_empty());
            }
        }
        assert_eq!(dot_stuff(b".a"), b"..a\r\n.\r\n");
    }

    #[test]
    fn chunk_receiver_takes_exact_counts() {
        for size in SIZES {
            let input = b"0123456789BDAT 3 LAST\r\n";
            let mut rx = ChunkReceiver::new(10, Some(100));
            let mut used = 0;
            for piece in input.chunks(size) {
                if rx.is_done() {
                    break;
                }
                used += rx.feed(piece);
            }
            assert!(rx.is_done());
            assert_eq!(used, 10, "chunk size {size}");
            assert_eq!(rx.finish(), Chunk::Data(b"0123456789".to_vec()));
        }
    }

    #[test]
    fn chunk_receiver_discards_and_refuses() {
        let mut rx = ChunkReceiver::new(5, None);
        assert_eq!(rx.feed(b"abcdefg"), 5);
        assert_eq!(rx.finish(), Chunk::Discarded);

        let mut rx = ChunkReceiver::new(5, Some(4));
        assert_eq!(rx.feed(b"abcdefg"), 5);
        assert!(rx.data.is_empty());
        assert_eq!(rx.finish(), Chunk::TooBig);

        let rx = ChunkReceiver::new(0, Some(0));
        assert!(rx.is_done());
        assert_eq!(rx.finish(), Chunk::Data(vec![]));
    }

    #[test]
    fn chunk_receiver_does_not_trust_the_declared_size() {
        let rx = ChunkReceiver::new(u64::MAX, Some(u64::MAX));
        assert!(rx.data.capacity() <= 1 << 20);
    }
}
