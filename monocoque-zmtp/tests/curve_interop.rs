//! CURVE interop against real libzmq over loopback TCP. The `zmq` crate's
//! vendored libzmq has no CURVE (no libsodium), so the peer is a small C
//! program (`tests/peers/curve_peer.c`) built here with `gcc ... -lzmq`
//! against the system's libzmq (Debian's `libzmq3-dev`, which `.ci/run`
//! installs). Both roles: our client against libzmq's CURVE server with a
//! ZAP handler (admits with a User-Id, or refuses), and our server for
//! libzmq's CURVE client (the right and a wrong server key); libzmq's test
//! keys throughout. Without gcc or the package each test says SKIPPED on
//! stderr and returns.

#![allow(clippy::unwrap_used)]
use std::io::{BufRead, BufReader, ErrorKind, Read, Write};
use std::net::{TcpListener, TcpStream};
use std::path::{Path, PathBuf};
use std::process::{Child, ChildStdout, Command, Stdio};
use std::sync::OnceLock;
use std::time::{Duration, Instant};

use bytes::Bytes;
use monocoque_zmtp::{
    CurvePublicKey, CurveSecretKey, Event, MechanismConfig, PeerInfo, ProtocolError, Session,
    SessionConfig, SocketType, ZapReply, ZapRequest,
};

const SERVER_PUBLIC: &str = "rq:rM>}U?@Lns47E1%kR.o@n%FcmmsL/@{H8]yf7";
const SERVER_SECRET: &str = "JTKVSB%%)wK0E.X)V>+}o?pNmC{O&4W4b!Ni{Lh6";
const CLIENT_PUBLIC: &str = "Yne@$w-vo<fVvi]a<NY6T1ed:M$fCG*[IaLV{hID";
const CLIENT_SECRET: &str = "D:)Q[IlAW!ahhC2ac:9*A}h:p?([4%wOTJ%JR%cs";

const TIMEOUT: Duration = Duration::from_secs(10);

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
        let src = Path::new(env!("CARGO_MANIFEST_DIR")).join("tests/peers/curve_peer.c");
        let out = Path::new(env!("CARGO_TARGET_TMPDIR")).join("curve_peer");
        let built = Command::new("gcc")
            .args(["-O1", "-o"])
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
                eprintln!("SKIPPED: curve interop needs a libzmq with CURVE: {why}");
                return;
            }
        }
    };
}

/// A running libzmq peer; killed when dropped.
struct Peer {
    child: Child,
    out: BufReader<ChildStdout>,
}

impl Peer {
    fn spawn(bin: &Path, args: &[&str]) -> Peer {
        let mut child = Command::new(bin)
            .args(args)
            .stdout(Stdio::piped())
            .spawn()
            .unwrap();
        let out = BufReader::new(child.stdout.take().unwrap());
        Peer { child, out }
    }

    /// The value of the next `key=value` line with this key.
    fn line(&mut self, key: &str) -> String {
        loop {
            let mut l = String::new();
            assert!(
                self.out.read_line(&mut l).unwrap() > 0,
                "peer ended before {key}"
            );
            if let Some(v) = l.trim_end().strip_prefix(&format!("{key}=")) {
                return v.to_owned();
            }
        }
    }

    fn wait_ok(mut self) {
        let mut rest = String::new();
        self.out.read_to_string(&mut rest).unwrap();
        let status = self.child.wait().unwrap();
        assert!(status.success(), "peer failed: {status}; said {rest:?}");
    }
}

impl Drop for Peer {
    fn drop(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
}

/// Our end: a blocking stream and a session.
struct Conn {
    stream: TcpStream,
    session: Session,
    frames: Vec<(Bytes, bool)>,
    zap: Vec<ZapRequest>,
    peer: Option<PeerInfo>,
}

impl Conn {
    fn new(stream: TcpStream, config: SessionConfig) -> Conn {
        stream.set_read_timeout(Some(TIMEOUT)).unwrap();
        stream.set_nodelay(true).unwrap();
        Conn {
            stream,
            session: Session::new(config, Instant::now()).unwrap(),
            frames: Vec::new(),
            zap: Vec::new(),
            peer: None,
        }
    }

    fn write(&mut self, out: Vec<Bytes>) {
        for b in out {
            if self.stream.write_all(&b).is_err() {
                return;
            }
        }
    }

    fn flush(&mut self) {
        let mut out = Vec::new();
        self.session.poll_transmit(&mut out);
        self.write(out);
    }

    fn read_once(&mut self) -> Result<(), ProtocolError> {
        let mut buf = vec![0u8; 64 * 1024];
        let n = match self.stream.read(&mut buf) {
            Ok(0) => return Err(ProtocolError::Closed),
            Err(e) if e.kind() == ErrorKind::ConnectionReset => return Err(ProtocolError::Closed),
            Err(e) => panic!("read failed: {e}"),
            Ok(n) => n,
        };
        buf.truncate(n);
        let r = self.session.handle_input(Bytes::from(buf));
        while let Some(ev) = self.session.poll_event() {
            match ev {
                Event::ZapRequest(req) => {
                    let mut reply = ZapReply::accept(&req);
                    reply.user_id = Bytes::from(CLIENT_PUBLIC);
                    self.zap.push(*req);
                    self.session.zap_reply(reply)?;
                }
                Event::HandshakeComplete(p) => self.peer = Some(*p),
                Event::Frame { body, more } => self.frames.push((body, more)),
                _ => {}
            }
        }
        self.flush();
        r
    }

    fn handshake(&mut self) -> Result<PeerInfo, ProtocolError> {
        self.flush();
        while self.peer.is_none() {
            self.read_once()?;
        }
        Ok(self.peer.clone().unwrap())
    }

    /// The next whole message.
    fn recv(&mut self) -> Vec<Bytes> {
        loop {
            if let Some(end) = self.frames.iter().position(|(_, more)| !more) {
                return self.frames.drain(..=end).map(|(b, _)| b).collect();
            }
            self.read_once().unwrap();
        }
    }

    fn send(&mut self, parts: Vec<Bytes>) {
        let mut out = Vec::new();
        self.session.send_message(parts, &mut out).unwrap();
        self.write(out);
    }
}

fn client_config(t: SocketType, server_public: CurvePublicKey) -> SessionConfig {
    let mut c = SessionConfig::new(t);
    c.mechanism = MechanismConfig::CurveClient {
        public: CLIENT_PUBLIC.parse().unwrap(),
        secret: CLIENT_SECRET.parse().unwrap(),
        server_public,
    };
    c
}

fn server_config(t: SocketType) -> SessionConfig {
    let mut c = SessionConfig::new(t);
    c.mechanism = MechanismConfig::CurveServer {
        secret: SERVER_SECRET.parse::<CurveSecretKey>().unwrap(),
    };
    c
}

fn connect_to(peer: &mut Peer, config: SessionConfig) -> Conn {
    let ep = peer.line("endpoint");
    let stream = TcpStream::connect(ep.trim_start_matches("tcp://")).unwrap();
    Conn::new(stream, config)
}

#[test]
fn our_req_client_with_libzmq_rep_curve_server_and_its_zap_handler() {
    let bin = peer_or_skip!();
    let mut peer = Peer::spawn(bin, &["server", "tcp://127.0.0.1:*", "accept", "3"]);
    let mut c = connect_to(
        &mut peer,
        client_config(SocketType::Req, SERVER_PUBLIC.parse().unwrap()),
    );
    let info = c.handshake().unwrap();
    assert_eq!(info.socket_type, SocketType::Rep);
    assert_eq!(info.mechanism.as_str(), "CURVE");
    for i in 0..3 {
        let body = Bytes::from(format!("request {i}"));
        let long = Bytes::from(vec![i as u8; 70_000]);
        let req = vec![Bytes::new(), Bytes::from_static(b"curve"), body, long];
        c.send(req.clone());
        assert_eq!(c.recv(), req);
        // libzmq's ZAP handler saw our key once and gave every request its
        // User-Id.
        if i == 0 {
            assert_eq!(peer.line("zap-mechanism"), "CURVE");
            assert_eq!(peer.line("zap-key"), CLIENT_PUBLIC);
        }
        assert_eq!(peer.line("user-id"), "curve-user");
    }
    peer.wait_ok();
}

#[test]
fn libzmq_req_curve_client_with_our_rep_server() {
    let bin = peer_or_skip!();
    let l = TcpListener::bind("127.0.0.1:0").unwrap();
    let ep = format!("tcp://{}", l.local_addr().unwrap());
    let peer = Peer::spawn(bin, &["client", &ep, "good", "3"]);
    let (stream, _) = l.accept().unwrap();
    let mut s = Conn::new(stream, server_config(SocketType::Rep));
    let info = s.handshake().unwrap();
    assert_eq!(info.socket_type, SocketType::Req);
    assert_eq!(info.user_id.as_deref(), Some(CLIENT_PUBLIC.as_bytes()));
    assert_eq!(s.zap.len(), 1);
    assert_eq!(&s.zap[0].mechanism[..], b"CURVE");
    let key: CurvePublicKey = CLIENT_PUBLIC.parse().unwrap();
    assert_eq!(
        s.zap[0].credentials,
        vec![Bytes::copy_from_slice(key.as_bytes())]
    );
    for i in 0..3 {
        let req = s.recv();
        assert_eq!(req.len(), 3, "{req:?}");
        assert_eq!(req[2], format!("request {i}").as_bytes());
        s.send(req);
    }
    peer.wait_ok();
}

#[test]
fn libzmq_zap_denial_refuses_our_client() {
    let bin = peer_or_skip!();
    let mut peer = Peer::spawn(bin, &["server", "tcp://127.0.0.1:*", "deny", "1"]);
    let mut c = connect_to(
        &mut peer,
        client_config(SocketType::Req, SERVER_PUBLIC.parse().unwrap()),
    );
    let err = c.handshake().unwrap_err();
    assert!(
        matches!(&err, ProtocolError::AuthenticationFailed { status_code, .. } if status_code == "400"),
        "{err:?}"
    );
}

#[test]
fn a_wrong_server_key_fails_both_ways() {
    let bin = peer_or_skip!();
    // Our client, the wrong key for libzmq's server: libzmq drops us.
    let mut peer = Peer::spawn(bin, &["server", "tcp://127.0.0.1:*", "accept", "1"]);
    let wrong = monocoque_zmtp::curve_keypair().0;
    let mut c = connect_to(&mut peer, client_config(SocketType::Req, wrong));
    assert_eq!(c.handshake().unwrap_err(), ProtocolError::Closed);
    drop(peer);

    // libzmq's client, the wrong key for our server: we refuse its HELLO.
    let l = TcpListener::bind("127.0.0.1:0").unwrap();
    let ep = format!("tcp://{}", l.local_addr().unwrap());
    let _peer = Peer::spawn(bin, &["client", &ep, "wrongkey", "1"]);
    let (stream, _) = l.accept().unwrap();
    let mut s = Conn::new(stream, server_config(SocketType::Rep));
    assert_eq!(
        s.handshake().unwrap_err(),
        ProtocolError::CurveBoxRejected { what: "HELLO" }
    );
}
