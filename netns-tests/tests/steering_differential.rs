//! The steering rules exist twice: in the XDP program (`dataplaned::xdp::steer`, which decides in
//! the kernel what the fast path owns) and in the pipeline's classification of a flow's first
//! packet (`dataplane::pipeline`, which decides what to do with it). This test generates random
//! and adversarial frames and runs each through both: the program with `BPF_PROG_TEST_RUN`
//! (loaded with `Unbound::Drop`, an owned frame comes back as XDP_DROP, anything else as
//! XDP_PASS), the Rust statement of the rules (`dataplane::steering::owns`), and a pipeline with
//! an empty conntrack table, whose `Verdict::Pass` means "the kernel's" and every other verdict
//! (forward, drop with a reason, hand off) means "ours". All three must agree on every frame.
//!
//! Both sides are configured by the daemon's own code from one configuration file:
//! `spec::build` (the snapshot) and `spec::owned_keys` / `spec::source_prefixes` (the maps);
//! the IPv6 half from the pure core's IPv6 fixture (`testkit::v6::spec6`: NAT, FullNAT, direct
//! routing, UDP and ICMPv6 services, a pool, a host address) and `spec::owned_keys_v6`, and the
//! tunnels' IPv6 prefixes (a central and a site end) from the file by `spec::routed6_prefixes`. A third
//! of the frames are IPv6: every rule of `steering::v6`, ICMPv6 of every type, errors quoting
//! anything, behind chains of extension headers (skippable, refused, fragments, too many, too
//! long), then bent like the IPv4 ones.
//!
//! The frames are seeded deterministically (set `STEERING_SEED` to explore other ones,
//! `STEERING_CASES` for more); a disagreement is shrunk by proptest to a minimal frame.

use std::cell::Cell;
use std::collections::BTreeMap;
use std::net::{Ipv4Addr, Ipv6Addr, SocketAddrV4};
use std::path::Path;
use std::sync::Arc;

use appliance::dataplaned::kernel_view::KernelView;
use appliance::dataplaned::spec;
use appliance::dataplaned::xdp::steer::{OwnedMap, Program, Unbound, XDP_DROP, XDP_PASS};
use dataplane::frames::{self, L2};
use dataplane::neighbours::Route;
use dataplane::pipeline::Verdict;
use dataplane::snapshot::Snapshot;
use dataplane::steering;
use dataplane::testkit;
use dataplane::testkit::v6 as t6;
use dataplane::wire::ipv6::ext;
use dataplane::wire::{EtherType, EthernetFrame, Icmpv6Repr, Ipv4Packet, Ipv6Packet, MacAddr};
use proptest::prelude::*;
use proptest::test_runner::{Config, RngAlgorithm, TestCaseError, TestRng, TestRunner};

const CONFIG: &str = r#"
[interfaces.eth0]
[interfaces.eth1]

[dataplane]
interfaces = ["eth0", "eth1"]
workers = 2
queues = 2

[[gre.tunnel]]
name = "site-a"
local = "198.18.8.1"
remote = "198.18.8.10"
key = 100
ipv6_prefixes = ["2001:db8:64::/48"]

[[gre.tunnel]]
name = "site-b"
local = "198.18.8.1"
remote = "198.18.8.20"

[[gre.tunnel]]
name = "uplink"
role = "site"
local = "198.18.8.1"
remote = "198.18.8.30"
inside = ["198.18.64.0/24"]
ipv6_prefixes = ["2001:db8:65::/48"]

[[snat.pool]]
name = "internet"
addresses = ["198.19.0.1", "198.19.0.2"]
tunnels = ["site-a", "site-b"]
sources = ["198.18.96.0/24"]

[[snat.pool]]
name = "lb"
addresses = ["198.19.0.9"]
ports = "10000-65535"

[[service]]
name = "web"
vip = "198.18.1.1"
port = 80
protocol = "tcp"
backends = [
  { address = "198.18.2.1", port = 8080 },
  { address = "198.18.2.2", port = 8080 },
]

[[service]]
name = "dns"
vip = "198.18.1.1"
port = 53
protocol = "udp"
backends = [{ address = "198.18.2.1", port = 5353 }]

[[service]]
name = "ping"
vip = "198.18.1.2"
protocol = "icmp"
backends = [{ address = "198.18.2.3" }]

[[service]]
name = "app"
vip = "198.18.1.3"
port = 443
protocol = "tcp"
mode = "fullnat"
pool = "lb"
backends = [{ address = "198.18.2.4", port = 8443 }]

# Direct return: the backend's own packets from port 443 are never ours.
[[service]]
name = "direct"
vip = "198.18.1.2"
port = 443
protocol = "tcp"
mode = "dr"
backends = [{ address = "198.18.2.3" }]
"#;

/// The host's own addresses on the data interfaces (the kernel view's `locals`).
const LOCALS: [Ipv4Addr; 3] = [
    Ipv4Addr::new(198, 18, 0, 1),
    Ipv4Addr::new(198, 18, 2, 254),
    Ipv4Addr::new(198, 18, 8, 1),
];

/// Addresses the rules treat specially, so that random frames hit every rule often.
const INTERESTING: [Ipv4Addr; 24] = [
    Ipv4Addr::new(198, 18, 1, 1),   // VIP (tcp 80, udp 53)
    Ipv4Addr::new(198, 18, 1, 2),   // VIP (icmp)
    Ipv4Addr::new(198, 18, 1, 3),   // VIP (fullnat tcp 443)
    Ipv4Addr::new(198, 18, 2, 1),   // backend
    Ipv4Addr::new(198, 18, 2, 2),   // backend
    Ipv4Addr::new(198, 18, 2, 3),   // icmp backend
    Ipv4Addr::new(198, 18, 2, 4),   // fullnat backend
    Ipv4Addr::new(198, 18, 0, 1),   // local
    Ipv4Addr::new(198, 18, 2, 254), // local
    Ipv4Addr::new(198, 18, 8, 1),   // local, tunnel end
    Ipv4Addr::new(198, 18, 8, 10),  // tunnel remote
    Ipv4Addr::new(198, 18, 8, 20),  // tunnel remote
    Ipv4Addr::new(198, 18, 8, 30),  // site tunnel remote
    Ipv4Addr::new(198, 19, 0, 1),   // pool
    Ipv4Addr::new(198, 19, 0, 9),   // fullnat pool
    Ipv4Addr::new(198, 18, 96, 7),  // inside (pool sources)
    Ipv4Addr::new(198, 18, 64, 7),  // inside (site tunnel)
    Ipv4Addr::new(198, 18, 0, 7),   // client
    Ipv4Addr::new(198, 19, 1, 1),   // Internet server
    Ipv4Addr::new(0, 0, 0, 0),
    Ipv4Addr::new(255, 255, 255, 255),
    Ipv4Addr::new(224, 0, 0, 18),
    Ipv4Addr::new(127, 0, 0, 1),
    Ipv4Addr::new(169, 254, 1, 1),
];

const PORTS: [u16; 10] = [80, 53, 443, 8080, 5353, 8443, 179, 22, 40000, 10002];

const L2: L2 = L2 {
    src: MacAddr([2, 0, 0, 0, 0, 1]),
    dst: MacAddr([2, 0, 0, 0, 0, 2]),
};

struct World {
    snap: Snapshot,
    prog: Program,
    _owned: OwnedMap,
}

fn world() -> World {
    netns_tests::require_root();
    let cfg = appliance::config::parse_str(CONFIG, Path::new("differential.toml"))
        .expect("the test's configuration is valid");
    let view = KernelView {
        routes: vec![
            Route {
                net: Ipv4Addr::new(198, 18, 0, 0),
                prefix_len: 15,
                gateway: None,
                iface: 1,
                src: None,
            },
            Route {
                net: Ipv4Addr::new(0, 0, 0, 0),
                prefix_len: 0,
                gateway: Some(Ipv4Addr::new(198, 18, 0, 254)),
                iface: 0,
                src: None,
            },
        ],
        neighbours: [
            [198, 18, 0, 254],
            [198, 18, 2, 1],
            [198, 18, 2, 2],
            [198, 18, 0, 7],
        ]
        .into_iter()
        .enumerate()
        .map(|(i, a)| (Ipv4Addr::from(a), MacAddr([2, 0, 0, 0, 1, i as u8])))
        .collect(),
        locals: LOCALS.to_vec(),
        ..KernelView::default()
    };
    let spec = spec::build(
        &cfg.service,
        (&cfg.gre, &cfg.snat),
        &Arc::new(BTreeMap::new()),
        &[],
        &view,
        2,
        (0x5eed, 0),
    );
    let spec6 = t6::spec6(2);
    let snap = Snapshot::build_with_v6(&spec, &spec6, None).expect("snapshot");
    let mut owned = OwnedMap::create().expect("owned map");
    owned
        .set_keys(&spec::owned_keys(
            &cfg.service,
            (&cfg.gre, &cfg.snat),
            &view.locals,
        ))
        .expect("keys");
    owned
        .set_sources(&spec::source_prefixes(&cfg.gre, &cfg.snat))
        .expect("sources");
    owned
        .set_keys_v6(&spec::owned_keys_v6(&spec6))
        .expect("IPv6 keys");
    owned
        .set_routed6(&spec::routed6_prefixes(&cfg.gre))
        .expect("IPv6 tunnel prefixes");
    let prog = Program::load_with(&owned, 2, Unbound::Drop).expect("program loads");
    World {
        snap,
        prog,
        _owned: owned,
    }
}

fn addr() -> impl Strategy<Value = Ipv4Addr> {
    prop_oneof![
        4 => proptest::sample::select(&INTERESTING[..]),
        1 => any::<u32>().prop_map(Ipv4Addr::from),
        // Neighbours of the interesting ones: other hosts of the same prefixes.
        1 => (proptest::sample::select(&INTERESTING[..]), any::<u8>())
            .prop_map(|(a, last)| { let o = a.octets(); Ipv4Addr::new(o[0], o[1], o[2], last) }),
    ]
}

fn port() -> impl Strategy<Value = u16> {
    prop_oneof![3 => proptest::sample::select(&PORTS[..]), 1 => any::<u16>()]
}

fn endpoint() -> impl Strategy<Value = SocketAddrV4> {
    (addr(), port()).prop_map(|(a, p)| SocketAddrV4::new(a, p))
}

/// An IPv4 packet without Ethernet: TCP, UDP, ICMP echo, or another protocol.
fn transport() -> impl Strategy<Value = Vec<u8>> {
    prop_oneof![
        (endpoint(), endpoint(), any::<u8>())
            .prop_map(|(s, d, flags)| frames::tcp_segment(s, d, flags, b"")),
        (endpoint(), endpoint()).prop_map(|(s, d)| frames::udp_datagram(s, d, b"payload")),
        (addr(), addr(), any::<bool>(), port())
            .prop_map(|(s, d, req, id)| frames::icmp_echo(s, d, req, id, b"ping")),
        (
            addr(),
            addr(),
            any::<u8>(),
            proptest::collection::vec(any::<u8>(), 0..24)
        )
            .prop_map(|(s, d, p, body)| frames::ipv4_packet(s, d, p, &body)),
    ]
}

/// The configuration's services and backends as `(address, port, protocol)`.
const SERVICES: [(Ipv4Addr, u16, u8); 3] = [
    (Ipv4Addr::new(198, 18, 1, 1), 80, 6),
    (Ipv4Addr::new(198, 18, 1, 1), 53, 17),
    (Ipv4Addr::new(198, 18, 1, 3), 443, 6),
];
const BACKENDS: [(Ipv4Addr, u16, u8); 4] = [
    (Ipv4Addr::new(198, 18, 2, 1), 8080, 6),
    (Ipv4Addr::new(198, 18, 2, 2), 8080, 6),
    (Ipv4Addr::new(198, 18, 2, 1), 5353, 17),
    (Ipv4Addr::new(198, 18, 2, 4), 8443, 6),
];

/// Traffic of the kinds the configuration serves, with random clients and ports: what the
/// rules own when nothing else is wrong with it.
fn served() -> impl Strategy<Value = Vec<u8>> {
    let client = || {
        (any::<u8>(), port()).prop_map(|(h, p)| SocketAddrV4::new(Ipv4Addr::new(198, 18, 0, h), p))
    };
    let inside = || {
        (prop_oneof![Just(96u8), Just(64)], any::<u8>(), port())
            .prop_map(|(net, h, p)| SocketAddrV4::new(Ipv4Addr::new(198, 18, net, h), p))
    };
    let service = proptest::sample::select(&SERVICES[..]);
    let backend = proptest::sample::select(&BACKENDS[..]);
    let l4 = |s: SocketAddrV4, d: SocketAddrV4, p: u8, flags: u8| {
        if p == 6 {
            frames::tcp_segment(s, d, flags, b"")
        } else {
            frames::udp_datagram(s, d, b"x")
        }
    };
    prop_oneof![
        (client(), service.clone(), any::<u8>()).prop_map(move |(c, (v, p, pr), f)| l4(
            c,
            SocketAddrV4::new(v, p),
            pr,
            f
        )),
        (client(), backend, any::<u8>()).prop_map(move |(c, (b, p, pr), f)| l4(
            SocketAddrV4::new(b, p),
            c,
            pr,
            f
        )),
        (inside(), endpoint(), any::<bool>(), any::<u8>()).prop_map(move |(i, d, udp, f)| l4(
            i,
            d,
            if udp { 17 } else { 6 },
            f
        )),
        (endpoint(), port(), any::<u8>()).prop_map(|(s, p, f)| frames::tcp_segment(
            s,
            SocketAddrV4::new(Ipv4Addr::new(198, 19, 0, 1), p),
            f,
            b""
        )),
        (client(), any::<u16>()).prop_map(|(c, id)| frames::icmp_echo(
            *c.ip(),
            Ipv4Addr::new(198, 18, 1, 2),
            true,
            id,
            b"ping"
        )),
        (
            client(),
            service,
            addr(),
            prop_oneof![Just(3u8), Just(11), Just(12)]
        )
            .prop_map(move |(c, (v, p, pr), router, t)| {
                let ours = l4(SocketAddrV4::new(v, p), c, pr, 0x12);
                frames::icmp_error(router, *c.ip(), t, 0, &ours, 28)
            }),
        (prop_oneof![Just(Some(100u32)), Just(None)], transport()).prop_map(|(key, inner)| {
            let remote = if key.is_some() {
                [198, 18, 8, 10]
            } else {
                [198, 18, 8, 20]
            };
            frames::gre_packet(
                Ipv4Addr::from(remote),
                Ipv4Addr::new(198, 18, 8, 1),
                key,
                &inner,
            )
        }),
    ]
}

/// An IPv4 packet: a transport packet, an ICMP message (errors quoting a transport packet,
/// any type and code), or GRE carrying one with the right, a wrong or no key.
fn packet() -> impl Strategy<Value = Vec<u8>> {
    prop_oneof![
        4 => served(),
        4 => transport(),
        2 => (addr(), addr(), prop_oneof![Just(3u8), Just(11), Just(12), Just(5), any::<u8>()],
              any::<u8>(), transport(), prop_oneof![Just(28usize), Just(8), Just(20), 0..200usize])
            .prop_map(|(s, d, t, c, quoted, n)| frames::icmp_error(s, d, t, c, &quoted, n)),
        2 => (addr(), addr(), prop_oneof![Just(None), Just(Some(100u32)), any::<u32>().prop_map(Some)],
              transport())
            .prop_map(|(s, d, key, inner)| frames::gre_packet(s, d, key, &inner)),
    ]
}

/// How a generated frame is bent before it is tested.
#[derive(Debug, Clone)]
enum Bend {
    None,
    Ttl(u8),
    /// More-fragments or a fragment offset.
    Fragment(u16),
    /// An IHL above 5 (the header then claims options).
    Ihl(u8),
    EtherType(u16),
    Truncate(usize),
    /// Bytes overwritten at random places (header checksums are left wrong).
    Flip(Vec<(usize, u8)>),
}

fn bend() -> impl Strategy<Value = Bend> {
    prop_oneof![
        6 => Just(Bend::None),
        2 => prop_oneof![Just(0u8), Just(1), Just(2), any::<u8>()].prop_map(Bend::Ttl),
        1 => prop_oneof![Just(0x2000u16), Just(0x0001), Just(0x2001), any::<u16>()].prop_map(Bend::Fragment),
        1 => (6u8..16).prop_map(Bend::Ihl),
        1 => prop_oneof![Just(0x86ddu16), Just(0x0806), Just(0x8100), any::<u16>()].prop_map(Bend::EtherType),
        1 => (14usize..80).prop_map(Bend::Truncate),
        2 => proptest::collection::vec((0usize..120, any::<u8>()), 1..4).prop_map(Bend::Flip),
    ]
}

fn frame() -> impl Strategy<Value = Vec<u8>> {
    prop_oneof![
        2 => (packet(), bend()).prop_map(|(ip, bend)| {
            let mut f = frames::ethernet(L2, &ip);
            apply(&mut f, &bend);
            f
        }),
        1 => (packet6(), bend6()).prop_map(|(ip, bend)| {
            let mut f = t6::eth6(L2, &ip);
            apply6(&mut f, &bend);
            f
        }),
    ]
}

/// The IPv6 fixture's addresses the rules treat specially, and some they do not.
fn interesting6() -> Vec<Ipv6Addr> {
    [
        t6::VIP,
        t6::VIP_FULLNAT,
        t6::VIP_DR,
        t6::BACKEND,
        "2001:db8:2::11", // the second backend
        t6::POOL,
        "2001:db8:2::1", // the host's
        t6::CLIENT,
        "2001:db8:7::7",
        "2001:db8:64::5", // a central tunnel's site prefix
        "2001:db8:65::5", // the site tunnel's own prefix
        "fe80::1",
        "ff02::1",
        "::",
    ]
    .iter()
    .map(|a| t6::a6(a))
    .collect()
}

fn addr6() -> impl Strategy<Value = Ipv6Addr> {
    let some = interesting6();
    prop_oneof![
        4 => proptest::sample::select(some.clone()),
        1 => any::<u128>().prop_map(Ipv6Addr::from),
        1 => (proptest::sample::select(some), any::<u8>()).prop_map(|(a, last)| {
            let mut o = a.octets();
            o[15] = last;
            Ipv6Addr::from(o)
        }),
    ]
}

fn icmp6_repr() -> impl Strategy<Value = Icmpv6Repr> {
    prop_oneof![
        (any::<u16>(), any::<u16>())
            .prop_map(|(ident, seq_no)| Icmpv6Repr::EchoRequest { ident, seq_no }),
        (any::<u16>(), any::<u16>())
            .prop_map(|(ident, seq_no)| Icmpv6Repr::EchoReply { ident, seq_no }),
        (
            prop_oneof![1 => 0u8..5, 1 => 128u8..144, 1 => any::<u8>()],
            any::<u8>(),
            any::<u32>()
        )
            .prop_map(|(msg_type, code, rest_of_header)| Icmpv6Repr::Other {
                msg_type,
                code,
                rest_of_header
            }),
    ]
}

/// An IPv6 packet: TCP, UDP, ICMPv6 of any type, or another next header.
fn transport6() -> impl Strategy<Value = Vec<u8>> {
    prop_oneof![
        (addr6(), port(), addr6(), port(), any::<u8>())
            .prop_map(|(s, sp, d, dp, f)| t6::tcp6(s, sp, d, dp, f)),
        (addr6(), port(), addr6(), port()).prop_map(|(s, sp, d, dp)| t6::udp6(s, sp, d, dp, b"x")),
        (
            addr6(),
            addr6(),
            icmp6_repr(),
            proptest::collection::vec(any::<u8>(), 0..24)
        )
            .prop_map(|(s, d, r, data)| t6::icmp6(s, d, &r, &data)),
        (
            addr6(),
            addr6(),
            any::<u8>(),
            proptest::collection::vec(any::<u8>(), 0..24)
        )
            .prop_map(|(s, d, nh, body)| t6::ipv6_packet(s, d, nh, &body)),
    ]
}

/// The fixture's services and backends as `(address, port, next header)`.
fn services6() -> Vec<(Ipv6Addr, u16, u8)> {
    let vip = t6::a6(t6::VIP);
    vec![
        (vip, 80, 6),
        (vip, 53, 17),
        (t6::a6(t6::VIP_FULLNAT), 80, 6),
        (t6::a6(t6::VIP_DR), 80, 6),
    ]
}

fn backends6() -> Vec<(Ipv6Addr, u16, u8)> {
    let (b0, b1) = (t6::a6(t6::BACKEND), t6::a6("2001:db8:2::11"));
    vec![(b0, 8080, 6), (b1, 8080, 6), (b0, 53, 17), (b1, 53, 17)]
}

fn l4_6(s: Ipv6Addr, sp: u16, d: Ipv6Addr, dp: u16, p: u8, flags: u8) -> Vec<u8> {
    if p == 6 {
        t6::tcp6(s, sp, d, dp, flags)
    } else {
        t6::udp6(s, sp, d, dp, b"x")
    }
}

/// Traffic of the kinds the IPv6 fixture serves, with random clients and ports.
fn served6() -> impl Strategy<Value = Vec<u8>> {
    let client = || {
        (any::<u16>(), port()).prop_map(|(h, p)| {
            let mut o = t6::a6(t6::CLIENT).octets();
            o[14..].copy_from_slice(&h.to_be_bytes());
            (Ipv6Addr::from(o), p)
        })
    };
    let service = proptest::sample::select(services6());
    let backend = proptest::sample::select(backends6());
    prop_oneof![
        (client(), service.clone(), any::<u8>())
            .prop_map(|((c, cp), (v, p, pr), f)| l4_6(c, cp, v, p, pr, f)),
        (client(), backend.clone(), any::<u8>())
            .prop_map(|((c, cp), (b, p, pr), f)| l4_6(b, p, c, cp, pr, f)),
        (client(), port(), any::<u8>()).prop_map(|((c, cp), p, f)| t6::tcp6(
            c,
            cp,
            t6::a6(t6::POOL),
            p,
            f
        )),
        (client(), any::<u16>(), any::<bool>()).prop_map(|((c, _), ident, req)| {
            let vip = t6::a6(t6::VIP);
            if req {
                t6::icmp6(
                    c,
                    vip,
                    &Icmpv6Repr::EchoRequest { ident, seq_no: 1 },
                    b"ping",
                )
            } else {
                t6::icmp6(
                    t6::a6(t6::BACKEND),
                    c,
                    &Icmpv6Repr::EchoReply { ident, seq_no: 1 },
                    b"ping",
                )
            }
        }),
        (client(), service, backend, addr6(), 1u8..5, any::<bool>()).prop_map(
            |((c, cp), (v, p, pr), (b, bp, bpr), router, t, reply)| {
                let ours = if reply {
                    l4_6(v, p, c, cp, pr, 0x12)
                } else {
                    l4_6(c, cp, b, bp, bpr, 0x02)
                };
                let r = Icmpv6Repr::Other {
                    msg_type: t,
                    code: 0,
                    rest_of_header: 1280,
                };
                t6::icmp6(router, c, &r, &ours)
            }
        ),
    ]
}

/// An IPv6 packet: served traffic, anything, or an ICMPv6 error (of any type) quoting anything.
fn packet6() -> impl Strategy<Value = Vec<u8>> {
    prop_oneof![
        4 => served6(),
        3 => transport6(),
        2 => (addr6(), addr6(), prop_oneof![1u8..5, any::<u8>()], transport6(),
              prop_oneof![Just(48usize), Just(47), Just(40), 0..200usize])
            .prop_map(|(s, d, t, quoted, n)| {
                let r = Icmpv6Repr::Other { msg_type: t, code: 0, rest_of_header: 0 };
                t6::icmp6(s, d, &r, &quoted[..n.min(quoted.len())])
            }),
    ]
}

/// How a generated IPv6 frame is bent before it is tested.
#[derive(Debug, Clone)]
enum Bend6 {
    None,
    HopLimit(u8),
    /// Extension headers put between the fixed header and the upper layer: `(next header
    /// value, Hdr Ext Len)`, the last naming the packet's own upper layer.
    Chain(Vec<(u8, u8)>),
    PayloadLength(u16),
    EtherType(u16),
    Truncate(usize),
    Flip(Vec<(usize, u8)>),
}

fn bend6() -> impl Strategy<Value = Bend6> {
    let ext_header = prop_oneof![
        4 => Just(ext::HOP_BY_HOP),
        4 => Just(ext::DEST_OPTIONS),
        2 => Just(ext::FRAGMENT),
        1 => Just(ext::ROUTING),
        1 => Just(ext::AH),
        1 => Just(ext::ESP),
        1 => Just(ext::NO_NEXT),
        1 => any::<u8>(),
    ];
    let units = prop_oneof![4 => Just(0u8), 2 => 1u8..4, 1 => any::<u8>()];
    prop_oneof![
        5 => Just(Bend6::None),
        1 => prop_oneof![Just(0u8), Just(1), any::<u8>()].prop_map(Bend6::HopLimit),
        5 => proptest::collection::vec((ext_header, units), 1..4).prop_map(Bend6::Chain),
        1 => any::<u16>().prop_map(Bend6::PayloadLength),
        1 => prop_oneof![Just(0x0800u16), any::<u16>()].prop_map(Bend6::EtherType),
        2 => (14usize..140).prop_map(Bend6::Truncate),
        2 => proptest::collection::vec((0usize..160, any::<u8>()), 1..4).prop_map(Bend6::Flip),
    ]
}

fn apply6(f: &mut Vec<u8>, bend: &Bend6) {
    const IP: usize = 14;
    match *bend {
        Bend6::None => {}
        Bend6::HopLimit(h) => Ipv6Packet::new_unchecked(&mut f[IP..]).set_hop_limit(h),
        Bend6::Chain(ref chain) => {
            let upper = f[IP + 6];
            let mut headers = Vec::new();
            for (i, &(nh, units)) in chain.iter().enumerate() {
                let next = chain.get(i + 1).map_or(upper, |c| c.0);
                // A Fragment header is 8 bytes whatever its second byte says.
                let len = if nh == ext::FRAGMENT {
                    8
                } else {
                    8 + 8 * usize::from(units)
                };
                let mut h = vec![0u8; len];
                (h[0], h[1]) = (next, if nh == ext::FRAGMENT { 0 } else { units });
                headers.extend_from_slice(&h);
            }
            let at = IP + 40;
            f.splice(at..at, headers);
            f[IP + 6] = chain[0].0;
            let plen = (f.len() - at) as u16;
            Ipv6Packet::new_unchecked(&mut f[IP..]).set_payload_len(plen);
            // No frame is longer than a UMEM chunk (the pipeline's buffer): long chains are cut
            // there, their last header running past the frame.
            f.truncate(testkit::ROOM);
        }
        Bend6::PayloadLength(n) => Ipv6Packet::new_unchecked(&mut f[IP..]).set_payload_len(n),
        Bend6::EtherType(t) => EthernetFrame::new_checked(&mut f[..])
            .expect("built valid")
            .set_ethertype(EtherType::from(t)),
        Bend6::Truncate(n) => f.truncate(n),
        Bend6::Flip(ref at) => {
            for &(i, v) in at {
                if let Some(b) = f.get_mut(i) {
                    *b = v;
                }
            }
        }
    }
}

fn apply(f: &mut Vec<u8>, bend: &Bend) {
    const IP: usize = 14;
    let refill = |f: &mut Vec<u8>| {
        if let Ok(mut ip) = Ipv4Packet::new_quoted(&mut f[IP..]) {
            ip.fill_checksum();
        }
    };
    match *bend {
        Bend::None => {}
        Bend::Ttl(t) => {
            Ipv4Packet::new_quoted(&mut f[IP..])
                .expect("built valid")
                .set_ttl(t);
            refill(f);
        }
        Bend::Fragment(v) => {
            f[IP + 6..IP + 8].copy_from_slice(&v.to_be_bytes());
            refill(f);
        }
        Bend::Ihl(ihl) => {
            f[IP] = 0x40 | ihl;
            refill(f);
        }
        Bend::EtherType(t) => EthernetFrame::new_checked(&mut f[..])
            .expect("built valid")
            .set_ethertype(EtherType::from(t)),
        Bend::Truncate(n) => f.truncate(n),
        Bend::Flip(ref at) => {
            for &(i, v) in at {
                if let Some(b) = f.get_mut(i) {
                    *b = v;
                }
            }
        }
    }
}

fn xdp_owns(w: &World, f: &[u8]) -> bool {
    let (action, _) = w.prog.test_run(f, 1).expect("BPF_PROG_TEST_RUN");
    assert!(
        action == XDP_DROP || action == XDP_PASS,
        "unexpected XDP action {action}"
    );
    action == XDP_DROP
}

/// Worker 0's verdict on the frame as the first packet of its flow.
fn pipeline_verdict(w: &World, f: &[u8]) -> Verdict {
    let mut p = testkit::pipeline(0, 64);
    let mut buf = f.to_vec();
    let len = buf.len();
    buf.resize(testkit::ROOM, 0);
    p.process_frame(&w.snap, 1_000, &mut buf, len).0
}

/// The frame's headers in words and its bytes in hex, for a failure message.
fn describe(f: &[u8]) -> String {
    let hex: String = f.iter().map(|b| format!("{b:02x}")).collect();
    if f.get(12..14) == Some(&[0x86, 0xdd]) && f.len() >= 54 {
        let ip = Ipv6Packet::new_unchecked(&f[14..]);
        return format!(
            "{} bytes, IPv6 {} -> {} next header {} hop limit {} payload length {}: {hex}",
            f.len(),
            ip.src(),
            ip.dst(),
            ip.next_header(),
            ip.hop_limit(),
            ip.payload_len()
        );
    }
    let ip = f.get(14..).and_then(|b| Ipv4Packet::new_quoted(b).ok());
    let what = match ip {
        Some(ip) => format!(
            "{} -> {} proto {} ttl {} ihl {} fragment {} checksum ok {}",
            ip.src(),
            ip.dst(),
            ip.protocol(),
            ip.ttl(),
            ip.header_len(),
            ip.is_fragment(),
            ip.verify_checksum()
        ),
        None => "not IPv4".to_string(),
    };
    format!("{} bytes, {what}: {hex}", f.len())
}

fn env(name: &str, default: u64) -> u64 {
    std::env::var(name)
        .ok()
        .and_then(|v| v.parse().ok())
        .unwrap_or(default)
}

#[test]
fn xdp_program_and_pipeline_agree_on_what_the_fast_path_owns() {
    // The composed strategies are deep and an unoptimised build of them overflows the default
    // test thread's stack.
    std::thread::Builder::new()
        .stack_size(64 << 20)
        .spawn(agree)
        .expect("spawn")
        .join()
        .unwrap_or_else(|e| std::panic::resume_unwind(e));
}

fn agree() {
    let w = world();
    let cases = env("STEERING_CASES", 10_000) as u32;
    let seed = env("STEERING_SEED", 0x7e57_5eed);
    let mut seed_bytes = [0u8; 32];
    seed_bytes[..8].copy_from_slice(&seed.to_le_bytes());
    let mut runner = TestRunner::new_with_rng(
        Config {
            cases,
            failure_persistence: None,
            ..Config::default()
        },
        TestRng::from_seed(RngAlgorithm::ChaCha, &seed_bytes),
    );
    let (owned, total) = (Cell::new(0u32), Cell::new(0u32));
    let (owned6, total6) = (Cell::new(0u32), Cell::new(0u32));
    let result = runner.run(&frame(), |f| {
        let xdp = xdp_owns(&w, &f);
        let rules = steering::owns(&w.snap, &f);
        if xdp != rules {
            return Err(TestCaseError::fail(format!(
                "XDP says {}, dataplane::steering says {} for {}",
                if xdp { "owned" } else { "passed" },
                if rules { "owned" } else { "passed" },
                describe(&f)
            )));
        }
        let verdict = pipeline_verdict(&w, &f);
        let rust = verdict != Verdict::Pass;
        total.set(total.get() + 1);
        owned.set(owned.get() + u32::from(xdp));
        if f.get(12..14) == Some(&[0x86, 0xdd]) {
            total6.set(total6.get() + 1);
            owned6.set(owned6.get() + u32::from(xdp));
        }
        if xdp != rust {
            return Err(TestCaseError::fail(format!(
                "XDP says {}, the pipeline says {verdict:?} for {}",
                if xdp { "owned" } else { "passed" },
                describe(&f)
            )));
        }
        Ok(())
    });
    if let Err(e) = result {
        panic!("steering disagreement (seed {seed:#x}): {e}");
    }
    // A generator that never produced owned (or passed) frames would prove nothing.
    let (owned, total) = (owned.get(), total.get());
    let (owned6, total6) = (owned6.get(), total6.get());
    println!("{total} frames, {owned} owned by all three; IPv6: {total6} frames, {owned6} owned");
    assert!(
        owned > total / 5 && owned < total * 4 / 5,
        "{owned} of {total}"
    );
    assert!(
        total6 > total / 5 && owned6 > total6 / 5 && owned6 < total6 * 4 / 5,
        "IPv6: {owned6} of {total6}"
    );
}
