//! Monocoque: a native Rust ZeroMQ.
//!
//! This crate is what applications depend on. It will hold the `Context`, the
//! sockets, the compio I/O engine and the transports; today it re-exports the
//! layers below it.
//!
//! ```text
//! application <-> monocoque (sockets, engine) <-> monocoque-zmtp (wire) <-> monocoque-core (slab, tables)
//! ```
#![forbid(unsafe_code)]

mod engine;

pub use monocoque_core as core;
pub use monocoque_zmtp as zmtp;
