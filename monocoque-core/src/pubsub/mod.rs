//! The subscription index and fan-out for PUB/SUB and XPUB/XSUB. Safe Rust,
//! no I/O.
//!
//! ```text
//!  SUBSCRIBE / CANCEL from peer ──> SubscriptionIndex::{subscribe, cancel}
//!                                      └─> Subscribed::First / Cancelled::Last: XPUB forwards upstream
//!  PUB send(msg) ──> SubscriptionIndex::for_each_match(first frame) ──> each matching peer's pipe
//!                                                                      (a Bytes clone, never a copy)
//!  SUB subscribe(prefix) ──> SubscriptionSet::subscribe ──> SUBSCRIBE to every publisher
//!  SUB recv: SubscriptionSet::matches(first frame), drop what does not match
//! ```
//!
//! Both tables sit on one path-compressed byte trie, so matching a message
//! costs one step per subscribed prefix of it, and never allocates. Peers are
//! named by any [`PeerKey`](crate::router::PeerKey), normally a
//! [`PeerId`](crate::router::PeerId).

mod index;
mod set;
mod trie;

pub use index::{Cancelled, Duplicates, Subscribed, SubscriptionIndex, PREFIX_COST};
pub use set::SubscriptionSet;
