//! SMTP command framing and grammar: any byte stream, split at any point, must frame
//! into bounded lines and parse into a command or a reply, never panic.
#![no_main]

use libfuzzer_sys::fuzz_target;
use wharf_smtp::proto::{parse_command, Frame, LineReader};

fuzz_target!(|data: &[u8]| {
    let Some((&split, input)) = data.split_first() else {
        return;
    };
    let chunk = usize::from(split).max(1);
    let max = 64;
    let mut reader = LineReader::new(max);
    let mut buf = Vec::new();
    for piece in input.chunks(chunk) {
        buf.extend_from_slice(piece);
        loop {
            let (n, frame) = reader.next(&buf);
            assert!(n <= buf.len());
            let line = match frame {
                Frame::Line(l) => {
                    assert!(l.len() <= max);
                    Some(l.to_vec())
                }
                Frame::TooLong => None,
                Frame::Incomplete => {
                    buf.drain(..n);
                    assert!(buf.len() <= max + 1);
                    break;
                }
            };
            buf.drain(..n);
            if let Some(line) = line {
                match parse_command(&line) {
                    Ok(_) => {}
                    Err(e) => assert!(e.reply.code >= 500 && e.reply.status.is_some()),
                }
            }
        }
    }
    // The whole input as one line, too.
    let _ = parse_command(input);
});
