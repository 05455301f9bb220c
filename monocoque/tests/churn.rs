//! Churn (issue 15): connections that connect, handshake, send and vanish,
//! against a socket of each of the twelve types bound by Monocoque over
//! tcp, while one long-lived peer keeps exchanging sequence-numbered
//! messages with it. Afterwards the process holds the descriptors it held
//! before, exactly, and about the memory it held before.
//!
//! The churners are raw TCP clients that speak ZMTP by hand (a NULL
//! greeting and READY of a compatible type, then a message), four ways in
//! turn: closed cleanly after reading what they expect back (an echo, a
//! reply) and the server's close; reset (`SO_LINGER` 0) in the middle of
//! a frame after the handshake; closed cleanly without waiting for
//! anything but the close; and reset at once, before the handshake is
//! known to be done. The long-lived peer is a Monocoque socket (a raw TCP
//! client for STREAM) in a context of its own: what a blocking pattern
//! accepted from it or for it must arrive, in order, once; where the
//! pattern load-balances across the churners (PUSH, REQ), what reaches it
//! must be in order and once, and once the churners are gone, all of it.
//!
//! Descriptors are counted in `/proc/self/fd` and memory read from
//! `/proc/self/status` (`VmRSS`, `VmSize`), so each test runs alone in a
//! process of its own ([`isolated`]) with glibc's allocator made
//! predictable. The baseline is taken after a warm-up round of churn, with
//! the long-lived peer connected and exchanging: what a table keeps once
//! grown (capacity) is in the baseline; what each connection leaves is not.
//!
//! Numbers: every type 2 rounds of 1,000 churners, [`AT_ONCE`] at a
//! time, after 100 of warm-up: 25,200 connections in all, and 500 more
//! in the ROUTER's crowds. The ROUTER's
//! test (row 24 of `docs/BOUNDS.md`, its routing table) adds a crowd of
//! 250 peers connected at once before the warm-up and again after the
//! rounds, both with the same 250 routing ids: the second finds every one
//! of them free. About 2 s a type in a debug build, 25 s in all.
#![allow(clippy::unwrap_used)]

mod common;
#[path = "common/proc.rs"]
mod proc_status;

use std::io::{ErrorKind, Read, Write};
use std::net::{Shutdown, SocketAddr, TcpStream};
use std::sync::atomic::{AtomicBool, AtomicU64, AtomicUsize, Ordering};
use std::sync::Arc;
use std::time::{Duration, Instant};

use bytes::Bytes;
use common::{bind, sock, Tr, T};
use monocoque::{Context, EndReason, Error, Message, MonitorEvent, Socket, SocketType};
use proc_status::{fds, heap_and_pages, isolated, settle, Mem};

/// Connections of the warm-up round, before the baseline.
const WARM_UP: usize = 100;
/// Churners at a time.
const AT_ONCE: usize = 4;
/// How long the churners' traces may take to go (peers detached,
/// descriptors closed).
const QUIET: Duration = Duration::from_secs(15);
/// Memory the churn may leave behind, in KiB, against the baseline.
/// Resident: what an allocator keeps of a peak (glibc's free lists, a
/// table's capacity). Reserved: the I/O thread's arena keeps up to 16 idle
/// pages of 256 KiB (4 MiB) by design, and a few more wait in its
/// graveyard (row 27 of `docs/BOUNDS.md`). A peer entry kept after its
/// connection ended costs 2 KiB resident (a PULL's) to 40 KiB (a
/// STREAM's): 2,000 of them exceed the resident bound (seen failing).
/// Up to 1.5 MiB was seen left on a machine loaded by other builds, where
/// allocator caches grow with the threads' contention; 2 MiB keeps half
/// of the smallest leak's 4 MiB as margin.
const RSS_SLACK_KIB: i64 = 2048;
/// See [`RSS_SLACK_KIB`].
const VM_SLACK_KIB: i64 = 6 * 1024;
/// What the second round of 1,000 may add to the first's (0.5 KiB a
/// connection resident).
const RSS_ROUND_KIB: i64 = 512;

// ---- the twelve cases ----

/// A socket type bound by Monocoque, with what its churners and its
/// long-lived peer are.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
enum Case {
    Pair,
    Pub,
    Sub,
    Req,
    Rep,
    Dealer,
    Router,
    Pull,
    Push,
    Xpub,
    Xsub,
    Stream,
}

impl Case {
    /// The bound socket's type.
    fn ty(self) -> SocketType {
        match self {
            Case::Pair => SocketType::Pair,
            Case::Pub => SocketType::Pub,
            Case::Sub => SocketType::Sub,
            Case::Req => SocketType::Req,
            Case::Rep => SocketType::Rep,
            Case::Dealer => SocketType::Dealer,
            Case::Router => SocketType::Router,
            Case::Pull => SocketType::Pull,
            Case::Push => SocketType::Push,
            Case::Xpub => SocketType::Xpub,
            Case::Xsub => SocketType::Xsub,
            Case::Stream => SocketType::Stream,
        }
    }

    /// The type the churners and the long-lived peer announce.
    fn peer(self) -> SocketType {
        match self {
            Case::Pair => SocketType::Pair,
            Case::Pub | Case::Xpub => SocketType::Sub,
            Case::Sub | Case::Xsub => SocketType::Pub,
            Case::Req => SocketType::Rep,
            Case::Rep => SocketType::Req,
            Case::Dealer | Case::Router => SocketType::Dealer,
            Case::Pull => SocketType::Push,
            Case::Push => SocketType::Pull,
            Case::Stream => SocketType::Stream,
        }
    }

    /// Whether the bound socket receives what churners send (so the
    /// clean ones' messages must all arrive).
    fn takes_churn(self) -> bool {
        matches!(
            self,
            Case::Sub
                | Case::Rep
                | Case::Dealer
                | Case::Router
                | Case::Pull
                | Case::Xsub
                | Case::Stream
        )
    }
}

// ---- ZMTP written by hand ----

fn frame(flags: u8, body: &[u8]) -> Vec<u8> {
    assert!(body.len() < 256);
    let mut f = vec![flags, body.len() as u8];
    f.extend(body);
    f
}

fn command(name: &[u8], data: &[u8]) -> Vec<u8> {
    let mut body = vec![name.len() as u8];
    body.extend(name);
    body.extend(data);
    frame(0x04, &body)
}

fn property(name: &[u8], value: &[u8]) -> Vec<u8> {
    let mut p = vec![name.len() as u8];
    p.extend(name);
    p.extend((value.len() as u32).to_be_bytes());
    p.extend(value);
    p
}

/// A ZMTP 3.1 NULL greeting and a READY of `ty` (with `identity`).
fn hello(ty: SocketType, identity: Option<&[u8]>) -> Vec<u8> {
    let mut g = vec![0xff, 0, 0, 0, 0, 0, 0, 0, 1, 0x7f, 3, 1];
    g.extend(b"NULL");
    g.resize(64, 0);
    let mut md = property(b"Socket-Type", ty.as_str().as_bytes());
    if let Some(id) = identity {
        md.extend(property(b"Identity", id));
    }
    g.extend(command(b"READY", &md));
    g
}

/// Reads one frame: (flags, body).
fn read_frame(c: &mut TcpStream) -> std::io::Result<(u8, Vec<u8>)> {
    let mut hdr = [0u8; 2];
    c.read_exact(&mut hdr)?;
    let len = if hdr[0] & 0x02 != 0 {
        let mut rest = [0u8; 7];
        c.read_exact(&mut rest)?;
        let mut be = [hdr[1], 0, 0, 0, 0, 0, 0, 0];
        be[1..].copy_from_slice(&rest);
        u64::from_be_bytes(be) as usize
    } else {
        usize::from(hdr[1])
    };
    let mut body = vec![0u8; len];
    c.read_exact(&mut body)?;
    Ok((hdr[0], body))
}

/// Reads the server's greeting and READY: the handshake is done on our
/// side.
fn read_hello(c: &mut TcpStream) -> std::io::Result<()> {
    let mut theirs = [0u8; 64];
    c.read_exact(&mut theirs)?;
    assert_eq!(theirs[0], 0xff, "not a ZMTP greeting");
    let (flags, ready) = read_frame(c)?;
    assert!(flags & 0x04 != 0 && ready.starts_with(b"\x05READY"));
    Ok(())
}

/// Reads one message's frames, skipping commands.
fn read_message(c: &mut TcpStream) -> std::io::Result<Vec<Vec<u8>>> {
    let mut frames = Vec::new();
    loop {
        let (flags, body) = read_frame(c)?;
        if flags & 0x04 != 0 {
            continue;
        }
        frames.push(body);
        if flags & 0x01 == 0 {
            return Ok(frames);
        }
    }
}

// ---- the churners ----

/// How a churner goes.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
enum Vanish {
    /// After what it expects back: shuts its side, reads to the server's
    /// close.
    Clean,
    /// After the handshake, in the middle of a frame: reset.
    ResetMidFrame,
    /// Shuts its side at once, reads to the server's close.
    CleanAtOnce,
    /// Reset as soon as its bytes are written.
    ResetAtOnce,
}

fn vanish(i: usize) -> Vanish {
    [
        Vanish::Clean,
        Vanish::ResetMidFrame,
        Vanish::CleanAtOnce,
        Vanish::ResetAtOnce,
    ][i % 4]
}

/// A ROUTER churner's routing id: a pool of 200, each reused every 400
/// connections (so a departed peer's entry must have gone).
fn churn_identity(case: Case, i: usize) -> Option<Vec<u8>> {
    (case == Case::Router && i % 4 < 2).then(|| format!("c{}", i % 400).into_bytes())
}

fn connect(addr: SocketAddr) -> TcpStream {
    let c = TcpStream::connect_timeout(&addr, T).unwrap();
    c.set_read_timeout(Some(T)).unwrap();
    c.set_write_timeout(Some(T)).unwrap();
    c.set_nodelay(true).unwrap();
    c
}

fn reset(c: TcpStream) {
    socket2::SockRef::from(&c)
        .set_linger(Some(Duration::ZERO))
        .unwrap();
    drop(c);
}

/// Shuts our side and reads until the server closes (EOF or reset): the
/// server must end a connection whose peer has gone.
fn close_cleanly(mut c: TcpStream, case: Case, i: usize) {
    let _ = c.shutdown(Shutdown::Write);
    let mut buf = [0u8; 4096];
    let deadline = Instant::now() + T;
    loop {
        assert!(
            Instant::now() < deadline,
            "{case:?} churner {i}: the server kept a half-closed connection open"
        );
        match c.read(&mut buf) {
            Ok(0) => return,
            Ok(_) => {}
            Err(e) if matches!(e.kind(), ErrorKind::WouldBlock | ErrorKind::TimedOut) => {}
            Err(_) => return,
        }
    }
}

/// One connection of the churn: connect, handshake, send, vanish.
fn churner(case: Case, addr: SocketAddr, i: usize) {
    let how = vanish(i);
    let body = format!("churn-{i}").into_bytes();
    let mut c = connect(addr);
    // A PAIR with its long-lived peer refuses every churner after the
    // handshake: writes and reads may meet the close.
    let refused = case == Case::Pair;
    let out = if case == Case::Stream {
        body.clone()
    } else {
        let id = churn_identity(case, i);
        let mut out = hello(case.peer(), id.as_deref());
        match case {
            Case::Pub => out.extend(command(b"SUBSCRIBE", b"")),
            Case::Xpub => out.extend(command(b"SUBSCRIBE", format!("t{i}").as_bytes())),
            Case::Push => {} // a PULL sends nothing
            Case::Rep | Case::Req => {
                // A request; to a REQ, a stray reply it must drop.
                out.extend(frame(0x01, b""));
                out.extend(frame(0, &body));
            }
            _ => out.extend(frame(0, &body)),
        }
        out
    };
    let wrote = c.write_all(&out);
    assert!(refused || wrote.is_ok(), "{case:?} churner {i}: {wrote:?}");
    if how == Vanish::ResetAtOnce {
        return reset(c);
    }
    if case != Case::Stream {
        let done = read_hello(&mut c);
        assert!(refused || done.is_ok(), "{case:?} churner {i}: {done:?}");
    }
    match how {
        Vanish::ResetMidFrame => {
            // A frame of 200 bytes, 10 of them sent.
            let mut part = vec![0u8, 200];
            part.extend([7u8; 10]);
            let _ = c.write_all(&part);
            reset(c);
        }
        Vanish::Clean => {
            let mut reply = || {
                read_message(&mut c)
                    .unwrap_or_else(|e| panic!("{case:?} churner {i}: no echo or reply ({e})"))
            };
            match case {
                Case::Router => assert_eq!(reply(), [body], "{case:?} churner {i}"),
                Case::Rep => assert_eq!(reply(), [vec![], body], "{case:?} churner {i}"),
                Case::Stream => {
                    let mut echo = vec![0u8; body.len()];
                    c.read_exact(&mut echo).unwrap();
                    assert_eq!(echo, body, "{case:?} churner {i}");
                }
                _ => {}
            }
            close_cleanly(c, case, i);
        }
        Vanish::CleanAtOnce => close_cleanly(c, case, i),
        Vanish::ResetAtOnce => unreachable!(),
    }
}

/// Connections `from..from + n`, [`AT_ONCE`] at a time.
fn churn(case: Case, addr: SocketAddr, from: usize, n: usize) {
    let next = AtomicUsize::new(from);
    std::thread::scope(|s| {
        for _ in 0..AT_ONCE {
            s.spawn(|| loop {
                let i = next.fetch_add(1, Ordering::Relaxed);
                if i >= from + n {
                    return;
                }
                churner(case, addr, i);
            });
        }
    });
}

/// ROUTER: peers of each round that are connected all at once.
const CROWD: usize = 250;

/// ROUTER: [`CROWD`] peers with the routing ids `k0` to `k249`, the same
/// every round, connected at once; each sends and reads its echo, then
/// they all vanish (every other one reset), the first first. The next
/// crowd's peers take the freed slots in another order, so a departed
/// peer's routing id left in the table would refuse its successor (the
/// one-at-a-time churn alone would not show it: a new peer in a slot
/// frees what a stale one left there).
fn crowd(addr: SocketAddr, round: usize) {
    let mut conns: Vec<(TcpStream, Vec<u8>)> = (0..CROWD)
        .map(|j| {
            let mut c = connect(addr);
            let body = format!("churn-crowd-{round}-{j}").into_bytes();
            let mut out = hello(SocketType::Dealer, Some(format!("k{j}").as_bytes()));
            out.extend(frame(0, &body));
            c.write_all(&out).unwrap();
            (c, body)
        })
        .collect();
    for (j, (c, body)) in conns.iter_mut().enumerate() {
        read_hello(c).unwrap_or_else(|e| panic!("crowd peer k{j} of round {round}: {e}"));
        let echo = read_message(c)
            .unwrap_or_else(|e| panic!("crowd peer k{j} of round {round}: no echo ({e})"));
        assert_eq!(
            echo,
            std::slice::from_ref(body),
            "crowd peer k{j} of round {round}"
        );
    }
    for (j, (c, _)) in conns.into_iter().enumerate() {
        if j % 2 == 0 {
            reset(c);
        } else {
            close_cleanly(c, Case::Router, j);
        }
    }
}

// ---- the long-lived exchange ----

/// Where the exchange stands, shared by the bound socket's thread, the
/// long-lived peer's and the test.
#[derive(Debug)]
struct Progress {
    /// Senders stop sending (and send their tail, if any).
    stop_sending: AtomicBool,
    /// Every thread returns.
    finish: AtomicBool,
    /// Sequence numbers sent, once the sender has stopped (else MAX).
    sent: AtomicU64,
    /// The next sequence number the checking side expects.
    got: AtomicU64,
    /// Churners' messages the bound socket received.
    churn_in: AtomicU64,
    /// XPUB: subscriptions and cancellations of churners' topics seen.
    topics_on: AtomicU64,
    topics_off: AtomicU64,
}

impl Progress {
    fn new() -> Progress {
        Progress {
            stop_sending: AtomicBool::new(false),
            finish: AtomicBool::new(false),
            sent: AtomicU64::new(u64::MAX),
            got: AtomicU64::new(0),
            churn_in: AtomicU64::new(0),
            topics_on: AtomicU64::new(0),
            topics_off: AtomicU64::new(0),
        }
    }

    fn sending(&self) -> bool {
        !self.stop_sending.load(Ordering::Acquire)
    }

    fn running(&self) -> bool {
        !self.finish.load(Ordering::Acquire)
    }

    fn done_sending(&self, n: u64) {
        self.sent.store(n, Ordering::Release);
    }

    /// A sequence number arrived where no loss is allowed: it must be the
    /// next one (`from_any`: the first may be any, as a subscriber that
    /// joined mid-stream sees).
    fn check_next(&self, who: &str, seq: u64, from_any: bool) {
        let want = self.got.load(Ordering::Relaxed);
        let first = from_any && want == 0;
        assert!(
            first || seq == want,
            "{who}: got {seq}, expected {want} (lost, reordered or repeated)"
        );
        self.got.store(seq + 1, Ordering::Release);
    }

    /// A sequence number arrived where the pattern spread the stream over
    /// other peers: it must be later than the last one.
    fn check_later(&self, who: &str, seq: u64) -> bool {
        let want = self.got.load(Ordering::Relaxed);
        assert!(
            seq >= want,
            "{who}: got {seq} after {} (reordered or repeated)",
            want - 1
        );
        self.got.store(seq + 1, Ordering::Release);
        seq == want
    }
}

fn seq_msg(n: u64) -> Message {
    Message::from(Bytes::copy_from_slice(&n.to_be_bytes()))
}

fn seq_of(frame: &[u8]) -> u64 {
    u64::from_be_bytes(frame.try_into().expect("an 8-byte sequence number"))
}

fn is_churn(frame: &[u8]) -> bool {
    frame.starts_with(b"churn")
}

/// A short pause between sends, so the exchange leaves the churn room.
fn pace() {
    std::thread::sleep(Duration::from_micros(300));
}

const POLL: Duration = Duration::from_millis(20);

/// Messages the PUSH and REQ send once the churners are gone, all of
/// which the long-lived peer must receive.
const TAIL: u64 = 100;

/// What the bound socket's application does.
fn serve(case: Case, s: &Socket, p: &Progress) {
    let who = format!("{case:?} (bound)");
    let (mut n, mut tail_sent) = (0u64, false);
    while p.running() {
        match case {
            Case::Router | Case::Pair | Case::Rep | Case::Stream => {
                let Ok(m) = s.recv_timeout(POLL) else {
                    continue;
                };
                let body = m.last().unwrap();
                if case == Case::Stream && body.is_empty() {
                    continue; // a connect or disconnect notice
                }
                if is_churn(body) {
                    p.churn_in.fetch_add(1, Ordering::Relaxed);
                }
                let reply = if case == Case::Rep {
                    Message::from(body.clone())
                } else {
                    m
                };
                // The peer may be gone: STREAM says so, the others drop.
                match s.send(reply) {
                    Ok(()) | Err(Error::HostUnreachable) => {}
                    Err(e) => panic!("{who}: {e}"),
                }
            }
            Case::Pull | Case::Dealer | Case::Sub | Case::Xsub => {
                let Ok(m) = s.recv_timeout(POLL) else {
                    continue;
                };
                if is_churn(&m[0]) {
                    p.churn_in.fetch_add(1, Ordering::Relaxed);
                } else {
                    let from_any = matches!(case, Case::Sub | Case::Xsub);
                    p.check_next(&who, seq_of(&m[0]), from_any);
                }
            }
            Case::Pub | Case::Xpub | Case::Push => {
                if case == Case::Xpub {
                    while let Ok(m) = s.try_recv() {
                        let f = &m[0];
                        match (f.first(), f.get(1)) {
                            (Some(1), Some(b't')) => p.topics_on.fetch_add(1, Ordering::Relaxed),
                            (Some(0), Some(b't')) => p.topics_off.fetch_add(1, Ordering::Relaxed),
                            _ => 0,
                        };
                    }
                }
                if p.sending() {
                    s.send(seq_msg(n)).unwrap();
                    n += 1;
                    pace();
                } else if !tail_sent {
                    if case == Case::Push {
                        for _ in 0..TAIL {
                            s.send(seq_msg(n)).unwrap();
                            n += 1;
                        }
                    }
                    p.done_sending(n);
                    tail_sent = true;
                } else {
                    std::thread::sleep(POLL);
                }
            }
            Case::Req => {
                if p.sending() {
                    // REQ_RELAXED: a request that went to a churner is
                    // given up after a while.
                    s.send(seq_msg(n)).unwrap();
                    if let Ok(r) = s.recv_timeout(POLL) {
                        assert_eq!(seq_of(&r[0]), n, "{who}: a reply to another request");
                    }
                    n += 1;
                } else if !tail_sent {
                    for _ in 0..TAIL {
                        s.send(seq_msg(n)).unwrap();
                        let r = s.recv().expect("the long-lived REP answers every request");
                        assert_eq!(seq_of(&r[0]), n, "{who}: a reply to another request");
                        n += 1;
                    }
                    p.done_sending(n);
                    tail_sent = true;
                } else {
                    std::thread::sleep(POLL);
                }
            }
        }
    }
}

/// What the long-lived peer does, from its own context.
fn long_lived(case: Case, ep: &str, p: &Progress) {
    let who = format!("{case:?} (long-lived {:?})", case.peer());
    if case == Case::Stream {
        return long_lived_raw(ep, p, &who);
    }
    let ctx = Context::new();
    let s = sock(&ctx, case.peer());
    s.update_options(|o| o.routing_id = Some(Bytes::from_static(b"long")));
    if matches!(case, Case::Pub | Case::Xpub) {
        s.subscribe("").unwrap();
    }
    s.connect(ep).unwrap();
    let mut n = 0u64;
    match case {
        // Echoed back: a window of messages in flight, each echo the next.
        Case::Router | Case::Pair => {
            while p.running() {
                if p.sending() && n - p.got.load(Ordering::Relaxed) < 8 {
                    s.send(seq_msg(n)).unwrap();
                    n += 1;
                    pace();
                } else if !p.sending() {
                    p.done_sending(n);
                }
                if let Ok(m) = s.recv_timeout(Duration::from_millis(1)) {
                    p.check_next(&who, seq_of(&m[0]), false);
                }
            }
        }
        Case::Rep => {
            while p.sending() {
                s.send(seq_msg(n)).unwrap();
                let r = s.recv().expect("the REP answers");
                p.check_next(&who, seq_of(&r[0]), false);
                n += 1;
                pace();
            }
            p.done_sending(n);
        }
        Case::Pull | Case::Dealer | Case::Sub | Case::Xsub => {
            while p.sending() {
                s.send(seq_msg(n)).unwrap();
                n += 1;
                pace();
            }
            p.done_sending(n);
            while p.running() {
                std::thread::sleep(POLL);
            }
        }
        Case::Pub | Case::Xpub => {
            while p.running() {
                if let Ok(m) = s.recv_timeout(POLL) {
                    p.check_next(&who, seq_of(&m[0]), true);
                }
            }
        }
        Case::Push => {
            // The tail arrives whole: the run of consecutive numbers at
            // the end is at least TAIL long.
            let mut run = 0u64;
            while p.running() {
                if let Ok(m) = s.recv_timeout(POLL) {
                    run = if p.check_later(&who, seq_of(&m[0])) {
                        run + 1
                    } else {
                        1
                    };
                }
            }
            assert!(
                run >= TAIL,
                "{who}: the last {TAIL} were not all received ({run})"
            );
        }
        Case::Req => {
            while p.running() {
                if let Ok(m) = s.recv_timeout(POLL) {
                    p.check_later(&who, seq_of(&m[0]));
                    s.send(m).unwrap();
                }
            }
        }
        Case::Stream => unreachable!(),
    }
}

/// STREAM's long-lived peer: a raw TCP client whose bytes (sequence
/// numbers) come back echoed, whole and in order.
fn long_lived_raw(ep: &str, p: &Progress, who: &str) {
    let mut c = connect(ep.strip_prefix("tcp://").unwrap().parse().unwrap());
    c.set_read_timeout(Some(Duration::from_millis(1))).unwrap();
    let (mut n, mut pending) = (0u64, Vec::new());
    let mut buf = [0u8; 4096];
    while p.running() {
        if p.sending() && n - p.got.load(Ordering::Relaxed) < 8 {
            c.write_all(&n.to_be_bytes()).unwrap();
            n += 1;
            pace();
        } else if !p.sending() {
            p.done_sending(n);
        }
        match c.read(&mut buf) {
            Ok(0) => panic!("{who}: the STREAM socket closed the long-lived connection"),
            Ok(k) => pending.extend(&buf[..k]),
            Err(e) if matches!(e.kind(), ErrorKind::WouldBlock | ErrorKind::TimedOut) => {}
            Err(e) => panic!("{who}: {e}"),
        }
        while pending.len() >= 8 {
            let rest = pending.split_off(8);
            p.check_next(who, seq_of(&pending), false);
            pending = rest;
        }
    }
}

// ---- the monitor ----

/// Connections seen by the bound socket's monitor.
#[derive(Debug, Default)]
struct Seen {
    accepted: AtomicUsize,
    /// Accepted, but the connection's options could not be set (a reset
    /// one, say): dropped at once, with no other event.
    accept_failed: AtomicUsize,
    attached: AtomicUsize,
    disconnected: AtomicUsize,
    rejected: AtomicUsize,
}

impl Seen {
    /// Accepted (or dropped at accept), attached, disconnected (or dropped
    /// at accept), refused.
    fn get(&self) -> (usize, usize, usize, usize) {
        let failed = self.accept_failed.load(Ordering::Acquire);
        (
            self.accepted.load(Ordering::Acquire) + failed,
            self.attached.load(Ordering::Acquire),
            self.disconnected.load(Ordering::Acquire) + failed,
            self.rejected.load(Ordering::Acquire),
        )
    }
}

// ---- the test ----

/// Tells every thread of the exchange to return when dropped (at the end,
/// or when the test fails).
struct Finish<'a>(&'a Progress);

impl Drop for Finish<'_> {
    fn drop(&mut self) {
        self.0.finish.store(true, Ordering::Release);
    }
}

/// When a ROUTER's test brings a [`crowd`].
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
enum Crowds {
    /// Not a ROUTER.
    Never,
    /// Before the baseline and after the last measurement: the second
    /// must find every routing id of the first free again.
    AtBothEnds,
    /// In every round too (the memory it leaves is measured).
    EveryRound,
}

fn churn_case(case: Case, rounds: &[usize], crowds: Crowds) {
    let ctx = Context::new();
    let s = sock(&ctx, case.ty());
    s.update_options(|o| {
        o.backlog = 4096;
        o.req_relaxed = true;
        o.req_correlate = true;
    });
    let mon = s.monitor();
    let ep = bind(&s, Tr::Tcp);
    let addr: SocketAddr = ep.strip_prefix("tcp://").unwrap().parse().unwrap();
    match case {
        Case::Sub => s.subscribe("").unwrap(),
        Case::Xsub => s.send(&b"\x01"[..]).unwrap(),
        _ => {}
    }
    let p = Arc::new(Progress::new());
    let seen = Arc::new(Seen::default());

    std::thread::scope(|scope| {
        let watcher = scope.spawn(|| {
            while p.running() {
                let Some(ev) = mon.recv_timeout(POLL) else {
                    continue;
                };
                let counter = match ev {
                    MonitorEvent::Accepted { .. } => &seen.accepted,
                    MonitorEvent::AcceptFailed { .. } => &seen.accept_failed,
                    MonitorEvent::HandshakeSucceeded { .. } => &seen.attached,
                    MonitorEvent::Disconnected { reason, .. } => {
                        if matches!(reason, EndReason::Rejected(_)) {
                            seen.rejected.fetch_add(1, Ordering::AcqRel);
                        }
                        &seen.disconnected
                    }
                    _ => continue,
                };
                counter.fetch_add(1, Ordering::AcqRel);
            }
        });
        let server = scope.spawn(|| serve(case, &s, &p));
        let long = scope.spawn(|| long_lived(case, &ep, &p));
        // A failure below lets the threads go before the scope waits.
        let _finish = Finish(&p);
        common::wait_peers(&s, 1);

        // Every churner so far gone: detached, its descriptor closed.
        let mut churned = 0;
        let quiet = |churned: usize, fd_baseline: Option<usize>| {
            let deadline = Instant::now() + QUIET;
            loop {
                let (acc, _, disc, _) = seen.get();
                let peers = s.peer_count();
                let fd_ok = fd_baseline.is_none_or(|b| fds() == b);
                if acc == churned + 1 && disc == churned && peers == 1 && fd_ok {
                    return;
                }
                assert!(
                    Instant::now() < deadline,
                    "{case:?}: after {churned} churners: {acc} accepted, {disc} disconnected, \
                     {peers} peers, {} descriptors (baseline {fd_baseline:?})",
                    fds()
                );
                std::thread::sleep(Duration::from_millis(20));
            }
        };

        let started = Instant::now();
        let mut crowd_round = 0;
        let mut crowd_now = |churned: &mut usize| {
            crowd(addr, crowd_round);
            crowd_round += 1;
            *churned += CROWD;
        };
        if crowds != Crowds::Never {
            crowd_now(&mut churned);
        }
        churn(case, addr, churned, WARM_UP);
        churned += WARM_UP;
        let warm_up = churned;
        quiet(churned, None);
        settle(T);
        let fd0 = fds();
        let mem0 = Mem::now();
        eprintln!(
            "{case:?}: baseline after {warm_up} warm-up churners: {fd0} descriptors, \
             RSS {} KiB, VmSize {} KiB",
            mem0.rss, mem0.vm
        );
        let mut after = Vec::new();
        for &n in rounds {
            let mut n = n;
            if crowds == Crowds::EveryRound {
                crowd_now(&mut churned);
                n -= CROWD;
            }
            churn(case, addr, churned, n);
            churned += n;
            quiet(churned, Some(fd0));
            settle(T);
            let mem = Mem::now();
            let d = mem0.grown_to(mem);
            let (heap, pages, _) = heap_and_pages();
            eprintln!(
                "{case:?}: after {churned} churners: {} descriptors, RSS {:+} KiB, \
                 VmSize {:+} KiB (heap {heap} KiB resident, {pages} arena pages)",
                fds(),
                d.rss,
                d.vm
            );
            after.push(mem);
        }

        // The crowd again, with the routing ids of the first, which every
        // departed peer must have given back.
        if crowds == Crowds::AtBothEnds {
            crowd_now(&mut churned);
            quiet(churned, Some(fd0));
        }

        // The exchange: everything sent arrived.
        p.stop_sending.store(true, Ordering::Release);
        let deadline = Instant::now() + QUIET;
        loop {
            let (sent, got) = (
                p.sent.load(Ordering::Acquire),
                p.got.load(Ordering::Acquire),
            );
            if sent != u64::MAX && got == sent {
                eprintln!("{case:?}: the long-lived exchange carried {sent} messages");
                assert!(sent > 100, "{case:?}: the exchange hardly ran ({sent})");
                break;
            }
            assert!(
                Instant::now() < deadline,
                "{case:?}: the exchange stalled: {got} of {sent} (MAX: still sending)"
            );
            std::thread::sleep(Duration::from_millis(10));
        }
        p.finish.store(true, Ordering::Release);
        long.join().unwrap();
        server.join().unwrap();
        watcher.join().unwrap();

        // Every churner was accepted and left; only the ones a PAIR turns
        // away were refused (a routing id still held by a departed peer
        // would be refused too).
        let (acc, attached, disc, rejected) = seen.get();
        eprintln!(
            "{case:?}: {acc} accepted, {attached} handshakes, {disc} disconnected, \
             {rejected} refused, {:?} in all",
            started.elapsed()
        );
        let want_rejected = if case == Case::Pair { churned / 2 } else { 0 };
        if case == Case::Pair {
            assert!(rejected >= want_rejected, "{case:?}: {rejected} refused");
        } else {
            assert_eq!(rejected, 0, "{case:?}: churners refused");
            // Every churner that waited for the handshake completed it.
            let want = 1 + churned / 4 * 3;
            assert!(
                attached >= want,
                "{case:?}: {attached} handshakes, {want} expected"
            );
        }
        if case.takes_churn() {
            let clean = (churned / 4) as u64;
            let got = p.churn_in.load(Ordering::Acquire);
            assert!(
                got >= 2 * clean,
                "{case:?}: {got} churn messages for {clean} clean ones"
            );
        }
        if case == Case::Xpub {
            let (on, off) = (
                p.topics_on.load(Ordering::Acquire),
                p.topics_off.load(Ordering::Acquire),
            );
            eprintln!("{case:?}: {on} churners' topics subscribed, {off} cancelled");
            assert_eq!(on, off, "{case:?}: departed churners' subscriptions kept");
            assert!(on as usize >= churned / 4);
        }

        // What the churn left.
        let last = *after.last().unwrap();
        let d = mem0.grown_to(last);
        assert!(
            d.rss <= RSS_SLACK_KIB && d.vm <= VM_SLACK_KIB,
            "{case:?}: {churned} churners left RSS {:+} KiB, VmSize {:+} KiB",
            d.rss,
            d.vm
        );
        if let [first, .., last] = after[..] {
            // Flat from the first round to the last.
            let d = first.grown_to(last);
            assert!(
                d.rss <= RSS_ROUND_KIB && d.vm <= VM_SLACK_KIB,
                "{case:?}: the rounds after the first grew RSS {:+} KiB, VmSize {:+} KiB",
                d.rss,
                d.vm
            );
        }
    });
}

macro_rules! churn_tests {
    ($($name:ident: $case:expr, $rounds:expr;)*) => {$(
        #[test]
        fn $name() {
            isolated(stringify!($name), || churn_case($case, &$rounds, Crowds::Never));
        }
    )*};
}

churn_tests! {
    churn_pair: Case::Pair, [1000, 1000];
    churn_pub: Case::Pub, [1000, 1000];
    churn_sub: Case::Sub, [1000, 1000];
    churn_req: Case::Req, [1000, 1000];
    churn_rep: Case::Rep, [1000, 1000];
    churn_dealer: Case::Dealer, [1000, 1000];
    churn_pull: Case::Pull, [1000, 1000];
    churn_push: Case::Push, [1000, 1000];
    churn_xpub: Case::Xpub, [1000, 1000];
    churn_xsub: Case::Xsub, [1000, 1000];
    churn_stream: Case::Stream, [1000, 1000];
}

/// ROUTER (row 24 of `docs/BOUNDS.md`, its routing table and peer
/// entries): 2 rounds of 1,000 churners, between two crowds of 250 peers
/// connected at once with the same 250 routing ids.
#[test]
fn churn_router() {
    isolated("churn_router", || {
        churn_case(Case::Router, &[1000, 1000], Crowds::AtBothEnds);
    });
}

/// ROUTER with a crowd of 250 in every round of 1,000: the process grows
/// by megabytes a round, though what is allocated at the end is what was
/// allocated after the first round (heaptrack: the same 7.05 MiB live
/// after 4 rounds and after 24). The heap is fragmented: glibc keeps
/// freed memory resident. Shown here, not yet explained.
#[test]
#[ignore = "issue 15: crowds of connections leave the heap growing (fragmentation)"]
fn churn_router_with_crowds_keeps_memory_flat() {
    isolated("churn_router_with_crowds_keeps_memory_flat", || {
        churn_case(Case::Router, &[1000; 4], Crowds::EveryRound);
    });
}
