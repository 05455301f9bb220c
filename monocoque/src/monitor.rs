//! Socket monitoring: the events libzmq 4.3 reports (its `ZMQ_EVENT_*`),
//! typed as [`MonitorEvent`]s, chosen by an [`EventMask`], and read
//! through a [`Monitor`] or, in libzmq's own wire format, from a PAIR
//! socket ([`Socket::socket_monitor`](crate::Socket::socket_monitor),
//! libzmq's `zmq_socket_monitor`).
//!
//! Every reader of a socket's events has a sink (its own queue and mask);
//! the sinks hang off the socket's hub ([`MonitorQueue`]), which lives in
//! the socket's state and only there. When the socket is gone (closed,
//! and its last connection task ended) the hub drops and tells each sink
//! `MONITOR_STOPPED`, as libzmq does when it destroys a socket, so that
//! event is always the last.
//!
//! A leaf: what ties it to sockets (`Socket::monitor_events`, the
//! libzmq-format monitor) is in `socket_monitor.rs`.

use std::fmt;
use std::io;
use std::ops::{BitAnd, BitOr, BitOrAssign, Not, Sub};
#[cfg(unix)]
use std::os::fd::RawFd;
// Windows: a socket handle stands where Unix has a descriptor.
#[cfg(windows)]
use std::os::windows::io::RawSocket as RawFd;
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::Arc;

use crate::sync::{StdMutex as Mutex, StdMutexGuard as MutexGuard};
use std::time::{Duration, Instant};

use bytes::Bytes;
use concurrent_queue::ConcurrentQueue;
use event_listener::{Event, Listener};
use monocoque_zmtp::{Fault, ProtocolError};

use crate::message::Message;

/// Events kept for a monitor that is not read; older ones are dropped.
const MONITOR_CAPACITY: usize = 4096;

/// Every bit libzmq 4.3's version-1 monitor accepts (`ZMQ_EVENT_ALL`).
const ALL_BITS: u32 = 0xFFFF;

/// A set of monitor events, as libzmq's `ZMQ_EVENT_*` bits: which events a
/// [`Monitor`] or a [`socket_monitor`](crate::Socket::socket_monitor) receives.
///
/// Each constant has libzmq's value ([`bits`](Self::bits)), so masks
/// written for libzmq carry over through [`from_bits`](Self::from_bits).
///
/// ```
/// use monocoque::EventMask;
/// let m = EventMask::CONNECTED | EventMask::DISCONNECTED;
/// assert_eq!(m.bits(), 0x0201);
/// assert!(m.contains(EventMask::CONNECTED));
/// assert!(!m.contains(EventMask::LISTENING));
/// assert_eq!(EventMask::from_bits(0xFFFF).unwrap(), EventMask::ALL);
/// assert!(EventMask::from_bits(0x1_0000).is_err()); // not a libzmq 4.3 event
/// assert_eq!(format!("{m:?}"), "EventMask(CONNECTED | DISCONNECTED)");
/// ```
#[derive(Clone, Copy, Default, PartialEq, Eq, Hash)]
pub struct EventMask(u32);

impl EventMask {
    /// No event.
    pub const NONE: EventMask = EventMask(0);
    /// `ZMQ_EVENT_CONNECTED` (0x0001): a connect succeeded; the value is
    /// the connection's descriptor.
    pub const CONNECTED: EventMask = EventMask(0x0001);
    /// `ZMQ_EVENT_CONNECT_DELAYED` (0x0002): a tcp connect is under way;
    /// the value is `EINPROGRESS`.
    pub const CONNECT_DELAYED: EventMask = EventMask(0x0002);
    /// `ZMQ_EVENT_CONNECT_RETRIED` (0x0004): a connect will be tried again;
    /// the value is the wait in milliseconds.
    pub const CONNECT_RETRIED: EventMask = EventMask(0x0004);
    /// `ZMQ_EVENT_LISTENING` (0x0008): a bind succeeded; the value is the
    /// listening descriptor.
    pub const LISTENING: EventMask = EventMask(0x0008);
    /// `ZMQ_EVENT_BIND_FAILED` (0x0010): a bind failed; the value is the
    /// errno.
    pub const BIND_FAILED: EventMask = EventMask(0x0010);
    /// `ZMQ_EVENT_ACCEPTED` (0x0020): a connection was accepted; the value
    /// is its descriptor.
    pub const ACCEPTED: EventMask = EventMask(0x0020);
    /// `ZMQ_EVENT_ACCEPT_FAILED` (0x0040): an accept failed; the value is
    /// the errno.
    pub const ACCEPT_FAILED: EventMask = EventMask(0x0040);
    /// `ZMQ_EVENT_CLOSED` (0x0080): a listener, or a connect attempt's
    /// socket, was closed; the value is its descriptor.
    pub const CLOSED: EventMask = EventMask(0x0080);
    /// `ZMQ_EVENT_CLOSE_FAILED` (0x0100): closing a listener failed (its
    /// ipc file could not be removed); the value is the errno.
    pub const CLOSE_FAILED: EventMask = EventMask(0x0100);
    /// `ZMQ_EVENT_DISCONNECTED` (0x0200): a connection ended; the value is
    /// its descriptor.
    pub const DISCONNECTED: EventMask = EventMask(0x0200);
    /// `ZMQ_EVENT_MONITOR_STOPPED` (0x0400): the monitor ends (its socket
    /// is gone, or the wire monitor was stopped or replaced); the value
    /// is 0.
    pub const MONITOR_STOPPED: EventMask = EventMask(0x0400);
    /// `ZMQ_EVENT_HANDSHAKE_FAILED_NO_DETAIL` (0x0800): a handshake failed
    /// without a protocol or authentication error (the peer closed, a
    /// deadline passed); the value is an errno.
    pub const HANDSHAKE_FAILED_NO_DETAIL: EventMask = EventMask(0x0800);
    /// `ZMQ_EVENT_HANDSHAKE_SUCCEEDED` (0x1000): a handshake completed;
    /// the value is 0.
    pub const HANDSHAKE_SUCCEEDED: EventMask = EventMask(0x1000);
    /// `ZMQ_EVENT_HANDSHAKE_FAILED_PROTOCOL` (0x2000): a handshake failed
    /// on a protocol error; the value is a `ZMQ_PROTOCOL_ERROR_*` code
    /// (see [`protocol_error_code`](crate::protocol_error_code)).
    pub const HANDSHAKE_FAILED_PROTOCOL: EventMask = EventMask(0x2000);
    /// `ZMQ_EVENT_HANDSHAKE_FAILED_AUTH` (0x4000): a handshake failed on an
    /// authentication refusal; the value is the ZAP status code (300, 400,
    /// 500).
    pub const HANDSHAKE_FAILED_AUTH: EventMask = EventMask(0x4000);
    /// The three handshake failures.
    pub const HANDSHAKE_FAILED: EventMask = EventMask(0x0800 | 0x2000 | 0x4000);
    /// Every event: libzmq's `ZMQ_EVENT_ALL` (0xFFFF).
    pub const ALL: EventMask = EventMask(ALL_BITS);

    /// The events with their names, in bit order.
    const NAMES: [(EventMask, &'static str); 15] = [
        (Self::CONNECTED, "CONNECTED"),
        (Self::CONNECT_DELAYED, "CONNECT_DELAYED"),
        (Self::CONNECT_RETRIED, "CONNECT_RETRIED"),
        (Self::LISTENING, "LISTENING"),
        (Self::BIND_FAILED, "BIND_FAILED"),
        (Self::ACCEPTED, "ACCEPTED"),
        (Self::ACCEPT_FAILED, "ACCEPT_FAILED"),
        (Self::CLOSED, "CLOSED"),
        (Self::CLOSE_FAILED, "CLOSE_FAILED"),
        (Self::DISCONNECTED, "DISCONNECTED"),
        (Self::MONITOR_STOPPED, "MONITOR_STOPPED"),
        (
            Self::HANDSHAKE_FAILED_NO_DETAIL,
            "HANDSHAKE_FAILED_NO_DETAIL",
        ),
        (Self::HANDSHAKE_SUCCEEDED, "HANDSHAKE_SUCCEEDED"),
        (Self::HANDSHAKE_FAILED_PROTOCOL, "HANDSHAKE_FAILED_PROTOCOL"),
        (Self::HANDSHAKE_FAILED_AUTH, "HANDSHAKE_FAILED_AUTH"),
    ];

    /// The events as libzmq's bits.
    pub const fn bits(self) -> u32 {
        self.0
    }

    /// The events of libzmq's bits. Every bit of `ZMQ_EVENT_ALL` (0xFFFF)
    /// is accepted, as libzmq accepts them (0x8000 names no event; masks
    /// such as `ZMQ_EVENT_ALL & ~ZMQ_EVENT_CONNECTED` carry it); a bit
    /// above is refused with [`MonitorError::UnknownEvents`] (libzmq's
    /// `EINVAL`; 0x10000 is the draft `ZMQ_EVENT_PIPES_STATS`, which only
    /// libzmq's version-2 monitor knows).
    ///
    /// ```
    /// use monocoque::{EventMask, MonitorError};
    /// assert_eq!(EventMask::from_bits(0x0008), Ok(EventMask::LISTENING));
    /// assert_eq!(
    ///     EventMask::from_bits(0x3_0001),
    ///     Err(MonitorError::UnknownEvents(0x3_0000))
    /// );
    /// ```
    pub fn from_bits(bits: u32) -> Result<EventMask, MonitorError> {
        match bits & !ALL_BITS {
            0 => Ok(EventMask(bits)),
            unknown => Err(MonitorError::UnknownEvents(unknown)),
        }
    }

    /// Whether every event of `other` is in `self`.
    pub const fn contains(self, other: EventMask) -> bool {
        self.0 & other.0 == other.0
    }

    /// Whether `self` and `other` have an event in common.
    pub const fn intersects(self, other: EventMask) -> bool {
        self.0 & other.0 != 0
    }

    /// Whether the set is empty.
    pub const fn is_empty(self) -> bool {
        self.0 == 0
    }
}

impl BitOr for EventMask {
    type Output = EventMask;

    fn bitor(self, rhs: EventMask) -> EventMask {
        EventMask(self.0 | rhs.0)
    }
}

impl BitOrAssign for EventMask {
    fn bitor_assign(&mut self, rhs: EventMask) {
        self.0 |= rhs.0;
    }
}

impl BitAnd for EventMask {
    type Output = EventMask;

    fn bitand(self, rhs: EventMask) -> EventMask {
        EventMask(self.0 & rhs.0)
    }
}

impl Sub for EventMask {
    type Output = EventMask;

    fn sub(self, rhs: EventMask) -> EventMask {
        EventMask(self.0 & !rhs.0)
    }
}

impl Not for EventMask {
    type Output = EventMask;

    /// Every other event of [`EventMask::ALL`].
    fn not(self) -> EventMask {
        EventMask(!self.0 & ALL_BITS)
    }
}

impl fmt::Debug for EventMask {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        if *self == Self::ALL {
            return f.write_str("EventMask(ALL)");
        }
        let mut names: Vec<String> = Self::NAMES
            .iter()
            .filter(|(e, _)| self.contains(*e))
            .map(|(_, n)| (*n).to_owned())
            .collect();
        let known = Self::NAMES.iter().fold(0, |acc, (e, _)| acc | e.0);
        if self.0 & !known != 0 {
            names.push(format!("{:#x}", self.0 & !known));
        }
        if names.is_empty() {
            f.write_str("EventMask(NONE)")
        } else {
            write!(f, "EventMask({})", names.join(" | "))
        }
    }
}

/// A monitor could not be set up.
///
/// ```
/// use monocoque::{Error, EventMask, MonitorError, Socket, SocketType};
/// let s = Socket::new(SocketType::Pull).unwrap();
/// let e = s.socket_monitor("tcp://127.0.0.1:5555", EventMask::ALL).unwrap_err();
/// assert!(matches!(e, Error::Monitor(MonitorError::NotInproc(_))));
/// ```
#[derive(Clone, Debug, PartialEq, Eq, thiserror::Error)]
#[non_exhaustive]
pub enum MonitorError {
    /// Bits that name no libzmq 4.3 event (those above `ZMQ_EVENT_ALL`,
    /// 0xFFFF), as given.
    #[error(
        "unknown monitor event bits {0:#x}: libzmq 4.3's events are within ZMQ_EVENT_ALL (0xffff)"
    )]
    UnknownEvents(u32),
    /// A monitor endpoint that is not `inproc://` (libzmq's
    /// `EPROTONOSUPPORT`).
    #[error("monitor endpoint {0:?} is not inproc://: events are only published in process")]
    NotInproc(String),
}

/// What happened on a socket: libzmq 4.3's `ZMQ_EVENT_*`, one variant
/// each, with libzmq's value ([`value`](Self::value)) and what Rust code
/// wants typed: the endpoint, the peer's address (libzmq's draft monitor
/// v2's remote endpoint), why a connection ended, the peer's routing id.
///
/// Every variant is `#[non_exhaustive]`: match with `..`, and read the
/// common parts through [`endpoint`](Self::endpoint),
/// [`peer_address`](Self::peer_address), [`reason`](Self::reason) and
/// [`routing_id`](Self::routing_id).
///
/// `Display` prints the event's name (lower case, words apart), then the
/// endpoint: `listening tcp://127.0.0.1:5555`,
/// `handshake failed: security mechanism mismatch: ... tcp://127.0.0.1:5555`.
///
/// Where libzmq reports nothing we still report, and say why: inproc
/// links (their descriptor is `None`) and connections this side ended
/// (a close, a disconnect, an unbind: [`EndReason::Closed`]). The
/// libzmq-format monitor leaves the latter out, as libzmq does.
///
/// ```
/// use std::time::Duration;
/// use monocoque::{Context, MonitorEvent, SocketType};
/// let ctx = Context::new();
/// let pull = ctx.socket(SocketType::Pull).unwrap();
/// let events = pull.monitor();
/// pull.bind("tcp://127.0.0.1:*").unwrap();
/// let ev = events.recv_timeout(Duration::from_secs(5)).unwrap();
/// assert!(matches!(ev, MonitorEvent::Listening { .. }));
/// assert_eq!(ev.endpoint(), pull.last_endpoint().unwrap());
/// assert!(ev.to_string().starts_with("listening tcp://127.0.0.1:"));
/// ```
#[derive(Clone, Debug, PartialEq, Eq)]
#[non_exhaustive]
pub enum MonitorEvent {
    /// `CONNECTED`: an outgoing connection was made (its handshake
    /// follows).
    #[non_exhaustive]
    Connected {
        /// The endpoint as connected.
        endpoint: String,
        /// The address connected to (`tcp://127.0.0.1:5555`).
        peer: Option<String>,
        /// The connection's descriptor; `None` for inproc.
        fd: Option<RawFd>,
    },
    /// `CONNECT_DELAYED`: a tcp connect was started and is under way.
    #[non_exhaustive]
    ConnectDelayed {
        /// The endpoint as connected.
        endpoint: String,
        /// `EINPROGRESS`, as libzmq reports it.
        errno: i32,
    },
    /// `CONNECT_RETRIED`: a connect failed, or its connection ended; it
    /// is tried again after `interval`.
    #[non_exhaustive]
    ConnectRetried {
        /// The endpoint as connected.
        endpoint: String,
        /// How long until the next attempt (`RECONNECT_IVL`, doubling up to
        /// `RECONNECT_IVL_MAX`).
        interval: Duration,
    },
    /// `LISTENING`: a bind succeeded; the socket listens on the endpoint.
    #[non_exhaustive]
    Listening {
        /// The endpoint as bound (`tcp://127.0.0.1:40123` for a `:*` bind).
        endpoint: String,
        /// The listening descriptor; `None` for inproc.
        fd: Option<RawFd>,
    },
    /// `BIND_FAILED`: a bind failed.
    #[non_exhaustive]
    BindFailed {
        /// The endpoint as given.
        endpoint: String,
        /// The errno (`EADDRINUSE`...).
        errno: i32,
        /// What the bind returned, as text.
        error: String,
    },
    /// `ACCEPTED`: a connection was accepted on a bound endpoint (its
    /// handshake follows).
    #[non_exhaustive]
    Accepted {
        /// The bound endpoint.
        endpoint: String,
        /// The peer's address (`tcp://127.0.0.1:41234`); `None` over ipc
        /// (an unnamed peer) and inproc.
        peer: Option<String>,
        /// The connection's descriptor; `None` for inproc.
        fd: Option<RawFd>,
    },
    /// `ACCEPT_FAILED`: accepting a connection failed (out of descriptors,
    /// or its options could not be set); the listener carries on.
    #[non_exhaustive]
    AcceptFailed {
        /// The bound endpoint.
        endpoint: String,
        /// The errno (`EMFILE`...).
        errno: i32,
    },
    /// `CLOSED`: a listener was closed (unbind, close), or a connect
    /// attempt failed and its socket was closed.
    #[non_exhaustive]
    Closed {
        /// The endpoint, as bound or as connected.
        endpoint: String,
        /// The descriptor closed; `None` when none was made (inproc, a
        /// connect that stops).
        fd: Option<RawFd>,
    },
    /// `CLOSE_FAILED`: a listener's ipc file or `ipc://*` directory could
    /// not be removed.
    #[non_exhaustive]
    CloseFailed {
        /// The bound endpoint.
        endpoint: String,
        /// The errno.
        errno: i32,
    },
    /// `DISCONNECTED`: a connection ended, after its handshake or during
    /// it (then after the handshake failure).
    #[non_exhaustive]
    Disconnected {
        /// The endpoint, as bound or as connected.
        endpoint: String,
        /// The peer's address, as in [`Accepted`](Self::Accepted) and
        /// [`Connected`](Self::Connected).
        peer: Option<String>,
        /// The peer's routing id, if it had one (see
        /// [`HandshakeSucceeded`](Self::HandshakeSucceeded)).
        routing_id: Option<Bytes>,
        /// The connection's descriptor; `None` for inproc.
        fd: Option<RawFd>,
        /// Why it ended.
        reason: EndReason,
    },
    /// `MONITOR_STOPPED`: the last event; the socket is gone (or the wire
    /// monitor was stopped).
    #[non_exhaustive]
    MonitorStopped {},
    /// `HANDSHAKE_FAILED_NO_DETAIL`: the handshake failed without a
    /// protocol error or refusal: the peer closed (`EPIPE`), a deadline
    /// passed (`ETIMEDOUT`), an I/O error (its errno), the socket refused
    /// the peer (`EPROTO`), this side ended it (`ECONNABORTED`), our own
    /// configuration was invalid (`EINVAL`), or the peer sent an ERROR
    /// that is not a ZAP status (`EPIPE`, as libzmq).
    #[non_exhaustive]
    HandshakeFailedNoDetail {
        /// The endpoint, as bound or as connected.
        endpoint: String,
        /// The peer's address.
        peer: Option<String>,
        /// The errno.
        errno: i32,
        /// Why.
        reason: EndReason,
    },
    /// `HANDSHAKE_SUCCEEDED`: the peer is attached and may send and
    /// receive.
    #[non_exhaustive]
    HandshakeSucceeded {
        /// The endpoint, as bound or as connected.
        endpoint: String,
        /// The peer's address.
        peer: Option<String>,
        /// The peer's routing id: the one the socket routes by (ROUTER,
        /// STREAM), else the one the peer announced, if any.
        routing_id: Option<Bytes>,
    },
    /// `HANDSHAKE_FAILED_PROTOCOL`: the handshake broke the protocol.
    #[non_exhaustive]
    HandshakeFailedProtocol {
        /// The endpoint, as bound or as connected.
        endpoint: String,
        /// The peer's address.
        peer: Option<String>,
        /// libzmq's `ZMQ_PROTOCOL_ERROR_*` code for the error
        /// ([`protocol_error_code::of`](crate::protocol_error_code::of)).
        code: u32,
        /// Why, typed ([`EndReason::Peer`] with its [`ProtocolError`]).
        reason: EndReason,
    },
    /// `HANDSHAKE_FAILED_AUTH`: the credentials were refused (ZAP said no
    /// to the peer, or the peer's server to us).
    #[non_exhaustive]
    HandshakeFailedAuth {
        /// The endpoint, as bound or as connected.
        endpoint: String,
        /// The peer's address.
        peer: Option<String>,
        /// The ZAP status code: 300, 400 or 500.
        status_code: u16,
        /// Why ([`EndReason::Refused`], or the peer's ERROR).
        reason: EndReason,
    },
}

/// Traces a monitor event with the `tracing` crate, under the target
/// `monocoque`: handshake failures and bind or accept failures as
/// warnings, disconnections (with their reason) as information, the rest
/// (listening, connections, handshakes, reconnects) as debug. Inside an
/// engine the event falls in its connection's span.
pub(crate) fn trace(ev: &MonitorEvent) {
    let endpoint = ev.endpoint();
    let peer = ev.peer_address().unwrap_or("");
    match ev {
        MonitorEvent::HandshakeFailedNoDetail { .. }
        | MonitorEvent::HandshakeFailedProtocol { .. }
        | MonitorEvent::HandshakeFailedAuth { .. }
        | MonitorEvent::BindFailed { .. }
        | MonitorEvent::AcceptFailed { .. }
        | MonitorEvent::CloseFailed { .. } => {
            tracing::warn!(target: "monocoque", endpoint, peer, event = %ev);
        }
        MonitorEvent::Disconnected { .. } => {
            let reason = ev.reason().map(ToString::to_string).unwrap_or_default();
            tracing::info!(target: "monocoque", endpoint, peer, reason, event = %ev);
        }
        _ => tracing::debug!(target: "monocoque", endpoint, peer, event = %ev),
    }
}

impl MonitorEvent {
    /// Which event this is, as its one bit.
    ///
    /// ```
    /// # use monocoque::{EventMask, Socket, SocketType};
    /// # use std::time::Duration;
    /// let s = Socket::new(SocketType::Pull).unwrap();
    /// let events = s.monitor();
    /// s.bind("tcp://127.0.0.1:*").unwrap();
    /// let ev = events.recv_timeout(Duration::from_secs(5)).unwrap();
    /// assert_eq!(ev.event(), EventMask::LISTENING);
    /// ```
    pub fn event(&self) -> EventMask {
        match self {
            MonitorEvent::Connected { .. } => EventMask::CONNECTED,
            MonitorEvent::ConnectDelayed { .. } => EventMask::CONNECT_DELAYED,
            MonitorEvent::ConnectRetried { .. } => EventMask::CONNECT_RETRIED,
            MonitorEvent::Listening { .. } => EventMask::LISTENING,
            MonitorEvent::BindFailed { .. } => EventMask::BIND_FAILED,
            MonitorEvent::Accepted { .. } => EventMask::ACCEPTED,
            MonitorEvent::AcceptFailed { .. } => EventMask::ACCEPT_FAILED,
            MonitorEvent::Closed { .. } => EventMask::CLOSED,
            MonitorEvent::CloseFailed { .. } => EventMask::CLOSE_FAILED,
            MonitorEvent::Disconnected { .. } => EventMask::DISCONNECTED,
            MonitorEvent::MonitorStopped {} => EventMask::MONITOR_STOPPED,
            MonitorEvent::HandshakeFailedNoDetail { .. } => EventMask::HANDSHAKE_FAILED_NO_DETAIL,
            MonitorEvent::HandshakeSucceeded { .. } => EventMask::HANDSHAKE_SUCCEEDED,
            MonitorEvent::HandshakeFailedProtocol { .. } => EventMask::HANDSHAKE_FAILED_PROTOCOL,
            MonitorEvent::HandshakeFailedAuth { .. } => EventMask::HANDSHAKE_FAILED_AUTH,
        }
    }

    /// libzmq's value for the event: a descriptor (-1, as `u32`, where
    /// there is none), an errno, the reconnect interval in milliseconds, a
    /// `ZMQ_PROTOCOL_ERROR_*` code, a ZAP status code, or 0.
    pub fn value(&self) -> u32 {
        let fd = |fd: &Option<RawFd>| fd.map_or(u32::MAX, |fd| fd as u32);
        match self {
            MonitorEvent::Connected { fd: f, .. }
            | MonitorEvent::Listening { fd: f, .. }
            | MonitorEvent::Accepted { fd: f, .. }
            | MonitorEvent::Closed { fd: f, .. }
            | MonitorEvent::Disconnected { fd: f, .. } => fd(f),
            MonitorEvent::ConnectDelayed { errno, .. }
            | MonitorEvent::BindFailed { errno, .. }
            | MonitorEvent::AcceptFailed { errno, .. }
            | MonitorEvent::CloseFailed { errno, .. }
            | MonitorEvent::HandshakeFailedNoDetail { errno, .. } => *errno as u32,
            MonitorEvent::ConnectRetried { interval, .. } => {
                u32::try_from(interval.as_millis()).unwrap_or(u32::MAX)
            }
            MonitorEvent::MonitorStopped {} | MonitorEvent::HandshakeSucceeded { .. } => 0,
            MonitorEvent::HandshakeFailedProtocol { code, .. } => *code,
            MonitorEvent::HandshakeFailedAuth { status_code, .. } => u32::from(*status_code),
        }
    }

    /// The endpoint the event concerns (as bound or as connected); empty
    /// for [`MonitorStopped`](Self::MonitorStopped).
    pub fn endpoint(&self) -> &str {
        match self {
            MonitorEvent::Connected { endpoint, .. }
            | MonitorEvent::ConnectDelayed { endpoint, .. }
            | MonitorEvent::ConnectRetried { endpoint, .. }
            | MonitorEvent::Listening { endpoint, .. }
            | MonitorEvent::BindFailed { endpoint, .. }
            | MonitorEvent::Accepted { endpoint, .. }
            | MonitorEvent::AcceptFailed { endpoint, .. }
            | MonitorEvent::Closed { endpoint, .. }
            | MonitorEvent::CloseFailed { endpoint, .. }
            | MonitorEvent::Disconnected { endpoint, .. }
            | MonitorEvent::HandshakeFailedNoDetail { endpoint, .. }
            | MonitorEvent::HandshakeSucceeded { endpoint, .. }
            | MonitorEvent::HandshakeFailedProtocol { endpoint, .. }
            | MonitorEvent::HandshakeFailedAuth { endpoint, .. } => endpoint,
            MonitorEvent::MonitorStopped {} => "",
        }
    }

    /// The peer's address, for the events of a connection
    /// (`tcp://127.0.0.1:41234`); `None` where it is not known.
    pub fn peer_address(&self) -> Option<&str> {
        match self {
            MonitorEvent::Connected { peer, .. }
            | MonitorEvent::Accepted { peer, .. }
            | MonitorEvent::Disconnected { peer, .. }
            | MonitorEvent::HandshakeFailedNoDetail { peer, .. }
            | MonitorEvent::HandshakeSucceeded { peer, .. }
            | MonitorEvent::HandshakeFailedProtocol { peer, .. }
            | MonitorEvent::HandshakeFailedAuth { peer, .. } => peer.as_deref(),
            _ => None,
        }
    }

    /// The peer's routing id, on [`HandshakeSucceeded`](Self::HandshakeSucceeded)
    /// and [`Disconnected`](Self::Disconnected), where it has one.
    pub fn routing_id(&self) -> Option<&Bytes> {
        match self {
            MonitorEvent::HandshakeSucceeded { routing_id, .. }
            | MonitorEvent::Disconnected { routing_id, .. } => routing_id.as_ref(),
            _ => None,
        }
    }

    /// Why a connection ended or its handshake failed.
    pub fn reason(&self) -> Option<&EndReason> {
        match self {
            MonitorEvent::Disconnected { reason, .. }
            | MonitorEvent::HandshakeFailedNoDetail { reason, .. }
            | MonitorEvent::HandshakeFailedProtocol { reason, .. }
            | MonitorEvent::HandshakeFailedAuth { reason, .. } => Some(reason),
            _ => None,
        }
    }

    /// Why the handshake failed, for the three handshake failures.
    ///
    /// ```
    /// # use monocoque::{Context, Security, SocketType};
    /// # use std::time::{Duration, Instant};
    /// let ctx = Context::new();
    /// let pull = ctx.socket(SocketType::Pull).unwrap();
    /// pull.update_options(|o| o.security = Security::PlainServer { credentials: None });
    /// let events = pull.monitor();
    /// pull.bind("tcp://127.0.0.1:*").unwrap();
    /// let push = ctx.socket(SocketType::Push).unwrap(); // NULL: a mismatch
    /// push.connect(&pull.last_endpoint().unwrap()).unwrap();
    /// let deadline = Instant::now() + Duration::from_secs(5);
    /// let why = loop {
    ///     let left = deadline.saturating_duration_since(Instant::now());
    ///     let ev = events.recv_timeout(left).expect("a handshake failure");
    ///     if let Some(why) = ev.handshake_failure() {
    ///         break why.clone();
    ///     }
    /// };
    /// assert!(why.is_peer_fault());
    /// ```
    pub fn handshake_failure(&self) -> Option<&EndReason> {
        match self {
            MonitorEvent::HandshakeFailedNoDetail { reason, .. }
            | MonitorEvent::HandshakeFailedProtocol { reason, .. }
            | MonitorEvent::HandshakeFailedAuth { reason, .. } => Some(reason),
            _ => None,
        }
    }

    /// The handshake failure `reason`, as the libzmq event it is (see
    /// [`HandshakeFailedNoDetail`](Self::HandshakeFailedNoDetail) for the
    /// errnos).
    pub(crate) fn handshake_failed(
        endpoint: &str,
        peer: Option<&str>,
        reason: EndReason,
    ) -> MonitorEvent {
        let endpoint = endpoint.to_owned();
        let peer = peer.map(str::to_owned);
        match handshake_failure_kind(&reason) {
            Failure::Auth(status_code) => MonitorEvent::HandshakeFailedAuth {
                endpoint,
                peer,
                status_code,
                reason,
            },
            Failure::Protocol(code) => MonitorEvent::HandshakeFailedProtocol {
                endpoint,
                peer,
                code,
                reason,
            },
            Failure::NoDetail(errno) => MonitorEvent::HandshakeFailedNoDetail {
                endpoint,
                peer,
                errno,
                reason,
            },
        }
    }

    /// A failed bind of `endpoint`: the errno, and the error as text.
    pub(crate) fn bind_failed(endpoint: &str, errno: i32, error: String) -> MonitorEvent {
        MonitorEvent::BindFailed {
            endpoint: endpoint.to_owned(),
            errno,
            error,
        }
    }

    /// Whether libzmq reports this event: not a connection this side
    /// ended (libzmq ends those silently). The libzmq-format monitor
    /// sends only these.
    fn libzmq_reports(&self) -> bool {
        !matches!(self.reason(), Some(EndReason::Closed))
    }
}

impl fmt::Display for MonitorEvent {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        let e = self.endpoint();
        match self {
            MonitorEvent::Connected { .. } => write!(f, "connected {e}"),
            MonitorEvent::ConnectDelayed { .. } => write!(f, "connect delayed {e}"),
            MonitorEvent::ConnectRetried { interval, .. } => {
                write!(f, "connect retried in {} ms {e}", interval.as_millis())
            }
            MonitorEvent::Listening { .. } => write!(f, "listening {e}"),
            MonitorEvent::BindFailed { error, .. } => write!(f, "bind failed: {error} {e}"),
            MonitorEvent::Accepted { peer, .. } => match peer {
                Some(p) => write!(f, "accepted {e} from {p}"),
                None => write!(f, "accepted {e}"),
            },
            MonitorEvent::AcceptFailed { errno, .. } => {
                write!(
                    f,
                    "accept failed: {} {e}",
                    io::Error::from_raw_os_error(*errno)
                )
            }
            MonitorEvent::Closed { .. } => write!(f, "closed {e}"),
            MonitorEvent::CloseFailed { errno, .. } => {
                write!(
                    f,
                    "close failed: {} {e}",
                    io::Error::from_raw_os_error(*errno)
                )
            }
            MonitorEvent::Disconnected { reason, .. } => write!(f, "disconnected: {reason} {e}"),
            MonitorEvent::MonitorStopped {} => f.write_str("monitor stopped"),
            MonitorEvent::HandshakeFailedNoDetail { reason, .. }
            | MonitorEvent::HandshakeFailedProtocol { reason, .. }
            | MonitorEvent::HandshakeFailedAuth { reason, .. } => {
                write!(f, "handshake failed: {reason} {e}")
            }
            MonitorEvent::HandshakeSucceeded { .. } => write!(f, "handshake succeeded {e}"),
        }
    }
}

/// Which of the three handshake failures a reason is, with its value.
enum Failure {
    NoDetail(i32),
    Protocol(u32),
    Auth(u16),
}

/// A ZAP status code as libzmq reads one (`mechanism_base_t::handle_error_reason`,
/// `zap_client_t::handle_zap_status_code`): three characters, the first
/// 3, 4 or 5, then "00"; its hundreds.
fn zap_status(code: &str) -> Option<u16> {
    match code.as_bytes() {
        [d @ b'3'..=b'5', b'0', b'0'] => Some(u16::from(d - b'0') * 100),
        _ => None,
    }
}

fn handshake_failure_kind(reason: &EndReason) -> Failure {
    match reason {
        EndReason::Refused { status_code, .. } => match zap_status(status_code) {
            Some(s) => Failure::Auth(s),
            None => Failure::Protocol(protocol_error_code::ZAP_INVALID_STATUS_CODE),
        },
        // An ERROR with a ZAP status is a refusal; any other ERROR ends the
        // handshake without detail (libzmq: only DISCONNECTED, errno EPIPE).
        EndReason::Peer(ProtocolError::PeerError { reason }) => match zap_status(reason) {
            Some(s) => Failure::Auth(s),
            None => Failure::NoDetail(libc::EPIPE),
        },
        EndReason::Peer(e) => Failure::Protocol(protocol_error_code::of(e)),
        EndReason::Local(
            e @ (ProtocolError::MalformedZap(_) | ProtocolError::UnexpectedZapReply),
        ) => Failure::Protocol(protocol_error_code::of(e)),
        EndReason::Local(_) => Failure::NoDetail(libc::EINVAL),
        EndReason::PeerClosed => Failure::NoDetail(libc::EPIPE),
        EndReason::Timeout(_) => Failure::NoDetail(libc::ETIMEDOUT),
        EndReason::Rejected(_) => Failure::NoDetail(libc::EPROTO),
        EndReason::Closed => Failure::NoDetail(libc::ECONNABORTED),
        EndReason::Io { kind, .. } => Failure::NoDetail(errno_of_kind(*kind)),
    }
}

/// The errno an I/O error of `kind` most likely came from.
fn errno_of_kind(kind: io::ErrorKind) -> i32 {
    use io::ErrorKind as K;
    match kind {
        K::ConnectionReset => libc::ECONNRESET,
        K::ConnectionAborted => libc::ECONNABORTED,
        K::ConnectionRefused => libc::ECONNREFUSED,
        K::BrokenPipe | K::UnexpectedEof => libc::EPIPE,
        K::TimedOut => libc::ETIMEDOUT,
        K::NotConnected => libc::ENOTCONN,
        K::HostUnreachable => libc::EHOSTUNREACH,
        K::NetworkUnreachable => libc::ENETUNREACH,
        K::AddrInUse => libc::EADDRINUSE,
        K::AddrNotAvailable => libc::EADDRNOTAVAIL,
        K::PermissionDenied => libc::EACCES,
        K::NotFound => libc::ENOENT,
        K::WouldBlock => libc::EAGAIN,
        K::InvalidInput => libc::EINVAL,
        _ => libc::EIO,
    }
}

/// The errno of an I/O error: its own, else the likeliest for its kind.
pub(crate) fn errno_of(e: &io::Error) -> i32 {
    e.raw_os_error().unwrap_or_else(|| errno_of_kind(e.kind()))
}

/// libzmq's `ZMQ_PROTOCOL_ERROR_*` codes, the value of
/// [`HandshakeFailedProtocol`](crate::MonitorEvent::HandshakeFailedProtocol),
/// and [`of`](self::protocol_error_code::of) mapping a [`ProtocolError`] to its code.
///
/// ```
/// use monocoque::{protocol_error_code, ProtocolError};
/// let e = ProtocolError::MechanismMismatch { ours: "NULL".into(), theirs: "PLAIN".into() };
/// assert_eq!(protocol_error_code::of(&e), protocol_error_code::ZMTP_MECHANISM_MISMATCH);
/// assert_eq!(protocol_error_code::ZMTP_MECHANISM_MISMATCH, 0x1100_0002);
/// ```
pub mod protocol_error_code {
    use monocoque_zmtp::ProtocolError;

    /// `ZMQ_PROTOCOL_ERROR_ZMTP_UNSPECIFIED`: a ZMTP error with no code of
    /// its own (a bad greeting signature, a frame with reserved flags).
    pub const ZMTP_UNSPECIFIED: u32 = 0x1000_0000;
    /// `ZMQ_PROTOCOL_ERROR_ZMTP_UNEXPECTED_COMMAND`.
    pub const ZMTP_UNEXPECTED_COMMAND: u32 = 0x1000_0001;
    /// `ZMQ_PROTOCOL_ERROR_ZMTP_INVALID_SEQUENCE`.
    pub const ZMTP_INVALID_SEQUENCE: u32 = 0x1000_0002;
    /// `ZMQ_PROTOCOL_ERROR_ZMTP_KEY_EXCHANGE`.
    pub const ZMTP_KEY_EXCHANGE: u32 = 0x1000_0003;
    /// `ZMQ_PROTOCOL_ERROR_ZMTP_MALFORMED_COMMAND_UNSPECIFIED`.
    pub const ZMTP_MALFORMED_COMMAND_UNSPECIFIED: u32 = 0x1000_0011;
    /// `ZMQ_PROTOCOL_ERROR_ZMTP_MALFORMED_COMMAND_MESSAGE`.
    pub const ZMTP_MALFORMED_COMMAND_MESSAGE: u32 = 0x1000_0012;
    /// `ZMQ_PROTOCOL_ERROR_ZMTP_MALFORMED_COMMAND_HELLO`.
    pub const ZMTP_MALFORMED_COMMAND_HELLO: u32 = 0x1000_0013;
    /// `ZMQ_PROTOCOL_ERROR_ZMTP_MALFORMED_COMMAND_INITIATE`.
    pub const ZMTP_MALFORMED_COMMAND_INITIATE: u32 = 0x1000_0014;
    /// `ZMQ_PROTOCOL_ERROR_ZMTP_MALFORMED_COMMAND_ERROR`.
    pub const ZMTP_MALFORMED_COMMAND_ERROR: u32 = 0x1000_0015;
    /// `ZMQ_PROTOCOL_ERROR_ZMTP_MALFORMED_COMMAND_READY`.
    pub const ZMTP_MALFORMED_COMMAND_READY: u32 = 0x1000_0016;
    /// `ZMQ_PROTOCOL_ERROR_ZMTP_MALFORMED_COMMAND_WELCOME`.
    pub const ZMTP_MALFORMED_COMMAND_WELCOME: u32 = 0x1000_0017;
    /// `ZMQ_PROTOCOL_ERROR_ZMTP_INVALID_METADATA`.
    pub const ZMTP_INVALID_METADATA: u32 = 0x1000_0018;
    /// `ZMQ_PROTOCOL_ERROR_ZMTP_CRYPTOGRAPHIC`.
    pub const ZMTP_CRYPTOGRAPHIC: u32 = 0x1100_0001;
    /// `ZMQ_PROTOCOL_ERROR_ZMTP_MECHANISM_MISMATCH`.
    pub const ZMTP_MECHANISM_MISMATCH: u32 = 0x1100_0002;
    /// `ZMQ_PROTOCOL_ERROR_ZAP_UNSPECIFIED`.
    pub const ZAP_UNSPECIFIED: u32 = 0x2000_0000;
    /// `ZMQ_PROTOCOL_ERROR_ZAP_MALFORMED_REPLY`.
    pub const ZAP_MALFORMED_REPLY: u32 = 0x2000_0001;
    /// `ZMQ_PROTOCOL_ERROR_ZAP_BAD_REQUEST_ID`.
    pub const ZAP_BAD_REQUEST_ID: u32 = 0x2000_0002;
    /// `ZMQ_PROTOCOL_ERROR_ZAP_BAD_VERSION`.
    pub const ZAP_BAD_VERSION: u32 = 0x2000_0003;
    /// `ZMQ_PROTOCOL_ERROR_ZAP_INVALID_STATUS_CODE`.
    pub const ZAP_INVALID_STATUS_CODE: u32 = 0x2000_0004;
    /// `ZMQ_PROTOCOL_ERROR_ZAP_INVALID_METADATA`.
    pub const ZAP_INVALID_METADATA: u32 = 0x2000_0005;
    /// `ZMQ_PROTOCOL_ERROR_WS_UNSPECIFIED` (libzmq's draft WebSocket
    /// transport; never reported here).
    pub const WS_UNSPECIFIED: u32 = 0x3000_0000;

    /// libzmq's code for `e`: the one libzmq 4.3 reports for the same
    /// fault where it reports one, else the nearest (an unparsable
    /// greeting, which libzmq would take for ZMTP 1.0, is
    /// [`ZMTP_UNSPECIFIED`]; the peer's metadata, a socket type that
    /// cannot talk to ours, is [`ZMTP_INVALID_METADATA`], as libzmq's
    /// PLAIN and CURVE clients say).
    pub fn of(e: &ProtocolError) -> u32 {
        use ProtocolError as P;
        match e {
            P::MechanismMismatch { .. } | P::BadMechanismName => ZMTP_MECHANISM_MISMATCH,
            // Two PLAIN clients: each sees the other's HELLO.
            P::RoleMismatch { .. } => ZMTP_UNEXPECTED_COMMAND,
            P::UnexpectedCommand { .. } | P::MessageBeforeReady | P::UnprotectedFrame => {
                ZMTP_UNEXPECTED_COMMAND
            }
            P::MalformedCommand { command, .. } => match command.as_str() {
                "MESSAGE" => ZMTP_MALFORMED_COMMAND_MESSAGE,
                "HELLO" => ZMTP_MALFORMED_COMMAND_HELLO,
                "INITIATE" => ZMTP_MALFORMED_COMMAND_INITIATE,
                "ERROR" => ZMTP_MALFORMED_COMMAND_ERROR,
                "READY" => ZMTP_MALFORMED_COMMAND_READY,
                "WELCOME" => ZMTP_MALFORMED_COMMAND_WELCOME,
                _ => ZMTP_MALFORMED_COMMAND_UNSPECIFIED,
            },
            P::MissingSocketType
            | P::UnknownSocketType(_)
            | P::IncompatibleSocketType { .. }
            | P::InvalidIdentity(_) => ZMTP_INVALID_METADATA,
            P::CurveBoxRejected { .. } => ZMTP_CRYPTOGRAPHIC,
            P::CurveNonceOutOfOrder { .. } => ZMTP_INVALID_SEQUENCE,
            P::CurveVouchMismatch => ZMTP_KEY_EXCHANGE,
            P::UnexpectedZapReply => ZAP_BAD_REQUEST_ID,
            P::MalformedZap(what) => match *what {
                "unsupported zap version" => ZAP_BAD_VERSION,
                "status code is not three digits" | "unknown status code" => {
                    ZAP_INVALID_STATUS_CODE
                }
                "bad metadata" => ZAP_INVALID_METADATA,
                "reply must have 6 frames" => ZAP_MALFORMED_REPLY,
                _ => ZAP_UNSPECIFIED,
            },
            P::AuthenticationFailed { .. } => ZAP_UNSPECIFIED,
            _ => ZMTP_UNSPECIFIED,
        }
    }
}

/// Why a connection ended, as the monitor's
/// [`Disconnected`](MonitorEvent::Disconnected) and handshake failures
/// carry it.
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
    /// The peer closed the connection (over inproc: the peer socket
    /// closed or disconnected).
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

/// A monitor event in libzmq's wire format, as `zmq_socket_monitor`'s
/// PAIR socket sends it: two frames, the first six bytes (the event's bit
/// as a `u16`, then its value as a `u32`, both in native byte order), the
/// second the endpoint.
///
/// ```
/// use monocoque::{EventMask, WireEvent};
/// let ev = WireEvent {
///     event: EventMask::CONNECT_RETRIED,
///     value: 100,
///     endpoint: "tcp://127.0.0.1:5555".into(),
/// };
/// let msg = ev.encode();
/// assert_eq!(msg.len(), 2);
/// assert_eq!(&msg[0][..2], &0x0004u16.to_ne_bytes());
/// assert_eq!(&msg[0][2..], &100u32.to_ne_bytes());
/// assert_eq!(WireEvent::decode(&msg), Some(ev));
/// ```
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct WireEvent {
    /// The event, its one bit.
    pub event: EventMask,
    /// libzmq's value (see [`MonitorEvent::value`]).
    pub value: u32,
    /// The endpoint (empty for `MONITOR_STOPPED`).
    pub endpoint: String,
}

impl WireEvent {
    /// The two frames.
    pub fn encode(&self) -> Message {
        let mut head = Vec::with_capacity(6);
        head.extend_from_slice(&(self.event.bits() as u16).to_ne_bytes());
        head.extend_from_slice(&self.value.to_ne_bytes());
        let mut msg = Message::from(Bytes::from(head));
        msg.push_back(Bytes::copy_from_slice(self.endpoint.as_bytes()));
        msg
    }

    /// The event in `msg`; `None` unless it has two frames, the first six
    /// bytes long. An endpoint that is not UTF-8 is read lossily.
    pub fn decode(msg: &Message) -> Option<WireEvent> {
        let [head, endpoint] = msg.frames() else {
            return None;
        };
        let [e0, e1, v0, v1, v2, v3] = head[..] else {
            return None;
        };
        Some(WireEvent {
            event: EventMask(u32::from(u16::from_ne_bytes([e0, e1]))),
            value: u32::from_ne_bytes([v0, v1, v2, v3]),
            endpoint: String::from_utf8_lossy(endpoint).into_owned(),
        })
    }
}

impl From<&MonitorEvent> for WireEvent {
    fn from(ev: &MonitorEvent) -> WireEvent {
        WireEvent {
            event: ev.event(),
            value: ev.value(),
            endpoint: ev.endpoint().to_owned(),
        }
    }
}

/// One reader's events: a [`Monitor`]'s, or a wire monitor's forwarder's.
#[derive(Debug)]
pub(crate) struct Sink {
    mask: EventMask,
    events: ConcurrentQueue<MonitorEvent>,
    ready: Event,
    /// No event comes any more.
    stopped: AtomicBool,
}

impl Sink {
    pub(crate) fn new(mask: EventMask) -> Arc<Sink> {
        Arc::new(Sink {
            mask,
            events: ConcurrentQueue::bounded(MONITOR_CAPACITY),
            ready: Event::new(),
            stopped: AtomicBool::new(false),
        })
    }

    /// Records `ev` if the mask takes it; when nobody reads, the oldest
    /// events go.
    fn push(&self, ev: &MonitorEvent) {
        if self.mask.contains(ev.event()) {
            let _ = self.events.force_push(ev.clone());
            self.ready.notify(usize::MAX);
        }
    }

    /// The next event, if one is waiting.
    pub(crate) fn pop(&self) -> Option<MonitorEvent> {
        self.events.pop().ok()
    }

    /// Whether no event comes any more (what was queued may still wait).
    pub(crate) fn is_stopped(&self) -> bool {
        self.stopped.load(Ordering::Acquire)
    }

    /// Waits until an event is queued or the sink stops.
    pub(crate) async fn wait(&self) {
        let l = self.ready.listen();
        if self.events.is_empty() && !self.is_stopped() {
            l.await;
        }
    }

    /// `MONITOR_STOPPED` (if the mask takes it), and nothing after it.
    fn stop(&self) {
        if !self.stopped.swap(true, Ordering::AcqRel) {
            self.push(&MonitorEvent::MonitorStopped {});
        }
        self.ready.notify(usize::MAX);
    }
}

/// A socket's monitor hub: the sinks of its [`Monitor`]s and its wire
/// monitor. Only the socket's state holds it, so its drop is the socket's
/// end, and tells every sink `MONITOR_STOPPED`.
#[derive(Debug, Default)]
pub(crate) struct MonitorQueue {
    sinks: Mutex<Sinks>,
}

#[derive(Debug, Default)]
struct Sinks {
    monitors: Vec<Arc<Sink>>,
    /// The libzmq-format monitor's (`socket_monitor`).
    wire: Option<Arc<Sink>>,
}

impl MonitorQueue {
    pub(crate) fn new() -> Arc<Self> {
        Arc::new(Self::default())
    }

    fn sinks(&self) -> MutexGuard<'_, Sinks> {
        self.sinks.lock().unwrap_or_else(|e| e.into_inner())
    }

    /// Records an event for every reader whose mask takes it.
    pub(crate) fn emit(&self, ev: MonitorEvent) {
        let mut s = self.sinks();
        // A monitor nobody holds any more is forgotten.
        s.monitors.retain(|m| Arc::strong_count(m) > 1);
        for m in &s.monitors {
            m.push(&ev);
        }
        if let Some(w) = &s.wire {
            if ev.libzmq_reports() {
                w.push(&ev);
            }
        }
    }

    /// A new reader of the events in `mask`.
    pub(crate) fn subscribe(&self, mask: EventMask) -> Monitor {
        let sink = Sink::new(mask);
        self.sinks().monitors.push(sink.clone());
        Monitor { sink }
    }

    /// Makes `sink` the wire monitor's; the one it replaces is stopped.
    pub(crate) fn set_wire(&self, sink: Option<Arc<Sink>>) {
        let old = std::mem::replace(&mut self.sinks().wire, sink);
        if let Some(old) = old {
            old.stop();
        }
    }
}

impl Drop for MonitorQueue {
    fn drop(&mut self) {
        let s = self.sinks();
        for m in s.monitors.iter().chain(&s.wire) {
            m.stop();
        }
    }
}

/// Reads a socket's events: see [`Socket::monitor`](crate::Socket::monitor)
/// and [`Socket::monitor_events`](crate::Socket::monitor_events).
///
/// ```
/// use std::time::Duration;
/// use monocoque::{Context, SocketType, MonitorEvent};
/// let ctx = Context::new();
/// let pull = ctx.socket(SocketType::Pull).unwrap();
/// let monitor = pull.monitor();
/// pull.bind("tcp://127.0.0.1:*").unwrap();
/// let ev = monitor.recv_timeout(Duration::from_secs(5)).unwrap();
/// assert!(matches!(ev, MonitorEvent::Listening { .. }));
/// ```
#[derive(Debug, Clone)]
pub struct Monitor {
    sink: Arc<Sink>,
}

impl Monitor {
    /// The events this monitor receives.
    ///
    /// ```
    /// # use monocoque::{EventMask, Socket, SocketType};
    /// let s = Socket::new(SocketType::Pull).unwrap();
    /// assert_eq!(s.monitor().events(), EventMask::ALL);
    /// ```
    pub fn events(&self) -> EventMask {
        self.sink.mask
    }

    /// The next event, if one is waiting.
    ///
    /// ```
    /// # use monocoque::{Socket, SocketType};
    /// let s = Socket::new(SocketType::Pull).unwrap();
    /// assert!(s.monitor().try_recv().is_none());
    /// ```
    pub fn try_recv(&self) -> Option<MonitorEvent> {
        self.sink.events.pop().ok()
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
            let l = self.sink.ready.listen();
            if let Some(ev) = self.try_recv() {
                return Some(ev);
            }
            l.wait_deadline(deadline)?;
        }
    }

    /// Whether no event comes any more (what was queued may still wait;
    /// `MONITOR_STOPPED` may be about to be queued).
    #[cfg(feature = "futures")]
    pub(crate) fn is_stopped(&self) -> bool {
        self.sink.is_stopped()
    }

    /// A listener told when an event is queued or the monitor stops
    /// (the `futures` feature's `MonitorStream`).
    #[cfg(feature = "futures")]
    pub(crate) fn listen(&self) -> event_listener::EventListener {
        self.sink.ready.listen()
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
            let l = self.sink.ready.listen();
            if let Some(ev) = self.try_recv() {
                return ev;
            }
            l.await;
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn masks_have_libzmqs_bits() {
        let all = EventMask::NAMES
            .iter()
            .fold(EventMask::NONE, |acc, (e, _)| acc | *e);
        assert_eq!(all.bits(), 0x7FFF);
        assert_eq!(EventMask::ALL.bits(), 0xFFFF);
        assert!(EventMask::ALL.contains(all));
        assert_eq!(!EventMask::CONNECTED, EventMask::ALL - EventMask::CONNECTED);
        assert_eq!((!EventMask::NONE).bits(), 0xFFFF);
        assert_eq!(
            EventMask::from_bits(0x8000).map(EventMask::bits),
            Ok(0x8000)
        );
        assert_eq!(
            EventMask::from_bits(0x1_0000),
            Err(MonitorError::UnknownEvents(0x1_0000))
        );
        assert_eq!(format!("{:?}", EventMask::NONE), "EventMask(NONE)");
        assert_eq!(format!("{:?}", EventMask::ALL), "EventMask(ALL)");
        assert_eq!(
            format!("{:?}", EventMask(0x8001)),
            "EventMask(CONNECTED | 0x8000)"
        );
    }

    #[test]
    fn zap_statuses_are_read_as_libzmq_reads_them() {
        assert_eq!(zap_status("400"), Some(400));
        assert_eq!(zap_status("300"), Some(300));
        assert_eq!(zap_status("500"), Some(500));
        assert_eq!(zap_status("200"), None);
        assert_eq!(zap_status("401"), None);
        assert_eq!(zap_status("40"), None);
    }

    #[test]
    fn handshake_failures_split_as_libzmq_splits_them() {
        let ev = |r: EndReason| MonitorEvent::handshake_failed("tcp://x:1", None, r);
        let refused = ev(EndReason::Refused {
            status_code: "400".into(),
            status_text: "no".into(),
        });
        assert_eq!(refused.event(), EventMask::HANDSHAKE_FAILED_AUTH);
        assert_eq!(refused.value(), 400);
        let error_400 = ev(EndReason::Peer(ProtocolError::PeerError {
            reason: "500".into(),
        }));
        assert_eq!(error_400.event(), EventMask::HANDSHAKE_FAILED_AUTH);
        assert_eq!(error_400.value(), 500);
        let mismatch = ev(EndReason::Peer(ProtocolError::MechanismMismatch {
            ours: "NULL".into(),
            theirs: "PLAIN".into(),
        }));
        assert_eq!(mismatch.event(), EventMask::HANDSHAKE_FAILED_PROTOCOL);
        assert_eq!(mismatch.value(), 0x1100_0002);
        let zap = ev(EndReason::Local(ProtocolError::MalformedZap(
            "unsupported zap version",
        )));
        assert_eq!(zap.value(), protocol_error_code::ZAP_BAD_VERSION);
        for (r, errno) in [
            (EndReason::PeerClosed, libc::EPIPE),
            (
                EndReason::Timeout(ProtocolError::HandshakeTimeout),
                libc::ETIMEDOUT,
            ),
            (EndReason::from(io::Error::from_raw_os_error(104)), 104),
            (EndReason::Closed, libc::ECONNABORTED),
        ] {
            let e = ev(r);
            assert_eq!(e.event(), EventMask::HANDSHAKE_FAILED_NO_DETAIL, "{e:?}");
            assert_eq!(e.value(), errno as u32, "{e:?}");
        }
    }

    #[test]
    fn zap_reply_errors_keep_their_codes() {
        // The zmtp crate's texts for a malformed ZAP reply, each with the
        // code libzmq's zap_client reports: a renamed text fails here.
        let frames = |code: &str, version: &str| -> Vec<Bytes> {
            [version, "1", code, "", "", ""]
                .iter()
                .map(|s| Bytes::copy_from_slice(s.as_bytes()))
                .collect()
        };
        let code = |r: Result<ZapReply, ProtocolError>| {
            protocol_error_code::of(&r.expect_err("malformed"))
        };
        use monocoque_zmtp::ZapReply;
        assert_eq!(
            code(ZapReply::decode(&frames("200", "2.0"))),
            protocol_error_code::ZAP_BAD_VERSION
        );
        assert_eq!(
            code(ZapReply::decode(&frames("2x0", "1.0"))),
            protocol_error_code::ZAP_INVALID_STATUS_CODE
        );
        assert_eq!(
            code(ZapReply::decode(&frames("201", "1.0"))),
            protocol_error_code::ZAP_INVALID_STATUS_CODE
        );
        assert_eq!(
            code(ZapReply::decode(&frames("200", "1.0")[..5])),
            protocol_error_code::ZAP_MALFORMED_REPLY
        );
        let mut bad_md = frames("200", "1.0");
        bad_md[5] = Bytes::from_static(b"\x05");
        assert_eq!(
            code(ZapReply::decode(&bad_md)),
            protocol_error_code::ZAP_INVALID_METADATA
        );
    }

    #[test]
    fn the_wire_format_is_two_frames_in_native_order() {
        let ev = MonitorEvent::Disconnected {
            endpoint: "tcp://127.0.0.1:5555".into(),
            peer: None,
            routing_id: None,
            fd: Some(7),
            reason: EndReason::PeerClosed,
        };
        let msg = WireEvent::from(&ev).encode();
        assert_eq!(msg.frames().len(), 2);
        let mut head = 0x0200u16.to_ne_bytes().to_vec();
        head.extend(7u32.to_ne_bytes());
        assert_eq!(&msg[0][..], &head[..]);
        assert_eq!(&msg[1][..], b"tcp://127.0.0.1:5555");
        let stopped = WireEvent::from(&MonitorEvent::MonitorStopped {}).encode();
        assert_eq!(&stopped[1][..], b"");
        assert_eq!(WireEvent::decode(&Message::from("short")), None);
    }
}
