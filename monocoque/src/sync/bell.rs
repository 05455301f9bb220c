//! [`Bell`]: an event that is free to ring when nobody waits.

use std::future::Future;
use std::pin::Pin;
use std::sync::Arc;
use std::task::{Context, Poll};
use std::time::Instant;

use event_listener::Event;

use super::atomic::{fence, AtomicUsize, Ordering};

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
    /// Whether [`observers`](Self::observers) holds any (read on every
    /// ring, after the same fence as `waiters`).
    observed: AtomicUsize,
    /// Told of every ring while registered: pollers and readiness
    /// descriptors, which wait on many bells at once.
    observers: super::StdMutex<Vec<Arc<dyn Observer>>>,
}

/// Something told of every ring of a [`Bell`] it observes.
pub(crate) trait Observer: Send + Sync + std::fmt::Debug {
    /// The bell rang. Called on the ringing thread: be quick, and never
    /// take a lock the ringer might hold.
    fn rang(&self);
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
        if self.observed.load(Ordering::Relaxed) > 0 {
            self.tell_observers();
        }
    }

    #[cold]
    fn tell_observers(&self) {
        let observers = self.observers.lock().unwrap_or_else(|e| e.into_inner());
        for o in observers.iter() {
            o.rang();
        }
    }

    /// Tells `o` of every ring from now on, until [`unobserve`](Self::unobserve).
    /// As with a waiter, a state change rung after this returns is seen:
    /// check the state after observing, not before.
    pub(crate) fn observe(&self, o: Arc<dyn Observer>) {
        let mut observers = self.observers.lock().unwrap_or_else(|e| e.into_inner());
        observers.push(o);
        self.observed.store(observers.len(), Ordering::Relaxed);
        fence(Ordering::SeqCst);
    }

    /// Stops telling `o` (compared by address).
    pub(crate) fn unobserve(&self, o: &Arc<dyn Observer>) {
        let mut observers = self.observers.lock().unwrap_or_else(|e| e.into_inner());
        if let Some(i) = observers.iter().position(|x| Arc::ptr_eq(x, o)) {
            observers.swap_remove(i);
        }
        self.observed.store(observers.len(), Ordering::Relaxed);
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
    /// Blocks the thread until rung.
    pub(crate) fn wait(self) {
        use event_listener::Listener as _;
        self.listener.wait();
    }

    /// Blocks the thread until rung or until `deadline`.
    pub(crate) fn wait_deadline(self, deadline: Instant) {
        use event_listener::Listener as _;
        let _ = self.listener.wait_deadline(deadline);
    }
}

impl Future for BellListener<'_> {
    type Output = ();
    fn poll(mut self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<()> {
        Pin::new(&mut self.listener).poll(cx)
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

#[cfg(all(test, not(loom)))]
mod tests {
    use std::future::Future;
    use std::pin::pin;
    use std::sync::Arc;
    use std::task::{Context, Waker};
    use std::time::{Duration, Instant};

    use super::Bell;

    /// Whether `f` is ready now (polled once, nobody to wake).
    fn ready(f: impl Future<Output = ()>) -> bool {
        let f = pin!(f);
        f.poll(&mut Context::from_waker(Waker::noop())).is_ready()
    }

    #[test]
    fn ring_wakes_a_listener_made_before_it() {
        let bell = Bell::default();
        let mut l = pin!(bell.listen());
        assert!(!ready(l.as_mut()), "nothing rang yet");
        bell.ring();
        assert!(ready(l), "rung after the listener announced itself");
    }

    #[test]
    fn ring_n_wakes_that_many() {
        let bell = Bell::default();
        let (mut a, mut b) = (pin!(bell.listen()), pin!(bell.listen()));
        bell.ring_n(1);
        let woken = usize::from(ready(a.as_mut())) + usize::from(ready(b.as_mut()));
        assert_eq!(woken, 1);
    }

    /// With no waiter counted a ring is a fence and a load: it does not
    /// reach the event, as a listener that did not announce itself shows.
    #[test]
    fn ring_without_waiters_leaves_the_event_alone() {
        let bell = Bell::default();
        let mut uncounted = pin!(bell.event().listen());
        bell.ring();
        assert!(!ready(uncounted.as_mut()), "no waiter counted: no notify");
        let counted = bell.waiting();
        bell.ring();
        assert!(ready(uncounted), "a waiter counted: notify");
        drop(counted);
        assert_eq!(bell.waiters.load(super::Ordering::Relaxed), 0);
    }

    #[test]
    fn bell_listener_counts_until_the_block_ends() {
        let bell = Bell::default();
        {
            super::bell_listener!(bell => l);
            assert_eq!(bell.waiters.load(super::Ordering::Relaxed), 1);
            bell.ring();
            assert!(ready(l));
        }
        assert_eq!(bell.waiters.load(super::Ordering::Relaxed), 0);
    }

    /// A thread that announces, re-checks, then sleeps is woken by a ring
    /// made after the state changed (the deadline only bounds a failure).
    #[test]
    fn ring_wakes_a_sleeping_thread() {
        use std::sync::atomic::{AtomicBool, Ordering};
        let bell = Arc::new(Bell::default());
        let flag = Arc::new(AtomicBool::new(false));
        let waiter = {
            let (bell, flag) = (bell.clone(), flag.clone());
            std::thread::spawn(move || {
                let give_up = Instant::now() + Duration::from_secs(30);
                while !flag.load(Ordering::Relaxed) && Instant::now() < give_up {
                    let l = bell.listen();
                    if flag.load(Ordering::Relaxed) {
                        break;
                    }
                    l.wait_deadline(give_up);
                }
                flag.load(Ordering::Relaxed)
            })
        };
        flag.store(true, Ordering::Relaxed);
        bell.ring();
        assert!(waiter.join().unwrap_or(false));
    }
}

/// loom models of the bell (run with `scripts/loom.sh`).
#[cfg(all(test, loom))]
mod loom_models {
    use std::sync::Arc;

    use event_listener::Listener as _;
    use loom::thread;

    use super::super::atomic::{AtomicBool, AtomicUsize, Ordering};
    use super::Bell;

    /// As in `pipe::loom_models`: 2 preemptions unless
    /// `LOOM_MAX_PREEMPTIONS` says otherwise.
    fn model(f: impl Fn() + Sync + Send + 'static) {
        let mut b = loom::model::Builder::new();
        if b.preemption_bound.is_none() {
            b.preemption_bound = Some(2);
        }
        b.check(f);
    }

    /// Waits, the way every user of a bell does, until `done` holds.
    fn wait_until(bell: &Bell, done: impl Fn() -> bool) {
        loop {
            if done() {
                return;
            }
            bell_listener!(bell => l);
            if done() {
                return;
            }
            l.wait();
        }
    }

    /// (b) A ringer that changes the state and rings, against a waiter
    /// that announces itself, re-checks and sleeps: the waiter always
    /// wakes (a lost wake-up leaves it asleep and loom reports the
    /// deadlock). The state is relaxed on both sides: only the bell's two
    /// fences order it against the waiter count.
    #[test]
    fn ring_after_change_wakes_waiter() {
        model(|| {
            let bell = Arc::new(Bell::default());
            let flag = Arc::new(AtomicBool::new(false));
            let ringer = {
                let (bell, flag) = (bell.clone(), flag.clone());
                thread::spawn(move || {
                    flag.store(true, Ordering::Relaxed);
                    bell.ring_n(1);
                })
            };
            wait_until(&bell, || flag.load(Ordering::Relaxed));
            ringer
                .join()
                .unwrap_or_else(|e| std::panic::resume_unwind(e));
        });
    }

    /// (b') `ring` wakes every waiter, whichever way each listens
    /// ([`bell_listener!`] or the heap [`Bell::listen`]).
    #[test]
    fn ring_wakes_every_waiter() {
        model(|| {
            let bell = Arc::new(Bell::default());
            let count = Arc::new(AtomicUsize::new(0));
            let heap = {
                let (bell, count) = (bell.clone(), count.clone());
                thread::spawn(move || loop {
                    if count.load(Ordering::Relaxed) > 0 {
                        return;
                    }
                    let l = bell.listen();
                    if count.load(Ordering::Relaxed) > 0 {
                        return;
                    }
                    l.listener.wait();
                })
            };
            let stack = {
                let (bell, count) = (bell.clone(), count.clone());
                thread::spawn(move || wait_until(&bell, || count.load(Ordering::Relaxed) > 0))
            };
            count.fetch_add(1, Ordering::Relaxed);
            bell.ring();
            heap.join().unwrap_or_else(|e| std::panic::resume_unwind(e));
            stack
                .join()
                .unwrap_or_else(|e| std::panic::resume_unwind(e));
        });
    }
}
