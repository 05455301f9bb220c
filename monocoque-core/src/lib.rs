//! Monocoque's protocol-agnostic kernel.
//!
//! It knows nothing of ZMTP. It holds the three things every layer above
//! stands on:
//!
//! ```text
//! kernel read ──> alloc::SlabMut ──freeze──> Bytes ──> (zmtp decoder slices frames)
//!                                                         │
//!                     router:: (identity, load balance)
//!                     pubsub:: (subscription index, fan-out)
//! ```
//!
//! - [`alloc`]: the audited slab allocator, the only `unsafe` code of the
//!   whole workspace (see `src/alloc/invariants.md`).
//! - [`router`]: routing tables for the socket patterns.
//! - [`pubsub`]: the subscription index and fan-out.
#![deny(unsafe_code)]

pub mod alloc;
pub mod pubsub;
pub mod router;
