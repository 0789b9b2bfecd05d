//! Fuzzes the POP3 command framing and grammar: any bytes, cut into lines by the bounded
//! LineReader, then parsed. Neither may panic, and the reader must never ask the caller
//! to keep more than one bounded line.
#![no_main]

use libfuzzer_sys::fuzz_target;
use wharf_pop3::parse::{Frame, LineReader, MAX_COMMAND_LINE, parse_command};

fuzz_target!(|data: &[u8]| {
    let mut reader = LineReader::new();
    let mut buf: Vec<u8> = Vec::new();
    // Feed in uneven chunks, as a socket would.
    for chunk in data.chunks(7) {
        buf.extend_from_slice(chunk);
        loop {
            let (used, frame) = reader.next(&buf, MAX_COMMAND_LINE);
            let done = match frame {
                Frame::Line(line) => {
                    assert!(line.len() <= MAX_COMMAND_LINE);
                    if let Err(e) = parse_command(line) {
                        let _ = e.reply_text();
                    }
                    false
                }
                Frame::TooLong => false,
                Frame::Incomplete => true,
            };
            assert!(used <= buf.len());
            buf.drain(..used);
            if done {
                assert!(buf.len() <= MAX_COMMAND_LINE + 1);
                break;
            }
        }
    }
});
