//! A path-compressed byte trie (radix tree) of prefixes, with a payload per
//! node, shared by the subscription index and the subscription set.
//!
//! Nodes live in one `Vec` and are named by their index. A node's `label`
//! holds the bytes on the edge from its parent; the root's label is empty
//! and stands for the empty prefix. Children are kept sorted by the first
//! byte of their labels, which no two children share.
//!
//! Invariants:
//! - (T1) every node but the root has a non-empty label, and either a
//!   non-empty payload or at least two children. So the trie has at most
//!   twice as many nodes as it has prefixes, and walking a message costs one
//!   step per prefix of it in the trie (plus one).
//! - (T2) a node that holds a non-empty payload keeps its index for as long
//!   as its payload stays non-empty: splitting an edge adds a new node above
//!   the old one, and merging removes the emptied node, never its child.
//!
//! Matching a message walks from the root down the edges the message spells,
//! visiting every payload on the way: the prefixes of the message that are
//! in the trie, shortest first. It allocates nothing.

/// A node payload that can tell when it no longer holds anything.
pub(crate) trait Payload: Default {
    fn is_empty(&self) -> bool;
}

const ROOT: u32 = 0;
const NONE: u32 = u32::MAX;

#[derive(Debug, Clone)]
struct Node<V> {
    label: Box<[u8]>,
    parent: u32,
    /// First byte of each child's label, sorted; `kids` in the same order.
    first: Vec<u8>,
    kids: Vec<u32>,
    value: V,
}

impl<V: Default> Node<V> {
    fn new(label: Box<[u8]>, parent: u32) -> Self {
        Self {
            label,
            parent,
            first: Vec::new(),
            kids: Vec::new(),
            value: V::default(),
        }
    }
}

#[derive(Debug, Clone)]
pub(crate) struct Trie<V> {
    nodes: Vec<Node<V>>,
    free: Vec<u32>,
}

impl<V: Payload> Trie<V> {
    pub(crate) fn new() -> Self {
        Self {
            nodes: vec![Node::new(Box::new([]), NONE)],
            free: Vec::new(),
        }
    }

    #[cfg(test)]
    pub(crate) fn value(&self, node: u32) -> &V {
        &self.nodes[node as usize].value
    }

    pub(crate) fn value_mut(&mut self, node: u32) -> &mut V {
        &mut self.nodes[node as usize].value
    }

    /// How many nodes are live (root included).
    #[cfg(test)]
    pub(crate) fn node_count(&self) -> usize {
        self.nodes.len() - self.free.len()
    }

    fn kid(&self, node: u32, byte: u8) -> Option<(usize, u32)> {
        let n = &self.nodes[node as usize];
        let at = n.first.binary_search(&byte).ok()?;
        Some((at, n.kids[at]))
    }

    /// The node standing for exactly `prefix`, if there is one.
    pub(crate) fn find(&self, prefix: &[u8]) -> Option<u32> {
        let mut node = ROOT;
        let mut rest = prefix;
        while let Some(&byte) = rest.first() {
            let (_, kid) = self.kid(node, byte)?;
            rest = rest.strip_prefix(&*self.nodes[kid as usize].label)?;
            node = kid;
        }
        Some(node)
    }

    /// The node standing for exactly `prefix`, made if missing.
    pub(crate) fn insert(&mut self, prefix: &[u8]) -> u32 {
        let mut node = ROOT;
        let mut rest = prefix;
        while let Some(&byte) = rest.first() {
            let Some((at, kid)) = self.kid(node, byte) else {
                let leaf = self.alloc(Node::new(rest.into(), node));
                self.add_kid(node, byte, leaf);
                return leaf;
            };
            let label = &self.nodes[kid as usize].label;
            let common = label.iter().zip(rest).take_while(|(a, b)| a == b).count();
            if common == label.len() {
                node = kid;
                rest = &rest[common..];
                continue;
            }
            // Split the edge: a new node for the common part goes between
            // `node` and `kid` (T2: `kid` keeps its index).
            let (head, tail) = label.split_at(common);
            let (head, tail): (Box<[u8]>, Box<[u8]>) = (head.into(), tail.into());
            let tail_first = tail[0];
            let mid = self.alloc(Node::new(head, node));
            self.nodes[node as usize].kids[at] = mid;
            let k = &mut self.nodes[kid as usize];
            k.label = tail;
            k.parent = mid;
            let m = &mut self.nodes[mid as usize];
            m.first.push(tail_first);
            m.kids.push(kid);
            node = mid;
            rest = &rest[common..];
        }
        node
    }

    /// Restores (T1) after `node`'s payload became empty: removes the node
    /// if it has no children, merges it into its child if it has one, and
    /// goes on upwards.
    pub(crate) fn prune(&mut self, mut node: u32) {
        while node != ROOT && self.nodes[node as usize].value.is_empty() {
            let n = &self.nodes[node as usize];
            let parent = n.parent;
            match n.kids.len() {
                0 => {
                    let byte = n.label[0];
                    let p = &mut self.nodes[parent as usize];
                    if let Ok(at) = p.first.binary_search(&byte) {
                        p.first.remove(at);
                        p.kids.remove(at);
                    }
                    self.release(node);
                    // The parent may now be an empty node with one child.
                    node = parent;
                }
                1 => {
                    // Merge: the child takes this node's place (T2), its
                    // label grows by this node's label in front.
                    let kid = n.kids[0];
                    let mut label = Vec::with_capacity(n.label.len() + 1);
                    label.extend_from_slice(&n.label);
                    let byte = n.label[0];
                    let k = &mut self.nodes[kid as usize];
                    label.extend_from_slice(&k.label);
                    k.label = label.into_boxed_slice();
                    k.parent = parent;
                    let p = &mut self.nodes[parent as usize];
                    if let Ok(at) = p.first.binary_search(&byte) {
                        p.kids[at] = kid;
                    }
                    self.release(node);
                    return;
                }
                _ => return,
            }
        }
    }

    /// Visits the payloads of the prefixes of `msg` in the trie, shortest
    /// first, until `visit` returns `true`; returns whether it did.
    #[inline]
    pub(crate) fn walk(&self, msg: &[u8], mut visit: impl FnMut(&V) -> bool) -> bool {
        let mut node = &self.nodes[ROOT as usize];
        let mut rest = msg;
        loop {
            if visit(&node.value) {
                return true;
            }
            let Some(&byte) = rest.first() else {
                return false;
            };
            let Ok(at) = node.first.binary_search(&byte) else {
                return false;
            };
            let kid = &self.nodes[node.kids[at] as usize];
            match rest.strip_prefix(&*kid.label) {
                Some(tail) => rest = tail,
                None => return false,
            }
            node = kid;
        }
    }

    fn add_kid(&mut self, node: u32, byte: u8, kid: u32) {
        let n = &mut self.nodes[node as usize];
        let at = n.first.binary_search(&byte).unwrap_or_else(|at| at);
        n.first.insert(at, byte);
        n.kids.insert(at, kid);
    }

    fn alloc(&mut self, node: Node<V>) -> u32 {
        match self.free.pop() {
            Some(i) => {
                self.nodes[i as usize] = node;
                i
            }
            None => {
                let i = u32::try_from(self.nodes.len())
                    .ok()
                    .filter(|&i| i != NONE)
                    .expect("more than u32::MAX - 1 trie nodes");
                self.nodes.push(node);
                i
            }
        }
    }

    fn release(&mut self, node: u32) {
        // Drop the node's buffers now; the slot is reused by the next alloc.
        self.nodes[node as usize] = Node::new(Box::new([]), NONE);
        self.free.push(node);
    }

    /// Checks (T1) and the parent/child links; for tests.
    #[cfg(test)]
    pub(crate) fn check(&self) {
        let mut seen = 1;
        let mut stack = vec![ROOT];
        while let Some(i) = stack.pop() {
            let n = &self.nodes[i as usize];
            if i != ROOT {
                assert!(!n.label.is_empty(), "T1: empty label");
                assert!(
                    !n.value.is_empty() || n.kids.len() >= 2,
                    "T1: redundant node"
                );
            }
            assert!(n.first.windows(2).all(|w| w[0] < w[1]), "kids unsorted");
            for (&b, &k) in n.first.iter().zip(&n.kids) {
                let kid = &self.nodes[k as usize];
                assert_eq!(kid.parent, i);
                assert_eq!(kid.label[0], b);
                seen += 1;
                stack.push(k);
            }
        }
        assert_eq!(seen, self.node_count(), "unreachable live nodes");
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    impl Payload for bool {
        fn is_empty(&self) -> bool {
            !*self
        }
    }

    fn set(t: &mut Trie<bool>, p: &[u8]) -> u32 {
        let n = t.insert(p);
        *t.value_mut(n) = true;
        t.check();
        n
    }

    fn unset(t: &mut Trie<bool>, p: &[u8]) {
        let n = t.find(p).unwrap();
        *t.value_mut(n) = false;
        t.prune(n);
        t.check();
    }

    fn matched(t: &Trie<bool>, msg: &[u8]) -> usize {
        let mut n = 0;
        t.walk(msg, |&v| {
            n += usize::from(v);
            false
        });
        n
    }

    #[test]
    fn split_and_merge_keep_payload_nodes() {
        let mut t = Trie::new();
        let abc = set(&mut t, b"abcdef");
        let ab = set(&mut t, b"ab");
        let abx = set(&mut t, b"abx");
        assert_eq!(t.find(b"abcdef"), Some(abc), "T2 across a split");
        assert_eq!(t.find(b"abc"), None);
        assert_eq!(matched(&t, b"abcdefgh"), 2);
        assert_eq!(matched(&t, b"abxy"), 2);
        assert_eq!(matched(&t, b"abc"), 1);
        assert_eq!(matched(&t, b"a"), 0);
        unset(&mut t, b"ab");
        assert_eq!(t.find(b"abcdef"), Some(abc));
        assert_eq!(t.find(b"abx"), Some(abx));
        unset(&mut t, b"abx");
        // Only "abcdef" left: one edge from the root.
        assert_eq!(t.node_count(), 2);
        assert_eq!(t.find(b"abcdef"), Some(abc), "T2 across a merge");
        let _ = ab;
        unset(&mut t, b"abcdef");
        assert_eq!(t.node_count(), 1);
        assert_eq!(matched(&t, b"abcdef"), 0);
    }

    #[test]
    fn empty_prefix_is_the_root() {
        let mut t = Trie::new();
        assert_eq!(set(&mut t, b""), ROOT);
        assert_eq!(matched(&t, b""), 1);
        assert_eq!(matched(&t, b"anything"), 1);
        unset(&mut t, b"");
        assert_eq!(matched(&t, b"anything"), 0);
    }
}
