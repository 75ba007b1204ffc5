//! What the XDP program does with a packet, in Rust: which packets it takes, the key it looks
//! up, and the rewrite an action makes. The pipeline checks every rule it offers against this
//! model on the packet the rule was learnt from (`derive.rs`), and the differential test checks
//! the program against the pipeline; the model is the specification both are held to.

use crate::tunnel;
use crate::wire::checksum::apply_delta;
use crate::wire::offload::{ActionRepr, Encap, KeyRepr, Tunnel};
use crate::wire::{
    ethernet, gre, icmp, ipv4, proto, tcp, EtherType, EthernetFrame, GrePacket, IcmpPacket,
    Ipv4Packet, MacAddr, TcpSegment, UdpDatagram,
};

/// Why the program leaves a packet to the worker.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Punt {
    /// Not a packet the program parses (not IPv4, options, fragment, bad checksum, truncated,
    /// unsupported GRE, an ICMP message other than echo, another protocol).
    NotParsed,
    /// SYN, FIN or RST: the worker follows the connection's state.
    TcpFlags,
    /// The TTL runs out here: the worker answers with time exceeded.
    Ttl,
    /// Larger than the rule allows: the worker answers with fragmentation needed.
    TooLong,
    /// Into a tunnel without Don't Fragment: the worker numbers such outer packets.
    NotDf,
    /// No room in front of the frame for the outer header.
    NoRoom,
}

/// What the program knows of a packet when it looks it up.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Seen {
    pub key: KeyRepr,
    /// Where the (inner) IPv4 header starts in the frame, and its Total Length.
    pub l3: usize,
    pub total: usize,
    pub ttl: u8,
    pub dont_frag: bool,
    pub tos: u8,
}

/// An IPv4 header the program accepts: no options, checksum right, not a fragment.
fn accepted(b: &[u8]) -> Result<Ipv4Packet<&[u8]>, Punt> {
    let ip = Ipv4Packet::new_checked(b).map_err(|_| Punt::NotParsed)?;
    if ip.header_len() != ipv4::MIN_HEADER_LEN || !ip.verify_checksum() || ip.is_fragment() {
        return Err(Punt::NotParsed);
    }
    Ok(ip)
}

/// The key of a frame, or why the program does not look it up.
pub fn parse(frame: &[u8]) -> Result<Seen, Punt> {
    let eth = EthernetFrame::new_checked(frame).map_err(|_| Punt::NotParsed)?;
    if eth.ethertype() != EtherType::Ipv4 {
        return Err(Punt::NotParsed);
    }
    let outer = accepted(eth.payload())?;
    let (ip, l3, tunnel) = if outer.protocol() == proto::GRE {
        let g = GrePacket::new_checked(outer.payload()).map_err(|_| Punt::NotParsed)?;
        if g.protocol() != gre::PROTO_IPV4 {
            return Err(Punt::NotParsed);
        }
        let inner = accepted(outer.payload().get(g.header_len()..).unwrap_or_default())?;
        let l3 = ethernet::HEADER_LEN + outer.header_len() + g.header_len();
        let t = Tunnel::Gre {
            remote: outer.src(),
            local: outer.dst(),
            key: g.key(),
        };
        (inner, l3, t)
    } else {
        (outer, ethernet::HEADER_LEN, Tunnel::Plain)
    };
    let l4 = ip.payload();
    let (src_port, dst_port) = match ip.protocol() {
        proto::TCP => {
            let t = TcpSegment::new_checked(l4).map_err(|_| Punt::NotParsed)?;
            if t.flags() & (tcp::flags::SYN | tcp::flags::FIN | tcp::flags::RST) != 0 {
                return Err(Punt::TcpFlags);
            }
            (t.src_port(), t.dst_port())
        }
        proto::UDP => {
            let u = UdpDatagram::new_checked(l4).map_err(|_| Punt::NotParsed)?;
            (u.src_port(), u.dst_port())
        }
        proto::ICMP => {
            let m = IcmpPacket::new_checked(l4).map_err(|_| Punt::NotParsed)?;
            match m.msg_type() {
                icmp::kind::ECHO_REQUEST => (m.echo_ident(), 0),
                icmp::kind::ECHO_REPLY => (0, m.echo_ident()),
                _ => return Err(Punt::NotParsed),
            }
        }
        _ => return Err(Punt::NotParsed),
    };
    Ok(Seen {
        key: KeyRepr {
            src: ip.src(),
            dst: ip.dst(),
            src_port,
            dst_port,
            proto: ip.protocol(),
            tunnel,
        },
        l3,
        total: usize::from(ip.total_len()),
        ttl: ip.ttl(),
        dont_frag: ip.dont_frag(),
        tos: ip.dscp_ecn(),
    })
}

/// Applies `a` to the frame `buf[..len]` that `seen` describes; the frame may grow into the
/// rest of `buf`. Returns its new length.
pub fn apply(a: &ActionRepr, seen: &Seen, buf: &mut [u8], len: usize) -> Result<usize, Punt> {
    if seen.ttl <= 1 {
        return Err(Punt::Ttl);
    }
    if seen.total > usize::from(a.max_len) {
        return Err(Punt::TooLong);
    }
    if a.encap != Encap::None && !seen.dont_frag {
        return Err(Punt::NotDf);
    }
    let eth = ethernet::HEADER_LEN;
    let outer = usize::from(a.outer_len);
    if a.encap != Encap::None && eth + outer + seen.total > buf.len() {
        return Err(Punt::NoRoom);
    }
    let (mut l3, mut len) = (seen.l3, len);
    if a.decap_len > 0 {
        len = tunnel::decapsulate(buf, l3, seen.total);
        l3 = eth;
    }
    rewrite(a, &mut buf[l3..l3 + seen.total]);
    if a.encap != Encap::None {
        buf.copy_within(eth..eth + seen.total, eth + outer);
        buf[eth..eth + outer].copy_from_slice(&a.outer[..outer]);
        let mut o = Ipv4Packet::new_unchecked(&mut buf[eth..eth + outer]);
        o.set_total_len((outer + seen.total) as u16);
        o.set_flags_and_offset(seen.dont_frag, false, 0);
        if a.encap == Encap::Ipip {
            o.set_dscp_ecn(seen.tos);
        }
        o.fill_checksum();
        len = eth + outer + seen.total;
    }
    let mut e = EthernetFrame::new_unchecked(&mut buf[..len]);
    e.set_dst(MacAddr(a.dst_mac));
    e.set_src(MacAddr(a.src_mac));
    e.set_ethertype(EtherType::Ipv4);
    Ok(len)
}

/// The (inner) packet's new addresses, ports or identifier, TTL and checksums.
fn rewrite(a: &ActionRepr, packet: &mut [u8]) {
    let mut ip = Ipv4Packet::new_unchecked(packet);
    ip.set_src(a.src);
    ip.set_dst(a.dst);
    ip.set_ttl(ip.ttl() - 1);
    ip.set_checksum(apply_delta(ip.checksum(), a.ip_delta));
    let protocol = ip.protocol();
    let l4 = ip.payload_mut();
    match protocol {
        proto::TCP => {
            let mut t = TcpSegment::new_unchecked(l4);
            t.set_src_port(a.src_port);
            t.set_dst_port(a.dst_port);
            t.set_checksum(apply_delta(t.checksum(), a.l4_delta));
        }
        proto::UDP => {
            let mut u = UdpDatagram::new_unchecked(l4);
            u.set_src_port(a.src_port);
            u.set_dst_port(a.dst_port);
            // RFC 768: zero means "no checksum" and stays so; a computed zero is sent as ones.
            if u.checksum() != 0 {
                let c = apply_delta(u.checksum(), a.l4_delta);
                u.set_checksum(if c == 0 { 0xffff } else { c });
            }
        }
        _ => {
            let mut m = IcmpPacket::new_unchecked(l4);
            let ident = if m.msg_type() == icmp::kind::ECHO_REQUEST {
                a.src_port
            } else {
                a.dst_port
            };
            m.set_echo_ident(ident);
            m.set_checksum(apply_delta(m.checksum(), a.l4_delta));
        }
    }
}
