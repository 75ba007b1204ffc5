//! Frame builders with correct checksums, and a full checksum verifier. They allocate and are
//! for tests, benchmarks and traffic generators, never for the per-packet path. Every header is
//! written by its `Repr`, so the builders and the data plane share one description of each.

use std::net::{Ipv4Addr, SocketAddrV4};

use super::wire::gre::PROTO_IPV4;
use super::wire::{
    proto, tcp, EtherType, EthernetRepr, GreRepr, IcmpPacket, IcmpRepr, Ipv4Packet, Ipv4Repr,
    MacAddr, TcpRepr, TcpSegment, UdpDatagram, UdpRepr,
};

#[derive(Debug, Clone, Copy)]
pub struct L2 {
    pub src: MacAddr,
    pub dst: MacAddr,
}

/// The IPv4 header every builder here emits: TTL 64, Don't Fragment, a fixed identification.
pub fn ipv4_repr(src: Ipv4Addr, dst: Ipv4Addr, protocol: u8, payload_len: usize) -> Ipv4Repr {
    Ipv4Repr {
        src,
        dst,
        protocol,
        payload_len,
        ttl: 64,
        ident: 0x1234,
        dont_frag: true,
        dscp_ecn: 0,
    }
}

/// An IPv4 packet (no Ethernet header) around `l4`, a payload whose checksum is already right
/// (or that has none).
pub fn ipv4_packet(src: Ipv4Addr, dst: Ipv4Addr, protocol: u8, l4: &[u8]) -> Vec<u8> {
    let r = ipv4_repr(src, dst, protocol, l4.len());
    let mut ip = vec![0u8; r.buffer_len()];
    r.emit(&mut ip);
    ip.extend_from_slice(l4);
    ip
}

/// An outer IPv4 packet carrying `inner` (an IPv4 packet) in GRE, with an RFC 2890 key when
/// given, as a site gateway sends it.
pub fn gre_packet(src: Ipv4Addr, dst: Ipv4Addr, key: Option<u32>, inner: &[u8]) -> Vec<u8> {
    let r = GreRepr {
        key,
        protocol: PROTO_IPV4,
    };
    let mut g = vec![0u8; r.buffer_len()];
    r.emit(&mut g);
    g.extend_from_slice(inner);
    ipv4_packet(src, dst, proto::GRE, &g)
}

/// Wraps an IP packet in Ethernet, padding to the 60-byte minimum as a NIC would.
pub fn ethernet(l2: L2, ip: &[u8]) -> Vec<u8> {
    let r = EthernetRepr {
        src: l2.src,
        dst: l2.dst,
        ethertype: EtherType::Ipv4,
    };
    let mut f = vec![0u8; r.buffer_len()];
    r.emit(&mut f);
    f.extend_from_slice(ip);
    if f.len() < 60 {
        f.resize(60, 0);
    }
    f
}

/// A TCP segment with the header of `r` and `payload`, its checksum filled in.
pub fn tcp_packet(src: Ipv4Addr, dst: Ipv4Addr, r: &TcpRepr, payload: &[u8]) -> Vec<u8> {
    let mut t = vec![0u8; r.buffer_len()];
    r.emit(&mut t);
    t.extend_from_slice(payload);
    TcpSegment::new_unchecked(&mut t[..]).fill_checksum(src, dst);
    ipv4_packet(src, dst, proto::TCP, &t)
}

/// The segment header the builders use: sequence number 1000, window 65535.
pub fn tcp_repr(src_port: u16, dst_port: u16, flags: u8) -> TcpRepr {
    TcpRepr {
        src_port,
        dst_port,
        seq_number: 1000,
        ack_number: 0,
        flags,
        window_len: 65535,
        mss: None,
    }
}

pub fn tcp_segment(src: SocketAddrV4, dst: SocketAddrV4, flags: u8, payload: &[u8]) -> Vec<u8> {
    let r = tcp_repr(src.port(), dst.port(), flags);
    tcp_packet(*src.ip(), *dst.ip(), &r, payload)
}

pub fn udp_datagram(src: SocketAddrV4, dst: SocketAddrV4, payload: &[u8]) -> Vec<u8> {
    let r = UdpRepr {
        src_port: src.port(),
        dst_port: dst.port(),
        payload_len: payload.len(),
    };
    let mut u = vec![0u8; r.buffer_len()];
    r.emit(&mut u);
    u.extend_from_slice(payload);
    UdpDatagram::new_unchecked(&mut u[..]).fill_checksum(*src.ip(), *dst.ip());
    ipv4_packet(*src.ip(), *dst.ip(), proto::UDP, &u)
}

/// An ICMP message with the header of `r` and `data`, its checksum filled in.
pub fn icmp_packet(src: Ipv4Addr, dst: Ipv4Addr, r: &IcmpRepr, data: &[u8]) -> Vec<u8> {
    let mut m = vec![0u8; r.buffer_len()];
    r.emit(&mut m);
    m.extend_from_slice(data);
    IcmpPacket::new_unchecked(&mut m[..]).fill_checksum();
    ipv4_packet(src, dst, proto::ICMP, &m)
}

pub fn icmp_echo(src: Ipv4Addr, dst: Ipv4Addr, request: bool, ident: u16, data: &[u8]) -> Vec<u8> {
    let r = if request {
        IcmpRepr::EchoRequest { ident, seq_no: 1 }
    } else {
        IcmpRepr::EchoReply { ident, seq_no: 1 }
    };
    icmp_packet(src, dst, &r, data)
}

/// An ICMP error from `src` to `dst` quoting the first `quote_len` bytes of `offending` (an IP
/// packet), as routers quote (RFC 792 asks for the header plus 8 bytes; Linux quotes more).
pub fn icmp_error(
    src: Ipv4Addr,
    dst: Ipv4Addr,
    msg_type: u8,
    code: u8,
    offending: &[u8],
    quote_len: usize,
) -> Vec<u8> {
    let r = IcmpRepr::Other {
        msg_type,
        code,
        rest_of_header: 0,
    };
    let quote = &offending[..quote_len.min(offending.len())];
    icmp_packet(src, dst, &r, quote)
}

/// Verifies every checksum a NAT rewrite touches: the IP header, TCP/UDP (with pseudo-header),
/// ICMP, and for ICMP errors the quoted IP header and, when fully quoted, the quoted L4 one.
pub fn checksums_ok(frame: &[u8]) -> bool {
    let Ok(eth) = super::wire::EthernetFrame::new_checked(frame) else {
        return false;
    };
    let Ok(ip) = Ipv4Packet::new_checked(eth.payload()) else {
        return false;
    };
    ip.verify_checksum() && l4_ok(&ip, false)
}

fn l4_ok(ip: &Ipv4Packet<&[u8]>, quoted: bool) -> bool {
    let l4 = ip.payload();
    match ip.protocol() {
        proto::TCP | proto::UDP if quoted => true,
        proto::TCP => {
            TcpSegment::new_checked(l4).is_ok_and(|t| t.verify_checksum(ip.src(), ip.dst()))
        }
        proto::UDP => UdpDatagram::new_checked(l4)
            .is_ok_and(|u| u.len() as usize == l4.len() && u.verify_checksum(ip.src(), ip.dst())),
        proto::ICMP if quoted => true,
        proto::ICMP => {
            let Ok(m) = IcmpPacket::new_checked(l4) else {
                return false;
            };
            if !m.verify_checksum() {
                return false;
            }
            if !m.is_error() {
                return true;
            }
            let Ok(q) = Ipv4Packet::new_quoted(m.quoted()) else {
                return false;
            };
            let quoted_full = usize::from(q.total_len()) <= m.quoted().len();
            // A quote whose Total Length is shorter than its own header describes no packet.
            q.verify_checksum()
                && (!quoted_full
                    || Ipv4Packet::new_checked(q.packet()).is_ok_and(|full| l4_ok_full(&full)))
        }
        _ => true,
    }
}

fn l4_ok_full(ip: &Ipv4Packet<&[u8]>) -> bool {
    match ip.protocol() {
        proto::TCP | proto::UDP => l4_ok(ip, false),
        _ => true,
    }
}

/// A TCP header's option bytes, for tests that need option lists the Repr does not emit.
pub fn with_tcp_options(src: Ipv4Addr, dst: Ipv4Addr, r: &TcpRepr, options: &[u8]) -> Vec<u8> {
    let mut t = vec![0u8; tcp::MIN_HEADER_LEN + options.len()];
    TcpRepr { mss: None, ..*r }.emit(&mut t);
    let mut seg = TcpSegment::new_unchecked(&mut t[..]);
    seg.set_header_len(tcp::MIN_HEADER_LEN + options.len());
    seg.options_mut().copy_from_slice(options);
    seg.fill_checksum(src, dst);
    ipv4_packet(src, dst, proto::TCP, &t)
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::testkit::l2;

    /// Found by the `frame` fuzz target: an ICMP error quoting a header whose Total Length (1)
    /// is shorter than the header made the verifier panic instead of answering false.
    #[test]
    fn quote_shorter_than_its_header_is_not_ok() {
        let src = Ipv4Addr::new(198, 18, 0, 1);
        let dst = Ipv4Addr::new(198, 18, 0, 2);
        let mut quoted = udp_datagram(SocketAddrV4::new(dst, 53), SocketAddrV4::new(src, 53), b"");
        let mut q = Ipv4Packet::new_checked(&mut quoted[..]).unwrap();
        q.set_total_len(1);
        q.fill_checksum();
        let err = icmp_error(src, dst, 3, 3, &quoted, quoted.len());
        assert!(!checksums_ok(&ethernet(l2(1, 2), &err)));
    }
}
