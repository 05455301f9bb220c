//! The compio I/O engine: the tasks on the I/O threads that own each peer's
//! stream, read into the arena's slabs and write batches of `Bytes`.

mod write;

#[allow(unused_imports)] // the socket engine is the caller; it lands next
pub(crate) use write::write_all;
