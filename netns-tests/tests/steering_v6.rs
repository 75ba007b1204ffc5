//! The steering program's IPv6 half, run in the kernel with `BPF_PROG_TEST_RUN` on crafted
//! frames (root, no namespaces needed), every rule of `dataplane::steering::v6` with its
//! extension headers, fragments and truncations. Loaded with `Unbound::Drop`, an owned frame
//! comes back as XDP_DROP and anything else as XDP_PASS; each answer is also asked of the Rust
//! rules over the snapshot the keys come from, which must agree.

use std::net::Ipv6Addr;

use appliance::dataplaned::spec::owned_keys_v6;
use appliance::dataplaned::xdp::steer::{
    OwnedKeyV6, OwnedMap, Program, Unbound, XDP_DROP, XDP_PASS,
};
use dataplane::snapshot::Snapshot;
use dataplane::steering;
use dataplane::testkit::l2;
use dataplane::testkit::v6::{
    a6, eth6, icmp6, ipv6_packet, ipv6_packet_ext, snapshot6, spec6, tcp6, udp6, BACKEND, CLIENT,
    POOL, VIP, VIP_FULLNAT,
};
use dataplane::wire::ipv6::ext;
use dataplane::wire::tcp::flags::{ACK, SYN};
use dataplane::wire::{proto, Icmpv6Repr};

/// The fixture's host address (its `locals`).
const HOST: &str = "2001:db8:2::1";
const ROUTER: &str = "2001:db8:c::fe";
const OTHER: &str = "2001:db8:7::7";

struct World {
    snap: Snapshot,
    prog: Program,
    _owned: OwnedMap,
}

fn world() -> World {
    netns_tests::require_root();
    let mut owned = OwnedMap::create().expect("maps");
    let keys = owned_keys_v6(&spec6(2));
    owned.set_keys_v6(&keys).expect("keys");
    assert!(owned.has_key_v6(&OwnedKeyV6::local(a6(HOST))).unwrap());
    assert_eq!(owned.keys_v6(), &keys);
    let prog = Program::load_with(&owned, 4, Unbound::Drop).expect("program loads");
    World {
        snap: snapshot6(2, 1),
        prog,
        _owned: owned,
    }
}

impl World {
    /// The program's answer, checked against the Rust rules.
    fn owns(&self, frame: &[u8], what: &str) -> bool {
        let (action, _) = self.prog.test_run(frame, 1).expect("BPF_PROG_TEST_RUN");
        assert!(action == XDP_DROP || action == XDP_PASS, "{what}: {action}");
        let xdp = action == XDP_DROP;
        assert_eq!(
            xdp,
            steering::owns(&self.snap, frame),
            "{what}: XDP and dataplane::steering disagree ({} bytes)",
            frame.len()
        );
        xdp
    }
}

fn eth(ip: &[u8]) -> Vec<u8> {
    eth6(l2(1, 2), ip)
}

/// An extension header of `units` 8-octet units beyond the first 8, naming `next`.
fn opt(next: u8, units: u8) -> Vec<u8> {
    let mut h = vec![0u8; 8 + 8 * usize::from(units)];
    (h[0], h[1]) = (next, units);
    h
}

fn fragment(next: u8, offset_flags: u16) -> Vec<u8> {
    let mut h = vec![next, 0];
    h.extend_from_slice(&offset_flags.to_be_bytes());
    h.extend_from_slice(&[0, 0, 0x12, 0x34]);
    h
}

/// `ip`'s upper layer moved behind the extension headers `chain` (first next header `first`,
/// the last header naming `ip`'s own next header).
fn behind(ip: &[u8], first: u8, chain: &[u8]) -> Vec<u8> {
    let (src, dst) = (addr(&ip[8..24]), addr(&ip[24..40]));
    ipv6_packet_ext(src, dst, first, chain, &ip[40..], ip[7])
}

fn addr(b: &[u8]) -> Ipv6Addr {
    Ipv6Addr::from(<[u8; 16]>::try_from(b).unwrap())
}

fn echo(src: &str, dst: &str, request: bool) -> Vec<u8> {
    let r = if request {
        Icmpv6Repr::EchoRequest {
            ident: 7,
            seq_no: 1,
        }
    } else {
        Icmpv6Repr::EchoReply {
            ident: 7,
            seq_no: 1,
        }
    };
    icmp6(a6(src), a6(dst), &r, b"ping")
}

/// An ICMPv6 error from `from` to `to` quoting `quoted` (cut to `n` bytes).
fn error(from: &str, to: &str, r: Icmpv6Repr, quoted: &[u8], n: usize) -> Vec<u8> {
    icmp6(a6(from), a6(to), &r, &quoted[..n.min(quoted.len())])
}

const PTB: Icmpv6Repr = Icmpv6Repr::PacketTooBig { mtu: 1280 };
const UNREACH: Icmpv6Repr = Icmpv6Repr::DestUnreachable { code: 4 };

fn other(msg_type: u8) -> Icmpv6Repr {
    Icmpv6Repr::Other {
        msg_type,
        code: 0,
        rest_of_header: 0,
    }
}

#[test]
fn owned_ipv6_frames_are_redirected() {
    let w = world();
    let (client, vip, backend) = (a6(CLIENT), a6(VIP), a6(BACKEND));
    let syn = tcp6(client, 40000, vip, 80, SYN);
    let reply = tcp6(backend, 8080, client, 40000, SYN | ACK);
    let translated_reply = tcp6(vip, 80, client, 40000, SYN | ACK);
    let to_backend = tcp6(client, 40000, backend, 8080, SYN);
    let cases: Vec<(&str, Vec<u8>)> = vec![
        ("TCP to a service", syn.clone()),
        ("UDP to a service", udp6(client, 5000, vip, 53, b"q")),
        (
            "TCP to another port of a VIP",
            tcp6(client, 1, vip, 22, SYN),
        ),
        (
            "another protocol to a VIP",
            ipv6_packet(client, vip, 132, &[0; 12]),
        ),
        (
            "TCP to a pool address",
            tcp6(a6(OTHER), 443, a6(POOL), 30000, SYN | ACK),
        ),
        ("a backend's TCP reply", reply.clone()),
        (
            "a backend's UDP reply",
            udp6(backend, 53, client, 5000, b"a"),
        ),
        ("echo request to an ICMPv6 service", echo(CLIENT, VIP, true)),
        (
            "echo reply from an ICMPv6 backend",
            echo(BACKEND, CLIENT, false),
        ),
        ("echo reply to a pool address", echo(OTHER, POOL, false)),
        (
            "Packet Too Big quoting our reply",
            error(ROUTER, CLIENT, PTB, &translated_reply, 1232),
        ),
        (
            "unreachable quoting our request to a backend",
            error(ROUTER, CLIENT, UNREACH, &to_backend, 48),
        ),
        (
            "an error quoting a packet from a pool address",
            error(
                ROUTER,
                POOL,
                UNREACH,
                &ipv6_packet(a6(POOL), a6(OTHER), 132, &[0; 8]),
                48,
            ),
        ),
        (
            "an error quoting our echo reply",
            error(ROUTER, CLIENT, UNREACH, &echo(VIP, CLIENT, false), 48),
        ),
        (
            "an error quoting an echo request to an ICMPv6 backend",
            error(ROUTER, CLIENT, UNREACH, &echo(CLIENT, BACKEND, true), 48),
        ),
        (
            "Hop-by-Hop, then TCP to a service",
            behind(&syn, ext::HOP_BY_HOP, &opt(proto::TCP, 0)),
        ),
        (
            "Hop-by-Hop and Destination Options, then a backend's reply",
            behind(
                &reply,
                ext::HOP_BY_HOP,
                &[opt(ext::DEST_OPTIONS, 1), opt(proto::TCP, 2)].concat(),
            ),
        ),
        (
            "a 64-byte Destination Options header (the longest chain followed), then a backend's reply",
            behind(&reply, ext::DEST_OPTIONS, &opt(proto::TCP, 7)),
        ),
        (
            "a fragment to a VIP",
            behind(&syn, ext::FRAGMENT, &fragment(proto::TCP, 0x0001)),
        ),
        (
            "a routing header to a VIP",
            behind(&syn, ext::ROUTING, &opt(proto::TCP, 0)),
        ),
        (
            "three Destination Options headers to a VIP",
            behind(
                &syn,
                ext::DEST_OPTIONS,
                &[
                    opt(ext::DEST_OPTIONS, 0),
                    opt(ext::DEST_OPTIONS, 0),
                    opt(proto::TCP, 0),
                ]
                .concat(),
            ),
        ),
        (
            "an extension header longer than the frame, to a VIP",
            ipv6_packet_ext(
                client,
                vip,
                ext::DEST_OPTIONS,
                &opt(proto::TCP, 3)[..30],
                &[],
                64,
            ),
        ),
        ("TCP to a VIP without its ports", syn[..42].to_vec()),
        (
            "ICMPv6 to a VIP shorter than its header",
            ipv6_packet(client, vip, proto::ICMPV6, &[128, 0, 0, 0]),
        ),
        (
            "ESP to a pool address",
            ipv6_packet(a6(OTHER), a6(POOL), ext::ESP, &[0; 16]),
        ),
    ];
    for (what, ip) in cases {
        assert!(w.owns(&eth(&ip), what), "{what}: passed");
    }
}

#[test]
fn other_ipv6_frames_go_to_the_kernel() {
    let w = world();
    let (client, vip, backend, host) = (a6(CLIENT), a6(VIP), a6(BACKEND), a6(HOST));
    let reply = tcp6(backend, 8080, client, 40000, SYN | ACK);
    let translated_reply = tcp6(vip, 80, client, 40000, SYN | ACK);
    let cases: Vec<(&str, Vec<u8>)> = vec![
        (
            "a backend's reply to the host's health check",
            tcp6(backend, 8080, host, 40000, SYN | ACK),
        ),
        (
            "a backend's reply behind more than 64 bytes of extension headers",
            behind(&reply, ext::DEST_OPTIONS, &opt(proto::TCP, 8)),
        ),
        (
            "a backend's reply from another port",
            tcp6(backend, 22, client, 40000, ACK),
        ),
        (
            "a direct-return backend's own packets",
            tcp6(backend, 80, client, 40000, ACK),
        ),
        ("TCP between strangers", tcp6(client, 1, a6(OTHER), 80, SYN)),
        ("TCP to the host", tcp6(client, 1, host, 22, SYN)),
        (
            "neighbour solicitation for a VIP",
            icmp6(client, vip, &other(135), &[0; 20]),
        ),
        (
            "MLD report to a VIP",
            icmp6(client, vip, &other(143), &[0; 20]),
        ),
        (
            "router advertisement",
            icmp6(a6(ROUTER), vip, &other(134), &[0; 8]),
        ),
        (
            "an ICMPv6 type 0 to a VIP",
            icmp6(client, vip, &other(0), &[0; 8]),
        ),
        ("echo request to a pool address", echo(CLIENT, POOL, true)),
        (
            "echo request to a VIP without an ICMPv6 service",
            echo(CLIENT, VIP_FULLNAT, true),
        ),
        (
            "echo reply from a backend to the host",
            echo(BACKEND, HOST, false),
        ),
        ("echo reply from a stranger", echo(OTHER, CLIENT, false)),
        (
            "a backend's reply behind a fragment header",
            behind(&reply, ext::FRAGMENT, &fragment(proto::TCP, 0)),
        ),
        (
            "a backend's reply behind a second Hop-by-Hop header",
            behind(
                &reply,
                ext::HOP_BY_HOP,
                &[opt(ext::HOP_BY_HOP, 0), opt(proto::TCP, 0)].concat(),
            ),
        ),
        (
            "a backend's reply behind three Destination Options headers",
            behind(
                &reply,
                ext::DEST_OPTIONS,
                &[
                    opt(ext::DEST_OPTIONS, 0),
                    opt(ext::DEST_OPTIONS, 0),
                    opt(proto::TCP, 0),
                ]
                .concat(),
            ),
        ),
        (
            "a backend's reply behind a routing header",
            behind(&reply, ext::ROUTING, &opt(proto::TCP, 0)),
        ),
        ("a backend's reply without its ports", reply[..43].to_vec()),
        (
            "a backend's reply behind a header longer than the frame",
            ipv6_packet_ext(
                backend,
                client,
                ext::HOP_BY_HOP,
                &opt(proto::TCP, 1)[..12],
                &[],
                64,
            ),
        ),
        (
            "an error behind an extension header",
            behind(
                &error(ROUTER, CLIENT, PTB, &translated_reply, 60),
                ext::DEST_OPTIONS,
                &opt(proto::ICMPV6, 0),
            ),
        ),
        (
            "an error with a short quote",
            error(ROUTER, CLIENT, PTB, &translated_reply, 47),
        ),
        (
            "an error quoting the host's own request to a backend",
            error(
                ROUTER,
                HOST,
                UNREACH,
                &tcp6(host, 40000, backend, 8080, SYN),
                48,
            ),
        ),
        (
            "an error quoting a stranger's packet",
            error(
                ROUTER,
                CLIENT,
                PTB,
                &tcp6(client, 1, a6(OTHER), 80, SYN),
                60,
            ),
        ),
        (
            "an error quoting a neighbour solicitation from a VIP",
            error(
                ROUTER,
                CLIENT,
                UNREACH,
                &icmp6(vip, client, &other(135), &[0; 20]),
                60,
            ),
        ),
        ("a fixed header cut short", reply[..39].to_vec()),
    ];
    for (what, ip) in cases {
        assert!(!w.owns(&eth(&ip), what), "{what}: owned");
    }
}

/// Every prefix of frames of every rule: the program never reads past the frame (the verifier
/// saw to that when it loaded) and its answer is the Rust rules' at every length.
#[test]
fn truncated_ipv6_frames_agree() {
    let w = world();
    let (client, vip, backend) = (a6(CLIENT), a6(VIP), a6(BACKEND));
    let syn = tcp6(client, 40000, vip, 80, SYN);
    let reply = tcp6(backend, 8080, client, 40000, SYN | ACK);
    let frames = [
        syn.clone(),
        reply.clone(),
        behind(
            &reply,
            ext::HOP_BY_HOP,
            &[opt(ext::DEST_OPTIONS, 1), opt(proto::TCP, 0)].concat(),
        ),
        echo(BACKEND, CLIENT, false),
        error(
            ROUTER,
            CLIENT,
            PTB,
            &tcp6(vip, 80, client, 40000, SYN | ACK),
            200,
        ),
        error(ROUTER, CLIENT, UNREACH, &echo(CLIENT, BACKEND, true), 200),
    ];
    let mut owned = 0;
    for ip in frames {
        let f = eth(&ip);
        // BPF_PROG_TEST_RUN refuses a frame without its Ethernet header.
        for n in 14..=f.len() {
            owned += u32::from(w.owns(&f[..n], &format!("{} of {} bytes", n, f.len())));
        }
    }
    println!("{owned} truncations owned");
    assert!(owned > 60, "{owned}");
}

/// The tunnels' IPv6 prefixes (`gateway::routed6`): a central end's site prefix and a site
/// end's own, in the program's trie and in the snapshot's gateway alike.
#[test]
fn ipv6_carried_by_tunnels_is_steered() {
    use dataplane::gateway::TunnelSpec;
    use dataplane::snapshot::Spec;
    use std::net::Ipv4Addr;
    netns_tests::require_root();
    let tunnel = |name: &str, remote: u8, routed6: &str, site: bool| TunnelSpec {
        name: name.into(),
        local: Ipv4Addr::new(198, 18, 8, 1),
        remote: Ipv4Addr::new(198, 18, 8, remote),
        key: None,
        mtu: 1476,
        pool: None,
        inside: if site {
            vec![(Ipv4Addr::new(198, 18, 64, 0), 24)]
        } else {
            vec![]
        },
        routed6: vec![(a6(routed6), 48)],
        nat64_sources: vec![],
    };
    let spec = Spec {
        interfaces: dataplane::testkit::two_interfaces("eth0", "eth1"),
        workers: 1,
        tunnels: vec![
            tunnel("central", 10, "2001:db8:64::", false),
            tunnel("site", 30, "2001:db8:65::", true),
        ],
        ..Spec::default()
    };
    let snap = Snapshot::build_with_v6(&spec, &spec6(2), None).expect("snapshot");
    let mut owned = OwnedMap::create().expect("maps");
    owned.set_keys_v6(&owned_keys_v6(&spec6(2))).expect("keys");
    let prefixes = snap
        .gw
        .routed6_prefixes()
        .collect::<std::collections::BTreeSet<_>>();
    owned.set_routed6(&prefixes).expect("trie");
    let prog = Program::load_with(&owned, 4, Unbound::Drop).expect("program loads");
    let w = World {
        snap,
        prog,
        _owned: owned,
    };
    let udp = |s: &str, d: &str| eth(&udp6(a6(s), 5000, a6(d), 53, b"x"));
    for (s, d, want) in [
        (OTHER, "2001:db8:64::5", true),
        (OTHER, "2001:db8:64:ffff::1", true),
        ("2001:db8:65::5", OTHER, true),
        ("2001:db8:65::5", "2001:db8:65::6", false),
        ("2001:db8:65::5", "fe80::1", false),
        ("2001:db8:65::5", "ff02::1", false),
        ("2001:db8:65::5", "::1", false),
        ("2001:db8:65::5", HOST, false),
        (OTHER, "2001:db8:65::5", false),
        (OTHER, "2001:db8:66::5", false),
    ] {
        assert_eq!(
            w.owns(&udp(s, d), &format!("{s} -> {d}")),
            want,
            "{s} -> {d}"
        );
    }
    // Whatever follows the fixed header: a fragment to the site is carried too.
    let frag = ipv6_packet_ext(
        a6(OTHER),
        a6("2001:db8:64::5"),
        ext::FRAGMENT,
        &fragment(proto::UDP, 8),
        b"rest of a datagram",
        64,
    );
    assert!(w.owns(&eth(&frag), "fragment to a site prefix"));
}
