//! ROUTER identities: routing id to peer, and back.

use std::borrow::Borrow;
use std::collections::HashMap;
use std::fmt;
use std::hash::{BuildHasher, Hash, Hasher, RandomState};

use bytes::Bytes;

use super::peer::PeerKey;

/// The identity a ROUTER knows a peer by: the peer's own Routing-Id (from
/// its READY command, or set locally with `CONNECT_ROUTING_ID`), or a
/// generated one.
///
/// Generated ids are five bytes, a zero byte then a big-endian `u32`
/// counter, as libzmq makes them; ZMTP reserves ids starting with a zero
/// byte for this use.
///
/// ```
/// use monocoque_core::router::RoutingId;
///
/// let id = RoutingId::generated(0x0102_0304);
/// assert_eq!(id.as_bytes().as_ref(), &[0, 1, 2, 3, 4]);
/// assert!(id.is_generated());
/// assert!(!RoutingId::from("worker-7").is_generated());
/// ```
#[derive(Clone, PartialEq, Eq, PartialOrd, Ord)]
pub struct RoutingId(Bytes);

impl RoutingId {
    /// The length of a generated id.
    pub const GENERATED_LEN: usize = 5;

    /// Wraps the bytes of a routing id. ZMTP allows 1 to 255 bytes; checking
    /// that is the wire layer's business.
    pub const fn new(bytes: Bytes) -> Self {
        Self(bytes)
    }

    /// The id libzmq would generate from counter value `n`: `0x00` then `n`
    /// big-endian.
    pub fn generated(n: u32) -> Self {
        let [a, b, c, d] = n.to_be_bytes();
        Self(Bytes::copy_from_slice(&[0, a, b, c, d]))
    }

    /// Whether this has the shape of a generated id (five bytes, the first
    /// zero).
    pub fn is_generated(&self) -> bool {
        self.0.len() == Self::GENERATED_LEN && self.0[0] == 0
    }

    /// The id's bytes (cloning them is a reference-count bump).
    pub const fn as_bytes(&self) -> &Bytes {
        &self.0
    }

    /// The id's bytes, by value.
    pub fn into_bytes(self) -> Bytes {
        self.0
    }
}

// Hash as the byte slice does, so that a `HashMap<RoutingId, _>` can be
// searched with a `&[u8]` (see the `Borrow` impl below).
impl Hash for RoutingId {
    fn hash<H: Hasher>(&self, state: &mut H) {
        self.0.as_ref().hash(state);
    }
}

impl Borrow<[u8]> for RoutingId {
    fn borrow(&self) -> &[u8] {
        &self.0
    }
}

impl AsRef<[u8]> for RoutingId {
    fn as_ref(&self) -> &[u8] {
        &self.0
    }
}

impl From<Bytes> for RoutingId {
    fn from(bytes: Bytes) -> Self {
        Self(bytes)
    }
}

impl From<&'static str> for RoutingId {
    fn from(s: &'static str) -> Self {
        Self(Bytes::from_static(s.as_bytes()))
    }
}

impl From<&'static [u8]> for RoutingId {
    fn from(s: &'static [u8]) -> Self {
        Self(Bytes::from_static(s))
    }
}

impl From<RoutingId> for Bytes {
    fn from(id: RoutingId) -> Self {
        id.0
    }
}

impl fmt::Debug for RoutingId {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "RoutingId({self})")
    }
}

/// Printable ASCII as is, anything else as `\xNN`.
impl fmt::Display for RoutingId {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        for &b in self.0.iter() {
            if b.is_ascii_graphic() || b == b' ' {
                write!(f, "{}", char::from(b))?;
            } else {
                write!(f, "\\x{b:02x}")?;
            }
        }
        Ok(())
    }
}

/// What [`RoutingTable::attach`] did with a newly connected peer.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Attach<K> {
    /// The peer is routable under `routing_id`: the one it asked for, or a
    /// generated one if it asked for none.
    Attached {
        /// The peer's routing id from now on.
        routing_id: RoutingId,
    },
    /// `ROUTER_HANDOVER`: the peer took `routing_id` over from `evicted`.
    /// The evicted peer keeps a fresh generated id (so that what it still
    /// delivers can be received and answered) until it is detached; the
    /// caller should close it.
    HandedOver {
        /// The newcomer's routing id, taken from `evicted`.
        routing_id: RoutingId,
        /// The peer that held the id before; close its connection.
        evicted: K,
    },
    /// Another peer holds `routing_id` and handover is off: the newcomer was
    /// not added. libzmq leaves such a peer connected but never reads from
    /// or routes to it; closing it is kinder.
    Refused {
        /// The id the newcomer asked for.
        routing_id: RoutingId,
    },
}

/// A ROUTER's identity table: routing id to peer, and peer to routing id.
///
/// Lookups either way are O(1) on average (a hash map keyed by the id's
/// bytes, searchable with a plain `&[u8]`, and a `Vec` indexed by the peer's
/// slot). Every entry stores the peer's whole key, epoch included, so a
/// stale handle never finds the id of the peer that reused its slot, and an
/// id never leads to a departed peer once it is detached.
///
/// ```
/// use bytes::Bytes;
/// use monocoque_core::router::{Attach, Peers, RoutingTable};
///
/// let mut peers = Peers::new();
/// let (alice, anon) = (peers.insert(()), peers.insert(()));
/// let mut table = RoutingTable::with_first_generated(7);
///
/// table.attach(alice, Some(Bytes::from_static(b"alice")));
/// let Attach::Attached { routing_id } = table.attach(anon, None) else { unreachable!() };
/// assert_eq!(routing_id.as_bytes().as_ref(), &[0, 0, 0, 0, 7]);
///
/// assert_eq!(table.peer(b"alice"), Some(alice));
/// assert_eq!(table.routing_id(anon), Some(&routing_id));
/// table.detach(alice);
/// assert_eq!(table.peer(b"alice"), None); // ROUTER_MANDATORY: EHOSTUNREACH
/// ```
#[derive(Debug, Clone)]
pub struct RoutingTable<K> {
    by_id: HashMap<RoutingId, K>,
    by_slot: Vec<Option<(K, RoutingId)>>,
    next_generated: u32,
    handover: bool,
}

impl<K: PeerKey> Default for RoutingTable<K> {
    fn default() -> Self {
        Self::new()
    }
}

impl<K: PeerKey> RoutingTable<K> {
    /// An empty table whose generated ids start from a random counter value,
    /// as libzmq's do (so ids from a restarted ROUTER rarely repeat the old
    /// ones). Handover is off.
    pub fn new() -> Self {
        // The std hasher is seeded from the OS's randomness once per thread
        // and moves its keys on for each new state, which is all the
        // randomness this needs.
        let seed = RandomState::new().hash_one(0x5eed_u32);
        Self::with_first_generated(seed as u32)
    }

    /// An empty table whose first generated id is `RoutingId::generated(n)`
    /// (deterministic, for tests and reproducible runs). Handover is off.
    pub fn with_first_generated(n: u32) -> Self {
        Self {
            by_id: HashMap::new(),
            by_slot: Vec::new(),
            next_generated: n,
            handover: false,
        }
    }

    /// Sets `ROUTER_HANDOVER`: whether a newcomer asking for an id in use
    /// takes it over (`true`) or is refused (`false`, the default).
    pub fn set_handover(&mut self, on: bool) {
        self.handover = on;
    }

    /// Whether `ROUTER_HANDOVER` is on.
    pub const fn handover(&self) -> bool {
        self.handover
    }

    /// Adds a peer whose handshake completed. `requested` is its Routing-Id
    /// (`None` or empty: generate one).
    ///
    /// A peer attached already is re-attached (its old id is released
    /// first); a stale key in the same slot is detached first.
    ///
    /// ```
    /// use bytes::Bytes;
    /// use monocoque_core::router::{Attach, Peers, RoutingTable};
    ///
    /// let mut peers = Peers::new();
    /// let (first, second) = (peers.insert(()), peers.insert(()));
    /// let mut table = RoutingTable::new();
    /// let x = Some(Bytes::from_static(b"X"));
    /// table.attach(first, x.clone());
    /// // Without handover, the second "X" is refused...
    /// assert!(matches!(table.attach(second, x.clone()), Attach::Refused { .. }));
    /// // ...with it, the second takes "X" over and the first is to be closed.
    /// table.set_handover(true);
    /// assert!(matches!(
    ///     table.attach(second, x),
    ///     Attach::HandedOver { evicted, .. } if evicted == first
    /// ));
    /// assert_eq!(table.peer(b"X"), Some(second));
    /// ```
    pub fn attach(&mut self, peer: K, requested: Option<Bytes>) -> Attach<K> {
        self.release_slot(peer);
        let requested = requested.filter(|id| !id.is_empty());
        let Some(requested) = requested else {
            let routing_id = self.generate();
            self.insert(peer, routing_id.clone());
            return Attach::Attached { routing_id };
        };
        let routing_id = RoutingId(requested);
        match self.by_id.get(&routing_id).copied() {
            None => {
                self.insert(peer, routing_id.clone());
                Attach::Attached { routing_id }
            }
            Some(_) if !self.handover => Attach::Refused { routing_id },
            Some(evicted) => {
                // The old peer keeps a generated id until it is detached, so
                // that its table entry stays consistent.
                let renamed = self.generate();
                self.by_id.insert(renamed.clone(), evicted);
                self.by_slot[evicted.slot()] = Some((evicted, renamed));
                self.by_id.insert(routing_id.clone(), peer);
                self.set_slot(peer, routing_id.clone());
                Attach::HandedOver {
                    routing_id,
                    evicted,
                }
            }
        }
    }

    /// Removes a peer (it disconnected) and returns the id it had; `None`
    /// for an unknown or stale key.
    pub fn detach(&mut self, peer: K) -> Option<RoutingId> {
        let entry = self.by_slot.get_mut(peer.slot())?;
        match entry {
            Some((k, _)) if *k == peer => {}
            _ => return None,
        }
        let (_, routing_id) = entry.take()?;
        self.by_id.remove(&routing_id);
        Some(routing_id)
    }

    /// The peer known by `routing_id`, if any (the first frame of a message
    /// a ROUTER sends).
    #[inline]
    pub fn peer(&self, routing_id: &[u8]) -> Option<K> {
        self.by_id.get(routing_id).copied()
    }

    /// The routing id of a peer (the frame a ROUTER puts in front of what it
    /// receives from it); `None` for an unknown or stale key.
    #[inline]
    pub fn routing_id(&self, peer: K) -> Option<&RoutingId> {
        match self.by_slot.get(peer.slot()) {
            Some(Some((k, id))) if *k == peer => Some(id),
            _ => None,
        }
    }

    /// Whether the peer is in the table (this very epoch).
    pub fn contains(&self, peer: K) -> bool {
        self.routing_id(peer).is_some()
    }

    /// How many peers are routable.
    pub fn len(&self) -> usize {
        self.by_id.len()
    }

    /// Whether no peer is routable.
    pub fn is_empty(&self) -> bool {
        self.by_id.is_empty()
    }

    /// Every routable peer and its id, in no particular order.
    pub fn iter(&self) -> impl Iterator<Item = (&RoutingId, K)> + '_ {
        self.by_id.iter().map(|(id, &k)| (id, k))
    }

    /// Frees whatever the peer's slot holds: the peer's own old id, or a
    /// stale predecessor's.
    fn release_slot(&mut self, peer: K) {
        if let Some(Some((_, id))) = self.by_slot.get_mut(peer.slot()).map(Option::take) {
            self.by_id.remove(&id);
        }
    }

    fn insert(&mut self, peer: K, routing_id: RoutingId) {
        self.by_id.insert(routing_id.clone(), peer);
        self.set_slot(peer, routing_id);
    }

    fn set_slot(&mut self, peer: K, routing_id: RoutingId) {
        let slot = peer.slot();
        if slot >= self.by_slot.len() {
            self.by_slot.resize(slot + 1, None);
        }
        self.by_slot[slot] = Some((peer, routing_id));
    }

    /// The next generated id not in use. A peer may have asked for an id of
    /// the generated shape, and the counter may wrap, so ids in use are
    /// skipped; the table holds far fewer than 2^32 ids, so this ends.
    fn generate(&mut self) -> RoutingId {
        loop {
            let id = RoutingId::generated(self.next_generated);
            self.next_generated = self.next_generated.wrapping_add(1);
            if !self.by_id.contains_key(&id) {
                return id;
            }
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::router::{PeerId, Peers};
    use proptest::prelude::*;

    fn b(s: &'static str) -> Option<Bytes> {
        Some(Bytes::from_static(s.as_bytes()))
    }

    #[test]
    fn generated_ids_follow_libzmq() {
        let mut peers = Peers::new();
        let mut table = RoutingTable::with_first_generated(u32::MAX);
        let a = peers.insert(());
        let c = peers.insert(());
        let e = peers.insert(());
        assert_eq!(
            table.attach(a, None),
            Attach::Attached {
                routing_id: RoutingId::generated(u32::MAX)
            }
        );
        // An empty Routing-Id means "none": generate, wrapping the counter.
        assert_eq!(
            table.routing_id(a).unwrap().as_ref(),
            &[0, 0xff, 0xff, 0xff, 0xff]
        );
        // A peer that asked for the next generated id first makes the
        // generator skip it.
        table.attach(c, Some(Bytes::from_static(&[0, 0, 0, 0, 0])));
        table.attach(e, Some(Bytes::new()));
        assert_eq!(table.routing_id(e), Some(&RoutingId::generated(1)));
        assert_eq!(table.len(), 3);
    }

    #[test]
    fn duplicate_without_handover_is_refused() {
        let mut peers = Peers::new();
        let (first, second) = (peers.insert(()), peers.insert(()));
        let mut table = RoutingTable::new();
        assert!(!table.handover());
        table.attach(first, b("X"));
        assert_eq!(
            table.attach(second, b("X")),
            Attach::Refused {
                routing_id: RoutingId::from("X")
            }
        );
        assert_eq!(table.peer(b"X"), Some(first));
        assert!(!table.contains(second));
        assert_eq!(table.detach(second), None);
        assert_eq!(table.len(), 1);
    }

    #[test]
    fn handover_evicts_the_old_peer() {
        let mut peers = Peers::new();
        let (first, second) = (peers.insert(()), peers.insert(()));
        let mut table = RoutingTable::with_first_generated(40);
        table.set_handover(true);
        table.attach(first, b("X"));
        assert_eq!(
            table.attach(second, b("X")),
            Attach::HandedOver {
                routing_id: RoutingId::from("X"),
                evicted: first
            }
        );
        assert_eq!(table.peer(b"X"), Some(second));
        // The evicted peer lives on under a generated id until detached.
        let renamed = table.routing_id(first).unwrap().clone();
        assert_eq!(renamed, RoutingId::generated(40));
        assert_eq!(table.peer(renamed.as_ref()), Some(first));
        assert_eq!(table.detach(first), Some(renamed));
        assert_eq!(table.peer(b"X"), Some(second));
        assert_eq!(table.len(), 1);
    }

    #[test]
    fn reconnecting_peer_is_a_new_entry() {
        // The ghost-peer case: "worker" disconnects, a message for "worker"
        // is still in flight as a PeerId, the worker reconnects into the
        // same slot. The old handle must not reach the new connection.
        let mut peers = Peers::new();
        let mut table = RoutingTable::new();
        let ghost = peers.insert(());
        table.attach(ghost, b("worker"));
        let in_flight = table.peer(b"worker").unwrap();
        table.detach(ghost);
        peers.remove(ghost);
        let back = peers.insert(());
        assert_eq!(back.index(), ghost.index());
        table.attach(back, b("worker"));
        assert_ne!(in_flight, back);
        assert_eq!(table.routing_id(in_flight), None);
        assert_eq!(peers.get(in_flight), None);
        assert_eq!(table.peer(b"worker"), Some(back));
    }

    #[test]
    fn stale_slot_holder_is_pushed_out() {
        let mut table = RoutingTable::new();
        let ghost = PeerId::from_parts(0, 0);
        let successor = PeerId::from_parts(0, 1);
        table.attach(ghost, b("old"));
        table.attach(successor, b("new"));
        assert_eq!(table.peer(b"old"), None);
        assert_eq!(table.detach(ghost), None);
        assert_eq!(table.peer(b"new"), Some(successor));
        // Re-attaching the same peer moves it to its new id.
        table.attach(successor, b("newer"));
        assert_eq!(table.peer(b"new"), None);
        assert_eq!(
            table.iter().collect::<Vec<_>>(),
            [(&RoutingId::from("newer"), successor)]
        );
        assert!(!table.is_empty());
    }

    #[test]
    fn display_escapes_binary() {
        assert_eq!(
            RoutingId::generated(258).to_string(),
            "\\x00\\x00\\x00\\x01\\x02"
        );
        assert_eq!(format!("{:?}", RoutingId::from("ab c")), "RoutingId(ab c)");
        let raw: &'static [u8] = b"\x01z";
        assert_eq!(
            Bytes::from(RoutingId::from(raw)),
            Bytes::from_static(b"\x01z")
        );
        assert_eq!(RoutingId::new(Bytes::from_static(b"q")).into_bytes(), "q");
    }

    #[derive(Debug, Clone)]
    enum Op {
        Attach(u32, Option<u8>),
        Detach(u32),
        Lookup(u8),
        Handover(bool),
        Reconnect(u32),
    }

    /// Requested ids come from a tiny alphabet so that duplicates are
    /// frequent; 3 is an id of the generated shape.
    fn requested(n: u8) -> Option<Bytes> {
        Some(match n {
            0 => Bytes::new(),
            1 => Bytes::from_static(b"a"),
            2 => Bytes::from_static(b"b"),
            _ => Bytes::from_static(&[0, 0, 0, 0, 2]),
        })
    }

    fn op() -> impl Strategy<Value = Op> {
        prop_oneof![
            4 => (0u32..6, proptest::option::of(0u8..4)).prop_map(|(s, r)| Op::Attach(s, r)),
            2 => (0u32..6).prop_map(Op::Detach),
            2 => (0u8..4).prop_map(Op::Lookup),
            1 => any::<bool>().prop_map(Op::Handover),
            1 => (0u32..6).prop_map(Op::Reconnect),
        ]
    }

    /// The naive model: a list of (peer, id) pairs searched linearly.
    #[derive(Default)]
    struct Model {
        entries: Vec<(PeerId, Bytes)>,
        next: u32,
        handover: bool,
    }

    impl Model {
        fn generate(&mut self) -> Bytes {
            loop {
                let id = RoutingId::generated(self.next).into_bytes();
                self.next = self.next.wrapping_add(1);
                if !self.entries.iter().any(|(_, i)| *i == id) {
                    return id;
                }
            }
        }
        fn attach(&mut self, peer: PeerId, req: Option<Bytes>) -> Attach<PeerId> {
            self.entries.retain(|(p, _)| p.index() != peer.index());
            let req = req.filter(|r| !r.is_empty());
            let Some(req) = req else {
                let id = self.generate();
                self.entries.push((peer, id.clone()));
                return Attach::Attached {
                    routing_id: RoutingId(id),
                };
            };
            match self.entries.iter().position(|(_, i)| *i == req) {
                None => {
                    self.entries.push((peer, req.clone()));
                    Attach::Attached {
                        routing_id: RoutingId(req),
                    }
                }
                Some(_) if !self.handover => Attach::Refused {
                    routing_id: RoutingId(req),
                },
                Some(at) => {
                    let renamed = self.generate();
                    let evicted = self.entries[at].0;
                    self.entries[at].1 = renamed;
                    self.entries.push((peer, req.clone()));
                    Attach::HandedOver {
                        routing_id: RoutingId(req),
                        evicted,
                    }
                }
            }
        }
        fn detach(&mut self, peer: PeerId) -> Option<RoutingId> {
            let at = self.entries.iter().position(|(p, _)| *p == peer)?;
            Some(RoutingId(self.entries.remove(at).1))
        }
    }

    proptest! {
        #[test]
        fn matches_model(ops in proptest::collection::vec(op(), 0..200)) {
            let mut table = RoutingTable::with_first_generated(0);
            let mut model = Model::default();
            let mut epochs = [0u32; 6];
            let id = |epochs: &[u32; 6], s: u32| PeerId::from_parts(s, epochs[s as usize]);
            for op in ops {
                match op {
                    Op::Attach(s, r) => {
                        let req = r.and_then(requested);
                        let p = id(&epochs, s);
                        prop_assert_eq!(table.attach(p, req.clone()), model.attach(p, req));
                    }
                    Op::Detach(s) => {
                        let p = id(&epochs, s);
                        prop_assert_eq!(table.detach(p), model.detach(p));
                    }
                    Op::Lookup(r) => {
                        let key = requested(r).unwrap();
                        let expected = model.entries.iter().find(|(_, i)| *i == key).map(|(p, _)| *p);
                        prop_assert_eq!(table.peer(&key), expected);
                    }
                    Op::Handover(on) => {
                        table.set_handover(on);
                        model.handover = on;
                    }
                    Op::Reconnect(s) => epochs[s as usize] += 1,
                }
                prop_assert_eq!(table.len(), model.entries.len());
                for (p, i) in &model.entries {
                    prop_assert_eq!(table.routing_id(*p).map(RoutingId::as_bytes), Some(i));
                    prop_assert_eq!(table.peer(i), Some(*p));
                }
            }
        }
    }
}
