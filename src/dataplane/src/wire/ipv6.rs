//! IPv6 fixed header (RFC 8200), read-only and minimal: the NAT pipeline is IPv4 for now and
//! hands IPv6 to the kernel, but classifies it first so counters show what it passed.
//!
//! ```text
//! |Version| Traffic Class |           Flow Label                  |
//! |         Payload Length        |  Next Header  |   Hop Limit   |
//! |                    Source Address (16 bytes)                  |
//! |                 Destination Address (16 bytes)                |
//! ```

use std::net::Ipv6Addr;

use super::{be16, Truncated};

pub const HEADER_LEN: usize = 40;

pub struct Ipv6Packet<T> {
    buf: T,
}

impl<T: AsRef<[u8]>> Ipv6Packet<T> {
    pub fn new_checked(buf: T) -> Result<Self, Truncated> {
        let b = buf.as_ref();
        if b.len() < HEADER_LEN || b[0] >> 4 != 6 {
            return Err(Truncated);
        }
        if HEADER_LEN + usize::from(be16(b, 4)) > b.len() {
            return Err(Truncated);
        }
        Ok(Ipv6Packet { buf })
    }

    pub fn payload_len(&self) -> u16 {
        be16(self.buf.as_ref(), 4)
    }

    /// The first next-header value; extension headers are not walked.
    pub fn next_header(&self) -> u8 {
        self.buf.as_ref()[6]
    }

    pub fn hop_limit(&self) -> u8 {
        self.buf.as_ref()[7]
    }

    pub fn src(&self) -> Ipv6Addr {
        let mut a = [0u8; 16];
        a.copy_from_slice(&self.buf.as_ref()[8..24]);
        Ipv6Addr::from(a)
    }

    pub fn dst(&self) -> Ipv6Addr {
        let mut a = [0u8; 16];
        a.copy_from_slice(&self.buf.as_ref()[24..40]);
        Ipv6Addr::from(a)
    }

    pub fn payload(&self) -> &[u8] {
        &self.buf.as_ref()[HEADER_LEN..HEADER_LEN + usize::from(self.payload_len())]
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn fields() {
        let mut b = [0u8; 48];
        b[0] = 0x60;
        b[4..6].copy_from_slice(&8u16.to_be_bytes());
        b[6] = 17;
        b[7] = 64;
        let src: Ipv6Addr = "2001:db8::1".parse().unwrap();
        let dst: Ipv6Addr = "2001:db8::2".parse().unwrap();
        b[8..24].copy_from_slice(&src.octets());
        b[24..40].copy_from_slice(&dst.octets());
        let p = Ipv6Packet::new_checked(&b[..]).unwrap();
        assert_eq!((p.src(), p.dst()), (src, dst));
        assert_eq!((p.next_header(), p.hop_limit()), (17, 64));
        assert_eq!(p.payload().len(), 8);
        assert!(Ipv6Packet::new_checked(&b[..47]).is_err());
        assert!(Ipv6Packet::new_checked(&b[..39]).is_err());
    }
}
