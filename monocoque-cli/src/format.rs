//! How messages look as text: `--format text|hex|json` and `--sep`.
//!
//! One message is one line. In text and hex the frames of a message are
//! joined by the separator; in json a line is an array whose items are
//! strings, or `{"hex": "..."}` for a frame that is not UTF-8. The same
//! codec reads FRAME arguments and the stdin lines of `send` and `request`.

use std::fmt;

use bytes::Bytes;
use serde_json::Value;

/// The text form of frames (`--format`).
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
pub(crate) enum Format {
    /// Frames as raw bytes, joined by the separator.
    #[default]
    Text,
    /// Frames as lowercase hex, joined by the separator.
    Hex,
    /// One JSON array of strings (or `{"hex": ...}`) per message.
    Json,
}

impl Format {
    /// Parses a `--format` value.
    pub(crate) fn parse(name: &str) -> Option<Format> {
        match name {
            "text" => Some(Format::Text),
            "hex" => Some(Format::Hex),
            "json" => Some(Format::Json),
            _ => None,
        }
    }
}

/// A frame or line that does not parse in the chosen format.
#[derive(Debug, Clone, PartialEq, Eq)]
pub(crate) struct FormatError(pub(crate) String);

impl fmt::Display for FormatError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(&self.0)
    }
}

/// Reads and writes messages as lines in one [`Format`] with one separator.
#[derive(Clone, Debug, PartialEq, Eq)]
pub(crate) struct LineCodec {
    format: Format,
    sep: Vec<u8>,
}

impl Default for LineCodec {
    fn default() -> Self {
        LineCodec {
            format: Format::Text,
            sep: b"\t".to_vec(),
        }
    }
}

impl LineCodec {
    /// A codec; `sep` is the `--sep` value after [`unescape_sep`].
    pub(crate) fn new(format: Format, sep: Vec<u8>) -> LineCodec {
        LineCodec { format, sep }
    }

    /// One FRAME argument as a frame.
    pub(crate) fn frame_arg(&self, arg: &str) -> Result<Bytes, FormatError> {
        match self.format {
            Format::Text => Ok(Bytes::copy_from_slice(arg.as_bytes())),
            Format::Hex => decode_hex(arg.as_bytes()).map(Bytes::from),
            Format::Json => {
                let value: Value = serde_json::from_str(arg)
                    .map_err(|e| FormatError(format!("frame {arg:?} is not JSON: {e}")))?;
                json_frame(&value)
            }
        }
    }

    /// One input line (without its newline) as the frames of one message.
    pub(crate) fn parse_line(&self, line: &[u8]) -> Result<Vec<Bytes>, FormatError> {
        match self.format {
            Format::Text => Ok(split(line, &self.sep).map(Bytes::copy_from_slice).collect()),
            Format::Hex => split(line, &self.sep)
                .map(|part| decode_hex(part).map(Bytes::from))
                .collect(),
            Format::Json => {
                let value: Value = serde_json::from_slice(line).map_err(|e| {
                    FormatError(format!(
                        "line {:?} is not JSON: {e}",
                        String::from_utf8_lossy(line)
                    ))
                })?;
                match value {
                    Value::Array(items) => items.iter().map(json_frame).collect(),
                    _ => Err(FormatError(
                        "a json line must be an array of frames".to_owned(),
                    )),
                }
            }
        }
    }

    /// Appends one message as a line, newline included, to `out`.
    pub(crate) fn write_line(&self, frames: &[Bytes], out: &mut Vec<u8>) {
        match self.format {
            Format::Text | Format::Hex => {
                for (i, frame) in frames.iter().enumerate() {
                    if i > 0 {
                        out.extend_from_slice(&self.sep);
                    }
                    if self.format == Format::Text {
                        out.extend_from_slice(frame);
                    } else {
                        encode_hex(frame, out);
                    }
                }
            }
            Format::Json => {
                let items = frames.iter().map(|frame| json_value(frame)).collect();
                out.extend_from_slice(Value::Array(items).to_string().as_bytes());
            }
        }
        out.push(b'\n');
    }
}

/// `--sep` understands `\t`, `\n`, `\r`, `\0` and `\\`; other text is taken
/// as it is.
pub(crate) fn unescape_sep(sep: &str) -> Vec<u8> {
    let mut out = Vec::with_capacity(sep.len());
    let mut bytes = sep.bytes();
    while let Some(b) = bytes.next() {
        if b != b'\\' {
            out.push(b);
            continue;
        }
        match bytes.next() {
            Some(b't') => out.push(b'\t'),
            Some(b'n') => out.push(b'\n'),
            Some(b'r') => out.push(b'\r'),
            Some(b'0') => out.push(0),
            Some(b'\\') => out.push(b'\\'),
            Some(other) => out.extend_from_slice(&[b'\\', other]),
            None => out.push(b'\\'),
        }
    }
    out
}

/// Splits `line` at every occurrence of `sep` (an empty separator keeps the
/// line whole).
fn split<'a>(line: &'a [u8], sep: &'a [u8]) -> impl Iterator<Item = &'a [u8]> + 'a {
    let mut rest = Some(line);
    std::iter::from_fn(move || {
        let current = rest?;
        if sep.is_empty() {
            rest = None;
            return Some(current);
        }
        match current.windows(sep.len()).position(|w| w == sep) {
            Some(at) => {
                rest = Some(&current[at + sep.len()..]);
                Some(&current[..at])
            }
            None => {
                rest = None;
                Some(current)
            }
        }
    })
}

fn json_frame(value: &Value) -> Result<Bytes, FormatError> {
    match value {
        Value::String(s) => Ok(Bytes::copy_from_slice(s.as_bytes())),
        Value::Object(map) if map.len() == 1 => match map.get("hex") {
            Some(Value::String(hex)) => decode_hex(hex.as_bytes()).map(Bytes::from),
            _ => Err(FormatError(format!("bad json frame {value}"))),
        },
        _ => Err(FormatError(format!(
            "bad json frame {value}: expected a string or {{\"hex\": \"...\"}}"
        ))),
    }
}

fn json_value(frame: &[u8]) -> Value {
    match std::str::from_utf8(frame) {
        Ok(s) => Value::String(s.to_owned()),
        Err(_) => {
            let mut map = serde_json::Map::new();
            map.insert("hex".to_owned(), Value::String(hex::encode(frame)));
            Value::Object(map)
        }
    }
}

/// Lowercase hex of `bytes`, appended to `out`.
pub(crate) fn encode_hex(bytes: &[u8], out: &mut Vec<u8>) {
    let start = out.len();
    out.resize(start + bytes.len() * 2, 0);
    // The slice is exactly twice as long as `bytes`: this cannot fail.
    let _ = hex::encode_to_slice(bytes, &mut out[start..]);
}

/// Decodes hex digits (either case).
pub(crate) fn decode_hex(digits: &[u8]) -> Result<Vec<u8>, FormatError> {
    hex::decode(digits).map_err(|_| {
        FormatError(format!(
            "bad hex frame {:?}",
            String::from_utf8_lossy(digits)
        ))
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    fn frames(list: &[&[u8]]) -> Vec<Bytes> {
        list.iter().map(|f| Bytes::copy_from_slice(f)).collect()
    }

    #[test]
    fn text_lines_split_and_join_on_the_separator() {
        let codec = LineCodec::default();
        assert_eq!(
            codec.parse_line(b"a\tb\t").unwrap(),
            frames(&[b"a", b"b", b""])
        );
        let mut out = Vec::new();
        codec.write_line(&frames(&[b"a", b"b"]), &mut out);
        assert_eq!(out, b"a\tb\n");
    }

    #[test]
    fn separator_escapes() {
        assert_eq!(unescape_sep("\\t"), b"\t");
        assert_eq!(unescape_sep("\\n"), b"\n");
        assert_eq!(unescape_sep("|"), b"|");
        assert_eq!(unescape_sep("a\\\\b"), b"a\\b");
        let codec = LineCodec::new(Format::Text, unescape_sep("::"));
        assert_eq!(codec.parse_line(b"x::y").unwrap(), frames(&[b"x", b"y"]));
    }

    #[test]
    fn hex_is_lowercase_and_round_trips() {
        let codec = LineCodec::new(Format::Hex, b",".to_vec());
        let msg = frames(&[b"\x00\xff", b"", b"AZ"]);
        let mut out = Vec::new();
        codec.write_line(&msg, &mut out);
        assert_eq!(out, b"00ff,,415a\n");
        assert_eq!(codec.parse_line(b"00FF,,415a").unwrap(), msg);
        assert!(codec.parse_line(b"0g").is_err());
        assert!(codec.frame_arg("abc").is_err());
    }

    #[test]
    fn json_uses_hex_objects_for_binary_frames() {
        let codec = LineCodec::new(Format::Json, b"\t".to_vec());
        let msg = frames(&[b"hi \"you\"", b"\xff\x00"]);
        let mut out = Vec::new();
        codec.write_line(&msg, &mut out);
        assert_eq!(out, b"[\"hi \\\"you\\\"\",{\"hex\":\"ff00\"}]\n");
        assert_eq!(codec.parse_line(&out[..out.len() - 1]).unwrap(), msg);
        assert_eq!(
            codec.frame_arg("{\"hex\": \"00\"}").unwrap(),
            Bytes::from_static(b"\x00")
        );
        assert_eq!(
            codec.frame_arg("\"-x\"").unwrap(),
            Bytes::from_static(b"-x")
        );
        assert!(codec.frame_arg("plain").is_err());
        assert!(codec.parse_line(b"\"not an array\"").is_err());
    }
}
