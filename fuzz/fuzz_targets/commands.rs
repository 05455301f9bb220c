//! Fuzz target: command bodies, metadata, and ZAP frames split at '|'.
#![no_main]

libfuzzer_sys::fuzz_target!(|data: &[u8]| {
    monocoque_zmtp::fuzzing::commands(data);
});
