//! The Internet checksum (RFC 1071) and its incremental update (RFC 1624, equation 3:
//! `HC' = ~(~HC + ~m + m')`). NAT changes an address and a port; updating the checksum from the
//! changed words costs a few additions instead of a pass over the payload.

use std::net::Ipv4Addr;

/// Ones'-complement sum of `data` as big-endian 16-bit words, not yet folded. A trailing odd
/// byte is padded with zero, as RFC 1071 says.
pub fn sum(data: &[u8]) -> u64 {
    let mut acc = 0u64;
    let mut chunks = data.chunks_exact(2);
    for c in &mut chunks {
        acc += u64::from(u16::from_be_bytes([c[0], c[1]]));
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

/// The IPv4 pseudo-header's contribution to a TCP or UDP checksum.
pub fn pseudo_header_v4(src: Ipv4Addr, dst: Ipv4Addr, proto: u8, len: u16) -> u64 {
    sum(&src.octets()) + sum(&dst.octets()) + u64::from(proto) + u64::from(len)
}

/// Checksum over a pseudo-header sum and a segment, ready to store.
pub fn l4_checksum_v4(src: Ipv4Addr, dst: Ipv4Addr, proto: u8, segment: &[u8]) -> u16 {
    !fold(pseudo_header_v4(src, dst, proto, segment.len() as u16) + sum(segment))
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

/// UDP over IPv4: zero means the sender did not compute a checksum, so it stays zero; a computed
/// checksum that comes out as zero is sent as all ones (RFC 768).
#[inline(always)]
pub fn udp_update32(check: u16, old: u32, new: u32) -> u16 {
    if check == 0 {
        return 0;
    }
    match update32(check, old, new) {
        0 => 0xffff,
        c => c,
    }
}

#[inline(always)]
pub fn udp_update16(check: u16, old: u16, new: u16) -> u16 {
    if check == 0 {
        return 0;
    }
    match update16(check, old, new) {
        0 => 0xffff,
        c => c,
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use proptest::prelude::*;

    fn full(data: &[u8]) -> u16 {
        !fold(sum(data))
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
    }

    proptest! {
        /// Changing one word and updating incrementally equals recomputing.
        #[test]
        fn update16_matches_recompute(mut data in proptest::collection::vec(any::<u8>(), 2..64),
                                      at in 0usize..32, new in any::<u16>()) {
            let at = (at % (data.len() / 2)) * 2;
            let before = full(&data);
            let old = u16::from_be_bytes([data[at], data[at + 1]]);
            data[at..at + 2].copy_from_slice(&new.to_be_bytes());
            let after = full(&data);
            let inc = update16(before, old, new);
            // 0x0000 and 0xffff are the same number in ones' complement.
            prop_assert!(inc == after || (inc == 0xffff && after == 0) || (inc == 0 && after == 0xffff),
                "inc {inc:#x} full {after:#x}");
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
            prop_assert!(inc == after || (inc == 0xffff && after == 0) || (inc == 0 && after == 0xffff),
                "inc {inc:#x} full {after:#x}");
        }
    }
}
