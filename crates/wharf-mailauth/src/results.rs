//! Authentication-Results (RFC 8601) pieces that mail-auth does not provide: removing
//! forged copies of our own header from incoming mail, and the authserv-id check.
//!
//! Pure functions over bytes, bounded by the input: they are fuzzed
//! (`fuzz/fuzz_targets/mailauth_strip_results.rs`).

use std::borrow::Cow;

/// The header field this module cares about.
const AR_NAME: &[u8] = b"authentication-results";

/// Removes every `Authentication-Results:` header field whose authserv-id is
/// `authserv_id` (compared case-insensitively) from the header section of `message`.
///
/// RFC 8601 §5: a border MTA "MUST delete or otherwise obscure any instance of this header
/// field that bears an authserv-id it uses" before adding its own, or a sender could
/// forge our verdict. Fields of other authserv-ids are kept. The body and every other
/// header field are returned byte for byte; when nothing is removed the input is returned
/// borrowed.
pub fn strip_forged_results<'a>(message: &'a [u8], authserv_id: &str) -> Cow<'a, [u8]> {
    filter_header_fields(message, |name, field| {
        !(name.eq_ignore_ascii_case(AR_NAME) && is_results_field_of(field, authserv_id))
    })
}

/// Copies `message` without the header fields for which `keep(name, field)` is false;
/// `name` is the field name without surrounding white space, `field` the whole field
/// including folded lines and its line end. The header section ends at the first empty
/// line (RFC 5322 §2.1); the body is never looked at. Returns the input borrowed when
/// nothing is dropped. Linear in the input.
pub(crate) fn filter_header_fields<'a>(
    message: &'a [u8],
    mut keep: impl FnMut(&[u8], &[u8]) -> bool,
) -> Cow<'a, [u8]> {
    let mut out: Option<Vec<u8>> = None;
    let mut pos = 0;
    while pos < message.len() {
        let end = field_end(message, pos);
        let field = &message[pos..end];
        if field == b"\r\n" || field == b"\n" {
            break;
        }
        let name = field
            .iter()
            .position(|&b| b == b':')
            .map_or(&[][..], |colon| trim(&field[..colon]));
        let kept = keep(name, field);
        match (&mut out, kept) {
            (None, false) => {
                let mut v = Vec::with_capacity(message.len());
                v.extend_from_slice(&message[..pos]);
                out = Some(v);
            }
            (Some(v), true) => v.extend_from_slice(field),
            _ => {}
        }
        pos = end;
    }
    match out {
        Some(mut v) => {
            v.extend_from_slice(&message[pos..]);
            Cow::Owned(v)
        }
        None => Cow::Borrowed(message),
    }
}

/// The end (exclusive) of the header field starting at `start`: past its line end and
/// every continuation line (a line that starts with space or tab, RFC 5322 §2.2.3).
fn field_end(message: &[u8], start: usize) -> usize {
    let line_end =
        |from: usize| memchr_newline(&message[from..]).map_or(message.len(), |nl| from + nl + 1);
    let mut pos = line_end(start);
    let first = &message[start..pos];
    if first == b"\r\n" || first == b"\n" {
        return pos;
    }
    while pos < message.len() && matches!(message[pos], b' ' | b'\t') {
        pos = line_end(pos);
    }
    pos
}

fn memchr_newline(bytes: &[u8]) -> Option<usize> {
    bytes.iter().position(|&b| b == b'\n')
}

/// Whether `field` (name, colon, value, folded lines and line end) is an
/// `Authentication-Results` field whose authserv-id is `authserv_id`.
fn is_results_field_of(field: &[u8], authserv_id: &str) -> bool {
    let Some(colon) = field.iter().position(|&b| b == b':') else {
        return false;
    };
    // RFC 8601 §2.2: authres-header-field = "Authentication-Results:" authserv-id
    // [ CFWS authres-version ] ( no-result / 1*resinfo ). The authserv-id is a
    // `value` (token or quoted-string); comments may precede it.
    let value = skip_cfws(&field[colon + 1..]);
    let id: Vec<u8> = if let Some(rest) = value.strip_prefix(b"\"") {
        let mut id = Vec::new();
        let mut escaped = false;
        for &b in rest {
            match (escaped, b) {
                (false, b'\\') => escaped = true,
                (false, b'"') => break,
                _ => {
                    id.push(b);
                    escaped = false;
                }
            }
        }
        id
    } else {
        value
            .iter()
            .take_while(|&&b| !matches!(b, b';' | b' ' | b'\t' | b'\r' | b'\n' | b'('))
            .copied()
            .collect()
    };
    id.eq_ignore_ascii_case(authserv_id.as_bytes())
}

fn trim(bytes: &[u8]) -> &[u8] {
    let start = bytes
        .iter()
        .position(|b| !b.is_ascii_whitespace())
        .unwrap_or(bytes.len());
    let end = bytes
        .iter()
        .rposition(|b| !b.is_ascii_whitespace())
        .map_or(start, |p| p + 1);
    &bytes[start..end.max(start)]
}

/// Skips folding white space and (possibly nested) comments (RFC 5322 §3.2.2). Nesting
/// depth is counted, not recursed, so hostile input costs linear time.
fn skip_cfws(mut bytes: &[u8]) -> &[u8] {
    let mut depth = 0usize;
    let mut escaped = false;
    while let Some((&b, rest)) = bytes.split_first() {
        if depth > 0 {
            match (escaped, b) {
                (false, b'\\') => escaped = true,
                (false, b'(') => depth += 1,
                (false, b')') => depth -= 1,
                _ => escaped = false,
            }
        } else if b == b'(' {
            depth = 1;
        } else if !b.is_ascii_whitespace() {
            break;
        }
        bytes = rest;
    }
    bytes
}

/// Whether `host` can stand as the authserv-id of our header without quoting: a dot-atom
/// of letters, digits, hyphens (a host name). Anything else is replaced by the caller so a
/// misconfigured hostname cannot inject header syntax.
pub(crate) fn is_plain_authserv_id(host: &str) -> bool {
    !host.is_empty()
        && host.len() <= 253
        && host
            .bytes()
            .all(|b| b.is_ascii_alphanumeric() || b == b'-' || b == b'.')
}

#[cfg(test)]
mod tests {
    use super::*;

    const MSG: &[u8] = b"Received: from x\r\n\
Authentication-Results: mx.example.org; spf=pass\r\n\
Subject: hi\r\n\
authentication-results: (comment) MX.EXAMPLE.ORG;\r\n\tdkim=pass header.d=evil.example\r\n\
Authentication-Results: other.example; dmarc=pass\r\n\
Authentication-Results: \"mx.example.org\" 1; none\r\n\
From: a@b.example\r\n\
\r\n\
Authentication-Results: mx.example.org; body text stays\r\n";

    #[test]
    fn strips_only_our_authserv_id_in_the_header_section() {
        let out = strip_forged_results(MSG, "mx.example.org");
        let expected: &[u8] = b"Received: from x\r\n\
Subject: hi\r\n\
Authentication-Results: other.example; dmarc=pass\r\n\
From: a@b.example\r\n\
\r\n\
Authentication-Results: mx.example.org; body text stays\r\n";
        assert_eq!(
            String::from_utf8_lossy(&out),
            String::from_utf8_lossy(expected)
        );
    }

    #[test]
    fn unchanged_input_is_borrowed() {
        let msg = b"Subject: x\r\nAuthentication-Results: a.example; none\r\n\r\nbody";
        assert!(matches!(
            strip_forged_results(msg, "mx.example.org"),
            Cow::Borrowed(_)
        ));
    }

    #[test]
    fn bare_lf_and_truncated_input() {
        let msg = b"Authentication-Results: mx.example.org; spf=pass\nSubject: x\n\nbody\n";
        assert_eq!(
            &*strip_forged_results(msg, "mx.example.org"),
            b"Subject: x\n\nbody\n"
        );
        let msg = b"Authentication-Results: mx.example.org; spf=pa";
        assert_eq!(&*strip_forged_results(msg, "mx.example.org"), b"");
        assert_eq!(&*strip_forged_results(b"", "mx.example.org"), b"");
        assert_eq!(&*strip_forged_results(b"\r\n", "mx.example.org"), b"\r\n");
    }

    #[test]
    fn nested_comments_are_skipped() {
        let msg = b"Authentication-Results: (a (b \\) c) d) mx.example.org; none\r\n\r\n";
        assert_eq!(&*strip_forged_results(msg, "mx.example.org"), b"\r\n");
    }

    #[test]
    fn authserv_id_syntax() {
        assert!(is_plain_authserv_id("mx.example.org"));
        assert!(!is_plain_authserv_id("mx;x"));
        assert!(!is_plain_authserv_id("a\r\nb"));
        assert!(!is_plain_authserv_id(""));
    }
}
