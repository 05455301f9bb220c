//! Context termination, per-call deadlines and the async close: a call
//! blocked anywhere returns `Terminated` once its context ends, and every
//! timeout (blocking or async, per call or per socket) ends its call with
//! `WouldBlock`.
//!
//! Waits are bounded generously (5 s) and the results checked; nothing
//! here times the library.

#![allow(clippy::unwrap_used)]

use std::sync::mpsc;
use std::thread;
use std::time::{Duration, Instant};

use monocoque::{proxy, Context, Error, Socket, SocketType};

/// Generous bound on anything that should happen "at once".
const BOUND: Duration = Duration::from_secs(5);

/// Runs `f` on a thread; its result, or a panic if it did not come back
/// within [`BOUND`] of `trigger` running.
fn returns_after<T: Send + 'static>(
    f: impl FnOnce() -> T + Send + 'static,
    trigger: impl FnOnce(),
) -> T {
    let (tx, rx) = mpsc::channel();
    let (started_tx, started_rx) = mpsc::channel();
    thread::spawn(move || {
        started_tx.send(()).unwrap();
        let _ = tx.send(f());
    });
    started_rx.recv().unwrap();
    // Let the call block first.
    thread::sleep(Duration::from_millis(100));
    assert!(
        rx.try_recv().is_err(),
        "the call returned before it was stopped"
    );
    trigger();
    rx.recv_timeout(BOUND)
        .expect("the blocked call did not return after the context ended")
}

fn pair(ctx: &Context, a: SocketType, b: SocketType, name: &str) -> (Socket, Socket) {
    let x = ctx.socket(a).unwrap();
    x.bind(&format!("inproc://{name}")).unwrap();
    let y = ctx.socket(b).unwrap();
    y.connect(&format!("inproc://{name}")).unwrap();
    (x, y)
}

#[test]
fn a_blocked_recv_returns_terminated() {
    let ctx = Context::new();
    let pull = ctx.socket(SocketType::Pull).unwrap();
    pull.bind("tcp://127.0.0.1:*").unwrap();
    let r = returns_after(move || pull.recv(), || ctx.shutdown());
    assert!(matches!(r, Err(Error::Terminated)), "{r:?}");
}

#[test]
fn a_recv_watching_its_one_connection_returns_terminated() {
    // A lone tcp connection: the blocking recv watches its descriptor.
    let ctx = Context::new();
    let pull = ctx.socket(SocketType::Pull).unwrap();
    pull.bind("tcp://127.0.0.1:*").unwrap();
    let push = ctx.socket(SocketType::Push).unwrap();
    push.connect(&pull.last_endpoint().unwrap()).unwrap();
    push.send("one").unwrap();
    assert_eq!(&pull.recv().unwrap()[0][..], b"one");
    let r = returns_after(move || pull.recv(), || ctx.shutdown());
    assert!(matches!(r, Err(Error::Terminated)), "{r:?}");
    drop(push);
}

#[test]
fn a_send_blocked_on_a_full_pipe_returns_terminated() {
    let ctx = Context::new();
    let pull = ctx.socket(SocketType::Pull).unwrap();
    pull.update_options(|o| o.rcvhwm = 1);
    pull.bind("inproc://full").unwrap();
    let push = ctx.socket(SocketType::Push).unwrap();
    push.update_options(|o| o.sndhwm = 1);
    push.connect("inproc://full").unwrap();
    let mut queued = 0;
    while push.try_send("fill").is_ok() {
        queued += 1;
        assert!(queued < 10_000, "the pipe never filled");
    }
    let r = returns_after(move || push.send("blocked"), || ctx.shutdown());
    assert!(matches!(r, Err(Error::Terminated)), "{r:?}");
    drop(pull);
}

#[test]
fn a_send_with_no_peer_returns_terminated() {
    let ctx = Context::new();
    let push = ctx.socket(SocketType::Push).unwrap();
    let r = returns_after(move || push.send("nobody"), || ctx.shutdown());
    assert!(matches!(r, Err(Error::Terminated)), "{r:?}");
}

#[test]
fn a_blocked_proxy_returns_terminated() {
    let ctx = Context::new();
    let front = ctx.socket(SocketType::Router).unwrap();
    front.bind("tcp://127.0.0.1:*").unwrap();
    let back = ctx.socket(SocketType::Dealer).unwrap();
    back.bind("tcp://127.0.0.1:*").unwrap();
    let r = returns_after(move || proxy(&front, &back, None), || ctx.shutdown());
    assert!(matches!(r, Err(Error::Terminated)), "{r:?}");
}

#[test]
fn an_awaiting_recv_async_under_tokio_returns_terminated() {
    let ctx = Context::new();
    let sub = ctx.socket(SocketType::Sub).unwrap();
    sub.subscribe("").unwrap();
    sub.bind("tcp://127.0.0.1:*").unwrap();
    let rt = tokio::runtime::Builder::new_multi_thread()
        .worker_threads(1)
        .enable_time()
        .build()
        .unwrap();
    let task = rt.spawn(async move { sub.recv_async().await });
    thread::sleep(Duration::from_millis(100));
    assert!(!task.is_finished());
    ctx.shutdown();
    let r = rt
        .block_on(async { tokio::time::timeout(BOUND, task).await })
        .expect("recv_async did not return after the context ended")
        .unwrap();
    assert!(matches!(r, Err(Error::Terminated)), "{r:?}");
}

#[test]
fn every_later_call_returns_terminated() {
    let ctx = Context::new();
    let (a, b) = pair(&ctx, SocketType::Pair, SocketType::Pair, "later");
    ctx.shutdown();
    assert!(ctx.is_terminated());
    assert!(matches!(a.send("x"), Err(Error::Terminated)));
    assert!(matches!(a.try_send("x"), Err(Error::Terminated)));
    assert!(matches!(b.recv(), Err(Error::Terminated)));
    assert!(matches!(b.try_recv(), Err(Error::Terminated)));
    assert!(matches!(
        a.bind("tcp://127.0.0.1:*"),
        Err(Error::Terminated)
    ));
    assert!(matches!(
        b.connect("tcp://127.0.0.1:9"),
        Err(Error::Terminated)
    ));
    assert!(matches!(
        ctx.socket(SocketType::Pull),
        Err(Error::Terminated)
    ));
    let r = futures_lite::future::block_on(b.recv_async());
    assert!(matches!(r, Err(Error::Terminated)));
    // Another context is untouched.
    let other = Context::new();
    let (x, y) = pair(&other, SocketType::Pair, SocketType::Pair, "other");
    x.send("still").unwrap();
    assert_eq!(&y.recv().unwrap()[0][..], b"still");
}

#[test]
fn terminate_lets_queued_messages_out_within_linger() {
    // The receiver lives in another context, which stays up.
    let far = Context::new();
    let pull = far.socket(SocketType::Pull).unwrap();
    pull.bind("tcp://127.0.0.1:*").unwrap();
    let ctx = Context::new();
    let push = ctx.socket(SocketType::Push).unwrap();
    push.update_options(|o| o.linger = Some(BOUND));
    push.connect(&pull.last_endpoint().unwrap()).unwrap();
    for i in 0..1000u32 {
        push.send(i.to_be_bytes().to_vec()).unwrap();
    }
    ctx.terminate();
    assert!(matches!(push.send("late"), Err(Error::Terminated)));
    pull.update_options(|o| o.rcvtimeo = Some(BOUND));
    for i in 0..1000u32 {
        let m = pull.recv().expect("every queued message arrives");
        assert_eq!(&m[0][..], &i.to_be_bytes());
    }
}

#[test]
fn per_call_timeouts_end_with_would_block() {
    let ctx = Context::new();
    let pull = ctx.socket(SocketType::Pull).unwrap();
    pull.bind("inproc://timeouts").unwrap();
    let push = ctx.socket(SocketType::Push).unwrap();
    let t = Duration::from_millis(50);

    let start = Instant::now();
    assert!(matches!(pull.recv_timeout(t), Err(Error::WouldBlock)));
    assert!(start.elapsed() >= t);
    let start = Instant::now();
    assert!(matches!(push.send_timeout("x", t), Err(Error::WouldBlock)));
    assert!(start.elapsed() >= t);
    let start = Instant::now();
    let r = futures_lite::future::block_on(pull.recv_async_timeout(t));
    assert!(matches!(r, Err(Error::WouldBlock)), "{r:?}");
    assert!(start.elapsed() >= t);
    let start = Instant::now();
    let r = futures_lite::future::block_on(push.send_async_timeout("x", t));
    assert!(matches!(r, Err(Error::WouldBlock)), "{r:?}");
    assert!(start.elapsed() >= t);

    // Within the timeout, the calls succeed.
    push.connect("inproc://timeouts").unwrap();
    push.send_timeout("a", BOUND).unwrap();
    assert_eq!(&pull.recv_timeout(BOUND).unwrap()[0][..], b"a");
    futures_lite::future::block_on(push.send_async_timeout("b", BOUND)).unwrap();
    let m = futures_lite::future::block_on(pull.recv_async_timeout(BOUND)).unwrap();
    assert_eq!(&m[0][..], b"b");
    // A message that comes while an async receive with a timeout waits.
    let sender = thread::spawn(move || {
        thread::sleep(Duration::from_millis(50));
        push.send("c").unwrap();
        push
    });
    let m = futures_lite::future::block_on(pull.recv_async_timeout(BOUND)).unwrap();
    assert_eq!(&m[0][..], b"c");
    drop(sender.join().unwrap());
}

#[test]
fn async_calls_honour_rcvtimeo_and_sndtimeo() {
    let ctx = Context::new();
    let pull = ctx.socket(SocketType::Pull).unwrap();
    pull.update_options(|o| o.rcvtimeo = Some(Duration::from_millis(50)));
    pull.bind("inproc://sockopt-timeouts").unwrap();
    let push = ctx.socket(SocketType::Push).unwrap();
    push.update_options(|o| o.sndtimeo = Some(Duration::from_millis(50)));
    let rt = tokio::runtime::Builder::new_current_thread()
        .enable_time()
        .build()
        .unwrap();
    rt.block_on(async {
        let start = Instant::now();
        let r = tokio::time::timeout(BOUND, pull.recv_async())
            .await
            .unwrap();
        assert!(matches!(r, Err(Error::WouldBlock)), "{r:?}");
        assert!(start.elapsed() >= Duration::from_millis(50));
        let r = tokio::time::timeout(BOUND, push.send_async("x"))
            .await
            .unwrap();
        assert!(matches!(r, Err(Error::WouldBlock)), "{r:?}");
        // Zero: try once.
        pull.update_options(|o| o.rcvtimeo = Some(Duration::ZERO));
        let r = pull.recv_async().await;
        assert!(matches!(r, Err(Error::WouldBlock)), "{r:?}");
    });
}

#[test]
fn close_async_lingers_without_blocking_the_executor() {
    let far = Context::new();
    let pull = far.socket(SocketType::Pull).unwrap();
    pull.bind("tcp://127.0.0.1:*").unwrap();
    let ep = pull.last_endpoint().unwrap();
    let rt = tokio::runtime::Builder::new_current_thread()
        .enable_time()
        .build()
        .unwrap();
    rt.block_on(async {
        let push = Socket::new(SocketType::Push).unwrap();
        push.update_options(|o| o.linger = Some(BOUND));
        push.connect(&ep).unwrap();
        for i in 0..500u32 {
            push.send_async(i.to_be_bytes().to_vec()).await.unwrap();
        }
        // While the close lingers, the same (single-threaded) executor
        // keeps running other tasks.
        let ticks = std::sync::Arc::new(std::sync::atomic::AtomicUsize::new(0));
        let t = ticks.clone();
        let ticker = tokio::spawn(async move {
            loop {
                t.fetch_add(1, std::sync::atomic::Ordering::Relaxed);
                tokio::time::sleep(Duration::from_millis(1)).await;
            }
        });
        tokio::time::timeout(BOUND, push.close_async())
            .await
            .expect("close_async ends");
        ticker.abort();
    });
    pull.update_options(|o| o.rcvtimeo = Some(BOUND));
    for i in 0..500u32 {
        assert_eq!(&pull.recv().unwrap()[0][..], &i.to_be_bytes());
    }
}
