//! The inproc transport: two sockets of one context linked directly, each
//! pushing into the other's inbox. No encoding, no copy. The context's
//! [`Namespace`] holds the bound names and the connects waiting for them.

use std::collections::HashMap;
use std::sync::{Arc, Weak};

use crate::sync::{StdMutex as Mutex, StdMutexGuard as MutexGuard};

use bytes::Bytes;
use monocoque_core::router::PeerId;
use monocoque_zmtp::SocketType;

use crate::error::{Error, Result};
use crate::message::Message;
use crate::monitor::{EndReason, MonitorEvent};
use crate::options::SocketOptions;
use crate::pattern::{self, Core, Pattern};
use crate::pipe::Consumer;
use crate::socket_core::{InprocOut, Outbox, Port, State, ZapCall, ZapService};
use crate::sync::bell_listener;

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
    core.emit(MonitorEvent::Listening {
        endpoint: format!("inproc://{name}"),
        fd: None,
    });
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
/// Fails, changing nothing, when `CONNECT_ROUTING_ID` names a routing id
/// in use.
pub(crate) fn connect(ns: &Names, core: &Arc<Core>, name: &str) -> Result<Option<PeerId>> {
    let binder = {
        let mut ns = lock(ns);
        match ns.bound.get(name).and_then(Weak::upgrade) {
            Some(b) if !b.is_closed() => b,
            _ => {
                let preset = core.connecter_peer(true)?;
                let id = preset.as_ref().map(|(id, _)| *id);
                ns.pending
                    .entry(name.to_owned())
                    .or_default()
                    .push((Arc::downgrade(core), preset));
                return Ok(id);
            }
        }
    };
    // A ROUTER's or STREAM's entry when `CONNECT_ROUTING_ID` names the peer.
    let preset = core.routed_connecter_peer()?;
    let entry = preset.as_ref().map(|(id, _)| *id);
    let linked = link(&binder, core, name, preset).map(|(_, in_connecter)| in_connecter);
    if let (None, Some(id)) = (linked, entry) {
        core.detach(id, true);
    }
    Ok(linked)
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
fn out_to(target: &Arc<Core>, id: PeerId, prefix: Option<Bytes>) -> Outbox {
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
        b.emit(MonitorEvent::handshake_failed(
            &ep,
            None,
            EndReason::Peer(why),
        ));
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
        Some(out_to(a, in_a, rid_in_a.clone())),
        sa.base.opts.routing_id.clone(),
        false,
    ) else {
        a.detach_locked(&mut sa, in_a, true);
        return None;
    };
    if let Some(p) = sa.base.peers.get_mut(in_a) {
        p.out = out_to(b, in_b, rid_in_b.clone());
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
        a.inproc_subscription_locked(&mut sa, in_a, topic, true);
    }
    for topic in sa.pattern.subscriptions() {
        b.inproc_subscription_locked(&mut sb, in_b, topic, true);
    }
    {
        let State { base, pattern } = &mut *sa;
        crate::socket_core::Hooks::greet(pattern, base, in_a);
    }
    {
        let State { base, pattern } = &mut *sb;
        crate::socket_core::Hooks::greet(pattern, base, in_b);
    }
    // Each side's routing id for the other: the one it routes by, else
    // the one the other set.
    let b_shown = rid_in_a.or_else(|| sb.base.opts.routing_id.clone());
    let a_shown = rid_in_b.or_else(|| sa.base.opts.routing_id.clone());
    sa.base.emit(MonitorEvent::Accepted {
        endpoint: ep.clone(),
        peer: None,
        fd: None,
    });
    sa.base.emit(MonitorEvent::HandshakeSucceeded {
        endpoint: ep.clone(),
        peer: None,
        routing_id: b_shown,
    });
    sb.base.emit(MonitorEvent::Connected {
        endpoint: ep.clone(),
        peer: None,
        fd: None,
    });
    sb.base.emit(MonitorEvent::HandshakeSucceeded {
        endpoint: ep,
        peer: None,
        routing_id: a_shown,
    });
    Some((in_a, in_b))
}

/// Unlinks inproc peer `id` of `core` on both sides: `core` ended it
/// ([`EndReason::Closed`]), its peer sees it go ([`EndReason::PeerClosed`]).
pub(crate) fn unlink(core: &Core, id: PeerId) {
    let gone = |reason| MonitorEvent::Disconnected {
        endpoint: "inproc".into(),
        peer: None,
        routing_id: None,
        fd: None,
        reason,
    };
    let far = {
        let mut st = core.lock();
        let far = match st.base.peers.get(id).map(|p| &p.out) {
            Some(Outbox::Inproc(link)) => Some((link.port.clone(), link.id)),
            _ => None,
        };
        core.detach_locked(&mut st, id, true);
        if far.is_some() {
            st.base.emit(gone(EndReason::Closed));
        }
        far
    };
    if let Some((port, their)) = far {
        port.detach(their, true);
        port.emit(gone(EndReason::PeerClosed));
    }
}

/// The inproc name a ZAP handler binds (RFC 27), without the scheme.
const ZAP_NAME: &str = "zeromq.zap.01";

/// A context's ZAP client: each request goes to the socket bound at
/// `inproc://zeromq.zap.01` over a link of its own (a DEALER the handler
/// sees as a REQ would be: an empty delimiter, then the request), so a
/// handler written for libzmq, a REP or a ROUTER, works unchanged.
#[derive(Debug)]
pub(crate) struct ZapClient {
    names: Arc<Names>,
}

impl ZapClient {
    /// The ZAP client of the context whose names these are.
    pub(crate) fn new(names: Arc<Names>) -> Arc<ZapClient> {
        Arc::new(ZapClient { names })
    }
}

impl ZapService for ZapClient {
    fn call(&self, request: Vec<Bytes>) -> Option<ZapCall> {
        let handler = lock(&self.names)
            .bound
            .get(ZAP_NAME)
            .and_then(Weak::upgrade)
            .filter(|h| !h.is_closed())?;
        let client = Core::new(SocketType::Dealer, Pattern::new(SocketType::Dealer), None);
        client.inbox.init(&SocketOptions::default());
        let (_, handler_id) = link(&handler, &client, ZAP_NAME, None)?;
        let call = ZapLink {
            client,
            handler: handler_id,
        };
        let mut msg = Message::new();
        msg.push_back(Bytes::new());
        for f in request {
            msg.push_back(f);
        }
        if pattern::try_send(&call.client, msg).is_err() {
            // The handler's queue is full: as if it went away.
            return Some(Box::pin(async { None }));
        }
        Some(Box::pin(call.reply()))
    }
}

/// One ZAP request's link to the handler, unlinked when dropped (the
/// reply came, or the handshake gave up).
#[derive(Debug)]
struct ZapLink {
    client: Arc<Core>,
    handler: PeerId,
}

impl ZapLink {
    /// The handler's reply without its envelope; `None` if the handler
    /// went away first.
    async fn reply(self) -> Option<Vec<Bytes>> {
        loop {
            if let Some(m) = self.take() {
                return Some(m);
            }
            bell_listener!(self.client.inbox.wake => woken);
            if let Some(m) = self.take() {
                return Some(m);
            }
            if self.client.ready_peers() == 0 {
                return None;
            }
            woken.await;
        }
    }

    fn take(&self) -> Option<Vec<Bytes>> {
        let msg = pattern::try_recv(&self.client).ok()??;
        let mut frames = msg.into_vec();
        if frames.first().is_some_and(Bytes::is_empty) {
            frames.remove(0);
        }
        Some(frames)
    }
}

impl Drop for ZapLink {
    fn drop(&mut self) {
        self.client.inbox.close();
        unlink(&self.client, self.handler);
    }
}
