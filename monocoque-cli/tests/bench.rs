//! `mq bench`: the perf roles paired with each other and across libraries
//! (libzmq's output lines), a tiny side-by-side run's JSON and SVG, and its
//! CURVE rows against the system's libzmq (`--curve`; skipped, saying why,
//! only where there is no C compiler or no libzmq with CURVE: `.ci/run`
//! installs Debian's libzmq3-dev, so CI runs it). Counts are small: these
//! check the plumbing, never a speed.

#![allow(clippy::unwrap_used)] // tests fail loudly

use std::net::TcpListener;
use std::path::{Path, PathBuf};
use std::process::{Command, Output, Stdio};
use std::thread;
use std::time::Duration;

const MQ: &str = env!("CARGO_BIN_EXE_mq");

fn mq(args: &[&str], lib: Option<&str>) -> Command {
    let mut cmd = Command::new(MQ);
    cmd.args(args)
        .stdin(Stdio::null())
        .stdout(Stdio::piped())
        .stderr(Stdio::piped());
    match lib {
        Some(lib) => cmd.env("MQ_BENCH_LIB", lib),
        None => cmd.env_remove("MQ_BENCH_LIB"),
    };
    cmd
}

fn tcp() -> String {
    let port = TcpListener::bind("127.0.0.1:0")
        .unwrap()
        .local_addr()
        .unwrap()
        .port();
    format!("tcp://127.0.0.1:{port}")
}

/// Runs `local-ROLE` with `local_lib` and `remote-ROLE` with `remote_lib`.
fn pair(
    role: &str,
    local_lib: &str,
    remote_lib: &str,
    size: &str,
    count: &str,
) -> (Output, Output) {
    let ep = tcp();
    let local = mq(
        &["bench", &format!("local-{role}"), &ep, size, count],
        Some(local_lib),
    )
    .spawn()
    .unwrap();
    thread::sleep(Duration::from_millis(100));
    let remote = mq(
        &[
            "bench",
            &format!("remote-{role}"),
            &ep,
            size,
            count,
            "--lib",
            remote_lib,
        ],
        None,
    )
    .output()
    .unwrap();
    (local.wait_with_output().unwrap(), remote)
}

fn text(out: &Output) -> String {
    assert!(
        out.status.success(),
        "{}",
        String::from_utf8_lossy(&out.stderr)
    );
    String::from_utf8(out.stdout.clone()).unwrap()
}

#[test]
fn thr_roles_print_libzmq_s_lines_with_either_library_on_either_end() {
    for (local, remote) in [
        ("monocoque", "monocoque"),
        ("monocoque", "libzmq"),
        ("libzmq", "monocoque"),
    ] {
        let (l, r) = pair("thr", local, remote, "64", "2000");
        let lines: Vec<String> = text(&l).lines().map(str::to_owned).collect();
        assert_eq!(lines.len(), 4, "{lines:?}");
        assert_eq!(lines[0], "message size: 64 [B]");
        assert_eq!(lines[1], "message count: 2000");
        assert!(lines[2].starts_with("mean throughput: ") && lines[2].ends_with(" [msg/s]"));
        assert!(lines[3].starts_with("mean throughput: ") && lines[3].ends_with(" [Mb/s]"));
        assert_eq!(text(&r), "");
    }
}

#[test]
fn lat_roles_print_libzmq_s_lines_with_either_library_on_either_end() {
    for (local, remote) in [
        ("monocoque", "monocoque"),
        ("libzmq", "monocoque"),
        ("monocoque", "libzmq"),
    ] {
        let (l, r) = pair("lat", local, remote, "1k", "200");
        assert_eq!(text(&l), "");
        let out = text(&r);
        let lines: Vec<&str> = out.lines().collect();
        assert_eq!(lines[0], "message size: 1024 [B]");
        assert_eq!(lines[1], "roundtrip count: 200");
        let us: f64 = lines[2]
            .strip_prefix("average latency: ")
            .and_then(|l| l.strip_suffix(" [us]"))
            .unwrap()
            .parse()
            .unwrap();
        assert!(us > 0.0);
    }
}

#[test]
fn side_by_side_json_rows_and_svg() {
    let svg = std::env::temp_dir().join(format!("mq-bench-test-{}.svg", std::process::id()));
    let out = mq(
        &[
            "bench",
            "--cases",
            "thr,lat,fanout",
            "--transports",
            "tcp,inproc",
            "--sizes",
            "64,1k",
            "--subscribers",
            "2",
            "--count",
            "300",
            "--reps",
            "1",
            "--json",
            "--svg",
            svg.to_str().unwrap(),
        ],
        None,
    )
    .output()
    .unwrap();
    let stdout = text(&out);
    let rows: Vec<serde_json::Value> = stdout
        .lines()
        .map(|l| serde_json::from_str(l).unwrap())
        .collect();
    // thr: 2 transports x 2 sizes; lat: the same; fanout: 1; cpu: 2.
    assert_eq!(rows.len(), 4 + 4 + 1 + 2, "{stdout}");
    for row in &rows {
        let case = row["case"].as_str().unwrap();
        assert!(["thr", "lat", "fanout", "cpu"].contains(&case));
        assert!(["tcp", "inproc"].contains(&row["transport"].as_str().unwrap()));
        assert!(row["size"].as_u64().is_some());
        let unit = match case {
            "lat" => "us",
            "cpu" => "s/Mmsg",
            _ => "msg/s",
        };
        assert_eq!(row["unit"], unit);
        let (m, z) = (
            row["monocoque"].as_f64().unwrap(),
            row["libzmq"].as_f64().unwrap(),
        );
        if case != "cpu" {
            assert!(m > 0.0 && z > 0.0, "{row}");
            assert!((row["ratio"].as_f64().unwrap() - m / z).abs() < 1e-9);
        }
        assert_eq!(row.get("subscribers").is_some(), case == "fanout");
        assert_eq!(row.get("p99_monocoque").is_some(), case == "lat");
        assert_eq!(row.get("p99_libzmq").is_some(), case == "lat");
        // The bare TCP stream beside tcp thr and lat rows, nowhere else.
        let raw = row["transport"] == "tcp" && (case == "thr" || case == "lat");
        assert_eq!(row.get("raw_tcp").is_some(), raw, "{row}");
        if raw {
            assert!(row["raw_tcp"].as_f64().unwrap() > 0.0, "{row}");
        }
        assert_eq!(row.get("p99_raw_tcp").is_some(), raw && case == "lat");
    }
    let drawing = std::fs::read_to_string(&svg).unwrap();
    let _ = std::fs::remove_file(&svg);
    assert!(drawing.starts_with("<svg") && drawing.contains("<polyline"));
    // The progress bar went to stderr.
    assert!(String::from_utf8_lossy(&out.stderr).contains("runs in"));
}

#[test]
fn the_table_is_the_default_output() {
    let out = mq(
        &[
            "bench",
            "--cases",
            "thr",
            "--transports",
            "ipc",
            "--sizes",
            "16",
            "--count",
            "200",
            "--reps",
            "1",
        ],
        None,
    )
    .output()
    .unwrap();
    let stdout = text(&out);
    assert!(
        stdout.contains("| case | transport | size | monocoque | libzmq | ratio |"),
        "{stdout}"
    );
    assert!(stdout.contains("| thr | ipc | 16 B |"), "{stdout}");
    assert!(stdout.contains("| cpu | ipc | 16 B |"), "{stdout}");
}

#[test]
fn the_table_says_libzmq_sends_zero_copy_and_has_a_raw_tcp_column() {
    let out = mq(
        &[
            "bench",
            "--cases",
            "thr",
            "--transports",
            "tcp",
            "--sizes",
            "1k",
            "--count",
            "300",
            "--reps",
            "1",
        ],
        None,
    )
    .output()
    .unwrap();
    let stdout = text(&out);
    assert!(
        stdout.contains("libzmq sends zero-copy (zmq_msg_init_data"),
        "{stdout}"
    );
    assert!(
        stdout.contains("| case | transport | size | monocoque | libzmq | ratio | raw-tcp |"),
        "{stdout}"
    );
    let row = stdout
        .lines()
        .find(|l| l.starts_with("| thr | tcp | 1 KiB |"))
        .unwrap();
    let cells: Vec<&str> = row.trim_matches(['|', ' ']).split(" | ").collect();
    assert_eq!(cells.len(), 7, "{row}");
    assert!(
        cells[6].ends_with("MB/s") && cells[6].contains("msg/s"),
        "{row}"
    );
    // The CPU row has no bare-stream figure.
    assert!(stdout.contains("| cpu | tcp | 1 KiB |"), "{stdout}");
    assert!(
        stdout
            .lines()
            .any(|l| l.starts_with("| cpu | tcp | 1 KiB |") && l.ends_with("| - |")),
        "{stdout}"
    );
}

/// libzmq's side sends zero-copy: over inproc a 1 MiB message is then a
/// pointer, so libzmq passes millions a second where a copy of each (at
/// most some 30 k a second here even in a release build) could not reach
/// 100 k.
#[test]
fn libzmq_sends_1_mib_inproc_without_copying() {
    let out = mq(
        &[
            "bench",
            "--cases",
            "thr",
            "--transports",
            "inproc",
            "--sizes",
            "1M",
            "--count",
            "20000",
            "--reps",
            "1",
            "--json",
        ],
        None,
    )
    .output()
    .unwrap();
    let stdout = text(&out);
    let row: serde_json::Value = stdout
        .lines()
        .map(|l| serde_json::from_str::<serde_json::Value>(l).unwrap())
        .find(|r| r["case"] == "thr")
        .unwrap();
    let libzmq = row["libzmq"].as_f64().unwrap();
    assert!(libzmq > 100_000.0, "libzmq copies? {row}");
}

#[test]
fn bench_usage_errors_exit_2() {
    for args in [
        &["bench", "--cases", "speed"][..],
        &["bench", "--reps", "0"],
        &["bench", "local-thr", "tcp://127.0.0.1:1", "64"],
        &["bench", "remote-thr", "tcp://127.0.0.1:1", "64", "0"],
        &["bench", "--lib", "czmq"],
        &["bench", "--libzmq-perf", "/bin/true"],
    ] {
        let out = mq(args, None).output().unwrap();
        assert_eq!(out.status.code(), Some(2), "{args:?}");
    }
}

/// Why libzmq's CURVE side of `mq bench --curve` cannot be built here, if
/// it cannot (checked apart from `mq`, so a bug in its own checks fails
/// the test instead of skipping it).
fn no_curve_libzmq() -> Option<&'static str> {
    let cc = Command::new("cc").arg("--version").output();
    if !cc.is_ok_and(|o| o.status.success()) {
        return Some("no C compiler (cc)");
    }
    let pkg_config = Command::new("pkg-config")
        .args(["--exists", "libzmq"])
        .status();
    if !Path::new("/usr/include/zmq.h").exists() && !pkg_config.is_ok_and(|s| s.success()) {
        return Some("no libzmq headers (zmq.h)");
    }
    None
}

/// A cache directory of this test's own for the built program.
fn cache(name: &str) -> PathBuf {
    Path::new(env!("CARGO_TARGET_TMPDIR")).join(name)
}

#[test]
fn curve_rows_for_both_libraries() {
    if let Some(why) = no_curve_libzmq() {
        eprintln!(
            "SKIPPED: mq bench --curve needs a libzmq with CURVE: {why} (Debian: libzmq3-dev)"
        );
        return;
    }
    let out = mq(
        &[
            "bench",
            "--curve",
            "--cases",
            "thr,lat",
            "--transports",
            "tcp",
            "--count",
            "200",
            "--reps",
            "1",
            "--json",
        ],
        None,
    )
    .env("XDG_CACHE_HOME", cache("bench-curve"))
    .env_remove("CC")
    .output()
    .unwrap();
    let stderr = String::from_utf8_lossy(&out.stderr);
    if stderr.contains("without CURVE (no libsodium)") {
        eprintln!("SKIPPED: the system libzmq has no CURVE: {stderr}");
        return;
    }
    let stdout = text(&out);
    let rows: Vec<serde_json::Value> = stdout
        .lines()
        .map(|l| serde_json::from_str(l).unwrap())
        .collect();
    let curve: Vec<&serde_json::Value> = rows
        .iter()
        .filter(|r| r.get("mechanism").is_some())
        .collect();
    let planned: Vec<(&str, u64)> = curve
        .iter()
        .map(|r| (r["case"].as_str().unwrap(), r["size"].as_u64().unwrap()))
        .collect();
    assert_eq!(
        planned,
        [("thr", 64), ("thr", 1024), ("thr", 65536), ("lat", 64)],
        "{stdout}"
    );
    for row in &curve {
        assert_eq!(row["mechanism"], "curve");
        assert_eq!(row["transport"], "tcp");
        let (m, z) = (
            row["monocoque"].as_f64().unwrap(),
            row["libzmq"].as_f64().unwrap(),
        );
        assert!(m > 0.0 && z > 0.0, "{row}");
        assert!((row["ratio"].as_f64().unwrap() - m / z).abs() < 1e-9);
        assert!(row.get("p99_libzmq").is_none(), "{row}");
    }
    // The NULL rows are all there too: 6 thr sizes, 2 lat, 1 cpu.
    assert_eq!(rows.len() - curve.len(), 9, "{stdout}");
    assert!(stderr.contains("thr tcp+curve 64 KiB libzmq"), "{stderr}");
}

#[test]
fn curve_without_a_compiler_fails_at_once_saying_what_to_install() {
    let out = mq(&["bench", "--curve", "--count", "10"], None)
        .env("XDG_CACHE_HOME", cache("bench-curve-no-cc"))
        .env("CC", "/nonexistent/mq-test-cc")
        .output()
        .unwrap();
    assert_eq!(out.status.code(), Some(1));
    let stderr = String::from_utf8_lossy(&out.stderr);
    assert_eq!(stderr.lines().count(), 1, "{stderr}");
    assert!(
        stderr.contains("no C compiler") && stderr.contains("libzmq3-dev"),
        "{stderr}"
    );
    assert!(out.stdout.is_empty());
    let out = mq(
        &["bench", "--curve", "--libzmq-perf", "/nonexistent/zperf"],
        None,
    )
    .output()
    .unwrap();
    assert_eq!(out.status.code(), Some(1));
    assert!(String::from_utf8_lossy(&out.stderr).contains("/nonexistent/zperf"));
}
