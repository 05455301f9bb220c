//! The zguide's "hwclient" (chapter 1): a REQ client that sends "Hello"
//! a few times to the `hello_server`, waiting for each "World".
//!
//! Run it: `cargo run -p monocoque --example hello_client [ENDPOINT] [REQUESTS]`
//! (default `tcp://localhost:5555`, 10 requests) while `hello_server`
//! runs in another terminal. Started first, it waits for the server: the
//! connection is made (and remade) in the background.

use monocoque::{Context, Error, SocketType};

/// Sends `requests` "Hello"s to `endpoint`, one at a time; how many
/// replies came back as "World" (a REQ gets exactly one reply to each
/// request, so anything else is a broken server).
pub(crate) fn run_client(
    ctx: &Context,
    endpoint: &str,
    requests: usize,
) -> monocoque::Result<usize> {
    let req = ctx.socket(SocketType::Req)?;
    req.connect(endpoint)?;
    let mut worlds = 0;
    for n in 0..requests {
        req.send("Hello")?;
        let reply = req.recv()?;
        let text = String::from_utf8_lossy(&reply[0]);
        println!("request {n}: {text}");
        if text != "World" {
            return Err(Error::Invalid("the server did not answer World"));
        }
        worlds += 1;
    }
    Ok(worlds)
}

#[allow(dead_code)]
fn main() -> monocoque::Result<()> {
    let mut args = std::env::args().skip(1);
    let endpoint = args.next().unwrap_or_else(|| "tcp://localhost:5555".into());
    let requests = args.next().and_then(|a| a.parse().ok()).unwrap_or(10);
    println!("connecting to {endpoint}");
    let worlds = run_client(&Context::new(), &endpoint, requests)?;
    println!("{worlds} replies");
    Ok(())
}
