//! Helpers shared by the Monocoque-to-Monocoque test suites.
#![allow(dead_code, unreachable_pub)]

use std::sync::atomic::{AtomicUsize, Ordering};
use std::time::{Duration, Instant};

use bytes::Bytes;
use monocoque::{Context, Error, Message, Socket, SocketType};

/// How long any single wait may take before the test fails.
pub const T: Duration = Duration::from_secs(5);
/// How long to wait for something that must not arrive.
pub const QUIET: Duration = Duration::from_millis(150);

/// The transports a scenario runs over.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Tr {
    Tcp,
    Ipc,
    Inproc,
}

static NEXT: AtomicUsize = AtomicUsize::new(0);

/// A name no other test in this process uses.
pub fn unique(tag: &str) -> String {
    let n = NEXT.fetch_add(1, Ordering::Relaxed);
    format!("mq-{tag}-{}-{n}", std::process::id())
}

/// A socket whose blocking calls give up after [`T`] and whose close does
/// not wait.
pub fn sock(ctx: &Context, ty: SocketType) -> Socket {
    let s = ctx.socket(ty).unwrap();
    s.update_options(|o| {
        o.rcvtimeo = Some(T);
        o.sndtimeo = Some(T);
        o.linger = Some(Duration::ZERO);
        o.reconnect_ivl = Duration::from_millis(20);
    });
    s
}

/// A fresh endpoint of `tr` to bind (tcp with an ephemeral port).
pub fn endpoint(tr: Tr) -> String {
    match tr {
        Tr::Tcp => "tcp://127.0.0.1:*".into(),
        Tr::Ipc => format!("ipc:///tmp/{}.sock", unique("ipc")),
        Tr::Inproc => format!("inproc://{}", unique("inproc")),
    }
}

/// Binds `s` on a fresh endpoint of `tr`; returns what to connect to.
pub fn bind(s: &Socket, tr: Tr) -> String {
    s.bind(&endpoint(tr)).unwrap();
    s.last_endpoint().unwrap()
}

/// Polls `cond` until it holds, failing the test after [`T`].
pub fn wait_for(what: &str, mut cond: impl FnMut() -> bool) {
    let deadline = Instant::now() + T;
    while !cond() {
        assert!(Instant::now() < deadline, "timed out waiting for {what}");
        std::thread::sleep(Duration::from_millis(2));
    }
}

/// Waits until `s` has `n` connected peers.
pub fn wait_peers(s: &Socket, n: usize) {
    wait_for(&format!("{n} peers"), || s.peer_count() == n);
}

/// A message of UTF-8 frames.
pub fn msg(frames: &[&str]) -> Message {
    frames
        .iter()
        .map(|f| Bytes::copy_from_slice(f.as_bytes()))
        .collect()
}

/// The frames of `m` as strings.
pub fn strs(m: &Message) -> Vec<String> {
    m.frames()
        .iter()
        .map(|f| String::from_utf8_lossy(f).into_owned())
        .collect()
}

/// Receives within [`T`] and returns the frames as strings.
pub fn recv_strs(s: &Socket) -> Vec<String> {
    strs(&s.recv().unwrap())
}

/// Asserts nothing arrives within [`QUIET`].
pub fn assert_nothing(s: &Socket) {
    let old = s.options().rcvtimeo;
    s.update_options(|o| o.rcvtimeo = Some(QUIET));
    let r = s.recv();
    s.update_options(|o| o.rcvtimeo = old);
    match r {
        Err(Error::WouldBlock) => {}
        other => panic!("expected nothing, got {other:?}"),
    }
}

/// Whether this machine can bind an IPv6 loopback socket.
pub fn have_ipv6() -> bool {
    std::net::TcpListener::bind("[::1]:0").is_ok()
}
