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
use monocoque_zmtp::{ProtocolError, SocketType};

use crate::error::Error;
use crate::message::Message;
use crate::options::{RouterNotify, SocketOptions};
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
    /// The behaviour of `ty`, a type this crate has a pattern for.
    pub(crate) fn new(ty: SocketType) -> Pattern {
        Pattern::try_new(ty).expect("a socket type this crate implements")
    }

    /// The behaviour of `ty`: the one place that matches on a socket type
    /// (`SocketType` is `#[non_exhaustive]`: a type the ZMTP crate learns
    /// before this one has a pattern for it is `None`).
    pub(crate) fn try_new(ty: SocketType) -> Option<Pattern> {
        Some(match ty {
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
            _ => return None,
        })
    }

    /// Whether the type receives at all (PUSH and PUB do not).
    pub(crate) fn can_recv(&self) -> bool {
        !matches!(self, Pattern::Push(_) | Pattern::Pub(_))
    }

    /// One attempt to send `msg` with the lock held; what to do once it
    /// is released comes back (see [`After`]).
    fn send(
        &mut self,
        ty: SocketType,
        base: &mut Base,
        inbox: &Inbox,
        msg: Message,
    ) -> Result<After, SendError> {
        // A reply or request a poller took is still the application's to
        // receive: the state machine has not moved on for it.
        if base.stash.is_some() && matches!(self, Pattern::Req(_) | Pattern::Rep(_)) {
            if matches!(self, Pattern::Req(_)) && base.opts.req_relaxed {
                base.stash = None;
            } else {
                return Err(Error::State.into());
            }
        }
        match self {
            Pattern::Push(lb) | Pattern::Dealer(lb) if base.opts.conflate => {
                lb.send_latest(base, msg).map(|_| After::Nothing)
            }
            Pattern::Push(lb) | Pattern::Dealer(lb) | Pattern::Pair(lb) => {
                lb.send(base, msg).map(|_| After::Nothing)
            }
            Pattern::Req(req) => req.send(base, inbox, msg).map(|()| After::Nothing),
            Pattern::Rep(rep) => rep.send(base, msg).map(|()| After::Nothing),
            Pattern::Router(r) => r.send(base, msg).map(|()| After::Nothing),
            Pattern::Stream(r) => r.send_stream(base, msg).map(|()| After::Nothing),
            Pattern::Pub(p) | Pattern::Xpub(p) => p.send(base, msg).map(|()| After::Nothing),
            Pattern::Xsub(s) => Ok(After::Subscribed(s.send(base, msg))),
            Pattern::Sub(_) | Pattern::Pull => Err(Error::NotSupported(ty.as_str()).into()),
        }
    }

    /// Whether a send would not wait now (POLLOUT), with the lock held.
    fn writable(&self, base: &Base) -> bool {
        match self {
            Pattern::Push(lb) | Pattern::Dealer(lb) if base.opts.conflate => lb.has_peer(),
            Pattern::Push(lb) | Pattern::Dealer(lb) | Pattern::Pair(lb) => lb.has_room(base),
            Pattern::Req(req) => base.stash.is_none() && req.writable(base),
            Pattern::Rep(rep) => base.stash.is_none() && rep.is_replying(),
            Pattern::Router(_)
            | Pattern::Stream(_)
            | Pattern::Pub(_)
            | Pattern::Xpub(_)
            | Pattern::Xsub(_) => true,
            Pattern::Sub(_) | Pattern::Pull => false,
        }
    }

    /// SUB's subscribe and unsubscribe (and a manual XPUB's), with the
    /// lock held.
    fn subscribe(
        &mut self,
        ty: SocketType,
        base: &Base,
        prefix: &[u8],
        on: bool,
    ) -> Result<After, Error> {
        match self {
            Pattern::Sub(s) => Ok(After::Subscribed(
                s.send(base, pubsub::subscription_body(on, prefix)),
            )),
            Pattern::Pub(p) | Pattern::Xpub(p) => {
                p.apply(base, prefix, on).map(|()| After::Nothing)
            }
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
            Pattern::Sub(s) => loop {
                let Some(i) = inbox.pop() else {
                    return Ok(None);
                };
                if s.matches(&i.msg) {
                    return Ok(Some(i.msg));
                }
            },
            Pattern::Xpub(p) => Ok(p.recv(base, inbox)),
            Pattern::Req(req) => req.recv(base, inbox),
            Pattern::Rep(rep) => rep.recv(inbox),
            Pattern::Push(_) | Pattern::Pub(_) => Err(Error::NotSupported(ty.as_str())),
            // The types that take messages as they come (`recv_direct`).
            _ => Ok(inbox.pop().map(|i| i.msg)),
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

    fn takes_messages(&self) -> bool {
        !matches!(self, Pattern::Pub(_))
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
        // A REP answers on the connection it was asked on: a connecter's
        // entry kept across reconnections would carry a reply to (or an
        // answer to a request of) a connection that ended to whoever is
        // on the next one, and a REP never sends first, so it loses
        // nothing by having none.
        matches!(
            self,
            Pattern::Router(_) | Pattern::Stream(_) | Pattern::Rep(_)
        )
    }

    fn conflatable(&self) -> bool {
        // libzmq's list: the others would lose envelopes or subscriptions.
        matches!(
            self,
            Pattern::Push(_)
                | Pattern::Pull
                | Pattern::Dealer(_)
                | Pattern::Pub(_)
                | Pattern::Sub(_)
        )
    }

    fn pending(
        &mut self,
        base: &Base,
        id: PeerId,
        routing_id: Option<Bytes>,
    ) -> Result<bool, &'static str> {
        match (self, routing_id) {
            (Pattern::Push(lb) | Pattern::Dealer(lb) | Pattern::Pair(lb), _) => {
                lb.attach(id);
                Ok(true)
            }
            (Pattern::Req(req), _) => {
                req.lb.attach(id);
                Ok(true)
            }
            (Pattern::Router(r) | Pattern::Stream(r), Some(rid)) => {
                r.pending(base, id, rid).map(|()| true)
            }
            _ => Ok(false),
        }
    }

    fn attached(
        &mut self,
        base: &mut Base,
        inbox: &Inbox,
        id: PeerId,
        fresh: bool,
        identity: Option<Bytes>,
    ) -> Result<Option<Bytes>, &'static str> {
        match self {
            Pattern::Push(lb) | Pattern::Dealer(lb) | Pattern::Pair(lb) => {
                lb.attached(base, id, fresh).map(|()| None)
            }
            Pattern::Req(req) => req.lb.attached(base, id, fresh).map(|()| None),
            Pattern::Router(r) => {
                let rid = r.attached(base, id, fresh, identity)?;
                // Single messages go before the next run: ahead of anything
                // the peer sends.
                if base.opts.router_notify.contains(RouterNotify::CONNECT) {
                    notice(base, inbox, id, rid.as_ref(), Bytes::new(), true);
                }
                Ok(rid)
            }
            Pattern::Stream(r) => {
                let rid = r.attached(base, id, fresh, None)?;
                if base.opts.stream_notify {
                    notice(base, inbox, id, rid.as_ref(), Bytes::new(), true);
                }
                Ok(rid)
            }
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
            Pattern::Pub(p) | Pattern::Xpub(p) => p.greet(base, id),
            Pattern::Router(_) | Pattern::Dealer(_) | Pattern::Req(_) => greet_peer(self, base, id),
            _ => {}
        }
    }

    fn detached(
        &mut self,
        base: &mut Base,
        inbox: &Inbox,
        id: PeerId,
        keep: bool,
        connected: bool,
    ) {
        match self {
            Pattern::Push(lb) | Pattern::Dealer(lb) | Pattern::Pair(lb) if !keep => lb.detach(id),
            Pattern::Req(req) => {
                req.detached(base, id, keep);
                if !keep {
                    req.lb.detach(id);
                }
            }
            Pattern::Router(r) => {
                let rid = r.detach(id, keep);
                // Told once, when the connection ends: not again when its
                // `CONNECT_ROUTING_ID` entry goes.
                let Some(rid) = rid.filter(|_| connected) else {
                    return;
                };
                if base.opts.router_notify.contains(RouterNotify::DISCONNECT) {
                    notice(base, inbox, id, Some(&rid), Bytes::new(), false);
                }
                if let Some(body) = base.opts.disconnect_msg.clone() {
                    notice(base, inbox, id, Some(&rid), body, false);
                }
            }
            Pattern::Stream(r) => {
                let rid = r.detach(id, keep);
                if connected && base.opts.stream_notify {
                    notice(base, inbox, id, rid.as_ref(), Bytes::new(), true);
                }
            }
            // A connecter's peer keeps its subscriptions while it
            // reconnects, so what is published meanwhile waits in its
            // pipe (SNDHWM), as libzmq's PUB keeps the pipe and its
            // subscriptions; the new connection's SUBSCRIBEs are repeats.
            Pattern::Pub(p) | Pattern::Xpub(p) if !keep => p.detach(base, inbox, id),
            _ => {}
        }
    }

    fn subscription(
        &mut self,
        base: &mut Base,
        id: PeerId,
        topic: Bytes,
        on: bool,
    ) -> Result<(bool, Option<Message>), ProtocolError> {
        match self {
            Pattern::Pub(p) | Pattern::Xpub(p) => {
                p.subscription(base, id, topic, on).map(|n| (on, n))
            }
            _ => Ok((false, None)),
        }
    }

    fn options_changed(&mut self, opts: &SocketOptions) {
        match self {
            Pattern::Router(r) | Pattern::Stream(r) => r.set_handover(opts.router_handover),
            Pattern::Sub(s) => s.set_invert(opts.invert_matching),
            _ => {}
        }
    }
}

/// A message the socket tells itself about peer `id`: `[routing id,
/// body]` (ROUTER's and STREAM's notifications, `DISCONNECT_MSG`).
/// `single`: queued as a single message (a STREAM engine's lane, as its
/// data; and any connect notice, which single messages put ahead of the
/// peer's first run); else behind what the peer sent, by its outbox: an
/// engine's runs, an inproc peer's single messages. Off the hot path: once
/// per connection.
#[cold]
fn notice(base: &Base, inbox: &Inbox, id: PeerId, rid: Option<&Bytes>, body: Bytes, single: bool) {
    let Some(rid) = rid else { return };
    let after_runs =
        !single && matches!(base.peers.get(id).map(|p| &p.out), Some(Outbox::Engine(_)));
    let mut m = Message::from(rid.clone());
    m.push_back(body);
    inbox.push_notice(id, m, after_runs);
}

/// What a ROUTER, DEALER or REQ sends a new peer first: `HELLO_MSG`
/// (ROUTER, DEALER), then `PROBE_ROUTER`'s empty message.
#[cold]
fn greet_peer(pattern: &Pattern, base: &Base, id: PeerId) {
    let Some(p) = base.peers.get(id) else { return };
    if !matches!(pattern, Pattern::Req(_)) {
        if let Some(hello) = &base.opts.hello_msg {
            let _ = p.out.push(Message::from(hello.clone()));
        }
    }
    if base.opts.probe_router {
        let _ = p.out.push(Message::from(Bytes::new()));
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

/// After a SUB or XSUB (un)subscribed: the receive mode may have changed,
/// and inproc publishers are told once our lock is released (taking
/// theirs). Off the hot path: no other send leaves anything for after.
#[cold]
fn subscribed(
    core: &Core,
    st: crate::sync::StdMutexGuard<'_, State<Pattern>>,
    forward: Option<(bool, Bytes, pubsub::Forward)>,
) {
    core.refresh_recv_direct(&st);
    drop(st);
    if let Some((on, topic, ports)) = forward {
        for (port, id) in ports {
            port.inproc_subscription(id, topic.clone(), on);
        }
    }
}

/// One attempt to send `msg`.
pub(crate) fn try_send(core: &Core, msg: Message) -> Result<(), SendError> {
    if msg.is_empty() {
        return Err(Error::Invalid("a message needs at least one frame").into());
    }
    if core.is_terminated() {
        return Err(Error::Terminated.into());
    }
    let bytes = msg.size();
    let mut st = core.lock();
    let State { base, pattern } = &mut *st;
    let after = pattern.send(core.ty, base, &core.inbox, msg)?;
    core.counters.sent(bytes);
    if let After::Subscribed(forward) = after {
        subscribed(core, st, forward);
    }
    Ok(())
}

/// Whether a receive would return a message now (a poller's POLLIN): for
/// the types that filter or keep state, the message is taken and kept for
/// the next receive, so the answer is exact (a SUB's match, a REQ's reply).
pub(crate) fn readable(core: &Core) -> Result<bool, Error> {
    if core.is_terminated() {
        return Err(Error::Terminated);
    }
    if core.recv_direct() {
        return Ok(core.inbox.has_messages());
    }
    let mut st = core.lock();
    if st.base.stash.is_some() {
        return Ok(true);
    }
    let State { base, pattern } = &mut *st;
    if !pattern.can_recv() {
        return Ok(false);
    }
    match pattern.recv(core.ty, base, &core.inbox) {
        Ok(Some(m)) => {
            st.base.stash = Some(m);
            core.refresh_recv_direct(&st);
            Ok(true)
        }
        // Nothing, or nothing the state allows (a REQ with no request out).
        Ok(None) | Err(Error::State) => Ok(false),
        Err(e) => Err(e),
    }
}

/// Whether a send would not wait now (a poller's POLLOUT).
pub(crate) fn writable(core: &Core) -> Result<bool, Error> {
    if core.is_terminated() {
        return Err(Error::Terminated);
    }
    let st = core.lock();
    Ok(st.pattern.writable(&st.base))
}

/// The inbound queues of inproc peers that a send waits on for room (a
/// poller watches them while the socket is not writable).
pub(crate) fn room_inboxes(core: &Core) -> Vec<Arc<Inbox>> {
    let st = core.lock();
    st.base
        .peers
        .iter()
        .filter_map(|(_, p)| p.out.room())
        .collect()
}

/// SUB: subscribe to (`on`) or unsubscribe from `prefix`, telling every peer.
pub(crate) fn subscribe(core: &Core, prefix: &[u8], on: bool) -> Result<(), Error> {
    let mut st = core.lock();
    let State { base, pattern } = &mut *st;
    if let After::Subscribed(forward) = pattern.subscribe(core.ty, base, prefix, on)? {
        subscribed(core, st, forward);
    }
    Ok(())
}

/// One attempt to receive, counted in the socket's stats.
pub(crate) fn try_recv(core: &Core) -> Result<Option<Message>, Error> {
    if core.is_terminated() {
        return Err(Error::Terminated);
    }
    if core.recv_direct() {
        // Counted as it leaves the queue (cheaper under the run's lock).
        return Ok(core.inbox.pop_counted(&core.counters).map(|i| i.msg));
    }
    let got = try_recv_locked(core)?;
    if let Some(m) = &got {
        core.counters.received(m.size());
    }
    Ok(got)
}

/// A receive through the pattern, under the state lock (uncounted).
fn try_recv_locked(core: &Core) -> Result<Option<Message>, Error> {
    let mut st = core.lock();
    if let Some(m) = st.base.stash.take() {
        core.refresh_recv_direct(&st);
        return Ok(Some(m));
    }
    let State { base, pattern } = &mut *st;
    pattern.recv(core.ty, base, &core.inbox)
}

#[cfg(test)]
mod tests {
    //! The patterns against peers that are bare pipes: what each type
    //! queues for which peer, and what it makes of what peers send. No
    //! I/O thread, no engine.

    use super::*;
    use crate::pipe::Consumer;
    use crate::socket_core::Port;

    /// A socket of `ty` with `n` attached peers (`identity` for each, as
    /// a ROUTER's peers may announce one); their pipes.
    fn socket(ty: SocketType, n: usize) -> (Arc<Core>, Vec<(PeerId, Consumer)>) {
        let core = Core::new(ty, Pattern::new(ty), None);
        let peers = (0..n).map(|_| attach(&core, None)).collect();
        (core, peers)
    }

    fn attach(core: &Arc<Core>, identity: Option<&'static str>) -> (PeerId, Consumer) {
        let (producer, consumer) = core.new_pipe(&core.options());
        let (id, _) = core
            .attach(
                None,
                Some(Outbox::Engine(producer)),
                identity.map(Bytes::from),
            )
            .expect("attached");
        (id, consumer)
    }

    fn msg(frames: &[&'static str]) -> Message {
        frames
            .iter()
            .map(|f| Bytes::from_static(f.as_bytes()))
            .collect()
    }

    /// Every message queued in `pipe`, as strings per frame.
    fn drain(pipe: &Consumer) -> Vec<Vec<String>> {
        let mut got = Vec::new();
        while let Some(batch) = pipe.pop_batch() {
            pipe.written(batch.len());
            for m in batch {
                got.push(
                    m.frames()
                        .iter()
                        .map(|f| String::from_utf8_lossy(f).into_owned())
                        .collect(),
                );
            }
        }
        got
    }

    fn frames(m: &Message) -> Vec<&[u8]> {
        m.frames().iter().map(|f| &f[..]).collect()
    }

    fn send(core: &Core, m: Message) -> Result<(), Error> {
        match try_send(core, m) {
            Ok(()) => Ok(()),
            Err(SendError::Fail(e)) => Err(e),
            Err(SendError::Full(..)) => Err(Error::WouldBlock),
        }
    }

    #[test]
    fn push_balances_round_robin_and_is_full_at_sndhwm() {
        let (core, peers) = socket(SocketType::Push, 2);
        for body in ["a", "b", "c", "d"] {
            send(&core, msg(&[body])).expect("room");
        }
        assert_eq!(drain(&peers[0].1), [["a"], ["c"]]);
        assert_eq!(drain(&peers[1].1), [["b"], ["d"]]);
        let (core, _) = socket(SocketType::Push, 0);
        core.lock().base.opts.sndhwm = 2;
        let (_, small) = attach(&core, None);
        send(&core, msg(&["1"])).expect("room");
        send(&core, msg(&["2"])).expect("room");
        assert!(matches!(send(&core, msg(&["3"])), Err(Error::WouldBlock)));
        assert_eq!(drain(&small), [["1"], ["2"]]);
        send(&core, msg(&["3"])).expect("room again once the writer took them");
    }

    #[test]
    fn pull_and_push_refuse_what_they_cannot_do() {
        let (pull, _) = socket(SocketType::Pull, 1);
        assert!(matches!(
            send(&pull, msg(&["x"])),
            Err(Error::NotSupported(_))
        ));
        let (push, _) = socket(SocketType::Push, 1);
        assert!(matches!(try_recv(&push), Err(Error::NotSupported(_))));
        assert!(!push.lock().pattern.can_recv());
    }

    #[test]
    fn req_alternates_and_takes_only_its_reply() {
        let (core, peers) = socket(SocketType::Req, 2);
        assert!(matches!(try_recv(&core), Err(Error::State)), "recv first");
        send(&core, msg(&["ask"])).expect("sent");
        assert!(matches!(send(&core, msg(&["again"])), Err(Error::State)));
        assert_eq!(drain(&peers[0].1), [["", "ask"]]);
        let inbox = &core.inbox;
        // A stranger's reply and a malformed one from the right peer go.
        inbox
            .push_one(peers[1].0, msg(&["", "stranger"]))
            .expect("room");
        inbox
            .push_one(peers[0].0, msg(&["no delimiter"]))
            .expect("room");
        inbox
            .push_one(peers[0].0, msg(&["", "answer"]))
            .expect("room");
        let got = try_recv(&core).expect("ok").expect("the reply");
        assert_eq!(frames(&got), [b"answer"]);
        assert!(
            matches!(try_recv(&core), Err(Error::State)),
            "one reply only"
        );
    }

    #[test]
    fn req_correlate_matches_the_request_id() {
        let (core, peers) = socket(SocketType::Req, 1);
        core.lock().base.opts.req_correlate = true;
        core.lock().base.opts.req_relaxed = true;
        send(&core, msg(&["one"])).expect("sent");
        send(&core, msg(&["two"])).expect("relaxed: sent again");
        // The ids lead the requests; they start anywhere (as libzmq's).
        let mut ids = Vec::new();
        while let Some(batch) = peers[0].1.pop_batch() {
            peers[0].1.written(batch.len());
            ids.extend(batch.iter().map(|m| m[0].clone()));
        }
        assert_eq!(ids.len(), 2);
        let next = |b: &Bytes| u32::from_be_bytes(b[..].try_into().expect("4 bytes"));
        assert_eq!(next(&ids[0]).wrapping_add(1), next(&ids[1]));
        let reply = |id: &Bytes, body: &'static str| -> Message {
            [
                id.clone(),
                Bytes::new(),
                Bytes::from_static(body.as_bytes()),
            ]
            .into_iter()
            .collect()
        };
        core.inbox
            .push_one(peers[0].0, reply(&ids[0], "late"))
            .expect("room");
        core.inbox
            .push_one(peers[0].0, reply(&ids[1], "current"))
            .expect("room");
        let got = try_recv(&core).expect("ok").expect("reply");
        assert_eq!(frames(&got), [b"current"]);
    }

    #[test]
    fn rep_answers_with_the_envelope() {
        let (core, peers) = socket(SocketType::Rep, 2);
        assert!(matches!(send(&core, msg(&["x"])), Err(Error::State)));
        core.inbox
            .push_one(peers[1].0, msg(&["hop", "", "question"]))
            .expect("room");
        let got = try_recv(&core).expect("ok").expect("request");
        assert_eq!(frames(&got), [b"question"]);
        assert!(matches!(try_recv(&core), Err(Error::State)), "answer first");
        send(&core, msg(&["answer"])).expect("sent");
        assert_eq!(drain(&peers[1].1), [["hop", "", "answer"]]);
        assert!(drain(&peers[0].1).is_empty());
    }

    #[test]
    fn router_routes_by_id_and_handover_evicts() {
        let core = Core::new(SocketType::Router, Pattern::new(SocketType::Router), None);
        let (_, a) = attach(&core, Some("alice"));
        let (_, b) = attach(&core, None);
        send(&core, msg(&["alice", "hi"])).expect("routed");
        send(&core, msg(&["nobody", "lost"])).expect("dropped quietly");
        assert_eq!(drain(&a), [["hi"]]);
        assert!(drain(&b).is_empty());
        core.lock().base.opts.router_mandatory = true;
        assert!(matches!(
            send(&core, msg(&["nobody", "x"])),
            Err(Error::HostUnreachable)
        ));
        // A second "alice" is refused, unless handover is on.
        let (producer, _consumer) = core.new_pipe(&SocketOptions::default());
        let refused = core.attach(
            None,
            Some(Outbox::Engine(producer)),
            Some(Bytes::from("alice")),
        );
        assert!(matches!(refused, Err(crate::EndReason::Rejected(_))));
        core.lock().pattern.options_changed(&SocketOptions {
            router_handover: true,
            ..SocketOptions::default()
        });
        let (_, a2) = attach(&core, Some("alice"));
        assert!(a.is_closed(), "the old connection is ended");
        send(&core, msg(&["alice", "to the new one"])).expect("routed");
        assert_eq!(drain(&a2), [["to the new one"]]);
    }

    #[test]
    fn pair_admits_one_peer() {
        let (core, _) = socket(SocketType::Pair, 1);
        let (producer, _consumer) = core.new_pipe(&SocketOptions::default());
        let second = core.attach(None, Some(Outbox::Engine(producer)), None);
        assert!(matches!(second, Err(crate::EndReason::Rejected(_))));
        assert_eq!(core.ready_peers(), 1);
    }

    #[test]
    fn pub_filters_and_xpub_passes_subscriptions_up() {
        let core = Core::new(SocketType::Xpub, Pattern::new(SocketType::Xpub), None);
        core.lock().base.opts.xpub_welcome_msg = Some(Bytes::from("welcome"));
        let (a, pa) = attach(&core, None);
        let (b, pb) = attach(&core, None);
        assert_eq!(drain(&pa), [["welcome"]]);
        assert_eq!(drain(&pb), [["welcome"]]);
        core.inproc_subscription(a, Bytes::from("news"), true);
        core.inproc_subscription(b, Bytes::from("news"), true);
        core.inproc_subscription(b, Bytes::from("sport"), true);
        assert_eq!(core.subscriptions(), 3);
        send(&core, msg(&["news: rain"])).expect("sent");
        send(&core, msg(&["sport: goal"])).expect("sent");
        send(&core, msg(&["weather"])).expect("nobody: dropped");
        assert_eq!(drain(&pa), [["news: rain"]]);
        assert_eq!(drain(&pb), [["news: rain"], ["sport: goal"]]);
        // XPUB hears each first subscription once; b's leaving cancels
        // what only b had.
        let up = |core: &Core| -> Vec<Vec<u8>> {
            std::iter::from_fn(|| try_recv(core).expect("ok"))
                .map(|m| m[0].to_vec())
                .collect()
        };
        assert_eq!(up(&core), [b"\x01news".to_vec(), b"\x01sport".to_vec()]);
        core.detach(b, true);
        assert_eq!(up(&core), [b"\x00sport".to_vec()]);
    }

    #[test]
    fn sub_filters_and_resends_its_subscriptions_to_a_new_peer() {
        let core = Core::new(SocketType::Sub, Pattern::new(SocketType::Sub), None);
        assert!(!core.recv_direct());
        subscribe(&core, b"a", true).expect("sub");
        let (id, pipe) = attach(&core, None);
        assert!(matches!(pipe.pop_command(), Some(crate::pipe::PipeCmd::Subscribe(t)) if t == "a"));
        core.inbox.push_one(id, msg(&["b: no"])).expect("room");
        core.inbox.push_one(id, msg(&["a: yes"])).expect("room");
        let got = try_recv(&core).expect("ok").expect("a match");
        assert_eq!(frames(&got), [b"a: yes"]);
        subscribe(&core, b"", true).expect("everything");
        assert!(
            core.recv_direct(),
            "subscribed to everything: no lock per message"
        );
        subscribe(&core, b"", false).expect("undo");
        assert!(!core.recv_direct());
        let (push, _) = socket(SocketType::Push, 0);
        assert!(matches!(
            subscribe(&push, b"x", true),
            Err(Error::NotSupported(_))
        ));
        let (pub_, _) = socket(SocketType::Pub, 0);
        assert!(
            matches!(subscribe(&pub_, b"x", true), Err(Error::Invalid(_))),
            "a PUB subscribes its peers only in manual mode"
        );
    }

    #[test]
    fn a_connecters_entry_queues_only_for_load_balancers() {
        let (push, _) = socket(SocketType::Push, 0);
        let (id, pipe) = push
            .connecter_peer(true)
            .expect("no routing id to take")
            .expect("PUSH queues for it");
        send(&push, msg(&["early"])).expect("queued before the connection");
        assert_eq!(drain(&pipe), [["early"]]);
        push.detach(id, false);
        assert!(
            push.lock().base.peers.contains(id),
            "kept for the reconnect"
        );
        let (sub, _) = socket(SocketType::Sub, 0);
        assert!(sub.connecter_peer(true).expect("ok").is_none());
        assert!(sub.connecter_peer(false).expect("ok").is_some());
        let (router, _) = socket(SocketType::Router, 0);
        assert!(
            router.connecter_peer(false).expect("ok").is_none(),
            "a peer per connection"
        );
    }
}
