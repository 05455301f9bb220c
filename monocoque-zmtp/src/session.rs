//! One ZMTP connection as a deterministic state machine.
//!
//! ```text
//!            handle_input(Bytes)          poll_event() -> Event
//!   engine ----------------------> Session ------------------------> socket layer
//!            handle_timeout(now)     |  ^     send_message / send_frame /
//!   engine <-- poll_transmit(out) ---+  +---- send_subscribe / zap_reply
//!              poll_timeout()
//! ```
//!
//! Phases: greeting (64 bytes, incremental) -> mechanism handshake (commands
//! only) -> data (message frames and SUBSCRIBE / CANCEL / PING / PONG). Any
//! error ends the session: flush `poll_transmit` once (it may hold an ERROR
//! command for the peer), then close the connection.
//!
//! Time is never read here: the engine passes `now` to
//! [`Session::new`] and [`Session::handle_timeout`], and asks
//! [`Session::poll_timeout`] when to call again. Received traffic is counted,
//! not timestamped, so [`Session::handle_input`] needs no clock: a heartbeat
//! deadline that finds traffic arrived since it was armed is cancelled (PING
//! timeout) or re-armed (peer TTL), so a silent peer is dropped between one
//! and two TTLs after its last byte.
//!
//! # Ordering of output
//!
//! Bytes the session generates (greeting, handshake commands, PONG, PING)
//! queue inside it. `poll_transmit` and every `send_*` method first move them
//! to `out`, so the wire order is always right; while a multipart message is
//! half sent (`send_frame` with `more`), generated commands are held back
//! until its last frame.
//!
//! # One framer
//!
//! In the data phase every frame the session emits, messages and commands
//! alike, is encoded in one place: as plain ZMTP, or through the mechanism's
//! `seal` when it protects traffic. Data-phase commands the session generates
//! (PING, PONG) wait as commands and are encoded only as they join `out`, so
//! a sealing mechanism's counter (CURVE's nonce) follows the wire order. No
//! one else frames: [`Session::plain_framer`] hands out a header writer only
//! when the mechanism leaves frames as they are.

use std::collections::VecDeque;
use std::time::{Duration, Instant};

use bytes::{Buf, Bytes, BytesMut};

use crate::command::{Command, Metadata, PROP_IDENTITY, PROP_SOCKET_TYPE};
use crate::error::ProtocolError;
use crate::frame::{write_header, Decoder, Encoder, Frame};
use crate::greeting::{Greeting, GreetingParser, MechanismName};
use crate::mechanism::{
    peer_error, peer_identity_raw, Cx, Established, Handshake, MechanismConfig,
};
use crate::socket_type::SocketType;
use crate::zap::{ZapReply, ZapRequest};

/// Room for events a session keeps once they are taken: past it, the
/// queue a burst of small frames grew is freed (a 256 KiB read of empty
/// frames decodes to 131,072 events, 6 MiB).
const EVENTS_KEPT: usize = 1024;

/// Heartbeat settings (`ZMQ_HEARTBEAT_IVL`, `_TTL`, `_TIMEOUT`). Only used
/// with ZMTP 3.1 peers: a 3.0 peer has no PING.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct HeartbeatConfig {
    /// Send a PING this often.
    pub interval: Duration,
    /// TTL announced in our PINGs: the peer may drop us after this long
    /// without traffic. Sent in tenths of a second, at most 6553.5 s.
    pub ttl: Option<Duration>,
    /// Drop the peer if nothing arrives this long after a PING (default: `interval`).
    pub timeout: Option<Duration>,
}

/// The largest handshake command accepted (READY, HELLO, WELCOME, INITIATE
/// with their metadata), or MAXMSGSIZE if smaller. libzmq has no such
/// limit (its mechanisms check sizes once a frame is whole); by format a
/// PLAIN HELLO is at most 517 bytes and CURVE's are 200, 168 and 257 plus
/// metadata, so 64 KiB leaves metadata room for about a thousand
/// properties.
pub const HANDSHAKE_MAX_COMMAND: u64 = 64 * 1024;

/// Everything a [`Session`] needs to know up front.
#[derive(Debug, Clone)]
#[non_exhaustive]
pub struct SessionConfig {
    /// Our socket type, sent as `Socket-Type` and checked against the peer's.
    pub socket_type: SocketType,
    /// Our routing identity (`ZMQ_ROUTING_ID`), at most 255 bytes; sent as
    /// `Identity` by REQ, DEALER and ROUTER.
    pub identity: Option<Bytes>,
    /// Security mechanism and role.
    pub mechanism: MechanismConfig,
    /// Largest accepted frame (`ZMQ_MAXMSGSIZE`), checked on the header.
    pub max_msg_size: Option<u64>,
    /// Extra READY properties (`ZMQ_METADATA`); must not use `Socket-Type` or `Identity`.
    pub metadata: Metadata,
    /// Heartbeats, if any.
    pub heartbeat: Option<HeartbeatConfig>,
    /// Fail if the handshake has not completed this long after `Session::new`.
    pub handshake_timeout: Option<Duration>,
    /// ZAP domain (`ZMQ_ZAP_DOMAIN`). PLAIN servers always ask ZAP; NULL asks
    /// only when this is set and non-empty.
    pub zap_domain: Option<Bytes>,
}

impl SessionConfig {
    /// A NULL-mechanism config for the given socket type with no limits set.
    pub fn new(socket_type: SocketType) -> SessionConfig {
        SessionConfig {
            socket_type,
            identity: None,
            mechanism: MechanismConfig::Null,
            max_msg_size: None,
            metadata: Metadata::new(),
            heartbeat: None,
            handshake_timeout: None,
            zap_domain: None,
        }
    }
}

/// What the handshake learned about the peer.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct PeerInfo {
    /// The peer's socket type.
    pub socket_type: SocketType,
    /// The peer's routing identity, if it sent a non-empty one.
    pub identity: Option<Bytes>,
    /// All properties of the peer's READY (or INITIATE).
    pub metadata: Metadata,
    /// Negotiated ZMTP minor version: 1 (3.1) or 0 (3.0).
    pub minor_version: u8,
    /// The mechanism used.
    pub mechanism: MechanismName,
    /// User id the ZAP handler assigned (server side), if any.
    pub user_id: Option<Bytes>,
    /// Metadata the ZAP handler attached (server side).
    pub zap_metadata: Metadata,
}

/// Something the socket layer must know about.
#[derive(Debug, Clone, PartialEq, Eq)]
#[non_exhaustive]
pub enum Event {
    /// The handshake finished; messages may flow.
    HandshakeComplete(Box<PeerInfo>),
    /// A message frame, as it was decoded; the socket layer assembles
    /// messages from them.
    Frame {
        /// Frame body, a zero-copy slice of the input.
        body: Bytes,
        /// More frames of this message follow.
        more: bool,
    },
    /// The peer subscribed (SUBSCRIBE command, or a message starting with 1
    /// received by PUB/XPUB).
    Subscribe(Bytes),
    /// The peer unsubscribed (CANCEL command, or a message starting with 0
    /// received by PUB/XPUB).
    Cancel(Bytes),
    /// The peer sent PING; the PONG is already queued.
    Ping {
        /// The TTL the peer announced, if not zero.
        ttl: Option<Duration>,
        /// Its context.
        context: Bytes,
    },
    /// The peer answered our PING.
    Pong {
        /// Context echoed.
        context: Bytes,
    },
    /// The peer sent ERROR; `handle_input` also returns
    /// [`ProtocolError::PeerError`] (or `AuthenticationFailed`).
    PeerError {
        /// The peer's reason.
        reason: Bytes,
    },
    /// A server-side mechanism needs a ZAP decision: call
    /// [`Session::zap_reply`]. Without a ZAP handler, answer
    /// [`ZapReply::accept`] (libzmq behaviour). Fill in `address` before
    /// passing it to a handler.
    ZapRequest(Box<ZapRequest>),
}

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Phase {
    Greeting,
    Handshake,
    Ready,
    Closed,
}

/// A frame-header writer for this connection's data phase that another
/// thread may use while the session is idle: nothing queued in
/// [`Session::poll_transmit`] and no multipart message half sent through
/// [`Session::send_frame`], so the frames it heads take their place in the
/// wire order.
///
/// Handed out only by [`Session::plain_framer`], and only by a session whose
/// mechanism leaves frames as they are (NULL, PLAIN): a mechanism that
/// protects traffic (CURVE) must see every frame, so no framer exists for it.
/// It is a capability, not a view: once handed out it stays valid for the
/// connection's life, so ask again after anything that may end the data
/// phase.
#[derive(Debug, Clone, Copy)]
pub struct PlainFramer {
    _only_from_a_session: (),
}

impl PlainFramer {
    /// Writes the header of a message frame of `len` bytes (MORE set when
    /// `more`) into `out`; returns its length (2 or 9). The body follows it
    /// on the wire untouched.
    pub fn header(&self, more: bool, len: usize, out: &mut [u8; 9]) -> usize {
        write_header(more, false, len, out)
    }
}

/// One ZMTP connection. See the module docs.
#[derive(Debug)]
pub struct Session {
    socket_type: SocketType,
    mechanism: MechanismConfig,
    props: Metadata,
    identity: Bytes,
    zap_domain: Bytes,
    phase: Phase,
    greeting: GreetingParser,
    mech: Box<dyn Handshake>,
    protects: bool,
    decoder: Decoder,
    /// MAXMSGSIZE, the decoder's limit once the handshake is done.
    data_max_size: Option<u64>,
    encoder: Encoder,
    events: VecDeque<Event>,
    /// Bytes ready for the wire: the greeting and handshake commands.
    tx: Vec<Bytes>,
    /// Data-phase commands generated here (PING, PONG), not yet encoded.
    cmds: VecDeque<Command>,
    tx_in_message: bool,
    rx_in_message: bool,
    minor: u8,
    zap_pending: bool,
    peer_type: Option<SocketType>,
    // Time.
    now: Instant,
    needs_tick: bool,
    handshake_deadline: Option<Instant>,
    heartbeat: Option<HeartbeatConfig>,
    next_ping: Option<Instant>,
    pong_deadline: Option<(Instant, u64)>,
    peer_ttl: Option<Duration>,
    ttl_watch: Option<TtlWatch>,
    rx_count: u64,
}

/// Watching the peer's TTL: when we last knew it spoke, and when to look
/// again. The session learns of traffic only when time is given to it,
/// so `heard` is the first look that found new input (never before the
/// input came: the peer is never declared dead early), and looks come
/// every eighth of the TTL, so it is declared dead at most that late.
#[derive(Debug, Clone, Copy)]
struct TtlWatch {
    heard: Instant,
    count: u64,
    next: Instant,
}

impl Session {
    /// Starts a session; our greeting is queued for `poll_transmit` at once.
    /// Errors only on invalid configuration.
    pub fn new(config: SessionConfig, now: Instant) -> Result<Session, ProtocolError> {
        config.mechanism.validate()?;
        let identity = config.identity.unwrap_or_default();
        if identity.len() > 255 {
            return Err(ProtocolError::InvalidConfig(
                "identity longer than 255 bytes",
            ));
        }
        let mut props = Metadata::new();
        props.insert(PROP_SOCKET_TYPE, config.socket_type.as_str())?;
        if config.socket_type.sends_identity() {
            props.insert(PROP_IDENTITY, identity.clone())?;
        }
        for (n, v) in config.metadata.iter() {
            let reserved = [
                PROP_SOCKET_TYPE,
                PROP_IDENTITY,
                crate::command::PROP_ROUTING_ID,
            ];
            if reserved
                .iter()
                .any(|r| n.eq_ignore_ascii_case(r.as_bytes()))
            {
                return Err(ProtocolError::InvalidConfig(
                    "user metadata may not set socket-type or identity",
                ));
            }
            props.insert(n.clone(), v.clone())?;
        }
        if let Some(hb) = &config.heartbeat {
            if hb.interval.is_zero() {
                return Err(ProtocolError::InvalidConfig("heartbeat interval is zero"));
            }
        }
        let zap_domain = config.zap_domain.unwrap_or_default();
        let mech = config.mechanism.build(!zap_domain.is_empty());
        let protects = mech.protects_traffic();
        let greeting = Greeting::ours(config.mechanism.name(), config.mechanism.as_server());
        Ok(Session {
            socket_type: config.socket_type,
            mechanism: config.mechanism,
            props,
            identity,
            zap_domain,
            phase: Phase::Greeting,
            greeting: GreetingParser::new(),
            mech,
            protects,
            // Before the peer is authenticated, no command may be larger
            // than HANDSHAKE_MAX_COMMAND: a lying header costs the
            // connection at once, not up to HANDSHAKE_IVL of buffering.
            decoder: Decoder::new(Some(
                config
                    .max_msg_size
                    .map_or(HANDSHAKE_MAX_COMMAND, |m| m.min(HANDSHAKE_MAX_COMMAND)),
            )),
            data_max_size: config.max_msg_size,
            encoder: Encoder::new(),
            events: VecDeque::new(),
            tx: vec![Bytes::copy_from_slice(&greeting.encode())],
            cmds: VecDeque::new(),
            tx_in_message: false,
            rx_in_message: false,
            minor: 0,
            zap_pending: false,
            peer_type: None,
            now,
            needs_tick: false,
            handshake_deadline: config.handshake_timeout.map(|t| now + t),
            heartbeat: config.heartbeat,
            next_ping: None,
            pong_deadline: None,
            peer_ttl: None,
            ttl_watch: None,
            rx_count: 0,
        })
    }

    /// True once the handshake completed (and no error happened since).
    pub fn is_ready(&self) -> bool {
        self.phase == Phase::Ready
    }

    /// True after an error; nothing more is accepted.
    pub fn is_closed(&self) -> bool {
        self.phase == Phase::Closed
    }

    /// Negotiated ZMTP minor version, once the peer's greeting arrived.
    pub fn minor_version(&self) -> Option<u8> {
        (self.phase != Phase::Greeting).then_some(self.minor)
    }

    /// The peer's socket type, once the handshake completed.
    pub fn peer_socket_type(&self) -> Option<SocketType> {
        self.peer_type
    }

    /// `Some` only in the data phase (handshake complete, not closed) and
    /// only when the mechanism does not transform frames
    /// (`protects_traffic()` false): a [`PlainFramer`] that heads message
    /// frames exactly as [`send_frame`](Self::send_frame) would.
    pub fn plain_framer(&self) -> Option<PlainFramer> {
        (self.phase == Phase::Ready && !self.protects).then_some(PlainFramer {
            _only_from_a_session: (),
        })
    }

    /// True while a ZAP request is waiting for [`zap_reply`](Self::zap_reply).
    pub fn awaiting_zap(&self) -> bool {
        self.zap_pending
    }

    /// Feeds bytes read from the connection (any split). Events become
    /// available from [`poll_event`](Self::poll_event), replies from
    /// [`poll_transmit`](Self::poll_transmit). An error ends the session.
    pub fn handle_input(&mut self, chunk: Bytes) -> Result<(), ProtocolError> {
        if self.phase == Phase::Closed {
            return Err(ProtocolError::Closed);
        }
        let r = self.input(chunk);
        self.close_on_error(r)
    }

    /// In the data phase, while a large frame body straddles reads: the
    /// body's buffer and how many bytes of the wire to read into its spare
    /// room, so the body is assembled without a copy (see
    /// [`Decoder::body_buf`]). Give it back with
    /// [`handle_body`](Self::handle_body) before any other input.
    pub fn body_buf(&mut self) -> Option<(Vec<u8>, usize)> {
        if self.phase != Phase::Ready {
            return None;
        }
        self.decoder.body_buf()
    }

    /// Takes back the buffer from [`body_buf`](Self::body_buf) with the
    /// bytes read into it appended; otherwise as
    /// [`handle_input`](Self::handle_input).
    pub fn handle_body(&mut self, buf: Vec<u8>) -> Result<(), ProtocolError> {
        if self.phase == Phase::Closed {
            return Err(ProtocolError::Closed);
        }
        self.rx_count = self.rx_count.wrapping_add(1);
        self.decoder.body_filled(buf);
        let r = self.decode_frames();
        self.close_on_error(r)
    }

    /// Any input error ends the session.
    fn close_on_error(&mut self, r: Result<(), ProtocolError>) -> Result<(), ProtocolError> {
        if r.is_err() {
            self.close();
        }
        r
    }

    fn decode_frames(&mut self) -> Result<(), ProtocolError> {
        while let Some(frame) = self.decoder.decode()? {
            self.on_frame(frame)?;
        }
        Ok(())
    }

    fn close(&mut self) {
        self.phase = Phase::Closed;
        self.zap_pending = false;
        self.tx_in_message = false;
    }

    fn input(&mut self, mut chunk: Bytes) -> Result<(), ProtocolError> {
        if chunk.is_empty() {
            return Ok(());
        }
        self.rx_count = self.rx_count.wrapping_add(1);
        if self.phase == Phase::Greeting {
            let n = self.greeting.feed(&chunk)?;
            chunk.advance(n);
            let Some(g) = self.greeting.greeting() else {
                return Ok(());
            };
            self.on_greeting(g)?;
        }
        self.decoder.push(chunk);
        self.decode_frames()
    }

    fn on_greeting(&mut self, g: Greeting) -> Result<(), ProtocolError> {
        let ours = self.mechanism.name();
        if g.mechanism != ours {
            return Err(ProtocolError::MechanismMismatch {
                ours: ours.as_str().to_owned(),
                theirs: g.mechanism.as_str().to_owned(),
            });
        }
        // libzmq 4.3 always sends as-server = 0, so only two servers are refused.
        if self.mechanism.needs_opposite_role() && g.as_server && self.mechanism.as_server() {
            return Err(ProtocolError::RoleMismatch {
                mechanism: if ours == MechanismName::PLAIN {
                    "PLAIN"
                } else {
                    "CURVE"
                },
                as_server: g.as_server,
            });
        }
        self.minor = g.negotiated_minor();
        self.phase = Phase::Handshake;
        self.drive(|m, cx| m.start(cx))
    }

    /// Runs one mechanism step and applies what it asked for.
    fn drive(
        &mut self,
        step: impl FnOnce(&mut dyn Handshake, &mut Cx<'_>) -> Result<(), ProtocolError>,
    ) -> Result<(), ProtocolError> {
        let mut cx = Cx {
            our_type: self.socket_type,
            our_props: &self.props,
            zap_domain: &self.zap_domain,
            identity: &self.identity,
            out: &mut self.tx,
            zap: None,
            done: None,
        };
        let r = step(self.mech.as_mut(), &mut cx);
        let (zap, done) = (cx.zap.take(), cx.done.take());
        r?;
        if let Some(req) = zap {
            self.zap_pending = true;
            self.events.push_back(Event::ZapRequest(Box::new(req)));
        }
        if let Some(est) = done {
            self.established(est)?;
        }
        Ok(())
    }

    fn established(&mut self, est: Established) -> Result<(), ProtocolError> {
        let st = est
            .peer
            .get(PROP_SOCKET_TYPE)
            .and_then(|v| SocketType::parse(v))
            .ok_or(ProtocolError::MissingSocketType)?;
        let identity = peer_identity_raw(&est.peer)
            .filter(|i| !i.is_empty())
            .cloned();
        self.peer_type = Some(st);
        self.phase = Phase::Ready;
        self.decoder.set_max_size(self.data_max_size);
        // The handshake's commands took their headers from a scratch page;
        // an idle connection need not keep it (a later long header or
        // command takes a new one).
        self.encoder.release_scratch();
        self.handshake_deadline = None;
        if self.heartbeat.is_some() && self.minor >= 1 {
            self.needs_tick = true;
        }
        self.events
            .push_back(Event::HandshakeComplete(Box::new(PeerInfo {
                socket_type: st,
                identity,
                metadata: est.peer,
                minor_version: self.minor,
                mechanism: self.mechanism.name(),
                user_id: est.user_id,
                zap_metadata: est.zap_metadata,
            })));
        Ok(())
    }

    fn on_frame(&mut self, frame: Frame) -> Result<(), ProtocolError> {
        match self.phase {
            Phase::Handshake => {
                if !frame.command {
                    return Err(ProtocolError::MessageBeforeReady);
                }
                let cmd = self.mech.parse_command(frame.body)?;
                if let Command::Error { reason } = &cmd {
                    self.events.push_back(Event::PeerError {
                        reason: reason.clone(),
                    });
                }
                if self.zap_pending {
                    // The peer must wait for our verdict; only NULL's READY may cross.
                    if !matches!(cmd, Command::Ready(_)) {
                        return Err(crate::mechanism::unexpected(&cmd, "while awaiting zap"));
                    }
                }
                self.drive(|m, cx| m.on_command(cmd, cx))
            }
            Phase::Ready => {
                let frame = if self.protects {
                    match self.mech.open(frame)? {
                        Some(f) => f,
                        None => return Ok(()),
                    }
                } else {
                    frame
                };
                if frame.command {
                    self.on_command(frame.body)
                } else {
                    self.on_message_frame(frame.body, frame.more);
                    Ok(())
                }
            }
            Phase::Greeting | Phase::Closed => Err(ProtocolError::Closed),
        }
    }

    fn on_message_frame(&mut self, body: Bytes, more: bool) {
        let first = !self.rx_in_message;
        self.rx_in_message = more;
        if first && !more && self.socket_type.is_publisher() {
            // Subscriptions as messages (ZMTP 3.0 peers, and XSUB-style senders).
            match body.first() {
                Some(1) => {
                    self.events.push_back(Event::Subscribe(body.slice(1..)));
                    return;
                }
                Some(0) => {
                    self.events.push_back(Event::Cancel(body.slice(1..)));
                    return;
                }
                _ => {}
            }
        }
        self.events.push_back(Event::Frame { body, more });
    }

    fn on_command(&mut self, body: Bytes) -> Result<(), ProtocolError> {
        match Command::parse(body)? {
            Command::Subscribe(t) => self.events.push_back(Event::Subscribe(t)),
            Command::Cancel(t) => self.events.push_back(Event::Cancel(t)),
            Command::Ping { ttl, context } => {
                self.cmds.push_back(Command::Pong {
                    context: context.clone(),
                });
                let ttl = (ttl > 0).then(|| Duration::from_millis(u64::from(ttl) * 100));
                if ttl.is_some() && ttl != self.peer_ttl {
                    self.peer_ttl = ttl;
                    self.ttl_watch = None;
                    self.needs_tick = true;
                }
                self.events.push_back(Event::Ping { ttl, context });
            }
            Command::Pong { context } => self.events.push_back(Event::Pong { context }),
            Command::Error { reason } => {
                let e = peer_error(&reason);
                self.events.push_back(Event::PeerError { reason });
                return Err(e);
            }
            cmd @ (Command::Ready(_)
            | Command::Initiate(_)
            | Command::Hello { .. }
            | Command::Welcome) => {
                return Err(ProtocolError::unexpected(cmd.name(), "after the handshake"));
            }
            // RFC 37: unknown commands are ignored.
            _ => {}
        }
        Ok(())
    }

    /// Next event, if any. Once the events of a read are all taken, a
    /// queue that one read's many small frames made large is let go, so a
    /// connection keeps no burst's worth of room (docs/BOUNDS.md row 4).
    pub fn poll_event(&mut self) -> Option<Event> {
        let ev = self.events.pop_front();
        if ev.is_none() && self.events.capacity() > EVENTS_KEPT {
            self.events = VecDeque::new();
        }
        ev
    }

    /// Appends the bytes the session wants written (greeting, handshake
    /// commands, PING, PONG, ERROR). Returns true if it appended anything.
    /// Held back while a multipart message is half sent. Should the
    /// mechanism fail to seal a command, the session closes.
    pub fn poll_transmit(&mut self, out: &mut Vec<Bytes>) -> bool {
        let before = out.len();
        if self.flush(out).is_err() {
            self.close();
        }
        out.len() > before
    }

    /// Moves what the session generated to `out`, unless a multipart
    /// message is half sent: the bytes ready for the wire, then the
    /// data-phase commands, encoded now.
    #[inline]
    fn flush(&mut self, out: &mut Vec<Bytes>) -> Result<(), ProtocolError> {
        // Once per frame sent: nothing to do, almost always.
        if self.tx_in_message || (self.tx.is_empty() && self.cmds.is_empty()) {
            return Ok(());
        }
        self.flush_queued(out)
    }

    /// [`flush`](Self::flush)'s work, when there is some (out of line: the
    /// per-frame path stays small).
    #[cold]
    #[inline(never)]
    fn flush_queued(&mut self, out: &mut Vec<Bytes>) -> Result<(), ProtocolError> {
        out.append(&mut self.tx);
        while let Some(cmd) = self.cmds.pop_front() {
            self.encode(true, &[], cmd.encode_body(), false, out)?;
        }
        Ok(())
    }

    /// Encodes one data-phase frame whose body is `prefix` then `body`:
    /// through the mechanism's `seal` when it protects traffic (prefix and
    /// body joined, a copy), else as plain ZMTP with `body` untouched. Only
    /// subscriptions carry a prefix, and they are single frames. Every
    /// data-phase frame the session emits passes here.
    #[inline]
    fn encode(
        &mut self,
        command: bool,
        prefix: &[u8],
        body: Bytes,
        more: bool,
        out: &mut Vec<Bytes>,
    ) -> Result<(), ProtocolError> {
        if self.protects {
            let body = if prefix.is_empty() {
                body
            } else {
                let mut b = BytesMut::with_capacity(prefix.len() + body.len());
                b.extend_from_slice(prefix);
                b.extend_from_slice(&body);
                b.freeze()
            };
            let frame = Frame {
                body,
                more,
                command,
            };
            return self.mech.seal(frame, &mut self.encoder, out);
        }
        if prefix.is_empty() {
            let frame = Frame {
                body,
                more,
                command,
            };
            self.encoder.encode(frame, out);
        } else {
            debug_assert!(!more, "a prefixed frame is a whole message");
            self.encoder.prefixed(command, prefix, body, out);
        }
        Ok(())
    }

    /// Answers the outstanding [`Event::ZapRequest`].
    pub fn zap_reply(&mut self, reply: ZapReply) -> Result<(), ProtocolError> {
        if !self.zap_pending || self.phase != Phase::Handshake {
            return Err(ProtocolError::UnexpectedZapReply);
        }
        self.zap_pending = false;
        let r = self.drive(|m, cx| m.on_zap_reply(reply, cx));
        match &r {
            // A reply to another request: still waiting for the right one.
            Err(ProtocolError::UnexpectedZapReply) => self.zap_pending = true,
            Err(_) => self.close(),
            Ok(()) => {}
        }
        r
    }

    #[inline]
    fn check_send(&mut self, out: &mut Vec<Bytes>) -> Result<(), ProtocolError> {
        match self.phase {
            Phase::Ready => self.flush(out),
            Phase::Closed => Err(ProtocolError::Closed),
            _ => Err(ProtocolError::NotReady),
        }
    }

    /// Encodes one message frame: its header (and the body, untouched) go to
    /// `out`. With `more`, the next frame belongs to the same message.
    pub fn send_frame(
        &mut self,
        body: Bytes,
        more: bool,
        out: &mut Vec<Bytes>,
    ) -> Result<(), ProtocolError> {
        self.check_send(out)?;
        self.encode(false, &[], body, more, out)?;
        self.tx_in_message = more;
        self.flush(out)
    }

    /// Encodes a whole message (at least one frame; an empty iterator sends
    /// nothing).
    pub fn send_message<I>(&mut self, parts: I, out: &mut Vec<Bytes>) -> Result<(), ProtocolError>
    where
        I: IntoIterator<Item = Bytes>,
    {
        let mut it = parts.into_iter().peekable();
        while let Some(part) = it.next() {
            let more = it.peek().is_some();
            self.send_frame(part, more, out)?;
        }
        Ok(())
    }

    /// Sends a subscription: a SUBSCRIBE command to a ZMTP 3.1 peer, a
    /// message `0x01 + topic` to a 3.0 peer. The topic is not copied.
    pub fn send_subscribe(
        &mut self,
        topic: Bytes,
        out: &mut Vec<Bytes>,
    ) -> Result<(), ProtocolError> {
        self.send_subscription(true, topic, out)
    }

    /// Cancels a subscription: CANCEL command (3.1) or message `0x00 + topic` (3.0).
    pub fn send_cancel(&mut self, topic: Bytes, out: &mut Vec<Bytes>) -> Result<(), ProtocolError> {
        self.send_subscription(false, topic, out)
    }

    fn send_subscription(
        &mut self,
        subscribe: bool,
        topic: Bytes,
        out: &mut Vec<Bytes>,
    ) -> Result<(), ProtocolError> {
        self.check_send(out)?;
        if self.tx_in_message {
            return Err(ProtocolError::MessageInProgress);
        }
        let (command, prefix): (bool, &[u8]) = match (self.minor >= 1, subscribe) {
            (true, true) => (true, b"\x09SUBSCRIBE"),
            (true, false) => (true, b"\x06CANCEL"),
            (false, true) => (false, b"\x01"),
            (false, false) => (false, b"\x00"),
        };
        self.encode(command, prefix, topic, false, out)
    }

    /// Advances time: fails the handshake or the heartbeat when a deadline
    /// passed, sends PINGs when due. Call it when
    /// [`poll_timeout`](Self::poll_timeout) says, or any time.
    pub fn handle_timeout(&mut self, now: Instant) -> Result<(), ProtocolError> {
        if self.phase == Phase::Closed {
            return Err(ProtocolError::Closed);
        }
        let r = self.timeout(now);
        if r.is_err() {
            self.close();
        }
        r
    }

    fn timeout(&mut self, now: Instant) -> Result<(), ProtocolError> {
        self.now = self.now.max(now);
        let now = self.now;
        self.needs_tick = false;
        if self.phase != Phase::Ready {
            if self.handshake_deadline.is_some_and(|d| now >= d) {
                return Err(ProtocolError::HandshakeTimeout);
            }
            return Ok(());
        }
        // Peer TTL: silence for a whole TTL since we last knew it spoke
        // fails; looked at every eighth of it.
        if let Some(ttl) = self.peer_ttl {
            let step = (ttl / 8).max(Duration::from_millis(10));
            let w = self.ttl_watch.get_or_insert(TtlWatch {
                heard: now,
                count: self.rx_count,
                next: now,
            });
            if w.count != self.rx_count {
                w.heard = now;
                w.count = self.rx_count;
            } else if now >= w.heard + ttl {
                return Err(ProtocolError::HeartbeatTimeout);
            }
            if now >= w.next {
                w.next = (now + step).min(w.heard + ttl);
            }
        }
        let Some(hb) = self.heartbeat.filter(|_| self.minor >= 1) else {
            return Ok(());
        };
        if let Some((d, seen)) = self.pong_deadline {
            if self.rx_count != seen {
                self.pong_deadline = None;
            } else if now >= d {
                return Err(ProtocolError::HeartbeatTimeout);
            }
        }
        match self.next_ping {
            None => self.next_ping = Some(now + hb.interval),
            Some(due) if now >= due => {
                let ttl = hb.ttl.map_or(0, |t| {
                    u16::try_from(t.as_millis() / 100).unwrap_or(u16::MAX)
                });
                // One PING waits at most: while the writer cannot flush
                // (a peer that stopped reading), a PING an interval would
                // otherwise queue behind the last until the PONG deadline.
                if !self.cmds.iter().any(|c| matches!(c, Command::Ping { .. })) {
                    self.cmds.push_back(Command::Ping {
                        ttl,
                        context: Bytes::new(),
                    });
                }
                self.next_ping = Some(now + hb.interval);
                if self.pong_deadline.is_none() {
                    let t = hb.timeout.unwrap_or(hb.interval);
                    self.pong_deadline = Some((now + t, self.rx_count));
                }
            }
            Some(_) => {}
        }
        Ok(())
    }

    /// When to call [`handle_timeout`](Self::handle_timeout) next; a time in
    /// the past means "now". `None`: no timer needed.
    pub fn poll_timeout(&self) -> Option<Instant> {
        if self.phase == Phase::Closed {
            return None;
        }
        if self.needs_tick {
            return Some(self.now);
        }
        if self.phase != Phase::Ready {
            return self.handshake_deadline;
        }
        [
            self.next_ping,
            self.pong_deadline.map(|d| d.0),
            self.ttl_watch.map(|w| w.next),
        ]
        .into_iter()
        .flatten()
        .min()
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn config(socket_type: SocketType, mechanism: MechanismConfig) -> SessionConfig {
        let mut c = SessionConfig::new(socket_type);
        c.mechanism = mechanism;
        c
    }

    fn plain_client() -> MechanismConfig {
        MechanismConfig::PlainClient {
            username: Bytes::from_static(b"user"),
            password: Bytes::from_static(b"pass"),
        }
    }

    /// Moves what `from` has to send to `to`; says yes to ZAP.
    fn shuttle(from: &mut Session, to: &mut Session) {
        let mut out = Vec::new();
        from.poll_transmit(&mut out);
        for chunk in out {
            to.handle_input(chunk).unwrap();
        }
        while let Some(ev) = to.poll_event() {
            if let Event::ZapRequest(req) = ev {
                to.zap_reply(ZapReply::accept(&req)).unwrap();
            }
        }
    }

    /// A DEALER and a ROUTER session with these mechanisms, handshake done.
    fn pair(a: MechanismConfig, b: MechanismConfig) -> (Session, Session) {
        let now = Instant::now();
        let mut a = Session::new(config(SocketType::Dealer, a), now).unwrap();
        let mut b = Session::new(config(SocketType::Router, b), now).unwrap();
        for _ in 0..4 {
            shuttle(&mut a, &mut b);
            shuttle(&mut b, &mut a);
        }
        assert!(a.is_ready() && b.is_ready());
        (a, b)
    }

    #[test]
    fn plain_framer_is_copy_send_sync() {
        fn check<T: Copy + Send + Sync>() {}
        check::<PlainFramer>();
    }

    #[test]
    fn plain_framer_only_in_the_data_phase() {
        let now = Instant::now();
        let mut a = Session::new(SessionConfig::new(SocketType::Dealer), now).unwrap();
        let mut b = Session::new(SessionConfig::new(SocketType::Router), now).unwrap();
        assert!(a.plain_framer().is_none(), "before the greeting");
        shuttle(&mut a, &mut b);
        assert!(!b.is_ready());
        assert!(b.plain_framer().is_none(), "during the handshake");
        shuttle(&mut b, &mut a);
        shuttle(&mut a, &mut b);
        assert!(a.plain_framer().is_some() && b.plain_framer().is_some());

        let (client, server) = pair(plain_client(), MechanismConfig::PlainServer);
        assert!(client.plain_framer().is_some() && server.plain_framer().is_some());

        let (sealed, _) = pair(MechanismConfig::TestSealed, MechanismConfig::TestSealed);
        assert!(
            sealed.plain_framer().is_none(),
            "the mechanism transforms frames"
        );

        // A protocol error closes the session; no framer after that.
        let err = b.handle_input(Bytes::from_static(&[0xff, 0]));
        assert_eq!(err, Err(ProtocolError::ReservedFlags { flags: 0xff }));
        assert!(b.plain_framer().is_none(), "after close");
    }

    #[test]
    fn plain_framer_heads_frames_as_send_frame_does() {
        for (mut a, _) in [
            pair(MechanismConfig::Null, MechanismConfig::Null),
            pair(plain_client(), MechanismConfig::PlainServer),
        ] {
            let framer = a.plain_framer().unwrap();
            for len in [0, 1, 255, 256, 65_535, 70_000] {
                for more in [true, false] {
                    let body = Bytes::from(vec![7u8; len]);
                    let mut out = Vec::new();
                    a.send_frame(body.clone(), more, &mut out).unwrap();
                    let mut h = [0u8; 9];
                    let n = framer.header(more, len, &mut h);
                    assert_eq!(n, if len < 256 { 2 } else { 9 });
                    assert_eq!(out.concat(), [&h[..n], &body[..]].concat(), "{len} {more}");
                }
            }
        }
    }
}
