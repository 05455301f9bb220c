//! The CURVE client: HELLO, then INITIATE once WELCOME opened, then READY.

use bytes::{BufMut, Bytes, BytesMut};

use crate::command::{Command, Metadata};
use crate::error::ProtocolError;
use crate::frame::{Encoder, Frame};
use crate::mechanism::{unexpected, Cx, Established, Handshake};
use crate::zap::ZapReply;

use super::keys::{CurvePublicKey, CurveSecretKey, KEY_LEN};
use super::{
    command_body, crypto_failed, long_nonce, open_box, open_with, parse_handshake, random16,
    seal_into, seal_with, short_nonce, Traffic, HELLO, HELLO_DATA_LEN, HELLO_NONCE, INITIATE,
    INITIATE_NONCE, READY, READY_NONCE, VOUCH_NONCE, WELCOME, WELCOME_DATA_LEN, WELCOME_NONCE,
};

/// The client's states, each holding only what the next step needs.
#[derive(Debug)]
enum State {
    Start,
    /// HELLO sent with the transient key `c'`.
    ExpectWelcome {
        transient: CurveSecretKey,
    },
    /// INITIATE sent; the box between `c'` and `S'` is known.
    ExpectReady {
        traffic: Traffic,
    },
    Done {
        traffic: Traffic,
    },
    /// A step failed; nothing more is accepted.
    Failed,
}

impl State {
    /// The data phase's boxes, once the handshake is done.
    fn traffic(&mut self) -> Option<&mut Traffic> {
        match self {
            State::Done { traffic } => Some(traffic),
            _ => None,
        }
    }
}

/// CURVE client handshake and data-phase state.
#[derive(Debug)]
pub(crate) struct CurveClient {
    public: CurvePublicKey,
    secret: CurveSecretKey,
    server: CurvePublicKey,
    state: State,
}

impl CurveClient {
    pub(crate) fn new(
        public: CurvePublicKey,
        secret: CurveSecretKey,
        server: CurvePublicKey,
    ) -> CurveClient {
        CurveClient {
            public,
            secret,
            server,
            state: State::Start,
        }
    }

    /// WELCOME: open it with `c'`, learn `S'` and the cookie, send INITIATE.
    fn on_welcome(
        &self,
        transient: &CurveSecretKey,
        data: &[u8],
        cx: &mut Cx<'_>,
    ) -> Result<Traffic, ProtocolError> {
        if data.len() != WELCOME_DATA_LEN {
            return Err(ProtocolError::malformed(WELCOME, "not 168 bytes"));
        }
        let to_server = transient.salsa_box(&self.server);
        let nonce = long_nonce(WELCOME_NONCE, &data[..16]);
        let pt = open_box(&to_server, &nonce, &data[16..], "WELCOME")?;
        let mut s = [0u8; KEY_LEN];
        s.copy_from_slice(&pt[..KEY_LEN]);
        let server_transient = CurvePublicKey::from_bytes(s);
        let cookie = &pt[KEY_LEN..];

        // The vouch: Box[C', S](C->S'), proving we hold `c` for `C`.
        let long = random16()?;
        let mut vouched = [0u8; 2 * KEY_LEN];
        vouched[..KEY_LEN].copy_from_slice(transient.public_key().as_bytes());
        vouched[KEY_LEN..].copy_from_slice(self.server.as_bytes());
        let mut plaintext = BytesMut::with_capacity(KEY_LEN + 96 + cx.our_props.encoded_len());
        plaintext.extend_from_slice(self.public.as_bytes());
        plaintext.extend_from_slice(&long);
        let vouch_box = self.secret.salsa_box(&server_transient);
        seal_into(
            &vouch_box,
            &long_nonce(VOUCH_NONCE, &long),
            &[&vouched],
            &mut plaintext,
        )?;
        cx.our_props.encode(&mut plaintext);

        // HELLO used short nonce 1; INITIATE takes the next.
        let mut traffic = Traffic::new(transient.salsa_box(&server_transient), true, 1, 0);
        let body = traffic.command(INITIATE, cookie, INITIATE_NONCE, &plaintext)?;
        cx.send_command_body(body);
        Ok(traffic)
    }
}

impl Handshake for CurveClient {
    fn start(&mut self, cx: &mut Cx<'_>) -> Result<(), ProtocolError> {
        let transient =
            CurveSecretKey::try_generate().ok_or(crypto_failed("the random source failed"))?;
        let nonce = 1u64;
        let mut b = command_body(HELLO, HELLO_DATA_LEN);
        b.put_slice(&[1, 0]);
        b.put_bytes(0, 72);
        b.extend_from_slice(transient.public_key().as_bytes());
        b.put_u64(nonce);
        seal_into(
            &transient.salsa_box(&self.server),
            &short_nonce(HELLO_NONCE, nonce),
            &[&[0u8; 64]],
            &mut b,
        )?;
        cx.send_command_body(b.freeze());
        self.state = State::ExpectWelcome { transient };
        Ok(())
    }

    fn parse_command(&self, body: Bytes) -> Result<Command, ProtocolError> {
        parse_handshake(body)
    }

    fn on_command(&mut self, cmd: Command, cx: &mut Cx<'_>) -> Result<(), ProtocolError> {
        let state = std::mem::replace(&mut self.state, State::Failed);
        match (state, cmd) {
            (State::ExpectWelcome { transient }, Command::Unknown { name, data })
                if name == WELCOME =>
            {
                let traffic = self.on_welcome(&transient, &data, cx)?;
                self.state = State::ExpectReady { traffic };
                Ok(())
            }
            (State::ExpectReady { mut traffic }, Command::Unknown { name, data })
                if name == READY =>
            {
                let pt = traffic.open_command(READY_NONCE, &data, "READY")?;
                let md = Metadata::decode(Bytes::copy_from_slice(&pt))
                    .map_err(|r| ProtocolError::malformed(READY, r))?;
                cx.check_peer(&md)?;
                cx.finish(md, Established::default());
                self.state = State::Done { traffic };
                Ok(())
            }
            (
                State::ExpectWelcome { .. } | State::ExpectReady { .. },
                Command::Error { reason },
            ) if reason.len() == 3 && reason.iter().all(u8::is_ascii_digit) => {
                // libzmq's CURVE server answers a ZAP refusal with the status code.
                Err(ProtocolError::AuthenticationFailed {
                    status_code: String::from_utf8_lossy(&reason).into_owned(),
                    status_text: String::new(),
                })
            }
            (_, cmd) => Err(unexpected(&cmd, "during the curve handshake (client)")),
        }
    }

    fn on_zap_reply(&mut self, _: ZapReply, _: &mut Cx<'_>) -> Result<(), ProtocolError> {
        Err(ProtocolError::UnexpectedZapReply)
    }

    fn protects_traffic(&self) -> bool {
        true
    }

    fn open(&mut self, frame: Frame) -> Result<Option<Frame>, ProtocolError> {
        open_with(self.state.traffic(), frame)
    }

    fn seal(
        &mut self,
        frame: Frame,
        enc: &mut Encoder,
        out: &mut Vec<Bytes>,
    ) -> Result<(), ProtocolError> {
        seal_with(self.state.traffic(), frame, enc, out)
    }
}
