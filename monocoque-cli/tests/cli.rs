//! The `mq` binary against libzmq peers (the `zmq` crate, vendored libzmq)
//! and against itself: every subcommand, each socket type it accepts, the
//! formats, and the exit status (DESIGN section 8).

#![allow(clippy::unwrap_used)] // tests fail loudly

use std::io::{BufRead, BufReader, Read, Write};
use std::net::TcpListener;
use std::process::{Child, Command, ExitStatus, Output, Stdio};
use std::sync::mpsc;
use std::thread;
use std::time::{Duration, Instant};

const MQ: &str = env!("CARGO_BIN_EXE_mq");
/// No test waits on `mq` longer than this; a hang fails the test.
const WATCHDOG: Duration = Duration::from_secs(20);

fn mq(args: &[&str]) -> Command {
    let mut cmd = Command::new(MQ);
    cmd.args(args)
        .stdin(Stdio::null())
        .stdout(Stdio::piped())
        .stderr(Stdio::piped());
    cmd
}

/// A running `mq`, killed if the test ends first.
struct Running(Child);

impl Running {
    fn start(args: &[&str]) -> Running {
        Running(mq(args).spawn().expect("start mq"))
    }

    fn start_with_stdin(args: &[&str], input: &str) -> Running {
        let mut child = mq(args).stdin(Stdio::piped()).spawn().expect("start mq");
        let mut stdin = child.stdin.take().unwrap();
        let input = input.to_owned();
        thread::spawn(move || {
            let _ = stdin.write_all(input.as_bytes());
        });
        Running(child)
    }

    fn finish(mut self) -> Output {
        let start = Instant::now();
        loop {
            if let Some(status) = self.0.try_wait().unwrap() {
                return collect(&mut self.0, status);
            }
            assert!(start.elapsed() < WATCHDOG, "mq did not exit");
            thread::sleep(Duration::from_millis(5));
        }
    }
}

impl Drop for Running {
    fn drop(&mut self) {
        let _ = self.0.kill();
        let _ = self.0.wait();
    }
}

fn collect(child: &mut Child, status: ExitStatus) -> Output {
    let mut stdout = Vec::new();
    let mut stderr = Vec::new();
    child
        .stdout
        .take()
        .unwrap()
        .read_to_end(&mut stdout)
        .unwrap();
    child
        .stderr
        .take()
        .unwrap()
        .read_to_end(&mut stderr)
        .unwrap();
    Output {
        status,
        stdout,
        stderr,
    }
}

fn run(args: &[&str]) -> Output {
    Running::start(args).finish()
}

fn stdout(out: &Output) -> String {
    String::from_utf8_lossy(&out.stdout).into_owned()
}

fn stderr(out: &Output) -> String {
    String::from_utf8_lossy(&out.stderr).into_owned()
}

#[track_caller]
fn assert_exit(out: &Output, code: i32) {
    assert_eq!(
        out.status.code(),
        Some(code),
        "stdout: {}\nstderr: {}",
        stdout(out),
        stderr(out)
    );
}

/// A loopback port nobody listens on right now.
fn free_port() -> u16 {
    TcpListener::bind("127.0.0.1:0")
        .unwrap()
        .local_addr()
        .unwrap()
        .port()
}

fn tcp() -> String {
    format!("tcp://127.0.0.1:{}", free_port())
}

fn zsocket(ctx: &zmq::Context, ty: zmq::SocketType) -> zmq::Socket {
    let s = ctx.socket(ty).unwrap();
    s.set_linger(1000).unwrap();
    s.set_rcvtimeo(10_000).unwrap();
    s.set_sndtimeo(10_000).unwrap();
    s
}

/// libzmq binds on an ephemeral port; returns the endpoint.
fn zbind(s: &zmq::Socket) -> String {
    s.bind("tcp://127.0.0.1:*").unwrap();
    s.get_last_endpoint().unwrap().unwrap()
}

fn zrecv(s: &zmq::Socket) -> Vec<Vec<u8>> {
    s.recv_multipart(0).expect("libzmq recv")
}

// ---- usage errors (exit 2) and runtime failures (exit 1) ----

#[test]
fn usage_errors_exit_2_with_one_line() {
    for args in [
        &["send", "pish", "tcp://127.0.0.1:5555", "x"][..],
        &["send", "push", "udp://127.0.0.1:5555", "x"],
        &["recv", "pull", "tcp://127.0.0.1"],
        &["recv", "pull", "@tcp://127.0.0.1:5555", "--bogus"],
        &["send", "push", "tcp://127.0.0.1:5555", "-x"],
        &["send", "push", "tcp://127.0.0.1:5555", "--count", "many"],
        &["send", "push", "tcp://127.0.0.1:5555", "--format", "yaml"],
        &[
            "send",
            "push",
            "tcp://127.0.0.1:5555",
            "--format",
            "hex",
            "zz",
        ],
        &[
            "send",
            "push",
            "tcp://127.0.0.1:5555",
            "--format",
            "json",
            "notjson",
        ],
        &[
            "send",
            "push",
            "tcp://127.0.0.1:5555",
            "--curve-serverkey",
            "K",
            "x",
        ],
        &[
            "recv",
            "pull",
            "@tcp://127.0.0.1:5555",
            "--curve-server",
            "K",
        ],
        &["send", "pull", "tcp://127.0.0.1:5555", "x"],
        &["frobnicate"],
        &[],
    ] {
        let out = run(args);
        assert_exit(&out, 2);
        assert_eq!(
            stderr(&out).lines().count(),
            1,
            "{args:?}: {}",
            stderr(&out)
        );
        assert!(stdout(&out).is_empty());
    }
    let out = run(&[
        "recv",
        "pull",
        "@tcp://127.0.0.1:5555",
        "--curve-server",
        "K",
    ]);
    assert!(
        stderr(&out).contains("--curve-server needs a Z85 key"),
        "{}",
        stderr(&out)
    );
}

#[test]
fn unreachable_peer_with_timeout_exits_1() {
    // Nobody listens on port 1: connections are refused, and retried.
    let dead = "tcp://127.0.0.1:1".to_owned();
    // pull binds by default (on port 1, as root): connect, as the others do.
    let dead_connect = format!(">{dead}");
    let lonely = format!("@{}", tcp());
    for args in [
        &["send", "push", dead.as_str(), "x", "--timeout", "200"][..],
        &["request", "req", dead.as_str(), "x", "--timeout", "200"],
        &[
            "request",
            "dealer",
            dead.as_str(),
            "",
            "x",
            "--timeout",
            "200",
        ],
        &["recv", "pull", &dead_connect, "--timeout", "200"],
        &[
            "send",
            "pub",
            &lonely,
            "x",
            "--wait-peers",
            "1",
            "--timeout",
            "200",
        ],
    ] {
        let t = Instant::now();
        let out = run(args);
        assert_exit(&out, 1);
        assert!(
            stderr(&out).contains("timed out"),
            "{args:?}: {}",
            stderr(&out)
        );
        assert_eq!(stderr(&out).lines().count(), 1);
        assert!(t.elapsed() < Duration::from_secs(5));
    }
}

#[test]
fn bind_in_use_exits_1() {
    let taken = TcpListener::bind("127.0.0.1:0").unwrap();
    let ep = format!("@tcp://{}", taken.local_addr().unwrap());
    let out = run(&["recv", "pull", &ep, "--timeout", "100"]);
    assert_exit(&out, 1);
    assert!(
        stderr(&out).starts_with("mq: cannot bind"),
        "{}",
        stderr(&out)
    );
}

#[test]
fn help_and_version() {
    let out = run(&["--help"]);
    assert_exit(&out, 0);
    assert!(stdout(&out).contains("mq send"));
    assert_exit(&run(&["--version"]), 0);
}

// ---- keygen ----

fn z85_decode(text: &str) -> Vec<u8> {
    const Z85: &[u8] =
        b"0123456789abcdefghijklmnopqrstuvwxyzABCDEFGHIJKLMNOPQRSTUVWXYZ.-:+=^!/*?&<>()[]{}@%$#";
    text.as_bytes()
        .chunks(5)
        .flat_map(|c| {
            let v = c.iter().fold(0u32, |v, &d| {
                v * 85 + Z85.iter().position(|&z| z == d).unwrap() as u32
            });
            v.to_be_bytes()
        })
        .collect()
}

#[test]
fn keygen_prints_a_curve_key_pair() {
    let out = run(&["keygen"]);
    assert_exit(&out, 0);
    let text = stdout(&out);
    let lines: Vec<&str> = text.lines().collect();
    assert_eq!(lines.len(), 2);
    assert!(lines.iter().all(|l| l.len() == 40));
    let public: [u8; 32] = z85_decode(lines[0]).try_into().unwrap();
    let secret: [u8; 32] = z85_decode(lines[1]).try_into().unwrap();
    assert_eq!(
        x25519_dalek::x25519(secret, x25519_dalek::X25519_BASEPOINT_BYTES),
        public
    );
    assert_ne!(stdout(&run(&["keygen"])), text);
}

// ---- send ----

#[test]
fn send_push_to_libzmq_pull_frames_count_and_dashdash() {
    let ctx = zmq::Context::new();
    let pull = zsocket(&ctx, zmq::PULL);
    let ep = zbind(&pull);
    let out = run(&["send", "--count", "2", "push", &ep, "a", "b", "--", "-c"]);
    assert_exit(&out, 0);
    for _ in 0..2 {
        assert_eq!(zrecv(&pull), [b"a".to_vec(), b"b".to_vec(), b"-c".to_vec()]);
    }
}

#[test]
fn send_formats_hex_and_json() {
    let ctx = zmq::Context::new();
    let pull = zsocket(&ctx, zmq::PULL);
    let ep = zbind(&pull);
    assert_exit(
        &run(&["send", "push", &ep, "--format", "hex", "00ff", "", "4869"]),
        0,
    );
    assert_eq!(zrecv(&pull), [vec![0, 255], vec![], b"Hi".to_vec()]);
    let out = run(&[
        "send",
        "push",
        &ep,
        "--format=json",
        r#""t\tx""#,
        r#"{"hex": "0001"}"#,
    ]);
    assert_exit(&out, 0);
    assert_eq!(zrecv(&pull), [b"t\tx".to_vec(), vec![0, 1]]);
}

#[test]
fn send_reads_stdin_lines_with_sep_and_count() {
    let ctx = zmq::Context::new();
    let pull = zsocket(&ctx, zmq::PULL);
    let ep = zbind(&pull);
    let out = Running::start_with_stdin(&["send", "push", &ep], "a\tb\nc\n").finish();
    assert_exit(&out, 0);
    assert_eq!(zrecv(&pull), [b"a".to_vec(), b"b".to_vec()]);
    assert_eq!(zrecv(&pull), [b"c".to_vec()]);
    let args = ["send", "push", &ep, "--sep", "|", "--count", "1"];
    let out = Running::start_with_stdin(&args, "x|y\nnot sent\n").finish();
    assert_exit(&out, 0);
    assert_eq!(zrecv(&pull), [b"x".to_vec(), b"y".to_vec()]);
    let args = ["send", "push", &ep, "--format", "json"];
    let out = Running::start_with_stdin(&args, "[\"j\", {\"hex\": \"ff\"}]\n").finish();
    assert_exit(&out, 0);
    assert_eq!(zrecv(&pull), [b"j".to_vec(), vec![255]]);
    pull.set_rcvtimeo(200).unwrap();
    assert!(pull.recv_multipart(0).is_err(), "--count capped the lines");
}

#[test]
fn send_pub_waits_for_subscribers() {
    let ctx = zmq::Context::new();
    let port = free_port();
    let sub = zsocket(&ctx, zmq::SUB);
    sub.set_subscribe(b"news").unwrap();
    sub.connect(&format!("tcp://127.0.0.1:{port}")).unwrap();
    let ep = format!("tcp://127.0.0.1:{port}");
    let args = [
        "send",
        "pub",
        &ep,
        "news",
        "today",
        "--wait-peers",
        "1",
        "--timeout",
        "5000",
    ];
    assert_exit(&run(&args), 0);
    assert_eq!(zrecv(&sub), [b"news".to_vec(), b"today".to_vec()]);
}

#[test]
fn send_dealer_with_identity_to_libzmq_router() {
    let ctx = zmq::Context::new();
    let router = zsocket(&ctx, zmq::ROUTER);
    let ep = zbind(&router);
    let args = [
        "send",
        "dealer",
        &ep,
        "hi",
        "--identity",
        "me",
        "--hwm",
        "10",
        "--heartbeat",
        "100",
        "--linger",
        "500",
    ];
    assert_exit(&run(&args), 0);
    assert_eq!(zrecv(&router), [b"me".to_vec(), b"hi".to_vec()]);
}

#[test]
fn send_pair() {
    let ctx = zmq::Context::new();
    let pair = zsocket(&ctx, zmq::PAIR);
    let ep = zbind(&pair);
    assert_exit(&run(&["send", "pair", &ep, "p"]), 0);
    assert_eq!(zrecv(&pair), [b"p".to_vec()]);
}

#[test]
fn send_xsub_subscription_to_libzmq_xpub() {
    // xsub sends subscriptions as messages: libzmq's XPUB sees them.
    let ctx = zmq::Context::new();
    let xpub = zsocket(&ctx, zmq::XPUB);
    let ep = zbind(&xpub);
    assert_exit(&run(&["send", "xsub", &ep, "--format", "hex", "0174"]), 0);
    assert_eq!(zrecv(&xpub), [b"\x01t".to_vec()]);
}

// ---- recv ----

/// Starts `mq recv ...` binding `ep`, then lets libzmq send to it.
fn recv_from_libzmq(ty: zmq::SocketType, args: &[&str], ep: &str, msgs: &[&[&[u8]]]) -> Output {
    let running = Running::start(args);
    let ctx = zmq::Context::new();
    let s = zsocket(&ctx, ty);
    s.connect(ep).unwrap();
    for msg in msgs {
        s.send_multipart(msg.iter(), 0).unwrap();
    }
    running.finish()
}

#[test]
fn recv_pull_prints_lines_in_each_format() {
    let msgs: &[&[&[u8]]] = &[&[b"a", b"b"], &[b"\x00\xff", b""]];
    let ep = tcp();
    let bound = format!("@{ep}");
    let out = recv_from_libzmq(
        zmq::PUSH,
        &["recv", "pull", &bound, "--count", "2"],
        &ep,
        msgs,
    );
    assert_exit(&out, 0);
    assert_eq!(out.stdout, b"a\tb\n\x00\xff\t\n");

    let ep = tcp();
    let args = [
        "recv", "pull", &ep, "--count", "2", "--format", "hex", "--sep", ",",
    ];
    let out = recv_from_libzmq(zmq::PUSH, &args, &ep, msgs);
    assert_exit(&out, 0);
    assert_eq!(stdout(&out), "61,62\n00ff,\n");

    let ep = tcp();
    let args = ["recv", "pull", &ep, "--count", "2", "--format", "json"];
    let out = recv_from_libzmq(zmq::PUSH, &args, &ep, msgs);
    assert_exit(&out, 0);
    assert_eq!(stdout(&out), "[\"a\",\"b\"]\n[{\"hex\":\"00ff\"},\"\"]\n");

    let ep = tcp();
    let args = ["recv", "pull", &ep, "--count", "1", "--sep", "\\n"];
    let out = recv_from_libzmq(zmq::PUSH, &args, &ep, msgs);
    assert_eq!(stdout(&out), "a\nb\n");
}

#[test]
fn recv_flushes_each_line_at_once() {
    let ep = tcp();
    let mut running = Running::start(&["recv", "pull", &format!("@{ep}")]);
    let ctx = zmq::Context::new();
    let push = zsocket(&ctx, zmq::PUSH);
    push.connect(&ep).unwrap();
    push.send("first", 0).unwrap();
    let mut reader = BufReader::new(running.0.stdout.take().unwrap());
    let mut line = String::new();
    reader.read_line(&mut line).unwrap();
    assert_eq!(line, "first\n");
    assert!(running.0.try_wait().unwrap().is_none(), "still receiving");
}

#[test]
fn recv_sub_filters_on_subscribe() {
    let ctx = zmq::Context::new();
    let publisher = zsocket(&ctx, zmq::PUB);
    let ep = zbind(&publisher);
    let running = Running::start(&[
        "recv",
        "sub",
        &ep,
        "--subscribe",
        "a",
        "--subscribe",
        "c",
        "--count",
        "4",
    ]);
    // The slow joiner: publish until mq has what it wanted.
    while !running.exited() {
        for topic in ["a1", "b1", "c1"] {
            publisher.send(topic, 0).unwrap();
        }
        thread::sleep(Duration::from_millis(5));
    }
    let out = running.finish();
    assert_exit(&out, 0);
    let text = stdout(&out);
    assert_eq!(text.lines().count(), 4);
    assert!(text.lines().all(|l| l == "a1" || l == "c1"), "{text}");
}

impl Running {
    fn exited(&self) -> bool {
        // A zombie still has /proc/PID; look at its state instead.
        std::fs::read_to_string(format!("/proc/{}/stat", self.0.id()))
            .map(|s| {
                s.rsplit_once(')')
                    .is_some_and(|(_, r)| r.trim_start().starts_with('Z'))
            })
            .unwrap_or(true)
    }
}

#[test]
fn recv_xsub_and_xpub() {
    let ctx = zmq::Context::new();
    let publisher = zsocket(&ctx, zmq::PUB);
    let ep = zbind(&publisher);
    let running = Running::start(&["recv", "xsub", &ep, "--count", "1"]);
    while !running.exited() {
        publisher.send("all", 0).unwrap();
        thread::sleep(Duration::from_millis(5));
    }
    let out = running.finish();
    assert_exit(&out, 0);
    assert_eq!(stdout(&out), "all\n");

    // xpub prints the subscriptions it receives.
    let ep = tcp();
    let running = Running::start(&["recv", "xpub", &ep, "--count", "1", "--format", "hex"]);
    let sub = zsocket(&ctx, zmq::SUB);
    sub.set_subscribe(b"topic").unwrap();
    sub.connect(&ep).unwrap();
    let out = running.finish();
    assert_exit(&out, 0);
    assert_eq!(stdout(&out), "01746f706963\n");
}

#[test]
fn recv_router_dealer_and_pair() {
    let ep = tcp();
    let running = Running::start(&["recv", "router", &ep, "--count", "1"]);
    let ctx = zmq::Context::new();
    let dealer = zsocket(&ctx, zmq::DEALER);
    dealer.set_identity(b"id7").unwrap();
    dealer.connect(&ep).unwrap();
    dealer.send("x", 0).unwrap();
    assert_eq!(stdout(&running.finish()), "id7\tx\n");

    let ep = tcp();
    let out = recv_from_libzmq(
        zmq::PAIR,
        &["recv", "pair", &format!("@{ep}"), "--count", "1"],
        &ep,
        &[&[b"pp"]],
    );
    assert_eq!(stdout(&out), "pp\n");
}

// ---- reply and request ----

#[test]
fn reply_rep_echoes_libzmq_req() {
    let ep = tcp();
    let running = Running::start(&["reply", "rep", &ep, "--count", "2"]);
    let ctx = zmq::Context::new();
    let req = zsocket(&ctx, zmq::REQ);
    req.connect(&ep).unwrap();
    for word in ["ping", "pong"] {
        req.send(word, 0).unwrap();
        assert_eq!(zrecv(&req), [word.as_bytes().to_vec()]);
    }
    let out = running.finish();
    assert_exit(&out, 0);
    assert_eq!(stdout(&out), "ping\npong\n");
}

#[test]
fn reply_router_keeps_the_envelope() {
    let ep = tcp();
    let running = Running::start(&["reply", "router", &ep, "--count", "1", "--format", "hex"]);
    let ctx = zmq::Context::new();
    let dealer = zsocket(&ctx, zmq::DEALER);
    dealer.set_identity(b"A").unwrap();
    dealer.connect(&ep).unwrap();
    dealer.send_multipart([&b""[..], b"hi"], 0).unwrap();
    assert_eq!(zrecv(&dealer), [b"".to_vec(), b"hi".to_vec()]);
    assert_eq!(stdout(&running.finish()), "41,,6869\n".replace(',', "\t"));
}

#[test]
fn reply_stream_echoes_raw_tcp() {
    let port = free_port();
    let ep = format!("@tcp://127.0.0.1:{port}");
    let running = Running::start(&["reply", "stream", &ep, "--count", "1", "--format", "hex"]);
    let mut conn = loop {
        match std::net::TcpStream::connect(("127.0.0.1", port)) {
            Ok(c) => break c,
            Err(_) => thread::sleep(Duration::from_millis(10)),
        }
    };
    conn.set_read_timeout(Some(WATCHDOG)).unwrap();
    conn.write_all(b"raw bytes").unwrap();
    let mut back = [0u8; 9];
    conn.read_exact(&mut back).unwrap();
    assert_eq!(&back, b"raw bytes");
    let out = running.finish();
    assert_exit(&out, 0);
    assert!(
        stdout(&out).ends_with("\t726177206279746573\n"),
        "{}",
        stdout(&out)
    );
}

#[test]
fn request_req_and_dealer_against_libzmq_rep() {
    let ctx = zmq::Context::new();
    let rep = zsocket(&ctx, zmq::REP);
    let ep = zbind(&rep);
    let server = thread::spawn(move || {
        for _ in 0..3 {
            let mut msg = zrecv(&rep);
            msg.push(b"ok".to_vec());
            rep.send_multipart(msg, 0).unwrap();
        }
    });
    let out = run(&["request", "req", &ep, "hello", "--timeout", "5000"]);
    assert_exit(&out, 0);
    assert_eq!(stdout(&out), "hello\tok\n");
    // dealer: the empty delimiter is ours to add, and comes back.
    let out = run(&["request", "dealer", &ep, "", "hi"]);
    assert_exit(&out, 0);
    assert_eq!(stdout(&out), "\thi\tok\n");
    // Without FRAMEs, requests come from stdin.
    let out = Running::start_with_stdin(&["request", "req", &ep], "line\n").finish();
    assert_exit(&out, 0);
    assert_eq!(stdout(&out), "line\tok\n");
    server.join().unwrap();
}

#[test]
fn request_and_reply_with_mq_on_both_ends() {
    let ep = tcp();
    let server = Running::start(&["reply", "rep", &ep, "--count", "3"]);
    for word in ["one", "two"] {
        let out = run(&["request", "req", &ep, word, "--timeout", "5000"]);
        assert_exit(&out, 0);
        assert_eq!(stdout(&out), format!("{word}\n"));
    }
    let out = run(&["request", "dealer", &ep, "", "three"]);
    assert_eq!(stdout(&out), "\tthree\n");
    assert_exit(&server.finish(), 0);

    // router replies to a dealer; pair to pair over ipc.
    let ep = tcp();
    let server = Running::start(&["reply", "router", &ep, "--count", "1"]);
    let out = run(&["request", "dealer", &ep, "d"]);
    assert_eq!(stdout(&out), "d\n");
    assert_exit(&server.finish(), 0);
    let path = format!("ipc:///tmp/mq-test-{}.ipc", std::process::id());
    let server = Running::start(&["reply", "pair", &format!("@{path}"), "--count", "1"]);
    let out = run(&["request", "pair", &path, "p"]);
    assert_eq!(stdout(&out), "p\n");
    assert_exit(&server.finish(), 0);
}

// ---- mq to mq ----

#[test]
fn send_to_recv_push_pull_and_pub_sub() {
    let ep = tcp();
    let rx = Running::start(&["recv", "pull", &ep, "--count", "3"]);
    assert_exit(&run(&["send", "push", &ep, "m", "--count", "3"]), 0);
    assert_eq!(stdout(&rx.finish()), "m\nm\nm\n");

    let ep = tcp();
    let publisher_ep = format!("@{ep}");
    let rx = Running::start(&[
        "recv",
        "sub",
        &format!(">{ep}"),
        "--count",
        "1",
        "--subscribe",
        "t",
    ]);
    let args = [
        "send",
        "pub",
        &publisher_ep,
        "t",
        "x",
        "--wait-peers",
        "1",
        "--timeout",
        "5000",
    ];
    assert_exit(&run(&args), 0);
    assert_eq!(stdout(&rx.finish()), "t\tx\n");

    let ep = tcp();
    let rx = Running::start(&["recv", "dealer", &format!("@{ep}"), "--count", "1"]);
    assert_exit(&run(&["send", "dealer", &ep, "dd"]), 0);
    assert_eq!(stdout(&rx.finish()), "dd\n");
}

#[test]
fn monitor_prints_events_on_stderr() {
    let ep = tcp();
    let rx = Running::start(&["recv", "pull", &ep, "--count", "1", "--monitor"]);
    let out = run(&["send", "push", &ep, "x", "--monitor"]);
    assert_exit(&out, 0);
    let rx = rx.finish();
    assert_exit(&rx, 0);
    let (tx_err, rx_err) = (stderr(&out), stderr(&rx));
    assert!(rx_err.contains(&format!("listening {ep}")), "{rx_err}");
    assert!(rx_err.contains("accepted"), "{rx_err}");
    assert!(rx_err.contains("handshake succeeded"), "{rx_err}");
    assert!(tx_err.contains(&format!("connected {ep}")), "{tx_err}");
    assert!(tx_err.contains("handshake succeeded"), "{tx_err}");
}

// ---- PLAIN ----

#[test]
fn plain_admits_the_user_and_refuses_others_at_once() {
    let ep = tcp();
    let rx = Running::start(&[
        "recv",
        "pull",
        &ep,
        "--count",
        "1",
        "--plain-server",
        "--plain",
        "ann:pw",
    ]);
    let out = run(&[
        "send",
        "push",
        &ep,
        "x",
        "--plain",
        "ann:pw",
        "--timeout",
        "5000",
    ]);
    assert_exit(&out, 0);
    assert_eq!(stdout(&rx.finish()), "x\n");

    let ep = tcp();
    let _rx = Running::start(&["recv", "pull", &ep, "--plain-server", "--plain", "ann:pw"]);
    let t = Instant::now();
    let out = run(&["send", "push", &ep, "x", "--plain", "bob:pw"]);
    assert_exit(&out, 1);
    assert!(
        stderr(&out).contains("handshake failed"),
        "{}",
        stderr(&out)
    );
    assert!(t.elapsed() < Duration::from_secs(5));
}

/// libzmq's PLAIN server needs a ZAP handler (RFC 27): this one admits
/// `user` with `pass` and answers 400 to anyone else, `n` times.
fn zap_handler(
    ctx: &zmq::Context,
    user: &'static str,
    pass: &'static str,
    n: usize,
) -> thread::JoinHandle<()> {
    let zap = zsocket(ctx, zmq::REP);
    zap.bind("inproc://zeromq.zap.01").unwrap();
    thread::spawn(move || {
        for _ in 0..n {
            let req = zrecv(&zap);
            // version, request id, domain, address, identity, mechanism, user, pass
            let ok = req[5] == b"PLAIN" && req[6] == user.as_bytes() && req[7] == pass.as_bytes();
            let (code, text): (&[u8], &[u8]) = if ok {
                (b"200", b"OK")
            } else {
                (b"400", b"denied")
            };
            let reply: [&[u8]; 6] = [b"1.0", &req[1], code, text, b"", b""];
            zap.send_multipart(reply, 0).unwrap();
        }
    })
}

#[test]
fn plain_client_against_libzmq_plain_server() {
    let ctx = zmq::Context::new();
    let handler = zap_handler(&ctx, "ann", "pw", 2);
    let pull = zsocket(&ctx, zmq::PULL);
    pull.set_plain_server(true).unwrap();
    let ep = zbind(&pull);
    assert_exit(
        &run(&[
            "send",
            "push",
            &ep,
            "secret",
            "--plain",
            "ann:pw",
            "--timeout",
            "5000",
        ]),
        0,
    );
    assert_eq!(zrecv(&pull), [b"secret".to_vec()]);
    // Refused: exit 1 at once, not after the timeout.
    let t = Instant::now();
    let out = run(&[
        "send",
        "push",
        &ep,
        "x",
        "--plain",
        "ann:wrong",
        "--timeout",
        "15000",
    ]);
    assert_exit(&out, 1);
    assert!(
        stderr(&out).contains("handshake failed"),
        "{}",
        stderr(&out)
    );
    assert!(t.elapsed() < Duration::from_secs(10));
    handler.join().unwrap();
}

// ---- proxy ----

#[test]
fn proxy_router_dealer_between_libzmq_peers() {
    let (front, back) = (tcp(), tcp());
    let proxy = Running::start(&[
        "proxy",
        "router",
        &front,
        "dealer",
        &format!("@{back}"),
        "--count",
        "2",
    ]);
    let ctx = zmq::Context::new();
    let rep = zsocket(&ctx, zmq::REP);
    rep.connect(&back).unwrap();
    let req = zsocket(&ctx, zmq::REQ);
    req.connect(&front).unwrap();
    req.send("through", 0).unwrap();
    let got = zrecv(&rep);
    rep.send_multipart(got, 0).unwrap();
    assert_eq!(zrecv(&req), [b"through".to_vec()]);
    assert_exit(&proxy.finish(), 0);
}

#[test]
fn proxy_pull_push_with_capture_and_timeout() {
    let (front, back, cap) = (tcp(), tcp(), tcp());
    let proxy = Running::start(&[
        "proxy",
        "pull",
        &front,
        "push",
        &format!("@{back}"),
        "--capture",
        "push",
        &format!("@{cap}"),
        "--timeout",
        "3000",
    ]);
    let capture = Running::start(&["recv", "pull", &format!(">{cap}"), "--count", "1"]);
    let sink = Running::start(&["recv", "pull", &format!(">{back}"), "--count", "1"]);
    assert_exit(&run(&["send", "push", &front, "via"]), 0);
    assert_eq!(stdout(&sink.finish()), "via\n");
    assert_eq!(stdout(&capture.finish()), "via\n");
    // No message for --timeout: exit 1.
    let out = proxy.finish();
    assert_exit(&out, 1);
    assert!(stderr(&out).contains("timed out"));
}

#[test]
fn plain_server_against_libzmq_plain_client() {
    let ep = tcp();
    let rx = Running::start(&[
        "recv",
        "pull",
        &ep,
        "--count",
        "1",
        "--plain-server",
        "--plain",
        "ann:pw",
    ]);
    let ctx = zmq::Context::new();
    let push = zsocket(&ctx, zmq::PUSH);
    push.set_plain_username(Some("ann")).unwrap();
    push.set_plain_password(Some("pw")).unwrap();
    push.connect(&ep).unwrap();
    push.send("in", 0).unwrap();
    let out = rx.finish();
    assert_exit(&out, 0);
    assert_eq!(stdout(&out), "in\n");
}

#[test]
fn send_with_an_empty_stdin_sends_nothing_and_waits_for_nobody() {
    let out = Running::start_with_stdin(&["send", "push", "tcp://127.0.0.1:1"], "").finish();
    assert_exit(&out, 0);
    assert!(stderr(&out).is_empty());
}

#[test]
fn send_router_xpub_and_req_to_libzmq() {
    let ctx = zmq::Context::new();
    // router: the first frame names the peer.
    let ep = tcp();
    let dealer = zsocket(&ctx, zmq::DEALER);
    dealer.set_identity(b"peer").unwrap();
    dealer.connect(&ep).unwrap();
    assert_exit(&run(&["send", "router", &ep, "peer", "to you"]), 0);
    assert_eq!(zrecv(&dealer), [b"to you".to_vec()]);
    // xpub waits for a subscription like pub.
    let ep = tcp();
    let sub = zsocket(&ctx, zmq::SUB);
    sub.set_subscribe(b"").unwrap();
    sub.connect(&ep).unwrap();
    assert_exit(&run(&["send", "xpub", &ep, "x", "--wait-peers", "1"]), 0);
    assert_eq!(zrecv(&sub), [b"x".to_vec()]);
    // req sends one request.
    let rep = zsocket(&ctx, zmq::REP);
    let ep = zbind(&rep);
    assert_exit(&run(&["send", "req", &ep, "q"]), 0);
    assert_eq!(zrecv(&rep), [b"q".to_vec()]);
}

#[test]
fn recv_stream_prints_the_connection_id_and_the_bytes() {
    let port = free_port();
    let ep = format!("@tcp://127.0.0.1:{port}");
    let running = Running::start(&["recv", "stream", &ep, "--count", "2", "--format", "hex"]);
    let mut conn = loop {
        match std::net::TcpStream::connect(("127.0.0.1", port)) {
            Ok(c) => break c,
            Err(_) => thread::sleep(Duration::from_millis(10)),
        }
    };
    conn.write_all(b"hi").unwrap();
    let out = running.finish();
    assert_exit(&out, 0);
    let text = stdout(&out);
    let lines: Vec<&str> = text.lines().collect();
    // The connection notice (an empty frame), then the data, same id.
    let (id, notice) = lines[0].split_once('\t').unwrap();
    assert_eq!(notice, "");
    assert_eq!(lines[1], format!("{id}\t6869"));
}

// ---- more of section 8, end to end ----

/// Accepts one TCP connection on `listener` within [`WATCHDOG`]; the
/// connection blocks, with a read timeout.
fn accept(listener: &TcpListener) -> std::net::TcpStream {
    listener.set_nonblocking(true).unwrap();
    let start = Instant::now();
    let conn = loop {
        match listener.accept() {
            Ok((conn, _)) => break conn,
            Err(e) if e.kind() == std::io::ErrorKind::WouldBlock => {
                assert!(start.elapsed() < WATCHDOG, "mq never connected");
                thread::sleep(Duration::from_millis(5));
            }
            Err(e) => panic!("accept: {e}"),
        }
    };
    conn.set_nonblocking(false).unwrap();
    conn.set_read_timeout(Some(WATCHDOG)).unwrap();
    conn
}

/// `send stream` connects to a raw TCP peer and sends it the bare data.
#[test]
fn send_stream_to_a_raw_tcp_peer() {
    let listener = TcpListener::bind("127.0.0.1:0").unwrap();
    let ep = format!("tcp://{}", listener.local_addr().unwrap());
    let running = Running::start(&["send", "stream", &ep, "raw data", "--timeout", "10000"]);
    let mut conn = accept(&listener);
    let mut got = Vec::new();
    // mq closes the connection once the data went: read to the end.
    conn.read_to_end(&mut got).unwrap();
    assert_eq!(got, b"raw data");
    assert_exit(&running.finish(), 0);
}

/// `request stream` sends bare data to a libzmq STREAM and prints its answer.
#[test]
fn request_stream_against_libzmq_stream() {
    let ctx = zmq::Context::new();
    let server = zsocket(&ctx, zmq::STREAM);
    let ep = zbind(&server);
    let peer = thread::spawn(move || {
        // The connect notice, then the request.
        let notice = zrecv(&server);
        assert_eq!(notice[1], b"");
        let mut req = zrecv(&server);
        assert_eq!(req[1], b"question");
        req[1] = b"answer".to_vec();
        server.send_multipart(req, 0).unwrap();
        // Until mq hangs up: its disconnect notice.
        zrecv(&server)
    });
    let out = run(&[
        "request",
        "stream",
        &ep,
        "7175657374696f6e",
        "--timeout",
        "10000",
        "--format",
        "hex",
    ]);
    assert_exit(&out, 0);
    assert!(
        stdout(&out).ends_with("\t616e73776572\n"),
        "{}",
        stdout(&out)
    );
    assert_eq!(stdout(&out).lines().count(), 1);
    assert_eq!(peer.join().unwrap()[1], b"");
}

/// `reply dealer` echoes what a libzmq ROUTER sends it, envelope and all.
#[test]
fn reply_dealer_echoes_a_libzmq_router() {
    let ctx = zmq::Context::new();
    let router = zsocket(&ctx, zmq::ROUTER);
    router.set_router_mandatory(true).unwrap();
    let ep = zbind(&router);
    let running = Running::start(&["reply", "dealer", &ep, "--identity", "w", "--count", "1"]);
    // Unreachable until mq's handshake is done.
    let start = Instant::now();
    while router
        .send_multipart([&b"w"[..], b"", b"echo me"], 0)
        .is_err()
    {
        assert!(start.elapsed() < WATCHDOG, "mq never connected");
        thread::sleep(Duration::from_millis(10));
    }
    assert_eq!(
        zrecv(&router),
        [b"w".to_vec(), b"".to_vec(), b"echo me".to_vec()]
    );
    let out = running.finish();
    assert_exit(&out, 0);
    assert_eq!(stdout(&out), "\techo me\n");
}

/// `request router` addresses a libzmq DEALER by its identity and prints the
/// reply with that identity in front.
#[test]
fn request_router_to_a_libzmq_dealer() {
    let ep = tcp();
    let running = Running::start(&["request", "router", &ep, "w1", "job", "--timeout", "10000"]);
    let ctx = zmq::Context::new();
    let dealer = zsocket(&ctx, zmq::DEALER);
    dealer.set_identity(b"w1").unwrap();
    dealer.connect(&ep).unwrap();
    let mut msg = zrecv(&dealer);
    assert_eq!(msg, [b"job".to_vec()]);
    msg.push(b"done".to_vec());
    dealer.send_multipart(msg, 0).unwrap();
    let out = running.finish();
    assert_exit(&out, 0);
    assert_eq!(stdout(&out), "w1\tjob\tdone\n");
}

/// `proxy xsub xpub` (the unbounded library proxy: no --count, no
/// --timeout) carries subscriptions up and messages down between libzmq
/// peers.
#[test]
fn proxy_xsub_xpub_between_libzmq_pub_and_sub() {
    let (front, back) = (tcp(), tcp());
    let proxy = Running::start(&[
        "proxy",
        "xsub",
        &format!("@{front}"),
        "xpub",
        &format!("@{back}"),
    ]);
    let ctx = zmq::Context::new();
    let sub = zsocket(&ctx, zmq::SUB);
    sub.set_subscribe(b"w").unwrap();
    sub.connect(&back).unwrap();
    let publisher = zsocket(&ctx, zmq::PUB);
    publisher.connect(&front).unwrap();
    sub.set_rcvtimeo(20).unwrap();
    // Until the subscription made it up through the proxy.
    let start = Instant::now();
    let got = loop {
        publisher.send("nope", 0).unwrap();
        publisher.send("weather", 0).unwrap();
        if let Ok(msg) = sub.recv_multipart(0) {
            break msg;
        }
        assert!(start.elapsed() < WATCHDOG, "nothing came through");
    };
    assert_eq!(got, [b"weather".to_vec()]);
    assert!(!proxy.exited(), "the proxy runs until killed");
}

/// `proxy pull push` without --capture, stopping after --count messages.
#[test]
fn proxy_pull_push_with_count() {
    let (front, back) = (tcp(), tcp());
    let proxy = Running::start(&[
        "proxy",
        "pull",
        &front,
        "push",
        &format!("@{back}"),
        "--count",
        "2",
    ]);
    let sink = Running::start(&["recv", "pull", &format!(">{back}"), "--count", "2"]);
    assert_exit(&run(&["send", "push", &front, "m", "--count", "2"]), 0);
    assert_eq!(stdout(&sink.finish()), "m\nm\n");
    assert_exit(&proxy.finish(), 0);
}

/// One `recv` binding two comma-separated endpoints hears a sender on each.
#[test]
fn recv_binds_comma_separated_endpoints() {
    let (a, b) = (tcp(), tcp());
    let rx = Running::start(&["recv", "pull", &format!("@{a},@{b}"), "--count", "2"]);
    let ctx = zmq::Context::new();
    for (ep, word) in [(&a, "via a"), (&b, "via b")] {
        let push = zsocket(&ctx, zmq::PUSH);
        push.connect(ep).unwrap();
        push.send(word, 0).unwrap();
    }
    let out = rx.finish();
    assert_exit(&out, 0);
    let mut lines: Vec<String> = stdout(&out).lines().map(str::to_owned).collect();
    lines.sort();
    assert_eq!(lines, ["via a", "via b"]);
}

/// `recv sub` without --subscribe receives every topic.
#[test]
fn recv_sub_without_subscribe_gets_everything() {
    let ctx = zmq::Context::new();
    let publisher = zsocket(&ctx, zmq::PUB);
    let ep = zbind(&publisher);
    let running = Running::start(&["recv", "sub", &ep, "--count", "3"]);
    // Slow joiner: publish the three topics round and round until mq is
    // done; any three in a row are the three topics.
    while !running.exited() {
        for topic in ["alpha", "beta", "zulu"] {
            publisher.send(topic, 0).unwrap();
        }
        thread::sleep(Duration::from_millis(5));
    }
    let out = running.finish();
    assert_exit(&out, 0);
    let mut lines: Vec<String> = stdout(&out).lines().map(str::to_owned).collect();
    lines.sort();
    assert_eq!(lines, ["alpha", "beta", "zulu"]);
}

/// A libzmq REP that answers each request with its frames and "ok", `n`
/// times; returns its endpoint.
fn libzmq_ok_server(ctx: &zmq::Context, n: usize) -> (String, thread::JoinHandle<()>) {
    let rep = zsocket(ctx, zmq::REP);
    let ep = zbind(&rep);
    let server = thread::spawn(move || {
        for _ in 0..n {
            let mut msg = zrecv(&rep);
            msg.push(b"ok".to_vec());
            rep.send_multipart(msg, 0).unwrap();
        }
    });
    (ep, server)
}

/// `request --format hex|json`: FRAMEs and stdin lines parsed, the reply
/// printed, in that format.
#[test]
fn request_formats_hex_and_json() {
    let ctx = zmq::Context::new();
    let (ep, server) = libzmq_ok_server(&ctx, 4);
    let out = run(&["request", "req", &ep, "--format", "hex", "00ff", "", "41"]);
    assert_exit(&out, 0);
    assert_eq!(stdout(&out), "00ff\t\t41\t6f6b\n");
    let out = run(&[
        "request",
        "req",
        &ep,
        "--format",
        "json",
        r#""a\tb""#,
        r#"{"hex": "ff00"}"#,
        r#"{"hex": "00"}"#,
    ]);
    assert_exit(&out, 0);
    // Not UTF-8: a hex object; NUL is UTF-8: a string.
    assert_eq!(
        stdout(&out),
        "[\"a\\tb\",{\"hex\":\"ff00\"},\"\\u0000\",\"ok\"]\n"
    );
    // From stdin: one request a line.
    let args = ["request", "req", &ep, "--format", "hex", "--sep", ","];
    let out = Running::start_with_stdin(&args, "ff,0a\n").finish();
    assert_exit(&out, 0);
    assert_eq!(stdout(&out), "ff,0a,6f6b\n");
    let args = ["request", "req", &ep, "--format", "json"];
    let out = Running::start_with_stdin(&args, "[\"x\\ny\"]\n").finish();
    assert_exit(&out, 0);
    assert_eq!(stdout(&out), "[\"x\\ny\",\"ok\"]\n");
    server.join().unwrap();
}

/// `send --format hex` reads stdin lines as hex frames joined by --sep, and
/// json lines carry a newline inside a frame.
#[test]
fn send_stdin_lines_in_hex_and_json() {
    let ctx = zmq::Context::new();
    let pull = zsocket(&ctx, zmq::PULL);
    let ep = zbind(&pull);
    let args = ["send", "push", &ep, "--format", "hex"];
    let out = Running::start_with_stdin(&args, "00ff\t\t41\n4869\n").finish();
    assert_exit(&out, 0);
    assert_eq!(zrecv(&pull), [vec![0, 255], vec![], b"A".to_vec()]);
    assert_eq!(zrecv(&pull), [b"Hi".to_vec()]);
    let args = ["send", "push", &ep, "--format", "hex", "--sep", ","];
    let out = Running::start_with_stdin(&args, "0a,0d\n").finish();
    assert_exit(&out, 0);
    assert_eq!(zrecv(&pull), [b"\n".to_vec(), b"\r".to_vec()]);
    let args = ["send", "push", &ep, "--format", "json"];
    let out = Running::start_with_stdin(&args, "[\"two\\nlines\", \"\"]\n").finish();
    assert_exit(&out, 0);
    assert_eq!(zrecv(&pull), [b"two\nlines".to_vec(), vec![]]);
    // A line that is not hex: exit 1, naming the line.
    let args = ["send", "push", &ep, "--format", "hex"];
    let out = Running::start_with_stdin(&args, "zz\n").finish();
    assert_exit(&out, 1);
    assert!(stderr(&out).contains("stdin line 1"), "{}", stderr(&out));
}

/// `--plain-server` without `--plain` admits any user: `mq` and libzmq
/// PLAIN clients with made-up credentials both get through.
#[test]
fn plain_server_without_plain_admits_anyone() {
    let ep = tcp();
    let rx = Running::start(&["recv", "pull", &ep, "--count", "2", "--plain-server"]);
    let out = run(&[
        "send",
        "push",
        &ep,
        "from mq",
        "--plain",
        "any:thing",
        "--timeout",
        "10000",
    ]);
    assert_exit(&out, 0);
    let ctx = zmq::Context::new();
    let push = zsocket(&ctx, zmq::PUSH);
    push.set_plain_username(Some("zed")).unwrap();
    push.set_plain_password(Some("whatever")).unwrap();
    push.connect(&ep).unwrap();
    push.send("from libzmq", 0).unwrap();
    let out = rx.finish();
    assert_exit(&out, 0);
    assert_eq!(stdout(&out), "from mq\nfrom libzmq\n");
}

/// `--curve-secret` without `--curve-serverkey` is a usage error (it is a
/// client's own key): exit 2, one line naming the flag.
#[test]
fn curve_secret_without_a_server_key_is_a_usage_error() {
    let out = run(&[
        "send",
        "push",
        "tcp://127.0.0.1:5555",
        "x",
        "--curve-secret",
        "D:)Q[IlAW!ahhC2ac:9*A}h:p?([4%wOTJ%JR%cs",
    ]);
    assert_exit(&out, 2);
    assert!(
        stderr(&out).contains("--curve-secret goes with --curve-serverkey"),
        "{}",
        stderr(&out)
    );
    assert_eq!(stderr(&out).lines().count(), 1);
    assert!(stdout(&out).is_empty());
}

impl Running {
    /// Hands `mq`'s stderr, line by line, to the returned channel.
    fn stderr_lines(&mut self) -> mpsc::Receiver<String> {
        let err = self.0.stderr.take().unwrap();
        let (tx, rx) = mpsc::channel();
        thread::spawn(move || {
            for line in BufReader::new(err).lines() {
                let Ok(line) = line else { break };
                if tx.send(line).is_err() {
                    break;
                }
            }
        });
        rx
    }

    /// Kills `mq` whose stderr went to [`Running::stderr_lines`]; its stdout.
    fn stop_stdout(mut self) -> String {
        let _ = self.0.kill();
        let _ = self.0.wait();
        let mut out = String::new();
        self.0
            .stdout
            .take()
            .unwrap()
            .read_to_string(&mut out)
            .unwrap();
        out
    }
}

/// Waits (at most [`WATCHDOG`]) for a line containing `needle`; the lines
/// read so far in the panic message.
#[track_caller]
fn wait_line(lines: &mpsc::Receiver<String>, needle: &str) -> String {
    let deadline = Instant::now() + WATCHDOG;
    let mut seen = Vec::new();
    loop {
        let left = deadline.saturating_duration_since(Instant::now());
        match lines.recv_timeout(left) {
            Ok(line) if line.contains(needle) => return line,
            Ok(line) => seen.push(line),
            Err(_) => panic!("no line with {needle:?} on stderr; saw {seen:?}"),
        }
    }
}

/// `--monitor` names a refused PLAIN handshake `handshake failed: ...` on
/// both ends.
#[test]
fn monitor_prints_handshake_failed() {
    let ep = tcp();
    let mut server = Running::start(&[
        "recv",
        "pull",
        &ep,
        "--plain-server",
        "--plain",
        "ann:pw",
        "--monitor",
    ]);
    let events = server.stderr_lines();
    let out = run(&[
        "send",
        "push",
        &ep,
        "x",
        "--plain",
        "ann:wrong",
        "--monitor",
        "--timeout",
        "10000",
    ]);
    assert_exit(&out, 1);
    let client = stderr(&out);
    assert!(
        client
            .lines()
            .any(|l| l.starts_with("handshake failed: ") && l.ends_with(&ep)),
        "{client}"
    );
    // The server carries on, having said why it turned the client away.
    let line = wait_line(&events, "handshake failed: ");
    assert!(line.starts_with("handshake failed: "), "{line}");
    assert!(!server.exited());
    assert_eq!(server.stop_stdout(), "");
}

/// `--monitor` prints `disconnected` when the peer goes away.
#[test]
fn monitor_prints_disconnected() {
    let ep = tcp();
    let mut server = Running::start(&["recv", "pull", &ep, "--monitor"]);
    let events = server.stderr_lines();
    wait_line(&events, "listening");
    {
        let ctx = zmq::Context::new();
        let push = zsocket(&ctx, zmq::PUSH);
        push.connect(&ep).unwrap();
        push.send("bye", 0).unwrap();
        wait_line(&events, "handshake succeeded");
        // Dropping the socket and the context flushes "bye", then hangs up.
    }
    let mut out = BufReader::new(server.0.stdout.take().unwrap());
    let mut line = String::new();
    out.read_line(&mut line).unwrap();
    assert_eq!(line, "bye\n");
    wait_line(&events, "disconnected");
}

/// Receives from `s` until nothing comes for 500 ms; how many messages came.
fn drain(s: &zmq::Socket) -> usize {
    s.set_rcvtimeo(500).unwrap();
    let mut n = 0;
    while s.recv_multipart(0).is_ok() {
        n += 1;
    }
    n
}

/// `send push --wait-peers 2` sends nothing while one PULL is connected,
/// then load-balances its messages over both.
#[test]
fn send_push_wait_peers_2_balances_over_both() {
    let ep = tcp();
    let sender = Running::start(&[
        "send",
        "push",
        &format!("@{ep}"),
        "m",
        "--count",
        "4",
        "--wait-peers",
        "2",
        "--timeout",
        "10000",
    ]);
    let ctx = zmq::Context::new();
    let first = zsocket(&ctx, zmq::PULL);
    first.connect(&ep).unwrap();
    first.set_rcvtimeo(300).unwrap();
    assert!(first.recv_multipart(0).is_err(), "sent with one peer");
    assert!(!sender.exited());
    let second = zsocket(&ctx, zmq::PULL);
    second.connect(&ep).unwrap();
    assert_exit(&sender.finish(), 0);
    let (a, b) = (drain(&first), drain(&second));
    assert_eq!(a + b, 4);
    assert!(a >= 1 && b >= 1, "{a} and {b}");
}

/// `request --wait-peers 2` asks only once two REPs are connected, and times
/// out (exit 1) when the second never comes.
#[test]
fn request_wait_peers() {
    let ep = tcp();
    let client = Running::start(&[
        "request",
        "req",
        &format!("@{ep}"),
        "q",
        "--wait-peers",
        "2",
        "--timeout",
        "10000",
    ]);
    let ctx = zmq::Context::new();
    let reps = [zsocket(&ctx, zmq::REP), zsocket(&ctx, zmq::REP)];
    reps[0].connect(&ep).unwrap();
    reps[0].set_rcvtimeo(300).unwrap();
    assert!(reps[0].recv_multipart(0).is_err(), "asked with one peer");
    reps[1].connect(&ep).unwrap();
    let mut items = [
        reps[0].as_poll_item(zmq::POLLIN),
        reps[1].as_poll_item(zmq::POLLIN),
    ];
    assert_eq!(zmq::poll(&mut items, 10_000).unwrap(), 1);
    let rep = if items[0].is_readable() {
        &reps[0]
    } else {
        &reps[1]
    };
    assert_eq!(zrecv(rep), [b"q".to_vec()]);
    rep.send("a", 0).unwrap();
    let out = client.finish();
    assert_exit(&out, 0);
    assert_eq!(stdout(&out), "a\n");

    let ep = tcp();
    let client = Running::start(&[
        "request",
        "req",
        &format!("@{ep}"),
        "q",
        "--wait-peers",
        "2",
        "--timeout",
        "500",
    ]);
    let only = zsocket(&ctx, zmq::REP);
    only.connect(&ep).unwrap();
    let out = client.finish();
    assert_exit(&out, 1);
    assert!(
        stderr(&out).contains("waiting for 2 peer(s)"),
        "{}",
        stderr(&out)
    );
}

/// `send` started before its peer exists keeps trying and delivers once the
/// peer binds.
#[test]
fn send_waits_for_a_peer_that_binds_later() {
    let port = free_port();
    let ep = format!("tcp://127.0.0.1:{port}");
    let sender = Running::start(&["send", "push", &ep, "late"]);
    thread::sleep(Duration::from_millis(300));
    assert!(!sender.exited(), "gave up without a peer");
    let ctx = zmq::Context::new();
    let pull = zsocket(&ctx, zmq::PULL);
    pull.bind(&ep).unwrap();
    assert_eq!(zrecv(&pull), [b"late".to_vec()]);
    assert_exit(&sender.finish(), 0);
}

/// `--timeout` with no peer ever: bound sockets of send, request, reply and
/// recv exit 1 with one line on stderr.
#[test]
fn timeout_with_no_peer_ever_exits_1() {
    for sub in [
        &["send", "push", "x"][..],
        &["request", "req", "x"],
        &["reply", "rep"],
        &["recv", "pull"],
    ] {
        let ep = format!("@{}", tcp());
        let mut args = vec![sub[0], sub[1], &ep, "--timeout", "300"];
        args.extend(&sub[2..]);
        let out = run(&args);
        assert_exit(&out, 1);
        assert!(
            stderr(&out).contains("timed out"),
            "{args:?}: {}",
            stderr(&out)
        );
        assert_eq!(stderr(&out).lines().count(), 1);
        assert!(stdout(&out).is_empty());
    }
}

/// A libzmq PULL that takes one message into its queue and then stops
/// reading: a peer whose TCP window fills.
fn stalled_pull(ctx: &zmq::Context) -> (zmq::Socket, String) {
    let pull = zsocket(ctx, zmq::PULL);
    pull.set_rcvhwm(1).unwrap();
    pull.set_rcvbuf(4096).unwrap();
    let ep = zbind(&pull);
    (pull, ep)
}

/// `--linger 0` drops what a stalled peer cannot take and exits; without it
/// `send` waits for the data to go.
#[test]
fn linger_bounds_the_flush_to_a_stalled_peer() {
    let ctx = zmq::Context::new();
    let (_pull, ep) = stalled_pull(&ctx);
    let big = "x".repeat(100_000);
    // 1,000 of them: 100 MB, far more than the socket buffers hold.
    let args = ["send", "push", &ep, &big, "--count", "1000"];
    let waiting = Running::start(&args);
    let mut lingering = args.to_vec();
    lingering.extend(["--linger", "0"]);
    let out = run(&lingering);
    assert_exit(&out, 0);
    assert!(!waiting.exited(), "the default linger waits for the peer");
    let mut lingering = args.to_vec();
    lingering.extend(["--linger", "200"]);
    assert_exit(&run(&lingering), 0);
}

/// `--hwm 1` makes `send` block on a stalled peer (so `--timeout` fires),
/// where the default HWM of 1,000 takes every message.
#[test]
fn hwm_limits_what_send_can_queue() {
    let ctx = zmq::Context::new();
    let (_pull, ep) = stalled_pull(&ctx);
    let big = "x".repeat(100_000);
    let args = [
        "send",
        "push",
        &ep,
        &big,
        "--count",
        "500",
        "--linger",
        "0",
        "--timeout",
        "500",
    ];
    assert_exit(&run(&args), 0);
    let mut small = args.to_vec();
    small.extend(["--hwm", "1"]);
    let out = run(&small);
    assert_exit(&out, 1);
    assert!(
        stderr(&out).contains("timed out after 500 ms sending"),
        "{}",
        stderr(&out)
    );
}

/// A ZMTP 3.1 PUSH peer by hand: it completes the NULL handshake on `conn`,
/// then reads and drops whatever comes, never answering a PING.
fn mute_zmtp_push(mut conn: std::net::TcpStream) -> thread::JoinHandle<()> {
    let mut greeting = vec![0xff, 0, 0, 0, 0, 0, 0, 0, 1, 0x7f, 3, 1];
    greeting.extend(b"NULL");
    greeting.resize(64, 0);
    let mut ready = vec![0x04, 26, 5];
    ready.extend(b"READY");
    ready.push(11);
    ready.extend(b"Socket-Type");
    ready.extend(4u32.to_be_bytes());
    ready.extend(b"PUSH");
    conn.write_all(&greeting).unwrap();
    conn.write_all(&ready).unwrap();
    thread::spawn(move || {
        let mut sink = [0u8; 256];
        while matches!(conn.read(&mut sink), Ok(n) if n > 0) {}
    })
}

/// `--heartbeat` drops a peer that stops answering: `--monitor` sees the
/// handshake succeed, then `disconnected`.
#[test]
fn heartbeat_drops_a_mute_peer() {
    let listener = TcpListener::bind("127.0.0.1:0").unwrap();
    let ep = format!("tcp://{}", listener.local_addr().unwrap());
    let connect = format!(">{ep}");
    let mut rx = Running::start(&["recv", "pull", &connect, "--heartbeat", "100", "--monitor"]);
    let events = rx.stderr_lines();
    let _mute = mute_zmtp_push(accept(&listener));
    wait_line(&events, "handshake succeeded");
    wait_line(&events, "disconnected");
    assert_eq!(rx.stop_stdout(), "");
}

// ---- CURVE ----

/// `mq keygen`'s two lines.
fn keypair() -> (String, String) {
    let out = run(&["keygen"]);
    assert_exit(&out, 0);
    let text = stdout(&out);
    let mut lines = text.lines().map(str::to_owned);
    (lines.next().unwrap(), lines.next().unwrap())
}

/// A CURVE server with an allow list admits the listed client and
/// refuses a stranger at once: exit 1, one line naming the refusal.
#[test]
fn curve_server_with_an_allow_list_and_its_clients() {
    let (server_public, server_secret) = keypair();
    let (client_public, client_secret) = keypair();
    let ep = tcp();
    let rx = Running::start(&[
        "recv",
        "pull",
        &ep,
        "--count",
        "1",
        "--curve-server",
        &server_secret,
        "--curve-allow",
        &client_public,
    ]);
    // A stranger (a fresh key pair): refused, not retried.
    let started = Instant::now();
    let out = run(&[
        "send",
        "push",
        &ep,
        "from a stranger",
        "--curve-serverkey",
        &server_public,
        "--timeout",
        "10000",
    ]);
    assert_exit(&out, 1);
    assert!(
        stderr(&out).starts_with("mq: handshake failed: "),
        "{}",
        stderr(&out)
    );
    assert_eq!(stderr(&out).lines().count(), 1, "{}", stderr(&out));
    assert!(started.elapsed() < Duration::from_secs(5), "not at once");
    // The listed client gets through.
    let out = run(&[
        "send",
        "push",
        &ep,
        "from a friend",
        "--curve-serverkey",
        &server_public,
        "--curve-secret",
        &client_secret,
        "--timeout",
        "10000",
    ]);
    assert_exit(&out, 0);
    let got = rx.finish();
    assert_exit(&got, 0);
    assert_eq!(stdout(&got), "from a friend\n");
}

/// `--curve-allow` without `--curve-server`, or CURVE with PLAIN, is a
/// usage error.
#[test]
fn curve_options_that_do_not_fit_are_usage_errors() {
    let (public, secret) = keypair();
    for args in [
        &[
            "recv",
            "pull",
            "@tcp://127.0.0.1:5555",
            "--curve-allow",
            &public,
        ][..],
        &[
            "recv",
            "pull",
            "@tcp://127.0.0.1:5555",
            "--curve-server",
            &secret,
            "--plain-server",
        ],
        &[
            "send",
            "push",
            "tcp://127.0.0.1:5555",
            "x",
            "--curve-serverkey",
            &public,
            "--curve-server",
            &secret,
        ],
    ] {
        let out = run(args);
        assert_exit(&out, 2);
        assert_eq!(
            stderr(&out).lines().count(),
            1,
            "{args:?}: {}",
            stderr(&out)
        );
    }
}

/// `--maxmsgsize N`: a libzmq PUSH's message over the limit costs it the
/// connection and is never printed; what it sends after reconnecting is.
#[test]
fn maxmsgsize_drops_a_peer_that_sends_more() {
    let ep = tcp();
    let bound = format!("@{ep}");
    let running = Running::start(&[
        "recv",
        "pull",
        &bound,
        "--count",
        "1",
        "--maxmsgsize",
        "100",
    ]);
    let ctx = zmq::Context::new();
    let s = zsocket(&ctx, zmq::PUSH);
    s.set_linger(0).unwrap();
    s.set_reconnect_ivl(50).unwrap();
    s.connect(&ep).unwrap();
    s.send(vec![b'x'; 1000], 0).unwrap();
    let stop = std::sync::Arc::new(std::sync::atomic::AtomicBool::new(false));
    let sender = {
        let stop = stop.clone();
        thread::spawn(move || {
            // The first connection is closed for the big message; the
            // small ones after go out on the next.
            for _ in 0..100 {
                if stop.load(std::sync::atomic::Ordering::Relaxed) {
                    break;
                }
                thread::sleep(Duration::from_millis(100));
                let _ = s.send("small", zmq::DONTWAIT);
            }
        })
    };
    let out = running.finish();
    stop.store(true, std::sync::atomic::Ordering::Relaxed);
    assert_exit(&out, 0);
    assert_eq!(stdout(&out), "small\n");
    sender.join().unwrap();
}
