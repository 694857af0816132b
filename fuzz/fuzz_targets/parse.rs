//! Fuzz target: the edxml parser, validator and writer on arbitrary bytes.
//!
//! - `edxml::parse` with default limits must never panic, whatever the input;
//! - for a package it accepts, `edxml::validate` must not panic either;
//! - and the round trip must hold: `parse(write(package))` succeeds and gives back an equal
//!   package. A mismatch panics here, which libFuzzer reports as a crash.
//!
//! Run through `scripts/fuzz.sh`.

#![no_main]

use bytes::Bytes;
use libfuzzer_sys::fuzz_target;

fuzz_target!(|data: &[u8]| {
    let limits = edxml::Limits::default();
    let input = Bytes::copy_from_slice(data);
    let Ok(parsed) = edxml::parse(&input, &limits) else { return };

    let _findings = edxml::validate(&parsed.package, &limits.zip);

    let written = Bytes::from(edxml::write(&parsed.package));
    let reparsed = match edxml::parse(&written, &limits) {
        Ok(reparsed) => reparsed,
        Err(error) => panic!(
            "round trip: the writer's output does not parse: {error:?}\n--- written ---\n{}",
            String::from_utf8_lossy(&written)
        ),
    };
    if reparsed.package != parsed.package {
        panic!(
            "round trip: parse(write(package)) != package\n--- first parse ---\n{:#?}\n--- after write + parse ---\n{:#?}\n--- written ---\n{}",
            parsed.package,
            reparsed.package,
            String::from_utf8_lossy(&written)
        );
    }
});
