//! Address and domain parsing never panics, and what it accepts parses again the same.
#![no_main]
use libfuzzer_sys::fuzz_target;

fuzz_target!(|data: &[u8]| {
    if let Ok(s) = std::str::from_utf8(data) {
        if let Ok(a) = wharf_store::Address::parse(s) {
            let again = wharf_store::Address::parse(a.as_str()).expect("reparse");
            assert_eq!(a, again);
        }
        let _ = wharf_store::DomainName::parse(s);
    }
});
