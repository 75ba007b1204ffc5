//! Address and port rewriting of packets in place, with incremental checksum updates.
//!
//! NAT mode changes the destination of packets towards a backend (VIP:port → backend:port) and
//! the source of its replies (backend:port → VIP:port). TCP and UDP checksums cover a
//! pseudo-header with both addresses, so an address change updates them too. An ICMP echo
//! identifier is the flow's "port" (RFC 5508); ICMPv4 has no pseudo-header, ICMPv6 has one.
//!
//! [`rewrite`] is written once against [`IpHeader`], so IPv6 needs no rewrite of its own. The
//! packet is one the pipeline's views have validated, cut to its length.

use std::net::{Ipv4Addr, Ipv6Addr};

use crate::wire::checksum::{self, update16};
use crate::wire::ip::{Address, IpHeader};
use crate::wire::ipv6::Ipv6Upper;
use crate::wire::{
    icmp, icmpv6, proto, IcmpPacket, Icmpv6Packet, Ipv4Packet, Ipv6Packet, TcpSegment, UdpDatagram,
};

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Side {
    Src,
    Dst,
}

/// The address and port accessors of one side of a header.
trait Sides {
    type Value: Copy + Eq;
    fn get(&self, side: Side) -> Self::Value;
    fn set(&mut self, side: Side, v: Self::Value);
}

/// Addresses, keeping the IPv4 header checksum right.
struct Addrs<'a, P>(&'a mut P);

impl<P: IpHeader> Sides for Addrs<'_, P> {
    type Value = P::Addr;

    #[inline(always)]
    fn get(&self, side: Side) -> P::Addr {
        match side {
            Side::Src => self.0.src_addr(),
            Side::Dst => self.0.dst_addr(),
        }
    }

    #[inline(always)]
    fn set(&mut self, side: Side, a: P::Addr) {
        match side {
            Side::Src => self.0.set_src_update_checksum(a),
            Side::Dst => self.0.set_dst_update_checksum(a),
        }
    }
}

impl<T: AsRef<[u8]> + AsMut<[u8]>> Sides for TcpSegment<T> {
    type Value = u16;

    #[inline(always)]
    fn get(&self, side: Side) -> u16 {
        match side {
            Side::Src => self.src_port(),
            Side::Dst => self.dst_port(),
        }
    }

    #[inline(always)]
    fn set(&mut self, side: Side, v: u16) {
        match side {
            Side::Src => self.set_src_port(v),
            Side::Dst => self.set_dst_port(v),
        }
    }
}

impl<T: AsRef<[u8]> + AsMut<[u8]>> Sides for UdpDatagram<T> {
    type Value = u16;

    #[inline(always)]
    fn get(&self, side: Side) -> u16 {
        match side {
            Side::Src => self.src_port(),
            Side::Dst => self.dst_port(),
        }
    }

    #[inline(always)]
    fn set(&mut self, side: Side, v: u16) {
        match side {
            Side::Src => self.set_src_port(v),
            Side::Dst => self.set_dst_port(v),
        }
    }
}

/// Rewrites one side's address and port of a TCP, UDP or ICMP(v6)-echo packet.
#[inline(always)]
pub fn rewrite<P: IpHeader>(ip: &mut P, side: Side, addr: P::Addr, port: u16) {
    let old_addr = Addrs(ip).get(side);
    if old_addr != addr {
        Addrs(ip).set(side, addr);
    }
    let protocol = ip.upper_protocol();
    let l4 = ip.upper_layer_mut();
    let pseudo = |c| P::Addr::update_checksum(c, old_addr, addr);
    match protocol {
        proto::TCP => {
            let mut t = TcpSegment::new_unchecked(l4);
            let mut c = pseudo(t.checksum());
            let old_port = t.get(side);
            if old_port != port {
                t.set(side, port);
                c = update16(c, old_port, port);
            }
            t.set_checksum(c);
        }
        proto::UDP => {
            let mut u = UdpDatagram::new_unchecked(l4);
            let mut c = checksum::udp_update(u.checksum(), pseudo);
            let old_port = u.get(side);
            if old_port != port {
                u.set(side, port);
                c = checksum::udp_update16(c, old_port, port);
            }
            u.set_checksum(c);
        }
        proto::ICMP => rewrite_echo_ident(l4, side, port),
        proto::ICMPV6 => {
            let Ok(mut m) = Icmpv6Packet::new_checked(l4) else {
                return;
            };
            m.set_checksum(pseudo(m.checksum()));
            let ident_side = match m.msg_type() {
                icmpv6::kind::ECHO_REQUEST => Some(Side::Src),
                icmpv6::kind::ECHO_REPLY => Some(Side::Dst),
                _ => None,
            };
            if ident_side == Some(side) {
                m.set_echo_ident_update_checksum(port);
            }
        }
        _ => {}
    }
}

/// The side whose "port" an ICMP echo identifier is (RFC 5508): the source of a request, the
/// destination of a reply.
#[inline(always)]
fn echo_ident_side(msg_type: u8) -> Option<Side> {
    match msg_type {
        icmp::kind::ECHO_REQUEST => Some(Side::Src),
        icmp::kind::ECHO_REPLY => Some(Side::Dst),
        _ => None,
    }
}

/// Rewrites an echo identifier when `side` is its side (SNAT translates it like a port; NAT
/// mode rewrites the other side and leaves it alone).
#[inline(always)]
fn rewrite_echo_ident(l4: &mut [u8], side: Side, ident: u16) {
    let Ok(mut m) = IcmpPacket::new_checked(l4) else {
        return;
    };
    if echo_ident_side(m.msg_type()) == Some(side) {
        m.set_echo_ident_update_checksum(ident);
    }
}

/// Translates an ICMP error about a tracked flow: optionally one outer address, then the quoted
/// packet's `quoted_side` address and port, with the quoted IP and L4 checksums updated
/// incrementally when the quote holds them, and finally the ICMP checksum recomputed over the
/// message (errors are rare, and many of its words changed).
pub fn translate_icmp_error<T: AsRef<[u8]> + AsMut<[u8]>>(
    ip: &mut Ipv4Packet<T>,
    outer: Option<(Side, Ipv4Addr)>,
    quoted_side: Side,
    addr: Ipv4Addr,
    port: u16,
) {
    if let Some((side, new)) = outer {
        Addrs(ip).set(side, new);
    }
    let mut msg = IcmpPacket::new_unchecked(ip.rest_mut());
    {
        let mut q = Ipv4Packet::new_unchecked(msg.quoted_mut());
        let old_addr = Addrs(&mut q).get(quoted_side);
        Addrs(&mut q).set(quoted_side, addr);
        let qproto = q.protocol();
        let l4 = q.rest_mut();
        // The quote may stop before the L4 checksum (only 8 bytes are guaranteed).
        match qproto {
            proto::TCP => {
                let mut t = TcpSegment::new_unchecked(l4);
                let old_port = t.get(quoted_side);
                t.set(quoted_side, port);
                if t.has_checksum() {
                    let c = update16(
                        Ipv4Addr::update_checksum(t.checksum(), old_addr, addr),
                        old_port,
                        port,
                    );
                    t.set_checksum(c);
                }
            }
            proto::UDP => {
                let mut u = UdpDatagram::new_unchecked(l4);
                let old_port = u.get(quoted_side);
                u.set(quoted_side, port);
                let c = checksum::udp_update16(
                    checksum::udp_update(u.checksum(), |c| {
                        Ipv4Addr::update_checksum(c, old_addr, addr)
                    }),
                    old_port,
                    port,
                );
                u.set_checksum(c);
            }
            proto::ICMP => rewrite_echo_ident(l4, quoted_side, port),
            _ => {}
        }
    }
    msg.fill_checksum();
}

/// [`translate_icmp_error`] for ICMPv6 (RFC 4443): the quoted IPv6 header has no checksum, the
/// quoted TCP/UDP checksum covers its pseudo-header, and the ICMPv6 checksum is recomputed over
/// the outer pseudo-header (which the outer address change is part of). The quote must start
/// with a fixed header whose upper layer follows it directly (the parser saw to that).
pub fn translate_icmpv6_error<T: AsRef<[u8]> + AsMut<[u8]>>(
    ip: &mut Ipv6Packet<T>,
    outer: Option<(Side, Ipv6Addr)>,
    quoted_side: Side,
    addr: Ipv6Addr,
    port: u16,
) {
    if let Some((side, new)) = outer {
        Addrs(ip).set(side, new);
    }
    let (src, dst) = (ip.src(), ip.dst());
    let mut msg = Icmpv6Packet::new_unchecked(ip.payload_mut());
    {
        let q = msg.quoted_mut();
        let qproto = Ipv6Packet::new_unchecked(&q[..]).next_header();
        let mut qip = Ipv6Upper::new_unchecked(&mut q[..], qproto, 0);
        let old_addr = Addrs(&mut qip).get(quoted_side);
        Addrs(&mut qip).set(quoted_side, addr);
        let l4 = qip.upper_layer_mut();
        match qproto {
            proto::TCP => {
                let mut t = TcpSegment::new_unchecked(l4);
                let old_port = t.get(quoted_side);
                t.set(quoted_side, port);
                if t.has_checksum() {
                    let c = update16(
                        Ipv6Addr::update_checksum(t.checksum(), old_addr, addr),
                        old_port,
                        port,
                    );
                    t.set_checksum(c);
                }
            }
            proto::UDP => {
                let mut u = UdpDatagram::new_unchecked(l4);
                let old_port = u.get(quoted_side);
                u.set(quoted_side, port);
                let c = checksum::udp_update16(
                    checksum::udp_update(u.checksum(), |c| {
                        Ipv6Addr::update_checksum(c, old_addr, addr)
                    }),
                    old_port,
                    port,
                );
                u.set_checksum(c);
            }
            proto::ICMPV6 => {
                if let Ok(mut m) = Icmpv6Packet::new_checked(l4) {
                    // The quoted echo's checksum covers the quoted addresses too; it is
                    // complete only when the whole echo is quoted, which errors rarely do.
                    let ident_side = match m.msg_type() {
                        icmpv6::kind::ECHO_REQUEST => Some(Side::Src),
                        icmpv6::kind::ECHO_REPLY => Some(Side::Dst),
                        _ => None,
                    };
                    m.set_checksum(Ipv6Addr::update_checksum(m.checksum(), old_addr, addr));
                    if ident_side == Some(quoted_side) {
                        m.set_echo_ident_update_checksum(port);
                    }
                }
            }
            _ => {}
        }
    }
    msg.fill_checksum(src, dst);
}

#[cfg(test)]
mod tests {
    use std::net::Ipv6Addr;

    use super::*;
    use crate::wire::{Icmpv6Repr, Ipv6Packet, Ipv6Repr, TcpRepr, UdpRepr};

    /// An IPv6 packet carrying `l4` (header emitted by `emit_l4`, checksum filled by `fill`).
    fn v6(next_header: u8, l4: Vec<u8>) -> Vec<u8> {
        let r = Ipv6Repr {
            src: "2001:db8::1".parse().unwrap(),
            dst: "2001:db8:1::80".parse().unwrap(),
            next_header,
            payload_len: l4.len(),
            hop_limit: 64,
            traffic_class: 0,
            flow_label: 0,
        };
        let mut b = vec![0u8; r.buffer_len()];
        r.emit(&mut b);
        b.extend_from_slice(&l4);
        let (src, dst) = (r.src, r.dst);
        let mut p = Ipv6Packet::new_checked(&mut b[..]).unwrap();
        let l4 = p.payload_mut();
        match next_header {
            proto::TCP => TcpSegment::new_unchecked(l4).fill_checksum(src, dst),
            proto::UDP => UdpDatagram::new_unchecked(l4).fill_checksum(src, dst),
            _ => Icmpv6Packet::new_unchecked(l4).fill_checksum(src, dst),
        }
        b
    }

    fn checksum_ok(b: &[u8]) -> bool {
        let p = Ipv6Packet::new_checked(b).unwrap();
        let (src, dst) = (p.src(), p.dst());
        match p.next_header() {
            proto::TCP => TcpSegment::new_checked(p.payload())
                .unwrap()
                .verify_checksum(src, dst),
            proto::UDP => UdpDatagram::new_checked(p.payload())
                .unwrap()
                .verify_checksum(src, dst),
            _ => Icmpv6Packet::new_checked(p.payload())
                .unwrap()
                .verify_checksum(src, dst),
        }
    }

    /// The one rewrite serves IPv6 too: addresses, ports and identifiers change and every
    /// checksum (pseudo-headers of eight-word addresses) stays valid.
    #[test]
    fn rewrites_ipv6_with_valid_checksums() {
        let tcp = TcpRepr {
            src_port: 40000,
            dst_port: 80,
            seq_number: 1,
            ack_number: 0,
            flags: crate::wire::tcp::flags::SYN,
            window_len: 65535,
            mss: Some(1440),
        };
        let mut t = vec![0u8; tcp.buffer_len()];
        tcp.emit(&mut t);
        let udp = UdpRepr {
            src_port: 5000,
            dst_port: 53,
            payload_len: 3,
        };
        let mut u = vec![0u8; udp.buffer_len()];
        udp.emit(&mut u);
        u.extend_from_slice(b"abc");
        let echo = Icmpv6Repr::EchoRequest {
            ident: 7,
            seq_no: 1,
        };
        let mut m = vec![0u8; echo.buffer_len()];
        echo.emit(&mut m);
        let backend: Ipv6Addr = "2001:db8:2::5".parse().unwrap();
        let pool: Ipv6Addr = "2001:db8:ff::1".parse().unwrap();
        for (next_header, l4) in [(proto::TCP, t), (proto::UDP, u), (proto::ICMPV6, m)] {
            let mut b = v6(next_header, l4);
            assert!(checksum_ok(&b));
            let mut p = Ipv6Packet::new_unchecked(&mut b[..]);
            rewrite(&mut p, Side::Dst, backend, 8080);
            rewrite(&mut p, Side::Src, pool, 1234);
            assert_eq!((p.src(), p.dst()), (pool, backend));
            assert!(checksum_ok(&b), "next header {next_header}");
            let p = Ipv6Packet::new_checked(&b[..]).unwrap();
            match next_header {
                proto::ICMPV6 => {
                    let m = Icmpv6Packet::new_checked(p.payload()).unwrap();
                    assert_eq!(
                        m.echo_ident(),
                        1234,
                        "a request's identifier is its source port"
                    );
                }
                _ => {
                    let t = UdpDatagram::new_quoted(p.payload()).unwrap();
                    assert_eq!((t.src_port(), t.dst_port()), (1234, 8080));
                }
            }
        }
    }
}
