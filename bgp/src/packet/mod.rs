//! Wire codec: the BGP-4 message header (RFC 4271 §4.1) and the five message
//! types, plus a stream decoder that frames messages out of TCP chunks.
//!
//! ```text
//!  0                   1                   2                   3
//!  0 1 2 3 4 5 6 7 8 9 0 1 2 3 4 5 6 7 8 9 0 1 2 3 4 5 6 7 8 9 0 1
//! +-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+
//! |                           Marker (16 octets of 0xff)          |
//! +-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+
//! |          Length               |      Type     |
//! +-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+
//! ```

pub mod aspath;
pub mod attributes;
pub mod capabilities;
pub mod family;
pub mod framer;
pub mod notification;
pub mod open;
pub mod prefix;
pub mod route_refresh;
pub mod update;
pub(crate) mod wire;

use crate::error::{DecodeError, EncodeError};
use attributes::AttrContext;
use notification::NotificationMessage;
use open::OpenMessage;
use route_refresh::RouteRefreshMessage;
use update::UpdateMessage;

/// Header length: marker, length, type.
pub const HEADER_LEN: usize = 19;
/// RFC 4271 §4.1 maximum message size (RFC 8654 is not negotiated).
pub const MAX_MESSAGE_LEN: usize = 4096;
const MARKER: [u8; 16] = [0xff; 16];

/// Message type codes (RFC 4271 §4.1, RFC 2918 §3).
pub mod msg_type {
    pub const OPEN: u8 = 1;
    pub const UPDATE: u8 = 2;
    pub const NOTIFICATION: u8 = 3;
    pub const KEEPALIVE: u8 = 4;
    pub const ROUTE_REFRESH: u8 = 5;
}

/// Per-session codec state: what the OPEN exchange negotiated that changes
/// the wire format.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
pub struct CodecContext {
    /// RFC 6793: both sides advertised the 4-octet AS capability, so AS
    /// numbers in AS_PATH/AGGREGATOR take 4 octets.
    pub four_octet_as: bool,
}

impl CodecContext {
    pub(crate) fn attr(self) -> AttrContext {
        AttrContext {
            four_octet_as: self.four_octet_as,
        }
    }
}

#[derive(Debug, Clone, PartialEq, Eq, Hash)]
pub enum Message {
    Open(OpenMessage),
    Update(UpdateMessage),
    Notification(NotificationMessage),
    Keepalive,
    RouteRefresh(RouteRefreshMessage),
}

/// Validates a header and returns (length, type). RFC 4271 §6.1 checks:
/// marker, length within 19..=4096 and within the per-type bounds, type.
pub(crate) fn check_header(h: &[u8; HEADER_LEN]) -> Result<(usize, u8), DecodeError> {
    if h[..16] != MARKER {
        return Err(DecodeError::ConnectionNotSynchronized);
    }
    let len = u16::from_be_bytes([h[16], h[17]]);
    let t = h[18];
    let (min, max) = match t {
        msg_type::OPEN => (29, MAX_MESSAGE_LEN),
        msg_type::UPDATE => (23, MAX_MESSAGE_LEN),
        msg_type::NOTIFICATION => (21, MAX_MESSAGE_LEN),
        msg_type::KEEPALIVE => (19, 19),
        // RFC 7313 §5 wants its own error for a wrong ROUTE-REFRESH length,
        // so only the generic bounds are checked here.
        msg_type::ROUTE_REFRESH => (HEADER_LEN, MAX_MESSAGE_LEN),
        _ => {
            if !(HEADER_LEN..=MAX_MESSAGE_LEN).contains(&(len as usize)) {
                return Err(DecodeError::BadMessageLength(len));
            }
            return Err(DecodeError::BadMessageType(t));
        }
    };
    if !(min..=max).contains(&(len as usize)) {
        return Err(DecodeError::BadMessageLength(len));
    }
    Ok((len as usize, t))
}

impl Message {
    /// Decodes exactly one message from the start of `buf`; returns it and
    /// the number of octets consumed. Octets past the message are ignored.
    pub fn decode(buf: &[u8], ctx: CodecContext) -> Result<(Message, usize), DecodeError> {
        let Some(h) = buf.first_chunk::<HEADER_LEN>() else {
            return Err(DecodeError::Truncated {
                needed: HEADER_LEN,
                available: buf.len(),
            });
        };
        let (len, t) = check_header(h)?;
        let Some(whole) = buf.get(..len) else {
            return Err(DecodeError::Truncated {
                needed: len,
                available: buf.len(),
            });
        };
        Ok((Message::decode_body(t, &whole[HEADER_LEN..], ctx)?, len))
    }

    pub(crate) fn decode_body(
        t: u8,
        body: &[u8],
        ctx: CodecContext,
    ) -> Result<Message, DecodeError> {
        Ok(match t {
            msg_type::OPEN => Message::Open(OpenMessage::decode_body(body)?),
            msg_type::UPDATE => Message::Update(UpdateMessage::decode_body(body, ctx.attr())?),
            msg_type::NOTIFICATION => {
                Message::Notification(NotificationMessage::decode_body(body)?)
            }
            msg_type::KEEPALIVE => Message::Keepalive,
            msg_type::ROUTE_REFRESH => {
                Message::RouteRefresh(RouteRefreshMessage::decode_body(body)?)
            }
            t => return Err(DecodeError::BadMessageType(t)),
        })
    }

    pub fn msg_type(&self) -> u8 {
        match self {
            Message::Open(_) => msg_type::OPEN,
            Message::Update(_) => msg_type::UPDATE,
            Message::Notification(_) => msg_type::NOTIFICATION,
            Message::Keepalive => msg_type::KEEPALIVE,
            Message::RouteRefresh(_) => msg_type::ROUTE_REFRESH,
        }
    }

    /// Appends the encoded message to `out`. On error `out` is unchanged.
    pub fn encode_into(&self, ctx: CodecContext, out: &mut Vec<u8>) -> Result<(), EncodeError> {
        let start = out.len();
        out.extend_from_slice(&MARKER);
        out.extend_from_slice(&[0, 0, self.msg_type()]);
        let r = match self {
            Message::Open(m) => m.encode_body(out),
            Message::Update(m) => m.encode_body(ctx.attr(), out),
            Message::Notification(m) => {
                m.encode_body(out);
                Ok(())
            }
            Message::Keepalive => Ok(()),
            Message::RouteRefresh(m) => {
                m.encode_body(out);
                Ok(())
            }
        };
        let len = out.len() - start;
        let r = r.and_then(|()| {
            (len <= MAX_MESSAGE_LEN)
                .then_some(())
                .ok_or(EncodeError::MessageTooLong(len))
        });
        match r {
            Ok(()) => {
                out[start + 16..start + 18].copy_from_slice(&(len as u16).to_be_bytes());
                Ok(())
            }
            Err(e) => {
                out.truncate(start);
                Err(e)
            }
        }
    }

    pub fn encode(&self, ctx: CodecContext) -> Result<Vec<u8>, EncodeError> {
        let mut v = Vec::new();
        self.encode_into(ctx, &mut v)?;
        Ok(v)
    }
}
