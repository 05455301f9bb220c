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

// CURVE against a real peer.
//
// The three CURVE targets run the session under test against an honest
// `Session` of the other role, in memory, on a virtual clock. Everything the
// honest peer emits is a *record* (one `Bytes` from its `poll_transmit` or
// `send_*`: the greeting, one command frame, one MESSAGE box), and the
// fuzzer's edits say what happens to each record on its way: bytes flipped
// or set, cut short, dropped, sent twice, held back behind the next one,
// raw bytes spliced in, an earlier record replayed, or the clock jumped.
// What the session under test says goes back to the peer untouched.
//
// Input: byte 0 the config (`CurveConfig::new`), byte 1 the split of what
// reaches the session under test (as `pieces`), byte 2 the number of edits,
// then five bytes per edit (`Edit::parse`); what follows is the pool that
// injected bytes are taken from, in turn.
//
// Invariants, beyond no panic and bounded memory: everything the session
// under test delivers (frames with their MORE flag, subscriptions,
// cancels) is one of the honest peer's, unaltered, in the order sent (a
// subsequence: CURVE, like libzmq, lets a short nonce skip, so a dropped box
// goes unnoticed; a tampered one never opens); the peer it reports is the
// honest one (socket type, identity, and for a server the client key it asks
// ZAP about); and if the edits left the bytes as they were and the clock
// alone, the session completes the handshake and delivers every message,
// with no error. Anything else must end in a `ProtocolError`, or leave the
// session waiting for bytes that never come.

/// The honest peer's long-term keys and ours, libzmq's test keys.
struct CurveKeys {
    server_public: CurvePublicKey,
    server_secret: CurveSecretKey,
    client_public: CurvePublicKey,
    client_secret: CurveSecretKey,
}

impl CurveKeys {
    fn libzmq() -> CurveKeys {
        CurveKeys {
            server_public: CurvePublicKey::from_z85(CURVE_SERVER_PUBLIC).expect("test key"),
            server_secret: CurveSecretKey::from_z85(CURVE_SERVER_SECRET).expect("test key"),
            client_public: CurvePublicKey::from_z85(CURVE_CLIENT_PUBLIC).expect("test key"),
            client_secret: CurveSecretKey::from_z85(CURVE_CLIENT_SECRET).expect("test key"),
        }
    }

    fn mechanism(&self, server: bool) -> MechanismConfig {
        if server {
            MechanismConfig::CurveServer {
                secret: self.server_secret.clone(),
            }
        } else {
            MechanismConfig::CurveClient {
                public: self.client_public,
                secret: self.client_secret.clone(),
                server_public: self.server_public,
            }
        }
    }
}

/// Socket types of (the session under test, the honest peer).
const CURVE_PAIRS: [(SocketType, SocketType); 8] = [
    (SocketType::Dealer, SocketType::Router),
    (SocketType::Router, SocketType::Dealer),
    (SocketType::Pair, SocketType::Pair),
    (SocketType::Pub, SocketType::Sub),
    (SocketType::Xsub, SocketType::Xpub),
    (SocketType::Pull, SocketType::Push),
    (SocketType::Rep, SocketType::Req),
    (SocketType::Req, SocketType::Rep),
];

/// Byte 0 of a CURVE target's input: bits 0-2 the socket types
/// (`CURVE_PAIRS`), bit 3 heartbeats on both sides, bit 4 a 1 KiB
/// `MAXMSGSIZE` on the session under test, bit 5 (`curve_message` only) the
/// session under test is the client.
struct CurveConfig {
    ours: SocketType,
    theirs: SocketType,
    heartbeat: bool,
    limit: bool,
}

impl CurveConfig {
    fn new(cfg: u8) -> CurveConfig {
        let (ours, theirs) = CURVE_PAIRS[usize::from(cfg & 7)];
        CurveConfig {
            ours,
            theirs,
            heartbeat: cfg & 0x08 != 0,
            limit: cfg & 0x10 != 0,
        }
    }

    fn session(&self, ours: bool, mechanism: MechanismConfig, now: Instant) -> Session {
        let mut c = SessionConfig::new(if ours { self.ours } else { self.theirs });
        c.mechanism = mechanism;
        c.identity = Some(Bytes::from_static(if ours { b"dut" } else { b"peer" }));
        c.max_msg_size = (ours && self.limit).then_some(1024);
        c.heartbeat = self.heartbeat.then_some(HeartbeatConfig {
            interval: Duration::from_millis(100),
            ttl: Some(Duration::from_millis(500)),
            timeout: None,
        });
        c.handshake_timeout = Some(Duration::from_secs(1));
        Session::new(c, now).expect("valid config")
    }
}

/// What the edit does to its record (`op % 9`).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum EditOp {
    /// XOR the byte at `offset` with `value` (0 counts as 0x80).
    Xor,
    /// Set the byte at `offset` to `value`.
    Set,
    /// Keep only the first `offset % len` bytes.
    Truncate,
    /// Empty the record (bytes injected by a later edit still go).
    Drop,
    /// Deliver it twice.
    Duplicate,
    /// Deliver it after the next record delivered (reorder).
    Delay,
    /// Splice `value % 32 + 1` bytes of the pool in before `offset`.
    Inject,
    /// After it, deliver again the record `value % n + 1` back (itself at 1).
    Replay,
    /// Advance the clock by `value` x 50 ms before delivering it.
    Stall,
}

/// One edit: `[record, op, offset high, offset low, value]`.
#[derive(Debug, Clone, Copy)]
struct Edit {
    record: u8,
    op: EditOp,
    offset: u16,
    value: u8,
}

impl Edit {
    const LEN: usize = 5;

    fn parse(b: &[u8]) -> Edit {
        const OPS: [EditOp; 9] = [
            EditOp::Xor,
            EditOp::Set,
            EditOp::Truncate,
            EditOp::Drop,
            EditOp::Duplicate,
            EditOp::Delay,
            EditOp::Inject,
            EditOp::Replay,
            EditOp::Stall,
        ];
        Edit {
            record: b[0],
            op: OPS[usize::from(b[1]) % OPS.len()],
            offset: u16::from_be_bytes([b[2], b[3]]),
            value: b[4],
        }
    }
}

/// Where an edit's offset lands in a record of `len` bytes (`len > 0`). With
/// `fields` (`curve_message`), the offset's high byte names a part of a
/// MESSAGE frame and the low byte the place in it: 1 the ZMTP header (flags,
/// length), 2 the name `\x07MESSAGE`, 3 the short nonce, 4 the box's tag, 5
/// the ciphertext (its first byte is the flags octet); anything else, or
/// without `fields`, the offset counts from the record's start.
fn locate(rec: &[u8], offset: u16, fields: bool) -> usize {
    let len = rec.len();
    let [field, at] = offset.to_be_bytes();
    let at = usize::from(at);
    if !fields || !(1..=5).contains(&field) {
        return usize::from(offset) % len;
    }
    let header = if rec[0] & 0x02 != 0 { 9 } else { 2 };
    let (start, size) = match field {
        1 => (0, header),
        2 => (header, 8),
        3 => (header + 8, 8),
        4 => (header + 16, 16),
        _ => (header + 32, usize::MAX),
    };
    (start + at % size).min(len - 1)
}

/// What the session under test may deliver.
#[derive(Debug, Clone, PartialEq, Eq)]
enum Delivery {
    Frame(Bytes, bool),
    Subscribe(Bytes),
    Cancel(Bytes),
}

/// What the honest peer sends once it is ready: messages (one with an empty
/// frame, a multipart one, one long enough for an 8-byte length),
/// a subscription and its cancel. No body starts with 0 or 1, so a PUB
/// under test reads none of them as a subscription.
fn curve_script() -> Vec<Vec<Delivery>> {
    let f = |b: &'static [u8], more| Delivery::Frame(Bytes::from_static(b), more);
    vec![
        vec![f(b"hello", false)],
        vec![f(b"", true), f(b"multi", true), f(b"part", false)],
        vec![Delivery::Subscribe(Bytes::from_static(b"topic"))],
        vec![Delivery::Frame(Bytes::from(vec![b'x'; 300]), false)],
        vec![Delivery::Cancel(Bytes::from_static(b"topic"))],
        vec![f(b"end", false)],
    ]
}

/// Rounds a CURVE run lasts (20 ms of virtual time each); delayed records
/// are let go `RELEASE` rounds before the end.
const CURVE_ROUNDS: usize = 40;
const CURVE_RELEASE: usize = 4;
const CURVE_TICK: Duration = Duration::from_millis(20);

/// The session under test, its honest peer, and the tampered pipe between.
struct CurveRun<'a> {
    now: Instant,
    dut: Session,
    peer: Session,
    dut_is_server: bool,
    client_key: [u8; 32],
    expect_type: SocketType,
    expect_identity: Option<Bytes>,
    split: u8,
    edits: Vec<Edit>,
    fields: bool,
    pool: &'a [u8],
    pool_at: usize,
    /// Edits apply (and the script runs) only while this is set.
    editing: bool,
    /// The peer's output not yet cut into records, and whether its
    /// greeting (the first record) is behind.
    unframed: Vec<u8>,
    greeted: bool,
    /// Records the peer emitted while editing; `history` keeps them.
    history: Vec<Bytes>,
    held: Vec<Vec<u8>>,
    /// What the peer sent, and what reached the session under test, while editing.
    honest: Vec<u8>,
    wire: Vec<u8>,
    /// An edit moved the clock or held a record back.
    retimed: bool,
    stall: bool,
    script: std::collections::VecDeque<Vec<Delivery>>,
    expected: Vec<Delivery>,
    matched: usize,
    n_delivered: usize,
    handshook: bool,
    dut_error: Option<crate::error::ProtocolError>,
    peer_out: Vec<Bytes>,
}

impl<'a> CurveRun<'a> {
    /// Parses the input; `dut_is_server` None: bit 5 of byte 0 decides.
    fn new(data: &'a [u8], dut_is_server: Option<bool>, fields: bool) -> Option<CurveRun<'a>> {
        let [cfg, split, n, rest @ ..] = data else {
            return None;
        };
        let n = usize::from(*n).min(rest.len() / Edit::LEN);
        let (edits, pool) = rest.split_at(n * Edit::LEN);
        let edits = edits.chunks_exact(Edit::LEN).map(Edit::parse).collect();
        let config = CurveConfig::new(*cfg);
        let dut_is_server = dut_is_server.unwrap_or(cfg & 0x20 == 0);
        let keys = CurveKeys::libzmq();
        let now = Instant::now();
        let dut = config.session(true, keys.mechanism(dut_is_server), now);
        let peer = config.session(false, keys.mechanism(!dut_is_server), now);
        Some(CurveRun {
            now,
            dut,
            peer,
            dut_is_server,
            client_key: *keys.client_public.as_bytes(),
            expect_type: config.theirs,
            expect_identity: config
                .theirs
                .sends_identity()
                .then_some(Bytes::from_static(b"peer")),
            split: *split,
            edits,
            fields,
            pool,
            pool_at: 0,
            editing: !fields,
            unframed: Vec::new(),
            greeted: false,
            history: Vec::new(),
            held: Vec::new(),
            honest: Vec::new(),
            wire: Vec::new(),
            retimed: false,
            stall: false,
            script: curve_script().into(),
            expected: Vec::new(),
            matched: 0,
            n_delivered: 0,
            handshook: false,
            dut_error: None,
            peer_out: Vec::new(),
        })
    }

    fn run(mut self) {
        if !self.editing {
            // curve_message: an honest handshake first.
            for _ in 0..10 {
                if self.dut.is_ready() && self.peer.is_ready() {
                    break;
                }
                self.round(false);
            }
            assert!(
                self.dut.is_ready() && self.peer.is_ready(),
                "an honest handshake did not complete: {:?}",
                self.dut_error
            );
            self.editing = true;
            self.greeted = true;
        }
        for r in 0..CURVE_ROUNDS {
            self.round(r == CURVE_ROUNDS - CURVE_RELEASE);
        }
        self.check_end();
    }

    /// One round: the peer's script step and output go (edited) to the
    /// session under test, its output goes back, both see the clock advance.
    fn round(&mut self, release: bool) {
        if self.editing && self.peer.is_ready() {
            if let Some(item) = self.script.pop_front() {
                self.peer_send(item);
            }
        }
        if !self.peer.is_closed() {
            self.peer.poll_transmit(&mut self.peer_out);
        }
        let mut chunk = Vec::new();
        for b in std::mem::take(&mut self.peer_out) {
            if self.editing {
                self.unframed.extend_from_slice(&b);
            } else {
                chunk.extend_from_slice(&b);
            }
        }
        while let Some(n) = self.next_record() {
            let rec: Vec<u8> = self.unframed.drain(..n).collect();
            self.pipe(Bytes::from(rec), &mut chunk);
        }
        if release {
            for rec in self.held.drain(..) {
                chunk.extend_from_slice(&rec);
            }
        }
        if std::mem::take(&mut self.stall) {
            // The clock jumped before these bytes arrive.
            self.tick_dut();
        }
        self.deliver(&chunk);

        let mut out = Vec::new();
        self.dut.poll_transmit(&mut out);
        for b in out {
            if self.peer.is_closed() || self.peer.handle_input(b).is_err() {
                break;
            }
        }
        while let Some(ev) = self.peer.poll_event() {
            if let Event::ZapRequest(req) = ev {
                let _ = self.peer.zap_reply(ZapReply::accept(&req));
            }
        }

        self.now += CURVE_TICK;
        self.tick_dut();
        if self.peer.poll_timeout().is_some_and(|t| t <= self.now) {
            let _ = self.peer.handle_timeout(self.now);
        }
    }

    fn tick_dut(&mut self) {
        if self.dut.poll_timeout().is_some_and(|t| t <= self.now) {
            if let Err(e) = self.dut.handle_timeout(self.now) {
                self.fail(e);
            }
        }
    }

    fn fail(&mut self, e: crate::error::ProtocolError) {
        assert!(
            self.dut.is_closed(),
            "an error left the session open: {e:?}"
        );
        self.dut_error.get_or_insert(e);
    }

    /// The honest peer sends one script item; what it must deliver is noted.
    fn peer_send(&mut self, item: Vec<Delivery>) {
        let out = &mut self.peer_out;
        let r = match &item[..] {
            [Delivery::Subscribe(t)] => self.peer.send_subscribe(t.clone(), out),
            [Delivery::Cancel(t)] => self.peer.send_cancel(t.clone(), out),
            frames => {
                let parts = frames.iter().map(|d| match d {
                    Delivery::Frame(b, _) => b.clone(),
                    _ => unreachable!("a message holds frames only"),
                });
                self.peer.send_message(parts, out)
            }
        };
        if r.is_ok() {
            self.expected.extend(item);
        }
    }

    /// The length of the next whole record in `unframed`: the greeting,
    /// then one ZMTP frame (header and body) each. The peer is honest, so
    /// its output parses.
    fn next_record(&self) -> Option<usize> {
        let b = &self.unframed;
        if !self.greeted {
            return (b.len() >= 64).then_some(64);
        }
        let (header, len) = match b.first()? & 0x02 {
            0 => (2, u64::from(*b.get(1)?)),
            _ => (9, u64::from_be_bytes(b.get(1..9)?.try_into().ok()?)),
        };
        let n = usize::try_from(len).ok()?.checked_add(header)?;
        (b.len() >= n).then_some(n)
    }

    /// Applies the edits for one record the peer emitted; appends what is
    /// delivered now to `chunk`.
    fn pipe(&mut self, rec: Bytes, chunk: &mut Vec<u8>) {
        self.greeted = true;
        let index = self.history.len();
        self.honest.extend_from_slice(&rec);
        self.history.push(rec.clone());
        let mut bytes = rec.to_vec();
        let (mut twice, mut delay) = (false, false);
        let mut replays = Vec::new();
        for e in self.edits.iter().filter(|e| usize::from(e.record) == index) {
            match e.op {
                EditOp::Xor | EditOp::Set if !bytes.is_empty() => {
                    let i = locate(&bytes, e.offset, self.fields);
                    if e.op == EditOp::Xor {
                        bytes[i] ^= if e.value == 0 { 0x80 } else { e.value };
                    } else {
                        bytes[i] = e.value;
                    }
                }
                EditOp::Xor | EditOp::Set => {}
                EditOp::Truncate => {
                    let n = usize::from(e.offset) % bytes.len().max(1);
                    bytes.truncate(n);
                }
                EditOp::Drop => bytes.clear(),
                EditOp::Duplicate => twice = true,
                EditOp::Delay => {
                    delay = true;
                    self.retimed = true;
                }
                EditOp::Inject => {
                    let at = usize::from(e.offset) % (bytes.len() + 1);
                    let n = usize::from(e.value % 32) + 1;
                    let mut raw = Vec::with_capacity(n);
                    for _ in 0..n {
                        if self.pool.is_empty() {
                            break;
                        }
                        raw.push(self.pool[self.pool_at % self.pool.len()]);
                        self.pool_at += 1;
                    }
                    bytes.splice(at..at, raw);
                }
                EditOp::Replay => {
                    let back = usize::from(e.value) % self.history.len();
                    replays.push(self.history[self.history.len() - 1 - back].clone());
                }
                EditOp::Stall => {
                    self.now += Duration::from_millis(u64::from(e.value) * 50);
                    self.retimed = true;
                    self.stall = true;
                }
            }
        }
        if delay {
            self.held.push(bytes);
        } else {
            chunk.extend_from_slice(&bytes);
            if twice {
                chunk.extend_from_slice(&bytes);
            }
            for h in self.held.drain(..) {
                chunk.extend_from_slice(&h);
            }
        }
        for r in replays {
            chunk.extend_from_slice(&r);
        }
    }

    /// Feeds `chunk` to the session under test in pieces; checks what it
    /// delivers.
    fn deliver(&mut self, chunk: &[u8]) {
        if self.editing {
            self.wire.extend_from_slice(chunk);
        }
        for piece in pieces(chunk, self.split) {
            if self.dut.is_closed() {
                break;
            }
            if let Err(e) = self.dut.handle_input(Bytes::copy_from_slice(piece)) {
                self.fail(e);
            }
            self.drain_dut();
        }
        self.drain_dut();
    }

    fn drain_dut(&mut self) {
        while let Some(ev) = self.dut.poll_event() {
            match ev {
                Event::HandshakeComplete(info) => {
                    assert!(!self.handshook, "two handshakes");
                    self.handshook = true;
                    assert_eq!(info.socket_type, self.expect_type);
                    assert_eq!(info.identity, self.expect_identity);
                    assert_eq!(info.mechanism, crate::greeting::MechanismName::CURVE);
                }
                Event::ZapRequest(req) => {
                    assert!(self.dut_is_server, "a CURVE client asked ZAP");
                    assert_eq!(&req.mechanism[..], b"CURVE");
                    assert_eq!(req.credentials.len(), 1);
                    assert_eq!(&req.credentials[0][..], &self.client_key[..]);
                    if let Err(e) = self.dut.zap_reply(ZapReply::accept(&req)) {
                        self.fail(e);
                    }
                }
                Event::Frame { body, more } => self.delivered(Delivery::Frame(body, more)),
                Event::Subscribe(t) => self.delivered(Delivery::Subscribe(t)),
                Event::Cancel(t) => self.delivered(Delivery::Cancel(t)),
                _ => {}
            }
        }
    }

    /// `d` must be the next honest delivery or a later one.
    fn delivered(&mut self, d: Delivery) {
        assert!(self.handshook, "{d:?} delivered before the handshake");
        let Some(i) = self.expected[self.matched..].iter().position(|e| *e == d) else {
            panic!(
                "delivered {d:?}, which the peer did not send (or not after {:?})",
                self.expected[..self.matched].last()
            );
        };
        self.matched += i + 1;
        self.n_delivered += 1;
    }

    fn check_end(&mut self) {
        if self.wire == self.honest && !self.retimed {
            assert!(
                self.dut_error.is_none(),
                "an untampered stream failed: {:?}",
                self.dut_error
            );
            assert!(self.handshook && self.script.is_empty());
            assert_eq!(
                (self.n_delivered, self.matched),
                (self.expected.len(), self.expected.len()),
                "an untampered stream lost deliveries"
            );
        }
        // Past every deadline: a handshake still waiting fails now, and so
        // does a silent peer's heartbeat.
        self.now += Duration::from_secs(5);
        self.tick_dut();
    }
}

/// `curve_server` target: the session under test is a CURVE server, the
/// honest peer a client (records: greeting, HELLO, INITIATE, then MESSAGEs).
pub fn curve_server(data: &[u8]) {
    if let Some(run) = CurveRun::new(data, Some(true), false) {
        run.run();
    }
}

/// `curve_client` target: the session under test is a CURVE client, the
/// honest peer a server (records: greeting, WELCOME, READY, then MESSAGEs).
pub fn curve_client(data: &[u8]) {
    if let Some(run) = CurveRun::new(data, Some(false), false) {
        run.run();
    }
}

/// `curve_message` target: an honest handshake first, then the edits apply
/// to the MESSAGE boxes only (record 0 is the first box after it), with
/// offsets naming a box's fields (`locate`). Byte 0's bit 5 makes the
/// session under test the client.
pub fn curve_message(data: &[u8]) {
    if let Some(run) = CurveRun::new(data, None, true) {
        run.run();
    }
}
