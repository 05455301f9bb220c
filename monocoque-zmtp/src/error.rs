//! Errors of the ZMTP layer.
//!
//! Every protocol violation has its own variant, so the engine can log a clear
//! reason and the monitor can say why a handshake failed. [`ProtocolError::fault`]
//! says who was at fault: the peer (its bytes broke the protocol or it refused
//! us), us (the caller misused the API or configured something invalid), or
//! the clock (a deadline passed). Any error returned by
//! [`Session::handle_input`](crate::Session::handle_input) ends the
//! connection: flush [`Session::poll_transmit`](crate::Session::poll_transmit)
//! once (it may hold an ERROR command for the peer), then close.

use crate::socket_type::SocketType;

/// Who caused a [`ProtocolError`].
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Fault {
    /// The peer sent bytes that break ZMTP, or refused the connection.
    Peer,
    /// Our side: invalid configuration or an API call out of order.
    Local,
    /// A deadline (handshake or heartbeat) passed.
    Timeout,
}

/// A ZMTP protocol error.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[non_exhaustive]
pub enum ProtocolError {
    // ---- peer faults: greeting ----
    /// The first bytes are not a ZMTP 3.x signature.
    #[error("peer is not speaking zmtp (bad greeting signature)")]
    BadSignature,
    /// The peer speaks an older ZMTP (1.0 or 2.0), which we refuse.
    #[error("peer speaks zmtp {version}, only 3.x is supported")]
    UnsupportedVersion {
        /// The version the peer's greeting announces: "1.0" or "2.0".
        version: &'static str,
    },
    /// The greeting's mechanism field is not a valid mechanism name.
    #[error("malformed mechanism name in greeting")]
    BadMechanismName,
    /// The greeting's as-server field is not 0 or 1.
    #[error("malformed as-server field in greeting")]
    BadAsServer,
    /// The peer uses a different security mechanism.
    #[error("security mechanism mismatch: we use {ours}, peer uses {theirs}")]
    MechanismMismatch {
        /// Our mechanism name.
        ours: String,
        /// The peer's mechanism name.
        theirs: String,
    },
    /// Both peers claim the same role (both PLAIN servers or both clients).
    #[error("both peers claim the same {mechanism} role (as-server = {as_server})")]
    RoleMismatch {
        /// Mechanism name.
        mechanism: &'static str,
        /// The as-server flag both sides sent.
        as_server: bool,
    },

    // ---- peer faults: framing ----
    /// Reserved bits set in a frame's flags byte.
    #[error("reserved frame flag bits set: {flags:#04x}")]
    ReservedFlags {
        /// The flags byte received.
        flags: u8,
    },
    /// A command frame with the MORE flag.
    #[error("command frame has the more flag set")]
    CommandWithMore,
    /// A frame longer than the configured maximum message size.
    #[error("frame of {size} bytes exceeds the maximum message size of {max}")]
    MessageTooLarge {
        /// The size declared by the frame header.
        size: u64,
        /// The configured limit.
        max: u64,
    },
    /// A multipart message of more frames than a connection may send
    /// (libzmq has no such limit; an empty frame costs nothing on the
    /// size limit but a frame handle here).
    #[error("message of more than {max} frames")]
    TooManyFrames {
        /// The limit.
        max: usize,
    },
    /// The peer's subscriptions went past their budget (prefix bytes plus
    /// a fixed cost a prefix; libzmq keeps any number).
    #[error("subscriptions of {bytes} bytes exceed the budget of {max}")]
    TooManySubscriptions {
        /// What the peer's subscriptions would cost.
        bytes: u64,
        /// The budget.
        max: u64,
    },

    // ---- peer faults: commands ----
    /// A command frame whose body does not parse.
    #[error("malformed {command} command: {reason}")]
    MalformedCommand {
        /// Command name (lossy UTF-8).
        command: String,
        /// What is wrong.
        reason: &'static str,
    },
    /// A command that is not valid in the current state.
    #[error("unexpected {command} command {state}")]
    UnexpectedCommand {
        /// Command name (lossy UTF-8).
        command: String,
        /// The state we were in.
        state: &'static str,
    },
    /// A message frame before the handshake finished.
    #[error("message frame received before the handshake completed")]
    MessageBeforeReady,
    /// The peer's metadata lacks Socket-Type.
    #[error("peer metadata has no socket-type property")]
    MissingSocketType,
    /// The peer's Socket-Type is not a known socket type.
    #[error("peer announced unknown socket type {0:?}")]
    UnknownSocketType(String),
    /// The peer's socket type cannot talk to ours.
    #[error("incompatible socket types: we are {ours}, peer is {peer}")]
    IncompatibleSocketType {
        /// Our socket type.
        ours: SocketType,
        /// The peer's socket type.
        peer: SocketType,
    },
    /// The peer's Identity property is longer than 255 bytes.
    #[error("peer identity of {0} bytes exceeds 255")]
    InvalidIdentity(usize),
    /// The peer sent an ERROR command.
    #[error("peer sent error: {reason}")]
    PeerError {
        /// The reason the peer gave (lossy UTF-8).
        reason: String,
    },
    /// Authentication refused (ZAP status other than 200, or the PLAIN server refused us).
    #[error("authentication failed: {status_code} {status_text}")]
    AuthenticationFailed {
        /// ZAP status code ("400", "500", ...).
        status_code: String,
        /// ZAP status text, empty when the peer refused us with an ERROR command.
        status_text: String,
    },

    // ---- peer faults: curve ----
    /// A CURVE box did not open: tampered, or sealed with another key
    /// (`what`: HELLO, WELCOME, COOKIE, INITIATE, VOUCH, READY, MESSAGE).
    #[error("curve {what} box does not open (tampered, or the wrong key)")]
    CurveBoxRejected {
        /// Which box.
        what: &'static str,
    },
    /// A CURVE short nonce not above the last one the peer used: a
    /// replayed or reordered box.
    #[error("curve {command} nonce {nonce} is not above the last one, {last}")]
    CurveNonceOutOfOrder {
        /// The command that carried it.
        command: &'static str,
        /// The nonce received.
        nonce: u64,
        /// The last nonce the peer used.
        last: u64,
    },
    /// The INITIATE's vouch names another transient key or another server.
    #[error("curve vouch does not match the connection's keys")]
    CurveVouchMismatch,
    /// A data-phase frame on a CURVE connection that is not a MESSAGE box.
    #[error("frame is not a curve message box")]
    UnprotectedFrame,

    // ---- timeouts ----
    /// The handshake did not finish in time.
    #[error("handshake timed out")]
    HandshakeTimeout,
    /// The peer went silent beyond the heartbeat timeout or its own TTL.
    #[error("heartbeat timed out")]
    HeartbeatTimeout,

    // ---- local faults ----
    /// A message was sent before the handshake completed.
    #[error("cannot send: handshake not complete")]
    NotReady,
    /// A subscription was sent while a multipart message was half sent.
    #[error("cannot send a subscription in the middle of a multipart message")]
    MessageInProgress,
    /// The session already failed or closed.
    #[error("session is closed")]
    Closed,
    /// A ZAP reply was given while no ZAP request was outstanding, or for another request.
    #[error("no zap request is outstanding")]
    UnexpectedZapReply,
    /// A ZAP message (request or reply) is malformed.
    #[error("malformed zap message: {0}")]
    MalformedZap(&'static str),
    /// Invalid local configuration (metadata, identity, credentials).
    #[error("invalid configuration: {0}")]
    InvalidConfig(&'static str),
    /// The local crypto could not work: no random source, or a short nonce
    /// counter used up.
    #[error("curve crypto unavailable: {0}")]
    CryptoUnavailable(&'static str),
}

impl ProtocolError {
    /// Who caused this error.
    pub fn fault(&self) -> Fault {
        use ProtocolError::*;
        match self {
            HandshakeTimeout | HeartbeatTimeout => Fault::Timeout,
            NotReady | Closed | MessageInProgress | UnexpectedZapReply | MalformedZap(_)
            | InvalidConfig(_) | CryptoUnavailable(_) => Fault::Local,
            _ => Fault::Peer,
        }
    }

    /// True when the peer's bytes or decision caused this error.
    pub fn is_peer_fault(&self) -> bool {
        self.fault() == Fault::Peer
    }

    pub(crate) fn malformed(command: &[u8], reason: &'static str) -> Self {
        ProtocolError::MalformedCommand {
            command: String::from_utf8_lossy(command).into_owned(),
            reason,
        }
    }

    pub(crate) fn unexpected(command: &[u8], state: &'static str) -> Self {
        ProtocolError::UnexpectedCommand {
            command: String::from_utf8_lossy(command).into_owned(),
            state,
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn faults_are_classified() {
        assert_eq!(ProtocolError::BadSignature.fault(), Fault::Peer);
        assert!(ProtocolError::CommandWithMore.is_peer_fault());
        assert_eq!(ProtocolError::NotReady.fault(), Fault::Local);
        assert_eq!(ProtocolError::HeartbeatTimeout.fault(), Fault::Timeout);
    }

    #[test]
    fn messages_are_lowercase() {
        let e = ProtocolError::MessageTooLarge { size: 10, max: 5 };
        assert_eq!(
            e.to_string(),
            "frame of 10 bytes exceeds the maximum message size of 5"
        );
    }
}
