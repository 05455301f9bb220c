//! What the process holds, read from `/proc/self`: descriptors, resident
//! and reserved memory; and a harness that runs a test alone in a process
//! of its own, so that those figures are that test's.
//!
//! Included with `#[path = "common/proc.rs"] mod proc_status;` by the
//! suites that measure (`bounds.rs`, `churn.rs`, `soak.rs`).
#![allow(dead_code, unreachable_pub)]

use std::process::Command;
use std::sync::Mutex;
use std::time::{Duration, Instant};

/// Set in the process a test's body runs in.
const CHILD: &str = "MONOCOQUE_PROC_CHILD";

/// Runs the body of test `name` in a fresh process of this test binary,
/// one such test at a time (the body runs here when this is that
/// process).
///
/// Memory is measured for the whole process, so no other test may
/// allocate meanwhile, and what one test leaves behind must not hide
/// another's growth. glibc is told to map each allocation of 128 KiB or
/// more on its own (so `VmSize` rises and falls with each large buffer)
/// and to use one arena for every thread (no 64 MiB heap reserved per
/// new thread).
pub fn isolated(name: &str, body: impl FnOnce()) {
    if std::env::var_os(CHILD).is_some() {
        body();
        return;
    }
    static ONE_AT_A_TIME: Mutex<()> = Mutex::new(());
    let _one = ONE_AT_A_TIME.lock().unwrap_or_else(|e| e.into_inner());
    let out = Command::new(std::env::current_exe().unwrap())
        .args([name, "--exact", "--include-ignored", "--nocapture"])
        .env(CHILD, "1")
        .env("MALLOC_MMAP_THRESHOLD_", "131072")
        .env("MALLOC_ARENA_MAX", "1")
        .output()
        .unwrap();
    eprint!("{}", String::from_utf8_lossy(&out.stderr));
    let ran = String::from_utf8_lossy(&out.stdout).contains("1 passed");
    assert!(out.status.success(), "{name} failed in its own process");
    assert!(ran, "{name} did not run in its own process");
}

/// A field of /proc/self/status in KiB (`VmRSS:` resident, `VmSize:`
/// reserved).
pub fn status_kib(field: &str) -> i64 {
    std::fs::read_to_string("/proc/self/status")
        .unwrap()
        .lines()
        .find_map(|l| l.strip_prefix(field))
        .and_then(|v| v.split_whitespace().next())
        .and_then(|v| v.parse().ok())
        .unwrap()
}

/// Descriptors open in this process now (the one used to list them not
/// counted).
pub fn fds() -> usize {
    std::fs::read_dir("/proc/self/fd").unwrap().count() - 1
}

/// Sockets open in this process now (descriptors that name a socket; an
/// eventfd, a pipe or a file is not counted).
pub fn socket_fds() -> usize {
    std::fs::read_dir("/proc/self/fd")
        .unwrap()
        .filter_map(|e| std::fs::read_link(e.ok()?.path()).ok())
        .filter(|target| target.to_string_lossy().starts_with("socket:"))
        .count()
}

/// The process's memory at one moment, in KiB.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct Mem {
    /// Resident (`VmRSS`).
    pub rss: i64,
    /// Reserved (`VmSize`).
    pub vm: i64,
}

impl Mem {
    /// Now.
    pub fn now() -> Mem {
        Mem {
            rss: status_kib("VmRSS:"),
            vm: status_kib("VmSize:"),
        }
    }

    /// Resident KiB gained since `self`.
    pub fn rss_grown(&self) -> i64 {
        status_kib("VmRSS:") - self.rss
    }

    /// Reserved KiB gained since `self`.
    pub fn vm_grown(&self) -> i64 {
        status_kib("VmSize:") - self.vm
    }

    /// What `later` holds more than `self`.
    pub fn grown_to(&self, later: Mem) -> Mem {
        Mem {
            rss: later.rss - self.rss,
            vm: later.vm - self.vm,
        }
    }
}

/// Waits until the resident size stops changing (what was sent has been
/// dealt with), at most `limit`.
pub fn settle(limit: Duration) {
    let deadline = Instant::now() + limit;
    let mut last = status_kib("VmRSS:");
    while Instant::now() < deadline {
        std::thread::sleep(Duration::from_millis(250));
        let now = status_kib("VmRSS:");
        if (now - last).abs() < 128 {
            return;
        }
        last = now;
    }
}

/// Resident KiB of the brk heap, and (count, resident KiB) of the
/// mappings of 256 KiB (arena pages, with the 4 KiB guard glibc adds).
pub fn heap_and_pages() -> (i64, usize, i64) {
    let smaps = std::fs::read_to_string("/proc/self/smaps").unwrap();
    let (mut heap, mut pages, mut pages_rss) = (0, 0, 0);
    let (mut name, mut size) = (String::new(), 0i64);
    let kib = |v: &str| -> i64 { v.trim().trim_end_matches("kB").trim().parse().unwrap() };
    for l in smaps.lines() {
        let head = l.split_whitespace().next().unwrap_or("");
        if head.contains('-') && !head.ends_with(':') {
            name = l.to_string();
        } else if let Some(v) = l.strip_prefix("Size:") {
            size = kib(v);
        } else if let Some(v) = l.strip_prefix("Rss:") {
            if name.ends_with("[heap]") {
                heap += kib(v);
            } else if size == 260 || size == 256 {
                pages += 1;
                pages_rss += kib(v);
            }
        }
    }
    (heap, pages, pages_rss)
}
