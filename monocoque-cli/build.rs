//! Builds libzmq's side of `mq bench`: `src/bench/libzmq_perf.c` (libzmq's
//! perf roles and `mq bench`'s hidden roles, every send zero-copy) linked
//! against the vendored libzmq that `zmq-sys` compiles, into
//! `$OUT_DIR/libzmq-perf`, which `mq` carries (`include_bytes!`) and writes
//! out on first use. A C program because the `zmq` crate cannot send one
//! buffer many times without copying it, and `mq` has no `unsafe`.
//!
//! ```text
//! zmq-sys (links = "zmq") ──DEP_ZMQ_INCLUDE, DEP_ZMQ_LIB──> cc -O2 libzmq_perf.c libzmq.a -lstdc++ ──> $OUT_DIR/libzmq-perf
//! ```
//!
//! Where the program cannot run (not Linux or macOS) the file is empty and
//! `mq bench` says so when it needs libzmq.

use std::env;
use std::path::{Path, PathBuf};

/// The C source, relative to the crate.
const SOURCE: &str = "src/bench/libzmq_perf.c";

fn main() -> Result<(), String> {
    println!("cargo:rerun-if-changed={SOURCE}");
    println!("cargo:rerun-if-changed=build.rs");
    let out = PathBuf::from(env::var_os("OUT_DIR").ok_or("no OUT_DIR")?);
    let program = out.join("libzmq-perf");
    let os = env::var("CARGO_CFG_TARGET_OS").unwrap_or_default();
    let cxx = match os.as_str() {
        "linux" => "-lstdc++",
        "macos" => "-lc++",
        _ => {
            println!("cargo:warning=mq bench: no libzmq side on {os} (its C program needs POSIX)");
            return std::fs::write(&program, b"")
                .map_err(|e| format!("{}: {e}", program.display()));
        }
    };
    let var = |name: &str| {
        env::var_os(name).map(PathBuf::from).ok_or(format!(
            "{name} is not set: is zmq-sys a direct dependency?"
        ))
    };
    let include = var("DEP_ZMQ_INCLUDE")?;
    let lib = var("DEP_ZMQ_LIB")?;
    build(
        &program,
        &include,
        &lib.join("libzmq.a"),
        cxx,
        os == "linux",
    )
}

/// Compiles and links the program with the compiler `cc` finds for the
/// target (the one libzmq was built with), statically against `libzmq`.
fn build(
    program: &Path,
    include: &Path,
    libzmq: &Path,
    cxx: &str,
    strip: bool,
) -> Result<(), String> {
    let compiler = cc::Build::new()
        .try_get_compiler()
        .map_err(|e| format!("no C compiler for libzmq_perf.c: {e}"))?;
    let mut cmd = compiler.to_command();
    cmd.args(["-O2", "-pthread", "-o"])
        .arg(program)
        .arg("-I")
        .arg(include)
        .arg(SOURCE)
        .arg(libzmq)
        .args([cxx, "-lpthread"]);
    if strip {
        // Without the debug information of libzmq's objects: the program
        // is a tenth of the size inside `mq`.
        cmd.arg("-s");
    }
    let out = cmd
        .output()
        .map_err(|e| format!("cannot run {cmd:?}: {e}"))?;
    if !out.status.success() {
        return Err(format!(
            "{cmd:?} failed:\n{}",
            String::from_utf8_lossy(&out.stderr)
        ));
    }
    Ok(())
}
