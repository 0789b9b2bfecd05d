//! Command-line framing: finds the next line in the buffered input without copying,
//! bounded by a maximum length. A line over the limit is skipped to its end (never
//! buffered) and reported once as [`Frame::TooLong`].
//!
//! RFC 5321 §2.3.8 says lines end in CRLF. Commands ending in a bare LF are accepted, as
//! Postfix and Dovecot do: unlike in DATA, this cannot move a message boundary. A bare CR
//! inside a command line is left in the line, where the parser refuses it.

/// What the next bytes of input hold.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Frame<'a> {
    /// A complete line, terminator removed.
    Line(&'a [u8]),
    /// A line over the limit was skipped.
    TooLong,
    /// No complete line yet: read more.
    Incomplete,
}

/// Finds command lines in a byte stream.
#[derive(Debug, Clone)]
pub struct LineReader {
    max: usize,
    /// Inside a too-long line, discarding up to its LF.
    skipping: bool,
}

impl LineReader {
    /// `max` is the longest line accepted, terminator not counted.
    pub fn new(max: usize) -> LineReader {
        LineReader {
            max,
            skipping: false,
        }
    }

    /// Looks at `buf` and returns how many bytes to consume and what they were. The
    /// caller consumes exactly that many before the next call.
    pub fn next<'a>(&mut self, buf: &'a [u8]) -> (usize, Frame<'a>) {
        match memchr::memchr(b'\n', buf) {
            Some(lf) => {
                if std::mem::take(&mut self.skipping) {
                    return (lf + 1, Frame::TooLong);
                }
                let line = &buf[..lf];
                let line = line.strip_suffix(b"\r").unwrap_or(line);
                if line.len() > self.max {
                    (lf + 1, Frame::TooLong)
                } else {
                    (lf + 1, Frame::Line(line))
                }
            }
            None if self.skipping => (buf.len(), Frame::Incomplete),
            // Keep one octet more than the limit: it may be the CR of a CRLF.
            None if buf.len() > self.max + 1 => {
                self.skipping = true;
                (buf.len(), Frame::Incomplete)
            }
            None => (0, Frame::Incomplete),
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    /// Feeds `input` in chunks of `size` through a growing buffer, as the driver does.
    fn frames(input: &[u8], max: usize, size: usize) -> Vec<Option<Vec<u8>>> {
        let mut reader = LineReader::new(max);
        let mut buf = Vec::new();
        let mut out = Vec::new();
        for chunk in input.chunks(size) {
            buf.extend_from_slice(chunk);
            loop {
                let (n, frame) = reader.next(&buf);
                let frame = match frame {
                    Frame::Line(l) => Some(Some(l.to_vec())),
                    Frame::TooLong => Some(None),
                    Frame::Incomplete => None,
                };
                buf.drain(..n);
                match frame {
                    Some(f) => out.push(f),
                    None => {
                        // Waiting for more: never more than a line's worth held.
                        assert!(buf.len() <= max + 1, "buffer held {} bytes", buf.len());
                        break;
                    }
                }
            }
        }
        out
    }

    #[test]
    fn lines_at_every_chunk_size() {
        let long = format!("NOOP {}\r\n", "x".repeat(100));
        let input = format!("EHLO a\r\nNOOP\n{long}QUIT\r\n");
        for size in [1, 2, 4, 8, 16, 32, 64, 128, 256, 512] {
            assert_eq!(
                frames(input.as_bytes(), 20, size),
                vec![
                    Some(b"EHLO a".to_vec()),
                    Some(b"NOOP".to_vec()),
                    None,
                    Some(b"QUIT".to_vec())
                ],
                "chunk size {size}"
            );
        }
    }

    #[test]
    fn limit_is_inclusive_and_excludes_the_terminator() {
        for size in [1, 2, 4, 512] {
            let out = frames(b"12345\r\n123456\r\n", 5, size);
            assert_eq!(
                out,
                vec![Some(b"12345".to_vec()), None],
                "chunk size {size}"
            );
        }
    }

    #[test]
    fn cr_inside_a_line_is_kept_for_the_parser() {
        assert_eq!(
            frames(b"NOOP\rQUIT\r\n", 100, 512),
            vec![Some(b"NOOP\rQUIT".to_vec())]
        );
    }
}
