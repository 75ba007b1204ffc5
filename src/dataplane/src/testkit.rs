//! Fixtures for tests and benchmarks: the pieces of a [`Spec`](super::snapshot::Spec), the
//! pipeline and the frames that the pipeline's unit tests and the in-memory benchmarks
//! (`benches/`) build the same way. Like [`frames`], they allocate and panic on bad input;
//! the daemon never uses them.
//!
//! Conventions: MAC addresses are `02:00:00:00:00:<last>` ([`mac`]); a two-interface appliance
//! has MAC `…:a0` on interface 0 and `…:a1` on interface 1 ([`two_interfaces`]).

pub mod memory;
pub mod offload;
pub mod v6;
pub mod web;

use std::net::{Ipv4Addr, SocketAddrV4};

use super::frames::{self, L2};
use super::neighbours::Route;
use super::pipeline::{Pipeline, PipelineConfig, Verdict};
use super::snapshot::{BackendSpec, InterfaceSpec, Scheduler, ServiceSpec, Snapshot};
use super::wire::{
    ethernet, EthernetFrame, IcmpPacket, Ipv4Packet, MacAddr, TcpRepr, TcpSegment, UdpDatagram,
};

/// How long a frame buffer is when the pipeline may grow the frame (GRE encapsulation), as an
/// AF_XDP UMEM chunk leaves room behind the frame.
pub const ROOM: usize = 2048;

/// The test MAC address `02:00:00:00:00:<last>`.
pub const fn mac(last: u8) -> MacAddr {
    MacAddr([2, 0, 0, 0, 0, last])
}

/// Ethernet addresses from [`mac`]`(src)` to [`mac`]`(dst)`.
pub const fn l2(src: u8, dst: u8) -> L2 {
    L2 {
        src: mac(src),
        dst: mac(dst),
    }
}

pub fn sa(addr: Ipv4Addr, port: u16) -> SocketAddrV4 {
    SocketAddrV4::new(addr, port)
}

/// A route to `net/prefix_len` out of interface `iface`, through `gateway` (`None`: on link).
pub fn route(net: [u8; 4], prefix_len: u8, gateway: Option<Ipv4Addr>, iface: u16) -> Route {
    Route {
        net: Ipv4Addr::from(net),
        prefix_len,
        gateway,
        iface,
        src: None,
    }
}

/// Interface 0 named `first` with MAC `…:a0`, interface 1 named `second` with MAC `…:a1`.
pub fn two_interfaces(first: &str, second: &str) -> Vec<InterfaceSpec> {
    vec![
        InterfaceSpec {
            name: first.into(),
            mac: mac(0xa0),
            mtu: 1500,
        },
        InterfaceSpec {
            name: second.into(),
            mac: mac(0xa1),
            mtu: 1500,
        },
    ]
}

/// A backend of weight 1.
pub fn backend(addr: Ipv4Addr, port: u16, up: bool) -> BackendSpec {
    BackendSpec {
        addr,
        port,
        weight: 1,
        up,
    }
}

/// Service `web`: TCP to `vip:80`, Maglev, no persistence, over `backends`; FullNAT from
/// `pool` if given. Other services take their differences with `..web_service(..)`.
pub fn web_service(vip: Ipv4Addr, backends: Vec<BackendSpec>, pool: Option<u16>) -> ServiceSpec {
    ServiceSpec {
        name: "web".into(),
        vip,
        port: 80,
        proto: 6,
        scheduler: Scheduler::Maglev,
        persistence_ms: 0,
        backends,
        pool,
        direct: None,
    }
}

/// Worker `worker`'s pipeline with room for `conntrack_capacity` flows, defaults otherwise.
pub fn pipeline(worker: u16, conntrack_capacity: u32) -> Pipeline {
    Pipeline::new(PipelineConfig {
        worker,
        conntrack_capacity,
        ..PipelineConfig::default()
    })
}

/// An Ethernet frame around `ip`, in a buffer of [`ROOM`] bytes so that it may grow.
pub fn ethernet_with_room(l2: L2, ip: &[u8]) -> Vec<u8> {
    let mut f = frames::ethernet(l2, ip);
    f.resize(ROOM, 0);
    f
}

/// Runs the whole of `f` through [`Pipeline::process_frame`]; a frame it transmits is cut to
/// its new length and must have correct checksums.
pub fn run_frame(p: &mut Pipeline, snap: &Snapshot, now: u32, f: &mut Vec<u8>) -> Verdict {
    let len = f.len();
    let (v, n) = p.process_frame(snap, now, f, len);
    if matches!(v, Verdict::Tx { .. }) {
        f.truncate(n);
        assert!(frames::checksums_ok(f), "bad checksum: {v:?}");
    }
    v
}

/// The IPv4 packet of an Ethernet frame.
pub fn ip_of(frame: &[u8]) -> Ipv4Packet<&[u8]> {
    Ipv4Packet::new_checked(&frame[ethernet::HEADER_LEN..]).expect("an IPv4 packet")
}

/// The IPv4 packet of an Ethernet frame, for rewriting it.
pub fn ip_mut(frame: &mut [u8]) -> Ipv4Packet<&mut [u8]> {
    Ipv4Packet::new_checked(&mut frame[ethernet::HEADER_LEN..]).expect("an IPv4 packet")
}

/// The bytes of the IPv4 packet of an Ethernet frame, to its Total Length.
pub fn ip_bytes(frame: &[u8]) -> &[u8] {
    ip_of(frame).into_packet()
}

/// The Ethernet header of a frame.
pub fn eth_of(frame: &[u8]) -> EthernetFrame<&[u8]> {
    EthernetFrame::new_checked(frame).expect("an Ethernet frame")
}

/// The ICMP message `ip` carries.
pub fn icmp_of<'a>(ip: &Ipv4Packet<&'a [u8]>) -> IcmpPacket<&'a [u8]> {
    IcmpPacket::new_checked(ip.into_payload()).expect("an ICMP message")
}

/// The TCP segment `ip` carries.
pub fn tcp_of<'a>(ip: &Ipv4Packet<&'a [u8]>) -> TcpSegment<&'a [u8]> {
    TcpSegment::new_checked(ip.into_payload()).expect("a TCP segment")
}

/// The datagram the ICMP error in `ip` quotes.
pub fn quoted_of<'a>(ip: &Ipv4Packet<&'a [u8]>) -> Ipv4Packet<&'a [u8]> {
    Ipv4Packet::new_quoted(icmp_of(ip).into_quoted()).expect("a quoted IPv4 header")
}

/// `ip`, a UDP datagram in IPv4, as a sender that computes no UDP checksum sends it.
pub fn without_udp_checksum(mut ip: Vec<u8>) -> Vec<u8> {
    let mut v = Ipv4Packet::new_checked(&mut ip[..]).expect("an IPv4 packet");
    UdpDatagram::new_checked(v.payload_mut())
        .expect("a UDP datagram")
        .set_checksum(0);
    ip
}

/// The checksum of the UDP datagram `ip` carries.
pub fn udp_checksum(ip: &Ipv4Packet<&[u8]>) -> u16 {
    UdpDatagram::new_checked(ip.into_payload())
        .expect("a UDP datagram")
        .checksum()
}

/// The source and destination ports (for TCP and UDP, which put them in the same place) of
/// `ip`.
pub fn l4_ports(ip: &Ipv4Packet<&[u8]>) -> (u16, u16) {
    let u = UdpDatagram::new_quoted(ip.into_payload()).expect("ports");
    (u.src_port(), u.dst_port())
}

/// A TCP segment from port 40000 to 443 with `flags` and an MSS option of 1460, in an IPv4
/// packet with Don't Fragment.
pub fn tcp_with_mss_1460(src: Ipv4Addr, dst: Ipv4Addr, flags: u8) -> Vec<u8> {
    let r = TcpRepr {
        src_port: 40000,
        dst_port: 443,
        seq_number: 0,
        ack_number: 0,
        flags,
        window_len: 0,
        mss: Some(1460),
    };
    frames::tcp_packet(src, dst, &r, &[])
}
