//! loom models of the pipe's protocol: one caller thread (the socket's
//! state lock makes callers one at a time) against the engine's writer.
//!
//! Run with `scripts/loom.sh` (it sets `--cfg loom` and the preemption
//! bound; see there). The writer here is `engine::zmtp::write_loop` with
//! the session left out: it takes the wire, sends the leftover first,
//! pops batches (at most [`PER_ROUND`] messages a round, as the real one
//! stops at `MAX_BATCH_MSGS`), writes, and sleeps on `ready` when it had
//! nothing. The connection is a [`Wire`]: one byte stream that inline
//! writes (through [`InlineSink`]) and the writer's writes both append to,
//! checked to have one writer at a time.

use std::io::{self, IoSlice};
use std::sync::Arc;

use bytes::Bytes;
use event_listener::Listener as _;
use loom::thread;
use monocoque_zmtp::PlainFramer;

use super::direct::{DirectSocket, InlineSink};
use super::{Pipe, BATCH_BYTES};
use crate::message::Message;
use crate::sync::atomic::{AtomicBool, Ordering};
use crate::sync::{bell_listener, Bell, Mutex};

/// Messages the model writer takes per round before it writes: one, so a
/// round can end with a batch taken and the writer still marked busy
/// (the real writer gets there at 512 messages or 1 MiB).
const PER_ROUND: usize = 1;

/// Runs `f` under loom, at `LOOM_MAX_PREEMPTIONS` preemptions (2 when it
/// is not set: enough for every reorder the protocol has had, and the
/// whole run stays within a couple of minutes on two cores).
fn model(f: impl Fn() + Sync + Send + 'static) {
    let mut b = loom::model::Builder::new();
    if b.preemption_bound.is_none() {
        b.preemption_bound = Some(2);
    }
    b.check(f);
}

/// The connection's byte stream.
#[derive(Debug)]
struct Wire {
    bytes: Mutex<Vec<u8>>,
    /// Somebody is appending: two at once means the `wire` flag failed.
    writing: AtomicBool,
    /// The most an inline write may take (less than a message: a short
    /// write, and the writer must send the rest first).
    inline_max: usize,
}

impl Wire {
    fn new(inline_max: usize) -> Arc<Self> {
        Arc::new(Self {
            bytes: Mutex::new(Vec::new()),
            writing: AtomicBool::new(false),
            inline_max,
        })
    }

    /// Appends up to `max` bytes of `bufs`; the count appended.
    fn append(&self, bufs: &[&[u8]], max: usize) -> usize {
        assert!(
            !self.writing.swap(true, Ordering::AcqRel),
            "two writers on one connection"
        );
        let mut n = 0;
        {
            let mut bytes = self.bytes.lock().unwrap_or_else(|e| e.into_inner());
            for b in bufs {
                let k = b.len().min(max - n);
                bytes.extend_from_slice(&b[..k]);
                n += k;
            }
        }
        self.writing.store(false, Ordering::Release);
        n
    }

    /// The ids of the whole messages on the wire so far, and whether a
    /// message was cut short at the end.
    fn messages(&self) -> (Vec<u8>, bool) {
        let bytes = self.bytes.lock().unwrap_or_else(|e| e.into_inner());
        let mut ids = Vec::new();
        let mut rest = &bytes[..];
        while !rest.is_empty() {
            let Some((id, len)) = parse_frame(rest) else {
                return (ids, true);
            };
            ids.push(id);
            rest = &rest[len..];
        }
        (ids, false)
    }
}

impl InlineSink for Wire {
    fn send(&self, bufs: &[IoSlice<'_>]) -> io::Result<usize> {
        let bufs: Vec<&[u8]> = bufs.iter().map(|b| &b[..]).collect();
        Ok(self.append(&bufs, self.inline_max))
    }
}

/// One frame (`[id; len]`, no MORE) at the start of `b`: its id and its
/// length on the wire; `None` when it is not all there.
fn parse_frame(b: &[u8]) -> Option<(u8, usize)> {
    let flags = *b.first()?;
    assert_eq!(flags & !0x02, 0, "a model message is one frame");
    let (len, head) = if flags & 0x02 == 0 {
        (usize::from(*b.get(1)?), 2)
    } else {
        let n: [u8; 8] = b.get(1..9)?.try_into().ok()?;
        (usize::try_from(u64::from_be_bytes(n)).ok()?, 9)
    };
    let body = b.get(head..head + len)?;
    let id = body[0];
    assert!(body.iter().all(|&x| x == id), "frame {id} corrupted");
    Some((id, head + len))
}

/// Frame header as ZMTP has it (what the framer makes; the writer's
/// session makes the same).
fn header(len: usize) -> Vec<u8> {
    if len < 256 {
        vec![0, len as u8]
    } else {
        let mut h = vec![0x02];
        h.extend_from_slice(&(len as u64).to_be_bytes());
        h
    }
}

/// Message `id`: one small frame, or one of [`BATCH_BYTES`] (it fills a
/// staged batch by itself).
fn msg(id: u8, big: bool) -> Message {
    let len = if big { BATCH_BYTES } else { 1 };
    Message::from(vec![id; len])
}

/// A NULL session's framer (made once: a handshake in memory).
fn framer() -> PlainFramer {
    static FRAMER: std::sync::OnceLock<PlainFramer> = std::sync::OnceLock::new();
    *FRAMER.get_or_init(super::direct::test_framer)
}

/// A pipe whose connection carried a message already: inline writes on,
/// to `wire` (what `set_direct(Some(socket), Some(framer))` does).
fn pipe(wire: &Arc<Wire>) -> Arc<Pipe> {
    let pipe = Pipe::new(8, Arc::default());
    let sink: Arc<dyn InlineSink> = wire.clone();
    *pipe.direct.lock().unwrap_or_else(|e| e.into_inner()) =
        Some((Arc::new(DirectSocket::Sink(sink)), Some(framer())));
    pipe.direct_on.store(true, Ordering::SeqCst);
    pipe.framed.store(true, Ordering::SeqCst);
    pipe
}

/// The engine's writer task, until the pipe is closed; rings `wake` after
/// each write (what LINGER waits on: the real writer rings it after
/// messages, and LINGER also looks every 10 ms).
fn writer(pipe: &Pipe, wire: &Wire, wake: &Bell) {
    loop {
        if pipe.is_closed() {
            return;
        }
        if !pipe.acquire_writer() {
            bell_listener!(pipe.ready => a);
            pipe.set_writer_waiting(true);
            if !pipe.acquire_writer() {
                a.wait();
                pipe.set_writer_waiting(false);
                continue;
            }
            pipe.set_writer_waiting(false);
        }
        let mut out: Vec<Bytes> = Vec::new();
        let mut held = 0;
        if let Some(rest) = pipe.take_leftover() {
            out.extend(rest);
            held += 1;
        }
        let mut taken = 0;
        while taken < PER_ROUND {
            let Some(mut msgs) = pipe.pop_batch() else {
                break;
            };
            taken += msgs.len();
            for m in msgs.drain(..) {
                for f in m.frames() {
                    out.push(Bytes::from(header(f.len())));
                    out.push(f.clone());
                }
            }
            pipe.recycle(msgs);
        }
        if out.is_empty() {
            pipe.release_writer();
            bell_listener!(pipe.ready => a);
            if pipe.has_work() {
                continue;
            }
            a.wait();
            continue;
        }
        let bufs: Vec<&[u8]> = out.iter().map(|b| &b[..]).collect();
        wire.append(&bufs, usize::MAX);
        pipe.written(taken + held);
        wake.ring();
    }
}

/// LINGER, on the caller's thread: waits until the pipe says flushed, and
/// checks the wire then holds every message pushed, whole.
fn linger(pipe: &Pipe, wire: &Wire, wake: &Bell, pushed: usize) {
    loop {
        if flushed(pipe, wire, pushed) {
            return;
        }
        bell_listener!(wake => l);
        if flushed(pipe, wire, pushed) {
            return;
        }
        l.wait();
    }
}

/// `is_flushed`, checked against the wire: never true before the wire
/// holds the first `pushed` messages, whole.
fn flushed(pipe: &Pipe, wire: &Wire, pushed: usize) -> bool {
    if !pipe.is_flushed() {
        return false;
    }
    let (ids, cut) = wire.messages();
    assert!(
        ids.len() >= pushed && !cut,
        "is_flushed with {pushed} messages pushed but the wire holding {ids:?}{}",
        if cut { " and part of the next" } else { "" }
    );
    true
}

/// (a) The caller queues one message (`enqueue`), then offers a big one
/// and a small one for inline writing (`push`); inline writes take at most
/// 4 KiB, so a big one written inline leaves the rest over. The writer
/// must put all three on the wire once each and in order, and never sleep
/// while one waits (loom reports a deadlock: the caller's LINGER would
/// wait for ever).
#[test]
fn writer_sends_each_message_once_in_order() {
    model(|| {
        let wire = Wire::new(4096);
        let pipe = pipe(&wire);
        let wake = Arc::new(Bell::default());
        let w = {
            let (pipe, wire, wake) = (pipe.clone(), wire.clone(), wake.clone());
            thread::spawn(move || writer(&pipe, &wire, &wake))
        };
        assert!(pipe.enqueue(msg(0, false)).is_ok());
        assert!(pipe.push(msg(1, true)).is_ok());
        assert!(pipe.push(msg(2, false)).is_ok());
        linger(&pipe, &wire, &wake, 3);
        pipe.close();
        w.join().unwrap_or_else(|e| std::panic::resume_unwind(e));
        assert_eq!(wire.messages(), (vec![0, 1, 2], false));
    });
}

/// (a') Inline first: two small messages for an idle writer (the first
/// goes inline when the wire is free), then a big one that the writer,
/// busy with the second, finds staged.
#[test]
fn inline_then_staged_keep_order() {
    model(|| {
        let wire = Wire::new(usize::MAX);
        let pipe = pipe(&wire);
        let wake = Arc::new(Bell::default());
        let w = {
            let (pipe, wire, wake) = (pipe.clone(), wire.clone(), wake.clone());
            thread::spawn(move || writer(&pipe, &wire, &wake))
        };
        assert!(pipe.push(msg(0, false)).is_ok());
        assert!(pipe.push(msg(1, false)).is_ok());
        assert!(pipe.enqueue(msg(2, true)).is_ok());
        assert!(pipe.push(msg(3, false)).is_ok());
        linger(&pipe, &wire, &wake, 4);
        pipe.close();
        w.join().unwrap_or_else(|e| std::panic::resume_unwind(e));
        assert_eq!(wire.messages(), (vec![0, 1, 2, 3], false));
    });
}

/// (c) LINGER: `is_flushed` must not be true while a message is queued,
/// staged, taken by the writer or being written inline: checked after
/// each push and while waiting, with a message for the queue, a big one
/// the writer may find staged, and a small one that may go inline.
#[test]
fn linger_waits_for_queued_staged_and_in_flight() {
    model(|| {
        let wire = Wire::new(usize::MAX);
        let pipe = pipe(&wire);
        let wake = Arc::new(Bell::default());
        let w = {
            let (pipe, wire, wake) = (pipe.clone(), wire.clone(), wake.clone());
            thread::spawn(move || writer(&pipe, &wire, &wake))
        };
        assert!(pipe.enqueue(msg(0, false)).is_ok());
        flushed(&pipe, &wire, 1);
        assert!(pipe.enqueue(msg(1, true)).is_ok());
        flushed(&pipe, &wire, 2);
        assert!(pipe.push(msg(2, false)).is_ok());
        linger(&pipe, &wire, &wake, 3);
        pipe.close();
        w.join().unwrap_or_else(|e| std::panic::resume_unwind(e));
        assert_eq!(wire.messages(), (vec![0, 1, 2], false));
    });
}

/// (c') LINGER and a leftover: a big message that an inline write leaves
/// half sent, then a small one. Found a gap: `take_leftover` cleared
/// `has_leftover` with nothing counting the rest as in flight, so between
/// the writer's `take_leftover` and its write `is_flushed` was true with
/// the rest of the message unsent. `take_leftover` now counts it.
#[test]
fn linger_waits_for_leftover() {
    model(|| {
        let wire = Wire::new(4096);
        let pipe = pipe(&wire);
        let wake = Arc::new(Bell::default());
        let w = {
            let (pipe, wire, wake) = (pipe.clone(), wire.clone(), wake.clone());
            thread::spawn(move || writer(&pipe, &wire, &wake))
        };
        assert!(pipe.push(msg(0, true)).is_ok());
        flushed(&pipe, &wire, 1);
        assert!(pipe.push(msg(1, false)).is_ok());
        linger(&pipe, &wire, &wake, 2);
        pipe.close();
        w.join().unwrap_or_else(|e| std::panic::resume_unwind(e));
        assert_eq!(wire.messages(), (vec![0, 1], false));
    });
}
