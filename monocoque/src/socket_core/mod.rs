//! What a socket shares with its engines: the state lock (peers, options,
//! endpoints and the pattern's state behind one mutex), the [`Inbox`],
//! and the [`Port`] engines reach it through.
//!
//! ```text
//!  Socket ──> pattern::try_send / try_recv ──> SocketCore::lock ──> Pattern hooks
//!                                     │                              │
//!                          Inbox::pop <┘          Outbox::push (pipe / inproc inbox)
//!  engine ──> Port: attach, subscription, detach, emit ──> SocketCore (+ Pattern hooks)
//!         └─> Inbox::push_run (no lock)
//! ```
//!
//! The socket type's behaviour comes in through [`Hooks`], which the
//! pattern layer implements: this module knows peers, not patterns.

mod inbox;
mod peer;
mod port;

use std::fmt;
use std::sync::atomic::{AtomicBool, AtomicU64, AtomicUsize, Ordering};
use std::sync::Arc;

use crate::sync::{StdMutex as Mutex, StdMutexGuard as MutexGuard};

use bytes::Bytes;
use monocoque_core::router::{PeerId, Peers};
use monocoque_zmtp::{ProtocolError, SocketType};

pub(crate) use inbox::{Inbound, Inbox, RUN_MSGS};
pub(crate) use peer::{EndpointEntry, InprocOut, Outbox, PeerEntry};
pub(crate) use port::{Port, ZapCall, ZapService};

use crate::error::Error;
use crate::message::Message;
use crate::monitor::{EndReason, MonitorEvent, MonitorQueue};
use crate::options::SocketOptions;
use crate::pipe::{self, Consumer, Producer};
use crate::stats::Counters;

/// A socket type's behaviour where peers come and go (libzmq's
/// `xattach_pipe`, `xpipe_terminated`...). Implemented by the pattern
/// layer; called with the state lock held.
pub(crate) trait Hooks: Send + fmt::Debug + 'static {
    /// Whether connections speak ZMTP (STREAM speaks raw bytes).
    fn speaks_zmtp(&self) -> bool;
    /// Whether peers' messages are queued for the application (not a
    /// PUB's: libzmq's PUB drops them as they arrive).
    fn takes_messages(&self) -> bool;
    /// Whether received messages go to the application as they come,
    /// without the state lock (no filter, no envelope, no state).
    fn recv_direct(&self) -> bool;
    /// Whether each connection is a peer of its own, never a connecter's
    /// entry kept across reconnections (ROUTER, STREAM: routing ids; REP:
    /// replies go back on the connection that asked).
    fn peer_per_connection(&self) -> bool;
    /// Whether the type honours `ZMQ_CONFLATE` (its inbound queue and its
    /// pipes then hold one message each).
    fn conflatable(&self) -> bool;
    /// A connecter's entry `id` was made before its first connection;
    /// whether messages are routed to it meanwhile (load balancers, and a
    /// ROUTER or STREAM given its `routing_id`: `CONNECT_ROUTING_ID`), or
    /// why that routing id cannot be had.
    fn pending(
        &mut self,
        base: &Base,
        id: PeerId,
        routing_id: Option<Bytes>,
    ) -> Result<bool, &'static str>;
    /// Peer `id` completed its handshake (`fresh`: a new entry, else a
    /// connecter's); its routing id, or why the socket refuses it. What
    /// the socket tells itself of it goes to `inbox`.
    fn attached(
        &mut self,
        base: &mut Base,
        inbox: &Inbox,
        id: PeerId,
        fresh: bool,
        identity: Option<Bytes>,
    ) -> Result<Option<Bytes>, &'static str>;
    /// Peer `id`'s outbox is final: send what a new peer gets first (a
    /// subscriber's subscriptions, XPUB's welcome message).
    fn greet(&mut self, base: &Base, id: PeerId);
    /// Peer `id` left; `keep`: its connecter's entry stays; `connected`:
    /// it was attached (else a connecter's entry that is not, or no longer,
    /// connected goes). What the socket tells itself of it goes to `inbox`.
    fn detached(&mut self, base: &mut Base, inbox: &Inbox, id: PeerId, keep: bool, connected: bool);
    /// Peer `id` (un)subscribed: whether it counts as a subscription, and
    /// the notification for the application (XPUB), which the caller
    /// queues behind what the peer sent before it; or why the peer must
    /// go (its subscriptions' budget is spent).
    fn subscription(
        &mut self,
        base: &mut Base,
        id: PeerId,
        topic: Bytes,
        on: bool,
    ) -> Result<(bool, Option<Message>), ProtocolError>;
    /// The options changed.
    fn options_changed(&mut self, opts: &SocketOptions);
}

/// Everything of a socket behind its state lock but the pattern's state.
#[derive(Debug, Default)]
pub(crate) struct Base {
    pub(crate) opts: SocketOptions,
    pub(crate) peers: Peers<PeerEntry>,
    pub(crate) endpoints: Vec<EndpointEntry>,
    pub(crate) monitor: Option<Arc<MonitorQueue>>,
    pub(crate) last_endpoint: Option<String>,
    /// A message a poller took to learn that one was deliverable (a SUB's
    /// match, a REQ's reply, a REP's request): the next receive returns
    /// it first.
    pub(crate) stash: Option<Message>,
    /// What the socket carried ([`crate::SocketStats`]), shared with the
    /// socket's own counting.
    pub(crate) counters: Arc<Counters>,
}

impl Base {
    /// Records a bind or connect; it becomes the last endpoint.
    pub(crate) fn record_endpoint(&mut self, e: EndpointEntry) {
        self.last_endpoint = Some(e.resolved.clone());
        self.endpoints.push(e);
    }

    /// Records a monitor event, if somebody monitors, and traces it
    /// (the `tracing` crate: free while no subscriber listens).
    pub(crate) fn emit(&self, ev: MonitorEvent) {
        if matches!(ev, MonitorEvent::ConnectRetried { .. }) {
            self.counters.reconnect();
        }
        crate::monitor::trace(&ev);
        if let Some(m) = &self.monitor {
            m.emit(ev);
        }
    }
}

/// The state lock's contents.
#[derive(Debug)]
pub(crate) struct State<P> {
    pub(crate) base: Base,
    pub(crate) pattern: P,
}

/// Everything a socket and its engines share.
#[derive(Debug)]
pub(crate) struct SocketCore<P> {
    pub(crate) ty: SocketType,
    zmtp: bool,
    /// [`Hooks::takes_messages`], fixed with the type.
    takes: bool,
    state: Mutex<State<P>>,
    pub(crate) inbox: Arc<Inbox>,
    /// What the socket carried: the same counters as `Base::counters`,
    /// reached without the lock.
    pub(crate) counters: Arc<Counters>,
    ready_peers: AtomicUsize,
    subscriptions: AtomicUsize,
    /// Received messages need no state (see [`Hooks::recv_direct`]).
    recv_direct: AtomicBool,
    /// When this socket last wrote a message inline (shared by its pipes).
    last_inline: Arc<AtomicU64>,
    /// Where ZAP requests go.
    zap: Option<Arc<dyn ZapService>>,
    /// The context was terminated: every call of the application fails
    /// with `Terminated` from now on, while LINGER still lets what was
    /// queued go out.
    terminated: AtomicBool,
    /// Somebody (the socket's close or its context's termination) is
    /// closing it: the other one leaves it to them.
    closing: AtomicBool,
    /// The type honours `ZMQ_CONFLATE` (see [`Hooks::conflatable`]).
    conflatable: bool,
}

impl<P: Hooks> SocketCore<P> {
    /// A socket of type `ty` whose behaviour is `pattern`, asking `zap`
    /// about its peers' credentials.
    pub(crate) fn new(ty: SocketType, pattern: P, zap: Option<Arc<dyn ZapService>>) -> Arc<Self> {
        let conflatable = pattern.conflatable();
        let counters = Arc::new(Counters::default());
        Arc::new(Self {
            ty,
            zmtp: pattern.speaks_zmtp(),
            takes: pattern.takes_messages(),
            recv_direct: AtomicBool::new(pattern.recv_direct()),
            conflatable,
            state: Mutex::new(State {
                base: Base {
                    counters: counters.clone(),
                    ..Base::default()
                },
                pattern,
            }),
            inbox: Arc::new(Inbox::new(conflatable)),
            counters,
            ready_peers: AtomicUsize::new(0),
            subscriptions: AtomicUsize::new(0),
            last_inline: Arc::new(AtomicU64::new(0)),
            zap,
            terminated: AtomicBool::new(false),
            closing: AtomicBool::new(false),
        })
    }

    /// Locks the state. A panic while it was held cannot leave it
    /// half-updated in a way that matters more than losing the socket, so
    /// a poisoned lock is taken over.
    pub(crate) fn lock(&self) -> MutexGuard<'_, State<P>> {
        self.state.lock().unwrap_or_else(|e| e.into_inner())
    }

    /// Whether received messages may be taken without the state lock.
    pub(crate) fn recv_direct(&self) -> bool {
        self.recv_direct.load(Ordering::Acquire)
    }

    /// Updates [`recv_direct`](Self::recv_direct) after the pattern changed
    /// (a SUB subscribed to everything, or no longer).
    pub(crate) fn refresh_recv_direct(&self, st: &State<P>) {
        self.recv_direct.store(
            st.pattern.recv_direct() && st.base.stash.is_none(),
            Ordering::Release,
        );
    }

    /// A new outbound pipe, sized by `opts`' SNDHWM (one message with
    /// `ZMQ_CONFLATE`).
    pub(crate) fn new_pipe(&self, opts: &SocketOptions) -> (Producer, Consumer) {
        let capacity = if self.conflatable && opts.conflate {
            1
        } else {
            opts.send_capacity()
        };
        pipe::pipe(capacity, self.last_inline.clone())
    }

    /// Whether the socket was closed.
    pub(crate) fn is_closed(&self) -> bool {
        self.inbox.is_closed()
    }

    /// Whether the application's calls fail with `Terminated`: the socket
    /// was closed or its context terminated.
    pub(crate) fn is_terminated(&self) -> bool {
        self.terminated.load(Ordering::Acquire) || self.inbox.is_closed()
    }

    /// Claims the close: true for the first caller only.
    pub(crate) fn begin_close(&self) -> bool {
        !self.closing.swap(true, Ordering::AcqRel)
    }

    /// The context is terminating: fails every later call of the
    /// application and wakes every one that waits (a blocked receive or
    /// send, a poller, a watched receive within its next poll).
    pub(crate) fn terminate(&self) {
        self.terminated.store(true, Ordering::Release);
        self.inbox.wake.ring();
        self.inbox.space.ring();
    }

    /// Whether a message was ever written inline by a caller (unit tests).
    #[cfg(test)]
    pub(crate) fn wrote_inline(&self) -> bool {
        self.last_inline.load(Ordering::Relaxed) != 0
    }

    /// Peers whose handshake completed.
    pub(crate) fn ready_peers(&self) -> usize {
        self.ready_peers.load(Ordering::Acquire)
    }

    /// Subscriptions received so far (PUB, XPUB).
    pub(crate) fn subscriptions(&self) -> usize {
        self.subscriptions.load(Ordering::Acquire)
    }

    /// A connecter's entry, made before its first connection, whose pipe
    /// queues messages until it connects and outlives reconnections.
    /// `None` with `IMMEDIATE`, for a pattern that makes a peer per
    /// connection (unless `CONNECT_ROUTING_ID` names this connect's peer),
    /// and (`routed_only`) for one that would route nothing to it
    /// meanwhile. Fails, changing nothing, when `CONNECT_ROUTING_ID` names
    /// a routing id in use.
    pub(crate) fn connecter_peer(
        &self,
        routed_only: bool,
    ) -> Result<Option<(PeerId, Consumer)>, Error> {
        let mut st = self.lock();
        if st.pattern.peer_per_connection() {
            return self.routed_entry(&mut st);
        }
        if st.base.opts.immediate {
            return Ok(None);
        }
        let (producer, consumer) = self.new_pipe(&st.base.opts);
        let id = st.base.peers.insert(PeerEntry {
            out: Outbox::Engine(producer),
            ready: false,
            persistent: true,
        });
        let State { base, pattern } = &mut *st;
        if !pattern.pending(base, id, None).unwrap_or(false) && routed_only {
            st.base.peers.remove(id);
            return Ok(None);
        }
        Ok(Some((id, consumer)))
    }

    /// [`connecter_peer`](Self::connecter_peer) for an inproc connect whose
    /// peer is bound already: an entry only for a ROUTER or STREAM given
    /// `CONNECT_ROUTING_ID` (load balancers link at once).
    pub(crate) fn routed_connecter_peer(&self) -> Result<Option<(PeerId, Consumer)>, Error> {
        let mut st = self.lock();
        if !st.pattern.peer_per_connection() {
            return Ok(None);
        }
        self.routed_entry(&mut st)
    }

    /// A ROUTER's or STREAM's entry for the next connect's peer, known by
    /// `CONNECT_ROUTING_ID` (which it takes), if that is set.
    fn routed_entry(&self, st: &mut State<P>) -> Result<Option<(PeerId, Consumer)>, Error> {
        let Some(rid) = st.base.opts.connect_routing_id.clone() else {
            return Ok(None);
        };
        let (producer, consumer) = self.new_pipe(&st.base.opts);
        let id = st.base.peers.insert(PeerEntry {
            out: Outbox::Engine(producer),
            ready: false,
            persistent: true,
        });
        let State { base, pattern } = st;
        match pattern.pending(base, id, Some(rid)) {
            Ok(_) => {
                base.opts.connect_routing_id = None;
                Ok(Some((id, consumer)))
            }
            Err(why) => {
                base.peers.remove(id);
                Err(Error::Invalid(why))
            }
        }
    }

    /// [`Port::attach`] with the lock held (`out` replaces a connecter's
    /// outbox when given, and is needed for a new entry); `greet` false leaves the
    /// pattern's greeting to the caller (an inproc link, whose outbox is
    /// final only once both sides are attached).
    pub(crate) fn attach_locked(
        &self,
        st: &mut State<P>,
        preset: Option<PeerId>,
        out: Option<Outbox>,
        identity: Option<Bytes>,
        greet: bool,
    ) -> Result<(PeerId, Option<Bytes>), EndReason> {
        if self.is_closed() {
            return Err(EndReason::Closed);
        }
        let kept = preset.filter(|&id| st.base.peers.contains(id));
        let (id, fresh, replace) = match (kept, out) {
            (Some(id), out) => (id, false, out),
            (None, Some(out)) => {
                let id = st.base.peers.insert(PeerEntry {
                    out,
                    ready: false,
                    persistent: false,
                });
                (id, true, None)
            }
            // A connecter's entry, gone meanwhile (a disconnect).
            (None, None) => return Err(EndReason::Closed),
        };
        let State { base, pattern } = st;
        let routing_id = match pattern.attached(base, &self.inbox, id, fresh, identity) {
            Ok(r) => r,
            Err(why) => {
                if fresh {
                    base.peers.remove(id);
                }
                return Err(EndReason::Rejected(why));
            }
        };
        if let Some(p) = base.peers.get_mut(id) {
            p.ready = true;
            if let Some(out) = replace {
                p.out = out;
            }
        }
        if greet {
            pattern.greet(base, id);
        }
        self.ready_peers.fetch_add(1, Ordering::AcqRel);
        self.inbox.wake.ring();
        Ok((id, routing_id))
    }

    /// [`Port::detach`] with the lock held.
    pub(crate) fn detach_locked(&self, st: &mut State<P>, id: PeerId, remove: bool) {
        let Some(entry) = st.base.peers.get_mut(id) else {
            return;
        };
        let was_ready = entry.ready;
        entry.ready = false;
        let keep = entry.persistent && !remove;
        if was_ready {
            self.ready_peers.fetch_sub(1, Ordering::AcqRel);
        }
        let State { base, pattern } = st;
        pattern.detached(base, &self.inbox, id, keep, was_ready);
        if !keep {
            if let Some(p) = base.peers.remove(id) {
                p.out.close();
            }
        }
        self.inbox.wake.ring();
    }

    /// [`Port::subscription`] with the lock held.
    pub(crate) fn subscription_locked(
        &self,
        st: &mut State<P>,
        id: PeerId,
        topic: Bytes,
        on: bool,
    ) -> Result<Option<Message>, ProtocolError> {
        let State { base, pattern } = st;
        if !base.peers.contains(id) {
            return Ok(None);
        }
        let (counted, notice) = pattern.subscription(base, id, topic, on)?;
        if counted {
            self.subscriptions.fetch_add(1, Ordering::AcqRel);
        }
        self.inbox.wake.ring();
        Ok(notice)
    }

    /// An inproc peer's (un)subscription, with the lock held: its
    /// notification goes straight to the inbound queue (an inproc peer is
    /// the application's own socket, so no budget applies to it).
    pub(crate) fn inproc_subscription_locked(
        &self,
        st: &mut State<P>,
        id: PeerId,
        topic: Bytes,
        on: bool,
    ) {
        if let Ok(Some(msg)) = self.subscription_locked(st, id, topic, on) {
            self.inbox.push_notices(vec![Inbound { peer: id, msg }]);
        }
    }

    /// The socket of the one connection a blocking `recv` may watch: when
    /// exactly one peer is connected over tcp or ipc and has carried a
    /// message (so its inline-write descriptor exists).
    #[cfg(unix)]
    pub(crate) fn lone_connection(&self) -> Option<pipe::ConnSocket> {
        let st = self.lock();
        let mut ready = st.base.peers.iter().filter(|(_, p)| p.ready);
        let (_, only) = ready.next()?;
        if ready.next().is_some() {
            return None;
        }
        match &only.out {
            Outbox::Engine(pipe) => pipe.direct_socket(),
            Outbox::Inproc(_) => None,
        }
    }
}

impl<P: Hooks> Port for SocketCore<P> {
    fn socket_type(&self) -> SocketType {
        self.ty
    }

    fn speaks_zmtp(&self) -> bool {
        self.zmtp
    }

    fn takes_messages(&self) -> bool {
        self.takes
    }

    fn options(&self) -> SocketOptions {
        self.lock().base.opts.clone()
    }

    fn inbox(&self) -> &Arc<Inbox> {
        &self.inbox
    }

    fn pipe(&self, opts: &SocketOptions) -> (Producer, Consumer) {
        self.new_pipe(opts)
    }

    fn attach(
        &self,
        preset: Option<PeerId>,
        out: Option<Outbox>,
        identity: Option<Bytes>,
    ) -> Result<(PeerId, Option<Bytes>), EndReason> {
        let mut st = self.lock();
        self.attach_locked(&mut st, preset, out, identity, true)
    }

    fn subscription(
        &self,
        id: PeerId,
        topic: Bytes,
        on: bool,
    ) -> Result<Option<Message>, ProtocolError> {
        let mut st = self.lock();
        self.subscription_locked(&mut st, id, topic, on)
    }

    fn inproc_subscription(&self, id: PeerId, topic: Bytes, on: bool) {
        let mut st = self.lock();
        self.inproc_subscription_locked(&mut st, id, topic, on);
    }

    fn detach(&self, id: PeerId, remove: bool) {
        let mut st = self.lock();
        self.detach_locked(&mut st, id, remove);
    }

    fn emit(&self, ev: MonitorEvent) {
        self.lock().base.emit(ev);
    }

    fn wake(&self) {
        self.inbox.wake.ring();
    }

    fn is_closed(&self) -> bool {
        self.inbox.is_closed()
    }

    fn zap(&self, request: Vec<Bytes>) -> Option<ZapCall> {
        self.zap.as_ref()?.call(request)
    }
}
