//! The FTP framer and command parser on arbitrary bytes, fed in arbitrary chunks: must
//! never panic, never buffer more than a line, and frame the same whatever the chunking.
#![no_main]

use libfuzzer_sys::fuzz_target;
use wharf_ftp::command::{Frame, Framer, MAX_LINE, parse};

fn frames(data: &[u8], chunk: usize) -> Vec<Frame> {
    let mut framer = Framer::default();
    let mut buf = Vec::new();
    let mut out = Vec::new();
    for piece in data.chunks(chunk.max(1)) {
        buf.extend_from_slice(piece);
        loop {
            let (n, frame) = framer.next(&buf);
            buf.drain(..n);
            match frame {
                Some(f) => out.push(f),
                None if n == 0 || buf.is_empty() => break,
                None => {}
            }
        }
        assert!(buf.len() <= MAX_LINE + 1);
    }
    out
}

fuzz_target!(|data: &[u8]| {
    let Some((&split, data)) = data.split_first() else {
        return;
    };
    let whole = frames(data, data.len());
    assert_eq!(frames(data, usize::from(split % 64) + 1), whole);
    for f in whole {
        if let Frame::Line(line) = f {
            let _ = parse(&line);
        }
    }
});
