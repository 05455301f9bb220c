//! The zguide's "lbbroker" (chapter 3): a load-balancing broker. REQ
//! clients talk to its ROUTER frontend; REQ workers connect to its ROUTER
//! backend and say READY. The broker keeps the workers that are free in
//! the order they became free and gives each request to the one that has
//! waited longest; a worker's reply is its next READY. While no worker is
//! free the broker leaves the frontend alone, so requests wait in the
//! clients' queues and not in the broker.
//!
//! The envelopes are the point: a ROUTER puts the sender's routing id
//! before what it receives and routes what it sends by the first frame,
//! and a REQ puts an empty delimiter before what it sends. So a request
//! reaches the broker as `[client, "", request]`, goes to a worker as
//! `[worker, "", client, "", request]`, reaches the worker's code as
//! `[client, "", request]`, and the reply retraces the path.
//!
//! Run it: `cargo run -p monocoque --example lb_broker [CLIENTS] [WORKERS] [REQUESTS]`
//! (default 10 clients, 3 workers, 5 requests each): the clients and
//! workers are threads, over inproc; it prints who served how much.

use std::collections::VecDeque;
use std::time::Duration;

use monocoque::{Bytes, Context, Error, Events, Poller, Socket, SocketType};

/// What a worker says when it is free for the first time.
pub(crate) const READY: &str = "READY";

/// What a run did.
#[derive(Debug)]
pub(crate) struct Report {
    /// Replies each client got (each checked against its request).
    pub(crate) replies: Vec<usize>,
    /// Requests each worker served.
    pub(crate) served: Vec<usize>,
}

/// Routes requests from `frontend` to the least recently free worker on
/// `backend`, and the replies back, until it has passed on `replies`
/// replies.
pub(crate) fn run_broker(
    frontend: &Socket,
    backend: &Socket,
    replies: usize,
) -> monocoque::Result<()> {
    // The routing ids of the free workers, longest free first.
    let mut free: VecDeque<Bytes> = VecDeque::new();
    let mut poller = Poller::new();
    let back = poller.add(backend, Events::READABLE)?;
    // Requests are taken only while a worker is free.
    let front = poller.add(frontend, Events::NONE)?;
    let mut passed = 0;
    while passed < replies {
        let ready: Vec<usize> = poller.wait(None)?.iter().map(|e| e.token).collect();
        if ready.contains(&back) {
            // [worker, "", READY] or [worker, "", client, "", reply]
            let mut msg = backend.recv()?;
            let worker = msg.pop_front().ok_or(Error::Invalid("no routing id"))?;
            msg.pop_front(); // the worker REQ's delimiter
            if !(msg.len() == 1 && msg[0] == READY) {
                // [client, "", reply]: the frontend routes it by the
                // client's id.
                frontend.send(msg)?;
                passed += 1;
            }
            free.push_back(worker);
        }
        if ready.contains(&front) {
            if let Some(worker) = free.pop_front() {
                // [client, "", request] -> [worker, "", client, "", request]
                let mut msg = frontend.recv()?;
                msg.push_front(Bytes::new());
                msg.push_front(worker);
                backend.send(msg)?;
            }
        }
        let interest = if free.is_empty() {
            Events::NONE
        } else {
            Events::READABLE
        };
        poller.modify(front, interest)?;
    }
    Ok(())
}

/// A client: a REQ that sends `requests` requests and checks that each
/// reply answers its request; how many did.
fn client(ctx: &Context, endpoint: &str, n: usize, requests: usize) -> monocoque::Result<usize> {
    let req = ctx.socket(SocketType::Req)?;
    req.connect(endpoint)?;
    let mut answered = 0;
    for r in 0..requests {
        let request = format!("client {n} request {r}");
        req.send(request.clone())?;
        let reply = req.recv()?;
        if reply[0].starts_with(request.as_bytes()) {
            answered += 1;
        }
    }
    Ok(answered)
}

/// A worker's REQ, connected to `endpoint`, that has said READY.
fn worker_socket(ctx: &Context, endpoint: &str) -> monocoque::Result<Socket> {
    let req = ctx.socket(SocketType::Req)?;
    req.connect(endpoint)?;
    req.send(READY)?;
    Ok(req)
}

/// A worker: answers each request on `req` after `work`, until the
/// context shuts down; how many it answered.
fn worker(req: &Socket, n: usize, work: Duration) -> monocoque::Result<usize> {
    let mut served = 0;
    loop {
        // [client, "", request]: the REQ took the broker's delimiter off.
        let mut msg = match req.recv() {
            Ok(m) => m,
            Err(Error::Terminated) => return Ok(served),
            Err(e) => return Err(e),
        };
        let request = msg.pop_back().ok_or(Error::Invalid("an empty request"))?;
        std::thread::sleep(work);
        let mut reply = request.to_vec();
        reply.extend_from_slice(format!(": done by worker {n}").as_bytes());
        // Same envelope back, the reply in place of the request.
        msg.push_back(reply);
        match req.send(msg) {
            Ok(()) => served += 1,
            Err(Error::Terminated) => return Ok(served),
            Err(e) => return Err(e),
        }
    }
}

/// The broker with `clients` clients sending `requests` requests each and
/// `workers` workers taking `work` over each, all on threads of one
/// context, over inproc.
pub(crate) fn run(
    clients: usize,
    workers: usize,
    requests: usize,
    work: Duration,
) -> monocoque::Result<Report> {
    let ctx = Context::new();
    let frontend = ctx.socket(SocketType::Router)?;
    frontend.bind("inproc://lb-frontend")?;
    let backend = ctx.socket(SocketType::Router)?;
    backend.bind("inproc://lb-backend")?;

    // Every worker is READY before the first client starts, so the load
    // is shared from the first request on.
    let mut worker_threads = Vec::new();
    for n in 0..workers {
        let req = worker_socket(&ctx, "inproc://lb-backend")?;
        worker_threads.push(std::thread::spawn(move || worker(&req, n, work)));
    }
    let client_threads: Vec<_> = (0..clients)
        .map(|n| {
            let ctx = ctx.clone();
            std::thread::spawn(move || client(&ctx, "inproc://lb-frontend", n, requests))
        })
        .collect();

    run_broker(&frontend, &backend, clients * requests)?;
    let mut report = Report {
        replies: Vec::new(),
        served: Vec::new(),
    };
    for c in client_threads {
        report.replies.push(c.join().expect("a client thread")?);
    }
    // Every client has its replies: stop the workers, waiting for more.
    ctx.shutdown();
    for w in worker_threads {
        report.served.push(w.join().expect("a worker thread")?);
    }
    Ok(report)
}

#[allow(dead_code)]
fn main() -> monocoque::Result<()> {
    let mut args = std::env::args().skip(1).map(|a| a.parse::<usize>().ok());
    let clients = args.next().flatten().unwrap_or(10);
    let workers = args.next().flatten().unwrap_or(3);
    let requests = args.next().flatten().unwrap_or(5);
    let report = run(clients, workers, requests, Duration::from_millis(10))?;
    for (n, replies) in report.replies.iter().enumerate() {
        println!("client {n}: {replies} replies");
    }
    for (n, served) in report.served.iter().enumerate() {
        println!("worker {n}: served {served} requests");
    }
    Ok(())
}
