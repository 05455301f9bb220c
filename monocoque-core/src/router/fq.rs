//! Fair queueing for inbound messages (PULL, DEALER, ROUTER, SUB, ...).

use super::peer::PeerKey;
use super::ring::Ring;

/// Round robin over the peers that have messages pending.
///
/// Each attached peer is *active* (its inbound pipe holds something) or
/// *inactive* (its pipe is empty). [`next`](Self::next) names the active
/// peers in turn, so one busy peer cannot starve the others; a peer that
/// becomes active again queues up behind the peers already waiting.
///
/// A message of several frames must be taken whole from one peer. When the
/// caller takes frames one at a time, it [`lock`](Self::lock)s the queue on
/// the peer after a frame with the MORE flag, and [`unlock`](Self::unlock)s
/// it after the last frame; while locked, `next` returns only that peer
/// (and `None` while that peer has nothing, so that no other peer's frames
/// get interleaved). A caller that takes whole messages never locks.
///
/// Every operation is O(1) and allocation-free once the table has grown to
/// the largest peer slot.
///
/// ```
/// use monocoque_core::router::{FairQueue, Peers};
///
/// let mut peers = Peers::new();
/// let (a, b) = (peers.insert(()), peers.insert(()));
/// let mut fq = FairQueue::new();
/// fq.attach(a);
/// fq.attach(b);
/// assert_eq!(fq.next(), None); // nothing pending
/// fq.activate(a);
/// fq.activate(b);
/// assert_eq!(fq.next(), Some(a));
/// fq.lock(a); // a's first frame had MORE set: stay on a
/// assert_eq!(fq.next(), Some(a));
/// fq.unlock(); // that was the last frame
/// assert_eq!(fq.next(), Some(b));
/// fq.deactivate(b); // b's pipe ran dry
/// assert_eq!(fq.next(), Some(a));
/// ```
#[derive(Debug, Clone)]
pub struct FairQueue<K> {
    ring: Ring<K>,
    locked: Option<K>,
}

impl<K: PeerKey> Default for FairQueue<K> {
    fn default() -> Self {
        Self::new()
    }
}

impl<K: PeerKey> FairQueue<K> {
    /// An empty fair queue.
    pub const fn new() -> Self {
        Self {
            ring: Ring::new(),
            locked: None,
        }
    }

    /// Adds a peer with nothing pending yet (call
    /// [`activate`](Self::activate) when something arrives). Returns `false`
    /// if it was attached already (then nothing changes). A stale key in the
    /// same slot (the peer's predecessor, never detached) is detached first.
    pub fn attach(&mut self, peer: K) -> bool {
        match self.ring.attach(peer, false) {
            super::ring::Attached::Already => false,
            super::ring::Attached::New => true,
            super::ring::Attached::Replaced(stale) => {
                if self.locked == Some(stale) {
                    self.locked = None;
                }
                true
            }
        }
    }

    /// Removes a peer (it disconnected). If the queue was locked on it, the
    /// lock is released: check [`locked`](Self::locked) first to learn that a
    /// multipart message was cut short. Returns `false` for an unknown or
    /// stale key.
    pub fn detach(&mut self, peer: K) -> bool {
        if self.locked == Some(peer) {
            self.locked = None;
        }
        self.ring.detach(peer)
    }

    /// Marks the peer as having something to read; a peer that was inactive
    /// joins the back of the line. Returns `false` for an unknown or stale
    /// key.
    pub fn activate(&mut self, peer: K) -> bool {
        self.ring.link(peer)
    }

    /// Marks the peer's pipe as empty: [`next`](Self::next) skips it until it
    /// is activated again. A lock on the peer stays. Returns `false` for an
    /// unknown or stale key.
    pub fn deactivate(&mut self, peer: K) -> bool {
        self.ring.unlink(peer)
    }

    /// The peer to read from now.
    ///
    /// Unlocked, this is the next active peer in turn (taking its turn), or
    /// `None` if nothing is pending. Locked, it is the locked peer if it is
    /// active, and `None` otherwise: the rest of its message has to come
    /// first.
    #[inline]
    #[allow(clippy::should_implement_trait)] // not an iterator: it never ends
    pub fn next(&mut self) -> Option<K> {
        match self.locked {
            Some(peer) => self.ring.is_linked(peer).then_some(peer),
            None => self.ring.advance(),
        }
    }

    /// The peer [`next`](Self::next) would return, without taking a turn.
    pub fn peek(&self) -> Option<K> {
        match self.locked {
            Some(peer) => self.ring.is_linked(peer).then_some(peer),
            None => self.ring.peek(),
        }
    }

    /// Keeps [`next`](Self::next) on `peer` until [`unlock`](Self::unlock):
    /// the caller took a frame with the MORE flag from it. Returns `false`
    /// (and changes nothing) for an unknown or stale key.
    pub fn lock(&mut self, peer: K) -> bool {
        if self.ring.contains(peer) {
            self.locked = Some(peer);
            true
        } else {
            false
        }
    }

    /// Releases the lock: the last frame of the message was taken. Turns go
    /// on from where they were when the locked peer got its turn.
    pub fn unlock(&mut self) {
        self.locked = None;
    }

    /// The peer the queue is locked on, if a multipart message is being
    /// taken.
    pub const fn locked(&self) -> Option<K> {
        self.locked
    }

    /// Whether the peer is attached (this very epoch).
    pub fn contains(&self, peer: K) -> bool {
        self.ring.contains(peer)
    }

    /// Whether the peer is attached and has something pending.
    pub fn is_active(&self, peer: K) -> bool {
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

    /// How many attached peers have something pending.
    pub const fn active_len(&self) -> usize {
        self.ring.linked()
    }

    /// The active peers in the order they will get their turns (ignoring a
    /// lock).
    pub fn active(&self) -> impl Iterator<Item = K> + '_ {
        self.ring.iter_linked()
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::router::{PeerId, Peers};
    use proptest::prelude::*;
    use std::collections::{HashMap, VecDeque};

    fn setup(n: usize) -> (Peers<()>, Vec<PeerId>, FairQueue<PeerId>) {
        let mut peers = Peers::new();
        let ids: Vec<_> = (0..n).map(|_| peers.insert(())).collect();
        let mut fq = FairQueue::new();
        for &id in &ids {
            assert!(fq.attach(id));
        }
        (peers, ids, fq)
    }

    #[test]
    fn round_robin_across_active_peers() {
        let (_, ids, mut fq) = setup(4);
        assert_eq!(fq.next(), None);
        for &id in &ids {
            assert!(fq.activate(id));
        }
        let picks: Vec<_> = (0..8).map(|_| fq.next().unwrap()).collect();
        assert_eq!(&picks[..4], &ids[..]);
        assert_eq!(&picks[4..], &ids[..]);
        assert_eq!(fq.active_len(), 4);
    }

    #[test]
    fn busy_peer_cannot_starve_others() {
        // Peer 0 always has messages; peers 1 and 2 have one each.
        let (_, ids, mut fq) = setup(3);
        let mut pending: HashMap<PeerId, usize> = [(ids[0], 100), (ids[1], 1), (ids[2], 1)].into();
        for &id in &ids {
            fq.activate(id);
        }
        let mut order = Vec::new();
        while order.len() < 6 {
            let p = fq.next().unwrap();
            order.push(p);
            let left = pending.get_mut(&p).unwrap();
            *left -= 1;
            if *left == 0 {
                fq.deactivate(p);
            }
        }
        assert_eq!(order, [ids[0], ids[1], ids[2], ids[0], ids[0], ids[0]]);
    }

    #[test]
    fn multipart_is_taken_whole() {
        let (_, ids, mut fq) = setup(3);
        for &id in &ids {
            fq.activate(id);
        }
        let first = fq.next().unwrap();
        assert_eq!(first, ids[0]);
        assert!(fq.lock(first));
        for _ in 0..5 {
            assert_eq!(fq.next(), Some(first));
            assert_eq!(fq.peek(), Some(first));
        }
        // The rest of the message has not arrived yet: wait for it rather
        // than read another peer's frames.
        fq.deactivate(first);
        assert_eq!(fq.next(), None);
        assert_eq!(fq.peek(), None);
        fq.activate(first);
        assert_eq!(fq.next(), Some(first));
        fq.unlock();
        assert_eq!(fq.locked(), None);
        // Turns go on after the peer that had the long message.
        assert_eq!(fq.next(), Some(ids[1]));
        assert_eq!(fq.next(), Some(ids[2]));
    }

    #[test]
    fn detaching_the_locked_peer_releases_the_lock() {
        let (_, ids, mut fq) = setup(2);
        fq.activate(ids[0]);
        fq.activate(ids[1]);
        let p = fq.next().unwrap();
        fq.lock(p);
        assert_eq!(fq.locked(), Some(p));
        assert!(fq.detach(p));
        assert_eq!(fq.locked(), None);
        assert_eq!(fq.next(), Some(ids[1]));
        assert!(!fq.lock(p), "a detached peer cannot be locked on");
    }

    #[test]
    fn stale_handles_are_rejected() {
        let (mut slab, ids, mut fq) = setup(2);
        fq.activate(ids[0]);
        fq.lock(ids[0]);
        slab.remove(ids[0]);
        let successor = slab.insert(());
        assert_eq!(successor.index(), ids[0].index());
        assert!(!fq.activate(successor), "not attached yet");
        assert!(fq.attach(successor), "pushes the ghost out");
        assert_eq!(fq.locked(), None, "the ghost's lock went with it");
        assert!(!fq.is_active(successor));
        assert!(!fq.activate(ids[0]));
        assert!(!fq.deactivate(ids[0]));
        assert!(!fq.detach(ids[0]));
        assert!(!fq.contains(ids[0]));
        assert_eq!(fq.len(), 2);
        assert!(!fq.is_empty());
        fq.activate(ids[1]);
        assert_eq!(fq.active().collect::<Vec<_>>(), [ids[1]]);
    }

    #[derive(Debug, Clone, Copy)]
    struct Who {
        slot: u32,
        stale: bool,
    }

    #[derive(Debug, Clone)]
    enum Op {
        Attach(Who),
        Detach(Who),
        Activate(Who),
        Deactivate(Who),
        Lock(Who),
        Unlock,
        Next,
        Reconnect(u32),
    }

    fn who() -> impl Strategy<Value = Who> {
        (0u32..6, proptest::bool::weighted(0.2)).prop_map(|(slot, stale)| Who { slot, stale })
    }

    fn op() -> impl Strategy<Value = Op> {
        prop_oneof![
            who().prop_map(Op::Attach),
            who().prop_map(Op::Detach),
            who().prop_map(Op::Activate),
            who().prop_map(Op::Activate),
            who().prop_map(Op::Deactivate),
            who().prop_map(Op::Lock),
            Just(Op::Unlock),
            Just(Op::Next),
            Just(Op::Next),
            Just(Op::Next),
            (0u32..6).prop_map(Op::Reconnect),
        ]
    }

    fn resolve(epochs: &[u32; 6], who: Who) -> PeerId {
        let epoch = epochs[who.slot as usize];
        let epoch = if who.stale {
            epoch.saturating_sub(1)
        } else {
            epoch
        };
        PeerId::from_parts(who.slot, epoch)
    }

    /// The naive model: attached peers in a Vec, active peers in a queue
    /// whose front has the next turn, and the lock.
    #[derive(Default)]
    struct Model {
        attached: Vec<PeerId>,
        line: VecDeque<PeerId>,
        locked: Option<PeerId>,
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
            true
        }
        fn detach(&mut self, id: PeerId) -> bool {
            if self.locked == Some(id) {
                self.locked = None;
            }
            self.line.retain(|&p| p != id);
            let before = self.attached.len();
            self.attached.retain(|&p| p != id);
            before != self.attached.len()
        }
        fn activate(&mut self, id: PeerId) -> bool {
            if !self.attached.contains(&id) {
                return false;
            }
            if !self.line.contains(&id) {
                self.line.push_back(id);
            }
            true
        }
        fn deactivate(&mut self, id: PeerId) -> bool {
            self.line.retain(|&p| p != id);
            self.attached.contains(&id)
        }
        fn lock(&mut self, id: PeerId) -> bool {
            if self.attached.contains(&id) {
                self.locked = Some(id);
                true
            } else {
                false
            }
        }
        fn next(&mut self) -> Option<PeerId> {
            if let Some(l) = self.locked {
                return self.line.contains(&l).then_some(l);
            }
            let id = self.line.pop_front()?;
            self.line.push_back(id);
            Some(id)
        }
    }

    proptest! {
        #[test]
        fn matches_model(ops in proptest::collection::vec(op(), 0..300)) {
            let mut fq = FairQueue::new();
            let mut model = Model::default();
            let mut epochs = [0u32; 6];
            for op in ops {
                match op {
                    Op::Attach(w) => {
                        let id = resolve(&epochs, w);
                        prop_assert_eq!(fq.attach(id), model.attach(id));
                    }
                    Op::Detach(w) => {
                        let id = resolve(&epochs, w);
                        prop_assert_eq!(fq.detach(id), model.detach(id));
                    }
                    Op::Activate(w) => {
                        let id = resolve(&epochs, w);
                        prop_assert_eq!(fq.activate(id), model.activate(id));
                    }
                    Op::Deactivate(w) => {
                        let id = resolve(&epochs, w);
                        prop_assert_eq!(fq.deactivate(id), model.deactivate(id));
                    }
                    Op::Lock(w) => {
                        let id = resolve(&epochs, w);
                        prop_assert_eq!(fq.lock(id), model.lock(id));
                    }
                    Op::Unlock => {
                        fq.unlock();
                        model.locked = None;
                    }
                    Op::Next => prop_assert_eq!(fq.next(), model.next()),
                    Op::Reconnect(s) => epochs[s as usize] += 1,
                }
                prop_assert_eq!(fq.locked(), model.locked);
                prop_assert_eq!(fq.len(), model.attached.len());
                prop_assert_eq!(fq.active_len(), model.line.len());
                let order: Vec<_> = fq.active().collect();
                let expected: Vec<_> = model.line.iter().copied().collect();
                prop_assert_eq!(order, expected);
            }
        }
    }
}
