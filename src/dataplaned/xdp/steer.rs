//! The steering program: an XDP program that sends to the AF_XDP socket of the receiving queue
//! only the frames the data plane owns, and passes everything else (ARP, ND, MLD, VRRP, BGP,
//! SSH, ping to the host, the host's own connections to backends) to the kernel. IPv6 frames
//! have their own half of the program and their own key map: see [`v6`].
//!
//! Owned IPv4 frames are IPv4 without options, not fragments, and either
//! - TCP/UDP to a service `VIP:port/proto`, or ICMP echo to a VIP with an ICMP service
//!   (key kind [`KeyKind::Service`], matched on the destination);
//! - TCP/UDP/ICMP-echo-reply from a backend `address:port/proto` (kind [`KeyKind::Backend`],
//!   matched on the source) to an address that is not the host's own ([`KeyKind::Local`]):
//!   replies to clients are ours, replies to the host's health checks are the kernel's;
//! - ICMP errors quoting a packet the data plane sent: VIP → client (quoted source is a
//!   service) or client → backend (quoted destination is a backend, quoted source not local);
//! - TCP/UDP and ICMP echo replies to an SNAT pool address ([`KeyKind::Pool`], matched on the
//!   destination address alone: a pool address is only the pool's, and the pipeline finds the
//!   flow, or its owner, by the port), and ICMP errors quoting a packet from a pool address;
//! - GRE from a configured tunnel remote ([`KeyKind::GreRemote`], matched on the source).
//!   Every packet of a tunnel shares its outer addresses, so a NIC's RSS puts a whole tunnel on
//!   one queue; the worker there hands each inner flow to its owner.
//!
//! - TCP/UDP and echo requests from an inside prefix (an LPM trie of the pools' `sources` and
//!   the site tunnels' `inside` prefixes) to an address that is neither the host's nor in an
//!   inside prefix (inside-to-inside traffic is routed, not translated or tunnelled), and ICMP
//!   errors quoting a packet to such a prefix that the host did not send. Destinations no
//!   router forwards (multicast, broadcast, loopback, link-local) stay the host's. Where the appliance
//!   is a site's gateway, that is the traffic its tunnel carries; what comes back is GRE from
//!   the tunnel's remote, above.
//!
//! Echo requests to a pool address stay the kernel's (the host answers pings).
//!
//! Frames with IP options or fragments go to the kernel, which is the safe default: the data
//! plane could not balance a non-first fragment anyway.
//!
//! Keys are 8 bytes, `addr[4] port[2] proto kind`, address and port in network byte order
//! exactly as they appear in the packet, so the program copies them without byte swaps.

pub mod v6;

pub use v6::OwnedKeyV6;

use std::collections::BTreeSet;
use std::net::{Ipv4Addr, Ipv6Addr};
use std::os::fd::{AsFd, AsRawFd, BorrowedFd, OwnedFd, RawFd};

use super::asm::{Asm, Cond, Insn, Label, Reg, Size};
use super::bpf::{
    self, BpfError, BPF_F_NO_PREALLOC, MAP_TYPE_HASH, MAP_TYPE_LPM_TRIE, MAP_TYPE_XSKMAP,
};
use dataplane::gateway::MAX_SOURCES;
use dataplane::wire::{ethernet, icmp, ipv4, udp};

#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Hash)]
#[repr(u8)]
pub enum KeyKind {
    Service = 0,
    Backend = 1,
    Local = 2,
    Pool = 3,
    GreRemote = 4,
    /// An IPv6 service's VIP, any port and protocol (IPv6 keys only).
    Vip = 5,
}

#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Hash)]
pub struct OwnedKey {
    pub kind: KeyKind,
    pub addr: Ipv4Addr,
    pub port: u16,
    pub proto: u8,
}

impl OwnedKey {
    pub fn service(addr: Ipv4Addr, port: u16, proto: u8) -> OwnedKey {
        OwnedKey {
            kind: KeyKind::Service,
            addr,
            port,
            proto,
        }
    }

    pub fn backend(addr: Ipv4Addr, port: u16, proto: u8) -> OwnedKey {
        OwnedKey {
            kind: KeyKind::Backend,
            addr,
            port,
            proto,
        }
    }

    pub fn local(addr: Ipv4Addr) -> OwnedKey {
        OwnedKey {
            kind: KeyKind::Local,
            addr,
            port: 0,
            proto: 0,
        }
    }

    /// An SNAT pool address: traffic to it is replies to translated flows.
    pub fn pool(addr: Ipv4Addr) -> OwnedKey {
        OwnedKey {
            kind: KeyKind::Pool,
            addr,
            port: 0,
            proto: 0,
        }
    }

    /// A GRE tunnel's remote endpoint.
    pub fn gre_remote(addr: Ipv4Addr) -> OwnedKey {
        OwnedKey {
            kind: KeyKind::GreRemote,
            addr,
            port: 0,
            proto: 47,
        }
    }

    pub fn bytes(&self) -> [u8; 8] {
        let mut k = [0u8; 8];
        k[0..4].copy_from_slice(&self.addr.octets());
        k[4..6].copy_from_slice(&self.port.to_be_bytes());
        k[6] = self.proto;
        k[7] = self.kind as u8;
        k
    }
}

// Frame offsets for Ethernet + a 20-byte IPv4 header, from the data plane's wire layer (TCP and
// UDP put their ports in the same place).
const L3: usize = ethernet::HEADER_LEN;
const L4: usize = L3 + ipv4::MIN_HEADER_LEN;
const ETH_TYPE: i16 = ethernet::field::ETHERTYPE.start as i16;
const IP_VER_IHL: i16 = (L3 + ipv4::field::VER_IHL) as i16;
const IP_FRAG: i16 = (L3 + ipv4::field::FLG_OFF.start) as i16;
const IP_PROTO: i16 = (L3 + ipv4::field::PROTOCOL) as i16;
const IP_SRC: i16 = (L3 + ipv4::field::SRC_ADDR.start) as i16;
const IP_DST: i16 = (L3 + ipv4::field::DST_ADDR.start) as i16;
const L4_SPORT: i16 = (L4 + udp::field::SRC_PORT.start) as i16;
const L4_DPORT: i16 = (L4 + udp::field::DST_PORT.start) as i16;
const ICMP_TYPE: i16 = (L4 + icmp::field::TYPE) as i16;
/// The quoted datagram of an ICMP error starts after the 8-byte ICMP header.
const Q_AT: usize = L4 + icmp::HEADER_LEN;
const Q: i16 = Q_AT as i16;
const Q_PROTO: i16 = (Q_AT + ipv4::field::PROTOCOL) as i16;
const Q_SRC: i16 = (Q_AT + ipv4::field::SRC_ADDR.start) as i16;
const Q_DST: i16 = (Q_AT + ipv4::field::DST_ADDR.start) as i16;
const Q_SPORT: i16 = (Q_AT + ipv4::MIN_HEADER_LEN + udp::field::SRC_PORT.start) as i16;
const Q_DPORT: i16 = (Q_AT + ipv4::MIN_HEADER_LEN + udp::field::DST_PORT.start) as i16;
/// A quote long enough to read: the IP header and the 8 bytes RFC 792 guarantees.
const Q_END: i32 = (Q_AT + ipv4::MIN_HEADER_LEN + icmp::QUOTED_DATA_LEN) as i32;
/// Past the destination port: what the program needs of a TCP or UDP packet.
const L4_PORTS_END: i32 = (L4 + udp::field::DST_PORT.end) as i32;

/// Loads as the program sees them: little-endian loads of network-order bytes.
const ETH_P_IP_RAW: i32 = 0x0008;
const ETH_P_IPV6_RAW: i32 = 0xdd86;
const FRAG_MASK_RAW: i32 = 0xff3f;
/// 169.254 (the first two bytes of a link-local address).
const LINK_LOCAL_RAW: i32 = 0xfea9;

pub(super) const HELPER_MAP_LOOKUP_ELEM: i32 = 1;
const HELPER_REDIRECT_MAP: i32 = 51;
pub const XDP_DROP: u32 = 1;
pub const XDP_PASS: u32 = 2;

/// What an owned frame becomes when its queue has no socket in the XSKMAP.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Unbound {
    /// To the kernel.
    Pass,
    /// Dropped: lets a test tell "owned" (dropped) from "not owned" (passed) by the verdict
    /// alone, with `BPF_PROG_TEST_RUN`.
    Drop,
    /// Dropped on the queues the data plane serves (below the count), passed on any other.
    /// The program is attached only once every served queue has its socket, so a served
    /// queue without one means the daemon is gone (killed: nothing detached the program).
    /// Its flows are then the peer's, which took the addresses over: dropping lets them
    /// retransmit to the peer, where passing would have this host's kernel, which still has
    /// the virtual addresses, reset every one of them. Queues beyond the count (a NIC with
    /// more queues than configured) are the kernel's as before.
    DropServed(u32),
}

pub(super) enum ProtoFrom {
    Reg9,
    Imm(u8),
}

/// Emits a lookup of the key built from packet bytes; jumps to `found` when present.
/// Uses r1-r5 and the 8 bytes below the frame pointer; r6-r9 survive the call.
/// To `pass` if the address at `addr_at` is one of the host's own (its own traffic is the
/// kernel's), else to `redirect`.
fn local_or_redirect(a: &mut Asm, map: i32, addr_at: i16, pass: Label, redirect: Label) {
    lookup(
        a,
        map,
        addr_at,
        None,
        ProtoFrom::Imm(0),
        KeyKind::Local,
        pass,
    );
    a.jump(redirect);
}

fn lookup(
    a: &mut Asm,
    map: i32,
    addr_at: i16,
    port_at: Option<i16>,
    proto: ProtoFrom,
    kind: KeyKind,
    found: Label,
) {
    a.load(Size::W, Reg::R2, Reg::R7, addr_at);
    a.store_reg(Size::W, Reg::R10, -8, Reg::R2);
    match port_at {
        Some(at) => {
            a.load(Size::H, Reg::R2, Reg::R7, at);
            a.store_reg(Size::H, Reg::R10, -4, Reg::R2);
        }
        None => a.store_imm(Size::H, Reg::R10, -4, 0),
    }
    match proto {
        ProtoFrom::Reg9 => a.store_reg(Size::B, Reg::R10, -2, Reg::R9),
        ProtoFrom::Imm(p) => a.store_imm(Size::B, Reg::R10, -2, i32::from(p)),
    }
    a.store_imm(Size::B, Reg::R10, -1, kind as i32);
    a.load_map_fd(Reg::R1, map);
    a.mov_reg(Reg::R2, Reg::R10);
    a.add_imm(Reg::R2, -8);
    a.call(HELPER_MAP_LOOKUP_ELEM);
    a.jump_imm(Cond::Ne, Reg::R0, 0, found);
}

/// Emits a longest-prefix lookup of the address at `addr_at` in the sources trie (key: prefix
/// length 32 in host order, then the address as in the packet); jumps to `found` on a match.
fn lpm_lookup(a: &mut Asm, map: i32, addr_at: i16, found: Label) {
    a.store_imm(Size::W, Reg::R10, -8, 32);
    a.load(Size::W, Reg::R2, Reg::R7, addr_at);
    a.store_reg(Size::W, Reg::R10, -4, Reg::R2);
    a.load_map_fd(Reg::R1, map);
    a.mov_reg(Reg::R2, Reg::R10);
    a.add_imm(Reg::R2, -8);
    a.call(HELPER_MAP_LOOKUP_ELEM);
    a.jump_imm(Cond::Ne, Reg::R0, 0, found);
}

/// `if data + len > data_end goto pass`
pub(super) fn need(a: &mut Asm, len: i32, pass: Label) {
    a.mov_reg(Reg::R2, Reg::R7);
    a.add_imm(Reg::R2, len);
    a.jump_reg(Cond::Gt, Reg::R2, Reg::R8, pass);
}

/// The program for the given map descriptors: `owned` and `owned6` the IPv4 and IPv6 owned
/// keys, `sources` the inside prefixes, `routed6` the tunnels' IPv6 prefixes, `xsks` the
/// sockets.
/// The maps a steering program reads (descriptors, embedded as immediates).
#[derive(Debug, Clone, Copy)]
pub struct Maps {
    pub owned: i32,
    pub owned6: i32,
    pub sources: i32,
    pub routed6: i32,
    pub xsks: i32,
}

pub fn program(maps: Maps, unbound: Unbound) -> Vec<Insn> {
    let Maps {
        owned,
        owned6,
        sources,
        routed6,
        xsks,
    } = maps;
    let mut a = Asm::new();
    let pass = a.label();
    let not_ipv4 = a.label();
    let ipv6 = a.label();
    let redirect = a.label();
    let l4 = a.label();
    let icmp = a.label();
    let reply = a.label();
    let echo_request = a.label();
    let echo_reply = a.label();
    let icmp_error = a.label();
    let quoted_l4 = a.label();
    let quoted_backend = a.label();
    let gre = a.label();
    let from_source = a.label();

    // r6 = ctx, r7 = data, r8 = data_end.
    a.mov_reg(Reg::R6, Reg::R1);
    a.load(Size::W, Reg::R7, Reg::R6, 0);
    a.load(Size::W, Reg::R8, Reg::R6, 4);
    need(&mut a, L4_PORTS_END, pass);
    a.load(Size::H, Reg::R2, Reg::R7, ETH_TYPE);
    // IPv4 first and at the cost it always had; anything else tests for IPv6 behind it.
    a.jump_imm(Cond::Ne, Reg::R2, ETH_P_IP_RAW, not_ipv4);
    a.load(Size::B, Reg::R2, Reg::R7, IP_VER_IHL);
    a.jump_imm(Cond::Ne, Reg::R2, 0x45, pass);
    a.load(Size::H, Reg::R2, Reg::R7, IP_FRAG);
    a.and_imm(Reg::R2, FRAG_MASK_RAW);
    a.jump_imm(Cond::Ne, Reg::R2, 0, pass);
    a.load(Size::B, Reg::R9, Reg::R7, IP_PROTO);
    a.jump_imm(Cond::Eq, Reg::R9, 6, l4);
    a.jump_imm(Cond::Eq, Reg::R9, 17, l4);
    a.jump_imm(Cond::Eq, Reg::R9, 1, icmp);
    a.jump_imm(Cond::Eq, Reg::R9, 47, gre);
    a.jump(pass);

    a.bind(gre);
    lookup(
        &mut a,
        owned,
        IP_SRC,
        None,
        ProtoFrom::Imm(47),
        KeyKind::GreRemote,
        redirect,
    );
    a.jump(pass);

    a.bind(l4);
    lookup(
        &mut a,
        owned,
        IP_DST,
        Some(L4_DPORT),
        ProtoFrom::Reg9,
        KeyKind::Service,
        redirect,
    );
    // Before the backend test: a FullNAT backend's reply goes to a pool address, which may
    // also be one of the host's.
    lookup(
        &mut a,
        owned,
        IP_DST,
        None,
        ProtoFrom::Imm(0),
        KeyKind::Pool,
        redirect,
    );
    lookup(
        &mut a,
        owned,
        IP_SRC,
        Some(L4_SPORT),
        ProtoFrom::Reg9,
        KeyKind::Backend,
        reply,
    );
    a.jump(from_source);

    // From an inside prefix of a pool, to the outside: the SNAT gateway's.
    let inside_to_outside = a.label();
    a.bind(from_source);
    lpm_lookup(&mut a, sources, IP_SRC, inside_to_outside);
    a.jump(pass);
    a.bind(inside_to_outside);
    // Never routed beyond the link: multicast, class E and the limited broadcast (224/3),
    // "this network" (0/8), loopback (127/8), link-local (169.254/16). The host's to see.
    a.load(Size::B, Reg::R2, Reg::R7, IP_DST);
    a.jump_imm(Cond::Ge, Reg::R2, 224, pass);
    a.jump_imm(Cond::Eq, Reg::R2, 0, pass);
    a.jump_imm(Cond::Eq, Reg::R2, 127, pass);
    a.load(Size::H, Reg::R2, Reg::R7, IP_DST);
    a.jump_imm(Cond::Eq, Reg::R2, LINK_LOCAL_RAW, pass);
    lookup(
        &mut a,
        owned,
        IP_DST,
        None,
        ProtoFrom::Imm(0),
        KeyKind::Local,
        pass,
    );
    lpm_lookup(&mut a, sources, IP_DST, pass);
    a.jump(redirect);

    // From a backend: ours unless addressed to the host itself.
    a.bind(reply);
    local_or_redirect(&mut a, owned, IP_DST, pass, redirect);

    a.bind(icmp);
    need(&mut a, i32::from(Q), pass);
    a.load(Size::B, Reg::R2, Reg::R7, ICMP_TYPE);
    a.jump_imm(Cond::Eq, Reg::R2, 8, echo_request);
    a.jump_imm(Cond::Eq, Reg::R2, 0, echo_reply);
    a.jump_imm(Cond::Eq, Reg::R2, 3, icmp_error);
    a.jump_imm(Cond::Eq, Reg::R2, 11, icmp_error);
    a.jump_imm(Cond::Eq, Reg::R2, 12, icmp_error);
    a.jump(pass);

    a.bind(echo_request);
    lookup(
        &mut a,
        owned,
        IP_DST,
        None,
        ProtoFrom::Imm(1),
        KeyKind::Service,
        redirect,
    );
    a.jump(from_source);

    a.bind(echo_reply);
    lookup(
        &mut a,
        owned,
        IP_DST,
        None,
        ProtoFrom::Imm(0),
        KeyKind::Pool,
        redirect,
    );
    lookup(
        &mut a,
        owned,
        IP_SRC,
        None,
        ProtoFrom::Imm(1),
        KeyKind::Backend,
        reply,
    );
    a.jump(pass);

    a.bind(icmp_error);
    need(&mut a, Q_END, pass);
    a.load(Size::B, Reg::R2, Reg::R7, Q);
    a.jump_imm(Cond::Ne, Reg::R2, 0x45, pass);
    // Quoted pool address → anywhere: our SNAT or FullNAT packet, whatever its protocol.
    lookup(
        &mut a,
        owned,
        Q_SRC,
        None,
        ProtoFrom::Imm(0),
        KeyKind::Pool,
        redirect,
    );
    // Quoted outside → inside prefix: a reply we delivered to an inside host, unless the host
    // itself sent it.
    let quoted_inside = a.label();
    let quoted_other = a.label();
    lpm_lookup(&mut a, sources, Q_DST, quoted_inside);
    a.jump(quoted_other);
    a.bind(quoted_inside);
    local_or_redirect(&mut a, owned, Q_SRC, pass, redirect);
    a.bind(quoted_other);
    a.load(Size::B, Reg::R9, Reg::R7, Q_PROTO);
    a.jump_imm(Cond::Eq, Reg::R9, 6, quoted_l4);
    a.jump_imm(Cond::Eq, Reg::R9, 17, quoted_l4);
    a.jump(pass);

    a.bind(quoted_l4);
    // Quoted VIP → client: our translated reply.
    lookup(
        &mut a,
        owned,
        Q_SRC,
        Some(Q_SPORT),
        ProtoFrom::Reg9,
        KeyKind::Service,
        redirect,
    );
    // Quoted client → backend: our translated request, unless the host itself sent it.
    lookup(
        &mut a,
        owned,
        Q_DST,
        Some(Q_DPORT),
        ProtoFrom::Reg9,
        KeyKind::Backend,
        quoted_backend,
    );
    a.jump(pass);
    a.bind(quoted_backend);
    local_or_redirect(&mut a, owned, Q_SRC, pass, redirect);

    a.bind(not_ipv4);
    a.jump_imm(Cond::Eq, Reg::R2, ETH_P_IPV6_RAW, ipv6);
    a.jump(pass);
    a.bind(ipv6);
    v6::emit(&mut a, owned6, routed6, pass, redirect);

    a.bind(redirect);
    a.load(Size::W, Reg::R2, Reg::R6, 16); // ctx->rx_queue_index
    if let Unbound::DropServed(queues) = unbound {
        a.jump_imm(Cond::Ge, Reg::R2, queues.min(i32::MAX as u32) as i32, pass);
    }
    a.load_map_fd(Reg::R1, xsks);
    // The fallback action when the queue has no socket.
    a.mov_imm(
        Reg::R3,
        match unbound {
            Unbound::Pass => XDP_PASS as i32,
            Unbound::Drop | Unbound::DropServed(_) => XDP_DROP as i32,
        },
    );
    a.call(HELPER_REDIRECT_MAP);
    a.exit();

    a.bind(pass);
    a.mov_imm(Reg::R0, XDP_PASS as i32);
    a.exit();
    a.finish()
}

/// EtherType 0x8809 (Slow Protocols) as a little-endian load of its network-order bytes.
const ETH_P_SLOW_RAW: i32 = 0x0988;

/// The program of a bond member: Slow Protocols frames (LACPDUs, Markers) go to the kernel,
/// where the bond thread's packet socket reads them; every other frame goes to the worker of
/// its queue, which forwards what the fast path owns and writes the rest to the bond's tap
/// (the kernel must not see a member's traffic: its addresses live on the tap). A queue
/// without a socket drops: the daemon is gone, and so is the tap.
pub fn member_program(xsks: i32) -> Vec<Insn> {
    let mut a = Asm::new();
    let redirect = a.label();
    let pass = a.label();
    a.mov_reg(Reg::R6, Reg::R1);
    a.load(Size::W, Reg::R7, Reg::R6, 0);
    a.load(Size::W, Reg::R8, Reg::R6, 4);
    need(&mut a, i32::from(ETH_TYPE) + 2, redirect);
    a.load(Size::H, Reg::R2, Reg::R7, ETH_TYPE);
    a.jump_imm(Cond::Eq, Reg::R2, ETH_P_SLOW_RAW, pass);
    a.bind(redirect);
    a.load(Size::W, Reg::R2, Reg::R6, 16); // ctx->rx_queue_index
    a.load_map_fd(Reg::R1, xsks);
    a.mov_imm(Reg::R3, XDP_DROP as i32);
    a.call(HELPER_REDIRECT_MAP);
    a.exit();
    a.bind(pass);
    a.mov_imm(Reg::R0, XDP_PASS as i32);
    a.exit();
    a.finish()
}

/// Most keys an owned map holds: services, backends, local addresses, pool addresses and
/// tunnel remotes together (each family's map).
pub const MAX_KEYS: u32 = 65536;

/// The maps of owned keys (IPv4, IPv6) and the trie of SNAT source prefixes, shared by the
/// programs of every data interface.
pub struct OwnedMap {
    map: OwnedFd,
    keys: BTreeSet<OwnedKey>,
    map6: OwnedFd,
    keys6: BTreeSet<OwnedKeyV6>,
    sources: OwnedFd,
    prefixes: BTreeSet<(Ipv4Addr, u8)>,
    routed6: OwnedFd,
    prefixes6: BTreeSet<(Ipv6Addr, u8, bool)>,
}

/// An LPM trie key: prefix length in host order, then the address in network order.
fn prefix_key(net: Ipv4Addr, len: u8) -> [u8; 8] {
    let mut k = [0u8; 8];
    k[0..4].copy_from_slice(&u32::from(len).to_ne_bytes());
    k[4..8].copy_from_slice(&net.octets());
    k
}

impl OwnedMap {
    pub fn create() -> Result<OwnedMap, BpfError> {
        Ok(OwnedMap {
            map: bpf::create_map(MAP_TYPE_HASH, 8, 1, MAX_KEYS, "appl_owned")?,
            keys: BTreeSet::new(),
            // Allocated as keys come: a host without IPv6 services pays nothing for it.
            map6: bpf::create_map_with_flags(
                MAP_TYPE_HASH,
                v6::KEY_LEN as u32,
                1,
                MAX_KEYS,
                BPF_F_NO_PREALLOC,
                "appl_owned6",
            )?,
            keys6: BTreeSet::new(),
            sources: bpf::create_map_with_flags(
                MAP_TYPE_LPM_TRIE,
                8,
                1,
                MAX_SOURCES as u32,
                BPF_F_NO_PREALLOC,
                "appl_sources",
            )?,
            prefixes: BTreeSet::new(),
            routed6: bpf::create_map_with_flags(
                MAP_TYPE_LPM_TRIE,
                4 + 16,
                1,
                MAX_SOURCES as u32,
                BPF_F_NO_PREALLOC,
                "appl_routed6",
            )?,
            prefixes6: BTreeSet::new(),
        })
    }

    /// Makes the IPv6 trie hold exactly `prefixes` (network, length, site end), adding (or
    /// changing) before removing.
    pub fn set_routed6(
        &mut self,
        prefixes: &BTreeSet<(Ipv6Addr, u8, bool)>,
    ) -> Result<(), BpfError> {
        let key = |net: Ipv6Addr, len: u8| {
            let mut k = [0u8; 20];
            k[0..4].copy_from_slice(&u32::from(len).to_ne_bytes());
            k[4..].copy_from_slice(&net.octets());
            k
        };
        for &(net, len, site) in prefixes.difference(&self.prefixes6) {
            let v = if site {
                v6::ROUTED_SITE
            } else {
                v6::ROUTED_CENTRAL
            };
            bpf::update_elem(&self.routed6, &key(net, len), &[v])?;
        }
        for &(net, len, _) in self.prefixes6.difference(prefixes) {
            if !prefixes.iter().any(|&(n, l, _)| (n, l) == (net, len)) {
                bpf::delete_elem(&self.routed6, &key(net, len))?;
            }
        }
        self.prefixes6 = prefixes.clone();
        Ok(())
    }

    /// Makes the trie hold exactly `prefixes` (network, length), adding before removing.
    pub fn set_sources(&mut self, prefixes: &BTreeSet<(Ipv4Addr, u8)>) -> Result<(), BpfError> {
        for (net, len) in prefixes.difference(&self.prefixes) {
            bpf::update_elem(&self.sources, &prefix_key(*net, *len), &[1])?;
        }
        for (net, len) in self.prefixes.difference(prefixes) {
            bpf::delete_elem(&self.sources, &prefix_key(*net, *len))?;
        }
        self.prefixes = prefixes.clone();
        Ok(())
    }

    /// Makes the map hold exactly `keys` (adds before removing, so a key present in both the
    /// old and new sets is never briefly missing).
    pub fn set_keys(&mut self, keys: &BTreeSet<OwnedKey>) -> Result<(), BpfError> {
        for k in keys.difference(&self.keys) {
            bpf::update_elem(&self.map, &k.bytes(), &[1])?;
        }
        for k in self.keys.difference(keys) {
            bpf::delete_elem(&self.map, &k.bytes())?;
        }
        self.keys = keys.clone();
        Ok(())
    }

    pub fn keys(&self) -> &BTreeSet<OwnedKey> {
        &self.keys
    }

    /// Whether the kernel's map holds `key` (for tests and status).
    pub fn has_key(&self, key: &OwnedKey) -> Result<bool, BpfError> {
        bpf::lookup_elem(&self.map, &key.bytes(), &mut [0u8])
    }

    /// As [`OwnedMap::set_keys`], for the IPv6 map.
    pub fn set_keys_v6(&mut self, keys: &BTreeSet<OwnedKeyV6>) -> Result<(), BpfError> {
        for k in keys.difference(&self.keys6) {
            bpf::update_elem(&self.map6, &k.bytes(), &[1])?;
        }
        for k in self.keys6.difference(keys) {
            bpf::delete_elem(&self.map6, &k.bytes())?;
        }
        self.keys6 = keys.clone();
        Ok(())
    }

    pub fn keys_v6(&self) -> &BTreeSet<OwnedKeyV6> {
        &self.keys6
    }

    /// Whether the kernel's IPv6 map holds `key`.
    pub fn has_key_v6(&self, key: &OwnedKeyV6) -> Result<bool, BpfError> {
        bpf::lookup_elem(&self.map6, &key.bytes(), &mut [0u8])
    }
}

/// The program of one interface with its XSKMAP. Each interface needs its own: the map is
/// indexed by queue number only, and a frame may only be redirected to a socket bound to the
/// interface and queue it arrived on.
pub struct Program {
    prog: OwnedFd,
    xsks: OwnedFd,
}

impl Program {
    /// Loads the program; `queues` sizes the XSKMAP (queue ids must be below it).
    pub fn load(owned: &OwnedMap, queues: u32) -> Result<Program, BpfError> {
        Program::load_with(owned, queues, Unbound::DropServed(queues))
    }

    pub fn load_with(owned: &OwnedMap, queues: u32, unbound: Unbound) -> Result<Program, BpfError> {
        let xsks = bpf::create_map(MAP_TYPE_XSKMAP, 4, 4, queues.max(1), "appl_xsks")?;
        let insns = program(
            Maps {
                owned: owned.map.as_raw_fd(),
                owned6: owned.map6.as_raw_fd(),
                sources: owned.sources.as_raw_fd(),
                routed6: owned.routed6.as_raw_fd(),
                xsks: xsks.as_raw_fd(),
            },
            unbound,
        );
        let prog = bpf::load_xdp(&insns, "appl_steer", c"Apache-2.0")?;
        Ok(Program { prog, xsks })
    }

    /// A bond member's program (`member_program`); `queues` sizes its XSKMAP.
    pub fn load_member(queues: u32) -> Result<Program, BpfError> {
        let xsks = bpf::create_map(MAP_TYPE_XSKMAP, 4, 4, queues.max(1), "appl_xsks")?;
        let insns = member_program(xsks.as_raw_fd());
        let prog = bpf::load_xdp(&insns, "appl_member", c"Apache-2.0")?;
        Ok(Program { prog, xsks })
    }

    pub fn fd(&self) -> BorrowedFd<'_> {
        self.prog.as_fd()
    }

    /// Points `queue` at an AF_XDP socket.
    pub fn set_socket(&self, queue: u32, xsk: RawFd) -> Result<(), BpfError> {
        bpf::update_elem(
            &self.xsks,
            &queue.to_ne_bytes(),
            &(xsk as u32).to_ne_bytes(),
        )
    }

    pub fn clear_socket(&self, queue: u32) -> Result<(), BpfError> {
        bpf::delete_elem(&self.xsks, &queue.to_ne_bytes())
    }

    /// Runs the program on `frame` in the kernel (`BPF_PROG_TEST_RUN`) `repeat` times; returns
    /// the XDP action and the mean run time in nanoseconds.
    pub fn test_run(&self, frame: &[u8], repeat: u32) -> Result<(u32, u32), BpfError> {
        bpf::test_run(&self.prog, frame, repeat)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    /// The offsets taken from the wire layer are the ones the program was written with.
    #[test]
    fn frame_offsets_are_ethernet_and_a_20_byte_ipv4_header() {
        assert_eq!(
            (ETH_TYPE, IP_VER_IHL, IP_FRAG, IP_PROTO, IP_SRC, IP_DST),
            (12, 14, 20, 23, 26, 30)
        );
        assert_eq!((L4_SPORT, L4_DPORT, ICMP_TYPE, Q), (34, 36, 34, 42));
        assert_eq!(
            (Q_PROTO, Q_SRC, Q_DST, Q_SPORT, Q_DPORT),
            (42 + 9, 42 + 12, 42 + 16, 42 + 20, 42 + 22)
        );
        assert_eq!((L4_PORTS_END, Q_END), (36 + 2, 42 + 28));
    }

    #[test]
    fn keys_are_in_packet_byte_order() {
        let k = OwnedKey::service(Ipv4Addr::new(198, 18, 1, 1), 80, 6);
        assert_eq!(k.bytes(), [198, 18, 1, 1, 0, 80, 6, 0]);
        assert_eq!(OwnedKey::local(Ipv4Addr::new(198, 18, 0, 1)).bytes()[7], 2);
    }

    #[test]
    fn program_is_well_formed() {
        for unbound in [Unbound::Pass, Unbound::Drop, Unbound::DropServed(2)] {
            let maps = Maps {
                owned: 3,
                owned6: 6,
                sources: 5,
                routed6: 7,
                xsks: 4,
            };
            well_formed(&program(maps, unbound));
        }
    }

    fn well_formed(p: &[Insn]) {
        // Every jump lands inside the program, and it ends with an exit.
        for (i, insn) in p.iter().enumerate() {
            if insn.code & 0x07 == 0x05 && insn.code != 0x85 && insn.code != 0x95 {
                let t = i as isize + 1 + insn.off as isize;
                assert!(t >= 0 && (t as usize) < p.len(), "jump at {i}");
            }
        }
        assert_eq!(p.last().unwrap().code, 0x95);
        assert!(p.len() < 4096);
    }
}
