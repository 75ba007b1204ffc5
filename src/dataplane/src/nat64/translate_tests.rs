//! Byte-level checks of the translation: every header field the RFC sets, and checksums
//! verified by computing them whole (not by the incremental arithmetic under test).

use std::net::{Ipv4Addr, Ipv6Addr, SocketAddrV4};

use proptest::prelude::*;

use super::*;
use crate::frames::{icmp_echo, tcp_packet, tcp_repr, udp_datagram};
use crate::testkit::v6::{a6, icmp6, ipv6_packet_ext, tcp6, udp6};
use crate::wire::icmpv6::Icmpv6Repr;
use crate::wire::{IcmpPacket, TcpSegment};

const CLIENT: &str = "2001:db8:c::1";
const VIP: &str = "2001:db8:1::80";
const POOL: Ipv4Addr = Ipv4Addr::new(198, 19, 0, 1);
const BACKEND: Ipv4Addr = Ipv4Addr::new(198, 18, 2, 10);

fn to4(sport: u16, dport: u16) -> Endpoints<Ipv4Addr> {
    Endpoints {
        src: POOL,
        src_port: sport,
        dst: BACKEND,
        dst_port: dport,
    }
}

fn to6(sport: u16, dport: u16) -> Endpoints<Ipv6Addr> {
    Endpoints {
        src: a6(VIP),
        src_port: sport,
        dst: a6(CLIENT),
        dst_port: dport,
    }
}

fn room(p: &[u8]) -> Vec<u8> {
    let mut b = p.to_vec();
    b.resize(p.len() + 64, 0xee);
    b
}

/// The IPv4 packet's header checksum and its upper layer's, computed whole.
fn v4_ok(p: &[u8]) -> bool {
    let ip = Ipv4Packet::new_checked(p).unwrap();
    let l4 = ip.payload();
    let upper = match ip.protocol() {
        proto::TCP | proto::UDP => {
            checksum::fold(
                checksum::pseudo_header_v4(ip.src(), ip.dst(), ip.protocol(), l4.len() as u16)
                    + checksum::sum(l4),
            ) == 0xffff
        }
        _ => checksum::fold(checksum::sum(l4)) == 0xffff,
    };
    ip.verify_checksum() && upper
}

/// The IPv6 packet's upper-layer checksum over its pseudo-header, computed whole.
fn v6_ok(p: &[u8]) -> bool {
    let ip = Ipv6Packet::new_checked(p).unwrap();
    let l4 = ip.payload();
    checksum::fold(
        checksum::pseudo_header_v6(ip.src(), ip.dst(), ip.next_header(), l4.len() as u32)
            + checksum::sum(l4),
    ) == 0xffff
}

#[test]
fn tcp_to_ipv4_sets_every_field() {
    let mut p = tcp6(a6(CLIENT), 40000, a6(VIP), 80, tcp::flags::SYN);
    Ipv6Packet::new_unchecked(&mut p[..]).set_version_tc_flow(0xb8, 0x12345);
    let len = p.len();
    let out = v6_to_v4(&mut p, len, 0, &to4(1025, 8080), 7).unwrap();
    assert_eq!(out, len - GROWTH);
    let ip = Ipv4Packet::new_checked(&p[..out]).unwrap();
    assert_eq!((ip.version(), ip.header_len()), (4, 20));
    assert_eq!(ip.dscp_ecn(), 0xb8, "TOS from the traffic class");
    assert_eq!(usize::from(ip.total_len()), out);
    assert_eq!(ip.ttl(), 63, "hop limit less one");
    assert_eq!(ip.ident(), 7);
    assert!(!ip.dont_frag() && !ip.more_frags() && ip.frag_offset() == 0);
    assert_eq!(
        (ip.src(), ip.dst(), ip.protocol()),
        (POOL, BACKEND, proto::TCP)
    );
    let t = TcpSegment::new_checked(ip.payload()).unwrap();
    assert_eq!(
        (t.src_port(), t.dst_port(), t.flags()),
        (1025, 8080, tcp::flags::SYN)
    );
    assert!(t.verify_checksum(POOL, BACKEND));
    assert!(v4_ok(&p[..out]));
}

#[test]
fn dont_fragment_above_1260_bytes() {
    for (payload, df) in [(1260 - 28, false), (1260 - 28 + 1, true)] {
        let mut p = udp6(a6(CLIENT), 5000, a6(VIP), 53, &vec![7u8; payload]);
        let len = p.len();
        let out = v6_to_v4(&mut p, len, 0, &to4(1025, 53), 1).unwrap();
        let ip = Ipv4Packet::new_checked(&p[..out]).unwrap();
        assert_eq!(ip.dont_frag(), df, "{out} bytes");
        assert!(v4_ok(&p[..out]));
    }
}

#[test]
fn extension_headers_are_left_behind() {
    let udp = {
        let p = udp6(a6(CLIENT), 5000, a6(VIP), 53, b"hello");
        Ipv6Packet::new_checked(&p[..]).unwrap().payload().to_vec()
    };
    // A Destination Options header (8 bytes of padding) before UDP.
    let mut opts = vec![0u8; 8];
    opts[0] = proto::UDP; // wire-offsets: not a header (the test's own option bytes)
    opts[1] = 0; // wire-offsets: not a header
    opts[2] = 1; // wire-offsets: not a header (PadN)
    opts[3] = 4; // wire-offsets: not a header
    let mut p = ipv6_packet_ext(a6(CLIENT), a6(VIP), ipv6::ext::DEST_OPTIONS, &opts, &udp, 9);
    let len = p.len();
    let out = v6_to_v4(&mut p, len, 8, &to4(1025, 53), 1).unwrap();
    let ip = Ipv4Packet::new_checked(&p[..out]).unwrap();
    assert_eq!(ip.payload().len(), udp.len());
    assert_eq!(ip.ttl(), 8);
    assert!(v4_ok(&p[..out]));
    let u = UdpDatagram::new_checked(ip.payload()).unwrap();
    assert_eq!(u.payload(), b"hello");
}

#[test]
fn echo_both_ways() {
    let req = Icmpv6Repr::EchoRequest {
        ident: 77,
        seq_no: 3,
    };
    let mut p = icmp6(a6(CLIENT), a6(VIP), &req, b"ping data");
    let len = p.len();
    let out = v6_to_v4(&mut p, len, 0, &to4(1500, 0), 1).unwrap();
    let ip = Ipv4Packet::new_checked(&p[..out]).unwrap();
    assert_eq!(ip.protocol(), proto::ICMP);
    let m = IcmpPacket::new_checked(ip.payload()).unwrap();
    assert_eq!(
        (m.msg_type(), m.echo_ident(), m.echo_seq_no()),
        (8, 1500, 3)
    );
    assert!(m.verify_checksum());
    // The backend's reply, to the pool's identifier.
    let mut r = room(&icmp_echo(BACKEND, POOL, false, 1500, b"ping data"));
    let len = r.len() - 64;
    let out = v4_to_v6(&mut r, len, &to6(0, 77)).unwrap();
    let ip = Ipv6Packet::new_checked(&r[..out]).unwrap();
    assert_eq!(ip.next_header(), proto::ICMPV6);
    let m = Icmpv6Packet::new_checked(ip.payload()).unwrap();
    assert_eq!(
        (m.msg_type(), m.echo_ident()),
        (crate::wire::icmpv6::kind::ECHO_REPLY, 77)
    );
    assert!(m.verify_checksum(a6(VIP), a6(CLIENT)));
    assert!(v6_ok(&r[..out]));
}

#[test]
fn ipv4_reply_to_ipv6() {
    let r = tcp_repr(8080, 1025, tcp::flags::SYN | tcp::flags::ACK);
    let mut p = room(&tcp_packet(BACKEND, POOL, &r, b"payload!"));
    let len = p.len() - 64;
    Ipv4Packet::new_unchecked(&mut p[..]).set_dscp_ecn(0x28);
    let out = v4_to_v6(&mut p, len, &to6(80, 40000)).unwrap();
    assert_eq!(out, len + GROWTH);
    let ip = Ipv6Packet::new_checked(&p[..out]).unwrap();
    assert_eq!(ip.version(), 6);
    assert_eq!((ip.traffic_class(), ip.flow_label()), (0x28, 0));
    assert_eq!(ip.hop_limit(), 63);
    assert_eq!(
        (ip.src(), ip.dst(), ip.next_header()),
        (a6(VIP), a6(CLIENT), proto::TCP)
    );
    let t = TcpSegment::new_checked(ip.payload()).unwrap();
    assert_eq!((t.src_port(), t.dst_port()), (80, 40000));
    assert_eq!(t.payload(), b"payload!");
    assert!(v6_ok(&p[..out]));
}

#[test]
fn udp_without_checksum_gets_one() {
    let mut p = room(&crate::testkit::without_udp_checksum(udp_datagram(
        SocketAddrV4::new(BACKEND, 53),
        SocketAddrV4::new(POOL, 1025),
        b"answer",
    )));
    let len = p.len() - 64;
    let out = v4_to_v6(&mut p, len, &to6(53, 5000)).unwrap();
    let ip = Ipv6Packet::new_checked(&p[..out]).unwrap();
    let u = UdpDatagram::new_checked(ip.payload()).unwrap();
    assert_ne!(u.checksum(), 0);
    assert!(v6_ok(&p[..out]));
}

#[test]
fn refusals() {
    // A fragment.
    let mut p = room(&udp_datagram(
        SocketAddrV4::new(BACKEND, 53),
        SocketAddrV4::new(POOL, 1025),
        b"x",
    ));
    let len = p.len() - 64;
    Ipv4Packet::new_unchecked(&mut p[..]).set_flags_and_offset(false, true, 0);
    assert_eq!(v4_to_v6(&mut p, len, &to6(1, 1)), Err(Refused::Fragment));
    // No room for the larger header.
    let mut q = udp_datagram(
        SocketAddrV4::new(BACKEND, 53),
        SocketAddrV4::new(POOL, 1025),
        b"x",
    );
    let len = q.len();
    assert_eq!(v4_to_v6(&mut q, len, &to6(1, 1)), Err(Refused::NoRoom));
    // ICMPv6 that is not echo, another upper layer.
    let mut n = icmp6(
        a6(CLIENT),
        a6(VIP),
        &Icmpv6Repr::Other {
            msg_type: 135,
            code: 0,
            rest_of_header: 0,
        },
        &[0; 16],
    );
    let len = n.len();
    assert_eq!(
        v6_to_v4(&mut n, len, 0, &to4(1, 1), 0),
        Err(Refused::Untranslatable)
    );
    let mut g = crate::testkit::v6::ipv6_packet(a6(CLIENT), a6(VIP), proto::GRE, &[0; 8]);
    let len = g.len();
    assert_eq!(
        v6_to_v4(&mut g, len, 0, &to4(1, 1), 0),
        Err(Refused::Untranslatable)
    );
}

fn upper() -> impl Strategy<Value = u8> {
    prop_oneof![Just(proto::TCP), Just(proto::UDP), Just(proto::ICMPV6)]
}

proptest! {
    /// v6 → v4 → v6 gives back the client's packet (addresses, ports, payload) with valid
    /// checksums at each step, whatever the packet.
    #[test]
    fn round_trip(
        next in upper(),
        cport in 1u16..,
        vport in 1u16..,
        lport in 1u16..,
        bport in 1u16..,
        payload in proptest::collection::vec(any::<u8>(), 0..1400),
        hop in 2u8..,
        client in any::<u128>(),
    ) {
        let client = Ipv6Addr::from(client);
        let vip = a6(VIP);
        let orig = match next {
            proto::TCP => {
                let mut p = tcp6(client, cport, vip, vport, tcp::flags::ACK);
                p.extend_from_slice(&payload);
                let plen = (p.len() - ipv6::HEADER_LEN) as u16;
                let mut ip = Ipv6Packet::new_unchecked(&mut p[..]);
                ip.set_payload_len(plen);
                TcpSegment::new_unchecked(ip.payload_mut()).fill_checksum(client, vip);
                p
            }
            proto::UDP => udp6(client, cport, vip, vport, &payload),
            _ => icmp6(client, vip, &Icmpv6Repr::EchoRequest { ident: cport, seq_no: 9 }, &payload),
        };
        let mut orig = orig;
        Ipv6Packet::new_unchecked(&mut orig[..]).set_hop_limit(hop);
        let echo = next == proto::ICMPV6;
        let mut b = room(&orig);
        let len = orig.len();
        let fwd = to4(lport, if echo { 0 } else { bport });
        let n4 = v6_to_v4(&mut b, len, 0, &fwd, 1).unwrap();
        prop_assert!(v4_ok(&b[..n4]));
        // The backend answers with the ports swapped (an echo reply carries the pool's ident).
        {
            let mut ip = Ipv4Packet::new_unchecked(&mut b[..n4]);
            ip.set_src(BACKEND);
            ip.set_dst(POOL);
            ip.fill_checksum();
        }
        // Back as if the reverse flow: the translation of addresses and ports only, to
        // compare, so the reply is made from the translated packet with the roles exchanged.
        let back = Endpoints { src: client, src_port: cport, dst: vip, dst_port: if echo { 0 } else { vport } };
        // Swap the ports of the IPv4 packet's upper layer through a translation to the
        // original endpoints directly: v4 → v6 with `back`.
        let n6 = v4_to_v6(&mut b, n4, &back).unwrap();
        prop_assert_eq!(n6, len);
        prop_assert!(v6_ok(&b[..n6]));
        let ip = Ipv6Packet::new_checked(&b[..n6]).unwrap();
        prop_assert_eq!(ip.hop_limit(), hop - 2);
        // Everything but the hop limit is the client's packet again.
        let mut want = orig.clone();
        Ipv6Packet::new_unchecked(&mut want[..]).set_hop_limit(hop - 2);
        prop_assert_eq!(&b[..n6], &want[..]);
    }

    /// Arbitrary bytes are refused or translated, never a panic.
    #[test]
    fn never_panics(mut bytes in proptest::collection::vec(any::<u8>(), 0..200), at in 0usize..64, len in 0usize..300) {
        let l = len.min(bytes.len());
        let _ = v6_to_v4(&mut bytes, l, at, &to4(1, 2), 3);
        let _ = v4_to_v6(&mut bytes, l, &to6(1, 2));
        let _ = super::super::icmp::error_v4_to_v6(&mut bytes, l, &super::super::icmp::ToV6 {
            src: a6(VIP), dst: a6(CLIENT), quoted: to6(1, 2), mtu: 1500 });
        let _ = super::super::icmp::error_v6_to_v4(&mut bytes, l, &super::super::icmp::ToV4 {
            src: POOL, dst: BACKEND, quoted: to4(1, 2), ident: 0 });
    }
}
