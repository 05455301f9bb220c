//! A pipe's subscription changes waiting for the engine's writer, kept to
//! the latest change per prefix: a publisher that does not read makes us
//! hold at most one change for each prefix, however often the application
//! (or, through a proxy, its own subscribers) changes it (docs/BOUNDS.md
//! row 19).

use std::collections::{HashMap, VecDeque};

use bytes::Bytes;

use super::PipeCmd;
use crate::sync::atomic::{AtomicUsize, Ordering};
use crate::sync::Mutex;

/// The waiting changes, in the order their prefixes first changed.
#[derive(Debug, Default)]
pub(super) struct Commands {
    waiting: Mutex<Waiting>,
    /// How many prefixes have a change waiting (read without the lock).
    len: AtomicUsize,
}

#[derive(Debug, Default)]
struct Waiting {
    order: VecDeque<Bytes>,
    /// Each waiting prefix's latest change: subscribe (`true`) or cancel.
    latest: HashMap<Bytes, bool>,
}

impl Commands {
    /// Queues `cmd`, or makes it the waiting change of its prefix. Changes
    /// of different prefixes commute at the publisher, and for one prefix
    /// only the last counts there (a publisher keeps a prefix once per
    /// peer, as libzmq's), so nothing it would act on is lost; an XPUB
    /// with `XPUB_VERBOSE` upstream sees fewer repeats.
    pub(super) fn push(&self, cmd: PipeCmd) {
        let (prefix, on) = match cmd {
            PipeCmd::Subscribe(p) => (p, true),
            PipeCmd::Cancel(p) => (p, false),
        };
        let mut w = self.waiting.lock().unwrap_or_else(|e| e.into_inner());
        if let Some(latest) = w.latest.get_mut(&prefix) {
            *latest = on;
            return;
        }
        w.order.push_back(prefix.clone());
        w.latest.insert(prefix, on);
        self.len.fetch_add(1, Ordering::AcqRel);
    }

    /// Takes the oldest waiting change.
    pub(super) fn pop(&self) -> Option<PipeCmd> {
        if self.is_empty() {
            return None;
        }
        let mut w = self.waiting.lock().unwrap_or_else(|e| e.into_inner());
        let prefix = w.order.pop_front()?;
        let on = w.latest.remove(&prefix).unwrap_or(true);
        self.len.fetch_sub(1, Ordering::AcqRel);
        Some(if on {
            PipeCmd::Subscribe(prefix)
        } else {
            PipeCmd::Cancel(prefix)
        })
    }

    /// Drops every waiting change.
    pub(super) fn clear(&self) {
        let mut w = self.waiting.lock().unwrap_or_else(|e| e.into_inner());
        w.order.clear();
        w.latest.clear();
        self.len.store(0, Ordering::Release);
    }

    /// Whether no change waits.
    pub(super) fn is_empty(&self) -> bool {
        self.len.load(Ordering::Acquire) == 0
    }

    /// How many prefixes have a change waiting.
    #[cfg(all(test, not(loom)))]
    pub(super) fn len(&self) -> usize {
        self.len.load(Ordering::Acquire)
    }
}

#[cfg(all(test, not(loom)))]
mod tests {
    use super::*;

    fn cmd(on: bool, p: &'static str) -> PipeCmd {
        if on {
            PipeCmd::Subscribe(Bytes::from_static(p.as_bytes()))
        } else {
            PipeCmd::Cancel(Bytes::from_static(p.as_bytes()))
        }
    }

    fn show(c: Option<PipeCmd>) -> Option<(bool, Bytes)> {
        c.map(|c| match c {
            PipeCmd::Subscribe(p) => (true, p),
            PipeCmd::Cancel(p) => (false, p),
        })
    }

    #[test]
    fn one_change_waits_per_prefix_the_latest_in_first_order() {
        let c = Commands::default();
        for i in 0..100_000 {
            c.push(cmd(i % 2 == 0, "a"));
            c.push(cmd(true, "b"));
        }
        c.push(cmd(false, "c"));
        assert_eq!(c.len(), 3);
        assert_eq!(show(c.pop()), Some((false, Bytes::from_static(b"a"))));
        assert_eq!(show(c.pop()), Some((true, Bytes::from_static(b"b"))));
        assert_eq!(show(c.pop()), Some((false, Bytes::from_static(b"c"))));
        assert!(c.pop().is_none() && c.is_empty());
        c.push(cmd(true, "a"));
        c.clear();
        assert!(c.is_empty() && c.pop().is_none());
    }
}
