//! The hot path allocates nothing per message beyond the message's own
//! `Bytes`: a global counting allocator tallies every allocation of every
//! thread (the I/O thread included) while a warm socket pair moves 10,000
//! messages whose bodies were made beforehand.
#![allow(clippy::unwrap_used)]

use std::time::Duration;

use bytes::Bytes;
use monocoque::{Context, SocketType};
use monocoque_core::alloc::CountingAlloc;

#[global_allocator]
static ALLOC: CountingAlloc = CountingAlloc::new();

const N: u64 = 10_000;

/// Allocations per message for a ping-pong (`stream` false: every message
/// is its own read and write) or a stream from a second thread (batched).
fn per_message(endpoint: &str, stream: bool) -> f64 {
    let ctx = Context::new();
    let pull = ctx.socket(SocketType::Pull).unwrap();
    pull.update_options(|o| o.rcvtimeo = Some(Duration::from_secs(10)));
    pull.bind(endpoint).unwrap();
    let push = ctx.socket(SocketType::Push).unwrap();
    push.connect(&pull.last_endpoint().unwrap()).unwrap();
    let body = Bytes::from(vec![7u8; 64]);
    // Warm up: connection, arena pages, queues, scratch vectors.
    for _ in 0..N {
        push.send(body.clone()).unwrap();
        pull.recv().unwrap();
    }
    let before = ALLOC.allocations();
    if stream {
        std::thread::scope(|s| {
            s.spawn(|| {
                for _ in 0..N {
                    push.send(body.clone()).unwrap();
                }
            });
            for _ in 0..N {
                pull.recv().unwrap();
            }
        });
    } else {
        for _ in 0..N {
            push.send(body.clone()).unwrap();
            pull.recv().unwrap();
        }
    }
    let after = ALLOC.allocations();
    (after - before) as f64 / N as f64
}

/// One test, so no other test's allocations land in the global count.
#[test]
fn hot_path_allocates_nothing_per_message() {
    let inproc = per_message("inproc://alloc-hot-path", false);
    let ping_pong = per_message("tcp://127.0.0.1:*", false);
    let streamed = per_message("tcp://127.0.0.1:*", true);
    eprintln!(
        "allocations per message: inproc {inproc:.4}, tcp ping-pong {ping_pong:.4}, \
         tcp stream {streamed:.4}"
    );
    assert!(inproc < 0.01, "inproc: {inproc} allocations per message");
    // Each io_uring operation costs compio a few allocations (its op
    // record); Monocoque's own path allocates nothing. A ping-pong makes
    // every read and write a batch of one message, so it shows the
    // per-operation cost; streamed, batches amortise it.
    assert!(
        ping_pong <= 4.0,
        "tcp ping-pong: {ping_pong} allocations per message"
    );
    assert!(
        streamed < 0.5,
        "tcp stream: {streamed} allocations per message"
    );
}
