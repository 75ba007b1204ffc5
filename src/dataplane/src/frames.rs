//! Frame builders with correct checksums, and a full checksum verifier. They allocate and are
//! for tests, benchmarks and traffic generators, never for the per-packet path.

use std::net::{Ipv4Addr, SocketAddrV4};

use super::checksum::{fold, l4_checksum_v4, sum};
use super::wire::{icmp, proto, EtherType, EthernetFrame, IcmpPacket, Ipv4Packet, MacAddr};

#[derive(Debug, Clone, Copy)]
pub struct L2 {
    pub src: MacAddr,
    pub dst: MacAddr,
}

/// An IPv4 packet (no Ethernet header) carrying `l4`, whose checksum field at `csum_at` (if any)
/// is filled in.
pub fn ipv4_packet(
    src: Ipv4Addr,
    dst: Ipv4Addr,
    protocol: u8,
    mut l4: Vec<u8>,
    csum_at: Option<usize>,
) -> Vec<u8> {
    if let Some(at) = csum_at {
        l4[at..at + 2].copy_from_slice(&[0, 0]);
        let c = if protocol == proto::ICMP {
            !fold(sum(&l4))
        } else {
            l4_checksum_v4(src, dst, protocol, &l4)
        };
        let c = if protocol == proto::UDP && c == 0 {
            0xffff
        } else {
            c
        };
        l4[at..at + 2].copy_from_slice(&c.to_be_bytes());
    }
    let total = 20 + l4.len();
    let mut ip = vec![0u8; 20];
    ip[0] = 0x45;
    ip[2..4].copy_from_slice(&(total as u16).to_be_bytes());
    ip[4..6].copy_from_slice(&0x1234u16.to_be_bytes());
    ip[6] = 0x40; // DF
    ip[8] = 64;
    ip[9] = protocol;
    ip[12..16].copy_from_slice(&src.octets());
    ip[16..20].copy_from_slice(&dst.octets());
    ip.extend_from_slice(&l4);
    Ipv4Packet::new_checked(&mut ip[..])
        .unwrap()
        .fill_checksum();
    ip
}

/// An outer IPv4 packet carrying `inner` (an IPv4 packet) in GRE, with an RFC 2890 key when
/// given, as a site gateway sends it.
pub fn gre_packet(src: Ipv4Addr, dst: Ipv4Addr, key: Option<u32>, inner: &[u8]) -> Vec<u8> {
    let mut g = vec![0u8; if key.is_some() { 8 } else { 4 }];
    super::wire::gre::GreRepr {
        key,
        protocol: super::wire::gre::PROTO_IPV4,
    }
    .emit(&mut g);
    g.extend_from_slice(inner);
    ipv4_packet(src, dst, proto::GRE, g, None)
}

/// Wraps an IP packet in Ethernet, padding to the 60-byte minimum as a NIC would.
pub fn ethernet(l2: L2, ip: &[u8]) -> Vec<u8> {
    let mut f = vec![0u8; 14];
    {
        let mut e = EthernetFrame::new_checked(&mut f[..]).unwrap();
        e.set_dst(l2.dst);
        e.set_src(l2.src);
        e.set_ethertype(EtherType::Ipv4);
    }
    f.extend_from_slice(ip);
    if f.len() < 60 {
        f.resize(60, 0);
    }
    f
}

pub fn tcp_segment(src: SocketAddrV4, dst: SocketAddrV4, flags: u8, payload: &[u8]) -> Vec<u8> {
    let mut t = vec![0u8; 20];
    t[0..2].copy_from_slice(&src.port().to_be_bytes());
    t[2..4].copy_from_slice(&dst.port().to_be_bytes());
    t[4..8].copy_from_slice(&1000u32.to_be_bytes());
    t[12] = 5 << 4;
    t[13] = flags;
    t[14..16].copy_from_slice(&65535u16.to_be_bytes());
    t.extend_from_slice(payload);
    ipv4_packet(*src.ip(), *dst.ip(), proto::TCP, t, Some(16))
}

pub fn udp_datagram(src: SocketAddrV4, dst: SocketAddrV4, payload: &[u8]) -> Vec<u8> {
    let mut u = vec![0u8; 8];
    u[0..2].copy_from_slice(&src.port().to_be_bytes());
    u[2..4].copy_from_slice(&dst.port().to_be_bytes());
    u[4..6].copy_from_slice(&((8 + payload.len()) as u16).to_be_bytes());
    u.extend_from_slice(payload);
    ipv4_packet(*src.ip(), *dst.ip(), proto::UDP, u, Some(6))
}

pub fn icmp_echo(src: Ipv4Addr, dst: Ipv4Addr, request: bool, ident: u16, data: &[u8]) -> Vec<u8> {
    let mut m = vec![0u8; 8];
    m[0] = if request {
        icmp::kind::ECHO_REQUEST
    } else {
        icmp::kind::ECHO_REPLY
    };
    m[4..6].copy_from_slice(&ident.to_be_bytes());
    m[6..8].copy_from_slice(&1u16.to_be_bytes());
    m.extend_from_slice(data);
    ipv4_packet(src, dst, proto::ICMP, m, Some(2))
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
    let mut m = vec![0u8; 8];
    m[0] = msg_type;
    m[1] = code;
    m.extend_from_slice(&offending[..quote_len.min(offending.len())]);
    ipv4_packet(src, dst, proto::ICMP, m, Some(2))
}

/// Verifies every checksum a NAT rewrite touches: the IP header, TCP/UDP (with pseudo-header),
/// ICMP, and for ICMP errors the quoted IP header and, when fully quoted, the quoted L4 one.
pub fn checksums_ok(frame: &[u8]) -> bool {
    let Ok(ip) = Ipv4Packet::new_checked(&frame[14..]) else {
        return false;
    };
    ip.verify_checksum() && l4_ok(&ip, false)
}

fn l4_ok(ip: &Ipv4Packet<&[u8]>, quoted: bool) -> bool {
    let l4 = ip.payload();
    match ip.protocol() {
        proto::TCP | proto::UDP if quoted => true,
        proto::UDP if l4.len() >= 8 && l4[6..8] == [0, 0] => true,
        proto::TCP | proto::UDP => {
            fold(
                crate::checksum::pseudo_header_v4(
                    ip.src(),
                    ip.dst(),
                    ip.protocol(),
                    l4.len() as u16,
                ) + sum(l4),
            ) == 0xffff
        }
        proto::ICMP if quoted => true,
        proto::ICMP => {
            let Ok(m) = IcmpPacket::new_checked(l4) else {
                return false;
            };
            if fold(sum(l4)) != 0xffff {
                return false;
            }
            if !m.is_error() {
                return true;
            }
            let Ok(q) = Ipv4Packet::new_quoted(m.quoted()) else {
                return false;
            };
            let quoted_full = usize::from(q.total_len()) <= m.quoted().len();
            q.verify_checksum()
                && (!quoted_full || {
                    let full = Ipv4Packet::new_checked(&m.quoted()[..usize::from(q.total_len())])
                        .expect("checked length");
                    l4_ok_full(&full)
                })
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
