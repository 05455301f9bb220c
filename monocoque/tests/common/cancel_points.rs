//! Random give-up points for cancel-safety tests: futures raced against
//! these are dropped after a random number of polls, sometimes after a
//! short sleep (tokio's timer). Included by path where needed.
#![allow(dead_code, unreachable_pub)]

use std::future::Future;
use std::pin::Pin;
use std::task::{Context, Poll};
use std::time::Duration;

/// A small xorshift: give-up points without a dependency.
pub struct Rng(pub u64);

impl Rng {
    pub fn next(&mut self) -> u64 {
        self.0 ^= self.0 << 13;
        self.0 ^= self.0 >> 7;
        self.0 ^= self.0 << 17;
        self.0
    }

    /// A future that completes after a few polls, and sometimes after a
    /// short sleep on top: whatever it races is dropped at a random point.
    pub fn timer(&mut self) -> impl Future<Output = ()> {
        let polls = (self.next() % 6) as u32;
        let r = self.next();
        let sleep = (r % 4 == 0).then(|| Duration::from_micros(r % 500));
        async move {
            Polls(polls).await;
            if let Some(d) = sleep {
                tokio::time::sleep(d).await;
            }
        }
    }
}

/// Pending for this many polls (waking itself each time), then ready.
pub struct Polls(pub u32);

impl Future for Polls {
    type Output = ();
    fn poll(mut self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<()> {
        if self.0 == 0 {
            return Poll::Ready(());
        }
        self.0 -= 1;
        cx.waker().wake_by_ref();
        Poll::Pending
    }
}
