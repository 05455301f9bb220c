//! `mq`: the ZeroMQ Swiss-army knife built on Monocoque (DESIGN.md section 8).
//!
//! ```text
//! argv ─> args (options anywhere, `--`) ─> send | recv | reply | request | proxy ─> monocoque::Socket
//!                                        └> bench ─> re-executes `mq` per role, monocoque and libzmq side by side
//!                                        └> keygen ─> monocoque::curve_keypair, Z85
//! ```
//!
//! Exit status: 0 done, 1 runtime failure (one line on stderr), 2 usage error.
#![forbid(unsafe_code)]

mod args;
mod bench;
mod commands;
mod endpoint;
mod format;
mod keygen;
mod socket;

use std::process::ExitCode;

use args::{Command, UsageError};

pub(crate) use monocoque::SocketType;

/// Why `mq` stopped early; decides the exit status.
#[derive(Debug)]
pub(crate) enum Failure {
    /// The command line is wrong (exit 2).
    Usage(String),
    /// Something failed at run time (exit 1).
    Runtime(String),
}

impl From<UsageError> for Failure {
    fn from(e: UsageError) -> Self {
        Failure::Usage(e.0)
    }
}

const USAGE: &str = "\
mq: a ZeroMQ Swiss-army knife built on Monocoque

usage:
  mq send    TYPE ENDPOINTS [FRAME...]   FRAMEs form one message; none: one message per stdin line
  mq recv    TYPE ENDPOINTS              print each message as one line
  mq reply   TYPE ENDPOINTS              echo server (rep, router keeps the envelope)
  mq request TYPE ENDPOINTS FRAME...     send one request (req, dealer), print the reply
  mq proxy   FTYPE FENDPOINTS BTYPE BENDPOINTS [--capture TYPE ENDPOINTS]
  mq bench   [--cases thr,lat,fanout] [--transports tcp,ipc,inproc] [--sizes 16,64,1k,...]
             [--subscribers 1,8,64] [--count N] [--reps N] [--json] [--svg FILE]
             [--curve [--libzmq-perf PATH]]
             --curve: also CURVE rows over tcp (thr 64,1k,64k and lat 64 unless --sizes),
               libzmq's side the system libzmq with CURVE, through a perf-role program
               mq builds with cc -lzmq (Debian: libzmq3-dev), or PATH's (e.g. zperf)
  mq bench   local-thr|remote-thr|local-lat|remote-lat ENDPOINT SIZE COUNT [curve]
  mq keygen                              a CURVE key pair in Z85: public, then secret

TYPE: pair pub sub xpub xsub req rep dealer router push pull stream
      (send/request on stream: a one-frame message goes to the first peer connected;
       more frames are sent as given, the first being the peer's routing id)
ENDPOINTS: comma-separated; @ binds, > connects, bare: bind for pub xpub rep router pull
options: --count N  --timeout MS  --subscribe PREFIX  --identity ID  --hwm N  --linger MS
         --heartbeat MS  --maxmsgsize BYTES  --plain-server  --plain USER:PASS  --monitor
         --wait-peers N
         --curve-server SECRET [--curve-allow PUBLIC]...   a CURVE server (only those clients)
         --curve-serverkey PUBLIC [--curve-secret SECRET]  a CURVE client (else a fresh pair)
         --format text|hex|json  --sep SEP (default TAB; \\t and \\n understood)
         options may stand anywhere; -- ends them
exit status: 0 done, 1 runtime failure, 2 usage error
";

fn run(args: &[String]) -> Result<(), Failure> {
    match args::parse(args)? {
        Command::Help => {
            print!("{USAGE}");
            Ok(())
        }
        Command::Version => {
            println!("mq {}", env!("CARGO_PKG_VERSION"));
            Ok(())
        }
        Command::Keygen => keygen::run().map_err(Failure::Runtime),
        Command::Bench(b) => bench::run(&b).map_err(Failure::Runtime),
        Command::Perf(p) => bench::run_perf(&p).map_err(Failure::Runtime),
        Command::Send(c) => commands::send(&c),
        Command::Recv(c) => commands::recv(&c),
        Command::Reply(c) => commands::reply(&c),
        Command::Request(c) => commands::request(&c),
        Command::Proxy(p) => commands::proxy(&p),
    }
}

fn main() -> ExitCode {
    let args: Vec<String> = match std::env::args_os()
        .skip(1)
        .map(|a| a.into_string())
        .collect::<Result<_, _>>()
    {
        Ok(args) => args,
        Err(bad) => {
            eprintln!("mq: argument {bad:?} is not UTF-8");
            return ExitCode::from(2);
        }
    };
    if args.first().map(String::as_str) == Some(bench::HIDDEN_ROLE) {
        return bench::run_hidden_role(&args[1..]);
    }
    match run(&args) {
        Ok(()) => ExitCode::SUCCESS,
        Err(Failure::Usage(msg)) => {
            eprintln!("mq: {msg}");
            ExitCode::from(2)
        }
        Err(Failure::Runtime(msg)) => {
            eprintln!("mq: {msg}");
            ExitCode::from(1)
        }
    }
}
