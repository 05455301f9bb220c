//! Z85 (RFC 32): printable text for binary data, four bytes as five
//! characters, as ZeroMQ writes CURVE keys (a 32-byte key is 40 characters).
//!
//! ```text
//! bytes  86 4f d2 6f  b5 59 f7 5b        (big-endian u32 per 4 bytes)
//! text   H e l l o    W o r l d          (base 85, most significant first)
//! ```

/// The 85 characters, in value order (RFC 32).
const ALPHABET: &[u8; 85] =
    b"0123456789abcdefghijklmnopqrstuvwxyzABCDEFGHIJKLMNOPQRSTUVWXYZ.-:+=^!/*?&<>()[]{}@%$#";

/// Marks a byte that is not a Z85 character in [`DECODE`].
const NOT_Z85: u8 = 0xff;

/// Character to value, `NOT_Z85` for anything outside the alphabet.
const DECODE: [u8; 256] = {
    let mut t = [NOT_Z85; 256];
    let mut i = 0;
    while i < ALPHABET.len() {
        t[ALPHABET[i] as usize] = i as u8;
        i += 1;
    }
    t
};

/// Why Z85 text or data was refused.
#[derive(Debug, Clone, Copy, PartialEq, Eq, thiserror::Error)]
#[non_exhaustive]
pub enum Z85Error {
    /// Data to encode must be a multiple of 4 bytes long.
    #[error("z85 data of {0} bytes is not a multiple of 4")]
    DataLength(usize),
    /// Text to decode must be a multiple of 5 characters long.
    #[error("z85 text of {0} characters is not a multiple of 5")]
    TextLength(usize),
    /// A character outside the Z85 alphabet.
    #[error("byte {byte:#04x} at offset {offset} is not a z85 character")]
    BadCharacter {
        /// The offending byte.
        byte: u8,
        /// Its offset in the text.
        offset: usize,
    },
    /// Five characters whose value does not fit in 32 bits.
    #[error("z85 group at offset {0} exceeds 32 bits")]
    Overflow(usize),
}

/// Encodes `data` (a multiple of 4 bytes) as Z85 text.
pub fn encode(data: &[u8]) -> Result<String, Z85Error> {
    if data.len() % 4 != 0 {
        return Err(Z85Error::DataLength(data.len()));
    }
    let mut s = String::with_capacity(data.len() / 4 * 5);
    for chunk in data.chunks_exact(4) {
        let mut v = u32::from_be_bytes([chunk[0], chunk[1], chunk[2], chunk[3]]);
        let mut group = [0u8; 5];
        for c in group.iter_mut().rev() {
            *c = ALPHABET[(v % 85) as usize];
            v /= 85;
        }
        s.extend(group.iter().map(|&c| char::from(c)));
    }
    Ok(s)
}

/// Decodes Z85 `text` (a multiple of 5 characters) into bytes.
pub fn decode(text: &str) -> Result<Vec<u8>, Z85Error> {
    let mut out = vec![0u8; text.len() / 5 * 4];
    decode_into(text, &mut out)?;
    Ok(out)
}

/// Decodes Z85 `text` into `out`, which must be exactly `text.len() / 5 * 4`
/// bytes (callers size it); used for keys, so no heap copy of a secret is made.
pub(crate) fn decode_into(text: &str, out: &mut [u8]) -> Result<(), Z85Error> {
    let t = text.as_bytes();
    if t.len() % 5 != 0 {
        return Err(Z85Error::TextLength(t.len()));
    }
    debug_assert_eq!(out.len(), t.len() / 5 * 4);
    for (g, (group, dst)) in t.chunks_exact(5).zip(out.chunks_exact_mut(4)).enumerate() {
        let mut v: u64 = 0;
        for (i, &c) in group.iter().enumerate() {
            let d = DECODE[usize::from(c)];
            if d == NOT_Z85 {
                return Err(Z85Error::BadCharacter {
                    byte: c,
                    offset: g * 5 + i,
                });
            }
            v = v * 85 + u64::from(d);
        }
        let v = u32::try_from(v).map_err(|_| Z85Error::Overflow(g * 5))?;
        dst.copy_from_slice(&v.to_be_bytes());
    }
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;

    /// RFC 32's test vector.
    const HELLO_WORLD: [u8; 8] = [0x86, 0x4F, 0xD2, 0x6F, 0xB5, 0x59, 0xF7, 0x5B];

    #[test]
    fn rfc32_vector_both_ways() {
        assert_eq!(encode(&HELLO_WORLD).unwrap(), "HelloWorld");
        assert_eq!(decode("HelloWorld").unwrap(), HELLO_WORLD);
    }

    #[test]
    fn round_trips_every_byte_value() {
        let data: Vec<u8> = (0..=255).collect();
        let text = encode(&data).unwrap();
        assert_eq!(text.len(), 320);
        assert_eq!(decode(&text).unwrap(), data);
        assert_eq!(encode(&[]).unwrap(), "");
        assert_eq!(encode(&[0xff; 4]).unwrap(), "%nSc0");
        assert_eq!(encode(&[0; 4]).unwrap(), "00000");
    }

    #[test]
    fn refuses_bad_lengths_characters_and_overflow() {
        assert_eq!(encode(&[1, 2, 3]), Err(Z85Error::DataLength(3)));
        assert_eq!(
            decode("Hello Worl"),
            Err(Z85Error::BadCharacter {
                byte: b' ',
                offset: 5
            })
        );
        assert_eq!(decode("Hell"), Err(Z85Error::TextLength(4)));
        assert_eq!(
            decode("Hell\"World"),
            Err(Z85Error::BadCharacter {
                byte: b'"',
                offset: 4
            })
        );
        // "%nSc1" is 2^32: one past the largest group.
        assert_eq!(decode("%nSc1"), Err(Z85Error::Overflow(0)));
        assert_eq!(decode("00000%nSc1"), Err(Z85Error::Overflow(5)));
        assert!(decode("é1234").is_err());
    }
}
