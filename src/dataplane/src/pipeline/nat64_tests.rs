//! NAT64 through the pipeline: an IPv6 client, an IPv6 VIP, IPv4 backends behind an IPv4 pool.
//! Both directions of TCP, UDP and echo, the MTU rule of the growing direction, ICMP errors
//! both ways, and arbitrary frames against a NAT64 snapshot.

use std::net::{Ipv4Addr, SocketAddrV4};

use proptest::prelude::*;

use super::{Pipeline, PipelineConfig, Verdict};
use crate::conntrack::Kind;
use crate::counters::{Counter, DropReason};
use crate::frames::{
    self, checksums_ok, icmp_echo, icmp_packet, tcp_packet, tcp_repr, udp_datagram,
};
use crate::gateway::PoolSpec;
use crate::nat64::Pref64;
use crate::neighbours::v6::RouteV6;
use crate::snapshot::v6::{ServiceSpecV6, SpecV6};
use crate::snapshot::{BackendSpec, Scheduler, Snapshot, Spec};
use crate::testkit::v6::{a6, checksum6_ok, eth6, icmp6, ip6_of, tcp6, udp6};
use crate::testkit::{l2, mac, route, two_interfaces};
use crate::wire::icmp::{self, IcmpRepr};
use crate::wire::tcp::flags::{ACK, SYN};
use crate::wire::{
    ethernet, icmpv6, proto, EtherType, EthernetFrame, IcmpPacket, Icmpv6Packet, Icmpv6Repr,
    Ipv4Packet, Ipv6Packet, TcpSegment, UdpDatagram,
};

const CLIENT: &str = "2001:db8:c::1";
const VIP: &str = "2001:db8:1::64";
const PREFIX: &str = "2001:db8:64::/96";
const POOL: Ipv4Addr = Ipv4Addr::new(198, 19, 0, 1);
const B0: Ipv4Addr = Ipv4Addr::new(198, 18, 2, 10);
const B1: Ipv4Addr = Ipv4Addr::new(198, 18, 2, 11);
const ROUTER: Ipv4Addr = Ipv4Addr::new(198, 18, 2, 254);

fn service(name: &str, port: u16, p: u8, bport: u16) -> ServiceSpecV6 {
    ServiceSpecV6 {
        name: name.into(),
        vip: a6(VIP).into(),
        port,
        proto: p,
        scheduler: Scheduler::RoundRobin,
        persistence_ms: 0,
        backends: [B0, B1]
            .iter()
            .map(|&b| BackendSpec {
                addr: b.into(),
                port: bport,
                weight: 1,
                up: true,
            })
            .collect(),
        pool: Some(0),
        direct: None,
        nat64: true,
    }
}

/// The NAT64 fixture: clients on interface 0 (MTU `client_mtu`) behind `fe80::1`, backends on
/// link on interface 1, the pool `198.19.0.1`.
pub(crate) fn snapshot64(workers: u16, client_mtu: u16) -> Snapshot {
    let mut interfaces = two_interfaces("eth0", "eth1");
    interfaces[0].mtu = client_mtu;
    let spec = Spec {
        interfaces,
        routes: vec![route([198, 18, 2, 0], 24, None, 1)],
        neighbours: vec![(B0, mac(0x10)), (B1, mac(0x11)), (ROUTER, mac(0x12))],
        workers,
        hash_seed: 7,
        pools: vec![PoolSpec {
            name: "v4".into(),
            addrs: vec![POOL],
            ports: (1024, 65535),
            timeouts: Default::default(),
            sources: vec![],
        }],
        ..Spec::default()
    };
    let spec6 = SpecV6 {
        services: vec![
            service("web64", 80, proto::TCP, 8080),
            service("dns64", 53, proto::UDP, 53),
            service("ping64", 0, proto::ICMPV6, 0),
        ],
        routes: vec![RouteV6 {
            net: a6("::"),
            prefix_len: 0,
            gateway: Some(a6("fe80::1")),
            iface: 0,
            src: None,
        }],
        neighbours: vec![(a6("fe80::1"), mac(1))],
        nat64_prefix: PREFIX.parse().unwrap(),
        ..SpecV6::default()
    };
    Snapshot::build_with_v6(&spec, &spec6, None).unwrap()
}

fn pipe() -> Pipeline {
    Pipeline::new(PipelineConfig {
        conntrack_capacity: 64,
        conntrack_v6_capacity: 64,
        ..PipelineConfig::default()
    })
}

/// Runs a frame with room to grow; a transmitted frame is cut to its length.
fn run(p: &mut Pipeline, snap: &Snapshot, f: &mut Vec<u8>) -> Verdict {
    let len = f.len();
    f.resize(len + 1500, 0);
    let (v, n) = p.process_frame(snap, 0, f, len);
    f.truncate(if matches!(v, Verdict::Tx { .. }) {
        n
    } else {
        len
    });
    v
}

fn ethertype(f: &[u8]) -> EtherType {
    EthernetFrame::new_checked(f).unwrap().ethertype()
}

fn ip4(f: &[u8]) -> Ipv4Packet<&[u8]> {
    Ipv4Packet::new_checked(&f[ethernet::HEADER_LEN..]).unwrap()
}

/// Opens a TCP flow from the client's port `cport`; returns the frame sent to the backend.
fn open(p: &mut Pipeline, snap: &Snapshot, cport: u16) -> Vec<u8> {
    let mut f = eth6(l2(1, 0xa0), &tcp6(a6(CLIENT), cport, a6(VIP), 80, SYN));
    assert_eq!(run(p, snap, &mut f), Verdict::Tx { iface: 1 });
    f
}

#[test]
fn tcp_both_ways() {
    let snap = snapshot64(1, 1500);
    let mut p = pipe();
    let f = open(&mut p, &snap, 40000);
    assert_eq!(ethertype(&f), EtherType::Ipv4);
    assert!(checksums_ok(&f));
    let ip = ip4(&f);
    assert_eq!(ip.src(), POOL);
    assert!(ip.dst() == B0 || ip.dst() == B1);
    assert_eq!(ip.ttl(), 63);
    let t = TcpSegment::new_checked(ip.payload()).unwrap();
    assert_eq!(t.dst_port(), 8080);
    let (backend, lport) = (ip.dst(), t.src_port());
    let mac_b = if backend == B0 { mac(0x10) } else { mac(0x11) };
    assert_eq!(EthernetFrame::new_checked(&f[..]).unwrap().dst(), mac_b);
    assert_eq!(p.counters().get(Counter::Nat64ToIpv4), 1);
    let e = *p.conntrack_v6().iter().next().unwrap();
    assert_eq!(e.kind(), Kind::Nat64);
    assert_eq!(
        (e.backend.to_ipv4_mapped(), e.local.to_ipv4_mapped()),
        (Some(backend), Some(POOL))
    );
    // The SYN-ACK: IPv4 to the pool port, out as IPv6 from the VIP to the client.
    let syn_ack = tcp_packet(backend, POOL, &tcp_repr(8080, lport, SYN | ACK), b"");
    let mut r = frames::ethernet(l2(0x10, 0xa1), &syn_ack);
    assert_eq!(run(&mut p, &snap, &mut r), Verdict::Tx { iface: 0 });
    assert_eq!(ethertype(&r), EtherType::Ipv6);
    let ip = ip6_of(&r);
    assert_eq!(
        (ip.src(), ip.dst(), ip.hop_limit()),
        (a6(VIP), a6(CLIENT), 63)
    );
    let t = TcpSegment::new_checked(ip.payload()).unwrap();
    assert_eq!(
        (t.src_port(), t.dst_port(), t.flags()),
        (80, 40000, SYN | ACK)
    );
    assert!(checksum6_ok(&r));
    assert_eq!(EthernetFrame::new_checked(&r[..]).unwrap().dst(), mac(1));
    assert_eq!(p.counters().get(Counter::Nat64ToIpv6), 1);
    // Another client port goes to the other backend (round robin).
    let g = open(&mut p, &snap, 40001);
    assert_ne!(ip4(&g).dst(), backend);
    // An IPv6 packet with the flow's (mapped) reply key is nobody's.
    let mut bogus = eth6(
        l2(1, 0xa0),
        &tcp6(
            backend.to_ipv6_mapped(),
            8080,
            POOL.to_ipv6_mapped(),
            lport,
            ACK,
        ),
    );
    assert!(matches!(
        run(&mut p, &snap, &mut bogus),
        Verdict::Drop(_) | Verdict::Pass
    ));
}

#[test]
fn udp_and_echo() {
    let snap = snapshot64(1, 1500);
    let mut p = pipe();
    let mut f = eth6(l2(1, 0xa0), &udp6(a6(CLIENT), 5353, a6(VIP), 53, b"query"));
    assert_eq!(run(&mut p, &snap, &mut f), Verdict::Tx { iface: 1 });
    assert!(checksums_ok(&f));
    let ip = ip4(&f);
    let u = UdpDatagram::new_checked(ip.payload()).unwrap();
    assert_eq!((u.dst_port(), u.payload()), (53, &b"query"[..]));
    // The answer without a UDP checksum (IPv4 allows it): IPv6 gets one.
    let answer = crate::testkit::without_udp_checksum(udp_datagram(
        SocketAddrV4::new(ip.dst(), 53),
        SocketAddrV4::new(POOL, u.src_port()),
        b"answer",
    ));
    let mut r = frames::ethernet(l2(0x10, 0xa1), &answer);
    assert_eq!(run(&mut p, &snap, &mut r), Verdict::Tx { iface: 0 });
    let ip6 = ip6_of(&r);
    let u6 = UdpDatagram::new_checked(ip6.payload()).unwrap();
    assert_eq!(
        (u6.src_port(), u6.dst_port(), u6.payload()),
        (53, 5353, &b"answer"[..])
    );
    assert!(checksum6_ok(&r));

    // ping6 of the VIP: an echo request to a backend from a pool identifier, and back.
    let req = Icmpv6Repr::EchoRequest {
        ident: 99,
        seq_no: 1,
    };
    let mut e = eth6(l2(1, 0xa0), &icmp6(a6(CLIENT), a6(VIP), &req, b"abc"));
    assert_eq!(run(&mut p, &snap, &mut e), Verdict::Tx { iface: 1 });
    assert!(checksums_ok(&e));
    let ip = ip4(&e);
    let m = IcmpPacket::new_checked(ip.payload()).unwrap();
    assert_eq!(m.msg_type(), icmp::kind::ECHO_REQUEST);
    let reply = icmp_echo(ip.dst(), POOL, false, m.echo_ident(), b"abc");
    let mut r = frames::ethernet(l2(0x10, 0xa1), &reply);
    assert_eq!(run(&mut p, &snap, &mut r), Verdict::Tx { iface: 0 });
    let ip6 = ip6_of(&r);
    let m6 = Icmpv6Packet::new_checked(ip6.payload()).unwrap();
    assert_eq!(
        (m6.msg_type(), m6.echo_ident()),
        (icmpv6::kind::ECHO_REPLY, 99)
    );
    assert!(checksum6_ok(&r));
}

/// A reply whose translation exceeds the client side's MTU: fragmentation needed (MTU less
/// 20) to the backend with Don't Fragment, a counted drop without.
#[test]
fn replies_larger_than_the_mtu() {
    let snap = snapshot64(1, 1300);
    let mut p = pipe();
    let f = open(&mut p, &snap, 40000);
    let ip = ip4(&f);
    let (backend, lport) = (
        ip.dst(),
        TcpSegment::new_checked(ip.payload()).unwrap().src_port(),
    );
    let big = |df: bool| {
        let mut b = tcp_packet(backend, POOL, &tcp_repr(8080, lport, ACK), &[1u8; 1250]);
        let mut ip = Ipv4Packet::new_unchecked(&mut b[..]);
        ip.set_flags_and_offset(df, false, 0);
        ip.fill_checksum();
        frames::ethernet(l2(0x10, 0xa1), &b)
    };
    // 1290 bytes fit 1300 as IPv4 but not as IPv6.
    let mut r = big(true);
    assert_eq!(run(&mut p, &snap, &mut r), Verdict::Tx { iface: 1 });
    assert!(checksums_ok(&r));
    let ip = ip4(&r);
    assert_eq!((ip.src(), ip.dst()), (POOL, backend));
    let m = IcmpPacket::new_checked(ip.payload()).unwrap();
    assert_eq!(
        IcmpRepr::parse(&m),
        IcmpRepr::DestUnreachable {
            code: icmp::code::FRAG_NEEDED,
            next_hop_mtu: 1280
        }
    );
    assert_eq!(p.counters().get(Counter::FragNeededSent), 1);
    let mut r = big(false);
    assert_eq!(
        run(&mut p, &snap, &mut r),
        Verdict::Drop(DropReason::TooBig)
    );
}

#[test]
fn icmpv4_errors_reach_the_client_as_icmpv6() {
    let snap = snapshot64(1, 1500);
    let mut p = pipe();
    let f = open(&mut p, &snap, 40000);
    let sent = f[ethernet::HEADER_LEN..].to_vec(); // wire-offsets: not a header (the frame's IP packet)
    let backend = ip4(&f).dst();
    // A router on the way: frag needed, MTU 1400, from its address under the prefix.
    let err = icmp_packet(
        ROUTER,
        POOL,
        &IcmpRepr::DestUnreachable {
            code: icmp::code::FRAG_NEEDED,
            next_hop_mtu: 1400,
        },
        &sent,
    );
    let mut r = frames::ethernet(l2(0x12, 0xa1), &err);
    assert_eq!(run(&mut p, &snap, &mut r), Verdict::Tx { iface: 0 });
    assert!(checksum6_ok(&r));
    let ip = ip6_of(&r);
    let prefix: Pref64 = PREFIX.parse().unwrap();
    assert_eq!((ip.src(), ip.dst()), (prefix.embed(ROUTER), a6(CLIENT)));
    let m = Icmpv6Packet::new_checked(ip.payload()).unwrap();
    assert_eq!(
        Icmpv6Repr::parse(&m),
        Icmpv6Repr::PacketTooBig { mtu: 1420 }
    );
    let q = Ipv6Packet::new_unchecked(m.quoted());
    assert_eq!((q.src(), q.dst()), (a6(CLIENT), a6(VIP)));
    assert_eq!(p.counters().get(Counter::IcmpTranslated), 1);
    // The backend's own port unreachable comes from the VIP.
    let err = icmp_packet(
        backend,
        POOL,
        &IcmpRepr::DestUnreachable {
            code: 3,
            next_hop_mtu: 0,
        },
        &sent,
    );
    let mut r = frames::ethernet(l2(0x10, 0xa1), &err);
    assert_eq!(run(&mut p, &snap, &mut r), Verdict::Tx { iface: 0 });
    let ip = ip6_of(&r);
    assert_eq!(ip.src(), a6(VIP));
    let m = Icmpv6Packet::new_checked(ip.payload()).unwrap();
    assert_eq!(
        Icmpv6Repr::parse(&m),
        Icmpv6Repr::DestUnreachable { code: 4 }
    );
    // No translation for a precedence violation (code 14): dropped, counted.
    let err = icmp_packet(
        ROUTER,
        POOL,
        &IcmpRepr::DestUnreachable {
            code: 14,
            next_hop_mtu: 0,
        },
        &sent,
    );
    let mut r = frames::ethernet(l2(0x12, 0xa1), &err);
    assert_eq!(
        run(&mut p, &snap, &mut r),
        Verdict::Drop(DropReason::Nat64Untranslatable)
    );
}

#[test]
fn packet_too_big_from_the_client_reaches_the_backend() {
    let snap = snapshot64(1, 1500);
    let mut p = pipe();
    let f = open(&mut p, &snap, 40000);
    let ip = ip4(&f);
    let (backend, lport) = (
        ip.dst(),
        TcpSegment::new_checked(ip.payload()).unwrap().src_port(),
    );
    let ack = tcp_packet(
        backend,
        POOL,
        &tcp_repr(8080, lport, SYN | ACK),
        &[3u8; 1300],
    );
    let mut r = frames::ethernet(l2(0x10, 0xa1), &ack);
    assert_eq!(run(&mut p, &snap, &mut r), Verdict::Tx { iface: 0 });
    let delivered = r[ethernet::HEADER_LEN..].to_vec(); // wire-offsets: not a header (the frame's IP packet)
                                                        // The client's side says 1280.
    let cut = &delivered[..1280 - 48]; // wire-offsets: not a header (a quote's length)
    let ptb = icmp6(
        a6(CLIENT),
        a6(VIP),
        &Icmpv6Repr::PacketTooBig { mtu: 1280 },
        cut,
    );
    let mut e = eth6(l2(1, 0xa0), &ptb);
    assert_eq!(run(&mut p, &snap, &mut e), Verdict::Tx { iface: 1 });
    assert!(checksums_ok(&e));
    let ip = ip4(&e);
    assert_eq!((ip.src(), ip.dst()), (POOL, backend));
    let m = IcmpPacket::new_checked(ip.payload()).unwrap();
    assert_eq!(
        IcmpRepr::parse(&m),
        IcmpRepr::DestUnreachable {
            code: icmp::code::FRAG_NEEDED,
            next_hop_mtu: 1260
        }
    );
    let q = Ipv4Packet::new_quoted(m.quoted()).unwrap();
    assert_eq!((q.src(), q.dst()), (backend, POOL));
    let t = TcpSegment::new_quoted(&m.quoted()[q.header_len()..]).unwrap();
    assert_eq!((t.src_port(), t.dst_port()), (8080, lport));
    assert_eq!(p.counters().get(Counter::IcmpTranslated), 1);
}

#[test]
fn pool_ports_go_back_to_the_ipv4_allocator() {
    let snap = snapshot64(1, 1500);
    let mut p = pipe();
    let _ = open(&mut p, &snap, 40000);
    // TCP ports in use on the pool's address.
    let taken = |p: &Pipeline| p.snat().pools[0].used(0)[0];
    assert_eq!(taken(&p), 1);
    // A SYN that never completes expires; its port is free again.
    p.housekeeping(10 * 60 * 1000);
    assert_eq!(p.conntrack_v6().used(), 0);
    assert_eq!(taken(&p), 0);
}

proptest! {
    /// Any frame through a NAT64 snapshot, either family, after a live flow: a verdict, never
    /// a panic, and what goes out has valid checksums.
    #[test]
    fn arbitrary_frames(bytes in proptest::collection::vec(any::<u8>(), 0..200), v6 in any::<bool>(), icmp_err in any::<bool>()) {
        let snap = snapshot64(1, 1500);
        let mut p = pipe();
        let f = open(&mut p, &snap, 40000);
        let ip = ip4(&f);
        let (backend, lport) = (ip.dst(), TcpSegment::new_checked(ip.payload()).unwrap().src_port());
        let mut frame = if v6 {
            let mut b = tcp6(a6(CLIENT), 40000, a6(VIP), 80, ACK);
            b.extend_from_slice(&bytes);
            eth6(l2(1, 0xa0), &b)
        } else if icmp_err {
            let mut sent = f[ethernet::HEADER_LEN..].to_vec(); // wire-offsets: not a header
            let n = sent.len().min(bytes.len());
            sent[..n].copy_from_slice(&bytes[..n]); // wire-offsets: not a header (fuzzing)
            frames::ethernet(l2(0x12, 0xa1), &icmp_packet(ROUTER, POOL, &IcmpRepr::TimeExceeded { code: 0 }, &sent))
        } else {
            let mut b = tcp_packet(backend, POOL, &tcp_repr(8080, lport, ACK), b"");
            b.extend_from_slice(&bytes);
            frames::ethernet(l2(0x10, 0xa1), &b)
        };
        if let Verdict::Tx { .. } = run(&mut p, &snap, &mut frame) {
            match ethertype(&frame) {
                EtherType::Ipv6 => prop_assert!(checksum6_ok(&frame)),
                _ => prop_assert!(checksums_ok(&frame)),
            }
        }
    }
}
