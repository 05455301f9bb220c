//! ZeroMQ socket types as they appear in the READY `Socket-Type` property, and
//! which of them may talk to which (RFC 23, "The Socket-Type property", and
//! libzmq's matrix).

use std::fmt;

/// A ZeroMQ socket type.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
#[non_exhaustive]
pub enum SocketType {
    /// Exclusive pair.
    Pair,
    /// Publisher.
    Pub,
    /// Subscriber.
    Sub,
    /// Extended publisher (sees subscriptions).
    Xpub,
    /// Extended subscriber (sends subscriptions as messages).
    Xsub,
    /// Request (strict send/receive alternation).
    Req,
    /// Reply.
    Rep,
    /// Asynchronous request.
    Dealer,
    /// Asynchronous reply, routes by identity.
    Router,
    /// Pipeline sender.
    Push,
    /// Pipeline receiver.
    Pull,
    /// Raw TCP; never speaks ZMTP, so it is compatible with no ZMTP peer.
    Stream,
}

impl SocketType {
    /// All socket types, in declaration order.
    pub const ALL: [SocketType; 12] = [
        SocketType::Pair,
        SocketType::Pub,
        SocketType::Sub,
        SocketType::Xpub,
        SocketType::Xsub,
        SocketType::Req,
        SocketType::Rep,
        SocketType::Dealer,
        SocketType::Router,
        SocketType::Push,
        SocketType::Pull,
        SocketType::Stream,
    ];

    /// The name as sent in the `Socket-Type` property (upper case).
    pub fn as_str(self) -> &'static str {
        match self {
            SocketType::Pair => "PAIR",
            SocketType::Pub => "PUB",
            SocketType::Sub => "SUB",
            SocketType::Xpub => "XPUB",
            SocketType::Xsub => "XSUB",
            SocketType::Req => "REQ",
            SocketType::Rep => "REP",
            SocketType::Dealer => "DEALER",
            SocketType::Router => "ROUTER",
            SocketType::Push => "PUSH",
            SocketType::Pull => "PULL",
            SocketType::Stream => "STREAM",
        }
    }

    /// Parses a socket type name; the wire form is upper case, and this
    /// accepts any ASCII case (so `mq` can take `dealer`).
    pub fn parse(name: &[u8]) -> Option<SocketType> {
        SocketType::ALL
            .into_iter()
            .find(|t| t.as_str().as_bytes().eq_ignore_ascii_case(name))
    }

    /// Whether a socket of this type may exchange messages with a `peer` of
    /// the given type. Symmetric. `Stream` is never compatible: it does not
    /// speak ZMTP.
    pub fn compatible(self, peer: SocketType) -> bool {
        use SocketType::*;
        matches!(
            (self, peer),
            (Pair, Pair)
                | (Pub, Sub | Xsub)
                | (Xpub, Sub | Xsub)
                | (Sub, Pub | Xpub)
                | (Xsub, Pub | Xpub)
                | (Req, Rep | Router)
                | (Rep, Req | Dealer)
                | (Dealer, Rep | Dealer | Router)
                | (Router, Req | Dealer | Router)
                | (Push, Pull)
                | (Pull, Push)
        )
    }

    /// True for the publishing side of pub/sub, which receives subscriptions.
    pub fn is_publisher(self) -> bool {
        matches!(self, SocketType::Pub | SocketType::Xpub)
    }

    /// True for socket types that may send an `Identity` (routing id) in READY.
    pub fn sends_identity(self) -> bool {
        matches!(
            self,
            SocketType::Req | SocketType::Dealer | SocketType::Router
        )
    }
}

impl fmt::Display for SocketType {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.as_str())
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn names_round_trip() {
        for t in SocketType::ALL {
            assert_eq!(SocketType::parse(t.as_str().as_bytes()), Some(t));
        }
        assert_eq!(SocketType::parse(b"dealer"), Some(SocketType::Dealer));
        assert_eq!(SocketType::parse(b"DEALERS"), None);
        assert_eq!(SocketType::parse(b""), None);
    }

    #[test]
    fn matrix_is_symmetric() {
        for a in SocketType::ALL {
            for b in SocketType::ALL {
                assert_eq!(a.compatible(b), b.compatible(a), "{a} {b}");
            }
        }
        assert!(SocketType::Req.compatible(SocketType::Router));
        assert!(!SocketType::Req.compatible(SocketType::Req));
        assert!(!SocketType::Push.compatible(SocketType::Sub));
        assert!(!SocketType::Stream.compatible(SocketType::Stream));
    }
}
