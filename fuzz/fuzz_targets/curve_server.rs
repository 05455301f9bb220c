//! Fuzz target: the CURVE server under test, a real client's stream edited (see fuzzing.rs).
#![no_main]

libfuzzer_sys::fuzz_target!(|data: &[u8]| {
    monocoque_zmtp::fuzzing::curve_server(data);
});
