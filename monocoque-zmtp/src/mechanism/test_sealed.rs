//! A test-only mechanism that transforms every data-phase frame, so tests
//! can prove that nothing is written around a session whose mechanism
//! protects traffic, as CURVE will. It is not security: the "key" is a frame
//! counter that travels in clear.
//!
//! Handshake: as NULL without ZAP (READY both ways), under its own greeting
//! name `X-SEALED`, so it never talks to a NULL peer by mistake.
//!
//! Data phase: every frame, message or command, travels as one command frame
//!
//! ```text
//! 0xa5 (marker) | counter | flags ^ counter | body[0] ^ counter | body[1] ^ counter ...
//! ```
//!
//! `flags` holds the inner frame's MORE and COMMAND bits; `counter` numbers
//! the frames of one direction from 1, wrapping from 255 back to 1 (never 0,
//! so every body byte changes). [`open`](Handshake::open) refuses a frame
//! that is not such a command or does not carry the next counter: a
//! plaintext frame, a replayed or a reordered one ends the connection.

use bytes::{BufMut, Bytes, BytesMut};

use crate::command::Command;
use crate::error::ProtocolError;
use crate::frame::{Encoder, Frame, FLAG_COMMAND, FLAG_MORE};
use crate::greeting::MechanismName;
use crate::zap::ZapReply;

use super::null::Null;
use super::{Cx, Handshake};

/// The greeting's mechanism name.
pub(crate) const NAME: MechanismName = MechanismName::from_static("X-SEALED");

/// First byte of every sealed frame's body.
const MARKER: u8 = 0xa5;

/// Test-sealed state: a NULL handshake and a frame counter per direction.
#[derive(Debug)]
pub(crate) struct TestSealed {
    handshake: Null,
    /// Counter of the last frame sealed (0: none yet).
    sealed: u8,
    /// Counter of the last frame opened (0: none yet).
    opened: u8,
}

impl TestSealed {
    pub(crate) fn new() -> TestSealed {
        TestSealed {
            handshake: Null::new(false),
            sealed: 0,
            opened: 0,
        }
    }
}

/// The counter after `c`: 1 to 255, then 1 again.
fn next(c: u8) -> u8 {
    c % u8::MAX + 1
}

fn refuse(reason: &'static str) -> ProtocolError {
    ProtocolError::malformed(NAME.as_bytes(), reason)
}

impl Handshake for TestSealed {
    fn start(&mut self, cx: &mut Cx<'_>) -> Result<(), ProtocolError> {
        self.handshake.start(cx)
    }

    fn on_command(&mut self, cmd: Command, cx: &mut Cx<'_>) -> Result<(), ProtocolError> {
        self.handshake.on_command(cmd, cx)
    }

    fn on_zap_reply(&mut self, reply: ZapReply, cx: &mut Cx<'_>) -> Result<(), ProtocolError> {
        self.handshake.on_zap_reply(reply, cx)
    }

    fn protects_traffic(&self) -> bool {
        true
    }

    fn open(&mut self, frame: Frame) -> Result<Option<Frame>, ProtocolError> {
        let b = &frame.body;
        if !frame.command || b.len() < 3 || b[0] != MARKER {
            return Err(refuse("frame is not sealed"));
        }
        let key = next(self.opened);
        if b[1] != key {
            return Err(refuse("frame counter out of order"));
        }
        self.opened = key;
        let flags = b[2] ^ key;
        if flags & !(FLAG_MORE | FLAG_COMMAND) != 0 {
            return Err(ProtocolError::ReservedFlags { flags });
        }
        let (more, command) = (flags & FLAG_MORE != 0, flags & FLAG_COMMAND != 0);
        if more && command {
            return Err(ProtocolError::CommandWithMore);
        }
        let body: Bytes = b[3..].iter().map(|x| x ^ key).collect::<Vec<u8>>().into();
        Ok(Some(Frame {
            body,
            more,
            command,
        }))
    }

    fn seal(
        &mut self,
        frame: Frame,
        enc: &mut Encoder,
        out: &mut Vec<Bytes>,
    ) -> Result<(), ProtocolError> {
        let key = next(self.sealed);
        self.sealed = key;
        let flags = crate::frame::flags(frame.more, frame.command);
        let mut b = BytesMut::with_capacity(3 + frame.body.len());
        b.put_u8(MARKER);
        b.put_u8(key);
        b.put_u8(flags ^ key);
        b.extend(frame.body.iter().map(|x| x ^ key));
        out.push(enc.header(false, true, b.len()));
        out.push(b.freeze());
        Ok(())
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn frame(body: &'static [u8], more: bool, command: bool) -> Frame {
        Frame {
            body: Bytes::from_static(body),
            more,
            command,
        }
    }

    /// Seals `frames` with `m` and returns the wire frames, decoded.
    fn seal_all(m: &mut TestSealed, frames: &[Frame]) -> Vec<Frame> {
        let mut enc = Encoder::new();
        let mut out = Vec::new();
        for f in frames {
            m.seal(f.clone(), &mut enc, &mut out).unwrap();
        }
        let mut d = crate::frame::Decoder::new(None);
        d.push(out.concat().into());
        std::iter::from_fn(|| d.decode().unwrap()).collect()
    }

    #[test]
    fn counter_runs_from_1_to_255_and_skips_0() {
        assert_eq!(next(0), 1);
        assert_eq!(next(254), 255);
        assert_eq!(next(255), 1);
    }

    #[test]
    fn seal_then_open_round_trips_and_hides_the_body() {
        let frames = [
            frame(b"secret", true, false),
            frame(b"", false, false),
            frame(b"\x04PING\x00\x00", false, true),
        ];
        let (mut a, mut b) = (TestSealed::new(), TestSealed::new());
        let wire = seal_all(&mut a, &frames);
        assert_eq!(wire.len(), 3);
        for (w, f) in wire.into_iter().zip(&frames) {
            assert!(w.command && !w.more, "every sealed frame is a command");
            assert!(!w
                .body
                .windows(f.body.len().max(1))
                .any(|x| x == &f.body[..]));
            assert_eq!(b.open(w).unwrap().as_ref(), Some(f));
        }
    }

    #[test]
    fn open_refuses_plaintext_replays_and_bad_flags() {
        let mut b = TestSealed::new();
        for plain in [
            frame(b"hello", false, false),
            frame(b"\x04PING\x00\x00", false, true),
        ] {
            assert!(matches!(
                b.open(plain),
                Err(ProtocolError::MalformedCommand { .. })
            ));
        }
        let mut a = TestSealed::new();
        let wire = seal_all(&mut a, &[frame(b"x", false, false)]);
        assert!(b.open(wire[0].clone()).is_ok());
        assert!(b.open(wire[0].clone()).is_err(), "a replay");
        let mut b = TestSealed::new();
        let forged = frame(&[MARKER, 1, 1 ^ (FLAG_MORE | FLAG_COMMAND)], false, true);
        assert_eq!(b.open(forged), Err(ProtocolError::CommandWithMore));
        let mut b = TestSealed::new();
        let forged = frame(&[MARKER, 1, 1 ^ 0x08], false, true);
        assert_eq!(
            b.open(forged),
            Err(ProtocolError::ReservedFlags { flags: 0x08 })
        );
    }
}
