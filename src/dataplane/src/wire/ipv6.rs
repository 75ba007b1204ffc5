//! IPv6 fixed header (RFC 8200), its view, setters and [`IpHeader`], and the walk over the
//! extension headers the fast path skips ([`upper_layer`]).
//!
//! ```text
//! |Version| Traffic Class |           Flow Label                  |
//! |         Payload Length        |  Next Header  |   Hop Limit   |
//! |                    Source Address (16 bytes)                  |
//! |                 Destination Address (16 bytes)                |
//! ```

use std::net::Ipv6Addr;

use super::bytes::{read_u16, read_u32, write_u16, write_u32};
use super::ip::IpHeader;
use super::Truncated;

pub mod field {
    use crate::wire::Field;

    /// Version (4 bits), Traffic Class (8), Flow Label (20).
    pub const VER_TC_FLOW: Field = 0..4;
    pub const LENGTH: Field = 4..6;
    pub const NXT_HDR: usize = 6;
    pub const HOP_LIMIT: usize = 7;
    pub const SRC_ADDR: Field = 8..24;
    pub const DST_ADDR: Field = 24..40;
}

pub const HEADER_LEN: usize = field::DST_ADDR.end;

#[derive(Debug, Clone, Copy)]
pub struct Ipv6Packet<T> {
    buf: T,
}

impl<T: AsRef<[u8]>> Ipv6Packet<T> {
    /// Checks the version and that the buffer holds Payload Length bytes behind the header.
    #[inline]
    pub fn new_checked(buf: T) -> Result<Self, Truncated> {
        let b = buf.as_ref();
        if b.len() < HEADER_LEN {
            return Err(Truncated);
        }
        let p = Ipv6Packet { buf };
        if p.version() != 6 || HEADER_LEN + usize::from(p.payload_len()) > p.buf.as_ref().len() {
            return Err(Truncated);
        }
        Ok(p)
    }

    /// A view over a buffer the caller has validated (an accessor panics if it is too short).
    #[inline]
    pub fn new_unchecked(buf: T) -> Self {
        Ipv6Packet { buf }
    }

    #[inline]
    fn ver_tc_flow(&self) -> u32 {
        read_u32(&self.buf.as_ref()[field::VER_TC_FLOW])
    }

    #[inline]
    pub fn version(&self) -> u8 {
        (self.ver_tc_flow() >> 28) as u8
    }

    #[inline]
    pub fn traffic_class(&self) -> u8 {
        (self.ver_tc_flow() >> 20) as u8
    }

    #[inline]
    pub fn flow_label(&self) -> u32 {
        self.ver_tc_flow() & 0x000f_ffff
    }

    #[inline]
    pub fn payload_len(&self) -> u16 {
        read_u16(&self.buf.as_ref()[field::LENGTH])
    }

    /// The first next-header value; extension headers are not walked.
    #[inline]
    pub fn next_header(&self) -> u8 {
        self.buf.as_ref()[field::NXT_HDR]
    }

    #[inline]
    pub fn hop_limit(&self) -> u8 {
        self.buf.as_ref()[field::HOP_LIMIT]
    }

    #[inline]
    pub fn src(&self) -> Ipv6Addr {
        addr_at(self.buf.as_ref(), field::SRC_ADDR)
    }

    #[inline]
    pub fn dst(&self) -> Ipv6Addr {
        addr_at(self.buf.as_ref(), field::DST_ADDR)
    }

    #[inline]
    pub fn payload(&self) -> &[u8] {
        &self.buf.as_ref()[HEADER_LEN..HEADER_LEN + usize::from(self.payload_len())]
    }
}

fn addr_at(b: &[u8], f: crate::wire::Field) -> Ipv6Addr {
    let mut a = [0u8; 16];
    a.copy_from_slice(&b[f]);
    Ipv6Addr::from(a)
}

impl<T: AsRef<[u8]> + AsMut<[u8]>> Ipv6Packet<T> {
    /// Version 6 with a traffic class and flow label.
    #[inline]
    pub fn set_version_tc_flow(&mut self, traffic_class: u8, flow_label: u32) {
        let w = 6 << 28 | u32::from(traffic_class) << 20 | (flow_label & 0x000f_ffff);
        write_u32(&mut self.buf.as_mut()[field::VER_TC_FLOW], w);
    }

    #[inline]
    pub fn set_payload_len(&mut self, v: u16) {
        write_u16(&mut self.buf.as_mut()[field::LENGTH], v);
    }

    #[inline]
    pub fn set_next_header(&mut self, v: u8) {
        self.buf.as_mut()[field::NXT_HDR] = v;
    }

    #[inline]
    pub fn set_hop_limit(&mut self, v: u8) {
        self.buf.as_mut()[field::HOP_LIMIT] = v;
    }

    #[inline]
    pub fn set_src(&mut self, a: Ipv6Addr) {
        self.buf.as_mut()[field::SRC_ADDR].copy_from_slice(&a.octets());
    }

    #[inline]
    pub fn set_dst(&mut self, a: Ipv6Addr) {
        self.buf.as_mut()[field::DST_ADDR].copy_from_slice(&a.octets());
    }

    #[inline]
    pub fn payload_mut(&mut self) -> &mut [u8] {
        let end = HEADER_LEN + usize::from(self.payload_len());
        &mut self.buf.as_mut()[HEADER_LEN..end]
    }
}

/// No header checksum: the address setters are the plain ones.
impl<T: AsRef<[u8]> + AsMut<[u8]>> IpHeader for Ipv6Packet<T> {
    type Addr = Ipv6Addr;

    #[inline(always)]
    fn src_addr(&self) -> Ipv6Addr {
        self.src()
    }

    #[inline(always)]
    fn dst_addr(&self) -> Ipv6Addr {
        self.dst()
    }

    #[inline(always)]
    fn upper_protocol(&self) -> u8 {
        self.next_header()
    }

    #[inline(always)]
    fn set_src_update_checksum(&mut self, a: Ipv6Addr) {
        self.set_src(a)
    }

    #[inline(always)]
    fn set_dst_update_checksum(&mut self, a: Ipv6Addr) {
        self.set_dst(a)
    }

    #[inline(always)]
    fn decrement_hop_limit(&mut self) {
        self.set_hop_limit(self.hop_limit() - 1)
    }

    #[inline(always)]
    fn upper_layer_mut(&mut self) -> &mut [u8] {
        &mut self.buf.as_mut()[HEADER_LEN..]
    }
}

/// Next Header values of the extension headers (RFC 8200 §4, RFC 4302, RFC 4303).
pub mod ext {
    pub const HOP_BY_HOP: u8 = 0;
    pub const ROUTING: u8 = 43;
    pub const FRAGMENT: u8 = 44;
    pub const ESP: u8 = 50;
    pub const AH: u8 = 51;
    pub const NO_NEXT: u8 = 59;
    pub const DEST_OPTIONS: u8 = 60;
    pub const MOBILITY: u8 = 135;
    pub const HIP: u8 = 139;
    pub const SHIM6: u8 = 140;
    /// Experimentation (RFC 3692).
    pub const EXPERIMENT_1: u8 = 253;
    pub const EXPERIMENT_2: u8 = 254;
}

/// The most extension headers the walk skips before refusing the chain.
pub const MAX_SKIPPED: usize = 2;

/// The most bytes of skipped extension headers in front of the upper layer. The steering
/// program reaches the headers by fixed offsets, one per multiple of 8 up to this (adding a
/// register to a packet pointer needs CAP_PERFMON, which the daemon does not hold); the
/// pipeline holds to the same bound so that both say the same of every frame.
pub const MAX_CHAIN: usize = 64;

/// Why [`upper_layer`] refused a packet's header chain.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum ChainError {
    /// A Fragment header: only the first fragment carries ports.
    Fragment,
    /// Routing, AH, ESP, No Next Header, Mobility, HIP, Shim6, the experimental values, more
    /// than [`MAX_SKIPPED`] skippable headers, or a header that runs past the payload.
    Refused,
}

/// Whether `nh` names an extension header (which is then never an upper layer).
pub fn is_extension(nh: u8) -> bool {
    matches!(
        nh,
        ext::HOP_BY_HOP
            | ext::ROUTING
            | ext::FRAGMENT
            | ext::ESP
            | ext::AH
            | ext::NO_NEXT
            | ext::DEST_OPTIONS
            | ext::MOBILITY
            | ext::HIP
            | ext::SHIM6
            | ext::EXPERIMENT_1
            | ext::EXPERIMENT_2
    )
}

/// The upper-layer protocol of a packet and where its header starts in `payload` (the bytes
/// behind the fixed header). Hop-by-Hop (first only, RFC 8200 §4.1) and Destination Options
/// are skipped, at most [`MAX_SKIPPED`] in all: their options change nothing a NAT rewrites and
/// they stay in place. Everything else is refused: a Routing header means the destination is
/// not the final one (the pseudo-header's is), AH covers the addresses a NAT rewrites, ESP and
/// the others hide the ports.
pub fn upper_layer(first: u8, payload: &[u8]) -> Result<(u8, usize), ChainError> {
    let (mut nh, mut at) = (first, 0usize);
    for skipped in 0..=MAX_SKIPPED {
        match nh {
            ext::FRAGMENT => return Err(ChainError::Fragment),
            ext::HOP_BY_HOP if skipped == 0 => {}
            ext::DEST_OPTIONS => {}
            n if is_extension(n) => return Err(ChainError::Refused),
            n => return Ok((n, at)),
        }
        if skipped == MAX_SKIPPED {
            break;
        }
        // Next Header, then Hdr Ext Len in 8-octet units beyond the first 8 (RFC 8200 §4.3).
        let h = payload.get(at..at + 2).ok_or(ChainError::Refused)?;
        let len = 8 + 8 * usize::from(h[1]);
        if at + len > payload.len() {
            return Err(ChainError::Refused);
        }
        nh = h[0];
        at += len;
        if at > MAX_CHAIN {
            return Err(ChainError::Refused);
        }
    }
    Err(ChainError::Refused)
}

/// A packet whose upper layer is behind skipped extension headers ([`upper_layer`]): the
/// [`IpHeader`] a NAT rewrite uses, naming the upper layer the walk found.
pub struct Ipv6Upper<T> {
    packet: Ipv6Packet<T>,
    upper: u8,
    at: usize,
}

impl<T: AsRef<[u8]> + AsMut<[u8]>> Ipv6Upper<T> {
    /// `buf`: the packet cut to its length; `upper` and `at` as [`upper_layer`] gave them.
    pub fn new_unchecked(buf: T, upper: u8, at: usize) -> Self {
        Ipv6Upper {
            packet: Ipv6Packet::new_unchecked(buf),
            upper,
            at,
        }
    }

    pub fn packet(&mut self) -> &mut Ipv6Packet<T> {
        &mut self.packet
    }
}

impl<T: AsRef<[u8]> + AsMut<[u8]>> IpHeader for Ipv6Upper<T> {
    type Addr = Ipv6Addr;

    #[inline(always)]
    fn src_addr(&self) -> Ipv6Addr {
        self.packet.src()
    }

    #[inline(always)]
    fn dst_addr(&self) -> Ipv6Addr {
        self.packet.dst()
    }

    #[inline(always)]
    fn upper_protocol(&self) -> u8 {
        self.upper
    }

    #[inline(always)]
    fn set_src_update_checksum(&mut self, a: Ipv6Addr) {
        self.packet.set_src(a)
    }

    #[inline(always)]
    fn set_dst_update_checksum(&mut self, a: Ipv6Addr) {
        self.packet.set_dst(a)
    }

    #[inline(always)]
    fn decrement_hop_limit(&mut self) {
        let h = self.packet.hop_limit();
        self.packet.set_hop_limit(h.saturating_sub(1))
    }

    #[inline(always)]
    fn upper_layer_mut(&mut self) -> &mut [u8] {
        &mut self.packet.buf.as_mut()[HEADER_LEN + self.at..]
    }
}

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Ipv6Repr {
    pub src: Ipv6Addr,
    pub dst: Ipv6Addr,
    pub next_header: u8,
    pub payload_len: usize,
    pub hop_limit: u8,
    pub traffic_class: u8,
    pub flow_label: u32,
}

impl Ipv6Repr {
    pub fn parse<T: AsRef<[u8]>>(p: &Ipv6Packet<T>) -> Ipv6Repr {
        Ipv6Repr {
            src: p.src(),
            dst: p.dst(),
            next_header: p.next_header(),
            payload_len: usize::from(p.payload_len()),
            hop_limit: p.hop_limit(),
            traffic_class: p.traffic_class(),
            flow_label: p.flow_label(),
        }
    }

    pub const fn buffer_len(&self) -> usize {
        HEADER_LEN
    }

    /// Writes the header at the start of `buf` (at least `buffer_len()` long).
    pub fn emit(&self, buf: &mut [u8]) {
        let mut p = Ipv6Packet::new_unchecked(&mut buf[..HEADER_LEN]);
        p.set_version_tc_flow(self.traffic_class, self.flow_label);
        p.set_payload_len(self.payload_len as u16);
        p.set_next_header(self.next_header);
        p.set_hop_limit(self.hop_limit);
        p.set_src(self.src);
        p.set_dst(self.dst);
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use proptest::prelude::*;

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
        let mut b4 = b;
        b4[0] = 0x40;
        assert!(Ipv6Packet::new_checked(&b4[..]).is_err());
    }

    #[test]
    fn setters() {
        let mut b = [0u8; 40];
        let mut p = Ipv6Packet::new_unchecked(&mut b[..]);
        p.set_version_tc_flow(0xb8, 0xfffff);
        p.set_hop_limit(2);
        p.decrement_hop_limit();
        let a: Ipv6Addr = "2001:db8::7".parse().unwrap();
        p.set_src_update_checksum(a);
        assert_eq!(
            (p.version(), p.traffic_class(), p.flow_label()),
            (6, 0xb8, 0xfffff)
        );
        assert_eq!((p.hop_limit(), p.src_addr()), (1, a));
    }

    #[test]
    fn extension_chains() {
        use super::{ext, upper_layer, ChainError};
        // No extension header.
        assert_eq!(upper_layer(6, &[]), Ok((6, 0)));
        // Hop-by-hop (8 bytes) then destination options (16 bytes) then TCP.
        let mut b = vec![0u8; 24];
        b[0] = ext::DEST_OPTIONS;
        b[8] = 6;
        b[9] = 1;
        assert_eq!(upper_layer(ext::HOP_BY_HOP, &b), Ok((6, 24)));
        // Three skippable headers: refused.
        let mut c = vec![0u8; 24];
        c[0] = ext::DEST_OPTIONS;
        c[8] = ext::DEST_OPTIONS;
        c[16] = 6;
        assert_eq!(upper_layer(ext::DEST_OPTIONS, &c), Err(ChainError::Refused));
        // Hop-by-hop anywhere but first, a fragment, a routing header, a truncated header.
        let mut d = vec![0u8; 8];
        d[0] = ext::HOP_BY_HOP;
        assert_eq!(upper_layer(ext::DEST_OPTIONS, &d), Err(ChainError::Refused));
        d[0] = ext::FRAGMENT;
        assert_eq!(
            upper_layer(ext::DEST_OPTIONS, &d),
            Err(ChainError::Fragment)
        );
        assert_eq!(upper_layer(ext::FRAGMENT, &d), Err(ChainError::Fragment));
        assert_eq!(upper_layer(ext::ROUTING, &d), Err(ChainError::Refused));
        assert_eq!(upper_layer(ext::ESP, &d), Err(ChainError::Refused));
        assert_eq!(
            upper_layer(ext::DEST_OPTIONS, &d[..7]),
            Err(ChainError::Refused)
        );
        d[0] = 17;
        d[1] = 1;
        assert_eq!(upper_layer(ext::DEST_OPTIONS, &d), Err(ChainError::Refused));
    }

    proptest! {
        /// Any bytes: the walk ends, and an upper layer it finds starts inside the payload.
        #[test]
        fn walk_never_overruns(first in any::<u8>(), b in proptest::collection::vec(any::<u8>(), 0..80)) {
            if let Ok((nh, at)) = super::upper_layer(first, &b) {
                prop_assert!(at <= b.len());
                prop_assert!(!super::is_extension(nh));
            }
        }

        #[test]
        fn emit_then_parse(src in any::<u128>(), dst in any::<u128>(), next_header in any::<u8>(),
                           payload_len in 0usize..64, hop_limit in any::<u8>(),
                           traffic_class in any::<u8>(), flow_label in 0u32..0x10_0000) {
            let r = Ipv6Repr {
                src: src.into(), dst: dst.into(), next_header, payload_len, hop_limit,
                traffic_class, flow_label,
            };
            let mut b = vec![0u8; r.buffer_len() + payload_len];
            r.emit(&mut b);
            let p = Ipv6Packet::new_checked(&b[..]).unwrap();
            prop_assert_eq!(Ipv6Repr::parse(&p), r);
            prop_assert!(Ipv6Packet::new_checked(&b[..b.len() - 1]).is_err());
        }
    }
}
