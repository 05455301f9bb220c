//! Load balancing (RFC 30 PUSH, libzmq's DEALER, RFC 31 PAIR): each
//! message to the next peer with room, round robin.

use monocoque_core::router::{LoadBalancer, PeerId};

use super::{full, SendError};
use crate::error::Error;
use crate::message::Message;
use crate::socket_core::Base;

/// A PUSH, DEALER or PAIR (and a REQ's choice of peer).
#[derive(Debug, Default)]
pub(crate) struct Lb {
    peers: LoadBalancer<PeerId>,
    /// A PAIR: one peer at a time.
    pair: bool,
}

impl Lb {
    /// A PAIR's balancer (which admits one peer).
    pub(crate) fn pair() -> Lb {
        Lb {
            pair: true,
            ..Lb::default()
        }
    }

    /// Routes to `id` from now on.
    pub(crate) fn attach(&mut self, id: PeerId) {
        self.peers.attach(id);
    }

    /// A peer completed its handshake; a PAIR refuses a second one.
    pub(crate) fn attached(
        &mut self,
        base: &Base,
        id: PeerId,
        fresh: bool,
    ) -> Result<(), &'static str> {
        if self.pair
            && base
                .peers
                .iter()
                .any(|(other, p)| other != id && (p.ready || p.persistent))
        {
            return Err("a PAIR socket has one peer");
        }
        if fresh {
            self.peers.attach(id);
        }
        Ok(())
    }

    /// Peer `id` left for good.
    pub(crate) fn detach(&mut self, id: PeerId) {
        self.peers.detach(id);
    }

    /// Whether some peer has room (POLLOUT).
    pub(crate) fn has_room(&self, base: &Base) -> bool {
        self.peers
            .ready()
            .any(|id| base.peers.get(id).is_some_and(|p| p.out.has_room()))
    }

    /// Whether some peer is connected (a conflating socket's POLLOUT: its
    /// sends never wait for room).
    pub(crate) fn has_peer(&self) -> bool {
        self.peers.ready().next().is_some()
    }

    /// `ZMQ_CONFLATE` (PUSH, DEALER): to the next peer in turn, in place
    /// of the message still waiting for it; waits only while there is no
    /// peer at all. Single-frame messages only.
    #[cold]
    pub(crate) fn send_latest(&mut self, base: &Base, msg: Message) -> Result<PeerId, SendError> {
        if msg.len() > 1 {
            return Err(Error::Invalid("conflate takes single-frame messages only").into());
        }
        for _ in 0..self.peers.len() {
            let Some(id) = self.peers.next() else { break };
            if let Some(entry) = base.peers.get(id) {
                entry.out.push_latest(msg);
                return Ok(id);
            }
        }
        Err(full(msg, None))
    }

    /// Round robin over the peers with room; returns the peer used.
    pub(crate) fn send(&mut self, base: &Base, mut msg: Message) -> Result<PeerId, SendError> {
        let mut last = None;
        for _ in 0..self.peers.len() {
            let Some(id) = self.peers.next() else { break };
            let Some(entry) = base.peers.get(id) else {
                continue;
            };
            match entry.out.push(msg) {
                Ok(()) => return Ok(id),
                Err(m) => {
                    msg = m;
                    last = Some(id);
                }
            }
        }
        let out = last.and_then(|id| base.peers.get(id)).map(|p| &p.out);
        Err(full(msg, out))
    }
}
