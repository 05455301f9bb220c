//! The inproc transport: two sockets of one context linked directly, each
//! pushing into the other's inbox. No encoding, no copy. The context's
//! [`Namespace`] holds the bound names and the connects waiting for them.

use std::collections::HashMap;
use std::sync::{Arc, Mutex, MutexGuard, Weak};

use monocoque_core::router::PeerId;

use crate::error::{Error, Result};
use crate::monitor::{EndReason, MonitorEvent};
use crate::pattern::{Core, Pattern};
use crate::pipe::Consumer;
use crate::socket_core::{InprocOut, Outbox, Port, State};

/// An inproc connecter waiting for a bind, and where it queues meanwhile
/// (its entry, and the engine end of the entry's pipe, which the link
/// takes over).
type PendingConnect = (Weak<Core>, Option<(PeerId, Consumer)>);

/// The inproc names of a context.
#[derive(Debug, Default)]
pub(crate) struct Namespace {
    /// Bound names.
    bound: HashMap<String, Weak<Core>>,
    /// Connects waiting for a bind, each with the peer entry that queues
    /// its messages meanwhile.
    pending: HashMap<String, Vec<PendingConnect>>,
}

/// A context's namespace behind its lock.
pub(crate) type Names = Mutex<Namespace>;

fn lock(ns: &Names) -> MutexGuard<'_, Namespace> {
    ns.lock().unwrap_or_else(|e| e.into_inner())
}

/// Binds `name`; links the connects that were waiting for it.
pub(crate) fn bind(ns: &Names, core: &Arc<Core>, name: &str) -> Result<()> {
    let waiting = {
        let mut ns = lock(ns);
        if ns
            .bound
            .get(name)
            .and_then(Weak::upgrade)
            .is_some_and(|b| !b.is_closed())
        {
            return Err(Error::AddressInUse(format!("inproc://{name}")));
        }
        ns.bound.insert(name.to_owned(), Arc::downgrade(core));
        ns.pending.remove(name).unwrap_or_default()
    };
    for (c, preset) in waiting {
        if let Some(c) = c.upgrade() {
            if !c.is_closed() {
                link(core, &c, name, preset);
            }
        }
    }
    Ok(())
}

/// Drops the name of a bound socket.
pub(crate) fn unbind(ns: &Names, core: &Arc<Core>, name: &str) -> bool {
    let mut ns = lock(ns);
    match ns.bound.get(name) {
        Some(w) if std::ptr::eq(w.as_ptr(), Arc::as_ptr(core)) => {
            ns.bound.remove(name);
            true
        }
        _ => false,
    }
}

/// Connects to `name`, now if it is bound, else as soon as it is. Returns
/// the peer's id in `core`: the linked peer, or the entry where a load
/// balancer queues messages until the bind (as libzmq does).
pub(crate) fn connect(ns: &Names, core: &Arc<Core>, name: &str) -> Option<PeerId> {
    let binder = {
        let mut ns = lock(ns);
        match ns.bound.get(name).and_then(Weak::upgrade) {
            Some(b) if !b.is_closed() => Some(b),
            _ => {
                let preset = core.connecter_peer(true);
                let id = preset.as_ref().map(|(id, _)| *id);
                ns.pending
                    .entry(name.to_owned())
                    .or_default()
                    .push((Arc::downgrade(core), preset));
                return id;
            }
        }
    };
    binder.and_then(|b| link(&b, core, name, None).map(|(_, in_connecter)| in_connecter))
}

/// Locks two sockets' states, in address order (so two links made at once
/// cannot deadlock).
fn lock_both<'a>(
    a: &'a Core,
    b: &'a Core,
) -> (
    MutexGuard<'a, State<Pattern>>,
    MutexGuard<'a, State<Pattern>>,
) {
    if (a as *const Core) < (b as *const Core) {
        let ga = a.lock();
        (ga, b.lock())
    } else {
        let gb = b.lock();
        (a.lock(), gb)
    }
}

/// `peer`'s end of a link to `target`, where `target` knows us as `id`.
fn out_to(target: &Arc<Core>, id: PeerId, prefix: Option<bytes::Bytes>) -> Outbox {
    Outbox::Inproc(InprocOut {
        inbox: target.inbox.clone(),
        port: target.clone(),
        id,
        prefix,
    })
}

/// Links binder `a` and connecter `b`, whose messages queued in `preset`
/// meanwhile go first; returns (b's id in a, a's id in b).
fn link(
    a: &Arc<Core>,
    b: &Arc<Core>,
    name: &str,
    preset: Option<(PeerId, Consumer)>,
) -> Option<(PeerId, PeerId)> {
    let ep = format!("inproc://{name}");
    if Arc::ptr_eq(a, b) || !a.ty.compatible(b.ty) {
        let why = monocoque_zmtp::ProtocolError::IncompatibleSocketType {
            ours: b.ty,
            peer: a.ty,
        };
        b.emit(MonitorEvent::HandshakeFailed(ep, EndReason::Peer(why)));
        return None;
    }
    let (mut sa, mut sb) = lock_both(a, b);
    // b's id in a is known only once b is attached: a's outbox to b is
    // set again then, before either side can send (both locks are held).
    let placeholder = PeerId::from_parts(u32::MAX - 1, 0);
    let (in_a, rid_in_a) = a
        .attach_locked(
            &mut sa,
            None,
            Some(out_to(b, placeholder, None)),
            sb.base.opts.routing_id.clone(),
            false,
        )
        .ok()?;
    let Ok((in_b, rid_in_b)) = b.attach_locked(
        &mut sb,
        preset.as_ref().map(|(id, _)| *id),
        Some(out_to(a, in_a, rid_in_a)),
        sa.base.opts.routing_id.clone(),
        false,
    ) else {
        a.detach_locked(&mut sa, in_a, true);
        return None;
    };
    if let Some(p) = sa.base.peers.get_mut(in_a) {
        p.out = out_to(b, in_b, rid_in_b);
    }
    if let (Some((_, pipe)), Some(p)) = (preset, sb.base.peers.get(in_b)) {
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
    for topic in sb.pattern.subscriptions() {
        a.subscription_locked(&mut sa, in_a, topic, true);
    }
    for topic in sa.pattern.subscriptions() {
        b.subscription_locked(&mut sb, in_b, topic, true);
    }
    {
        let State { base, pattern } = &mut *sa;
        crate::socket_core::Hooks::greet(pattern, base, in_a);
    }
    {
        let State { base, pattern } = &mut *sb;
        crate::socket_core::Hooks::greet(pattern, base, in_b);
    }
    sa.base.emit(MonitorEvent::Accepted(ep.clone()));
    sa.base.emit(MonitorEvent::HandshakeSucceeded(ep.clone()));
    sb.base.emit(MonitorEvent::Connected(ep.clone()));
    sb.base.emit(MonitorEvent::HandshakeSucceeded(ep));
    Some((in_a, in_b))
}

/// Unlinks inproc peer `id` of `core` on both sides.
pub(crate) fn unlink(core: &Core, id: PeerId) {
    let far = {
        let mut st = core.lock();
        let far = match st.base.peers.get(id).map(|p| &p.out) {
            Some(Outbox::Inproc(link)) => Some((link.port.clone(), link.id)),
            _ => None,
        };
        core.detach_locked(&mut st, id, true);
        far
    };
    if let Some((port, their)) = far {
        port.detach(their, true);
        port.emit(MonitorEvent::Disconnected(
            "inproc".into(),
            EndReason::Closed,
        ));
    }
}
