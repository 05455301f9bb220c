//! Cancel safety: `send_async` and `recv_async` futures dropped at random
//! points under load (each raced against a short timer) lose and duplicate
//! nothing. Sequence numbers are counted on the far side.
#![allow(clippy::unwrap_used)]

#[path = "common/cancel_points.rs"]
mod cancel_points;
mod common;

use bytes::Bytes;
use cancel_points::Rng;
use common::*;
use monocoque::{Message, SocketType};

const MESSAGES: u32 = 3_000;

fn seq(n: u32) -> Message {
    Message::from(Bytes::copy_from_slice(&n.to_be_bytes()))
}

fn num(m: &Message) -> u32 {
    u32::from_be_bytes(m[m.len() - 1][..].try_into().unwrap())
}

/// PUSH to PULL with tiny HWMs, so sends really wait; both sides keep
/// giving up on their futures. Order is kept on one pipe, so every
/// number must arrive once, in order.
async fn push_pull(tr: Tr) {
    let ctx = monocoque::Context::new();
    let pull = sock(&ctx, SocketType::Pull);
    pull.update_options(|o| o.rcvhwm = 4);
    let ep = bind(&pull, tr);
    let push = sock(&ctx, SocketType::Push);
    push.update_options(|o| o.sndhwm = 4);
    push.connect(&ep).unwrap();

    let sender = tokio::spawn(async move {
        let mut rng = Rng(0x9e37_79b9_7f4a_7c15);
        let (mut n, mut cancelled) = (0, 0u32);
        while n < MESSAGES {
            tokio::select! {
                r = push.send_async(seq(n)) => { r.unwrap(); n += 1; }
                _ = rng.timer() => cancelled += 1,
            }
        }
        (push, cancelled)
    });
    let mut rng = Rng(0xdead_beef_cafe_f00d);
    let (mut next, mut cancelled) = (0, 0u32);
    let deadline = tokio::time::Instant::now() + 6 * T;
    while next < MESSAGES {
        assert!(tokio::time::Instant::now() < deadline, "stuck at {next}");
        tokio::select! {
            r = pull.recv_async() => {
                assert_eq!(num(&r.unwrap()), next, "lost or duplicated");
                next += 1;
            }
            _ = rng.timer() => cancelled += 1,
        }
    }
    let (_push, send_cancelled) = sender.await.unwrap();
    assert_nothing(&pull);
    eprintln!("{tr:?}: {cancelled} recv and {send_cancelled} send futures dropped");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn push_pull_tcp() {
    push_pull(Tr::Tcp).await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn push_pull_inproc() {
    push_pull(Tr::Inproc).await;
}

/// REQ with both futures raced against timers: a dropped send sent
/// nothing (the REQ may send again), a dropped recv took nothing (the
/// reply is still there for the next recv), and the alternation holds.
async fn req_rep(tr: Tr) {
    let ctx = monocoque::Context::new();
    let rep = sock(&ctx, SocketType::Rep);
    let ep = bind(&rep, tr);
    let server = std::thread::spawn(move || {
        for _ in 0..MESSAGES / 3 {
            let m = rep.recv().unwrap();
            rep.send(m).unwrap();
        }
        rep
    });
    let req = sock(&ctx, SocketType::Req);
    req.connect(&ep).unwrap();
    let mut rng = Rng(0x1234_5678_9abc_def1);
    let mut cancelled = 0u32;
    for n in 0..MESSAGES / 3 {
        loop {
            tokio::select! {
                r = req.send_async(seq(n)) => { r.unwrap(); break; }
                _ = rng.timer() => cancelled += 1,
            }
        }
        let reply = loop {
            tokio::select! {
                r = req.recv_async() => break r.unwrap(),
                _ = rng.timer() => cancelled += 1,
            }
        };
        assert_eq!(num(&reply), n);
    }
    let _rep = server.join().unwrap();
    eprintln!("{tr:?}: {cancelled} REQ futures dropped");
}

#[tokio::test]
async fn req_rep_tcp() {
    req_rep(Tr::Tcp).await;
}

#[tokio::test]
async fn req_rep_inproc() {
    req_rep(Tr::Inproc).await;
}

/// DEALER to ROUTER and back, both ends async and cancelled at random.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn dealer_router_tcp() {
    let ctx = monocoque::Context::new();
    let router = sock(&ctx, SocketType::Router);
    router.update_options(|o| o.router_mandatory = true);
    let ep = bind(&router, Tr::Tcp);
    let dealer = sock(&ctx, SocketType::Dealer);
    dealer.update_options(|o| o.sndhwm = 8);
    dealer.connect(&ep).unwrap();
    let echo = tokio::spawn(async move {
        let mut rng = Rng(42);
        let mut done = 0;
        while done < MESSAGES {
            let m = loop {
                tokio::select! {
                    r = router.recv_async() => break r.unwrap(),
                    _ = rng.timer() => {}
                }
            };
            loop {
                tokio::select! {
                    r = router.send_async(m.clone()) => { r.unwrap(); break; }
                    _ = rng.timer() => {}
                }
            }
            done += 1;
        }
        router
    });
    let mut rng = Rng(7);
    let (mut sent, mut next) = (0, 0);
    let deadline = tokio::time::Instant::now() + 6 * T;
    while next < MESSAGES {
        assert!(tokio::time::Instant::now() < deadline, "stuck at {next}");
        tokio::select! {
            r = dealer.send_async(seq(sent)), if sent < MESSAGES && sent - next < 16 => {
                r.unwrap();
                sent += 1;
            }
            r = dealer.recv_async() => {
                assert_eq!(num(&r.unwrap()), next, "lost or duplicated");
                next += 1;
            }
            _ = rng.timer() => {}
        }
    }
    let _router = echo.await.unwrap();
    assert_nothing(&dealer);
}
