//! Interop against real libzmq (the `zmq` crate's vendored libzmq 4.3.4),
//! over loopback TCP, with a small blocking `std::net` harness driving our
//! sans-IO `Session`. Both directions: libzmq binds and we connect, and the
//! reverse; NULL and PLAIN (us as client and as server); refused socket types
//! and mechanisms; libzmq's heartbeats.

#![allow(clippy::unwrap_used)]
mod common;

use std::collections::VecDeque;
use std::io::{ErrorKind, Read, Write};
use std::net::{TcpListener, TcpStream};
use std::thread;
use std::time::{Duration, Instant};

use bytes::Bytes;
use monocoque_zmtp::{
    Event, MechanismConfig, PeerInfo, ProtocolError, Session, SessionConfig, SocketType, ZapReply,
    ZapRequest,
};

use common::Assembler;

const TIMEOUT: Duration = Duration::from_secs(10);

/// Our end of a connection: a blocking TCP stream plus a `Session`.
struct Conn {
    stream: TcpStream,
    session: Session,
    events: VecDeque<Event>,
    zap: Box<dyn FnMut(&ZapRequest) -> ZapReply>,
    zap_seen: Vec<ZapRequest>,
    peer: Option<PeerInfo>,
    assembler: Assembler,
}

impl Conn {
    fn new(stream: TcpStream, config: SessionConfig) -> Conn {
        stream.set_read_timeout(Some(TIMEOUT)).unwrap();
        stream.set_nodelay(true).unwrap();
        Conn {
            stream,
            session: Session::new(config, Instant::now()).unwrap(),
            events: VecDeque::new(),
            zap: Box::new(ZapReply::accept),
            zap_seen: Vec::new(),
            peer: None,
            assembler: Assembler::new(None),
        }
    }

    fn connect(endpoint: &str, config: SessionConfig) -> Conn {
        let addr = endpoint.trim_start_matches("tcp://");
        Conn::new(TcpStream::connect(addr).unwrap(), config)
    }

    fn flush(&mut self) {
        let mut out = Vec::new();
        self.session.poll_transmit(&mut out);
        self.write(out);
    }

    fn write(&mut self, out: Vec<Bytes>) {
        for b in out {
            // Peer may already have closed after refusing us.
            if self.stream.write_all(&b).is_err() {
                return;
            }
        }
    }

    /// One read, fed to the session; events are queued, ZAP answered.
    fn read_once(&mut self) -> Result<(), ProtocolError> {
        let mut buf = vec![0u8; 64 * 1024];
        let n = match self.stream.read(&mut buf) {
            Ok(0) => return Err(ProtocolError::Closed),
            Ok(n) => n,
            Err(e) if e.kind() == ErrorKind::ConnectionReset => return Err(ProtocolError::Closed),
            Err(e) => panic!("read failed: {e}"),
        };
        buf.truncate(n);
        let r = self.session.handle_input(Bytes::from(buf));
        self.drain_events()?;
        self.flush();
        r
    }

    fn drain_events(&mut self) -> Result<(), ProtocolError> {
        while let Some(ev) = self.session.poll_event() {
            match ev {
                Event::ZapRequest(req) => {
                    let reply = (self.zap)(&req);
                    self.zap_seen.push(*req);
                    let r = self.session.zap_reply(reply);
                    self.flush();
                    r?;
                }
                Event::HandshakeComplete(p) => self.peer = Some(*p),
                other => self.events.push_back(other),
            }
        }
        Ok(())
    }

    fn handshake(&mut self) -> Result<PeerInfo, ProtocolError> {
        self.flush();
        while self.peer.is_none() {
            self.read_once()?;
        }
        Ok(self.peer.clone().unwrap())
    }

    fn next_event(&mut self) -> Event {
        loop {
            if let Some(ev) = self.events.pop_front() {
                return ev;
            }
            self.read_once().unwrap();
        }
    }

    fn recv(&mut self) -> Vec<Bytes> {
        loop {
            match self.next_event() {
                Event::Frame { body, more } => {
                    if let Some(m) = self.assembler.push(body, more).unwrap() {
                        return m;
                    }
                }
                Event::Ping { .. } | Event::Pong { .. } => {}
                other => panic!("unexpected event {other:?}"),
            }
        }
    }

    fn send(&mut self, parts: &[Bytes]) {
        let mut out = Vec::new();
        self.session
            .send_message(parts.iter().cloned(), &mut out)
            .unwrap();
        self.write(out);
    }
}

fn listener() -> (TcpListener, String) {
    let l = TcpListener::bind("127.0.0.1:0").unwrap();
    let ep = format!("tcp://{}", l.local_addr().unwrap());
    (l, ep)
}

fn accept(l: &TcpListener, config: SessionConfig) -> Conn {
    let (s, _) = l.accept().unwrap();
    Conn::new(s, config)
}

fn zsock(ctx: &zmq::Context, t: zmq::SocketType) -> zmq::Socket {
    let s = ctx.socket(t).unwrap();
    s.set_rcvtimeo(TIMEOUT.as_millis() as i32).unwrap();
    s.set_sndtimeo(TIMEOUT.as_millis() as i32).unwrap();
    s.set_linger(0).unwrap();
    s
}

fn zbind(s: &zmq::Socket) -> String {
    s.bind("tcp://127.0.0.1:*").unwrap();
    s.get_last_endpoint().unwrap().unwrap()
}

fn big(n: usize, seed: u8) -> Bytes {
    (0..n)
        .map(|i| (i as u8).wrapping_mul(31).wrapping_add(seed))
        .collect::<Vec<u8>>()
        .into()
}

fn to_vecs(parts: &[Bytes]) -> Vec<Vec<u8>> {
    parts.iter().map(|b| b.to_vec()).collect()
}

fn b(s: &'static str) -> Bytes {
    Bytes::from_static(s.as_bytes())
}

fn config(t: SocketType) -> SessionConfig {
    SessionConfig::new(t)
}

#[test]
fn null_we_connect_dealer_to_libzmq_router() {
    let ctx = zmq::Context::new();
    let router = zsock(&ctx, zmq::ROUTER);
    let ep = zbind(&router);
    let mut cfg = config(SocketType::Dealer);
    cfg.identity = Some(b("dealer-1"));
    cfg.metadata.insert("X-Hello", "World").unwrap();
    let mut us = Conn::connect(&ep, cfg);
    let peer = us.handshake().unwrap();
    assert_eq!(peer.socket_type, SocketType::Router);
    assert_eq!(peer.minor_version, 1);
    assert_eq!(peer.identity, None);

    // Ours, byte-exact at libzmq: empty frames and a large frame included.
    let msg = [
        b(""),
        b("hello"),
        big(300_000, 7),
        b(""),
        big(255, 1),
        big(256, 2),
    ];
    us.send(&msg);
    let got = router.recv_multipart(0).unwrap();
    assert_eq!(got[0], b"dealer-1");
    assert_eq!(&got[1..], &to_vecs(&msg)[..]);

    // Theirs, decoded right.
    let reply = [b("reply"), b(""), big(1 << 20, 3)];
    let mut zparts: Vec<Vec<u8>> = vec![b"dealer-1".to_vec()];
    zparts.extend(to_vecs(&reply));
    router.send_multipart(zparts, 0).unwrap();
    assert_eq!(us.recv(), reply.to_vec());
}

#[test]
fn null_libzmq_req_connects_to_our_rep() {
    let (l, ep) = listener();
    let ctx = zmq::Context::new();
    let req = zsock(&ctx, zmq::REQ);
    req.set_identity(b"requester").unwrap();
    req.connect(&ep).unwrap();
    let mut us = accept(&l, config(SocketType::Rep));
    let peer = us.handshake().unwrap();
    assert_eq!(peer.socket_type, SocketType::Req);
    assert_eq!(peer.identity.as_deref(), Some(&b"requester"[..]));
    req.send_multipart(["ping", "", "x"], 0).unwrap();
    // REQ adds the empty delimiter.
    assert_eq!(us.recv(), vec![b(""), b("ping"), b(""), b("x")]);
    us.send(&[b(""), b("pong"), big(70_000, 9)]);
    let got = req.recv_multipart(0).unwrap();
    assert_eq!(got, to_vecs(&[b("pong"), big(70_000, 9)]));
}

#[test]
fn null_push_pull_both_directions_many_messages() {
    // libzmq PUSH binds, we PULL.
    let ctx = zmq::Context::new();
    let push = zsock(&ctx, zmq::PUSH);
    let ep = zbind(&push);
    let mut us = Conn::connect(&ep, config(SocketType::Pull));
    us.handshake().unwrap();
    for i in 0..2000u32 {
        push.send(&i.to_be_bytes()[..], 0).unwrap();
    }
    for i in 0..2000u32 {
        assert_eq!(us.recv(), vec![Bytes::copy_from_slice(&i.to_be_bytes())]);
    }
    // We bind as PUSH, libzmq PULL connects.
    let (l, ep) = listener();
    let pull = zsock(&ctx, zmq::PULL);
    pull.connect(&ep).unwrap();
    let mut us = accept(&l, config(SocketType::Push));
    us.handshake().unwrap();
    for i in 0..2000u32 {
        us.send(&[Bytes::copy_from_slice(&i.to_be_bytes()), b("")]);
    }
    for i in 0..2000u32 {
        assert_eq!(
            pull.recv_multipart(0).unwrap(),
            vec![i.to_be_bytes().to_vec(), vec![]]
        );
    }
}

#[test]
fn subscriptions_both_ways() {
    let ctx = zmq::Context::new();
    // We SUB to a libzmq PUB: our SUBSCRIBE command must take effect.
    let publisher = zsock(&ctx, zmq::PUB);
    let ep = zbind(&publisher);
    let mut us = Conn::connect(&ep, config(SocketType::Sub));
    us.handshake().unwrap();
    let mut out = Vec::new();
    us.session.send_subscribe(b("weather"), &mut out).unwrap();
    us.write(out);
    // Publish until the subscription has landed.
    let deadline = Instant::now() + TIMEOUT;
    us.stream
        .set_read_timeout(Some(Duration::from_millis(50)))
        .unwrap();
    let got = loop {
        assert!(Instant::now() < deadline, "subscription never took effect");
        publisher.send("sports nope", 0).unwrap();
        publisher.send("weather sunny", 0).unwrap();
        let mut buf = vec![0u8; 65536];
        match us.stream.read(&mut buf) {
            Ok(n) if n > 0 => {
                buf.truncate(n);
                us.session.handle_input(Bytes::from(buf)).unwrap();
                us.drain_events().unwrap();
                if let Some(Event::Frame { body, .. }) = us.events.pop_front() {
                    break body;
                }
            }
            _ => {}
        }
    };
    assert_eq!(got, b("weather sunny"));

    // libzmq SUB connects to our XPUB: we see its subscription.
    let (l, ep) = listener();
    let sub = zsock(&ctx, zmq::SUB);
    sub.set_subscribe(b"news").unwrap();
    sub.connect(&ep).unwrap();
    let mut us = accept(&l, config(SocketType::Xpub));
    us.handshake().unwrap();
    assert_eq!(us.next_event(), Event::Subscribe(b("news")));
    us.send(&[b("news flash")]);
    assert_eq!(sub.recv_bytes(0).unwrap(), b"news flash");
    sub.set_unsubscribe(b"news").unwrap();
    assert_eq!(us.next_event(), Event::Cancel(b("news")));
}

#[test]
fn libzmq_heartbeat_ping_gets_pong() {
    let ctx = zmq::Context::new();
    let dealer = zsock(&ctx, zmq::DEALER);
    dealer.set_heartbeat_ivl(100).unwrap();
    dealer.set_heartbeat_ttl(2000).unwrap();
    // libzmq drops a peer that sends nothing within this long after a PING.
    dealer.set_heartbeat_timeout(600).unwrap();
    let ep = zbind(&dealer);
    let mut us = Conn::connect(&ep, config(SocketType::Dealer));
    us.handshake().unwrap();

    // Serve the connection for well over two timeouts: every PING is answered
    // by the PONG the session queued, and libzmq keeps pinging (were the
    // PONGs not accepted, it would close and `next_event` would panic).
    let mut pings = 0;
    let until = Instant::now() + Duration::from_millis(1500);
    while Instant::now() < until {
        match us.next_event() {
            Event::Ping { ttl, context } => {
                assert_eq!(ttl, Some(Duration::from_secs(2)));
                assert!(context.is_empty());
                pings += 1;
            }
            other => panic!("unexpected event {other:?}"),
        }
    }
    assert!(pings >= 5, "only {pings} pings");
    dealer.send("still here", 0).unwrap();
    assert_eq!(us.recv(), vec![b("still here")]);

    // The control: stop answering, and libzmq drops us.
    thread::sleep(Duration::from_millis(1500));
    loop {
        match us.read_once() {
            Ok(()) => continue,
            Err(e) => {
                assert_eq!(e, ProtocolError::Closed);
                break;
            }
        }
    }
}

#[test]
fn incompatible_socket_types_refused() {
    let ctx = zmq::Context::new();
    // libzmq PUSH binds, we connect as PUSH: we refuse.
    let push = zsock(&ctx, zmq::PUSH);
    let ep = zbind(&push);
    let mut us = Conn::connect(&ep, config(SocketType::Push));
    let err = us.handshake().unwrap_err();
    assert_eq!(
        err,
        ProtocolError::IncompatibleSocketType {
            ours: SocketType::Push,
            peer: SocketType::Push
        }
    );
    assert!(err.is_peer_fault());

    // We bind as PUB, libzmq REQ connects: we refuse, and libzmq refuses us
    // (it never delivers anything to us).
    let (l, ep) = listener();
    let req = zsock(&ctx, zmq::REQ);
    req.connect(&ep).unwrap();
    let mut us = accept(&l, config(SocketType::Pub));
    assert!(matches!(
        us.handshake(),
        Err(ProtocolError::IncompatibleSocketType { .. })
    ));
}

fn zap_handler(ctx: &zmq::Context) -> thread::JoinHandle<()> {
    let rep = ctx.socket(zmq::REP).unwrap();
    rep.set_linger(0).unwrap();
    rep.bind("inproc://zeromq.zap.01").unwrap();
    thread::spawn(move || {
        // Serve requests until the context terminates.
        while let Ok(frames) = rep.recv_multipart(0) {
            let frames: Vec<Bytes> = frames.into_iter().map(Bytes::from).collect();
            let req = ZapRequest::decode(&frames).expect("libzmq zap request decodes");
            assert_eq!(&req.mechanism[..], b"PLAIN");
            let ok = req.credentials == [b("admin"), b("secret")];
            let mut reply = if ok {
                ZapReply::accept(&req)
            } else {
                ZapReply::deny(&req, "bad credentials")
            };
            reply.user_id = b("admin");
            let out: Vec<Vec<u8>> = reply.encode().iter().map(|b| b.to_vec()).collect();
            if rep.send_multipart(out, 0).is_err() {
                return;
            }
        }
    })
}

fn plain_client(user: &'static str, pass: &'static str, t: SocketType) -> SessionConfig {
    let mut c = config(t);
    c.mechanism = MechanismConfig::PlainClient {
        username: b(user),
        password: b(pass),
    };
    c
}

#[test]
fn plain_we_are_client_of_libzmq_server() {
    let ctx = zmq::Context::new();
    let _zap = zap_handler(&ctx);
    let router = zsock(&ctx, zmq::ROUTER);
    router.set_plain_server(true).unwrap();
    let ep = zbind(&router);

    let mut cfg = plain_client("admin", "secret", SocketType::Dealer);
    cfg.identity = Some(b("plain-dealer"));
    let mut us = Conn::connect(&ep, cfg);
    let peer = us.handshake().unwrap();
    assert_eq!(peer.socket_type, SocketType::Router);
    assert_eq!(peer.mechanism.as_str(), "PLAIN");
    us.send(&[b("secured"), b(""), big(100_000, 5)]);
    let got = router.recv_multipart(0).unwrap();
    assert_eq!(got[0], b"plain-dealer");
    assert_eq!(
        &got[1..],
        &to_vecs(&[b("secured"), b(""), big(100_000, 5)])[..]
    );
    router
        .send_multipart(["plain-dealer", "back", ""], 0)
        .unwrap();
    assert_eq!(us.recv(), vec![b("back"), b("")]);

    // Wrong password: libzmq's ZAP says 400, we get a typed error. (libzmq's
    // PLAIN server misspells that ERROR command as "\x5eRROR"; see command.rs.)
    let mut us = Conn::connect(&ep, plain_client("admin", "wrong", SocketType::Dealer));
    match us.handshake() {
        Err(ProtocolError::AuthenticationFailed { status_code, .. }) => {
            assert_eq!(status_code, "400")
        }
        other => panic!("expected authentication failure, got {other:?}"),
    }
}

#[test]
fn plain_we_are_server_for_libzmq_client() {
    let ctx = zmq::Context::new();
    let (l, ep) = listener();
    let dealer = zsock(&ctx, zmq::DEALER);
    dealer.set_plain_username(Some("admin")).unwrap();
    dealer.set_plain_password(Some("secret")).unwrap();
    dealer.set_identity(b"zdealer").unwrap();
    dealer.connect(&ep).unwrap();

    let mut cfg = config(SocketType::Router);
    cfg.mechanism = MechanismConfig::PlainServer;
    cfg.zap_domain = Some(b("test"));
    let mut us = accept(&l, cfg);
    us.zap = Box::new(|req| {
        let mut r = if req.credentials == [b("admin"), b("secret")] {
            ZapReply::accept(req)
        } else {
            ZapReply::deny(req, "no")
        };
        r.user_id = b("admin-user");
        r
    });
    let peer = us.handshake().unwrap();
    assert_eq!(us.zap_seen.len(), 1);
    assert_eq!(&us.zap_seen[0].domain[..], b"test");
    assert_eq!(peer.socket_type, SocketType::Dealer);
    assert_eq!(peer.identity.as_deref(), Some(&b"zdealer"[..]));
    assert_eq!(peer.user_id.as_deref(), Some(&b"admin-user"[..]));
    dealer.send_multipart(["a", "", "c"], 0).unwrap();
    assert_eq!(us.recv(), vec![b("a"), b(""), b("c")]);
    us.send(&[b("to-dealer"), big(65_536, 4)]);
    assert_eq!(
        dealer.recv_multipart(0).unwrap(),
        to_vecs(&[b("to-dealer"), big(65_536, 4)])
    );

    // A libzmq client with the wrong password: we deny with ERROR "400".
    let bad = zsock(&ctx, zmq::DEALER);
    bad.set_plain_username(Some("admin")).unwrap();
    bad.set_plain_password(Some("guess")).unwrap();
    bad.connect(&ep).unwrap();
    let mut cfg = config(SocketType::Router);
    cfg.mechanism = MechanismConfig::PlainServer;
    let mut us = accept(&l, cfg);
    us.zap = Box::new(|req| ZapReply::deny(req, "bad password"));
    match us.handshake() {
        Err(ProtocolError::AuthenticationFailed { status_code, .. }) => {
            assert_eq!(status_code, "400")
        }
        other => panic!("expected authentication failure, got {other:?}"),
    }
}

/// The value of the next libzmq monitor event of kind `want`.
fn monitor_event(mon: &zmq::Socket, want: zmq::SocketEvent) -> u32 {
    loop {
        let parts = mon.recv_multipart(0).unwrap();
        let head = &parts[0];
        let event = u16::from_ne_bytes([head[0], head[1]]);
        if event == want as u16 {
            return u32::from_ne_bytes([head[2], head[3], head[4], head[5]]);
        }
    }
}

#[test]
fn mechanism_mismatch_refused() {
    // libzmq 4.3.4 answers each greeting byte it reads with more of its own
    // greeting, but only queues it: when it reads our whole greeting at once,
    // it rejects our mechanism and closes before it sends its own. So each
    // side's refusal is checked on its own.
    const ZMQ_PROTOCOL_ERROR_ZMTP_MECHANISM_MISMATCH: u32 = 0x1100_0002;
    let ctx = zmq::Context::new();
    let router = zsock(&ctx, zmq::ROUTER);
    router.set_plain_server(true).unwrap();
    router
        .monitor(
            "inproc://mismatch-monitor",
            zmq::SocketEvent::HANDSHAKE_FAILED_PROTOCOL as i32,
        )
        .unwrap();
    let mon = zsock(&ctx, zmq::PAIR);
    mon.connect("inproc://mismatch-monitor").unwrap();
    let ep = zbind(&router);

    // libzmq refuses our NULL greeting and closes.
    let mut us = Conn::connect(&ep, config(SocketType::Dealer));
    let r = us.handshake();
    assert!(
        matches!(
            r,
            Err(ProtocolError::Closed | ProtocolError::MechanismMismatch { .. })
        ),
        "{r:?}"
    );
    assert_eq!(
        monitor_event(&mon, zmq::SocketEvent::HANDSHAKE_FAILED_PROTOCOL),
        ZMQ_PROTOCOL_ERROR_ZMTP_MECHANISM_MISMATCH
    );

    // We refuse libzmq's PLAIN greeting: we send our greeting up to the major
    // version only, as libzmq itself paces it, so libzmq sends all of its own.
    let mut us = Conn::connect(&ep, config(SocketType::Dealer));
    let mut out = Vec::new();
    us.session.poll_transmit(&mut out);
    let greeting: Vec<u8> = out.iter().flat_map(|b| b.iter().copied()).collect();
    assert_eq!(greeting.len(), 64);
    us.stream.write_all(&greeting[..11]).unwrap();
    let err = loop {
        if let Err(e) = us.read_once() {
            break e;
        }
    };
    assert_eq!(
        err,
        ProtocolError::MechanismMismatch {
            ours: "NULL".into(),
            theirs: "PLAIN".into()
        }
    );
    assert!(err.is_peer_fault());
}
