//! Protocol pair tests under a mechanism that protects traffic: two
//! `Session`s with the test-only `MechanismConfig::TestSealed` wired to each
//! other in memory, with a virtual clock. Messages, multipart messages,
//! subscriptions (ZMTP 3.1 commands and 3.0 messages) and heartbeats all get
//! through, and nothing either session emits in the data phase is plain
//! ZMTP: no frame decodes as a message or a known command, and no payload
//! appears on the wire. A plaintext frame arriving at a sealed session
//! closes it.

#![allow(clippy::unwrap_used)]
use std::time::{Duration, Instant};

use bytes::Bytes;
use monocoque_zmtp::{
    Command, Decoder, Encoder, Event, HeartbeatConfig, MechanismConfig, ProtocolError, Session,
    SessionConfig, SocketType,
};

/// One end: its session, the events it produced, and every byte it emitted
/// since the handshake completed.
struct End {
    session: Session,
    events: Vec<Event>,
    wire: Vec<u8>,
    emitted: usize,
}

/// Two sessions talking, and the virtual clock.
struct Pair {
    ends: [End; 2],
    now: Instant,
    /// Rewrite both greetings to announce ZMTP 3.0.
    zmtp30: bool,
}

const A: usize = 0;
const B: usize = 1;

fn config(socket_type: SocketType) -> SessionConfig {
    let mut c = SessionConfig::new(socket_type);
    c.mechanism = MechanismConfig::TestSealed;
    c
}

fn heartbeat() -> HeartbeatConfig {
    HeartbeatConfig {
        interval: Duration::from_secs(1),
        ttl: Some(Duration::from_secs(3)),
        timeout: Some(Duration::from_secs(2)),
    }
}

impl Pair {
    /// Two sealed sessions, handshake done, events and wire logs cleared.
    fn new(a: SessionConfig, b: SessionConfig, zmtp30: bool) -> Pair {
        let now = Instant::now();
        let end = |c| End {
            session: Session::new(c, now).unwrap(),
            events: Vec::new(),
            wire: Vec::new(),
            emitted: 0,
        };
        let mut p = Pair {
            ends: [end(a), end(b)],
            now,
            zmtp30,
        };
        p.pump();
        for e in &mut p.ends {
            assert!(e.session.is_ready(), "{:?}", e.events);
            let ev = std::mem::take(&mut e.events);
            assert!(matches!(&ev[..], [Event::HandshakeComplete(_)]), "{ev:?}");
            e.wire.clear();
        }
        p
    }

    /// Delivers `out`, emitted by end `from`, to the other end in 7-byte
    /// pieces; logs it, collects the events.
    fn deliver(&mut self, from: usize, out: Vec<Bytes>) {
        let mut wire = out.concat();
        let (sender, receiver) = match &mut self.ends {
            [a, b] if from == A => (a, b),
            [a, b] => (b, a),
        };
        // The version minor is byte 11 of the greeting.
        if self.zmtp30 && (sender.emitted..sender.emitted + wire.len()).contains(&11) {
            wire[11 - sender.emitted] = 0;
        }
        sender.emitted += wire.len();
        sender.wire.extend_from_slice(&wire);
        for piece in wire.chunks(7) {
            receiver
                .session
                .handle_input(Bytes::copy_from_slice(piece))
                .unwrap();
            receiver
                .events
                .extend(std::iter::from_fn(|| receiver.session.poll_event()));
        }
    }

    /// Moves what both sessions want to send until neither has anything.
    fn pump(&mut self) {
        loop {
            let mut moved = false;
            for from in [A, B] {
                let mut out = Vec::new();
                if self.ends[from].session.poll_transmit(&mut out) {
                    self.deliver(from, out);
                    moved = true;
                }
            }
            if !moved {
                return;
            }
        }
    }

    /// End `from` sends what `f` encodes; then everything is pumped.
    fn send(&mut self, from: usize, f: impl FnOnce(&mut Session, &mut Vec<Bytes>)) {
        let mut out = Vec::new();
        f(&mut self.ends[from].session, &mut out);
        self.deliver(from, out);
        self.pump();
    }

    /// Advances the clock by `step`, fires due timers, pumps.
    fn tick(&mut self, step: Duration) {
        self.now += step;
        for e in &mut self.ends {
            if e.session.poll_timeout().is_some_and(|t| t <= self.now) {
                e.session.handle_timeout(self.now).unwrap();
            }
        }
        self.pump();
    }

    fn take_events(&mut self, end: usize) -> Vec<Event> {
        std::mem::take(&mut self.ends[end].events)
    }

    /// Neither end's data-phase output is plain ZMTP carrying `secrets`.
    fn assert_sealed(&self, secrets: &[&[u8]]) {
        for e in &self.ends {
            assert_not_plain(&e.wire, secrets);
        }
    }
}

/// `wire` decodes (as plain ZMTP) to command frames only, none of them a
/// command ZMTP knows, and none of `secrets` appears anywhere in it.
fn assert_not_plain(wire: &[u8], secrets: &[&[u8]]) {
    assert!(!wire.is_empty(), "nothing was emitted");
    let mut d = Decoder::new(None);
    d.push(Bytes::copy_from_slice(wire));
    while let Some(f) = d.decode().unwrap() {
        assert!(f.command, "a plain message frame: {:?}", f.body);
        match Command::parse(f.body.clone()) {
            Err(_) | Ok(Command::Unknown { .. }) => {}
            Ok(cmd) => panic!("a plain command on the wire: {cmd:?}"),
        }
    }
    assert!(d.is_idle());
    for s in secrets {
        assert!(
            !wire.windows(s.len()).any(|w| w == *s),
            "{:?} is on the wire in clear",
            String::from_utf8_lossy(&s[..s.len().min(40)])
        );
    }
}

fn frames(events: Vec<Event>) -> Vec<(Bytes, bool)> {
    events
        .into_iter()
        .map(|ev| match ev {
            Event::Frame { body, more } => (body, more),
            other => panic!("{other:?}"),
        })
        .collect()
}

#[test]
fn sealed_messages_and_multipart_get_through() {
    let mut p = Pair::new(
        config(SocketType::Dealer),
        config(SocketType::Router),
        false,
    );
    let single = Bytes::from_static(b"a single secret frame");
    let long: Bytes = (0..70_000u32)
        .map(|i| b"long secret body "[i as usize % 17])
        .collect::<Vec<u8>>()
        .into();
    let parts = vec![
        Bytes::from_static(b"first secret part"),
        Bytes::new(),
        Bytes::from(vec![b's'; 300]),
        long.clone(),
    ];
    p.send(A, |s, out| s.send_message([single.clone()], out).unwrap());
    p.send(A, |s, out| s.send_message(parts.clone(), out).unwrap());
    let mut expected = vec![(single.clone(), false)];
    expected.extend(parts.iter().enumerate().map(|(i, b)| (b.clone(), i < 3)));
    assert_eq!(frames(p.take_events(B)), expected);

    let reply = [
        Bytes::from_static(b"routing-id"),
        Bytes::from_static(b"a secret reply"),
    ];
    p.send(B, |s, out| s.send_message(reply.clone(), out).unwrap());
    assert_eq!(
        frames(p.take_events(A)),
        [(reply[0].clone(), true), (reply[1].clone(), false)]
    );
    p.assert_sealed(&[
        &single,
        b"first secret part",
        &[b's'; 300],
        b"long secret body",
        &long,
        b"routing-id",
        b"a secret reply",
    ]);
}

fn subscriptions(zmtp30: bool) {
    let mut p = Pair::new(config(SocketType::Sub), config(SocketType::Pub), zmtp30);
    let minor = u8::from(!zmtp30);
    assert_eq!(p.ends[A].session.minor_version(), Some(minor));
    assert_eq!(p.ends[B].session.minor_version(), Some(minor));
    let topic = Bytes::from_static(b"secret-topic");
    p.send(A, |s, out| s.send_subscribe(topic.clone(), out).unwrap());
    p.send(A, |s, out| s.send_cancel(topic.clone(), out).unwrap());
    p.send(A, |s, out| s.send_subscribe(topic.clone(), out).unwrap());
    assert_eq!(
        p.take_events(B),
        [
            Event::Subscribe(topic.clone()),
            Event::Cancel(topic.clone()),
            Event::Subscribe(topic.clone()),
        ]
    );
    let news = Bytes::from_static(b"secret-topic: secret news");
    p.send(B, |s, out| s.send_message([news.clone()], out).unwrap());
    assert_eq!(frames(p.take_events(A)), [(news, false)]);
    p.assert_sealed(&[b"secret-topic", b"SUBSCRIBE", b"CANCEL", b"secret news"]);
}

#[test]
fn sealed_subscriptions_as_zmtp31_commands() {
    subscriptions(false);
}

#[test]
fn sealed_subscriptions_as_zmtp30_messages() {
    subscriptions(true);
}

#[test]
fn sealed_heartbeats_ping_and_pong() {
    let mut a = config(SocketType::Dealer);
    let mut b = config(SocketType::Router);
    a.heartbeat = Some(heartbeat());
    b.heartbeat = Some(heartbeat());
    let mut p = Pair::new(a, b, false);
    for _ in 0..100 {
        p.tick(Duration::from_millis(100));
    }
    for end in [A, B] {
        let ev = p.take_events(end);
        let pings = ev
            .iter()
            .filter(|e| {
                **e == Event::Ping {
                    ttl: Some(Duration::from_secs(3)),
                    context: Bytes::new(),
                }
            })
            .count();
        let pongs = ev
            .iter()
            .filter(|e| matches!(e, Event::Pong { .. }))
            .count();
        assert!(pings >= 8 && pongs >= 8, "{ev:?}");
        assert_eq!(pings + pongs, ev.len(), "{ev:?}");
        assert!(!p.ends[end].session.is_closed());
    }
    p.assert_sealed(&[b"PING", b"PONG"]);
}

#[test]
fn sealed_pong_held_back_by_a_multipart_keeps_wire_order() {
    let mut a = config(SocketType::Dealer);
    let mut b = config(SocketType::Router);
    a.heartbeat = Some(heartbeat());
    b.heartbeat = Some(heartbeat());
    let mut p = Pair::new(a, b, false);
    // A half-sent message from A.
    p.send(A, |s, out| {
        s.send_frame(Bytes::from_static(b"secret head"), true, out)
            .unwrap()
    });
    // B's PING reaches A, whose PONG (and PING) must wait behind the
    // message; B's PONG timeout (2 s after its PING at 1.1 s) is not reached.
    for _ in 0..15 {
        p.tick(Duration::from_millis(100));
    }
    assert!(p
        .take_events(A)
        .iter()
        .any(|e| matches!(e, Event::Ping { .. })));
    p.send(A, |s, out| {
        s.send_frame(Bytes::from_static(b"secret tail"), false, out)
            .unwrap()
    });
    let ev = p.take_events(B);
    assert_eq!(
        ev[..2],
        [
            Event::Frame {
                body: Bytes::from_static(b"secret head"),
                more: true
            },
            Event::Frame {
                body: Bytes::from_static(b"secret tail"),
                more: false
            },
        ]
    );
    assert!(
        ev[2..].iter().any(|e| matches!(e, Event::Pong { .. })),
        "{ev:?}"
    );
    p.assert_sealed(&[b"secret head", b"secret tail"]);
}

#[test]
fn plaintext_at_a_sealed_session_closes_it() {
    let plain_message = || {
        let mut out = Vec::new();
        Encoder::new().frame(Bytes::from_static(b"hello"), false, &mut out);
        Bytes::from(out.concat())
    };
    let plain_ping = Command::Ping {
        ttl: 0,
        context: Bytes::new(),
    }
    .encode_frame();
    let plain_subscribe = Command::Subscribe(Bytes::from_static(b"t")).encode_frame();
    for plaintext in [plain_message(), plain_ping, plain_subscribe] {
        let mut p = Pair::new(
            config(SocketType::Dealer),
            config(SocketType::Router),
            false,
        );
        let s = &mut p.ends[B].session;
        let err = s.handle_input(plaintext).unwrap_err();
        assert!(
            matches!(err, ProtocolError::MalformedCommand { .. }),
            "{err:?}"
        );
        assert!(err.is_peer_fault());
        assert!(s.is_closed());
        assert!(s.poll_event().is_none(), "nothing of it reached the socket");
    }

    // A sealed frame replayed is refused too.
    let mut p = Pair::new(
        config(SocketType::Dealer),
        config(SocketType::Router),
        false,
    );
    let mut out = Vec::new();
    p.ends[A]
        .session
        .send_message([Bytes::from_static(b"once")], &mut out)
        .unwrap();
    let sealed = Bytes::from(out.concat());
    let s = &mut p.ends[B].session;
    s.handle_input(sealed.clone()).unwrap();
    assert!(s.handle_input(sealed).is_err());
    assert!(s.is_closed());

    // And a sealed session never talks to a NULL one.
    let now = Instant::now();
    let mut sealed = Session::new(config(SocketType::Dealer), now).unwrap();
    let mut null = Session::new(SessionConfig::new(SocketType::Router), now).unwrap();
    let mut out = Vec::new();
    null.poll_transmit(&mut out);
    let err = sealed.handle_input(Bytes::from(out.concat())).unwrap_err();
    assert!(
        matches!(err, ProtocolError::MechanismMismatch { .. }),
        "{err:?}"
    );
}
