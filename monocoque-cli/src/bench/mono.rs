//! Monocoque behind the benchmark's [`Backend`] interface.

use std::io;
use std::time::Duration;

use bytes::Bytes;
use monocoque::{Context, CurvePublicKey, CurveSecretKey, Message, Security, Socket, SocketType};

use super::backend::{poll_until, Backend, Kind, CURVE_TEST_KEYS, WAIT};

/// A Monocoque context (one I/O thread, as libzmq's default).
#[derive(Debug)]
pub(crate) struct Monocoque {
    ctx: Context,
}

impl Backend for Monocoque {
    type Socket = Socket;
    type Payload = Bytes;

    fn open() -> io::Result<Self> {
        Ok(Monocoque {
            ctx: Context::with_io_threads(1)?,
        })
    }

    fn socket(&self, kind: Kind, hwm: usize) -> io::Result<Socket> {
        let ty = match kind {
            Kind::Push => SocketType::Push,
            Kind::Pull => SocketType::Pull,
            Kind::Req => SocketType::Req,
            Kind::Rep => SocketType::Rep,
            Kind::Pub => SocketType::Pub,
            Kind::Sub => SocketType::Sub,
        };
        let sock = self.ctx.socket(ty)?;
        sock.update_options(|o| {
            o.sndhwm = hwm;
            o.rcvhwm = hwm;
            o.rcvtimeo = Some(WAIT);
        });
        if kind == Kind::Sub {
            sock.subscribe(b"")?;
        }
        Ok(sock)
    }

    fn bind(sock: &mut Socket, ep: &str) -> io::Result<String> {
        sock.bind(ep)?;
        Ok(sock.last_endpoint().unwrap_or_else(|| ep.to_owned()))
    }

    fn secure(sock: &mut Socket, server: bool) -> io::Result<()> {
        let bad = |e| io::Error::new(io::ErrorKind::InvalidInput, format!("test key: {e}"));
        let security = if server {
            Security::CurveServer {
                secret: CURVE_TEST_KEYS[1].parse::<CurveSecretKey>().map_err(bad)?,
            }
        } else {
            Security::CurveClient {
                server: CURVE_TEST_KEYS[0].parse::<CurvePublicKey>().map_err(bad)?,
                public: CURVE_TEST_KEYS[2].parse::<CurvePublicKey>().map_err(bad)?,
                secret: CURVE_TEST_KEYS[3].parse::<CurveSecretKey>().map_err(bad)?,
            }
        };
        sock.update_options(|o| o.security = security);
        Ok(())
    }

    fn connect(sock: &mut Socket, ep: &str) -> io::Result<()> {
        sock.connect(ep)?;
        // Messages queued before the handshake completes are not covered by
        // Monocoque's linger yet: start sending once the peer is there (the
        // receiver's clock starts at the first message, so this is not
        // measured).
        poll_until("waiting for the peer", || sock.peer_count() > 0)
    }

    fn payload(size: usize) -> Bytes {
        Bytes::from(vec![0; size])
    }

    fn send(sock: &mut Socket, payload: &Bytes) -> io::Result<()> {
        Ok(sock.send(Message::from(payload.clone()))?)
    }

    fn recv(sock: &mut Socket) -> io::Result<usize> {
        Ok(sock.recv()?.size())
    }

    fn echo(sock: &mut Socket) -> io::Result<()> {
        let msg = sock.recv()?;
        Ok(sock.send(msg)?)
    }

    fn wait_subscribers(sock: &mut Socket, n: usize) -> io::Result<()> {
        poll_until("waiting for subscribers", || sock.subscription_count() >= n)
    }

    fn settle(sent: u64) {
        // Monocoque's linger counts a peer as flushed once its pipe is
        // empty, while the engine may still be writing the last batch, and
        // closing cancels that write: the receiver then misses the tail
        // (19,968 of 20,000 messages of 64 B over ipc, 285 of 286 of 1 MiB
        // over tcp). Give the engine time to write what it holds; the
        // receiver's clock has stopped by then. The side-by-side harness
        // does not need this: it closes senders once the receiver is done.
        let tail = Duration::from_secs_f64(sent as f64 / 500e6).min(Duration::from_secs(10));
        std::thread::sleep(Duration::from_millis(100) + tail);
    }

    fn close(sock: Socket) {
        sock.close();
    }

    fn finish(self) {
        drop(self.ctx);
    }
}
