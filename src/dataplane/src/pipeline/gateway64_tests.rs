//! NAT64 for a site's IPv6 through its GRE tunnel: out of the tunnel translated to the pool,
//! the replies and ICMP errors translated back into the same tunnel, what is refused.

use std::net::{Ipv4Addr, Ipv6Addr};

use super::gateway_tests::{
    spec, untunnel, EXT1, EXT2, IF_IN, IF_OUT, KEY_A, LOCAL, SERVER, SITE_A, TO_US,
};
use super::*;
use crate::frames::{self, L2};
use crate::nat64::prefix::Pref64;
use crate::neighbours::v6::RouteV6;
use crate::snapshot::v6::SpecV6;
use crate::testkit::v6::{a6, checksum6_ok, icmp6, tcp6, udp6};
use crate::testkit::{ip_of, l2, mac, udp_checksum, ROOM};
use crate::wire::gre::PROTO_IPV6;
use crate::wire::tcp::flags::{ACK, SYN};
use crate::wire::{
    icmpv6, GrePacket, IcmpRepr, Icmpv6Packet, Icmpv6Repr, Ipv4Packet, Ipv6Packet, UdpDatagram,
};

/// The site's host, in its NAT64 source prefix.
const HOST6: &str = "2001:db8:66::5";
const FROM_OUTSIDE: L2 = l2(0x51, 0xa0);

fn pref64() -> Pref64 {
    Pref64::new(a6("2001:db8:ff64::"), 96).unwrap()
}

/// The server as the site writes it.
fn server6() -> Ipv6Addr {
    pref64().embed(SERVER)
}

fn snap(workers: u16) -> Snapshot {
    let mut s = spec(workers, (1024, 65535), 300_000);
    s.tunnels[0].nat64_sources = vec![(a6("2001:db8:66::"), 48)];
    let s6 = SpecV6 {
        routes: vec![RouteV6 {
            net: a6("::"),
            prefix_len: 0,
            gateway: Some(a6("fe80::1")),
            iface: IF_OUT,
            src: None,
        }],
        neighbours: vec![(a6("fe80::1"), mac(0xfe))],
        locals: vec![a6("2001:db8:1::1")],
        nat64_prefix: pref64(),
        ..SpecV6::default()
    };
    Snapshot::build_with_v6(&s, &s6, None).unwrap()
}

fn pipe(worker: u16) -> Pipeline {
    Pipeline::new(PipelineConfig {
        worker,
        conntrack_capacity: 64,
        conntrack_v6_capacity: 64,
        ..PipelineConfig::default()
    })
}

/// IPv6 in GRE from site a, in a frame with room.
fn from_site6(inner: &[u8]) -> (Vec<u8>, usize) {
    let mut ip = frames::gre_packet(SITE_A, LOCAL, Some(KEY_A), inner);
    let mut outer = Ipv4Packet::new_unchecked(&mut ip[..]);
    GrePacket::new_unchecked(outer.payload_mut()).set_protocol(PROTO_IPV6);
    let mut f = frames::ethernet(TO_US, &ip);
    let len = f.len();
    f.resize(ROOM, 0);
    (f, len)
}

fn from_outside(ip: &[u8]) -> (Vec<u8>, usize) {
    let mut f = frames::ethernet(FROM_OUTSIDE, ip);
    let len = f.len();
    f.resize(ROOM, 0);
    (f, len)
}

fn run(p: &mut Pipeline, s: &Snapshot, f: &mut Vec<u8>, len: usize) -> Verdict {
    let (v, n) = p.process_frame(s, 0, f, len);
    f.truncate(n);
    v
}

/// The site's UDP datagram out, then the server's answer back: (pool endpoint, the frame
/// that went into the tunnel).
fn round_trip(p: &mut Pipeline, s: &Snapshot) -> (std::net::SocketAddrV4, Vec<u8>) {
    let (mut f, len) = from_site6(&udp6(a6(HOST6), 5000, server6(), 53, b"query"));
    assert_eq!(run(p, s, &mut f, len), Verdict::Tx { iface: IF_OUT });
    let ip = ip_of(&f);
    assert_eq!(ip.dst(), SERVER);
    assert!([EXT1, EXT2].contains(&ip.src()), "{}", ip.src());
    assert!(frames::checksums_ok(&f));
    let u = UdpDatagram::new_checked(ip.payload()).unwrap();
    assert_eq!((u.dst_port(), u.payload()), (53, &b"query"[..]));
    let pool = std::net::SocketAddrV4::new(ip.src(), u.src_port());
    let answer = frames::udp_datagram(std::net::SocketAddrV4::new(SERVER, 53), pool, b"answer");
    let (mut r, len) = from_outside(&answer);
    assert_eq!(run(p, s, &mut r, len), Verdict::Tx { iface: IF_IN });
    (pool, r)
}

#[test]
fn a_site_host_reaches_an_ipv4_server_and_the_answer_comes_back_down_its_tunnel() {
    let s = snap(1);
    let mut p = pipe(0);
    let (_, r) = round_trip(&mut p, &s);
    let (to, key, inner) = untunnel(&r);
    assert_eq!((to, key), (SITE_A, Some(KEY_A)));
    assert_eq!(
        GrePacket::new_checked(ip_of(&r).payload())
            .unwrap()
            .protocol(),
        PROTO_IPV6
    );
    let ip = Ipv6Packet::new_checked(&inner[..]).unwrap();
    assert_eq!((ip.src(), ip.dst()), (server6(), a6(HOST6)));
    let u = UdpDatagram::new_checked(ip.payload()).unwrap();
    assert_eq!(
        (u.src_port(), u.dst_port(), u.payload()),
        (53, 5000, &b"answer"[..])
    );
    let mut check = crate::testkit::v6::eth6(l2(0, 0), &inner);
    assert!(checksum6_ok(&check));
    check.clear();
    // The flow: a NAT64 flow of the IPv6 table, no service's.
    assert_eq!(p.ct6.used(), 1);
    let zone = s.gw.tunnels[0].zone;
    assert!(p.tunnel_counters(zone).rx_packets >= 1 && p.tunnel_counters(zone).tx_packets >= 1);
    // It ends and gives its port back.
    p.housekeeping(10_000_000);
    assert_eq!(p.ct6.used(), 0);
}

#[test]
fn tcp_and_echo_too() {
    let s = snap(1);
    let mut p = pipe(0);
    let (mut f, len) = from_site6(&tcp6(a6(HOST6), 40000, server6(), 443, SYN));
    assert_eq!(run(&mut p, &s, &mut f, len), Verdict::Tx { iface: IF_OUT });
    assert!(frames::checksums_ok(&f));
    let (mut f, len) = from_site6(&tcp6(a6(HOST6), 40000, server6(), 443, ACK));
    assert_eq!(run(&mut p, &s, &mut f, len), Verdict::Tx { iface: IF_OUT });
    let echo = Icmpv6Repr::EchoRequest {
        ident: 9,
        seq_no: 1,
    };
    let (mut f, len) = from_site6(&icmp6(a6(HOST6), server6(), &echo, b"ping"));
    assert_eq!(run(&mut p, &s, &mut f, len), Verdict::Tx { iface: IF_OUT });
    assert_eq!(ip_of(&f).protocol(), crate::wire::proto::ICMP);
    assert!(frames::checksums_ok(&f));
    assert_eq!(p.ct6.used(), 2);
}

#[test]
fn a_reply_too_big_for_the_tunnel_once_translated_gets_frag_needed() {
    let s = snap(1);
    let mut p = pipe(0);
    let (pool, _) = round_trip(&mut p, &s);
    let mtu = usize::from(s.gw.tunnels[0].mtu);
    // Fits the tunnel as IPv4, not as IPv6 (20 bytes more).
    let body = vec![1u8; mtu - 20 - 8 - 10];
    // With Don't Fragment, as the test frames are.
    let big = frames::udp_datagram(std::net::SocketAddrV4::new(SERVER, 53), pool, &body);
    let (mut r, len) = from_outside(&big);
    assert_eq!(run(&mut p, &s, &mut r, len), Verdict::Tx { iface: IF_OUT });
    let err = ip_of(&r);
    assert_eq!(err.dst(), SERVER);
    let m = crate::wire::IcmpPacket::new_checked(err.payload()).unwrap();
    assert_eq!(
        (m.msg_type(), m.code()),
        (crate::wire::icmp::kind::DEST_UNREACHABLE, 4)
    );
    assert_eq!(usize::from(m.next_hop_mtu()), mtu - 20);
}

#[test]
fn a_routers_error_reaches_the_site_host_through_the_tunnel() {
    let s = snap(1);
    let mut p = pipe(0);
    // The site's datagram out, as the server's router sees it.
    let (mut f, len) = from_site6(&udp6(a6(HOST6), 5000, server6(), 53, b"query"));
    assert_eq!(run(&mut p, &s, &mut f, len), Verdict::Tx { iface: IF_OUT });
    let sent = ip_of(&f);
    let router = Ipv4Addr::new(198, 19, 1, 254);
    let quote = crate::testkit::ip_bytes(&f).to_vec();
    let err = frames::icmp_packet(
        router,
        sent.src(),
        &IcmpRepr::DestUnreachable {
            code: 1,
            next_hop_mtu: 0,
        },
        &quote,
    );
    let (mut r, len) = from_outside(&err);
    assert_eq!(run(&mut p, &s, &mut r, len), Verdict::Tx { iface: IF_IN });
    let (_, _, inner) = untunnel(&r);
    let ip = Ipv6Packet::new_checked(&inner[..]).unwrap();
    assert_eq!((ip.src(), ip.dst()), (pref64().embed(router), a6(HOST6)));
    let m = Icmpv6Packet::new_checked(ip.payload()).unwrap();
    assert_eq!(m.msg_type(), icmpv6::kind::DEST_UNREACHABLE);
}

#[test]
fn the_site_hosts_error_reaches_the_server_from_the_pool() {
    let s = snap(2);
    // The answer down the tunnel, as the site host got it (on the flow's owner).
    let (mut p, r, pool) = (0..2u16)
        .find_map(|w| {
            let mut p = pipe(w);
            let (mut f, len) = from_site6(&udp6(a6(HOST6), 5000, server6(), 53, b"query"));
            if run(&mut p, &s, &mut f, len) != (Verdict::Tx { iface: IF_OUT }) {
                return None;
            }
            let ip = ip_of(&f);
            let u = UdpDatagram::new_checked(ip.payload()).unwrap();
            let pool = std::net::SocketAddrV4::new(ip.src(), u.src_port());
            let answer =
                frames::udp_datagram(std::net::SocketAddrV4::new(SERVER, 53), pool, b"answer");
            let (mut r, len) = from_outside(&answer);
            assert_eq!(run(&mut p, &s, &mut r, len), Verdict::Tx { iface: IF_IN });
            Some((p, r, pool))
        })
        .expect("one worker owns the flow");
    let (_, _, answer6) = untunnel(&r);
    // Port unreachable from the site host, about that answer.
    let err = icmp6(
        a6(HOST6),
        server6(),
        &Icmpv6Repr::Other {
            msg_type: icmpv6::kind::DEST_UNREACHABLE,
            code: 4,
            rest_of_header: 0,
        },
        &answer6,
    );
    let (mut f, len) = from_site6(&err);
    assert_eq!(run(&mut p, &s, &mut f, len), Verdict::Tx { iface: IF_OUT });
    let ip = ip_of(&f);
    assert_eq!((ip.src(), ip.dst()), (*pool.ip(), SERVER));
    let m = crate::wire::IcmpPacket::new_checked(ip.payload()).unwrap();
    assert_eq!(m.msg_type(), crate::wire::icmp::kind::DEST_UNREACHABLE);
    assert!(frames::checksums_ok(&f));
}

#[test]
fn what_is_not_the_sites_or_not_translatable_is_refused() {
    let s = snap(1);
    let mut p = pipe(0);
    // Not from the NAT64 sources (and the tunnel routes no IPv6).
    let (mut f, len) = from_site6(&udp6(a6("2001:db8:99::5"), 5000, server6(), 53, b"x"));
    assert_eq!(
        run(&mut p, &s, &mut f, len),
        Verdict::Drop(DropReason::NotInside)
    );
    // A destination under the prefix that is no unicast IPv4 address.
    let bcast = pref64().embed(Ipv4Addr::new(224, 0, 0, 1));
    let (mut f, len) = from_site6(&udp6(a6(HOST6), 5000, bcast, 53, b"x"));
    assert_eq!(
        run(&mut p, &s, &mut f, len),
        Verdict::Drop(DropReason::Nat64Untranslatable)
    );
    // An unsolicited answer to a pool port: no flow.
    let stray = frames::udp_datagram(
        std::net::SocketAddrV4::new(SERVER, 53),
        std::net::SocketAddrV4::new(EXT1, 2000),
        b"x",
    );
    let (mut r, len) = from_outside(&stray);
    assert_eq!(
        run(&mut p, &s, &mut r, len),
        Verdict::Drop(DropReason::NoMapping)
    );
    let _ = udp_checksum;
}

#[test]
fn the_tunnels_worker_hands_each_flow_to_its_owner() {
    let s = snap(2);
    let mut owners = [0u32; 2];
    for port in 5000..5040u16 {
        let (mut f, len) = from_site6(&udp6(a6(HOST6), port, server6(), 53, b"q"));
        let mut p = pipe(0);
        match run(&mut p, &s, &mut f, len) {
            Verdict::Handoff { worker } => {
                assert_eq!(worker, 1);
                owners[1] += 1;
                // The owner takes it as it came.
                let (mut f, len) = from_site6(&udp6(a6(HOST6), port, server6(), 53, b"q"));
                let mut q = pipe(1);
                assert_eq!(run(&mut q, &s, &mut f, len), Verdict::Tx { iface: IF_OUT });
                // Its pool port is in its own share, so the answer comes back to it.
                let sport = UdpDatagram::new_checked(ip_of(&f).payload())
                    .unwrap()
                    .src_port();
                assert_eq!(crate::snat::ports::owner_of_port(sport, 2), 1);
            }
            Verdict::Tx { .. } => owners[0] += 1,
            v => panic!("{v:?}"),
        }
    }
    assert!(owners[0] > 5 && owners[1] > 5, "{owners:?}");
}
