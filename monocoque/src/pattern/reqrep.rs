//! RFC 28 REQ/REP: REQ sends a request with an empty delimiter and takes
//! only its reply; REP answers each request with its envelope.

use bytes::Bytes;
use monocoque_core::router::PeerId;

use super::lb::Lb;
use super::SendError;
use crate::error::Error;
use crate::message::Message;
use crate::socket_core::{Base, Inbox};

/// What a REQ waits for: nothing, or one reply; never both, never half.
#[derive(Debug, Default, Clone, Copy, PartialEq, Eq)]
enum Awaiting {
    /// No request is out.
    #[default]
    Nothing,
    /// The request `id` went to `peer`; only its reply is taken.
    Reply {
        /// The peer the request went to.
        peer: PeerId,
        /// The request's id (`REQ_CORRELATE`).
        id: u32,
        /// The connection that took the request ended without the
        /// request still waiting in the peer's queue for a reconnect: no
        /// reply can come but one that connection queued already, and a
        /// new request may go (the REQ never wedges).
        lost: bool,
    },
}

/// A REQ socket.
#[derive(Debug)]
pub(crate) struct Req {
    pub(crate) lb: Lb,
    awaiting: Awaiting,
    /// The id of the last request sent.
    last_id: u32,
}

impl Default for Req {
    /// Request ids start from a random value, as libzmq's do: a late reply
    /// to a request of an earlier socket (a process that restarted, whose
    /// peer still holds that reply in a connecter's queue) then does not
    /// match this socket's request of the same number under
    /// `REQ_CORRELATE`.
    fn default() -> Self {
        use std::hash::BuildHasher;
        // The std hasher is seeded from the OS's randomness once per
        // thread and moves its keys on for each new state.
        let start = std::collections::hash_map::RandomState::new().hash_one(0x5eed_u32);
        Req {
            lb: Lb::default(),
            awaiting: Awaiting::Nothing,
            last_id: start as u32,
        }
    }
}

impl Req {
    /// Sends a request: to the next peer with room, after the delimiter
    /// (and with `REQ_CORRELATE` the request id).
    ///
    /// Whatever is queued when a request goes answers an earlier one (a
    /// reply to a request given up, relaxed or lost, or a stranger's): it
    /// is dropped first, as libzmq 4.3 drops it, so it cannot be taken for
    /// this request's reply.
    pub(crate) fn send(
        &mut self,
        base: &Base,
        inbox: &Inbox,
        mut msg: Message,
    ) -> Result<(), SendError> {
        let lost = matches!(self.awaiting, Awaiting::Reply { lost: true, .. });
        if self.awaiting != Awaiting::Nothing && !lost && !base.opts.req_relaxed {
            return Err(Error::State.into());
        }
        while inbox.pop().is_some() {}
        let correlate = base.opts.req_correlate;
        let id = self.last_id.wrapping_add(1);
        msg.push_front(Bytes::new());
        if correlate {
            msg.push_front(Bytes::copy_from_slice(&id.to_be_bytes()));
        }
        match self.lb.send(base, msg) {
            Ok(peer) => {
                self.last_id = id;
                self.awaiting = Awaiting::Reply {
                    peer,
                    id,
                    lost: false,
                };
                Ok(())
            }
            Err(SendError::Full(mut m, t)) => {
                if correlate {
                    m.pop_front();
                }
                m.pop_front();
                Err(SendError::Full(m, t))
            }
            Err(e) => Err(e),
        }
    }

    /// Whether a request may go now (POLLOUT): none is out (or it was
    /// lost, or `REQ_RELAXED`), and a peer has room.
    pub(crate) fn writable(&self, base: &Base) -> bool {
        let free = matches!(
            self.awaiting,
            Awaiting::Nothing | Awaiting::Reply { lost: true, .. }
        );
        (free || base.opts.req_relaxed) && self.lb.has_room(base)
    }

    /// Peer `id`'s connection ended (`keep`: its connecter's entry stays
    /// for the reconnect). A request out to it that no longer waits in its
    /// queue is lost: the connection took it, and a reply can come only
    /// from what that connection queued before it ended (a REP answers
    /// on the connection it was asked on, which is gone). libzmq's REQ
    /// waits for ever then (unless `REQ_RELAXED`); this one lets the next
    /// request go.
    pub(crate) fn detached(&mut self, base: &Base, id: PeerId, keep: bool) {
        let Awaiting::Reply { peer, lost, .. } = &mut self.awaiting else {
            return;
        };
        let queued = keep && base.peers.get(id).is_some_and(|p| !p.out.is_drained());
        if *peer == id && !queued {
            *lost = true;
        }
    }

    /// Takes the reply to the request out, dropping anything else.
    pub(crate) fn recv(&mut self, base: &Base, inbox: &Inbox) -> Result<Option<Message>, Error> {
        let Awaiting::Reply { peer, id, .. } = self.awaiting else {
            return Err(Error::State);
        };
        loop {
            let Some(mut i) = inbox.pop() else {
                return Ok(None);
            };
            if i.peer != peer {
                continue; // a late reply to an earlier request, or a stranger
            }
            if base.opts.req_correlate {
                match i.msg.pop_front() {
                    Some(got) if got[..] == id.to_be_bytes() => {}
                    _ => continue,
                }
            }
            match i.msg.pop_front() {
                Some(d) if d.is_empty() && !i.msg.is_empty() => {}
                _ => continue, // malformed: no delimiter
            }
            // A REQ keeps waiting for `peer` after it left: its reply may
            // still be queued, and the epoch keeps a successor in the same
            // slot from matching.
            self.awaiting = Awaiting::Nothing;
            return Ok(Some(i.msg));
        }
    }
}

/// A REP socket: answering a request, or waiting for one.
#[derive(Debug, Default)]
pub(crate) enum Rep {
    /// Waiting for a request.
    #[default]
    Idle,
    /// Answering `peer`'s request, whose envelope leads the reply.
    Replying {
        /// Who asked.
        peer: PeerId,
        /// The request's routing frames and delimiter.
        envelope: Message,
    },
}

impl Rep {
    /// Whether a request is being answered (POLLOUT).
    pub(crate) fn is_replying(&self) -> bool {
        matches!(self, Rep::Replying { .. })
    }

    /// Sends the reply to the request being answered.
    pub(crate) fn send(&mut self, base: &Base, msg: Message) -> Result<(), SendError> {
        let Rep::Replying { peer, mut envelope } = std::mem::take(self) else {
            return Err(Error::State.into());
        };
        if let Some(entry) = base.peers.get(peer) {
            envelope.extend(msg);
            // A full or departed requester loses the reply, as with libzmq.
            if entry.out.push(envelope).is_err() {
                base.counters.dropped();
            }
        }
        Ok(())
    }

    /// Takes the next well-formed request, keeping its envelope.
    pub(crate) fn recv(&mut self, inbox: &Inbox) -> Result<Option<Message>, Error> {
        if matches!(self, Rep::Replying { .. }) {
            return Err(Error::State);
        }
        loop {
            let Some(mut i) = inbox.pop() else {
                return Ok(None);
            };
            let Some(split) = i.msg.frames().iter().position(|f| f.is_empty()) else {
                continue; // malformed: no delimiter
            };
            let body = i.msg.split_off(split + 1);
            if body.is_empty() {
                continue;
            }
            *self = Rep::Replying {
                peer: i.peer,
                envelope: i.msg,
            };
            return Ok(Some(body));
        }
    }
}
