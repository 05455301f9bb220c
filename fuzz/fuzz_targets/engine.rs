//! Fuzz target: a whole `monocoque` socket (engine and pattern) against a
//! hostile peer over ipc. Byte 0 picks the socket type and its options,
//! byte 1 how the peer writes; the rest is what the peer sends. The
//! harness is `../harness/engine.rs`, shared with the corpus replay in
//! `monocoque/tests/fuzz_engine_corpus.rs`.
#![no_main]

// The outcome it returns is for the corpus replay to show.
#[allow(dead_code)]
#[path = "../harness/engine.rs"]
mod engine;

libfuzzer_sys::fuzz_target!(|data: &[u8]| {
    let _ = engine::run(data);
});
