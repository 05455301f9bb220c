//! The watched receive: a blocking `recv` on a socket with one connection
//! that has carried a message polls that connection itself for a while
//! before it sleeps as usual. These tests hold it to what `recv` promises
//! whichever way the wait ends: RCVTIMEO kept, a message that comes after
//! the watch gave up still received, a new connection's messages after
//! the watched one closed, and a close from another thread seen.
#![allow(clippy::unwrap_used)]

mod common;

use std::time::{Duration, Instant};

use common::{bind, sock, Tr, T};
use monocoque::{Context, Error, Socket, SocketType};

/// A bound and a connected PAIR over `tr` that have each sent one message,
/// so each side has a connection it may watch; and the bound endpoint.
fn pair(ctx: &Context, tr: Tr) -> (Socket, Socket, String) {
    let a = sock(ctx, SocketType::Pair);
    let ep = bind(&a, tr);
    let b = sock(ctx, SocketType::Pair);
    b.connect(&ep).unwrap();
    b.send("ping").unwrap();
    assert_eq!(&a.recv().unwrap()[0][..], b"ping");
    a.send("pong").unwrap();
    assert_eq!(&b.recv().unwrap()[0][..], b"pong");
    (a, b, ep)
}

/// RCVTIMEO bounds the watch from both sides: no give-up before it, and a
/// timeout shorter than the watch (20 ms) is not stretched to it (the
/// median of 15 one-millisecond waits, so one slow moment of the machine
/// does not decide).
fn rcvtimeo_is_kept(tr: Tr) {
    let ctx = Context::new();
    let (a, _b, _) = pair(&ctx, tr);
    a.update_options(|o| o.rcvtimeo = Some(Duration::from_millis(50)));
    let start = Instant::now();
    assert!(matches!(a.recv(), Err(Error::WouldBlock)));
    let took = start.elapsed();
    assert!(took >= Duration::from_millis(50), "gave up after {took:?}");
    assert!(took < Duration::from_millis(50) + T, "took {took:?}");
    a.update_options(|o| o.rcvtimeo = Some(Duration::from_millis(1)));
    let mut took: Vec<Duration> = (0..15)
        .map(|_| {
            let start = Instant::now();
            assert!(matches!(a.recv(), Err(Error::WouldBlock)));
            start.elapsed()
        })
        .collect();
    took.sort();
    assert!(
        took[0] >= Duration::from_millis(1),
        "gave up after {:?}",
        took[0]
    );
    assert!(
        took[7] < Duration::from_millis(10),
        "1 ms waits took {took:?}"
    );
}

#[test]
fn rcvtimeo_is_kept_tcp() {
    rcvtimeo_is_kept(Tr::Tcp);
}

#[test]
fn rcvtimeo_is_kept_ipc() {
    rcvtimeo_is_kept(Tr::Ipc);
}

/// Messages sent while the receiver watches, and after it gave up
/// watching (20 ms) and sleeps as usual, all arrive, in order.
fn early_and_late_messages_arrive(tr: Tr) {
    let ctx = Context::new();
    let (a, b, _) = pair(&ctx, tr);
    let sender = std::thread::spawn(move || {
        for (i, pause) in [1u64, 5, 40, 0, 100, 2].into_iter().enumerate() {
            std::thread::sleep(Duration::from_millis(pause));
            b.send(format!("m{i}")).unwrap();
        }
        b
    });
    for i in 0..6 {
        assert_eq!(a.recv().unwrap()[0][..], *format!("m{i}").as_bytes());
    }
    drop(sender.join().unwrap());
}

#[test]
fn early_and_late_messages_arrive_tcp() {
    early_and_late_messages_arrive(Tr::Tcp);
}

#[test]
fn early_and_late_messages_arrive_ipc() {
    early_and_late_messages_arrive(Tr::Ipc);
}

/// The watched peer goes away while `recv` waits (its connection then
/// reads as at end of file for as long as anything holds it); a new
/// peer's message still arrives.
#[test]
fn a_new_connection_replaces_the_watched_one() {
    let ctx = Context::new();
    let (a, b, ep) = pair(&ctx, Tr::Tcp);
    let other = std::thread::spawn(move || {
        std::thread::sleep(Duration::from_millis(10));
        drop(b);
        std::thread::sleep(Duration::from_millis(50));
        let ctx = Context::new();
        let c = ctx.socket(SocketType::Pair).unwrap();
        c.connect(&ep).unwrap();
        c.send("two").unwrap();
        std::thread::sleep(Duration::from_millis(200));
    });
    a.update_options(|o| o.rcvtimeo = Some(T));
    assert_eq!(&a.recv().unwrap()[0][..], b"two");
    other.join().unwrap();
}
