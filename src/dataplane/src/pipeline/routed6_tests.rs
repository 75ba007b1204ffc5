//! IPv6 through a tunnel untranslated: out of the tunnel to the IPv6 routes, into it from
//! anywhere, the site end, hop limit and Packet Too Big answered the way the packet came, and
//! what is refused.

use std::net::Ipv6Addr;

use super::gateway_tests::{spec, untunnel, IF_IN, IF_OUT, KEY_A, LOCAL, SITE_A, TO_US};
use super::*;
use crate::frames::{self, L2};
use crate::neighbours::v6::RouteV6;
use crate::snapshot::v6::SpecV6;
use crate::testkit::v6::{a6, checksum6_ok, eth6, icmp6, ip6_of, udp6};
use crate::testkit::{ip_of, l2, mac, ROOM};
use crate::wire::gre::PROTO_IPV6;
use crate::wire::{icmpv6, EtherType, GrePacket, Icmpv6Packet, Ipv4Packet, Ipv6Packet};

const SITE_HOST: &str = "2001:db8:64::5";
const FAR: &str = "2001:db8:70::2";
/// The host's own IPv6 address: the source of the errors it sends.
const OURS: &str = "2001:db8:1::1";
const ROUTER: &str = "fe80::1";
const FROM_OUTSIDE: L2 = l2(0x51, 0xa0);

fn spec6() -> SpecV6 {
    SpecV6 {
        routes: vec![RouteV6 {
            net: a6("::"),
            prefix_len: 0,
            gateway: Some(a6(ROUTER)),
            iface: IF_OUT,
            src: None,
        }],
        neighbours: vec![(a6(ROUTER), mac(0xfe))],
        locals: vec![a6("fe80::99"), a6(OURS)],
        ..SpecV6::default()
    }
}

/// Site a's tunnel carries 2001:db8:64::/48; at the site end (`site`) the tunnel is the
/// site's own, with its IPv4 inside prefix too.
fn snap(site: bool) -> Snapshot {
    let mut s = spec(1, (1024, 65535), 300_000);
    s.tunnels[0].routed6 = vec![(a6("2001:db8:64::"), 48)];
    if site {
        s.tunnels[0].pool = None;
        s.tunnels[0].inside = vec![(std::net::Ipv4Addr::new(198, 18, 64, 0), 24)];
    }
    Snapshot::build_with_v6(&s, &spec6(), None).unwrap()
}

/// An IPv6 packet in GRE from site a, in a frame with room.
fn from_site6(inner: &[u8]) -> Vec<u8> {
    let mut ip = frames::gre_packet(SITE_A, LOCAL, Some(KEY_A), inner);
    let mut outer = Ipv4Packet::new_unchecked(&mut ip[..]);
    GrePacket::new_unchecked(outer.payload_mut()).set_protocol(PROTO_IPV6);
    let mut f = frames::ethernet(TO_US, &ip);
    f.resize(ROOM, 0);
    f
}

fn from_outside6(ip: &[u8]) -> (Vec<u8>, usize) {
    let mut f = eth6(FROM_OUTSIDE, ip);
    let len = f.len();
    f.resize(ROOM, 0);
    (f, len)
}

fn run(p: &mut Pipeline, s: &Snapshot, f: &mut Vec<u8>, len: usize) -> Verdict {
    let (v, n) = p.process_frame(s, 0, f, len);
    f.truncate(n);
    v
}

fn gre_len(f: &[u8]) -> usize {
    usize::from(ip_of(f).total_len()) + crate::wire::ethernet::HEADER_LEN
}

#[test]
fn out_of_the_tunnel_to_the_ipv6_routes() {
    let s = snap(false);
    let mut p = crate::testkit::pipeline(0, 64);
    let inner = udp6(a6(SITE_HOST), 5000, a6(FAR), 53, b"query");
    let mut f = from_site6(&inner);
    let len = gre_len(&f);
    assert_eq!(run(&mut p, &s, &mut f, len), Verdict::Tx { iface: IF_OUT });
    let eth = crate::testkit::eth_of(&f);
    assert_eq!(eth.ethertype(), EtherType::Ipv6);
    assert_eq!(eth.dst(), mac(0xfe));
    let ip = ip6_of(&f);
    assert_eq!((ip.src(), ip.dst()), (a6(SITE_HOST), a6(FAR)));
    assert_eq!(
        ip.hop_limit(),
        Ipv6Packet::new_unchecked(&inner[..]).hop_limit() - 1
    );
    assert_eq!(
        ip.payload(),
        Ipv6Packet::new_unchecked(&inner[..]).payload()
    );
    assert!(checksum6_ok(&f));
    let zone = s.gw.tunnels[0].zone;
    assert_eq!(p.tunnel_counters(zone).rx_packets, 1);
}

#[test]
fn into_the_tunnel_in_gre_with_the_ipv6_protocol_type() {
    let s = snap(false);
    let mut p = crate::testkit::pipeline(0, 64);
    let ip = udp6(a6(FAR), 53, a6(SITE_HOST), 5000, b"answer");
    let (mut f, len) = from_outside6(&ip);
    assert_eq!(run(&mut p, &s, &mut f, len), Verdict::Tx { iface: IF_IN });
    assert_eq!(crate::testkit::eth_of(&f).ethertype(), EtherType::Ipv4);
    let outer = ip_of(&f);
    assert!(outer.dont_frag());
    assert_eq!(
        GrePacket::new_checked(outer.payload()).unwrap().protocol(),
        PROTO_IPV6
    );
    let (to, key, inner) = untunnel(&f);
    assert_eq!((to, key), (SITE_A, Some(KEY_A)));
    let inner = Ipv6Packet::new_checked(&inner[..]).unwrap();
    assert_eq!(inner.dst(), a6(SITE_HOST));
    assert_eq!(
        inner.hop_limit(),
        Ipv6Packet::new_unchecked(&ip[..]).hop_limit() - 1
    );
    let zone = s.gw.tunnels[0].zone;
    assert_eq!(p.tunnel_counters(zone).tx_packets, 1);
    // Elsewhere in the world: not the tunnel's (the kernel's, by steering).
    let other = udp6(a6(FAR), 53, a6("2001:db8:65::5"), 5000, b"x");
    let (mut f, len) = from_outside6(&other);
    assert_ne!(run(&mut p, &s, &mut f, len), Verdict::Tx { iface: IF_IN });
}

#[test]
fn what_comes_out_must_be_from_the_site_and_whole() {
    let s = snap(false);
    let mut p = crate::testkit::pipeline(0, 64);
    let spoofed = udp6(a6("2001:db8:99::5"), 5000, a6(FAR), 53, b"x");
    let mut f = from_site6(&spoofed);
    let len = gre_len(&f);
    assert_eq!(
        run(&mut p, &s, &mut f, len),
        Verdict::Drop(DropReason::NotInside)
    );
    let to_link_local = udp6(a6(SITE_HOST), 5000, a6("fe80::7"), 53, b"x");
    let mut f = from_site6(&to_link_local);
    let len = gre_len(&f);
    assert_eq!(
        run(&mut p, &s, &mut f, len),
        Verdict::Drop(DropReason::NotInside)
    );
    let mut long = udp6(a6(SITE_HOST), 5000, a6(FAR), 53, b"x");
    Ipv6Packet::new_unchecked(&mut long[..]).set_payload_len(500);
    let mut f = from_site6(&long);
    let len = gre_len(&f);
    assert_eq!(
        run(&mut p, &s, &mut f, len),
        Verdict::Drop(DropReason::BadPayloadLength)
    );
    let mut f = from_site6(&[0x60, 0, 0, 0]);
    let len = gre_len(&f);
    assert_eq!(
        run(&mut p, &s, &mut f, len),
        Verdict::Drop(DropReason::Malformed)
    );
    // A tunnel without IPv6 prefixes still refuses IPv6.
    let plain = Snapshot::build_with_v6(&spec(1, (1024, 65535), 300_000), &spec6(), None).unwrap();
    let inner = udp6(a6(SITE_HOST), 5000, a6(FAR), 53, b"x");
    let mut f = from_site6(&inner);
    let len = gre_len(&f);
    assert_eq!(
        run(&mut p, &plain, &mut f, len),
        Verdict::Drop(DropReason::GreUnsupported)
    );
}

#[test]
fn too_big_for_the_tunnel_is_answered_with_packet_too_big() {
    let s = snap(false);
    let mut p = crate::testkit::pipeline(0, 64);
    let mtu = s.gw.tunnels[0].mtu;
    let ip = udp6(
        a6(FAR),
        53,
        a6(SITE_HOST),
        5000,
        &vec![7u8; usize::from(mtu)],
    );
    let (mut f, len) = from_outside6(&ip);
    assert_eq!(run(&mut p, &s, &mut f, len), Verdict::Tx { iface: IF_OUT });
    let err = ip6_of(&f);
    assert_eq!((err.src(), err.dst()), (a6(OURS), a6(FAR)));
    let m = Icmpv6Packet::new_checked(err.payload()).unwrap();
    assert_eq!(m.msg_type(), icmpv6::kind::PACKET_TOO_BIG);
    assert_eq!(m.mtu(), u32::from(mtu));
    assert!(checksum6_ok(&f));
    assert_eq!(
        p.counters().get(crate::counters::Counter::FragNeededSent),
        1
    );
}

#[test]
fn hop_limit_running_out_is_answered_into_the_tunnel() {
    let s = snap(false);
    let mut p = crate::testkit::pipeline(0, 64);
    let mut inner = udp6(a6(SITE_HOST), 5000, a6(FAR), 53, b"x");
    Ipv6Packet::new_unchecked(&mut inner[..]).set_hop_limit(1);
    let mut f = from_site6(&inner);
    let len = gre_len(&f);
    assert_eq!(run(&mut p, &s, &mut f, len), Verdict::Tx { iface: IF_IN });
    let (to, _, back) = untunnel(&f);
    assert_eq!(to, SITE_A);
    let err = Ipv6Packet::new_checked(&back[..]).unwrap();
    assert_eq!((err.src(), err.dst()), (a6(OURS), a6(SITE_HOST)));
    let m = Icmpv6Packet::new_checked(err.payload()).unwrap();
    assert_eq!(m.msg_type(), icmpv6::kind::TIME_EXCEEDED);
    // An error is never answered with one.
    let mut e = icmp6(
        a6(FAR),
        a6(SITE_HOST),
        &crate::wire::Icmpv6Repr::PacketTooBig { mtu: 1280 },
        &inner,
    );
    Ipv6Packet::new_unchecked(&mut e[..]).set_hop_limit(1);
    let (mut f, len) = from_outside6(&e);
    assert_eq!(
        run(&mut p, &s, &mut f, len),
        Verdict::Drop(DropReason::TtlExceeded)
    );
}

#[test]
fn site_end_tunnels_what_leaves_the_site_and_delivers_what_comes_back() {
    let s = snap(true);
    let mut p = crate::testkit::pipeline(0, 64);
    let out = udp6(a6(SITE_HOST), 5000, a6(FAR), 53, b"q");
    let (mut f, len) = from_outside6(&out);
    assert_eq!(run(&mut p, &s, &mut f, len), Verdict::Tx { iface: IF_IN });
    let (to, _, inner) = untunnel(&f);
    assert_eq!(to, SITE_A);
    assert_eq!(Ipv6Packet::new_checked(&inner[..]).unwrap().dst(), a6(FAR));
    // Inside to inside, or to the host itself: not the tunnel's.
    for dst in ["2001:db8:64::6", OURS] {
        let ip = udp6(a6(SITE_HOST), 5000, a6(dst), 53, b"q");
        let (mut f, len) = from_outside6(&ip);
        assert_ne!(
            run(&mut p, &s, &mut f, len),
            Verdict::Tx { iface: IF_IN },
            "{dst}"
        );
    }
    // Back from the central end: only to the site's prefixes.
    let back = udp6(a6(FAR), 53, a6(SITE_HOST), 5000, b"a");
    let mut f = from_site6(&back);
    let len = gre_len(&f);
    assert_eq!(run(&mut p, &s, &mut f, len), Verdict::Tx { iface: IF_OUT });
    assert_eq!(ip6_of(&f).dst(), a6(SITE_HOST));
    let elsewhere = udp6(a6(FAR), 53, a6("2001:db8:70::9"), 5000, b"a");
    let mut f = from_site6(&elsewhere);
    let len = gre_len(&f);
    assert_eq!(
        run(&mut p, &s, &mut f, len),
        Verdict::Drop(DropReason::NotInside)
    );
}

#[test]
fn arbitrary_frames_through_a_tunnel_never_panic() {
    let s = snap(false);
    let mut p = crate::testkit::pipeline(0, 64);
    let mut seed = 0x2545f4914f6cdd1du64;
    let base = udp6(a6(SITE_HOST), 5000, a6(FAR), 53, b"payload");
    for i in 0..4000 {
        let mut inner = base.clone();
        for _ in 0..1 + i % 6 {
            seed ^= seed << 13;
            seed ^= seed >> 7;
            seed ^= seed << 17;
            let at = (seed as usize) % inner.len();
            inner[at] = (seed >> 32) as u8;
        }
        inner.truncate(1 + (seed as usize >> 8) % inner.len());
        let mut f = from_site6(&inner);
        let len = gre_len(&f);
        let _ = run(&mut p, &s, &mut f, len);
        let (mut f, len) = from_outside6(&inner);
        let _ = run(
            &mut p,
            &s,
            &mut f,
            len.max(crate::wire::ethernet::HEADER_LEN),
        );
    }
    let _: Ipv6Addr = a6(FAR);
}
