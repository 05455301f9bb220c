//! `ENDPOINTS`: a comma-separated list, `@` binds, `>` connects, and without
//! either the socket type's usual side is used, as CZMQ does.

use crate::SocketType;

/// Whether an endpoint is bound or connected.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub(crate) enum Side {
    /// `@endpoint`: listen.
    Bind,
    /// `>endpoint`: dial.
    Connect,
}

/// One endpoint of a socket, with the side it is used on.
#[derive(Clone, Debug, PartialEq, Eq)]
pub(crate) struct Endpoint {
    /// Bind or connect.
    pub(crate) side: Side,
    /// The address, `tcp://...`, `ipc://...` or `inproc://...`.
    pub(crate) addr: String,
}

/// The `mq` names of the socket types, in the order of the help.
pub(crate) const TYPE_NAMES: &str = "pair pub sub xpub xsub req rep dealer router push pull stream";

/// Parses a TYPE argument (lower case, as `mq` spells them).
pub(crate) fn parse_type(name: &str) -> Result<SocketType, String> {
    let ty = match name {
        "pair" => SocketType::Pair,
        "pub" => SocketType::Pub,
        "sub" => SocketType::Sub,
        "xpub" => SocketType::Xpub,
        "xsub" => SocketType::Xsub,
        "req" => SocketType::Req,
        "rep" => SocketType::Rep,
        "dealer" => SocketType::Dealer,
        "router" => SocketType::Router,
        "push" => SocketType::Push,
        "pull" => SocketType::Pull,
        "stream" => SocketType::Stream,
        _ => {
            return Err(format!(
                "unknown socket type {name:?} (one of: {TYPE_NAMES})"
            ))
        }
    };
    Ok(ty)
}

/// The lower-case `mq` name of a socket type.
pub(crate) fn type_name(ty: SocketType) -> String {
    ty.as_str().to_ascii_lowercase()
}

/// The side a bare endpoint takes: bind for pub, xpub, rep, router and pull;
/// connect for the rest.
pub(crate) fn default_side(ty: SocketType) -> Side {
    match ty {
        SocketType::Pub
        | SocketType::Xpub
        | SocketType::Rep
        | SocketType::Router
        | SocketType::Pull => Side::Bind,
        _ => Side::Connect,
    }
}

/// Parses `ENDPOINTS` for a socket of type `ty`.
pub(crate) fn parse_endpoints(list: &str, ty: SocketType) -> Result<Vec<Endpoint>, String> {
    list.split(',').map(|one| parse_one(one, ty)).collect()
}

fn parse_one(text: &str, ty: SocketType) -> Result<Endpoint, String> {
    let (side, addr) = if let Some(rest) = text.strip_prefix('@') {
        (Side::Bind, rest)
    } else if let Some(rest) = text.strip_prefix('>') {
        (Side::Connect, rest)
    } else {
        (default_side(ty), text)
    };
    check_addr(addr)?;
    Ok(Endpoint {
        side,
        addr: addr.to_owned(),
    })
}

/// Rejects what no transport accepts, so a typo is a usage error (exit 2)
/// before any socket exists.
fn check_addr(addr: &str) -> Result<(), String> {
    let bad = |why: &str| Err(format!("bad endpoint {addr:?}: {why}"));
    let Some((scheme, rest)) = addr.split_once("://") else {
        return bad("expected tcp://, ipc:// or inproc://");
    };
    match scheme {
        "tcp" => {
            let Some((host, port)) = rest.rsplit_once(':') else {
                return bad("expected tcp://HOST:PORT");
            };
            // A connect endpoint may name a source address: "src;host:port".
            let host = host.rsplit(';').next().unwrap_or(host);
            if host.is_empty() {
                return bad("no host");
            }
            if port != "*" && port.parse::<u16>().is_err() {
                return bad("the port must be a number or *");
            }
            Ok(())
        }
        "ipc" | "inproc" if rest.is_empty() => bad("no name"),
        "ipc" | "inproc" => Ok(()),
        _ => bad("unknown transport (tcp, ipc or inproc)"),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn sides_follow_prefix_or_type() {
        let eps = parse_endpoints(
            "@tcp://127.0.0.1:5555,>ipc:///tmp/x,inproc://y",
            SocketType::Push,
        )
        .unwrap();
        assert_eq!(eps[0].side, Side::Bind);
        assert_eq!(eps[0].addr, "tcp://127.0.0.1:5555");
        assert_eq!(eps[1].side, Side::Connect);
        assert_eq!(eps[2].side, Side::Connect);
        let eps = parse_endpoints("tcp://*:*", SocketType::Pull).unwrap();
        assert_eq!(eps[0].side, Side::Bind);
        for ty in ["pub", "xpub", "rep", "router", "pull"] {
            assert_eq!(default_side(parse_type(ty).unwrap()), Side::Bind);
        }
        for ty in ["pair", "sub", "xsub", "req", "dealer", "push", "stream"] {
            assert_eq!(default_side(parse_type(ty).unwrap()), Side::Connect);
        }
    }

    #[test]
    fn bad_endpoints_are_rejected() {
        for bad in [
            "udp://1.2.3.4:5",
            "tcp://127.0.0.1",
            "tcp://127.0.0.1:http",
            "tcp://:5",
            "ipc://",
            "nothing",
            "",
            "tcp://a:1,",
        ] {
            assert!(parse_endpoints(bad, SocketType::Pair).is_err(), "{bad}");
        }
        assert!(parse_endpoints("tcp://[::1]:5", SocketType::Pair).is_ok());
    }

    #[test]
    fn type_names_round_trip() {
        for name in TYPE_NAMES.split(' ') {
            assert_eq!(type_name(parse_type(name).unwrap()), name);
        }
        assert!(parse_type("PUSH").is_err());
        assert!(parse_type("client").is_err());
    }
}
