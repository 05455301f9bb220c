//! An async server under tokio: a ROUTER whose requests are each handled
//! by a tokio task (one socket shared by all of them, in an `Arc`), and a
//! `tokio::select!` that serves until it is asked to stop or nothing came
//! for a while. The clients are DEALERs on tokio tasks too: a DEALER need
//! not wait for one reply before its next request.
//!
//! `recv_async` and `send_async` run on any executor and are cancel-safe:
//! when `select!` picks another branch, the dropped `recv_async` took no
//! message, so none is lost.
//!
//! Run it: `cargo run -p monocoque --example tokio_server [CLIENTS] [REQUESTS]`
//! (default 4 clients, 100 requests each): it serves them on
//! `tcp://127.0.0.1:*`, then asks itself to stop (over an inproc PAIR),
//! then serves again until it has been idle for a second.

use std::sync::Arc;
use std::time::Duration;

use monocoque::{Context, Error, Message, Socket, SocketType};

/// Why the server stopped.
#[derive(Debug, PartialEq, Eq)]
pub(crate) enum Stop {
    /// Something came on the control socket.
    Asked,
    /// No request came for the idle time.
    Idle,
}

/// What the server did.
#[derive(Debug, PartialEq, Eq)]
pub(crate) struct Served {
    /// Requests answered.
    pub(crate) requests: usize,
    /// Why it stopped.
    pub(crate) stop: Stop,
}

/// Serves requests on `router`, each on its own task that takes `work`
/// over it, until a message comes on `control` or `idle` passes with no
/// request; then waits for the tasks still answering.
pub(crate) async fn serve(
    router: Arc<Socket>,
    control: &Socket,
    idle: Duration,
    work: Duration,
) -> monocoque::Result<Served> {
    let mut handlers = tokio::task::JoinSet::new();
    let mut requests = 0;
    let stop = loop {
        tokio::select! {
            request = router.recv_async() => {
                // [routing id, request]
                let mut request = request?;
                requests += 1;
                let router = Arc::clone(&router);
                handlers.spawn(async move {
                    tokio::time::sleep(work).await; // a database, say
                    let id = request.pop_front().ok_or(Error::Invalid("no routing id"))?;
                    let mut reply = request.pop_front().unwrap_or_default().to_vec();
                    reply.extend_from_slice(b": done");
                    // Routed back by the id, from any task.
                    router.send_async(Message::from([id, reply.into()])).await
                });
            }
            _ = control.recv_async() => break Stop::Asked,
            () = tokio::time::sleep(idle) => break Stop::Idle,
        }
        // A handler that failed fails the server.
        while let Some(handled) = handlers.try_join_next() {
            handled.expect("a handler panicked")?;
        }
    };
    while let Some(handled) = handlers.join_next().await {
        handled.expect("a handler panicked")?;
    }
    Ok(Served { requests, stop })
}

/// A client: a DEALER that sends `requests` requests at once, then
/// collects the replies (in whatever order the handlers finish); how many
/// answered one of its requests.
pub(crate) async fn client(
    ctx: Context,
    endpoint: String,
    n: usize,
    requests: usize,
) -> monocoque::Result<usize> {
    let dealer = ctx.socket(SocketType::Dealer)?;
    dealer.connect(&endpoint)?;
    for r in 0..requests {
        dealer.send_async(format!("client {n} request {r}")).await?;
    }
    let mine = format!("client {n} ");
    let mut answered = 0;
    for _ in 0..requests {
        let reply = tokio::time::timeout(Duration::from_secs(10), dealer.recv_async())
            .await
            .map_err(|_elapsed| Error::WouldBlock)??;
        if reply[0].starts_with(mine.as_bytes()) {
            answered += 1;
        }
    }
    // Closing from async code: `close_async` waits out LINGER without
    // blocking the executor's thread.
    dealer.close_async().await;
    Ok(answered)
}

/// Serves `clients` clients of `requests` requests each on `endpoint`,
/// then stops: asked to over a PAIR if `ask`, else once idle for `idle`.
/// The answers each client got, and what the server did.
pub(crate) async fn run(
    endpoint: &str,
    clients: usize,
    requests: usize,
    ask: bool,
    idle: Duration,
) -> monocoque::Result<(Vec<usize>, Served)> {
    let ctx = Context::new();
    let router = Arc::new(ctx.socket(SocketType::Router)?);
    router.bind(endpoint)?;
    let endpoint = router.last_endpoint().unwrap_or_default();
    let control = ctx.socket(SocketType::Pair)?;
    control.bind("inproc://tokio-server-control")?;
    let stopper = ctx.socket(SocketType::Pair)?;
    stopper.connect("inproc://tokio-server-control")?;

    let server =
        tokio::spawn(async move { serve(router, &control, idle, Duration::from_millis(1)).await });
    let clients: Vec<_> = (0..clients)
        .map(|n| tokio::spawn(client(ctx.clone(), endpoint.clone(), n, requests)))
        .collect();
    let mut answers = Vec::new();
    for c in clients {
        answers.push(c.await.expect("a client task panicked")?);
    }
    if ask {
        stopper.send_async("stop").await?;
    }
    let served = server.await.expect("the server task panicked")?;
    Ok((answers, served))
}

#[allow(dead_code)]
#[tokio::main]
async fn main() -> monocoque::Result<()> {
    let mut args = std::env::args().skip(1).map(|a| a.parse::<usize>().ok());
    let clients = args.next().flatten().unwrap_or(4);
    let requests = args.next().flatten().unwrap_or(100);
    let idle = Duration::from_secs(1);
    let (answers, served) = run("tcp://127.0.0.1:*", clients, requests, true, idle).await?;
    println!("clients got {answers:?} replies; the server {served:?}");
    let (answers, served) = run("tcp://127.0.0.1:*", clients, requests, false, idle).await?;
    println!("clients got {answers:?} replies; the server {served:?}");
    Ok(())
}
