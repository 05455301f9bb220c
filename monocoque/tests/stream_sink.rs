//! The `futures` feature's adapters under tokio: `Socket::stream` and
//! `Socket::sink` carry messages in order over tcp and inproc, lose and
//! duplicate nothing when their futures (and the adapters themselves) are
//! dropped at random points, end or fail when the context is shut down;
//! `Monitor::into_stream` sees a connection come and go, then ends.
#![cfg(feature = "futures")]
#![allow(clippy::unwrap_used)]

#[path = "common/cancel_points.rs"]
mod cancel_points;
mod common;

use std::cell::Cell;
use std::pin::Pin;
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::Arc;
use std::task::Poll;
use std::time::Duration;

use bytes::Bytes;
use cancel_points::Rng;
use common::*;
use futures_util::future::poll_fn;
use futures_util::{FutureExt, Sink, SinkExt, StreamExt};
use monocoque::{Error, EventMask, Message, MonitorEvent, Socket, SocketType};
use tokio::time::timeout;

/// Messages each cancellation scenario sends (per sender).
const MESSAGES: u32 = 3_000;

/// Sender `id`'s message `n`, padded to 1 KiB so that small kernel
/// buffers fill and a tcp send really waits.
fn seq(id: u8, n: u32) -> Message {
    let mut body = vec![0u8; 1024];
    body[..4].copy_from_slice(&n.to_be_bytes());
    Message::from(vec![Bytes::from(vec![id]), Bytes::from(body)])
}

/// The sender and number of a [`seq`] message.
fn num(m: &Message) -> (u8, u32) {
    (m[0][0], u32::from_be_bytes(m[1][..4].try_into().unwrap()))
}

/// PULL bound, PUSH connected, both with tiny HWMs and kernel buffers so
/// that both sides keep waiting.
fn push_pull(ctx: &monocoque::Context, tr: Tr) -> (Socket, Socket) {
    let pull = sock(ctx, SocketType::Pull);
    pull.update_options(|o| {
        o.rcvhwm = 4;
        o.rcvbuf = Some(4096);
    });
    let ep = bind(&pull, tr);
    let push = sock(ctx, SocketType::Push);
    push.update_options(|o| {
        o.sndhwm = 4;
        o.sndbuf = Some(4096);
    });
    push.connect(&ep).unwrap();
    (push, pull)
}

/// `SinkExt::send` from a task, `StreamExt::next` on the test's: every
/// message once, in order.
async fn in_order(tr: Tr) {
    const N: u32 = 500;
    let ctx = monocoque::Context::new();
    let (push, pull) = push_pull(&ctx, tr);
    let sender = tokio::spawn(async move {
        let mut sink = push.sink();
        for n in 0..N {
            sink.send(seq(0, n)).await.unwrap();
        }
        SinkExt::<Message>::close(&mut sink).await.unwrap();
        drop(sink);
        push
    });
    let mut stream = pull.stream();
    for n in 0..N {
        let m = timeout(T, stream.next()).await.unwrap().unwrap().unwrap();
        assert_eq!(num(&m), (0, n));
    }
    let _push = sender.await.unwrap();
    drop(stream);
    assert_nothing(&pull);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn stream_and_sink_keep_order_tcp() {
    in_order(Tr::Tcp).await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn stream_and_sink_keep_order_inproc() {
    in_order(Tr::Inproc).await;
}

/// Lock-step round trips with a thread that echoes: every message comes
/// while the stream is about to wait, and nothing else would wake it, so a
/// wake-up lost between the stream's look and its listen stalls a round.
async fn lock_step(tr: Tr) {
    const ROUNDS: u32 = 2_000;
    let ctx = monocoque::Context::new();
    let (a, b) = (sock(&ctx, SocketType::Pair), sock(&ctx, SocketType::Pair));
    let ep = bind(&a, tr);
    b.connect(&ep).unwrap();
    let echo = std::thread::spawn(move || {
        for _ in 0..ROUNDS {
            b.send(b.recv().unwrap()).unwrap();
        }
        b
    });
    let (mut stream, mut sink) = (a.stream(), a.sink());
    for n in 0..ROUNDS {
        sink.send(seq(0, n)).await.unwrap();
        let m = timeout(T, stream.next()).await.expect("a wake-up lost");
        assert_eq!(num(&m.unwrap().unwrap()), (0, n));
    }
    let _b = echo.join().unwrap();
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn lock_step_round_trips_tcp() {
    lock_step(Tr::Tcp).await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn lock_step_round_trips_inproc() {
    lock_step(Tr::Inproc).await;
}

/// One socket's stream and sink at once: a ROUTER echoes with
/// `stream.forward(sink)` to a DEALER that sends with `send_all`.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_router_echoes_with_forward() {
    const N: u32 = 200;
    let ctx = monocoque::Context::new();
    let router = sock(&ctx, SocketType::Router);
    let ep = bind(&router, Tr::Tcp);
    let dealer = sock(&ctx, SocketType::Dealer);
    dealer.connect(&ep).unwrap();
    let echo = tokio::spawn(async move {
        router
            .stream()
            .take(N as usize)
            .forward(router.sink())
            .await
            .unwrap();
        router
    });
    let mut requests =
        futures_util::stream::iter((0..N).map(|n| Ok::<_, Error>(Message::from(n.to_string()))));
    dealer.sink().send_all(&mut requests).await.unwrap();
    let mut replies = dealer.stream();
    for n in 0..N {
        let m = timeout(T, replies.next()).await.unwrap().unwrap().unwrap();
        assert_eq!(strs(&m), [n.to_string()]);
    }
    timeout(T, echo).await.unwrap().unwrap();
}

/// A sender thread sends numbered messages with pauses; the stream's
/// `next()` is raced against a timer thousands of times, and now and then
/// the stream itself is dropped and made again. Every number arrives once,
/// in order.
async fn stream_cancelled(tr: Tr) {
    let ctx = monocoque::Context::new();
    let (push, pull) = push_pull(&ctx, tr);
    let sender = std::thread::spawn(move || {
        for n in 0..MESSAGES {
            push.send(seq(0, n)).unwrap();
            if n % 25 == 0 {
                std::thread::sleep(Duration::from_millis(1));
            }
        }
        push
    });
    let mut rng = Rng(0xdead_beef_cafe_f00d);
    let (mut next, mut raced, mut dropped_waiting, mut remade) = (0, 0u32, 0u32, 0u32);
    let mut stream = pull.stream();
    let deadline = tokio::time::Instant::now() + 6 * T;
    while next < MESSAGES {
        assert!(tokio::time::Instant::now() < deadline, "stuck at {next}");
        raced += 1;
        let waited = Cell::new(false);
        let next_msg = poll_fn(|cx| {
            let p = stream.poll_next_unpin(cx);
            waited.set(waited.get() || p.is_pending());
            p
        });
        tokio::select! {
            r = next_msg => {
                assert_eq!(num(&r.unwrap().unwrap()), (0, next), "lost or duplicated");
                next += 1;
            }
            _ = rng.timer() => dropped_waiting += u32::from(waited.get()),
        }
        // Now and then the stream goes too, most often right after a
        // wait was given up.
        if rng.next() % if waited.get() { 4 } else { 64 } == 0 {
            stream = pull.stream();
            remade += 1;
        }
    }
    let _push = sender.join().unwrap();
    drop(stream);
    assert_nothing(&pull);
    eprintln!(
        "{tr:?}: {raced} next() raced, {dropped_waiting} dropped while waiting, \
         the stream remade {remade} times"
    );
    assert!(
        dropped_waiting >= 10,
        "the races hardly ever cancelled a wait"
    );
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_cancelled_next_loses_nothing_tcp() {
    stream_cancelled(Tr::Tcp).await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_cancelled_next_loses_nothing_inproc() {
    stream_cancelled(Tr::Inproc).await;
}

/// A message that records when the sink takes it (its conversion into a
/// `Message` is the sink's `start_send`): a `send()` dropped after that
/// must not be sent again, one dropped before must be.
struct Tracked {
    msg: Message,
    taken: Arc<AtomicBool>,
}

impl From<Tracked> for Message {
    fn from(t: Tracked) -> Message {
        t.taken.store(true, Ordering::SeqCst);
        t.msg
    }
}

/// Two tasks send numbered messages through sinks of one shared PUSH (so
/// each may find the room taken by the other between its `poll_ready` and
/// its `start_send`), each `send()` raced against a timer, each sink now
/// and then flushed, dropped and made again; a receiver thread with pauses
/// holds them back. Each sender's numbers arrive once, in order.
async fn sink_cancelled(tr: Tr) {
    let ctx = monocoque::Context::new();
    let (push, pull) = push_pull(&ctx, tr);
    let push = Arc::new(push);
    let receiver = std::thread::spawn(move || {
        let mut next = [0u32; 2];
        while next.iter().any(|&n| n < MESSAGES) {
            let (id, n) = num(&pull.recv().unwrap());
            assert_eq!(n, next[usize::from(id)], "sender {id}: lost or duplicated");
            next[usize::from(id)] += 1;
            if n % 25 == 0 {
                std::thread::sleep(Duration::from_millis(1));
            }
        }
        assert_nothing(&pull);
        pull
    });
    let senders: Vec<_> = (0..2u8)
        .map(|id| {
            let push = push.clone();
            tokio::spawn(async move {
                let mut rng = Rng(0x9e37_79b9_7f4a_7c15 + u64::from(id));
                let (mut n, mut dropped_waiting, mut dropped_taken) = (0, 0u32, 0u32);
                let mut sink = push.sink();
                while n < MESSAGES {
                    let taken = Arc::new(AtomicBool::new(false));
                    let item = Tracked {
                        msg: seq(id, n),
                        taken: taken.clone(),
                    };
                    // Atomic, not a Cell: the task moves between threads.
                    let waited = AtomicBool::new(false);
                    let mut send = sink.send(item);
                    let watched = poll_fn(|cx| {
                        let p = send.poll_unpin(cx);
                        waited.fetch_or(p.is_pending(), Ordering::Relaxed);
                        p
                    });
                    tokio::select! {
                        r = watched => { r.unwrap(); n += 1; }
                        _ = rng.timer() => {
                            dropped_waiting += u32::from(waited.load(Ordering::Relaxed));
                            if taken.load(Ordering::SeqCst) {
                                // The sink has it: it goes, and only once.
                                dropped_taken += 1;
                                n += 1;
                            }
                        }
                    }
                    drop(send);
                    if rng.next() % 64 == 0 {
                        SinkExt::<Message>::flush(&mut sink).await.unwrap();
                        sink = push.sink();
                    }
                }
                SinkExt::<Message>::close(&mut sink).await.unwrap();
                (dropped_waiting, dropped_taken)
            })
        })
        .collect();
    let mut figures = Vec::new();
    for s in senders {
        figures.push(timeout(6 * T, s).await.unwrap().unwrap());
    }
    let _pull = tokio::task::spawn_blocking(move || receiver.join().unwrap())
        .await
        .unwrap();
    eprintln!("{tr:?}: (dropped while waiting, dropped after start_send) per sender: {figures:?}");
    let waited: u32 = figures.iter().map(|f| f.0).sum();
    assert!(waited >= 10, "the races hardly ever cancelled a wait");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_cancelled_send_loses_and_duplicates_nothing_tcp() {
    sink_cancelled(Tr::Tcp).await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_cancelled_send_loses_and_duplicates_nothing_inproc() {
    sink_cancelled(Tr::Inproc).await;
}

/// `poll_ready` reserves room: a `send()` that cannot go does not take
/// its message, so dropping it (a timeout) leaves the message with the
/// caller; once there is a peer the same message goes.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_send_that_cannot_go_takes_nothing() {
    let ctx = monocoque::Context::new();
    let push = sock(&ctx, SocketType::Push); // no peer yet: not writable
    let mut sink = push.sink();
    let taken = Arc::new(AtomicBool::new(false));
    let item = Tracked {
        msg: Message::from("kept"),
        taken: taken.clone(),
    };
    let r = timeout(Duration::from_millis(50), sink.send(item)).await;
    assert!(r.is_err(), "no peer: the send waits");
    assert!(
        !taken.load(Ordering::SeqCst),
        "a waiting send took its message"
    );
    let pull = sock(&ctx, SocketType::Pull);
    let ep = bind(&pull, Tr::Inproc);
    push.connect(&ep).unwrap();
    timeout(T, sink.send("kept")).await.unwrap().unwrap();
    assert_eq!(recv_strs(&pull), ["kept"]);
    assert_nothing(&pull);
}

/// When another sender takes the room between `poll_ready` and
/// `start_send`, the sink keeps the message: its flush waits until it is
/// with the socket, and a sink dropped before that hands it over if there
/// is room then. Each message arrives once.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_message_whose_room_was_taken_is_kept() {
    let ctx = monocoque::Context::new();
    let pull = sock(&ctx, SocketType::Pull);
    pull.update_options(|o| o.rcvhwm = 1);
    let ep = bind(&pull, Tr::Inproc);
    let push = sock(&ctx, SocketType::Push);
    push.update_options(|o| o.sndhwm = 1);
    push.connect(&ep).unwrap();
    wait_peers(&push, 1);
    // What the PULL must receive, in order.
    let mut queued = std::collections::VecDeque::new();
    let mut n = 0;
    let mut fill = |queued: &mut std::collections::VecDeque<String>| {
        while push.try_send(n.to_string()).is_ok() {
            queued.push_back(n.to_string());
            n += 1;
        }
    };
    let recv_next = |queued: &mut std::collections::VecDeque<String>| {
        assert_eq!(recv_strs(&pull), [queued.pop_front().unwrap()]);
    };
    fill(&mut queued);
    for dropped in [false, true] {
        // Room for one, which a plain send takes after the sink's
        // poll_ready.
        let mut sink = push.sink();
        recv_next(&mut queued);
        poll_fn(|cx| Sink::<Message>::poll_ready(Pin::new(&mut sink), cx))
            .await
            .unwrap();
        fill(&mut queued);
        Pin::new(&mut sink)
            .start_send(Message::from("kept"))
            .unwrap();
        queued.push_back("kept".into());
        let mut flush = SinkExt::<Message>::flush(&mut sink);
        let first = poll_fn(|cx| Poll::Ready(flush.poll_unpin(cx))).await;
        assert!(first.is_pending(), "no room: the kept message waits");
        drop(flush);
        recv_next(&mut queued);
        if dropped {
            drop(sink); // the drop hands it over: there is room now
        } else {
            timeout(T, SinkExt::<Message>::flush(&mut sink))
                .await
                .unwrap()
                .unwrap();
        }
        while queued.front().is_some_and(|m| m != "kept") {
            recv_next(&mut queued);
        }
        recv_next(&mut queued);
        fill(&mut queued);
    }
    while !queued.is_empty() {
        recv_next(&mut queued);
    }
    assert_nothing(&pull);
}

/// A shut-down context ends a waiting stream (`None`, and `None` after)
/// and fails a waiting sink with `Terminated`.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn shutdown_ends_the_stream_and_fails_the_sink() {
    let ctx = monocoque::Context::new();
    let pull = Arc::new(sock(&ctx, SocketType::Pull));
    pull.bind(&endpoint(Tr::Inproc)).unwrap();
    let push = Arc::new(sock(&ctx, SocketType::Push)); // no peer: never ready
    let reader = {
        let pull = pull.clone();
        tokio::spawn(async move {
            let mut s = pull.stream();
            let first = s.next().await;
            (first.is_none(), s.next().await.is_none())
        })
    };
    let writer = {
        let push = push.clone();
        tokio::spawn(async move { push.sink().send("never").await })
    };
    tokio::time::sleep(Duration::from_millis(50)).await;
    assert!(!reader.is_finished() && !writer.is_finished());
    ctx.shutdown();
    assert_eq!(timeout(T, reader).await.unwrap().unwrap(), (true, true));
    let r = timeout(T, writer).await.unwrap().unwrap();
    assert!(matches!(r, Err(Error::Terminated)), "{r:?}");
}

/// A type that cannot send has a sink that fails, and one that cannot
/// receive a stream that yields the error (and goes on).
#[tokio::test]
async fn the_wrong_direction_fails() {
    let ctx = monocoque::Context::new();
    let pull = sock(&ctx, SocketType::Pull);
    let r = timeout(T, pull.sink().send("no")).await.unwrap();
    assert!(matches!(r, Err(Error::NotSupported(_))), "{r:?}");
    let push = sock(&ctx, SocketType::Push);
    let mut s = push.stream();
    for _ in 0..2 {
        let r = timeout(T, s.next()).await.unwrap();
        assert!(matches!(r, Some(Err(Error::NotSupported(_)))), "{r:?}");
    }
}

/// The next event within [`T`], or the end of the stream (`None`).
async fn next_event(events: &mut monocoque::MonitorStream) -> Option<MonitorEvent> {
    timeout(T, events.next()).await.expect("an event in time")
}

/// A connection's events through a monitor stream: connected, handshake,
/// disconnected when the peer goes; `MONITOR_STOPPED` and the end when the
/// socket goes. A stream whose mask leaves `MONITOR_STOPPED` out ends too.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_monitor_stream_sees_a_connection_and_ends() {
    let ctx = monocoque::Context::new();
    let pull = sock(&ctx, SocketType::Pull);
    let ep = bind(&pull, Tr::Tcp);
    let push = sock(&ctx, SocketType::Push);
    let mut all = push.monitor().into_stream();
    let mut connected = push.monitor_events(EventMask::CONNECTED).into_stream();
    push.connect(&ep).unwrap();

    let mut seen = Vec::new();
    while !seen.contains(&EventMask::HANDSHAKE_SUCCEEDED) {
        seen.push(next_event(&mut all).await.unwrap().event());
    }
    assert!(seen.contains(&EventMask::CONNECTED), "{seen:?}");
    let ev = next_event(&mut connected).await.unwrap();
    assert!(matches!(ev, MonitorEvent::Connected { .. }), "{ev}");

    drop(pull);
    loop {
        let ev = next_event(&mut all).await.unwrap();
        if let MonitorEvent::Disconnected { .. } = ev {
            break;
        }
    }

    drop(push);
    let mut last = None;
    while let Some(ev) = next_event(&mut all).await {
        last = Some(ev.event());
    }
    assert_eq!(last, Some(EventMask::MONITOR_STOPPED));
    assert!(all.next().await.is_none(), "ended for good");
    // The push reconnects after the disconnection: more CONNECTED events
    // may come, then the end.
    while let Some(ev) = next_event(&mut connected).await {
        assert!(matches!(ev, MonitorEvent::Connected { .. }), "{ev}");
    }
}
