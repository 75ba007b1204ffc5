//! NOTIFICATION message (RFC 4271 §4.5) with every error code and subcode
//! named, plus RFC 4486 Cease subcodes and the RFC 8203/9003 shutdown
//! communication.
//!
//! ```text
//!  0                   1                   2                   3
//!  0 1 2 3 4 5 6 7 8 9 0 1 2 3 4 5 6 7 8 9 0 1 2 3 4 5 6 7 8 9 0 1
//! +-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+
//! | Error code    | Error subcode |   Data (variable)             |
//! +-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+
//! ```

use super::wire::{wire_enum, Reader};
use crate::error::DecodeError;

wire_enum! {
    /// RFC 4271 §4.5 subcodes of error code 1.
    pub enum MessageHeaderSubcode(u8) {
        Unspecific = 0,
        ConnectionNotSynchronized = 1,
        BadMessageLength = 2,
        BadMessageType = 3,
    }
}

wire_enum! {
    /// RFC 4271 §4.5, RFC 5492, RFC 9234 subcodes of error code 2.
    pub enum OpenMessageSubcode(u8) {
        Unspecific = 0,
        UnsupportedVersionNumber = 1,
        BadPeerAs = 2,
        BadBgpIdentifier = 3,
        UnsupportedOptionalParameter = 4,
        /// Deprecated by RFC 4271 (was Authentication Failure).
        AuthenticationFailure = 5,
        UnacceptableHoldTime = 6,
        UnsupportedCapability = 7,
        RoleMismatch = 11,
    }
}

wire_enum! {
    /// RFC 4271 §4.5 subcodes of error code 3.
    pub enum UpdateMessageSubcode(u8) {
        Unspecific = 0,
        MalformedAttributeList = 1,
        UnrecognizedWellKnownAttribute = 2,
        MissingWellKnownAttribute = 3,
        AttributeFlagsError = 4,
        AttributeLengthError = 5,
        InvalidOriginAttribute = 6,
        /// Deprecated by RFC 4271 (was AS Routing Loop).
        AsRoutingLoop = 7,
        InvalidNextHopAttribute = 8,
        OptionalAttributeError = 9,
        InvalidNetworkField = 10,
        MalformedAsPath = 11,
    }
}

wire_enum! {
    /// RFC 6608 subcodes of error code 5 (Finite State Machine Error).
    pub enum FsmSubcode(u8) {
        Unspecified = 0,
        UnexpectedMessageInOpenSent = 1,
        UnexpectedMessageInOpenConfirm = 2,
        UnexpectedMessageInEstablished = 3,
    }
}

wire_enum! {
    /// RFC 4486 / RFC 8538 / RFC 9384 subcodes of error code 6 (Cease).
    pub enum CeaseSubcode(u8) {
        Unspecific = 0,
        MaximumPrefixesReached = 1,
        AdministrativeShutdown = 2,
        PeerDeconfigured = 3,
        AdministrativeReset = 4,
        ConnectionRejected = 5,
        OtherConfigurationChange = 6,
        ConnectionCollisionResolution = 7,
        OutOfResources = 8,
        HardReset = 9,
        BfdDown = 10,
    }
}

wire_enum! {
    /// RFC 7313 subcodes of error code 7 (ROUTE-REFRESH Message Error).
    pub enum RouteRefreshSubcode(u8) {
        Reserved = 0,
        InvalidMessageLength = 1,
    }
}

/// Error code and subcode of a NOTIFICATION.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum ErrorCode {
    /// 1: Message Header Error.
    MessageHeader(MessageHeaderSubcode),
    /// 2: OPEN Message Error.
    OpenMessage(OpenMessageSubcode),
    /// 3: UPDATE Message Error.
    UpdateMessage(UpdateMessageSubcode),
    /// 4: Hold Timer Expired (subcode is always 0 when we send it).
    HoldTimerExpired(u8),
    /// 5: Finite State Machine Error (RFC 6608).
    FsmError(FsmSubcode),
    /// 6: Cease (RFC 4486).
    Cease(CeaseSubcode),
    /// 7: ROUTE-REFRESH Message Error (RFC 7313).
    RouteRefresh(RouteRefreshSubcode),
    /// 8: Send Hold Timer Expired (RFC 9687).
    SendHoldTimerExpired(u8),
    /// Any other code; kept raw.
    Unknown { code: u8, subcode: u8 },
}

impl ErrorCode {
    pub fn from_raw(code: u8, subcode: u8) -> Self {
        match code {
            1 => ErrorCode::MessageHeader(subcode.into()),
            2 => ErrorCode::OpenMessage(subcode.into()),
            3 => ErrorCode::UpdateMessage(subcode.into()),
            4 => ErrorCode::HoldTimerExpired(subcode),
            5 => ErrorCode::FsmError(subcode.into()),
            6 => ErrorCode::Cease(subcode.into()),
            7 => ErrorCode::RouteRefresh(subcode.into()),
            8 => ErrorCode::SendHoldTimerExpired(subcode),
            code => ErrorCode::Unknown { code, subcode },
        }
    }

    /// `(code, subcode)` as sent on the wire.
    pub fn to_raw(self) -> (u8, u8) {
        match self {
            ErrorCode::MessageHeader(s) => (1, s.into()),
            ErrorCode::OpenMessage(s) => (2, s.into()),
            ErrorCode::UpdateMessage(s) => (3, s.into()),
            ErrorCode::HoldTimerExpired(s) => (4, s),
            ErrorCode::FsmError(s) => (5, s.into()),
            ErrorCode::Cease(s) => (6, s.into()),
            ErrorCode::RouteRefresh(s) => (7, s.into()),
            ErrorCode::SendHoldTimerExpired(s) => (8, s),
            ErrorCode::Unknown { code, subcode } => (code, subcode),
        }
    }
}

/// Longest shutdown communication RFC 9003 allows (it raised RFC 8203's 128).
pub const MAX_SHUTDOWN_COMMUNICATION: usize = 255;

#[derive(Debug, Clone, PartialEq, Eq, Hash)]
pub struct NotificationMessage {
    pub code: ErrorCode,
    /// Raw data, kept verbatim so a received NOTIFICATION re-encodes exactly.
    pub data: Vec<u8>,
}

impl NotificationMessage {
    pub fn new(code: ErrorCode) -> Self {
        NotificationMessage {
            code,
            data: Vec::new(),
        }
    }

    pub fn with_data(code: ErrorCode, data: Vec<u8>) -> Self {
        NotificationMessage { code, data }
    }

    /// Cease with an RFC 8203/9003 shutdown communication. Only Administrative
    /// Shutdown and Administrative Reset carry one; the text is cut on a
    /// character boundary to 255 octets.
    pub fn cease(subcode: CeaseSubcode, communication: Option<&str>) -> Self {
        let mut data = Vec::new();
        if let (
            Some(text),
            CeaseSubcode::AdministrativeShutdown | CeaseSubcode::AdministrativeReset,
        ) = (communication, subcode)
        {
            let mut end = text.len().min(MAX_SHUTDOWN_COMMUNICATION);
            while !text.is_char_boundary(end) {
                end -= 1;
            }
            data.push(end as u8);
            data.extend_from_slice(&text.as_bytes()[..end]);
        }
        NotificationMessage {
            code: ErrorCode::Cease(subcode),
            data,
        }
    }

    /// The RFC 8203/9003 shutdown communication, if this is an Administrative
    /// Shutdown/Reset whose data is a well-formed length-prefixed UTF-8 string.
    pub fn shutdown_communication(&self) -> Option<&str> {
        match self.code {
            ErrorCode::Cease(CeaseSubcode::AdministrativeShutdown)
            | ErrorCode::Cease(CeaseSubcode::AdministrativeReset) => {}
            _ => return None,
        }
        let (&len, rest) = self.data.split_first()?;
        let text = rest.get(..len as usize)?;
        std::str::from_utf8(text).ok()
    }

    pub(crate) fn decode_body(body: &[u8]) -> Result<Self, DecodeError> {
        let mut r = Reader::new(body);
        // The header check already guarantees two octets; stay defensive.
        let code = r
            .u8()
            .map_err(|_| DecodeError::BadMessageLength(19 + body.len() as u16))?;
        let subcode = r
            .u8()
            .map_err(|_| DecodeError::BadMessageLength(19 + body.len() as u16))?;
        Ok(NotificationMessage {
            code: ErrorCode::from_raw(code, subcode),
            data: r.rest().to_vec(),
        })
    }

    pub(crate) fn encode_body(&self, out: &mut Vec<u8>) {
        let (code, subcode) = self.code.to_raw();
        out.push(code);
        out.push(subcode);
        out.extend_from_slice(&self.data);
    }
}

impl std::fmt::Display for NotificationMessage {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        let (code, subcode) = self.code.to_raw();
        write!(f, "{code}/{subcode} {:?}", self.code)?;
        if let Some(text) = self.shutdown_communication() {
            write!(f, " \"{}\"", text.escape_debug())?;
        }
        Ok(())
    }
}
