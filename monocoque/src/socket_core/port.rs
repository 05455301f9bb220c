//! [`Port`]: all an engine (or an inproc peer) sees of a socket, like
//! libzmq's `session_base` sees its `socket_base`. The socket's state lock
//! stays behind it: engines never take it themselves.

use std::fmt;
use std::future::Future;
use std::pin::Pin;
use std::sync::Arc;

use bytes::Bytes;
use monocoque_core::router::PeerId;
use monocoque_zmtp::{ProtocolError, SocketType};

use super::inbox::Inbox;
use super::peer::Outbox;
use crate::message::Message;
use crate::monitor::{EndReason, MonitorEvent};
use crate::options::SocketOptions;
use crate::pipe::{Consumer, Producer};

/// A ZAP request on its way to the context's handler: completes with the
/// handler's reply (its frames, without the envelope), or `None` when the
/// handler went away first.
pub(crate) type ZapCall = Pin<Box<dyn Future<Output = Option<Vec<Bytes>>> + Send>>;

/// Where a socket's ZAP requests go (RFC 27): the socket bound at
/// `inproc://zeromq.zap.01` in its context, as with libzmq. Given to the
/// socket by the layer that knows the context.
pub(crate) trait ZapService: Send + Sync + fmt::Debug {
    /// Sends `request` (RFC 27 frames, from the version on) to the handler;
    /// `None` when no handler is bound.
    fn call(&self, request: Vec<Bytes>) -> Option<ZapCall>;
}

/// A socket, as its engines and inproc peers reach it.
pub(crate) trait Port: Send + Sync + fmt::Debug {
    /// The socket's type (for the handshake).
    fn socket_type(&self) -> SocketType;
    /// Whether connections speak ZMTP (else raw bytes: STREAM).
    fn speaks_zmtp(&self) -> bool;
    /// Whether peers' messages are queued for the application (a PUB
    /// drops them as they arrive, as libzmq's does, and keeps reading its
    /// peers' subscriptions).
    fn takes_messages(&self) -> bool;
    /// A copy of the socket's options, read once per connection.
    fn options(&self) -> SocketOptions;
    /// Where received messages go; the engines' hot path.
    fn inbox(&self) -> &Arc<Inbox>;
    /// A new outbound pipe for a peer, sized by SNDHWM: the socket's end
    /// goes into the peer's outbox, the engine keeps its own.
    fn pipe(&self, opts: &SocketOptions) -> (Producer, Consumer);
    /// Registers a peer whose handshake completed: a connecter's existing
    /// entry (`preset`, which keeps its outbox unless `out` is given) or a
    /// new one with `out`. Returns the peer's id and routing id, or why
    /// the socket refused it.
    fn attach(
        &self,
        preset: Option<PeerId>,
        out: Option<Outbox>,
        identity: Option<Bytes>,
    ) -> Result<(PeerId, Option<Bytes>), EndReason>;
    /// The peer (un)subscribed to `topic`. Returns the notification for
    /// the application (XPUB), which the engine queues behind the peer's
    /// messages before it, or why the peer must go (its subscriptions'
    /// budget is spent: docs/BOUNDS.md row 22).
    fn subscription(
        &self,
        id: PeerId,
        topic: Bytes,
        on: bool,
    ) -> Result<Option<Message>, ProtocolError>;
    /// An inproc peer (un)subscribed to `topic`: as
    /// [`subscription`](Self::subscription), with the notification queued
    /// at once.
    fn inproc_subscription(&self, id: PeerId, topic: Bytes, on: bool);
    /// The peer's connection ended. A connecter's entry stays (its queue
    /// waits for the reconnect) unless `remove` is set.
    fn detach(&self, id: PeerId, remove: bool);
    /// Records a monitor event.
    fn emit(&self, ev: MonitorEvent);
    /// Wakes the user side: room appeared in a pipe, a batch was written.
    fn wake(&self);
    /// Whether the socket is closed.
    fn is_closed(&self) -> bool;
    /// Sends a ZAP request to the context's handler; `None` when there is
    /// none (then libzmq's defaults apply).
    fn zap(&self, request: Vec<Bytes>) -> Option<ZapCall>;
}
