//! Removal of forged Authentication-Results fields (RFC 8601 §5) on arbitrary bytes:
//! never panics, never grows the message, leaves the body alone, and is idempotent (after
//! one pass no field with our authserv-id is left).
#![no_main]

use libfuzzer_sys::fuzz_target;
use std::borrow::Cow;
use wharf_mailauth::strip_forged_results;

fuzz_target!(|data: &[u8]| {
    let once = strip_forged_results(data, "mx.example.org");
    assert!(once.len() <= data.len());
    assert!(matches!(
        strip_forged_results(&once, "mx.example.org"),
        Cow::Borrowed(_)
    ));
    // The body (after the first empty line) is a suffix of the input, untouched.
    let tail = |m: &[u8]| -> Option<usize> {
        m.windows(4)
            .position(|w| w == b"\r\n\r\n")
            .map(|p| m.len() - p - 4)
    };
    if let Some(b) = tail(&once) {
        assert!(data.ends_with(&once[once.len() - b..]));
    }
});
