//! The messaging patterns (RFC 28 REQ/REP, 29 PUB/SUB, 30 PIPELINE, 31
//! PAIR, and libzmq's ROUTER and STREAM): what each socket type does on
//! `send`, `recv` and when peers come and go. Runs on the caller's thread
//! (or an engine's, through the [`Port`](crate::socket_core::Port));
//! never blocks.
//!
//! Every socket type is a variant of [`Pattern`] holding its own state,
//! and every hook matches on it once: adding a type is a variant and a
//! file, and the compiler points at each hook that lacks it. One family
//! per file: [`lb`] (PUSH, DEALER, PAIR), [`reqrep`], [`router`] (ROUTER,
//! STREAM), [`pubsub`].

mod lb;
mod pubsub;
mod reqrep;
mod router;

use std::sync::Arc;

use bytes::Bytes;
use monocoque_core::router::PeerId;
use monocoque_zmtp::SocketType;

use crate::error::Error;
use crate::message::Message;
use crate::options::SocketOptions;
use crate::socket_core::{Base, Hooks, Inbox, Outbox, SocketCore, State};
use lb::Lb;
use pubsub::{Pub, Sub};
use reqrep::{Rep, Req};
use router::Router;

/// A socket: its core, with the behaviour of its type.
pub(crate) type Core = SocketCore<Pattern>;

/// The per-type state of a socket.
#[derive(Debug)]
pub(crate) enum Pattern {
    /// PUSH: load-balanced sends, no receive.
    Push(Lb),
    /// PULL: fair-queued receives, no send.
    Pull,
    /// DEALER: load-balanced sends, fair-queued receives.
    Dealer(Lb),
    /// PAIR: one peer.
    Pair(Lb),
    /// REQ: a request, then its reply.
    Req(Req),
    /// REP: a request, then the reply.
    Rep(Rep),
    /// ROUTER: messages led by routing ids.
    Router(Router),
    /// STREAM: raw connections.
    Stream(Router),
    /// PUB: filtered fan-out.
    Pub(Pub),
    /// XPUB: PUB that passes subscriptions up.
    Xpub(Pub),
    /// SUB: subscriptions, filtered receive.
    Sub(Sub),
    /// XSUB: subscriptions as messages.
    Xsub(Sub),
}

/// Why a send did not go out now.
pub(crate) enum SendError {
    /// Every eligible peer is full (or there is none): wait and retry. The
    /// message comes back untouched; an inproc peer's inbox to wait on for
    /// room may come too.
    Full(Message, Option<Arc<Inbox>>),
    /// A definite failure.
    Fail(Error),
}

impl From<Error> for SendError {
    fn from(e: Error) -> Self {
        SendError::Fail(e)
    }
}

/// A [`SendError::Full`] for `msg`, waiting on `out`'s room if it can.
fn full(msg: Message, out: Option<&Outbox>) -> SendError {
    SendError::Full(msg, out.and_then(Outbox::room))
}

impl Pattern {
    /// The behaviour of `ty`: the one place that matches on a socket type.
    pub(crate) fn new(ty: SocketType) -> Pattern {
        match ty {
            SocketType::Push => Pattern::Push(Lb::default()),
            SocketType::Pull => Pattern::Pull,
            SocketType::Dealer => Pattern::Dealer(Lb::default()),
            SocketType::Pair => Pattern::Pair(Lb::pair()),
            SocketType::Req => Pattern::Req(Req::default()),
            SocketType::Rep => Pattern::Rep(Rep::default()),
            SocketType::Router => Pattern::Router(Router::default()),
            SocketType::Stream => Pattern::Stream(Router::default()),
            SocketType::Pub => Pattern::Pub(Pub::default()),
            SocketType::Xpub => Pattern::Xpub(Pub::xpub()),
            SocketType::Sub => Pattern::Sub(Sub::default()),
            SocketType::Xsub => Pattern::Xsub(Sub::default()),
        }
    }

    /// Whether the type receives at all (PUSH and PUB do not).
    pub(crate) fn can_recv(&self) -> bool {
        !matches!(self, Pattern::Push(_) | Pattern::Pub(_))
    }

    /// One attempt to send `msg` with the lock held; what to do once it
    /// is released comes back (see [`After`]).
    fn send(&mut self, ty: SocketType, base: &Base, msg: Message) -> Result<After, SendError> {
        match self {
            Pattern::Push(lb) | Pattern::Dealer(lb) | Pattern::Pair(lb) => {
                lb.send(base, msg).map(|_| After::Nothing)
            }
            Pattern::Req(req) => req.send(base, msg).map(|()| After::Nothing),
            Pattern::Rep(rep) => rep.send(base, msg).map(|()| After::Nothing),
            Pattern::Router(r) => r.send(base, msg).map(|()| After::Nothing),
            Pattern::Stream(r) => r.send_stream(base, msg).map(|()| After::Nothing),
            Pattern::Pub(p) | Pattern::Xpub(p) => {
                p.send(base, msg);
                Ok(After::Nothing)
            }
            Pattern::Xsub(s) => Ok(After::Subscribed(s.send(base, msg))),
            Pattern::Sub(_) | Pattern::Pull => Err(Error::NotSupported(ty.as_str()).into()),
        }
    }

    /// SUB's subscribe and unsubscribe, with the lock held.
    fn subscribe(&mut self, ty: SocketType, base: &Base, msg: Message) -> Result<After, Error> {
        match self {
            Pattern::Sub(s) => Ok(After::Subscribed(s.send(base, msg))),
            _ => Err(Error::NotSupported(ty.as_str())),
        }
    }

    /// One attempt to receive with the lock held (for the types that
    /// need it: see [`Hooks::recv_direct`]).
    fn recv(
        &mut self,
        ty: SocketType,
        base: &Base,
        inbox: &Inbox,
    ) -> Result<Option<Message>, Error> {
        match self {
            Pattern::Pull
            | Pattern::Dealer(_)
            | Pattern::Pair(_)
            | Pattern::Router(_)
            | Pattern::Stream(_)
            | Pattern::Xsub(_) => Ok(inbox.pop().map(|i| i.msg)),
            Pattern::Sub(s) => loop {
                let Some(i) = inbox.pop() else {
                    return Ok(None);
                };
                if s.matches(&i.msg) {
                    return Ok(Some(i.msg));
                }
            },
            Pattern::Xpub(p) => Ok(p.recv(inbox)),
            Pattern::Req(req) => req.recv(base, inbox),
            Pattern::Rep(rep) => rep.recv(inbox),
            Pattern::Push(_) | Pattern::Pub(_) => Err(Error::NotSupported(ty.as_str())),
        }
    }

    /// What a SUB or XSUB subscribed to, for a new inproc publisher.
    pub(crate) fn subscriptions(&self) -> Vec<Bytes> {
        match self {
            Pattern::Sub(s) | Pattern::Xsub(s) => s.subscriptions().cloned().collect(),
            _ => Vec::new(),
        }
    }
}

impl Hooks for Pattern {
    fn speaks_zmtp(&self) -> bool {
        !matches!(self, Pattern::Stream(_))
    }

    fn recv_direct(&self) -> bool {
        match self {
            Pattern::Pull
            | Pattern::Dealer(_)
            | Pattern::Pair(_)
            | Pattern::Router(_)
            | Pattern::Stream(_)
            | Pattern::Xsub(_) => true,
            // Subscribed to everything (the common case): no lock per message.
            Pattern::Sub(s) => s.matches_all(),
            Pattern::Push(_)
            | Pattern::Pub(_)
            | Pattern::Xpub(_)
            | Pattern::Req(_)
            | Pattern::Rep(_) => false,
        }
    }

    fn peer_per_connection(&self) -> bool {
        matches!(self, Pattern::Router(_) | Pattern::Stream(_))
    }

    fn pending(&mut self, id: PeerId) -> bool {
        match self {
            Pattern::Push(lb) | Pattern::Dealer(lb) | Pattern::Pair(lb) => {
                lb.attach(id);
                true
            }
            Pattern::Req(req) => {
                req.lb.attach(id);
                true
            }
            _ => false,
        }
    }

    fn attached(
        &mut self,
        base: &mut Base,
        id: PeerId,
        fresh: bool,
        identity: Option<Bytes>,
    ) -> Result<Option<Bytes>, &'static str> {
        match self {
            Pattern::Push(lb) | Pattern::Dealer(lb) | Pattern::Pair(lb) => {
                lb.attached(base, id, fresh).map(|()| None)
            }
            Pattern::Req(req) => req.lb.attached(base, id, fresh).map(|()| None),
            Pattern::Router(r) => r.attached(base, id, identity),
            Pattern::Stream(r) => r.attached(base, id, None),
            Pattern::Pull
            | Pattern::Rep(_)
            | Pattern::Pub(_)
            | Pattern::Xpub(_)
            | Pattern::Sub(_)
            | Pattern::Xsub(_) => Ok(None),
        }
    }

    fn greet(&mut self, base: &Base, id: PeerId) {
        match self {
            Pattern::Sub(s) | Pattern::Xsub(s) => s.greet(base, id),
            Pattern::Xpub(p) => p.greet(base, id),
            _ => {}
        }
    }

    fn detached(&mut self, _base: &mut Base, id: PeerId, keep: bool) {
        match self {
            Pattern::Push(lb) | Pattern::Dealer(lb) | Pattern::Pair(lb) if !keep => lb.detach(id),
            Pattern::Req(req) if !keep => req.lb.detach(id),
            Pattern::Router(r) | Pattern::Stream(r) => r.detach(id),
            Pattern::Pub(p) | Pattern::Xpub(p) => p.detach(id),
            _ => {}
        }
    }

    fn subscription(&mut self, base: &mut Base, id: PeerId, topic: Bytes, on: bool) -> bool {
        match self {
            Pattern::Pub(p) | Pattern::Xpub(p) => {
                p.subscription(base, id, topic, on);
                on
            }
            _ => false,
        }
    }

    fn options_changed(&mut self, opts: &SocketOptions) {
        if let Pattern::Router(r) | Pattern::Stream(r) = self {
            r.set_handover(opts.router_handover);
        }
    }
}

/// What a send leaves for after the lock is released.
enum After {
    /// Nothing.
    Nothing,
    /// A SUB or XSUB (un)subscribed: the receive mode may change, and
    /// inproc publishers are told (taking their locks, so never under ours).
    Subscribed(Option<(bool, Bytes, pubsub::Forward)>),
}

impl After {
    fn run(self, core: &Core, st: std::sync::MutexGuard<'_, State<Pattern>>) {
        match self {
            After::Nothing => {}
            After::Subscribed(forward) => {
                core.refresh_recv_direct(&st);
                drop(st);
                if let Some((on, topic, ports)) = forward {
                    for (port, id) in ports {
                        port.subscription(id, topic.clone(), on);
                    }
                }
            }
        }
    }
}

/// One attempt to send `msg`.
pub(crate) fn try_send(core: &Core, msg: Message) -> Result<(), SendError> {
    if msg.is_empty() {
        return Err(Error::Invalid("a message needs at least one frame").into());
    }
    if core.is_closed() {
        return Err(Error::Terminated.into());
    }
    let mut st = core.lock();
    let State { base, pattern } = &mut *st;
    let after = pattern.send(core.ty, base, msg)?;
    after.run(core, st);
    Ok(())
}

/// SUB: subscribe to (`on`) or unsubscribe from `prefix`, telling every peer.
pub(crate) fn subscribe(core: &Core, prefix: &[u8], on: bool) -> Result<(), Error> {
    let mut st = core.lock();
    let State { base, pattern } = &mut *st;
    let after = pattern.subscribe(core.ty, base, pubsub::subscription_body(on, prefix))?;
    after.run(core, st);
    Ok(())
}

/// One attempt to receive.
pub(crate) fn try_recv(core: &Core) -> Result<Option<Message>, Error> {
    if core.recv_direct() {
        return Ok(core.inbox.pop().map(|i| i.msg));
    }
    let mut st = core.lock();
    let State { base, pattern } = &mut *st;
    pattern.recv(core.ty, base, &core.inbox)
}
