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
    let rt = match compio::runtime::RuntimeBuilder::new()
        .sync_queue_size(REMOTE_WAKE_QUEUE)
        .build()
    {
        Ok(rt) => rt,
        Err(e) => {
            eprintln!("monocoque: cannot start an I/O runtime: {e}");
            return;
        }
    };
    if !rt.driver_type().is_iouring() && !FALLBACK_LOGGED.swap(true, Ordering::Relaxed) {
        eprintln!(
            "monocoque: io_uring unavailable, using the {:?} driver",
            rt.driver_type()
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
    /// Starts `io_threads` threads (at least one).
    pub(crate) fn new(io_threads: usize) -> Result<IoThreads> {
        let mut threads = Vec::with_capacity(io_threads);
        for i in 0..io_threads.max(1) {
            let jobs = Arc::new(Jobs {
                queue: ConcurrentQueue::unbounded(),
                ready: Event::new(),
                stop: AtomicBool::new(false),
            });
            let j = jobs.clone();
            let thread = thread::Builder::new()
                .name(format!("monocoque-io-{i}"))
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

    /// Runs `job` on an I/O thread (round robin over them).
    pub(crate) fn spawn(&self, job: Job) {
        let i = self.next.fetch_add(1, Ordering::Relaxed) % self.threads.len();
        let t = &self.threads[i];
        let _ = t.jobs.queue.push(job);
        t.jobs.ready.notify(1);
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
