//! The library traces with the `tracing` crate: a subscriber sees each
//! connection's span, its handshake and its disconnection with the
//! reason. And `Socket::stats` counts what each socket carried. The
//! subscriber here is a small one of our own (no `tracing-subscriber`).
#![allow(clippy::unwrap_used)]

mod common;

use std::fmt::Write as _;
use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

use common::{bind, sock, wait_peers, Tr, T};
use monocoque::{Context, SocketType};
use tracing::field::{Field, Visit};
use tracing::span::{Attributes, Id, Record};
use tracing::{Event, Metadata, Subscriber};

/// Every event as `level span-names: field=value ...`.
#[derive(Default)]
struct Collect {
    lines: Mutex<Vec<String>>,
    spans: Mutex<Vec<(u64, String)>>,
    next: AtomicU64,
}

struct Fields(String);

impl Visit for Fields {
    fn record_debug(&mut self, field: &Field, value: &dyn std::fmt::Debug) {
        let _ = write!(self.0, " {}={:?}", field.name(), value);
    }
    fn record_str(&mut self, field: &Field, value: &str) {
        let _ = write!(self.0, " {}={}", field.name(), value);
    }
}

/// The subscriber: a handle on what it collects.
struct Shared(Arc<Collect>);

impl Subscriber for Shared {
    fn enabled(&self, _: &Metadata<'_>) -> bool {
        true
    }
    fn new_span(&self, span: &Attributes<'_>) -> Id {
        let id = self.0.next.fetch_add(1, Ordering::Relaxed) + 1;
        let mut f = Fields(span.metadata().name().to_owned());
        span.record(&mut f);
        self.0.spans.lock().unwrap().push((id, f.0));
        Id::from_u64(id)
    }
    fn record(&self, _: &Id, _: &Record<'_>) {}
    fn record_follows_from(&self, _: &Id, _: &Id) {}
    fn event(&self, event: &Event<'_>) {
        let mut f = Fields(format!(
            "{} {}:",
            event.metadata().level(),
            event.metadata().target()
        ));
        event.record(&mut f);
        // The span the event fell in, if any: the current one of this
        // thread (the engine's task polls inside it).
        if let Some(span) = CURRENT.with(|c| c.borrow().last().cloned()) {
            let spans = self.0.spans.lock().unwrap();
            if let Some((_, name)) = spans.iter().find(|(id, _)| *id == span) {
                f.0.push_str(&format!(" in[{name}]"));
            }
        }
        self.0.lines.lock().unwrap().push(f.0);
    }
    fn enter(&self, span: &Id) {
        CURRENT.with(|c| c.borrow_mut().push(span.into_u64()));
    }
    fn exit(&self, _: &Id) {
        CURRENT.with(|c| {
            c.borrow_mut().pop();
        });
    }
}

thread_local! {
    static CURRENT: std::cell::RefCell<Vec<u64>> = const { std::cell::RefCell::new(Vec::new()) };
}

fn wait_for_line(c: &Collect, what: &str, pred: impl Fn(&str) -> bool) -> String {
    let deadline = Instant::now() + T;
    loop {
        if let Some(l) = c.lines.lock().unwrap().iter().find(|l| pred(l)) {
            return l.clone();
        }
        assert!(
            Instant::now() < deadline,
            "no {what} traced: {:#?}",
            c.lines.lock().unwrap()
        );
        std::thread::sleep(Duration::from_millis(10));
    }
}

#[test]
fn a_connection_is_traced_in_its_span_and_stats_count_what_it_carried() {
    let collect = Arc::new(Collect::default());
    tracing::subscriber::set_global_default(Shared(collect.clone())).unwrap();

    let ctx = Context::new();
    let pull = sock(&ctx, SocketType::Pull);
    let ep = bind(&pull, Tr::Tcp);
    let push = sock(&ctx, SocketType::Push);
    push.connect(&ep).unwrap();
    wait_peers(&push, 1);
    for i in 0..10 {
        push.send(format!("message {i}")).unwrap();
    }
    for _ in 0..10 {
        pull.recv().unwrap();
    }
    let handshake = wait_for_line(&collect, "handshake", |l| {
        l.contains("handshake succeeded") && l.contains("in[connection")
    });
    assert!(handshake.starts_with("DEBUG monocoque:"), "{handshake}");
    assert!(
        handshake.contains("socket=PULL") || handshake.contains("socket=PUSH"),
        "{handshake}"
    );
    drop(push);
    let gone = wait_for_line(&collect, "disconnection", |l| l.contains("disconnected"));
    assert!(gone.starts_with("INFO monocoque:"), "{gone}");
    assert!(gone.contains("reason="), "{gone}");

    let s = pull.stats();
    assert_eq!((s.messages_in, s.bytes_in), (10, 10 * 9));
    assert_eq!((s.messages_out, s.dropped), (0, 0));
}

#[test]
fn stats_count_drops_at_a_full_subscriber_and_reconnects() {
    let ctx = Context::new();
    let publ = sock(&ctx, SocketType::Pub);
    publ.update_options(|o| o.sndhwm = 10);
    publ.bind("inproc://stats-drops").unwrap();
    let sub = sock(&ctx, SocketType::Sub);
    sub.update_options(|o| o.rcvhwm = 10);
    sub.connect("inproc://stats-drops").unwrap();
    sub.subscribe("").unwrap();
    for _ in 0..100 {
        publ.send("x").unwrap();
    }
    let s = publ.stats();
    assert_eq!(s.messages_out, 100);
    assert!(s.dropped >= 70, "{s:?}");
    assert_eq!(s.messages_out - s.dropped, {
        let mut got = 0;
        while sub.try_recv().is_ok() {
            got += 1;
        }
        got
    });

    // A connecter to nobody tries again and again.
    let push = sock(&ctx, SocketType::Push);
    push.update_options(|o| o.reconnect_ivl = Duration::from_millis(10));
    let port = std::net::TcpListener::bind("127.0.0.1:0")
        .unwrap()
        .local_addr()
        .unwrap()
        .port();
    push.connect(&format!("tcp://127.0.0.1:{port}")).unwrap();
    let deadline = Instant::now() + T;
    while push.stats().reconnects < 3 {
        assert!(Instant::now() < deadline, "{:?}", push.stats());
        std::thread::sleep(Duration::from_millis(10));
    }
}

/// Receivers taking messages from one socket at once are each counted
/// once: the current run's count is kept under its lock, the rest with
/// atomic additions, and the two add up.
#[test]
fn stats_count_every_message_with_several_receivers_at_once() {
    const N: usize = 40_000;
    const THREADS: usize = 4;
    let ctx = Context::new();
    let pull = Arc::new(sock(&ctx, SocketType::Pull));
    let ep = bind(&pull, Tr::Tcp);
    let push = sock(&ctx, SocketType::Push);
    push.connect(&ep).unwrap();
    wait_peers(&push, 1);
    let got = Arc::new(AtomicU64::new(0));
    let receivers: Vec<_> = (0..THREADS)
        .map(|_| {
            let (pull, got) = (pull.clone(), got.clone());
            std::thread::spawn(move || {
                while got.load(Ordering::Relaxed) < N as u64 {
                    if pull.recv_timeout(Duration::from_millis(50)).is_ok() {
                        got.fetch_add(1, Ordering::Relaxed);
                    }
                }
            })
        })
        .collect();
    for _ in 0..N {
        push.send("abc").unwrap();
    }
    for r in receivers {
        r.join().unwrap();
    }
    assert_eq!(got.load(Ordering::Relaxed), N as u64);
    let s = pull.stats();
    assert_eq!((s.messages_in, s.bytes_in), (N as u64, 3 * N as u64));
}
