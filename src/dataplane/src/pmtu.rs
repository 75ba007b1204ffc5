//! Keeping packets within a tunnel's MTU, since the fast path never fragments: TCP MSS clamping
//! on SYNs (most connections then never send a packet too large), and ICMP "fragmentation
//! needed" (RFC 792 type 3 code 4 with the next-hop MTU of RFC 1191) for the rest, which sets
//! Don't Fragment and so asks for exactly this answer.

use super::checksum::{self, update16};
use super::wire::{be16, ethernet, icmp, proto, put16, put32, tcp};

/// TCP option kinds (RFC 9293 §3.1).
const OPT_END: u8 = 0;
const OPT_NOP: u8 = 1;
const OPT_MSS: u8 = 2;

/// Lowers the MSS option of a TCP SYN segment to `max` (the checksum updated incrementally).
/// Returns true when it changed. `seg` is the TCP header and payload; a malformed option list
/// is left alone (the packet is forwarded as it came: it is the endpoints' business).
pub fn clamp_mss(seg: &mut [u8], max: u16) -> bool {
    if seg.len() < tcp::MIN_HEADER_LEN || seg[13] & tcp::flags::SYN == 0 {
        return false;
    }
    let hl = (usize::from(seg[12] >> 4) * 4).min(seg.len());
    let mut i = tcp::MIN_HEADER_LEN;
    while i < hl {
        match seg[i] {
            OPT_END => return false,
            OPT_NOP => i += 1,
            kind => {
                let Some(&len) = seg.get(i + 1) else {
                    return false;
                };
                let len = usize::from(len);
                if len < 2 || i + len > hl {
                    return false;
                }
                if kind == OPT_MSS && len == 4 {
                    let old = be16(seg, i + 2);
                    if old <= max {
                        return false;
                    }
                    put16(seg, i + 2, max);
                    // The option starts at an even or odd offset; the checksum is over 16-bit
                    // words, so update the word(s) the two bytes lie in.
                    let c = be16(seg, tcp::CHECKSUM_AT);
                    let c = if (i + 2) % 2 == 0 {
                        update16(c, old, max)
                    } else {
                        let w0_old = u16::from_be_bytes([seg[i + 1], (old >> 8) as u8]);
                        let w0_new = be16(seg, i + 1);
                        let w1_old = u16::from_be_bytes([old as u8, seg[i + 4]]);
                        let w1_new = be16(seg, i + 3);
                        update16(update16(c, w0_old, w0_new), w1_old, w1_new)
                    };
                    put16(seg, tcp::CHECKSUM_AT, c);
                    return true;
                }
                i += len;
            }
        }
    }
    false
}

/// Most of the offending packet an ICMP error quotes: the whole error then fits in the 576
/// bytes every IPv4 host accepts (RFC 1812 §4.3.2.3).
pub const MAX_QUOTE: usize = 576 - 20 - icmp::HEADER_LEN;

/// Replaces the IPv4 packet behind the Ethernet header (`len` bytes, with DF set and larger
/// than `mtu`) by an ICMP fragmentation-needed error from `from` to its source, quoting its
/// start. Returns the new frame length. The caller sets the MAC addresses for the way back.
pub fn frag_needed(frame: &mut [u8], len: usize, from: u32, mtu: u16) -> usize {
    let l3 = ethernet::HEADER_LEN;
    let hdr = 20 + icmp::HEADER_LEN;
    // With a tunnel MTU of at least 576 the error is never longer than the packet it answers,
    // so it fits where that packet was; the quote is shortened should the buffer say otherwise.
    let quote = len.min(MAX_QUOTE).min(frame.len().saturating_sub(l3 + hdr));
    let to = u32::from_be_bytes([
        frame[l3 + 12],
        frame[l3 + 13],
        frame[l3 + 14],
        frame[l3 + 15],
    ]);
    frame.copy_within(l3..l3 + quote, l3 + hdr);
    let total = hdr + quote;
    let ip = &mut frame[l3..l3 + 20];
    ip[0] = 0x45;
    ip[1] = 0xc0; // CS6, as routers send their errors
    put16(ip, 2, total as u16);
    put16(ip, 4, 0);
    put16(ip, 6, 0);
    ip[8] = 64;
    ip[9] = proto::ICMP;
    put16(ip, 10, 0);
    put32(ip, 12, from);
    put32(ip, 16, to);
    let c = !checksum::fold(checksum::sum(ip));
    put16(ip, 10, c);
    let m = &mut frame[l3 + 20..l3 + total];
    m[0] = icmp::kind::DEST_UNREACHABLE;
    m[1] = icmp::code::FRAG_NEEDED;
    put16(m, 2, 0);
    put16(m, 4, 0);
    put16(m, 6, mtu);
    let c = !checksum::fold(checksum::sum(m));
    put16(m, 2, c);
    l3 + total
}

#[cfg(test)]
mod tests {
    use std::net::{Ipv4Addr, SocketAddrV4};

    use super::*;
    use crate::frames::{self, L2};
    use crate::wire::{IcmpPacket, Ipv4Packet, MacAddr, TcpSegment};

    fn syn_with_options(opts: &[u8]) -> Vec<u8> {
        let mut t = vec![0u8; 20];
        t[0..2].copy_from_slice(&40000u16.to_be_bytes());
        t[2..4].copy_from_slice(&80u16.to_be_bytes());
        t[12] = (((20 + opts.len()) / 4) << 4) as u8;
        t[13] = tcp::flags::SYN;
        t.extend_from_slice(opts);
        frames::ipv4_packet(
            Ipv4Addr::new(198, 18, 64, 5),
            Ipv4Addr::new(198, 19, 1, 1),
            proto::TCP,
            t,
            Some(16),
        )
    }

    fn frame(ip: &[u8]) -> Vec<u8> {
        frames::ethernet(
            L2 {
                src: MacAddr([2, 0, 0, 0, 0, 1]),
                dst: MacAddr([2, 0, 0, 0, 0, 2]),
            },
            ip,
        )
    }

    fn mss_of(f: &[u8], at: usize) -> u16 {
        be16(f, 14 + 20 + at)
    }

    #[test]
    fn clamps_aligned_and_unaligned_mss_with_a_valid_checksum() {
        // MSS first (aligned), and after a NOP (odd offset).
        for (opts, at) in [
            (vec![2, 4, 0x05, 0xb4, 1, 1, 1, 0], 22),
            (vec![1, 2, 4, 0x05, 0xb4, 1, 1, 0], 23),
        ] {
            let mut f = frame(&syn_with_options(&opts));
            let seg = &mut f[34..];
            assert!(clamp_mss(seg, 1396));
            assert_eq!(mss_of(&f, at), 1396);
            assert!(frames::checksums_ok(&f), "{opts:?}");
            // Already small enough: untouched.
            assert!(!clamp_mss(&mut f[34..], 1400));
        }
    }

    #[test]
    fn leaves_non_syns_and_bad_options_alone() {
        let mut f = frame(&syn_with_options(&[2, 4, 0x05, 0xb4]));
        f[34 + 13] = tcp::flags::ACK;
        assert!(!clamp_mss(&mut f[34..], 1000));
        for opts in [vec![2, 0, 0, 0], vec![3, 9, 0, 0], vec![0, 2, 4, 5]] {
            let mut f = frame(&syn_with_options(&opts));
            assert!(!clamp_mss(&mut f[34..], 1000), "{opts:?}");
        }
        assert!(TcpSegment::new_checked(&f[34..]).is_ok());
    }

    #[test]
    fn frag_needed_quotes_the_packet_and_checks_out() {
        let big = frames::udp_datagram(
            SocketAddrV4::new(Ipv4Addr::new(198, 19, 1, 1), 53),
            SocketAddrV4::new(Ipv4Addr::new(198, 19, 0, 1), 40001),
            &[7u8; 1400],
        );
        let mut f = frame(&big);
        let len = frag_needed(&mut f, big.len(), Ipv4Addr::new(198, 19, 0, 1).into(), 1400);
        assert_eq!(len, 14 + 576);
        assert!(frames::checksums_ok(&f[..len]));
        let ip = Ipv4Packet::new_checked(&f[14..len]).unwrap();
        assert_eq!(ip.dst(), Ipv4Addr::new(198, 19, 1, 1));
        assert_eq!(ip.src(), Ipv4Addr::new(198, 19, 0, 1));
        let m = IcmpPacket::new_checked(ip.payload()).unwrap();
        assert_eq!((m.msg_type(), m.code()), (3, 4));
        assert_eq!(be16(m.as_bytes(), 6), 1400);
        assert_eq!(&m.quoted()[..28], &big[..28]);
    }
}
