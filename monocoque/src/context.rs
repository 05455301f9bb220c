//! [`Context`]: the I/O threads and the inproc namespace.

use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::{Arc, OnceLock, Weak};

use crate::sync::StdMutex as Mutex;

use monocoque_zmtp::SocketType;

use crate::engine::threads::IoThreads;
use crate::error::{Error, Result};
use crate::options::ContextOptions;
use crate::pattern::Core;
use crate::socket::{close_core, Socket};
use crate::transport::inproc::{Names, ZapClient};

/// What a context's sockets share: its I/O threads and inproc names.
#[derive(Debug)]
pub(crate) struct ContextInner {
    pub(crate) io: Arc<IoThreads>,
    pub(crate) names: Arc<Names>,
    /// Where its sockets' ZAP requests go (`inproc://zeromq.zap.01`).
    pub(crate) zap: Arc<ZapClient>,
    /// Its sockets, for termination (dead ones are pruned as new ones come).
    sockets: Mutex<Sockets>,
    terminated: AtomicBool,
    /// What the context was made with (MAX_SOCKETS is checked here).
    opts: ContextOptions,
}

/// The sockets of a context, weakly: a socket's lifetime is its owner's.
#[derive(Debug, Default)]
struct Sockets {
    all: Vec<Weak<Core>>,
    /// How many there were after the last pruning: the next one comes when
    /// the list has doubled, so pruning costs O(1) per socket made.
    pruned: usize,
}

impl ContextInner {
    /// Counts `core` among the context's sockets; refused once it was
    /// terminated.
    pub(crate) fn register(&self, core: &Arc<Core>) -> Result<()> {
        let mut s = self.sockets.lock().unwrap_or_else(|e| e.into_inner());
        if self.terminated.load(Ordering::Acquire) {
            return Err(Error::Terminated);
        }
        let max = self.opts.max_sockets;
        if s.all.len() >= max {
            // Only at the limit are the open ones counted.
            s.all
                .retain(|w| w.upgrade().is_some_and(|c| !c.is_closed()));
            s.pruned = s.all.len();
            if s.all.len() >= max {
                return Err(Error::TooManySockets(max));
            }
        }
        if s.all.len() >= 2 * s.pruned.max(16) {
            s.all.retain(|w| w.strong_count() > 0);
            s.pruned = s.all.len();
        }
        s.all.push(Arc::downgrade(core));
        Ok(())
    }

    /// Marks the context terminated and every socket with it; the live
    /// sockets come back.
    fn terminate(&self) -> Vec<Arc<Core>> {
        let live: Vec<Arc<Core>> = {
            let s = self.sockets.lock().unwrap_or_else(|e| e.into_inner());
            self.terminated.store(true, Ordering::Release);
            s.all.iter().filter_map(Weak::upgrade).collect()
        };
        for core in &live {
            core.terminate();
        }
        live
    }
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
        Self::with_options(ContextOptions {
            io_threads: n,
            ..ContextOptions::default()
        })
    }

    /// A context made with `opts` (libzmq's `zmq_ctx_set` before the first
    /// socket): its I/O threads, their names, and how many sockets it may
    /// have open.
    ///
    /// ```
    /// use monocoque::{Context, ContextOptions, Error, SocketType};
    /// let ctx = Context::with_options(ContextOptions {
    ///     max_sockets: 1,
    ///     thread_name_prefix: Some("svc".into()),
    ///     ..ContextOptions::default()
    /// })
    /// .unwrap();
    /// let one = ctx.socket(SocketType::Pair).unwrap();
    /// assert!(matches!(ctx.socket(SocketType::Pair), Err(Error::TooManySockets(1))));
    /// drop(one);
    /// assert!(ctx.socket(SocketType::Pair).is_ok());
    /// ```
    pub fn with_options(opts: ContextOptions) -> Result<Context> {
        let names = Arc::new(Names::default());
        Ok(Context {
            inner: Arc::new(ContextInner {
                io: Arc::new(IoThreads::new(
                    opts.io_threads,
                    opts.thread_name_prefix.as_deref(),
                )?),
                zap: ZapClient::new(names.clone()),
                names,
                sockets: Mutex::default(),
                terminated: AtomicBool::new(false),
                opts,
            }),
        })
    }

    /// What the context was made with (libzmq's `zmq_ctx_get`).
    ///
    /// ```
    /// let ctx = monocoque::Context::with_io_threads(2).unwrap();
    /// assert_eq!(ctx.options().io_threads, 2);
    /// assert_eq!(ctx.options().max_sockets, 1023);
    /// ```
    pub fn options(&self) -> ContextOptions {
        self.inner.opts.clone()
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
        Socket::open(self.inner.clone(), ty)
    }

    /// Stops the context without waiting (libzmq's `zmq_ctx_shutdown`):
    /// every call blocked on one of its sockets, on any thread and in
    /// async code, returns [`Error::Terminated`] at once, and so does
    /// every later call, including [`socket`](Self::socket). A blocked
    /// [`proxy`](crate::proxy) returns it too. Queued messages still go
    /// out as each socket's LINGER allows when it is closed or the context
    /// is [`terminate`](Self::terminate)d.
    ///
    /// ```
    /// use monocoque::{Context, Error, SocketType};
    /// let ctx = Context::new();
    /// let pull = ctx.socket(SocketType::Pull).unwrap();
    /// let waiter = std::thread::spawn(move || pull.recv());
    /// ctx.shutdown();
    /// assert!(matches!(waiter.join().unwrap(), Err(Error::Terminated)));
    /// ```
    pub fn shutdown(&self) {
        self.inner.terminate();
    }

    /// Terminates the context (libzmq's `zmq_ctx_term`): does what
    /// [`shutdown`](Self::shutdown) does, then closes each of its sockets
    /// on the calling thread, waiting up to the socket's LINGER for its
    /// queued messages to reach connected peers. The sockets' handles stay
    /// valid; every call on them returns [`Error::Terminated`], and
    /// dropping them costs nothing more.
    ///
    /// Unlike `zmq_ctx_term`, this does not wait for the application to
    /// close its sockets: it closes them itself, so a thread that owns a
    /// socket cannot deadlock it.
    ///
    /// ```
    /// use monocoque::{Context, Error, SocketType};
    /// let ctx = Context::new();
    /// let push = ctx.socket(SocketType::Push).unwrap();
    /// ctx.terminate();
    /// assert!(matches!(push.send("late"), Err(Error::Terminated)));
    /// assert!(matches!(ctx.socket(SocketType::Pull), Err(Error::Terminated)));
    /// ```
    pub fn terminate(&self) {
        for core in self.inner.terminate() {
            close_core(&core, &self.inner);
        }
    }

    /// Whether [`shutdown`](Self::shutdown) or
    /// [`terminate`](Self::terminate) was called.
    ///
    /// ```
    /// let ctx = monocoque::Context::new();
    /// assert!(!ctx.is_terminated());
    /// ctx.shutdown();
    /// assert!(ctx.is_terminated());
    /// ```
    pub fn is_terminated(&self) -> bool {
        self.inner.terminated.load(Ordering::Acquire)
    }
}
