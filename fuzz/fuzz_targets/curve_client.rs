//! Fuzz target: the CURVE client under test, a real server's stream edited (see fuzzing.rs).
#![no_main]

libfuzzer_sys::fuzz_target!(|data: &[u8]| {
    monocoque_zmtp::fuzzing::curve_client(data);
});
