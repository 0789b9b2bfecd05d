//! Delivery status notifications (RFC 3464 format, RFC 3461 semantics): the
//! multipart/report a sender gets when the queue gives up on (or is slow with) some of
//! its recipients.

/// RFC 3461 §4: xtext-encodes a value ("+" and "=" and anything outside 33..126 as
/// `+XX`). Non-ASCII octets are encoded too, so the result is always ASCII.
pub fn xtext(s: &str) -> String {
    let mut out = String::with_capacity(s.len());
    for b in s.bytes() {
        if (33..=126).contains(&b) && b != b'+' && b != b'=' {
            out.push(b as char);
        } else {
            out.push_str(&format!("+{b:02X}"));
        }
    }
    out
}

/// Decodes xtext; malformed escapes are kept as they are.
pub fn unxtext(s: &str) -> String {
    let b = s.as_bytes();
    let mut out = Vec::with_capacity(b.len());
    let mut i = 0;
    while i < b.len() {
        if b[i] == b'+'
            && i + 2 < b.len()
            && let Ok(v) =
                u8::from_str_radix(std::str::from_utf8(&b[i + 1..i + 3]).unwrap_or("zz"), 16)
        {
            out.push(v);
            i += 3;
        } else {
            out.push(b[i]);
            i += 1;
        }
    }
    String::from_utf8_lossy(&out).into_owned()
}
