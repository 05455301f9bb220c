//! One ZMTP connection on an I/O thread: the handshake, then a reader (this
//! task) and a writer (a second task) around one sans-IO `Session`, which
//! frames every byte either writes. The socket is reached only through
//! its [`Port`].

use std::cell::RefCell;
#[cfg(unix)]
use std::os::fd::AsFd;
// Windows: a socket handle stands where Unix has a descriptor.
#[cfg(windows)]
use std::os::windows::io::AsSocket as AsFd;
use std::rc::Rc;
use std::sync::Arc;
use std::time::{Duration, Instant};

use bytes::Bytes;
use compio::buf::{BufResult, IntoInner};
use compio::io::{AsyncRead, AsyncReadManaged, AsyncWrite};
use compio_driver::ToSharedFd;
use event_listener::listener;
use monocoque_core::alloc::WriteBatch;
use monocoque_core::router::PeerId;
use monocoque_zmtp::{
    Event as ZEvent, HeartbeatConfig, MechanismConfig, PeerInfo, ProtocolError, Session,
    SessionConfig, SocketType, ZapReply, ZapRequest,
};

use super::{
    next_read, read_chunk, write_all, ConnSpec, ConnStream, Link, Marks, Wire, COPY_MAX, OUT_BOUND,
    QUIET_READ,
};
use crate::message::{Message, Properties};
use crate::monitor::EndReason;
use crate::options::{Security, SocketOptions};
use crate::pipe::{Consumer, PipeCmd};
use crate::socket_core::{Inbound, Inbox, Outbox, Port, RUN_MSGS};
use crate::sync::{bell_listener, maybe, race, Cancel, Either};

/// How long a refused peer's ERROR command may take to leave.
const ERROR_GRACE: Duration = Duration::from_millis(100);

/// A read at least this large queues its first message on its own.
const EAGER_READ: usize = 16 * 1024;
/// Bytes offered to the read after a large body was read in place: the
/// next header and little of its body, so a stream of large frames copies
/// almost nothing (a read that fills it grows the next one).
const HEADER_READ: usize = 4 * 1024;
/// At most this many bytes go into one read of a body read in place.
const MAX_DIRECT_READ: usize = 1 << 30;
/// Bytes offered after a read that filled its region: a stream of large
/// messages then straddles (and is copied at) fewer read boundaries. One
/// arena page, so it never falls back to a one-off allocation.
const BIG_READ_SIZE: usize = 256 * 1024;
/// At most this many bytes of messages go into one write.
const MAX_BATCH_BYTES: usize = 1024 * 1024;
/// At most this many messages go into one write.
const MAX_BATCH_MSGS: usize = 512;
/// The most frames one message may have: an empty frame adds nothing
/// towards `MAXMSGSIZE` but a 32-byte handle here, so without this a peer
/// could grow one unfinished message without bound (docs/BOUNDS.md row 5).
const MAX_FRAMES: usize = 65_536;

fn session_config(ty: SocketType, o: &SocketOptions) -> Result<SessionConfig, ProtocolError> {
    let mut c = SessionConfig::new(ty);
    for (name, value) in &o.metadata {
        c.metadata.insert(name.clone(), value.clone())?;
    }
    c.identity = o.routing_id.clone();
    c.max_msg_size = o.maxmsgsize;
    c.handshake_timeout = o.handshake_ivl;
    c.zap_domain = o.zap_domain.clone();
    c.mechanism = match &o.security {
        Security::Null => MechanismConfig::Null,
        Security::PlainClient { username, password } => MechanismConfig::PlainClient {
            username: username.clone(),
            password: password.clone(),
        },
        Security::PlainServer { .. } => MechanismConfig::PlainServer,
        Security::CurveClient {
            server,
            public,
            secret,
        } => MechanismConfig::CurveClient {
            public: *public,
            secret: secret.clone(),
            server_public: *server,
        },
        Security::CurveServer { secret } => MechanismConfig::CurveServer {
            secret: secret.clone(),
        },
    };
    #[cfg(test)]
    if o.test_sealed {
        c.mechanism = MechanismConfig::TestSealed;
    }
    c.heartbeat = o.heartbeat_ivl.map(|interval| HeartbeatConfig {
        interval,
        ttl: o.heartbeat_ttl,
        timeout: o.heartbeat_timeout,
    });
    Ok(c)
}

/// The ZAP decision without a ZAP handler: PLAIN admits the configured user
/// (or everyone), NULL admits everyone.
fn zap_verdict(req: &ZapRequest, o: &SocketOptions) -> ZapReply {
    if let Security::PlainServer {
        credentials: Some((user, pass)),
    } = &o.security
    {
        let ok = req.credentials.len() == 2
            && req.credentials[0] == *user
            && req.credentials[1] == *pass;
        if !ok {
            return ZapReply::deny(req, "invalid credentials");
        }
    }
    ZapReply::accept(req)
}

/// The peer's address as ZAP handlers see it: the IP address over tcp
/// (as libzmq sends it), empty over ipc.
fn peer_address<S: AsFd>(stream: &S) -> Bytes {
    let sock = socket2::SockRef::from(stream);
    match sock.peer_addr().ok().and_then(|a| a.as_socket()) {
        Some(addr) => Bytes::from(addr.ip().to_string()),
        None => Bytes::new(),
    }
}

/// The verdict on `req`: the context's ZAP handler's, waited for up to
/// the handshake's deadline, or without a handler libzmq's defaults (or a
/// refusal with `ZAP_ENFORCE_DOMAIN`).
async fn ask_zap(
    spec: &ConnSpec,
    req: &ZapRequest,
    opts: &SocketOptions,
    deadline: Option<Instant>,
) -> Result<ZapReply, EndReason> {
    let Some(call) = spec.port.zap(req.encode()) else {
        if opts.zap_enforce_domain {
            return Ok(zap_failure(req, "no zap handler"));
        }
        return Ok(zap_verdict(req, opts));
    };
    let timeout = maybe(deadline.map(compio::time::sleep_until));
    match race(call, race(timeout, spec.cancel.wait())).await {
        Either::Left(Some(frames)) => Ok(ZapReply::decode(&frames)?),
        Either::Left(None) => Ok(zap_failure(req, "zap handler went away")),
        Either::Right(Either::Left(())) => Err(EndReason::Timeout(ProtocolError::HandshakeTimeout)),
        Either::Right(Either::Right(())) => Err(EndReason::Closed),
    }
}

/// A 500 verdict (RFC 27's internal error), when no handler could decide.
fn zap_failure(req: &ZapRequest, text: &'static str) -> ZapReply {
    let mut reply = ZapReply::deny(req, text);
    reply.status_code = 500;
    reply
}

/// Runs one connection to its end; returns why it ended. The monitor is
/// told as libzmq tells it: a failed handshake (NO_DETAIL, PROTOCOL or
/// AUTH), then `DISCONNECTED` whenever the connection ends.
pub(crate) async fn run<S>(stream: S, spec: &ConnSpec) -> EndReason
where
    S: ConnStream,
{
    let port = &spec.port;
    let opts = port.options();
    let (reason, routing_id) = match handshake(stream.clone(), spec, &opts).await {
        Ok((session, id, pipe, peer, fault)) => {
            let shown = peer.shown_id.clone();
            let reason = data_phase(stream, spec, session, id, pipe, peer, fault, &opts).await;
            port.detach(id, false);
            (reason, shown)
        }
        Err(reason) => {
            port.emit(spec.handshake_failed(reason.clone()));
            (reason, None)
        }
    };
    port.emit(spec.disconnected(routing_id, reason.clone()));
    reason
}

/// Moves what the session has for the wire into `batch`; whether it had
/// anything.
fn stage(session: &mut Session, out: &mut Vec<Bytes>, batch: &mut WriteBatch) -> bool {
    if !session.poll_transmit(out) {
        return false;
    }
    for b in out.drain(..) {
        batch.push(b);
    }
    true
}

/// The session after its handshake, the peer's id and routing id in the
/// socket, its pipe, and a fault found after the handshake completed in
/// the same chunk (the messages before it are delivered, then the
/// connection ends with it).
type Handshaken = (Session, PeerId, Consumer, Peer, Option<EndReason>);

/// What every message from the peer carries: its routing id in front (a
/// ROUTER's peer), and its properties (see [`Properties`]).
struct Peer {
    routing_id: Option<Bytes>,
    props: Option<Arc<Properties>>,
    /// The routing id the monitor shows: the socket's for the peer, else
    /// the one the peer announced.
    shown_id: Option<Bytes>,
}

/// The peer's properties, when it has any beyond the handshake's basics
/// (a ZAP user id, or metadata of its own): messages of other peers carry
/// nothing.
fn properties(info: &PeerInfo, address: impl FnOnce() -> Bytes) -> Option<Arc<Properties>> {
    let basic = |name: &Bytes| {
        ["Socket-Type", "Identity", "Routing-Id"]
            .iter()
            .any(|b| name.eq_ignore_ascii_case(b.as_bytes()))
    };
    let user_id = info.user_id.clone().filter(|u| !u.is_empty());
    let own = info.metadata.iter().any(|(name, _)| !basic(name));
    if user_id.is_none() && !own && info.zap_metadata.is_empty() {
        return None;
    }
    let mut announced = info.metadata.clone();
    for (name, value) in info.zap_metadata.iter() {
        let _ = announced.insert(name.clone(), value.clone());
    }
    let address = Some(address()).filter(|a| !a.is_empty());
    Some(Arc::new(Properties::new(user_id, address, announced)))
}

/// Writes what a failed session still has for the peer (an ERROR command
/// saying why, as libzmq does), waiting no longer than [`ERROR_GRACE`]
/// for it to be read; then why the connection ends.
async fn last_words<W: AsyncWrite>(
    session: &mut Session,
    w: &mut W,
    error: ProtocolError,
) -> EndReason {
    let mut out = Vec::new();
    let mut batch = WriteBatch::new();
    if stage(session, &mut out, &mut batch) {
        let _ = race(write_all(w, batch), compio::time::sleep(ERROR_GRACE)).await;
    }
    error.into()
}

async fn handshake<S>(
    stream: S,
    spec: &ConnSpec,
    opts: &SocketOptions,
) -> Result<Handshaken, EndReason>
where
    S: ConnStream,
{
    let port = &spec.port;
    let mut session = Session::new(session_config(port.socket_type(), opts)?, Instant::now())?;
    let mut r = stream.clone();
    let mut w = stream;
    let mut out = Vec::new();
    let mut batch = WriteBatch::new();
    let mut fault = None;
    let info = loop {
        let mut done = None;
        while let Some(ev) = session.poll_event() {
            match ev {
                ZEvent::HandshakeComplete(info) => {
                    done = Some(info);
                    break;
                }
                ZEvent::ZapRequest(mut req) => {
                    req.address = peer_address(&w);
                    let deadline = session.poll_timeout();
                    let reply = ask_zap(spec, &req, opts, deadline).await?;
                    if let Err(e) = session.zap_reply(reply) {
                        // A refusal: the ERROR the verdict queued tells the
                        // peer why (libzmq reports it as an auth failure).
                        return Err(last_words(&mut session, &mut w, e).await);
                    }
                }
                _ => {}
            }
        }
        // One write per round: the greeting, READY, a ZAP verdict's WELCOME
        // or ERROR, and what the handshake queued after READY.
        if stage(&mut session, &mut out, &mut batch) {
            let BufResult(res, b) = write_all(&mut w, batch).await;
            batch = b;
            res?;
        }
        if let Some(info) = done {
            break info;
        }
        // The session's own deadline (HANDSHAKE_IVL) is the only one.
        let timeout = maybe(session.poll_timeout().map(compio::time::sleep_until));
        let read = race(
            read_chunk(&mut r, QUIET_READ),
            race(timeout, spec.cancel.wait()),
        )
        .await;
        let chunk = match read {
            Either::Left(Ok(b)) if b.is_empty() => return Err(EndReason::PeerClosed),
            Either::Left(Ok(b)) => b,
            Either::Left(Err(e)) => return Err(e.into()),
            Either::Right(Either::Left(())) => {
                session.handle_timeout(Instant::now())?;
                continue;
            }
            Either::Right(Either::Right(())) => return Err(EndReason::Closed),
        };
        if let Err(e) = session.handle_input(chunk) {
            // The handshake may have completed in this chunk, before the
            // fault: the messages between are still the peer's to deliver.
            let mut completed = None;
            while let Some(ev) = session.poll_event() {
                if let ZEvent::HandshakeComplete(info) = ev {
                    completed = Some(info);
                    break;
                }
            }
            match completed {
                Some(info) => {
                    fault = Some(e.into());
                    break info;
                }
                None => return Err(last_words(&mut session, &mut w, e).await),
            }
        }
    };

    // Attach to the socket.
    let (pipe, preset, out) = match &spec.preset {
        // A connecter's socket end is in its peer entry already.
        Some((id, pipe)) => (pipe.clone(), Some(*id), None),
        None => {
            let (producer, consumer) = port.pipe(opts);
            (consumer, None, Some(Outbox::Engine(producer)))
        }
    };
    let props = properties(&info, || peer_address(&w));
    let announced = info.identity.clone().filter(|i| !i.is_empty());
    let (id, routing_id) = port.attach(preset, out, info.identity)?;
    let shown_id = routing_id.clone().or(announced);
    port.emit(spec.handshake_succeeded(shown_id.clone()));
    spec.greeted.set(true);
    let peer = Peer {
        routing_id,
        props,
        shown_id,
    };
    Ok((session, id, pipe, peer, fault))
}

#[allow(clippy::too_many_arguments)]
async fn data_phase<S>(
    stream: S,
    spec: &ConnSpec,
    session: Session,
    id: PeerId,
    pipe: Consumer,
    peer: Peer,
    fault: Option<EndReason>,
    opts: &SocketOptions,
) -> EndReason
where
    S: ConnStream,
{
    let session = Rc::new(RefCell::new(session));
    let link = Rc::new(Link::default());
    let writer = compio::runtime::spawn(write_loop(
        stream.clone(),
        session.clone(),
        link.clone(),
        pipe.clone(),
        spec.port.clone(),
    ));
    let ctl = stream.clone();
    let reason = read_loop(stream, spec, &session, &link, &pipe, id, peer, fault, opts).await;
    link.stop(reason.clone());
    // The writer ends at once unless a write is pending that the kernel
    // has no room for: what it still has (an ERROR, say) gets a grace,
    // then the socket is shut down, which ends that write.
    let mut writer = writer;
    if let Either::Right(()) = race(&mut writer, compio::time::sleep(ERROR_GRACE)).await {
        shut(&ctl);
        let _ = writer.await;
    }
    pipe.set_direct(None, None);
    // The first to stop says why: the writer's failure, or the reader's.
    link.reason().unwrap_or(reason)
}

/// Waits until the connection must end: the link stopped, the pipe was
/// closed by the socket, or the listener/connecter was cancelled.
async fn stopped(link: &Link, pipe: &Consumer, cancel: &Cancel) {
    loop {
        if link.is_done() || pipe.is_closed() || cancel.is_cancelled() {
            return;
        }
        listener!(link.event => a);
        listener!(pipe.closing() => b);
        if link.is_done() || pipe.is_closed() || cancel.is_cancelled() {
            return;
        }
        let _ = race(race(a, b), cancel.wait()).await;
    }
}

#[allow(clippy::too_many_arguments)]
async fn read_loop<S>(
    mut r: S,
    spec: &ConnSpec,
    session: &RefCell<Session>,
    link: &Link,
    pipe: &Consumer,
    id: PeerId,
    peer: Peer,
    fault: Option<EndReason>,
    opts: &SocketOptions,
) -> EndReason
where
    S: AsyncRead + AsyncReadManaged,
{
    let inbox = spec.port.inbox();
    let mut cur = Message::new();
    let mut size = 0u64;
    let limit = opts.maxmsgsize;
    // A PUB drops its peers' messages (their subscriptions still count).
    let takes = spec.port.takes_messages();
    // Frames decoded with the handshake's last chunk are handled first.
    let mut chunk: Option<Bytes> = None;
    let mut read_size = QUIET_READ;
    // Complete messages not yet queued for the socket (a buffer is taken
    // when the first one arrives).
    let mut run = Vec::new();
    // Why the connection must end, found while decoding: the messages
    // completed before it are still delivered (as libzmq's
    // `session_base_t::clean_pipes` flushes them), then it ends.
    let mut fatal: Option<EndReason> = fault;
    loop {
        // The first message of a big read goes at once, so the user side
        // starts while we assemble the rest; a small read is one run.
        let mut eager = false;
        if let Some(c) = chunk.take() {
            eager = c.len() >= EAGER_READ;
            if let Err(e) = session.borrow_mut().handle_input(c) {
                fatal = Some(e.into());
            }
        }
        loop {
            let ev = session.borrow_mut().poll_event();
            let Some(ev) = ev else { break };
            let mut sub = None;
            match ev {
                ZEvent::Frame { .. } if !takes => {}
                ZEvent::Frame { body, more } => {
                    size += body.len() as u64;
                    if let Some(max) = limit.filter(|&l| size > l) {
                        fatal = Some(EndReason::Peer(ProtocolError::MessageTooLarge {
                            size,
                            max,
                        }));
                        break;
                    }
                    if cur.is_empty() {
                        if let Some(rid) = &peer.routing_id {
                            cur.push_back(rid.clone());
                        }
                    } else if cur.len() >= MAX_FRAMES {
                        fatal = Some(EndReason::Peer(ProtocolError::TooManyFrames {
                            max: MAX_FRAMES,
                        }));
                        break;
                    }
                    cur.push_back(body);
                    if !more {
                        size = 0;
                        if let Some(props) = &peer.props {
                            cur.set_properties(props.clone());
                        }
                        if run.capacity() == 0 {
                            run = inbox.run_buffer();
                        }
                        run.push(Inbound {
                            peer: id,
                            msg: std::mem::take(&mut cur),
                        });
                        if eager || run.len() >= RUN_MSGS {
                            eager = false;
                            if !queue_run(inbox, &mut run, link, pipe, &spec.cancel).await {
                                return EndReason::Closed;
                            }
                        }
                    }
                }
                ZEvent::Subscribe(topic) => sub = Some((true, topic)),
                ZEvent::Cancel(topic) => sub = Some((false, topic)),
                ZEvent::PeerError { reason } => {
                    fatal = Some(EndReason::Peer(ProtocolError::PeerError {
                        reason: String::from_utf8_lossy(&reason).into_owned(),
                    }));
                    break;
                }
                _ => {}
            }
            if let Some((on, topic)) = sub {
                match spec.port.subscription(id, topic, on) {
                    Err(e) => {
                        fatal = Some(EndReason::Peer(e));
                        break;
                    }
                    // XPUB's notification: behind the messages before it,
                    // counted towards RCVHWM with them.
                    Ok(Some(msg)) => {
                        if run.capacity() == 0 {
                            run = inbox.run_buffer();
                        }
                        run.push(Inbound { peer: id, msg });
                        if run.len() >= RUN_MSGS
                            && !queue_run(inbox, &mut run, link, pipe, &spec.cancel).await
                        {
                            return EndReason::Closed;
                        }
                    }
                    Ok(None) => {}
                }
            }
        }
        if !run.is_empty() && !queue_run(inbox, &mut run, link, pipe, &spec.cancel).await {
            return EndReason::Closed;
        }
        if let Some(reason) = fatal {
            return reason;
        }
        {
            let mut out = link.out.borrow_mut();
            if session.borrow_mut().poll_transmit(&mut out) {
                pipe.ready().ring();
            }
        }
        // What we owe a peer that does not read (its PINGs' PONGs) is
        // bounded: past the bound, stop reading until the writer drains it.
        while link.pending_out() > OUT_BOUND {
            listener!(link.drained => drained);
            if link.pending_out() <= OUT_BOUND {
                break;
            }
            if let Either::Right(()) = race(drained, stopped(link, pipe, &spec.cancel)).await {
                return EndReason::Closed;
            }
        }
        // A large body that straddles reads is read straight into its own
        // buffer: no copy in the decoder.
        let direct = session.borrow_mut().body_buf();
        if let Some((buf, n)) = direct {
            let at = buf.len();
            // One read never asks for more than the kernel takes (a length
            // of 2 GiB or more fails); the rest comes in the next round.
            let n = n.min(MAX_DIRECT_READ);
            let read = race(
                r.read(compio::buf::IoBuf::slice(buf, at..at + n)),
                stopped(link, pipe, &spec.cancel),
            )
            .await;
            match read {
                Either::Left(BufResult(Ok(0), _)) => return EndReason::PeerClosed,
                Either::Left(BufResult(Ok(_), buf)) => {
                    if let Err(e) = session.borrow_mut().handle_body(buf.into_inner()) {
                        fatal = Some(e.into());
                    }
                }
                Either::Left(BufResult(Err(e), _)) => return e.into(),
                Either::Right(()) => return EndReason::Closed,
            }
            read_size = HEADER_READ;
            continue;
        }
        let read = race(
            read_chunk(&mut r, read_size),
            stopped(link, pipe, &spec.cancel),
        )
        .await;
        chunk = Some(match read {
            Either::Left(Ok(b)) if b.is_empty() => return EndReason::PeerClosed,
            Either::Left(Ok(b)) => {
                read_size = next_read(read_size, b.len(), BIG_READ_SIZE);
                b
            }
            Either::Left(Err(e)) => return e.into(),
            Either::Right(()) => return EndReason::Closed,
        });
    }
}

/// Queues `run` for the socket (leaving an empty buffer in its place),
/// waiting while the socket's inbound queue is full. `false` if the
/// connection must end meanwhile.
async fn queue_run(
    inbox: &Inbox,
    run: &mut Vec<Inbound>,
    link: &Link,
    pipe: &Consumer,
    cancel: &Cancel,
) -> bool {
    let mut full = std::mem::take(run);
    loop {
        match inbox.push_run(full) {
            Ok(()) => return true,
            Err(back) => full = back,
        }
        bell_listener!(inbox.space => l);
        if !inbox.runs_full() {
            continue;
        }
        if inbox.is_closed() {
            return false;
        }
        if let Either::Right(()) = race(l, stopped(link, pipe, cancel)).await {
            return false;
        }
    }
}

/// Ends the connection's socket both ways, so that an operation pending
/// on it (a write the kernel has no room for) fails now.
fn shut<S: AsFd>(stream: &S) {
    let _ = socket2::SockRef::from(stream).shutdown(std::net::Shutdown::Both);
}

async fn write_loop<S>(
    mut w: S,
    session: Rc<RefCell<Session>>,
    link: Rc<Link>,
    pipe: Consumer,
    port: Arc<dyn Port>,
) where
    S: AsyncWrite + AsFd + ToSharedFd<socket2::Socket> + Clone,
{
    // The same socket, to shut down while `w` is lent to a pending write.
    let ctl = w.clone();
    // What the session frames (commands, large messages), moved into the
    // round's `wire` at once.
    let mut out: Vec<Bytes> = Vec::new();
    let mut wire = Wire::default();
    // Callers may write lone messages straight to the socket (through the
    // stream's own shared descriptor, not a duplicate) while this task
    // sleeps; they are let in once the connection has carried a message.
    let mut direct = false;
    // Frames sent as they are (not sealed by CURVE) can be decoded back
    // from a failed write, so its unsent messages go back to the pipe.
    let recover = session.borrow().plain_framer().is_some();
    let mut marks = Marks::default();
    // A round takes at most SNDHWM messages: each batch it takes lets the
    // callers queue again, so a slowed writer would otherwise hold up to a
    // round (512 messages, 1 MiB) beyond SNDHWM (docs/BOUNDS.md row 20).
    let round_msgs = MAX_BATCH_MSGS.min(pipe.capacity());
    loop {
        if link.is_done() || pipe.is_closed() {
            break;
        }
        // Take the wire: a caller may be writing a message inline.
        if !pipe.acquire_writer() {
            bell_listener!(pipe.ready() => a);
            listener!(link.event => b);
            pipe.set_writer_waiting(true);
            if !pipe.acquire_writer() {
                let _ = race(a, b).await;
                pipe.set_writer_waiting(false);
                continue;
            }
            pipe.set_writer_waiting(false);
        }
        // Messages taken this round, and those plus commands: what LINGER
        // must see written before it lets the socket go.
        let mut taken = 0;
        let mut held = 0;
        wire.begin();
        {
            let mut s = session.borrow_mut();
            // The rest of a message a caller began inline goes first.
            if let Some(rest) = pipe.take_leftover() {
                out.extend(rest);
                held += 1;
            }
            out.append(&mut link.out.borrow_mut());
            link.drained.notify(usize::MAX);
            loop {
                // Counted before it leaves the queue, so LINGER never sees
                // an empty queue and no write while a command is between.
                pipe.taken(1);
                let Some(cmd) = pipe.pop_command() else {
                    pipe.written(1);
                    break;
                };
                held += 1;
                let r = match cmd {
                    PipeCmd::Subscribe(t) => s.send_subscribe(t, &mut out),
                    PipeCmd::Cancel(t) => s.send_cancel(t, &mut out),
                };
                if let Err(e) = r {
                    pipe.written(held);
                    link.stop(e.into());
                    return;
                }
            }
            wire.append(&mut out);
            marks.begin(wire.len());
            // Small messages are framed straight into the wire when the
            // session lets frames go as they are.
            let framer = s.plain_framer();
            let mut bytes = 0;
            // What the last connection took and never sent goes first
            // (already in flight).
            let mut back = pipe.take_returned();
            while taken < round_msgs && bytes < MAX_BATCH_BYTES {
                let Some(mut msgs) = back.take().or_else(|| pipe.pop_batch()) else {
                    break;
                };
                taken += msgs.len();
                held += msgs.len();
                for m in msgs.drain(..) {
                    bytes += m.size();
                    match framer {
                        Some(f) if m.frames().iter().all(|b| b.len() <= COPY_MAX) => {
                            wire.small_message(f, m.frames());
                        }
                        _ => {
                            if let Err(e) = s.send_message(m, &mut out) {
                                pipe.written(held);
                                link.stop(e.into());
                                return;
                            }
                            wire.append(&mut out);
                        }
                    }
                    if recover {
                        marks.framed(wire.len());
                    }
                }
                pipe.recycle(msgs);
            }
            if let Some(t) = s.poll_timeout() {
                if t <= Instant::now() {
                    if let Err(e) = s.handle_timeout(Instant::now()) {
                        pipe.written(held);
                        link.stop(e.into());
                        return;
                    }
                }
            }
            s.poll_transmit(&mut out);
            wire.append(&mut out);
        }
        if taken > 0 {
            port.wake();
        }
        if wire.is_empty() {
            // Nothing to write: let callers write inline while we sleep.
            pipe.release_writer();
            bell_listener!(pipe.ready() => a);
            listener!(link.event => b);
            if pipe.has_work() || link.is_done() || !link.out.borrow().is_empty() {
                continue;
            }
            let next = session.borrow().poll_timeout();
            let timer = next.map(|t| {
                compio::time::sleep(
                    t.saturating_duration_since(Instant::now())
                        .max(Duration::from_millis(1)),
                )
            });
            let _ = race(race(a, b), maybe(timer)).await;
            continue;
        }
        let total = wire.len();
        let BufResult(res, batch) = {
            // The heartbeat's deadlines come due while a write waits for
            // room (a peer that stopped reading): they are kept here too,
            // and a dead peer's socket is shut down, which ends the write.
            let mut write = std::pin::pin!(write_all(&mut w, wire.take()));
            loop {
                let Some(t) = session.borrow().poll_timeout() else {
                    break write.await;
                };
                match race(write.as_mut(), compio::time::sleep_until(t)).await {
                    Either::Left(r) => break r,
                    Either::Right(()) => {
                        let r = session.borrow_mut().handle_timeout(Instant::now());
                        if let Err(e) = r {
                            link.stop(e.into());
                            shut(&ctl);
                        }
                    }
                }
            }
        };
        if res.is_err() && recover {
            // The kernel never took these: the next connection sends them
            // (a connecter's pipe outlives this one; another pipe is
            // closed, and they go with it).
            let unsent = marks.unsent(&batch, total);
            held -= unsent.len();
            pipe.give_back(unsent);
        }
        wire.reuse(batch);
        if !direct && taken > 0 && res.is_ok() {
            direct = true;
            // Not on Windows: its sockets are not non-blocking under IOCP,
            // so an inline `send` could block the caller.
            #[cfg(unix)]
            {
                // Inline writes only with the session's own framer: none
                // for a mechanism that transforms frames.
                let framer = session.borrow().plain_framer();
                pipe.set_direct(Some(w.to_shared_fd()), framer);
            }
        }
        pipe.written(held);
        if held > 0 {
            port.wake(); // LINGER may be waiting
        }
        if let Err(e) = res {
            link.stop(e.into());
            return;
        }
    }
}

#[cfg(test)]
mod tests {
    use std::time::Duration;

    use crate::{Context, MonitorEvent, SocketType};

    /// Sends 30 lone messages PUSH -> PULL over tcp, each after the
    /// previous one arrived (so the writer is idle and the sender may
    /// write inline); returns whether the sender wrote any inline, and
    /// the receiver's connection events.
    fn lone_messages(sealed: bool) -> (bool, Vec<MonitorEvent>) {
        let ctx = Context::new();
        let pull = ctx.socket(SocketType::Pull).expect("pull");
        pull.update_options(|o| {
            o.test_sealed = sealed;
            o.rcvtimeo = Some(Duration::from_secs(5));
        });
        let events = pull.monitor();
        pull.bind("tcp://127.0.0.1:*").expect("bind");
        let push = ctx.socket(SocketType::Push).expect("push");
        push.update_options(|o| o.test_sealed = sealed);
        push.connect(&pull.last_endpoint().expect("endpoint"))
            .expect("connect");
        for i in 0..30 {
            let body = format!("lone message {i}");
            push.send(body.clone()).expect("send");
            let got = pull.recv().expect("every message arrives");
            assert_eq!(&got[0][..], body.as_bytes());
            std::thread::sleep(Duration::from_millis(1));
        }
        let inline = push.core().wrote_inline();
        drop(push);
        (inline, std::iter::from_fn(|| events.try_recv()).collect())
    }

    #[test]
    fn a_plain_session_lets_callers_write_inline() {
        let (inline, _) = lone_messages(false);
        assert!(inline, "NULL: lone messages should go out inline");
    }

    #[test]
    fn a_sealing_session_is_never_written_around() {
        let (inline, events) = lone_messages(true);
        assert!(!inline, "a sealing session's connection was written inline");
        let failures: Vec<_> = events
            .iter()
            .filter(|e| e.handshake_failure().is_some())
            .collect();
        assert!(failures.is_empty(), "{failures:?}");
        // One connection, kept until the sender closed: no frame broke it.
        let ends: Vec<_> = events
            .iter()
            .filter_map(|e| match e {
                MonitorEvent::Disconnected { reason, .. } => Some(reason),
                _ => None,
            })
            .collect();
        assert!(
            ends.iter()
                .all(|why| !matches!(why, crate::EndReason::Peer(_))),
            "{ends:?}"
        );
    }
}
