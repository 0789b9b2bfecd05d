//! What the mail-authentication verifier parses from a received message before any DNS
//! look-up (DKIM-Signature limit, header and signature parsing, body hashing, removal of
//! forged Authentication-Results): must never panic, and never keep more DKIM signatures
//! than the limit.
#![no_main]

use libfuzzer_sys::fuzz_target;

fuzz_target!(|data: &[u8]| {
    let _ = wharf_mailauth::fuzzing::message(data);
});
