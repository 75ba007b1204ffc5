//! The site end of a tunnel through the pipeline: inside traffic into the tunnel and what comes
//! out of it to the inside hosts, without state or handoffs; what stays the kernel's; path MTU;
//! ICMP errors from inside hosts; and a load balancer's flows on the same appliance, which the
//! tunnel must not take.

use std::net::Ipv4Addr;

use super::*;
use crate::frames::{self, L2};
use crate::gateway::TunnelSpec;
use crate::snapshot::Spec;
use crate::testkit::{
    backend, eth_of, ethernet_with_room, icmp_of, ip_of, l2, mac, pipeline, route,
    run_frame as run, sa, tcp_of, tcp_with_mss_1460, two_interfaces, web_service,
};
use crate::wire::tcp::flags::*;
use crate::wire::{ethernet, icmp, ipv4, udp, GrePacket, Ipv4Packet};

/// Our underlay address and the central gateway's.
const LOCAL: Ipv4Addr = Ipv4Addr::new(198, 18, 8, 10);
const CENTRAL: Ipv4Addr = Ipv4Addr::new(198, 18, 8, 1);
const KEY: u32 = 100;
const MTU: u16 = 1400;
/// A UDP datagram cut in the middle of its header.
const TRUNCATED: usize = ipv4::MIN_HEADER_LEN + udp::HEADER_LEN / 2;
/// Inside hosts (198.18.64.0/24 is the site's).
const HOST: Ipv4Addr = Ipv4Addr::new(198, 18, 64, 5);
const HOST2: Ipv4Addr = Ipv4Addr::new(198, 18, 64, 9);
const BACKEND: Ipv4Addr = Ipv4Addr::new(198, 18, 64, 20);
/// Not the site's.
const STRANGER: Ipv4Addr = Ipv4Addr::new(198, 18, 65, 5);
const SERVER: Ipv4Addr = Ipv4Addr::new(198, 19, 1, 1);
/// A client of the appliance's own service, reached without the tunnel.
const CLIENT: Ipv4Addr = Ipv4Addr::new(198, 18, 9, 7);
const VIP: Ipv4Addr = Ipv4Addr::new(198, 18, 1, 1);

const IF_UNDERLAY: u16 = 0;
const IF_INSIDE: u16 = 1;

fn snap(workers: u16) -> Snapshot {
    let spec = Spec {
        locals: Vec::new(),
        services: vec![web_service(VIP, vec![backend(BACKEND, 8080, true)], None)],
        interfaces: two_interfaces("underlay", "inside"),
        routes: vec![
            route([198, 18, 8, 0], 24, None, IF_UNDERLAY),
            route([198, 18, 9, 0], 24, None, IF_UNDERLAY),
            route([198, 18, 64, 0], 24, None, IF_INSIDE),
        ],
        neighbours: vec![
            (CENTRAL, mac(0xce)),
            (CLIENT, mac(0xc1)),
            (HOST, mac(0x05)),
            (HOST2, mac(0x09)),
            (BACKEND, mac(0xb1)),
        ],
        workers,
        hash_seed: 42,
        cluster_seed: 0,
        tunnels: vec![TunnelSpec {
            name: "to-central".into(),
            local: LOCAL,
            remote: CENTRAL,
            key: Some(KEY),
            mtu: MTU,
            pool: None,
            inside: vec![(Ipv4Addr::new(198, 18, 64, 0), 24)],
            routed6: vec![],
            nat64_sources: vec![],
        }],
        pools: vec![],
    };
    Snapshot::build(&spec, None).unwrap()
}

const FROM_INSIDE: L2 = l2(0x05, 0xa1);

const FROM_UNDERLAY: L2 = l2(0xce, 0xa0);

/// An inside host's packet, with room for the tunnel headers behind it.
fn from_inside(ip: &[u8]) -> Vec<u8> {
    ethernet_with_room(FROM_INSIDE, ip)
}

/// `inner` in GRE from the central gateway.
fn from_central(inner: &[u8], key: Option<u32>) -> Vec<u8> {
    ethernet_with_room(
        FROM_UNDERLAY,
        &frames::gre_packet(CENTRAL, LOCAL, key, inner),
    )
}

/// `ip` as it should arrive one hop later: TTL lowered, header checksum refilled.
fn one_hop_later(ip: &[u8]) -> Vec<u8> {
    let mut ip = ip.to_vec();
    let mut v = Ipv4Packet::new_checked(&mut ip[..]).unwrap();
    v.set_ttl(v.ttl() - 1);
    v.fill_checksum();
    ip
}

/// `ip` with a TTL of 1: it dies at the next router.
fn ttl_one(mut ip: Vec<u8>) -> Vec<u8> {
    let mut v = Ipv4Packet::new_checked(&mut ip[..]).unwrap();
    v.set_ttl(1);
    v.fill_checksum();
    ip
}

#[test]
fn inside_traffic_goes_into_the_tunnel_and_back_out_to_the_host_without_state() {
    // Two workers, each taking both directions itself: nothing is tracked, so nothing is
    // handed off.
    let s = snap(2);
    for worker in [0, 1] {
        let mut p = pipeline(worker, 256);
        let query = frames::udp_datagram(sa(HOST, 5000), sa(SERVER, 53), b"question");
        let mut f = from_inside(&query);
        assert_eq!(
            run(&mut p, &s, 0, &mut f),
            Verdict::Tx { iface: IF_UNDERLAY }
        );
        assert_eq!(eth_of(&f).dst(), mac(0xce), "next hop: the central gateway");
        assert_eq!(eth_of(&f).src(), mac(0xa0));
        let outer = ip_of(&f);
        assert_eq!(
            (outer.src(), outer.dst(), outer.protocol()),
            (LOCAL, CENTRAL, proto::GRE)
        );
        let g = GrePacket::new_checked(outer.payload()).unwrap();
        assert_eq!(g.key(), Some(KEY));
        assert_eq!(
            g.payload(),
            &one_hop_later(&query)[..],
            "inner unchanged but the TTL"
        );
        assert_eq!(p.conntrack().used(), 0, "the site end keeps no state");

        let answer = frames::udp_datagram(sa(SERVER, 53), sa(HOST, 5000), b"answer");
        let mut f = from_central(&answer, Some(KEY));
        assert_eq!(run(&mut p, &s, 1, &mut f), Verdict::Tx { iface: IF_INSIDE });
        assert_eq!(eth_of(&f).dst(), mac(0x05), "next hop: the inside host");
        assert_eq!(eth_of(&f).src(), mac(0xa1));
        assert_eq!(&f[ethernet::HEADER_LEN..], &one_hop_later(&answer)[..]);

        // Echo requests and TCP alike.
        let ping = frames::icmp_echo(HOST, SERVER, true, 7, b"ping");
        let mut f = from_inside(&ping);
        assert_eq!(
            run(&mut p, &s, 2, &mut f),
            Verdict::Tx { iface: IF_UNDERLAY }
        );
        let syn = frames::tcp_segment(sa(HOST2, 40000), sa(SERVER, 443), SYN, b"");
        let mut f = from_inside(&syn);
        assert_eq!(
            run(&mut p, &s, 2, &mut f),
            Verdict::Tx { iface: IF_UNDERLAY }
        );

        let t = p.tunnel_counters(s.gw.tunnels[0].zone);
        assert_eq!((t.tx_packets, t.rx_packets), (3, 1));
        assert_eq!(
            t.tx_bytes,
            (query.len() + ping.len() + syn.len()) as u64,
            "inner bytes"
        );
        assert_eq!(t.rx_bytes, answer.len() as u64);
        assert_eq!(p.counters().get(Counter::GreEncapsulated), 3);
        assert_eq!(p.counters().get(Counter::GreDecapsulated), 1);
        assert_eq!(p.counters().get(Counter::Handoffs), 0);
    }
}

#[test]
fn what_is_not_the_tunnels_stays_out_of_it() {
    let s = snap(1);
    let mut p = pipeline(0, 256);
    let zone = s.gw.tunnels[0].zone;
    // Inside to inside, and from outside the inside prefixes: the kernel's.
    for (src, dst) in [(HOST, HOST2), (STRANGER, SERVER)] {
        let mut f = from_inside(&frames::udp_datagram(sa(src, 5000), sa(dst, 53), b"x"));
        assert_eq!(run(&mut p, &s, 0, &mut f), Verdict::Pass, "{src} -> {dst}");
    }
    // Multicast, broadcast and link-local are the link's.
    for dst in [
        Ipv4Addr::new(224, 0, 0, 251),
        Ipv4Addr::BROADCAST,
        Ipv4Addr::new(169, 254, 169, 254),
    ] {
        let mut f = from_inside(&frames::udp_datagram(sa(HOST, 5353), sa(dst, 5353), b"x"));
        assert_eq!(run(&mut p, &s, 0, &mut f), Verdict::Pass, "{dst}");
    }
    // TTL running out here: ours (the program sent it), answered from the tunnel's address.
    let last_hop = ttl_one(frames::udp_datagram(sa(HOST, 5000), sa(SERVER, 53), b"x"));
    let mut f = from_inside(&last_hop);
    assert_eq!(run(&mut p, &s, 0, &mut f), Verdict::Tx { iface: IF_INSIDE });
    let ip = ip_of(&f);
    assert_eq!((ip.src(), ip.dst()), (LOCAL, HOST));
    assert_eq!(icmp_of(&ip).msg_type(), icmp::kind::TIME_EXCEEDED);
    assert_eq!(icmp_of(&ip).quoted(), &last_hop[..]);

    // Out of the tunnel to an address that is not the site's: refused, not relayed.
    let mut f = from_central(
        &frames::udp_datagram(sa(SERVER, 53), sa(STRANGER, 5000), b"x"),
        Some(KEY),
    );
    assert_eq!(
        run(&mut p, &s, 0, &mut f),
        Verdict::Drop(DropReason::NotInside)
    );
    let mut f = from_central(&last_hop, Some(KEY));
    let inner = ttl_one(frames::udp_datagram(sa(SERVER, 53), sa(HOST, 5000), b"x"));
    assert_eq!(
        run(&mut p, &s, 0, &mut f),
        Verdict::Drop(DropReason::NotInside),
        "to the server: not inside"
    );
    // Out of the tunnel with its TTL run out: the answer goes back into it.
    let mut f = from_central(&inner, Some(KEY));
    assert_eq!(
        run(&mut p, &s, 0, &mut f),
        Verdict::Tx { iface: IF_UNDERLAY }
    );
    let outer = ip_of(&f);
    assert_eq!((outer.src(), outer.dst()), (LOCAL, CENTRAL));
    let g = GrePacket::new_checked(outer.payload()).unwrap();
    let answer = Ipv4Packet::new_checked(g.payload()).unwrap();
    assert_eq!((answer.src(), answer.dst()), (LOCAL, SERVER));
    assert_eq!(icmp_of(&answer).msg_type(), icmp::kind::TIME_EXCEEDED);
    // Another key from the tunnel's remote is refused and counted; so is a malformed inner
    // packet.
    let answer = frames::udp_datagram(sa(SERVER, 53), sa(HOST, 5000), b"x");
    let mut f = from_central(&answer, Some(KEY + 1));
    assert_eq!(
        run(&mut p, &s, 0, &mut f),
        Verdict::Drop(DropReason::GreUnsupported)
    );
    let mut f = from_central(&answer[..TRUNCATED], Some(KEY));
    assert_eq!(
        run(&mut p, &s, 0, &mut f),
        Verdict::Drop(DropReason::Malformed)
    );
    let t = p.tunnel_counters(zone);
    assert_eq!(t.drops[DropReason::NotInside as usize], 2);
    assert_eq!(t.drops[DropReason::TtlExceeded as usize], 0);
    assert_eq!(t.drops[DropReason::Malformed as usize], 1);
    assert_eq!((t.tx_packets, t.time_exceeded_sent), (1, 1));
}

#[test]
fn too_big_for_the_tunnel_gets_frag_needed_and_syns_are_clamped_both_ways() {
    let s = snap(1);
    let mut p = pipeline(0, 256);
    let zone = s.gw.tunnels[0].zone;
    let mut f = from_inside(&tcp_with_mss_1460(HOST, SERVER, SYN));
    assert_eq!(
        run(&mut p, &s, 0, &mut f),
        Verdict::Tx { iface: IF_UNDERLAY }
    );
    let outer = ip_of(&f);
    let inner = GrePacket::new_checked(outer.payload())
        .unwrap()
        .payload()
        .to_vec();
    let inner = Ipv4Packet::new_checked(&inner[..]).unwrap();
    assert_eq!(tcp_of(&inner).mss(), Some(MTU - 40));
    let mut f = from_central(&tcp_with_mss_1460(SERVER, HOST, SYN | ACK), Some(KEY));
    assert_eq!(run(&mut p, &s, 1, &mut f), Verdict::Tx { iface: IF_INSIDE });
    assert_eq!(tcp_of(&ip_of(&f)).mss(), Some(MTU - 40));
    assert_eq!(p.tunnel_counters(zone).mss_clamped, 2);

    // Larger than the tunnel with DF: the host is told the tunnel's MTU, from our address.
    let big = frames::udp_datagram(sa(HOST, 5000), sa(SERVER, 53), &[7u8; 1450]);
    let mut f = from_inside(&big);
    assert_eq!(run(&mut p, &s, 2, &mut f), Verdict::Tx { iface: IF_INSIDE });
    assert_eq!(eth_of(&f).dst(), mac(0x05));
    let ip = ip_of(&f);
    assert_eq!(
        (ip.src(), ip.dst(), ip.protocol()),
        (LOCAL, HOST, proto::ICMP)
    );
    let m = icmp_of(&ip);
    assert_eq!(
        (m.msg_type(), m.code()),
        (icmp::kind::DEST_UNREACHABLE, icmp::code::FRAG_NEEDED)
    );
    assert_eq!(m.next_hop_mtu(), MTU);
    assert!(big.starts_with(m.quoted()), "quotes the packet");
    // Without DF: dropped (the fast path does not fragment) and counted.
    let mut big = big;
    let mut v = Ipv4Packet::new_checked(&mut big[..]).unwrap();
    v.set_flags_and_offset(false, false, 0);
    v.fill_checksum();
    let mut f = from_inside(&big);
    assert_eq!(
        run(&mut p, &s, 3, &mut f),
        Verdict::Drop(DropReason::TooBig)
    );
    let t = p.tunnel_counters(zone);
    assert_eq!(t.frag_needed_sent, 1);
    assert_eq!(t.drops[DropReason::TooBig as usize], 1);
    assert_eq!(t.tx_packets, 1, "only the SYN went in");
}

#[test]
fn an_inside_hosts_icmp_errors_go_into_the_tunnel() {
    let s = snap(2);
    // Whichever worker the error lands on: no flow to look for an owner of.
    for worker in [0, 1] {
        let mut p = pipeline(worker, 256);
        let probe = frames::udp_datagram(sa(SERVER, 40001), sa(HOST, 7999), b"anyone?");
        let err = frames::icmp_error(HOST, SERVER, 3, 3, &probe, probe.len());
        let mut f = from_inside(&err);
        assert_eq!(
            run(&mut p, &s, 0, &mut f),
            Verdict::Tx { iface: IF_UNDERLAY }
        );
        let outer = ip_of(&f);
        assert_eq!(outer.dst(), CENTRAL);
        let g = GrePacket::new_checked(outer.payload()).unwrap();
        assert_eq!(g.payload(), &one_hop_later(&err)[..]);
        // And the central gateway's errors for the host come out of it.
        let sent = frames::udp_datagram(sa(HOST, 5000), sa(SERVER, 53), b"x");
        let back = frames::icmp_error(SERVER, HOST, 3, 3, &sent, sent.len());
        let mut f = from_central(&back, Some(KEY));
        assert_eq!(run(&mut p, &s, 1, &mut f), Verdict::Tx { iface: IF_INSIDE });
        assert_eq!(&f[ethernet::HEADER_LEN..], &one_hop_later(&back)[..]);
    }
}

#[test]
fn a_load_balancers_flows_on_the_site_appliance_are_not_tunnelled() {
    // The service's backend is in the site's inside prefix; its replies to a client are the
    // load balancer's, on the flow's owner, never the tunnel's.
    let s = snap(2);
    let mut p = [pipeline(0, 256), pipeline(1, 256)];
    let syn = frames::tcp_segment(sa(CLIENT, 41000), sa(VIP, 80), SYN, b"");
    let mut owner = None;
    for (w, pl) in p.iter_mut().enumerate() {
        let mut f = frames::ethernet(FROM_UNDERLAY, &syn);
        match run(pl, &s, 0, &mut f) {
            Verdict::Tx { iface } => {
                assert_eq!(iface, IF_INSIDE);
                assert_eq!(ip_of(&f).dst(), BACKEND);
                owner = Some(w);
            }
            v => assert!(matches!(v, Verdict::Handoff { .. }), "{v:?}"),
        }
    }
    let owner = owner.expect("one worker owns the flow");
    let reply = frames::tcp_segment(sa(BACKEND, 8080), sa(CLIENT, 41000), SYN | ACK, b"");
    let mut f = frames::ethernet(FROM_INSIDE, &reply);
    assert_eq!(
        run(&mut p[1 - owner], &s, 1, &mut f),
        Verdict::Handoff {
            worker: owner as u16
        }
    );
    let mut f = frames::ethernet(FROM_INSIDE, &reply);
    assert_eq!(
        run(&mut p[owner], &s, 1, &mut f),
        Verdict::Tx { iface: IF_UNDERLAY }
    );
    let ip = ip_of(&f);
    assert_eq!(
        (ip.src(), ip.dst(), ip.protocol()),
        (VIP, CLIENT, proto::TCP)
    );
    for pl in &p {
        assert_eq!(pl.tunnel_counters(s.gw.tunnels[0].zone).tx_packets, 0);
    }
}
