//! The engine tasks' write: a [`WriteBatch`] of `Bytes` goes to the kernel in
//! vectored submissions until every byte is written (footgun 1); when the
//! connection fails first, [`Marks`] tells which messages the kernel never
//! took.

use std::io;

use bytes::Bytes;
use bytes::BytesMut;
use compio::buf::BufResult;
use compio::io::AsyncWrite;
use monocoque_core::alloc::WriteBatch;
use monocoque_zmtp::{Decoder, PlainFramer};

use crate::message::Message;

/// Writes every byte of `batch` to `stream`, resuming after short writes at
/// the exact byte the kernel stopped at.
///
/// The batch comes back (empty on success, holding the unwritten rest on
/// error) so its allocation is reused for the next batch.
pub(crate) async fn write_all<W: AsyncWrite>(
    stream: &mut W,
    mut batch: WriteBatch,
) -> BufResult<(), WriteBatch> {
    while !batch.is_empty() {
        let BufResult(res, back) = stream.write_vectored(batch).await;
        batch = back;
        match res {
            Ok(0) => return BufResult(Err(io::ErrorKind::WriteZero.into()), batch),
            Ok(n) => batch.advance(n),
            Err(e) if e.kind() == io::ErrorKind::Interrupted => {}
            Err(e) => return BufResult(Err(e), batch),
        }
    }
    BufResult(Ok(()), batch)
}

/// Buffers up to this size are copied together into one region of the
/// write; larger ones go to the kernel as their own iovec, uncopied.
pub(crate) const COPY_MAX: usize = 4096;
/// A flat region bigger than four times this is released once traffic is
/// light again, so an idle connection does not keep a burst's memory.
const FLAT_SIZE: usize = 64 * 1024;

/// One write round as it is put together, in order: runs of small buffers
/// (frame headers, short bodies, commands) copied into one flat region, as
/// a writev of thousands of 2-byte iovecs costs the kernel more than the
/// copy, and large bodies as iovecs of their own, uncopied. The region is
/// reclaimed by `reserve` once the previous write's views are gone, so a
/// warm writer allocates nothing.
#[derive(Debug, Default)]
pub(crate) struct Wire {
    flat: BytesMut,
    batch: WriteBatch,
    /// Bytes copied in the last round: what the next one reserves.
    copied: usize,
}

impl Wire {
    /// A round begins (the last one's write is over).
    pub(crate) fn begin(&mut self) {
        if self.flat.capacity() > 4 * FLAT_SIZE && self.copied < FLAT_SIZE {
            // A burst is over: give its big region back.
            self.flat = BytesMut::new();
        }
        self.flat.reserve(self.copied);
        self.copied = 0;
    }

    /// Appends `b`: copied if it is small, its own iovec if not.
    pub(crate) fn push(&mut self, b: Bytes) {
        if b.len() <= COPY_MAX {
            self.copy(&b);
        } else {
            self.seal();
            self.batch.push(b);
        }
    }

    /// Appends every buffer of `out`, emptying it.
    pub(crate) fn append(&mut self, out: &mut Vec<Bytes>) {
        for b in out.drain(..) {
            self.push(b);
        }
    }

    /// Appends a copy of `bytes`.
    pub(crate) fn copy(&mut self, bytes: &[u8]) {
        self.flat.extend_from_slice(bytes);
        self.copied += bytes.len();
    }

    /// Frames a message whose frames are all at most [`COPY_MAX`] straight
    /// into the flat region, with `framer`'s headers (what the session
    /// would have made, without a buffer per header).
    pub(crate) fn small_message(&mut self, framer: PlainFramer, frames: &[Bytes]) {
        let mut h = [0u8; 9];
        for (i, f) in frames.iter().enumerate() {
            let n = framer.header(i + 1 < frames.len(), f.len(), &mut h);
            self.copy(&h[..n]);
            self.copy(f);
        }
    }

    fn seal(&mut self) {
        if !self.flat.is_empty() {
            self.batch.push(self.flat.split().freeze());
        }
    }

    /// Bytes in the round so far.
    pub(crate) fn len(&self) -> usize {
        self.batch.len() + self.flat.len()
    }

    /// Whether the round has nothing to write.
    pub(crate) fn is_empty(&self) -> bool {
        self.len() == 0
    }

    /// The round, for the kernel; give its batch back with
    /// [`reuse`](Self::reuse).
    pub(crate) fn take(&mut self) -> WriteBatch {
        self.seal();
        std::mem::take(&mut self.batch)
    }

    /// Keeps an emptied batch's allocation for the next round.
    pub(crate) fn reuse(&mut self, batch: WriteBatch) {
        if batch.is_empty() {
            self.batch = batch;
        }
    }
}

/// Where one write round's messages lie in its bytes, so that when the
/// connection fails, the messages the kernel never took can go back to
/// their pipe for the next connection (docs/BOUNDS.md row 20). A connecter
/// then loses what the kernel accepted, and at most the one message it
/// took part of, as libzmq does (it holds one message outside its pipe);
/// without this it lost the whole round, up to 1 MiB.
///
/// A mark is one number a message; the messages themselves are not kept
/// (no reference count touched per message): on failure they are decoded
/// back from the bytes the kernel never took, which only works for frames
/// sent as they are (not under CURVE, whose boxes are encrypted).
#[derive(Debug, Default)]
pub(crate) struct Marks {
    /// Bytes of the round framed so far (the tests read it).
    wire: usize,
    /// Where the round's first message begins (after its commands).
    start: usize,
    /// Where each message ends.
    ends: Vec<usize>,
}

impl Marks {
    /// A round begins: `wire` bytes go before its messages.
    pub(crate) fn begin(&mut self, wire: usize) {
        self.ends.clear();
        self.wire = wire;
        self.start = wire;
    }

    /// One message was framed: the round is `wire` bytes long now.
    pub(crate) fn framed(&mut self, wire: usize) {
        self.wire = wire;
        self.ends.push(wire);
    }

    /// The messages of the round that the kernel took none of, decoded
    /// from `batch` after a write of the round's `total` bytes failed.
    pub(crate) fn unsent(&self, batch: &WriteBatch, total: usize) -> Vec<Message> {
        let written = total.saturating_sub(batch.len());
        let mut k = self.ends.partition_point(|&end| end <= written);
        let begins = |k: usize| if k == 0 { self.start } else { self.ends[k - 1] };
        if k < self.ends.len() && begins(k) < written {
            k += 1; // the kernel took part of it: lost with the connection
        }
        let Some(&to) = self.ends.last() else {
            return Vec::new();
        };
        if k >= self.ends.len() {
            return Vec::new();
        }
        let (mut skip, mut want) = (begins(k) - written, to - begins(k));
        let mut decoder = Decoder::new(None);
        let mut msgs = Vec::with_capacity(self.ends.len() - k);
        let mut frames = Vec::new();
        for buf in batch.unwritten() {
            if want == 0 {
                break;
            }
            if skip >= buf.len() {
                skip -= buf.len();
                continue;
            }
            let n = (buf.len() - skip).min(want);
            decoder.push(buf.slice(skip..skip + n));
            (skip, want) = (0, want - n);
            // Our own framing: a decoding error cannot happen, and would
            // only lose what it could not decode.
            while let Ok(Some(f)) = decoder.decode() {
                if f.command {
                    continue;
                }
                frames.push(f.body);
                if !f.more {
                    msgs.push(Message::from(std::mem::take(&mut frames)));
                }
            }
        }
        msgs
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use compio::buf::{IoBuf, IoVectoredBuf};
    use compio::io::AsyncReadExt;
    use compio::net::{TcpListener, TcpStream};

    /// A writer that takes at most `limit` bytes per call, across buffers,
    /// the way a full socket buffer cuts a write short.
    struct Trickle {
        limit: usize,
        out: Vec<u8>,
        calls: usize,
    }

    impl AsyncWrite for Trickle {
        async fn write<T: IoBuf>(&mut self, buf: T) -> BufResult<usize, T> {
            let n = buf.buf_len().min(self.limit);
            self.out.extend_from_slice(&buf.as_init()[..n]);
            self.calls += 1;
            BufResult(Ok(n), buf)
        }

        async fn write_vectored<T: IoVectoredBuf>(&mut self, buf: T) -> BufResult<usize, T> {
            let mut n = 0;
            for slice in buf.iter_slice() {
                let take = slice.len().min(self.limit - n);
                self.out.extend_from_slice(&slice[..take]);
                n += take;
                if n == self.limit {
                    break;
                }
            }
            self.calls += 1;
            BufResult(Ok(n), buf)
        }

        async fn flush(&mut self) -> io::Result<()> {
            Ok(())
        }

        async fn shutdown(&mut self) -> io::Result<()> {
            Ok(())
        }
    }

    fn frames() -> (WriteBatch, Vec<u8>) {
        let mut batch = WriteBatch::new();
        let mut expected = Vec::new();
        for i in 0..50u8 {
            let part = Bytes::from(vec![i; usize::from(i) * 7 % 23]);
            expected.extend_from_slice(&part);
            batch.push(part);
        }
        (batch, expected)
    }

    /// The round's buffers, its marks, its messages, and where each begins.
    type Round = (Vec<Bytes>, Marks, Vec<Message>, Vec<usize>);

    /// A round as the writer frames it: a command, then messages of one
    /// to three frames, short and long (9-byte headers), then a command.
    fn round() -> Round {
        let mut enc = monocoque_zmtp::Encoder::new();
        let mut out = Vec::new();
        enc.prefixed(true, b"\x04PING", Bytes::from_static(b"ab"), &mut out);
        let mut marks = Marks::default();
        marks.begin(out.iter().map(Bytes::len).sum());
        let mut msgs = Vec::new();
        let mut spans = Vec::new();
        for i in 0..12usize {
            let frames: Vec<Bytes> = (0..=i % 3)
                .map(|j| Bytes::from(vec![i as u8; [0, 3, 300][(i + j) % 3]]))
                .collect();
            let from = out.len();
            let begin = marks.wire;
            for (j, f) in frames.iter().enumerate() {
                enc.frame(f.clone(), j + 1 < frames.len(), &mut out);
            }
            marks.framed(begin + out[from..].iter().map(Bytes::len).sum::<usize>());
            spans.push(begin);
            msgs.push(Message::from(frames));
        }
        enc.prefixed(true, b"\x04PING", Bytes::new(), &mut out);
        (out, marks, msgs, spans)
    }

    #[test]
    fn a_failed_write_gives_back_exactly_the_untouched_messages() {
        let (out, _, _, _) = round();
        let total: usize = out.iter().map(Bytes::len).sum();
        for flat in [false, true] {
            for written in 0..=total {
                let (out, marks, msgs, spans) = round();
                let mut batch = WriteBatch::new();
                if flat {
                    // As `coalesce` leaves short buffers: copied together.
                    batch.push(Bytes::from(out.concat()));
                } else {
                    out.into_iter().for_each(|b| batch.push(b));
                }
                batch.advance(written);
                let first = spans.iter().position(|&b| b >= written);
                let want = first.map_or(&[][..], |k| &msgs[k..]);
                assert_eq!(
                    marks.unsent(&batch, total),
                    want,
                    "cut at {written}, flat {flat}"
                );
            }
        }
    }

    #[test]
    fn short_writes_resume_at_the_right_byte() {
        compio::runtime::Runtime::new()
            .expect("runtime")
            .block_on(async {
                for limit in [1, 2, 3, 5, 7, 16, 100, 1 << 20] {
                    let (batch, expected) = frames();
                    let mut w = Trickle {
                        limit,
                        out: Vec::new(),
                        calls: 0,
                    };
                    let BufResult(res, back) = write_all(&mut w, batch).await;
                    res.expect("write_all");
                    assert!(back.is_empty());
                    assert_eq!(w.out, expected, "limit {limit}");
                    assert_eq!(w.calls, expected.len().div_ceil(limit), "limit {limit}");
                }
            });
    }

    #[test]
    fn large_batch_over_tcp_arrives_whole() {
        // 16 MiB in 4 KiB Bytes through loopback while the reader is slow
        // to start: the kernel cuts writes short, and IOV_MAX caps each one.
        compio::runtime::Runtime::new()
            .expect("runtime")
            .block_on(async {
                let listener = TcpListener::bind("127.0.0.1:0").await.expect("bind");
                let addr = listener.local_addr().expect("addr");
                let reader = compio::runtime::spawn(async move {
                    let (mut s, _) = listener.accept().await.expect("accept");
                    let BufResult(res, buf) = s.read_to_end(Vec::new()).await;
                    res.expect("read");
                    buf
                });
                let mut stream = TcpStream::connect(addr).await.expect("connect");
                let mut batch = WriteBatch::new();
                let mut expected = Vec::with_capacity(16 << 20);
                for i in 0..4096u32 {
                    let part = Bytes::from(vec![(i % 251) as u8; 4096]);
                    expected.extend_from_slice(&part);
                    batch.push(part);
                }
                let BufResult(res, _) = write_all(&mut stream, batch).await;
                res.expect("write_all");
                drop(stream);
                let got = reader.await.expect("reader task");
                assert_eq!(got.len(), expected.len());
                assert!(got == expected, "bytes differ");
            });
    }
}
