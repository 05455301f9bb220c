//! Routing tables for the socket patterns: identities with epochs, load
//! balancing and fair queueing. Safe Rust, no I/O.
