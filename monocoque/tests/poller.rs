//! The poller, `poll` and the readiness descriptor over real sockets: the
//! readiness conditions of every socket type, a thousand registered
//! sockets, async waits, and termination.

#![allow(clippy::unwrap_used)]

use std::thread;
use std::time::Duration;

use monocoque::{poll, Context, Error, Events, PollItem, Poller, Socket, SocketType};

/// Long enough for anything that should be ready "now".
const SOON: Duration = Duration::from_secs(5);
/// Short: for what must not become ready.
const BRIEF: Duration = Duration::from_millis(30);

fn sock(ctx: &Context, ty: SocketType) -> Socket {
    ctx.socket(ty).unwrap()
}

/// What `s` is ready for, by a fresh poller that waits up to `t` for
/// `interest`.
fn ready(s: &Socket, interest: Events, t: Duration) -> Events {
    let mut p = Poller::new();
    p.add(s, interest).unwrap();
    let r = p.wait(Some(t)).unwrap();
    r.first().map_or(Events::NONE, |e| e.events)
}

const BOTH: Events = Events {
    readable: true,
    writable: true,
};

#[test]
fn pull_is_readable_when_a_message_waits_and_never_writable() {
    let ctx = Context::new();
    let pull = sock(&ctx, SocketType::Pull);
    pull.bind("tcp://127.0.0.1:*").unwrap();
    let push = sock(&ctx, SocketType::Push);
    push.connect(&pull.last_endpoint().unwrap()).unwrap();
    assert_eq!(ready(&pull, BOTH, BRIEF), Events::NONE);
    push.send("m").unwrap();
    assert_eq!(ready(&pull, BOTH, SOON), Events::READABLE);
    // Level-triggered: still readable until it is received.
    assert_eq!(ready(&pull, BOTH, SOON), Events::READABLE);
    pull.recv().unwrap();
    assert_eq!(ready(&pull, BOTH, BRIEF), Events::NONE);
}

#[test]
fn push_is_writable_only_while_a_peer_has_room() {
    let ctx = Context::new();
    let push = sock(&ctx, SocketType::Push);
    push.update_options(|o| o.sndhwm = 1);
    assert_eq!(ready(&push, BOTH, BRIEF), Events::NONE, "no peer yet");
    let pull = sock(&ctx, SocketType::Pull);
    pull.update_options(|o| o.rcvhwm = 1);
    pull.bind("inproc://push-room").unwrap();
    push.connect("inproc://push-room").unwrap();
    assert_eq!(ready(&push, BOTH, SOON), Events::WRITABLE);
    while push.try_send("fill").is_ok() {}
    assert_eq!(ready(&push, BOTH, BRIEF), Events::NONE, "the peer is full");
    // Room at the inproc peer wakes a poller that waits for it.
    let mut p = Poller::new();
    let t = p.add(&push, Events::WRITABLE).unwrap();
    let reader = thread::spawn(move || {
        thread::sleep(BRIEF);
        pull.recv().unwrap();
        pull
    });
    let r = p.wait(Some(SOON)).unwrap().to_vec();
    assert_eq!(r.len(), 1);
    assert_eq!((r[0].token, r[0].events), (t, Events::WRITABLE));
    drop(reader.join().unwrap());
}

#[test]
fn push_over_tcp_becomes_writable_again_when_the_peer_drains() {
    let ctx = Context::new();
    let pull = sock(&ctx, SocketType::Pull);
    pull.update_options(|o| o.rcvhwm = 10);
    pull.bind("tcp://127.0.0.1:*").unwrap();
    let push = sock(&ctx, SocketType::Push);
    push.update_options(|o| o.sndhwm = 10);
    push.connect(&pull.last_endpoint().unwrap()).unwrap();
    assert_eq!(ready(&push, Events::WRITABLE, SOON), Events::WRITABLE);
    // Big messages fill the kernel's buffers too, then the pipe.
    // Full for good: a try that fails even after the writer had time to
    // pass what it could to the kernel.
    let big = bytes::Bytes::from(vec![0u8; 1 << 20]);
    let mut sent = 0;
    loop {
        while push.try_send(big.clone()).is_ok() {
            sent += 1;
            assert!(sent < 10_000);
        }
        thread::sleep(Duration::from_millis(200));
        if push.try_send(big.clone()).is_ok() {
            sent += 1;
            continue;
        }
        break;
    }
    assert_eq!(ready(&push, Events::WRITABLE, BRIEF), Events::NONE);
    for _ in 0..sent {
        pull.recv().unwrap();
    }
    assert_eq!(ready(&push, Events::WRITABLE, SOON), Events::WRITABLE);
}

#[test]
fn sub_is_readable_only_for_a_matching_message() {
    let ctx = Context::new();
    let publ = sock(&ctx, SocketType::Pub);
    publ.bind("tcp://127.0.0.1:*").unwrap();
    let sub = sock(&ctx, SocketType::Sub);
    sub.subscribe("a").unwrap();
    sub.connect(&publ.last_endpoint().unwrap()).unwrap();
    // The subscription reaches the publisher.
    thread::sleep(Duration::from_millis(100));
    assert_eq!(ready(&publ, BOTH, SOON), Events::WRITABLE, "PUB: always");
    publ.send("b: not for us").unwrap();
    assert_eq!(ready(&sub, BOTH, BRIEF), Events::NONE);
    publ.send("a: ours").unwrap();
    assert_eq!(ready(&sub, BOTH, SOON), Events::READABLE);
    assert_eq!(&sub.recv().unwrap()[0][..], b"a: ours");
    assert_eq!(ready(&sub, BOTH, BRIEF), Events::NONE);
}

#[test]
fn xpub_is_readable_when_a_subscription_comes() {
    let ctx = Context::new();
    let xpub = sock(&ctx, SocketType::Xpub);
    xpub.bind("inproc://local-filter").unwrap();
    let sub = sock(&ctx, SocketType::Sub);
    sub.subscribe("x").unwrap();
    sub.connect("inproc://local-filter").unwrap();
    // The subscription arrives at the XPUB: readable there.
    assert_eq!(ready(&xpub, Events::READABLE, SOON), Events::READABLE);
    assert_eq!(&xpub.recv().unwrap()[0][..], b"\x01x");
    xpub.send("y").unwrap();
    assert_eq!(ready(&sub, Events::READABLE, BRIEF), Events::NONE);
    xpub.send("x!").unwrap();
    assert_eq!(ready(&sub, Events::READABLE, SOON), Events::READABLE);
}

#[test]
fn req_is_readable_only_for_its_reply_and_writable_only_with_no_request_out() {
    let ctx = Context::new();
    let rep = sock(&ctx, SocketType::Rep);
    rep.bind("tcp://127.0.0.1:*").unwrap();
    let req = sock(&ctx, SocketType::Req);
    assert_eq!(ready(&req, BOTH, BRIEF), Events::NONE, "no peer");
    assert_eq!(ready(&rep, BOTH, BRIEF), Events::NONE, "no request");
    req.connect(&rep.last_endpoint().unwrap()).unwrap();
    assert_eq!(ready(&req, BOTH, SOON), Events::WRITABLE);
    req.send("q").unwrap();
    assert_eq!(
        ready(&req, BOTH, BRIEF),
        Events::NONE,
        "waiting for the reply"
    );
    assert_eq!(ready(&rep, BOTH, SOON), Events::READABLE);
    // The poller took the request to know; REP still cannot reply before
    // it receives it.
    assert!(matches!(rep.send("too soon"), Err(Error::State)));
    assert_eq!(&rep.recv().unwrap()[0][..], b"q");
    assert_eq!(ready(&rep, BOTH, SOON), Events::WRITABLE);
    rep.send("r").unwrap();
    assert_eq!(ready(&req, BOTH, SOON), Events::READABLE);
    // Known to be there, the reply still blocks a new request.
    assert!(matches!(req.send("again"), Err(Error::State)));
    assert_eq!(&req.recv().unwrap()[0][..], b"r");
    assert_eq!(ready(&req, BOTH, SOON), Events::WRITABLE);
}

#[test]
fn router_dealer_pair_xsub_and_stream() {
    let ctx = Context::new();
    let router = sock(&ctx, SocketType::Router);
    router.bind("tcp://127.0.0.1:*").unwrap();
    assert_eq!(
        ready(&router, BOTH, SOON),
        Events::WRITABLE,
        "ROUTER: always"
    );
    let dealer = sock(&ctx, SocketType::Dealer);
    assert_eq!(ready(&dealer, BOTH, BRIEF), Events::NONE);
    dealer.connect(&router.last_endpoint().unwrap()).unwrap();
    assert_eq!(ready(&dealer, BOTH, SOON), Events::WRITABLE);
    dealer.send("hi").unwrap();
    assert_eq!(ready(&router, Events::READABLE, SOON), Events::READABLE);
    assert_eq!(ready(&router, BOTH, SOON), BOTH);
    let m = router.recv().unwrap();
    router
        .send(vec![m[0].clone(), bytes::Bytes::from("back")])
        .unwrap();
    assert_eq!(ready(&dealer, Events::READABLE, SOON), Events::READABLE);
    assert_eq!(ready(&dealer, BOTH, SOON), BOTH);

    let (a, b) = (sock(&ctx, SocketType::Pair), sock(&ctx, SocketType::Pair));
    a.bind("inproc://poll-pair").unwrap();
    assert_eq!(ready(&a, BOTH, BRIEF), Events::NONE);
    b.connect("inproc://poll-pair").unwrap();
    assert_eq!(ready(&a, BOTH, SOON), Events::WRITABLE);
    b.send("x").unwrap();
    assert_eq!(ready(&a, Events::READABLE, SOON), Events::READABLE);
    assert_eq!(ready(&a, BOTH, SOON), BOTH);

    let xsub = sock(&ctx, SocketType::Xsub);
    assert_eq!(ready(&xsub, BOTH, SOON), Events::WRITABLE, "XSUB: always");
    let stream = sock(&ctx, SocketType::Stream);
    assert_eq!(ready(&stream, BOTH, SOON), Events::WRITABLE);
}

#[test]
fn a_thousand_sockets_report_exactly_the_ready_ones() {
    let ctx = Context::new();
    let pulls: Vec<Socket> = (0..1000)
        .map(|i| {
            let s = sock(&ctx, SocketType::Pull);
            s.bind(&format!("inproc://many-{i}")).unwrap();
            s
        })
        .collect();
    let mut poller = Poller::new();
    let tokens: Vec<usize> = pulls
        .iter()
        .map(|s| poller.add(s, Events::READABLE).unwrap())
        .collect();
    assert_eq!(poller.len(), 1000);
    assert!(poller.wait(Some(BRIEF)).unwrap().is_empty());
    let chosen = [3usize, 250, 251, 777, 999];
    let push = sock(&ctx, SocketType::Push);
    for &i in &chosen {
        push.connect(&format!("inproc://many-{i}")).unwrap();
    }
    for _ in &chosen {
        push.send("one each").unwrap();
    }
    // Until all have come (several waits may each see some).
    let mut seen = std::collections::BTreeSet::new();
    while seen.len() < chosen.len() {
        for e in poller.wait(Some(SOON)).unwrap() {
            assert!(e.events.readable);
            seen.insert(e.token);
        }
    }
    let want: std::collections::BTreeSet<usize> = chosen.iter().map(|&i| tokens[i]).collect();
    assert_eq!(seen, want);
    for &i in &chosen {
        pulls[i].recv().unwrap();
    }
    assert!(poller.wait(Some(Duration::ZERO)).unwrap().is_empty());
    // Removing and adding again reuses the token.
    poller.remove(tokens[10]).unwrap();
    assert_eq!(
        poller.add(&pulls[10], Events::READABLE).unwrap(),
        tokens[10]
    );
    assert!(matches!(
        poller.add(&pulls[10], Events::READABLE),
        Err(Error::Invalid(_))
    ));
    assert!(matches!(poller.remove(5000), Err(Error::Invalid(_))));
}

#[test]
fn wait_async_runs_under_tokio() {
    let ctx = Context::new();
    let pull = sock(&ctx, SocketType::Pull);
    pull.bind("inproc://poll-async").unwrap();
    let push = sock(&ctx, SocketType::Push);
    push.connect("inproc://poll-async").unwrap();
    let rt = tokio::runtime::Builder::new_current_thread()
        .enable_time()
        .build()
        .unwrap();
    rt.block_on(async {
        let mut p = Poller::new();
        let t = p.add(&pull, Events::READABLE).unwrap();
        assert!(p.wait_async(Some(BRIEF)).await.unwrap().is_empty());
        let sender = tokio::task::spawn_blocking(move || {
            thread::sleep(BRIEF);
            push.send("late").unwrap();
            push
        });
        let r = tokio::time::timeout(SOON, p.wait_async(None))
            .await
            .unwrap()
            .unwrap()
            .to_vec();
        assert_eq!(r[0].token, t);
        drop(sender.await.unwrap());
    });
}

#[test]
fn zmq_poll_style_items() {
    let ctx = Context::new();
    let (a, b) = (sock(&ctx, SocketType::Pair), sock(&ctx, SocketType::Pair));
    a.bind("inproc://poll-items").unwrap();
    b.connect("inproc://poll-items").unwrap();
    b.send("to a").unwrap();
    let mut items = [
        PollItem::new(&a, Events::READABLE),
        PollItem::new(&b, Events::READABLE),
    ];
    assert_eq!(poll(&mut items, Some(SOON)).unwrap(), 1);
    assert_eq!(items[0].revents, Events::READABLE);
    assert_eq!(items[1].revents, Events::NONE);
}

#[test]
fn a_wait_ends_with_terminated_when_the_context_ends() {
    let ctx = Context::new();
    let pull = sock(&ctx, SocketType::Pull);
    pull.bind("inproc://poll-term").unwrap();
    let (tx, rx) = std::sync::mpsc::channel();
    let waiter = thread::spawn(move || {
        let mut p = Poller::new();
        p.add(&pull, Events::READABLE).unwrap();
        tx.send(()).unwrap();
        let r = p.wait(None).map(|r| r.len());
        (r, pull)
    });
    rx.recv().unwrap();
    thread::sleep(BRIEF);
    ctx.shutdown();
    let (tx, rx) = std::sync::mpsc::channel();
    thread::spawn(move || tx.send(waiter.join().unwrap()).unwrap());
    let (r, pull) = rx.recv_timeout(SOON).expect("the wait returned");
    assert!(matches!(r, Err(Error::Terminated)), "{r:?}");
    let mut p = Poller::new();
    assert!(matches!(
        p.add(&pull, Events::READABLE),
        Err(Error::Terminated)
    ));
}

#[test]
fn the_readiness_descriptor_follows_zmq_fd_and_zmq_events() {
    let ctx = Context::new();
    let pull = sock(&ctx, SocketType::Pull);
    pull.bind("tcp://127.0.0.1:*").unwrap();
    let push = sock(&ctx, SocketType::Push);
    push.connect(&pull.last_endpoint().unwrap()).unwrap();
    let fd = pull.readiness_fd().unwrap();
    let readable = |ms: i64| {
        let mut fds = [rustix::event::PollFd::new(
            &fd,
            rustix::event::PollFlags::IN,
        )];
        let t = rustix::event::Timespec {
            tv_sec: ms / 1000,
            tv_nsec: (ms % 1000) * 1_000_000,
        };
        rustix::event::poll(&mut fds, Some(&t)).unwrap() == 1
    };
    // Whatever happened so far (the connection) is read and cleared.
    while readable(0) {
        let _ = pull.events().unwrap();
    }
    assert!(!pull.events().unwrap().readable);
    push.send("wake").unwrap();
    // The application waits for the descriptor, asks, and waits again
    // while nothing is ready (a change it signals need not be a message).
    let deadline = std::time::Instant::now() + SOON;
    loop {
        assert!(std::time::Instant::now() < deadline, "never readable");
        assert!(readable(5000), "the descriptor signals the message");
        if pull.events().unwrap().readable {
            break;
        }
    }
    assert_eq!(&pull.recv().unwrap()[0][..], b"wake");
    assert!(!pull.events().unwrap().readable);
    assert!(!readable(30));
}
