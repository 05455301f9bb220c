//! Listeners and connecters for tcp and ipc: bind synchronously (so errors
//! and `:*` ports come back at once), accept and connect on an I/O thread.

use std::io;
use std::net::{IpAddr, Ipv4Addr, SocketAddr, ToSocketAddrs};
use std::os::fd::AsFd;
use std::os::unix::net::SocketAddr as UnixAddr;
use std::sync::Arc;
use std::time::Duration;

use compio::io::{AsyncRead, AsyncWrite};
use compio::net::{TcpListener, TcpStream, UnixListener, UnixStream};
use monocoque_core::router::PeerId;

use crate::endpoint::Endpoint;
use crate::engine::threads::IoThreads;
use crate::engine::{self, ConnSpec};
use crate::error::{Error, Result};
use crate::monitor::MonitorEvent;
use crate::pipe::Consumer;
use crate::socket_core::Port;
use crate::sync::{race, Cancel, Either};

/// A bound, listening socket, not yet handed to an I/O thread.
pub(crate) enum Bound {
    Tcp(std::net::TcpListener),
    Ipc(std::os::unix::net::UnixListener, Option<String>),
}

fn bind_addr(host: &str, port: u16) -> Result<SocketAddr> {
    if host == "*" {
        return Ok(SocketAddr::new(IpAddr::V4(Ipv4Addr::UNSPECIFIED), port));
    }
    if let Ok(ip) = host.parse::<IpAddr>() {
        return Ok(SocketAddr::new(ip, port));
    }
    (host, port)
        .to_socket_addrs()?
        .next()
        .ok_or_else(|| Error::Endpoint(format!("tcp://{host}:{port}"), "cannot resolve the host"))
}

/// Binds `ep`; returns the listener and the endpoint as bound.
pub(crate) fn bind(ep: &Endpoint) -> Result<(Bound, String)> {
    match ep {
        Endpoint::Tcp { host, port } => {
            let addr = bind_addr(host, *port)?;
            let l = std::net::TcpListener::bind(addr).map_err(|e| match e.kind() {
                io::ErrorKind::AddrInUse => Error::AddressInUse(ep.to_string()),
                _ => Error::Io(e),
            })?;
            l.set_nonblocking(true)?;
            let local = l.local_addr()?;
            Ok((Bound::Tcp(l), format!("tcp://{local}")))
        }
        Endpoint::Ipc(path) => {
            let (l, file) = if let Some(name) = path.strip_prefix('@') {
                let addr = {
                    use std::os::linux::net::SocketAddrExt;
                    UnixAddr::from_abstract_name(name.as_bytes())?
                };
                (std::os::unix::net::UnixListener::bind_addr(&addr), None)
            } else {
                // A socket file left by a process that is gone is replaced,
                // as libzmq does.
                if std::os::unix::net::UnixStream::connect(path).is_err() {
                    let _ = std::fs::remove_file(path);
                }
                (
                    std::os::unix::net::UnixListener::bind(path),
                    Some(path.clone()),
                )
            };
            let l = l.map_err(|e| match e.kind() {
                io::ErrorKind::AddrInUse => Error::AddressInUse(ep.to_string()),
                _ => Error::Io(e),
            })?;
            l.set_nonblocking(true)?;
            Ok((Bound::Ipc(l, file), format!("ipc://{path}")))
        }
        Endpoint::Inproc(_) => Err(Error::Endpoint(
            ep.to_string(),
            "inproc is not a network transport",
        )),
    }
}

/// Starts accepting on an I/O thread.
pub(crate) fn listen(
    io: &IoThreads,
    port: Arc<dyn Port>,
    bound: Bound,
    endpoint: Arc<str>,
    cancel: Arc<Cancel>,
) {
    io.spawn(Box::new(move || {
        compio::runtime::spawn(accept_loop(port, bound, endpoint, cancel)).detach();
    }));
}

async fn accept_loop(port: Arc<dyn Port>, bound: Bound, endpoint: Arc<str>, cancel: Arc<Cancel>) {
    match bound {
        Bound::Tcp(l) => {
            let Ok(l) = TcpListener::from_std(l) else {
                return;
            };
            loop {
                match race(l.accept(), cancel.wait()).await {
                    Either::Left(Ok((s, _))) => {
                        let _ = s.set_nodelay(true);
                        start(s, &port, &endpoint, &cancel);
                    }
                    Either::Left(Err(_)) => compio::time::sleep(Duration::from_millis(10)).await,
                    Either::Right(()) => break,
                }
            }
        }
        Bound::Ipc(l, file) => {
            let Ok(l) = UnixListener::from_std(l) else {
                return;
            };
            loop {
                match race(l.accept(), cancel.wait()).await {
                    Either::Left(Ok((s, _))) => start(s, &port, &endpoint, &cancel),
                    Either::Left(Err(_)) => compio::time::sleep(Duration::from_millis(10)).await,
                    Either::Right(()) => break,
                }
            }
            if let Some(f) = file {
                let _ = std::fs::remove_file(f);
            }
        }
    }
    port.emit(MonitorEvent::Closed(endpoint.to_string()));
}

/// Spawns the engine of one accepted stream.
fn start<S>(s: S, port: &Arc<dyn Port>, endpoint: &Arc<str>, cancel: &Arc<Cancel>)
where
    S: AsyncRead + AsyncWrite + AsFd + Clone + 'static,
{
    let spec = ConnSpec {
        port: port.clone(),
        endpoint: endpoint.clone(),
        preset: None,
        cancel: cancel.clone(),
    };
    port.emit(MonitorEvent::Accepted(endpoint.to_string()));
    compio::runtime::spawn(async move {
        engine::run(s, &spec).await;
    })
    .detach();
}

/// Starts connecting (and reconnecting) on an I/O thread.
pub(crate) fn connect(
    io: &IoThreads,
    port: Arc<dyn Port>,
    ep: Endpoint,
    endpoint: Arc<str>,
    cancel: Arc<Cancel>,
    preset: Option<(PeerId, Consumer)>,
) {
    io.spawn(Box::new(move || {
        compio::runtime::spawn(connect_loop(port, ep, endpoint, cancel, preset)).detach();
    }));
}

enum Stream {
    Tcp(TcpStream),
    Unix(UnixStream),
}

async fn connect_once(ep: &Endpoint) -> io::Result<Stream> {
    match ep {
        Endpoint::Tcp { host, port } => {
            let s = TcpStream::connect((host.as_str(), *port)).await?;
            let _ = s.set_nodelay(true);
            Ok(Stream::Tcp(s))
        }
        Endpoint::Ipc(path) => {
            let s = if let Some(name) = path.strip_prefix('@') {
                use std::os::linux::net::SocketAddrExt;
                let addr = UnixAddr::from_abstract_name(name.as_bytes())?;
                let std = std::os::unix::net::UnixStream::connect_addr(&addr)?;
                UnixStream::from_std(std)?
            } else {
                UnixStream::connect(path).await?
            };
            Ok(Stream::Unix(s))
        }
        Endpoint::Inproc(_) => Err(io::Error::other("inproc is not a network transport")),
    }
}

async fn connect_loop(
    port: Arc<dyn Port>,
    ep: Endpoint,
    endpoint: Arc<str>,
    cancel: Arc<Cancel>,
    preset: Option<(PeerId, Consumer)>,
) {
    let (first, max) = {
        let o = port.options();
        (o.reconnect_ivl, o.reconnect_ivl_max)
    };
    let first = first.max(Duration::from_millis(1));
    let mut ivl = first;
    loop {
        if cancel.is_cancelled() || port.is_closed() {
            break;
        }
        match race(connect_once(&ep), cancel.wait()).await {
            Either::Right(()) => break,
            Either::Left(Ok(s)) => {
                port.emit(MonitorEvent::Connected(endpoint.to_string()));
                ivl = first;
                let spec = ConnSpec {
                    port: port.clone(),
                    endpoint: endpoint.clone(),
                    preset: preset.clone(),
                    cancel: cancel.clone(),
                };
                match s {
                    Stream::Tcp(s) => engine::run(s, &spec).await,
                    Stream::Unix(s) => engine::run(s, &spec).await,
                };
            }
            Either::Left(Err(_)) => port.emit(MonitorEvent::ConnectRetried(endpoint.to_string())),
        }
        if cancel.is_cancelled() || port.is_closed() {
            break;
        }
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
