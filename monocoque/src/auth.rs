//! [`Authenticator`]: a ready-made ZAP handler (RFC 27) for a context,
//! as pyzmq's `ThreadAuthenticator` and CZMQ's `zauth` are.

use std::net::IpAddr;
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::Arc;
use std::thread::JoinHandle;
use std::time::Duration;

use bytes::Bytes;
use monocoque_zmtp::{CurvePublicKey, SocketType, ZapReply, ZapRequest};

use crate::context::Context;
use crate::error::Result;
use crate::message::Message;

/// Who an [`Authenticator`] admits.
///
/// Addresses are checked first, for every mechanism: a peer whose address
/// is in `deny` is refused, and when `allow` is not empty only its
/// addresses are admitted. Then the mechanism: NULL peers are admitted,
/// PLAIN peers when their user name and password are in `passwords` (the
/// user id is the user name), CURVE peers when `curve_keys` is `None` or
/// holds their key (the user id is the key in Z85).
#[derive(Clone, Debug, Default, PartialEq, Eq)]
pub struct AuthRules {
    /// Peer addresses admitted (empty: any).
    pub allow: Vec<IpAddr>,
    /// Peer addresses refused.
    pub deny: Vec<IpAddr>,
    /// PLAIN users and their passwords.
    pub passwords: Vec<(Bytes, Bytes)>,
    /// CURVE client keys admitted; `None` admits any key.
    pub curve_keys: Option<Vec<CurvePublicKey>>,
}

impl AuthRules {
    /// The verdict on one request.
    fn decide(&self, req: &ZapRequest) -> ZapReply {
        let address = std::str::from_utf8(&req.address)
            .ok()
            .and_then(|a| a.parse::<IpAddr>().ok());
        if let Some(a) = address {
            if self.deny.contains(&a) {
                return ZapReply::deny(req, "address denied");
            }
        }
        if !self.allow.is_empty() && !address.is_some_and(|a| self.allow.contains(&a)) {
            return ZapReply::deny(req, "address not allowed");
        }
        let mut reply = ZapReply::accept(req);
        match &req.mechanism[..] {
            b"NULL" => {}
            b"PLAIN" => {
                let known = req.credentials.len() == 2
                    && self
                        .passwords
                        .iter()
                        .any(|(u, p)| *u == req.credentials[0] && *p == req.credentials[1]);
                if !known {
                    return ZapReply::deny(req, "invalid credentials");
                }
                reply.user_id = req.credentials[0].clone();
            }
            b"CURVE" => {
                let key = req
                    .credentials
                    .first()
                    .and_then(|k| <[u8; 32]>::try_from(&k[..]).ok())
                    .map(CurvePublicKey::from);
                let Some(key) = key else {
                    return ZapReply::deny(req, "malformed client key");
                };
                if let Some(allowed) = &self.curve_keys {
                    if !allowed.contains(&key) {
                        return ZapReply::deny(req, "client key not allowed");
                    }
                }
                reply.user_id = Bytes::from(key.to_z85());
            }
            _ => return ZapReply::deny(req, "unknown mechanism"),
        }
        reply
    }
}

/// A ZAP handler on `inproc://zeromq.zap.01` of one context, answering on
/// a thread of its own by [`AuthRules`] until dropped. Every PLAIN and
/// CURVE server of the context (and NULL ones with a ZAP domain) then asks
/// it about each peer.
///
/// ```
/// use monocoque::{curve_keypair, AuthRules, Authenticator, Context, Security, SocketType};
/// let ctx = Context::new();
/// let (client_public, client_secret) = curve_keypair();
/// let _auth = Authenticator::start(
///     &ctx,
///     AuthRules { curve_keys: Some(vec![client_public]), ..AuthRules::default() },
/// )
/// .unwrap();
/// let (_server_public, server_secret) = curve_keypair();
/// let server = ctx.socket(SocketType::Rep).unwrap();
/// server.update_options(|o| o.security = Security::CurveServer { secret: server_secret });
/// # drop(client_secret);
/// ```
#[derive(Debug)]
pub struct Authenticator {
    stop: Arc<AtomicBool>,
    thread: Option<JoinHandle<()>>,
}

/// How often the handler thread looks at its stop flag.
const POLL: Duration = Duration::from_millis(50);

impl Authenticator {
    /// Binds `inproc://zeromq.zap.01` in `ctx` and starts answering.
    /// Fails if another handler is bound there.
    pub fn start(ctx: &Context, rules: AuthRules) -> Result<Authenticator> {
        let rep = ctx.socket(SocketType::Rep)?;
        rep.update_options(|o| {
            o.rcvtimeo = Some(POLL);
            o.linger = Some(Duration::ZERO);
        });
        rep.bind("inproc://zeromq.zap.01")?;
        let stop = Arc::new(AtomicBool::new(false));
        let flag = stop.clone();
        let thread = std::thread::Builder::new()
            .name("monocoque-zap".into())
            .spawn(move || {
                while !flag.load(Ordering::Acquire) {
                    let Ok(msg) = rep.recv() else { continue };
                    let reply = match ZapRequest::decode(msg.frames()) {
                        Ok(req) => rules.decide(&req).encode(),
                        // Not a request: still answer, so the asker
                        // (a REQ) is not left waiting.
                        Err(_) => vec![
                            Bytes::from_static(b"1.0"),
                            Bytes::new(),
                            Bytes::from_static(b"500"),
                            Bytes::from_static(b"malformed request"),
                            Bytes::new(),
                            Bytes::new(),
                        ],
                    };
                    let _ = rep.send(Message::from(reply));
                }
            })?;
        Ok(Authenticator {
            stop,
            thread: Some(thread),
        })
    }
}

impl Drop for Authenticator {
    fn drop(&mut self) {
        self.stop.store(true, Ordering::Release);
        if let Some(t) = self.thread.take() {
            let _ = t.join();
        }
    }
}
