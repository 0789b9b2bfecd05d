//! SMTP AUTH client responses (RFC 4954 base64, RFC 4616 PLAIN) and the submission
//! fix-ups (RFC 6409 §8) on arbitrary input: never panic; fix-ups keep the body.
#![no_main]

use libfuzzer_sys::fuzz_target;
use wharf_smtp::proto::sasl::{decode_response, parse_login_field, parse_plain, MAX_FIELD};

fuzz_target!(|data: &[u8]| {
    if let Ok(s) = std::str::from_utf8(data) {
        if let Ok(bytes) = decode_response(s) {
            if let Ok(p) = parse_plain(&bytes) {
                assert!(p.authcid.len() <= MAX_FIELD && !p.authcid.is_empty());
            }
            let _ = parse_login_field(&bytes);
        }
    }
    let _ = parse_plain(data);
    let out = wharf_smtp::fixup::fixup_now(data, "mx.example.test");
    if let Some(i) = data.windows(4).position(|w| w == b"\r\n\r\n") {
        assert!(out.ends_with(&data[i + 2..]));
    }
});
