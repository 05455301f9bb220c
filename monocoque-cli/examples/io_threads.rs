//! Aggregate throughput of several PUSH->PULL pairs over tcp loopback in
//! one context, with one I/O thread and with two, for Monocoque and for
//! libzmq (issue 17's "2 I/O threads, 4 pairs" row).
//!
//! ```text
//! cargo run --release -p monocoque-cli --example io_threads -- [PAIRS] [SIZE] [COUNT] [REPS]
//! ```
//!
//! Each pair has a sending and a receiving thread; every library and
//! thread count runs in a process of its own, interleaved, `REPS` times
//! (medians). The rate is all pairs' messages over the time from the first
//! send to the last receive. The same work on both sides: Monocoque's
//! sender sends a clone of one `Bytes` (a reference count); libzmq's side
//! is `mq bench`'s C program (`src/bench/libzmq_perf.c`, its `io-pairs`
//! role, built by this crate's build script against the vendored libzmq),
//! whose sender points a message at one buffer (`zmq_msg_init_data`, no
//! copy); both receivers drop what they receive.
#![allow(clippy::unwrap_used)]

use std::process::{Command, ExitCode};
use std::sync::{Arc, Barrier};
use std::time::Instant;

/// libzmq's side: the C program the build script links against the
/// vendored libzmq.
const LIBZMQ_PERF: &str = concat!(env!("OUT_DIR"), "/libzmq-perf");

fn main() -> ExitCode {
    let args: Vec<String> = std::env::args().skip(1).collect();
    if args.first().map(String::as_str) == Some("run") {
        let threads: usize = args[1].parse().unwrap();
        let pairs: usize = args[2].parse().unwrap();
        let size: usize = args[3].parse().unwrap();
        let count: usize = args[4].parse().unwrap();
        println!("result: {}", monocoque(threads, pairs, size, count));
        return ExitCode::SUCCESS;
    }
    let num = |i: usize, d: usize| args.get(i).and_then(|a| a.parse().ok()).unwrap_or(d);
    let (pairs, size, count, reps) = (num(0, 4), num(1, 64), num(2, 1_000_000), num(3, 3));
    let cases = [
        ("monocoque", 1),
        ("monocoque", 2),
        ("libzmq", 1),
        ("libzmq", 2),
    ];
    let mut rates = vec![Vec::new(); cases.len()];
    for _ in 0..reps {
        for (i, (lib, threads)) in cases.iter().enumerate() {
            let (program, role) = match *lib {
                "libzmq" => (LIBZMQ_PERF.into(), "io-pairs"),
                _ => (std::env::current_exe().unwrap(), "run"),
            };
            let out = Command::new(program)
                .args([role, &threads.to_string(), &pairs.to_string()])
                .args([size.to_string(), count.to_string()])
                .output()
                .unwrap();
            let text = String::from_utf8_lossy(&out.stdout);
            let Some(rate) = text
                .lines()
                .find_map(|l| l.strip_prefix("result: "))
                .and_then(|r| r.parse::<f64>().ok())
            else {
                eprintln!(
                    "io_threads: {lib} x{threads}: {}",
                    String::from_utf8_lossy(&out.stderr)
                );
                return ExitCode::FAILURE;
            };
            rates[i].push(rate);
        }
    }
    println!("{pairs} PUSH->PULL pairs over tcp, {size} B, {count} messages each, {reps} run(s), medians:\n");
    println!("| library | I/O threads | aggregate msg/s |");
    println!("| --- | --- | --- |");
    let mut med = Vec::new();
    for (i, (lib, threads)) in cases.iter().enumerate() {
        rates[i].sort_by(|a, b| a.partial_cmp(b).unwrap());
        let m = rates[i][rates[i].len() / 2];
        med.push(m);
        println!("| {lib} | {threads} | {:.2} M |", m / 1e6);
    }
    println!(
        "\nMonocoque 2 threads / 1 thread: {:.2}; Monocoque 2 / libzmq 2: {:.2}",
        med[1] / med[0],
        med[1] / med[3]
    );
    ExitCode::SUCCESS
}

/// Runs `pairs` pairs through `send` and `recv` closures made per pair,
/// all starting together; the aggregate rate.
fn drive<S, R>(pairs: Vec<(S, R)>, count: usize) -> f64
where
    S: FnMut() + Send + 'static,
    R: FnMut() + Send + 'static,
{
    let n = pairs.len();
    let start = Arc::new(Barrier::new(2 * n + 1));
    let mut handles = Vec::new();
    for (mut send, mut recv) in pairs {
        let b = start.clone();
        handles.push(std::thread::spawn(move || {
            b.wait();
            for _ in 0..count {
                send();
            }
        }));
        let b = start.clone();
        handles.push(std::thread::spawn(move || {
            b.wait();
            for _ in 0..count {
                recv();
            }
        }));
    }
    start.wait();
    let t0 = Instant::now();
    for h in handles {
        h.join().unwrap();
    }
    (n * count) as f64 / t0.elapsed().as_secs_f64()
}

fn monocoque(threads: usize, pairs: usize, size: usize, count: usize) -> f64 {
    use monocoque::{Context, Message, SocketType};
    let ctx = Context::with_io_threads(threads).unwrap();
    let payload = bytes::Bytes::from(vec![7u8; size]);
    let mut all = Vec::new();
    for _ in 0..pairs {
        let pull = ctx.socket(SocketType::Pull).unwrap();
        pull.bind("tcp://127.0.0.1:*").unwrap();
        let push = ctx.socket(SocketType::Push).unwrap();
        push.connect(&pull.last_endpoint().unwrap()).unwrap();
        let p = payload.clone();
        all.push((
            move || push.send(Message::from(p.clone())).unwrap(),
            move || {
                pull.recv().unwrap();
            },
        ));
    }
    drive(all, count)
}
