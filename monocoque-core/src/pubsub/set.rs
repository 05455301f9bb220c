//! The subscriber's own subscriptions (SUB, XSUB): counted prefixes.

use std::collections::HashMap;

use bytes::Bytes;

use super::index::{Cancelled, Subscribed};
use super::trie::{Payload, Trie};

/// Marks a trie node as a subscribed prefix (the count lives in the map).
#[derive(Debug, Clone, Copy, Default)]
struct Present(bool);

impl Payload for Present {
    fn is_empty(&self) -> bool {
        !self.0
    }
}

/// A SUB socket's subscriptions: prefixes with counted duplicates.
///
/// Subscribing to a prefix twice takes two cancels to undo, as in libzmq.
/// The set answers what the socket needs: whether an incoming message
/// matches (SUB checks what the publisher already filtered), whether a
/// cancel dropped the last reference (only then does the SUB send CANCEL
/// upstream), and the distinct prefixes to send to a publisher that just
/// connected. Matching walks a path-compressed trie and allocates nothing;
/// prefixes are copied in, never kept as slices of a received buffer.
///
/// ```
/// use monocoque_core::pubsub::{Cancelled, Subscribed, SubscriptionSet};
///
/// let mut subs = SubscriptionSet::new();
/// assert_eq!(subs.subscribe(b"log."), Subscribed::First);
/// assert_eq!(subs.subscribe(b"log."), Subscribed::Duplicate);
/// assert!(subs.matches(b"log.error disk full"));
/// assert!(!subs.matches(b"metrics"));
/// assert_eq!(subs.cancel(b"log."), Cancelled::Held);
/// assert!(subs.matches(b"log.info"));
/// assert_eq!(subs.cancel(b"log."), Cancelled::Last); // send CANCEL now
/// assert!(!subs.matches(b"log.info"));
/// ```
#[derive(Debug, Clone)]
pub struct SubscriptionSet {
    trie: Trie<Present>,
    counts: HashMap<Bytes, u32>,
}

impl Default for SubscriptionSet {
    fn default() -> Self {
        Self::new()
    }
}

impl SubscriptionSet {
    /// No subscriptions: nothing matches.
    pub fn new() -> Self {
        Self {
            trie: Trie::new(),
            counts: HashMap::new(),
        }
    }

    /// Adds a reference to `prefix`. [`Subscribed::First`] if the prefix was
    /// not subscribed, [`Subscribed::Duplicate`] otherwise.
    pub fn subscribe(&mut self, prefix: &[u8]) -> Subscribed {
        if let Some(count) = self.counts.get_mut(prefix) {
            *count = count.saturating_add(1);
            return Subscribed::Duplicate;
        }
        let node = self.trie.insert(prefix);
        *self.trie.value_mut(node) = Present(true);
        self.counts.insert(Bytes::copy_from_slice(prefix), 1);
        Subscribed::First
    }

    /// Drops a reference to `prefix`: [`Cancelled::Last`] if it was the last
    /// one (the prefix is gone), [`Cancelled::Held`] if references remain,
    /// [`Cancelled::NotFound`] if it was not subscribed.
    pub fn cancel(&mut self, prefix: &[u8]) -> Cancelled {
        let Some(count) = self.counts.get_mut(prefix) else {
            return Cancelled::NotFound;
        };
        if *count > 1 {
            *count -= 1;
            return Cancelled::Held;
        }
        self.counts.remove(prefix);
        if let Some(node) = self.trie.find(prefix) {
            *self.trie.value_mut(node) = Present(false);
            self.trie.prune(node);
        }
        Cancelled::Last
    }

    /// Whether a subscribed prefix starts `msg` (the message's first frame).
    #[inline]
    pub fn matches(&self, msg: &[u8]) -> bool {
        self.trie.walk(msg, |present| present.0)
    }

    /// How many references `prefix` has (0 if not subscribed).
    pub fn count(&self, prefix: &[u8]) -> u32 {
        self.counts.get(prefix).copied().unwrap_or(0)
    }

    /// The distinct subscribed prefixes, in no particular order: what to send
    /// to a publisher that just connected.
    pub fn iter(&self) -> impl Iterator<Item = &Bytes> + '_ {
        self.counts.keys()
    }

    /// How many distinct prefixes are subscribed.
    pub fn len(&self) -> usize {
        self.counts.len()
    }

    /// Whether nothing is subscribed.
    pub fn is_empty(&self) -> bool {
        self.counts.is_empty()
    }

    /// Drops every subscription.
    pub fn clear(&mut self) {
        *self = Self::new();
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use proptest::prelude::*;
    use std::collections::BTreeMap;

    #[test]
    fn empty_prefix_matches_everything() {
        let mut subs = SubscriptionSet::new();
        assert!(!subs.matches(b""));
        subs.subscribe(b"");
        assert!(subs.matches(b""));
        assert!(subs.matches(b"\xffabc"));
        assert_eq!(subs.count(b""), 1);
    }

    #[test]
    fn distinct_prefixes_for_a_new_publisher() {
        let mut subs = SubscriptionSet::new();
        subs.subscribe(b"a");
        subs.subscribe(b"a");
        subs.subscribe(b"b");
        let mut all: Vec<_> = subs.iter().cloned().collect();
        all.sort();
        assert_eq!(all, [Bytes::from_static(b"a"), Bytes::from_static(b"b")]);
        assert_eq!(subs.len(), 2);
        assert_eq!(subs.cancel(b"zz"), Cancelled::NotFound);
        subs.clear();
        assert!(subs.is_empty());
        assert!(!subs.matches(b"a"));
    }

    #[derive(Debug, Clone)]
    enum Op {
        Subscribe(Vec<u8>),
        Cancel(Vec<u8>),
        Match(Vec<u8>),
    }

    fn bytes(max: usize) -> impl Strategy<Value = Vec<u8>> {
        proptest::collection::vec(prop_oneof![Just(b'a'), Just(b'b'), Just(0u8)], 0..max)
    }

    fn op() -> impl Strategy<Value = Op> {
        prop_oneof![
            bytes(5).prop_map(Op::Subscribe),
            bytes(5).prop_map(Op::Cancel),
            bytes(8).prop_map(Op::Match),
        ]
    }

    proptest! {
        #[test]
        fn matches_model(ops in proptest::collection::vec(op(), 0..200)) {
            let mut subs = SubscriptionSet::new();
            let mut model: BTreeMap<Vec<u8>, u32> = BTreeMap::new();
            for op in ops {
                match op {
                    Op::Subscribe(p) => {
                        let c = model.entry(p.clone()).or_insert(0);
                        *c += 1;
                        let expected = if *c == 1 { Subscribed::First } else { Subscribed::Duplicate };
                        prop_assert_eq!(subs.subscribe(&p), expected);
                    }
                    Op::Cancel(p) => {
                        let expected = match model.get_mut(&p) {
                            None => Cancelled::NotFound,
                            Some(c) if *c > 1 => {
                                *c -= 1;
                                Cancelled::Held
                            }
                            Some(_) => {
                                model.remove(&p);
                                Cancelled::Last
                            }
                        };
                        prop_assert_eq!(subs.cancel(&p), expected);
                    }
                    Op::Match(m) => {
                        let expected = model.keys().any(|p| m.starts_with(p));
                        prop_assert_eq!(subs.matches(&m), expected);
                    }
                }
                prop_assert_eq!(subs.len(), model.len());
                subs.trie.check();
            }
        }
    }
}
