//! CURVE, PLAIN and ZAP between Monocoque sockets and real libzmq, over tcp
//! and ipc. The `zmq` crate's vendored libzmq has no CURVE (no libsodium),
//! so the libzmq side is a small C program (`tests/peers/zmq_peer.c`) built
//! here with `gcc ... -lzmq` against the system's libzmq (Debian's
//! `libzmq3-dev`, which `.ci/run` installs): one socket, one security role,
//! an optional ZAP handler of its own, one action, and a line on stdout per
//! fact (monitor events, ZAP verdicts, received frames with their
//! `zmq_msg_gets(msg, "User-Id")`). libzmq's fixed test keys throughout.
//! Without gcc or the package each test says SKIPPED on stderr and returns.
#![allow(clippy::unwrap_used)]

mod common;

use std::io::{BufRead, BufReader};
use std::path::{Path, PathBuf};
use std::process::{Child, ChildStdin, Command, Stdio};
use std::sync::mpsc::{self, Receiver, RecvTimeoutError};
use std::sync::OnceLock;
use std::time::Instant;

use bytes::Bytes;
use common::{endpoint, msg, sock, strs, wait_for, Tr, T};
use monocoque::{
    curve_keypair, AuthRules, Authenticator, Context, CurvePublicKey, CurveSecretKey, EndReason,
    Monitor, MonitorEvent, ProtocolError, Security, Socket, SocketType,
};

const SERVER_PUBLIC: &str = "rq:rM>}U?@Lns47E1%kR.o@n%FcmmsL/@{H8]yf7";
const SERVER_SECRET: &str = "JTKVSB%%)wK0E.X)V>+}o?pNmC{O&4W4b!Ni{Lh6";
const CLIENT_PUBLIC: &str = "Yne@$w-vo<fVvi]a<NY6T1ed:M$fCG*[IaLV{hID";
const CLIENT_SECRET: &str = "D:)Q[IlAW!ahhC2ac:9*A}h:p?([4%wOTJ%JR%cs";

/// The user id libzmq's ZAP handler gives the clients it admits.
const LIB_USER: &str = "lib-user";
/// Messages each way per interop case.
const N: usize = 5;

/// The built peer, or why there is none (gcc or libzmq3-dev missing).
fn peer_binary() -> Result<&'static Path, &'static str> {
    static PEER: OnceLock<Result<PathBuf, &'static str>> = OnceLock::new();
    PEER.get_or_init(|| {
        let gcc = Command::new("gcc").arg("--version").output();
        if !gcc.is_ok_and(|o| o.status.success()) {
            return Err("gcc is not installed");
        }
        if !Path::new("/usr/include/zmq.h").exists() {
            return Err("libzmq3-dev (zmq.h) is not installed");
        }
        let src = Path::new(env!("CARGO_MANIFEST_DIR")).join("tests/peers/zmq_peer.c");
        let out = Path::new(env!("CARGO_TARGET_TMPDIR")).join("zmq_peer");
        let built = Command::new("gcc")
            .args(["-O1", "-Wall", "-o"])
            .arg(&out)
            .arg(&src)
            .args(["-lzmq", "-lpthread"])
            .status()
            .unwrap();
        assert!(built.success(), "gcc could not build {}", src.display());
        Ok(out)
    })
    .as_ref()
    .map(PathBuf::as_path)
    .map_err(|e| *e)
}

macro_rules! peer_or_skip {
    () => {
        match peer_binary() {
            Ok(p) => p,
            Err(why) => {
                eprintln!("SKIPPED: libzmq CURVE interop needs a libzmq with CURVE: {why}");
                return;
            }
        }
    };
}

/// A running libzmq peer; killed when dropped.
struct Peer {
    child: Child,
    stdin: Option<ChildStdin>,
    lines: Receiver<String>,
    said: Vec<String>,
}

impl Peer {
    fn spawn(bin: &Path, args: &[&str]) -> Peer {
        let mut child = Command::new(bin)
            .args(args)
            .stdin(Stdio::piped())
            .stdout(Stdio::piped())
            .spawn()
            .unwrap();
        let out = BufReader::new(child.stdout.take().unwrap());
        let (tx, lines) = mpsc::channel();
        std::thread::spawn(move || {
            for l in out.lines() {
                let Ok(l) = l else { return };
                if tx.send(l).is_err() {
                    return;
                }
            }
        });
        Peer {
            stdin: child.stdin.take(),
            child,
            lines,
            said: Vec::new(),
        }
    }

    /// The value of the next `key=value` line with this key.
    fn line(&mut self, key: &str) -> String {
        let deadline = Instant::now() + 2 * T;
        let prefix = format!("{key}=");
        loop {
            let left = deadline.saturating_duration_since(Instant::now());
            match self.lines.recv_timeout(left) {
                Ok(l) => {
                    self.said.push(l.clone());
                    if let Some(v) = l.strip_prefix(&prefix) {
                        return v.to_owned();
                    }
                }
                Err(e) => panic!(
                    "no {key}= line from the peer ({e:?}); it said {:?}",
                    self.said
                ),
            }
        }
    }

    /// Ends `publish`.
    fn close_stdin(&mut self) {
        self.stdin = None;
    }

    /// What it said so far (the first lines), for a failure message.
    fn so_far(&mut self) -> &[String] {
        while let Ok(l) = self.lines.try_recv() {
            self.said.push(l);
        }
        &self.said[..self.said.len().min(24)]
    }

    /// Whether the peer has exited.
    fn exited(&mut self) -> bool {
        self.child.try_wait().unwrap().is_some()
    }

    /// Waits for the peer to exit with success; everything it said.
    fn finish(mut self) -> Said {
        self.close_stdin();
        let deadline = Instant::now() + 4 * T;
        loop {
            let left = deadline.saturating_duration_since(Instant::now());
            match self.lines.recv_timeout(left) {
                Ok(l) => self.said.push(l),
                Err(RecvTimeoutError::Disconnected) => break,
                Err(RecvTimeoutError::Timeout) => panic!("peer still running: {:?}", self.said),
            }
        }
        let status = self.child.wait().unwrap();
        let said = std::mem::take(&mut self.said);
        assert!(status.success(), "peer failed: {status}; said {said:?}");
        Said(said)
    }
}

impl Drop for Peer {
    fn drop(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
}

/// The lines a finished peer printed.
#[derive(Debug)]
struct Said(Vec<String>);

impl Said {
    /// The values of every `key=` line, in order.
    fn all(&self, key: &str) -> Vec<&str> {
        let prefix = format!("{key}=");
        self.0
            .iter()
            .filter_map(|l| l.strip_prefix(&prefix))
            .collect()
    }

    fn has(&self, line: &str) -> bool {
        self.0.iter().any(|l| l == line)
    }
}

/// The first handshake result on `events`.
fn handshake(events: &Monitor) -> Result<(), EndReason> {
    let deadline = Instant::now() + T;
    loop {
        let left = deadline.saturating_duration_since(Instant::now());
        match events.recv_timeout(left) {
            Some(MonitorEvent::HandshakeSucceeded { .. }) => return Ok(()),
            Some(ev) => {
                if let Some(why) = ev.handshake_failure() {
                    return Err(why.clone());
                }
            }
            None => panic!("no handshake result within {T:?}"),
        }
    }
}

fn refused_with(r: Result<(), EndReason>, code: &str) {
    match r {
        Err(EndReason::Refused { status_code, .. }) => assert_eq!(status_code, code),
        other => panic!("expected a refusal with {code}, got {other:?}"),
    }
}

/// The peer's monitor saw a failed handshake, of whatever kind.
fn assert_refused(said: &Said) {
    let refused = said.all("refused");
    assert!(
        refused.len() == 1 && refused[0].starts_with("HANDSHAKE_FAILED_"),
        "{said:?}"
    );
}

fn public(z85: &str) -> CurvePublicKey {
    z85.parse().unwrap()
}

fn secret(z85: &str) -> CurveSecretKey {
    z85.parse().unwrap()
}

/// Our CURVE server with libzmq's server key.
fn curve_server() -> Security {
    Security::CurveServer {
        secret: secret(SERVER_SECRET),
    }
}

/// Our CURVE client with libzmq's client keys, expecting `server`.
fn curve_client(server: &str) -> Security {
    Security::CurveClient {
        server: public(server),
        public: public(CLIENT_PUBLIC),
        secret: secret(CLIENT_SECRET),
    }
}

/// An [`Authenticator`] that admits only these CURVE keys.
fn allow_keys(ctx: &Context, keys: &[&str]) -> Authenticator {
    let rules = AuthRules {
        curve_keys: Some(keys.iter().map(|k| public(k)).collect()),
        ..AuthRules::default()
    };
    Authenticator::start(ctx, rules).unwrap()
}

/// The peer's arguments for a CURVE server whose own ZAP handler admits
/// the client key with `user_id`, or for a CURVE client.
fn peer_curve(server: bool, user_id: &'static str) -> Vec<&'static str> {
    if server {
        vec![
            "--curve-server",
            SERVER_SECRET,
            "--zap-allow",
            CLIENT_PUBLIC,
            "--zap-user-id",
            user_id,
        ]
    } else {
        vec![
            "--curve-client",
            SERVER_PUBLIC,
            CLIENT_PUBLIC,
            CLIENT_SECRET,
        ]
    }
}

/// Our socket bound on a fresh endpoint of `tr`, or the peer bound and
/// ours connected: the running peer and our socket, connected.
fn pair_up(
    bin: &Path,
    ours: &Socket,
    ours_binds: bool,
    tr: Tr,
    theirs: &str,
    args: &[&str],
) -> Peer {
    if ours_binds {
        ours.bind(&endpoint(tr)).unwrap();
        let ep = ours.last_endpoint().unwrap();
        let mut all = vec![theirs, "connect", &ep];
        all.extend_from_slice(args);
        Peer::spawn(bin, &all)
    } else {
        let ep = endpoint(tr);
        let mut all = vec![theirs, "bind", &ep];
        all.extend_from_slice(args);
        let mut peer = Peer::spawn(bin, &all);
        ours.connect(&peer.line("endpoint")).unwrap();
        peer
    }
}

/// One interop case: our socket type against libzmq's matching one, which
/// side is the CURVE server (with a ZAP allow list of the client key), and
/// the transport. The usual side binds (REP, ROUTER, PULL, PUB), so half
/// the cases have the CURVE server connecting.
fn interop(bin: &Path, ours: SocketType, ours_serves: bool, tr: Tr) {
    let case = format!(
        "our {ours:?} as CURVE {} over {tr:?}",
        if ours_serves { "server" } else { "client" }
    );
    let ctx = Context::new();
    let _auth = ours_serves.then(|| allow_keys(&ctx, &[CLIENT_PUBLIC]));
    let s = sock(&ctx, ours);
    s.update_options(|o| {
        o.security = if ours_serves {
            curve_server()
        } else {
            curve_client(SERVER_PUBLIC)
        }
    });
    let n = N.to_string();
    let (theirs, action) = match ours {
        SocketType::Req => ("rep", "echo"),
        SocketType::Rep => ("req", "request"),
        SocketType::Dealer => ("router", "echo"),
        SocketType::Router => ("dealer", "request"),
        SocketType::Push => ("pull", "recv"),
        SocketType::Pull => ("push", "send"),
        SocketType::Pub => ("sub", "recv"),
        SocketType::Sub => ("pub", "publish"),
        other => unreachable!("{other:?}"),
    };
    // libzmq 4.3.4's REQ as a CURVE server drops the connection at the
    // first reply when its ZAP handler gave a user id (it hands its session
    // a credential frame the REQ state machine rejects; seen against its own
    // REP too), so that one peer's handler gives none.
    let lib_user = if theirs == "req" { "" } else { LIB_USER };
    let mut args = peer_curve(!ours_serves, lib_user);
    if theirs == "sub" {
        args.extend(["--subscribe", "tick"]);
    }
    args.extend([action, &n]);
    let events = s.monitor();
    let ours_binds = matches!(
        ours,
        SocketType::Rep | SocketType::Router | SocketType::Pull | SocketType::Pub
    );
    let mut peer = pair_up(bin, &s, ours_binds, tr, theirs, &args);
    let recv = |peer: &mut Peer| {
        s.recv().unwrap_or_else(|e| {
            let ours: Vec<_> = std::iter::from_fn(|| events.try_recv()).take(12).collect();
            panic!(
                "{case}: {e:?}; our events {ours:?}; the peer said {:?}",
                peer.so_far()
            )
        })
    };
    // The user id our Authenticator gave libzmq's client, on what we receive.
    let check_user = |m: &monocoque::Message| {
        if ours_serves {
            assert_eq!(
                m.property("User-Id"),
                Some(CLIENT_PUBLIC.as_bytes()),
                "{case}"
            );
        }
    };
    // What libzmq's receiving side must print, one per message.
    let mut expect_frames = Vec::new();
    match ours {
        SocketType::Req | SocketType::Dealer => {
            for i in 0..N {
                let m = msg(&["curve", &format!("request {i}")]);
                s.send(m.clone()).unwrap();
                let got = recv(&mut peer);
                assert_eq!(strs(&got), strs(&m), "{case}");
                expect_frames.push(format!("curve|request {i}"));
            }
        }
        SocketType::Rep | SocketType::Router => {
            for i in 0..N {
                let got = recv(&mut peer);
                check_user(&got);
                let f = strs(&got);
                let body = &f[f.len() - 2..];
                assert_eq!(body, ["curve", &format!("request {i}")], "{case}");
                s.send(got).unwrap();
            }
        }
        SocketType::Push => {
            for i in 0..N {
                s.send(msg(&["curve", &format!("message {i}")])).unwrap();
                expect_frames.push(format!("curve|message {i}"));
            }
        }
        SocketType::Pull => {
            for i in 0..N {
                let got = recv(&mut peer);
                check_user(&got);
                assert_eq!(strs(&got), ["curve", &format!("message {i}")], "{case}");
            }
        }
        SocketType::Pub => {
            wait_for("libzmq's subscription", || s.subscription_count() == 1);
            for i in 0..N {
                s.send(format!("tick {i}")).unwrap();
                expect_frames.push(format!("tick {i}"));
            }
        }
        SocketType::Sub => {
            s.subscribe("tick").unwrap();
            let mut last = None;
            for _ in 0..N {
                let got = recv(&mut peer);
                check_user(&got);
                let f = strs(&got);
                let i: u64 = f[0].strip_prefix("tick ").unwrap().parse().unwrap();
                assert!(last.is_none_or(|l| i > l), "{case}: {f:?} after {last:?}");
                last = Some(i);
            }
            assert!(!peer.exited(), "{case}: libzmq's PUB stopped early");
        }
        other => unreachable!("{other:?}"),
    }
    let said = peer.finish();
    assert!(
        said.has("event=HANDSHAKE_SUCCEEDED value=0"),
        "{case}: {said:?}"
    );
    assert!(said.has("ok"), "{case}: {said:?}");
    let frames = said.all("frames");
    assert_eq!(frames.len(), expect_frames.len(), "{case}: {said:?}");
    for (got, want) in frames.iter().zip(&expect_frames) {
        // libzmq's ROUTER prints the routing id first.
        assert!(got.ends_with(want.as_str()), "{case}: {got} is not {want}");
    }
    // libzmq's ZAP handler named our client, on every message libzmq got.
    let users = said.all("user-id");
    let want = if ours_serves { "" } else { lib_user };
    assert!(users.iter().all(|u| *u == want), "{case}: {users:?}");
    if !ours_serves {
        assert_eq!(
            said.all("zap").first().copied(),
            Some(format!("CURVE cred={CLIENT_PUBLIC} status=200").as_str()),
            "{case}"
        );
    }
}

#[test]
fn curve_interop_with_libzmq_for_every_pattern_both_roles_tcp_and_ipc() {
    let bin = peer_or_skip!();
    for ours in [
        SocketType::Req,
        SocketType::Rep,
        SocketType::Dealer,
        SocketType::Router,
        SocketType::Push,
        SocketType::Pull,
        SocketType::Pub,
        SocketType::Sub,
    ] {
        for ours_serves in [true, false] {
            for tr in [Tr::Tcp, Tr::Ipc] {
                interop(bin, ours, ours_serves, tr);
            }
        }
    }
}

#[test]
fn a_wrong_server_key_is_refused_on_both_sides() {
    let bin = peer_or_skip!();
    let wrong = curve_keypair().0.to_z85();

    // Our client with the wrong key for libzmq's server: libzmq cannot
    // open our HELLO, says so on its monitor, and drops us.
    let ctx = Context::new();
    let req = sock(&ctx, SocketType::Req);
    req.update_options(|o| o.security = curve_client(&wrong));
    let events = req.monitor();
    let args = ["--curve-server", SERVER_SECRET, "refused"];
    let peer = pair_up(bin, &req, false, Tr::Tcp, "rep", &args);
    let ours = handshake(&events).expect_err("libzmq must drop us");
    let said = peer.finish();
    assert_eq!(
        said.all("refused"),
        [format!("HANDSHAKE_FAILED_PROTOCOL value={}", 0x1100_0001).as_str()],
        "ZMQ_PROTOCOL_ERROR_ZMTP_CRYPTOGRAPHIC: {said:?}"
    );
    assert_eq!(ours, EndReason::PeerClosed);

    // libzmq's client with the wrong key for our server: we cannot open
    // its HELLO, and libzmq sees the connection end mid-handshake.
    let rep = sock(&ctx, SocketType::Rep);
    rep.update_options(|o| o.security = curve_server());
    let events = rep.monitor();
    let args = [
        "--curve-client",
        &wrong,
        CLIENT_PUBLIC,
        CLIENT_SECRET,
        "refused",
    ];
    let peer = pair_up(bin, &rep, true, Tr::Tcp, "req", &args);
    assert_eq!(
        handshake(&events),
        Err(EndReason::Peer(ProtocolError::CurveBoxRejected {
            what: "HELLO"
        }))
    );
    let said = peer.finish();
    let refused = said.all("refused");
    assert!(
        refused.len() == 1 && refused[0].starts_with("HANDSHAKE_FAILED_NO_DETAIL"),
        "{said:?}"
    );
}

#[test]
fn an_unknown_client_key_is_refused_by_either_allow_list() {
    let bin = peer_or_skip!();

    // Our Authenticator lists another key; libzmq's client is refused
    // with 400 on both monitors.
    let ctx = Context::new();
    let (other, _) = curve_keypair();
    let _auth = allow_keys(&ctx, &[&other.to_z85()]);
    let rep = sock(&ctx, SocketType::Rep);
    rep.update_options(|o| o.security = curve_server());
    let events = rep.monitor();
    let mut args = peer_curve(false, "");
    args.push("refused");
    let peer = pair_up(bin, &rep, true, Tr::Tcp, "req", &args);
    refused_with(handshake(&events), "400");
    let said = peer.finish();
    // libzmq only sees the connection end: we send no ERROR (see
    // libzmq_clients_we_refuse_are_told_the_status).
    assert_refused(&said);

    // libzmq's ZAP handler lists libzmq's client key; ours is another.
    let ctx = Context::new();
    let (stranger_public, stranger_secret) = curve_keypair();
    let req = sock(&ctx, SocketType::Req);
    req.update_options(|o| {
        o.security = Security::CurveClient {
            server: public(SERVER_PUBLIC),
            public: stranger_public,
            secret: stranger_secret,
        }
    });
    let events = req.monitor();
    let mut args = peer_curve(true, LIB_USER);
    args.push("refused");
    let peer = pair_up(bin, &req, false, Tr::Tcp, "rep", &args);
    refused_with(handshake(&events), "400");
    let said = peer.finish();
    assert_eq!(said.all("refused"), ["HANDSHAKE_FAILED_AUTH value=400"]);
    let zap = format!("CURVE cred={} status=400", stranger_public.to_z85());
    assert_eq!(said.all("zap").first(), Some(&zap.as_str()), "{said:?}");
}

#[test]
fn a_denying_libzmq_zap_handler_refuses_our_client_with_its_status() {
    let bin = peer_or_skip!();
    for code in ["300", "400", "500"] {
        let ctx = Context::new();
        let dealer = sock(&ctx, SocketType::Dealer);
        dealer.update_options(|o| o.security = curve_client(SERVER_PUBLIC));
        let events = dealer.monitor();
        let args = [
            "--curve-server",
            SERVER_SECRET,
            "--zap-deny",
            code,
            "refused",
        ];
        let peer = pair_up(bin, &dealer, false, Tr::Ipc, "router", &args);
        if code == "300" {
            // A temporary failure: libzmq closes without an ERROR, as it
            // does for its own clients.
            assert_eq!(handshake(&events), Err(EndReason::PeerClosed));
        } else {
            refused_with(handshake(&events), code);
        }
        let said = peer.finish();
        assert_eq!(
            said.all("refused"),
            [format!("HANDSHAKE_FAILED_AUTH value={code}").as_str()]
        );
    }
}

#[test]
fn plain_through_our_authenticator_user_table() {
    let bin = peer_or_skip!();
    let ctx = Context::new();
    let rules = AuthRules {
        passwords: vec![(Bytes::from("admin"), Bytes::from("secret"))],
        ..AuthRules::default()
    };
    let _auth = Authenticator::start(&ctx, rules).unwrap();
    let pull = sock(&ctx, SocketType::Pull);
    pull.update_options(|o| o.security = Security::PlainServer { credentials: None });
    let events = pull.monitor();
    pull.bind(&endpoint(Tr::Tcp)).unwrap();
    let ep = pull.last_endpoint().unwrap();
    let good = [
        "push", "connect", &ep, "--plain", "admin", "secret", "send", "3",
    ];
    let peer = Peer::spawn(bin, &good);
    assert_eq!(handshake(&events), Ok(()));
    for i in 0..3 {
        let got = pull.recv().unwrap();
        assert_eq!(strs(&got), ["curve", &format!("message {i}")]);
        assert_eq!(got.property("User-Id"), Some(&b"admin"[..]));
    }
    peer.finish();
    let bad = [
        "push", "connect", &ep, "--plain", "admin", "guess", "refused",
    ];
    let peer = Peer::spawn(bin, &bad);
    refused_with(handshake(&events), "400");
    let said = peer.finish();
    // libzmq only sees the connection end: we send no ERROR (see
    // libzmq_clients_we_refuse_are_told_the_status).
    assert_refused(&said);
}

#[test]
fn plain_through_libzmq_zap_user_table() {
    let bin = peer_or_skip!();
    let plain = |password: &str| Security::PlainClient {
        username: Bytes::from("admin"),
        password: Bytes::copy_from_slice(password.as_bytes()),
    };
    let table = [
        "--plain-server",
        "--zap-allow",
        "admin:secret",
        "--zap-user-id",
        "admin-id",
    ];
    let ctx = Context::new();
    let push = sock(&ctx, SocketType::Push);
    push.update_options(|o| o.security = plain("secret"));
    let events = push.monitor();
    let mut args = table.to_vec();
    args.extend(["recv", "3"]);
    let peer = pair_up(bin, &push, false, Tr::Tcp, "pull", &args);
    assert_eq!(handshake(&events), Ok(()));
    for i in 0..3 {
        push.send(msg(&["plain", &format!("message {i}")])).unwrap();
    }
    let said = peer.finish();
    assert_eq!(said.all("zap"), ["PLAIN cred=admin:secret status=200"]);
    assert_eq!(said.all("user-id"), ["admin-id"; 3]);
    assert_eq!(said.all("frames")[2], "plain|message 2");

    let ctx = Context::new();
    let push = sock(&ctx, SocketType::Push);
    push.update_options(|o| o.security = plain("guess"));
    let events = push.monitor();
    let mut args = table.to_vec();
    args.push("refused");
    let peer = pair_up(bin, &push, false, Tr::Tcp, "pull", &args);
    refused_with(handshake(&events), "400");
    let said = peer.finish();
    assert_eq!(said.all("refused"), ["HANDSHAKE_FAILED_AUTH value=400"]);
}

#[test]
fn user_ids_reach_routers_on_both_sides() {
    let bin = peer_or_skip!();

    // libzmq's ZAP handler names our DEALER; libzmq's ROUTER sees the name.
    let ctx = Context::new();
    let dealer = sock(&ctx, SocketType::Dealer);
    dealer.update_options(|o| o.security = curve_client(SERVER_PUBLIC));
    let mut args = peer_curve(true, LIB_USER);
    args.extend(["echo", "1"]);
    let peer = pair_up(bin, &dealer, false, Tr::Tcp, "router", &args);
    dealer.send(msg(&["who", "am i"])).unwrap();
    assert_eq!(strs(&dealer.recv().unwrap()), ["who", "am i"]);
    let said = peer.finish();
    assert_eq!(said.all("user-id"), [LIB_USER]);

    // Our Authenticator names libzmq's DEALER by its key; our ROUTER sees it.
    let ctx = Context::new();
    let _auth = allow_keys(&ctx, &[CLIENT_PUBLIC]);
    let router = sock(&ctx, SocketType::Router);
    router.update_options(|o| o.security = curve_server());
    let mut args = peer_curve(false, "");
    args.extend(["request", "1"]);
    let peer = pair_up(bin, &router, true, Tr::Tcp, "dealer", &args);
    let got = router.recv().unwrap();
    assert_eq!(got.property("User-Id"), Some(CLIENT_PUBLIC.as_bytes()));
    assert_eq!(strs(&got)[1..], ["curve", "request 0"]);
    router.send(got).unwrap();
    peer.finish();
}

// Our server's refusal reaches a libzmq client as libzmq's own would: an
// ERROR after the ZAP verdict, HANDSHAKE_FAILED_AUTH 400 on its monitor.
#[test]
fn libzmq_curve_clients_we_refuse_are_told_the_status() {
    let bin = peer_or_skip!();

    // CURVE, a key not on our Authenticator's list.
    let ctx = Context::new();
    let _auth = allow_keys(&ctx, &[&curve_keypair().0.to_z85()]);
    let rep = sock(&ctx, SocketType::Rep);
    rep.update_options(|o| o.security = curve_server());
    let mut args = peer_curve(false, "");
    args.push("refused");
    let peer = pair_up(bin, &rep, true, Tr::Tcp, "req", &args);
    let said = peer.finish();
    assert_eq!(said.all("refused"), ["HANDSHAKE_FAILED_AUTH value=400"]);
}

// libzmq 4.3.4's PLAIN client reports HANDSHAKE_FAILED_PROTOCOL
// value=268435457 (ZMTP_UNEXPECTED_COMMAND) for our refusal, where a
// libzmq PLAIN server's refusal gives it HANDSHAKE_FAILED_AUTH 400. The
// cause is in libzmq: its PLAIN code spells the command's prefix
// "\x05ERROR", which C reads as the escape \x05E (0x5E) then "RROR", so a
// libzmq 4.3 PLAIN server sends `04 09 5e 52 52 4f 52 03 34 30 30` (seen
// through a proxy between two libzmq peers) and its client matches that
// and not a well-formed ERROR (`04 0a 05 45 52 52 4f 52 03 34 30 30`, what
// we send, as RFC 23 and 24 say, and as libzmq's CURVE code spells it).
// We keep sending the well-formed command: the client is refused either
// way, only its monitor names the reason differently.
#[test]
#[ignore = "libzmq 4.3's PLAIN client knows only its own misspelt ERROR (see the comment)"]
fn libzmq_plain_clients_we_refuse_are_told_the_status() {
    let bin = peer_or_skip!();
    // PLAIN, a password not in our Authenticator's table.
    let ctx = Context::new();
    let rules = AuthRules {
        passwords: vec![(Bytes::from("admin"), Bytes::from("secret"))],
        ..AuthRules::default()
    };
    let _auth = Authenticator::start(&ctx, rules).unwrap();
    let pull = sock(&ctx, SocketType::Pull);
    pull.update_options(|o| o.security = Security::PlainServer { credentials: None });
    let args = ["--plain", "admin", "guess", "refused"];
    let peer = pair_up(bin, &pull, true, Tr::Tcp, "push", &args);
    let said = peer.finish();
    assert_eq!(said.all("refused"), ["HANDSHAKE_FAILED_AUTH value=400"]);
}
