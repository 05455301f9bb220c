//! The engine tasks' write: a [`WriteBatch`] of `Bytes` goes to the kernel in
//! vectored submissions until every byte is written (footgun 1).

use std::io;

use compio::buf::BufResult;
use compio::io::AsyncWrite;
use monocoque_core::alloc::WriteBatch;

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

#[cfg(test)]
mod tests {
    use super::*;
    use bytes::Bytes;
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
