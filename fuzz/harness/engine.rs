//! The `engine` fuzz target's harness: a whole `monocoque` socket, engine
//! and pattern included, against a hostile peer over a real ipc
//! connection. Shared by `fuzz_targets/engine.rs` (libFuzzer) and
//! `monocoque/tests/fuzz_engine_corpus.rs` (the corpus replayed on stable);
//! see `monocoque-zmtp/FUZZING.md`.
//!
//! Input: byte 0 the socket under test and its options, byte 1 how the
//! peer writes, the rest the peer's bytes.
//!
//! - byte 0, bits 0-3: the type (index into `SocketType::ALL`, modulo 12); bit 4:
//!   `MAXMSGSIZE` 1 KiB; bit 5: heartbeats (10 ms, timeout 5 s); bit 6:
//!   `RCVHWM` and `SNDHWM` 4; bit 7: the type's own option (see
//!   [`configure`]).
//! - byte 1, bits 0-5: the size of each write (0: one write); bit 6: a
//!   valid NULL greeting and READY of a compatible type go first, in a
//!   write of their own (none for STREAM), so the input starts in the data
//!   phase; bit 7: the peer
//!   closes abruptly after its last write, without reading what is left
//!   (otherwise it half-closes and reads until the socket ends the
//!   connection).
//!
//! One socket is made for each input (its options come from the input),
//! in one `Context` shared by all inputs. A well-behaved peer (a
//! `monocoque` socket of a compatible type, a raw connection for STREAM)
//! connects first (PAIR: after the hostile one has gone, a PAIR takes one
//! peer), and the harness plays the socket's user meanwhile: it receives
//! everything, answers what a REP, ROUTER, DEALER, PAIR, STREAM, XPUB or
//! XSUB received, and sends now and then from PUB, PUSH and REQ. Checks:
//!
//! - no panic, and every wait is bounded ([`LIMIT`]): the socket keeps
//!   reading the peer while its user receives, and after the peer's last
//!   write the connection ends (the monitor's `DISCONNECTED` for its
//!   descriptor);
//! - it ends for a reason that is the peer's, a timeout, or a refusal,
//!   never `EndReason::Local` (our own misuse of the session);
//! - the well-behaved peer keeps its connection throughout;
//! - afterwards the socket counts only the well-behaved peer, and a
//!   message from it arrives (and for REP, ROUTER, DEALER, PAIR, STREAM
//!   the answer gets back to it); a PUB, XPUB, PUSH or REQ gets a message
//!   to it (REQ: and its reply back);
//! - no descriptor leaks from one input to the next ([`MAX_FDS`]).

use std::io::{ErrorKind, Read, Write};
use std::net::Shutdown;
use std::os::fd::RawFd;
use std::os::unix::net::UnixStream;
use std::sync::OnceLock;
use std::time::{Duration, Instant};

use monocoque::{
    Context, EndReason, Error, Message, Monitor, MonitorEvent, RouterNotify, Socket, SocketType,
};
use rustix::net::{send, SendFlags};

/// How long any one wait may take before the harness calls it a hang.
pub(crate) const LIMIT: Duration = Duration::from_secs(10);

/// At most this many messages the harness sends on its own initiative
/// (PUB, PUSH, REQ) per input.
const OWN_SENDS: u32 = 16;

/// More descriptors than this open when an input starts means earlier
/// inputs leaked some (each input closes all it opened; about 20 are open
/// between inputs).
const MAX_FDS: usize = 256;

/// What the input asks for.
#[derive(Clone, Copy, Debug)]
struct Config {
    ty: SocketType,
    small_limit: bool,
    heartbeats: bool,
    small_hwm: bool,
    extra: bool,
    piece: usize,
    prefix: bool,
    abrupt: bool,
}

impl Config {
    fn new(b0: u8, b1: u8) -> Config {
        Config {
            ty: SocketType::ALL[usize::from(b0 & 0x0f) % SocketType::ALL.len()],
            small_limit: b0 & 0x10 != 0,
            heartbeats: b0 & 0x20 != 0,
            small_hwm: b0 & 0x40 != 0,
            extra: b0 & 0x80 != 0,
            piece: usize::from(b1 & 0x3f),
            prefix: b1 & 0x40 != 0,
            abrupt: b1 & 0x80 != 0,
        }
    }
}

fn context() -> &'static Context {
    static CTX: OnceLock<Context> = OnceLock::new();
    CTX.get_or_init(Context::new)
}

/// Whether the user of this type receives (PUB and PUSH do not).
fn receives(ty: SocketType) -> bool {
    !matches!(ty, SocketType::Pub | SocketType::Push)
}

/// The options of the socket under test.
fn configure(cfg: &Config) -> impl FnOnce(&mut monocoque::SocketOptions) {
    let cfg = *cfg;
    move |o| {
        o.linger = Some(Duration::ZERO);
        o.rcvtimeo = Some(LIMIT);
        o.sndtimeo = Some(LIMIT);
        if cfg.small_limit {
            o.maxmsgsize = Some(1024);
        }
        if cfg.heartbeats {
            // PINGs go out all through an input; the timeout is long
            // enough that a loaded machine never fails the well-behaved
            // peer (and an input never lasts that long).
            o.heartbeat_ivl = Some(Duration::from_millis(10));
            o.heartbeat_timeout = Some(Duration::from_secs(5));
        }
        if !receives(cfg.ty) {
            // Nobody reads a PUB's or PUSH's inbound queue, so a peer that
            // sends more than RCVHWM messages upstream is never read again
            // and its connection never sees the end (docs/BOUNDS.md row
            // 11, a known, proposed change). Unlimited here, so each input
            // ends; the socket (and what it queued) goes with the input.
            o.rcvhwm = 0;
        } else if cfg.small_hwm {
            o.rcvhwm = 4;
            o.sndhwm = 4;
        }
        match cfg.ty {
            SocketType::Req => {
                // Relaxed, so a request the hostile peer never answers does
                // not wedge it; correlated, unless the harness sends no
                // requests of its own (the extra bit), so a late reply to
                // one is never taken for the answer to the next.
                o.req_relaxed = true;
                o.req_correlate = !cfg.extra;
            }
            SocketType::Router if cfg.extra => {
                o.router_mandatory = true;
                o.router_notify = RouterNotify::from_bits(3).unwrap_or(RouterNotify::NONE);
            }
            SocketType::Xpub => o.xpub_verbose = cfg.extra,
            SocketType::Sub => o.invert_matching = cfg.extra,
            SocketType::Pull | SocketType::Dealer => o.conflate = cfg.extra,
            SocketType::Stream => o.stream_notify = !cfg.extra,
            SocketType::Pub | SocketType::Push | SocketType::Pair if cfg.extra => {
                o.immediate = true;
            }
            _ => {}
        }
    }
}

/// The type the valid prefix announces, and the well-behaved peer's type.
fn peer_type(ty: SocketType) -> SocketType {
    match ty {
        SocketType::Pair => SocketType::Pair,
        SocketType::Pub | SocketType::Xpub => SocketType::Sub,
        SocketType::Sub | SocketType::Xsub => SocketType::Pub,
        SocketType::Req => SocketType::Rep,
        SocketType::Rep => SocketType::Req,
        SocketType::Dealer | SocketType::Router => SocketType::Dealer,
        SocketType::Push => SocketType::Pull,
        SocketType::Pull => SocketType::Push,
        _ => SocketType::Stream,
    }
}

/// A NULL ZMTP 3.1 greeting and a READY announcing `ty` (what libzmq
/// sends, as in `fuzz/seeds.py`).
pub(crate) fn valid_prefix(ty: SocketType) -> Vec<u8> {
    let mut out = vec![0xff, 0, 0, 0, 0, 0, 0, 0, 1, 0x7f, 3, 1];
    out.extend(b"NULL");
    out.resize(64, 0);
    let name = ty.as_str().as_bytes();
    let mut body = vec![5];
    body.extend(b"READY");
    body.push(11);
    body.extend(b"Socket-Type");
    body.extend((name.len() as u32).to_be_bytes());
    body.extend(name);
    out.extend([0x04, body.len() as u8]);
    out.extend(body);
    out
}

/// The second, well-behaved peer.
enum Good {
    Sock(Socket),
    Raw(UnixStream),
}

/// Everything one input runs with.
struct Run {
    cfg: Config,
    s: Socket,
    mon: Monitor,
    path: String,
    good: Option<Good>,
    /// The descriptors the socket accepted, in order: the well-behaved
    /// peer's (when it connected first), then the hostile one's.
    accepted: Vec<RawFd>,
    /// The hostile connection's descriptor (in the socket) once known,
    /// and why it ended once it has.
    hostile_fd: Option<RawFd>,
    hostile_end: Option<EndReason>,
    /// A REP's answer not yet taken by the socket (its HWM was full).
    owed: Option<Message>,
    own_sends: u32,
    received: usize,
    /// Tokens made so far (they are numbered, so that an input replays
    /// the same bytes).
    tokens: u32,
}

/// What one input did, for the corpus replay to show.
#[derive(Debug)]
pub(crate) struct Outcome {
    /// The socket under test.
    pub(crate) ty: SocketType,
    /// Why the hostile connection ended.
    pub(crate) end: EndReason,
    /// Messages the socket's user received while it lived.
    pub(crate) received: usize,
}

/// Runs one input. Panics (a finding) if a check fails; `None` for an
/// input too short to say what to run.
pub(crate) fn run(data: &[u8]) -> Option<Outcome> {
    if data.len() < 2 {
        return None;
    }
    let fds = std::fs::read_dir("/proc/self/fd").map_or(0, Iterator::count);
    assert!(
        fds < MAX_FDS,
        "{fds} descriptors open before this input: earlier inputs leaked"
    );
    let cfg = Config::new(data[0], data[1]);
    let prefix = if cfg.prefix && cfg.ty != SocketType::Stream {
        valid_prefix(peer_type(cfg.ty))
    } else {
        Vec::new()
    };

    let s = context().socket(cfg.ty).expect("socket");
    s.update_options(configure(&cfg));
    if cfg.ty == SocketType::Sub {
        // Inverted, a subscription names what not to deliver.
        s.subscribe(if cfg.extra { "never" } else { "" })
            .expect("subscribe");
    }
    let mon = s.monitor();
    s.bind("ipc://*").expect("bind");
    let ep = s.last_endpoint().expect("endpoint");
    let path = ep
        .strip_prefix("ipc://")
        .expect("an ipc endpoint")
        .to_owned();
    if cfg.ty == SocketType::Xsub {
        s.send(&b"\x01"[..]).expect("xsub subscribe");
    }
    let mut run = Run {
        cfg,
        s,
        mon,
        path,
        good: None,
        accepted: Vec::new(),
        hostile_fd: None,
        hostile_end: None,
        owed: None,
        own_sends: 0,
        received: 0,
        tokens: 0,
    };
    if cfg.ty != SocketType::Pair {
        run.connect_good();
    }
    run.hostile(&prefix, &data[2..]);
    let end = run.hostile_end.clone().expect("the connection ended");
    if let EndReason::Local(e) = &end {
        panic!("{cfg:?}: the hostile connection ended by our own misuse: {e}");
    }
    let received = run.received;
    if cfg.ty == SocketType::Pair {
        run.connect_good();
    }
    run.check_good();
    // The well-behaved peer closes first, so it never tries to reconnect
    // to the endpoint that goes with the socket.
    drop(run.good.take());
    Some(Outcome {
        ty: cfg.ty,
        end,
        received,
    })
}

impl Run {
    /// A token this input has not used yet.
    fn token(&mut self, what: &str) -> Vec<u8> {
        self.tokens += 1;
        format!("{what}-{}", self.tokens).into_bytes()
    }

    /// Connects the well-behaved peer and waits until the socket has it
    /// (and, for the publish-subscribe types, its subscription).
    fn connect_good(&mut self) {
        let ty = self.cfg.ty;
        let ep = format!("ipc://{}", self.path);
        let good = if ty == SocketType::Stream {
            Good::Raw(UnixStream::connect(&self.path).expect("raw connect"))
        } else {
            let g = context().socket(peer_type(ty)).expect("peer socket");
            g.update_options(|o| {
                o.linger = Some(Duration::ZERO);
                o.rcvtimeo = Some(LIMIT);
                o.sndtimeo = Some(LIMIT);
                o.reconnect_ivl = Duration::from_millis(20);
                if ty == SocketType::Router {
                    o.routing_id = Some("good".into());
                }
                // Both ends of an inverted subscription invert.
                o.invert_matching = ty == SocketType::Sub && self.cfg.extra;
            });
            if peer_type(ty) == SocketType::Sub {
                g.subscribe("").expect("subscribe");
            }
            g.connect(&ep).expect("connect");
            Good::Sock(g)
        };
        self.good = Some(good);
        let deadline = Instant::now() + LIMIT;
        let want_accepted = self.accepted.len() + 1;
        loop {
            self.events();
            let attached = self.accepted.len() >= want_accepted && self.s.peer_count() == 1;
            let subscribed = match (ty, &self.good) {
                (SocketType::Pub | SocketType::Xpub, _) => self.s.subscription_count() >= 1,
                (SocketType::Sub | SocketType::Xsub, Some(Good::Sock(g))) => {
                    g.subscription_count() >= 1
                }
                _ => true,
            };
            if attached && subscribed {
                break;
            }
            assert!(
                Instant::now() < deadline,
                "{:?}: the well-behaved peer never attached",
                self.cfg
            );
            std::thread::sleep(Duration::from_micros(200));
        }
        // An XPUB's notice of that subscription, a STREAM's or ROUTER's
        // of the connection.
        self.serve();
    }

    /// Reads the monitor (see [`Self::handle`]).
    fn events(&mut self) {
        while let Some(ev) = self.mon.try_recv() {
            self.handle(ev);
        }
    }

    /// Notes an accepted descriptor, or how the hostile connection ended.
    /// The well-behaved peer's connection must not end, nor any other.
    fn handle(&mut self, ev: MonitorEvent) {
        match ev {
            MonitorEvent::Accepted { fd: Some(fd), .. } => {
                self.accepted.push(fd);
                if self.hostile_fd.is_none() {
                    let at = usize::from(self.cfg.ty != SocketType::Pair);
                    self.hostile_fd = self.accepted.get(at).copied();
                }
            }
            MonitorEvent::Disconnected { fd, reason, .. } => {
                assert!(
                    fd.is_some() && fd != self.good_fd(),
                    "{:?}: the well-behaved peer's connection ended: {reason}",
                    self.cfg
                );
                assert!(
                    fd == self.hostile_fd && self.hostile_end.is_none(),
                    "{:?}: an unknown connection ended ({fd:?}, the hostile one is {:?}): {reason}",
                    self.cfg,
                    self.hostile_fd
                );
                self.hostile_end = Some(reason);
            }
            _ => {}
        }
    }

    /// The well-behaved peer's descriptor in the socket.
    fn good_fd(&self) -> Option<RawFd> {
        if self.cfg.ty == SocketType::Pair {
            // Connected after the hostile one ended: none to guard yet.
            return None;
        }
        self.accepted.first().copied()
    }

    /// The hostile peer: connects, writes `prefix` (if any) on its own,
    /// then `bytes` in the pieces the input asks for, serving the socket's
    /// user between writes, then closes and waits until the connection has
    /// ended.
    fn hostile(&mut self, prefix: &[u8], bytes: &[u8]) {
        let mut conn = UnixStream::connect(&self.path).expect("hostile connect");
        conn.set_nonblocking(true).expect("nonblocking");
        let piece = if self.cfg.piece == 0 {
            bytes.len().max(1)
        } else {
            self.cfg.piece
        };
        let mut closed = false;
        let first = Some(prefix).filter(|p| !p.is_empty());
        'write: for chunk in first.into_iter().chain(bytes.chunks(piece)) {
            let mut at = 0;
            let deadline = Instant::now() + LIMIT;
            while at < chunk.len() {
                match send(
                    &conn,
                    &chunk[at..],
                    SendFlags::NOSIGNAL | SendFlags::DONTWAIT,
                ) {
                    Ok(n) => at += n,
                    Err(e) if e == rustix::io::Errno::AGAIN || e == rustix::io::Errno::INTR => {
                        assert!(
                            Instant::now() < deadline,
                            "{:?}: the socket stopped reading the peer",
                            self.cfg
                        );
                        self.step(&mut conn, &mut closed);
                        std::thread::yield_now();
                    }
                    // The socket ended the connection.
                    Err(_) => break 'write,
                }
            }
            self.step(&mut conn, &mut closed);
            if closed {
                break;
            }
            std::thread::yield_now();
        }
        if self.cfg.abrupt {
            drop(conn);
            let deadline = Instant::now() + LIMIT;
            while self.hostile_end.is_none() {
                assert!(
                    Instant::now() < deadline,
                    "{:?}: the connection did not end after the peer closed",
                    self.cfg
                );
                self.serve();
                self.events();
                if self.hostile_end.is_none() {
                    if let Some(ev) = self.mon.recv_timeout(Duration::from_millis(1)) {
                        self.handle(ev);
                    }
                }
            }
            return;
        }
        let _ = conn.shutdown(Shutdown::Write);
        let deadline = Instant::now() + LIMIT;
        while !closed || self.hostile_end.is_none() {
            assert!(
                Instant::now() < deadline,
                "{:?}: the connection did not end after the peer's last byte (closed by the socket: {closed}, monitor: {:?})",
                self.cfg,
                self.hostile_end
            );
            self.step(&mut conn, &mut closed);
            if !closed || self.hostile_end.is_none() {
                if let Some(ev) = self.mon.recv_timeout(Duration::from_millis(1)) {
                    self.handle(ev);
                }
            }
        }
    }

    /// One round between writes: read what the socket sent the hostile
    /// peer, play the socket's user, read the monitor.
    fn step(&mut self, conn: &mut UnixStream, closed: &mut bool) {
        let mut buf = [0u8; 4096];
        while !*closed {
            match conn.read(&mut buf) {
                Ok(0) => *closed = true,
                Ok(_) => {}
                Err(e) if e.kind() == ErrorKind::WouldBlock => break,
                Err(e) if e.kind() == ErrorKind::Interrupted => {}
                Err(_) => *closed = true,
            }
        }
        self.serve();
        self.events();
    }

    /// Plays the user of the socket under test (and of the well-behaved
    /// peer): receives what is waiting and answers it; PUB, PUSH and REQ
    /// also send on their own, a few times an input.
    fn serve(&mut self) {
        let ty = self.cfg.ty;
        if let Some(m) = self.owed.take() {
            if let Err(u) = self.s.try_send_or_return(m) {
                if matches!(u.error, Error::WouldBlock) {
                    self.owed = Some(u.message);
                }
            }
        }
        if receives(ty) && self.owed.is_none() {
            for _ in 0..64 {
                match self.s.try_recv() {
                    Ok(m) => {
                        self.received += 1;
                        self.answer(m);
                    }
                    Err(_) => break,
                }
                if self.owed.is_some() {
                    break;
                }
            }
        }
        let ticks = match ty {
            SocketType::Pub | SocketType::Push => true,
            SocketType::Req => !self.cfg.extra,
            _ => false,
        };
        if ticks && self.own_sends < OWN_SENDS {
            self.own_sends += 1;
            let tick = self.token("tick");
            let _ = self.s.try_send(tick);
        }
        self.serve_good();
    }

    /// What the socket's user does with `m`.
    fn answer(&mut self, m: Message) {
        match self.cfg.ty {
            SocketType::Rep => {
                if let Err(u) = self.s.try_send_or_return(m) {
                    if matches!(u.error, Error::WouldBlock) {
                        self.owed = Some(u.message);
                    }
                }
            }
            // An empty frame is a connect or disconnect notice, and sending
            // one would close the connection: a STREAM answers data only.
            SocketType::Stream if m.len() == 2 && !m.frames()[1].is_empty() => {
                let _ = self.s.try_send(m);
            }
            // What an XSUB sends upstream starting with 0 is a cancel:
            // echoing a lone 0 would cancel the harness's own subscription
            // to everything (the first finding, a harness bug).
            SocketType::Xsub if m.first().is_some_and(|f| f[..] == [0]) => {}
            SocketType::Router
            | SocketType::Dealer
            | SocketType::Pair
            | SocketType::Xpub
            | SocketType::Xsub => {
                let _ = self.s.try_send(m);
            }
            _ => {}
        }
    }

    /// The well-behaved peer's user: drains what it was sent; a REP
    /// answers (the socket under test is a REQ).
    fn serve_good(&mut self) {
        match &mut self.good {
            Some(Good::Sock(g)) => {
                if g.socket_type() == SocketType::Req || g.socket_type() == SocketType::Push {
                    return;
                }
                for _ in 0..64 {
                    match g.try_recv() {
                        Ok(m) => {
                            if g.socket_type() == SocketType::Rep {
                                let _ = g.try_send(m);
                            }
                        }
                        Err(_) => break,
                    }
                }
            }
            Some(Good::Raw(c)) => {
                c.set_nonblocking(true).expect("nonblocking");
                let mut buf = [0u8; 4096];
                while let Ok(n) = c.read(&mut buf) {
                    if n == 0 {
                        break;
                    }
                }
                c.set_nonblocking(false).expect("blocking");
            }
            None => {}
        }
    }

    /// After the hostile connection: the socket counts only the
    /// well-behaved peer and still carries its messages both ways.
    fn check_good(&mut self) {
        let cfg = self.cfg;
        assert_eq!(
            self.s.peer_count(),
            1,
            "{cfg:?}: the socket still counts the hostile peer"
        );
        let tok = self.token("good");
        let good = self.good.take().expect("a well-behaved peer");
        match &good {
            Good::Sock(g) => match cfg.ty {
                SocketType::Pub | SocketType::Xpub => {
                    // A publisher drops what finds its subscriber's queue
                    // full (SNDHWM 4, after the harness's echoes): send
                    // again until one gets through.
                    let deadline = Instant::now() + LIMIT;
                    'publish: loop {
                        assert!(
                            Instant::now() < deadline,
                            "{cfg:?}: the good peer never received a publication"
                        );
                        self.s
                            .send(tok.clone())
                            .unwrap_or_else(|e| panic!("{cfg:?}: publish: {e}"));
                        while let Ok(m) = g.recv_timeout(Duration::from_millis(5)) {
                            if m.last().map(|f| &f[..]) == Some(&tok[..]) {
                                break 'publish;
                            }
                        }
                    }
                }
                SocketType::Push => {
                    self.s
                        .send(tok.clone())
                        .unwrap_or_else(|e| panic!("{cfg:?}: send to the good peer: {e}"));
                    recv_until(g, &tok, cfg, "the good peer");
                }
                SocketType::Req => {
                    // A reply to an earlier request may come first (a REQ
                    // without REQ_CORRELATE takes it): ask again.
                    let deadline = Instant::now() + LIMIT;
                    'ask: loop {
                        let tok = self.token("good");
                        self.s
                            .send(tok.clone())
                            .unwrap_or_else(|e| panic!("{cfg:?}: request: {e}"));
                        loop {
                            assert!(
                                Instant::now() < deadline,
                                "{cfg:?}: the REQ under test never got its answer"
                            );
                            if let Ok(m) = g.recv_timeout(Duration::from_millis(1)) {
                                g.send(m).unwrap_or_else(|e| panic!("{cfg:?}: reply: {e}"));
                            }
                            match self.s.recv_timeout(Duration::from_millis(1)) {
                                Ok(m) if m.last().map(|f| &f[..]) == Some(&tok[..]) => break 'ask,
                                Ok(_) => break,
                                Err(_) => {}
                            }
                        }
                    }
                }
                _ => {
                    g.send(tok.clone())
                        .unwrap_or_else(|e| panic!("{cfg:?}: send from the good peer: {e}"));
                    let m = self.recv_tok(&tok);
                    if matches!(
                        cfg.ty,
                        SocketType::Rep
                            | SocketType::Router
                            | SocketType::Dealer
                            | SocketType::Pair
                    ) {
                        self.s
                            .send(m)
                            .unwrap_or_else(|e| panic!("{cfg:?}: answer: {e}"));
                        recv_until(g, &tok, cfg, "the good peer");
                    }
                }
            },
            Good::Raw(c) => {
                let mut c: &UnixStream = c;
                c.write_all(&tok)
                    .unwrap_or_else(|e| panic!("{cfg:?}: raw write: {e}"));
                let m = self.recv_tok(&tok);
                self.s
                    .send(m)
                    .unwrap_or_else(|e| panic!("{cfg:?}: stream send: {e}"));
                c.set_read_timeout(Some(LIMIT)).expect("timeout");
                let mut got = vec![0u8; tok.len()];
                c.read_exact(&mut got)
                    .unwrap_or_else(|e| panic!("{cfg:?}: the STREAM's answer: {e}"));
                assert_eq!(got, tok, "{cfg:?}: the STREAM's answer");
            }
        }
        self.good = Some(good);
    }

    /// Receives on the socket under test until the message whose last
    /// frame is `tok`, answering the others as [`Self::serve`] does.
    fn recv_tok(&mut self, tok: &[u8]) -> Message {
        let deadline = Instant::now() + LIMIT;
        loop {
            assert!(
                Instant::now() < deadline,
                "{:?}: the good peer's message never arrived",
                self.cfg
            );
            match self.s.recv_timeout(Duration::from_millis(5)) {
                Ok(m) if m.last().map(|f| &f[..]) == Some(tok) => return m,
                Ok(m) => self.answer(m),
                Err(_) => {}
            }
            self.serve_owed();
        }
    }

    /// A REP's owed answer, retried.
    fn serve_owed(&mut self) {
        if let Some(m) = self.owed.take() {
            if let Err(u) = self.s.try_send_or_return(m) {
                if matches!(u.error, Error::WouldBlock) {
                    self.owed = Some(u.message);
                }
            }
        }
    }
}

/// Receives on `s` until a message whose last frame is `tok`.
fn recv_until(s: &Socket, tok: &[u8], cfg: Config, who: &str) {
    let deadline = Instant::now() + LIMIT;
    loop {
        assert!(
            Instant::now() < deadline,
            "{cfg:?}: {who} never received the check's message"
        );
        if let Ok(m) = s.recv_timeout(Duration::from_millis(5)) {
            if m.last().map(|f| &f[..]) == Some(tok) {
                return;
            }
        }
    }
}
