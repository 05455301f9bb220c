//! The primitives [`Bell`](super::Bell), the spin lock and the pipe are
//! built on: std's, or loom's under `cfg(loom)` so the loom models (in
//! `pipe/loom_models.rs` and `sync/bell.rs`) see every access. The
//! non-loom build re-exports std's items: no wrapper, no cost.
//!
//! Only what loom can model is switched. Statics (a `const`-made std type
//! that loom has no equivalent of) and hints between sockets (the pipe's
//! `last_inline`) stay std's in both builds.

#[cfg(not(any(loom, monocoque_tsan)))]
pub(crate) use std::sync::Mutex;
#[cfg(not(loom))]
pub(crate) use std::sync::{atomic, OnceLock};
#[cfg(not(loom))]
pub(crate) use std::thread::yield_now;

/// The locks loom does not model (the socket's state, the context's, the
/// monitor's, the timer's...): std's, in loom builds too.
#[cfg(not(monocoque_tsan))]
pub(crate) use std::sync::{Mutex as StdMutex, MutexGuard as StdMutexGuard};

/// Under `cfg(monocoque_tsan)` (set by `scripts/sanitize.sh tsan`), every
/// lock of the crate is [`tsan_lock::Mutex`], whose acquire TSan sees.
#[cfg(all(monocoque_tsan, not(loom)))]
pub(crate) use tsan_lock::Mutex;
#[cfg(monocoque_tsan)]
pub(crate) use tsan_lock::{Mutex as StdMutex, MutexGuard as StdMutexGuard};

/// std's `Mutex` API over a lock made of atomics in instrumented code, for
/// ThreadSanitizer builds only. std is not instrumented here (no rust-src
/// to rebuild it), and a contended std `Mutex` is acquired inside std, so
/// TSan saw its releases but not its acquires and reported every access
/// behind it as a race (644 of 655 reports in the run of 2026-12-02). The
/// spin crate's lock is compiled with our flags, so its acquire and release
/// are seen. Never poisoned; waiters yield while they spin.
#[cfg(monocoque_tsan)]
mod tsan_lock {
    use std::sync::LockResult;

    /// See the module docs.
    #[derive(Debug, Default)]
    pub(crate) struct Mutex<T>(spin::mutex::SpinMutex<T, spin::relax::Yield>);

    /// The guard of a [`Mutex`].
    pub(crate) type MutexGuard<'a, T> = spin::mutex::SpinMutexGuard<'a, T>;

    impl<T> Mutex<T> {
        /// A lock around `value`.
        pub(crate) const fn new(value: T) -> Self {
            Self(spin::mutex::SpinMutex::new(value))
        }

        /// Takes the lock (never poisoned).
        pub(crate) fn lock(&self) -> LockResult<MutexGuard<'_, T>> {
            Ok(self.0.lock())
        }
    }
}

#[cfg(loom)]
pub(crate) use loom::sync::{atomic, Mutex};
#[cfg(loom)]
pub(crate) use loom::thread::yield_now;
#[cfg(loom)]
pub(crate) use once_lock::OnceLock;

/// A `OnceLock` whose hand-over loom sees: loom has none, and the crate
/// forbids the `unsafe` a cell of our own would need, so the value lives
/// in std's `OnceLock` and a loom flag carries the ordering. loom runs one
/// thread at a time, so std's lock never blocks here (an initialiser makes
/// queues, which has no point where loom switches threads).
#[cfg(loom)]
mod once_lock {
    use loom::sync::atomic::{AtomicBool, Ordering};

    #[derive(Debug, Default)]
    pub(crate) struct OnceLock<T> {
        /// Set (released) once `value` holds a value.
        set: AtomicBool,
        value: std::sync::OnceLock<T>,
    }

    impl<T> OnceLock<T> {
        pub(crate) fn new() -> Self {
            Self {
                set: AtomicBool::new(false),
                value: std::sync::OnceLock::new(),
            }
        }

        /// The value, if this thread may see it yet (std's `get` is an
        /// acquire load of the cell's state: loom may show a stale "unset").
        pub(crate) fn get(&self) -> Option<&T> {
            if self.set.load(Ordering::Acquire) {
                self.value.get()
            } else {
                None
            }
        }

        /// The value, made by `f` when there is none. The swap reads the
        /// latest flag (an acquire of whoever set it first) and sets it.
        pub(crate) fn get_or_init(&self, f: impl FnOnce() -> T) -> &T {
            let v = self.value.get_or_init(f);
            self.set.swap(true, Ordering::AcqRel);
            v
        }
    }
}
