//! Listeners and connecters for tcp and ipc: bind synchronously (so errors
//! and `:*` ports come back at once), accept and connect on an I/O thread.
//!
//! Sockets are made with `socket2` so the transport options (buffers,
//! TOS, device, backlog, a source address) are set before `bind`,
//! `listen` or `connect`, as libzmq sets them; keepalives and
//! `TCP_USER_TIMEOUT` are set on each connection once it is made. None of
//! this is on the message path.

mod iface;

use std::cell::Cell;
#[cfg(unix)]
use std::hash::{BuildHasher, Hasher};
use std::io;
use std::net::{IpAddr, Ipv4Addr, Ipv6Addr, SocketAddr, SocketAddrV6};
#[cfg(unix)]
use std::os::fd::{AsFd, AsRawFd, RawFd};
#[cfg(unix)]
use std::os::unix::fs::DirBuilderExt;
// Windows: a socket handle stands where Unix has a descriptor.
#[cfg(windows)]
use std::os::windows::io::{AsRawSocket, AsSocket as AsFd, RawSocket as RawFd};
#[cfg(unix)]
use std::path::PathBuf;
use std::sync::Arc;
use std::time::Duration;

use compio::net::{TcpListener, TcpSocket, TcpStream, ToSocketAddrsAsync};
#[cfg(unix)]
use compio::net::{UnixListener, UnixSocket, UnixStream};
use monocoque_core::router::PeerId;
#[cfg(unix)]
use socket2::SockAddr;
use socket2::{Domain, Protocol, SockRef, Socket as RawSocket, TcpKeepalive, Type};

use crate::endpoint::Endpoint;
use crate::engine::threads::IoThreads;
use crate::engine::{self, ConnSpec, ConnStream};
use crate::error::{Error, Result};
use crate::monitor::{errno_of, MonitorEvent};
use crate::options::{ReconnectStop, SocketOptions};
use crate::pipe::Consumer;
use crate::socket_core::Port;
use crate::sync::{race, Cancel, Either};

/// A bound, listening socket, not yet handed to an I/O thread.
pub(crate) enum Bound {
    Tcp(std::net::TcpListener, Tuning),
    #[cfg(unix)]
    Ipc(std::os::unix::net::UnixListener, Option<IpcFile>, Tuning),
}

/// What an ipc listener leaves on the file system: its socket file, and
/// for `ipc://*` the private directory made for it.
#[cfg(unix)]
pub(crate) struct IpcFile {
    path: PathBuf,
    dir: Option<PathBuf>,
}

#[cfg(unix)]
impl IpcFile {
    /// Removes the socket file and `ipc://*`'s directory. A file already
    /// gone is no failure; a directory that cannot go is (libzmq's
    /// `CLOSE_FAILED`).
    fn remove(&self) -> io::Result<()> {
        match std::fs::remove_file(&self.path) {
            Err(e) if e.kind() != io::ErrorKind::NotFound => return Err(e),
            _ => {}
        }
        if let Some(dir) = &self.dir {
            std::fs::remove_dir(dir)?;
        }
        Ok(())
    }
}

impl Bound {
    /// The listening descriptor, for the monitor.
    #[cfg(unix)]
    fn fd(&self) -> RawFd {
        match self {
            Bound::Tcp(l, _) => l.as_raw_fd(),
            Bound::Ipc(l, ..) => l.as_raw_fd(),
        }
    }

    /// The listening socket, for the monitor.
    #[cfg(windows)]
    fn fd(&self) -> RawFd {
        match self {
            Bound::Tcp(l, _) => l.as_raw_socket(),
        }
    }
}

/// The send buffer an ipc connection gets unless `SNDBUF` says otherwise
/// (the kernel doubles it, up to `net.core.wmem_max`). A Unix stream
/// socket keeps `net.core.wmem_default` (208 KiB here) where tcp's buffers
/// grow with the traffic (to 4 MiB here), and a sender blocked on a full
/// buffer is a hand-off between cores per 208 KiB: with 1 MiB, ipc
/// throughput at 1 KiB and 64 KiB was 1.3-1.5x (docs/PERFORMANCE.md). It
/// is a limit on bytes in flight, not memory held: an idle connection
/// costs nothing more.
#[cfg(unix)]
const IPC_SNDBUF: usize = 1 << 20;

/// The transport options of one bind or connect, as they were when it
/// started (libzmq copies them likewise).
#[derive(Clone, Debug)]
pub(crate) struct Tuning {
    keepalive: Option<bool>,
    keepalive_cnt: Option<u32>,
    keepalive_idle: Option<Duration>,
    keepalive_intvl: Option<Duration>,
    sndbuf: Option<usize>,
    rcvbuf: Option<usize>,
    backlog: u32,
    connect_timeout: Option<Duration>,
    /// TCP_MAXRT; read on Linux only (see `connection`).
    #[cfg_attr(not(target_os = "linux"), allow(dead_code))]
    maxrt: Option<Duration>,
    tos: u8,
    device: Option<String>,
    ipv6: bool,
    reconnect_stop: ReconnectStop,
}

impl Tuning {
    fn of(o: &SocketOptions) -> Tuning {
        Tuning {
            keepalive: o.tcp_keepalive,
            keepalive_cnt: o.tcp_keepalive_cnt,
            keepalive_idle: o.tcp_keepalive_idle,
            keepalive_intvl: o.tcp_keepalive_intvl,
            sndbuf: o.sndbuf,
            rcvbuf: o.rcvbuf,
            backlog: o.backlog,
            connect_timeout: o.connect_timeout.filter(|d| !d.is_zero()),
            maxrt: o.tcp_maxrt.filter(|d| !d.is_zero()),
            tos: o.tos,
            device: o.bindtodevice.clone().filter(|d| !d.is_empty()),
            ipv6: o.ipv6,
            reconnect_stop: o.reconnect_stop,
        }
    }

    /// What a tcp socket gets before `bind` or `connect`: buffer sizes
    /// (accepted connections inherit them, and the receive buffer sizes
    /// the window scale, so they cannot wait), TOS and the device.
    fn before(&self, s: &RawSocket, v6: bool) -> io::Result<()> {
        if let Some(n) = self.sndbuf {
            s.set_send_buffer_size(n)?;
        }
        if let Some(n) = self.rcvbuf {
            s.set_recv_buffer_size(n)?;
        }
        self.set_tos(&SockRef::from(s), v6)?;
        #[cfg(target_os = "linux")]
        if let Some(dev) = &self.device {
            s.bind_device(Some(dev.as_bytes()))?;
        }
        // `SO_BINDTODEVICE` is Linux's: refused rather than ignored, as
        // traffic would leave by another interface than the one asked for.
        #[cfg(not(target_os = "linux"))]
        if self.device.is_some() {
            return Err(io::Error::new(
                io::ErrorKind::Unsupported,
                "BINDTODEVICE is supported on Linux only",
            ));
        }
        Ok(())
    }

    /// `IP_TOS`, and over IPv6 `IPV6_TCLASS` too (as libzmq does; the
    /// former then marks IPv4-mapped traffic).
    fn set_tos(&self, s: &SockRef<'_>, v6: bool) -> io::Result<()> {
        if self.tos == 0 {
            return Ok(());
        }
        // Windows has no `IPV6_TCLASS` to set: IPv6 traffic is not marked.
        #[cfg(unix)]
        if v6 {
            s.set_tclass_v6(u32::from(self.tos))?;
            let _ = s.set_tos_v4(u32::from(self.tos));
            Ok(())
        } else {
            s.set_tos_v4(u32::from(self.tos))
        }
        #[cfg(windows)]
        if v6 {
            let _ = s.set_tos_v4(u32::from(self.tos));
            Ok(())
        } else {
            s.set_tos_v4(u32::from(self.tos))
        }
    }

    /// What an ipc connection gets once it is made (connected or
    /// accepted): `SNDBUF` and `RCVBUF`, which libzmq applies to tcp only,
    /// and [`IPC_SNDBUF`] for a send buffer left unset. The kernel caps a
    /// size rather than refusing it, so a failure (none is known) leaves
    /// the system's default.
    #[cfg(unix)]
    fn ipc_connection<S: AsFd>(&self, stream: &S) {
        let s = SockRef::from(stream);
        let _ = s.set_send_buffer_size(self.sndbuf.unwrap_or(IPC_SNDBUF));
        if let Some(n) = self.rcvbuf {
            let _ = s.set_recv_buffer_size(n);
        }
    }

    /// What each connection gets once it is made (connected or accepted):
    /// no Nagle, keepalives, the retransmission timeout, and TOS again for
    /// an accepted one.
    fn connection<S: AsFd>(&self, stream: &S, accepted: bool) -> io::Result<()> {
        let s = SockRef::from(stream);
        let _ = s.set_tcp_nodelay(true);
        match self.keepalive {
            None => {}
            Some(false) => s.set_keepalive(false)?,
            Some(true) => {
                let mut k = TcpKeepalive::new();
                if let Some(idle) = self.keepalive_idle {
                    k = k.with_time(idle);
                }
                if let Some(intvl) = self.keepalive_intvl {
                    k = k.with_interval(intvl);
                }
                if let Some(cnt) = self.keepalive_cnt {
                    k = k.with_retries(cnt);
                }
                s.set_tcp_keepalive(&k)?;
            }
        }
        // `TCP_USER_TIMEOUT` is Linux's; elsewhere TCP_MAXRT is ignored, as
        // libzmq ignores it where the system has no such option.
        #[cfg(target_os = "linux")]
        if let Some(maxrt) = self.maxrt {
            s.set_tcp_user_timeout(Some(maxrt))?;
        }
        if accepted {
            let v6 = s.local_addr()?.is_ipv6();
            self.set_tos(&s, v6)?;
        }
        Ok(())
    }
}

/// A tcp host as libzmq resolves it: an IPv4 or IPv6 literal (an IPv6 one
/// with an optional `%zone`), or `None` for a name.
fn literal(host: &str, port: u16) -> Result<Option<SocketAddr>> {
    let (ip, zone) = match host.rsplit_once('%') {
        Some((ip, zone)) => (ip, Some(zone)),
        None => (host, None),
    };
    let Ok(ip) = ip.parse::<IpAddr>() else {
        return Ok(None);
    };
    let bad = || Error::Endpoint(format!("tcp://{host}:{port}"), "unknown zone");
    match (ip, zone) {
        (IpAddr::V6(v6), Some(zone)) => {
            let scope = match zone.parse::<u32>() {
                Ok(n) => n,
                Err(_) => iface::addresses(zone)?
                    .and_then(|a| a.first().map(|a| a.index))
                    .ok_or_else(bad)?,
            };
            Ok(Some(SocketAddrV6::new(v6, port, 0, scope).into()))
        }
        (_, Some(_)) => Err(bad()),
        (ip, None) => Ok(Some(SocketAddr::new(ip, port))),
    }
}

/// An interface's address for binding (or a connect's source): an IPv6
/// one first with IPV6 (libzmq takes only those), else an IPv4 one.
fn interface_addr(name: &str, port: u16, ipv6: bool) -> Result<Option<SocketAddr>> {
    let Some(addrs) = iface::addresses(name)? else {
        return Ok(None);
    };
    let v4 = addrs.iter().find(|a| a.ip.is_ipv4());
    let v6 = addrs.iter().find(|a| a.ip.is_ipv6());
    let pick = if ipv6 { v6.or(v4) } else { v4 };
    let Some(a) = pick else {
        return Err(Error::Endpoint(
            format!("tcp://{name}:{port}"),
            "the interface has no IPv4 address (set IPV6 to use its IPv6 one)",
        ));
    };
    Ok(Some(match a.ip {
        IpAddr::V6(ip) => {
            let link_local = ip.segments()[0] & 0xffc0 == 0xfe80;
            let scope = if link_local { a.index } else { 0 };
            SocketAddrV6::new(ip, port, 0, scope).into()
        }
        ip => SocketAddr::new(ip, port),
    }))
}

/// Where a bind (or a connect's source) goes: `*`, a literal, an
/// interface's name, then (beyond libzmq, which stops at interfaces) a
/// host name.
fn local_addr(host: &str, port: u16, ipv6: bool) -> Result<SocketAddr> {
    if host == "*" {
        let any = if ipv6 {
            IpAddr::V6(Ipv6Addr::UNSPECIFIED)
        } else {
            IpAddr::V4(Ipv4Addr::UNSPECIFIED)
        };
        return Ok(SocketAddr::new(any, port));
    }
    if let Some(addr) = literal(host, port)? {
        return Ok(addr);
    }
    if let Some(addr) = interface_addr(host, port, ipv6)? {
        return Ok(addr);
    }
    let mut addrs: Vec<SocketAddr> = std::net::ToSocketAddrs::to_socket_addrs(&(host, port))
        .map_err(|_| Error::Endpoint(format!("tcp://{host}:{port}"), "no such interface or host"))?
        .collect();
    prefer(&mut addrs, ipv6);
    addrs
        .into_iter()
        .next()
        .ok_or_else(|| Error::Endpoint(format!("tcp://{host}:{port}"), "cannot resolve the host"))
}

/// Puts IPv4 addresses first unless IPV6 is set (libzmq then resolves
/// names to IPv4 only; we try IPv6 after them).
fn prefer(addrs: &mut [SocketAddr], ipv6: bool) {
    if !ipv6 {
        addrs.sort_by_key(SocketAddr::is_ipv6);
    }
}

fn in_use(ep: &Endpoint) -> impl Fn(io::Error) -> Error + '_ {
    move |e| match e.kind() {
        io::ErrorKind::AddrInUse => Error::AddressInUse(ep.to_string()),
        _ => Error::Io(e),
    }
}

/// Binds `ep` with the socket's options; returns the listener and the
/// endpoint as bound.
pub(crate) fn bind(ep: &Endpoint, opts: &SocketOptions) -> Result<(Bound, String)> {
    let tuning = Tuning::of(opts);
    let backlog = i32::try_from(tuning.backlog).unwrap_or(i32::MAX);
    match ep {
        Endpoint::Tcp { host, port, .. } => {
            let addr = local_addr(host, *port, tuning.ipv6)?;
            let s = RawSocket::new(Domain::for_address(addr), Type::STREAM, Some(Protocol::TCP))?;
            if addr.is_ipv6() {
                // `[::]` takes IPv4 connections too (libzmq's
                // enable_ipv4_mapping).
                let _ = s.set_only_v6(false);
            }
            s.set_reuse_address(true)?;
            tuning.before(&s, addr.is_ipv6())?;
            s.bind(&addr.into()).map_err(in_use(ep))?;
            s.listen(backlog)?;
            s.set_nonblocking(true)?;
            let l = std::net::TcpListener::from(s);
            let local = l.local_addr()?;
            Ok((Bound::Tcp(l, tuning), format!("tcp://{local}")))
        }
        #[cfg(windows)]
        Endpoint::Ipc(_) => Err(Error::Endpoint(ep.to_string(), NO_IPC)),
        #[cfg(unix)]
        Endpoint::Ipc(path) => {
            let (addr, file) = if let Some(name) = path.strip_prefix('@') {
                let mut abstract_name = vec![0u8];
                abstract_name.extend_from_slice(name.as_bytes());
                let os =
                    <std::ffi::OsStr as std::os::unix::ffi::OsStrExt>::from_bytes(&abstract_name);
                (SockAddr::unix(os)?, None)
            } else {
                let file = if path == "*" {
                    wildcard_ipc()?
                } else {
                    // A socket file left by a process that is gone is
                    // replaced, as libzmq does.
                    if std::os::unix::net::UnixStream::connect(path).is_err() {
                        let _ = std::fs::remove_file(path);
                    }
                    IpcFile {
                        path: PathBuf::from(path),
                        dir: None,
                    }
                };
                (SockAddr::unix(&file.path)?, Some(file))
            };
            let listening = (|| {
                let s = RawSocket::new(Domain::UNIX, Type::STREAM, None)?;
                s.bind(&addr).map_err(in_use(ep))?;
                s.listen(backlog)?;
                s.set_nonblocking(true)?;
                Ok::<_, Error>(std::os::unix::net::UnixListener::from(s))
            })();
            let l = match listening {
                Ok(l) => l,
                Err(e) => {
                    if let Some(IpcFile { dir: Some(dir), .. }) = &file {
                        let _ = std::fs::remove_dir(dir);
                    }
                    return Err(e);
                }
            };
            let shown = match &file {
                Some(f) => f.path.display().to_string(),
                None => path.clone(),
            };
            Ok((Bound::Ipc(l, file, tuning), format!("ipc://{shown}")))
        }
        Endpoint::Inproc(_) => Err(Error::Endpoint(
            ep.to_string(),
            "inproc is not a network transport",
        )),
    }
}

/// Refuses what this system cannot do with `ep`, before a bind or
/// connect starts: Linux's abstract ipc names (`ipc://@name`) elsewhere,
/// and ipc at all on Windows.
#[cfg(not(target_os = "linux"))]
pub(crate) fn refuse_unsupported(ep: &Endpoint) -> Result<()> {
    match ep {
        #[cfg(unix)]
        Endpoint::Ipc(path) if path.starts_with('@') => Err(Error::Endpoint(
            ep.to_string(),
            "abstract ipc names (ipc://@name) are supported on Linux only",
        )),
        #[cfg(windows)]
        Endpoint::Ipc(_) => Err(Error::Endpoint(ep.to_string(), NO_IPC)),
        _ => Ok(()),
    }
}

/// Why an `ipc://` endpoint is refused on Windows.
#[cfg(windows)]
const NO_IPC: &str = "ipc is not supported on Windows (use tcp or inproc)";

/// libzmq's `ipc://*`: a new directory, private to this user, under
/// `$TMPDIR`, `$TEMPDIR`, `$TMP` or `/tmp`, holding the socket `socket`.
#[cfg(unix)]
fn wildcard_ipc() -> io::Result<IpcFile> {
    let base = ["TMPDIR", "TEMPDIR", "TMP"]
        .iter()
        .filter_map(std::env::var_os)
        .map(PathBuf::from)
        .find(|p| p.is_dir())
        .unwrap_or_else(|| PathBuf::from("/tmp"));
    for _ in 0..64 {
        let dir = base.join(format!("tmp{}", random_name()));
        match std::fs::DirBuilder::new().mode(0o700).create(&dir) {
            Ok(()) => {
                return Ok(IpcFile {
                    path: dir.join("socket"),
                    dir: Some(dir),
                })
            }
            Err(e) if e.kind() == io::ErrorKind::AlreadyExists => continue,
            Err(e) => return Err(e),
        }
    }
    Err(io::Error::new(
        io::ErrorKind::AlreadyExists,
        "no free name for an ipc://* directory",
    ))
}

/// Six random letters and digits, as `mkdtemp` makes (the standard
/// library's hasher keys are random per process, and each new one differs).
#[cfg(unix)]
fn random_name() -> String {
    const CHARS: &[u8] = b"abcdefghijklmnopqrstuvwxyzABCDEFGHIJKLMNOPQRSTUVWXYZ0123456789";
    let mut h = std::collections::hash_map::RandomState::new().build_hasher();
    h.write_u128(
        std::time::SystemTime::now()
            .duration_since(std::time::UNIX_EPOCH)
            .map_or(0, |d| d.as_nanos()),
    );
    let mut bits = h.finish();
    (0..6)
        .map(|_| {
            let c = CHARS[(bits % CHARS.len() as u64) as usize];
            bits /= CHARS.len() as u64;
            char::from(c)
        })
        .collect()
}

/// Starts accepting on an I/O thread (one that the socket's AFFINITY
/// names).
pub(crate) fn listen(
    io: &IoThreads,
    port: Arc<dyn Port>,
    bound: Bound,
    endpoint: Arc<str>,
    cancel: Arc<Cancel>,
) {
    let affinity = port.options().affinity;
    port.emit(MonitorEvent::Listening {
        endpoint: endpoint.to_string(),
        fd: Some(bound.fd()),
    });
    io.spawn_on(
        affinity,
        Box::new(move || {
            compio::runtime::spawn(accept_loop(port, bound, endpoint, cancel)).detach();
        }),
    );
}

/// How long an accept that failed waits before the next.
const ACCEPT_RETRY: Duration = Duration::from_millis(10);

async fn accept_loop(port: Arc<dyn Port>, bound: Bound, endpoint: Arc<str>, cancel: Arc<Cancel>) {
    let fd = bound.fd();
    let failed = |e: &io::Error| {
        port.emit(MonitorEvent::AcceptFailed {
            endpoint: endpoint.to_string(),
            errno: errno_of(e),
        });
    };
    #[cfg(unix)]
    let mut closing = Ok(());
    #[cfg(windows)]
    let closing: io::Result<()> = Ok(());
    match bound {
        Bound::Tcp(l, tuning) => {
            let Ok(l) = TcpListener::from_std(l) else {
                return;
            };
            loop {
                match race(l.accept(), cancel.wait()).await {
                    Either::Left(Ok((s, addr))) => {
                        // A connection the options cannot be applied to is
                        // dropped, as libzmq drops it (ACCEPT_FAILED).
                        match tuning.connection(&s, true) {
                            Ok(()) => {
                                let peer = Arc::from(format!("tcp://{addr}"));
                                start(s, Some(peer), &port, &endpoint, &cancel);
                            }
                            Err(e) => failed(&e),
                        }
                    }
                    Either::Left(Err(e)) => {
                        failed(&e);
                        compio::time::sleep(ACCEPT_RETRY).await;
                    }
                    Either::Right(()) => break,
                }
            }
        }
        #[cfg(unix)]
        Bound::Ipc(l, file, tuning) => {
            let Ok(l) = UnixListener::from_std(l) else {
                return;
            };
            loop {
                match race(l.accept(), cancel.wait()).await {
                    Either::Left(Ok((s, addr))) => {
                        tuning.ipc_connection(&s);
                        let peer = ipc_name(&addr).map(Arc::from);
                        start(s, peer, &port, &endpoint, &cancel);
                    }
                    Either::Left(Err(e)) => {
                        failed(&e);
                        compio::time::sleep(ACCEPT_RETRY).await;
                    }
                    Either::Right(()) => break,
                }
            }
            drop(l);
            if let Some(f) = file {
                closing = f.remove();
            }
        }
    }
    port.emit(match closing {
        Ok(()) => MonitorEvent::Closed {
            endpoint: endpoint.to_string(),
            fd: Some(fd),
        },
        Err(e) => MonitorEvent::CloseFailed {
            endpoint: endpoint.to_string(),
            errno: errno_of(&e),
        },
    });
}

/// A unix socket's name as an `ipc://` endpoint (`ipc://@name` in the
/// abstract namespace); `None` for an unnamed one (a connecting peer's).
#[cfg(unix)]
fn ipc_name(addr: &SockAddr) -> Option<String> {
    if let Some(path) = addr.as_pathname() {
        return Some(format!("ipc://{}", path.display()));
    }
    addr.as_abstract_namespace()
        .map(|name| format!("ipc://@{}", String::from_utf8_lossy(name)))
}

/// Spawns the engine of one accepted stream from `peer`.
fn start<S>(
    s: S,
    peer: Option<Arc<str>>,
    port: &Arc<dyn Port>,
    endpoint: &Arc<str>,
    cancel: &Arc<Cancel>,
) where
    S: ConnStream,
{
    #[cfg(unix)]
    let fd = s.as_fd().as_raw_fd();
    #[cfg(windows)]
    let fd = s.as_socket().as_raw_socket();
    let spec = ConnSpec {
        port: port.clone(),
        endpoint: endpoint.clone(),
        peer,
        fd: Some(fd),
        preset: None,
        cancel: cancel.clone(),
        greeted: Default::default(),
    };
    port.emit(MonitorEvent::Accepted {
        endpoint: endpoint.to_string(),
        peer: spec.peer(),
        fd: Some(fd),
    });
    compio::runtime::spawn(async move {
        engine::run(s, &spec).await;
    })
    .detach();
}

/// Starts connecting (and reconnecting) on an I/O thread (one that the
/// socket's AFFINITY names).
pub(crate) fn connect(
    io: &IoThreads,
    port: Arc<dyn Port>,
    ep: Endpoint,
    endpoint: Arc<str>,
    cancel: Arc<Cancel>,
    preset: Option<(PeerId, Consumer)>,
) {
    let opts = port.options();
    io.spawn_on(
        opts.affinity,
        Box::new(move || {
            compio::runtime::spawn(connect_loop(port, opts, ep, endpoint, cancel, preset)).detach();
        }),
    );
}

enum Stream {
    Tcp(TcpStream),
    #[cfg(unix)]
    Unix(UnixStream),
}

/// The addresses a tcp connect tries, in order.
async fn targets(host: &str, port: u16, ipv6: bool) -> io::Result<Vec<SocketAddr>> {
    if let Some(addr) = literal(host, port).map_err(io::Error::from)? {
        return Ok(vec![addr]);
    }
    let mut addrs: Vec<SocketAddr> = (host, port).to_socket_addrs_async().await?.collect();
    prefer(&mut addrs, ipv6);
    Ok(addrs)
}

/// What the monitor hears of one connect attempt: the socket it made
/// (closed again if the attempt fails: libzmq's `CLOSED`), and, once a
/// tcp connect is under way, `CONNECT_DELAYED`.
struct Attempt<'a> {
    port: &'a dyn Port,
    endpoint: &'a str,
    fd: Cell<Option<RawFd>>,
}

impl Attempt<'_> {
    /// The attempt made the socket `fd`.
    fn made(&self, fd: RawFd) {
        self.fd.set(Some(fd));
    }

    /// A tcp connect was started (libzmq's non-blocking connect returned
    /// `EINPROGRESS`).
    fn delayed(&self) {
        self.port.emit(MonitorEvent::ConnectDelayed {
            endpoint: self.endpoint.to_owned(),
            errno: libc::EINPROGRESS,
        });
    }

    /// The attempt failed: its socket, if it made one, is closed.
    fn failed(&self) {
        if let Some(fd) = self.fd.take() {
            self.port.emit(MonitorEvent::Closed {
                endpoint: self.endpoint.to_owned(),
                fd: Some(fd),
            });
        }
    }
}

/// One tcp connect to `addr`, from `source` if given.
async fn connect_tcp(
    addr: SocketAddr,
    source: Option<SocketAddr>,
    t: &Tuning,
    attempt: &Attempt<'_>,
) -> io::Result<TcpStream> {
    let s = RawSocket::new(Domain::for_address(addr), Type::STREAM, Some(Protocol::TCP))?;
    #[cfg(unix)]
    attempt.made(s.as_raw_fd());
    #[cfg(windows)]
    attempt.made(s.as_raw_socket());
    if addr.is_ipv6() {
        let _ = s.set_only_v6(false);
    }
    t.before(&s, addr.is_ipv6())?;
    if let Some(src) = source {
        // Several connects may share a source port (to different peers),
        // as in libzmq.
        s.set_reuse_address(true)?;
        s.bind(&src.into())?;
    }
    let socket = TcpSocket::from_std_stream(std::net::TcpStream::from(s))?;
    attempt.delayed();
    let stream = socket.connect(addr).await?;
    t.connection(&stream, false)?;
    Ok(stream)
}

/// One connect; the stream and the address it reached.
async fn connect_once(
    ep: &Endpoint,
    t: &Tuning,
    attempt: &Attempt<'_>,
) -> io::Result<(Stream, String)> {
    match ep {
        Endpoint::Tcp { host, port, source } => {
            let source = match source {
                Some((h, p)) => Some(local_addr(h, *p, t.ipv6).map_err(io::Error::from)?),
                None => None,
            };
            let mut last = None;
            for addr in targets(host, *port, t.ipv6).await? {
                // A source address decides the family.
                if source.is_some_and(|s| s.is_ipv4() != addr.is_ipv4()) {
                    continue;
                }
                match connect_tcp(addr, source, t, attempt).await {
                    Ok(s) => return Ok((Stream::Tcp(s), format!("tcp://{addr}"))),
                    Err(e) => last = Some(e),
                }
            }
            Err(last.unwrap_or_else(|| {
                io::Error::new(io::ErrorKind::NotFound, "no address of the host fits")
            }))
        }
        #[cfg(windows)]
        Endpoint::Ipc(_) => Err(io::Error::new(io::ErrorKind::Unsupported, NO_IPC)),
        #[cfg(unix)]
        Endpoint::Ipc(path) => {
            let addr = match path.strip_prefix('@') {
                Some(name) => {
                    let mut abstract_name = vec![0u8];
                    abstract_name.extend_from_slice(name.as_bytes());
                    SockAddr::unix(
                        <std::ffi::OsStr as std::os::unix::ffi::OsStrExt>::from_bytes(
                            &abstract_name,
                        ),
                    )?
                }
                None => SockAddr::unix(path)?,
            };
            let socket = UnixSocket::new_stream().await?;
            attempt.made(socket.as_raw_fd());
            let s = socket.connect_addr(&addr).await?;
            t.ipc_connection(&s);
            Ok((Stream::Unix(s), format!("ipc://{path}")))
        }
        Endpoint::Inproc(_) => Err(io::Error::other("inproc is not a network transport")),
    }
}

/// `connect_once`, abandoned after CONNECT_TIMEOUT (tcp only).
async fn connect_within(
    ep: &Endpoint,
    t: &Tuning,
    attempt: &Attempt<'_>,
) -> io::Result<(Stream, String)> {
    match (t.connect_timeout, ep) {
        (Some(limit), Endpoint::Tcp { .. }) => {
            match race(connect_once(ep, t, attempt), compio::time::sleep(limit)).await {
                Either::Left(r) => r,
                Either::Right(()) => Err(io::Error::new(
                    io::ErrorKind::TimedOut,
                    "connect timed out (CONNECT_TIMEOUT)",
                )),
            }
        }
        _ => connect_once(ep, t, attempt).await,
    }
}

/// Connects, and reconnects after each failure or disconnection, telling
/// the monitor as libzmq does: a tcp attempt is `CONNECT_DELAYED`, then
/// `CONNECTED` or (its socket closed) `CLOSED`; every wait before the
/// next attempt is `CONNECT_RETRIED` with its length.
async fn connect_loop(
    port: Arc<dyn Port>,
    opts: SocketOptions,
    ep: Endpoint,
    endpoint: Arc<str>,
    cancel: Arc<Cancel>,
    preset: Option<(PeerId, Consumer)>,
) {
    let tuning = Tuning::of(&opts);
    let stop = tuning.reconnect_stop;
    let first = opts.reconnect_ivl.max(Duration::from_millis(1));
    let max = opts.reconnect_ivl_max;
    let mut ivl = first;
    loop {
        if cancel.is_cancelled() || port.is_closed() {
            break;
        }
        let attempt = Attempt {
            port: &*port,
            endpoint: &endpoint,
            fd: Cell::new(None),
        };
        match race(connect_within(&ep, &tuning, &attempt), cancel.wait()).await {
            Either::Right(()) => {
                attempt.failed();
                break;
            }
            Either::Left(Ok((s, peer))) => {
                let fd = attempt.fd.get();
                let spec = ConnSpec {
                    port: port.clone(),
                    endpoint: endpoint.clone(),
                    peer: Some(Arc::from(peer)),
                    fd,
                    preset: preset.clone(),
                    cancel: cancel.clone(),
                    greeted: Default::default(),
                };
                port.emit(MonitorEvent::Connected {
                    endpoint: endpoint.to_string(),
                    peer: spec.peer(),
                    fd,
                });
                ivl = first;
                match s {
                    Stream::Tcp(s) => engine::run(s, &spec).await,
                    #[cfg(unix)]
                    Stream::Unix(s) => engine::run(s, &spec).await,
                };
                let failed = port.speaks_zmtp() && !spec.greeted.get();
                if failed && stop.contains(ReconnectStop::HANDSHAKE_FAILED) {
                    port.emit(MonitorEvent::Closed {
                        endpoint: endpoint.to_string(),
                        fd: None,
                    });
                    break;
                }
            }
            Either::Left(Err(e)) => {
                attempt.failed();
                if e.kind() == io::ErrorKind::ConnectionRefused
                    && stop.contains(ReconnectStop::CONN_REFUSED)
                {
                    break;
                }
            }
        }
        if cancel.is_cancelled() || port.is_closed() {
            break;
        }
        port.emit(MonitorEvent::ConnectRetried {
            endpoint: endpoint.to_string(),
            interval: ivl,
        });
        if let Either::Right(()) = race(compio::time::sleep(ivl), cancel.wait()).await {
            break;
        }
        if max > first {
            ivl = (ivl * 2).min(max);
        }
    }
    if let Some((id, _)) = preset {
        port.detach(id, true);
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn local_addresses_as_libzmq_resolves_them() {
        let v4 = |s: &str| s.parse::<SocketAddr>().expect("addr");
        assert_eq!(local_addr("*", 5, false).expect("any"), v4("0.0.0.0:5"));
        assert_eq!(local_addr("*", 5, true).expect("any"), v4("[::]:5"));
        assert_eq!(local_addr("lo", 0, false).expect("lo"), v4("127.0.0.1:0"));
        assert_eq!(
            local_addr("127.0.0.1", 7, false).expect("literal"),
            v4("127.0.0.1:7")
        );
        assert!(matches!(
            local_addr("::1%lo", 7, false).expect("zone"),
            SocketAddr::V6(a) if a.scope_id() != 0
        ));
        assert!(local_addr("no-such-host.invalid", 1, false).is_err());
        assert!(
            local_addr("127.0.0.1%lo", 1, false).is_err(),
            "a zone on IPv4"
        );
    }

    #[cfg(unix)]
    #[test]
    fn random_names_differ() {
        let a = random_name();
        assert_eq!(a.len(), 6);
        assert!(a.chars().all(|c| c.is_ascii_alphanumeric()));
        assert_ne!(a, random_name());
    }
}
