//! The subscription index and fan-out for PUB/SUB and XPUB/XSUB. Safe Rust,
//! no I/O.
