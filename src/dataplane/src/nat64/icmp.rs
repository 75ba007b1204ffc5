//! ICMP errors about a translated flow, translated with the packet they quote (RFC 7915 §4.2
//! and §4.3 to IPv6, §5.2 and §5.3 to IPv4). The caller has found the flow from the quote and
//! gives the addresses and ports both the outer and the quoted packet get; this module maps
//! types and codes, the Packet Too Big / fragmentation-needed MTU and the parameter-problem
//! pointer, rebuilds both headers and recomputes the checksums whole (errors are rare).
//! A message with no translation is refused, and the caller drops it counted.

use std::net::{Ipv4Addr, Ipv6Addr};

use super::translate::{l4_to_v4, l4_to_v6, Endpoints, Refused};
use crate::wire::icmp::{self, IcmpRepr};
use crate::wire::icmpv6::{self, Icmpv6Repr};
use crate::wire::{
    ipv4, ipv6, proto, IcmpPacket, Icmpv6Packet, Ipv4Packet, Ipv4Repr, Ipv6Packet, Ipv6Repr,
};

/// An IPv6 error and what it quotes fit the IPv6 minimum MTU (RFC 4443 §2.4 (c)).
pub const MAX_V6_ERROR: usize = 1280;
/// An IPv4 error fits the 576 bytes every host accepts (RFC 1812 §4.3.2.3).
pub const MAX_V4_ERROR: usize = 576;

/// The path MTU plateaus of RFC 1191 §7, for a fragmentation-needed without an MTU.
const PLATEAUS: [u16; 11] = [
    65535, 32000, 17914, 8166, 4352, 2002, 1492, 1006, 508, 296, 68,
];

/// The greatest plateau below `total` (RFC 7915 §4.2).
pub fn plateau(total: u16) -> u16 {
    PLATEAUS.into_iter().find(|&p| p < total).unwrap_or(68)
}

/// An ICMPv4 error's ICMPv6 header (RFC 7915 §4.2). `quoted_total` is the quoted packet's Total
/// Length (for the plateau), `v6_mtu` the MTU towards the IPv6 destination.
pub fn map_v4_error(m: &IcmpRepr, quoted_total: u16, v6_mtu: u16) -> Option<Icmpv6Repr> {
    const NO_ROUTE: u8 = 0;
    const ADMIN: u8 = 1;
    const PORT: u8 = 4;
    Some(match *m {
        IcmpRepr::DestUnreachable { code, next_hop_mtu } => match code {
            0 | 1 | 5 | 6 | 7 | 8 | 11 | 12 => Icmpv6Repr::DestUnreachable { code: NO_ROUTE },
            9 | 10 | 13 | 15 => Icmpv6Repr::DestUnreachable { code: ADMIN },
            3 => Icmpv6Repr::DestUnreachable { code: PORT },
            // Protocol unreachable: parameter problem, unrecognised Next Header, pointing at it.
            2 => Icmpv6Repr::ParamProblem {
                code: 1,
                pointer: ipv6::field::NXT_HDR as u32,
            },
            icmp::code::FRAG_NEEDED => {
                let advertised = if next_hop_mtu == 0 {
                    plateau(quoted_total)
                } else {
                    next_hop_mtu
                };
                let mtu = (u32::from(advertised) + super::translate::GROWTH as u32)
                    .min(u32::from(v6_mtu));
                Icmpv6Repr::PacketTooBig { mtu }
            }
            _ => return None,
        },
        IcmpRepr::TimeExceeded { code } => Icmpv6Repr::TimeExceeded { code },
        IcmpRepr::Other {
            msg_type: icmp::kind::PARAMETER_PROBLEM,
            code: 0 | 2,
            rest_of_header,
        } => {
            let pointer = match rest_of_header >> 24 {
                0 => 0,
                1 => 1,
                2 | 3 => 4,
                8 => 7,
                9 => 6,
                12..=15 => 8,
                16..=19 => 24,
                _ => return None,
            };
            Icmpv6Repr::ParamProblem { code: 0, pointer }
        }
        _ => return None,
    })
}

/// An ICMPv6 error's ICMPv4 header (RFC 7915 §5.2).
pub fn map_v6_error(m: &Icmpv6Repr) -> Option<IcmpRepr> {
    let unreach = |code| IcmpRepr::DestUnreachable {
        code,
        next_hop_mtu: 0,
    };
    Some(match *m {
        Icmpv6Repr::DestUnreachable { code } => match code {
            0 | 2 | 3 => unreach(1),
            1 => unreach(10),
            4 => unreach(3),
            _ => return None,
        },
        Icmpv6Repr::PacketTooBig { mtu } => IcmpRepr::DestUnreachable {
            code: icmp::code::FRAG_NEEDED,
            next_hop_mtu: mtu
                .saturating_sub(super::translate::GROWTH as u32)
                .min(u32::from(u16::MAX)) as u16,
        },
        Icmpv6Repr::TimeExceeded { code } => IcmpRepr::TimeExceeded { code },
        Icmpv6Repr::ParamProblem { code: 0, pointer } => {
            let p: u32 = match pointer {
                0 => 0,
                1 => 1,
                4 | 5 => 2,
                6 => 9,
                7 => 8,
                8..=23 => 12,
                24..=39 => 16,
                _ => return None,
            };
            IcmpRepr::Other {
                msg_type: icmp::kind::PARAMETER_PROBLEM,
                code: 0,
                rest_of_header: p << 24,
            }
        }
        Icmpv6Repr::ParamProblem { code: 1, .. } => unreach(2),
        _ => return None,
    })
}

/// Where an ICMPv4 error about a translated flow goes in IPv6.
#[derive(Debug, Clone, Copy)]
pub struct ToV6 {
    /// The outer source and destination.
    pub src: Ipv6Addr,
    pub dst: Ipv6Addr,
    /// What the quoted packet becomes: the packet as the IPv6 host sent it.
    pub quoted: Endpoints<Ipv6Addr>,
    /// The MTU towards `dst` (Packet Too Big says no more).
    pub mtu: u16,
}

/// Translates the ICMPv4 error in `buf[..len]` (an IPv4 packet) into an ICMPv6 error at the
/// start of `buf`, quoting the translated packet, cut to [`MAX_V6_ERROR`] bytes and to `buf`.
/// The Hop Limit is the TTL less one. Returns the new length.
pub fn error_v4_to_v6(buf: &mut [u8], len: usize, to: &ToV6) -> Result<usize, Refused> {
    let ip = Ipv4Packet::new_checked(buf.get(..len).ok_or(Refused::Truncated)?)
        .map_err(|_| Refused::Truncated)?;
    if ip.is_fragment() || ip.protocol() != proto::ICMP {
        return Err(Refused::Untranslatable);
    }
    let (hl, total, ttl, tos) = (
        ip.header_len(),
        usize::from(ip.total_len()),
        ip.ttl(),
        ip.dscp_ecn(),
    );
    let m = IcmpPacket::new_checked(&buf[hl..total]).map_err(|_| Refused::Truncated)?;
    let repr = IcmpRepr::parse(&m);
    let q_at = hl + icmp::HEADER_LEN;
    let q = Ipv4Packet::new_quoted(&buf[q_at..total]).map_err(|_| Refused::Truncated)?;
    let (qhl, q_total, q_proto, q_ttl, q_tos) = (
        q.header_len(),
        q.total_len(),
        q.protocol(),
        q.ttl(),
        q.dscp_ecn(),
    );
    let (q_src, q_dst) = (q.src(), q.dst());
    let head6 = map_v4_error(&repr, q_total, to.mtu).ok_or(Refused::Untranslatable)?;
    let q_ulen = usize::from(q_total).saturating_sub(qhl);
    let l4_at = q_at + qhl;
    let (next, _) = l4_to_v6(
        &mut buf[l4_at..total],
        q_proto,
        q_ulen,
        (q_src, q_dst),
        &to.quoted,
    )?;
    // Outer IPv6, ICMPv6 header, quoted IPv6 header, then the quoted upper layer.
    let inner_at = ipv6::HEADER_LEN + icmpv6::HEADER_LEN;
    let data_at = inner_at + ipv6::HEADER_LEN;
    let data = (total - l4_at)
        .min(MAX_V6_ERROR - data_at)
        .min(buf.len().saturating_sub(data_at));
    if data < crate::wire::icmp::QUOTED_DATA_LEN.min(total - l4_at) {
        return Err(Refused::NoRoom);
    }
    buf.copy_within(l4_at..l4_at + data, data_at);
    Ipv6Repr {
        src: to.quoted.src,
        dst: to.quoted.dst,
        next_header: next,
        payload_len: q_ulen,
        hop_limit: q_ttl,
        traffic_class: q_tos,
        flow_label: 0,
    }
    .emit(&mut buf[inner_at..]);
    let out = data_at + data;
    head6.emit(&mut buf[ipv6::HEADER_LEN..]);
    Ipv6Repr {
        src: to.src,
        dst: to.dst,
        next_header: proto::ICMPV6,
        payload_len: out - ipv6::HEADER_LEN,
        hop_limit: ttl.saturating_sub(1),
        traffic_class: tos,
        flow_label: 0,
    }
    .emit(buf);
    Icmpv6Packet::new_unchecked(&mut buf[ipv6::HEADER_LEN..out]).fill_checksum(to.src, to.dst);
    Ok(out)
}

/// Where an ICMPv6 error about a translated flow goes in IPv4.
#[derive(Debug, Clone, Copy)]
pub struct ToV4 {
    pub src: Ipv4Addr,
    pub dst: Ipv4Addr,
    /// What the quoted packet becomes: the packet as the IPv4 host sent it.
    pub quoted: Endpoints<Ipv4Addr>,
    pub ident: u16,
}

/// Translates the ICMPv6 error in `buf[..len]` (an IPv6 packet whose ICMPv6 header follows the
/// fixed header) into an ICMPv4 error at the start of `buf`, cut to [`MAX_V4_ERROR`] bytes.
/// The TTL is the Hop Limit less one. Returns the new length.
pub fn error_v6_to_v4(buf: &mut [u8], len: usize, to: &ToV4) -> Result<usize, Refused> {
    let ip = Ipv6Packet::new_checked(buf.get(..len).ok_or(Refused::Truncated)?)
        .map_err(|_| Refused::Truncated)?;
    if ip.next_header() != proto::ICMPV6 {
        return Err(Refused::Untranslatable);
    }
    let end = ipv6::HEADER_LEN + usize::from(ip.payload_len());
    if end > len {
        return Err(Refused::Truncated);
    }
    let (hop_limit, tc) = (ip.hop_limit(), ip.traffic_class());
    let m =
        Icmpv6Packet::new_checked(&buf[ipv6::HEADER_LEN..end]).map_err(|_| Refused::Truncated)?;
    let head4 = map_v6_error(&Icmpv6Repr::parse(&m)).ok_or(Refused::Untranslatable)?;
    let q_at = ipv6::HEADER_LEN + icmpv6::HEADER_LEN;
    let l4_at = q_at + ipv6::HEADER_LEN;
    if end < l4_at {
        return Err(Refused::Truncated);
    }
    let q = Ipv6Packet::new_unchecked(&buf[q_at..l4_at]);
    if q.version() != 6 {
        return Err(Refused::Truncated);
    }
    let (q_next, q_ulen, q_hop, q_tc, q_src, q_dst) = (
        q.next_header(),
        usize::from(q.payload_len()),
        q.hop_limit(),
        q.traffic_class(),
        q.src(),
        q.dst(),
    );
    let protocol = l4_to_v4(
        &mut buf[l4_at..end],
        q_next,
        q_ulen,
        (q_src, q_dst),
        &to.quoted,
    )?;
    let inner_at = ipv4::MIN_HEADER_LEN + icmp::HEADER_LEN;
    let data_at = inner_at + ipv4::MIN_HEADER_LEN;
    let data = (end - l4_at).min(MAX_V4_ERROR - data_at);
    buf.copy_within(l4_at..l4_at + data, data_at);
    Ipv4Repr {
        src: to.quoted.src,
        dst: to.quoted.dst,
        protocol,
        payload_len: q_ulen.min(usize::from(u16::MAX) - ipv4::MIN_HEADER_LEN),
        ttl: q_hop,
        ident: 0,
        dont_frag: false,
        dscp_ecn: q_tc,
    }
    .emit(&mut buf[inner_at..]);
    let out = data_at + data;
    head4.emit(&mut buf[ipv4::MIN_HEADER_LEN..]);
    IcmpPacket::new_unchecked(&mut buf[ipv4::MIN_HEADER_LEN..out]).fill_checksum();
    Ipv4Repr {
        src: to.src,
        dst: to.dst,
        protocol: proto::ICMP,
        payload_len: out - ipv4::MIN_HEADER_LEN,
        ttl: hop_limit.saturating_sub(1),
        ident: to.ident,
        dont_frag: false,
        dscp_ecn: tc,
    }
    .emit(buf);
    Ok(out)
}

#[cfg(test)]
#[path = "icmp_tests.rs"]
mod tests;
