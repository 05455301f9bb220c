//! `SlabPage`, `SlabMut` and `IoBytes`: the buffers `io_uring` reads into and
//! writes from.
//!
//! A [`SlabPage`] is one fixed heap allocation. It never grows and never
//! moves; its refcount is the shared header of `bytes`' own representation, so
//! every `Bytes` frozen out of it keeps it alive without another allocation.
//! A [`SlabMut`] is a move-only, writable view of one region of a page, handed
//! to the kernel through compio's [`IoBufMut`]; [`SlabMut::freeze`] turns the
//! bytes the kernel really wrote into an immutable [`Bytes`], without a copy.
//! [`IoBytes`] is the write side: a `Bytes` handed to compio as an [`IoBuf`].
//!
//! Invariants (the seed's A-D; `invariants.md` maps each to code and tests):
//! - (A) pointer stability: a region's memory belongs to its page's single
//!   allocation, which is never reallocated: nothing here grows a page, and
//!   [`IoBufMut::reserve`] on a `SlabMut` refuses to grow past its region.
//! - (B) exclusive access: a region is handed out to exactly one `SlabMut`
//!   (regions are split off, never copied); `SlabMut` is not `Clone` and every
//!   mutable access goes through `&mut self` or by value into an I/O call.
//! - (C) init tracking: `len` counts the initialised prefix; it only grows
//!   through [`SetLen::set_len`], whose caller vouches for the bytes, and
//!   [`SlabMut::freeze`] exposes at most `len` bytes.
//! - (D) no mutation after freeze: `freeze` consumes the `SlabMut`; the
//!   resulting `Bytes` is read-only, and the arena reuses a page only when the
//!   page's refcount says no view of it remains.

use std::fmt;
use std::mem::MaybeUninit;

use bytes::{Bytes, BytesMut};
use compio_buf::{IoBuf, IoBufMut, ReserveError, ReserveExactError, SetLen};

/// One fixed allocation that regions are carved from.
///
/// A page hands out its memory front to back as [`SlabMut`] regions. Once
/// every byte has been handed out, the page can be [`reclaim`]ed, which
/// succeeds only when no `SlabMut` or `Bytes` view of it remains (invariant
/// D); the memory is then reused in place, never reallocated (invariant A).
///
/// [`reclaim`]: SlabPage::reclaim
pub struct SlabPage {
    /// The part of the allocation not yet handed out. Its `len` is always 0:
    /// it only ever shrinks from the front as regions are split off.
    rest: BytesMut,
    /// The size of the allocation, fixed at creation.
    size: usize,
}

impl SlabPage {
    /// Allocates a page of `size` bytes (uninitialised; nothing can read them
    /// before something writes them).
    ///
    /// ```
    /// use monocoque_core::alloc::SlabPage;
    /// let mut page = SlabPage::new(4096);
    /// let region = page.take(1024).expect("room for 1 KiB");
    /// assert_eq!(region.capacity(), 1024);
    /// assert_eq!(page.remaining(), 3072);
    /// ```
    pub fn new(size: usize) -> Self {
        Self {
            rest: BytesMut::with_capacity(size),
            size,
        }
    }

    /// The size of the page's allocation.
    pub fn size(&self) -> usize {
        self.size
    }

    /// How many bytes can still be handed out before a reclaim.
    pub fn remaining(&self) -> usize {
        self.rest.capacity()
    }

    /// Hands out the next `len` bytes of the page as a writable region, or
    /// `None` when fewer than `len` remain.
    ///
    /// The region is split off the page (never copied), so it is the only
    /// view of those bytes (invariant B).
    pub fn take(&mut self, len: usize) -> Option<SlabMut> {
        if len > self.rest.capacity() {
            return None;
        }
        let tail = self.rest.split_off(len);
        let region = std::mem::replace(&mut self.rest, tail);
        debug_assert!(region.is_empty() && region.capacity() == len);
        Some(SlabMut { buf: region })
    }

    /// Makes the whole page available again, if and only if no `SlabMut` or
    /// `Bytes` view of it is alive; returns whether it did.
    ///
    /// This is the graveyard's gate (invariant D, footgun 5): the check is the
    /// refcount of the allocation, so a page with a live `Bytes` is never
    /// handed out again. The memory is reused in place (invariant A).
    pub fn reclaim(&mut self) -> bool {
        if self.rest.capacity() == self.size {
            return true;
        }
        // `try_reclaim` with an empty handle succeeds only when this handle is
        // the last reference to the allocation, and then rewinds it to the
        // start without allocating or copying (`len` is 0).
        self.rest.try_reclaim(self.size) && self.rest.capacity() == self.size
    }

    /// The address of the start of the page's unused part, for tests that
    /// check that memory is reused in place.
    #[cfg(test)]
    pub(crate) fn rest_ptr(&self) -> *const u8 {
        self.rest.as_ptr()
    }
}

impl fmt::Debug for SlabPage {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("SlabPage")
            .field("size", &self.size)
            .field("remaining", &self.remaining())
            .finish()
    }
}

/// A move-only, writable view of one region of a [`SlabPage`].
///
/// It implements compio's [`IoBufMut`], so it is moved into a read and
/// comes back with [`IoBuf::buf_len`] telling how many bytes the kernel wrote.
/// [`freeze`](SlabMut::freeze) then makes those bytes an immutable [`Bytes`]
/// that shares the page's allocation.
///
/// `SlabMut` is deliberately not `Clone` (invariant B):
///
/// ```compile_fail
/// let region = monocoque_core::alloc::SlabPage::new(64).take(64).unwrap();
/// let alias = region.clone();
/// ```
pub struct SlabMut {
    /// The region: `len` is the initialised prefix (invariant C), `capacity`
    /// the region's fixed size (invariant A).
    buf: BytesMut,
}

impl SlabMut {
    /// The size of the region: the most a read can fill.
    pub fn capacity(&self) -> usize {
        self.buf.capacity()
    }

    /// How many bytes at the front are initialised.
    pub fn len(&self) -> usize {
        self.buf.len()
    }

    /// Whether no byte is initialised yet.
    pub fn is_empty(&self) -> bool {
        self.buf.is_empty()
    }

    /// How many bytes can still be written after the initialised prefix.
    pub fn spare(&self) -> usize {
        self.capacity() - self.len()
    }

    /// Copies `src` after the initialised prefix, or returns `false` without
    /// writing anything when it does not fit (the region never grows).
    ///
    /// ```
    /// use monocoque_core::alloc::SlabPage;
    /// let mut region = SlabPage::new(8).take(8).expect("room");
    /// assert!(region.put_slice(b"zmtp"));
    /// assert!(!region.put_slice(b"too long"));
    /// assert_eq!(&region.freeze(4)[..], b"zmtp");
    /// ```
    pub fn put_slice(&mut self, src: &[u8]) -> bool {
        if src.len() > self.spare() {
            return false;
        }
        // Within capacity, so `BytesMut` copies without reallocating (A).
        self.buf.extend_from_slice(src);
        true
    }

    /// Freezes the first `n` initialised bytes into `Bytes`, consuming the
    /// view (invariant D). The `Bytes` shares the page; nothing is copied or
    /// allocated.
    ///
    /// # Panics
    ///
    /// If `n` exceeds [`len`](SlabMut::len): exposing bytes the kernel did not
    /// write would show uninitialised memory (invariant C, footgun 3).
    pub fn freeze(mut self, n: usize) -> Bytes {
        assert!(
            n <= self.buf.len(),
            "freeze({n}) beyond the {} initialised bytes",
            self.buf.len()
        );
        self.buf.truncate(n);
        self.buf.freeze()
    }

    /// Freezes the initialised prefix into `Bytes` and keeps the rest of the
    /// region as this (now empty) `SlabMut`, ready for the next read.
    ///
    /// This lets a connection read many small bursts into one region without
    /// wasting its tail.
    ///
    /// ```
    /// use monocoque_core::alloc::SlabPage;
    /// let mut region = SlabPage::new(16).take(16).expect("room");
    /// region.put_slice(b"abc");
    /// let first = region.split_frozen();
    /// assert_eq!(&first[..], b"abc");
    /// assert_eq!((region.len(), region.capacity()), (0, 13));
    /// ```
    pub fn split_frozen(&mut self) -> Bytes {
        self.buf.split().freeze()
    }
}

impl fmt::Debug for SlabMut {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("SlabMut")
            .field("len", &self.len())
            .field("capacity", &self.capacity())
            .finish()
    }
}

impl IoBuf for SlabMut {
    fn as_init(&self) -> &[u8] {
        // The initialised prefix only (invariant C).
        &self.buf
    }
}

impl IoBufMut for SlabMut {
    fn as_uninit(&mut self) -> &mut [MaybeUninit<u8>] {
        let ptr = self.buf.as_mut_ptr().cast::<MaybeUninit<u8>>();
        let capacity = self.buf.capacity();
        // SAFETY: (A) `ptr` points at the start of this region of the page's
        // single allocation, which `BytesMut` keeps valid for `capacity` bytes
        // and never moves while `self.buf` lives. (B) the region was split off
        // the page, so no other view covers these bytes, and the slice borrows
        // `self` mutably, so no other access exists while it does. Viewing
        // bytes as `MaybeUninit<u8>` asks nothing of their contents.
        unsafe { std::slice::from_raw_parts_mut(ptr, capacity) }
    }

    fn reserve(&mut self, len: usize) -> Result<(), ReserveError> {
        // (A) the region never grows: growing would move it.
        if len <= self.spare() {
            Ok(())
        } else {
            Err(ReserveError::NotSupported)
        }
    }

    fn reserve_exact(&mut self, len: usize) -> Result<(), ReserveExactError> {
        if len == self.spare() {
            Ok(())
        } else {
            Err(ReserveExactError::NotSupported)
        }
    }
}

impl SetLen for SlabMut {
    /// Records that the first `len` bytes are initialised.
    ///
    /// # Safety
    ///
    /// `len <= capacity()`, and bytes `len()..len` were initialised (by the
    /// kernel or a copy), as [`SetLen::set_len`] requires.
    ///
    /// # Panics
    ///
    /// If `len` exceeds the capacity: this is checked even in release builds,
    /// because the bound is what keeps reads inside the region (invariant C).
    unsafe fn set_len(&mut self, len: usize) {
        assert!(
            len <= self.buf.capacity(),
            "set_len({len}) beyond the region's capacity {}",
            self.buf.capacity()
        );
        // SAFETY: (C) `len <= capacity` was checked above, and our caller
        // guarantees that bytes `..len` are initialised (this function's
        // contract), which is all `BytesMut::set_len` asks.
        unsafe { self.buf.set_len(len) }
    }
}

/// A [`Bytes`] handed to compio's writes as an [`IoBuf`], without a copy.
///
/// `Bytes` never moves its payload and is read-only, so the kernel can read
/// from it for as long as the operation owns the `IoBytes` (invariant A).
///
/// ```
/// use bytes::Bytes;
/// use compio_buf::IoBuf;
/// use monocoque_core::alloc::IoBytes;
/// let body = Bytes::from_static(b"payload");
/// let io = IoBytes::new(body.clone());
/// assert_eq!(io.as_init().as_ptr(), body.as_ptr());
/// ```
#[derive(Clone, Debug, Default, PartialEq, Eq)]
pub struct IoBytes(Bytes);

impl IoBytes {
    /// Wraps `bytes` for a write.
    pub fn new(bytes: Bytes) -> Self {
        Self(bytes)
    }

    /// Gives the `Bytes` back.
    pub fn into_inner(self) -> Bytes {
        self.0
    }

    /// Drops the first `n` bytes (they were written), without copying.
    ///
    /// # Panics
    ///
    /// If `n` exceeds the length.
    pub fn advance(&mut self, n: usize) {
        bytes::Buf::advance(&mut self.0, n);
    }
}

impl From<Bytes> for IoBytes {
    fn from(bytes: Bytes) -> Self {
        Self(bytes)
    }
}

impl IoBuf for IoBytes {
    fn as_init(&self) -> &[u8] {
        &self.0
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn fill(region: &mut SlabMut, byte: u8, n: usize) {
        let uninit = region.as_uninit();
        for slot in &mut uninit[..n] {
            slot.write(byte);
        }
        // SAFETY: (C) the loop above initialised bytes `..n`.
        unsafe { region.set_len(n) };
    }

    #[test]
    fn freeze_exposes_exactly_n_bytes() {
        let mut region = SlabPage::new(64).take(64).expect("room");
        fill(&mut region, 7, 10);
        let frozen = region.freeze(4);
        assert_eq!(&frozen[..], &[7; 4]);
    }

    #[test]
    #[should_panic(expected = "beyond the 10 initialised bytes")]
    fn freeze_beyond_init_panics() {
        let mut region = SlabPage::new(64).take(64).expect("room");
        fill(&mut region, 7, 10);
        let _ = region.freeze(11);
    }

    #[test]
    fn short_read_tracks_init() {
        // The kernel was offered 64 bytes and wrote 5 (a short read).
        let mut region = SlabPage::new(64).take(64).expect("room");
        assert_eq!(region.as_uninit().len(), 64);
        fill(&mut region, 1, 5);
        assert_eq!(region.len(), 5);
        assert_eq!(region.as_init(), &[1; 5]);
        assert_eq!(region.spare(), 59);
    }

    #[test]
    #[should_panic(expected = "beyond the region's capacity")]
    fn set_len_beyond_capacity_panics() {
        let mut region = SlabPage::new(64).take(16).expect("room");
        // SAFETY: deliberately broken contract; the bound check must catch it
        // before anything is recorded.
        unsafe { region.set_len(17) };
    }

    #[test]
    fn regions_are_disjoint_slices_of_one_page() {
        let mut page = SlabPage::new(64);
        let mut a = page.take(16).expect("room");
        let mut b = page.take(16).expect("room");
        assert!(page.take(33).is_none());
        assert_eq!(a.buf_mut_ptr().wrapping_add(16), b.buf_mut_ptr());
        fill(&mut a, b'a', 16);
        fill(&mut b, b'b', 16);
        let (fa, fb) = (a.freeze(16), b.freeze(16));
        assert_eq!(&fa[..], &[b'a'; 16]);
        assert_eq!(&fb[..], &[b'b'; 16]);
    }

    #[test]
    fn slices_of_frozen_bytes_are_correct() {
        let mut region = SlabPage::new(32).take(32).expect("room");
        assert!(region.put_slice(b"hello, zeromq world"));
        let frozen = region.freeze(19);
        assert_eq!(&Bytes::slice(&frozen, 7..13)[..], b"zeromq");
        assert_eq!(&Bytes::slice(&frozen, 14..)[..], b"world");
    }

    #[test]
    fn pointer_is_stable_when_moved() {
        let mut region = SlabPage::new(64).take(64).expect("room");
        let before = region.buf_mut_ptr();
        let mut moved = Box::new(region);
        assert_eq!(moved.buf_mut_ptr(), before);
        let mut moved_again = *moved;
        assert_eq!(moved_again.buf_mut_ptr(), before);
        fill(&mut moved_again, 9, 8);
        assert_eq!(moved_again.freeze(8).as_ptr(), before.cast::<u8>());
    }

    #[test]
    fn region_never_grows() {
        let mut region = SlabPage::new(64).take(8).expect("room");
        let ptr = region.buf_mut_ptr();
        assert!(region.reserve(9).is_err());
        assert!(region.extend_from_slice(&[0; 9]).is_err());
        assert!(!region.put_slice(&[0; 9]));
        assert_eq!(region.capacity(), 8);
        assert_eq!(region.buf_mut_ptr(), ptr);
    }

    #[test]
    fn page_outlives_every_bytes() {
        let mut page = SlabPage::new(64);
        let mut region = page.take(64).expect("room");
        fill(&mut region, 3, 64);
        let frozen = region.freeze(64);
        let tail = Bytes::slice(&frozen, 60..);
        drop(page);
        drop(frozen);
        // The page and the first view are gone; the slice still owns the
        // allocation (footgun 2). Under valgrind/ASan a dangling read fails.
        assert_eq!(&tail[..], &[3; 4]);
    }

    #[test]
    fn reclaim_is_gated_on_live_views() {
        let mut page = SlabPage::new(64);
        let start = page.rest_ptr();
        let mut region = page.take(64).expect("room");
        fill(&mut region, 5, 64);
        let frozen = region.freeze(64);
        let kept = Bytes::slice(&frozen, 10..20);
        drop(frozen);
        assert!(
            !page.reclaim(),
            "a live Bytes must keep the page out of reuse"
        );
        assert_eq!(&kept[..], &[5; 10]);
        drop(kept);
        assert!(page.reclaim());
        assert_eq!(page.remaining(), 64);
        assert_eq!(page.rest_ptr(), start, "reused in place, not reallocated");
    }

    #[test]
    fn reclaim_is_gated_on_live_slab_mut() {
        let mut page = SlabPage::new(64);
        let region = page.take(64).expect("room");
        assert!(!page.reclaim());
        drop(region);
        assert!(page.reclaim());
    }

    #[test]
    fn split_frozen_keeps_the_tail_writable() {
        let mut region = SlabPage::new(16).take(16).expect("room");
        assert!(region.put_slice(b"abcd"));
        let first = region.split_frozen();
        assert!(region.put_slice(b"efgh"));
        let second = region.split_frozen();
        assert_eq!(&first[..], b"abcd");
        assert_eq!(&second[..], b"efgh");
        assert_eq!(first.as_ptr().wrapping_add(4), second.as_ptr());
        assert_eq!(region.capacity(), 8);
    }

    #[test]
    fn io_bytes_is_zero_copy_and_advances() {
        let body = Bytes::from(vec![1, 2, 3, 4]);
        let mut io = IoBytes::new(body.clone());
        assert_eq!(io.buf_ptr(), body.as_ptr());
        io.advance(3);
        assert_eq!(io.as_init(), &[4]);
        assert_eq!(io.buf_ptr(), body.as_ptr().wrapping_add(3));
    }
}
