//! The inproc transport: two sockets of one context linked directly, each
//! pushing into the other's inbound queue. No encoding, no copy.

use std::sync::{Arc, MutexGuard, Weak};

use monocoque_core::router::PeerId;
use monocoque_zmtp::SocketType;

use crate::error::{Error, Result};
use crate::message::Message;
use crate::monitor::MonitorEvent;
use crate::pipe::Pipe;
use crate::shared::{Outbox, PeerEntry, Shared, State};

/// Binds `name`; links the connects that were waiting for it.
pub(crate) fn bind(sh: &Arc<Shared>, name: &str) -> Result<()> {
    let waiting = {
        let mut ns = sh.ctx.inproc();
        if ns
            .bound
            .get(name)
            .and_then(Weak::upgrade)
            .is_some_and(|b| !b.is_closed())
        {
            return Err(Error::AddressInUse(format!("inproc://{name}")));
        }
        ns.bound.insert(name.to_owned(), Arc::downgrade(sh));
        ns.pending.remove(name).unwrap_or_default()
    };
    for (c, preset) in waiting {
        if let Some(c) = c.upgrade() {
            if !c.is_closed() {
                link(sh, &c, name, preset);
            }
        }
    }
    Ok(())
}

/// Drops the name of a bound socket.
pub(crate) fn unbind(sh: &Arc<Shared>, name: &str) -> bool {
    let mut ns = sh.ctx.inproc();
    match ns.bound.get(name) {
        Some(w) if std::ptr::eq(w.as_ptr(), Arc::as_ptr(sh)) => {
            ns.bound.remove(name);
            true
        }
        _ => false,
    }
}

/// Connects to `name`, now if it is bound, else as soon as it is. Returns
/// the peer's id in `sh`: the linked peer, or the entry where PUSH,
/// DEALER, REQ and PAIR queue messages until the bind (as libzmq does).
pub(crate) fn connect(sh: &Arc<Shared>, name: &str) -> Option<PeerId> {
    let binder = {
        let mut ns = sh.ctx.inproc();
        match ns.bound.get(name).and_then(Weak::upgrade) {
            Some(b) if !b.is_closed() => Some(b),
            _ => {
                let preset = queue_until_bind(sh);
                ns.pending
                    .entry(name.to_owned())
                    .or_default()
                    .push((Arc::downgrade(sh), preset));
                return preset;
            }
        }
    };
    binder.and_then(|b| link(&b, sh, name, None).map(|(_, in_connecter)| in_connecter))
}

/// A load-balancing connecter's entry that queues (up to SNDHWM) while the
/// name is not bound yet.
fn queue_until_bind(sh: &Shared) -> Option<PeerId> {
    let balances = matches!(
        sh.ty,
        SocketType::Push | SocketType::Dealer | SocketType::Req | SocketType::Pair
    );
    let mut st = sh.lock();
    if !balances || st.opts.immediate {
        return None;
    }
    let out = Outbox::Engine(Pipe::new(st.opts.send_capacity(), sh.last_inline.clone()));
    let id = st.peers.insert(PeerEntry {
        out,
        routing_id: None,
        ready: false,
        persistent: true,
    });
    st.lb.attach(id);
    Some(id)
}

fn lock_both<'a>(a: &'a Shared, b: &'a Shared) -> (MutexGuard<'a, State>, MutexGuard<'a, State>) {
    if (a as *const Shared) < (b as *const Shared) {
        let ga = a.lock();
        (ga, b.lock())
    } else {
        let gb = b.lock();
        (a.lock(), gb)
    }
}

/// Links binder `a` and connecter `b`, whose messages queued in `preset`
/// meanwhile go first; returns (b's id in a, a's id in b).
fn link(
    a: &Arc<Shared>,
    b: &Arc<Shared>,
    name: &str,
    preset: Option<PeerId>,
) -> Option<(PeerId, PeerId)> {
    let ep: Arc<str> = Arc::from(format!("inproc://{name}"));
    if Arc::ptr_eq(a, b) || !a.ty.compatible(b.ty) {
        let why = format!("{} cannot talk to {}", b.ty, a.ty);
        b.lock()
            .emit(MonitorEvent::HandshakeFailed(ep.to_string(), why));
        return None;
    }
    let (mut sa, mut sb) = lock_both(a, b);
    let placeholder = PeerId::from_parts(u32::MAX - 1, 0);
    let (in_a, rid_in_a) = a.attach(
        &mut sa,
        None,
        Outbox::Inproc {
            target: b.clone(),
            id: placeholder,
            prefix: None,
        },
        sb.opts.routing_id.clone(),
    )?;
    let queued = match preset.and_then(|id| sb.peers.get(id)).map(|p| &p.out) {
        Some(Outbox::Engine(pipe)) => Some(pipe.clone()),
        _ => None,
    };
    let Some((in_b, rid_in_b)) = b.attach(
        &mut sb,
        preset,
        Outbox::Inproc {
            target: a.clone(),
            id: in_a,
            prefix: rid_in_a,
        },
        sa.opts.routing_id.clone(),
    ) else {
        a.detach(&mut sa, in_a, true);
        return None;
    };
    if let Some(p) = sa.peers.get_mut(in_a) {
        p.out = Outbox::Inproc {
            target: b.clone(),
            id: in_b,
            prefix: rid_in_b,
        };
    }
    if let (Some(pipe), Some(p)) = (queued, sb.peers.get(in_b)) {
        // What does not fit in the binder's RCVHWM is dropped.
        while let Some(mut msgs) = pipe.pop_batch() {
            let n = msgs.len();
            for m in msgs.drain(..) {
                let _ = p.out.push(m);
            }
            pipe.written(n);
        }
    }
    // Subscriptions already made travel now; later ones as they happen.
    copy_subs(b, &sb, a, &mut sa, in_a);
    copy_subs(a, &sa, b, &mut sb, in_b);
    welcome(a, &sa, in_a);
    welcome(b, &sb, in_b);
    sa.emit(MonitorEvent::Accepted(ep.to_string()));
    sa.emit(MonitorEvent::HandshakeSucceeded(ep.to_string()));
    sb.emit(MonitorEvent::Connected(ep.to_string()));
    sb.emit(MonitorEvent::HandshakeSucceeded(ep.to_string()));
    Some((in_a, in_b))
}

/// Unlinks inproc peer `id` of `sh` on both sides.
pub(crate) fn unlink(sh: &Shared, id: PeerId) {
    let target = {
        let mut st = sh.lock();
        let t = match st.peers.get(id).map(|p| &p.out) {
            Some(Outbox::Inproc { target, id, .. }) => Some((target.clone(), *id)),
            _ => None,
        };
        sh.detach(&mut st, id, true);
        t
    };
    if let Some((target, their)) = target {
        let mut st = target.lock();
        target.detach(&mut st, their, true);
        st.emit(MonitorEvent::Disconnected("inproc".into()));
    }
}

/// Tells publisher `publ` (where the subscriber is `id`) what `sub` has
/// subscribed to so far.
fn copy_subs(sub: &Shared, ssub: &State, publ: &Shared, spub: &mut State, id: PeerId) {
    if matches!(sub.ty, SocketType::Sub | SocketType::Xsub) {
        for p in ssub.subs.iter() {
            publ.peer_subscription(spub, id, p.clone(), true);
        }
    }
}

/// XPUB_WELCOME_MSG for a new inproc subscriber.
fn welcome(x: &Shared, sx: &State, id: PeerId) {
    if x.ty == SocketType::Xpub {
        if let (Some(w), Some(p)) = (&sx.opts.xpub_welcome_msg, sx.peers.get(id)) {
            let _ = p.out.push(Message::from(w.clone()));
        }
    }
}
