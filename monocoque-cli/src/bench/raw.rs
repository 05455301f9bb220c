//! The `raw-tcp` column of `mq bench`'s tcp rows: a bare TCP stream with no
//! messaging library, the byte-rate reference (not a competitor: it is in
//! no ratio), measured as the bench peers' `rawtcp.c` measures it.
//!
//! One blocking thread per side, `TCP_NODELAY`. `thr-send` writes the bytes
//! of COUNT messages of SIZE back to back, with no framing, in writes of up
//! to 1 MiB (so small sizes measure the loopback's byte rate, not a system
//! call per message), over 4 MiB socket buffers set before the connection
//! exists; `thr-recv` reads them in reads of up to 1 MiB and reports
//! messages per second from the end of the first message to the last byte.
//! `lat-ping` and `lat-echo` bounce SIZE bytes COUNT times with blocking
//! calls and default buffers; `lat-ping` reports the p50 and p99 round
//! trip as the other `lat` roles do. The roles take the hidden roles'
//! arguments, with `raw-tcp` for LIB:
//!
//! ```text
//! mq __bench-role thr-recv raw-tcp tcp://127.0.0.1:* SIZE COUNT SUBS HWM   (binds, prints its endpoint)
//! mq __bench-role thr-send raw-tcp tcp://127.0.0.1:PORT SIZE COUNT SUBS HWM
//! ```

use std::io::{self, Read, Write};
use std::net::{SocketAddr, TcpListener, TcpStream, ToSocketAddrs};
use std::process::ExitCode;
use std::time::Instant;

use socket2::{Domain, Socket, Type};

use super::roles::{announce, cpu_seconds, percentiles, released, HIDDEN_ROLE};

/// The hidden roles' LIB argument for the bare TCP stream.
pub(crate) const RAW_TCP: &str = "raw-tcp";

/// Socket buffers of the thr roles (`rawtcp.c`'s; the kernel may cap them).
const BUFFER: usize = 4 << 20;

/// The largest single read or write of the thr roles.
const CHUNK: usize = 1 << 20;

/// `mq __bench-role ROLE raw-tcp ENDPOINT SIZE COUNT SUBS HWM` (SUBS and
/// HWM are ignored).
pub(crate) fn run_hidden_role(args: &[String]) -> ExitCode {
    let parsed = (|| {
        let [role, _lib, ep, size, count, _subs, _hwm] = args else {
            return None;
        };
        Some((
            role.as_str(),
            ep.as_str(),
            size.parse::<usize>().ok()?,
            count.parse::<u64>().ok()?,
        ))
    })();
    let Some((role, ep, size, count)) = parsed else {
        eprintln!("mq: bad {HIDDEN_ROLE} arguments");
        return ExitCode::from(2);
    };
    match hidden(role, ep, size, count) {
        Ok(()) => ExitCode::SUCCESS,
        Err(e) => {
            eprintln!("mq: {role} ({RAW_TCP}): {e}");
            ExitCode::from(1)
        }
    }
}

fn hidden(role: &str, ep: &str, size: usize, count: u64) -> io::Result<()> {
    if size == 0 || count == 0 {
        return Err(io::Error::new(
            io::ErrorKind::InvalidInput,
            "a bare stream needs SIZE and COUNT above 0",
        ));
    }
    let mut lines = Vec::new();
    match role {
        "thr-recv" => {
            let (rate, cpu) = thr_recv(ep, size, count)?;
            lines.push(format!("result: {rate}"));
            lines.push(format!("cpu: {cpu}"));
        }
        "thr-send" => {
            let cpu = thr_send(ep, size, count)?;
            lines.push(format!("cpu: {cpu}"));
        }
        "lat-echo" => lat_echo(ep, size, count)?,
        "lat-ping" => {
            let rtts = lat_ping(ep, size, count)?;
            let (p50, p99) = percentiles(&rtts);
            lines.push(format!("result: {p50} {p99}"));
        }
        other => {
            return Err(io::Error::new(
                io::ErrorKind::InvalidInput,
                format!("no {RAW_TCP} role {other}"),
            ))
        }
    }
    let mut out = io::stdout().lock();
    for line in lines {
        writeln!(out, "{line}")?;
    }
    out.flush()
}

/// The address of `tcp://HOST:PORT` (`*` for PORT: any free port).
fn address(ep: &str) -> io::Result<SocketAddr> {
    let bad = || io::Error::new(io::ErrorKind::InvalidInput, format!("bad endpoint {ep:?}"));
    let rest = ep.strip_prefix("tcp://").ok_or_else(bad)?;
    let (host, port) = rest.rsplit_once(':').ok_or_else(bad)?;
    let port = if port == "*" { "0" } else { port };
    format!("{host}:{port}")
        .to_socket_addrs()?
        .next()
        .ok_or_else(bad)
}

/// A TCP socket for `addr`, with 4 MiB buffers when `big`.
fn socket(addr: &SocketAddr, big: bool) -> io::Result<Socket> {
    let socket = Socket::new(Domain::for_address(*addr), Type::STREAM, None)?;
    if big {
        socket.set_send_buffer_size(BUFFER)?;
        socket.set_recv_buffer_size(BUFFER)?;
    }
    Ok(socket)
}

/// Binds, prints `endpoint: tcp://HOST:PORT`, accepts one connection.
fn accept(ep: &str, big: bool) -> io::Result<TcpStream> {
    let addr = address(ep)?;
    let listening = socket(&addr, big)?;
    listening.set_reuse_address(true)?;
    listening.bind(&addr.into())?;
    listening.listen(1)?;
    let listener = TcpListener::from(listening);
    announce(&format!("tcp://{}", listener.local_addr()?))?;
    let (stream, _) = listener.accept()?;
    stream.set_nodelay(true)?;
    Ok(stream)
}

/// Connects (the harness starts this side once the other listens).
fn connect(ep: &str, big: bool) -> io::Result<TcpStream> {
    let addr = address(ep)?;
    let connecting = socket(&addr, big)?;
    connecting.connect(&addr.into())?;
    let stream = TcpStream::from(connecting);
    stream.set_nodelay(true)?;
    Ok(stream)
}

/// Reads COUNT messages' bytes; returns msg/s from the end of the first
/// message to the last byte, and the CPU seconds over the same span.
fn thr_recv(ep: &str, size: usize, count: u64) -> io::Result<(f64, f64)> {
    let mut stream = accept(ep, true)?;
    let mut buf = vec![0; CHUNK.max(size)];
    stream.read_exact(&mut buf[..size])?;
    let (t0, cpu0) = (Instant::now(), cpu_seconds());
    let total = (count - 1).saturating_mul(size as u64);
    let mut left = total;
    while left > 0 {
        let want = usize::try_from(left).unwrap_or(CHUNK).min(CHUNK);
        match stream.read(&mut buf[..want])? {
            0 => {
                return Err(io::Error::new(
                    io::ErrorKind::UnexpectedEof,
                    format!("the stream ended {left} bytes short of {total}"),
                ))
            }
            n => left -= n as u64,
        }
    }
    let elapsed = t0.elapsed().as_secs_f64();
    let cpu = cpu_seconds() - cpu0;
    let rate = if count > 1 {
        (count - 1) as f64 / elapsed
    } else {
        0.0
    };
    Ok((rate, cpu))
}

/// Writes COUNT messages' bytes back to back; closes once the harness says
/// the receiver has them; returns the CPU seconds from the first write on.
fn thr_send(ep: &str, size: usize, count: u64) -> io::Result<f64> {
    let mut stream = connect(ep, true)?;
    let buf = vec![0; CHUNK];
    let cpu0 = cpu_seconds();
    let mut left = count.saturating_mul(size as u64);
    while left > 0 {
        let n = usize::try_from(left).unwrap_or(CHUNK).min(CHUNK);
        stream.write_all(&buf[..n])?;
        left -= n as u64;
    }
    released();
    drop(stream);
    Ok(cpu_seconds() - cpu0)
}

/// Echoes COUNT blocks of SIZE bytes; closes once the harness says so.
fn lat_echo(ep: &str, size: usize, count: u64) -> io::Result<()> {
    let mut stream = accept(ep, false)?;
    let mut buf = vec![0; size];
    for _ in 0..count {
        stream.read_exact(&mut buf)?;
        stream.write_all(&buf)?;
    }
    released();
    Ok(())
}

/// COUNT round trips of SIZE bytes; each one's time in nanoseconds.
fn lat_ping(ep: &str, size: usize, count: u64) -> io::Result<Vec<u64>> {
    let mut stream = connect(ep, false)?;
    let mut buf = vec![0; size];
    let mut rtts = Vec::with_capacity(usize::try_from(count).unwrap_or(0));
    for _ in 0..count {
        let t = Instant::now();
        stream.write_all(&buf)?;
        stream.read_exact(&mut buf)?;
        rtts.push(u64::try_from(t.elapsed().as_nanos()).unwrap_or(u64::MAX));
    }
    Ok(rtts)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn endpoints() {
        assert_eq!(
            address("tcp://127.0.0.1:*").unwrap(),
            "127.0.0.1:0".parse().unwrap()
        );
        assert_eq!(
            address("tcp://127.0.0.1:5555").unwrap(),
            "127.0.0.1:5555".parse().unwrap()
        );
        assert!(address("ipc:///tmp/x").is_err());
        assert!(address("tcp://nowhere").is_err());
    }
}
