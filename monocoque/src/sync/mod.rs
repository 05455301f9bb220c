//! Concurrency helpers that know nothing of sockets: [`Bell`] (an event
//! free to ring when nobody waits), a spin lock for short holds, a
//! runtime-agnostic `block_on` and `race`, a [`Cancel`] token and a
//! [`Sleep`] that runs on any executor; and the
//! primitives they and the pipe use (std's, or loom's under `cfg(loom)`).

mod bell;
mod block_on;
mod cancel;
mod primitives;
mod spin;
mod timer;
// Not needed on Linux (eventfd), but its tests run there too.
#[cfg(any(test, all(unix, not(target_os = "linux"))))]
mod wake_pipe;

/// Named by the `futures` feature's adapters, which keep a listener.
#[cfg(feature = "futures")]
pub(crate) use bell::BellListener;
pub(crate) use bell::{bell_listener, Bell, Observer};
pub(crate) use block_on::{block_on, maybe, race, Either};
pub(crate) use cancel::Cancel;
pub(crate) use primitives::{atomic, yield_now, Mutex, OnceLock, StdMutex, StdMutexGuard};
pub(crate) use spin::{lock_spin, Padded, SpinGuard, SpinLock};
pub(crate) use timer::Sleep;
#[cfg(all(unix, not(target_os = "linux")))]
pub(crate) use wake_pipe::WakePipe;
