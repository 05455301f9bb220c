//! What a socket shares with its engines: the inbound queue, the pattern
//! state behind one mutex, and the events both sides sleep on.

use std::collections::VecDeque;
use std::os::fd::OwnedFd;
use std::sync::atomic::{fence, AtomicBool, AtomicU64, AtomicUsize, Ordering};
use std::sync::{Arc, Mutex, MutexGuard, OnceLock};

use bytes::Bytes;
use concurrent_queue::ConcurrentQueue;
use monocoque_core::pubsub::{SubscriptionIndex, SubscriptionSet};
use monocoque_core::router::{Attach, LoadBalancer, PeerId, Peers, RoutingTable};
use monocoque_zmtp::SocketType;

use crate::context::ContextInner;
use crate::message::Message;
use crate::monitor::{MonitorEvent, MonitorQueue};
use crate::options::SocketOptions;
use crate::pipe::{Pipe, PipeCmd};
use crate::sync::{Bell, Cancel};

/// A message and the peer it came from.
#[derive(Debug)]
pub(crate) struct Inbound {
    pub(crate) peer: PeerId,
    pub(crate) msg: Message,
}

/// One attached peer, as the socket side sees it.
#[derive(Debug)]
pub(crate) struct PeerEntry {
    /// Where messages for it go.
    pub(crate) out: Outbox,
    /// Its routing id (ROUTER, STREAM).
    pub(crate) routing_id: Option<Bytes>,
    /// Handshake done (a connecter's pipe exists before that).
    pub(crate) ready: bool,
    /// A connecter's pipe: it outlives connections and queues meanwhile.
    pub(crate) persistent: bool,
}

/// A bind or connect, for unbind, disconnect and close.
#[derive(Debug)]
pub(crate) struct EndpointEntry {
    /// The endpoint as the user gave it.
    pub(crate) given: String,
    /// The endpoint as resolved (the port a `:*` bind got).
    pub(crate) resolved: String,
    /// Stops the listener or the connecter.
    pub(crate) cancel: Arc<Cancel>,
    /// A bind (else a connect).
    pub(crate) bind: bool,
    /// The connecter's persistent peer, if any.
    pub(crate) peer: Option<PeerId>,
}

/// The pattern state of a socket.
#[derive(Debug, Default)]
pub(crate) struct State {
    pub(crate) opts: SocketOptions,
    pub(crate) peers: Peers<PeerEntry>,
    pub(crate) lb: LoadBalancer<PeerId>,
    pub(crate) routing: RoutingTable<PeerId>,
    /// PUB, XPUB: who subscribed to what.
    pub(crate) index: SubscriptionIndex<PeerId>,
    /// SUB, XSUB: what we subscribed to (resent on every connection).
    pub(crate) subs: SubscriptionSet,
    /// XPUB: subscription messages waiting for `recv`.
    pub(crate) pending: VecDeque<Message>,
    /// REQ: the peer the request went to, while a reply is awaited.
    pub(crate) req_peer: Option<PeerId>,
    /// REQ: a request is out and its reply not yet received.
    pub(crate) req_sent: bool,
    /// REQ with `REQ_CORRELATE`: the id of the last request.
    pub(crate) req_id: u32,
    /// REP: the envelope of the request being answered.
    pub(crate) rep_env: Option<(PeerId, Message)>,
    pub(crate) endpoints: Vec<EndpointEntry>,
    pub(crate) monitor: Option<Arc<MonitorQueue>>,
    pub(crate) last_endpoint: Option<String>,
    /// Reused by fan-out so a send allocates nothing.
    pub(crate) scratch: Vec<PeerId>,
}

impl State {
    /// Records a bind or connect; it becomes the last endpoint.
    pub(crate) fn record_endpoint(&mut self, e: EndpointEntry) {
        self.last_endpoint = Some(e.resolved.clone());
        self.endpoints.push(e);
    }

    pub(crate) fn emit(&self, ev: MonitorEvent) {
        if let Some(m) = &self.monitor {
            m.emit(ev);
        }
    }
}

/// Everything a socket and its engines share.
#[derive(Debug)]
pub(crate) struct Shared {
    pub(crate) ty: SocketType,
    pub(crate) ctx: Arc<ContextInner>,
    pub(crate) state: Mutex<State>,
    /// Messages queued one at a time (inproc senders, STREAM engines).
    inbound: OnceLock<ConcurrentQueue<Inbound>>,
    /// ZMTP engines' messages, a run of one read at a time: one queue
    /// operation per run instead of per message (see [`Shared::push_batch`]).
    batches: ConcurrentQueue<Vec<Inbound>>,
    /// Messages in `batches`, bounded by RCVHWM.
    batched: AtomicUsize,
    /// The run the user side is taking messages from.
    local: spin::Mutex<VecDeque<Inbound>>,
    /// Whether `local` holds messages (read without its lock).
    local_has: AtomicBool,
    /// Emptied run buffers, handed back to the engines for reuse.
    spare: ConcurrentQueue<Vec<Inbound>>,
    /// Wakes the user side: a message arrived, room appeared, a peer came.
    pub(crate) wake: Bell,
    /// Wakes whoever waits for room in `inbound` (engines, inproc senders).
    pub(crate) space: Bell,
    closed: AtomicBool,
    ready_peers: AtomicUsize,
    /// Blocking `recv`s polling their connection and `watch` (see
    /// `Socket::recv_watching`).
    watchers: AtomicUsize,
    /// Written when a message arrives while somebody watches.
    watch: OnceLock<OwnedFd>,
    /// A SUB or XSUB subscribed to the empty prefix: every message matches.
    pub(crate) match_all: AtomicBool,
    subscriptions: AtomicUsize,
    /// When this socket last wrote a message inline (shared by its pipes).
    pub(crate) last_inline: Arc<AtomicU64>,
}

/// A watching `recv`, counted until dropped.
#[derive(Debug)]
pub(crate) struct Watching<'a>(&'a Shared);

impl Drop for Watching<'_> {
    fn drop(&mut self) {
        self.0.watchers.fetch_sub(1, Ordering::SeqCst);
    }
}

/// The inbound queue's capacity when nothing set it (libzmq's RCVHWM).
const DEFAULT_INBOUND: usize = 1000;

/// Emptied run buffers kept for reuse.
const SPARE_BATCHES: usize = 8;

/// A new run buffer's capacity: it grows (to [`BATCH_MSGS`]) only where
/// reads carry that many messages.
const FRESH_RUN: usize = 16;

/// Messages an engine gathers into one run before it queues them.
pub(crate) const BATCH_MSGS: usize = 1024;

/// Room kept in the inbound queue beyond RCVHWM, so a ROUTER or REP can
/// hold a few messages of every peer.
fn inbound_capacity(opts: &SocketOptions) -> usize {
    opts.recv_capacity().max(16)
}

impl Shared {
    pub(crate) fn new(ctx: Arc<ContextInner>, ty: SocketType) -> Arc<Self> {
        Arc::new(Self {
            ty,
            ctx,
            state: Mutex::new(State::default()),
            inbound: OnceLock::new(),
            batches: ConcurrentQueue::unbounded(),
            batched: AtomicUsize::new(0),
            local: spin::Mutex::new(VecDeque::new()),
            local_has: AtomicBool::new(false),
            spare: ConcurrentQueue::bounded(SPARE_BATCHES),
            wake: Bell::default(),
            space: Bell::default(),
            closed: AtomicBool::new(false),
            ready_peers: AtomicUsize::new(0),
            match_all: AtomicBool::new(false),
            watchers: AtomicUsize::new(0),
            watch: OnceLock::new(),
            subscriptions: AtomicUsize::new(0),
            last_inline: Arc::new(AtomicU64::new(0)),
        })
    }

    /// Locks the pattern state. A panic while it was held cannot leave it
    /// half-updated in a way that matters more than losing the socket, so a
    /// poisoned lock is taken over.
    pub(crate) fn lock(&self) -> MutexGuard<'_, State> {
        self.state.lock().unwrap_or_else(|e| e.into_inner())
    }

    /// Fixes the inbound queue's size (RCVHWM) at the first bind or connect.
    pub(crate) fn init_inbound(&self, opts: &SocketOptions) {
        let _ = self
            .inbound
            .get_or_init(|| crate::options::hwm_queue(inbound_capacity(opts)));
    }

    /// The inbound queue.
    pub(crate) fn inbound(&self) -> &ConcurrentQueue<Inbound> {
        self.inbound
            .get_or_init(|| ConcurrentQueue::bounded(DEFAULT_INBOUND))
    }

    /// Takes the next inbound message, if any, and tells waiting producers
    /// that room appeared. The current run goes first, then single
    /// messages, then the next run, so neither kind starves the other.
    pub(crate) fn pop_inbound(&self) -> Option<Inbound> {
        if self.local_has.load(Ordering::Acquire) {
            if let Some(i) = self.pop_run(false) {
                return Some(i);
            }
        }
        if let Some(q) = self.inbound.get() {
            if let Ok(item) = q.pop() {
                // A fence and a load while nobody waits for room (reading
                // the queue's length here would pull the producer's line).
                self.space.ring();
                return Some(item);
            }
        }
        if self.batches.is_empty() {
            return None;
        }
        self.pop_run(true)
    }

    /// Takes a message from the current run; when it is empty and `next`,
    /// starts the next run first.
    fn pop_run(&self, next: bool) -> Option<Inbound> {
        // A spin lock: taken once per message (see `lock_spin`).
        let mut local = crate::sync::lock_spin(&self.local);
        if local.is_empty() {
            if !next {
                return None;
            }
            let run = self.batches.pop().ok()?;
            self.batched.fetch_sub(run.len(), Ordering::AcqRel);
            self.space.ring();
            let old = std::mem::replace(&mut *local, VecDeque::from(run));
            if old.capacity() > 0 {
                let _ = self.spare.push(Vec::from(old));
            }
        }
        let item = local.pop_front();
        self.local_has.store(!local.is_empty(), Ordering::Release);
        item
    }

    /// An empty buffer for an engine's next run (a reused one when there is one).
    pub(crate) fn run_buffer(&self) -> Vec<Inbound> {
        self.spare
            .pop()
            .unwrap_or_else(|_| Vec::with_capacity(FRESH_RUN))
    }

    /// Queues a run of messages from one engine and wakes the user side;
    /// gives it back while RCVHWM messages are already queued (a run may
    /// go beyond it: it is at most [`BATCH_MSGS`] long).
    pub(crate) fn push_batch(&self, run: Vec<Inbound>) -> Result<(), Vec<Inbound>> {
        if self.is_closed() || run.is_empty() {
            return Ok(());
        }
        if self.batches_full() {
            return Err(run);
        }
        self.batched.fetch_add(run.len(), Ordering::AcqRel);
        let _ = self.batches.push(run);
        self.wake.ring();
        self.nudge_watchers();
        Ok(())
    }

    /// Whether engines must wait before queueing another run.
    pub(crate) fn batches_full(&self) -> bool {
        let cap = self.inbound().capacity().unwrap_or(usize::MAX);
        self.batched.load(Ordering::Acquire) >= cap
    }

    /// Queues one message from `peer` (an inproc sender, a STREAM engine)
    /// and wakes the user side; gives it back when the queue is full.
    pub(crate) fn deliver_one(&self, peer: PeerId, msg: Message) -> Result<(), Message> {
        if self.is_closed() {
            return Ok(());
        }
        self.inbound()
            .push(Inbound { peer, msg })
            .map_err(|e| e.into_inner().msg)?;
        self.wake.ring();
        self.nudge_watchers();
        Ok(())
    }

    /// Whether the inbound queue is at capacity.
    pub(crate) fn inbound_full(&self) -> bool {
        self.inbound().is_full()
    }

    /// Marks the socket closed: engines stop delivering.
    pub(crate) fn set_closed(&self) {
        self.closed.store(true, Ordering::Release);
        self.wake.ring();
        self.space.ring();
        self.nudge_watchers();
    }

    /// The socket of the one connection a blocking `recv` may watch: when
    /// exactly one peer is connected over tcp or ipc and has carried a
    /// message (so its inline-write descriptor exists).
    pub(crate) fn lone_connection(&self) -> Option<Arc<socket2::Socket>> {
        let st = self.lock();
        let mut ready = st.peers.iter().filter(|(_, p)| p.ready);
        let (_, only) = ready.next()?;
        if ready.next().is_some() {
            return None;
        }
        match &only.out {
            Outbox::Engine(pipe) => pipe.direct_socket(),
            Outbox::Inproc { .. } => None,
        }
    }

    /// The event a watching `recv` polls beside its connection, made on
    /// first use (non-blocking, close-on-exec).
    pub(crate) fn watch_event(&self) -> Option<&OwnedFd> {
        if self.watch.get().is_none() {
            let fd = rustix::event::eventfd(
                0,
                rustix::event::EventfdFlags::NONBLOCK | rustix::event::EventfdFlags::CLOEXEC,
            )
            .ok()?;
            let _ = self.watch.set(fd);
        }
        self.watch.get()
    }

    /// Counts a watching `recv` until the guard drops.
    pub(crate) fn watching(&self) -> Watching<'_> {
        self.watchers.fetch_add(1, Ordering::SeqCst);
        fence(Ordering::SeqCst);
        Watching(self)
    }

    /// Wakes watching `recv`s (after a message was queued, or the close):
    /// one write to the event, only while somebody watches.
    fn nudge_watchers(&self) {
        // `Bell::ring`'s fence orders the queue operation before this.
        if self.watchers.load(Ordering::Relaxed) > 0 {
            if let Some(fd) = self.watch.get() {
                let _ = rustix::io::write(fd, &1u64.to_ne_bytes());
            }
        }
    }

    /// Whether the socket was closed.
    pub(crate) fn is_closed(&self) -> bool {
        self.closed.load(Ordering::Acquire)
    }

    /// Peers whose handshake completed.
    pub(crate) fn ready_peers(&self) -> usize {
        self.ready_peers.load(Ordering::Acquire)
    }

    /// Subscriptions received so far (PUB, XPUB).
    pub(crate) fn subscriptions(&self) -> usize {
        self.subscriptions.load(Ordering::Acquire)
    }

    /// Registers a peer whose handshake completed (or an inproc peer).
    /// `preset` is a connecter's existing entry. Returns the peer's id and
    /// routing id, or `None` when the socket refuses it (PAIR already
    /// paired, ROUTER id taken without handover, socket closed).
    pub(crate) fn attach(
        &self,
        st: &mut State,
        preset: Option<PeerId>,
        out: Outbox,
        identity: Option<Bytes>,
    ) -> Option<(PeerId, Option<Bytes>)> {
        if self.is_closed() {
            return None;
        }
        if self.ty == SocketType::Pair {
            let other = st
                .peers
                .iter()
                .any(|(id, p)| Some(id) != preset && (p.ready || p.persistent));
            if other {
                return None;
            }
        }
        let id = match preset {
            Some(id) if st.peers.contains(id) => {
                if let Some(p) = st.peers.get_mut(id) {
                    p.ready = true;
                    p.out = out.clone();
                }
                id
            }
            _ => {
                let id = st.peers.insert(PeerEntry {
                    out: out.clone(),
                    routing_id: None,
                    ready: true,
                    persistent: false,
                });
                if matches!(
                    self.ty,
                    SocketType::Push | SocketType::Dealer | SocketType::Req | SocketType::Pair
                ) {
                    st.lb.attach(id);
                }
                id
            }
        };
        let mut routing_id = None;
        if matches!(self.ty, SocketType::Router | SocketType::Stream) {
            let requested = if self.ty == SocketType::Router {
                identity.filter(|i| !i.is_empty())
            } else {
                None
            };
            match st.routing.attach(id, requested) {
                Attach::Attached { routing_id: r } => routing_id = Some(Bytes::from(r)),
                Attach::HandedOver {
                    routing_id: r,
                    evicted,
                } => {
                    routing_id = Some(Bytes::from(r));
                    if let Some(old) = st.peers.get(evicted) {
                        if let Outbox::Engine(pipe) = &old.out {
                            pipe.close();
                        }
                    }
                }
                Attach::Refused { .. } => {
                    st.peers.remove(id);
                    return None;
                }
            }
            if let Some(p) = st.peers.get_mut(id) {
                p.routing_id = routing_id.clone();
            }
        }
        if matches!(self.ty, SocketType::Sub | SocketType::Xsub) {
            match &out {
                Outbox::Engine(pipe) => {
                    pipe.clear_commands();
                    for prefix in st.subs.iter() {
                        pipe.command(PipeCmd::Subscribe(prefix.clone()));
                    }
                }
                Outbox::Inproc { .. } => {} // the inproc link copies the set itself
            }
        }
        if self.ty == SocketType::Xpub && matches!(out, Outbox::Engine(_)) {
            if let Some(welcome) = st.opts.xpub_welcome_msg.clone() {
                let _ = out.push(Message::from(welcome));
            }
        }
        self.ready_peers.fetch_add(1, Ordering::AcqRel);
        self.wake.ring();
        Some((id, routing_id))
    }

    /// A peer's connection ended. A connecter's persistent entry stays (its
    /// queue waits for the reconnect) unless `remove` is set.
    pub(crate) fn detach(&self, st: &mut State, id: PeerId, remove: bool) {
        let Some(entry) = st.peers.get_mut(id) else {
            return;
        };
        let was_ready = entry.ready;
        entry.ready = false;
        let keep = entry.persistent && !remove;
        if was_ready {
            self.ready_peers.fetch_sub(1, Ordering::AcqRel);
        }
        if self.ty.is_publisher() {
            let xpub = self.ty == SocketType::Xpub;
            let mut gone = Vec::new();
            st.index.remove_peer(id, |prefix, what| {
                if xpub && what.is_last() {
                    gone.push(prefix.to_vec());
                }
            });
            for prefix in gone {
                let mut m = Vec::with_capacity(prefix.len() + 1);
                m.push(0);
                m.extend_from_slice(&prefix);
                st.pending.push_back(Message::from(m));
            }
        }
        if matches!(self.ty, SocketType::Router | SocketType::Stream) {
            st.routing.detach(id);
        }
        if !keep {
            st.lb.detach(id);
            if let Some(p) = st.peers.remove(id) {
                if let Outbox::Engine(pipe) = &p.out {
                    pipe.close();
                }
            }
            // A REQ keeps waiting for `id`: a reply it sent before leaving
            // may still be in the inbound queue, and the epoch keeps a
            // successor in the same slot from matching.
        }
        self.wake.ring();
    }

    /// A peer (un)subscribed (PUB, XPUB).
    pub(crate) fn peer_subscription(&self, st: &mut State, id: PeerId, topic: Bytes, on: bool) {
        if !self.ty.is_publisher() || !st.peers.contains(id) {
            return;
        }
        let forward = if on {
            self.subscriptions.fetch_add(1, Ordering::AcqRel);
            st.index.subscribe(id, &topic).is_first()
        } else {
            st.index.cancel(id, &topic).is_last()
        };
        // XPUB_VERBOSE passes duplicate subscriptions, not duplicate
        // unsubscriptions (libzmq keeps those for XPUB_VERBOSER).
        if self.ty == SocketType::Xpub && (forward || (on && st.opts.xpub_verbose)) {
            let mut m = Vec::with_capacity(topic.len() + 1);
            m.push(u8::from(on));
            m.extend_from_slice(&topic);
            st.pending.push_back(Message::from(m));
        }
        self.wake.ring();
    }
}

/// The SUBSCRIBE/CANCEL body of an XSUB message: `0x01` or `0x00` then
/// the prefix, as ZMTP 3.0 sent them.
pub(crate) fn subscription_message(msg: &Message) -> Option<(bool, Bytes)> {
    if msg.len() != 1 {
        return None;
    }
    let f = &msg[0];
    match f.first() {
        Some(1) => Some((true, f.slice(1..))),
        Some(0) => Some((false, f.slice(1..))),
        _ => None,
    }
}

/// Where a socket's messages for one peer go.
#[derive(Debug, Clone)]
pub(crate) enum Outbox {
    /// To an engine on an I/O thread.
    Engine(Arc<Pipe>),
    /// Straight into an inproc peer's inbound queue, where we are `id`.
    Inproc {
        /// The peer socket.
        target: Arc<Shared>,
        /// Our id in the peer's tables.
        id: PeerId,
        /// Our routing id, when the peer is a ROUTER: it leads each message.
        prefix: Option<Bytes>,
    },
}

impl Outbox {
    /// Queues a message for the peer; gives it back when the peer is full.
    pub(crate) fn push(&self, msg: Message) -> Result<(), Message> {
        match self {
            Outbox::Engine(pipe) => pipe.push(msg),
            Outbox::Inproc { target, id, prefix } => match prefix {
                None => target.deliver_one(*id, msg),
                Some(p) => {
                    let mut msg = msg;
                    msg.push_front(p.clone());
                    target.deliver_one(*id, msg).map_err(|mut m| {
                        m.pop_front();
                        m
                    })
                }
            },
        }
    }

    /// Like [`push`](Self::push), but never written inline by the caller.
    pub(crate) fn push_queued(&self, msg: Message) -> Result<(), Message> {
        match self {
            Outbox::Engine(pipe) => pipe.enqueue(msg),
            Outbox::Inproc { .. } => self.push(msg),
        }
    }

    /// Whether nothing is queued for the peer (what LINGER waits for).
    pub(crate) fn is_drained(&self) -> bool {
        match self {
            Outbox::Engine(pipe) => pipe.is_flushed(),
            Outbox::Inproc { .. } => true,
        }
    }
}
