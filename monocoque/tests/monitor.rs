//! The monitor over real sockets: every `ZMQ_EVENT_*` libzmq 4.3 emits,
//! each produced by the scenario that makes it (tcp and ipc), with its
//! value and typed parts; the event mask; the libzmq-format monitor on a
//! PAIR socket, decoded by hand; and libzmq's own monitor agreeing on the
//! order of a connect, handshake and disconnect, and on the protocol codes
//! of a garbage peer.
#![allow(clippy::unwrap_used)]

mod common;

use std::io::Write;
use std::net::{TcpListener, TcpStream};
use std::os::unix::net::UnixStream;
use std::time::{Duration, Instant};

use bytes::Bytes;
use common::{bind, sock, unique, wait_peers, Tr, T};
use monocoque::{
    curve_keypair, protocol_error_code, AuthRules, Authenticator, Context, EndReason, Error,
    EventMask, Monitor, MonitorError, MonitorEvent, ProtocolError, Security, Socket, SocketType,
    WireEvent,
};

/// The next event that `pick` takes, skipping others; fails after [`T`]
/// naming what came instead.
fn next<R>(events: &Monitor, what: &str, mut pick: impl FnMut(&MonitorEvent) -> Option<R>) -> R {
    let deadline = Instant::now() + T;
    let mut seen = Vec::new();
    loop {
        let left = deadline.saturating_duration_since(Instant::now());
        match events.recv_timeout(left) {
            Some(ev) => match pick(&ev) {
                Some(r) => return r,
                None => seen.push(ev),
            },
            None => panic!("no {what} within {T:?}; saw {seen:#?}"),
        }
    }
}

/// Every event until the first of kind `last` (included).
fn until(events: &Monitor, last: EventMask) -> Vec<MonitorEvent> {
    let deadline = Instant::now() + T;
    let mut seen = Vec::new();
    loop {
        let left = deadline.saturating_duration_since(Instant::now());
        let Some(ev) = events.recv_timeout(left) else {
            panic!("no {last:?} within {T:?}; saw {seen:#?}");
        };
        let done = ev.event() == last;
        seen.push(ev);
        if done {
            return seen;
        }
    }
}

/// The kinds of `events`, as libzmq's bits.
fn kinds(events: &[MonitorEvent]) -> Vec<EventMask> {
    events.iter().map(MonitorEvent::event).collect()
}

/// Nothing more arrives for a while.
fn quiet(events: &Monitor) {
    if let Some(ev) = events.recv_timeout(Duration::from_millis(200)) {
        panic!("nothing should follow, got {ev:?}");
    }
}

/// A tcp port nobody listens on.
fn free_port() -> u16 {
    TcpListener::bind("127.0.0.1:0")
        .unwrap()
        .local_addr()
        .unwrap()
        .port()
}

// ---- connect, handshake, disconnect, close ----

/// Both ends of a PUSH -> PULL connection, over tcp and ipc: the order of
/// their events, the descriptors (each connection's and the listener's
/// from first to last event), the peer's address, why each side ended,
/// and MONITOR_STOPPED last once a socket is gone.
#[test]
fn a_connection_from_connect_to_close_over_tcp_and_ipc() {
    for tr in [Tr::Tcp, Tr::Ipc] {
        let ctx = Context::new();
        let pull = sock(&ctx, SocketType::Pull);
        let server = pull.monitor();
        let ep = bind(&pull, tr);
        let push = sock(&ctx, SocketType::Push);
        let client = push.monitor();
        push.connect(&ep).unwrap();

        let up = until(&server, EventMask::HANDSHAKE_SUCCEEDED);
        assert_eq!(
            kinds(&up),
            [
                EventMask::LISTENING,
                EventMask::ACCEPTED,
                EventMask::HANDSHAKE_SUCCEEDED
            ],
            "{tr:?} {up:#?}"
        );
        let MonitorEvent::Listening { fd: listener, .. } = &up[0] else {
            unreachable!()
        };
        let MonitorEvent::Accepted { fd: accepted, .. } = &up[1] else {
            unreachable!()
        };
        assert!(listener.is_some() && accepted.is_some(), "{up:#?}");
        assert!(up.iter().all(|e| e.endpoint() == ep), "{up:#?}");
        let peer = up[1].peer_address().map(str::to_owned);
        match tr {
            // The client's own address, as the client's socket has it.
            Tr::Tcp => assert!(
                peer.as_deref()
                    .is_some_and(|p| p.starts_with("tcp://127.0.0.1:") && p != ep),
                "{peer:?}"
            ),
            // A connecting unix socket has no name.
            _ => assert_eq!(peer, None),
        }
        assert_eq!(up[2].peer_address(), peer.as_deref());

        let connected = until(&client, EventMask::HANDSHAKE_SUCCEEDED);
        let mut want = vec![EventMask::CONNECTED, EventMask::HANDSHAKE_SUCCEEDED];
        if tr == Tr::Tcp {
            // A tcp connect is under way before it is made; a unix one is
            // made or refused at once (as in libzmq).
            want.insert(0, EventMask::CONNECT_DELAYED);
            assert_eq!(connected[0].value(), libc::EINPROGRESS as u32);
        }
        assert_eq!(kinds(&connected), want, "{tr:?} {connected:#?}");
        let conn = &connected[connected.len() - 2];
        assert!(matches!(conn, MonitorEvent::Connected { fd: Some(_), .. }));
        assert_eq!(
            conn.peer_address(),
            Some(ep.as_str()),
            "the address reached"
        );

        // The client closes: it ended its connection; the server's peer
        // closed. Then the client's monitor stops, and nothing follows.
        drop(push);
        let end = until(&client, EventMask::MONITOR_STOPPED);
        assert_eq!(
            kinds(&end),
            [EventMask::DISCONNECTED, EventMask::MONITOR_STOPPED],
            "{tr:?} {end:#?}"
        );
        assert_eq!(end[0].reason(), Some(&EndReason::Closed));
        assert_eq!(end[0].value(), conn.value(), "the connection's descriptor");
        assert_eq!(end[1].value(), 0);
        assert_eq!(end[1].endpoint(), "");
        quiet(&client);

        let gone = next(&server, "disconnected", |e| {
            matches!(e, MonitorEvent::Disconnected { .. }).then(|| e.clone())
        });
        assert_eq!(gone.reason(), Some(&EndReason::PeerClosed));
        assert_eq!(gone.value(), up[1].value(), "the accepted descriptor");
        assert_eq!(gone.peer_address(), peer.as_deref());

        // The server closes: its listener, then the end.
        drop(pull);
        let end = until(&server, EventMask::MONITOR_STOPPED);
        assert_eq!(
            kinds(&end),
            [EventMask::CLOSED, EventMask::MONITOR_STOPPED],
            "{tr:?} {end:#?}"
        );
        assert_eq!(end[0].value(), up[0].value(), "the listener's descriptor");
        assert_eq!(end[0].endpoint(), ep);
        quiet(&server);
    }
}

/// A connecter whose peer goes away: DISCONNECTED (the peer closed), then
/// CONNECT_RETRIED with RECONNECT_IVL, and CONNECTED again when the peer
/// is back.
#[test]
fn a_peer_closing_is_disconnected_then_connect_retried() {
    for tr in [Tr::Tcp, Tr::Ipc] {
        let ctx = Context::new();
        let pull = sock(&ctx, SocketType::Pull);
        let ep = bind(&pull, tr);
        let push = sock(&ctx, SocketType::Push);
        push.update_options(|o| o.reconnect_ivl = Duration::from_millis(30));
        let events = push.monitor();
        push.connect(&ep).unwrap();
        until(&events, EventMask::HANDSHAKE_SUCCEEDED);
        drop(pull);
        let gone = until(&events, EventMask::DISCONNECTED);
        assert_eq!(
            gone.last().and_then(MonitorEvent::reason),
            Some(&EndReason::PeerClosed),
            "{tr:?} {gone:#?}"
        );
        let retry = events.recv_timeout(T).unwrap();
        assert!(
            matches!(
                retry,
                MonitorEvent::ConnectRetried { interval, .. } if interval == Duration::from_millis(30)
            ),
            "{tr:?} {retry:?}"
        );
        assert_eq!(retry.value(), 30);
        let back = sock(&ctx, SocketType::Pull);
        back.bind(&ep).unwrap();
        next(&events, "connected again", |e| {
            matches!(e, MonitorEvent::HandshakeSucceeded { .. }).then_some(())
        });
    }
}

/// A refused tcp connect: CONNECT_DELAYED (EINPROGRESS), its socket
/// CLOSED, then CONNECT_RETRIED, with the wait doubling up to
/// RECONNECT_IVL_MAX. Over ipc (no such file) the connect fails at once:
/// CLOSED, CONNECT_RETRIED.
#[test]
fn a_refused_connect_is_delayed_closed_and_retried() {
    let ctx = Context::new();
    let push = sock(&ctx, SocketType::Push);
    push.update_options(|o| {
        o.reconnect_ivl = Duration::from_millis(10);
        o.reconnect_ivl_max = Duration::from_millis(40);
    });
    let events = push.monitor();
    let ep = format!("tcp://127.0.0.1:{}", free_port());
    push.connect(&ep).unwrap();
    let mut waits = Vec::new();
    for _ in 0..4 {
        let round = until(&events, EventMask::CONNECT_RETRIED);
        assert_eq!(
            kinds(&round),
            [
                EventMask::CONNECT_DELAYED,
                EventMask::CLOSED,
                EventMask::CONNECT_RETRIED
            ],
            "{round:#?}"
        );
        assert_eq!(round[0].value(), libc::EINPROGRESS as u32);
        assert!(
            matches!(round[1], MonitorEvent::Closed { fd: Some(_), .. }),
            "the attempt's socket: {:?}",
            round[1]
        );
        assert!(round.iter().all(|e| e.endpoint() == ep));
        waits.push(round[2].value());
    }
    assert_eq!(waits, [10, 20, 40, 40]);

    let push = sock(&ctx, SocketType::Push);
    let events = push.monitor();
    let ep = format!("ipc:///tmp/{}.sock", unique("nobody"));
    push.connect(&ep).unwrap();
    for _ in 0..2 {
        let round = until(&events, EventMask::CONNECT_RETRIED);
        assert_eq!(
            kinds(&round),
            [EventMask::CLOSED, EventMask::CONNECT_RETRIED],
            "{round:#?}"
        );
    }
}

/// A bind on a port (or an ipc path) in use: BIND_FAILED with EADDRINUSE
/// and the error; the socket still binds elsewhere.
#[test]
fn a_bind_on_a_used_address_is_bind_failed() {
    let ctx = Context::new();
    let first = sock(&ctx, SocketType::Pull);
    let taken = bind(&first, Tr::Tcp);
    let ipc_taken = bind(&first, Tr::Ipc);
    let second = sock(&ctx, SocketType::Pull);
    let events = second.monitor();
    for ep in [&taken, &ipc_taken] {
        assert!(matches!(second.bind(ep), Err(Error::AddressInUse(_))));
        let ev = events.recv_timeout(T).unwrap();
        match &ev {
            MonitorEvent::BindFailed {
                endpoint,
                errno,
                error,
                ..
            } => {
                assert_eq!(endpoint, ep);
                assert_eq!(*errno, libc::EADDRINUSE);
                assert!(error.contains("in use"), "{error}");
            }
            other => panic!("{other:?}"),
        }
        assert_eq!(ev.value(), libc::EADDRINUSE as u32);
    }
    let ep = bind(&second, Tr::Tcp);
    let ev = events.recv_timeout(T).unwrap();
    assert!(
        matches!(&ev, MonitorEvent::Listening { endpoint, fd: Some(_), .. } if *endpoint == ep)
    );
}

/// Unbinding closes the listener: CLOSED with its descriptor; over ipc
/// the socket file goes too.
#[test]
fn an_unbind_is_closed() {
    for tr in [Tr::Tcp, Tr::Ipc] {
        let ctx = Context::new();
        let pull = sock(&ctx, SocketType::Pull);
        let events = pull.monitor();
        let ep = bind(&pull, tr);
        let listening = events.recv_timeout(T).unwrap();
        pull.unbind(&ep).unwrap();
        let closed = next(&events, "closed", |e| {
            matches!(e, MonitorEvent::Closed { .. }).then(|| e.clone())
        });
        assert_eq!(closed.endpoint(), ep);
        assert_eq!(closed.value(), listening.value());
        if let Some(path) = ep.strip_prefix("ipc://") {
            assert!(!std::path::Path::new(path).exists(), "{path} left behind");
        }
    }
}

/// An `ipc://*` directory that cannot be removed (somebody put a file in
/// it): CLOSE_FAILED with the errno, as libzmq reports it, and no CLOSED.
#[test]
fn a_listener_whose_directory_cannot_go_is_close_failed() {
    let ctx = Context::new();
    let pull = sock(&ctx, SocketType::Pull);
    let events = pull.monitor();
    pull.bind("ipc://*").unwrap();
    let ep = pull.last_endpoint().unwrap();
    let path = std::path::PathBuf::from(ep.strip_prefix("ipc://").unwrap());
    let dir = path.parent().unwrap().to_owned();
    let intruder = dir.join("intruder");
    std::fs::write(&intruder, b"x").unwrap();
    pull.unbind(&ep).unwrap();
    let ev = next(&events, "close failed", |e| {
        (!matches!(e, MonitorEvent::Listening { .. })).then(|| e.clone())
    });
    let cleanup = || {
        let _ = std::fs::remove_file(&intruder);
        let _ = std::fs::remove_dir(&dir);
    };
    match &ev {
        MonitorEvent::CloseFailed {
            endpoint, errno, ..
        } if *endpoint == ep && *errno == libc::ENOTEMPTY => {}
        other => {
            cleanup();
            panic!("{other:?}");
        }
    }
    assert_eq!(ev.value(), libc::ENOTEMPTY as u32);
    assert!(ev.to_string().starts_with("close failed: "), "{ev}");
    cleanup();
    quiet(&events);
}

/// Accepting with no descriptor left (a child process with a low
/// RLIMIT_NOFILE, its table filled): ACCEPT_FAILED with EMFILE, then,
/// once descriptors are free, the waiting connection is ACCEPTED.
#[test]
fn accepting_without_a_descriptor_is_accept_failed() {
    const CHILD: &str = "MONOCOQUE_MONITOR_ACCEPT_FAILED_CHILD";
    if std::env::var_os(CHILD).is_none() {
        let out = std::process::Command::new(std::env::current_exe().unwrap())
            .args([
                "accepting_without_a_descriptor_is_accept_failed",
                "--exact",
                "--nocapture",
                "--test-threads=1",
            ])
            .env(CHILD, "1")
            .output()
            .unwrap();
        let text = String::from_utf8_lossy(&out.stdout).into_owned()
            + &String::from_utf8_lossy(&out.stderr);
        assert!(out.status.success(), "the child failed:\n{text}");
        assert!(text.contains("1 passed"), "the child ran nothing:\n{text}");
        return;
    }
    use rustix::process::{getrlimit, setrlimit, Resource, Rlimit};
    let ctx = Context::new();
    let pull = sock(&ctx, SocketType::Pull);
    let events = pull.monitor();
    let ep = bind(&pull, Tr::Tcp);
    let addr: std::net::SocketAddr = ep.strip_prefix("tcp://").unwrap().parse().unwrap();
    let accept = |what: &str| {
        let s = TcpStream::connect(addr).unwrap();
        next(&events, what, |e| {
            matches!(e, MonitorEvent::Accepted { .. }).then_some(())
        });
        s
    };
    // The I/O thread runs (its runtime made its descriptors) and accepts.
    let _first = accept("the first accept");
    // io_uring reads RLIMIT_NOFILE when an accept is submitted: the one
    // waiting now has the old limit, the next ones the new.
    let open = std::fs::read_dir("/proc/self/fd").unwrap().count() as u64;
    let old = getrlimit(Resource::Nofile);
    setrlimit(
        Resource::Nofile,
        Rlimit {
            current: Some(open + 32),
            maximum: old.maximum,
        },
    )
    .unwrap();
    let _second = accept("the accept submitted before the limit");
    // The client's socket is made before the table is full.
    let client = socket2::Socket::new(socket2::Domain::IPV4, socket2::Type::STREAM, None).unwrap();
    let mut fillers = Vec::new();
    while let Ok(f) = std::fs::File::open("/dev/null") {
        fillers.push(f);
    }
    client.connect(&addr.into()).unwrap();
    let failed = next(&events, "accept failed", |e| {
        matches!(e, MonitorEvent::AcceptFailed { .. }).then(|| e.clone())
    });
    fillers.clear();
    setrlimit(Resource::Nofile, old).unwrap();
    assert_eq!(failed.value(), libc::EMFILE as u32, "{failed:?}");
    assert_eq!(failed.endpoint(), ep);
    assert!(
        failed.to_string().starts_with("accept failed: "),
        "{failed}"
    );
    // The listener carries on: the waiting connection comes in.
    next(&events, "the accept once descriptors are free", |e| {
        matches!(e, MonitorEvent::Accepted { .. }).then_some(())
    });
}

// ---- handshakes ----

/// A ZMTP 3.1 greeting offering `mechanism`, as a peer would send it.
fn greeting(mechanism: &str) -> Vec<u8> {
    let mut g = vec![0xff, 0, 0, 0, 0, 0, 0, 0, 1, 0x7f, 3, 1];
    let mut name = mechanism.as_bytes().to_vec();
    name.resize(20, 0);
    g.extend(name);
    g.push(0);
    g.extend([0u8; 31]);
    g
}

/// What garbage peers send, and the `ZMQ_PROTOCOL_ERROR_*` code each
/// must give.
fn garbage() -> Vec<(&'static str, Vec<u8>, u32)> {
    // A well-formed PLAIN HELLO (user "u", password "p"), out of place.
    let mut hello = greeting("NULL");
    hello.extend([0x04, 10]);
    hello.extend(b"\x05HELLO\x01u\x01p");
    let mut bad_ready = greeting("NULL");
    bad_ready.extend([0x04, 8]);
    bad_ready.extend(b"\x05READY\x0b\x00");
    vec![
        (
            "not zmtp",
            b"GET / HTTP/1.1\r\nHost: x\r\n\r\n\r\n\r\n\r\n\r\n\r\n\r\n\r\n\r\n\r\n".to_vec(),
            protocol_error_code::ZMTP_UNSPECIFIED,
        ),
        (
            "another mechanism",
            greeting("PLAIN"),
            protocol_error_code::ZMTP_MECHANISM_MISMATCH,
        ),
        (
            "a HELLO under NULL",
            hello,
            protocol_error_code::ZMTP_UNEXPECTED_COMMAND,
        ),
        (
            "a READY that does not parse",
            bad_ready,
            protocol_error_code::ZMTP_MALFORMED_COMMAND_READY,
        ),
    ]
}

/// A peer speaking garbage over tcp and ipc: HANDSHAKE_FAILED_PROTOCOL
/// with libzmq's code for the fault and the typed protocol error, then
/// DISCONNECTED.
#[test]
fn a_garbage_peer_is_handshake_failed_protocol_with_its_code() {
    for tr in [Tr::Tcp, Tr::Ipc] {
        let ctx = Context::new();
        let pull = sock(&ctx, SocketType::Pull);
        let events = pull.monitor();
        let ep = bind(&pull, tr);
        for (what, bytes, code) in garbage() {
            let mut conn: Box<dyn Write> = match tr {
                Tr::Tcp => {
                    Box::new(TcpStream::connect(ep.strip_prefix("tcp://").unwrap()).unwrap())
                }
                _ => Box::new(UnixStream::connect(ep.strip_prefix("ipc://").unwrap()).unwrap()),
            };
            conn.write_all(&bytes).unwrap();
            let fail = next(&events, what, |e| e.handshake_failure().map(|_| e.clone()));
            match &fail {
                MonitorEvent::HandshakeFailedProtocol {
                    code: c, reason, ..
                } => {
                    assert_eq!(*c, code, "{tr:?} {what}: {fail:?}");
                    assert!(matches!(reason, EndReason::Peer(_)), "{what}: {reason:?}");
                }
                other => panic!("{tr:?} {what}: {other:?}"),
            }
            assert_eq!(fail.value(), code);
            if what == "not zmtp" {
                assert_eq!(
                    fail.reason(),
                    Some(&EndReason::Peer(ProtocolError::BadSignature))
                );
            }
            let end = events.recv_timeout(T).unwrap();
            assert!(
                matches!(&end, MonitorEvent::Disconnected { reason, .. } if Some(reason) == fail.reason()),
                "{what}: {end:?}"
            );
            drop(conn);
        }
    }
}

/// libzmq gives the same codes to the same bytes where it checks them
/// (it takes a greeting without the signature for ZMTP 1.0, and reports
/// a READY it cannot parse only by closing).
#[test]
fn libzmq_gives_a_garbage_peer_the_same_codes() {
    let ctx = zmq::Context::new();
    let pull = ctx.socket(zmq::PULL).unwrap();
    pull.monitor(
        "inproc://garbage-codes",
        EventMask::HANDSHAKE_FAILED_PROTOCOL.bits() as i32,
    )
    .unwrap();
    let mon = ctx.socket(zmq::PAIR).unwrap();
    mon.set_rcvtimeo(T.as_millis() as i32).unwrap();
    mon.connect("inproc://garbage-codes").unwrap();
    pull.bind("tcp://127.0.0.1:*").unwrap();
    let ep = pull.get_last_endpoint().unwrap().unwrap();
    let mut checked = 0;
    for (what, bytes, code) in garbage() {
        if matches!(what, "not zmtp" | "a READY that does not parse") {
            continue;
        }
        let mut conn = TcpStream::connect(ep.strip_prefix("tcp://").unwrap()).unwrap();
        conn.write_all(&bytes).unwrap();
        let frames = mon.recv_multipart(0).unwrap();
        let msg: monocoque::Message = frames.into_iter().map(Bytes::from).collect();
        let ev = WireEvent::decode(&msg).unwrap();
        assert_eq!(ev.event, EventMask::HANDSHAKE_FAILED_PROTOCOL, "{what}");
        assert_eq!(ev.value, code, "{what}: libzmq's code");
        checked += 1;
    }
    assert_eq!(checked, 2);
}

/// A peer that says nothing: HANDSHAKE_FAILED_NO_DETAIL (ETIMEDOUT) after
/// HANDSHAKE_IVL, DISCONNECTED, CONNECT_RETRIED.
#[test]
fn a_silent_peer_is_handshake_failed_no_detail() {
    let silent = TcpListener::bind("127.0.0.1:0").unwrap();
    let addr = silent.local_addr().unwrap();
    let ctx = Context::new();
    let push = sock(&ctx, SocketType::Push);
    push.update_options(|o| {
        o.handshake_ivl = Some(Duration::from_millis(100));
        o.reconnect_ivl = Duration::from_secs(10);
    });
    let events = push.monitor();
    push.connect(&format!("tcp://{addr}")).unwrap();
    let _held = silent.accept().unwrap();
    let seen = until(&events, EventMask::CONNECT_RETRIED);
    assert_eq!(
        kinds(&seen),
        [
            EventMask::CONNECT_DELAYED,
            EventMask::CONNECTED,
            EventMask::HANDSHAKE_FAILED_NO_DETAIL,
            EventMask::DISCONNECTED,
            EventMask::CONNECT_RETRIED
        ],
        "{seen:#?}"
    );
    assert_eq!(seen[2].value(), libc::ETIMEDOUT as u32);
    assert_eq!(
        seen[2].reason(),
        Some(&EndReason::Timeout(ProtocolError::HandshakeTimeout))
    );
    assert_eq!(
        seen[3].value(),
        seen[1].value(),
        "the connection's descriptor"
    );
}

/// A PLAIN refusal, over tcp and ipc: HANDSHAKE_FAILED_AUTH with status
/// 400 on the server (its verdict) and on the client (the server's
/// ERROR).
#[test]
fn a_plain_refusal_is_handshake_failed_auth_400_on_both_sides() {
    for tr in [Tr::Tcp, Tr::Ipc] {
        let ctx = Context::new();
        let pull = sock(&ctx, SocketType::Pull);
        pull.update_options(|o| {
            o.security = Security::PlainServer {
                credentials: Some((Bytes::from("admin"), Bytes::from("secret"))),
            }
        });
        let server = pull.monitor();
        let ep = bind(&pull, tr);
        let push = sock(&ctx, SocketType::Push);
        push.update_options(|o| {
            o.security = Security::PlainClient {
                username: Bytes::from("admin"),
                password: Bytes::from("guess"),
            }
        });
        let client = push.monitor();
        push.connect(&ep).unwrap();
        for (side, events) in [("server", &server), ("client", &client)] {
            let fail = next(events, "a refusal", |e| {
                e.handshake_failure().map(|_| e.clone())
            });
            assert!(
                matches!(
                    &fail,
                    MonitorEvent::HandshakeFailedAuth {
                        status_code: 400,
                        reason: EndReason::Refused { .. },
                        ..
                    }
                ),
                "{tr:?} {side}: {fail:?}"
            );
            assert_eq!(fail.value(), 400);
        }
    }
}

/// A CURVE client the server's ZAP handler turns away: AUTH 400 on both
/// sides.
#[test]
fn a_curve_refusal_is_handshake_failed_auth_400_on_both_sides() {
    let ctx = Context::new();
    let (allowed, _) = curve_keypair();
    let _auth = Authenticator::start(
        &ctx,
        AuthRules {
            curve_keys: Some(vec![allowed]),
            ..AuthRules::default()
        },
    )
    .unwrap();
    let (server_public, server_secret) = curve_keypair();
    let pull = sock(&ctx, SocketType::Pull);
    pull.update_options(|o| {
        o.security = Security::CurveServer {
            secret: server_secret,
        }
    });
    let server = pull.monitor();
    let ep = bind(&pull, Tr::Tcp);
    let (public, secret) = curve_keypair();
    let stranger = sock(&ctx, SocketType::Push);
    stranger.update_options(|o| {
        o.security = Security::CurveClient {
            server: server_public,
            public,
            secret,
        }
    });
    let client = stranger.monitor();
    stranger.connect(&ep).unwrap();
    for (side, events) in [("server", &server), ("client", &client)] {
        let fail = next(events, "a refusal", |e| {
            e.handshake_failure().map(|_| e.clone())
        });
        assert!(
            matches!(
                fail,
                MonitorEvent::HandshakeFailedAuth {
                    status_code: 400,
                    ..
                }
            ),
            "{side}: {fail:?}"
        );
    }
}

/// The peer's routing id: what a ROUTER routes by (the peer's own, or the
/// one it made), and what a peer of another socket announced; on the
/// handshake and on the disconnection.
#[test]
fn events_carry_the_peers_routing_id() {
    let ctx = Context::new();
    let router = sock(&ctx, SocketType::Router);
    let events = router.monitor();
    let ep = bind(&router, Tr::Tcp);
    let named = sock(&ctx, SocketType::Dealer);
    named.update_options(|o| o.routing_id = Some(Bytes::from("dealer-1")));
    named.connect(&ep).unwrap();
    let hello = next(&events, "the named peer's handshake", |e| {
        matches!(e, MonitorEvent::HandshakeSucceeded { .. }).then(|| e.clone())
    });
    assert_eq!(hello.routing_id(), Some(&Bytes::from("dealer-1")));
    drop(named);
    let bye = next(&events, "its disconnection", |e| {
        matches!(e, MonitorEvent::Disconnected { .. }).then(|| e.clone())
    });
    assert_eq!(bye.routing_id(), Some(&Bytes::from("dealer-1")));

    let anonymous = sock(&ctx, SocketType::Dealer);
    anonymous.connect(&ep).unwrap();
    let hello = next(&events, "the anonymous peer's handshake", |e| {
        matches!(e, MonitorEvent::HandshakeSucceeded { .. }).then(|| e.clone())
    });
    let id = hello.routing_id().expect("the id the ROUTER made");
    assert_eq!((id.len(), id[0]), (5, 0), "{id:?}");

    // A REP routes by envelopes, not ids: the one its peer announced.
    let rep = sock(&ctx, SocketType::Rep);
    let events = rep.monitor();
    let ep = bind(&rep, Tr::Ipc);
    let req = sock(&ctx, SocketType::Req);
    req.update_options(|o| o.routing_id = Some(Bytes::from("asker")));
    req.connect(&ep).unwrap();
    let hello = next(&events, "the handshake", |e| {
        matches!(e, MonitorEvent::HandshakeSucceeded { .. }).then(|| e.clone())
    });
    assert_eq!(hello.routing_id(), Some(&Bytes::from("asker")));
    let quiet_req = sock(&ctx, SocketType::Req);
    quiet_req.connect(&ep).unwrap();
    let hello = next(&events, "the second handshake", |e| {
        matches!(e, MonitorEvent::HandshakeSucceeded { .. }).then(|| e.clone())
    });
    assert_eq!(hello.routing_id(), None);
}

/// Closing a socket with a live connection: its listener CLOSED, the
/// connection it ended DISCONNECTED (closed here), MONITOR_STOPPED last;
/// over inproc too (no descriptors).
#[test]
fn our_close_is_closed_then_monitor_stopped() {
    for tr in [Tr::Tcp, Tr::Ipc, Tr::Inproc] {
        let ctx = Context::new();
        let pull = sock(&ctx, SocketType::Pull);
        let events = pull.monitor();
        let ep = bind(&pull, tr);
        let push = sock(&ctx, SocketType::Push);
        push.connect(&ep).unwrap();
        let up = until(&events, EventMask::HANDSHAKE_SUCCEEDED);
        wait_peers(&pull, 1);
        if tr == Tr::Inproc {
            assert!(
                up.iter().all(|e| e.value() == u32::MAX || e.value() == 0),
                "no descriptors: {up:#?}"
            );
        }
        pull.close();
        let end = until(&events, EventMask::MONITOR_STOPPED);
        let mut got = kinds(&end);
        got.sort_by_key(|k| k.bits());
        let mut want = vec![EventMask::DISCONNECTED, EventMask::MONITOR_STOPPED];
        if tr != Tr::Inproc {
            // An inproc name is not a listener.
            want.insert(0, EventMask::CLOSED);
        }
        assert_eq!(got, want, "{tr:?} {end:#?}");
        assert_eq!(
            end.last().map(MonitorEvent::event),
            Some(EventMask::MONITOR_STOPPED)
        );
        let disconnected = end.iter().find(|e| e.event() == EventMask::DISCONNECTED);
        assert_eq!(
            disconnected.and_then(MonitorEvent::reason),
            Some(&EndReason::Closed),
            "{tr:?}"
        );
        quiet(&events);
    }
}

// ---- masks ----

/// A monitor's mask keeps the events it names and only those; readers
/// with other masks see theirs; NONE sees nothing (even MONITOR_STOPPED).
#[test]
fn the_mask_filters_events() {
    let ctx = Context::new();
    let pull = sock(&ctx, SocketType::Pull);
    let all = pull.monitor();
    let some = pull.monitor_events(EventMask::HANDSHAKE_SUCCEEDED | EventMask::DISCONNECTED);
    let none = pull.monitor_events(EventMask::NONE);
    let failures = pull.monitor_events(EventMask::HANDSHAKE_FAILED);
    assert_eq!(some.events().bits(), 0x1200);
    let ep = bind(&pull, Tr::Tcp);
    let push = sock(&ctx, SocketType::Push);
    push.connect(&ep).unwrap();
    wait_peers(&pull, 1);
    drop(push);
    let full = until(&all, EventMask::DISCONNECTED);
    assert_eq!(
        kinds(&full),
        [
            EventMask::LISTENING,
            EventMask::ACCEPTED,
            EventMask::HANDSHAKE_SUCCEEDED,
            EventMask::DISCONNECTED
        ]
    );
    let filtered = until(&some, EventMask::DISCONNECTED);
    assert_eq!(
        kinds(&filtered),
        [EventMask::HANDSHAKE_SUCCEEDED, EventMask::DISCONNECTED]
    );
    assert_eq!(filtered, full[2..]);
    // A mismatch gives the failures monitor its one event.
    let plain = sock(&ctx, SocketType::Push);
    plain.update_options(|o| {
        o.security = Security::PlainClient {
            username: Bytes::from("u"),
            password: Bytes::from("p"),
        }
    });
    plain.connect(&ep).unwrap();
    let fail = failures.recv_timeout(T).unwrap();
    assert_eq!(fail.event(), EventMask::HANDSHAKE_FAILED_PROTOCOL);
    drop(plain);
    drop(pull);
    until(&all, EventMask::MONITOR_STOPPED);
    // Each retry of the refused client fails again; nothing else comes.
    let rest = |m: &Monitor| std::iter::from_fn(|| m.try_recv()).collect::<Vec<_>>();
    for (m, mask) in [
        (
            &some,
            EventMask::HANDSHAKE_SUCCEEDED | EventMask::DISCONNECTED,
        ),
        (&failures, EventMask::HANDSHAKE_FAILED),
    ] {
        let got = rest(m);
        assert!(got.iter().all(|e| mask.contains(e.event())), "{got:#?}");
    }
    assert_eq!(none.try_recv(), None);
}

/// A mask from libzmq's bits: `ZMQ_EVENT_ALL` and anything within it;
/// a bit above is a typed error, and so is a monitor endpoint that is
/// not inproc.
#[test]
fn unknown_bits_and_other_transports_are_typed_errors() {
    assert_eq!(EventMask::from_bits(0xFFFF), Ok(EventMask::ALL));
    assert_eq!(
        EventMask::from_bits(0xFFFF & !0x0001),
        Ok(EventMask::ALL - EventMask::CONNECTED)
    );
    for bits in [0x1_0000, 0x8000_0000, 0x1_0400] {
        let e = EventMask::from_bits(bits).unwrap_err();
        assert_eq!(e, MonitorError::UnknownEvents(bits & !0xFFFF));
        assert!(e.to_string().contains("unknown monitor event bits"), "{e}");
    }
    let ctx = Context::new();
    let s = sock(&ctx, SocketType::Pull);
    for ep in ["tcp://127.0.0.1:5555", "ipc:///tmp/monitor", "monitor", ""] {
        match s.socket_monitor(ep, EventMask::ALL) {
            Err(Error::Monitor(MonitorError::NotInproc(e))) => assert_eq!(e, ep),
            other => panic!("{ep:?}: {other:?}"),
        }
    }
    // An inproc name in use is the bind's error.
    let other = sock(&ctx, SocketType::Pair);
    let name = format!("inproc://{}", unique("taken"));
    other.bind(&name).unwrap();
    assert!(matches!(
        s.socket_monitor(&name, EventMask::ALL),
        Err(Error::AddressInUse(_))
    ));
    // Once the context is terminated, nothing.
    ctx.terminate();
    let name = format!("inproc://{}", unique("late"));
    assert!(matches!(
        s.socket_monitor(&name, EventMask::ALL),
        Err(Error::Terminated)
    ));
}

// ---- the libzmq-format monitor ----

/// One event read from a libzmq-format monitor, decoded by hand: the
/// first frame is six bytes (u16 event, u32 value, native order), the
/// second the endpoint.
fn decode(frames: &[Vec<u8>]) -> (u16, u32, String) {
    assert_eq!(frames.len(), 2, "two frames: {frames:?}");
    let head = &frames[0];
    assert_eq!(head.len(), 6, "six bytes: {head:?}");
    let event = u16::from_ne_bytes([head[0], head[1]]);
    let value = u32::from_ne_bytes([head[2], head[3], head[4], head[5]]);
    (event, value, String::from_utf8(frames[1].clone()).unwrap())
}

/// A reader of a libzmq-format monitor, ours or libzmq's.
enum Wire {
    Ours(Socket),
    Libzmq(zmq::Socket),
}

impl Wire {
    /// The next event, `None` after [`T`].
    fn next(&self) -> Option<(u16, u32, String)> {
        self.next_within(T)
    }

    /// The next event, `None` after `t`.
    fn next_within(&self, t: Duration) -> Option<(u16, u32, String)> {
        let frames: Vec<Vec<u8>> = match self {
            Wire::Ours(s) => s
                .recv_timeout(t)
                .ok()?
                .frames()
                .iter()
                .map(|f| f.to_vec())
                .collect(),
            Wire::Libzmq(s) => {
                s.set_rcvtimeo(t.as_millis() as i32).unwrap();
                s.recv_multipart(0).ok()?
            }
        };
        Some(decode(&frames))
    }

    /// Every event until the first of `last` (included).
    fn until(&self, last: EventMask) -> Vec<(u16, u32, String)> {
        let mut seen = Vec::new();
        loop {
            let ev = self
                .next()
                .unwrap_or_else(|| panic!("no {last:?} within {T:?}; saw {seen:?}"));
            let done = u32::from(ev.0) == last.bits();
            seen.push(ev);
            if done {
                return seen;
            }
        }
    }
}

fn names(events: &[(u16, u32, String)]) -> Vec<EventMask> {
    events
        .iter()
        .map(|e| EventMask::from_bits(u32::from(e.0)).unwrap())
        .collect()
}

/// One socket under a libzmq-format monitor, ours or libzmq's.
enum Under {
    Ours(Socket),
    Libzmq(zmq::Socket),
}

impl Under {
    fn new(
        lib: bool,
        ty: zmq::SocketType,
        ours: SocketType,
        zctx: &zmq::Context,
        ctx: &Context,
    ) -> (Under, Wire) {
        let ep = format!("inproc://{}", unique("wire"));
        if lib {
            let s = zctx.socket(ty).unwrap();
            s.set_linger(0).unwrap();
            s.monitor(&ep, EventMask::ALL.bits() as i32).unwrap();
            let r = zctx.socket(zmq::PAIR).unwrap();
            r.connect(&ep).unwrap();
            (Under::Libzmq(s), Wire::Libzmq(r))
        } else {
            let s = sock(ctx, ours);
            s.socket_monitor(&ep, EventMask::ALL).unwrap();
            let r = ctx.socket(SocketType::Pair).unwrap();
            r.connect(&ep).unwrap();
            (Under::Ours(s), Wire::Ours(r))
        }
    }

    fn bind(&self) -> String {
        match self {
            Under::Ours(s) => bind(s, Tr::Tcp),
            Under::Libzmq(s) => {
                s.bind("tcp://127.0.0.1:*").unwrap();
                s.get_last_endpoint().unwrap().unwrap()
            }
        }
    }

    fn connect(&self, ep: &str) {
        match self {
            Under::Ours(s) => s.connect(ep).unwrap(),
            Under::Libzmq(s) => s.connect(ep).unwrap(),
        }
    }
}

/// Our libzmq-format monitor, read with our PAIR and decoded by hand,
/// says what the typed monitor says: the same events, values and
/// endpoints, less what libzmq leaves out (the connection this side
/// ended); a second `socket_monitor` stops the first.
#[test]
fn the_wire_monitor_speaks_libzmqs_format() {
    let ctx = Context::new();
    let push = sock(&ctx, SocketType::Push);
    let typed = push.monitor();
    push.socket_monitor("inproc://wire-format", EventMask::ALL)
        .unwrap();
    let reader = Wire::Ours({
        let r = ctx.socket(SocketType::Pair).unwrap();
        r.connect("inproc://wire-format").unwrap();
        r
    });
    let pull = sock(&ctx, SocketType::Pull);
    let ep = bind(&pull, Tr::Tcp);
    push.connect(&ep).unwrap();
    let wire = reader.until(EventMask::HANDSHAKE_SUCCEEDED);
    let seen = until(&typed, EventMask::HANDSHAKE_SUCCEEDED);
    let as_wire: Vec<_> = seen
        .iter()
        .map(|e| (e.event().bits() as u16, e.value(), e.endpoint().to_owned()))
        .collect();
    assert_eq!(wire, as_wire);
    assert_eq!(
        names(&wire),
        [
            EventMask::CONNECT_DELAYED,
            EventMask::CONNECTED,
            EventMask::HANDSHAKE_SUCCEEDED
        ]
    );
    // The peer goes: the connection ends, a retry is planned, on both.
    drop(pull);
    let wire = reader.until(EventMask::CONNECT_RETRIED);
    assert_eq!(
        names(&wire),
        [EventMask::DISCONNECTED, EventMask::CONNECT_RETRIED]
    );
    assert_eq!(wire[1].1, 20, "RECONNECT_IVL");
    // A second monitor replaces the first, which is told.
    push.socket_monitor("inproc://wire-format-2", EventMask::CONNECT_RETRIED)
        .unwrap();
    let stopped = reader.until(EventMask::MONITOR_STOPPED);
    assert_eq!(stopped.last(), Some(&(0x0400, 0, String::new())));
    let second = Wire::Ours({
        let r = ctx.socket(SocketType::Pair).unwrap();
        r.connect("inproc://wire-format-2").unwrap();
        r
    });
    // Only the retries, of the attempts that keep failing.
    for _ in 0..2 {
        assert_eq!(second.next().map(|e| e.0), Some(0x0004));
    }
    push.stop_socket_monitor();
    // The mask leaves out MONITOR_STOPPED, and the PAIR goes.
    let after: Vec<_> =
        std::iter::from_fn(|| second.next_within(Duration::from_millis(300))).collect();
    assert!(after.iter().all(|e| e.0 == 0x0004), "{after:?}");
}

/// A wire monitor sees its socket's close to the end: CLOSED, then
/// MONITOR_STOPPED with an empty endpoint; the connection this side
/// ended is not reported, as in libzmq.
#[test]
fn the_wire_monitor_ends_with_monitor_stopped() {
    let ctx = Context::new();
    let pull = sock(&ctx, SocketType::Pull);
    pull.socket_monitor("inproc://wire-end", EventMask::ALL)
        .unwrap();
    let reader = Wire::Ours({
        let r = ctx.socket(SocketType::Pair).unwrap();
        r.connect("inproc://wire-end").unwrap();
        r
    });
    let ep = bind(&pull, Tr::Ipc);
    let push = sock(&ctx, SocketType::Push);
    push.connect(&ep).unwrap();
    reader.until(EventMask::HANDSHAKE_SUCCEEDED);
    wait_peers(&pull, 1);
    drop(pull);
    let end = reader.until(EventMask::MONITOR_STOPPED);
    assert_eq!(
        names(&end),
        [EventMask::CLOSED, EventMask::MONITOR_STOPPED],
        "{end:?}"
    );
    assert_eq!(end[0].2, ep);
    assert_eq!(end[1], (0x0400, 0, String::new()));
}

/// libzmq's monitor and ours agree on a connect, handshake and
/// disconnect, whichever library runs each end: the same events in the
/// same order, the same endpoints, the same values where they are not
/// descriptors, and the same descriptor from ACCEPTED to DISCONNECTED and
/// from LISTENING to CLOSED.
#[test]
fn libzmq_agrees_on_the_order_of_a_connect_handshake_and_disconnect() {
    let zctx = zmq::Context::new();
    let ctx = Context::new();
    let mut runs = Vec::new();
    for (server_lib, client_lib) in [(false, false), (true, true), (false, true), (true, false)] {
        let (server, server_events) =
            Under::new(server_lib, zmq::PULL, SocketType::Pull, &zctx, &ctx);
        let ep = server.bind();
        let (client, client_events) =
            Under::new(client_lib, zmq::PUSH, SocketType::Push, &zctx, &ctx);
        client.connect(&ep);
        let mut s = server_events.until(EventMask::HANDSHAKE_SUCCEEDED);
        let mut c = client_events.until(EventMask::HANDSHAKE_SUCCEEDED);
        drop(client);
        c.extend(client_events.until(EventMask::MONITOR_STOPPED));
        s.extend(server_events.until(EventMask::DISCONNECTED));
        drop(server);
        s.extend(server_events.until(EventMask::MONITOR_STOPPED));
        let who = format!("server {}, client {}", lib(server_lib), lib(client_lib));
        assert_eq!(
            names(&s),
            [
                EventMask::LISTENING,
                EventMask::ACCEPTED,
                EventMask::HANDSHAKE_SUCCEEDED,
                EventMask::DISCONNECTED,
                EventMask::CLOSED,
                EventMask::MONITOR_STOPPED
            ],
            "{who}: {s:?}"
        );
        assert_eq!(
            names(&c),
            [
                EventMask::CONNECT_DELAYED,
                EventMask::CONNECTED,
                EventMask::HANDSHAKE_SUCCEEDED,
                EventMask::MONITOR_STOPPED
            ],
            "{who}: {c:?}"
        );
        for (events, _) in [(&s, "server"), (&c, "client")] {
            let (last, rest) = events.split_last().unwrap();
            assert_eq!(last, &(0x0400, 0, String::new()), "{who}");
            assert!(rest.iter().all(|e| e.2 == ep), "{who}: {events:?}");
        }
        assert_eq!(s[1].1, s[3].1, "{who}: ACCEPTED and DISCONNECTED");
        assert_eq!(s[0].1, s[4].1, "{who}: LISTENING and CLOSED");
        assert_eq!(
            (s[2].1, c[0].1, c[2].1),
            (0, libc::EINPROGRESS as u32, 0),
            "{who}"
        );
        runs.push((server_lib, client_lib));
    }
    assert_eq!(runs.len(), 4);
}

fn lib(libzmq: bool) -> &'static str {
    if libzmq {
        "libzmq"
    } else {
        "monocoque"
    }
}

/// And on a refused connect: CONNECT_DELAYED, CLOSED, CONNECT_RETRIED,
/// again and again.
#[test]
fn libzmq_agrees_on_a_refused_connect() {
    let zctx = zmq::Context::new();
    let ctx = Context::new();
    let ep = format!("tcp://127.0.0.1:{}", free_port());
    let mut seen = Vec::new();
    for lib in [false, true] {
        let (client, events) = Under::new(lib, zmq::PUSH, SocketType::Push, &zctx, &ctx);
        if let Under::Libzmq(s) = &client {
            s.set_reconnect_ivl(20).unwrap();
        }
        client.connect(&ep);
        let mut got = events.until(EventMask::CONNECT_RETRIED);
        got.extend(events.until(EventMask::CONNECT_RETRIED));
        assert!(got.iter().all(|e| e.2 == ep), "{got:?}");
        seen.push(names(&got));
    }
    assert_eq!(seen[0], seen[1], "monocoque, then libzmq");
    assert_eq!(
        seen[0],
        [
            EventMask::CONNECT_DELAYED,
            EventMask::CLOSED,
            EventMask::CONNECT_RETRIED,
            EventMask::CONNECT_DELAYED,
            EventMask::CLOSED,
            EventMask::CONNECT_RETRIED
        ]
    );
}

// ---- Display ----

/// Each event prints its name, what matters of it, and the endpoint.
#[test]
fn events_print_their_name_then_the_endpoint() {
    let ctx = Context::new();
    let pull = sock(&ctx, SocketType::Pull);
    let events = pull.monitor();
    let ep = bind(&pull, Tr::Tcp);
    let push = sock(&ctx, SocketType::Push);
    push.connect(&ep).unwrap();
    wait_peers(&pull, 1);
    drop(push);
    let lines: Vec<String> = until(&events, EventMask::DISCONNECTED)
        .iter()
        .map(ToString::to_string)
        .collect();
    assert_eq!(lines[0], format!("listening {ep}"));
    assert!(
        lines[1].starts_with(&format!("accepted {ep} from tcp://127.0.0.1:")),
        "{lines:?}"
    );
    assert_eq!(lines[2], format!("handshake succeeded {ep}"));
    assert_eq!(
        lines[3],
        format!("disconnected: connection closed by peer {ep}")
    );
    drop(pull);
    let end = until(&events, EventMask::MONITOR_STOPPED);
    assert_eq!(end.last().unwrap().to_string(), "monitor stopped");
}
