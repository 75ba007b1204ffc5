//! The steering rules: which frames are the fast path's and which are the kernel's. The XDP
//! program (`dataplaned::xdp::steer`) applies them in the kernel before a frame reaches a
//! worker; this is the same statement in Rust, over a snapshot instead of BPF maps, so that the
//! pipeline can tell a frame it must handle (count, drop with a reason, forward) from one that
//! is not its business, whatever state the frame is in. The namespace test
//! `steering_differential` runs random and adversarial frames through both and requires the
//! same answer for every one; change one, change the other.
//!
//! A frame is owned when it is IPv4 without options, not a fragment, and
//! - GRE from a tunnel's remote;
//! - TCP/UDP to a service `VIP:port/proto`, or to a pool address; else from a backend
//!   `address:port/proto` to an address that is not the host's; else from an inside prefix
//!   (`from_inside`);
//! - ICMP echo request to an ICMP service's VIP, else from an inside prefix; echo reply to a
//!   pool address, or from an ICMP backend to an address not the host's;
//! - an ICMP error (unreachable, time exceeded, parameter problem) quoting a packet without
//!   options that left a pool address, or that went to an inside prefix and was not the host's,
//!   or a TCP/UDP packet from a service (our translated reply) or to a backend that was not the
//!   host's own (our translated request).
//!
//! IPv6 frames: see [`v6`].
//!
//! The program reads fields at fixed places and checks only that they are inside the frame:
//! nothing here checks lengths, checksums or TTLs. Those are for the pipeline, once a frame is
//! known to be ours.

pub mod v6;

use std::net::Ipv4Addr;

use crate::gateway::forwardable;
use crate::snapshot::Snapshot;
use crate::wire::{
    icmp, ipv4, ports::ports, proto, EtherType, EthernetFrame, IcmpPacket, Ipv4Packet,
};

/// Whether the steering program sends `frame` to the fast path.
pub fn owns(snap: &Snapshot, frame: &[u8]) -> bool {
    let Ok(eth) = EthernetFrame::new_checked(frame) else {
        return false;
    };
    match eth.ethertype() {
        EtherType::Ipv4 => {}
        EtherType::Ipv6 => return v6::owns_v6(snap, eth.payload()),
        _ => return false,
    }
    let Some(ip) = plain_ipv4(eth.payload()) else {
        return false;
    };
    // The program reads the ports (or the ICMP type) of every frame it looks at.
    let l4 = ip.rest();
    let Ok(l4_ports) = ports(l4) else {
        return false;
    };
    let (src, dst) = (ip.src(), ip.dst());
    match ip.protocol() {
        proto::GRE => snap.gw.tunnel_from(src).is_some(),
        p @ (proto::TCP | proto::UDP) => {
            let (sport, dport) = l4_ports;
            snap.service_for(dst, dport, p).is_some()
                || snap.gw.pool_of_addr(dst).is_some()
                || if snap.is_backend(src, sport, p) {
                    !snap.is_local(dst)
                } else {
                    from_inside(snap, src, dst)
                }
        }
        proto::ICMP => icmp_owned(snap, src, dst, l4),
        _ => false,
    }
}

/// An IPv4 header without options, of a packet that is not a fragment.
fn plain_ipv4(b: &[u8]) -> Option<Ipv4Packet<&[u8]>> {
    let ip = Ipv4Packet::new_quoted(b).ok()?;
    (ip.header_len() == ipv4::MIN_HEADER_LEN && !ip.is_fragment()).then_some(ip)
}

/// From an inside prefix (a pool's `sources` or a site tunnel's `inside`) to an address a
/// router forwards, that is neither the host's nor inside.
fn from_inside(snap: &Snapshot, src: Ipv4Addr, dst: Ipv4Addr) -> bool {
    snap.gw.is_inside(src) && forwardable(dst) && !snap.is_local(dst) && !snap.gw.is_inside(dst)
}

fn icmp_owned(snap: &Snapshot, src: Ipv4Addr, dst: Ipv4Addr, l4: &[u8]) -> bool {
    let Ok(m) = IcmpPacket::new_checked(l4) else {
        return false;
    };
    match m.msg_type() {
        icmp::kind::ECHO_REQUEST => {
            snap.service_for(dst, 0, proto::ICMP).is_some() || from_inside(snap, src, dst)
        }
        icmp::kind::ECHO_REPLY => {
            snap.gw.pool_of_addr(dst).is_some()
                || (snap.is_backend(src, 0, proto::ICMP) && !snap.is_local(dst))
        }
        icmp::kind::DEST_UNREACHABLE
        | icmp::kind::TIME_EXCEEDED
        | icmp::kind::PARAMETER_PROBLEM => quoted_owned(snap, m.quoted()),
        _ => false,
    }
}

/// An error's quoted datagram: what we sent, so its addresses are ours as we sent them.
fn quoted_owned(snap: &Snapshot, q: &[u8]) -> bool {
    let Some(qip) = plain_ipv4_quote(q) else {
        return false;
    };
    let (qsrc, qdst) = (qip.src(), qip.dst());
    if snap.gw.pool_of_addr(qsrc).is_some() {
        return true;
    }
    if snap.gw.is_inside(qdst) {
        return !snap.is_local(qsrc);
    }
    let p = qip.protocol();
    if p != proto::TCP && p != proto::UDP {
        return false;
    }
    let Ok((qsport, qdport)) = ports(qip.rest()) else {
        return false;
    };
    snap.service_for(qsrc, qsport, p).is_some()
        || (snap.is_backend(qdst, qdport, p) && !snap.is_local(qsrc))
}

/// A quoted header is read only when the error holds it and the 8 bytes behind it (RFC 792),
/// and only without options; its fragment bits do not matter (a quote of a first fragment is
/// about a flow like any other).
fn plain_ipv4_quote(q: &[u8]) -> Option<Ipv4Packet<&[u8]>> {
    if q.len() < ipv4::MIN_HEADER_LEN + icmp::QUOTED_DATA_LEN {
        return None;
    }
    let ip = Ipv4Packet::new_quoted(q).ok()?;
    (ip.header_len() == ipv4::MIN_HEADER_LEN).then_some(ip)
}
