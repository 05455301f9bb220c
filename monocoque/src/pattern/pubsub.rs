//! RFC 29 PUB/SUB and libzmq's XPUB/XSUB: the publisher filters by its
//! subscribers' prefixes, the subscriber tells every publisher what it
//! wants and checks again.

use std::collections::VecDeque;
use std::sync::Arc;

use bytes::Bytes;
use monocoque_core::pubsub::{SubscriptionIndex, SubscriptionSet, PREFIX_COST};
use monocoque_core::router::PeerId;
use monocoque_zmtp::ProtocolError;

use super::SendError;
use crate::error::Error;
use crate::message::Message;
use crate::pipe::PipeCmd;
use crate::socket_core::{Base, Inbound, Inbox, Outbox, Port};

/// A PUB or XPUB socket.
#[derive(Debug, Default)]
pub(crate) struct Pub {
    /// Who subscribed to what: what fan-out follows.
    index: SubscriptionIndex<PeerId>,
    /// `XPUB_MANUAL`: the subscriptions as they arrived (not applied), so
    /// that a departing peer's are passed up as cancels.
    manual: SubscriptionIndex<PeerId>,
    /// XPUB with `ONLY_FIRST_SUBSCRIBE`: the rest of a message led by a
    /// subscription, which `recv` returns after the subscription. (The
    /// notifications themselves travel in the inbound queue, behind what
    /// their peer sent before them, and count towards `RCVHWM`.)
    pending: VecDeque<Message>,
    /// `XPUB_MANUAL`: the peer whose subscription was received last, which
    /// `subscribe` applies to.
    last: Option<PeerId>,
    /// An XPUB (passes subscriptions up).
    xpub: bool,
    /// Reused by fan-out so a send allocates nothing.
    scratch: Vec<PeerId>,
    /// Reused by `INVERT_MATCHING`.
    others: Vec<PeerId>,
}

impl Pub {
    /// An XPUB.
    pub(crate) fn xpub() -> Pub {
        Pub {
            xpub: true,
            ..Pub::default()
        }
    }

    /// To every matching subscriber with room; never blocks, but with
    /// `XPUB_NODROP` a subscriber without room makes the message wait
    /// (`Full`) for every one of them.
    pub(crate) fn send(&mut self, base: &Base, msg: Message) -> Result<(), SendError> {
        let opts = &base.opts;
        let mut targets = std::mem::take(&mut self.scratch);
        targets.clear();
        if opts.xpub_manual_last_value && self.last.is_some() {
            self.match_last(&msg, &mut targets);
        } else {
            self.index.matches(&msg[0], &mut targets);
        }
        if opts.invert_matching {
            self.invert(base, &mut targets);
        }
        let conflate = opts.conflate && !self.xpub;
        // A conflating PUB's pipes always take the newest message.
        if opts.xpub_nodrop && !conflate {
            if let Some(out) = without_room(base, &targets) {
                let room = out.room();
                self.scratch = targets;
                return Err(SendError::Full(msg, room));
            }
        }
        if conflate {
            let sent = send_latest(base, &targets, msg);
            self.scratch = targets;
            return sent;
        }
        if let Some((&last, rest)) = targets.split_last() {
            // One subscriber: a lone message may go inline; more: queued,
            // so the writers batch (see `Pipe::enqueue`).
            for &id in rest {
                if let Some(p) = base.peers.get(id) {
                    if p.out.push_queued(msg.clone()).is_err() {
                        base.counters.dropped();
                    }
                }
            }
            if let Some(p) = base.peers.get(last) {
                let pushed = if rest.is_empty() {
                    p.out.push(msg)
                } else {
                    p.out.push_queued(msg)
                };
                if pushed.is_err() {
                    base.counters.dropped();
                }
            }
        }
        self.scratch = targets;
        Ok(())
    }

    /// `XPUB_MANUAL_LAST_VALUE`: the first message after a subscription
    /// goes to that subscriber alone, if it matches.
    #[cold]
    fn match_last(&mut self, msg: &Message, targets: &mut Vec<PeerId>) {
        let last = self.last.take();
        self.index.for_each_match(&msg[0], |peer| {
            if Some(peer) == last {
                targets.push(peer);
            }
        });
    }

    /// `INVERT_MATCHING`: every connected peer but the matching ones.
    #[cold]
    fn invert(&mut self, base: &Base, targets: &mut Vec<PeerId>) {
        targets.sort_unstable();
        let mut others = std::mem::take(&mut self.others);
        others.clear();
        others.extend(
            base.peers
                .iter()
                .filter(|(id, p)| p.ready && targets.binary_search(id).is_err())
                .map(|(id, _)| id),
        );
        std::mem::swap(targets, &mut others);
        self.others = others;
    }

    /// XPUB: a pending subscription message, else the next message (with
    /// `ONLY_FIRST_SUBSCRIBE`, a multipart message whose first frame is a
    /// subscription is applied, and passed up as the subscription then
    /// the rest).
    pub(crate) fn recv(&mut self, base: &Base, inbox: &Inbox) -> Option<Message> {
        if let Some(rest) = self.pending.pop_front() {
            return Some(rest);
        }
        let i = inbox.pop()?;
        if base.opts.only_first_subscribe && led_by_subscription(&i.msg) {
            return Some(self.first_frame_subscription(base, i));
        }
        // A subscription's notification (one frame, `0x01` or `0x00` first:
        // a peer's message of that shape is a subscription, see
        // `Session::on_message_frame`) names the peer `subscribe` applies to.
        if base.opts.manual() && i.msg.len() == 1 && matches!(i.msg[0].first(), Some(0 | 1)) {
            self.last = Some(i.peer);
        }
        Some(i.msg)
    }

    /// `ONLY_FIRST_SUBSCRIBE`: applies the subscription that leads `i`,
    /// and returns its notification (the rest waits for the next `recv`),
    /// or the rest at once when there is none.
    #[cold]
    fn first_frame_subscription(&mut self, base: &Base, i: Inbound) -> Message {
        let mut rest = i.msg;
        let Some(first) = rest.pop_front() else {
            return rest;
        };
        // The budget binds peers' commands: this one the application
        // takes as it receives, at its own pace.
        match self.subscription(base, i.peer, first.slice(1..), first[0] == 1) {
            Ok(Some(notice)) => {
                if base.opts.manual() {
                    self.last = Some(i.peer);
                }
                self.pending.push_back(rest);
                notice
            }
            _ => rest,
        }
    }

    /// A new subscriber gets the welcome message (XPUB and PUB, as
    /// libzmq's PUB is an XPUB).
    pub(crate) fn greet(&self, base: &Base, id: PeerId) {
        if let (Some(w), Some(p)) = (&base.opts.xpub_welcome_msg, base.peers.get(id)) {
            let _ = p.out.push(Message::from(w.clone()));
        }
    }

    /// Peer `id` (un)subscribed to `topic`; XPUB passes it up (duplicates
    /// of subscriptions too with `XPUB_VERBOSE`, of cancels with
    /// `XPUB_VERBOSER`): returned, for the caller to queue. With
    /// `XPUB_MANUAL` nothing is applied and every one is passed up. A
    /// subscription that would take the peer's past
    /// `subscription_budget` is refused, and the peer must go.
    pub(crate) fn subscription(
        &mut self,
        base: &Base,
        id: PeerId,
        topic: Bytes,
        on: bool,
    ) -> Result<Option<Message>, ProtocolError> {
        let opts = &base.opts;
        let manual = opts.manual();
        if on {
            let index = if manual { &self.manual } else { &self.index };
            let bytes = index.cost(id) + topic.len() as u64 + PREFIX_COST;
            if let Some(max) = opts.subscription_budget.filter(|&max| bytes > max) {
                if !index.contains(id, &topic) {
                    return Err(ProtocolError::TooManySubscriptions { bytes, max });
                }
            }
        }
        let forward = if manual {
            if on {
                self.manual.subscribe(id, &topic);
            } else {
                self.manual.cancel(id, &topic);
            }
            true
        } else if on {
            self.index.subscribe(id, &topic).is_first() || opts.xpub_verbose || opts.xpub_verboser
        } else {
            self.index.cancel(id, &topic).is_last() || opts.xpub_verboser
        };
        Ok((self.xpub && forward).then(|| subscription_body(on, &topic)))
    }

    /// `XPUB_MANUAL`: applies the application's (un)subscription to
    /// `prefix` to the peer whose subscription it received last.
    pub(crate) fn apply(&mut self, base: &Base, prefix: &[u8], on: bool) -> Result<(), Error> {
        if !base.opts.manual() {
            return Err(Error::Invalid(
                "a PUB or XPUB subscribes its peers only with xpub_manual",
            ));
        }
        if let Some(peer) = self.last.filter(|&p| base.peers.contains(p)) {
            if on {
                self.index.subscribe(peer, prefix);
            } else {
                self.index.cancel(peer, prefix);
            }
        }
        Ok(())
    }

    /// Peer `id` left: its subscriptions go. XPUB passes up the prefixes
    /// nobody holds any more (all of the peer's with `XPUB_VERBOSER`, and
    /// with `XPUB_MANUAL` all it had sent).
    pub(crate) fn detach(&mut self, base: &Base, inbox: &Inbox, id: PeerId) {
        let xpub = self.xpub;
        let mut gone = Vec::new();
        if base.opts.manual() {
            self.manual
                .remove_peer(id, |prefix, _| gone.push(prefix.to_vec()));
            self.index.remove_peer(id, |_, _| {});
            if self.last == Some(id) {
                self.last = None;
            }
        } else {
            let verboser = base.opts.xpub_verboser;
            self.index.remove_peer(id, |prefix, what| {
                if what.is_last() || verboser {
                    gone.push(prefix.to_vec());
                }
            });
        }
        if xpub && !gone.is_empty() {
            // Behind what the peer sent before it left; as many as its
            // budget let it hold.
            inbox.push_notices(
                gone.iter()
                    .map(|prefix| Inbound {
                        peer: id,
                        msg: subscription_body(false, prefix),
                    })
                    .collect(),
            );
        }
    }
}

/// `XPUB_NODROP`: the outbox of a subscriber in `targets` without room.
#[cold]
fn without_room<'a>(base: &'a Base, targets: &[PeerId]) -> Option<&'a Outbox> {
    targets
        .iter()
        .filter_map(|&id| base.peers.get(id))
        .map(|p| &p.out)
        .find(|out| !out.has_room())
}

/// `ZMQ_CONFLATE` (PUB): to every subscriber in `targets`, in place of
/// what still waits for it.
#[cold]
fn send_latest(base: &Base, targets: &[PeerId], msg: Message) -> Result<(), SendError> {
    if msg.len() > 1 {
        return Err(Error::Invalid("conflate takes single-frame messages only").into());
    }
    for &id in targets {
        if let Some(p) = base.peers.get(id) {
            p.out.push_latest(msg.clone());
        }
    }
    Ok(())
}

/// A SUB or XSUB socket: what it subscribed to (resent on every
/// connection).
#[derive(Debug, Default)]
pub(crate) struct Sub {
    subs: SubscriptionSet,
    /// `INVERT_MATCHING`: receive what matches no subscription.
    invert: bool,
}

/// Inproc publishers to tell of a subscription once the lock is released.
pub(crate) type Forward = Vec<(Arc<dyn Port>, PeerId)>;

impl Sub {
    /// Whether every message matches (subscribed to the empty prefix).
    pub(crate) fn matches_all(&self) -> bool {
        !self.invert && self.subs.matches(b"")
    }

    /// Whether `msg` matches a subscription (none, with `INVERT_MATCHING`).
    pub(crate) fn matches(&self, msg: &Message) -> bool {
        self.subs.matches(&msg[0]) != self.invert
    }

    /// `INVERT_MATCHING` changed.
    pub(crate) fn set_invert(&mut self, on: bool) {
        self.invert = on;
    }

    /// What we subscribed to, for a new inproc publisher.
    pub(crate) fn subscriptions(&self) -> impl Iterator<Item = &Bytes> {
        self.subs.iter()
    }

    /// XSUB's send (and SUB's subscribe): a subscription message updates
    /// our set and goes to every peer (as a command over ZMTP); other
    /// messages go to every peer as they are. Returns the inproc
    /// publishers to tell after the lock is released.
    pub(crate) fn send(&mut self, base: &Base, msg: Message) -> Option<(bool, Bytes, Forward)> {
        let sub = subscription_message(&msg);
        if sub.is_none() && base.opts.only_first_subscribe && msg.len() > 1 {
            return self.send_led_by_subscription(base, msg);
        }
        if let Some((on, topic)) = &sub {
            let forward = if *on {
                self.subs.subscribe(topic);
                true
            } else {
                self.subs.cancel(topic).is_last()
            };
            if !forward {
                return None;
            }
        }
        let mut inproc = Vec::new();
        for (_, p) in base.peers.iter() {
            match (&p.out, &sub) {
                (Outbox::Engine(pipe), Some((on, topic))) => pipe.command(if *on {
                    PipeCmd::Subscribe(topic.clone())
                } else {
                    PipeCmd::Cancel(topic.clone())
                }),
                (Outbox::Inproc(link), Some(_)) => inproc.push((link.port.clone(), link.id)),
                (out, None) => {
                    if out.push_queued(msg.clone()).is_err() {
                        base.counters.dropped();
                    }
                }
            }
        }
        sub.map(|(on, topic)| (on, topic, inproc))
    }

    /// XSUB with `ONLY_FIRST_SUBSCRIBE`: a multipart message whose first
    /// frame is a subscription updates our set by that frame and goes to
    /// every peer whole, as data (so the frames after it travel with it);
    /// a cancel that leaves the prefix held goes nowhere, as libzmq's.
    #[cold]
    fn send_led_by_subscription(
        &mut self,
        base: &Base,
        msg: Message,
    ) -> Option<(bool, Bytes, Forward)> {
        let first = &msg[0];
        let held = match first.first() {
            Some(1) => {
                self.subs.subscribe(&first[1..]);
                false
            }
            Some(0) => !self.subs.cancel(&first[1..]).is_last(),
            _ => false,
        };
        if held {
            return None;
        }
        for (_, p) in base.peers.iter() {
            if p.out.push_queued(msg.clone()).is_err() {
                base.counters.dropped();
            }
        }
        None
    }

    /// A new ZMTP peer gets every subscription (a reconnect resends the set).
    pub(crate) fn greet(&self, base: &Base, id: PeerId) {
        if let Some(Outbox::Engine(pipe)) = base.peers.get(id).map(|p| &p.out) {
            pipe.clear_commands();
            for prefix in self.subs.iter() {
                pipe.command(PipeCmd::Subscribe(prefix.clone()));
            }
        }
    }
}

/// `0x01`/`0x00` then the prefix: a subscription as a message (ZMTP 3.0,
/// XPUB's `recv`, XSUB's `send`).
pub(crate) fn subscription_body(on: bool, topic: &[u8]) -> Message {
    let mut m = Vec::with_capacity(topic.len() + 1);
    m.push(u8::from(on));
    m.extend_from_slice(topic);
    Message::from(m)
}

/// `ONLY_FIRST_SUBSCRIBE`: a multipart message whose first frame is a
/// subscription (`0x01` or `0x00` first).
fn led_by_subscription(msg: &Message) -> bool {
    msg.len() > 1 && matches!(msg[0].first(), Some(0 | 1))
}

/// The SUBSCRIBE/CANCEL body of an XSUB message: `0x01` or `0x00` then
/// the prefix, as ZMTP 3.0 sent them.
fn subscription_message(msg: &Message) -> Option<(bool, Bytes)> {
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
