//! `BODY[section]` and `BINARY[part]`: which octets of the stored message a section
//! names (RFC 9051 §6.4.5), found through the summary made at delivery.

use crate::proto::command::{Section, SectionText};
use base64::Engine;
use wharf_store::mime::{MessageSummary, Part};

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
    NoSuchPart,
}

/// The decoded content of a non-multipart part (RFC 3516).
pub fn binary(raw: &[u8], summary: &MessageSummary, path: &[u32]) -> Result<Vec<u8>, BinaryError> {
    let part = find_part(summary, path).ok_or(BinaryError::NoSuchPart)?;
    if path.is_empty() && summary.root.is_multipart() {
        return Err(BinaryError::NoSuchPart);
    }
    let (from, to) = if path.is_empty() {
        (summary.root.body_start, summary.root.end)
    } else {
        (part.body_start, part.end)
    };
    let body = range(raw, from, to);
    let cte = part
        .encoding
        .as_deref()
        .unwrap_or("7bit")
        .to_ascii_lowercase();
    match cte.as_str() {
        "7bit" | "8bit" | "binary" => Ok(body.to_vec()),
        "base64" => {
            let clean: Vec<u8> = body
                .iter()
                .copied()
                .filter(|b| b.is_ascii_alphanumeric() || matches!(b, b'+' | b'/'))
                .collect();
            base64::engine::general_purpose::STANDARD_NO_PAD
                .decode(&clean)
                .map_err(|_| BinaryError::UnknownCte)
        }
        "quoted-printable" => Ok(decode_qp(body)),
        _ => Err(BinaryError::UnknownCte),
    }
}

/// RFC 2045 §6.7 quoted-printable, leniently (bad escapes pass through).
pub fn decode_qp(body: &[u8]) -> Vec<u8> {
    let mut out = Vec::with_capacity(body.len());
    let mut i = 0;
    let hex = |b: u8| (b as char).to_digit(16).map(|d| d as u8);
    while i < body.len() {
        let b = body[i];
        if b == b'=' {
            match (body.get(i + 1), body.get(i + 2)) {
                (Some(b'\r'), Some(b'\n')) => i += 3,
                (Some(b'\n'), _) => i += 2,
                (Some(&h), Some(&l)) if hex(h).is_some() && hex(l).is_some() => {
                    out.push(hex(h).unwrap_or(0) * 16 + hex(l).unwrap_or(0));
                    i += 3;
                }
                _ => {
                    out.push(b);
                    i += 1;
                }
            }
        } else {
            out.push(b);
            i += 1;
        }
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
        assert_eq!(binary(raw, &s, &[9]), Err(BinaryError::NoSuchPart));
    }

    #[test]
    fn partials() {
        assert_eq!(partial(b"0123456789", Some((2, 3))), b"234");
        assert_eq!(partial(b"0123", Some((2, 100))), b"23");
        assert_eq!(partial(b"0123", Some((10, 1))), b"");
    }
}
