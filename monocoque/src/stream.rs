//! The `futures` feature: a socket's receives as a [`Stream`]
//! ([`RecvStream`], from [`Socket::stream`]), its sends as a [`Sink`]
//! ([`SendSink`], from [`Socket::sink`]), and a [`Monitor`] as a stream of
//! [`MonitorEvent`]s ([`MonitorStream`], from [`Monitor::into_stream`]).
//!
//! Each is a poll-driven state machine over the bells the async methods
//! wait on (`Socket::recv_async`, `Socket::reserve_async`,
//! `Monitor::recv_async`), not a boxed `async fn`: a poll that must wait
//! listens on the socket's bell (one heap listener, made only when there is
//! nothing to take, so an allocation per wait and none per message), looks
//! again, and returns `Pending`; the bell's ring wakes the task. Nothing
//! is taken from a queue except by the poll that returns it, so dropping an
//! adapter, or a `next()`/`send()` future, at any point loses no message.
//!
//! ```text
//! application ── StreamExt / SinkExt ──► RecvStream / SendSink / MonitorStream
//!                                          │ try_recv, writable, try_send (pattern)
//!                                          │ listen on the inbox's wake bell,
//!                                          ▼ an inproc peer's space bell
//!                                        Socket (inbox, peers)   Monitor (its queue)
//! ```

use std::fmt;
use std::future::Future;
use std::pin::Pin;
use std::sync::Arc;
use std::task::{Context, Poll};

use event_listener::EventListener;
use futures_core::stream::{FusedStream, Stream};
use futures_sink::Sink;
use monocoque_zmtp::SocketType;

use crate::error::{Error, Result};
use crate::message::Message;
use crate::monitor::{EventMask, Monitor, MonitorEvent};
use crate::pattern::{self, Core, SendError};
use crate::socket::Socket;
use crate::socket_core::Inbox;
use crate::sync::BellListener;

impl Socket {
    /// The socket's receives as a [`Stream`] of messages (the `futures`
    /// feature), for `StreamExt::next`, `forward` and the other
    /// combinators, on any executor.
    ///
    /// - Cancel-safe: a message leaves the socket only in the poll that
    ///   returns it, so a `next()` dropped while it waits (a `select!`
    ///   whose other branch won, a timeout) or a dropped stream loses
    ///   nothing: the next receive gets it.
    /// - Waits for ever: `RCVTIMEO` does not apply (put a timeout around
    ///   `next()`, which is cancel-safe).
    /// - Ends (`None`, and `None` after that) when the socket's context is
    ///   terminated ([`Error::Terminated`]). Any other error is an item
    ///   and the stream goes on: a REQ's stream yields [`Error::State`]
    ///   until a request is out, a PUSH's (which cannot receive)
    ///   [`Error::NotSupported`].
    ///
    /// The stream borrows the socket; a [`sink`](Self::sink) may borrow it
    /// at the same time, and a task can own both by owning an
    /// `Arc<Socket>`.
    ///
    /// ```
    /// use futures_util::StreamExt;
    /// use monocoque::{Context, SocketType};
    /// let ctx = Context::new();
    /// let pull = ctx.socket(SocketType::Pull).unwrap();
    /// pull.bind("inproc://stream-doc").unwrap();
    /// let push = ctx.socket(SocketType::Push).unwrap();
    /// push.connect("inproc://stream-doc").unwrap();
    /// push.send("one").unwrap();
    /// push.send("two").unwrap();
    /// futures_lite::future::block_on(async {
    ///     let mut messages = pull.stream();
    ///     assert_eq!(&messages.next().await.unwrap().unwrap()[0][..], b"one");
    ///     assert_eq!(&messages.next().await.unwrap().unwrap()[0][..], b"two");
    /// });
    /// ```
    pub fn stream(&self) -> RecvStream<'_> {
        RecvStream {
            core: self.parts().0,
            woken: None,
            ended: false,
        }
    }

    /// The socket's sends as a [`Sink`] of messages (the `futures`
    /// feature): anything that is `Into<Message>`, through `SinkExt::send`,
    /// `feed` and `send_all`, on any executor.
    ///
    /// - `poll_ready` waits until a send would not wait, as
    ///   [`reserve_async`](Self::reserve_async) does (the socket is
    ///   writable: a peer has room, a REQ has no request out), holding
    ///   nothing while it waits.
    /// - `start_send` then sends at once. Should another thread have taken
    ///   the room in between, the sink keeps the message and hands it over
    ///   before it is ready again, so a message given to `start_send` is
    ///   never lost; a `send()` future dropped while it waits for room
    ///   had sent nothing.
    /// - `poll_flush` completes when every message given is with the
    ///   socket, queued for a peer. Monocoque's I/O threads write what is
    ///   queued in batches of their own accord: there is nothing to push,
    ///   and no call puts bytes on the wire sooner.
    /// - `poll_close` flushes and leaves the socket open (the sink borrows
    ///   it): close the socket itself, e.g. with
    ///   [`close_async`](Self::close_async), to end its connections after
    ///   `LINGER`.
    /// - Waits for ever: `SNDTIMEO` does not apply (put a timeout around
    ///   the `send()`). A message the socket refuses outright (an empty
    ///   one, a REQ out of turn, an unroutable ROUTER message with
    ///   `ROUTER_MANDATORY`) fails its `start_send` or flush with that
    ///   error and is dropped, as [`send`](Self::send) drops it;
    ///   [`Error::Terminated`] once the context is terminated.
    ///
    /// A REQ's sink is not ready while its request is out: a second send
    /// waits for the reply to be received rather than failing with
    /// [`Error::State`] (and a REP's until it has received a request). A
    /// SUB's or PULL's fails with [`Error::NotSupported`].
    ///
    /// ```
    /// use futures_util::SinkExt;
    /// use monocoque::{Context, SocketType};
    /// let ctx = Context::new();
    /// let pull = ctx.socket(SocketType::Pull).unwrap();
    /// pull.bind("inproc://sink-doc").unwrap();
    /// let push = ctx.socket(SocketType::Push).unwrap();
    /// push.connect("inproc://sink-doc").unwrap();
    /// futures_lite::future::block_on(async {
    ///     let mut jobs = push.sink();
    ///     jobs.send("job 1").await.unwrap();
    ///     jobs.send(String::from("job 2")).await.unwrap();
    /// });
    /// assert_eq!(&pull.recv().unwrap()[0][..], b"job 1");
    /// assert_eq!(&pull.recv().unwrap()[0][..], b"job 2");
    /// ```
    pub fn sink(&self) -> SendSink<'_> {
        SendSink {
            core: self.parts().0,
            unsent: None,
            wait: Wait::default(),
        }
    }
}

/// A socket's receives as a [`Stream`]: see [`Socket::stream`].
#[derive(Debug)]
#[must_use = "a stream does nothing unless polled"]
pub struct RecvStream<'a> {
    core: &'a Core,
    /// Listening on the socket's bell: made when a poll found nothing,
    /// dropped when a message is returned.
    woken: Option<BellListener<'a>>,
    /// The context was terminated: nothing comes any more.
    ended: bool,
}

impl Stream for RecvStream<'_> {
    type Item = Result<Message>;

    fn poll_next(self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<Option<Result<Message>>> {
        let this = self.get_mut();
        if this.ended {
            return Poll::Ready(None);
        }
        loop {
            match pattern::try_recv(this.core) {
                Ok(Some(m)) => {
                    this.woken = None;
                    return Poll::Ready(Some(Ok(m)));
                }
                Ok(None) => {}
                Err(Error::Terminated) => {
                    this.woken = None;
                    this.ended = true;
                    return Poll::Ready(None);
                }
                Err(e) => {
                    this.woken = None;
                    return Poll::Ready(Some(Err(e)));
                }
            }
            match &mut this.woken {
                // Listen first, then look again: a message queued between
                // the look above and the listen rings the listener.
                None => this.woken = Some(this.core.inbox.wake.listen()),
                Some(l) => match Pin::new(l).poll(cx) {
                    Poll::Ready(()) => this.woken = None,
                    Poll::Pending => return Poll::Pending,
                },
            }
        }
    }
}

impl FusedStream for RecvStream<'_> {
    fn is_terminated(&self) -> bool {
        self.ended
    }
}

/// A socket's sends as a [`Sink`]: see [`Socket::sink`].
#[must_use = "a sink does nothing unless polled"]
pub struct SendSink<'a> {
    core: &'a Core,
    /// A message `start_send` could not hand over (another sender took the
    /// room first): handed over before the sink is ready again.
    unsent: Option<Message>,
    wait: Wait<'a>,
}

impl fmt::Debug for SendSink<'_> {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("SendSink")
            .field("unsent", &self.unsent)
            .field("waiting", &self.wait.armed())
            .finish_non_exhaustive()
    }
}

impl<'a> SendSink<'a> {
    /// Hands the kept message over, waiting for room as `send_async` does
    /// (on the socket's bell, and on the room of the inproc peer it waits
    /// for); ready at once when there is none.
    fn poll_unsent(&mut self, cx: &mut Context<'_>) -> Poll<Result<()>> {
        loop {
            let Some(msg) = self.unsent.take() else {
                return Poll::Ready(Ok(()));
            };
            match pattern::try_send(self.core, msg) {
                Ok(()) => {
                    self.wait.disarm();
                    return Poll::Ready(Ok(()));
                }
                Err(SendError::Fail(e)) => {
                    self.wait.disarm();
                    return Poll::Ready(Err(e));
                }
                Err(SendError::Full(m, target)) => {
                    self.unsent = Some(m);
                    if !self.wait.armed_for(target.as_slice()) {
                        // Listening from now, then try again.
                        self.wait.arm(self.core, target, cx);
                        continue;
                    }
                    if self.wait.poll(cx).is_pending() {
                        return Poll::Pending;
                    }
                }
            }
        }
    }

    /// Waits until a send would not wait (a poller's POLLOUT), watching
    /// the socket's bell and the room of every inproc peer that is full.
    fn poll_writable(&mut self, cx: &mut Context<'_>) -> Poll<Result<()>> {
        loop {
            match pattern::writable(self.core) {
                Ok(true) => {
                    self.wait.disarm();
                    return Poll::Ready(Ok(()));
                }
                // Never writable: fail as a send would.
                Ok(false) if matches!(self.core.ty, SocketType::Sub | SocketType::Pull) => {
                    self.wait.disarm();
                    return Poll::Ready(Err(Error::NotSupported(self.core.ty.as_str())));
                }
                Ok(false) => {}
                Err(e) => {
                    self.wait.disarm();
                    return Poll::Ready(Err(e));
                }
            }
            if !self.wait.armed() {
                let rooms = pattern::room_inboxes(self.core);
                self.wait.arm(self.core, rooms, cx);
                continue;
            }
            if self.wait.poll(cx).is_pending() {
                return Poll::Pending;
            }
            // Rung: the peers may have changed too, so the rooms are
            // looked up again by the next arm.
        }
    }
}

impl<M: Into<Message>> Sink<M> for SendSink<'_> {
    type Error = Error;

    fn poll_ready(self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<Result<()>> {
        let this = self.get_mut();
        match this.poll_unsent(cx) {
            Poll::Ready(Ok(())) => this.poll_writable(cx),
            other => other,
        }
    }

    fn start_send(self: Pin<&mut Self>, item: M) -> Result<()> {
        let this = self.get_mut();
        if this.unsent.is_some() {
            return Err(Error::Invalid("start_send without poll_ready"));
        }
        match pattern::try_send(this.core, item.into()) {
            Ok(()) => Ok(()),
            Err(SendError::Full(m, _)) => {
                this.unsent = Some(m);
                Ok(())
            }
            Err(SendError::Fail(e)) => Err(e),
        }
    }

    fn poll_flush(self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<Result<()>> {
        self.get_mut().poll_unsent(cx)
    }

    fn poll_close(self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<Result<()>> {
        self.get_mut().poll_unsent(cx)
    }
}

impl Drop for SendSink<'_> {
    /// A message still kept (dropped unflushed, after another sender took
    /// the room) gets one last try; it is dropped if the socket has no
    /// room for it now.
    fn drop(&mut self) {
        if let Some(m) = self.unsent.take() {
            let _ = pattern::try_send(self.core, m);
        }
    }
}

/// Waits for the room of an inproc peer's inbox: boxed, since the listener
/// borrows the inbox the future owns. Allocated per wait and per such
/// peer, only while a send waits for an inproc peer that is full (room
/// there rings that peer's bell, not the socket's).
type RoomWait = Pin<Box<dyn Future<Output = ()> + Send + Sync>>;

fn room_wait(inbox: Arc<Inbox>) -> RoomWait {
    Box::pin(async move { inbox.space.listen().await })
}

/// What a waiting [`SendSink`] listens to: the socket's bell and the room
/// of the inproc peers it is waiting for.
#[derive(Default)]
struct Wait<'a> {
    woken: Option<BellListener<'a>>,
    /// Each inbox, and its wait until that completes.
    rooms: Vec<(Arc<Inbox>, Option<RoomWait>)>,
    /// A room's wait completed while being armed.
    rung: bool,
}

impl<'a> Wait<'a> {
    fn armed(&self) -> bool {
        self.woken.is_some()
    }

    /// Whether it listens, and to exactly `rooms`.
    fn armed_for(&self, rooms: &[Arc<Inbox>]) -> bool {
        self.armed()
            && self.rooms.len() == rooms.len()
            && self
                .rooms
                .iter()
                .zip(rooms)
                .all(|((a, _), b)| Arc::ptr_eq(a, b))
    }

    /// Listens from now on (whatever rings after this returns is heard):
    /// the caller looks at the state again next.
    fn arm(
        &mut self,
        core: &'a Core,
        rooms: impl IntoIterator<Item = Arc<Inbox>>,
        cx: &mut Context<'_>,
    ) {
        self.disarm();
        self.woken = Some(core.inbox.wake.listen());
        for inbox in rooms {
            let mut f = room_wait(inbox.clone());
            // The first poll makes the room's listener.
            let done = f.as_mut().poll(cx).is_ready();
            self.rung |= done;
            self.rooms.push((inbox, (!done).then_some(f)));
        }
    }

    /// Ready (and disarmed) once anything it listens to rang.
    fn poll(&mut self, cx: &mut Context<'_>) -> Poll<()> {
        let mut rung = std::mem::take(&mut self.rung);
        if let Some(l) = &mut self.woken {
            rung |= Pin::new(l).poll(cx).is_ready();
        }
        for (_, f) in &mut self.rooms {
            if let Some(f) = f {
                rung |= f.as_mut().poll(cx).is_ready();
            }
        }
        if rung {
            self.disarm();
            Poll::Ready(())
        } else {
            Poll::Pending
        }
    }

    fn disarm(&mut self) {
        self.woken = None;
        self.rooms.clear();
        self.rung = false;
    }
}

impl Monitor {
    /// The monitor as a [`Stream`] of events (the `futures` feature).
    /// Cancel-safe as [`recv_async`](Self::recv_async) is: an event leaves
    /// the queue only in the poll that returns it. The stream ends after
    /// the socket is gone: after `MONITOR_STOPPED` if the mask takes it,
    /// else once the events queued before are read. (Clones of a monitor
    /// share its queue: each event goes to one of them.)
    ///
    /// ```
    /// use futures_util::StreamExt;
    /// use monocoque::{MonitorEvent, Socket, SocketType};
    /// let s = Socket::new(SocketType::Pull).unwrap();
    /// let mut events = s.monitor().into_stream();
    /// s.bind("tcp://127.0.0.1:*").unwrap();
    /// drop(s);
    /// futures_lite::future::block_on(async {
    ///     assert!(matches!(events.next().await, Some(MonitorEvent::Listening { .. })));
    ///     while let Some(ev) = events.next().await {
    ///         println!("{ev}"); // ... closed, monitor stopped
    ///     }
    /// });
    /// ```
    pub fn into_stream(self) -> MonitorStream {
        MonitorStream {
            monitor: self,
            woken: None,
            ended: false,
        }
    }
}

/// A [`Monitor`]'s events as a [`Stream`]: see [`Monitor::into_stream`].
#[derive(Debug)]
#[must_use = "a stream does nothing unless polled"]
pub struct MonitorStream {
    monitor: Monitor,
    woken: Option<EventListener>,
    ended: bool,
}

impl MonitorStream {
    /// The monitor back (its queue keeps whatever was not read).
    pub fn into_inner(self) -> Monitor {
        self.monitor
    }
}

impl Stream for MonitorStream {
    type Item = MonitorEvent;

    fn poll_next(self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<Option<MonitorEvent>> {
        let this = self.get_mut();
        if this.ended {
            return Poll::Ready(None);
        }
        loop {
            // Read before the queue is looked at: when it is set, every
            // event but `MONITOR_STOPPED` itself is queued already.
            let stopped = this.monitor.is_stopped();
            if let Some(ev) = this.monitor.try_recv() {
                this.woken = None;
                // Nothing comes after it.
                this.ended = matches!(ev, MonitorEvent::MonitorStopped {});
                return Poll::Ready(Some(ev));
            }
            if stopped && !this.monitor.events().contains(EventMask::MONITOR_STOPPED) {
                this.woken = None;
                this.ended = true;
                return Poll::Ready(None);
            }
            match &mut this.woken {
                None => this.woken = Some(this.monitor.listen()),
                Some(l) => match Pin::new(l).poll(cx) {
                    Poll::Ready(()) => this.woken = None,
                    Poll::Pending => return Poll::Pending,
                },
            }
        }
    }
}

impl FusedStream for MonitorStream {
    fn is_terminated(&self) -> bool {
        self.ended
    }
}
