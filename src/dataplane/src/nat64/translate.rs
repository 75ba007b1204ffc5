//! IP/ICMP translation of a flow's packets between IPv6 and IPv4 (RFC 7915 §4 and §5), in
//! place: the upper layer stays where its bytes are worth keeping and only moves by the
//! difference of the header sizes, the new header is written in front of it.
//!
//! TCP and UDP keep their checksums right incrementally (RFC 1624): the pseudo-header changes
//! in its addresses only (same length, same protocol number), and the ports change with the
//! NAT. ICMPv6 echo becomes ICMP echo and back (RFC 7915 §4.2, §5.2): the type changes and the
//! pseudo-header, which only ICMPv6 has, is taken out of or put into the checksum. A UDP
//! datagram without checksum (IPv4 allows it, IPv6 does not) gets one computed (§4.5).
//!
//! The functions work on an IP packet (no Ethernet header): the caller slices it out of the
//! frame. They never panic on any input: a packet they cannot translate is refused.

use std::net::{Ipv4Addr, Ipv6Addr};

use crate::wire::checksum;
use crate::wire::icmp::kind as icmp4;
use crate::wire::icmpv6::kind as icmp6;
use crate::wire::{
    ipv4, ipv6, proto, tcp, IcmpPacket, Icmpv6Packet, Ipv4Packet, Ipv4Repr, Ipv6Packet, Ipv6Repr,
    TcpSegment, UdpDatagram,
};

/// The addresses and ports of a packet after translation (for echo, the identifier is the
/// port: the source's in a request, the destination's in a reply, RFC 5508).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Endpoints<A> {
    pub src: A,
    pub src_port: u16,
    pub dst: A,
    pub dst_port: u16,
}

/// Why a packet was not translated.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Refused {
    /// Shorter than its headers say.
    Truncated,
    /// An upper layer or ICMP message with no translation (RFC 7915 says drop it).
    Untranslatable,
    /// An IPv4 fragment: only a reassembler could translate it, and there is none here.
    Fragment,
    /// The buffer has no room for the larger header.
    NoRoom,
    /// The result would exceed the 65535 bytes an IPv4 Total Length holds.
    TooLong,
}

/// IPv4 packets up to this size leave the translator without Don't Fragment (RFC 7915 §5.1:
/// 1260 bytes, which still fits an IPv6 minimum MTU of 1280 after translation back).
pub const DF_ABOVE: usize = 1260;

/// What translation adds to a packet going to IPv6 (and takes from one going to IPv4).
pub const GROWTH: usize = ipv6::HEADER_LEN - ipv4::MIN_HEADER_LEN;

/// The 32-bit address as the eight words of a pseudo-header: six zero words and its two, so
/// `update128` replaces an IPv6 address's words by an IPv4 address's.
fn words4(a: Ipv4Addr) -> u128 {
    u128::from(u32::from(a))
}

/// Takes `s` out of the sum a checksum covers.
fn sub_sum(check: u16, s: u64) -> u16 {
    !checksum::fold(u64::from(!check) + u64::from(!checksum::fold(s)))
}

/// Puts `s` into the sum a checksum covers.
fn add_sum(check: u16, s: u64) -> u16 {
    !checksum::fold(u64::from(!check) + s)
}

/// The word of an ICMP header holding type and code.
fn type_word(msg_type: u8, code: u8) -> u16 {
    u16::from(msg_type) << 8 | u16::from(code)
}

/// TCP or UDP `l4` (whole or as an error quotes it) given the ports `ports` (source,
/// destination), its checksum moved from the pseudo-header addresses `old` to `new` (each as
/// the eight words `update128` takes: an IPv4 address is [`words4`]). A quoted TCP segment
/// too short to hold its checksum keeps the rest. Returns whether a UDP checksum is 0
/// (absent: it stays so, and the caller decides).
fn transport(
    l4: &mut [u8],
    protocol: u8,
    old: (u128, u128),
    new: (u128, u128),
    ports: (u16, u16),
) -> Result<bool, Refused> {
    let update = |c: u16, sp: u16, dp: u16| {
        let c = checksum::update128(c, old.0, new.0);
        let c = checksum::update128(c, old.1, new.1);
        let c = checksum::update16(c, sp, ports.0);
        checksum::update16(c, dp, ports.1)
    };
    if protocol == proto::TCP {
        if l4.len() < tcp::QUOTED_LEN {
            return Err(Refused::Truncated);
        }
        let has_checksum = l4.len() >= tcp::field::CHECKSUM.end;
        let mut t = TcpSegment::new_unchecked(l4);
        let (sp, dp) = (t.src_port(), t.dst_port());
        t.set_src_port(ports.0);
        t.set_dst_port(ports.1);
        if has_checksum {
            let c = update(t.checksum(), sp, dp);
            t.set_checksum(c);
        }
        return Ok(false);
    }
    let mut u = UdpDatagram::new_quoted(l4).map_err(|_| Refused::Truncated)?;
    let (sp, dp) = (u.src_port(), u.dst_port());
    let missing = u.checksum() == 0;
    u.set_src_port(ports.0);
    u.set_dst_port(ports.1);
    let c = checksum::udp_update(u.checksum(), |c| update(c, sp, dp));
    u.set_checksum(c);
    Ok(missing)
}

/// Rewrites an IPv6 upper layer (`l4`, whole or as an error quotes it) for IPv4: ports, the
/// checksum for the new pseudo-header, echo's type. `ulen` is the upper layer's length as its
/// header said (a quote may hold less). Returns the IPv4 protocol.
pub(super) fn l4_to_v4(
    l4: &mut [u8],
    next_header: u8,
    ulen: usize,
    from: (Ipv6Addr, Ipv6Addr),
    to: &Endpoints<Ipv4Addr>,
) -> Result<u8, Refused> {
    let (old_src, old_dst) = (u128::from(from.0), u128::from(from.1));
    let (new_src, new_dst) = (words4(to.src), words4(to.dst));
    match next_header {
        p @ (proto::TCP | proto::UDP) => {
            let ports = (to.src_port, to.dst_port);
            transport(l4, p, (old_src, old_dst), (new_src, new_dst), ports)?;
            Ok(p)
        }
        proto::ICMPV6 => {
            let mut m = Icmpv6Packet::new_checked(l4).map_err(|_| Refused::Truncated)?;
            let (new_type, ident) = match m.msg_type() {
                icmp6::ECHO_REQUEST => (icmp4::ECHO_REQUEST, to.src_port),
                icmp6::ECHO_REPLY => (icmp4::ECHO_REPLY, to.dst_port),
                _ => return Err(Refused::Untranslatable),
            };
            let pseudo = checksum::pseudo_header_v6(from.0, from.1, proto::ICMPV6, ulen as u32);
            let mut c = sub_sum(m.checksum(), pseudo);
            c = checksum::update16(
                c,
                type_word(m.msg_type(), m.code()),
                type_word(new_type, m.code()),
            );
            c = checksum::update16(c, m.echo_ident(), ident);
            m.set_msg_type(new_type);
            m.set_echo_ident(ident);
            m.set_checksum(c);
            Ok(proto::ICMP)
        }
        _ => Err(Refused::Untranslatable),
    }
}

/// The IPv4 upper layer `l4` rewritten for IPv6, as [`l4_to_v4`] the other way. Returns the
/// Next Header, and whether a UDP checksum is missing (the caller computes it once the
/// datagram is behind its IPv6 header; a quote keeps its zero).
pub(super) fn l4_to_v6(
    l4: &mut [u8],
    protocol: u8,
    ulen: usize,
    from: (Ipv4Addr, Ipv4Addr),
    to: &Endpoints<Ipv6Addr>,
) -> Result<(u8, bool), Refused> {
    let (old_src, old_dst) = (words4(from.0), words4(from.1));
    let (new_src, new_dst) = (u128::from(to.src), u128::from(to.dst));
    match protocol {
        p @ (proto::TCP | proto::UDP) => {
            let ports = (to.src_port, to.dst_port);
            let missing = transport(l4, p, (old_src, old_dst), (new_src, new_dst), ports)?;
            Ok((p, missing))
        }
        proto::ICMP => {
            let mut m = IcmpPacket::new_checked(l4).map_err(|_| Refused::Truncated)?;
            let (new_type, ident) = match m.msg_type() {
                icmp4::ECHO_REQUEST => (icmp6::ECHO_REQUEST, to.src_port),
                icmp4::ECHO_REPLY => (icmp6::ECHO_REPLY, to.dst_port),
                _ => return Err(Refused::Untranslatable),
            };
            let pseudo = checksum::pseudo_header_v6(to.src, to.dst, proto::ICMPV6, ulen as u32);
            let mut c = add_sum(m.checksum(), pseudo);
            c = checksum::update16(
                c,
                type_word(m.msg_type(), m.code()),
                type_word(new_type, m.code()),
            );
            c = checksum::update16(c, m.echo_ident(), ident);
            m.set_msg_type(new_type);
            m.set_echo_ident(ident);
            m.set_checksum(c);
            Ok((proto::ICMPV6, false))
        }
        _ => Err(Refused::Untranslatable),
    }
}

/// Translates the IPv6 packet in `buf[..len]`, whose upper layer starts `at` bytes behind the
/// fixed header (Hop-by-Hop and Destination Options are left behind, RFC 7915 §5.1), into an
/// IPv4 packet at the start of `buf` with the addresses and ports of `to`: TOS from the
/// Traffic Class, TTL the Hop Limit less one (the caller has answered a Hop Limit of 1 or 0),
/// Identification `ident`, Don't Fragment above [`DF_ABOVE`] bytes. Returns its length.
pub fn v6_to_v4(
    buf: &mut [u8],
    len: usize,
    at: usize,
    to: &Endpoints<Ipv4Addr>,
    ident: u16,
) -> Result<usize, Refused> {
    let ip = Ipv6Packet::new_checked(buf.get(..len).ok_or(Refused::Truncated)?)
        .map_err(|_| Refused::Truncated)?;
    let r = Ipv6Repr::parse(&ip);
    let end = ipv6::HEADER_LEN + r.payload_len;
    let start = ipv6::HEADER_LEN + at;
    if start > end || end > len {
        return Err(Refused::Truncated);
    }
    let upper = if at == 0 {
        r.next_header
    } else {
        let (upper, skip) =
            ipv6::upper_layer(r.next_header, ip.payload()).map_err(|_| Refused::Untranslatable)?;
        if skip != at {
            return Err(Refused::Truncated);
        }
        upper
    };
    let ulen = end - start;
    let total = ipv4::MIN_HEADER_LEN + ulen;
    if total > usize::from(u16::MAX) {
        return Err(Refused::TooLong);
    }
    let protocol = l4_to_v4(&mut buf[start..end], upper, ulen, (r.src, r.dst), to)?;
    buf.copy_within(start..end, ipv4::MIN_HEADER_LEN);
    Ipv4Repr {
        src: to.src,
        dst: to.dst,
        protocol,
        payload_len: ulen,
        ttl: r.hop_limit.saturating_sub(1),
        ident,
        dont_frag: total > DF_ABOVE,
        dscp_ecn: r.traffic_class,
    }
    .emit(buf);
    Ok(total)
}

/// Translates the IPv4 packet in `buf[..len]` into an IPv6 packet at the start of `buf` with
/// the addresses and ports of `to` (RFC 7915 §4.1): Traffic Class from the TOS, flow label 0,
/// Hop Limit the TTL less one, options ignored. `buf` needs [`GROWTH`] bytes of room behind
/// the packet. Fragments are refused. Returns the new length.
pub fn v4_to_v6(buf: &mut [u8], len: usize, to: &Endpoints<Ipv6Addr>) -> Result<usize, Refused> {
    let ip = Ipv4Packet::new_checked(buf.get(..len).ok_or(Refused::Truncated)?)
        .map_err(|_| Refused::Truncated)?;
    if ip.is_fragment() {
        return Err(Refused::Fragment);
    }
    let (hl, total) = (ip.header_len(), usize::from(ip.total_len()));
    let (src, dst, protocol, ttl, tos) =
        (ip.src(), ip.dst(), ip.protocol(), ip.ttl(), ip.dscp_ecn());
    let ulen = total - hl;
    let out = ipv6::HEADER_LEN + ulen;
    if buf.len() < out.max(total) {
        return Err(Refused::NoRoom);
    }
    let (next, missing) = l4_to_v6(&mut buf[hl..total], protocol, ulen, (src, dst), to)?;
    buf.copy_within(hl..total, ipv6::HEADER_LEN);
    Ipv6Repr {
        src: to.src,
        dst: to.dst,
        next_header: next,
        payload_len: ulen,
        hop_limit: ttl.saturating_sub(1),
        traffic_class: tos,
        flow_label: 0,
    }
    .emit(buf);
    if missing {
        let mut u = UdpDatagram::new_checked(&mut buf[ipv6::HEADER_LEN..out])
            .map_err(|_| Refused::Truncated)?;
        u.fill_checksum(to.src, to.dst);
    }
    Ok(out)
}

#[cfg(test)]
#[path = "translate_tests.rs"]
mod tests;
