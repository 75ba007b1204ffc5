//! A rule learnt from the worker's own work: the frame of an established flow before and after
//! the pipeline forwarded it. What changed is what the rule must change: the (inner)
//! addresses and ports or echo identifier, the TTL, the MAC addresses, an outer header removed
//! or added. The checksum deltas are the terms of exactly the incremental updates the pipeline
//! made (`nat::rewrite`, `decrement_ttl`), so the program's checksums are the pipeline's bit for
//! bit, zero's two representations included. A rule is offered only if the model applies it to
//! the first frame and gets the pipeline's output byte for byte; anything the pipeline did that
//! a rule cannot express (a clamped MSS, an ICMP answer instead of the packet) fails that check.

use std::net::Ipv4Addr;

use super::model::{self, Seen};
use crate::wire::checksum::{delta16, delta32, fold};
use crate::wire::offload::{ActionRepr, Encap, KeyRepr, OUTER_MAX};
use crate::wire::{
    ethernet, icmp, ipv4, proto, EtherType, EthernetFrame, GrePacket, IcmpPacket, Ipv4Packet,
    TcpSegment, UdpDatagram,
};

/// The TTL's word (TTL and protocol) loses 0x0100: its term `~m + m'` is always this.
const TTL_TERM: u64 = 0xfeff;

/// One side's address and port (or identifier) before and after.
struct Side {
    addr: (Ipv4Addr, Ipv4Addr),
    port: (u16, u16),
}

/// Ports (or an echo's identifier, on its side) of an IPv4 packet.
fn ports(ip: &Ipv4Packet<&[u8]>) -> Option<(u16, u16)> {
    let l4 = ip.payload();
    match ip.protocol() {
        proto::TCP => TcpSegment::new_checked(l4)
            .ok()
            .map(|t| (t.src_port(), t.dst_port())),
        proto::UDP => UdpDatagram::new_checked(l4)
            .ok()
            .map(|u| (u.src_port(), u.dst_port())),
        proto::ICMP => {
            let m = IcmpPacket::new_checked(l4).ok()?;
            match m.msg_type() {
                icmp::kind::ECHO_REQUEST => Some((m.echo_ident(), 0)),
                icmp::kind::ECHO_REPLY => Some((0, m.echo_ident())),
                _ => None,
            }
        }
        _ => None,
    }
}

/// The rule that turns `before` into `after` for packets of `before`'s key, allowing inner
/// packets up to `max_len` bytes; `scratch` (at least as long as either frame plus an outer
/// header) holds the model's check. `None` when no rule does what the pipeline did.
pub fn derive(
    before: &[u8],
    after: &[u8],
    max_len: u16,
    scratch: &mut [u8],
) -> Option<(KeyRepr, ActionRepr)> {
    let seen = model::parse(before).ok()?;
    let action = action(before, &seen, after, max_len)?;
    let room = scratch.get_mut(..before.len().max(after.len()))?;
    room[..before.len()].copy_from_slice(before);
    let n = model::apply(&action, &seen, room, before.len()).ok()?;
    (room[..n] == *after).then_some((seen.key, action))
}

fn action(before: &[u8], seen: &Seen, after: &[u8], max_len: u16) -> Option<ActionRepr> {
    let inner_b = Ipv4Packet::new_checked(before.get(seen.l3..)?).ok()?;
    let eth = EthernetFrame::new_checked(after).ok()?;
    if eth.ethertype() != EtherType::Ipv4 {
        return None;
    }
    let outer_a = Ipv4Packet::new_checked(eth.payload()).ok()?;
    if outer_a.header_len() != ipv4::MIN_HEADER_LEN {
        return None;
    }
    // Flows are TCP, UDP or ICMP: GRE or IP in IP after means the pipeline wrapped the packet.
    let (encap, outer_len, inner_a) = match outer_a.protocol() {
        proto::GRE => {
            let g = GrePacket::new_checked(outer_a.payload()).ok()?;
            let len = outer_a.header_len() + g.header_len();
            let inner = outer_a.payload().get(g.header_len()..)?;
            (Encap::Gre, len, Ipv4Packet::new_checked(inner).ok()?)
        }
        proto::IPIP => (
            Encap::Ipip,
            outer_a.header_len(),
            Ipv4Packet::new_checked(outer_a.payload()).ok()?,
        ),
        _ => (Encap::None, 0, outer_a),
    };
    if outer_len > OUTER_MAX || inner_a.protocol() != inner_b.protocol() {
        return None;
    }
    let (pb, pa) = (ports(&inner_b)?, ports(&inner_a)?);
    let sides = [
        Side {
            addr: (inner_b.src(), inner_a.src()),
            port: (pb.0, pa.0),
        },
        Side {
            addr: (inner_b.dst(), inner_a.dst()),
            port: (pb.1, pa.1),
        },
    ];
    let (ip_terms, l4_terms) = terms(inner_b.protocol(), &sides);
    let mut outer = [0u8; OUTER_MAX];
    if encap != Encap::None {
        outer[..outer_len].copy_from_slice(eth.payload().get(..outer_len)?);
        // What the program fills in per packet starts as zero in the template.
        let mut o = Ipv4Packet::new_unchecked(&mut outer[..outer_len]);
        o.set_total_len(0);
        o.set_ident(0);
        o.set_flags_and_offset(false, false, 0);
        o.set_dscp_ecn(0);
        o.set_checksum(0);
    }
    Some(ActionRepr {
        src: inner_a.src(),
        dst: inner_a.dst(),
        src_port: pa.0,
        dst_port: pa.1,
        ip_delta: fold(ip_terms + TTL_TERM),
        l4_delta: fold(l4_terms),
        dst_mac: eth.dst().0,
        src_mac: eth.src().0,
        ifindex: 0,
        max_len,
        decap_len: (seen.l3 - ethernet::HEADER_LEN) as u8,
        encap,
        outer,
        outer_len: outer_len as u8,
    })
}

/// The terms of the updates `nat::rewrite` makes, per side whose address or port changed: the
/// header's for a changed address; for TCP and UDP the pseudo-header's for the address (changed
/// or not) and the port's if it changed; for ICMP the identifier's if it changed.
fn terms(protocol: u8, sides: &[Side; 2]) -> (u64, u64) {
    let (mut ip, mut l4) = (0u64, 0u64);
    for s in sides {
        let ((oa, na), (op, np)) = (s.addr, s.port);
        if (oa, op) == (na, np) {
            continue;
        }
        if oa != na {
            ip += delta32(oa.into(), na.into());
        }
        match protocol {
            proto::TCP | proto::UDP => {
                l4 += delta32(oa.into(), na.into());
                if op != np {
                    l4 += delta16(op, np);
                }
            }
            _ => {
                if op != np {
                    l4 += delta16(op, np);
                }
            }
        }
    }
    (ip, l4)
}
