//! Security mechanisms (RFC 23 "Authentication and Confidentiality").
//!
//! A mechanism runs the command exchange between the greeting and READY. The
//! session drives it through the crate-private `Handshake` trait: `start`
//! once the greeting is done, `on_command` for each command frame,
//! `on_zap_reply` when the ZAP handler decided. The mechanism talks back
//! through a `Cx`: queue a command, ask ZAP, check the peer's metadata,
//! declare the handshake done.
//!
//! Mechanisms that protect traffic after the handshake (CURVE, `curve/`,
//! wraps every frame in a MESSAGE command) override the data-phase hooks `open` and
//! `seal`; NULL and PLAIN keep the defaults and the session never calls them.
//! Under such a mechanism every frame the session emits in the data phase
//! goes through `seal`: message frames, and the commands too (SUBSCRIBE,
//! CANCEL, PING, PONG), as RFC 26 wraps commands in MESSAGE as well. Adding
//! CURVE was a new module here, two [`MechanismConfig`] variants and their
//! lines in `MechanismConfig::build`, and `parse_command` for commands whose
//! data are boxes; the frame codec did not change. The hidden
//! `TestSealed` variant (`test_sealed.rs`) is such a mechanism for tests.

use bytes::Bytes;

use crate::command::{Command, Metadata};
use crate::error::ProtocolError;
use crate::frame::{Encoder, Frame};
use crate::greeting::MechanismName;
use crate::socket_type::SocketType;
use crate::zap::{ZapReply, ZapRequest};

pub mod curve;
pub mod null;
pub mod plain;
mod test_sealed;

use curve::keys::{CurvePublicKey, CurveSecretKey};

/// Which security mechanism a session uses, and its role and credentials.
#[derive(Debug, Clone, PartialEq, Eq)]
#[non_exhaustive]
pub enum MechanismConfig {
    /// NULL: no authentication (RFC 23). With a ZAP domain set in the
    /// session config, each side asks ZAP before it sends READY.
    Null,
    /// PLAIN client (RFC 24): sends these credentials.
    PlainClient {
        /// User name, at most 255 bytes.
        username: Bytes,
        /// Password, at most 255 bytes.
        password: Bytes,
    },
    /// PLAIN server (RFC 24): asks ZAP about every client's credentials.
    PlainServer,
    /// CURVE client (RFC 25, RFC 26): proves it holds `secret` for
    /// `public`, and talks only to the server holding the secret of
    /// `server_public` (`ZMQ_CURVE_PUBLICKEY`, `_SECRETKEY`, `_SERVERKEY`).
    CurveClient {
        /// The client's long-term public key `C`; must be `secret`'s.
        public: CurvePublicKey,
        /// The client's long-term secret key `c`.
        secret: CurveSecretKey,
        /// The server's long-term public key `S`.
        server_public: CurvePublicKey,
    },
    /// CURVE server (`ZMQ_CURVE_SERVER` with `ZMQ_CURVE_SECRETKEY`): its
    /// public key is derived from `secret`. Asks ZAP about every client's
    /// long-term public key (mechanism `CURVE`, one 32-byte credential).
    CurveServer {
        /// The server's long-term secret key `s`.
        secret: CurveSecretKey,
    },
    /// For tests only, and no security at all: a NULL-like handshake
    /// (READY both ways, no ZAP) under the greeting name `X-SEALED`, then
    /// every data-phase frame visibly transformed, so a test can prove that
    /// nothing is written around a session whose mechanism protects
    /// traffic. A plaintext frame arriving at such a session closes it.
    #[doc(hidden)]
    TestSealed,
}

impl MechanismConfig {
    /// The name in the greeting.
    pub fn name(&self) -> MechanismName {
        match self {
            MechanismConfig::Null => MechanismName::NULL,
            MechanismConfig::PlainClient { .. } | MechanismConfig::PlainServer => {
                MechanismName::PLAIN
            }
            MechanismConfig::CurveClient { .. } | MechanismConfig::CurveServer { .. } => {
                MechanismName::CURVE
            }
            MechanismConfig::TestSealed => test_sealed::NAME,
        }
    }

    /// The greeting's as-server flag.
    pub fn as_server(&self) -> bool {
        matches!(
            self,
            MechanismConfig::PlainServer | MechanismConfig::CurveServer { .. }
        )
    }

    /// Whether the peer's greeting must carry the opposite as-server flag.
    pub(crate) fn needs_opposite_role(&self) -> bool {
        !matches!(self, MechanismConfig::Null | MechanismConfig::TestSealed)
    }

    pub(crate) fn validate(&self) -> Result<(), ProtocolError> {
        match self {
            MechanismConfig::PlainClient { username, password }
                if username.len() > 255 || password.len() > 255 =>
            {
                Err(ProtocolError::InvalidConfig(
                    "plain username and password must be at most 255 bytes",
                ))
            }
            MechanismConfig::CurveClient { public, secret, .. }
                if secret.public_key() != *public =>
            {
                Err(ProtocolError::InvalidConfig(
                    "curve public key is not the secret key's",
                ))
            }
            _ => Ok(()),
        }
    }

    pub(crate) fn build(&self, zap_for_null: bool) -> Box<dyn Handshake> {
        match self {
            MechanismConfig::Null => Box::new(null::Null::new(zap_for_null)),
            MechanismConfig::PlainClient { username, password } => {
                Box::new(plain::PlainClient::new(username.clone(), password.clone()))
            }
            MechanismConfig::PlainServer => Box::new(plain::PlainServer::new()),
            MechanismConfig::CurveClient {
                public,
                secret,
                server_public,
            } => Box::new(curve::CurveClient::new(
                *public,
                secret.clone(),
                *server_public,
            )),
            MechanismConfig::CurveServer { secret } => {
                Box::new(curve::CurveServer::new(secret.clone()))
            }
            MechanismConfig::TestSealed => Box::new(test_sealed::TestSealed::new()),
        }
    }
}

/// What a finished handshake learned about the peer.
#[derive(Debug, Default)]
pub(crate) struct Established {
    pub(crate) peer: Metadata,
    pub(crate) user_id: Option<Bytes>,
    pub(crate) zap_metadata: Metadata,
}

/// The mechanism's view of the session during the handshake.
#[derive(Debug)]
pub(crate) struct Cx<'a> {
    pub(crate) our_type: SocketType,
    /// Our READY / INITIATE properties (Socket-Type, Identity, user properties).
    pub(crate) our_props: &'a Metadata,
    pub(crate) zap_domain: &'a Bytes,
    pub(crate) identity: &'a Bytes,
    /// Encoded command frames to send.
    pub(crate) out: &'a mut Vec<Bytes>,
    pub(crate) zap: Option<ZapRequest>,
    pub(crate) done: Option<Established>,
}

impl Cx<'_> {
    pub(crate) fn send(&mut self, cmd: &Command) {
        self.out.push(cmd.encode_frame());
    }

    /// Queues a command frame whose body (name length, name, data) is
    /// already encoded: CURVE's handshake commands, which carry boxes.
    pub(crate) fn send_command_body(&mut self, body: Bytes) {
        let mut h = [0u8; 9];
        let n = crate::frame::write_header(false, true, body.len(), &mut h);
        self.out.push(Bytes::copy_from_slice(&h[..n]));
        self.out.push(body);
    }

    pub(crate) fn send_error(&mut self, reason: &[u8]) {
        self.send(&Command::Error {
            reason: Bytes::copy_from_slice(&reason[..reason.len().min(255)]),
        });
    }

    pub(crate) fn send_ready(&mut self, initiate: bool) {
        let md = self.our_props.clone();
        self.send(&if initiate {
            Command::Initiate(md)
        } else {
            Command::Ready(md)
        });
    }

    /// Checks the peer's metadata against our socket type; on failure queues
    /// an ERROR command for the peer and returns the typed error.
    pub(crate) fn check_peer(&mut self, md: &Metadata) -> Result<(), ProtocolError> {
        let r = check_metadata(self.our_type, md);
        if let Err(e) = &r {
            let reason = match e {
                ProtocolError::IncompatibleSocketType { .. } => "incompatible socket type",
                _ => "invalid metadata",
            };
            self.send_error(reason.as_bytes());
        }
        r
    }

    /// Asks ZAP; the session turns this into an event.
    pub(crate) fn ask_zap(&mut self, mechanism: &MechanismName, credentials: Vec<Bytes>) -> Bytes {
        let id = Bytes::from_static(b"1");
        self.zap = Some(ZapRequest {
            request_id: id.clone(),
            domain: self.zap_domain.clone(),
            address: Bytes::new(),
            identity: self.identity.clone(),
            mechanism: Bytes::copy_from_slice(mechanism.as_bytes()),
            credentials,
        });
        id
    }

    /// Applies a ZAP reply: on success keeps user id and metadata for
    /// `finish`; on failure queues ERROR (reason: the status code, as libzmq
    /// does) and returns the error.
    pub(crate) fn zap_verdict(
        &mut self,
        expected_id: &Bytes,
        reply: ZapReply,
        zap_result: &mut Established,
    ) -> Result<(), ProtocolError> {
        if reply.request_id != *expected_id {
            return Err(ProtocolError::UnexpectedZapReply);
        }
        if reply.is_success() {
            zap_result.user_id = Some(reply.user_id).filter(|u| !u.is_empty());
            zap_result.zap_metadata = reply.metadata;
            return Ok(());
        }
        let code = reply.status_code.to_string();
        self.send_error(code.as_bytes());
        Err(ProtocolError::AuthenticationFailed {
            status_code: code,
            status_text: String::from_utf8_lossy(&reply.status_text).into_owned(),
        })
    }

    pub(crate) fn finish(&mut self, peer: Metadata, zap: Established) {
        self.done = Some(Established {
            peer,
            user_id: zap.user_id,
            zap_metadata: zap.zap_metadata,
        });
    }
}

/// Validates peer metadata: Socket-Type present, known and compatible; the
/// identity at most 255 bytes.
pub(crate) fn check_metadata(ours: SocketType, md: &Metadata) -> Result<(), ProtocolError> {
    let Some(st) = md.get(crate::command::PROP_SOCKET_TYPE) else {
        return Err(ProtocolError::MissingSocketType);
    };
    let Some(peer) = SocketType::parse(st) else {
        return Err(ProtocolError::UnknownSocketType(
            String::from_utf8_lossy(st).into_owned(),
        ));
    };
    if !ours.compatible(peer) {
        return Err(ProtocolError::IncompatibleSocketType { ours, peer });
    }
    if let Some(id) = peer_identity_raw(md) {
        if id.len() > 255 {
            return Err(ProtocolError::InvalidIdentity(id.len()));
        }
    }
    Ok(())
}

pub(crate) fn peer_identity_raw(md: &Metadata) -> Option<&Bytes> {
    md.get(crate::command::PROP_IDENTITY)
        .or_else(|| md.get(crate::command::PROP_ROUTING_ID))
}

/// Error for a command that is not ERROR, in a state that does not expect it.
pub(crate) fn unexpected(cmd: &Command, state: &'static str) -> ProtocolError {
    if let Command::Error { reason } = cmd {
        return peer_error(reason);
    }
    ProtocolError::unexpected(cmd.name(), state)
}

pub(crate) fn peer_error(reason: &[u8]) -> ProtocolError {
    ProtocolError::PeerError {
        reason: String::from_utf8_lossy(reason).into_owned(),
    }
}

/// The interface every mechanism implements.
pub(crate) trait Handshake: std::fmt::Debug + Send {
    /// Called once when both greetings are exchanged.
    fn start(&mut self, cx: &mut Cx<'_>) -> Result<(), ProtocolError>;

    /// Reads a command frame that arrived during the handshake, before
    /// `on_command` sees it. CURVE reads its own commands (their data are
    /// boxes); the others parse as every command does.
    fn parse_command(&self, body: Bytes) -> Result<Command, ProtocolError> {
        Command::parse(body)
    }

    /// A command frame arrived during the handshake.
    fn on_command(&mut self, cmd: Command, cx: &mut Cx<'_>) -> Result<(), ProtocolError>;

    /// The ZAP handler answered the request this mechanism made.
    fn on_zap_reply(&mut self, reply: ZapReply, cx: &mut Cx<'_>) -> Result<(), ProtocolError>;

    /// True if the data phase goes through `open`/`seal` (CURVE).
    fn protects_traffic(&self) -> bool {
        false
    }

    /// Data phase, inbound: turn a received frame into a message frame
    /// (`None`: consumed). Only called when `protects_traffic`.
    fn open(&mut self, frame: Frame) -> Result<Option<Frame>, ProtocolError> {
        Ok(Some(frame))
    }

    /// Data phase, outbound: encode one frame, a message frame or a command
    /// (`frame.command`, body = name length, name, data), in wire order.
    /// Only called when `protects_traffic`.
    fn seal(
        &mut self,
        frame: Frame,
        enc: &mut Encoder,
        out: &mut Vec<Bytes>,
    ) -> Result<(), ProtocolError> {
        enc.encode(frame, out);
        Ok(())
    }
}
