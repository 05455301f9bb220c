//! The hand-off between a socket and one peer's engine.

use std::sync::atomic::{AtomicBool, AtomicUsize, Ordering};
use std::sync::{Arc, OnceLock};

use bytes::Bytes;
use concurrent_queue::ConcurrentQueue;
use event_listener::Event;
use monocoque_core::router::PeerId;

use crate::message::Message;
use crate::shared::Shared;

/// A subscription change for the engine to send as a command.
#[derive(Debug, Clone)]
pub(crate) enum PipeCmd {
    /// SUBSCRIBE this prefix.
    Subscribe(Bytes),
    /// CANCEL this prefix.
    Cancel(Bytes),
}

/// One peer's outbound queue (bounded by SNDHWM), the engine's commands,
/// and the event its writer sleeps on.
#[derive(Debug)]
pub(crate) struct Pipe {
    /// Made on the first push: a peer that is never sent to (most peers of
    /// a busy ROUTER, every idle one) costs no ring.
    out: OnceLock<ConcurrentQueue<Message>>,
    capacity: usize,
    cmds: ConcurrentQueue<PipeCmd>,
    /// Wakes the engine's writer: a message, a command, or the close.
    pub(crate) ready: Event,
    /// Wakes the engine's reader when the socket closes the pipe.
    pub(crate) closing: Event,
    closed: AtomicBool,
    /// Messages the writer took and has not finished writing: LINGER waits
    /// for these too.
    in_flight: AtomicUsize,
}

impl Pipe {
    pub(crate) fn new(capacity: usize) -> Arc<Self> {
        Arc::new(Self {
            out: OnceLock::new(),
            capacity,
            cmds: ConcurrentQueue::unbounded(),
            ready: Event::new(),
            closing: Event::new(),
            closed: AtomicBool::new(false),
            in_flight: AtomicUsize::new(0),
        })
    }

    /// Queues a message; gives it back when the queue is full.
    pub(crate) fn push(&self, msg: Message) -> Result<(), Message> {
        let out = self
            .out
            .get_or_init(|| crate::options::hwm_queue(self.capacity));
        match out.push(msg) {
            Ok(()) => {
                self.ready.notify(1);
                Ok(())
            }
            Err(e) => Err(e.into_inner()),
        }
    }

    /// Takes the next queued message.
    pub(crate) fn pop(&self) -> Option<Message> {
        self.out.get()?.pop().ok()
    }

    /// Whether no message waits.
    pub(crate) fn is_empty(&self) -> bool {
        self.out.get().is_none_or(ConcurrentQueue::is_empty)
    }

    /// Queues a subscription command.
    pub(crate) fn command(&self, cmd: PipeCmd) {
        let _ = self.cmds.push(cmd);
        self.ready.notify(1);
    }

    /// Takes the next command.
    pub(crate) fn pop_command(&self) -> Option<PipeCmd> {
        self.cmds.pop().ok()
    }

    /// Drops every queued command (a reconnect resends the whole set).
    pub(crate) fn clear_commands(&self) {
        while self.cmds.pop().is_ok() {}
    }

    /// Asks the engine to end the connection.
    pub(crate) fn close(&self) {
        self.closed.store(true, Ordering::Release);
        self.ready.notify(usize::MAX);
        self.closing.notify(usize::MAX);
    }

    /// The writer took `n` messages (or commands) and is writing them.
    pub(crate) fn taken(&self, n: usize) {
        self.in_flight.fetch_add(n, Ordering::AcqRel);
    }

    /// The writer handed `n` taken messages to the kernel (or gave up).
    pub(crate) fn written(&self, n: usize) {
        self.in_flight.fetch_sub(n, Ordering::AcqRel);
    }

    /// Whether everything queued reached the kernel: no message, command or
    /// write in flight.
    pub(crate) fn is_flushed(&self) -> bool {
        self.is_empty() && self.cmds.is_empty() && self.in_flight.load(Ordering::Acquire) == 0
    }

    /// Whether [`close`](Self::close) was called.
    pub(crate) fn is_closed(&self) -> bool {
        self.closed.load(Ordering::Acquire)
    }

    /// Whether the writer has anything to do.
    pub(crate) fn has_work(&self) -> bool {
        !self.is_empty() || !self.cmds.is_empty() || self.is_closed()
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

    /// Whether nothing is queued for the peer (what LINGER waits for).
    pub(crate) fn is_drained(&self) -> bool {
        match self {
            Outbox::Engine(pipe) => pipe.is_flushed(),
            Outbox::Inproc { .. } => true,
        }
    }
}
