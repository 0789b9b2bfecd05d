//! The IMAP command parser on arbitrary bytes: must never panic, whatever it accepts
//! must have a valid tag, and it must round-trip: encoding the parsed command
//! (`proto::encode_command`) and parsing that again gives the same command, and
//! encoding is stable (as imap-codec's targets check their codec).
#![no_main]

use libfuzzer_sys::fuzz_target;
use wharf_imap::proto::{encode_command, parse_command};

fuzz_target!(|data: &[u8]| {
    if let Ok(cmd) = parse_command(data) {
        assert!(!cmd.tag.as_str().is_empty());
        let wire = encode_command(&cmd);
        let again = match parse_command(&wire) {
            Ok(c) => c,
            Err(e) => panic!(
                "encoded command does not parse: {e:?}\n{:?}",
                String::from_utf8_lossy(&wire)
            ),
        };
        assert_eq!(cmd, again, "{:?}", String::from_utf8_lossy(&wire));
        assert_eq!(wire, encode_command(&again));
    }
});
