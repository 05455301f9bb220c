//! A spin lock for holds of a few instructions, and [`Padded`] values.

/// A value on cache lines of its own (two, as the adjacent-line prefetcher
/// pulls lines in pairs): a field one thread writes often must not share
/// a line with fields another thread reads on every message.
#[derive(Debug, Default)]
#[repr(align(128))]
pub(crate) struct Padded<T>(pub(crate) T);

impl<T> std::ops::Deref for Padded<T> {
    type Target = T;
    fn deref(&self) -> &T {
        &self.0
    }
}

/// Locks a spin lock held for a few instructions at a time, on paths taken
/// once per message: its release is a plain store where a futex mutex's
/// is a locked exchange, which waits for every store before it (the
/// message just handed over, on cache lines the other thread read last).
/// A holder preempted in those instructions costs the others yields, not
/// a long spin.
#[cfg(not(loom))]
pub(crate) fn lock_spin<T>(m: &SpinLock<T>) -> SpinGuard<'_, T> {
    let mut tries = 0u32;
    loop {
        if let Some(g) = m.try_lock() {
            return g;
        }
        tries += 1;
        if tries < 64 {
            std::hint::spin_loop();
        } else {
            super::yield_now();
        }
    }
}

/// The spin lock [`lock_spin`] takes (the `spin` crate's).
#[cfg(not(loom))]
pub(crate) type SpinLock<T> = spin::Mutex<T>;
/// What [`lock_spin`] returns.
#[cfg(not(loom))]
pub(crate) type SpinGuard<'a, T> = spin::MutexGuard<'a, T>;

/// Under loom, a failed `try_lock` yields at once (a spin loop that never
/// yields never ends under loom), and the lock is loom's mutex, so the
/// models see what its holder did. Locks that no model reaches (the
/// receive side's, a `spin::Mutex`) keep working.
#[cfg(loom)]
pub(crate) fn lock_spin<L: TryLock>(m: &L) -> L::Guard<'_> {
    loop {
        if let Some(g) = m.try_lock_now() {
            return g;
        }
        super::yield_now();
    }
}

/// A lock [`lock_spin`] can take (loom builds only).
#[cfg(loom)]
pub(crate) trait TryLock {
    /// The held lock.
    type Guard<'a>
    where
        Self: 'a;
    /// The lock if it is free now.
    fn try_lock_now(&self) -> Option<Self::Guard<'_>>;
}

#[cfg(loom)]
impl<T> TryLock for spin::Mutex<T> {
    type Guard<'a>
        = spin::MutexGuard<'a, T>
    where
        T: 'a;
    fn try_lock_now(&self) -> Option<Self::Guard<'_>> {
        self.try_lock()
    }
}

/// loom's mutex, taken only by `try_lock` (see [`lock_spin`]).
#[cfg(loom)]
#[derive(Debug, Default)]
pub(crate) struct SpinLock<T>(loom::sync::Mutex<T>);

/// What [`lock_spin`] returns for a [`SpinLock`].
#[cfg(loom)]
pub(crate) type SpinGuard<'a, T> = loom::sync::MutexGuard<'a, T>;

#[cfg(loom)]
impl<T> TryLock for SpinLock<T> {
    type Guard<'a>
        = SpinGuard<'a, T>
    where
        T: 'a;
    fn try_lock_now(&self) -> Option<Self::Guard<'_>> {
        self.0.try_lock().ok()
    }
}

#[cfg(all(test, not(loom)))]
mod tests {
    use std::sync::Arc;

    use super::{lock_spin, Padded, SpinLock};

    #[test]
    fn lock_spin_excludes() {
        let n = Arc::new(SpinLock::new(0u64));
        let threads: Vec<_> = (0..2)
            .map(|_| {
                let n = n.clone();
                std::thread::spawn(move || {
                    for _ in 0..10_000 {
                        *lock_spin(&n) += 1;
                    }
                })
            })
            .collect();
        for t in threads {
            assert!(t.join().is_ok());
        }
        assert_eq!(*lock_spin(&n), 20_000);
    }

    #[test]
    fn padded_fills_two_cache_lines() {
        assert_eq!(align_of::<Padded<u8>>(), 128);
        assert_eq!(size_of::<Padded<u64>>(), 128);
    }
}
