//! [`WriteBatch`]: a list of `Bytes` written with one vectored submission and
//! advanced exactly over partial writes (footgun 1).
//!
//! Everything that writes to a stream queues header and body `Bytes` here and
//! hands the batch to compio's `write_vectored`; the kernel reads the bodies
//! in place, so a payload is never copied into a send buffer.

use bytes::{Buf, Bytes};
use compio_buf::IoVectoredBuf;

/// The most buffers one vectored write carries (Linux's `IOV_MAX`); the rest
/// go in the next submission.
pub const MAX_IOVECS: usize = 1024;

/// Queued `Bytes` awaiting a vectored write.
///
/// After a write of `n` bytes, [`advance(n)`](WriteBatch::advance) drops the
/// buffers written whole and trims the one written in part, so the next write
/// resumes at the exact byte the kernel stopped at.
///
/// ```
/// use bytes::Bytes;
/// use compio_buf::IoVectoredBuf;
/// use monocoque_core::alloc::WriteBatch;
/// let mut batch = WriteBatch::new();
/// batch.push(Bytes::from_static(b"\x00\x05"));
/// batch.push(Bytes::from_static(b"hello"));
/// batch.advance(4); // a short write: the header and "he"
/// let rest: Vec<&[u8]> = batch.iter_slice().collect();
/// assert_eq!(rest, [&b"llo"[..]]);
/// ```
#[derive(Debug, Default)]
pub struct WriteBatch {
    bufs: Vec<Bytes>,
    /// Index of the first buffer not yet written completely.
    head: usize,
    /// Bytes queued and not yet written.
    pending: usize,
}

impl WriteBatch {
    /// An empty batch.
    pub fn new() -> Self {
        Self::default()
    }

    /// Queues `bytes` after everything already queued. Empty buffers are
    /// skipped.
    pub fn push(&mut self, bytes: Bytes) {
        if !bytes.is_empty() {
            self.pending += bytes.len();
            self.bufs.push(bytes);
        }
    }

    /// Bytes queued and not yet written.
    pub fn len(&self) -> usize {
        self.pending
    }

    /// Whether everything queued has been written.
    pub fn is_empty(&self) -> bool {
        self.pending == 0
    }

    /// Buffers queued and not yet written completely.
    pub fn buffers(&self) -> usize {
        self.bufs.len() - self.head
    }

    /// The buffers not yet written, the first cut where the kernel
    /// stopped: what a failed write never sent.
    pub fn unwritten(&self) -> impl Iterator<Item = &Bytes> {
        self.bufs[self.head..].iter()
    }

    /// Records that the kernel wrote the next `n` bytes.
    ///
    /// # Panics
    ///
    /// If `n` exceeds [`len`](WriteBatch::len): a write cannot report more
    /// than it was given.
    pub fn advance(&mut self, mut n: usize) {
        assert!(
            n <= self.pending,
            "advance({n}) beyond the {} queued bytes",
            self.pending
        );
        self.pending -= n;
        while n > 0 {
            let first = &mut self.bufs[self.head];
            if first.len() <= n {
                n -= first.len();
                self.head += 1;
            } else {
                first.advance(n);
                n = 0;
            }
        }
        if self.pending == 0 {
            // Keeps the Vec's capacity, so a warm batch never allocates.
            self.bufs.clear();
            self.head = 0;
        }
    }
}

impl IoVectoredBuf for WriteBatch {
    fn iter_slice(&self) -> impl Iterator<Item = &[u8]> {
        self.bufs[self.head..]
            .iter()
            .take(MAX_IOVECS)
            .map(|b| &b[..])
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn flat(batch: &WriteBatch) -> Vec<u8> {
        batch.iter_slice().flatten().copied().collect()
    }

    #[test]
    fn advance_over_buffer_boundaries() {
        let mut batch = WriteBatch::new();
        for part in [&b"ab"[..], b"", b"cde", b"f"] {
            batch.push(Bytes::copy_from_slice(part));
        }
        assert_eq!((batch.len(), batch.buffers()), (6, 3));
        batch.advance(3);
        assert_eq!(flat(&batch), b"def");
        let rest: Vec<u8> = batch.unwritten().flat_map(|b| b.to_vec()).collect();
        assert_eq!(rest, b"def");
        batch.advance(2);
        assert_eq!(flat(&batch), b"f");
        batch.advance(1);
        assert!(batch.is_empty());
        assert_eq!(batch.buffers(), 0);
    }

    #[test]
    fn iovecs_are_capped() {
        let mut batch = WriteBatch::new();
        for _ in 0..MAX_IOVECS + 10 {
            batch.push(Bytes::from_static(b"x"));
        }
        assert_eq!(batch.iter_slice().count(), MAX_IOVECS);
        batch.advance(MAX_IOVECS);
        assert_eq!(batch.iter_slice().count(), 10);
    }

    #[test]
    #[should_panic(expected = "beyond the 1 queued bytes")]
    fn over_advance_panics() {
        let mut batch = WriteBatch::new();
        batch.push(Bytes::from_static(b"x"));
        batch.advance(2);
    }
}
