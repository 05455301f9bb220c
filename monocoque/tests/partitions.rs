//! Partitions and crashes, with peers in processes of their own.
//!
//! Partitions: a PUSH and a PULL in two network namespaces joined by a
//! veth pair (`common/netns.rs`), the link cut by taking it down or by
//! blackhole routes, then healed. With heartbeats the peers are declared
//! dead in bounded time and the connection comes back; without, a short
//! partition costs nothing. Behind a `tc tbf` link, a slow reader holds
//! the sender back: what is in flight stays bounded and everything
//! arrives in order. These skip (saying why) when not run as root or
//! without `ip netns`.
//!
//! Crashes: a receiving peer is killed with SIGKILL mid-stream and
//! started again on the same endpoint; the sender reconnects. Nothing is
//! reordered or repeated, and what is lost is lost at the crash. The
//! measurement against libzmq (patterns, rates, repetitions) is the
//! ignored `crash_loss` (`scripts/crash_loss.sh`).
//!
//! Every message carries its sequence number (little-endian, the first 8
//! bytes of its last frame); a sender numbers only what it accepted.
#![allow(clippy::unwrap_used)]

#[allow(dead_code, unreachable_pub)]
#[path = "common/child.rs"]
mod child;
mod common;
#[allow(dead_code, unreachable_pub)]
#[path = "common/netns.rs"]
mod netns;
#[path = "common/proc.rs"]
mod proc_status;

use std::io::Write;
use std::sync::atomic::{AtomicBool, AtomicU64, Ordering};
use std::sync::Arc;
use std::time::{Duration, Instant};

use bytes::Bytes;
use child::{commands, report, Child};
use monocoque::{Context, EndReason, MonitorEvent, Socket, SocketType};
use netns::{Netns, Side, ADDR_B};

/// The test a child process runs (its role is in its environment).
const ENTRY: &str = "role";

/// A numbered message of `size` bytes (at least 8).
fn payload(seq: u64, size: usize) -> Bytes {
    let mut v = vec![0u8; size.max(8)];
    v[..8].copy_from_slice(&seq.to_le_bytes());
    Bytes::from(v)
}

/// The number a message carries (in its last frame).
fn seq_of(frames: &[impl AsRef<[u8]>]) -> u64 {
    let last = frames.last().unwrap().as_ref();
    u64::from_le_bytes(last[..8].try_into().unwrap())
}

fn env(name: &str) -> String {
    std::env::var(name).unwrap_or_default()
}

fn env_num(name: &str, default: u64) -> u64 {
    env(name).parse().unwrap_or(default)
}

/// Runs this process's role when it was started as a child; does
/// nothing in the parent.
#[test]
fn role() {
    match child::role().as_deref() {
        None => {}
        Some("send") => send_role(),
        Some("recv") => recv_role(),
        Some("crash_recv") => crash_recv_role(),
        Some(other) => panic!("unknown role {other}"),
    }
}

// ---- the partition peers (Monocoque PUSH and PULL) ----

/// Options from the environment: `MQ_HB` is `ivl,ttl,timeout` in ms
/// (a 0 leaves that one unset), `MQ_SNDHWM`, `MQ_RCVHWM`, `MQ_BUF`
/// (SO_SNDBUF and SO_RCVBUF), `MQ_CONNECT_TIMEOUT_MS`.
fn configured(ctx: &Context, ty: SocketType) -> Socket {
    let s = common::sock(ctx, ty);
    let ms = |v: u64| (v > 0).then(|| Duration::from_millis(v));
    let hb: Vec<u64> = env("MQ_HB")
        .split(',')
        .filter_map(|v| v.parse().ok())
        .collect();
    s.update_options(|o| {
        o.reconnect_ivl = Duration::from_millis(50);
        if let [ivl, ttl, timeout] = hb[..] {
            o.heartbeat_ivl = ms(ivl);
            o.heartbeat_ttl = ms(ttl);
            o.heartbeat_timeout = ms(timeout);
        }
        o.sndhwm = env_num("MQ_SNDHWM", 1000) as usize;
        o.rcvhwm = env_num("MQ_RCVHWM", 1000) as usize;
        o.connect_timeout = ms(env_num("MQ_CONNECT_TIMEOUT_MS", 0));
        if let Ok(b) = env("MQ_BUF").parse() {
            o.sndbuf = Some(b);
            o.rcvbuf = Some(b);
        }
    });
    s
}

/// Reports the socket's connections coming up (`ev up N`) and going
/// down (`ev down N timeout|other`), N being `count` at that moment.
fn report_events(s: &Socket, count: Arc<AtomicU64>) {
    let mon = s.monitor();
    std::thread::spawn(move || loop {
        match mon.recv_timeout(Duration::from_secs(1)) {
            Some(MonitorEvent::HandshakeSucceeded { .. }) => {
                report(format!("ev up {}", count.load(Ordering::SeqCst)));
            }
            Some(MonitorEvent::Disconnected { reason, .. }) => {
                let why = match reason {
                    EndReason::Timeout(_) => "timeout".to_owned(),
                    other => format!("other:{}", other.to_string().replace(' ', "_")),
                };
                report(format!("ev down {} {why}", count.load(Ordering::SeqCst)));
            }
            Some(MonitorEvent::MonitorStopped { .. }) => return,
            _ => {}
        }
    });
}

/// A PUSH connecting to `MQ_ADDR`: sends numbered messages of `MQ_SIZE`
/// bytes, one every `MQ_PACE_US` (0: as fast as it may), `MQ_COUNT` of
/// them (0: until told `stop`). Reports `n ACCEPTED RSS` every 50 ms,
/// `mark ACCEPTED` when told `mark`, `accepted N` once stopped; then
/// waits for its stdin to close.
fn send_role() {
    let ctx = Context::new();
    let push = configured(&ctx, SocketType::Push);
    let accepted = Arc::new(AtomicU64::new(0));
    report_events(&push, accepted.clone());
    push.connect(&env("MQ_ADDR")).unwrap();
    let size = env_num("MQ_SIZE", 16) as usize;
    let pace = Duration::from_micros(env_num("MQ_PACE_US", 0));
    let count = env_num("MQ_COUNT", 0);
    let cmds = commands();
    let start = Instant::now();
    let mut last_report = Instant::now();
    let mut n = 0u64;
    loop {
        match cmds.try_recv() {
            Ok(c) if c == "mark" => report(format!("mark {n}")),
            Ok(c) if c == "stop" => break,
            Err(std::sync::mpsc::TryRecvError::Disconnected) => return,
            _ => {}
        }
        if last_report.elapsed() >= Duration::from_millis(50) {
            report(format!("n {n} {}", proc_status::status_kib("VmRSS:")));
            last_report = Instant::now();
        }
        if count > 0 && n == count {
            break;
        }
        if !pace.is_zero() && start.elapsed() < pace * (n as u32) {
            std::thread::sleep(Duration::from_micros(200));
            continue;
        }
        if push
            .send_timeout(payload(n, size), Duration::from_millis(20))
            .is_ok()
        {
            n += 1;
            accepted.store(n, Ordering::SeqCst);
        }
    }
    report(format!("n {n} {}", proc_status::status_kib("VmRSS:")));
    report(format!("accepted {n}"));
    // Keep the connection (and what is queued) until the parent is done.
    while cmds.recv().is_ok() {}
}

/// A PULL bound on `MQ_ADDR`, reading slowly when `MQ_DELAY_US` is set.
/// Reports `n COUNT LAST RSS` every 50 ms, `bad S after L` for a number
/// out of order, and, told `stop`, `runs A-B ...`: the received numbers
/// as ranges.
fn recv_role() {
    let ctx = Context::new();
    let pull = configured(&ctx, SocketType::Pull);
    let count = Arc::new(AtomicU64::new(0));
    report_events(&pull, count.clone());
    pull.bind(&env("MQ_ADDR")).unwrap();
    report("ready");
    let delay = Duration::from_micros(env_num("MQ_DELAY_US", 0));
    let cmds = commands();
    let mut runs: Vec<(u64, u64)> = Vec::new();
    let mut last_report = Instant::now();
    loop {
        match cmds.try_recv() {
            Ok(c) if c == "stop" => break,
            Err(std::sync::mpsc::TryRecvError::Disconnected) => return,
            _ => {}
        }
        if last_report.elapsed() >= Duration::from_millis(50) {
            let last = runs.last().map_or(-1, |r| r.1 as i64);
            report(format!(
                "n {} {last} {}",
                count.load(Ordering::SeqCst),
                proc_status::status_kib("VmRSS:")
            ));
            last_report = Instant::now();
        }
        let Ok(m) = pull.recv_timeout(Duration::from_millis(20)) else {
            continue;
        };
        let s = seq_of(m.frames());
        match runs.last_mut() {
            Some(r) if s == r.1 + 1 => r.1 = s,
            Some(r) if s <= r.1 => report(format!("bad {s} after {}", r.1)),
            _ => runs.push((s, s)),
        }
        count.fetch_add(1, Ordering::SeqCst);
        if !delay.is_zero() {
            std::thread::sleep(delay);
        }
    }
    let text: Vec<String> = runs.iter().map(|(a, b)| format!("{a}-{b}")).collect();
    report(format!("runs {}", text.join(" ")));
}

// ---- partitions ----

/// How the link is cut.
#[derive(Clone, Copy, Debug)]
enum Cut {
    LinkDown,
    Blackhole,
}

impl Cut {
    fn apply(self, ns: &Netns, on: bool) {
        match (self, on) {
            (Cut::LinkDown, true) => ns.link_down(),
            (Cut::LinkDown, false) => ns.link_up(),
            (Cut::Blackhole, on) => ns.blackhole(on),
        }
    }
}

/// A PULL in B and a PUSH in A with these extra settings.
fn peers(ns: &Netns, send_env: &[(&str, String)], recv_env: &[(&str, String)]) -> (Child, Child) {
    let exe = std::env::current_exe().unwrap();
    let addr = ("MQ_ADDR", format!("tcp://{ADDR_B}:5555"));
    let mut renv = vec![addr.clone()];
    renv.extend_from_slice(recv_env);
    let mut recv = Child::spawn("recv", ns.command(Side::B, &exe), ENTRY, "recv", &renv);
    recv.expect("ready", common::T);
    let mut senv = vec![addr];
    senv.extend_from_slice(send_env);
    let send = Child::spawn("send", ns.command(Side::A, &exe), ENTRY, "send", &senv);
    (send, recv)
}

/// Waits until the receiver reports at least `n` messages.
fn received_at_least(recv: &mut Child, n: u64, t: Duration) -> u64 {
    let deadline = Instant::now() + t;
    loop {
        let left = deadline.saturating_duration_since(Instant::now());
        let line = recv.wait("n ", left).unwrap_or_else(|| {
            panic!("the receiver did not reach {n} messages: {:?}", recv.seen())
        });
        let got: u64 = line.split_whitespace().next().unwrap().parse().unwrap();
        if got >= n {
            return got;
        }
    }
}

/// Waits until the receiver reports a message numbered `seq` or later.
fn reached(recv: &mut Child, seq: u64, t: Duration) {
    let deadline = Instant::now() + t;
    loop {
        let left = deadline.saturating_duration_since(Instant::now());
        let line = recv.wait("n ", left).unwrap_or_else(|| {
            panic!(
                "the receiver did not reach message {seq}: {:?}",
                recv.seen()
            )
        });
        let last: i64 = line.split_whitespace().nth(1).unwrap().parse().unwrap();
        if last >= seq as i64 {
            return;
        }
    }
}

/// Stops the sender, waits for the receiver to have everything it
/// accepted, and returns (accepted, the receiver's runs).
fn finish(send: &mut Child, recv: &mut Child) -> (u64, Vec<(u64, u64)>) {
    send.say("stop");
    let accepted: u64 = send.expect("accepted", common::T).parse().unwrap();
    // Everything the sender accepted after the last reconnect arrives.
    let deadline = Instant::now() + common::T * 2;
    loop {
        let line = recv.expect("n ", common::T);
        let last: i64 = line.split_whitespace().nth(1).unwrap().parse().unwrap();
        if last + 1 >= accepted as i64 || Instant::now() > deadline {
            break;
        }
    }
    recv.say("stop");
    let runs = recv
        .expect("runs", common::T)
        .split_whitespace()
        .map(|r| {
            let (a, b) = r.split_once('-').unwrap();
            (a.parse().unwrap(), b.parse().unwrap())
        })
        .collect();
    let bad: Vec<&String> = recv
        .seen()
        .iter()
        .filter(|l| l.starts_with("bad"))
        .collect();
    assert!(bad.is_empty(), "reordered or repeated: {bad:?}");
    (accepted, runs)
}

/// Heartbeats (the sender pings every 100 ms, gives up 300 ms after a
/// ping, announces a TTL of 500 ms; the receiver relies on that TTL):
/// the link is cut, both sides declare the other dead in bounded time,
/// the link is healed, the connection comes back, and the stream goes
/// on. Nothing is reordered or repeated; what is lost was accepted after
/// the cut, before the sender's connection ended.
fn partition_with_heartbeats(cut: Cut) {
    let Some(ns) = Netns::new() else { return };
    let (ivl, ttl, timeout) = (100u64, 500u64, 300u64);
    let (mut send, mut recv) = peers(
        &ns,
        &[
            ("MQ_HB", format!("{ivl},{ttl},{timeout}")),
            ("MQ_PACE_US", "2000".into()),
            // A connect made during the cut waits for its SYN to be
            // retransmitted (1 s, then 2 s...): give up on it instead.
            ("MQ_CONNECT_TIMEOUT_MS", "300".into()),
        ],
        &[],
    );
    send.expect("ev up", common::T);
    received_at_least(&mut recv, 100, common::T);
    send.say("mark");
    let at_cut: u64 = send.expect("mark", common::T).parse().unwrap();
    // The cut takes effect somewhere in `apply` (an `ip` command, slow
    // on a loaded machine): upper bounds count from before it, lower
    // bounds from after it.
    let cutting = Instant::now();
    cut.apply(&ns, true);
    let cut_at = Instant::now();
    // The sender: no PONG within timeout of a ping (at most ivl after
    // the cut). The receiver: silence past the TTL.
    let down = send.expect("ev down", common::T);
    let send_dead = Instant::now();
    assert!(down.ends_with("timeout"), "the sender's connection: {down}");
    let at_down: u64 = down.split_whitespace().next().unwrap().parse().unwrap();
    let rdown = recv.expect("ev down", common::T);
    let recv_dead = Instant::now();
    assert!(
        rdown.ends_with("timeout"),
        "the receiver's connection: {rdown}"
    );
    let most = |at: Instant| at - cutting;
    let least = |at: Instant| at - cut_at;
    eprintln!(
        "{cut:?}: sender declared the peer dead after {:?}, receiver after {:?}",
        send_dead - cut_at,
        recv_dead - cut_at
    );
    // Scheduling and the reports' way through a pipe, on a loaded
    // machine.
    let slack = Duration::from_millis(600);
    assert!(
        most(send_dead) <= Duration::from_millis(ivl + timeout) + slack,
        "the sender took {:?} (interval {ivl} ms + timeout {timeout} ms)",
        most(send_dead)
    );
    assert!(
        least(send_dead) >= Duration::from_millis(timeout - 50),
        "the sender gave up before the timeout: {:?}",
        least(send_dead)
    );
    // TTL, and an eighth of it: the session looks at its peer's TTL that
    // often (see a_peer_silent_past_its_ttl_is_declared_dead_within_the_ttl).
    assert!(
        most(recv_dead) <= Duration::from_millis(ttl + ttl / 8) + slack,
        "the receiver took {:?} (TTL {ttl} ms)",
        most(recv_dead)
    );
    assert!(
        least(recv_dead) >= Duration::from_millis(ttl - 50),
        "the receiver gave up before the TTL: {:?}",
        least(recv_dead)
    );
    std::thread::sleep(Duration::from_millis(200));
    let healed_at = Instant::now();
    cut.apply(&ns, false);
    let up = send.expect("ev up", common::T);
    let back = healed_at.elapsed();
    eprintln!("{cut:?}: reconnected {back:?} after the heal");
    // A connect under way at the heal gives up within CONNECT_TIMEOUT
    // (300 ms); the next starts RECONNECT_IVL (50 ms) later.
    assert!(
        back < Duration::from_millis(1000),
        "reconnected after {back:?}"
    );
    let at_up: u64 = up.split_whitespace().next().unwrap().parse().unwrap();
    reached(&mut recv, at_up + 100, common::T);
    let (accepted, runs) = finish(&mut send, &mut recv);
    assert_eq!(runs.first().map(|r| r.0), Some(0), "{runs:?}");
    assert_eq!(runs.last().map(|r| r.1 + 1), Some(accepted), "{runs:?}");
    assert!(
        runs.len() <= 2,
        "more than one gap for one disconnect: {runs:?}"
    );
    if let [first, second] = runs[..] {
        let (lost_from, lost_to) = (first.1 + 1, second.0 - 1);
        eprintln!("{cut:?}: lost {lost_from}..={lost_to} (cut at {at_cut}, down at {at_down})");
        // Up to 100 ms of messages before the cut may have been unacked.
        assert!(
            lost_from + 50 >= at_cut,
            "lost {lost_from}.. though the cut came at {at_cut}"
        );
        assert!(
            lost_to < at_down,
            "lost ..{lost_to}, accepted after the connection ended at {at_down}"
        );
    }
}

#[test]
fn link_down_with_heartbeats_declares_the_peer_dead_and_comes_back() {
    partition_with_heartbeats(Cut::LinkDown);
}

#[test]
fn blackhole_with_heartbeats_declares_the_peer_dead_and_comes_back() {
    partition_with_heartbeats(Cut::Blackhole);
}

/// No heartbeats: a 700 ms partition is a pause for TCP (it
/// retransmits); the connection survives and nothing is lost.
fn short_partition_without_heartbeats(cut: Cut) {
    let Some(ns) = Netns::new() else { return };
    let (mut send, mut recv) = peers(&ns, &[("MQ_PACE_US", "2000".into())], &[]);
    send.expect("ev up", common::T);
    received_at_least(&mut recv, 100, common::T);
    cut.apply(&ns, true);
    std::thread::sleep(Duration::from_millis(700));
    cut.apply(&ns, false);
    send.say("mark");
    let healed: u64 = send.expect("mark", common::T).parse().unwrap();
    // TCP's retransmission backs off (200 ms, 400 ms, 800 ms...).
    reached(&mut recv, healed + 100, common::T);
    // (Looked at before the end: the receiver's exit ends the
    // connection then.)
    for c in [&mut send, &mut recv] {
        let downs: Vec<&String> = c
            .seen()
            .iter()
            .filter(|l| l.starts_with("ev down"))
            .collect();
        assert!(downs.is_empty(), "the connection ended: {downs:?}");
    }
    let (accepted, runs) = finish(&mut send, &mut recv);
    assert_eq!(runs, vec![(0, accepted - 1)], "lost or reordered");
}

#[test]
fn a_short_link_down_without_heartbeats_loses_nothing() {
    short_partition_without_heartbeats(Cut::LinkDown);
}

#[test]
fn a_short_blackhole_without_heartbeats_loses_nothing() {
    short_partition_without_heartbeats(Cut::Blackhole);
}

/// A 16 Mbit/s link (`tc tbf`) and a reader about as slow (4 ms a
/// message of 8 KiB): the sender is held back by SNDHWM, so what is
/// accepted but not yet read stays within the high-water marks and the
/// kernel's buffers, the sender's memory stays flat, and every message
/// arrives, in order.
#[test]
fn a_slow_reader_behind_a_narrow_link_bounds_what_is_in_flight() {
    let Some(ns) = Netns::new() else { return };
    ns.shape("16mbit", "32kb", "50ms");
    let (size, hwm, buf, total) = (8192u64, 20u64, 65_536u64, 1000u64);
    let (mut send, mut recv) = peers(
        &ns,
        &[
            ("MQ_SIZE", size.to_string()),
            ("MQ_COUNT", total.to_string()),
            ("MQ_SNDHWM", hwm.to_string()),
            ("MQ_BUF", buf.to_string()),
        ],
        &[
            ("MQ_RCVHWM", hwm.to_string()),
            ("MQ_BUF", buf.to_string()),
            ("MQ_DELAY_US", "4000".into()),
        ],
    );
    // Each side reports every 50 ms; pair the latest of each.
    let mut worst = 0i64;
    let (mut sent, mut got) = (0i64, 0i64);
    let mut rss = Vec::new();
    let deadline = Instant::now() + Duration::from_secs(20);
    while got < total as i64 {
        assert!(Instant::now() < deadline, "stalled at {got} of {total}");
        std::thread::sleep(Duration::from_millis(10));
        while let Some(l) = send.wait("n ", Duration::ZERO) {
            let v: Vec<i64> = l.split_whitespace().map(|x| x.parse().unwrap()).collect();
            sent = v[0];
            rss.push(v[1]);
        }
        while let Some(l) = recv.wait("n ", Duration::ZERO) {
            got = l.split_whitespace().next().unwrap().parse().unwrap();
        }
        worst = worst.max(sent - got);
    }
    // Held: on the sender, SNDHWM in the pipe and as many again in the
    // batch its writer took off it; the kernel's two buffers (which it
    // doubles) and the token bucket's queue and burst (50 ms at 2 MB/s,
    // 4 KB); on the receiver, RCVHWM and one read's worth (64 KiB); a
    // message being read. The two reports paired may be up to 50 ms
    // apart: 13 messages at 2 MB/s, counted twice for safety. A sender
    // that SNDHWM did not hold back would have all 1,000 in flight
    // within a second.
    let kernel = (4 * buf + 100_000 + 4096).div_ceil(size);
    let bound = (3 * hwm + kernel + 65_536 / size + 1 + 26) as i64;
    eprintln!("in flight at most {worst} messages (bound {bound}); sender RSS {rss:?} KiB");
    assert!(worst <= bound, "{worst} messages in flight, bound {bound}");
    let grown = rss.iter().max().unwrap() - rss.iter().min().unwrap();
    assert!(
        grown < 4 * 1024,
        "the sender grew by {grown} KiB while sending {} KiB",
        total * size / 1024
    );
    let (accepted, runs) = finish(&mut send, &mut recv);
    assert_eq!(accepted, total);
    assert_eq!(runs, vec![(0, total - 1)], "lost or reordered");
}

/// A hand-written ZMTP 3.1 PUSH (NULL) on `ep`, its handshake done.
fn raw_push(ep: &str) -> std::net::TcpStream {
    use std::io::Read;
    let mut conn = std::net::TcpStream::connect(ep.strip_prefix("tcp://").unwrap()).unwrap();
    conn.set_read_timeout(Some(common::T)).unwrap();
    let mut hello = vec![0xff, 0, 0, 0, 0, 0, 0, 0, 1, 0x7f, 3, 1];
    hello.extend(b"NULL");
    hello.resize(64, 0);
    let mut ready = vec![5];
    ready.extend(b"READY");
    ready.push(11);
    ready.extend(b"Socket-Type");
    ready.extend(4u32.to_be_bytes());
    ready.extend(b"PUSH");
    hello.extend([0x04, ready.len() as u8]);
    hello.extend(ready);
    conn.write_all(&hello).unwrap();
    let mut theirs = [0u8; 66];
    conn.read_exact(&mut theirs).unwrap();
    let mut rest = vec![0u8; usize::from(theirs[65])];
    conn.read_exact(&mut rest).unwrap();
    conn
}

/// A peer that announced a TTL and then went silent is declared dead
/// within about that TTL of its last word (HEARTBEAT_TTL: "if you hear
/// nothing from me for this long, I am gone").
///
/// 500 ms TTL, silence from 110 ms after the PING. This failed (dead
/// about 0.9 s into the silence) while the session re-armed its TTL
/// deadline a whole TTL from the deadline rather than from the last
/// traffic; it now looks every eighth of the TTL, so the peer is declared
/// dead at most 62 ms past it. (libzmq does worse here: its TTL timer
/// starts at a PING and any later message cancels it, so a peer silent
/// after data is never declared dead by the TTL at all; only the local
/// HEARTBEAT_TIMEOUT catches it.)
#[test]
fn a_peer_silent_past_its_ttl_is_declared_dead_within_the_ttl() {
    let ctx = Context::new();
    let pull = common::sock(&ctx, SocketType::Pull);
    let mon = pull.monitor();
    pull.bind("tcp://127.0.0.1:*").unwrap();
    let mut conn = raw_push(&pull.last_endpoint().unwrap());
    // PING: TTL 5 (tenths of a second), no context.
    let mut ping = vec![4];
    ping.extend(b"PING");
    ping.extend(5u16.to_be_bytes());
    conn.write_all(&[0x04, ping.len() as u8]).unwrap();
    conn.write_all(&ping).unwrap();
    // A pause, so that the PING is handled (and the deadline armed) on
    // its own, then 60 ms of messages, then silence.
    std::thread::sleep(Duration::from_millis(50));
    let talking = Instant::now();
    while talking.elapsed() < Duration::from_millis(60) {
        conn.write_all(&[0, 8, 1, 2, 3, 4, 5, 6, 7, 8]).unwrap();
        std::thread::sleep(Duration::from_millis(10));
    }
    let silent = Instant::now();
    let dead = loop {
        assert!(silent.elapsed() < common::T, "never declared dead");
        if let Some(MonitorEvent::Disconnected { reason, .. }) =
            mon.recv_timeout(Duration::from_millis(10))
        {
            assert!(matches!(reason, EndReason::Timeout(_)), "{reason}");
            break silent.elapsed();
        }
    };
    assert!(
        dead <= Duration::from_millis(500 + 150),
        "declared dead {dead:?} into the silence, TTL 500 ms"
    );
}

// ---- crashes: a receiver killed mid-stream and started again ----

/// Whose sockets.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
enum Lib {
    Mono,
    Zmq,
}

impl Lib {
    fn name(self) -> &'static str {
        match self {
            Lib::Mono => "mono",
            Lib::Zmq => "zmq",
        }
    }

    fn parse(s: &str) -> Lib {
        if s == "zmq" {
            Lib::Zmq
        } else {
            Lib::Mono
        }
    }
}

/// A sending pattern and the receiving one it talks to.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
enum Pat {
    PushPull,
    DealerRouter,
    PubSub,
    ReqRep,
}

impl Pat {
    const ALL: [Pat; 4] = [Pat::PushPull, Pat::DealerRouter, Pat::PubSub, Pat::ReqRep];

    fn name(self) -> &'static str {
        match self {
            Pat::PushPull => "PUSH->PULL",
            Pat::DealerRouter => "DEALER->ROUTER",
            Pat::PubSub => "PUB->SUB",
            Pat::ReqRep => "REQ->REP",
        }
    }

    fn parse(s: &str) -> Pat {
        *Pat::ALL.iter().find(|p| p.name() == s).unwrap()
    }

    fn types(self) -> (SocketType, SocketType) {
        match self {
            Pat::PushPull => (SocketType::Push, SocketType::Pull),
            Pat::DealerRouter => (SocketType::Dealer, SocketType::Router),
            Pat::PubSub => (SocketType::Pub, SocketType::Sub),
            Pat::ReqRep => (SocketType::Req, SocketType::Rep),
        }
    }

    /// Bytes one message of [`crash_size`] takes on the wire (a REQ
    /// adds its empty delimiter frame).
    fn wire(self) -> u64 {
        let size = crash_size() as u64;
        let header = if size < 256 { 2 } else { 9 };
        size + header + if self == Pat::ReqRep { 2 } else { 0 }
    }
}

/// The size of a crash run's messages: `CRASH_SIZE` bytes (default 16).
fn crash_size() -> usize {
    env_num("CRASH_SIZE", 16) as usize
}

fn zmq_type(t: SocketType) -> zmq::SocketType {
    match t {
        SocketType::Push => zmq::PUSH,
        SocketType::Pull => zmq::PULL,
        SocketType::Dealer => zmq::DEALER,
        SocketType::Router => zmq::ROUTER,
        SocketType::Pub => zmq::PUB,
        SocketType::Sub => zmq::SUB,
        SocketType::Req => zmq::REQ,
        SocketType::Rep => zmq::REP,
        other => panic!("{other:?}"),
    }
}

/// A receiver bound on `MQ_ADDR` (library `MQ_LIB`, pattern `MQ_PAT`):
/// appends the number of every message it receives to the file
/// `MQ_OUT`, 8 bytes with one write each, so that what it had received
/// when it was killed is on record. A REP answers each request with it.
/// `MQ_RCVHWM` and `MQ_BUF` (SO_RCVBUF) when set; with `MQ_STALL` it
/// stops receiving after the first message (a reader that hangs).
fn crash_recv_role() {
    let lib = Lib::parse(&env("MQ_LIB"));
    let (_, ty) = Pat::parse(&env("MQ_PAT")).types();
    let addr = env("MQ_ADDR");
    let mut out = std::fs::OpenOptions::new()
        .create(true)
        .append(true)
        .open(env("MQ_OUT"))
        .unwrap();
    let cmds = commands();
    let gone = move || {
        matches!(
            cmds.try_recv(),
            Err(std::sync::mpsc::TryRecvError::Disconnected)
        )
    };
    match lib {
        Lib::Mono => {
            let ctx = Context::new();
            let s = common::sock(&ctx, ty);
            s.update_options(|o| {
                o.rcvhwm = env_num("MQ_RCVHWM", 1000) as usize;
                o.rcvbuf = env("MQ_BUF").parse().ok();
            });
            if ty == SocketType::Sub {
                s.subscribe(b"").unwrap();
            }
            rebind(|| s.bind(&addr).is_ok());
            let mut got = 0;
            while !gone() {
                if stalled(got) {
                    continue;
                }
                let Ok(m) = s.recv_timeout(Duration::from_millis(100)) else {
                    continue;
                };
                got += 1;
                out.write_all(&seq_of(m.frames()).to_le_bytes()).unwrap();
                if ty == SocketType::Rep {
                    let _ = s.send_timeout(m, Duration::from_millis(100));
                }
            }
        }
        Lib::Zmq => {
            let ctx = zmq::Context::new();
            let s = ctx.socket(zmq_type(ty)).unwrap();
            s.set_linger(0).unwrap();
            s.set_rcvtimeo(100).unwrap();
            s.set_sndtimeo(100).unwrap();
            s.set_rcvhwm(env_num("MQ_RCVHWM", 1000) as i32).unwrap();
            if let Ok(b) = env("MQ_BUF").parse() {
                s.set_rcvbuf(b).unwrap();
            }
            if ty == SocketType::Sub {
                s.set_subscribe(b"").unwrap();
            }
            rebind(|| s.bind(&addr).is_ok());
            let mut got = 0;
            while !gone() {
                if stalled(got) {
                    continue;
                }
                let Ok(m) = s.recv_multipart(0) else { continue };
                got += 1;
                out.write_all(&seq_of(&m).to_le_bytes()).unwrap();
                if ty == SocketType::Rep {
                    let _ = s.send(m.last().unwrap().as_slice(), 0);
                }
            }
        }
    }
}

/// Whether a receiver that got `got` messages stops here (`MQ_STALL`):
/// then it only sleeps a little.
fn stalled(got: u64) -> bool {
    let stall = got >= 1 && !env("MQ_STALL").is_empty();
    if stall {
        std::thread::sleep(Duration::from_millis(10));
    }
    stall
}

/// Binds (`bind` says whether it could), trying again while the port
/// is still held, and reports `ready MS`: how long that took. A killed
/// Monocoque process's listening socket outlives it briefly: the
/// kernel tears its io_uring down (and drops the socket that a pending
/// accept holds) after the process is gone.
fn rebind(mut bind: impl FnMut() -> bool) {
    let start = Instant::now();
    while !bind() {
        assert!(start.elapsed() < common::T, "the port stayed taken");
        std::thread::sleep(Duration::from_millis(5));
    }
    report(format!("ready {}", start.elapsed().as_millis()));
}

/// A directory for the receivers' records, deleted on drop (a failing
/// test included).
struct Scratch(std::path::PathBuf);

impl Scratch {
    fn new(tag: &str) -> Scratch {
        let dir = std::env::temp_dir().join(common::unique(tag));
        std::fs::create_dir_all(&dir).unwrap();
        Scratch(dir)
    }
}

impl std::ops::Deref for Scratch {
    type Target = std::path::Path;

    fn deref(&self) -> &std::path::Path {
        &self.0
    }
}

impl Drop for Scratch {
    fn drop(&mut self) {
        let _ = std::fs::remove_dir_all(&self.0);
    }
}

/// The sending side of a crash run, in this process.
enum Sender {
    Mono { _ctx: Context, s: Socket },
    Zmq { _ctx: zmq::Context, s: zmq::Socket },
}

impl Sender {
    fn new(lib: Lib, pat: Pat, ep: &str) -> Sender {
        Sender::with_sndbuf(lib, pat, ep, None)
    }

    /// With SO_SNDBUF set.
    fn with_sndbuf(lib: Lib, pat: Pat, ep: &str, sndbuf: Option<usize>) -> Sender {
        let (ty, _) = pat.types();
        match lib {
            Lib::Mono => {
                let ctx = Context::new();
                let s = common::sock(&ctx, ty);
                s.update_options(|o| {
                    o.req_relaxed = true;
                    o.req_correlate = true;
                    o.sndbuf = sndbuf;
                });
                s.connect(ep).unwrap();
                Sender::Mono { _ctx: ctx, s }
            }
            Lib::Zmq => {
                let ctx = zmq::Context::new();
                let s = ctx.socket(zmq_type(ty)).unwrap();
                s.set_linger(0).unwrap();
                s.set_reconnect_ivl(20).unwrap();
                s.set_sndtimeo(20).unwrap();
                s.set_rcvtimeo(300).unwrap();
                if let Some(b) = sndbuf {
                    s.set_sndbuf(b as i32).unwrap();
                }
                if ty == SocketType::Req {
                    s.set_req_relaxed(true).unwrap();
                    s.set_req_correlate(true).unwrap();
                }
                s.connect(ep).unwrap();
                Sender::Zmq { _ctx: ctx, s }
            }
        }
    }

    /// Offers message `seq`; whether it was accepted. A REQ then waits
    /// (300 ms at most) for the reply: a request whose REP was killed is
    /// never answered, and the next one goes out regardless.
    fn offer(&self, pat: Pat, seq: u64, size: usize) -> bool {
        let m = payload(seq, size);
        match self {
            Sender::Mono { s, .. } => {
                let ok = s.send_timeout(m, Duration::from_millis(20)).is_ok();
                if ok && pat == Pat::ReqRep {
                    let _ = s.recv_timeout(Duration::from_millis(300));
                }
                ok
            }
            Sender::Zmq { s, .. } => {
                let ok = s.send(&m[..], 0).is_ok();
                if ok && pat == Pat::ReqRep {
                    let _ = s.recv_bytes(0);
                }
                ok
            }
        }
    }
}

/// Bytes queued in the kernel for the connection to `port` on loopback:
/// the sender's unsent or unacknowledged (Send-Q) plus the receiver's
/// unread (Recv-Q), from `ss`; and whether the receiver's end is still
/// open.
fn kernel_queued(port: u16) -> (u64, bool) {
    let Ok(out) = std::process::Command::new("ss")
        .args(["-tnH", "state", "established"])
        .output()
    else {
        return (0, false);
    };
    let mut total = 0;
    let mut open = false;
    for line in String::from_utf8_lossy(&out.stdout).lines() {
        let f: Vec<&str> = line.split_whitespace().collect();
        let [recvq, sendq, local, peer, ..] = f[..] else {
            continue;
        };
        let port_of = |a: &str| a.rsplit(':').next().and_then(|p| p.parse::<u16>().ok());
        if port_of(local) == Some(port) {
            total += recvq.parse::<u64>().unwrap_or(0);
            open = true;
        } else if port_of(peer) == Some(port) {
            total += sendq.parse::<u64>().unwrap_or(0);
        }
    }
    (total, open)
}

/// Kills `receiver` and returns the most the kernel held meanwhile, in
/// bytes: looked at just before, then until the receiver's end of the
/// connection is gone (a killed process's sockets close once the kernel
/// has torn its io_uring down, some milliseconds later, and until then
/// the kernel goes on acknowledging what the sender writes).
/// Also returns how long after the kill that end was still open.
fn kill_and_measure(receiver: &mut Child, port: u16) -> (u64, Duration) {
    let (mut most, _) = kernel_queued(port);
    receiver.kill();
    let killed = Instant::now();
    let deadline = killed + Duration::from_millis(500);
    loop {
        let (now, open) = kernel_queued(port);
        most = most.max(now);
        if !open || Instant::now() > deadline {
            return (most, killed.elapsed());
        }
    }
}

/// One crash run: the sender offers messages at `rate` a second (0: as
/// fast as it may), the receiver is killed `kills` times.
#[derive(Debug)]
struct Crash {
    pat: Pat,
    send: Lib,
    recv: Lib,
    rate: u64,
    kills: usize,
    /// Time between kills (and before the first).
    every: Duration,
}

/// What a crash run saw.
#[derive(Debug)]
struct CrashRun {
    accepted: u64,
    /// What each receiver process received, in order.
    lives: Vec<Vec<u64>>,
    /// Messages the kernel held (both sides) around each kill, at most.
    kernel: Vec<u64>,
    /// Messages accepted before each kill.
    at_kill: Vec<u64>,
    /// How long the killed receiver's end of the connection stayed open
    /// after its process was reaped (to the next look by `ss`).
    open_after: Vec<Duration>,
}

impl CrashRun {
    /// Whether every number is above the one before, across lives.
    fn ordered(&self) -> bool {
        self.lives.concat().windows(2).all(|w| w[0] < w[1])
    }

    /// Missing numbers inside each life (between its first and last).
    fn lost_within(&self) -> u64 {
        self.lives
            .iter()
            .filter(|l| !l.is_empty())
            .map(|l| l[l.len() - 1] - l[0] + 1 - l.len() as u64)
            .sum()
    }

    /// Missing numbers at each crash: between the last that a life
    /// received and the first of the next that received anything.
    fn lost_at_kills(&self) -> Vec<u64> {
        let mut out = Vec::new();
        let mut last: Option<u64> = None;
        for life in &self.lives {
            let (Some(&first), Some(&end)) = (life.first(), life.last()) else {
                out.push(0);
                continue;
            };
            if let Some(l) = last {
                out.push(first.saturating_sub(l + 1));
            }
            last = Some(end);
        }
        out
    }

    /// Accepted after the last number received.
    fn lost_at_end(&self) -> u64 {
        let last = self.lives.iter().flatten().max().map_or(0, |l| l + 1);
        self.accepted.saturating_sub(last)
    }
}

impl Crash {
    fn run(&self) -> CrashRun {
        let port = std::net::TcpListener::bind("127.0.0.1:0")
            .unwrap()
            .local_addr()
            .unwrap()
            .port();
        let ep = format!("tcp://127.0.0.1:{port}");
        let dir = Scratch::new("crash");
        let exe = std::env::current_exe().unwrap();
        let start_receiver = |n: usize| {
            let env = [
                ("MQ_LIB", self.recv.name().to_owned()),
                ("MQ_PAT", self.pat.name().to_owned()),
                ("MQ_ADDR", ep.clone()),
                ("MQ_OUT", dir.join(format!("{n}")).display().to_string()),
            ];
            let mut c = Child::spawn(
                "receiver",
                std::process::Command::new(&exe),
                ENTRY,
                "crash_recv",
                &env,
            );
            // (Generous: on a loaded machine a process may take seconds
            // to start.)
            let ms = c.expect("ready", common::T * 6);
            if ms != "0" {
                eprintln!("receiver {n}: the port was free after {ms} ms");
            }
            c
        };
        let mut receiver = start_receiver(0);
        let accepted = Arc::new(AtomicU64::new(0));
        let stop = Arc::new(AtomicBool::new(false));
        // The sender lives on its own thread (a libzmq socket is not
        // Sync), until told it may go: what it queued is still going out
        // while the last receiver drains.
        let (release, released) = std::sync::mpsc::channel::<()>();
        let pump = {
            let (accepted, stop) = (accepted.clone(), stop.clone());
            let (lib, pat, rate, ep) = (self.send, self.pat, self.rate, ep.clone());
            std::thread::spawn(move || {
                let sender = Sender::new(lib, pat, &ep);
                let start = Instant::now();
                let mut n = 0u64;
                while !stop.load(Ordering::Relaxed) {
                    if rate > 0 && n as f64 >= start.elapsed().as_secs_f64() * rate as f64 {
                        std::thread::sleep(Duration::from_micros(100));
                        continue;
                    }
                    if sender.offer(pat, n, crash_size()) {
                        n += 1;
                        accepted.store(n, Ordering::SeqCst);
                    }
                }
                let _ = released.recv();
            })
        };
        let mut kernel = Vec::new();
        let mut at_kill = Vec::new();
        let mut open_after = Vec::new();
        for k in 0..self.kills {
            std::thread::sleep(self.every);
            at_kill.push(accepted.load(Ordering::SeqCst));
            let (held, open) = kill_and_measure(&mut receiver, port);
            kernel.push(held / self.pat.wire());
            open_after.push(open);
            receiver = start_receiver(k + 1);
        }
        std::thread::sleep(self.every);
        stop.store(true, Ordering::Relaxed);
        // (The pump stops within one offer: 300 ms at most.)
        std::thread::sleep(Duration::from_millis(350));
        let accepted = accepted.load(Ordering::SeqCst);
        // Drain: the last receiver's record stops growing.
        let last_file = dir.join(format!("{}", self.kills));
        let mut size = 0;
        let deadline = Instant::now() + Duration::from_secs(10);
        loop {
            std::thread::sleep(Duration::from_millis(300));
            let now = std::fs::metadata(&last_file).map_or(0, |m| m.len());
            if (now == size && now > 0) || Instant::now() > deadline {
                break;
            }
            size = now;
        }
        receiver.kill();
        drop(release);
        pump.join().unwrap();
        let lives = (0..=self.kills)
            .map(|n| {
                let bytes = std::fs::read(dir.join(format!("{n}"))).unwrap_or_default();
                bytes
                    .chunks_exact(8)
                    .map(|c| u64::from_le_bytes(c.try_into().unwrap()))
                    .collect()
            })
            .collect();
        CrashRun {
            accepted,
            lives,
            kernel,
            at_kill,
            open_after,
        }
    }
}

/// A Monocoque PUSH at 5,000 messages a second; its PULL (another
/// process) is killed twice and started again on the same endpoint.
/// Nothing is reordered or repeated across the crashes, each restarted
/// PULL receives (the PUSH reconnected), nothing is lost while a PULL
/// lives nor after the last restart, and what is lost at a crash is at
/// most what was queued: the kernel's buffers, the PULL's RCVHWM and the
/// batch the PUSH's writer held.
#[test]
fn a_crash_restart_loses_only_at_the_crash_and_never_reorders() {
    let run = Crash {
        pat: Pat::PushPull,
        send: Lib::Mono,
        recv: Lib::Mono,
        rate: 5000,
        kills: 2,
        every: Duration::from_millis(500),
    }
    .run();
    let summary = format!(
        "accepted {}, received {:?}, lost at kills {:?}, kernel held {:?}",
        run.accepted,
        run.lives.iter().map(Vec::len).collect::<Vec<_>>(),
        run.lost_at_kills(),
        run.kernel
    );
    eprintln!("{summary}");
    assert!(run.ordered(), "reordered or repeated: {summary}");
    assert!(
        run.lives.iter().all(|l| !l.is_empty()),
        "a restarted receiver got nothing: {summary}"
    );
    assert_eq!(run.lives[0][0], 0, "{summary}");
    assert_eq!(
        run.lost_within(),
        0,
        "lost while the receiver lived: {summary}"
    );
    assert_eq!(
        run.lost_at_end(),
        0,
        "lost after the last restart: {summary}"
    );
    for (lost, kernel) in run.lost_at_kills().iter().zip(&run.kernel) {
        // RCVHWM (1,000) and the writer's batch (at most 512) besides
        // the kernel's share.
        assert!(*lost <= kernel + 1000 + 512 + 100, "{summary}");
    }
}

/// A PUB of `lib` connected to a Monocoque SUB; the SUB goes away, the
/// PUB publishes 100 messages while it has no connection, then a new
/// SUB binds the endpoint. Returns how many of the 100 the new SUB got.
fn published_during_outage(lib: Lib) -> usize {
    let port = std::net::TcpListener::bind("127.0.0.1:0")
        .unwrap()
        .local_addr()
        .unwrap()
        .port();
    let ep = format!("tcp://127.0.0.1:{port}");
    let ctx = Context::new();
    let sub = |ctx: &Context| {
        let s = common::sock(ctx, SocketType::Sub);
        s.subscribe(b"").unwrap();
        let start = Instant::now();
        while s.bind(&ep).is_err() {
            assert!(start.elapsed() < common::T, "the port stayed taken");
            std::thread::sleep(Duration::from_millis(5));
        }
        s
    };
    let (tx, rx) = std::sync::mpsc::channel::<u64>();
    let publisher = {
        let ep = ep.clone();
        std::thread::spawn(move || {
            let sender = Sender::new(lib, Pat::PubSub, &ep);
            for n in rx {
                sender.offer(Pat::PubSub, n, 16);
            }
        })
    };
    let first = sub(&ctx);
    // Warm: until the first SUB hears the PUB.
    let deadline = Instant::now() + common::T;
    let mut n = 0;
    loop {
        assert!(Instant::now() < deadline, "the first SUB heard nothing");
        tx.send(n).unwrap();
        n += 1;
        if first.recv_timeout(Duration::from_millis(10)).is_ok() {
            break;
        }
    }
    drop(first);
    // The PUB sees its connection end and retries (refused) meanwhile.
    std::thread::sleep(Duration::from_millis(300));
    for i in 0..100 {
        tx.send(1_000_000 + i).unwrap();
    }
    std::thread::sleep(Duration::from_millis(50));
    let second = sub(&ctx);
    let mut during = 0;
    let deadline = Instant::now() + common::T;
    let mut after = 2_000_000;
    'outer: loop {
        assert!(Instant::now() < deadline, "the second SUB heard nothing");
        tx.send(after).unwrap();
        after += 1;
        while let Ok(m) = second.recv_timeout(Duration::from_millis(10)) {
            match seq_of(m.frames()) {
                s if (1_000_000..1_000_100).contains(&s) => during += 1,
                s if s >= 2_000_000 => break 'outer,
                _ => {}
            }
        }
    }
    drop(tx);
    publisher.join().unwrap();
    during
}

/// A connecting PUB keeps its peer's subscriptions while it reconnects,
/// so what it publishes meanwhile (up to SNDHWM) goes out on the new
/// connection, as libzmq's PUB does (checked first, as the reference).
///
/// This failed (libzmq delivered 100 of 100, Monocoque 0) while the PUB
/// forgot a peer's subscriptions when its connection ended
/// (`Pattern::detached` called `Pub::detach` whether or not the peer
/// entry was kept for the reconnect), so every message published until
/// the new connection's SUBSCRIBE arrived matched nobody and was dropped,
/// though `send` returned Ok: the excess in the PUB->SUB rows of
/// `crash_loss` before the fix.
#[test]
fn a_reconnecting_pub_queues_what_it_publishes_meanwhile() {
    let zmq = published_during_outage(Lib::Zmq);
    assert_eq!(zmq, 100, "libzmq's PUB delivered {zmq} of the 100");
    let mono = published_during_outage(Lib::Mono);
    assert_eq!(
        mono, 100,
        "Monocoque's PUB delivered {mono} of the 100 (libzmq's: {zmq})"
    );
}

/// Whether a socket on local `port` is established (the accepted end of
/// a connection to it), from `/proc/net/tcp` (quicker than `ss`).
fn established_on(port: u16) -> bool {
    let table = std::fs::read_to_string("/proc/net/tcp").unwrap();
    table.lines().skip(1).any(|l| {
        let f: Vec<&str> = l.split_whitespace().collect();
        let local_port = f[1]
            .rsplit(':')
            .next()
            .and_then(|p| u16::from_str_radix(p, 16).ok());
        local_port == Some(port) && f[3] == "01"
    })
}

/// Whether a receiver of `lib` killed (SIGKILL, and reaped) while a
/// libzmq PUSH streams to it still has its end of the connection open
/// at the first look after.
fn still_open_after_kill(lib: Lib) -> bool {
    let port = std::net::TcpListener::bind("127.0.0.1:0")
        .unwrap()
        .local_addr()
        .unwrap()
        .port();
    let ep = format!("tcp://127.0.0.1:{port}");
    let dir = Scratch::new("open");
    let env = [
        ("MQ_LIB", lib.name().to_owned()),
        ("MQ_PAT", Pat::PushPull.name().to_owned()),
        ("MQ_ADDR", ep.clone()),
        ("MQ_OUT", dir.join("0").display().to_string()),
    ];
    let exe = std::env::current_exe().unwrap();
    let mut receiver = Child::spawn(
        "receiver",
        std::process::Command::new(&exe),
        ENTRY,
        "crash_recv",
        &env,
    );
    receiver.expect("ready", common::T);
    // A stream at 20,000 messages a second, as in `crash_loss`.
    let stop = Arc::new(AtomicBool::new(false));
    let pump = {
        let (stop, ep) = (stop.clone(), ep.clone());
        std::thread::spawn(move || {
            let sender = Sender::new(Lib::Zmq, Pat::PushPull, &ep);
            let start = Instant::now();
            let mut n = 0u64;
            while !stop.load(Ordering::Relaxed) {
                if n as f64 >= start.elapsed().as_secs_f64() * 20_000.0 {
                    std::thread::sleep(Duration::from_micros(100));
                } else if sender.offer(Pat::PushPull, n, 16) {
                    n += 1;
                }
            }
        })
    };
    std::thread::sleep(Duration::from_millis(300));
    assert!(
        std::fs::metadata(dir.join("0")).map_or(0, |m| m.len()) > 0,
        "the receiver got nothing"
    );
    receiver.kill();
    let open = established_on(port);
    stop.store(true, Ordering::Relaxed);
    pump.join().unwrap();
    open
}

/// A receiver killed with SIGKILL closes its connections when its
/// process ends, as a libzmq receiver does (checked first): from then
/// on the sender's kernel gets a reset, not acknowledgements.
///
/// Fails today for a Monocoque receiver: its connection is still
/// established after the process was reaped, for 10 to 100 ms (more on
/// a loaded machine; `crash_loss` shows it per kill). The kernel releases a
/// dead process's io_uring, and the sockets that its pending requests
/// hold (the listener too: a restarted binder finds its port taken for
/// a few ms), in deferred work after the exit, not at the exit as it
/// closes descriptors. Meanwhile it goes on acknowledging what the
/// sender writes, into a buffer nobody will read: the excess of the
/// PUSH->PULL and DEALER->ROUTER rows of `crash_loss` (the libzmq ->
/// Monocoque column has it, the Monocoque -> libzmq one does not).
#[test]
#[ignore = "fails today: an io_uring receiver's sockets outlive its killed process"]
fn a_killed_receiver_closes_its_connection_when_its_process_ends() {
    let open = |lib| (0..5).filter(|_| still_open_after_kill(lib)).count();
    let zmq = open(Lib::Zmq);
    assert_eq!(zmq, 0, "libzmq's was still open in {zmq} of 5 kills");
    let mono = open(Lib::Mono);
    assert_eq!(
        mono, 0,
        "Monocoque's was still open after its process was reaped in {mono} of 5 kills"
    );
}

/// What a PUSH of `lib` loses when its receiver (libzmq's PULL, the
/// same for both), hung with every buffer full, is killed and started
/// again: 64 KiB messages, SO_SNDBUF and SO_RCVBUF of 64 KiB, the
/// receiver's RCVHWM 1, so that little is in the kernel. Returns
/// (lost, messages the kernel held at the kill).
fn hung_receiver_loss(lib: Lib) -> (u64, u64) {
    let size = 65_536;
    let port = std::net::TcpListener::bind("127.0.0.1:0")
        .unwrap()
        .local_addr()
        .unwrap()
        .port();
    let ep = format!("tcp://127.0.0.1:{port}");
    let dir = Scratch::new("hung");
    let exe = std::env::current_exe().unwrap();
    let start = |n: usize, stall: bool| {
        let mut env = vec![
            ("MQ_LIB", "zmq".to_owned()),
            ("MQ_PAT", Pat::PushPull.name().to_owned()),
            ("MQ_ADDR", ep.clone()),
            ("MQ_OUT", dir.join(n.to_string()).display().to_string()),
            ("MQ_RCVHWM", "1".to_owned()),
            ("MQ_BUF", "65536".to_owned()),
        ];
        if stall {
            env.push(("MQ_STALL", "1".to_owned()));
        }
        let mut c = Child::spawn(
            "receiver",
            std::process::Command::new(&exe),
            ENTRY,
            "crash_recv",
            &env,
        );
        c.expect("ready", common::T * 6);
        c
    };
    let mut receiver = start(0, true);
    let accepted = Arc::new(AtomicU64::new(0));
    let stop = Arc::new(AtomicBool::new(false));
    let (release, released) = std::sync::mpsc::channel::<()>();
    let pump = {
        let (accepted, stop, ep) = (accepted.clone(), stop.clone(), ep.clone());
        std::thread::spawn(move || {
            let sender = Sender::with_sndbuf(lib, Pat::PushPull, &ep, Some(65_536));
            let mut n = 0;
            while !stop.load(Ordering::Relaxed) {
                if sender.offer(Pat::PushPull, n, size) {
                    n += 1;
                    accepted.store(n, Ordering::SeqCst);
                }
            }
            let _ = released.recv();
        })
    };
    // Until the sender is held back (SNDHWM reached): every buffer full.
    std::thread::sleep(Duration::from_secs(1));
    let (held, _) = kill_and_measure(&mut receiver, port);
    receiver = start(1, false);
    std::thread::sleep(Duration::from_secs(1));
    stop.store(true, Ordering::Relaxed);
    std::thread::sleep(Duration::from_millis(100));
    let total = accepted.load(Ordering::SeqCst);
    let deadline = Instant::now() + common::T * 2;
    let count = |n: usize| std::fs::metadata(dir.join(n.to_string())).map_or(0, |m| m.len() / 8);
    // Until the new receiver's record stops growing.
    let mut seen = 0;
    while Instant::now() < deadline {
        std::thread::sleep(Duration::from_millis(300));
        let now = count(1);
        if now == seen && now > 0 {
            break;
        }
        seen = now;
    }
    let lost = total - count(0) - count(1);
    receiver.kill();
    drop(release);
    pump.join().unwrap();
    (lost, held / (size as u64 + 9))
}

/// A sender whose receiver hangs (every buffer full) and is then killed
/// loses no more than libzmq's does in the same place.
///
/// With 64 KiB messages Monocoque's PUSH lost 15 where libzmq's lost 6
/// (the kernel holding 3 of them for either): the writer takes a whole
/// round off the pipe, up to 512 messages or 1 MiB (`MAX_BATCH_MSGS`,
/// `MAX_BATCH_BYTES` in `engine/zmtp.rs`), and waits in `write_all`
/// while the kernel's buffer is full; the round was dropped with the
/// connection, though the kernel had never taken most of it. The writer
/// now gives the messages the kernel took none of back to the pipe
/// (`engine::Marks`), and the next connection sends them first. libzmq's
/// engine takes a message off its pipe only when its 8 KiB output buffer
/// has room, so it holds at most one message outside the pipe. A
/// connecter's pipe survives the reconnect in both. With 16-byte
/// messages the two were alike (512 of them are 9 KiB), so `crash_loss`
/// did not show it.
#[test]
fn a_hung_receiver_killed_costs_no_more_than_libzmq() {
    let (zmq, zmq_held) = hung_receiver_loss(Lib::Zmq);
    let (mono, mono_held) = hung_receiver_loss(Lib::Mono);
    eprintln!(
        "lost: libzmq {zmq} (kernel held {zmq_held}), Monocoque {mono} (kernel held {mono_held})"
    );
    assert!(
        mono <= zmq + 2,
        "Monocoque's PUSH lost {mono} messages of 64 KiB, libzmq's {zmq}"
    );
}

fn median(v: &mut [f64]) -> f64 {
    v.sort_by(|a, b| a.partial_cmp(b).unwrap());
    if v.is_empty() {
        return f64::NAN;
    }
    v[v.len() / 2]
}

/// The measurement: for each pattern and rate, four pairings (sender
/// -> receiver: Monocoque -> Monocoque, libzmq -> libzmq, and the two
/// mixed ones, which tell the sender's share from the receiver's),
/// `CRASH_REPS` runs of 3 kills each (default 3), medians. Prints a
/// markdown table. `CRASH_PATS` and `CRASH_RATES` narrow it
/// (comma-separated; rate 0 is unthrottled); `CRASH_SIZE` sets the
/// message size (16 bytes).
///
/// Loss per kill: what the sender accepted and no receiver got, over
/// the kills. "In a life": of that, what went missing between two
/// messages one receiver got (PUB drops: at SNDHWM, or while it has no
/// subscription from the peer).
#[test]
#[ignore = "a measurement (minutes): scripts/crash_loss.sh"]
fn crash_loss() {
    let reps = env_num("CRASH_REPS", 3) as usize;
    let rates: Vec<u64> = std::env::var("CRASH_RATES")
        .unwrap_or_else(|_| "1000,5000,20000,0".into())
        .split(',')
        .map(|r| r.parse().unwrap())
        .collect();
    let pats: Vec<Pat> = std::env::var("CRASH_PATS")
        .map(|p| p.split(',').map(Pat::parse).collect())
        .unwrap_or_else(|_| Pat::ALL.to_vec());
    use Lib::{Mono, Zmq};
    let stacks = [(Mono, Mono), (Zmq, Zmq), (Mono, Zmq), (Zmq, Mono)];
    let kills = 3;
    println!(
        "| pattern | rate (msg/s) | Monocoque loss/kill | libzmq loss/kill | ratio \
         | Monocoque -> libzmq | libzmq -> Monocoque | of which in a life (mono / zmq) \
         | kernel held at kill (mono / zmq) | receiver's socket open after kill, ms (mono / zmq) |"
    );
    println!("|---|---|---|---|---|---|---|---|---|---|");
    for &pat in &pats {
        for &rate in &rates {
            let mut loss = vec![Vec::new(); stacks.len()];
            let mut within = vec![Vec::new(); stacks.len()];
            let mut kernel = vec![Vec::new(); stacks.len()];
            let mut open = vec![Vec::new(); stacks.len()];
            for _ in 0..reps {
                for (i, &(send, recv)) in stacks.iter().enumerate() {
                    let run = Crash {
                        pat,
                        send,
                        recv,
                        rate,
                        kills,
                        every: Duration::from_millis(500),
                    }
                    .run();
                    let got: u64 = run.lives.iter().map(|l| l.len() as u64).sum();
                    // What never arrived, less what the first receiver
                    // missed before its first message (a PUB's messages
                    // before the first subscription).
                    let before = run.lives[0].first().copied().unwrap_or(0);
                    let lost = run.accepted.saturating_sub(got + before);
                    eprintln!(
                        "{} {rate}/s {}->{}: accepted {} at kills {:?}, lost {lost}: at kills {:?}, in a life {}, at end {}; kernel {:?}, open after {:?}, ordered {}",
                        pat.name(),
                        send.name(),
                        recv.name(),
                        run.accepted,
                        run.at_kill,
                        run.lost_at_kills(),
                        run.lost_within(),
                        run.lost_at_end(),
                        run.kernel,
                        run.open_after,
                        run.ordered()
                    );
                    loss[i].push(lost as f64 / kills as f64);
                    within[i].push(run.lost_within() as f64 / kills as f64);
                    kernel[i].extend(run.kernel.iter().map(|&k| k as f64));
                    open[i].extend(run.open_after.iter().map(|d| d.as_secs_f64() * 1e3));
                }
            }
            let m: Vec<f64> = loss.iter_mut().map(|l| median(l)).collect();
            let w: Vec<f64> = within.iter_mut().map(|l| median(l)).collect();
            let k: Vec<f64> = kernel.iter_mut().map(|l| median(l)).collect();
            let o: Vec<f64> = open.iter_mut().map(|l| median(l)).collect();
            let ratio = if m[1] > 0.0 {
                format!("{:.1}", m[0] / m[1])
            } else {
                "-".into()
            };
            let rate_s = if rate == 0 {
                "unthrottled".to_owned()
            } else {
                rate.to_string()
            };
            println!(
                "| {} | {rate_s} | {:.0} | {:.0} | {ratio} | {:.0} | {:.0} | {:.0} / {:.0} | {:.0} / {:.0} | {:.0} / {:.0} |",
                pat.name(),
                m[0],
                m[1],
                m[2],
                m[3],
                w[0],
                w[1],
                k[0],
                k[1],
                o[0],
                o[1]
            );
        }
    }
}
