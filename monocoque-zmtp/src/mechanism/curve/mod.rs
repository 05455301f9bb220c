//! The CURVE mechanism (RFC 25, CurveZMQ RFC 26): X25519 key agreement and
//! XSalsa20Poly1305 boxes (NaCl's `crypto_box`, from RustCrypto), with
//! perfect forward secrecy through transient keys on both sides.
//!
//! ```text
//! client (C, c; transient C', c')              server (S, s; transient S', s')
//! HELLO    1.0, 72 x 0, C', n, Box[64 x 0](C'->S)           -->
//!                                   <--  WELCOME  N, Box[S', cookie](S->C')
//!                                        cookie = N', SecretBox[C', s'](K)
//! INITIATE cookie, n, Box[C, vouch, metadata](C'->S')        -->
//!          vouch = N'', Box[C', S](C->S')                   (ZAP: "CURVE", C)
//!                                   <--  READY    n, Box[metadata](S'->C')
//!                                        (or ERROR "400" when ZAP refused)
//! MESSAGE  n, Box[flags, payload](C'->S')                  <-->   (S'->C' back)
//! ```
//!
//! `n` is the short nonce: 8 octets, big-endian, counted from 1 in each
//! direction, under a 16-octet prefix per command (`CurveZMQHELLO---`,
//! `CurveZMQINITIATE`, `CurveZMQREADY---`, `CurveZMQMESSAGEC` from the
//! client, `CurveZMQMESSAGES` from the server). A received short nonce must
//! be above the last one seen from that peer (a replayed or reordered box
//! ends the connection), as libzmq requires. `N`, `N'`, `N''` are random
//! 16-octet long nonces under `WELCOME-`, `COOKIE--`, `VOUCH---`.
//!
//! The server keeps no keys of an unfinished handshake: after WELCOME it
//! holds only the cookie key `K` (fresh for each handshake, so a cookie
//! opens once, on this connection) and the HELLO's nonce; INITIATE brings
//! `C'` and `s'` back inside the cookie.
//!
//! MESSAGE's flags octet carries the inner frame's MORE (0x01) and COMMAND
//! (0x02) bits: every data-phase frame, commands included, travels as one
//! MESSAGE, in a ZMTP frame with no flags (as libzmq 4.3 frames it; one with
//! the COMMAND flag is accepted too). The handshake commands are command
//! frames whose bodies this module reads itself (they are boxes, not
//! PLAIN's fields): the session hands them over as [`Command::Unknown`].
//!
//! Secrets and transient keys are wiped when dropped; boxes open with a
//! constant-time tag check, and keys and cookie contents compare in
//! constant time.

use bytes::{BufMut, Bytes, BytesMut};
use crypto_box::aead::generic_array::GenericArray;
use crypto_box::aead::rand_core::RngCore;
use crypto_box::aead::{AeadInPlace, OsRng};
use crypto_box::{Nonce, SalsaBox};
use zeroize::Zeroizing;

use crate::command::Command;
use crate::error::ProtocolError;
use crate::frame::{write_header, Encoder, Frame};

pub mod keys;

mod client;
mod server;

pub(crate) use client::CurveClient;
pub(crate) use server::CurveServer;

/// Length of a box's authenticator, before its ciphertext.
const TAG_LEN: usize = 16;

const HELLO: &[u8] = b"HELLO";
const WELCOME: &[u8] = b"WELCOME";
const INITIATE: &[u8] = b"INITIATE";
const READY: &[u8] = b"READY";
const MESSAGE: &[u8] = b"\x07MESSAGE";

const HELLO_NONCE: &[u8; 16] = b"CurveZMQHELLO---";
const INITIATE_NONCE: &[u8; 16] = b"CurveZMQINITIATE";
const READY_NONCE: &[u8; 16] = b"CurveZMQREADY---";
const MESSAGE_FROM_CLIENT: &[u8; 16] = b"CurveZMQMESSAGEC";
const MESSAGE_FROM_SERVER: &[u8; 16] = b"CurveZMQMESSAGES";
const WELCOME_NONCE: &[u8; 8] = b"WELCOME-";
const COOKIE_NONCE: &[u8; 8] = b"COOKIE--";
const VOUCH_NONCE: &[u8; 8] = b"VOUCH---";

/// HELLO's data after its name: version, padding, C', nonce, signature box.
const HELLO_DATA_LEN: usize = 2 + 72 + 32 + 8 + TAG_LEN + 64;
/// WELCOME's data: long nonce and Box[S', cookie].
const WELCOME_DATA_LEN: usize = 16 + TAG_LEN + 32 + COOKIE_LEN;
/// A cookie: long nonce and SecretBox[C', s'].
const COOKIE_LEN: usize = 16 + TAG_LEN + 64;
/// A vouch: long nonce and Box[C', S].
const VOUCH_LEN: usize = 16 + TAG_LEN + 64;
/// INITIATE's data with no metadata: cookie, nonce, Box[C, vouch].
const INITIATE_DATA_MIN: usize = COOKIE_LEN + 8 + TAG_LEN + 32 + VOUCH_LEN;
/// MESSAGE's body before the box: name and short nonce.
const MESSAGE_HEADER_LEN: usize = MESSAGE.len() + 8;

/// The MESSAGE flags octet's bits.
const INNER_MORE: u8 = 0x01;
const INNER_COMMAND: u8 = 0x02;

/// A 24-octet nonce: a 16-octet prefix and a short nonce.
fn short_nonce(prefix: &[u8; 16], n: u64) -> Nonce {
    let mut b = [0u8; 24];
    b[..16].copy_from_slice(prefix);
    b[16..].copy_from_slice(&n.to_be_bytes());
    b.into()
}

/// A 24-octet nonce: an 8-octet prefix and a 16-octet long nonce.
fn long_nonce(prefix: &[u8; 8], n: &[u8]) -> Nonce {
    let mut b = [0u8; 24];
    b[..8].copy_from_slice(prefix);
    b[8..].copy_from_slice(&n[..16]);
    b.into()
}

fn crypto_failed(what: &'static str) -> ProtocolError {
    ProtocolError::CryptoUnavailable(what)
}

/// 16 random octets from the operating system.
fn random16() -> Result<[u8; 16], ProtocolError> {
    let mut b = [0u8; 16];
    OsRng
        .try_fill_bytes(&mut b)
        .map_err(|_| crypto_failed("the random source failed"))?;
    Ok(b)
}

/// Appends `Box[parts joined]` (authenticator, then ciphertext) to `out`,
/// encrypting in place there.
fn seal_into(
    b: &SalsaBox,
    nonce: &Nonce,
    parts: &[&[u8]],
    out: &mut BytesMut,
) -> Result<(), ProtocolError> {
    let start = out.len();
    out.put_bytes(0, TAG_LEN);
    for p in parts {
        out.extend_from_slice(p);
    }
    let tag = b
        .encrypt_in_place_detached(nonce, b"", &mut out[start + TAG_LEN..])
        .map_err(|_| crypto_failed("encryption failed"))?;
    out[start..start + TAG_LEN].copy_from_slice(&tag);
    Ok(())
}

/// Opens `Box[...]` (authenticator, then ciphertext) into a buffer wiped on
/// drop; a box that does not open is `CurveBoxRejected { what }`.
fn open_box(
    b: &SalsaBox,
    nonce: &Nonce,
    boxed: &[u8],
    what: &'static str,
) -> Result<Zeroizing<Vec<u8>>, ProtocolError> {
    if boxed.len() < TAG_LEN {
        return Err(ProtocolError::CurveBoxRejected { what });
    }
    let (tag, ct) = boxed.split_at(TAG_LEN);
    let mut pt = Zeroizing::new(ct.to_vec());
    b.decrypt_in_place_detached(nonce, b"", &mut pt, GenericArray::from_slice(tag))
        .map_err(|_| ProtocolError::CurveBoxRejected { what })?;
    Ok(pt)
}

/// A command frame (header and body in one buffer) whose body starts with
/// `name`; the caller appends the data.
fn command_body(name: &[u8], data_len: usize) -> BytesMut {
    let mut b = BytesMut::with_capacity(1 + name.len() + data_len);
    b.put_u8(name.len() as u8);
    b.extend_from_slice(name);
    b
}

/// Reads a handshake command frame: ERROR (and anything that is not a
/// well-formed command) as [`Command::parse`] does, every other command as
/// [`Command::Unknown`] with its raw data, for the CURVE states to read.
pub(crate) fn parse_handshake(body: Bytes) -> Result<Command, ProtocolError> {
    let nlen = body.first().map_or(0, |&n| usize::from(n));
    if nlen == 0 || body.len() < 1 + nlen || &body[1..1 + nlen] == b"ERROR" {
        return Command::parse(body);
    }
    Ok(Command::Unknown {
        name: body.slice(1..1 + nlen),
        data: body.slice(1 + nlen..),
    })
}

/// The data phase's state, once both transient keys are known: the
/// precomputed box between them and the short nonces of each direction.
pub(crate) struct Traffic {
    boxed: SalsaBox,
    /// Prefix of the nonces of MESSAGEs we send, and of those we receive.
    tx_prefix: &'static [u8; 16],
    rx_prefix: &'static [u8; 16],
    /// The last short nonce we used, and the last one the peer used.
    sent: u64,
    seen: u64,
    /// Where received boxes are opened: one page holds the plaintexts of
    /// many short messages (each a `Bytes` slice of it), so opening costs
    /// no allocation per message.
    rx_page: BytesMut,
}

/// The size of a receive page: a box longer than this gets a buffer of its
/// own size.
const RX_PAGE: usize = 16 * 1024;

impl std::fmt::Debug for Traffic {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Traffic")
            .field("sent", &self.sent)
            .field("seen", &self.seen)
            .finish_non_exhaustive()
    }
}

impl Traffic {
    fn new(boxed: SalsaBox, client: bool, sent: u64, seen: u64) -> Traffic {
        let (tx_prefix, rx_prefix) = if client {
            (MESSAGE_FROM_CLIENT, MESSAGE_FROM_SERVER)
        } else {
            (MESSAGE_FROM_SERVER, MESSAGE_FROM_CLIENT)
        };
        Traffic {
            boxed,
            tx_prefix,
            rx_prefix,
            sent,
            seen,
            rx_page: BytesMut::new(),
        }
    }

    /// The next short nonce to send; never one used before.
    fn next_nonce(&mut self) -> Result<u64, ProtocolError> {
        self.sent = self
            .sent
            .checked_add(1)
            .ok_or(crypto_failed("short nonces exhausted"))?;
        Ok(self.sent)
    }

    /// A handshake command `name, n, Box[plaintext]` under `prefix` with the
    /// next short nonce (INITIATE's cookie, when given, goes before `n`).
    fn command(
        &mut self,
        name: &[u8],
        before_nonce: &[u8],
        prefix: &[u8; 16],
        plaintext: &[u8],
    ) -> Result<Bytes, ProtocolError> {
        let n = self.next_nonce()?;
        let mut b = command_body(name, before_nonce.len() + 8 + TAG_LEN + plaintext.len());
        b.extend_from_slice(before_nonce);
        b.put_u64(n);
        seal_into(&self.boxed, &short_nonce(prefix, n), &[plaintext], &mut b)?;
        Ok(b.freeze())
    }

    /// Opens `n, Box[...]` of a command under `prefix`: `n` must be above the
    /// last short nonce the peer used.
    fn open_command(
        &mut self,
        prefix: &[u8; 16],
        data: &[u8],
        what: &'static str,
    ) -> Result<Zeroizing<Vec<u8>>, ProtocolError> {
        if data.len() < 8 + TAG_LEN {
            return Err(ProtocolError::malformed(
                what.as_bytes(),
                "shorter than a box",
            ));
        }
        let n = self.check_nonce(&data[..8], what)?;
        let pt = open_box(&self.boxed, &short_nonce(prefix, n), &data[8..], what)?;
        self.seen = n;
        Ok(pt)
    }

    fn check_nonce(&self, b: &[u8], command: &'static str) -> Result<u64, ProtocolError> {
        let mut n = [0u8; 8];
        n.copy_from_slice(&b[..8]);
        let n = u64::from_be_bytes(n);
        if n <= self.seen {
            return Err(ProtocolError::CurveNonceOutOfOrder {
                command,
                nonce: n,
                last: self.seen,
            });
        }
        Ok(n)
    }

    /// Seals one data-phase frame as a MESSAGE, header included, in one
    /// buffer: the encoder's scratch page, so short boxes cost no
    /// allocation of their own.
    fn seal_frame(
        &mut self,
        frame: Frame,
        enc: &mut Encoder,
        out: &mut Vec<Bytes>,
    ) -> Result<(), ProtocolError> {
        let n = self.next_nonce()?;
        let len = MESSAGE_HEADER_LEN + TAG_LEN + 1 + frame.body.len();
        let mut h = [0u8; 9];
        let hlen = write_header(false, false, len, &mut h);
        let b = enc.scratch(hlen + len);
        b.extend_from_slice(&h[..hlen]);
        b.extend_from_slice(MESSAGE);
        b.put_u64(n);
        let flags = (u8::from(frame.more) * INNER_MORE) | (u8::from(frame.command) * INNER_COMMAND);
        let nonce = short_nonce(self.tx_prefix, n);
        if let Err(e) = seal_into(&self.boxed, &nonce, &[&[flags], &frame.body], b) {
            b.clear();
            return Err(e);
        }
        out.push(b.split().freeze());
        Ok(())
    }

    /// Opens one received MESSAGE into the frame it carries.
    fn open_frame(&mut self, frame: Frame) -> Result<Frame, ProtocolError> {
        let b = &frame.body;
        if !b.starts_with(MESSAGE) {
            return Err(ProtocolError::UnprotectedFrame);
        }
        if frame.more {
            return Err(ProtocolError::malformed(
                b"MESSAGE",
                "box frame has the more flag",
            ));
        }
        if b.len() < MESSAGE_HEADER_LEN + TAG_LEN + 1 {
            return Err(ProtocolError::malformed(b"MESSAGE", "shorter than a box"));
        }
        let n = self.check_nonce(&b[MESSAGE.len()..], "MESSAGE")?;
        let tag =
            GenericArray::clone_from_slice(&b[MESSAGE_HEADER_LEN..MESSAGE_HEADER_LEN + TAG_LEN]);
        let ct = &b[MESSAGE_HEADER_LEN + TAG_LEN..];
        if self.rx_page.capacity() < ct.len() {
            self.rx_page.reserve(RX_PAGE.max(ct.len()));
        }
        self.rx_page.extend_from_slice(ct);
        let mut pt = self.rx_page.split();
        self.boxed
            .decrypt_in_place_detached(&short_nonce(self.rx_prefix, n), b"", &mut pt, &tag)
            .map_err(|_| ProtocolError::CurveBoxRejected { what: "MESSAGE" })?;
        self.seen = n;
        let flags = pt[0];
        if flags & !(INNER_MORE | INNER_COMMAND) != 0 {
            return Err(ProtocolError::ReservedFlags { flags });
        }
        let (more, command) = (flags & INNER_MORE != 0, flags & INNER_COMMAND != 0);
        if more && command {
            return Err(ProtocolError::CommandWithMore);
        }
        Ok(Frame {
            body: pt.freeze().slice(1..),
            more,
            command,
        })
    }
}

/// Seals a data-phase frame, or refuses before the handshake is done.
fn seal_with(
    traffic: Option<&mut Traffic>,
    frame: Frame,
    enc: &mut Encoder,
    out: &mut Vec<Bytes>,
) -> Result<(), ProtocolError> {
    traffic
        .ok_or(ProtocolError::NotReady)?
        .seal_frame(frame, enc, out)
}

/// Opens a data-phase frame, or refuses before the handshake is done.
fn open_with(traffic: Option<&mut Traffic>, frame: Frame) -> Result<Option<Frame>, ProtocolError> {
    Ok(Some(
        traffic
            .ok_or(ProtocolError::MessageBeforeReady)?
            .open_frame(frame)?,
    ))
}

#[cfg(test)]
mod tests {
    use super::keys::curve_keypair;
    use super::*;

    /// A client's and a server's Traffic over one pair of transient keys.
    fn traffic_pair() -> (Traffic, Traffic) {
        let (cp, cs) = curve_keypair();
        let (sp, ss) = curve_keypair();
        (
            Traffic::new(cs.salsa_box(&sp), true, 0, 0),
            Traffic::new(ss.salsa_box(&cp), false, 0, 0),
        )
    }

    fn frame(body: &'static [u8], more: bool, command: bool) -> Frame {
        Frame {
            body: Bytes::from_static(body),
            more,
            command,
        }
    }

    /// Seals `f` and decodes the wire frame back.
    fn sealed(t: &mut Traffic, f: Frame) -> Frame {
        let mut out = Vec::new();
        t.seal_frame(f, &mut Encoder::new(), &mut out).unwrap();
        let mut d = crate::frame::Decoder::new(None);
        d.push(out.concat().into());
        d.decode().unwrap().unwrap()
    }

    /// A MESSAGE from the client with this nonce and plaintext, built by hand.
    fn forged(t: &Traffic, n: u64, plaintext: &[u8]) -> Frame {
        let mut b = BytesMut::new();
        b.extend_from_slice(MESSAGE);
        b.put_u64(n);
        seal_into(&t.boxed, &short_nonce(t.tx_prefix, n), &[plaintext], &mut b).unwrap();
        Frame {
            body: b.freeze(),
            more: false,
            command: false,
        }
    }

    #[test]
    fn boxes_sealed_and_opened_on_shared_pages_stay_apart() {
        // Many boxes share one scratch page when sealed and one receive page
        // when opened; each must keep its own bytes while the others live.
        let (mut c, mut s) = traffic_pair();
        let mut enc = Encoder::new();
        let mut wire = Vec::new();
        let bodies: Vec<Vec<u8>> = (0..400usize)
            .map(|i| vec![i as u8; (i * 37) % 3000])
            .collect();
        for b in &bodies {
            let f = Frame {
                body: Bytes::from(b.clone()),
                more: false,
                command: false,
            };
            c.seal_frame(f, &mut enc, &mut wire).unwrap();
        }
        let mut d = crate::frame::Decoder::new(None);
        d.push(wire.concat().into());
        let mut opened = Vec::new();
        while let Some(w) = d.decode().unwrap() {
            opened.push(s.open_frame(w).unwrap().body);
        }
        assert_eq!(opened.len(), bodies.len());
        for (got, want) in opened.iter().zip(&bodies) {
            assert_eq!(&got[..], &want[..]);
        }
    }

    #[test]
    fn nonces_are_laid_out_as_rfc26_says() {
        let n = short_nonce(MESSAGE_FROM_CLIENT, 0x0102);
        assert_eq!(&n[..16], b"CurveZMQMESSAGEC");
        assert_eq!(&n[16..], &[0, 0, 0, 0, 0, 0, 1, 2]);
        let n = long_nonce(COOKIE_NONCE, &[7u8; 16]);
        assert_eq!(&n[..8], b"COOKIE--");
        assert_eq!(&n[8..], &[7u8; 16]);
        assert_eq!(HELLO_DATA_LEN + 6, 200);
        assert_eq!(WELCOME_DATA_LEN + 8, 168);
        assert_eq!(INITIATE_DATA_MIN + 9, 257);
    }

    #[test]
    fn frames_and_commands_round_trip_in_flagless_message_frames() {
        let (mut c, mut s) = traffic_pair();
        for f in [
            frame(b"secret", true, false),
            frame(b"", false, false),
            frame(b"\x04PING\x00\x00", false, true),
        ] {
            let w = sealed(&mut c, f.clone());
            assert!(!w.more && !w.command);
            assert!(w.body.starts_with(MESSAGE));
            assert_eq!(
                w.body.len(),
                MESSAGE_HEADER_LEN + TAG_LEN + 1 + f.body.len()
            );
            assert_eq!(s.open_frame(w).unwrap(), f);
        }
        assert_eq!((c.sent, s.seen), (3, 3));
        // The other way, under the server's prefix.
        let w = sealed(&mut s, frame(b"back", false, false));
        assert_eq!(c.open_frame(w).unwrap(), frame(b"back", false, false));
    }

    #[test]
    fn a_box_under_the_other_directions_prefix_does_not_open() {
        let (_, cs) = curve_keypair();
        let (sp, _) = curve_keypair();
        let mut c = Traffic::new(cs.salsa_box(&sp), true, 0, 0);
        let w = sealed(&mut c, frame(b"x", false, false));
        // The same keys, but opening expects the server's prefix.
        let mut me = Traffic::new(cs.salsa_box(&sp), true, 0, 0);
        assert_eq!(
            me.open_frame(w),
            Err(ProtocolError::CurveBoxRejected { what: "MESSAGE" })
        );
    }

    #[test]
    fn wrong_inner_flags_and_short_or_plain_frames_are_refused() {
        let (c, mut s) = traffic_pair();
        assert_eq!(
            s.open_frame(forged(&c, 1, &[0x04, b'x'])),
            Err(ProtocolError::ReservedFlags { flags: 0x04 })
        );
        let (c, mut s) = traffic_pair();
        assert_eq!(
            s.open_frame(forged(&c, 1, &[0x03])),
            Err(ProtocolError::CommandWithMore)
        );
        let (c, mut s) = traffic_pair();
        assert!(matches!(
            s.open_frame(forged(&c, 1, &[])),
            Err(ProtocolError::MalformedCommand { .. })
        ));
        assert_eq!(
            s.open_frame(frame(b"\x05HELLO", false, true)),
            Err(ProtocolError::UnprotectedFrame)
        );
        let mut boxed = forged(&c, 1, &[0]);
        boxed.more = true;
        assert!(matches!(
            s.open_frame(boxed),
            Err(ProtocolError::MalformedCommand { .. })
        ));
    }

    #[test]
    fn nonces_must_rise_but_may_skip() {
        let (c, mut s) = traffic_pair();
        assert!(s.open_frame(forged(&c, 5, &[0])).is_ok());
        assert_eq!(
            s.open_frame(forged(&c, 5, &[0])),
            Err(ProtocolError::CurveNonceOutOfOrder {
                command: "MESSAGE",
                nonce: 5,
                last: 5
            })
        );
        assert!(s.open_frame(forged(&c, 9, &[0])).is_ok());
        assert!(s.open_frame(forged(&c, 6, &[0])).is_err());
    }

    #[test]
    fn a_used_up_nonce_counter_refuses_to_seal() {
        let (mut c, _) = traffic_pair();
        c.sent = u64::MAX;
        let mut out = Vec::new();
        assert!(matches!(
            c.seal_frame(frame(b"x", false, false), &mut Encoder::new(), &mut out),
            Err(ProtocolError::CryptoUnavailable(_))
        ));
        assert!(out.is_empty());
    }

    #[test]
    fn handshake_commands_other_than_error_keep_their_raw_data() {
        let cmd = parse_handshake(Bytes::from_static(b"\x05HELLO\x01\x00abc")).unwrap();
        assert_eq!(
            cmd,
            Command::Unknown {
                name: Bytes::from_static(b"HELLO"),
                data: Bytes::from_static(b"\x01\x00abc")
            }
        );
        let err = parse_handshake(Bytes::from_static(b"\x05ERROR\x03400")).unwrap();
        assert_eq!(
            err,
            Command::Error {
                reason: Bytes::from_static(b"400")
            }
        );
        assert!(parse_handshake(Bytes::new()).is_err());
    }
}
