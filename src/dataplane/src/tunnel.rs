//! GRE decapsulation and encapsulation of IPv4 packets inside an Ethernet frame, in place.
//!
//! The frame keeps its Ethernet header at the start (the pipeline rewrites the MAC addresses
//! for the next hop afterwards); the IP packet behind it is moved: forward by the outer headers
//! when decapsulating, back by them when encapsulating. Moving ~1.5 kB is cheaper than the cache
//! misses of a conntrack lookup, and it keeps every frame starting where the socket expects.
//! (With AF_XDP headroom the move could become an offset change; that needs the socket layer
//! to transmit from an offset.)

use super::gateway::Tunnel;
use super::wire::gre::{GreRepr, PROTO_IPV4, PROTO_IPV6};
use super::wire::ipv4::{self, Ipv4Repr};
use super::wire::ipv6::{self, Ipv6Repr};
use super::wire::{ethernet, proto, EtherType, EthernetFrame, Ipv4Packet, Ipv6Packet};

/// Removes the outer headers: the inner packet at `inner_at` (of `inner_len` bytes) moves to
/// just behind the Ethernet header. Returns the new frame length.
pub fn decapsulate(frame: &mut [u8], inner_at: usize, inner_len: usize) -> usize {
    let l3 = ethernet::HEADER_LEN;
    frame.copy_within(inner_at..inner_at + inner_len, l3);
    l3 + inner_len
}

fn gre(t: &Tunnel) -> GreRepr {
    GreRepr {
        key: t.key,
        protocol: PROTO_IPV4,
    }
}

/// Removes the outer headers of IPv6 in GRE: as [`decapsulate`], and the frame's EtherType
/// becomes IPv6.
pub fn decapsulate_v6(frame: &mut [u8], inner_at: usize, inner_len: usize) -> usize {
    let len = decapsulate(frame, inner_at, inner_len);
    EthernetFrame::new_unchecked(&mut frame[..]).set_ethertype(EtherType::Ipv6);
    len
}

/// Moves the packet behind the Ethernet header (`inner_len` bytes) back by `outer` bytes to
/// make room for outer headers; the frame's new length, or `None` when the frame cannot hold
/// it or what the outer header counts (`counted`: the outer datagram, or the payload for an
/// IPv6 header) would pass 65,535 bytes.
fn make_room(frame: &mut [u8], inner_len: usize, outer: usize, counted: usize) -> Option<usize> {
    let l3 = ethernet::HEADER_LEN;
    if l3 + outer + inner_len > frame.len() || counted > usize::from(u16::MAX) {
        return None;
    }
    frame.copy_within(l3..l3 + inner_len, l3 + outer);
    Some(l3 + outer + inner_len)
}

/// Wraps the packet behind the Ethernet header in the outer IPv4 and GRE headers of tunnel
/// `t` with GRE protocol type `protocol`.
fn encapsulate_gre(
    frame: &mut [u8],
    inner_len: usize,
    t: &Tunnel,
    protocol: u16,
    ident: u16,
    dont_frag: bool,
) -> Option<usize> {
    let l3 = ethernet::HEADER_LEN;
    let gre = GreRepr {
        key: t.key,
        protocol,
    };
    let outer = ipv4::MIN_HEADER_LEN + gre.buffer_len();
    let len = make_room(frame, inner_len, outer, outer + inner_len)?;
    let ip = Ipv4Repr {
        src: t.local,
        dst: t.remote,
        protocol: proto::GRE,
        payload_len: gre.buffer_len() + inner_len,
        ttl: 64,
        ident,
        dont_frag,
        dscp_ecn: 0,
    };
    ip.emit(&mut frame[l3..]);
    gre.emit(&mut frame[l3 + ip.buffer_len()..l3 + outer]);
    Some(len)
}

/// Wraps the IPv6 packet behind the Ethernet header (`inner_len` bytes) in an outer IPv4 and
/// GRE header (protocol type 0x86DD) of tunnel `t`; the frame's EtherType becomes IPv4. The
/// outer header has Don't Fragment: IPv6 is never fragmented on the way (RFC 8200 §5), and
/// what does not fit the tunnel was answered with Packet Too Big before it got here, so the
/// outer datagram is atomic and its Identification 0 (RFC 6864 §4.1). `None` if `frame` has
/// no room.
pub fn encapsulate_v6(frame: &mut [u8], inner_len: usize, t: &Tunnel) -> Option<usize> {
    let len = encapsulate_gre(frame, inner_len, t, PROTO_IPV6, 0, true)?;
    EthernetFrame::new_unchecked(&mut frame[..]).set_ethertype(EtherType::Ipv4);
    Some(len)
}

/// Bytes the tunnel adds in front of an inner packet.
pub fn overhead(t: &Tunnel) -> usize {
    ipv4::MIN_HEADER_LEN + gre(t).buffer_len()
}

/// Wraps the IPv4 packet behind the Ethernet header (`inner_len` bytes) in an outer IPv4 and
/// GRE header of tunnel `t`. `None` if `frame` has no room for them. The outer header copies the
/// inner Don't Fragment bit (RFC 2003 §3.1 does the same for IP in IP), so path MTU discovery
/// keeps working end to end; `ident` numbers outer packets for a reassembler should an
/// underlay router fragment one that may be.
pub fn encapsulate(frame: &mut [u8], inner_len: usize, t: &Tunnel, ident: u16) -> Option<usize> {
    let df = Ipv4Packet::new_unchecked(&frame[ethernet::HEADER_LEN..]).dont_frag();
    encapsulate_gre(frame, inner_len, t, PROTO_IPV4, ident, df)
}

/// Bytes IP in IP adds in front of an inner packet.
pub const IPIP_OVERHEAD: usize = ipv4::MIN_HEADER_LEN;

/// Wraps the IPv4 packet behind the Ethernet header (`inner_len` bytes) in an outer IPv4
/// header from `src` to `dst` with protocol 4 (IP in IP, RFC 2003 §3). The outer header copies
/// the inner Don't Fragment bit and has TTL 64 (§3.1). `None` if `frame` has no room.
pub fn encapsulate_ipip(
    frame: &mut [u8],
    inner_len: usize,
    src: std::net::Ipv4Addr,
    dst: std::net::Ipv4Addr,
    ident: u16,
) -> Option<usize> {
    let l3 = ethernet::HEADER_LEN;
    let len = make_room(frame, inner_len, IPIP_OVERHEAD, IPIP_OVERHEAD + inner_len)?;
    let inner = Ipv4Packet::new_unchecked(&frame[l3 + IPIP_OVERHEAD..]);
    let ip = Ipv4Repr {
        src,
        dst,
        protocol: proto::IPIP,
        payload_len: inner_len,
        ttl: 64,
        ident,
        dont_frag: inner.dont_frag(),
        dscp_ecn: inner.dscp_ecn(),
    };
    ip.emit(&mut frame[l3..]);
    Some(len)
}

/// Bytes IPv6 in IPv6 adds in front of an inner packet.
pub const IP6IP6_OVERHEAD: usize = ipv6::HEADER_LEN;

/// Wraps the IPv6 packet behind the Ethernet header (`inner_len` bytes) in an outer IPv6
/// header from `src` to `dst` with next header 41 (RFC 2473 §3.1, without a Tunnel
/// Encapsulation Limit option: the backend is the tunnel's exit, not a nested encapsulator).
/// Hop limit 64; the traffic class is copied (§6.5's choice, as the IPv4 tunnel copies DSCP);
/// the flow label is `flow_label` (the inner flow's hash: RFC 6437 §3 for an encapsulator, so
/// routers on the way can balance flows). `None` if `frame` has no room.
pub fn encapsulate_ip6ip6(
    frame: &mut [u8],
    inner_len: usize,
    src: std::net::Ipv6Addr,
    dst: std::net::Ipv6Addr,
    flow_label: u32,
) -> Option<usize> {
    let l3 = ethernet::HEADER_LEN;
    let len = make_room(frame, inner_len, IP6IP6_OVERHEAD, inner_len)?;
    let ip = Ipv6Repr {
        src,
        dst,
        next_header: proto::IPV6,
        payload_len: inner_len,
        hop_limit: 64,
        traffic_class: Ipv6Packet::new_unchecked(&frame[l3 + IP6IP6_OVERHEAD..]).traffic_class(),
        flow_label: flow_label & 0xf_ffff,
    };
    ip.emit(&mut frame[l3..]);
    Some(len)
}

#[cfg(test)]
mod tests {
    use std::net::{Ipv4Addr, SocketAddrV4};

    use super::*;
    use crate::frames::{self, L2};
    use crate::testkit::ip_of;
    use crate::wire::{GrePacket, MacAddr};

    fn tunnel(key: Option<u32>) -> Tunnel {
        Tunnel {
            name: "a".into(),
            zone: 1,
            local: Ipv4Addr::new(198, 18, 0, 1),
            remote: Ipv4Addr::new(198, 18, 9, 1),
            key,
            mtu: 1400,
            pool: None,
            site: false,
        }
    }

    #[test]
    fn encapsulate_then_decapsulate_is_identity() {
        let inner = frames::udp_datagram(
            SocketAddrV4::new(Ipv4Addr::new(198, 18, 64, 5), 5000),
            SocketAddrV4::new(Ipv4Addr::new(198, 19, 1, 1), 53),
            b"hello",
        );
        let l2 = L2 {
            src: MacAddr([2, 0, 0, 0, 0, 1]),
            dst: MacAddr([2, 0, 0, 0, 0, 2]),
        };
        for key in [None, Some(7)] {
            let t = tunnel(key);
            let mut f = frames::ethernet(l2, &inner);
            f.resize(256, 0xee);
            let len = encapsulate(&mut f, inner.len(), &t, 9).unwrap();
            assert_eq!(len, ethernet::HEADER_LEN + overhead(&t) + inner.len());
            let outer = ip_of(&f[..len]);
            assert!(outer.verify_checksum());
            assert_eq!(outer.protocol(), proto::GRE);
            assert_eq!(outer.src(), Ipv4Addr::new(198, 18, 0, 1));
            assert_eq!(outer.dst(), Ipv4Addr::new(198, 18, 9, 1));
            assert!(outer.dont_frag(), "DF copied from the inner packet");
            assert_eq!(outer.ttl(), 64);
            let g = GrePacket::new_checked(outer.payload()).unwrap();
            assert_eq!((g.key(), g.protocol()), (key, PROTO_IPV4));
            assert_eq!(g.payload(), &inner[..]);
            let at = ethernet::HEADER_LEN + overhead(&t);
            let back = decapsulate(&mut f, at, inner.len());
            assert_eq!(&f[ethernet::HEADER_LEN..back], &inner[..]);
            // No room: refused, frame untouched.
            let mut small = frames::ethernet(l2, &inner);
            let before = small.clone();
            assert_eq!(encapsulate(&mut small, inner.len(), &t, 9), None);
            assert_eq!(small, before);
        }
    }

    #[test]
    fn ip_in_ip_wraps_the_packet_unchanged() {
        let inner = frames::udp_datagram(
            SocketAddrV4::new(Ipv4Addr::new(198, 18, 64, 5), 5000),
            SocketAddrV4::new(Ipv4Addr::new(198, 19, 1, 1), 53),
            b"hello",
        );
        let l2 = L2 {
            src: MacAddr([2, 0, 0, 0, 0, 1]),
            dst: MacAddr([2, 0, 0, 0, 0, 2]),
        };
        let mut f = frames::ethernet(l2, &inner);
        f.resize(256, 0xee);
        let (src, dst) = (Ipv4Addr::new(198, 18, 0, 1), Ipv4Addr::new(198, 18, 2, 7));
        let len = encapsulate_ipip(&mut f, inner.len(), src, dst, 3).unwrap();
        assert_eq!(len, ethernet::HEADER_LEN + IPIP_OVERHEAD + inner.len());
        let outer = ip_of(&f[..len]);
        assert!(outer.verify_checksum());
        assert_eq!(
            (outer.protocol(), outer.src(), outer.dst()),
            (proto::IPIP, src, dst)
        );
        assert_eq!(usize::from(outer.total_len()), IPIP_OVERHEAD + inner.len());
        assert!(outer.dont_frag());
        assert_eq!(outer.payload(), &inner[..]);
        let mut small = frames::ethernet(l2, &inner);
        assert_eq!(encapsulate_ipip(&mut small, inner.len(), src, dst, 3), None);
    }
}
