//! The slab allocator: stable, refcounted memory for `io_uring` reads that
//! freezes into `Bytes` without a copy.
