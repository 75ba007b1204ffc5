//! What the offload tests share: an encoder of the map ABI written from its table
//! (docs/architecture.md), independent of the data plane's, the checksum deltas as the ABI
//! defines them, frame builders on top of `dataplane::frames`, and the loader with its skip
//! rule.

#![allow(dead_code)] // each test binary uses its own part

use std::net::{Ipv4Addr, SocketAddrV4};

use dataplane::frames::{self, L2};
use dataplane::wire::checksum::fold;
use dataplane::wire::{
    proto, EtherType, EthernetRepr, GreRepr, IcmpRepr, Ipv4Packet, Ipv4Repr, MacAddr, TcpRepr,
};
use xdp_offload::{LoadOptions, Offload, OffloadError};

pub const CLIENT: Ipv4Addr = Ipv4Addr::new(198, 18, 0, 10);
pub const VIP: Ipv4Addr = Ipv4Addr::new(198, 18, 1, 1);
pub const BACKEND: Ipv4Addr = Ipv4Addr::new(198, 18, 2, 20);
pub const LOCAL: Ipv4Addr = Ipv4Addr::new(198, 18, 2, 1);
pub const SITE: Ipv4Addr = Ipv4Addr::new(198, 19, 0, 2);
pub const TUNNEL_LOCAL: Ipv4Addr = Ipv4Addr::new(198, 19, 0, 1);

pub const IN_L2: L2 = L2 {
    src: MacAddr([0x02, 0, 0, 0, 0, 0x01]),
    dst: MacAddr([0x02, 0, 0, 0, 0, 0x02]),
};
pub const OUT_SMAC: [u8; 6] = [0x02, 0, 0, 0, 0, 0x03];
pub const OUT_DMAC: [u8; 6] = [0x02, 0, 0, 0, 0, 0x04];
pub const OUT_L2: L2 = L2 {
    src: MacAddr(OUT_SMAC),
    dst: MacAddr(OUT_DMAC),
};

/// lo: an ifindex that exists in every network namespace, so `BPF_PROG_TEST_RUN` accepts it
/// as the ingress interface; an entry leaving through it is sent back out (XDP_TX).
pub const LO: u32 = 1;

/// TCP ACK|PSH: a data segment of an established connection.
pub const ACK_PSH: u8 = 0x18;

/// Loads the program, or returns None (after saying why) when the kernel refuses BPF
/// altogether; any other failure, the verifier's above all, fails the test.
pub fn load() -> Option<Offload> {
    load_with(LoadOptions::default())
}

/// Loaded as the daemon leaves it: rules followed (a deadline that never passes).
pub fn load_with(options: LoadOptions) -> Option<Offload> {
    match Offload::load(options) {
        Ok(mut o) => {
            o.set_alive_until(u64::MAX).expect("ol_alive");
            Some(o)
        }
        Err(e) if !bpf_available() => {
            eprintln!("SKIP: the kernel refuses BPF here ({e})");
            None
        }
        Err(e) => panic!("{}", chain(&e)),
    }
}

/// The error with its causes (the verifier's log is in them).
pub fn chain(e: &OffloadError) -> String {
    let mut s = e.to_string();
    let mut cur: &dyn std::error::Error = e;
    while let Some(next) = cur.source() {
        s += &format!("\n  caused by: {next}");
        cur = next;
    }
    s
}

/// Whether the kernel lets this process create the simplest map at all.
fn bpf_available() -> bool {
    // union bpf_attr for BPF_MAP_CREATE: map_type (ARRAY = 2), key_size, value_size,
    // max_entries.
    let mut attr = [0u32; 32];
    attr[0] = 2;
    attr[1] = 4;
    attr[2] = 4;
    attr[3] = 1;
    // SAFETY: `attr` is a zeroed, live `union bpf_attr` of 128 bytes for BPF_MAP_CREATE.
    let fd = unsafe { libc::syscall(libc::SYS_bpf, 0, attr.as_mut_ptr(), 128u32) };
    if fd < 0 {
        return false;
    }
    // SAFETY: the kernel returned a descriptor that nothing else owns.
    unsafe { libc::close(fd as i32) };
    true
}

// ---- The ABI, encoded from its table. ----

#[derive(Debug, Clone, Copy, Default)]
pub struct Key {
    pub saddr: [u8; 4],
    pub daddr: [u8; 4],
    pub sport: u16,
    pub dport: u16,
    pub proto: u8,
    pub tunnel: u8,
    pub tun_remote: [u8; 4],
    pub tun_local: [u8; 4],
    pub tun_key: u32,
}

impl Key {
    pub fn plain(proto: u8, saddr: Ipv4Addr, sport: u16, daddr: Ipv4Addr, dport: u16) -> Key {
        Key {
            saddr: saddr.octets(),
            daddr: daddr.octets(),
            sport,
            dport,
            proto,
            ..Key::default()
        }
    }

    /// The same flow arriving in GRE from `remote` to `local`.
    pub fn in_gre(mut self, remote: Ipv4Addr, local: Ipv4Addr, key: Option<u32>) -> Key {
        self.tunnel = if key.is_some() { 2 } else { 1 };
        self.tun_remote = remote.octets();
        self.tun_local = local.octets();
        self.tun_key = key.unwrap_or(0);
        self
    }

    pub fn bytes(&self) -> [u8; 28] {
        let mut b = [0u8; 28];
        b[0..4].copy_from_slice(&self.saddr);
        b[4..8].copy_from_slice(&self.daddr);
        b[8..10].copy_from_slice(&self.sport.to_be_bytes());
        b[10..12].copy_from_slice(&self.dport.to_be_bytes());
        b[12] = self.proto;
        b[13] = self.tunnel;
        b[16..20].copy_from_slice(&self.tun_remote);
        b[20..24].copy_from_slice(&self.tun_local);
        b[24..28].copy_from_slice(&self.tun_key.to_be_bytes());
        b
    }
}

#[derive(Debug, Clone, Copy)]
pub struct Action {
    pub saddr: [u8; 4],
    pub daddr: [u8; 4],
    pub sport: u16,
    pub dport: u16,
    pub ip_delta: u16,
    pub l4_delta: u16,
    pub dmac: [u8; 6],
    pub smac: [u8; 6],
    pub ifindex: u32,
    pub max_len: u16,
    pub decap_len: u8,
    pub encap: u8,
    pub encap_len: u8,
    pub outer: [u8; 28],
    pub packets: u64,
    pub bytes: u64,
    pub last_seen: u64,
}

impl Action {
    pub fn bytes(&self) -> [u8; 96] {
        let mut b = [0u8; 96];
        b[0..4].copy_from_slice(&self.saddr);
        b[4..8].copy_from_slice(&self.daddr);
        b[8..10].copy_from_slice(&self.sport.to_be_bytes());
        b[10..12].copy_from_slice(&self.dport.to_be_bytes());
        b[12..14].copy_from_slice(&self.ip_delta.to_le_bytes());
        b[14..16].copy_from_slice(&self.l4_delta.to_le_bytes());
        b[16..22].copy_from_slice(&self.dmac);
        b[22..28].copy_from_slice(&self.smac);
        b[28..32].copy_from_slice(&self.ifindex.to_le_bytes());
        b[32..34].copy_from_slice(&self.max_len.to_le_bytes());
        b[34] = self.decap_len;
        b[35] = self.encap;
        b[36] = self.encap_len;
        b[40..68].copy_from_slice(&self.outer);
        b[72..80].copy_from_slice(&self.packets.to_le_bytes());
        b[80..88].copy_from_slice(&self.bytes.to_le_bytes());
        b[88..96].copy_from_slice(&self.last_seen.to_le_bytes());
        b
    }
}

/// The flow a rule is for: the (inner) packet as received, and what it becomes.
#[derive(Debug, Clone, Copy)]
pub struct Rewrite {
    pub proto: u8,
    /// For ICMP: whether the packet is an echo request (identifier = sport) or a reply
    /// (identifier = dport).
    pub echo_request: bool,
    pub src: Ipv4Addr,
    pub dst: Ipv4Addr,
    pub sport: u16,
    pub dport: u16,
    pub ttl: u8,
    pub new_src: Ipv4Addr,
    pub new_dst: Ipv4Addr,
    pub new_sport: u16,
    pub new_dport: u16,
}

fn words(a: Ipv4Addr) -> [u16; 2] {
    let o = a.octets();
    [
        u16::from_be_bytes([o[0], o[1]]),
        u16::from_be_bytes([o[2], o[3]]),
    ]
}

/// The ABI's delta: fold(sum over changed 16-bit words of (~old + new)).
pub fn delta(pairs: &[(u16, u16)]) -> u16 {
    let sum: u64 = pairs
        .iter()
        .filter(|(old, new)| old != new)
        .map(|&(old, new)| u64::from(!old) + u64::from(new))
        .sum();
    fold(sum)
}

impl Rewrite {
    pub fn key(&self) -> Key {
        let (sport, dport) = self.key_ports(self.sport, self.dport);
        Key::plain(self.proto, self.src, sport, self.dst, dport)
    }

    /// ICMP echo: the identifier is the request's source "port" and the reply's destination
    /// one; the other is 0.
    fn key_ports(&self, sport: u16, dport: u16) -> (u16, u16) {
        if self.proto != proto::ICMP {
            (sport, dport)
        } else if self.echo_request {
            (sport, 0)
        } else {
            (0, dport)
        }
    }

    fn addr_pairs(&self) -> Vec<(u16, u16)> {
        let (s, d) = (words(self.src), words(self.dst));
        let (ns, nd) = (words(self.new_src), words(self.new_dst));
        vec![(s[0], ns[0]), (s[1], ns[1]), (d[0], nd[0]), (d[1], nd[1])]
    }

    pub fn ip_delta(&self) -> u16 {
        let mut pairs = self.addr_pairs();
        let ttl_proto = |ttl: u8| u16::from_be_bytes([ttl, self.proto]);
        pairs.push((ttl_proto(self.ttl), ttl_proto(self.ttl - 1)));
        delta(&pairs)
    }

    pub fn l4_delta(&self) -> u16 {
        let (sport, dport) = self.key_ports(self.sport, self.dport);
        let (nsport, ndport) = self.key_ports(self.new_sport, self.new_dport);
        if self.proto == proto::ICMP {
            // No pseudo-header: the identifier only.
            return delta(&[(sport, nsport), (dport, ndport)]);
        }
        let mut pairs = self.addr_pairs();
        pairs.extend([(sport, nsport), (dport, ndport)]);
        delta(&pairs)
    }

    /// An entry that forwards this flow out of `ifindex` without tunnels.
    pub fn action(&self, ifindex: u32) -> Action {
        let (nsport, ndport) = self.key_ports(self.new_sport, self.new_dport);
        Action {
            saddr: self.new_src.octets(),
            daddr: self.new_dst.octets(),
            sport: nsport,
            dport: ndport,
            ip_delta: self.ip_delta(),
            l4_delta: self.l4_delta(),
            dmac: OUT_DMAC,
            smac: OUT_SMAC,
            ifindex,
            max_len: 1500,
            decap_len: 0,
            encap: 0,
            encap_len: 0,
            outer: [0; 28],
            packets: 0,
            bytes: 0,
            last_seen: 0,
        }
    }

    /// The IPv4 packet as received.
    pub fn packet(&self, payload: &[u8]) -> Vec<u8> {
        let ip = l4_packet(
            self.proto,
            self.echo_request,
            self.src,
            self.sport,
            self.dst,
            self.dport,
            payload,
        );
        with_ttl(ip, self.ttl)
    }

    /// The IPv4 packet as it should leave: built afresh, checksums from scratch.
    pub fn expected(&self, payload: &[u8]) -> Vec<u8> {
        let ip = l4_packet(
            self.proto,
            self.echo_request,
            self.new_src,
            self.new_sport,
            self.new_dst,
            self.new_dport,
            payload,
        );
        with_ttl(ip, self.ttl - 1)
    }
}

/// A TCP (ACK|PSH), UDP or ICMP echo packet; for ICMP, `sport` is a request's identifier and
/// `dport` a reply's.
pub fn l4_packet(
    protocol: u8,
    echo_request: bool,
    src: Ipv4Addr,
    sport: u16,
    dst: Ipv4Addr,
    dport: u16,
    payload: &[u8],
) -> Vec<u8> {
    match protocol {
        proto::TCP => {
            frames::tcp_packet(src, dst, &frames::tcp_repr(sport, dport, ACK_PSH), payload)
        }
        proto::UDP => frames::udp_datagram(
            SocketAddrV4::new(src, sport),
            SocketAddrV4::new(dst, dport),
            payload,
        ),
        proto::ICMP => {
            let ident = if echo_request { sport } else { dport };
            frames::icmp_echo(src, dst, echo_request, ident, payload)
        }
        p => panic!("no builder for protocol {p}"),
    }
}

pub fn tcp(src: Ipv4Addr, sport: u16, dst: Ipv4Addr, dport: u16, flags: u8) -> Vec<u8> {
    let r: TcpRepr = frames::tcp_repr(sport, dport, flags);
    frames::tcp_packet(src, dst, &r, b"payload")
}

pub fn icmp(src: Ipv4Addr, dst: Ipv4Addr, r: &IcmpRepr) -> Vec<u8> {
    frames::icmp_packet(src, dst, r, b"data")
}

/// `ip` with another TTL and its header checksum computed again.
pub fn with_ttl(mut ip: Vec<u8>, ttl: u8) -> Vec<u8> {
    let mut p = Ipv4Packet::new_unchecked(&mut ip[..]);
    p.set_ttl(ttl);
    p.fill_checksum();
    ip
}

/// `ip` changed by `f`, with its header checksum computed again.
pub fn edited(mut ip: Vec<u8>, f: impl FnOnce(&mut Ipv4Packet<&mut [u8]>)) -> Vec<u8> {
    let mut p = Ipv4Packet::new_unchecked(&mut ip[..]);
    f(&mut p);
    p.fill_checksum();
    ip
}

/// An Ethernet frame as a NIC delivers it (padded to 60 bytes).
pub fn frame_in(ip: &[u8]) -> Vec<u8> {
    frames::ethernet(IN_L2, ip)
}

/// An Ethernet frame as the program sends it: the rule's MACs, padded only when it kept the
/// received frame's length.
pub fn frame_out(ip: &[u8], padded: bool) -> Vec<u8> {
    if padded {
        return frames::ethernet(OUT_L2, ip);
    }
    let r = EthernetRepr {
        src: OUT_L2.src,
        dst: OUT_L2.dst,
        ethertype: EtherType::Ipv4,
    };
    let mut f = vec![0u8; r.buffer_len()];
    r.emit(&mut f);
    f.extend_from_slice(ip);
    f
}

/// The outer header template of a GRE encapsulation (ABI: ttl 64, everything else zero but
/// protocol and addresses) and its length.
pub fn gre_template(src: Ipv4Addr, dst: Ipv4Addr, key: Option<u32>) -> ([u8; 28], u8) {
    let mut t = [0u8; 28];
    template_ip(&mut t, proto::GRE, src, dst);
    let g = GreRepr {
        key,
        protocol: dataplane::wire::gre::PROTO_IPV4,
    };
    g.emit(&mut t[20..20 + g.buffer_len()]);
    (t, (20 + g.buffer_len()) as u8)
}

pub fn ipip_template(src: Ipv4Addr, dst: Ipv4Addr) -> ([u8; 28], u8) {
    let mut t = [0u8; 28];
    template_ip(&mut t, proto::IPIP, src, dst);
    (t, 20)
}

fn template_ip(t: &mut [u8; 28], protocol: u8, src: Ipv4Addr, dst: Ipv4Addr) {
    t[0] = 0x45;
    t[8] = 64;
    t[9] = protocol;
    t[12..16].copy_from_slice(&src.octets());
    t[16..20].copy_from_slice(&dst.octets());
}

/// The outer IPv4 header the program must write in front of `inner`: ID 0, DF, TTL 64, the
/// inner TOS for IPIP; then GRE if asked for.
pub fn encapsulated(
    src: Ipv4Addr,
    dst: Ipv4Addr,
    gre: Option<Option<u32>>,
    inner: &[u8],
) -> Vec<u8> {
    let inner_tos = inner[1];
    let mut body = Vec::new();
    let protocol = match gre {
        Some(key) => {
            let g = GreRepr {
                key,
                protocol: dataplane::wire::gre::PROTO_IPV4,
            };
            body.resize(g.buffer_len(), 0);
            g.emit(&mut body);
            proto::GRE
        }
        None => proto::IPIP,
    };
    body.extend_from_slice(inner);
    let r = Ipv4Repr {
        src,
        dst,
        protocol,
        payload_len: body.len(),
        ttl: 64,
        ident: 0,
        dont_frag: true,
        dscp_ecn: if gre.is_none() { inner_tos } else { 0 },
    };
    let mut ip = vec![0u8; r.buffer_len()];
    r.emit(&mut ip);
    ip.extend_from_slice(&body);
    ip
}

/// Compares two frames field by field (so that a failure names the field), then as bytes.
pub fn assert_frame_eq(got: &[u8], want: &[u8]) {
    let fields: &[(&str, std::ops::Range<usize>)] = &[
        ("eth dst", 0..6),
        ("eth src", 6..12),
        ("ethertype", 12..14),
        ("ip ver/ihl, tos", 14..16),
        ("ip total length", 16..18),
        ("ip id", 18..20),
        ("ip flags/frag", 20..22),
        ("ip ttl", 22..23),
        ("ip proto", 23..24),
        ("ip checksum", 24..26),
        ("ip src", 26..30),
        ("ip dst", 30..34),
    ];
    for (name, r) in fields {
        let (g, w) = (got.get(r.clone()), want.get(r.clone()));
        assert_eq!(g, w, "{name} differs\n got: {got:02x?}\nwant: {want:02x?}");
    }
    assert_eq!(
        got.len(),
        want.len(),
        "length differs\n got: {got:02x?}\nwant: {want:02x?}"
    );
    for (i, (g, w)) in got.iter().zip(want).enumerate() {
        assert_eq!(
            g, w,
            "byte {i} differs\n got: {got:02x?}\nwant: {want:02x?}"
        );
    }
}

/// Every checksum of the frame (outer and, for a tunnel, inner) verified from scratch.
pub fn assert_checksums(frame: &[u8]) {
    assert!(frames::checksums_ok(frame), "checksums wrong: {frame:02x?}");
    let ip = Ipv4Packet::new_checked(&frame[14..]).expect("IPv4");
    let inner_at = match ip.protocol() {
        proto::GRE => {
            let g = dataplane::wire::GrePacket::new_checked(ip.payload()).expect("GRE");
            Some(14 + 20 + g.header_len())
        }
        proto::IPIP => Some(14 + 20),
        _ => None,
    };
    if let Some(at) = inner_at {
        // Give the inner packet an Ethernet header of its own for the verifier.
        let inner = frame_out(&frame[at..], false);
        assert!(
            frames::checksums_ok(&inner),
            "inner checksums wrong: {frame:02x?}"
        );
    }
}
