//! `mq bench`: Monocoque and libzmq side by side, in one run, one table.
//!
//! The parent process only plans, spawns and reports: every measured run is
//! one or two child processes, receiver and sender apart for tcp and ipc as
//! a user deploys them, both in one child for inproc. Monocoque's children
//! are `mq` re-executed with the hidden `__bench-role` subcommand; libzmq's
//! are the same roles in C (`libzmq_perf.c` on the vendored libzmq, built
//! with `mq`, [`libzmq`]), so that libzmq sends zero-copy as Monocoque does:
//! equal work. The two libraries get the same counts and alternate within
//! each repetition; medians are reported. tcp rows also run a bare TCP
//! stream with no library (`raw-tcp`, [`raw`]), the byte-rate reference.
//!
//! ```text
//! mq bench ──spawn──> mq __bench-role thr-recv monocoque tcp://127.0.0.1:* ...  (binds, prints its endpoint)
//!          ──spawn──> mq __bench-role thr-send monocoque tcp://127.0.0.1:PORT ... (connects, sends)
//!          ──spawn──> libzmq-perf __bench-role thr-recv tcp://127.0.0.1:* ...     (the same for libzmq)
//!          ──spawn──> mq __bench-role thr-recv raw-tcp tcp://127.0.0.1:* ...    (and for the bare stream)
//!          <─stdout── "result: ..." lines ──> medians ──> table | --json | --svg
//! ```
//!
//! `mq bench local-thr|remote-thr|local-lat|remote-lat ENDPOINT SIZE COUNT`
//! are libzmq's perf tools, line for line, so `mq` pairs with them.
//!
//! `mq bench --curve` adds CURVE rows over tcp. The vendored libzmq has no
//! CURVE, so libzmq's side of those rows is a system libzmq built with
//! libsodium, driven by the same C program built once more at run time
//! (`cc ... -lzmq`); Monocoque's side is `mq bench`'s own perf roles with
//! `curve` ([`curve`] has the details).

mod backend;
mod curve;
mod harness;
mod libzmq;
mod mono;
mod raw;
mod report;
mod roles;

use std::path::PathBuf;
use std::process::ExitCode;

pub(crate) use harness::run;
pub(crate) use roles::{run_perf, HIDDEN_ROLE};

/// `mq __bench-role ROLE LIB ENDPOINT SIZE COUNT SUBS HWM`: a measured role
/// on Monocoque or libzmq ([`roles`]), or on the bare TCP stream when LIB
/// is `raw-tcp` ([`raw`]).
pub(crate) fn run_hidden_role(args: &[String]) -> ExitCode {
    if args.get(1).map(String::as_str) == Some(raw::RAW_TCP) {
        raw::run_hidden_role(args)
    } else {
        roles::run_hidden_role(args)
    }
}

/// What a row measures.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash)]
pub(crate) enum Case {
    /// PUSH -> PULL throughput.
    Thr,
    /// REQ <-> REP round-trip latency.
    Lat,
    /// PUB -> N SUB fan-out throughput.
    Fanout,
}

impl Case {
    /// Parses a `--cases` item.
    pub(crate) fn parse(name: &str) -> Option<Case> {
        match name {
            "thr" => Some(Case::Thr),
            "lat" => Some(Case::Lat),
            "fanout" => Some(Case::Fanout),
            _ => None,
        }
    }

    /// The name used in the table and JSON.
    pub(crate) fn name(self) -> &'static str {
        match self {
            Case::Thr => "thr",
            Case::Lat => "lat",
            Case::Fanout => "fanout",
        }
    }
}

/// A transport under test.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash)]
pub(crate) enum Transport {
    /// Loopback TCP.
    Tcp,
    /// Unix domain sockets.
    Ipc,
    /// In-process.
    Inproc,
}

impl Transport {
    /// Parses a `--transports` item.
    pub(crate) fn parse(name: &str) -> Option<Transport> {
        match name {
            "tcp" => Some(Transport::Tcp),
            "ipc" => Some(Transport::Ipc),
            "inproc" => Some(Transport::Inproc),
            _ => None,
        }
    }

    /// The name used in the table and JSON.
    pub(crate) fn name(self) -> &'static str {
        match self {
            Transport::Tcp => "tcp",
            Transport::Ipc => "ipc",
            Transport::Inproc => "inproc",
        }
    }
}

/// The library a role runs on.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash)]
pub(crate) enum Lib {
    /// This project.
    Monocoque,
    /// libzmq (the vendored 4.3.4 that `zmq-sys` builds), through the C
    /// program of the same roles (`libzmq_perf.c`), sending zero-copy.
    Libzmq,
}

impl Lib {
    /// Parses `--lib` or `MQ_BENCH_LIB`.
    pub(crate) fn parse(name: &str) -> Option<Lib> {
        match name {
            "monocoque" => Some(Lib::Monocoque),
            "libzmq" | "zmq" => Some(Lib::Libzmq),
            _ => None,
        }
    }

    /// The name used in the table and JSON.
    pub(crate) fn name(self) -> &'static str {
        match self {
            Lib::Monocoque => "monocoque",
            Lib::Libzmq => "libzmq",
        }
    }
}

/// `mq bench` options.
#[derive(Clone, Debug, PartialEq, Eq)]
pub(crate) struct BenchArgs {
    /// `--cases`: which measurements (CPU rows come with `thr`).
    pub(crate) cases: Vec<Case>,
    /// `--transports`: thr and lat run on each; fanout on the first.
    pub(crate) transports: Vec<Transport>,
    /// `--sizes`: message sizes for thr and lat (defaults differ per case).
    pub(crate) sizes: Option<Vec<usize>>,
    /// `--subscribers`: fan-out widths.
    pub(crate) subscribers: Vec<usize>,
    /// `--count`: messages (or round trips) per run instead of the defaults.
    pub(crate) count: Option<u64>,
    /// `--reps`: repetitions per library and case; medians are reported.
    pub(crate) reps: usize,
    /// `--json`: one JSON object per row instead of the table.
    pub(crate) json: bool,
    /// `--svg FILE`: throughput against message size.
    pub(crate) svg: Option<PathBuf>,
    /// `--lib` (hidden): run one library only.
    pub(crate) libs: Vec<Lib>,
    /// `--curve`: CURVE rows too (tcp; libzmq's side a system libzmq with
    /// CURVE, through its perf roles).
    pub(crate) curve: bool,
    /// `--libzmq-perf PATH`: an existing program of libzmq's perf roles
    /// for the CURVE rows, instead of building `libzmq_perf.c`.
    pub(crate) libzmq_perf: Option<PathBuf>,
}

impl Default for BenchArgs {
    fn default() -> Self {
        BenchArgs {
            cases: vec![Case::Thr, Case::Lat, Case::Fanout],
            transports: vec![Transport::Tcp, Transport::Ipc, Transport::Inproc],
            sizes: None,
            subscribers: vec![1, 8, 64],
            count: None,
            reps: 3,
            json: false,
            svg: None,
            libs: vec![Lib::Monocoque, Lib::Libzmq],
            curve: false,
            libzmq_perf: None,
        }
    }
}

/// One of libzmq's perf roles.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub(crate) enum PerfRole {
    /// PULL, binds, prints the throughput.
    LocalThr,
    /// PUSH, connects, sends.
    RemoteThr,
    /// REP, binds, echoes.
    LocalLat,
    /// REQ, connects, prints the average latency.
    RemoteLat,
}

impl PerfRole {
    /// The role's name.
    pub(crate) fn name(self) -> &'static str {
        match self {
            PerfRole::LocalThr => "local-thr",
            PerfRole::RemoteThr => "remote-thr",
            PerfRole::LocalLat => "local-lat",
            PerfRole::RemoteLat => "remote-lat",
        }
    }
}

/// `mq bench ROLE ENDPOINT SIZE COUNT`.
#[derive(Clone, Debug, PartialEq, Eq)]
pub(crate) struct PerfArgs {
    /// Which role.
    pub(crate) role: PerfRole,
    /// Where to bind or connect.
    pub(crate) endpoint: String,
    /// Message size in bytes.
    pub(crate) size: usize,
    /// Messages (thr) or round trips (lat).
    pub(crate) count: u64,
    /// `--lib` (hidden; `MQ_BENCH_LIB` too): the library, Monocoque unless set.
    pub(crate) lib: Option<Lib>,
    /// The optional fifth argument `curve`: both sides over CURVE with
    /// libzmq's test keys, the local side the server (its tests/testutil_security.cpp).
    pub(crate) curve: bool,
}
