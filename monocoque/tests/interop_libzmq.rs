//! Interop against real libzmq (the `zmq` crate's vendored libzmq 4.3):
//! every compatible socket pair, Monocoque on each end in turn, as binder
//! and as connecter, over tcp and ipc, with multipart messages holding
//! empty frames and a 1 MiB frame.
#![allow(clippy::unwrap_used)]

use std::sync::atomic::{AtomicUsize, Ordering};
use std::time::{Duration, Instant};

use bytes::Bytes;
use monocoque::{Context, SocketType};

const TIMEOUT: Duration = Duration::from_secs(10);

type Frames = Vec<Vec<u8>>;

/// One end of a pair, whichever library runs it.
trait End {
    fn bind(&self, ep: &str) -> String;
    fn connect(&self, ep: &str);
    fn send(&self, frames: &Frames);
    fn recv(&self) -> Frames;
    /// `None` when nothing arrived within `t`.
    fn recv_within(&self, t: Duration) -> Option<Frames>;
    fn subscribe(&self, prefix: &[u8]);
}

struct Mono(monocoque::Socket);

impl End for Mono {
    fn bind(&self, ep: &str) -> String {
        self.0.bind(ep).unwrap();
        self.0.last_endpoint().unwrap()
    }
    fn connect(&self, ep: &str) {
        self.0.connect(ep).unwrap();
    }
    fn send(&self, frames: &Frames) {
        let msg: monocoque::Message = frames.iter().map(|f| Bytes::from(f.clone())).collect();
        self.0.send(msg).unwrap();
    }
    fn recv(&self) -> Frames {
        self.recv_within(TIMEOUT).expect("monocoque recv timed out")
    }
    fn recv_within(&self, t: Duration) -> Option<Frames> {
        self.0.update_options(|o| o.rcvtimeo = Some(t));
        match self.0.recv() {
            Ok(m) => Some(m.frames().iter().map(|f| f.to_vec()).collect()),
            Err(monocoque::Error::WouldBlock) => None,
            Err(e) => panic!("monocoque recv: {e}"),
        }
    }
    fn subscribe(&self, prefix: &[u8]) {
        if self.0.socket_type() == SocketType::Xsub {
            let mut m = vec![1u8];
            m.extend_from_slice(prefix);
            self.0.send(m).unwrap();
        } else {
            self.0.subscribe(prefix).unwrap();
        }
    }
}

struct Zmq(zmq::Socket);

impl End for Zmq {
    fn bind(&self, ep: &str) -> String {
        self.0.bind(ep).unwrap();
        self.0.get_last_endpoint().unwrap().unwrap()
    }
    fn connect(&self, ep: &str) {
        self.0.connect(ep).unwrap();
    }
    fn send(&self, frames: &Frames) {
        self.0.send_multipart(frames.iter(), 0).unwrap();
    }
    fn recv(&self) -> Frames {
        self.recv_within(TIMEOUT).expect("libzmq recv timed out")
    }
    fn recv_within(&self, t: Duration) -> Option<Frames> {
        self.0.set_rcvtimeo(t.as_millis() as i32).unwrap();
        match self.0.recv_multipart(0) {
            Ok(m) => Some(m),
            Err(zmq::Error::EAGAIN) => None,
            Err(e) => panic!("libzmq recv: {e}"),
        }
    }
    fn subscribe(&self, prefix: &[u8]) {
        if self.0.get_socket_type().unwrap() == zmq::SocketType::XSUB {
            let mut m = vec![1u8];
            m.extend_from_slice(prefix);
            self.0.send(m, 0).unwrap();
        } else {
            self.0.set_subscribe(prefix).unwrap();
        }
    }
}

fn zmq_type(t: SocketType) -> zmq::SocketType {
    match t {
        SocketType::Pair => zmq::PAIR,
        SocketType::Pub => zmq::PUB,
        SocketType::Sub => zmq::SUB,
        SocketType::Xpub => zmq::XPUB,
        SocketType::Xsub => zmq::XSUB,
        SocketType::Req => zmq::REQ,
        SocketType::Rep => zmq::REP,
        SocketType::Dealer => zmq::DEALER,
        SocketType::Router => zmq::ROUTER,
        SocketType::Push => zmq::PUSH,
        SocketType::Pull => zmq::PULL,
        SocketType::Stream => zmq::STREAM,
        other => panic!("no libzmq peer for {other:?}"),
    }
}

struct Libs {
    mono: Context,
    zmq: zmq::Context,
}

impl Libs {
    fn new() -> Self {
        Libs {
            mono: Context::new(),
            zmq: zmq::Context::new(),
        }
    }

    fn make(&self, mono: bool, t: SocketType, id: Option<&[u8]>) -> Box<dyn End> {
        if mono {
            let s = self.mono.socket(t).unwrap();
            s.update_options(|o| {
                o.linger = Some(Duration::from_secs(1));
                o.routing_id = id.map(Bytes::copy_from_slice);
                o.router_mandatory = t == SocketType::Router;
            });
            Box::new(Mono(s))
        } else {
            let s = self.zmq.socket(zmq_type(t)).unwrap();
            s.set_linger(1000).unwrap();
            if let Some(id) = id {
                s.set_identity(id).unwrap();
            }
            if t == SocketType::Router {
                s.set_router_mandatory(true).unwrap();
            }
            Box::new(Zmq(s))
        }
    }
}

static IPC_SEQ: AtomicUsize = AtomicUsize::new(0);

fn endpoint(tcp: bool) -> String {
    if tcp {
        "tcp://127.0.0.1:*".into()
    } else {
        format!(
            "ipc:///tmp/monocoque-interop-{}-{}",
            std::process::id(),
            IPC_SEQ.fetch_add(1, Ordering::Relaxed)
        )
    }
}

/// A message with a text frame, an empty frame, a 1 MiB frame and a tail.
fn big_message(head: &[u8]) -> Frames {
    let big: Vec<u8> = (0..1 << 20).map(|i: u32| (i % 251) as u8).collect();
    vec![head.to_vec(), Vec::new(), big, b"end".to_vec()]
}

fn e(s: &str) -> Vec<u8> {
    s.as_bytes().to_vec()
}

/// Sets up `a` (type `ta`) and `b` (type `tb`) in every combination of
/// which library runs which end, who binds, and tcp or ipc, and runs
/// `script` on each.
fn matrix(
    ta: SocketType,
    tb: SocketType,
    ids: (Option<&[u8]>, Option<&[u8]>),
    script: fn(&dyn End, &dyn End),
) {
    let libs = Libs::new();
    for mono_a in [true, false] {
        for a_binds in [true, false] {
            for tcp in [true, false] {
                let what = format!(
                    "{ta} ({}) {} {tb} ({}) over {}",
                    if mono_a { "monocoque" } else { "libzmq" },
                    if a_binds {
                        "binds, then"
                    } else {
                        "is connected to by"
                    },
                    if mono_a { "libzmq" } else { "monocoque" },
                    if tcp { "tcp" } else { "ipc" },
                );
                eprintln!("case: {what}");
                let started = Instant::now();
                let a = libs.make(mono_a, ta, ids.0);
                let b = libs.make(!mono_a, tb, ids.1);
                if a_binds {
                    let ep = a.bind(&endpoint(tcp));
                    b.connect(&ep);
                } else {
                    let ep = b.bind(&endpoint(tcp));
                    a.connect(&ep);
                }
                script(&*a, &*b);
                eprintln!("  ok in {:?}", started.elapsed());
            }
        }
    }
}

/// Sends `msg` from `from` until `to` receives something (for patterns
/// that drop while the subscription travels); returns what arrived.
fn send_until_received(from: &dyn End, to: &dyn End, msg: &Frames) -> Frames {
    let deadline = Instant::now() + TIMEOUT;
    loop {
        from.send(msg);
        if let Some(m) = to.recv_within(Duration::from_millis(50)) {
            return m;
        }
        assert!(Instant::now() < deadline, "nothing arrived");
    }
}

/// Waits for `a` to receive while `b` is kept busy: libzmq attaches a new
/// connection (and sends its subscriptions) only when its application
/// thread calls into the socket.
fn recv_polling(a: &dyn End, b: &dyn End) -> Frames {
    let deadline = Instant::now() + TIMEOUT;
    loop {
        if let Some(m) = a.recv_within(Duration::from_millis(20)) {
            return m;
        }
        assert!(b.recv_within(Duration::from_millis(1)).is_none());
        assert!(Instant::now() < deadline, "nothing arrived");
    }
}

#[test]
fn push_pull() {
    matrix(SocketType::Push, SocketType::Pull, (None, None), |a, b| {
        let m = big_message(b"job");
        a.send(&m);
        a.send(&vec![e("second")]);
        assert_eq!(b.recv(), m);
        assert_eq!(b.recv(), vec![e("second")]);
    });
}

#[test]
fn pair_pair() {
    matrix(SocketType::Pair, SocketType::Pair, (None, None), |a, b| {
        let m = big_message(b"pair");
        a.send(&m);
        assert_eq!(b.recv(), m);
        b.send(&vec![Vec::new()]);
        assert_eq!(a.recv(), vec![Vec::new()]);
    });
}

#[test]
fn req_rep() {
    matrix(SocketType::Req, SocketType::Rep, (None, None), |a, b| {
        for round in 0..3 {
            let m = if round == 1 {
                big_message(b"q")
            } else {
                vec![e("q"), Vec::new(), e("x")]
            };
            a.send(&m);
            assert_eq!(b.recv(), m);
            b.send(&vec![e("answer"), Vec::new()]);
            assert_eq!(a.recv(), vec![e("answer"), Vec::new()]);
        }
    });
}

#[test]
fn req_router() {
    matrix(
        SocketType::Req,
        SocketType::Router,
        (Some(b"req-1"), None),
        |a, b| {
            let m = big_message(b"q");
            a.send(&m);
            let got = b.recv();
            assert_eq!(got[0], e("req-1"));
            assert_eq!(got[1], Vec::<u8>::new());
            assert_eq!(got[2..], m[..]);
            b.send(&vec![e("req-1"), Vec::new(), e("a"), Vec::new()]);
            assert_eq!(a.recv(), vec![e("a"), Vec::new()]);
        },
    );
}

#[test]
fn dealer_rep() {
    matrix(SocketType::Dealer, SocketType::Rep, (None, None), |a, b| {
        let mut m = big_message(b"q");
        m.insert(0, Vec::new());
        a.send(&m);
        assert_eq!(b.recv(), m[1..]);
        b.send(&vec![e("reply")]);
        assert_eq!(a.recv(), vec![Vec::new(), e("reply")]);
    });
}

#[test]
fn dealer_router() {
    matrix(
        SocketType::Dealer,
        SocketType::Router,
        (Some(b"d"), None),
        |a, b| {
            let m = big_message(b"hi");
            a.send(&m);
            let got = b.recv();
            assert_eq!(got[0], e("d"));
            assert_eq!(got[1..], m[..]);
            b.send(&vec![e("d"), Vec::new(), e("back")]);
            assert_eq!(a.recv(), vec![Vec::new(), e("back")]);
        },
    );
}

#[test]
fn dealer_dealer() {
    matrix(
        SocketType::Dealer,
        SocketType::Dealer,
        (None, None),
        |a, b| {
            let m = big_message(b"x");
            a.send(&m);
            assert_eq!(b.recv(), m);
            b.send(&m);
            assert_eq!(a.recv(), m);
        },
    );
}

#[test]
fn router_router() {
    matrix(
        SocketType::Router,
        SocketType::Router,
        (Some(b"alpha"), Some(b"beta")),
        |a, b| {
            // The connecter learns the binder's id only once the handshake
            // is done; with ROUTER_MANDATORY a send before fails, so retry.
            let m = big_message(b"r");
            let deadline = Instant::now() + TIMEOUT;
            let (sender, receiver, to, from) = (a, b, b"beta", b"alpha");
            let mut frames = vec![to.to_vec()];
            frames.extend(m.iter().cloned());
            loop {
                let sent =
                    std::panic::catch_unwind(std::panic::AssertUnwindSafe(|| sender.send(&frames)));
                if sent.is_ok() {
                    break;
                }
                assert!(Instant::now() < deadline, "never routable");
                std::thread::sleep(Duration::from_millis(20));
            }
            let got = receiver.recv();
            assert_eq!(got[0], from.to_vec());
            assert_eq!(got[1..], m[..]);
            receiver.send(&vec![from.to_vec(), e("pong")]);
            assert_eq!(sender.recv(), vec![to.to_vec(), e("pong")]);
        },
    );
}

#[test]
fn pub_sub() {
    matrix(SocketType::Pub, SocketType::Sub, (None, None), |a, b| {
        b.subscribe(b"news");
        let mut m = big_message(b"news.1");
        let got = send_until_received(a, b, &m);
        assert_eq!(got, m);
        // Filtered by prefix: "sport" never arrives, "news" does.
        m[0] = e("sport");
        a.send(&m);
        a.send(&vec![e("news.2")]);
        loop {
            let got = b.recv();
            assert!(got[0].starts_with(b"news"), "unsubscribed topic arrived");
            if got[0] == e("news.2") {
                break;
            }
        }
    });
}

#[test]
fn xpub_xsub() {
    matrix(SocketType::Xpub, SocketType::Xsub, (None, None), |a, b| {
        b.subscribe(b"t");
        assert_eq!(recv_polling(a, b), vec![e("\u{1}t")]);
        let m = big_message(b"topic");
        a.send(&m);
        assert_eq!(b.recv(), m);
    });
}

#[test]
fn pub_xsub() {
    matrix(SocketType::Pub, SocketType::Xsub, (None, None), |a, b| {
        b.subscribe(b"");
        let m = big_message(b"all");
        assert_eq!(send_until_received(a, b, &m), m);
    });
}

#[test]
fn xpub_sub() {
    matrix(SocketType::Xpub, SocketType::Sub, (None, None), |a, b| {
        b.subscribe(b"k");
        assert_eq!(recv_polling(a, b), vec![e("\u{1}k")]);
        let m = big_message(b"key");
        a.send(&m);
        assert_eq!(b.recv(), m);
    });
}
