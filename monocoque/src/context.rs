//! [`Context`]: the I/O threads and the inproc namespace.

use std::sync::{Arc, OnceLock};

use monocoque_zmtp::SocketType;

use crate::engine::threads::IoThreads;
use crate::error::Result;
use crate::socket::Socket;
use crate::transport::inproc::{Names, ZapClient};

/// What a context's sockets share: its I/O threads and inproc names.
#[derive(Debug)]
pub(crate) struct ContextInner {
    pub(crate) io: Arc<IoThreads>,
    pub(crate) names: Arc<Names>,
    /// Where its sockets' ZAP requests go (`inproc://zeromq.zap.01`).
    pub(crate) zap: Arc<ZapClient>,
}

/// A Monocoque context: the I/O threads that run every connection of its
/// sockets, and the namespace of `inproc://` endpoints.
///
/// Cloning a context is cheap and shares it. The I/O threads stop when the
/// context and every socket made from it are gone.
///
/// ```
/// use monocoque::{Context, SocketType};
/// let ctx = Context::new();
/// let push = ctx.socket(SocketType::Push).unwrap();
/// let pull = ctx.socket(SocketType::Pull).unwrap();
/// pull.bind("inproc://example").unwrap();
/// push.connect("inproc://example").unwrap();
/// push.send("hello").unwrap();
/// assert_eq!(&pull.recv().unwrap()[0][..], b"hello");
/// ```
#[derive(Clone, Debug)]
pub struct Context {
    pub(crate) inner: Arc<ContextInner>,
}

impl Default for Context {
    fn default() -> Self {
        Self::new()
    }
}

impl Context {
    /// A context with one I/O thread (libzmq's default).
    ///
    /// ```
    /// let ctx = monocoque::Context::new();
    /// # drop(ctx);
    /// ```
    ///
    /// # Panics
    ///
    /// If the operating system refuses to start a thread.
    pub fn new() -> Context {
        Self::with_io_threads(1).expect("start the I/O thread")
    }

    /// A context with `n` I/O threads (`ZMQ_IO_THREADS`); connections are
    /// spread over them.
    ///
    /// ```
    /// let ctx = monocoque::Context::with_io_threads(2).unwrap();
    /// # drop(ctx);
    /// ```
    pub fn with_io_threads(n: usize) -> Result<Context> {
        let names = Arc::new(Names::default());
        Ok(Context {
            inner: Arc::new(ContextInner {
                io: Arc::new(IoThreads::new(n)?),
                zap: ZapClient::new(names.clone()),
                names,
            }),
        })
    }

    /// The process-wide context that [`Socket::new`] uses.
    ///
    /// ```
    /// let a = monocoque::Context::global();
    /// let b = monocoque::Context::global();
    /// # let _ = (a, b);
    /// ```
    pub fn global() -> Context {
        static GLOBAL: OnceLock<Context> = OnceLock::new();
        GLOBAL.get_or_init(Context::new).clone()
    }

    /// A new socket of type `ty` in this context.
    ///
    /// ```
    /// use monocoque::{Context, SocketType};
    /// let sock = Context::new().socket(SocketType::Dealer).unwrap();
    /// assert_eq!(sock.socket_type(), SocketType::Dealer);
    /// ```
    pub fn socket(&self, ty: SocketType) -> Result<Socket> {
        Ok(Socket::open(self.inner.clone(), ty))
    }
}
