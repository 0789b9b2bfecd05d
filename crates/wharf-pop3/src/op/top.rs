//! TOP msg n (RFC 1939 §7): the header, the blank line, and the first `n` lines of the
//! body, byte-stuffed. TOP does not count as retrieval.

use crate::op::retr::read_message;
use crate::reply::{Pop3Error, dot_stuffed, ok};
use crate::server::Server;
use crate::session::{Action, Transaction};

pub async fn handle_top(
    server: &Server,
    t: &mut Transaction,
    n: u32,
    lines: u32,
    out: &mut Vec<u8>,
) -> Result<Action, Pop3Error> {
    let entry = t.maildrop.get(n)?;
    let body = read_message(server, entry.blob, n).await?;
    ok(out, "Top of message follows");
    dot_stuffed(out, top_of(&body, lines));
    Ok(Action::Continue)
}

/// The header block (with the blank line that ends it) and `lines` body lines.
pub fn top_of(message: &[u8], lines: u32) -> &[u8] {
    let header_end = wharf_store::mime::header_end(message);
    let mut end = header_end;
    for _ in 0..lines {
        if end >= message.len() {
            break;
        }
        end = match message[end..].iter().position(|&b| b == b'\n') {
            Some(lf) => end + lf + 1,
            None => message.len(),
        };
    }
    &message[..end]
}

#[cfg(test)]
mod tests {
    use super::top_of;

    const MSG: &[u8] = b"Subject: a\r\nFrom: b\r\n\r\nline 1\r\n.line 2\r\nline 3\r\n";

    #[test]
    fn top_zero_is_the_header_and_blank_line() {
        assert_eq!(top_of(MSG, 0), b"Subject: a\r\nFrom: b\r\n\r\n");
    }

    #[test]
    fn top_counts_body_lines() {
        assert_eq!(
            top_of(MSG, 2),
            b"Subject: a\r\nFrom: b\r\n\r\nline 1\r\n.line 2\r\n"
        );
        assert_eq!(top_of(MSG, 3), MSG);
        assert_eq!(top_of(MSG, u32::MAX), MSG);
    }

    #[test]
    fn top_of_a_message_without_body_or_final_crlf() {
        assert_eq!(top_of(b"Subject: a\r\n", 5), b"Subject: a\r\n");
        assert_eq!(
            top_of(b"S: a\r\n\r\nno newline", 1),
            b"S: a\r\n\r\nno newline"
        );
    }
}
