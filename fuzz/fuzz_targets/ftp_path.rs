//! FTP path resolution on arbitrary input: must never panic, and whatever it accepts
//! stays a list of plain names (no `..`, `.`, `/`, NUL, control characters, reserved
//! prefix), so it cannot leave the home.
#![no_main]

use libfuzzer_sys::fuzz_target;
use wharf_store::files::{VPath, validate_name};

fuzz_target!(|data: &[u8]| {
    let Ok(s) = std::str::from_utf8(data) else {
        return;
    };
    let (cwd, arg) = s.split_once('\n').unwrap_or(("/", s));
    let Ok(cwd) = VPath::resolve(&VPath::root(), cwd) else {
        return;
    };
    if let Ok(p) = VPath::resolve(&cwd, arg) {
        for part in p.components() {
            assert!(validate_name(part).is_ok(), "{part:?}");
        }
        assert_eq!(VPath::resolve(&VPath::root(), &p.to_string()).ok(), Some(p));
    }
});
