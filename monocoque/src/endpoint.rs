//! Endpoints: `tcp://host:port`, `ipc://path` and `inproc://name`.

use std::fmt;
use std::str::FromStr;

use crate::error::Error;

/// A parsed endpoint address.
///
/// ```
/// use monocoque::Endpoint;
/// let ep: Endpoint = "tcp://127.0.0.1:5555".parse().unwrap();
/// assert_eq!(ep.to_string(), "tcp://127.0.0.1:5555");
/// assert!("udp://x:1".parse::<Endpoint>().is_err());
/// ```
#[derive(Clone, Debug, PartialEq, Eq, Hash)]
pub enum Endpoint {
    /// TCP: a host (name, IPv4, `[IPv6]` or `*` for every interface) and a
    /// port (`0` or `*` for an ephemeral one when binding).
    Tcp {
        /// The host part, brackets of an IPv6 address removed.
        host: String,
        /// The port; 0 for "pick one".
        port: u16,
    },
    /// A Unix domain socket path; a leading `@` names Linux's abstract
    /// namespace.
    Ipc(String),
    /// An in-process endpoint name.
    Inproc(String),
}

impl Endpoint {
    /// The transport's scheme.
    ///
    /// ```
    /// let ep: monocoque::Endpoint = "ipc://@name".parse().unwrap();
    /// assert_eq!(ep.scheme(), "ipc");
    /// ```
    pub fn scheme(&self) -> &'static str {
        match self {
            Endpoint::Tcp { .. } => "tcp",
            Endpoint::Ipc(_) => "ipc",
            Endpoint::Inproc(_) => "inproc",
        }
    }
}

impl FromStr for Endpoint {
    type Err = Error;

    fn from_str(s: &str) -> Result<Self, Error> {
        let bad = |why| Error::Endpoint(s.to_owned(), why);
        let (scheme, rest) = s
            .split_once("://")
            .ok_or_else(|| bad("expected scheme://address"))?;
        if rest.is_empty() {
            return Err(bad("empty address"));
        }
        match scheme {
            "tcp" => {
                // A source address (`tcp://src;dst`) is not supported.
                let (host, port) = rest
                    .rsplit_once(':')
                    .ok_or_else(|| bad("expected host:port"))?;
                let host = host
                    .strip_prefix('[')
                    .and_then(|h| h.strip_suffix(']'))
                    .unwrap_or(host);
                if host.is_empty() {
                    return Err(bad("empty host"));
                }
                let port = match port {
                    "*" => 0,
                    p => p.parse().map_err(|_| bad("invalid port"))?,
                };
                Ok(Endpoint::Tcp {
                    host: host.to_owned(),
                    port,
                })
            }
            "ipc" => Ok(Endpoint::Ipc(rest.to_owned())),
            "inproc" => Ok(Endpoint::Inproc(rest.to_owned())),
            _ => Err(bad("unknown transport (tcp, ipc and inproc are supported)")),
        }
    }
}

impl fmt::Display for Endpoint {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            Endpoint::Tcp { host, port } if host.contains(':') => {
                write!(f, "tcp://[{host}]:{port}")
            }
            Endpoint::Tcp { host, port } => write!(f, "tcp://{host}:{port}"),
            Endpoint::Ipc(path) => write!(f, "ipc://{path}"),
            Endpoint::Inproc(name) => write!(f, "inproc://{name}"),
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn parse(s: &str) -> Endpoint {
        s.parse().unwrap()
    }

    #[test]
    fn parses_the_three_transports() {
        assert_eq!(
            parse("tcp://*:*"),
            Endpoint::Tcp {
                host: "*".into(),
                port: 0
            }
        );
        assert_eq!(
            parse("tcp://[::1]:5555"),
            Endpoint::Tcp {
                host: "::1".into(),
                port: 5555
            }
        );
        assert_eq!(parse("tcp://[::1]:5555").to_string(), "tcp://[::1]:5555");
        assert_eq!(parse("ipc://@abstract"), Endpoint::Ipc("@abstract".into()));
        assert_eq!(parse("inproc://a/b"), Endpoint::Inproc("a/b".into()));
    }

    #[test]
    fn rejects_bad_endpoints() {
        for bad in [
            "tcp://",
            "tcp://host",
            "tcp://:5",
            "tcp://h:99999",
            "pgm://x",
            "nothing",
            "ipc://",
        ] {
            assert!(bad.parse::<Endpoint>().is_err(), "{bad}");
        }
    }
}
