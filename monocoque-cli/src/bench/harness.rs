//! The side-by-side run: plan the cases, spawn the role processes, collect
//! medians, hand the rows to the report. Monocoque's roles are `mq` itself,
//! libzmq's the C program of the same roles ([`super::libzmq`]), the tcp
//! rows' bare TCP stream `mq`'s `raw-tcp` roles ([`super::raw`]). CURVE
//! rows (`--curve`) pair perf-role programs instead of hidden roles (see
//! [`super::curve`]).

use std::collections::HashMap;
use std::io::{BufRead, BufReader, IsTerminal, Read, Write};
use std::process::{Child, Command, Stdio};
use std::time::{Duration, Instant};

use super::curve::{self, PerfProgram};
use super::libzmq::LibzmqPerf;
use super::raw::RAW_TCP;
use super::report::{self, Row};
use super::roles::HIDDEN_ROLE;
use super::{BenchArgs, Case, Lib, Transport};

/// Thr sizes when `--sizes` is not given.
const THR_SIZES: [usize; 6] = [16, 64, 256, 1024, 64 * 1024, 1024 * 1024];
/// Lat sizes when `--sizes` is not given.
const LAT_SIZES: [usize; 2] = [64, 1024];
/// The fan-out message size.
const FANOUT_SIZE: usize = 64;
/// The thr size CPU rows are taken from (or the smallest one run).
const CPU_SIZE: usize = 64;
/// CURVE thr sizes when `--sizes` is not given (over tcp).
const CURVE_THR_SIZES: [usize; 3] = [64, 1024, 64 * 1024];
/// CURVE lat sizes when `--sizes` is not given (over tcp).
const CURVE_LAT_SIZES: [usize; 1] = [64];
/// How long one run may take before its processes are killed.
const RUN_DEADLINE: Duration = Duration::from_secs(60);
/// How long the CURVE probe (one round trip) may take.
const PROBE_DEADLINE: Duration = Duration::from_secs(10);

/// One measurement to repeat for each library.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
struct Job {
    case: Case,
    transport: Transport,
    size: usize,
    subs: usize,
    count: u64,
    /// A CURVE row: perf-role programs over tcp with `curve`.
    curve: bool,
}

/// Who runs one side of a measured run.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash)]
enum Side {
    /// One of the two libraries.
    Lib(Lib),
    /// The bare TCP stream, the tcp rows' byte-rate reference.
    RawTcp,
}

impl Side {
    /// The name in the progress line.
    fn name(self) -> &'static str {
        match self {
            Side::Lib(lib) => lib.name(),
            Side::RawTcp => RAW_TCP,
        }
    }
}

impl Job {
    /// Whether the bare TCP stream runs beside the libraries: tcp thr and
    /// lat rows (not CURVE's), of at least one byte.
    fn raw_tcp(&self) -> bool {
        self.transport == Transport::Tcp
            && matches!(self.case, Case::Thr | Case::Lat)
            && !self.curve
            && self.size > 0
    }

    /// `tcp`, or `tcp+curve` for a CURVE row.
    fn transport_label(&self) -> String {
        if self.curve {
            format!("{}+curve", self.transport.name())
        } else {
            self.transport.name().to_owned()
        }
    }
}

/// What one run of one library measured.
#[derive(Clone, Copy, Debug, Default)]
struct Sample {
    /// msg/s (thr, fanout) or the p50 round trip in us (lat).
    value: f64,
    /// lat: the p99 round trip in us.
    p99: Option<f64>,
    /// thr: CPU seconds of both sides together.
    cpu: Option<f64>,
}

/// Messages (or round trips) per run: each run takes a fraction of a second
/// at libzmq's speed here, so the default table takes about a minute.
fn default_count(case: Case, size: usize, subs: usize) -> u64 {
    match case {
        Case::Thr => match size {
            0..=64 => 800_000,
            65..=256 => 600_000,
            257..=1024 => 300_000,
            1025..=8192 => 80_000,
            // Large messages run a little longer: a run of a few hundred
            // milliseconds moved the median by one slow run.
            8193..=65536 => 20_000,
            _ => (1_500_000_000 / size as u64).max(200),
        },
        Case::Lat => 4_000,
        Case::Fanout => (800_000 / subs.max(1) as u64).max(4_000),
    }
}

/// The same for CURVE rows, at libzmq's CURVE speed here (about 0.58 M
/// msg/s at 64 B, 0.17 M at 1 KiB, 6.6 k at 64 KiB; 27 us one way).
fn curve_default_count(case: Case, size: usize) -> u64 {
    match case {
        Case::Thr | Case::Fanout => match size {
            0..=64 => 200_000,
            65..=256 => 120_000,
            257..=1024 => 60_000,
            1025..=8192 => 12_000,
            8193..=65536 => 2_000,
            _ => (150_000_000 / size as u64).max(100),
        },
        Case::Lat => 4_000,
    }
}

fn plan(args: &BenchArgs) -> Vec<Job> {
    let mut jobs = Vec::new();
    let count = |case, size, subs| {
        args.count
            .unwrap_or_else(|| default_count(case, size, subs))
    };
    for &case in &args.cases {
        match case {
            Case::Thr | Case::Lat => {
                let defaults: &[usize] = if case == Case::Thr {
                    &THR_SIZES
                } else {
                    &LAT_SIZES
                };
                let sizes = args.sizes.as_deref().unwrap_or(defaults);
                for &transport in &args.transports {
                    for &size in sizes {
                        jobs.push(Job {
                            case,
                            transport,
                            size,
                            subs: 0,
                            count: count(case, size, 0),
                            curve: false,
                        });
                    }
                }
            }
            Case::Fanout => {
                let transport = args.transports.first().copied().unwrap_or(Transport::Tcp);
                for &subs in &args.subscribers {
                    jobs.push(Job {
                        case,
                        transport,
                        size: FANOUT_SIZE,
                        subs,
                        count: count(case, FANOUT_SIZE, subs),
                        curve: false,
                    });
                }
            }
        }
    }
    if args.curve {
        jobs.extend(plan_curve(args));
    }
    jobs
}

/// The CURVE rows: thr and lat (as `--cases` asks) over tcp, at `--sizes`
/// or 64 B, 1 KiB and 64 KiB (thr) and 64 B (lat); fan-out has none.
fn plan_curve(args: &BenchArgs) -> Vec<Job> {
    let mut jobs = Vec::new();
    for &case in &args.cases {
        let defaults: &[usize] = match case {
            Case::Thr => &CURVE_THR_SIZES,
            Case::Lat => &CURVE_LAT_SIZES,
            Case::Fanout => continue,
        };
        for &size in args.sizes.as_deref().unwrap_or(defaults) {
            jobs.push(Job {
                case,
                transport: Transport::Tcp,
                size,
                subs: 0,
                count: args
                    .count
                    .unwrap_or_else(|| curve_default_count(case, size)),
                curve: true,
            });
        }
    }
    jobs
}

/// Runs the whole benchmark and prints the table (or JSON rows), and the
/// SVG if asked.
pub(crate) fn run(args: &BenchArgs) -> Result<(), String> {
    let exe = std::env::current_exe().map_err(|e| format!("cannot find my own binary: {e}"))?;
    let jobs = plan(args);
    // libzmq's side of the NULL rows: the C program built with `mq`.
    let libzmq = if jobs.iter().any(|j| !j.curve) && args.libs.contains(&Lib::Libzmq) {
        Some(LibzmqPerf::vendored()?)
    } else {
        None
    };
    // libzmq's CURVE side is found (or built) and tried before any run, so
    // a missing package fails at once.
    let libzmq_curve = if jobs.iter().any(|j| j.curve) && args.libs.contains(&Lib::Libzmq) {
        let perf = LibzmqPerf::find(args.libzmq_perf.as_deref())?;
        probe(&exe, &perf)?;
        Some(perf)
    } else {
        None
    };
    let sides_of = |job: &Job| args.libs.len() + usize::from(job.raw_tcp());
    let total = jobs.iter().map(sides_of).sum::<usize>() * args.reps;
    let mut progress = Progress::new(total);
    let mut samples: HashMap<(usize, Side), Vec<Sample>> = HashMap::new();
    let mut failures = Vec::new();
    let started = Instant::now();
    for (j, job) in jobs.iter().enumerate() {
        for rep in 0..args.reps {
            // Alternate who goes first (the bare stream too), so no side
            // always runs on a machine another just warmed (or heated).
            let mut sides: Vec<Side> = args.libs.iter().map(|&lib| Side::Lib(lib)).collect();
            if job.raw_tcp() {
                sides.push(Side::RawTcp);
            }
            if rep % 2 == 1 {
                sides.reverse();
            }
            for side in sides {
                progress.step(&format!(
                    "{} {} {} {}",
                    job.case.name(),
                    job.transport_label(),
                    report::size_label(job.size),
                    side.name()
                ));
                let result = match side {
                    Side::Lib(lib) if job.curve => run_curve(&exe, job, lib, libzmq_curve.as_ref()),
                    _ => run_one(&exe, job, side, libzmq.as_ref()),
                };
                match result {
                    Ok(sample) => samples.entry((j, side)).or_default().push(sample),
                    Err(e) => failures.push(format!(
                        "{} {} {} B {}: {e}",
                        job.case.name(),
                        job.transport_label(),
                        job.size,
                        side.name()
                    )),
                }
            }
        }
    }
    progress.done(started.elapsed());
    for failure in &failures {
        eprintln!("mq bench: failed run: {failure}");
    }
    let rows = rows(&jobs, &samples, args.reps, &args.libs);
    let mut out = std::io::stdout().lock();
    let text = if args.json {
        report::json(&rows)
    } else {
        let curve_libzmq = libzmq_curve.as_ref().map(LibzmqPerf::describe);
        report::table(
            &rows,
            args.reps,
            started.elapsed(),
            libzmq.as_ref().map(LibzmqPerf::name),
            curve_libzmq.as_deref(),
        )
    };
    out.write_all(text.as_bytes())
        .and_then(|()| out.flush())
        .map_err(|e| format!("stdout: {e}"))?;
    if let Some(path) = &args.svg {
        std::fs::write(path, report::svg(&rows))
            .map_err(|e| format!("cannot write {}: {e}", path.display()))?;
    }
    if rows
        .iter()
        .all(|r| r.monocoque.is_none() && r.libzmq.is_none())
        && !rows.is_empty()
    {
        return Err("every run failed".to_owned());
    }
    Ok(())
}

fn median(mut values: Vec<f64>) -> Option<f64> {
    if values.is_empty() {
        return None;
    }
    values.sort_by(f64::total_cmp);
    let mid = values.len() / 2;
    Some(if values.len() % 2 == 1 {
        values[mid]
    } else {
        (values[mid - 1] + values[mid]) / 2.0
    })
}

fn rows(
    jobs: &[Job],
    samples: &HashMap<(usize, Side), Vec<Sample>>,
    reps: usize,
    libs: &[Lib],
) -> Vec<Row> {
    let ran = |lib: Lib, n: usize| libs.contains(&lib).then_some(n);
    let get = |j: usize, side: Side| {
        samples
            .get(&(j, side))
            .map(Vec::as_slice)
            .unwrap_or_default()
    };
    let mut rows = Vec::new();
    let mut cpu_rows = Vec::new();
    for (j, job) in jobs.iter().enumerate() {
        let (mono, zmq) = (
            get(j, Side::Lib(Lib::Monocoque)),
            get(j, Side::Lib(Lib::Libzmq)),
        );
        let raw = get(j, Side::RawTcp);
        let values = |s: &[Sample]| median(s.iter().map(|s| s.value).collect());
        let p99 = |s: &[Sample]| median(s.iter().filter_map(|s| s.p99).collect());
        let mut row = Row {
            case: job.case.name(),
            transport: job.transport.name(),
            size: job.size,
            subscribers: (job.case == Case::Fanout).then_some(job.subs),
            unit: if job.case == Case::Lat { "us" } else { "msg/s" },
            monocoque: values(mono),
            libzmq: values(zmq),
            p99_monocoque: None,
            p99_libzmq: None,
            runs: (
                ran(Lib::Monocoque, mono.len()),
                ran(Lib::Libzmq, zmq.len()),
                reps,
            ),
            curve: job.curve,
            raw_tcp: values(raw),
            p99_raw_tcp: None,
            raw_runs: job.raw_tcp().then_some(raw.len()),
        };
        if job.case == Case::Lat && !job.curve {
            row.p99_monocoque = p99(mono);
            row.p99_libzmq = p99(zmq);
            row.p99_raw_tcp = p99(raw);
        }
        rows.push(row);
        let cpu_size = jobs
            .iter()
            .filter(|o| o.case == Case::Thr && o.transport == job.transport && !o.curve)
            .map(|o| o.size)
            .min_by_key(|&s| s.abs_diff(CPU_SIZE));
        if job.case == Case::Thr && !job.curve && Some(job.size) == cpu_size {
            let per_mmsg = |s: &[Sample]| {
                median(
                    s.iter()
                        .filter_map(|s| s.cpu)
                        .map(|c| c / job.count as f64 * 1e6)
                        .collect(),
                )
            };
            cpu_rows.push(Row {
                case: "cpu",
                unit: "s/Mmsg",
                monocoque: per_mmsg(mono),
                libzmq: per_mmsg(zmq),
                raw_tcp: None,
                raw_runs: None,
                ..rows[rows.len() - 1].clone()
            });
        }
    }
    rows.extend(cpu_rows);
    rows
}

/// A role process with its stdout being read line by line. Closing its
/// stdin tells a sending role that its peer has everything.
struct Role {
    child: Child,
    stdin: Option<std::process::ChildStdin>,
    stdout: BufReader<std::process::ChildStdout>,
}

/// Starts `cmd` (its stdout piped) as a role named `role`.
fn start(cmd: &mut Command, role: &str) -> Result<Role, String> {
    let mut child = cmd
        .spawn()
        .map_err(|e| format!("cannot start {role}: {e}"))?;
    let stdout = child.stdout.take().ok_or("no stdout")?;
    Ok(Role {
        stdin: child.stdin.take(),
        child,
        stdout: BufReader::new(stdout),
    })
}

/// Starts hidden role `role` on `side`: `mq __bench-role ROLE LIB ...` for
/// Monocoque and the bare stream, `libzmq-perf __bench-role ROLE ...` (the
/// same arguments without LIB) for libzmq.
fn spawn(
    exe: &std::path::Path,
    role: &str,
    side: Side,
    libzmq: Option<&LibzmqPerf>,
    ep: &str,
    job: &Job,
    hwm: usize,
) -> Result<Role, String> {
    let mut cmd = match side {
        Side::Lib(Lib::Libzmq) => {
            let perf = libzmq.ok_or("libzmq's side was not set up")?;
            let mut cmd = Command::new(&perf.program);
            cmd.args([HIDDEN_ROLE, role]);
            cmd
        }
        side => {
            let mut cmd = Command::new(exe);
            cmd.args([HIDDEN_ROLE, role, side.name()]);
            cmd
        }
    };
    cmd.arg(ep)
        .args([
            job.size.to_string(),
            job.count.to_string(),
            job.subs.to_string(),
            hwm.to_string(),
        ])
        .stdin(Stdio::piped())
        .stdout(Stdio::piped())
        .stderr(Stdio::piped());
    start(&mut cmd, role)
}

impl Role {
    /// The `endpoint: EP` line a binding role prints first.
    fn endpoint(&mut self) -> Result<String, String> {
        let mut line = String::new();
        self.stdout
            .read_line(&mut line)
            .map_err(|e| e.to_string())?;
        match line.trim_end().strip_prefix("endpoint: ") {
            Some(ep) => Ok(ep.to_owned()),
            None => Err(self
                .finish(Instant::now())
                .err()
                .unwrap_or_else(|| "no endpoint".to_owned())),
        }
    }

    /// Waits for the exit (killing it past `deadline`); returns the rest of
    /// its stdout, or its first stderr line as the error.
    fn finish(&mut self, deadline: Instant) -> Result<String, String> {
        let status = loop {
            match self.child.try_wait().map_err(|e| e.to_string())? {
                Some(status) => break status,
                None if Instant::now() > deadline => {
                    let _ = self.child.kill();
                    let _ = self.child.wait();
                    return Err("timed out".to_owned());
                }
                None => std::thread::sleep(Duration::from_millis(2)),
            }
        };
        let mut out = String::new();
        let _ = self.stdout.read_to_string(&mut out);
        if status.success() {
            return Ok(out);
        }
        let mut err = String::new();
        if let Some(mut stderr) = self.child.stderr.take() {
            let _ = stderr.read_to_string(&mut err);
        }
        let first = err.lines().next().unwrap_or("").trim().to_owned();
        Err(if first.is_empty() {
            format!("exited with {status}")
        } else {
            first
        })
    }
}

impl Role {
    /// Its exit status if it has exited.
    fn exited(&mut self) -> Result<Option<std::process::ExitStatus>, String> {
        self.child.try_wait().map_err(|e| e.to_string())
    }

    /// Waits until something listens on 127.0.0.1:`port` (this role, bound),
    /// or fails with its error if it exits first. Where `/proc/net/tcp`
    /// cannot be read, gives it 100 ms.
    fn listening(&mut self, port: u16, deadline: Instant) -> Result<(), String> {
        loop {
            if self.exited()?.is_some() {
                return Err(self
                    .finish(deadline)
                    .err()
                    .unwrap_or_else(|| "exited before it listened".to_owned()));
            }
            match tcp_listening(port) {
                Some(true) => return Ok(()),
                None => {
                    std::thread::sleep(Duration::from_millis(100));
                    return Ok(());
                }
                Some(false) if Instant::now() > deadline => {
                    return Err(format!("never listened on port {port}"))
                }
                Some(false) => std::thread::sleep(Duration::from_millis(1)),
            }
        }
    }
}

/// Waits for both roles to exit (both are killed past `deadline`); the
/// first to fail gives the error, else their stdouts.
fn finish_both(a: &mut Role, b: &mut Role, deadline: Instant) -> Result<(String, String), String> {
    loop {
        let (sa, sb) = (a.exited()?, b.exited()?);
        for (role, status) in [(&mut *a, sa), (&mut *b, sb)] {
            if status.is_some_and(|s| !s.success()) {
                return Err(role
                    .finish(deadline)
                    .err()
                    .unwrap_or_else(|| "failed".to_owned()));
            }
        }
        if sa.is_some() && sb.is_some() {
            return Ok((a.finish(deadline)?, b.finish(deadline)?));
        }
        if Instant::now() > deadline {
            return Err("timed out".to_owned());
        }
        std::thread::sleep(Duration::from_millis(2));
    }
}

impl Drop for Role {
    fn drop(&mut self) {
        if let Ok(None) = self.child.try_wait() {
            let _ = self.child.kill();
            let _ = self.child.wait();
        }
    }
}

/// The numbers after `name: ` on the first such line.
fn field(out: &str, name: &str) -> Option<Vec<f64>> {
    let line = out
        .lines()
        .find_map(|l| l.strip_prefix(name)?.strip_prefix(": "))?;
    line.split_whitespace().map(|v| v.parse().ok()).collect()
}

fn ipc_endpoint() -> String {
    use std::sync::atomic::{AtomicU32, Ordering};
    static SEQ: AtomicU32 = AtomicU32::new(0);
    let dir = std::env::temp_dir();
    let n = SEQ.fetch_add(1, Ordering::Relaxed);
    format!(
        "ipc://{}/mq-bench-{}-{n}.sock",
        dir.display(),
        std::process::id()
    )
}

fn run_one(
    exe: &std::path::Path,
    job: &Job,
    side: Side,
    libzmq: Option<&LibzmqPerf>,
) -> Result<Sample, String> {
    let deadline = Instant::now() + RUN_DEADLINE;
    // thr and lat: libzmq's default HWM, as users deploy; fanout: room for
    // every message, so a PUB never drops and every subscriber gets the
    // same count.
    let hwm = match job.case {
        Case::Thr | Case::Lat => 1000,
        Case::Fanout => usize::try_from(job.count)
            .unwrap_or(usize::MAX)
            .saturating_add(16),
    };
    let (bind_role, connect_role, inproc_role) = match job.case {
        Case::Thr => ("thr-recv", "thr-send", "inproc-thr"),
        Case::Lat => ("lat-echo", "lat-ping", "inproc-lat"),
        Case::Fanout => ("fan-pub", "fan-sub", "inproc-fan"),
    };
    let parse_err = |out: &str| format!("unexpected output {out:?}");
    if job.transport == Transport::Inproc {
        let out = spawn(
            exe,
            inproc_role,
            side,
            libzmq,
            "inproc://mq-bench",
            job,
            hwm,
        )?
        .finish(deadline)?;
        let result = field(&out, "result").ok_or_else(|| parse_err(&out))?;
        return Ok(Sample {
            value: result[0],
            p99: result.get(1).copied(),
            cpu: field(&out, "cpu").and_then(|c| c.first().copied()),
        });
    }
    let ep = match job.transport {
        Transport::Ipc => ipc_endpoint(),
        _ => "tcp://127.0.0.1:*".to_owned(),
    };
    let mut binder = spawn(exe, bind_role, side, libzmq, &ep, job, hwm)?;
    let bound = binder.endpoint()?;
    let mut connecter = spawn(exe, connect_role, side, libzmq, &bound, job, hwm)?;
    // The measuring side finishes first; then the sending side may close.
    let (bout, cout) = if job.case == Case::Thr {
        let bout = binder.finish(deadline);
        connecter.stdin = None;
        (bout, connecter.finish(deadline))
    } else {
        let cout = connecter.finish(deadline);
        binder.stdin = None;
        (binder.finish(deadline), cout)
    };
    if let Some(path) = bound.strip_prefix("ipc://") {
        let _ = std::fs::remove_file(path);
    }
    let (bout, cout) = (bout?, cout?);
    let sample = match job.case {
        Case::Thr => {
            let result = field(&bout, "result").ok_or_else(|| parse_err(&bout))?;
            let cpu = [&bout, &cout]
                .iter()
                .map(|o| field(o, "cpu").and_then(|c| c.first().copied()))
                .sum::<Option<f64>>();
            Sample {
                value: result[0],
                p99: None,
                cpu,
            }
        }
        Case::Lat => {
            let result = field(&cout, "result").ok_or_else(|| parse_err(&cout))?;
            Sample {
                value: result[0],
                p99: result.get(1).copied(),
                cpu: None,
            }
        }
        Case::Fanout => {
            let result = field(&cout, "result").ok_or_else(|| parse_err(&cout))?;
            Sample {
                value: result[0],
                p99: None,
                cpu: None,
            }
        }
    };
    Ok(sample)
}

/// A tcp port that was free a moment ago (the perf roles take a fixed
/// endpoint and do not say which port they bound).
fn free_port() -> Result<u16, String> {
    std::net::TcpListener::bind("127.0.0.1:0")
        .and_then(|l| l.local_addr())
        .map(|a| a.port())
        .map_err(|e| format!("no free tcp port: {e}"))
}

/// Whether a socket listens on `port` (IPv4), from `/proc/net/tcp`;
/// `None` where that cannot be read.
fn tcp_listening(port: u16) -> Option<bool> {
    let table = std::fs::read_to_string("/proc/net/tcp").ok()?;
    let local = format!(":{port:04X}");
    Some(table.lines().skip(1).any(|line| {
        let fields: Vec<&str> = line.split_whitespace().collect();
        // sl, local_address, rem_address, st (0A: LISTEN), ...
        fields.get(1).is_some_and(|a| a.ends_with(&local)) && fields.get(3) == Some(&"0A")
    }))
}

/// One run of a perf-role pair over CURVE: `local` binds (the server),
/// `remote` connects once it listens; returns the measuring side's value
/// (msg/s for thr, the mean round trip in us for lat).
fn perf_pair(
    local: PerfProgram<'_>,
    remote: PerfProgram<'_>,
    case: Case,
    size: usize,
    count: u64,
    deadline: Instant,
) -> Result<f64, String> {
    let (bind_role, connect_role) = curve::roles(case);
    let port = free_port()?;
    let ep = format!("tcp://127.0.0.1:{port}");
    let mut cmd = curve::command(local, bind_role, &ep, size, count);
    let mut binder = start(&mut cmd, bind_role.name())?;
    binder.listening(port, deadline)?;
    let mut cmd = curve::command(remote, connect_role, &ep, size, count);
    let mut connecter = start(&mut cmd, connect_role.name())?;
    let (bout, cout) = finish_both(&mut binder, &mut connecter, deadline)?;
    let out = if case == Case::Lat { cout } else { bout };
    curve::value(case, &out).ok_or_else(|| format!("unexpected output {out:?}"))
}

/// A CURVE row's run: `lib` paired with itself through the perf roles.
fn run_curve(
    exe: &std::path::Path,
    job: &Job,
    lib: Lib,
    libzmq: Option<&LibzmqPerf>,
) -> Result<Sample, String> {
    let program = match lib {
        Lib::Monocoque => PerfProgram::Mq(exe),
        Lib::Libzmq => PerfProgram::Libzmq(libzmq.ok_or("no libzmq with CURVE")?),
    };
    let deadline = Instant::now() + RUN_DEADLINE;
    let value = perf_pair(program, program, job.case, job.size, job.count, deadline)?;
    Ok(Sample {
        value,
        p99: None,
        cpu: None,
    })
}

/// One CURVE round trip between libzmq's side (the server) and Monocoque:
/// proves, before any run, that the program does CURVE (a program of the
/// perf roles alone may not say) and speaks it with us.
fn probe(exe: &std::path::Path, libzmq: &LibzmqPerf) -> Result<(), String> {
    let deadline = Instant::now() + PROBE_DEADLINE;
    perf_pair(
        PerfProgram::Libzmq(libzmq),
        PerfProgram::Mq(exe),
        Case::Lat,
        64,
        1,
        deadline,
    )
    .map(|_| ())
    .map_err(|e| libzmq.probe_failed(&e))
}

/// `[#####.....] 12/40 thr tcp 64 B libzmq` on stderr, redrawn in place.
struct Progress {
    total: usize,
    done: usize,
    tty: bool,
}

impl Progress {
    fn new(total: usize) -> Progress {
        Progress {
            total,
            done: 0,
            tty: std::io::stderr().is_terminal(),
        }
    }

    fn step(&mut self, what: &str) {
        const WIDTH: usize = 30;
        let filled = WIDTH * self.done / self.total.max(1);
        let bar = format!("{}{}", "#".repeat(filled), ".".repeat(WIDTH - filled));
        let line = format!("[{bar}] {}/{} {what}", self.done + 1, self.total);
        let mut err = std::io::stderr().lock();
        // On a terminal redraw one line; elsewhere (a log, a pipe) one line
        // per run, so nothing piles up behind carriage returns.
        let _ = if self.tty {
            write!(err, "\r\x1b[2K{line}")
        } else {
            writeln!(err, "{line}")
        };
        let _ = err.flush();
        self.done += 1;
    }

    fn done(&self, took: Duration) {
        let mut err = std::io::stderr().lock();
        let end = if self.tty { "\r\x1b[2K" } else { "" };
        let _ = writeln!(
            err,
            "{end}mq bench: {} runs in {:.1} s",
            self.total,
            took.as_secs_f64()
        );
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn default_plan_covers_every_case() {
        let jobs = plan(&BenchArgs::default());
        let count = |case| jobs.iter().filter(|j| j.case == case).count();
        assert_eq!(count(Case::Thr), 18);
        assert_eq!(count(Case::Lat), 6);
        assert_eq!(count(Case::Fanout), 3);
        assert!(jobs.iter().all(|j| j.count > 0));
        assert!(jobs.iter().all(|j| !j.curve));
    }

    #[test]
    fn curve_adds_tcp_rows_to_the_plan() {
        let args = BenchArgs {
            curve: true,
            ..BenchArgs::default()
        };
        let jobs = plan(&args);
        assert_eq!(jobs.len(), plan(&BenchArgs::default()).len() + 4);
        let curve: Vec<(Case, Transport, usize)> = jobs
            .iter()
            .filter(|j| j.curve)
            .map(|j| (j.case, j.transport, j.size))
            .collect();
        assert_eq!(
            curve,
            [
                (Case::Thr, Transport::Tcp, 64),
                (Case::Thr, Transport::Tcp, 1024),
                (Case::Thr, Transport::Tcp, 65536),
                (Case::Lat, Transport::Tcp, 64),
            ]
        );
        let thr64 = jobs.iter().find(|j| j.curve).map(|j| j.count);
        assert_eq!(thr64, Some(curve_default_count(Case::Thr, 64)));
        assert_eq!(
            jobs.iter()
                .find(|j| j.curve)
                .map(Job::transport_label)
                .as_deref(),
            Some("tcp+curve")
        );
    }

    #[test]
    fn curve_rows_follow_cases_sizes_and_count_but_not_transports() {
        let args = BenchArgs {
            curve: true,
            cases: vec![Case::Lat, Case::Fanout],
            transports: vec![Transport::Ipc],
            sizes: Some(vec![16, 1024]),
            count: Some(7),
            ..BenchArgs::default()
        };
        let curve: Vec<(Case, Transport, usize, u64)> = plan(&args)
            .into_iter()
            .filter(|j| j.curve)
            .map(|j| (j.case, j.transport, j.size, j.count))
            .collect();
        assert_eq!(
            curve,
            [
                (Case::Lat, Transport::Tcp, 16, 7),
                (Case::Lat, Transport::Tcp, 1024, 7)
            ]
        );
    }

    #[test]
    fn curve_rows_have_no_cpu_row_and_no_p99() {
        let args = BenchArgs {
            curve: true,
            cases: vec![Case::Thr, Case::Lat],
            transports: vec![Transport::Tcp],
            sizes: Some(vec![64]),
            ..BenchArgs::default()
        };
        let jobs = plan(&args);
        let sample = |value| Sample {
            value,
            p99: Some(1.0),
            cpu: Some(0.5),
        };
        let mut samples = HashMap::new();
        for j in 0..jobs.len() {
            samples.insert((j, Side::Lib(Lib::Monocoque)), vec![sample(2.0)]);
            samples.insert((j, Side::Lib(Lib::Libzmq)), vec![sample(1.0)]);
        }
        let rows = rows(&jobs, &samples, 1, &args.libs);
        let cases: Vec<(&str, bool)> = rows.iter().map(|r| (r.case, r.curve)).collect();
        assert_eq!(
            cases,
            [
                ("thr", false),
                ("lat", false),
                ("thr", true),
                ("lat", true),
                ("cpu", false)
            ]
        );
        assert_eq!(rows[3].p99_monocoque, None);
        assert_eq!(rows[1].p99_monocoque, Some(1.0));
        assert_eq!(rows[2].ratio(), Some(2.0));
    }

    #[test]
    fn listening_ports_are_seen() {
        let listener = std::net::TcpListener::bind("127.0.0.1:0").unwrap();
        let port = listener.local_addr().unwrap().port();
        if let Some(seen) = tcp_listening(port) {
            assert!(seen);
            drop(listener);
            assert_eq!(tcp_listening(port), Some(false));
        }
    }

    #[test]
    fn medians_and_fields() {
        assert_eq!(median(vec![3.0, 1.0, 2.0]), Some(2.0));
        assert_eq!(median(vec![4.0, 1.0, 2.0, 3.0]), Some(2.5));
        assert_eq!(median(Vec::new()), None);
        assert_eq!(
            field("x\nresult: 1.5 2\ncpu: 0.1\n", "result"),
            Some(vec![1.5, 2.0])
        );
        assert_eq!(field("cpu: 0.1\n", "result"), None);
    }
}
