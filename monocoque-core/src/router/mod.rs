//! Routing tables for the socket patterns: peer handles with epochs,
//! identities and load balancing. Safe Rust, no I/O.
//!
//! These are sans-IO data structures: the socket layer feeds them events
//! (a peer connected, its pipe filled up or drained) and asks them
//! whom to talk to next. They know nothing of ZMTP; peers are named by any
//! [`PeerKey`], normally the [`PeerId`] handles issued by [`Peers`].
//!
//! ```text
//!  handshake done ──> Peers::insert ──> PeerId ──┬─> RoutingTable::attach   (ROUTER)
//!                                                └─> LoadBalancer::attach   (PUSH, DEALER, REQ)
//!  send:  LoadBalancer::next / RoutingTable::peer(routing id) ──> that peer's pipe
//!  disconnect: detach everywhere, Peers::remove (the epoch moves on)
//! ```
//!
//! Every handle carries an epoch: once a peer is gone, its handle matches
//! nothing, even after the slot is reused, so nothing routed to the old
//! connection can reach the new one.

mod identity;
mod lb;
mod peer;
mod ring;

pub use identity::{Attach, RoutingId, RoutingTable};
pub use lb::LoadBalancer;
pub use peer::{PeerId, PeerKey, Peers};
