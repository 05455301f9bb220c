//! [`Cancel`]: a one-shot stop signal.

use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::Arc;

use event_listener::{listener, Event};

/// A one-shot stop signal shared by the socket and the tasks it started.
#[derive(Debug, Default)]
pub(crate) struct Cancel {
    flag: AtomicBool,
    event: Event,
}

impl Cancel {
    pub(crate) fn new() -> Arc<Self> {
        Arc::new(Self::default())
    }

    /// Stops every task watching this token.
    pub(crate) fn cancel(&self) {
        self.flag.store(true, Ordering::Release);
        self.event.notify(usize::MAX);
    }

    /// Whether [`cancel`](Self::cancel) was called.
    pub(crate) fn is_cancelled(&self) -> bool {
        self.flag.load(Ordering::Acquire)
    }

    /// Completes once cancelled.
    pub(crate) async fn wait(&self) {
        loop {
            if self.is_cancelled() {
                return;
            }
            listener!(self.event => l);
            if self.is_cancelled() {
                return;
            }
            l.await;
        }
    }
}
