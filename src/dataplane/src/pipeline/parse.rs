//! From frame bytes to the flow a packet belongs to: plain IPv4, GRE from a configured tunnel
//! (the inner packet in the tunnel's zone), and the datagram an ICMP error quotes.

use super::{Parsed, Result, Verdict};
use crate::counters::DropReason;
use crate::flow::FlowKey;
use crate::gateway::martian_source;
use crate::snapshot::Snapshot;
use crate::wire::gre::{GreError, PROTO_IPV4, PROTO_IPV6};
use crate::wire::{icmp, proto, GrePacket, IcmpPacket, Ipv4Packet, TcpSegment, UdpDatagram};

const MALFORMED: Verdict = Verdict::Drop(DropReason::Malformed);

/// Parses a checked IPv4 packet into its flow in `zone`; ICMP errors are marked (their flow is
/// in the quote). `l3` of the result is relative to the packet.
#[inline(always)]
pub(super) fn parse(ip: &Ipv4Packet<&[u8]>, zone: u16) -> Result<Parsed> {
    // Every packet, established flows included: the rewrites update the checksum
    // incrementally, and a header nothing vouches for must not be forwarded (a router discards
    // it, RFC 1812 §5.2.2). It is checked first because a damaged header's other fields mean
    // nothing.
    if !ip.verify_checksum() {
        return Err(Verdict::Drop(DropReason::BadChecksum));
    }
    if martian_source(ip.src()) {
        return Err(Verdict::Drop(DropReason::MartianSource));
    }
    if ip.is_fragment() {
        return Err(Verdict::Drop(DropReason::Fragment));
    }
    let l4 = ip.payload();
    let protocol = ip.protocol();
    let mut icmp_error = false;
    let (src_port, dst_port, tcp_flags) = match protocol {
        proto::TCP => {
            let t = TcpSegment::new_checked(l4).map_err(|_| MALFORMED)?;
            (t.src_port(), t.dst_port(), Some(t.flags()))
        }
        proto::UDP => {
            let u = UdpDatagram::new_checked(l4).map_err(|_| MALFORMED)?;
            (u.src_port(), u.dst_port(), None)
        }
        proto::ICMP => {
            let m = IcmpPacket::new_checked(l4).map_err(|_| MALFORMED)?;
            match m.msg_type() {
                icmp::kind::ECHO_REQUEST => (m.echo_ident(), 0, None),
                icmp::kind::ECHO_REPLY => (0, m.echo_ident(), None),
                _ if m.is_error() => {
                    icmp_error = true;
                    (0, 0, None)
                }
                _ => return Err(Verdict::Pass),
            }
        }
        _ => return Err(Verdict::Pass),
    };
    Ok(Parsed {
        hash: 0,
        key: FlowKey {
            src: ip.src(),
            dst: ip.dst(),
            src_port,
            dst_port,
            proto: protocol,
            zone,
        },
        tcp_flags,
        l3: 0,
        total: usize::from(ip.total_len()),
        ttl: ip.ttl(),
        icmp_error,
    })
}

/// What a GRE packet from a configured tunnel carries.
pub(super) enum Gre {
    /// An IPv4 packet's flow, in the tunnel's zone.
    V4(Parsed),
    /// An IPv6 packet (routed untranslated): `at` its offset behind the Ethernet header,
    /// `len` the bytes from there to the end of the outer packet.
    V6 { zone: u16, at: u16, len: u16 },
}

/// A GRE packet: from a configured tunnel, its inner IPv4 packet's flow in the tunnel's zone
/// (or its inner IPv6 packet, for a tunnel that routes IPv6); otherwise the kernel's. Refusals
/// are counted against the tunnel the remote address names.
#[inline(always)]
pub(super) fn parse_gre(
    snap: &Snapshot,
    outer: &Ipv4Packet<&[u8]>,
) -> std::result::Result<Gre, (Verdict, u16)> {
    let (remote, local) = (outer.src(), outer.dst());
    let zone_of_remote = || snap.gw.tunnel_from(remote).map_or(0, |t| t.zone);
    if !outer.verify_checksum() {
        return Err((Verdict::Drop(DropReason::BadChecksum), zone_of_remote()));
    }
    if outer.is_fragment() {
        return Err((Verdict::Drop(DropReason::Fragment), zone_of_remote()));
    }
    let g = match GrePacket::new_checked(outer.payload()) {
        Ok(g) => g,
        Err(e) => {
            let zone = zone_of_remote();
            if zone == 0 {
                return Err((Verdict::Pass, 0));
            }
            let r = match e {
                GreError::Truncated => DropReason::Malformed,
                _ => DropReason::GreUnsupported,
            };
            return Err((Verdict::Drop(r), zone));
        }
    };
    let Some(t) = snap.gw.tunnel_for(remote, local, g.key()) else {
        // From a tunnel's remote with a key (or to an address) that is not the tunnel's: the
        // steering program gave it to us, so it is refused and counted against the tunnel.
        return match zone_of_remote() {
            0 => Err((Verdict::Pass, 0)),
            zone => Err((Verdict::Drop(DropReason::GreUnsupported), zone)),
        };
    };
    if g.protocol() == PROTO_IPV6 && snap.gw.routes6() {
        let at = outer.header_len() + g.header_len();
        return Ok(Gre::V6 {
            zone: t.zone,
            at: at as u16,
            len: g.payload().len() as u16,
        });
    }
    if g.protocol() != PROTO_IPV4 {
        return Err((Verdict::Drop(DropReason::GreUnsupported), t.zone));
    }
    let inner = Ipv4Packet::new_checked(g.payload()).map_err(|_| (MALFORMED, t.zone))?;
    let mut p = parse(&inner, t.zone).map_err(|v| match v {
        // Not ours to pass: the kernel has no GRE.
        Verdict::Pass => (Verdict::Drop(DropReason::GreUnsupported), t.zone),
        v => (v, t.zone),
    })?;
    p.l3 = outer.header_len() + g.header_len();
    Ok(Gre::V4(p))
}

/// The flow key of the datagram quoted by an ICMP error (header plus at least 8 bytes).
pub(super) fn quoted_key(q: &[u8]) -> Result<FlowKey> {
    let ip = Ipv4Packet::new_quoted(q).map_err(|_| MALFORMED)?;
    let l4 = ip.rest();
    if l4.len() < icmp::QUOTED_DATA_LEN {
        return Err(MALFORMED);
    }
    let (src_port, dst_port) = match ip.protocol() {
        proto::TCP => {
            let t = TcpSegment::new_quoted(l4).map_err(|_| MALFORMED)?;
            (t.src_port(), t.dst_port())
        }
        proto::UDP => {
            let u = UdpDatagram::new_quoted(l4).map_err(|_| MALFORMED)?;
            (u.src_port(), u.dst_port())
        }
        proto::ICMP => {
            let m = IcmpPacket::new_checked(l4).map_err(|_| MALFORMED)?;
            match m.msg_type() {
                icmp::kind::ECHO_REQUEST => (m.echo_ident(), 0),
                icmp::kind::ECHO_REPLY => (0, m.echo_ident()),
                _ => return Err(Verdict::Pass),
            }
        }
        _ => return Err(Verdict::Pass),
    };
    Ok(FlowKey {
        src: ip.src(),
        dst: ip.dst(),
        src_port,
        dst_port,
        proto: ip.protocol(),
        zone: 0,
    })
}
