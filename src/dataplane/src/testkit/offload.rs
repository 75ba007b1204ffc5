//! Flows of every kind the XDP program may forward, brought to the established state through
//! a pipeline with the offload on, and data packets of either direction built to order: the
//! ground of the offload's tests here and of the differential test against the program
//! (`src/offload/tests`).

use std::net::{Ipv4Addr, SocketAddrV4};

use super::{backend, l2, mac, route, two_interfaces, web_service, ROOM};
use crate::conntrack::{Class, Timeouts};
use crate::frames::{self, L2};
use crate::gateway::{PoolSpec, TunnelSpec};
use crate::pipeline::{Pipeline, PipelineConfig, Verdict};
use crate::snapshot::{Direct, Scheduler, ServiceSpec, Snapshot, Spec};
use crate::wire::tcp::flags::{ACK, PSH, SYN};
use crate::wire::{
    ethernet, proto, EthernetFrame, GrePacket, IcmpPacket, Ipv4Packet, TcpRepr, UdpDatagram,
};

pub const VIP: Ipv4Addr = Ipv4Addr::new(198, 18, 1, 1);
pub const VIP_FULLNAT: Ipv4Addr = Ipv4Addr::new(198, 18, 1, 2);
pub const VIP_DR: Ipv4Addr = Ipv4Addr::new(198, 18, 1, 3);
pub const VIP_TUNNEL: Ipv4Addr = Ipv4Addr::new(198, 18, 1, 4);
pub const BACKEND: Ipv4Addr = Ipv4Addr::new(198, 18, 2, 1);
/// A tunnel-mode backend behind a router.
pub const FAR_BACKEND: Ipv4Addr = Ipv4Addr::new(198, 18, 3, 1);
pub const INSIDE_ROUTER: Ipv4Addr = Ipv4Addr::new(198, 18, 2, 254);
pub const TUNNEL_SOURCE: Ipv4Addr = Ipv4Addr::new(198, 18, 2, 100);
pub const CLIENT: Ipv4Addr = Ipv4Addr::new(198, 19, 1, 7);
pub const SERVER: Ipv4Addr = Ipv4Addr::new(198, 19, 1, 1);
pub const LOCAL: Ipv4Addr = Ipv4Addr::new(198, 18, 8, 1);
pub const SITE_A: Ipv4Addr = Ipv4Addr::new(198, 18, 8, 10);
pub const SITE_B: Ipv4Addr = Ipv4Addr::new(198, 18, 8, 20);
pub const KEY_A: u32 = 100;
/// An inside host at the sites, and one behind the gateway without a tunnel.
pub const HOST: Ipv4Addr = Ipv4Addr::new(198, 18, 64, 5);
pub const INSIDE_HOST: Ipv4Addr = Ipv4Addr::new(198, 18, 96, 5);
pub const EXT: [Ipv4Addr; 2] = [Ipv4Addr::new(198, 19, 0, 1), Ipv4Addr::new(198, 19, 0, 2)];
pub const LB_LOCAL: Ipv4Addr = Ipv4Addr::new(198, 19, 0, 9);
/// Where this appliance is itself a site's gateway: the central end it tunnels to, its key,
/// and a host of its inside prefix.
pub const CENTRAL: Ipv4Addr = Ipv4Addr::new(198, 18, 8, 30);
pub const KEY_CENTRAL: u32 = 7;
pub const SITE_HOST: Ipv4Addr = Ipv4Addr::new(198, 18, 97, 5);
pub const TUNNEL_MTU: u16 = 1400;
pub const IF_OUT: u16 = 0;
pub const IF_IN: u16 = 1;

/// The appliance of the cases: NAT (TCP, UDP, ICMP), FullNAT, `dr` and `tunnel` services, two
/// GRE sites and an inside prefix behind a SNAT pool.
pub fn spec() -> Spec {
    let svc = |name: &str, vip, port, proto, bport| ServiceSpec {
        name: name.into(),
        port,
        proto,
        scheduler: Scheduler::Maglev,
        ..web_service(vip, vec![backend(BACKEND, bport, true)], None)
    };
    let mut inside = route([198, 18, 2, 0], 24, None, IF_IN);
    inside.src = Some(INSIDE_ROUTER);
    Spec {
        locals: vec![],
        services: vec![
            svc("web", VIP, 80, proto::TCP, 8080),
            svc("dns", VIP, 53, proto::UDP, 5353),
            svc("ping", VIP, 0, proto::ICMP, 0),
            ServiceSpec {
                pool: Some(1),
                ..svc("fullnat", VIP_FULLNAT, 80, proto::TCP, 8080)
            },
            ServiceSpec {
                direct: Some(Direct::Routing),
                ..svc("dr", VIP_DR, 80, proto::TCP, 80)
            },
            ServiceSpec {
                direct: Some(Direct::Tunnel {
                    source: Some(TUNNEL_SOURCE),
                }),
                backends: vec![backend(FAR_BACKEND, 80, true)],
                ..svc("tunnel", VIP_TUNNEL, 80, proto::TCP, 80)
            },
        ],
        interfaces: two_interfaces("outside", "inside"),
        routes: vec![
            inside,
            route([198, 18, 3, 0], 24, Some(INSIDE_ROUTER), IF_IN),
            route([198, 18, 8, 0], 24, None, IF_IN),
            route([198, 18, 96, 0], 24, None, IF_IN),
            route([198, 18, 97, 0], 24, None, IF_IN),
            route([198, 19, 1, 0], 24, None, IF_OUT),
        ],
        neighbours: vec![
            (CLIENT, mac(0xc1)),
            (SERVER, mac(0x51)),
            (BACKEND, mac(0xb1)),
            (INSIDE_ROUTER, mac(0xfe)),
            (SITE_A, mac(0x0a)),
            (SITE_B, mac(0x0b)),
            (INSIDE_HOST, mac(0x96)),
            (CENTRAL, mac(0x30)),
            (SITE_HOST, mac(0x97)),
        ],
        workers: 1,
        hash_seed: 42,
        cluster_seed: 7,
        tunnels: vec![
            TunnelSpec {
                name: "site-a".into(),
                local: LOCAL,
                remote: SITE_A,
                key: Some(KEY_A),
                mtu: TUNNEL_MTU,
                pool: Some(0),
                inside: vec![],
                routed6: vec![],
                nat64_sources: vec![],
            },
            TunnelSpec {
                name: "central".into(),
                local: LOCAL,
                remote: CENTRAL,
                key: Some(KEY_CENTRAL),
                mtu: TUNNEL_MTU,
                pool: None,
                inside: vec![(Ipv4Addr::new(198, 18, 97, 0), 24)],
                routed6: vec![],
                nat64_sources: vec![],
            },
            TunnelSpec {
                name: "site-b".into(),
                local: LOCAL,
                remote: SITE_B,
                key: None,
                mtu: TUNNEL_MTU,
                pool: Some(0),
                inside: vec![],
                routed6: vec![],
                nat64_sources: vec![],
            },
        ],
        pools: vec![
            PoolSpec {
                name: "internet".into(),
                addrs: EXT.to_vec(),
                ports: (1024, 65535),
                timeouts: Timeouts::default(),
                sources: vec![(Ipv4Addr::new(198, 18, 96, 0), 24)],
            },
            PoolSpec {
                name: "lb".into(),
                addrs: vec![LB_LOCAL],
                ports: (1024, 65535),
                timeouts: Timeouts::default(),
                sources: vec![],
            },
        ],
    }
}

pub fn snapshot() -> Snapshot {
    Snapshot::build(&spec(), None).expect("the offload cases' snapshot")
}

/// A single-worker pipeline with the offload on.
pub fn pipeline() -> Pipeline {
    let mut t = Timeouts::default();
    t.ms[Class::Udp as usize] = 300_000;
    Pipeline::new(PipelineConfig {
        conntrack_capacity: 1024,
        timeouts: t,
        offload: true,
        ..PipelineConfig::default()
    })
}

/// The kinds of flow the program forwards.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Case {
    NatTcp,
    NatUdp,
    NatEcho,
    FullNat,
    Dr,
    Tunnel,
    /// From site A (GRE with a key) through the SNAT pool to a server, and back into the tunnel.
    GreSnatKeyed,
    /// From site B (GRE without a key).
    GreSnat,
    /// From an inside prefix (no tunnel) through the SNAT pool.
    Snat,
    /// The site end: from this appliance's inside prefix into the tunnel to the central end,
    /// and back out of it; nothing is tracked.
    SiteEnd,
}

impl Case {
    pub const ALL: [Case; 10] = [
        Case::NatTcp,
        Case::NatUdp,
        Case::NatEcho,
        Case::FullNat,
        Case::Dr,
        Case::Tunnel,
        Case::GreSnatKeyed,
        Case::GreSnat,
        Case::Snat,
        Case::SiteEnd,
    ];

    pub fn proto(self) -> u8 {
        match self {
            Case::NatUdp | Case::GreSnat => proto::UDP,
            Case::NatEcho => proto::ICMP,
            _ => proto::TCP,
        }
    }

    /// Whether replies come back through us.
    pub fn two_way(self) -> bool {
        !matches!(self, Case::Dr | Case::Tunnel)
    }

    fn ends(self, n: u16) -> (SocketAddrV4, SocketAddrV4) {
        let port = 40_000 + n;
        let (src, dst) = match self {
            Case::NatTcp => (CLIENT, SocketAddrV4::new(VIP, 80)),
            Case::NatUdp => (CLIENT, SocketAddrV4::new(VIP, 53)),
            Case::NatEcho => (CLIENT, SocketAddrV4::new(VIP, 0)),
            Case::FullNat => (CLIENT, SocketAddrV4::new(VIP_FULLNAT, 80)),
            Case::Dr => (CLIENT, SocketAddrV4::new(VIP_DR, 80)),
            Case::Tunnel => (CLIENT, SocketAddrV4::new(VIP_TUNNEL, 80)),
            Case::GreSnatKeyed | Case::GreSnat => (HOST, SocketAddrV4::new(SERVER, 443)),
            Case::Snat => (INSIDE_HOST, SocketAddrV4::new(SERVER, 443)),
            Case::SiteEnd => (SITE_HOST, SocketAddrV4::new(SERVER, 443)),
        };
        (SocketAddrV4::new(src, port), dst)
    }

    fn site(self) -> Option<(Ipv4Addr, Option<u32>)> {
        match self {
            Case::GreSnatKeyed => Some((SITE_A, Some(KEY_A))),
            Case::GreSnat => Some((SITE_B, None)),
            _ => None,
        }
    }

    /// The tunnel replies come back through (the site end's, from the central end).
    fn reply_tunnel(self) -> Option<(Ipv4Addr, Option<u32>)> {
        (self == Case::SiteEnd).then_some((CENTRAL, Some(KEY_CENTRAL)))
    }

    fn client_l2(self) -> L2 {
        match self {
            Case::GreSnatKeyed => l2(0x0a, 0xa1),
            Case::GreSnat => l2(0x0b, 0xa1),
            Case::Snat => l2(0x96, 0xa1),
            Case::SiteEnd => l2(0x97, 0xa1),
            _ => l2(0xc1, 0xa0),
        }
    }
}

/// What a data packet looks like, beyond its flow.
#[derive(Debug, Clone)]
pub struct Shape {
    pub payload: Vec<u8>,
    pub ttl: u8,
    pub dont_frag: bool,
    pub tos: u8,
    pub tcp_flags: u8,
    /// UDP sent without a checksum.
    pub udp_zero: bool,
}

impl Default for Shape {
    fn default() -> Self {
        Shape {
            payload: b"data".to_vec(),
            ttl: 64,
            dont_frag: true,
            tos: 0,
            tcp_flags: ACK | PSH,
            udp_zero: false,
        }
    }
}

/// Data packets of every shape a flow's packets take: any payload up to beyond a tunnel's MTU,
/// any TTL (0 and 1 included), with and without Don't Fragment, any TOS, mostly data segments
/// but SYN, FIN and RST too, UDP with and without a checksum.
pub fn shapes() -> impl proptest::strategy::Strategy<Value = Shape> {
    use crate::wire::tcp::flags::{FIN, RST, URG};
    use proptest::prelude::*;
    (
        proptest::collection::vec(any::<u8>(), 0..1450),
        any::<u8>(),
        any::<bool>(),
        any::<u8>(),
        prop_oneof![
            6 => Just(ACK),
            6 => Just(ACK | PSH),
            1 => Just(ACK | URG),
            1 => Just(SYN | ACK),
            1 => Just(FIN | ACK),
            1 => Just(RST),
        ],
        any::<bool>(),
    )
        .prop_map(
            |(payload, ttl, dont_frag, tos, tcp_flags, udp_zero)| Shape {
                payload,
                ttl,
                dont_frag,
                tos,
                tcp_flags,
                udp_zero,
            },
        )
}

/// One flow of a case, established through a pipeline.
#[derive(Debug, Clone)]
pub struct Flow {
    pub case: Case,
    client: SocketAddrV4,
    dst: SocketAddrV4,
    /// The reply's source and destination as the pipeline's first output implies, and the
    /// interface MAC it arrives at.
    reply: Option<(SocketAddrV4, SocketAddrV4, L2)>,
}

/// An IPv4 packet of `proto` between two endpoints, shaped by `s`.
fn packet(proto_: u8, src: SocketAddrV4, dst: SocketAddrV4, s: &Shape, request: bool) -> Vec<u8> {
    let mut ip = match proto_ {
        proto::TCP => {
            let r = TcpRepr {
                src_port: src.port(),
                dst_port: dst.port(),
                seq_number: 1000,
                ack_number: 2000,
                flags: s.tcp_flags,
                window_len: 512,
                mss: None,
            };
            frames::tcp_packet(*src.ip(), *dst.ip(), &r, &s.payload)
        }
        proto::UDP => frames::udp_datagram(src, dst, &s.payload),
        _ => {
            let ident = if request { src.port() } else { dst.port() };
            frames::icmp_echo(*src.ip(), *dst.ip(), request, ident, &s.payload)
        }
    };
    let mut v = Ipv4Packet::new_checked(&mut ip[..]).expect("a packet");
    if proto_ == proto::UDP && s.udp_zero {
        UdpDatagram::new_checked(v.payload_mut())
            .expect("a datagram")
            .set_checksum(0);
    }
    v.set_ttl(s.ttl);
    v.set_flags_and_offset(s.dont_frag, false, 0);
    v.set_dscp_ecn(s.tos);
    v.fill_checksum();
    ip
}

/// `ip` in an Ethernet frame in a buffer of [`ROOM`] bytes; returns it and its length.
fn framed(l2_: L2, ip: &[u8]) -> (Vec<u8>, usize) {
    let mut f = frames::ethernet(l2_, ip);
    let len = f.len();
    f.resize(ROOM, 0);
    (f, len)
}

/// The source and destination endpoints of the (inner) packet in a frame.
fn endpoints(frame: &[u8]) -> (SocketAddrV4, SocketAddrV4) {
    let eth = EthernetFrame::new_checked(frame).expect("a frame");
    let mut ip = Ipv4Packet::new_checked(eth.payload()).expect("a packet");
    let inner;
    if ip.protocol() == proto::GRE || ip.protocol() == proto::IPIP {
        let at = if ip.protocol() == proto::GRE {
            GrePacket::new_checked(ip.payload())
                .expect("GRE")
                .header_len()
        } else {
            0
        };
        inner = ip.payload()[at..].to_vec();
        ip = Ipv4Packet::new_checked(&inner[..]).expect("an inner packet");
    }
    let l4 = ip.payload();
    let (sp, dp) = match ip.protocol() {
        proto::ICMP => {
            let m = IcmpPacket::new_checked(l4).expect("ICMP");
            if m.msg_type() == crate::wire::icmp::kind::ECHO_REQUEST {
                (m.echo_ident(), 0)
            } else {
                (0, m.echo_ident())
            }
        }
        _ => {
            let u = UdpDatagram::new_quoted(l4).expect("ports");
            (u.src_port(), u.dst_port())
        }
    };
    (
        SocketAddrV4::new(ip.src(), sp),
        SocketAddrV4::new(ip.dst(), dp),
    )
}

impl Flow {
    /// Opens flow `n` of `case` through `p` and brings it to the established state (TCP: the
    /// handshake; UDP and echo: a first exchange).
    pub fn open(case: Case, n: u16, p: &mut Pipeline, snap: &Snapshot, now: u32) -> Flow {
        let (client, dst) = case.ends(n);
        let mut flow = Flow {
            case,
            client,
            dst,
            reply: None,
        };
        let first = Shape {
            tcp_flags: SYN,
            payload: Vec::new(),
            ..Shape::default()
        };
        let (mut f, len) = flow.original(&first);
        let (v, out) = p.process_frame(snap, now, &mut f, len);
        let Verdict::Tx { iface } = v else {
            panic!("{case:?}: the first packet was not sent: {v:?}")
        };
        if case.two_way() {
            let (src, dst) = endpoints(&f[..out]);
            let at = snap.interfaces[usize::from(iface)].mac;
            let from = EthernetFrame::new_checked(&f[..out]).expect("frame").dst();
            flow.reply = Some((dst, src, L2 { src: from, dst: at }));
            let synack = Shape {
                tcp_flags: SYN | ACK,
                payload: Vec::new(),
                ..Shape::default()
            };
            let (mut r, len) = flow.reply_frame(&synack);
            let (v, _) = p.process_frame(snap, now, &mut r, len);
            assert!(matches!(v, Verdict::Tx { .. }), "{case:?}: reply {v:?}");
        }
        if case.proto() == proto::TCP {
            let ack = Shape {
                tcp_flags: ACK,
                payload: Vec::new(),
                ..Shape::default()
            };
            let (mut f, len) = flow.original(&ack);
            let (v, _) = p.process_frame(snap, now, &mut f, len);
            assert!(matches!(v, Verdict::Tx { .. }), "{case:?}: ACK {v:?}");
        }
        flow
    }

    /// A frame of the client's direction, in a buffer with room, and its length.
    pub fn original(&self, s: &Shape) -> (Vec<u8>, usize) {
        let ip = packet(self.case.proto(), self.client, self.dst, s, true);
        match self.case.site() {
            Some((remote, key)) => framed(
                self.case.client_l2(),
                &frames::gre_packet(remote, LOCAL, key, &ip),
            ),
            None => framed(self.case.client_l2(), &ip),
        }
    }

    /// A frame of the reply direction (none for direct-return cases).
    pub fn reply_frame(&self, s: &Shape) -> (Vec<u8>, usize) {
        let (src, dst, l2_) = self.reply.expect("a two-way flow");
        let ip = packet(self.case.proto(), src, dst, s, false);
        match self.case.reply_tunnel() {
            Some((remote, key)) => framed(l2_, &frames::gre_packet(remote, LOCAL, key, &ip)),
            None => framed(l2_, &ip),
        }
    }
}

/// Where an Ethernet frame's IPv4 packet starts, for tests that edit headers.
pub const L3: usize = ethernet::HEADER_LEN;
