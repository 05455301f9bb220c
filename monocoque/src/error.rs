//! The library's error type.

use std::io;

/// What can go wrong on a socket.
///
/// Errors caused by a peer (a malformed frame, a refused handshake) close
/// that peer's connection and reach the application only through the
/// monitor, as an [`EndReason`](crate::EndReason); the variants here are
/// what a call on the socket itself returns.
///
/// ```
/// use monocoque::{Error, Socket, SocketType};
/// let req = Socket::new(SocketType::Req).unwrap();
/// assert!(matches!(req.recv(), Err(Error::State))); // recv before send
/// assert!(matches!(req.try_send("x"), Err(Error::WouldBlock))); // no peer
/// ```
#[derive(Debug, thiserror::Error)]
#[non_exhaustive]
pub enum Error {
    /// The operation would block: non-blocking mode, or a timeout expired
    /// (`EAGAIN`).
    #[error("resource temporarily unavailable")]
    WouldBlock,
    /// The operation is not valid in the socket's current state, such as a
    /// REQ sending twice without receiving (`EFSM`).
    #[error("operation cannot be accomplished in current state")]
    State,
    /// The socket type does not support the operation, such as `recv` on a
    /// PUSH socket (`ENOTSUP`).
    #[error("operation not supported by {0} sockets")]
    NotSupported(&'static str),
    /// ROUTER with `ROUTER_MANDATORY`: no peer has the routing id
    /// (`EHOSTUNREACH`).
    #[error("host unreachable")]
    HostUnreachable,
    /// The endpoint could not be parsed, or its transport is unknown.
    #[error("invalid endpoint {0:?}: {1}")]
    Endpoint(String, &'static str),
    /// An invalid option value, or a message the socket type cannot send
    /// (an empty multipart message, a ROUTER message without a routing id).
    #[error("invalid argument: {0}")]
    Invalid(&'static str),
    /// The endpoint is not bound or connected on this socket (`ENOENT`).
    #[error("endpoint {0:?} is not in use on this socket")]
    NotFound(String),
    /// The socket or its context was closed (`ETERM`).
    #[error("the socket's context was terminated")]
    Terminated,
    /// An inproc endpoint name is already bound (`EADDRINUSE`).
    #[error("address already in use: {0}")]
    AddressInUse(String),
    /// An operating-system error from bind, connect or a socket option.
    #[error(transparent)]
    Io(#[from] io::Error),
    /// An option set or read by name could not be (see
    /// [`OptionError`](crate::OptionError)).
    #[error(transparent)]
    Option(#[from] crate::options::OptionError),
    /// The context has `max_sockets` sockets open already (libzmq's
    /// `EMFILE`).
    #[error("too many open sockets in the context (max_sockets {0})")]
    TooManySockets(usize),
    /// A monitor could not be set up (see
    /// [`MonitorError`](crate::MonitorError)).
    #[error(transparent)]
    Monitor(#[from] crate::monitor::MonitorError),
}

impl Error {
    /// The errno libzmq's call would set for this error (the monitor's
    /// `BIND_FAILED` value).
    pub(crate) fn errno(&self) -> i32 {
        match self {
            Error::AddressInUse(_) => libc::EADDRINUSE,
            Error::Io(e) => crate::monitor::errno_of(e),
            // An unknown interface or host (libzmq: ENODEV).
            Error::Endpoint(..) => libc::ENODEV,
            _ => libc::EINVAL,
        }
    }
}

/// `Result` with [`Error`].
///
/// ```
/// fn open() -> monocoque::Result<monocoque::Socket> {
///     monocoque::Socket::new(monocoque::SocketType::Pair)
/// }
/// # open().unwrap();
/// ```
pub type Result<T, E = Error> = std::result::Result<T, E>;

impl From<Error> for io::Error {
    fn from(e: Error) -> Self {
        let kind = match &e {
            Error::WouldBlock => io::ErrorKind::WouldBlock,
            Error::State
            | Error::Invalid(_)
            | Error::Endpoint(..)
            | Error::Option(_)
            | Error::Monitor(_) => io::ErrorKind::InvalidInput,
            Error::TooManySockets(_) => io::ErrorKind::Other,
            Error::NotSupported(_) => io::ErrorKind::Unsupported,
            Error::HostUnreachable => io::ErrorKind::HostUnreachable,
            Error::NotFound(_) => io::ErrorKind::NotFound,
            Error::Terminated => io::ErrorKind::BrokenPipe,
            Error::AddressInUse(_) => io::ErrorKind::AddrInUse,
            Error::Io(e) => return io::Error::new(e.kind(), e.to_string()),
        };
        io::Error::new(kind, e)
    }
}
