//! Byte-exact vectors from the RFCs (23/ZMTP, 37/ZMTP 3.1, 24/ZMTP-PLAIN)
//! and a few captured from libzmq 4.3.4, loaded from `tests/vectors/` (see
//! its README for where each comes from). Each vector is checked both ways:
//! what we send is exactly these bytes, and these bytes, fed in any split,
//! decode to the right thing.

#![allow(clippy::unwrap_used)]
use std::time::{Duration, Instant};

use bytes::Bytes;
use monocoque_zmtp::greeting::GREETING_LEN;
use monocoque_zmtp::{
    Command, Decoder, Event, Greeting, HeartbeatConfig, MechanismConfig, MechanismName, Metadata,
    ProtocolError, Session, SessionConfig, SocketType,
};

const RFC23_GREETING: &[u8] = include_bytes!("vectors/rfc23_greeting_null.bin");
const RFC37_GREETING: &[u8] = include_bytes!("vectors/rfc37_greeting_null.bin");
const RFC37_READY_DEALER: &[u8] = include_bytes!("vectors/rfc37_ready_dealer.bin");
const RFC37_READY_ROUTER: &[u8] = include_bytes!("vectors/rfc37_ready_router.bin");
const RFC37_SUBSCRIBE: &[u8] = include_bytes!("vectors/rfc37_subscribe.bin");
const RFC37_CANCEL: &[u8] = include_bytes!("vectors/rfc37_cancel.bin");
const RFC23_SUBSCRIBE_MSG: &[u8] = include_bytes!("vectors/rfc23_subscribe_message.bin");
const RFC23_CANCEL_MSG: &[u8] = include_bytes!("vectors/rfc23_cancel_message.bin");
const RFC37_PING_TTL: &[u8] = include_bytes!("vectors/rfc37_ping_ttl.bin");
const RFC37_PING_CONTEXT: &[u8] = include_bytes!("vectors/rfc37_ping_context.bin");
const RFC37_PONG: &[u8] = include_bytes!("vectors/rfc37_pong.bin");
const RFC37_PONG_CONTEXT: &[u8] = include_bytes!("vectors/rfc37_pong_context.bin");
const RFC24_HELLO: &[u8] = include_bytes!("vectors/rfc24_hello.bin");
const RFC24_WELCOME: &[u8] = include_bytes!("vectors/rfc24_welcome.bin");
const LIBZMQ_READY_ROUTER: &[u8] = include_bytes!("vectors/libzmq_ready_router.bin");
const LIBZMQ_PLAIN_ERROR_400: &[u8] = include_bytes!("vectors/libzmq_plain_error_400.bin");

/// Everything the session wants written, as one byte string.
fn transmit(s: &mut Session) -> Vec<u8> {
    let mut out = Vec::new();
    s.poll_transmit(&mut out);
    out.concat()
}

fn events(s: &mut Session) -> Vec<Event> {
    std::iter::from_fn(|| s.poll_event()).collect()
}

/// Feeds `bytes` one byte at a time.
fn feed_bytewise(s: &mut Session, bytes: &[u8]) -> Result<(), ProtocolError> {
    for b in bytes {
        s.handle_input(Bytes::copy_from_slice(&[*b]))?;
    }
    Ok(())
}

fn greeting(minor: u8) -> Vec<u8> {
    let mut g = Greeting::ours(MechanismName::NULL, false);
    g.minor = minor;
    g.encode().to_vec()
}

fn ready_frame(socket_type: SocketType) -> Bytes {
    let mut md = Metadata::new();
    md.insert("Socket-Type", socket_type.as_str()).unwrap();
    Command::Ready(md).encode_frame()
}

/// A NULL session of type `ours`, handshake done with a ZMTP 3.`minor` peer
/// of type `theirs`; its output so far is discarded.
fn ready(
    ours: SocketType,
    theirs: SocketType,
    minor: u8,
    config: Option<SessionConfig>,
) -> Session {
    let config = config.unwrap_or_else(|| SessionConfig::new(ours));
    let mut s = Session::new(config, Instant::now()).unwrap();
    s.handle_input(Bytes::from(greeting(minor))).unwrap();
    s.handle_input(ready_frame(theirs)).unwrap();
    assert!(s.is_ready());
    transmit(&mut s);
    events(&mut s);
    s
}

/// Decodes one whole frame from `wire`, fed one byte at a time.
fn decode_one(wire: &[u8]) -> monocoque_zmtp::Frame {
    let mut d = Decoder::new(None);
    let mut frames = Vec::new();
    for b in wire {
        d.push(Bytes::copy_from_slice(&[*b]));
        while let Some(f) = d.decode().unwrap() {
            frames.push(f);
        }
    }
    assert!(d.is_idle());
    assert_eq!(frames.len(), 1);
    frames.remove(0)
}

#[test]
fn greeting_zmtp31_is_byte_exact() {
    assert_eq!(RFC37_GREETING.len(), GREETING_LEN);
    assert_eq!(
        &Greeting::ours(MechanismName::NULL, false).encode()[..],
        RFC37_GREETING
    );
    // The session's first output is that greeting.
    let mut s = Session::new(SessionConfig::new(SocketType::Dealer), Instant::now()).unwrap();
    assert_eq!(transmit(&mut s), RFC37_GREETING);
    let g = Greeting::parse(RFC37_GREETING.try_into().unwrap()).unwrap();
    assert_eq!((g.major, g.minor, g.as_server), (3, 1, false));
    assert_eq!(g.mechanism, MechanismName::NULL);
}

#[test]
fn greeting_zmtp30_negotiates_down() {
    let g = Greeting::parse(RFC23_GREETING.try_into().unwrap()).unwrap();
    assert_eq!((g.major, g.minor), (3, 0));
    assert_eq!(g.negotiated_minor(), 0);
    let mut s = Session::new(SessionConfig::new(SocketType::Sub), Instant::now()).unwrap();
    feed_bytewise(&mut s, RFC23_GREETING).unwrap();
    assert_eq!(s.minor_version(), Some(0));
}

#[test]
fn worked_example_dealer_side() {
    // RFC 37 "Worked Example": we are the DEALER client, no identity.
    let mut s = Session::new(SessionConfig::new(SocketType::Dealer), Instant::now()).unwrap();
    assert_eq!(transmit(&mut s), RFC37_GREETING);
    feed_bytewise(&mut s, RFC37_GREETING).unwrap();
    assert_eq!(transmit(&mut s), RFC37_READY_DEALER);
    feed_bytewise(&mut s, RFC37_READY_ROUTER).unwrap();
    let ev = events(&mut s);
    let [Event::HandshakeComplete(peer)] = &ev[..] else {
        panic!("{ev:?}");
    };
    assert_eq!(peer.socket_type, SocketType::Router);
    assert_eq!(peer.identity, None);
    assert_eq!(peer.minor_version, 1);
}

#[test]
fn worked_example_router_side() {
    let mut s = Session::new(SessionConfig::new(SocketType::Router), Instant::now()).unwrap();
    assert_eq!(transmit(&mut s), RFC37_GREETING);
    let mut wire = RFC37_GREETING.to_vec();
    wire.extend_from_slice(RFC37_READY_DEALER);
    feed_bytewise(&mut s, &wire).unwrap();
    // Like libzmq (and unlike the RFC's example, which omits it), our ROUTER
    // sends an empty Identity.
    assert_eq!(transmit(&mut s), LIBZMQ_READY_ROUTER);
    let ev = events(&mut s);
    let [Event::HandshakeComplete(peer)] = &ev[..] else {
        panic!("{ev:?}");
    };
    assert_eq!(peer.socket_type, SocketType::Dealer);
    assert_eq!(peer.identity, None);
    assert_eq!(&peer.metadata.get("IDENTITY").unwrap()[..], b"");
}

#[test]
fn ready_commands_decode_and_reencode() {
    for (wire, socket_type, identity) in [
        (RFC37_READY_DEALER, &b"DEALER"[..], Some(&b""[..])),
        (RFC37_READY_ROUTER, b"ROUTER", None),
        (LIBZMQ_READY_ROUTER, b"ROUTER", Some(b"")),
    ] {
        let f = decode_one(wire);
        assert!(f.command && !f.more);
        let cmd = Command::parse(f.body).unwrap();
        let Command::Ready(md) = &cmd else {
            panic!("{cmd:?}");
        };
        // Names compare case-insensitively.
        assert_eq!(&md.get("socket-type").unwrap()[..], socket_type);
        assert_eq!(md.get("identity").map(|v| &v[..]), identity);
        assert_eq!(&cmd.encode_frame()[..], wire);
    }
}

#[test]
fn subscribe_and_cancel_zmtp31_are_commands() {
    let mut sub = ready(SocketType::Sub, SocketType::Pub, 1, None);
    let mut out = Vec::new();
    sub.send_subscribe(Bytes::from_static(b"news"), &mut out)
        .unwrap();
    assert_eq!(out.concat(), RFC37_SUBSCRIBE);
    let mut out = Vec::new();
    sub.send_cancel(Bytes::from_static(b"news"), &mut out)
        .unwrap();
    assert_eq!(out.concat(), RFC37_CANCEL);

    let mut publisher = ready(SocketType::Pub, SocketType::Sub, 1, None);
    feed_bytewise(&mut publisher, RFC37_SUBSCRIBE).unwrap();
    feed_bytewise(&mut publisher, RFC37_CANCEL).unwrap();
    assert_eq!(
        events(&mut publisher),
        [
            Event::Subscribe(Bytes::from_static(b"news")),
            Event::Cancel(Bytes::from_static(b"news"))
        ]
    );
    for (wire, cmd) in [
        (
            RFC37_SUBSCRIBE,
            Command::Subscribe(Bytes::from_static(b"news")),
        ),
        (RFC37_CANCEL, Command::Cancel(Bytes::from_static(b"news"))),
    ] {
        assert_eq!(Command::parse(decode_one(wire).body).unwrap(), cmd);
        assert_eq!(&cmd.encode_frame()[..], wire);
    }
}

#[test]
fn subscribe_and_cancel_zmtp30_are_messages() {
    let mut sub = ready(SocketType::Xsub, SocketType::Xpub, 0, None);
    let mut out = Vec::new();
    sub.send_subscribe(Bytes::from_static(b"news"), &mut out)
        .unwrap();
    assert_eq!(out.concat(), RFC23_SUBSCRIBE_MSG);
    let mut out = Vec::new();
    sub.send_cancel(Bytes::from_static(b"news"), &mut out)
        .unwrap();
    assert_eq!(out.concat(), RFC23_CANCEL_MSG);

    let mut publisher = ready(SocketType::Xpub, SocketType::Sub, 0, None);
    feed_bytewise(&mut publisher, RFC23_SUBSCRIBE_MSG).unwrap();
    feed_bytewise(&mut publisher, RFC23_CANCEL_MSG).unwrap();
    assert_eq!(
        events(&mut publisher),
        [
            Event::Subscribe(Bytes::from_static(b"news")),
            Event::Cancel(Bytes::from_static(b"news"))
        ]
    );
}

#[test]
fn ping_gets_pong_echoing_context() {
    let mut s = ready(SocketType::Dealer, SocketType::Router, 1, None);
    feed_bytewise(&mut s, RFC37_PING_TTL).unwrap();
    assert_eq!(
        events(&mut s),
        [Event::Ping {
            ttl: Some(Duration::from_secs(2)),
            context: Bytes::new()
        }]
    );
    assert_eq!(transmit(&mut s), RFC37_PONG);

    feed_bytewise(&mut s, RFC37_PING_CONTEXT).unwrap();
    assert_eq!(
        events(&mut s),
        [Event::Ping {
            ttl: None,
            context: Bytes::from_static(b"abc")
        }]
    );
    assert_eq!(transmit(&mut s), RFC37_PONG_CONTEXT);

    feed_bytewise(&mut s, RFC37_PONG_CONTEXT).unwrap();
    assert_eq!(
        events(&mut s),
        [Event::Pong {
            context: Bytes::from_static(b"abc")
        }]
    );
}

/// While nothing is transmitted (the writer waits for a peer that does
/// not read), intervals keep coming due, and one PING waits at most.
#[test]
fn unsent_pings_do_not_pile_up() {
    let mut config = SessionConfig::new(SocketType::Dealer);
    config.heartbeat = Some(HeartbeatConfig {
        interval: Duration::from_millis(100),
        ttl: None,
        timeout: Some(Duration::from_secs(3600)),
    });
    let mut s = ready(SocketType::Dealer, SocketType::Router, 1, Some(config));
    for _ in 0..50 {
        let due = s.poll_timeout().unwrap();
        s.handle_timeout(due).unwrap();
    }
    let one = Command::Ping {
        ttl: 0,
        context: Bytes::new(),
    }
    .encode_frame();
    assert_eq!(transmit(&mut s), &one[..], "one PING, not one an interval");
}

#[test]
fn our_ping_is_byte_exact() {
    let mut config = SessionConfig::new(SocketType::Dealer);
    config.heartbeat = Some(HeartbeatConfig {
        interval: Duration::from_secs(1),
        ttl: Some(Duration::from_secs(2)),
        timeout: None,
    });
    let mut s = ready(SocketType::Dealer, SocketType::Router, 1, Some(config));
    // The first tick arms the interval, the second (one interval later) fires it.
    let armed = s.poll_timeout().unwrap();
    s.handle_timeout(armed).unwrap();
    assert_eq!(transmit(&mut s), b"");
    let due = s.poll_timeout().unwrap();
    assert_eq!(due - armed, Duration::from_secs(1));
    s.handle_timeout(due).unwrap();
    assert_eq!(transmit(&mut s), RFC37_PING_TTL);
    for (wire, cmd) in [
        (
            RFC37_PING_TTL,
            Command::Ping {
                ttl: 20,
                context: Bytes::new(),
            },
        ),
        (
            RFC37_PING_CONTEXT,
            Command::Ping {
                ttl: 0,
                context: Bytes::from_static(b"abc"),
            },
        ),
        (
            RFC37_PONG,
            Command::Pong {
                context: Bytes::new(),
            },
        ),
    ] {
        assert_eq!(Command::parse(decode_one(wire).body).unwrap(), cmd);
        assert_eq!(&cmd.encode_frame()[..], wire);
    }
}

#[test]
fn plain_hello_and_welcome() {
    let mut config = SessionConfig::new(SocketType::Dealer);
    config.mechanism = MechanismConfig::PlainClient {
        username: Bytes::from_static(b"admin"),
        password: Bytes::from_static(b"secret"),
    };
    let mut s = Session::new(config, Instant::now()).unwrap();
    transmit(&mut s);
    let mut server = Greeting::ours(MechanismName::PLAIN, true).encode();
    feed_bytewise(&mut s, &server).unwrap();
    assert_eq!(transmit(&mut s), RFC24_HELLO);
    feed_bytewise(&mut s, RFC24_WELCOME).unwrap();
    let initiate = transmit(&mut s);
    let cmd = Command::parse(decode_one(&initiate).body).unwrap();
    let Command::Initiate(md) = cmd else {
        panic!("{cmd:?}");
    };
    assert_eq!(&md.get("Socket-Type").unwrap()[..], b"DEALER");

    // libzmq's PLAIN server refuses with a misspelt ERROR; we still read it.
    let mut config = SessionConfig::new(SocketType::Dealer);
    config.mechanism = MechanismConfig::PlainClient {
        username: Bytes::from_static(b"admin"),
        password: Bytes::from_static(b"wrong"),
    };
    let mut s = Session::new(config, Instant::now()).unwrap();
    server[32] = 0; // libzmq sends as-server = 0 even as a PLAIN server.
    feed_bytewise(&mut s, &server).unwrap();
    let err = feed_bytewise(&mut s, LIBZMQ_PLAIN_ERROR_400).unwrap_err();
    assert_eq!(
        err,
        ProtocolError::AuthenticationFailed {
            status_code: "400".into(),
            status_text: String::new()
        }
    );
}
