//! The 64-byte ZMTP 3.x greeting (RFC 23 section "The Greeting", RFC 37).
//!
//! ```text
//! offset  size  field
//!      0     1  0xFF            signature start
//!      1     8  padding         any value (libzmq sends zeros)
//!      9     1  0x7F            signature end
//!     10     1  major version   3
//!     11     1  minor version   0 (ZMTP 3.0) or 1 (ZMTP 3.1)
//!     12    20  mechanism       ASCII name, NUL padded ("NULL", "PLAIN", "CURVE")
//!     32     1  as-server       0 or 1
//!     33    31  filler          zeros
//! ```
//!
//! [`GreetingParser`] accepts the bytes in any split, down to one byte at a
//! time, and rejects a ZMTP 1.0 or 2.0 peer as soon as the byte that betrays it
//! arrives (byte 0, 9 or 10), so the engine can close without waiting for
//! bytes such a peer will never send.

use crate::error::ProtocolError;

/// Length of the greeting in bytes.
pub const GREETING_LEN: usize = 64;
/// Major version we speak.
pub const VERSION_MAJOR: u8 = 3;
/// Highest minor version we speak (ZMTP 3.1).
pub const VERSION_MINOR: u8 = 1;

/// A security mechanism name as carried in the greeting: 1 to 20 characters
/// from `A-Z 0-9 - _ . +`.
#[derive(Clone, Copy, PartialEq, Eq, Hash)]
pub struct MechanismName {
    bytes: [u8; 20],
    len: u8,
}

impl MechanismName {
    /// `NULL`.
    pub const NULL: MechanismName = MechanismName::from_static("NULL");
    /// `PLAIN`.
    pub const PLAIN: MechanismName = MechanismName::from_static("PLAIN");
    /// `CURVE`.
    pub const CURVE: MechanismName = MechanismName::from_static("CURVE");

    pub(crate) const fn from_static(name: &str) -> MechanismName {
        let src = name.as_bytes();
        let mut bytes = [0u8; 20];
        let mut i = 0;
        while i < src.len() {
            bytes[i] = src[i];
            i += 1;
        }
        MechanismName {
            bytes,
            len: src.len() as u8,
        }
    }

    /// Parses a name (not the padded field); `None` if empty, longer than 20
    /// bytes or with a character outside the allowed set.
    pub fn new(name: &[u8]) -> Option<MechanismName> {
        if name.is_empty() || name.len() > 20 || !name.iter().all(|&c| is_mechanism_char(c)) {
            return None;
        }
        let mut bytes = [0u8; 20];
        bytes[..name.len()].copy_from_slice(name);
        Some(MechanismName {
            bytes,
            len: name.len() as u8,
        })
    }

    /// Parses the 20-byte NUL-padded greeting field.
    fn from_field(field: &[u8; 20]) -> Result<MechanismName, ProtocolError> {
        let len = field.iter().position(|&b| b == 0).unwrap_or(20);
        if field[len..].iter().any(|&b| b != 0) {
            return Err(ProtocolError::BadMechanismName);
        }
        MechanismName::new(&field[..len]).ok_or(ProtocolError::BadMechanismName)
    }

    /// The name as bytes, without padding.
    pub fn as_bytes(&self) -> &[u8] {
        &self.bytes[..usize::from(self.len)]
    }

    /// The name as text (always ASCII).
    pub fn as_str(&self) -> &str {
        std::str::from_utf8(self.as_bytes()).unwrap_or("?")
    }
}

impl std::fmt::Debug for MechanismName {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        write!(f, "MechanismName({})", self.as_str())
    }
}

impl std::fmt::Display for MechanismName {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str(self.as_str())
    }
}

fn is_mechanism_char(c: u8) -> bool {
    c.is_ascii_uppercase() || c.is_ascii_digit() || matches!(c, b'-' | b'_' | b'.' | b'+')
}

/// A parsed or to-be-sent greeting.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Greeting {
    /// Major version (3 for every greeting we accept; may be higher).
    pub major: u8,
    /// Minor version.
    pub minor: u8,
    /// Security mechanism.
    pub mechanism: MechanismName,
    /// The as-server flag.
    pub as_server: bool,
}

impl Greeting {
    /// Our own greeting: ZMTP 3.1 with the given mechanism and role.
    pub fn ours(mechanism: MechanismName, as_server: bool) -> Greeting {
        Greeting {
            major: VERSION_MAJOR,
            minor: VERSION_MINOR,
            mechanism,
            as_server,
        }
    }

    /// Encodes the 64 bytes (padding and filler zero, as libzmq sends).
    pub fn encode(&self) -> [u8; GREETING_LEN] {
        let mut g = [0u8; GREETING_LEN];
        g[0] = 0xFF;
        g[9] = 0x7F;
        g[10] = self.major;
        g[11] = self.minor;
        g[12..12 + usize::from(self.mechanism.len)].copy_from_slice(self.mechanism.as_bytes());
        g[32] = u8::from(self.as_server);
        g
    }

    /// The ZMTP minor version both sides speak after negotiation with this
    /// (the peer's) greeting: 1 for a 3.1-or-later peer, 0 for a 3.0 peer.
    pub fn negotiated_minor(&self) -> u8 {
        if self.major > VERSION_MAJOR {
            VERSION_MINOR
        } else {
            self.minor.min(VERSION_MINOR)
        }
    }

    /// Parses a complete greeting.
    pub fn parse(bytes: &[u8; GREETING_LEN]) -> Result<Greeting, ProtocolError> {
        let mut p = GreetingParser::new();
        p.feed(bytes)?;
        p.greeting().ok_or(ProtocolError::BadSignature)
    }
}

/// Incremental greeting parser.
#[derive(Debug, Clone)]
pub struct GreetingParser {
    buf: [u8; GREETING_LEN],
    len: usize,
    done: Option<Greeting>,
}

impl Default for GreetingParser {
    fn default() -> Self {
        GreetingParser::new()
    }
}

impl GreetingParser {
    /// A parser that has seen nothing yet.
    pub fn new() -> GreetingParser {
        GreetingParser {
            buf: [0; GREETING_LEN],
            len: 0,
            done: None,
        }
    }

    /// Feeds bytes; returns how many were consumed (never more than the
    /// greeting still needs). Errors as soon as the bytes so far rule out a
    /// ZMTP 3.x peer.
    pub fn feed(&mut self, input: &[u8]) -> Result<usize, ProtocolError> {
        if self.done.is_some() {
            return Ok(0);
        }
        let take = input.len().min(GREETING_LEN - self.len);
        let start = self.len;
        self.buf[start..start + take].copy_from_slice(&input[..take]);
        self.len += take;
        // Early checks on the bytes that identify older protocols.
        if start == 0 && self.len > 0 && self.buf[0] != 0xFF {
            // ZMTP 1.0 starts with a short length; anything else is not ZMTP.
            return Err(ProtocolError::BadSignature);
        }
        if start <= 9 && self.len > 9 && self.buf[9] & 0x01 == 0 {
            // RFC 23: bit 0 of byte 9 clear means a ZMTP 1.0 long-length frame.
            return Err(ProtocolError::UnsupportedVersion { version: "1.0" });
        }
        if start <= 10 && self.len > 10 && self.buf[10] < VERSION_MAJOR {
            return Err(ProtocolError::UnsupportedVersion {
                version: if self.buf[10] == 0 { "1.0" } else { "2.0" },
            });
        }
        if self.len == GREETING_LEN {
            let mut field = [0u8; 20];
            field.copy_from_slice(&self.buf[12..32]);
            let mechanism = MechanismName::from_field(&field)?;
            let as_server = match self.buf[32] {
                0 => false,
                1 => true,
                _ => return Err(ProtocolError::BadAsServer),
            };
            self.done = Some(Greeting {
                major: self.buf[10],
                minor: self.buf[11],
                mechanism,
                as_server,
            });
        }
        Ok(take)
    }

    /// The greeting, once all 64 bytes arrived and parsed.
    pub fn greeting(&self) -> Option<Greeting> {
        self.done
    }

    /// How many bytes of the greeting have arrived.
    pub fn received(&self) -> usize {
        self.len
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn round_trip_and_byte_at_a_time() {
        let g = Greeting::ours(MechanismName::PLAIN, true);
        let bytes = g.encode();
        let mut p = GreetingParser::new();
        for b in bytes {
            assert_eq!(p.feed(&[b]).unwrap(), 1);
        }
        assert_eq!(p.greeting(), Some(g));
        assert_eq!(p.feed(&[0]).unwrap(), 0);
    }

    /// docs/BOUNDS.md row 1: the parser keeps 64 bytes, however much a
    /// read brings and however it is cut; the rest is not its to keep.
    #[test]
    fn a_greeting_keeps_64_bytes_of_any_input() {
        let g = Greeting::ours(MechanismName::NULL, false).encode();
        let mut input = g.to_vec();
        input.extend_from_slice(&[0x55; 1 << 20]);
        for cut in [1, 7, 63, 64, 65, input.len()] {
            let mut p = GreetingParser::new();
            let mut taken = 0;
            for chunk in input.chunks(cut) {
                taken += p.feed(chunk).unwrap();
                if p.greeting().is_some() {
                    break;
                }
            }
            assert_eq!(taken, GREETING_LEN, "cut {cut}");
            assert_eq!(p.received(), GREETING_LEN);
            assert_eq!(p.feed(&input[64..]).unwrap(), 0);
        }
    }

    #[test]
    fn old_versions_rejected_early() {
        let mut p = GreetingParser::new();
        assert_eq!(p.feed(&[0x01, 0x00]), Err(ProtocolError::BadSignature));
        let mut p = GreetingParser::new();
        let zmtp2 = [0xFF, 0, 0, 0, 0, 0, 0, 0, 1, 0x7F, 0x01];
        assert_eq!(
            p.feed(&zmtp2),
            Err(ProtocolError::UnsupportedVersion { version: "2.0" })
        );
        let mut p = GreetingParser::new();
        let zmtp1_long = [0xFF, 0, 0, 0, 0, 0, 0, 0, 1, 0x00];
        assert_eq!(
            p.feed(&zmtp1_long),
            Err(ProtocolError::UnsupportedVersion { version: "1.0" })
        );
    }

    #[test]
    fn mechanism_field_checked() {
        let mut g = Greeting::ours(MechanismName::NULL, false).encode();
        g[12] = b'n';
        assert_eq!(Greeting::parse(&g), Err(ProtocolError::BadMechanismName));
        let mut g = Greeting::ours(MechanismName::NULL, false).encode();
        g[20] = b'X';
        assert_eq!(Greeting::parse(&g), Err(ProtocolError::BadMechanismName));
        let mut g = Greeting::ours(MechanismName::NULL, false).encode();
        g[32] = 2;
        assert_eq!(Greeting::parse(&g), Err(ProtocolError::BadAsServer));
    }

    #[test]
    fn negotiation() {
        let mut g = Greeting::ours(MechanismName::NULL, false);
        assert_eq!(g.negotiated_minor(), 1);
        g.minor = 0;
        assert_eq!(g.negotiated_minor(), 0);
        g.minor = 7;
        assert_eq!(g.negotiated_minor(), 1);
        g.major = 4;
        g.minor = 0;
        assert_eq!(g.negotiated_minor(), 1);
    }
}
