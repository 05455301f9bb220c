//! Replays the committed fuzz corpus (`fuzz/corpus/<target>/*`: the seeds
//! and any minimized crash reproducers) through the same entry points the
//! cargo-fuzz targets call, on stable Rust, so CI catches a regression on
//! any input the fuzzers ever found interesting. See `FUZZING.md`.

#![allow(clippy::unwrap_used)]
use std::fs;
use std::path::PathBuf;

use monocoque_zmtp::fuzzing;

fn replay(target: &str, run: fn(&[u8])) {
    let dir = PathBuf::from(env!("CARGO_MANIFEST_DIR"))
        .join("../fuzz/corpus")
        .join(target);
    let mut files: Vec<PathBuf> = fs::read_dir(&dir)
        .unwrap_or_else(|e| panic!("{}: {e}", dir.display()))
        .map(|entry| entry.unwrap().path())
        .filter(|p| p.is_file())
        .collect();
    files.sort();
    assert!(!files.is_empty(), "no corpus in {}", dir.display());
    for path in &files {
        let data = fs::read(path).unwrap();
        // A panic names the input that caused it.
        eprintln!("{target}: {}", path.display());
        run(&data);
    }
}

#[test]
fn greeting_corpus() {
    replay("greeting", fuzzing::greeting);
}

#[test]
fn decoder_corpus() {
    replay("decoder", fuzzing::decoder);
}

#[test]
fn commands_corpus() {
    replay("commands", fuzzing::commands);
}

#[test]
fn handshake_corpus() {
    replay("handshake", fuzzing::handshake);
}

#[test]
fn curve_server_corpus() {
    replay("curve_server", fuzzing::curve_server);
}

#[test]
fn curve_client_corpus() {
    replay("curve_client", fuzzing::curve_client);
}

#[test]
fn curve_message_corpus() {
    replay("curve_message", fuzzing::curve_message);
}
