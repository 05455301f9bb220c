//! Soak (issue 15): mixed patterns for a long time, every message
//! sequence-numbered and checked, the process's memory and descriptors
//! sampled, a table at the end. Not part of CI: `#[ignore]`d, run by
//! `scripts/soak.sh` (an hour by default).
//!
//! Patterns, all at once, each in threads of its own (`*`: the peer is
//! libzmq, through the `zmq` crate):
//!
//! | name | what | checked |
//! | --- | --- | --- |
//! | `pp-tcp` | PUSH to PULL over tcp | lossless, in order |
//! | `pp-ipc*` | libzmq PUSH to PULL over ipc | lossless, in order |
//! | `ps-inp` | PUB to SUB over inproc | in order, once; drops counted |
//! | `ps-tcp*` | PUB to libzmq SUB over tcp | in order, once; drops counted |
//! | `rr-ipc*` | REQ to libzmq REP over ipc | each reply is its request |
//! | `rr-inp` | REQ to REP over inproc | each reply is its request |
//! | `rd-tcp*` | 4 libzmq DEALERs to a ROUTER over tcp, echoed | lossless, in order per DEALER |
//! | `churn` | a new DEALER every 100 ms to that ROUTER: 10 round trips, then closed | each echo |
//!
//! Bodies are 8 bytes of sequence number and a filler of 0 to 2 KiB whose
//! bytes are the number's low byte, so a corrupted body is caught too.
//!
//! Environment: `SOAK_SECS` (default 3600), `SOAK_SAMPLE_SECS` (5),
//! `SOAK_BURST` (messages a one-way sender sends per millisecond, 10),
//! `SOAK_PATTERNS` (the names of the patterns to run, comma-separated;
//! all by default), `SOAK_OUT` (the file the table is written to,
//! `soak.md`).
#![allow(clippy::unwrap_used)]

#[path = "common/proc.rs"]
mod proc_status;

use std::fmt::Write as _;
use std::sync::atomic::{AtomicBool, AtomicU64, Ordering};
use std::time::{Duration, Instant};

use bytes::Bytes;
use monocoque::{Context, Error, Message, Socket, SocketType};
use proc_status::{fds, Mem};

/// How long a message that must arrive may take.
const T: Duration = Duration::from_secs(10);
const POLL: Duration = Duration::from_millis(100);
/// Errors printed as they happen (all are counted).
const PRINTED: u64 = 20;

fn env(name: &str, default: u64) -> u64 {
    std::env::var(name)
        .ok()
        .and_then(|v| v.parse().ok())
        .unwrap_or(default)
}

// ---- what each pattern counts ----

/// One pattern's counters.
#[derive(Debug)]
struct Pattern {
    name: &'static str,
    /// Messages received and checked.
    msgs: AtomicU64,
    /// Messages a non-blocking pattern (PUB) dropped: gaps in the numbers.
    dropped: AtomicU64,
    /// Messages lost, reordered, repeated or corrupted; replies that did
    /// not come; calls that failed.
    errors: AtomicU64,
}

static ERRORS: AtomicU64 = AtomicU64::new(0);

impl Pattern {
    fn new(name: &'static str) -> Pattern {
        Pattern {
            name,
            msgs: AtomicU64::new(0),
            dropped: AtomicU64::new(0),
            errors: AtomicU64::new(0),
        }
    }

    fn error(&self, what: impl std::fmt::Display) {
        self.errors.fetch_add(1, Ordering::Relaxed);
        if ERRORS.fetch_add(1, Ordering::Relaxed) < PRINTED {
            eprintln!("soak: {}: {what}", self.name);
        }
    }

    fn got(&self) {
        self.msgs.fetch_add(1, Ordering::Relaxed);
    }
}

/// A body: the sequence number, then a filler of its low byte.
fn body(seq: u64) -> Vec<u8> {
    let mut b = seq.to_be_bytes().to_vec();
    b.resize(8 + (seq.wrapping_mul(7919) % 2048) as usize, seq as u8);
    b
}

/// The sequence number of a body, if it is whole.
fn parse(p: &Pattern, b: &[u8]) -> Option<u64> {
    let Some(seq) = b
        .get(..8)
        .map(|h| u64::from_be_bytes(h.try_into().unwrap()))
    else {
        p.error(format!("a body of {} bytes", b.len()));
        return None;
    };
    if b[8..] != body(seq)[8..] {
        p.error(format!("message {seq} corrupted"));
        return None;
    }
    Some(seq)
}

/// Checks the numbers of one stream: `lossless`, each is the next; else
/// each is later than the last (the first may be any: a subscriber joins
/// mid-stream), gaps counted as dropped.
#[derive(Debug)]
struct Order {
    next: Option<u64>,
    lossless: bool,
}

impl Order {
    fn new(lossless: bool) -> Order {
        Order {
            next: lossless.then_some(0),
            lossless,
        }
    }

    fn take(&mut self, p: &Pattern, b: &[u8]) {
        let Some(seq) = parse(p, b) else { return };
        match self.next {
            Some(n) if seq < n => p.error(format!("{seq} after {} (reordered or repeated)", n - 1)),
            Some(n) if seq > n && self.lossless => {
                p.error(format!("{} lost before {seq}", seq - n))
            }
            Some(n) => {
                p.dropped.fetch_add(seq - n, Ordering::Relaxed);
            }
            None => {}
        }
        self.next = Some(seq + 1);
        p.got();
    }
}

// ---- the patterns ----

fn mq(ctx: &Context, ty: SocketType) -> Socket {
    let s = ctx.socket(ty).unwrap();
    s.update_options(|o| {
        o.rcvtimeo = Some(POLL);
        o.sndtimeo = Some(T);
        o.linger = Some(Duration::ZERO);
        o.reconnect_ivl = Duration::from_millis(100);
    });
    s
}

fn zmq_socket(ctx: &zmq::Context, ty: zmq::SocketType) -> zmq::Socket {
    let s = ctx.socket(ty).unwrap();
    s.set_rcvtimeo(POLL.as_millis() as i32).unwrap();
    s.set_sndtimeo(T.as_millis() as i32).unwrap();
    s.set_linger(0).unwrap();
    s
}

fn ipc() -> String {
    format!("ipc:///tmp/mq-soak-{}-{}.sock", std::process::id(), {
        static N: AtomicU64 = AtomicU64::new(0);
        N.fetch_add(1, Ordering::Relaxed)
    })
}

/// A one-way stream: `send` in one thread, `recv` in another, until
/// `stop`; then everything sent must arrive (`lossless`) or at least
/// nothing may come out of order.
fn one_way(
    p: &Pattern,
    stop: &AtomicBool,
    lossless: bool,
    mut send: impl FnMut(Vec<u8>) -> Result<(), String> + Send,
    mut recv: impl FnMut() -> Option<Vec<u8>>,
) {
    let burst = env("SOAK_BURST", 10);
    let sent = AtomicU64::new(u64::MAX);
    std::thread::scope(|s| {
        s.spawn(|| {
            let mut n = 0u64;
            while !stop.load(Ordering::Relaxed) {
                for _ in 0..burst {
                    match send(body(n)) {
                        Ok(()) => n += 1,
                        Err(e) => p.error(format!("send {n}: {e}")),
                    }
                }
                std::thread::sleep(Duration::from_millis(1));
            }
            sent.store(n, Ordering::Release);
        });
        let mut order = Order::new(lossless);
        let mut quiet_since = None;
        loop {
            match recv() {
                Some(b) => {
                    order.take(p, &b);
                    quiet_since = None;
                }
                None => {
                    let total = sent.load(Ordering::Acquire);
                    if total == u64::MAX {
                        continue;
                    }
                    let want = if lossless {
                        total
                    } else {
                        order.next.unwrap_or(0)
                    };
                    if order.next.unwrap_or(0) >= want {
                        return;
                    }
                    let since = *quiet_since.get_or_insert_with(Instant::now);
                    if since.elapsed() > T {
                        let missing = want - order.next.unwrap_or(0);
                        p.error(format!("{missing} of {total} never arrived"));
                        return;
                    }
                }
            }
        }
    });
}

fn mq_recv(s: &Socket) -> Option<Vec<u8>> {
    match s.recv() {
        Ok(m) => Some(m[0].to_vec()),
        Err(Error::WouldBlock) => None,
        Err(e) => panic!("recv: {e}"),
    }
}

fn zmq_recv(s: &zmq::Socket) -> Option<Vec<u8>> {
    match s.recv_bytes(0) {
        Ok(b) => Some(b),
        Err(zmq::Error::EAGAIN) => None,
        Err(e) => panic!("libzmq recv: {e}"),
    }
}

fn msg(b: Vec<u8>) -> Message {
    Message::from(Bytes::from(b))
}

/// Requests and replies until `stop`: `call` sends a request and returns
/// the reply (`None`: none came within [`T`]).
fn round_trips(p: &Pattern, stop: &AtomicBool, mut call: impl FnMut(Vec<u8>) -> Option<Vec<u8>>) {
    let mut n = 0u64;
    while !stop.load(Ordering::Relaxed) {
        match call(body(n)) {
            Some(r) if parse(p, &r) == Some(n) => p.got(),
            Some(_) => p.error(format!("the reply to {n} is not its request")),
            None => p.error(format!("no reply to {n}")),
        }
        n += 1;
    }
}

/// A REQ's request and its reply, waiting at most [`T`].
fn mq_call(req: &Socket, b: Vec<u8>) -> Option<Vec<u8>> {
    req.send(msg(b)).ok()?;
    req.recv_timeout(T).ok().map(|m| m[0].to_vec())
}

/// Runs every pattern until `stop`. The clients stop first (each ends
/// what it started: a window of echoes, a round trip), then the servers.
fn run(patterns: &[Pattern], stop: &AtomicBool) {
    let ctx = Context::new();
    let zctx = zmq::Context::new();
    let servers_stop = AtomicBool::new(false);
    let serving = || !servers_stop.load(Ordering::Relaxed);

    // The servers: two REPs (libzmq over ipc, Monocoque over inproc) and
    // a ROUTER (over tcp) echoing whatever comes.
    let zrep = zmq_socket(&zctx, zmq::REP);
    let rr_ipc_ep = ipc();
    zrep.bind(&rr_ipc_ep).unwrap();
    let rep = mq(&ctx, SocketType::Rep);
    rep.bind("inproc://soak-rep").unwrap();
    let router = mq(&ctx, SocketType::Router);
    router.bind("tcp://127.0.0.1:*").unwrap();
    let rd_ep = router.last_endpoint().unwrap();

    std::thread::scope(|servers| {
        servers.spawn(move || {
            while serving() {
                if let Some(b) = zmq_recv(&zrep) {
                    zrep.send(b, 0).unwrap();
                }
            }
        });
        servers.spawn(|| {
            while serving() {
                if let Ok(m) = rep.recv() {
                    rep.send(m).unwrap();
                }
            }
        });
        servers.spawn(|| {
            while serving() {
                if let Ok(m) = router.recv() {
                    // A churner may be gone: the ROUTER drops its echo.
                    router.send(m).unwrap();
                }
            }
        });
        std::thread::scope(|s| clients(s, &ctx, &zctx, patterns, stop, &rr_ipc_ep, &rd_ep));
        servers_stop.store(true, Ordering::Relaxed);
    });
}

/// The clients of [`run`], and the one-way streams.
fn clients<'s>(
    s: &'s std::thread::Scope<'s, '_>,
    ctx: &'s Context,
    zctx: &zmq::Context,
    patterns: &'s [Pattern],
    stop: &'s AtomicBool,
    rr_ipc_ep: &str,
    rd_ep: &'s str,
) {
    let [pp_tcp, pp_ipc, ps_inp, ps_tcp, rr_ipc, rr_inp, rd_tcp, churn] = patterns else {
        unreachable!()
    };

    let chosen = std::env::var("SOAK_PATTERNS").ok();
    let on = |name: &str| {
        chosen
            .as_deref()
            .is_none_or(|c| c.split(',').any(|n| n == name))
    };

    // pp-tcp
    if on("pp-tcp") {
        let pull = mq(ctx, SocketType::Pull);
        pull.bind("tcp://127.0.0.1:*").unwrap();
        let push = mq(ctx, SocketType::Push);
        push.connect(&pull.last_endpoint().unwrap()).unwrap();
        s.spawn(move || {
            one_way(
                pp_tcp,
                stop,
                true,
                |b| push.send(msg(b)).map_err(|e| e.to_string()),
                || mq_recv(&pull),
            )
        });
    }

    // pp-ipc*: libzmq PUSH
    if on("pp-ipc*") {
        let pull = mq(ctx, SocketType::Pull);
        pull.bind(&ipc()).unwrap();
        let push = zmq_socket(zctx, zmq::PUSH);
        push.connect(&pull.last_endpoint().unwrap()).unwrap();
        s.spawn(move || {
            one_way(
                pp_ipc,
                stop,
                true,
                move |b| push.send(b, 0).map_err(|e| e.to_string()),
                || mq_recv(&pull),
            )
        });
    }

    // ps-inp
    if on("ps-inp") {
        let publ = mq(ctx, SocketType::Pub);
        publ.bind("inproc://soak-pub").unwrap();
        let sub = mq(ctx, SocketType::Sub);
        sub.subscribe("").unwrap();
        sub.connect("inproc://soak-pub").unwrap();
        s.spawn(move || {
            one_way(
                ps_inp,
                stop,
                false,
                |b| publ.send(msg(b)).map_err(|e| e.to_string()),
                || mq_recv(&sub),
            )
        });
    }

    // ps-tcp*: libzmq SUB
    if on("ps-tcp*") {
        let publ = mq(ctx, SocketType::Pub);
        publ.bind("tcp://127.0.0.1:*").unwrap();
        let sub = zmq_socket(zctx, zmq::SUB);
        sub.set_subscribe(b"").unwrap();
        sub.connect(&publ.last_endpoint().unwrap()).unwrap();
        s.spawn(move || {
            one_way(
                ps_tcp,
                stop,
                false,
                |b| publ.send(msg(b)).map_err(|e| e.to_string()),
                || zmq_recv(&sub),
            )
        });
    }

    // rr-ipc*, rr-inp
    if on("rr-ipc*") {
        let req = mq(ctx, SocketType::Req);
        req.connect(rr_ipc_ep).unwrap();
        s.spawn(move || round_trips(rr_ipc, stop, |b| mq_call(&req, b)));
    }
    if on("rr-inp") {
        let req = mq(ctx, SocketType::Req);
        req.connect("inproc://soak-rep").unwrap();
        s.spawn(move || round_trips(rr_inp, stop, |b| mq_call(&req, b)));
    }

    // rd-tcp*: libzmq DEALERs, a window of 16 in flight each.
    if on("rd-tcp*") {
        for d in 0..4 {
            let dealer = zmq_socket(zctx, zmq::DEALER);
            dealer
                .set_identity(format!("dealer-{d}").as_bytes())
                .unwrap();
            dealer.set_rcvtimeo(T.as_millis() as i32).unwrap();
            dealer.connect(rd_ep).unwrap();
            s.spawn(move || {
                let (mut n, mut order) = (0u64, Order::new(true));
                while !stop.load(Ordering::Relaxed) {
                    for _ in 0..16 {
                        dealer.send(body(n), 0).unwrap();
                        n += 1;
                    }
                    for _ in 0..16 {
                        match dealer.recv_bytes(0) {
                            Ok(b) => order.take(rd_tcp, &b),
                            Err(e) => {
                                rd_tcp.error(format!("dealer-{d}: no echo ({e})"));
                                return;
                            }
                        }
                    }
                    std::thread::sleep(Duration::from_millis(1));
                }
            });
        }
    }

    // churn: DEALERs that come and go.
    if on("churn") {
        s.spawn(move || {
            let mut n = 0u64;
            while !stop.load(Ordering::Relaxed) {
                let d = mq(ctx, SocketType::Dealer);
                d.connect(rd_ep).unwrap();
                for _ in 0..10 {
                    d.send(msg(body(n))).unwrap();
                    match d.recv_timeout(T) {
                        Ok(m) if parse(churn, &m[0]) == Some(n) => churn.got(),
                        Ok(_) => churn.error(format!("the echo of {n} is another message")),
                        Err(e) => churn.error(format!("no echo of {n} ({e})")),
                    }
                    n += 1;
                }
                d.close();
                std::thread::sleep(Duration::from_millis(100));
            }
        });
    }
}

// ---- samples and the table ----

/// One sample.
#[derive(Clone, Debug)]
struct Row {
    secs: u64,
    mem: Mem,
    fds: usize,
    msgs: Vec<u64>,
    dropped: u64,
    errors: u64,
}

impl Row {
    fn now(start: Instant, patterns: &[Pattern]) -> Row {
        Row {
            secs: start.elapsed().as_secs(),
            mem: Mem::now(),
            fds: fds(),
            msgs: patterns
                .iter()
                .map(|p| p.msgs.load(Ordering::Relaxed))
                .collect(),
            dropped: patterns
                .iter()
                .map(|p| p.dropped.load(Ordering::Relaxed))
                .sum(),
            errors: patterns
                .iter()
                .map(|p| p.errors.load(Ordering::Relaxed))
                .sum(),
        }
    }

    fn line(&self) -> String {
        let mut l = format!(
            "| {:>6} | {:>8} | {:>8} | {:>4} |",
            self.secs,
            self.mem.rss / 1024,
            self.mem.vm / 1024,
            self.fds
        );
        for m in &self.msgs {
            write!(l, " {m:>10} |").unwrap();
        }
        write!(l, " {:>7} | {:>6} |", self.dropped, self.errors).unwrap();
        l
    }
}

fn header(patterns: &[Pattern]) -> String {
    let mut h = String::from("| time s | RSS MiB | VmSz MiB |  fds |");
    let mut rule = String::from("| ---: | ---: | ---: | ---: |");
    for p in patterns {
        write!(h, " {:>10} |", p.name).unwrap();
        rule.push_str(" ---: |");
    }
    h.push_str(" dropped | errors |");
    rule.push_str(" ---: | ---: |");
    format!("{h}\n{rule}")
}

/// The table of `rows`, at most `max` of them (evenly spaced, the first
/// and the last kept).
fn table(patterns: &[Pattern], rows: &[Row], max: usize) -> String {
    let step = rows.len().div_ceil(max).max(1);
    let mut t = header(patterns);
    for (i, r) in rows.iter().enumerate() {
        if i % step == 0 || i + 1 == rows.len() {
            t.push('\n');
            t.push_str(&r.line());
        }
    }
    t
}

#[test]
#[ignore = "a soak: run by scripts/soak.sh"]
fn soak() {
    let secs = env("SOAK_SECS", 3600);
    let every = Duration::from_secs(env("SOAK_SAMPLE_SECS", 5));
    let out = std::env::var("SOAK_OUT").unwrap_or_else(|_| "soak.md".into());
    let names = [
        "pp-tcp", "pp-ipc*", "ps-inp", "ps-tcp*", "rr-ipc*", "rr-inp", "rd-tcp*", "churn",
    ];
    let patterns: Vec<Pattern> = names.into_iter().map(Pattern::new).collect();
    let stop = AtomicBool::new(false);
    let mut rows = Vec::new();
    let start = Instant::now();
    eprintln!("soak: {secs} s, a sample every {every:?}");
    eprintln!("{}", header(&patterns));
    std::thread::scope(|s| {
        s.spawn(|| run(&patterns, &stop));
        let deadline = start + Duration::from_secs(secs);
        let mut next = start;
        while Instant::now() < deadline {
            next += every;
            std::thread::sleep(next.saturating_duration_since(Instant::now()));
            let row = Row::now(start, &patterns);
            eprintln!("{}", row.line());
            rows.push(row);
        }
        stop.store(true, Ordering::Relaxed);
    });

    // What changed from the sample at a tenth of the run (warmed up) to
    // the last; the message counts are the final ones, after the drain.
    let warm = &rows[rows.len() / 10];
    let last = rows.last().unwrap();
    let elapsed = start.elapsed().as_secs_f64();
    let mut summary = format!(
        "{secs} s soak, {} samples; from {} s to the end: RSS {:+} KiB, VmSize {:+} KiB, \
         descriptors {} to {} (between {} and {} over the run)\n\n\
         | pattern | messages | per second | dropped | errors |\n| --- | ---: | ---: | ---: | ---: |\n",
        rows.len(),
        warm.secs,
        last.mem.rss - warm.mem.rss,
        last.mem.vm - warm.mem.vm,
        warm.fds,
        last.fds,
        rows.iter().map(|r| r.fds).min().unwrap(),
        rows.iter().map(|r| r.fds).max().unwrap(),
    );
    for p in &patterns {
        let n = p.msgs.load(Ordering::Relaxed);
        writeln!(
            summary,
            "| {} | {n} | {:.0} | {} | {} |",
            p.name,
            n as f64 / elapsed,
            p.dropped.load(Ordering::Relaxed),
            p.errors.load(Ordering::Relaxed)
        )
        .unwrap();
    }
    let full = format!("{summary}\n{}\n", table(&patterns, &rows, usize::MAX));
    std::fs::write(&out, &full).unwrap();
    eprintln!(
        "\n{summary}\n{}\n\nwritten to {out}",
        table(&patterns, &rows, 30)
    );
    let errors: u64 = patterns
        .iter()
        .map(|p| p.errors.load(Ordering::Relaxed))
        .sum();
    assert_eq!(errors, 0, "the soak saw errors");
    assert!(
        patterns.iter().any(|p| p.msgs.load(Ordering::Relaxed) > 0),
        "nothing was carried"
    );
}
