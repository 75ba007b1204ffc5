//! The steering program's classification, run in the kernel with `BPF_PROG_TEST_RUN` on crafted
//! frames (root, no namespaces needed). Loaded with `Unbound::Drop`, an owned frame comes back
//! as XDP_DROP (its queue has no socket here) and anything else as XDP_PASS.

use std::collections::BTreeSet;
use std::net::{Ipv4Addr, SocketAddrV4};

use appliance::dataplaned::xdp::steer::{OwnedKey, OwnedMap, Program, Unbound, XDP_DROP, XDP_PASS};
use dataplane::frames::{self, L2};
use dataplane::wire::tcp::flags::{ACK, SYN};
use dataplane::wire::MacAddr;

const VIP: Ipv4Addr = Ipv4Addr::new(198, 18, 1, 1);
const PING_VIP: Ipv4Addr = Ipv4Addr::new(198, 18, 1, 2);
const CLIENT: Ipv4Addr = Ipv4Addr::new(198, 18, 0, 7);
const BACKEND: Ipv4Addr = Ipv4Addr::new(198, 18, 2, 1);
const HOST: Ipv4Addr = Ipv4Addr::new(198, 18, 2, 254);
const ROUTER: Ipv4Addr = Ipv4Addr::new(198, 18, 0, 254);
const POOL: Ipv4Addr = Ipv4Addr::new(198, 19, 0, 1);
const SITE: Ipv4Addr = Ipv4Addr::new(198, 18, 8, 10);
const TUNNEL_LOCAL: Ipv4Addr = Ipv4Addr::new(198, 18, 8, 1);
const SERVER: Ipv4Addr = Ipv4Addr::new(198, 19, 1, 1);
/// A pool's `sources` prefix, and two hosts in it.
const INSIDE: Ipv4Addr = Ipv4Addr::new(198, 18, 96, 9);
const INSIDE2: Ipv4Addr = Ipv4Addr::new(198, 18, 96, 10);

const L2: L2 = L2 {
    src: MacAddr([2, 0, 0, 0, 0, 1]),
    dst: MacAddr([2, 0, 0, 0, 0, 2]),
};

fn sa(a: Ipv4Addr, p: u16) -> SocketAddrV4 {
    SocketAddrV4::new(a, p)
}

fn eth(ip: &[u8]) -> Vec<u8> {
    frames::ethernet(L2, ip)
}

fn program() -> (OwnedMap, Program) {
    netns_tests::require_root();
    let mut owned = OwnedMap::create().expect("map");
    let keys: BTreeSet<OwnedKey> = [
        OwnedKey::service(VIP, 80, 6),
        OwnedKey::service(VIP, 53, 17),
        OwnedKey::service(PING_VIP, 0, 1),
        OwnedKey::backend(BACKEND, 8080, 6),
        OwnedKey::backend(BACKEND, 5353, 17),
        OwnedKey::backend(BACKEND, 0, 1),
        OwnedKey::local(HOST),
        OwnedKey::local(POOL),
        OwnedKey::pool(POOL),
        OwnedKey::gre_remote(SITE),
    ]
    .into();
    owned.set_keys(&keys).expect("keys");
    owned
        .set_sources(&[(Ipv4Addr::new(198, 18, 96, 0), 24)].into())
        .expect("sources");
    assert!(owned.has_key(&OwnedKey::local(HOST)).unwrap());
    let prog = Program::load_with(&owned, 4, Unbound::Drop).expect("program loads");
    (owned, prog)
}

#[test]
fn owned_frames_are_redirected() {
    let (_owned, prog) = program();
    let to_backend = frames::tcp_segment(sa(CLIENT, 40000), sa(BACKEND, 8080), SYN, b"");
    let to_client = frames::tcp_segment(sa(VIP, 80), sa(CLIENT, 40000), SYN | ACK, b"");
    let cases: Vec<(&str, Vec<u8>)> = vec![
        (
            "tcp to the service",
            eth(&frames::tcp_segment(
                sa(CLIENT, 40000),
                sa(VIP, 80),
                SYN,
                b"",
            )),
        ),
        (
            "udp to the service",
            eth(&frames::udp_datagram(sa(CLIENT, 5000), sa(VIP, 53), b"q")),
        ),
        (
            "a backend's reply to a client",
            eth(&frames::tcp_segment(
                sa(BACKEND, 8080),
                sa(CLIENT, 40000),
                ACK,
                b"",
            )),
        ),
        (
            "udp reply",
            eth(&frames::udp_datagram(
                sa(BACKEND, 5353),
                sa(CLIENT, 5000),
                b"a",
            )),
        ),
        (
            "ping to an ICMP service",
            eth(&frames::icmp_echo(CLIENT, PING_VIP, true, 7, b"x")),
        ),
        (
            "echo reply from a backend",
            eth(&frames::icmp_echo(BACKEND, CLIENT, false, 7, b"x")),
        ),
        (
            "ICMP error about our reply",
            eth(&frames::icmp_error(ROUTER, VIP, 3, 1, &to_client, 28)),
        ),
        (
            "ICMP error about our request",
            eth(&frames::icmp_error(BACKEND, CLIENT, 3, 3, &to_backend, 28)),
        ),
        (
            "a server's reply to a pool address (also a host address)",
            eth(&frames::tcp_segment(
                sa(SERVER, 443),
                sa(POOL, 40001),
                SYN | ACK,
                b"",
            )),
        ),
        (
            "a FullNAT backend's reply to a pool address",
            eth(&frames::tcp_segment(
                sa(BACKEND, 8080),
                sa(POOL, 40001),
                ACK,
                b"",
            )),
        ),
        (
            "udp to a pool address",
            eth(&frames::udp_datagram(sa(SERVER, 53), sa(POOL, 40001), b"a")),
        ),
        (
            "echo reply to a pool address",
            eth(&frames::icmp_echo(SERVER, POOL, false, 40001, b"x")),
        ),
        (
            "ICMP error about a packet from a pool address",
            eth(&frames::icmp_error(
                ROUTER,
                POOL,
                3,
                1,
                &frames::udp_datagram(sa(POOL, 40001), sa(SERVER, 53), b"q"),
                28,
            )),
        ),
        (
            "tcp from an inside prefix to the outside",
            eth(&frames::tcp_segment(
                sa(INSIDE, 40000),
                sa(SERVER, 443),
                SYN,
                b"",
            )),
        ),
        (
            "from an inside prefix to just below 224/3 and beside 169.254/16",
            eth(&frames::udp_datagram(
                sa(INSIDE, 5000),
                sa(Ipv4Addr::new(223, 255, 255, 1), 53),
                b"q",
            )),
        ),
        (
            "from an inside prefix to 169.253/16",
            eth(&frames::udp_datagram(
                sa(INSIDE, 5000),
                sa(Ipv4Addr::new(169, 253, 0, 1), 53),
                b"q",
            )),
        ),
        (
            "ping from an inside prefix to the outside",
            eth(&frames::icmp_echo(INSIDE, SERVER, true, 3, b"x")),
        ),
        (
            "an inside host's ICMP error about a reply we delivered",
            eth(&frames::icmp_error(
                INSIDE,
                SERVER,
                3,
                3,
                &frames::udp_datagram(sa(SERVER, 53), sa(INSIDE, 5000), b"a"),
                28,
            )),
        ),
        (
            "GRE from a tunnel remote",
            eth(&frames::gre_packet(
                SITE,
                TUNNEL_LOCAL,
                Some(7),
                &frames::udp_datagram(sa(CLIENT, 5000), sa(SERVER, 53), b"q"),
            )),
        ),
    ];
    for (what, frame) in cases {
        assert_eq!(prog.test_run(&frame, 1).unwrap().0, XDP_DROP, "{what}");
    }
}

#[test]
fn everything_else_goes_to_the_kernel() {
    let (_owned, prog) = program();
    let mut arp = eth(&[0u8; 28]);
    arp[12..14].copy_from_slice(&0x0806u16.to_be_bytes());
    let mut v6 = vec![0u8; 14 + 40 + 8];
    v6[12..14].copy_from_slice(&0x86ddu16.to_be_bytes());
    v6[14] = 0x60;
    v6[18..20].copy_from_slice(&8u16.to_be_bytes());
    v6[20] = 17;
    let mut fragment = eth(&frames::tcp_segment(sa(CLIENT, 1), sa(VIP, 80), SYN, b""));
    fragment[14 + 6] |= 0x20;
    let mut options = eth(&frames::tcp_segment(sa(CLIENT, 1), sa(VIP, 80), SYN, b""));
    options[14] = 0x46;
    let mut vrrp = frames::ipv4_packet(HOST, Ipv4Addr::new(224, 0, 0, 18), 112, &[0; 20]);
    vrrp[9] = 112;
    let health_check = frames::tcp_segment(sa(HOST, 33000), sa(BACKEND, 8080), SYN, b"");
    let cases: Vec<(&str, Vec<u8>)> = vec![
        ("ARP", arp),
        ("IPv6", v6),
        (
            "SSH to the VIP",
            eth(&frames::tcp_segment(sa(CLIENT, 1), sa(VIP, 22), SYN, b"")),
        ),
        (
            "udp to a tcp service port",
            eth(&frames::udp_datagram(sa(CLIENT, 1), sa(VIP, 80), b"")),
        ),
        (
            "ping to a VIP without an ICMP service",
            eth(&frames::icmp_echo(CLIENT, VIP, true, 1, b"")),
        ),
        (
            "a backend's reply to the host",
            eth(&frames::tcp_segment(
                sa(BACKEND, 8080),
                sa(HOST, 33000),
                SYN | ACK,
                b"",
            )),
        ),
        (
            "ICMP error about the host's own packet",
            eth(&frames::icmp_error(BACKEND, HOST, 3, 3, &health_check, 28)),
        ),
        (
            "ping to a pool address",
            eth(&frames::icmp_echo(SERVER, POOL, true, 1, b"")),
        ),
        (
            "an inside prefix to the host itself",
            eth(&frames::tcp_segment(
                sa(INSIDE, 40000),
                sa(HOST, 22),
                SYN,
                b"",
            )),
        ),
        (
            "inside to inside",
            eth(&frames::udp_datagram(
                sa(INSIDE, 5000),
                sa(INSIDE2, 53),
                b"q",
            )),
        ),
        (
            "an inside host's mDNS (multicast)",
            eth(&frames::udp_datagram(
                sa(INSIDE, 5353),
                sa(Ipv4Addr::new(224, 0, 0, 251), 5353),
                b"q",
            )),
        ),
        (
            "an inside host's limited broadcast",
            eth(&frames::udp_datagram(
                sa(INSIDE, 68),
                sa(Ipv4Addr::BROADCAST, 67),
                b"q",
            )),
        ),
        (
            "an inside host to a link-local address",
            eth(&frames::udp_datagram(
                sa(INSIDE, 5000),
                sa(Ipv4Addr::new(169, 254, 169, 254), 80),
                b"q",
            )),
        ),
        (
            "an inside host's ICMP error about the host's own packet",
            eth(&frames::icmp_error(
                INSIDE,
                HOST,
                3,
                3,
                &frames::udp_datagram(sa(HOST, 53), sa(INSIDE, 5000), b"a"),
                28,
            )),
        ),
        (
            "GRE from elsewhere",
            eth(&frames::gre_packet(
                ROUTER,
                TUNNEL_LOCAL,
                None,
                &frames::udp_datagram(sa(CLIENT, 5000), sa(SERVER, 53), b"q"),
            )),
        ),
        ("fragment", fragment),
        ("IP options", options),
        ("VRRP", eth(&vrrp)),
        ("truncated", eth(&[0x45, 0, 0, 20])[..20].to_vec()),
    ];
    for (what, frame) in cases {
        assert_eq!(prog.test_run(&frame, 1).unwrap().0, XDP_PASS, "{what}");
    }
}

/// The daemon's own program (`Program::load`) when its sockets are gone, as after the daemon
/// was killed: what it owned on a served queue is dropped (the peer that took the addresses
/// over carries the flows on once the clients retransmit), not passed to a kernel that still
/// has the virtual addresses and would reset every connection. What it does not own still
/// reaches the kernel.
#[test]
fn a_killed_daemons_program_drops_what_it_owned() {
    let (owned, _) = program();
    let prog = Program::load(&owned, 4).expect("program loads");
    let to_vip = eth(&frames::tcp_segment(
        sa(CLIENT, 40000),
        sa(VIP, 80),
        ACK,
        b"x",
    ));
    assert_eq!(prog.test_run(&to_vip, 1).unwrap().0, XDP_DROP);
    let not_ours = eth(&frames::tcp_segment(
        sa(CLIENT, 40000),
        sa(VIP, 22),
        SYN,
        b"",
    ));
    assert_eq!(prog.test_run(&not_ours, 1).unwrap().0, XDP_PASS);
}
