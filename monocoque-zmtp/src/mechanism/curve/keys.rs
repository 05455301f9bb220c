//! CURVE keys: X25519 public and secret keys of 32 bytes, written in Z85
//! (40 characters) as ZeroMQ writes them, and a key pair from the operating
//! system's random source.
//!
//! A [`CurveSecretKey`] is wiped from memory when dropped, never prints
//! itself ([`Debug`] shows only that it is a key) and compares in constant
//! time; its Z85 text comes in a [`Zeroizing`] string so it is wiped too.

use std::fmt;
use std::str::FromStr;

use crypto_box::aead::rand_core::RngCore;
use crypto_box::aead::OsRng;
use crypto_box::SalsaBox;
use subtle::ConstantTimeEq;
use zeroize::{Zeroize, ZeroizeOnDrop, Zeroizing};

use crate::z85::{self, Z85Error};

/// Length of a CURVE key in bytes.
pub const KEY_LEN: usize = 32;

/// Length of a CURVE key in Z85 text.
pub const KEY_Z85_LEN: usize = 40;

/// Why a key was refused.
#[derive(Debug, Clone, Copy, PartialEq, Eq, thiserror::Error)]
#[non_exhaustive]
pub enum CurveKeyError {
    /// Z85 text of a key must be 40 characters.
    #[error("a curve key is 40 z85 characters, not {0}")]
    Length(usize),
    /// The text is not valid Z85.
    #[error("bad curve key: {0}")]
    Z85(#[from] Z85Error),
}

/// A CURVE public key (a server's `S`, a client's `C`).
#[derive(Clone, Copy)]
pub struct CurvePublicKey([u8; KEY_LEN]);

impl CurvePublicKey {
    /// The key of these 32 bytes.
    pub const fn from_bytes(bytes: [u8; KEY_LEN]) -> CurvePublicKey {
        CurvePublicKey(bytes)
    }

    /// Parses 40 characters of Z85.
    pub fn from_z85(text: &str) -> Result<CurvePublicKey, CurveKeyError> {
        let mut k = [0u8; KEY_LEN];
        z85_key(text, &mut k)?;
        Ok(CurvePublicKey(k))
    }

    /// The key's 32 bytes.
    pub fn as_bytes(&self) -> &[u8; KEY_LEN] {
        &self.0
    }

    /// The key as 40 characters of Z85.
    pub fn to_z85(&self) -> String {
        z85_text(&self.0)
    }

    /// Compares in constant time.
    pub(crate) fn ct_eq_bytes(&self, other: &[u8]) -> bool {
        self.0.ct_eq(other).into()
    }

    pub(crate) fn to_box_key(self) -> crypto_box::PublicKey {
        crypto_box::PublicKey::from_bytes(self.0)
    }
}

impl PartialEq for CurvePublicKey {
    fn eq(&self, other: &CurvePublicKey) -> bool {
        self.ct_eq_bytes(&other.0)
    }
}

impl Eq for CurvePublicKey {}

impl std::hash::Hash for CurvePublicKey {
    fn hash<H: std::hash::Hasher>(&self, state: &mut H) {
        self.0.hash(state);
    }
}

impl fmt::Display for CurvePublicKey {
    /// The Z85 text.
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(&self.to_z85())
    }
}

impl fmt::Debug for CurvePublicKey {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "CurvePublicKey({})", self.to_z85())
    }
}

impl FromStr for CurvePublicKey {
    type Err = CurveKeyError;

    fn from_str(text: &str) -> Result<CurvePublicKey, CurveKeyError> {
        CurvePublicKey::from_z85(text)
    }
}

impl From<[u8; KEY_LEN]> for CurvePublicKey {
    fn from(bytes: [u8; KEY_LEN]) -> CurvePublicKey {
        CurvePublicKey(bytes)
    }
}

/// A CURVE secret key (`s`, `c`, and the transient `s'`, `c'`): wiped on
/// drop, never printed, compared in constant time.
#[derive(Clone)]
pub struct CurveSecretKey([u8; KEY_LEN]);

impl CurveSecretKey {
    /// The key of these 32 bytes (any 32 bytes are a valid X25519 secret).
    pub fn from_bytes(bytes: [u8; KEY_LEN]) -> CurveSecretKey {
        CurveSecretKey(bytes)
    }

    /// Parses 40 characters of Z85.
    pub fn from_z85(text: &str) -> Result<CurveSecretKey, CurveKeyError> {
        let mut k = CurveSecretKey([0u8; KEY_LEN]);
        z85_key(text, &mut k.0)?;
        Ok(k)
    }

    /// A fresh key from the operating system's random source.
    ///
    /// # Panics
    ///
    /// If the operating system has no random source to give (see
    /// [`try_generate`](Self::try_generate) for the fallible form).
    pub fn generate() -> CurveSecretKey {
        match CurveSecretKey::try_generate() {
            Some(k) => k,
            None => panic!("the operating system's random source failed"),
        }
    }

    /// A fresh key from the operating system's random source, `None` if it
    /// failed.
    pub fn try_generate() -> Option<CurveSecretKey> {
        let mut k = CurveSecretKey([0u8; KEY_LEN]);
        OsRng.try_fill_bytes(&mut k.0).ok()?;
        Some(k)
    }

    /// The public key of this secret.
    pub fn public_key(&self) -> CurvePublicKey {
        let mut sk = crypto_box::SecretKey::from_bytes(self.0);
        let pk = sk.public_key();
        wipe(&mut sk);
        CurvePublicKey(pk.to_bytes())
    }

    /// The secret's 32 bytes. Handle with care: copies are not wiped.
    pub fn as_bytes(&self) -> &[u8; KEY_LEN] {
        &self.0
    }

    /// The secret as 40 characters of Z85, in a string wiped on drop.
    pub fn to_z85(&self) -> Zeroizing<String> {
        Zeroizing::new(z85_text(&self.0))
    }

    /// The precomputed box between this secret and `peer` (X25519, then
    /// the XSalsa20Poly1305 key), as `crypto_box_beforenm` computes it.
    pub(crate) fn salsa_box(&self, peer: &CurvePublicKey) -> SalsaBox {
        let mut sk = crypto_box::SecretKey::from_bytes(self.0);
        let b = SalsaBox::new(&peer.to_box_key(), &sk);
        wipe(&mut sk);
        b
    }
}

/// `crypto_box::SecretKey` wipes its scalar on drop but not the bytes it
/// was made of: overwrite the whole value with the zero key before it goes.
fn wipe(sk: &mut crypto_box::SecretKey) {
    *sk = crypto_box::SecretKey::from_bytes([0u8; KEY_LEN]);
    std::hint::black_box(sk);
}

impl Drop for CurveSecretKey {
    fn drop(&mut self) {
        self.0.zeroize();
    }
}

impl ZeroizeOnDrop for CurveSecretKey {}

impl PartialEq for CurveSecretKey {
    fn eq(&self, other: &CurveSecretKey) -> bool {
        self.0.ct_eq(&other.0).into()
    }
}

impl Eq for CurveSecretKey {}

impl fmt::Debug for CurveSecretKey {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str("CurveSecretKey(<secret>)")
    }
}

impl FromStr for CurveSecretKey {
    type Err = CurveKeyError;

    fn from_str(text: &str) -> Result<CurveSecretKey, CurveKeyError> {
        CurveSecretKey::from_z85(text)
    }
}

/// A fresh CURVE key pair from the operating system's random source.
///
/// # Panics
///
/// If the operating system has no random source to give.
pub fn curve_keypair() -> (CurvePublicKey, CurveSecretKey) {
    let secret = CurveSecretKey::generate();
    (secret.public_key(), secret)
}

fn z85_key(text: &str, out: &mut [u8; KEY_LEN]) -> Result<(), CurveKeyError> {
    if text.len() != KEY_Z85_LEN {
        return Err(CurveKeyError::Length(text.len()));
    }
    z85::decode_into(text, out)?;
    Ok(())
}

fn z85_text(key: &[u8; KEY_LEN]) -> String {
    // 32 is a multiple of 4: encoding cannot fail.
    z85::encode(key).unwrap_or_default()
}

#[cfg(test)]
mod tests {
    use super::*;

    // libzmq's test keys (its tests/testutil_security.cpp).
    const SERVER_PUBLIC: &str = "rq:rM>}U?@Lns47E1%kR.o@n%FcmmsL/@{H8]yf7";
    const SERVER_SECRET: &str = "JTKVSB%%)wK0E.X)V>+}o?pNmC{O&4W4b!Ni{Lh6";
    const CLIENT_PUBLIC: &str = "Yne@$w-vo<fVvi]a<NY6T1ed:M$fCG*[IaLV{hID";
    const CLIENT_SECRET: &str = "D:)Q[IlAW!ahhC2ac:9*A}h:p?([4%wOTJ%JR%cs";

    #[test]
    fn libzmq_test_keys_derive_their_public_keys() {
        for (public, secret) in [
            (SERVER_PUBLIC, SERVER_SECRET),
            (CLIENT_PUBLIC, CLIENT_SECRET),
        ] {
            let s: CurveSecretKey = secret.parse().unwrap();
            let p: CurvePublicKey = public.parse().unwrap();
            assert_eq!(s.public_key(), p);
            assert_eq!(p.to_string(), public);
            assert_eq!(&*s.to_z85(), secret);
        }
    }

    #[test]
    fn keypair_is_fresh_and_consistent() {
        let (p1, s1) = curve_keypair();
        let (p2, s2) = curve_keypair();
        assert_ne!(p1, p2);
        assert_ne!(s1, s2);
        assert_eq!(s1.public_key(), p1);
        assert_eq!(CurvePublicKey::from_z85(&p1.to_z85()).unwrap(), p1);
        assert_eq!(CurveSecretKey::from_z85(&s1.to_z85()).unwrap(), s1);
    }

    #[test]
    fn secret_debug_hides_the_key() {
        let s: CurveSecretKey = SERVER_SECRET.parse().unwrap();
        let d = format!("{s:?}");
        assert!(!d.contains(SERVER_SECRET) && !d.contains("74"), "{d}");
        let p: CurvePublicKey = SERVER_PUBLIC.parse().unwrap();
        assert_eq!(format!("{p:?}"), format!("CurvePublicKey({SERVER_PUBLIC})"));
    }

    #[test]
    fn bad_text_is_refused() {
        assert_eq!(
            CurvePublicKey::from_z85("short"),
            Err(CurveKeyError::Length(5))
        );
        let bad = format!("{}\"", &SERVER_PUBLIC[..39]);
        assert!(matches!(
            CurveSecretKey::from_z85(&bad),
            Err(CurveKeyError::Z85(Z85Error::BadCharacter {
                offset: 39,
                ..
            }))
        ));
    }
}
