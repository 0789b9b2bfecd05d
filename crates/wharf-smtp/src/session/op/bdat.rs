//! BDAT (RFC 3030 CHUNKING): the message arrives in chunks of exact size, the last one
//! marked LAST. Every chunk is read in full before it is answered, even a refused one.
//! Over the size limit the transaction ends with `552 5.3.4` and later chunks of it get
//! `503 5.5.1` (after being read).

use crate::proto::{Body, Chunk, ChunkReceiver, Reply};
use crate::session::{Next, PendingChunk, Session, State, Step};

impl Session {
    pub(crate) fn handle_bdat(&mut self, size: u64, last: bool) -> Step {
        // The first chunk turns the Rcpt state into Bdat.
        let state = std::mem::replace(&mut self.state, State::Connected);
        let (tx, message) = match state {
            State::Rcpt(tx) => (tx, Vec::new()),
            State::Bdat(tx, message) => (tx, message),
            other => {
                // `allowed` only lets BDAT through in Rcpt or Bdat.
                self.state = other;
                self.pending_chunk = Some(PendingChunk::Refused(Reply::bad_sequence(
                    "Need RCPT command",
                )));
                return Step {
                    replies: vec![],
                    next: Next::Chunk(ChunkReceiver::new(size, None)),
                };
            }
        };
        let room = self
            .shared
            .config
            .max_message_size
            .saturating_sub(message.len() as u64);
        self.state = State::Bdat(tx, message);
        self.pending_chunk = Some(PendingChunk::Accepted { last });
        Step {
            replies: vec![],
            next: Next::Chunk(ChunkReceiver::new(size, Some(room))),
        }
    }

    pub(crate) async fn finish_chunk(&mut self, chunk: Chunk) -> Step {
        let last = match self.pending_chunk.take() {
            Some(PendingChunk::Refused(reply)) => return Step::reply(reply),
            Some(PendingChunk::Accepted { last }) => last,
            None => return Step::reply(Reply::bad_sequence("No BDAT in progress")),
        };
        let state = std::mem::replace(&mut self.state, State::Connected);
        let State::Bdat(tx, mut message) = state else {
            self.state = state;
            return Step::reply(Reply::bad_sequence("No BDAT in progress"));
        };
        let data = match chunk {
            Chunk::Data(data) => data,
            Chunk::TooBig | Chunk::Discarded => {
                tracing::info!(conn = self.conn.id, "BDAT message over the size limit");
                self.reset_transaction();
                return Step::reply(Reply::too_big());
            }
        };
        let n = data.len() as u64;
        message.extend_from_slice(&data);
        if !last {
            self.state = State::Bdat(tx, message);
            return Step::reply(Reply::chunk_received(n));
        }
        self.reset_transaction();
        // Text bodies must have CRLF line endings; only BINARYMIME may hold any octets
        // (RFC 3030 §3). The store serves what it keeps as CRLF text.
        if tx.params.body != Some(Body::BinaryMime) && has_bare_line_ending(&message) {
            return Step::reply(Reply::bare_line_ending());
        }
        if let Err(reply) = self.check_header_senders(&message).await {
            return Step::reply(reply);
        }
        Step::reply(self.deliver(tx, message).await)
    }
}

/// Whether a CR not followed by LF, or an LF not preceded by CR, occurs.
fn has_bare_line_ending(data: &[u8]) -> bool {
    memchr::memchr2_iter(b'\r', b'\n', data).any(|i| match data[i] {
        b'\r' => data.get(i + 1) != Some(&b'\n'),
        _ => i == 0 || data[i - 1] != b'\r',
    })
}

#[cfg(test)]
mod tests {
    use super::has_bare_line_ending;

    #[test]
    fn bare_line_endings() {
        assert!(!has_bare_line_ending(b"a\r\nb\r\n"));
        assert!(has_bare_line_ending(b"a\nb"));
        assert!(has_bare_line_ending(b"\nb"));
        assert!(has_bare_line_ending(b"a\rb"));
        assert!(has_bare_line_ending(b"a\r"));
    }
}
