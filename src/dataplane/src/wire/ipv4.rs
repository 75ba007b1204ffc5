//! IPv4 header (RFC 791). The payload ends at Total Length, not at the buffer's end: Ethernet
//! pads short frames, and the padding must not be checksummed or forwarded as data.
//!
//! ```text
//!  0                   1                   2                   3
//!  0 1 2 3 4 5 6 7 8 9 0 1 2 3 4 5 6 7 8 9 0 1 2 3 4 5 6 7 8 9 0 1
//! +-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+
//! |Version|  IHL  |Type of Service|          Total Length         |
//! |         Identification        |Flags|      Fragment Offset    |
//! |  Time to Live |    Protocol   |         Header Checksum       |
//! |                       Source Address                          |
//! |                    Destination Address                        |
//! +-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+
//! ```

use std::net::Ipv4Addr;

use super::{be16, be32, put16, put32, Truncated};
use crate::checksum;

pub const MIN_HEADER_LEN: usize = 20;

pub struct Ipv4Packet<T> {
    buf: T,
}

impl<T: AsRef<[u8]>> Ipv4Packet<T> {
    /// Checks version, header length and total length against the buffer.
    pub fn new_checked(buf: T) -> Result<Self, Truncated> {
        let b = buf.as_ref();
        if b.len() < MIN_HEADER_LEN || b[0] >> 4 != 4 {
            return Err(Truncated);
        }
        let hl = usize::from(b[0] & 0x0f) * 4;
        let total = usize::from(be16(b, 2));
        if hl < MIN_HEADER_LEN || total < hl || total > b.len() {
            return Err(Truncated);
        }
        Ok(Ipv4Packet { buf })
    }

    /// A view that only requires the fixed header to be present: ICMP errors quote the
    /// offending datagram's header plus 8 bytes, and its Total Length describes the original
    /// packet, not the quote.
    pub fn new_quoted(buf: T) -> Result<Self, Truncated> {
        let b = buf.as_ref();
        if b.len() < MIN_HEADER_LEN || b[0] >> 4 != 4 {
            return Err(Truncated);
        }
        let hl = usize::from(b[0] & 0x0f) * 4;
        if hl < MIN_HEADER_LEN || hl > b.len() {
            return Err(Truncated);
        }
        Ok(Ipv4Packet { buf })
    }

    pub fn header_len(&self) -> usize {
        usize::from(self.buf.as_ref()[0] & 0x0f) * 4
    }

    pub fn total_len(&self) -> u16 {
        be16(self.buf.as_ref(), 2)
    }

    pub fn ident(&self) -> u16 {
        be16(self.buf.as_ref(), 4)
    }

    /// More-fragments set or a non-zero offset: only the first fragment carries ports.
    pub fn is_fragment(&self) -> bool {
        be16(self.buf.as_ref(), 6) & 0x3fff != 0
    }

    pub fn ttl(&self) -> u8 {
        self.buf.as_ref()[8]
    }

    pub fn protocol(&self) -> u8 {
        self.buf.as_ref()[9]
    }

    pub fn checksum(&self) -> u16 {
        be16(self.buf.as_ref(), 10)
    }

    pub fn src(&self) -> Ipv4Addr {
        Ipv4Addr::from(be32(self.buf.as_ref(), 12))
    }

    pub fn dst(&self) -> Ipv4Addr {
        Ipv4Addr::from(be32(self.buf.as_ref(), 16))
    }

    pub fn verify_checksum(&self) -> bool {
        checksum::fold(checksum::sum(&self.buf.as_ref()[..self.header_len()])) == 0xffff
    }

    /// The payload up to Total Length (for a quoted header: whatever was quoted).
    pub fn payload(&self) -> &[u8] {
        let b = self.buf.as_ref();
        let end = usize::from(self.total_len()).clamp(self.header_len(), b.len());
        &b[self.header_len()..end]
    }
}

impl<T: AsRef<[u8]> + AsMut<[u8]>> Ipv4Packet<T> {
    pub fn set_ttl(&mut self, v: u8) {
        self.buf.as_mut()[8] = v;
    }

    pub fn set_checksum(&mut self, v: u16) {
        put16(self.buf.as_mut(), 10, v);
    }

    pub fn set_src(&mut self, a: Ipv4Addr) {
        put32(self.buf.as_mut(), 12, a.into());
    }

    pub fn set_dst(&mut self, a: Ipv4Addr) {
        put32(self.buf.as_mut(), 16, a.into());
    }

    /// Recomputes the header checksum from scratch (used when emitting, never per packet).
    pub fn fill_checksum(&mut self) {
        self.set_checksum(0);
        let hl = self.header_len();
        let c = !checksum::fold(checksum::sum(&self.buf.as_ref()[..hl]));
        self.set_checksum(c);
    }

    pub fn payload_mut(&mut self) -> &mut [u8] {
        let hl = self.header_len();
        let end = usize::from(self.total_len()).clamp(hl, self.buf.as_ref().len());
        &mut self.buf.as_mut()[hl..end]
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn header() -> [u8; 24] {
        let mut b = [0u8; 24];
        b[0] = 0x45;
        b[2..4].copy_from_slice(&22u16.to_be_bytes());
        b[8] = 64;
        b[9] = 17;
        b[12..16].copy_from_slice(&[198, 18, 0, 1]);
        b[16..20].copy_from_slice(&[198, 18, 0, 2]);
        b
    }

    #[test]
    fn fields_payload_and_checksum() {
        let mut b = header();
        let mut p = Ipv4Packet::new_checked(&mut b[..]).unwrap();
        p.fill_checksum();
        assert!(p.verify_checksum());
        assert_eq!(p.src(), Ipv4Addr::new(198, 18, 0, 1));
        assert_eq!(p.dst(), Ipv4Addr::new(198, 18, 0, 2));
        assert_eq!(p.protocol(), 17);
        assert_eq!(p.ttl(), 64);
        // Total length 22: two bytes of payload, the other two are padding.
        assert_eq!(p.payload().len(), 2);
        assert!(!p.is_fragment());
        p.set_ttl(63);
        assert!(!p.verify_checksum());
    }

    #[test]
    fn rejects_bad_lengths() {
        let b = header();
        assert!(Ipv4Packet::new_checked(&b[..19]).is_err());
        let mut v6 = b;
        v6[0] = 0x65;
        assert!(Ipv4Packet::new_checked(&v6[..]).is_err());
        let mut short_ihl = b;
        short_ihl[0] = 0x44;
        assert!(Ipv4Packet::new_checked(&short_ihl[..]).is_err());
        let mut long_total = b;
        long_total[2..4].copy_from_slice(&25u16.to_be_bytes());
        assert!(Ipv4Packet::new_checked(&long_total[..]).is_err());
        // A quote may be shorter than its Total Length.
        assert!(Ipv4Packet::new_quoted(&long_total[..]).is_ok());
    }
}
