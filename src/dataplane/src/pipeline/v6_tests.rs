//! The IPv6 path: every forwarding mode, hop limit, ICMPv6 errors, malformed frames.

use std::net::Ipv6Addr;

use proptest::prelude::*;

use super::{Pipeline, PipelineConfig, Verdict};
use crate::counters::{Counter, DropReason};
use crate::testkit::v6::*;
use crate::testkit::{l2, mac};
use crate::wire::ipv6::ext;
use crate::wire::tcp::flags::{ACK, SYN};
use crate::wire::{
    checksum, ethernet, icmpv6, proto, EthernetFrame, Icmpv6Packet, Icmpv6Repr, TcpSegment,
};

fn pipe() -> Pipeline {
    Pipeline::new(PipelineConfig {
        conntrack_capacity: 64,
        conntrack_v6_capacity: 64,
        ..PipelineConfig::default()
    })
}

/// Runs a frame; a transmitted frame is cut to its length.
fn run(p: &mut Pipeline, snap: &crate::snapshot::Snapshot, now: u32, f: &mut Vec<u8>) -> Verdict {
    let len = f.len();
    f.resize(len + 1500, 0);
    let (v, n) = p.process_frame(snap, now, f, len);
    f.truncate(if matches!(v, Verdict::Tx { .. }) {
        n
    } else {
        len
    });
    v
}

fn tcp_ports(f: &[u8]) -> (u16, u16) {
    let ip = ip6_of(f);
    let t = TcpSegment::new_checked(ip.payload()).unwrap();
    (t.src_port(), t.dst_port())
}

#[test]
fn nat_both_ways_with_hop_limit_and_checksums() {
    let snap = snapshot6(1, 1);
    let mut p = pipe();
    let (client, vip, backend) = (a6(CLIENT), a6(VIP), a6(BACKEND));
    let mut f = eth6(l2(1, 0xa0), &tcp6(client, 40000, vip, 80, SYN));
    assert_eq!(run(&mut p, &snap, 0, &mut f), Verdict::Tx { iface: 1 });
    let ip = ip6_of(&f);
    assert_eq!((ip.src(), ip.dst(), ip.hop_limit()), (client, backend, 63));
    assert_eq!(tcp_ports(&f), (40000, 8080));
    assert!(checksum6_ok(&f));
    assert_eq!(EthernetFrame::new_checked(&f[..]).unwrap().dst(), mac(0x10));
    // The backend's SYN-ACK goes back from the VIP.
    let mut r = eth6(
        l2(0x10, 0xa1),
        &tcp6(backend, 8080, client, 40000, SYN | ACK),
    );
    assert_eq!(run(&mut p, &snap, 1, &mut r), Verdict::Tx { iface: 0 });
    let ip = ip6_of(&r);
    assert_eq!((ip.src(), ip.dst()), (vip, client));
    assert_eq!(tcp_ports(&r), (80, 40000));
    assert!(checksum6_ok(&r));
    assert_eq!(EthernetFrame::new_checked(&r[..]).unwrap().dst(), mac(1));
    assert_eq!(p.conntrack_v6().used(), 1);
    assert_eq!(p.conntrack().used(), 0, "the IPv4 table is not involved");
    assert_eq!(p.counters().get(Counter::NewFlows), 1);
}

#[test]
fn fullnat_takes_a_pool_address_and_port() {
    let snap = snapshot6(2, 1);
    let mut p = pipe();
    let (client, vip) = (a6(CLIENT), a6(VIP_FULLNAT));
    let mut f = eth6(l2(1, 0xa0), &tcp6(client, 40000, vip, 80, SYN));
    assert_eq!(run(&mut p, &snap, 0, &mut f), Verdict::Tx { iface: 1 });
    let ip = ip6_of(&f);
    let (backend, local) = (ip.dst(), ip.src());
    assert_eq!(local, a6(POOL));
    let (lport, bport) = tcp_ports(&f);
    assert_eq!(bport, 8080);
    assert!(checksum6_ok(&f));
    let mut r = eth6(
        l2(0x10, 0xa1),
        &tcp6(backend, 8080, local, lport, SYN | ACK),
    );
    assert_eq!(run(&mut p, &snap, 1, &mut r), Verdict::Tx { iface: 0 });
    let ip = ip6_of(&r);
    assert_eq!((ip.src(), ip.dst()), (vip, client));
    assert_eq!(tcp_ports(&r), (80, 40000));
    assert!(checksum6_ok(&r));
    // Nothing expects other traffic to the pool address.
    let mut stray = eth6(l2(0x10, 0xa1), &tcp6(backend, 8080, local, lport ^ 2, ACK));
    assert_eq!(
        run(&mut p, &snap, 2, &mut stray),
        Verdict::Drop(DropReason::NoMapping)
    );
}

#[test]
fn direct_routing_changes_only_the_macs() {
    let snap = snapshot6(1, 1);
    let mut p = pipe();
    let ipb = tcp6(a6(CLIENT), 40000, a6(VIP_DR), 80, ACK);
    let mut f = eth6(l2(1, 0xa0), &ipb);
    assert_eq!(run(&mut p, &snap, 0, &mut f), Verdict::Tx { iface: 1 });
    let ip = ip6_of(&f);
    assert_eq!(
        (ip.src(), ip.dst(), ip.hop_limit()),
        (a6(CLIENT), a6(VIP_DR), 63)
    );
    assert_eq!(tcp_ports(&f), (40000, 80));
    assert!(checksum6_ok(&f));
    assert_eq!(EthernetFrame::new_checked(&f[..]).unwrap().dst(), mac(0x10));
}

#[test]
fn udp_and_echo() {
    let snap = snapshot6(1, 1);
    let mut p = pipe();
    let mut u = eth6(l2(1, 0xa0), &udp6(a6(CLIENT), 5353, a6(VIP), 53, b"q"));
    assert_eq!(run(&mut p, &snap, 0, &mut u), Verdict::Tx { iface: 1 });
    assert_eq!(ip6_of(&u).dst(), a6(BACKEND));
    assert!(checksum6_ok(&u));
    let echo = Icmpv6Repr::EchoRequest {
        ident: 7,
        seq_no: 1,
    };
    let mut e = eth6(l2(1, 0xa0), &icmp6(a6(CLIENT), a6(VIP), &echo, b"ping"));
    assert_eq!(run(&mut p, &snap, 0, &mut e), Verdict::Tx { iface: 1 });
    assert_eq!(ip6_of(&e).dst(), a6(BACKEND));
    assert!(checksum6_ok(&e));
    let reply = Icmpv6Repr::EchoReply {
        ident: 7,
        seq_no: 1,
    };
    let mut r = eth6(
        l2(0x10, 0xa1),
        &icmp6(a6(BACKEND), a6(CLIENT), &reply, b"ping"),
    );
    assert_eq!(run(&mut p, &snap, 1, &mut r), Verdict::Tx { iface: 0 });
    assert_eq!(ip6_of(&r).src(), a6(VIP));
    assert!(checksum6_ok(&r));
    // A UDP datagram without a checksum is invalid over IPv6.
    let mut z = udp6(a6(CLIENT), 5354, a6(VIP), 53, b"q");
    let at = z.len() - 3;
    z[at..at + 2].copy_from_slice(&[0, 0]);
    let mut z = eth6(l2(1, 0xa0), &z);
    assert_eq!(
        run(&mut p, &snap, 2, &mut z),
        Verdict::Drop(DropReason::Malformed)
    );
    // Neighbour discovery for a VIP is the kernel's.
    let ns = Icmpv6Repr::Other {
        msg_type: 135,
        code: 0,
        rest_of_header: 0,
    };
    let mut n = eth6(l2(1, 0xa0), &icmp6(a6(CLIENT), a6(VIP), &ns, &[0; 16]));
    assert_eq!(run(&mut p, &snap, 3, &mut n), Verdict::Pass);
}

#[test]
fn hop_limit_running_out_is_answered_from_the_vip() {
    let snap = snapshot6(1, 1);
    let mut p = pipe();
    let mut t = tcp6(a6(CLIENT), 40000, a6(VIP), 80, SYN);
    crate::wire::ipv6::Ipv6Packet::new_unchecked(&mut t[..]).set_hop_limit(1);
    let mut f = eth6(l2(1, 0xa0), &t);
    assert_eq!(run(&mut p, &snap, 0, &mut f), Verdict::Tx { iface: 0 });
    let ip = ip6_of(&f);
    assert_eq!(
        (ip.src(), ip.dst(), ip.next_header()),
        (a6(VIP), a6(CLIENT), proto::ICMPV6)
    );
    let m = Icmpv6Packet::new_checked(ip.payload()).unwrap();
    assert_eq!(m.msg_type(), icmpv6::kind::TIME_EXCEEDED);
    assert!(checksum6_ok(&f));
    assert_eq!(p.counters().get(Counter::IcmpTimeExceededSent), 1);
    assert_eq!(p.conntrack_v6().used(), 0, "no flow for an expired packet");
    // Hop limit 0 too; an error is never answered with an error.
    let mut t0 = tcp6(a6(CLIENT), 40001, a6(VIP), 80, SYN);
    t0[7] = 0;
    assert_eq!(
        run(&mut p, &snap, 0, &mut eth6(l2(1, 0xa0), &t0)),
        Verdict::Tx { iface: 0 }
    );
}

/// A router on the backend's path says our translated packet is too big: the error reaches
/// the client as if about the packet it sent (path MTU discovery through FullNAT).
#[test]
fn packet_too_big_is_translated_back_to_the_client() {
    let snap = snapshot6(1, 1);
    let mut p = pipe();
    let (client, vip) = (a6(CLIENT), a6(VIP_FULLNAT));
    let mut f = eth6(l2(1, 0xa0), &tcp6(client, 40000, vip, 80, SYN));
    run(&mut p, &snap, 0, &mut f);
    let sent = f[ethernet::HEADER_LEN..].to_vec();
    let router = a6("2001:db8:2::fe");
    let ptb = Icmpv6Repr::PacketTooBig { mtu: 1280 };
    let mut e = eth6(l2(0x10, 0xa1), &icmp6(router, a6(POOL), &ptb, &sent));
    assert_eq!(run(&mut p, &snap, 1, &mut e), Verdict::Tx { iface: 0 });
    let ip = ip6_of(&e);
    assert_eq!((ip.src(), ip.dst()), (router, client));
    assert!(checksum6_ok(&e));
    let m = Icmpv6Packet::new_checked(ip.payload()).unwrap();
    assert_eq!(
        (m.msg_type(), m.mtu()),
        (icmpv6::kind::PACKET_TOO_BIG, 1280)
    );
    let q = crate::wire::Ipv6Packet::new_checked(m.quoted()).unwrap();
    assert_eq!((q.src(), q.dst()), (client, vip));
    let qt = TcpSegment::new_checked(q.payload()).unwrap();
    assert_eq!((qt.src_port(), qt.dst_port()), (40000, 80));
    assert!(
        qt.verify_checksum(client, vip),
        "the quoted TCP checksum is fixed too"
    );
    assert_eq!(p.counters().get(Counter::IcmpTranslated), 1);
}

#[test]
fn skippable_extension_headers_stay_and_others_are_refused_by_reason() {
    let snap = snapshot6(1, 1);
    let mut p = pipe();
    let seg = tcp6(a6(CLIENT), 40000, a6(VIP), 80, SYN)[40..].to_vec();
    // Hop-by-hop then destination options (PadN), then TCP: forwarded, headers in place.
    let mut chain = vec![ext::DEST_OPTIONS, 0, 1, 4, 0, 0, 0, 0];
    chain.extend_from_slice(&[proto::TCP, 0, 1, 4, 0, 0, 0, 0]);
    let pkt = ipv6_packet_ext(a6(CLIENT), a6(VIP), ext::HOP_BY_HOP, &chain, &seg, 64);
    let mut f = eth6(l2(1, 0xa0), &pkt);
    assert_eq!(run(&mut p, &snap, 0, &mut f), Verdict::Tx { iface: 1 });
    let ip = ip6_of(&f);
    assert_eq!((ip.next_header(), ip.dst()), (ext::HOP_BY_HOP, a6(BACKEND)));
    let (_, at) = crate::wire::ipv6::upper_layer(ip.next_header(), ip.payload()).unwrap();
    let t = TcpSegment::new_checked(ip.payload().get(at..).unwrap()).unwrap();
    assert_eq!(t.dst_port(), 8080);
    assert!(t.verify_checksum(a6(CLIENT), a6(BACKEND)));

    let cases: [(u8, Vec<u8>, DropReason); 4] = [
        (
            ext::FRAGMENT,
            vec![proto::TCP, 0, 0, 1, 0, 0, 0, 1],
            DropReason::Fragment,
        ),
        (
            ext::ROUTING,
            vec![proto::TCP, 0, 0, 0, 0, 0, 0, 0],
            DropReason::ExtensionHeader,
        ),
        (ext::ESP, vec![0; 8], DropReason::ExtensionHeader),
        (
            ext::DEST_OPTIONS,
            [[ext::DEST_OPTIONS, 0, 1, 4, 0, 0, 0, 0]; 3].concat(),
            DropReason::ExtensionHeader,
        ),
    ];
    for (first, chain, reason) in cases {
        let pkt = ipv6_packet_ext(a6(CLIENT), a6(VIP), first, &chain, &seg, 64);
        let mut f = eth6(l2(1, 0xa0), &pkt);
        assert_eq!(
            run(&mut p, &snap, 0, &mut f),
            Verdict::Drop(reason),
            "{first}"
        );
        assert!(p.counters().drops(reason) >= 1);
    }
    // Payload Length zero (a jumbogram) or past the frame; a frame shorter than the header.
    let mut bad = tcp6(a6(CLIENT), 40000, a6(VIP), 80, SYN);
    crate::wire::ipv6::Ipv6Packet::new_unchecked(&mut bad[..]).set_payload_len(0);
    let mut f = eth6(l2(1, 0xa0), &bad);
    assert_eq!(
        run(&mut p, &snap, 0, &mut f),
        Verdict::Drop(DropReason::BadPayloadLength)
    );
    crate::wire::ipv6::Ipv6Packet::new_unchecked(&mut bad[..]).set_payload_len(500);
    let mut f = eth6(l2(1, 0xa0), &bad);
    assert_eq!(
        run(&mut p, &snap, 0, &mut f),
        Verdict::Drop(DropReason::BadPayloadLength)
    );
    let mut short = eth6(l2(1, 0xa0), &bad[..30]);
    // Too short to hold the destination: not even the steering program can call it ours.
    assert_eq!(run(&mut p, &snap, 0, &mut short), Verdict::Pass);
    // Malformed frames to an address that is not ours are the kernel's.
    let other = ipv6_packet_ext(
        a6(CLIENT),
        a6("2001:db8:7::1"),
        ext::FRAGMENT,
        &[6, 0, 0, 1, 0, 0, 0, 1],
        &seg,
        64,
    );
    assert_eq!(
        run(&mut p, &snap, 0, &mut eth6(l2(1, 0xa0), &other)),
        Verdict::Pass
    );
    assert_eq!(
        p.conntrack_v6().used(),
        1,
        "only the well-formed SYN opened a flow"
    );
}

#[test]
fn flows_are_handed_to_their_owner() {
    let snap = snapshot6(1, 4);
    let mut owners = [0u32; 4];
    for port in 0..64u16 {
        let mut p0 = pipe();
        let mut f = eth6(
            l2(1, 0xa0),
            &tcp6(a6(CLIENT), 40000 + port, a6(VIP), 80, SYN),
        );
        match run(&mut p0, &snap, 0, &mut f) {
            Verdict::Handoff { worker } => owners[usize::from(worker)] += 1,
            Verdict::Tx { .. } => owners[0] += 1,
            v => panic!("{v:?}"),
        }
    }
    assert!(owners.iter().all(|&n| n > 0), "{owners:?}");
}

#[test]
fn ipv4_and_ipv6_entries_cost_what_the_docs_say() {
    assert_eq!(std::mem::size_of::<crate::conntrack::Entry>(), 56);
    assert_eq!(std::mem::size_of::<crate::conntrack::EntryV6>(), 92);
}

proptest! {
    /// Any bytes behind an IPv6 EtherType, to a VIP or anywhere: no panic, and nothing is
    /// transmitted with a broken checksum or a hop limit that should have run out.
    #[test]
    fn malformed_ipv6_never_forwarded_broken(
        to_vip in any::<bool>(),
        body in proptest::collection::vec(any::<u8>(), 0..120),
        next in prop_oneof![Just(0u8), Just(6), Just(17), Just(43), Just(44), Just(58), Just(60), any::<u8>()],
        plen in prop_oneof![Just(None), any::<u16>().prop_map(Some)],
        hop in any::<u8>(),
    ) {
        let snap = snapshot6(2, 1);
        let mut p = pipe();
        let dst = if to_vip { a6(VIP) } else { Ipv6Addr::from(7u128) };
        let mut pkt = ipv6_packet_ext(a6(CLIENT), dst, next, &[], &body, hop);
        if let Some(l) = plen {
            crate::wire::ipv6::Ipv6Packet::new_unchecked(&mut pkt[..]).set_payload_len(l);
        }
        // A translation keeps a checksum right; one that arrived wrong stays wrong (the
        // receiver drops it), as the incremental update intends.
        let arrived_whole = {
            let ip = crate::wire::ipv6::Ipv6Packet::new_unchecked(&pkt[..]);
            let l4 = pkt.get(crate::wire::ipv6::HEADER_LEN..).unwrap_or(&[]);
            checksum::fold(
                checksum::pseudo_header_v6(ip.src(), ip.dst(), next, l4.len() as u32)
                    + checksum::sum(l4),
            ) == 0xffff
        };
        let mut f = eth6(l2(1, 0xa0), &pkt);
        let v = run(&mut p, &snap, 0, &mut f);
        if let Verdict::Tx { .. } = v {
            let ip = ip6_of(&f);
            prop_assert!(ip.hop_limit() >= 1);
            if (ip.next_header() != next || matches!(next, 6 | 17 | 58)) && arrived_whole {
                let l4 = ip.payload();
                prop_assert_eq!(
                    checksum::fold(checksum::pseudo_header_v6(ip.src(), ip.dst(), ip.next_header(), l4.len() as u32) + checksum::sum(l4)),
                    0xffff
                );
            }
        }
        let drops: u64 = DropReason::ALL.iter().map(|r| p.counters().drops(*r)).sum();
        prop_assert_eq!(matches!(v, Verdict::Drop(_)), drops == 1);
    }
}
