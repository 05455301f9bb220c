//! Protocol pair tests for CURVE: a client and a server `Session` wired to
//! each other in memory with a virtual clock. A full handshake (the ZAP
//! question carries mechanism `CURVE` and the client's 32-byte key; the
//! user id ZAP returns reaches `PeerInfo`), messages and multipart messages
//! both ways, subscriptions and heartbeats inside MESSAGE boxes, nothing in
//! clear on the wire; and the refusals: a ZAP denial, a byte changed in
//! each of HELLO, WELCOME, the cookie, INITIATE, READY and MESSAGE, a
//! replayed and a reordered MESSAGE, and a client holding the wrong server
//! key, each ending the connection with its typed error.

#![allow(clippy::unwrap_used)]
use std::time::{Duration, Instant};

use bytes::Bytes;
use monocoque_zmtp::{
    curve_keypair, CurvePublicKey, CurveSecretKey, Decoder, Event, HeartbeatConfig,
    MechanismConfig, ProtocolError, Session, SessionConfig, SocketType, ZapReply, ZapRequest,
};

const CLIENT: usize = 0;
const SERVER: usize = 1;

/// What the server's ZAP handler answers.
#[derive(Clone, Copy)]
enum Zap {
    Accept,
    AcceptAs(&'static str),
    Deny,
}

/// Changes one byte of the `chunk`-th poll_transmit output of `end`
/// (0 is its greeting), `from_end` bytes before the chunk's end.
#[derive(Clone, Copy)]
struct Tamper {
    end: usize,
    chunk: usize,
    from_end: usize,
}

struct Pair {
    s: [Session; 2],
    events: [Vec<Event>; 2],
    /// Every byte each end emitted, and how many poll_transmit chunks.
    wire: [Vec<u8>; 2],
    chunks: [usize; 2],
    zap: Zap,
    zap_requests: Vec<ZapRequest>,
    tamper: Option<Tamper>,
    now: Instant,
}

struct Keys {
    server_public: CurvePublicKey,
    server_secret: CurveSecretKey,
    client_public: CurvePublicKey,
    client_secret: CurveSecretKey,
}

fn keys() -> Keys {
    let (server_public, server_secret) = curve_keypair();
    let (client_public, client_secret) = curve_keypair();
    Keys {
        server_public,
        server_secret,
        client_public,
        client_secret,
    }
}

fn configs(k: &Keys, client: SocketType, server: SocketType) -> [SessionConfig; 2] {
    let mut c = SessionConfig::new(client);
    c.mechanism = MechanismConfig::CurveClient {
        public: k.client_public,
        secret: k.client_secret.clone(),
        server_public: k.server_public,
    };
    let mut s = SessionConfig::new(server);
    s.mechanism = MechanismConfig::CurveServer {
        secret: k.server_secret.clone(),
    };
    [c, s]
}

impl Pair {
    fn new(cfg: [SessionConfig; 2], zap: Zap, tamper: Option<Tamper>) -> Pair {
        let now = Instant::now();
        let [c, s] = cfg;
        Pair {
            s: [Session::new(c, now).unwrap(), Session::new(s, now).unwrap()],
            events: [Vec::new(), Vec::new()],
            wire: [Vec::new(), Vec::new()],
            chunks: [0, 0],
            zap,
            zap_requests: Vec::new(),
            tamper,
            now,
        }
    }

    /// A pair whose handshake completed; events and wire logs cleared.
    fn ready(cfg: [SessionConfig; 2]) -> Pair {
        let mut p = Pair::new(cfg, Zap::Accept, None);
        p.pump().unwrap();
        for end in [CLIENT, SERVER] {
            assert!(p.s[end].is_ready());
            let ev = p.take_events(end);
            assert!(matches!(&ev[..], [Event::HandshakeComplete(_)]), "{ev:?}");
            p.wire[end].clear();
        }
        p
    }

    /// Delivers `out` from `from` to the other end (in 5-byte pieces),
    /// answering ZAP; the first error of the receiver, with its end.
    fn deliver(&mut self, from: usize, out: Vec<Bytes>) -> Result<(), (usize, ProtocolError)> {
        let to = 1 - from;
        let mut bytes = out.concat();
        if let Some(t) = self.tamper {
            if t.end == from && t.chunk == self.chunks[from] {
                let i = bytes.len() - 1 - t.from_end;
                bytes[i] ^= 0x20;
            }
        }
        self.chunks[from] += 1;
        self.wire[from].extend_from_slice(&bytes);
        for piece in bytes.chunks(5) {
            self.s[to]
                .handle_input(Bytes::copy_from_slice(piece))
                .map_err(|e| (to, e))?;
            while let Some(ev) = self.s[to].poll_event() {
                if let Event::ZapRequest(req) = &ev {
                    let mut reply = match self.zap {
                        Zap::Deny => ZapReply::deny(req, "not on the list"),
                        _ => ZapReply::accept(req),
                    };
                    if let Zap::AcceptAs(user) = self.zap {
                        reply.user_id = Bytes::from_static(user.as_bytes());
                    }
                    self.zap_requests.push((**req).clone());
                    self.s[to].zap_reply(reply).map_err(|e| (to, e))?;
                    continue;
                }
                self.events[to].push(ev);
            }
        }
        Ok(())
    }

    /// Moves output both ways until neither end has any.
    fn pump(&mut self) -> Result<(), (usize, ProtocolError)> {
        loop {
            let mut moved = false;
            for from in [CLIENT, SERVER] {
                let mut out = Vec::new();
                if self.s[from].poll_transmit(&mut out) {
                    self.deliver(from, out)?;
                    moved = true;
                }
            }
            if !moved {
                return Ok(());
            }
        }
    }

    fn send(
        &mut self,
        from: usize,
        f: impl FnOnce(&mut Session, &mut Vec<Bytes>) -> Result<(), ProtocolError>,
    ) -> Result<(), (usize, ProtocolError)> {
        let mut out = Vec::new();
        f(&mut self.s[from], &mut out).unwrap();
        self.deliver(from, out)?;
        self.pump()
    }

    fn tick(&mut self, step: Duration) {
        self.now += step;
        for s in &mut self.s {
            if s.poll_timeout().is_some_and(|t| t <= self.now) {
                s.handle_timeout(self.now).unwrap();
            }
        }
        self.pump().unwrap();
    }

    fn take_events(&mut self, end: usize) -> Vec<Event> {
        std::mem::take(&mut self.events[end])
    }
}

/// Every data-phase frame in `wire` is a MESSAGE box in a frame with no
/// flags, and none of `secrets` appears in clear.
fn assert_boxed(wire: &[u8], secrets: &[&[u8]]) {
    assert!(!wire.is_empty());
    let mut d = Decoder::new(None);
    d.push(Bytes::copy_from_slice(wire));
    while let Some(f) = d.decode().unwrap() {
        assert!(!f.command && !f.more, "flags on a box frame");
        assert!(f.body.starts_with(b"\x07MESSAGE"), "{:?}", f.body);
    }
    for s in secrets {
        assert!(!wire.windows(s.len()).any(|w| w == *s), "in clear: {s:?}");
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
fn handshake_asks_zap_with_the_client_key_and_passes_the_user_id() {
    let k = keys();
    let mut cfg = configs(&k, SocketType::Dealer, SocketType::Router);
    cfg[CLIENT].identity = Some(Bytes::from_static(b"dealer-1"));
    cfg[CLIENT].metadata.insert("X-Hello", "curve").unwrap();
    let mut p = Pair::new(cfg, Zap::AcceptAs("client-user"), None);
    p.pump().unwrap();
    assert_eq!(p.zap_requests.len(), 1);
    let req = &p.zap_requests[0];
    assert_eq!(&req.mechanism[..], b"CURVE");
    assert_eq!(
        req.credentials,
        vec![Bytes::copy_from_slice(k.client_public.as_bytes())]
    );

    let Event::HandshakeComplete(server_view) = &p.take_events(SERVER)[0] else {
        panic!()
    };
    assert_eq!(server_view.mechanism.as_str(), "CURVE");
    assert_eq!(server_view.socket_type, SocketType::Dealer);
    assert_eq!(server_view.identity.as_deref(), Some(&b"dealer-1"[..]));
    assert_eq!(server_view.metadata.get("X-Hello").unwrap(), "curve");
    assert_eq!(server_view.user_id.as_deref(), Some(&b"client-user"[..]));
    let Event::HandshakeComplete(client_view) = &p.take_events(CLIENT)[0] else {
        panic!()
    };
    assert_eq!(client_view.socket_type, SocketType::Router);
    assert_eq!(client_view.user_id, None);
    assert!(p.s[CLIENT].plain_framer().is_none() && p.s[SERVER].plain_framer().is_none());

    // HELLO is 200 bytes (a 2-byte header), WELCOME 168; nothing of the
    // metadata is in clear.
    assert_eq!(&p.wire[CLIENT][64..66], &[0x04, 200]);
    assert_eq!(&p.wire[SERVER][64..66], &[0x04, 168]);
    for w in &p.wire {
        assert!(!w.windows(8).any(|x| x == b"dealer-1"));
        assert!(!w.windows(11).any(|x| x == b"Socket-Type"));
    }
}

#[test]
fn messages_and_multipart_both_ways_in_boxes() {
    let k = keys();
    let mut p = Pair::ready(configs(&k, SocketType::Dealer, SocketType::Router));
    let long: Bytes = (0..70_000u32)
        .map(|i| (i % 251) as u8)
        .collect::<Vec<u8>>()
        .into();
    let parts = vec![
        Bytes::from_static(b"first secret part"),
        Bytes::new(),
        long.clone(),
        Bytes::from_static(b"last secret part"),
    ];
    for (from, to) in [(CLIENT, SERVER), (SERVER, CLIENT)] {
        p.send(from, |s, out| {
            s.send_frame(Bytes::from_static(b"one secret"), false, out)
        })
        .unwrap();
        let sent = parts.clone();
        p.send(from, |s, out| s.send_message(sent, out)).unwrap();
        let got = frames(p.take_events(to));
        let mut want = vec![(Bytes::from_static(b"one secret"), false)];
        want.extend(
            parts
                .iter()
                .enumerate()
                .map(|(i, b)| (b.clone(), i + 1 < parts.len())),
        );
        assert_eq!(got, want);
    }
    for w in &p.wire {
        assert_boxed(w, &[b"one secret", b"first secret part", &long[1000..1100]]);
    }
}

#[test]
fn subscriptions_travel_inside_boxes() {
    let k = keys();
    let mut p = Pair::ready(configs(&k, SocketType::Sub, SocketType::Pub));
    p.send(CLIENT, |s, out| {
        s.send_subscribe(Bytes::from_static(b"weather"), out)
    })
    .unwrap();
    p.send(CLIENT, |s, out| {
        s.send_cancel(Bytes::from_static(b"weather"), out)
    })
    .unwrap();
    assert_eq!(
        p.take_events(SERVER),
        vec![
            Event::Subscribe(Bytes::from_static(b"weather")),
            Event::Cancel(Bytes::from_static(b"weather"))
        ]
    );
    p.send(SERVER, |s, out| {
        s.send_message(
            [Bytes::from_static(b"weather"), Bytes::from_static(b"rain")],
            out,
        )
    })
    .unwrap();
    assert_eq!(frames(p.take_events(CLIENT)).len(), 2);
    assert_boxed(&p.wire[CLIENT], &[b"weather", b"SUBSCRIBE"]);
    assert_boxed(&p.wire[SERVER], &[b"weather", b"rain"]);
}

#[test]
fn heartbeats_travel_inside_boxes() {
    let k = keys();
    let mut cfg = configs(&k, SocketType::Dealer, SocketType::Router);
    cfg[CLIENT].heartbeat = Some(HeartbeatConfig {
        interval: Duration::from_secs(1),
        ttl: Some(Duration::from_secs(3)),
        timeout: Some(Duration::from_secs(2)),
    });
    let mut p = Pair::ready(cfg);
    for _ in 0..5 {
        p.tick(Duration::from_millis(500));
    }
    let pings = p
        .take_events(SERVER)
        .into_iter()
        .filter(|e| matches!(e, Event::Ping { .. }))
        .count();
    let pongs = p
        .take_events(CLIENT)
        .into_iter()
        .filter(|e| matches!(e, Event::Pong { .. }))
        .count();
    assert!(pings >= 2 && pongs == pings, "{pings} pings, {pongs} pongs");
    assert!(p.s[CLIENT].is_ready() && p.s[SERVER].is_ready());
    assert_boxed(&p.wire[CLIENT], &[b"PING"]);
    assert_boxed(&p.wire[SERVER], &[b"PONG"]);
}

#[test]
fn zap_denial_refuses_the_client() {
    let k = keys();
    let mut p = Pair::new(
        configs(&k, SocketType::Req, SocketType::Rep),
        Zap::Deny,
        None,
    );
    // The server fails on its ZAP reply; its ERROR "400" reaches the client.
    let (end, err) = p.pump().unwrap_err();
    assert_eq!(end, SERVER);
    assert!(
        matches!(&err, ProtocolError::AuthenticationFailed { status_code, .. } if status_code == "400"),
        "{err:?}"
    );
    let mut out = Vec::new();
    p.s[SERVER].poll_transmit(&mut out);
    let (end, err) = p.deliver(SERVER, out).unwrap_err();
    assert_eq!(end, CLIENT);
    assert_eq!(
        err,
        ProtocolError::AuthenticationFailed {
            status_code: "400".into(),
            status_text: String::new()
        }
    );
}

/// Runs a handshake with one byte changed and returns who failed and why.
fn tampered(t: Tamper) -> (usize, ProtocolError) {
    let k = keys();
    let mut p = Pair::new(
        configs(&k, SocketType::Dealer, SocketType::Router),
        Zap::Accept,
        Some(t),
    );
    let r = p.pump().and_then(|()| {
        p.send(CLIENT, |s, out| {
            s.send_frame(Bytes::from_static(b"x"), false, out)
        })
    });
    r.unwrap_err()
}

#[test]
fn a_changed_byte_in_any_command_closes_the_connection() {
    let rejected = |what| ProtocolError::CurveBoxRejected { what };
    // Chunk 1 of each end is its first command after the greeting.
    let hello = Tamper {
        end: CLIENT,
        chunk: 1,
        from_end: 0,
    };
    assert_eq!(tampered(hello), (SERVER, rejected("HELLO")));
    let welcome = Tamper {
        end: SERVER,
        chunk: 1,
        from_end: 0,
    };
    assert_eq!(tampered(welcome), (CLIENT, rejected("WELCOME")));
    let initiate = Tamper {
        end: CLIENT,
        chunk: 2,
        from_end: 0,
    };
    assert_eq!(tampered(initiate), (SERVER, rejected("INITIATE")));
    // INITIATE's cookie: its last byte sits 8 (nonce) + the box before the end;
    // the box is Box[C, vouch, metadata] = 16 + 32 + 96 + metadata.
    // The DEALER's metadata: Socket-Type "DEALER" and an empty Identity.
    let md_len = (1 + 11 + 4 + 6) + (1 + 8 + 4);
    let cookie = Tamper {
        end: CLIENT,
        chunk: 2,
        from_end: 8 + 16 + 32 + 96 + md_len,
    };
    assert_eq!(tampered(cookie), (SERVER, rejected("COOKIE")));
    let ready = Tamper {
        end: SERVER,
        chunk: 2,
        from_end: 0,
    };
    assert_eq!(tampered(ready), (CLIENT, rejected("READY")));
    let message = Tamper {
        end: CLIENT,
        chunk: 3,
        from_end: 0,
    };
    assert_eq!(tampered(message), (SERVER, rejected("MESSAGE")));
    // A changed short nonce: the box no longer opens under it.
    let nonce = Tamper {
        end: CLIENT,
        chunk: 3,
        from_end: 16 + 1 + 1,
    };
    assert_eq!(tampered(nonce), (SERVER, rejected("MESSAGE")));
}

#[test]
fn replayed_and_reordered_messages_close_the_connection() {
    let k = keys();
    for reorder in [false, true] {
        let mut p = Pair::ready(configs(&k, SocketType::Dealer, SocketType::Router));
        let (mut m1, mut m2) = (Vec::new(), Vec::new());
        p.s[CLIENT]
            .send_frame(Bytes::from_static(b"one"), false, &mut m1)
            .unwrap();
        p.s[CLIENT]
            .send_frame(Bytes::from_static(b"two"), false, &mut m2)
            .unwrap();
        let err = if reorder {
            p.deliver(CLIENT, m2).unwrap();
            p.deliver(CLIENT, m1).unwrap_err()
        } else {
            p.deliver(CLIENT, m1.clone()).unwrap();
            p.deliver(CLIENT, m1).unwrap_err()
        };
        // The handshake used the client's nonces 1 (HELLO) and 2 (INITIATE).
        let (nonce, last) = if reorder { (3, 4) } else { (3, 3) };
        assert_eq!(
            err,
            (
                SERVER,
                ProtocolError::CurveNonceOutOfOrder {
                    command: "MESSAGE",
                    nonce,
                    last
                }
            )
        );
        assert!(p.s[SERVER].is_closed());
        assert_eq!(frames(p.take_events(SERVER)).len(), 1);
    }
}

#[test]
fn a_wrong_server_key_is_refused_at_hello() {
    let k = keys();
    let mut cfg = configs(&k, SocketType::Dealer, SocketType::Router);
    cfg[CLIENT].mechanism = MechanismConfig::CurveClient {
        public: k.client_public,
        secret: k.client_secret.clone(),
        server_public: curve_keypair().0,
    };
    let mut p = Pair::new(cfg, Zap::Accept, None);
    assert_eq!(
        p.pump(),
        Err((SERVER, ProtocolError::CurveBoxRejected { what: "HELLO" }))
    );
    assert!(p.zap_requests.is_empty());
    assert!(!p.s[CLIENT].is_ready());
}

#[test]
fn a_plaintext_frame_after_the_handshake_closes_the_connection() {
    let k = keys();
    let mut p = Pair::ready(configs(&k, SocketType::Dealer, SocketType::Router));
    let err = p.deliver(CLIENT, vec![Bytes::from_static(b"\x00\x05hello")]);
    assert_eq!(err, Err((SERVER, ProtocolError::UnprotectedFrame)));
}

#[test]
fn a_mismatched_public_key_is_a_config_error() {
    let k = keys();
    let mut c = SessionConfig::new(SocketType::Dealer);
    c.mechanism = MechanismConfig::CurveClient {
        public: k.server_public,
        secret: k.client_secret.clone(),
        server_public: k.server_public,
    };
    assert!(matches!(
        Session::new(c, Instant::now()),
        Err(ProtocolError::InvalidConfig(_))
    ));
}
