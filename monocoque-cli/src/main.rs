//! `mq`: the ZeroMQ Swiss-army knife built on Monocoque (DESIGN.md section 8).
#![forbid(unsafe_code)]

use std::process::ExitCode;

fn main() -> ExitCode {
    eprintln!("mq: not yet implemented");
    ExitCode::from(2)
}
