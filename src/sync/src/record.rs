//! The records a datagram carries: what a peer needs to recreate a flow, a SNAT mapping or a
//! FullNAT pool port in its own tables, plus the bulk-resync and hello control records.
//!
//! Nothing here is a data-plane index: a backend is named by its address and port and a
//! service by its VIP, port and protocol (the original key), because backend ids and service
//! indices are per-snapshot numbers that differ between nodes.

use std::net::Ipv4Addr;

/// Record type codes on the wire.
pub mod code {
    pub const FLOW_UPSERT: u8 = 1;
    pub const FLOW_REFRESH: u8 = 2;
    pub const FLOW_REMOVED: u8 = 3;
    pub const SNAT_MAPPING: u8 = 4;
    pub const SNAT_MAPPING_REMOVED: u8 = 5;
    pub const FULLNAT_PORT: u8 = 6;
    pub const BULK_REQUEST: u8 = 7;
    pub const BULK_PAGE: u8 = 8;
    pub const HELLO: u8 = 9;
}

/// The original direction of a flow, `client:client_port -> vip:vip_port` in `zone` (its
/// tunnel, 0 for none): the identity of a flow on every node.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, PartialOrd, Ord)]
pub struct FlowKey {
    pub zone: u16,
    pub proto: u8,
    pub client: Ipv4Addr,
    pub client_port: u16,
    pub vip: Ipv4Addr,
    pub vip_port: u16,
}

/// What created a flow (`conntrack::entry::Kind`, same numbers).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum Kind {
    Nat = 0,
    Snat = 1,
    FullNat = 2,
    Dr = 3,
    Tunnel = 4,
}

impl Kind {
    pub fn from_u8(v: u8) -> Option<Kind> {
        Some(match v {
            0 => Kind::Nat,
            1 => Kind::Snat,
            2 => Kind::FullNat,
            3 => Kind::Dr,
            4 => Kind::Tunnel,
            _ => return None,
        })
    }
}

/// A flow's full state: enough to rebuild the 56-byte conntrack entry on a peer (both keys,
/// the kind, the TCP state and class, and the lifetime left). The receiver picks its own
/// backend id by `backend:backend_port` within the service `key.vip:key.vip_port/key.proto`.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub struct Flow {
    pub key: FlowKey,
    pub kind: Kind,
    /// Conntrack `State`, `Class` and FIN bits as the data plane numbers them.
    pub state: u8,
    pub class: u8,
    pub fins: u8,
    /// Timeout profile: 0 for the load balancer, `1 + pool` for SNAT gateway flows.
    pub profile: u8,
    pub backend: Ipv4Addr,
    pub backend_port: u16,
    /// The translated source (the client itself in NAT mode, a pool address otherwise).
    pub local: Ipv4Addr,
    pub local_port: u16,
    /// Milliseconds the flow has left at the sender when the record was made.
    pub remaining_ms: u32,
}

/// A flow changed timeout class, or is refreshed so its timeout on the peer stays true.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub struct FlowRefresh {
    pub key: FlowKey,
    pub state: u8,
    pub class: u8,
    pub fins: u8,
    pub remaining_ms: u32,
}

/// An inside endpoint of the SNAT gateway (`snat::mapping::Inside`).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, PartialOrd, Ord)]
pub struct Inside {
    pub zone: u16,
    pub proto: u8,
    pub addr: Ipv4Addr,
    pub port: u16,
}

/// An endpoint-independent SNAT mapping: `inside` leaves as `external:external_port` of `pool`.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub struct SnatMapping {
    pub inside: Inside,
    pub external: Ipv4Addr,
    pub external_port: u16,
    pub pool: u8,
}

/// A FullNAT local port taken (`held`) or given back, towards one backend.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub struct FullNatPort {
    pub proto: u8,
    pub local: Ipv4Addr,
    pub local_port: u16,
    pub backend: Ipv4Addr,
    pub backend_port: u16,
    pub held: bool,
}

/// One SNAT pool's port range, which peers must agree on (the partition `port % workers`).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub struct PoolRange {
    pub addr: Ipv4Addr,
    pub port_lo: u16,
    pub port_hi: u16,
}

/// The settings two peers must share for a record to mean the same thing on both.
#[derive(Debug, Clone, PartialEq, Eq, Hash, Default)]
pub struct Settings {
    /// Data-plane workers: SNAT ports are owned by `port % workers`.
    pub workers: u16,
    pub pools: Vec<PoolRange>,
    /// A digest of anything else the shell wants equal (for example the cluster seed that
    /// Maglev tables derive from); opaque here.
    pub config_digest: u64,
}

/// Sent every hello interval, unreliably: liveness, the sender's table size and its settings.
#[derive(Debug, Clone, PartialEq, Eq, Hash)]
pub struct Hello {
    pub table_size: u64,
    pub settings: Settings,
}

/// "Send me your whole table from `cursor`" (0: from the start).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub struct BulkRequest {
    pub cursor: u64,
}

/// Closes one page of a bulk resync: the page's `entries` records were queued just before it;
/// `cursor` resumes after them; `total` is the sender's table size when the bulk began.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub struct BulkPage {
    pub cursor: u64,
    pub total: u64,
    pub entries: u32,
    pub last: bool,
}

#[derive(Debug, Clone, PartialEq, Eq, Hash)]
pub enum Record {
    FlowUpsert(Flow),
    FlowRefresh(FlowRefresh),
    FlowRemoved(FlowKey),
    SnatMapping(SnatMapping),
    SnatMappingRemoved(Inside),
    FullNatPort(FullNatPort),
    BulkRequest(BulkRequest),
    BulkPage(BulkPage),
    Hello(Hello),
}

/// What records coalesce on: a later record with the same key supersedes a queued one.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, PartialOrd, Ord)]
pub enum CoalesceKey {
    Flow(FlowKey),
    Snat(Inside),
    FullNat(u8, Ipv4Addr, u16),
}

impl Record {
    pub fn code(&self) -> u8 {
        match self {
            Record::FlowUpsert(_) => code::FLOW_UPSERT,
            Record::FlowRefresh(_) => code::FLOW_REFRESH,
            Record::FlowRemoved(_) => code::FLOW_REMOVED,
            Record::SnatMapping(_) => code::SNAT_MAPPING,
            Record::SnatMappingRemoved(_) => code::SNAT_MAPPING_REMOVED,
            Record::FullNatPort(_) => code::FULLNAT_PORT,
            Record::BulkRequest(_) => code::BULK_REQUEST,
            Record::BulkPage(_) => code::BULK_PAGE,
            Record::Hello(_) => code::HELLO,
        }
    }

    pub fn coalesce_key(&self) -> Option<CoalesceKey> {
        Some(match self {
            Record::FlowUpsert(f) => CoalesceKey::Flow(f.key),
            Record::FlowRefresh(r) => CoalesceKey::Flow(r.key),
            Record::FlowRemoved(k) => CoalesceKey::Flow(*k),
            Record::SnatMapping(m) => CoalesceKey::Snat(m.inside),
            Record::SnatMappingRemoved(i) => CoalesceKey::Snat(*i),
            Record::FullNatPort(p) => CoalesceKey::FullNat(p.proto, p.local, p.local_port),
            _ => return None,
        })
    }

    /// `self` (queued, not yet sent) superseded by `newer` of the same key: the newer wins,
    /// except that a refresh folds into a pending upsert so the full state still goes out.
    pub fn supersede(self, newer: Record) -> Record {
        match (self, newer) {
            (Record::FlowUpsert(mut f), Record::FlowRefresh(r)) => {
                f.state = r.state;
                f.class = r.class;
                f.fins = r.fins;
                f.remaining_ms = r.remaining_ms;
                Record::FlowUpsert(f)
            }
            (_, newer) => newer,
        }
    }

    /// Whether the receiver hands this record to the data plane (the rest drive the endpoint).
    pub fn is_state(&self) -> bool {
        self.coalesce_key().is_some()
    }
}
