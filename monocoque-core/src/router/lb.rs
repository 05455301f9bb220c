//! Load balancing for outbound messages (PUSH, DEALER, REQ).

use super::peer::PeerKey;
use super::ring::Ring;

/// Round robin over the peers whose pipes have room.
///
/// Each attached peer is either *ready* (its pipe has room) or *blocked*
/// (its pipe reached the high-water mark). [`next`](Self::next) hands out the
/// ready peers in turn; a blocked peer is skipped until it is unblocked, and
/// then it queues up behind every peer already waiting for a turn. Between
/// two turns of one peer, every other peer that stayed ready has exactly one.
/// Every operation is O(1) and allocation-free once the table has grown to
/// the largest peer slot.
///
/// The caller sends a whole message (all its frames) to the peer `next`
/// returned; it marks a peer blocked when its pipe refuses a message, and
/// unblocked when the pipe drains.
///
/// ```
/// use monocoque_core::router::{LoadBalancer, Peers};
///
/// let mut peers = Peers::new();
/// let (a, b, c) = (peers.insert(()), peers.insert(()), peers.insert(()));
/// let mut lb = LoadBalancer::new();
/// lb.attach(a);
/// lb.attach(b);
/// lb.attach(c);
/// assert_eq!(lb.next(), Some(a));
/// lb.block(b); // b's pipe is full
/// assert_eq!(lb.next(), Some(c));
/// assert_eq!(lb.next(), Some(a));
/// lb.unblock(b); // b has room again: it queues behind c and a
/// assert_eq!(lb.next(), Some(c));
/// assert_eq!(lb.next(), Some(a));
/// assert_eq!(lb.next(), Some(b));
/// lb.detach(a); // a disconnected
/// assert_eq!(lb.next(), Some(c));
/// assert_eq!(lb.next(), Some(b));
/// ```
#[derive(Debug, Clone)]
pub struct LoadBalancer<K> {
    ring: Ring<K>,
}

impl<K: PeerKey> Default for LoadBalancer<K> {
    fn default() -> Self {
        Self::new()
    }
}

impl<K: PeerKey> LoadBalancer<K> {
    /// An empty load balancer.
    pub const fn new() -> Self {
        Self { ring: Ring::new() }
    }

    /// Adds a peer, ready to take messages; it gets its turn after the peers
    /// already ready. Returns `false` if it was attached already (then
    /// nothing changes). A stale key in the same slot (the peer's
    /// predecessor, never detached) is detached first.
    pub fn attach(&mut self, peer: K) -> bool {
        self.ring.attach(peer)
    }

    /// Removes a peer (it disconnected). Returns `false` for an unknown or
    /// stale key.
    pub fn detach(&mut self, peer: K) -> bool {
        self.ring.detach(peer)
    }

    /// Marks the peer's pipe full: [`next`](Self::next) skips it until
    /// [`unblock`](Self::unblock). Returns `false` for an unknown or stale
    /// key.
    pub fn block(&mut self, peer: K) -> bool {
        self.ring.unlink(peer)
    }

    /// Marks the peer's pipe as having room again. A peer that was blocked
    /// joins the back of the line. Returns `false` for an unknown or stale
    /// key.
    pub fn unblock(&mut self, peer: K) -> bool {
        self.ring.link(peer)
    }

    /// The peer to send the next message to, taking its turn; `None` if no
    /// peer has room (a blocking pattern waits, a non-blocking send fails
    /// with `WouldBlock`).
    #[inline]
    #[allow(clippy::should_implement_trait)] // not an iterator: it never ends
    pub fn next(&mut self) -> Option<K> {
        self.ring.advance()
    }

    /// The peer [`next`](Self::next) would return, without taking its turn.
    pub fn peek(&self) -> Option<K> {
        self.ring.peek()
    }

    /// Whether the peer is attached (this very epoch).
    pub fn contains(&self, peer: K) -> bool {
        self.ring.contains(peer)
    }

    /// Whether the peer is attached and not blocked.
    pub fn is_ready(&self, peer: K) -> bool {
        self.ring.is_linked(peer)
    }

    /// How many peers are attached.
    pub const fn len(&self) -> usize {
        self.ring.members()
    }

    /// Whether no peer is attached.
    pub const fn is_empty(&self) -> bool {
        self.ring.members() == 0
    }

    /// How many attached peers are ready.
    pub const fn ready_len(&self) -> usize {
        self.ring.linked()
    }

    /// The ready peers in the order they will get their turns.
    pub fn ready(&self) -> impl Iterator<Item = K> + '_ {
        self.ring.iter_linked()
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::router::{PeerId, Peers};
    use proptest::prelude::*;
    use std::collections::VecDeque;

    fn peers(n: usize) -> (Peers<()>, Vec<PeerId>) {
        let mut peers = Peers::new();
        let ids = (0..n).map(|_| peers.insert(())).collect();
        (peers, ids)
    }

    #[test]
    fn round_robin_across_n_peers() {
        let (_, ids) = peers(5);
        let mut lb = LoadBalancer::new();
        for &id in &ids {
            assert!(lb.attach(id));
        }
        assert!(!lb.attach(ids[0]), "attaching twice changes nothing");
        let picks: Vec<_> = (0..15).map(|_| lb.next().unwrap()).collect();
        for round in picks.chunks(5) {
            assert_eq!(round, &ids[..]);
        }
    }

    #[test]
    fn blocked_peers_are_skipped() {
        let (_, ids) = peers(4);
        let mut lb = LoadBalancer::new();
        ids.iter().for_each(|&id| {
            lb.attach(id);
        });
        assert!(lb.block(ids[1]));
        assert!(lb.block(ids[3]));
        assert!(!lb.is_ready(ids[1]));
        assert_eq!(lb.ready_len(), 2);
        let picks: Vec<_> = (0..6).map(|_| lb.next().unwrap()).collect();
        assert_eq!(picks, [ids[0], ids[2], ids[0], ids[2], ids[0], ids[2]]);
        lb.block(ids[0]);
        lb.block(ids[2]);
        assert_eq!(lb.next(), None, "every pipe full");
        assert_eq!(lb.peek(), None);
        lb.unblock(ids[3]);
        assert_eq!(lb.next(), Some(ids[3]));
        assert_eq!(lb.next(), Some(ids[3]));
    }

    #[test]
    fn unblocked_peer_waits_for_those_in_line() {
        let (_, ids) = peers(3);
        let mut lb = LoadBalancer::new();
        ids.iter().for_each(|&id| {
            lb.attach(id);
        });
        lb.block(ids[0]);
        lb.unblock(ids[0]);
        // ids[0] was first in line; after the hiccup it is last.
        let order: Vec<_> = lb.ready().collect();
        assert_eq!(order, [ids[1], ids[2], ids[0]]);
        assert_eq!(lb.peek(), Some(ids[1]));
        assert_eq!(lb.next(), Some(ids[1]));
    }

    #[test]
    fn removal_and_readd_stay_fair() {
        let (mut slab, ids) = peers(3);
        let mut lb = LoadBalancer::new();
        ids.iter().for_each(|&id| {
            lb.attach(id);
        });
        assert_eq!(lb.next(), Some(ids[0]));
        // The peer whose turn is next leaves: the turn passes to the one after.
        assert!(lb.detach(ids[1]));
        assert_eq!(lb.next(), Some(ids[2]));
        // It reconnects under a new epoch and queues at the back.
        slab.remove(ids[1]);
        let again = slab.insert(());
        assert_eq!(again.index(), ids[1].index());
        assert!(lb.attach(again));
        assert_eq!(lb.next(), Some(ids[0]));
        assert_eq!(lb.next(), Some(ids[2]));
        assert_eq!(lb.next(), Some(again));
        assert_eq!(lb.next(), Some(ids[0]));
        assert_eq!(lb.len(), 3);
    }

    #[test]
    fn stale_handles_are_rejected() {
        let (mut slab, ids) = peers(2);
        let mut lb = LoadBalancer::new();
        lb.attach(ids[0]);
        lb.attach(ids[1]);
        slab.remove(ids[0]);
        let successor = slab.insert(());
        // The successor is attached without the ghost being detached first:
        // the ghost is pushed out, and its handle no longer works.
        assert!(lb.attach(successor));
        assert_eq!(lb.len(), 2);
        assert!(!lb.contains(ids[0]));
        assert!(!lb.block(ids[0]));
        assert!(!lb.detach(ids[0]));
        assert!(lb.is_ready(successor));
        let picks: Vec<_> = (0..4).map(|_| lb.next().unwrap()).collect();
        assert_eq!(picks, [ids[1], successor, ids[1], successor]);
        assert!(!lb.is_empty());
    }

    /// A peer as the operations name it: a slot, and whether to use the
    /// slot's current epoch or the one before (a stale handle).
    #[derive(Debug, Clone, Copy)]
    struct Who {
        slot: u32,
        stale: bool,
    }

    #[derive(Debug, Clone)]
    enum Op {
        Attach(Who),
        Detach(Who),
        Block(Who),
        Unblock(Who),
        Next,
        /// The slot's peer reconnects: its epoch moves on (whether or not
        /// the old handle was detached).
        Reconnect(u32),
    }

    fn who() -> impl Strategy<Value = Who> {
        (0u32..8, proptest::bool::weighted(0.2)).prop_map(|(slot, stale)| Who { slot, stale })
    }

    fn op() -> impl Strategy<Value = Op> {
        prop_oneof![
            who().prop_map(Op::Attach),
            who().prop_map(Op::Detach),
            who().prop_map(Op::Block),
            who().prop_map(Op::Unblock),
            (0u32..8).prop_map(Op::Reconnect),
            Just(Op::Next),
            Just(Op::Next),
            Just(Op::Next),
        ]
    }

    fn resolve(epochs: &[u32; 8], who: Who) -> PeerId {
        let epoch = epochs[who.slot as usize];
        let epoch = if who.stale {
            epoch.saturating_sub(1)
        } else {
            epoch
        };
        PeerId::from_parts(who.slot, epoch)
    }

    /// The naive model: attached peers in a Vec, ready peers in a queue whose
    /// front is the next turn.
    #[derive(Default)]
    struct Model {
        attached: Vec<PeerId>,
        line: VecDeque<PeerId>,
    }

    impl Model {
        fn attach(&mut self, id: PeerId) -> bool {
            if self.attached.contains(&id) {
                return false;
            }
            if let Some(stale) = self
                .attached
                .iter()
                .copied()
                .find(|s| s.index() == id.index())
            {
                self.detach(stale);
            }
            self.attached.push(id);
            self.line.push_back(id);
            true
        }
        fn detach(&mut self, id: PeerId) -> bool {
            self.line.retain(|&p| p != id);
            let before = self.attached.len();
            self.attached.retain(|&p| p != id);
            before != self.attached.len()
        }
        fn block(&mut self, id: PeerId) -> bool {
            self.line.retain(|&p| p != id);
            self.attached.contains(&id)
        }
        fn unblock(&mut self, id: PeerId) -> bool {
            if !self.attached.contains(&id) {
                return false;
            }
            if !self.line.contains(&id) {
                self.line.push_back(id);
            }
            true
        }
        fn next(&mut self) -> Option<PeerId> {
            let id = self.line.pop_front()?;
            self.line.push_back(id);
            Some(id)
        }
    }

    proptest! {
        #[test]
        fn matches_model(ops in proptest::collection::vec(op(), 0..300)) {
            let mut lb = LoadBalancer::new();
            let mut model = Model::default();
            let mut epochs = [0u32; 8];
            for op in ops {
                match op {
                    Op::Attach(w) => {
                        let id = resolve(&epochs, w);
                        prop_assert_eq!(lb.attach(id), model.attach(id));
                    }
                    Op::Detach(w) => {
                        let id = resolve(&epochs, w);
                        prop_assert_eq!(lb.detach(id), model.detach(id));
                    }
                    Op::Block(w) => {
                        let id = resolve(&epochs, w);
                        prop_assert_eq!(lb.block(id), model.block(id));
                    }
                    Op::Unblock(w) => {
                        let id = resolve(&epochs, w);
                        prop_assert_eq!(lb.unblock(id), model.unblock(id));
                    }
                    Op::Next => prop_assert_eq!(lb.next(), model.next()),
                    Op::Reconnect(s) => epochs[s as usize] += 1,
                }
                prop_assert_eq!(lb.len(), model.attached.len());
                prop_assert_eq!(lb.ready_len(), model.line.len());
                prop_assert_eq!(lb.peek(), model.line.front().copied());
                let order: Vec<_> = lb.ready().collect();
                let expected: Vec<_> = model.line.iter().copied().collect();
                prop_assert_eq!(order, expected);
            }
        }
    }
}
