//! The zguide's "taskvent" (chapter 1): the ventilator of a parallel
//! pipeline. It tells the `task_sink` that a batch starts, then fans a
//! batch of tasks out over PUSH to however many `task_worker`s are
//! connected, each task a workload in milliseconds; PUSH deals them round
//! robin.
//!
//! Run it: `cargo run -p monocoque --example task_ventilator [TASKS]`
//! (default 100) with `task_sink` and a few `task_worker`s running in
//! other terminals; press Enter once the workers have started, so that
//! they all get a share (a PUSH deals only to the workers connected so
//! far).

use std::ops::RangeInclusive;

use monocoque::{Context, Socket, SocketType};

/// The message that tells the sink a batch starts.
pub(crate) const START: &str = "start";

/// What a batch asked for.
#[derive(Debug, PartialEq, Eq)]
pub(crate) struct Batch {
    /// Tasks sent.
    pub(crate) tasks: usize,
    /// Their workloads, summed: the time one worker alone would take.
    pub(crate) work_ms: u64,
}

/// Sends [`START`] to the sink over `sink`, then `tasks` tasks over
/// `workers`, each a workload drawn from `workload` (milliseconds).
pub(crate) fn run_ventilator(
    workers: &Socket,
    sink: &Socket,
    tasks: usize,
    workload: RangeInclusive<u32>,
) -> monocoque::Result<Batch> {
    sink.send(START)?;
    let mut dice = std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .map_or(1, |d| d.as_nanos() as u64)
        | 1;
    let span = u64::from(workload.end() - workload.start()) + 1;
    let mut batch = Batch {
        tasks: 0,
        work_ms: 0,
    };
    for _ in 0..tasks {
        // xorshift: a workload needs no better randomness.
        dice ^= dice << 13;
        dice ^= dice >> 7;
        dice ^= dice << 17;
        let ms = u64::from(*workload.start()) + dice % span;
        workers.send(ms.to_string())?;
        batch.tasks += 1;
        batch.work_ms += ms;
    }
    Ok(batch)
}

#[allow(dead_code)]
fn main() -> monocoque::Result<()> {
    let tasks = std::env::args()
        .nth(1)
        .and_then(|a| a.parse().ok())
        .unwrap_or(100);
    let ctx = Context::new();
    let workers = ctx.socket(SocketType::Push)?;
    workers.bind("tcp://*:5557")?;
    let sink = ctx.socket(SocketType::Push)?;
    sink.connect("tcp://localhost:5558")?;
    println!("press Enter when the workers are ready");
    let mut line = String::new();
    std::io::stdin().read_line(&mut line)?;
    println!("sending {tasks} tasks to {} workers", workers.peer_count());
    let batch = run_ventilator(&workers, &sink, tasks, 1..=100)?;
    println!("total expected cost: {} ms", batch.work_ms);
    // Dropping the sockets waits (LINGER) until every task has left.
    Ok(())
}
