//! libzmq's ROUTER (messages led by the peer's routing id) and STREAM
//! (raw connections, `[routing id, data]` messages).

use bytes::Bytes;
use monocoque_core::router::{Attach, PeerId, RoutingTable};

use super::{full, SendError};
use crate::error::Error;
use crate::message::Message;
use crate::socket_core::Base;

/// A ROUTER or STREAM socket's routing table.
#[derive(Debug, Default)]
pub(crate) struct Router {
    routing: RoutingTable<PeerId>,
}

impl Router {
    /// A connecter's entry `id`, made before its first connection, to be
    /// known by `routing_id` (`CONNECT_ROUTING_ID`): routable at once.
    pub(crate) fn pending(
        &mut self,
        base: &Base,
        id: PeerId,
        routing_id: Bytes,
    ) -> Result<(), &'static str> {
        match self.routing.attach(id, Some(routing_id)) {
            Attach::Attached { .. } => Ok(()),
            Attach::HandedOver { evicted, .. } => {
                if let Some(old) = base.peers.get(evicted) {
                    old.out.close();
                }
                Ok(())
            }
            Attach::Refused { .. } => Err("connect_routing_id is already in use"),
        }
    }

    /// Peer `id` connected, asking for routing id `requested` (a ROUTER's
    /// peer may; else one is made up). Its routing id, or refused. A
    /// connecter's entry (not `fresh`) known by `CONNECT_ROUTING_ID` keeps
    /// that id, whatever the peer asks for.
    pub(crate) fn attached(
        &mut self,
        base: &Base,
        id: PeerId,
        fresh: bool,
        requested: Option<Bytes>,
    ) -> Result<Option<Bytes>, &'static str> {
        if !fresh {
            if let Some(rid) = self.routing.routing_id(id) {
                return Ok(Some(rid.as_bytes().clone()));
            }
        }
        match self.routing.attach(id, requested.filter(|i| !i.is_empty())) {
            Attach::Attached { routing_id } => Ok(Some(Bytes::from(routing_id))),
            Attach::HandedOver {
                routing_id,
                evicted,
            } => {
                if let Some(old) = base.peers.get(evicted) {
                    old.out.close();
                }
                Ok(Some(Bytes::from(routing_id)))
            }
            Attach::Refused { .. } => Err("routing id already in use"),
        }
    }

    /// Peer `id` left (`keep`: a `CONNECT_ROUTING_ID` entry, which stays
    /// routable for the reconnection); the routing id it had.
    pub(crate) fn detach(&mut self, id: PeerId, keep: bool) -> Option<Bytes> {
        if keep {
            return self.routing.routing_id(id).map(|r| r.as_bytes().clone());
        }
        self.routing.detach(id).map(|r| r.into_bytes())
    }

    /// `ROUTER_HANDOVER` changed.
    pub(crate) fn set_handover(&mut self, on: bool) {
        self.routing.set_handover(on);
    }

    /// ROUTER: to the peer the first frame names; an unknown one drops the
    /// message (or fails with `ROUTER_MANDATORY`).
    pub(crate) fn send(&mut self, base: &Base, mut msg: Message) -> Result<(), SendError> {
        let mandatory = base.opts.router_mandatory;
        let Some(id) = msg.first() else {
            return Err(Error::Invalid("a ROUTER message starts with a routing id").into());
        };
        let Some(peer) = self.routing.peer(id) else {
            return if mandatory {
                Err(Error::HostUnreachable.into())
            } else {
                Ok(())
            };
        };
        let Some(entry) = base.peers.get(peer) else {
            return Ok(());
        };
        let rid = msg.pop_front().unwrap_or_default();
        match entry.out.push(msg) {
            Ok(()) => Ok(()),
            Err(mut m) if mandatory => {
                m.push_front(rid);
                Err(full(m, Some(&entry.out)))
            }
            Err(_) => {
                base.counters.dropped();
                Ok(())
            }
        }
    }

    /// STREAM: `[routing id, data]` to that connection (empty data closes it).
    pub(crate) fn send_stream(&mut self, base: &Base, mut msg: Message) -> Result<(), SendError> {
        if msg.len() != 2 {
            return Err(
                Error::Invalid("a STREAM message is a routing id and one data frame").into(),
            );
        }
        let Some(peer) = self.routing.peer(&msg[0]) else {
            return Err(Error::HostUnreachable.into());
        };
        let Some(entry) = base.peers.get(peer) else {
            return Err(Error::HostUnreachable.into());
        };
        // A `CONNECT_ROUTING_ID` entry queues until its first connection,
        // but a connection that ended takes nothing more.
        if !entry.ready && entry.out.is_closed() {
            return Err(Error::HostUnreachable.into());
        }
        let rid = msg.pop_front().unwrap_or_default();
        match entry.out.push(msg) {
            Ok(()) => Ok(()),
            Err(mut m) => {
                m.push_front(rid);
                Err(full(m, Some(&entry.out)))
            }
        }
    }
}
