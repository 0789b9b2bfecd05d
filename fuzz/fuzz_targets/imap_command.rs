//! The IMAP command parser on arbitrary bytes: must never panic, and whatever it
//! accepts must have a valid tag.
#![no_main]

use libfuzzer_sys::fuzz_target;

fuzz_target!(|data: &[u8]| {
    if let Ok(cmd) = wharf_imap::proto::parse_command(data) {
        assert!(!cmd.tag.as_str().is_empty());
    }
});
