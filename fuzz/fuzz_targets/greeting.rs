//! Fuzz target: the 64-byte greeting, fed in pieces (byte 0 picks the split).
#![no_main]

libfuzzer_sys::fuzz_target!(|data: &[u8]| {
    monocoque_zmtp::fuzzing::greeting(data);
});
