//! Replays the `engine` fuzz target's committed corpus
//! (`fuzz/corpus/engine/*`: the seeds and any minimized findings) through
//! the same harness the cargo-fuzz target runs (`fuzz/harness/engine.rs`:
//! a whole socket against a hostile peer over ipc), on stable Rust, so CI
//! catches a regression on any of them. See `monocoque-zmtp/FUZZING.md`.
#![allow(clippy::unwrap_used)]

use std::fs;
use std::path::PathBuf;
use std::time::Instant;

#[path = "../../fuzz/harness/engine.rs"]
mod engine;

#[test]
fn engine_corpus() {
    let dir = PathBuf::from(env!("CARGO_MANIFEST_DIR")).join("../fuzz/corpus/engine");
    let mut files: Vec<PathBuf> = fs::read_dir(&dir)
        .unwrap_or_else(|e| panic!("{}: {e}", dir.display()))
        .map(|entry| entry.unwrap().path())
        .filter(|p| p.is_file())
        .collect();
    files.sort();
    assert!(!files.is_empty(), "no corpus in {}", dir.display());
    for path in &files {
        // A panic names the input that caused it.
        eprintln!("engine: {}", path.display());
        let t = Instant::now();
        let outcome = engine::run(&fs::read(path).unwrap());
        if let Some(o) = outcome {
            eprintln!(
                "  {:?}: {} received, ended: {} ({:?})",
                o.ty,
                o.received,
                o.end,
                t.elapsed()
            );
        }
    }
}

/// Found by the `engine` target's seeds: a complete message that arrived
/// in the same read as a frame that ends the connection was lost, though
/// it was whole before the fault (libzmq delivers it: its engine flushes
/// what it decoded before it tears the connection down). Fixed: in
/// `engine/zmtp.rs`, `read_loop` keeps a decoding error, delivers the
/// events decoded ahead of it and the gathered run, then ends; and a
/// fault in the chunk that completed the handshake is kept until the
/// messages after the handshake are delivered.
#[test]
fn a_message_before_a_fatal_frame_in_the_same_read_arrives() {
    let ok = b"\x00\x02ok";
    let big = [
        &[0x03, 0, 0, 0, 0, 0, 0, 0x02, 0x58][..],
        &[b'a'; 600],
        &[0x02, 0, 0, 0, 0, 0, 0, 0x02, 0x58],
        &[b'b'; 600],
    ]
    .concat();
    let cases: [(&str, u8, Vec<u8>); 3] = [
        // PULL (type 10), one write after the valid prefix.
        ("reserved flags", 0x0a, b"\xf0\x01x".to_vec()),
        // MAXMSGSIZE 1 KiB: two 600-byte frames of one message.
        ("a message over MAXMSGSIZE", 0x1a, big),
        (
            "an ERROR command",
            0x0a,
            b"\x04\x0a\x05ERROR\x03bye".to_vec(),
        ),
    ];
    let mut lost = Vec::new();
    for (what, cfg, bad) in cases {
        let input = [&[cfg, 0x40][..], ok, &bad].concat();
        let o = engine::run(&input).unwrap();
        if o.received != 1 {
            lost.push(format!("{what} (the connection ended: {})", o.end));
        }
    }
    assert!(lost.is_empty(), "'ok' lost before: {lost:?}");
}
