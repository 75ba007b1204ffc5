//! Session sync in the pipeline: flows a peer reports are adopted into this worker's tables by
//! the rules that would have created them here (the service by its VIP, the backend by its
//! address, the FullNAT port and the SNAT mapping claimed in this worker's share), and this
//! worker's own changes are handed to the shell for the peer.
//!
//! Nothing a peer sends is trusted further than the configuration: a flow for a service,
//! backend or pool this node does not have, or whose port lies in another worker's share, is
//! refused and counted, never recorded half-way.

use std::net::Ipv4Addr;

use super::{release, Pipeline};
use crate::conntrack::{Change, Entry, Kind, NewFlow, State};
use crate::counters::Counter;
use crate::flow::{client_hash, inside_hash, FlowKey};
use crate::snapshot::{Direct, Snapshot};
use crate::snat::mapping::Inside;
use crate::wire::proto;

/// A flow as a peer reports it: everything but this node's numbering (service index, backend
/// id), which is looked up here.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Adopted {
    /// The original direction, zone included.
    pub original: FlowKey,
    pub kind: Kind,
    pub state: State,
    pub fins: u8,
    /// Timeout profile: 0 for services, `1 + pool` for the SNAT gateway.
    pub profile: u8,
    pub backend: Ipv4Addr,
    pub backend_port: u16,
    /// The translated source (a pool address for SNAT and FullNAT; the client in NAT mode).
    pub local: Ipv4Addr,
    pub local_port: u16,
    pub remaining_ms: u32,
}

impl Adopted {
    /// What a peer needs of `e` to adopt it, with `remaining_ms` of its lifetime left.
    pub fn from_entry(e: &Entry, remaining_ms: u32) -> Adopted {
        Adopted {
            original: e.original_key(),
            kind: e.kind(),
            state: e.state(),
            fins: e.fins,
            profile: e.profile,
            backend: e.backend,
            backend_port: e.backend_port,
            local: e.local,
            local_port: e.local_port,
            remaining_ms,
        }
    }
}

/// Why a reported flow was not adopted.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum AdoptError {
    /// No service at the flow's VIP:port/proto here.
    UnknownService,
    /// The service has no backend at that address and port here.
    UnknownBackend,
    /// The translated source is no pool address of this node (or not the service's pool).
    UnknownPool,
    /// The pool port is in another worker's share, or already taken by another flow.
    PortTaken,
    /// The inside endpoint already has another mapping here.
    MappingConflict,
    /// A tunnel-mode flow with no outer source on this node.
    NoSource,
    /// The table is full of flows that may not be evicted, or the reply key is taken.
    Full,
    Conflict,
}

impl AdoptError {
    pub const ALL: [AdoptError; 8] = [
        AdoptError::UnknownService,
        AdoptError::UnknownBackend,
        AdoptError::UnknownPool,
        AdoptError::PortTaken,
        AdoptError::MappingConflict,
        AdoptError::NoSource,
        AdoptError::Full,
        AdoptError::Conflict,
    ];

    pub fn name(self) -> &'static str {
        match self {
            AdoptError::UnknownService => "unknown_service",
            AdoptError::UnknownBackend => "unknown_backend",
            AdoptError::UnknownPool => "unknown_pool",
            AdoptError::PortTaken => "port_taken",
            AdoptError::MappingConflict => "mapping_conflict",
            AdoptError::NoSource => "no_source",
            AdoptError::Full => "full",
            AdoptError::Conflict => "conflict",
        }
    }
}

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Adoption {
    /// A flow this worker did not have.
    New,
    /// A flow it had: state and lifetime updated.
    Updated,
}

/// The worker that owns a flow of `kind` with original key `key`, by the rules
/// `Pipeline::classify_new` applies to its first packet.
pub fn owner(snap: &Snapshot, kind: Kind, key: &FlowKey) -> u16 {
    let h = match kind {
        Kind::Snat => inside_hash(key.zone, key.src, key.src_port, snap.hash_seed),
        _ => client_hash(key.src, key.src_port, snap.hash_seed),
    };
    (h % u64::from(snap.workers.max(1))) as u16
}

impl Pipeline {
    /// Starts (capacity > 0) or stops logging this worker's flow changes for session sync.
    /// Allocates: call it off the packet path.
    pub fn log_changes(&mut self, capacity: usize) {
        self.ct.log_changes(capacity);
    }

    /// Hands the changes logged since the last call to `f`, oldest first.
    pub fn take_changes(&mut self, f: impl FnMut(&Change)) {
        self.ct.log.drain(f);
        self.counters
            .set(Counter::SyncChangesLost, self.ct.log.lost);
    }

    /// Up to `max` flows from table slot `cursor` on, with their slots and remaining lifetimes, for a
    /// bulk resynchronisation; returns where to continue (`None`: done).
    pub fn export(
        &self,
        cursor: u32,
        max: usize,
        now: u32,
        f: impl FnMut(u32, &Entry, u32),
    ) -> Option<u32> {
        self.ct.export(cursor, max, now, f)
    }

    /// Records (or updates) a flow a peer reports. The caller gives it to its [`owner`].
    pub fn adopt(
        &mut self,
        snap: &Snapshot,
        now: u32,
        a: &Adopted,
    ) -> Result<Adoption, AdoptError> {
        self.sync(snap);
        let r = self.adopt_inner(snap, now, a);
        match r {
            Ok(Adoption::New) => self.counters.add(Counter::SyncAdopted, 1),
            Ok(Adoption::Updated) => self.counters.add(Counter::SyncUpdated, 1),
            Err(_) => self.counters.add(Counter::SyncRefused, 1),
        }
        r
    }

    fn adopt_inner(
        &mut self,
        snap: &Snapshot,
        now: u32,
        a: &Adopted,
    ) -> Result<Adoption, AdoptError> {
        if let Some((i, _)) = self.ct.lookup(&a.original) {
            let e = *self.ct.get(i);
            // The translated source is the flow's own for FullNAT and SNAT (a pool port);
            // NAT and direct return keep the client's, a tunnel's is this node's.
            let pooled = matches!(a.kind, Kind::FullNat | Kind::Snat);
            if e.kind() != a.kind
                || e.backend != a.backend
                || e.backend_port != a.backend_port
                || (pooled && (e.local != a.local || e.local_port != a.local_port))
            {
                // The peer made another flow of the same 5-tuple (this one ended there, or was
                // scheduled afresh): its word replaces a copy that carried nothing here; a flow
                // this node forwards stays.
                if self.ct.carried_here(i, now) {
                    return Err(AdoptError::Conflict);
                }
                let (ct, sched, snat) = (&mut self.ct, &mut self.sched, &mut self.snat);
                ct.remove_adopted(i, &mut |e: &Entry| release(sched, snat, e));
                return self.adopt_inner(snap, now, a);
            }
            self.ct
                .update_adopted(i, now, a.state, a.fins, a.remaining_ms);
            return Ok(Adoption::Updated);
        }
        let flow = match a.kind {
            Kind::Snat => self.adopt_mapping(snap, a)?,
            _ => self.service_flow(snap, a)?,
        };
        let (ct, sched, snat) = (&mut self.ct, &mut self.sched, &mut self.snat);
        let r = ct.adopt(now, &flow, a.fins, a.remaining_ms, &mut |e: &Entry| {
            release(sched, snat, e)
        });
        match r {
            Ok(_) => {
                if flow.kind != Kind::Snat {
                    self.sched.flow_started(flow.backend_id);
                }
                Ok(Adoption::New)
            }
            Err(e) => {
                // Give back what was claimed for it.
                match flow.kind {
                    Kind::FullNat => {
                        self.snat
                            .release_port(flow.original.proto, flow.local, flow.local_port)
                    }
                    Kind::Snat => self.snat.close(&inside_of(&flow.original)),
                    _ => {}
                }
                Err(match e {
                    crate::conntrack::InsertError::Full => AdoptError::Full,
                    crate::conntrack::InsertError::Conflict => AdoptError::Conflict,
                })
            }
        }
    }

    /// A service flow: its service and backend by address here, and for FullNAT its pool port
    /// claimed from this worker's share.
    fn service_flow(&mut self, snap: &Snapshot, a: &Adopted) -> Result<NewFlow, AdoptError> {
        let k = &a.original;
        let si = snap
            .service_for(k.dst, k.dst_port, k.proto)
            .ok_or(AdoptError::UnknownService)?;
        let svc = &snap.services[usize::from(si)];
        let direct = svc.direct;
        let b = svc
            .backends
            .iter()
            .find(|b| {
                b.addr == a.backend
                    && (b.port == a.backend_port || direct.is_some() || k.proto == proto::ICMP)
            })
            .ok_or(AdoptError::UnknownBackend)?;
        let (kind, local, local_port) = match (direct, svc.pool, a.kind) {
            (None, None, Kind::Nat) => (Kind::Nat, k.src, k.src_port),
            (None, Some(pool), Kind::FullNat) => {
                if snap.gw.pool_of_addr(a.local) != Some(pool) {
                    return Err(AdoptError::UnknownPool);
                }
                if !self.snat.claim_free(k.proto, a.local, a.local_port) {
                    return Err(AdoptError::PortTaken);
                }
                (Kind::FullNat, a.local, a.local_port)
            }
            (Some(Direct::Routing), None, Kind::Dr) => (Kind::Dr, k.src, 0),
            // The outer source is this node's: its own `tunnel_source` or route.
            (Some(Direct::Tunnel { source }), None, Kind::Tunnel) => {
                let src = source
                    .or_else(|| snap.next_hops.source(b.addr))
                    .ok_or(AdoptError::NoSource)?;
                (Kind::Tunnel, src, 0)
            }
            // The service here is not in the mode the peer's flow was made in.
            _ => return Err(AdoptError::UnknownService),
        };
        Ok(NewFlow {
            original: *k,
            backend: b.addr,
            backend_port: a.backend_port,
            local,
            local_port,
            service: si,
            backend_id: b.id,
            state: a.state,
            kind,
            profile: 0,
        })
    }

    /// A SNAT gateway flow: its endpoint-independent mapping, held once more if it exists here
    /// with the same external address and port, else made with them in this worker's share.
    fn adopt_mapping(&mut self, snap: &Snapshot, a: &Adopted) -> Result<NewFlow, AdoptError> {
        let k = &a.original;
        let pool = snap
            .gw
            .pool_of_addr(a.local)
            .ok_or(AdoptError::UnknownPool)?;
        if usize::from(a.profile) != 1 + usize::from(pool) {
            return Err(AdoptError::UnknownPool);
        }
        let inside = inside_of(k);
        match self.snat.mappings.get(&inside) {
            Some((addr, port)) if Ipv4Addr::from(addr) == a.local && port == a.local_port => {
                self.snat.mappings.hold(&inside);
            }
            Some(_) => return Err(AdoptError::MappingConflict),
            None => {
                if !self.snat.claim_free(k.proto, a.local, a.local_port) {
                    return Err(AdoptError::PortTaken);
                }
                if !self
                    .snat
                    .mappings
                    .insert(inside, a.local.into(), a.local_port)
                {
                    self.snat.release_port(k.proto, a.local, a.local_port);
                    return Err(AdoptError::Full);
                }
            }
        }
        Ok(NewFlow {
            original: *k,
            backend: k.dst,
            backend_port: k.dst_port,
            local: a.local,
            local_port: a.local_port,
            service: 0,
            backend_id: 0,
            state: a.state,
            kind: Kind::Snat,
            profile: a.profile,
        })
    }

    /// A peer's refresh of a flow (its state, FIN bits and lifetime left); `false` if this
    /// worker does not have it.
    pub fn refresh_adopted(
        &mut self,
        now: u32,
        key: &FlowKey,
        state: State,
        fins: u8,
        remaining_ms: u32,
    ) -> bool {
        let Some((i, _)) = self.ct.lookup(key) else {
            return false;
        };
        self.ct.update_adopted(i, now, state, fins, remaining_ms);
        self.counters.add(Counter::SyncUpdated, 1);
        true
    }

    /// Frees a flow a peer reports gone (it expired there); `false` if this worker does not
    /// have it, or has it with more life left than a copy of the peer's would: the two ends of
    /// a removal race (the peer's copy ran out just as this node carried the flow on) must not
    /// end a live flow. The peer's copy expires on its own clock then, and this node's next
    /// refresh rebuilds it there.
    pub fn forget(&mut self, now: u32, key: &FlowKey) -> bool {
        let Some((i, _)) = self.ct.lookup(key) else {
            return false;
        };
        let e = self.ct.get(i);
        let slack = crate::conntrack::adopted_slack(self.ct.timeout_of(e));
        if self.ct.remaining(e, now) > 2 * slack {
            self.counters.add(Counter::SyncRemoveIgnored, 1);
            return false;
        }
        let (ct, sched, snat) = (&mut self.ct, &mut self.sched, &mut self.snat);
        ct.remove_adopted(i, &mut |e: &Entry| release(sched, snat, e));
        self.counters.add(Counter::SyncRemoved, 1);
        true
    }
}

fn inside_of(k: &FlowKey) -> Inside {
    Inside {
        zone: k.zone,
        proto: k.proto,
        addr: k.src,
        port: k.src_port,
    }
}
