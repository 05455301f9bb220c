//! Fuzz target: a whole Session. Byte 0 picks the socket type and mechanism,
//! byte 1 the split; the rest is what the peer sends.
#![no_main]

libfuzzer_sys::fuzz_target!(|data: &[u8]| {
    monocoque_zmtp::fuzzing::handshake(data);
});
