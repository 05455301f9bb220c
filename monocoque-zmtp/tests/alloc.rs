//! Allocation counts on the hot path, with `CountingAlloc` as this test
//! binary's global allocator (it counts per thread, so tests running in
//! parallel do not disturb each other).
//!
//! A stream of 64-byte messages arrives in 64 KiB chunks cut from an
//! `Arena` page and frozen, exactly as the engine reads them. Once warm,
//! decoding it allocates nothing, neither per message nor per chunk, even
//! though every chunk ends inside a frame: through the bare `Decoder`, and
//! through a whole `Session` handing out `Event::Frame`s. Encoding the same
//! messages allocates nothing either.

#![allow(clippy::unwrap_used)]
use std::time::Instant;

use bytes::Bytes;
use monocoque_core::alloc::{Arena, CountingAlloc};
use monocoque_zmtp::{Command, Decoder, Encoder, Event, Greeting, MechanismName, Metadata};
use monocoque_zmtp::{Session, SessionConfig, SocketType};

#[global_allocator]
static ALLOC: CountingAlloc = CountingAlloc::new();

const MSG: usize = 64;
const CHUNK: usize = 64 * 1024;
const WARM: usize = 10_000;
const MEASURED: usize = 100_000;

/// `n` single-frame messages of `MSG` bytes, encoded.
fn wire(n: usize) -> Vec<u8> {
    let mut enc = Encoder::new();
    let mut out = Vec::new();
    for i in 0..n {
        enc.frame(Bytes::from(vec![i as u8; MSG]), false, &mut out);
    }
    out.concat()
}

/// Reads `wire` as the engine would: 64 KiB regions from the arena, frozen.
fn read_chunks<'a>(arena: &'a mut Arena, wire: &'a [u8]) -> impl Iterator<Item = Bytes> + 'a {
    wire.chunks(CHUNK).map(move |piece| {
        let mut region = arena.alloc(CHUNK);
        assert!(region.put_slice(piece));
        region.freeze(piece.len())
    })
}

fn report(what: &str, allocations: u64, chunks: usize) {
    eprintln!(
        "{what}: {allocations} allocations for {MEASURED} messages of {MSG} B in {chunks} chunks of 64 KiB"
    );
}

#[test]
fn decoder_allocates_nothing_once_warm() {
    let warm = wire(WARM);
    let measured = wire(MEASURED);
    let mut arena = Arena::new(4 * CHUNK, 8);
    let mut dec = Decoder::new(Some(1 << 20));
    let mut decode = |arena: &mut Arena, wire: &[u8]| {
        let (mut frames, mut chunks) = (0, 0);
        for chunk in read_chunks(arena, wire) {
            chunks += 1;
            dec.push(chunk);
            while let Some(frame) = dec.decode().unwrap() {
                assert_eq!(frame.body.len(), MSG);
                frames += 1;
            }
        }
        (frames, chunks)
    };
    assert_eq!(decode(&mut arena, &warm).0, WARM);
    let before = CountingAlloc::thread_allocations();
    let (frames, chunks) = decode(&mut arena, &measured);
    let allocations = CountingAlloc::thread_allocations() - before;
    assert_eq!(frames, MEASURED);
    report("decoder", allocations, chunks);
    assert_eq!(allocations, 0);
}

#[test]
fn session_allocates_nothing_once_warm() {
    let mut s = Session::new(SessionConfig::new(SocketType::Pull), Instant::now()).unwrap();
    let mut md = Metadata::new();
    md.insert("Socket-Type", "PUSH").unwrap();
    let mut handshake = Greeting::ours(MechanismName::NULL, false).encode().to_vec();
    handshake.extend_from_slice(&Command::Ready(md).encode_frame());
    s.handle_input(Bytes::from(handshake)).unwrap();
    assert!(matches!(s.poll_event(), Some(Event::HandshakeComplete(_))));
    let mut out = Vec::new();
    s.poll_transmit(&mut out);

    let warm = wire(WARM);
    let measured = wire(MEASURED);
    let mut arena = Arena::new(4 * CHUNK, 8);
    let mut receive = |arena: &mut Arena, wire: &[u8]| {
        let (mut messages, mut chunks) = (0, 0);
        for chunk in read_chunks(arena, wire) {
            chunks += 1;
            s.handle_input(chunk).unwrap();
            while let Some(ev) = s.poll_event() {
                let Event::Frame { body, more: false } = ev else {
                    panic!("{ev:?}");
                };
                assert_eq!(body.len(), MSG);
                messages += 1;
            }
        }
        (messages, chunks)
    };
    assert_eq!(receive(&mut arena, &warm).0, WARM);
    let before = CountingAlloc::thread_allocations();
    let (messages, chunks) = receive(&mut arena, &measured);
    let allocations = CountingAlloc::thread_allocations() - before;
    assert_eq!(messages, MEASURED);
    report("session", allocations, chunks);
    assert_eq!(allocations, 0);
}

#[test]
fn encoder_allocates_nothing() {
    let body = Bytes::from(vec![7u8; MSG]);
    let mut enc = Encoder::new();
    let mut out = Vec::with_capacity(2);
    // The first clone of a `Bytes` made from a `Vec` allocates its shared
    // refcount, once; a body read from the arena is shared already.
    enc.frame(body.clone(), false, &mut out);
    let before = CountingAlloc::thread_allocations();
    for _ in 0..MEASURED {
        out.clear();
        enc.frame(body.clone(), false, &mut out);
        assert_eq!(out.len(), 2);
    }
    let allocations = CountingAlloc::thread_allocations() - before;
    eprintln!("encoder: {allocations} allocations for {MEASURED} messages of {MSG} B");
    assert_eq!(allocations, 0);
}
