//! ICMPv6 errors the fast path originates (RFC 4443): time exceeded when a packet's hop limit
//! runs out here. Written in place of the packet it answers, as the IPv4 ones are.

use std::net::Ipv6Addr;

use crate::wire::{ethernet, icmpv6, ipv6, proto, Icmpv6Packet, Icmpv6Repr, Ipv6Packet, Ipv6Repr};

const ERROR_HEADERS: usize = ipv6::HEADER_LEN + icmpv6::HEADER_LEN;
/// An error must fit the minimum IPv6 MTU (RFC 4443 §2.4 (c)).
pub const MAX_QUOTE: usize = 1280 - ERROR_HEADERS;

/// Time exceeded (hop limit, code 0) about the IPv6 packet behind the Ethernet header, `len`
/// bytes, from `from` to the packet's source, quoting as much as fits in 1280 bytes and in
/// `frame`. Returns the new frame length, or `None` when the frame cannot hold the headers and
/// the fixed header of the offending packet with 8 bytes behind it.
pub fn time_exceeded(frame: &mut [u8], len: usize, from: Ipv6Addr) -> Option<usize> {
    icmpv6_error(frame, len, from, &Icmpv6Repr::TimeExceeded { code: 0 })
}

/// The error `m` about the packet behind the Ethernet header (see [`time_exceeded`]).
pub fn icmpv6_error(frame: &mut [u8], len: usize, from: Ipv6Addr, m: &Icmpv6Repr) -> Option<usize> {
    let l3 = ethernet::HEADER_LEN;
    let quote = len
        .min(MAX_QUOTE)
        .min(frame.len().saturating_sub(l3 + ERROR_HEADERS));
    if quote < (ipv6::HEADER_LEN + 8).min(len) || frame.len() < l3 + len {
        return None;
    }
    let to = Ipv6Packet::new_unchecked(&frame[l3..l3 + len]).src();
    frame.copy_within(l3..l3 + quote, l3 + ERROR_HEADERS);
    let ip = Ipv6Repr {
        src: from,
        dst: to,
        next_header: proto::ICMPV6,
        payload_len: icmpv6::HEADER_LEN + quote,
        hop_limit: 64,
        // CS6, as the IPv4 errors (RFC 4594).
        traffic_class: 0xc0,
        flow_label: 0,
    };
    ip.emit(&mut frame[l3..]);
    let start = l3 + ip.buffer_len();
    let end = start + ip.payload_len;
    m.emit(&mut frame[start..end]);
    Icmpv6Packet::new_unchecked(&mut frame[start..end]).fill_checksum(from, to);
    Some(end)
}
