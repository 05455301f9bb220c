//! Fuzz target: MESSAGE boxes edited after an honest CURVE handshake (see fuzzing.rs).
#![no_main]

libfuzzer_sys::fuzz_target!(|data: &[u8]| {
    monocoque_zmtp::fuzzing::curve_message(data);
});
