//! The round-robin ring behind the load balancer.
//!
//! Members are attached peers; some of them are *linked* into a circular
//! doubly linked list (the peers with room). The links live in a `Vec`
//! indexed by [`PeerKey::slot`], so every operation is O(1) and nothing
//! allocates once the table has grown to the largest slot.
//!
//! Order (the fairness argument): think of the linked peers as a queue whose
//! front is the cursor. [`Ring::advance`] takes the front and puts it at the
//! back; [`Ring::link`] puts a peer at the back; [`Ring::unlink`] takes a peer
//! out wherever it stands. So between two turns of one peer every other peer
//! that stayed linked has exactly one turn, and a peer that comes back waits
//! for everyone already in line.

use super::peer::PeerKey;

/// No slot: the end of a list, or an empty ring.
const NIL: u32 = u32::MAX;

#[derive(Debug, Clone)]
struct Link<K> {
    key: Option<K>,
    linked: bool,
    prev: u32,
    next: u32,
}

impl<K> Link<K> {
    const EMPTY: Self = Self {
        key: None,
        linked: false,
        prev: NIL,
        next: NIL,
    };
}

#[derive(Debug, Clone)]
pub(crate) struct Ring<K> {
    links: Vec<Link<K>>,
    /// The slot whose turn is next, `NIL` when nothing is linked.
    cursor: u32,
    members: usize,
    linked: usize,
}

impl<K: PeerKey> Ring<K> {
    pub(crate) const fn new() -> Self {
        Self {
            links: Vec::new(),
            cursor: NIL,
            members: 0,
            linked: 0,
        }
    }

    fn slot_of(key: K) -> u32 {
        // A slot past u32::MAX - 1 cannot be stored; the tables are indexed
        // by slab slots, which are u32.
        u32::try_from(key.slot())
            .ok()
            .filter(|&s| s != NIL)
            .expect("peer slot beyond u32::MAX - 1")
    }

    /// The link of `key` if `key` (this very epoch) is attached.
    fn find(&self, key: K) -> Option<u32> {
        let slot = key.slot();
        match self.links.get(slot) {
            Some(link) if link.key == Some(key) => Some(slot as u32),
            _ => None,
        }
    }

    /// Attaches `key` and links it at the back of the line; `false` (and
    /// nothing changes) if it was attached already. Another key in the same
    /// slot (a stale epoch) is detached first.
    pub(crate) fn attach(&mut self, key: K) -> bool {
        let slot = Self::slot_of(key);
        let i = slot as usize;
        if i >= self.links.len() {
            self.links.resize(i + 1, Link::EMPTY);
        }
        if let Some(held) = self.links[i].key {
            if held == key {
                return false;
            }
            self.detach(held); // a stale epoch of this slot
        }
        self.links[i].key = Some(key);
        self.members += 1;
        self.link_slot(slot);
        true
    }

    pub(crate) fn detach(&mut self, key: K) -> bool {
        let Some(slot) = self.find(key) else {
            return false;
        };
        self.unlink_slot(slot);
        self.links[slot as usize].key = None;
        self.members -= 1;
        true
    }

    pub(crate) fn link(&mut self, key: K) -> bool {
        match self.find(key) {
            Some(slot) => {
                self.link_slot(slot);
                true
            }
            None => false,
        }
    }

    pub(crate) fn unlink(&mut self, key: K) -> bool {
        match self.find(key) {
            Some(slot) => {
                self.unlink_slot(slot);
                true
            }
            None => false,
        }
    }

    pub(crate) fn contains(&self, key: K) -> bool {
        self.find(key).is_some()
    }

    pub(crate) fn is_linked(&self, key: K) -> bool {
        self.find(key)
            .is_some_and(|slot| self.links[slot as usize].linked)
    }

    /// The key whose turn is next, without taking the turn.
    pub(crate) fn peek(&self) -> Option<K> {
        if self.cursor == NIL {
            None
        } else {
            self.links[self.cursor as usize].key
        }
    }

    /// Takes the next turn: returns the key at the cursor and moves the
    /// cursor on.
    pub(crate) fn advance(&mut self) -> Option<K> {
        if self.cursor == NIL {
            return None;
        }
        let link = &self.links[self.cursor as usize];
        let key = link.key;
        self.cursor = link.next;
        key
    }

    pub(crate) const fn members(&self) -> usize {
        self.members
    }

    pub(crate) const fn linked(&self) -> usize {
        self.linked
    }

    /// The linked keys in turn order, starting at the cursor.
    pub(crate) fn iter_linked(&self) -> impl Iterator<Item = K> + '_ {
        let mut at = self.cursor;
        let mut left = self.linked;
        std::iter::from_fn(move || {
            if left == 0 {
                return None;
            }
            left -= 1;
            let link = &self.links[at as usize];
            at = link.next;
            link.key
        })
    }

    /// Puts `slot` at the back of the line, just before the cursor.
    fn link_slot(&mut self, slot: u32) {
        if self.links[slot as usize].linked {
            return;
        }
        if self.cursor == NIL {
            let link = &mut self.links[slot as usize];
            link.prev = slot;
            link.next = slot;
            self.cursor = slot;
        } else {
            let next = self.cursor;
            let prev = self.links[next as usize].prev;
            self.links[prev as usize].next = slot;
            self.links[next as usize].prev = slot;
            let link = &mut self.links[slot as usize];
            link.prev = prev;
            link.next = next;
        }
        self.links[slot as usize].linked = true;
        self.linked += 1;
    }

    fn unlink_slot(&mut self, slot: u32) {
        let link = &mut self.links[slot as usize];
        if !link.linked {
            return;
        }
        link.linked = false;
        let (prev, next) = (link.prev, link.next);
        link.prev = NIL;
        link.next = NIL;
        self.linked -= 1;
        if next == slot {
            // It was the only linked slot.
            self.cursor = NIL;
            return;
        }
        self.links[prev as usize].next = next;
        self.links[next as usize].prev = prev;
        if self.cursor == slot {
            self.cursor = next;
        }
    }
}
