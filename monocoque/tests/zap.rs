//! ZAP (RFC 27): a handler is whatever socket binds
//! `inproc://zeromq.zap.01` in the same context, as with libzmq; here a
//! plain REP decides PLAIN and NULL handshakes over tcp.
#![allow(clippy::unwrap_used)]

mod common;

use std::sync::{Arc, Mutex};
use std::thread::JoinHandle;
use std::time::{Duration, Instant};

use bytes::Bytes;
use common::{bind, sock, wait_peers, Tr, T};
use monocoque::{Context, EndReason, Monitor, MonitorEvent, Security, SocketType};

/// One request as the handler saw it: mechanism, domain, address, and the
/// credentials.
type Seen = (String, String, String, Vec<String>);

/// A REP handler on `inproc://zeromq.zap.01` that admits user "admin"
/// with password "secret" (user id "admin-id"), and NULL peers unless the
/// domain is "closed"; everything else gets 400. Records what it saw.
fn handler(ctx: &Context) -> (Arc<Mutex<Vec<Seen>>>, JoinHandle<()>) {
    let rep = ctx.socket(SocketType::Rep).unwrap();
    rep.update_options(|o| o.rcvtimeo = Some(Duration::from_millis(50)));
    rep.bind("inproc://zeromq.zap.01").unwrap();
    let seen = Arc::new(Mutex::new(Vec::new()));
    let log = seen.clone();
    let t = std::thread::spawn(move || {
        let deadline = Instant::now() + 2 * T;
        while Instant::now() < deadline {
            let Ok(req) = rep.recv() else { continue };
            let f: Vec<String> = req
                .frames()
                .iter()
                .map(|b| String::from_utf8_lossy(b).into_owned())
                .collect();
            if f.first().map(String::as_str) == Some("stop") {
                return;
            }
            let (mechanism, domain, address) = (f[5].clone(), f[2].clone(), f[3].clone());
            let creds = f[6..].to_vec();
            let ok = match mechanism.as_str() {
                "PLAIN" => creds == ["admin", "secret"],
                "NULL" => domain != "closed",
                _ => false,
            };
            log.lock()
                .unwrap()
                .push((mechanism, domain, address, creds));
            let (code, text, user) = if ok {
                ("200", "OK", "admin-id")
            } else {
                ("400", "no", "")
            };
            let reply: monocoque::Message = ["1.0", &f[1], code, text, user, ""]
                .iter()
                .map(|s| Bytes::copy_from_slice(s.as_bytes()))
                .collect();
            rep.send(reply).unwrap();
        }
    });
    (seen, t)
}

/// Stops the handler thread.
fn stop(ctx: &Context, t: JoinHandle<()>) {
    let req = ctx.socket(SocketType::Req).unwrap();
    req.connect("inproc://zeromq.zap.01").unwrap();
    req.send("stop").unwrap();
    t.join().unwrap();
}

/// The first handshake result on `events`: `Ok(())` for success, the
/// reason for a failure.
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

fn refused_with(r: Result<(), EndReason>, code: &str) {
    match r {
        Err(EndReason::Refused { status_code, .. }) => assert_eq!(status_code, code),
        other => panic!("expected a refusal with {code}, got {other:?}"),
    }
}

#[test]
fn a_rep_handler_decides_plain_handshakes() {
    let ctx = Context::new();
    let (seen, t) = handler(&ctx);
    let pull = sock(&ctx, SocketType::Pull);
    pull.update_options(|o| {
        o.security = Security::PlainServer { credentials: None };
        o.zap_domain = Some(Bytes::from("test"));
    });
    let events = pull.monitor();
    let ep = bind(&pull, Tr::Tcp);
    let good = sock(&ctx, SocketType::Push);
    good.update_options(|o| {
        o.security = Security::PlainClient {
            username: Bytes::from("admin"),
            password: Bytes::from("secret"),
        }
    });
    good.connect(&ep).unwrap();
    assert_eq!(handshake(&events), Ok(()));
    good.send("through").unwrap();
    let got = pull.recv().unwrap();
    assert_eq!(&got[0][..], b"through");
    // What the handler said of the peer travels with its messages.
    assert_eq!(got.property("User-Id"), Some(&b"admin-id"[..]));
    assert_eq!(got.property("peer-address"), Some(&b"127.0.0.1"[..]));
    assert_eq!(got.property("Socket-Type"), Some(&b"PUSH"[..]));
    let bad = sock(&ctx, SocketType::Push);
    bad.update_options(|o| {
        o.security = Security::PlainClient {
            username: Bytes::from("admin"),
            password: Bytes::from("guess"),
        }
    });
    bad.connect(&ep).unwrap();
    refused_with(handshake(&events), "400");
    stop(&ctx, t);
    let seen = seen.lock().unwrap();
    assert_eq!(seen.len(), 2, "{seen:?}");
    assert_eq!(
        seen[0],
        (
            "PLAIN".into(),
            "test".into(),
            "127.0.0.1".into(),
            vec!["admin".into(), "secret".into()]
        )
    );
    assert_eq!(seen[1].3, ["admin", "guess"]);
}

#[test]
fn null_asks_the_handler_only_with_a_domain() {
    let ctx = Context::new();
    let (seen, t) = handler(&ctx);
    let pull = sock(&ctx, SocketType::Pull);
    pull.update_options(|o| o.zap_domain = Some(Bytes::from("closed")));
    let events = pull.monitor();
    let ep = bind(&pull, Tr::Tcp);
    let push = sock(&ctx, SocketType::Push);
    push.connect(&ep).unwrap();
    refused_with(handshake(&events), "400");
    // No domain: NULL does not ask, and is admitted.
    let open = sock(&ctx, SocketType::Pull);
    let events = open.monitor();
    let ep = bind(&open, Tr::Tcp);
    let push = sock(&ctx, SocketType::Push);
    push.connect(&ep).unwrap();
    assert_eq!(handshake(&events), Ok(()));
    wait_peers(&open, 1);
    stop(&ctx, t);
    let seen = seen.lock().unwrap();
    assert_eq!(
        seen.len(),
        1,
        "only the socket with a domain asked: {seen:?}"
    );
    assert_eq!((seen[0].0.as_str(), seen[0].1.as_str()), ("NULL", "closed"));
}

#[test]
fn without_a_handler_enforce_domain_refuses_and_the_default_admits() {
    let ctx = Context::new();
    let strict = sock(&ctx, SocketType::Pull);
    strict.update_options(|o| {
        o.zap_domain = Some(Bytes::from("any"));
        o.zap_enforce_domain = true;
    });
    let events = strict.monitor();
    let ep = bind(&strict, Tr::Tcp);
    let push = sock(&ctx, SocketType::Push);
    push.connect(&ep).unwrap();
    refused_with(handshake(&events), "500");
    let lax = sock(&ctx, SocketType::Pull);
    lax.update_options(|o| o.zap_domain = Some(Bytes::from("any")));
    let events = lax.monitor();
    let ep = bind(&lax, Tr::Tcp);
    let push = sock(&ctx, SocketType::Push);
    push.connect(&ep).unwrap();
    assert_eq!(handshake(&events), Ok(()));
}

#[test]
fn announced_metadata_travels_with_messages_and_plain_peers_carry_nothing() {
    let ctx = Context::new();
    let pull = sock(&ctx, SocketType::Pull);
    let ep = bind(&pull, Tr::Tcp);
    let fancy = sock(&ctx, SocketType::Push);
    fancy.update_options(|o| o.metadata = vec![("X-Colour".into(), Bytes::from("green"))]);
    fancy.connect(&ep).unwrap();
    fancy.send("from fancy").unwrap();
    let got = pull.recv().unwrap();
    assert_eq!(got.property("x-colour"), Some(&b"green"[..]));
    assert_eq!(got.property("Socket-Type"), Some(&b"PUSH"[..]));
    assert_eq!(got.property("User-Id"), None);
    drop(fancy);
    let plain = sock(&ctx, SocketType::Push);
    plain.connect(&ep).unwrap();
    plain.send("from plain").unwrap();
    let got = pull.recv().unwrap();
    assert_eq!(&got[0][..], b"from plain");
    assert!(
        got.properties().is_none(),
        "a peer with nothing to say costs nothing"
    );
}
