//! ICMP error translation both ways, checked field by field with checksums computed whole.

use std::net::{Ipv4Addr, Ipv6Addr};

use proptest::prelude::*;

use super::*;
use crate::frames::{icmp_packet, tcp_packet, tcp_repr};
use crate::pmtu;
use crate::testkit::v6::{a6, icmp6, tcp6};
use crate::wire::checksum;
use crate::wire::{tcp, TcpSegment, UdpDatagram};

const CLIENT: &str = "2001:db8:c::1";
const VIP: &str = "2001:db8:1::80";
const ROUTER6: &str = "2001:db8:64::c612:101";
const POOL: Ipv4Addr = Ipv4Addr::new(198, 19, 0, 1);
const BACKEND: Ipv4Addr = Ipv4Addr::new(198, 18, 2, 10);
const ROUTER: Ipv4Addr = Ipv4Addr::new(198, 18, 1, 1);

/// What the pool sent the backend: a 1400-byte TCP segment, as a router quotes it (whole).
fn offending_v4() -> Vec<u8> {
    tcp_packet(
        POOL,
        BACKEND,
        &tcp_repr(1025, 8080, tcp::flags::ACK),
        &[5u8; 1360],
    )
}

fn to_v6() -> ToV6 {
    ToV6 {
        src: a6(ROUTER6),
        dst: a6(CLIENT),
        quoted: Endpoints {
            src: a6(CLIENT),
            src_port: 40000,
            dst: a6(VIP),
            dst_port: 80,
        },
        mtu: 1500,
    }
}

fn with_room(p: Vec<u8>) -> (Vec<u8>, usize) {
    let len = p.len();
    let mut b = p;
    b.resize(len + 128, 0);
    (b, len)
}

fn v4_error(m: &IcmpRepr, quote: &[u8]) -> (Vec<u8>, usize) {
    let cut = quote.len().min(pmtu::MAX_QUOTE);
    with_room(icmp_packet(ROUTER, POOL, m, &quote[..cut]))
}

/// The translated error's outer header, ICMPv6 checksum (computed whole) and quoted packet.
fn check_v6_error(b: &[u8], out: usize) -> (Icmpv6Repr, Vec<u8>) {
    let ip = Ipv6Packet::new_checked(&b[..out]).unwrap();
    assert_eq!(out, ipv6::HEADER_LEN + usize::from(ip.payload_len()));
    assert!(out <= MAX_V6_ERROR);
    assert_eq!(
        (ip.src(), ip.dst(), ip.next_header()),
        (a6(ROUTER6), a6(CLIENT), proto::ICMPV6)
    );
    assert_eq!(ip.hop_limit(), 63);
    let m = Icmpv6Packet::new_checked(ip.payload()).unwrap();
    let sum =
        checksum::pseudo_header_v6(ip.src(), ip.dst(), proto::ICMPV6, ip.payload().len() as u32)
            + checksum::sum(ip.payload());
    assert_eq!(checksum::fold(sum), 0xffff, "ICMPv6 checksum");
    let q = m.quoted().to_vec();
    (Icmpv6Repr::parse(&m), q)
}

#[test]
fn frag_needed_becomes_packet_too_big_about_the_client_packet() {
    let off = offending_v4();
    let m = IcmpRepr::DestUnreachable {
        code: icmp::code::FRAG_NEEDED,
        next_hop_mtu: 1280,
    };
    let (mut b, len) = v4_error(&m, &off);
    let out = error_v4_to_v6(&mut b, len, &to_v6()).unwrap();
    let (head, quote) = check_v6_error(&b, out);
    let q = Ipv6Packet::new_unchecked(&quote[..]);
    assert_eq!(head, Icmpv6Repr::PacketTooBig { mtu: 1300 });
    // The quote is the client's packet: client → VIP, its ports, its original length.
    assert_eq!(
        (q.src(), q.dst(), q.next_header()),
        (a6(CLIENT), a6(VIP), proto::TCP)
    );
    assert_eq!(usize::from(q.payload_len()), off.len() - 20);
    assert_eq!(q.hop_limit(), 64);
    let t = TcpSegment::new_quoted(&quote[ipv6::HEADER_LEN..]).unwrap();
    assert_eq!((t.src_port(), t.dst_port()), (40000, 80));
    // Quoted whole (548 bytes of IPv4 quote grow by 20): its checksum still verifies.
    let l4 = &quote[ipv6::HEADER_LEN..];
    if l4.len() == usize::from(q.payload_len()) {
        assert!(TcpSegment::new_checked(l4)
            .unwrap()
            .verify_checksum(a6(CLIENT), a6(VIP)));
    }
}

#[test]
fn mtu_rules() {
    // No MTU (a pre-RFC 1191 router): the plateau below the quoted Total Length, plus 20.
    assert_eq!(plateau(1400), 1006);
    assert_eq!(plateau(1500), 1492);
    assert_eq!(plateau(60), 68);
    let m = IcmpRepr::DestUnreachable {
        code: icmp::code::FRAG_NEEDED,
        next_hop_mtu: 0,
    };
    assert_eq!(
        map_v4_error(&m, 1400, 1500),
        Some(Icmpv6Repr::PacketTooBig { mtu: 1026 })
    );
    // Never above the MTU towards the IPv6 host.
    let m = IcmpRepr::DestUnreachable {
        code: icmp::code::FRAG_NEEDED,
        next_hop_mtu: 1500,
    };
    assert_eq!(
        map_v4_error(&m, 1500, 1500),
        Some(Icmpv6Repr::PacketTooBig { mtu: 1500 })
    );
    assert_eq!(
        map_v6_error(&Icmpv6Repr::PacketTooBig { mtu: 1280 }),
        Some(IcmpRepr::DestUnreachable {
            code: icmp::code::FRAG_NEEDED,
            next_hop_mtu: 1260
        })
    );
}

#[test]
fn type_and_code_tables() {
    let du = |code| IcmpRepr::DestUnreachable {
        code,
        next_hop_mtu: 0,
    };
    let du6 = |code| Some(Icmpv6Repr::DestUnreachable { code });
    assert_eq!(map_v4_error(&du(0), 100, 1500), du6(0));
    assert_eq!(map_v4_error(&du(1), 100, 1500), du6(0));
    assert_eq!(map_v4_error(&du(3), 100, 1500), du6(4));
    assert_eq!(map_v4_error(&du(13), 100, 1500), du6(1));
    assert_eq!(
        map_v4_error(&du(2), 100, 1500),
        Some(Icmpv6Repr::ParamProblem {
            code: 1,
            pointer: 6
        })
    );
    assert_eq!(map_v4_error(&du(14), 100, 1500), None);
    assert_eq!(
        map_v4_error(&IcmpRepr::TimeExceeded { code: 1 }, 100, 1500),
        Some(Icmpv6Repr::TimeExceeded { code: 1 })
    );
    let pp = |ptr: u32| IcmpRepr::Other {
        msg_type: icmp::kind::PARAMETER_PROBLEM,
        code: 0,
        rest_of_header: ptr << 24,
    };
    assert_eq!(
        map_v4_error(&pp(9), 100, 1500),
        Some(Icmpv6Repr::ParamProblem {
            code: 0,
            pointer: 6
        })
    );
    assert_eq!(
        map_v4_error(&pp(16), 100, 1500),
        Some(Icmpv6Repr::ParamProblem {
            code: 0,
            pointer: 24
        })
    );
    assert_eq!(
        map_v4_error(&pp(4), 100, 1500),
        None,
        "Identification: none in IPv6"
    );
    // Redirect, source quench: no translation.
    for t in [4u8, 5] {
        let m = IcmpRepr::Other {
            msg_type: t,
            code: 0,
            rest_of_header: 0,
        };
        assert_eq!(map_v4_error(&m, 100, 1500), None);
    }
    assert_eq!(
        map_v6_error(&Icmpv6Repr::DestUnreachable { code: 4 }),
        Some(du(3))
    );
    assert_eq!(
        map_v6_error(&Icmpv6Repr::DestUnreachable { code: 1 }),
        Some(du(10))
    );
    assert_eq!(
        map_v6_error(&Icmpv6Repr::ParamProblem {
            code: 1,
            pointer: 6
        }),
        Some(du(2))
    );
    assert_eq!(
        map_v6_error(&Icmpv6Repr::ParamProblem {
            code: 0,
            pointer: 7
        }),
        Some(IcmpRepr::Other {
            msg_type: icmp::kind::PARAMETER_PROBLEM,
            code: 0,
            rest_of_header: 8 << 24
        })
    );
    assert_eq!(
        map_v6_error(&Icmpv6Repr::ParamProblem {
            code: 2,
            pointer: 0
        }),
        None
    );
    assert_eq!(
        map_v6_error(&Icmpv6Repr::TimeExceeded { code: 0 }),
        Some(IcmpRepr::TimeExceeded { code: 0 })
    );
}

#[test]
fn time_exceeded_from_the_backend_side_with_a_short_quote() {
    let off = offending_v4();
    // RFC 792's least quote: the header and 8 bytes (no TCP checksum in it).
    let (mut b, len) = v4_error(&IcmpRepr::TimeExceeded { code: 0 }, &off[..28]);
    let out = error_v4_to_v6(&mut b, len, &to_v6()).unwrap();
    let (head, q) = check_v6_error(&b, out);
    assert_eq!(head, Icmpv6Repr::TimeExceeded { code: 0 });
    assert_eq!(out, 40 + 8 + 40 + 8);
    let t = TcpSegment::new_quoted(&q[ipv6::HEADER_LEN..]).unwrap();
    assert_eq!((t.src_port(), t.dst_port()), (40000, 80));
}

#[test]
fn packet_too_big_from_the_client_side_becomes_frag_needed() {
    // What we sent the client: VIP:80 → client:40000, 1400 bytes; the client's link says 1280.
    let mut sent = tcp6(a6(VIP), 80, a6(CLIENT), 40000, tcp::flags::ACK);
    sent.extend_from_slice(&[9u8; 1340]);
    let plen = (sent.len() - ipv6::HEADER_LEN) as u16;
    {
        let mut ip = Ipv6Packet::new_unchecked(&mut sent[..]);
        ip.set_payload_len(plen);
        TcpSegment::new_unchecked(ip.payload_mut()).fill_checksum(a6(VIP), a6(CLIENT));
    }
    let cut = MAX_V6_ERROR - ipv6::HEADER_LEN - crate::wire::icmpv6::HEADER_LEN;
    let quote = &sent[..cut];
    let mut b = icmp6(
        a6(CLIENT),
        a6(VIP),
        &Icmpv6Repr::PacketTooBig { mtu: 1280 },
        quote,
    );
    let len = b.len();
    let to = ToV4 {
        src: POOL,
        dst: BACKEND,
        quoted: Endpoints {
            src: BACKEND,
            src_port: 8080,
            dst: POOL,
            dst_port: 1025,
        },
        ident: 42,
    };
    let out = error_v6_to_v4(&mut b, len, &to).unwrap();
    assert!(out <= MAX_V4_ERROR);
    let ip = Ipv4Packet::new_checked(&b[..out]).unwrap();
    assert!(ip.verify_checksum());
    assert_eq!(
        (ip.src(), ip.dst(), ip.protocol()),
        (POOL, BACKEND, proto::ICMP)
    );
    assert_eq!(
        (ip.ttl(), ip.ident(), usize::from(ip.total_len())),
        (63, 42, out)
    );
    let m = IcmpPacket::new_checked(ip.payload()).unwrap();
    assert!(m.verify_checksum());
    assert_eq!(
        IcmpRepr::parse(&m),
        IcmpRepr::DestUnreachable {
            code: icmp::code::FRAG_NEEDED,
            next_hop_mtu: 1260
        }
    );
    let q = Ipv4Packet::new_quoted(m.quoted()).unwrap();
    assert!(q.verify_checksum());
    assert_eq!(
        (q.src(), q.dst(), q.protocol()),
        (BACKEND, POOL, proto::TCP)
    );
    assert_eq!(usize::from(q.total_len()), sent.len() - 20);
    let t = TcpSegment::new_quoted(&m.quoted()[ipv4::MIN_HEADER_LEN..]).unwrap();
    assert_eq!((t.src_port(), t.dst_port()), (8080, 1025));
}

#[test]
fn untranslatable_errors_are_refused() {
    let off = offending_v4();
    let redirect = IcmpRepr::Other {
        msg_type: 5,
        code: 1,
        rest_of_header: 0,
    };
    let (mut b, len) = v4_error(&redirect, &off);
    assert_eq!(
        error_v4_to_v6(&mut b, len, &to_v6()),
        Err(Refused::Untranslatable)
    );
    // A quote of a protocol with no translation.
    let gre = crate::frames::ipv4_packet(POOL, BACKEND, proto::GRE, &[0; 16]);
    let (mut b, len) = v4_error(&IcmpRepr::TimeExceeded { code: 0 }, &gre);
    assert_eq!(
        error_v4_to_v6(&mut b, len, &to_v6()),
        Err(Refused::Untranslatable)
    );
}

proptest! {
    /// A UDP datagram quoted whole in a v4 error comes out with a checksum that verifies
    /// against the client's addresses, whatever the payload.
    #[test]
    fn quoted_udp_checksums_follow(payload in proptest::collection::vec(any::<u8>(), 0..400), code in 0u8..16) {
        let off = crate::frames::udp_datagram(
            std::net::SocketAddrV4::new(POOL, 1025),
            std::net::SocketAddrV4::new(BACKEND, 53),
            &payload,
        );
        let m = IcmpRepr::DestUnreachable { code, next_hop_mtu: 0 };
        let (mut b, len) = v4_error(&m, &off);
        let mut to = to_v6();
        to.quoted.dst_port = 53;
        match error_v4_to_v6(&mut b, len, &to) {
            Ok(out) => {
                let (_, q) = check_v6_error(&b, out);
                let l4 = &q[ipv6::HEADER_LEN..];
                let u = UdpDatagram::new_checked(l4).unwrap();
                prop_assert!(u.verify_checksum::<Ipv6Addr>(a6(CLIENT), a6(VIP)));
            }
            Err(e) => prop_assert_eq!(e, Refused::Untranslatable),
        }
    }
}
