//! ZAP, the ZeroMQ Authentication Protocol (RFC 27), as data.
//!
//! A server-side mechanism (PLAIN, CURVE, and NULL with a ZAP domain)
//! asks a ZAP handler whether to admit a peer. The session surfaces the
//! request as [`Event::ZapRequest`](crate::Event::ZapRequest) and waits for
//! [`Session::zap_reply`](crate::Session::zap_reply). Where the handler lives
//! (an `inproc://zeromq.zap.01` REP socket, or a callback) is the socket
//! layer's business; the frame lists here are what travels after the REQ/REP
//! empty delimiter, which `encode`/`decode` do not include.
//!
//! ```text
//! request: "1.0", request-id, domain, address, identity, mechanism, credentials...
//! reply:   "1.0", request-id, status-code, status-text, user-id, metadata
//! ```

use bytes::{Bytes, BytesMut};

use crate::command::Metadata;
use crate::error::ProtocolError;

/// The only ZAP version.
pub const ZAP_VERSION: &[u8] = b"1.0";

/// A ZAP request (RFC 27).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ZapRequest {
    /// Opaque id the reply must echo.
    pub request_id: Bytes,
    /// The ZAP domain (`ZMQ_ZAP_DOMAIN`); may be empty.
    pub domain: Bytes,
    /// The peer's address as text. The session does not know it and leaves it
    /// empty; the engine fills it in before handing the request on.
    pub address: Bytes,
    /// The routing identity of the socket doing the authentication (libzmq
    /// sends its own socket's routing id here), possibly empty.
    pub identity: Bytes,
    /// Mechanism name: `NULL`, `PLAIN` or `CURVE`.
    pub mechanism: Bytes,
    /// Mechanism credentials: none for NULL, username and password for PLAIN,
    /// the client's public key for CURVE.
    pub credentials: Vec<Bytes>,
}

impl ZapRequest {
    /// The frames of the request (without the REQ envelope delimiter).
    pub fn encode(&self) -> Vec<Bytes> {
        let mut v = Vec::with_capacity(6 + self.credentials.len());
        v.push(Bytes::from_static(ZAP_VERSION));
        v.push(self.request_id.clone());
        v.push(self.domain.clone());
        v.push(self.address.clone());
        v.push(self.identity.clone());
        v.push(self.mechanism.clone());
        v.extend(self.credentials.iter().cloned());
        v
    }

    /// Parses the frames of a request (without the delimiter).
    pub fn decode(frames: &[Bytes]) -> Result<ZapRequest, ProtocolError> {
        if frames.len() < 6 {
            return Err(ProtocolError::MalformedZap(
                "request has fewer than 6 frames",
            ));
        }
        if frames[0] != ZAP_VERSION {
            return Err(ProtocolError::MalformedZap("unsupported zap version"));
        }
        Ok(ZapRequest {
            request_id: frames[1].clone(),
            domain: frames[2].clone(),
            address: frames[3].clone(),
            identity: frames[4].clone(),
            mechanism: frames[5].clone(),
            credentials: frames[6..].to_vec(),
        })
    }
}

/// A ZAP reply (RFC 27).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ZapReply {
    /// Echo of the request's id.
    pub request_id: Bytes,
    /// Status: 200 success, 300 temporary error, 400 authentication failure, 500 internal error.
    pub status_code: u16,
    /// Human-readable status.
    pub status_text: Bytes,
    /// The user id the handler assigned (exposed as the connection's User-Id).
    pub user_id: Bytes,
    /// Extra metadata for the connection.
    pub metadata: Metadata,
}

impl ZapReply {
    /// A 200 reply to `request`, as a socket without a ZAP handler gives (libzmq behaviour).
    pub fn accept(request: &ZapRequest) -> ZapReply {
        ZapReply {
            request_id: request.request_id.clone(),
            status_code: 200,
            status_text: Bytes::from_static(b"OK"),
            user_id: Bytes::new(),
            metadata: Metadata::new(),
        }
    }

    /// A 400 reply to `request`.
    pub fn deny(request: &ZapRequest, text: &'static str) -> ZapReply {
        ZapReply {
            request_id: request.request_id.clone(),
            status_code: 400,
            status_text: Bytes::from_static(text.as_bytes()),
            user_id: Bytes::new(),
            metadata: Metadata::new(),
        }
    }

    /// True for status 200.
    pub fn is_success(&self) -> bool {
        self.status_code == 200
    }

    /// The frames of the reply (without the REP envelope delimiter).
    pub fn encode(&self) -> Vec<Bytes> {
        let mut md = BytesMut::new();
        self.metadata.encode(&mut md);
        vec![
            Bytes::from_static(ZAP_VERSION),
            self.request_id.clone(),
            Bytes::from(self.status_code.to_string()),
            self.status_text.clone(),
            self.user_id.clone(),
            md.freeze(),
        ]
    }

    /// Parses the frames of a reply (without the delimiter).
    pub fn decode(frames: &[Bytes]) -> Result<ZapReply, ProtocolError> {
        if frames.len() != 6 {
            return Err(ProtocolError::MalformedZap("reply must have 6 frames"));
        }
        if frames[0] != ZAP_VERSION {
            return Err(ProtocolError::MalformedZap("unsupported zap version"));
        }
        let code = &frames[2];
        if code.len() != 3 || !code.iter().all(u8::is_ascii_digit) {
            return Err(ProtocolError::MalformedZap(
                "status code is not three digits",
            ));
        }
        let status_code = code
            .iter()
            .fold(0u16, |acc, d| acc * 10 + u16::from(d - b'0'));
        if !matches!(status_code, 200 | 300 | 400 | 500) {
            return Err(ProtocolError::MalformedZap("unknown status code"));
        }
        let metadata = Metadata::decode(frames[5].clone())
            .map_err(|_| ProtocolError::MalformedZap("bad metadata"))?;
        Ok(ZapReply {
            request_id: frames[1].clone(),
            status_code,
            status_text: frames[3].clone(),
            user_id: frames[4].clone(),
            metadata,
        })
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn round_trip() {
        let req = ZapRequest {
            request_id: Bytes::from_static(b"1"),
            domain: Bytes::from_static(b"global"),
            address: Bytes::from_static(b"127.0.0.1"),
            identity: Bytes::new(),
            mechanism: Bytes::from_static(b"PLAIN"),
            credentials: vec![Bytes::from_static(b"admin"), Bytes::from_static(b"pw")],
        };
        let frames = req.encode();
        assert_eq!(frames.len(), 8);
        assert_eq!(ZapRequest::decode(&frames).unwrap(), req);
        let mut rep = ZapReply::accept(&req);
        rep.metadata.insert("Hello", "World").unwrap();
        rep.user_id = Bytes::from_static(b"admin");
        assert_eq!(ZapReply::decode(&rep.encode()).unwrap(), rep);
        let mut bad = rep.encode();
        bad[2] = Bytes::from_static(b"2x0");
        assert!(ZapReply::decode(&bad).is_err());
        assert!(ZapRequest::decode(&frames[..5]).is_err());
    }
}
