//! The CURVE rows of `mq bench --curve`: who runs each side, and how their
//! output is read.
//!
//! The vendored libzmq is built without libsodium, so libzmq's CURVE side
//! is a system libzmq built with it (Debian's `libzmq3-dev`), driven by the
//! same C program of libzmq's perf roles as the other rows
//! (`libzmq_perf.c`, [`super::libzmq`]), which `mq` builds once more, with
//! `cc ... -lzmq`, into a cache directory. Monocoque's side is `mq bench`'s own perf roles. Both get the
//! fifth argument `curve` (libzmq's test keys, the local side the server),
//! both send zero-copy, both print libzmq's perf lines:
//!
//! ```text
//! mq bench --curve ──cc -O2 -pthread libzmq_perf.c -lzmq──> $XDG_CACHE_HOME/mq/libzmq-perf-HASH (once)
//! libzmq:    libzmq-perf local-thr tcp://127.0.0.1:PORT 64 N curve  <──  libzmq-perf remote-thr ...
//! Monocoque: mq bench local-thr tcp://127.0.0.1:PORT 64 N curve     <──  mq bench remote-thr ...
//!            "mean throughput: R [msg/s]" | "average latency: L [us]" ──> the harness's medians
//! ```

use std::path::{Path, PathBuf};
use std::process::{Command, Stdio};

use super::libzmq::{cache_dir, fnv1a, version_of, LibzmqPerf};
use super::{Case, PerfRole};

/// The C program of libzmq's perf roles, built at run time.
const SOURCE: &str = include_str!("libzmq_perf.c");

/// What to install when libzmq's CURVE side cannot be built.
const INSTALL: &str = "install a C compiler and libzmq with CURVE (Debian: apt-get install gcc libzmq3-dev), or pass --libzmq-perf PATH";
/// What to install when the program's libzmq has no CURVE.
const INSTALL_LIBZMQ: &str = "install libzmq with CURVE (Debian: apt-get install libzmq3-dev)";

impl LibzmqPerf {
    /// The program given (`--libzmq-perf`), or `libzmq_perf.c` built
    /// against the system's libzmq (cached); fails with one line saying
    /// what to install when there is no compiler, no libzmq or no CURVE.
    pub(crate) fn find(given: Option<&Path>) -> Result<LibzmqPerf, String> {
        let program = match given {
            Some(path) => {
                if !path.is_file() {
                    return Err(format!(
                        "bench --curve: --libzmq-perf {}: no such program",
                        path.display()
                    ));
                }
                path.to_owned()
            }
            None => build()?,
        };
        let version = match version_of(&program) {
            Ok(version) => version,
            Err(e) => {
                return Err(format!(
                    "bench --curve: cannot run {}: {e}",
                    program.display()
                ))
            }
        };
        match version {
            Some((version, false)) => Err(format!(
                "bench --curve: {} links {version} without CURVE (no libsodium): {INSTALL_LIBZMQ}",
                program.display()
            )),
            Some((version, true)) => Ok(LibzmqPerf {
                program,
                version: Some(version),
            }),
            // A program of the perf roles alone (zperf.c): the harness's
            // probe finds out whether it does CURVE.
            None => Ok(LibzmqPerf {
                program,
                version: None,
            }),
        }
    }

    /// What to tell the user when this program failed a CURVE round trip
    /// with Monocoque (`why`).
    pub(crate) fn probe_failed(&self, why: &str) -> String {
        format!(
            "bench --curve: {} failed a CURVE round trip with Monocoque ({why}): is its libzmq built with CURVE? {INSTALL_LIBZMQ}",
            self.program.display()
        )
    }
}

/// Who runs one side of a CURVE row.
#[derive(Clone, Copy, Debug)]
pub(crate) enum PerfProgram<'a> {
    /// `mq` itself (this binary), on Monocoque.
    Mq(&'a Path),
    /// libzmq with CURVE.
    Libzmq(&'a LibzmqPerf),
}

/// `PROGRAM [bench] ROLE ENDPOINT SIZE COUNT curve`.
pub(crate) fn command(
    program: PerfProgram<'_>,
    role: PerfRole,
    ep: &str,
    size: usize,
    count: u64,
) -> Command {
    let mut cmd = match program {
        PerfProgram::Mq(exe) => {
            let mut cmd = Command::new(exe);
            cmd.arg("bench");
            cmd
        }
        PerfProgram::Libzmq(perf) => Command::new(&perf.program),
    };
    cmd.args([role.name(), ep])
        .args([size.to_string(), count.to_string()])
        .arg("curve");
    if let PerfProgram::Mq(_) = program {
        // Whatever MQ_BENCH_LIB says.
        cmd.args(["--lib", "monocoque"]);
    }
    cmd.stdin(Stdio::null())
        .stdout(Stdio::piped())
        .stderr(Stdio::piped());
    cmd
}

/// The perf roles' measuring side and its peer for `case`: (binds, connects).
pub(crate) fn roles(case: Case) -> (PerfRole, PerfRole) {
    match case {
        Case::Lat => (PerfRole::LocalLat, PerfRole::RemoteLat),
        Case::Thr | Case::Fanout => (PerfRole::LocalThr, PerfRole::RemoteThr),
    }
}

/// The row's value from the measuring side's output: msg/s from
/// local-thr's `mean throughput: R [msg/s]`, the mean round trip in us
/// from remote-lat's `average latency: L [us]` (half a round trip).
pub(crate) fn value(case: Case, out: &str) -> Option<f64> {
    let number = |prefix: &str, suffix: &str| {
        out.lines()
            .find_map(|l| l.strip_prefix(prefix)?.strip_suffix(suffix))
            .and_then(|v| v.trim().parse::<f64>().ok())
    };
    match case {
        Case::Lat => number("average latency: ", " [us]").map(|us| us * 2.0),
        Case::Thr | Case::Fanout => number("mean throughput: ", " [msg/s]"),
    }
}

/// Builds `libzmq_perf.c` against the system's libzmq, once per source,
/// compiler and flags; returns the program.
fn build() -> Result<PathBuf, String> {
    let cc = std::env::var("CC")
        .ok()
        .filter(|c| !c.trim().is_empty())
        .unwrap_or_else(|| "cc".to_owned());
    let mut cc_words = cc.split_whitespace();
    let compiler = cc_words.next().unwrap_or("cc").to_owned();
    let cc_args: Vec<String> = cc_words.map(str::to_owned).collect();
    // pkg-config knows where a libzmq outside the default paths lives;
    // without it (or it without libzmq), the default paths.
    let flags: Vec<String> = Command::new("pkg-config")
        .args(["--cflags", "--libs", "libzmq"])
        .stderr(Stdio::null())
        .output()
        .ok()
        .filter(|o| o.status.success())
        .map(|o| {
            String::from_utf8_lossy(&o.stdout)
                .split_whitespace()
                .map(str::to_owned)
                .collect()
        })
        .filter(|f: &Vec<String>| !f.is_empty())
        .unwrap_or_else(|| vec!["-lzmq".to_owned()]);
    let key = fnv1a([SOURCE, cc.as_str(), &flags.join(" ")]);
    let dir = cache_dir();
    let program = dir.join(format!("libzmq-perf-{key:016x}"));
    if program.is_file() {
        return Ok(program);
    }
    std::fs::create_dir_all(&dir)
        .map_err(|e| format!("bench --curve: cannot create {}: {e}", dir.display()))?;
    let source = dir.join(format!("libzmq-perf-{key:016x}.c"));
    std::fs::write(&source, SOURCE)
        .map_err(|e| format!("bench --curve: cannot write {}: {e}", source.display()))?;
    // Built under a name of its own, then renamed: two runs at once never
    // see half a program.
    let partial = dir.join(format!(
        "libzmq-perf-{key:016x}.{}.partial",
        std::process::id()
    ));
    let built = Command::new(&compiler)
        .args(&cc_args)
        .args(["-O2", "-pthread", "-o"])
        .arg(&partial)
        .arg(&source)
        .args(&flags)
        .stdin(Stdio::null())
        .output();
    let out = match built {
        Ok(out) => out,
        Err(e) if e.kind() == std::io::ErrorKind::NotFound => {
            return Err(format!(
                "bench --curve: no C compiler ({compiler}) to build libzmq's CURVE side: {INSTALL}"
            ))
        }
        Err(e) => {
            return Err(format!(
                "bench --curve: cannot run {compiler}: {e}: {INSTALL}"
            ))
        }
    };
    if !out.status.success() {
        let _ = std::fs::remove_file(&partial);
        let stderr = String::from_utf8_lossy(&out.stderr);
        let first = stderr
            .lines()
            .find(|l| l.contains("error"))
            .or_else(|| stderr.lines().next())
            .map(|l| format!(" ({})", l.trim()))
            .unwrap_or_default();
        return Err(format!(
            "bench --curve: {compiler} cannot build libzmq's CURVE side against the system libzmq{first}: {INSTALL}"
        ));
    }
    std::fs::rename(&partial, &program)
        .map_err(|e| format!("bench --curve: cannot move {}: {e}", partial.display()))?;
    Ok(program)
}

#[cfg(test)]
mod tests {
    use super::super::backend::CURVE_TEST_KEYS;
    use super::*;

    #[test]
    fn the_c_program_uses_the_same_test_keys() {
        for key in CURVE_TEST_KEYS {
            assert!(SOURCE.contains(&format!("\"{key}\"")), "{key} missing");
        }
    }

    #[test]
    fn every_send_of_the_c_program_is_zero_copy() {
        // Equal work with Monocoque's `Bytes`: no send that copies the
        // payload (zmq_send, a sized message filled by memcpy, a copy).
        for copying in [
            "zmq_send(",
            "zmq_msg_init_size(",
            "zmq_msg_copy(",
            "zmq_sendmsg(",
        ] {
            assert!(!SOURCE.contains(copying), "libzmq_perf.c calls {copying}");
        }
        assert!(SOURCE.contains("zmq_msg_init_data(&m, buf, size, NULL, NULL)"));
    }

    #[test]
    fn values_from_the_perf_lines() {
        let thr = "message size: 64 [B]\nmessage count: 10\nmean throughput: 581234 [msg/s]\nmean throughput: 297.592 [Mb/s]\n";
        assert_eq!(value(Case::Thr, thr), Some(581_234.0));
        let lat = "message size: 64 [B]\nroundtrip count: 10\naverage latency: 27.250 [us]\n";
        assert_eq!(value(Case::Lat, lat), Some(54.5));
        assert_eq!(value(Case::Lat, thr), None);
        assert_eq!(roles(Case::Lat), (PerfRole::LocalLat, PerfRole::RemoteLat));
    }

    #[test]
    fn commands_end_in_curve() {
        let exe = Path::new("/bin/mq");
        let cmd = command(PerfProgram::Mq(exe), PerfRole::LocalThr, "tcp://x:1", 64, 9);
        let args: Vec<_> = cmd.get_args().map(|a| a.to_string_lossy()).collect();
        assert_eq!(
            args,
            [
                "bench",
                "local-thr",
                "tcp://x:1",
                "64",
                "9",
                "curve",
                "--lib",
                "monocoque"
            ]
        );
        let perf = LibzmqPerf {
            program: PathBuf::from("/tmp/p"),
            version: None,
        };
        let cmd = command(PerfProgram::Libzmq(&perf), PerfRole::RemoteLat, "e", 1, 2);
        let args: Vec<_> = cmd.get_args().map(|a| a.to_string_lossy()).collect();
        assert_eq!(args, ["remote-lat", "e", "1", "2", "curve"]);
        assert_eq!(perf.describe(), "libzmq (/tmp/p)");
    }
}
