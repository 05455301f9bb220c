//! proptest round trips: encode, split the bytes at arbitrary points, decode,
//! compare. For the greeting, for command and message frames through the
//! `Decoder` (and the tests' message assembler), for metadata, and for two whole `Session`s
//! talking to each other (handshake included) over a link that delivers the
//! bytes in arbitrary pieces.

#![allow(clippy::unwrap_used)]
mod common;

use std::time::Instant;

use bytes::Bytes;
use monocoque_zmtp::{
    Command, Decoder, Encoder, Event, Greeting, GreetingParser, MechanismConfig, MechanismName,
    Metadata, ProtocolError, Session, SessionConfig, SocketType, ZapReply,
};
use proptest::prelude::*;

use common::Assembler;

/// Cuts `wire` at the given points (any values; taken modulo the length).
fn split(wire: &[u8], cuts: &[usize]) -> Vec<Bytes> {
    let mut at: Vec<usize> = cuts
        .iter()
        .map(|c| c % (wire.len() + 1))
        .chain([0, wire.len()])
        .collect();
    at.sort_unstable();
    at.dedup();
    at.windows(2)
        .map(|w| Bytes::copy_from_slice(&wire[w[0]..w[1]]))
        .collect()
}

/// A frame body: mostly small, around the short/long boundary (255/256),
/// sometimes 64 KiB and more.
fn body() -> impl Strategy<Value = Bytes> {
    let size = prop_oneof![
        6 => 0usize..=16,
        3 => 250usize..=260,
        2 => 0usize..2000,
        1 => 65_530usize..=65_540,
    ];
    (size, any::<u8>()).prop_map(|(n, seed)| {
        (0..n)
            .map(|i| (i as u8).wrapping_mul(31).wrapping_add(seed))
            .collect::<Vec<u8>>()
            .into()
    })
}

fn name_chars() -> Vec<u8> {
    (b'A'..=b'Z')
        .chain(b'a'..=b'z')
        .chain(b'0'..=b'9')
        .chain(*b"-_.+")
        .collect()
}

fn property_name() -> impl Strategy<Value = Bytes> {
    let chars = name_chars();
    prop::collection::vec(prop::sample::select(chars), 1..=40).prop_map(Bytes::from)
}

fn metadata() -> impl Strategy<Value = Metadata> {
    prop::collection::vec(
        (property_name(), prop::collection::vec(any::<u8>(), 0..300)),
        0..6,
    )
    .prop_map(|props| {
        let mut md = Metadata::new();
        for (n, v) in props {
            md.insert(n, v).unwrap();
        }
        md
    })
}

fn short_bytes(max: usize) -> impl Strategy<Value = Bytes> {
    prop::collection::vec(any::<u8>(), 0..=max).prop_map(Bytes::from)
}

fn command() -> impl Strategy<Value = Command> {
    prop_oneof![
        metadata().prop_map(Command::Ready),
        short_bytes(255).prop_map(|reason| Command::Error { reason }),
        short_bytes(300).prop_map(Command::Subscribe),
        short_bytes(300).prop_map(Command::Cancel),
        (any::<u16>(), short_bytes(16)).prop_map(|(ttl, context)| Command::Ping { ttl, context }),
        short_bytes(16).prop_map(|context| Command::Pong { context }),
        (short_bytes(255), short_bytes(255))
            .prop_map(|(username, password)| Command::Hello { username, password }),
        Just(Command::Welcome),
        metadata().prop_map(Command::Initiate),
    ]
}

/// What travels on the wire, in order: whole messages and commands between them.
#[derive(Debug, Clone, PartialEq)]
enum Item {
    Message(Vec<Bytes>),
    Command(Command),
}

fn items() -> impl Strategy<Value = Vec<Item>> {
    let item = prop_oneof![
        3 => prop::collection::vec(body(), 1..5).prop_map(Item::Message),
        1 => command().prop_map(Item::Command),
    ];
    prop::collection::vec(item, 1..12)
}

fn encode(items: &[Item]) -> Vec<u8> {
    let mut enc = Encoder::new();
    let mut out = Vec::new();
    for item in items {
        match item {
            Item::Message(parts) => {
                for (i, part) in parts.iter().enumerate() {
                    enc.frame(part.clone(), i + 1 < parts.len(), &mut out);
                }
            }
            Item::Command(Command::Subscribe(topic)) => {
                enc.prefixed(true, b"\x09SUBSCRIBE", topic.clone(), &mut out);
            }
            Item::Command(cmd) => out.push(cmd.encode_frame()),
        }
    }
    out.concat()
}

fn decode(pieces: Vec<Bytes>, max: Option<u64>) -> Vec<Item> {
    let mut dec = Decoder::new(max);
    let mut asm = Assembler::new(max.map(|m| m * 8));
    let mut got = Vec::new();
    for piece in pieces {
        dec.push(piece);
        while let Some(f) = dec.decode().unwrap() {
            if f.command {
                assert!(!asm.in_progress(), "command inside a message");
                got.push(Item::Command(Command::parse(f.body).unwrap()));
            } else if let Some(m) = asm.push(f.body, f.more).unwrap() {
                got.push(Item::Message(m));
            }
        }
    }
    assert!(dec.is_idle());
    assert!(!asm.in_progress());
    got
}

fn mechanism_name() -> impl Strategy<Value = MechanismName> {
    let chars: Vec<u8> = (b'A'..=b'Z').chain(b'0'..=b'9').chain(*b"-_.+").collect();
    prop::collection::vec(prop::sample::select(chars), 1..=20)
        .prop_map(|n| MechanismName::new(&n).unwrap())
}

proptest! {
    #![proptest_config(ProptestConfig::with_cases(128))]

    #[test]
    fn greeting_any_split(
        mechanism in mechanism_name(),
        major in 3u8..,
        minor: u8,
        as_server: bool,
        cuts in prop::collection::vec(any::<usize>(), 0..64),
    ) {
        let g = Greeting { major, minor, mechanism, as_server };
        let wire = g.encode();
        let mut p = GreetingParser::new();
        for piece in split(&wire, &cuts) {
            prop_assert_eq!(p.feed(&piece).unwrap(), piece.len());
        }
        prop_assert_eq!(p.greeting(), Some(g));
        prop_assert!(g.negotiated_minor() <= 1);
    }

    #[test]
    fn frames_and_commands_any_split(
        items in items(),
        cuts in prop::collection::vec(any::<usize>(), 0..16),
        limited: bool,
    ) {
        let wire = encode(&items);
        // A limit the largest frame just fits.
        let max = limited.then_some(65_540 + 1 + 8);
        prop_assert_eq!(decode(split(&wire, &cuts), max), items);
    }

    #[test]
    fn frames_byte_at_a_time(items in prop::collection::vec(
        prop::collection::vec(short_bytes(300), 1..4).prop_map(Item::Message), 1..4)
    ) {
        let wire = encode(&items);
        let pieces = wire.iter().map(|b| Bytes::copy_from_slice(&[*b])).collect();
        prop_assert_eq!(decode(pieces, None), items);
    }

    #[test]
    fn metadata_round_trip(md in metadata()) {
        let mut buf = bytes::BytesMut::new();
        md.encode(&mut buf);
        prop_assert_eq!(buf.len(), md.encoded_len());
        let back = Metadata::decode(buf.freeze()).unwrap();
        prop_assert_eq!(back, md);
    }

    #[test]
    fn two_sessions_any_split(
        pair in prop::sample::select(vec![
            (SocketType::Dealer, SocketType::Router),
            (SocketType::Req, SocketType::Rep),
            (SocketType::Push, SocketType::Pull),
            (SocketType::Pair, SocketType::Pair),
            (SocketType::Dealer, SocketType::Dealer),
        ]),
        plain: bool,
        identity in short_bytes(20),
        messages in prop::collection::vec(prop::collection::vec(body(), 1..4), 1..6),
        cuts in prop::collection::vec(any::<usize>(), 0..24),
    ) {
        let now = Instant::now();
        let mut ca = SessionConfig::new(pair.0);
        let mut cb = SessionConfig::new(pair.1);
        ca.identity = Some(identity.clone());
        if plain {
            ca.mechanism = MechanismConfig::PlainClient {
                username: Bytes::from_static(b"user"),
                password: Bytes::from_static(b"pass"),
            };
            cb.mechanism = MechanismConfig::PlainServer;
        }
        let mut a = Session::new(ca, now).unwrap();
        let mut b = Session::new(cb, now).unwrap();
        let mut got_a = Vec::new();
        let mut got_b = Vec::new();
        for _ in 0..8 {
            pump(&mut a, &mut b, Vec::new(), &cuts, &mut got_b);
            pump(&mut b, &mut a, Vec::new(), &cuts, &mut got_a);
        }
        prop_assert!(a.is_ready() && b.is_ready());
        let Some(Event::HandshakeComplete(peer)) = got_b.first() else {
            panic!("{got_b:?}");
        };
        prop_assert_eq!(peer.socket_type, pair.0);
        let sent_identity = pair.0.sends_identity() && !identity.is_empty();
        prop_assert_eq!(peer.identity.clone(), sent_identity.then_some(identity));

        let mut out = Vec::new();
        for m in &messages {
            a.send_message(m.iter().cloned(), &mut out).unwrap();
        }
        let mut got = Vec::new();
        pump(&mut a, &mut b, out, &cuts, &mut got);
        let mut asm = Assembler::new(None);
        let mut received = Vec::new();
        for ev in got {
            let Event::Frame { body, more } = ev else {
                panic!("{ev:?}");
            };
            if let Some(m) = asm.push(body, more).unwrap() {
                received.push(m);
            }
        }
        prop_assert_eq!(received, messages);
    }
}

#[test]
fn assembler() {
    let mut m = Assembler::new(Some(4));
    assert_eq!(m.push(Bytes::from_static(b"ab"), true), Ok(None));
    assert!(m.in_progress());
    let msg = m.push(Bytes::from_static(b"cd"), false).unwrap().unwrap();
    assert_eq!(msg, [Bytes::from_static(b"ab"), Bytes::from_static(b"cd")]);
    let one = m.push(Bytes::from_static(b"x"), false).unwrap().unwrap();
    assert_eq!(one.len(), 1);
    assert_eq!(
        m.push(Bytes::from_static(b"abcde"), false),
        Err(ProtocolError::MessageTooLarge { size: 5, max: 4 })
    );
    assert!(!m.in_progress());
}

/// Moves everything `from` has to send (after `extra`, which came first)
/// to `to`, cut at `cuts`; answers ZAP requests on the way; collects the
/// other events.
fn pump(
    from: &mut Session,
    to: &mut Session,
    extra: Vec<Bytes>,
    cuts: &[usize],
    got: &mut Vec<Event>,
) {
    let mut out = extra;
    from.poll_transmit(&mut out);
    let wire = out.concat();
    for piece in split(&wire, cuts) {
        to.handle_input(piece).unwrap();
        while let Some(ev) = to.poll_event() {
            match ev {
                Event::ZapRequest(req) => {
                    assert_eq!(req.credentials, [&b"user"[..], b"pass"]);
                    to.zap_reply(ZapReply::accept(&req)).unwrap();
                }
                other => got.push(other),
            }
        }
    }
}
