//! The examples run as tests, with small counts: each is included as a
//! module and its `run` functions are called (so `cargo test` both builds
//! and runs them).

#![allow(clippy::unwrap_used)]

#[allow(dead_code)]
#[path = "../examples/hello_client.rs"]
mod hello_client;
#[allow(dead_code)]
#[path = "../examples/hello_server.rs"]
mod hello_server;
#[allow(dead_code)]
#[path = "../examples/lazy_pirate.rs"]
mod lazy_pirate;
#[allow(dead_code)]
#[path = "../examples/lb_broker.rs"]
mod lb_broker;
#[allow(dead_code)]
#[path = "../examples/poll_loop.rs"]
mod poll_loop;
#[allow(dead_code)]
#[path = "../examples/task_sink.rs"]
mod task_sink;
#[allow(dead_code)]
#[path = "../examples/task_ventilator.rs"]
mod task_ventilator;
#[allow(dead_code)]
#[path = "../examples/task_worker.rs"]
mod task_worker;
#[allow(dead_code)]
#[path = "../examples/tokio_server.rs"]
mod tokio_server;
#[allow(dead_code)]
#[path = "../examples/weather_client.rs"]
mod weather_client;
#[allow(dead_code)]
#[path = "../examples/weather_server.rs"]
mod weather_server;

use std::time::Duration;

use monocoque::{Context, Error, SocketType};

/// Runs `f` on a thread and fails the test if it has not finished within
/// `secs`: an example that hangs (a lost message, a broker that stopped
/// early) fails instead of stalling the suite.
fn within<T: Send + 'static>(secs: u64, f: impl FnOnce() -> T + Send + 'static) -> T {
    let (tx, rx) = std::sync::mpsc::channel();
    std::thread::spawn(move || {
        let _ = tx.send(f());
    });
    match rx.recv_timeout(Duration::from_secs(secs)) {
        Ok(t) => t,
        Err(std::sync::mpsc::RecvTimeoutError::Timeout) => panic!("not done within {secs} s"),
        Err(std::sync::mpsc::RecvTimeoutError::Disconnected) => {
            panic!("the example or a check of it panicked (see above)")
        }
    }
}

#[test]
fn hello_client_gets_a_world_for_each_hello() {
    within(20, || {
        let server_ctx = Context::new();
        let rep = server_ctx.socket(SocketType::Rep).unwrap();
        rep.bind("tcp://127.0.0.1:*").unwrap();
        let endpoint = rep.last_endpoint().unwrap();
        let server =
            std::thread::spawn(move || hello_server::run_server(&rep, Duration::from_millis(1)));
        let worlds = hello_client::run_client(&Context::new(), &endpoint, 5).unwrap();
        assert_eq!(worlds, 5);
        server_ctx.shutdown();
        assert_eq!(server.join().unwrap().unwrap(), 5);
    });
}

#[test]
fn hello_client_refuses_a_reply_that_is_not_world() {
    within(20, || {
        let server_ctx = Context::new();
        let rep = server_ctx.socket(SocketType::Rep).unwrap();
        rep.bind("tcp://127.0.0.1:*").unwrap();
        let endpoint = rep.last_endpoint().unwrap();
        // A server that answers every request, but never with "World".
        let server = std::thread::spawn(
            move || {
                while rep.recv().is_ok() && rep.send("Mars").is_ok() {}
            },
        );
        let r = hello_client::run_client(&Context::new(), &endpoint, 3);
        assert!(matches!(r, Err(Error::Invalid(_))), "{r:?}");
        server_ctx.shutdown();
        server.join().unwrap();
    });
}

#[test]
fn weather_client_averages_its_zip_code_only() {
    within(20, || {
        let server_ctx = Context::new();
        let publisher = server_ctx.socket(SocketType::Pub).unwrap();
        publisher.bind("tcp://127.0.0.1:*").unwrap();
        let endpoint = publisher.last_endpoint().unwrap();
        // Ten zip codes, not all of them: the client's comes often.
        let server =
            std::thread::spawn(move || weather_server::run_server(&publisher, 10_000..10_010));
        let forecast = weather_client::run_client(&Context::new(), &endpoint, 10_001, 20).unwrap();
        server_ctx.shutdown();
        let published = server.join().unwrap().unwrap();
        assert_eq!(forecast.updates, 20);
        assert_eq!(
            forecast.strays, 0,
            "the PUB sent only the zip code asked for"
        );
        assert!((-80.0..135.0).contains(&forecast.average), "{forecast:?}");
        assert!(published >= 20, "{published}");
    });
}

#[test]
fn task_pipeline_sink_gets_every_result() {
    const WORKERS: usize = 3;
    const TASKS: usize = 30;
    within(30, || {
        let ctx = Context::new();
        let vent = ctx.socket(SocketType::Push).unwrap();
        vent.bind("tcp://127.0.0.1:*").unwrap();
        let tasks_at = vent.last_endpoint().unwrap();
        let results = ctx.socket(SocketType::Pull).unwrap();
        results.bind("tcp://127.0.0.1:*").unwrap();
        let results_at = results.last_endpoint().unwrap();

        let workers: Vec<_> = (0..WORKERS)
            .map(|_| {
                let tasks = ctx.socket(SocketType::Pull).unwrap();
                tasks.connect(&tasks_at).unwrap();
                let results = ctx.socket(SocketType::Push).unwrap();
                results.connect(&results_at).unwrap();
                std::thread::spawn(move || task_worker::run_worker(&tasks, &results, |_| {}))
            })
            .collect();
        let sink = std::thread::spawn(move || task_sink::run_sink(&results, TASKS));
        // What the ventilator's Enter is for: every worker connected, so
        // every one gets a share.
        while vent.peer_count() < WORKERS {
            std::thread::sleep(Duration::from_millis(5));
        }
        let to_sink = ctx.socket(SocketType::Push).unwrap();
        to_sink.connect(&results_at).unwrap();
        let batch = task_ventilator::run_ventilator(&vent, &to_sink, TASKS, 1..=3).unwrap();
        assert_eq!(batch.tasks, TASKS);

        let collected = sink.join().unwrap().unwrap();
        assert_eq!(collected.results, TASKS);
        assert_eq!(collected.work_ms, batch.work_ms);
        ctx.shutdown();
        let done: Vec<_> = workers
            .into_iter()
            .map(|w| w.join().unwrap().unwrap())
            .collect();
        assert!(done.iter().all(|d| d.tasks > 0), "a share each: {done:?}");
        assert_eq!(done.iter().map(|d| d.tasks).sum::<usize>(), TASKS);
        assert_eq!(done.iter().map(|d| d.work_ms).sum::<u64>(), batch.work_ms);
    });
}

#[test]
fn lb_broker_answers_every_client_with_every_worker() {
    let report = within(30, || {
        lb_broker::run(4, 3, 10, Duration::from_millis(2)).unwrap()
    });
    assert_eq!(report.replies, vec![10; 4]);
    assert_eq!(report.served.iter().sum::<usize>(), 40);
    assert!(report.served.iter().all(|&s| s > 0), "{report:?}");
}

#[test]
fn lb_broker_gives_each_request_to_the_longest_free_worker() {
    // One client, one request at a time: the worker that has waited
    // longest is the one that did not serve the last requests, so they
    // take turns (a broker that picked the most recently free one would
    // give every request to the same worker).
    let report = within(30, || {
        lb_broker::run(1, 3, 12, Duration::from_millis(2)).unwrap()
    });
    assert_eq!(report.replies, vec![12]);
    assert!(report.served.iter().all(|&s| s >= 2), "{report:?}");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn tokio_server_serves_until_asked_to_stop() {
    // Idle for ever, as far as the test goes: only the stop ends it.
    let run = tokio_server::run("tcp://127.0.0.1:*", 3, 20, true, Duration::from_secs(20));
    let (answers, served) = tokio::time::timeout(Duration::from_secs(15), run)
        .await
        .expect("stopped when asked")
        .unwrap();
    assert_eq!(answers, vec![20; 3]);
    assert_eq!(
        served,
        tokio_server::Served {
            requests: 60,
            stop: tokio_server::Stop::Asked
        }
    );
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn tokio_server_stops_when_idle() {
    let run = tokio_server::run("tcp://127.0.0.1:*", 2, 5, false, Duration::from_millis(500));
    let (answers, served) = tokio::time::timeout(Duration::from_secs(15), run)
        .await
        .unwrap()
        .unwrap();
    assert_eq!(answers, vec![5; 2]);
    assert_eq!(
        served,
        tokio_server::Served {
            requests: 10,
            stop: tokio_server::Stop::Idle
        }
    );
}

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
