use std::net::Ipv4Addr;

use super::*;
use crate::frames::{self, L2};
use crate::snapshot::{Scheduler, ServiceSpec, Spec};
use crate::testkit::{
    self, backend, ip_bytes, ip_of, l2, l4_ports, mac, quoted_of, route, sa, two_interfaces,
    udp_checksum, web_service, without_udp_checksum,
};
use crate::wire::tcp::flags::*;
use crate::wire::{EtherType, EthernetFrame};

const VIP: Ipv4Addr = Ipv4Addr::new(198, 18, 1, 1);
const CLIENT: Ipv4Addr = Ipv4Addr::new(198, 18, 0, 7);
const B1: Ipv4Addr = Ipv4Addr::new(198, 18, 2, 1);
const B2: Ipv4Addr = Ipv4Addr::new(198, 18, 2, 2);
const ROUTER: Ipv4Addr = Ipv4Addr::new(198, 18, 0, 254);
/// The host's own addresses on the client and backend sides.
const HOST_CLIENT_SIDE: Ipv4Addr = Ipv4Addr::new(198, 18, 0, 1);
const HOST_BACKEND_SIDE: Ipv4Addr = Ipv4Addr::new(198, 18, 2, 254);

const IF_CLIENT: u16 = 0;
const IF_BACKEND: u16 = 1;

fn spec(up: [bool; 2], workers: u16) -> Spec {
    let backends = |port| {
        [B1, B2]
            .iter()
            .zip(up)
            .map(|(a, up)| backend(*a, port, up))
            .collect::<Vec<_>>()
    };
    Spec {
        locals: vec![HOST_CLIENT_SIDE, HOST_BACKEND_SIDE],
        services: vec![
            web_service(VIP, backends(8080), None),
            ServiceSpec {
                name: "dns".into(),
                port: 53,
                proto: 17,
                scheduler: Scheduler::RoundRobin,
                ..web_service(VIP, backends(5353), None)
            },
            ServiceSpec {
                name: "ping".into(),
                port: 0,
                proto: 1,
                scheduler: Scheduler::LeastConn,
                ..web_service(VIP, backends(0), None)
            },
        ],
        interfaces: two_interfaces("client", "backend"),
        routes: vec![
            route([198, 18, 0, 0], 24, None, IF_CLIENT),
            route([198, 18, 2, 0], 24, None, IF_BACKEND),
            route([0, 0, 0, 0], 0, Some(ROUTER), IF_CLIENT),
        ],
        neighbours: vec![
            (CLIENT, mac(7)),
            (B1, mac(0xb1)),
            (B2, mac(0xb2)),
            (ROUTER, mac(0xfe)),
        ],
        workers,
        hash_seed: 42,
        cluster_seed: 0,
        ..Spec::default()
    }
}

fn snap(up: [bool; 2]) -> Snapshot {
    Snapshot::build(&spec(up, 1), None).unwrap()
}

const FROM_CLIENT: L2 = l2(7, 0xa0);

fn from_backend(b: Ipv4Addr) -> L2 {
    l2(b.octets()[3] | 0xb0, 0xa1)
}

fn ports(frame: &[u8]) -> (u16, u16) {
    l4_ports(&ip_of(frame))
}

fn pipeline() -> Pipeline {
    testkit::pipeline(0, 64)
}

/// Sends a client packet through and returns the backend it went to.
fn forward(p: &mut Pipeline, s: &Snapshot, now: u32, frame: &mut [u8]) -> Ipv4Addr {
    assert_eq!(p.process(s, now, frame), Verdict::Tx { iface: IF_BACKEND });
    assert!(frames::checksums_ok(frame));
    ip_of(frame).dst()
}

#[test]
fn tcp_flow_is_translated_both_ways() {
    let s = snap([true, true]);
    let mut p = pipeline();
    let mut syn = frames::ethernet(
        FROM_CLIENT,
        &frames::tcp_segment(sa(CLIENT, 40000), sa(VIP, 80), SYN, b""),
    );
    let backend = forward(&mut p, &s, 0, &mut syn);
    assert!(backend == B1 || backend == B2);
    let e = EthernetFrame::new_checked(&syn[..]).unwrap();
    assert_eq!(e.src(), mac(0xa1));
    assert_eq!(e.dst(), mac(backend.octets()[3] | 0xb0));
    assert_eq!(ip_of(&syn).src(), CLIENT);
    assert_eq!(ip_of(&syn).ttl(), 63);
    assert_eq!(ports(&syn), (40000, 8080));

    let mut synack = frames::ethernet(
        from_backend(backend),
        &frames::tcp_segment(sa(backend, 8080), sa(CLIENT, 40000), SYN | ACK, b""),
    );
    assert_eq!(
        p.process(&s, 1, &mut synack),
        Verdict::Tx { iface: IF_CLIENT }
    );
    assert!(frames::checksums_ok(&synack));
    assert_eq!((ip_of(&synack).src(), ip_of(&synack).dst()), (VIP, CLIENT));
    assert_eq!(ports(&synack), (80, 40000));
    assert_eq!(
        EthernetFrame::new_checked(&synack[..]).unwrap().dst(),
        mac(7)
    );

    let mut data = frames::ethernet(
        FROM_CLIENT,
        &frames::tcp_segment(
            sa(CLIENT, 40000),
            sa(VIP, 80),
            ACK,
            b"GET / HTTP/1.0\r\n\r\n",
        ),
    );
    assert_eq!(forward(&mut p, &s, 2, &mut data), backend);
    let ct = p.conntrack();
    assert_eq!(ct.used(), 1);
    assert_eq!(ct.iter().next().unwrap().state(), State::Established);
    let c = p.counters();
    assert_eq!(
        (
            c.get(Counter::NewFlows),
            c.get(Counter::TxPackets),
            c.get(Counter::RxPackets)
        ),
        (1, 3, 3)
    );
    assert_eq!(p.sched().active(ct.iter().next().unwrap().backend_id), 1);
}

#[test]
fn clients_spread_over_backends_and_health_steers_new_flows_only() {
    let s = snap([true, true]);
    let mut p = pipeline();
    let mut seen = [0; 2];
    let mut first_b1 = None;
    for port in 0..40u16 {
        let mut f = frames::ethernet(
            FROM_CLIENT,
            &frames::tcp_segment(sa(CLIENT, 1000 + port), sa(VIP, 80), SYN, b""),
        );
        let b = forward(&mut p, &s, 0, &mut f);
        seen[usize::from(b == B2)] += 1;
        if b == B1 && first_b1.is_none() {
            first_b1 = Some(1000 + port);
        }
    }
    assert!(seen[0] > 5 && seen[1] > 5, "{seen:?}");
    // B1 goes down: its existing flow stays with it, new flows all go to B2.
    let down = Snapshot::build(&spec([false, true], 1), Some(&s)).unwrap();
    let mut again = frames::ethernet(
        FROM_CLIENT,
        &frames::tcp_segment(sa(CLIENT, first_b1.unwrap()), sa(VIP, 80), ACK, b""),
    );
    assert_eq!(forward(&mut p, &down, 1, &mut again), B1);
    for port in 100..120u16 {
        let mut f = frames::ethernet(
            FROM_CLIENT,
            &frames::tcp_segment(sa(CLIENT, port), sa(VIP, 80), SYN, b""),
        );
        assert_eq!(forward(&mut p, &down, 1, &mut f), B2);
    }
    let none = Snapshot::build(&spec([false, false], 1), Some(&down)).unwrap();
    let mut f = frames::ethernet(
        FROM_CLIENT,
        &frames::tcp_segment(sa(CLIENT, 9), sa(VIP, 80), SYN, b""),
    );
    assert_eq!(
        p.process(&none, 2, &mut f),
        Verdict::Drop(DropReason::NoBackend)
    );
}

#[test]
fn a_udp_flow_whose_backend_went_down_is_scheduled_afresh() {
    let s = snap([true, true]);
    let mut p = pipeline();
    let udp = |port| {
        frames::ethernet(
            FROM_CLIENT,
            &frames::udp_datagram(sa(CLIENT, port), sa(VIP, 53), b"query"),
        )
    };
    // Round robin: two flows, one on each backend.
    let on = [5000u16, 5001].map(|port| forward(&mut p, &s, 0, &mut udp(port)));
    let port_b1 = if on[0] == B1 { 5000 } else { 5001 };
    let tcp_b1 = (0..40u16)
        .map(|k| 1000 + k)
        .find(|&port| {
            let mut f = frames::ethernet(
                FROM_CLIENT,
                &frames::tcp_segment(sa(CLIENT, port), sa(VIP, 80), SYN, b""),
            );
            forward(&mut p, &s, 0, &mut f) == B1
        })
        .unwrap();
    // B1 goes down: the UDP flow's next datagram goes to B2, as a new flow; the TCP flow stays.
    let down = Snapshot::build(&spec([false, true], 1), Some(&s)).unwrap();
    assert_eq!(forward(&mut p, &down, 1, &mut udp(port_b1)), B2);
    assert_eq!(p.counters().get(Counter::Rescheduled), 1);
    assert_eq!(forward(&mut p, &down, 2, &mut udp(port_b1)), B2);
    assert_eq!(
        p.counters().get(Counter::Rescheduled),
        1,
        "once: the new flow is on B2"
    );
    let mut f = frames::ethernet(
        FROM_CLIENT,
        &frames::tcp_segment(sa(CLIENT, tcp_b1), sa(VIP, 80), ACK, b""),
    );
    assert_eq!(forward(&mut p, &down, 3, &mut f), B1);
    // The UDP flow gave B1's count back when it moved; the TCP flow keeps its own.
    let id = |svc: usize| {
        down.services[svc]
            .backends
            .iter()
            .find(|b| b.addr == B1)
            .unwrap()
            .id
    };
    assert_eq!(p.sched().active(id(1)), 0, "dns on B1");
    assert_eq!(p.sched().active(id(0)), 1, "web on B1");
}

#[test]
fn a_new_connection_on_an_old_port_is_scheduled_afresh() {
    let s = snap([true, true]);
    let mut p = pipeline();
    let seg = |port, flags| {
        frames::ethernet(
            FROM_CLIENT,
            &frames::tcp_segment(sa(CLIENT, port), sa(VIP, 80), flags, b""),
        )
    };
    let on_b1: Vec<u16> = (0..40u16)
        .map(|k| 2000 + k)
        .filter(|&port| forward(&mut p, &s, 0, &mut seg(port, SYN)) == B1)
        .take(2)
        .collect();
    let (closed, open) = (on_b1[0], on_b1[1]);
    // One connection ends with a reset; the other stays open. B1 goes down.
    forward(&mut p, &s, 1, &mut seg(closed, RST | ACK));
    let down = Snapshot::build(&spec([false, true], 1), Some(&s)).unwrap();
    // A new connection from either port (a SYN without ACK) is scheduled afresh, on B2; a
    // segment of the open connection stays with B1.
    assert_eq!(forward(&mut p, &down, 2, &mut seg(closed, SYN)), B2);
    assert_eq!(forward(&mut p, &down, 3, &mut seg(open, ACK)), B1);
    assert_eq!(forward(&mut p, &down, 4, &mut seg(open, SYN)), B2);
    assert_eq!(p.counters().get(Counter::Rescheduled), 2);
}

#[test]
fn udp_round_robin_and_zero_checksum_stays_zero() {
    let s = snap([true, true]);
    let mut p = pipeline();
    let mut got = vec![];
    for port in [5000u16, 5001] {
        let mut f = frames::ethernet(
            FROM_CLIENT,
            &frames::udp_datagram(sa(CLIENT, port), sa(VIP, 53), b"query"),
        );
        got.push(forward(&mut p, &s, 0, &mut f));
        assert_eq!(ports(&f), (port, 5353));
    }
    got.sort();
    assert_eq!(got, [B1, B2]);
    // No checksum from the sender: none after NAT either.
    let ip = without_udp_checksum(frames::udp_datagram(sa(CLIENT, 5002), sa(VIP, 53), b"q"));
    let mut f = frames::ethernet(FROM_CLIENT, &ip);
    forward(&mut p, &s, 0, &mut f);
    assert_eq!(udp_checksum(&ip_of(&f)), 0);
}

#[test]
fn icmp_echo_to_a_ping_service() {
    let s = snap([true, true]);
    let mut p = pipeline();
    let mut req = frames::ethernet(
        FROM_CLIENT,
        &frames::icmp_echo(CLIENT, VIP, true, 77, b"hi"),
    );
    let b = forward(&mut p, &s, 0, &mut req);
    let mut reply = frames::ethernet(
        from_backend(b),
        &frames::icmp_echo(b, CLIENT, false, 77, b"hi"),
    );
    assert_eq!(
        p.process(&s, 1, &mut reply),
        Verdict::Tx { iface: IF_CLIENT }
    );
    assert!(frames::checksums_ok(&reply));
    assert_eq!(ip_of(&reply).src(), VIP);
    assert_eq!(
        p.conntrack().iter().next().unwrap().class(),
        Some(conntrack::Class::Icmp)
    );
}

#[test]
fn icmp_errors_about_tracked_flows_are_translated() {
    let s = snap([true, true]);
    let mut p = pipeline();
    let mut syn = frames::ethernet(
        FROM_CLIENT,
        &frames::tcp_segment(sa(CLIENT, 40000), sa(VIP, 80), SYN, b""),
    );
    let b = forward(&mut p, &s, 0, &mut syn);
    let sent_to_backend = ip_bytes(&syn).to_vec();

    // The backend refuses: port unreachable quoting client → backend, sent to the client.
    for quote in [28, sent_to_backend.len()] {
        let mut err = frames::ethernet(
            from_backend(b),
            &frames::icmp_error(b, CLIENT, 3, 3, &sent_to_backend, quote),
        );
        assert_eq!(p.process(&s, 1, &mut err), Verdict::Tx { iface: IF_CLIENT });
        assert!(frames::checksums_ok(&err), "quote of {quote}");
        let outer = ip_of(&err);
        assert_eq!((outer.src(), outer.dst()), (VIP, CLIENT));
        let q = quoted_of(&outer);
        assert_eq!((q.src(), q.dst()), (CLIENT, VIP));
        assert_eq!(l4_ports(&q).1, 80);
    }

    // A router on the client's path says our reply VIP → client could not be delivered.
    let mut reply = frames::ethernet(
        from_backend(b),
        &frames::tcp_segment(sa(b, 8080), sa(CLIENT, 40000), SYN | ACK, b""),
    );
    assert_eq!(
        p.process(&s, 1, &mut reply),
        Verdict::Tx { iface: IF_CLIENT }
    );
    let sent_to_client = ip_bytes(&reply).to_vec();
    let mut err = frames::ethernet(
        FROM_CLIENT,
        &frames::icmp_error(ROUTER, VIP, 3, 1, &sent_to_client, sent_to_client.len()),
    );
    assert_eq!(
        p.process(&s, 2, &mut err),
        Verdict::Tx { iface: IF_BACKEND }
    );
    assert!(frames::checksums_ok(&err));
    let outer = ip_of(&err);
    assert_eq!((outer.src(), outer.dst()), (ROUTER, b));
    let q = quoted_of(&outer);
    assert_eq!((q.src(), q.dst()), (b, CLIENT));
    assert_eq!(l4_ports(&q).0, 8080);
    assert_eq!(p.counters().get(Counter::IcmpTranslated), 3);

    // About a flow nobody tracks: the steering rules give it to us (it quotes a packet to a
    // backend), so it is a counted drop; the kernel never sees it.
    let other = frames::tcp_segment(sa(CLIENT, 1), sa(B1, 8080), SYN, b"");
    let mut err = frames::ethernet(
        from_backend(B1),
        &frames::icmp_error(B1, CLIENT, 3, 3, &other, 28),
    );
    assert_eq!(
        p.process(&s, 3, &mut err),
        Verdict::Drop(DropReason::NoFlow)
    );
    // Quoting a packet the host itself sent to a backend (a health check): the kernel's.
    let own = frames::tcp_segment(sa(HOST_BACKEND_SIDE, 1), sa(B1, 8080), SYN, b"");
    let mut err = frames::ethernet(
        from_backend(B1),
        &frames::icmp_error(B1, HOST_BACKEND_SIDE, 3, 3, &own, 28),
    );
    assert_eq!(p.process(&s, 3, &mut err), Verdict::Pass);
}

#[test]
fn what_is_not_ours_goes_to_the_kernel() {
    let s = snap([true, true]);
    let mut p = pipeline();
    let mut arp = frames::ethernet(FROM_CLIENT, &[0u8; 28]);
    EthernetFrame::new_checked(&mut arp[..])
        .unwrap()
        .set_ethertype(EtherType::Arp);
    assert_eq!(p.process(&s, 0, &mut arp), Verdict::Pass);
    let mut v6 = arp.clone();
    EthernetFrame::new_checked(&mut v6[..])
        .unwrap()
        .set_ethertype(EtherType::Ipv6);
    assert_eq!(p.process(&s, 0, &mut v6), Verdict::Pass);
    // Another port on the VIP (say SSH), a ping to the host, a backend's own traffic.
    for ip in [
        frames::tcp_segment(sa(CLIENT, 1), sa(VIP, 22), SYN, b""),
        frames::icmp_echo(CLIENT, HOST_CLIENT_SIDE, true, 1, b""),
        // A backend answering the host's own health check.
        frames::tcp_segment(sa(B1, 8080), sa(HOST_BACKEND_SIDE, 9999), ACK, b""),
    ] {
        let mut f = frames::ethernet(FROM_CLIENT, &ip);
        assert_eq!(p.process(&s, 0, &mut f), Verdict::Pass);
    }
    // A fragment, even to a service: the steering program leaves fragments to the kernel.
    let mut frag = frames::ethernet(
        FROM_CLIENT,
        &frames::tcp_segment(sa(CLIENT, 1), sa(VIP, 80), SYN, b""),
    );
    let mut eth = EthernetFrame::new_checked(&mut frag[..]).unwrap();
    let mut ip = Ipv4Packet::new_checked(eth.payload_mut()).unwrap();
    ip.set_flags_and_offset(false, true, 0);
    ip.fill_checksum();
    assert_eq!(p.process(&s, 0, &mut frag), Verdict::Pass);
    assert_eq!(p.counters().get(Counter::Passed), 6);
    // TTL running out at a service, in a buffer with no room for the error (which is longer
    // than a bare SYN): ours (the program sent it), so a counted drop.
    let mut ttl1 = frames::tcp_segment(sa(CLIENT, 1), sa(VIP, 80), SYN, b"");
    let mut ip = Ipv4Packet::new_checked(&mut ttl1[..]).unwrap();
    ip.set_ttl(1);
    ip.fill_checksum();
    let mut f = frames::ethernet(FROM_CLIENT, &ttl1);
    assert_eq!(
        p.process(&s, 0, &mut f),
        Verdict::Drop(DropReason::TtlExceeded)
    );
    assert_eq!(p.conntrack().used(), 0);
}

#[test]
fn drops_are_counted_by_reason() {
    let s = snap([true, true]);
    let mut p = testkit::pipeline(0, 1);
    let seg = |port, flags| {
        frames::ethernet(
            FROM_CLIENT,
            &frames::tcp_segment(sa(CLIENT, port), sa(VIP, 80), flags, b""),
        )
    };
    assert_eq!(
        p.process(&s, 0, &mut seg(1, RST)),
        Verdict::Drop(DropReason::NoFlow)
    );
    let mut short = seg(1, SYN);
    short[14 + 3] = 200; // total length beyond the frame
    assert_eq!(
        p.process(&s, 0, &mut short),
        Verdict::Drop(DropReason::Malformed)
    );
    assert!(matches!(
        p.process(&s, 0, &mut seg(1, ACK)),
        Verdict::Tx { .. }
    ));
    // One established flow fills the table: the next is refused, the first keeps working.
    assert_eq!(
        p.process(&s, 0, &mut seg(2, SYN)),
        Verdict::Drop(DropReason::ConntrackFull)
    );
    assert!(matches!(
        p.process(&s, 0, &mut seg(1, ACK)),
        Verdict::Tx { .. }
    ));
    // A client we have no neighbour entry for.
    let stranger = Ipv4Addr::new(198, 18, 0, 99);
    let mut reply_to_stranger = frames::ethernet(
        from_backend(B1),
        &frames::tcp_segment(sa(B1, 8080), sa(stranger, 5), ACK, b""),
    );
    let mut p2 = pipeline();
    let mut syn = frames::ethernet(
        FROM_CLIENT,
        &frames::tcp_segment(sa(stranger, 5), sa(VIP, 80), SYN, b""),
    );
    let b = match p2.process(&s, 0, &mut syn) {
        Verdict::Tx { .. } => ip_of(&syn).dst(),
        v => panic!("{v:?}"),
    };
    if b != B1 {
        reply_to_stranger = frames::ethernet(
            from_backend(b),
            &frames::tcp_segment(sa(b, 8080), sa(stranger, 5), ACK, b""),
        );
    }
    let again = reply_to_stranger.clone();
    assert_eq!(
        p2.process(&s, 0, &mut reply_to_stranger),
        Verdict::Drop(DropReason::NoNeighbour)
    );
    // The shell learns which next hop to resolve, once however many frames needed it.
    assert_eq!(
        p2.process(&s, 0, &mut again.clone()),
        Verdict::Drop(DropReason::NoNeighbour)
    );
    assert_eq!(p2.take_unresolved().collect::<Vec<_>>(), [stranger]);
    assert_eq!(p2.take_unresolved().count(), 0);
    let c = p.counters();
    for (r, n) in [
        (DropReason::NoFlow, 1),
        (DropReason::Malformed, 1),
        (DropReason::ConntrackFull, 1),
    ] {
        assert_eq!(c.drops(r), n, "{r:?}");
    }
}

#[test]
fn flows_owned_by_another_worker_are_handed_off_both_ways() {
    let s = Snapshot::build(&spec([true, true], 2), None).unwrap();
    let mut workers = [0u16, 1].map(|w| testkit::pipeline(w, 64));
    let mut handoffs = 0;
    for port in 0..20u16 {
        let mut f = frames::ethernet(
            FROM_CLIENT,
            &frames::tcp_segment(sa(CLIENT, port), sa(VIP, 80), SYN, b""),
        );
        let v = workers[0].process(&s, 0, &mut f);
        let backend = match v {
            Verdict::Handoff { worker: 1 } => {
                handoffs += 1;
                match workers[1].process(&s, 0, &mut f) {
                    Verdict::Tx { .. } => ip_of(&f).dst(),
                    v => panic!("{v:?}"),
                }
            }
            Verdict::Tx { .. } => ip_of(&f).dst(),
            v => panic!("{v:?}"),
        };
        // The reply arrives at worker 0 too and goes to the same owner.
        let mut r = frames::ethernet(
            from_backend(backend),
            &frames::tcp_segment(sa(backend, 8080), sa(CLIENT, port), SYN | ACK, b""),
        );
        match workers[0].process(&s, 0, &mut r) {
            Verdict::Handoff { worker: 1 } => {
                assert_eq!(
                    workers[1].process(&s, 0, &mut r),
                    Verdict::Tx { iface: IF_CLIENT }
                )
            }
            v => assert_eq!(v, Verdict::Tx { iface: IF_CLIENT }),
        }
    }
    assert!(handoffs > 3 && handoffs < 17, "{handoffs}");
    assert_eq!(workers[0].counters().get(Counter::Handoffs), 2 * handoffs);
    assert_eq!(
        workers[0].conntrack().used() + workers[1].conntrack().used(),
        20
    );
}

#[test]
fn expiry_in_housekeeping_releases_connection_counts() {
    let s = snap([true, true]);
    let mut p = pipeline();
    let mut frames_in: Vec<Vec<u8>> = (0..4u16)
        .map(|port| {
            frames::ethernet(
                FROM_CLIENT,
                &frames::udp_datagram(sa(CLIENT, port), sa(VIP, 53), b"x"),
            )
        })
        .collect();
    let mut verdicts = [Verdict::Pass; 4];
    p.process_batch(
        &s,
        0,
        frames_in.iter_mut().map(|f| &mut f[..]),
        &mut verdicts,
    );
    assert!(verdicts.iter().all(|v| matches!(v, Verdict::Tx { .. })));
    assert_eq!(p.counters().get(Counter::ConntrackUsed), 4);
    let ids: Vec<u16> = s.services[1].backends.iter().map(|b| b.id).collect();
    assert_eq!(p.sched().active(ids[0]) + p.sched().active(ids[1]), 4);
    let udp = p.conntrack().timeouts().of(conntrack::Class::Udp);
    p.housekeeping(udp);
    assert_eq!(p.counters().get(Counter::ConntrackUsed), 0);
    assert_eq!(p.counters().get(Counter::ConntrackExpired), 4);
    assert_eq!(p.sched().active(ids[0]) + p.sched().active(ids[1]), 0);
}

#[test]
fn batches_give_the_same_result_as_single_frames() {
    let s = snap([true, true]);
    let mut frames_in: Vec<Vec<u8>> = Vec::new();
    for port in 0..20u16 {
        frames_in.push(frames::ethernet(
            FROM_CLIENT,
            &frames::tcp_segment(sa(CLIENT, port), sa(VIP, 80), SYN, b""),
        ));
        frames_in.push(frames::ethernet(
            FROM_CLIENT,
            &frames::udp_datagram(sa(CLIENT, port), sa(VIP, 53), b"x"),
        ));
    }
    // Not ours, and an ICMP error, in the middle of groups.
    frames_in.insert(
        7,
        frames::ethernet(FROM_CLIENT, &frames::icmp_echo(CLIENT, B1, true, 1, b"")),
    );
    let quoted = frames::tcp_segment(sa(CLIENT, 3), sa(B1, 8080), SYN, b"");
    frames_in.insert(
        17,
        frames::ethernet(
            from_backend(B1),
            &frames::icmp_error(B1, CLIENT, 3, 3, &quoted, 28),
        ),
    );
    let original = frames_in.clone();
    let mut one = frames_in.clone();
    let mut single = pipeline();
    let singles: Vec<Verdict> = one.iter_mut().map(|f| single.process(&s, 0, f)).collect();
    let mut batched = pipeline();
    let mut verdicts = vec![Verdict::Pass; frames_in.len()];
    batched.process_batch(
        &s,
        0,
        frames_in.iter_mut().map(|f| &mut f[..]),
        &mut verdicts,
    );
    assert_eq!(verdicts, singles);
    assert_eq!(frames_in, one);
    // The worker's way: prepare a group, prefetch, finish each (groups straddle the odd frames).
    let mut grouped = pipeline();
    let mut halves = original.clone();
    let mut by_halves = Vec::new();
    for group in halves.chunks_mut(PREPARE_GROUP) {
        let prepared: Vec<Prepared> = group.iter().map(|f| grouped.prepare(&s, f)).collect();
        grouped.prefetch(&prepared);
        for (f, p) in group.iter_mut().zip(prepared) {
            let len = f.len();
            by_halves.push(grouped.finish(&s, 0, f, len, p).0);
        }
    }
    assert_eq!(by_halves, singles);
    assert_eq!(halves, one);
    // A batch ends with housekeeping, which refreshes the conntrack gauges.
    single.housekeeping(0);
    grouped.housekeeping(0);
    assert_eq!(batched.counters(), single.counters());
    assert_eq!(grouped.counters(), single.counters());
    // Fewer verdict slots than frames: the rest are left alone.
    let mut again = original.clone();
    let mut short = [Verdict::Pass; 3];
    pipeline().process_batch(&s, 0, again.iter_mut().map(|f| &mut f[..]), &mut short);
    assert!(
        short.iter().all(|v| matches!(v, Verdict::Tx { .. })),
        "{short:?}"
    );
    assert_eq!(again[3..], original[3..]);
}

mod fuzz {
    use super::*;
    use proptest::prelude::*;

    /// Valid frames of every kind the pipeline handles, to be mutated.
    fn templates() -> Vec<Vec<u8>> {
        let quoted = frames::tcp_segment(sa(CLIENT, 3), sa(B1, 8080), SYN, b"data");
        let quoted_reply = frames::udp_datagram(sa(VIP, 53), sa(CLIENT, 9), b"answer");
        vec![
            frames::ethernet(
                FROM_CLIENT,
                &frames::tcp_segment(sa(CLIENT, 1), sa(VIP, 80), SYN, b"x"),
            ),
            frames::ethernet(
                FROM_CLIENT,
                &frames::udp_datagram(sa(CLIENT, 1), sa(VIP, 53), b"x"),
            ),
            frames::ethernet(FROM_CLIENT, &frames::icmp_echo(CLIENT, VIP, true, 1, b"x")),
            frames::ethernet(
                from_backend(B1),
                &frames::tcp_segment(sa(B1, 8080), sa(CLIENT, 3), ACK, b""),
            ),
            frames::ethernet(
                from_backend(B1),
                &frames::icmp_error(B1, CLIENT, 3, 3, &quoted, 28),
            ),
            frames::ethernet(
                from_backend(B1),
                &frames::icmp_error(B1, CLIENT, 3, 3, &quoted, quoted.len()),
            ),
            frames::ethernet(
                FROM_CLIENT,
                &frames::icmp_error(ROUTER, VIP, 11, 0, &quoted_reply, quoted_reply.len()),
            ),
        ]
    }

    proptest! {
        /// Any corruption or truncation of any kind of frame gives a verdict, never a panic, and
        /// the pipeline keeps working afterwards.
        #[test]
        fn mutated_frames_never_panic(
            which in 0usize..7,
            edits in proptest::collection::vec((0usize..120, any::<u8>()), 0..8),
            cut in 0usize..130,
        ) {
            let s = snap([true, true]);
            let mut p = pipeline();
            // Open the flow the templates' replies and errors refer to.
            let mut syn = frames::ethernet(FROM_CLIENT, &frames::tcp_segment(sa(CLIENT, 3), sa(VIP, 80), SYN, b""));
            p.process(&s, 0, &mut syn);
            let mut f = templates()[which].clone();
            for (at, v) in edits {
                if let Some(b) = f.get_mut(at) {
                    *b = v;
                }
            }
            f.truncate(cut.max(1));
            let _ = p.process(&s, 1, &mut f);
            let mut ok = frames::ethernet(FROM_CLIENT, &frames::udp_datagram(sa(CLIENT, 2), sa(VIP, 53), b"x"));
            let after = p.process(&s, 2, &mut ok);
            prop_assert!(matches!(after, Verdict::Tx { .. }), "after: {:?}", after);
        }
    }
}

/// `ip` (an IPv4 packet) with its TTL set to `ttl`, the header checksum refilled.
fn with_ttl(mut ip: Vec<u8>, ttl: u8) -> Vec<u8> {
    let mut v = Ipv4Packet::new_checked(&mut ip[..]).unwrap();
    v.set_ttl(ttl);
    v.fill_checksum();
    ip
}

#[test]
fn ttl_expiry_is_answered_from_the_vip_within_the_rate_limit() {
    let s = snap([true, true]);
    let mut p = pipeline();
    // A flow's first packet: time exceeded from the VIP to the client, quoting the SYN.
    let syn = with_ttl(
        frames::tcp_segment(sa(CLIENT, 3000), sa(VIP, 80), SYN, b""),
        1,
    );
    let mut f = testkit::ethernet_with_room(FROM_CLIENT, &syn);
    assert_eq!(
        testkit::run_frame(&mut p, &s, 0, &mut f),
        Verdict::Tx { iface: IF_CLIENT }
    );
    let ip = ip_of(&f);
    assert_eq!((ip.src(), ip.dst(), ip.ttl()), (VIP, CLIENT, 64));
    let m = testkit::icmp_of(&ip);
    assert_eq!((m.msg_type(), m.code()), (11, 0));
    assert_eq!(m.quoted(), &syn[..]);
    assert_eq!(EthernetFrame::new_checked(&f[..]).unwrap().dst(), mac(7));
    assert_eq!(
        p.conntrack().used(),
        0,
        "no flow for a packet that died here"
    );

    // A packet of an established flow and a backend's reply: from the VIP too.
    let mut open = frames::ethernet(
        FROM_CLIENT,
        &frames::tcp_segment(sa(CLIENT, 3001), sa(VIP, 80), SYN, b""),
    );
    let b = forward(&mut p, &s, 1, &mut open);
    let late = with_ttl(
        frames::tcp_segment(sa(CLIENT, 3001), sa(VIP, 80), ACK, b"x"),
        1,
    );
    let mut f = testkit::ethernet_with_room(FROM_CLIENT, &late);
    assert_eq!(
        testkit::run_frame(&mut p, &s, 2, &mut f),
        Verdict::Tx { iface: IF_CLIENT }
    );
    assert_eq!((ip_of(&f).src(), ip_of(&f).dst()), (VIP, CLIENT));
    let reply = with_ttl(
        frames::tcp_segment(sa(b, 8080), sa(CLIENT, 3001), SYN | ACK, b""),
        1,
    );
    let mut f = testkit::ethernet_with_room(from_backend(b), &reply);
    assert_eq!(
        testkit::run_frame(&mut p, &s, 3, &mut f),
        Verdict::Tx { iface: IF_BACKEND }
    );
    assert_eq!((ip_of(&f).src(), ip_of(&f).dst()), (VIP, b));
    assert_eq!(p.counters().get(Counter::IcmpTimeExceededSent), 3);

    // Never about an ICMP error.
    let err = with_ttl(
        frames::icmp_error(ROUTER, VIP, 3, 1, ip_bytes(&open), 28),
        1,
    );
    let mut f = testkit::ethernet_with_room(FROM_CLIENT, &err);
    let before = p.counters().get(Counter::IcmpTimeExceededSent);
    let v = testkit::run_frame(&mut p, &s, 4, &mut f);
    assert!(matches!(v, Verdict::Drop(_)), "{v:?}");
    assert_eq!(p.counters().get(Counter::IcmpTimeExceededSent), before);

    // Within the worker's rate limit: a burst of 50 at once, then one per millisecond.
    let mut p = pipeline();
    let mut sent = 0;
    for port in 0..80u16 {
        let syn = with_ttl(
            frames::tcp_segment(sa(CLIENT, 4000 + port), sa(VIP, 80), SYN, b""),
            0,
        );
        let mut f = testkit::ethernet_with_room(FROM_CLIENT, &syn);
        match testkit::run_frame(&mut p, &s, 10, &mut f) {
            Verdict::Tx { .. } => sent += 1,
            v => assert_eq!(v, Verdict::Drop(DropReason::TtlExceeded)),
        }
    }
    assert_eq!(sent, 50);
    let c = p.counters();
    assert_eq!(c.get(Counter::IcmpRateLimited), 30);
    assert_eq!(c.drops(DropReason::TtlExceeded), 30);
    let syn = with_ttl(frames::tcp_segment(sa(CLIENT, 9), sa(VIP, 80), SYN, b""), 1);
    let mut f = testkit::ethernet_with_room(FROM_CLIENT, &syn);
    assert!(matches!(
        testkit::run_frame(&mut p, &s, 11, &mut f),
        Verdict::Tx { .. }
    ));
}

#[test]
fn martian_sources_and_bad_header_checksums_are_dropped_by_reason() {
    let s = snap([true, true]);
    let mut p = pipeline();
    for src in [
        Ipv4Addr::UNSPECIFIED,
        Ipv4Addr::new(0, 1, 2, 3),
        Ipv4Addr::new(127, 0, 0, 1),
        Ipv4Addr::new(224, 0, 0, 1),
        Ipv4Addr::new(240, 0, 0, 1),
        Ipv4Addr::BROADCAST,
    ] {
        let mut f = frames::ethernet(
            FROM_CLIENT,
            &frames::tcp_segment(sa(src, 1000), sa(VIP, 80), SYN, b""),
        );
        assert_eq!(
            p.process(&s, 0, &mut f),
            Verdict::Drop(DropReason::MartianSource),
            "{src}"
        );
    }
    assert_eq!(p.counters().drops(DropReason::MartianSource), 6);
    assert_eq!(p.conntrack().used(), 0);

    // A first packet with a damaged header checksum opens nothing.
    let bad = |flags, payload: &[u8]| {
        let mut f = frames::ethernet(
            FROM_CLIENT,
            &frames::tcp_segment(sa(CLIENT, 5000), sa(VIP, 80), flags, payload),
        );
        let mut ip = testkit::ip_mut(&mut f);
        let c = ip.checksum();
        ip.set_checksum(c ^ 0x0100);
        f
    };
    let mut f = bad(SYN, b"");
    assert_eq!(
        p.process(&s, 0, &mut f),
        Verdict::Drop(DropReason::BadChecksum)
    );
    assert_eq!(p.conntrack().used(), 0);
    // Nor is one forwarded on an established flow (the rewrite must not launder it).
    let mut syn = frames::ethernet(
        FROM_CLIENT,
        &frames::tcp_segment(sa(CLIENT, 5000), sa(VIP, 80), SYN, b""),
    );
    forward(&mut p, &s, 1, &mut syn);
    let mut f = bad(ACK, b"data");
    assert_eq!(
        p.process(&s, 2, &mut f),
        Verdict::Drop(DropReason::BadChecksum)
    );
    assert_eq!(p.counters().drops(DropReason::BadChecksum), 2);
    // Not ours (to an address that is no service): the kernel's, which counts it itself.
    let mut f = frames::ethernet(
        FROM_CLIENT,
        &frames::tcp_segment(sa(CLIENT, 5000), sa(HOST_CLIENT_SIDE, 22), SYN, b""),
    );
    let mut ip = testkit::ip_mut(&mut f);
    let c = ip.checksum();
    ip.set_checksum(!c);
    assert_eq!(p.process(&s, 3, &mut f), Verdict::Pass);
}
