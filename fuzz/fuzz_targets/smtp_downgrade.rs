//! 8-bit to 7-bit conversion of outbound messages (RFC 6152 §3, RFC 2045 §6.7): any
//! input either is refused or comes out 7-bit with lines of at most 78 octets in the
//! converted body, never panics.
#![no_main]

use libfuzzer_sys::fuzz_target;
use wharf_smtp::outbound::downgrade::to_7bit;

fuzz_target!(|data: &[u8]| {
    if let Some(out) = to_7bit(data) {
        assert!(out.is_ascii());
        if let Some(i) = out.windows(4).position(|w| w == b"\r\n\r\n") {
            for line in out[i + 4..].split(|&b| b == b'\n') {
                assert!(line.len() <= 78, "{} octets", line.len());
            }
        }
    }
});
