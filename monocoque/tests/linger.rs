//! LINGER: closing a socket right after sending loses nothing a connected
//! peer was sent, whether queued, being written, or a command.
#![allow(clippy::unwrap_used)]

mod common;

use std::time::Duration;

use bytes::Bytes;
use common::{bind, sock, wait_peers, Tr};
use monocoque::{Context, SocketType};

fn send_then_close(tr: Tr, size: usize, n: usize) {
    let ctx = Context::new();
    let pull = sock(&ctx, SocketType::Pull);
    let ep = bind(&pull, tr);
    let push = sock(&ctx, SocketType::Push);
    push.update_options(|o| o.linger = Some(Duration::from_secs(10)));
    push.connect(&ep).unwrap();
    wait_peers(&push, 1);
    let body = Bytes::from(vec![3u8; size]);
    let reader = std::thread::spawn(move || {
        for i in 0..n {
            let m = pull
                .recv()
                .unwrap_or_else(|e| panic!("message {i} of {n}: {e}"));
            assert_eq!(m[0].len(), size);
        }
    });
    for _ in 0..n {
        push.send(body.clone()).unwrap();
    }
    drop(push); // lingers until everything reached the kernel
    drop(ctx);
    reader.join().unwrap();
}

#[test]
fn small_messages_survive_an_immediate_close_tcp() {
    send_then_close(Tr::Tcp, 64, 20_000);
}

#[test]
fn small_messages_survive_an_immediate_close_ipc() {
    send_then_close(Tr::Ipc, 64, 20_000);
}

#[test]
fn large_messages_survive_an_immediate_close() {
    send_then_close(Tr::Tcp, 1 << 20, 40);
}

#[test]
fn a_last_reply_survives_the_replier_closing() {
    for tr in [Tr::Inproc, Tr::Tcp] {
        let ctx = Context::new();
        let rep = sock(&ctx, SocketType::Rep);
        rep.update_options(|o| o.linger = Some(Duration::from_secs(10)));
        let ep = bind(&rep, tr);
        let req = sock(&ctx, SocketType::Req);
        req.connect(&ep).unwrap();
        req.send("q").unwrap();
        rep.recv().unwrap();
        rep.send("last").unwrap();
        drop(rep);
        assert_eq!(&req.recv().unwrap()[0][..], b"last", "over {tr:?}");
    }
}

/// A lone message goes out inline, on the caller's thread; one too big for
/// the socket's buffer is finished by the writer task. Content and order
/// survive both halves, whatever follows.
#[test]
fn a_lone_huge_message_is_finished_by_the_writer() {
    for tr in [Tr::Tcp, Tr::Ipc] {
        let ctx = Context::new();
        let pull = sock(&ctx, SocketType::Pull);
        let ep = bind(&pull, tr);
        let push = sock(&ctx, SocketType::Push);
        push.update_options(|o| o.linger = Some(Duration::from_secs(10)));
        push.connect(&ep).unwrap();
        wait_peers(&push, 1);
        let huge: Vec<u8> = (0..16u32 << 20).map(|i| (i % 253) as u8).collect();
        for round in 0..3u8 {
            push.send(vec![Bytes::from(vec![round]), Bytes::from(huge.clone())])
                .unwrap();
            push.send(vec![Bytes::from_static(b"after")]).unwrap();
            std::thread::sleep(Duration::from_millis(30)); // lone again
            let m = pull.recv().unwrap();
            assert_eq!(&m[0][..], &[round], "over {tr:?}");
            assert!(m[1][..] == huge[..], "huge body intact over {tr:?}");
            assert_eq!(&pull.recv().unwrap()[0][..], b"after");
        }
    }
}
