//! The NULL mechanism (RFC 23): both peers send READY with their metadata.
//! With a ZAP domain set, a peer first asks ZAP (mechanism "NULL", no
//! credentials) and sends READY only once admitted, as libzmq does.

use crate::command::{Command, Metadata};
use crate::error::ProtocolError;
use crate::greeting::MechanismName;
use crate::zap::ZapReply;

use super::{unexpected, Cx, Established, Handshake};

#[derive(Debug)]
enum State {
    Start,
    AwaitZap {
        id: bytes::Bytes,
        peer_ready: Option<Metadata>,
    },
    AwaitReady,
    Done,
}

/// NULL handshake state.
#[derive(Debug)]
pub(crate) struct Null {
    zap: bool,
    state: State,
    admitted: Established,
}

impl Null {
    pub(crate) fn new(zap: bool) -> Null {
        Null {
            zap,
            state: State::Start,
            admitted: Established::default(),
        }
    }

    fn complete(&mut self, md: Metadata, cx: &mut Cx<'_>) -> Result<(), ProtocolError> {
        cx.check_peer(&md)?;
        self.state = State::Done;
        cx.finish(md, std::mem::take(&mut self.admitted));
        Ok(())
    }
}

impl Handshake for Null {
    fn start(&mut self, cx: &mut Cx<'_>) -> Result<(), ProtocolError> {
        if self.zap {
            let id = cx.ask_zap(&MechanismName::NULL, Vec::new());
            self.state = State::AwaitZap {
                id,
                peer_ready: None,
            };
        } else {
            cx.send_ready(false);
            self.state = State::AwaitReady;
        }
        Ok(())
    }

    fn on_command(&mut self, cmd: Command, cx: &mut Cx<'_>) -> Result<(), ProtocolError> {
        match (&mut self.state, cmd) {
            (State::AwaitReady, Command::Ready(md)) => self.complete(md, cx),
            (State::AwaitZap { peer_ready, .. }, Command::Ready(md)) if peer_ready.is_none() => {
                *peer_ready = Some(md);
                Ok(())
            }
            (_, cmd) => Err(unexpected(&cmd, "during the null handshake")),
        }
    }

    fn on_zap_reply(&mut self, reply: ZapReply, cx: &mut Cx<'_>) -> Result<(), ProtocolError> {
        let State::AwaitZap { id, peer_ready } = &mut self.state else {
            return Err(ProtocolError::UnexpectedZapReply);
        };
        let (id, ready) = (id.clone(), peer_ready.take());
        cx.zap_verdict(&id, reply, &mut self.admitted)?;
        cx.send_ready(false);
        match ready {
            Some(md) => self.complete(md, cx),
            None => {
                self.state = State::AwaitReady;
                Ok(())
            }
        }
    }
}
