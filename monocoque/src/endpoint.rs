//! Endpoints: `tcp://host:port` (with an optional source address,
//! `tcp://src:port;host:port`), `ipc://path` and `inproc://name`.

use std::fmt;
use std::str::FromStr;

use crate::error::Error;

/// A parsed endpoint address, in libzmq's forms.
///
/// ```
/// use monocoque::Endpoint;
/// let ep: Endpoint = "tcp://127.0.0.1:5555".parse().unwrap();
/// assert_eq!(ep.to_string(), "tcp://127.0.0.1:5555");
/// let ep: Endpoint = "tcp://127.0.0.1:*;127.0.0.1:5555".parse().unwrap();
/// assert!(matches!(ep, Endpoint::Tcp { source: Some(_), .. }));
/// assert_eq!(ep.to_string(), "tcp://127.0.0.1:0;127.0.0.1:5555");
/// assert!("udp://x:1".parse::<Endpoint>().is_err());
/// ```
#[derive(Clone, Debug, PartialEq, Eq, Hash)]
#[non_exhaustive]
pub enum Endpoint {
    /// TCP: a host and a port. Binding, the host is an IPv4 or `[IPv6]`
    /// address, `*` for every interface, an interface's name (`lo`,
    /// `eth0`: its address) or a host name; the port `0` or `*` picks an
    /// ephemeral one. Connecting, the host is an address or a host name,
    /// and a source address may come first (`tcp://src:port;host:port`):
    /// the connection is made from it.
    #[non_exhaustive]
    Tcp {
        /// The host part, brackets of an IPv6 address removed.
        host: String,
        /// The port; 0 for "pick one".
        port: u16,
        /// Where a connect is made from: an address or an interface's
        /// name (`*` for any), and a port (0 for any).
        source: Option<(String, u16)>,
    },
    /// A Unix domain socket path; a leading `@` names Linux's abstract
    /// namespace, and `*` (binding) a new path in a new private directory
    /// under `$TMPDIR` (or `/tmp`), as libzmq does.
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
                // libzmq looks for the source's `;` from the right too.
                let (source, target) = match rest.rsplit_once(';') {
                    Some((src, dst)) => (Some(host_port(src).map_err(bad)?), dst),
                    None => (None, rest),
                };
                let (host, port) = host_port(target).map_err(bad)?;
                Ok(Endpoint::Tcp { host, port, source })
            }
            "ipc" => Ok(Endpoint::Ipc(rest.to_owned())),
            "inproc" => Ok(Endpoint::Inproc(rest.to_owned())),
            _ => Err(bad("unknown transport (tcp, ipc and inproc are supported)")),
        }
    }
}

/// `host:port` (`[v6]:port`), `*` or a number for the port.
fn host_port(s: &str) -> Result<(String, u16), &'static str> {
    let (host, port) = s.rsplit_once(':').ok_or("expected host:port")?;
    let host = host
        .strip_prefix('[')
        .and_then(|h| h.strip_suffix(']'))
        .unwrap_or(host);
    if host.is_empty() {
        return Err("empty host");
    }
    let port = match port {
        "*" => 0,
        p => p.parse().map_err(|_| "invalid port")?,
    };
    Ok((host.to_owned(), port))
}

/// `host:port`, with brackets around an IPv6 address.
fn write_host_port(f: &mut fmt::Formatter<'_>, host: &str, port: u16) -> fmt::Result {
    if host.contains(':') {
        write!(f, "[{host}]:{port}")
    } else {
        write!(f, "{host}:{port}")
    }
}

impl fmt::Display for Endpoint {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            Endpoint::Tcp { host, port, source } => {
                f.write_str("tcp://")?;
                if let Some((src, sport)) = source {
                    write_host_port(f, src, *sport)?;
                    f.write_str(";")?;
                }
                write_host_port(f, host, *port)
            }
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
                port: 0,
                source: None,
            }
        );
        assert_eq!(
            parse("tcp://[::1]:5555"),
            Endpoint::Tcp {
                host: "::1".into(),
                port: 5555,
                source: None,
            }
        );
        assert_eq!(parse("tcp://lo:*").to_string(), "tcp://lo:0");
        assert_eq!(parse("ipc://*"), Endpoint::Ipc("*".into()));
        assert_eq!(parse("tcp://[::1]:5555").to_string(), "tcp://[::1]:5555");
        assert_eq!(parse("ipc://@abstract"), Endpoint::Ipc("@abstract".into()));
        assert_eq!(parse("inproc://a/b"), Endpoint::Inproc("a/b".into()));
    }

    #[test]
    fn parses_source_addresses() {
        assert_eq!(
            parse("tcp://192.168.1.17:5555;192.168.1.1:5556"),
            Endpoint::Tcp {
                host: "192.168.1.1".into(),
                port: 5556,
                source: Some(("192.168.1.17".into(), 5555)),
            }
        );
        let ep = parse("tcp://[::1]:*;[::1]:7");
        assert_eq!(ep.to_string(), "tcp://[::1]:0;[::1]:7");
        assert_eq!(parse(&ep.to_string()), ep, "Display parses back");
        assert!(matches!(
            parse("tcp://eth0:0;server.example:80"),
            Endpoint::Tcp { source: Some((s, 0)), .. } if s == "eth0"
        ));
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
            "tcp://;h:1",
            "tcp://src;h:1",
            "tcp://src:x;h:1",
            "tcp://:1;h:1",
        ] {
            assert!(bad.parse::<Endpoint>().is_err(), "{bad}");
        }
    }
}
