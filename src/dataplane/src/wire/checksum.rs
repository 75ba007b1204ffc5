//! The Internet checksum (RFC 1071) and its incremental update (RFC 1624, equation 3:
//! `HC' = ~(~HC + ~m + m')`), the one implementation the data plane uses. NAT changes an address
//! and a port; updating the checksum from the changed words costs a few additions instead of a
//! pass over the payload. An IPv4 address is two 16-bit words of a pseudo-header, an IPv6
//! address eight (RFC 8200 §8.1).

use std::net::{Ipv4Addr, Ipv6Addr};

use super::bytes::read_u16;

/// Ones'-complement sum of `data` as big-endian 16-bit words, not yet folded. A trailing odd
/// byte is padded with zero, as RFC 1071 says.
pub fn sum(data: &[u8]) -> u64 {
    let mut acc = 0u64;
    let mut chunks = data.chunks_exact(2);
    for c in &mut chunks {
        acc += u64::from(read_u16(c));
    }
    if let [last] = chunks.remainder() {
        acc += u64::from(*last) << 8;
    }
    acc
}

/// Folds carries back in until the sum fits in 16 bits.
pub fn fold(mut acc: u64) -> u16 {
    while acc > 0xffff {
        acc = (acc & 0xffff) + (acc >> 16);
    }
    acc as u16
}

/// The checksum to store for data whose (unfolded) sum is `acc`.
pub fn finish(acc: u64) -> u16 {
    !fold(acc)
}

/// The IPv4 pseudo-header's contribution to a TCP or UDP checksum (RFC 9293 §3.1, RFC 768).
pub fn pseudo_header_v4(src: Ipv4Addr, dst: Ipv4Addr, proto: u8, len: u16) -> u64 {
    sum(&src.octets()) + sum(&dst.octets()) + u64::from(proto) + u64::from(len)
}

/// The IPv6 pseudo-header's contribution to a TCP, UDP or ICMPv6 checksum (RFC 8200 §8.1): the
/// upper-layer length is 32 bits there.
pub fn pseudo_header_v6(src: Ipv6Addr, dst: Ipv6Addr, next_header: u8, len: u32) -> u64 {
    sum(&src.octets())
        + sum(&dst.octets())
        + u64::from(len >> 16)
        + u64::from(len & 0xffff)
        + u64::from(next_header)
}

/// Checksum over a pseudo-header sum and a segment, ready to store.
pub fn l4_checksum_v4(src: Ipv4Addr, dst: Ipv4Addr, proto: u8, segment: &[u8]) -> u16 {
    finish(pseudo_header_v4(src, dst, proto, segment.len() as u16) + sum(segment))
}

/// RFC 1624 eqn. 3 for one changed 16-bit word.
#[inline(always)]
pub fn update16(check: u16, old: u16, new: u16) -> u16 {
    let acc = u32::from(!check) + u32::from(!old) + u32::from(new);
    let acc = (acc & 0xffff) + (acc >> 16);
    let acc = (acc & 0xffff) + (acc >> 16);
    !(acc as u16)
}

/// RFC 1624 eqn. 3 for a changed 32-bit value (an IPv4 address: two words).
#[inline(always)]
pub fn update32(check: u16, old: u32, new: u32) -> u16 {
    let acc = u32::from(!check)
        + u32::from(!(old >> 16) as u16)
        + u32::from(!(old as u16))
        + (new >> 16)
        + (new & 0xffff);
    let acc = (acc & 0xffff) + (acc >> 16);
    let acc = (acc & 0xffff) + (acc >> 16);
    !(acc as u16)
}

/// The terms RFC 1624 eqn. 3 adds for one changed 16-bit word (`~m + m'`), for a delta that
/// several updates share (the established-flow offload keeps one per direction).
#[inline(always)]
pub fn delta16(old: u16, new: u16) -> u64 {
    u64::from(!old) + u64::from(new)
}

/// [`delta16`] for both words of a 32-bit value.
#[inline(always)]
pub fn delta32(old: u32, new: u32) -> u64 {
    delta16((old >> 16) as u16, (new >> 16) as u16) + delta16(old as u16, new as u16)
}

/// Applies a folded delta: the same result as the updates whose terms it sums, applied one by
/// one (ones'-complement addition is associative, and a non-zero sum never folds to zero).
#[inline(always)]
pub fn apply_delta(check: u16, delta: u16) -> u16 {
    !fold(u64::from(!check) + u64::from(delta))
}

/// RFC 1624 eqn. 3 for a changed 128-bit value (an IPv6 address: eight words).
#[inline(always)]
pub fn update128(check: u16, old: u128, new: u128) -> u16 {
    // The eight words' sum, taken as four 32-bit halves (2^16 = 1 in ones' complement, so a
    // 32-bit chunk folds to the sum of its two words): `~m` of every word is `!old`.
    #[inline(always)]
    fn sum128(x: u128) -> u64 {
        let (a, b) = (x as u64, (x >> 64) as u64);
        (a & 0xffff_ffff) + (a >> 32) + (b & 0xffff_ffff) + (b >> 32)
    }
    !fold(u64::from(!check) + sum128(!old) + sum128(new))
}

/// The UDP rule around an incremental update: zero means the sender did not compute a checksum
/// (allowed over IPv4), so it stays zero; a computed checksum that comes out as zero is sent as
/// all ones (RFC 768).
#[inline(always)]
pub fn udp_update(check: u16, update: impl FnOnce(u16) -> u16) -> u16 {
    if check == 0 {
        return 0;
    }
    match update(check) {
        0 => 0xffff,
        c => c,
    }
}

/// The UDP rule for a checksum computed from scratch: zero is sent as all ones (RFC 768).
#[inline(always)]
pub fn udp_computed(check: u16) -> u16 {
    if check == 0 {
        0xffff
    } else {
        check
    }
}

/// [`update32`] under the UDP rule.
#[inline(always)]
pub fn udp_update32(check: u16, old: u32, new: u32) -> u16 {
    udp_update(check, |c| update32(c, old, new))
}

/// [`update16`] under the UDP rule.
#[inline(always)]
pub fn udp_update16(check: u16, old: u16, new: u16) -> u16 {
    udp_update(check, |c| update16(c, old, new))
}

#[cfg(test)]
mod tests {
    use super::*;
    use proptest::prelude::*;

    fn full(data: &[u8]) -> u16 {
        finish(sum(data))
    }

    /// 0x0000 and 0xffff are the same number in ones' complement.
    fn same(a: u16, b: u16) -> bool {
        a == b || (a == 0xffff && b == 0) || (a == 0 && b == 0xffff)
    }

    #[test]
    fn rfc1071_example() {
        // RFC 1071 §3: the words 0001 f203 f4f5 f6f7 sum to ddf2 (folded).
        assert_eq!(
            fold(sum(&[0x00, 0x01, 0xf2, 0x03, 0xf4, 0xf5, 0xf6, 0xf7])),
            0xddf2
        );
        // Odd length pads with zero.
        assert_eq!(fold(sum(&[0x01])), 0x0100);
    }

    #[test]
    fn udp_zero_stays_zero() {
        assert_eq!(udp_update32(0, 1, 2), 0);
        assert_eq!(udp_update16(0, 1, 2), 0);
        assert_eq!(udp_computed(0), 0xffff);
        // An update that lands on zero is sent as all ones: ~(~0xffff + ~0 + 0) = 0.
        assert_eq!(update16(0xffff, 0, 0), 0);
        assert_eq!(udp_update16(0xffff, 0, 0), 0xffff);
    }

    #[test]
    fn pseudo_header_v6_counts_the_length_as_32_bits() {
        let a: Ipv6Addr = "2001:db8::1".parse().unwrap();
        let b: Ipv6Addr = "2001:db8::2".parse().unwrap();
        assert_eq!(
            pseudo_header_v6(a, b, 6, 0x1_0002) - pseudo_header_v6(a, b, 6, 0),
            1 + 2
        );
    }

    proptest! {
        /// Changing one word and updating incrementally equals recomputing.
        #[test]
        fn update16_matches_recompute(mut data in proptest::collection::vec(any::<u8>(), 2..64),
                                      at in 0usize..32, new in any::<u16>()) {
            let at = (at % (data.len() / 2)) * 2;
            let before = full(&data);
            let old = read_u16(&data[at..]);
            data[at..at + 2].copy_from_slice(&new.to_be_bytes());
            let after = full(&data);
            let inc = update16(before, old, new);
            prop_assert!(same(inc, after), "inc {inc:#x} full {after:#x}");
        }

        #[test]
        fn update32_matches_recompute(mut data in proptest::collection::vec(any::<u8>(), 4..64),
                                      at in 0usize..30, new in any::<u32>()) {
            let at = (at % (data.len() / 2 - 1)) * 2;
            let before = full(&data);
            let old = u32::from_be_bytes([data[at], data[at + 1], data[at + 2], data[at + 3]]);
            data[at..at + 4].copy_from_slice(&new.to_be_bytes());
            let after = full(&data);
            let inc = update32(before, old, new);
            prop_assert!(same(inc, after), "inc {inc:#x} full {after:#x}");
        }

        /// An IPv6 address changed in a pseudo-header (eight words at once) equals recomputing.
        #[test]
        fn update128_matches_recompute(mut data in proptest::collection::vec(any::<u8>(), 16..96),
                                       at in 0usize..40, new in any::<u128>()) {
            let at = (at % (data.len() / 2 - 7)) * 2;
            let before = full(&data);
            let mut old = [0u8; 16];
            old.copy_from_slice(&data[at..at + 16]);
            let old = u128::from_be_bytes(old);
            data[at..at + 16].copy_from_slice(&new.to_be_bytes());
            let after = full(&data);
            let inc = update128(before, old, new);
            prop_assert!(same(inc, after), "inc {inc:#x} full {after:#x}");
        }

        /// The same through the pseudo-header: a TCP checksum over IPv6 stays valid when the
        /// source address is swapped and the checksum updated.
        #[test]
        fn v6_pseudo_header_update(seg in proptest::collection::vec(any::<u8>(), 20..64),
                                   src in any::<u128>(), dst in any::<u128>(), new in any::<u128>()) {
            let (src, dst, new) = (Ipv6Addr::from(src), Ipv6Addr::from(dst), Ipv6Addr::from(new));
            let len = seg.len() as u32;
            let c = finish(pseudo_header_v6(src, dst, 6, len) + sum(&seg));
            let inc = update128(c, src.into(), new.into());
            let after = finish(pseudo_header_v6(new, dst, 6, len) + sum(&seg));
            prop_assert!(same(inc, after), "inc {inc:#x} full {after:#x}");
        }
    }
}
