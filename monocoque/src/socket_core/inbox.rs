//! [`Inbox`]: a socket's inbound queue, filled by engines and inproc
//! peers, emptied by the user side. Lock-free on the hot path: runs of
//! messages (one engine read each) and single messages, the run being
//! taken under a spin lock of its own.

use std::collections::VecDeque;
#[cfg(target_os = "linux")]
use std::os::fd::OwnedFd;
use std::sync::atomic::{fence, AtomicBool, AtomicUsize, Ordering};
use std::sync::OnceLock;

use concurrent_queue::ConcurrentQueue;
use monocoque_core::router::PeerId;

use crate::message::Message;
use crate::options::SocketOptions;
use crate::stats::Counters;
use crate::sync::{lock_spin, Bell};

/// What a watching `recv` polls: an eventfd on Linux, a socket pair on the
/// other Unixes; nothing on Windows (no watching `recv` there).
#[cfg(target_os = "linux")]
type WatchEvent = OwnedFd;
#[cfg(all(unix, not(target_os = "linux")))]
type WatchEvent = crate::sync::WakePipe;
#[cfg(windows)]
type WatchEvent = std::convert::Infallible;

/// A message and the peer it came from.
#[derive(Debug)]
pub(crate) struct Inbound {
    pub(crate) peer: PeerId,
    pub(crate) msg: Message,
}

/// The inbound queue of one socket and the bells both sides sleep on.
#[derive(Debug)]
pub(crate) struct Inbox {
    /// Messages queued one at a time (inproc senders, STREAM engines).
    singles: OnceLock<ConcurrentQueue<Inbound>>,
    /// ZMTP engines' messages, a run of one read at a time: one queue
    /// operation per run instead of per message (see [`Inbox::push_run`]).
    runs: ConcurrentQueue<Vec<Inbound>>,
    /// Messages in `runs`, bounded by RCVHWM.
    in_runs: AtomicUsize,
    /// The run the user side is taking messages from.
    local: spin::Mutex<VecDeque<Inbound>>,
    /// Whether `local` holds messages (read without its lock).
    local_has: AtomicBool,
    /// Emptied run buffers, handed back to the engines for reuse.
    spare: ConcurrentQueue<Vec<Inbound>>,
    /// Wakes the user side: a message arrived, room appeared, a peer came.
    pub(crate) wake: Bell,
    /// Wakes whoever waits for room here (engines, inproc senders).
    pub(crate) space: Bell,
    closed: AtomicBool,
    /// Blocking `recv`s polling their connection (see
    /// `Socket::recv_watching`).
    watchers: AtomicUsize,
    /// Written when a message arrives while somebody watches.
    watch: OnceLock<WatchEvent>,
    /// The socket type may conflate (`ZMQ_CONFLATE`: PULL, SUB, DEALER).
    conflatable: bool,
    /// Conflating: `singles` holds one message, the newest, and runs are
    /// never queued (set once, by [`Inbox::init`]).
    conflate: AtomicBool,
}

/// A watching `recv`, counted until dropped.
#[derive(Debug)]
#[cfg_attr(windows, allow(dead_code))]
pub(crate) struct Watching<'a>(&'a Inbox);

impl Drop for Watching<'_> {
    fn drop(&mut self) {
        self.0.watchers.fetch_sub(1, Ordering::SeqCst);
    }
}

/// The queue's capacity when nothing set it (libzmq's RCVHWM).
const DEFAULT_CAPACITY: usize = 1000;

/// Emptied run buffers kept for reuse.
const SPARE_RUNS: usize = 8;

/// A new run buffer's capacity: it grows (to [`RUN_MSGS`]) only where
/// reads carry that many messages.
const FRESH_RUN: usize = 16;

/// Messages an engine gathers into one run before it queues them.
pub(crate) const RUN_MSGS: usize = 1024;

impl Default for Inbox {
    fn default() -> Self {
        Self {
            singles: OnceLock::new(),
            runs: ConcurrentQueue::unbounded(),
            in_runs: AtomicUsize::new(0),
            local: spin::Mutex::new(VecDeque::new()),
            local_has: AtomicBool::new(false),
            spare: ConcurrentQueue::bounded(SPARE_RUNS),
            wake: Bell::default(),
            space: Bell::default(),
            closed: AtomicBool::new(false),
            watchers: AtomicUsize::new(0),
            watch: OnceLock::new(),
            conflatable: false,
            conflate: AtomicBool::new(false),
        }
    }
}

impl Inbox {
    /// The inbound queue of a socket type that conflates when
    /// `ZMQ_CONFLATE` is set (`conflatable`), or ignores it.
    pub(crate) fn new(conflatable: bool) -> Inbox {
        Inbox {
            conflatable,
            ..Inbox::default()
        }
    }

    /// Fixes the queue's size (RCVHWM, with room for a few messages of
    /// every peer of a ROUTER or REP) at the first bind or connect; with
    /// `ZMQ_CONFLATE`, one message.
    pub(crate) fn init(&self, opts: &SocketOptions) {
        let conflate = self.conflatable && opts.conflate;
        let mut made = false;
        let _ = self.singles.get_or_init(|| {
            made = true;
            if conflate {
                ConcurrentQueue::bounded(1)
            } else {
                crate::options::hwm_queue(opts.recv_capacity().max(16))
            }
        });
        if made && conflate {
            self.conflate.store(true, Ordering::Release);
        }
    }

    fn singles(&self) -> &ConcurrentQueue<Inbound> {
        self.singles
            .get_or_init(|| ConcurrentQueue::bounded(DEFAULT_CAPACITY))
    }

    /// Takes the next message, if any, and tells waiting producers that
    /// room appeared. The current run goes first, then single messages,
    /// then the next run, so neither kind starves the other.
    pub(crate) fn pop(&self) -> Option<Inbound> {
        self.pop_maybe_counted(None)
    }

    /// Like [`pop`](Self::pop), and counts the message taken as received
    /// by the application (a socket whose every message goes to the
    /// application as it is: `recv_direct`).
    pub(crate) fn pop_counted(&self, counters: &Counters) -> Option<Inbound> {
        self.pop_maybe_counted(Some(counters))
    }

    fn pop_maybe_counted(&self, counters: Option<&Counters>) -> Option<Inbound> {
        if self.local_has.load(Ordering::Acquire) {
            if let Some(i) = self.pop_run(false, counters) {
                return Some(i);
            }
        }
        if let Some(q) = self.singles.get() {
            if let Ok(item) = q.pop() {
                // A fence and a load while nobody waits for room (reading
                // the queue's length here would pull the producer's line).
                self.space.ring();
                if let Some(c) = counters {
                    c.received(item.msg.size());
                }
                return Some(item);
            }
        }
        if self.runs.is_empty() {
            return None;
        }
        self.pop_run(true, counters)
    }

    /// Takes a message from the current run; when it is empty and `next`,
    /// starts the next run first. Counts it in `counters` while the run's
    /// lock is held.
    fn pop_run(&self, next: bool, counters: Option<&Counters>) -> Option<Inbound> {
        // A spin lock: taken once per message (see `lock_spin`).
        let mut local = lock_spin(&self.local);
        if local.is_empty() {
            if !next {
                return None;
            }
            let run = self.runs.pop().ok()?;
            self.in_runs.fetch_sub(run.len(), Ordering::AcqRel);
            self.space.ring();
            let old = std::mem::replace(&mut *local, VecDeque::from(run));
            if old.capacity() > 0 {
                let _ = self.spare.push(Vec::from(old));
            }
        }
        let item = local.pop_front();
        self.local_has.store(!local.is_empty(), Ordering::Release);
        if let (Some(c), Some(i)) = (counters, &item) {
            c.received_locked(i.msg.size());
        }
        item
    }

    /// An empty buffer for an engine's next run (a reused one when there is one).
    pub(crate) fn run_buffer(&self) -> Vec<Inbound> {
        self.spare
            .pop()
            .unwrap_or_else(|_| Vec::with_capacity(FRESH_RUN))
    }

    /// Queues a run of messages from one engine and wakes the user side;
    /// gives it back while RCVHWM messages are already queued (a run may
    /// go beyond it: it is at most [`RUN_MSGS`] long).
    pub(crate) fn push_run(&self, run: Vec<Inbound>) -> Result<(), Vec<Inbound>> {
        if self.is_closed() || run.is_empty() {
            return Ok(());
        }
        if self.conflate.load(Ordering::Relaxed) {
            self.conflate_run(run);
            return Ok(());
        }
        if self.runs_full() {
            return Err(run);
        }
        self.in_runs.fetch_add(run.len(), Ordering::AcqRel);
        let _ = self.runs.push(run);
        self.wake.ring();
        self.nudge_watchers();
        Ok(())
    }

    /// Whether engines must wait before queueing another run.
    pub(crate) fn runs_full(&self) -> bool {
        let cap = self.singles().capacity().unwrap_or(usize::MAX);
        self.in_runs.load(Ordering::Acquire) >= cap
    }

    /// Queues one message from `peer` (an inproc sender, a STREAM engine)
    /// and wakes the user side; gives it back when the queue is full.
    pub(crate) fn push_one(&self, peer: PeerId, msg: Message) -> Result<(), Message> {
        if self.is_closed() {
            return Ok(());
        }
        if self.conflate.load(Ordering::Relaxed) {
            self.push_latest(Inbound { peer, msg });
            return Ok(());
        }
        self.singles()
            .push(Inbound { peer, msg })
            .map_err(|e| e.into_inner().msg)?;
        self.wake.ring();
        self.nudge_watchers();
        Ok(())
    }

    /// `ZMQ_CONFLATE`: keeps the run's last message in place of whatever
    /// waited, and gives the run's buffer back for reuse.
    #[cold]
    fn conflate_run(&self, mut run: Vec<Inbound>) {
        if let Some(last) = run.pop() {
            self.push_latest(last);
        }
        run.clear();
        let _ = self.spare.push(run);
    }

    /// `ZMQ_CONFLATE`: `item` replaces the message waiting, if any. The
    /// queue holds one message; whoever finds it full takes the old one
    /// out first, so the last push to succeed is what stays.
    #[cold]
    fn push_latest(&self, item: Inbound) {
        let q = self.singles();
        let mut item = item;
        loop {
            match q.push(item) {
                Ok(()) => break,
                Err(concurrent_queue::PushError::Full(back)) => {
                    item = back;
                    let _ = q.pop();
                }
                Err(concurrent_queue::PushError::Closed(_)) => return,
            }
        }
        self.wake.ring();
        self.nudge_watchers();
    }

    /// A notice the socket itself makes about peer `peer` (ROUTER's and
    /// STREAM's connect and disconnect notifications, `DISCONNECT_MSG`):
    /// as a run of one after what the peer's ZMTP engine queued
    /// (`after_runs`), else as a single message, so it never overtakes what
    /// the peer sent before it. Past RCVHWM it may still go after the runs,
    /// up to RCVHWM more; beyond that it is dropped (peers that come and go
    /// while the application does not read cannot grow the queue without
    /// bound; the STREAM engine dropped its notices at RCVHWM before).
    pub(crate) fn push_notice(&self, peer: PeerId, msg: Message, after_runs: bool) {
        if self.is_closed() {
            return;
        }
        let cap = self.singles().capacity().unwrap_or(usize::MAX);
        if self.in_runs.load(Ordering::Acquire) >= cap.saturating_mul(2) {
            return;
        }
        let item = Inbound { peer, msg };
        let item = if after_runs {
            item
        } else {
            match self.singles().push(item) {
                Ok(()) => {
                    self.wake.ring();
                    self.nudge_watchers();
                    return;
                }
                // Full: after the runs instead, still after everything
                // this peer queued.
                Err(e) => e.into_inner(),
            }
        };
        let mut run = self.run_buffer();
        run.push(item);
        self.in_runs.fetch_add(1, Ordering::AcqRel);
        let _ = self.runs.push(run);
        self.wake.ring();
        self.nudge_watchers();
    }

    /// Notices the socket makes for the application as a run behind what
    /// every engine queued, whatever RCVHWM says: an XPUB's cancels for a
    /// departed peer's prefixes (as many as its subscription budget let it
    /// hold), and an inproc peer's subscriptions (the application's own).
    pub(crate) fn push_notices(&self, run: Vec<Inbound>) {
        if self.is_closed() || run.is_empty() {
            return;
        }
        self.in_runs.fetch_add(run.len(), Ordering::AcqRel);
        let _ = self.runs.push(run);
        self.wake.ring();
        self.nudge_watchers();
    }

    /// Whether the single-message queue is at capacity.
    pub(crate) fn is_full(&self) -> bool {
        self.singles().is_full()
    }

    /// Whether a message waits (a poller's POLLIN for the types that take
    /// messages as they come).
    pub(crate) fn has_messages(&self) -> bool {
        self.local_has.load(Ordering::Acquire)
            || self.singles.get().is_some_and(|q| !q.is_empty())
            || !self.runs.is_empty()
    }

    /// Messages queued in runs, in the run being taken, and as single
    /// messages, and the capacity (RCVHWM): the pattern-layer simulation
    /// checks them against the bound (docs/BOUNDS.md row 7).
    #[cfg(test)]
    pub(crate) fn lengths(&self) -> (usize, usize, usize, usize) {
        let singles = self.singles();
        (
            self.in_runs.load(Ordering::Acquire),
            lock_spin(&self.local).len(),
            singles.len(),
            singles.capacity().unwrap_or(usize::MAX),
        )
    }

    /// Marks the socket closed: producers stop delivering, sleepers wake.
    pub(crate) fn close(&self) {
        self.closed.store(true, Ordering::Release);
        self.wake.ring();
        self.space.ring();
        self.nudge_watchers();
    }

    /// Whether the socket was closed.
    pub(crate) fn is_closed(&self) -> bool {
        self.closed.load(Ordering::Acquire)
    }

    /// The event a watching `recv` polls beside its connection, made on
    /// first use (non-blocking, close-on-exec).
    #[cfg(unix)]
    pub(crate) fn watch_event(&self) -> Option<&WatchEvent> {
        if self.watch.get().is_none() {
            #[cfg(all(unix, not(target_os = "linux")))]
            let fd = crate::sync::WakePipe::new().ok()?;
            #[cfg(target_os = "linux")]
            let fd = rustix::event::eventfd(
                0,
                rustix::event::EventfdFlags::NONBLOCK | rustix::event::EventfdFlags::CLOEXEC,
            )
            .ok()?;
            let _ = self.watch.set(fd);
        }
        self.watch.get()
    }

    /// Counts a watching `recv` until the guard drops.
    #[cfg_attr(windows, allow(dead_code))]
    pub(crate) fn watching(&self) -> Watching<'_> {
        self.watchers.fetch_add(1, Ordering::SeqCst);
        fence(Ordering::SeqCst);
        Watching(self)
    }

    /// Wakes watching `recv`s (after a message was queued, or the close):
    /// one write to the event, only while somebody watches.
    fn nudge_watchers(&self) {
        // `Bell::ring`'s fence orders the queue operation before this.
        if self.watchers.load(Ordering::Relaxed) > 0 {
            if let Some(fd) = self.watch.get() {
                #[cfg(target_os = "linux")]
                let _ = rustix::io::write(fd, &1u64.to_ne_bytes());
                #[cfg(all(unix, not(target_os = "linux")))]
                fd.signal();
                #[cfg(windows)]
                match *fd {}
            }
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use bytes::Bytes;

    fn msg(i: u32) -> Inbound {
        Inbound {
            peer: PeerId::from_parts(i, 0),
            msg: Message::from(Bytes::from(i.to_be_bytes().to_vec())),
        }
    }

    fn id(i: &Inbound) -> u32 {
        u32::from_be_bytes(i.msg[0][..].try_into().expect("four bytes"))
    }

    #[test]
    fn runs_and_singles_interleave_without_starving() {
        let inbox = Inbox::default();
        inbox.init(&SocketOptions::default());
        let mut run = inbox.run_buffer();
        run.extend([msg(1), msg(2), msg(3)]);
        inbox.push_run(run).expect("room");
        inbox
            .push_one(PeerId::from_parts(9, 0), msg(9).msg)
            .expect("room");
        let mut run = inbox.run_buffer();
        run.push(msg(4));
        inbox.push_run(run).expect("room");
        let order: Vec<u32> = std::iter::from_fn(|| inbox.pop()).map(|i| id(&i)).collect();
        // No run is current: the single goes first, then a run is taken
        // whole, then the next.
        assert_eq!(order, [9, 1, 2, 3, 4]);
    }

    #[test]
    fn runs_are_refused_at_rcvhwm_and_taken_again_after_a_pop() {
        let inbox = Inbox::default();
        inbox.init(&SocketOptions {
            rcvhwm: 16,
            ..SocketOptions::default()
        });
        let mut run = inbox.run_buffer();
        run.extend((0..16).map(msg));
        inbox.push_run(run).expect("room for the first run");
        let mut more = inbox.run_buffer();
        more.push(msg(99));
        let back = inbox.push_run(more).expect_err("full");
        assert!(inbox.runs_full());
        assert_eq!(inbox.pop().map(|i| id(&i)), Some(0));
        assert!(!inbox.runs_full(), "taking a run makes room");
        inbox.push_run(back).expect("room now");
    }

    #[test]
    fn a_closed_inbox_drops_what_comes() {
        let inbox = Inbox::default();
        inbox.close();
        inbox
            .push_one(PeerId::from_parts(1, 0), msg(1).msg)
            .expect("dropped, not refused");
        assert!(inbox.pop().is_none());
    }
}
