//! The SPF, DMARC and DKIM-key TXT record parsers (records a remote domain controls):
//! must never panic on any bytes.
#![no_main]

use libfuzzer_sys::fuzz_target;

fuzz_target!(|data: &[u8]| {
    wharf_mailauth::fuzzing::txt_records(data);
});
