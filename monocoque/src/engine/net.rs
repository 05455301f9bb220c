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
use monocoque_zmtp::SocketType;

use super::conn::{self, ConnSpec};
use super::raw;
use crate::endpoint::Endpoint;
use crate::error::{Error, Result};
use crate::monitor::MonitorEvent;
use crate::pipe::Pipe;
use crate::shared::Shared;
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
pub(crate) fn listen(shared: Arc<Shared>, bound: Bound, endpoint: Arc<str>, cancel: Arc<Cancel>) {
    let ctx = shared.ctx.clone();
    ctx.spawn(Box::new(move || {
        compio::runtime::spawn(accept_loop(shared, bound, endpoint, cancel)).detach();
    }));
}

async fn accept_loop(shared: Arc<Shared>, bound: Bound, endpoint: Arc<str>, cancel: Arc<Cancel>) {
    match bound {
        Bound::Tcp(l) => {
            let Ok(l) = TcpListener::from_std(l) else {
                return;
            };
            loop {
                match race(l.accept(), cancel.wait()).await {
                    Either::Left(Ok((s, _))) => {
                        let _ = s.set_nodelay(true);
                        start(s, &shared, &endpoint, &cancel, None, true);
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
                    Either::Left(Ok((s, _))) => start(s, &shared, &endpoint, &cancel, None, true),
                    Either::Left(Err(_)) => compio::time::sleep(Duration::from_millis(10)).await,
                    Either::Right(()) => break,
                }
            }
            if let Some(f) = file {
                let _ = std::fs::remove_file(f);
            }
        }
    }
    shared
        .lock()
        .emit(MonitorEvent::Closed(endpoint.to_string()));
}

/// Spawns the engine of one accepted or connected stream.
fn start<S>(
    s: S,
    shared: &Arc<Shared>,
    endpoint: &Arc<str>,
    cancel: &Arc<Cancel>,
    preset: Option<(PeerId, Arc<Pipe>)>,
    accepted: bool,
) where
    S: AsyncRead + AsyncWrite + AsFd + Clone + 'static,
{
    let spec = ConnSpec {
        shared: shared.clone(),
        endpoint: endpoint.clone(),
        preset,
        cancel: cancel.clone(),
    };
    if accepted {
        shared
            .lock()
            .emit(MonitorEvent::Accepted(endpoint.to_string()));
    }
    if shared.ty == SocketType::Stream {
        compio::runtime::spawn(raw::run(s, spec)).detach();
    } else {
        compio::runtime::spawn(async move {
            conn::run(s, spec).await;
        })
        .detach();
    }
}

/// Starts connecting (and reconnecting) on an I/O thread.
pub(crate) fn connect(
    shared: Arc<Shared>,
    ep: Endpoint,
    endpoint: Arc<str>,
    cancel: Arc<Cancel>,
    preset: Option<(PeerId, Arc<Pipe>)>,
) {
    let ctx = shared.ctx.clone();
    ctx.spawn(Box::new(move || {
        compio::runtime::spawn(connect_loop(shared, ep, endpoint, cancel, preset)).detach();
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
    shared: Arc<Shared>,
    ep: Endpoint,
    endpoint: Arc<str>,
    cancel: Arc<Cancel>,
    preset: Option<(PeerId, Arc<Pipe>)>,
) {
    let (first, max) = {
        let st = shared.lock();
        (st.opts.reconnect_ivl, st.opts.reconnect_ivl_max)
    };
    let first = first.max(Duration::from_millis(1));
    let mut ivl = first;
    loop {
        if cancel.is_cancelled() || shared.is_closed() {
            break;
        }
        match race(connect_once(&ep), cancel.wait()).await {
            Either::Right(()) => break,
            Either::Left(Ok(s)) => {
                shared
                    .lock()
                    .emit(MonitorEvent::Connected(endpoint.to_string()));
                ivl = first;
                let spec = ConnSpec {
                    shared: shared.clone(),
                    endpoint: endpoint.clone(),
                    preset: preset.clone(),
                    cancel: cancel.clone(),
                };
                let raw = shared.ty == SocketType::Stream;
                match (s, raw) {
                    (Stream::Tcp(s), false) => drop(conn::run(s, spec).await),
                    (Stream::Unix(s), false) => drop(conn::run(s, spec).await),
                    (Stream::Tcp(s), true) => raw::run(s, spec).await,
                    (Stream::Unix(s), true) => raw::run(s, spec).await,
                }
            }
            Either::Left(Err(_)) => shared
                .lock()
                .emit(MonitorEvent::ConnectRetried(endpoint.to_string())),
        }
        if cancel.is_cancelled() || shared.is_closed() {
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
        let mut st = shared.lock();
        shared.detach(&mut st, id, true);
    }
}
