//! The slab allocator: stable, refcounted memory for `io_uring` reads that
//! freezes into `Bytes` without a copy, and the batch that writes `Bytes`
//! without one.
//!
//! ```text
//! Arena ──alloc──> SlabMut ──(kernel read)──> SlabMut ──freeze(n)──> Bytes
//!                                                                      │
//!  kernel <──(vectored write)── WriteBatch <── header + body Bytes <───┘
//! ```
//!
//! This is the only module of the workspace allowed `unsafe`, and only in
//! `slab.rs` and `arena.rs`; `invariants.md` beside this file lists the
//! invariants A-D and footguns 1-5, the code that enforces each and the test
//! that proves it.

#[allow(unsafe_code)]
mod arena;
mod batch;
#[allow(unsafe_code)]
mod slab;

pub use arena::{Arena, ArenaStats, CountingAlloc, DEFAULT_MAX_IDLE_PAGES, DEFAULT_PAGE_SIZE};
pub use batch::{WriteBatch, MAX_IOVECS};
pub use slab::{IoBytes, SlabMut, SlabPage};
