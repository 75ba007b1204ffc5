//! Typed errors: what a received frame was wrong with, and what a configuration lacks.

use crate::codec::MacAddr;

/// Why received octets are not a PDU this crate acts on.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum DecodeError {
    /// Fewer octets than the PDU's fixed size.
    #[error("truncated: {len} octets, need {need}")]
    Truncated {
        /// Octets present.
        len: usize,
        /// Octets needed.
        need: usize,
    },
    /// Not the Slow Protocols EtherType.
    #[error("EtherType {0:#06x} is not Slow Protocols (0x8809)")]
    NotSlowProtocols(u16),
    /// Slow Protocols EtherType to an address other than Slow_Protocols_Multicast.
    #[error("destination {0} is not the Slow_Protocols_Multicast address")]
    WrongDestination(MacAddr),
    /// A Slow Protocol (subtype 3 to 10: OAM, OSSP, ...) this crate does not speak.
    #[error("Slow Protocols subtype {0} is not LACP or Marker")]
    UnknownSubtype(u8),
    /// Subtype 0 or above 10: no Slow Protocol has it.
    #[error("illegal Slow Protocols subtype {0}")]
    IllegalSubtype(u8),
    /// A PDU decoder was handed another subtype.
    #[error("subtype {0} where this PDU's subtype was expected")]
    WrongSubtype(u8),
    /// Version Number 0.
    #[error("version {0}")]
    BadVersion(u8),
    /// An information TLV whose length is not the standard's.
    #[error("{tlv} TLV length {len}, want {want}")]
    BadTlvLength {
        /// Which TLV.
        tlv: &'static str,
        /// The length received.
        len: u8,
        /// The length the standard gives.
        want: u8,
    },
    /// A Marker PDU whose TLV is neither Marker Information nor Marker Response.
    #[error("Marker PDU TLV type {0}")]
    UnknownMarkerTlv(u8),
}

/// The receive statistic (IEEE 802.1AX-2014 §7.3.3.1) a discarded frame counts in.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum RxCounter {
    /// aAggPortStatsUnknownRx: "frames received that either carry the Slow Protocols
    /// Ethernet Type value, but contain an unknown PDU, or are addressed to the Slow
    /// Protocols group MAC Address, but do not carry the Slow Protocols Ethernet Type".
    Unknown,
    /// aAggPortStatsIllegalRx: "frames received that carry the Slow Protocols Ethernet Type
    /// value, but contain a badly formed PDU or an illegal value of Protocol Subtype".
    Illegal,
}

impl DecodeError {
    /// Which statistic the frame counts in.
    pub fn counter(&self) -> RxCounter {
        match self {
            DecodeError::NotSlowProtocols(_) | DecodeError::UnknownSubtype(_) => RxCounter::Unknown,
            _ => RxCounter::Illegal,
        }
    }
}

/// A bond or port configuration the machines cannot run with.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum ConfigError {
    /// A bond needs at least one port.
    #[error("a bond needs at least one member port")]
    NoPorts,
    /// Port number 0: several switches reject it, and it is the defaulted partner's port.
    #[error("port number 0 is not allowed; number ports from 1")]
    ZeroPortNumber,
    /// Two ports of one bond with the same port number.
    #[error("port number {0} is used twice; each member needs its own")]
    DuplicatePortNumber(u16),
    /// A system MAC that is zero or a group address cannot identify a system.
    #[error("system MAC {0} is zero or a group address; use the bond's unicast MAC")]
    BadSystemMac(MacAddr),
    /// min_links above the number of members: the bond could never come up.
    #[error("min_links {min_links} exceeds the {ports} member ports; the bond could never carry traffic")]
    MinLinksAboveMembers {
        /// The configured minimum.
        min_links: usize,
        /// The number of member ports.
        ports: usize,
    },
    /// A port MAC that is a group address cannot be a frame's source.
    #[error("port MAC {0} is a group address")]
    BadPortMac(MacAddr),
}
