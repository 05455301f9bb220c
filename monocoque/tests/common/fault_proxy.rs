//! A fault-injecting TCP proxy for the tests (this kernel has no netem,
//! iptables or nft): it sits between two peers and, on command, adds
//! latency, caps the byte rate, stalls, writes one byte at a time, flips a
//! byte, half-closes or resets every connection it carries.
//!
//! Each direction of each connection is a thread that reads a chunk,
//! applies the faults in force, and writes it on.

use std::io::{Read, Write};
use std::net::{Shutdown, TcpListener, TcpStream};
use std::sync::atomic::{AtomicBool, AtomicU64, AtomicUsize, Ordering};
use std::sync::{Arc, Mutex};
use std::thread;
use std::time::Duration;

/// Which way bytes flow: from the connecting side to the listening side, or
/// back.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Dir {
    /// Client (the side that connects to the proxy) to server.
    Up,
    /// Server to client.
    Down,
}

/// The faults in force, changed while connections run.
#[derive(Debug, Default)]
struct Faults {
    /// Added before each chunk is passed on, in microseconds.
    latency_us: AtomicU64,
    /// Bytes per second, 0 for no cap.
    rate: AtomicU64,
    /// Nothing is read while set.
    stalled: AtomicBool,
    /// Chunks are written one byte at a time.
    slice: AtomicBool,
    /// Flip the byte at this offset of the stream, counted from the next
    /// chunk's start, in each direction (usize::MAX: none).
    corrupt_up: AtomicUsize,
    corrupt_down: AtomicUsize,
    /// Bytes passed in each direction, all connections together.
    passed_up: AtomicU64,
    passed_down: AtomicU64,
}

/// The proxy: listening on an ephemeral port of 127.0.0.1, forwarding each
/// accepted connection to `target`.
pub struct FaultProxy {
    port: u16,
    faults: Arc<Faults>,
    conns: Arc<Mutex<Vec<(TcpStream, TcpStream)>>>,
    accepting: Arc<AtomicBool>,
}

impl FaultProxy {
    /// A proxy to `target` (`tcp://host:port` or `host:port`).
    pub fn start(target: &str) -> FaultProxy {
        let target = target.strip_prefix("tcp://").unwrap_or(target).to_owned();
        let listener = TcpListener::bind("127.0.0.1:0").unwrap();
        let port = listener.local_addr().unwrap().port();
        let faults = Arc::new(Faults {
            corrupt_up: AtomicUsize::new(usize::MAX),
            corrupt_down: AtomicUsize::new(usize::MAX),
            ..Faults::default()
        });
        let conns = Arc::new(Mutex::new(Vec::new()));
        let accepting = Arc::new(AtomicBool::new(true));
        {
            let (faults, conns, accepting) = (faults.clone(), conns.clone(), accepting.clone());
            thread::spawn(move || {
                for client in listener.incoming() {
                    let Ok(client) = client else { continue };
                    if !accepting.load(Ordering::Relaxed) {
                        drop(client);
                        continue;
                    }
                    let Ok(server) = TcpStream::connect(&target) else {
                        drop(client);
                        continue;
                    };
                    let _ = client.set_nodelay(true);
                    let _ = server.set_nodelay(true);
                    conns
                        .lock()
                        .unwrap()
                        .push((client.try_clone().unwrap(), server.try_clone().unwrap()));
                    pump(
                        client.try_clone().unwrap(),
                        server.try_clone().unwrap(),
                        Dir::Up,
                        faults.clone(),
                    );
                    pump(server, client, Dir::Down, faults.clone());
                }
            });
        }
        FaultProxy {
            port,
            faults,
            conns,
            accepting,
        }
    }

    /// Where to connect to go through the proxy.
    pub fn endpoint(&self) -> String {
        format!("tcp://127.0.0.1:{}", self.port)
    }

    /// Delay added before each chunk goes on.
    pub fn set_latency(&self, d: Duration) {
        self.faults
            .latency_us
            .store(d.as_micros() as u64, Ordering::Relaxed);
    }

    /// A cap on each direction's byte rate (none: uncapped).
    pub fn set_rate(&self, bytes_per_second: Option<u64>) {
        self.faults
            .rate
            .store(bytes_per_second.unwrap_or(0), Ordering::Relaxed);
    }

    /// Stops passing anything on (the connections stay open), or resumes.
    pub fn stall(&self, on: bool) {
        self.faults.stalled.store(on, Ordering::Relaxed);
    }

    /// Writes every chunk one byte at a time, or not.
    pub fn slice(&self, on: bool) {
        self.faults.slice.store(on, Ordering::Relaxed);
    }

    /// Flips one byte, `at` bytes into what flows `dir` next.
    pub fn corrupt(&self, dir: Dir, at: usize) {
        match dir {
            Dir::Up => self.faults.corrupt_up.store(at, Ordering::Relaxed),
            Dir::Down => self.faults.corrupt_down.store(at, Ordering::Relaxed),
        }
    }

    /// Bytes passed `dir` so far.
    pub fn passed(&self, dir: Dir) -> u64 {
        match dir {
            Dir::Up => self.faults.passed_up.load(Ordering::Relaxed),
            Dir::Down => self.faults.passed_down.load(Ordering::Relaxed),
        }
    }

    /// Whether new connections are taken (refused ones are closed at once:
    /// a partition that the connecting side sees as resets).
    pub fn accept(&self, on: bool) {
        self.accepting.store(on, Ordering::Relaxed);
    }

    /// Resets every connection (RST both ways, as a crashed host's kernel
    /// would on its next segment).
    pub fn reset_all(&self) {
        for (c, s) in self.conns.lock().unwrap().drain(..) {
            for t in [&c, &s] {
                let _ = socket2::SockRef::from(t).set_linger(Some(Duration::ZERO));
                let _ = t.shutdown(Shutdown::Both);
            }
        }
    }

    /// Ends one direction of every connection (FIN towards the side that
    /// receives `dir`), leaving the other open.
    pub fn half_close_all(&self, dir: Dir) {
        for (c, s) in self.conns.lock().unwrap().iter() {
            let _ = match dir {
                Dir::Up => s.shutdown(Shutdown::Write),
                Dir::Down => c.shutdown(Shutdown::Write),
            };
        }
    }

    /// How many connections it carries (including ended ones not yet
    /// reset).
    pub fn connections(&self) -> usize {
        self.conns.lock().unwrap().len()
    }
}

/// Moves bytes from `from` to `to`, applying the faults.
fn pump(mut from: TcpStream, mut to: TcpStream, dir: Dir, f: Arc<Faults>) {
    thread::spawn(move || {
        let mut buf = vec![0u8; 64 * 1024];
        loop {
            while f.stalled.load(Ordering::Relaxed) {
                thread::sleep(Duration::from_millis(2));
            }
            let n = match from.read(&mut buf) {
                Ok(0) | Err(_) => {
                    let _ = to.shutdown(Shutdown::Write);
                    return;
                }
                Ok(n) => n,
            };
            // A stall that began while we waited holds this chunk too.
            while f.stalled.load(Ordering::Relaxed) {
                thread::sleep(Duration::from_millis(2));
            }
            let corrupt = match dir {
                Dir::Up => &f.corrupt_up,
                Dir::Down => &f.corrupt_down,
            };
            let at = corrupt.load(Ordering::Relaxed);
            if at != usize::MAX {
                if at < n {
                    buf[at] ^= 0xff;
                    corrupt.store(usize::MAX, Ordering::Relaxed);
                } else {
                    corrupt.store(at - n, Ordering::Relaxed);
                }
            }
            let lat = f.latency_us.load(Ordering::Relaxed);
            if lat > 0 {
                thread::sleep(Duration::from_micros(lat));
            }
            let ok = if f.slice.load(Ordering::Relaxed) {
                buf[..n]
                    .iter()
                    .all(|b| to.write_all(std::slice::from_ref(b)).is_ok())
            } else {
                to.write_all(&buf[..n]).is_ok()
            };
            if !ok {
                let _ = from.shutdown(Shutdown::Read);
                return;
            }
            match dir {
                Dir::Up => f.passed_up.fetch_add(n as u64, Ordering::Relaxed),
                Dir::Down => f.passed_down.fetch_add(n as u64, Ordering::Relaxed),
            };
            let rate = f.rate.load(Ordering::Relaxed);
            if rate > 0 {
                thread::sleep(Duration::from_secs_f64(n as f64 / rate as f64));
            }
        }
    });
}
