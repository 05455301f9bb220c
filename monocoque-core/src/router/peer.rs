//! Peer handles with epochs, and the slab that issues them.
//!
//! A [`PeerId`] is a slot index plus an epoch. When a peer goes away its slot
//! is freed and the slot's epoch moves on, so a handle kept by anyone (a
//! routing table, a pending reply, a queued send) for the departed peer no
//! longer matches the slot's next occupant. This is what keeps a reconnecting
//! peer from receiving what was routed to its predecessor (the "ghost peer").

use std::fmt;

/// A handle to one peer connection: a slot index and the slot's epoch.
///
/// Two handles are equal only if both index and epoch are: a handle to a
/// disconnected peer never equals the handle of the peer that reuses its
/// slot. Handles are issued by [`Peers`].
///
/// ```
/// use monocoque_core::router::Peers;
///
/// let mut peers = Peers::new();
/// let old = peers.insert("first connection");
/// peers.remove(old);
/// let new = peers.insert("second connection");
/// assert_eq!(old.index(), new.index()); // the slot is reused...
/// assert_ne!(old, new); // ...but the epoch tells them apart
/// assert_eq!(peers.get(old), None);
/// ```
#[derive(Clone, Copy, PartialEq, Eq, Hash, PartialOrd, Ord)]
pub struct PeerId {
    index: u32,
    epoch: u32,
}

impl PeerId {
    /// Builds a handle from its parts. Tables only ever compare handles, so a
    /// made-up handle is harmless: it matches nothing it was not issued for.
    ///
    /// ```
    /// use monocoque_core::router::PeerId;
    /// let id = PeerId::from_parts(3, 1);
    /// assert_eq!((id.index(), id.epoch()), (3, 1));
    /// ```
    pub const fn from_parts(index: u32, epoch: u32) -> Self {
        Self { index, epoch }
    }

    /// The slot index, dense from zero.
    pub const fn index(self) -> u32 {
        self.index
    }

    /// How many times the slot had been freed before this peer took it.
    pub const fn epoch(self) -> u32 {
        self.epoch
    }
}

impl fmt::Debug for PeerId {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "PeerId({}.{})", self.index, self.epoch)
    }
}

impl fmt::Display for PeerId {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "peer {}.{}", self.index, self.epoch)
    }
}

/// A peer key the tables can index in O(1) without hashing.
///
/// The tables of this crate keep one entry per slot in a `Vec` and store the
/// whole key in it; an operation whose key differs from the stored one (same
/// slot, other epoch) is refused as stale. Slots should therefore be dense
/// and small, as slab indices are: a table grows to the largest slot it saw.
///
/// ```
/// use monocoque_core::router::{PeerId, PeerKey};
/// assert_eq!(PeerId::from_parts(7, 2).slot(), 7);
/// ```
pub trait PeerKey: Copy + Eq + fmt::Debug {
    /// The dense index of the slot this key lives in.
    fn slot(self) -> usize;
}

impl PeerKey for PeerId {
    #[inline]
    fn slot(self) -> usize {
        self.index as usize
    }
}

/// A slab of per-peer state that issues [`PeerId`]s.
///
/// Insertion reuses freed slots (most recently freed first) with a new epoch;
/// every lookup checks the epoch, so a stale handle finds nothing. A slot
/// whose epoch would wrap around is retired instead of reused, so no handle is
/// ever issued twice. All operations are O(1).
///
/// ```
/// use monocoque_core::router::Peers;
///
/// let mut peers = Peers::new();
/// let a = peers.insert(10);
/// let b = peers.insert(20);
/// *peers.get_mut(a).unwrap() += 1;
/// assert_eq!(peers.get(a), Some(&11));
/// assert_eq!(peers.remove(b), Some(20));
/// assert_eq!(peers.remove(b), None);
/// assert_eq!(peers.len(), 1);
/// ```
#[derive(Debug, Clone)]
pub struct Peers<T> {
    slots: Vec<Slot<T>>,
    free: Vec<u32>,
    len: usize,
}

#[derive(Debug, Clone)]
struct Slot<T> {
    epoch: u32,
    value: Option<T>,
}

impl<T> Default for Peers<T> {
    fn default() -> Self {
        Self::new()
    }
}

impl<T> Peers<T> {
    /// An empty slab.
    pub const fn new() -> Self {
        Self {
            slots: Vec::new(),
            free: Vec::new(),
            len: 0,
        }
    }

    /// An empty slab with room for `n` peers before it reallocates.
    pub fn with_capacity(n: usize) -> Self {
        Self {
            slots: Vec::with_capacity(n),
            free: Vec::new(),
            len: 0,
        }
    }

    /// Stores `value` and returns its new handle.
    ///
    /// # Panics
    ///
    /// If more than `u32::MAX` slots would be needed.
    pub fn insert(&mut self, value: T) -> PeerId {
        self.insert_with(|_| value)
    }

    /// Stores the value `make` builds from its own handle (for state that
    /// needs to know its id), and returns the handle.
    ///
    /// ```
    /// use monocoque_core::router::Peers;
    /// let mut peers = Peers::new();
    /// let id = peers.insert_with(|id| format!("{id}"));
    /// assert_eq!(peers.get(id).map(String::as_str), Some("peer 0.0"));
    /// ```
    ///
    /// # Panics
    ///
    /// If more than `u32::MAX` slots would be needed.
    pub fn insert_with(&mut self, make: impl FnOnce(PeerId) -> T) -> PeerId {
        let id = match self.free.pop() {
            Some(index) => {
                let slot = &mut self.slots[index as usize];
                let id = PeerId::from_parts(index, slot.epoch);
                slot.value = Some(make(id));
                id
            }
            None => {
                let index = u32::try_from(self.slots.len())
                    .ok()
                    .filter(|&i| i != u32::MAX)
                    .expect("more than u32::MAX - 1 peer slots");
                let id = PeerId::from_parts(index, 0);
                self.slots.push(Slot {
                    epoch: 0,
                    value: Some(make(id)),
                });
                id
            }
        };
        self.len += 1;
        id
    }

    /// Removes the peer and returns its state; `None` for a stale or unknown
    /// handle.
    pub fn remove(&mut self, id: PeerId) -> Option<T> {
        let slot = self.slots.get_mut(id.index as usize)?;
        if slot.epoch != id.epoch {
            return None;
        }
        let value = slot.value.take()?;
        self.len -= 1;
        // A slot whose epoch cannot move on any more is retired: reusing it
        // would issue an old handle again.
        if let Some(next) = slot.epoch.checked_add(1) {
            slot.epoch = next;
            self.free.push(id.index);
        }
        Some(value)
    }

    /// The peer's state, if the handle is current.
    pub fn get(&self, id: PeerId) -> Option<&T> {
        let slot = self.slots.get(id.index as usize)?;
        if slot.epoch == id.epoch {
            slot.value.as_ref()
        } else {
            None
        }
    }

    /// The peer's state, mutably, if the handle is current.
    pub fn get_mut(&mut self, id: PeerId) -> Option<&mut T> {
        let slot = self.slots.get_mut(id.index as usize)?;
        if slot.epoch == id.epoch {
            slot.value.as_mut()
        } else {
            None
        }
    }

    /// Whether the handle names a live peer.
    pub fn contains(&self, id: PeerId) -> bool {
        self.get(id).is_some()
    }

    /// How many peers are stored.
    pub const fn len(&self) -> usize {
        self.len
    }

    /// Whether no peer is stored.
    pub const fn is_empty(&self) -> bool {
        self.len == 0
    }

    /// The live peers and their handles, in slot order.
    pub fn iter(&self) -> impl Iterator<Item = (PeerId, &T)> + '_ {
        self.slots.iter().zip(0u32..).filter_map(|(slot, index)| {
            let value = slot.value.as_ref()?;
            Some((PeerId::from_parts(index, slot.epoch), value))
        })
    }

    /// The live peers and their handles, mutably, in slot order.
    pub fn iter_mut(&mut self) -> impl Iterator<Item = (PeerId, &mut T)> + '_ {
        self.slots
            .iter_mut()
            .zip(0u32..)
            .filter_map(|(slot, index)| {
                let epoch = slot.epoch;
                let value = slot.value.as_mut()?;
                Some((PeerId::from_parts(index, epoch), value))
            })
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use proptest::prelude::*;
    use std::collections::HashMap;

    #[test]
    fn stale_handle_never_reaches_successor() {
        let mut peers = Peers::new();
        let ghost = peers.insert("old");
        assert_eq!(peers.remove(ghost), Some("old"));
        let successor = peers.insert("new");
        assert_eq!(ghost.index(), successor.index());
        assert_eq!(peers.get(ghost), None);
        assert_eq!(peers.get_mut(ghost), None);
        assert_eq!(peers.remove(ghost), None);
        assert_eq!(peers.get(successor), Some(&"new"));
    }

    #[test]
    fn exhausted_slot_is_retired() {
        let mut peers = Peers::new();
        let a = peers.insert(1);
        peers.slots[a.index() as usize].epoch = u32::MAX;
        let last = PeerId::from_parts(a.index(), u32::MAX);
        assert_eq!(peers.remove(last), Some(1));
        let b = peers.insert(2);
        assert_ne!(b.index(), a.index(), "a retired slot is not reused");
        assert_eq!(peers.get(last), None);
    }

    #[test]
    fn iter_lists_live_peers() {
        let mut peers = Peers::with_capacity(4);
        let a = peers.insert('a');
        let b = peers.insert('b');
        let c = peers.insert('c');
        peers.remove(b);
        let seen: Vec<_> = peers.iter().collect();
        assert_eq!(seen, vec![(a, &'a'), (c, &'c')]);
        for (_, v) in peers.iter_mut() {
            *v = v.to_ascii_uppercase();
        }
        assert_eq!(peers.get(c), Some(&'C'));
        assert_eq!(format!("{a:?} {a}"), "PeerId(0.0) peer 0.0");
    }

    #[derive(Debug, Clone)]
    enum Op {
        Insert,
        Remove(usize),
        Get(usize),
    }

    fn op() -> impl Strategy<Value = Op> {
        prop_oneof![
            Just(Op::Insert),
            (0usize..64).prop_map(Op::Remove),
            (0usize..64).prop_map(Op::Get),
        ]
    }

    proptest! {
        /// Against a model that never reuses ids: every handle ever issued
        /// is either live with its own value or dead for good.
        #[test]
        fn matches_model(ops in proptest::collection::vec(op(), 0..200)) {
            let mut peers = Peers::new();
            let mut model: HashMap<PeerId, u32> = HashMap::new();
            let mut issued: Vec<PeerId> = Vec::new();
            for (n, op) in (0u32..).zip(ops) {
                match op {
                    Op::Insert => {
                        let id = peers.insert(n);
                        prop_assert!(!issued.contains(&id), "handle issued twice");
                        issued.push(id);
                        model.insert(id, n);
                    }
                    Op::Remove(i) if !issued.is_empty() => {
                        let id = issued[i % issued.len()];
                        prop_assert_eq!(peers.remove(id), model.remove(&id));
                    }
                    Op::Get(i) if !issued.is_empty() => {
                        let id = issued[i % issued.len()];
                        prop_assert_eq!(peers.get(id), model.get(&id));
                    }
                    _ => {}
                }
                prop_assert_eq!(peers.len(), model.len());
            }
            for id in issued {
                prop_assert_eq!(peers.get(id), model.get(&id));
            }
        }
    }
}
