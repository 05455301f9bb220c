//! Two network namespaces joined by a veth pair, for partitions: the link
//! can be cut (link down, or blackhole routes on both sides) and healed,
//! and narrowed with `tc tbf`.
//!
//! Both ends live in namespaces of their own, with no route but the
//! veth's own subnet: whatever is cut, no packet can leave for the
//! machine's real network (a root-namespace end would fall back on the
//! default route when its veth went down). The test process stays in the
//! root namespace and puts sockets in the namespaces by running children
//! under `ip netns exec` ([`Netns::command`]).
//!
//! Each [`Netns`] has names no other test uses (the process id and a
//! counter), and deletes its namespaces (and with them the veth pair) on
//! drop, a panicking test included; namespaces left by a process that was
//! killed are deleted by the next run.

use std::os::unix::fs::MetadataExt;
use std::process::Command;
use std::sync::atomic::{AtomicUsize, Ordering};
use std::sync::Once;

/// The prefix of every namespace made here: `mqp-<pid>-<n>-a` and `-b`.
const PREFIX: &str = "mqp-";

/// The address of side A on the veth pair (its namespace's only address
/// besides loopback).
pub const ADDR_A: &str = "10.200.0.1";
/// The address of side B.
pub const ADDR_B: &str = "10.200.0.2";
/// The veth pair's subnet length.
const PREFIX_LEN: u8 = 30;

/// One side of the pair.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Side {
    A,
    B,
}

/// Two namespaces and the veth pair between them (`va` in A, `vb` in B).
#[derive(Debug)]
pub struct Netns {
    a: String,
    b: String,
}

static NEXT: AtomicUsize = AtomicUsize::new(0);

/// Runs `ip`/`tc` with `args`, panicking with its stderr when it fails.
fn run(cmd: &str, args: &[&str]) {
    let out = Command::new(cmd)
        .args(args)
        .output()
        .unwrap_or_else(|e| panic!("{cmd} {args:?}: {e}"));
    assert!(
        out.status.success(),
        "{cmd} {args:?}: {}",
        String::from_utf8_lossy(&out.stderr).trim()
    );
}

/// Why partitions cannot be made here, if they cannot: not root, or no
/// working `ip netns`. Tests skip (with this message) rather than fail.
pub fn unavailable() -> Option<String> {
    match std::fs::metadata("/proc/self") {
        Ok(m) if m.uid() == 0 => {}
        _ => return Some("not root: network namespaces need CAP_SYS_ADMIN".into()),
    }
    match Command::new("ip").args(["netns", "list"]).output() {
        Ok(o) if o.status.success() => None,
        Ok(o) => Some(format!(
            "`ip netns` fails: {}",
            String::from_utf8_lossy(&o.stderr).trim()
        )),
        Err(e) => Some(format!("no `ip` command: {e}")),
    }
}

/// Deletes namespaces left by test processes that no longer run.
fn remove_stale() {
    let Ok(out) = Command::new("ip").args(["netns", "list"]).output() else {
        return;
    };
    for line in String::from_utf8_lossy(&out.stdout).lines() {
        let name = line.split_whitespace().next().unwrap_or("");
        let Some(rest) = name.strip_prefix(PREFIX) else {
            continue;
        };
        let pid = rest.split('-').next().unwrap_or("");
        if !pid.is_empty() && !std::path::Path::new(&format!("/proc/{pid}")).exists() {
            let _ = Command::new("ip").args(["netns", "del", name]).output();
        }
    }
}

impl Netns {
    /// Makes the pair, up and addressed ([`ADDR_A`] in A, [`ADDR_B`] in
    /// B), or `None` (with the reason on stderr) when this machine cannot.
    pub fn new() -> Option<Netns> {
        if let Some(why) = unavailable() {
            eprintln!("skipped: {why}");
            return None;
        }
        static STALE: Once = Once::new();
        STALE.call_once(remove_stale);
        let n = NEXT.fetch_add(1, Ordering::Relaxed);
        let base = format!("{PREFIX}{}-{n}", std::process::id());
        let ns = Netns {
            a: format!("{base}-a"),
            b: format!("{base}-b"),
        };
        // The guard exists before the first namespace does: a failure
        // below still deletes what was made.
        run("ip", &["netns", "add", &ns.a]);
        run("ip", &["netns", "add", &ns.b]);
        run(
            "ip",
            &[
                "link", "add", "va", "netns", &ns.a, "type", "veth", "peer", "name", "vb", "netns",
                &ns.b,
            ],
        );
        for (side, dev, addr) in [(Side::A, "va", ADDR_A), (Side::B, "vb", ADDR_B)] {
            let name = ns.name(side).to_owned();
            let cidr = format!("{addr}/{PREFIX_LEN}");
            run("ip", &["-n", &name, "addr", "add", &cidr, "dev", dev]);
            run("ip", &["-n", &name, "link", "set", dev, "up"]);
            run("ip", &["-n", &name, "link", "set", "lo", "up"]);
        }
        Some(ns)
    }

    /// The namespace of `side`.
    pub fn name(&self, side: Side) -> &str {
        match side {
            Side::A => &self.a,
            Side::B => &self.b,
        }
    }

    /// A command that runs `program` inside `side`'s namespace.
    pub fn command(&self, side: Side, program: &std::path::Path) -> Command {
        let mut c = Command::new("ip");
        c.args(["netns", "exec", self.name(side)]).arg(program);
        c
    }

    /// Takes A's end of the veth down (the carrier of B's goes with it):
    /// nothing passes either way, and A has no route to B at all.
    pub fn link_down(&self) {
        run("ip", &["-n", &self.a, "link", "set", "va", "down"]);
    }

    /// Brings A's end back up (its address and subnet route return).
    pub fn link_up(&self) {
        run("ip", &["-n", &self.a, "link", "set", "va", "up"]);
    }

    /// Adds (or deletes) a blackhole route to the other side's address
    /// in each namespace: packets either way are dropped as they are
    /// sent, and the link itself stays up.
    pub fn blackhole(&self, on: bool) {
        let verb = if on { "add" } else { "del" };
        for (ns, to) in [(&self.a, ADDR_B), (&self.b, ADDR_A)] {
            let dst = format!("{to}/32");
            run("ip", &["-n", ns, "route", verb, "blackhole", &dst]);
        }
    }

    /// Caps what A sends to B with a token bucket (`tc tbf`): `rate` (tc
    /// syntax, `16mbit`), a `burst` of bytes, packets queued at most
    /// `latency`.
    pub fn shape(&self, rate: &str, burst: &str, latency: &str) {
        run(
            "ip",
            &[
                "netns", "exec", &self.a, "tc", "qdisc", "add", "dev", "va", "root", "tbf", "rate",
                rate, "burst", burst, "latency", latency,
            ],
        );
    }
}

impl Drop for Netns {
    fn drop(&mut self) {
        // Deleting a namespace destroys the veth end in it, and with it
        // the pair, the routes and the qdisc.
        for ns in [&self.a, &self.b] {
            let _ = Command::new("ip").args(["netns", "del", ns]).output();
        }
    }
}
