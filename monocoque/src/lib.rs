//! Monocoque: a native Rust ZeroMQ.
//!
//! Sockets speak ZMTP 3.x to libzmq, pyzmq and JeroMQ peers over `tcp://`
//! and `ipc://`, and link directly over `inproc://`. Network I/O runs on
//! `io_uring` through compio, on the I/O threads of a [`Context`]; messages
//! are lists of zero-copy [`bytes::Bytes`] frames ([`Message`]).
//!
//! ```
//! use monocoque::{Context, SocketType};
//!
//! let ctx = Context::new();
//! let pull = ctx.socket(SocketType::Pull).unwrap();
//! pull.bind("tcp://127.0.0.1:*").unwrap();
//! let push = ctx.socket(SocketType::Push).unwrap();
//! push.connect(&pull.last_endpoint().unwrap()).unwrap();
//! push.send(vec![bytes::Bytes::from("hello"), bytes::Bytes::from("world")]).unwrap();
//! let msg = pull.recv().unwrap();
//! assert_eq!(&msg[1][..], b"world");
//! ```
//!
//! Async code awaits `recv_async`, `send_async` and `reserve_async` on any
//! executor. With the `futures` feature (off by default), a socket's
//! receives are also a `Stream` (`Socket::stream`), its sends a `Sink`
//! (`Socket::sink`), and a [`Monitor`]'s events a `Stream`
//! (`Monitor::into_stream`), for `StreamExt`, `SinkExt` and `select!`;
//! like the `_async` calls they are cancel-safe: a dropped future loses
//! no message.
//!
//! ```text
//! application <-> monocoque (sockets, engine) <-> monocoque-zmtp (wire) <-> monocoque-core (slab, tables)
//! ```
#![forbid(unsafe_code)]

mod auth;
mod context;
mod endpoint;
mod engine;
mod error;
mod message;
mod monitor;
mod named_options;
mod options;
mod pattern;
mod pipe;
mod poller;
mod proxy;
mod readiness;
#[cfg(test)]
mod sim;
mod socket;
mod socket_core;
mod socket_monitor;
mod stats;
#[cfg(feature = "futures")]
mod stream;
mod sync;
mod transport;

pub use auth::{AuthRules, Authenticator};
pub use context::Context;
pub use endpoint::Endpoint;
pub use error::{Error, Result};
pub use message::{Message, Properties};
pub use monitor::{
    protocol_error_code, EndReason, EventMask, Monitor, MonitorError, MonitorEvent, WireEvent,
};
pub use options::{
    ContextOptions, OptionError, ReconnectStop, RouterNotify, Security, SocketOptions,
};
pub use poller::{poll, Events, PollEvent, PollItem, Poller};
pub use proxy::{proxy, proxy_steerable, ProxyCommand, ProxyStatistics, SocketStatistics};
pub use socket::{Permit, Socket, Unsent};
pub use stats::SocketStats;
#[cfg(feature = "futures")]
pub use stream::{MonitorStream, RecvStream, SendSink};

/// The `bytes` crate, whose [`Bytes`] every frame is: no `cargo add bytes`
/// needed to build or take apart a message.
pub use bytes;
pub use bytes::Bytes;
pub use monocoque_zmtp::{
    curve_keypair, CurveKeyError, CurvePublicKey, CurveSecretKey, Fault, ProtocolError, SocketType,
};
