//! VRRPv2 (RFC 3768) decoding, for logging and interop diagnostics only.
//!
//! keepalived defaults to version 2 for IPv4, so the most common interop
//! failure is a v2 peer on a v3 segment. The state machine never acts on a v2
//! advert; it decodes it so the event can say exactly what the peer sent.
//!
//! RFC 3768 §5.1:
//!
//! ```text
//!  0                   1                   2                   3
//!  0 1 2 3 4 5 6 7 8 9 0 1 2 3 4 5 6 7 8 9 0 1 2 3 4 5 6 7 8 9 0 1
//! +-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+
//! |Version| Type  | Virtual Rtr ID|   Priority    | Count IP Addrs|
//! +-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+
//! |   Auth Type   |   Adver Int   |          Checksum             |
//! +-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+
//! |                         IP Address (1)                        |
//! +-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+
//! |                            .                                  |
//! +-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+
//! |                     Authentication Data (1)                   |
//! +-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+
//! |                     Authentication Data (2)                   |
//! +-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+
//! ```

use std::net::Ipv4Addr;

use crate::error::DecodeError;
use crate::packet::{Packet, HEADER_LEN, TYPE_ADVERTISEMENT};

/// VRRPv2 version nibble.
pub const VERSION_2: u8 = 2;

/// Length of the trailing authentication data.
pub const AUTH_DATA_LEN: usize = 8;

/// VRRPv2 Auth Type (RFC 2338 §5.3.6; RFC 3768 deprecated all but 0).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum AuthType {
    /// 0: no authentication.
    None,
    /// 1: simple text password (keepalived `auth_type PASS`).
    SimpleText,
    /// 2: IP Authentication Header (keepalived `auth_type AH`).
    IpAuthHeader,
    /// Any other value.
    Unknown(u8),
}

impl From<u8> for AuthType {
    fn from(v: u8) -> Self {
        match v {
            0 => AuthType::None,
            1 => AuthType::SimpleText,
            2 => AuthType::IpAuthHeader,
            other => AuthType::Unknown(other),
        }
    }
}

impl From<AuthType> for u8 {
    fn from(v: AuthType) -> Self {
        match v {
            AuthType::None => 0,
            AuthType::SimpleText => 1,
            AuthType::IpAuthHeader => 2,
            AuthType::Unknown(other) => other,
        }
    }
}

/// A decoded VRRPv2 ADVERTISEMENT.
#[derive(Debug, Clone, PartialEq, Eq, Hash)]
pub struct AdvertisementV2 {
    /// Virtual Router Identifier.
    pub vrid: u8,
    /// Sender priority.
    pub priority: u8,
    /// Authentication type.
    pub auth_type: AuthType,
    /// Advertisement interval in whole seconds.
    pub adver_int: u8,
    /// IPv4 addresses.
    pub addresses: Vec<Ipv4Addr>,
    /// Authentication data (a PASS password in clear text; handle with care in logs).
    pub auth_data: [u8; AUTH_DATA_LEN],
}

impl AdvertisementV2 {
    /// Parses a VRRPv2 ADVERTISEMENT (checksum not verified; see
    /// [`Packet::verify_checksum_v2`]).
    pub fn parse<T: AsRef<[u8]> + ?Sized>(packet: &Packet<&T>) -> Result<Self, DecodeError> {
        packet.check_len()?;
        if packet.version() != VERSION_2 {
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
        let expected = HEADER_LEN + count * 4 + AUTH_DATA_LEN;
        if packet.len() != expected {
            return Err(DecodeError::LengthMismatch {
                expected,
                actual: packet.len(),
            });
        }
        let body = packet.body();
        let (addrs, auth) = body.split_at(count * 4);
        let mut auth_data = [0u8; AUTH_DATA_LEN];
        auth_data.copy_from_slice(auth);
        Ok(AdvertisementV2 {
            vrid: packet.vrid(),
            priority: packet.priority(),
            auth_type: packet.auth_type().into(),
            adver_int: packet.adver_int_v2(),
            addresses: addrs
                .chunks_exact(4)
                .map(|c| Ipv4Addr::new(c[0], c[1], c[2], c[3]))
                .collect(),
            auth_data,
        })
    }

    /// Parses raw bytes.
    pub fn parse_bytes(bytes: &[u8]) -> Result<Self, DecodeError> {
        Self::parse(&Packet::new_checked(bytes)?)
    }

    /// Length of the emitted message.
    pub fn buffer_len(&self) -> usize {
        HEADER_LEN + self.addresses.len() * 4 + AUTH_DATA_LEN
    }

    /// Writes the message and its checksum (used by tests and by tools that
    /// reproduce a peer's frame).
    pub fn emit<T: AsRef<[u8]> + AsMut<[u8]>>(&self, packet: &mut Packet<T>) {
        packet.set_version_type(VERSION_2, TYPE_ADVERTISEMENT);
        packet.set_vrid(self.vrid);
        packet.set_priority(self.priority);
        packet.set_address_count(u8::try_from(self.addresses.len()).unwrap_or(u8::MAX));
        packet.set_auth_type(self.auth_type.into());
        packet.set_adver_int_v2(self.adver_int);
        let body = packet.body_mut();
        for (i, a) in self.addresses.iter().enumerate() {
            body[i * 4..i * 4 + 4].copy_from_slice(&a.octets());
        }
        let auth_at = self.addresses.len() * 4;
        body[auth_at..auth_at + AUTH_DATA_LEN].copy_from_slice(&self.auth_data);
        packet.fill_checksum_v2();
    }

    /// Emits into a fresh vector.
    pub fn to_bytes(&self) -> Vec<u8> {
        let mut buf = vec![0u8; self.buffer_len()];
        self.emit(&mut Packet::new_unchecked(&mut buf[..]));
        buf
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    /// A keepalived-style v2 advert: VRID 51, prio 100, PASS "secret".
    fn sample() -> AdvertisementV2 {
        AdvertisementV2 {
            vrid: 51,
            priority: 100,
            auth_type: AuthType::SimpleText,
            adver_int: 1,
            addresses: vec![Ipv4Addr::new(198, 18, 0, 100)],
            auth_data: *b"secret\0\0",
        }
    }

    #[test]
    fn round_trip_and_checksum() {
        let bytes = sample().to_bytes();
        assert_eq!(bytes.len(), 20);
        assert_eq!(&bytes[..6], &[0x21, 51, 100, 1, 1, 1]);
        let p = Packet::new_checked(&bytes[..]).unwrap();
        assert!(p.verify_checksum_v2());
        assert_eq!(AdvertisementV2::parse(&p), Ok(sample()));
    }

    #[test]
    fn v3_is_not_v2() {
        let mut bytes = sample().to_bytes();
        bytes[0] = 0x31;
        assert_eq!(
            AdvertisementV2::parse_bytes(&bytes),
            Err(DecodeError::Version { version: 3 })
        );
    }

    #[test]
    fn missing_auth_data_is_length_error() {
        let bytes = sample().to_bytes();
        assert_eq!(
            AdvertisementV2::parse_bytes(&bytes[..12]),
            Err(DecodeError::LengthMismatch {
                expected: 20,
                actual: 12
            })
        );
    }
}
