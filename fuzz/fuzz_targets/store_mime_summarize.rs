//! Any message body must summarize without panicking, with offsets inside the message.
#![no_main]
use libfuzzer_sys::fuzz_target;

fn check(part: &wharf_store::mime::Part, len: u64) {
    assert!(part.header_start <= part.body_start, "{part:?}");
    assert!(part.body_start <= part.end, "{part:?}");
    assert!(part.end <= len, "{part:?}");
    for c in &part.children {
        check(c, len);
    }
    if let Some(m) = &part.message {
        check(&m.root, len);
    }
}

fuzz_target!(|data: &[u8]| {
    let s = wharf_store::mime::summarize(data);
    check(&s.root, data.len() as u64);
});
