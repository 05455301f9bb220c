//! Fuzz target: the frame decoder (byte 0: split, byte 1: size limit).
#![no_main]

libfuzzer_sys::fuzz_target!(|data: &[u8]| {
    monocoque_zmtp::fuzzing::decoder(data);
});
