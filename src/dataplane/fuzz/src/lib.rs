//! The harness of the `frame` target: one appliance that is at once a load balancer (a TCP
//! service with FullNAT, a UDP service in NAT mode, an ICMP service), the central end of two
//! GRE tunnels with a SNAT pool, and the site end of a third tunnel; a pipeline that already
//! holds flows of each kind; and frame templates (the setup frames, what the pipeline sent for
//! them, and the replies to those) that the input may patch instead of starting from nothing.
//! Random bytes alone rarely get past the Ethernet, IPv4 and checksum checks; a patched
//! template reaches the NAT, tunnel and ICMP-error paths on the first execution.

use std::net::{Ipv4Addr, SocketAddrV4};

use dataplane::conntrack::Timeouts;
use dataplane::frames::{self, L2};
use dataplane::gateway::{PoolSpec, TunnelSpec};
use dataplane::pipeline::{Pipeline, PipelineConfig, Verdict};
use dataplane::snapshot::{Direct, Scheduler, ServiceSpec, Snapshot, Spec};
use dataplane::testkit::{backend, ethernet_with_room, l2, mac, route, two_interfaces, ROOM};
use dataplane::wire::gre::PROTO_IPV4;
use dataplane::wire::tcp::flags::{ACK, PSH, SYN};
use dataplane::wire::{
    ethernet, proto, EtherType, EthernetFrame, EthernetRepr, GrePacket, IcmpPacket, Ipv4Packet,
    TcpSegment, UdpDatagram,
};

/// The central end of the pool tunnels and the site end of the site tunnel.
pub const LOCAL: Ipv4Addr = Ipv4Addr::new(198, 18, 8, 1);
/// Sites behind the pool tunnels: one with a key, one without.
pub const SITE_A: Ipv4Addr = Ipv4Addr::new(198, 18, 8, 10);
pub const SITE_B: Ipv4Addr = Ipv4Addr::new(198, 18, 8, 20);
pub const KEY_A: u32 = 100;
/// The central gateway the site tunnel leads to.
pub const CENTRAL: Ipv4Addr = Ipv4Addr::new(198, 18, 8, 30);
pub const KEY_CENTRAL: u32 = 200;
/// A host at a pool tunnel's site.
pub const SITE_HOST: Ipv4Addr = Ipv4Addr::new(198, 18, 70, 5);
/// A host inside the site tunnel's prefix (198.18.64.0/24).
pub const INSIDE_HOST: Ipv4Addr = Ipv4Addr::new(198, 18, 64, 5);
/// A host in the pool's untunnelled sources (198.18.96.0/24).
pub const SOURCE_HOST: Ipv4Addr = Ipv4Addr::new(198, 18, 96, 5);
pub const EXT1: Ipv4Addr = Ipv4Addr::new(198, 19, 0, 1);
pub const EXT2: Ipv4Addr = Ipv4Addr::new(198, 19, 0, 2);
/// FullNAT's source towards the backends.
pub const LB_LOCAL: Ipv4Addr = Ipv4Addr::new(198, 19, 0, 9);
pub const SERVER: Ipv4Addr = Ipv4Addr::new(198, 19, 1, 1);
pub const ROUTER: Ipv4Addr = Ipv4Addr::new(198, 19, 1, 254);
pub const CLIENT: Ipv4Addr = Ipv4Addr::new(198, 19, 1, 7);
pub const VIP: Ipv4Addr = Ipv4Addr::new(198, 18, 1, 1);
pub const BACKEND1: Ipv4Addr = Ipv4Addr::new(198, 18, 2, 1);
pub const BACKEND2: Ipv4Addr = Ipv4Addr::new(198, 18, 2, 2);
/// The host's own address on the inside interface.
pub const HOST_OWN: Ipv4Addr = Ipv4Addr::new(198, 18, 2, 254);

const IF_OUT: u16 = 0;
const IF_IN: u16 = 1;
const MTU: u16 = 1400;

/// Interface 0 faces the Internet and the clients, interface 1 the tunnels' underlay, the
/// backends and the inside hosts.
pub fn spec(workers: u16) -> Spec {
    let backends = vec![backend(BACKEND1, 8080, true), backend(BACKEND2, 8080, true)];
    let web = ServiceSpec {
        name: "web".into(),
        vip: VIP,
        port: 80,
        proto: proto::TCP,
        scheduler: Scheduler::Maglev,
        persistence_ms: 0,
        backends,
        pool: Some(1),
        direct: None,
    };
    let dns = ServiceSpec {
        name: "dns".into(),
        port: 53,
        proto: proto::UDP,
        scheduler: Scheduler::RoundRobin,
        persistence_ms: 60_000,
        backends: vec![backend(BACKEND1, 53, true), backend(BACKEND2, 53, false)],
        pool: None,
        ..web.clone()
    };
    let ping = ServiceSpec {
        name: "ping".into(),
        port: 0,
        proto: proto::ICMP,
        scheduler: Scheduler::LeastConn,
        persistence_ms: 0,
        backends: vec![backend(BACKEND1, 0, true), backend(BACKEND2, 0, true)],
        pool: None,
        ..web.clone()
    };
    // Direct server return, both ways of reaching the backend.
    let dr = ServiceSpec {
        name: "dr".into(),
        port: 443,
        pool: None,
        direct: Some(Direct::Routing),
        ..web.clone()
    };
    let tunnelled = ServiceSpec {
        name: "tunnelled".into(),
        port: 8443,
        proto: proto::UDP,
        pool: None,
        direct: Some(Direct::Tunnel {
            source: Some(LOCAL),
        }),
        ..web.clone()
    };
    Spec {
        locals: vec![HOST_OWN],
        services: vec![web, dns, ping, dr, tunnelled],
        interfaces: two_interfaces("outside", "inside"),
        routes: vec![
            route([198, 18, 8, 0], 24, None, IF_IN),
            route([198, 18, 2, 0], 24, None, IF_IN),
            route([198, 18, 64, 0], 24, None, IF_IN),
            route([198, 18, 96, 0], 24, None, IF_IN),
            route([198, 19, 1, 0], 24, None, IF_OUT),
            route([0, 0, 0, 0], 0, Some(ROUTER), IF_OUT),
        ],
        neighbours: vec![
            (SITE_A, mac(0x0a)),
            (SITE_B, mac(0x0b)),
            (CENTRAL, mac(0xce)),
            (INSIDE_HOST, mac(0x05)),
            (SOURCE_HOST, mac(0x06)),
            (SERVER, mac(0x51)),
            (ROUTER, mac(0xfe)),
            (CLIENT, mac(0xc1)),
            (BACKEND1, mac(0xb1)),
            (BACKEND2, mac(0xb2)),
        ],
        workers,
        hash_seed: 42,
        cluster_seed: 0,
        tunnels: vec![
            TunnelSpec {
                name: "site-a".into(),
                local: LOCAL,
                remote: SITE_A,
                key: Some(KEY_A),
                mtu: MTU,
                pool: Some(0),
                inside: vec![],
                // IPv6 in GRE, untranslated (`pipeline::routed6`).
                routed6: vec![("2001:db8:64::".parse().unwrap(), 48)],
                // NAT64 of the site's other prefix (`pipeline::gateway64`).
                nat64_sources: vec![("2001:db8:66::".parse().unwrap(), 48)],
            },
            TunnelSpec {
                name: "site-b".into(),
                local: LOCAL,
                remote: SITE_B,
                key: None,
                mtu: MTU,
                pool: Some(0),
                inside: vec![],
                routed6: vec![],
                nat64_sources: vec![],
            },
            TunnelSpec {
                name: "to-central".into(),
                local: LOCAL,
                remote: CENTRAL,
                key: Some(KEY_CENTRAL),
                mtu: MTU,
                pool: None,
                inside: vec![(Ipv4Addr::new(198, 18, 64, 0), 24)],
                routed6: vec![("2001:db8:65::".parse().unwrap(), 48)],
                nat64_sources: vec![],
            },
        ],
        pools: vec![
            PoolSpec {
                name: "internet".into(),
                addrs: vec![EXT1, EXT2],
                // A small range, so that exhaustion is reachable.
                ports: (20000, 20063),
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

const FROM_OUTSIDE: L2 = l2(0xc1, 0xa0);
const FROM_INSIDE: L2 = l2(0x05, 0xa1);

fn sa(a: Ipv4Addr, port: u16) -> SocketAddrV4 {
    SocketAddrV4::new(a, port)
}

/// The frames that set up the flows every input starts with: TCP handshakes and data to the
/// web service from several client ports (so that, with two workers, some are this worker's),
/// a DNS query, a ping to the VIP, connections from both pool tunnels' sites and from an
/// untunnelled source, and an inside host's connection through the site tunnel.
pub fn setup_frames() -> Vec<Vec<u8>> {
    let mut out = Vec::new();
    for port in 40000..40004 {
        let c = sa(CLIENT, port);
        let v = sa(VIP, 80);
        out.push(frames::tcp_segment(c, v, SYN, b""));
        out.push(frames::tcp_segment(
            c,
            v,
            ACK | PSH,
            b"GET / HTTP/1.1\r\n\r\n",
        ));
    }
    for port in 5300..5302 {
        out.push(frames::udp_datagram(
            sa(CLIENT, port),
            sa(VIP, 53),
            b"query",
        ));
    }
    out.push(frames::icmp_echo(CLIENT, VIP, true, 7, b"ping"));
    for port in 41000..41002 {
        out.push(frames::tcp_segment(
            sa(CLIENT, port),
            sa(VIP, 443),
            SYN,
            b"",
        ));
        out.push(frames::tcp_segment(
            sa(CLIENT, port),
            sa(VIP, 443),
            ACK,
            b"x",
        ));
        out.push(frames::udp_datagram(sa(CLIENT, port), sa(VIP, 8443), b"u"));
    }
    let framed: Vec<Vec<u8>> = out
        .into_iter()
        .map(|ip| ethernet_with_room(FROM_OUTSIDE, &ip))
        .collect();
    let mut out = framed;
    for port in 5000..5003 {
        let inner = frames::tcp_segment(sa(SITE_HOST, port), sa(SERVER, 443), SYN, b"");
        out.push(ethernet_with_room(
            l2(0x0a, 0xa1),
            &frames::gre_packet(SITE_A, LOCAL, Some(KEY_A), &inner),
        ));
        let inner = frames::udp_datagram(sa(SITE_HOST, port), sa(SERVER, 53), b"q");
        out.push(ethernet_with_room(
            l2(0x0b, 0xa1),
            &frames::gre_packet(SITE_B, LOCAL, None, &inner),
        ));
    }
    // IPv6 in GRE from site a, to be routed untranslated.
    let inner6 = dataplane::testkit::v6::udp6(
        "2001:db8:64::5".parse().unwrap(),
        5000,
        "2001:db8:70::2".parse().unwrap(),
        53,
        b"q",
    );
    let mut g = frames::gre_packet(SITE_A, LOCAL, Some(KEY_A), &inner6);
    dataplane::wire::GrePacket::new_unchecked(
        dataplane::wire::Ipv4Packet::new_unchecked(&mut g[..]).payload_mut(),
    )
    .set_protocol(dataplane::wire::gre::PROTO_IPV6);
    out.push(ethernet_with_room(l2(0x0a, 0xa1), &g));
    // IPv6 in GRE from site a's NAT64 sources to the server under the NAT64 prefix
    // (`pipeline::gateway64`).
    let inner64 = dataplane::testkit::v6::udp6(
        "2001:db8:66::5".parse().unwrap(),
        5000,
        "2001:db8:64::c613:101".parse().unwrap(),
        53,
        b"q",
    );
    let mut g = frames::gre_packet(SITE_A, LOCAL, Some(KEY_A), &inner64);
    dataplane::wire::GrePacket::new_unchecked(
        dataplane::wire::Ipv4Packet::new_unchecked(&mut g[..]).payload_mut(),
    )
    .set_protocol(dataplane::wire::gre::PROTO_IPV6);
    out.push(ethernet_with_room(l2(0x0a, 0xa1), &g));
    let ip = frames::tcp_segment(sa(SOURCE_HOST, 6000), sa(SERVER, 443), SYN, b"");
    out.push(ethernet_with_room(l2(0x06, 0xa1), &ip));
    let ip = frames::icmp_echo(SOURCE_HOST, SERVER, true, 9, b"out");
    out.push(ethernet_with_room(l2(0x06, 0xa1), &ip));
    let ip = frames::tcp_segment(sa(INSIDE_HOST, 7000), sa(SERVER, 443), SYN, b"");
    out.push(ethernet_with_room(FROM_INSIDE, &ip));
    let inner = frames::tcp_segment(sa(SERVER, 443), sa(INSIDE_HOST, 7000), SYN | ACK, b"");
    out.push(ethernet_with_room(
        l2(0xce, 0xa0),
        &frames::gre_packet(CENTRAL, LOCAL, Some(KEY_CENTRAL), &inner),
    ));
    out
}

/// Everything one input runs against.
pub struct World {
    /// With one worker and with two (worker 0 of two hands some flows over).
    pub snaps: [Snapshot; 2],
    /// Per snapshot: the setup frames, what the pipeline sent for them, the replies to those
    /// and ICMP errors about them.
    pub templates: [Vec<Vec<u8>>; 2],
}

/// The time the setup runs at, in milliseconds; inputs move it on.
pub const START: u32 = 1_000;

impl World {
    pub fn new() -> World {
        let snaps = [1, 2]
            .map(|w| Snapshot::build_with_v6(&spec(w), &spec6(), None).expect("a valid spec"));
        let templates = [0, 1].map(|i| {
            let mut p = pipeline();
            let mut t = Vec::new();
            for f in setup_frames() {
                let mut buf = f.clone();
                let len = used_len(&buf);
                let (v, n) = p.process_frame(&snaps[i], START, &mut buf, len);
                t.push(trimmed(&f));
                if let Verdict::Tx { .. } = v {
                    buf.truncate(n);
                    t.push(buf.clone());
                    if let Some(r) = reply_to(&buf) {
                        t.push(r);
                    }
                    t.push(error_about(&buf));
                }
            }
            // IPv6: the setup frames, what the pipeline sent for them, and a Packet Too Big
            // about each.
            for f in setup_frames_v6() {
                let mut buf = f.clone();
                buf.resize(ROOM, 0);
                let (v, n) = p.process_frame(&snaps[i], START, &mut buf, f.len());
                t.push(f);
                if let Verdict::Tx { .. } = v {
                    buf.truncate(n);
                    if EthernetFrame::new_checked(&buf[..]).map(|e| e.ethertype())
                        == Ok(EtherType::Ipv4)
                    {
                        // NAT64: the backend's reply and a router's error come back over IPv4
                        // (and IPv6 into a tunnel leaves in GRE over IPv4).
                        if let Some(r) = reply_to(&buf) {
                            t.push(r);
                        }
                        t.push(icmp_error_about(&buf));
                    } else {
                        t.push(packet_too_big_about(&buf));
                    }
                    t.push(buf);
                }
            }
            t
        });
        World { snaps, templates }
    }

    /// A fresh worker-0 pipeline that has seen the setup frames.
    pub fn established(&self, snap: usize) -> Pipeline {
        let mut p = pipeline();
        for mut f in setup_frames() {
            let len = used_len(&f);
            p.process_frame(&self.snaps[snap], START, &mut f, len);
        }
        for f in setup_frames_v6() {
            let mut buf = f.clone();
            buf.resize(ROOM, 0);
            p.process_frame(&self.snaps[snap], START, &mut buf, f.len());
        }
        p
    }
}

impl Default for World {
    fn default() -> Self {
        World::new()
    }
}

/// With the established-flow offload on, so that every established packet also goes through
/// the rule's derivation and the program's model (`dataplane::offload`).
fn pipeline() -> Pipeline {
    Pipeline::new(PipelineConfig {
        worker: 0,
        conntrack_capacity: 256,
        persist_slots: 64,
        offload: true,
        ..PipelineConfig::default()
    })
}

/// A setup frame's length without the room behind it: its Ethernet header and IPv4 packet,
/// padded to the 60-byte minimum.
fn used_len(f: &[u8]) -> usize {
    let eth = EthernetFrame::new_checked(f).expect("a frame");
    let ip = Ipv4Packet::new_checked(eth.payload()).expect("an IPv4 packet");
    (ethernet::HEADER_LEN + usize::from(ip.total_len())).max(60)
}

fn trimmed(f: &[u8]) -> Vec<u8> {
    f[..used_len(f)].to_vec()
}

/// The answer the other end would send to `sent`: addresses, ports and MACs swapped, a SYN
/// answered by SYN+ACK, an echo request by its reply. GRE is answered inside the tunnel.
pub fn reply_to(sent: &[u8]) -> Option<Vec<u8>> {
    let mut f = sent.to_vec();
    let mut eth = EthernetFrame::new_checked(&mut f[..]).ok()?;
    let (s, d) = (eth.src(), eth.dst());
    eth.set_src(d);
    eth.set_dst(s);
    let mut ip = Ipv4Packet::new_checked(eth.payload_mut()).ok()?;
    swap_ip(&mut ip)?;
    fix_checksums(&mut f);
    Some(f)
}

fn swap_ip(ip: &mut Ipv4Packet<&mut [u8]>) -> Option<()> {
    let (src, dst) = (ip.src(), ip.dst());
    ip.set_src(dst);
    ip.set_dst(src);
    match ip.protocol() {
        proto::TCP => {
            let mut t = TcpSegment::new_checked(ip.payload_mut()).ok()?;
            let (sp, dp) = (t.src_port(), t.dst_port());
            t.set_src_port(dp);
            t.set_dst_port(sp);
            if t.flags() & SYN != 0 {
                t.set_flags(SYN | ACK);
            }
        }
        proto::UDP => {
            let mut u = UdpDatagram::new_checked(ip.payload_mut()).ok()?;
            let (sp, dp) = (u.src_port(), u.dst_port());
            u.set_src_port(dp);
            u.set_dst_port(sp);
        }
        proto::ICMP => {
            let mut m = IcmpPacket::new_checked(ip.payload_mut()).ok()?;
            m.set_msg_type(dataplane::wire::icmp::kind::ECHO_REPLY);
        }
        proto::GRE => {
            let g = GrePacket::new_checked(ip.payload_mut()).ok()?;
            if g.protocol() != PROTO_IPV4 {
                return None;
            }
            let hl = g.header_len();
            let mut inner = Ipv4Packet::new_checked(&mut ip.payload_mut()[hl..]).ok()?;
            swap_ip(&mut inner)?;
        }
        _ => return None,
    }
    Some(())
}

/// A router's error about a frame the pipeline sent, in the family it left in (a tunnel
/// changes it: IPv6 in GRE over IPv4).
fn error_about(sent: &[u8]) -> Vec<u8> {
    match EthernetFrame::new_checked(sent).map(|e| e.ethertype()) {
        Ok(dataplane::wire::EtherType::Ipv6) => packet_too_big_about(sent),
        _ => icmp_error_about(sent),
    }
}

/// A router's "fragmentation needed" (MTU 1280) about `sent`, addressed to its source.
pub fn icmp_error_about(sent: &[u8]) -> Vec<u8> {
    let eth = EthernetFrame::new_checked(sent).expect("a frame");
    let ip = Ipv4Packet::new_checked(eth.payload()).expect("an IPv4 packet");
    let err = frames::icmp_packet(
        ROUTER,
        ip.src(),
        &dataplane::wire::IcmpRepr::DestUnreachable {
            code: 4,
            next_hop_mtu: 1280,
        },
        &ip.packet()[..ip.packet().len().min(28 + 40)],
    );
    let to_us = L2 {
        src: eth.dst(),
        dst: eth.src(),
    };
    frames::ethernet(to_us, &err)
}

/// Refills every checksum of an IPv4 frame the way a sender computes them: the IPv4 header;
/// TCP, UDP and ICMP; a GRE packet's inner IPv4 packet. What cannot be parsed is left as it is.
pub fn fix_checksums(frame: &mut [u8]) {
    let Ok(mut eth) = EthernetFrame::new_checked(&mut frame[..]) else {
        return;
    };
    if eth.ethertype() != EtherType::Ipv4 {
        return;
    }
    if let Ok(mut ip) = Ipv4Packet::new_checked(eth.payload_mut()) {
        fix_ip(&mut ip);
    }
}

fn fix_ip(ip: &mut Ipv4Packet<&mut [u8]>) {
    let (src, dst) = (ip.src(), ip.dst());
    let fragment = ip.is_fragment();
    match ip.protocol() {
        _ if fragment => {}
        proto::TCP => {
            if let Ok(mut t) = TcpSegment::new_checked(ip.payload_mut()) {
                t.fill_checksum(src, dst);
            }
        }
        proto::UDP => {
            if let Ok(mut u) = UdpDatagram::new_checked(ip.payload_mut()) {
                u.fill_checksum(src, dst);
            }
        }
        proto::ICMP => {
            if let Ok(mut m) = IcmpPacket::new_checked(ip.payload_mut()) {
                m.fill_checksum();
            }
        }
        proto::GRE => {
            let hl = match GrePacket::new_checked(ip.payload_mut()) {
                Ok(g) if g.protocol() == PROTO_IPV4 => Some(g.header_len()),
                _ => None,
            };
            if let Some(hl) = hl {
                if let Ok(mut inner) = Ipv4Packet::new_checked(&mut ip.payload_mut()[hl..]) {
                    fix_ip(&mut inner);
                }
            }
        }
        _ => {}
    }
    ip.fill_checksum();
}

/// Whether every checksum a receiver would check is right: [`frames::checksums_ok`], and for
/// GRE the inner packet's too. The pipeline updates checksums incrementally, so a frame that
/// arrives wrong may leave wrong; one that arrives right must leave right.
pub fn all_checksums_ok(frame: &[u8]) -> bool {
    if !frames::checksums_ok(frame) {
        return false;
    }
    let eth = EthernetFrame::new_checked(frame).expect("checked");
    let ip = Ipv4Packet::new_checked(eth.payload()).expect("checked");
    if ip.protocol() != proto::GRE || ip.is_fragment() {
        return true;
    }
    let Ok(g) = GrePacket::new_checked(ip.payload()) else {
        return true;
    };
    if g.protocol() != PROTO_IPV4 {
        return true;
    }
    let r = EthernetRepr {
        src: eth.src(),
        dst: eth.dst(),
        ethertype: EtherType::Ipv4,
    };
    let mut inner = vec![0u8; r.buffer_len()];
    r.emit(&mut inner);
    inner.extend_from_slice(g.payload());
    // An inner packet that is not IPv4 at all is the pipeline's to refuse, not a checksum.
    Ipv4Packet::new_checked(g.payload()).is_err() || all_checksums_ok(&inner)
}

/// The IPv6 fixture of `dataplane::testkit::v6` and a NAT64 service: `VIP64` to the IPv4
/// backends through FullNAT pool 1 (`LB_LOCAL`).
pub fn spec6() -> dataplane::snapshot::v6::SpecV6 {
    use dataplane::snapshot::v6::ServiceSpecV6;
    use dataplane::snapshot::BackendSpec;
    let mut s = dataplane::testkit::v6::spec6(2);
    let web64 = ServiceSpecV6 {
        name: "web64".into(),
        vip: VIP64
            .parse::<std::net::Ipv6Addr>()
            .expect("an address")
            .into(),
        port: 80,
        proto: proto::TCP,
        scheduler: Scheduler::RoundRobin,
        persistence_ms: 0,
        backends: [BACKEND1, BACKEND2]
            .iter()
            .map(|&b| BackendSpec {
                addr: b.into(),
                port: 8080,
                weight: 1,
                up: true,
            })
            .collect(),
        pool: Some(1),
        direct: None,
        nat64: true,
    };
    let mut ping64 = web64.clone();
    (ping64.name, ping64.port, ping64.proto) = ("ping64".into(), 0, proto::ICMPV6);
    s.services.extend([web64, ping64]);
    s.nat64_prefix = "2001:db8:64::/96".parse().expect("a prefix");
    s
}

/// The NAT64 service's VIP.
pub const VIP64: &str = "2001:db8:1::64";

/// IPv6 flows of every kind the fixture of `dataplane::testkit::v6` has: NAT, FullNAT and
/// DR TCP, UDP, echo, and a SYN behind hop-by-hop and destination options; and NAT64 TCP and
/// echo.
pub fn setup_frames_v6() -> Vec<Vec<u8>> {
    use dataplane::testkit::v6::*;
    use dataplane::wire::ipv6::ext;
    use dataplane::wire::Icmpv6Repr;
    let c = a6(CLIENT);
    let seg = tcp6(c, 40010, a6(VIP), 80, SYN)[40..].to_vec();
    let chain = [
        [ext::DEST_OPTIONS, 0, 1, 4, 0, 0, 0, 0],
        [proto::TCP, 0, 1, 4, 0, 0, 0, 0],
    ]
    .concat();
    [
        tcp6(c, 40000, a6(VIP), 80, SYN),
        tcp6(c, 40001, a6(VIP_FULLNAT), 80, SYN),
        tcp6(c, 40002, a6(VIP_DR), 80, SYN | ACK),
        udp6(c, 5353, a6(VIP), 53, b"query"),
        icmp6(
            c,
            a6(VIP),
            &Icmpv6Repr::EchoRequest {
                ident: 9,
                seq_no: 1,
            },
            b"ping",
        ),
        ipv6_packet_ext(c, a6(VIP), ext::HOP_BY_HOP, &chain, &seg, 64),
        // Into site a's tunnel, and out of the site tunnel's prefix (`pipeline::routed6`).
        udp6(c, 5000, a6("2001:db8:64::5"), 53, b"to a site"),
        udp6(a6("2001:db8:65::5"), 5000, c, 53, b"from the site"),
        tcp6(c, 40020, a6(VIP64), 80, SYN),
        icmp6(
            c,
            a6(VIP64),
            &Icmpv6Repr::EchoRequest {
                ident: 10,
                seq_no: 1,
            },
            b"ping",
        ),
    ]
    .iter()
    .map(|ip| eth6(l2(0xfe, 0xa0), ip))
    .collect()
}

/// A router's Packet Too Big about an IPv6 frame the pipeline sent.
fn packet_too_big_about(sent: &[u8]) -> Vec<u8> {
    use dataplane::testkit::v6::*;
    let ip = ip6_of(sent);
    let quote = &sent[ethernet::HEADER_LEN..sent.len().min(ethernet::HEADER_LEN + 120)];
    let err = icmp6(
        a6("2001:db8:2::fe"),
        ip.src(),
        &dataplane::wire::Icmpv6Repr::PacketTooBig { mtu: 1280 },
        quote,
    );
    eth6(l2(0x10, 0xa1), &err)
}

/// For an IPv6 frame whose upper layer (TCP, UDP, ICMPv6) follows the fixed header: whether
/// its checksum verifies. `None` for anything else.
fn v6_checksum_ok(frame: &[u8]) -> Option<bool> {
    use dataplane::wire::{checksum, Ipv6Packet};
    let eth = EthernetFrame::new_checked(frame).ok()?;
    if eth.ethertype() != EtherType::Ipv6 {
        return None;
    }
    let ip = Ipv6Packet::new_checked(eth.payload()).ok()?;
    let nh = ip.next_header();
    if !matches!(nh, proto::TCP | proto::UDP | proto::ICMPV6) {
        return None;
    }
    let l4 = ip.payload();
    Some(
        checksum::fold(
            checksum::pseudo_header_v6(ip.src(), ip.dst(), nh, l4.len() as u32) + checksum::sum(l4),
        ) == 0xffff,
    )
}

/// For IPv6 in GRE over IPv4: whether the outer header's checksum and the inner packet's
/// upper-layer checksum verify (`None` when the frame is not that, or the inner upper layer is
/// not TCP, UDP or ICMPv6 right behind the fixed header).
fn gre6_checksum_ok(frame: &[u8]) -> Option<bool> {
    let eth = EthernetFrame::new_checked(frame).ok()?;
    let ip = Ipv4Packet::new_checked(eth.payload()).ok()?;
    if ip.protocol() != proto::GRE || ip.is_fragment() {
        return None;
    }
    let g = GrePacket::new_checked(ip.payload()).ok()?;
    if g.protocol() != dataplane::wire::gre::PROTO_IPV6 {
        return None;
    }
    let inner = dataplane::testkit::v6::eth6(l2(0, 0), g.payload());
    v6_checksum_ok(&inner).map(|ok| ok && ip.verify_checksum())
}

/// One input: a choice of snapshot, then records of
/// `[dt, sel, len_lo, len_hi, body...]` until the bytes run out. `dt` moves the clock on by
/// `dt` × 250 ms (and runs the expiry). `sel` bit 0: the body is a whole frame (0) or patches
/// to template `sel >> 2` (1): pairs of (offset, xor) and, when odd, a last byte that cuts the
/// frame to that length. `sel` bit 1: refill the checksums before sending the frame in.
pub fn run(world: &World, data: &[u8]) {
    // The program's parser in Rust, on the raw bytes.
    let _ = dataplane::offload::model::parse(data);
    let Some((&first, mut rest)) = data.split_first() else {
        return;
    };
    let s = usize::from(first & 1);
    let snap = &world.snaps[s];
    let templates = &world.templates[s];
    let mut p = world.established(s);
    let mut now = START;
    let mut buf = vec![0u8; ROOM];
    while rest.len() >= 4 {
        let (dt, sel) = (rest[0], rest[1]);
        let len = usize::from(u16::from_le_bytes([rest[2], rest[3]])).min(rest.len() - 4);
        let body = &rest[4..4 + len];
        rest = &rest[4 + len..];
        if dt > 0 {
            now = now.wrapping_add(u32::from(dt) * 250);
            p.housekeeping(now);
        }
        let n = if sel & 1 == 0 {
            let n = body.len().min(ROOM);
            buf[..n].copy_from_slice(&body[..n]);
            n
        } else {
            let t = &templates[usize::from(sel >> 2) % templates.len()];
            let mut n = t.len();
            buf[..n].copy_from_slice(t);
            for pair in body.chunks(2) {
                match *pair {
                    [off, x] => buf[usize::from(off) % n] ^= x,
                    [cut] => n = n.min(usize::from(cut)),
                    _ => unreachable!("chunks of two"),
                }
            }
            n
        };
        buf[n..].fill(0);
        if sel & 2 != 0 {
            fix_checksums(&mut buf[..n]);
        }
        let valid6 = v6_checksum_ok(&buf[..n]).or_else(|| gre6_checksum_ok(&buf[..n]));
        let valid = valid6.is_none() && all_checksums_ok(&buf[..n]);
        let (v, out) = p.process_frame(snap, now, &mut buf, n);
        assert!(out <= ROOM, "frame grew past its buffer: {out}");
        // As a worker does between batches: the offload's log drained.
        p.take_offload(|_| {});
        if let Verdict::Tx { iface } = v {
            assert!(usize::from(iface) < 2, "no interface {iface}");
            // NAT64 changes the family: the check is the one of the family that leaves.
            let out_v6 = EthernetFrame::new_checked(&buf[..out]).map(|e| e.ethertype())
                == Ok(EtherType::Ipv6);
            if valid && !out_v6 {
                assert!(
                    all_checksums_ok(&buf[..out]),
                    "a frame with valid checksums left with a bad one: {v:?}"
                );
            }
            if (valid || valid6 == Some(true)) && out_v6 {
                assert_ne!(
                    v6_checksum_ok(&buf[..out]),
                    Some(false),
                    "an IPv6 packet with a valid checksum left with a bad one: {v:?}"
                );
            }
            if valid6 == Some(true) && !out_v6 {
                // IPv6 into a tunnel: the packet inside the GRE is as good as it came.
                assert_ne!(
                    gre6_checksum_ok(&buf[..out]),
                    Some(false),
                    "an IPv6 packet with a valid checksum left in GRE with a bad one: {v:?}"
                );
            }
            if valid6 == Some(true) && !out_v6 {
                // The outer header; a translated error's quote may have been garbage.
                let eth = EthernetFrame::new_checked(&buf[..out]).expect("a frame");
                assert!(
                    Ipv4Packet::new_checked(eth.payload()).is_ok_and(|ip| ip.verify_checksum()),
                    "an IPv6 frame with a valid checksum left as IPv4 with a bad header: {v:?}"
                );
            }
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    /// Every template, whole and with a byte flipped at each of a few places, through both
    /// snapshots: the fuzz target's checks hold on its own seeds (NAT64 included).
    #[test]
    fn templates_run_clean() {
        let w = World::new();
        assert!(w.templates[0].len() > 20);
        for s in 0..2u8 {
            for t in 0..w.templates[usize::from(s)].len() as u8 {
                for (off, x) in [(0u8, 0u8), (20, 1), (40, 0x80), (60, 0xff), (90, 3)] {
                    let data = [s, 0, 1 | (t << 2), 2, 0, off, x];
                    run(&w, &data);
                    // With the checksums refilled after the patch.
                    let data = [s, 0, 3 | (t << 2), 2, 0, off, x];
                    run(&w, &data);
                }
            }
        }
    }
}
