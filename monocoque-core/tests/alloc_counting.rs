//! A warm arena allocates nothing per read: `alloc` + kernel-sized fill +
//! `freeze` + drop, counted by a global allocator that tallies every call.

use compio::buf::IoBufMut;
use monocoque_core::alloc::{Arena, CountingAlloc, SlabMut};

#[global_allocator]
static ALLOC: CountingAlloc = CountingAlloc::new();

/// Stands in for the kernel: `n` bytes copied in through the safe API, as a
/// read would leave them.
fn read_chunk(arena: &mut Arena, src: &[u8]) -> bytes::Bytes {
    let mut region: SlabMut = arena.alloc(64 * 1024);
    assert_eq!(region.buf_capacity(), 64 * 1024);
    assert!(region.put_slice(src));
    region.freeze(src.len())
}

#[test]
fn warm_arena_reads_allocate_nothing() {
    let src = vec![0x5A; 64 * 1024];
    let mut arena = Arena::default();
    // Warm up: pages get allocated and come back to the idle list once.
    let mut held = Vec::with_capacity(64);
    for _ in 0..64 {
        held.push(read_chunk(&mut arena, &src));
    }
    held.clear();
    arena.trim();

    let before = CountingAlloc::thread_allocations();
    let mut total = 0usize;
    for i in 0..10_000 {
        let chunk = read_chunk(&mut arena, &src[..64 * 1024 - (i % 7)]);
        // Slice a "frame" out of it, as the decoder does.
        let frame = chunk.slice(100..164);
        total += frame.len() + chunk.len();
    }
    let after = CountingAlloc::thread_allocations();
    assert!(total > 0);
    println!(
        "allocations over 10,000 warm 64 KiB reads: {}",
        after - before
    );
    assert_eq!(after - before, 0, "a warm arena must not allocate per read");
}
