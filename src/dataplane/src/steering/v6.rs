//! The IPv6 steering rules (the XDP program's IPv6 half is the shell's to write from these).
//!
//! An IPv6 frame is the fast path's when its fixed header is in the frame and:
//! - it is addressed to a service's VIP or a pool address, whatever follows: a packet the
//!   kernel cannot use (a fragment, a chain of extension headers the fast path does not walk,
//!   a bad Payload Length, a hop limit running out) is counted by reason, never passed. Except
//!   ICMPv6 other than echo request and the errors (types 1-4): neighbour discovery for a VIP
//!   the host holds, MLD and the rest are the kernel's, and an echo request to a VIP without an
//!   ICMPv6 service, or to a pool address, too (the host answers its own pings);
//! - or, after the skippable extension headers (`wire::ipv6::upper_layer`), it is TCP or UDP
//!   from a backend `address:port/proto` of a service whose replies cross us, or an echo reply
//!   from an ICMPv6 backend, to an address that is not the host's;
//! - or it is an ICMPv6 error (after no extension header) quoting a packet that left a pool
//!   address or a service's `VIP:port`, or went to a backend from an address not the host's.
//!
//! - or it enters a tunnel untranslated (`gateway::routed6`, whatever follows the fixed
//!   header): to a central tunnel's IPv6 prefix, or from a site tunnel's to a forwardable
//!   address in no tunnel's prefix; never to an address of the host. (IPv6 coming out of a
//!   tunnel is GRE from its remote: the IPv4 half's.)
//!
//! The program reads the destination at a fixed offset, then walks at most two skippable
//! extension headers (a bounded loop) for the rest.

use std::net::Ipv6Addr;

use crate::snapshot::Snapshot;
use crate::wire::ipv6::{self, upper_layer};
use crate::wire::{icmpv6, ports::ports, proto, Icmpv6Packet, Ipv6Packet};

/// Whether the steering program sends this IPv6 packet (the bytes behind the Ethernet header)
/// to the fast path.
pub fn owns_v6(snap: &Snapshot, b: &[u8]) -> bool {
    let v6 = &snap.v6;
    if b.len() < ipv6::HEADER_LEN {
        return false;
    }
    let ip = Ipv6Packet::new_unchecked(b);
    let (src, dst) = (ip.src(), ip.dst());
    if snap.gw.routes6() && !v6.is_local(dst) && snap.gw.routed6_egress(src, dst).is_some() {
        return true;
    }
    if v6.is_empty() {
        return false;
    }
    // The rest as far as the frame holds it (Payload Length is the pipeline's to check).
    let rest = &b[ipv6::HEADER_LEN..];
    let to_ours = v6.is_vip(dst) || v6.pool_of_addr(dst).is_some();
    let upper = upper_layer(ip.next_header(), rest);
    let Ok((nh, at)) = upper else {
        return to_ours;
    };
    let l4 = &rest[at..];
    match nh {
        proto::ICMPV6 => {
            let Ok(m) = Icmpv6Packet::new_checked(l4) else {
                return to_ours;
            };
            match m.msg_type() {
                icmpv6::kind::ECHO_REQUEST => v6.service_for(dst, 0, proto::ICMPV6).is_some(),
                icmpv6::kind::ECHO_REPLY => {
                    v6.pool_of_addr(dst).is_some()
                        || (v6.is_backend(src, 0, proto::ICMPV6) && !v6.is_local(dst))
                }
                icmpv6::kind::DEST_UNREACHABLE
                | icmpv6::kind::PACKET_TOO_BIG
                | icmpv6::kind::TIME_EXCEEDED
                | icmpv6::kind::PARAMETER_PROBLEM => at == 0 && quoted_owned(snap, m.quoted()),
                _ => false,
            }
        }
        p @ (proto::TCP | proto::UDP) => {
            to_ours
                || match ports(l4) {
                    Ok((sport, _)) => v6.is_backend(src, sport, p) && !v6.is_local(dst),
                    Err(_) => false,
                }
        }
        _ => to_ours,
    }
}

fn quoted_owned(snap: &Snapshot, q: &[u8]) -> bool {
    let v6 = &snap.v6;
    if q.len() < ipv6::HEADER_LEN + 8 {
        return false;
    }
    let qip = Ipv6Packet::new_unchecked(q);
    let (qsrc, qdst): (Ipv6Addr, Ipv6Addr) = (qip.src(), qip.dst());
    if v6.pool_of_addr(qsrc).is_some() {
        return true;
    }
    let p = qip.next_header();
    let l4 = &q[ipv6::HEADER_LEN..];
    let (qsport, qdport) = match p {
        proto::TCP | proto::UDP => match ports(l4) {
            Ok(x) => x,
            Err(_) => return false,
        },
        proto::ICMPV6 => match Icmpv6Packet::new_checked(l4) {
            Ok(m) if m.msg_type() == icmpv6::kind::ECHO_REPLY => (0, m.echo_ident()),
            Ok(m) if m.msg_type() == icmpv6::kind::ECHO_REQUEST => (m.echo_ident(), 0),
            _ => return false,
        },
        _ => return false,
    };
    v6.service_for(qsrc, if p == proto::ICMPV6 { 0 } else { qsport }, p)
        .is_some()
        || (v6.is_backend(qdst, if p == proto::ICMPV6 { 0 } else { qdport }, p)
            && !v6.is_local(qsrc))
}
