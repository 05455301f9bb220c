//! The small interface the measured loops (`roles.rs`) are written against,
//! and Monocoque behind it (`mono.rs`).
//!
//! Monocoque sends a clone of one `Bytes` (a reference count, no copy of
//! the payload) and receives owned `Message`s, dropping them. libzmq's side
//! runs the same loops in C (`libzmq_perf.c`, [`super::libzmq`]), because
//! the `zmq` crate cannot send one buffer many times without copying it:
//! its messages point at one buffer libzmq never frees (`zmq_msg_init_data`)
//! and it receives into one reused `zmq_msg_t`. Neither side copies a
//! payload to send it.

use std::io;
use std::time::{Duration, Instant};

/// The socket types the benchmark uses.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub(crate) enum Kind {
    /// Pipeline sender.
    Push,
    /// Pipeline receiver.
    Pull,
    /// Request.
    Req,
    /// Reply.
    Rep,
    /// Publisher (libzmq: XPUB with `XPUB_VERBOSE`, to count subscribers).
    Pub,
    /// Subscriber, subscribed to everything.
    Sub,
}

/// How long any single benchmark wait may take before the run fails.
pub(crate) const WAIT: Duration = Duration::from_secs(20);

/// libzmq's CURVE test keys (its tests/testutil_security.cpp), as the
/// perf roles' `curve` argument and libzmq's own perf programs use them:
/// server public and secret, client public and secret.
pub(crate) const CURVE_TEST_KEYS: [&str; 4] = [
    "rq:rM>}U?@Lns47E1%kR.o@n%FcmmsL/@{H8]yf7",
    "JTKVSB%%)wK0E.X)V>+}o?pNmC{O&4W4b!Ni{Lh6",
    "Yne@$w-vo<fVvi]a<NY6T1ed:M$fCG*[IaLV{hID",
    "D:)Q[IlAW!ahhC2ac:9*A}h:p?([4%wOTJ%JR%cs",
];

pub(crate) trait Backend: Sized {
    /// A socket; it moves to another thread for inproc runs.
    type Socket: Send + 'static;
    /// A payload ready to be sent many times.
    type Payload: Send + Sync + 'static;

    /// A context with one I/O thread (libzmq's default).
    fn open() -> io::Result<Self>;
    /// A socket with both HWMs at `hwm` (0: libzmq's "no limit") and a
    /// receive timeout of [`WAIT`].
    fn socket(&self, kind: Kind, hwm: usize) -> io::Result<Self::Socket>;
    /// Binds; returns the bound endpoint (with a wildcard port resolved).
    fn bind(sock: &mut Self::Socket, ep: &str) -> io::Result<String>;
    /// Connects.
    fn connect(sock: &mut Self::Socket, ep: &str) -> io::Result<()>;
    /// Makes the socket a CURVE server (`server`) or client with libzmq's
    /// fixed test keys ([`CURVE_TEST_KEYS`]), before it binds or connects.
    fn secure(sock: &mut Self::Socket, server: bool) -> io::Result<()>;
    /// `size` bytes to send.
    fn payload(size: usize) -> Self::Payload;
    /// Sends the payload as one single-frame message.
    fn send(sock: &mut Self::Socket, payload: &Self::Payload) -> io::Result<()>;
    /// Receives one message; returns its size.
    fn recv(sock: &mut Self::Socket) -> io::Result<usize>;
    /// REP: receives a request and sends the same message back.
    fn echo(sock: &mut Self::Socket) -> io::Result<()>;
    /// PUB: waits until `n` subscriptions arrived.
    fn wait_subscribers(sock: &mut Self::Socket, n: usize) -> io::Result<()>;
    /// Before closing a socket that just sent `sent` bytes with no one to
    /// say they arrived (the perf roles): make sure they are on the wire
    /// (libzmq's linger does that by itself).
    fn settle(_sent: u64) {}
    /// Closes the socket; the context's end waits for its queue to drain.
    fn close(sock: Self::Socket);
    /// Ends the context, waiting (linger) until every queued message left.
    fn finish(self);
}

fn timed_out(what: &str) -> io::Error {
    io::Error::new(io::ErrorKind::TimedOut, format!("timed out {what}"))
}

/// Polls `ready` until it holds or [`WAIT`] passes.
pub(crate) fn poll_until(what: &str, mut ready: impl FnMut() -> bool) -> io::Result<()> {
    let deadline = Instant::now() + WAIT;
    let mut pause = Duration::from_micros(50);
    while !ready() {
        if Instant::now() > deadline {
            return Err(timed_out(what));
        }
        std::thread::sleep(pause);
        pause = (pause * 2).min(Duration::from_millis(5));
    }
    Ok(())
}
