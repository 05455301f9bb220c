//! Options by libzmq's names, from and to text: [`SocketOptions::set`],
//! [`SocketOptions::set_all`] and [`SocketOptions::get`], for programs that
//! read their configuration from files.
//!
//! A name is libzmq's, in any case, with or without `ZMQ_` (`"sndhwm"`,
//! `"ZMQ_LINGER"`; libzmq's deprecated aliases such as `identity` too). A
//! value is what libzmq's `zmq_setsockopt` takes, as text: integers with
//! libzmq's units and sentinels (milliseconds; `-1` for "none" where libzmq
//! has it), booleans as `0`/`1` (or `true`/`false`), binary options as the
//! text's bytes, CURVE keys in Z85 (40 characters). `get` answers in the same
//! form.

use std::time::Duration;

use bytes::Bytes;
use monocoque_zmtp::{CurvePublicKey, CurveSecretKey, SocketType};

use super::{ReconnectStop, RouterNotify, Security, SocketOptions};

/// Why an option could not be set or read by name. Nothing was changed.
///
/// ```
/// use monocoque::{OptionError, SocketOptions, SocketType};
/// let mut o = SocketOptions::default();
/// let err = o.set(SocketType::Push, "sndhwm", "-1").unwrap_err();
/// assert!(matches!(err, OptionError::InvalidValue { name: "sndhwm", .. }));
/// assert_eq!(err.to_string(), "invalid value \"-1\" for sndhwm: takes 0 to 2147483647");
/// ```
#[derive(Clone, Debug, PartialEq, Eq, thiserror::Error)]
#[non_exhaustive]
pub enum OptionError {
    /// No libzmq option has this name.
    #[error("unknown option {0:?}")]
    UnknownName(String),
    /// A libzmq option this crate does not implement.
    #[error("option {name} is not supported: {why}")]
    NotSupported {
        /// The option's name (lower case, without `ZMQ_`).
        name: &'static str,
        /// Why, and what to use instead where there is something.
        why: &'static str,
    },
    /// The value is not one the option takes.
    #[error("invalid value {value:?} for {name}: {why}")]
    InvalidValue {
        /// The option's name (lower case, without `ZMQ_`).
        name: &'static str,
        /// The value given.
        value: String,
        /// What the option takes.
        why: &'static str,
    },
    /// The option belongs to other socket types (libzmq's `EINVAL`).
    #[error("option {name} does not apply to {socket_type:?} sockets")]
    WrongSocketType {
        /// The option's name (lower case, without `ZMQ_`).
        name: &'static str,
        /// The socket's type.
        socket_type: SocketType,
    },
    /// The option can be read but not set (`type`, `mechanism`...).
    #[error("option {0} can only be read")]
    ReadOnly(&'static str),
    /// The option can be set but not read back (`subscribe`).
    #[error("option {0} can only be set")]
    WriteOnly(&'static str),
}

/// An option name as the tables spell it: lower case, no `ZMQ_`.
pub(crate) fn normalize(name: &str) -> String {
    let n = name.trim().to_ascii_lowercase();
    match n.strip_prefix("zmq_") {
        Some(rest) => rest.to_owned(),
        None => n,
    }
}

/// Every socket option [`SocketOptions::set`] or [`SocketOptions::get`]
/// knows (read-only ones included), by its libzmq name.
pub(crate) const NAMES: &[&str] = &[
    "affinity",
    "backlog",
    "bindtodevice",
    "conflate",
    "connect_routing_id",
    "connect_timeout",
    "curve_publickey",
    "curve_secretkey",
    "curve_server",
    "curve_serverkey",
    "disconnect_msg",
    "handshake_ivl",
    "heartbeat_ivl",
    "heartbeat_timeout",
    "heartbeat_ttl",
    "hello_msg",
    "immediate",
    "invert_matching",
    "ipv4only",
    "ipv6",
    "linger",
    "maxmsgsize",
    "mechanism",
    "metadata",
    "only_first_subscribe",
    "plain_password",
    "plain_server",
    "plain_username",
    "probe_router",
    "rcvbuf",
    "rcvhwm",
    "rcvmore",
    "rcvtimeo",
    "reconnect_ivl",
    "reconnect_ivl_max",
    "reconnect_stop",
    "req_correlate",
    "req_relaxed",
    "router_handover",
    "router_mandatory",
    "router_notify",
    "routing_id",
    "sndbuf",
    "sndhwm",
    "sndtimeo",
    "stream_notify",
    "subscription_budget",
    "tcp_keepalive",
    "tcp_keepalive_cnt",
    "tcp_keepalive_idle",
    "tcp_keepalive_intvl",
    "tcp_maxrt",
    "thread_safe",
    "tos",
    "type",
    "xpub_manual",
    "xpub_manual_last_value",
    "xpub_nodrop",
    "xpub_verbose",
    "xpub_verboser",
    "xpub_welcome_msg",
    "zap_domain",
    "zap_enforce_domain",
];

/// Options only a [`Socket`](crate::Socket) answers: its endpoints and its
/// subscriptions are not options.
pub(crate) const SOCKET_NAMES: &[&str] = &["last_endpoint", "subscribe", "unsubscribe"];

/// libzmq's older names for options that have new ones.
const ALIASES: &[(&str, &str)] = &[
    ("identity", "routing_id"),
    ("delay_attach_on_connect", "immediate"),
    ("fail_unroutable", "router_mandatory"),
    ("router_behavior", "router_mandatory"),
    ("connect_rid", "connect_routing_id"),
];

const MULTICAST: &str = "multicast transports (pgm, epgm, norm) are not implemented";
const NOT_YET: &str = "not yet implemented";

/// libzmq 4.3's socket options this crate does not implement, with why.
pub(crate) const UNSUPPORTED: &[(&str, &str)] = &[
    ("events", "not yet: the poller will answer it"),
    ("fd", "not yet: the poller will answer it"),
    (
        "gssapi_plaintext",
        "the GSSAPI mechanism is not implemented",
    ),
    (
        "gssapi_principal",
        "the GSSAPI mechanism is not implemented",
    ),
    (
        "gssapi_principal_nametype",
        "the GSSAPI mechanism is not implemented",
    ),
    ("gssapi_server", "the GSSAPI mechanism is not implemented"),
    (
        "gssapi_service_principal",
        "the GSSAPI mechanism is not implemented",
    ),
    (
        "gssapi_service_principal_nametype",
        "the GSSAPI mechanism is not implemented",
    ),
    (
        "in_batch_size",
        "batching is automatic (docs/ARCHITECTURE.md)",
    ),
    ("ipc_filter_gid", "deprecated in libzmq: use a ZAP handler"),
    ("ipc_filter_pid", "deprecated in libzmq: use a ZAP handler"),
    ("ipc_filter_uid", "deprecated in libzmq: use a ZAP handler"),
    ("loopback_fastpath", "Windows only"),
    ("multicast_hops", MULTICAST),
    ("multicast_loop", MULTICAST),
    ("multicast_maxtpdu", MULTICAST),
    (
        "out_batch_size",
        "batching is automatic (docs/ARCHITECTURE.md)",
    ),
    ("priority", NOT_YET),
    ("rate", MULTICAST),
    ("recovery_ivl", MULTICAST),
    ("router_raw", "deprecated in libzmq: use a STREAM socket"),
    ("socks_password", "SOCKS proxies are not implemented"),
    ("socks_proxy", "SOCKS proxies are not implemented"),
    ("socks_username", "SOCKS proxies are not implemented"),
    (
        "tcp_accept_filter",
        "deprecated in libzmq: use a ZAP handler",
    ),
    ("use_fd", NOT_YET),
    (
        "vmci_buffer_max_size",
        "the VMCI transport is not implemented",
    ),
    (
        "vmci_buffer_min_size",
        "the VMCI transport is not implemented",
    ),
    ("vmci_buffer_size", "the VMCI transport is not implemented"),
    (
        "vmci_connect_timeout",
        "the VMCI transport is not implemented",
    ),
    (
        "wss_cert_pem",
        "the WebSocket transports are not implemented",
    ),
    (
        "wss_hostname",
        "the WebSocket transports are not implemented",
    ),
    (
        "wss_key_pem",
        "the WebSocket transports are not implemented",
    ),
    (
        "wss_trust_pem",
        "the WebSocket transports are not implemented",
    ),
    (
        "wss_trust_system",
        "the WebSocket transports are not implemented",
    ),
];

/// Options that only some socket types take (libzmq refuses them on the
/// others with `EINVAL`).
fn socket_types(name: &str) -> Option<&'static [SocketType]> {
    match name {
        "router_mandatory" | "router_handover" | "router_notify" => Some(&[SocketType::Router]),
        "probe_router" => Some(&[SocketType::Router, SocketType::Dealer, SocketType::Req]),
        "connect_routing_id" => Some(&[SocketType::Router, SocketType::Stream]),
        "stream_notify" => Some(&[SocketType::Stream]),
        // libzmq's PUB is an XPUB underneath: it takes every XPUB option.
        "xpub_verbose"
        | "xpub_verboser"
        | "xpub_welcome_msg"
        | "xpub_nodrop"
        | "xpub_manual"
        | "xpub_manual_last_value" => Some(&[SocketType::Pub, SocketType::Xpub]),
        "only_first_subscribe" => Some(&[SocketType::Pub, SocketType::Xpub, SocketType::Xsub]),
        "req_relaxed" | "req_correlate" => Some(&[SocketType::Req]),
        // An XPUB subscribes its last subscriber with `xpub_manual`.
        "subscribe" | "unsubscribe" => Some(&[
            SocketType::Sub,
            SocketType::Xsub,
            SocketType::Pub,
            SocketType::Xpub,
        ]),
        _ => None,
    }
}

/// The table's spelling of `name`, after aliases; checked against the
/// socket type. `extra` are further names the caller answers itself.
pub(crate) fn resolve(
    ty: SocketType,
    name: &str,
    extra: &[&'static str],
) -> Result<&'static str, OptionError> {
    let key = normalize(name);
    let key = ALIASES
        .iter()
        .find(|(alias, _)| *alias == key)
        .map_or(key.as_str(), |(_, canonical)| *canonical);
    let found = NAMES.iter().chain(extra).find(|n| **n == key).copied();
    let Some(canonical) = found else {
        return Err(match UNSUPPORTED.iter().find(|(n, _)| *n == key) {
            Some((name, why)) => OptionError::NotSupported { name, why },
            None if SOCKET_NAMES.contains(&key) => OptionError::NotSupported {
                name: SOCKET_NAMES
                    .iter()
                    .find(|n| **n == key)
                    .copied()
                    .unwrap_or(""),
                why: "a socket's, not an option: use Socket::set_option or Socket::option",
            },
            None => OptionError::UnknownName(name.to_owned()),
        });
    };
    if let Some(types) = socket_types(canonical) {
        if !types.contains(&ty) {
            return Err(OptionError::WrongSocketType {
                name: canonical,
                socket_type: ty,
            });
        }
    }
    Ok(canonical)
}

/// One value given as text, for one option.
struct Text<'a> {
    name: &'static str,
    text: &'a str,
}

impl Text<'_> {
    fn bad(&self, why: &'static str) -> OptionError {
        OptionError::InvalidValue {
            name: self.name,
            value: self.text.to_owned(),
            why,
        }
    }

    /// An integer in `min..=max`; `why` says the range.
    fn int(&self, min: i64, max: i64, why: &'static str) -> Result<i64, OptionError> {
        self.text
            .trim()
            .parse::<i64>()
            .ok()
            .filter(|v| (min..=max).contains(v))
            .ok_or_else(|| self.bad(why))
    }

    /// A C `int` of at least `min`.
    fn c_int(&self, min: i64) -> Result<i64, OptionError> {
        let why = match min {
            -1 => "takes -1 to 2147483647",
            0 => "takes 0 to 2147483647",
            _ => "takes 1 to 2147483647",
        };
        self.int(min, i64::from(i32::MAX), why)
    }

    fn bool(&self) -> Result<bool, OptionError> {
        match self.text.trim().to_ascii_lowercase().as_str() {
            "1" | "true" => Ok(true),
            "0" | "false" => Ok(false),
            _ => Err(self.bad("takes 0 or 1")),
        }
    }

    /// Milliseconds, 0 or more.
    fn ms(&self) -> Result<Duration, OptionError> {
        Ok(millis(self.c_int(0)?))
    }

    /// Milliseconds, where `none` (libzmq's -1 or 0) means `None`.
    fn ms_or_none(&self, none: i64) -> Result<Option<Duration>, OptionError> {
        let v = self.c_int(none.min(0))?;
        Ok((v != none).then(|| millis(v)))
    }

    /// A count or size where -1 means `None`.
    fn count_or_none(&self) -> Result<Option<usize>, OptionError> {
        let v = self.c_int(-1)?;
        Ok(usize::try_from(v).ok())
    }

    /// Binary data: the text's bytes.
    fn bytes(&self) -> Bytes {
        Bytes::copy_from_slice(self.text.as_bytes())
    }

    fn public_key(&self) -> Result<CurvePublicKey, OptionError> {
        CurvePublicKey::from_z85(self.text.trim())
            .map_err(|_| self.bad("takes a Z85 key (40 characters)"))
    }

    fn secret_key(&self) -> Result<CurveSecretKey, OptionError> {
        CurveSecretKey::from_z85(self.text.trim())
            .map_err(|_| self.bad("takes a Z85 key (40 characters)"))
    }
}

fn millis(v: i64) -> Duration {
    Duration::from_millis(u64::try_from(v).unwrap_or(0))
}

/// A CURVE configuration being assembled from several options (libzmq
/// takes the keys and the role one call at a time; [`Security`] holds them
/// only whole).
#[derive(Default)]
struct CurveDraft {
    server: bool,
    null: bool,
    public: Option<CurvePublicKey>,
    secret: Option<CurveSecretKey>,
    server_key: Option<CurvePublicKey>,
}

impl CurveDraft {
    fn from_security(s: &Security) -> CurveDraft {
        match s {
            Security::CurveServer { secret } => CurveDraft {
                server: true,
                secret: Some(secret.clone()),
                ..CurveDraft::default()
            },
            Security::CurveClient {
                server,
                public,
                secret,
            } => CurveDraft {
                public: Some(*public),
                secret: Some(secret.clone()),
                server_key: Some(*server),
                ..CurveDraft::default()
            },
            _ => CurveDraft::default(),
        }
    }

    fn resolve(self) -> Result<Security, OptionError> {
        let incomplete = |name, why| OptionError::InvalidValue {
            name,
            value: String::new(),
            why,
        };
        if self.null {
            return Ok(Security::Null);
        }
        let Some(secret) = self.secret else {
            return Err(incomplete(
                "curve_secretkey",
                "CURVE needs curve_secretkey: set it in the same set_all call",
            ));
        };
        if let Some(public) = self.public {
            if public != secret.public_key() {
                return Err(OptionError::InvalidValue {
                    name: "curve_publickey",
                    value: public.to_z85(),
                    why: "is not curve_secretkey's public key",
                });
            }
        }
        if self.server {
            return Ok(Security::CurveServer { secret });
        }
        let Some(server) = self.server_key else {
            return Err(incomplete(
                "curve_serverkey",
                "a CURVE client needs curve_serverkey: set it in the same set_all call",
            ));
        };
        Ok(Security::CurveClient {
            server,
            public: secret.public_key(),
            secret,
        })
    }
}

/// libzmq's `ZMQ_TYPE` numbers.
fn type_number(ty: SocketType) -> u8 {
    match ty {
        SocketType::Pair => 0,
        SocketType::Pub => 1,
        SocketType::Sub => 2,
        SocketType::Req => 3,
        SocketType::Rep => 4,
        SocketType::Dealer => 5,
        SocketType::Router => 6,
        SocketType::Pull => 7,
        SocketType::Push => 8,
        SocketType::Xpub => 9,
        SocketType::Xsub => 10,
        SocketType::Stream => 11,
        // A type this crate has no pattern for cannot make a socket.
        _ => u8::MAX,
    }
}

fn flag(b: bool) -> String {
    u8::from(b).to_string()
}

fn ms_text(d: Duration) -> String {
    d.as_millis().to_string()
}

/// `d` in milliseconds, or `none` (libzmq's -1 or 0) when unset.
fn opt_ms(d: Option<Duration>, none: i64) -> String {
    d.map_or(none.to_string(), ms_text)
}

fn text(b: &Bytes) -> String {
    String::from_utf8_lossy(b).into_owned()
}

impl SocketOptions {
    /// Sets one option by its libzmq name, for a socket of type `ty`. A
    /// bad name, a value libzmq would refuse, or an option of another
    /// socket type is an error, and nothing changes.
    ///
    /// A name is libzmq's, in any case, with or without `ZMQ_` (`"sndhwm"`,
    /// `"ZMQ_LINGER"`; libzmq's deprecated aliases such as `identity` too).
    /// A value is what `zmq_setsockopt` takes, as text: integers in
    /// libzmq's units with its sentinels (milliseconds; `-1` or `0` for
    /// "none" where libzmq has them), booleans as `0`/`1` (or
    /// `true`/`false`), binary options as the text's bytes, CURVE keys in
    /// Z85 (40 characters).
    ///
    /// ```
    /// use monocoque::{SocketOptions, SocketType};
    /// let mut o = SocketOptions::default();
    /// o.set(SocketType::Dealer, "ZMQ_SNDHWM", "10").unwrap();
    /// o.set(SocketType::Dealer, "linger", "0").unwrap();
    /// o.set(SocketType::Dealer, "tcp_keepalive", "1").unwrap();
    /// assert_eq!(o.sndhwm, 10);
    /// assert_eq!(o.get(SocketType::Dealer, "LINGER").unwrap(), "0");
    /// assert!(o.set(SocketType::Dealer, "router_mandatory", "1").is_err());
    /// ```
    pub fn set(&mut self, ty: SocketType, name: &str, value: &str) -> Result<(), OptionError> {
        self.set_all(ty, [(name, value)])
    }

    /// Sets several options at once, in order, all or nothing: one bad
    /// entry and nothing changes. CURVE's role and keys, which libzmq takes
    /// one call at a time, must come together here (`curve_server` with
    /// `curve_secretkey`; `curve_serverkey` with `curve_secretkey`), since
    /// a socket's [`Security`] is either whole or unset.
    ///
    /// ```
    /// use monocoque::{curve_keypair, Security, SocketOptions, SocketType};
    /// let (server_public, _) = curve_keypair();
    /// let (_, secret) = curve_keypair();
    /// let mut o = SocketOptions::default();
    /// o.set_all(SocketType::Req, [
    ///     ("curve_serverkey", server_public.to_z85().as_str()),
    ///     ("curve_secretkey", secret.to_z85().as_str()),
    ///     ("rcvtimeo", "500"),
    /// ]).unwrap();
    /// assert!(matches!(o.security, Security::CurveClient { .. }));
    /// ```
    pub fn set_all<'a>(
        &mut self,
        ty: SocketType,
        entries: impl IntoIterator<Item = (&'a str, &'a str)>,
    ) -> Result<(), OptionError> {
        let mut next = self.clone();
        let mut curve: Option<CurveDraft> = None;
        for (name, value) in entries {
            let name = resolve(ty, name, &[])?;
            let v = Text { name, text: value };
            if name.starts_with("curve_") {
                let draft = curve.get_or_insert_with(|| CurveDraft::from_security(&next.security));
                match name {
                    "curve_server" => {
                        draft.server = v.bool()?;
                        draft.null = !draft.server;
                    }
                    "curve_publickey" => {
                        draft.public = Some(v.public_key()?);
                        draft.null = false;
                    }
                    "curve_secretkey" => {
                        draft.secret = Some(v.secret_key()?);
                        draft.null = false;
                    }
                    _ => {
                        draft.server_key = Some(v.public_key()?);
                        draft.server = false;
                        draft.null = false;
                    }
                }
                continue;
            }
            if name.starts_with("plain_") {
                // The last mechanism set wins, as in libzmq.
                curve = None;
            }
            next.set_one(name, &v)?;
        }
        if let Some(draft) = curve {
            next.security = draft.resolve()?;
        }
        next.validate()?;
        *self = next;
        Ok(())
    }

    fn set_one(&mut self, name: &'static str, v: &Text<'_>) -> Result<(), OptionError> {
        match name {
            "affinity" => {
                self.affinity = v
                    .text
                    .trim()
                    .parse()
                    .map_err(|_| v.bad("takes a 64-bit mask"))?;
            }
            "backlog" => self.backlog = u32::try_from(v.c_int(0)?).unwrap_or(0),
            "bindtodevice" => {
                self.bindtodevice = Some(v.text.to_owned()).filter(|d| !d.is_empty());
            }
            "conflate" => self.conflate = v.bool()?,
            // Its length (1 to 255 bytes) is checked by `validate`.
            "connect_routing_id" => self.connect_routing_id = Some(v.bytes()),
            "connect_timeout" => self.connect_timeout = v.ms_or_none(0)?,
            "disconnect_msg" => self.disconnect_msg = Some(v.bytes()).filter(|m| !m.is_empty()),
            "handshake_ivl" => self.handshake_ivl = v.ms_or_none(0)?,
            "heartbeat_ivl" => self.heartbeat_ivl = v.ms_or_none(0)?,
            "heartbeat_timeout" => self.heartbeat_timeout = v.ms_or_none(-1)?,
            "heartbeat_ttl" => {
                let ttl = v.int(0, 6_553_599, "takes 0 to 6553599 ms")?;
                self.heartbeat_ttl = (ttl != 0).then(|| millis(ttl));
            }
            "hello_msg" => self.hello_msg = Some(v.bytes()).filter(|m| !m.is_empty()),
            "immediate" => self.immediate = v.bool()?,
            "invert_matching" => self.invert_matching = v.bool()?,
            "ipv4only" => self.ipv6 = !v.bool()?,
            "ipv6" => self.ipv6 = v.bool()?,
            "linger" => self.linger = v.ms_or_none(-1)?,
            "maxmsgsize" => {
                let max = v.int(-1, i64::MAX, "takes -1 or a size in bytes")?;
                self.maxmsgsize = u64::try_from(max).ok();
            }
            "subscription_budget" => {
                let max = v.int(-1, i64::MAX, "takes -1 or a size in bytes")?;
                self.subscription_budget = u64::try_from(max).ok();
            }
            "metadata" => {
                let (key, value) = v
                    .text
                    .split_once(':')
                    .filter(|(k, val)| k.starts_with("X-") && k.len() > 2 && !val.is_empty())
                    .ok_or_else(|| v.bad("takes X-name:value"))?;
                let value = Bytes::copy_from_slice(value.as_bytes());
                match self
                    .metadata
                    .iter_mut()
                    .find(|(k, _)| k.eq_ignore_ascii_case(key))
                {
                    Some(entry) => entry.1 = value,
                    None => self.metadata.push((key.to_owned(), value)),
                }
            }
            "only_first_subscribe" => self.only_first_subscribe = v.bool()?,
            "plain_server" => {
                let on = v.bool()?;
                match (&self.security, on) {
                    (Security::PlainServer { .. }, true) => {}
                    (_, true) => self.security = Security::PlainServer { credentials: None },
                    (Security::PlainServer { .. }, false) => self.security = Security::Null,
                    (_, false) => {}
                }
            }
            "plain_username" | "plain_password" => {
                if v.text.is_empty() {
                    self.security = Security::Null;
                } else {
                    let (mut username, mut password) = match &self.security {
                        Security::PlainClient { username, password } => {
                            (username.clone(), password.clone())
                        }
                        _ => (Bytes::new(), Bytes::new()),
                    };
                    if name == "plain_username" {
                        username = v.bytes();
                    } else {
                        password = v.bytes();
                    }
                    self.security = Security::PlainClient { username, password };
                }
            }
            "probe_router" => self.probe_router = v.bool()?,
            "rcvbuf" => self.rcvbuf = v.count_or_none()?,
            "rcvhwm" => self.rcvhwm = usize::try_from(v.c_int(0)?).unwrap_or(0),
            "rcvtimeo" => self.rcvtimeo = v.ms_or_none(-1)?,
            "reconnect_ivl" => {
                if v.text.trim() == "-1" {
                    return Err(v.bad("-1 (never reconnect) is not supported: use reconnect_stop"));
                }
                self.reconnect_ivl = v.ms()?;
            }
            "reconnect_ivl_max" => self.reconnect_ivl_max = v.ms()?,
            "reconnect_stop" => {
                let bits = v.int(0, 7, "takes a sum of 1 (conn refused), 2 (handshake failed) and 4 (after disconnect)")?;
                self.reconnect_stop = u32::try_from(bits)
                    .ok()
                    .and_then(ReconnectStop::from_bits)
                    .unwrap_or_default();
            }
            "req_correlate" => self.req_correlate = v.bool()?,
            "req_relaxed" => self.req_relaxed = v.bool()?,
            "router_handover" => self.router_handover = v.bool()?,
            "router_mandatory" => self.router_mandatory = v.bool()?,
            "router_notify" => {
                let bits = v.int(0, 3, "takes 0, 1 (connect), 2 (disconnect) or 3 (both)")?;
                self.router_notify = u8::try_from(bits)
                    .ok()
                    .and_then(RouterNotify::from_bits)
                    .unwrap_or_default();
            }
            // Its length (1 to 255 bytes) is checked by `validate`.
            "routing_id" => self.routing_id = Some(v.bytes()),
            "sndbuf" => self.sndbuf = v.count_or_none()?,
            "sndhwm" => self.sndhwm = usize::try_from(v.c_int(0)?).unwrap_or(0),
            "sndtimeo" => self.sndtimeo = v.ms_or_none(-1)?,
            "stream_notify" => self.stream_notify = v.bool()?,
            "tcp_keepalive" => {
                self.tcp_keepalive = match v.int(-1, 1, "takes -1, 0 or 1")? {
                    -1 => None,
                    on => Some(on == 1),
                };
            }
            "tcp_keepalive_cnt" => {
                // 0, which the kernel refuses, is refused by `validate`.
                let cnt = v.int(-1, 127, "takes -1 or 1 to 127")?;
                self.tcp_keepalive_cnt = u32::try_from(cnt).ok();
            }
            "tcp_keepalive_idle" | "tcp_keepalive_intvl" => {
                // 0 is refused by `validate`, as above.
                let secs = v.int(-1, 32767, "takes -1 or 1 to 32767 seconds")?;
                let d = u64::try_from(secs).ok().map(Duration::from_secs);
                if name == "tcp_keepalive_idle" {
                    self.tcp_keepalive_idle = d;
                } else {
                    self.tcp_keepalive_intvl = d;
                }
            }
            "tcp_maxrt" => self.tcp_maxrt = v.ms_or_none(0)?,
            "tos" => self.tos = u8::try_from(v.int(0, 255, "takes 0 to 255")?).unwrap_or(0),
            // As libzmq: XPUB_MANUAL_LAST_VALUE sets manual mode too, and
            // turning manual mode off ends both.
            "xpub_manual" => {
                self.xpub_manual = v.bool()?;
                if !self.xpub_manual {
                    self.xpub_manual_last_value = false;
                }
            }
            "xpub_manual_last_value" => {
                self.xpub_manual_last_value = v.bool()?;
                self.xpub_manual = self.xpub_manual_last_value;
            }
            "xpub_nodrop" => self.xpub_nodrop = v.bool()?,
            // As libzmq: XPUB_VERBOSE passes duplicate subscriptions only,
            // XPUB_VERBOSER duplicate cancels too; setting either decides both.
            "xpub_verbose" => {
                self.xpub_verbose = v.bool()?;
                self.xpub_verboser = false;
            }
            "xpub_verboser" => {
                self.xpub_verboser = v.bool()?;
                self.xpub_verbose = self.xpub_verboser;
            }
            "xpub_welcome_msg" => {
                self.xpub_welcome_msg = Some(v.bytes()).filter(|m| !m.is_empty());
            }
            "zap_domain" => self.zap_domain = Some(v.bytes()).filter(|d| !d.is_empty()),
            "zap_enforce_domain" => self.zap_enforce_domain = v.bool()?,
            other => return Err(OptionError::ReadOnly(other)),
        }
        Ok(())
    }

    /// Reads one option by its libzmq name, as text in the form `set`
    /// takes (durations in milliseconds, -1 or 0 for unset as libzmq has
    /// it, binary values as text, CURVE keys in Z85, `metadata` one
    /// `X-name:value` a line). Bytes that are not UTF-8 read as U+FFFD:
    /// read the field for binary values.
    ///
    /// ```
    /// use monocoque::{SocketOptions, SocketType};
    /// let o = SocketOptions::default();
    /// assert_eq!(o.get(SocketType::Pull, "rcvhwm").unwrap(), "1000");
    /// assert_eq!(o.get(SocketType::Pull, "ZMQ_TCP_KEEPALIVE").unwrap(), "-1");
    /// assert_eq!(o.get(SocketType::Pull, "backlog").unwrap(), "100");
    /// assert_eq!(o.get(SocketType::Pull, "type").unwrap(), "7");
    /// ```
    pub fn get(&self, ty: SocketType, name: &str) -> Result<String, OptionError> {
        let name = resolve(ty, name, &[])?;
        let curve =
            |pick: fn(&Security) -> Option<String>| pick(&self.security).unwrap_or_default();
        Ok(match name {
            "affinity" => self.affinity.to_string(),
            "backlog" => self.backlog.to_string(),
            "bindtodevice" => self.bindtodevice.clone().unwrap_or_default(),
            "conflate" => flag(self.conflate),
            "connect_routing_id" => self
                .connect_routing_id
                .as_ref()
                .map(text)
                .unwrap_or_default(),
            "connect_timeout" => opt_ms(self.connect_timeout, 0),
            "curve_publickey" => curve(|s| match s {
                Security::CurveClient { public, .. } => Some(public.to_z85()),
                Security::CurveServer { secret } => Some(secret.public_key().to_z85()),
                _ => None,
            }),
            "curve_secretkey" => curve(|s| match s {
                Security::CurveClient { secret, .. } | Security::CurveServer { secret } => {
                    Some(secret.to_z85().as_str().to_owned())
                }
                _ => None,
            }),
            "curve_server" => flag(matches!(self.security, Security::CurveServer { .. })),
            "curve_serverkey" => curve(|s| match s {
                Security::CurveClient { server, .. } => Some(server.to_z85()),
                _ => None,
            }),
            "disconnect_msg" => self.disconnect_msg.as_ref().map(text).unwrap_or_default(),
            "handshake_ivl" => opt_ms(self.handshake_ivl, 0),
            "heartbeat_ivl" => opt_ms(self.heartbeat_ivl, 0),
            "heartbeat_timeout" => opt_ms(self.heartbeat_timeout, -1),
            "heartbeat_ttl" => opt_ms(self.heartbeat_ttl, 0),
            "hello_msg" => self.hello_msg.as_ref().map(text).unwrap_or_default(),
            "immediate" => flag(self.immediate),
            "invert_matching" => flag(self.invert_matching),
            "ipv4only" => flag(!self.ipv6),
            "ipv6" => flag(self.ipv6),
            "linger" => opt_ms(self.linger, -1),
            "maxmsgsize" => self.maxmsgsize.map_or("-1".to_owned(), |m| m.to_string()),
            "subscription_budget" => self
                .subscription_budget
                .map_or("-1".to_owned(), |m| m.to_string()),
            "mechanism" => match self.security {
                Security::Null => "0",
                Security::PlainClient { .. } | Security::PlainServer { .. } => "1",
                Security::CurveClient { .. } | Security::CurveServer { .. } => "2",
            }
            .to_owned(),
            "metadata" => self
                .metadata
                .iter()
                .map(|(k, v)| format!("{k}:{}", text(v)))
                .collect::<Vec<_>>()
                .join("\n"),
            "only_first_subscribe" => flag(self.only_first_subscribe),
            "plain_password" => match &self.security {
                Security::PlainClient { password, .. } => text(password),
                _ => String::new(),
            },
            "plain_server" => flag(matches!(self.security, Security::PlainServer { .. })),
            "plain_username" => match &self.security {
                Security::PlainClient { username, .. } => text(username),
                _ => String::new(),
            },
            "probe_router" => flag(self.probe_router),
            "rcvbuf" => self.rcvbuf.map_or("-1".to_owned(), |s| s.to_string()),
            "rcvhwm" => self.rcvhwm.to_string(),
            "rcvmore" => "0".to_owned(),
            "rcvtimeo" => opt_ms(self.rcvtimeo, -1),
            "reconnect_ivl" => ms_text(self.reconnect_ivl),
            "reconnect_ivl_max" => ms_text(self.reconnect_ivl_max),
            "reconnect_stop" => self.reconnect_stop.bits().to_string(),
            "req_correlate" => flag(self.req_correlate),
            "req_relaxed" => flag(self.req_relaxed),
            "router_handover" => flag(self.router_handover),
            "router_mandatory" => flag(self.router_mandatory),
            "router_notify" => self.router_notify.bits().to_string(),
            "routing_id" => self.routing_id.as_ref().map(text).unwrap_or_default(),
            "sndbuf" => self.sndbuf.map_or("-1".to_owned(), |s| s.to_string()),
            "sndhwm" => self.sndhwm.to_string(),
            "sndtimeo" => opt_ms(self.sndtimeo, -1),
            "stream_notify" => flag(self.stream_notify),
            "tcp_keepalive" => self.tcp_keepalive.map_or("-1".to_owned(), flag),
            "tcp_keepalive_cnt" => self
                .tcp_keepalive_cnt
                .map_or("-1".to_owned(), |c| c.to_string()),
            "tcp_keepalive_idle" => self
                .tcp_keepalive_idle
                .map_or("-1".to_owned(), |d| d.as_secs().to_string()),
            "tcp_keepalive_intvl" => self
                .tcp_keepalive_intvl
                .map_or("-1".to_owned(), |d| d.as_secs().to_string()),
            "tcp_maxrt" => opt_ms(self.tcp_maxrt, 0),
            "thread_safe" => "1".to_owned(),
            "tos" => self.tos.to_string(),
            "type" => type_number(ty).to_string(),
            "xpub_manual" => flag(self.manual()),
            "xpub_manual_last_value" => flag(self.xpub_manual_last_value),
            "xpub_nodrop" => flag(self.xpub_nodrop),
            "xpub_verbose" => flag(self.xpub_verbose || self.xpub_verboser),
            "xpub_verboser" => flag(self.xpub_verboser),
            "xpub_welcome_msg" => self.xpub_welcome_msg.as_ref().map(text).unwrap_or_default(),
            "zap_domain" => self.zap_domain.as_ref().map(text).unwrap_or_default(),
            "zap_enforce_domain" => flag(self.zap_enforce_domain),
            other => return Err(OptionError::UnknownName(other.to_owned())),
        })
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use monocoque_zmtp::curve_keypair;

    const PUSH: SocketType = SocketType::Push;

    /// Every field of `SocketOptions` has a name here: a new field fails
    /// to compile until it is added to this list (and to the tables).
    #[test]
    fn every_field_has_a_name() {
        let SocketOptions {
            sndhwm: _,
            rcvhwm: _,
            linger: _,
            rcvtimeo: _,
            sndtimeo: _,
            reconnect_ivl: _,
            reconnect_ivl_max: _,
            immediate: _,
            maxmsgsize: _,
            routing_id: _,
            router_mandatory: _,
            router_handover: _,
            xpub_verbose: _,
            xpub_welcome_msg: _,
            req_relaxed: _,
            req_correlate: _,
            handshake_ivl: _,
            heartbeat_ivl: _,
            heartbeat_ttl: _,
            heartbeat_timeout: _,
            security: _,
            zap_domain: _,
            zap_enforce_domain: _,
            metadata: _,
            tcp_keepalive: _,
            tcp_keepalive_cnt: _,
            tcp_keepalive_idle: _,
            tcp_keepalive_intvl: _,
            sndbuf: _,
            rcvbuf: _,
            backlog: _,
            connect_timeout: _,
            tcp_maxrt: _,
            tos: _,
            bindtodevice: _,
            ipv6: _,
            reconnect_stop: _,
            affinity: _,
            conflate: _,
            probe_router: _,
            router_notify: _,
            connect_routing_id: _,
            xpub_nodrop: _,
            xpub_manual: _,
            xpub_manual_last_value: _,
            xpub_verboser: _,
            invert_matching: _,
            only_first_subscribe: _,
            stream_notify: _,
            hello_msg: _,
            disconnect_msg: _,
            subscription_budget: _,
            test_sealed: _,
        } = SocketOptions::default();
        for name in [
            "sndhwm",
            "rcvhwm",
            "linger",
            "rcvtimeo",
            "sndtimeo",
            "reconnect_ivl",
            "reconnect_ivl_max",
            "immediate",
            "maxmsgsize",
            "routing_id",
            "router_mandatory",
            "router_handover",
            "xpub_verbose",
            "xpub_welcome_msg",
            "req_relaxed",
            "req_correlate",
            "handshake_ivl",
            "heartbeat_ivl",
            "heartbeat_ttl",
            "heartbeat_timeout",
            "plain_server",
            "curve_server",
            "zap_domain",
            "zap_enforce_domain",
            "metadata",
            "tcp_keepalive",
            "tcp_keepalive_cnt",
            "tcp_keepalive_idle",
            "tcp_keepalive_intvl",
            "sndbuf",
            "rcvbuf",
            "backlog",
            "connect_timeout",
            "tcp_maxrt",
            "tos",
            "bindtodevice",
            "ipv6",
            "reconnect_stop",
            "affinity",
            "conflate",
            "probe_router",
            "router_notify",
            "connect_routing_id",
            "xpub_nodrop",
            "xpub_manual",
            "xpub_manual_last_value",
            "xpub_verboser",
            "invert_matching",
            "only_first_subscribe",
            "stream_notify",
            "hello_msg",
            "disconnect_msg",
            "subscription_budget",
        ] {
            assert!(NAMES.contains(&name), "{name} is not in NAMES");
        }
    }

    /// Whatever `get` says, `set` takes back, and nothing changes.
    #[test]
    fn defaults_round_trip_by_name() {
        let read_only = ["mechanism", "rcvmore", "thread_safe", "type"];
        for ty in SocketType::ALL {
            let o = SocketOptions::default();
            for name in NAMES {
                let got = match o.get(ty, name) {
                    Ok(v) => v,
                    Err(OptionError::WrongSocketType { .. }) => continue,
                    Err(e) => panic!("{name}: {e}"),
                };
                let mut again = o.clone();
                match again.set(ty, name, &got) {
                    Ok(()) => assert_eq!(again, o, "{name} = {got:?} changed something"),
                    Err(OptionError::ReadOnly(_)) => assert!(read_only.contains(name), "{name}"),
                    // An unset binary option reads as empty, which libzmq
                    // does not take back (routing_id, CURVE keys, metadata).
                    Err(e) if got.is_empty() => {
                        assert!(matches!(e, OptionError::InvalidValue { .. }), "{name}: {e}");
                    }
                    Err(e) => panic!("{name} = {got:?}: {e}"),
                }
            }
        }
    }

    #[test]
    fn names_are_case_insensitive_with_or_without_the_prefix() {
        let mut o = SocketOptions::default();
        for (i, name) in ["sndhwm", "SNDHWM", "ZMQ_SNDHWM", "zmq_SndHwm", " sndhwm "]
            .iter()
            .enumerate()
        {
            o.set(PUSH, name, &i.to_string()).expect(name);
            assert_eq!(o.sndhwm, i);
            assert_eq!(o.get(PUSH, name).expect(name), i.to_string());
        }
        o.set(PUSH, "identity", "me")
            .expect("the old name of routing_id");
        assert_eq!(o.routing_id.as_deref(), Some(&b"me"[..]));
        o.set(PUSH, "ipv4only", "0")
            .expect("the old inverse of ipv6");
        assert!(o.ipv6);
    }

    #[test]
    fn values_libzmq_refuses_are_refused_and_change_nothing() {
        let long_id = "x".repeat(256);
        let cases: &[(&str, &str)] = &[
            ("sndhwm", "-1"),
            ("rcvhwm", "x"),
            ("sndhwm", "2147483648"),
            ("linger", "-2"),
            ("routing_id", ""),
            ("routing_id", &long_id),
            ("tcp_keepalive", "2"),
            ("tcp_keepalive_cnt", "0"),
            ("tcp_keepalive_cnt", "128"),
            ("tcp_keepalive_idle", "0"),
            ("tcp_keepalive_intvl", "-2"),
            ("sndbuf", "-2"),
            ("backlog", "-1"),
            ("connect_timeout", "-1"),
            ("tcp_maxrt", "-1"),
            ("tos", "256"),
            ("bindtodevice", "a-name-longer-than-15"),
            ("ipv6", "2"),
            ("reconnect_stop", "8"),
            ("reconnect_ivl", "-1"),
            ("heartbeat_ttl", "6553600"),
            ("metadata", "Y-no:prefix"),
            ("metadata", "X-empty:"),
            ("affinity", "-1"),
            ("curve_secretkey", "not z85"),
            ("curve_server", "1"),
        ];
        for (name, value) in cases {
            let mut o = SocketOptions::default();
            let err = o.set(PUSH, name, value).expect_err(name);
            assert!(
                matches!(err, OptionError::InvalidValue { .. }),
                "{name} = {value:?}: {err:?}"
            );
            assert_eq!(
                o,
                SocketOptions::default(),
                "{name} = {value:?} changed something"
            );
        }
    }

    #[test]
    fn bad_names_and_wrong_socket_types_are_typed_errors() {
        let mut o = SocketOptions::default();
        assert!(
            matches!(o.set(PUSH, "sndhwn", "1"), Err(OptionError::UnknownName(n)) if n == "sndhwn")
        );
        assert!(matches!(
            o.set(PUSH, "rate", "1"),
            Err(OptionError::NotSupported { name: "rate", .. })
        ));
        assert!(matches!(
            o.set(PUSH, "router_mandatory", "1"),
            Err(OptionError::WrongSocketType {
                name: "router_mandatory",
                socket_type: SocketType::Push
            })
        ));
        assert!(matches!(
            o.get(PUSH, "req_relaxed"),
            Err(OptionError::WrongSocketType { .. })
        ));
        assert!(matches!(
            o.set(PUSH, "type", "1"),
            Err(OptionError::ReadOnly("type"))
        ));
        assert!(matches!(
            o.set(PUSH, "subscribe", "x"),
            Err(OptionError::NotSupported {
                name: "subscribe",
                ..
            })
        ));
        o.set(SocketType::Router, "router_mandatory", "1")
            .expect("on a ROUTER");
        assert!(o.router_mandatory);
    }

    #[test]
    fn a_batch_is_all_or_nothing() {
        let mut o = SocketOptions::default();
        let err = o.set_all(PUSH, [("sndhwm", "5"), ("linger", "nope")]);
        assert!(err.is_err());
        assert_eq!(
            o.sndhwm, 1000,
            "the good entry before the bad one was not kept"
        );
        o.set_all(PUSH, [("sndhwm", "5"), ("linger", "250")])
            .expect("both good");
        assert_eq!((o.sndhwm, o.linger), (5, Some(Duration::from_millis(250))));
    }

    #[test]
    fn transport_options_by_name() {
        let mut o = SocketOptions::default();
        o.set_all(
            PUSH,
            [
                ("tcp_keepalive", "1"),
                ("tcp_keepalive_cnt", "3"),
                ("tcp_keepalive_idle", "60"),
                ("tcp_keepalive_intvl", "5"),
                ("sndbuf", "65536"),
                ("rcvbuf", "0"),
                ("backlog", "7"),
                ("connect_timeout", "250"),
                ("tcp_maxrt", "1500"),
                ("tos", "40"),
                ("bindtodevice", "lo"),
                ("ipv6", "true"),
                ("reconnect_stop", "3"),
                ("affinity", "18446744073709551615"),
            ],
        )
        .expect("all valid");
        assert_eq!(o.tcp_keepalive, Some(true));
        assert_eq!(o.tcp_keepalive_cnt, Some(3));
        assert_eq!(o.tcp_keepalive_idle, Some(Duration::from_secs(60)));
        assert_eq!(o.tcp_keepalive_intvl, Some(Duration::from_secs(5)));
        assert_eq!((o.sndbuf, o.rcvbuf, o.backlog), (Some(65536), Some(0), 7));
        assert_eq!(o.connect_timeout, Some(Duration::from_millis(250)));
        assert_eq!(o.tcp_maxrt, Some(Duration::from_millis(1500)));
        assert_eq!(
            (o.tos, o.bindtodevice.as_deref(), o.ipv6),
            (40, Some("lo"), true)
        );
        assert_eq!(
            o.reconnect_stop,
            ReconnectStop::CONN_REFUSED | ReconnectStop::HANDSHAKE_FAILED
        );
        assert_eq!(o.affinity, u64::MAX);
        assert_eq!(o.get(PUSH, "reconnect_stop").expect("get"), "3");
        assert_eq!(o.get(PUSH, "tcp_keepalive_idle").expect("get"), "60");
        o.set_all(
            PUSH,
            [
                ("sndbuf", "-1"),
                ("tcp_keepalive", "-1"),
                ("connect_timeout", "0"),
            ],
        )
        .expect("back to the defaults");
        assert_eq!(
            (o.sndbuf, o.tcp_keepalive, o.connect_timeout),
            (None, None, None)
        );
    }

    #[test]
    fn security_by_name() {
        let mut o = SocketOptions::default();
        o.set(PUSH, "plain_username", "admin").expect("user");
        o.set(PUSH, "plain_password", "secret").expect("password");
        assert_eq!(
            o.security,
            Security::PlainClient {
                username: Bytes::from("admin"),
                password: Bytes::from("secret")
            }
        );
        assert_eq!(o.get(PUSH, "mechanism").expect("mechanism"), "1");
        o.set(PUSH, "plain_server", "1").expect("server");
        assert_eq!(o.security, Security::PlainServer { credentials: None });
        o.set(PUSH, "plain_server", "0").expect("off");
        assert_eq!(o.security, Security::Null);

        let (server_public, server_secret) = curve_keypair();
        let (public, secret) = curve_keypair();
        let server_z85 = server_secret.to_z85();
        // In either order, within one call.
        o.set_all(
            PUSH,
            [
                ("curve_secretkey", server_z85.as_str()),
                ("curve_server", "1"),
            ],
        )
        .expect("a CURVE server");
        assert_eq!(
            o.security,
            Security::CurveServer {
                secret: server_secret.clone()
            }
        );
        assert_eq!(
            o.get(PUSH, "curve_publickey").expect("get"),
            server_public.to_z85()
        );
        assert_eq!(
            o.get(PUSH, "curve_secretkey").expect("get"),
            server_z85.as_str()
        );
        // A server's key may be replaced alone.
        let (_, other) = curve_keypair();
        o.set(PUSH, "curve_secretkey", other.to_z85().as_str())
            .expect("new key");
        assert_eq!(o.security, Security::CurveServer { secret: other });

        let mut c = SocketOptions::default();
        let wrong = server_public.to_z85();
        let err = c.set_all(
            PUSH,
            [
                ("curve_serverkey", server_public.to_z85().as_str()),
                ("curve_publickey", wrong.as_str()),
                ("curve_secretkey", secret.to_z85().as_str()),
            ],
        );
        assert!(
            matches!(
                err,
                Err(OptionError::InvalidValue {
                    name: "curve_publickey",
                    ..
                })
            ),
            "{err:?}"
        );
        assert_eq!(c.security, Security::Null);
        c.set_all(
            PUSH,
            [
                ("curve_serverkey", server_public.to_z85().as_str()),
                ("curve_publickey", public.to_z85().as_str()),
                ("curve_secretkey", secret.to_z85().as_str()),
            ],
        )
        .expect("a CURVE client");
        assert_eq!(
            c.security,
            Security::CurveClient {
                server: server_public,
                public,
                secret
            }
        );
        assert_eq!(c.get(PUSH, "curve_server").expect("get"), "0");
        assert!(
            matches!(
                c.set(PUSH, "curve_serverkey", "short"),
                Err(OptionError::InvalidValue { .. })
            ),
            "a bad key is refused"
        );
        c.set(PUSH, "curve_server", "0").expect("off");
        assert_eq!(c.security, Security::Null);
    }

    #[test]
    fn pattern_options_by_name_as_libzmq_sets_them() {
        let (router, xpub) = (SocketType::Router, SocketType::Xpub);
        let mut o = SocketOptions::default();
        o.set_all(
            router,
            [
                ("probe_router", "1"),
                ("router_notify", "2"),
                ("connect_rid", "peer"),
                ("hello_msg", "hi"),
                ("disconnect_msg", "bye"),
                ("conflate", "1"),
                ("invert_matching", "1"),
            ],
        )
        .expect("all valid on a ROUTER");
        assert!(o.probe_router && o.conflate && o.invert_matching);
        assert_eq!(o.router_notify, RouterNotify::DISCONNECT);
        assert_eq!(o.connect_routing_id.as_deref(), Some(&b"peer"[..]));
        assert_eq!(o.get(router, "connect_routing_id").expect("get"), "peer");
        assert_eq!(
            (o.hello_msg.as_deref(), o.disconnect_msg.as_deref()),
            (Some(&b"hi"[..]), Some(&b"bye"[..]))
        );
        o.set(router, "hello_msg", "").expect("empty: none");
        assert_eq!(o.hello_msg, None);

        // XPUB_VERBOSE and XPUB_VERBOSER each decide both; VERBOSER reads
        // as VERBOSE too.
        let mut x = SocketOptions::default();
        x.set(xpub, "xpub_verboser", "1").expect("verboser");
        assert!(x.xpub_verbose && x.xpub_verboser);
        x.set(xpub, "xpub_verbose", "1").expect("verbose");
        assert!(x.xpub_verbose && !x.xpub_verboser);
        x.set(xpub, "xpub_verboser", "0").expect("off");
        assert!(!x.xpub_verbose && !x.xpub_verboser);
        // XPUB_MANUAL_LAST_VALUE is a manual mode; MANUAL 0 ends both.
        x.set(xpub, "xpub_manual_last_value", "1")
            .expect("last value");
        assert_eq!(x.get(xpub, "xpub_manual").expect("get"), "1");
        x.set(xpub, "xpub_manual", "0").expect("off");
        assert!(!x.xpub_manual && !x.xpub_manual_last_value);
        let typed = SocketOptions {
            xpub_manual_last_value: true,
            ..SocketOptions::default()
        };
        assert!(typed.manual(), "the typed field implies manual mode too");

        assert!(matches!(
            o.set(router, "router_notify", "4"),
            Err(OptionError::InvalidValue { .. })
        ));
        assert!(matches!(
            o.set(SocketType::Dealer, "router_notify", "1"),
            Err(OptionError::WrongSocketType { .. })
        ));
        assert!(matches!(
            o.set(SocketType::Sub, "xpub_nodrop", "1"),
            Err(OptionError::WrongSocketType { .. })
        ));
        o.set(SocketType::Pub, "xpub_nodrop", "1")
            .expect("libzmq's PUB is an XPUB");
        assert!(matches!(
            o.set(router, "connect_routing_id", ""),
            Err(OptionError::InvalidValue {
                name: "connect_routing_id",
                ..
            })
        ));
    }
}
