//! The command line, declared with clap's derive API: its flags, defaults, exit codes and messages are a contract that outside scripts test (`tests/cli.rs`).
//!
//! Options may stand anywhere, before or after positionals, even before the
//! subcommand (`mq --count 3 send ...`); `--` ends them, so a FRAME may
//! begin with `-`. `--name value` and `--name=value` both work, and an
//! option given twice keeps its last value. Anything wrong here is a usage
//! error: one line on stderr, exit 2.
//!
//! clap checks the shape of the line (which options each command has, how
//! many values, the positionals); the value parsers and [`parse`] check
//! what the values mean, with the messages scripts have always seen
//! (`--count needs a whole number, not "many"`, `--curve-secret goes with
//! --curve-serverkey ...`).

use std::error::Error as _;
use std::ffi::OsStr;
use std::path::PathBuf;
use std::time::Duration;

use clap::builder::{PossibleValue, StringValueParser, TypedValueParser};
use clap::error::{ContextKind, ContextValue, ErrorKind};
use clap::parser::ValueSource;
use clap::{ArgAction, ArgMatches, Args, CommandFactory, FromArgMatches, Parser, Subcommand};
use clap_complete::Shell;
use monocoque::{CurvePublicKey, CurveSecretKey};

use crate::bench::{BenchArgs, Case, Lib, PerfArgs, PerfRole, Transport};
use crate::endpoint::{parse_endpoints, parse_type, type_name, Endpoint};
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
    /// `mq request TYPE ENDPOINTS [FRAME...]`.
    Request(SocketCommand),
    /// `mq proxy FTYPE FENDPOINTS BTYPE BENDPOINTS [--capture TYPE ENDPOINTS]`.
    Proxy(ProxyCommand),
    /// `mq bench [...]`: the side-by-side table.
    Bench(BenchArgs),
    /// `mq bench local-thr|remote-thr|local-lat|remote-lat ENDPOINT SIZE COUNT`.
    Perf(PerfArgs),
    /// `mq keygen`.
    Keygen,
    /// `mq completions SHELL`: a completion script on stdout.
    Completions(Shell),
    /// `--help`, `mq help [COMMAND]`, `--version`: this text on stdout.
    Show(String),
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

/// The options every command with a socket takes, checked against each
/// other.
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

// ---- the line, as clap sees it ----

const ABOUT: &str = "a ZeroMQ Swiss-army knife built on Monocoque";

const AFTER_HELP: &str = "\
Examples:
  mq recv pull @tcp://127.0.0.1:5555             print each message as a line
  mq send push tcp://127.0.0.1:5555 hello world  one message of two frames
  mq reply rep tcp://127.0.0.1:5556              an echo server
  mq request req tcp://127.0.0.1:5556 ping       ask once, print the reply
  mq bench                                       Monocoque and libzmq side by side
  mq completions bash > ~/.local/share/bash-completion/completions/mq

TYPE: pair pub sub xpub xsub req rep dealer router push pull stream
ENDPOINTS: comma-separated; @ binds, > connects, bare: bind for pub xpub rep router pull
Options may stand anywhere on the line; -- ends them, so a FRAME may begin with -.
Exit status: 0 done, 1 runtime failure (one line on stderr), 2 usage error.
`mq COMMAND --help` shows a command's own options.";

/// The whole command line.
#[derive(Debug, Parser)]
#[command(
    name = "mq",
    version,
    about = ABOUT,
    after_help = AFTER_HELP,
    args_override_self = true,
    subcommand_value_name = "COMMAND"
)]
struct Cli {
    #[command(subcommand)]
    command: Option<Sub>,
}

const TYPE_HELP: &str = "The socket type";
const ENDPOINTS_HELP: &str =
    "Comma-separated; @ binds, > connects, bare: bind for pub xpub rep router pull, else connect";

const SEND_AFTER: &str = "\
Examples:
  mq send push tcp://127.0.0.1:5555 hello world       one message, two frames
  mq send push tcp://127.0.0.1:5555 a --count 3       the same message 3 times
  mq send push tcp://127.0.0.1:5555 -- -begins-with-dash
  printf 'a\\tb\\nc\\n' | mq send push tcp://127.0.0.1:5555   two messages from stdin
  mq send pub @tcp://*:5556 news today --wait-peers 1 --timeout 5000
  mq send push tcp://127.0.0.1:5555 --format hex 00ff 4869

send returns once every message has been handed to a connected peer, bounded
by --timeout and then --linger (default: wait). On stream, a one-frame message
goes to the first peer connected; more frames are sent as given, the first
being the peer's routing id.";

const RECV_AFTER: &str = "\
Examples:
  mq recv pull @tcp://127.0.0.1:5555 --count 1
  mq recv sub tcp://127.0.0.1:5556 --subscribe news --format json
  mq recv router @ipc:///tmp/mq.sock --format hex --sep ,

Each message is written and flushed as one line when it arrives: its frames
joined by --sep (text, hex) or one JSON array (json). Rep is `mq reply`'s.";

const REPLY_AFTER: &str = "\
Examples:
  mq reply rep tcp://127.0.0.1:5555                 echo every request
  mq reply router @tcp://127.0.0.1:5555 --count 1   echo one, envelope kept

An echo server: each request is sent back as it came (router and stream keep
the envelope, the routing id first).";

const REQUEST_AFTER: &str = "\
Examples:
  mq request req tcp://127.0.0.1:5555 hello --timeout 5000
  mq request dealer tcp://127.0.0.1:5555 '' hello   the empty frame a rep expects
  mq request req tcp://127.0.0.1:5555 < questions.txt  one request a stdin line

The reply is printed as one line. Dealer sends the frames as given.";

const PROXY_AFTER: &str = "\
Examples:
  mq proxy router @tcp://*:5555 dealer @tcp://*:5556
  mq proxy xsub @tcp://*:5557 xpub @tcp://*:5558 --capture pub @tcp://*:5559

Forwards both ways until stopped, or until --count messages went through or
none came for --timeout. The socket options apply to every socket.";

const BENCH_AFTER: &str = "\
Examples:
  mq bench                                     the whole table (about a minute)
  mq bench --cases thr --transports tcp --sizes 64,1k --reps 1
  mq bench --json --svg bench.svg
  mq bench --curve                             CURVE rows too (needs cc and libzmq3-dev)
  mq bench local-thr tcp://127.0.0.1:5555 64 1000000   a perf role: see `mq bench local-thr --help`

Sizes: bytes, or with k/KiB, m/MiB (powers of 2). thr sizes default to
16,64,256,1k,64k,1M, lat to 64,1k; fanout runs at 64 B over the first
transport listed. --curve adds thr 64,1k,64k and lat 64 over tcp unless
--sizes; libzmq's side is the system libzmq with CURVE, through a perf-role
program mq builds with cc -lzmq (Debian: libzmq3-dev), or --libzmq-perf's.";

const KEYGEN_AFTER: &str = "\
Examples:
  mq keygen                       the public key, then the secret key
  { read -r public; read -r secret; } < <(mq keygen)

Each key is 40 Z85 characters (RFC 32), as libzmq's zmq_curve_keypair prints
them: the secret goes to a server's or a client's own --curve-* option, the
public key to its peers.";

const COMPLETIONS_AFTER: &str = "\
Examples:
  mq completions bash > ~/.local/share/bash-completion/completions/mq
  mq completions zsh > ~/.zfunc/_mq          (with fpath+=~/.zfunc before compinit)
  mq completions fish > ~/.config/fish/completions/mq.fish";

#[derive(Debug, Subcommand)]
enum Sub {
    /// Send messages: the FRAMEs as one message, or one message per stdin line
    #[command(after_help = SEND_AFTER)]
    Send {
        #[arg(value_name = "TYPE", help = TYPE_HELP, value_parser = socket_type(SEND_TYPES))]
        ty: SocketType,
        #[arg(value_name = "ENDPOINTS", help = ENDPOINTS_HELP)]
        endpoints: String,
        /// The frames of one message, in --format; none: one message per stdin line
        #[arg(value_name = "FRAME")]
        frames: Vec<String>,
        #[command(flatten)]
        opts: SocketOpts,
    },
    /// Receive messages and print each as one line
    #[command(after_help = RECV_AFTER)]
    Recv {
        #[arg(value_name = "TYPE", help = TYPE_HELP, value_parser = socket_type(RECV_TYPES))]
        ty: SocketType,
        #[arg(value_name = "ENDPOINTS", help = ENDPOINTS_HELP)]
        endpoints: String,
        #[command(flatten)]
        opts: SocketOpts,
    },
    /// Echo server: send every request back (rep; router keeps the envelope)
    #[command(after_help = REPLY_AFTER)]
    Reply {
        #[arg(value_name = "TYPE", help = TYPE_HELP, value_parser = socket_type(REPLY_TYPES))]
        ty: SocketType,
        #[arg(value_name = "ENDPOINTS", help = ENDPOINTS_HELP)]
        endpoints: String,
        #[command(flatten)]
        opts: SocketOpts,
    },
    /// Send one request and print the reply (none: one request per stdin line)
    #[command(after_help = REQUEST_AFTER)]
    Request {
        #[arg(value_name = "TYPE", help = TYPE_HELP, value_parser = socket_type(REQUEST_TYPES))]
        ty: SocketType,
        #[arg(value_name = "ENDPOINTS", help = ENDPOINTS_HELP)]
        endpoints: String,
        /// The frames of the request, in --format; none: one request per stdin line
        #[arg(value_name = "FRAME")]
        frames: Vec<String>,
        #[command(flatten)]
        opts: SocketOpts,
    },
    /// Forward between a frontend and a backend socket
    #[command(after_help = PROXY_AFTER)]
    Proxy {
        /// The frontend's socket type
        #[arg(value_name = "FTYPE", value_parser = socket_type(ALL_TYPES))]
        frontend_ty: SocketType,
        /// The frontend's endpoints (as ENDPOINTS in `mq send --help`)
        #[arg(value_name = "FENDPOINTS")]
        frontend: String,
        /// The backend's socket type
        #[arg(value_name = "BTYPE", value_parser = socket_type(ALL_TYPES))]
        backend_ty: SocketType,
        /// The backend's endpoints
        #[arg(value_name = "BENDPOINTS")]
        backend: String,
        /// A socket that gets a copy of every message forwarded
        #[arg(
            long,
            num_args = 2,
            value_names = ["TYPE", "ENDPOINTS"],
            action = ArgAction::Set,
            allow_hyphen_values = true
        )]
        capture: Option<Vec<String>>,
        #[command(flatten)]
        opts: SocketOpts,
    },
    /// Benchmark Monocoque and libzmq side by side, or run one of libzmq's perf roles
    #[command(
        after_help = BENCH_AFTER,
        subcommand_value_name = "ROLE",
        subcommand_help_heading = "Perf roles",
        disable_help_subcommand = true
    )]
    Bench(BenchCli),
    /// Print a new CURVE key pair in Z85: the public key, then the secret key
    #[command(after_help = KEYGEN_AFTER)]
    Keygen,
    /// Print a shell completion script
    #[command(after_help = COMPLETIONS_AFTER)]
    Completions {
        /// The shell
        #[arg(value_name = "SHELL")]
        shell: Shell,
    },
}

/// The options of every command with a socket.
#[derive(Debug, Args)]
struct SocketOpts {
    /// Stop after N messages (send: the FRAMEs N times, or N stdin lines at most)
    #[arg(long, value_name = "N", help_heading = "Messages", allow_hyphen_values = true,
          value_parser = whole::<u64>("--count"))]
    count: Option<u64>,
    /// Give up a wait (a peer, the next message, a reply) after MS ms: exit 1
    #[arg(long, value_name = "MS", help_heading = "Messages", allow_hyphen_values = true,
          value_parser = millis("--timeout"))]
    timeout: Option<Duration>,
    /// Before the first send, wait for N peers' handshakes (pub, xpub: N subscriptions)
    #[arg(long, value_name = "N", help_heading = "Messages", allow_hyphen_values = true,
          value_parser = whole::<usize>("--wait-peers"))]
    wait_peers: Option<usize>,
    /// Subscribe to PREFIX (repeatable; recv sub with none: everything)
    #[arg(
        long,
        value_name = "PREFIX",
        help_heading = "Messages",
        allow_hyphen_values = true
    )]
    subscribe: Vec<String>,
    /// The routing id this socket announces to its peers
    #[arg(
        long,
        value_name = "ID",
        help_heading = "Socket",
        allow_hyphen_values = true
    )]
    identity: Option<String>,
    /// Both high-water marks, in messages (library default 1000)
    #[arg(long, value_name = "N", help_heading = "Socket", allow_hyphen_values = true,
          value_parser = whole::<usize>("--hwm"))]
    hwm: Option<usize>,
    /// The largest message accepted; a peer announcing more is disconnected
    #[arg(long, value_name = "BYTES", help_heading = "Socket", allow_hyphen_values = true,
          value_parser = whole::<u64>("--maxmsgsize"))]
    maxmsgsize: Option<u64>,
    /// How long closing waits for unsent messages (default: until they are sent)
    #[arg(long, value_name = "MS", help_heading = "Socket", allow_hyphen_values = true,
          value_parser = millis("--linger"))]
    linger: Option<Duration>,
    /// Send ZMTP heartbeats every MS ms and drop a peer that stops answering
    #[arg(long, value_name = "MS", help_heading = "Socket", allow_hyphen_values = true,
          value_parser = millis("--heartbeat"))]
    heartbeat: Option<Duration>,
    /// Print socket events on stderr, one line each (listening, accepted, connected...)
    #[arg(long, help_heading = "Socket")]
    monitor: bool,
    /// A PLAIN server: admits --plain's user alone, or any user without --plain
    #[arg(long, help_heading = "Security")]
    plain_server: bool,
    /// PLAIN credentials (a client's; with --plain-server, the one user admitted)
    #[arg(long, value_name = "USER:PASS", help_heading = "Security", allow_hyphen_values = true,
          value_parser = user_pass)]
    plain: Option<(String, String)>,
    /// A CURVE server with this Z85 secret key
    #[arg(long, value_name = "SECRET", help_heading = "Security", allow_hyphen_values = true,
          value_parser = z85_key::<CurveSecretKey>("--curve-server"))]
    curve_server: Option<CurveSecretKey>,
    /// With --curve-server: admit only clients with this public key (repeatable)
    #[arg(long, value_name = "PUBLIC", help_heading = "Security", allow_hyphen_values = true,
          value_parser = z85_key::<CurvePublicKey>("--curve-allow"))]
    curve_allow: Vec<CurvePublicKey>,
    /// A CURVE client of the server with this Z85 public key
    #[arg(long, value_name = "PUBLIC", help_heading = "Security", allow_hyphen_values = true,
          value_parser = z85_key::<CurvePublicKey>("--curve-serverkey"))]
    curve_serverkey: Option<CurvePublicKey>,
    /// With --curve-serverkey: the client's own secret key (default: a fresh pair)
    #[arg(long, value_name = "SECRET", help_heading = "Security", allow_hyphen_values = true,
          value_parser = z85_key::<CurveSecretKey>("--curve-secret"))]
    curve_secret: Option<CurveSecretKey>,
    /// text, hex (lowercase) or json (an array a line; not UTF-8: {"hex": ...})
    #[arg(long, value_name = "FORMAT", help_heading = "Text", allow_hyphen_values = true,
          default_value = "text", hide_possible_values = true, value_parser = FORMATS)]
    format: Format,
    /// What joins a message's frames in text and hex (\t \n \r \0 \\ understood)
    #[arg(
        long,
        value_name = "SEP",
        help_heading = "Text",
        allow_hyphen_values = true,
        default_value = "\\t"
    )]
    sep: String,
}

/// `mq bench`: the table's options, or a perf role.
#[derive(Debug, Args)]
struct BenchCli {
    #[command(subcommand)]
    role: Option<RoleCli>,
    /// Which measurements: thr, lat, fanout (cpu rows come with thr)
    #[arg(long, value_name = "CASES", value_delimiter = ',', action = ArgAction::Set,
          allow_hyphen_values = true, default_value = "thr,lat,fanout", hide_possible_values = true,
          value_parser = list_item("--cases", CASES, Case::parse))]
    cases: Vec<Case>,
    /// Transports: thr and lat run on each, fanout on the first
    #[arg(long, value_name = "TRANSPORTS", value_delimiter = ',', action = ArgAction::Set,
          allow_hyphen_values = true, default_value = "tcp,ipc,inproc", hide_possible_values = true,
          value_parser = list_item("--transports", TRANSPORTS, Transport::parse))]
    transports: Vec<Transport>,
    /// Message sizes for thr and lat (e.g. 16,64,1k,64k,1M)
    #[arg(long, value_name = "SIZES", value_delimiter = ',', action = ArgAction::Set,
          allow_hyphen_values = true, value_parser = list_item("--sizes", &[], parse_size))]
    sizes: Option<Vec<usize>>,
    /// Fan-out widths
    #[arg(long, value_name = "N,...", value_delimiter = ',', action = ArgAction::Set,
          allow_hyphen_values = true, default_value = "1,8,64",
          value_parser = list_item("--subscribers", &[], |s| s.parse().ok().filter(|&n: &usize| n > 0)))]
    subscribers: Vec<usize>,
    /// Messages (or round trips) per run instead of the defaults
    #[arg(long, value_name = "N", allow_hyphen_values = true, value_parser = whole::<u64>("--count"))]
    count: Option<u64>,
    /// Repetitions per library and case; medians are reported
    #[arg(long, value_name = "N", allow_hyphen_values = true, default_value = "3", value_parser = reps)]
    reps: usize,
    /// One JSON object per row instead of the table
    #[arg(long)]
    json: bool,
    /// Also draw throughput against message size into FILE
    #[arg(long, value_name = "FILE", allow_hyphen_values = true)]
    svg: Option<PathBuf>,
    /// Also CURVE rows over tcp, libzmq's side the system libzmq (see below)
    #[arg(long)]
    curve: bool,
    /// With --curve: a program of libzmq's perf roles (e.g. zperf) for its side
    #[arg(long, value_name = "PATH", allow_hyphen_values = true)]
    libzmq_perf: Option<PathBuf>,
    /// Run one library only
    #[arg(long, value_name = "LIB", hide = true, allow_hyphen_values = true, value_parser = LIBS)]
    lib: Option<Lib>,
}

const ROLE_AFTER: &str = "\
The four roles are libzmq's local_thr, remote_thr, local_lat and remote_lat,
line for line, so either end pairs with libzmq's own tools. The local side
binds, the remote side connects. With `curve`, both sides use CURVE with
libzmq's fixed test keys, the local side being the server.

Examples:
  mq bench local-thr tcp://127.0.0.1:5555 64 1000000 &
  mq bench remote-thr tcp://127.0.0.1:5555 64 1000000 --lib libzmq
  mq bench local-lat tcp://127.0.0.1:5556 1k 10000 curve &
  mq bench remote-lat tcp://127.0.0.1:5556 1k 10000 curve";

#[derive(Debug, Subcommand)]
enum RoleCli {
    /// PULL: bind, receive COUNT messages, print the throughput
    #[command(after_help = ROLE_AFTER)]
    LocalThr(RoleArgs),
    /// PUSH: connect, send COUNT messages of SIZE bytes
    #[command(after_help = ROLE_AFTER)]
    RemoteThr(RoleArgs),
    /// REP: bind, echo COUNT round trips
    #[command(after_help = ROLE_AFTER)]
    LocalLat(RoleArgs),
    /// REQ: connect, make COUNT round trips, print the average latency
    #[command(after_help = ROLE_AFTER)]
    RemoteLat(RoleArgs),
}

/// A perf role's arguments.
#[derive(Debug, Args)]
struct RoleArgs {
    /// Where the local side binds and the remote side connects
    #[arg(value_name = "ENDPOINT")]
    endpoint: String,
    /// Message size: bytes, or with k/KiB, m/MiB
    #[arg(value_name = "SIZE", value_parser = size_arg)]
    size: usize,
    /// Messages (thr) or round trips (lat), at least 1
    #[arg(value_name = "COUNT", value_parser = count_arg)]
    count: u64,
    /// `curve`: both sides over CURVE with libzmq's test keys
    #[arg(value_name = "curve")]
    curve: Option<String>,
    /// The library this side runs on (else MQ_BENCH_LIB, else monocoque)
    #[arg(long, value_name = "LIB", allow_hyphen_values = true, value_parser = LIBS)]
    lib: Option<Lib>,
}

// ---- value parsers: each error is the whole message ----

/// A value parser with a fixed set of names (shown in help and offered by
/// completions) and a message of its own for a value outside them.
#[derive(Clone, Copy)]
struct Names<T: 'static> {
    names: &'static [&'static str],
    parse: fn(&str) -> Result<T, String>,
}

impl<T: Clone + Send + Sync + 'static> TypedValueParser for Names<T> {
    type Value = T;

    fn parse_ref(
        &self,
        cmd: &clap::Command,
        arg: Option<&clap::Arg>,
        value: &OsStr,
    ) -> Result<T, clap::Error> {
        let parse = self.parse;
        StringValueParser::new()
            .try_map(move |text: String| parse(&text))
            .parse_ref(cmd, arg, value)
    }

    fn possible_values(&self) -> Option<Box<dyn Iterator<Item = PossibleValue> + '_>> {
        if self.names.is_empty() {
            return None;
        }
        Some(Box::new(self.names.iter().map(PossibleValue::new)))
    }
}

const ALL_TYPES: &[&str] = &[
    "pair", "pub", "sub", "xpub", "xsub", "req", "rep", "dealer", "router", "push", "pull",
    "stream",
];
const SEND_TYPES: &[&str] = &[
    "pair", "pub", "xpub", "xsub", "req", "dealer", "router", "push", "stream",
];
const RECV_TYPES: &[&str] = &[
    "pair", "sub", "xpub", "xsub", "dealer", "router", "pull", "stream",
];
const REPLY_TYPES: &[&str] = &["rep", "router", "dealer", "pair", "stream"];
const REQUEST_TYPES: &[&str] = &["req", "dealer", "pair", "router", "stream"];

/// TYPE: any socket type parses (a command checks its own, saying why),
/// `names` are the ones shown and completed.
fn socket_type(names: &'static [&'static str]) -> Names<SocketType> {
    Names {
        names,
        parse: parse_type,
    }
}

const FORMATS: Names<Format> = Names {
    names: &["text", "hex", "json"],
    parse: |f| {
        Format::parse(f).ok_or_else(|| format!("--format must be text, hex or json, not {f:?}"))
    },
};

const LIBS: Names<Lib> = Names {
    names: &["monocoque", "libzmq"],
    parse: |name| {
        Lib::parse(name).ok_or_else(|| format!("--lib must be monocoque or libzmq, not {name:?}"))
    },
};

const CASES: &[&str] = &["thr", "lat", "fanout"];
const TRANSPORTS: &[&str] = &["tcp", "ipc", "inproc"];

/// A whole number.
fn whole<T: std::str::FromStr>(
    name: &'static str,
) -> impl Fn(&str) -> Result<T, String> + Clone + Send + Sync + 'static {
    move |v| {
        v.parse()
            .map_err(|_| format!("{name} needs a whole number, not {v:?}"))
    }
}

/// Milliseconds.
fn millis(
    name: &'static str,
) -> impl Fn(&str) -> Result<Duration, String> + Clone + Send + Sync + 'static {
    let ms = whole::<u64>(name);
    move |v| ms(v).map(Duration::from_millis)
}

/// A CURVE key in Z85 (40 characters), by the library's own parser.
fn z85_key<K>(name: &'static str) -> impl Fn(&str) -> Result<K, String> + Clone + Send + Sync
where
    K: std::str::FromStr,
    K::Err: std::fmt::Display,
{
    move |v| {
        v.parse()
            .map_err(|e| format!("{name} needs a Z85 key: {e}"))
    }
}

fn user_pass(v: &str) -> Result<(String, String), String> {
    match v.split_once(':') {
        Some((user, pass)) => Ok((user.to_owned(), pass.to_owned())),
        None => Err(format!("--plain needs USER:PASS, not {v:?}")),
    }
}

/// One item of a comma-separated list (clap splits at the commas).
fn list_item<T: Clone + Send + Sync + 'static>(
    name: &'static str,
    names: &'static [&'static str],
    parse: fn(&str) -> Option<T>,
) -> impl TypedValueParser<Value = T> {
    ListItem { name, names, parse }
}

#[derive(Clone, Copy)]
struct ListItem<T: 'static> {
    name: &'static str,
    names: &'static [&'static str],
    parse: fn(&str) -> Option<T>,
}

impl<T: Clone + Send + Sync + 'static> TypedValueParser for ListItem<T> {
    type Value = T;

    fn parse_ref(
        &self,
        cmd: &clap::Command,
        arg: Option<&clap::Arg>,
        value: &OsStr,
    ) -> Result<T, clap::Error> {
        let (name, parse) = (self.name, self.parse);
        StringValueParser::new()
            .try_map(move |item: String| {
                parse(item.trim()).ok_or_else(|| format!("{name}: bad item {item:?}"))
            })
            .parse_ref(cmd, arg, value)
    }

    fn possible_values(&self) -> Option<Box<dyn Iterator<Item = PossibleValue> + '_>> {
        if self.names.is_empty() {
            return None;
        }
        Some(Box::new(self.names.iter().map(PossibleValue::new)))
    }
}

fn reps(v: &str) -> Result<usize, String> {
    match whole::<usize>("--reps")(v)? {
        0 => Err("--reps must be at least 1".to_owned()),
        n => Ok(n),
    }
}

fn size_arg(v: &str) -> Result<usize, String> {
    parse_size(v).ok_or_else(|| format!("bad SIZE {v:?}"))
}

fn count_arg(v: &str) -> Result<u64, String> {
    v.parse()
        .ok()
        .filter(|&c| c > 0)
        .ok_or_else(|| format!("bad COUNT {v:?}"))
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

// ---- parsing ----

/// The clap command `mq` parses with (and completion scripts describe).
pub(crate) fn command() -> clap::Command {
    Cli::command()
}

/// Parses the arguments after the program name.
pub(crate) fn parse(args: &[String]) -> Parsed<Command> {
    let line = normalize(args);
    let matches = match command()
        .try_get_matches_from(std::iter::once("mq").chain(line.iter().map(String::as_str)))
    {
        Ok(matches) => matches,
        Err(e) if matches!(e.kind(), ErrorKind::DisplayHelp | ErrorKind::DisplayVersion) => {
            return Ok(Command::Show(e.render().to_string()));
        }
        Err(e) => return Err(one_line(&e)),
    };
    let cli = Cli::from_arg_matches(&matches).map_err(|e| one_line(&e))?;
    let Some(sub) = cli.command else {
        return usage(
            "no subcommand (send, recv, reply, request, proxy, bench, keygen, completions; \
             try mq --help)",
        );
    };
    match sub {
        Sub::Send {
            ty,
            endpoints,
            frames,
            opts,
        } => socket_command("send", ty, &endpoints, frames, opts).map(Command::Send),
        Sub::Recv {
            ty,
            endpoints,
            opts,
        } => socket_command("recv", ty, &endpoints, Vec::new(), opts).map(Command::Recv),
        Sub::Reply {
            ty,
            endpoints,
            opts,
        } => socket_command("reply", ty, &endpoints, Vec::new(), opts).map(Command::Reply),
        Sub::Request {
            ty,
            endpoints,
            frames,
            opts,
        } => socket_command("request", ty, &endpoints, frames, opts).map(Command::Request),
        Sub::Proxy {
            frontend_ty,
            frontend,
            backend_ty,
            backend,
            capture,
            opts,
        } => {
            let capture = match capture.as_deref() {
                None => None,
                Some([ty, endpoints]) => {
                    let ty = parse_type(ty).map_err(UsageError)?;
                    Some(socket_spec(ty, endpoints)?)
                }
                Some(_) => return usage("--capture needs 2 value(s)"),
            };
            Ok(Command::Proxy(ProxyCommand {
                frontend: socket_spec(frontend_ty, &frontend)?,
                backend: socket_spec(backend_ty, &backend)?,
                capture,
                opts: socket_args(opts)?,
            }))
        }
        Sub::Bench(bench) => {
            let Some(("bench", given)) = matches.subcommand() else {
                unreachable!("clap matched bench");
            };
            parse_bench(bench, given)
        }
        Sub::Keygen => Ok(Command::Keygen),
        Sub::Completions { shell } => Ok(Command::Completions(shell)),
    }
}

/// The line as clap takes it: the options written before the subcommand
/// moved to just after it, so that `mq --count 3 send ...` means
/// `mq send --count 3 ...` (options stand anywhere), and an option of two
/// values written `--capture=TYPE ENDPOINTS` split at its `=`. How many
/// values each option takes is clap's own declaration.
fn normalize(args: &[String]) -> Vec<String> {
    let mut cmd = command();
    cmd.build();
    let values_of = |long: &str| {
        cmd.get_subcommands()
            .flat_map(clap::Command::get_arguments)
            .find(|a| a.get_long() == Some(long))
            .map(|a| match a.get_action().takes_values() {
                true => a.get_num_args().map_or(1, |n| n.min_values()),
                false => 0,
            })
    };
    let mut line = Vec::with_capacity(args.len() + 1);
    let mut positionals = 0;
    let mut rest = args.iter();
    while let Some(arg) = rest.next() {
        if arg == "--" {
            line.push(arg.clone());
            break;
        }
        if let Some(body) = arg.strip_prefix("--") {
            let (name, inline) = match body.split_once('=') {
                Some((name, value)) => (name, Some(value)),
                None => (body, None),
            };
            let values = values_of(name).unwrap_or(0);
            match inline {
                Some(value) if values > 1 => {
                    line.push(format!("--{name}"));
                    line.push(value.to_owned());
                    line.extend(rest.by_ref().take(values - 1).cloned());
                }
                Some(_) => line.push(arg.clone()),
                None => {
                    line.push(arg.clone());
                    line.extend(rest.by_ref().take(values).cloned());
                }
            }
            continue;
        }
        if positionals == 0 && !line.is_empty() && cmd.find_subcommand(arg).is_some() {
            line.insert(0, arg.clone());
        } else {
            line.push(arg.clone());
        }
        positionals += usize::from(!arg.starts_with('-') || arg == "-");
    }
    line.extend(rest.cloned());
    line
}

/// clap's error as one line: a value's own message as it is; otherwise
/// clap's text with its blocks (what, tip, usage) joined.
fn one_line(e: &clap::Error) -> UsageError {
    if e.kind() == ErrorKind::ValueValidation {
        if let Some(source) = e.source() {
            return UsageError(source.to_string());
        }
    }
    if e.kind() == ErrorKind::InvalidSubcommand {
        if let Some(ContextValue::String(name)) = e.get(ContextKind::InvalidSubcommand) {
            let in_bench = matches!(
                e.get(ContextKind::Usage),
                Some(ContextValue::StyledStr(u)) if u.to_string().contains("mq bench")
            );
            let mut msg = match in_bench {
                true => format!(
                    "unknown bench role {name:?} (local-thr, remote-thr, local-lat, remote-lat)"
                ),
                false => format!(
                    "unknown subcommand {name:?} (send, recv, reply, request, proxy, bench, \
                     keygen, completions)"
                ),
            };
            if let Some(ContextValue::Strings(like)) = e.get(ContextKind::SuggestedSubcommand) {
                msg.push_str(&format!("; did you mean {}?", like.join(" or ")));
            }
            return UsageError(msg);
        }
    }
    let text = e.render().to_string();
    let blocks: Vec<String> = text
        .split("\n\n")
        .map(|block| {
            block
                .lines()
                .map(str::trim)
                .filter(|l| !l.is_empty())
                .collect::<Vec<_>>()
                .join(" ")
        })
        .filter(|b| !b.is_empty() && !b.starts_with("For more information"))
        .map(|b| match b.strip_prefix("error: ") {
            Some(rest) => rest.to_owned(),
            None => match b.strip_prefix("Usage: ") {
                Some(rest) => format!("usage: {rest}"),
                None => b,
            },
        })
        .collect();
    UsageError(blocks.join("; "))
}

fn socket_spec(ty: SocketType, endpoints: &str) -> Parsed<SocketSpec> {
    let endpoints = parse_endpoints(endpoints, ty).map_err(UsageError)?;
    Ok(SocketSpec { ty, endpoints })
}

fn socket_command(
    sub: &str,
    ty: SocketType,
    endpoints: &str,
    frames: Vec<String>,
    opts: SocketOpts,
) -> Parsed<SocketCommand> {
    let opts = socket_args(opts)?;
    let socket = socket_spec(ty, endpoints)?;
    check_socket_type(sub, ty)?;
    Ok(SocketCommand {
        socket,
        frames,
        opts,
    })
}

/// Which types each subcommand can use.
fn check_socket_type(sub: &str, ty: SocketType) -> Parsed<()> {
    use SocketType::*;
    let ok = match sub {
        "send" => !matches!(ty, Sub | Pull | Rep),
        "recv" => !matches!(ty, Pub | Push | Req | Rep),
        "reply" => matches!(ty, Rep | Router | Dealer | Pair | Stream),
        _ => matches!(ty, Req | Dealer | Pair | Router | Stream),
    };
    if ok {
        return Ok(());
    }
    let hint = match sub {
        "send" => "",
        "recv" => " (use `mq reply` for rep)",
        "reply" => " (rep, router, dealer, pair or stream)",
        _ => " (req, dealer, pair, router or stream)",
    };
    usage(format!(
        "`mq {sub}` cannot use a {} socket{hint}",
        type_name(ty)
    ))
}

/// The CURVE options, checked against each other.
fn curve_args(opts: &mut SocketOpts) -> Parsed<Option<Curve>> {
    let allow = std::mem::take(&mut opts.curve_allow);
    let secret = opts.curve_secret.take();
    match (opts.curve_server.take(), opts.curve_serverkey.take()) {
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

fn socket_args(mut opts: SocketOpts) -> Parsed<SocketArgs> {
    let curve = curve_args(&mut opts)?;
    if curve.is_some() && (opts.plain.is_some() || opts.plain_server) {
        return usage("--plain and --curve-* cannot be combined: a socket has one mechanism");
    }
    Ok(SocketArgs {
        count: opts.count,
        timeout: opts.timeout,
        subscribe: opts.subscribe,
        identity: opts.identity,
        hwm: opts.hwm,
        maxmsgsize: opts.maxmsgsize,
        linger: opts.linger,
        heartbeat: opts.heartbeat,
        plain_server: opts.plain_server,
        plain: opts.plain,
        monitor: opts.monitor,
        wait_peers: opts.wait_peers,
        codec: LineCodec::new(opts.format, unescape_sep(&opts.sep)),
        curve,
    })
}

fn parse_bench(bench: BenchCli, given: &ArgMatches) -> Parsed<Command> {
    let Some(role_cli) = bench.role else {
        if bench.libzmq_perf.is_some() && !bench.curve {
            return usage("--libzmq-perf goes with --curve (the program for libzmq's CURVE rows)");
        }
        return Ok(Command::Bench(BenchArgs {
            cases: bench.cases,
            transports: bench.transports,
            sizes: bench.sizes,
            subscribers: bench.subscribers,
            count: bench.count,
            reps: bench.reps,
            json: bench.json,
            svg: bench.svg,
            libs: match bench.lib {
                Some(lib) => vec![lib],
                None => BenchArgs::default().libs,
            },
            curve: bench.curve,
            libzmq_perf: bench.libzmq_perf,
        }));
    };
    let (role, args) = match role_cli {
        RoleCli::LocalThr(a) => (PerfRole::LocalThr, a),
        RoleCli::RemoteThr(a) => (PerfRole::RemoteThr, a),
        RoleCli::LocalLat(a) => (PerfRole::LocalLat, a),
        RoleCli::RemoteLat(a) => (PerfRole::RemoteLat, a),
    };
    // The table's options before the role (`mq bench --json local-thr ...`):
    // clap takes them as `mq bench`'s; a perf role has none of them.
    let cmd = command();
    let table: Vec<&clap::Arg> = cmd
        .find_subcommand("bench")
        .map(|c| c.get_arguments().collect())
        .unwrap_or_default();
    let table_option = given
        .ids()
        .filter(|id| given.value_source(id.as_str()) == Some(ValueSource::CommandLine))
        .filter_map(|id| table.iter().find(|a| a.get_id() == id)?.get_long())
        .find(|&long| long != "lib");
    if let Some(long) = table_option {
        return usage(format!(
            "--{long} is not an option of `mq bench {}`",
            role.name()
        ));
    }
    let curve = match args.curve.as_deref() {
        None => false,
        Some("curve") => true,
        Some(_) => {
            return usage(format!(
                "usage: mq bench {} ENDPOINT SIZE COUNT [curve]",
                role.name()
            ))
        }
    };
    Ok(Command::Perf(PerfArgs {
        role,
        endpoint: args.endpoint,
        size: args.size,
        count: args.count,
        lib: args.lib.or(bench.lib),
        curve,
    }))
}

#[cfg(test)]
mod tests {
    use super::*;

    fn parse_line(line: &str) -> Parsed<Command> {
        let args: Vec<String> = line.split_whitespace().map(str::to_owned).collect();
        parse(&args)
    }

    #[track_caller]
    fn error(line: &str) -> String {
        match parse_line(line) {
            Err(UsageError(msg)) => msg,
            Ok(cmd) => panic!("{line:?} parsed: {cmd:?}"),
        }
    }

    #[test]
    fn clap_s_declaration_is_consistent() {
        command().debug_assert();
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
        // Before the subcommand, too; the last of a repeated option wins.
        let Ok(Command::Send(cmd)) =
            parse_line("--count 3 --timeout=7 send push @tcp://127.0.0.1:1 a --count 4")
        else {
            panic!("not a send");
        };
        assert_eq!(cmd.frames, ["a"]);
        assert_eq!(cmd.opts.count, Some(4));
        assert_eq!(cmd.opts.timeout, Some(Duration::from_millis(7)));
        // An option's value may begin with `-` (a Z85 key can).
        let Ok(Command::Recv(cmd)) = parse_line("recv sub tcp://127.0.0.1:1 --subscribe -x") else {
            panic!("not a recv");
        };
        assert_eq!(cmd.opts.subscribe, ["-x"]);
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
            "send push tcp://127.0.0.1:1 --monitor=yes",
            "keygen extra",
            "completions tcsh",
            "bench --timeout 5",
            "bench local-thr tcp://127.0.0.1:1 64",
            "bench local-thr tcp://127.0.0.1:1 64 0",
            "bench local-thr tcp://127.0.0.1:1 64 10 curve extra",
            "bench fly",
            "bench --libzmq-perf /usr/bin/zperf",
            "bench --curve=yes",
            "bench local-thr tcp://127.0.0.1:1 64 10 --curve",
            "bench --json local-thr tcp://127.0.0.1:1 64 10",
            "proxy router @tcp://127.0.0.1:1 dealer",
            "proxy router @tcp://127.0.0.1:1 dealer @tcp://127.0.0.1:2 --capture pub",
        ] {
            let msg = error(line);
            assert!(!msg.is_empty() && !msg.contains('\n'), "{line:?}: {msg:?}");
        }
    }

    #[test]
    fn usage_messages_scripts_see() {
        for (line, msg) in [
            (
                "send push tcp://127.0.0.1:1 --count many",
                "--count needs a whole number, not \"many\"",
            ),
            (
                "send push tcp://127.0.0.1:1 --format=yaml",
                "--format must be text, hex or json, not \"yaml\"",
            ),
            (
                "send pish tcp://127.0.0.1:1",
                "unknown socket type \"pish\" (one of: pair pub sub xpub xsub req rep dealer \
                 router push pull stream)",
            ),
            (
                "recv rep tcp://127.0.0.1:1",
                "`mq recv` cannot use a rep socket (use `mq reply` for rep)",
            ),
            (
                "recv pull @tcp://127.0.0.1:1 --curve-server K",
                "--curve-server needs a Z85 key: ",
            ),
            (
                "send push tcp://127.0.0.1:1 --plain nopassword",
                "--plain needs USER:PASS, not \"nopassword\"",
            ),
            ("frobnicate", "unknown subcommand \"frobnicate\" (send, "),
            ("bench fly", "unknown bench role \"fly\" (local-thr, "),
            ("bench --cases thr,speed", "--cases: bad item \"speed\""),
            ("bench --reps 0", "--reps must be at least 1"),
            (
                "bench --lib czmq",
                "--lib must be monocoque or libzmq, not \"czmq\"",
            ),
            (
                "bench --libzmq-perf /bin/true",
                "--libzmq-perf goes with --curve",
            ),
            ("bench remote-thr tcp://127.0.0.1:1 64 0", "bad COUNT \"0\""),
            ("bench remote-thr tcp://127.0.0.1:1 6x 1", "bad SIZE \"6x\""),
            (
                "bench local-lat tcp://127.0.0.1:1 64 1 cruve",
                "usage: mq bench local-lat ENDPOINT SIZE COUNT [curve]",
            ),
            (
                "bench --sizes 64 local-lat tcp://127.0.0.1:1 64 1",
                "--sizes is not an option of `mq bench local-lat`",
            ),
            (
                "send push tcp://127.0.0.1:1 -x",
                "unexpected argument '-x' found; tip: to pass '-x' as a value, use '-- -x'; \
                 usage: mq send",
            ),
            (
                "bench local-thr tcp://127.0.0.1:1 64",
                "the following required arguments were not provided: <COUNT>; usage: mq bench \
                 local-thr",
            ),
        ] {
            let got = error(line);
            assert!(got.starts_with(msg), "{line:?}: {got:?}, not {msg:?}");
        }
    }

    #[test]
    fn help_and_version_are_shown() {
        for line in [
            "--help",
            "-h",
            "help",
            "send --help",
            "help bench",
            "--version",
        ] {
            let Ok(Command::Show(text)) = parse_line(line) else {
                panic!("{line:?}: no text");
            };
            assert!(!text.is_empty() && !text.contains('\x1b'), "{line:?}");
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
        // `--capture=TYPE ENDPOINTS`, and before the subcommand.
        let Ok(Command::Proxy(p)) =
            parse_line("--capture=pull inproc://cap proxy router tcp://*:1 dealer tcp://*:2")
        else {
            panic!("not a proxy");
        };
        assert_eq!(p.capture.map(|c| c.ty), Some(SocketType::Pull));
    }

    #[test]
    fn socket_defaults() {
        let Ok(Command::Recv(cmd)) = parse_line("recv pull tcp://127.0.0.1:1") else {
            panic!("not a recv");
        };
        assert_eq!(cmd.opts.codec, LineCodec::default());
        assert_eq!(cmd.opts.count, None);
        assert_eq!(cmd.opts.curve, None);
    }

    #[test]
    fn bench_roles_and_flags() {
        let Ok(Command::Perf(p)) = parse_line("bench remote-lat tcp://127.0.0.1:5 1k 100") else {
            panic!("not a perf role");
        };
        assert_eq!((p.role, p.size, p.count), (PerfRole::RemoteLat, 1024, 100));
        assert_eq!(p.lib, None);
        let Ok(Command::Perf(p)) =
            parse_line("bench --lib libzmq remote-lat tcp://127.0.0.1:5 1k 100")
        else {
            panic!("not a perf role");
        };
        assert_eq!(p.lib, Some(Lib::Libzmq));
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
        // A list given twice: the last one.
        let Ok(Command::Bench(b)) = parse_line("bench --cases thr --cases lat,fanout") else {
            panic!("not a bench");
        };
        assert_eq!(b.cases, [Case::Lat, Case::Fanout]);
    }

    #[test]
    fn bench_defaults_are_bench_args_defaults() {
        let Ok(Command::Bench(b)) = parse_line("bench") else {
            panic!("not a bench");
        };
        assert_eq!(b, BenchArgs::default());
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
