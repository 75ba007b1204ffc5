//! Direct server return: `dr` and `tunnel` services, mid-flow pickup, and the same choice on
//! every node with the same configuration.

use std::net::Ipv4Addr;

use super::*;
use crate::frames::{self, L2};
use crate::snapshot::{Direct, ServiceSpec, Spec};
use crate::testkit::{self, backend, ip_of, l2, mac, route, sa, two_interfaces, web_service};
use crate::wire::tcp::flags::*;
use crate::wire::EthernetFrame;

const VIP: Ipv4Addr = Ipv4Addr::new(198, 18, 1, 1);
const CLIENT: Ipv4Addr = Ipv4Addr::new(198, 18, 0, 7);
const B1: Ipv4Addr = Ipv4Addr::new(198, 18, 2, 1);
const B2: Ipv4Addr = Ipv4Addr::new(198, 18, 2, 2);
const B3: Ipv4Addr = Ipv4Addr::new(198, 18, 2, 3);
/// A backend behind a router: fine for a tunnel, not for direct routing.
const FAR: Ipv4Addr = Ipv4Addr::new(198, 19, 5, 5);
const ROUTER: Ipv4Addr = Ipv4Addr::new(198, 18, 0, 254);
const OWN_BACKEND_SIDE: Ipv4Addr = Ipv4Addr::new(198, 18, 2, 254);
const IF_CLIENT: u16 = 0;
const IF_BACKEND: u16 = 1;
const FROM_CLIENT: L2 = l2(7, 0xa0);

fn spec(direct: Direct, backends: &[Ipv4Addr], seeds: (u64, u64), workers: u16) -> Spec {
    let mut on_link = route([198, 18, 2, 0], 24, None, IF_BACKEND);
    on_link.src = Some(OWN_BACKEND_SIDE);
    Spec {
        services: vec![
            ServiceSpec {
                direct: Some(direct),
                ..web_service(
                    VIP,
                    backends.iter().map(|&a| backend(a, 80, true)).collect(),
                    None,
                )
            },
            ServiceSpec {
                name: "dns".into(),
                port: 53,
                proto: 17,
                direct: Some(direct),
                ..web_service(VIP, vec![backend(B1, 53, true)], None)
            },
        ],
        interfaces: two_interfaces("client", "backend"),
        routes: vec![
            route([198, 18, 0, 0], 24, None, IF_CLIENT),
            on_link,
            route([0, 0, 0, 0], 0, Some(ROUTER), IF_CLIENT),
        ],
        neighbours: vec![
            (CLIENT, mac(7)),
            (B1, mac(0xb1)),
            (B2, mac(0xb2)),
            (B3, mac(0xb3)),
            (ROUTER, mac(0xfe)),
        ],
        workers,
        hash_seed: seeds.0,
        cluster_seed: seeds.1,
        ..Spec::default()
    }
}

fn snap(direct: Direct) -> Snapshot {
    Snapshot::build(&spec(direct, &[B1, B2, B3], (42, 7), 1), None).unwrap()
}

fn tcp(port: u16, flags: u8, payload: &[u8]) -> Vec<u8> {
    frames::tcp_segment(sa(CLIENT, port), sa(VIP, 80), flags, payload)
}

/// Room behind the frame, as the worker's buffers have, for the IP-in-IP header.
fn framed(ip: &[u8]) -> (Vec<u8>, usize) {
    let mut f = frames::ethernet(FROM_CLIENT, ip);
    let len = f.len();
    f.resize(len + 64, 0);
    (f, len)
}

#[test]
fn direct_routing_changes_only_the_macs_and_the_ttl() {
    let s = snap(Direct::Routing);
    let mut p = testkit::pipeline(0, 64);
    for (i, flags) in [SYN, ACK, ACK | PSH, FIN | ACK].into_iter().enumerate() {
        let ip = tcp(40000, flags, b"data");
        let (mut f, len) = framed(&ip);
        let (v, out) = p.process_frame(&s, i as u32, &mut f, len);
        assert_eq!((v, out), (Verdict::Tx { iface: IF_BACKEND }, len));
        let eth = EthernetFrame::new_checked(&f[..out]).unwrap();
        assert_eq!(eth.src(), mac(0xa1));
        let b = [B1, B2, B3]
            .into_iter()
            .find(|b| eth.dst() == mac(b.octets()[3] | 0xb0))
            .expect("a backend's MAC");
        let got = ip_of(&f[..out]);
        // Addresses, ports and payload untouched; only the TTL went down (and its checksum).
        assert_eq!((got.src(), got.dst(), got.ttl()), (CLIENT, VIP, 63));
        assert!(frames::checksums_ok(&f[..out]));
        let mut want = ip.clone();
        crate::wire::Ipv4Packet::new_unchecked(&mut want[..]).decrement_ttl();
        let l3 = crate::wire::ethernet::HEADER_LEN;
        assert_eq!(&f[l3..l3 + want.len()], &want[..]);
        let e = *p.conntrack().iter().next().unwrap();
        assert_eq!((e.kind(), e.backend), (Kind::Dr, b));
    }
    let e = p.conntrack().iter().next().unwrap();
    assert_eq!(e.state(), State::FinWait);
    assert_eq!(p.conntrack().used(), 1);
    assert_eq!(p.counters().get(Counter::DirectRouted), 4);
    assert_eq!(p.counters().get(Counter::NewFlows), 1);
}

#[test]
fn tunnel_mode_wraps_in_ip_in_ip_from_the_routes_source() {
    let s = snap(Direct::Tunnel { source: None });
    let mut p = testkit::pipeline(0, 64);
    let ip = tcp(40001, SYN, b"");
    let (mut f, len) = framed(&ip);
    let (v, out) = p.process_frame(&s, 0, &mut f, len);
    assert_eq!(v, Verdict::Tx { iface: IF_BACKEND });
    assert_eq!(out, 14 + ip.len() + 20);
    let outer = ip_of(&f[..out]);
    assert!(outer.verify_checksum());
    assert_eq!(outer.protocol(), crate::wire::proto::IPIP);
    assert_eq!(outer.src(), OWN_BACKEND_SIDE);
    let b = outer.dst();
    assert!([B1, B2, B3].contains(&b));
    let inner = crate::wire::Ipv4Packet::new_checked(outer.payload()).unwrap();
    assert_eq!((inner.src(), inner.dst(), inner.ttl()), (CLIENT, VIP, 63));
    assert!(inner.verify_checksum());
    assert_eq!(
        EthernetFrame::new_checked(&f[..out]).unwrap().dst(),
        mac(b.octets()[3] | 0xb0)
    );
    // An explicit source wins over the route's.
    let src = Ipv4Addr::new(198, 18, 2, 100);
    let s = snap(Direct::Tunnel { source: Some(src) });
    let mut p = testkit::pipeline(0, 64);
    let (mut f, len) = framed(&ip);
    let (_, out) = p.process_frame(&s, 0, &mut f, len);
    assert_eq!(ip_of(&f[..out]).src(), src);
    assert_eq!(p.counters().get(Counter::IpipEncapsulated), 1);
}

#[test]
fn tunnel_mode_answers_packets_that_no_longer_fit_with_frag_needed() {
    let s = snap(Direct::Tunnel { source: None });
    let mut p = testkit::pipeline(0, 64);
    // 1500 bytes with DF: 1520 once wrapped, over the 1500-byte link.
    let ip = tcp(40002, ACK, &[0u8; 1460]);
    assert_eq!(ip.len(), 1500);
    let (mut f, len) = framed(&ip);
    let (v, out) = p.process_frame(&s, 0, &mut f, len);
    assert_eq!(v, Verdict::Tx { iface: IF_CLIENT });
    let err = ip_of(&f[..out]);
    assert_eq!((err.src(), err.dst()), (VIP, CLIENT));
    let m = crate::wire::IcmpPacket::new_checked(err.payload()).unwrap();
    assert_eq!((m.msg_type(), m.code()), (3, 4), "fragmentation needed");
    assert_eq!(m.next_hop_mtu(), 1480);
    assert_eq!(p.counters().get(Counter::FragNeededSent), 1);
}

#[test]
fn direct_routing_refuses_a_backend_behind_a_router() {
    let s = Snapshot::build(&spec(Direct::Routing, &[FAR], (1, 2), 1), None).unwrap();
    let mut p = testkit::pipeline(0, 64);
    let (mut f, len) = framed(&tcp(40003, SYN, b""));
    assert_eq!(
        p.process_frame(&s, 0, &mut f, len).0,
        Verdict::Drop(DropReason::NotOnLink)
    );
    // The same backend through a tunnel is fine (the route gives no source: it needs one).
    let s = Snapshot::build(
        &spec(Direct::Tunnel { source: None }, &[FAR], (1, 2), 1),
        None,
    )
    .unwrap();
    let (mut f, len) = framed(&tcp(40003, SYN, b""));
    assert_eq!(
        p.process_frame(&s, 0, &mut f, len).0,
        Verdict::Drop(DropReason::NoSource)
    );
}

/// Where a client's flow goes on a node built from `spec`, fed its packets from the middle on.
fn backend_on(spec: &Spec, port: u16, flags: u8) -> Option<Ipv4Addr> {
    let s = Snapshot::build(spec, None).unwrap();
    // Whichever worker owns the flow takes it, as the handoff would arrange.
    for w in 0..s.workers {
        let mut p = testkit::pipeline(w, 64);
        let (mut f, len) = framed(&tcp(port, flags, b"mid-flow"));
        match p.process_frame(&s, 5, &mut f, len).0 {
            Verdict::Tx { .. } => {
                let eth = EthernetFrame::new_checked(&f[..]).unwrap();
                return [B1, B2, B3]
                    .into_iter()
                    .find(|b| eth.dst() == mac(b.octets()[3] | 0xb0));
            }
            Verdict::Handoff { .. } => continue,
            v => panic!("{v:?}"),
        }
    }
    None
}

#[test]
fn nodes_with_the_same_configuration_agree_whatever_their_seeds_and_workers() {
    // Two nodes: different per-start seeds and worker counts, same cluster seed. A flow picked
    // up mid-way (ACK, and even its FIN or RST) goes to the same backend on both.
    let a = spec(Direct::Routing, &[B1, B2, B3], (0x1111, 9), 1);
    let b = spec(Direct::Routing, &[B1, B2, B3], (0x2222_3333, 9), 3);
    let mut seen = std::collections::BTreeSet::new();
    for port in 30000..30200u16 {
        let flags = [ACK, ACK | PSH, FIN | ACK, RST][usize::from(port % 4)];
        let on_a = backend_on(&a, port, flags).unwrap();
        assert_eq!(Some(on_a), backend_on(&b, port, flags), "port {port}");
        seen.insert(on_a);
    }
    assert_eq!(seen.len(), 3, "every backend takes some flows");
    // A different cluster seed is a different (still consistent) spread.
    let c = spec(Direct::Routing, &[B1, B2, B3], (0x1111, 10), 1);
    let moved = (30000..30200u16)
        .filter(|&p| backend_on(&a, p, ACK) != backend_on(&c, p, ACK))
        .count();
    assert!(moved > 50, "{moved}");
}

#[test]
fn one_way_flows_take_no_reply_slot_and_free_cleanly() {
    let s = snap(Direct::Routing);
    let mut p = testkit::pipeline(0, 4);
    // Fill the table, then let the flows expire: every slot comes back.
    for port in 0..4u16 {
        let (mut f, len) = framed(&tcp(50000 + port, SYN, b""));
        assert!(matches!(
            p.process_frame(&s, 0, &mut f, len).0,
            Verdict::Tx { .. }
        ));
    }
    assert_eq!(p.conntrack().used(), 4);
    p.housekeeping(60_000);
    assert_eq!(p.conntrack().used(), 0);
    assert!((0..3).all(|_| p.sched().active(0) == 0));
    // A UDP flow of the second service, both ways of its life.
    let udp = frames::udp_datagram(sa(CLIENT, 5353), sa(VIP, 53), b"q");
    let (mut f, len) = framed(&udp);
    assert!(matches!(
        p.process_frame(&s, 60_001, &mut f, len).0,
        Verdict::Tx { .. }
    ));
    assert_eq!(ip_of(&f[..len]).dst(), VIP);
}
