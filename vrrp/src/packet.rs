//! Zero-copy view over a VRRP message (the IP payload; the IP header belongs to
//! the kernel and the shell).
//!
//! RFC 9568 §5.1, VRRPv3:
//!
//! ```text
//!  0                   1                   2                   3
//!  0 1 2 3 4 5 6 7 8 9 0 1 2 3 4 5 6 7 8 9 0 1 2 3 4 5 6 7 8 9 0 1
//! +-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+
//! |Version| Type  | Virtual Rtr ID|   Priority    |Count IPvX Addr|
//! +-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+
//! |(rsvd) |     Max Adver Int     |          Checksum             |
//! +-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+
//! |                                                               |
//! +                                                               +
//! |                       IPvX Address(es)                        |
//! +                                                               +
//! |                                                               |
//! +-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+
//! ```
//!
//! VRRPv2 (RFC 3768 §5.1) shares the first word and the checksum position;
//! its second word is `Auth Type | Adver Int (seconds) | Checksum` and 8 bytes
//! of authentication data follow the addresses.
//!
//! As in smoltcp: [`Packet::new_checked`] guarantees that no accessor panics;
//! the representation types ([`crate::Advertisement`],
//! [`crate::AdvertisementV2`]) do the semantic checks.

use crate::checksum::{self, ChecksumContext};
use crate::error::DecodeError;

/// Byte offsets of the header fields.
mod field {
    use std::ops::Range;

    pub const VER_TYPE: usize = 0;
    pub const VRID: usize = 1;
    pub const PRIORITY: usize = 2;
    pub const COUNT: usize = 3;
    /// v3: 4 reserved bits and the 12-bit Max Adver Int.
    pub const MAX_ADVER_INT: Range<usize> = 4..6;
    /// v2: Auth Type.
    pub const AUTH_TYPE: usize = 4;
    /// v2: Adver Int in seconds.
    pub const ADVER_INT_V2: usize = 5;
    pub const CHECKSUM: Range<usize> = 6..8;
    pub const ADDRESSES: usize = 8;
}

/// Length of the fixed header common to VRRPv2 and VRRPv3.
pub const HEADER_LEN: usize = field::ADDRESSES;

/// Packet type 1, the only one defined (RFC 9568 §5.2.2).
pub const TYPE_ADVERTISEMENT: u8 = 1;

/// Address family of a Virtual Router, from the IP header the message came in.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum AddressFamily {
    /// VRRP over IPv4.
    Ipv4,
    /// VRRP over IPv6.
    Ipv6,
}

impl AddressFamily {
    /// Size of one address in the address list.
    pub const fn address_len(self) -> usize {
        match self {
            AddressFamily::Ipv4 => 4,
            AddressFamily::Ipv6 => 16,
        }
    }

    /// The family of `addr`.
    pub fn of(addr: &std::net::IpAddr) -> Self {
        match addr {
            std::net::IpAddr::V4(_) => AddressFamily::Ipv4,
            std::net::IpAddr::V6(_) => AddressFamily::Ipv6,
        }
    }
}

/// A read/write view over a VRRP message.
#[derive(Debug, Clone)]
pub struct Packet<T: AsRef<[u8]>> {
    buffer: T,
}

impl<T: AsRef<[u8]>> Packet<T> {
    /// Wraps a buffer without checking it. Use for emission into a buffer of
    /// at least [`crate::Advertisement::buffer_len`] bytes.
    pub const fn new_unchecked(buffer: T) -> Self {
        Packet { buffer }
    }

    /// Wraps a buffer after checking that the fixed header is present, so no
    /// accessor can panic.
    pub fn new_checked(buffer: T) -> Result<Self, DecodeError> {
        let packet = Self::new_unchecked(buffer);
        packet.check_len()?;
        Ok(packet)
    }

    /// Checks that the fixed header fits.
    pub fn check_len(&self) -> Result<(), DecodeError> {
        let len = self.buffer.as_ref().len();
        if len < HEADER_LEN {
            Err(DecodeError::TooShort { len })
        } else {
            Ok(())
        }
    }

    /// Consumes the view and returns the buffer.
    pub fn into_inner(self) -> T {
        self.buffer
    }

    /// Length of the whole message.
    pub fn len(&self) -> usize {
        self.buffer.as_ref().len()
    }

    /// Whether the buffer is empty (never true after `new_checked`).
    pub fn is_empty(&self) -> bool {
        self.buffer.as_ref().is_empty()
    }

    /// Version nibble.
    pub fn version(&self) -> u8 {
        self.buffer.as_ref()[field::VER_TYPE] >> 4
    }

    /// Type nibble.
    pub fn packet_type(&self) -> u8 {
        self.buffer.as_ref()[field::VER_TYPE] & 0x0f
    }

    /// Virtual Router Identifier.
    pub fn vrid(&self) -> u8 {
        self.buffer.as_ref()[field::VRID]
    }

    /// Priority of the sender.
    pub fn priority(&self) -> u8 {
        self.buffer.as_ref()[field::PRIORITY]
    }

    /// Count IPvX Addr.
    pub fn address_count(&self) -> u8 {
        self.buffer.as_ref()[field::COUNT]
    }

    /// v3: the 12-bit Max Adver Int in centiseconds (the reserved bits are
    /// ignored, RFC 9568 §5.2.6).
    pub fn max_adver_int(&self) -> u16 {
        let b = &self.buffer.as_ref()[field::MAX_ADVER_INT];
        u16::from_be_bytes([b[0], b[1]]) & 0x0fff
    }

    /// v3: the 4 reserved bits.
    pub fn reserved(&self) -> u8 {
        self.buffer.as_ref()[field::MAX_ADVER_INT.start] >> 4
    }

    /// v2: Auth Type.
    pub fn auth_type(&self) -> u8 {
        self.buffer.as_ref()[field::AUTH_TYPE]
    }

    /// v2: Adver Int in seconds.
    pub fn adver_int_v2(&self) -> u8 {
        self.buffer.as_ref()[field::ADVER_INT_V2]
    }

    /// Checksum field.
    pub fn checksum(&self) -> u16 {
        let b = &self.buffer.as_ref()[field::CHECKSUM];
        u16::from_be_bytes([b[0], b[1]])
    }

    /// Everything after the fixed header: addresses (and v2 auth data).
    pub fn body(&self) -> &[u8] {
        &self.buffer.as_ref()[field::ADDRESSES..]
    }

    /// Verifies a VRRPv3 checksum under `ctx`.
    pub fn verify_checksum(&self, ctx: &ChecksumContext) -> bool {
        checksum::verify(ctx, self.buffer.as_ref())
    }

    /// Verifies a VRRPv2 checksum (message only, RFC 3768 §5.3.8).
    pub fn verify_checksum_v2(&self) -> bool {
        checksum::verify_plain(self.buffer.as_ref())
    }
}

impl<T: AsRef<[u8]> + AsMut<[u8]>> Packet<T> {
    /// Sets version and type.
    pub fn set_version_type(&mut self, version: u8, ty: u8) {
        self.buffer.as_mut()[field::VER_TYPE] = (version << 4) | (ty & 0x0f);
    }

    /// Sets the VRID.
    pub fn set_vrid(&mut self, vrid: u8) {
        self.buffer.as_mut()[field::VRID] = vrid;
    }

    /// Sets the priority.
    pub fn set_priority(&mut self, priority: u8) {
        self.buffer.as_mut()[field::PRIORITY] = priority;
    }

    /// Sets Count IPvX Addr.
    pub fn set_address_count(&mut self, count: u8) {
        self.buffer.as_mut()[field::COUNT] = count;
    }

    /// v3: sets Max Adver Int and zeroes the reserved bits (RFC 9568 §5.2.6:
    /// "MUST be set to zero on transmission").
    pub fn set_max_adver_int(&mut self, centiseconds: u16) {
        let v = (centiseconds & 0x0fff).to_be_bytes();
        self.buffer.as_mut()[field::MAX_ADVER_INT].copy_from_slice(&v);
    }

    /// v2: sets Auth Type.
    pub fn set_auth_type(&mut self, auth_type: u8) {
        self.buffer.as_mut()[field::AUTH_TYPE] = auth_type;
    }

    /// v2: sets Adver Int (seconds).
    pub fn set_adver_int_v2(&mut self, seconds: u8) {
        self.buffer.as_mut()[field::ADVER_INT_V2] = seconds;
    }

    /// Sets the checksum field.
    pub fn set_checksum(&mut self, value: u16) {
        self.buffer.as_mut()[field::CHECKSUM].copy_from_slice(&value.to_be_bytes());
    }

    /// Mutable access to everything after the fixed header.
    pub fn body_mut(&mut self) -> &mut [u8] {
        &mut self.buffer.as_mut()[field::ADDRESSES..]
    }

    /// Computes and writes a VRRPv3 checksum under `ctx`.
    pub fn fill_checksum(&mut self, ctx: &ChecksumContext) {
        self.set_checksum(0);
        let value = checksum::compute(ctx, self.buffer.as_ref());
        self.set_checksum(value);
    }

    /// Computes and writes a VRRPv2 checksum.
    pub fn fill_checksum_v2(&mut self) {
        self.set_checksum(0);
        let value = checksum::compute_plain(self.buffer.as_ref());
        self.set_checksum(value);
    }
}

/// Reads the VRID of a raw message, so the shell can pick the instance. `None`
/// means the buffer is too short to hold even the VRID (2 bytes).
pub fn peek_vrid(bytes: &[u8]) -> Option<u8> {
    // A message cut short still names its Virtual Router once the VRID byte
    // is there: it goes to that instance, which counts it in its
    // vrrpv3StatisticsPacketLengthErrors. Only a message without a VRID is
    // the shell's to count.
    bytes.get(field::VRID).copied()
}

#[cfg(test)]
mod tests {
    use super::*;

    // keepalived 2.2.7 vector C (10 cs).
    static VECTOR_C: [u8; 12] = [
        0x31, 0x33, 0xc8, 0x01, 0x00, 0x0a, 0x99, 0xa7, 0xc6, 0x12, 0x00, 0x64,
    ];

    #[test]
    fn test_deconstruct() {
        let p = Packet::new_checked(&VECTOR_C[..]).unwrap();
        assert_eq!(p.version(), 3);
        assert_eq!(p.packet_type(), 1);
        assert_eq!(p.vrid(), 51);
        assert_eq!(p.priority(), 200);
        assert_eq!(p.address_count(), 1);
        assert_eq!(p.max_adver_int(), 10);
        assert_eq!(p.reserved(), 0);
        assert_eq!(p.checksum(), 0x99a7);
        assert_eq!(p.body(), &[198, 18, 0, 100]);
    }

    #[test]
    fn test_construct() {
        let mut buf = [0xffu8; 12];
        let mut p = Packet::new_unchecked(&mut buf[..]);
        p.set_version_type(3, 1);
        p.set_vrid(51);
        p.set_priority(200);
        p.set_address_count(1);
        p.set_max_adver_int(10);
        p.set_checksum(0x99a7);
        p.body_mut().copy_from_slice(&[198, 18, 0, 100]);
        assert_eq!(buf, VECTOR_C);
    }

    #[test]
    fn reserved_bits_ignored() {
        let mut buf = VECTOR_C;
        buf[4] |= 0xf0;
        let p = Packet::new_checked(&buf[..]).unwrap();
        assert_eq!(p.reserved(), 0xf);
        assert_eq!(p.max_adver_int(), 10);
    }

    #[test]
    fn short_buffers_are_typed_errors() {
        for len in 0..HEADER_LEN {
            assert_eq!(
                Packet::new_checked(&VECTOR_C[..len]).err(),
                Some(DecodeError::TooShort { len })
            );
            let named = (len > field::VRID).then_some(51);
            assert_eq!(peek_vrid(&VECTOR_C[..len]), named);
        }
        assert_eq!(peek_vrid(&VECTOR_C), Some(51));
    }
}
