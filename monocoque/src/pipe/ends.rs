//! The two ends of a [`Pipe`], so who may call what is a type: the
//! socket side holds the [`Producer`] (in the peer's `Outbox`), the
//! engine (or the inproc link that takes over a connecter's queue) holds
//! the [`Consumer`]. Clones of an end stay on its side: a connection's
//! reader and writer tasks share the consumer, on one I/O thread.

use std::sync::atomic::AtomicU64;
use std::sync::Arc;

use bytes::Bytes;
use event_listener::Event;
use monocoque_zmtp::PlainFramer;

use super::{Pipe, PipeCmd};
use crate::message::Message;
use crate::sync::Bell;

/// The socket's end: callers queue messages and commands, one at a time
/// (serialized by the socket's state lock), and LINGER looks.
#[derive(Debug, Clone)]
pub(crate) struct Producer(Arc<Pipe>);

/// The engine's end: its writer takes batches, commands, leftovers and
/// the wire; its reader waits for the close.
#[derive(Debug, Clone)]
pub(crate) struct Consumer(Arc<Pipe>);

/// A pipe of `capacity` messages (SNDHWM) whose inline writes share the
/// socket's `last_inline` clock.
pub(crate) fn pipe(capacity: usize, last_inline: Arc<AtomicU64>) -> (Producer, Consumer) {
    let p = Pipe::new(capacity, last_inline);
    (Producer(p.clone()), Consumer(p))
}

impl Producer {
    /// Queues a message, or writes it inline when the connection is idle
    /// (see [`Pipe::push`]); gives it back when the queue is full.
    pub(crate) fn push(&self, msg: Message) -> Result<(), Message> {
        self.0.push(msg)
    }

    /// Whether a push would find room now.
    pub(crate) fn has_room(&self) -> bool {
        self.0.has_room()
    }

    /// Queues `msg` in place of the message still waiting, if any
    /// (`ZMQ_CONFLATE`, see [`Pipe::push_latest`]).
    pub(crate) fn push_latest(&self, msg: Message) {
        self.0.push_latest(msg);
    }

    /// Whether the pipe was closed (its connection ended).
    pub(crate) fn is_closed(&self) -> bool {
        self.0.is_closed()
    }

    /// Queues a message for the writer, never inline (fan-out).
    pub(crate) fn enqueue(&self, msg: Message) -> Result<(), Message> {
        self.0.enqueue(msg)
    }

    /// Queues a subscription command.
    pub(crate) fn command(&self, cmd: PipeCmd) {
        self.0.command(cmd);
    }

    /// Drops every queued command (a reconnect resends the whole set).
    pub(crate) fn clear_commands(&self) {
        self.0.clear_commands();
    }

    /// Asks the engine to end the connection.
    pub(crate) fn close(&self) {
        self.0.close();
    }

    /// Whether everything queued reached the kernel (LINGER).
    pub(crate) fn is_flushed(&self) -> bool {
        self.0.is_flushed()
    }

    /// The connection's socket, for a watching `recv` (Unix only).
    #[cfg(unix)]
    pub(crate) fn direct_socket(&self) -> Option<super::ConnSocket> {
        self.0.direct_socket()
    }
}

impl Consumer {
    /// The next batch to write (see [`Pipe::pop_batch`]).
    pub(crate) fn pop_batch(&self) -> Option<Vec<Message>> {
        self.0.pop_batch()
    }

    /// Gives an emptied batch buffer back for reuse.
    pub(crate) fn recycle(&self, batch: Vec<Message>) {
        self.0.recycle(batch);
    }

    /// The writer takes the wire; `false` while a caller writes inline.
    pub(crate) fn acquire_writer(&self) -> bool {
        self.0.acquire_writer()
    }

    /// The writer sleeps until a caller lets go of the wire (`true`), or
    /// runs again.
    pub(crate) fn set_writer_waiting(&self, waiting: bool) {
        self.0.set_writer_waiting(waiting);
    }

    /// The writer lets go of the wire before it sleeps.
    pub(crate) fn release_writer(&self) {
        self.0.release_writer();
    }

    /// What an inline write left, counted in flight until `written(1)`.
    pub(crate) fn take_leftover(&self) -> Option<Vec<Bytes>> {
        self.0.take_leftover()
    }

    /// The pipe's SNDHWM in messages (`usize::MAX`: no limit).
    pub(crate) fn capacity(&self) -> usize {
        self.0.capacity
    }

    /// Messages a failed connection never sent, for the next one to send
    /// first (they stay in flight).
    pub(crate) fn give_back(&self, msgs: Vec<Message>) {
        self.0.give_back(msgs);
    }

    /// What a failed connection gave back, in flight already.
    pub(crate) fn take_returned(&self) -> Option<Vec<Message>> {
        self.0.take_returned()
    }

    /// Lends callers the connection's socket and the session's framer, or
    /// takes them back (`None`) when the connection ends.
    pub(crate) fn set_direct(&self, sock: Option<super::ConnSocket>, framer: Option<PlainFramer>) {
        self.0.set_direct(sock, framer);
    }

    /// The writer took `n` commands (counted in flight).
    pub(crate) fn taken(&self, n: usize) {
        self.0.taken(n);
    }

    /// The writer handed `n` taken items to the kernel, or gave up.
    pub(crate) fn written(&self, n: usize) {
        self.0.written(n);
    }

    /// The next command.
    pub(crate) fn pop_command(&self) -> Option<PipeCmd> {
        self.0.pop_command()
    }

    /// Whether the writer has anything to do.
    pub(crate) fn has_work(&self) -> bool {
        self.0.has_work()
    }

    /// Whether the socket (or the engine) ended the connection.
    pub(crate) fn is_closed(&self) -> bool {
        self.0.is_closed()
    }

    /// Ends the connection from the engine's side (a write failed).
    pub(crate) fn close(&self) {
        self.0.close();
    }

    /// What wakes the writer: a message, a command, the close.
    pub(crate) fn ready(&self) -> &Bell {
        &self.0.ready
    }

    /// What wakes the reader when the socket closes the pipe.
    pub(crate) fn closing(&self) -> &Event {
        &self.0.closing
    }

    /// Messages queued (staged or in the queue) and the pipe's capacity
    /// (SNDHWM): the pattern-layer simulation checks one against the other.
    #[cfg(test)]
    pub(crate) fn queued(&self) -> (u64, usize) {
        use std::sync::atomic::Ordering;
        let sent = self.0.send.sent.load(Ordering::Acquire);
        let taken = self.0.took.taken.load(Ordering::Acquire);
        (sent.saturating_sub(taken), self.0.capacity)
    }

    /// Whether a push would find room now (the simulation's model of
    /// which subscribers a PUB's message must reach).
    #[cfg(test)]
    pub(crate) fn has_room(&self) -> bool {
        self.0.has_room()
    }
}
