//! VRRPv3 ADVERTISEMENT representation (RFC 9568 §5): parse / emit / buffer_len.

use std::net::{IpAddr, Ipv4Addr, Ipv6Addr};

use crate::checksum::ChecksumContext;
use crate::error::DecodeError;
use crate::packet::{AddressFamily, Packet, HEADER_LEN, TYPE_ADVERTISEMENT};
use crate::timers::Centiseconds;

/// VRRP protocol version this crate speaks.
pub const VERSION_3: u8 = 3;

/// A decoded VRRPv3 ADVERTISEMENT.
///
/// `addresses` are all of one family (the family of the IP header the message
/// travelled in); [`Advertisement::parse`] guarantees that, and emitting a mixed
/// list produces a message no receiver can parse.
#[derive(Debug, Clone, PartialEq, Eq, Hash)]
pub struct Advertisement {
    /// Virtual Router Identifier (RFC 9568 §5.2.3).
    pub vrid: u8,
    /// Sender priority; 0 = the Master is resigning (§5.2.4).
    pub priority: u8,
    /// Max Advertise Interval, 12 bits (§5.2.7).
    pub max_adver_int: Centiseconds,
    /// The IPvX addresses of the Virtual Router (§5.2.9).
    pub addresses: Vec<IpAddr>,
}

impl Advertisement {
    /// Parses a VRRPv3 ADVERTISEMENT that arrived over `family`.
    ///
    /// Checks version, type and that the length is exactly the header plus
    /// `count` addresses. It does not verify the checksum (that needs the IP
    /// addresses: see [`Packet::verify_checksum`]) and accepts a zero count
    /// or interval, which the state machine rejects with its own counters.
    pub fn parse<T: AsRef<[u8]> + ?Sized>(
        packet: &Packet<&T>,
        family: AddressFamily,
    ) -> Result<Self, DecodeError> {
        packet.check_len()?;
        if packet.version() != VERSION_3 {
            return Err(DecodeError::Version {
                version: packet.version(),
            });
        }
        if packet.packet_type() != TYPE_ADVERTISEMENT {
            return Err(DecodeError::UnknownType {
                ty: packet.packet_type(),
            });
        }
        let count = usize::from(packet.address_count());
        let expected = HEADER_LEN + count * family.address_len();
        if packet.len() != expected {
            return Err(DecodeError::LengthMismatch {
                expected,
                actual: packet.len(),
            });
        }
        let addresses = match family {
            AddressFamily::Ipv4 => packet
                .body()
                .chunks_exact(4)
                .map(|c| IpAddr::V4(Ipv4Addr::new(c[0], c[1], c[2], c[3])))
                .collect(),
            AddressFamily::Ipv6 => packet
                .body()
                .chunks_exact(16)
                .map(|c| {
                    let mut octets = [0u8; 16];
                    octets.copy_from_slice(c);
                    IpAddr::V6(Ipv6Addr::from(octets))
                })
                .collect(),
        };
        Ok(Advertisement {
            vrid: packet.vrid(),
            priority: packet.priority(),
            max_adver_int: Centiseconds(packet.max_adver_int()),
            addresses,
        })
    }

    /// Parses raw bytes (convenience for `Packet::new_checked` + `parse`).
    pub fn parse_bytes(bytes: &[u8], family: AddressFamily) -> Result<Self, DecodeError> {
        Self::parse(&Packet::new_checked(bytes)?, family)
    }

    /// Length of the emitted message.
    pub fn buffer_len(&self) -> usize {
        HEADER_LEN
            + self
                .addresses
                .iter()
                .map(|a| AddressFamily::of(a).address_len())
                .sum::<usize>()
    }

    /// Writes the message into `packet` (at least `buffer_len()` bytes) and
    /// fills the checksum under `ctx`.
    ///
    /// The address count is truncated to 255 and the interval to 12 bits;
    /// [`crate::Config::validate`] rules both out for real instances.
    pub fn emit<T: AsRef<[u8]> + AsMut<[u8]>>(
        &self,
        packet: &mut Packet<T>,
        ctx: &ChecksumContext,
    ) {
        packet.set_version_type(VERSION_3, TYPE_ADVERTISEMENT);
        packet.set_vrid(self.vrid);
        packet.set_priority(self.priority);
        packet.set_address_count(u8::try_from(self.addresses.len()).unwrap_or(u8::MAX));
        packet.set_max_adver_int(self.max_adver_int.0);
        let body = packet.body_mut();
        let mut offset = 0;
        for addr in &self.addresses {
            match addr {
                IpAddr::V4(a) => {
                    body[offset..offset + 4].copy_from_slice(&a.octets());
                    offset += 4;
                }
                IpAddr::V6(a) => {
                    body[offset..offset + 16].copy_from_slice(&a.octets());
                    offset += 16;
                }
            }
        }
        packet.fill_checksum(ctx);
    }

    /// Emits into a fresh vector of exactly `buffer_len()` bytes.
    pub fn to_bytes(&self, ctx: &ChecksumContext) -> Vec<u8> {
        let mut buf = vec![0u8; self.buffer_len()];
        self.emit(&mut Packet::new_unchecked(&mut buf[..]), ctx);
        buf
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::checksum::ChecksumMode;

    // keepalived 2.2.7 vector F (IPv6, VRID 52).
    static VECTOR_F: [u8; 24] = [
        0x31, 0x34, 0xc8, 0x01, 0x00, 0x64, 0x45, 0x5d, 0x20, 0x01, 0x0d, 0xb8, 0x00, 0x00, 0x00,
        0x01, 0x00, 0x00, 0x00, 0x00, 0x00, 0x00, 0x01, 0x00,
    ];

    fn ctx_f() -> ChecksumContext {
        ChecksumContext {
            src: "fe80::bc97:c7ff:fee7:10b1".parse().unwrap(),
            dst: "ff02::12".parse().unwrap(),
            mode: ChecksumMode::Rfc9568,
        }
    }

    fn repr_f() -> Advertisement {
        Advertisement {
            vrid: 52,
            priority: 200,
            max_adver_int: Centiseconds(100),
            addresses: vec!["2001:db8:0:1::100".parse().unwrap()],
        }
    }

    #[test]
    fn test_parse() {
        let p = Packet::new_checked(&VECTOR_F[..]).unwrap();
        assert!(p.verify_checksum(&ctx_f()));
        assert_eq!(Advertisement::parse(&p, AddressFamily::Ipv6), Ok(repr_f()));
    }

    #[test]
    fn test_emit() {
        let repr = repr_f();
        assert_eq!(repr.buffer_len(), 24);
        assert_eq!(repr.to_bytes(&ctx_f()), VECTOR_F);
    }

    #[test]
    fn wrong_family_is_length_error() {
        assert_eq!(
            Advertisement::parse_bytes(&VECTOR_F, AddressFamily::Ipv4),
            Err(DecodeError::LengthMismatch {
                expected: 12,
                actual: 24
            })
        );
    }

    #[test]
    fn version_and_type_checked() {
        let mut v = VECTOR_F;
        v[0] = 0x21;
        assert_eq!(
            Advertisement::parse_bytes(&v, AddressFamily::Ipv6),
            Err(DecodeError::Version { version: 2 })
        );
        v[0] = 0x32;
        assert_eq!(
            Advertisement::parse_bytes(&v, AddressFamily::Ipv6),
            Err(DecodeError::UnknownType { ty: 2 })
        );
    }
}
