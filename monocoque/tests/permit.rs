//! Sends that give their message back: `try_send_or_return`, and
//! `reserve_async` with its `Permit`, which a `select!` may drop without
//! losing anything.

#![allow(clippy::unwrap_used)]

use std::time::Duration;

use futures_lite::future::{block_on, or};
use monocoque::{Context, Error, Message, SocketType};

#[test]
fn a_full_send_gives_the_message_back() {
    let ctx = Context::new();
    let push = ctx.socket(SocketType::Push).unwrap();
    let msg = Message::from(vec![bytes::Bytes::from("a"), bytes::Bytes::from("b")]);
    let unsent = push.try_send_or_return(msg).unwrap_err();
    assert!(matches!(unsent.error, Error::WouldBlock));
    assert_eq!(unsent.message.len(), 2);
    // The same message goes once there is a peer.
    let pull = ctx.socket(SocketType::Pull).unwrap();
    pull.bind("inproc://give-back").unwrap();
    push.connect("inproc://give-back").unwrap();
    push.try_send_or_return(unsent.message).unwrap();
    assert_eq!(pull.recv().unwrap().len(), 2);
}

#[test]
fn a_cancelled_reserve_loses_nothing_and_a_later_one_sends_the_same_message() {
    let ctx = Context::new();
    let push = ctx.socket(SocketType::Push).unwrap();
    let msg = Message::from("only once");
    // A select! whose other branch wins drops the reserve.
    let timed_out = block_on(or(
        async {
            let _permit = push.reserve_async().await.unwrap();
            false
        },
        async {
            std::thread::sleep(Duration::from_millis(20));
            true
        },
    ));
    assert!(timed_out);
    let pull = ctx.socket(SocketType::Pull).unwrap();
    pull.bind("inproc://reserve").unwrap();
    push.connect("inproc://reserve").unwrap();
    block_on(async {
        let permit = push.reserve_async().await.unwrap();
        permit.send(msg).unwrap();
    });
    assert_eq!(&pull.recv().unwrap()[0][..], b"only once");
}

#[test]
fn reserve_waits_for_room_and_honours_sndtimeo() {
    let ctx = Context::new();
    let pull = ctx.socket(SocketType::Pull).unwrap();
    pull.update_options(|o| o.rcvhwm = 1);
    pull.bind("inproc://reserve-room").unwrap();
    let push = ctx.socket(SocketType::Push).unwrap();
    push.update_options(|o| {
        o.sndhwm = 1;
        o.sndtimeo = Some(Duration::from_millis(50));
    });
    push.connect("inproc://reserve-room").unwrap();
    while push.try_send("fill").is_ok() {}
    let r = block_on(push.reserve_async());
    assert!(matches!(r, Err(Error::WouldBlock)), "{r:?}");
    // Room comes: the reserve returns and the permit's send succeeds.
    push.update_options(|o| o.sndtimeo = Some(Duration::from_secs(5)));
    let reader = std::thread::spawn(move || {
        std::thread::sleep(Duration::from_millis(30));
        pull.recv().unwrap();
        pull
    });
    block_on(async {
        let permit = push.reserve_async().await.unwrap();
        permit.send("after room").unwrap();
    });
    drop(reader.join().unwrap());
}

#[test]
fn definite_failures_say_why() {
    let ctx = Context::new();
    let pull = ctx.socket(SocketType::Pull).unwrap();
    let unsent = pull.try_send_or_return("x").unwrap_err();
    assert!(matches!(unsent.error, Error::NotSupported(_)));
    let req = ctx.socket(SocketType::Req).unwrap();
    let rep = ctx.socket(SocketType::Rep).unwrap();
    rep.bind("inproc://definite").unwrap();
    req.connect("inproc://definite").unwrap();
    req.send("q").unwrap();
    let unsent = req.try_send_or_return("out of turn").unwrap_err();
    assert!(matches!(unsent.error, Error::State));
    let empty = req.try_send_or_return(Message::new()).unwrap_err();
    assert!(matches!(empty.error, Error::Invalid(_)));
}
