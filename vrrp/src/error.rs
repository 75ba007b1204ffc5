//! Error types: wire decoding, configuration, and received-packet validation.

use std::net::IpAddr;

use thiserror::Error;

/// Why a byte buffer is not a well-formed VRRP message.
///
/// Each variant maps to one RFC 6527 counter (see
/// [`crate::statistics::Statistics::record_rx_error`]).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Error)]
pub enum DecodeError {
    /// Shorter than the fixed 8-byte header.
    #[error("packet of {len} bytes is shorter than the VRRP header")]
    TooShort {
        /// Length of the buffer.
        len: usize,
    },
    /// The length does not match the address count (plus authentication data
    /// for VRRPv2).
    #[error(
        "packet length {actual} does not match the {expected} bytes its address count implies"
    )]
    LengthMismatch {
        /// Length implied by the header.
        expected: usize,
        /// Length of the buffer.
        actual: usize,
    },
    /// The version nibble is not the one the decoder handles.
    #[error("unsupported VRRP version {version}")]
    Version {
        /// The received version nibble.
        version: u8,
    },
    /// RFC 9568 §5.2.2: "A packet with unknown type MUST be discarded."
    #[error("VRRP packet type {ty} is not ADVERTISEMENT")]
    UnknownType {
        /// The received type nibble.
        ty: u8,
    },
    /// VRRPv2 carries IPv4 addresses only.
    #[error("VRRPv2 is defined for IPv4 only")]
    V2OverIpv6,
}

/// A configuration that the state machine refuses to run.
#[derive(Debug, Clone, PartialEq, Eq, Error)]
pub enum ConfigError {
    /// RFC 9568 §5.2.3: VRID is 1-255.
    #[error("VRID must be 1..=255")]
    InvalidVrid,
    /// RFC 9568 §5.2.4: 0 is reserved for resignation.
    #[error("priority must be 1..=255 (0 is reserved for a resigning master)")]
    InvalidPriority,
    /// RFC 9568 §5.2.7: 12-bit centiseconds, and zero is invalid.
    #[error("advertisement interval must be 1..=4095 centiseconds, got {0}")]
    InvalidInterval(u16),
    /// RFC 9568 §5.2.5: at least one address per Virtual Router.
    #[error("at least one virtual address is required")]
    NoVirtualAddresses,
    /// RFC 9568 §5.2.5 counts addresses in one octet.
    #[error("at most 255 virtual addresses fit in an advertisement, got {0}")]
    TooManyVirtualAddresses(usize),
    /// RFC 9568 §5.2.9: one address family per Virtual Router.
    #[error("address {0} is not in the family of the primary address")]
    FamilyMismatch(IpAddr),
    /// A relaxed TTL check only makes sense for routed unicast peers.
    #[error("a relaxed TTL/hop-limit check requires unicast peers")]
    RelaxedTtlWithoutUnicast,
    /// [`crate::Instance::reconfigure`]: this change cannot be made to a
    /// running Virtual Router (another VRID is another Virtual Router).
    #[error("changing the {0} needs a new instance")]
    NotInPlace(&'static str),
    /// `min > max` in a TTL range.
    #[error("TTL range {min}..={max} is empty")]
    EmptyTtlRange {
        /// Lower bound.
        min: u8,
        /// Upper bound.
        max: u8,
    },
}

/// Why a received advertisement was discarded (RFC 9568 §7.1).
#[derive(Debug, Clone, PartialEq, Eq, Error)]
pub enum RxError {
    /// §5.1.1.3 / §5.1.2.3: TTL / Hop Limit not 255 (or outside the configured
    /// unicast range).
    #[error("TTL/hop limit {ttl} rejected")]
    Ttl {
        /// The received TTL or hop limit.
        ttl: u8,
    },
    /// Malformed or truncated message, wrong version (§7.1: "It MUST verify
    /// that the VRRP version is 3.") or unknown type.
    #[error(transparent)]
    Decode(DecodeError),
    /// §7.1: "It MUST verify the VRRP checksum."
    #[error("bad checksum 0x{received:04x}")]
    Checksum {
        /// Checksum in the packet.
        received: u16,
    },
    /// §7.1: "It MUST verify that the VRID is configured on the receiving interface."
    #[error("VRID {vrid} is not this instance's")]
    Vrid {
        /// The received VRID.
        vrid: u8,
    },
    /// Erratum 8301: "It MUST verify that the Max Advertise Interval is non zero."
    #[error("Max Advertise Interval is zero")]
    ZeroInterval,
    /// Erratum 8299: "If the received count is 0, the VRRP advertisement MUST be ignored."
    #[error("address count is zero")]
    NoAddresses,
    /// The address list differs and the instance is configured to drop such
    /// adverts (RFC 9568 only asks to log it).
    #[error("address list does not match the configured virtual addresses")]
    AddressList,
    /// The source is not an address family this instance runs.
    #[error("source {0} is not in the instance's address family")]
    Family(IpAddr),
    /// The source is not a unicast address (0.0.0.0, 255.255.255.255,
    /// multicast, ::): no router sends from it (RFC 9568 §5.1.1.1 / §5.1.2.1:
    /// the source is the sending interface's primary or link-local address),
    /// and following it would make an address nobody owns the Master.
    #[error("source {0} is not a unicast address")]
    InvalidSource(IpAddr),
    /// §7.1: "It MUST verify that the IP destination address is the VRRP
    /// multicast group" (unless unicast peers are configured): an advert
    /// unicast to us on a multicast instance was not meant for this segment's
    /// Virtual Router.
    #[error("destination {0} is not the VRRP multicast group")]
    Destination(IpAddr),
    /// Unicast instance with source checking: the sender is not a configured peer.
    #[error("source {0} is not a configured unicast peer")]
    UnknownSource(IpAddr),
}
