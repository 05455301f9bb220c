//! [`Context`]: the I/O threads and the inproc namespace.

use std::collections::HashMap;
use std::sync::atomic::{AtomicBool, AtomicUsize, Ordering};
use std::sync::{Arc, Mutex, OnceLock, Weak};
use std::thread::{self, JoinHandle};

use concurrent_queue::ConcurrentQueue;
use event_listener::Event;
use monocoque_core::router::PeerId;
use monocoque_zmtp::SocketType;

use crate::error::Result;
use crate::shared::Shared;
use crate::socket::Socket;

/// Work handed to an I/O thread: runs there, usually to spawn a task.
pub(crate) type Job = Box<dyn FnOnce() + Send>;

#[derive(Debug)]
struct Jobs {
    queue: ConcurrentQueue<Job>,
    ready: Event,
    stop: AtomicBool,
}

#[derive(Debug)]
struct IoThread {
    jobs: Arc<Jobs>,
    thread: Option<JoinHandle<()>>,
}

/// An inproc connecter waiting for a bind, and where it queues meanwhile.
pub(crate) type PendingConnect = (Weak<Shared>, Option<PeerId>);

/// The inproc namespace of a context.
#[derive(Debug, Default)]
pub(crate) struct Inproc {
    /// Bound names.
    pub(crate) bound: HashMap<String, Weak<Shared>>,
    /// Connects waiting for a bind, each with the peer entry that queues
    /// its messages meanwhile.
    pub(crate) pending: HashMap<String, Vec<PendingConnect>>,
}

/// What sockets share with their context.
#[derive(Debug)]
pub(crate) struct ContextInner {
    threads: Vec<IoThread>,
    next: AtomicUsize,
    pub(crate) inproc: Mutex<Inproc>,
}

/// Said once per process when io_uring is unavailable.
static FALLBACK_LOGGED: AtomicBool = AtomicBool::new(false);

/// Tasks of one I/O thread that other threads may wake at once (two per
/// connection, plus listeners and connecters).
const REMOTE_WAKE_QUEUE: usize = 1 << 14;

fn io_thread_main(jobs: Arc<Jobs>) {
    // compio queues wake-ups from other threads in a bounded queue, and a
    // waker that finds it full spins until the I/O thread drains it. Our
    // events call wakers under their own lock, which the I/O thread may be
    // waiting for: a full queue would deadlock (seen with 100 engines
    // waiting for room in one ROUTER's inbound queue). Room for every task
    // an I/O thread plausibly runs keeps the queue from filling.
    let rt = match compio::runtime::RuntimeBuilder::new()
        .sync_queue_size(REMOTE_WAKE_QUEUE)
        .build()
    {
        Ok(rt) => rt,
        Err(e) => {
            eprintln!("monocoque: cannot start an I/O runtime: {e}");
            return;
        }
    };
    if !rt.driver_type().is_iouring() && !FALLBACK_LOGGED.swap(true, Ordering::Relaxed) {
        eprintln!(
            "monocoque: io_uring unavailable, using the {:?} driver",
            rt.driver_type()
        );
    }
    rt.block_on(async {
        loop {
            while let Ok(job) = jobs.queue.pop() {
                job();
            }
            if jobs.stop.load(Ordering::Acquire) {
                break;
            }
            let l = jobs.ready.listen();
            if !jobs.queue.is_empty() || jobs.stop.load(Ordering::Acquire) {
                continue;
            }
            l.await;
        }
    });
}

impl ContextInner {
    fn new(io_threads: usize) -> Result<Arc<Self>> {
        let mut threads = Vec::with_capacity(io_threads);
        for i in 0..io_threads.max(1) {
            let jobs = Arc::new(Jobs {
                queue: ConcurrentQueue::unbounded(),
                ready: Event::new(),
                stop: AtomicBool::new(false),
            });
            let j = jobs.clone();
            let thread = thread::Builder::new()
                .name(format!("monocoque-io-{i}"))
                .spawn(move || io_thread_main(j))?;
            threads.push(IoThread {
                jobs,
                thread: Some(thread),
            });
        }
        Ok(Arc::new(Self {
            threads,
            next: AtomicUsize::new(0),
            inproc: Mutex::new(Inproc::default()),
        }))
    }

    /// Runs `job` on an I/O thread (round robin over them).
    pub(crate) fn spawn(&self, job: Job) {
        let i = self.next.fetch_add(1, Ordering::Relaxed) % self.threads.len();
        let t = &self.threads[i];
        let _ = t.jobs.queue.push(job);
        t.jobs.ready.notify(1);
    }

    /// Locks the inproc namespace.
    pub(crate) fn inproc(&self) -> std::sync::MutexGuard<'_, Inproc> {
        self.inproc.lock().unwrap_or_else(|e| e.into_inner())
    }
}

impl Drop for ContextInner {
    fn drop(&mut self) {
        let me = thread::current().id();
        for t in &mut self.threads {
            t.jobs.stop.store(true, Ordering::Release);
            t.jobs.ready.notify(usize::MAX);
            if let Some(h) = t.thread.take() {
                // The last reference may go on an I/O thread itself.
                if h.thread().id() != me {
                    let _ = h.join();
                }
            }
        }
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
        Ok(Context {
            inner: ContextInner::new(n)?,
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
        Ok(Socket::from_shared(Shared::new(self.inner.clone(), ty)))
    }
}
