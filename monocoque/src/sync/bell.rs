//! [`Bell`]: an event that is free to ring when nobody waits.

use std::future::Future;
use std::pin::Pin;
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

