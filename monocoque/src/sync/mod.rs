//! Concurrency helpers that know nothing of sockets: [`Bell`] (an event
//! free to ring when nobody waits), a spin lock for short holds, a
//! runtime-agnostic `block_on` and `race`, and a [`Cancel`] token.

mod bell;
mod block_on;
mod cancel;
mod spin;

pub(crate) use bell::{bell_listener, Bell};
pub(crate) use block_on::{block_on, maybe, race, Either};
pub(crate) use cancel::Cancel;
pub(crate) use spin::{lock_spin, Padded};
