//! [`Socket`]: the user's handle.

use std::sync::Arc;
use std::time::{Duration, Instant};

use monocoque_core::router::PeerId;
use monocoque_zmtp::SocketType;

use crate::context::{Context, ContextInner};
use crate::endpoint::Endpoint;
use crate::error::{Error, Result};
use crate::message::Message;
use crate::monitor::{EventMask, Monitor, MonitorEvent};
use crate::options::SocketOptions;
use crate::pattern::{self, Core, Pattern, SendError};
use crate::readiness::{Events, Poller, ReadinessFd};
use crate::socket_core::{EndpointEntry, Hooks, Inbox, Outbox, Port};
use crate::sync::{bell_listener, block_on, maybe, race, Cancel, Either, Observer, Sleep};
use crate::transport::{inproc, net};

/// A ZeroMQ socket.
///
/// Every method takes `&self`: a socket is `Send` and `Sync`, so it can be
/// moved to another thread or shared in an `Arc`. Blocking methods
/// ([`send`](Self::send), [`recv`](Self::recv)) park the calling thread and
/// honour `SNDTIMEO`/`RCVTIMEO`; `_async` methods return futures that run on
/// any executor (tokio, smol, async-std, compio or a plain `block_on`) and
/// are cancel-safe: a future dropped before it completes has sent or
/// received nothing. With the `futures` feature, `stream` and `sink` give
/// the same receives and sends as a `Stream` and a `Sink`, as cancel-safe.
///
/// Sharing is safe for every type, but REQ and REP keep one strict
/// alternation per socket (a REQ sends, then receives its reply; a REP
/// receives, then replies): two threads sharing one REQ or REP get
/// [`Error::State`] for the call out of turn, as a single thread would.
/// Give each thread its own REQ, or share a DEALER or ROUTER, which
/// have no such state.
///
/// ```
/// use monocoque::{Context, SocketType};
/// let ctx = Context::new();
/// let rep = ctx.socket(SocketType::Rep).unwrap();
/// rep.bind("tcp://127.0.0.1:*").unwrap();
/// let req = ctx.socket(SocketType::Req).unwrap();
/// req.connect(&rep.last_endpoint().unwrap()).unwrap();
/// req.send("ping").unwrap();
/// let request = rep.recv().unwrap();
/// rep.send(request).unwrap();
/// assert_eq!(&req.recv().unwrap()[0][..], b"ping");
/// ```
#[derive(Debug)]
pub struct Socket {
    core: Arc<Core>,
    ctx: Arc<ContextInner>,
    /// The readiness descriptor, once asked for.
    readiness: std::sync::OnceLock<Arc<ReadinessFd>>,
}

/// How long a blocking `recv` watches its lone connection before it
/// sleeps as usual (see `Socket::recv_watching`; Unix only).
#[cfg(unix)]
const WATCH: Duration = Duration::from_millis(20);
/// How long it waits for the I/O thread once the connection is readable...
#[cfg(unix)]
const WATCH_SPIN: Duration = Duration::from_micros(200);
/// ... spinning for the first part of that, then yielding.
#[cfg(unix)]
const WATCH_SPIN_HOT: Duration = Duration::from_micros(2);

impl Socket {
    /// A new socket of type `ty` in context `ctx`.
    pub(crate) fn open(ctx: Arc<ContextInner>, ty: SocketType) -> Result<Socket> {
        let pattern = Pattern::try_new(ty).ok_or(Error::NotSupported(ty.as_str()))?;
        let core = Core::new(ty, pattern, Some(ctx.zap.clone()));
        core.lock().base.opts = SocketOptions::for_type(ty);
        ctx.register(&core)?;
        Ok(Socket {
            core,
            ctx,
            readiness: std::sync::OnceLock::new(),
        })
    }

    /// A socket in the process-wide [`Context::global`].
    ///
    /// ```
    /// use monocoque::{Socket, SocketType};
    /// let s = Socket::new(SocketType::Pub).unwrap();
    /// assert_eq!(s.socket_type(), SocketType::Pub);
    /// ```
    pub fn new(ty: SocketType) -> Result<Socket> {
        Context::global().socket(ty)
    }

    /// The socket's type.
    ///
    /// ```
    /// # use monocoque::{Socket, SocketType};
    /// assert_eq!(Socket::new(SocketType::Sub).unwrap().socket_type(), SocketType::Sub);
    /// ```
    pub fn socket_type(&self) -> SocketType {
        self.core.ty
    }

    /// A copy of the socket's options.
    ///
    /// ```
    /// # use monocoque::{Socket, SocketType};
    /// let s = Socket::new(SocketType::Push).unwrap();
    /// assert_eq!(s.options().sndhwm, 1000);
    /// ```
    pub fn options(&self) -> SocketOptions {
        self.core.lock().base.opts.clone()
    }

    /// Replaces the socket's options. HWMs, the routing id and the security
    /// settings apply to connections made afterwards; RCVHWM is fixed by the
    /// first bind or connect.
    ///
    /// ```
    /// # use monocoque::{Socket, SocketType, SocketOptions};
    /// let s = Socket::new(SocketType::Router).unwrap();
    /// s.set_options(SocketOptions { router_mandatory: true, ..s.options() });
    /// assert!(s.options().router_mandatory);
    /// ```
    pub fn set_options(&self, opts: SocketOptions) {
        let mut st = self.core.lock();
        st.pattern.options_changed(&opts);
        st.base.opts = opts;
        self.core.refresh_recv_direct(&st);
    }

    /// Changes some options in place. Unchecked: a value libzmq refuses
    /// (a routing id over 255 bytes, say) is taken here and refused by the
    /// next `bind` or `connect` (`Error::Option`);
    /// [`try_update_options`](Self::try_update_options) and the by-name
    /// setters refuse it at once.
    ///
    /// ```
    /// # use monocoque::{Socket, SocketType};
    /// # use std::time::Duration;
    /// let s = Socket::new(SocketType::Pull).unwrap();
    /// s.update_options(|o| o.rcvtimeo = Some(Duration::from_millis(10)));
    /// assert!(s.recv().is_err()); // nothing came within 10 ms
    /// ```
    pub fn update_options(&self, f: impl FnOnce(&mut SocketOptions)) {
        let mut opts = self.options();
        f(&mut opts);
        self.set_options(opts);
    }

    /// The socket's event stream: every event libzmq 4.3 reports
    /// (listening, accepted, connected, handshake results,
    /// disconnections...; see [`MonitorEvent`]). Each call makes a reader
    /// of its own, which sees the events from then on;
    /// [`monitor_events`](Self::monitor_events) takes some events only,
    /// [`socket_monitor`](Self::socket_monitor) publishes them in libzmq's
    /// format.
    ///
    /// ```
    /// # use monocoque::{Socket, SocketType, MonitorEvent};
    /// # use std::time::Duration;
    /// let s = Socket::new(SocketType::Pull).unwrap();
    /// let events = s.monitor();
    /// s.bind("tcp://127.0.0.1:*").unwrap();
    /// let ev = events.recv_timeout(Duration::from_secs(5)).unwrap();
    /// assert!(ev.to_string().starts_with("listening tcp://127.0.0.1:"));
    /// ```
    pub fn monitor(&self) -> Monitor {
        self.monitor_events(EventMask::ALL)
    }

    /// Accepts connections on `endpoint` (`tcp://host:port` with `*` for
    /// every interface and `*` or `0` for any port, `ipc://path` or
    /// `ipc://@abstract`, `inproc://name`).
    ///
    /// ```
    /// # use monocoque::{Socket, SocketType};
    /// let s = Socket::new(SocketType::Rep).unwrap();
    /// s.bind("tcp://127.0.0.1:*").unwrap();
    /// assert!(s.last_endpoint().unwrap().starts_with("tcp://127.0.0.1:"));
    /// ```
    pub fn bind(&self, endpoint: &str) -> Result<()> {
        let ep = self.prepare(endpoint)?;
        let core = &self.core;
        match &ep {
            Endpoint::Inproc(name) => {
                inproc::bind(&self.ctx.names, core, name)?;
                self.record(endpoint, endpoint, Cancel::new(), true, None);
                Ok(())
            }
            _ => {
                let (bound, resolved) = match net::bind(&ep, &self.options()) {
                    Ok(b) => b,
                    Err(e) => {
                        core.emit(MonitorEvent::bind_failed(
                            endpoint,
                            e.errno(),
                            e.to_string(),
                        ));
                        return Err(e);
                    }
                };
                let cancel = Cancel::new();
                self.record(endpoint, &resolved, cancel.clone(), true, None);
                net::listen(
                    &self.ctx.io,
                    core.clone(),
                    bound,
                    Arc::from(resolved),
                    cancel,
                );
                Ok(())
            }
        }
    }

    /// Connects to `endpoint`, now and after every disconnection (with
    /// `RECONNECT_IVL` backoff). Returns at once: the connection is made in
    /// the background, and messages for it queue meanwhile unless
    /// `IMMEDIATE` is set.
    ///
    /// ```
    /// # use monocoque::{Socket, SocketType};
    /// let s = Socket::new(SocketType::Push).unwrap();
    /// s.connect("tcp://127.0.0.1:9").unwrap(); // nobody listens: retried
    /// assert!(s.connect("bogus://x").is_err());
    /// ```
    pub fn connect(&self, endpoint: &str) -> Result<()> {
        let ep = self.prepare(endpoint)?;
        let core = &self.core;
        if let Endpoint::Tcp { host, .. } = &ep {
            if host == "*" {
                return Err(Error::Endpoint(endpoint.to_owned(), "cannot connect to *"));
            }
        }
        if let Endpoint::Inproc(name) = &ep {
            let peer = inproc::connect(&self.ctx.names, core, name)?;
            self.record(endpoint, endpoint, Cancel::new(), false, peer);
            return Ok(());
        }
        let cancel = Cancel::new();
        let endpoint_arc: Arc<str> = Arc::from(endpoint);
        let preset = core.connecter_peer(false)?;
        let peer = preset.as_ref().map(|p| p.0);
        self.record(endpoint, endpoint, cancel.clone(), false, peer);
        net::connect(&self.ctx.io, core.clone(), ep, endpoint_arc, cancel, preset);
        Ok(())
    }

    /// Parses `endpoint` for a bind or connect on an open socket, checks
    /// the options (a value libzmq refuses, set through the unchecked
    /// [`update_options`](Self::update_options), is refused here and not
    /// at a handshake), and fixes the inbound queue's size (RCVHWM) if this
    /// is the first.
    fn prepare(&self, endpoint: &str) -> Result<Endpoint> {
        let ep: Endpoint = endpoint.parse()?;
        #[cfg(not(target_os = "linux"))]
        net::refuse_unsupported(&ep)?;
        if self.core.is_terminated() {
            return Err(Error::Terminated);
        }
        let opts = self.options();
        opts.validate()?;
        self.core.inbox.init(&opts);
        Ok(ep)
    }

    /// Records a bind or a connect; it becomes the last endpoint (the
    /// transport tells the monitor).
    fn record(
        &self,
        given: &str,
        resolved: &str,
        cancel: Arc<Cancel>,
        bind: bool,
        peer: Option<PeerId>,
    ) {
        let mut st = self.core.lock();
        st.base.record_endpoint(EndpointEntry {
            given: given.to_owned(),
            resolved: resolved.to_owned(),
            cancel,
            bind,
            peer,
        });
    }

    fn take_endpoint(&self, endpoint: &str, bind: bool) -> Result<EndpointEntry> {
        let mut st = self.core.lock();
        let pos = st
            .base
            .endpoints
            .iter()
            .position(|e| e.bind == bind && (e.given == endpoint || e.resolved == endpoint))
            .ok_or_else(|| Error::NotFound(endpoint.to_owned()))?;
        Ok(st.base.endpoints.remove(pos))
    }

    /// Stops listening on a bound endpoint (as bound, or as given) and
    /// closes the connections accepted there.
    ///
    /// ```
    /// # use monocoque::{Socket, SocketType};
    /// let s = Socket::new(SocketType::Pull).unwrap();
    /// s.bind("tcp://127.0.0.1:*").unwrap();
    /// let ep = s.last_endpoint().unwrap();
    /// s.unbind(&ep).unwrap();
    /// assert!(s.unbind(&ep).is_err());
    /// ```
    pub fn unbind(&self, endpoint: &str) -> Result<()> {
        let e = self.take_endpoint(endpoint, true)?;
        e.cancel.cancel();
        if let Some(name) = endpoint.strip_prefix("inproc://") {
            inproc::unbind(&self.ctx.names, &self.core, name);
        }
        Ok(())
    }

    /// Ends a connect: stops reconnecting and closes the connection, with
    /// whatever was queued for it.
    ///
    /// ```
    /// # use monocoque::{Socket, SocketType};
    /// let s = Socket::new(SocketType::Push).unwrap();
    /// s.connect("tcp://127.0.0.1:9").unwrap();
    /// s.disconnect("tcp://127.0.0.1:9").unwrap();
    /// ```
    pub fn disconnect(&self, endpoint: &str) -> Result<()> {
        let e = self.take_endpoint(endpoint, false)?;
        e.cancel.cancel();
        if let Some(id) = e.peer {
            if endpoint.starts_with("inproc://") {
                inproc::unlink(&self.core, id);
            } else {
                self.core.detach(id, true);
            }
        }
        Ok(())
    }

    /// The endpoint of the last bind or connect; for a `tcp://…:*` bind, with
    /// the port the system chose (`ZMQ_LAST_ENDPOINT`).
    ///
    /// ```
    /// # use monocoque::{Socket, SocketType};
    /// let s = Socket::new(SocketType::Pub).unwrap();
    /// assert_eq!(s.last_endpoint(), None);
    /// s.bind("inproc://last-endpoint-doc").unwrap();
    /// assert_eq!(s.last_endpoint().as_deref(), Some("inproc://last-endpoint-doc"));
    /// ```
    pub fn last_endpoint(&self) -> Option<String> {
        self.core.lock().base.last_endpoint.clone()
    }

    /// Peers connected now (handshake completed).
    ///
    /// ```
    /// # use monocoque::{Socket, SocketType};
    /// assert_eq!(Socket::new(SocketType::Pair).unwrap().peer_count(), 0);
    /// ```
    pub fn peer_count(&self) -> usize {
        self.core.ready_peers()
    }

    /// PUB, XPUB: subscriptions received so far (every SUBSCRIBE counts).
    ///
    /// ```
    /// # use monocoque::{Socket, SocketType};
    /// assert_eq!(Socket::new(SocketType::Pub).unwrap().subscription_count(), 0);
    /// ```
    pub fn subscription_count(&self) -> usize {
        self.core.subscriptions()
    }

    /// What the socket has carried so far: messages and bytes each way,
    /// messages dropped at a full peer, reconnection attempts.
    ///
    /// ```
    /// use monocoque::{Context, SocketType};
    /// let ctx = Context::new();
    /// let pull = ctx.socket(SocketType::Pull).unwrap();
    /// pull.bind("inproc://stats").unwrap();
    /// let push = ctx.socket(SocketType::Push).unwrap();
    /// push.connect("inproc://stats").unwrap();
    /// push.send("hello").unwrap();
    /// pull.recv().unwrap();
    /// assert_eq!((push.stats().messages_out, push.stats().bytes_out), (1, 5));
    /// assert_eq!((pull.stats().messages_in, pull.stats().bytes_in), (1, 5));
    /// ```
    pub fn stats(&self) -> crate::SocketStats {
        self.core.counters.snapshot()
    }

    /// SUB: receive messages that start with `prefix` (empty: everything).
    ///
    /// ```
    /// # use monocoque::{Socket, SocketType};
    /// let sub = Socket::new(SocketType::Sub).unwrap();
    /// sub.subscribe("weather.").unwrap();
    /// assert!(Socket::new(SocketType::Pub).unwrap().subscribe("x").is_err());
    /// ```
    pub fn subscribe(&self, prefix: impl AsRef<[u8]>) -> Result<()> {
        pattern::subscribe(&self.core, prefix.as_ref(), true)
    }

    /// SUB: undo one [`subscribe`](Self::subscribe) of `prefix`.
    ///
    /// ```
    /// # use monocoque::{Socket, SocketType};
    /// let sub = Socket::new(SocketType::Sub).unwrap();
    /// sub.subscribe("a").unwrap();
    /// sub.unsubscribe("a").unwrap();
    /// ```
    pub fn unsubscribe(&self, prefix: impl AsRef<[u8]>) -> Result<()> {
        pattern::subscribe(&self.core, prefix.as_ref(), false)
    }

    /// Sends a message, blocking while the pattern has to wait (a full HWM,
    /// no peer yet), up to `SNDTIMEO`; then [`Error::WouldBlock`].
    ///
    /// ```
    /// # use monocoque::{Context, SocketType};
    /// let ctx = Context::new();
    /// let (a, b) = (ctx.socket(SocketType::Pair).unwrap(), ctx.socket(SocketType::Pair).unwrap());
    /// a.bind("inproc://send-doc").unwrap();
    /// b.connect("inproc://send-doc").unwrap();
    /// a.send(vec![bytes::Bytes::from("two"), bytes::Bytes::from("frames")]).unwrap();
    /// assert_eq!(b.recv().unwrap().len(), 2);
    /// ```
    pub fn send(&self, msg: impl Into<Message>) -> Result<()> {
        self.send_within(msg.into(), Self::sndtimeo)
    }

    /// SNDTIMEO and RCVTIMEO, read only by a call that must wait.
    fn sndtimeo(&self) -> Option<Duration> {
        self.core.lock().base.opts.sndtimeo
    }

    fn rcvtimeo(&self) -> Option<Duration> {
        self.core.lock().base.opts.rcvtimeo
    }

    /// A blocking send that waits up to what `timeout` says (asked only
    /// when it must wait; `None`: for ever, zero: not at all).
    fn send_within(
        &self,
        msg: Message,
        timeout: impl FnOnce(&Self) -> Option<Duration>,
    ) -> Result<()> {
        match pattern::try_send(&self.core, msg) {
            Ok(()) => Ok(()),
            Err(SendError::Fail(e)) => Err(e),
            Err(SendError::Full(m, t)) => match timeout(self) {
                Some(d) if d.is_zero() => Err(Error::WouldBlock),
                d => block_on(self.send_wait(m, t), d.map(|d| Instant::now() + d))
                    .unwrap_or(Err(Error::WouldBlock)),
            },
        }
    }

    /// [`send_within`](Self::send_within) as a future.
    async fn send_async_within(
        &self,
        msg: Message,
        timeout: impl FnOnce(&Self) -> Option<Duration>,
    ) -> Result<()> {
        match pattern::try_send(&self.core, msg) {
            Ok(()) => Ok(()),
            Err(SendError::Fail(e)) => Err(e),
            Err(SendError::Full(m, t)) => match timeout(self) {
                Some(d) if d.is_zero() => Err(Error::WouldBlock),
                d => self.send_until(m, t, d.map(|d| Instant::now() + d)).await,
            },
        }
    }

    /// Sends a message if that can be done without waiting; else
    /// [`Error::WouldBlock`] and the message is dropped (`ZMQ_DONTWAIT`).
    ///
    /// ```
    /// # use monocoque::{Socket, SocketType, Error};
    /// let push = Socket::new(SocketType::Push).unwrap();
    /// assert!(matches!(push.try_send("no peer yet"), Err(Error::WouldBlock)));
    /// ```
    pub fn try_send(&self, msg: impl Into<Message>) -> Result<()> {
        match pattern::try_send(&self.core, msg.into()) {
            Ok(()) => Ok(()),
            Err(SendError::Fail(e)) => Err(e),
            Err(SendError::Full(..)) => Err(Error::WouldBlock),
        }
    }

    /// Sends a message, waiting asynchronously while the pattern has to, up
    /// to `SNDTIMEO` (then [`Error::WouldBlock`]). Cancel-safe: dropped
    /// before it completes, it sent nothing (and the message it owned is
    /// dropped: to keep it, wait with [`reserve_async`](Self::reserve_async)
    /// and send with the [`Permit`]).
    ///
    /// ```
    /// # use monocoque::{Context, SocketType};
    /// # let ctx = Context::new();
    /// # let (a, b) = (ctx.socket(SocketType::Pair).unwrap(), ctx.socket(SocketType::Pair).unwrap());
    /// # a.bind("inproc://send-async-doc").unwrap();
    /// # b.connect("inproc://send-async-doc").unwrap();
    /// let fut = a.send_async("hi");
    /// # let _ = fut;
    /// ```
    pub async fn send_async(&self, msg: impl Into<Message>) -> Result<()> {
        self.send_async_within(msg.into(), Self::sndtimeo).await
    }

    async fn send_wait(&self, mut msg: Message, mut target: Option<Arc<Inbox>>) -> Result<()> {
        let core = &self.core;
        loop {
            // Listen first, then try: a wake-up between the two is not lost.
            // Stack listeners: waiting allocates nothing.
            bell_listener!(core.inbox.wake => woken);
            // Room at an inproc peer (rare: its queue was full) is waited
            // for with a heap listener.
            let waited = target.clone();
            let room = waited.as_ref().map(|t| t.space.listen());
            match pattern::try_send(core, msg) {
                Ok(()) => return Ok(()),
                Err(SendError::Fail(e)) => return Err(e),
                Err(SendError::Full(m, t)) => {
                    msg = m;
                    let same = match (&t, &target) {
                        (Some(a), Some(b)) => Arc::ptr_eq(a, b),
                        (None, None) => true,
                        _ => false,
                    };
                    target = t;
                    if !same {
                        continue;
                    }
                }
            }
            race(woken, maybe(room)).await;
        }
    }

    /// Receives a message, blocking up to `RCVTIMEO`; then
    /// [`Error::WouldBlock`].
    ///
    /// ```
    /// # use monocoque::{Context, SocketType};
    /// # let ctx = Context::new();
    /// let pull = ctx.socket(SocketType::Pull).unwrap();
    /// pull.bind("inproc://recv-doc").unwrap();
    /// let push = ctx.socket(SocketType::Push).unwrap();
    /// push.connect("inproc://recv-doc").unwrap();
    /// push.send("job").unwrap();
    /// assert_eq!(&pull.recv().unwrap()[0][..], b"job");
    /// ```
    pub fn recv(&self) -> Result<Message> {
        self.recv_within(Self::rcvtimeo)
    }

    /// A blocking receive that waits up to what `timeout` says (asked only
    /// when it must wait; `None`: for ever, zero: not at all).
    fn recv_within(&self, timeout: impl FnOnce(&Self) -> Option<Duration>) -> Result<Message> {
        if let Some(m) = pattern::try_recv(&self.core)? {
            return Ok(m);
        }
        let timeout = timeout(self);
        if timeout == Some(Duration::ZERO) {
            return Err(Error::WouldBlock);
        }
        let deadline = timeout.map(|d| Instant::now() + d);
        if let Some(m) = self.recv_watching(deadline)? {
            return Ok(m);
        }
        block_on(self.recv_wait(), deadline).unwrap_or(Err(Error::WouldBlock))
    }

    /// [`recv_within`](Self::recv_within) as a future.
    async fn recv_async_within(
        &self,
        timeout: impl FnOnce(&Self) -> Option<Duration>,
    ) -> Result<Message> {
        if let Some(m) = pattern::try_recv(&self.core)? {
            return Ok(m);
        }
        match timeout(self) {
            Some(t) if t.is_zero() => Err(Error::WouldBlock),
            t => self.recv_until(t.map(|t| Instant::now() + t)).await,
        }
    }

    /// A blocking `recv` on a socket with one connection first waits on
    /// that connection's socket itself (for up to [`WATCH`]), beside an
    /// event the engines write when they queue a message. The kernel then
    /// wakes this thread and the I/O thread together when data arrives,
    /// and this thread spins the few microseconds the I/O thread takes to
    /// read and queue the message, instead of sleeping until the I/O thread
    /// wakes it: one wake-up of a sleeping thread less on every hop of a
    /// round trip. `None` when it did not apply or gave up (the caller then
    /// waits as usual).
    #[cfg(unix)]
    fn recv_watching(&self, deadline: Option<Instant>) -> Result<Option<Message>> {
        let core = &self.core;
        let Some(conn) = core.lone_connection() else {
            return Ok(None);
        };
        let Some(event) = core.inbox.watch_event() else {
            return Ok(None);
        };
        let _watching = core.inbox.watching();
        let start = Instant::now();
        let until = deadline.map_or(start + WATCH, |d| d.min(start + WATCH));
        loop {
            if let Some(m) = pattern::try_recv(core)? {
                return Ok(Some(m));
            }
            if core.is_terminated() {
                return Err(Error::Terminated);
            }
            let now = Instant::now();
            if now >= until {
                return Ok(None);
            }
            let left = until - now;
            let timeout = rustix::event::Timespec {
                tv_sec: i64::try_from(left.as_secs()).unwrap_or(i64::MAX),
                tv_nsec: i64::from(left.subsec_nanos()),
            };
            let mut fds = [
                rustix::event::PollFd::new(&*conn, rustix::event::PollFlags::IN),
                rustix::event::PollFd::new(event, rustix::event::PollFlags::IN),
            ];
            if rustix::event::poll(&mut fds, Some(&timeout)).is_err() {
                return Ok(None);
            }
            let readable = !fds[0].revents().is_empty();
            if !fds[1].revents().is_empty() {
                let mut count = [0u8; 8];
                let _ = rustix::io::read(event, &mut count);
            }
            if readable {
                // The I/O thread, woken too, is reading: wait for it
                // here. A socket that stays readable without a message
                // coming (the peer closed, or RCVHWM holds the engine
                // back) ends the watch after one such wait.
                // Spinning first, then yielding: the scheduler may have
                // put the I/O thread on this core, behind us.
                let woke = Instant::now();
                loop {
                    if let Some(m) = pattern::try_recv(core)? {
                        return Ok(Some(m));
                    }
                    let waited = woke.elapsed();
                    if waited >= WATCH_SPIN {
                        return Ok(None);
                    }
                    if waited < WATCH_SPIN_HOT {
                        std::hint::spin_loop();
                    } else {
                        std::thread::yield_now();
                    }
                }
            }
        }
    }

    /// Windows has no inline-write socket to watch (see the Unix
    /// `recv_watching`): never applies.
    #[cfg(windows)]
    fn recv_watching(&self, _deadline: Option<Instant>) -> Result<Option<Message>> {
        Ok(None)
    }

    /// Receives a message if one is waiting; else [`Error::WouldBlock`].
    ///
    /// ```
    /// # use monocoque::{Socket, SocketType, Error};
    /// let pull = Socket::new(SocketType::Pull).unwrap();
    /// assert!(matches!(pull.try_recv(), Err(Error::WouldBlock)));
    /// ```
    pub fn try_recv(&self) -> Result<Message> {
        pattern::try_recv(&self.core)?.ok_or(Error::WouldBlock)
    }

    /// Receives a message, waiting asynchronously up to `RCVTIMEO` (then
    /// [`Error::WouldBlock`]). Cancel-safe: dropped before it completes,
    /// it took nothing off the queue.
    ///
    /// ```
    /// # use monocoque::{Socket, SocketType};
    /// let pull = Socket::new(SocketType::Pull).unwrap();
    /// let fut = pull.recv_async(); // poll it on any executor
    /// # drop(fut);
    /// ```
    pub async fn recv_async(&self) -> Result<Message> {
        self.recv_async_within(Self::rcvtimeo).await
    }

    /// Waits for a message, for ever, on any executor.
    pub(crate) async fn recv_wait(&self) -> Result<Message> {
        let core = &self.core;
        loop {
            if let Some(m) = pattern::try_recv(core)? {
                return Ok(m);
            }
            bell_listener!(core.inbox.wake => woken);
            if let Some(m) = pattern::try_recv(core)? {
                return Ok(m);
            }
            if core.is_terminated() {
                return Err(Error::Terminated);
            }
            woken.await;
        }
    }

    /// Closes the socket: waits up to `LINGER` for queued messages to reach
    /// connected peers, then ends every connection. Dropping the socket
    /// does the same.
    ///
    /// ```
    /// # use monocoque::{Socket, SocketType};
    /// let s = Socket::new(SocketType::Push).unwrap();
    /// s.close();
    /// ```
    pub fn close(self) {
        drop(self);
    }

    /// Closes the socket without blocking the executor: the LINGER wait is
    /// awaited, then every connection ends. Use this from async code,
    /// where dropping a socket with queued messages would park the
    /// executor's thread for up to LINGER.
    ///
    /// ```
    /// # use monocoque::{Socket, SocketType};
    /// let s = Socket::new(SocketType::Push).unwrap();
    /// let closing = s.close_async(); // await it on any executor
    /// # drop(closing);
    /// ```
    pub async fn close_async(self) {
        close_core_async(&self.core, &self.ctx).await;
        // Dropping `self` now finds it closed.
    }

    /// [`recv`](Self::recv) with its own timeout in place of `RCVTIMEO`:
    /// [`Error::WouldBlock`] when nothing came within `timeout`.
    ///
    /// ```
    /// # use std::time::Duration;
    /// # use monocoque::{Error, Socket, SocketType};
    /// let pull = Socket::new(SocketType::Pull).unwrap();
    /// let r = pull.recv_timeout(Duration::from_millis(10));
    /// assert!(matches!(r, Err(Error::WouldBlock)));
    /// ```
    pub fn recv_timeout(&self, timeout: Duration) -> Result<Message> {
        self.recv_within(|_| Some(timeout))
    }

    /// [`send`](Self::send) with its own timeout in place of `SNDTIMEO`:
    /// [`Error::WouldBlock`] when the message could not go within
    /// `timeout`.
    ///
    /// ```
    /// # use std::time::Duration;
    /// # use monocoque::{Error, Socket, SocketType};
    /// let push = Socket::new(SocketType::Push).unwrap(); // no peer
    /// let r = push.send_timeout("job", Duration::from_millis(10));
    /// assert!(matches!(r, Err(Error::WouldBlock)));
    /// ```
    pub fn send_timeout(&self, msg: impl Into<Message>, timeout: Duration) -> Result<()> {
        self.send_within(msg.into(), |_| Some(timeout))
    }

    /// [`recv_async`](Self::recv_async) with its own timeout in place of
    /// `RCVTIMEO`: [`Error::WouldBlock`] when nothing came within
    /// `timeout`. Cancel-safe as `recv_async` is.
    ///
    /// ```
    /// # use std::time::Duration;
    /// # use monocoque::{Error, Socket, SocketType};
    /// let pull = Socket::new(SocketType::Pull).unwrap();
    /// let fut = pull.recv_async_timeout(Duration::from_millis(10));
    /// # drop(fut);
    /// ```
    pub async fn recv_async_timeout(&self, timeout: Duration) -> Result<Message> {
        self.recv_async_within(|_| Some(timeout)).await
    }

    /// [`send_async`](Self::send_async) with its own timeout in place of
    /// `SNDTIMEO`: [`Error::WouldBlock`] when the message could not go
    /// within `timeout` (it is then dropped).
    ///
    /// ```
    /// # use std::time::Duration;
    /// # use monocoque::{Socket, SocketType};
    /// let push = Socket::new(SocketType::Push).unwrap();
    /// let fut = push.send_async_timeout("job", Duration::from_millis(10));
    /// # drop(fut);
    /// ```
    pub async fn send_async_timeout(
        &self,
        msg: impl Into<Message>,
        timeout: Duration,
    ) -> Result<()> {
        self.send_async_within(msg.into(), |_| Some(timeout)).await
    }

    /// Sends a message if that can be done without waiting; else gives it
    /// back with why ([`Error::WouldBlock`] when the pattern would have to
    /// wait), so a retry needs no clone.
    ///
    /// ```
    /// # use monocoque::{Error, Socket, SocketType};
    /// let push = Socket::new(SocketType::Push).unwrap(); // no peer yet
    /// let unsent = push.try_send_or_return("keep me").unwrap_err();
    /// assert!(matches!(unsent.error, Error::WouldBlock));
    /// assert_eq!(&unsent.message[0][..], b"keep me");
    /// ```
    // The error carries the message back by value: boxing it would cost an
    // allocation on every refusal of a retry loop.
    #[allow(clippy::result_large_err)]
    pub fn try_send_or_return(&self, msg: impl Into<Message>) -> std::result::Result<(), Unsent> {
        let msg = msg.into();
        if msg.is_empty() {
            return Err(Unsent {
                error: Error::Invalid("a message needs at least one frame"),
                message: msg,
            });
        }
        match pattern::try_send(&self.core, msg) {
            Ok(()) => Ok(()),
            Err(SendError::Full(message, _)) => Err(Unsent {
                error: Error::WouldBlock,
                message,
            }),
            // A definite failure (terminated, wrong state) checks the
            // state before the message is touched.
            Err(SendError::Fail(error)) => Err(Unsent {
                error,
                message: Message::new(),
            }),
        }
    }

    /// Waits, asynchronously and up to `SNDTIMEO`, until a send would not
    /// wait, and returns a [`Permit`] to send with. Nothing is held while
    /// it waits, so it is cancel-safe with no message to lose: the way to
    /// send from a `select!` that may drop the branch (`send_async`
    /// dropped while waiting drops its message).
    ///
    /// ```
    /// # use monocoque::{Context, SocketType};
    /// # let ctx = Context::new();
    /// # let pull = ctx.socket(SocketType::Pull).unwrap();
    /// # pull.bind("inproc://reserve-doc").unwrap();
    /// let push = ctx.socket(SocketType::Push).unwrap();
    /// push.connect("inproc://reserve-doc").unwrap();
    /// futures_lite::future::block_on(async {
    ///     let permit = push.reserve_async().await.unwrap();
    ///     permit.send("job").unwrap();
    /// });
    /// # assert_eq!(&pull.recv().unwrap()[0][..], b"job");
    /// ```
    pub async fn reserve_async(&self) -> Result<Permit<'_>> {
        if pattern::writable(&self.core)? {
            return Ok(Permit { socket: self });
        }
        let timeout = self.sndtimeo();
        if timeout == Some(Duration::ZERO) {
            return Err(Error::WouldBlock);
        }
        let mut poller = Poller::new();
        poller.add_core(self.core_arc(), Events::WRITABLE)?;
        if poller.wait_async(timeout).await?.is_empty() {
            return Err(Error::WouldBlock);
        }
        Ok(Permit { socket: self })
    }

    /// Waits for a message until `deadline` (none: for ever), on any
    /// executor.
    async fn recv_until(&self, deadline: Option<Instant>) -> Result<Message> {
        match deadline {
            None => self.recv_wait().await,
            Some(d) => match race(self.recv_wait(), Sleep::until(d)).await {
                Either::Left(r) => r,
                Either::Right(()) => Err(Error::WouldBlock),
            },
        }
    }

    /// Waits to send `msg` until `deadline` (none: for ever), on any
    /// executor.
    async fn send_until(
        &self,
        msg: Message,
        target: Option<Arc<Inbox>>,
        deadline: Option<Instant>,
    ) -> Result<()> {
        match deadline {
            None => self.send_wait(msg, target).await,
            Some(d) => match race(self.send_wait(msg, target), Sleep::until(d)).await {
                Either::Left(r) => r,
                Either::Right(()) => Err(Error::WouldBlock),
            },
        }
    }

    /// A descriptor that becomes readable whenever the socket's state may
    /// have changed (libzmq's `ZMQ_FD`), for an event loop that is not
    /// ours (mio, glib, a C program's `poll`): wait for it to be readable,
    /// then ask [`events`](Self::events) what is ready, and act until it
    /// says nothing is, as libzmq's contract goes. The descriptor is the
    /// socket's: do not close it.
    ///
    /// Room that appears at an inproc peer (a full PUSH to an inproc PULL)
    /// is not signalled by itself; it shows with the socket's next change.
    /// A [`Poller`](crate::Poller) sees it.
    ///
    /// Unix only (an eventfd on Linux, a socket pair elsewhere); on Windows
    /// use a [`Poller`](crate::Poller).
    ///
    /// ```
    /// use std::os::fd::AsRawFd;
    /// # use monocoque::{Context, SocketType};
    /// # let ctx = Context::new();
    /// let pull = ctx.socket(SocketType::Pull).unwrap();
    /// pull.bind("inproc://fd-doc").unwrap();
    /// let fd = pull.readiness_fd().unwrap();
    /// assert!(fd.as_raw_fd() >= 0);
    /// assert!(!pull.events().unwrap().readable);
    /// ```
    #[cfg(unix)]
    pub fn readiness_fd(&self) -> Result<std::os::fd::BorrowedFd<'_>> {
        if self.readiness.get().is_none() {
            let fd = ReadinessFd::new()?;
            if self.readiness.set(fd.clone()).is_ok() {
                self.core.inbox.wake.observe(fd);
            }
        }
        self.readiness.get().map(|f| f.fd()).ok_or(Error::State)
    }

    /// What the socket is ready for now (libzmq's `ZMQ_EVENTS`): readable
    /// when a receive would return a message, writable when a send would
    /// not wait.
    #[cfg_attr(
        unix,
        doc = "Also makes the [`readiness_fd`](Self::readiness_fd) not readable until the next change."
    )]
    ///
    /// ```
    /// # use monocoque::{Socket, SocketType};
    /// let push = Socket::new(SocketType::Push).unwrap();
    /// let e = push.events().unwrap();
    /// assert!(!e.readable && !e.writable); // no peer yet
    /// ```
    pub fn events(&self) -> Result<Events> {
        if let Some(fd) = self.readiness.get() {
            fd.clear();
        }
        let pattern_can_recv = self.can_recv();
        Ok(Events {
            readable: pattern_can_recv && pattern::readable(&self.core)?,
            writable: pattern::writable(&self.core)?,
        })
    }

    /// The socket's state, shared (a poller keeps it).
    pub(crate) fn core_arc(&self) -> Arc<Core> {
        self.core.clone()
    }

    /// The socket's core and context (the monitor methods, `monitor.rs`).
    pub(crate) fn parts(&self) -> (&Arc<Core>, &Arc<ContextInner>) {
        (&self.core, &self.ctx)
    }

    /// The socket's core (unit tests).
    #[cfg(test)]
    pub(crate) fn core(&self) -> &Arc<Core> {
        &self.core
    }

    /// Whether the socket type receives (PUSH and PUB do not).
    pub(crate) fn can_recv(&self) -> bool {
        self.core.lock().pattern.can_recv()
    }
}

/// Whether `core` still has queued messages for a peer that LINGER waits
/// for.
fn lingering(core: &Core, linger: Option<Duration>) -> bool {
    let st = core.lock();
    // With a finite LINGER, what waits for a peer that is still connecting
    // counts too; an infinite one waits only for connected peers, so a
    // peer that never comes cannot hold the process for ever.
    let busy = st
        .base
        .peers
        .iter()
        .any(|(_, p)| (p.ready || (linger.is_some() && p.persistent)) && !p.out.is_drained());
    busy
}

/// One step of a close's LINGER wait: `None` when it is over (nothing
/// queued, or the deadline passed), else how long to wait before looking
/// again (a bell rings sooner when a queue drains).
fn linger_step(
    core: &Core,
    linger: Option<Duration>,
    deadline: Option<Instant>,
) -> Option<Instant> {
    if !lingering(core, linger) {
        return None;
    }
    let now = Instant::now();
    if deadline.is_some_and(|d| now >= d) {
        return None;
    }
    let step = now + Duration::from_millis(10);
    Some(deadline.map_or(step, |d| d.min(step)))
}

/// Closes `core`: waits up to its LINGER for queued messages to reach
/// connected peers (blocking the calling thread), then ends every
/// connection. A socket's drop and its context's termination both come
/// here; whichever comes first does it.
pub(crate) fn close_core(core: &Arc<Core>, ctx: &ContextInner) {
    if !core.begin_close() {
        return;
    }
    let linger = core.lock().base.opts.linger;
    let deadline = linger.map(|l| Instant::now() + l);
    loop {
        let l = core.inbox.wake.listen();
        let Some(until) = linger_step(core, linger, deadline) else {
            break;
        };
        l.wait_deadline(until);
    }
    end_connections(core, ctx);
}

/// [`close_core`] without blocking: the LINGER wait is a future.
async fn close_core_async(core: &Arc<Core>, ctx: &ContextInner) {
    if !core.begin_close() {
        return;
    }
    let linger = core.lock().base.opts.linger;
    let deadline = linger.map(|l| Instant::now() + l);
    loop {
        bell_listener!(core.inbox.wake => woken);
        let Some(until) = linger_step(core, linger, deadline) else {
            break;
        };
        race(woken, Sleep::until(until)).await;
    }
    end_connections(core, ctx);
}

/// Closes the inbox and ends every endpoint and connection of `core`.
fn end_connections(core: &Arc<Core>, ctx: &ContextInner) {
    core.inbox.close();
    let (endpoints, peers) = {
        let mut st = core.lock();
        let eps = std::mem::take(&mut st.base.endpoints);
        let peers: Vec<_> = st
            .base
            .peers
            .iter()
            .map(|(id, p)| (id, matches!(p.out, Outbox::Inproc(_))))
            .collect();
        (eps, peers)
    };
    for e in &endpoints {
        e.cancel.cancel();
        if e.bind {
            if let Some(name) = e.given.strip_prefix("inproc://") {
                inproc::unbind(&ctx.names, core, name);
            }
        }
    }
    for (id, is_inproc) in peers {
        if is_inproc {
            inproc::unlink(core, id);
        } else {
            core.detach(id, true);
        }
    }
}

/// A message that was not sent, given back ([`Socket::try_send_or_return`],
/// [`Permit::send`]).
#[derive(Debug)]
pub struct Unsent {
    /// Why it was not sent.
    pub error: Error,
    /// The message, untouched (empty when the send failed before the
    /// message was looked at, e.g. a REQ out of turn or a terminated
    /// context: `error` says which).
    pub message: Message,
}

impl std::fmt::Display for Unsent {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        write!(f, "message not sent: {}", self.error)
    }
}

impl std::error::Error for Unsent {}

/// Leave to send one message now ([`Socket::reserve_async`]): the socket
/// was writable when it was given. Another thread sending on the same
/// socket may take the room first; the message then comes back in
/// [`Unsent`] rather than being lost.
#[derive(Debug)]
#[must_use = "a permit does nothing until its send is called"]
pub struct Permit<'a> {
    socket: &'a Socket,
}

impl Permit<'_> {
    /// Sends `msg` without waiting; gives it back if the room went.
    #[allow(clippy::result_large_err)] // as `try_send_or_return`
    pub fn send(self, msg: impl Into<Message>) -> std::result::Result<(), Unsent> {
        self.socket.try_send_or_return(msg)
    }
}

impl Drop for Socket {
    fn drop(&mut self) {
        if std::thread::panicking() {
            // compio aborts the process when one of its tasks is woken from
            // a thread that is unwinding, so close from a fresh thread.
            let s = Socket {
                core: self.core.clone(),
                ctx: self.ctx.clone(),
                readiness: std::sync::OnceLock::new(),
            };
            let _ = std::thread::Builder::new().spawn(move || drop(s));
            return;
        }
        if let Some(fd) = self.readiness.get() {
            let o: Arc<dyn Observer> = fd.clone();
            self.core.inbox.wake.unobserve(&o);
        }
        close_core(&self.core, &self.ctx);
    }
}
