//! [`proxy`]: libzmq's `zmq_proxy`, moving messages between two sockets.

use crate::error::Result;
use crate::socket::Socket;
use crate::sync::{block_on, race, Either};

/// Forwards messages from `frontend` to `backend` and back, each also to
/// `capture` when given, until a socket fails. Runs on the calling thread.
///
/// For an XPUB/XSUB pair this also carries subscriptions upstream, as
/// libzmq's proxy does.
///
/// ```no_run
/// use monocoque::{Context, SocketType, proxy};
/// let ctx = Context::new();
/// let frontend = ctx.socket(SocketType::Router).unwrap();
/// frontend.bind("tcp://*:5559").unwrap();
/// let backend = ctx.socket(SocketType::Dealer).unwrap();
/// backend.bind("tcp://*:5560").unwrap();
/// proxy(&frontend, &backend, None).unwrap();
/// ```
pub fn proxy(frontend: &Socket, backend: &Socket, capture: Option<&Socket>) -> Result<()> {
    let front_recv = frontend.can_recv();
    let back_recv = backend.can_recv();
    loop {
        let next = block_on(
            async {
                match (front_recv, back_recv) {
                    (true, true) => match race(frontend.recv_wait(), backend.recv_wait()).await {
                        Either::Left(m) => (true, m),
                        Either::Right(m) => (false, m),
                    },
                    (true, false) => (true, frontend.recv_wait().await),
                    (false, true) => (false, backend.recv_wait().await),
                    (false, false) => std::future::pending().await,
                }
            },
            None,
        );
        let Some((from_front, msg)) = next else {
            continue;
        };
        let msg = msg?;
        if let Some(c) = capture {
            let _ = c.try_send(msg.clone());
        }
        if from_front {
            backend.send(msg)?;
        } else {
            frontend.send(msg)?;
        }
    }
}
