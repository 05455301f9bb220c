//! Opening a socket from the command line: options, `--monitor`, endpoints,
//! and the waits that `--timeout` bounds.

use std::io::Write;
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::Arc;
use std::thread::JoinHandle;
use std::time::{Duration, Instant};

use bytes::Bytes;
use monocoque::{
    AuthRules, Authenticator, Context, CurveSecretKey, Error, MonitorEvent, Security, Socket,
    SocketOptions, SocketType,
};

use crate::cli::{Curve, SocketArgs, SocketSpec};
use crate::endpoint::{type_name, Side};
use crate::Failure;

/// A socket opened for a subcommand, with the thread watching its events.
#[derive(Debug)]
pub(crate) struct Opened {
    /// The socket.
    pub(crate) socket: Socket,
    watch: Watch,
    /// `--curve-allow`'s ZAP handler, while the socket lives.
    _auth: Option<Authenticator>,
}

impl Opened {
    /// Closes the socket (lingering per `--linger`), then lets the monitor
    /// print the last events.
    pub(crate) fn close(self) {
        // Connections cut short by the close are not the peer's refusal.
        self.watch.closing.store(true, Ordering::Release);
        self.socket.close();
        self.watch.stop();
    }
}

/// How long `--monitor` waits, after the close, for the socket's last
/// events.
const LAST_EVENTS: Duration = Duration::from_millis(500);

/// Reads a socket's events on a thread of its own: prints them on stderr
/// with `--monitor`, and ends `mq` (exit 1) when a peer we connected to
/// refuses the handshake, since retrying cannot succeed.
#[derive(Debug)]
struct Watch {
    stop: Arc<AtomicBool>,
    closing: Arc<AtomicBool>,
    thread: JoinHandle<()>,
}

impl Watch {
    fn start(
        monitor: monocoque::Monitor,
        print: bool,
        label: Option<&'static str>,
        fatal: impl Fn(&str) -> bool + Send + 'static,
    ) -> Watch {
        let stop = Arc::new(AtomicBool::new(false));
        let closing = Arc::new(AtomicBool::new(false));
        let flag = stop.clone();
        let closed = closing.clone();
        let handle = move |ev: MonitorEvent| {
            let mut err = std::io::stderr().lock();
            if print {
                let _ = match label {
                    Some(l) => writeln!(err, "{l}: {ev}"),
                    None => writeln!(err, "{ev}"),
                };
            }
            if let Some(reason) = ev.handshake_failure() {
                let endpoint = ev.endpoint();
                if fatal(endpoint) && !closed.load(Ordering::Acquire) {
                    let _ = writeln!(err, "mq: handshake failed: {reason} {endpoint}");
                    let _ = std::io::stdout().flush();
                    std::process::exit(1);
                }
            }
        };
        let thread = std::thread::spawn(move || {
            while !flag.load(Ordering::Acquire) {
                if let Some(ev) = monitor.recv_timeout(Duration::from_millis(20)) {
                    handle(ev);
                }
            }
            // The socket is closed: with --monitor, print its last events,
            // up to MONITOR_STOPPED (once its connections are gone).
            let until = Instant::now() + if print { LAST_EVENTS } else { Duration::ZERO };
            loop {
                let left = until.saturating_duration_since(Instant::now());
                let Some(ev) = monitor.try_recv().or_else(|| monitor.recv_timeout(left)) else {
                    break;
                };
                let last = matches!(ev, MonitorEvent::MonitorStopped { .. });
                handle(ev);
                if last {
                    break;
                }
            }
        });
        Watch {
            stop,
            closing,
            thread,
        }
    }

    fn stop(self) {
        self.stop.store(true, Ordering::Release);
        let _ = self.thread.join();
    }
}

/// The socket options the command line sets.
pub(crate) fn options(base: SocketOptions, args: &SocketArgs) -> SocketOptions {
    let mut o = base;
    if let Some(max) = args.maxmsgsize {
        o.maxmsgsize = Some(max);
    }
    if let Some(hwm) = args.hwm {
        o.sndhwm = hwm;
        o.rcvhwm = hwm;
    }
    o.linger = args.linger;
    o.rcvtimeo = args.timeout;
    o.sndtimeo = args.timeout;
    if let Some(id) = &args.identity {
        o.routing_id = Some(Bytes::copy_from_slice(id.as_bytes()));
    }
    if let Some(ivl) = args.heartbeat {
        o.heartbeat_ivl = Some(ivl);
    }
    let credentials = args.plain.as_ref().map(|(user, pass)| {
        (
            Bytes::copy_from_slice(user.as_bytes()),
            Bytes::copy_from_slice(pass.as_bytes()),
        )
    });
    o.security = match (args.plain_server, credentials) {
        (true, credentials) => Security::PlainServer { credentials },
        (false, Some((username, password))) => Security::PlainClient { username, password },
        (false, None) => Security::Null,
    };
    match &args.curve {
        Some(Curve::Server { secret, .. }) => {
            o.security = Security::CurveServer {
                secret: secret.clone(),
            };
        }
        Some(Curve::Client { server, secret }) => {
            // Without --curve-secret, a fresh key pair (the server then
            // needs no allow list, or cannot know this key).
            let secret = secret.clone().unwrap_or_else(CurveSecretKey::generate);
            o.security = Security::CurveClient {
                server: *server,
                public: secret.public_key(),
                secret,
            };
        }
        None => {}
    }
    o
}

/// `--curve-allow`: a ZAP handler in `ctx` admitting only those keys. A
/// second socket of the same `mq` with the same list shares the first's.
fn authenticator(ctx: &Context, args: &SocketArgs) -> Result<Option<Authenticator>, Failure> {
    let Some(Curve::Server { allow, .. }) = &args.curve else {
        return Ok(None);
    };
    if allow.is_empty() {
        return Ok(None);
    }
    let rules = AuthRules {
        curve_keys: Some(allow.clone()),
        ..AuthRules::default()
    };
    match Authenticator::start(ctx, rules) {
        Ok(a) => Ok(Some(a)),
        Err(Error::AddressInUse(_)) => Ok(None),
        Err(e) => Err(Failure::Runtime(format!(
            "cannot start the ZAP handler: {e}"
        ))),
    }
}

/// Opens a socket: options, monitor, then every bind and connect.
pub(crate) fn open(
    ctx: &Context,
    spec: &SocketSpec,
    args: &SocketArgs,
    label: Option<&'static str>,
) -> Result<Opened, Failure> {
    let socket = ctx.socket(spec.ty).map_err(|e| {
        Failure::Runtime(format!("cannot open a {} socket: {e}", type_name(spec.ty)))
    })?;
    socket.set_options(options(socket.options(), args));
    let connected: Vec<String> = spec
        .endpoints
        .iter()
        .filter(|e| e.side == Side::Connect)
        .map(|e| e.addr.clone())
        .collect();
    let binds = spec.endpoints.iter().any(|e| e.side == Side::Bind);
    let fatal = move |endpoint: &str| !binds || connected.iter().any(|c| c == endpoint);
    let auth = authenticator(ctx, args)?;
    let watch = Watch::start(socket.monitor(), args.monitor, label, fatal);
    let opened = Opened {
        socket,
        watch,
        _auth: auth,
    };
    for ep in &spec.endpoints {
        let (verb, result) = match ep.side {
            Side::Bind => ("bind", opened.socket.bind(&ep.addr)),
            Side::Connect => ("connect", opened.socket.connect(&ep.addr)),
        };
        if let Err(e) = result {
            let msg = format!("cannot {verb} {}: {e}", ep.addr);
            opened.close();
            return Err(match e {
                Error::Endpoint(..) | Error::Invalid(_) | Error::NotSupported(_) => {
                    Failure::Usage(msg)
                }
                _ => Failure::Runtime(msg),
            });
        }
    }
    Ok(opened)
}

/// Waits until `ready()` holds, for at most `timeout` (no limit: `None`).
pub(crate) fn wait_until(
    timeout: Option<Duration>,
    what: impl FnOnce() -> String,
    mut ready: impl FnMut() -> bool,
) -> Result<(), Failure> {
    let deadline = timeout.map(|t| Instant::now() + t);
    let mut pause = Duration::from_millis(1);
    while !ready() {
        if deadline.is_some_and(|d| Instant::now() >= d) {
            return Err(timed_out(timeout, &what()));
        }
        std::thread::sleep(pause);
        pause = (pause * 2).min(Duration::from_millis(20));
    }
    Ok(())
}

/// The failure of a wait that `--timeout` cut short.
pub(crate) fn timed_out(timeout: Option<Duration>, what: &str) -> Failure {
    let ms = timeout.map_or(0, |t| t.as_millis());
    Failure::Runtime(format!("timed out after {ms} ms {what}"))
}

/// `--wait-peers N`: N handshaken peers, or for pub and xpub N
/// subscriptions. Without it, every type but pub and xpub (which drop
/// messages nobody subscribed to) waits for one peer, so a message is handed
/// to a connected peer or the wait times out.
pub(crate) fn wait_for_peers(opened: &Opened, args: &SocketArgs) -> Result<(), Failure> {
    let socket = &opened.socket;
    let ty = socket.socket_type();
    let publisher = matches!(ty, SocketType::Pub | SocketType::Xpub);
    match args.wait_peers {
        Some(n) if publisher => wait_until(
            args.timeout,
            || format!("waiting for {n} subscription(s)"),
            || socket.subscription_count() >= n,
        ),
        Some(n) => wait_until(
            args.timeout,
            || format!("waiting for {n} peer(s)"),
            || socket.peer_count() >= n,
        ),
        None if publisher => Ok(()),
        None => wait_until(
            args.timeout,
            || "waiting for a peer".to_owned(),
            || socket.peer_count() >= 1,
        ),
    }
}

/// A library error on send or receive, as `mq` reports it.
pub(crate) fn io_failure(e: Error, timeout: Option<Duration>, what: &str) -> Failure {
    match e {
        Error::WouldBlock => timed_out(timeout, what),
        e => Failure::Runtime(format!("{what}: {e}")),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn command_line_options_map_to_socket_options() {
        let args = SocketArgs {
            hwm: Some(7),
            maxmsgsize: Some(4096),
            linger: Some(Duration::from_millis(5)),
            timeout: Some(Duration::from_millis(9)),
            identity: Some("me".to_owned()),
            heartbeat: Some(Duration::from_millis(100)),
            plain: Some(("ann".to_owned(), "pw".to_owned())),
            ..SocketArgs::default()
        };
        let o = options(SocketOptions::default(), &args);
        assert_eq!((o.sndhwm, o.rcvhwm), (7, 7));
        assert_eq!(o.maxmsgsize, Some(4096));
        assert_eq!(o.linger, Some(Duration::from_millis(5)));
        assert_eq!(o.rcvtimeo, Some(Duration::from_millis(9)));
        assert_eq!(o.sndtimeo, Some(Duration::from_millis(9)));
        assert_eq!(o.routing_id.as_deref(), Some(&b"me"[..]));
        assert_eq!(o.heartbeat_ivl, Some(Duration::from_millis(100)));
        assert_eq!(
            o.security,
            Security::PlainClient {
                username: Bytes::from_static(b"ann"),
                password: Bytes::from_static(b"pw"),
            }
        );
        // --plain-server with --plain admits that user alone; without it, all.
        let server = options(
            SocketOptions::default(),
            &SocketArgs {
                plain_server: true,
                ..args.clone()
            },
        );
        assert_eq!(
            server.security,
            Security::PlainServer {
                credentials: Some((Bytes::from_static(b"ann"), Bytes::from_static(b"pw")))
            }
        );
        let open_door = options(
            SocketOptions::default(),
            &SocketArgs {
                plain_server: true,
                ..SocketArgs::default()
            },
        );
        assert_eq!(
            open_door.security,
            Security::PlainServer { credentials: None }
        );
        // Defaults stay libzmq's: linger waits, no timeouts, HWM 1000.
        let plain = options(SocketOptions::default(), &SocketArgs::default());
        assert_eq!(plain, SocketOptions::default());
    }
}
