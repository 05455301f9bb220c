//! Peer epochs: a reply or a route meant for a connection that is gone never
//! reaches the connection that replaced it, even when the new one reuses the
//! old one's slot (and, for ROUTER, its routing id).
#![allow(clippy::unwrap_used)]

mod common;

use std::time::Duration;

use common::{bind, sock, wait_for, Tr, QUIET};
use monocoque::{Context, Error, SocketType};

fn ghost_reply(tr: Tr) {
    let ctx = Context::new();
    let rep = sock(&ctx, SocketType::Rep);
    let ep = bind(&rep, tr);

    let first = sock(&ctx, SocketType::Req);
    first.connect(&ep).unwrap();
    first.send("question").unwrap();
    assert_eq!(&rep.recv().unwrap()[0][..], b"question");
    drop(first);
    wait_for("the first requester to go", || rep.peer_count() == 0);

    // The newcomer takes the freed slot; the answer to the old question
    // must not reach it.
    let second = sock(&ctx, SocketType::Dealer);
    second.connect(&ep).unwrap();
    wait_for("the newcomer", || rep.peer_count() == 1);
    rep.send("answer for the first").unwrap();
    second.update_options(|o| o.rcvtimeo = Some(QUIET));
    assert!(matches!(second.recv(), Err(Error::WouldBlock)));

    // And the REP socket still works for the newcomer.
    second.update_options(|o| o.rcvtimeo = Some(Duration::from_secs(5)));
    second
        .send(vec![bytes::Bytes::new(), bytes::Bytes::from("q2")])
        .unwrap();
    assert_eq!(&rep.recv().unwrap()[0][..], b"q2");
    rep.send("a2").unwrap();
    let got = second.recv().unwrap();
    assert_eq!(&got[1][..], b"a2");
}

#[test]
fn rep_reply_never_reaches_the_successor_tcp() {
    ghost_reply(Tr::Tcp);
}

#[test]
fn rep_reply_never_reaches_the_successor_inproc() {
    ghost_reply(Tr::Inproc);
}

/// A ROUTER peer that reconnects with the same routing id is a new entry:
/// routing by id reaches the new connection (as in libzmq), and nothing
/// queued for the old connection is handed to the new one.
#[test]
fn router_identity_moves_to_the_reconnected_peer() {
    let ctx = Context::new();
    let router = sock(&ctx, SocketType::Router);
    router.update_options(|o| o.router_mandatory = true);
    let ep = bind(&router, Tr::Tcp);

    let old = sock(&ctx, SocketType::Dealer);
    old.update_options(|o| o.routing_id = Some("worker".into()));
    old.connect(&ep).unwrap();
    old.send("hello").unwrap();
    let got = router.recv().unwrap();
    assert_eq!(&got[0][..], b"worker");
    drop(old);
    wait_for("the old peer to go", || router.peer_count() == 0);
    assert!(matches!(
        router.send(vec![bytes::Bytes::from("worker"), bytes::Bytes::from("x")]),
        Err(Error::HostUnreachable)
    ));

    let new = sock(&ctx, SocketType::Dealer);
    new.update_options(|o| o.routing_id = Some("worker".into()));
    new.connect(&ep).unwrap();
    wait_for("the new peer", || router.peer_count() == 1);
    router
        .send(vec![
            bytes::Bytes::from("worker"),
            bytes::Bytes::from("to new"),
        ])
        .unwrap();
    assert_eq!(&new.recv().unwrap()[0][..], b"to new");
}
