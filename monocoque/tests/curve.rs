//! CURVE between Monocoque sockets over tcp and ipc: the handshake, the
//! ready-made [`Authenticator`] with a key allow list, the user id it
//! gives, and a wrong server key refused on both sides.
#![allow(clippy::unwrap_used)]

mod common;

use std::time::Instant;

use common::{bind, sock, Tr, T};
use monocoque::{
    curve_keypair, AuthRules, Authenticator, Context, EndReason, Monitor, MonitorEvent, Security,
    SocketType,
};

/// The first handshake result on `events`.
fn handshake(events: &Monitor) -> Result<(), EndReason> {
    let deadline = Instant::now() + T;
    loop {
        let left = deadline.saturating_duration_since(Instant::now());
        match events.recv_timeout(left) {
            Some(MonitorEvent::HandshakeSucceeded { .. }) => return Ok(()),
            Some(ev) => {
                if let Some(why) = ev.handshake_failure() {
                    return Err(why.clone());
                }
            }
            None => panic!("no handshake result within {T:?}"),
        }
    }
}

#[test]
fn curve_carries_messages_both_ways_over_tcp_and_ipc() {
    for tr in [Tr::Tcp, Tr::Ipc] {
        let ctx = Context::new();
        let (server_public, server_secret) = curve_keypair();
        let rep = sock(&ctx, SocketType::Rep);
        rep.update_options(|o| {
            o.security = Security::CurveServer {
                secret: server_secret,
            }
        });
        let ep = bind(&rep, tr);
        let (public, secret) = curve_keypair();
        let req = sock(&ctx, SocketType::Req);
        req.update_options(|o| {
            o.security = Security::CurveClient {
                server: server_public,
                public,
                secret,
            }
        });
        req.connect(&ep).unwrap();
        for i in 0..20 {
            let body = format!("secret {i} {}", "x".repeat(i * 100));
            req.send(body.clone()).unwrap();
            let got = rep.recv().unwrap();
            assert_eq!(&got[0][..], body.as_bytes(), "{tr:?}");
            rep.send(got).unwrap();
            assert_eq!(&req.recv().unwrap()[0][..], body.as_bytes(), "{tr:?}");
        }
    }
}

#[test]
fn the_authenticator_admits_listed_keys_and_names_them() {
    let ctx = Context::new();
    let (good_public, good_secret) = curve_keypair();
    let _auth = Authenticator::start(
        &ctx,
        AuthRules {
            curve_keys: Some(vec![good_public]),
            ..AuthRules::default()
        },
    )
    .unwrap();
    let (server_public, server_secret) = curve_keypair();
    let pull = sock(&ctx, SocketType::Pull);
    pull.update_options(|o| {
        o.security = Security::CurveServer {
            secret: server_secret,
        }
    });
    let events = pull.monitor();
    let ep = bind(&pull, Tr::Tcp);
    let good = sock(&ctx, SocketType::Push);
    good.update_options(|o| {
        o.security = Security::CurveClient {
            server: server_public,
            public: good_public,
            secret: good_secret,
        }
    });
    good.connect(&ep).unwrap();
    assert_eq!(handshake(&events), Ok(()));
    good.send("let in").unwrap();
    let got = pull.recv().unwrap();
    assert_eq!(&got[0][..], b"let in");
    assert_eq!(
        got.property("User-Id"),
        Some(good_public.to_z85().as_bytes())
    );
    let (stranger_public, stranger_secret) = curve_keypair();
    let stranger = sock(&ctx, SocketType::Push);
    let stranger_events = stranger.monitor();
    stranger.update_options(|o| {
        o.security = Security::CurveClient {
            server: server_public,
            public: stranger_public,
            secret: stranger_secret,
        }
    });
    stranger.connect(&ep).unwrap();
    match handshake(&events) {
        Err(EndReason::Refused { status_code, .. }) => assert_eq!(status_code, "400"),
        other => panic!("the server should refuse the stranger: {other:?}"),
    }
    // The client is told too, at once.
    assert!(handshake(&stranger_events).is_err());
}

#[test]
fn a_wrong_server_key_fails_on_both_sides() {
    let ctx = Context::new();
    let (_server_public, server_secret) = curve_keypair();
    let pull = sock(&ctx, SocketType::Pull);
    pull.update_options(|o| {
        o.security = Security::CurveServer {
            secret: server_secret,
        }
    });
    let events = pull.monitor();
    let ep = bind(&pull, Tr::Tcp);
    let (impostor, _) = curve_keypair();
    let (public, secret) = curve_keypair();
    let push = sock(&ctx, SocketType::Push);
    let push_events = push.monitor();
    push.update_options(|o| {
        o.security = Security::CurveClient {
            server: impostor,
            public,
            secret,
        }
    });
    push.connect(&ep).unwrap();
    let server = handshake(&events).expect_err("the server cannot open the hello");
    assert!(server.is_peer_fault(), "{server:?}");
    assert!(handshake(&push_events).is_err());
}
