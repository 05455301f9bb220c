//! The zguide's "hwserver" (chapter 1): a REP server that answers each
//! "Hello" with "World", after pretending to work on it for a moment.
//!
//! Run it: `cargo run -p monocoque --example hello_server [ENDPOINT] [WORK_MS]`
//! (default `tcp://*:5555`, 1000 ms of work a request), then run
//! `hello_client` in another terminal. It serves until stopped (Ctrl-C).

use std::time::Duration;

use monocoque::{Context, Error, Socket, SocketType};

/// The reply to every request.
pub(crate) const REPLY: &str = "World";

/// Answers requests on `rep`, each after `work`, until its context shuts
/// down; how many it answered.
pub(crate) fn run_server(rep: &Socket, work: Duration) -> monocoque::Result<usize> {
    let mut answered = 0;
    loop {
        // A REP hands over one request at a time and takes the reply to
        // it before the next: the envelope is its business, not ours.
        let request = match rep.recv() {
            Ok(m) => m,
            Err(Error::Terminated) => return Ok(answered),
            Err(e) => return Err(e),
        };
        println!("received {}", String::from_utf8_lossy(&request[0]));
        std::thread::sleep(work);
        match rep.send(REPLY) {
            Ok(()) => answered += 1,
            Err(Error::Terminated) => return Ok(answered),
            Err(e) => return Err(e),
        }
    }
}

#[allow(dead_code)]
fn main() -> monocoque::Result<()> {
    let mut args = std::env::args().skip(1);
    let endpoint = args.next().unwrap_or_else(|| "tcp://*:5555".into());
    let work_ms = args.next().and_then(|a| a.parse().ok()).unwrap_or(1000);
    let ctx = Context::new();
    let rep = ctx.socket(SocketType::Rep)?;
    rep.bind(&endpoint)?;
    println!("answering on {}", rep.last_endpoint().unwrap_or(endpoint));
    run_server(&rep, Duration::from_millis(work_ms))?;
    Ok(())
}
