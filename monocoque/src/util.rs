//! Small runtime-agnostic future helpers: `race`, `block_on`, a cancel
//! token, and [`Bell`], an event that is free to ring when nobody waits.

use std::cell::RefCell;
use std::future::{poll_fn, Future};
use std::pin::pin;
use std::sync::atomic::{fence, AtomicBool, AtomicUsize, Ordering};
use std::sync::Arc;
use std::task::{Context, Poll, Wake, Waker};
use std::thread::{self, Thread};
use std::time::Instant;

use event_listener::{listener, Event};

/// An [`Event`] that costs a fence and one load to ring while nobody
/// waits: `event_listener`'s own `notify` always takes its list's lock,
/// which on a path rung once per message (a pop that makes room, a push
/// that has work for a writer) costs more than the queue operation itself.
///
/// Waiters announce themselves before they listen ([`bell_listener!`],
/// [`Bell::listen`]), then check their condition again, then wait. A ring
/// changes the state first, then looks for waiters; the `SeqCst` fence on
/// each side means either the ringer sees the waiter or the waiter's check
/// sees the new state, so no wake-up is lost.
#[derive(Debug, Default)]
pub(crate) struct Bell {
    event: Event,
    waiters: AtomicUsize,
}

/// A waiter counted by a [`Bell`] until dropped.
#[derive(Debug)]
pub(crate) struct Waiting<'a>(&'a Bell);

impl Drop for Waiting<'_> {
    fn drop(&mut self) {
        self.0.waiters.fetch_sub(1, Ordering::Relaxed);
    }
}

impl Bell {
    /// Wakes every waiter, if there is one.
    pub(crate) fn ring(&self) {
        self.ring_n(usize::MAX);
    }

    /// Wakes up to `n` waiters, if there is one.
    pub(crate) fn ring_n(&self, n: usize) {
        fence(Ordering::SeqCst);
        if self.waiters.load(Ordering::Relaxed) > 0 {
            self.event.notify(n);
        }
    }

    /// Counts the caller as a waiter until the guard drops; listen to
    /// [`event`](Self::event) after taking it.
    pub(crate) fn waiting(&self) -> Waiting<'_> {
        self.waiters.fetch_add(1, Ordering::Relaxed);
        fence(Ordering::SeqCst);
        Waiting(self)
    }

    /// The event to listen to, with a [`waiting`](Self::waiting) guard held.
    pub(crate) fn event(&self) -> &Event {
        &self.event
    }

    /// A heap listener that counts as a waiter while it lives.
    pub(crate) fn listen(&self) -> BellListener<'_> {
        let waiting = self.waiting();
        BellListener {
            listener: self.event.listen(),
            _waiting: waiting,
        }
    }
}

/// A listener on a [`Bell`]: a future that completes when rung.
#[derive(Debug)]
pub(crate) struct BellListener<'a> {
    listener: event_listener::EventListener,
    _waiting: Waiting<'a>,
}

impl BellListener<'_> {
    /// Blocks the thread until rung or until `deadline`.
    pub(crate) fn wait_deadline(self, deadline: Instant) {
        use event_listener::Listener as _;
        let _ = self.listener.wait_deadline(deadline);
    }
}

impl Future for BellListener<'_> {
    type Output = ();
    fn poll(mut self: std::pin::Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<()> {
        std::pin::Pin::new(&mut self.listener).poll(cx)
    }
}

/// A stack listener on a [`Bell`] (as `event_listener::listener!`), counted
/// as a waiter until the end of the enclosing block.
macro_rules! bell_listener {
    ($bell:expr => $name:ident) => {
        let _waiting = $bell.waiting();
        event_listener::listener!($bell.event() => $name);
    };
}
pub(crate) use bell_listener;

/// A value on cache lines of its own (two, as the adjacent-line prefetcher
/// pulls lines in pairs): a field one thread writes often must not share
/// a line with fields another thread reads on every message.
#[derive(Debug, Default)]
#[repr(align(128))]
pub(crate) struct Padded<T>(pub(crate) T);

impl<T> std::ops::Deref for Padded<T> {
    type Target = T;
    fn deref(&self) -> &T {
        &self.0
    }
}

/// Locks a spin lock held for a few instructions at a time, on paths taken
/// once per message: its release is a plain store where a futex mutex's
/// is a locked exchange, which waits for every store before it (the
/// message just handed over, on cache lines the other thread read last).
/// A holder preempted in those instructions costs the others yields, not
/// a long spin.
pub(crate) fn lock_spin<T>(m: &spin::Mutex<T>) -> spin::MutexGuard<'_, T> {
    let mut tries = 0u32;
    loop {
        if let Some(g) = m.try_lock() {
            return g;
        }
        tries += 1;
        if tries < 64 {
            std::hint::spin_loop();
        } else {
            thread::yield_now();
        }
    }
}

/// Which of two futures finished first.
pub(crate) enum Either<A, B> {
    /// The first.
    Left(A),
    /// The second.
    Right(B),
}

/// Polls both futures, returning the first output; the other is dropped.
pub(crate) async fn race<A: Future, B: Future>(a: A, b: B) -> Either<A::Output, B::Output> {
    let mut a = pin!(a);
    let mut b = pin!(b);
    poll_fn(|cx| {
        if let Poll::Ready(v) = a.as_mut().poll(cx) {
            return Poll::Ready(Either::Left(v));
        }
        if let Poll::Ready(v) = b.as_mut().poll(cx) {
            return Poll::Ready(Either::Right(v));
        }
        Poll::Pending
    })
    .await
}

/// Waits on an optional future; `None` never completes.
pub(crate) async fn maybe<F: Future>(f: Option<F>) -> F::Output {
    match f {
        Some(f) => f.await,
        None => std::future::pending().await,
    }
}

struct ThreadWaker(Thread);

impl Wake for ThreadWaker {
    fn wake(self: Arc<Self>) {
        self.0.unpark();
    }

    fn wake_by_ref(self: &Arc<Self>) {
        self.0.unpark();
    }
}

thread_local! {
    static WAKER: RefCell<Option<Waker>> = const { RefCell::new(None) };
}

/// Runs `fut` on the calling thread, parking between polls, until it
/// completes or `deadline` passes (then `None`, and the future is dropped).
/// The waker is made once per thread, so a blocking call allocates nothing.
pub(crate) fn block_on<F: Future>(fut: F, deadline: Option<Instant>) -> Option<F::Output> {
    let waker = WAKER.with(|w| {
        w.borrow_mut()
            .get_or_insert_with(|| Waker::from(Arc::new(ThreadWaker(thread::current()))))
            .clone()
    });
    let mut cx = Context::from_waker(&waker);
    let mut fut = pin!(fut);
    loop {
        if let Poll::Ready(v) = fut.as_mut().poll(&mut cx) {
            return Some(v);
        }
        match deadline {
            None => thread::park(),
            Some(d) => {
                let now = Instant::now();
                if now >= d {
                    return None;
                }
                thread::park_timeout(d - now);
            }
        }
    }
}

/// A one-shot stop signal shared by the socket and the tasks it started.
#[derive(Debug, Default)]
pub(crate) struct Cancel {
    flag: AtomicBool,
    event: Event,
}

impl Cancel {
    pub(crate) fn new() -> Arc<Self> {
        Arc::new(Self::default())
    }

    /// Stops every task watching this token.
    pub(crate) fn cancel(&self) {
        self.flag.store(true, Ordering::Release);
        self.event.notify(usize::MAX);
    }

    /// Whether [`cancel`](Self::cancel) was called.
    pub(crate) fn is_cancelled(&self) -> bool {
        self.flag.load(Ordering::Acquire)
    }

    /// Completes once cancelled.
    pub(crate) async fn wait(&self) {
        loop {
            if self.is_cancelled() {
                return;
            }
            listener!(self.event => l);
            if self.is_cancelled() {
                return;
            }
            l.await;
        }
    }
}
