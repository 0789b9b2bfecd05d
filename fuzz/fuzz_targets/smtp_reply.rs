//! Replies of remote SMTP servers (the outbound client's parser): any bytes must parse
//! into a bounded reply, an error, or "incomplete", never panic, and never claim more
//! octets than it was given.
#![no_main]

use libfuzzer_sys::fuzz_target;
use wharf_smtp::outbound::reply::{parse_reply, Parsed, MAX_LINES};

fuzz_target!(|data: &[u8]| {
    let mut buf = data;
    loop {
        match parse_reply(buf) {
            Parsed::Reply(r, n) => {
                assert!(n > 0 && n <= buf.len());
                assert!(!r.lines.is_empty() && r.lines.len() <= MAX_LINES);
                assert!((100..600).contains(&r.code));
                let _ = (r.status(), r.one_line(), r.ehlo_keywords());
                buf = &buf[n..];
            }
            Parsed::Incomplete | Parsed::Error(_) => break,
        }
    }
});
