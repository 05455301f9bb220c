//! `mq keygen`: a CURVE key pair (RFC 26) in Z85 (RFC 32), made by the
//! library (`monocoque::curve_keypair`): X25519 from the operating system's
//! random source, what libzmq's `zmq_curve_keypair` computes.

use std::io::{self, Write};

/// Prints the public key, then the secret key, one per line.
pub(crate) fn run() -> Result<(), String> {
    let secret = monocoque::CurveSecretKey::try_generate()
        .ok_or_else(|| "no random source for a key".to_owned())?;
    let public = secret.public_key();
    let mut out = io::stdout().lock();
    writeln!(out, "{public}")
        .and_then(|()| writeln!(out, "{}", &*secret.to_z85()))
        .and_then(|()| out.flush())
        .map_err(|e| format!("stdout: {e}"))
}
