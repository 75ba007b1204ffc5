//! One tracked flow: 56 bytes, so a cache line holds it whole. Both directions' keys are derived
//! from the same fields, which is what lets two index slots point at one entry.
//!
//! One shape serves every translation: the original direction is `client:client_port →
//! vip:vip_port` (in `zone`), sent on as `local:local_port → backend:backend_port`; the reply
//! direction is `backend:backend_port → local:local_port` (never tunnelled: zone 0). NAT mode
//! has `local == client`; SNAT has `backend == vip` (the destination is kept) and `local` from a
//! pool; FullNAT changes both. Direct-return flows (`Kind::Dr`, `Kind::Tunnel`) have no reply
//! direction: `backend` is where the packet goes unchanged, and for a tunnel `local` is the outer
//! source.

use std::net::Ipv4Addr;

use super::state::{Class, Dir, State};
use crate::flow::FlowKey;

/// The bits of `Entry::kind` that hold the [`Kind`]; the others say which directions the XDP
/// program forwards on its own (`offloaded.rs`), and which fit no rule when last tried.
pub const KIND_MASK: u8 = 0x0f;
const UNFIT_ORIGINAL: u8 = 0x10;
const UNFIT_REPLY: u8 = 0x20;
const OFFLOADED_ORIGINAL: u8 = 0x40;
const OFFLOADED_REPLY: u8 = 0x80;

/// "No entry" in LRU links and free lists.
pub const NIL: u32 = u32::MAX;

#[derive(Debug, Clone, Copy)]
#[repr(C)]
pub struct Entry {
    pub client: Ipv4Addr,
    pub vip: Ipv4Addr,
    pub backend: Ipv4Addr,
    /// The translated source (the client itself in NAT mode).
    pub local: Ipv4Addr,
    /// LRU (or free-list) neighbours, indices into the entry slab.
    pub prev: u32,
    pub next: u32,
    /// Last packet, in the table's millisecond clock.
    pub last_seen: u32,
    /// When the entry was last put at its list's tail; lists are ordered by this (see `lru.rs`).
    pub queued_at: u32,
    pub packets: u32,
    pub client_port: u16,
    pub vip_port: u16,
    pub backend_port: u16,
    pub local_port: u16,
    /// Tunnel of the original direction (0: none).
    pub zone: u16,
    /// Index of the service and stable id of the backend in the snapshot that created the flow.
    pub service: u16,
    pub backend_id: u16,
    pub proto: u8,
    pub state: u8,
    pub class: u8,
    pub fins: u8,
    /// Timeout profile: 0 for the load balancer, `1 + pool` for flows the SNAT gateway opens.
    pub profile: u8,
    pub kind: u8,
}

// A cache line holds an entry whole; typed addresses (four bytes, alignment 1) changed nothing.
const _: () = assert!(std::mem::size_of::<Entry>() == 56);

/// What created a flow, which decides what its end gives back.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
#[repr(u8)]
pub enum Kind {
    /// A NAT-mode service flow: a backend's connection count.
    Nat = 0,
    /// A SNAT gateway flow: a reference to its endpoint-independent mapping.
    Snat = 1,
    /// A FullNAT service flow: a backend's connection count and its pool port.
    FullNat = 2,
    /// Direct server return flows (a backend's connection count): the backend answers the
    /// client itself, so only the original direction is ever seen and indexed. `dr` changes
    /// only the MACs; `tunnel` wraps the packet in IP in IP from `local` to `backend`.
    Dr = 3,
    Tunnel = 4,
    /// A NAT64 flow (IPv6 table only): an IPv6 client's FullNAT flow to an IPv4 backend; the
    /// backend and pool address are kept IPv4-mapped. Gives back a backend's connection count
    /// and a port of an IPv4 pool.
    Nat64 = 5,
}

impl Kind {
    pub fn from_u8(v: u8) -> Kind {
        match v & KIND_MASK {
            1 => Kind::Snat,
            2 => Kind::FullNat,
            3 => Kind::Dr,
            4 => Kind::Tunnel,
            5 => Kind::Nat64,
            _ => Kind::Nat,
        }
    }

    pub fn name(self) -> &'static str {
        match self {
            Kind::Nat => "nat",
            Kind::Snat => "snat",
            Kind::FullNat => "fullnat",
            Kind::Dr => "dr",
            Kind::Tunnel => "tunnel",
            Kind::Nat64 => "nat64",
        }
    }

    /// Whether only the original direction crosses us (direct server return).
    #[inline(always)]
    pub fn one_way(self) -> bool {
        matches!(self, Kind::Dr | Kind::Tunnel)
    }
}

impl Entry {
    pub const EMPTY: Entry = Entry {
        client: Ipv4Addr::UNSPECIFIED,
        vip: Ipv4Addr::UNSPECIFIED,
        backend: Ipv4Addr::UNSPECIFIED,
        local: Ipv4Addr::UNSPECIFIED,
        prev: NIL,
        next: NIL,
        last_seen: 0,
        queued_at: 0,
        packets: 0,
        client_port: 0,
        vip_port: 0,
        backend_port: 0,
        local_port: 0,
        zone: 0,
        service: 0,
        backend_id: 0,
        proto: 0,
        state: 0,
        class: FREE,
        fins: 0,
        profile: 0,
        kind: 0,
    };

    /// Key of packets from the client to the VIP (or the destination it chose).
    #[inline(always)]
    pub fn original_key(&self) -> FlowKey {
        FlowKey {
            src: self.client,
            dst: self.vip,
            src_port: self.client_port,
            dst_port: self.vip_port,
            proto: self.proto,
            zone: self.zone,
        }
    }

    /// Key of packets from the backend to the translated source.
    #[inline(always)]
    pub fn reply_key(&self) -> FlowKey {
        FlowKey {
            src: self.backend,
            dst: self.local,
            src_port: self.backend_port,
            dst_port: self.local_port,
            proto: self.proto,
            zone: 0,
        }
    }

    pub fn kind(&self) -> Kind {
        Kind::from_u8(self.kind)
    }

    /// Whether direction `dir` has a rule in the XDP program's table.
    #[inline(always)]
    pub fn offloaded(&self, dir: Dir) -> bool {
        self.kind & offload_bit(dir) != 0
    }

    /// Whether any direction has a rule in the XDP program's table.
    #[inline(always)]
    pub fn any_offloaded(&self) -> bool {
        self.kind & (OFFLOADED_ORIGINAL | OFFLOADED_REPLY) != 0
    }

    pub(super) fn set_offloaded(&mut self, dir: Dir) {
        self.kind |= offload_bit(dir);
    }

    /// Whether direction `dir` fit no rule when last tried.
    #[inline(always)]
    pub fn unfit(&self, dir: Dir) -> bool {
        self.kind & unfit_bit(dir) != 0
    }

    pub(super) fn set_unfit(&mut self, dir: Dir) {
        self.kind |= unfit_bit(dir);
    }

    /// Clears the offload and unfit bits: a flush, a withdrawal, a new snapshot.
    pub(super) fn clear_offloaded(&mut self) {
        self.kind &= KIND_MASK;
    }

    pub fn local_addr(&self) -> Ipv4Addr {
        self.local
    }

    #[inline(always)]
    pub fn key(&self, dir: Dir) -> FlowKey {
        match dir {
            Dir::Original => self.original_key(),
            Dir::Reply => self.reply_key(),
        }
    }

    pub fn state(&self) -> State {
        State::from_u8(self.state)
    }

    pub fn class(&self) -> Option<Class> {
        Class::ALL.get(usize::from(self.class)).copied()
    }

    pub fn is_free(&self) -> bool {
        self.class == FREE
    }

    pub fn client_addr(&self) -> Ipv4Addr {
        self.client
    }

    pub fn vip_addr(&self) -> Ipv4Addr {
        self.vip
    }

    pub fn backend_addr(&self) -> Ipv4Addr {
        self.backend
    }
}

#[inline(always)]
fn offload_bit(dir: Dir) -> u8 {
    match dir {
        Dir::Original => OFFLOADED_ORIGINAL,
        Dir::Reply => OFFLOADED_REPLY,
    }
}

#[inline(always)]
fn unfit_bit(dir: Dir) -> u8 {
    match dir {
        Dir::Original => UNFIT_ORIGINAL,
        Dir::Reply => UNFIT_REPLY,
    }
}

/// `class` value of an entry on the free list.
pub const FREE: u8 = u8::MAX;
