//! Blocking and async use without the user starting any particular
//! runtime: from plain threads, from tokio, and from futures-lite's
//! `block_on` (what smol runs on).
#![allow(clippy::unwrap_used)]

mod common;

use std::time::Duration;

use common::*;
use monocoque::{Context, Error, SocketType};

const ROUNDS: usize = 200;

#[test]
fn plain_threads() {
    let ctx = Context::new();
    let rep = sock(&ctx, SocketType::Rep);
    let ep = bind(&rep, Tr::Tcp);
    // Sockets are Send: each moves to its own thread.
    let server = std::thread::spawn(move || {
        for _ in 0..ROUNDS {
            let m = rep.recv().unwrap();
            rep.send(m).unwrap();
        }
        // Kept open: with LINGER 0 a close would drop the last reply.
        rep
    });
    let clients: Vec<_> = (0..4)
        .map(|c| {
            let req = sock(&ctx, SocketType::Req);
            req.connect(&ep).unwrap();
            std::thread::spawn(move || {
                for i in 0..ROUNDS / 4 {
                    let body = format!("{c}:{i}");
                    req.send(body.clone()).unwrap();
                    let r = req.recv();
                    assert_eq!(strs(&r.unwrap_or_else(|e| panic!("{body}: {e}"))), [body]);
                }
            })
        })
        .collect();
    for c in clients {
        c.join().unwrap();
    }
    drop(server.join().unwrap());

    // A socket shared by reference between threads (it is Sync).
    let pull = sock(&ctx, SocketType::Pull);
    let ep = bind(&pull, Tr::Inproc);
    let push = sock(&ctx, SocketType::Push);
    push.connect(&ep).unwrap();
    std::thread::scope(|s| {
        for t in 0..4 {
            let push = &push;
            s.spawn(move || {
                for i in 0..50 {
                    push.send(format!("{t}:{i}")).unwrap();
                }
            });
        }
    });
    let mut got: Vec<_> = (0..200).map(|_| recv_strs(&pull)[0].clone()).collect();
    got.sort();
    got.dedup();
    assert_eq!(got.len(), 200);
}

/// The same echo, asynchronously, on whatever executor runs it.
async fn echo_async(tr: Tr) {
    let ctx = Context::new();
    let router = sock(&ctx, SocketType::Router);
    let ep = bind(&router, tr);
    let dealer = sock(&ctx, SocketType::Dealer);
    dealer.connect(&ep).unwrap();
    for i in 0..ROUNDS {
        dealer.send_async(format!("{i}")).await.unwrap();
        let m = router.recv_async().await.unwrap();
        router.send_async(m).await.unwrap();
        let back = dealer.recv_async().await.unwrap();
        assert_eq!(strs(&back), [format!("{i}")]);
    }
    let req = sock(&ctx, SocketType::Req);
    req.connect(&ep).unwrap();
    req.send_async("question").await.unwrap();
    let mut m = router.recv_async().await.unwrap();
    assert_eq!(strs(&m)[1..], ["", "question"]);
    m.pop_back();
    m.push_back("answer");
    router.send_async(m).await.unwrap();
    assert_eq!(strs(&req.recv_async().await.unwrap()), ["answer"]);
}

#[tokio::test]
async fn tokio_current_thread() {
    echo_async(Tr::Tcp).await;
    echo_async(Tr::Inproc).await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn tokio_multi_thread_tasks() {
    let ctx = Context::new();
    let pull = sock(&ctx, SocketType::Pull);
    let ep = bind(&pull, Tr::Tcp);
    let mut tasks = Vec::new();
    for t in 0..4 {
        let push = sock(&ctx, SocketType::Push);
        push.connect(&ep).unwrap();
        // The future of a Send + Sync socket is Send: it can be spawned.
        tasks.push(tokio::spawn(async move {
            for i in 0..100 {
                push.send_async(format!("{t}:{i}")).await.unwrap();
            }
            push
        }));
    }
    let recv = tokio::spawn(async move {
        let mut next = [0usize; 4];
        for _ in 0..400 {
            let m = pull.recv_async().await.unwrap();
            let s = strs(&m).remove(0);
            let (t, i) = s.split_once(':').unwrap();
            let t: usize = t.parse().unwrap();
            assert_eq!(i.parse::<usize>().unwrap(), next[t]);
            next[t] += 1;
        }
        next
    });
    let next = tokio::time::timeout(T, recv).await.unwrap().unwrap();
    assert_eq!(next, [100; 4]);
    for t in tasks {
        t.await.unwrap();
    }
    // A tokio timeout around recv_async.
    let sub = sock(&ctx, SocketType::Sub);
    let r = tokio::time::timeout(Duration::from_millis(20), sub.recv_async()).await;
    assert!(r.is_err());
}

/// smol: tasks on a `smol::Executor`, and a `recv_async` raced against a
/// smol timer (cancel-safe: the message sent afterwards is the one received).
#[test]
fn smol_executor() {
    let ex = smol::Executor::new();
    smol::block_on(ex.run(async {
        ex.spawn(echo_async(Tr::Tcp)).await;
        ex.spawn(echo_async(Tr::Ipc)).await;
        echo_async(Tr::Inproc).await;
        let ctx = Context::new();
        let pull = sock(&ctx, SocketType::Pull);
        let ep = bind(&pull, Tr::Tcp);
        let push = sock(&ctx, SocketType::Push);
        push.connect(&ep).unwrap();
        let timed_out =
            futures_lite::future::or(async { Some(pull.recv_async().await.unwrap()) }, async {
                smol::Timer::after(Duration::from_millis(50)).await;
                None
            })
            .await;
        assert!(timed_out.is_none());
        push.send_async("after").await.unwrap();
        assert_eq!(strs(&pull.recv_async().await.unwrap()), ["after"]);
    }));
}

#[test]
fn futures_lite_block_on() {
    futures_lite::future::block_on(echo_async(Tr::Tcp));
    futures_lite::future::block_on(echo_async(Tr::Ipc));
    futures_lite::future::block_on(echo_async(Tr::Inproc));
}

#[test]
fn async_errors_are_immediate() {
    futures_lite::future::block_on(async {
        let ctx = Context::new();
        let req = sock(&ctx, SocketType::Req);
        assert!(matches!(req.recv_async().await, Err(Error::State)));
        let push = sock(&ctx, SocketType::Push);
        assert!(matches!(
            push.recv_async().await,
            Err(Error::NotSupported(_))
        ));
    });
}
