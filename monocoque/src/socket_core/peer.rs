//! A socket's peers as the socket side sees them: where each one's
//! messages go ([`Outbox`]), and the binds and connects that made them.

use std::sync::Arc;

use bytes::Bytes;
use monocoque_core::router::PeerId;

use super::inbox::Inbox;
use super::port::Port;
use crate::message::Message;
use crate::pipe::Producer;
use crate::sync::Cancel;

/// One attached peer.
#[derive(Debug)]
pub(crate) struct PeerEntry {
    /// Where messages for it go.
    pub(crate) out: Outbox,
    /// Handshake done (a connecter's pipe exists before that).
    pub(crate) ready: bool,
    /// A connecter's pipe: it outlives connections and queues meanwhile.
    pub(crate) persistent: bool,
}

/// Where a socket's messages for one peer go.
#[derive(Debug, Clone)]
pub(crate) enum Outbox {
    /// To an engine on an I/O thread.
    Engine(Producer),
    /// Straight into an inproc peer's inbox.
    Inproc(InprocOut),
}

/// The far end of an inproc link.
#[derive(Debug, Clone)]
pub(crate) struct InprocOut {
    /// The peer socket's inbound queue.
    pub(crate) inbox: Arc<Inbox>,
    /// The peer socket, for subscriptions and the unlink.
    pub(crate) port: Arc<dyn Port>,
    /// Our id in the peer's tables.
    pub(crate) id: PeerId,
    /// Our routing id, when the peer is a ROUTER: it leads each message.
    pub(crate) prefix: Option<Bytes>,
}

impl Outbox {
    /// Queues a message for the peer; gives it back when the peer is full.
    /// A lone message for an idle connection may be written at once by
    /// the calling thread (see `Pipe::push`).
    pub(crate) fn push(&self, msg: Message) -> Result<(), Message> {
        match self {
            Outbox::Engine(pipe) => pipe.push(msg),
            Outbox::Inproc(link) => link.push(msg),
        }
    }

    /// Like [`push`](Self::push), but never written inline by the caller
    /// (fan-out: the writers batch).
    pub(crate) fn push_queued(&self, msg: Message) -> Result<(), Message> {
        match self {
            Outbox::Engine(pipe) => pipe.enqueue(msg),
            Outbox::Inproc(link) => link.push(msg),
        }
    }

    /// `ZMQ_CONFLATE`: queues `msg` in place of the message still waiting
    /// for the peer, if any; never waits. An inproc peer that does not
    /// conflate itself and is full loses `msg`.
    pub(crate) fn push_latest(&self, msg: Message) {
        match self {
            Outbox::Engine(pipe) => pipe.push_latest(msg),
            Outbox::Inproc(link) => {
                let _ = link.push(msg);
            }
        }
    }

    /// Whether the peer's connection was ended (an engine's pipe closed).
    pub(crate) fn is_closed(&self) -> bool {
        match self {
            Outbox::Engine(pipe) => pipe.is_closed(),
            Outbox::Inproc(_) => false,
        }
    }

    /// Whether a push would find room now (a poller's POLLOUT).
    pub(crate) fn has_room(&self) -> bool {
        match self {
            Outbox::Engine(pipe) => pipe.has_room(),
            Outbox::Inproc(link) => !link.inbox.is_full(),
        }
    }

    /// Whether nothing is queued for the peer (what LINGER waits for).
    pub(crate) fn is_drained(&self) -> bool {
        match self {
            Outbox::Engine(pipe) => pipe.is_flushed(),
            Outbox::Inproc(_) => true,
        }
    }

    /// Ends the peer's connection (an engine's; an inproc link is ended
    /// by its transport).
    pub(crate) fn close(&self) {
        if let Outbox::Engine(pipe) = self {
            pipe.close();
        }
    }

    /// The inbox to wait on for room when this peer is full (inproc).
    pub(crate) fn room(&self) -> Option<Arc<Inbox>> {
        match self {
            Outbox::Engine(_) => None,
            Outbox::Inproc(link) => Some(link.inbox.clone()),
        }
    }
}

impl InprocOut {
    fn push(&self, msg: Message) -> Result<(), Message> {
        match &self.prefix {
            None => self.inbox.push_one(self.id, msg),
            Some(p) => {
                let mut msg = msg;
                msg.push_front(p.clone());
                self.inbox.push_one(self.id, msg).map_err(|mut m| {
                    m.pop_front();
                    m
                })
            }
        }
    }
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
