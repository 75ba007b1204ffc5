//! The VRRP checksum: RFC 1071 one's-complement sum, optionally over a pseudo-header.
//!
//! RFC 9568 §5.2.8: "For the IPv4 address family, the checksum calculation only
//! includes the VRRP message starting with the Version field and ending after
//! the last IPv4 address (refer to Section 5.2). For the IPv6 address family,
//! the checksum calculation also includes a prepended "pseudo-header", as
//! defined in Section 8.1 of \[RFC8200\]."
//!
//! RFC 5798 (which RFC 9568 obsoletes) pointed at the IPv6 pseudo-header for both
//! families, and keepalived, FRR, Wireshark and tcpdump read that as "use an IPv4
//! pseudo-header for IPv4". Cisco and Juniper read it as "no pseudo-header",
//! which is what RFC 9568 settled on. Both forms are deployed, so the form is a
//! per-instance switch ([`ChecksumMode`]).

use std::net::IpAddr;

/// IP protocol number of VRRP (RFC 9568 §5.1.1.4 and §5.1.2.4).
pub const IP_PROTOCOL_VRRP: u8 = 112;

/// How the VRRPv3 checksum covers IPv4 advertisements.
///
/// IPv6 always uses the RFC 8200 pseudo-header whatever the mode: every
/// implementation agrees there.
///
/// The default is [`ChecksumMode::PseudoHeaderV4`] because that is what
/// keepalived (including the 2.2.7 captures in `tests/data`) and FRR send and
/// require out of the box: an RFC 9568 checksum would make keepalived drop our
/// adverts ("Invalid VRRPv3 checksum") and we would drop theirs, so both would
/// become master. Set [`ChecksumMode::Rfc9568`] for Cisco, Juniper, holo, or a
/// keepalived with `v3_checksum_as_v2`.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Default)]
pub enum ChecksumMode {
    /// RFC 9568 §5.2.8: IPv4 checksum over the VRRP message only.
    Rfc9568,
    /// RFC 5798 as read by keepalived/FRR/Wireshark: IPv4 checksum over an IPv4
    /// pseudo-header (source, destination, zero, protocol 112, VRRP length) plus
    /// the VRRP message.
    #[default]
    PseudoHeaderV4,
}

/// Addresses and mode that determine the checksum of one advertisement.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct ChecksumContext {
    /// IP source address of the advertisement.
    pub src: IpAddr,
    /// IP destination address (the multicast group or a unicast peer).
    pub dst: IpAddr,
    /// The IPv4 form; ignored for IPv6.
    pub mode: ChecksumMode,
}

/// Adds `data` to a running 32-bit one's-complement accumulator (RFC 1071).
fn sum_bytes(mut acc: u32, data: &[u8]) -> u32 {
    let mut chunks = data.chunks_exact(2);
    for pair in &mut chunks {
        acc += u32::from(u16::from_be_bytes([pair[0], pair[1]]));
    }
    if let [last] = chunks.remainder() {
        acc += u32::from(*last) << 8;
    }
    acc
}

fn fold(mut acc: u32) -> u16 {
    while acc > 0xffff {
        acc = (acc & 0xffff) + (acc >> 16);
    }
    // The loop guarantees the value fits.
    acc as u16
}

/// The pseudo-header contribution, or 0 when the context says there is none.
fn pseudo_header_sum(ctx: &ChecksumContext, len: usize) -> u32 {
    match (ctx.src, ctx.dst) {
        (IpAddr::V4(src), IpAddr::V4(dst)) => match ctx.mode {
            ChecksumMode::Rfc9568 => 0,
            ChecksumMode::PseudoHeaderV4 => {
                let acc = sum_bytes(0, &src.octets());
                let acc = sum_bytes(acc, &dst.octets());
                // The VRRP message is at most 8 + 255 * 16 bytes, so it fits in u16.
                acc + u32::from(IP_PROTOCOL_VRRP) + (len as u32 & 0xffff)
            }
        },
        (IpAddr::V6(src), IpAddr::V6(dst)) => {
            let acc = sum_bytes(0, &src.octets());
            let acc = sum_bytes(acc, &dst.octets());
            let len = len as u32;
            acc + (len >> 16) + (len & 0xffff) + u32::from(IP_PROTOCOL_VRRP)
        }
        // Mixed families cannot appear on the wire; sum the message alone so
        // the caller simply sees a checksum mismatch.
        _ => 0,
    }
}

/// Computes the checksum to write into a message whose checksum field is zero.
pub fn compute(ctx: &ChecksumContext, message: &[u8]) -> u16 {
    !fold(sum_bytes(pseudo_header_sum(ctx, message.len()), message))
}

/// Verifies a received message (checksum field included) under `ctx`.
pub fn verify(ctx: &ChecksumContext, message: &[u8]) -> bool {
    fold(sum_bytes(pseudo_header_sum(ctx, message.len()), message)) == 0xffff
}

/// Checksum of the message alone, as VRRPv2 (RFC 3768 §5.3.8) defines it.
pub fn compute_plain(message: &[u8]) -> u16 {
    !fold(sum_bytes(0, message))
}

/// Verifies a VRRPv2-style checksum (no pseudo-header).
pub fn verify_plain(message: &[u8]) -> bool {
    fold(sum_bytes(0, message)) == 0xffff
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::net::Ipv4Addr;

    #[test]
    fn rfc1071_example() {
        // RFC 1071 §3 example: 00 01 f2 03 f4 f5 f6 f7 sums to 0xddf2.
        let data = [0x00, 0x01, 0xf2, 0x03, 0xf4, 0xf5, 0xf6, 0xf7];
        assert_eq!(fold(sum_bytes(0, &data)), 0xddf2);
        assert_eq!(compute_plain(&data), !0xddf2);
    }

    #[test]
    fn odd_length_pads_with_zero() {
        assert_eq!(fold(sum_bytes(0, &[0x12])), 0x1200);
    }

    #[test]
    fn keepalived_vector_a_pseudo_header() {
        // keepalived 2.2.7 vector A: 198.18.0.1 -> 224.0.0.18, checksum 0x994d.
        let msg = [
            0x31, 0x33, 0xc8, 0x01, 0x00, 0x64, 0x99, 0x4d, 0xc6, 0x12, 0x00, 0x64,
        ];
        let ctx = ChecksumContext {
            src: Ipv4Addr::new(198, 18, 0, 1).into(),
            dst: Ipv4Addr::new(224, 0, 0, 18).into(),
            mode: ChecksumMode::PseudoHeaderV4,
        };
        assert!(verify(&ctx, &msg));
        let mut zeroed = msg;
        zeroed[6] = 0;
        zeroed[7] = 0;
        assert_eq!(compute(&ctx, &zeroed), 0x994d);
        let rfc = ChecksumContext {
            mode: ChecksumMode::Rfc9568,
            ..ctx
        };
        assert!(!verify(&rfc, &msg));
    }
}
