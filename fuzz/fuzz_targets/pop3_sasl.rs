//! Fuzzes the SASL PLAIN and LOGIN exchanges with arbitrary client lines.
#![no_main]

use libfuzzer_sys::fuzz_target;
use wharf_pop3::sasl::{Mechanism, Step, start, step};

fuzz_target!(|data: &[u8]| {
    let mut lines = data.split(|&b| b == b'\n');
    let first = lines.next().and_then(|l| std::str::from_utf8(l).ok());
    for mech in [Mechanism::Plain, Mechanism::Login] {
        let mut current = start(mech, first);
        for line in lines.clone() {
            current = match current {
                Step::Challenge(_, exchange) => step(exchange, line),
                done => done,
            };
        }
    }
});
