//! The results as a table (markdown, pasteable into docs), JSON rows, and
//! an SVG of throughput against message size.

use std::fmt::Write;
use std::time::Duration;

use serde_json::{json, Value};

/// One row of the side-by-side table.
#[derive(Clone, Debug, PartialEq)]
pub(crate) struct Row {
    /// `thr`, `lat`, `fanout` or `cpu`.
    pub(crate) case: &'static str,
    /// `tcp`, `ipc` or `inproc`.
    pub(crate) transport: &'static str,
    /// Message size in bytes.
    pub(crate) size: usize,
    /// Fan-out width (fanout rows only).
    pub(crate) subscribers: Option<usize>,
    /// `msg/s`, `us` or `s/Mmsg`.
    pub(crate) unit: &'static str,
    /// Monocoque's median (p50 for latency).
    pub(crate) monocoque: Option<f64>,
    /// libzmq's median (p50 for latency).
    pub(crate) libzmq: Option<f64>,
    /// Latency: Monocoque's median p99.
    pub(crate) p99_monocoque: Option<f64>,
    /// Latency: libzmq's median p99.
    pub(crate) p99_libzmq: Option<f64>,
    /// Successful runs of Monocoque and libzmq (`None`: not run), out of
    /// the repetitions.
    pub(crate) runs: (Option<usize>, Option<usize>, usize),
    /// Over CURVE (`--curve`): both libraries' perf roles with `curve`;
    /// latency is then the mean round trip, with no p99.
    pub(crate) curve: bool,
    /// The bare TCP stream's median (tcp thr and lat rows): the byte-rate
    /// reference, in no ratio.
    pub(crate) raw_tcp: Option<f64>,
    /// Latency: the bare TCP stream's median p99.
    pub(crate) p99_raw_tcp: Option<f64>,
    /// Successful runs of the bare TCP stream (`None`: not run for this row).
    pub(crate) raw_runs: Option<usize>,
}

impl Row {
    /// `tcp`, or `tcp+curve` on a CURVE row.
    fn transport_label(&self) -> String {
        if self.curve {
            format!("{}+curve", self.transport)
        } else {
            self.transport.to_owned()
        }
    }

    /// Monocoque / libzmq.
    pub(crate) fn ratio(&self) -> Option<f64> {
        match (self.monocoque, self.libzmq) {
            (Some(m), Some(z)) if z > 0.0 => Some(m / z),
            _ => None,
        }
    }
}

/// `64 B`, `1 KiB`, `64 KiB`, `1 MiB`.
pub(crate) fn size_label(size: usize) -> String {
    if size >= 1 << 20 && size % (1 << 20) == 0 {
        format!("{} MiB", size >> 20)
    } else if size >= 1 << 10 && size % (1 << 10) == 0 {
        format!("{} KiB", size >> 10)
    } else {
        format!("{size} B")
    }
}

/// 3.41 M, 512 k, 980.
fn si(value: f64) -> String {
    if value >= 1e6 {
        format!("{:.2} M", value / 1e6)
    } else if value >= 1e3 {
        format!("{:.1} k", value / 1e3)
    } else {
        format!("{value:.0}")
    }
}

/// `261 MB/s`, or `11.2 GB/s` from 10 GB/s on.
fn bytes_per_second(rate: f64) -> String {
    if rate >= 1e10 {
        format!("{:.0} GB/s", rate / 1e9)
    } else {
        format!("{:.0} MB/s", rate / 1e6)
    }
}

/// `1 k`, `10 k`, `100 k`, `1 M`, `10 M` for an axis decade (log10).
fn decade_label(decade: f64) -> String {
    let value = 10f64.powf(decade);
    if value >= 1e6 {
        format!("{:.0} M", value / 1e6)
    } else if value >= 1e3 {
        format!("{:.0} k", value / 1e3)
    } else {
        format!("{value:.0}")
    }
}

fn cell(row: &Row, value: Option<f64>, p99: Option<f64>, runs: Option<usize>) -> String {
    let Some(runs) = runs else {
        return "-".to_owned();
    };
    let Some(v) = value else {
        return "failed".to_owned();
    };
    let mut text = match row.case {
        "thr" => format!("{} msg/s, {}", si(v), bytes_per_second(v * row.size as f64)),
        "fanout" => format!("{} msg/s", si(v)),
        "lat" if row.curve => format!("{v:.1} us (mean)"),
        "lat" => format!("{v:.1} us (p99 {:.1})", p99.unwrap_or(f64::NAN)),
        _ => format!("{v:.3} s/Mmsg"),
    };
    if runs < row.runs.2 {
        let _ = write!(text, " [{runs}/{} runs]", row.runs.2);
    }
    text
}

/// The markdown table with its caption; `libzmq` names the libzmq of the
/// other rows and `curve_libzmq` that of the CURVE rows (`None`: libzmq
/// did not run them).
pub(crate) fn table(
    rows: &[Row],
    reps: usize,
    took: Duration,
    libzmq: Option<&str>,
    curve_libzmq: Option<&str>,
) -> String {
    let mut out = String::new();
    let _ = writeln!(
        out,
        "Monocoque vs {}: medians of {reps} run(s), {:.0} s in all.",
        libzmq.unwrap_or("libzmq (not run)"),
        took.as_secs_f64()
    );
    let _ = writeln!(
        out,
        "Equal work: libzmq sends zero-copy (zmq_msg_init_data over one buffer it never frees), Monocoque a clone of one Bytes; neither copies a payload to send, both receive and drop."
    );
    let _ = writeln!(
        out,
        "ratio = monocoque / libzmq: above 1 is better for thr and fanout, below 1 for lat (round trip) and cpu."
    );
    if rows.iter().any(|r| r.raw_runs.is_some()) {
        let _ = writeln!(
            out,
            "raw-tcp (tcp rows): a bare TCP stream, no library, one blocking thread per side (thr: the messages' bytes back to back in writes of up to 1 MiB, 4 MiB socket buffers); the byte-rate reference, in no ratio."
        );
    }
    if rows.iter().any(|r| r.curve) {
        let _ = writeln!(
            out,
            "tcp+curve rows: CURVE on both sides, libzmq being {}; both run libzmq's perf roles with `curve` (zero-copy sends; lat is the mean round trip).",
            curve_libzmq.unwrap_or("not run")
        );
    }
    out.push('\n');
    out.push_str("| case | transport | size | monocoque | libzmq | ratio | raw-tcp |\n");
    out.push_str("| --- | --- | --- | --- | --- | --- | --- |\n");
    for row in rows {
        let size = match row.subscribers {
            Some(n) => format!(
                "{} x {n} sub{}",
                size_label(row.size),
                if n == 1 { "" } else { "s" }
            ),
            None => size_label(row.size),
        };
        let ratio = row
            .ratio()
            .map_or_else(|| "-".to_owned(), |r| format!("{r:.2}"));
        let _ = writeln!(
            out,
            "| {} | {} | {size} | {} | {} | {ratio} | {} |",
            row.case,
            row.transport_label(),
            cell(row, row.monocoque, row.p99_monocoque, row.runs.0),
            cell(row, row.libzmq, row.p99_libzmq, row.runs.1),
            cell(row, row.raw_tcp, row.p99_raw_tcp, row.raw_runs),
        );
    }
    out
}

fn number(value: Option<f64>) -> Value {
    value.map_or(Value::Null, |v| json!(v))
}

/// One JSON object per row, one row per line.
pub(crate) fn json(rows: &[Row]) -> String {
    let mut out = String::new();
    for row in rows {
        let mut obj = serde_json::Map::new();
        obj.insert("case".into(), json!(row.case));
        obj.insert("transport".into(), json!(row.transport));
        if row.curve {
            obj.insert("mechanism".into(), json!("curve"));
        }
        obj.insert("size".into(), json!(row.size));
        if let Some(n) = row.subscribers {
            obj.insert("subscribers".into(), json!(n));
        }
        obj.insert("unit".into(), json!(row.unit));
        obj.insert("monocoque".into(), number(row.monocoque));
        obj.insert("libzmq".into(), number(row.libzmq));
        obj.insert("ratio".into(), number(row.ratio()));
        if row.case == "lat" && !row.curve {
            obj.insert("p99_monocoque".into(), number(row.p99_monocoque));
            obj.insert("p99_libzmq".into(), number(row.p99_libzmq));
        }
        if row.raw_runs.is_some() {
            obj.insert("raw_tcp".into(), number(row.raw_tcp));
            if row.case == "lat" {
                obj.insert("p99_raw_tcp".into(), number(row.p99_raw_tcp));
            }
        }
        out.push_str(&Value::Object(obj).to_string());
        out.push('\n');
    }
    out
}

/// The bare TCP stream's line in the SVG.
const RAW_TCP_SERIES: &str = "raw-tcp";

/// Throughput (msg/s, log scale) against message size (log scale), one
/// line per library and transport: solid Monocoque, dashed libzmq, and
/// the bare TCP stream dotted (tcp). CURVE rows are left out.
pub(crate) fn svg(rows: &[Row]) -> String {
    const W: f64 = 760.0;
    const H: f64 = 460.0;
    const LEFT: f64 = 80.0;
    const RIGHT: f64 = 190.0;
    const TOP: f64 = 40.0;
    const BOTTOM: f64 = 60.0;
    let thr: Vec<&Row> = rows
        .iter()
        .filter(|r| r.case == "thr" && !r.curve)
        .collect();
    let values = thr
        .iter()
        .flat_map(|r| [r.monocoque, r.libzmq, r.raw_tcp])
        .flatten()
        .filter(|v| *v > 0.0);
    let (lo, hi) = values.fold((f64::MAX, f64::MIN), |(lo, hi), v| (lo.min(v), hi.max(v)));
    let (ylo, yhi) = if lo <= hi {
        (
            lo.log10().floor(),
            hi.log10().ceil().max(lo.log10().floor() + 1.0),
        )
    } else {
        (0.0, 1.0)
    };
    let sizes = thr.iter().map(|r| (r.size.max(1) as f64).log2());
    let (xlo, xhi) = sizes.fold((f64::MAX, f64::MIN), |(lo, hi), v| (lo.min(v), hi.max(v)));
    let (xlo, xhi) = if xlo < xhi {
        (xlo, xhi)
    } else if xlo <= xhi {
        (xlo - 1.0, xhi + 1.0)
    } else {
        (0.0, 1.0)
    };
    let px =
        |size: usize| LEFT + ((size.max(1) as f64).log2() - xlo) / (xhi - xlo) * (W - LEFT - RIGHT);
    let py = |v: f64| TOP + (yhi - v.log10()) / (yhi - ylo) * (H - TOP - BOTTOM);

    let mut out = String::new();
    let _ = writeln!(
        out,
        r#"<svg xmlns="http://www.w3.org/2000/svg" width="{W}" height="{H}" viewBox="0 0 {W} {H}" font-family="sans-serif" font-size="12">"#
    );
    let _ = writeln!(out, r#"<rect width="{W}" height="{H}" fill="white"/>"#);
    let _ = writeln!(
        out,
        r#"<text x="{}" y="24" text-anchor="middle" font-size="15">PUSH -> PULL throughput: Monocoque (solid), libzmq (dashed), raw-tcp (dotted)</text>"#,
        (W - RIGHT + LEFT) / 2.0
    );
    // Axes, decades and size ticks.
    let (x0, x1, y0, y1) = (LEFT, W - RIGHT, TOP, H - BOTTOM);
    let _ = writeln!(
        out,
        r#"<path d="M{x0} {y0} V{y1} H{x1}" stroke="black" fill="none"/>"#
    );
    let mut decade = ylo;
    while decade <= yhi {
        let y = py(10f64.powf(decade));
        let _ = writeln!(
            out,
            r##"<line x1="{x0}" x2="{x1}" y1="{y:.1}" y2="{y:.1}" stroke="#ddd"/><text x="{}" y="{:.1}" text-anchor="end">{}</text>"##,
            x0 - 6.0,
            y + 4.0,
            decade_label(decade)
        );
        decade += 1.0;
    }
    let mut ticks: Vec<usize> = thr.iter().map(|r| r.size).collect();
    ticks.sort_unstable();
    ticks.dedup();
    for size in ticks {
        let x = px(size);
        let _ = writeln!(
            out,
            r#"<line x1="{x:.1}" x2="{x:.1}" y1="{y1}" y2="{}" stroke="black"/><text x="{x:.1}" y="{}" text-anchor="middle">{}</text>"#,
            y1 + 5.0,
            y1 + 18.0,
            size_label(size)
        );
    }
    let _ = writeln!(
        out,
        r#"<text x="{}" y="{}" text-anchor="middle">message size</text>"#,
        (x0 + x1) / 2.0,
        H - 16.0
    );
    let _ = writeln!(
        out,
        r#"<text x="18" y="{}" text-anchor="middle" transform="rotate(-90 18 {})">msg/s</text>"#,
        (y0 + y1) / 2.0,
        (y0 + y1) / 2.0
    );
    // One polyline per library and transport, and the bare TCP stream's
    // (tcp rows only).
    let colours = [
        ("tcp", "#1f77b4"),
        ("ipc", "#d62728"),
        ("inproc", "#2ca02c"),
    ];
    let mut series: Vec<(&str, &str, &str, &str)> = Vec::new();
    for (transport, colour) in colours {
        series.push(("monocoque", transport, colour, ""));
        series.push(("libzmq", transport, colour, r#" stroke-dasharray="6 4""#));
    }
    series.push((
        RAW_TCP_SERIES,
        "tcp",
        "#7f7f7f",
        r#" stroke-dasharray="2 3""#,
    ));
    let mut legend = 0.0;
    for (lib, transport, colour, dash) in series {
        let points: Vec<String> = thr
            .iter()
            .filter(|r| r.transport == transport)
            .filter_map(|r| {
                let v = match lib {
                    "monocoque" => r.monocoque,
                    "libzmq" => r.libzmq,
                    _ => r.raw_tcp,
                }?;
                (v > 0.0).then(|| format!("{:.1},{:.1}", px(r.size), py(v)))
            })
            .collect();
        if points.is_empty() {
            continue;
        }
        let _ = writeln!(
            out,
            r#"<polyline points="{}" fill="none" stroke="{colour}" stroke-width="2"{dash}/>"#,
            points.join(" ")
        );
        for p in &points {
            let (x, y) = p.split_once(',').unwrap_or(("0", "0"));
            let _ = writeln!(out, r#"<circle cx="{x}" cy="{y}" r="3" fill="{colour}"/>"#);
        }
        let ly = TOP + 10.0 + legend * 20.0;
        let _ = writeln!(
            out,
            r#"<line x1="{}" x2="{}" y1="{ly}" y2="{ly}" stroke="{colour}" stroke-width="2"{dash}/><text x="{}" y="{}">{lib} {transport}</text>"#,
            x1 + 15.0,
            x1 + 45.0,
            x1 + 52.0,
            ly + 4.0
        );
        legend += 1.0;
    }
    out.push_str("</svg>\n");
    out
}

#[cfg(test)]
mod tests {
    use super::*;

    fn row(case: &'static str, size: usize, m: Option<f64>, z: Option<f64>) -> Row {
        Row {
            case,
            transport: "tcp",
            size,
            subscribers: (case == "fanout").then_some(8),
            unit: if case == "lat" { "us" } else { "msg/s" },
            monocoque: m,
            libzmq: z,
            p99_monocoque: (case == "lat").then_some(90.0),
            p99_libzmq: (case == "lat").then_some(80.0),
            runs: (Some(3), Some(3), 3),
            curve: false,
            raw_tcp: None,
            p99_raw_tcp: None,
            raw_runs: None,
        }
    }

    #[test]
    fn json_rows_have_the_issue_s_fields() {
        let rows = [
            row("thr", 64, Some(2e6), Some(1e6)),
            row("lat", 64, Some(40.0), Some(50.0)),
            row("fanout", 64, Some(1.0), None),
        ];
        let text = json(&rows);
        let lines: Vec<Value> = text
            .lines()
            .map(|l| serde_json::from_str(l).unwrap())
            .collect();
        assert_eq!(lines.len(), 3);
        assert_eq!(lines[0]["case"], "thr");
        assert_eq!(lines[0]["unit"], "msg/s");
        assert_eq!(lines[0]["ratio"], 2.0);
        assert!(lines[0].get("subscribers").is_none());
        assert_eq!(lines[1]["p99_libzmq"], 80.0);
        assert_eq!(lines[1]["ratio"], 0.8);
        assert_eq!(lines[2]["subscribers"], 8);
        assert!(lines[2]["ratio"].is_null());
    }

    #[test]
    fn table_and_svg_render() {
        let rows = [
            row("thr", 16, Some(3e6), Some(2.5e6)),
            row("thr", 1 << 20, Some(3e3), Some(1e3)),
        ];
        let t = table(&rows, 3, Duration::from_secs(1), Some("libzmq 4.3.4"), None);
        assert!(
            t.contains(
                "| thr | tcp | 1 MiB | 3.0 k msg/s, 3146 MB/s | 1.0 k msg/s, 1049 MB/s | 3.00 | - |"
            ),
            "{t}"
        );
        assert!(
            t.starts_with("Monocoque vs libzmq 4.3.4: medians of 3 run(s)"),
            "{t}"
        );
        assert!(
            t.contains("libzmq sends zero-copy (zmq_msg_init_data"),
            "{t}"
        );
        assert!(!t.contains("raw-tcp (tcp rows)"), "{t}");
        let s = svg(&rows);
        assert!(s.starts_with("<svg") && s.trim_end().ends_with("</svg>"));
        assert_eq!(s.matches("<polyline").count(), 2);
        assert_eq!(size_label(65536), "64 KiB");
        assert_eq!(size_label(100), "100 B");
        assert!(!t.contains("curve"), "{t}");
    }

    #[test]
    fn curve_rows_say_so() {
        let curve = |case, size, m, z| Row {
            curve: true,
            p99_monocoque: None,
            p99_libzmq: None,
            ..row(case, size, Some(m), Some(z))
        };
        let rows = [
            row("thr", 64, Some(2e6), Some(1e6)),
            curve("thr", 64, 5e5, 6e5),
            curve("lat", 64, 60.0, 50.0),
        ];
        let t = table(
            &rows,
            3,
            Duration::from_secs(1),
            None,
            Some("libzmq 4.3.4 (/x)"),
        );
        assert!(t.contains("libzmq being libzmq 4.3.4 (/x)"), "{t}");
        assert!(t.contains("| thr | tcp | 64 B |"), "{t}");
        assert!(
            t.contains("| thr | tcp+curve | 64 B | 500.0 k msg/s, 32 MB/s | 600.0 k msg/s, 38 MB/s | 0.83 |"),
            "{t}"
        );
        assert!(
            t.contains("| lat | tcp+curve | 64 B | 60.0 us (mean) | 50.0 us (mean) | 1.20 |"),
            "{t}"
        );
        let lines: Vec<Value> = json(&rows)
            .lines()
            .map(|l| serde_json::from_str(l).unwrap())
            .collect();
        assert!(lines[0].get("mechanism").is_none());
        assert_eq!(lines[1]["mechanism"], "curve");
        assert_eq!(lines[1]["transport"], "tcp");
        assert!(lines[2].get("p99_libzmq").is_none());
        assert_eq!(svg(&rows).matches("<polyline").count(), 2);
    }

    #[test]
    fn raw_tcp_is_a_column_of_its_own() {
        let raw = |case, size, m, z, raw: f64| Row {
            raw_tcp: Some(raw),
            p99_raw_tcp: (case == "lat").then_some(30.0),
            raw_runs: Some(3),
            ..row(case, size, Some(m), Some(z))
        };
        let rows = [
            raw("thr", 64, 2e6, 1e6, 40e6),
            raw("lat", 64, 40.0, 50.0, 20.0),
            Row {
                transport: "ipc",
                ..row("thr", 64, Some(3e6), Some(1e6))
            },
        ];
        let t = table(&rows, 3, Duration::from_secs(1), Some("libzmq 4.3.4"), None);
        assert!(
            t.contains("| case | transport | size | monocoque | libzmq | ratio | raw-tcp |"),
            "{t}"
        );
        assert!(t.contains("raw-tcp (tcp rows): a bare TCP stream"), "{t}");
        // The ratio stays Monocoque / libzmq.
        assert!(
            t.contains("| thr | tcp | 64 B | 2.00 M msg/s, 128 MB/s | 1.00 M msg/s, 64 MB/s | 2.00 | 40.00 M msg/s, 2560 MB/s |"),
            "{t}"
        );
        assert!(
            t.contains("| lat | tcp | 64 B | 40.0 us (p99 90.0) | 50.0 us (p99 80.0) | 0.80 | 20.0 us (p99 30.0) |"),
            "{t}"
        );
        assert!(
            t.contains(
                "| thr | ipc | 64 B | 3.00 M msg/s, 192 MB/s | 1.00 M msg/s, 64 MB/s | 3.00 | - |"
            ),
            "{t}"
        );
        let lines: Vec<Value> = json(&rows)
            .lines()
            .map(|l| serde_json::from_str(l).unwrap())
            .collect();
        assert_eq!(lines[0]["raw_tcp"], 40e6);
        assert_eq!(lines[0]["ratio"], 2.0);
        assert!(lines[0].get("p99_raw_tcp").is_none());
        assert_eq!(lines[1]["p99_raw_tcp"], 30.0);
        assert!(lines[2].get("raw_tcp").is_none());
        let s = svg(&rows);
        assert_eq!(s.matches("<polyline").count(), 5, "{s}");
        assert!(s.contains("raw-tcp tcp"), "{s}");
    }
}
