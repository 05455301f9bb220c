//! The hand-off between a socket and one peer's engine.
//!
//! Tested by the unit tests at the bottom and by loom models of the whole
//! protocol (callers against the writer: order, wake-ups, LINGER) in
//! `loom_models.rs`, run by `scripts/loom.sh`.

use std::io::{self, IoSlice};
// A hint shared by a socket's pipes, std's in loom builds too.
use std::sync::atomic::AtomicU64 as StdAtomicU64;
use std::sync::Arc;

use bytes::Bytes;
use concurrent_queue::ConcurrentQueue;
use event_listener::Event;
use monocoque_zmtp::PlainFramer;
use smallvec::SmallVec;

use crate::message::Message;
use crate::sync::atomic::{fence, AtomicBool, AtomicU64, AtomicU8, AtomicUsize, Ordering};
use crate::sync::{lock_spin, Bell, Mutex, OnceLock, Padded, SpinGuard, SpinLock};

mod commands;
mod direct;
mod ends;
#[cfg(all(test, loom))]
mod loom_models;

use commands::Commands;
pub(crate) use direct::ConnSocket;
use direct::DirectSocket;
pub(crate) use ends::{pipe, Consumer, Producer};

/// A subscription change for the engine to send as a command.
#[derive(Debug, Clone)]
pub(crate) enum PipeCmd {
    /// SUBSCRIBE this prefix.
    Subscribe(Bytes),
    /// CANCEL this prefix.
    Cancel(Bytes),
}

/// One peer's outbound queue (bounded by SNDHWM), the engine's commands,
/// and the event its writer sleeps on. One caller at a time pushes (the
/// socket's state lock), one writer task takes.
#[derive(Debug)]
pub(crate) struct Pipe {
    /// Batches of messages for the writer. Made on the first push: a peer
    /// that is never sent to (most peers of a busy ROUTER, every idle one)
    /// costs nothing. It grows block by block as batches wait (a ring of
    /// SNDHWM slots made at once cost every peer sent to 32 KiB at the
    /// default SNDHWM, and a fan-out to many subscribers with a large
    /// SNDHWM megabytes on its first message); `stage` bounds it, counting
    /// messages against SNDHWM, and every batch holds one at least.
    out: OnceLock<ConcurrentQueue<Vec<Message>>>,
    capacity: usize,
    /// The callers' side: written on every message, by callers only (the
    /// writer locks it once per round at most).
    send: Padded<SendSide>,
    /// The writer's side: updated once per batch taken.
    took: Padded<TakeSide>,
    /// Emptied batch buffers the writer gives back for callers to refill:
    /// a warm pipe allocates nothing. Made on the first give-back (an
    /// idle pipe holds none), with room for every batch SNDHWM allows.
    spares: OnceLock<ConcurrentQueue<Vec<Message>>>,
    /// Subscription changes for the peer, the latest per prefix.
    cmds: Commands,
    /// Wakes the engine's writer: a message, a command, or the close.
    pub(crate) ready: Bell,
    /// Wakes the engine's reader when the socket closes the pipe.
    pub(crate) closing: Event,
    closed: AtomicBool,
    /// Who may write to the connection now: [`IDLE`], [`WRITER`] (the
    /// engine's writer task) or [`CALLER`] (a sending thread, inline).
    wire: AtomicU8,
    /// The connection's socket, set between the handshake and the end of
    /// a connection, with how its session lets other threads frame
    /// messages: only a session whose mechanism leaves frames as they are
    /// hands a framer out, so an encrypting connection is never written to
    /// inline.
    direct: Mutex<Option<(Arc<DirectSocket>, Option<PlainFramer>)>>,
    /// Whether `direct` is set (read without the lock).
    direct_on: AtomicBool,
    /// Whether `direct` holds a framer (read without the lock).
    framed: AtomicBool,
    /// What an inline write could not finish: the writer sends it first.
    leftover: Mutex<Vec<Bytes>>,
    has_leftover: AtomicBool,
    /// Messages a failed connection's writer had taken and the kernel
    /// never took, for the next connection's writer to send before
    /// anything else (a connecter's pipe outlives its connections). They
    /// stay in flight meanwhile, so LINGER waits for them too.
    returned: Mutex<Vec<Message>>,
    has_returned: AtomicBool,
    /// The writer found the wire taken and sleeps until a caller lets go.
    writer_waiting: AtomicBool,
    /// When the owning socket last wrote inline ([`now_ns`]), shared by all
    /// its pipes: a socket that sends often is streaming, whichever peer
    /// each message goes to.
    last_inline: Arc<StdAtomicU64>,
}

/// What callers fill: while the writer is busy, messages gather here and
/// go to the queue as one batch, so the queue's compare-and-swap, and the
/// cache lines the writer last touched, are paid once per batch instead of
/// once per message (libzmq's ypipe defers its flush the same way).
#[derive(Debug, Default)]
struct SendSide {
    staged: SpinLock<Staged>,
    /// Messages ever queued (staged or in the queue). Written by callers
    /// only, with `staged` locked; read without the lock by the writer and
    /// LINGER.
    sent: AtomicU64,
}

#[derive(Debug, Default)]
struct Staged {
    msgs: Vec<Message>,
    bytes: usize,
    /// The writer has been told there is work and has not yet found the
    /// queue and this batch empty: it will look here again, so a message
    /// may wait here without a wake-up.
    busy: bool,
    /// The writer's `taken` as last read: `sent - taken_seen` bounds what
    /// is queued from above, so the writer's line is read only near SNDHWM.
    taken_seen: u64,
}

#[derive(Debug, Default)]
struct TakeSide {
    /// Messages ever taken from the queue or the staged batch.
    taken: AtomicU64,
    /// Messages taken and not yet written: LINGER waits for these too.
    in_flight: AtomicUsize,
}

/// A staged batch goes to the writer once it holds this many messages...
const BATCH_MSGS: usize = 32;
/// ... or this many bytes.
const BATCH_BYTES: usize = 32 * 1024;
/// At most this many emptied batch buffers are kept for reuse (enough for
/// a full queue of batches at libzmq's default SNDHWM).
const MAX_SPARES: usize = 40;

/// Inline writes closer together than this mean the caller is streaming:
/// then messages are queued and the writer task batches them, as one
/// syscall per message would cost far more than the hand-off it saves.
const INLINE_GAP_NS: u64 = 20_000;

/// Nanoseconds on a process-wide monotonic clock.
#[cfg(not(loom))]
fn now_ns() -> u64 {
    use std::sync::OnceLock;
    use std::time::Instant;
    static EPOCH: OnceLock<Instant> = OnceLock::new();
    let epoch = *EPOCH.get_or_init(Instant::now);
    u64::try_from(epoch.elapsed().as_nanos()).unwrap_or(u64::MAX)
}

/// Under loom a model must replay exactly, so no real clock: every reading
/// is [`INLINE_GAP_NS`] after the last, and an inline write is never
/// refused as streaming (unit tests cover that refusal).
#[cfg(loom)]
fn now_ns() -> u64 {
    static NOW: StdAtomicU64 = StdAtomicU64::new(INLINE_GAP_NS);
    NOW.fetch_add(INLINE_GAP_NS, Ordering::Relaxed)
}

/// Nobody is writing to the connection.
const IDLE: u8 = 0;
/// The engine's writer task owns the connection's write side.
const WRITER: u8 = 1;
/// A sending thread owns it, for one inline write.
const CALLER: u8 = 2;

/// `send(2)` flags for an inline write: never block, never raise SIGPIPE.
#[cfg(not(any(target_vendor = "apple", windows)))]
const INLINE_FLAGS: i32 = libc::MSG_DONTWAIT | libc::MSG_NOSIGNAL;
/// Apple's systems have no `MSG_NOSIGNAL`: the engine sets `SO_NOSIGPIPE`
/// on each connection instead.
#[cfg(target_vendor = "apple")]
const INLINE_FLAGS: i32 = libc::MSG_DONTWAIT;
/// Windows raises no SIGPIPE and writes nothing inline (the engine never
/// hands the pipe a socket there).
#[cfg(windows)]
const INLINE_FLAGS: i32 = 0;

impl Pipe {
    fn new(capacity: usize, last_inline: Arc<StdAtomicU64>) -> Arc<Self> {
        Arc::new(Self {
            out: OnceLock::new(),
            capacity,
            send: Padded::default(),
            took: Padded::default(),
            spares: OnceLock::new(),
            cmds: Commands::default(),
            ready: Bell::default(),
            closing: Event::new(),
            closed: AtomicBool::new(false),
            wire: AtomicU8::new(IDLE),
            direct: Mutex::new(None),
            direct_on: AtomicBool::new(false),
            framed: AtomicBool::new(false),
            leftover: Mutex::new(Vec::new()),
            has_leftover: AtomicBool::new(false),
            returned: Mutex::new(Vec::new()),
            has_returned: AtomicBool::new(false),
            writer_waiting: AtomicBool::new(false),
            last_inline,
        })
    }

    /// Queues a message; gives it back when the queue is full. When the
    /// connection is idle (nothing queued, nobody writing), the calling
    /// thread writes the message itself, without waking the I/O thread:
    /// one hand-off fewer on every lone message.
    pub(crate) fn push(&self, msg: Message) -> Result<(), Message> {
        self.stage(msg, true)
    }

    /// Whether a [`push`](Self::push) would find room now (a poller's
    /// POLLOUT; another sender may take it first).
    pub(crate) fn has_room(&self) -> bool {
        let sent = self.send.sent.load(Ordering::Relaxed);
        sent.saturating_sub(self.took.taken.load(Ordering::Acquire)) < self.capacity as u64
    }

    /// Queues a message for the writer task, never inline (fan-out: one
    /// syscall per subscriber on the sending thread would cost more than
    /// the writer's batches).
    pub(crate) fn enqueue(&self, msg: Message) -> Result<(), Message> {
        self.stage(msg, false)
    }

    /// Queues `msg` as the one message of a conflating pipe (capacity 1,
    /// `ZMQ_CONFLATE`): when a message still waits (staged, or queued as a
    /// batch of its own), `msg` takes its place and the counts stay as
    /// they are, so the writer sends the newest. Never fails.
    ///
    /// The waiting message is replaced with the staged lock held: the
    /// writer takes queued batches without it, but looks at the queue
    /// again under it before it gives up, so a batch taken out and put
    /// back here is never missed.
    pub(crate) fn push_latest(&self, msg: Message) {
        let mut msg = msg;
        loop {
            msg = match self.stage(msg, true) {
                Ok(()) => return,
                Err(m) => m,
            };
            {
                let mut st = self.lock_staged();
                let size = msg.size();
                if let Some(last) = st.msgs.last_mut() {
                    let old = std::mem::replace(last, msg);
                    st.bytes = st.bytes.saturating_sub(old.size()) + size;
                    return;
                }
                if let Some(q) = self.out.get() {
                    if let Ok(mut batch) = q.pop() {
                        match batch.last_mut() {
                            Some(last) => *last = msg,
                            None => batch.push(msg),
                        }
                        // Room: the batch just came out, and only callers
                        // queue, one at a time.
                        let _ = q.push(batch);
                        return;
                    }
                }
            }
            // The writer took the waiting message between the looks, and
            // is counting it: room in a moment.
            crate::sync::yield_now();
        }
    }

    /// Queues `msg`: into the staged batch while the writer is busy (it
    /// looks there before it sleeps), as a batch of its own otherwise,
    /// with a wake-up. A lone message therefore goes out at once, and a
    /// stream is handed over in batches without any flush call.
    fn stage(&self, msg: Message, inline: bool) -> Result<(), Message> {
        let mut st = self.lock_staged();
        let cap = self.capacity as u64;
        let sent = self.send.sent.load(Ordering::Relaxed);
        if sent - st.taken_seen >= cap {
            st.taken_seen = self.took.taken.load(Ordering::Acquire);
            if sent - st.taken_seen >= cap {
                return Err(msg);
            }
        }
        // Not busy: the writer found nothing queued or staged, and only
        // callers queue, one at a time (under the socket's state lock), so
        // an inline write cannot overtake a message. It is made without the
        // staged lock, which the writer may want meanwhile and which is
        // never held across a syscall.
        let msg = if inline && !st.busy {
            drop(st);
            let msg = match self.try_inline(msg) {
                Ok(()) => return Ok(()),
                Err(m) => m,
            };
            st = self.lock_staged();
            msg
        } else {
            msg
        };
        st.bytes += msg.size();
        st.msgs.push(msg);
        self.send.sent.store(sent + 1, Ordering::Release);
        if st.busy && st.msgs.len() < BATCH_MSGS && st.bytes < BATCH_BYTES {
            return Ok(());
        }
        let batch = self.take_staged(&mut st);
        let out = self.out.get_or_init(ConcurrentQueue::unbounded);
        if let Err(e) = out.push(batch) {
            // Not reached: an unbounded queue refuses only once closed,
            // and nothing closes it. Were it reached, the batch stays
            // staged for the writer's next look.
            let back = std::mem::replace(&mut st.msgs, e.into_inner());
            self.keep_spare(back);
        }
        st.busy = true;
        drop(st);
        self.ready.ring_n(1);
        Ok(())
    }

    /// The staged messages, leaving an empty buffer in their place.
    fn take_staged(&self, st: &mut Staged) -> Vec<Message> {
        st.bytes = 0;
        let spare = self.spare();
        std::mem::replace(&mut st.msgs, spare)
    }

    /// Locks the staged batch (see [`lock_spin`]).
    fn lock_staged(&self) -> SpinGuard<'_, Staged> {
        lock_spin(&self.send.staged)
    }

    /// Takes the next batch of messages for writing: a queued one, or
    /// else what is staged. `None` when there is neither, and then the
    /// next caller wakes the writer. The messages count as in flight until
    /// [`written`](Self::written).
    pub(crate) fn pop_batch(&self) -> Option<Vec<Message>> {
        let batch = match self.out.get().and_then(|q| q.pop().ok()) {
            Some(b) => b,
            None => {
                let mut st = self.lock_staged();
                // A caller may have queued a batch since the look above.
                // Callers queue with this lock held, so this look is
                // final: `busy` goes false only with the queue empty
                // (else a caller's inline write could overtake that
                // batch).
                if let Some(b) = self.out.get().and_then(|q| q.pop().ok()) {
                    drop(st);
                    return Some(self.took_batch(b));
                }
                if st.msgs.is_empty() {
                    st.busy = false;
                    return None;
                }
                self.take_staged(&mut st)
            }
        };
        Some(self.took_batch(batch))
    }

    /// Counts a batch the writer took.
    fn took_batch(&self, batch: Vec<Message>) -> Vec<Message> {
        // In flight before no longer queued: LINGER never sees neither.
        let n = batch.len();
        self.took.in_flight.fetch_add(n, Ordering::AcqRel);
        self.took.taken.fetch_add(n as u64, Ordering::AcqRel);
        batch
    }

    /// An empty batch buffer: a reused one, or one made at full size (a
    /// buffer grown by pushes would allocate several times).
    fn spare(&self) -> Vec<Message> {
        self.spares
            .get()
            .and_then(|q| q.pop().ok())
            .unwrap_or_else(|| Vec::with_capacity(BATCH_MSGS))
    }

    /// Gives back a batch buffer that [`pop_batch`](Self::pop_batch)
    /// returned, emptied, for reuse.
    pub(crate) fn recycle(&self, mut batch: Vec<Message>) {
        batch.clear();
        if batch.capacity() > 0 && batch.capacity() <= 4 * BATCH_MSGS {
            self.keep_spare(batch);
        }
    }

    /// Keeps an empty batch buffer for reuse, while there is room: as many
    /// as a full queue holds batches, so refilling after a drained queue
    /// allocates nothing (with fewer, every fill after SNDHWM was reached
    /// allocated the difference).
    fn keep_spare(&self, batch: Vec<Message>) {
        let q = self.spares.get_or_init(|| {
            let full = self.capacity.div_ceil(BATCH_MSGS).saturating_add(2);
            ConcurrentQueue::bounded(full.min(MAX_SPARES))
        });
        let _ = q.push(batch);
    }

    /// Writes `msg` on the calling thread if the wire is free; gives it
    /// back untouched when it cannot (then it is queued as usual). Called
    /// when the writer is not busy, so nothing is queued before it.
    fn try_inline(&self, msg: Message) -> Result<(), Message> {
        if !self.framed.load(Ordering::Acquire)
            || self.wire.load(Ordering::Acquire) != IDLE
            || self.has_leftover.load(Ordering::Acquire)
            || self.has_returned.load(Ordering::Acquire)
            || !self.cmds.is_empty()
        {
            return Err(msg);
        }
        let now = now_ns();
        if now.saturating_sub(self.last_inline.load(Ordering::Relaxed)) < INLINE_GAP_NS {
            return Err(msg);
        }
        if self
            .wire
            .compare_exchange(IDLE, CALLER, Ordering::SeqCst, Ordering::SeqCst)
            .is_err()
        {
            return Err(msg);
        }
        // Owning the wire, look again: what was queued before goes first.
        if self.has_leftover.load(Ordering::SeqCst)
            || self.has_returned.load(Ordering::SeqCst)
            || !self.cmds.is_empty()
            || self.is_closed()
        {
            self.release(CALLER);
            return Err(msg);
        }
        let direct = self
            .direct
            .lock()
            .unwrap_or_else(|e| e.into_inner())
            .clone();
        let Some((sock, Some(framer))) = direct else {
            self.release(CALLER);
            return Err(msg);
        };
        let frames = msg.frames();
        let mut headers: SmallVec<[([u8; 9], usize); 4]> = SmallVec::new();
        for (i, f) in frames.iter().enumerate() {
            let mut h = [0u8; 9];
            let n = framer.header(i + 1 < frames.len(), f.len(), &mut h);
            headers.push((h, n));
        }
        let mut slices: SmallVec<[IoSlice<'_>; 8]> = SmallVec::new();
        let mut total = 0;
        for ((h, n), f) in headers.iter().zip(frames) {
            slices.push(IoSlice::new(&h[..*n]));
            total += n;
            if !f.is_empty() {
                slices.push(IoSlice::new(f));
                total += f.len();
            }
        }
        let written = match sock.send_vectored_with_flags(&slices, INLINE_FLAGS) {
            Ok(n) => n,
            Err(e) if e.kind() == io::ErrorKind::Interrupted => 0,
            Err(_) => {
                // Would block, or the connection failed: queue it; the
                // writer sees the error for itself.
                drop(slices);
                self.release(CALLER);
                return Err(msg);
            }
        };
        if written == 0 {
            drop(slices);
            self.release(CALLER);
            return Err(msg);
        }
        self.last_inline.store(now_ns(), Ordering::Relaxed);
        if written < total {
            // The rest goes out first, through the writer.
            let mut rest = Vec::with_capacity(2 * frames.len());
            let mut skip = written;
            for ((h, n), f) in headers.iter().zip(frames) {
                for part in [Bytes::copy_from_slice(&h[..*n]), f.clone()] {
                    if skip >= part.len() {
                        skip -= part.len();
                    } else {
                        rest.push(part.slice(skip..));
                        skip = 0;
                    }
                }
            }
            *self.leftover.lock().unwrap_or_else(|e| e.into_inner()) = rest;
            self.has_leftover.store(true, Ordering::SeqCst);
        }
        drop(slices);
        self.release(CALLER);
        Ok(())
    }

    /// Lets go of the wire; wakes the writer if work is waiting for it.
    fn release(&self, owner: u8) {
        let _ = self
            .wire
            .compare_exchange(owner, IDLE, Ordering::SeqCst, Ordering::SeqCst);
        fence(Ordering::SeqCst);
        if owner == CALLER && (self.has_work() || self.writer_waiting.load(Ordering::SeqCst)) {
            self.ready.ring_n(1);
        }
    }

    /// The writer task takes the wire; `false` while a caller writes.
    pub(crate) fn acquire_writer(&self) -> bool {
        match self
            .wire
            .compare_exchange(IDLE, WRITER, Ordering::SeqCst, Ordering::SeqCst)
        {
            Ok(_) => true,
            Err(cur) => cur == WRITER,
        }
    }

    /// The writer is about to sleep because a caller holds the wire (`true`),
    /// or is running again (`false`).
    pub(crate) fn set_writer_waiting(&self, waiting: bool) {
        self.writer_waiting.store(waiting, Ordering::SeqCst);
    }

    /// The writer task lets go of the wire (before it sleeps).
    pub(crate) fn release_writer(&self) {
        self.release(WRITER);
    }

    /// Bytes an inline write left for the writer, in order. They count as
    /// one write in flight (LINGER waits for them) until the writer says
    /// [`written(1)`](Self::written) for them.
    pub(crate) fn take_leftover(&self) -> Option<Vec<Bytes>> {
        if !self.has_leftover.load(Ordering::SeqCst) {
            return None;
        }
        // In flight before no longer left over: LINGER never sees neither.
        self.took.in_flight.fetch_add(1, Ordering::AcqRel);
        let rest = std::mem::take(&mut *self.leftover.lock().unwrap_or_else(|e| e.into_inner()));
        self.has_leftover.store(false, Ordering::SeqCst);
        Some(rest)
    }

    /// Gives back messages the writer took and the kernel never did,
    /// in order, for the next connection to send first. They stay in
    /// flight: the writer does not count them [`written`](Self::written).
    pub(crate) fn give_back(&self, msgs: Vec<Message>) {
        if msgs.is_empty() {
            return;
        }
        let mut back = self.returned.lock().unwrap_or_else(|e| e.into_inner());
        // Only one writer runs at a time and it takes what waits first,
        // so nothing is here; were it, the older messages go first.
        back.extend(msgs);
        self.has_returned.store(true, Ordering::SeqCst);
        drop(back);
        self.ready.ring_n(1);
    }

    /// What a failed connection gave back, in flight already: the writer
    /// counts them [`written`](Self::written) once it has written them.
    pub(crate) fn take_returned(&self) -> Option<Vec<Message>> {
        if !self.has_returned.load(Ordering::SeqCst) {
            return None;
        }
        let back = std::mem::take(&mut *self.returned.lock().unwrap_or_else(|e| e.into_inner()));
        self.has_returned.store(false, Ordering::SeqCst);
        Some(back)
    }

    /// The connection's socket, while inline writes are on (for a
    /// watching `recv`: Unix only).
    #[cfg(unix)]
    pub(crate) fn direct_socket(&self) -> Option<ConnSocket> {
        if !self.direct_on.load(Ordering::Acquire) {
            return None;
        }
        let direct = self.direct.lock().unwrap_or_else(|e| e.into_inner());
        direct::socket(direct.as_ref().map(|(sock, _)| sock))
    }

    /// Gives callers a connection's socket (for a watching `recv`) and,
    /// with the framer its session handed out, inline writes; or takes
    /// both away (`None`) when it ends. What an inline write left for a
    /// connection that ended is dropped with it.
    pub(crate) fn set_direct(&self, sock: Option<ConnSocket>, framer: Option<PlainFramer>) {
        let on = sock.is_some();
        if on {
            *self.direct.lock().unwrap_or_else(|e| e.into_inner()) =
                sock.map(|s| (direct::from_socket(s), framer));
            self.direct_on.store(true, Ordering::SeqCst);
            self.framed.store(framer.is_some(), Ordering::SeqCst);
            return;
        }
        self.framed.store(false, Ordering::SeqCst);
        self.direct_on.store(false, Ordering::SeqCst);
        // Wait out a caller in the middle of an inline write (one syscall),
        // so what it leaves over is dropped with this connection.
        while !self.acquire_writer() {
            crate::sync::yield_now();
        }
        *self.direct.lock().unwrap_or_else(|e| e.into_inner()) = None;
        if self.take_leftover().is_some() {
            self.written(1);
        }
        self.wire.store(IDLE, Ordering::SeqCst);
    }

    /// Whether no message waits (queued or staged).
    pub(crate) fn is_empty(&self) -> bool {
        self.send.sent.load(Ordering::Acquire) == self.took.taken.load(Ordering::Acquire)
    }

    /// Queues a subscription command.
    pub(crate) fn command(&self, cmd: PipeCmd) {
        self.cmds.push(cmd);
        self.ready.ring_n(1);
    }

    /// Takes the next command.
    pub(crate) fn pop_command(&self) -> Option<PipeCmd> {
        self.cmds.pop()
    }

    /// Drops every queued command (a reconnect resends the whole set).
    pub(crate) fn clear_commands(&self) {
        self.cmds.clear();
    }

    /// Asks the engine to end the connection.
    pub(crate) fn close(&self) {
        self.closed.store(true, Ordering::Release);
        self.ready.ring();
        self.closing.notify(usize::MAX);
    }

    /// The writer took `n` commands and is writing them.
    pub(crate) fn taken(&self, n: usize) {
        self.took.in_flight.fetch_add(n, Ordering::AcqRel);
    }

    /// The writer handed `n` taken messages to the kernel (or gave up).
    pub(crate) fn written(&self, n: usize) {
        self.took.in_flight.fetch_sub(n, Ordering::AcqRel);
    }

    /// Whether everything queued reached the kernel: no message, command or
    /// write in flight.
    ///
    /// The looks go in the order work moves from one state to the next,
    /// each marked before it is unmarked elsewhere: an inline write leaves
    /// its leftover before it lets go of the wire, the writer counts a
    /// leftover, a batch or a command in flight before it takes it. So
    /// whatever a look finds finished, the later looks see where it went.
    pub(crate) fn is_flushed(&self) -> bool {
        self.wire.load(Ordering::SeqCst) != CALLER
            && !self.has_leftover.load(Ordering::SeqCst)
            && self.is_empty()
            && self.cmds.is_empty()
            && self.took.in_flight.load(Ordering::Acquire) == 0
    }

    /// Whether [`close`](Self::close) was called.
    pub(crate) fn is_closed(&self) -> bool {
        self.closed.load(Ordering::Acquire)
    }

    /// Whether the writer has anything to do.
    pub(crate) fn has_work(&self) -> bool {
        !self.is_empty()
            || !self.cmds.is_empty()
            || self.is_closed()
            || self.has_leftover.load(Ordering::SeqCst)
            || self.has_returned.load(Ordering::SeqCst)
    }
}

#[cfg(all(test, not(loom)))]
mod tests {
    use std::future::Future;
    use std::io::Read;
    use std::os::unix::net::UnixStream;
    use std::pin::pin;
    use std::task::{Context, Waker};
    use std::time::Duration;

    use super::*;

    fn pipe(capacity: usize) -> Arc<Pipe> {
        Pipe::new(capacity, Arc::default())
    }

    /// Message `id`, one frame of four bytes.
    fn msg(id: u32) -> Message {
        Message::from(id.to_be_bytes().to_vec())
    }

    fn id(m: &Message) -> u32 {
        let f = &m.frames()[0];
        u32::from_be_bytes([f[0], f[1], f[2], f[3]])
    }

    /// What the writer gets, batch by batch, until `pop_batch` says none
    /// (each batch counted written and given back).
    fn drain(p: &Pipe) -> Vec<Vec<u32>> {
        let mut out = Vec::new();
        while let Some(b) = p.pop_batch() {
            out.push(b.iter().map(id).collect());
            p.written(b.len());
            p.recycle(b);
        }
        out
    }

    fn queued_batches(p: &Pipe) -> usize {
        p.out.get().map_or(0, |q| q.len())
    }

    fn staged(p: &Pipe) -> usize {
        p.lock_staged().msgs.len()
    }

    /// A pipe with inline writes on, to one end of a socket pair; the
    /// other end (non-blocking) reads what was written.
    fn connected(capacity: usize) -> (Arc<Pipe>, UnixStream) {
        let (a, b) = UnixStream::pair().expect("socket pair");
        b.set_nonblocking(true).expect("non-blocking");
        let p = pipe(capacity);
        p.set_direct(
            Some(ConnSocket::new(socket2::Socket::from(a))),
            Some(direct::test_framer()),
        );
        // An inline write needs INLINE_GAP_NS since the last one; the
        // socket's last is 0, so the clock must have run that long.
        while now_ns() < INLINE_GAP_NS {
            std::thread::yield_now();
        }
        (p, b)
    }

    /// Everything the peer can read now.
    fn read_now(peer: &mut UnixStream) -> Vec<u8> {
        let mut got = Vec::new();
        let mut buf = [0u8; 64 * 1024];
        loop {
            match peer.read(&mut buf) {
                Ok(0) => return got,
                Ok(n) => got.extend_from_slice(&buf[..n]),
                Err(e) if e.kind() == io::ErrorKind::WouldBlock => return got,
                Err(e) => panic!("read: {e}"),
            }
        }
    }

    /// One frame (no MORE) as ZMTP puts it on the wire: flags and a
    /// one-byte size, or LONG and eight.
    fn framed(body: &[u8]) -> Vec<u8> {
        let mut v = match u8::try_from(body.len()) {
            Ok(n) => vec![0, n],
            Err(_) => {
                let mut h = vec![0x02];
                h.extend_from_slice(&(body.len() as u64).to_be_bytes());
                h
            }
        };
        v.extend_from_slice(body);
        v
    }

    fn rung(f: impl Future<Output = ()>) -> bool {
        pin!(f)
            .poll(&mut Context::from_waker(Waker::noop()))
            .is_ready()
    }

    #[test]
    fn a_conflating_pipe_sends_the_newest_message_only() {
        let p = pipe(1);
        // Queued (no writer yet), then replaced in the queue.
        for i in 0..10 {
            p.push_latest(msg(i));
        }
        assert_eq!(queued_batches(&p), 1);
        let b = p.pop_batch().expect("a batch");
        assert_eq!(b.iter().map(id).collect::<Vec<_>>(), [9]);
        // The writer is busy with it: the next goes to the staged batch,
        // and is replaced there.
        for i in 10..20 {
            p.push_latest(msg(i));
        }
        assert_eq!((queued_batches(&p), staged(&p)), (0, 1));
        p.written(b.len());
        assert_eq!(drain(&p), [[19]]);
        assert!(p.is_flushed(), "the counts stayed right");
    }

    #[test]
    fn message_for_an_idle_writer_is_queued_at_once_with_a_wake_up() {
        let p = pipe(1000);
        let l = p.ready.listen();
        assert!(p.push(msg(0)).is_ok());
        assert_eq!((queued_batches(&p), staged(&p)), (1, 0));
        assert!(rung(l));
    }

    #[test]
    fn a_busy_writer_finds_messages_staged_in_order() {
        let p = pipe(1000);
        assert!(p.push(msg(0)).is_ok());
        for i in 1..=5 {
            assert!(p.push(msg(i)).is_ok());
        }
        assert_eq!((queued_batches(&p), staged(&p)), (1, 5));
        // The queue first, then what is staged, then nothing (and the
        // writer counts as idle again).
        assert_eq!(
            p.pop_batch().map(|b| b.iter().map(id).collect::<Vec<_>>()),
            Some(vec![0])
        );
        assert!(p.enqueue(msg(6)).is_ok());
        assert_eq!(drain(&p), vec![vec![1, 2, 3, 4, 5, 6]]);
        assert!(!p.lock_staged().busy);
        // Idle again: the next message is queued at once, with a wake-up.
        let l = p.ready.listen();
        assert!(p.push(msg(7)).is_ok());
        assert!(rung(l));
        assert_eq!(drain(&p), vec![vec![7]]);
    }

    #[test]
    fn a_staged_batch_is_queued_at_32_messages_or_32_kib() {
        let p = pipe(1000);
        assert!(p.push(msg(0)).is_ok());
        for i in 1..=u32::try_from(BATCH_MSGS).unwrap_or(32) {
            assert!(p.push(msg(i)).is_ok());
        }
        assert_eq!((queued_batches(&p), staged(&p)), (2, 0));
        let mut big = msg(100);
        big.push_back(vec![0u8; BATCH_BYTES]);
        assert!(p.push(msg(99)).is_ok());
        assert!(p.push(big).is_ok());
        assert_eq!((queued_batches(&p), staged(&p)), (3, 0));
        let want: Vec<Vec<u32>> = vec![vec![0], (1..=32).collect(), vec![99, 100]];
        assert_eq!(drain(&p), want);
    }

    #[test]
    fn sndhwm_refuses_the_message_whole_and_pop_batch_makes_room() {
        let p = pipe(4);
        for i in 0..4 {
            assert!(p.push(msg(i)).is_ok());
        }
        let back = p.push(msg(4)).expect_err("full at SNDHWM");
        assert_eq!(id(&back), 4);
        assert!(p.enqueue(msg(4)).is_err(), "enqueue counts the same HWM");
        let first = p.pop_batch().expect("queued");
        assert_eq!(first.len(), 1);
        // Taken (even if not yet written) frees its place.
        assert!(p.push(back).is_ok());
        assert!(p.push(msg(5)).is_err());
        p.written(first.len());
        assert_eq!(drain(&p), vec![vec![1, 2, 3, 4]]);
    }

    #[test]
    fn is_flushed_only_when_nothing_is_queued_staged_in_flight_or_left_over() {
        let p = pipe(1000);
        assert!(p.is_flushed(), "new");
        assert!(p.push(msg(0)).is_ok());
        assert!(!p.is_flushed(), "queued");
        let b = p.pop_batch().expect("queued");
        assert!(!p.is_flushed(), "taken, not written");
        assert!(p.push(msg(1)).is_ok());
        assert!(!p.is_flushed(), "staged");
        let b2 = p.pop_batch().expect("staged");
        p.written(b.len());
        assert!(!p.is_flushed(), "one batch still in flight");
        p.written(b2.len());
        assert!(p.is_flushed(), "all written");

        p.command(PipeCmd::Subscribe(Bytes::from_static(b"a")));
        assert!(!p.is_flushed(), "command queued");
        p.taken(1);
        assert!(p.pop_command().is_some());
        assert!(!p.is_flushed(), "command in flight");
        p.written(1);
        assert!(p.is_flushed());

        *p.leftover.lock().unwrap_or_else(|e| e.into_inner()) = vec![Bytes::from_static(b"x")];
        p.has_leftover.store(true, Ordering::SeqCst);
        assert!(!p.is_flushed(), "left over");
        assert!(p.take_leftover().is_some());
        assert!(!p.is_flushed(), "the leftover taken, not yet written");
        p.written(1);
        assert!(p.is_flushed());

        p.wire.store(CALLER, Ordering::SeqCst);
        assert!(!p.is_flushed(), "a caller writing inline");
        p.wire.store(WRITER, Ordering::SeqCst);
        assert!(
            p.is_flushed(),
            "the writer holding the wire with nothing taken"
        );
    }

    /// Emptied batch buffers come back: buffers of a capacity no pipe makes
    /// (100, 101) are refilled round after round, and no buffer of the
    /// size a new one gets (`BATCH_MSGS`) ever appears.
    #[test]
    fn spares_are_refilled_so_a_warm_pipe_makes_no_buffer() {
        let p = pipe(1000);
        p.recycle(Vec::with_capacity(100));
        p.recycle(Vec::with_capacity(101));
        let mut seen = Vec::new();
        for i in 0..50 {
            assert!(p.push(msg(i)).is_ok());
            let b = p.pop_batch().expect("queued");
            assert!(p.pop_batch().is_none());
            seen.push(b.capacity());
            p.written(b.len());
            p.recycle(b);
        }
        // The first batch is the staged buffer the pipe started with
        // (grown by its first push); after it, only the three cycle.
        let first = seen[0];
        assert!(
            seen.iter().all(|&c| c == 100 || c == 101 || c == first),
            "{seen:?}"
        );
        assert!(seen.contains(&100) && seen.contains(&101), "{seen:?}");
        assert!(!seen[1..].contains(&BATCH_MSGS), "{seen:?}");
    }

    #[test]
    fn inline_write_goes_to_the_socket_when_the_wire_is_free() {
        let (p, mut peer) = connected(1000);
        assert!(p.push(msg(7)).is_ok());
        assert_eq!(read_now(&mut peer), framed(&7u32.to_be_bytes()));
        assert!(p.is_empty() && p.is_flushed());
        assert_eq!(p.wire.load(Ordering::SeqCst), IDLE);
        p.set_direct(None, None);
    }

    /// Refused inline (the writer holds the wire, the socket is streaming,
    /// or `enqueue`), a message is queued, and what the writer gets plus
    /// what went inline keep the callers' order.
    #[test]
    fn refused_inline_writes_are_queued_in_order() {
        let (p, mut peer) = connected(1000);
        assert!(p.push(msg(0)).is_ok(), "inline");
        assert!(p.acquire_writer());
        assert!(p.push(msg(1)).is_ok(), "wire taken: queued");
        assert!(p.push(msg(2)).is_ok(), "writer busy: staged");
        assert_eq!(drain(&p), vec![vec![1], vec![2]]);
        p.release_writer();
        p.last_inline.store(u64::MAX, Ordering::Relaxed);
        assert!(p.push(msg(3)).is_ok(), "streaming: queued");
        p.last_inline.store(0, Ordering::Relaxed);
        assert!(
            p.enqueue(msg(4)).is_ok(),
            "writer busy: staged, never inline"
        );
        assert_eq!(drain(&p), vec![vec![3], vec![4]]);
        assert!(p.push(msg(5)).is_ok(), "idle again: inline");
        let mut want = framed(&0u32.to_be_bytes());
        want.extend(framed(&5u32.to_be_bytes()));
        assert_eq!(read_now(&mut peer), want);
        p.set_direct(None, None);
    }

    /// A short inline write leaves the rest for the writer, which must
    /// send it before anything else: the next message is not written
    /// inline, LINGER waits, and the bytes add up to the frame.
    #[test]
    fn leftover_of_a_short_inline_write_goes_first() {
        let (p, mut peer) = connected(1000);
        let sock = p.direct_socket().expect("direct on");
        sock.set_send_buffer_size(4096).expect("SO_SNDBUF");
        let body = vec![0xab; 1 << 20];
        assert!(p.push(Message::from(body.clone())).is_ok());
        assert!(
            p.has_leftover.load(Ordering::SeqCst),
            "1 MiB cannot fit a 4 KiB buffer"
        );
        assert!(p.is_empty() && !p.is_flushed());
        // The kernel has room again, and the caller is not streaming: only
        // the leftover keeps the next message from going inline (it would
        // cut into the frame, and a second leftover would replace the
        // first: docs/BOUNDS.md row 21 keeps one).
        let mut wire = read_now(&mut peer);
        assert!(!wire.is_empty() && wire.len() < body.len());
        std::thread::sleep(Duration::from_millis(1));
        assert!(p.push(msg(1)).is_ok(), "queued behind the leftover");
        assert_eq!(
            read_now(&mut peer),
            Vec::<u8>::new(),
            "nothing more went inline"
        );
        // The writer's round: the rest first, then the queue.
        let rest = p.take_leftover().expect("left over");
        for part in rest {
            wire.extend_from_slice(&part);
        }
        p.written(1);
        assert_eq!(wire, framed(&body));
        assert_eq!(drain(&p), vec![vec![1]]);
        assert!(p.is_flushed());
        p.set_direct(None, None);
        assert!(p.direct_socket().is_none());
    }

    /// What a failed connection's writer gives back stays in flight
    /// (LINGER waits for it), keeps a caller from writing inline ahead of
    /// it, and is what the next writer takes first.
    #[test]
    fn messages_given_back_go_first_and_stay_in_flight() {
        let (p, mut peer) = connected(1000);
        p.set_direct(None, None);
        for i in 0..3 {
            assert!(p.enqueue(msg(i)).is_ok());
        }
        let mut b = Vec::new();
        while let Some(more) = p.pop_batch() {
            b.extend(more);
        }
        assert_eq!(b.iter().map(id).collect::<Vec<_>>(), [0, 1, 2]);
        // The connection failed before the kernel took the last two.
        p.written(1);
        p.give_back(b.into_iter().skip(1).collect());
        assert!(p.is_empty() && !p.is_flushed() && p.has_work());
        // The next connection: the wire is free, the caller not streaming.
        let (a, b) = UnixStream::pair().expect("socket pair");
        b.set_nonblocking(true).expect("non-blocking");
        p.set_direct(
            Some(ConnSocket::new(socket2::Socket::from(a))),
            Some(direct::test_framer()),
        );
        std::thread::sleep(Duration::from_millis(1));
        assert!(p.push(msg(3)).is_ok());
        let mut peer2 = b;
        assert_eq!(
            read_now(&mut peer2),
            Vec::<u8>::new(),
            "nothing went inline"
        );
        let back = p.take_returned().expect("given back");
        assert_eq!(back.iter().map(id).collect::<Vec<_>>(), [1, 2]);
        assert!(p.take_returned().is_none());
        p.written(back.len());
        assert_eq!(drain(&p), vec![vec![3]]);
        assert!(p.is_flushed());
        assert_eq!(read_now(&mut peer), Vec::<u8>::new());
    }

    #[test]
    fn close_wakes_a_sleeping_writer() {
        let p = pipe(1000);
        let writer = {
            let p = p.clone();
            std::thread::spawn(move || {
                let give_up = std::time::Instant::now() + Duration::from_secs(30);
                while std::time::Instant::now() < give_up {
                    let l = p.ready.listen();
                    if p.has_work() {
                        return p.is_closed();
                    }
                    l.wait_deadline(give_up);
                }
                false
            })
        };
        p.close();
        assert!(writer.join().unwrap_or(false), "woken by close");
    }
}
