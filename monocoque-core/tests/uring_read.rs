//! Real kernel reads through compio (io_uring where the kernel has it) into
//! `SlabMut` regions: a TCP socket and a pipe, short reads included.

use std::io::Write;
use std::net::TcpStream as StdTcpStream;

use compio::buf::{BufResult, IoBuf};
use compio::driver::DriverType;
use compio::io::{AsyncRead, AsyncWriteExt};
use compio::net::TcpListener;
use compio::runtime::Runtime;
use monocoque_core::alloc::Arena;

fn runtime() -> Runtime {
    let rt = Runtime::new().expect("compio runtime");
    if rt.driver_type() != DriverType::IoUring {
        eprintln!(
            "note: io_uring unavailable, compio runs {:?}",
            rt.driver_type()
        );
    }
    rt
}

#[test]
fn tcp_reads_land_in_slab_regions_and_freeze_without_copy() {
    runtime().block_on(async {
        let listener = TcpListener::bind("127.0.0.1:0").await.expect("bind");
        let addr = listener.local_addr().expect("addr");
        let writer = std::thread::spawn(move || {
            let mut s = StdTcpStream::connect(addr).expect("connect");
            // A short burst first: the read below offers 64 KiB, gets 5.
            s.write_all(b"hello").expect("write");
            std::thread::sleep(std::time::Duration::from_millis(50));
            let body: Vec<u8> = (0..200_000u32).map(|i| i as u8).collect();
            s.write_all(&body).expect("write");
        });
        let (mut stream, _) = listener.accept().await.expect("accept");
        let mut arena = Arena::default();

        let BufResult(n, region) = stream.read(arena.alloc(64 * 1024)).await;
        let n = n.expect("read");
        assert_eq!(n, 5, "the first read is short");
        assert_eq!(region.len(), 5, "init tracks what the kernel wrote");
        let ptr = region.as_init().as_ptr();
        let hello = region.freeze(n);
        assert_eq!(&hello[..], b"hello");
        assert_eq!(hello.as_ptr(), ptr, "freeze does not copy");

        let mut received = Vec::new();
        let mut chunks = 0;
        while received.len() < 200_000 {
            let BufResult(n, region) = stream.read(arena.alloc(64 * 1024)).await;
            let n = n.expect("read");
            assert!(n > 0, "peer closed early");
            assert!(n <= 64 * 1024);
            received.extend_from_slice(&region.freeze(n));
            chunks += 1;
        }
        assert!(
            chunks >= 4,
            "200 KB cannot fit in fewer than four 64 KiB reads"
        );
        let expected: Vec<u8> = (0..200_000u32).map(|i| i as u8).collect();
        assert_eq!(received, expected);
        writer.join().expect("writer");
    });
}

#[test]
fn pipe_reads_land_in_slab_regions() {
    runtime().block_on(async {
        let (mut rx, mut tx) = compio::fs::pipe::anonymous().await.expect("pipe");
        let BufResult(res, _) = tx.write_all(b"0123456789").await;
        res.expect("write");
        let mut arena = Arena::new(4096, 2);

        // Offer 4 bytes of a 10-byte pipe: the read fills exactly the region.
        let BufResult(n, region) = rx.read(arena.alloc(4)).await;
        assert_eq!(n.expect("read"), 4);
        assert_eq!(&region.freeze(4)[..], b"0123");

        // Offer 100 bytes for the 6 left: a short read.
        let BufResult(n, region) = rx.read(arena.alloc(100)).await;
        let n = n.expect("read");
        assert_eq!(n, 6);
        assert_eq!(region.capacity(), 100);
        assert_eq!(region.len(), 6);
        assert_eq!(&region.freeze(n)[..], b"456789");

        drop(tx);
        let BufResult(n, region) = rx.read(arena.alloc(16)).await;
        assert_eq!(n.expect("read at eof"), 0);
        assert!(region.is_empty());
    });
}
