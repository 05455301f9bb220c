//! 100 DEALERs x 10,000 messages through one ROUTER and back: every
//! message is delivered exactly once, over tcp and over inproc.
#![allow(clippy::unwrap_used)]

mod common;

use std::time::{Duration, Instant};

use bytes::Bytes;
use common::*;
use monocoque::{Context, Error, Message, SocketType};

const DEALERS: usize = 100;
const MESSAGES: u32 = 10_000;
/// Requests each DEALER keeps in flight: well under every HWM, so the echo
/// never meets a full pipe and nothing may be dropped.
const WINDOW: u32 = 64;
/// A generous bound, so a lost message fails the test instead of hanging it.
const DEADLINE: Duration = Duration::from_secs(120);

fn dealers_through_router(tr: Tr) {
    let n = MESSAGES;
    let ctx = Context::new();
    let router = sock(&ctx, SocketType::Router);
    router.update_options(|o| o.router_mandatory = true);
    let ep = bind(&router, tr);
    let dealers: Vec<_> = (0..DEALERS)
        .map(|_| {
            let d = sock(&ctx, SocketType::Dealer);
            d.connect(&ep).unwrap();
            d
        })
        .collect();
    wait_peers(&router, DEALERS);

    // The ROUTER echoes every message to whoever sent it.
    let echo = std::thread::spawn(move || {
        let total = DEALERS * n as usize;
        for _ in 0..total {
            let m = router.recv().expect("the ROUTER starved");
            router.send(m).unwrap();
        }
        // Nothing more comes: no duplicate reached the ROUTER.
        router.update_options(|o| o.rcvtimeo = Some(QUIET));
        assert!(matches!(router.recv(), Err(Error::WouldBlock)));
        router
    });

    // One thread drives every DEALER without blocking.
    let start = Instant::now();
    let mut sent = [0u32; DEALERS];
    let mut seen: Vec<Vec<bool>> = vec![vec![false; n as usize]; DEALERS];
    let mut received = [0u32; DEALERS];
    let mut done = 0;
    while done < DEALERS {
        assert!(start.elapsed() < DEADLINE, "stalled: {received:?}");
        let mut progress = false;
        for (i, d) in dealers.iter().enumerate() {
            while sent[i] < n && sent[i] - received[i] < WINDOW {
                let body = Message::from(Bytes::copy_from_slice(&sent[i].to_be_bytes()));
                match d.try_send(body) {
                    Ok(()) => sent[i] += 1,
                    Err(Error::WouldBlock) => break,
                    Err(e) => panic!("{e}"),
                }
                progress = true;
            }
            loop {
                match d.try_recv() {
                    Ok(m) => {
                        assert_eq!(m.len(), 1);
                        let seq = u32::from_be_bytes(m[0][..].try_into().unwrap());
                        let slot = &mut seen[i][seq as usize];
                        assert!(!*slot, "dealer {i}: {seq} twice");
                        *slot = true;
                        received[i] += 1;
                        if received[i] == n {
                            done += 1;
                        }
                        progress = true;
                    }
                    Err(Error::WouldBlock) => break,
                    Err(e) => panic!("{e}"),
                }
            }
        }
        if !progress {
            std::thread::sleep(Duration::from_micros(200));
        }
    }
    assert!(seen.iter().all(|s| s.iter().all(|&b| b)));
    let _router = echo.join().unwrap();
    for d in &dealers {
        assert!(matches!(d.try_recv(), Err(Error::WouldBlock)));
    }
    eprintln!(
        "{tr:?}: {DEALERS} x {n} round trips in {:?}",
        start.elapsed()
    );
}

#[test]
fn dealers_through_router_tcp() {
    dealers_through_router(Tr::Tcp);
}

#[test]
fn dealers_through_router_inproc() {
    dealers_through_router(Tr::Inproc);
}
