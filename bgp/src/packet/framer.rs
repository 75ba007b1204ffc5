//! Stream decoder: TCP hands us arbitrary chunks; BGP needs whole messages.
//!
//! The header is checked as soon as its 19 octets arrive, so a bad marker or
//! length is reported at once rather than after waiting for a body that may
//! never come.

use super::{check_header, CodecContext, Message, HEADER_LEN, MAX_MESSAGE_LEN};
use crate::error::DecodeError;

/// Accumulates received octets and yields whole decoded messages.
#[derive(Debug, Default)]
pub struct MessageReader {
    buf: Vec<u8>,
    /// Set after an error: the stream cannot be resynchronised, so nothing
    /// more is decoded.
    failed: bool,
}

impl MessageReader {
    pub fn new() -> Self {
        MessageReader::default()
    }

    /// Appends received octets.
    pub fn push(&mut self, data: &[u8]) {
        if !self.failed {
            self.buf.extend_from_slice(data);
        }
    }

    /// Octets received but not yet decoded.
    pub fn buffered(&self) -> usize {
        self.buf.len()
    }

    /// The next whole message, `Ok(None)` if more octets are needed. After an
    /// `Err` the reader stays failed (the session must be closed).
    pub fn next_message(&mut self, ctx: CodecContext) -> Result<Option<Message>, DecodeError> {
        match self.next_frame()? {
            Some((t, frame)) => match Message::decode_body(t, &frame[HEADER_LEN..], ctx) {
                Ok(m) => Ok(Some(m)),
                Err(e) => {
                    self.fail();
                    Err(e)
                }
            },
            None => Ok(None),
        }
    }

    /// The next whole raw message (type and all its octets, header
    /// included), without decoding the body.
    pub fn next_frame(&mut self) -> Result<Option<(u8, Vec<u8>)>, DecodeError> {
        if self.failed {
            return Ok(None);
        }
        let Some(h) = self.buf.first_chunk::<HEADER_LEN>() else {
            return Ok(None);
        };
        let (len, t) = match check_header(h) {
            Ok(v) => v,
            Err(e) => {
                self.fail();
                return Err(e);
            }
        };
        debug_assert!(len <= MAX_MESSAGE_LEN);
        if self.buf.len() < len {
            return Ok(None);
        }
        let frame: Vec<u8> = self.buf.drain(..len).collect();
        Ok(Some((t, frame)))
    }

    fn fail(&mut self) {
        self.failed = true;
        self.buf = Vec::new();
    }
}
