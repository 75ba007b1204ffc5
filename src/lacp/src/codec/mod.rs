//! The Slow Protocols PDUs LACP uses (IEEE 802.1AX-2014 §6.4.2 and §6.5.3): the LACPDU
//! (subtype 1) and the Marker PDUs (subtype 2), and the Ethernet frame around them.
//!
//! Every decoder here takes untrusted bytes: it returns a typed [`DecodeError`] and never
//! panics. Decoding is lossless: a decoded PDU re-encodes to exactly the bytes it came from
//! (for version 1 the 110 bytes of the PDU; a longer buffer's tail is frame padding and not
//! part of it), because the fields the standard tells a receiver not to check are kept.
//!
//! [`DecodeError`]: crate::error::DecodeError

pub mod frame;
pub mod lacpdu;
pub mod marker;
pub mod state;

/// The Slow Protocols EtherType (IEEE 802.3 Annex 57A).
pub const SLOW_PROTOCOLS_ETHERTYPE: u16 = 0x8809;

/// The Slow_Protocols_Multicast group address every LACPDU and Marker PDU is sent to.
pub const SLOW_PROTOCOLS_MULTICAST: MacAddr = MacAddr([0x01, 0x80, 0xc2, 0x00, 0x00, 0x02]);

/// Protocol Subtype of an LACPDU.
pub const SUBTYPE_LACP: u8 = 1;
/// Protocol Subtype of a Marker or Marker Response PDU.
pub const SUBTYPE_MARKER: u8 = 2;

/// Both PDUs are 110 octets after the EtherType: 124 with the Ethernet header, 128 on the
/// wire with the FCS (the Slow Protocols maximum, Annex 57A).
pub const PDU_LEN: usize = 110;

/// A 48-bit IEEE MAC address.
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Hash, Default)]
pub struct MacAddr(pub [u8; 6]);

impl MacAddr {
    /// The all-zero address a defaulted partner has.
    pub const ZERO: MacAddr = MacAddr([0; 6]);

    /// The I/G bit: set for group (multicast) addresses, which cannot name a system.
    pub fn is_multicast(&self) -> bool {
        self.0[0] & 1 == 1
    }
}

impl std::fmt::Display for MacAddr {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        let m = self.0;
        write!(
            f,
            "{:02x}:{:02x}:{:02x}:{:02x}:{:02x}:{:02x}",
            m[0], m[1], m[2], m[3], m[4], m[5]
        )
    }
}

/// A System Identifier (§6.3.2): a priority and a MAC address; the lower pair is the
/// higher priority when two systems compare.
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Hash, Default)]
pub struct SystemId {
    /// System_Priority: numerically lower is more important.
    pub priority: u16,
    /// The system's MAC address.
    pub mac: MacAddr,
}

/// Big-endian field readers over a slice whose length the caller already checked.
pub(crate) fn be16(b: &[u8], at: usize) -> u16 {
    u16::from_be_bytes([b[at], b[at + 1]])
}

pub(crate) fn be32(b: &[u8], at: usize) -> u32 {
    u32::from_be_bytes([b[at], b[at + 1], b[at + 2], b[at + 3]])
}

pub(crate) fn mac(b: &[u8], at: usize) -> MacAddr {
    let mut m = [0; 6];
    m.copy_from_slice(&b[at..at + 6]);
    MacAddr(m)
}
