//! Criterion benches for the routing tables and the subscription index.
//!
//! `cargo bench -p monocoque-core --bench tables`
#![allow(missing_docs)]

use std::hint::black_box;

use bytes::Bytes;
use criterion::{criterion_group, criterion_main, BenchmarkId, Criterion, Throughput};
use monocoque_core::pubsub::{SubscriptionIndex, SubscriptionSet};
use monocoque_core::router::{LoadBalancer, PeerId, Peers, RoutingTable};

/// A small deterministic generator (xorshift64*), so runs compare.
struct Rng(u64);

impl Rng {
    fn next(&mut self) -> u64 {
        self.0 ^= self.0 >> 12;
        self.0 ^= self.0 << 25;
        self.0 ^= self.0 >> 27;
        self.0.wrapping_mul(0x2545_f491_4f6c_dd1d)
    }
    fn below(&mut self, n: usize) -> usize {
        (self.next() % n as u64) as usize
    }
    /// Topic-like bytes: 16 letters and a dot.
    fn topic(&mut self, len: usize) -> Vec<u8> {
        (0..len)
            .map(|_| b"abcdefghijklmnop."[self.below(17)])
            .collect()
    }
}

/// 1000 subscriptions (prefixes of 4 to 24 bytes) spread over `peers`
/// peers, and 256 messages of 64 bytes of which half start with a
/// subscribed prefix.
fn workload(peers: usize) -> (Vec<PeerId>, Vec<Vec<u8>>, Vec<Vec<u8>>) {
    let mut rng = Rng(0x9e37_79b9_7f4a_7c15);
    let mut slab = Peers::new();
    let ids: Vec<PeerId> = (0..peers).map(|_| slab.insert(())).collect();
    let prefixes: Vec<Vec<u8>> = (0..1000)
        .map(|_| {
            let len = 4 + rng.below(21);
            rng.topic(len)
        })
        .collect();
    let messages = (0..256)
        .map(|i| {
            let mut m = if i % 2 == 0 {
                prefixes[rng.below(prefixes.len())].clone()
            } else {
                Vec::new()
            };
            let rest = 64 - m.len();
            m.extend(rng.topic(rest));
            m
        })
        .collect();
    (ids, prefixes, messages)
}

fn subscription_match(c: &mut Criterion) {
    let mut group = c.benchmark_group("pubsub");
    group.throughput(Throughput::Elements(256));
    for peers in [10usize, 100] {
        let (ids, prefixes, messages) = workload(peers);
        let mut index = SubscriptionIndex::new();
        for (i, p) in prefixes.iter().enumerate() {
            index.subscribe(ids[i % ids.len()], p);
        }
        let mut out = Vec::with_capacity(peers);
        group.bench_function(
            BenchmarkId::new("index_match_1000subs_64B", format!("{peers}peers")),
            |b| {
                b.iter(|| {
                    let mut n = 0;
                    for m in &messages {
                        out.clear();
                        index.matches(black_box(m), &mut out);
                        n += out.len();
                    }
                    n
                })
            },
        );
    }

    // The common PUB case: every subscriber takes everything.
    let mut slab = Peers::new();
    let mut index = SubscriptionIndex::new();
    for _ in 0..100 {
        index.subscribe(slab.insert(()), b"");
    }
    let (_, _, messages) = workload(1);
    group.bench_function("index_match_100peers_all", |b| {
        b.iter(|| {
            let mut n = 0;
            for m in &messages {
                index.for_each_match(black_box(m), |_| n += 1);
            }
            n
        })
    });

    let (_, prefixes, messages) = workload(1);
    let mut set = SubscriptionSet::new();
    for p in &prefixes {
        set.subscribe(p);
    }
    group.bench_function("set_match_1000subs_64B", |b| {
        b.iter(|| {
            messages
                .iter()
                .filter(|m| set.matches(black_box(m)))
                .count()
        })
    });
    group.finish();
}

fn routing(c: &mut Criterion) {
    let mut group = c.benchmark_group("router");
    let mut slab = Peers::new();
    let ids: Vec<PeerId> = (0..16).map(|_| slab.insert(())).collect();

    let mut lb = LoadBalancer::new();
    for &id in &ids {
        lb.attach(id);
    }
    group.throughput(Throughput::Elements(1));
    group.bench_function("lb_next_16peers", |b| b.iter(|| black_box(lb.next())));

    // Every 8th send finds the pipe full: block it, and unblock it again
    // (the drain the I/O thread reports).
    let mut turn = 0u32;
    group.bench_function("lb_next_16peers_block_churn", |b| {
        b.iter(|| {
            let peer = lb.next();
            turn = turn.wrapping_add(1);
            if let Some(p) = peer {
                if turn % 8 == 0 {
                    lb.block(p);
                    lb.unblock(p);
                }
            }
            black_box(peer)
        })
    });

    let mut table = RoutingTable::with_first_generated(1);
    let many: Vec<PeerId> = (0..1000).map(|_| slab.insert(())).collect();
    let routing_ids: Vec<Bytes> = many
        .iter()
        .map(|&p| match table.attach(p, None) {
            monocoque_core::router::Attach::Attached { routing_id } => routing_id.into_bytes(),
            other => panic!("{other:?}"),
        })
        .collect();
    let mut i = 0;
    group.bench_function("routing_table_lookup_1000peers", |b| {
        b.iter(|| {
            i = (i + 1) % routing_ids.len();
            black_box(table.peer(black_box(&routing_ids[i])))
        })
    });
    group.finish();
}

criterion_group!(benches, subscription_match, routing);
criterion_main!(benches);
