//! The frame codec (RFC 23 "Framing"): a flags octet, a 1- or 8-octet size,
//! then the body.
//!
//! ```text
//! flags: bit 0 MORE, bit 1 LONG (8-octet size), bit 2 COMMAND, bits 3-7 zero
//! short frame: flags, size (1 octet),  body
//! long frame:  flags, size (8 octets, network order), body
//! ```
//!
//! # Decoding without copies
//!
//! [`Decoder::push`] takes a `Bytes` chunk (what `SlabMut::freeze` yields)
//! and [`Decoder::decode`] slices whole frames out of it with
//! `Bytes::split_to`: no allocation and no copy per frame. Two things are
//! copied, and only because they straddle chunks: a frame header (into a
//! 9-byte array) and a frame body (into a `BytesMut` that grows only as the
//! body's bytes actually arrive, never by the size the header declares). The
//! maximum message size is checked on the header's declared size, before a
//! single body byte is kept. That `BytesMut` keeps its allocation: once the
//! frames split from it are dropped it is reclaimed, so a warm decoder fed a
//! steady stream allocates nothing, straddling frames included
//! (`tests/alloc.rs`).
//!
//! # Large bodies, read in place
//!
//! A body of [`DIRECT_MIN`] bytes or more that straddles reads need not be
//! copied at all: [`Decoder::body_buf`] lends the caller the assembly buffer
//! with room for the next bytes of the body, the caller reads the wire
//! straight into it, and [`Decoder::body_filled`] takes it back. The room
//! offered is bounded by what the peer has shown: twice the body bytes that
//! already arrived, or the largest frame this decoder has completed, so a
//! header that lies about its size still costs at most about what was sent.
//!
//! # Encoding without copies
//!
//! [`Encoder`] writes frame headers only; bodies are pushed to the output as
//! the caller's `Bytes`, untouched. Header buffers:
//! - short frames (body up to 255 bytes) with flags 0, MORE or COMMAND point
//!   into a static table of every possible 2-byte header
//!   (`Bytes::from_static`): no allocation, not even a refcount;
//! - long frames and command-name prefixes are written into a reused
//!   `BytesMut` scratch page and split off (`split().freeze()`): a refcount
//!   bump each, and one allocation per [`SCRATCH_PAGE`] bytes of headers, or
//!   none when the previous page's headers were already written and dropped.

use bytes::{Buf, Bytes, BytesMut};

use crate::bodies::{self, Pooled};
use crate::error::ProtocolError;

/// Flag bit: more frames of this message follow.
pub const FLAG_MORE: u8 = 0x01;
/// Flag bit: the size is 8 octets.
pub const FLAG_LONG: u8 = 0x02;
/// Flag bit: this frame is a command.
pub const FLAG_COMMAND: u8 = 0x04;
const RESERVED: u8 = !(FLAG_MORE | FLAG_LONG | FLAG_COMMAND);

/// A straddling body with at least this many bytes still to come is offered
/// for reading in place ([`Decoder::body_buf`]).
pub const DIRECT_MIN: usize = 64 * 1024;

/// Size of each scratch page the encoder carves long headers from.
pub const SCRATCH_PAGE: usize = 4096;

/// One decoded frame.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Frame {
    /// The body, a slice of the input chunk (or an assembled copy if it straddled chunks).
    pub body: Bytes,
    /// MORE flag: another frame of the same message follows.
    pub more: bool,
    /// COMMAND flag: this is a command, not message data.
    pub command: bool,
}

#[derive(Debug)]
struct Partial {
    more: bool,
    command: bool,
    remaining: u64,
}

/// Incremental frame decoder.
#[derive(Debug)]
pub struct Decoder {
    max_size: Option<u64>,
    input: Bytes,
    hdr: [u8; 9],
    hdr_len: usize,
    partial: Option<Partial>,
    body: BytesMut,
    /// A large body's buffer (from [`bodies`], back there when the frame
    /// made of it is dropped), in place of `body`: one trusted to be large
    /// from its start, or one lent for reading in place.
    big: Option<Vec<u8>>,
    /// The largest body this decoder completed: the room a straddling
    /// body may be given in advance, since the peer really sent that much.
    proven: usize,
    /// The body's length when [`Decoder::body_buf`] lent it out.
    lent: usize,
}

impl Decoder {
    /// Changes the largest frame accepted from the next header on.
    pub(crate) fn set_max_size(&mut self, max_size: Option<u64>) {
        self.max_size = max_size;
    }

    /// A decoder that refuses frames larger than `max_size` bytes (`None`: no limit).
    pub fn new(max_size: Option<u64>) -> Decoder {
        Decoder {
            max_size,
            input: Bytes::new(),
            hdr: [0; 9],
            hdr_len: 0,
            partial: None,
            body: BytesMut::new(),
            big: None,
            proven: 0,
            lent: 0,
        }
    }

    /// Adds a chunk of input. Call [`decode`](Self::decode) until it returns
    /// `Ok(None)` before pushing the next chunk; if unread input remains it is
    /// joined with the new chunk (a copy).
    pub fn push(&mut self, chunk: Bytes) {
        if self.input.is_empty() {
            self.input = chunk;
        } else if !chunk.is_empty() {
            let mut joined = BytesMut::with_capacity(self.input.len() + chunk.len());
            joined.extend_from_slice(&self.input);
            joined.extend_from_slice(&chunk);
            self.input = joined.freeze();
        }
    }

    /// Unconsumed input bytes held (not counting a partial body).
    pub fn buffered(&self) -> usize {
        self.input.len()
    }

    /// True when no frame is half-received.
    pub fn is_idle(&self) -> bool {
        self.input.is_empty() && self.hdr_len == 0 && self.partial.is_none()
    }

    /// Decodes the next complete frame; `Ok(None)` when all input is consumed
    /// and more is needed. Work per call is bounded by the input held.
    pub fn decode(&mut self) -> Result<Option<Frame>, ProtocolError> {
        let r = self.decode_next();
        if let Ok(None) = r {
            if self.input.is_empty() {
                // An empty slice still holds its read's region: let it go,
                // so an idle connection keeps no read's bytes alive.
                self.input = Bytes::new();
            }
        }
        r
    }

    fn decode_next(&mut self) -> Result<Option<Frame>, ProtocolError> {
        if self.partial.is_some() {
            return Ok(self.continue_body());
        }
        // Fast path: a whole header in the current chunk.
        let (flags, size) = if self.hdr_len == 0 && self.input.len() >= 2 {
            let flags = self.input[0];
            check_flags(flags)?;
            if flags & FLAG_LONG == 0 {
                let size = u64::from(self.input[1]);
                self.input.advance(2);
                (flags, size)
            } else if self.input.len() >= 9 {
                let size = u64::from_be_bytes(read8(&self.input[1..9]));
                self.input.advance(9);
                (flags, size)
            } else {
                return self.stash_header();
            }
        } else {
            return self.stash_header();
        };
        self.start_body(flags, size)
    }

    /// Collects a header that straddles chunks into `hdr`.
    fn stash_header(&mut self) -> Result<Option<Frame>, ProtocolError> {
        if self.input.is_empty() {
            return Ok(None);
        }
        if self.hdr_len == 0 {
            let flags = self.input[0];
            check_flags(flags)?;
            self.hdr[0] = flags;
            self.hdr_len = 1;
            self.input.advance(1);
        }
        let need = if self.hdr[0] & FLAG_LONG == 0 { 2 } else { 9 };
        let take = (need - self.hdr_len).min(self.input.len());
        self.hdr[self.hdr_len..self.hdr_len + take].copy_from_slice(&self.input[..take]);
        self.hdr_len += take;
        self.input.advance(take);
        if self.hdr_len < need {
            return Ok(None);
        }
        self.hdr_len = 0;
        let flags = self.hdr[0];
        let size = if need == 2 {
            u64::from(self.hdr[1])
        } else {
            u64::from_be_bytes(read8(&self.hdr[1..9]))
        };
        self.start_body(flags, size)
    }

    fn start_body(&mut self, flags: u8, size: u64) -> Result<Option<Frame>, ProtocolError> {
        let more = flags & FLAG_MORE != 0;
        let command = flags & FLAG_COMMAND != 0;
        if command && more {
            return Err(ProtocolError::CommandWithMore);
        }
        if let Some(max) = self.max_size {
            if size > max {
                return Err(ProtocolError::MessageTooLarge { size, max });
            }
        }
        let have = self.input.len();
        match usize::try_from(size) {
            Ok(n) if n <= have => Ok(Some(Frame {
                body: self.input.split_to(n),
                more,
                command,
            })),
            _ => {
                // Straddles: keep what we have, wait for the rest. A large
                // size this peer already sent is trusted, so its buffer is
                // made once, not grown, and taken from the pool of large
                // bodies' buffers (small ones just take what came, so a
                // warm buffer is reused).
                let trusted = usize::try_from(size).unwrap_or(usize::MAX).min(self.proven);
                if trusted >= DIRECT_MIN {
                    let mut big = bodies::take(trusted);
                    big.extend_from_slice(&self.input);
                    self.big = Some(big);
                } else {
                    self.body.extend_from_slice(&self.input);
                }
                self.input = Bytes::new();
                self.partial = Some(Partial {
                    more,
                    command,
                    remaining: size - have as u64,
                });
                Ok(None)
            }
        }
    }

    /// When a body of at least [`DIRECT_MIN`] more bytes is awaited and no
    /// unread input is held: the body's buffer and how many bytes to read
    /// into its spare room (`buf.len()..buf.len() + n`; the room is
    /// reserved). Hand it back with [`body_filled`](Self::body_filled)
    /// before anything else; until then the decoder holds no body.
    ///
    /// The buffer is one of the pool's ([`bodies`]): a body that was not
    /// trusted to be large from its start moves there now (a copy of what
    /// arrived so far, once).
    pub fn body_buf(&mut self) -> Option<(Vec<u8>, usize)> {
        let p = self.partial.as_ref()?;
        let remaining = usize::try_from(p.remaining).unwrap_or(usize::MAX);
        if !self.input.is_empty() || self.hdr_len != 0 || remaining < DIRECT_MIN {
            return None;
        }
        let have = self.big.as_ref().map_or(self.body.len(), Vec::len);
        let n = remaining.min(have.max(self.proven).max(DIRECT_MIN));
        let mut buf = match self.big.take() {
            Some(big) => big,
            None => {
                let mut big = bodies::take(self.body.len() + n);
                big.extend_from_slice(&self.body);
                self.body.clear();
                big
            }
        };
        buf.reserve(n);
        self.lent = buf.len();
        Some((buf, n))
    }

    /// Takes back the buffer lent by [`body_buf`](Self::body_buf) with the
    /// bytes read into it appended. Bytes past the body's end (a caller may
    /// read more than it was asked) become input, without a copy.
    pub fn body_filled(&mut self, mut buf: Vec<u8>) {
        let Some(p) = self.partial.as_mut() else {
            return;
        };
        let before = self.lent;
        let added = buf.len().saturating_sub(before);
        let take = usize::try_from(p.remaining)
            .unwrap_or(usize::MAX)
            .min(added);
        p.remaining -= take as u64;
        if take < added {
            let rest = Bytes::copy_from_slice(&buf[before + take..]);
            buf.truncate(before + take);
            self.push(rest);
        }
        self.big = Some(buf);
    }

    fn continue_body(&mut self) -> Option<Frame> {
        let p = self.partial.as_mut()?;
        let take = usize::try_from(p.remaining)
            .unwrap_or(usize::MAX)
            .min(self.input.len());
        match &mut self.big {
            Some(big) => big.extend_from_slice(&self.input[..take]),
            None => self.body.extend_from_slice(&self.input[..take]),
        }
        self.input.advance(take);
        p.remaining -= take as u64;
        if p.remaining > 0 {
            return None;
        }
        let (more, command) = (p.more, p.command);
        self.partial = None;
        let body = match self.big.take() {
            Some(big) => Pooled::freeze(big),
            None => self.body.split().freeze(),
        };
        self.proven = self.proven.max(body.len());
        Some(Frame {
            body,
            more,
            command,
        })
    }
}

fn check_flags(flags: u8) -> Result<(), ProtocolError> {
    if flags & RESERVED != 0 {
        Err(ProtocolError::ReservedFlags { flags })
    } else {
        Ok(())
    }
}

fn read8(b: &[u8]) -> [u8; 8] {
    let mut a = [0u8; 8];
    a.copy_from_slice(&b[..8]);
    a
}

/// Every 2-byte short header for flags 0, MORE and COMMAND: entry
/// `(variant * 256 + len) * 2`.
static SHORT_HEADERS: [u8; 3 * 256 * 2] = short_headers();

const fn short_headers() -> [u8; 3 * 256 * 2] {
    let flags = [0u8, FLAG_MORE, FLAG_COMMAND];
    let mut t = [0u8; 3 * 256 * 2];
    let mut v = 0;
    while v < 3 {
        let mut len = 0;
        while len < 256 {
            t[(v * 256 + len) * 2] = flags[v];
            t[(v * 256 + len) * 2 + 1] = len as u8;
            len += 1;
        }
        v += 1;
    }
    t
}

/// The flags octet for these bits (LONG aside).
pub(crate) fn flags(more: bool, command: bool) -> u8 {
    (u8::from(more) * FLAG_MORE) | (u8::from(command) * FLAG_COMMAND)
}

/// Writes the header of a frame of `len` bytes into `out` and returns its
/// length (2 or 9). Outside this crate only a session frames, through
/// [`PlainFramer`](crate::PlainFramer) when its mechanism allows.
pub(crate) fn write_header(more: bool, command: bool, len: usize, out: &mut [u8; 9]) -> usize {
    let flags = flags(more, command);
    if len < 256 {
        out[0] = flags;
        out[1] = len as u8;
        2
    } else {
        out[0] = flags | FLAG_LONG;
        out[1..9].copy_from_slice(&(len as u64).to_be_bytes());
        9
    }
}

/// Frame header encoder. Keeps a scratch page for headers that are not in
/// the static table; see the module docs for the allocation profile.
#[derive(Debug)]
pub struct Encoder {
    scratch: BytesMut,
}

impl Default for Encoder {
    fn default() -> Self {
        Encoder::new()
    }
}

impl Encoder {
    /// A new encoder; its first scratch page is allocated on first use.
    pub fn new() -> Encoder {
        Encoder {
            scratch: BytesMut::new(),
        }
    }

    /// The scratch page with room for `need` more bytes; what the caller
    /// writes there is taken with `split().freeze()`, so one allocation
    /// serves a page of small frames.
    pub(crate) fn scratch(&mut self, need: usize) -> &mut BytesMut {
        if self.scratch.capacity() < need {
            self.scratch.reserve(SCRATCH_PAGE.max(need));
        }
        &mut self.scratch
    }

    /// Lets the scratch page go (what was taken from it stays valid); the
    /// next header that needs one takes a new page.
    pub(crate) fn release_scratch(&mut self) {
        self.scratch = BytesMut::new();
    }

    /// The header for a frame of `len` bytes with the given flags (MORE
    /// and/or COMMAND; LONG is chosen here).
    #[inline]
    pub fn header(&mut self, more: bool, command: bool, len: usize) -> Bytes {
        let variant = match (more, command) {
            (false, false) => Some(0),
            (true, false) => Some(1),
            (false, true) => Some(2),
            (true, true) => None,
        };
        if len < 256 {
            if let Some(v) = variant {
                let i = (v * 256 + len) * 2;
                return Bytes::from_static(&SHORT_HEADERS[i..i + 2]);
            }
        }
        let mut h = [0u8; 9];
        let n = write_header(more, command, len, &mut h);
        let s = self.scratch(9);
        s.extend_from_slice(&h[..n]);
        s.split().freeze()
    }

    /// Encodes one message frame: pushes its header, then `body` (unless empty).
    pub fn frame(&mut self, body: Bytes, more: bool, out: &mut Vec<Bytes>) {
        self.encode(
            Frame {
                body,
                more,
                command: false,
            },
            out,
        );
    }

    /// Encodes a frame, message or command: its header, then its body
    /// (unless empty).
    #[inline]
    pub(crate) fn encode(&mut self, frame: Frame, out: &mut Vec<Bytes>) {
        out.push(self.header(frame.more, frame.command, frame.body.len()));
        if !frame.body.is_empty() {
            out.push(frame.body);
        }
    }

    /// Encodes a frame whose body is `prefix` followed by `body`, writing the
    /// header and the prefix into one scratch buffer so `body` stays untouched.
    /// Used for commands (`prefix` = name length and name) and for ZMTP 3.0
    /// subscription messages (`prefix` = 0x01 or 0x00).
    pub fn prefixed(&mut self, command: bool, prefix: &[u8], body: Bytes, out: &mut Vec<Bytes>) {
        let mut h = [0u8; 9];
        let n = write_header(false, command, prefix.len() + body.len(), &mut h);
        let s = self.scratch(9 + prefix.len());
        s.extend_from_slice(&h[..n]);
        s.extend_from_slice(prefix);
        out.push(s.split().freeze());
        if !body.is_empty() {
            out.push(body);
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn concat(v: &[Bytes]) -> Vec<u8> {
        v.iter().flat_map(|b| b.iter().copied()).collect()
    }

    #[test]
    fn headers() {
        let mut e = Encoder::new();
        assert_eq!(&e.header(false, false, 5)[..], &[0, 5]);
        assert_eq!(&e.header(true, false, 255)[..], &[1, 255]);
        assert_eq!(&e.header(false, true, 0)[..], &[4, 0]);
        assert_eq!(
            &e.header(true, false, 256)[..],
            &[3, 0, 0, 0, 0, 0, 0, 1, 0]
        );
    }

    #[test]
    fn headers_on_the_stack() {
        let mut h = [0u8; 9];
        assert_eq!(write_header(true, false, 5, &mut h), 2);
        assert_eq!(&h[..2], &[0x01, 5]);
        assert_eq!(write_header(false, false, 300, &mut h), 9);
        assert_eq!(h, [0x02, 0, 0, 0, 0, 0, 0, 1, 0x2c]);
        assert_eq!(write_header(false, true, 0, &mut h), 2);
        assert_eq!(&h[..2], &[0x04, 0]);
    }

    #[test]
    fn decode_all_splits() {
        let mut e = Encoder::new();
        let mut out = Vec::new();
        e.frame(Bytes::from_static(b"hello"), true, &mut out);
        e.frame(Bytes::new(), true, &mut out);
        e.frame(Bytes::from(vec![7u8; 300]), false, &mut out);
        e.prefixed(true, b"\x04PING", Bytes::from_static(b"\x00\x0a"), &mut out);
        let wire = concat(&out);
        for cut in 0..=wire.len() {
            let mut d = Decoder::new(None);
            let mut frames = Vec::new();
            for piece in [&wire[..cut], &wire[cut..]] {
                d.push(Bytes::copy_from_slice(piece));
                while let Some(f) = d.decode().unwrap() {
                    frames.push(f);
                }
            }
            assert!(d.is_idle());
            assert_eq!(frames.len(), 4, "cut {cut}");
            assert_eq!(&frames[0].body[..], b"hello");
            assert!(frames[0].more);
            assert!(frames[1].body.is_empty());
            assert_eq!(frames[2].body.len(), 300);
            assert!(!frames[2].more);
            assert!(frames[3].command);
            assert_eq!(&frames[3].body[..], b"\x04PING\x00\x0a");
        }
    }

    #[test]
    fn errors() {
        let mut d = Decoder::new(Some(10));
        d.push(Bytes::from_static(&[0, 11]));
        assert_eq!(
            d.decode(),
            Err(ProtocolError::MessageTooLarge { size: 11, max: 10 })
        );
        let mut d = Decoder::new(None);
        d.push(Bytes::from_static(&[0x08]));
        assert_eq!(d.decode(), Err(ProtocolError::ReservedFlags { flags: 8 }));
        let mut d = Decoder::new(None);
        d.push(Bytes::from_static(&[0x05, 0]));
        assert_eq!(d.decode(), Err(ProtocolError::CommandWithMore));
    }

    #[test]
    fn lying_header_buffers_only_what_arrives() {
        let mut d = Decoder::new(None);
        d.push(Bytes::from_static(&[
            2, 0x7f, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 1, 2,
        ]));
        assert_eq!(d.decode(), Ok(None));
        assert!(d.body.capacity() < 1024);
    }

    /// Reads "from the wire" into the lent buffer, as the engine does: up to
    /// `n` bytes, plus `extra` past them to check the excess becomes input.
    fn fill(d: &mut Decoder, wire: &mut &[u8], extra: usize) -> bool {
        let Some((mut buf, n)) = d.body_buf() else {
            return false;
        };
        assert!(buf.capacity() - buf.len() >= n);
        let take = (n + extra).min(wire.len());
        buf.extend_from_slice(&wire[..take]);
        *wire = &wire[take..];
        d.body_filled(buf);
        true
    }

    #[test]
    fn large_bodies_read_in_place() {
        let mut e = Encoder::new();
        let mut out = Vec::new();
        let big: Vec<u8> = (0..300_000u32).map(|i| i as u8).collect();
        for _ in 0..3 {
            e.frame(Bytes::from(big.clone()), true, &mut out);
            e.frame(Bytes::from_static(b"tail"), false, &mut out);
        }
        let wire = concat(&out);
        for extra in [0, 7, 100_000] {
            let mut d = Decoder::new(None);
            let mut rest = &wire[..];
            let mut frames = Vec::new();
            let mut lent = 0;
            while !rest.is_empty() || !d.is_idle() {
                if fill(&mut d, &mut rest, extra) {
                    lent += 1;
                } else {
                    let take = rest.len().min(1000);
                    d.push(Bytes::copy_from_slice(&rest[..take]));
                    rest = &rest[take..];
                }
                while let Some(f) = d.decode().unwrap() {
                    frames.push(f);
                }
            }
            assert!(lent >= 3, "extra {extra}: lent {lent}");
            assert_eq!(frames.len(), 6);
            for pair in frames.chunks(2) {
                assert_eq!(&pair[0].body[..], &big[..]);
                assert_eq!(&pair[1].body[..], b"tail");
            }
        }
    }

    #[test]
    fn lent_room_is_bounded_by_what_arrived() {
        let mut d = Decoder::new(None);
        let mut first = vec![2, 0, 0, 0, 0x7f, 0xff, 0xff, 0xff, 0xff];
        first.extend_from_slice(&[0; 1000]);
        d.push(Bytes::from(first));
        assert_eq!(d.decode(), Ok(None));
        let (buf, n) = d.body_buf().unwrap();
        assert_eq!(n, DIRECT_MIN);
        assert!(buf.capacity() < 4 * DIRECT_MIN);
    }
}
