//! What an inline write goes to: the connection's socket; under
//! `cfg(loom)` also a model's recorder, so the models see inline writes
//! beside the writer's without a kernel. The non-loom build names the
//! socket itself: the same type, the same call, no indirection.

#[cfg(not(loom))]
use std::sync::Arc;

/// A connection's socket as the engine's stream holds it: compio's shared
/// handle of its one descriptor (no duplicate), which sending threads may
/// hold too (compio's `sync` feature makes it `Send + Sync`). The
/// descriptor closes when the last handle goes.
pub(crate) type ConnSocket = compio_driver::SharedFd<socket2::Socket>;

/// Where [`Pipe::try_inline`](super::Pipe) writes.
#[cfg(not(loom))]
pub(super) type DirectSocket = ConnSocket;

/// Stores a connection's socket for inline writes.
#[cfg(not(loom))]
#[inline]
pub(super) fn from_socket(sock: ConnSocket) -> Arc<DirectSocket> {
    Arc::new(sock)
}

/// The connection's socket behind what inline writes go to (a watching
/// `recv`'s, which Windows has not).
#[cfg(all(unix, not(loom)))]
#[inline]
pub(super) fn socket(direct: Option<&Arc<DirectSocket>>) -> Option<ConnSocket> {
    direct.map(|d| ConnSocket::clone(d))
}

#[cfg(all(loom, test))]
pub(super) use model::InlineSink;
#[cfg(loom)]
pub(super) use model::{from_socket, socket, DirectSocket};

#[cfg(loom)]
mod model {
    use std::fmt::Debug;
    use std::io::{self, IoSlice};
    use std::sync::Arc;

    use super::ConnSocket;

    /// Takes an inline write in a loom model, as `send(2)` would: the
    /// count taken (maybe short), or an error (`WouldBlock`...).
    pub(crate) trait InlineSink: Debug + Send + Sync {
        /// Writes some of `bufs`, in order.
        fn send(&self, bufs: &[IoSlice<'_>]) -> io::Result<usize>;
    }

    /// A connection's socket, or a model's sink.
    #[derive(Debug)]
    #[cfg_attr(not(test), allow(dead_code))]
    pub(crate) enum DirectSocket {
        /// A real socket (the engine's, in a loom build no model runs).
        Socket(ConnSocket),
        /// A model's recorder.
        Sink(Arc<dyn InlineSink>),
    }

    impl DirectSocket {
        /// As `socket2::Socket`'s, so `try_inline` reads the same in both
        /// builds.
        pub(crate) fn send_vectored_with_flags(
            &self,
            bufs: &[IoSlice<'_>],
            flags: i32,
        ) -> io::Result<usize> {
            match self {
                Self::Socket(s) => s.send_vectored_with_flags(bufs, flags),
                Self::Sink(s) => s.send(bufs),
            }
        }
    }

    pub(crate) fn from_socket(sock: ConnSocket) -> Arc<DirectSocket> {
        Arc::new(DirectSocket::Socket(sock))
    }

    pub(crate) fn socket(direct: Option<&Arc<DirectSocket>>) -> Option<ConnSocket> {
        match direct.map(|d| &**d) {
            Some(DirectSocket::Socket(s)) => Some(s.clone()),
            _ => None,
        }
    }
}

/// A framer for tests: what a NULL session hands out once its handshake
/// (here with a peer session in memory) is done.
#[cfg(test)]
pub(super) fn test_framer() -> monocoque_zmtp::PlainFramer {
    use monocoque_zmtp::{Session, SessionConfig, SocketType};
    fn shuttle(from: &mut Session, to: &mut Session) {
        let mut out = Vec::new();
        from.poll_transmit(&mut out);
        for chunk in out {
            to.handle_input(chunk).expect("a NULL handshake");
        }
    }
    let now = std::time::Instant::now();
    let session = |t| Session::new(SessionConfig::new(t), now).expect("a NULL session");
    let (mut a, mut b) = (session(SocketType::Dealer), session(SocketType::Router));
    for _ in 0..4 {
        shuttle(&mut a, &mut b);
        shuttle(&mut b, &mut a);
    }
    a.plain_framer()
        .expect("a ready NULL session frames for others")
}
