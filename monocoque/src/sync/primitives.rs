//! The primitives [`Bell`](super::Bell), the spin lock and the pipe are
//! built on: std's, or loom's under `cfg(loom)` so the loom models (in
//! `pipe/loom_models.rs` and `sync/bell.rs`) see every access. The
//! non-loom build re-exports std's items: no wrapper, no cost.
//!
//! Only what loom can model is switched. Statics (a `const`-made std type
//! that loom has no equivalent of) and hints between sockets (the pipe's
//! `last_inline`) stay std's in both builds.

#[cfg(not(loom))]
pub(crate) use std::sync::{atomic, Mutex, OnceLock};
#[cfg(not(loom))]
pub(crate) use std::thread::yield_now;

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
