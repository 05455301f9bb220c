//! The compio I/O engine: the tasks on the I/O threads that own each
//! peer's stream, read into the arena's slabs and write batches of
//! `Bytes`. An engine reaches its socket only through the socket's
//! [`Port`]; ZMTP connections are framed by their `Session` alone.
//!
//! - [`threads`]: the I/O threads a context owns.
//! - [`zmtp`]: one ZMTP connection (handshake, reader, writer).
//! - [`raw`]: one STREAM connection (raw bytes).
//! - `write`: the vectored write that resumes after short writes.

pub(crate) mod raw;
pub(crate) mod threads;
mod write;
pub(crate) mod zmtp;

use std::cell::{Cell, RefCell};
#[cfg(unix)]
use std::os::fd::{AsFd, RawFd};
// Windows: a socket handle stands where Unix has a descriptor.
#[cfg(windows)]
use std::os::windows::io::{AsSocket as AsFd, RawSocket as RawFd};
use std::sync::Arc;

use bytes::Bytes;
use compio::buf::{BufResult, IoBuf};
use compio::io::{AsyncRead, AsyncReadManaged, AsyncWrite};
use compio_driver::ToSharedFd;
use event_listener::Event;
use monocoque_core::alloc::{Arena, SlabMut};
use monocoque_core::router::PeerId;
use tracing::Instrument;

pub(crate) use write::{write_all, Marks, Wire, COPY_MAX};

use crate::monitor::{EndReason, MonitorEvent};
use crate::pipe::Consumer;
use crate::socket_core::Port;
use crate::sync::Cancel;

/// Bytes offered to a read that follows a read of most of its region.
const READ_SIZE: usize = 64 * 1024;
/// The least offered to a read, and the most a quiet read takes from
/// the I/O thread's ring (`read_chunk`); the first read of a connection
/// is this size too.
pub(crate) const QUIET_READ: usize = 4 * 1024;

thread_local! {
    static ARENA: RefCell<Arena> = RefCell::new(Arena::default());
    /// Whether a sweep of this thread's arena is on its way.
    static TRIM_SET: Cell<bool> = const { Cell::new(false) };
}

/// How long after a connection ends its arena is swept whole: its last
/// read's region comes back only once the kernel gave up the cancelled
/// read, and the connections of a burst of disconnects share one sweep.
const TRIM_AFTER: std::time::Duration = std::time::Duration::from_millis(50);

/// Idle pages an I/O thread keeps after that sweep: enough for the next
/// connections' first reads without a page allocation, and not the most
/// that a past burst of connections needed (up to the arena's cap of 16
/// pages, 4 MiB, resident once touched).
const IDLE_AFTER_TRIM: usize = 2;

/// A connection ended: soon, every page of this thread's arena whose
/// regions all came back goes to the pool or to the system
/// (`Arena::trim`), and the pool's idle pages above [`IDLE_AFTER_TRIM`]
/// go back to the system (`Arena::release_idle`). Otherwise a page is looked at again only when a later
/// read switches pages, so after a burst of connections that ended the
/// pages they held would stay reserved while the thread reads nothing
/// (docs/BOUNDS.md row 27).
fn trim_soon() {
    if TRIM_SET.with(|t| t.replace(true)) {
        return;
    }
    compio::runtime::spawn(async {
        compio::time::sleep(TRIM_AFTER).await;
        TRIM_SET.with(|t| t.set(false));
        ARENA.with(|a| {
            let mut a = a.borrow_mut();
            a.trim();
            a.release_idle(IDLE_AFTER_TRIM);
        });
    })
    .detach();
}

/// The size of a connection's next read after one that was offered
/// `asked` bytes and got `got`: a read that filled its region is followed
/// by one of `full` bytes, a read that got less than 4 KiB (a quiet
/// connection: a handshake, a lone small message, a heartbeat) by one of
/// 4 KiB, any other by one of 64 KiB. So a quiet connection's reads come
/// from the ring and hold no region while they wait (`read_chunk`,
/// docs/BOUNDS.md row 26), while a busy one reads as before: sizing the
/// next read to the last one's (twice what it got) cost 11-15 % of the
/// 1 KiB throughput, in reads of 8 to 32 KiB that a burst then outgrew.
fn next_read(asked: usize, got: usize, full: usize) -> usize {
    if got >= asked {
        full
    } else if got < QUIET_READ {
        QUIET_READ
    } else {
        READ_SIZE
    }
}

/// A read region of `len` bytes from this I/O thread's arena.
fn sized_slab(len: usize) -> SlabMut {
    ARENA.with(|a| a.borrow_mut().alloc(len))
}

/// Buffers in each I/O thread's provided-buffer ring (of [`QUIET_READ`]
/// bytes each: 256 KiB a thread), shared by all its quiet reads.
pub(crate) const QUIET_BUFFERS: std::num::NonZero<u16> = match std::num::NonZero::new(64) {
    Some(n) => n,
    None => unreachable!(),
};

/// One read of at most `len` bytes; empty when the peer closed.
///
/// A quiet read (at most [`QUIET_READ`] bytes: a handshake, a lone small
/// message, a connection waiting for its next one) takes no region while
/// it waits: the kernel picks a buffer of the I/O thread's ring when bytes
/// arrive, and the bytes are copied into a region of their own size, so an
/// idle connection holds no read buffer at all (docs/BOUNDS.md row 26).
/// With the ring empty (`ENOBUFS`: that many quiet reads completed at
/// once) or no ring to be had, the read takes a region as a busy one does.
async fn read_chunk<S>(r: &mut S, len: usize) -> std::io::Result<Bytes>
where
    S: AsyncRead + AsyncReadManaged,
{
    if len <= QUIET_READ {
        match r.read_managed(len).await {
            Ok(Some(buf)) => {
                let got = buf.as_init();
                if got.is_empty() {
                    return Ok(Bytes::new());
                }
                let mut region = sized_slab(got.len());
                region.put_slice(got);
                return Ok(region.freeze(got.len()));
            }
            Ok(None) => return Ok(Bytes::new()),
            Err(e) if !no_ring(&e) => return Err(e),
            Err(_) => {}
        }
    }
    let BufResult(res, buf) = r.read(sized_slab(len)).await;
    res.map(|n| buf.freeze(n))
}

/// Whether a quiet read failed for want of a ring buffer, not of the
/// connection.
fn no_ring(e: &std::io::Error) -> bool {
    use std::io::ErrorKind::{ResourceBusy, Unsupported};
    // compio reports the ring's `ENOBUFS` as `ResourceBusy`.
    e.raw_os_error() == Some(libc::ENOBUFS) || matches!(e.kind(), ResourceBusy | Unsupported)
}

/// Who a connection belongs to and how it ends.
#[derive(Debug)]
pub(crate) struct ConnSpec {
    /// The socket.
    pub(crate) port: Arc<dyn Port>,
    /// The endpoint, for the monitor.
    pub(crate) endpoint: Arc<str>,
    /// The peer's address (`tcp://ip:port`, `ipc://path`), for the
    /// monitor; `None` when unknown (an unnamed ipc peer).
    pub(crate) peer: Option<Arc<str>>,
    /// The connection's descriptor, for the monitor.
    pub(crate) fd: Option<RawFd>,
    /// A connecter's persistent peer and its pipe's engine end (the
    /// socket's end is in the peer's outbox).
    pub(crate) preset: Option<(PeerId, Consumer)>,
    /// The listener's or connecter's stop signal.
    pub(crate) cancel: Arc<Cancel>,
    /// Set once the handshake completed (a connecter's RECONNECT_STOP
    /// tells a failed handshake from a connection that ended later).
    pub(crate) greeted: Cell<bool>,
}

/// What a connection's engine runs on: a tcp or ipc stream of compio's,
/// read and written by the engine's tasks (clones of one handle), whose
/// shared descriptor sending threads may hold for inline writes.
pub(crate) trait ConnStream:
    AsyncRead + AsyncReadManaged + AsyncWrite + AsFd + ToSharedFd<socket2::Socket> + Clone + 'static
{
}

impl<S> ConnStream for S where
    S: AsyncRead
        + AsyncReadManaged
        + AsyncWrite
        + AsFd
        + ToSharedFd<socket2::Socket>
        + Clone
        + 'static
{
}

/// Runs one accepted or connected stream to its end: ZMTP, or raw bytes
/// for a STREAM socket. Returns why it ended (the monitor is told too).
pub(crate) async fn run<S>(stream: S, spec: &ConnSpec) -> EndReason
where
    S: ConnStream,
{
    // Apple's systems have no `MSG_NOSIGNAL`: a write to a connection the
    // peer reset must not raise SIGPIPE (libzmq sets this option likewise).
    #[cfg(target_vendor = "apple")]
    let _ = socket2::SockRef::from(&stream).set_nosigpipe(true);
    // One span per connection: its monitor events (handshake, disconnect
    // with the reason) are traced inside it.
    let span = tracing::debug_span!(
        target: "monocoque",
        "connection",
        socket = spec.port.socket_type().as_str(),
        endpoint = &*spec.endpoint,
        peer = spec.peer.as_deref().unwrap_or(""),
    );
    let reason = if spec.port.speaks_zmtp() {
        zmtp::run(stream, spec).instrument(span).await
    } else {
        raw::run(stream, spec).instrument(span).await
    };
    trim_soon();
    reason
}

impl ConnSpec {
    /// The peer's address, as the monitor's events carry it.
    pub(crate) fn peer(&self) -> Option<String> {
        self.peer.as_deref().map(str::to_owned)
    }

    /// `DISCONNECTED`, with why and the peer's routing id.
    pub(crate) fn disconnected(
        &self,
        routing_id: Option<Bytes>,
        reason: EndReason,
    ) -> MonitorEvent {
        MonitorEvent::Disconnected {
            endpoint: self.endpoint.to_string(),
            peer: self.peer(),
            routing_id,
            fd: self.fd,
            reason,
        }
    }

    /// `HANDSHAKE_SUCCEEDED`, with the peer's routing id.
    pub(crate) fn handshake_succeeded(&self, routing_id: Option<Bytes>) -> MonitorEvent {
        MonitorEvent::HandshakeSucceeded {
            endpoint: self.endpoint.to_string(),
            peer: self.peer(),
            routing_id,
        }
    }

    /// The handshake failure `reason` (NO_DETAIL, PROTOCOL or AUTH).
    pub(crate) fn handshake_failed(&self, reason: EndReason) -> MonitorEvent {
        MonitorEvent::handshake_failed(&self.endpoint, self.peer.as_deref(), reason)
    }
}

/// Ends a connection's two tasks together, and keeps why the first of
/// them stopped.
#[derive(Default)]
struct Link {
    done: Cell<bool>,
    reason: RefCell<Option<EndReason>>,
    event: Event,
    /// What the reader's session produced for the wire (PONG, ERROR).
    out: RefCell<Vec<Bytes>>,
    /// Rung when the writer takes `out`.
    drained: Event,
}

/// What the reader may leave in [`Link::out`] for the writer: past this, a
/// peer that keeps sending commands (PING) and never reads what we answer
/// is not read any more until the writer has passed it on (the policy:
/// stop reading until the peer drains, as a full RCVHWM does).
const OUT_BOUND: usize = 64 * 1024;

impl Link {
    /// Stops both tasks; the first reason given is kept.
    fn stop(&self, why: EndReason) {
        self.reason.borrow_mut().get_or_insert(why);
        self.done.set(true);
        self.event.notify(usize::MAX);
    }

    /// Bytes waiting in `out`.
    fn pending_out(&self) -> usize {
        self.out.borrow().iter().map(Bytes::len).sum()
    }

    /// Whether [`stop`](Self::stop) was called.
    fn is_done(&self) -> bool {
        self.done.get()
    }

    /// Why the connection stopped, if it did.
    fn reason(&self) -> Option<EndReason> {
        self.reason.borrow().clone()
    }
}
