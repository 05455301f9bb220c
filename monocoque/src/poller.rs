//! [`Poller`] and [`poll`]: waiting on many sockets at once (libzmq's
//! `zmq_poller` and `zmq_poll`). The machinery is in `readiness.rs`; this
//! is where it meets the [`Socket`].

use std::time::Duration;

use crate::error::Result;
pub use crate::readiness::{Events, PollEvent, Poller};
use crate::socket::Socket;

impl Poller {
    /// Registers `socket`, waiting for `interest`; the token that
    /// [`wait`](Self::wait) reports it by. The poller keeps the socket's
    /// state alive, not the socket: a socket closed while registered makes
    /// the next wait fail with [`Error::Terminated`](crate::Error::Terminated).
    ///
    /// ```
    /// # use monocoque::{Events, Poller, Socket, SocketType};
    /// let s = Socket::new(SocketType::Pull).unwrap();
    /// let mut p = Poller::new();
    /// let t = p.add(&s, Events::READABLE).unwrap();
    /// assert_eq!(p.len(), 1);
    /// p.remove(t).unwrap();
    /// ```
    pub fn add(&mut self, socket: &Socket, interest: Events) -> Result<usize> {
        self.add_core(socket.core_arc(), interest)
    }
}

/// One socket of a [`poll`] call (libzmq's `zmq_pollitem_t`).
#[derive(Debug)]
pub struct PollItem<'a> {
    /// The socket.
    pub socket: &'a Socket,
    /// What to wait for.
    pub events: Events,
    /// What was ready, after the call.
    pub revents: Events,
}

impl<'a> PollItem<'a> {
    /// An item waiting for `events` on `socket`.
    pub fn new(socket: &'a Socket, events: Events) -> PollItem<'a> {
        PollItem {
            socket,
            events,
            revents: Events::NONE,
        }
    }
}

/// Waits up to `timeout` (none: for ever) until one of `items` is ready
/// (libzmq's `zmq_poll`); sets each item's `revents` and returns how many
/// are ready. For a set polled again and again, a [`Poller`] costs less:
/// this registers and unregisters every socket on each call.
///
/// ```
/// use std::time::Duration;
/// use monocoque::{poll, Events, PollItem, Socket, SocketType};
/// let pull = Socket::new(SocketType::Pull).unwrap();
/// let mut items = [PollItem::new(&pull, Events::READABLE)];
/// assert_eq!(poll(&mut items, Some(Duration::from_millis(10))).unwrap(), 0);
/// assert!(items[0].revents.is_empty());
/// ```
pub fn poll(items: &mut [PollItem<'_>], timeout: Option<Duration>) -> Result<usize> {
    let mut p = Poller::new();
    for it in items.iter_mut() {
        it.revents = Events::NONE;
        p.add(it.socket, it.events)?;
    }
    let ready = p.wait(timeout)?;
    for e in ready {
        items[e.token].revents = e.events;
    }
    Ok(ready.len())
}
