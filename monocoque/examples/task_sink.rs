//! The zguide's "tasksink" (chapter 1): the sink of the parallel pipeline.
//! It PULLs the signal that a batch starts from the `task_ventilator`,
//! then one result from the `task_worker`s for each task, fair-queued
//! among them, and says how long the batch took: with N workers, about
//! the batch's work divided by N.
//!
//! Run it: `cargo run -p monocoque --example task_sink [TASKS]` (default
//! 100, as the ventilator sends) first, then the workers and the
//! ventilator in other terminals. It collects one batch, then exits.

use std::time::{Duration, Instant};

use monocoque::{Context, Socket, SocketType};

/// The message that tells the sink a batch starts (the ventilator's).
pub(crate) const START: &str = "start";

/// What the sink collected.
#[derive(Debug)]
pub(crate) struct Collected {
    /// Results received.
    pub(crate) results: usize,
    /// Their workloads, summed.
    pub(crate) work_ms: u64,
    /// From the start signal to the last result.
    pub(crate) elapsed: Duration,
}

/// Waits for the start of a batch on `results`, then collects `tasks`
/// results.
pub(crate) fn run_sink(results: &Socket, tasks: usize) -> monocoque::Result<Collected> {
    let mut collected = Collected {
        results: 0,
        work_ms: 0,
        elapsed: Duration::ZERO,
    };
    let mut started = None;
    // The signal and the results come over different connections, fair
    // queued: a quick worker's result could come first. Count whatever
    // comes until both the signal and every result are in.
    while started.is_none() || collected.results < tasks {
        let m = results.recv()?;
        if m[0] == START {
            started = Some(Instant::now());
            continue;
        }
        let ms = std::str::from_utf8(&m[0])
            .ok()
            .and_then(|t| t.parse::<u64>().ok())
            .ok_or(monocoque::Error::Invalid("a result that is not a workload"))?;
        collected.results += 1;
        collected.work_ms += ms;
    }
    collected.elapsed = started.map_or(Duration::ZERO, |s| s.elapsed());
    Ok(collected)
}

#[allow(dead_code)]
fn main() -> monocoque::Result<()> {
    let tasks = std::env::args()
        .nth(1)
        .and_then(|a| a.parse().ok())
        .unwrap_or(100);
    let ctx = Context::new();
    let results = ctx.socket(SocketType::Pull)?;
    results.bind("tcp://*:5558")?;
    println!("waiting for a batch of {tasks} tasks");
    let c = run_sink(&results, tasks)?;
    println!(
        "{} results, {} ms of work, total elapsed time: {} ms",
        c.results,
        c.work_ms,
        c.elapsed.as_millis()
    );
    Ok(())
}
