//! Socket options, typed: [`SocketOptions`].

use std::time::Duration;

use bytes::Bytes;
use monocoque_zmtp::{CurvePublicKey, CurveSecretKey};

/// How a socket's connections are secured: one choice, so two mechanisms
/// cannot be set at once (libzmq's `ZMQ_PLAIN_*` and `ZMQ_CURVE_*`).
///
/// ```
/// use monocoque::{curve_keypair, Security, Socket, SocketType};
/// // PLAIN (RFC 24): credentials in clear, for trusted networks.
/// let client = Socket::new(SocketType::Req).unwrap();
/// client.update_options(|o| {
///     o.security = Security::PlainClient { username: "admin".into(), password: "secret".into() }
/// });
/// // CURVE (RFC 25, 26): encrypted and authenticated.
/// let (server_public, server_secret) = curve_keypair();
/// let server = Socket::new(SocketType::Rep).unwrap();
/// server.update_options(|o| o.security = Security::CurveServer { secret: server_secret });
/// let (public, secret) = curve_keypair();
/// let client = Socket::new(SocketType::Req).unwrap();
/// client.update_options(|o| {
///     o.security = Security::CurveClient { server: server_public, public, secret }
/// });
/// ```
#[derive(Clone, Debug, Default, PartialEq, Eq)]
#[non_exhaustive]
pub enum Security {
    /// No security: the NULL mechanism (the default). With a ZAP domain,
    /// peers are still checked by the ZAP handler.
    #[default]
    Null,
    /// PLAIN client with these credentials (`ZMQ_PLAIN_USERNAME`,
    /// `ZMQ_PLAIN_PASSWORD`).
    PlainClient {
        /// The user name sent in HELLO.
        username: Bytes,
        /// The password sent in HELLO.
        password: Bytes,
    },
    /// PLAIN server (`ZMQ_PLAIN_SERVER`). A ZAP handler, when one is bound,
    /// decides; without one, `credentials` names the one user admitted,
    /// and `None` admits every user (libzmq's behaviour).
    PlainServer {
        /// The one user admitted when no ZAP handler runs, if any.
        credentials: Option<(Bytes, Bytes)>,
    },
    /// CURVE client (`ZMQ_CURVE_SERVERKEY`, `_PUBLICKEY`, `_SECRETKEY`):
    /// talks only to the server holding `server`'s secret, and proves it
    /// holds `secret`.
    CurveClient {
        /// The server's long-term public key.
        server: CurvePublicKey,
        /// This client's long-term public key (`secret`'s).
        public: CurvePublicKey,
        /// This client's long-term secret key.
        secret: CurveSecretKey,
    },
    /// CURVE server (`ZMQ_CURVE_SERVER` with `ZMQ_CURVE_SECRETKEY`). A ZAP
    /// handler, when one is bound, decides which client keys are admitted
    /// (see [`Authenticator`](crate::Authenticator)); without one, every
    /// key is (libzmq's behaviour).
    CurveServer {
        /// This server's long-term secret key.
        secret: CurveSecretKey,
    },
}

/// Every option of a socket, with libzmq's defaults.
///
/// Options take effect for connections made after they are set, as in
/// libzmq (HWMs and the identity are read when a peer attaches).
///
/// ```
/// use std::time::Duration;
/// use monocoque::{Context, SocketOptions, SocketType};
/// let ctx = Context::new();
/// let mut sock = ctx.socket(SocketType::Push).unwrap();
/// sock.set_options(SocketOptions {
///     sndhwm: 10,
///     linger: Some(Duration::ZERO),
///     ..SocketOptions::default()
/// });
/// assert_eq!(sock.options().sndhwm, 10);
/// ```
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct SocketOptions {
    /// Messages queued per peer for sending before the HWM action (drop or
    /// block) applies (`ZMQ_SNDHWM`, default 1000; 0 means no limit: the
    /// queue then grows as messages arrive).
    pub sndhwm: usize,
    /// Messages queued for receiving before peers are pushed back
    /// (`ZMQ_RCVHWM`, default 1000; 0 means no limit).
    pub rcvhwm: usize,
    /// How long closing the socket waits to flush queued messages
    /// (`ZMQ_LINGER`; `None` waits for ever, the libzmq default).
    pub linger: Option<Duration>,
    /// How long `recv` blocks (`ZMQ_RCVTIMEO`; `None`: for ever).
    pub rcvtimeo: Option<Duration>,
    /// How long `send` blocks (`ZMQ_SNDTIMEO`; `None`: for ever).
    pub sndtimeo: Option<Duration>,
    /// The first reconnect delay (`ZMQ_RECONNECT_IVL`, default 100 ms).
    pub reconnect_ivl: Duration,
    /// The cap of the exponential reconnect backoff (`ZMQ_RECONNECT_IVL_MAX`;
    /// zero, the default, keeps the delay at `reconnect_ivl`).
    pub reconnect_ivl_max: Duration,
    /// Queue messages only for completed connections (`ZMQ_IMMEDIATE`).
    pub immediate: bool,
    /// The largest inbound message accepted, in bytes; a peer sending more is
    /// disconnected (`ZMQ_MAXMSGSIZE`; `None`: no limit).
    pub maxmsgsize: Option<u64>,
    /// The routing id announced to peers (`ZMQ_ROUTING_ID`).
    pub routing_id: Option<Bytes>,
    /// ROUTER: fail with `HostUnreachable` instead of dropping a message for
    /// an unknown routing id, and block/`WouldBlock` on a full peer
    /// (`ZMQ_ROUTER_MANDATORY`).
    pub router_mandatory: bool,
    /// ROUTER: a new connection with a taken routing id takes it over
    /// (`ZMQ_ROUTER_HANDOVER`).
    pub router_handover: bool,
    /// XPUB: pass every subscription up, duplicates included
    /// (`ZMQ_XPUB_VERBOSE`).
    pub xpub_verbose: bool,
    /// XPUB: a message sent to each new subscriber (`ZMQ_XPUB_WELCOME_MSG`).
    pub xpub_welcome_msg: Option<Bytes>,
    /// REQ: allow sending a new request before the reply came
    /// (`ZMQ_REQ_RELAXED`).
    pub req_relaxed: bool,
    /// REQ: tag requests with an id and drop replies that do not match it
    /// (`ZMQ_REQ_CORRELATE`).
    pub req_correlate: bool,
    /// How long a handshake may take (`ZMQ_HANDSHAKE_IVL`, default 30 s).
    pub handshake_ivl: Option<Duration>,
    /// Send a PING this often (`ZMQ_HEARTBEAT_IVL`; `None`: no heartbeats).
    pub heartbeat_ivl: Option<Duration>,
    /// The TTL announced in our PINGs (`ZMQ_HEARTBEAT_TTL`).
    pub heartbeat_ttl: Option<Duration>,
    /// Close a connection silent this long after a PING
    /// (`ZMQ_HEARTBEAT_TIMEOUT`; default: the heartbeat interval).
    pub heartbeat_timeout: Option<Duration>,
    /// How connections are secured (NULL unless set).
    pub security: Security,
    /// The ZAP domain (`ZMQ_ZAP_DOMAIN`): sent to the ZAP handler with each
    /// request. With NULL, a non-empty domain makes the socket ask the
    /// handler about every peer (PLAIN and CURVE servers always ask).
    pub zap_domain: Option<Bytes>,
    /// Refuse peers when a ZAP request finds no handler bound at
    /// `inproc://zeromq.zap.01` (`ZMQ_ZAP_ENFORCE_DOMAIN`); without it such
    /// peers get libzmq's defaults (NULL and CURVE admit, PLAIN admits any
    /// user, or the one `Security::PlainServer` names).
    pub zap_enforce_domain: bool,
    /// Properties announced in this socket's handshakes (`ZMQ_METADATA`);
    /// the peer's received messages carry them (see
    /// [`Message::property`](crate::Message::property)). Names as libzmq
    /// wants them, `X-` then the name; `Socket-Type` and `Identity` are the
    /// socket's own and cannot be set here.
    pub metadata: Vec<(String, Bytes)>,
    /// Unit tests only: the zmtp crate's test mechanism, which transforms
    /// every frame (it is not security).
    #[cfg(test)]
    pub(crate) test_sealed: bool,
}

impl Default for SocketOptions {
    fn default() -> Self {
        Self {
            sndhwm: 1000,
            rcvhwm: 1000,
            linger: None,
            rcvtimeo: None,
            sndtimeo: None,
            reconnect_ivl: Duration::from_millis(100),
            reconnect_ivl_max: Duration::ZERO,
            immediate: false,
            maxmsgsize: None,
            routing_id: None,
            router_mandatory: false,
            router_handover: false,
            xpub_verbose: false,
            xpub_welcome_msg: None,
            req_relaxed: false,
            req_correlate: false,
            handshake_ivl: Some(Duration::from_secs(30)),
            heartbeat_ivl: None,
            heartbeat_ttl: None,
            heartbeat_timeout: None,
            security: Security::Null,
            zap_domain: None,
            zap_enforce_domain: false,
            metadata: Vec::new(),
            #[cfg(test)]
            test_sealed: false,
        }
    }
}

/// The capacity a HWM of 0 ("no limit") stands for: such a queue is made
/// unbounded, growing block by block as messages arrive, instead of
/// reserving a ring this large up front.
pub(crate) const UNLIMITED_HWM: usize = usize::MAX;

/// A queue of `capacity` (a ring made at once), or an unbounded one when
/// the HWM is 0.
pub(crate) fn hwm_queue<T>(capacity: usize) -> concurrent_queue::ConcurrentQueue<T> {
    if capacity == UNLIMITED_HWM {
        concurrent_queue::ConcurrentQueue::unbounded()
    } else {
        concurrent_queue::ConcurrentQueue::bounded(capacity.max(1))
    }
}

impl SocketOptions {
    /// The send queue capacity per peer.
    pub(crate) fn send_capacity(&self) -> usize {
        hwm_capacity(self.sndhwm)
    }

    /// The receive queue capacity.
    pub(crate) fn recv_capacity(&self) -> usize {
        hwm_capacity(self.rcvhwm)
    }
}

fn hwm_capacity(hwm: usize) -> usize {
    if hwm == 0 {
        UNLIMITED_HWM
    } else {
        hwm
    }
}
