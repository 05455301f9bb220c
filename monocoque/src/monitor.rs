//! Socket monitoring: a stream of [`MonitorEvent`]s per socket.

use std::fmt;
use std::io;
use std::sync::Arc;
use std::time::{Duration, Instant};

use concurrent_queue::ConcurrentQueue;
use event_listener::{Event, Listener};
use monocoque_zmtp::{Fault, ProtocolError};

/// Events kept for a monitor that is not read; older ones are dropped.
const MONITOR_CAPACITY: usize = 4096;

/// What happened on a socket, with the endpoint it concerns.
///
/// `Display` prints the event's name as DESIGN section 6 gives it, then the
/// endpoint: `listening tcp://127.0.0.1:5555`,
/// `handshake failed: mechanism mismatch tcp://127.0.0.1:5555`.
///
/// ```
/// use monocoque::MonitorEvent;
/// let ev = MonitorEvent::Connected("tcp://127.0.0.1:5555".into());
/// assert_eq!(ev.to_string(), "connected tcp://127.0.0.1:5555");
/// ```
#[derive(Clone, Debug, PartialEq, Eq)]
#[non_exhaustive]
pub enum MonitorEvent {
    /// A bind succeeded; the socket listens on the endpoint.
    Listening(String),
    /// A bind failed.
    BindFailed(String, String),
    /// A connection was accepted on a bound endpoint.
    Accepted(String),
    /// An outgoing connection was established.
    Connected(String),
    /// An outgoing connection failed; it will be retried.
    ConnectRetried(String),
    /// The ZMTP handshake with a peer completed.
    HandshakeSucceeded(String),
    /// The ZMTP handshake failed (the endpoint, then why).
    HandshakeFailed(String, EndReason),
    /// A peer's connection ended (the endpoint, then why).
    Disconnected(String, EndReason),
    /// A bound endpoint stopped listening.
    Closed(String),
}

impl fmt::Display for MonitorEvent {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            MonitorEvent::Listening(e) => write!(f, "listening {e}"),
            MonitorEvent::BindFailed(e, why) => write!(f, "bind failed: {why} {e}"),
            MonitorEvent::Accepted(e) => write!(f, "accepted {e}"),
            MonitorEvent::Connected(e) => write!(f, "connected {e}"),
            MonitorEvent::ConnectRetried(e) => write!(f, "connect retried {e}"),
            MonitorEvent::HandshakeSucceeded(e) => write!(f, "handshake succeeded {e}"),
            MonitorEvent::HandshakeFailed(e, why) => write!(f, "handshake failed: {why} {e}"),
            MonitorEvent::Disconnected(e, _) => write!(f, "disconnected {e}"),
            MonitorEvent::Closed(e) => write!(f, "closed {e}"),
        }
    }
}

/// Why a connection ended, as the monitor's
/// [`HandshakeFailed`](MonitorEvent::HandshakeFailed) and
/// [`Disconnected`](MonitorEvent::Disconnected) events carry it.
///
/// ```
/// use monocoque::EndReason;
/// assert_eq!(EndReason::PeerClosed.to_string(), "connection closed by peer");
/// assert!(EndReason::PeerClosed.is_peer_fault());
/// ```
#[derive(Clone, Debug, PartialEq, Eq)]
#[non_exhaustive]
pub enum EndReason {
    /// The peer broke the protocol or sent ERROR (a peer fault in
    /// [`ProtocolError::fault`]).
    Peer(ProtocolError),
    /// The peer closed the connection.
    PeerClosed,
    /// This side ended it: the socket closed, or a disconnect, an unbind
    /// or a newer connection with the same routing id did.
    Closed,
    /// The socket refused the peer after the handshake (a PAIR already
    /// paired, a ROUTER routing id already taken).
    Rejected(&'static str),
    /// A handshake or heartbeat deadline passed.
    Timeout(ProtocolError),
    /// The peer's credentials were refused (ZAP status 400, or the other
    /// side refused ours).
    Refused {
        /// The ZAP status code, as sent (`"400"`).
        status_code: String,
        /// The status text.
        status_text: String,
    },
    /// Our own configuration or use of the session was invalid.
    Local(ProtocolError),
    /// The connection failed with an operating-system error.
    Io {
        /// What kind of error.
        kind: io::ErrorKind,
        /// The error as the system described it.
        message: String,
    },
}

impl EndReason {
    /// Whether the peer caused the end (its bytes, its close, its refusal).
    pub fn is_peer_fault(&self) -> bool {
        matches!(
            self,
            EndReason::Peer(_) | EndReason::PeerClosed | EndReason::Refused { .. }
        )
    }
}

impl From<ProtocolError> for EndReason {
    fn from(e: ProtocolError) -> Self {
        match (e.fault(), e) {
            (
                _,
                ProtocolError::AuthenticationFailed {
                    status_code,
                    status_text,
                },
            ) => EndReason::Refused {
                status_code,
                status_text,
            },
            (Fault::Timeout, e) => EndReason::Timeout(e),
            (Fault::Local, e) => EndReason::Local(e),
            (_, e) => EndReason::Peer(e),
        }
    }
}

impl From<io::Error> for EndReason {
    fn from(e: io::Error) -> Self {
        EndReason::Io {
            kind: e.kind(),
            message: e.to_string(),
        }
    }
}

impl fmt::Display for EndReason {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            EndReason::Peer(e) | EndReason::Timeout(e) | EndReason::Local(e) => e.fmt(f),
            EndReason::PeerClosed => f.write_str("connection closed by peer"),
            EndReason::Closed => f.write_str("closed"),
            EndReason::Rejected(why) => write!(f, "peer refused by the socket: {why}"),
            EndReason::Refused {
                status_code,
                status_text,
            } => write!(f, "authentication failed: {status_code} {status_text}"),
            EndReason::Io { message, .. } => f.write_str(message),
        }
    }
}

/// The queue a socket's events go to.
#[derive(Debug)]
pub(crate) struct MonitorQueue {
    events: ConcurrentQueue<MonitorEvent>,
    ready: Event,
}

impl MonitorQueue {
    pub(crate) fn new() -> Arc<Self> {
        Arc::new(Self {
            events: ConcurrentQueue::bounded(MONITOR_CAPACITY),
            ready: Event::new(),
        })
    }

    /// Records an event; when nobody reads, the oldest events go.
    pub(crate) fn emit(&self, ev: MonitorEvent) {
        let _ = self.events.force_push(ev);
        self.ready.notify(usize::MAX);
    }
}

/// Reads a socket's events: see [`Socket::monitor`](crate::Socket::monitor).
///
/// ```
/// use std::time::Duration;
/// use monocoque::{Context, SocketType, MonitorEvent};
/// let ctx = Context::new();
/// let pull = ctx.socket(SocketType::Pull).unwrap();
/// let monitor = pull.monitor();
/// pull.bind("tcp://127.0.0.1:*").unwrap();
/// let ev = monitor.recv_timeout(Duration::from_secs(5)).unwrap();
/// assert!(matches!(ev, MonitorEvent::Listening(_)));
/// ```
#[derive(Debug, Clone)]
pub struct Monitor {
    pub(crate) queue: Arc<MonitorQueue>,
}

impl Monitor {
    /// The next event, if one is waiting.
    ///
    /// ```
    /// # use monocoque::{Socket, SocketType};
    /// let s = Socket::new(SocketType::Pull).unwrap();
    /// assert!(s.monitor().try_recv().is_none());
    /// ```
    pub fn try_recv(&self) -> Option<MonitorEvent> {
        self.queue.events.pop().ok()
    }

    /// The next event, waiting up to `timeout` for one.
    ///
    /// ```
    /// # use monocoque::{Socket, SocketType};
    /// # use std::time::Duration;
    /// let s = Socket::new(SocketType::Pull).unwrap();
    /// assert!(s.monitor().recv_timeout(Duration::from_millis(1)).is_none());
    /// ```
    pub fn recv_timeout(&self, timeout: Duration) -> Option<MonitorEvent> {
        let deadline = Instant::now() + timeout;
        loop {
            if let Some(ev) = self.try_recv() {
                return Some(ev);
            }
            let l = self.queue.ready.listen();
            if let Some(ev) = self.try_recv() {
                return Some(ev);
            }
            l.wait_deadline(deadline)?;
        }
    }

    /// The next event, waiting as long as it takes.
    ///
    /// ```no_run
    /// # use monocoque::{Socket, SocketType};
    /// # async fn f() {
    /// let s = Socket::new(SocketType::Pull).unwrap();
    /// let ev = s.monitor().recv_async().await;
    /// println!("{ev}");
    /// # }
    /// ```
    pub async fn recv_async(&self) -> MonitorEvent {
        loop {
            if let Some(ev) = self.try_recv() {
                return ev;
            }
            let l = self.queue.ready.listen();
            if let Some(ev) = self.try_recv() {
                return ev;
            }
            l.await;
        }
    }
}
