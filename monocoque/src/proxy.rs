//! [`proxy`] and [`proxy_steerable`]: libzmq's `zmq_proxy` and
//! `zmq_proxy_steerable`, moving messages between two sockets.
//!
//! Both run one loop, as libzmq's do (its `zmq_proxy` is the steerable one
//! without a control socket): a [`Poller`] waits for a message on either
//! side (and a command on the control socket), and a message is taken from
//! one side only while the other can take it. A message that meets a full
//! peer waits in the loop, and that side is not read again until it went,
//! so the proxy never blocks on a send and the other direction and the
//! control socket are served meanwhile.
//!
//! ```text
//!   frontend ──recv──► loop ──send──► backend      (and back the other way)
//!                       │ ▲
//!        copy of each ──┘ └── PAUSE, RESUME, TERMINATE, STATISTICS
//!            ▼                         control
//!         capture
//! ```

use std::sync::Arc;
use std::time::Duration;

use bytes::Bytes;

use crate::error::{Error, Result};
use crate::message::Message;
use crate::pattern::Core;
use crate::poller::{Events, Poller};
use crate::socket::Socket;
use crate::SocketType;

/// How many messages one side forwards before the loop looks at the other
/// side and the control socket again (libzmq's `proxy_burst_size`).
const BURST: usize = 1000;

/// How often a paused proxy (or one with nothing to wait for on either
/// side) looks whether the frontend's or backend's context ended: a
/// poller that watches a socket for nothing does not return for that.
const TERMINATION_CHECK: Duration = Duration::from_millis(100);

/// The reply to a control command the proxy does not know, on a control
/// socket that can send.
const UNKNOWN_REPLY: &[u8] = b"ERROR unknown command";

/// Forwards messages from `frontend` to `backend` and back, each also to
/// `capture` when given, until a socket fails. Runs on the calling thread.
/// Returns [`Error::Terminated`] when the sockets' context is shut down
/// ([`Context::shutdown`](crate::Context::shutdown)).
///
/// For an XPUB/XSUB pair this also carries subscriptions upstream, as
/// libzmq's proxy does. It is [`proxy_steerable`] without a control
/// socket; the capture socket is described there.
///
/// ```no_run
/// use monocoque::{Context, SocketType, proxy};
/// let ctx = Context::new();
/// let frontend = ctx.socket(SocketType::Router).unwrap();
/// frontend.bind("tcp://*:5559").unwrap();
/// let backend = ctx.socket(SocketType::Dealer).unwrap();
/// backend.bind("tcp://*:5560").unwrap();
/// proxy(&frontend, &backend, None).unwrap();
/// ```
pub fn proxy(frontend: &Socket, backend: &Socket, capture: Option<&Socket>) -> Result<()> {
    run(frontend, backend, capture, None)
}

/// [`proxy`] with a control socket (libzmq's `zmq_proxy_steerable`):
/// forwards between `frontend` and `backend` until `TERMINATE` comes on
/// `control` (then `Ok(())`), a socket fails, or the context is shut down
/// ([`Error::Terminated`]).
///
/// Commands are one-frame messages, as libzmq 4.3 takes them (see
/// [`ProxyCommand`]):
/// - `PAUSE`: nothing is forwarded either way until `RESUME`; messages
///   wait in the sockets' queues (up to their RCVHWM, then the peers are
///   held back) and pass in order once resumed. A message that was already
///   taken and was waiting for room on the other side waits too.
/// - `RESUME`: forwarding goes on.
/// - `TERMINATE`: the call returns `Ok(())`; the sockets stay open, with
///   whatever is still queued in them.
/// - `STATISTICS`: the reply is eight frames of a native-endian `u64`
///   each, libzmq's format: messages received on the frontend, bytes
///   received, messages sent on it, bytes sent, then the same four for
///   the backend ([`ProxyStatistics::from_message`] decodes it). A
///   multipart message counts once and its bytes are its frames' sizes
///   summed, as libzmq 4.3 counts (later libzmq counts each frame).
///
/// A REP control socket gets a reply to every command, as later libzmq
/// does (an empty frame to `PAUSE`, `RESUME` and `TERMINATE`), since a REP
/// cannot take the next command before it replied; other types get a
/// reply only to `STATISTICS`. A control socket that cannot send (SUB,
/// PULL) can pause, resume and terminate, and gets no statistics.
///
/// **An unknown command** (any other message, or a command of more than
/// one frame) changes nothing: the proxy forwards on as before. Where the
/// control socket can send, it is answered with the one frame
/// `ERROR unknown command`, so a mistyped command does not pass unnoticed.
/// libzmq 4.3 aborts the process on one; later libzmq ignores it.
///
/// **The capture socket** gets a copy of every message that passes,
/// either way, with all its frames, when it is taken from its side
/// (libzmq copies each frame as it forwards it: the capture's peer sees
/// the same messages). A copy the capture socket cannot take at once is
/// dropped rather than holding the proxy up (libzmq would block). Control
/// commands are not captured (libzmq 4.3 copies them too; its
/// documentation and later versions do not).
///
/// Fails with [`Error::Invalid`] when `control` is `frontend` or
/// `backend`, or a type that cannot receive.
///
/// ```
/// use monocoque::{proxy_steerable, Context, ProxyCommand, ProxyStatistics, SocketType};
/// let ctx = Context::new();
/// let frontend = ctx.socket(SocketType::Pull).unwrap();
/// frontend.bind("inproc://steer-in").unwrap();
/// let backend = ctx.socket(SocketType::Push).unwrap();
/// backend.bind("inproc://steer-out").unwrap();
/// let control = ctx.socket(SocketType::Rep).unwrap();
/// control.bind("inproc://steer-control").unwrap();
///
/// let (producer, consumer) = (ctx.socket(SocketType::Push).unwrap(), ctx.socket(SocketType::Pull).unwrap());
/// producer.connect("inproc://steer-in").unwrap();
/// consumer.connect("inproc://steer-out").unwrap();
/// let controller = ctx.socket(SocketType::Req).unwrap();
/// controller.connect("inproc://steer-control").unwrap();
///
/// std::thread::scope(|s| {
///     let running = s.spawn(|| proxy_steerable(&frontend, &backend, None, &control));
///     producer.send("job").unwrap();
///     assert_eq!(&consumer.recv().unwrap()[0][..], b"job");
///
///     controller.send(ProxyCommand::Statistics).unwrap();
///     let stats = ProxyStatistics::from_message(&controller.recv().unwrap()).unwrap();
///     assert_eq!(stats.frontend.messages_received, 1);
///     assert_eq!(stats.backend.bytes_sent, 3);
///
///     controller.send(ProxyCommand::Terminate).unwrap();
///     assert!(controller.recv().unwrap()[0].is_empty()); // a REP's reply
///     assert!(running.join().unwrap().is_ok());
/// });
/// ```
pub fn proxy_steerable(
    frontend: &Socket,
    backend: &Socket,
    capture: Option<&Socket>,
    control: &Socket,
) -> Result<()> {
    if std::ptr::eq(control, frontend) || std::ptr::eq(control, backend) {
        return Err(Error::Invalid(
            "the control socket cannot be the frontend or the backend",
        ));
    }
    if !control.can_recv() {
        return Err(Error::Invalid(
            "the control socket must be a type that receives",
        ));
    }
    run(frontend, backend, capture, Some(control))
}

/// A command for a steerable proxy's control socket
/// ([`proxy_steerable`]), sent as one frame holding its name, as libzmq
/// spells it.
///
/// ```
/// use monocoque::{Message, ProxyCommand};
/// assert_eq!(ProxyCommand::Pause.as_bytes(), b"PAUSE");
/// let msg = Message::from(ProxyCommand::Statistics);
/// assert_eq!(&msg[0][..], b"STATISTICS");
/// ```
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash)]
#[non_exhaustive]
pub enum ProxyCommand {
    /// `PAUSE`: stop forwarding, both ways.
    Pause,
    /// `RESUME`: forward again.
    Resume,
    /// `TERMINATE`: return `Ok(())`.
    Terminate,
    /// `STATISTICS`: reply with the counts ([`ProxyStatistics`]).
    Statistics,
}

impl ProxyCommand {
    /// The command's frame: `PAUSE`, `RESUME`, `TERMINATE` or `STATISTICS`.
    pub fn as_bytes(self) -> &'static [u8] {
        match self {
            ProxyCommand::Pause => b"PAUSE",
            ProxyCommand::Resume => b"RESUME",
            ProxyCommand::Terminate => b"TERMINATE",
            ProxyCommand::Statistics => b"STATISTICS",
        }
    }

    /// The command a control message holds: one frame, spelled exactly.
    fn parse(msg: &Message) -> Option<ProxyCommand> {
        let [frame] = msg.frames() else {
            return None;
        };
        [
            ProxyCommand::Pause,
            ProxyCommand::Resume,
            ProxyCommand::Terminate,
            ProxyCommand::Statistics,
        ]
        .into_iter()
        .find(|c| c.as_bytes() == &frame[..])
    }
}

impl From<ProxyCommand> for Message {
    fn from(c: ProxyCommand) -> Message {
        Message::from(Bytes::from_static(c.as_bytes()))
    }
}

/// What one side of a proxy has carried: part of [`ProxyStatistics`].
///
/// ```
/// let s = monocoque::SocketStatistics::default();
/// assert_eq!(s.messages_received + s.messages_sent, 0);
/// ```
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq, Hash)]
pub struct SocketStatistics {
    /// Messages received on this socket (a multipart message counts once).
    pub messages_received: u64,
    /// The bytes of those messages (their frames' sizes summed).
    pub bytes_received: u64,
    /// Messages sent on this socket.
    pub messages_sent: u64,
    /// The bytes of those messages.
    pub bytes_sent: u64,
}

impl SocketStatistics {
    fn received(&mut self, bytes: usize) {
        self.messages_received += 1;
        self.bytes_received += bytes as u64;
    }

    fn sent(&mut self, bytes: usize) {
        self.messages_sent += 1;
        self.bytes_sent += bytes as u64;
    }
}

/// A steerable proxy's answer to `STATISTICS` ([`proxy_steerable`]): what
/// its frontend and backend have carried since it started.
///
/// On the wire it is libzmq's eight frames of a native-endian `u64` each,
/// frontend first: messages received, bytes received, messages sent,
/// bytes sent.
///
/// ```
/// use monocoque::{ProxyStatistics, SocketStatistics};
/// let mut stats = ProxyStatistics::default();
/// stats.backend.bytes_sent = 42;
/// let msg = stats.to_message();
/// assert_eq!(msg.len(), 8);
/// assert_eq!(&msg[7][..], &42u64.to_ne_bytes());
/// assert_eq!(ProxyStatistics::from_message(&msg).unwrap(), stats);
/// ```
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq, Hash)]
pub struct ProxyStatistics {
    /// The frontend's counts.
    pub frontend: SocketStatistics,
    /// The backend's counts.
    pub backend: SocketStatistics,
}

impl ProxyStatistics {
    /// Decodes a `STATISTICS` reply (ours or libzmq's); [`Error::Invalid`]
    /// when it is not eight frames of eight bytes (such as the
    /// `ERROR unknown command` reply).
    ///
    /// ```
    /// # use monocoque::{Message, ProxyStatistics};
    /// assert!(ProxyStatistics::from_message(&Message::from("ERROR unknown command")).is_err());
    /// ```
    pub fn from_message(msg: &Message) -> Result<ProxyStatistics> {
        let invalid = || Error::Invalid("not a STATISTICS reply (eight frames of eight bytes)");
        if msg.len() != 8 {
            return Err(invalid());
        }
        let mut v = [0u64; 8];
        for (value, frame) in v.iter_mut().zip(msg.frames()) {
            let bytes: [u8; 8] = frame[..].try_into().map_err(|_| invalid())?;
            *value = u64::from_ne_bytes(bytes);
        }
        let side = |s: &[u64]| SocketStatistics {
            messages_received: s[0],
            bytes_received: s[1],
            messages_sent: s[2],
            bytes_sent: s[3],
        };
        Ok(ProxyStatistics {
            frontend: side(&v[..4]),
            backend: side(&v[4..]),
        })
    }

    /// The reply's eight frames, as [`proxy_steerable`] sends them.
    pub fn to_message(&self) -> Message {
        let (f, b) = (&self.frontend, &self.backend);
        [
            f.messages_received,
            f.bytes_received,
            f.messages_sent,
            f.bytes_sent,
            b.messages_received,
            b.bytes_received,
            b.messages_sent,
            b.bytes_sent,
        ]
        .into_iter()
        .map(|v| Bytes::copy_from_slice(&v.to_ne_bytes()))
        .collect()
    }
}

/// Whether the proxy forwards.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
enum State {
    Active,
    Paused,
}

/// One way through the proxy: from a socket that receives to one that
/// sends, with the message that waits for room on the second, if any.
struct Way<'a> {
    from: &'a Socket,
    to: &'a Socket,
    /// Whether `from` is a type that receives (a PUB frontend is not).
    receives: bool,
    /// Taken from `from` (counted and captured), not yet taken by `to`.
    waiting: Option<Message>,
}

impl Way<'_> {
    /// Sends what waits, then forwards up to [`BURST`] messages, until
    /// `from` has none or `to` has no room (the message then waits).
    fn forward(
        &mut self,
        from_stats: &mut SocketStatistics,
        to_stats: &mut SocketStatistics,
        capture: Option<&Socket>,
    ) -> Result<()> {
        if let Some(msg) = self.waiting.take() {
            if !self.send(msg, to_stats)? {
                return Ok(());
            }
        }
        if !self.receives {
            return Ok(());
        }
        for _ in 0..BURST {
            let msg = match self.from.try_recv() {
                Ok(msg) => msg,
                Err(Error::WouldBlock) => break,
                Err(e) => return Err(e),
            };
            from_stats.received(msg.size());
            if let Some(c) = capture {
                // Best effort: a full capture socket never holds the proxy.
                let _ = c.try_send(msg.clone());
            }
            if !self.send(msg, to_stats)? {
                break;
            }
        }
        Ok(())
    }

    /// Sends `msg` on `to` if it has room now (true), else keeps it waiting.
    fn send(&mut self, msg: Message, stats: &mut SocketStatistics) -> Result<bool> {
        let size = msg.size();
        match self.to.try_send_or_return(msg) {
            Ok(()) => {
                stats.sent(size);
                Ok(true)
            }
            Err(unsent) if matches!(unsent.error, Error::WouldBlock) => {
                self.waiting = Some(unsent.message);
                Ok(false)
            }
            Err(unsent) => Err(unsent.error),
        }
    }

    /// What to wait for on `from` and `to` for this way to move: a message
    /// on `from` when nothing waits, else room on `to`.
    fn interest(&self) -> (Events, Events) {
        match self.waiting {
            None if self.receives => (Events::READABLE, Events::NONE),
            None => (Events::NONE, Events::NONE),
            Some(_) => (Events::NONE, Events::WRITABLE),
        }
    }
}

/// A registered socket and what it is waited for now.
struct Watched {
    token: usize,
    interest: Events,
}

impl Watched {
    fn add(poller: &mut Poller, socket: &Socket, interest: Events) -> Result<Watched> {
        Ok(Watched {
            token: poller.add(socket, interest)?,
            interest,
        })
    }

    /// Waits for `interest` from now on.
    fn want(&mut self, poller: &mut Poller, interest: Events) -> Result<()> {
        if interest != self.interest {
            poller.modify(self.token, interest)?;
            self.interest = interest;
        }
        Ok(())
    }
}

/// The loop of [`proxy`] and [`proxy_steerable`].
fn run(
    frontend: &Socket,
    backend: &Socket,
    capture: Option<&Socket>,
    control: Option<&Socket>,
) -> Result<()> {
    // libzmq allows one socket as both ends (a ROUTER or a DEALER talking
    // to itself): then there is only the one way, into itself.
    let same = std::ptr::eq(frontend, backend);
    let mut forth = Way {
        from: frontend,
        to: backend,
        receives: frontend.can_recv(),
        waiting: None,
    };
    let mut back = Way {
        from: backend,
        to: frontend,
        receives: !same && backend.can_recv(),
        waiting: None,
    };
    let mut poller = Poller::new();
    let mut front_watch = Watched::add(&mut poller, frontend, Events::NONE)?;
    let mut back_watch = if same {
        None
    } else {
        Some(Watched::add(&mut poller, backend, Events::NONE)?)
    };
    let ctl = match control {
        Some(c) => Some((c, Watched::add(&mut poller, c, Events::READABLE)?)),
        None => None,
    };
    let cores: Vec<Arc<Core>> = [Some(frontend), (!same).then_some(backend), control]
        .into_iter()
        .flatten()
        .map(Socket::core_arc)
        .collect();
    let mut state = State::Active;
    let mut stats = ProxyStatistics::default();
    loop {
        // What to wait for: nothing on the two sides while paused.
        let (mut fi, mut bi) = (Events::NONE, Events::NONE);
        if state == State::Active {
            let (from, to) = forth.interest();
            let (back_from, back_to) = back.interest();
            fi = from | back_to;
            bi = to | back_from;
            if same {
                fi = fi | bi;
            }
        }
        front_watch.want(&mut poller, fi)?;
        if let Some(b) = back_watch.as_mut() {
            b.want(&mut poller, bi)?;
        }
        // Termination rings a socket's bell, but a wait that looks at
        // no socket for anything would not return for it.
        let blind = state == State::Paused || (fi.is_empty() && bi.is_empty());
        let timeout = blind.then_some(TERMINATION_CHECK);

        // Wait.
        let (mut front_ready, mut back_ready) = (Events::NONE, Events::NONE);
        let mut control_ready = false;
        for event in poller.wait(timeout)? {
            if event.token == front_watch.token {
                front_ready = event.events;
            } else if back_watch.as_ref().is_some_and(|b| b.token == event.token) {
                back_ready = event.events;
            } else if ctl.as_ref().is_some_and(|(_, w)| w.token == event.token) {
                control_ready = true;
            }
        }
        if cores.iter().any(|c| c.is_terminated()) {
            return Err(Error::Terminated);
        }
        if same {
            back_ready = front_ready;
        }

        // Commands first: a PAUSE that came with messages holds them.
        if let (true, Some((c, _))) = (control_ready, ctl.as_ref()) {
            for _ in 0..BURST {
                let msg = match c.try_recv() {
                    Ok(msg) => msg,
                    Err(Error::WouldBlock) => break,
                    Err(e) => return Err(e),
                };
                match command(c, &msg, &stats)? {
                    Some(ProxyCommand::Pause) => state = State::Paused,
                    Some(ProxyCommand::Resume) => state = State::Active,
                    Some(ProxyCommand::Terminate) => return Ok(()),
                    Some(ProxyCommand::Statistics) | None => {}
                }
            }
        }
        if state == State::Paused {
            continue;
        }

        // Then each way, if it can move.
        let moves = |way: &Way<'_>, from: Events, to: Events| match way.waiting {
            None => from.readable,
            Some(_) => to.writable,
        };
        if moves(&forth, front_ready, back_ready) {
            forth.forward(&mut stats.frontend, &mut stats.backend, capture)?;
        }
        if !same && moves(&back, back_ready, front_ready) {
            back.forward(&mut stats.backend, &mut stats.frontend, capture)?;
        }
    }
}

/// Acts on one control message: the command it holds (`None`: unknown,
/// answered with [`UNKNOWN_REPLY`] where the socket can send), after
/// sending what it calls for.
fn command(
    control: &Socket,
    msg: &Message,
    stats: &ProxyStatistics,
) -> Result<Option<ProxyCommand>> {
    let cmd = ProxyCommand::parse(msg);
    let rep = control.socket_type() == SocketType::Rep;
    let reply = match cmd {
        Some(ProxyCommand::Statistics) => Some(stats.to_message()),
        Some(_) if rep => Some(Message::from(Bytes::new())),
        Some(_) => None,
        None => Some(Message::from(Bytes::from_static(UNKNOWN_REPLY))),
    };
    if let Some(reply) = reply {
        // A reply the socket cannot take now (no room, a type that does
        // not send) is dropped: a controller never holds the proxy up.
        if let Err(Error::Terminated) = control.try_send(reply) {
            return Err(Error::Terminated);
        }
    }
    Ok(cmd)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn commands_parse_only_as_one_exact_frame() {
        for c in [
            ProxyCommand::Pause,
            ProxyCommand::Resume,
            ProxyCommand::Terminate,
            ProxyCommand::Statistics,
        ] {
            assert_eq!(ProxyCommand::parse(&Message::from(c)), Some(c));
        }
        for bad in [&b"pause"[..], b"PAUSED", b"PAUS", b"", b"STATISTICS "] {
            assert_eq!(ProxyCommand::parse(&Message::from(bad.to_vec())), None);
        }
        let two: Message = ["PAUSE", "PAUSE"].into_iter().collect();
        assert_eq!(ProxyCommand::parse(&two), None);
    }

    #[test]
    fn statistics_are_eight_native_endian_u64_frames_in_libzmqs_order() {
        let stats = ProxyStatistics {
            frontend: SocketStatistics {
                messages_received: 1,
                bytes_received: 2,
                messages_sent: 3,
                bytes_sent: 4,
            },
            backend: SocketStatistics {
                messages_received: 5,
                bytes_received: 6,
                messages_sent: 7,
                bytes_sent: u64::MAX - 1,
            },
        };
        let msg = stats.to_message();
        let values: Vec<u64> = msg
            .frames()
            .iter()
            .map(|f| u64::from_ne_bytes(f[..].try_into().unwrap()))
            .collect();
        assert_eq!(values, [1, 2, 3, 4, 5, 6, 7, u64::MAX - 1]);
        assert_eq!(ProxyStatistics::from_message(&msg).unwrap(), stats);
    }

    #[test]
    fn a_reply_of_the_wrong_shape_is_not_statistics() {
        let seven: Message = (0..7).map(|_| vec![0u8; 8]).collect();
        assert!(ProxyStatistics::from_message(&seven).is_err());
        let short: Message = (0..8)
            .map(|i| vec![0u8; if i == 3 { 4 } else { 8 }])
            .collect();
        assert!(ProxyStatistics::from_message(&short).is_err());
        assert!(ProxyStatistics::from_message(&Message::from(UNKNOWN_REPLY.to_vec())).is_err());
    }
}
