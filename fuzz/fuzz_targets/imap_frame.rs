//! The IMAP framer on arbitrary bytes fed in two chunks, acting on frames like the
//! driver: must never panic, never ask to consume more than is buffered, and always
//! make progress.
#![no_main]

use libfuzzer_sys::fuzz_target;
use wharf_imap::proto::{Frame, Framer, Limits};

fuzz_target!(|data: &[u8]| {
    let limits = Limits {
        max_line: 64,
        max_literal: 32,
        max_append: 128,
        max_command: 256,
    };
    let mut framer = Framer::new(limits);
    let split = data.first().copied().unwrap_or(0) as usize % (data.len() + 1);
    let mut buf: Vec<u8> = data[..split].to_vec();
    let mut rest = &data[split..];
    for _ in 0..10_000 {
        match framer.poll(&buf) {
            Frame::Incomplete => {
                if rest.is_empty() {
                    return;
                }
                buf.extend_from_slice(rest);
                rest = &[];
            }
            Frame::Continue => {}
            Frame::Command(n) | Frame::Discard(n) | Frame::Reject { consume: n, .. } => {
                assert!(n <= buf.len());
                let cmd: Vec<u8> = buf.drain(..n).collect();
                let _ = wharf_imap::proto::parse_command(&cmd);
                if n == 0 && rest.is_empty() {
                    return;
                }
            }
        }
    }
});
