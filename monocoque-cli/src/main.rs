//! `mq`: the ZeroMQ Swiss-army knife built on Monocoque; `mq --help` and each command's `--help` describe its command line.
//!
//! ```text
//! argv ─> cli (clap; options anywhere, `--`) ─> send | recv | reply | request | proxy ─> monocoque::Socket
//!                                        └> bench ─> re-executes `mq` per role, monocoque and libzmq side by side
//!                                        └> keygen ─> monocoque::curve_keypair, Z85
//! ```
//!
//! Exit status: 0 done, 1 runtime failure (one line on stderr), 2 usage error.
#![forbid(unsafe_code)]

mod bench;
mod cli;
mod commands;
mod endpoint;
mod format;
mod keygen;
mod socket;

use std::io::{self, Write};
use std::process::ExitCode;

use cli::{Command, UsageError};

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

fn run(args: &[String]) -> Result<(), Failure> {
    match cli::parse(args)? {
        Command::Show(text) => print(text.as_bytes()),
        Command::Completions(shell) => {
            let mut script = Vec::new();
            clap_complete::generate(shell, &mut cli::command(), "mq", &mut script);
            print(&script)
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

/// Writes `text` to stdout; a reader that went away (`mq --help | head`)
/// is no failure.
fn print(text: &[u8]) -> Result<(), Failure> {
    let mut out = io::stdout().lock();
    match out.write_all(text).and_then(|()| out.flush()) {
        Err(e) if e.kind() != io::ErrorKind::BrokenPipe => {
            Err(Failure::Runtime(format!("stdout: {e}")))
        }
        _ => Ok(()),
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
