//! The pattern-level socket options (issue 14) over real sockets, and
//! against libzmq (the `zmq` crate's vendored 4.3, built without its
//! draft API) wherever the other side can see them: CONFLATE,
//! PROBE_ROUTER, ROUTER_NOTIFY, HELLO_MSG and DISCONNECT_MSG,
//! CONNECT_ROUTING_ID, XPUB_NODROP, XPUB_MANUAL (and _LAST_VALUE),
//! XPUB_VERBOSER, INVERT_MATCHING, ONLY_FIRST_SUBSCRIBE, STREAM_NOTIFY;
//! and which socket types take them, by name, as libzmq does.
#![allow(clippy::unwrap_used)]

mod common;

use std::io::{Read, Write};
use std::net::{TcpListener, TcpStream};
use std::time::Duration;

use bytes::Bytes;
use common::{assert_nothing, bind, msg, recv_strs, sock, wait_for, wait_peers, Tr, T};
use monocoque::{Context, Error, OptionError, RouterNotify, Socket, SocketType};

/// A libzmq socket whose receives give up after [`T`] and whose close
/// does not wait.
fn zsock(z: &zmq::Context, ty: zmq::SocketType) -> zmq::Socket {
    let s = z.socket(ty).unwrap();
    s.set_linger(0).unwrap();
    s.set_rcvtimeo(T.as_millis() as i32).unwrap();
    s.set_sndtimeo(T.as_millis() as i32).unwrap();
    s.set_reconnect_ivl(20).unwrap();
    s
}

/// A libzmq receive, as strings per frame.
fn zrecv(s: &zmq::Socket) -> Vec<String> {
    s.recv_multipart(0)
        .expect("libzmq recv")
        .into_iter()
        .map(|f| String::from_utf8_lossy(&f).into_owned())
        .collect()
}

/// Whether libzmq receives nothing within a short while.
fn znothing(s: &zmq::Socket) -> bool {
    s.set_rcvtimeo(150).unwrap();
    let r = s.recv_multipart(0);
    s.set_rcvtimeo(T.as_millis() as i32).unwrap();
    matches!(r, Err(zmq::Error::EAGAIN))
}

/// A tcp port nobody listens on (for a connect that waits for its peer).
fn free_port() -> u16 {
    TcpListener::bind("127.0.0.1:0")
        .unwrap()
        .local_addr()
        .unwrap()
        .port()
}

// CONFLATE

#[test]
fn a_conflating_pull_keeps_only_the_last_of_what_a_libzmq_push_sent() {
    let ctx = Context::new();
    let pull = sock(&ctx, SocketType::Pull);
    pull.set_option("conflate", "1").unwrap();
    let ep = bind(&pull, Tr::Tcp);
    let z = zmq::Context::new();
    let push = z.socket(zmq::PUSH).unwrap();
    push.connect(&ep).unwrap();
    wait_peers(&pull, 1);
    for i in 0..100 {
        push.send(i.to_string().as_bytes(), 0).unwrap();
    }
    // libzmq's close lingers until all of it is written; our engine sees
    // the end only after reading (and queueing) everything before it.
    drop(push);
    drop(z);
    wait_for("the PUSH to go", || pull.peer_count() == 0);
    assert_eq!(recv_strs(&pull), ["99"]);
    assert_nothing(&pull);
}

#[test]
fn a_conflating_push_sends_only_the_last_message_queued_while_its_peer_was_away() {
    let ctx = Context::new();
    let push = sock(&ctx, SocketType::Push);
    push.update_options(|o| o.conflate = true);
    let port = free_port();
    let ep = format!("tcp://127.0.0.1:{port}");
    push.connect(&ep).unwrap();
    for i in 0..100 {
        // Never waits: each replaces the one before.
        push.try_send(i.to_string()).unwrap();
    }
    assert!(
        matches!(
            push.try_send(msg(&["two", "frames"])),
            Err(Error::Invalid(_))
        ),
        "conflate takes single-frame messages only"
    );
    let z = zmq::Context::new();
    let pull = zsock(&z, zmq::PULL);
    pull.bind(&ep).unwrap();
    assert_eq!(zrecv(&pull), ["99"]);
    assert!(znothing(&pull));
    // Connected: one more goes out as it is sent.
    push.send("100").unwrap();
    assert_eq!(zrecv(&pull), ["100"]);
}

#[test]
fn a_conflating_sub_and_dealer_keep_the_last_message_of_each_burst() {
    let ctx = Context::new();
    for (ours, theirs) in [
        (SocketType::Sub, SocketType::Pub),
        (SocketType::Dealer, SocketType::Dealer),
    ] {
        let receiver = sock(&ctx, ours);
        receiver.update_options(|o| o.conflate = true);
        if ours == SocketType::Sub {
            receiver.subscribe("").unwrap();
        }
        let ep = bind(&receiver, Tr::Inproc);
        let sender = sock(&ctx, theirs);
        sender.connect(&ep).unwrap();
        wait_peers(&receiver, 1);
        if theirs == SocketType::Pub {
            wait_for("the subscription", || sender.subscription_count() == 1);
        }
        for i in 0..50 {
            sender.send(i.to_string()).unwrap();
        }
        assert_eq!(recv_strs(&receiver), ["49"], "{ours:?}");
        assert_nothing(&receiver);
    }
}

// PROBE_ROUTER

#[test]
fn a_libzmq_router_sees_our_probes() {
    let z = zmq::Context::new();
    let router = zsock(&z, zmq::ROUTER);
    router.bind("tcp://127.0.0.1:*").unwrap();
    let ep = router.get_last_endpoint().unwrap().unwrap();
    let ctx = Context::new();
    for (ty, id) in [
        (SocketType::Dealer, "dealer"),
        (SocketType::Req, "req"),
        (SocketType::Router, "router"),
    ] {
        let s = sock(&ctx, ty);
        s.update_options(|o| o.routing_id = Some(Bytes::from(id)));
        s.set_option("probe_router", "1").unwrap();
        s.connect(&ep).unwrap();
        // The probe: our routing id and an empty frame, before anything
        // is sent.
        assert_eq!(zrecv(&router), [id, ""], "{ty:?}");
    }
}

#[test]
fn our_router_sees_a_libzmq_probe() {
    let ctx = Context::new();
    let router = sock(&ctx, SocketType::Router);
    let ep = bind(&router, Tr::Tcp);
    let z = zmq::Context::new();
    let dealer = zsock(&z, zmq::DEALER);
    dealer.set_identity(b"probing").unwrap();
    dealer.set_probe_router(true).unwrap();
    dealer.connect(&ep).unwrap();
    assert_eq!(recv_strs(&router), ["probing", ""]);
    // And the ROUTER can answer at once.
    router.send(msg(&["probing", "welcome"])).unwrap();
    assert_eq!(zrecv(&dealer), ["welcome"]);
}

// ROUTER_NOTIFY

#[test]
fn router_notify_tells_of_a_libzmq_peer_coming_and_going() {
    let ctx = Context::new();
    let router = sock(&ctx, SocketType::Router);
    router.set_option("router_notify", "3").unwrap();
    assert_eq!(
        router.options().router_notify,
        RouterNotify::CONNECT | RouterNotify::DISCONNECT
    );
    let ep = bind(&router, Tr::Tcp);
    let z = zmq::Context::new();
    let dealer = zsock(&z, zmq::DEALER);
    dealer.set_identity(b"n1").unwrap();
    dealer.connect(&ep).unwrap();
    assert_eq!(recv_strs(&router), ["n1", ""], "connected");
    dealer.send("hi", 0).unwrap();
    assert_eq!(recv_strs(&router), ["n1", "hi"]);
    drop(dealer);
    assert_eq!(recv_strs(&router), ["n1", ""], "disconnected");
    assert_nothing(&router);
}

#[test]
fn router_notify_flags_apply_one_by_one_and_over_inproc_too() {
    let ctx = Context::new();
    for (bits, want_connect, want_disconnect) in [(1, true, false), (2, false, true)] {
        let router = sock(&ctx, SocketType::Router);
        router
            .set_option("router_notify", &bits.to_string())
            .unwrap();
        let ep = bind(&router, Tr::Inproc);
        let dealer = sock(&ctx, SocketType::Dealer);
        dealer.update_options(|o| o.routing_id = Some(Bytes::from("d")));
        dealer.connect(&ep).unwrap();
        wait_peers(&router, 1);
        dealer.send("data").unwrap();
        let first = recv_strs(&router);
        if want_connect {
            assert_eq!(first, ["d", ""]);
            assert_eq!(recv_strs(&router), ["d", "data"]);
        } else {
            assert_eq!(first, ["d", "data"]);
        }
        drop(dealer);
        if want_disconnect {
            assert_eq!(recv_strs(&router), ["d", ""]);
        } else {
            wait_for("the DEALER to go", || router.peer_count() == 0);
        }
        assert_nothing(&router);
    }
}

// HELLO_MSG, DISCONNECT_MSG

#[test]
fn hello_msg_reaches_libzmq_peers_first_in_both_directions() {
    let z = zmq::Context::new();
    let zrouter = zsock(&z, zmq::ROUTER);
    zrouter.bind("tcp://127.0.0.1:*").unwrap();
    let zep = zrouter.get_last_endpoint().unwrap().unwrap();
    let ctx = Context::new();
    let dealer = sock(&ctx, SocketType::Dealer);
    dealer.update_options(|o| o.routing_id = Some(Bytes::from("d1")));
    dealer
        .set_options_by_name([("hello_msg", "hello"), ("probe_router", "1")])
        .unwrap();
    dealer.connect(&zep).unwrap();
    // The hello, then the probe.
    assert_eq!(zrecv(&zrouter), ["d1", "hello"]);
    assert_eq!(zrecv(&zrouter), ["d1", ""]);

    let router = sock(&ctx, SocketType::Router);
    router.set_option("hello_msg", "welcome").unwrap();
    let ep = bind(&router, Tr::Tcp);
    let zdealer = zsock(&z, zmq::DEALER);
    zdealer.connect(&ep).unwrap();
    assert_eq!(zrecv(&zdealer), ["welcome"]);
}

#[test]
fn disconnect_msg_is_received_when_a_libzmq_peer_goes() {
    let ctx = Context::new();
    let router = sock(&ctx, SocketType::Router);
    router.set_option("disconnect_msg", "gone").unwrap();
    let ep = bind(&router, Tr::Tcp);
    let z = zmq::Context::new();
    let dealer = zsock(&z, zmq::DEALER);
    dealer.set_identity(b"d1").unwrap();
    dealer.connect(&ep).unwrap();
    dealer.send("last words", 0).unwrap();
    assert_eq!(recv_strs(&router), ["d1", "last words"]);
    drop(dealer);
    // After everything the peer sent.
    assert_eq!(recv_strs(&router), ["d1", "gone"]);
    assert_nothing(&router);
}

#[test]
fn router_notify_comes_before_the_disconnect_msg() {
    let ctx = Context::new();
    let router = sock(&ctx, SocketType::Router);
    router
        .set_options_by_name([("router_notify", "2"), ("disconnect_msg", "bye")])
        .unwrap();
    let ep = bind(&router, Tr::Ipc);
    let dealer = sock(&ctx, SocketType::Dealer);
    dealer.update_options(|o| o.routing_id = Some(Bytes::from("x")));
    dealer.connect(&ep).unwrap();
    wait_peers(&router, 1);
    drop(dealer);
    assert_eq!(recv_strs(&router), ["x", ""]);
    assert_eq!(recv_strs(&router), ["x", "bye"]);
}

// CONNECT_ROUTING_ID

#[test]
fn connect_routing_id_makes_a_libzmq_router_routable_before_it_answers() {
    let z = zmq::Context::new();
    let zrouter = zsock(&z, zmq::ROUTER);
    let port = free_port();
    let ep = format!("tcp://127.0.0.1:{port}");
    let ctx = Context::new();
    let router = sock(&ctx, SocketType::Router);
    router.update_options(|o| {
        o.routing_id = Some(Bytes::from("me"));
        o.router_mandatory = true;
    });
    router.set_option("connect_routing_id", "srv").unwrap();
    assert_eq!(router.option("connect_routing_id").unwrap(), "srv");
    router.connect(&ep).unwrap();
    assert_eq!(
        router.option("connect_routing_id").unwrap(),
        "",
        "the connect took it"
    );
    // Routable at once, though nobody listens yet: queued.
    router.send(msg(&["srv", "early"])).unwrap();
    zrouter.bind(&ep).unwrap();
    assert_eq!(zrecv(&zrouter), ["me", "early"]);
    zrouter.send_multipart(["me", "back"], 0).unwrap();
    assert_eq!(recv_strs(&router), ["srv", "back"]);

    // The same id for another connect is refused, and nothing changes.
    router.set_option("connect_rid", "srv").unwrap();
    let other = format!("tcp://127.0.0.1:{}", free_port());
    assert!(matches!(router.connect(&other), Err(Error::Invalid(_))));
    assert_eq!(router.option("connect_routing_id").unwrap(), "srv");
    router.send(msg(&["srv", "still"])).unwrap();
    assert_eq!(zrecv(&zrouter), ["me", "still"]);
}

#[test]
fn connect_routing_id_survives_a_reconnect_and_works_over_inproc() {
    let ctx = Context::new();
    let a = sock(&ctx, SocketType::Router);
    a.update_options(|o| o.routing_id = Some(Bytes::from("a")));
    let b = sock(&ctx, SocketType::Router);
    b.update_options(|o| {
        o.routing_id = Some(Bytes::from("b"));
        o.connect_routing_id = Some(Bytes::from("peer-a"));
    });
    let ep = bind(&a, Tr::Inproc);
    b.connect(&ep).unwrap();
    b.send(msg(&["peer-a", "over inproc"])).unwrap();
    assert_eq!(recv_strs(&a), ["b", "over inproc"]);

    // Over tcp, through a restart of the far side.
    let port = free_port();
    let ep = format!("tcp://127.0.0.1:{port}");
    b.update_options(|o| o.connect_routing_id = Some(Bytes::from("peer-c")));
    b.connect(&ep).unwrap();
    let c = sock(&ctx, SocketType::Router);
    c.bind(&ep).unwrap();
    b.send(msg(&["peer-c", "one"])).unwrap();
    assert_eq!(recv_strs(&c), ["b", "one"]);
    drop(c);
    wait_for("c to go", || b.peer_count() == 1);
    let c = sock(&ctx, SocketType::Router);
    c.bind(&ep).unwrap();
    b.send(msg(&["peer-c", "two"])).unwrap();
    assert_eq!(recv_strs(&c), ["b", "two"]);
}

#[test]
fn a_connect_routing_id_peer_is_told_gone_once() {
    let ctx = Context::new();
    let router = sock(&ctx, SocketType::Router);
    router.update_options(|o| {
        o.router_notify = RouterNotify::CONNECT | RouterNotify::DISCONNECT;
        o.connect_routing_id = Some(Bytes::from("far"));
    });
    let far = sock(&ctx, SocketType::Router);
    let ep = bind(&far, Tr::Tcp);
    router.connect(&ep).unwrap();
    assert_eq!(recv_strs(&router), ["far", ""], "connected");
    drop(far);
    assert_eq!(recv_strs(&router), ["far", ""], "disconnected");
    // The entry waits for the reconnection; ending the connect ends it
    // without another notice.
    router.disconnect(&ep).unwrap();
    assert_nothing(&router);
    // Nor for one that never connected.
    router.set_option("connect_routing_id", "never").unwrap();
    let nowhere = format!("tcp://127.0.0.1:{}", free_port());
    router.connect(&nowhere).unwrap();
    router.disconnect(&nowhere).unwrap();
    assert_nothing(&router);
}

#[test]
fn connect_routing_id_names_a_stream_connection() {
    let ctx = Context::new();
    let stream = sock(&ctx, SocketType::Stream);
    let listener = TcpListener::bind("127.0.0.1:0").unwrap();
    let port = listener.local_addr().unwrap().port();
    stream.set_option("connect_routing_id", "raw-peer").unwrap();
    stream.connect(&format!("tcp://127.0.0.1:{port}")).unwrap();
    // Queued for the connection before it exists.
    stream.send(msg(&["raw-peer", "GET /"])).unwrap();
    let (mut conn, _) = listener.accept().unwrap();
    conn.set_read_timeout(Some(T)).unwrap();
    let mut got = [0u8; 5];
    conn.read_exact(&mut got).unwrap();
    assert_eq!(&got, b"GET /");
    assert_eq!(recv_strs(&stream), ["raw-peer", ""], "the connect notice");
    conn.write_all(b"200").unwrap();
    assert_eq!(recv_strs(&stream), ["raw-peer", "200"]);
}

// XPUB_NODROP

#[test]
fn xpub_nodrop_refuses_instead_of_dropping_for_a_slow_libzmq_sub() {
    let ctx = Context::new();
    let z = zmq::Context::new();
    for ty in [SocketType::Xpub, SocketType::Pub] {
        let publisher = sock(&ctx, ty);
        publisher.update_options(|o| {
            o.sndhwm = 4;
            o.sndbuf = Some(64 * 1024);
        });
        publisher.set_option("xpub_nodrop", "1").unwrap();
        let ep = bind(&publisher, Tr::Tcp);
        let sub = zsock(&z, zmq::SUB);
        sub.set_rcvhwm(4).unwrap();
        sub.set_rcvbuf(64 * 1024).unwrap();
        sub.set_subscribe(b"").unwrap();
        sub.connect(&ep).unwrap();
        wait_for("the subscription", || publisher.subscription_count() == 1);
        if ty == SocketType::Xpub {
            assert_eq!(publisher.recv().unwrap()[0][..], b"\x01"[..]);
        }
        let body = vec![7u8; 64 * 1024];
        let numbered = |i: u32| {
            let mut m = i.to_be_bytes().to_vec();
            m.extend_from_slice(&body);
            m
        };
        let mut sent = 0u32;
        // Without waiting: refused once the subscriber is full...
        loop {
            assert!(sent < 2000, "{ty:?}: never full: messages were dropped");
            match publisher.try_send(numbered(sent)) {
                Ok(()) => sent += 1,
                Err(Error::WouldBlock) => break,
                Err(e) => panic!("{ty:?}: {e}"),
            }
        }
        // ... and a blocking send waits for room (here up to SNDTIMEO).
        publisher.update_options(|o| o.sndtimeo = Some(Duration::from_millis(20)));
        loop {
            assert!(sent < 2000, "{ty:?}: never full: messages were dropped");
            match publisher.send(numbered(sent)) {
                Ok(()) => sent += 1,
                Err(Error::WouldBlock) => break,
                Err(e) => panic!("{ty:?}: {e}"),
            }
        }
        let full = sent;
        for i in 0..full {
            let m = sub.recv_bytes(0).expect("every message sent arrives");
            assert_eq!(m[..4], i.to_be_bytes(), "{ty:?}: in order, none lost");
        }
        assert!(znothing(&sub), "{ty:?}: nothing beyond what was sent");
    }
}

// XPUB_MANUAL, XPUB_MANUAL_LAST_VALUE, XPUB_VERBOSER

#[test]
fn xpub_manual_applies_a_libzmq_subscription_only_when_told() {
    let ctx = Context::new();
    let xpub = sock(&ctx, SocketType::Xpub);
    xpub.set_option("xpub_manual", "1").unwrap();
    let ep = bind(&xpub, Tr::Tcp);
    let z = zmq::Context::new();
    let sub = zsock(&z, zmq::SUB);
    sub.connect(&ep).unwrap();
    sub.set_subscribe(b"a").unwrap();
    assert_eq!(xpub.recv().unwrap()[0][..], b"\x01a"[..]);
    xpub.send("a-1").unwrap(); // not applied: nobody gets it
    xpub.subscribe("a").unwrap();
    xpub.send("a-2").unwrap();
    xpub.send("b-1").unwrap();
    assert_eq!(zrecv(&sub), ["a-2"], "a-1 went nowhere");
    assert!(znothing(&sub), "only the prefix applied");
    // Applied to the peer whose subscription came last, when told.
    sub.set_subscribe(b"c").unwrap();
    assert_eq!(xpub.recv().unwrap()[0][..], b"\x01c"[..]);
    xpub.send("c-1").unwrap();
    xpub.subscribe("c").unwrap();
    xpub.send("c-2").unwrap();
    assert_eq!(zrecv(&sub), ["c-2"]);
    // Its cancels come up when it goes, and nothing is applied without
    // manual mode.
    drop(sub);
    let mut cancels: Vec<Vec<u8>> = (0..2).map(|_| xpub.recv().unwrap()[0].to_vec()).collect();
    cancels.sort();
    assert_eq!(cancels, [b"\x00a".to_vec(), b"\x00c".to_vec()]);
    let plain = sock(&ctx, SocketType::Xpub);
    assert!(matches!(plain.subscribe("a"), Err(Error::Invalid(_))));
}

#[test]
fn xpub_manual_passes_up_duplicate_subscriptions() {
    let ctx = Context::new();
    let xpub = sock(&ctx, SocketType::Xpub);
    xpub.update_options(|o| o.xpub_manual = true);
    let ep = bind(&xpub, Tr::Inproc);
    let (s1, s2) = (sock(&ctx, SocketType::Sub), sock(&ctx, SocketType::Sub));
    for s in [&s1, &s2] {
        s.connect(&ep).unwrap();
        s.subscribe("t").unwrap();
        assert_eq!(xpub.recv().unwrap()[0][..], b"\x01t"[..]);
        xpub.subscribe("t").unwrap();
    }
    xpub.send("t-1").unwrap();
    assert_eq!(recv_strs(&s1), ["t-1"]);
    assert_eq!(recv_strs(&s2), ["t-1"]);
}

#[test]
fn xpub_manual_last_value_answers_the_new_subscriber_alone() {
    let ctx = Context::new();
    let xpub = sock(&ctx, SocketType::Xpub);
    xpub.set_option("xpub_manual_last_value", "1").unwrap();
    assert_eq!(xpub.option("xpub_manual").unwrap(), "1", "implied");
    let ep = bind(&xpub, Tr::Tcp);
    let z = zmq::Context::new();
    let mut subs = Vec::new();
    for _ in 0..3 {
        let sub = zsock(&z, zmq::SUB);
        sub.connect(&ep).unwrap();
        sub.set_subscribe(b"t").unwrap();
        assert_eq!(xpub.recv().unwrap()[0][..], b"\x01t"[..]);
        xpub.subscribe("t").unwrap();
        // The cached value: to the newcomer only.
        xpub.send("t-cached").unwrap();
        subs.push(sub);
    }
    xpub.send("t-next").unwrap();
    for (i, sub) in subs.iter().enumerate() {
        assert_eq!(zrecv(sub), ["t-cached"], "subscriber {i}");
        assert_eq!(
            zrecv(sub),
            ["t-next"],
            "subscriber {i}: only one cached value"
        );
    }
}

#[test]
fn xpub_verboser_passes_duplicate_cancels_up_and_verbose_does_not() {
    let ctx = Context::new();
    for (option, cancels) in [("xpub_verbose", 1), ("xpub_verboser", 2)] {
        let xpub = sock(&ctx, SocketType::Xpub);
        xpub.set_option(option, "1").unwrap();
        let ep = bind(&xpub, Tr::Tcp);
        let (s1, s2) = (sock(&ctx, SocketType::Sub), sock(&ctx, SocketType::Sub));
        for s in [&s1, &s2] {
            s.connect(&ep).unwrap();
            s.subscribe("x").unwrap();
            assert_eq!(xpub.recv().unwrap()[0][..], b"\x01x"[..], "{option}");
        }
        for s in [&s1, &s2] {
            s.unsubscribe("x").unwrap();
        }
        for _ in 0..cancels {
            assert_eq!(xpub.recv().unwrap()[0][..], b"\x00x"[..], "{option}");
        }
        assert_nothing(&xpub);
    }
}

// INVERT_MATCHING

#[test]
fn an_inverting_pub_sends_a_libzmq_xsub_what_it_did_not_subscribe_to() {
    let ctx = Context::new();
    let publisher = sock(&ctx, SocketType::Pub);
    publisher.set_option("invert_matching", "1").unwrap();
    let ep = bind(&publisher, Tr::Tcp);
    let z = zmq::Context::new();
    let xsub = zsock(&z, zmq::XSUB);
    xsub.connect(&ep).unwrap();
    xsub.send(&b"\x01a"[..], 0).unwrap();
    wait_for("the subscription", || publisher.subscription_count() == 1);
    publisher.send("a-1").unwrap();
    publisher.send("b-1").unwrap();
    assert_eq!(zrecv(&xsub), ["b-1"]);
    assert!(znothing(&xsub));
}

#[test]
fn inverting_pub_and_sub_deliver_what_does_not_match() {
    let ctx = Context::new();
    let publisher = sock(&ctx, SocketType::Xpub);
    publisher.update_options(|o| o.invert_matching = true);
    let ep = bind(&publisher, Tr::Inproc);
    let sub = sock(&ctx, SocketType::Sub);
    sub.set_option("invert_matching", "1").unwrap();
    sub.subscribe("a").unwrap();
    sub.connect(&ep).unwrap();
    assert_eq!(publisher.recv().unwrap()[0][..], b"\x01a"[..]);
    for m in ["a-1", "b-1", "ab", "c-1"] {
        publisher.send(m).unwrap();
    }
    assert_eq!(recv_strs(&sub), ["b-1"]);
    assert_eq!(recv_strs(&sub), ["c-1"]);
    assert_nothing(&sub);
    // A SUB that inverts alone filters out everything it subscribed to.
    let plain = sock(&ctx, SocketType::Pub);
    let ep = bind(&plain, Tr::Tcp);
    let inverted = sock(&ctx, SocketType::Sub);
    inverted.update_options(|o| o.invert_matching = true);
    inverted.subscribe("").unwrap();
    inverted.connect(&ep).unwrap();
    wait_for("the subscription", || plain.subscription_count() == 1);
    plain.send("anything").unwrap();
    assert_nothing(&inverted);
}

// ONLY_FIRST_SUBSCRIBE

#[test]
fn only_first_subscribe_takes_the_first_frame_and_passes_the_rest_as_data() {
    let ctx = Context::new();
    let xpub = sock(&ctx, SocketType::Xpub);
    xpub.set_option("only_first_subscribe", "1").unwrap();
    let ep = bind(&xpub, Tr::Tcp);
    let xsub = sock(&ctx, SocketType::Xsub);
    xsub.set_option("only_first_subscribe", "1").unwrap();
    xsub.connect(&ep).unwrap();
    wait_peers(&xsub, 1);
    xsub.send(msg(&["\u{1}a", "\u{1}b", "metadata"])).unwrap();
    assert_eq!(xpub.recv().unwrap()[0][..], b"\x01a"[..]);
    assert_eq!(
        recv_strs(&xpub),
        ["\u{1}b", "metadata"],
        "the rest, as data"
    );
    xpub.send("a-1").unwrap();
    xpub.send("b-1").unwrap();
    assert_eq!(recv_strs(&xsub), ["a-1"], "only the first frame subscribed");
    assert_nothing(&xsub);
}

// STREAM_NOTIFY

#[test]
fn stream_notify_off_leaves_out_the_connect_and_close_notices() {
    let ctx = Context::new();
    for notify in [true, false] {
        let stream = sock(&ctx, SocketType::Stream);
        assert_eq!(stream.option("stream_notify").unwrap(), "1", "the default");
        stream
            .set_option("stream_notify", if notify { "1" } else { "0" })
            .unwrap();
        let ep = bind(&stream, Tr::Tcp);
        let mut client = TcpStream::connect(ep.trim_start_matches("tcp://")).unwrap();
        client.write_all(b"hi").unwrap();
        let first = stream.recv().unwrap();
        let id = first[0].clone();
        if notify {
            assert!(first[1].is_empty(), "the connect notice");
            assert_eq!(stream.recv().unwrap()[1][..], b"hi"[..]);
        } else {
            assert_eq!(first[1][..], b"hi"[..], "no notice first");
        }
        drop(client);
        if notify {
            let gone = stream.recv().unwrap();
            assert_eq!((&gone[0], gone[1].is_empty()), (&id, true));
        } else {
            wait_for("the close", || stream.peer_count() == 0);
            assert_nothing(&stream);
        }
    }
}

// Which socket types take which option

#[test]
fn pattern_options_are_refused_where_libzmq_refuses_them() {
    let z = zmq::Context::new();
    let cases: &[(&str, &str, &[SocketType])] = &[
        (
            "probe_router",
            "1",
            &[SocketType::Router, SocketType::Dealer, SocketType::Req],
        ),
        ("router_notify", "3", &[SocketType::Router]),
        (
            "connect_routing_id",
            "x",
            &[SocketType::Router, SocketType::Stream],
        ),
        ("stream_notify", "0", &[SocketType::Stream]),
        ("xpub_nodrop", "1", &[SocketType::Pub, SocketType::Xpub]),
        ("xpub_manual", "1", &[SocketType::Pub, SocketType::Xpub]),
        (
            "xpub_manual_last_value",
            "1",
            &[SocketType::Pub, SocketType::Xpub],
        ),
        ("xpub_verboser", "1", &[SocketType::Pub, SocketType::Xpub]),
        ("xpub_verbose", "1", &[SocketType::Pub, SocketType::Xpub]),
        (
            "only_first_subscribe",
            "1",
            &[SocketType::Pub, SocketType::Xpub, SocketType::Xsub],
        ),
        ("conflate", "1", &SocketType::ALL),
        ("invert_matching", "1", &SocketType::ALL),
        ("hello_msg", "hi", &SocketType::ALL),
        ("disconnect_msg", "bye", &SocketType::ALL),
    ];
    for &(name, value, takers) in cases {
        for ty in SocketType::ALL {
            let s = Socket::new(ty).unwrap();
            let before = s.options();
            let got = s.set_option(name, value);
            if takers.contains(&ty) {
                got.unwrap_or_else(|e| panic!("{name} on {ty:?}: {e}"));
                assert_eq!(s.option(name).unwrap(), value, "{name} on {ty:?}");
            } else {
                assert!(
                    matches!(got, Err(Error::Option(OptionError::WrongSocketType { .. }))),
                    "{name} on {ty:?}: {got:?}"
                );
                assert_eq!(s.options(), before, "{name} on {ty:?} changed nothing");
            }
        }
    }
    // The vendored libzmq (no draft options) agrees on the stable ones it
    // lets the zmq crate set.
    let libzmq_takes = |ty: zmq::SocketType, f: &dyn Fn(&zmq::Socket) -> zmq::Result<()>| {
        f(&z.socket(ty).unwrap()).is_ok()
    };
    let pairs = [
        (SocketType::Push, zmq::PUSH),
        (SocketType::Dealer, zmq::DEALER),
        (SocketType::Req, zmq::REQ),
        (SocketType::Router, zmq::ROUTER),
        (SocketType::Pub, zmq::PUB),
        (SocketType::Sub, zmq::SUB),
        (SocketType::Xpub, zmq::XPUB),
    ];
    for (ty, zty) in pairs {
        let s = Socket::new(ty).unwrap();
        assert_eq!(
            s.set_option("probe_router", "1").is_ok(),
            libzmq_takes(zty, &|z| z.set_probe_router(true)),
            "probe_router on {ty:?}"
        );
        assert_eq!(
            s.set_option("conflate", "1").is_ok(),
            libzmq_takes(zty, &|z| z.set_conflate(true)),
            "conflate on {ty:?}"
        );
        assert_eq!(
            s.set_option("xpub_verbose", "1").is_ok(),
            libzmq_takes(zty, &|z| z.set_xpub_verbose(true)),
            "xpub_verbose on {ty:?}"
        );
    }
    // Values libzmq refuses.
    let router = Socket::new(SocketType::Router).unwrap();
    for (name, value) in [
        ("router_notify", "4"),
        ("router_notify", "-1"),
        ("connect_routing_id", ""),
        ("probe_router", "2"),
    ] {
        assert!(
            matches!(
                router.set_option(name, value),
                Err(Error::Option(OptionError::InvalidValue { .. }))
            ),
            "{name} = {value:?}"
        );
    }
    let long = "x".repeat(256);
    assert!(router.set_option("connect_routing_id", &long).is_err());
    assert!(matches!(
        router.set_option("router_raw", "1"),
        Err(Error::Option(OptionError::NotSupported {
            name: "router_raw",
            ..
        }))
    ));
}

#[test]
fn pattern_options_read_back_with_libzmqs_defaults() {
    let z = zmq::Context::new();
    let ours = Socket::new(SocketType::Dealer).unwrap();
    let theirs = z.socket(zmq::DEALER).unwrap();
    assert_eq!(
        ours.option("conflate").unwrap(),
        u8::from(theirs.is_conflate().unwrap()).to_string()
    );
    // libzmq's PROBE_ROUTER is write-only; ours reads back.
    assert_eq!(ours.option("probe_router").unwrap(), "0");
    let defaults = [
        ("invert_matching", "0"),
        ("hello_msg", ""),
        ("disconnect_msg", ""),
    ];
    for (name, want) in defaults {
        assert_eq!(ours.option(name).unwrap(), want, "{name}");
    }
    let router = Socket::new(SocketType::Router).unwrap();
    assert_eq!(router.option("router_notify").unwrap(), "0");
    assert_eq!(router.option("connect_routing_id").unwrap(), "");
    let stream = Socket::new(SocketType::Stream).unwrap();
    assert_eq!(stream.option("stream_notify").unwrap(), "1");
    let xpub = Socket::new(SocketType::Xpub).unwrap();
    for name in [
        "xpub_nodrop",
        "xpub_manual",
        "xpub_manual_last_value",
        "xpub_verboser",
        "only_first_subscribe",
    ] {
        assert_eq!(xpub.option(name).unwrap(), "0", "{name}");
    }
    // XPUB_VERBOSE and XPUB_VERBOSER decide both, as in libzmq.
    xpub.set_option("xpub_verboser", "1").unwrap();
    assert_eq!(xpub.option("xpub_verbose").unwrap(), "1");
    xpub.set_option("xpub_verbose", "1").unwrap();
    assert_eq!(xpub.option("xpub_verboser").unwrap(), "0");
}
