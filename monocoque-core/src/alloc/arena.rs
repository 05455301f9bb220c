//! The per-I/O-thread page pool that hands out [`SlabMut`] regions.
//!
//! Pages move between three places:
//!
//! ```text
//!            take()                 page used up              no view left
//!  idle ──────────────> current ──────────────────> graveyard ────────────> idle
//!   ^  (or a new page)                                (views alive)   │ (or freed when
//!   └──────────────────────────────────────────────────────────────────┘  idle is full)
//! ```
//!
//! A page leaves the graveyard only when [`SlabPage::reclaim`] proves that no
//! `SlabMut` or `Bytes` view of it remains (invariant D, footgun 5), and idle
//! pages above the configured cap are released, so a slow consumer costs the
//! memory it really holds and no more.
//!
//! The arena is not `Sync` on purpose: each I/O thread owns one, so handing
//! out a region costs no lock and no atomic beyond `bytes`' refcount.
//!
//! The pool itself needs no `unsafe` (every raw-memory step is in
//! `slab.rs`); the one `unsafe impl` here is [`CountingAlloc`], the counting
//! allocator the allocation tests install.

use std::alloc::{GlobalAlloc, Layout, System};
use std::cell::Cell;
use std::collections::VecDeque;
use std::marker::PhantomData;
use std::sync::atomic::{AtomicU64, Ordering};

use super::slab::{SlabMut, SlabPage};

/// The default page size: four 64 KiB reads.
pub const DEFAULT_PAGE_SIZE: usize = 256 * 1024;

/// The default number of idle pages kept for reuse (4 MiB with the default
/// page size).
pub const DEFAULT_MAX_IDLE_PAGES: usize = 16;

/// How many graveyard pages one page switch checks for reuse: enough to keep
/// up with a consumer that frees pages in order, bounded so a switch costs
/// O(1) even when many pages are held.
const SWEEP_PER_SWITCH: usize = 4;

/// Counters describing what an [`Arena`] holds and has done.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
pub struct ArenaStats {
    /// Pages allocated from the system over the arena's life.
    pub pages_allocated: u64,
    /// Pages released back to the system over the arena's life.
    pub pages_released: u64,
    /// Pages currently waiting in the graveyard for their views to drop.
    pub graveyard: usize,
    /// Pages currently idle and ready for reuse.
    pub idle: usize,
    /// Regions larger than a page, allocated on their own.
    pub oversized: u64,
}

/// A page pool handing out [`SlabMut`] regions, one per I/O thread.
///
/// ```
/// use monocoque_core::alloc::Arena;
/// let mut arena = Arena::new(4096, 2);
/// let mut region = arena.alloc(1024);
/// region.put_slice(b"frame");
/// let bytes = region.freeze(5);
/// assert_eq!(&bytes[..], b"frame");
/// ```
#[derive(Debug)]
pub struct Arena {
    page_size: usize,
    max_idle: usize,
    current: Option<SlabPage>,
    idle: Vec<SlabPage>,
    graveyard: VecDeque<SlabPage>,
    stats: ArenaStats,
    /// Owned by one thread: `!Sync`, so no shared `&Arena` crosses threads.
    _not_sync: PhantomData<Cell<()>>,
}

impl Default for Arena {
    fn default() -> Self {
        Self::new(DEFAULT_PAGE_SIZE, DEFAULT_MAX_IDLE_PAGES)
    }
}

impl Arena {
    /// An empty arena of `page_size`-byte pages keeping at most `max_idle`
    /// idle pages. Nothing is allocated until the first [`alloc`].
    ///
    /// [`alloc`]: Arena::alloc
    ///
    /// # Panics
    ///
    /// If `page_size` is 0.
    pub fn new(page_size: usize, max_idle: usize) -> Self {
        assert!(page_size > 0, "an arena page cannot be empty");
        Self {
            page_size,
            max_idle,
            current: None,
            idle: Vec::with_capacity(max_idle),
            graveyard: VecDeque::new(),
            stats: ArenaStats::default(),
            _not_sync: PhantomData,
        }
    }

    /// The size of the arena's pages.
    pub fn page_size(&self) -> usize {
        self.page_size
    }

    /// A writable region of exactly `len` bytes.
    ///
    /// Regions up to the page size come from pooled pages; a larger one (a
    /// big frame read in place) gets an allocation of its own, released when
    /// its last view drops.
    pub fn alloc(&mut self, len: usize) -> SlabMut {
        if len > self.page_size {
            self.stats.oversized += 1;
            return Self::one_off(len);
        }
        if let Some(region) = self.current.as_mut().and_then(|page| page.take(len)) {
            return region;
        }
        if let Some(used) = self.current.take() {
            self.graveyard.push_back(used);
        }
        self.sweep();
        let mut page = match self.idle.pop() {
            Some(page) => page,
            None => {
                self.stats.pages_allocated += 1;
                SlabPage::new(self.page_size)
            }
        };
        let region = page.take(len);
        self.current = Some(page);
        region.unwrap_or_else(|| Self::one_off(len))
    }

    /// What the arena holds and has done.
    pub fn stats(&self) -> ArenaStats {
        ArenaStats {
            graveyard: self.graveyard.len(),
            idle: self.idle.len(),
            ..self.stats
        }
    }

    /// Checks every graveyard page and releases idle pages above the cap;
    /// for an I/O thread going quiet.
    pub fn trim(&mut self) {
        for _ in 0..self.graveyard.len() {
            self.sweep_one();
        }
    }

    /// Releases idle pages above `keep` to the system; for an I/O thread
    /// whose connections ended, so that its pool holds what the next
    /// connections need and not the most that a past burst needed.
    pub fn release_idle(&mut self, keep: usize) {
        while self.idle.len() > keep {
            self.idle.pop();
            self.stats.pages_released += 1;
        }
    }

    fn one_off(len: usize) -> SlabMut {
        SlabPage::new(len)
            .take(len)
            .expect("a fresh page of `len` bytes has room for `len` bytes")
    }

    /// Moves up to [`SWEEP_PER_SWITCH`] reclaimable pages from the graveyard
    /// to the idle list; a page still in use goes to the back of the line.
    fn sweep(&mut self) {
        for _ in 0..SWEEP_PER_SWITCH.min(self.graveyard.len()) {
            self.sweep_one();
        }
    }

    fn sweep_one(&mut self) {
        let Some(mut page) = self.graveyard.pop_front() else {
            return;
        };
        if !page.reclaim() {
            self.graveyard.push_back(page);
        } else if self.idle.len() < self.max_idle {
            self.idle.push(page);
        } else {
            self.stats.pages_released += 1;
        }
    }
}

/// A global allocator that counts allocations, for the tests and benchmarks
/// that prove a hot path allocates nothing.
///
/// It forwards every call to [`System`] unchanged. It lives here because a
/// `GlobalAlloc` impl is `unsafe`, and this module is one of the two places
/// allowed to hold `unsafe`; a test binary installs it with a safe `static`:
///
/// ```
/// use monocoque_core::alloc::CountingAlloc;
///
/// #[global_allocator]
/// static ALLOC: CountingAlloc = CountingAlloc::new();
///
/// let before = CountingAlloc::thread_allocations();
/// let v = vec![1u8; 16];
/// assert_eq!(CountingAlloc::thread_allocations() - before, 1);
/// # drop(v);
/// ```
#[derive(Debug, Default)]
pub struct CountingAlloc {
    allocations: AtomicU64,
}

thread_local! {
    /// Allocations made by this thread; `const`-initialised, so reading it
    /// from inside the allocator never allocates.
    static THREAD_ALLOCATIONS: Cell<u64> = const { Cell::new(0) };
}

impl CountingAlloc {
    /// A counter at zero.
    pub const fn new() -> Self {
        Self {
            allocations: AtomicU64::new(0),
        }
    }

    /// Allocations (and reallocations) made through this allocator by every
    /// thread so far.
    pub fn allocations(&self) -> u64 {
        self.allocations.load(Ordering::Relaxed)
    }

    /// Allocations (and reallocations) made by the calling thread so far,
    /// through whichever `CountingAlloc` is installed; unaffected by tests
    /// running on other threads.
    pub fn thread_allocations() -> u64 {
        THREAD_ALLOCATIONS.try_with(Cell::get).unwrap_or(0)
    }

    fn count(&self) {
        self.allocations.fetch_add(1, Ordering::Relaxed);
        // During thread teardown the slot may be gone; the global count still
        // has the call.
        let _ = THREAD_ALLOCATIONS.try_with(|n| n.set(n.get() + 1));
    }
}

// SAFETY: every method forwards to `System` with the caller's arguments
// unchanged, so `System`'s guarantees hold for what it returns; counting only
// touches atomics and a const-initialised thread-local, never the memory
// handed out.
unsafe impl GlobalAlloc for CountingAlloc {
    unsafe fn alloc(&self, layout: Layout) -> *mut u8 {
        self.count();
        // SAFETY: the caller meets `GlobalAlloc::alloc`'s contract, which is
        // `System::alloc`'s.
        unsafe { System.alloc(layout) }
    }

    unsafe fn alloc_zeroed(&self, layout: Layout) -> *mut u8 {
        self.count();
        // SAFETY: as for `alloc`.
        unsafe { System.alloc_zeroed(layout) }
    }

    unsafe fn dealloc(&self, ptr: *mut u8, layout: Layout) {
        // SAFETY: `ptr` came from this allocator, i.e. from `System`, with
        // `layout` (the caller's contract).
        unsafe { System.dealloc(ptr, layout) }
    }

    unsafe fn realloc(&self, ptr: *mut u8, layout: Layout, new_size: usize) -> *mut u8 {
        self.count();
        // SAFETY: as for `dealloc`, plus the caller's `new_size` contract.
        unsafe { System.realloc(ptr, layout, new_size) }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use compio_buf::IoBufMut;

    #[test]
    fn regions_are_carved_from_one_page() {
        let mut arena = Arena::new(1024, 4);
        let mut a = arena.alloc(256);
        let mut b = arena.alloc(256);
        assert_eq!(a.buf_mut_ptr().wrapping_add(256), b.buf_mut_ptr());
        assert_eq!(arena.stats().pages_allocated, 1);
    }

    #[test]
    fn page_with_live_bytes_is_never_handed_out_again() {
        let mut arena = Arena::new(1024, 4);
        let mut region = arena.alloc(1024);
        let first_page = region.buf_mut_ptr();
        assert!(region.put_slice(&[0xAA; 1024]));
        let held = region.freeze(1024);

        // Cycle through many pages while `held` lives: none may reuse it.
        for _ in 0..32 {
            let mut other = arena.alloc(1024);
            assert_ne!(other.buf_mut_ptr(), first_page);
            assert!(other.put_slice(&[0x55; 1024]));
            drop(other.freeze(1024));
        }
        assert_eq!(
            &held[..],
            &[0xAA; 1024][..],
            "a reused page overwrote live bytes"
        );
        assert!(arena.stats().graveyard >= 1);

        drop(held);
        arena.trim();
        assert_eq!(arena.stats().graveyard, 0);
        // Hold what we take, so the arena must go through its idle pages.
        let mut taken: Vec<_> = (0..4).map(|_| arena.alloc(1024)).collect();
        let reused = taken.iter_mut().any(|r| r.buf_mut_ptr() == first_page);
        assert!(reused, "the page must come back once its last view dropped");
        assert_eq!(arena.stats().pages_allocated, 2 + 2, "{:?}", arena.stats());
    }

    #[test]
    fn warm_arena_allocates_no_new_pages() {
        let mut arena = Arena::new(64 * 1024, 4);
        for _ in 0..1000 {
            let mut region = arena.alloc(16 * 1024);
            assert!(region.put_slice(&[1; 100]));
            drop(region.freeze(100));
        }
        assert!(arena.stats().pages_allocated <= 2, "{:?}", arena.stats());
    }

    #[test]
    fn idle_pages_above_the_cap_are_released() {
        let mut arena = Arena::new(1024, 2);
        let held: Vec<_> = (0..10)
            .map(|_| {
                let mut region = arena.alloc(1024);
                assert!(region.put_slice(&[7; 8]));
                region.freeze(8)
            })
            .collect();
        assert_eq!(arena.stats().pages_allocated, 10);
        drop(held);
        arena.trim();
        let stats = arena.stats();
        assert_eq!(stats.idle, 2);
        assert_eq!(stats.graveyard, 0);
        assert!(stats.pages_released >= 7, "{stats:?}");
        arena.release_idle(1);
        assert_eq!(arena.stats().idle, 1);
        arena.release_idle(4);
        assert_eq!(arena.stats().idle, 1, "release_idle never adds pages");
    }

    #[test]
    fn oversized_regions_get_their_own_allocation() {
        let mut arena = Arena::new(1024, 2);
        let region = arena.alloc(4096);
        assert_eq!(region.capacity(), 4096);
        assert_eq!(arena.stats().oversized, 1);
        assert_eq!(arena.stats().pages_allocated, 0);
    }
}
