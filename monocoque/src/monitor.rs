//! Socket monitoring: a stream of [`MonitorEvent`]s per socket.

use std::fmt;
use std::sync::Arc;
use std::time::{Duration, Instant};

use concurrent_queue::ConcurrentQueue;
use event_listener::{Event, Listener};

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
    /// The ZMTP handshake failed (the reason, then the endpoint).
    HandshakeFailed(String, String),
    /// A peer's connection ended.
    Disconnected(String),
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
            MonitorEvent::Disconnected(e) => write!(f, "disconnected {e}"),
            MonitorEvent::Closed(e) => write!(f, "closed {e}"),
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
