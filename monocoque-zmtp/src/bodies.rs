//! Buffers for large frame bodies, kept for the next body once the
//! application drops the last `Bytes` of one.
//!
//! A body that straddles reads is assembled in a buffer of its own (read
//! in place when large, [`Decoder::body_buf`](crate::Decoder::body_buf)).
//! Left to the system allocator, each such buffer of a stream of large
//! messages is a fresh allocation that the allocator soon gives back to
//! the system (glibc trims its heap, or maps and unmaps a chunk this
//! large), so each body's pages are faulted in again: at 1 MiB that was
//! 30-45 page faults a message and about a third of the receiving
//! process's CPU (docs/PERFORMANCE.md). A body handed out as
//! `Bytes::from_owner` over a pooled buffer comes back here when its
//! last handle is dropped, on whatever thread, and the next large body
//! takes it with its pages still resident.
//!
//! Bounded by construction: the pool keeps at most [`POOL_BUFFERS`]
//! buffers and [`POOL_BYTES`] bytes in all, for the whole process; a
//! buffer that would pass either is freed as before. A peer decides only
//! the sizes of the buffers, each already bounded by what it sent (the
//! decoder's proven size) and by `MAXMSGSIZE`.

use std::sync::Mutex;

use bytes::Bytes;

/// Bodies of at least this many bytes are assembled in pooled buffers:
/// the decoder's [`DIRECT_MIN`](crate::frame::DIRECT_MIN), from which a
/// body is read in place.
pub const POOLED_MIN: usize = crate::frame::DIRECT_MIN;

/// At most this many buffers wait in the pool.
pub const POOL_BUFFERS: usize = 8;

/// At most this many bytes of buffers wait in the pool.
pub const POOL_BYTES: usize = 8 << 20;

/// The buffers waiting for a body, for the whole process.
static POOL: Mutex<Pool> = Mutex::new(Pool::new());

/// Buffers waiting for a body, with their total capacity.
struct Pool {
    free: Vec<Vec<u8>>,
    bytes: usize,
}

impl Pool {
    const fn new() -> Pool {
        Pool {
            free: Vec::new(),
            bytes: 0,
        }
    }

    /// The smallest waiting buffer with room for `need` bytes, if any.
    fn take(&mut self, need: usize) -> Option<Vec<u8>> {
        let i = self
            .free
            .iter()
            .enumerate()
            .filter(|(_, b)| b.capacity() >= need)
            .min_by_key(|(_, b)| b.capacity())
            .map(|(i, _)| i)?;
        let b = self.free.swap_remove(i);
        self.bytes -= b.capacity();
        Some(b)
    }

    /// Keeps `buf`, emptied, if it fits the bounds; hands it back (to be
    /// freed outside the lock) if not.
    fn give(&mut self, mut buf: Vec<u8>) -> Option<Vec<u8>> {
        let cap = buf.capacity();
        if cap < POOLED_MIN
            || self.free.len() >= POOL_BUFFERS
            || self.bytes.saturating_add(cap) > POOL_BYTES
        {
            return Some(buf);
        }
        buf.clear();
        self.bytes += cap;
        self.free.push(buf);
        None
    }
}

/// An empty buffer with room for at least `need` bytes: a pooled one if
/// one is large enough (the smallest such), else a new one.
pub(crate) fn take(need: usize) -> Vec<u8> {
    take_from(&POOL, need)
}

fn take_from(pool: &Mutex<Pool>, need: usize) -> Vec<u8> {
    let pooled = pool.lock().ok().and_then(|mut p| p.take(need));
    pooled.unwrap_or_else(|| Vec::with_capacity(need))
}

/// A finished body's buffer, owned by the `Bytes` made of it; back to its
/// pool (the process's, or a test's) when the last handle goes, or freed
/// if the pool is full.
pub(crate) struct Pooled {
    buf: Vec<u8>,
    pool: &'static Mutex<Pool>,
}

impl Pooled {
    /// The body as `Bytes` over this buffer, without a copy.
    pub(crate) fn freeze(buf: Vec<u8>) -> Bytes {
        Pooled::freeze_to(buf, &POOL)
    }

    fn freeze_to(buf: Vec<u8>, pool: &'static Mutex<Pool>) -> Bytes {
        Bytes::from_owner(Pooled { buf, pool })
    }
}

impl AsRef<[u8]> for Pooled {
    fn as_ref(&self) -> &[u8] {
        &self.buf
    }
}

impl Drop for Pooled {
    fn drop(&mut self) {
        let buf = std::mem::take(&mut self.buf);
        // Refused (or a poisoned lock): freed here, outside the lock.
        let refused = match self.pool.lock() {
            Ok(mut p) => p.give(buf),
            Err(_) => Some(buf),
        };
        drop(refused);
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_given_buffer_is_taken_again_within_the_bounds() {
        let mut pool = Pool::new();
        let mut b = Vec::with_capacity(1 << 20);
        b.extend_from_slice(&[7u8; 1000]);
        let ptr = b.as_ptr();
        assert!(pool.give(b).is_none());
        assert_eq!((pool.free.len(), pool.bytes), (1, 1 << 20));
        assert!(pool.take((1 << 20) + 1).is_none(), "too small for that");
        let again = pool.take(1 << 20).expect("pooled");
        assert_eq!(again.as_ptr(), ptr, "the same pages");
        assert!(again.is_empty());
        assert_eq!((pool.free.len(), pool.bytes), (0, 0));

        // More than the bounds allow: what is kept stays within both.
        for _ in 0..3 * POOL_BUFFERS {
            let _ = pool.give(Vec::with_capacity(3 << 20));
        }
        assert_eq!(pool.free.len(), POOL_BYTES / (3 << 20));
        assert!(pool.bytes <= POOL_BYTES);
        let mut pool = Pool::new();
        for _ in 0..3 * POOL_BUFFERS {
            let _ = pool.give(Vec::with_capacity(POOLED_MIN));
        }
        assert_eq!(pool.free.len(), POOL_BUFFERS);
        // Too large or too small to keep.
        let mut pool = Pool::new();
        assert!(pool.give(Vec::with_capacity(POOL_BYTES + 1)).is_some());
        assert!(pool.give(Vec::with_capacity(16)).is_some());
        // The smallest that fits is the one taken.
        let _ = pool.give(Vec::with_capacity(4 << 20));
        let _ = pool.give(Vec::with_capacity(1 << 20));
        assert_eq!(pool.take(100_000).map(|b| b.capacity()), Some(1 << 20));
    }

    #[test]
    fn a_body_goes_back_to_its_pool_when_its_last_handle_is_dropped() {
        let pool: &'static Mutex<Pool> = Box::leak(Box::new(Mutex::new(Pool::new())));
        let mut b = take_from(pool, 1 << 20);
        b.extend_from_slice(&[1; 1000]);
        let ptr = b.as_ptr();
        let body = Pooled::freeze_to(b, pool);
        assert_eq!(&body[..], &[1; 1000][..]);
        let part = body.slice(10..20);
        drop(body);
        assert!(pool.lock().unwrap().free.is_empty(), "a handle is alive");
        drop(part);
        assert_eq!(pool.lock().unwrap().free.len(), 1);
        let again = take_from(pool, 1 << 20);
        assert_eq!(again.as_ptr(), ptr, "the same pages");
        assert!(again.is_empty());
    }
}
