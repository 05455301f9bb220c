//! [`Message`]: one multipart ZeroMQ message, a short list of `Bytes` frames.

use std::fmt;
use std::hash::{Hash, Hasher};
use std::sync::Arc;

use bytes::Bytes;
use monocoque_zmtp::Metadata;
use smallvec::SmallVec;

/// Frames held inline before a message spills to the heap: enough for a
/// ROUTER envelope (routing id, delimiter, body) without an allocation.
const INLINE_FRAMES: usize = 3;

/// A multipart message: one or more frames, each a zero-copy [`Bytes`].
///
/// Up to three frames live inline, so the common shapes (one body; a routing
/// id and a body; an id, an empty delimiter and a body) cost no allocation
/// beyond the frames' own `Bytes`. Cloning a message clones `Bytes` handles,
/// never payloads.
///
/// ```
/// use monocoque::Message;
/// let mut msg = Message::from("world");
/// msg.push_front("hello");
/// assert_eq!(msg.len(), 2);
/// assert_eq!(&msg[0][..], b"hello");
/// assert_eq!(msg.last().map(|f| &f[..]), Some(&b"world"[..]));
/// ```
///
/// A received message may also carry its sender's [`Properties`] (see
/// [`Message::property`]); they are not part of its content, so equality
/// and hashing look at the frames alone.
#[derive(Clone, Default)]
pub struct Message {
    frames: SmallVec<[Bytes; INLINE_FRAMES]>,
    /// The sender's properties, when it has any worth carrying.
    props: Option<Arc<Properties>>,
}

impl PartialEq for Message {
    fn eq(&self, other: &Self) -> bool {
        self.frames == other.frames
    }
}

impl Eq for Message {}

impl Hash for Message {
    fn hash<H: Hasher>(&self, state: &mut H) {
        self.frames.hash(state);
    }
}

/// What a received message's sender is known by, as libzmq's
/// `zmq_msg_gets` tells it: the user id its ZAP handler assigned
/// (`User-Id`), its address (`Peer-Address`), and the properties it
/// announced in its handshake (`Socket-Type`, `Identity`, and its own
/// `X-...` metadata).
///
/// Messages carry them only from peers that have something beyond the
/// handshake's basics, a user id or metadata of their own, so messages of
/// every other peer cost nothing more.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Properties {
    user_id: Option<Bytes>,
    peer_address: Option<Bytes>,
    announced: Metadata,
}

impl Properties {
    /// The sender's properties: a ZAP user id, an address, and what it
    /// announced.
    pub(crate) fn new(
        user_id: Option<Bytes>,
        peer_address: Option<Bytes>,
        announced: Metadata,
    ) -> Properties {
        Properties {
            user_id,
            peer_address,
            announced,
        }
    }

    /// A property by name, case-insensitively (`User-Id`, `Peer-Address`,
    /// `Socket-Type`, `X-...`).
    pub fn get(&self, name: &str) -> Option<&[u8]> {
        if name.eq_ignore_ascii_case("User-Id") {
            return self.user_id.as_deref();
        }
        if name.eq_ignore_ascii_case("Peer-Address") {
            return self.peer_address.as_deref();
        }
        self.announced.get(name).map(|v| &v[..])
    }

    /// The user id the ZAP handler assigned the sender, if any.
    pub fn user_id(&self) -> Option<&[u8]> {
        self.user_id.as_deref()
    }
}

impl Message {
    /// A message with no frames yet.
    ///
    /// ```
    /// assert!(monocoque::Message::new().is_empty());
    /// ```
    pub fn new() -> Self {
        Self::default()
    }

    /// Appends a frame.
    ///
    /// ```
    /// let mut m = monocoque::Message::new();
    /// m.push_back("body");
    /// assert_eq!(m.len(), 1);
    /// ```
    pub fn push_back(&mut self, frame: impl Into<Bytes>) {
        self.frames.push(frame.into());
    }

    /// Prepends a frame (a routing id or an envelope delimiter).
    ///
    /// ```
    /// let mut m = monocoque::Message::from("body");
    /// m.push_front("");
    /// assert!(m[0].is_empty());
    /// ```
    pub fn push_front(&mut self, frame: impl Into<Bytes>) {
        self.frames.insert(0, frame.into());
    }

    /// Removes and returns the first frame.
    ///
    /// ```
    /// let mut m: monocoque::Message = ["id", "body"].into_iter().collect();
    /// assert_eq!(&m.pop_front().unwrap()[..], b"id");
    /// assert_eq!(m.len(), 1);
    /// ```
    pub fn pop_front(&mut self) -> Option<Bytes> {
        if self.frames.is_empty() {
            None
        } else {
            Some(self.frames.remove(0))
        }
    }

    /// Removes and returns the last frame.
    ///
    /// ```
    /// let mut m: monocoque::Message = ["a", "b"].into_iter().collect();
    /// assert_eq!(&m.pop_back().unwrap()[..], b"b");
    /// ```
    pub fn pop_back(&mut self) -> Option<Bytes> {
        self.frames.pop()
    }

    /// The frames, in order.
    ///
    /// ```
    /// let m: monocoque::Message = ["a", "b"].into_iter().collect();
    /// assert_eq!(m.frames().len(), 2);
    /// ```
    pub fn frames(&self) -> &[Bytes] {
        &self.frames
    }

    /// The first frame.
    ///
    /// ```
    /// let m = monocoque::Message::from("topic");
    /// assert_eq!(m.first().map(|f| &f[..]), Some(&b"topic"[..]));
    /// ```
    pub fn first(&self) -> Option<&Bytes> {
        self.frames.first()
    }

    /// The last frame.
    ///
    /// ```
    /// assert!(monocoque::Message::new().last().is_none());
    /// ```
    pub fn last(&self) -> Option<&Bytes> {
        self.frames.last()
    }

    /// The number of frames.
    ///
    /// ```
    /// assert_eq!(monocoque::Message::from("x").len(), 1);
    /// ```
    pub fn len(&self) -> usize {
        self.frames.len()
    }

    /// Whether the message has no frame.
    ///
    /// ```
    /// assert!(!monocoque::Message::from("x").is_empty());
    /// ```
    pub fn is_empty(&self) -> bool {
        self.frames.is_empty()
    }

    /// The total size of the frames' payloads.
    ///
    /// ```
    /// let m: monocoque::Message = ["ab", "cde"].into_iter().collect();
    /// assert_eq!(m.size(), 5);
    /// ```
    pub fn size(&self) -> usize {
        self.frames.iter().map(Bytes::len).sum()
    }

    /// Splits off and returns the frames from `at` on, keeping `..at`.
    ///
    /// ```
    /// let mut m: monocoque::Message = ["id", "", "body"].into_iter().collect();
    /// let body = m.split_off(2);
    /// assert_eq!((m.len(), body.len()), (2, 1));
    /// ```
    ///
    /// # Panics
    ///
    /// If `at > len()`.
    pub fn split_off(&mut self, at: usize) -> Message {
        assert!(
            at <= self.len(),
            "split_off({at}) beyond {} frames",
            self.len()
        );
        Message {
            frames: self.frames.drain(at..).collect(),
            props: self.props.clone(),
        }
    }

    /// The sender's properties, if the message came from a peer that has
    /// any (see [`Properties`]).
    ///
    /// ```
    /// assert!(monocoque::Message::from("made here").properties().is_none());
    /// ```
    pub fn properties(&self) -> Option<&Properties> {
        self.props.as_deref()
    }

    /// One of the sender's properties by name (`zmq_msg_gets`), such as
    /// `User-Id` or `Socket-Type`.
    ///
    /// ```
    /// assert_eq!(monocoque::Message::from("x").property("User-Id"), None);
    /// ```
    pub fn property(&self, name: &str) -> Option<&[u8]> {
        self.props.as_ref()?.get(name)
    }

    /// Marks the message as sent by a peer with these properties.
    pub(crate) fn set_properties(&mut self, props: Arc<Properties>) {
        self.props = Some(props);
    }

    /// The frames as a `Vec`.
    ///
    /// ```
    /// let v = monocoque::Message::from("x").into_vec();
    /// assert_eq!(v.len(), 1);
    /// ```
    pub fn into_vec(self) -> Vec<Bytes> {
        self.frames.into_vec()
    }
}

impl std::ops::Index<usize> for Message {
    type Output = Bytes;
    fn index(&self, i: usize) -> &Bytes {
        &self.frames[i]
    }
}

impl IntoIterator for Message {
    type Item = Bytes;
    type IntoIter = smallvec::IntoIter<[Bytes; INLINE_FRAMES]>;
    fn into_iter(self) -> Self::IntoIter {
        self.frames.into_iter()
    }
}

impl<'a> IntoIterator for &'a Message {
    type Item = &'a Bytes;
    type IntoIter = std::slice::Iter<'a, Bytes>;
    fn into_iter(self) -> Self::IntoIter {
        self.frames.iter()
    }
}

impl<F: Into<Bytes>> FromIterator<F> for Message {
    fn from_iter<I: IntoIterator<Item = F>>(iter: I) -> Self {
        Message {
            frames: iter.into_iter().map(Into::into).collect(),
            props: None,
        }
    }
}

impl<F: Into<Bytes>> Extend<F> for Message {
    fn extend<I: IntoIterator<Item = F>>(&mut self, iter: I) {
        self.frames.extend(iter.into_iter().map(Into::into));
    }
}

impl From<Bytes> for Message {
    fn from(frame: Bytes) -> Self {
        let mut m = Message::new();
        m.push_back(frame);
        m
    }
}

/// A one-frame message; the text is copied (for a `&'static str` without
/// a copy, send `Bytes::from_static(text.as_bytes())`).
impl From<&str> for Message {
    fn from(frame: &str) -> Self {
        Bytes::copy_from_slice(frame.as_bytes()).into()
    }
}

/// A one-frame message; the bytes are copied (for `&'static [u8]` without
/// a copy, send `Bytes::from_static(bytes)`).
impl From<&[u8]> for Message {
    fn from(frame: &[u8]) -> Self {
        Bytes::copy_from_slice(frame).into()
    }
}

impl From<Vec<u8>> for Message {
    fn from(frame: Vec<u8>) -> Self {
        Bytes::from(frame).into()
    }
}

impl From<String> for Message {
    fn from(frame: String) -> Self {
        Bytes::from(frame).into()
    }
}

impl From<Vec<Bytes>> for Message {
    fn from(frames: Vec<Bytes>) -> Self {
        Message {
            frames: SmallVec::from_vec(frames),
            props: None,
        }
    }
}

/// One frame per inner vector.
impl From<Vec<Vec<u8>>> for Message {
    fn from(frames: Vec<Vec<u8>>) -> Self {
        frames.into_iter().collect()
    }
}

/// One frame per element: `Message::from(["key", "value"])`,
/// `Message::from([id, Bytes::new(), body])`.
impl<F: Into<Bytes>, const N: usize> From<[F; N]> for Message {
    fn from(frames: [F; N]) -> Self {
        frames.into_iter().collect()
    }
}

impl fmt::Debug for Message {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_list().entries(self.frames.iter()).finish()
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn frames(m: &Message) -> Vec<&[u8]> {
        m.frames().iter().map(|f| &f[..]).collect()
    }

    #[test]
    fn the_small_conversions_make_the_frames_they_say() {
        let text = String::from("not static");
        assert_eq!(frames(&Message::from(text.as_str())), [b"not static"]);
        assert_eq!(frames(&Message::from(&text.as_bytes()[..3])), [b"not"]);
        let m = Message::from(["key", "value"]);
        assert_eq!(frames(&m), [&b"key"[..], b"value"]);
        let m = Message::from([Bytes::from("id"), Bytes::new(), Bytes::from("body")]);
        assert_eq!(frames(&m), [&b"id"[..], b"", b"body"]);
        let m = Message::from(vec![b"a".to_vec(), b"bc".to_vec()]);
        assert_eq!(frames(&m), [&b"a"[..], b"bc"]);
    }
}
