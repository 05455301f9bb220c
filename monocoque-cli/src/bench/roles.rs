//! The measured loops: libzmq's four perf roles, and the hidden roles the
//! `mq bench` harness spawns, on Monocoque (generic over [`Backend`]).
//! libzmq's side runs the same loops in C (`libzmq_perf.c`, every send
//! zero-copy): `--lib libzmq` here hands the role over to that program.
//!
//! Hidden roles print `endpoint: EP` as soon as they are bound (the harness
//! starts the peer with it), then `result: ...` and `cpu: SECONDS`.

use std::io::{self, Read, Write};
use std::process::ExitCode;
use std::sync::mpsc;
use std::thread;
use std::time::{Duration, Instant};

use super::backend::{Backend, Kind};
use super::libzmq::LibzmqPerf;
use super::{Lib, PerfArgs, PerfRole};

/// The hidden subcommand the harness re-executes `mq` with.
pub(crate) const HIDDEN_ROLE: &str = "__bench-role";

/// The inproc endpoint of in-process runs.
const INPROC: &str = "inproc://mq-bench";

/// Runs a libzmq perf role (`mq bench local-thr ...`) on the library that
/// `--lib` or `MQ_BENCH_LIB` names, Monocoque by default.
pub(crate) fn run_perf(args: &PerfArgs) -> Result<(), String> {
    let lib = match args.lib {
        Some(lib) => lib,
        None => match std::env::var("MQ_BENCH_LIB") {
            Ok(name) if !name.is_empty() => Lib::parse(&name)
                .ok_or_else(|| format!("MQ_BENCH_LIB={name:?}: monocoque or libzmq"))?,
            _ => Lib::Monocoque,
        },
    };
    match lib {
        Lib::Monocoque => perf::<super::mono::Monocoque>(args)
            .map_err(|e| format!("bench {}: {e}", args.role.name())),
        Lib::Libzmq => {
            // CURVE needs the system's libzmq (the vendored one has none).
            let program = if args.curve {
                LibzmqPerf::find(None)?
            } else {
                LibzmqPerf::vendored()?
            };
            let mut cmd = std::process::Command::new(&program.program);
            cmd.args([args.role.name(), &args.endpoint])
                .args([args.size.to_string(), args.count.to_string()]);
            if args.curve {
                cmd.arg("curve");
            }
            Err(become_program(cmd))
        }
    }
}

/// Runs `cmd` in place of this process (its output and exit status are
/// ours); returns only why it could not.
fn become_program(mut cmd: std::process::Command) -> String {
    let program = cmd.get_program().to_string_lossy().into_owned();
    #[cfg(unix)]
    let e = std::os::unix::process::CommandExt::exec(&mut cmd);
    #[cfg(not(unix))]
    let e = io::Error::new(io::ErrorKind::Unsupported, "needs Unix");
    format!("bench: cannot run {program}: {e}")
}

fn perf<B: Backend>(args: &PerfArgs) -> io::Result<()> {
    let (ep, size, count) = (args.endpoint.as_str(), args.size, args.count);
    let mut out = io::stdout().lock();
    match args.role {
        PerfRole::LocalThr => {
            let (rate, _) = thr_recv::<B>(ep, size, count, 0, args.curve, |_| Ok(()))?;
            writeln!(out, "message size: {size} [B]")?;
            writeln!(out, "message count: {count}")?;
            writeln!(out, "mean throughput: {rate:.0} [msg/s]")?;
            writeln!(
                out,
                "mean throughput: {:.3} [Mb/s]",
                rate * size as f64 * 8.0 / 1e6
            )?;
        }
        PerfRole::RemoteThr => {
            let sent = count.saturating_mul(size as u64);
            thr_send::<B>(ep, size, count, 0, args.curve, || B::settle(sent))?;
        }
        PerfRole::LocalLat => {
            lat_echo::<B>(ep, count, args.curve, |_| Ok(()), || B::settle(size as u64))?;
        }
        PerfRole::RemoteLat => {
            let (elapsed, _) = lat_ping::<B>(ep, size, count, args.curve)?;
            writeln!(out, "message size: {size} [B]")?;
            writeln!(out, "roundtrip count: {count}")?;
            let us = elapsed.as_secs_f64() * 1e6 / count as f64 / 2.0;
            writeln!(out, "average latency: {us:.3} [us]")?;
        }
    }
    out.flush()
}

/// The process's CPU time so far (user + system, every thread, dead ones
/// included), from `/proc/self/stat`; zero where that is missing.
pub(crate) fn cpu_seconds() -> f64 {
    let Ok(stat) = std::fs::read_to_string("/proc/self/stat") else {
        return 0.0;
    };
    // Fields after the command name, which is in parentheses and may hold
    // spaces: state is the first, utime the 12th, stime the 13th.
    let Some(rest) = stat.rsplit_once(')').map(|(_, r)| r) else {
        return 0.0;
    };
    let ticks: u64 = rest
        .split_whitespace()
        .skip(11)
        .take(2)
        .filter_map(|f| f.parse::<u64>().ok())
        .sum();
    // USER_HZ is 100 on every Linux ABI Rust targets.
    ticks as f64 / 100.0
}

/// PULL: binds (a CURVE server with `curve`), calls `bound` with the
/// endpoint, receives `count` messages of `size`; returns msg/s from the
/// first message to the last, and the CPU seconds spent over the same span.
fn thr_recv<B: Backend>(
    ep: &str,
    size: usize,
    count: u64,
    hwm: usize,
    curve: bool,
    bound: impl FnOnce(&str) -> io::Result<()>,
) -> io::Result<(f64, f64)> {
    let ctx = B::open()?;
    let mut sock = ctx.socket(Kind::Pull, hwm)?;
    if curve {
        B::secure(&mut sock, true)?;
    }
    bound(&B::bind(&mut sock, ep)?)?;
    check_size(B::recv(&mut sock)?, size)?;
    let (t0, cpu0) = (Instant::now(), cpu_seconds());
    for n in 1..count {
        let got = B::recv(&mut sock)
            .map_err(|e| io::Error::new(e.kind(), format!("{e} after {n} of {count} messages")))?;
        check_size(got, size)?;
    }
    let elapsed = t0.elapsed().as_secs_f64();
    let cpu = cpu_seconds() - cpu0;
    B::close(sock);
    ctx.finish();
    let rate = if count > 1 {
        (count - 1) as f64 / elapsed
    } else {
        0.0
    };
    Ok((rate, cpu))
}

/// PUSH: connects (a CURVE client with `curve`), sends `count` messages,
/// calls `before_close`, closes and waits for them to leave; returns the
/// CPU seconds spent from the first send on.
fn thr_send<B: Backend>(
    ep: &str,
    size: usize,
    count: u64,
    hwm: usize,
    curve: bool,
    before_close: impl FnOnce(),
) -> io::Result<f64> {
    let ctx = B::open()?;
    let mut sock = ctx.socket(Kind::Push, hwm)?;
    if curve {
        B::secure(&mut sock, false)?;
    }
    B::connect(&mut sock, ep)?;
    let payload = B::payload(size);
    let cpu0 = cpu_seconds();
    for _ in 0..count {
        B::send(&mut sock, &payload)?;
    }
    before_close();
    B::close(sock);
    ctx.finish();
    Ok(cpu_seconds() - cpu0)
}

/// REP: binds (a CURVE server with `curve`), echoes `count` requests,
/// calls `before_close`.
fn lat_echo<B: Backend>(
    ep: &str,
    count: u64,
    curve: bool,
    bound: impl FnOnce(&str) -> io::Result<()>,
    before_close: impl FnOnce(),
) -> io::Result<()> {
    let ctx = B::open()?;
    let mut sock = ctx.socket(Kind::Rep, 1000)?;
    if curve {
        B::secure(&mut sock, true)?;
    }
    bound(&B::bind(&mut sock, ep)?)?;
    for _ in 0..count {
        B::echo(&mut sock)?;
    }
    before_close();
    B::close(sock);
    ctx.finish();
    Ok(())
}

/// REQ: connects (a CURVE client with `curve`), makes `count` round trips;
/// returns the whole time and each round trip's time in nanoseconds.
fn lat_ping<B: Backend>(
    ep: &str,
    size: usize,
    count: u64,
    curve: bool,
) -> io::Result<(Duration, Vec<u64>)> {
    let ctx = B::open()?;
    let mut sock = ctx.socket(Kind::Req, 1000)?;
    if curve {
        B::secure(&mut sock, false)?;
    }
    B::connect(&mut sock, ep)?;
    let trips = round_trips::<B>(&mut sock, size, count)?;
    B::close(sock);
    ctx.finish();
    Ok(trips)
}

fn round_trips<B: Backend>(
    sock: &mut B::Socket,
    size: usize,
    count: u64,
) -> io::Result<(Duration, Vec<u64>)> {
    let payload = B::payload(size);
    let mut rtts = Vec::with_capacity(usize::try_from(count).unwrap_or(0));
    let start = Instant::now();
    for _ in 0..count {
        let t = Instant::now();
        B::send(sock, &payload)?;
        check_size(B::recv(sock)?, size)?;
        rtts.push(u64::try_from(t.elapsed().as_nanos()).unwrap_or(u64::MAX));
    }
    Ok((start.elapsed(), rtts))
}

/// The median and 99th percentile round trip, in microseconds, leaving out
/// the first trip (it includes the connection's set-up).
pub(crate) fn percentiles(rtts: &[u64]) -> (f64, f64) {
    let mut sorted = rtts.get(1..).unwrap_or_default().to_vec();
    if sorted.is_empty() {
        sorted = rtts.to_vec();
    }
    sorted.sort_unstable();
    let at = |q: f64| {
        let i = ((sorted.len() as f64 - 1.0) * q).round() as usize;
        sorted.get(i).map_or(0.0, |&ns| ns as f64 / 1e3)
    };
    (at(0.5), at(0.99))
}

/// PUB: binds, waits for `subs` subscriptions, sends `count` messages,
/// closes and waits for them to leave.
fn fan_pub<B: Backend>(
    ctx: &B,
    ep: &str,
    size: usize,
    count: u64,
    subs: usize,
    hwm: usize,
    bound: impl FnOnce(&str) -> io::Result<()>,
) -> io::Result<B::Socket> {
    let mut sock = ctx.socket(Kind::Pub, hwm)?;
    bound(&B::bind(&mut sock, ep)?)?;
    B::wait_subscribers(&mut sock, subs)?;
    let payload = B::payload(size);
    for _ in 0..count {
        B::send(&mut sock, &payload)?;
    }
    Ok(sock)
}

/// `subs` SUB sockets, each on its own thread, each receiving `count`
/// messages; returns msg/s (messages published per second, every one
/// reaching every subscriber) from the first arrival to the last.
fn fan_subs<B: Backend>(
    ctx: &B,
    ep: &str,
    size: usize,
    count: u64,
    subs: usize,
    hwm: usize,
) -> io::Result<thread::JoinHandle<io::Result<f64>>> {
    let mut socks = Vec::with_capacity(subs);
    for _ in 0..subs {
        let mut sock = ctx.socket(Kind::Sub, hwm)?;
        B::connect(&mut sock, ep)?;
        socks.push(sock);
    }
    Ok(thread::spawn(move || {
        let threads: Vec<_> = socks
            .into_iter()
            .map(|mut sock| {
                thread::spawn(move || -> io::Result<(Instant, Instant, B::Socket)> {
                    check_size(B::recv(&mut sock)?, size)?;
                    let first = Instant::now();
                    for _ in 1..count {
                        check_size(B::recv(&mut sock)?, size)?;
                    }
                    Ok((first, Instant::now(), sock))
                })
            })
            .collect();
        let mut span: Option<(Instant, Instant)> = None;
        for t in threads {
            let (first, last, sock) = t
                .join()
                .map_err(|_| io::Error::other("a subscriber thread panicked"))??;
            B::close(sock);
            span = Some(match span {
                None => (first, last),
                Some((a, b)) => (a.min(first), b.max(last)),
            });
        }
        let (first, last) = span.ok_or_else(|| io::Error::other("no subscribers"))?;
        Ok(count as f64 / (last - first).as_secs_f64().max(1e-9))
    }))
}

pub(crate) fn check_size(got: usize, want: usize) -> io::Result<()> {
    if got == want {
        Ok(())
    } else {
        Err(io::Error::new(
            io::ErrorKind::InvalidData,
            format!("received {got} bytes, expected {want}"),
        ))
    }
}

/// The hidden roles: `mq __bench-role ROLE LIB ENDPOINT SIZE COUNT SUBS HWM`.
pub(crate) fn run_hidden_role(args: &[String]) -> ExitCode {
    let parsed = (|| {
        let [role, lib, ep, size, count, subs, hwm] = args else {
            return None;
        };
        Some((
            role.as_str(),
            Lib::parse(lib)?,
            ep.as_str(),
            size.parse().ok()?,
            count.parse().ok()?,
            subs.parse().ok()?,
            hwm.parse().ok()?,
        ))
    })();
    let Some((role, lib, ep, size, count, subs, hwm)) = parsed else {
        eprintln!("mq: bad {HIDDEN_ROLE} arguments");
        return ExitCode::from(2);
    };
    let result = match lib {
        Lib::Monocoque => hidden::<super::mono::Monocoque>(role, ep, size, count, subs, hwm),
        // The harness spawns libzmq's program itself; by hand, `mq` hands
        // the role over to it (the same arguments without LIB).
        Lib::Libzmq => match LibzmqPerf::vendored() {
            Ok(program) => {
                let mut cmd = std::process::Command::new(&program.program);
                cmd.args([HIDDEN_ROLE, role, ep]).args([
                    size.to_string(),
                    count.to_string(),
                    subs.to_string(),
                    hwm.to_string(),
                ]);
                Err(io::Error::other(become_program(cmd)))
            }
            Err(e) => Err(io::Error::other(e)),
        },
    };
    match result {
        Ok(()) => ExitCode::SUCCESS,
        Err(e) => {
            eprintln!("mq: {role} ({}): {e}", lib.name());
            ExitCode::from(1)
        }
    }
}

/// Waits until the harness closes our stdin: the peer has everything, so
/// closing now loses nothing in flight.
pub(crate) fn released() {
    let mut sink = Vec::new();
    let _ = io::stdin().lock().read_to_end(&mut sink);
}

pub(crate) fn announce(ep: &str) -> io::Result<()> {
    let mut out = io::stdout().lock();
    writeln!(out, "endpoint: {ep}")?;
    out.flush()
}

fn hidden<B: Backend>(
    role: &str,
    ep: &str,
    size: usize,
    count: u64,
    subs: usize,
    hwm: usize,
) -> io::Result<()> {
    let mut lines = Vec::new();
    match role {
        "thr-recv" => {
            let (rate, cpu) = thr_recv::<B>(ep, size, count, hwm, false, announce)?;
            lines.push(format!("result: {rate}"));
            lines.push(format!("cpu: {cpu}"));
        }
        "thr-send" => {
            let cpu = thr_send::<B>(ep, size, count, hwm, false, released)?;
            lines.push(format!("cpu: {cpu}"));
        }
        "lat-echo" => lat_echo::<B>(ep, count, false, announce, released)?,
        "lat-ping" => {
            let (_, rtts) = lat_ping::<B>(ep, size, count, false)?;
            let (p50, p99) = percentiles(&rtts);
            lines.push(format!("result: {p50} {p99}"));
        }
        "fan-pub" => {
            let ctx = B::open()?;
            let sock = fan_pub(&ctx, ep, size, count, subs, hwm, announce)?;
            released();
            B::close(sock);
            ctx.finish();
        }
        "fan-sub" => {
            let ctx = B::open()?;
            let waiter = fan_subs(&ctx, ep, size, count, subs, hwm)?;
            let rate = join(waiter)?;
            ctx.finish();
            lines.push(format!("result: {rate}"));
        }
        "inproc-thr" => {
            let ctx = B::open()?;
            let mut pull = ctx.socket(Kind::Pull, hwm)?;
            B::bind(&mut pull, INPROC)?;
            let mut push = ctx.socket(Kind::Push, hwm)?;
            B::connect(&mut push, INPROC)?;
            let cpu0 = cpu_seconds();
            let (done, release) = mpsc::channel::<()>();
            let sender = thread::spawn(move || -> io::Result<()> {
                let payload = B::payload(size);
                for _ in 0..count {
                    B::send(&mut push, &payload)?;
                }
                let _ = release.recv();
                B::close(push);
                Ok(())
            });
            check_size(B::recv(&mut pull)?, size)?;
            let t0 = Instant::now();
            for _ in 1..count {
                check_size(B::recv(&mut pull)?, size)?;
            }
            let elapsed = t0.elapsed().as_secs_f64();
            drop(done);
            join(sender)?;
            B::close(pull);
            ctx.finish();
            let rate = if count > 1 {
                (count - 1) as f64 / elapsed
            } else {
                0.0
            };
            lines.push(format!("result: {rate}"));
            lines.push(format!("cpu: {}", cpu_seconds() - cpu0));
        }
        "inproc-lat" => {
            let ctx = B::open()?;
            let mut rep = ctx.socket(Kind::Rep, 1000)?;
            B::bind(&mut rep, INPROC)?;
            let mut req = ctx.socket(Kind::Req, 1000)?;
            B::connect(&mut req, INPROC)?;
            let (done, release) = mpsc::channel::<()>();
            let echo = thread::spawn(move || -> io::Result<()> {
                for _ in 0..count {
                    B::echo(&mut rep)?;
                }
                let _ = release.recv();
                B::close(rep);
                Ok(())
            });
            let trips = round_trips::<B>(&mut req, size, count);
            drop(done);
            let (_, rtts) = trips?;
            join(echo)?;
            B::close(req);
            ctx.finish();
            let (p50, p99) = percentiles(&rtts);
            lines.push(format!("result: {p50} {p99}"));
        }
        "inproc-fan" => {
            let ctx = B::open()?;
            let mut publisher = ctx.socket(Kind::Pub, hwm)?;
            B::bind(&mut publisher, INPROC)?;
            let waiter = fan_subs(&ctx, INPROC, size, count, subs, hwm)?;
            B::wait_subscribers(&mut publisher, subs)?;
            let payload = B::payload(size);
            for _ in 0..count {
                B::send(&mut publisher, &payload)?;
            }
            let rate = join(waiter)?;
            B::close(publisher);
            ctx.finish();
            lines.push(format!("result: {rate}"));
        }
        other => {
            return Err(io::Error::new(
                io::ErrorKind::InvalidInput,
                format!("unknown role {other}"),
            ))
        }
    }
    let mut out = io::stdout().lock();
    for line in lines {
        writeln!(out, "{line}")?;
    }
    out.flush()
}

fn join<T>(handle: thread::JoinHandle<io::Result<T>>) -> io::Result<T> {
    handle
        .join()
        .map_err(|_| io::Error::other("a benchmark thread panicked"))?
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn percentiles_skip_the_first_trip() {
        let rtts: Vec<u64> = std::iter::once(1_000_000)
            .chain((1..=100).map(|i| i * 1000))
            .collect();
        let (p50, p99) = percentiles(&rtts);
        assert!((50.0..=51.0).contains(&p50), "{p50}");
        assert!((98.0..=100.0).contains(&p99), "{p99}");
    }

    #[test]
    fn cpu_time_is_read() {
        let spin = Instant::now();
        while spin.elapsed() < Duration::from_millis(30) {}
        assert!(cpu_seconds() > 0.0);
    }
}
