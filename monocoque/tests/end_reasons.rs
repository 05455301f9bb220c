//! Why a connection ended reaches the monitor as a typed
//! [`EndReason`]: the peer closed, this side closed, a protocol fault, a
//! refused peer, a refused handshake, a deadline.
#![allow(clippy::unwrap_used)]

mod common;

use std::io::Write as _;
use std::net::TcpListener;
use std::time::{Duration, Instant};

use bytes::Bytes;
use common::{bind, sock, wait_peers, Tr, T};
use monocoque::{Context, EndReason, Monitor, MonitorEvent, ProtocolError, Security, SocketType};

/// The first `Disconnected` or `HandshakeFailed` event's reason, and
/// whether it was a handshake failure.
fn first_end(events: &Monitor) -> (bool, EndReason) {
    let deadline = Instant::now() + T;
    loop {
        let left = deadline.saturating_duration_since(Instant::now());
        match events.recv_timeout(left) {
            Some(MonitorEvent::Disconnected { reason, .. }) => return (false, reason),
            Some(ev) => {
                if let Some(why) = ev.handshake_failure() {
                    return (true, why.clone());
                }
            }
            None => panic!("no connection ended within {T:?}"),
        }
    }
}

#[test]
fn the_peer_closing_is_peer_closed() {
    let ctx = Context::new();
    let pull = sock(&ctx, SocketType::Pull);
    let events = pull.monitor();
    let ep = bind(&pull, Tr::Tcp);
    let push = sock(&ctx, SocketType::Push);
    push.connect(&ep).unwrap();
    wait_peers(&pull, 1);
    drop(push);
    assert_eq!(first_end(&events), (false, EndReason::PeerClosed));
}

#[test]
fn a_disconnect_is_closed() {
    let ctx = Context::new();
    let pull = sock(&ctx, SocketType::Pull);
    let ep = bind(&pull, Tr::Tcp);
    let push = sock(&ctx, SocketType::Push);
    let events = push.monitor();
    push.connect(&ep).unwrap();
    wait_peers(&push, 1);
    push.disconnect(&ep).unwrap();
    assert_eq!(first_end(&events), (false, EndReason::Closed));
}

#[test]
fn a_mechanism_mismatch_is_a_peer_fault_with_its_protocol_error() {
    let ctx = Context::new();
    let pull = sock(&ctx, SocketType::Pull);
    pull.update_options(|o| o.security = Security::PlainServer { credentials: None });
    let events = pull.monitor();
    let ep = bind(&pull, Tr::Tcp);
    let push = sock(&ctx, SocketType::Push);
    push.connect(&ep).unwrap();
    let (handshake, why) = first_end(&events);
    assert!(handshake);
    assert!(
        matches!(
            &why,
            EndReason::Peer(ProtocolError::MechanismMismatch { .. })
        ),
        "{why:?}"
    );
    assert!(why.is_peer_fault());
}

#[test]
fn wrong_credentials_are_refused_with_the_zap_status() {
    let ctx = Context::new();
    let pull = sock(&ctx, SocketType::Pull);
    pull.update_options(|o| {
        o.security = Security::PlainServer {
            credentials: Some((Bytes::from("admin"), Bytes::from("secret"))),
        }
    });
    let events = pull.monitor();
    let ep = bind(&pull, Tr::Tcp);
    let push = sock(&ctx, SocketType::Push);
    push.update_options(|o| {
        o.security = Security::PlainClient {
            username: Bytes::from("admin"),
            password: Bytes::from("guess"),
        }
    });
    push.connect(&ep).unwrap();
    let (handshake, why) = first_end(&events);
    assert!(handshake);
    match why {
        EndReason::Refused { status_code, .. } => assert_eq!(status_code, "400"),
        other => panic!("expected a refusal, got {other:?}"),
    }
}

#[test]
fn a_second_pair_peer_is_rejected_by_the_socket() {
    let ctx = Context::new();
    let a = sock(&ctx, SocketType::Pair);
    let events = a.monitor();
    let ep = bind(&a, Tr::Tcp);
    let b = sock(&ctx, SocketType::Pair);
    b.connect(&ep).unwrap();
    wait_peers(&a, 1);
    let c = sock(&ctx, SocketType::Pair);
    c.connect(&ep).unwrap();
    let (handshake, why) = first_end(&events);
    assert!(handshake);
    assert!(matches!(why, EndReason::Rejected(_)), "{why:?}");
}

#[test]
fn a_silent_peer_is_a_handshake_timeout() {
    // A listener that accepts and says nothing.
    let silent = TcpListener::bind("127.0.0.1:0").unwrap();
    let addr = silent.local_addr().unwrap();
    let keep = std::thread::spawn(move || {
        let (mut s, _) = silent.accept().unwrap();
        std::thread::sleep(Duration::from_secs(1));
        let _ = s.flush();
    });
    let ctx = Context::new();
    let push = sock(&ctx, SocketType::Push);
    push.update_options(|o| o.handshake_ivl = Some(Duration::from_millis(100)));
    let events = push.monitor();
    push.connect(&format!("tcp://{addr}")).unwrap();
    let (handshake, why) = first_end(&events);
    assert!(handshake);
    assert_eq!(why, EndReason::Timeout(ProtocolError::HandshakeTimeout));
    drop(push);
    keep.join().unwrap();
}

#[test]
fn inproc_links_report_their_end_too() {
    let ctx = Context::new();
    let pull = sock(&ctx, SocketType::Pull);
    let events = pull.monitor();
    let ep = bind(&pull, Tr::Inproc);
    let push = sock(&ctx, SocketType::Push);
    let push_events = push.monitor();
    push.connect(&ep).unwrap();
    wait_peers(&pull, 1);
    drop(push);
    // The side that closed ended it; its peer saw the peer go.
    assert_eq!(first_end(&push_events), (false, EndReason::Closed));
    assert_eq!(first_end(&events), (false, EndReason::PeerClosed));
}
