//! Keeping packets within a tunnel's MTU, since the fast path never fragments: TCP MSS clamping
//! on SYNs (most connections then never send a packet too large), and ICMP "fragmentation
//! needed" (RFC 792 type 3 code 4 with the next-hop MTU of RFC 1191) for the rest, which sets
//! Don't Fragment and so asks for exactly this answer.

pub mod v6;

use std::net::Ipv4Addr;

use crate::wire::icmp::{self, IcmpRepr};
use crate::wire::ipv4::{self, Ipv4Repr};
use crate::wire::tcp::{self, TcpSegment};
use crate::wire::{ethernet, proto, IcmpPacket, Ipv4Packet};

/// Lowers the MSS option of a TCP SYN segment to `max` (the checksum updated incrementally).
/// Returns true when it changed. `seg` is the TCP header and payload; a malformed option list
/// is left alone (the packet is forwarded as it came: it is the endpoints' business).
pub fn clamp_mss(seg: &mut [u8], max: u16) -> bool {
    let Ok(mut t) = TcpSegment::new_checked(seg) else {
        return false;
    };
    if t.flags() & tcp::flags::SYN == 0 {
        return false;
    }
    match t.mss() {
        Some(old) if old > max => t.set_mss_update_checksum(max),
        _ => false,
    }
}

/// The IPv4 and ICMP headers of an error.
const ERROR_HEADERS: usize = ipv4::MIN_HEADER_LEN + icmp::HEADER_LEN;

/// Most of the offending packet an ICMP error quotes: the whole error then fits in the 576
/// bytes every IPv4 host accepts (RFC 1812 §4.3.2.3).
pub const MAX_QUOTE: usize = 576 - ERROR_HEADERS;

/// Routers send their errors with DSCP CS6 (network control, RFC 4594).
const CS6: u8 = 0xc0;

/// Replaces the IPv4 packet behind the Ethernet header (`len` bytes, with DF set and larger
/// than `mtu`) by an ICMP fragmentation-needed error from `from` to its source, quoting its
/// start. Returns the new frame length (`None`: no room for the error, which cannot happen for
/// a packet of at least 576 bytes). The caller sets the MAC addresses for the way back.
pub fn frag_needed(frame: &mut [u8], len: usize, from: Ipv4Addr, mtu: u16) -> Option<usize> {
    let m = IcmpRepr::DestUnreachable {
        code: icmp::code::FRAG_NEEDED,
        next_hop_mtu: mtu,
    };
    icmp_error(frame, len, from, &m)
}

/// Replaces the IPv4 packet behind the Ethernet header (`len` bytes) whose TTL ran out here by
/// an ICMP time exceeded in transit (RFC 792 type 11 code 0) from `from` to its source.
/// Returns the new frame length; the caller sets the MAC addresses.
pub fn time_exceeded(frame: &mut [u8], len: usize, from: Ipv4Addr) -> Option<usize> {
    let m = IcmpRepr::TimeExceeded {
        code: icmp::code::TTL_EXCEEDED,
    };
    icmp_error(frame, len, from, &m)
}

/// The error `m` (a destination unreachable or time exceeded header) about the IPv4 packet
/// behind the Ethernet header, `len` bytes, written in its place: from `from` to the packet's
/// source, quoting as much of it as fits in 576 bytes (RFC 1812 §4.3.2.3). Returns the new
/// frame length, or `None` when `frame` has no room for the headers and the least quote RFC 792
/// asks for (the offending header and 8 bytes of its data); `frame` is then unchanged.
pub fn icmp_error(frame: &mut [u8], len: usize, from: Ipv4Addr, m: &IcmpRepr) -> Option<usize> {
    let l3 = ethernet::HEADER_LEN;
    // The error is never longer than the packet it answers when that packet is at least 576
    // bytes, so it fits where that packet was; a smaller one needs the room behind the frame
    // (an AF_XDP chunk has it), and the quote is shortened to what the buffer holds.
    let quote = len
        .min(MAX_QUOTE)
        .min(frame.len().saturating_sub(l3 + ERROR_HEADERS));
    let offending = Ipv4Packet::new_checked(frame.get(l3..l3 + len)?).ok()?;
    let least = (offending.header_len() + icmp::QUOTED_DATA_LEN).min(len);
    if quote < least {
        return None;
    }
    let to = offending.src();
    frame.copy_within(l3..l3 + quote, l3 + ERROR_HEADERS);
    let ip = Ipv4Repr {
        src: from,
        dst: to,
        protocol: proto::ICMP,
        payload_len: icmp::HEADER_LEN + quote,
        ttl: 64,
        ident: 0,
        dont_frag: false,
        dscp_ecn: CS6,
    };
    ip.emit(&mut frame[l3..]);
    let end = l3 + ip.buffer_len() + ip.payload_len;
    let msg = &mut frame[l3 + ip.buffer_len()..end];
    m.emit(msg);
    IcmpPacket::new_unchecked(msg).fill_checksum();
    Some(end)
}

#[cfg(test)]
mod tests {
    use std::net::{Ipv4Addr, SocketAddrV4};

    use super::*;
    use crate::frames::{self, L2};
    use crate::testkit::ip_of;
    use crate::wire::MacAddr;

    fn syn_with_options(opts: &[u8]) -> Vec<u8> {
        frames::with_tcp_options(
            Ipv4Addr::new(198, 18, 64, 5),
            Ipv4Addr::new(198, 19, 1, 1),
            &frames::tcp_repr(40000, 80, tcp::flags::SYN),
            opts,
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

    /// The TCP segment of a frame.
    fn seg(f: &mut [u8]) -> &mut [u8] {
        let at = ethernet::HEADER_LEN + ip_of(f).header_len();
        let end = ethernet::HEADER_LEN + usize::from(ip_of(f).total_len());
        &mut f[at..end]
    }

    fn mss_of(f: &[u8]) -> Option<u16> {
        TcpSegment::new_checked(ip_of(f).payload()).unwrap().mss()
    }

    #[test]
    fn clamps_aligned_and_unaligned_mss_with_a_valid_checksum() {
        // MSS first (aligned), and after a NOP (odd offset).
        for opts in [
            vec![2, 4, 0x05, 0xb4, 1, 1, 1, 0],
            vec![1, 2, 4, 0x05, 0xb4, 1, 1, 0],
        ] {
            let mut f = frame(&syn_with_options(&opts));
            assert_eq!(mss_of(&f), Some(1460));
            assert!(clamp_mss(seg(&mut f), 1396));
            assert_eq!(mss_of(&f), Some(1396));
            assert!(frames::checksums_ok(&f), "{opts:?}");
            // Already small enough: untouched.
            assert!(!clamp_mss(seg(&mut f), 1400));
        }
    }

    #[test]
    fn leaves_non_syns_and_bad_options_alone() {
        let mut f = frame(&syn_with_options(&[2, 4, 0x05, 0xb4]));
        TcpSegment::new_unchecked(seg(&mut f)).set_flags(tcp::flags::ACK);
        assert!(!clamp_mss(seg(&mut f), 1000));
        for opts in [vec![2, 0, 0, 0], vec![3, 9, 0, 0], vec![0, 2, 4, 5]] {
            let mut f = frame(&syn_with_options(&opts));
            let before = f.clone();
            assert!(!clamp_mss(seg(&mut f), 1000), "{opts:?}");
            assert_eq!(f, before);
        }
        assert!(TcpSegment::new_checked(seg(&mut f)).is_ok());
    }

    #[test]
    fn frag_needed_quotes_the_packet_and_checks_out() {
        let big = frames::udp_datagram(
            SocketAddrV4::new(Ipv4Addr::new(198, 19, 1, 1), 53),
            SocketAddrV4::new(Ipv4Addr::new(198, 19, 0, 1), 40001),
            &[7u8; 1400],
        );
        let mut f = frame(&big);
        let len = frag_needed(&mut f, big.len(), Ipv4Addr::new(198, 19, 0, 1), 1400).unwrap();
        assert_eq!(len, 14 + 576);
        assert!(frames::checksums_ok(&f[..len]));
        let ip = ip_of(&f[..len]);
        assert_eq!(ip.dst(), Ipv4Addr::new(198, 19, 1, 1));
        assert_eq!(ip.src(), Ipv4Addr::new(198, 19, 0, 1));
        assert_eq!(ip.dscp_ecn(), CS6);
        let m = IcmpPacket::new_checked(ip.payload()).unwrap();
        assert_eq!((m.msg_type(), m.code()), (3, 4));
        assert_eq!(m.next_hop_mtu(), 1400);
        assert_eq!(m.quoted().len(), MAX_QUOTE);
        assert!(big.starts_with(m.quoted()));
    }
}
