//! Decode and encode errors. Every decode error that ends a session knows the
//! NOTIFICATION (code, subcode, data) RFC 4271 §6 tells us to send for it.

use std::net::Ipv4Addr;

use crate::packet::notification::{
    ErrorCode, MessageHeaderSubcode, NotificationMessage, OpenMessageSubcode, RouteRefreshSubcode,
    UpdateMessageSubcode,
};

/// Why a received message could not be accepted.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum DecodeError {
    /// The buffer ends before the message does. Only [`Message::decode`]
    /// returns this; the stream decoder waits for more bytes instead.
    ///
    /// [`Message::decode`]: crate::packet::Message::decode
    #[error("truncated: need {needed} octets, have {available}")]
    Truncated { needed: usize, available: usize },
    /// RFC 4271 §6.1: the marker is not all ones.
    #[error("connection not synchronized (bad marker)")]
    ConnectionNotSynchronized,
    /// RFC 4271 §6.1: length out of range for the message (type).
    #[error("bad message length {0}")]
    BadMessageLength(u16),
    /// RFC 4271 §6.1: unknown message type.
    #[error("bad message type {0}")]
    BadMessageType(u8),
    #[error("OPEN: {0}")]
    Open(#[from] OpenError),
    #[error("UPDATE: {0}")]
    Update(#[from] UpdateError),
    /// RFC 7313 §5: a ROUTE-REFRESH whose length is not 23.
    #[error("ROUTE-REFRESH with invalid length {0}")]
    RouteRefreshLength(u16),
}

impl DecodeError {
    /// The NOTIFICATION to send before closing, or `None` when the error is
    /// not a protocol violation (truncation is a framing matter).
    pub fn notification(&self) -> Option<NotificationMessage> {
        let n = match self {
            DecodeError::Truncated { .. } => return None,
            DecodeError::ConnectionNotSynchronized => NotificationMessage::new(
                ErrorCode::MessageHeader(MessageHeaderSubcode::ConnectionNotSynchronized),
            ),
            // RFC 4271 §6.1: Data is the erroneous Length field.
            DecodeError::BadMessageLength(len) => NotificationMessage::with_data(
                ErrorCode::MessageHeader(MessageHeaderSubcode::BadMessageLength),
                len.to_be_bytes().to_vec(),
            ),
            // RFC 4271 §6.1: Data is the erroneous Type field.
            DecodeError::BadMessageType(t) => NotificationMessage::with_data(
                ErrorCode::MessageHeader(MessageHeaderSubcode::BadMessageType),
                vec![*t],
            ),
            DecodeError::Open(e) => e.notification(),
            DecodeError::Update(e) => e.notification(),
            DecodeError::RouteRefreshLength(_) => NotificationMessage::new(
                ErrorCode::RouteRefresh(RouteRefreshSubcode::InvalidMessageLength),
            ),
        };
        Some(n)
    }
}

/// OPEN message errors (RFC 4271 §6.2, RFC 5492, RFC 6286).
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum OpenError {
    /// Optional parameters do not frame correctly.
    #[error("malformed optional parameters")]
    Malformed,
    #[error("unsupported version {0}")]
    UnsupportedVersion(u8),
    #[error("bad peer AS {0}")]
    BadPeerAs(u32),
    #[error("bad BGP identifier {0}")]
    BadBgpIdentifier(Ipv4Addr),
    #[error("unsupported optional parameter type {0}")]
    UnsupportedOptionalParameter(u8),
    #[error("unacceptable hold time {0}")]
    UnacceptableHoldTime(u16),
    /// RFC 5492 §5: Data lists the capabilities (TLVs) we require but the
    /// peer did not offer.
    #[error("unsupported capability")]
    UnsupportedCapability(Vec<u8>),
}

impl OpenError {
    pub fn notification(&self) -> NotificationMessage {
        use OpenMessageSubcode as S;
        let (sub, data) = match self {
            OpenError::Malformed => (S::Unspecific, vec![]),
            // RFC 4271 §6.2: Data is the largest locally supported version.
            OpenError::UnsupportedVersion(_) => (S::UnsupportedVersionNumber, vec![0, 4]),
            OpenError::BadPeerAs(_) => (S::BadPeerAs, vec![]),
            OpenError::BadBgpIdentifier(_) => (S::BadBgpIdentifier, vec![]),
            OpenError::UnsupportedOptionalParameter(_) => (S::UnsupportedOptionalParameter, vec![]),
            OpenError::UnacceptableHoldTime(_) => (S::UnacceptableHoldTime, vec![]),
            OpenError::UnsupportedCapability(caps) => (S::UnsupportedCapability, caps.clone()),
        };
        NotificationMessage::with_data(ErrorCode::OpenMessage(sub), data)
    }
}

/// An UPDATE error that RFC 7606 says must reset the session, or the reason
/// recorded on an attribute handled by treat-as-withdraw / attribute-discard.
#[derive(Debug, Clone, PartialEq, Eq, Hash, thiserror::Error)]
#[error("{subcode:?}")]
pub struct UpdateError {
    pub subcode: UpdateMessageSubcode,
    /// NOTIFICATION data (usually the offending attribute, RFC 4271 §6.3).
    pub data: Vec<u8>,
}

impl UpdateError {
    pub fn new(subcode: UpdateMessageSubcode) -> Self {
        UpdateError {
            subcode,
            data: Vec::new(),
        }
    }

    pub fn with_data(subcode: UpdateMessageSubcode, data: Vec<u8>) -> Self {
        UpdateError { subcode, data }
    }

    pub fn notification(&self) -> NotificationMessage {
        NotificationMessage::with_data(ErrorCode::UpdateMessage(self.subcode), self.data.clone())
    }
}

/// A message that cannot be put on the wire.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum EncodeError {
    /// RFC 4271 §4.1: longer than the 4096-octet maximum.
    #[error("message of {0} octets exceeds the maximum")]
    MessageTooLong(usize),
    /// A single field exceeds its length field's range.
    #[error("{0} too long")]
    FieldTooLong(&'static str),
}
