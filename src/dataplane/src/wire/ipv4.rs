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

use super::bytes::{read_u16, read_u32, write_u16, write_u32};
use super::checksum;
use super::ip::IpHeader;
use super::Truncated;

pub mod field {
    use crate::wire::Field;

    /// Version (high nibble) and Internet Header Length in 32-bit words (low nibble).
    pub const VER_IHL: usize = 0;
    /// Type of Service: DSCP and ECN (RFC 2474, RFC 3168).
    pub const DSCP_ECN: usize = 1;
    pub const LENGTH: Field = 2..4;
    pub const IDENT: Field = 4..6;
    /// Flags (reserved, DF, MF) and Fragment Offset.
    pub const FLG_OFF: Field = 6..8;
    pub const TTL: usize = 8;
    pub const PROTOCOL: usize = 9;
    pub const CHECKSUM: Field = 10..12;
    pub const SRC_ADDR: Field = 12..16;
    pub const DST_ADDR: Field = 16..20;
    /// TTL and Protocol: the 16-bit word a TTL change alters in the checksum.
    pub const TTL_PROTOCOL: Field = TTL..PROTOCOL + 1;
}

/// Bits of the Flags and Fragment Offset word.
pub mod flags {
    pub const DONT_FRAG: u16 = 0x4000;
    pub const MORE_FRAGS: u16 = 0x2000;
    pub const FRAG_OFFSET: u16 = 0x1fff;
}

pub const MIN_HEADER_LEN: usize = field::DST_ADDR.end;

#[derive(Debug, Clone, Copy)]
pub struct Ipv4Packet<T> {
    buf: T,
}

impl<T: AsRef<[u8]>> Ipv4Packet<T> {
    /// Checks version, header length and total length against the buffer.
    #[inline]
    pub fn new_checked(buf: T) -> Result<Self, Truncated> {
        let p = Ipv4Packet::new_quoted(buf)?;
        let total = usize::from(p.total_len());
        if total < p.header_len() || total > p.buf.as_ref().len() {
            return Err(Truncated);
        }
        Ok(p)
    }

    /// A view that only requires the fixed header to be present: ICMP errors quote the
    /// offending datagram's header plus 8 bytes, and its Total Length describes the original
    /// packet, not the quote.
    #[inline]
    pub fn new_quoted(buf: T) -> Result<Self, Truncated> {
        let b = buf.as_ref();
        if b.len() < MIN_HEADER_LEN || b[field::VER_IHL] >> 4 != 4 {
            return Err(Truncated);
        }
        let p = Ipv4Packet { buf };
        let hl = p.header_len();
        if hl < MIN_HEADER_LEN || hl > p.buf.as_ref().len() {
            return Err(Truncated);
        }
        Ok(p)
    }

    /// A view over a buffer the caller has validated (an accessor panics if it is too short).
    #[inline]
    pub fn new_unchecked(buf: T) -> Self {
        Ipv4Packet { buf }
    }

    #[inline]
    pub fn version(&self) -> u8 {
        self.buf.as_ref()[field::VER_IHL] >> 4
    }

    #[inline]
    pub fn header_len(&self) -> usize {
        usize::from(self.buf.as_ref()[field::VER_IHL] & 0x0f) * 4
    }

    #[inline]
    pub fn dscp_ecn(&self) -> u8 {
        self.buf.as_ref()[field::DSCP_ECN]
    }

    #[inline]
    pub fn total_len(&self) -> u16 {
        read_u16(&self.buf.as_ref()[field::LENGTH])
    }

    #[inline]
    pub fn ident(&self) -> u16 {
        read_u16(&self.buf.as_ref()[field::IDENT])
    }

    #[inline]
    fn flags_and_offset(&self) -> u16 {
        read_u16(&self.buf.as_ref()[field::FLG_OFF])
    }

    #[inline]
    pub fn dont_frag(&self) -> bool {
        self.flags_and_offset() & flags::DONT_FRAG != 0
    }

    #[inline]
    pub fn more_frags(&self) -> bool {
        self.flags_and_offset() & flags::MORE_FRAGS != 0
    }

    /// In 8-byte units.
    #[inline]
    pub fn frag_offset(&self) -> u16 {
        self.flags_and_offset() & flags::FRAG_OFFSET
    }

    /// More-fragments set or a non-zero offset: only the first fragment carries ports.
    #[inline]
    pub fn is_fragment(&self) -> bool {
        self.flags_and_offset() & (flags::MORE_FRAGS | flags::FRAG_OFFSET) != 0
    }

    #[inline]
    pub fn ttl(&self) -> u8 {
        self.buf.as_ref()[field::TTL]
    }

    #[inline]
    pub fn protocol(&self) -> u8 {
        self.buf.as_ref()[field::PROTOCOL]
    }

    #[inline]
    pub fn checksum(&self) -> u16 {
        read_u16(&self.buf.as_ref()[field::CHECKSUM])
    }

    #[inline]
    pub fn src(&self) -> Ipv4Addr {
        Ipv4Addr::from(read_u32(&self.buf.as_ref()[field::SRC_ADDR]))
    }

    #[inline]
    pub fn dst(&self) -> Ipv4Addr {
        Ipv4Addr::from(read_u32(&self.buf.as_ref()[field::DST_ADDR]))
    }

    pub fn verify_checksum(&self) -> bool {
        checksum::fold(checksum::sum(&self.buf.as_ref()[..self.header_len()])) == 0xffff
    }

    /// The payload up to Total Length (for a quoted header: whatever was quoted).
    #[inline]
    pub fn payload(&self) -> &[u8] {
        let b = self.buf.as_ref();
        let end = usize::from(self.total_len()).clamp(self.header_len(), b.len());
        &b[self.header_len()..end]
    }

    /// The header and payload, up to Total Length (the whole buffer of a quote).
    #[inline]
    pub fn packet(&self) -> &[u8] {
        let b = self.buf.as_ref();
        &b[..usize::from(self.total_len()).clamp(self.header_len(), b.len())]
    }

    /// Everything behind the header, to the end of the buffer (for a quote: what was quoted).
    #[inline]
    pub fn rest(&self) -> &[u8] {
        &self.buf.as_ref()[self.header_len()..]
    }

    pub fn as_bytes(&self) -> &[u8] {
        self.buf.as_ref()
    }
}

/// Slices that outlive the view, for a view over a borrowed buffer.
impl<'a> Ipv4Packet<&'a [u8]> {
    /// [`Ipv4Packet::payload`].
    pub fn into_payload(self) -> &'a [u8] {
        let end = usize::from(self.total_len()).clamp(self.header_len(), self.buf.len());
        &self.buf[self.header_len()..end]
    }

    /// [`Ipv4Packet::packet`].
    pub fn into_packet(self) -> &'a [u8] {
        let end = usize::from(self.total_len()).clamp(self.header_len(), self.buf.len());
        &self.buf[..end]
    }
}

impl<T: AsRef<[u8]> + AsMut<[u8]>> Ipv4Packet<T> {
    /// Version 4 and the header length in bytes (a multiple of 4).
    #[inline]
    pub fn set_header_len(&mut self, len: usize) {
        self.buf.as_mut()[field::VER_IHL] = 0x40 | (len / 4) as u8;
    }

    #[inline]
    pub fn set_dscp_ecn(&mut self, v: u8) {
        self.buf.as_mut()[field::DSCP_ECN] = v;
    }

    #[inline]
    pub fn set_total_len(&mut self, v: u16) {
        write_u16(&mut self.buf.as_mut()[field::LENGTH], v);
    }

    #[inline]
    pub fn set_ident(&mut self, v: u16) {
        write_u16(&mut self.buf.as_mut()[field::IDENT], v);
    }

    /// Sets the flags and the fragment offset (in 8-byte units) at once.
    #[inline]
    pub fn set_flags_and_offset(&mut self, dont_frag: bool, more_frags: bool, offset: u16) {
        let mut w = offset & flags::FRAG_OFFSET;
        if dont_frag {
            w |= flags::DONT_FRAG;
        }
        if more_frags {
            w |= flags::MORE_FRAGS;
        }
        write_u16(&mut self.buf.as_mut()[field::FLG_OFF], w);
    }

    #[inline]
    pub fn set_ttl(&mut self, v: u8) {
        self.buf.as_mut()[field::TTL] = v;
    }

    #[inline]
    pub fn set_protocol(&mut self, v: u8) {
        self.buf.as_mut()[field::PROTOCOL] = v;
    }

    #[inline]
    pub fn set_checksum(&mut self, v: u16) {
        write_u16(&mut self.buf.as_mut()[field::CHECKSUM], v);
    }

    #[inline]
    pub fn set_src(&mut self, a: Ipv4Addr) {
        write_u32(&mut self.buf.as_mut()[field::SRC_ADDR], a.into());
    }

    #[inline]
    pub fn set_dst(&mut self, a: Ipv4Addr) {
        write_u32(&mut self.buf.as_mut()[field::DST_ADDR], a.into());
    }

    /// Sets the source address and updates the header checksum (RFC 1624).
    #[inline]
    pub fn set_src_update_checksum(&mut self, a: Ipv4Addr) {
        let old = self.src();
        self.set_src(a);
        self.set_checksum(checksum::update32(self.checksum(), old.into(), a.into()));
    }

    #[inline]
    pub fn set_dst_update_checksum(&mut self, a: Ipv4Addr) {
        let old = self.dst();
        self.set_dst(a);
        self.set_checksum(checksum::update32(self.checksum(), old.into(), a.into()));
    }

    /// Decrements the TTL, updating the header checksum (the TTL shares a word with the
    /// protocol).
    #[inline]
    pub fn decrement_ttl(&mut self) {
        let old = read_u16(&self.buf.as_ref()[field::TTL_PROTOCOL]);
        self.set_ttl(self.ttl() - 1);
        let new = read_u16(&self.buf.as_ref()[field::TTL_PROTOCOL]);
        self.set_checksum(checksum::update16(self.checksum(), old, new));
    }

    /// Recomputes the header checksum from scratch (used when emitting, never per packet).
    pub fn fill_checksum(&mut self) {
        self.set_checksum(0);
        let hl = self.header_len();
        let c = checksum::finish(checksum::sum(&self.buf.as_ref()[..hl]));
        self.set_checksum(c);
    }

    /// The payload up to Total Length (for a quote: whatever was quoted).
    #[inline]
    pub fn payload_mut(&mut self) -> &mut [u8] {
        let hl = self.header_len();
        let end = usize::from(self.total_len()).clamp(hl, self.buf.as_ref().len());
        &mut self.buf.as_mut()[hl..end]
    }

    /// Everything behind the header, to the end of the buffer: for a quote, whatever was
    /// quoted; for a packet the caller has cut to Total Length, the payload.
    #[inline]
    pub fn rest_mut(&mut self) -> &mut [u8] {
        let hl = self.header_len();
        &mut self.buf.as_mut()[hl..]
    }
}

impl<T: AsRef<[u8]> + AsMut<[u8]>> IpHeader for Ipv4Packet<T> {
    type Addr = Ipv4Addr;

    #[inline(always)]
    fn src_addr(&self) -> Ipv4Addr {
        self.src()
    }

    #[inline(always)]
    fn dst_addr(&self) -> Ipv4Addr {
        self.dst()
    }

    #[inline(always)]
    fn upper_protocol(&self) -> u8 {
        self.protocol()
    }

    #[inline(always)]
    fn set_src_update_checksum(&mut self, a: Ipv4Addr) {
        Ipv4Packet::set_src_update_checksum(self, a)
    }

    #[inline(always)]
    fn set_dst_update_checksum(&mut self, a: Ipv4Addr) {
        Ipv4Packet::set_dst_update_checksum(self, a)
    }

    #[inline(always)]
    fn decrement_hop_limit(&mut self) {
        self.decrement_ttl()
    }

    #[inline(always)]
    fn upper_layer_mut(&mut self) -> &mut [u8] {
        self.rest_mut()
    }
}

/// The fields of a header we build: no options, so 20 bytes.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Ipv4Repr {
    pub src: Ipv4Addr,
    pub dst: Ipv4Addr,
    pub protocol: u8,
    pub payload_len: usize,
    pub ttl: u8,
    pub ident: u16,
    pub dont_frag: bool,
    pub dscp_ecn: u8,
}

impl Ipv4Repr {
    /// The fields of a checked packet (options, fragmentation and the checksum are not kept).
    pub fn parse<T: AsRef<[u8]>>(p: &Ipv4Packet<T>) -> Ipv4Repr {
        Ipv4Repr {
            src: p.src(),
            dst: p.dst(),
            protocol: p.protocol(),
            payload_len: usize::from(p.total_len()) - p.header_len(),
            ttl: p.ttl(),
            ident: p.ident(),
            dont_frag: p.dont_frag(),
            dscp_ecn: p.dscp_ecn(),
        }
    }

    pub const fn buffer_len(&self) -> usize {
        MIN_HEADER_LEN
    }

    /// Writes the header, checksum included, at the start of `buf` (at least `buffer_len()`
    /// long); the payload is the caller's to put behind it.
    pub fn emit(&self, buf: &mut [u8]) {
        let mut p = Ipv4Packet::new_unchecked(&mut buf[..MIN_HEADER_LEN]);
        p.set_header_len(MIN_HEADER_LEN);
        p.set_dscp_ecn(self.dscp_ecn);
        p.set_total_len((MIN_HEADER_LEN + self.payload_len) as u16);
        p.set_ident(self.ident);
        p.set_flags_and_offset(self.dont_frag, false, 0);
        p.set_ttl(self.ttl);
        p.set_protocol(self.protocol);
        p.set_src(self.src);
        p.set_dst(self.dst);
        p.fill_checksum();
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use proptest::prelude::*;

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
        assert_eq!(p.packet().len(), 22);
        assert!(!p.is_fragment());
        p.decrement_ttl();
        assert_eq!(p.ttl(), 63);
        assert!(p.verify_checksum());
        p.set_src_update_checksum(Ipv4Addr::new(10, 1, 2, 3));
        p.set_dst_update_checksum(Ipv4Addr::new(10, 3, 2, 1));
        assert_eq!(p.dst(), Ipv4Addr::new(10, 3, 2, 1));
        assert!(p.verify_checksum());
        p.set_ttl(1);
        assert!(!p.verify_checksum());
        p.set_flags_and_offset(true, false, 0);
        assert!(p.dont_frag() && !p.is_fragment());
        p.set_flags_and_offset(false, false, 3);
        assert!(p.is_fragment() && p.frag_offset() == 3);
        p.set_flags_and_offset(false, true, 0);
        assert!(p.more_frags() && p.is_fragment());
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

    fn repr() -> impl Strategy<Value = Ipv4Repr> {
        (
            any::<[u8; 4]>(),
            any::<[u8; 4]>(),
            any::<u8>(),
            0usize..64,
            any::<u8>(),
            any::<u16>(),
            any::<bool>(),
            any::<u8>(),
        )
            .prop_map(
                |(src, dst, protocol, payload_len, ttl, ident, dont_frag, dscp_ecn)| Ipv4Repr {
                    src: src.into(),
                    dst: dst.into(),
                    protocol,
                    payload_len,
                    ttl,
                    ident,
                    dont_frag,
                    dscp_ecn,
                },
            )
    }

    proptest! {
        #[test]
        fn emit_then_parse(r in repr()) {
            let mut b = vec![0u8; r.buffer_len() + r.payload_len];
            r.emit(&mut b);
            let p = Ipv4Packet::new_checked(&b[..]).unwrap();
            prop_assert!(p.verify_checksum());
            prop_assert_eq!(Ipv4Repr::parse(&p), r);
            prop_assert!(Ipv4Packet::new_checked(&b[..b.len() - 1]).is_err());
        }

        /// Any bytes: a typed result, never a panic.
        #[test]
        fn arbitrary_bytes(b in proptest::collection::vec(any::<u8>(), 0..64)) {
            if let Ok(p) = Ipv4Packet::new_checked(&b[..]) {
                let _ = (Ipv4Repr::parse(&p), p.payload().len(), p.verify_checksum());
            }
            if let Ok(p) = Ipv4Packet::new_quoted(&b[..]) {
                let _ = (p.payload().len(), p.packet().len());
            }
        }
    }
}
