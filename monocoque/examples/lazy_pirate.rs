//! The zguide's "lazy pirate" (chapter 4): a reliable request-reply client
//! over an unreliable server. The client polls for each reply with a
//! timeout; on silence it closes its REQ socket (a REQ that got no reply
//! cannot send again), opens a new one, and resends, giving up after a few
//! tries.
//!
//! Run it: `cargo run --example lazy_pirate [REQUESTS]`. The server here
//! runs on a thread and answers every fifth request too late, so the
//! client's recovery is seen at once.

use std::time::Duration;

use monocoque::{Context, Events, Poller, Socket, SocketType};

/// How long the client waits for a reply before it gives the server up.
pub(crate) const TIMEOUT: Duration = Duration::from_millis(250);
/// How many times it sends one request before it gives up for good.
pub(crate) const RETRIES: usize = 3;

/// What a run of the client saw.
#[derive(Debug, Default, PartialEq, Eq)]
pub(crate) struct Report {
    /// Replies received, each matching its request.
    pub(crate) replies: usize,
    /// Times the client closed its socket and resent.
    pub(crate) retries: usize,
}

/// A REQ client connected to `endpoint`, lingering on nothing: a request
/// the server never answered is abandoned with the socket.
fn client(ctx: &Context, endpoint: &str) -> monocoque::Result<Socket> {
    let req = ctx.socket(SocketType::Req)?;
    req.update_options(|o| o.linger = Some(Duration::ZERO));
    req.connect(endpoint)?;
    Ok(req)
}

/// Sends `requests` numbered requests to `endpoint` the lazy pirate's way.
pub(crate) fn run_client(
    ctx: &Context,
    endpoint: &str,
    requests: usize,
) -> monocoque::Result<Report> {
    let mut report = Report::default();
    let mut req = client(ctx, endpoint)?;
    for seq in 0..requests {
        let request = seq.to_string();
        let mut tries = 0;
        req.send(request.clone().into_bytes())?;
        loop {
            let mut poller = Poller::new();
            poller.add(&req, Events::READABLE)?;
            if !poller.wait(Some(TIMEOUT))?.is_empty() {
                let reply = req.recv()?;
                if reply[0][..] == *request.as_bytes() {
                    report.replies += 1;
                    break;
                }
                // A reply to an older request: a slow server; keep waiting.
                continue;
            }
            tries += 1;
            if tries == RETRIES {
                return Err(monocoque::Error::Invalid("server seems to be offline"));
            }
            // Silence: this REQ is stuck waiting; a new one resends.
            drop(poller);
            req = client(ctx, endpoint)?;
            req.send(request.clone().into_bytes())?;
            report.retries += 1;
        }
    }
    Ok(report)
}

/// A REP server that answers every request, but too late for each
/// `slow`-th (as an overloaded server would), until its context ends.
pub(crate) fn run_server(rep: &Socket, slow: usize) -> monocoque::Result<()> {
    let mut seen = 0;
    loop {
        let request = match rep.recv() {
            Ok(r) => r,
            Err(monocoque::Error::Terminated) => return Ok(()),
            Err(e) => return Err(e),
        };
        seen += 1;
        if seen % slow == 0 {
            std::thread::sleep(TIMEOUT * 2);
        }
        match rep.send(request) {
            Ok(()) => {}
            Err(monocoque::Error::Terminated) => return Ok(()),
            Err(e) => return Err(e),
        }
    }
}

#[allow(dead_code)]
fn main() -> monocoque::Result<()> {
    let requests = std::env::args()
        .nth(1)
        .and_then(|a| a.parse().ok())
        .unwrap_or(10);
    let server_ctx = Context::new();
    let rep = server_ctx.socket(SocketType::Rep)?;
    rep.bind("tcp://127.0.0.1:*")?;
    let endpoint = rep.last_endpoint().unwrap_or_default();
    let server = std::thread::spawn(move || run_server(&rep, 5));
    let report = run_client(&Context::new(), &endpoint, requests)?;
    println!(
        "{} replies, {} retries after silence",
        report.replies, report.retries
    );
    server_ctx.shutdown();
    server.join().expect("the server thread")?;
    Ok(())
}
