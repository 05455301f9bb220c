//! The examples run as tests, with small counts: each is included as a
//! module and its `run` functions are called (so `cargo test` both builds
//! and runs them).

#![allow(clippy::unwrap_used)]

#[allow(dead_code)]
#[path = "../examples/lazy_pirate.rs"]
mod lazy_pirate;
#[allow(dead_code)]
#[path = "../examples/poll_loop.rs"]
mod poll_loop;

use monocoque::{Context, SocketType};

#[test]
fn lazy_pirate_recovers_from_a_slow_server() {
    let server_ctx = Context::new();
    let rep = server_ctx.socket(SocketType::Rep).unwrap();
    rep.bind("tcp://127.0.0.1:*").unwrap();
    let endpoint = rep.last_endpoint().unwrap();
    let server = std::thread::spawn(move || lazy_pirate::run_server(&rep, 4));
    let report = lazy_pirate::run_client(&Context::new(), &endpoint, 10).unwrap();
    assert_eq!(report.replies, 10);
    assert!(
        report.retries >= 1,
        "the slow replies made it retry: {report:?}"
    );
    server_ctx.shutdown();
    server.join().unwrap().unwrap();
}

#[test]
fn lazy_pirate_gives_up_on_a_server_that_is_gone() {
    // Nobody listens: every try times out.
    let port = std::net::TcpListener::bind("127.0.0.1:0")
        .unwrap()
        .local_addr()
        .unwrap()
        .port();
    let r = lazy_pirate::run_client(&Context::new(), &format!("tcp://127.0.0.1:{port}"), 1);
    assert!(r.is_err());
}

#[test]
fn poll_loop_serves_both_sockets() {
    let got = poll_loop::run(50).unwrap();
    assert_eq!(
        got,
        poll_loop::Counts {
            tasks: 50,
            updates: 50
        }
    );
}
