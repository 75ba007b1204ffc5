//! Address and port rewriting of IPv4 packets in place, with incremental checksum updates.
//!
//! NAT mode changes the destination of packets towards a backend (VIP:port → backend:port) and
//! the source of its replies (backend:port → VIP:port). TCP and UDP checksums cover a
//! pseudo-header with both addresses, so an address change updates them too. ICMP echo keeps
//! its identifier (it is the flow's "port" but is never rewritten) and has no pseudo-header.
//!
//! Functions take the IP packet (from its header to Total Length) already validated by the
//! pipeline's views, so they index without re-checking lengths the views have checked.

use super::checksum::{self, update16, update32};
use super::wire::{be16, be32, icmp, proto, put16, put32, tcp, udp};

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Side {
    Src,
    Dst,
}

impl Side {
    #[inline(always)]
    fn addr_at(self) -> usize {
        match self {
            Side::Src => 12,
            Side::Dst => 16,
        }
    }

    #[inline(always)]
    fn port_at(self) -> usize {
        match self {
            Side::Src => 0,
            Side::Dst => 2,
        }
    }
}

/// Rewrites one side's address and port of a TCP, UDP or ICMP-echo packet.
#[inline(always)]
pub fn rewrite(ip: &mut [u8], side: Side, addr: u32, port: u16) {
    let hl = usize::from(ip[0] & 0x0f) * 4;
    let old_addr = be32(ip, side.addr_at());
    if old_addr != addr {
        put32(ip, side.addr_at(), addr);
        put16(ip, 10, update32(be16(ip, 10), old_addr, addr));
    }
    let p = ip[9];
    let l4 = &mut ip[hl..];
    match p {
        proto::TCP => {
            let mut c = be16(l4, tcp::CHECKSUM_AT);
            c = update32(c, old_addr, addr);
            let old_port = be16(l4, side.port_at());
            if old_port != port {
                put16(l4, side.port_at(), port);
                c = update16(c, old_port, port);
            }
            put16(l4, tcp::CHECKSUM_AT, c);
        }
        proto::UDP => {
            let mut c = be16(l4, udp::CHECKSUM_AT);
            c = checksum::udp_update32(c, old_addr, addr);
            let old_port = be16(l4, side.port_at());
            if old_port != port {
                put16(l4, side.port_at(), port);
                c = checksum::udp_update16(c, old_port, port);
            }
            put16(l4, udp::CHECKSUM_AT, c);
        }
        proto::ICMP => rewrite_echo_ident(l4, side, port),
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
/// mode rewrites the other side and leaves it alone). ICMP has no pseudo-header, so only the
/// identifier's word changes in the checksum.
#[inline(always)]
fn rewrite_echo_ident(m: &mut [u8], side: Side, ident: u16) {
    if m.len() < icmp::HEADER_LEN || echo_ident_side(m[0]) != Some(side) {
        return;
    }
    let old = be16(m, 4);
    if old != ident {
        put16(m, 4, ident);
        put16(m, 2, update16(be16(m, 2), old, ident));
    }
}

/// Decrements the TTL, updating the header checksum (the TTL shares a word with the protocol).
#[inline(always)]
pub fn decrement_ttl(ip: &mut [u8]) {
    let old = be16(ip, 8);
    ip[8] -= 1;
    put16(ip, 10, update16(be16(ip, 10), old, be16(ip, 8)));
}

/// Translates an ICMP error about a tracked flow: optionally one outer address, then the quoted
/// packet's `quoted_side` address and port, with the quoted IP and L4 checksums updated
/// incrementally when the quote holds them, and finally the ICMP checksum recomputed over the
/// message (errors are rare, and many of its words changed).
pub fn translate_icmp_error(
    ip: &mut [u8],
    outer: Option<(Side, u32)>,
    quoted_side: Side,
    addr: u32,
    port: u16,
) {
    let hl = usize::from(ip[0] & 0x0f) * 4;
    if let Some((side, new)) = outer {
        let old = be32(ip, side.addr_at());
        put32(ip, side.addr_at(), new);
        put16(ip, 10, update32(be16(ip, 10), old, new));
    }
    let icmp = &mut ip[hl..];
    {
        let q = &mut icmp[8..];
        let qhl = usize::from(q[0] & 0x0f) * 4;
        let old_addr = be32(q, quoted_side.addr_at());
        put32(q, quoted_side.addr_at(), addr);
        put16(q, 10, update32(be16(q, 10), old_addr, addr));
        let qproto = q[9];
        let l4 = &mut q[qhl..];
        let old_port = be16(l4, quoted_side.port_at());
        let csum_at = match qproto {
            proto::TCP => Some(tcp::CHECKSUM_AT),
            proto::UDP => Some(udp::CHECKSUM_AT),
            _ => None,
        };
        if qproto == proto::ICMP {
            rewrite_echo_ident(l4, quoted_side, port);
        }
        if let Some(at) = csum_at {
            put16(l4, quoted_side.port_at(), port);
            // The quote may stop before the checksum (only 8 bytes are guaranteed).
            if l4.len() >= at + 2 {
                let c = be16(l4, at);
                let c = if qproto == proto::UDP {
                    checksum::udp_update16(
                        checksum::udp_update32(c, old_addr, addr),
                        old_port,
                        port,
                    )
                } else {
                    update16(update32(c, old_addr, addr), old_port, port)
                };
                put16(l4, at, c);
            }
        }
    }
    put16(icmp, 2, 0);
    let c = !checksum::fold(checksum::sum(icmp));
    put16(icmp, 2, c);
}
