//! IPv6 frames and an IPv6 fixture: a NAT service, a FullNAT service with an IPv6 pool and a
//! direct-routing service, on the two interfaces of [`super::two_interfaces`].

use std::net::Ipv6Addr;

use crate::frames::L2;
use crate::neighbours::v6::RouteV6;
use crate::snapshot::v6::{PoolSpecV6, ServiceSpecV6, SpecV6};
use crate::snapshot::{BackendSpec, Scheduler, Snapshot, Spec};
use crate::wire::checksum;
use crate::wire::{
    ethernet, icmpv6, proto, EtherType, EthernetRepr, Icmpv6Packet, Icmpv6Repr, Ipv6Packet,
    Ipv6Repr, TcpRepr, TcpSegment, UdpDatagram, UdpRepr,
};

pub fn a6(s: &str) -> Ipv6Addr {
    s.parse().unwrap()
}

pub const CLIENT: &str = "2001:db8:c::1";
pub const VIP: &str = "2001:db8:1::80";
pub const VIP_FULLNAT: &str = "2001:db8:1::81";
pub const VIP_DR: &str = "2001:db8:1::82";
pub const BACKEND: &str = "2001:db8:2::10";
pub const POOL: &str = "2001:db8:9::1";

/// An IPv6 packet carrying `l4` behind `ext` (extension headers, already chained: the first
/// next header is `first`), with the given hop limit.
pub fn ipv6_packet_ext(
    src: Ipv6Addr,
    dst: Ipv6Addr,
    first: u8,
    ext: &[u8],
    l4: &[u8],
    hop_limit: u8,
) -> Vec<u8> {
    let r = Ipv6Repr {
        src,
        dst,
        next_header: first,
        payload_len: ext.len() + l4.len(),
        hop_limit,
        traffic_class: 0,
        flow_label: 0,
    };
    let mut b = vec![0u8; r.buffer_len()];
    r.emit(&mut b);
    b.extend_from_slice(ext);
    b.extend_from_slice(l4);
    b
}

pub fn ipv6_packet(src: Ipv6Addr, dst: Ipv6Addr, next: u8, l4: &[u8]) -> Vec<u8> {
    ipv6_packet_ext(src, dst, next, &[], l4, 64)
}

/// A TCP segment over IPv6 with its checksum filled.
pub fn tcp6(src: Ipv6Addr, sport: u16, dst: Ipv6Addr, dport: u16, flags: u8) -> Vec<u8> {
    let r = TcpRepr {
        src_port: sport,
        dst_port: dport,
        seq_number: 1,
        ack_number: 0,
        flags,
        window_len: 1024,
        mss: None,
    };
    let mut t = vec![0u8; r.buffer_len()];
    r.emit(&mut t);
    TcpSegment::new_unchecked(&mut t[..]).fill_checksum(src, dst);
    ipv6_packet(src, dst, proto::TCP, &t)
}

/// A UDP datagram over IPv6 with its checksum filled.
pub fn udp6(src: Ipv6Addr, sport: u16, dst: Ipv6Addr, dport: u16, payload: &[u8]) -> Vec<u8> {
    let r = UdpRepr {
        src_port: sport,
        dst_port: dport,
        payload_len: payload.len(),
    };
    let mut u = vec![0u8; r.buffer_len()];
    r.emit(&mut u);
    u.extend_from_slice(payload);
    UdpDatagram::new_unchecked(&mut u[..]).fill_checksum(src, dst);
    ipv6_packet(src, dst, proto::UDP, &u)
}

/// An ICMPv6 message with `data` behind its header, checksum filled.
pub fn icmp6(src: Ipv6Addr, dst: Ipv6Addr, r: &Icmpv6Repr, data: &[u8]) -> Vec<u8> {
    let mut m = vec![0u8; icmpv6::HEADER_LEN];
    r.emit(&mut m);
    m.extend_from_slice(data);
    Icmpv6Packet::new_unchecked(&mut m[..]).fill_checksum(src, dst);
    ipv6_packet(src, dst, proto::ICMPV6, &m)
}

/// An Ethernet frame around an IPv6 packet, in a buffer with room behind it.
pub fn eth6(l2: L2, ip: &[u8]) -> Vec<u8> {
    let r = EthernetRepr {
        src: l2.src,
        dst: l2.dst,
        ethertype: EtherType::Ipv6,
    };
    let mut f = vec![0u8; r.buffer_len()];
    r.emit(&mut f);
    f.extend_from_slice(ip);
    f
}

/// The IPv6 packet of a frame.
pub fn ip6_of(frame: &[u8]) -> Ipv6Packet<&[u8]> {
    Ipv6Packet::new_checked(&frame[ethernet::HEADER_LEN..]).expect("an IPv6 packet")
}

/// Whether the upper layer's checksum (TCP, UDP, ICMPv6, right behind the fixed header)
/// verifies over the pseudo-header.
pub fn checksum6_ok(frame: &[u8]) -> bool {
    let ip = ip6_of(frame);
    let l4 = ip.payload();
    checksum::fold(
        checksum::pseudo_header_v6(ip.src(), ip.dst(), ip.next_header(), l4.len() as u32)
            + checksum::sum(l4),
    ) == 0xffff
}

fn service(name: &str, vip: &str, pool: Option<u16>, dr: bool, n: u16) -> ServiceSpecV6 {
    ServiceSpecV6 {
        name: name.into(),
        vip: a6(vip).into(),
        port: 80,
        proto: proto::TCP,
        scheduler: Scheduler::Maglev,
        persistence_ms: 0,
        backends: (0..n)
            .map(|i| BackendSpec {
                addr: Ipv6Addr::from(u128::from(a6(BACKEND)) + u128::from(i)).into(),
                port: 8080,
                weight: 1,
                up: true,
            })
            .collect(),
        pool,
        direct: dr.then_some(crate::snapshot::Direct::Routing),
        nat64: false,
    }
}

/// The IPv6 spec: NAT (`VIP`), FullNAT (`VIP_FULLNAT`, pool `POOL`), DR (`VIP_DR`), a UDP
/// and an ICMPv6 service on `VIP`, `backends` backends each; clients on interface 0 (behind
/// `fe80::1`), backends on link on interface 1 with neighbours `mac(0x10 + i)`.
pub fn spec6(backends: u16) -> SpecV6 {
    let mut udp = service("dns6", VIP, None, false, backends);
    (udp.proto, udp.port) = (proto::UDP, 53);
    for b in &mut udp.backends {
        b.port = 53;
    }
    let mut ping = service("ping6", VIP, None, false, backends);
    (ping.proto, ping.port) = (proto::ICMPV6, 0);
    SpecV6 {
        services: vec![
            service("web6", VIP, None, false, backends),
            service("full6", VIP_FULLNAT, Some(0), false, backends),
            service("dr6", VIP_DR, None, true, backends),
            udp,
            ping,
        ],
        pools: vec![PoolSpecV6 {
            name: "p6".into(),
            addrs: vec![a6(POOL).into()],
            ports: (1024, 65535),
        }],
        routes: vec![
            RouteV6 {
                net: a6("::"),
                prefix_len: 0,
                gateway: Some(a6("fe80::1")),
                iface: 0,
                src: None,
            },
            RouteV6 {
                net: a6("2001:db8:2::"),
                prefix_len: 64,
                gateway: None,
                iface: 1,
                src: None,
            },
        ],
        neighbours: std::iter::once((a6("fe80::1"), super::mac(1)))
            .chain((0..backends).map(|i| {
                (
                    Ipv6Addr::from(u128::from(a6(BACKEND)) + u128::from(i)),
                    super::mac(0x10 + i as u8),
                )
            }))
            .collect(),
        locals: vec![a6("2001:db8:2::1")],
        nat64_prefix: Default::default(),
    }
}

/// A snapshot with the IPv6 fixture and no IPv4 service, for `workers` workers.
pub fn snapshot6(backends: u16, workers: u16) -> Snapshot {
    let spec = Spec {
        interfaces: super::two_interfaces("eth0", "eth1"),
        workers,
        hash_seed: 7,
        ..Spec::default()
    };
    Snapshot::build_with_v6(&spec, &spec6(backends), None).unwrap()
}
