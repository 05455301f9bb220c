//! `mq keygen`: a CURVE key pair (RFC 26) in Z85 (RFC 32).
//!
//! The secret key is 32 bytes from the operating system's random source; the
//! public key is X25519 of it with the base point, what libzmq's
//! `zmq_curve_keypair` (libsodium's `crypto_box_keypair`) computes.

use std::io::{self, Read, Write};

/// RFC 32's alphabet.
const Z85: &[u8; 85] =
    b"0123456789abcdefghijklmnopqrstuvwxyzABCDEFGHIJKLMNOPQRSTUVWXYZ.-:+=^!/*?&<>()[]{}@%$#";

/// Z85-encodes `data`, whose length must be a multiple of 4.
pub(crate) fn z85_encode(data: &[u8]) -> Option<String> {
    if data.len() % 4 != 0 {
        return None;
    }
    let mut out = String::with_capacity(data.len() / 4 * 5);
    for chunk in data.chunks_exact(4) {
        let mut value = u32::from_be_bytes([chunk[0], chunk[1], chunk[2], chunk[3]]);
        let mut digits = [0u8; 5];
        for d in digits.iter_mut().rev() {
            *d = Z85[(value % 85) as usize];
            value /= 85;
        }
        out.extend(digits.iter().map(|&b| char::from(b)));
    }
    Some(out)
}

/// Decodes Z85 text, whose length must be a multiple of 5.
#[cfg(test)]
pub(crate) fn z85_decode(text: &str) -> Option<Vec<u8>> {
    if text.len() % 5 != 0 {
        return None;
    }
    let mut out = Vec::with_capacity(text.len() / 5 * 4);
    for chunk in text.as_bytes().chunks_exact(5) {
        let mut value: u64 = 0;
        for &c in chunk {
            let digit = Z85.iter().position(|&z| z == c)?;
            value = value * 85 + digit as u64;
        }
        out.extend_from_slice(&u32::try_from(value).ok()?.to_be_bytes());
    }
    Some(out)
}

/// A fresh key pair: (public, secret), 32 bytes each.
pub(crate) fn keypair() -> io::Result<([u8; 32], [u8; 32])> {
    let mut secret = [0u8; 32];
    std::fs::File::open("/dev/urandom")?.read_exact(&mut secret)?;
    let public = x25519_dalek::x25519(secret, x25519_dalek::X25519_BASEPOINT_BYTES);
    Ok((public, secret))
}

/// Prints the public key, then the secret key, one per line.
pub(crate) fn run() -> Result<(), String> {
    let (public, secret) = keypair().map_err(|e| format!("no random source: {e}"))?;
    let encode = |key: &[u8; 32]| z85_encode(key).unwrap_or_default();
    let mut out = io::stdout().lock();
    writeln!(out, "{}", encode(&public))
        .and_then(|()| writeln!(out, "{}", encode(&secret)))
        .and_then(|()| out.flush())
        .map_err(|e| format!("stdout: {e}"))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn rfc32_test_vector() {
        let data = [0x86, 0x4F, 0xD2, 0x6F, 0xB5, 0x59, 0xF7, 0x5B];
        assert_eq!(z85_encode(&data).unwrap(), "HelloWorld");
        assert_eq!(z85_decode("HelloWorld").unwrap(), data);
        assert!(z85_encode(&[1, 2, 3]).is_none());
        assert!(z85_decode("Hell").is_none());
    }

    #[test]
    fn public_key_is_derived_from_the_secret() {
        // RFC 7748 section 6.1, Alice's key pair.
        let secret: [u8; 32] = [
            0x77, 0x07, 0x6d, 0x0a, 0x73, 0x18, 0xa5, 0x7d, 0x3c, 0x16, 0xc1, 0x72, 0x51, 0xb2,
            0x66, 0x45, 0xdf, 0x4c, 0x2f, 0x87, 0xeb, 0xc0, 0x99, 0x2a, 0xb1, 0x77, 0xfb, 0xa5,
            0x1d, 0xb9, 0x2c, 0x2a,
        ];
        let public = x25519_dalek::x25519(secret, x25519_dalek::X25519_BASEPOINT_BYTES);
        assert_eq!(public[..4], [0x85, 0x20, 0xf0, 0x09]);
        let (p, s) = keypair().unwrap();
        assert_ne!(p, s);
        assert_eq!(z85_encode(&p).unwrap().len(), 40);
    }
}
