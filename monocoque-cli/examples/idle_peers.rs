//! Memory per idle connection: one ROUTER (Monocoque, then libzmq, each in
//! a process of its own with one I/O thread) accepts N TCP peers that each
//! send one message and then stay connected doing nothing; the server's
//! resident memory growth is divided by N.
//!
//! ```text
//! cargo run --release -p monocoque-cli --example idle_peers -- [N] [REPS] [reply]
//! ```
//!
//! With `reply`, the server answers each peer's message before the peers
//! go idle (the peers never read the answer), so every connection has
//! also carried a message out: what a busy ROUTER's quiet peers cost.
//!
//! The peers are Monocoque DEALERs in other processes, at most
//! [`PER_PROCESS`] each (the same peers for both servers), so no process
//! comes near the 20,000 descriptors one may hold here. A connection costs
//! Monocoque one descriptor whether or not it has carried a message
//! (inline writes share the stream's descriptor).
#![allow(clippy::unwrap_used)]

use std::io::{BufRead, BufReader, Write};
use std::process::{Child, Command, ExitCode, Stdio};
use std::time::{Duration, Instant};

/// Peers per peer process.
const PER_PROCESS: usize = 4_000;
/// How long a run may take before it fails.
const WAIT: Duration = Duration::from_secs(120);

fn main() -> ExitCode {
    let args: Vec<String> = std::env::args().skip(1).collect();
    let r = match args.first().map(String::as_str) {
        Some("server") => server(
            &args[1],
            args[2].parse().unwrap(),
            args.get(3).is_some_and(|a| a == "reply"),
        ),
        Some("peers") => peers(&args[1], args[2].parse().unwrap()),
        _ => {
            let n = args.first().and_then(|a| a.parse().ok()).unwrap_or(10_000);
            let reps = args.get(1).and_then(|a| a.parse().ok()).unwrap_or(1);
            harness(n, reps, args.get(2).is_some_and(|a| a == "reply"))
        }
    };
    match r {
        Ok(()) => ExitCode::SUCCESS,
        Err(e) => {
            eprintln!("idle_peers: {e}");
            ExitCode::FAILURE
        }
    }
}

/// Starts this program again as `role`.
fn spawn(role: &[&str]) -> Result<Child, String> {
    let exe = std::env::current_exe().map_err(|e| e.to_string())?;
    Command::new(exe)
        .args(role)
        .stdin(Stdio::piped())
        .stdout(Stdio::piped())
        .spawn()
        .map_err(|e| e.to_string())
}

fn line(out: &mut BufReader<std::process::ChildStdout>, key: &str) -> Result<String, String> {
    let mut l = String::new();
    out.read_line(&mut l).map_err(|e| e.to_string())?;
    l.trim_end()
        .strip_prefix(key)
        .map(str::to_owned)
        .ok_or_else(|| format!("expected {key:?}, got {l:?}"))
}

fn harness(n: usize, reps: usize, reply: bool) -> Result<(), String> {
    let mut rows = Vec::new();
    for rep in 0..reps {
        for lib in ["monocoque", "libzmq"] {
            let mode = if reply { "reply" } else { "quiet" };
            let mut srv = spawn(&["server", lib, &n.to_string(), mode])?;
            let mut sout = BufReader::new(srv.stdout.take().ok_or("no stdout")?);
            let ep = line(&mut sout, "endpoint: ")?;
            let mut peers = Vec::new();
            let mut left = n;
            while left > 0 {
                let k = left.min(PER_PROCESS);
                peers.push(spawn(&["peers", &ep, &k.to_string()])?);
                left -= k;
            }
            let result = line(&mut sout, "result: ")?;
            for mut p in peers {
                drop(p.stdin.take()); // the peers leave
                let _ = p.wait();
            }
            drop(srv.stdin.take());
            let _ = srv.wait();
            eprintln!("run {}: {lib}: {result}", rep + 1);
            let f: Vec<f64> = result
                .split_whitespace()
                .map(|x| x.parse().unwrap_or(f64::NAN))
                .collect();
            rows.push((lib, f));
        }
    }
    let answered = if reply { ", each answered once" } else { "" };
    println!("Idle TCP peers on one ROUTER, {n} peers{answered}, {reps} run(s) each (median):");
    println!();
    println!("| server | RSS growth | per connection | threads |");
    println!("| --- | --- | --- | --- |");
    let mut per = Vec::new();
    for lib in ["monocoque", "libzmq"] {
        let mut growth: Vec<f64> = rows.iter().filter(|r| r.0 == lib).map(|r| r.1[0]).collect();
        growth.sort_by(f64::total_cmp);
        let g = growth[growth.len() / 2];
        let threads = rows.iter().find(|r| r.0 == lib).map_or(0.0, |r| r.1[1]);
        per.push(g / n as f64);
        println!(
            "| {lib} | {:.1} MiB | {:.1} KiB | {threads} |",
            g / 1024.0,
            g / n as f64
        );
    }
    println!();
    println!(
        "ratio monocoque/libzmq per connection: {:.2}",
        per[0] / per[1]
    );
    Ok(())
}

/// VmRSS and Threads from /proc/self/status (KiB, count).
fn status() -> (f64, f64) {
    let s = std::fs::read_to_string("/proc/self/status").unwrap_or_default();
    let field = |name: &str| {
        s.lines()
            .find_map(|l| l.strip_prefix(name))
            .and_then(|v| v.split_whitespace().next())
            .and_then(|v| v.parse().ok())
            .unwrap_or(f64::NAN)
    };
    (field("VmRSS:"), field("Threads:"))
}

/// A ROUTER that binds, waits for `n` messages (one per peer, answering
/// each with `reply`), settles and prints its RSS growth since just after
/// the bind, and its thread count.
fn server(lib: &str, n: usize, reply: bool) -> Result<(), String> {
    if lib == "libzmq" {
        let ctx = zmq::Context::new();
        let s = ctx.socket(zmq::ROUTER).map_err(|e| e.to_string())?;
        s.set_rcvtimeo(1000).map_err(|e| e.to_string())?;
        s.bind("tcp://127.0.0.1:*").map_err(|e| e.to_string())?;
        let ep = s.get_last_endpoint().unwrap().unwrap();
        return serve(lib, &ep, n, || match s.recv_multipart(0) {
            Ok(m) => !reply || s.send_multipart(m, 0).is_ok(),
            Err(_) => false,
        });
    }
    let ctx = monocoque::Context::new();
    let s = ctx
        .socket(monocoque::SocketType::Router)
        .map_err(|e| e.to_string())?;
    s.update_options(|o| o.rcvtimeo = Some(Duration::from_secs(1)));
    s.bind("tcp://127.0.0.1:*").map_err(|e| e.to_string())?;
    let ep = s.last_endpoint().unwrap();
    serve(lib, &ep, n, || match s.recv() {
        Ok(m) => !reply || s.send(m).is_ok(),
        Err(_) => false,
    })
}

/// The server's part after its bind, whichever library: `recv_one` takes
/// one message (`false` on its timeout).
fn serve(lib: &str, ep: &str, n: usize, mut recv_one: impl FnMut() -> bool) -> Result<(), String> {
    let deadline = Instant::now() + WAIT;
    let (base, _) = status();
    println!("endpoint: {ep}");
    std::io::stdout().flush().map_err(|e| e.to_string())?;
    let mut got = 0;
    while got < n {
        if Instant::now() > deadline {
            return Err(format!("{lib}: {got} of {n} peers"));
        }
        if recv_one() {
            got += 1;
        }
    }
    std::thread::sleep(Duration::from_millis(500));
    let (rss, threads) = status();
    println!("result: {} {threads}", rss - base);
    std::io::stdout().flush().map_err(|e| e.to_string())?;
    // Stay until the harness has read the result and the peers left.
    let _ = std::io::stdin().read_line(&mut String::new());
    Ok(())
}

/// `n` DEALERs, each connecting to `ep` and sending one message, kept
/// connected until stdin closes.
fn peers(ep: &str, n: usize) -> Result<(), String> {
    // More sockets than libzmq's default limit of 1,023 a context.
    let ctx = monocoque::Context::with_options(monocoque::ContextOptions {
        max_sockets: n + 1,
        ..monocoque::ContextOptions::default()
    })
    .map_err(|e| e.to_string())?;
    let mut socks = Vec::with_capacity(n);
    for _ in 0..n {
        let s = ctx
            .socket(monocoque::SocketType::Dealer)
            .map_err(|e| e.to_string())?;
        s.connect(ep).map_err(|e| e.to_string())?;
        s.send("hello").map_err(|e| e.to_string())?;
        socks.push(s);
    }
    let _ = std::io::stdin().read_line(&mut String::new());
    Ok(())
}
