//! Monocoque behind the benchmark's [`Backend`] interface.

use std::io;

use bytes::Bytes;
use monocoque::{Context, Message, Socket, SocketType};

use super::backend::{poll_until, Backend, Kind, WAIT};

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

    fn connect(sock: &mut Socket, ep: &str) -> io::Result<()> {
        Ok(sock.connect(ep)?)
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

    fn close(sock: Socket) {
        sock.close();
    }

    fn finish(self) {
        drop(self.ctx);
    }
}
