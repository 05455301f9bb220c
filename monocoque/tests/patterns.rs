//! Pattern semantics, Monocoque to Monocoque, after RFC 28 (REQ-REP), 29
//! (PUB-SUB), 30 (PIPELINE), 31 (PAIR) and libzmq's `test_spec_*` tests.
//! Every scenario that makes sense on more than one transport runs on tcp,
//! ipc and inproc.
#![allow(clippy::unwrap_used)]

mod common;

use std::io::{Read, Write};
use std::time::Duration;

use bytes::Bytes;
use common::*;
use monocoque::{Context, Error, SocketType};

/// Runs a scenario `fn name(tr: Tr)` as three tests: `name::tcp`,
/// `name::ipc` and `name::inproc`.
macro_rules! per_transport {
    ($($name:ident),* $(,)?) => {$(
        mod $name {
            use super::*;
            #[test]
            fn tcp() {
                super::$name(Tr::Tcp)
            }
            #[test]
            fn ipc() {
                super::$name(Tr::Ipc)
            }
            #[test]
            fn inproc() {
                super::$name(Tr::Inproc)
            }
        }
    )*};
}

per_transport!(
    req_rep_alternation,
    req_router_envelope,
    rep_keeps_envelope,
    push_round_robin,
    dealer_round_robin,
    pull_fair_queue,
    router_fair_queue,
    router_mandatory,
    router_handover,
    pub_hwm_drops,
    push_hwm_blocks,
    late_joiner,
    unsubscribe,
    xpub_sees_subscriptions,
    xpub_welcome_msg,
    connect_before_bind,
    bound_push_drops_departed_peer,
    disconnect,
    unbind,
    pair_exclusive,
    multipart_and_empty_frames,
    large_and_small_in_a_row,
);

fn req_rep_alternation(tr: Tr) {
    let ctx = Context::new();
    let rep = sock(&ctx, SocketType::Rep);
    let ep = bind(&rep, tr);
    let req = sock(&ctx, SocketType::Req);
    req.connect(&ep).unwrap();

    // REQ must send first, REP must receive first.
    assert!(matches!(req.try_recv(), Err(Error::State)));
    assert!(matches!(rep.send("too early"), Err(Error::State)));

    for i in 0..5 {
        req.send(format!("ping {i}")).unwrap();
        assert!(matches!(req.send("twice"), Err(Error::State)));
        assert_eq!(recv_strs(&rep), [format!("ping {i}")]);
        assert!(matches!(rep.try_recv(), Err(Error::State)));
        rep.send(format!("pong {i}")).unwrap();
        assert!(matches!(rep.send("twice"), Err(Error::State)));
        assert_eq!(recv_strs(&req), [format!("pong {i}")]);
    }
}

fn req_router_envelope(tr: Tr) {
    let ctx = Context::new();
    let router = sock(&ctx, SocketType::Router);
    let ep = bind(&router, tr);
    let req = sock(&ctx, SocketType::Req);
    req.update_options(|o| o.routing_id = Some(Bytes::from_static(b"client")));
    req.connect(&ep).unwrap();

    req.send(msg(&["a", "b"])).unwrap();
    // RFC 28: the REQ adds an empty delimiter; the ROUTER prefixes the id.
    assert_eq!(recv_strs(&router), ["client", "", "a", "b"]);
    router.send(msg(&["client", "", "reply"])).unwrap();
    assert_eq!(recv_strs(&req), ["reply"]);

    // A reply without the delimiter is malformed and dropped by the REQ.
    req.send("again").unwrap();
    assert_eq!(recv_strs(&router), ["client", "", "again"]);
    router.send(msg(&["client", "no delimiter"])).unwrap();
    assert_nothing(&req);
    router.send(msg(&["client", "", "good"])).unwrap();
    assert_eq!(recv_strs(&req), ["good"]);
}

fn rep_keeps_envelope(tr: Tr) {
    let ctx = Context::new();
    let rep = sock(&ctx, SocketType::Rep);
    let ep = bind(&rep, tr);
    let dealer = sock(&ctx, SocketType::Dealer);
    dealer.connect(&ep).unwrap();

    // A DEALER speaks to a REP with the envelope written out; the REP hands
    // out only the body and puts the whole envelope on the reply.
    dealer.send(msg(&["hop 1", "hop 2", "", "body"])).unwrap();
    assert_eq!(recv_strs(&rep), ["body"]);
    rep.send(msg(&["answer", "more"])).unwrap();
    assert_eq!(recv_strs(&dealer), ["hop 1", "hop 2", "", "answer", "more"]);

    // A request without a delimiter is dropped; the next one is answered.
    dealer.send(msg(&["no delimiter"])).unwrap();
    dealer.send(msg(&["", "second"])).unwrap();
    assert_eq!(recv_strs(&rep), ["second"]);
    rep.send("ok").unwrap();
    assert_eq!(recv_strs(&dealer), ["", "ok"]);
}

/// Sends 3 x `per` messages from `sender` (bound) to three connected
/// `ty` peers and checks each got exactly `per`, in order.
fn round_robin(tr: Tr, sender_ty: SocketType, ty: SocketType) {
    const PEERS: usize = 3;
    let per = 20;
    let ctx = Context::new();
    let sender = sock(&ctx, sender_ty);
    let ep = bind(&sender, tr);
    let peers: Vec<_> = (0..PEERS).map(|_| sock(&ctx, ty)).collect();
    for p in &peers {
        p.connect(&ep).unwrap();
    }
    wait_peers(&sender, PEERS);
    for i in 0..PEERS * per {
        sender.send(format!("{i}")).unwrap();
    }
    let mut all = Vec::new();
    for p in &peers {
        let got: Vec<usize> = (0..per).map(|_| recv_strs(p)[0].parse().unwrap()).collect();
        assert_nothing(p);
        // Round robin: every PEERS-th message, in order.
        for w in got.windows(2) {
            assert_eq!(w[1], w[0] + PEERS, "{got:?}");
        }
        all.extend(got);
    }
    all.sort_unstable();
    assert_eq!(all, (0..PEERS * per).collect::<Vec<_>>());
}

fn push_round_robin(tr: Tr) {
    round_robin(tr, SocketType::Push, SocketType::Pull);
}

fn dealer_round_robin(tr: Tr) {
    round_robin(tr, SocketType::Dealer, SocketType::Dealer);
}

/// Three senders connected to one bound receiver: every message of each
/// arrives, each sender's in order, none starved.
fn fair_queue(tr: Tr, sender_ty: SocketType, recv_ty: SocketType) {
    const PEERS: usize = 3;
    let ctx = Context::new();
    let receiver = sock(&ctx, recv_ty);
    let ep = bind(&receiver, tr);
    let senders: Vec<_> = (0..PEERS)
        .map(|i| {
            let s = sock(&ctx, sender_ty);
            s.update_options(|o| o.routing_id = Some(Bytes::from(format!("s{i}"))));
            s.connect(&ep).unwrap();
            s
        })
        .collect();
    wait_peers(&receiver, PEERS);
    let strip = |m: Vec<String>| -> (usize, String) {
        let (who, what) = m.last().unwrap().split_once(':').unwrap();
        // ROUTER prefixes the routing id; PULL does not.
        if recv_ty == SocketType::Router {
            assert_eq!(m[0], format!("s{who}"));
        }
        (who.parse().unwrap(), what.to_owned())
    };
    // libzmq's test_pull_fair_queue_in: everyone sends "A", then "B"; the
    // first PEERS messages are all the A's.
    for (i, s) in senders.iter().enumerate() {
        s.send(format!("{i}:A")).unwrap();
    }
    let first: Vec<_> = (0..PEERS).map(|_| strip(recv_strs(&receiver))).collect();
    for (i, s) in senders.iter().enumerate() {
        s.send(format!("{i}:B")).unwrap();
    }
    let second: Vec<_> = (0..PEERS).map(|_| strip(recv_strs(&receiver))).collect();
    assert!(first.iter().all(|(_, w)| w == "A"), "{first:?}");
    assert!(second.iter().all(|(_, w)| w == "B"), "{second:?}");
    let mut who: Vec<_> = first.iter().map(|(w, _)| *w).collect();
    who.sort_unstable();
    assert_eq!(who, (0..PEERS).collect::<Vec<_>>());

    // A flooding sender does not starve a quiet one.
    for n in 0..500 {
        senders[0].send(format!("0:{n}")).unwrap();
    }
    senders[1].send("1:quiet").unwrap();
    let mut next = [0usize; PEERS];
    let mut quiet = false;
    for _ in 0..501 {
        let (who, what) = strip(recv_strs(&receiver));
        if who == 1 {
            assert_eq!(what, "quiet");
            quiet = true;
        } else {
            assert_eq!(what, next[who].to_string(), "per-sender order");
            next[who] += 1;
        }
    }
    assert!(quiet);
    assert_eq!(next[0], 500);
    assert_nothing(&receiver);
}

fn pull_fair_queue(tr: Tr) {
    fair_queue(tr, SocketType::Push, SocketType::Pull);
}

fn router_fair_queue(tr: Tr) {
    fair_queue(tr, SocketType::Dealer, SocketType::Router);
}

fn router_mandatory(tr: Tr) {
    let ctx = Context::new();
    let router = sock(&ctx, SocketType::Router);
    let ep = bind(&router, tr);
    // Without ROUTER_MANDATORY an unroutable message is dropped silently.
    router.send(msg(&["nobody", "x"])).unwrap();
    router.update_options(|o| o.router_mandatory = true);
    assert!(matches!(
        router.send(msg(&["nobody", "x"])),
        Err(Error::HostUnreachable)
    ));
    let dealer = sock(&ctx, SocketType::Dealer);
    dealer.update_options(|o| o.routing_id = Some(Bytes::from_static(b"known")));
    dealer.connect(&ep).unwrap();
    wait_peers(&router, 1);
    router.send(msg(&["known", "hello"])).unwrap();
    assert_eq!(recv_strs(&dealer), ["hello"]);
    drop(dealer);
    wait_peers(&router, 0);
    assert!(matches!(
        router.send(msg(&["known", "x"])),
        Err(Error::HostUnreachable)
    ));
}

fn router_handover(tr: Tr) {
    let ctx = Context::new();
    let router = sock(&ctx, SocketType::Router);
    router.update_options(|o| o.router_handover = true);
    let ep = bind(&router, tr);
    let first = sock(&ctx, SocketType::Dealer);
    first.update_options(|o| o.routing_id = Some(Bytes::from_static(b"X")));
    first.connect(&ep).unwrap();
    first.send("from first").unwrap();
    assert_eq!(recv_strs(&router), ["X", "from first"]);

    let second = sock(&ctx, SocketType::Dealer);
    second.update_options(|o| o.routing_id = Some(Bytes::from_static(b"X")));
    second.connect(&ep).unwrap();
    second.send("from second").unwrap();
    assert_eq!(recv_strs(&router), ["X", "from second"]);
    // The identity now routes to the second connection only.
    router.send(msg(&["X", "to X"])).unwrap();
    assert_eq!(recv_strs(&second), ["to X"]);
    assert_nothing(&first);
}

fn pub_hwm_drops(tr: Tr) {
    let ctx = Context::new();
    let publ = sock(&ctx, SocketType::Pub);
    publ.update_options(|o| o.sndhwm = 10);
    let ep = bind(&publ, tr);
    let sub = sock(&ctx, SocketType::Sub);
    sub.update_options(|o| o.rcvhwm = 10);
    sub.subscribe("").unwrap();
    sub.connect(&ep).unwrap();
    wait_for("the subscription", || publ.subscription_count() == 1);
    // PUB never blocks: everything beyond the HWMs (and socket buffers) is
    // dropped while the subscriber does not read.
    const SENT: usize = 5_000;
    let body = Bytes::from(vec![7u8; 1024]);
    for _ in 0..SENT {
        publ.try_send(body.clone()).unwrap();
    }
    std::thread::sleep(QUIET);
    let mut got = 0;
    sub.update_options(|o| o.rcvtimeo = Some(QUIET));
    while sub.recv().is_ok() {
        got += 1;
    }
    assert!(got > 0, "nothing arrived");
    assert!(got < SENT, "nothing was dropped ({got})");
}

fn push_hwm_blocks(tr: Tr) {
    let ctx = Context::new();
    let pull = sock(&ctx, SocketType::Pull);
    pull.update_options(|o| o.rcvhwm = 10);
    let ep = bind(&pull, tr);
    let push = sock(&ctx, SocketType::Push);
    push.update_options(|o| {
        o.sndhwm = 10;
        o.sndtimeo = Some(Duration::from_millis(50));
    });
    push.connect(&ep).unwrap();
    wait_peers(&push, 1);
    // Big messages, so the kernel's socket buffers hold few of them.
    let body = Bytes::from(vec![1u8; 64 * 1024]);
    let mut sent = 0;
    let mut blocked = 0;
    while blocked < 3 {
        match push.try_send(body.clone()) {
            Ok(()) => {
                sent += 1;
                blocked = 0;
                assert!(sent < 10_000, "PUSH never blocked");
            }
            Err(Error::WouldBlock) => {
                blocked += 1;
                std::thread::sleep(Duration::from_millis(30));
            }
            Err(e) => panic!("{e}"),
        }
    }
    // A blocking send gives up after SNDTIMEO.
    assert!(matches!(push.send(body.clone()), Err(Error::WouldBlock)));
    // Nothing accepted was lost.
    for i in 0..sent {
        let m = pull
            .recv()
            .unwrap_or_else(|e| panic!("message {i} of {sent}: {e}"));
        assert_eq!(m[0].len(), body.len());
    }
    assert_nothing(&pull);
    // And the pipe flows again.
    push.send("after").unwrap();
    assert_eq!(recv_strs(&pull), ["after"]);
}

fn late_joiner(tr: Tr) {
    let ctx = Context::new();
    let publ = sock(&ctx, SocketType::Pub);
    let ep = bind(&publ, tr);
    publ.send("before anyone").unwrap();
    let sub = sock(&ctx, SocketType::Sub);
    sub.connect(&ep).unwrap();
    wait_peers(&publ, 1);
    publ.send("before the subscription").unwrap();
    sub.subscribe("").unwrap();
    wait_for("the subscription", || publ.subscription_count() == 1);
    publ.send("after").unwrap();
    assert_eq!(recv_strs(&sub), ["after"]);
    assert_nothing(&sub);
}

fn unsubscribe(tr: Tr) {
    let ctx = Context::new();
    let publ = sock(&ctx, SocketType::Pub);
    let ep = bind(&publ, tr);
    let sub = sock(&ctx, SocketType::Sub);
    sub.subscribe("a").unwrap();
    sub.connect(&ep).unwrap();
    wait_for("the subscription", || publ.subscription_count() == 1);
    for t in ["a1", "b1", "ab", "ba"] {
        publ.send(t).unwrap();
    }
    assert_eq!(recv_strs(&sub), ["a1"]);
    assert_eq!(recv_strs(&sub), ["ab"]);
    sub.unsubscribe("a").unwrap();
    sub.subscribe("b").unwrap();
    wait_for("the second subscription", || publ.subscription_count() == 2);
    for t in ["a2", "b2"] {
        publ.send(t).unwrap();
    }
    assert_eq!(recv_strs(&sub), ["b2"]);
    assert_nothing(&sub);
    // Unsubscribing what was never subscribed changes nothing.
    sub.unsubscribe("zzz").unwrap();
    publ.send("b3").unwrap();
    assert_eq!(recv_strs(&sub), ["b3"]);
}

fn xpub_sees_subscriptions(tr: Tr) {
    let ctx = Context::new();
    let xpub = sock(&ctx, SocketType::Xpub);
    let ep = bind(&xpub, tr);
    let s1 = sock(&ctx, SocketType::Sub);
    let s2 = sock(&ctx, SocketType::Sub);
    s1.connect(&ep).unwrap();
    s2.connect(&ep).unwrap();
    wait_peers(&xpub, 2);

    s1.subscribe("topic").unwrap();
    assert_eq!(xpub.recv().unwrap()[0][..], b"\x01topic"[..]);
    // A duplicate is not passed up without XPUB_VERBOSE.
    s2.subscribe("topic").unwrap();
    wait_for("the duplicate", || xpub.subscription_count() == 2);
    assert_nothing(&xpub);
    // Only the last unsubscription is passed up.
    s1.unsubscribe("topic").unwrap();
    assert_nothing(&xpub);
    s2.unsubscribe("topic").unwrap();
    assert_eq!(xpub.recv().unwrap()[0][..], b"\x00topic"[..]);

    // XPUB_VERBOSE passes every subscription, duplicates included; libzmq
    // still passes only the last unsubscription (that is XPUB_VERBOSER).
    xpub.update_options(|o| o.xpub_verbose = true);
    s1.subscribe("v").unwrap();
    assert_eq!(xpub.recv().unwrap()[0][..], b"\x01v"[..]);
    s2.subscribe("v").unwrap();
    assert_eq!(xpub.recv().unwrap()[0][..], b"\x01v"[..]);
    s1.unsubscribe("v").unwrap();
    assert_nothing(&xpub);
    s2.unsubscribe("v").unwrap();
    assert_eq!(xpub.recv().unwrap()[0][..], b"\x00v"[..]);

    // Messages go to matching subscribers only.
    s1.subscribe("m").unwrap();
    assert_eq!(xpub.recv().unwrap()[0][..], b"\x01m"[..]);
    xpub.send("m1").unwrap();
    xpub.send("x1").unwrap();
    assert_eq!(recv_strs(&s1), ["m1"]);
    assert_nothing(&s1);
    assert_nothing(&s2);

    // A departing subscriber's subscriptions are cancelled upstream.
    drop(s1);
    assert_eq!(xpub.recv().unwrap()[0][..], b"\x00m"[..]);
}

fn xpub_welcome_msg(tr: Tr) {
    let ctx = Context::new();
    let xpub = sock(&ctx, SocketType::Xpub);
    xpub.update_options(|o| o.xpub_welcome_msg = Some(Bytes::from_static(b"Welcome")));
    let ep = bind(&xpub, tr);
    let sub = sock(&ctx, SocketType::Sub);
    sub.subscribe("W").unwrap();
    sub.connect(&ep).unwrap();
    assert_eq!(xpub.recv().unwrap()[0][..], b"\x01W"[..]);
    assert_eq!(recv_strs(&sub), ["Welcome"]);
}

fn connect_before_bind(tr: Tr) {
    let ctx = Context::new();
    let ep = match tr {
        Tr::Tcp => {
            // A port that is free now.
            let l = std::net::TcpListener::bind("127.0.0.1:0").unwrap();
            format!("tcp://{}", l.local_addr().unwrap())
        }
        _ => endpoint(tr),
    };
    let push = sock(&ctx, SocketType::Push);
    push.connect(&ep).unwrap();
    // Queued for the connection to come.
    push.send("early").unwrap();
    let pull = sock(&ctx, SocketType::Pull);
    pull.bind(&ep).unwrap();
    assert_eq!(recv_strs(&pull), ["early"]);
    push.send("later").unwrap();
    assert_eq!(recv_strs(&pull), ["later"]);

    // The same for a REQ and a ROUTER.
    let ep2 = match tr {
        Tr::Tcp => {
            let l = std::net::TcpListener::bind("127.0.0.1:0").unwrap();
            format!("tcp://{}", l.local_addr().unwrap())
        }
        _ => endpoint(tr),
    };
    let req = sock(&ctx, SocketType::Req);
    req.connect(&ep2).unwrap();
    req.send("question").unwrap();
    let router = sock(&ctx, SocketType::Router);
    router.bind(&ep2).unwrap();
    let mut m = router.recv().unwrap();
    assert_eq!(strs(&m)[1..], ["", "question"]);
    m.pop_back();
    m.push_back("answer");
    router.send(m).unwrap();
    assert_eq!(recv_strs(&req), ["answer"]);
}

fn bound_push_drops_departed_peer(tr: Tr) {
    let ctx = Context::new();
    let push = sock(&ctx, SocketType::Push);
    let ep = bind(&push, tr);
    let a = sock(&ctx, SocketType::Pull);
    let b = sock(&ctx, SocketType::Pull);
    a.connect(&ep).unwrap();
    b.connect(&ep).unwrap();
    wait_peers(&push, 2);
    push.send("1").unwrap();
    push.send("2").unwrap();
    let mut got = vec![recv_strs(&a), recv_strs(&b)];
    got.sort();
    assert_eq!(got, [["1"], ["2"]]);
    drop(a);
    wait_peers(&push, 1);
    for i in 0..10 {
        push.send(format!("{i}")).unwrap();
    }
    for i in 0..10 {
        assert_eq!(recv_strs(&b), [format!("{i}")]);
    }
    drop(b);
    wait_peers(&push, 0);
    // With no peer left a bound PUSH has nowhere to queue.
    assert!(matches!(push.try_send("x"), Err(Error::WouldBlock)));
}

fn disconnect(tr: Tr) {
    let ctx = Context::new();
    let pull = sock(&ctx, SocketType::Pull);
    let ep = bind(&pull, tr);
    let push = sock(&ctx, SocketType::Push);
    push.connect(&ep).unwrap();
    push.send("one").unwrap();
    assert_eq!(recv_strs(&pull), ["one"]);
    push.disconnect(&ep).unwrap();
    assert!(matches!(push.disconnect(&ep), Err(Error::NotFound(_))));
    wait_peers(&pull, 0);
    wait_peers(&push, 0);
    assert!(matches!(push.try_send("x"), Err(Error::WouldBlock)));
    // Connecting again works.
    push.connect(&ep).unwrap();
    push.send("two").unwrap();
    assert_eq!(recv_strs(&pull), ["two"]);
}

fn unbind(tr: Tr) {
    let ctx = Context::new();
    let pull = sock(&ctx, SocketType::Pull);
    let ep = bind(&pull, tr);
    let push = sock(&ctx, SocketType::Push);
    push.connect(&ep).unwrap();
    push.send("one").unwrap();
    assert_eq!(recv_strs(&pull), ["one"]);
    pull.unbind(&ep).unwrap();
    assert!(matches!(pull.unbind(&ep), Err(Error::NotFound(_))));
    // libzmq closes the connections accepted on an unbound tcp or ipc
    // endpoint; an inproc unbind only frees the name.
    if tr != Tr::Inproc {
        wait_peers(&pull, 0);
    }
    let late = sock(&ctx, SocketType::Push);
    late.connect(&ep).unwrap();
    late.send("nobody listens").unwrap();
    assert_nothing(&pull);
    // The endpoint can be bound again.
    pull.bind(&ep).unwrap();
    assert_eq!(recv_strs(&pull), ["nobody listens"]);
}

fn pair_exclusive(tr: Tr) {
    let ctx = Context::new();
    let a = sock(&ctx, SocketType::Pair);
    let ep = bind(&a, tr);
    let b = sock(&ctx, SocketType::Pair);
    b.connect(&ep).unwrap();
    wait_peers(&a, 1);
    let c = sock(&ctx, SocketType::Pair);
    c.connect(&ep).unwrap();
    for i in 0..10 {
        a.send(format!("to b {i}")).unwrap();
        b.send(format!("to a {i}")).unwrap();
    }
    for i in 0..10 {
        assert_eq!(recv_strs(&b), [format!("to b {i}")]);
        assert_eq!(recv_strs(&a), [format!("to a {i}")]);
    }
    // The second connecter never became the binder's peer.
    assert_eq!(a.peer_count(), 1);
    assert_nothing(&c);
}

fn multipart_and_empty_frames(tr: Tr) {
    let ctx = Context::new();
    let a = sock(&ctx, SocketType::Dealer);
    let ep = bind(&a, tr);
    let b = sock(&ctx, SocketType::Dealer);
    b.connect(&ep).unwrap();
    let big = Bytes::from(vec![0xabu8; 1 << 20]);
    let m: monocoque::Message = vec![
        Bytes::new(),
        Bytes::from_static(b"x"),
        Bytes::new(),
        big.clone(),
        Bytes::new(),
    ]
    .into();
    a.send(m.clone()).unwrap();
    b.send(m.clone()).unwrap();
    assert_eq!(b.recv().unwrap(), m);
    assert_eq!(a.recv().unwrap(), m);
    // An empty message (no frame) is refused.
    assert!(matches!(
        a.send(monocoque::Message::new()),
        Err(Error::Invalid(_))
    ));
}

/// A stream of large frames (read in place by the engine, each from the
/// header onward) interleaved with small ones arrives intact and in order.
fn large_and_small_in_a_row(tr: Tr) {
    let ctx = Context::new();
    let pull = sock(&ctx, SocketType::Pull);
    let ep = bind(&pull, tr);
    let push = sock(&ctx, SocketType::Push);
    push.connect(&ep).unwrap();
    let sizes = [
        1 << 20,
        3 << 19,
        70_000,
        5,
        1 << 20,
        65_536,
        0,
        2 << 20,
        300,
    ];
    let body = |i: usize, n: usize| -> Bytes {
        (0..n)
            .map(|k| (k as u8).wrapping_mul(31).wrapping_add(i as u8))
            .collect()
    };
    for round in 0..3 {
        for (i, &n) in sizes.iter().enumerate() {
            push.send(body(round * 16 + i, n)).unwrap();
        }
    }
    for round in 0..3 {
        for (i, &n) in sizes.iter().enumerate() {
            let m = pull.recv().unwrap();
            assert_eq!(m.len(), 1);
            assert!(
                m[0] == body(round * 16 + i, n),
                "message {i} of round {round}"
            );
        }
    }
}

// --- Transport-specific scenarios ---------------------------------------

/// A connecting PUSH keeps what it queued while its peer was down and
/// delivers it once the peer is back.
fn peer_restarts(ep_of: impl Fn() -> String) {
    let ctx = Context::new();
    let pull = sock(&ctx, SocketType::Pull);
    pull.bind(&ep_of()).unwrap();
    let ep = pull.last_endpoint().unwrap();
    let push = sock(&ctx, SocketType::Push);
    push.connect(&ep).unwrap();
    push.send("before").unwrap();
    assert_eq!(recv_strs(&pull), ["before"]);
    drop(pull);
    wait_peers(&push, 0);
    for i in 0..10 {
        push.send(format!("queued {i}")).unwrap();
    }
    let pull = sock(&ctx, SocketType::Pull);
    pull.bind(&ep).unwrap();
    for i in 0..10 {
        assert_eq!(recv_strs(&pull), [format!("queued {i}")]);
    }
    push.send("after").unwrap();
    assert_eq!(recv_strs(&pull), ["after"]);
}

#[test]
fn peer_restarts_tcp() {
    peer_restarts(|| endpoint(Tr::Tcp));
}

#[test]
fn peer_restarts_ipc() {
    let ep = endpoint(Tr::Ipc);
    peer_restarts(move || ep.clone());
}

/// A connecting DEALER keeps its queue across a restart of its ROUTER.
#[test]
fn dealer_queue_survives_restart() {
    let ctx = Context::new();
    let router = sock(&ctx, SocketType::Router);
    let ep = bind(&router, Tr::Tcp);
    let dealer = sock(&ctx, SocketType::Dealer);
    dealer.update_options(|o| o.routing_id = Some(Bytes::from_static(b"d")));
    dealer.connect(&ep).unwrap();
    dealer.send("before").unwrap();
    assert_eq!(recv_strs(&router), ["d", "before"]);
    drop(router);
    wait_peers(&dealer, 0);
    for i in 0..10 {
        dealer.send(format!("queued {i}")).unwrap();
    }
    let router = sock(&ctx, SocketType::Router);
    router.bind(&ep).unwrap();
    for i in 0..10 {
        assert_eq!(recv_strs(&router), ["d".to_owned(), format!("queued {i}")]);
    }
    router.send(msg(&["d", "back"])).unwrap();
    assert_eq!(recv_strs(&dealer), ["back"]);
}

#[test]
fn immediate() {
    let ctx = Context::new();
    let dead = {
        let l = std::net::TcpListener::bind("127.0.0.1:0").unwrap();
        format!("tcp://{}", l.local_addr().unwrap())
    };
    // Without IMMEDIATE a connecter queues for a peer that is not there.
    let lazy = sock(&ctx, SocketType::Push);
    lazy.connect(&dead).unwrap();
    lazy.try_send("queued").unwrap();

    // With it, nothing is queued until a connection completes.
    let push = sock(&ctx, SocketType::Dealer);
    push.update_options(|o| {
        o.immediate = true;
        o.sndtimeo = Some(Duration::from_millis(50));
    });
    push.connect(&dead).unwrap();
    assert!(matches!(push.try_send("x"), Err(Error::WouldBlock)));
    assert!(matches!(push.send("x"), Err(Error::WouldBlock)));

    // libzmq's test_immediate: with one live and one dead peer, everything
    // goes to the live one.
    let live = sock(&ctx, SocketType::Dealer);
    let ep = bind(&live, Tr::Tcp);
    push.connect(&ep).unwrap();
    wait_peers(&push, 1);
    for i in 0..10 {
        push.send(format!("{i}")).unwrap();
    }
    for i in 0..10 {
        assert_eq!(recv_strs(&live), [format!("{i}")]);
    }
}

#[test]
fn timeouts() {
    let ctx = Context::new();
    let pull = sock(&ctx, SocketType::Pull);
    pull.bind(&endpoint(Tr::Inproc)).unwrap();
    pull.update_options(|o| o.rcvtimeo = Some(Duration::from_millis(30)));
    let t0 = std::time::Instant::now();
    assert!(matches!(pull.recv(), Err(Error::WouldBlock)));
    assert!(t0.elapsed() >= Duration::from_millis(30));
    pull.update_options(|o| o.rcvtimeo = Some(Duration::ZERO));
    assert!(matches!(pull.recv(), Err(Error::WouldBlock)));

    let push = sock(&ctx, SocketType::Push);
    push.update_options(|o| o.sndtimeo = Some(Duration::from_millis(30)));
    let t0 = std::time::Instant::now();
    assert!(matches!(push.send("x"), Err(Error::WouldBlock)));
    assert!(t0.elapsed() >= Duration::from_millis(30));
    // Wrong-direction calls are refused, not blocked.
    assert!(matches!(push.recv(), Err(Error::NotSupported(_))));
    assert!(matches!(pull.send("x"), Err(Error::NotSupported(_))));
}

fn maxmsgsize(tr: Tr) {
    let ctx = Context::new();
    let pull = sock(&ctx, SocketType::Pull);
    pull.update_options(|o| o.maxmsgsize = Some(100));
    let ep = bind(&pull, tr);
    let monitor = pull.monitor();
    let big = sock(&ctx, SocketType::Push);
    let small = sock(&ctx, SocketType::Push);
    big.connect(&ep).unwrap();
    small.connect(&ep).unwrap();
    wait_peers(&pull, 2);
    small.send("fits").unwrap();
    assert_eq!(recv_strs(&pull), ["fits"]);
    // A peer sending more than MAXMSGSIZE is disconnected; its message never
    // arrives, and the others carry on.
    big.send(vec![0u8; 101]).unwrap();
    let disconnected = || {
        wait_for("the disconnection", || {
            matches!(
                monitor.try_recv(),
                Some(monocoque::MonitorEvent::Disconnected { .. })
            )
        });
    };
    disconnected();
    small.send(vec![1u8; 100]).unwrap();
    assert_eq!(pull.recv().unwrap()[0].len(), 100);
    // The limit is on the whole message, not each frame.
    wait_peers(&pull, 2);
    big.send(msg(&[&"a".repeat(60), &"b".repeat(60)])).unwrap();
    disconnected();
    small.send("still here").unwrap();
    assert_eq!(recv_strs(&pull), ["still here"]);
    assert_nothing(&pull);
}

#[test]
fn maxmsgsize_tcp() {
    maxmsgsize(Tr::Tcp);
}

#[test]
fn maxmsgsize_ipc() {
    maxmsgsize(Tr::Ipc);
}

#[test]
fn tcp_wildcard_port_and_last_endpoint() {
    let ctx = Context::new();
    let pull = sock(&ctx, SocketType::Pull);
    pull.bind("tcp://127.0.0.1:*").unwrap();
    let ep = pull.last_endpoint().unwrap();
    let port: u16 = ep.rsplit(':').next().unwrap().parse().unwrap();
    assert_ne!(port, 0);
    // A second bind on the same socket, on every interface.
    pull.bind("tcp://*:*").unwrap();
    let ep2 = pull.last_endpoint().unwrap();
    let port2: u16 = ep2.rsplit(':').next().unwrap().parse().unwrap();
    let push = sock(&ctx, SocketType::Push);
    push.connect(&ep).unwrap();
    push.connect(&format!("tcp://localhost:{port2}")).unwrap();
    wait_peers(&pull, 2);
    for i in 0..4 {
        push.send(format!("{i}")).unwrap();
    }
    let mut got: Vec<_> = (0..4).map(|_| recv_strs(&pull)[0].clone()).collect();
    got.sort();
    assert_eq!(got, ["0", "1", "2", "3"]);
    // The port is taken now.
    assert!(matches!(pull.bind(&ep), Err(Error::AddressInUse(_))));
    // Unbinding by the wildcard form as given works too.
    pull.unbind("tcp://*:*").unwrap();
}

#[test]
fn tcp_ipv6() {
    if !have_ipv6() {
        eprintln!("skipped: no IPv6 loopback");
        return;
    }
    let ctx = Context::new();
    let rep = sock(&ctx, SocketType::Rep);
    rep.bind("tcp://[::1]:*").unwrap();
    let ep = rep.last_endpoint().unwrap();
    assert!(ep.starts_with("tcp://[::1]:"), "{ep}");
    let req = sock(&ctx, SocketType::Req);
    req.connect(&ep).unwrap();
    req.send("v6").unwrap();
    assert_eq!(recv_strs(&rep), ["v6"]);
    rep.send("ok").unwrap();
    assert_eq!(recv_strs(&req), ["ok"]);
}

#[test]
fn ipc_path_and_abstract() {
    let ctx = Context::new();
    let path = format!("/tmp/{}.sock", unique("path"));
    for ep in [
        format!("ipc://{path}"),
        format!("ipc://@{}", unique("abstract")),
    ] {
        let pull = sock(&ctx, SocketType::Pull);
        pull.bind(&ep).unwrap();
        assert_eq!(pull.last_endpoint().unwrap(), ep);
        let push = sock(&ctx, SocketType::Push);
        push.connect(&ep).unwrap();
        push.send("hi").unwrap();
        assert_eq!(recv_strs(&pull), ["hi"]);
    }
    // The socket file is removed when the listener closes.
    wait_for("the socket file to go", || {
        !std::path::Path::new(&path).exists()
    });
}

#[test]
fn stream_raw_tcp() {
    let ctx = Context::new();
    let stream = sock(&ctx, SocketType::Stream);
    let ep = bind(&stream, Tr::Tcp);
    let addr = ep.strip_prefix("tcp://").unwrap();
    let mut client = std::net::TcpStream::connect(addr).unwrap();
    client.set_read_timeout(Some(T)).unwrap();
    // A connection is announced with an empty frame.
    let hello = stream.recv().unwrap();
    assert_eq!(hello.len(), 2);
    assert!(hello[1].is_empty());
    let id = hello[0].clone();
    client.write_all(b"GET / HTTP/1.0\r\n\r\n").unwrap();
    let mut data = Vec::new();
    while data.len() < 18 {
        let m = stream.recv().unwrap();
        assert_eq!(m[0], id);
        data.extend_from_slice(&m[1]);
    }
    assert_eq!(data, b"GET / HTTP/1.0\r\n\r\n");
    let mut reply = monocoque::Message::from(id.clone());
    reply.push_back("HTTP/1.0 200 OK\r\n\r\n");
    stream.send(reply).unwrap();
    // An empty frame closes the connection.
    let mut close = monocoque::Message::from(id.clone());
    close.push_back(Bytes::new());
    stream.send(close).unwrap();
    let mut got = Vec::new();
    client.read_to_end(&mut got).unwrap();
    assert_eq!(got, b"HTTP/1.0 200 OK\r\n\r\n");
    // The closed connection is announced with an empty frame.
    let bye = stream.recv().unwrap();
    assert_eq!(strs(&bye)[1..], [""]);
    assert_eq!(bye[0], id);
    // An unknown id is unreachable.
    assert!(matches!(
        stream.send(msg(&["nope", "x"])),
        Err(Error::HostUnreachable)
    ));

    // A client that goes away is announced with an empty frame too.
    let mut c2 = std::net::TcpStream::connect(addr).unwrap();
    let hello = stream.recv().unwrap();
    let id2 = hello[0].clone();
    assert_ne!(id2, id);
    c2.write_all(b"x").unwrap();
    drop(c2);
    assert_eq!(strs(&stream.recv().unwrap())[1..], ["x"]);
    let bye = stream.recv().unwrap();
    assert_eq!(bye[0], id2);
    assert!(bye[1].is_empty());
}
