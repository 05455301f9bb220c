//! The zguide's "mspoller" (chapter 2): one thread serving two sockets
//! with a poller, a PULL of tasks and a SUB of weather updates, handling
//! whichever is ready without favouring either.
//!
//! Run it: `cargo run --example poll_loop [COUNT]`: a ventilator and a
//! weather server on threads send COUNT of each; the loop ends when it has
//! both.

use std::time::Duration;

use monocoque::{Context, Events, Poller, Socket, SocketType};

/// How many of each the loop got.
#[derive(Debug, Default, PartialEq, Eq)]
pub(crate) struct Counts {
    /// Tasks from the PULL.
    pub(crate) tasks: usize,
    /// Updates from the SUB.
    pub(crate) updates: usize,
}

/// Serves `tasks` and `updates` with one poller until it has `count` of
/// each (or a wait of `idle` passes with nothing).
pub(crate) fn serve(
    tasks: &Socket,
    updates: &Socket,
    count: usize,
    idle: Duration,
) -> monocoque::Result<Counts> {
    let mut poller = Poller::new();
    let t = poller.add(tasks, Events::READABLE)?;
    let u = poller.add(updates, Events::READABLE)?;
    let mut got = Counts::default();
    while got.tasks < count || got.updates < count {
        let ready: Vec<usize> = poller.wait(Some(idle))?.iter().map(|e| e.token).collect();
        if ready.is_empty() {
            break;
        }
        for token in ready {
            if token == t {
                tasks.recv()?;
                got.tasks += 1;
            } else if token == u {
                updates.recv()?;
                got.updates += 1;
            }
        }
    }
    Ok(got)
}

/// The whole demo in one context: a ventilator and a weather server on
/// threads, and the poll loop.
pub(crate) fn run(count: usize) -> monocoque::Result<Counts> {
    let ctx = Context::new();
    let tasks = ctx.socket(SocketType::Pull)?;
    tasks.bind("inproc://tasks")?;
    let updates = ctx.socket(SocketType::Sub)?;
    updates.subscribe("10001 ")?;
    updates.bind("inproc://weather")?;

    let vent = ctx.socket(SocketType::Push)?;
    vent.connect("inproc://tasks")?;
    let weather = ctx.socket(SocketType::Pub)?;
    weather.connect("inproc://weather")?;
    let ventilator = std::thread::spawn(move || -> monocoque::Result<()> {
        for i in 0..count {
            vent.send(format!("task {i}").into_bytes())?;
        }
        Ok(())
    });
    let publisher = std::thread::spawn(move || -> monocoque::Result<()> {
        // A PUB drops what no subscriber asked for yet: keep publishing
        // (other zip codes too) until the loop's context ends.
        let mut i = 0u64;
        loop {
            let zip = if i % 2 == 0 { "10001" } else { "90210" };
            match weather.send(format!("{zip} {} {}", i % 40, i % 100).into_bytes()) {
                Ok(()) => {}
                Err(monocoque::Error::Terminated) => return Ok(()),
                Err(e) => return Err(e),
            }
            i += 1;
            std::thread::sleep(Duration::from_micros(200));
        }
    });
    let got = serve(&tasks, &updates, count, Duration::from_secs(5))?;
    ctx.shutdown();
    ventilator.join().expect("the ventilator thread")?;
    publisher.join().expect("the publisher thread")?;
    Ok(got)
}

#[allow(dead_code)]
fn main() -> monocoque::Result<()> {
    let count = std::env::args()
        .nth(1)
        .and_then(|a| a.parse().ok())
        .unwrap_or(100);
    let got = run(count)?;
    println!("{} tasks and {} weather updates", got.tasks, got.updates);
    Ok(())
}
