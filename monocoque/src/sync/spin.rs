//! A spin lock for holds of a few instructions, and [`Padded`] values.

use std::thread;

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
pub(crate) fn lock_spin<T>(m: &spin::Mutex<T>) -> spin::MutexGuard<'_, T> {
    let mut tries = 0u32;
    loop {
        if let Some(g) = m.try_lock() {
            return g;
        }
        tries += 1;
        if tries < 64 {
            std::hint::spin_loop();
        } else {
            thread::yield_now();
        }
    }
}

