//! Fuzzes byte-stuffing of RETR/TOP output: whatever the message bytes, the client's
//! unstuffing gives them back (plus a CRLF if the last line had none), and the only
//! line that is exactly "." is the terminator.
#![no_main]

use libfuzzer_sys::fuzz_target;
use wharf_pop3::reply::dot_stuffed;

fuzz_target!(|data: &[u8]| {
    let mut out = Vec::new();
    dot_stuffed(&mut out, data);
    assert!(out.ends_with(b".\r\n"));
    let body = &out[..out.len() - 3];
    let mut back = Vec::new();
    for line in body.split_inclusive(|&b| b == b'\n') {
        assert!(line != b".\r\n" && line != b".\n", "unstuffed terminator inside data");
        back.extend_from_slice(line.strip_prefix(b".").unwrap_or(line));
    }
    let mut want = data.to_vec();
    if !want.is_empty() && !want.ends_with(b"\n") {
        want.extend_from_slice(b"\r\n");
    }
    assert_eq!(back, want);
});
