//! UDP header (RFC 768). A zero checksum means "none" over IPv4 and must stay zero.
//!
//! ```text
//! |          Source Port          |       Destination Port        |
//! |            Length             |           Checksum            |
//! ```

use super::bytes::{read_u16, write_u16};
use super::checksum;
use super::ip::Address;
use super::Truncated;

pub mod field {
    use crate::wire::Field;

    pub const SRC_PORT: Field = 0..2;
    pub const DST_PORT: Field = 2..4;
    pub const LENGTH: Field = 4..6;
    pub const CHECKSUM: Field = 6..8;
}

pub const HEADER_LEN: usize = field::CHECKSUM.end;

#[derive(Debug, Clone, Copy)]
pub struct UdpDatagram<T> {
    buf: T,
}

impl<T: AsRef<[u8]>> UdpDatagram<T> {
    /// Checks the header and the Length field against the buffer.
    #[inline]
    pub fn new_checked(buf: T) -> Result<Self, Truncated> {
        let u = UdpDatagram::new_quoted(buf)?;
        let len = usize::from(u.len());
        if len < HEADER_LEN || len > u.buf.as_ref().len() {
            return Err(Truncated);
        }
        Ok(u)
    }

    /// The header of a datagram quoted by an ICMP error (its Length describes the original).
    #[inline]
    pub fn new_quoted(buf: T) -> Result<Self, Truncated> {
        if buf.as_ref().len() < HEADER_LEN {
            return Err(Truncated);
        }
        Ok(UdpDatagram { buf })
    }

    /// A view over a buffer the caller has validated (an accessor panics if it is too short).
    #[inline]
    pub fn new_unchecked(buf: T) -> Self {
        UdpDatagram { buf }
    }

    #[inline]
    pub fn src_port(&self) -> u16 {
        read_u16(&self.buf.as_ref()[field::SRC_PORT])
    }

    #[inline]
    pub fn dst_port(&self) -> u16 {
        read_u16(&self.buf.as_ref()[field::DST_PORT])
    }

    #[inline]
    #[allow(clippy::len_without_is_empty)]
    pub fn len(&self) -> u16 {
        read_u16(&self.buf.as_ref()[field::LENGTH])
    }

    #[inline]
    pub fn is_empty(&self) -> bool {
        usize::from(self.len()) == HEADER_LEN
    }

    #[inline]
    pub fn checksum(&self) -> u16 {
        read_u16(&self.buf.as_ref()[field::CHECKSUM])
    }

    pub fn payload(&self) -> &[u8] {
        &self.buf.as_ref()[HEADER_LEN..usize::from(self.len())]
    }

    /// Verifies the checksum over the pseudo-header of `src` and `dst`; zero means none.
    pub fn verify_checksum<A: Address>(&self, src: A, dst: A) -> bool {
        let b = &self.buf.as_ref()[..usize::from(self.len())];
        self.checksum() == 0
            || checksum::fold(
                A::pseudo_header(src, dst, super::proto::UDP, b.len()) + checksum::sum(b),
            ) == 0xffff
    }
}

impl<T: AsRef<[u8]> + AsMut<[u8]>> UdpDatagram<T> {
    #[inline]
    pub fn set_src_port(&mut self, v: u16) {
        write_u16(&mut self.buf.as_mut()[field::SRC_PORT], v);
    }

    #[inline]
    pub fn set_dst_port(&mut self, v: u16) {
        write_u16(&mut self.buf.as_mut()[field::DST_PORT], v);
    }

    #[inline]
    pub fn set_len(&mut self, v: u16) {
        write_u16(&mut self.buf.as_mut()[field::LENGTH], v);
    }

    #[inline]
    pub fn set_checksum(&mut self, v: u16) {
        write_u16(&mut self.buf.as_mut()[field::CHECKSUM], v);
    }

    pub fn payload_mut(&mut self) -> &mut [u8] {
        let end = usize::from(self.len());
        &mut self.buf.as_mut()[HEADER_LEN..end]
    }

    /// Computes the checksum over the pseudo-header of `src` and `dst` and the datagram (to
    /// Length); a zero result is sent as all ones.
    pub fn fill_checksum<A: Address>(&mut self, src: A, dst: A) {
        self.set_checksum(0);
        let b = &self.buf.as_ref()[..usize::from(self.len())];
        let c = A::pseudo_header(src, dst, super::proto::UDP, b.len()) + checksum::sum(b);
        self.set_checksum(checksum::udp_computed(checksum::finish(c)));
    }
}

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct UdpRepr {
    pub src_port: u16,
    pub dst_port: u16,
    pub payload_len: usize,
}

impl UdpRepr {
    pub fn parse<T: AsRef<[u8]>>(u: &UdpDatagram<T>) -> UdpRepr {
        UdpRepr {
            src_port: u.src_port(),
            dst_port: u.dst_port(),
            payload_len: usize::from(u.len()) - HEADER_LEN,
        }
    }

    pub const fn buffer_len(&self) -> usize {
        HEADER_LEN
    }

    /// Writes the header at the start of `buf` with a zero checksum: fill it in with
    /// [`UdpDatagram::fill_checksum`] once the payload is behind it.
    pub fn emit(&self, buf: &mut [u8]) {
        let mut u = UdpDatagram::new_unchecked(&mut buf[..HEADER_LEN]);
        u.set_src_port(self.src_port);
        u.set_dst_port(self.dst_port);
        u.set_len((HEADER_LEN + self.payload_len) as u16);
        u.set_checksum(0);
    }
}

#[cfg(test)]
mod tests {
    use std::net::Ipv6Addr;

    use super::*;
    use proptest::prelude::*;

    #[test]
    fn fields() {
        let mut b = [0u8; 12];
        b[0..2].copy_from_slice(&5353u16.to_be_bytes());
        b[2..4].copy_from_slice(&53u16.to_be_bytes());
        b[4..6].copy_from_slice(&10u16.to_be_bytes());
        let mut u = UdpDatagram::new_checked(&mut b[..]).unwrap();
        assert_eq!((u.src_port(), u.dst_port(), u.len()), (5353, 53, 10));
        assert_eq!(u.payload().len(), 2);
        u.set_src_port(1);
        assert_eq!(u.src_port(), 1);
        b[4..6].copy_from_slice(&13u16.to_be_bytes());
        assert!(UdpDatagram::new_checked(&b[..]).is_err());
        assert!(UdpDatagram::new_quoted(&b[..]).is_ok());
        assert!(UdpDatagram::new_checked(&b[..7]).is_err());
    }

    proptest! {
        #[test]
        fn emit_then_parse(src_port in any::<u16>(), dst_port in any::<u16>(),
                           payload in proptest::collection::vec(any::<u8>(), 0..16),
                           src in any::<u128>(), dst in any::<u128>()) {
            let r = UdpRepr { src_port, dst_port, payload_len: payload.len() };
            let mut b = vec![0u8; r.buffer_len()];
            r.emit(&mut b);
            b.extend_from_slice(&payload);
            let (src, dst) = (Ipv6Addr::from(src), Ipv6Addr::from(dst));
            let mut u = UdpDatagram::new_checked(&mut b[..]).unwrap();
            u.fill_checksum(src, dst);
            prop_assert!(u.checksum() != 0);
            prop_assert!(u.verify_checksum(src, dst));
            prop_assert_eq!(UdpRepr::parse(&u), r);
            prop_assert_eq!(u.payload(), &payload[..]);
        }
    }
}
