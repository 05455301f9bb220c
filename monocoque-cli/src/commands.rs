//! The subcommands that open sockets: send, recv, reply, request, proxy.

use std::io::{self, BufRead, Write};
use std::sync::atomic::{AtomicBool, AtomicU64, Ordering};
use std::time::{Duration, Instant};

use bytes::Bytes;
use monocoque::{Context, Error, Message, Socket, SocketType};

use crate::cli::{ProxyCommand, SocketArgs, SocketCommand};
use crate::format::LineCodec;
use crate::socket::{io_failure, open, timed_out, wait_for_peers, Opened};
use crate::Failure;

/// Where received messages go: stdout, one flushed line each.
struct Printer<'a> {
    codec: &'a LineCodec,
    line: Vec<u8>,
}

impl Printer<'_> {
    fn new(codec: &LineCodec) -> Printer<'_> {
        Printer {
            codec,
            line: Vec::new(),
        }
    }

    /// Prints one message; `Ok(false)` when stdout is gone (`mq recv | head`),
    /// which ends the command quietly.
    fn print(&mut self, msg: &Message) -> Result<bool, Failure> {
        self.line.clear();
        self.codec.write_line(msg.frames(), &mut self.line);
        let mut out = io::stdout().lock();
        match out.write_all(&self.line).and_then(|()| out.flush()) {
            Ok(()) => Ok(true),
            Err(e) if e.kind() == io::ErrorKind::BrokenPipe => Ok(false),
            Err(e) => Err(Failure::Runtime(format!("stdout: {e}"))),
        }
    }
}

/// The messages a command sends: its FRAMEs (one message, `--count` times,
/// once by default), or else one per stdin line (`--count` caps them).
enum Outgoing {
    Frames(Message, u64),
    Lines(io::Split<io::StdinLock<'static>>, u64, u64),
}

impl Outgoing {
    fn new(cmd: &SocketCommand) -> Result<Outgoing, Failure> {
        let codec = &cmd.opts.codec;
        if cmd.frames.is_empty() {
            let lines = io::stdin().lock().split(b'\n');
            return Ok(Outgoing::Lines(
                lines,
                0,
                cmd.opts.count.unwrap_or(u64::MAX),
            ));
        }
        let frames = cmd
            .frames
            .iter()
            .map(|f| codec.frame_arg(f))
            .collect::<Result<Vec<Bytes>, _>>()
            .map_err(|e| Failure::Usage(e.to_string()))?;
        Ok(Outgoing::Frames(
            Message::from(frames),
            cmd.opts.count.unwrap_or(1),
        ))
    }

    fn next(&mut self, codec: &LineCodec) -> Result<Option<Message>, Failure> {
        match self {
            Outgoing::Frames(_, 0) => Ok(None),
            Outgoing::Frames(msg, left) => {
                *left -= 1;
                Ok(Some(msg.clone()))
            }
            Outgoing::Lines(lines, read, cap) => {
                if *read >= *cap {
                    return Ok(None);
                }
                let Some(line) = lines.next() else {
                    return Ok(None);
                };
                let line = line.map_err(|e| Failure::Runtime(format!("stdin: {e}")))?;
                *read += 1;
                let frames = codec
                    .parse_line(&line)
                    .map_err(|e| Failure::Runtime(format!("stdin line {read}: {e}")))?;
                Ok(Some(Message::from(frames)))
            }
        }
    }
}

/// Runs `body` on an opened socket, then closes it. On failure the socket
/// lingers no longer than `--linger` says (not at all by default): the
/// command has already failed.
fn with_socket(
    opened: Opened,
    args: &SocketArgs,
    body: impl FnOnce(&Socket, &Opened) -> Result<(), Failure>,
) -> Result<(), Failure> {
    let result = body(&opened.socket, &opened);
    if result.is_err() && args.linger.is_none() {
        opened
            .socket
            .update_options(|o| o.linger = Some(Duration::ZERO));
    }
    opened.close();
    result
}

/// STREAM: a message of one frame (just the data) goes to the first peer;
/// its routing id, which nobody could have typed (it is generated), comes
/// with the peer's connect notice. Other messages go as they are.
#[derive(Default)]
struct StreamPeer(Option<Bytes>);

impl StreamPeer {
    fn address(
        &mut self,
        socket: &Socket,
        args: &SocketArgs,
        mut msg: Message,
    ) -> Result<Message, Failure> {
        if socket.socket_type() != SocketType::Stream || msg.len() != 1 {
            return Ok(msg);
        }
        let id = match &self.0 {
            Some(id) => id.clone(),
            None => {
                let notice = receive(socket, args, "waiting for a peer")?;
                let id = notice.first().cloned().unwrap_or_default();
                self.0 = Some(id.clone());
                id
            }
        };
        msg.push_front(id);
        Ok(msg)
    }
}

/// `mq send`.
pub(crate) fn send(cmd: &SocketCommand) -> Result<(), Failure> {
    let mut outgoing = Outgoing::new(cmd)?;
    let ctx = Context::new();
    let opened = open(&ctx, &cmd.socket, &cmd.opts, None)?;
    let waited = std::cell::Cell::new(false);
    let mut peer = StreamPeer::default();
    with_socket(opened, &cmd.opts, |socket, opened| {
        while let Some(msg) = outgoing.next(&cmd.opts.codec)? {
            // Wait for peers before the first send only: with nothing to
            // send (an empty stdin), there is nobody to wait for.
            if !waited.replace(true) {
                wait_for_peers(opened, &cmd.opts)?;
            }
            let msg = peer.address(socket, &cmd.opts, msg)?;
            socket
                .send(msg)
                .map_err(|e| io_failure(e, cmd.opts.timeout, "sending"))?;
        }
        Ok(())
    })
}

/// SUB: `--subscribe` prefixes, everything without one; XSUB: the same as
/// subscription messages.
fn subscribe(socket: &Socket, args: &SocketArgs) -> Result<(), Failure> {
    let prefixes: Vec<&[u8]> = if args.subscribe.is_empty() {
        vec![b""]
    } else {
        args.subscribe.iter().map(|p| p.as_bytes()).collect()
    };
    for prefix in prefixes {
        let result = match socket.socket_type() {
            SocketType::Sub => socket.subscribe(prefix),
            SocketType::Xsub => {
                let mut frame = Vec::with_capacity(prefix.len() + 1);
                frame.push(1);
                frame.extend_from_slice(prefix);
                socket.send(frame)
            }
            _ => return Ok(()),
        };
        result.map_err(|e| Failure::Runtime(format!("cannot subscribe: {e}")))?;
    }
    Ok(())
}

/// Receives one message, `--timeout` bounding the wait.
fn receive(socket: &Socket, args: &SocketArgs, what: &str) -> Result<Message, Failure> {
    socket.recv().map_err(|e| io_failure(e, args.timeout, what))
}

/// `mq recv`.
pub(crate) fn recv(cmd: &SocketCommand) -> Result<(), Failure> {
    let ctx = Context::new();
    let opened = open(&ctx, &cmd.socket, &cmd.opts, None)?;
    let mut printer = Printer::new(&cmd.opts.codec);
    with_socket(opened, &cmd.opts, |socket, _| {
        subscribe(socket, &cmd.opts)?;
        let mut received = 0;
        while cmd.opts.count.is_none_or(|c| received < c) {
            let msg = receive(socket, &cmd.opts, "waiting for a message")?;
            received += 1;
            if !printer.print(&msg)? {
                break;
            }
        }
        Ok(())
    })
}

/// `mq reply`: prints each request and sends it back (rep keeps the
/// envelope for us; router, dealer and pair echo the whole message, so the
/// envelope goes back as it came; stream skips its connect and disconnect
/// notifications).
pub(crate) fn reply(cmd: &SocketCommand) -> Result<(), Failure> {
    let ctx = Context::new();
    let opened = open(&ctx, &cmd.socket, &cmd.opts, None)?;
    let mut printer = Printer::new(&cmd.opts.codec);
    let stream = cmd.socket.ty == SocketType::Stream;
    with_socket(opened, &cmd.opts, |socket, _| {
        let mut replied = 0;
        while cmd.opts.count.is_none_or(|c| replied < c) {
            let msg = receive(socket, &cmd.opts, "waiting for a request")?;
            if stream && msg.frames().get(1).is_none_or(|f| f.is_empty()) {
                continue;
            }
            let stdout_open = printer.print(&msg)?;
            socket
                .send(msg)
                .map_err(|e| io_failure(e, cmd.opts.timeout, "sending a reply"))?;
            replied += 1;
            if !stdout_open {
                break;
            }
        }
        Ok(())
    })
}

/// `mq request`: each request (FRAMEs, or stdin lines), then its reply on
/// stdout (stream: the next data, its connect and disconnect notices
/// skipped).
pub(crate) fn request(cmd: &SocketCommand) -> Result<(), Failure> {
    let mut outgoing = Outgoing::new(cmd)?;
    let ctx = Context::new();
    let opened = open(&ctx, &cmd.socket, &cmd.opts, None)?;
    let mut printer = Printer::new(&cmd.opts.codec);
    let waited = std::cell::Cell::new(false);
    let mut peer = StreamPeer::default();
    let stream = cmd.socket.ty == SocketType::Stream;
    with_socket(opened, &cmd.opts, |socket, opened| {
        while let Some(msg) = outgoing.next(&cmd.opts.codec)? {
            if !waited.replace(true) {
                wait_for_peers(opened, &cmd.opts)?;
            }
            let msg = peer.address(socket, &cmd.opts, msg)?;
            socket
                .send(msg)
                .map_err(|e| io_failure(e, cmd.opts.timeout, "sending a request"))?;
            let reply = loop {
                let reply = receive(socket, &cmd.opts, "waiting for a reply")?;
                if !stream || reply.frames().get(1).is_some_and(|f| !f.is_empty()) {
                    break reply;
                }
            };
            if !printer.print(&reply)? {
                break;
            }
        }
        Ok(())
    })
}

/// `mq proxy`: `monocoque::proxy`; with `--count` or `--timeout`, a
/// forwarding loop of ours that can stop.
pub(crate) fn proxy(cmd: &ProxyCommand) -> Result<(), Failure> {
    let ctx = Context::new();
    let args = &cmd.opts;
    let frontend = open(&ctx, &cmd.frontend, args, Some("frontend"))?;
    let backend = open(&ctx, &cmd.backend, args, Some("backend"))?;
    let capture = match &cmd.capture {
        Some(spec) => Some(open(&ctx, spec, args, Some("capture"))?),
        None => None,
    };
    let result = (|| {
        for side in [&frontend, &backend] {
            if side.socket.socket_type() == SocketType::Sub {
                subscribe(&side.socket, args)?;
            }
        }
        let capture = capture.as_ref().map(|c| &c.socket);
        if args.count.is_none() && args.timeout.is_none() {
            return monocoque::proxy(&frontend.socket, &backend.socket, capture)
                .map_err(|e| Failure::Runtime(format!("proxy: {e}")));
        }
        bounded_proxy(&frontend.socket, &backend.socket, capture, args)
    })();
    for opened in [Some(frontend), Some(backend), capture]
        .into_iter()
        .flatten()
    {
        if result.is_err() && args.linger.is_none() {
            opened
                .socket
                .update_options(|o| o.linger = Some(Duration::ZERO));
        }
        opened.close();
    }
    result
}

/// Forwards both ways on two threads until `--count` messages went through
/// (either way), or fails when none came for `--timeout`.
fn bounded_proxy(
    frontend: &Socket,
    backend: &Socket,
    capture: Option<&Socket>,
    args: &SocketArgs,
) -> Result<(), Failure> {
    const POLL: Duration = Duration::from_millis(20);
    let limit = args.count.unwrap_or(u64::MAX);
    let forwarded = AtomicU64::new(0);
    let stop = AtomicBool::new(false);
    let last = std::sync::Mutex::new(Instant::now());
    for s in [frontend, backend] {
        s.update_options(|o| o.rcvtimeo = Some(POLL));
    }
    let receives = |t: SocketType| !matches!(t, SocketType::Push | SocketType::Pub);
    let forward = |from: &Socket, to: &Socket| -> Result<(), Failure> {
        if !receives(from.socket_type()) {
            return Ok(());
        }
        while !stop.load(Ordering::Acquire) {
            let msg = match from.recv() {
                Ok(msg) => msg,
                Err(Error::WouldBlock) => continue,
                Err(e) => return Err(Failure::Runtime(format!("proxy: {e}"))),
            };
            if let Ok(mut at) = last.lock() {
                *at = Instant::now();
            }
            if let Some(c) = capture {
                c.send(msg.clone())
                    .map_err(|e| io_failure(e, args.timeout, "capturing"))?;
            }
            to.send(msg)
                .map_err(|e| io_failure(e, args.timeout, "forwarding"))?;
            if forwarded.fetch_add(1, Ordering::AcqRel) + 1 >= limit {
                stop.store(true, Ordering::Release);
            }
        }
        Ok(())
    };
    let forward = |from: &Socket, to: &Socket| {
        let result = forward(from, to);
        if result.is_err() {
            stop.store(true, Ordering::Release);
        }
        result
    };
    std::thread::scope(|scope| {
        let there = scope.spawn(|| forward(frontend, backend));
        let back = scope.spawn(|| forward(backend, frontend));
        let mut result = Ok(());
        while !stop.load(Ordering::Acquire) {
            std::thread::sleep(POLL);
            let idle = last.lock().map(|at| at.elapsed()).unwrap_or_default();
            if args.timeout.is_some_and(|t| idle >= t) {
                result = Err(timed_out(args.timeout, "waiting for a message"));
                break;
            }
        }
        stop.store(true, Ordering::Release);
        for handle in [there, back] {
            let outcome = handle
                .join()
                .unwrap_or_else(|_| Err(Failure::Runtime("proxy thread panicked".to_owned())));
            if result.is_ok() {
                result = outcome;
            }
        }
        result
    })
}
