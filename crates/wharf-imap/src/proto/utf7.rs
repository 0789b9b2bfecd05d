//! Modified UTF-7 mailbox names (RFC 3501 §5.1.3), which IMAP4rev1 clients use unless
//! they enable UTF8=ACCEPT (RFC 6855) or IMAP4rev2.

use base64::Engine;
use base64::alphabet::IMAP_MUTF7;
use base64::engine::general_purpose::{GeneralPurpose, NO_PAD};

const ENGINE: GeneralPurpose = GeneralPurpose::new(&IMAP_MUTF7, NO_PAD);

/// Encodes a UTF-8 name: printable ASCII stays (with `&` as `&-`), the rest is
/// UTF-16BE in modified base64 between `&` and `-`.
pub fn encode(name: &str) -> String {
    let mut out = String::with_capacity(name.len());
    let mut pending: Vec<u16> = Vec::new();
    let flush = |pending: &mut Vec<u16>, out: &mut String| {
        if pending.is_empty() {
            return;
        }
        let bytes: Vec<u8> = pending.iter().flat_map(|u| u.to_be_bytes()).collect();
        out.push('&');
        out.push_str(&ENGINE.encode(bytes));
        out.push('-');
        pending.clear();
    };
    for c in name.chars() {
        if (' '..='~').contains(&c) {
            flush(&mut pending, &mut out);
            if c == '&' {
                out.push_str("&-");
            } else {
                out.push(c);
            }
        } else {
            let mut buf = [0u16; 2];
            pending.extend_from_slice(c.encode_utf16(&mut buf));
        }
    }
    flush(&mut pending, &mut out);
    out
}

/// Decodes a modified UTF-7 name; `None` if it is not valid (8-bit octets, bad base64,
/// an unpaired surrogate, or a shift sequence holding only printable ASCII).
pub fn decode(name: &str) -> Option<String> {
    let mut out = String::with_capacity(name.len());
    let mut rest = name;
    while let Some(amp) = rest.find('&') {
        let plain = &rest[..amp];
        if !plain.bytes().all(|b| (0x20..0x7f).contains(&b)) {
            return None;
        }
        out.push_str(plain);
        let after = &rest[amp + 1..];
        let end = after.find('-')?;
        let b64 = &after[..end];
        if b64.is_empty() {
            out.push('&');
        } else {
            let bytes = ENGINE.decode(b64).ok()?;
            if bytes.len() % 2 != 0 {
                return None;
            }
            let units: Vec<u16> = bytes
                .chunks(2)
                .map(|c| u16::from_be_bytes([c[0], c[1]]))
                .collect();
            let s = String::from_utf16(&units).ok()?;
            if s.chars().any(|c| (' '..='~').contains(&c)) {
                return None;
            }
            out.push_str(&s);
        }
        rest = &after[end + 1..];
    }
    if !rest.bytes().all(|b| (0x20..0x7f).contains(&b)) {
        return None;
    }
    out.push_str(rest);
    Some(out)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn rfc_examples_round_trip() {
        // RFC 3501 §5.1.3 example.
        let name = "~peter/mail/\u{65e5}\u{672c}\u{8a9e}/\u{53f0}\u{5317}";
        assert_eq!(encode(name), "~peter/mail/&ZeVnLIqe-/&U,BTFw-");
        assert_eq!(
            decode("~peter/mail/&ZeVnLIqe-/&U,BTFw-").as_deref(),
            Some(name)
        );
        assert_eq!(encode("Tom & Jerry"), "Tom &- Jerry");
        assert_eq!(decode("Tom &- Jerry").as_deref(), Some("Tom & Jerry"));
        assert_eq!(encode("Entw\u{fc}rfe"), "Entw&APw-rfe");
        assert_eq!(decode("Entw&APw-rfe").as_deref(), Some("Entw\u{fc}rfe"));
        assert_eq!(encode("\u{1F600}"), "&2D3eAA-");
        assert_eq!(decode("&2D3eAA-").as_deref(), Some("\u{1F600}"));
    }

    #[test]
    fn invalid_names() {
        assert_eq!(decode("Entw\u{fc}rfe"), None);
        assert_eq!(decode("&AGE-"), None, "ASCII inside a shift");
        assert_eq!(decode("&ZeVn"), None, "unterminated");
        assert_eq!(decode("&2D0-"), None, "unpaired surrogate");
    }
}
