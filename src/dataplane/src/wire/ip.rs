//! What IPv4 and IPv6 have in common for the data plane: an [`Address`] type per family, and
//! the [`IpHeader`] a NAT rewrite is written against, so that the rewrite exists once and the
//! IPv6 path needs only the IPv6 implementation of these traits.
//!
//! The addresses are the standard library's `Ipv4Addr` and `Ipv6Addr`: they hold their octets
//! in network order (`[u8; 4]` and `[u8; 16]`, alignment 1), so a flow key over `Ipv4Addr` is as
//! small as one over `u32`, and a conntrack entry of IPv4 flows stays 56 bytes.

use std::fmt::Debug;
use std::hash::Hash;
use std::net::{Ipv4Addr, Ipv6Addr};

use super::checksum;

/// An address family's address.
pub trait Address: Copy + Eq + Hash + Debug + Send + Sync + 'static {
    /// The all-zeros address, which is never a flow's.
    const UNSPECIFIED: Self;

    fn is_unspecified(&self) -> bool;

    /// The address folded to the word the flow hashes mix: the address itself for IPv4 (so
    /// IPv4 hashes are what they were over `u32`), both halves xor-ed for IPv6.
    fn hash_word(self) -> u64;

    /// Ones'-complement sum of the TCP/UDP (ICMPv6) pseudo-header (RFC 768, RFC 8200 §8.1).
    fn pseudo_header(src: Self, dst: Self, protocol: u8, len: usize) -> u64;

    /// RFC 1624 update of a checksum that covers the address (in a header or a pseudo-header):
    /// two 16-bit words for IPv4, eight for IPv6.
    fn update_checksum(check: u16, old: Self, new: Self) -> u16;
}

impl Address for Ipv4Addr {
    const UNSPECIFIED: Self = Ipv4Addr::UNSPECIFIED;

    #[inline(always)]
    fn is_unspecified(&self) -> bool {
        Ipv4Addr::is_unspecified(self)
    }

    #[inline(always)]
    fn hash_word(self) -> u64 {
        u64::from(u32::from(self))
    }

    fn pseudo_header(src: Self, dst: Self, protocol: u8, len: usize) -> u64 {
        checksum::pseudo_header_v4(src, dst, protocol, len as u16)
    }

    #[inline(always)]
    fn update_checksum(check: u16, old: Self, new: Self) -> u16 {
        checksum::update32(check, old.into(), new.into())
    }
}

impl Address for Ipv6Addr {
    const UNSPECIFIED: Self = Ipv6Addr::UNSPECIFIED;

    #[inline(always)]
    fn is_unspecified(&self) -> bool {
        Ipv6Addr::is_unspecified(self)
    }

    #[inline(always)]
    fn hash_word(self) -> u64 {
        let a = u128::from(self);
        (a as u64) ^ ((a >> 64) as u64)
    }

    fn pseudo_header(src: Self, dst: Self, next_header: u8, len: usize) -> u64 {
        checksum::pseudo_header_v6(src, dst, next_header, len as u32)
    }

    #[inline(always)]
    fn update_checksum(check: u16, old: Self, new: Self) -> u16 {
        checksum::update128(check, old.into(), new.into())
    }
}

/// An IP header as NAT rewrites it, for a packet the pipeline has validated and cut to its
/// length (IPv4 Total Length; IPv6 header plus Payload Length). IPv4 has a header checksum,
/// which the setters keep right; IPv6 has none. Both carry an upper layer whose checksum covers
/// a pseudo-header with both addresses: that one is the caller's to update.
pub trait IpHeader {
    type Addr: Address;

    fn src_addr(&self) -> Self::Addr;
    fn dst_addr(&self) -> Self::Addr;
    /// The upper-layer protocol: IPv4's Protocol, IPv6's (first) Next Header.
    fn upper_protocol(&self) -> u8;
    /// Sets the source address, updating the header checksum if the family has one.
    fn set_src_update_checksum(&mut self, addr: Self::Addr);
    fn set_dst_update_checksum(&mut self, addr: Self::Addr);
    /// Decrements the TTL (IPv4) or Hop Limit (IPv6), updating the header checksum if any.
    fn decrement_hop_limit(&mut self);
    /// The bytes behind the header, to the end of the buffer.
    fn upper_layer_mut(&mut self) -> &mut [u8];
}
