//! The compio I/O engine: the tasks on the I/O threads that own each peer's
//! stream, read into the arena's slabs and write batches of `Bytes`.

pub(crate) mod conn;
pub(crate) mod net;
pub(crate) mod raw;
mod write;

pub(crate) use write::write_all;
