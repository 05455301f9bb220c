//! The zguide's "taskwork" (chapter 1): a worker of the parallel pipeline.
//! It PULLs tasks from the `task_ventilator`, "works" on each by sleeping
//! its workload, and PUSHes the result to the `task_sink`. Start as many
//! as you like: the ventilator deals tasks among them, the sink collects
//! from all.
//!
//! Run it: `cargo run -p monocoque --example task_worker` (it connects to
//! `tcp://localhost:5557` and `tcp://localhost:5558`), one per terminal,
//! with the ventilator and the sink; it works until stopped (Ctrl-C).

use std::io::Write;
use std::time::Duration;

use monocoque::{Context, Error, Socket, SocketType};

/// What a worker did.
#[derive(Debug, Default, PartialEq, Eq)]
pub(crate) struct Done {
    /// Tasks done.
    pub(crate) tasks: usize,
    /// Their workloads, summed.
    pub(crate) work_ms: u64,
}

/// Does every task that `tasks` hands over, sending each result to
/// `results`, until the context shuts down; what it did. `progress`
/// is told of each task.
pub(crate) fn run_worker(
    tasks: &Socket,
    results: &Socket,
    mut progress: impl FnMut(u64),
) -> monocoque::Result<Done> {
    let mut done = Done::default();
    loop {
        let task = match tasks.recv() {
            Ok(m) => m,
            Err(Error::Terminated) => return Ok(done),
            Err(e) => return Err(e),
        };
        let ms = std::str::from_utf8(&task[0])
            .ok()
            .and_then(|t| t.parse::<u64>().ok())
            .ok_or(Error::Invalid("a task that is not a workload"))?;
        progress(ms);
        std::thread::sleep(Duration::from_millis(ms));
        // The result tells the sink how much work it was.
        match results.send(task) {
            Ok(()) => {}
            Err(Error::Terminated) => return Ok(done),
            Err(e) => return Err(e),
        }
        done.tasks += 1;
        done.work_ms += ms;
    }
}

#[allow(dead_code)]
fn main() -> monocoque::Result<()> {
    let ctx = Context::new();
    let tasks = ctx.socket(SocketType::Pull)?;
    tasks.connect("tcp://localhost:5557")?;
    let results = ctx.socket(SocketType::Push)?;
    results.connect("tcp://localhost:5558")?;
    run_worker(&tasks, &results, |_| {
        print!(".");
        let _ = std::io::stdout().flush();
    })?;
    Ok(())
}
