//! The PLAIN mechanism (RFC 24): clear-text user name and password.
//!
//! ```text
//! client                         server
//! HELLO username password  -->
//!                                (asks ZAP)
//!                          <--   WELCOME   (or ERROR "400")
//! INITIATE metadata        -->
//!                          <--   READY metadata
//! ```

use bytes::Bytes;

use crate::command::Command;
use crate::error::ProtocolError;
use crate::greeting::MechanismName;
use crate::zap::ZapReply;

use super::{unexpected, Cx, Established, Handshake};

#[derive(Debug, PartialEq, Eq)]
enum ClientState {
    Start,
    ExpectWelcome,
    ExpectReady,
    Done,
}

/// PLAIN client handshake state.
#[derive(Debug)]
pub(crate) struct PlainClient {
    username: Bytes,
    password: Bytes,
    state: ClientState,
}

impl PlainClient {
    pub(crate) fn new(username: Bytes, password: Bytes) -> PlainClient {
        PlainClient {
            username,
            password,
            state: ClientState::Start,
        }
    }
}

impl Handshake for PlainClient {
    fn start(&mut self, cx: &mut Cx<'_>) -> Result<(), ProtocolError> {
        cx.send(&Command::Hello {
            username: self.username.clone(),
            password: self.password.clone(),
        });
        self.state = ClientState::ExpectWelcome;
        Ok(())
    }

    fn on_command(&mut self, cmd: Command, cx: &mut Cx<'_>) -> Result<(), ProtocolError> {
        match (&self.state, cmd) {
            (ClientState::ExpectWelcome, Command::Welcome) => {
                cx.send_ready(true);
                self.state = ClientState::ExpectReady;
                Ok(())
            }
            (ClientState::ExpectReady, Command::Ready(md)) => {
                cx.check_peer(&md)?;
                self.state = ClientState::Done;
                cx.finish(md, Established::default());
                Ok(())
            }
            (ClientState::ExpectWelcome, Command::Error { reason })
                if reason.len() == 3 && reason.iter().all(u8::is_ascii_digit) =>
            {
                // libzmq's PLAIN server answers a ZAP refusal with the status code.
                Err(ProtocolError::AuthenticationFailed {
                    status_code: String::from_utf8_lossy(&reason).into_owned(),
                    status_text: String::new(),
                })
            }
            (_, cmd) => Err(unexpected(&cmd, "during the plain handshake (client)")),
        }
    }

    fn on_zap_reply(&mut self, _: ZapReply, _: &mut Cx<'_>) -> Result<(), ProtocolError> {
        Err(ProtocolError::UnexpectedZapReply)
    }
}

#[derive(Debug)]
enum ServerState {
    ExpectHello,
    AwaitZap(Bytes),
    ExpectInitiate,
    Done,
}

/// PLAIN server handshake state.
#[derive(Debug)]
pub(crate) struct PlainServer {
    state: ServerState,
    admitted: Established,
}

impl PlainServer {
    pub(crate) fn new() -> PlainServer {
        PlainServer {
            state: ServerState::ExpectHello,
            admitted: Established::default(),
        }
    }
}

impl Handshake for PlainServer {
    fn start(&mut self, _: &mut Cx<'_>) -> Result<(), ProtocolError> {
        Ok(())
    }

    fn on_command(&mut self, cmd: Command, cx: &mut Cx<'_>) -> Result<(), ProtocolError> {
        match (&self.state, cmd) {
            (ServerState::ExpectHello, Command::Hello { username, password }) => {
                let id = cx.ask_zap(&MechanismName::PLAIN, vec![username, password]);
                self.state = ServerState::AwaitZap(id);
                Ok(())
            }
            (ServerState::ExpectInitiate, Command::Initiate(md)) => {
                cx.check_peer(&md)?;
                cx.send_ready(false);
                self.state = ServerState::Done;
                cx.finish(md, std::mem::take(&mut self.admitted));
                Ok(())
            }
            (_, cmd) => Err(unexpected(&cmd, "during the plain handshake (server)")),
        }
    }

    fn on_zap_reply(&mut self, reply: ZapReply, cx: &mut Cx<'_>) -> Result<(), ProtocolError> {
        let ServerState::AwaitZap(id) = &self.state else {
            return Err(ProtocolError::UnexpectedZapReply);
        };
        let id = id.clone();
        cx.zap_verdict(&id, reply, &mut self.admitted)?;
        cx.send(&Command::Welcome);
        self.state = ServerState::ExpectInitiate;
        Ok(())
    }
}
