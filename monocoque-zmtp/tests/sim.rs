//! Deterministic simulation of the sans-IO layer: pairs of `Session`s over
//! a simulated network with a virtual clock, driven by a seed.
//!
//! The network delivers each direction's bytes in order (as TCP does), cut
//! at random points, after a random latency; it stalls a direction for a
//! while, the clock jumps, connections are dropped and made again (a new
//! session pair: a peer that restarts with the same identity), heartbeats
//! are on or off, and the mechanism is NULL, CURVE (with its ZAP request
//! answered) or the test-only sealed one, over ZMTP 3.1 or 3.0.
//!
//! After every step it checks:
//! - on a live connection, each end receives exactly the messages the other
//!   sent, in order, whole (nothing lost, duplicated or reordered; every
//!   frame of a multipart message), and when the run ends with the
//!   connection live, everything sent arrives once the network drains;
//! - a heartbeat declares a peer dead only after that peer's direction was
//!   silent (stalled, or the clock jumped) for at least the timeout, and a
//!   direction stalled for longer than timeout + interval + the worst
//!   latency is declared dead by the end it silences;
//! - a session's buffered input stays within what is in flight (no growth
//!   by a peer's word).
//!
//! A failing seed prints itself; `SIM_SEED=n` replays exactly that seed,
//! `SIM_SEEDS=n` runs n seeds from `SIM_FIRST` (default 0), for long runs
//! (`scripts/sim.sh`); `SIM_TRACE=1` adds every delivery and timer to the
//! failure's log.

#![allow(clippy::unwrap_used)]

use std::collections::VecDeque;
use std::time::{Duration, Instant};

use bytes::Bytes;
use monocoque_zmtp::{
    curve_keypair, Event, HeartbeatConfig, MechanismConfig, ProtocolError, Session, SessionConfig,
    SocketType, ZapReply,
};

/// splitmix64: small, seedable, and the same everywhere.
struct Rng(u64);

impl Rng {
    fn next(&mut self) -> u64 {
        self.0 = self.0.wrapping_add(0x9e37_79b9_7f4a_7c15);
        let mut z = self.0;
        z = (z ^ (z >> 30)).wrapping_mul(0xbf58_476d_1ce4_e5b9);
        z = (z ^ (z >> 27)).wrapping_mul(0x94d0_49bb_1331_11eb);
        z ^ (z >> 31)
    }
    fn below(&mut self, n: u64) -> u64 {
        self.next() % n.max(1)
    }
    fn chance(&mut self, percent: u64) -> bool {
        self.below(100) < percent
    }
    fn ms(&mut self, lo: u64, hi: u64) -> Duration {
        Duration::from_millis(lo + self.below(hi - lo + 1))
    }
}

/// One direction of the network: chunks in flight, each with when it
/// arrives (in order: a later chunk never overtakes an earlier one).
#[derive(Default)]
struct Wire {
    in_flight: VecDeque<(Instant, Bytes)>,
    stalled_until: Option<Instant>,
    /// When this direction last delivered something.
    last_delivery: Option<Instant>,
    /// Bytes put on it so far (where the greeting's version byte is).
    bytes: usize,
}

/// One end of a connection.
struct End {
    session: Session,
    /// Numbers of the messages it sent, and the next one to expect.
    sent: u64,
    expect: u64,
    /// Frames of the message being received.
    partial: Vec<Bytes>,
    /// Why its session failed, and when.
    dead: Option<(Instant, ProtocolError)>,
    ready: bool,
}

/// What the run is made of, chosen by the seed.
struct Setup {
    mechanism: u8,
    zmtp30: bool,
    heartbeat: Option<HeartbeatConfig>,
    max_latency: Duration,
}

struct Sim {
    rng: Rng,
    seed: u64,
    now: Instant,
    setup: Setup,
    ends: [End; 2],
    wires: [Wire; 2],
    /// Connections made so far.
    generation: u32,
    /// What the run did, for a failing seed's report.
    log: Vec<String>,
    /// When the clock last jumped (a session re-arms a deadline that saw
    /// traffic before the jump, so its bound counts from here).
    jumped: Option<Instant>,
    start: Instant,
}

const STEPS: usize = 1500;

fn session(setup: &Setup, client: bool, keys: &Keys, now: Instant) -> Session {
    let mut c = SessionConfig::new(if client {
        SocketType::Dealer
    } else {
        SocketType::Router
    });
    c.heartbeat = setup.heartbeat;
    c.handshake_timeout = Some(Duration::from_secs(30));
    c.mechanism = match (setup.mechanism, client) {
        (1, true) => MechanismConfig::CurveClient {
            public: keys.client.0,
            secret: keys.client.1.clone(),
            server_public: keys.server.0,
        },
        (1, false) => MechanismConfig::CurveServer {
            secret: keys.server.1.clone(),
        },
        (2, _) => MechanismConfig::TestSealed,
        _ => MechanismConfig::Null,
    };
    Session::new(c, now).unwrap()
}

struct Keys {
    client: (
        monocoque_zmtp::CurvePublicKey,
        monocoque_zmtp::CurveSecretKey,
    ),
    server: (
        monocoque_zmtp::CurvePublicKey,
        monocoque_zmtp::CurveSecretKey,
    ),
}

fn keys() -> &'static Keys {
    static KEYS: std::sync::OnceLock<Keys> = std::sync::OnceLock::new();
    KEYS.get_or_init(|| Keys {
        client: curve_keypair(),
        server: curve_keypair(),
    })
}

/// A numbered message: the number in the first frame, then 0-2 more frames
/// that name it too, of random sizes (rarely a large one).
fn message(rng: &mut Rng, n: u64) -> Vec<Bytes> {
    let frames = 1 + rng.below(3) as usize;
    (0..frames)
        .map(|i| {
            let size = if rng.chance(2) {
                70_000
            } else {
                rng.below(300) as usize
            };
            let mut b = n.to_be_bytes().to_vec();
            b.push(i as u8);
            b.push(frames as u8);
            b.resize(10 + size, (n as u8).wrapping_add(i as u8));
            Bytes::from(b)
        })
        .collect()
}

/// Whether `frames` is the message [`message`] made for `n`.
fn check_message(frames: &[Bytes], n: u64) -> Result<(), String> {
    for (i, f) in frames.iter().enumerate() {
        if f.len() < 10 {
            return Err(format!("frame {i} of message {n} is {} bytes", f.len()));
        }
        let got = u64::from_be_bytes(f[..8].try_into().unwrap());
        if got != n || usize::from(f[8]) != i || usize::from(f[9]) != frames.len() {
            return Err(format!(
                "expected message {n} frame {i}/{}, got message {got} frame {}/{}",
                frames.len(),
                f[8],
                f[9]
            ));
        }
        let fill = (n as u8).wrapping_add(i as u8);
        if f[10..].iter().any(|&b| b != fill) {
            return Err(format!("message {n} frame {i}: body damaged"));
        }
    }
    Ok(())
}

impl Sim {
    fn new(seed: u64) -> Sim {
        let mut rng = Rng(seed);
        let mechanism = match rng.below(8) {
            0 => 1, // CURVE: costly in a debug build, so rarer
            1 | 2 => 2,
            _ => 0,
        };
        let heartbeat = rng.chance(60).then(|| {
            let interval = rng.ms(50, 500);
            HeartbeatConfig {
                interval,
                ttl: rng.chance(50).then(|| rng.ms(500, 3000)),
                timeout: rng.chance(70).then(|| rng.ms(100, 1500)),
            }
        });
        let setup = Setup {
            mechanism,
            zmtp30: rng.chance(15),
            heartbeat,
            max_latency: rng.ms(0, 40),
        };
        let now = Instant::now();
        let k = keys();
        let mut sim = Sim {
            seed,
            now,
            ends: [
                End::new(session(&setup, true, k, now)),
                End::new(session(&setup, false, k, now)),
            ],
            setup,
            rng,
            wires: [Wire::default(), Wire::default()],
            generation: 1,
            log: Vec::new(),
            jumped: None,
            start: now,
        };
        sim.log(format!(
            "mechanism {} zmtp30 {} heartbeat {:?} max latency {:?}",
            sim.setup.mechanism, sim.setup.zmtp30, sim.setup.heartbeat, sim.setup.max_latency
        ));
        sim
    }

    fn log(&mut self, s: String) {
        self.log.push(s);
        if self.log.len() > 600 {
            self.log.remove(0);
        }
    }

    fn fail(&self, why: &str) -> ! {
        panic!(
            "simulation seed {} failed: {why}\nlast steps:\n  {}\nreplay: SIM_SEED={} cargo test -p monocoque-zmtp --test sim",
            self.seed,
            self.log.join("\n  "),
            self.seed
        );
    }

    /// A new connection: both sessions made again, the wires emptied.
    fn reconnect(&mut self) {
        self.generation += 1;
        self.log(format!("reconnect (generation {})", self.generation));
        let k = keys();
        self.ends = [
            End::new(session(&self.setup, true, k, self.now)),
            End::new(session(&self.setup, false, k, self.now)),
        ];
        self.wires = [Wire::default(), Wire::default()];
    }

    fn live(&self) -> bool {
        self.ends
            .iter()
            .all(|e| e.dead.is_none() && !e.session.is_closed())
    }

    /// Moves what each session wants to send onto its wire.
    fn transmit(&mut self) {
        for from in 0..2 {
            let mut out = Vec::new();
            if self.ends[from].session.poll_transmit(&mut out) {
                let mut bytes = out.concat();
                // ZMTP 3.0: rewrite the greeting's minor version (byte 11).
                if self.setup.zmtp30
                    && self.wires[from].bytes <= 11
                    && self.wires[from].bytes + bytes.len() > 11
                {
                    bytes[11 - self.wires[from].bytes] = 0;
                }
                self.put_on_wire(from, bytes);
            }
        }
    }

    /// Puts `bytes` on wire `from` after a random latency, never ahead of
    /// what is already on it.
    fn put_on_wire(&mut self, from: usize, bytes: Vec<u8>) {
        self.wires[from].bytes += bytes.len();
        let lat = self.rng.ms(0, self.setup.max_latency.as_millis() as u64);
        let at = self.wires[from]
            .in_flight
            .back()
            .map_or(self.now + lat, |&(t, _)| t.max(self.now + lat));
        self.wires[from]
            .in_flight
            .push_back((at, Bytes::from(bytes)));
    }

    /// Delivers what has arrived on each wire, cut at random points.
    fn deliver(&mut self) {
        for from in 0..2 {
            let to = 1 - from;
            if self.wires[from].stalled_until.is_some_and(|t| t > self.now) {
                continue;
            }
            while let Some(&(at, _)) = self.wires[from].in_flight.front() {
                if at > self.now || self.ends[to].dead.is_some() {
                    break;
                }
                let (_, mut chunk) = self.wires[from].in_flight.pop_front().unwrap();
                while !chunk.is_empty() {
                    let cut = 1 + self.rng.below(chunk.len() as u64) as usize;
                    let piece = chunk.split_to(cut.min(chunk.len()));
                    self.wires[from].last_delivery = Some(self.now);
                    if std::env::var("SIM_TRACE").is_ok() {
                        let t = self.now.duration_since(self.start);
                        self.log(format!("{t:?} wire {from} delivers {} bytes", piece.len()));
                    }
                    if let Err(e) = self.ends[to].session.handle_input(piece) {
                        self.fail(&format!("end {to} refused its peer's bytes: {e}"));
                    }
                    self.events(to);
                }
            }
        }
    }

    /// Takes end `to`'s events and checks what it received.
    fn events(&mut self, to: usize) {
        while let Some(ev) = self.ends[to].session.poll_event() {
            match ev {
                Event::HandshakeComplete(_) => self.ends[to].ready = true,
                Event::ZapRequest(req) => {
                    let reply = ZapReply::accept(&req);
                    if let Err(e) = self.ends[to].session.zap_reply(reply) {
                        self.fail(&format!("ZAP reply refused: {e}"));
                    }
                }
                Event::Frame { body, more } => {
                    let end = &mut self.ends[to];
                    end.partial.push(body);
                    if !more {
                        let frames = std::mem::take(&mut end.partial);
                        let n = end.expect;
                        if let Err(why) = check_message(&frames, n) {
                            self.fail(&format!("end {to}: {why}"));
                        }
                        self.ends[to].expect += 1;
                    }
                }
                Event::PeerError { reason } => self.fail(&format!(
                    "end {to} got ERROR {:?}",
                    String::from_utf8_lossy(&reason)
                )),
                _ => {}
            }
        }
    }

    /// Fires due timers; a heartbeat failure must be deserved.
    fn timers(&mut self) {
        for i in 0..2 {
            if self.ends[i].dead.is_some() {
                continue;
            }
            let due = self.ends[i]
                .session
                .poll_timeout()
                .is_some_and(|t| t <= self.now);
            if !due {
                continue;
            }
            if std::env::var("SIM_TRACE").is_ok() {
                let t = self.now.duration_since(self.start);
                self.log(format!("{t:?} end {i} tick"));
            }
            if let Err(e) = self.ends[i].session.handle_timeout(self.now) {
                // The direction that feeds end i was silent long enough.
                let from = 1 - i;
                let quiet_since = self.wires[from].last_delivery.unwrap_or(self.now);
                let quiet = self.now.saturating_duration_since(quiet_since);
                let least = self.least_timeout();
                if !matches!(e, ProtocolError::HeartbeatTimeout) {
                    self.fail(&format!("end {i} timed out: {e}"));
                }
                if std::env::var("SIM_TRACE").is_ok() {
                    let t = self.now.duration_since(self.start);
                    self.log(format!("{t:?} end {i} timed out: {e}"));
                }
                if quiet < least {
                    self.fail(&format!(
                        "end {i} declared its peer dead after {quiet:?} of silence (least timeout {least:?})"
                    ));
                }
                self.log(format!(
                    "end {i} declared its peer dead after {quiet:?} quiet"
                ));
                self.ends[i].dead = Some((self.now, e));
            }
        }
    }

    /// The shortest silence after which an end may give up on its peer.
    fn least_timeout(&self) -> Duration {
        let hb = self.setup.heartbeat.unwrap();
        let mut t = hb.timeout.unwrap_or(hb.interval);
        if let Some(ttl) = hb.ttl {
            // The peer's TTL applies at the other end; either may fire. It
            // travels in tenths of a second (RFC 37), truncated as libzmq
            // does: 594 ms is announced as 500 ms.
            let tenths = Duration::from_millis(ttl.as_millis() as u64 / 100 * 100);
            if !tenths.is_zero() {
                t = t.min(tenths);
            }
        }
        t
    }

    /// The longest a silenced end may go on believing its peer alive.
    fn most_timeout(&self) -> Duration {
        let hb = self.setup.heartbeat.unwrap();
        let t = hb.timeout.unwrap_or(hb.interval);
        t + hb.interval + self.setup.max_latency * 2 + Duration::from_millis(200)
    }

    /// A stalled direction whose receiver has a heartbeat must have been
    /// declared dead once the stall outlasts the bound.
    fn check_stalls(&self) {
        let Some(hb) = self.setup.heartbeat else {
            return;
        };
        if self.setup.zmtp30 {
            return; // ZMTP 3.0 has no PING
        }
        let _ = hb;
        for from in 0..2 {
            let to = 1 - from;
            let w = &self.wires[from];
            let Some(until) = w.stalled_until else {
                continue;
            };
            if until <= self.now || !self.ends[to].ready || self.ends[to].dead.is_some() {
                continue;
            }
            let since = w
                .last_delivery
                .unwrap_or(self.now)
                .max(self.jumped.unwrap_or(self.now - Duration::from_secs(3600)));
            if self.now.saturating_duration_since(since) > self.most_timeout() {
                self.fail(&format!(
                    "end {to} still believes its peer alive after {:?} of silence",
                    self.now.saturating_duration_since(since)
                ));
            }
        }
    }

    fn step(&mut self) {
        match self.rng.below(100) {
            // Send from either end (DEALER and ROUTER both may).
            0..=39 => {
                let from = self.rng.below(2) as usize;
                if self.ends[from].ready && self.live() {
                    let n = self.ends[from].sent;
                    let m = message(&mut self.rng, n);
                    let mut out = Vec::new();
                    match self.ends[from].session.send_message(m, &mut out) {
                        Ok(()) => {}
                        Err(e) => self.fail(&format!("end {from} could not send: {e}")),
                    }
                    // What send_message leaves in `out` goes out first.
                    if !out.is_empty() {
                        self.put_on_wire(from, out.concat());
                    }
                    self.ends[from].sent += 1;
                }
            }
            // Time passes.
            40..=84 => {
                let d = self.rng.ms(0, 60);
                self.now += d;
            }
            // A clock jump: both sides see time leap with nothing on the wire.
            85..=86 => {
                let d = self.rng.ms(500, 8000);
                self.log(format!("clock jumps {d:?}"));
                self.now += d;
                self.jumped = Some(self.now);
            }
            // A direction stalls for a while.
            87..=91 => {
                let dir = self.rng.below(2) as usize;
                let d = self.rng.ms(50, 4000);
                self.log(format!("wire {dir} stalls {d:?}"));
                self.wires[dir].stalled_until = Some(self.now + d);
            }
            // The connection drops; the peer comes back with the same identity.
            92..=93 => self.reconnect(),
            _ => {}
        }
        self.deliver();
        self.timers();
        self.transmit();
        self.check_stalls();
        if !self.live() && self.rng.chance(30) {
            self.reconnect();
        }
    }

    /// Ends the run: no more faults; everything in flight arrives, and on
    /// a live connection everything sent was received.
    fn drain(&mut self) {
        for w in &mut self.wires {
            w.stalled_until = None;
        }
        for _ in 0..200 {
            self.now += Duration::from_millis(10);
            self.deliver();
            self.timers();
            self.transmit();
        }
        if self.live() && self.ends.iter().all(|e| e.ready) {
            for to in 0..2 {
                let sent = self.ends[1 - to].sent;
                if self.ends[to].expect != sent {
                    self.fail(&format!(
                        "end {to} received {} of the {sent} messages sent on a live connection",
                        self.ends[to].expect
                    ));
                }
            }
        }
    }
}

impl End {
    fn new(session: Session) -> End {
        End {
            session,
            sent: 0,
            expect: 0,
            partial: Vec::new(),
            dead: None,
            ready: false,
        }
    }
}

fn run(seed: u64) {
    let t = Instant::now();
    let mut sim = Sim::new(seed);
    let mech = sim.setup.mechanism;
    sim.transmit();
    for _ in 0..STEPS {
        sim.step();
    }
    sim.drain();
    if std::env::var("SIM_TIME").is_ok() {
        eprintln!("seed {seed} mechanism {mech}: {:?}", t.elapsed());
    }
}

#[test]
fn seeds() {
    if let Ok(s) = std::env::var("SIM_SEED") {
        run(s.parse().unwrap());
        return;
    }
    let first: u64 = std::env::var("SIM_FIRST")
        .ok()
        .and_then(|s| s.parse().ok())
        .unwrap_or(0);
    let count: u64 = std::env::var("SIM_SEEDS")
        .ok()
        .and_then(|s| s.parse().ok())
        .unwrap_or(300);
    for seed in first..first + count {
        run(seed);
    }
}
