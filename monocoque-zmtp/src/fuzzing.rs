//! Entry points shared by the fuzz targets (`fuzz/`) and the stable corpus
//! replay test. Not a public API.

use std::time::{Duration, Instant};

use bytes::Bytes;

use crate::command::{Command, Metadata};
use crate::frame::Decoder;
use crate::greeting::GreetingParser;
use crate::mechanism::curve::keys::{CurvePublicKey, CurveSecretKey};
use crate::mechanism::MechanismConfig;

// libzmq's CURVE test keys.
const CURVE_SERVER_PUBLIC: &str = "rq:rM>}U?@Lns47E1%kR.o@n%FcmmsL/@{H8]yf7";
const CURVE_SERVER_SECRET: &str = "JTKVSB%%)wK0E.X)V>+}o?pNmC{O&4W4b!Ni{Lh6";
const CURVE_CLIENT_PUBLIC: &str = "Yne@$w-vo<fVvi]a<NY6T1ed:M$fCG*[IaLV{hID";
const CURVE_CLIENT_SECRET: &str = "D:)Q[IlAW!ahhC2ac:9*A}h:p?([4%wOTJ%JR%cs";
use crate::session::{Event, HeartbeatConfig, Session, SessionConfig};
use crate::socket_type::SocketType;
use crate::zap::{ZapReply, ZapRequest};

/// Splits `data` into pieces whose sizes come from `seed` (1..=64 bytes, or
/// whole when `seed` is 0).
fn pieces(data: &[u8], seed: u8) -> impl Iterator<Item = &[u8]> {
    let mut rest = data;
    let mut state = u32::from(seed);
    std::iter::from_fn(move || {
        if rest.is_empty() {
            return None;
        }
        let n = if seed == 0 {
            rest.len()
        } else {
            state = state.wrapping_mul(1_103_515_245).wrapping_add(12_345);
            (((state >> 16) % 64) as usize + 1).min(rest.len())
        };
        let (a, b) = rest.split_at(n);
        rest = b;
        Some(a)
    })
}

/// Greeting target: first byte picks the split, the rest is the greeting stream.
pub fn greeting(data: &[u8]) {
    let Some((&seed, data)) = data.split_first() else {
        return;
    };
    let mut p = GreetingParser::new();
    for piece in pieces(data, seed) {
        match p.feed(piece) {
            Ok(n) => assert!(n <= piece.len()),
            Err(_) => return,
        }
    }
    if let Some(g) = p.greeting() {
        let again =
            crate::greeting::Greeting::parse(&g.encode()).expect("re-encoded greeting parses");
        assert_eq!(again.mechanism, g.mechanism);
    }
}

/// Decoder target: byte 0 picks the split, byte 1 the size limit, the rest
/// is frame stream. No frame may exceed the limit or be a command with MORE,
/// nor the decoded bodies the input.
pub fn decoder(data: &[u8]) {
    let [seed, limit, rest @ ..] = data else {
        return;
    };
    let max = (*limit != 0).then(|| u64::from(*limit) * 16);
    let mut d = Decoder::new(max);
    let mut total = 0usize;
    for piece in pieces(rest, *seed) {
        d.push(Bytes::copy_from_slice(piece));
        loop {
            match d.decode() {
                Ok(Some(f)) => {
                    total += f.body.len();
                    if let Some(max) = max {
                        assert!(f.body.len() as u64 <= max);
                    }
                    assert!(!(f.command && f.more), "a command with more");
                }
                Ok(None) => break,
                Err(_) => return,
            }
        }
    }
    assert!(total <= rest.len());
}

/// Commands target: parse as a command body and as metadata; whatever
/// parses must re-encode to something that parses to the same value.
pub fn commands(data: &[u8]) {
    let bytes = Bytes::copy_from_slice(data);
    if let Ok(cmd) = Command::parse(bytes.clone()) {
        let again = Command::parse(cmd.encode_body()).expect("re-encoded command parses");
        assert_eq!(again, cmd);
    }
    if let Ok(md) = Metadata::decode(bytes.clone()) {
        let mut b = bytes::BytesMut::new();
        md.encode(&mut b);
        assert_eq!(&b[..], data);
    }
    let frames: Vec<Bytes> = data
        .split(|&b| b == b'|')
        .map(Bytes::copy_from_slice)
        .collect();
    let _ = ZapRequest::decode(&frames);
    let _ = ZapReply::decode(&frames);
}

/// Handshake target: byte 0 picks the local config, byte 1 the split; the
/// rest is what the peer sends. ZAP requests are answered (accept or deny by
/// byte 0), time advances per piece. Byte 0's bit 0x40 sets a 1 KiB message
/// limit and turns the PLAIN server and client into CURVE's (libzmq's test
/// keys), so CURVE's HELLO, WELCOME and ERROR parsing are reached.
pub fn handshake(data: &[u8]) {
    let [cfg, seed, rest @ ..] = data else {
        return;
    };
    let types = SocketType::ALL;
    let mut config = SessionConfig::new(types[usize::from(cfg & 0x0f) % types.len()]);
    let curve = cfg & 0x40 != 0;
    config.mechanism = match (cfg >> 4) & 3 {
        0 => MechanismConfig::Null,
        1 if curve => MechanismConfig::CurveServer {
            secret: CurveSecretKey::from_z85(CURVE_SERVER_SECRET).expect("test key"),
        },
        2 if curve => MechanismConfig::CurveClient {
            public: CurvePublicKey::from_z85(CURVE_CLIENT_PUBLIC).expect("test key"),
            secret: CurveSecretKey::from_z85(CURVE_CLIENT_SECRET).expect("test key"),
            server_public: CurvePublicKey::from_z85(CURVE_SERVER_PUBLIC).expect("test key"),
        },
        1 => MechanismConfig::PlainServer,
        2 => MechanismConfig::PlainClient {
            username: Bytes::from_static(b"admin"),
            password: Bytes::from_static(b"secret"),
        },
        _ => {
            config.zap_domain = Some(Bytes::from_static(b"global"));
            MechanismConfig::Null
        }
    };
    config.max_msg_size = (cfg & 0x40 != 0).then_some(1024);
    config.identity = Some(Bytes::from_static(b"me"));
    config.heartbeat = Some(HeartbeatConfig {
        interval: Duration::from_millis(100),
        ttl: Some(Duration::from_millis(500)),
        timeout: None,
    });
    config.handshake_timeout = Some(Duration::from_secs(1));
    let mut now = Instant::now();
    let Ok(mut s) = Session::new(config, now) else {
        return;
    };
    let accept = cfg & 0x80 == 0;
    let mut out = Vec::new();
    for piece in pieces(rest, *seed) {
        if s.handle_input(Bytes::copy_from_slice(piece)).is_err() {
            break;
        }
        while let Some(ev) = s.poll_event() {
            if let Event::ZapRequest(req) = ev {
                let reply = if accept {
                    ZapReply::accept(&req)
                } else {
                    ZapReply::deny(&req, "no")
                };
                let _ = s.zap_reply(reply);
            }
        }
        if s.is_ready() {
            let _ = s.send_message([Bytes::from_static(b"a"), Bytes::new()], &mut out);
            let _ = s.send_subscribe(Bytes::from_static(b"t"), &mut out);
        }
        now += Duration::from_millis(30);
        if s.poll_timeout().is_some_and(|t| t <= now) && s.handle_timeout(now).is_err() {
            break;
        }
        s.poll_transmit(&mut out);
        out.clear();
    }
    s.poll_transmit(&mut out);
}
