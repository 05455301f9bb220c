//! What a poller needs below the socket: [`Events`], the [`Poller`]'s
//! machinery over socket cores, and the readiness descriptor. The public
//! face that takes a `Socket` (`Poller::add`, `poll`) is in `poller.rs`,
//! so this module never names `Socket` and `socket.rs` can wait with it.
//!
//! Level-triggered and exact for every socket type: a socket is readable
//! when a receive would return a message now (a SUB's message matches a
//! subscription, a REQ's reply has come), writable when a send would not
//! wait (a PUSH's peer has room, a REQ has no request out, a REP is
//! answering one). To answer exactly for the types that filter or keep
//! state, the check may take the message off the queue and keep it for
//! the next receive, as libzmq does.
//!
//! Nothing is scanned per wake-up: each registered socket tells the poller
//! when its state may have changed (an observer on the bell its receivers
//! and senders sleep on), and a wait looks only at those sockets and at
//! the ones it found ready last time (which stay ready until the
//! application acts: level-triggered).

#[cfg(target_os = "linux")]
use std::os::fd::OwnedFd;
#[cfg(unix)]
use std::os::fd::{AsFd, BorrowedFd};
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::{Arc, Weak};

use crate::sync::StdMutex as Mutex;
use std::time::{Duration, Instant};

use crate::error::{Error, Result};
use crate::pattern::{self, Core};
use crate::socket_core::Inbox;
use crate::sync::{bell_listener, race, Bell, Either, Observer, Sleep};

/// What to wait for on a socket, or what is ready (libzmq's `ZMQ_POLLIN`
/// and `ZMQ_POLLOUT`).
///
/// ```
/// use monocoque::Events;
/// let both = Events::READABLE | Events::WRITABLE;
/// assert!(both.readable && both.writable);
/// assert!(Events::NONE.is_empty());
/// ```
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq, Hash)]
pub struct Events {
    /// A receive would return a message now.
    pub readable: bool,
    /// A send would not wait now.
    pub writable: bool,
}

impl Events {
    /// Neither.
    pub const NONE: Events = Events {
        readable: false,
        writable: false,
    };
    /// Readable (`ZMQ_POLLIN`).
    pub const READABLE: Events = Events {
        readable: true,
        writable: false,
    };
    /// Writable (`ZMQ_POLLOUT`).
    pub const WRITABLE: Events = Events {
        readable: false,
        writable: true,
    };

    /// Whether neither is set.
    pub fn is_empty(self) -> bool {
        !self.readable && !self.writable
    }

    /// What `self` and `other` both have.
    pub fn and(self, other: Events) -> Events {
        Events {
            readable: self.readable && other.readable,
            writable: self.writable && other.writable,
        }
    }
}

impl std::ops::BitOr for Events {
    type Output = Events;
    fn bitor(self, o: Events) -> Events {
        Events {
            readable: self.readable || o.readable,
            writable: self.writable || o.writable,
        }
    }
}

/// A socket that is ready, as [`Poller::wait`] reports it.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct PollEvent {
    /// The token [`Poller::add`] gave the socket.
    pub token: usize,
    /// What is ready, among what was asked for.
    pub events: Events,
}

/// What the observers of one poller share with it.
#[derive(Debug, Default)]
struct Shared {
    /// Rung when a registered socket's state may have changed.
    bell: Bell,
    /// The tokens of those sockets, each once until the poller looks.
    dirty: Mutex<Vec<usize>>,
}

/// One registered socket's observer: marks it dirty and wakes the poller.
#[derive(Debug)]
struct Watch {
    token: usize,
    flagged: AtomicBool,
    shared: Weak<Shared>,
}

impl Observer for Watch {
    fn rang(&self) {
        if self.flagged.swap(true, Ordering::AcqRel) {
            return; // already marked, and the poller already woken
        }
        if let Some(s) = self.shared.upgrade() {
            s.dirty
                .lock()
                .unwrap_or_else(|e| e.into_inner())
                .push(self.token);
            s.bell.ring();
        }
    }
}

/// A registered socket.
#[derive(Debug)]
struct Item {
    core: Arc<Core>,
    interest: Events,
    watch: Arc<Watch>,
    /// The inproc peers' queues observed for room while the socket is not
    /// writable (room there rings their bell, not ours).
    rooms: Vec<Arc<Inbox>>,
}

impl Item {
    fn observer(&self) -> Arc<dyn Observer> {
        self.watch.clone()
    }

    /// What is ready now, among what is asked for.
    fn check(&mut self) -> Result<Events> {
        let mut ready = Events::NONE;
        if self.interest.readable {
            ready.readable = pattern::readable(&self.core)?;
        }
        if self.interest.writable {
            ready.writable = pattern::writable(&self.core)?;
            if ready.writable {
                self.set_rooms(Vec::new());
            } else if self.set_rooms(pattern::room_inboxes(&self.core)) {
                // Room that came before we observed its bell.
                ready.writable = pattern::writable(&self.core)?;
            }
        }
        Ok(ready)
    }

    /// Observes exactly `rooms`; whether any was new.
    fn set_rooms(&mut self, rooms: Vec<Arc<Inbox>>) -> bool {
        let o = self.observer();
        let mut added = false;
        for old in &self.rooms {
            if !rooms.iter().any(|r| Arc::ptr_eq(r, old)) {
                old.space.unobserve(&o);
            }
        }
        for new in &rooms {
            if !self.rooms.iter().any(|r| Arc::ptr_eq(r, new)) {
                new.space.observe(o.clone());
                added = true;
            }
        }
        self.rooms = rooms;
        added
    }

    fn unregister(&mut self) {
        self.set_rooms(Vec::new());
        self.core.inbox.wake.unobserve(&self.observer());
    }
}

/// Waits on many sockets at once (libzmq's `zmq_poller`): register each
/// with what to wait for, then [`wait`](Self::wait) (or
/// [`wait_async`](Self::wait_async)) for the ones that are ready.
///
/// ```
/// use std::time::Duration;
/// use monocoque::{Context, Events, Poller, SocketType};
/// let ctx = Context::new();
/// let a = ctx.socket(SocketType::Pull).unwrap();
/// a.bind("inproc://poll-a").unwrap();
/// let b = ctx.socket(SocketType::Pull).unwrap();
/// b.bind("inproc://poll-b").unwrap();
/// let push = ctx.socket(SocketType::Push).unwrap();
/// push.connect("inproc://poll-b").unwrap();
/// push.send("for b").unwrap();
///
/// let mut poller = Poller::new();
/// let ta = poller.add(&a, Events::READABLE).unwrap();
/// let tb = poller.add(&b, Events::READABLE).unwrap();
/// let ready = poller.wait(Some(Duration::from_secs(5))).unwrap();
/// assert_eq!(ready.len(), 1);
/// assert_eq!(ready[0].token, tb);
/// # let _ = ta;
/// assert_eq!(&b.recv().unwrap()[0][..], b"for b");
/// ```
#[derive(Debug)]
pub struct Poller {
    shared: Arc<Shared>,
    items: Vec<Option<Item>>,
    free: Vec<usize>,
    /// Tokens found ready by the last wait: looked at again by the next.
    ready: Vec<usize>,
    out: Vec<PollEvent>,
    /// Scratch for the tokens a wait looks at.
    candidates: Vec<usize>,
}

impl Default for Poller {
    fn default() -> Self {
        Self::new()
    }
}

impl Poller {
    /// An empty poller.
    pub fn new() -> Poller {
        Poller {
            shared: Arc::default(),
            items: Vec::new(),
            free: Vec::new(),
            ready: Vec::new(),
            out: Vec::new(),
            candidates: Vec::new(),
        }
    }

    /// Registers a socket's core (see `Poller::add`).
    pub(crate) fn add_core(&mut self, core: Arc<Core>, interest: Events) -> Result<usize> {
        if core.is_terminated() {
            return Err(Error::Terminated);
        }
        if self
            .items
            .iter()
            .flatten()
            .any(|i| Arc::ptr_eq(&i.core, &core))
        {
            return Err(Error::Invalid("this socket is registered already"));
        }
        let token = self.free.pop().unwrap_or(self.items.len());
        let watch = Arc::new(Watch {
            token,
            flagged: AtomicBool::new(false),
            shared: Arc::downgrade(&self.shared),
        });
        let item = Item {
            core,
            interest,
            watch,
            rooms: Vec::new(),
        };
        item.core.inbox.wake.observe(item.observer());
        // Looked at by the next wait.
        item.watch.rang();
        if token == self.items.len() {
            self.items.push(Some(item));
        } else {
            self.items[token] = Some(item);
        }
        Ok(token)
    }

    /// Changes what `token`'s socket is waited for.
    ///
    /// ```
    /// # use monocoque::{Events, Poller, Socket, SocketType};
    /// let s = Socket::new(SocketType::Dealer).unwrap();
    /// let mut p = Poller::new();
    /// let t = p.add(&s, Events::READABLE).unwrap();
    /// p.modify(t, Events::READABLE | Events::WRITABLE).unwrap();
    /// ```
    pub fn modify(&mut self, token: usize, interest: Events) -> Result<()> {
        let item = self.item(token)?;
        item.interest = interest;
        item.watch.rang();
        Ok(())
    }

    /// Unregisters `token`'s socket; the token may be given again.
    pub fn remove(&mut self, token: usize) -> Result<()> {
        let mut item = self
            .items
            .get_mut(token)
            .and_then(Option::take)
            .ok_or(Error::Invalid("no socket is registered with this token"))?;
        item.unregister();
        self.free.push(token);
        self.ready.retain(|&t| t != token);
        Ok(())
    }

    /// How many sockets are registered.
    pub fn len(&self) -> usize {
        self.items.iter().flatten().count()
    }

    /// Whether no socket is registered.
    pub fn is_empty(&self) -> bool {
        self.items.iter().all(Option::is_none)
    }

    fn item(&mut self, token: usize) -> Result<&mut Item> {
        self.items
            .get_mut(token)
            .and_then(Option::as_mut)
            .ok_or(Error::Invalid("no socket is registered with this token"))
    }

    /// Waits up to `timeout` (none: for ever) until a registered socket is
    /// ready for what it was registered for; the ready ones, in token
    /// order (empty when the time ran out). Fails with
    /// [`Error::Terminated`] when a registered socket was closed or its
    /// context terminated.
    ///
    /// ```
    /// # use std::time::Duration;
    /// # use monocoque::{Events, Poller, Socket, SocketType};
    /// let push = Socket::new(SocketType::Push).unwrap(); // no peer: not writable
    /// let mut p = Poller::new();
    /// p.add(&push, Events::WRITABLE).unwrap();
    /// assert!(p.wait(Some(Duration::from_millis(10))).unwrap().is_empty());
    /// ```
    pub fn wait(&mut self, timeout: Option<Duration>) -> Result<&[PollEvent]> {
        let deadline = timeout.map(|t| Instant::now() + t);
        let shared = self.shared.clone();
        loop {
            // Listen first, then look: a change after the look rings.
            let l = shared.bell.listen();
            if self.scan()? {
                break;
            }
            match deadline {
                Some(d) if Instant::now() >= d => break,
                Some(d) => l.wait_deadline(d),
                None => l.wait(),
            }
        }
        Ok(&self.out)
    }

    /// [`wait`](Self::wait) as a future, on any executor.
    ///
    /// ```
    /// # use std::time::Duration;
    /// # use monocoque::{Events, Poller, Socket, SocketType};
    /// let pull = Socket::new(SocketType::Pull).unwrap();
    /// let mut p = Poller::new();
    /// p.add(&pull, Events::READABLE).unwrap();
    /// let fut = p.wait_async(Some(Duration::from_millis(10)));
    /// # drop(fut);
    /// ```
    pub async fn wait_async(&mut self, timeout: Option<Duration>) -> Result<&[PollEvent]> {
        let deadline = timeout.map(|t| Instant::now() + t);
        let shared = self.shared.clone();
        loop {
            bell_listener!(shared.bell => woken);
            if self.scan()? {
                break;
            }
            match deadline {
                Some(d) if Instant::now() >= d => break,
                Some(d) => {
                    if let Either::Right(()) = race(woken, Sleep::until(d)).await {
                        // One last look at the deadline.
                        self.scan()?;
                        break;
                    }
                }
                None => woken.await,
            }
        }
        Ok(&self.out)
    }

    /// Looks at the sockets that may have changed and those ready last
    /// time; whether any is ready.
    fn scan(&mut self) -> Result<bool> {
        let mut cand = std::mem::take(&mut self.candidates);
        cand.clear();
        cand.append(&mut self.ready);
        cand.append(&mut self.shared.dirty.lock().unwrap_or_else(|e| e.into_inner()));
        cand.sort_unstable();
        cand.dedup();
        self.out.clear();
        let mut result = Ok(());
        for &token in &cand {
            let Some(Some(item)) = self.items.get_mut(token) else {
                continue;
            };
            // Cleared before the look: a change after it marks it again.
            item.watch.flagged.store(false, Ordering::SeqCst);
            match item.check() {
                Ok(events) if !events.is_empty() => {
                    self.out.push(PollEvent { token, events });
                    self.ready.push(token);
                }
                Ok(_) => {}
                Err(e) => {
                    // Looked at again next time, and reported now.
                    item.watch.rang();
                    result = Err(e);
                }
            }
        }
        self.candidates = cand;
        result.map(|()| !self.out.is_empty())
    }
}

impl Drop for Poller {
    fn drop(&mut self) {
        for item in self.items.iter_mut().flatten() {
            item.unregister();
        }
    }
}

/// A socket's readiness descriptor ([`Socket::readiness_fd`]): an eventfd
/// (a `sync::WakePipe` on the other Unixes) written
/// whenever the socket's state may have changed. Windows has none
/// (`readiness_fd` is Unix API): the type is there, never made.
#[derive(Debug)]
#[cfg_attr(windows, allow(dead_code))]
pub(crate) struct ReadinessFd {
    #[cfg(target_os = "linux")]
    fd: OwnedFd,
    #[cfg(all(unix, not(target_os = "linux")))]
    fd: crate::sync::WakePipe,
}

impl ReadinessFd {
    /// A new descriptor, not readable yet.
    #[cfg(target_os = "linux")]
    pub(crate) fn new() -> Result<Arc<ReadinessFd>> {
        let fd = rustix::event::eventfd(
            0,
            rustix::event::EventfdFlags::CLOEXEC | rustix::event::EventfdFlags::NONBLOCK,
        )
        .map_err(|e| Error::Io(e.into()))?;
        Ok(Arc::new(ReadinessFd { fd }))
    }

    /// A new descriptor, not readable yet.
    #[cfg(all(unix, not(target_os = "linux")))]
    pub(crate) fn new() -> Result<Arc<ReadinessFd>> {
        let fd = crate::sync::WakePipe::new()?;
        Ok(Arc::new(ReadinessFd { fd }))
    }

    /// The descriptor.
    #[cfg(unix)]
    pub(crate) fn fd(&self) -> BorrowedFd<'_> {
        self.fd.as_fd()
    }

    /// Makes it not readable until the next change.
    #[cfg(target_os = "linux")]
    pub(crate) fn clear(&self) {
        let mut count = [0u8; 8];
        let _ = rustix::io::read(&self.fd, &mut count);
    }

    /// Makes it not readable until the next change.
    #[cfg(not(target_os = "linux"))]
    pub(crate) fn clear(&self) {
        #[cfg(unix)]
        self.fd.clear();
    }
}

impl Observer for ReadinessFd {
    #[cfg(target_os = "linux")]
    fn rang(&self) {
        let _ = rustix::io::write(&self.fd, &1u64.to_ne_bytes());
    }

    #[cfg(not(target_os = "linux"))]
    fn rang(&self) {
        #[cfg(unix)]
        self.fd.signal();
    }
}
