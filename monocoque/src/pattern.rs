//! The messaging patterns (RFC 28 REQ/REP, 29 PUB/SUB, 30 PIPELINE, 31
//! PAIR, and libzmq's ROUTER and STREAM): what `send` and `recv` do for
//! each socket type. Runs on the caller's thread; never blocks.

use std::sync::Arc;

use bytes::Bytes;
use monocoque_core::router::PeerId;
use monocoque_zmtp::SocketType;

use crate::error::Error;
use crate::message::Message;
use crate::pipe::PipeCmd;
use crate::shared::{subscription_message, Outbox, Shared, State};

/// Why a send did not go out now.
pub(crate) enum SendError {
    /// Every eligible peer is full (or there is none): wait and retry. The
    /// message comes back untouched; an inproc peer to wait on may come too.
    Full(Message, Option<Arc<Shared>>),
    /// A definite failure.
    Fail(Error),
}

impl From<Error> for SendError {
    fn from(e: Error) -> Self {
        SendError::Fail(e)
    }
}

fn full(msg: Message, out: Option<&Outbox>) -> SendError {
    let target = match out {
        Some(Outbox::Inproc { target, .. }) => Some(target.clone()),
        _ => None,
    };
    SendError::Full(msg, target)
}

/// One attempt to send `msg`.
pub(crate) fn try_send(sh: &Shared, msg: Message) -> Result<(), SendError> {
    if msg.is_empty() {
        return Err(Error::Invalid("a message needs at least one frame").into());
    }
    if sh.is_closed() {
        return Err(Error::Terminated.into());
    }
    let mut st = sh.lock();
    match sh.ty {
        SocketType::Push | SocketType::Dealer | SocketType::Pair => lb_send(&mut st, msg).map(drop),
        SocketType::Req => req_send(&mut st, msg),
        SocketType::Rep => rep_send(&mut st, msg),
        SocketType::Router => router_send(&mut st, msg),
        SocketType::Pub | SocketType::Xpub => {
            fan_out(&mut st, msg);
            Ok(())
        }
        SocketType::Xsub => {
            drop(st);
            xsub_send(sh, msg);
            Ok(())
        }
        SocketType::Stream => stream_send(&mut st, msg),
        SocketType::Sub | SocketType::Pull => Err(Error::NotSupported(sh.ty.as_str()).into()),
    }
}

/// Round robin over the peers with room; returns the peer used.
fn lb_send(st: &mut State, mut msg: Message) -> Result<PeerId, SendError> {
    let mut last = None;
    for _ in 0..st.lb.len() {
        let Some(id) = st.lb.next() else { break };
        let Some(entry) = st.peers.get(id) else {
            continue;
        };
        match entry.out.push(msg) {
            Ok(()) => return Ok(id),
            Err(m) => {
                msg = m;
                last = Some(id);
            }
        }
    }
    let out = last.and_then(|id| st.peers.get(id)).map(|p| &p.out);
    Err(full(msg, out))
}

fn req_send(st: &mut State, mut msg: Message) -> Result<(), SendError> {
    if st.req_sent && !st.opts.req_relaxed {
        return Err(Error::State.into());
    }
    let correlate = st.opts.req_correlate;
    let id = st.req_id.wrapping_add(1);
    msg.push_front(Bytes::new());
    if correlate {
        msg.push_front(Bytes::copy_from_slice(&id.to_be_bytes()));
    }
    match lb_send(st, msg) {
        Ok(peer) => {
            st.req_id = id;
            st.req_peer = Some(peer);
            st.req_sent = true;
            Ok(())
        }
        Err(SendError::Full(mut m, t)) => {
            if correlate {
                m.pop_front();
            }
            m.pop_front();
            Err(SendError::Full(m, t))
        }
        Err(e) => Err(e),
    }
}

fn rep_send(st: &mut State, msg: Message) -> Result<(), SendError> {
    let Some((peer, mut env)) = st.rep_env.take() else {
        return Err(Error::State.into());
    };
    if let Some(entry) = st.peers.get(peer) {
        env.extend(msg);
        // A full or departed requester loses the reply, as with libzmq.
        let _ = entry.out.push(env);
    }
    Ok(())
}

fn router_send(st: &mut State, mut msg: Message) -> Result<(), SendError> {
    let mandatory = st.opts.router_mandatory;
    let Some(id) = msg.first() else {
        return Err(Error::Invalid("a ROUTER message starts with a routing id").into());
    };
    let Some(peer) = st.routing.peer(id) else {
        return if mandatory {
            Err(Error::HostUnreachable.into())
        } else {
            Ok(())
        };
    };
    let Some(entry) = st.peers.get(peer) else {
        return Ok(());
    };
    let rid = msg.pop_front().unwrap_or_default();
    match entry.out.push(msg) {
        Ok(()) => Ok(()),
        Err(mut m) if mandatory => {
            m.push_front(rid);
            Err(full(m, Some(&entry.out)))
        }
        Err(_) => Ok(()),
    }
}

fn stream_send(st: &mut State, mut msg: Message) -> Result<(), SendError> {
    if msg.len() != 2 {
        return Err(Error::Invalid("a STREAM message is a routing id and one data frame").into());
    }
    let Some(peer) = st.routing.peer(&msg[0]) else {
        return Err(Error::HostUnreachable.into());
    };
    let Some(entry) = st.peers.get(peer) else {
        return Err(Error::HostUnreachable.into());
    };
    let rid = msg.pop_front().unwrap_or_default();
    match entry.out.push(msg) {
        Ok(()) => Ok(()),
        Err(mut m) => {
            m.push_front(rid);
            Err(full(m, Some(&entry.out)))
        }
    }
}

/// PUB, XPUB: to every matching subscriber with room; never blocks.
fn fan_out(st: &mut State, msg: Message) {
    let mut targets = std::mem::take(&mut st.scratch);
    targets.clear();
    st.index.matches(&msg[0], &mut targets);
    if let Some((&last, rest)) = targets.split_last() {
        // One subscriber: a lone message may go inline; more: queued, so
        // the writers batch (see `Pipe::enqueue`).
        for &id in rest {
            if let Some(p) = st.peers.get(id) {
                let _ = p.out.push_queued(msg.clone());
            }
        }
        if let Some(p) = st.peers.get(last) {
            let _ = if rest.is_empty() {
                p.out.push(msg)
            } else {
                p.out.push_queued(msg)
            };
        }
    }
    st.scratch = targets;
}

/// XSUB: subscription messages update our set and go to every peer; other
/// messages go to every peer as they are.
fn xsub_send(sh: &Shared, msg: Message) {
    let sub = subscription_message(&msg);
    let mut inproc = Vec::new();
    {
        let mut st = sh.lock();
        if let Some((on, topic)) = &sub {
            let forward = if *on {
                st.subs.subscribe(topic);
                true
            } else {
                st.subs.cancel(topic).is_last()
            };
            // Read by `try_recv` without the lock.
            sh.match_all
                .store(st.subs.matches(b""), std::sync::atomic::Ordering::Release);
            if !forward {
                return;
            }
        }
        for (_, p) in st.peers.iter() {
            match (&p.out, &sub) {
                (Outbox::Engine(pipe), Some((on, topic))) => pipe.command(if *on {
                    PipeCmd::Subscribe(topic.clone())
                } else {
                    PipeCmd::Cancel(topic.clone())
                }),
                (Outbox::Inproc { target, id, .. }, Some(_)) => {
                    inproc.push((target.clone(), *id));
                }
                (out, None) => {
                    let _ = out.push_queued(msg.clone());
                }
            }
        }
    }
    if let Some((on, topic)) = sub {
        for (target, id) in inproc {
            let mut st = target.lock();
            target.peer_subscription(&mut st, id, topic.clone(), on);
        }
    }
}

/// SUB: subscribe or unsubscribe, telling every peer.
pub(crate) fn subscribe(sh: &Shared, prefix: &[u8], on: bool) -> Result<(), Error> {
    if sh.ty != SocketType::Sub {
        return Err(Error::NotSupported(sh.ty.as_str()));
    }
    let mut m = Vec::with_capacity(prefix.len() + 1);
    m.push(u8::from(on));
    m.extend_from_slice(prefix);
    xsub_send(sh, Message::from(m));
    Ok(())
}

/// One attempt to receive.
pub(crate) fn try_recv(sh: &Shared) -> Result<Option<Message>, Error> {
    match sh.ty {
        SocketType::Pull | SocketType::Dealer | SocketType::Pair | SocketType::Router => {
            Ok(sh.pop_inbound().map(|i| i.msg))
        }
        SocketType::Stream | SocketType::Xsub => Ok(sh.pop_inbound().map(|i| i.msg)),
        SocketType::Sub => loop {
            let Some(i) = sh.pop_inbound() else {
                return Ok(None);
            };
            // Subscribed to everything (the common case): no lock per message.
            if sh.match_all.load(std::sync::atomic::Ordering::Acquire)
                || sh.lock().subs.matches(&i.msg[0])
            {
                return Ok(Some(i.msg));
            }
        },
        SocketType::Xpub => {
            if let Some(m) = sh.lock().pending.pop_front() {
                return Ok(Some(m));
            }
            Ok(sh.pop_inbound().map(|i| i.msg))
        }
        SocketType::Req => req_recv(sh),
        SocketType::Rep => rep_recv(sh),
        SocketType::Push | SocketType::Pub => Err(Error::NotSupported(sh.ty.as_str())),
    }
}

fn req_recv(sh: &Shared) -> Result<Option<Message>, Error> {
    let mut st = sh.lock();
    if !st.req_sent {
        return Err(Error::State);
    }
    loop {
        let Some(mut i) = sh.pop_inbound() else {
            return Ok(None);
        };
        if st.req_peer != Some(i.peer) {
            continue; // a late reply to an earlier request, or a stranger
        }
        if st.opts.req_correlate {
            match i.msg.pop_front() {
                Some(id) if id[..] == st.req_id.to_be_bytes() => {}
                _ => continue,
            }
        }
        match i.msg.pop_front() {
            Some(d) if d.is_empty() && !i.msg.is_empty() => {}
            _ => continue, // malformed: no delimiter
        }
        st.req_sent = false;
        st.req_peer = None;
        return Ok(Some(i.msg));
    }
}

fn rep_recv(sh: &Shared) -> Result<Option<Message>, Error> {
    let mut st = sh.lock();
    if st.rep_env.is_some() {
        return Err(Error::State);
    }
    loop {
        let Some(mut i) = sh.pop_inbound() else {
            return Ok(None);
        };
        let Some(split) = i.msg.frames().iter().position(|f| f.is_empty()) else {
            continue; // malformed: no delimiter
        };
        let body = i.msg.split_off(split + 1);
        if body.is_empty() {
            continue;
        }
        st.rep_env = Some((i.peer, i.msg));
        return Ok(Some(body));
    }
}
