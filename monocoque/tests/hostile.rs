//! Hostile peers: a peer that breaks the protocol loses its own connection
//! and costs nothing else. Its bytes are written by hand over a raw TCP
//! socket, next to a well-behaved Monocoque peer on the same PULL.
#![allow(clippy::unwrap_used)]

mod common;

use std::io::{Read, Write};
use std::net::TcpStream;
use std::time::{Duration, Instant};

use common::{bind, recv_strs, sock, wait_for, Tr, T};
use monocoque::{Context, SocketType};

/// Connects a raw peer and sends a NULL greeting and a READY announcing
/// `socket_type`.
fn raw_peer(ep: &str, socket_type: &[u8]) -> TcpStream {
    let mut conn = TcpStream::connect(ep.strip_prefix("tcp://").unwrap()).unwrap();
    conn.set_read_timeout(Some(T)).unwrap();
    let mut greeting = vec![0xff, 0, 0, 0, 0, 0, 0, 0, 1, 0x7f, 3, 1];
    greeting.extend(b"NULL");
    greeting.resize(64, 0);
    conn.write_all(&greeting).unwrap();
    let mut body = vec![5];
    body.extend(b"READY");
    body.push(11);
    body.extend(b"Socket-Type");
    body.extend((socket_type.len() as u32).to_be_bytes());
    body.extend(socket_type);
    conn.write_all(&[0x04, body.len() as u8]).unwrap();
    conn.write_all(&body).unwrap();
    conn
}

/// A raw peer whose NULL handshake as a PUSH completed.
fn raw_push(ep: &str) -> TcpStream {
    let mut conn = raw_peer(ep, b"PUSH");
    // Their greeting and READY.
    let mut theirs = [0u8; 64];
    conn.read_exact(&mut theirs).unwrap();
    assert_eq!(theirs[0], 0xff);
    let mut hdr = [0u8; 2];
    conn.read_exact(&mut hdr).unwrap();
    let mut ready = vec![0u8; usize::from(hdr[1])];
    conn.read_exact(&mut ready).unwrap();
    conn
}

/// Whether the other end closed the connection (EOF or reset) within [`T`].
fn closed_by_peer(conn: &mut TcpStream) -> bool {
    let deadline = Instant::now() + T;
    let mut buf = [0u8; 256];
    while Instant::now() < deadline {
        match conn.read(&mut buf) {
            Ok(0) => return true,
            Ok(_) => continue, // an ERROR command, say
            Err(e) if e.kind() == std::io::ErrorKind::WouldBlock => return false,
            Err(e) if e.kind() == std::io::ErrorKind::TimedOut => return false,
            Err(_) => return true,
        }
    }
    false
}

/// A field of /proc/self/status in KiB (`VmRSS:` resident, `VmSize:`
/// reserved: a buffer sized by a lying header shows in the second even
/// while its pages are untouched).
fn status_kib(field: &str) -> u64 {
    std::fs::read_to_string("/proc/self/status")
        .unwrap()
        .lines()
        .find_map(|l| l.strip_prefix(field))
        .and_then(|v| v.split_whitespace().next())
        .and_then(|v| v.parse().ok())
        .unwrap()
}

/// A frame with reserved flag bits set closes that peer's connection; a
/// good peer's messages before, during and after all arrive.
#[test]
fn reserved_flags_close_only_that_connection() {
    let ctx = Context::new();
    let pull = sock(&ctx, SocketType::Pull);
    let ep = bind(&pull, Tr::Tcp);
    let good = sock(&ctx, SocketType::Push);
    good.connect(&ep).unwrap();
    good.send("before").unwrap();
    assert_eq!(recv_strs(&pull), ["before"]);

    let mut bad = raw_push(&ep);
    bad.write_all(&[0x00, 3, b'o', b'k', b'!']).unwrap();
    assert_eq!(recv_strs(&pull), ["ok!"]);
    bad.write_all(&[0xf0, 1, b'x']).unwrap();
    assert!(closed_by_peer(&mut bad), "the bad peer kept its connection");

    for i in 0..100 {
        good.send(format!("after {i}")).unwrap();
    }
    for i in 0..100 {
        assert_eq!(recv_strs(&pull), [format!("after {i}")]);
    }
}

/// A header that declares a 1 GiB frame, with no MAXMSGSIZE set, costs
/// about what the peer really sends, not what it declares; the good peer
/// is served meanwhile, and the liar's connection ends when it leaves.
#[test]
fn a_lying_length_costs_only_what_arrives() {
    let ctx = Context::new();
    let pull = sock(&ctx, SocketType::Pull);
    let ep = bind(&pull, Tr::Tcp);
    let good = sock(&ctx, SocketType::Push);
    good.connect(&ep).unwrap();
    good.send("warm").unwrap();
    assert_eq!(recv_strs(&pull), ["warm"]);

    let (rss0, vm0) = (status_kib("VmRSS:"), status_kib("VmSize:"));
    let mut liar = raw_push(&ep);
    // A long frame of 1 GiB (small enough that the kernel would grant a
    // buffer and a read of that size, so trusting the header would show),
    // then 1 MiB of it.
    let mut hdr = vec![0x02];
    hdr.extend((1u64 << 30).to_be_bytes());
    liar.write_all(&hdr).unwrap();
    let chunk = vec![7u8; 64 * 1024];
    for _ in 0..16 {
        liar.write_all(&chunk).unwrap();
    }
    // The good peer is not held up by the half-received giant.
    for i in 0..100 {
        good.send(format!("m{i}")).unwrap();
    }
    for i in 0..100 {
        assert_eq!(recv_strs(&pull), [format!("m{i}")]);
    }
    // Let the engine read what the liar sent (passing early would only hide
    // a fault, never invent one).
    std::thread::sleep(Duration::from_millis(100));
    let rss = status_kib("VmRSS:").saturating_sub(rss0);
    let vm = status_kib("VmSize:").saturating_sub(vm0);
    assert!(
        rss < 64 * 1024,
        "RSS grew by {rss} KiB for 1 MiB really sent"
    );
    assert!(vm < 256 * 1024, "reserved {vm} KiB for 1 MiB really sent");
    // The liar goes away: its connection ends, the socket carries on.
    drop(liar);
    std::thread::sleep(Duration::from_millis(50));
    good.send("still here").unwrap();
    assert_eq!(recv_strs(&pull), ["still here"]);
}

/// A peer that announces an incompatible socket type is refused with an
/// ERROR command and its connection closed; the socket keeps working.
#[test]
fn an_incompatible_peer_is_refused() {
    let ctx = Context::new();
    let pull = sock(&ctx, SocketType::Pull);
    let ep = bind(&pull, Tr::Tcp);
    let mut conn = raw_peer(&ep, b"SUB");
    let mut got = Vec::new();
    let _ = conn.read_to_end(&mut got);
    let error = b"\x05ERROR";
    assert!(
        got.windows(error.len()).any(|w| w == error),
        "no ERROR command in {got:?}"
    );
    let good = sock(&ctx, SocketType::Push);
    good.connect(&ep).unwrap();
    wait_for("the good peer", || good.send("fine").is_ok());
    assert_eq!(recv_strs(&pull), ["fine"]);
}

/// A peer that floods PINGs and never reads costs bounded memory: once
/// what we owe it (the PONGs) reaches the bound, we stop reading it, so
/// its own writes stall; a good peer on the same socket is unaffected.
#[test]
fn a_ping_flood_that_never_reads_is_stopped_being_read() {
    let ctx = Context::new();
    let pull = sock(&ctx, SocketType::Pull);
    let mon = pull.monitor();
    let ep = bind(&pull, Tr::Tcp);
    let mut flood = raw_push(&ep);
    flood.set_nonblocking(true).unwrap();
    // PING: command flag, "\x04PING", TTL 0, and a 16-byte context.
    let mut ping = vec![0x04, 23, 4];
    ping.extend(b"PING");
    ping.extend([0, 0]);
    ping.extend([7u8; 16]);
    let burst: Vec<u8> = ping
        .iter()
        .copied()
        .cycle()
        .take(ping.len() * 4096)
        .collect();
    let good = sock(&ctx, SocketType::Push);
    good.connect(&ep).unwrap();
    let deadline = Instant::now() + Duration::from_secs(20);
    let mut written = 0usize;
    let mut at = 0usize; // where in the burst the next write starts
    let mut stalled_since: Option<Instant> = None;
    let mut stalled = false;
    // Writes until they stall for a while (the kernel's buffers full
    // because we stopped reading), or give up after far more than any
    // bound plus the kernel's buffers.
    while written < 512 << 20 && Instant::now() < deadline {
        match flood.write(&burst[at..]) {
            Ok(n) => {
                written += n;
                at = (at + n) % burst.len();
                stalled_since = None;
            }
            Err(e) if e.kind() == std::io::ErrorKind::WouldBlock => {
                let since = *stalled_since.get_or_insert_with(Instant::now);
                if since.elapsed() > Duration::from_millis(500) {
                    stalled = true;
                    break;
                }
                std::thread::sleep(Duration::from_millis(5));
            }
            Err(e) => {
                std::thread::sleep(Duration::from_millis(300));
                let events: Vec<_> = std::iter::from_fn(|| mon.try_recv()).collect();
                panic!("the flood's connection failed: {e}: {events:?}")
            }
        }
    }
    assert!(
        stalled,
        "{} MiB of PINGs were all read: what we owe the peer is not bounded",
        written >> 20
    );
    // The bound, plus what the kernel buffers both ways.
    assert!(
        written < 64 << 20,
        "{} MiB taken before the stall",
        written >> 20
    );
    eprintln!("the flood stalled after {} KiB", written >> 10);
    // The good peer still gets through.
    good.send("still served").unwrap();
    assert_eq!(recv_strs(&pull), ["still served"]);
}

/// A peer that stops reading and then breaks the protocol: our reader
/// ends the connection at the bad frame while our writer is stuck in a
/// write the kernel has no room for. The connection still ends at once
/// (the writer gets a grace, then its socket is shut down), and a
/// connecter would be free to reconnect. Before, the connection waited
/// for that write for as long as TCP keeps trying.
#[test]
fn a_fault_ends_the_connection_while_its_writer_is_stuck() {
    let ctx = Context::new();
    let push = sock(&ctx, SocketType::Push);
    push.update_options(|o| {
        o.sndtimeo = Some(Duration::ZERO);
        o.sndhwm = 16;
    });
    let events = push.monitor();
    let ep = bind(&push, Tr::Tcp);
    let mut peer = raw_peer(&ep, b"PULL");
    socket2::SockRef::from(&peer)
        .set_recv_buffer_size(4096)
        .unwrap();
    // Fill our writer's round and both kernel buffers: the peer reads
    // nothing.
    let body = vec![7u8; 64 * 1024];
    let fill_until = Instant::now() + Duration::from_millis(500);
    while Instant::now() < fill_until {
        if push.send(&body[..]).is_err() {
            std::thread::sleep(Duration::from_millis(5));
        }
    }
    // A frame with reserved flags set: a protocol error.
    peer.write_all(&[0xf0, 0x01, 0x00]).unwrap();
    let faulted = Instant::now();
    let ended = loop {
        assert!(faulted.elapsed() < T, "the faulted connection never ended");
        if let Some(e) = events.recv_timeout(Duration::from_millis(50)) {
            if matches!(e, monocoque::MonitorEvent::Disconnected { .. }) {
                break faulted.elapsed();
            }
        }
    };
    eprintln!("ended {ended:?} after the bad frame");
    assert!(ended < Duration::from_secs(2), "ended after {ended:?}");
}
