//! [`Sleep`]: a deadline as a future, on any executor.
//!
//! One thread per process keeps the pending deadlines in order and wakes
//! each future when its time comes. A `Sleep` registers only when it is
//! first polled without having expired, and unregisters when dropped, so
//! the table holds exactly the sleeps that wait: an `async` receive with a
//! timeout that finds its message at once costs no registration at all.

use std::collections::BTreeMap;
use std::future::Future;
use std::pin::Pin;
use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::OnceLock;

use super::StdMutex as Mutex;
use std::task::{Context, Poll, Waker};
use std::thread::{self, Thread};
use std::time::Instant;

/// The pending deadlines and the thread that fires them.
struct Timers {
    /// Wakers by (deadline, registration number): the first key is the next
    /// deadline, and two sleeps for the same instant stay apart.
    pending: Mutex<BTreeMap<(Instant, u64), Waker>>,
    next: AtomicU64,
    thread: Thread,
}

fn timers() -> &'static Timers {
    static TIMERS: OnceLock<&'static Timers> = OnceLock::new();
    TIMERS.get_or_init(|| {
        let (tx, rx) = std::sync::mpsc::channel::<&'static Timers>();
        let handle = thread::Builder::new()
            .name("monocoque-timer".into())
            .spawn(move || {
                let Ok(t) = rx.recv() else { return };
                fire(t);
            })
            .expect("start the timer thread");
        let t: &'static Timers = Box::leak(Box::new(Timers {
            pending: Mutex::new(BTreeMap::new()),
            next: AtomicU64::new(0),
            thread: handle.thread().clone(),
        }));
        let _ = tx.send(t);
        t
    })
}

/// The timer thread: wakes what is due, then sleeps until the next
/// deadline (or until a new earliest one unparks it).
fn fire(t: &Timers) {
    let mut due = Vec::new();
    loop {
        let now = Instant::now();
        let next = {
            let mut p = t.pending.lock().unwrap_or_else(|e| e.into_inner());
            while let Some(entry) = p.first_entry() {
                if entry.key().0 > now {
                    break;
                }
                due.push(entry.remove());
            }
            p.keys().next().map(|k| k.0)
        };
        for w in due.drain(..) {
            w.wake();
        }
        match next {
            Some(d) => thread::park_timeout(d.saturating_duration_since(Instant::now())),
            None => thread::park(),
        }
    }
}

/// A future that completes at `deadline`.
#[derive(Debug)]
pub(crate) struct Sleep {
    deadline: Instant,
    key: Option<(Instant, u64)>,
}

impl Sleep {
    /// A sleep until `deadline`.
    pub(crate) fn until(deadline: Instant) -> Sleep {
        Sleep {
            deadline,
            key: None,
        }
    }
}

impl Future for Sleep {
    type Output = ();

    fn poll(mut self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<()> {
        if Instant::now() >= self.deadline {
            return Poll::Ready(());
        }
        let t = timers();
        let mut p = t.pending.lock().unwrap_or_else(|e| e.into_inner());
        let key = match self.key {
            Some(k) => k,
            None => {
                let k = (self.deadline, t.next.fetch_add(1, Ordering::Relaxed));
                self.key = Some(k);
                k
            }
        };
        let first = p.keys().next().is_none_or(|f| key <= *f);
        match p.get_mut(&key) {
            Some(w) if w.will_wake(cx.waker()) => {}
            Some(w) => w.clone_from(cx.waker()),
            // Not there: new, or fired (then the deadline has passed by
            // the timer's clock, and it is registered again harmlessly).
            None => {
                p.insert(key, cx.waker().clone());
            }
        }
        drop(p);
        if first {
            t.thread.unpark();
        }
        Poll::Pending
    }
}

impl Drop for Sleep {
    fn drop(&mut self) {
        if let Some(k) = self.key {
            let mut p = timers().pending.lock().unwrap_or_else(|e| e.into_inner());
            p.remove(&k);
        }
    }
}

/// Whether the sleep registered as `key` still waits (tests).
#[cfg(test)]
fn registered(key: (Instant, u64)) -> bool {
    timers()
        .pending
        .lock()
        .unwrap_or_else(|e| e.into_inner())
        .contains_key(&key)
}

#[cfg(test)]
mod tests {
    use std::time::Duration;

    use super::*;
    use crate::sync::block_on;

    #[test]
    fn a_sleep_ends_at_its_deadline_and_unregisters() {
        let start = Instant::now();
        let d = start + Duration::from_millis(30);
        block_on(Sleep::until(d), None).unwrap();
        assert!(Instant::now() >= d);
        // A sleep dropped before its time leaves nothing behind.
        let mut far = Box::pin(Sleep::until(Instant::now() + Duration::from_secs(3600)));
        let mut cx = Context::from_waker(Waker::noop());
        assert!(far.as_mut().poll(&mut cx).is_pending());
        let key = far.key.expect("registered when it had to wait");
        assert!(registered(key));
        drop(far);
        assert!(!registered(key));
    }

    #[test]
    fn sleeps_on_many_threads_each_end_at_their_deadline() {
        let start = Instant::now();
        let order = std::sync::Arc::new(Mutex::new(Vec::new()));
        let threads: Vec<_> = [40u64, 10, 30, 20]
            .into_iter()
            .map(|ms| {
                let order = order.clone();
                thread::spawn(move || {
                    let d = start + Duration::from_millis(ms);
                    block_on(Sleep::until(d), None);
                    assert!(Instant::now() >= d);
                    order.lock().unwrap().push(ms);
                })
            })
            .collect();
        for t in threads {
            t.join().unwrap();
        }
        assert!(start.elapsed() >= Duration::from_millis(40));
        assert_eq!(order.lock().unwrap().len(), 4);
    }
}
