//! RFC 29 PUB/SUB and libzmq's XPUB/XSUB: the publisher filters by its
//! subscribers' prefixes, the subscriber tells every publisher what it
//! wants and checks again.

use std::collections::VecDeque;
use std::sync::Arc;

use bytes::Bytes;
use monocoque_core::pubsub::{SubscriptionIndex, SubscriptionSet};
use monocoque_core::router::PeerId;

use crate::message::Message;
use crate::pipe::PipeCmd;
use crate::socket_core::{Base, Inbox, Outbox, Port};

/// A PUB or XPUB socket.
#[derive(Debug, Default)]
pub(crate) struct Pub {
    /// Who subscribed to what.
    index: SubscriptionIndex<PeerId>,
    /// XPUB: subscription messages waiting for `recv`.
    pending: VecDeque<Message>,
    /// An XPUB (passes subscriptions up, sends a welcome).
    xpub: bool,
    /// Reused by fan-out so a send allocates nothing.
    scratch: Vec<PeerId>,
}

impl Pub {
    /// An XPUB.
    pub(crate) fn xpub() -> Pub {
        Pub {
            xpub: true,
            ..Pub::default()
        }
    }

    /// To every matching subscriber with room; never blocks.
    pub(crate) fn send(&mut self, base: &Base, msg: Message) {
        let mut targets = std::mem::take(&mut self.scratch);
        targets.clear();
        self.index.matches(&msg[0], &mut targets);
        if let Some((&last, rest)) = targets.split_last() {
            // One subscriber: a lone message may go inline; more: queued,
            // so the writers batch (see `Pipe::enqueue`).
            for &id in rest {
                if let Some(p) = base.peers.get(id) {
                    let _ = p.out.push_queued(msg.clone());
                }
            }
            if let Some(p) = base.peers.get(last) {
                let _ = if rest.is_empty() {
                    p.out.push(msg)
                } else {
                    p.out.push_queued(msg)
                };
            }
        }
        self.scratch = targets;
    }

    /// XPUB: a pending subscription message, else the next message.
    pub(crate) fn recv(&mut self, inbox: &Inbox) -> Option<Message> {
        if let Some(m) = self.pending.pop_front() {
            return Some(m);
        }
        inbox.pop().map(|i| i.msg)
    }

    /// XPUB: a new subscriber gets the welcome message.
    pub(crate) fn greet(&self, base: &Base, id: PeerId) {
        if !self.xpub {
            return;
        }
        if let (Some(w), Some(p)) = (&base.opts.xpub_welcome_msg, base.peers.get(id)) {
            let _ = p.out.push(Message::from(w.clone()));
        }
    }

    /// Peer `id` (un)subscribed to `topic`; XPUB passes it up (duplicates
    /// of subscriptions too with `XPUB_VERBOSE`, never of cancels: libzmq
    /// keeps those for `XPUB_VERBOSER`).
    pub(crate) fn subscription(&mut self, base: &Base, id: PeerId, topic: Bytes, on: bool) {
        let forward = if on {
            self.index.subscribe(id, &topic).is_first()
        } else {
            self.index.cancel(id, &topic).is_last()
        };
        if self.xpub && (forward || (on && base.opts.xpub_verbose)) {
            self.pending.push_back(subscription_body(on, &topic));
        }
    }

    /// Peer `id` left: its subscriptions go (XPUB passes up the last ones).
    pub(crate) fn detach(&mut self, id: PeerId) {
        let xpub = self.xpub;
        let mut gone = Vec::new();
        self.index.remove_peer(id, |prefix, what| {
            if xpub && what.is_last() {
                gone.push(prefix.to_vec());
            }
        });
        for prefix in gone {
            self.pending.push_back(subscription_body(false, &prefix));
        }
    }
}

/// A SUB or XSUB socket: what it subscribed to (resent on every
/// connection).
#[derive(Debug, Default)]
pub(crate) struct Sub {
    subs: SubscriptionSet,
}

/// Inproc publishers to tell of a subscription once the lock is released.
pub(crate) type Forward = Vec<(Arc<dyn Port>, PeerId)>;

impl Sub {
    /// Whether every message matches (subscribed to the empty prefix).
    pub(crate) fn matches_all(&self) -> bool {
        self.subs.matches(b"")
    }

    /// Whether `msg` matches a subscription.
    pub(crate) fn matches(&self, msg: &Message) -> bool {
        self.subs.matches(&msg[0])
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
                    let _ = out.push_queued(msg.clone());
                }
            }
        }
        sub.map(|(on, topic)| (on, topic, inproc))
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
