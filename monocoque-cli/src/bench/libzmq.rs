//! libzmq's side of `mq bench`: a C program (`libzmq_perf.c`) of libzmq's
//! perf roles and of `mq bench`'s hidden roles, every send zero-copy
//! (`zmq_msg_init_data` over one buffer it never frees), as Monocoque's
//! side sends a clone of one `Bytes`.
//!
//! The `zmq` crate cannot send one buffer many times without copying it
//! (its `Message` owns or copies its bytes) and `mq` has no `unsafe`, so
//! libzmq's side is C: the build script links the program against the
//! vendored libzmq (`zmq-sys`), `mq` carries it and writes it out once into
//! a cache directory; the CURVE rows build the same source against the
//! system's libzmq instead ([`super::curve`]).
//!
//! ```text
//! build.rs: cc libzmq_perf.c libzmq.a ──> $OUT_DIR/libzmq-perf ──include_bytes!──> mq
//! mq bench: ──first use──> $XDG_CACHE_HOME/mq/libzmq-perf-vendored-HASH
//!           ──spawn──> libzmq-perf __bench-role thr-recv tcp://127.0.0.1:* SIZE COUNT SUBS HWM
//! ```

use std::path::{Path, PathBuf};
use std::process::{Command, Stdio};

/// The program the build script linked against the vendored libzmq (empty
/// where it cannot run).
const PROGRAM: &[u8] = include_bytes!(concat!(env!("OUT_DIR"), "/libzmq-perf"));

/// A program of libzmq's perf roles (`libzmq_perf.c`, or another that
/// takes the same arguments).
#[derive(Clone, Debug)]
pub(crate) struct LibzmqPerf {
    /// The program.
    pub(crate) program: PathBuf,
    /// `libzmq X.Y.Z` as the program reports it (`None`: it does not say).
    pub(crate) version: Option<String>,
}

impl LibzmqPerf {
    /// The program built with `mq` against the vendored libzmq, written out
    /// into the cache directory on first use.
    pub(crate) fn vendored() -> Result<LibzmqPerf, String> {
        if PROGRAM.is_empty() {
            return Err(
                "bench: libzmq's side is not built on this platform (libzmq_perf.c needs Linux or macOS)"
                    .to_owned(),
            );
        }
        let dir = cache_dir();
        let program = dir.join(format!("libzmq-perf-vendored-{:016x}", fnv1a([PROGRAM])));
        let whole = std::fs::metadata(&program).is_ok_and(|m| m.len() == PROGRAM.len() as u64);
        if !whole {
            write_program(&dir, &program)?;
        }
        let version = version_of(&program)
            .map_err(|e| format!("bench: cannot run {}: {e}", program.display()))?
            .map(|(version, _curve)| version);
        Ok(LibzmqPerf { program, version })
    }

    /// `libzmq 4.3.4 (PATH)`, for the table's caption.
    pub(crate) fn describe(&self) -> String {
        format!(
            "{} ({})",
            self.version.as_deref().unwrap_or("libzmq"),
            self.program.display()
        )
    }

    /// `libzmq 4.3.4`, or `libzmq` when the program does not say.
    pub(crate) fn name(&self) -> &str {
        self.version.as_deref().unwrap_or("libzmq")
    }
}

/// Writes [`PROGRAM`] to `program` (executable), under a name of its own
/// (process and call) first and then renamed, so two runs at once never
/// see half a program.
fn write_program(dir: &Path, program: &Path) -> Result<(), String> {
    use std::io::Write;
    std::fs::create_dir_all(dir)
        .map_err(|e| format!("bench: cannot create {}: {e}", dir.display()))?;
    static SEQ: std::sync::atomic::AtomicU32 = std::sync::atomic::AtomicU32::new(0);
    let seq = SEQ.fetch_add(1, std::sync::atomic::Ordering::Relaxed);
    let partial = program.with_extension(format!("{}-{seq}.partial", std::process::id()));
    let mut options = std::fs::OpenOptions::new();
    options.write(true).create(true).truncate(true);
    #[cfg(unix)]
    std::os::unix::fs::OpenOptionsExt::mode(&mut options, 0o755);
    let written = options
        .open(&partial)
        .and_then(|mut f| f.write_all(PROGRAM).and_then(|()| f.sync_all()));
    if let Err(e) = written {
        let _ = std::fs::remove_file(&partial);
        return Err(format!("bench: cannot write {}: {e}", partial.display()));
    }
    std::fs::rename(&partial, program)
        .map_err(|e| format!("bench: cannot move {}: {e}", partial.display()))
}

/// What `PROGRAM version` says: `libzmq X.Y.Z` and whether it has CURVE
/// (`None`: a program of the perf roles alone, which does not say).
pub(crate) fn version_of(program: &Path) -> std::io::Result<Option<(String, bool)>> {
    let out = Command::new(program)
        .arg("version")
        .stdin(Stdio::null())
        .stderr(Stdio::null())
        .output()?;
    Ok(parse_version(&String::from_utf8_lossy(&out.stdout)))
}

/// `libzmq 4.3.4` and whether it has CURVE, from the program's `version`.
pub(crate) fn parse_version(out: &str) -> Option<(String, bool)> {
    let version = out
        .lines()
        .find(|l| l.starts_with("libzmq "))?
        .trim()
        .to_owned();
    let curve = out.lines().find_map(|l| l.strip_prefix("curve: "))?.trim() == "yes";
    Some((version, curve))
}

/// `$XDG_CACHE_HOME/mq`, else `~/.cache/mq`, else `mq-cache` in the
/// temporary directory.
pub(crate) fn cache_dir() -> PathBuf {
    let var = |name| {
        std::env::var_os(name)
            .map(PathBuf::from)
            .filter(|p| p.is_absolute())
    };
    if let Some(cache) = var("XDG_CACHE_HOME") {
        return cache.join("mq");
    }
    if let Some(home) = var("HOME") {
        return home.join(".cache").join("mq");
    }
    std::env::temp_dir().join("mq-cache")
}

/// FNV-1a over the parts (each followed by a zero byte): stable across
/// builds of `mq`, unlike std's hasher, so the cache outlives them.
pub(crate) fn fnv1a<P: AsRef<[u8]>>(parts: impl IntoIterator<Item = P>) -> u64 {
    let mut hash: u64 = 0xcbf2_9ce4_8422_2325;
    for part in parts {
        for &byte in part.as_ref().iter().chain(&[0]) {
            hash ^= u64::from(byte);
            hash = hash.wrapping_mul(0x0000_0100_0000_01b3);
        }
    }
    hash
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn versions_and_cache_keys() {
        assert_eq!(
            parse_version("libzmq 4.3.4\ncurve: yes\n"),
            Some(("libzmq 4.3.4".to_owned(), true))
        );
        assert_eq!(
            parse_version("libzmq 4.3.5\ncurve: no\n"),
            Some(("libzmq 4.3.5".to_owned(), false))
        );
        assert_eq!(parse_version(""), None);
        assert_ne!(fnv1a(["a", "bc"]), fnv1a(["ab", "c"]));
        assert_eq!(fnv1a([""]), fnv1a([""]));
    }

    #[test]
    fn the_vendored_program_is_built_and_says_its_version() {
        if PROGRAM.is_empty() {
            return;
        }
        let perf = LibzmqPerf::vendored().unwrap();
        let version = perf.version.as_deref().unwrap();
        assert!(version.starts_with("libzmq 4."), "{version}");
        assert_eq!(version_of(&perf.program).unwrap().map(|v| v.1), Some(false));
    }
}
