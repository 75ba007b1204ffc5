//! The IPv6 half of the steering program: `dataplane::steering::v6` in BPF instructions (the
//! namespace test `steering_differential` holds the two to the same answer on every frame).
//!
//! After the Ethernet header, a frame whose fixed header is in the frame is owned when:
//! - it is addressed to a service's VIP (key kind [`KeyKind::Vip`], any port and protocol) or a
//!   pool address ([`KeyKind::Pool`]) and the walk below refuses its header chain, or its upper
//!   layer is TCP, UDP or neither of them nor ICMPv6, or it is ICMPv6 shorter than its 8-byte
//!   header: the fast path counts what the kernel could not use anyway (fragments, routing
//!   headers, ...) instead of passing it;
//! - it is TCP/UDP from a backend `address:port/proto` ([`KeyKind::Backend`]) to an address
//!   that is not the host's own ([`KeyKind::Local`]);
//! - it is an ICMPv6 echo request to a VIP with an ICMPv6 service ([`KeyKind::Service`], port
//!   0); an echo reply to a pool address or from an ICMPv6 backend to an address not the host's;
//! - it is an ICMPv6 error (types 1-4) right behind the fixed header quoting a packet from a
//!   pool address, from a service's `VIP:port` (our translated reply), or to a backend from an
//!   address not the host's (our translated request); quoted echo counts as port 0.
//!
//! Other ICMPv6 (neighbour discovery, MLD, router advertisements) and echo requests to a VIP
//! without an ICMPv6 service or to a pool address stay the kernel's, whatever the destination.
//!
//! The walk over the extension headers is `wire::ipv6::upper_layer` unrolled: Hop-by-Hop (only
//! first) and Destination Options are skipped, at most [`ipv6::MAX_SKIPPED`], each checked to
//! lie inside the frame; a Fragment header or any other extension header (the list is
//! `ipv6::is_extension`'s, read when the program is assembled) refuses the chain. Unrolled
//! rather than a loop, the verifier sees two bounded offsets and no back edge.
//!
//! Keys are 20 bytes, `addr[16] port[2] proto kind`, address and port in network byte order as
//! in the packet, in a second hash map beside the IPv4 one (whose 8-byte keys stay as they are,
//! so the IPv4 path pays nothing).

use std::net::Ipv6Addr;

use super::{need, KeyKind, ProtoFrom, HELPER_MAP_LOOKUP_ELEM};
use crate::dataplaned::xdp::asm::{Asm, Cond, Label, Reg, Size};
use dataplane::wire::{ethernet, icmpv6, ipv6, proto, udp};

#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Hash)]
pub struct OwnedKeyV6 {
    pub kind: KeyKind,
    pub addr: Ipv6Addr,
    pub port: u16,
    pub proto: u8,
}

pub const KEY_LEN: usize = 20;

impl OwnedKeyV6 {
    fn new(kind: KeyKind, addr: Ipv6Addr, port: u16, proto: u8) -> OwnedKeyV6 {
        OwnedKeyV6 {
            kind,
            addr,
            port,
            proto,
        }
    }

    /// A service `VIP:port/proto` (ICMPv6 echo: port 0).
    pub fn service(addr: Ipv6Addr, port: u16, proto: u8) -> OwnedKeyV6 {
        OwnedKeyV6::new(KeyKind::Service, addr, port, proto)
    }

    /// A service's VIP, whatever the port and protocol: what the kernel cannot use there is
    /// counted by the fast path.
    pub fn vip(addr: Ipv6Addr) -> OwnedKeyV6 {
        OwnedKeyV6::new(KeyKind::Vip, addr, 0, 0)
    }

    pub fn backend(addr: Ipv6Addr, port: u16, proto: u8) -> OwnedKeyV6 {
        OwnedKeyV6::new(KeyKind::Backend, addr, port, proto)
    }

    pub fn local(addr: Ipv6Addr) -> OwnedKeyV6 {
        OwnedKeyV6::new(KeyKind::Local, addr, 0, 0)
    }

    /// A FullNAT pool address: traffic to it is replies to translated flows.
    pub fn pool(addr: Ipv6Addr) -> OwnedKeyV6 {
        OwnedKeyV6::new(KeyKind::Pool, addr, 0, 0)
    }

    pub fn bytes(&self) -> [u8; KEY_LEN] {
        let mut k = [0u8; KEY_LEN];
        k[0..16].copy_from_slice(&self.addr.octets());
        k[16..18].copy_from_slice(&self.port.to_be_bytes());
        k[18] = self.proto;
        k[19] = self.kind as u8;
        k
    }
}

// Frame offsets for Ethernet + the IPv6 fixed header, from the wire layer.
const L3: usize = ethernet::HEADER_LEN;
const IP6_NXT: i16 = (L3 + ipv6::field::NXT_HDR) as i16;
const IP6_SRC: i16 = (L3 + ipv6::field::SRC_ADDR.start) as i16;
const IP6_DST: i16 = (L3 + ipv6::field::DST_ADDR.start) as i16;
/// Behind the fixed header: the first extension header or the upper layer. Upper-layer fields
/// are read at `EXT + field` from the register holding `data + at` (the walk's offset).
const EXT_AT: usize = L3 + ipv6::HEADER_LEN;
const EXT: i16 = EXT_AT as i16;
/// An extension header's Hdr Ext Len (RFC 8200 §4.3), behind its Next Header.
const EXT_LEN: i16 = EXT + 1;
const SPORT: i16 = EXT + udp::field::SRC_PORT.start as i16;
const PORTS_LEN: i32 = udp::field::DST_PORT.end as i32;
const ICMP6_TYPE: i16 = EXT + icmpv6::field::TYPE as i16;
/// An error's quote, behind its 8-byte header; only read after no extension header (at 0).
const Q_AT: usize = EXT_AT + icmpv6::HEADER_LEN;
const Q_NXT: i16 = (Q_AT + ipv6::field::NXT_HDR) as i16;
const Q_SRC: i16 = (Q_AT + ipv6::field::SRC_ADDR.start) as i16;
const Q_DST: i16 = (Q_AT + ipv6::field::DST_ADDR.start) as i16;
const Q_L4: usize = Q_AT + ipv6::HEADER_LEN;
const Q_SPORT: i16 = (Q_L4 + udp::field::SRC_PORT.start) as i16;
const Q_DPORT: i16 = (Q_L4 + udp::field::DST_PORT.start) as i16;
const Q_TYPE: i16 = (Q_L4 + icmpv6::field::TYPE) as i16;
/// A quote long enough to read: the fixed header and 8 bytes behind it.
const Q_END: i32 = (Q_L4 + 8) as i32;

/// Where a key's port comes from.
enum Port {
    Zero,
    /// A 16-bit load at `reg + off` (a packet pointer the caller has bounds-checked).
    Packet(Reg, i16),
}

/// Emits a lookup of the 20-byte key built from the address at `data + addr_at`; jumps to
/// `found` when present. Uses r1-r5 and the 24 bytes below the frame pointer.
fn lookup6(
    a: &mut Asm,
    map: i32,
    addr_at: i16,
    port: Port,
    proto: ProtoFrom,
    kind: KeyKind,
    found: Label,
) {
    a.load(Size::DW, Reg::R2, Reg::R7, addr_at);
    a.store_reg(Size::DW, Reg::R10, -24, Reg::R2);
    a.load(Size::DW, Reg::R2, Reg::R7, addr_at + 8);
    a.store_reg(Size::DW, Reg::R10, -16, Reg::R2);
    match port {
        Port::Zero => a.store_imm(Size::H, Reg::R10, -8, 0),
        Port::Packet(r, off) => {
            a.load(Size::H, Reg::R2, r, off);
            a.store_reg(Size::H, Reg::R10, -8, Reg::R2);
        }
    }
    match proto {
        ProtoFrom::Reg9 => a.store_reg(Size::B, Reg::R10, -6, Reg::R9),
        ProtoFrom::Imm(p) => a.store_imm(Size::B, Reg::R10, -6, i32::from(p)),
    }
    a.store_imm(Size::B, Reg::R10, -5, kind as i32);
    a.load_map_fd(Reg::R1, map);
    a.mov_reg(Reg::R2, Reg::R10);
    a.add_imm(Reg::R2, -24);
    a.call(HELPER_MAP_LOOKUP_ELEM);
    a.jump_imm(Cond::Ne, Reg::R0, 0, found);
}

/// `r3 = data + r4`, the extension headers skipped so far, without adding a register to a
/// packet pointer: the verifier allows that only to loaders that may bypass Spectre v1
/// mitigations (CAP_PERFMON), which the daemon does not hold. `r4` is a multiple of 8; the
/// walk follows the headers while the upper layer starts within [`ipv6::MAX_CHAIN`] bytes
/// (the pipeline's bound too), else the frame is judged by its destination alone.
fn at_offset(a: &mut Asm, too_far: Label) {
    let done = a.label();
    a.jump_imm(Cond::Gt, Reg::R4, ipv6::MAX_CHAIN as i32, too_far);
    let mut cases = Vec::new();
    for v in (0..=ipv6::MAX_CHAIN).step_by(8) {
        let l = a.label();
        a.jump_imm(Cond::Eq, Reg::R4, v as i32, l);
        cases.push((v, l));
    }
    a.jump(too_far);
    for (v, l) in cases {
        a.bind(l);
        a.mov_reg(Reg::R3, Reg::R7);
        a.add_imm(Reg::R3, v as i32);
        a.jump(done);
    }
    a.bind(done);
}

/// The value of a prefix in the routed trie: which end of its tunnel we are.
pub const ROUTED_CENTRAL: u8 = 1;
pub const ROUTED_SITE: u8 = 2;

/// Emits a longest-prefix lookup of the address at `data + addr_at` in the routed trie (key:
/// prefix length 128 in host order, then the address); jumps to `found` with r0 pointing at
/// the value. Uses r1-r5 and the 20 bytes at fp-32 (word stores: the stack must be aligned).
fn lpm6(a: &mut Asm, map: i32, addr_at: i16, found: Label) {
    a.store_imm(Size::W, Reg::R10, -32, 128);
    for i in 0..4i16 {
        a.load(Size::W, Reg::R2, Reg::R7, addr_at + 4 * i);
        a.store_reg(Size::W, Reg::R10, -28 + 4 * i, Reg::R2);
    }
    a.load_map_fd(Reg::R1, map);
    a.mov_reg(Reg::R2, Reg::R10);
    a.add_imm(Reg::R2, -32);
    a.call(HELPER_MAP_LOOKUP_ELEM);
    a.jump_imm(Cond::Ne, Reg::R0, 0, found);
}

/// IPv6 that enters a tunnel untranslated (`Gateway::routed6_egress`): to a central tunnel's
/// prefix, or from a site tunnel's prefix to a forwardable address in no prefix; never to one
/// of the host's addresses. Falls through to `not_routed` otherwise.
fn emit_routed(a: &mut Asm, owned6: i32, routed6: i32, not_routed: Label, redirect: Label) {
    let to_prefix = a.label();
    let from_prefix = a.label();
    let not_local = a.label();
    lpm6(a, routed6, IP6_DST, to_prefix);
    lpm6(a, routed6, IP6_SRC, from_prefix);
    a.jump(not_routed);

    a.bind(to_prefix);
    a.load(Size::B, Reg::R2, Reg::R0, 0);
    a.jump_imm(Cond::Eq, Reg::R2, ROUTED_CENTRAL.into(), not_local);
    a.jump(not_routed);

    // From a site prefix (the destination is in none): to a forwardable address only, not
    // multicast (ff00::/8), link-local (fe80::/10) or in ::/64 (`gateway::forwardable6`).
    a.bind(from_prefix);
    a.load(Size::B, Reg::R2, Reg::R0, 0);
    a.jump_imm(Cond::Ne, Reg::R2, ROUTED_SITE.into(), not_routed);
    a.load(Size::B, Reg::R2, Reg::R7, IP6_DST);
    a.jump_imm(Cond::Eq, Reg::R2, 0xff, not_routed);
    let not_link_local = a.label();
    a.jump_imm(Cond::Ne, Reg::R2, 0xfe, not_link_local);
    a.load(Size::B, Reg::R2, Reg::R7, IP6_DST + 1);
    a.and_imm(Reg::R2, 0xc0);
    a.jump_imm(Cond::Eq, Reg::R2, 0x80, not_routed);
    a.bind(not_link_local);
    a.load(Size::DW, Reg::R2, Reg::R7, IP6_DST);
    a.jump_imm(Cond::Eq, Reg::R2, 0, not_routed);

    a.bind(not_local);
    lookup6(
        a,
        owned6,
        IP6_DST,
        Port::Zero,
        ProtoFrom::Imm(0),
        KeyKind::Local,
        not_routed,
    );
    a.jump(redirect);
}

/// `if reg + len > data_end goto fail` for a packet pointer in `reg`.
fn need_from(a: &mut Asm, reg: Reg, len: i32, fail: Label) {
    a.mov_reg(Reg::R2, reg);
    a.add_imm(Reg::R2, len);
    a.jump_reg(Cond::Gt, Reg::R2, Reg::R8, fail);
}

/// Emits the IPv6 code at the current position. Entered with r6 = ctx, r7 = data,
/// r8 = data_end; leaves by `redirect` or `pass`. Registers: r9 the next header (then the
/// protocol), r4 the walk's offset `at` behind the fixed header, r3 = data + at.
pub(super) fn emit(a: &mut Asm, owned6: i32, routed6: i32, pass: Label, redirect: Label) {
    let to_ours = a.label();
    let upper = a.label();
    let l4 = a.label();
    let icmp = a.label();
    let echo_request = a.label();
    let echo_reply = a.label();
    let backend_reply = a.label();
    let echo_from_backend = a.label();
    let quoted = a.label();
    let quoted_l4 = a.label();
    let quoted_echo = a.label();
    let quoted_backend = a.label();

    need(a, EXT_AT as i32, pass);
    let not_routed = a.label();
    emit_routed(a, owned6, routed6, not_routed, redirect);
    a.bind(not_routed);
    a.load(Size::B, Reg::R9, Reg::R7, IP6_NXT);
    a.mov_imm(Reg::R4, 0);
    for skipped in 0..=ipv6::MAX_SKIPPED {
        let skip = a.label();
        a.jump_imm(Cond::Eq, Reg::R9, ipv6::ext::FRAGMENT.into(), to_ours);
        if skipped < ipv6::MAX_SKIPPED {
            if skipped == 0 {
                a.jump_imm(Cond::Eq, Reg::R9, ipv6::ext::HOP_BY_HOP.into(), skip);
            }
            a.jump_imm(Cond::Eq, Reg::R9, ipv6::ext::DEST_OPTIONS.into(), skip);
        }
        for n in (0..=u8::MAX).filter(|&n| ipv6::is_extension(n)) {
            a.jump_imm(Cond::Eq, Reg::R9, n.into(), to_ours);
        }
        a.jump(upper);
        if skipped < ipv6::MAX_SKIPPED {
            a.bind(skip);
            // The header at `at`: its first 8 bytes in the frame, then all of it.
            at_offset(a, to_ours);
            need_from(a, Reg::R3, EXT_AT as i32 + 8, to_ours);
            a.load(Size::B, Reg::R9, Reg::R3, EXT);
            a.load(Size::B, Reg::R2, Reg::R3, EXT_LEN);
            a.lsh_imm(Reg::R2, 3);
            a.add_imm(Reg::R2, 8);
            a.add_reg(Reg::R4, Reg::R2);
            at_offset(a, to_ours);
            need_from(a, Reg::R3, EXT_AT as i32, to_ours);
        }
    }

    a.bind(upper);
    at_offset(a, to_ours);
    a.jump_imm(Cond::Eq, Reg::R9, proto::ICMPV6.into(), icmp);
    a.jump_imm(Cond::Eq, Reg::R9, proto::TCP.into(), l4);
    a.jump_imm(Cond::Eq, Reg::R9, proto::UDP.into(), l4);
    a.jump(to_ours);

    // TCP/UDP: from a backend to a client, else to a VIP or pool address.
    a.bind(l4);
    need_from(a, Reg::R3, EXT_AT as i32 + PORTS_LEN, to_ours);
    lookup6(
        a,
        owned6,
        IP6_SRC,
        Port::Packet(Reg::R3, SPORT),
        ProtoFrom::Reg9,
        KeyKind::Backend,
        backend_reply,
    );
    a.jump(to_ours);
    // A backend's reply to the host itself (a health check) is the kernel's, unless it goes to
    // a VIP or pool address the host also holds.
    a.bind(backend_reply);
    lookup6(
        a,
        owned6,
        IP6_DST,
        Port::Zero,
        ProtoFrom::Imm(0),
        KeyKind::Local,
        to_ours,
    );
    a.jump(redirect);

    a.bind(icmp);
    need_from(a, Reg::R3, Q_AT as i32, to_ours);
    a.load(Size::B, Reg::R2, Reg::R3, ICMP6_TYPE);
    a.jump_imm(
        Cond::Eq,
        Reg::R2,
        icmpv6::kind::ECHO_REQUEST.into(),
        echo_request,
    );
    a.jump_imm(
        Cond::Eq,
        Reg::R2,
        icmpv6::kind::ECHO_REPLY.into(),
        echo_reply,
    );
    a.jump_imm(Cond::Eq, Reg::R2, 0, pass);
    a.jump_imm(
        Cond::Gt,
        Reg::R2,
        icmpv6::kind::PARAMETER_PROBLEM.into(),
        pass,
    );
    // An error: read only right behind the fixed header, where the quote has fixed offsets.
    a.jump_imm(Cond::Ne, Reg::R4, 0, pass);
    a.jump(quoted);

    a.bind(echo_request);
    lookup6(
        a,
        owned6,
        IP6_DST,
        Port::Zero,
        ProtoFrom::Imm(proto::ICMPV6),
        KeyKind::Service,
        redirect,
    );
    a.jump(pass);

    a.bind(echo_reply);
    lookup6(
        a,
        owned6,
        IP6_DST,
        Port::Zero,
        ProtoFrom::Imm(0),
        KeyKind::Pool,
        redirect,
    );
    lookup6(
        a,
        owned6,
        IP6_SRC,
        Port::Zero,
        ProtoFrom::Imm(proto::ICMPV6),
        KeyKind::Backend,
        echo_from_backend,
    );
    a.jump(pass);
    // Unlike TCP/UDP, an echo reply to a VIP is not owned for being addressed to one.
    a.bind(echo_from_backend);
    lookup6(
        a,
        owned6,
        IP6_DST,
        Port::Zero,
        ProtoFrom::Imm(0),
        KeyKind::Local,
        pass,
    );
    a.jump(redirect);

    a.bind(quoted);
    need(a, Q_END, pass);
    // Quoted pool address → anywhere: our FullNAT packet.
    lookup6(
        a,
        owned6,
        Q_SRC,
        Port::Zero,
        ProtoFrom::Imm(0),
        KeyKind::Pool,
        redirect,
    );
    a.load(Size::B, Reg::R9, Reg::R7, Q_NXT);
    a.jump_imm(Cond::Eq, Reg::R9, proto::TCP.into(), quoted_l4);
    a.jump_imm(Cond::Eq, Reg::R9, proto::UDP.into(), quoted_l4);
    a.jump_imm(Cond::Ne, Reg::R9, proto::ICMPV6.into(), pass);
    a.load(Size::B, Reg::R2, Reg::R7, Q_TYPE);
    a.jump_imm(
        Cond::Eq,
        Reg::R2,
        icmpv6::kind::ECHO_REQUEST.into(),
        quoted_echo,
    );
    a.jump_imm(
        Cond::Eq,
        Reg::R2,
        icmpv6::kind::ECHO_REPLY.into(),
        quoted_echo,
    );
    a.jump(pass);

    a.bind(quoted_echo);
    lookup6(
        a,
        owned6,
        Q_SRC,
        Port::Zero,
        ProtoFrom::Reg9,
        KeyKind::Service,
        redirect,
    );
    lookup6(
        a,
        owned6,
        Q_DST,
        Port::Zero,
        ProtoFrom::Reg9,
        KeyKind::Backend,
        quoted_backend,
    );
    a.jump(pass);

    a.bind(quoted_l4);
    // Quoted VIP → client: our translated reply.
    lookup6(
        a,
        owned6,
        Q_SRC,
        Port::Packet(Reg::R7, Q_SPORT),
        ProtoFrom::Reg9,
        KeyKind::Service,
        redirect,
    );
    // Quoted client → backend: our translated request, unless the host itself sent it.
    lookup6(
        a,
        owned6,
        Q_DST,
        Port::Packet(Reg::R7, Q_DPORT),
        ProtoFrom::Reg9,
        KeyKind::Backend,
        quoted_backend,
    );
    a.jump(pass);
    a.bind(quoted_backend);
    lookup6(
        a,
        owned6,
        Q_SRC,
        Port::Zero,
        ProtoFrom::Imm(0),
        KeyKind::Local,
        pass,
    );
    a.jump(redirect);

    // To a VIP or pool address: the fast path's, whatever it is.
    a.bind(to_ours);
    lookup6(
        a,
        owned6,
        IP6_DST,
        Port::Zero,
        ProtoFrom::Imm(0),
        KeyKind::Vip,
        redirect,
    );
    lookup6(
        a,
        owned6,
        IP6_DST,
        Port::Zero,
        ProtoFrom::Imm(0),
        KeyKind::Pool,
        redirect,
    );
    a.jump(pass);
}

#[cfg(test)]
mod tests {
    use super::*;

    /// The offsets taken from the wire layer are the ones the program was written with.
    #[test]
    fn frame_offsets_are_ethernet_and_the_ipv6_fixed_header() {
        assert_eq!(
            (IP6_NXT, IP6_SRC, IP6_DST, EXT, EXT_LEN),
            (20, 22, 38, 54, 55)
        );
        assert_eq!((SPORT, PORTS_LEN, ICMP6_TYPE, Q_AT), (54, 4, 54, 62));
        assert_eq!(
            (Q_NXT, Q_SRC, Q_DST, Q_SPORT, Q_DPORT, Q_TYPE, Q_END),
            (68, 70, 86, 102, 104, 102, 110)
        );
    }

    #[test]
    fn keys_are_in_packet_byte_order() {
        let a: Ipv6Addr = "2001:db8:1::80".parse().unwrap();
        let k = OwnedKeyV6::service(a, 443, 6).bytes();
        assert_eq!(k[..16], a.octets());
        assert_eq!(k[16..], [1, 187, 6, KeyKind::Service as u8]);
        assert_eq!(OwnedKeyV6::vip(a).bytes()[16..], [0, 0, 0, 5]);
        assert_eq!(OwnedKeyV6::local(a).bytes()[19], 2);
    }
}
