//! `BODY[section]` and `BINARY[part]`: which octets of the stored message a section
//! names (RFC 9051 §6.4.5), found through the summary made at delivery.

use crate::proto::command::{Section, SectionText};
use wharf_store::mime::{DecodeError, MessageSummary, Part, decode_transfer_encoding};

/// The part a section's part path names, or `None` if there is no such part.
///
/// Numbering: the parts of a multipart are 1, 2, ...; a non-multipart message (or
/// enclosed message) has one part, 1, its body; a message/rfc822 part's sub-parts are
/// those of the message it encloses.
pub fn find_part<'a>(summary: &'a MessageSummary, path: &[u32]) -> Option<&'a Part> {
    let mut part: &Part = &summary.root;
    for (k, &n) in path.iter().enumerate() {
        let container = match (&part.message, k) {
            (_, 0) => &summary.root,
            (Some(m), _) => &m.root,
            (None, _) => part,
        };
        part = if container.is_multipart() {
            container.children.get(n as usize - 1)?
        } else if n == 1 {
            container
        } else {
            return None;
        };
    }
    Some(part)
}

fn range(raw: &[u8], from: u64, to: u64) -> &[u8] {
    let len = raw.len() as u64;
    let (from, to) = (from.min(len), to.min(len));
    &raw[from as usize..to.max(from) as usize]
}

/// The octets of a section; empty for a section that does not exist (as other servers
/// answer, so clients asking for a missing part get `""` instead of an error).
pub fn extract(raw: &[u8], summary: &MessageSummary, section: &Section) -> Vec<u8> {
    let Some(part) = find_part(summary, &section.part) else {
        return Vec::new();
    };
    // The message whose HEADER/TEXT is meant: the top one, or the enclosed one.
    let message_root: Option<&Part> = if section.part.is_empty() {
        Some(&summary.root)
    } else {
        part.message.as_ref().map(|m| &m.root)
    };
    match &section.text {
        None if section.part.is_empty() => raw.to_vec(),
        None => range(raw, part.body_start, part.end).to_vec(),
        Some(SectionText::Mime) => range(raw, part.header_start, part.body_start).to_vec(),
        Some(SectionText::Header) => match message_root {
            Some(r) => range(raw, r.header_start, r.body_start).to_vec(),
            None => Vec::new(),
        },
        Some(SectionText::Text) => match message_root {
            Some(r) => range(raw, r.body_start, r.end).to_vec(),
            None => Vec::new(),
        },
        Some(SectionText::HeaderFields { not, fields }) => match message_root {
            Some(r) => filter_header(range(raw, r.header_start, r.body_start), fields, *not),
            None => Vec::new(),
        },
    }
}

/// HEADER.FIELDS (.NOT): the matching fields, each with its continuation lines, then the
/// blank line (RFC 9051 §6.4.5: "the delimiting blank line ... is included").
pub fn filter_header(header: &[u8], fields: &[String], not: bool) -> Vec<u8> {
    let mut out = Vec::new();
    let mut keep = false;
    for line in header.split_inclusive(|&b| b == b'\n') {
        if line == b"\r\n" || line == b"\n" {
            break;
        }
        if !matches!(line.first(), Some(b' ') | Some(b'\t')) {
            let name = line
                .iter()
                .position(|&b| b == b':')
                .map(|c| line[..c].trim_ascii())
                .unwrap_or(b"");
            let listed = fields
                .iter()
                .any(|f| f.as_bytes().eq_ignore_ascii_case(name));
            keep = !name.is_empty() && listed != not;
        }
        if keep {
            out.extend_from_slice(line);
        }
    }
    out.extend_from_slice(b"\r\n");
    out
}

/// Applies `<offset.length>` (RFC 9051 §6.4.5).
pub fn partial(data: &[u8], p: Option<(u32, u32)>) -> &[u8] {
    match p {
        None => data,
        Some((off, len)) => {
            let off = (off as usize).min(data.len());
            let end = off.saturating_add(len as usize).min(data.len());
            &data[off..end]
        }
    }
}

/// Why BINARY cannot decode a part.
#[derive(Debug, PartialEq, Eq)]
pub enum BinaryError {
    /// RFC 3516 §4.2: a transfer encoding we do not know.
    UnknownCte,
}

impl From<DecodeError> for BinaryError {
    fn from(e: DecodeError) -> BinaryError {
        match e {
            DecodeError::UnknownEncoding => BinaryError::UnknownCte,
        }
    }
}

/// `BINARY[part]` (RFC 3516 §4.2, RFC 9051 §6.4.5): the section with its
/// Content-Transfer-Encoding undone.
///
/// - An empty part path is the whole message, header included; a message/rfc822 part is
///   the whole enclosed message; a multipart part is its body. In these, every leaf part
///   whose encoding is not an identity one is sent decoded, its Content-Transfer-Encoding
///   field rewritten to `binary` so that the result still describes itself. This is what
///   Dovecot 2.3 sends (checked against it, docs/imap.md).
/// - Any other part is its decoded body.
/// - A part that does not exist is empty, as its BODY[part] is (RFC 9051 §6.4.5 and
///   RFC 3516 §4.2 treat a non-existent section as empty; Dovecot 2.3 sends `{0}`).
///
/// The decoding is [`wharf_store::mime::decode_transfer_encoding`], the one SEARCH uses.
pub fn binary(raw: &[u8], summary: &MessageSummary, path: &[u32]) -> Result<Vec<u8>, BinaryError> {
    let mut out = Vec::new();
    if path.is_empty() {
        binary_part(raw, &summary.root, &mut out)?;
        return Ok(out);
    }
    // RFC 9051 §6.4.5: a non-existent section is an empty string, not NIL.
    let Some(part) = find_part(summary, path) else {
        return Ok(out);
    };
    match &part.message {
        Some(m) => binary_part(raw, &m.root, &mut out)?,
        None if part.is_multipart() => binary_body(raw, part, &mut out)?,
        None => {
            out = decode_transfer_encoding(
                range(raw, part.body_start, part.end),
                part.encoding.as_deref(),
            )?
        }
    }
    Ok(out)
}

/// Whether a leaf's octets are sent as stored (RFC 2045 §6.2 identity encodings).
fn is_identity(encoding: Option<&str>) -> bool {
    encoding.is_none_or(|e| {
        let e = e.trim();
        ["7bit", "8bit", "binary"]
            .iter()
            .any(|k| e.eq_ignore_ascii_case(k))
    })
}

/// One part, header and body, with its leaves decoded.
fn binary_part(raw: &[u8], p: &Part, out: &mut Vec<u8>) -> Result<(), BinaryError> {
    let header = range(raw, p.header_start, p.body_start);
    if !p.is_multipart() && p.message.is_none() && !is_identity(p.encoding.as_deref()) {
        let body =
            decode_transfer_encoding(range(raw, p.body_start, p.end), p.encoding.as_deref())?;
        out.extend_from_slice(&binary_cte_header(header));
        out.extend_from_slice(&body);
        return Ok(());
    }
    out.extend_from_slice(header);
    binary_body(raw, p, out)
}

/// A part's body with its leaves decoded: the delimiters, preamble and epilogue of a
/// multipart as stored, each child converted.
fn binary_body(raw: &[u8], p: &Part, out: &mut Vec<u8>) -> Result<(), BinaryError> {
    if p.is_multipart() {
        let mut pos = p.body_start;
        for c in &p.children {
            out.extend_from_slice(range(raw, pos, c.header_start));
            binary_part(raw, c, out)?;
            pos = c.end;
        }
        out.extend_from_slice(range(raw, pos, p.end));
    } else if let Some(m) = &p.message {
        binary_part(raw, &m.root, out)?;
    } else {
        out.extend_from_slice(range(raw, p.body_start, p.end));
    }
    Ok(())
}

/// The header with its Content-Transfer-Encoding field (and continuation lines) replaced
/// by `Content-Transfer-Encoding: binary`.
fn binary_cte_header(header: &[u8]) -> Vec<u8> {
    let mut out = Vec::with_capacity(header.len());
    let mut skipping = false;
    for line in header.split_inclusive(|&b| b == b'\n') {
        if skipping && matches!(line.first(), Some(b' ') | Some(b'\t')) {
            continue;
        }
        skipping = false;
        let name = b"content-transfer-encoding:";
        if line.len() >= name.len() && line[..name.len()].eq_ignore_ascii_case(name) {
            let eol: &[u8] = if line.ends_with(b"\r\n") {
                b"\r\n"
            } else if line.ends_with(b"\n") {
                b"\n"
            } else {
                b""
            };
            out.extend_from_slice(b"Content-Transfer-Encoding: binary");
            out.extend_from_slice(eol);
            skipping = true;
            continue;
        }
        out.extend_from_slice(line);
    }
    out
}

#[cfg(test)]
mod tests {
    use super::*;
    use wharf_store::mime::summarize;

    const MSG: &str = "From: a@example.org\r\n\
Subject: test\r\n\
Content-Type: multipart/mixed; boundary=o\r\n\
\r\n\
--o\r\n\
Content-Type: text/plain\r\n\
\r\n\
part one\r\n\
--o\r\n\
Content-Type: message/rfc822\r\n\
\r\n\
Subject: inner\r\n\
X-Long: folded\r\n\x20continued\r\n\
Content-Type: multipart/alternative; boundary=i\r\n\
\r\n\
--i\r\n\
Content-Type: text/plain\r\n\
Content-Transfer-Encoding: quoted-printable\r\n\
\r\n\
caf=C3=A9=\r\n\
!\r\n\
--i\r\n\
Content-Type: application/octet-stream\r\n\
Content-Transfer-Encoding: base64\r\n\
\r\n\
aGVsbG8=\r\n\
--i--\r\n\
--o--\r\n";

    fn sec(part: Vec<u32>, text: Option<SectionText>) -> Section {
        Section { part, text }
    }

    fn get(part: Vec<u32>, text: Option<SectionText>) -> String {
        let raw = MSG.as_bytes();
        let s = summarize(raw);
        String::from_utf8(extract(raw, &s, &sec(part, text))).unwrap()
    }

    #[test]
    fn sections_of_a_nested_message() {
        assert_eq!(get(vec![], None), MSG);
        assert!(get(vec![], Some(SectionText::Header)).ends_with("boundary=o\r\n\r\n"));
        assert!(get(vec![], Some(SectionText::Text)).starts_with("--o\r\n"));
        assert_eq!(get(vec![1], None), "part one");
        assert_eq!(
            get(vec![1], Some(SectionText::Mime)),
            "Content-Type: text/plain\r\n\r\n"
        );
        assert!(get(vec![2], None).starts_with("Subject: inner\r\n"));
        assert!(get(vec![2], None).ends_with("--i--"));
        assert_eq!(
            get(
                vec![2],
                Some(SectionText::HeaderFields {
                    not: false,
                    fields: vec!["x-long".into(), "SUBJECT".into()]
                })
            ),
            "Subject: inner\r\nX-Long: folded\r\n continued\r\n\r\n"
        );
        assert_eq!(
            get(
                vec![],
                Some(SectionText::HeaderFields {
                    not: true,
                    fields: vec!["content-type".into(), "subject".into()]
                })
            ),
            "From: a@example.org\r\n\r\n"
        );
        assert_eq!(get(vec![2, 1], None), "caf=C3=A9=\r\n!");
        assert_eq!(
            get(vec![2, 2], Some(SectionText::Mime)),
            "Content-Type: application/octet-stream\r\nContent-Transfer-Encoding: base64\r\n\r\n"
        );
        assert!(get(vec![2], Some(SectionText::Text)).starts_with("--i\r\n"));
        // HEADER of a part that is not a message, and missing parts: empty.
        assert_eq!(get(vec![1], Some(SectionText::Header)), "");
        assert_eq!(get(vec![3], None), "");
        assert_eq!(get(vec![2, 3], None), "");
    }

    #[test]
    fn single_part_message_is_part_one() {
        let raw = b"Subject: x\r\n\r\nbody\r\n";
        let s = summarize(raw);
        assert_eq!(extract(raw, &s, &sec(vec![1], None)), b"body\r\n");
        assert_eq!(extract(raw, &s, &sec(vec![2], None)), b"");
    }

    #[test]
    fn binary_decodes() {
        let raw = MSG.as_bytes();
        let s = summarize(raw);
        assert_eq!(binary(raw, &s, &[2, 1]).unwrap(), "caf\u{e9}!".as_bytes());
        assert_eq!(binary(raw, &s, &[2, 2]).unwrap(), b"hello");
        assert_eq!(binary(raw, &s, &[9]), Ok(Vec::new()));
        assert_eq!(binary(raw, &s, &[2, 9]), Ok(Vec::new()));
    }

    /// The enclosed message of [`MSG`] as BINARY sends it: leaves decoded, their
    /// Content-Transfer-Encoding rewritten (byte for byte what Dovecot 2.3.19 sends for
    /// the same message's BINARY[2], but for the CRLF after `--i--`, which Dovecot counts
    /// in the part and Wharf, like BODY[2], gives to the outer delimiter).
    const INNER_BINARY: &str = "Subject: inner\r\n\
X-Long: folded\r\n\x20continued\r\n\
Content-Type: multipart/alternative; boundary=i\r\n\
\r\n\
--i\r\n\
Content-Type: text/plain\r\n\
Content-Transfer-Encoding: binary\r\n\
\r\n\
caf\u{e9}!\r\n\
--i\r\n\
Content-Type: application/octet-stream\r\n\
Content-Transfer-Encoding: binary\r\n\
\r\n\
hello\r\n\
--i--";

    #[test]
    fn binary_of_messages_and_multiparts() {
        let raw = MSG.as_bytes();
        let s = summarize(raw);
        let whole = binary(raw, &s, &[]).unwrap();
        let head = "From: a@example.org\r\nSubject: test\r\nContent-Type: multipart/mixed; \
                    boundary=o\r\n\r\n--o\r\nContent-Type: text/plain\r\n\r\npart one\r\n--o\r\n\
                    Content-Type: message/rfc822\r\n\r\n";
        assert_eq!(
            String::from_utf8(whole).unwrap(),
            format!("{head}{INNER_BINARY}\r\n--o--\r\n")
        );
        assert_eq!(
            String::from_utf8(binary(raw, &s, &[2]).unwrap()).unwrap(),
            INNER_BINARY
        );
    }

    #[test]
    fn binary_table() {
        // (message, part path, BINARY data); RFC 2045 §6.7 trailing whitespace and soft
        // breaks, as Dovecot decodes them.
        let cases: &[(&str, &[u32], &[u8])] = &[
            (
                "Content-Transfer-Encoding: quoted-printable\r\n\r\nhello  \r\nfoo= \r\nbar\r\n",
                &[1],
                b"hello\r\nfoobar\r\n",
            ),
            (
                "Content-Transfer-Encoding: quoted-printable\r\n\r\nhello  \r\nfoo= \r\nbar\r\n",
                &[],
                b"Content-Transfer-Encoding: binary\r\n\r\nhello\r\nfoobar\r\n",
            ),
            (
                "Subject: x\r\nContent-Transfer-Encoding:\r\n base64\r\nX: y\r\n\r\naGk=\r\n",
                &[],
                b"Subject: x\r\nContent-Transfer-Encoding: binary\r\nX: y\r\n\r\nhi",
            ),
            (
                "Subject: x\r\n\r\nab\0c\r\n",
                &[],
                b"Subject: x\r\n\r\nab\0c\r\n",
            ),
            ("Subject: x\r\n\r\nab\0c\r\n", &[1], b"ab\0c\r\n"),
            (
                "Content-Type: multipart/mixed; boundary=b\r\n\r\npre\r\n--b\r\n\
                 Content-Transfer-Encoding: base64\r\n\r\naGk=\r\n--b--\r\nepi\r\n",
                &[],
                b"Content-Type: multipart/mixed; boundary=b\r\n\r\npre\r\n--b\r\n\
                  Content-Transfer-Encoding: binary\r\n\r\nhi\r\n--b--\r\nepi\r\n",
            ),
            // A multipart part: its body (not its MIME header), leaves decoded.
            (
                "Content-Type: multipart/mixed; boundary=o\r\n\r\n--o\r\n\
                 Content-Type: multipart/alternative; boundary=i\r\n\r\n--i\r\n\
                 Content-Transfer-Encoding: quoted-printable\r\n\r\na=3Db\r\n--i--\r\n--o--\r\n",
                &[1],
                b"--i\r\nContent-Transfer-Encoding: binary\r\n\r\na=b\r\n--i--",
            ),
        ];
        for (msg, path, want) in cases {
            let s = summarize(msg.as_bytes());
            let got = binary(msg.as_bytes(), &s, path).unwrap();
            assert_eq!(
                String::from_utf8_lossy(&got),
                String::from_utf8_lossy(want),
                "{msg:?} {path:?}"
            );
        }
        let unknown = "Content-Transfer-Encoding: x-uuencode\r\n\r\nbegin\r\n";
        let s = summarize(unknown.as_bytes());
        assert_eq!(
            binary(unknown.as_bytes(), &s, &[1]),
            Err(BinaryError::UnknownCte)
        );
        assert_eq!(
            binary(unknown.as_bytes(), &s, &[]),
            Err(BinaryError::UnknownCte)
        );
    }

    #[test]
    fn partials() {
        assert_eq!(partial(b"0123456789", Some((2, 3))), b"234");
        assert_eq!(partial(b"0123", Some((2, 100))), b"23");
        assert_eq!(partial(b"0123", Some((10, 1))), b"");
    }
}
