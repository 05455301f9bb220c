//! Replays the `engine` fuzz target's committed corpus
//! (`fuzz/corpus/engine/*`: the seeds and any minimized findings) through
//! the same harness the cargo-fuzz target runs (`fuzz/harness/engine.rs`:
//! a whole socket against a hostile peer over ipc), on stable Rust, so CI
//! catches a regression on any of them. See `monocoque-zmtp/FUZZING.md`.
#![allow(clippy::unwrap_used)]

use std::fs;
use std::path::PathBuf;

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
        let outcome = engine::run(&fs::read(path).unwrap());
        if let Some(o) = outcome {
            eprintln!("  {:?}: {} received, ended: {}", o.ty, o.received, o.end);
        }
    }
}
