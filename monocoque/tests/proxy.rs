//! The steerable proxy over real sockets: ROUTER/DEALER and XPUB/XSUB over
//! tcp, PAUSE holding both ways and RESUME releasing in order, exact
//! STATISTICS, TERMINATE, the capture socket, context shutdown, unknown
//! commands; and against libzmq: its client, worker and controller
//! through our proxy, and its own `zmq_proxy_steerable` counting the same
//! traffic as ours.
//!
//! Waits are bounded generously ([`T`]) and the results checked; nothing
//! here times the library. Absence is shown by a short quiet wait
//! ([`common::QUIET`]) backed by the statistics, which count exactly.

#![allow(clippy::unwrap_used)]

mod common;

use std::sync::mpsc;
use std::thread;
use std::time::Duration;

use bytes::Bytes;
use common::{assert_nothing, msg, recv_strs, sock, strs, wait_for, wait_peers, T};
use monocoque::{
    proxy, proxy_steerable, Context, Error, Message, ProxyCommand, ProxyStatistics, Socket,
    SocketStatistics, SocketType,
};

/// The sockets a proxy thread runs on.
struct Ends {
    frontend: Socket,
    backend: Socket,
    capture: Option<Socket>,
    control: Option<Socket>,
}

/// A proxy running on its own thread.
struct Running {
    done: mpsc::Receiver<(monocoque::Result<()>, Ends)>,
}

impl Running {
    /// Starts `proxy_steerable` (or `proxy` without a control socket).
    fn start(ends: Ends) -> Running {
        let (tx, done) = mpsc::channel();
        thread::spawn(move || {
            let r = match &ends.control {
                Some(c) => proxy_steerable(&ends.frontend, &ends.backend, ends.capture.as_ref(), c),
                None => proxy(&ends.frontend, &ends.backend, ends.capture.as_ref()),
            };
            let _ = tx.send((r, ends));
        });
        Running { done }
    }

    /// The proxy's result and its sockets, once it returned (within [`T`]).
    fn finish(self) -> (monocoque::Result<()>, Ends) {
        self.done
            .recv_timeout(T)
            .expect("the proxy did not return within the bound")
    }

    /// Whether the proxy is still running.
    fn running(&self) -> bool {
        matches!(self.done.try_recv(), Err(mpsc::TryRecvError::Empty))
    }
}

fn bind_tcp(s: &Socket) -> String {
    s.bind("tcp://127.0.0.1:*").unwrap();
    s.last_endpoint().unwrap()
}

/// A control socket of `ty` bound on a fresh inproc name, and a
/// controller of `peer` connected to it.
fn control(ctx: &Context, ty: SocketType, peer: SocketType) -> (Socket, Socket) {
    let name = format!("inproc://{}", common::unique("control"));
    let control = sock(ctx, ty);
    control.bind(&name).unwrap();
    let controller = sock(ctx, peer);
    controller.connect(&name).unwrap();
    (control, controller)
}

/// REQ controller: sends `cmd`, returns the reply.
fn ask(controller: &Socket, cmd: impl Into<Message>) -> Message {
    controller.send(cmd).unwrap();
    controller.recv().unwrap()
}

/// Asks for STATISTICS (on a REQ or PAIR controller) and decodes them.
fn statistics(controller: &Socket) -> ProxyStatistics {
    ProxyStatistics::from_message(&ask(controller, ProxyCommand::Statistics)).unwrap()
}

fn side(received: (u64, u64), sent: (u64, u64)) -> SocketStatistics {
    SocketStatistics {
        messages_received: received.0,
        bytes_received: received.1,
        messages_sent: sent.0,
        bytes_sent: sent.1,
    }
}

/// Two PAIR ends of a proxy over tcp, with a peer on each: `(a, b)`
/// talk through it, `a` on the frontend.
fn pairs(ctx: &Context) -> (Socket, Socket, Socket, Socket) {
    let frontend = sock(ctx, SocketType::Pair);
    let backend = sock(ctx, SocketType::Pair);
    let a = sock(ctx, SocketType::Pair);
    a.connect(&bind_tcp(&frontend)).unwrap();
    let b = sock(ctx, SocketType::Pair);
    b.connect(&bind_tcp(&backend)).unwrap();
    wait_peers(&frontend, 1);
    wait_peers(&backend, 1);
    (frontend, backend, a, b)
}

#[test]
fn router_dealer_through_the_steerable_proxy_over_tcp() {
    let ctx = Context::new();
    let frontend = sock(&ctx, SocketType::Router);
    let front_ep = bind_tcp(&frontend);
    let backend = sock(&ctx, SocketType::Dealer);
    let back_ep = bind_tcp(&backend);
    let (control, controller) = control(&ctx, SocketType::Pair, SocketType::Pair);
    let running = Running::start(Ends {
        frontend,
        backend,
        capture: None,
        control: Some(control),
    });

    let workers: Vec<_> = (0..2)
        .map(|w| {
            let rep = sock(&ctx, SocketType::Rep);
            rep.connect(&back_ep).unwrap();
            thread::spawn(move || {
                while let Ok(req) = rep.recv() {
                    let body = String::from_utf8_lossy(&req[0]).into_owned();
                    if rep.send(format!("{body} done by {w}")).is_err() {
                        break;
                    }
                }
            })
        })
        .collect();
    let clients: Vec<Socket> = (0..2)
        .map(|_| {
            let req = sock(&ctx, SocketType::Req);
            req.connect(&front_ep).unwrap();
            req
        })
        .collect();
    let (mut request_bytes, mut reply_bytes) = (0, 0);
    for i in 0..5 {
        for (c, req) in clients.iter().enumerate() {
            let body = format!("job {c}.{i}");
            req.send(body.clone()).unwrap();
            let reply = recv_strs(req);
            assert_eq!(reply.len(), 1);
            assert!(
                reply[0].starts_with(&format!("{body} done by ")),
                "{reply:?}"
            );
            // Through the proxy each is [5-byte routing id, "", body].
            request_bytes += 5 + body.len() as u64;
            reply_bytes += 5 + reply[0].len() as u64;
        }
    }
    let stats = statistics(&controller);
    assert_eq!(stats.frontend, side((10, request_bytes), (10, reply_bytes)));
    assert_eq!(stats.backend, side((10, reply_bytes), (10, request_bytes)));

    controller.send(ProxyCommand::Terminate).unwrap();
    let (r, _ends) = running.finish();
    assert!(r.is_ok(), "{r:?}");
    ctx.shutdown();
    for w in workers {
        w.join().unwrap();
    }
}

#[test]
fn xpub_xsub_through_the_steerable_proxy_over_tcp() {
    let ctx = Context::new();
    let frontend = sock(&ctx, SocketType::Xsub);
    let front_ep = bind_tcp(&frontend);
    let backend = sock(&ctx, SocketType::Xpub);
    let back_ep = bind_tcp(&backend);
    let (control, controller) = control(&ctx, SocketType::Rep, SocketType::Req);
    let publisher = sock(&ctx, SocketType::Pub);
    publisher.connect(&front_ep).unwrap();
    wait_peers(&frontend, 1);
    let running = Running::start(Ends {
        frontend,
        backend,
        capture: None,
        control: Some(control),
    });

    let subscriber = sock(&ctx, SocketType::Sub);
    subscriber.subscribe("news").unwrap();
    subscriber.connect(&back_ep).unwrap();
    // The subscription went up through the proxy to the publisher.
    wait_for("the subscription at the publisher", || {
        publisher.subscription_count() == 1
    });
    for i in 0..5 {
        publisher.send(format!("sport {i}")).unwrap(); // filtered at the publisher
        publisher.send(msg(&["news", &i.to_string()])).unwrap();
    }
    for i in 0..5 {
        assert_eq!(recv_strs(&subscriber), ["news", &i.to_string()]);
    }
    let stats = statistics(&controller);
    // Up: one SUBSCRIBE ("\x01news"); down: five two-frame messages.
    assert_eq!(stats.backend, side((1, 5), (5, 25)));
    assert_eq!(stats.frontend, side((5, 25), (1, 5)));

    assert!(ask(&controller, ProxyCommand::Terminate)[0].is_empty());
    let (r, _ends) = running.finish();
    assert!(r.is_ok(), "{r:?}");
}

#[test]
fn pause_holds_both_ways_and_resume_releases_them_in_order() {
    let ctx = Context::new();
    let (frontend, backend, a, b) = pairs(&ctx);
    let (control, controller) = control(&ctx, SocketType::Rep, SocketType::Req);
    let running = Running::start(Ends {
        frontend,
        backend,
        capture: None,
        control: Some(control),
    });
    a.send("before").unwrap();
    assert_eq!(recv_strs(&b), ["before"]);

    // A REP control socket acknowledges with an empty frame, once the
    // proxy has acted on the command.
    let ack = ask(&controller, ProxyCommand::Pause);
    assert_eq!(ack.len(), 1);
    assert!(ack[0].is_empty());
    for i in 0..10 {
        a.send(format!("a{i}")).unwrap();
        b.send(format!("b{i}")).unwrap();
    }
    assert_nothing(&b);
    assert_nothing(&a);
    let paused = statistics(&controller);
    assert_eq!(paused.frontend, side((1, 6), (0, 0)));
    assert_eq!(paused.backend, side((0, 0), (1, 6)));
    // Statistics do not resume it.
    assert_nothing(&b);

    assert!(ask(&controller, ProxyCommand::Resume)[0].is_empty());
    for i in 0..10 {
        assert_eq!(recv_strs(&b), [format!("a{i}")]);
        assert_eq!(recv_strs(&a), [format!("b{i}")]);
    }
    let after = statistics(&controller);
    assert_eq!(after.frontend, side((11, 26), (10, 20)));
    assert_eq!(after.backend, side((10, 20), (11, 26)));

    assert!(ask(&controller, ProxyCommand::Terminate)[0].is_empty());
    assert!(running.finish().0.is_ok());
}

#[test]
fn statistics_count_exactly_what_passed_each_way() {
    let ctx = Context::new();
    let (frontend, backend, a, b) = pairs(&ctx);
    let (control, controller) = control(&ctx, SocketType::Pair, SocketType::Pair);
    let running = Running::start(Ends {
        frontend,
        backend,
        capture: None,
        control: Some(control),
    });
    assert_eq!(statistics(&controller), ProxyStatistics::default());

    // Multipart messages count once; bytes are every frame's, empty ones
    // included.
    let forth: Vec<Message> = vec![
        msg(&["x"]),
        msg(&["", "two", "frames!"]),
        Message::from(vec![Bytes::from(vec![7u8; 10_000]), Bytes::new()]),
    ];
    let back: Vec<Message> = vec![msg(&["reply", "1"]), Message::from(vec![0u8; 300])];
    for m in &forth {
        a.send(m.clone()).unwrap();
    }
    for m in &back {
        b.send(m.clone()).unwrap();
    }
    for m in &forth {
        assert_eq!(&b.recv().unwrap(), m);
    }
    for m in &back {
        assert_eq!(&a.recv().unwrap(), m);
    }
    let size = |ms: &[Message]| ms.iter().map(|m| m.size() as u64).sum::<u64>();
    let (fb, bb) = (size(&forth), size(&back));
    assert_eq!((fb, bb), (1 + 10 + 10_000, 6 + 300));
    let stats = statistics(&controller);
    assert_eq!(stats.frontend, side((3, fb), (2, bb)));
    assert_eq!(stats.backend, side((2, bb), (3, fb)));
    // Asking again changes nothing: commands are not traffic.
    assert_eq!(statistics(&controller), stats);

    controller.send(ProxyCommand::Terminate).unwrap();
    assert!(running.finish().0.is_ok());
}

#[test]
fn a_message_for_a_backend_without_room_waits_and_the_proxy_stays_steerable() {
    let ctx = Context::new();
    let frontend = sock(&ctx, SocketType::Pull);
    let producer = sock(&ctx, SocketType::Push);
    producer.connect(&bind_tcp(&frontend)).unwrap();
    wait_peers(&frontend, 1);
    // No consumer yet: the backend has nowhere to send.
    let backend = sock(&ctx, SocketType::Push);
    let back_ep = bind_tcp(&backend);
    let (control, controller) = control(&ctx, SocketType::Pair, SocketType::Pair);
    let running = Running::start(Ends {
        frontend,
        backend,
        capture: None,
        control: Some(control),
    });
    producer.send("first").unwrap();
    producer.send("second").unwrap();
    // The first was taken and waits for room; the proxy still answers,
    // and takes nothing more meanwhile.
    wait_for("the first message taken", || {
        statistics(&controller).frontend.messages_received == 1
    });
    let stats = statistics(&controller);
    assert_eq!(stats.frontend, side((1, 5), (0, 0)));
    assert_eq!(stats.backend, side((0, 0), (0, 0)));

    let consumer = sock(&ctx, SocketType::Pull);
    consumer.connect(&back_ep).unwrap();
    assert_eq!(recv_strs(&consumer), ["first"]);
    assert_eq!(recv_strs(&consumer), ["second"]);
    let stats = statistics(&controller);
    assert_eq!(stats.frontend, side((2, 11), (0, 0)));
    assert_eq!(stats.backend, side((0, 0), (2, 11)));
    controller.send(ProxyCommand::Terminate).unwrap();
    assert!(running.finish().0.is_ok());
}

#[test]
fn terminate_returns_ok_and_leaves_the_sockets_as_they_were() {
    let ctx = Context::new();
    let (frontend, backend, a, b) = pairs(&ctx);
    let (control, controller) = control(&ctx, SocketType::Pair, SocketType::Pair);
    let running = Running::start(Ends {
        frontend,
        backend,
        capture: None,
        control: Some(control),
    });
    a.send("through").unwrap();
    assert_eq!(recv_strs(&b), ["through"]);
    controller.send(ProxyCommand::Terminate).unwrap();
    let (r, ends) = running.finish();
    assert!(r.is_ok(), "{r:?}");
    // A PAIR controller gets no reply to TERMINATE.
    assert_nothing(&controller);
    // The sockets are the caller's again, still connected.
    a.send("after").unwrap();
    assert_eq!(recv_strs(&ends.frontend), ["after"]);
    ends.backend.send("direct").unwrap();
    assert_eq!(recv_strs(&b), ["direct"]);
}

#[test]
fn the_capture_socket_gets_every_frame_of_every_message_both_ways() {
    let ctx = Context::new();
    let frontend = sock(&ctx, SocketType::Router);
    let front_ep = bind_tcp(&frontend);
    let backend = sock(&ctx, SocketType::Dealer);
    let back_ep = bind_tcp(&backend);
    let capture = sock(&ctx, SocketType::Push);
    let tap = sock(&ctx, SocketType::Pull);
    let tap_name = format!("inproc://{}", common::unique("tap"));
    tap.bind(&tap_name).unwrap();
    capture.connect(&tap_name).unwrap();
    let (control, controller) = control(&ctx, SocketType::Pair, SocketType::Pair);

    // An echoing worker: it sends back exactly what it got, envelope and all.
    let worker = sock(&ctx, SocketType::Dealer);
    worker.connect(&back_ep).unwrap();
    let client = sock(&ctx, SocketType::Dealer);
    client.connect(&front_ep).unwrap();
    wait_peers(&frontend, 1);
    wait_peers(&backend, 1);
    let running = Running::start(Ends {
        frontend,
        backend,
        capture: Some(capture),
        control: Some(control),
    });
    let sent: Vec<Message> = (0..5)
        .map(|i| msg(&["head", "", &format!("body {i}"), "tail"]))
        .collect();
    for m in &sent {
        client.send(m.clone()).unwrap();
        let there = worker.recv().unwrap();
        assert_eq!(there.len(), 5, "routing id, then the four frames");
        assert_eq!(&there.frames()[1..], m.frames());
        worker.send(there).unwrap();
        assert_eq!(&client.recv().unwrap(), m);
    }
    let stats = statistics(&controller);
    assert_eq!(stats.frontend.messages_received, 5);
    assert_eq!(stats.backend.messages_received, 5);

    // Each message twice (going and coming back), whole, in order; the
    // control commands are not captured.
    let mut id = None;
    for m in &sent {
        for _ in 0..2 {
            let copy = tap.recv().unwrap();
            assert_eq!(copy.len(), 5, "{:?}", strs(&copy));
            let this_id = copy[0].clone();
            assert_eq!(this_id.len(), 5);
            assert_eq!(id.get_or_insert(this_id.clone()), &this_id);
            assert_eq!(&copy.frames()[1..], m.frames());
        }
    }
    assert_nothing(&tap);
    controller.send(ProxyCommand::Terminate).unwrap();
    assert!(running.finish().0.is_ok());
    assert_nothing(&tap);
}

/// Runs `f` on a thread and lets it block, then `trigger`s; its result,
/// within [`T`].
fn returns_after<R: Send + 'static>(
    f: impl FnOnce() -> R + Send + 'static,
    trigger: impl FnOnce(),
) -> R {
    let (tx, rx) = mpsc::channel();
    thread::spawn(move || {
        let _ = tx.send(f());
    });
    thread::sleep(Duration::from_millis(100));
    assert!(rx.try_recv().is_err(), "returned before it was stopped");
    trigger();
    rx.recv_timeout(T)
        .expect("the proxy did not return after the context ended")
}

#[test]
fn context_shutdown_ends_the_steerable_proxy_with_terminated() {
    let ctx = Context::new();
    let frontend = sock(&ctx, SocketType::Router);
    bind_tcp(&frontend);
    let backend = sock(&ctx, SocketType::Dealer);
    bind_tcp(&backend);
    let (control, _controller) = control(&ctx, SocketType::Pair, SocketType::Pair);
    let r = returns_after(
        move || proxy_steerable(&frontend, &backend, None, &control),
        || ctx.shutdown(),
    );
    assert!(matches!(r, Err(Error::Terminated)), "{r:?}");
}

#[test]
fn context_shutdown_ends_a_paused_proxy_with_terminated() {
    let ctx = Context::new();
    let (frontend, backend, a, _b) = pairs(&ctx);
    let (control, controller) = control(&ctx, SocketType::Rep, SocketType::Req);
    let running = Running::start(Ends {
        frontend,
        backend,
        capture: None,
        control: Some(control),
    });
    ask(&controller, ProxyCommand::Pause);
    a.send("held").unwrap();
    ctx.shutdown();
    let (r, _ends) = running.finish();
    assert!(matches!(r, Err(Error::Terminated)), "{r:?}");
}

#[test]
fn a_paused_proxy_sees_its_sides_context_end_when_control_is_elsewhere() {
    // The frontend and backend are watched for nothing while paused; the
    // proxy still notices their context ending.
    let sides = Context::new();
    let (frontend, backend, _a, _b) = pairs(&sides);
    let other = Context::new();
    let control = sock(&other, SocketType::Rep);
    let controller = sock(&other, SocketType::Req);
    controller.connect(&bind_tcp(&control)).unwrap();
    let running = Running::start(Ends {
        frontend,
        backend,
        capture: None,
        control: Some(control),
    });
    ask(&controller, ProxyCommand::Pause);
    sides.shutdown();
    let (r, _ends) = running.finish();
    assert!(matches!(r, Err(Error::Terminated)), "{r:?}");
}

#[test]
fn an_unknown_command_changes_nothing_and_is_answered_with_an_error() {
    let ctx = Context::new();
    let (frontend, backend, a, b) = pairs(&ctx);
    let (control, controller) = control(&ctx, SocketType::Rep, SocketType::Req);
    let running = Running::start(Ends {
        frontend,
        backend,
        capture: None,
        control: Some(control),
    });
    a.send("one").unwrap();
    assert_eq!(recv_strs(&b), ["one"]);
    let before = statistics(&controller);
    for bad in [
        msg(&["BOGUS"]),
        msg(&["pause"]),
        msg(&["PAUSE", "now"]),
        msg(&[""]),
    ] {
        let reply = ask(&controller, bad.clone());
        assert_eq!(
            strs(&reply),
            ["ERROR unknown command"],
            "for {:?}",
            strs(&bad)
        );
        assert!(ProxyStatistics::from_message(&reply).is_err());
    }
    // Not paused, not stopped, nothing counted.
    assert!(running.running());
    assert_eq!(statistics(&controller), before);
    a.send("two").unwrap();
    assert_eq!(recv_strs(&b), ["two"]);
    assert!(ask(&controller, ProxyCommand::Terminate)[0].is_empty());
    assert!(running.finish().0.is_ok());
}

#[test]
fn an_unknown_command_on_a_pair_is_answered_and_on_a_sub_ignored() {
    let ctx = Context::new();
    let (frontend, backend, a, b) = pairs(&ctx);
    let (control, controller) = control(&ctx, SocketType::Pair, SocketType::Pair);
    let running = Running::start(Ends {
        frontend,
        backend,
        capture: None,
        control: Some(control),
    });
    controller.send("RESUMEX").unwrap();
    assert_eq!(recv_strs(&controller), ["ERROR unknown command"]);
    a.send("still on").unwrap();
    assert_eq!(recv_strs(&b), ["still on"]);
    controller.send(ProxyCommand::Terminate).unwrap();
    let (r, ends) = running.finish();
    assert!(r.is_ok());

    // A SUB control socket can steer but not answer: an unknown command
    // is ignored, and TERMINATE after it still works.
    let sub = sock(&ctx, SocketType::Sub);
    sub.subscribe("").unwrap();
    let publisher = sock(&ctx, SocketType::Pub);
    publisher.connect(&bind_tcp(&sub)).unwrap();
    wait_for("the SUB control's subscription", || {
        publisher.subscription_count() == 1
    });
    let running = Running::start(Ends {
        control: Some(sub),
        ..ends
    });
    publisher.send("BOGUS").unwrap();
    publisher.send(ProxyCommand::Statistics).unwrap(); // cannot be answered
    a.send("with a sub").unwrap();
    assert_eq!(recv_strs(&b), ["with a sub"]);
    publisher.send(ProxyCommand::Terminate).unwrap();
    assert!(running.finish().0.is_ok());
}

#[test]
fn a_control_socket_that_is_a_side_or_cannot_receive_is_refused() {
    let ctx = Context::new();
    // Each call on its own thread: one that was not refused would run.
    let refusal = |control: Option<SocketType>, which: &'static str| {
        let frontend = sock(&ctx, SocketType::Pair);
        let backend = sock(&ctx, SocketType::Pair);
        let other = control.map(|ty| sock(&ctx, ty));
        let (tx, rx) = mpsc::channel();
        thread::spawn(move || {
            let control = match (&other, which) {
                (Some(c), _) => c,
                (None, "frontend") => &frontend,
                (None, _) => &backend,
            };
            let _ = tx.send(proxy_steerable(&frontend, &backend, None, control));
        });
        match rx.recv_timeout(T) {
            Ok(Err(Error::Invalid(why))) => why,
            other => panic!("{which}: expected a refusal, got {other:?}"),
        }
    };
    for which in ["frontend", "backend"] {
        let why = refusal(None, which);
        assert_eq!(
            why,
            "the control socket cannot be the frontend or the backend"
        );
    }
    for ty in [SocketType::Push, SocketType::Pub] {
        let why = refusal(Some(ty), "a type that cannot receive");
        assert_eq!(why, "the control socket must be a type that receives");
    }
}

#[test]
fn one_socket_as_both_ends_echoes() {
    // libzmq allows frontend == backend: a DEALER proxied to itself sends
    // each message back to a peer.
    let ctx = Context::new();
    let dealer = sock(&ctx, SocketType::Dealer);
    let peer = sock(&ctx, SocketType::Dealer);
    peer.connect(&bind_tcp(&dealer)).unwrap();
    wait_peers(&dealer, 1);
    let (control, controller) = control(&ctx, SocketType::Pair, SocketType::Pair);
    let (tx, rx) = mpsc::channel();
    thread::spawn(move || {
        let _ = tx.send(proxy_steerable(&dealer, &dealer, None, &control));
    });
    peer.send(msg(&["echo", "me"])).unwrap();
    assert_eq!(recv_strs(&peer), ["echo", "me"]);
    let stats = statistics(&controller);
    assert_eq!(stats.frontend, side((1, 6), (0, 0)));
    assert_eq!(stats.backend, side((0, 0), (1, 6)));
    controller.send(ProxyCommand::Terminate).unwrap();
    assert!(rx.recv_timeout(T).unwrap().is_ok());
}

#[test]
fn the_plain_proxy_still_forwards_and_captures() {
    let ctx = Context::new();
    let (frontend, backend, a, b) = pairs(&ctx);
    let capture = sock(&ctx, SocketType::Pair);
    let tap = sock(&ctx, SocketType::Pair);
    let tap_name = format!("inproc://{}", common::unique("plain-tap"));
    tap.bind(&tap_name).unwrap();
    capture.connect(&tap_name).unwrap();
    let running = Running::start(Ends {
        frontend,
        backend,
        capture: Some(capture),
        control: None,
    });
    a.send(msg(&["to", "b"])).unwrap();
    assert_eq!(recv_strs(&b), ["to", "b"]);
    b.send("to a").unwrap();
    assert_eq!(recv_strs(&a), ["to a"]);
    assert_eq!(recv_strs(&tap), ["to", "b"]);
    assert_eq!(recv_strs(&tap), ["to a"]);
    ctx.shutdown();
    let (r, _ends) = running.finish();
    assert!(matches!(r, Err(Error::Terminated)), "{r:?}");
}

// ---- against libzmq -------------------------------------------------------

/// A libzmq REQ client and REP worker for a proxy with its ROUTER
/// frontend at `front` and its DEALER backend at `back`.
fn libzmq_ends(zctx: &zmq::Context, front: &str, back: &str) -> (zmq::Socket, zmq::Socket) {
    let client = zctx.socket(zmq::REQ).unwrap();
    client.set_rcvtimeo(5000).unwrap();
    client.connect(front).unwrap();
    let worker = zctx.socket(zmq::REP).unwrap();
    worker.set_rcvtimeo(5000).unwrap();
    worker.connect(back).unwrap();
    (client, worker)
}

/// The traffic both proxies carry: `client` asking `worker` six times,
/// requests of one and of three frames, of several sizes.
fn libzmq_traffic(client: &zmq::Socket, worker: &zmq::Socket) {
    for i in 0..6usize {
        let body = vec![b'x'; 1 + i * 700];
        if i % 2 == 0 {
            client.send(&body[..], 0).unwrap();
        } else {
            client
                .send_multipart([&b"part"[..], &b""[..], &body[..]], 0)
                .unwrap();
        }
        let request = worker.recv_multipart(0).unwrap();
        let mut reply = request.clone();
        reply.push(format!("reply {i}").into_bytes());
        worker.send_multipart(reply, 0).unwrap();
        let got = client.recv_multipart(0).unwrap();
        assert_eq!(got.len(), request.len() + 1);
        assert_eq!(got[..request.len()], request[..]);
    }
}

/// A libzmq PAIR controller's STATISTICS reply, frame by frame.
fn libzmq_statistics(controller: &zmq::Socket) -> Vec<Vec<u8>> {
    controller.send("STATISTICS", 0).unwrap();
    let frames = controller.recv_multipart(0).unwrap();
    assert!(!controller.get_rcvmore().unwrap());
    frames
}

fn decode(frames: &[Vec<u8>]) -> Vec<u64> {
    frames
        .iter()
        .map(|f| u64::from_ne_bytes(f[..].try_into().expect("an 8-byte frame")))
        .collect()
}

#[test]
fn libzmq_client_worker_and_controller_through_our_steerable_proxy() {
    let ctx = Context::new();
    let frontend = sock(&ctx, SocketType::Router);
    let front_ep = bind_tcp(&frontend);
    let backend = sock(&ctx, SocketType::Dealer);
    let back_ep = bind_tcp(&backend);
    let control = sock(&ctx, SocketType::Pair);
    let control_ep = bind_tcp(&control);
    let running = Running::start(Ends {
        frontend,
        backend,
        capture: None,
        control: Some(control),
    });
    let zctx = zmq::Context::new();
    let controller = zctx.socket(zmq::PAIR).unwrap();
    controller.set_rcvtimeo(5000).unwrap();
    controller.connect(&control_ep).unwrap();

    let (client, worker) = libzmq_ends(&zctx, &front_ep, &back_ep);
    libzmq_traffic(&client, &worker);
    let frames = libzmq_statistics(&controller);
    assert_eq!(frames.len(), 8);
    assert!(frames.iter().all(|f| f.len() == 8));
    let v = decode(&frames);
    // Requests: [id(5), "", body] or [id, "part", "", "", body];
    // replies add "reply i".
    let requests: u64 = (0..6u64)
        .map(|i| 5 + 1 + i * 700 + if i % 2 == 1 { 4 } else { 0 })
        .sum();
    let replies = requests
        + (0..6)
            .map(|i| format!("reply {i}").len() as u64)
            .sum::<u64>();
    assert_eq!(v, [6, requests, 6, replies, 6, replies, 6, requests]);

    // PAUSE from libzmq holds a libzmq client's request.
    controller.send("PAUSE", 0).unwrap();
    assert_eq!(decode(&libzmq_statistics(&controller)), v);
    client.send("held", 0).unwrap();
    assert_eq!(worker.poll(zmq::POLLIN, 150).unwrap(), 0);
    controller.send("RESUME", 0).unwrap();
    assert_eq!(worker.recv_bytes(0).unwrap(), b"held");

    controller.send("TERMINATE", 0).unwrap();
    let (r, _ends) = running.finish();
    assert!(r.is_ok(), "{r:?}");
}

#[test]
fn statistics_match_libzmqs_own_steerable_proxy() {
    // libzmq's zmq_proxy_steerable (4.3, vendored by the zmq crate).
    let zctx = zmq::Context::new();
    let bind = |ty| {
        let s = zctx.socket(ty).unwrap();
        s.bind("tcp://127.0.0.1:*").unwrap();
        let ep = s.get_last_endpoint().unwrap().unwrap();
        (s, ep)
    };
    let (mut zfront, zfront_ep) = bind(zmq::ROUTER);
    let (mut zback, zback_ep) = bind(zmq::DEALER);
    let (mut zcontrol, zcontrol_ep) = bind(zmq::PAIR);
    let theirs =
        thread::spawn(move || zmq::proxy_steerable(&mut zfront, &mut zback, &mut zcontrol));
    let zcontroller = zctx.socket(zmq::PAIR).unwrap();
    zcontroller.set_rcvtimeo(5000).unwrap();
    zcontroller.connect(&zcontrol_ep).unwrap();
    let (client, worker) = libzmq_ends(&zctx, &zfront_ep, &zback_ep);
    libzmq_traffic(&client, &worker);
    let libzmq_reply = libzmq_statistics(&zcontroller);
    zcontroller.send("TERMINATE", 0).unwrap();
    assert!(theirs.join().unwrap().is_ok());

    // Ours, the same traffic.
    let ctx = Context::new();
    let frontend = sock(&ctx, SocketType::Router);
    let front_ep = bind_tcp(&frontend);
    let backend = sock(&ctx, SocketType::Dealer);
    let back_ep = bind_tcp(&backend);
    let control = sock(&ctx, SocketType::Pair);
    let control_ep = bind_tcp(&control);
    let running = Running::start(Ends {
        frontend,
        backend,
        capture: None,
        control: Some(control),
    });
    let controller = zctx.socket(zmq::PAIR).unwrap();
    controller.set_rcvtimeo(5000).unwrap();
    controller.connect(&control_ep).unwrap();
    let (client, worker) = libzmq_ends(&zctx, &front_ep, &back_ep);
    libzmq_traffic(&client, &worker);
    let our_reply = libzmq_statistics(&controller);
    controller.send("TERMINATE", 0).unwrap();
    assert!(running.finish().0.is_ok());

    // The same shape (eight frames of eight bytes), the same numbers.
    assert_eq!(libzmq_reply.len(), 8);
    assert!(libzmq_reply.iter().all(|f| f.len() == 8));
    assert_eq!(decode(&our_reply), decode(&libzmq_reply));
    assert_eq!(our_reply, libzmq_reply);
    // And our decoder reads libzmq's reply.
    let theirs =
        ProxyStatistics::from_message(&libzmq_reply.into_iter().collect::<Message>()).unwrap();
    assert_eq!(theirs.frontend.messages_received, 6);
    assert_eq!(theirs.backend.messages_sent, 6);
}
