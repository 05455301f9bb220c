//! The command line: subcommands, positionals and options (DESIGN section 8).
//!
//! Options may stand anywhere, before or after positionals; `--` ends them,
//! so a FRAME may begin with `-`. `--name value` and `--name=value` both work.
//! Anything wrong here is a usage error (exit 2).

use std::path::PathBuf;
use std::time::Duration;

use monocoque::{CurvePublicKey, CurveSecretKey};

use crate::bench::{BenchArgs, Case, Lib, PerfArgs, PerfRole, Transport};
use crate::endpoint::{parse_endpoints, parse_type, Endpoint};
use crate::format::{unescape_sep, Format, LineCodec};
use crate::SocketType;

/// What `mq` was asked to do.
#[derive(Debug)]
pub(crate) enum Command {
    /// `mq send TYPE ENDPOINTS [FRAME...]`.
    Send(SocketCommand),
    /// `mq recv TYPE ENDPOINTS`.
    Recv(SocketCommand),
    /// `mq reply TYPE ENDPOINTS`.
    Reply(SocketCommand),
    /// `mq request TYPE ENDPOINTS FRAME...`.
    Request(SocketCommand),
    /// `mq proxy FTYPE FENDPOINTS BTYPE BENDPOINTS [--capture TYPE ENDPOINTS]`.
    Proxy(ProxyCommand),
    /// `mq bench [...]`: the side-by-side table.
    Bench(BenchArgs),
    /// `mq bench local-thr|remote-thr|local-lat|remote-lat ENDPOINT SIZE COUNT`.
    Perf(PerfArgs),
    /// `mq keygen`.
    Keygen,
    /// `mq help`, `--help`: usage on stdout.
    Help,
    /// `mq --version`.
    Version,
}

/// A socket to open: its type and endpoints.
#[derive(Debug, Clone)]
pub(crate) struct SocketSpec {
    /// The socket type.
    pub(crate) ty: SocketType,
    /// Where it binds and connects.
    pub(crate) endpoints: Vec<Endpoint>,
}

/// A subcommand with one socket (send, recv, reply, request).
#[derive(Debug)]
pub(crate) struct SocketCommand {
    /// The socket.
    pub(crate) socket: SocketSpec,
    /// FRAME arguments, still in their text form.
    pub(crate) frames: Vec<String>,
    /// The options.
    pub(crate) opts: SocketArgs,
}

/// `mq proxy`.
#[derive(Debug)]
pub(crate) struct ProxyCommand {
    /// The frontend socket.
    pub(crate) frontend: SocketSpec,
    /// The backend socket.
    pub(crate) backend: SocketSpec,
    /// The capture socket, if any.
    pub(crate) capture: Option<SocketSpec>,
    /// Options for all of them.
    pub(crate) opts: SocketArgs,
}

/// The options every command with a socket takes.
#[derive(Debug, Default, Clone)]
pub(crate) struct SocketArgs {
    /// `--count N`: stop after N messages.
    pub(crate) count: Option<u64>,
    /// `--timeout MS`: bound on each wait.
    pub(crate) timeout: Option<Duration>,
    /// `--subscribe PREFIX`, repeatable.
    pub(crate) subscribe: Vec<String>,
    /// `--identity ID`.
    pub(crate) identity: Option<String>,
    /// `--hwm N`: both high-water marks.
    pub(crate) hwm: Option<usize>,
    /// `--maxmsgsize N`: the largest message accepted, in bytes
    /// (`MAXMSGSIZE`); a peer that announces more loses its connection.
    pub(crate) maxmsgsize: Option<u64>,
    /// `--linger MS`.
    pub(crate) linger: Option<Duration>,
    /// `--heartbeat MS`.
    pub(crate) heartbeat: Option<Duration>,
    /// `--plain-server`.
    pub(crate) plain_server: bool,
    /// `--plain USER:PASS`.
    pub(crate) plain: Option<(String, String)>,
    /// `--monitor`.
    pub(crate) monitor: bool,
    /// `--wait-peers N`.
    pub(crate) wait_peers: Option<usize>,
    /// `--format` and `--sep`.
    pub(crate) codec: LineCodec,
    /// `--curve-server`, `--curve-serverkey`, `--curve-secret`,
    /// `--curve-allow`.
    pub(crate) curve: Option<Curve>,
}

/// A socket's CURVE role from the command line.
#[derive(Debug, Clone, PartialEq, Eq)]
pub(crate) enum Curve {
    /// `--curve-server SECRET`, admitting only the `--curve-allow` keys
    /// when there are any (through a ZAP handler), else every key.
    Server {
        /// The server's secret key.
        secret: CurveSecretKey,
        /// The client keys admitted (empty: any).
        allow: Vec<CurvePublicKey>,
    },
    /// `--curve-serverkey PUBLIC`, with `--curve-secret SECRET` or a fresh
    /// key pair.
    Client {
        /// The server's public key.
        server: CurvePublicKey,
        /// The client's secret key, if given.
        secret: Option<CurveSecretKey>,
    },
}

/// A usage error: the message for stderr (exit status 2).
#[derive(Debug, Clone, PartialEq, Eq)]
pub(crate) struct UsageError(pub(crate) String);

type Parsed<T> = Result<T, UsageError>;

fn usage<T>(msg: impl Into<String>) -> Parsed<T> {
    Err(UsageError(msg.into()))
}

/// Every option `mq` knows, with how many values it takes.
const OPTIONS: &[(&str, usize)] = &[
    // socket commands
    ("count", 1),
    ("timeout", 1),
    ("subscribe", 1),
    ("identity", 1),
    ("hwm", 1),
    ("maxmsgsize", 1),
    ("linger", 1),
    ("heartbeat", 1),
    ("plain-server", 0),
    ("plain", 1),
    ("curve-server", 1),
    ("curve-serverkey", 1),
    ("curve-secret", 1),
    ("curve-allow", 1),
    ("monitor", 0),
    ("wait-peers", 1),
    ("format", 1),
    ("sep", 1),
    ("capture", 2),
    // bench
    ("cases", 1),
    ("transports", 1),
    ("sizes", 1),
    ("subscribers", 1),
    ("reps", 1),
    ("json", 0),
    ("svg", 1),
    ("lib", 1),
    ("curve", 0),
    ("libzmq-perf", 1),
    // everywhere
    ("help", 0),
    ("version", 0),
];

const SOCKET_OPTIONS: &[&str] = &[
    "count",
    "timeout",
    "subscribe",
    "identity",
    "hwm",
    "maxmsgsize",
    "linger",
    "heartbeat",
    "plain-server",
    "plain",
    "curve-server",
    "curve-serverkey",
    "curve-secret",
    "curve-allow",
    "monitor",
    "wait-peers",
    "format",
    "sep",
];

const BENCH_OPTIONS: &[&str] = &[
    "cases",
    "transports",
    "sizes",
    "subscribers",
    "count",
    "reps",
    "json",
    "svg",
    "lib",
    "curve",
    "libzmq-perf",
];

/// The line split into positionals and options, in order.
#[derive(Debug, Default)]
struct Split {
    positionals: Vec<String>,
    options: Vec<(&'static str, Vec<String>)>,
}

impl Split {
    fn values(&self, name: &str) -> impl Iterator<Item = &[String]> + '_ {
        let name = name.to_owned();
        self.options
            .iter()
            .filter(move |(n, _)| *n == name)
            .map(|(_, v)| v.as_slice())
    }

    fn last(&self, name: &str) -> Option<&str> {
        self.values(name).last().map(|v| v[0].as_str())
    }

    fn flag(&self, name: &str) -> bool {
        self.values(name).next().is_some()
    }
}

fn split(args: &[String]) -> Parsed<Split> {
    let mut out = Split::default();
    let mut i = 0;
    while i < args.len() {
        let arg = &args[i];
        i += 1;
        if arg == "--" {
            out.positionals.extend(args[i..].iter().cloned());
            break;
        }
        if arg == "-h" {
            out.options.push(("help", Vec::new()));
            continue;
        }
        if arg == "-V" {
            out.options.push(("version", Vec::new()));
            continue;
        }
        let Some(body) = arg.strip_prefix("--") else {
            if arg.len() > 1 && arg.starts_with('-') {
                return usage(format!(
                    "unknown option {arg:?} (put `--` before a frame that starts with -)"
                ));
            }
            out.positionals.push(arg.clone());
            continue;
        };
        let (name, inline) = match body.split_once('=') {
            Some((n, v)) => (n, Some(v.to_owned())),
            None => (body, None),
        };
        let Some(&(name, arity)) = OPTIONS.iter().find(|(n, _)| *n == name) else {
            return usage(format!("unknown option --{name}"));
        };
        let mut values = Vec::with_capacity(arity);
        match (arity, inline) {
            (0, Some(_)) => return usage(format!("--{name} takes no value")),
            (0, None) => {}
            (1, Some(v)) => values.push(v),
            (_, inline) => {
                values.extend(inline);
                while values.len() < arity {
                    let Some(v) = args.get(i) else {
                        return usage(format!("--{name} needs {arity} value(s)"));
                    };
                    values.push(v.clone());
                    i += 1;
                }
            }
        }
        out.options.push((name, values));
    }
    Ok(out)
}

/// Parses the arguments after the program name.
pub(crate) fn parse(args: &[String]) -> Parsed<Command> {
    let mut split = split(args)?;
    if split.positionals.is_empty() {
        if split.flag("version") {
            return Ok(Command::Version);
        }
        if split.flag("help") {
            return Ok(Command::Help);
        }
        return usage(
            "no subcommand (send, recv, reply, request, proxy, bench, keygen; try mq --help)",
        );
    }
    let sub = split.positionals.remove(0);
    if split.flag("help") {
        return Ok(Command::Help);
    }
    let allowed: &[&str] = match sub.as_str() {
        "send" | "recv" | "reply" | "request" => SOCKET_OPTIONS,
        "proxy" => &[SOCKET_OPTIONS, &["capture"]].concat(),
        "bench" => BENCH_OPTIONS,
        "keygen" | "help" => &[],
        other => {
            return usage(format!(
                "unknown subcommand {other:?} (send, recv, reply, request, proxy, bench, keygen)"
            ))
        }
    };
    if let Some((name, _)) = split.options.iter().find(|(n, _)| !allowed.contains(n)) {
        return usage(format!("--{name} is not an option of `mq {sub}`"));
    }
    let pos = std::mem::take(&mut split.positionals);
    match sub.as_str() {
        "help" => Ok(Command::Help),
        "keygen" => {
            no_more(&pos, 0, "keygen")?;
            Ok(Command::Keygen)
        }
        "bench" => parse_bench(&pos, &split),
        "proxy" => parse_proxy(&pos, &split),
        _ => {
            let opts = socket_args(&split)?;
            let (socket, frames) = socket_and_frames(&pos, &sub)?;
            check_socket_command(&sub, &socket, &frames)?;
            let cmd = SocketCommand {
                socket,
                frames,
                opts,
            };
            Ok(match sub.as_str() {
                "send" => Command::Send(cmd),
                "recv" => Command::Recv(cmd),
                "reply" => Command::Reply(cmd),
                _ => Command::Request(cmd),
            })
        }
    }
}

fn no_more(pos: &[String], expected: usize, sub: &str) -> Parsed<()> {
    match pos.get(expected) {
        Some(extra) => usage(format!("unexpected argument {extra:?} for `mq {sub}`")),
        None => Ok(()),
    }
}

fn socket_spec(ty: Option<&String>, endpoints: Option<&String>, what: &str) -> Parsed<SocketSpec> {
    let (Some(ty), Some(endpoints)) = (ty, endpoints) else {
        return usage(format!("{what} needs TYPE and ENDPOINTS"));
    };
    let ty = parse_type(ty).map_err(UsageError)?;
    let endpoints = parse_endpoints(endpoints, ty).map_err(UsageError)?;
    Ok(SocketSpec { ty, endpoints })
}

fn socket_and_frames(pos: &[String], sub: &str) -> Parsed<(SocketSpec, Vec<String>)> {
    let spec = socket_spec(pos.first(), pos.get(1), &format!("`mq {sub}`"))?;
    Ok((spec, pos[2..].to_vec()))
}

/// Which types each subcommand can use, and whether FRAMEs are allowed.
fn check_socket_command(sub: &str, socket: &SocketSpec, frames: &[String]) -> Parsed<()> {
    use SocketType::*;
    let name = crate::endpoint::type_name(socket.ty);
    let ok = match sub {
        "send" => !matches!(socket.ty, Sub | Pull | Rep),
        "recv" => !matches!(socket.ty, Pub | Push | Req | Rep),
        "reply" => matches!(socket.ty, Rep | Router | Dealer | Pair | Stream),
        _ => matches!(socket.ty, Req | Dealer | Pair | Router | Stream),
    };
    if !ok {
        let hint = match sub {
            "send" => "",
            "recv" => " (use `mq reply` for rep)",
            "reply" => " (rep, router, dealer, pair or stream)",
            _ => " (req, dealer, pair, router or stream)",
        };
        return usage(format!("`mq {sub}` cannot use a {name} socket{hint}"));
    }
    match sub {
        "recv" | "reply" if !frames.is_empty() => usage(format!(
            "unexpected argument {:?} for `mq {sub}`",
            frames[0]
        )),
        _ => Ok(()),
    }
}

fn number<T: std::str::FromStr>(split: &Split, name: &str) -> Parsed<Option<T>> {
    match split.last(name) {
        None => Ok(None),
        Some(v) => v
            .parse()
            .map(Some)
            .map_err(|_| UsageError(format!("--{name} needs a whole number, not {v:?}"))),
    }
}

fn millis(split: &Split, name: &str) -> Parsed<Option<Duration>> {
    Ok(number::<u64>(split, name)?.map(Duration::from_millis))
}

/// A CURVE key option's value, parsed (Z85, 40 characters).
fn key<K: std::str::FromStr>(split: &Split, name: &str) -> Parsed<Option<K>>
where
    K::Err: std::fmt::Display,
{
    split
        .last(name)
        .map(|v| {
            v.parse()
                .map_err(|e| UsageError(format!("--{name} needs a Z85 key: {e}")))
        })
        .transpose()
}

/// The CURVE options, checked against each other.
fn curve_args(split: &Split) -> Parsed<Option<Curve>> {
    let server = key::<CurveSecretKey>(split, "curve-server")?;
    let server_key = key::<CurvePublicKey>(split, "curve-serverkey")?;
    let secret = key::<CurveSecretKey>(split, "curve-secret")?;
    let allow = split
        .values("curve-allow")
        .map(|v| {
            v[0].parse::<CurvePublicKey>()
                .map_err(|e| UsageError(format!("--curve-allow needs a Z85 key: {e}")))
        })
        .collect::<Parsed<Vec<_>>>()?;
    match (server, server_key) {
        (Some(_), Some(_)) => usage(
            "--curve-server and --curve-serverkey: a socket is a CURVE server or a client, not both",
        ),
        (Some(_), None) if secret.is_some() => {
            usage("--curve-secret goes with --curve-serverkey (a client's own key)")
        }
        (Some(secret), None) => Ok(Some(Curve::Server { secret, allow })),
        (None, Some(_)) if !allow.is_empty() => {
            usage("--curve-allow goes with --curve-server (the keys a server admits)")
        }
        (None, Some(server)) => Ok(Some(Curve::Client { server, secret })),
        (None, None) if secret.is_some() => {
            usage("--curve-secret goes with --curve-serverkey (a client's own key)")
        }
        (None, None) if !allow.is_empty() => {
            usage("--curve-allow goes with --curve-server (the keys a server admits)")
        }
        (None, None) => Ok(None),
    }
}

fn socket_args(split: &Split) -> Parsed<SocketArgs> {
    let curve = curve_args(split)?;
    if curve.is_some() && (split.flag("plain") || split.flag("plain-server")) {
        return usage("--plain and --curve-* cannot be combined: a socket has one mechanism");
    }
    let format = match split.last("format") {
        None => Format::Text,
        Some(f) => Format::parse(f)
            .ok_or_else(|| UsageError(format!("--format must be text, hex or json, not {f:?}")))?,
    };
    let sep = split
        .last("sep")
        .map_or_else(|| b"\t".to_vec(), unescape_sep);
    let plain = match split.last("plain") {
        None => None,
        Some(v) => match v.split_once(':') {
            Some((user, pass)) => Some((user.to_owned(), pass.to_owned())),
            None => return usage(format!("--plain needs USER:PASS, not {v:?}")),
        },
    };
    Ok(SocketArgs {
        count: number(split, "count")?,
        timeout: millis(split, "timeout")?,
        subscribe: split.values("subscribe").map(|v| v[0].clone()).collect(),
        identity: split.last("identity").map(str::to_owned),
        hwm: number(split, "hwm")?,
        maxmsgsize: number(split, "maxmsgsize")?,
        linger: millis(split, "linger")?,
        heartbeat: millis(split, "heartbeat")?,
        plain_server: split.flag("plain-server"),
        plain,
        monitor: split.flag("monitor"),
        wait_peers: number(split, "wait-peers")?,
        codec: LineCodec::new(format, sep),
        curve,
    })
}

fn parse_proxy(pos: &[String], split: &Split) -> Parsed<Command> {
    let frontend = socket_spec(pos.first(), pos.get(1), "`mq proxy` frontend")?;
    let backend = socket_spec(pos.get(2), pos.get(3), "`mq proxy` backend")?;
    no_more(pos, 4, "proxy")?;
    let capture = match split.values("capture").last() {
        None => None,
        Some(v) => Some(socket_spec(v.first(), v.get(1), "--capture")?),
    };
    Ok(Command::Proxy(ProxyCommand {
        frontend,
        backend,
        capture,
        opts: socket_args(split)?,
    }))
}

/// A message size: bytes, or with a `k`/`KiB`/`m`/`MiB` suffix (powers of 2).
pub(crate) fn parse_size(text: &str) -> Option<usize> {
    let lower = text.to_ascii_lowercase();
    let (digits, unit) = match lower.find(|c: char| !c.is_ascii_digit()) {
        Some(at) => lower.split_at(at),
        None => (lower.as_str(), ""),
    };
    let n: usize = digits.parse().ok()?;
    let mult = match unit {
        "" | "b" => 1,
        "k" | "kib" | "kb" => 1024,
        "m" | "mib" | "mb" => 1024 * 1024,
        _ => return None,
    };
    n.checked_mul(mult)
}

fn list<T>(split: &Split, name: &str, parse: impl Fn(&str) -> Option<T>) -> Parsed<Option<Vec<T>>> {
    let Some(v) = split.last(name) else {
        return Ok(None);
    };
    v.split(',')
        .map(|item| {
            parse(item.trim()).ok_or_else(|| UsageError(format!("--{name}: bad item {item:?}")))
        })
        .collect::<Parsed<Vec<T>>>()
        .map(Some)
}

fn parse_bench(pos: &[String], split: &Split) -> Parsed<Command> {
    let lib = match split.last("lib") {
        None => None,
        Some(name) => Some(Lib::parse(name).ok_or_else(|| {
            UsageError(format!("--lib must be monocoque or libzmq, not {name:?}"))
        })?),
    };
    if let Some(role) = pos.first() {
        let Some(role) = PerfRole::parse(role) else {
            return usage(format!(
                "unknown bench role {role:?} (local-thr, remote-thr, local-lat, remote-lat)"
            ));
        };
        let (endpoint, size, count, curve) = match pos {
            [_, endpoint, size, count] => (endpoint, size, count, false),
            [_, endpoint, size, count, c] if c == "curve" => (endpoint, size, count, true),
            _ => {
                return usage(format!(
                    "usage: mq bench {} ENDPOINT SIZE COUNT [curve]",
                    role.name()
                ))
            }
        };
        if let Some(name) = split.options.iter().map(|(n, _)| *n).find(|n| *n != "lib") {
            return usage(format!(
                "--{name} is not an option of `mq bench {}`",
                role.name()
            ));
        }
        let size = parse_size(size).ok_or_else(|| UsageError(format!("bad SIZE {size:?}")))?;
        let count: u64 = count
            .parse()
            .ok()
            .filter(|&c| c > 0)
            .ok_or_else(|| UsageError(format!("bad COUNT {count:?}")))?;
        return Ok(Command::Perf(PerfArgs {
            role,
            endpoint: endpoint.clone(),
            size,
            count,
            lib,
            curve,
        }));
    }
    let mut args = BenchArgs::default();
    if let Some(cases) = list(split, "cases", Case::parse)? {
        args.cases = cases;
    }
    if let Some(transports) = list(split, "transports", Transport::parse)? {
        args.transports = transports;
    }
    if let Some(sizes) = list(split, "sizes", parse_size)? {
        args.sizes = Some(sizes);
    }
    if let Some(subs) = list(split, "subscribers", |s| s.parse().ok().filter(|&n| n > 0))? {
        args.subscribers = subs;
    }
    args.count = number(split, "count")?;
    if let Some(reps) = number::<usize>(split, "reps")? {
        if reps == 0 {
            return usage("--reps must be at least 1");
        }
        args.reps = reps;
    }
    args.json = split.flag("json");
    args.svg = split.last("svg").map(PathBuf::from);
    if let Some(lib) = lib {
        args.libs = vec![lib];
    }
    args.curve = split.flag("curve");
    args.libzmq_perf = split.last("libzmq-perf").map(PathBuf::from);
    if args.libzmq_perf.is_some() && !args.curve {
        return usage("--libzmq-perf goes with --curve (the program for libzmq's CURVE rows)");
    }
    Ok(Command::Bench(args))
}

#[cfg(test)]
mod tests {
    use super::*;

    fn parse_line(line: &str) -> Parsed<Command> {
        let args: Vec<String> = line.split_whitespace().map(str::to_owned).collect();
        parse(&args)
    }

    #[test]
    fn options_stand_anywhere_and_dashdash_ends_them() {
        let Ok(Command::Send(cmd)) =
            parse_line("send --count 3 push @tcp://127.0.0.1:1 a --timeout=50 -- --frame -x")
        else {
            panic!("not a send");
        };
        assert_eq!(cmd.frames, ["a", "--frame", "-x"]);
        assert_eq!(cmd.opts.count, Some(3));
        assert_eq!(cmd.opts.timeout, Some(Duration::from_millis(50)));
    }

    #[test]
    fn usage_errors() {
        for line in [
            "",
            "frobnicate",
            "send",
            "send push",
            "send nosuch tcp://127.0.0.1:1",
            "send push udp://x:1",
            "--count 3 send push a @tcp://127.0.0.1:1",
            "send push tcp://127.0.0.1:1 --bogus",
            "send push tcp://127.0.0.1:1 -x",
            "send push tcp://127.0.0.1:1 --count",
            "send push tcp://127.0.0.1:1 --count x",
            "send push tcp://127.0.0.1:1 --format yaml",
            "send pull tcp://127.0.0.1:1 a",
            "recv push tcp://127.0.0.1:1",
            "recv pull tcp://127.0.0.1:1 extra",
            "recv rep tcp://127.0.0.1:1",
            "reply push tcp://127.0.0.1:1",
            "send push tcp://127.0.0.1:1 --curve-serverkey K",
            "send push tcp://127.0.0.1:1 --plain nopassword",
            "send push tcp://127.0.0.1:1 --json",
            "keygen extra",
            "bench --timeout 5",
            "bench local-thr tcp://127.0.0.1:1 64",
            "bench local-thr tcp://127.0.0.1:1 64 0",
            "bench fly",
            "bench --libzmq-perf /usr/bin/zperf",
            "bench --curve=yes",
            "bench local-thr tcp://127.0.0.1:1 64 10 --curve",
            "proxy router @tcp://127.0.0.1:1 dealer",
        ] {
            assert!(parse_line(line).is_err(), "{line:?} parsed");
        }
    }

    #[test]
    fn proxy_with_capture() {
        let Ok(Command::Proxy(p)) = parse_line(
            "proxy router tcp://*:1 --capture pub inproc://cap dealer tcp://*:2 --monitor",
        ) else {
            panic!("not a proxy");
        };
        assert_eq!(p.frontend.ty, SocketType::Router);
        assert_eq!(p.backend.ty, SocketType::Dealer);
        assert_eq!(p.capture.map(|c| c.ty), Some(SocketType::Pub));
        assert!(p.opts.monitor);
    }

    #[test]
    fn bench_roles_and_flags() {
        let Ok(Command::Perf(p)) = parse_line("bench remote-lat tcp://127.0.0.1:5 1k 100") else {
            panic!("not a perf role");
        };
        assert_eq!((p.role, p.size, p.count), (PerfRole::RemoteLat, 1024, 100));
        let Ok(Command::Bench(b)) =
            parse_line("bench --cases thr --sizes 64,64k --reps 1 --json --transports tcp")
        else {
            panic!("not a bench");
        };
        assert_eq!(b.cases, [Case::Thr]);
        assert_eq!(b.sizes, Some(vec![64, 65536]));
        assert_eq!(b.reps, 1);
        assert!(b.json);
        assert_eq!(b.transports, [Transport::Tcp]);
        assert!(!b.curve);
        assert_eq!(b.libzmq_perf, None);
    }

    #[test]
    fn bench_curve() {
        let Ok(Command::Bench(b)) = parse_line("bench --curve --cases lat") else {
            panic!("not a bench");
        };
        assert!(b.curve);
        assert_eq!(b.cases, [Case::Lat]);
        assert_eq!(b.libzmq_perf, None);
        let Ok(Command::Bench(b)) = parse_line("bench --libzmq-perf=/opt/zperf --reps 2 --curve")
        else {
            panic!("not a bench");
        };
        assert!(b.curve);
        assert_eq!(b.libzmq_perf, Some(PathBuf::from("/opt/zperf")));
        assert_eq!(b.reps, 2);
        // The perf roles' own `curve` is a positional, not the flag.
        let Ok(Command::Perf(p)) = parse_line("bench local-thr tcp://127.0.0.1:5 64 10 curve")
        else {
            panic!("not a perf role");
        };
        assert!(p.curve);
    }

    #[test]
    fn sizes() {
        assert_eq!(parse_size("16"), Some(16));
        assert_eq!(parse_size("64KiB"), Some(65536));
        assert_eq!(parse_size("1M"), Some(1 << 20));
        assert_eq!(parse_size("1x"), None);
    }
}
