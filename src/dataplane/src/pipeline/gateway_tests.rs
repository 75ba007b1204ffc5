//! The SNAT gateway and FullNAT through the pipeline: GRE tunnels from two sites that use the
//! same inside addresses, pools, endpoint-independent mappings, exhaustion, ICMP errors both
//! ways, path MTU, ownership across workers.

use std::net::Ipv4Addr;

use super::*;
use crate::conntrack::{Class, Timeouts};
use crate::frames::{self, L2};
use crate::gateway::{PoolSpec, TunnelSpec};
use crate::snapshot::Spec;
use crate::testkit::{
    backend, eth_of, ethernet_with_room, icmp_of, ip_bytes, ip_mut, ip_of, l2, l4_ports as ports,
    mac, pipeline, quoted_of, route, run_frame as run, sa, tcp_of, tcp_with_mss_1460,
    two_interfaces, udp_checksum, web_service, without_udp_checksum,
};
use crate::wire::gre::bits;
use crate::wire::tcp::flags::*;
use crate::wire::{ethernet, ipv4, GrePacket, Ipv4Packet};

pub(super) const LOCAL: Ipv4Addr = Ipv4Addr::new(198, 18, 8, 1);
pub(super) const SITE_A: Ipv4Addr = Ipv4Addr::new(198, 18, 8, 10);
pub(super) const SITE_B: Ipv4Addr = Ipv4Addr::new(198, 18, 8, 20);
pub(super) const KEY_A: u32 = 100;
/// The same inside host address at both sites.
pub(super) const HOST: Ipv4Addr = Ipv4Addr::new(198, 18, 64, 5);
pub(super) const EXT1: Ipv4Addr = Ipv4Addr::new(198, 19, 0, 1);
pub(super) const EXT2: Ipv4Addr = Ipv4Addr::new(198, 19, 0, 2);
pub(super) const LB_LOCAL: Ipv4Addr = Ipv4Addr::new(198, 19, 0, 9);
pub(super) const SERVER: Ipv4Addr = Ipv4Addr::new(198, 19, 1, 1);
const SERVER2: Ipv4Addr = Ipv4Addr::new(198, 19, 1, 2);
const ROUTER: Ipv4Addr = Ipv4Addr::new(198, 19, 1, 254);
pub(super) const CLIENT: Ipv4Addr = Ipv4Addr::new(198, 19, 1, 7);
pub(super) const VIP: Ipv4Addr = Ipv4Addr::new(198, 18, 1, 1);
pub(super) const BACKEND: Ipv4Addr = Ipv4Addr::new(198, 18, 2, 1);
const MTU: u16 = 1400;
/// A packet cut short of its IPv4 header.
const TRUNCATED: usize = ipv4::MIN_HEADER_LEN - 1;

pub(super) const IF_OUT: u16 = 0;
pub(super) const IF_IN: u16 = 1;

pub(super) fn spec(workers: u16, ports: (u16, u16), udp_timeout_ms: u32) -> Spec {
    let mut t = Timeouts::default();
    t.ms[Class::Udp as usize] = udp_timeout_ms;
    Spec {
        locals: Vec::new(),
        services: vec![web_service(
            VIP,
            vec![backend(BACKEND, 8080, true)],
            Some(1),
        )],
        interfaces: two_interfaces("outside", "inside"),
        routes: vec![
            route([198, 18, 8, 0], 24, None, IF_IN),
            route([198, 18, 2, 0], 24, None, IF_IN),
            route([198, 19, 1, 0], 24, None, IF_OUT),
        ],
        neighbours: vec![
            (SITE_A, mac(0x0a)),
            (SITE_B, mac(0x0b)),
            (SERVER, mac(0x51)),
            (SERVER2, mac(0x52)),
            (ROUTER, mac(0xfe)),
            (CLIENT, mac(0xc1)),
            (BACKEND, mac(0xb1)),
        ],
        workers,
        hash_seed: 42,
        cluster_seed: 0,
        tunnels: vec![
            TunnelSpec {
                name: "site-a".into(),
                local: LOCAL,
                remote: SITE_A,
                key: Some(KEY_A),
                mtu: MTU,
                pool: Some(0),
                inside: vec![],
                routed6: vec![],
                nat64_sources: vec![],
            },
            TunnelSpec {
                name: "site-b".into(),
                local: LOCAL,
                remote: SITE_B,
                key: None,
                mtu: MTU,
                pool: Some(0),
                inside: vec![],
                routed6: vec![],
                nat64_sources: vec![],
            },
        ],
        pools: vec![
            PoolSpec {
                name: "internet".into(),
                addrs: vec![EXT1, EXT2],
                ports,
                timeouts: t,
                sources: vec![(Ipv4Addr::new(198, 18, 96, 0), 24)],
            },
            PoolSpec {
                name: "lb".into(),
                addrs: vec![LB_LOCAL],
                ports: (1024, 65535),
                timeouts: Timeouts::default(),
                sources: vec![],
            },
        ],
    }
}

pub(super) fn snap(workers: u16) -> Snapshot {
    Snapshot::build(&spec(workers, (1024, 65535), 300_000), None).unwrap()
}

pub(super) const TO_US: L2 = l2(0x0a, 0xa1);

pub(super) const FROM_OUTSIDE: L2 = l2(0x51, 0xa0);

/// A frame from a site: `inner` in GRE from `site`, with room behind it.
pub(super) fn from_site(site: Ipv4Addr, inner: &[u8]) -> Vec<u8> {
    let key = (site == SITE_A).then_some(KEY_A);
    ethernet_with_room(TO_US, &frames::gre_packet(site, LOCAL, key, inner))
}

pub(super) fn from_outside(ip: &[u8]) -> Vec<u8> {
    ethernet_with_room(FROM_OUTSIDE, ip)
}

/// Takes the tunnel apart: (outer destination, key, inner packet).
pub(super) fn untunnel(f: &[u8]) -> (Ipv4Addr, Option<u32>, Vec<u8>) {
    let outer = ip_of(f);
    assert_eq!(outer.protocol(), proto::GRE);
    assert!(outer.verify_checksum());
    assert_eq!(outer.src(), LOCAL);
    let g = GrePacket::new_checked(outer.payload()).unwrap();
    (outer.dst(), g.key(), g.payload().to_vec())
}

#[test]
fn two_sites_with_the_same_addresses_stay_apart_both_ways() {
    let s = snap(1);
    let mut p = pipeline(0, 256);
    let syn = frames::tcp_segment(sa(HOST, 40000), sa(SERVER, 443), SYN, b"");
    let mut out = Vec::new();
    for site in [SITE_A, SITE_B] {
        let mut f = from_site(site, &syn);
        assert_eq!(run(&mut p, &s, 0, &mut f), Verdict::Tx { iface: IF_OUT });
        let ip = ip_of(&f);
        assert_eq!(ip.dst(), SERVER);
        assert!(ip.src() == EXT1 || ip.src() == EXT2);
        assert_eq!(ip.ttl(), 63);
        assert_eq!(ports(&ip).1, 443);
        assert_eq!(eth_of(&f).dst(), mac(0x51), "next hop: the server");
        out.push((ip.src(), ports(&ip).0));
    }
    assert_ne!(out[0], out[1], "one external endpoint per site");
    assert_eq!(p.conntrack().used(), 2);

    // Each reply goes back into its own site's tunnel, to the same inside host.
    for (site, (ext, port)) in [SITE_A, SITE_B].into_iter().zip(out) {
        let mut f = from_outside(&frames::tcp_segment(
            sa(SERVER, 443),
            sa(ext, port),
            SYN | ACK,
            b"",
        ));
        assert_eq!(run(&mut p, &s, 1, &mut f), Verdict::Tx { iface: IF_IN });
        let (remote, key, inner) = untunnel(&f);
        assert_eq!(remote, site);
        assert_eq!(key, (site == SITE_A).then_some(KEY_A));
        assert_eq!(
            eth_of(&f).dst(),
            mac(if site == SITE_A { 0x0a } else { 0x0b })
        );
        let ip = Ipv4Packet::new_checked(&inner[..]).unwrap();
        assert_eq!((ip.src(), ip.dst()), (SERVER, HOST));
        assert_eq!(ports(&ip), (443, 40000));
        let mut whole = frames::ethernet(TO_US, &inner);
        whole.truncate(ethernet::HEADER_LEN + inner.len());
        assert!(frames::checksums_ok(&whole));
    }
    for zone in [1, 2] {
        let t = p.tunnel_counters(zone);
        assert_eq!((t.rx_packets, t.tx_packets), (1, 1), "zone {zone}");
    }
    assert_eq!(p.counters().get(Counter::GreDecapsulated), 2);
    assert_eq!(p.counters().get(Counter::GreEncapsulated), 2);
}

#[test]
fn udp_mapping_is_endpoint_independent_and_zero_checksum_stays_zero() {
    let s = snap(1);
    let mut p = pipeline(0, 256);
    let mut ext = Vec::new();
    for server in [SERVER, SERVER2] {
        let udp = without_udp_checksum(frames::udp_datagram(sa(HOST, 5000), sa(server, 53), b"q"));
        let mut f = from_site(SITE_A, &udp);
        assert_eq!(run(&mut p, &s, 0, &mut f), Verdict::Tx { iface: IF_OUT });
        let ip = ip_of(&f);
        assert_eq!(udp_checksum(&ip), 0);
        ext.push((ip.src(), ports(&ip).0));
    }
    assert_eq!(
        ext[0], ext[1],
        "same inside endpoint, same mapping (RFC 4787 REQ-1)"
    );
    assert_eq!(p.snat().mappings.len(), 1);
    // Filtering: a third host may not use the mapping (no flow).
    let mut stranger = from_outside(&frames::udp_datagram(
        sa(CLIENT, 53),
        sa(ext[0].0, ext[0].1),
        b"x",
    ));
    assert_eq!(
        run(&mut p, &s, 1, &mut stranger),
        Verdict::Drop(DropReason::NoMapping)
    );
}

#[test]
fn ports_run_out_are_counted_and_come_back_after_expiry() {
    // Two addresses, two ports each for one worker: four inside endpoints.
    let s = Snapshot::build(&spec(1, (2000, 2001), 1_000), None).unwrap();
    let mut p = pipeline(0, 256);
    for port in 0..4u16 {
        let mut f = from_site(
            SITE_A,
            &frames::udp_datagram(sa(HOST, 6000 + port), sa(SERVER, 53), b"q"),
        );
        assert_eq!(run(&mut p, &s, 0, &mut f), Verdict::Tx { iface: IF_OUT });
    }
    let mut f = from_site(
        SITE_A,
        &frames::udp_datagram(sa(HOST, 6004), sa(SERVER, 53), b"q"),
    );
    assert_eq!(
        run(&mut p, &s, 10, &mut f),
        Verdict::Drop(DropReason::PortsExhausted)
    );
    assert_eq!(p.counters().drops(DropReason::PortsExhausted), 1);
    assert_eq!(
        p.tunnel_counters(1).drops[DropReason::PortsExhausted as usize],
        1
    );
    assert_eq!(
        p.snat().pools[0].exhausted,
        2,
        "tried, reclaimed nothing, tried again"
    );
    // After the pool's UDP timeout the old mappings are reclaimed for the new endpoint.
    let mut f = from_site(
        SITE_A,
        &frames::udp_datagram(sa(HOST, 6004), sa(SERVER, 53), b"q"),
    );
    assert_eq!(
        run(&mut p, &s, 2_500, &mut f),
        Verdict::Tx { iface: IF_OUT }
    );
    let port = ports(&ip_of(&f)).0;
    assert!((2000..=2001).contains(&port));
}

#[test]
fn icmp_errors_go_back_into_the_tunnel_and_out_of_it() {
    let s = snap(1);
    let mut p = pipeline(0, 256);
    let udp = frames::udp_datagram(sa(HOST, 5000), sa(SERVER, 53), b"query");
    let mut f = from_site(SITE_B, &udp);
    assert_eq!(run(&mut p, &s, 0, &mut f), Verdict::Tx { iface: IF_OUT });
    let sent = ip_bytes(&f).to_vec();
    let (ext, ext_port) = {
        let ip = ip_of(&f);
        (ip.src(), ports(&ip).0)
    };

    // A router on the way says the server is unreachable: into site B's tunnel, translated.
    let err = frames::icmp_error(ROUTER, ext, 3, 1, &sent, 576);
    let mut f = from_outside(&err);
    assert_eq!(run(&mut p, &s, 1, &mut f), Verdict::Tx { iface: IF_IN });
    let (remote, _, inner) = untunnel(&f);
    assert_eq!(remote, SITE_B);
    let ip = Ipv4Packet::new_checked(&inner[..]).unwrap();
    assert_eq!((ip.src(), ip.dst()), (ROUTER, HOST));
    let q = quoted_of(&ip);
    assert_eq!((q.src(), q.dst()), (HOST, SERVER));
    assert_eq!(ports(&q).0, 5000);
    let mut whole = frames::ethernet(TO_US, &inner);
    whole.truncate(ethernet::HEADER_LEN + inner.len());
    assert!(frames::checksums_ok(&whole));

    // The server answers; the inside host says port unreachable about the answer: out of the
    // tunnel, from the external endpoint.
    let reply = frames::udp_datagram(sa(SERVER, 53), sa(HOST, 5000), b"answer");
    let err = frames::icmp_error(HOST, SERVER, 3, 3, &reply, 576);
    let mut f = from_site(SITE_B, &err);
    assert_eq!(run(&mut p, &s, 2, &mut f), Verdict::Tx { iface: IF_OUT });
    let ip = ip_of(&f);
    assert_eq!((ip.src(), ip.dst()), (ext, SERVER));
    let q = quoted_of(&ip);
    assert_eq!(q.dst(), ext);
    assert_eq!(ports(&q).1, ext_port);
    assert_eq!(p.counters().get(Counter::IcmpTranslated), 2);

    // The same error from site A (same addresses) matches no flow there.
    let mut f = from_site(SITE_A, &err);
    assert_eq!(
        run(&mut p, &s, 3, &mut f),
        Verdict::Drop(DropReason::NoFlow)
    );
}

#[test]
fn icmp_echo_identifier_is_translated_like_a_port() {
    let s = snap(1);
    let mut p = pipeline(0, 256);
    let mut f = from_site(SITE_A, &frames::icmp_echo(HOST, SERVER, true, 77, b"ping"));
    assert_eq!(run(&mut p, &s, 0, &mut f), Verdict::Tx { iface: IF_OUT });
    let ip = ip_of(&f);
    let (ext, ident) = (ip.src(), icmp_of(&ip).echo_ident());
    let mut f = from_outside(&frames::icmp_echo(SERVER, ext, false, ident, b"ping"));
    assert_eq!(run(&mut p, &s, 1, &mut f), Verdict::Tx { iface: IF_IN });
    let (_, _, inner) = untunnel(&f);
    let ip = Ipv4Packet::new_checked(&inner[..]).unwrap();
    assert_eq!(ip.dst(), HOST);
    assert_eq!(icmp_of(&ip).echo_ident(), 77);
    // A ping to the pool address itself is the host's.
    let mut f = from_outside(&frames::icmp_echo(SERVER, ext, true, 9, b""));
    assert_eq!(run(&mut p, &s, 1, &mut f), Verdict::Pass);
}

#[test]
fn too_big_for_the_tunnel_gets_frag_needed_and_syns_are_clamped() {
    let s = snap(1);
    let mut p = pipeline(0, 256);
    // SYN with MSS 1460 from the site: clamped to the tunnel's 1360.
    let syn = tcp_with_mss_1460(HOST, SERVER, SYN);
    let mut f = from_site(SITE_A, &syn);
    assert_eq!(run(&mut p, &s, 0, &mut f), Verdict::Tx { iface: IF_OUT });
    let ip = ip_of(&f);
    assert_eq!(tcp_of(&ip).mss(), Some(MTU - 40));
    let (ext, port) = (ip.src(), ports(&ip).0);
    assert_eq!(p.tunnel_counters(1).mss_clamped, 1);

    // A reply larger than the tunnel MTU with DF: frag-needed back to the server.
    let big = frames::tcp_segment(sa(SERVER, 443), sa(ext, port), ACK, &[0u8; 1400]);
    let mut f = from_outside(&big);
    assert_eq!(run(&mut p, &s, 1, &mut f), Verdict::Tx { iface: IF_OUT });
    let ip = ip_of(&f);
    assert_eq!(
        (ip.src(), ip.dst(), ip.protocol()),
        (ext, SERVER, proto::ICMP)
    );
    let m = icmp_of(&ip);
    assert_eq!((m.msg_type(), m.code()), (3, 4));
    assert_eq!(m.next_hop_mtu(), MTU);
    assert_eq!(p.tunnel_counters(1).frag_needed_sent, 1);
    // Without DF: dropped and counted.
    let mut big = big;
    let mut ip = Ipv4Packet::new_checked(&mut big[..]).unwrap();
    ip.set_flags_and_offset(false, false, 0);
    ip.fill_checksum();
    let mut f = from_outside(&big);
    assert_eq!(
        run(&mut p, &s, 2, &mut f),
        Verdict::Drop(DropReason::TooBig)
    );
    assert_eq!(p.tunnel_counters(1).drops[DropReason::TooBig as usize], 1);
    // A reply that fits goes through.
    let mut f = from_outside(&frames::tcp_segment(
        sa(SERVER, 443),
        sa(ext, port),
        ACK,
        &[1u8; 1300],
    ));
    assert_eq!(run(&mut p, &s, 3, &mut f), Verdict::Tx { iface: IF_IN });
}

#[test]
fn fullnat_service_backends_see_a_pool_address() {
    let s = snap(1);
    let mut p = pipeline(0, 256);
    let mut f = from_outside(&frames::tcp_segment(
        sa(CLIENT, 40000),
        sa(VIP, 80),
        SYN,
        b"",
    ));
    assert_eq!(run(&mut p, &s, 0, &mut f), Verdict::Tx { iface: IF_IN });
    let ip = ip_of(&f);
    assert_eq!((ip.src(), ip.dst()), (LB_LOCAL, BACKEND));
    let (lport, bport) = ports(&ip);
    assert_eq!(bport, 8080);
    let mut f = from_outside(&frames::tcp_segment(
        sa(BACKEND, 8080),
        sa(LB_LOCAL, lport),
        SYN | ACK,
        b"",
    ));
    assert_eq!(run(&mut p, &s, 1, &mut f), Verdict::Tx { iface: IF_OUT });
    let ip = ip_of(&f);
    assert_eq!((ip.src(), ip.dst()), (VIP, CLIENT));
    assert_eq!(ports(&ip), (80, 40000));
    let e = *p.conntrack().iter().next().unwrap();
    assert_eq!(e.kind(), Kind::FullNat);
    assert_eq!(p.snat().pools[1].used(0), [1, 0, 0]);
    assert_eq!(p.sched().active(e.backend_id), 1);
}

#[test]
fn source_prefixes_are_translated_without_a_tunnel() {
    let s = snap(1);
    let mut p = pipeline(0, 256);
    let inside = Ipv4Addr::new(198, 18, 96, 9);
    let mut f = from_outside(&frames::udp_datagram(
        sa(inside, 7000),
        sa(SERVER, 53),
        b"q",
    ));
    assert_eq!(run(&mut p, &s, 0, &mut f), Verdict::Tx { iface: IF_OUT });
    let ip = ip_of(&f);
    assert!(ip.src() == EXT1 || ip.src() == EXT2);
    // Others not in a source prefix are the kernel's, and so is inside-to-inside traffic.
    let mut f = from_outside(&frames::udp_datagram(
        sa(CLIENT, 7000),
        sa(SERVER, 53),
        b"q",
    ));
    assert_eq!(run(&mut p, &s, 0, &mut f), Verdict::Pass);
    let other_inside = Ipv4Addr::new(198, 18, 96, 10);
    let mut f = from_outside(&frames::udp_datagram(
        sa(inside, 7000),
        sa(other_inside, 53),
        b"q",
    ));
    assert_eq!(run(&mut p, &s, 0, &mut f), Verdict::Pass);
    // Multicast and broadcast are the link's, never translated.
    for group in [Ipv4Addr::new(224, 0, 0, 251), Ipv4Addr::BROADCAST] {
        let mut f = from_outside(&frames::udp_datagram(
            sa(inside, 5353),
            sa(group, 5353),
            b"q",
        ));
        assert_eq!(run(&mut p, &s, 0, &mut f), Verdict::Pass, "{group}");
    }
    assert_eq!(p.conntrack().used(), 1);
}

#[test]
fn owners_by_inside_endpoint_and_by_port_agree_across_workers() {
    let s = snap(2);
    let mut workers = [pipeline(0, 256), pipeline(1, 256)];
    for port in 0..16u16 {
        let syn = frames::tcp_segment(sa(HOST, 30000 + port), sa(SERVER, 443), SYN, b"");
        let mut f = from_site(SITE_A, &syn);
        let original = f.clone();
        let owner = match run(&mut workers[0], &s, 0, &mut f) {
            Verdict::Handoff { worker } => {
                assert_eq!(f, original, "handed over unchanged");
                assert_eq!(
                    run(&mut workers[1], &s, 0, &mut f),
                    Verdict::Tx { iface: IF_OUT }
                );
                worker
            }
            Verdict::Tx { .. } => 0,
            v => panic!("{v:?}"),
        };
        let ip = ip_of(&f);
        let (ext, ext_port) = (ip.src(), ports(&ip).0);
        assert_eq!(
            ext_port % 2,
            owner,
            "the owner allocates from its own share"
        );
        // The reply reaches the other worker first: handed to the owner by its port.
        let other = 1 - owner;
        let mut r = from_outside(&frames::tcp_segment(
            sa(SERVER, 443),
            sa(ext, ext_port),
            SYN | ACK,
            b"",
        ));
        assert_eq!(
            run(&mut workers[usize::from(other)], &s, 1, &mut r),
            Verdict::Handoff { worker: owner }
        );
        assert_eq!(
            run(&mut workers[usize::from(owner)], &s, 1, &mut r),
            Verdict::Tx { iface: IF_IN }
        );
    }
}

#[test]
fn refused_and_foreign_gre_is_counted_or_passed() {
    let s = snap(1);
    let mut p = pipeline(0, 256);
    let inner = frames::udp_datagram(sa(HOST, 5000), sa(SERVER, 53), b"q");
    // Sequence numbers (S bit): refused, counted against site A.
    let mut f = from_site(SITE_A, &inner);
    let mut ip = ip_mut(&mut f);
    let mut g = GrePacket::new_unchecked(ip.payload_mut());
    g.set_flags(g.flags() | bits::S);
    assert_eq!(
        run(&mut p, &s, 0, &mut f),
        Verdict::Drop(DropReason::GreUnsupported)
    );
    assert_eq!(
        p.tunnel_counters(1).drops[DropReason::GreUnsupported as usize],
        1
    );
    // Truncated inner packet: malformed.
    let mut f = frames::ethernet(
        TO_US,
        &frames::gre_packet(SITE_A, LOCAL, Some(KEY_A), &inner[..TRUNCATED]),
    );
    assert_eq!(
        run(&mut p, &s, 0, &mut f),
        Verdict::Drop(DropReason::Malformed)
    );
    // A tunnel's remote with a wrong key or none: the steering program gives us all GRE from
    // the remote, so it is refused and counted against that tunnel.
    let before = p.tunnel_counters(1).drops[DropReason::GreUnsupported as usize];
    for key in [Some(1), None] {
        let mut f = frames::ethernet(TO_US, &frames::gre_packet(SITE_A, LOCAL, key, &inner));
        assert_eq!(
            run(&mut p, &s, 0, &mut f),
            Verdict::Drop(DropReason::GreUnsupported),
            "{key:?}"
        );
    }
    assert_eq!(
        p.tunnel_counters(1).drops[DropReason::GreUnsupported as usize],
        before + 2
    );
    // An inner fragment: only the first carries ports, so it cannot be translated.
    let mut frag = inner.clone();
    let mut ip = Ipv4Packet::new_checked(&mut frag[..]).unwrap();
    ip.set_flags_and_offset(false, true, 0);
    ip.fill_checksum();
    let mut f = from_site(SITE_A, &frag);
    assert_eq!(
        run(&mut p, &s, 0, &mut f),
        Verdict::Drop(DropReason::Fragment)
    );
    // Unknown remote: not a tunnel of ours.
    let mut f = frames::ethernet(TO_US, &frames::gre_packet(CLIENT, LOCAL, None, &inner));
    assert_eq!(run(&mut p, &s, 0, &mut f), Verdict::Pass);
    // An inner TTL of 1 cannot be forwarded: time exceeded goes back into the tunnel, from
    // the tunnel's local address, quoting the inner packet.
    let mut low = inner.clone();
    let mut ip = Ipv4Packet::new_checked(&mut low[..]).unwrap();
    ip.set_ttl(1);
    ip.fill_checksum();
    let mut f = from_site(SITE_A, &low);
    assert_eq!(run(&mut p, &s, 0, &mut f), Verdict::Tx { iface: IF_IN });
    let (to, key, answer) = untunnel(&f);
    assert_eq!((to, key), (SITE_A, Some(KEY_A)));
    let e = ethernet_with_room(TO_US, &answer);
    let ip = ip_of(&e);
    assert_eq!((ip.src(), ip.dst()), (LOCAL, HOST));
    let m = icmp_of(&ip);
    assert_eq!((m.msg_type(), m.code()), (11, 0));
    assert_eq!(m.quoted(), &low[..]);
    assert!(frames::checksums_ok(
        &e[..ethernet::HEADER_LEN + answer.len()]
    ));
    assert_eq!(p.tunnel_counters(1).time_exceeded_sent, 1);
    assert_eq!(p.counters().get(Counter::IcmpTimeExceededSent), 1);
    // A reply into a tunnel without room for its headers.
    let mut f = from_site(SITE_A, &inner);
    assert_eq!(run(&mut p, &s, 0, &mut f), Verdict::Tx { iface: IF_OUT });
    let ip = ip_of(&f);
    let reply = frames::udp_datagram(sa(SERVER, 53), sa(ip.src(), ports(&ip).0), b"a");
    let mut tight = frames::ethernet(FROM_OUTSIDE, &reply);
    assert_eq!(
        p.process(&s, 1, &mut tight),
        Verdict::Drop(DropReason::NoRoom)
    );
}

#[test]
fn expiry_gives_ports_back_and_keeps_lb_flows_apart() {
    // The pool's UDP timeout is 600 s, the load balancer's 300 s.
    let s = Snapshot::build(&spec(1, (1024, 65535), 600_000), None).unwrap();
    let mut p = pipeline(0, 256);
    let mut f = from_site(
        SITE_A,
        &frames::udp_datagram(sa(HOST, 5000), sa(SERVER, 53), b"q"),
    );
    assert_eq!(run(&mut p, &s, 0, &mut f), Verdict::Tx { iface: IF_OUT });
    let mut lb = from_outside(&frames::tcp_segment(
        sa(CLIENT, 40000),
        sa(VIP, 80),
        SYN,
        b"",
    ));
    assert_eq!(run(&mut p, &s, 0, &mut lb), Verdict::Tx { iface: IF_IN });
    assert_eq!(p.snat().mappings.len(), 1);
    assert_eq!(p.snat().pools[1].used(0), [1, 0, 0]);
    p.housekeeping(301_000);
    assert_eq!(
        p.snat().mappings.len(),
        1,
        "the pool's timeout, not the LB's"
    );
    assert_eq!(
        p.snat().pools[1].used(0),
        [0, 0, 0],
        "the FullNAT SYN expired"
    );
    p.housekeeping(601_000);
    assert_eq!(p.conntrack().used(), 0);
    assert_eq!(p.snat().mappings.len(), 0);
    assert_eq!(p.snat().pools[0].used(0), [0, 0, 0]);
    assert_eq!(p.snat().pools[0].used(1), [0, 0, 0]);
}

mod fuzz {
    use super::*;
    use proptest::prelude::*;

    /// Tunnel traffic, replies to pool addresses and ICMP errors, to be mutated.
    fn templates(ext: (Ipv4Addr, u16)) -> Vec<Vec<u8>> {
        let udp = frames::udp_datagram(sa(HOST, 5000), sa(SERVER, 53), b"query");
        let reply = frames::udp_datagram(sa(SERVER, 53), sa(ext.0, ext.1), b"answer");
        let sent = frames::udp_datagram(sa(ext.0, ext.1), sa(SERVER, 53), b"query");
        let back = frames::udp_datagram(sa(SERVER, 53), sa(HOST, 5000), b"answer");
        vec![
            from_site(SITE_A, &udp),
            from_site(
                SITE_A,
                &frames::tcp_segment(sa(HOST, 40000), sa(SERVER, 443), SYN, b""),
            ),
            from_outside(&reply),
            from_outside(&frames::tcp_segment(
                sa(SERVER, 443),
                sa(ext.0, 1),
                ACK,
                &[0; 1500],
            )),
            from_outside(&frames::icmp_error(ROUTER, ext.0, 3, 1, &sent, sent.len())),
            from_site(SITE_A, &frames::icmp_error(HOST, SERVER, 3, 3, &back, 28)),
            from_site(SITE_A, &frames::icmp_echo(HOST, SERVER, true, 9, b"x")),
        ]
    }

    proptest! {
        /// Any corruption or truncation of tunnel and pool traffic gives a verdict, never a
        /// panic, with or without room to grow, and the pipeline keeps working afterwards.
        #[test]
        fn mutated_gateway_frames_never_panic(
            which in 0usize..7,
            edits in proptest::collection::vec((0usize..140, any::<u8>()), 0..8),
            cut in 0usize..1600,
            room in any::<bool>(),
        ) {
            let s = snap(1);
            let mut p = pipeline(0, 256);
            let mut open = from_site(SITE_A, &frames::udp_datagram(sa(HOST, 5000), sa(SERVER, 53), b"q"));
            prop_assert_eq!(run(&mut p, &s, 0, &mut open), Verdict::Tx { iface: IF_OUT });
            let ip = ip_of(&open);
            let ext = (ip.src(), ports(&ip).0);
            let mut f = templates(ext)[which].clone();
            for (at, v) in edits {
                if let Some(b) = f.get_mut(at) {
                    *b = v;
                }
            }
            let len = cut.clamp(1, f.len());
            if !room {
                f.truncate(len);
            }
            let _ = p.process_frame(&s, 1, &mut f, len);
            let mut again = from_site(SITE_A, &frames::udp_datagram(sa(HOST, 5000), sa(SERVER, 53), b"q"));
            prop_assert_eq!(run(&mut p, &s, 2, &mut again), Verdict::Tx { iface: IF_OUT });
        }
    }
}

#[test]
fn martian_and_damaged_inner_packets_are_counted_against_their_tunnel() {
    let s = snap(1);
    let mut p = pipeline(0, 256);
    let martian = frames::udp_datagram(sa(Ipv4Addr::new(127, 0, 0, 1), 5000), sa(SERVER, 53), b"q");
    let mut f = from_site(SITE_A, &martian);
    assert_eq!(
        run(&mut p, &s, 0, &mut f),
        Verdict::Drop(DropReason::MartianSource)
    );
    let mut damaged = frames::udp_datagram(sa(HOST, 5000), sa(SERVER, 53), b"q");
    {
        let mut ip = Ipv4Packet::new_checked(&mut damaged[..]).unwrap();
        let c = ip.checksum();
        ip.set_checksum(!c);
    }
    let mut f = from_site(SITE_A, &damaged);
    assert_eq!(
        run(&mut p, &s, 0, &mut f),
        Verdict::Drop(DropReason::BadChecksum)
    );
    // A damaged outer header from the tunnel's remote is the tunnel's too.
    let mut f = from_site(
        SITE_A,
        &frames::udp_datagram(sa(HOST, 5000), sa(SERVER, 53), b"q"),
    );
    {
        let mut outer = ip_mut(&mut f);
        let c = outer.checksum();
        outer.set_checksum(!c);
    }
    assert_eq!(
        run(&mut p, &s, 0, &mut f),
        Verdict::Drop(DropReason::BadChecksum)
    );
    let t = p.tunnel_counters(1);
    assert_eq!(t.drops[DropReason::MartianSource as usize], 1);
    assert_eq!(t.drops[DropReason::BadChecksum as usize], 2);
    assert_eq!(p.conntrack().used(), 0);
}
