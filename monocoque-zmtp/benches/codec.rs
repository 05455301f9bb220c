//! Criterion benches for the frame codec: encode and decode throughput.
//!
//! `cargo bench -p monocoque-zmtp --bench codec`
#![allow(missing_docs)]

use std::hint::black_box;

use bytes::Bytes;
use criterion::{criterion_group, criterion_main, BenchmarkId, Criterion, Throughput};
use monocoque_zmtp::{Decoder, Encoder};

/// Messages per iteration.
const BATCH: usize = 1024;

/// One contiguous stream of `BATCH` single-frame messages of `size` bytes.
fn stream(size: usize) -> Bytes {
    let mut enc = Encoder::new();
    let mut out = Vec::new();
    let body = Bytes::from(vec![0xa5; size]);
    for _ in 0..BATCH {
        enc.frame(body.clone(), false, &mut out);
    }
    let mut all = Vec::new();
    for b in out {
        all.extend_from_slice(&b);
    }
    Bytes::from(all)
}

fn encode(c: &mut Criterion) {
    let mut g = c.benchmark_group("encode");
    for size in [16usize, 64, 256, 1024, 65536] {
        g.throughput(Throughput::Elements(BATCH as u64));
        let body = Bytes::from(vec![0x5a; size]);
        let mut enc = Encoder::new();
        let mut out = Vec::with_capacity(2 * BATCH);
        g.bench_with_input(BenchmarkId::from_parameter(size), &size, |b, _| {
            b.iter(|| {
                out.clear();
                for _ in 0..BATCH {
                    enc.frame(body.clone(), false, &mut out);
                }
                black_box(out.len())
            });
        });
    }
    g.finish();
}

fn decode(c: &mut Criterion) {
    let mut g = c.benchmark_group("decode");
    for size in [16usize, 64, 256, 1024, 65536] {
        g.throughput(Throughput::Elements(BATCH as u64));
        let data = stream(size);
        // Chunks of 64 KiB, as the reader hands them over.
        let chunks: Vec<Bytes> = data.chunks(65536).map(|c| data.slice_ref(c)).collect();
        let mut dec = Decoder::new(None);
        g.bench_with_input(BenchmarkId::from_parameter(size), &size, |b, _| {
            b.iter(|| {
                let mut n = 0usize;
                for chunk in &chunks {
                    dec.push(chunk.clone());
                    while let Ok(Some(f)) = dec.decode() {
                        n += f.body.len();
                    }
                }
                black_box(n)
            });
        });
    }
    g.finish();
}

criterion_group!(benches, encode, decode);
criterion_main!(benches);
