//! Errors: decoding, encoding, configuration, and why a received packet was discarded.

use thiserror::Error;

/// Why bytes are not a Control packet this implementation can read (RFC 5880 §6.8.6's
/// version and length rules, and the Authentication Section's shape).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Error)]
pub enum DecodeError {
    /// Too short to hold the fields the checks read.
    #[error("{len} bytes are too few for a BFD Control packet")]
    Truncated {
        /// Bytes received.
        len: usize,
    },
    /// "If the version number is not correct (1), the packet MUST be discarded."
    #[error("BFD version {version}, not 1")]
    Version {
        /// The version received.
        version: u8,
    },
    /// "If the Length field is less than the minimum correct value (24 if the A bit is clear,
    /// or 26 if the A bit is set), the packet MUST be discarded."
    #[error("Length {length} is below the minimum of {min}")]
    LengthTooSmall {
        /// The Length field.
        length: usize,
        /// 24 or 26.
        min: usize,
    },
    /// "If the Length field is greater than the payload of the encapsulating protocol, the
    /// packet MUST be discarded."
    #[error("Length {length} exceeds the {payload}-byte payload")]
    LengthExceedsPayload {
        /// The Length field.
        length: usize,
        /// Bytes of the UDP payload.
        payload: usize,
    },
    /// The Authentication Section does not fit in Length or its Auth Len is not the one its
    /// type prescribes (§6.7.2: 4 to 19, §6.7.3: 24, §6.7.4: 28).
    #[error("Auth Len {auth_len} is wrong for Auth Type {auth_type}")]
    AuthLength {
        /// Auth Type.
        auth_type: u8,
        /// Auth Len.
        auth_len: usize,
    },
}

/// A packet value that cannot be put on the wire.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Error)]
pub enum EncodeError {
    /// Length is one octet.
    #[error("a packet of {length} bytes does not fit the Length field")]
    TooLong {
        /// The length it would have.
        length: usize,
    },
    /// §4.2: "The password ... MUST be from 1 to 16 bytes in length."
    #[error("a simple password must be 1 to 16 bytes, not {len}")]
    Password {
        /// Its length.
        len: usize,
    },
}

/// A session configuration the state machine refuses.
#[derive(Debug, Clone, PartialEq, Eq, Error)]
pub enum ConfigError {
    /// §6.8.1: bfd.DetectMult "MUST be a nonzero integer".
    #[error("the detection multiplier must be at least 1")]
    DetectMult,
    /// The intervals are 32-bit microsecond counts on the wire, and zero would mean
    /// "never" (Desired Min TX) or "do not send to me" (Required Min RX).
    #[error("intervals must be 1 µs to 4294 s")]
    Interval,
    /// §6.8.1: bfd.LocalDiscr "MUST be unique across all BFD sessions on this system, and
    /// nonzero".
    #[error("the local discriminator must be nonzero")]
    Discriminator,
    /// The key does not fit the authentication type (§4.2, §6.7.3, §6.7.4).
    #[error("a {auth_type} key must be 1 to {max} bytes")]
    KeyLength {
        /// The type's name.
        auth_type: &'static str,
        /// Its longest key.
        max: usize,
    },
}

/// Why a received datagram was discarded: one variant per rule, so each is counted on its own
/// ([`crate::Statistics::discards`]).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, PartialOrd, Ord, Error)]
pub enum Discard {
    /// RFC 5881 §5: single-hop packets are sent with TTL / Hop Limit 255 and "all received
    /// BFD Control packets MUST be discarded if the received TTL or Hop Limit is not equal
    /// to 255" (GTSM).
    #[error("TTL / hop limit not 255")]
    Ttl,
    /// Fewer bytes than the checks need.
    #[error("truncated")]
    Truncated,
    /// Version not 1.
    #[error("version not 1")]
    Version,
    /// Length below 24 (26 with the A bit).
    #[error("Length below the minimum")]
    LengthTooSmall,
    /// Length beyond the UDP payload.
    #[error("Length beyond the payload")]
    LengthExceedsPayload,
    /// "If the Detect Mult field is zero, the packet MUST be discarded."
    #[error("Detect Mult is zero")]
    DetectMultZero,
    /// "If the Multipoint (M) bit is nonzero, the packet MUST be discarded."
    #[error("Multipoint bit set")]
    Multipoint,
    /// "If the My Discriminator field is zero, the packet MUST be discarded."
    #[error("My Discriminator is zero")]
    MyDiscriminatorZero,
    /// "If the Your Discriminator field is nonzero, it MUST be used to select the session
    /// ... If no session is found, the packet MUST be discarded."
    #[error("Your Discriminator matches no session")]
    YourDiscriminatorUnknown,
    /// "If the Your Discriminator field is zero and the State field is not Down or AdminDown,
    /// the packet MUST be discarded."
    #[error("Your Discriminator is zero in state Init or Up")]
    YourDiscriminatorZero,
    /// No session for the source (a packet with Your Discriminator zero from an address no
    /// session is configured for).
    #[error("no session for this peer")]
    NoSession,
    /// "If the A bit is set and no authentication is in use (bfd.AuthType is zero), the
    /// packet MUST be discarded."
    #[error("authenticated packet, session without authentication")]
    AuthUnexpected,
    /// "If the A bit is clear and authentication is in use (bfd.AuthType is nonzero), the
    /// packet MUST be discarded."
    #[error("unauthenticated packet, session with authentication")]
    AuthMissing,
    /// The Authentication Section's length is wrong for its type.
    #[error("malformed Authentication Section")]
    AuthLength,
    /// §6.7.2-6.7.4: the Auth Type is not the session's.
    #[error("Auth Type is not the session's")]
    AuthType,
    /// §6.7.2-6.7.4: "If the Auth Key ID field does not match the ID of a configured
    /// password/key, the received packet MUST be discarded."
    #[error("unknown Auth Key ID")]
    AuthKeyId,
    /// §6.7.3, §6.7.4: the sequence number is outside the window (a replay, or too far
    /// ahead).
    #[error("authentication sequence number outside the window")]
    AuthSequence,
    /// The password or the digest does not match.
    #[error("password or digest does not match")]
    AuthFailed,
    /// "If bfd.SessionState is AdminDown: Discard the packet."
    #[error("session is AdminDown")]
    AdminDown,
}

impl Discard {
    /// Every reason, in declaration order (for tables and metrics).
    pub const ALL: [Discard; 19] = [
        Discard::Ttl,
        Discard::Truncated,
        Discard::Version,
        Discard::LengthTooSmall,
        Discard::LengthExceedsPayload,
        Discard::DetectMultZero,
        Discard::Multipoint,
        Discard::MyDiscriminatorZero,
        Discard::YourDiscriminatorUnknown,
        Discard::YourDiscriminatorZero,
        Discard::NoSession,
        Discard::AuthUnexpected,
        Discard::AuthMissing,
        Discard::AuthLength,
        Discard::AuthType,
        Discard::AuthKeyId,
        Discard::AuthSequence,
        Discard::AuthFailed,
        Discard::AdminDown,
    ];

    /// A stable snake_case name (metrics label, JSON key).
    pub fn as_str(self) -> &'static str {
        match self {
            Discard::Ttl => "ttl",
            Discard::Truncated => "truncated",
            Discard::Version => "version",
            Discard::LengthTooSmall => "length_too_small",
            Discard::LengthExceedsPayload => "length_exceeds_payload",
            Discard::DetectMultZero => "detect_mult_zero",
            Discard::Multipoint => "multipoint",
            Discard::MyDiscriminatorZero => "my_discriminator_zero",
            Discard::YourDiscriminatorUnknown => "your_discriminator_unknown",
            Discard::YourDiscriminatorZero => "your_discriminator_zero",
            Discard::NoSession => "no_session",
            Discard::AuthUnexpected => "auth_unexpected",
            Discard::AuthMissing => "auth_missing",
            Discard::AuthLength => "auth_length",
            Discard::AuthType => "auth_type",
            Discard::AuthKeyId => "auth_key_id",
            Discard::AuthSequence => "auth_sequence",
            Discard::AuthFailed => "auth_failed",
            Discard::AdminDown => "admin_down",
        }
    }
}

impl From<DecodeError> for Discard {
    fn from(e: DecodeError) -> Discard {
        match e {
            DecodeError::Truncated { .. } => Discard::Truncated,
            DecodeError::Version { .. } => Discard::Version,
            DecodeError::LengthTooSmall { .. } => Discard::LengthTooSmall,
            DecodeError::LengthExceedsPayload { .. } => Discard::LengthExceedsPayload,
            DecodeError::AuthLength { .. } => Discard::AuthLength,
        }
    }
}
