//! ZMTP commands (RFC 23, RFC 37, RFC 24) and connection metadata.
//!
//! A command frame's body is `name-length (1 octet), name, data`. Parsing is
//! zero-copy: every `Bytes` in a parsed [`Command`] is a slice of the frame.
//!
//! ```text
//! READY      metadata                     (NULL, PLAIN; RFC 23)
//! ERROR      reason-length (1), reason
//! SUBSCRIBE  topic                        (ZMTP 3.1)
//! CANCEL     topic                        (ZMTP 3.1)
//! PING       ttl (2, tenths of a second), context (0-16 octets)
//! PONG       context (0-16 octets)
//! HELLO      username-length (1), username, password-length (1), password  (PLAIN)
//! WELCOME    nothing                      (PLAIN)
//! INITIATE   metadata                     (PLAIN)
//! metadata:  *(name-length (1), name, value-length (4, network order), value)
//! ```

use bytes::{Buf, BufMut, Bytes, BytesMut};

use crate::error::ProtocolError;
use crate::frame::FLAG_COMMAND;

/// Property name carrying the socket type.
pub const PROP_SOCKET_TYPE: &str = "Socket-Type";
/// Property name carrying the routing identity.
pub const PROP_IDENTITY: &str = "Identity";
/// Newer alias some peers use for the routing identity.
pub const PROP_ROUTING_ID: &str = "Routing-Id";
/// Longest PING/PONG context (RFC 37).
pub const MAX_PING_CONTEXT: usize = 16;

/// Connection metadata: an ordered list of `(name, value)` properties.
/// Names are compared case-insensitively.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct Metadata {
    props: Vec<(Bytes, Bytes)>,
}

impl Metadata {
    /// Empty metadata.
    pub fn new() -> Metadata {
        Metadata::default()
    }

    /// Adds a property. The name must be 1-255 characters from
    /// `A-Z a-z 0-9 - _ . +`, and the value shorter than 4 GiB.
    pub fn insert(
        &mut self,
        name: impl Into<Bytes>,
        value: impl Into<Bytes>,
    ) -> Result<(), ProtocolError> {
        let name = name.into();
        let value = value.into();
        if name.is_empty() || name.len() > 255 || !name.iter().all(|&c| is_name_char(c)) {
            return Err(ProtocolError::InvalidConfig(
                "invalid metadata property name",
            ));
        }
        if u32::try_from(value.len()).is_err() {
            return Err(ProtocolError::InvalidConfig("metadata value too long"));
        }
        self.props.push((name, value));
        Ok(())
    }

    /// The first value of a property, by case-insensitive name.
    pub fn get(&self, name: &str) -> Option<&Bytes> {
        self.props
            .iter()
            .find(|(n, _)| n.eq_ignore_ascii_case(name.as_bytes()))
            .map(|(_, v)| v)
    }

    /// True if a property of that name (case-insensitive) exists.
    pub fn contains(&self, name: &str) -> bool {
        self.get(name).is_some()
    }

    /// All properties in order.
    pub fn iter(&self) -> impl Iterator<Item = (&Bytes, &Bytes)> {
        self.props.iter().map(|(n, v)| (n, v))
    }

    /// Number of properties.
    pub fn len(&self) -> usize {
        self.props.len()
    }

    /// True when there are no properties.
    pub fn is_empty(&self) -> bool {
        self.props.is_empty()
    }

    /// Encoded length in bytes.
    pub fn encoded_len(&self) -> usize {
        self.props
            .iter()
            .map(|(n, v)| 1 + n.len() + 4 + v.len())
            .sum()
    }

    /// Appends the wire encoding.
    pub fn encode(&self, buf: &mut BytesMut) {
        buf.reserve(self.encoded_len());
        for (n, v) in &self.props {
            // Lengths were checked on insert or decode.
            buf.put_u8(n.len() as u8);
            buf.extend_from_slice(n);
            buf.put_u32(v.len() as u32);
            buf.extend_from_slice(v);
        }
    }

    /// Parses the wire encoding (zero-copy). Lenient on name characters (as
    /// libzmq is), strict on lengths.
    pub fn decode(mut data: Bytes) -> Result<Metadata, &'static str> {
        let mut props = Vec::new();
        while data.has_remaining() {
            let nlen = usize::from(data.get_u8());
            if nlen == 0 {
                return Err("empty property name");
            }
            if data.len() < nlen + 4 {
                return Err("truncated property");
            }
            let name = data.split_to(nlen);
            let vlen = data.get_u32();
            let vlen = usize::try_from(vlen).map_err(|_| "property value too long")?;
            if data.len() < vlen {
                return Err("truncated property value");
            }
            let value = data.split_to(vlen);
            props.push((name, value));
        }
        Ok(Metadata { props })
    }
}

fn is_name_char(c: u8) -> bool {
    c.is_ascii_alphanumeric() || matches!(c, b'-' | b'_' | b'.' | b'+')
}

/// A parsed command.
#[derive(Debug, Clone, PartialEq, Eq)]
#[non_exhaustive]
pub enum Command {
    /// READY: handshake done on the sender's side; carries its metadata.
    Ready(Metadata),
    /// ERROR: the sender refuses the connection.
    Error {
        /// Human-readable reason (at most 255 bytes).
        reason: Bytes,
    },
    /// SUBSCRIBE (ZMTP 3.1).
    Subscribe(Bytes),
    /// CANCEL (ZMTP 3.1).
    Cancel(Bytes),
    /// PING (ZMTP 3.1).
    Ping {
        /// Time to live in tenths of a second (0: none).
        ttl: u16,
        /// Opaque context to echo in PONG (at most 16 bytes).
        context: Bytes,
    },
    /// PONG (ZMTP 3.1).
    Pong {
        /// The context of the PING it answers.
        context: Bytes,
    },
    /// PLAIN HELLO.
    Hello {
        /// User name (at most 255 bytes).
        username: Bytes,
        /// Password (at most 255 bytes).
        password: Bytes,
    },
    /// PLAIN WELCOME.
    Welcome,
    /// PLAIN INITIATE with the client's metadata.
    Initiate(Metadata),
    /// Any other command; ignored by the session after the handshake.
    Unknown {
        /// Command name.
        name: Bytes,
        /// Command data.
        data: Bytes,
    },
}

impl Command {
    /// Parses a command frame's body. Also reads the malformed ERROR that
    /// libzmq's PLAIN server sends (see `LIBZMQ_PLAIN_ERROR` in the source).
    pub fn parse(mut body: Bytes) -> Result<Command, ProtocolError> {
        if body.is_empty() {
            return Err(ProtocolError::malformed(b"", "empty command frame"));
        }
        let nlen = usize::from(body[0]);
        if nlen == 0 || body.len() < 1 + nlen {
            if body.starts_with(LIBZMQ_PLAIN_ERROR) {
                body.advance(LIBZMQ_PLAIN_ERROR.len());
                return parse_error(body);
            }
            return Err(ProtocolError::malformed(b"", "bad command name length"));
        }
        body.advance(1);
        let name = body.split_to(nlen);
        let mut data = body;
        let bad = |reason| ProtocolError::malformed(&name, reason);
        Ok(match &name[..] {
            b"READY" => Command::Ready(Metadata::decode(data).map_err(bad)?),
            b"INITIATE" => Command::Initiate(Metadata::decode(data).map_err(bad)?),
            b"ERROR" => return parse_error(data),
            b"SUBSCRIBE" => Command::Subscribe(data),
            b"CANCEL" => Command::Cancel(data),
            b"PING" => {
                if data.len() < 2 {
                    return Err(bad("missing ttl"));
                }
                let ttl = data.get_u16();
                if data.len() > MAX_PING_CONTEXT {
                    return Err(bad("context longer than 16 bytes"));
                }
                Command::Ping { ttl, context: data }
            }
            b"PONG" => {
                if data.len() > MAX_PING_CONTEXT {
                    return Err(bad("context longer than 16 bytes"));
                }
                Command::Pong { context: data }
            }
            b"HELLO" => {
                let Some(&ulen) = data.first() else {
                    return Err(bad("missing username length"));
                };
                let ulen = usize::from(ulen);
                if data.len() < 2 + ulen {
                    return Err(bad("truncated username"));
                }
                data.advance(1);
                let username = data.split_to(ulen);
                let plen = usize::from(data.get_u8());
                if data.len() != plen {
                    return Err(bad("password length does not match"));
                }
                Command::Hello {
                    username,
                    password: data,
                }
            }
            b"WELCOME" => {
                if !data.is_empty() {
                    return Err(bad("unexpected data"));
                }
                Command::Welcome
            }
            _ => Command::Unknown { name, data },
        })
    }

    /// The command's name.
    pub fn name(&self) -> &[u8] {
        match self {
            Command::Ready(_) => b"READY",
            Command::Error { .. } => b"ERROR",
            Command::Subscribe(_) => b"SUBSCRIBE",
            Command::Cancel(_) => b"CANCEL",
            Command::Ping { .. } => b"PING",
            Command::Pong { .. } => b"PONG",
            Command::Hello { .. } => b"HELLO",
            Command::Welcome => b"WELCOME",
            Command::Initiate(_) => b"INITIATE",
            Command::Unknown { name, .. } => name,
        }
    }

    /// Encodes the command frame body (name length, name, data). Lengths that
    /// do not fit their fields are truncated (ERROR reason, HELLO fields) or
    /// cut to 16 bytes (PING/PONG context); use the constructors' callers'
    /// validation to avoid that.
    pub fn encode_body(&self) -> Bytes {
        let name = self.name();
        let mut b = BytesMut::with_capacity(1 + name.len() + 16);
        b.put_u8(name.len().min(255) as u8);
        b.extend_from_slice(&name[..name.len().min(255)]);
        match self {
            Command::Ready(md) | Command::Initiate(md) => md.encode(&mut b),
            Command::Error { reason } => put_short(&mut b, reason),
            Command::Subscribe(t) | Command::Cancel(t) => b.extend_from_slice(t),
            Command::Ping { ttl, context } => {
                b.put_u16(*ttl);
                b.extend_from_slice(&context[..context.len().min(MAX_PING_CONTEXT)]);
            }
            Command::Pong { context } => {
                b.extend_from_slice(&context[..context.len().min(MAX_PING_CONTEXT)])
            }
            Command::Hello { username, password } => {
                put_short(&mut b, username);
                put_short(&mut b, password);
            }
            Command::Welcome => {}
            Command::Unknown { data, .. } => b.extend_from_slice(data),
        }
        b.freeze()
    }

    /// Encodes the whole command frame (header and body) as one buffer.
    pub fn encode_frame(&self) -> Bytes {
        let body = self.encode_body();
        let mut b = BytesMut::with_capacity(9 + body.len());
        if body.len() < 256 {
            b.put_u8(FLAG_COMMAND);
            b.put_u8(body.len() as u8);
        } else {
            b.put_u8(FLAG_COMMAND | crate::frame::FLAG_LONG);
            b.put_u64(body.len() as u64);
        }
        b.extend_from_slice(&body);
        b.freeze()
    }
}

/// What libzmq's PLAIN server sends instead of `\x05ERROR`. libzmq (seen in
/// 4.3.4 and still so on its master; `src/plain_common.hpp`) writes the prefix as the C literal
/// `"\x05ERROR"`, whose hex escape swallows the `E`: the frame carries
/// `0x5E "RROR" reason-length reason`, one byte shorter than a real ERROR and
/// with a name length (94) its body cannot hold. [`Command::parse`] reads it
/// as ERROR only in that case, when the body cannot be a well-formed command,
/// so a PLAIN client learns why a libzmq server refused it.
const LIBZMQ_PLAIN_ERROR: &[u8] = b"\x5eRROR";

/// ERROR's data: `reason-length (1), reason`, nothing after.
fn parse_error(mut data: Bytes) -> Result<Command, ProtocolError> {
    let bad = |reason| ProtocolError::malformed(b"ERROR", reason);
    let Some(&rlen) = data.first() else {
        return Err(bad("missing reason length"));
    };
    if data.len() != 1 + usize::from(rlen) {
        return Err(bad("reason length does not match"));
    }
    data.advance(1);
    Ok(Command::Error { reason: data })
}

fn put_short(b: &mut BytesMut, s: &[u8]) {
    let s = &s[..s.len().min(255)];
    b.put_u8(s.len() as u8);
    b.extend_from_slice(s);
}

#[cfg(test)]
mod tests {
    use super::*;

    fn rt(c: Command) {
        assert_eq!(Command::parse(c.encode_body()).unwrap(), c);
    }

    #[test]
    fn round_trips() {
        let mut md = Metadata::new();
        md.insert("Socket-Type", "DEALER").unwrap();
        md.insert("X-Foo", Bytes::new()).unwrap();
        rt(Command::Ready(md.clone()));
        rt(Command::Initiate(md));
        rt(Command::Error {
            reason: Bytes::from_static(b"nope"),
        });
        rt(Command::Subscribe(Bytes::from_static(b"topic")));
        rt(Command::Cancel(Bytes::new()));
        rt(Command::Ping {
            ttl: 300,
            context: Bytes::from_static(b"ctx"),
        });
        rt(Command::Pong {
            context: Bytes::new(),
        });
        rt(Command::Hello {
            username: Bytes::from_static(b"admin"),
            password: Bytes::from_static(b"secret"),
        });
        rt(Command::Welcome);
        rt(Command::Unknown {
            name: Bytes::from_static(b"FOO"),
            data: Bytes::from_static(b"bar"),
        });
    }

    #[test]
    fn metadata_case_insensitive() {
        let mut md = Metadata::new();
        md.insert("Socket-Type", "PUB").unwrap();
        assert_eq!(md.get("socket-type").map(|v| &v[..]), Some(&b"PUB"[..]));
        assert!(md.insert("bad name", "x").is_err());
        assert!(md.insert("", "x").is_err());
    }

    #[test]
    fn libzmq_plain_error_quirk() {
        // Captured from libzmq 4.3.4's PLAIN server after a ZAP 400.
        let body = Bytes::from_static(b"\x5eRROR\x03400");
        assert_eq!(
            Command::parse(body),
            Ok(Command::Error {
                reason: Bytes::from_static(b"400")
            })
        );
        assert!(Command::parse(Bytes::from_static(b"\x5eRROR\x04400")).is_err());
        assert!(Command::parse(Bytes::from_static(b"\x5eRROR")).is_err());
    }

    #[test]
    fn malformed() {
        for body in [
            &b""[..],
            b"\x00",
            b"\x05REA",
            b"\x05READY\x00",
            b"\x05READY\x01A\x00\x00\x00\x05abc",
            b"\x05ERROR",
            b"\x05ERROR\x05ab",
            b"\x04PING\x00",
            b"\x04PONG01234567890123456",
            b"\x05HELLO\x05ab",
            b"\x05HELLO\x01a\x02b",
            b"\x07WELCOMEx",
        ] {
            assert!(
                Command::parse(Bytes::copy_from_slice(body)).is_err(),
                "{body:?}"
            );
        }
    }
}
