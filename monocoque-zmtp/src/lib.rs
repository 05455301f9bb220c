//! Sans-IO ZMTP 3.x for Monocoque: the wire protocol as a deterministic state
//! machine. Bytes in, events and bytes out; no sockets, no async, no clock.
//!
//! ```text
//!  kernel read -> SlabMut::freeze -> Bytes chunk
//!      |
//!      v
//!  Session::handle_input ---> greeting ---> mechanism (NULL / PLAIN / CURVE) ---> frame Decoder
//!      |                                                                      |
//!      |  poll_transmit / send_* : headers + untouched bodies  <- Encoder      v
//!      |  (or sealed by the mechanism)                           Event::Frame / Subscribe / ...
//!      v                                                                -> socket layer
//!  engine writes Vec<Bytes> (vectored)
//! ```
//!
//! The session is the only framer of its connection: every frame it emits
//! in the data phase goes through the mechanism's seal when the mechanism
//! protects traffic. For NULL and PLAIN it also hands out a [`PlainFramer`]
//! ([`Session::plain_framer`]), so the engine may write a message from
//! another thread while the session is idle; for a protecting mechanism
//! there is none.
//!
//! - [`greeting`]: the 64-byte greeting, incremental, version negotiation.
//! - [`frame`]: zero-copy frame [`Decoder`] and header-only [`Encoder`];
//!   frames, not messages: the socket layer assembles messages from
//!   [`Event::Frame`]s.
//! - [`command`]: READY, ERROR, SUBSCRIBE, CANCEL, PING, PONG, PLAIN's
//!   commands, and [`Metadata`].
//! - [`mechanism`]: NULL, PLAIN and CURVE behind one interface (and a
//!   hidden test-only mechanism that seals frames); CURVE's keys
//!   ([`CurvePublicKey`], [`CurveSecretKey`], [`curve_keypair`]).
//! - [`z85`]: Z85 text for keys (RFC 32).
//! - [`zap`]: RFC 27 requests and replies.
//! - [`socket_type`]: socket types and their compatibility matrix.
//! - [`session`]: the connection state machine tying these together.
//!
//! Nothing in this crate panics on network input, allocates more than the
//! input it was given warrants, or loops without consuming input; every
//! protocol violation is a [`ProtocolError`].
#![forbid(unsafe_code)]

pub mod bodies;
pub mod command;
pub mod error;
pub mod frame;
pub mod greeting;
pub mod mechanism;
pub mod session;
pub mod socket_type;
pub mod z85;
pub mod zap;

#[doc(hidden)]
pub mod fuzzing;

pub use command::{Command, Metadata};
pub use error::{Fault, ProtocolError};
pub use frame::{Decoder, Encoder, Frame};
pub use greeting::{Greeting, GreetingParser, MechanismName};
pub use mechanism::curve::keys::{curve_keypair, CurveKeyError, CurvePublicKey, CurveSecretKey};
pub use mechanism::MechanismConfig;
pub use session::{
    Event, HeartbeatConfig, PeerInfo, PlainFramer, Session, SessionConfig, HANDSHAKE_MAX_COMMAND,
};
pub use socket_type::SocketType;
pub use z85::Z85Error;
pub use zap::{ZapReply, ZapRequest};
