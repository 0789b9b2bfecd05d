//! Any message body must summarize without panicking, with offsets inside the message;
//! the transfer decoders, the address-list parser, SEARCH's text and BINARY's whole-message
//! conversion (the paths the summary feeds) must hold their bounds on the same input.
#![no_main]
use libfuzzer_sys::fuzz_target;
use wharf_store::mime;

fn check(part: &mime::Part, len: u64) {
    assert!(part.header_start <= part.body_start, "{part:?}");
    assert!(part.body_start <= part.end, "{part:?}");
    assert!(part.end <= len, "{part:?}");
    for c in &part.children {
        check(c, len);
    }
    if let Some(m) = &part.message {
        check(&m.root, len);
        check_addresses(&m.envelope.from);
    }
}

/// Group markers pair up, and every other entry has a mailbox and a host (ENVELOPE never
/// sends NIL host outside a group marker).
fn check_addresses(list: &[mime::EnvelopeAddress]) {
    assert!(list.len() <= mime::MAX_ADDRESSES + 1, "{}", list.len());
    let mut open = false;
    for a in list {
        match (&a.mailbox, &a.host) {
            (Some(_), None) => {
                assert!(!open, "nested group {list:?}");
                open = true;
            }
            (None, None) => {
                assert!(open, "group end without start {list:?}");
                open = false;
            }
            (Some(_), Some(_)) => {}
            (None, Some(_)) => panic!("host without mailbox {list:?}"),
        }
    }
    assert!(!open, "unclosed group {list:?}");
}

fuzz_target!(|data: &[u8]| {
    let s = mime::summarize(data);
    assert_eq!(s.version, mime::SUMMARY_VERSION);
    check(&s.root, data.len() as u64);
    let e = &s.envelope;
    for list in [&e.from, &e.sender, &e.reply_to, &e.to, &e.cc, &e.bcc] {
        check_addresses(list);
    }
    check_addresses(&mime::parse_address_list(&String::from_utf8_lossy(data)));

    // Decoding never grows: QP only removes, base64 makes 3 octets of 4 characters.
    assert!(mime::decode_quoted_printable(data).len() <= data.len());
    assert!(mime::decode_base64(data).len() <= data.len() / 4 * 3 + 2);

    let _ = mime::SearchText::of(data, true);

    // BINARY[]: the message with its leaves decoded; a leaf's CTE field (at least 27
    // octets as written) becomes "Content-Transfer-Encoding: binary" and its line end
    // (at most 36), and bodies only shrink.
    if let Ok(b) = wharf_imap::session::section::binary(data, &s, &[]) {
        assert!(b.len() <= data.len() * 4 / 3 + 36 * (mime::MAX_PARTS + 1), "{}", b.len());
    }
});
