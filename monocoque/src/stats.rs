//! [`SocketStats`]: what a socket has carried, counted as it goes.

use std::sync::atomic::{AtomicU64, Ordering};

/// What a socket has carried since it was made ([`Socket::stats`]).
///
/// Messages and bytes count what the application sent and received
/// (frames' bytes, not the wire's); `dropped` the messages a full peer
/// queue (`SNDHWM`) made a PUB, XPUB, ROUTER or REP drop, as libzmq's do;
/// `reconnects` the connecters' attempts after a failure or a lost
/// connection (`ConnectRetried` on the monitor).
///
/// [`Socket::stats`]: crate::Socket::stats
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
#[non_exhaustive]
pub struct SocketStats {
    /// Messages the application received.
    pub messages_in: u64,
    /// Their bytes (every frame's).
    pub bytes_in: u64,
    /// Messages the application sent (taken by the socket).
    pub messages_out: u64,
    /// Their bytes.
    pub bytes_out: u64,
    /// Messages dropped because a peer's queue was full.
    pub dropped: u64,
    /// Reconnection attempts.
    pub reconnects: u64,
}

/// The counters behind [`SocketStats`]: the application's side (one
/// thread at a time, mostly), and the ones the pattern and the
/// transports bump (`dropped` under the state lock, `reconnects` from
/// connecters).
#[derive(Debug, Default)]
pub(crate) struct Counters {
    messages_in: AtomicU64,
    bytes_in: AtomicU64,
    /// Messages and bytes received from the inbound queue's current run,
    /// counted with the run's lock held (see [`Counters::received_locked`]);
    /// the snapshot adds them to the others.
    messages_in_run: AtomicU64,
    bytes_in_run: AtomicU64,
    messages_out: AtomicU64,
    bytes_out: AtomicU64,
    dropped: AtomicU64,
    reconnects: AtomicU64,
}

/// Adds `n` to a counter that one thread at a time writes (its caller
/// holds a lock that every writer takes): a load and a store, not a locked
/// read-modify-write.
#[inline]
fn add_alone(counter: &AtomicU64, n: u64) {
    counter.store(counter.load(Ordering::Relaxed) + n, Ordering::Relaxed);
}

impl Counters {
    /// The application received a message of `bytes`.
    #[inline]
    pub(crate) fn received(&self, bytes: usize) {
        self.messages_in.fetch_add(1, Ordering::Relaxed);
        self.bytes_in.fetch_add(bytes as u64, Ordering::Relaxed);
    }

    /// Like [`received`](Self::received), for a message taken from the
    /// inbound queue's current run: called with that run's lock held, so
    /// one caller at a time, a load and a store each instead of a locked
    /// read-modify-write (those two were 6 % of a 64-byte receiver's CPU).
    #[inline]
    pub(crate) fn received_locked(&self, bytes: usize) {
        add_alone(&self.messages_in_run, 1);
        add_alone(&self.bytes_in_run, bytes as u64);
    }

    /// The socket took a message of `bytes` from the application. Called
    /// with the socket's state lock held, so one caller at a time: a load
    /// and a store each, not a locked read-modify-write (two of those
    /// were 16 % of a 16-byte sender's CPU, each waiting for the stores of
    /// the message just queued). Readers may see the two a moment apart.
    #[inline]
    pub(crate) fn sent(&self, bytes: usize) {
        add_alone(&self.messages_out, 1);
        add_alone(&self.bytes_out, bytes as u64);
    }

    /// A message was dropped at a full peer.
    pub(crate) fn dropped(&self) {
        self.dropped.fetch_add(1, Ordering::Relaxed);
    }

    /// A connecter tries again.
    pub(crate) fn reconnect(&self) {
        self.reconnects.fetch_add(1, Ordering::Relaxed);
    }

    /// A snapshot.
    pub(crate) fn snapshot(&self) -> SocketStats {
        SocketStats {
            messages_in: self.messages_in.load(Ordering::Relaxed)
                + self.messages_in_run.load(Ordering::Relaxed),
            bytes_in: self.bytes_in.load(Ordering::Relaxed)
                + self.bytes_in_run.load(Ordering::Relaxed),
            messages_out: self.messages_out.load(Ordering::Relaxed),
            bytes_out: self.bytes_out.load(Ordering::Relaxed),
            dropped: self.dropped.load(Ordering::Relaxed),
            reconnects: self.reconnects.load(Ordering::Relaxed),
        }
    }
}
