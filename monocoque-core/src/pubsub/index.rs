//! The publisher's subscription index (PUB, XPUB): which peers want a
//! message.

use std::collections::HashMap;

use bytes::Bytes;

use super::trie::{Payload, Trie};
use crate::router::PeerKey;

/// How a peer's repeated subscription to one prefix counts.
///
/// libzmq's publisher keeps each peer's subscriptions as a set, and libzmq's
/// SUB matches that: it forwards every SUBSCRIBE but only the CANCEL that
/// drops its own last reference. A counting publisher talking to such a SUB
/// would keep a prefix the SUB dropped, so [`Duplicates::Ignore`] is the
/// default and what interoperates with libzmq peers.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
pub enum Duplicates {
    /// A peer's second SUBSCRIBE of a prefix changes nothing; one CANCEL
    /// removes it (libzmq's publisher).
    #[default]
    Ignore,
    /// A peer's subscriptions are counted: subscribing twice needs two
    /// cancels.
    Count,
}

/// What a subscription changed. XPUB passes a subscription upstream when it
/// is [`First`](Self::First) (or always, with `XPUB_VERBOSE`).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Subscribed {
    /// No peer had this prefix before: the set of prefixes grew.
    First,
    /// The peer subscribed to a prefix that other peers already had.
    Added,
    /// The peer had this prefix already (counted again under
    /// [`Duplicates::Count`], ignored under [`Duplicates::Ignore`]).
    Duplicate,
}

impl Subscribed {
    /// Whether the set of prefixes grew (non-verbose XPUB forwards it).
    pub const fn is_first(self) -> bool {
        matches!(self, Self::First)
    }
}

/// What a cancel changed. XPUB passes a cancel upstream when it is
/// [`Last`](Self::Last) (or always, with `XPUB_VERBOSER`).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Cancelled {
    /// The last subscription to this prefix went: the set of prefixes
    /// shrank.
    Last,
    /// The peer no longer has this prefix; other peers still do.
    Removed,
    /// The peer had subscribed more than once ([`Duplicates::Count`]) and
    /// still holds the prefix.
    Held,
    /// The peer had no such subscription.
    NotFound,
}

impl Cancelled {
    /// Whether the set of prefixes shrank (non-verbose XPUB forwards it).
    pub const fn is_last(self) -> bool {
        matches!(self, Self::Last)
    }
}

/// The peers subscribed to exactly one prefix (a trie node's payload).
#[derive(Debug, Clone)]
struct Subscribers<K>(Vec<K>);

impl<K> Default for Subscribers<K> {
    fn default() -> Self {
        Self(Vec::new())
    }
}

impl<K> Payload for Subscribers<K> {
    fn is_empty(&self) -> bool {
        self.0.is_empty()
    }
}

/// One peer's hold on one prefix.
#[derive(Debug, Clone, Copy)]
struct Hold {
    /// How many times the peer subscribed (1 under `Duplicates::Ignore`).
    count: u32,
    /// Where the peer stands in the prefix's `Subscribers`.
    pos: u32,
}

/// One slot's subscriptions: whose they are, and the prefixes held.
#[derive(Debug, Clone)]
struct Slot<K> {
    key: Option<K>,
    prefixes: HashMap<Bytes, Hold>,
    /// What the peer's prefixes cost (see [`SubscriptionIndex::cost`]).
    cost: u64,
    /// The match stamp this peer was last visited with (de-duplication).
    seen: u32,
}

/// What one (peer, prefix) subscription costs beyond the prefix's bytes,
/// as [`SubscriptionIndex::cost`] counts it: about what it takes here (the
/// peer's map entry, the prefix's own allocation, its share of the trie),
/// measured with short prefixes.
pub const PREFIX_COST: u64 = 256;

/// [`SubscriptionIndex::cost`] of one prefix.
fn prefix_cost(prefix: &[u8]) -> u64 {
    prefix.len() as u64 + PREFIX_COST
}

/// Which peers subscribed to which prefixes, for PUB and XPUB fan-out.
///
/// A message goes to every peer that holds a subscription prefixing its
/// first frame; the empty prefix matches every message. Matching walks a
/// path-compressed trie along the message, so it costs one step per
/// subscribed prefix of the message (not per subscription, nor per peer),
/// visits each matching peer once even when several of its prefixes match,
/// and allocates nothing.
///
/// Subscribing and cancelling cost O(prefix length) on average, whatever
/// the number of peers; they report whether the set of prefixes changed,
/// which is what XPUB forwards upstream. Prefixes are copied in: the index
/// never keeps a received buffer alive.
///
/// ```
/// use monocoque_core::pubsub::{Cancelled, SubscriptionIndex, Subscribed};
/// use monocoque_core::router::Peers;
///
/// let mut peers = Peers::new();
/// let (a, b) = (peers.insert(()), peers.insert(()));
/// let mut index = SubscriptionIndex::new();
/// assert_eq!(index.subscribe(a, b"weather."), Subscribed::First);
/// assert_eq!(index.subscribe(b, b"weather."), Subscribed::Added);
/// assert_eq!(index.subscribe(b, b""), Subscribed::First); // everything
///
/// let mut out = Vec::new();
/// index.matches(b"weather.paris 12C", &mut out);
/// assert_eq!(out, [b, a]); // b once, though two of its prefixes match
/// out.clear();
/// index.matches(b"news", &mut out);
/// assert_eq!(out, [b]);
///
/// assert_eq!(index.cancel(a, b"weather."), Cancelled::Removed);
/// assert_eq!(index.cancel(b, b"weather."), Cancelled::Last);
/// ```
#[derive(Debug, Clone)]
pub struct SubscriptionIndex<K> {
    trie: Trie<Subscribers<K>>,
    slots: Vec<Slot<K>>,
    /// Bumped for every match; a peer whose `seen` equals it was visited.
    stamp: u32,
    duplicates: Duplicates,
    /// How many (peer, prefix) pairs are held.
    holds: usize,
}

impl<K: PeerKey> Default for SubscriptionIndex<K> {
    fn default() -> Self {
        Self::new()
    }
}

impl<K: PeerKey> SubscriptionIndex<K> {
    /// An empty index with libzmq's duplicate rule ([`Duplicates::Ignore`]).
    pub fn new() -> Self {
        Self::with_duplicates(Duplicates::default())
    }

    /// An empty index with the given duplicate rule.
    ///
    /// ```
    /// use monocoque_core::pubsub::{Cancelled, Duplicates, SubscriptionIndex};
    /// use monocoque_core::router::PeerId;
    ///
    /// let peer = PeerId::from_parts(0, 0);
    /// let mut index = SubscriptionIndex::with_duplicates(Duplicates::Count);
    /// index.subscribe(peer, b"a");
    /// index.subscribe(peer, b"a");
    /// assert_eq!(index.cancel(peer, b"a"), Cancelled::Held);
    /// assert_eq!(index.cancel(peer, b"a"), Cancelled::Last);
    /// ```
    pub fn with_duplicates(duplicates: Duplicates) -> Self {
        Self {
            trie: Trie::new(),
            slots: Vec::new(),
            stamp: 0,
            duplicates,
            holds: 0,
        }
    }

    /// The duplicate rule in force.
    pub const fn duplicates(&self) -> Duplicates {
        self.duplicates
    }

    /// Records `peer`'s subscription to `prefix` (a SUBSCRIBE command, or a
    /// message starting with `0x01` from a ZMTP 3.0 peer).
    ///
    /// A stale key in the peer's slot (its predecessor, never removed) has
    /// its subscriptions dropped first; call
    /// [`remove_peer`](Self::remove_peer) on disconnect to learn which
    /// prefixes that empties.
    pub fn subscribe(&mut self, peer: K, prefix: &[u8]) -> Subscribed {
        let slot = self.claim(peer);
        if let Some(hold) = self.slots[slot].prefixes.get_mut(prefix) {
            if self.duplicates == Duplicates::Count {
                hold.count = hold.count.saturating_add(1);
            }
            return Subscribed::Duplicate;
        }
        let node = self.trie.insert(prefix);
        let subscribers = &mut self.trie.value_mut(node).0;
        let first = subscribers.is_empty();
        let pos = u32::try_from(subscribers.len()).unwrap_or(u32::MAX);
        subscribers.push(peer);
        let s = &mut self.slots[slot];
        s.prefixes
            .insert(Bytes::copy_from_slice(prefix), Hold { count: 1, pos });
        s.cost += prefix_cost(prefix);
        self.holds += 1;
        if first {
            Subscribed::First
        } else {
            Subscribed::Added
        }
    }

    /// Drops `peer`'s subscription to `prefix` (a CANCEL command, or a
    /// message starting with `0x00` from a ZMTP 3.0 peer). A stale or
    /// unknown key has nothing: [`Cancelled::NotFound`].
    pub fn cancel(&mut self, peer: K, prefix: &[u8]) -> Cancelled {
        let Some(slot) = self.find(peer) else {
            return Cancelled::NotFound;
        };
        let Some(hold) = self.slots[slot].prefixes.get_mut(prefix) else {
            return Cancelled::NotFound;
        };
        if hold.count > 1 {
            hold.count -= 1;
            return Cancelled::Held;
        }
        let pos = hold.pos;
        let s = &mut self.slots[slot];
        s.prefixes.remove(prefix);
        s.cost -= prefix_cost(prefix);
        self.unhold(prefix, pos)
    }

    /// Drops every subscription of `peer` (it disconnected), telling `f`
    /// each prefix it held and what its going changed: XPUB forwards a
    /// cancel for each [`Cancelled::Last`] (or for all, with
    /// `XPUB_VERBOSER`). Returns `false` for an unknown or stale key.
    ///
    /// ```
    /// use monocoque_core::pubsub::{Cancelled, SubscriptionIndex};
    /// use monocoque_core::router::PeerId;
    ///
    /// let (a, b) = (PeerId::from_parts(0, 0), PeerId::from_parts(1, 0));
    /// let mut index = SubscriptionIndex::new();
    /// index.subscribe(a, b"x");
    /// index.subscribe(a, b"y");
    /// index.subscribe(b, b"y");
    /// let mut gone = Vec::new();
    /// index.remove_peer(a, |prefix, what| {
    ///     if what.is_last() {
    ///         gone.push(prefix.to_vec())
    ///     }
    /// });
    /// assert_eq!(gone, [b"x".to_vec()]);
    /// ```
    pub fn remove_peer(&mut self, peer: K, mut f: impl FnMut(&[u8], Cancelled)) -> bool {
        let Some(slot) = self.find(peer) else {
            return false;
        };
        let mut prefixes = std::mem::take(&mut self.slots[slot].prefixes);
        for (prefix, hold) in prefixes.drain() {
            let what = self.unhold(&prefix, hold.pos);
            f(&prefix, what);
        }
        // Keep the emptied map's buffer for the slot's next peer.
        let s = &mut self.slots[slot];
        s.prefixes = prefixes;
        s.key = None;
        s.cost = 0;
        true
    }

    /// Calls `f` once for each peer subscribed to a prefix of `msg` (the
    /// message's first frame), peers of shorter prefixes first. Allocates
    /// nothing.
    #[inline]
    pub fn for_each_match(&mut self, msg: &[u8], mut f: impl FnMut(K)) {
        let stamp = self.next_stamp();
        let slots = &mut self.slots;
        self.trie.walk(msg, |subscribers| {
            for &peer in &subscribers.0 {
                let seen = &mut slots[peer.slot()].seen;
                if *seen != stamp {
                    *seen = stamp;
                    f(peer);
                }
            }
            false
        });
    }

    /// Appends to `out` each peer subscribed to a prefix of `msg`, once.
    /// Reusing `out` across messages keeps matching allocation-free.
    pub fn matches(&mut self, msg: &[u8], out: &mut Vec<K>) {
        self.for_each_match(msg, |peer| out.push(peer));
    }

    /// Whether any peer is subscribed to a prefix of `msg` (a PUB can skip
    /// encoding a message nobody wants).
    pub fn any_match(&self, msg: &[u8]) -> bool {
        self.trie.walk(msg, |subscribers| !subscribers.0.is_empty())
    }

    /// Whether `peer` holds a subscription to exactly `prefix`.
    pub fn contains(&self, peer: K, prefix: &[u8]) -> bool {
        self.find(peer)
            .is_some_and(|slot| self.slots[slot].prefixes.contains_key(prefix))
    }

    /// The prefixes `peer` holds, in no particular order.
    pub fn prefixes(&self, peer: K) -> impl Iterator<Item = &Bytes> + '_ {
        self.find(peer)
            .into_iter()
            .flat_map(|slot| self.slots[slot].prefixes.keys())
    }

    /// What `peer`'s subscriptions cost in memory, as this index counts
    /// it: each prefix's bytes plus [`PREFIX_COST`] (duplicates not
    /// counted; a prefix shared with other peers counted for each). A
    /// publisher caps it per peer, so that a peer that subscribes to
    /// ever more prefixes cannot grow the index without bound.
    ///
    /// ```
    /// use monocoque_core::pubsub::{SubscriptionIndex, PREFIX_COST};
    /// use monocoque_core::router::PeerId;
    ///
    /// let peer = PeerId::from_parts(0, 0);
    /// let mut index = SubscriptionIndex::new();
    /// index.subscribe(peer, b"abc");
    /// index.subscribe(peer, b"abc");
    /// assert_eq!(index.cost(peer), 3 + PREFIX_COST);
    /// index.cancel(peer, b"abc");
    /// assert_eq!(index.cost(peer), 0);
    /// ```
    pub fn cost(&self, peer: K) -> u64 {
        self.find(peer).map_or(0, |slot| self.slots[slot].cost)
    }

    /// How many (peer, prefix) subscriptions are held, duplicates not
    /// counted.
    pub const fn len(&self) -> usize {
        self.holds
    }

    /// Whether no peer subscribes to anything.
    pub const fn is_empty(&self) -> bool {
        self.holds == 0
    }

    /// Takes `peer` out of `prefix`'s subscribers, where it stands at `pos`.
    fn unhold(&mut self, prefix: &[u8], pos: u32) -> Cancelled {
        self.holds -= 1;
        let Some(node) = self.trie.find(prefix) else {
            debug_assert!(false, "a held prefix is in the trie");
            return Cancelled::NotFound;
        };
        let subscribers = &mut self.trie.value_mut(node).0;
        subscribers.swap_remove(pos as usize);
        if let Some(&moved) = subscribers.get(pos as usize) {
            // The last subscriber filled the hole: tell it where it is now.
            if let Some(hold) = self.slots[moved.slot()].prefixes.get_mut(prefix) {
                hold.pos = pos;
            }
        }
        if subscribers.is_empty() {
            self.trie.prune(node);
            Cancelled::Last
        } else {
            Cancelled::Removed
        }
    }

    fn find(&self, peer: K) -> Option<usize> {
        let slot = peer.slot();
        (self.slots.get(slot)?.key == Some(peer)).then_some(slot)
    }

    /// The slot of `peer`, made its own (a stale holder is dropped).
    fn claim(&mut self, peer: K) -> usize {
        let slot = peer.slot();
        if slot >= self.slots.len() {
            self.slots.resize_with(slot + 1, || Slot {
                key: None,
                prefixes: HashMap::new(),
                cost: 0,
                seen: 0,
            });
        }
        match self.slots[slot].key {
            Some(k) if k == peer => {}
            Some(stale) => {
                self.remove_peer(stale, |_, _| {});
                self.slots[slot].key = Some(peer);
            }
            None => self.slots[slot].key = Some(peer),
        }
        slot
    }

    fn next_stamp(&mut self) -> u32 {
        self.stamp = self.stamp.wrapping_add(1);
        if self.stamp == 0 {
            // Wrapped: old stamps could collide with new ones.
            for slot in &mut self.slots {
                slot.seen = 0;
            }
            self.stamp = 1;
        }
        self.stamp
    }

    #[cfg(test)]
    fn check(&self) {
        self.trie.check();
        let mut holds = 0;
        for (i, slot) in self.slots.iter().enumerate() {
            let Some(key) = slot.key else {
                assert!(slot.prefixes.is_empty());
                continue;
            };
            assert_eq!(key.slot(), i);
            for (prefix, hold) in &slot.prefixes {
                holds += 1;
                let node = self.trie.find(prefix).expect("held prefix in trie");
                assert_eq!(self.trie.value(node).0[hold.pos as usize], key);
            }
        }
        assert_eq!(holds, self.holds);
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::router::{PeerId, Peers};
    use proptest::prelude::*;
    use std::collections::{BTreeMap, BTreeSet};

    fn ids(n: usize) -> Vec<PeerId> {
        let mut peers = Peers::new();
        (0..n).map(|_| peers.insert(())).collect()
    }

    fn matching(index: &mut SubscriptionIndex<PeerId>, msg: &[u8]) -> Vec<PeerId> {
        let mut out = Vec::new();
        index.matches(msg, &mut out);
        out.sort();
        out
    }

    #[test]
    fn empty_prefix_matches_everything() {
        let p = ids(1);
        let mut index = SubscriptionIndex::new();
        assert!(!index.any_match(b""));
        index.subscribe(p[0], b"");
        assert_eq!(matching(&mut index, b""), p);
        assert_eq!(matching(&mut index, b"\x00\xff anything"), p);
        assert!(index.any_match(b"x"));
        index.check();
    }

    #[test]
    fn prefixes_match_only_their_messages() {
        let p = ids(3);
        let mut index = SubscriptionIndex::new();
        index.subscribe(p[0], b"ab");
        index.subscribe(p[1], b"abc");
        index.subscribe(p[2], b"b");
        assert_eq!(matching(&mut index, b"a"), []);
        assert_eq!(matching(&mut index, b"ab"), [p[0]]);
        assert_eq!(matching(&mut index, b"abcd"), [p[0], p[1]]);
        assert_eq!(matching(&mut index, b"abd"), [p[0]]);
        assert_eq!(matching(&mut index, b"bcd"), [p[2]]);
        assert_eq!(matching(&mut index, b""), []);
        assert!(!index.any_match(b"c"));
        index.check();
    }

    #[test]
    fn xpub_first_and_last() {
        let p = ids(2);
        let mut index = SubscriptionIndex::new();
        assert!(index.subscribe(p[0], b"t").is_first());
        assert_eq!(index.subscribe(p[1], b"t"), Subscribed::Added);
        assert_eq!(index.subscribe(p[1], b"t"), Subscribed::Duplicate);
        assert_eq!(index.cancel(p[0], b"t"), Cancelled::Removed);
        assert_eq!(index.cancel(p[0], b"t"), Cancelled::NotFound);
        // libzmq's rule: one cancel removes a duplicated subscription.
        assert!(index.cancel(p[1], b"t").is_last());
        assert!(index.is_empty());
        assert!(
            index.subscribe(p[1], b"t").is_first(),
            "gone, so first again"
        );
        index.check();
    }

    #[test]
    fn counted_duplicates_need_as_many_cancels() {
        let p = ids(2);
        let mut index = SubscriptionIndex::with_duplicates(Duplicates::Count);
        assert_eq!(index.duplicates(), Duplicates::Count);
        assert_eq!(index.subscribe(p[0], b"t"), Subscribed::First);
        assert_eq!(index.subscribe(p[0], b"t"), Subscribed::Duplicate);
        assert_eq!(index.subscribe(p[0], b"t"), Subscribed::Duplicate);
        assert_eq!(index.cancel(p[0], b"t"), Cancelled::Held);
        assert_eq!(index.cancel(p[0], b"t"), Cancelled::Held);
        assert_eq!(matching(&mut index, b"tt"), [p[0]]);
        assert_eq!(index.cancel(p[0], b"t"), Cancelled::Last);
        assert_eq!(matching(&mut index, b"tt"), []);
        index.check();
    }

    #[test]
    fn peer_with_many_matching_prefixes_is_visited_once() {
        let p = ids(2);
        let mut index = SubscriptionIndex::new();
        for prefix in [&b""[..], b"a", b"ab", b"abc", b"abcd"] {
            index.subscribe(p[0], prefix);
        }
        index.subscribe(p[1], b"abc");
        let mut order = Vec::new();
        index.for_each_match(b"abcdef", |k| order.push(k));
        assert_eq!(order, [p[0], p[1]]);
        // Stamps: the next match sees everyone afresh.
        order.clear();
        index.for_each_match(b"abcdef", |k| order.push(k));
        assert_eq!(order, [p[0], p[1]]);
    }

    #[test]
    fn stamp_wrap_resets_marks() {
        let p = ids(1);
        let mut index = SubscriptionIndex::new();
        index.subscribe(p[0], b"a");
        index.stamp = u32::MAX - 1;
        for _ in 0..4 {
            assert_eq!(matching(&mut index, b"a"), p);
        }
    }

    #[test]
    fn remove_peer_reports_what_went() {
        let p = ids(2);
        let mut index = SubscriptionIndex::new();
        index.subscribe(p[0], b"a");
        index.subscribe(p[0], b"b");
        index.subscribe(p[1], b"b");
        let mut what = BTreeMap::new();
        assert!(index.remove_peer(p[0], |prefix, c| {
            what.insert(prefix.to_vec(), c);
        }));
        assert_eq!(
            what,
            BTreeMap::from([
                (b"a".to_vec(), Cancelled::Last),
                (b"b".to_vec(), Cancelled::Removed)
            ])
        );
        assert!(!index.remove_peer(p[0], |_, _| {}));
        assert_eq!(matching(&mut index, b"a"), []);
        assert_eq!(matching(&mut index, b"b"), [p[1]]);
        assert_eq!(index.len(), 1);
        index.check();
    }

    #[test]
    fn ghost_subscriptions_do_not_reach_successor() {
        let ghost = PeerId::from_parts(0, 0);
        let successor = PeerId::from_parts(0, 1);
        let mut index = SubscriptionIndex::new();
        index.subscribe(ghost, b"secret");
        // The successor connects in the ghost's slot without the ghost
        // having been removed: it must not inherit "secret".
        assert_eq!(index.subscribe(successor, b"public"), Subscribed::First);
        assert_eq!(matching(&mut index, b"secret"), []);
        assert_eq!(index.cancel(ghost, b"secret"), Cancelled::NotFound);
        assert!(!index.contains(ghost, b"secret"));
        assert!(index.contains(successor, b"public"));
        assert_eq!(
            index.prefixes(successor).collect::<Vec<_>>(),
            [&Bytes::from_static(b"public")]
        );
        index.check();
    }

    #[test]
    fn prefix_is_copied_not_kept() {
        // Subscribing from a slice of a big received buffer must not keep
        // the buffer alive.
        let big = Bytes::from(vec![b'x'; 1 << 16]);
        let p = ids(1);
        let mut index = SubscriptionIndex::new();
        index.subscribe(p[0], &big[..4]);
        assert!(
            big.is_unique(),
            "the index holds no reference to the buffer"
        );
    }

    #[derive(Debug, Clone)]
    enum Op {
        Subscribe(u32, Vec<u8>),
        Cancel(u32, Vec<u8>),
        Remove(u32),
        Match(Vec<u8>),
        Reconnect(u32),
    }

    /// Short prefixes over a 3-letter alphabet: plenty of shared prefixes,
    /// splits and merges.
    fn bytes(max: usize) -> impl Strategy<Value = Vec<u8>> {
        proptest::collection::vec(prop_oneof![Just(b'a'), Just(b'b'), Just(b'c')], 0..max)
    }

    fn op() -> impl Strategy<Value = Op> {
        prop_oneof![
            4 => (0u32..5, bytes(5)).prop_map(|(s, p)| Op::Subscribe(s, p)),
            3 => (0u32..5, bytes(5)).prop_map(|(s, p)| Op::Cancel(s, p)),
            1 => (0u32..5).prop_map(Op::Remove),
            3 => bytes(8).prop_map(Op::Match),
            1 => (0u32..5).prop_map(Op::Reconnect),
        ]
    }

    /// The naive model: (peer, prefix) -> count, matched by scanning all.
    #[derive(Default)]
    struct Model {
        holds: BTreeMap<(PeerId, Vec<u8>), u32>,
    }

    impl Model {
        fn holders(&self, prefix: &[u8]) -> usize {
            self.holds.keys().filter(|(_, p)| p == prefix).count()
        }
        fn drop_slot(&mut self, slot: u32, keep: PeerId) {
            self.holds
                .retain(|(k, _), _| k.index() != slot || *k == keep);
        }
        fn subscribe(&mut self, peer: PeerId, prefix: &[u8], dup: Duplicates) -> Subscribed {
            self.drop_slot(peer.index(), peer);
            if let Some(c) = self.holds.get_mut(&(peer, prefix.to_vec())) {
                if dup == Duplicates::Count {
                    *c += 1;
                }
                return Subscribed::Duplicate;
            }
            let first = self.holders(prefix) == 0;
            self.holds.insert((peer, prefix.to_vec()), 1);
            if first {
                Subscribed::First
            } else {
                Subscribed::Added
            }
        }
        fn cancel(&mut self, peer: PeerId, prefix: &[u8]) -> Cancelled {
            let key = (peer, prefix.to_vec());
            match self.holds.get_mut(&key) {
                None => Cancelled::NotFound,
                Some(c) if *c > 1 => {
                    *c -= 1;
                    Cancelled::Held
                }
                Some(_) => {
                    self.holds.remove(&key);
                    if self.holders(prefix) == 0 {
                        Cancelled::Last
                    } else {
                        Cancelled::Removed
                    }
                }
            }
        }
        fn remove(&mut self, peer: PeerId) -> BTreeMap<Vec<u8>, Cancelled> {
            let mine: Vec<Vec<u8>> = self
                .holds
                .keys()
                .filter(|(k, _)| *k == peer)
                .map(|(_, p)| p.clone())
                .collect();
            let mut out = BTreeMap::new();
            for p in mine {
                self.holds.remove(&(peer, p.clone()));
                let what = if self.holders(&p) == 0 {
                    Cancelled::Last
                } else {
                    Cancelled::Removed
                };
                out.insert(p, what);
            }
            out
        }
        fn matches(&self, msg: &[u8]) -> Vec<PeerId> {
            let set: BTreeSet<PeerId> = self
                .holds
                .keys()
                .filter(|(_, p)| msg.starts_with(p))
                .map(|(k, _)| *k)
                .collect();
            set.into_iter().collect()
        }
    }

    fn run(ops: Vec<Op>, dup: Duplicates) -> Result<(), TestCaseError> {
        let mut index = SubscriptionIndex::with_duplicates(dup);
        let mut model = Model::default();
        let mut epochs = [0u32; 5];
        let id = |epochs: &[u32; 5], s: u32| PeerId::from_parts(s, epochs[s as usize]);
        for op in ops {
            match op {
                Op::Subscribe(s, p) => {
                    let k = id(&epochs, s);
                    prop_assert_eq!(index.subscribe(k, &p), model.subscribe(k, &p, dup));
                }
                Op::Cancel(s, p) => {
                    let k = id(&epochs, s);
                    prop_assert_eq!(index.cancel(k, &p), model.cancel(k, &p));
                }
                Op::Remove(s) => {
                    let k = id(&epochs, s);
                    let mut got = BTreeMap::new();
                    index.remove_peer(k, |p, c| {
                        got.insert(p.to_vec(), c);
                    });
                    prop_assert_eq!(got, model.remove(k));
                }
                Op::Match(m) => {
                    prop_assert_eq!(matching(&mut index, &m), model.matches(&m));
                    prop_assert_eq!(index.any_match(&m), !model.matches(&m).is_empty());
                }
                Op::Reconnect(s) => epochs[s as usize] += 1,
            }
            prop_assert_eq!(index.len(), model.holds.len());
            index.check();
        }
        Ok(())
    }

    proptest! {
        #[test]
        fn matches_model(ops in proptest::collection::vec(op(), 0..200)) {
            run(ops, Duplicates::Ignore)?;
        }

        #[test]
        fn matches_model_counted(ops in proptest::collection::vec(op(), 0..200)) {
            run(ops, Duplicates::Count)?;
        }
    }
}
