//! 8-bit to 7-bit conversion for servers without 8BITMIME (RFC 6152 §3: the sender's
//! MTA converts, or returns the message). We convert the simple, common case: a MIME
//! message whose single body part is text or any other non-composite type sent as
//! `8bit` (or without a Content-Transfer-Encoding): the body becomes quoted-printable
//! (RFC 2045 §6.7). Anything else (8-bit header text, multipart or message/* bodies,
//! no MIME-Version) is not converted and the message bounces.
//!
//! Pure: bytes in, bytes out. A DKIM signature over the original body no longer
//! verifies afterwards (RFC 6376 §5.3 recommends signing 7-bit; conversion is rare).

/// The message in 7-bit form, or `None` when it cannot be converted safely.
pub fn to_7bit(message: &[u8]) -> Option<Vec<u8>> {
    let split = memchr::memmem::find(message, b"\r\n\r\n")?;
    let (header, body) = (&message[..split + 2], &message[split + 4..]);
    if !header.is_ascii() {
        return None;
    }
    let mut mime = false;
    let mut out = Vec::with_capacity(message.len() + message.len() / 8 + 64);
    let mut skipping = false;
    for line in header.split_inclusive(|&b| b == b'\n') {
        let continuation = line.first().is_some_and(|&b| b == b' ' || b == b'\t');
        if continuation {
            if !skipping {
                out.extend_from_slice(line);
            }
            continue;
        }
        let lower = String::from_utf8_lossy(line).to_ascii_lowercase();
        skipping = false;
        if lower.starts_with("mime-version:") {
            mime = true;
        } else if let Some(v) = lower.strip_prefix("content-type:") {
            let v = v.trim_start();
            if v.starts_with("multipart/") || v.starts_with("message/") {
                return None;
            }
        } else if let Some(v) = lower.strip_prefix("content-transfer-encoding:") {
            // Only an 8bit body (or an unlabelled one) may be re-encoded; anything
            // else holding 8-bit octets is mislabelled and left alone.
            if v.trim() != "8bit" {
                return None;
            }
            skipping = true;
            continue;
        }
        out.extend_from_slice(line);
    }
    if !mime {
        return None;
    }
    out.extend_from_slice(b"Content-Transfer-Encoding: quoted-printable\r\n\r\n");
    quoted_printable(body, &mut out);
    Some(out)
}

/// RFC 2045 §6.7 quoted-printable of CRLF text: lines at most 76 characters with soft
/// breaks, `=` and non-printable octets as `=XX`, trailing space or tab encoded.
fn quoted_printable(body: &[u8], out: &mut Vec<u8>) {
    let mut lines = body.split(|&b| b == b'\n').peekable();
    while let Some(line) = lines.next() {
        let last = lines.peek().is_none();
        // Only a CR that ended a line goes; a final bare CR is content (=0D).
        let line = if last {
            line
        } else {
            line.strip_suffix(b"\r").unwrap_or(line)
        };
        let mut col = 0;
        for (i, &b) in line.iter().enumerate() {
            let at_end = i + 1 == line.len();
            let literal =
                (b == b' ' || b == b'\t') && !at_end || (33..=126).contains(&b) && b != b'=';
            let width = if literal { 1 } else { 3 };
            if col + width > 75 {
                out.extend_from_slice(b"=\r\n");
                col = 0;
            }
            if literal {
                out.push(b);
            } else {
                out.extend_from_slice(format!("={b:02X}").as_bytes());
            }
            col += width;
        }
        if !last {
            out.extend_from_slice(b"\r\n");
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn conv(m: &str) -> Option<String> {
        to_7bit(m.as_bytes()).map(|v| String::from_utf8(v).unwrap())
    }

    #[test]
    fn single_text_part_becomes_quoted_printable() {
        let m = "MIME-Version: 1.0\r\nContent-Type: text/plain; charset=utf-8\r\nContent-Transfer-Encoding: 8bit\r\nSubject: x\r\n\r\ncaf\u{e9} = ok \r\nline 2\r\n";
        assert_eq!(
            conv(m).unwrap(),
            "MIME-Version: 1.0\r\nContent-Type: text/plain; charset=utf-8\r\nSubject: x\r\nContent-Transfer-Encoding: quoted-printable\r\n\r\ncaf=C3=A9 =3D ok=20\r\nline 2\r\n"
        );
    }

    #[test]
    fn long_lines_get_soft_breaks() {
        let body = "\u{e9}".repeat(40);
        let out = conv(&format!("MIME-Version: 1.0\r\n\r\n{body}\r\n")).unwrap();
        let body_out = out.split("\r\n\r\n").nth(1).unwrap();
        assert!(body_out.split("\r\n").all(|l| l.len() <= 76), "{body_out}");
        assert!(body_out.contains("=\r\n"));
        assert!(out.is_ascii());
    }

    #[test]
    fn random_bodies_come_out_7bit_with_short_lines() {
        for seed in 0..300u64 {
            let len = (seed * 37 % 400) as usize;
            let body: Vec<u8> = (0..len)
                .map(|i| ((i as u64 * 2654435761 + seed * 97) % 256) as u8)
                .collect();
            let mut m = b"MIME-Version: 1.0\r\n\r\n".to_vec();
            m.extend_from_slice(&body);
            let out = to_7bit(&m).unwrap();
            assert!(out.is_ascii());
            let i = memchr::memmem::find(&out, b"\r\n\r\n").unwrap();
            assert!(out[i + 4..].split(|&b| b == b'\n').all(|l| l.len() <= 77));
        }
    }

    #[test]
    fn refuses_what_it_cannot_convert_safely() {
        assert_eq!(
            conv("Subject: x\r\n\r\ncaf\u{e9}\r\n"),
            None,
            "no MIME-Version"
        );
        assert_eq!(
            conv("MIME-Version: 1.0\r\nSubject: caf\u{e9}\r\n\r\nx\r\n"),
            None,
            "8-bit header"
        );
        assert_eq!(
            conv(
                "MIME-Version: 1.0\r\nContent-Type: multipart/mixed; boundary=b\r\n\r\n\u{e9}\r\n"
            ),
            None
        );
        assert_eq!(
            conv("MIME-Version: 1.0\r\nContent-Transfer-Encoding: base64\r\n\r\n\u{e9}\r\n"),
            None
        );
    }
}
