//! The STREAM socket's engine: raw bytes, no ZMTP. Each connection gets a
//! routing id; the socket receives `[id, data]` (and, from its pattern,
//! an empty `data` when the peer connects and when it goes: STREAM_NOTIFY)
//! and sends `[id, data]` (an empty `data` closes that connection), as
//! libzmq's ZMQ_STREAM does.

use compio::buf::BufResult;
use compio::io::{AsyncRead, AsyncReadManaged, AsyncWrite};
use monocoque_core::alloc::WriteBatch;

use super::{next_read, read_chunk, write_all, ConnSpec, QUIET_READ, READ_SIZE};
use crate::message::Message;
use crate::monitor::EndReason;
use crate::pipe::Consumer;
use crate::socket_core::Outbox;
use crate::sync::{race, Either};

/// Runs one raw connection to its end; returns why it ended.
pub(crate) async fn run<S>(stream: S, spec: &ConnSpec) -> EndReason
where
    S: AsyncRead + AsyncReadManaged + AsyncWrite + Clone + 'static,
{
    let port = &spec.port;
    let inbox = port.inbox().clone();
    let (producer, pipe) = port.pipe(&port.options());
    // A connecter's entry exists when `CONNECT_ROUTING_ID` named its peer:
    // this connection takes it over, with what was queued for it.
    let preset = spec.preset.as_ref().map(|(id, _)| *id);
    let queued = spec.preset.as_ref().map(|(_, early)| early);
    let (id, rid) = match port.attach(preset, Some(Outbox::Engine(producer.clone())), None) {
        Ok((id, Some(rid))) => (id, rid),
        Ok((id, None)) => {
            port.detach(id, true);
            return EndReason::Rejected("a STREAM peer needs a routing id");
        }
        Err(why) => return why,
    };
    if let Some(early) = queued {
        while let Some(mut msgs) = early.pop_batch() {
            let n = msgs.len();
            for m in msgs.drain(..) {
                let _ = producer.enqueue(m);
            }
            early.written(n);
        }
    }
    drop(producer);
    port.emit(spec.handshake_succeeded(Some(rid.clone())));
    let writer = compio::runtime::spawn(write_loop(stream.clone(), pipe.clone()));
    let mut r = stream;
    let mut read_size = QUIET_READ;
    let reason = loop {
        let stop = async {
            loop {
                if pipe.is_closed() || spec.cancel.is_cancelled() {
                    return;
                }
                let l = pipe.closing().listen();
                if pipe.is_closed() || spec.cancel.is_cancelled() {
                    return;
                }
                let _ = race(l, spec.cancel.wait()).await;
            }
        };
        let chunk = match race(read_chunk(&mut r, read_size), stop).await {
            Either::Left(Ok(b)) if b.is_empty() => break EndReason::PeerClosed,
            Either::Left(Ok(b)) => {
                read_size = next_read(read_size, b.len(), READ_SIZE);
                b
            }
            Either::Left(Err(e)) => break e.into(),
            Either::Right(()) => break EndReason::Closed,
        };
        let mut m = Message::from(rid.clone());
        m.push_back(chunk);
        let mut m = Some(m);
        while let Some(msg) = m.take() {
            if let Err(back) = inbox.push_one(id, msg) {
                if inbox.is_closed() || pipe.is_closed() {
                    break;
                }
                let l = inbox.space.listen();
                if inbox.is_full() {
                    l.await;
                }
                m = Some(back);
            }
        }
    };
    pipe.close();
    let _ = writer.await;
    // The socket's pattern tells it of the close (`STREAM_NOTIFY`); a
    // `CONNECT_ROUTING_ID` entry stays for the reconnection.
    port.detach(id, preset.is_none());
    port.emit(spec.disconnected(Some(rid), reason.clone()));
    reason
}

async fn write_loop<S: AsyncWrite>(mut w: S, pipe: Consumer) {
    let mut batch = WriteBatch::new();
    loop {
        let mut close = false;
        let mut held = 0;
        while let Some(mut msgs) = pipe.pop_batch() {
            held += msgs.len();
            for m in msgs.drain(..) {
                match m.frames().first() {
                    Some(data) if !data.is_empty() => batch.push(data.clone()),
                    _ => close = true,
                }
                if close {
                    break;
                }
            }
            pipe.recycle(msgs);
            if close {
                break;
            }
        }
        if !batch.is_empty() {
            let BufResult(res, b) = write_all(&mut w, batch).await;
            batch = b;
            if res.is_err() {
                pipe.written(held);
                pipe.close();
                return;
            }
        }
        pipe.written(held);
        if close || pipe.is_closed() {
            let _ = w.shutdown().await;
            pipe.close();
            return;
        }
        let l = pipe.ready().listen();
        if pipe.has_work() {
            continue;
        }
        l.await;
    }
}
