//! The two libraries behind one small interface, so each benchmark role is
//! written once and runs the same loop on both.
//!
//! Each side uses its library the way its perf tools do: libzmq copies the
//! payload into a `zmq_msg_t` per send (`zmq_send`) and reuses one message
//! for receiving; Monocoque sends a clone of one `Bytes` (a refcount bump)
//! and receives owned `Message`s.

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

    /// A context (libzmq's default of one I/O thread; Monocoque's too).
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
    /// say they arrived (the perf roles): make sure they are on the wire.
    /// libzmq's linger does that already.
    fn settle(_sent: u64) {}
    /// Closes the socket; the context's end waits for its queue to drain.
    fn close(sock: Self::Socket);
    /// Ends the context, waiting (linger) until every queued message left.
    fn finish(self);
}

fn timed_out(what: &str) -> io::Error {
    io::Error::new(io::ErrorKind::TimedOut, format!("timed out {what}"))
}

/// libzmq 4.3 through the `zmq` crate (built from its vendored source).
pub(crate) struct Libzmq {
    ctx: zmq::Context,
}

/// A libzmq socket with its reusable receive message.
pub(crate) struct ZmqSocket {
    sock: zmq::Socket,
    msg: zmq::Message,
}

impl std::fmt::Debug for Libzmq {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str("Libzmq")
    }
}

impl std::fmt::Debug for ZmqSocket {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str("ZmqSocket")
    }
}

fn zmq_err(e: zmq::Error) -> io::Error {
    if e == zmq::Error::EAGAIN {
        return timed_out("waiting for a message");
    }
    io::Error::other(format!("libzmq: {e}"))
}

impl Backend for Libzmq {
    type Socket = ZmqSocket;
    type Payload = Vec<u8>;

    fn open() -> io::Result<Self> {
        Ok(Libzmq {
            ctx: zmq::Context::new(),
        })
    }

    fn socket(&self, kind: Kind, hwm: usize) -> io::Result<ZmqSocket> {
        let ty = match kind {
            Kind::Push => zmq::PUSH,
            Kind::Pull => zmq::PULL,
            Kind::Req => zmq::REQ,
            Kind::Rep => zmq::REP,
            Kind::Pub => zmq::XPUB,
            Kind::Sub => zmq::SUB,
        };
        let sock = self.ctx.socket(ty).map_err(zmq_err)?;
        let hwm = i32::try_from(hwm).unwrap_or(i32::MAX);
        sock.set_sndhwm(hwm).map_err(zmq_err)?;
        sock.set_rcvhwm(hwm).map_err(zmq_err)?;
        let wait = i32::try_from(WAIT.as_millis()).unwrap_or(i32::MAX);
        sock.set_rcvtimeo(wait).map_err(zmq_err)?;
        match kind {
            Kind::Pub => sock.set_xpub_verbose(true).map_err(zmq_err)?,
            Kind::Sub => sock.set_subscribe(b"").map_err(zmq_err)?,
            _ => {}
        }
        Ok(ZmqSocket {
            sock,
            msg: zmq::Message::new(),
        })
    }

    fn bind(s: &mut ZmqSocket, ep: &str) -> io::Result<String> {
        s.sock.bind(ep).map_err(zmq_err)?;
        match s.sock.get_last_endpoint().map_err(zmq_err)? {
            Ok(bound) => Ok(bound),
            Err(_) => Ok(ep.to_owned()),
        }
    }

    fn connect(s: &mut ZmqSocket, ep: &str) -> io::Result<()> {
        s.sock.connect(ep).map_err(zmq_err)
    }

    fn secure(s: &mut ZmqSocket, server: bool) -> io::Result<()> {
        // The `zmq` crate's vendored libzmq is built without libsodium.
        let keys = |z: &str| zmq::z85_decode(z).map_err(|e| io::Error::other(e.to_string()));
        let [server_public, server_secret, public, secret] = [
            keys(CURVE_TEST_KEYS[0])?,
            keys(CURVE_TEST_KEYS[1])?,
            keys(CURVE_TEST_KEYS[2])?,
            keys(CURVE_TEST_KEYS[3])?,
        ];
        let r = if server {
            s.sock
                .set_curve_secretkey(&server_secret)
                .and_then(|()| s.sock.set_curve_server(true))
        } else {
            s.sock
                .set_curve_serverkey(&server_public)
                .and_then(|()| s.sock.set_curve_publickey(&public))
                .and_then(|()| s.sock.set_curve_secretkey(&secret))
        };
        r.map_err(|e| {
            io::Error::other(format!(
                "libzmq here has no CURVE ({e}): compare with ../shared/bench-peers/zperf.c curve"
            ))
        })
    }

    fn payload(size: usize) -> Vec<u8> {
        vec![0; size]
    }

    fn send(s: &mut ZmqSocket, payload: &Vec<u8>) -> io::Result<()> {
        s.sock.send(payload.as_slice(), 0).map_err(zmq_err)
    }

    fn recv(s: &mut ZmqSocket) -> io::Result<usize> {
        s.sock.recv(&mut s.msg, 0).map_err(zmq_err)?;
        Ok(s.msg.len())
    }

    fn echo(s: &mut ZmqSocket) -> io::Result<()> {
        s.sock.recv(&mut s.msg, 0).map_err(zmq_err)?;
        let msg = std::mem::replace(&mut s.msg, zmq::Message::new());
        s.sock.send(msg, 0).map_err(zmq_err)
    }

    fn wait_subscribers(s: &mut ZmqSocket, n: usize) -> io::Result<()> {
        for _ in 0..n {
            // XPUB_VERBOSE passes every SUBSCRIBE up, duplicates included.
            s.sock.recv(&mut s.msg, 0).map_err(|e| match e {
                zmq::Error::EAGAIN => timed_out("waiting for subscribers"),
                e => zmq_err(e),
            })?;
        }
        Ok(())
    }

    fn close(s: ZmqSocket) {
        drop(s);
    }

    fn finish(self) {
        drop(self.ctx);
    }
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
