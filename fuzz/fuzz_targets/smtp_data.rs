//! SMTP DATA and BDAT receivers: any bytes, fed in any split, never panic, never keep
//! more than the limit, never read past the end of a message, and an accepted message
//! survives a round trip (dot-stuffed again, it is received as the same message).
#![no_main]

use libfuzzer_sys::fuzz_target;
use wharf_smtp::proto::{dot_stuff, Chunk, ChunkReceiver, DataReceiver};

fuzz_target!(|data: &[u8]| {
    let Some((&split, input)) = data.split_first() else {
        return;
    };
    let chunk = usize::from(split % 64).max(1);
    let max_size = 256;

    let mut rx = DataReceiver::new(max_size, 80);
    let (mut fed, mut consumed) = (0, 0);
    while fed < input.len() && !rx.is_done() {
        fed = (fed + chunk).min(input.len());
        consumed += rx.feed(&input[consumed..fed]);
        assert!(consumed <= fed);
        if !rx.is_done() {
            assert_eq!(consumed, fed);
        }
    }
    if rx.is_done() {
        if let Ok(body) = rx.finish() {
            assert!(body.len() as u64 <= max_size);
            // The end is CRLF.CRLF, and nothing after it was taken.
            let taken = &input[..consumed];
            assert!(taken == b".\r\n" || taken.ends_with(b"\r\n.\r\n"));
            let wire = dot_stuff(&body);
            let mut again = DataReceiver::new(max_size, usize::MAX);
            assert_eq!(again.feed(&wire), wire.len());
            assert!(again.is_done());
            assert_eq!(again.finish().ok(), Some(body));
        }
    }

    let size = u64::from(split);
    let mut bdat = ChunkReceiver::new(size, Some(100));
    let mut used = 0;
    for piece in input.chunks(chunk) {
        if bdat.is_done() {
            break;
        }
        used += bdat.feed(piece);
    }
    assert!(used as u64 <= size);
    if bdat.is_done() {
        match bdat.finish() {
            Chunk::Data(d) => assert_eq!(d, &input[..used]),
            Chunk::TooBig => assert!(size > 100),
            Chunk::Discarded => unreachable!(),
        }
    }
});
