//! Socket options, typed: [`SocketOptions`] (and the context's,
//! [`ContextOptions`]); by libzmq's names in [`by_name`].

use std::fmt;
use std::ops::BitOr;
use std::time::Duration;

use bytes::Bytes;
use monocoque_zmtp::{CurvePublicKey, CurveSecretKey, SocketType};

pub(crate) mod by_name;
mod context;

pub use by_name::OptionError;
pub use context::ContextOptions;

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

/// When a connecter stops reconnecting (`ZMQ_RECONNECT_STOP`): a set of
/// libzmq's `ZMQ_RECONNECT_STOP_*` conditions, combined with `|`.
///
/// A connecter that stops is done: its endpoint stays recorded (so
/// `disconnect` still finds it) and the monitor sees
/// [`Closed`](crate::MonitorEvent::Closed).
///
/// ```
/// use monocoque::ReconnectStop;
/// let stop = ReconnectStop::CONN_REFUSED | ReconnectStop::HANDSHAKE_FAILED;
/// assert!(stop.contains(ReconnectStop::CONN_REFUSED));
/// assert_eq!(stop.bits(), 3);
/// assert_eq!(ReconnectStop::from_bits(8), None);
/// ```
#[derive(Clone, Copy, Default, PartialEq, Eq, Hash)]
pub struct ReconnectStop(u32);

impl ReconnectStop {
    /// Reconnect for ever (the default, 0).
    pub const NEVER: ReconnectStop = ReconnectStop(0);
    /// Stop when a connect is refused (`ECONNREFUSED`: nobody listens), as
    /// `ZMQ_RECONNECT_STOP_CONN_REFUSED` (1).
    pub const CONN_REFUSED: ReconnectStop = ReconnectStop(1);
    /// Stop when a connection ends before its ZMTP handshake completed
    /// (the peer is not ZeroMQ, refused our credentials, or timed out), as
    /// `ZMQ_RECONNECT_STOP_HANDSHAKE_FAILED` (2). Not for STREAM sockets,
    /// which have no handshake.
    pub const HANDSHAKE_FAILED: ReconnectStop = ReconnectStop(2);
    /// `ZMQ_RECONNECT_STOP_AFTER_DISCONNECT` (4, libzmq 4.3.5's value;
    /// 4.3.4's header said 3): stop reconnecting once `disconnect` was
    /// called. Here `disconnect` always ends its connecter at once, so the
    /// flag is accepted, kept and read back, and changes nothing.
    pub const AFTER_DISCONNECT: ReconnectStop = ReconnectStop(4);

    const ALL: u32 = 7;

    /// The conditions as libzmq's bits.
    pub fn bits(self) -> u32 {
        self.0
    }

    /// The conditions from libzmq's bits; `None` if a bit has no meaning.
    pub fn from_bits(bits: u32) -> Option<ReconnectStop> {
        (bits & !Self::ALL == 0).then_some(ReconnectStop(bits))
    }

    /// Whether every condition of `other` is in `self`.
    pub fn contains(self, other: ReconnectStop) -> bool {
        self.0 & other.0 == other.0
    }
}

impl BitOr for ReconnectStop {
    type Output = ReconnectStop;

    fn bitor(self, rhs: ReconnectStop) -> ReconnectStop {
        ReconnectStop(self.0 | rhs.0)
    }
}

impl fmt::Debug for ReconnectStop {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        let names = [
            (Self::CONN_REFUSED, "CONN_REFUSED"),
            (Self::HANDSHAKE_FAILED, "HANDSHAKE_FAILED"),
            (Self::AFTER_DISCONNECT, "AFTER_DISCONNECT"),
        ];
        let set: Vec<_> = names
            .iter()
            .filter(|(flag, _)| self.contains(*flag))
            .map(|(_, name)| *name)
            .collect();
        if set.is_empty() {
            f.write_str("ReconnectStop(NEVER)")
        } else {
            write!(f, "ReconnectStop({})", set.join(" | "))
        }
    }
}

/// Which peer events a ROUTER tells its application (`ZMQ_ROUTER_NOTIFY`):
/// a set of libzmq's `ZMQ_NOTIFY_*` flags, combined with `|`. Each event
/// arrives as a message of two frames, the peer's routing id and an empty
/// frame.
///
/// ```
/// use monocoque::RouterNotify;
/// let both = RouterNotify::CONNECT | RouterNotify::DISCONNECT;
/// assert!(both.contains(RouterNotify::DISCONNECT));
/// assert_eq!(both.bits(), 3);
/// assert_eq!(RouterNotify::from_bits(4), None);
/// ```
#[derive(Clone, Copy, Default, PartialEq, Eq, Hash)]
pub struct RouterNotify(u8);

impl RouterNotify {
    /// No notifications (the default, 0).
    pub const NONE: RouterNotify = RouterNotify(0);
    /// A peer connected: its handshake completed (`ZMQ_NOTIFY_CONNECT`, 1).
    pub const CONNECT: RouterNotify = RouterNotify(1);
    /// A peer's connection ended (`ZMQ_NOTIFY_DISCONNECT`, 2).
    pub const DISCONNECT: RouterNotify = RouterNotify(2);

    const ALL: u8 = 3;

    /// The flags as libzmq's bits.
    pub fn bits(self) -> u8 {
        self.0
    }

    /// The flags from libzmq's bits; `None` if a bit has no meaning.
    pub fn from_bits(bits: u8) -> Option<RouterNotify> {
        (bits & !Self::ALL == 0).then_some(RouterNotify(bits))
    }

    /// Whether every flag of `other` is in `self`.
    pub fn contains(self, other: RouterNotify) -> bool {
        self.0 & other.0 == other.0
    }
}

impl BitOr for RouterNotify {
    type Output = RouterNotify;

    fn bitor(self, rhs: RouterNotify) -> RouterNotify {
        RouterNotify(self.0 | rhs.0)
    }
}

impl fmt::Debug for RouterNotify {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match (
            self.contains(Self::CONNECT),
            self.contains(Self::DISCONNECT),
        ) {
            (false, false) => f.write_str("RouterNotify(NONE)"),
            (true, false) => f.write_str("RouterNotify(CONNECT)"),
            (false, true) => f.write_str("RouterNotify(DISCONNECT)"),
            (true, true) => f.write_str("RouterNotify(CONNECT | DISCONNECT)"),
        }
    }
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
    /// Turn TCP keepalives on or off (`ZMQ_TCP_KEEPALIVE`: `None`, libzmq's
    /// -1 and the default, leaves the system's setting).
    pub tcp_keepalive: Option<bool>,
    /// Unanswered keepalive probes before a connection is dropped
    /// (`ZMQ_TCP_KEEPALIVE_CNT`, `TCP_KEEPCNT`, 1 to 127; `None`: the
    /// system's). Applied when `tcp_keepalive` is set, as in libzmq.
    pub tcp_keepalive_cnt: Option<u32>,
    /// Idle time before the first keepalive probe, in whole seconds
    /// (`ZMQ_TCP_KEEPALIVE_IDLE`, `TCP_KEEPIDLE`, 1 to 32767 s; `None`: the
    /// system's).
    pub tcp_keepalive_idle: Option<Duration>,
    /// Time between keepalive probes, in whole seconds
    /// (`ZMQ_TCP_KEEPALIVE_INTVL`, `TCP_KEEPINTVL`, 1 to 32767 s; `None`:
    /// the system's).
    pub tcp_keepalive_intvl: Option<Duration>,
    /// The kernel's send buffer size in bytes (`ZMQ_SNDBUF`, `SO_SNDBUF`;
    /// `None`, libzmq's -1 and the default, leaves tcp the system's, which
    /// grows with the traffic, and gives ipc 1 MiB, where the system's
    /// stays at `net.core.wmem_default`). Set before connecting or
    /// listening over tcp, so accepted connections inherit it; on each
    /// ipc connection once made. libzmq applies it to tcp only.
    pub sndbuf: Option<usize>,
    /// The kernel's receive buffer size in bytes (`ZMQ_RCVBUF`,
    /// `SO_RCVBUF`; `None`: the system's), over tcp and ipc.
    pub rcvbuf: Option<usize>,
    /// Connections a tcp or ipc listener queues before they are accepted
    /// (`ZMQ_BACKLOG`, default 100; the kernel caps it at `somaxconn`).
    pub backlog: u32,
    /// How long one tcp connect attempt may take before it is abandoned
    /// and retried after `reconnect_ivl` (`ZMQ_CONNECT_TIMEOUT`; `None`,
    /// libzmq's 0 and the default: the system's timeout).
    pub connect_timeout: Option<Duration>,
    /// How long sent data may stay unacknowledged before the connection is
    /// dropped (`ZMQ_TCP_MAXRT`, Linux's `TCP_USER_TIMEOUT`, whole
    /// milliseconds; `None`, libzmq's 0 and the default: the system's).
    pub tcp_maxrt: Option<Duration>,
    /// The IP type-of-service byte (DSCP and ECN) of tcp connections
    /// (`ZMQ_TOS`, `IP_TOS`, and `IPV6_TCLASS` over IPv6; 0, the default,
    /// leaves the system's).
    pub tos: u8,
    /// Bind tcp sockets to this network device, as `SO_BINDTODEVICE`
    /// (`ZMQ_BINDTODEVICE`, up to 15 bytes; `None`: any device). Linux
    /// before 5.7 requires `CAP_NET_RAW` for it.
    pub bindtodevice: Option<String>,
    /// Use IPv6 as well as IPv4 (`ZMQ_IPV6`, default off): `tcp://*:port`
    /// then binds every IPv6 and IPv4 address, interface names resolve to
    /// their IPv6 address first, and host names to either. Without it, IPv6
    /// literals (`tcp://[::1]:5555`) still work here, where libzmq refuses
    /// them.
    pub ipv6: bool,
    /// When a connecter gives up reconnecting (`ZMQ_RECONNECT_STOP`).
    pub reconnect_stop: ReconnectStop,
    /// Which of the context's I/O threads run the connections of later
    /// binds and connects (`ZMQ_AFFINITY`): bit 0 is the first thread; 0,
    /// the default, or a mask naming no thread the context has, spreads
    /// them over all.
    pub affinity: u64,
    /// Keep only the newest message (`ZMQ_CONFLATE`, default off): a
    /// PULL, SUB or DEALER holds at most one received message, the last
    /// one, and a PUSH, DEALER or PUB at most one unsent message per peer,
    /// the last one sent, which replaces the one still waiting; RCVHWM and
    /// SNDHWM are then ignored and sends never wait for room. Other socket
    /// types ignore it, as libzmq's do. Messages must be single-frame: a
    /// multipart send is refused (libzmq keeps only one of its parts). The
    /// receive side is fixed by the first bind or connect, as RCVHWM is.
    pub conflate: bool,
    /// ROUTER, DEALER, REQ: send an empty message to each peer as its
    /// connection completes, so a ROUTER on the other side learns the new
    /// peer's routing id at once (`ZMQ_PROBE_ROUTER`).
    pub probe_router: bool,
    /// ROUTER: receive `[routing id, ""]` when a peer connects and/or
    /// disconnects (`ZMQ_ROUTER_NOTIFY`, a libzmq draft option).
    pub router_notify: RouterNotify,
    /// ROUTER, STREAM: the routing id of the peer of the next `connect`
    /// (`ZMQ_CONNECT_ROUTING_ID`, 1 to 255 bytes). That peer is routable
    /// under it at once (messages for it queue until it connects) and
    /// keeps it across reconnections; the next `connect` takes the value,
    /// so this reads unset again afterwards.
    pub connect_routing_id: Option<Bytes>,
    /// PUB, XPUB: when a matching subscriber's queue is full (SNDHWM), a
    /// send waits (or fails with `WouldBlock`) instead of dropping the
    /// message for that subscriber (`ZMQ_XPUB_NODROP`). The message goes to
    /// every matching subscriber or to none.
    pub xpub_nodrop: bool,
    /// XPUB: subscriptions are passed up, every one of them, duplicates
    /// included, and not applied: the application applies one by calling
    /// [`Socket::subscribe`](crate::Socket::subscribe) (or `unsubscribe`)
    /// on the XPUB after receiving it; it then applies to the peer whose
    /// subscription was received last (`ZMQ_XPUB_MANUAL`).
    pub xpub_manual: bool,
    /// XPUB: manual subscriptions as [`xpub_manual`](Self::xpub_manual)
    /// (which it implies), and the first message sent after a subscription
    /// was received goes to that subscriber alone, if it matches: a
    /// last-value cache answers a new subscriber without repeating the
    /// value to the others (`ZMQ_XPUB_MANUAL_LAST_VALUE`, a libzmq draft
    /// option).
    pub xpub_manual_last_value: bool,
    /// XPUB: pass every subscription and every cancel up, duplicates
    /// included (`ZMQ_XPUB_VERBOSER`; implies `xpub_verbose`).
    pub xpub_verboser: bool,
    /// PUB, XPUB: send each message to the subscribers it does not match;
    /// SUB: receive the messages that match none of its subscriptions
    /// (`ZMQ_INVERT_MATCHING`). A SUB of an inverting PUB must invert too.
    pub invert_matching: bool,
    /// XPUB, XSUB: only the first frame of a multipart message can be a
    /// subscription (`0x01` or `0x00`, then the prefix); the frames after it
    /// travel as data (`ZMQ_ONLY_FIRST_SUBSCRIBE`, a libzmq draft option).
    pub only_first_subscribe: bool,
    /// STREAM: receive `[routing id, ""]` when a connection opens and when
    /// it closes (`ZMQ_STREAM_NOTIFY`, default on).
    pub stream_notify: bool,
    /// ROUTER, DEALER: a message sent to each peer as its connection
    /// completes, before the probe of `probe_router` (`ZMQ_HELLO_MSG`, a
    /// libzmq draft option).
    pub hello_msg: Option<Bytes>,
    /// ROUTER: a message received, after the peer's routing id, when a
    /// peer's connection ends (`ZMQ_DISCONNECT_MSG`, a libzmq draft
    /// option).
    pub disconnect_msg: Option<Bytes>,
    /// PUB, XPUB: the most one peer's subscriptions may cost, in bytes,
    /// counted as each prefix's length plus 256 bytes (about what a
    /// subscription takes in memory); a subscription past it ends the
    /// peer's connection with `TooManySubscriptions`. Default 64 MiB,
    /// about 250,000 short prefixes; `None`: no limit, as libzmq (which
    /// has no such option). See docs/BOUNDS.md row 22.
    pub subscription_budget: Option<u64>,
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
            tcp_keepalive: None,
            tcp_keepalive_cnt: None,
            tcp_keepalive_idle: None,
            tcp_keepalive_intvl: None,
            sndbuf: None,
            rcvbuf: None,
            backlog: 100,
            connect_timeout: None,
            tcp_maxrt: None,
            tos: 0,
            bindtodevice: None,
            ipv6: false,
            reconnect_stop: ReconnectStop::NEVER,
            affinity: 0,
            conflate: false,
            probe_router: false,
            router_notify: RouterNotify::NONE,
            connect_routing_id: None,
            xpub_nodrop: false,
            xpub_manual: false,
            xpub_manual_last_value: false,
            xpub_verboser: false,
            invert_matching: false,
            only_first_subscribe: false,
            stream_notify: true,
            hello_msg: None,
            disconnect_msg: None,
            subscription_budget: Some(64 << 20),
            #[cfg(test)]
            test_sealed: false,
        }
    }
}

impl SocketOptions {
    /// libzmq's defaults for a socket of type `ty`, which a new socket
    /// starts with: [`Default`]'s, except that SUB and XSUB do not linger
    /// (`linger` 0, as libzmq's `xsub_t` sets it: what they queue is only
    /// subscriptions).
    ///
    /// ```
    /// use std::time::Duration;
    /// use monocoque::{Socket, SocketOptions, SocketType};
    /// assert_eq!(SocketOptions::for_type(SocketType::Sub).linger, Some(Duration::ZERO));
    /// assert_eq!(SocketOptions::for_type(SocketType::Push).linger, None);
    /// assert_eq!(Socket::new(SocketType::Xsub).unwrap().option("linger").unwrap(), "0");
    /// ```
    pub fn for_type(ty: SocketType) -> SocketOptions {
        let mut o = SocketOptions::default();
        if matches!(ty, SocketType::Sub | SocketType::Xsub) {
            o.linger = Some(Duration::ZERO);
        }
        o
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

/// The kernel's limits for keepalive settings (`MAX_TCP_KEEPCNT`,
/// `MAX_TCP_KEEPIDLE`, `MAX_TCP_KEEPINTVL`).
const MAX_KEEPALIVE_CNT: u32 = 127;
const MAX_KEEPALIVE_SECS: u64 = 32767;
/// The longest device name `SO_BINDTODEVICE` takes (`IFNAMSIZ` less the NUL).
const MAX_DEVICE_NAME: usize = 15;

impl SocketOptions {
    /// Checks every value as libzmq's `zmq_setsockopt` would (and the few
    /// the kernel would refuse later, such as a keepalive count of 0), and
    /// names the first one that is wrong.
    ///
    /// [`Socket::try_update_options`](crate::Socket::try_update_options) and
    /// [`Socket::set_option`](crate::Socket::set_option) call it before they
    /// change anything; [`Socket::set_options`](crate::Socket::set_options)
    /// takes what it is given.
    ///
    /// ```
    /// use bytes::Bytes;
    /// use monocoque::{OptionError, SocketOptions};
    /// let mut o = SocketOptions::default();
    /// assert!(o.validate().is_ok());
    /// o.routing_id = Some(Bytes::new()); // libzmq takes 1 to 255 bytes
    /// assert!(matches!(o.validate(), Err(OptionError::InvalidValue { name: "routing_id", .. })));
    /// ```
    pub fn validate(&self) -> Result<(), OptionError> {
        let bad = |name: &'static str, value: String, why: &'static str| {
            Err(OptionError::InvalidValue { name, value, why })
        };
        if let Some(id) = &self.routing_id {
            if id.is_empty() || id.len() > 255 {
                return bad(
                    "routing_id",
                    format!("{} bytes", id.len()),
                    "takes 1 to 255 bytes",
                );
            }
        }
        if let Some(cnt) = self.tcp_keepalive_cnt {
            if cnt == 0 || cnt > MAX_KEEPALIVE_CNT {
                return bad("tcp_keepalive_cnt", cnt.to_string(), "takes -1 or 1 to 127");
            }
        }
        for (name, d) in [
            ("tcp_keepalive_idle", self.tcp_keepalive_idle),
            ("tcp_keepalive_intvl", self.tcp_keepalive_intvl),
        ] {
            if let Some(d) = d {
                if d.as_secs() == 0 || d.as_secs() > MAX_KEEPALIVE_SECS {
                    return bad(name, format!("{d:?}"), "takes -1 or 1 to 32767 seconds");
                }
            }
        }
        for (name, size) in [("sndbuf", self.sndbuf), ("rcvbuf", self.rcvbuf)] {
            if size.is_some_and(|s| i32::try_from(s).is_err()) {
                return bad(name, format!("{size:?}"), "takes -1 to 2147483647 bytes");
            }
        }
        if i32::try_from(self.backlog).is_err() {
            return bad("backlog", self.backlog.to_string(), "takes 0 to 2147483647");
        }
        if let Some(d) = self.tcp_maxrt {
            if i32::try_from(d.as_millis()).is_err() {
                return bad("tcp_maxrt", format!("{d:?}"), "takes 0 to 2147483647 ms");
            }
        }
        if let Some(dev) = &self.bindtodevice {
            if dev.len() > MAX_DEVICE_NAME || dev.contains('\0') {
                return bad(
                    "bindtodevice",
                    dev.clone(),
                    "takes a device name of up to 15 bytes",
                );
            }
        }
        if let Some(id) = &self.connect_routing_id {
            if id.is_empty() || id.len() > 255 {
                return bad(
                    "connect_routing_id",
                    format!("{} bytes", id.len()),
                    "takes 1 to 255 bytes",
                );
            }
        }
        if let Some(ttl) = self.heartbeat_ttl {
            if ttl.as_millis() / 100 > u128::from(u16::MAX) {
                return bad("heartbeat_ttl", format!("{ttl:?}"), "takes 0 to 6553599 ms");
            }
        }
        if let Some(domain) = &self.zap_domain {
            if domain.len() > 255 {
                return bad(
                    "zap_domain",
                    format!("{} bytes", domain.len()),
                    "takes up to 255 bytes",
                );
            }
        }
        if let Security::PlainClient { username, password } = &self.security {
            for (name, v) in [("plain_username", username), ("plain_password", password)] {
                if v.len() > 255 {
                    return bad(name, format!("{} bytes", v.len()), "takes up to 255 bytes");
                }
            }
        }
        for (name, _) in &self.metadata {
            if !name.starts_with("X-") || name.len() < 3 || name.len() > 255 {
                return bad(
                    "metadata",
                    name.clone(),
                    "takes property names of X- and up to 253 more bytes",
                );
            }
        }
        Ok(())
    }

    /// Whether XPUB subscriptions wait for the application
    /// (`xpub_manual` or `xpub_manual_last_value`).
    pub(crate) fn manual(&self) -> bool {
        self.xpub_manual || self.xpub_manual_last_value
    }

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
