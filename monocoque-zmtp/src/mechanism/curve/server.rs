//! The CURVE server: WELCOME with a cookie for a good HELLO, then, for an
//! INITIATE whose cookie and vouch hold, a ZAP question and READY.

use bytes::{Bytes, BytesMut};
use crypto_box::aead::generic_array::GenericArray;
use crypto_box::aead::{AeadInPlace, KeyInit};
use crypto_secretbox::XSalsa20Poly1305;
use subtle::ConstantTimeEq;
use zeroize::Zeroizing;

use crate::command::{Command, Metadata};
use crate::error::ProtocolError;
use crate::frame::{Encoder, Frame};
use crate::greeting::MechanismName;
use crate::mechanism::{unexpected, Cx, Established, Handshake};
use crate::zap::ZapReply;

use super::keys::{CurvePublicKey, CurveSecretKey, KEY_LEN};
use super::{
    command_body, crypto_failed, long_nonce, open_box, open_with, parse_handshake, random16,
    seal_into, seal_with, short_nonce, Traffic, COOKIE_LEN, COOKIE_NONCE, HELLO, HELLO_DATA_LEN,
    HELLO_NONCE, INITIATE, INITIATE_DATA_MIN, INITIATE_NONCE, READY, READY_NONCE, TAG_LEN,
    VOUCH_LEN, VOUCH_NONCE, WELCOME, WELCOME_NONCE,
};

/// The server's states. Between WELCOME and INITIATE it holds no key of the
/// handshake but the cookie's.
enum State {
    ExpectHello,
    /// WELCOME sent; `C'` and `s'` are in the cookie, under `cookie_key`.
    ExpectInitiate {
        cookie_key: Zeroizing<[u8; 32]>,
        hello_nonce: u64,
    },
    /// INITIATE held; ZAP is deciding about the client's key.
    AwaitZap {
        id: Bytes,
        traffic: Traffic,
        peer: Metadata,
    },
    Done {
        traffic: Traffic,
    },
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

impl std::fmt::Debug for State {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str(match self {
            State::ExpectHello => "ExpectHello",
            State::ExpectInitiate { .. } => "ExpectInitiate",
            State::AwaitZap { .. } => "AwaitZap",
            State::Done { .. } => "Done",
            State::Failed => "Failed",
        })
    }
}

/// CURVE server handshake and data-phase state.
#[derive(Debug)]
pub(crate) struct CurveServer {
    secret: CurveSecretKey,
    public: CurvePublicKey,
    state: State,
    admitted: Established,
}

impl CurveServer {
    pub(crate) fn new(secret: CurveSecretKey) -> CurveServer {
        CurveServer {
            public: secret.public_key(),
            secret,
            state: State::ExpectHello,
            admitted: Established::default(),
        }
    }

    /// HELLO: open the signature with `C'`, answer WELCOME with `S'` and the
    /// cookie. Returns the new state.
    fn on_hello(&self, data: &[u8], cx: &mut Cx<'_>) -> Result<State, ProtocolError> {
        if data.len() != HELLO_DATA_LEN {
            return Err(ProtocolError::malformed(HELLO, "not 200 bytes"));
        }
        if data[..2] != [1, 0] {
            return Err(ProtocolError::malformed(HELLO, "unsupported curve version"));
        }
        let client_transient = key_at(data, 74);
        let hello_nonce = u64_at(data, 106);
        let to_client = self.secret.salsa_box(&client_transient);
        let signature = open_box(
            &to_client,
            &short_nonce(HELLO_NONCE, hello_nonce),
            &data[114..],
            "HELLO",
        )?;
        if !bool::from(signature.ct_eq(&[0u8; 64][..])) {
            return Err(ProtocolError::CurveBoxRejected { what: "HELLO" });
        }

        let transient =
            CurveSecretKey::try_generate().ok_or(crypto_failed("the random source failed"))?;
        let cookie_key = Zeroizing::new(
            CurveSecretKey::try_generate()
                .ok_or(crypto_failed("the random source failed"))?
                .as_bytes()
                .to_owned(),
        );
        // cookie = N', SecretBox[C', s'](K)
        let cookie_long = random16()?;
        let mut cookie = Zeroizing::new(Vec::with_capacity(COOKIE_LEN));
        cookie.extend_from_slice(&cookie_long);
        cookie.extend_from_slice(&[0u8; TAG_LEN]);
        cookie.extend_from_slice(client_transient.as_bytes());
        cookie.extend_from_slice(transient.as_bytes());
        let tag = XSalsa20Poly1305::new(GenericArray::from_slice(&cookie_key[..]))
            .encrypt_in_place_detached(
                &long_nonce(COOKIE_NONCE, &cookie_long),
                b"",
                &mut cookie[16 + TAG_LEN..],
            )
            .map_err(|_| crypto_failed("encryption failed"))?;
        cookie[16..16 + TAG_LEN].copy_from_slice(&tag);

        let long = random16()?;
        let mut b = command_body(WELCOME, 16 + TAG_LEN + KEY_LEN + COOKIE_LEN);
        b.extend_from_slice(&long);
        seal_into(
            &to_client,
            &long_nonce(WELCOME_NONCE, &long),
            &[transient.public_key().as_bytes(), &cookie],
            &mut b,
        )?;
        cx.send_command_body(b.freeze());
        Ok(State::ExpectInitiate {
            cookie_key,
            hello_nonce,
        })
    }

    /// INITIATE: open the cookie, the box and the vouch; ask ZAP about `C`.
    fn on_initiate(
        &self,
        cookie_key: &[u8; 32],
        hello_nonce: u64,
        data: &[u8],
        cx: &mut Cx<'_>,
    ) -> Result<State, ProtocolError> {
        if data.len() < INITIATE_DATA_MIN {
            return Err(ProtocolError::malformed(INITIATE, "shorter than 257 bytes"));
        }
        let mut cookie = Zeroizing::new(data[16 + TAG_LEN..COOKIE_LEN].to_vec());
        XSalsa20Poly1305::new(GenericArray::from_slice(cookie_key))
            .decrypt_in_place_detached(
                &long_nonce(COOKIE_NONCE, &data[..16]),
                b"",
                &mut cookie,
                GenericArray::from_slice(&data[16..16 + TAG_LEN]),
            )
            .map_err(|_| ProtocolError::CurveBoxRejected { what: "COOKIE" })?;
        let client_transient = key_at(&cookie, 0);
        let mut s = [0u8; KEY_LEN];
        s.copy_from_slice(&cookie[KEY_LEN..]);
        let transient = CurveSecretKey::from_bytes(s);
        zeroize::Zeroize::zeroize(&mut s);

        let mut traffic = Traffic::new(
            transient.salsa_box(&client_transient),
            false,
            0,
            hello_nonce,
        );
        let pt = traffic.open_command(INITIATE_NONCE, &data[COOKIE_LEN..], "INITIATE")?;
        if pt.len() < KEY_LEN + VOUCH_LEN {
            return Err(ProtocolError::malformed(
                INITIATE,
                "box too short for a vouch",
            ));
        }
        let client = key_at(&pt, 0);
        let vouch = &pt[KEY_LEN..KEY_LEN + VOUCH_LEN];
        let vouched = open_box(
            &transient.salsa_box(&client),
            &long_nonce(VOUCH_NONCE, &vouch[..16]),
            &vouch[16..],
            "VOUCH",
        )?;
        let same_transient = client_transient.ct_eq_bytes(&vouched[..KEY_LEN]);
        let same_server = self.public.ct_eq_bytes(&vouched[KEY_LEN..]);
        if !(same_transient & same_server) {
            return Err(ProtocolError::CurveVouchMismatch);
        }
        let peer = Metadata::decode(Bytes::copy_from_slice(&pt[KEY_LEN + VOUCH_LEN..]))
            .map_err(|r| ProtocolError::malformed(INITIATE, r))?;
        cx.check_peer(&peer)?;
        let id = cx.ask_zap(
            &MechanismName::CURVE,
            vec![Bytes::copy_from_slice(client.as_bytes())],
        );
        Ok(State::AwaitZap { id, traffic, peer })
    }
}

fn key_at(b: &[u8], at: usize) -> CurvePublicKey {
    let mut k = [0u8; KEY_LEN];
    k.copy_from_slice(&b[at..at + KEY_LEN]);
    CurvePublicKey::from_bytes(k)
}

fn u64_at(b: &[u8], at: usize) -> u64 {
    let mut n = [0u8; 8];
    n.copy_from_slice(&b[at..at + 8]);
    u64::from_be_bytes(n)
}

impl Handshake for CurveServer {
    fn start(&mut self, _: &mut Cx<'_>) -> Result<(), ProtocolError> {
        Ok(())
    }

    fn parse_command(&self, body: Bytes) -> Result<Command, ProtocolError> {
        parse_handshake(body)
    }

    fn on_command(&mut self, cmd: Command, cx: &mut Cx<'_>) -> Result<(), ProtocolError> {
        let state = std::mem::replace(&mut self.state, State::Failed);
        self.state = match (state, cmd) {
            (State::ExpectHello, Command::Unknown { name, data }) if name == HELLO => {
                self.on_hello(&data, cx)?
            }
            (
                State::ExpectInitiate {
                    cookie_key,
                    hello_nonce,
                },
                Command::Unknown { name, data },
            ) if name == INITIATE => self.on_initiate(&cookie_key, hello_nonce, &data, cx)?,
            (_, cmd) => return Err(unexpected(&cmd, "during the curve handshake (server)")),
        };
        Ok(())
    }

    fn on_zap_reply(&mut self, reply: ZapReply, cx: &mut Cx<'_>) -> Result<(), ProtocolError> {
        let State::AwaitZap { id, .. } = &self.state else {
            return Err(ProtocolError::UnexpectedZapReply);
        };
        let id = id.clone();
        cx.zap_verdict(&id, reply, &mut self.admitted)?;
        let State::AwaitZap {
            mut traffic, peer, ..
        } = std::mem::replace(&mut self.state, State::Failed)
        else {
            return Err(ProtocolError::UnexpectedZapReply);
        };
        let mut md = BytesMut::with_capacity(cx.our_props.encoded_len());
        cx.our_props.encode(&mut md);
        let body = traffic.command(READY, &[], READY_NONCE, &md)?;
        cx.send_command_body(body);
        cx.finish(peer, std::mem::take(&mut self.admitted));
        self.state = State::Done { traffic };
        Ok(())
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
