//! Mutated frames of every kind (plain, GRE, ICMP errors, truncated, martian, damaged
//! checksums, TTL running out) through a pipeline with established flows: no panic, every
//! transmitted frame's IPv4 header checks out (and all its checksums when the frame that came
//! in was consistent: a NAT updates checksums, it does not repair them), and every frame is
//! counted once (rx = tx + drops + passed + handoffs).

use std::net::Ipv4Addr;

use proptest::prelude::*;

use super::*;
use crate::frames;
use crate::gateway::{PoolSpec, TunnelSpec};
use crate::snapshot::Spec;
use crate::testkit::{
    backend, ethernet_with_room, l2, mac, pipeline, route, sa, two_interfaces, web_service,
};
use crate::wire::tcp::flags::*;
use crate::wire::{ethernet, GrePacket, IcmpPacket, TcpSegment, UdpDatagram};

const LOCAL: Ipv4Addr = Ipv4Addr::new(198, 18, 8, 1);
const SITE: Ipv4Addr = Ipv4Addr::new(198, 18, 8, 10);
const HOST: Ipv4Addr = Ipv4Addr::new(198, 18, 64, 5);
const EXT: Ipv4Addr = Ipv4Addr::new(198, 19, 0, 1);
const SERVER: Ipv4Addr = Ipv4Addr::new(198, 19, 1, 1);
const CLIENT: Ipv4Addr = Ipv4Addr::new(198, 19, 1, 7);
const ROUTER: Ipv4Addr = Ipv4Addr::new(198, 19, 1, 254);
const VIP: Ipv4Addr = Ipv4Addr::new(198, 18, 1, 1);
const BACKEND: Ipv4Addr = Ipv4Addr::new(198, 18, 2, 1);

fn snap(workers: u16) -> Snapshot {
    Snapshot::build(
        &Spec {
            services: vec![
                web_service(VIP, vec![backend(BACKEND, 8080, true)], None),
                crate::snapshot::ServiceSpec {
                    name: "dns".into(),
                    port: 53,
                    proto: 17,
                    ..web_service(VIP, vec![backend(BACKEND, 5353, true)], Some(0))
                },
            ],
            interfaces: two_interfaces("outside", "inside"),
            routes: vec![
                route([198, 18, 8, 0], 24, None, 1),
                route([198, 18, 2, 0], 24, None, 1),
                route([198, 19, 1, 0], 24, None, 0),
            ],
            neighbours: vec![
                (SITE, mac(0x0a)),
                (BACKEND, mac(0xb1)),
                (SERVER, mac(0x51)),
                (CLIENT, mac(0xc1)),
                (ROUTER, mac(0xfe)),
            ],
            workers,
            hash_seed: 42,
            cluster_seed: 0,
            tunnels: vec![TunnelSpec {
                name: "site".into(),
                local: LOCAL,
                remote: SITE,
                key: Some(100),
                mtu: 1400,
                pool: Some(0),
                inside: Vec::new(),
                routed6: vec![],
                nat64_sources: vec![],
            }],
            pools: vec![PoolSpec {
                name: "p".into(),
                addrs: vec![EXT],
                ports: (1024, 65535),
                timeouts: Default::default(),
                sources: vec![(Ipv4Addr::new(198, 18, 64, 0), 24)],
            }],
            ..Spec::default()
        },
        None,
    )
    .unwrap()
}

fn with_ttl(mut ip: Vec<u8>, ttl: u8) -> Vec<u8> {
    let mut v = Ipv4Packet::new_checked(&mut ip[..]).unwrap();
    v.set_ttl(ttl);
    v.fill_checksum();
    ip
}

/// Frames of every kind; the flows they belong to are opened by `established`.
fn templates() -> Vec<Vec<u8>> {
    let from_site = |ip: &[u8]| frames::gre_packet(SITE, LOCAL, Some(100), ip);
    let syn = frames::tcp_segment(sa(CLIENT, 40000), sa(VIP, 80), SYN, b"");
    let back = frames::udp_datagram(sa(SERVER, 53), sa(HOST, 5000), b"a");
    let ip_frames = [
        frames::tcp_segment(sa(CLIENT, 40000), sa(VIP, 80), ACK, b"data"),
        frames::tcp_segment(sa(BACKEND, 8080), sa(CLIENT, 40000), ACK, b"reply"),
        frames::udp_datagram(sa(CLIENT, 40001), sa(VIP, 53), b"q"),
        frames::icmp_echo(CLIENT, VIP, true, 7, b"ping"),
        from_site(&frames::udp_datagram(sa(HOST, 5000), sa(SERVER, 53), b"q")),
        from_site(&frames::tcp_segment(
            sa(HOST, 6000),
            sa(SERVER, 443),
            SYN,
            b"",
        )),
        frames::udp_datagram(sa(SERVER, 53), sa(EXT, 1024), b"a"),
        frames::udp_datagram(sa(HOST, 7000), sa(SERVER, 53), b"untunnelled"),
        frames::icmp_error(ROUTER, CLIENT, 3, 1, &syn, syn.len()),
        frames::icmp_error(ROUTER, EXT, 11, 0, &back, 28),
        from_site(&frames::icmp_error(HOST, SERVER, 3, 3, &back, back.len())),
        frames::tcp_segment(sa(Ipv4Addr::UNSPECIFIED, 1), sa(VIP, 80), SYN, b""),
        frames::tcp_segment(sa(Ipv4Addr::new(224, 0, 0, 5), 1), sa(VIP, 80), SYN, b""),
        from_site(&frames::udp_datagram(
            sa(Ipv4Addr::BROADCAST, 1),
            sa(SERVER, 53),
            b"q",
        )),
        with_ttl(syn.clone(), 1),
        with_ttl(
            frames::tcp_segment(sa(CLIENT, 40000), sa(VIP, 80), ACK, b"x"),
            1,
        ),
        from_site(&with_ttl(
            frames::udp_datagram(sa(HOST, 5000), sa(SERVER, 53), b"q"),
            1,
        )),
        frames::udp_datagram(sa(CLIENT, 40001), sa(VIP, 53), &[9; 1450]),
    ];
    ip_frames
        .iter()
        .map(|ip| ethernet_with_room(l2(0x51, 0xa0), ip))
        .collect()
}

/// Opens the flows the templates belong to.
fn established(p: &mut Pipeline, s: &Snapshot) {
    let firsts = [
        frames::tcp_segment(sa(CLIENT, 40000), sa(VIP, 80), SYN, b""),
        frames::udp_datagram(sa(CLIENT, 40001), sa(VIP, 53), b"q"),
        frames::gre_packet(
            SITE,
            LOCAL,
            Some(100),
            &frames::udp_datagram(sa(HOST, 5000), sa(SERVER, 53), b"q"),
        ),
    ];
    for ip in firsts {
        let mut f = ethernet_with_room(l2(0x51, 0xa0), &ip);
        let len = f.len();
        p.process_frame(s, 0, &mut f, len);
    }
}

/// Refills every checksum a frame carries (outer and inner IPv4 headers, TCP, UDP, ICMP), so
/// that a mutation reaches the paths behind the checks.
fn refill(f: &mut [u8]) {
    let Ok(mut ip) = Ipv4Packet::new_checked(&mut f[ethernet::HEADER_LEN..]) else {
        return;
    };
    if ip.protocol() == proto::GRE {
        let gre_len = GrePacket::new_checked(ip.payload()).map(|g| g.header_len());
        if let Ok(at) = gre_len {
            refill_ip(&mut ip.payload_mut()[at..]);
        }
    } else {
        refill_l4(&mut ip);
    }
    ip.fill_checksum();
}

fn refill_ip(b: &mut [u8]) {
    if let Ok(mut ip) = Ipv4Packet::new_checked(b) {
        refill_l4(&mut ip);
        ip.fill_checksum();
    }
}

fn refill_l4(ip: &mut Ipv4Packet<&mut [u8]>) {
    let (src, dst, protocol) = (ip.src(), ip.dst(), ip.protocol());
    let l4 = ip.payload_mut();
    match protocol {
        proto::TCP => {
            if let Ok(mut t) = TcpSegment::new_checked(l4) {
                t.fill_checksum(src, dst);
            }
        }
        proto::UDP => {
            if let Ok(mut u) = UdpDatagram::new_checked(l4) {
                u.fill_checksum(src, dst);
            }
        }
        proto::ICMP => {
            if let Ok(mut m) = IcmpPacket::new_checked(l4) {
                m.fill_checksum();
            }
        }
        _ => {}
    }
}

/// Every checksum of the frame, and of the packet inside when it is GRE.
fn consistent(f: &[u8]) -> bool {
    if !frames::checksums_ok(f) {
        return false;
    }
    let ip = Ipv4Packet::new_checked(&f[ethernet::HEADER_LEN..]).unwrap();
    if ip.protocol() != proto::GRE {
        return true;
    }
    let Ok(g) = GrePacket::new_checked(ip.payload()) else {
        return true;
    };
    let inner = frames::ethernet(l2(1, 2), g.payload());
    frames::checksums_ok(&inner)
}

fn header_ok(f: &[u8]) -> bool {
    Ipv4Packet::new_checked(&f[ethernet::HEADER_LEN..]).is_ok_and(|ip| ip.verify_checksum())
}

proptest! {
    #![proptest_config(ProptestConfig::with_cases(2000))]

    #[test]
    fn mutated_frames_are_counted_once_and_leave_with_valid_checksums(
        batch in proptest::collection::vec(
            (
                0usize..18,
                proptest::collection::vec((0usize..90, any::<u8>()), 0..6),
                any::<bool>(),
                0usize..1600,
                any::<bool>(),
            ),
            1..12,
        ),
        workers in 1u16..3,
    ) {
        let s = snap(workers);
        let mut p = pipeline(0, 256);
        established(&mut p, &s);
        let t = templates();
        for (which, edits, repair, cut, room) in batch {
            let mut f = t[which].clone();
            for (at, v) in edits {
                if let Some(b) = f.get_mut(at) {
                    *b = v;
                }
            }
            if repair {
                refill(&mut f);
            }
            let len = cut.clamp(1, f.len());
            if !room {
                f.truncate(len);
            }
            let sound = consistent(&f[..len]);
            let (v, n) = p.process_frame(&s, 1, &mut f, len);
            if let Verdict::Tx { .. } = v {
                let out = &f[..n];
                prop_assert!(header_ok(out), "{:?}: IPv4 header checksum", v);
                if sound {
                    prop_assert!(consistent(out), "{:?}: checksums of a sound frame", v);
                }
            }
        }
        let c = p.counters();
        prop_assert_eq!(
            c.get(Counter::RxPackets),
            c.get(Counter::TxPackets) + c.total_drops() + c.get(Counter::Passed)
                + c.get(Counter::Handoffs)
        );
    }
}
