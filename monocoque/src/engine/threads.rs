//! [`IoThreads`]: the threads that run a context's connections, each a
//! compio runtime (io_uring, or the polling driver where io_uring is
//! unavailable).

use std::sync::atomic::{AtomicBool, AtomicUsize, Ordering};
use std::sync::Arc;
use std::thread::{self, JoinHandle};

use concurrent_queue::ConcurrentQueue;
use event_listener::Event;

use crate::error::Result;

/// Work handed to an I/O thread: runs there, usually to spawn a task.
pub(crate) type Job = Box<dyn FnOnce() + Send>;

#[derive(Debug)]
struct Jobs {
    queue: ConcurrentQueue<Job>,
    ready: Event,
    stop: AtomicBool,
}

#[derive(Debug)]
struct IoThread {
    jobs: Arc<Jobs>,
    thread: Option<JoinHandle<()>>,
}

/// The I/O threads of one context. The threads stop when this is dropped.
#[derive(Debug)]
pub(crate) struct IoThreads {
    threads: Vec<IoThread>,
    next: AtomicUsize,
}

/// Said once per process when io_uring is unavailable.
static FALLBACK_LOGGED: AtomicBool = AtomicBool::new(false);

/// Tasks of one I/O thread that other threads may wake at once (two per
/// connection, plus listeners and connecters).
const REMOTE_WAKE_QUEUE: usize = 1 << 14;

fn io_thread_main(jobs: Arc<Jobs>) {
    // compio queues wake-ups from other threads in a bounded queue, and a
    // waker that finds it full spins until the I/O thread drains it. Our
    // events call wakers under their own lock, which the I/O thread may be
    // waiting for: a full queue would deadlock (seen with 100 engines
    // waiting for room in one ROUTER's inbound queue). Room for every task
    // an I/O thread plausibly runs keeps the queue from filling.
    let mut quiet_ring = compio::driver::ProactorBuilder::new();
    quiet_ring
        .buffer_pool_size(super::QUIET_BUFFERS)
        .buffer_pool_buffer_len(super::QUIET_READ);
    let rt = match compio::runtime::RuntimeBuilder::new()
        .sync_queue_size(REMOTE_WAKE_QUEUE)
        // The ring of buffers the quiet reads share (`engine::read_chunk`).
        .with_proactor(quiet_ring)
        .build()
    {
        Ok(rt) => rt,
        Err(e) => {
            tracing::error!(target: "monocoque", error = %e, "cannot start an I/O runtime");
            return;
        }
    };
    if !rt.driver_type().is_iouring() && !FALLBACK_LOGGED.swap(true, Ordering::Relaxed) {
        tracing::warn!(
            target: "monocoque",
            driver = ?rt.driver_type(),
            "io_uring unavailable, using another driver"
        );
    }
    rt.block_on(async {
        loop {
            while let Ok(job) = jobs.queue.pop() {
                job();
            }
            if jobs.stop.load(Ordering::Acquire) {
                break;
            }
            let l = jobs.ready.listen();
            if !jobs.queue.is_empty() || jobs.stop.load(Ordering::Acquire) {
                continue;
            }
            l.await;
        }
    });
}

impl IoThreads {
    /// Starts `io_threads` threads (at least one), named `monocoque-io-N`,
    /// or `PREFIX/io-N` with a prefix (`ZMQ_THREAD_NAME_PREFIX`).
    pub(crate) fn new(io_threads: usize, name_prefix: Option<&str>) -> Result<IoThreads> {
        let mut threads = Vec::with_capacity(io_threads);
        for i in 0..io_threads.max(1) {
            let jobs = Arc::new(Jobs {
                queue: ConcurrentQueue::unbounded(),
                ready: Event::new(),
                stop: AtomicBool::new(false),
            });
            let j = jobs.clone();
            let name = match name_prefix {
                Some(prefix) => format!("{prefix}/io-{i}"),
                None => format!("monocoque-io-{i}"),
            };
            let thread = thread::Builder::new()
                .name(name)
                .spawn(move || io_thread_main(j))?;
            threads.push(IoThread {
                jobs,
                thread: Some(thread),
            });
        }
        Ok(Self {
            threads,
            next: AtomicUsize::new(0),
        })
    }

    /// Runs `job` on one of the I/O threads `affinity` names (bit 0: the
    /// first; `ZMQ_AFFINITY`), round robin over them; over all of them when
    /// it names none this context has.
    pub(crate) fn spawn_on(&self, affinity: u64, job: Job) {
        let t = &self.threads[self.pick(affinity)];
        let _ = t.jobs.queue.push(job);
        t.jobs.ready.notify(1);
    }

    /// The index of the thread the next job for `affinity` goes to.
    fn pick(&self, affinity: u64) -> usize {
        let n = self.threads.len();
        let mask = if n >= 64 {
            affinity
        } else {
            affinity & ((1u64 << n) - 1)
        };
        let turn = self.next.fetch_add(1, Ordering::Relaxed);
        if mask == 0 {
            return turn % n;
        }
        let chosen = turn % mask.count_ones() as usize;
        (0..n.min(64))
            .filter(|i| mask & (1 << i) != 0)
            .nth(chosen)
            .unwrap_or(0)
    }
}

impl Drop for IoThreads {
    fn drop(&mut self) {
        let me = thread::current().id();
        for t in &mut self.threads {
            t.jobs.stop.store(true, Ordering::Release);
            t.jobs.ready.notify(usize::MAX);
            if let Some(h) = t.thread.take() {
                // The last reference may go on an I/O thread itself.
                if h.thread().id() != me {
                    let _ = h.join();
                }
            }
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn affinity_picks_among_the_named_threads() {
        let io = IoThreads::new(3, Some("affinity-test")).expect("threads");
        let picks = |mask| (0..6).map(|_| io.pick(mask)).collect::<Vec<_>>();
        assert!(picks(0b010).iter().all(|&i| i == 1));
        let both = picks(0b101);
        assert!(both.iter().all(|&i| i == 0 || i == 2));
        assert!(both.contains(&0) && both.contains(&2), "{both:?}");
        // No thread of this context named: all of them, in turn.
        let all = picks(0b1000);
        assert!((0..3).all(|i| all.contains(&i)), "{all:?}");
        let all = picks(0);
        assert!((0..3).all(|i| all.contains(&i)), "{all:?}");
    }

    #[test]
    fn threads_carry_the_name_prefix() {
        let io = IoThreads::new(2, Some("svc")).expect("threads");
        let names: Vec<_> = io
            .threads
            .iter()
            .filter_map(|t| t.thread.as_ref()?.thread().name().map(str::to_owned))
            .collect();
        assert_eq!(names, ["svc/io-0", "svc/io-1"]);
    }
}
