//! What the integration tests share. Each test file that says `mod common;`
//! is its own crate and uses only part of this, hence `dead_code` allowed.
#![allow(dead_code)]

use bytes::Bytes;
use monocoque_zmtp::ProtocolError;

/// Assembles message frames ([`Event::Frame`](monocoque_zmtp::Event::Frame)
/// or decoded frames) into messages, as the socket layer does.
#[derive(Debug, Default)]
pub(crate) struct Assembler {
    parts: Vec<Bytes>,
    size: u64,
    max_size: Option<u64>,
}

impl Assembler {
    /// An assembler refusing messages whose frames total more than
    /// `max_size` bytes.
    pub(crate) fn new(max_size: Option<u64>) -> Assembler {
        Assembler {
            parts: Vec::new(),
            size: 0,
            max_size,
        }
    }

    /// Adds a frame; returns the whole message when `more` is false.
    pub(crate) fn push(
        &mut self,
        body: Bytes,
        more: bool,
    ) -> Result<Option<Vec<Bytes>>, ProtocolError> {
        self.size = self.size.saturating_add(body.len() as u64);
        if let Some(max) = self.max_size {
            if self.size > max {
                let size = self.size;
                self.parts.clear();
                self.size = 0;
                return Err(ProtocolError::MessageTooLarge { size, max });
            }
        }
        self.parts.push(body);
        if more {
            return Ok(None);
        }
        self.size = 0;
        Ok(Some(std::mem::take(&mut self.parts)))
    }

    /// True when a message is partly assembled.
    pub(crate) fn in_progress(&self) -> bool {
        !self.parts.is_empty()
    }
}
