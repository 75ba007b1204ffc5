//! The pipeline of one worker: for each frame of a batch, parse (taking GRE from a configured
//! tunnel apart: its zone joins the flow key) → conntrack lookup → on a miss, classify (service
//! VIP:port/proto, a reply to a pool address, a reply from a backend, tunnel or source traffic
//! for the SNAT gateway) → ownership → create (backend selection, pool port) → rewrite with
//! incremental checksums → decapsulate or encapsulate → next-hop MAC → verdict. ICMP errors
//! quoting a tracked flow are translated too (`pipeline/icmp.rs`); the SNAT gateway's flows are
//! opened in `pipeline/gateway.rs`. Where this appliance is a site's gateway, inside traffic
//! with no flow goes into the site tunnel, and what comes out of it is delivered, without state
//! (`pipeline/site.rs`). NAT64 services (IPv6 VIP, IPv4 backends) keep their flows in the
//! IPv6 table; their IPv4 replies are found there from the IPv4 miss path (`pipeline/nat64.rs`).
//!
//! Flow owners: `hash(client address, port)` for service flows (NAT mode and FullNAT), `hash(zone,
//! inside address, port)` for the SNAT gateway, and for packets to a pool address the worker
//! whose share holds the destination port (`snat::ports`); whoever opens a SNAT or FullNAT flow
//! allocates from its own share, so both directions agree.
//!
//! Nothing here allocates, locks or performs IO. Time is an argument (milliseconds on a wrapping
//! 32-bit clock), so tests drive it on a virtual clock.

pub mod adopt;
mod direct;
mod forward;
mod gateway;
mod gateway64;
mod icmp_errors;
mod nat64;
mod parse;
mod routed6;
mod site;
mod ttl;
mod tunnel6;
mod v6;

use std::net::{Ipv4Addr, Ipv6Addr};

use parse::{parse, parse_gre, quoted_key, Gre};
use routed6::routed6_zone;

use super::conntrack::{
    self, Conntrack, ConntrackV6, Dir, Entry, InsertError, Kind, NewFlow, State, Timeouts,
};
use super::counters::{Counter, Counters, DropReason};
use super::flow::{client_hash, inside_hash, mix2, FlowKey};
use super::offload;
use super::ratelimit::TokenBucket;
use super::sched::{Choice, SchedState};
use super::snapshot::Snapshot;
use super::snat::mapping::{Inside, Mappings};
use super::snat::v6::SnatV6;
use super::snat::SnatState;
use super::steering;
use super::tables::AllocError;
use super::tunnel;
use super::tunnel_counters::PerTunnel;
use super::wire::{ethernet, proto, Address, EtherType, EthernetFrame, Ipv4Packet};

/// What to do with a frame after the pipeline.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Verdict {
    /// Rewritten in place; transmit on this interface (index into the snapshot's interfaces).
    Tx {
        iface: u16,
    },
    /// Not the fast path's: the kernel's (ARP, other protocols, replies without a flow that
    /// the steering rules do not give us).
    Pass,
    Drop(DropReason),
    /// Another worker owns this flow; hand the frame over unchanged.
    Handoff {
        worker: u16,
    },
}

#[derive(Debug, Clone, Copy)]
pub struct PipelineConfig {
    /// This worker's number, in `0..snapshot.workers`.
    pub worker: u16,
    pub conntrack_capacity: u32,
    pub timeouts: Timeouts,
    pub persist_slots: usize,
    /// Seed of this worker's private tables (conntrack, persistence).
    pub local_seed: u64,
    /// List heads examined per batch for expiry.
    pub expire_budget: u32,
    /// ICMP errors this worker may originate per second (time exceeded, fragmentation
    /// needed), and how many it may send at once after a quiet spell (RFC 1812 §4.3.2.8).
    pub icmp_errors_per_second: u32,
    pub icmp_errors_burst: u32,
    /// Offer established flows' rules to the XDP program (`offload.rs`).
    pub offload: bool,
    /// IPv6 flows this worker tracks (their own table, `conntrack/v6.rs`).
    pub conntrack_v6_capacity: u32,
}

impl Default for PipelineConfig {
    fn default() -> Self {
        PipelineConfig {
            worker: 0,
            conntrack_capacity: 1 << 16,
            timeouts: Timeouts::default(),
            persist_slots: 1 << 12,
            local_seed: 0x5eed,
            expire_budget: 64,
            // As Linux's `icmp_msgs_per_sec` and `icmp_msgs_burst`.
            icmp_errors_per_second: 1000,
            icmp_errors_burst: 50,
            offload: false,
            conntrack_v6_capacity: 1 << 14,
        }
    }
}

pub struct Pipeline {
    cfg: PipelineConfig,
    ct: Conntrack,
    /// IPv6 flows, and this worker's share of the IPv6 FullNAT pools.
    ct6: ConntrackV6,
    snat6: SnatV6,
    sched: SchedState,
    snat: SnatState,
    tunnels: PerTunnel,
    counters: Counters,
    /// Generation of the snapshot the pools and timeouts were last taken from.
    synced: u64,
    /// Identification of the next outer IPv4 header we build.
    ident: u16,
    /// The ICMP errors this worker originates.
    icmp_bucket: TokenBucket,
    /// Next hops a frame lacked a MAC for since the shell last looked.
    unresolved: Unresolved,
    unresolved6: Unresolved<Ipv6Addr>,
    /// With the offload on: where a frame is kept while its rule is learnt.
    offload: Option<OffloadBufs>,
}

/// The copy of a frame before the pipeline forwarded it, and room for the model's check of the
/// rule learnt from it; allocated once when the offload is turned on.
struct OffloadBufs {
    before: Box<[u8]>,
    check: Box<[u8]>,
}

/// Frames longer than this are never the first of a rule (UMEM chunks are at most 4 KiB).
const OFFLOAD_FRAME_MAX: usize = 4096;
/// Offload events a worker logs between two drains (once per millisecond).
const OFFLOAD_LOG: usize = 1024;
/// A direction that fit no rule is tried again every this many packets of its flow.
const UNFIT_RETRY: u32 = 64;

/// The last few next hops without a neighbour entry (a small ring: a burst towards one address
/// records it once; the shell takes them every millisecond and asks the kernel to resolve them).
#[derive(Debug, Clone, Copy)]
pub struct Unresolved<A = Ipv4Addr> {
    addrs: [Option<A>; UNRESOLVED_SLOTS],
    next: usize,
}

const UNRESOLVED_SLOTS: usize = 8;

impl<A> Default for Unresolved<A> {
    fn default() -> Self {
        Unresolved {
            addrs: std::array::from_fn(|_| None),
            next: 0,
        }
    }
}

impl<A: Copy + PartialEq> Unresolved<A> {
    pub const SLOTS: usize = UNRESOLVED_SLOTS;

    #[inline]
    fn note(&mut self, a: A) {
        if self.addrs.contains(&Some(a)) {
            return;
        }
        self.addrs[self.next] = Some(a);
        self.next = (self.next + 1) % Self::SLOTS;
    }

    /// The addresses recorded since the last call, emptied.
    pub fn take(&mut self) -> impl Iterator<Item = A> {
        let out = std::mem::replace(&mut self.addrs, [None; UNRESOLVED_SLOTS]);
        self.next = 0;
        out.into_iter().flatten()
    }
}

type Result<T> = std::result::Result<T, Verdict>;

/// A frame after the first stage: IPv4 (or not IP: refused) or IPv6.
#[derive(Debug, Clone, Copy)]
enum Staged {
    V4(Early),
    V6(Result<v6::ParsedV6>),
    /// IPv6 into the tunnel with this zone, untranslated.
    Into6(u16),
    /// IPv6 out of the tunnel with `zone`: the packet at `at` in the frame, `len` bytes.
    Out6 {
        zone: u16,
        at: u16,
        len: u16,
    },
}

/// What a packet without a flow leads to.
enum New {
    /// The flow just opened (conntrack index).
    Flow(u32),
    /// Nothing to track: into the site tunnel with this zone.
    SiteEgress(u16),
    /// The first packet's TTL runs out here: answered from `from`, an address of ours, into
    /// tunnel `back` when it came out of one (see `pipeline/ttl.rs`).
    TtlExpired { from: Ipv4Addr, back: Option<u16> },
    /// The reply of a NAT64 flow (its slot in the IPv6 table).
    Nat64Reply(u32),
}

/// Frames parsed and prefetched ahead of processing, per group of a batch.
const GROUP: usize = 16;

/// The outcome of parsing: the flow, or an early verdict with the zone to count it in.
type Early = std::result::Result<Parsed, (Verdict, u16)>;

/// A frame after [`Pipeline::prepare`], waiting for [`Pipeline::finish`].
#[derive(Debug, Clone, Copy)]
pub struct Prepared(Staged);

impl Default for Prepared {
    fn default() -> Self {
        Prepared(Staged::V4(Err((Verdict::Pass, 0))))
    }
}

/// How many frames a caller should prepare before finishing them: enough that the conntrack
/// slots of the first are in cache when it is finished, few enough to stay in L1.
pub const PREPARE_GROUP: usize = GROUP;

/// The flow a packet belongs to, from its headers.
#[derive(Debug, Clone, Copy)]
struct Parsed {
    /// The flow key, zone included (unused for ICMP errors, whose flow is in the quote).
    key: FlowKey,
    /// `key`'s hash in this worker's conntrack.
    hash: u64,
    tcp_flags: Option<u8>,
    /// Where the (inner) IPv4 header starts in the frame, and its Total Length.
    l3: usize,
    total: usize,
    ttl: u8,
    icmp_error: bool,
}

/// Gives back what a flow held when it ends: a backend's connection count, a pool port, a
/// reference to an endpoint-independent mapping.
fn release(sched: &mut SchedState, snat: &mut SnatState, e: &Entry) {
    match e.kind() {
        // NAT64 flows live in the IPv6 table only.
        Kind::Nat | Kind::Dr | Kind::Tunnel | Kind::Nat64 => sched.flow_ended(e.backend_id),
        Kind::FullNat => {
            sched.flow_ended(e.backend_id);
            snat.release_port(e.proto, e.local, e.local_port);
        }
        Kind::Snat => snat.close(&Inside {
            zone: e.zone,
            proto: e.proto,
            addr: e.client,
            port: e.client_port,
        }),
    }
}

impl Pipeline {
    /// A worker's pipeline with its tables allocated. Panics when the memory cannot be had:
    /// the daemon uses [`Pipeline::try_new`].
    pub fn new(cfg: PipelineConfig) -> Pipeline {
        Pipeline::try_new(cfg).expect("pipeline tables")
    }

    /// The memory the tables of one worker's pipeline take that grows with the configuration
    /// (conntrack entries and index, SNAT mappings); the rest is a few hundred KiB.
    pub fn table_bytes(cfg: &PipelineConfig) -> u64 {
        Conntrack::bytes_for(cfg.conntrack_capacity)
            + ConntrackV6::bytes_for(cfg.conntrack_v6_capacity.max(1))
            + Mappings::bytes_for(cfg.conntrack_capacity as usize)
    }

    /// [`Pipeline::new`], or an error when a table cannot be allocated.
    pub fn try_new(cfg: PipelineConfig) -> std::result::Result<Pipeline, AllocError> {
        let ct = Conntrack::try_new(cfg.conntrack_capacity, cfg.timeouts, cfg.local_seed)?;
        let ct6 = ConntrackV6::try_new(
            cfg.conntrack_v6_capacity.max(1),
            cfg.timeouts,
            cfg.local_seed ^ 0x6636,
        )?;
        let mut counters = Counters::default();
        counters.set(Counter::ConntrackCapacity, u64::from(ct.capacity()));
        Ok(Pipeline {
            sched: SchedState::new(cfg.persist_slots, cfg.local_seed ^ 0x7065_7273),
            snat: SnatState::try_new(
                cfg.worker,
                cfg.conntrack_capacity as usize,
                cfg.local_seed ^ 0x736e_6174,
            )?,
            tunnels: PerTunnel::default(),
            icmp_bucket: TokenBucket::new(cfg.icmp_errors_per_second, cfg.icmp_errors_burst, 0),
            cfg,
            ct,
            ct6,
            snat6: SnatV6::default(),
            unresolved6: Unresolved::default(),
            counters,
            synced: 0,
            ident: 0,
            unresolved: Unresolved::default(),
            offload: None,
        })
        .map(|mut p| {
            p.set_offload(cfg.offload);
            p
        })
    }

    /// Turns the established-flow offload on or off (allocating its buffers now). Off forgets
    /// every flow's offload: the shell has removed, or never made, their rules.
    pub fn set_offload(&mut self, on: bool) {
        self.cfg.offload = on;
        if on && self.offload.is_none() {
            self.offload = Some(OffloadBufs {
                before: vec![0; OFFLOAD_FRAME_MAX].into_boxed_slice(),
                check: vec![0; OFFLOAD_FRAME_MAX + 64].into_boxed_slice(),
            });
            self.ct.log_offload(OFFLOAD_LOG);
        } else if !on && self.offload.is_some() {
            self.offload = None;
            self.ct.log_offload(0);
        }
    }

    /// Hands the shell every offload event since the last call, in order. After a flush
    /// (`true`: the log overflowed) the shell removes every rule this worker has.
    pub fn take_offload(&mut self, f: impl FnMut(&conntrack::OffloadEvent)) -> bool {
        let flush = std::mem::take(&mut self.ct.offload.flush);
        if flush {
            self.ct.forget_offloads();
        }
        self.ct.offload.drain(f);
        flush
    }

    /// Withdraws every rule: the configuration the rules were learnt from changed (routes,
    /// neighbours, backends' health, services). The flows stay; their next packets through
    /// the worker offer rules again.
    pub fn withdraw_all_offloads(&mut self) {
        self.ct.forget_offloads();
        self.ct.offload.flush = true;
    }

    /// Takes what changed from a new snapshot: scheduler cursors, the pools' port maps (ports
    /// live flows hold are claimed again) and the pools' timeouts. A compare when nothing did.
    #[inline(always)]
    fn sync(&mut self, snap: &Snapshot) {
        self.sched.sync(snap);
        if self.synced == snap.generation {
            return;
        }
        self.synced = snap.generation;
        if self.snat.sync(&snap.gw.pools, snap.workers) {
            for e in self.ct.iter() {
                if e.kind() == Kind::FullNat {
                    self.snat.claim(e.proto, e.local, e.local_port);
                }
            }
            // NAT64 flows hold ports of the IPv4 pools too.
            for e in self.ct6.iter() {
                if let (Kind::Nat64, Some(a)) = (e.kind(), e.local.to_ipv4_mapped()) {
                    self.snat.claim(nat64::v4_proto(e.proto), a, e.local_port);
                }
            }
        }
        for (i, p) in snap.gw.pools.iter().enumerate() {
            self.ct.set_timeouts(1 + i, p.timeouts);
        }
        self.sync_v6(snap);
    }

    /// The IPv6 FullNAT pools' allocator.
    pub fn snat_v6(&self) -> &crate::snat::v6::SnatV6 {
        &self.snat6
    }

    pub fn snat(&self) -> &SnatState {
        &self.snat
    }

    /// Counters of the tunnel with `zone`.
    pub fn tunnel_counters(&self, zone: u16) -> super::tunnel_counters::TunnelCounters {
        self.tunnels.get(zone)
    }

    pub fn counters(&self) -> &Counters {
        &self.counters
    }

    /// Next hops whose MAC was missing since the last call (see [`Unresolved`]).
    pub fn take_unresolved(&mut self) -> impl Iterator<Item = Ipv4Addr> {
        self.unresolved.take()
    }

    pub fn conntrack(&self) -> &Conntrack {
        &self.ct
    }

    /// The IPv6 flows.
    pub fn conntrack_v6(&self) -> &ConntrackV6 {
        &self.ct6
    }

    /// IPv6 next hops whose MAC was missing since the last call (the kernel resolves them by
    /// neighbour discovery when the shell sends to them).
    pub fn take_unresolved_v6(&mut self) -> impl Iterator<Item = Ipv6Addr> {
        self.unresolved6.take()
    }

    pub fn sched(&self) -> &SchedState {
        &self.sched
    }

    /// Processes a batch read with one snapshot; `verdicts[i]` is the fate of the `i`th frame.
    ///
    /// Frames go through in groups: every frame of a group is parsed and its conntrack slot
    /// prefetched, then the entries those slots point at are prefetched, then each frame is
    /// processed; the cache misses of a large table overlap instead of adding up.
    pub fn process_batch<'a>(
        &mut self,
        snap: &Snapshot,
        now: u32,
        frames: impl IntoIterator<Item = &'a mut [u8]>,
        verdicts: &mut [Verdict],
    ) {
        self.sync(snap);
        let mut frames = frames.into_iter();
        let mut verdicts = verdicts.iter_mut();
        loop {
            let mut group: [Option<&'a mut [u8]>; GROUP] = Default::default();
            let mut early: [Staged; GROUP] = [Staged::V4(Err((Verdict::Pass, 0))); GROUP];
            let mut n = 0;
            for (slot, e) in group.iter_mut().zip(early.iter_mut()) {
                let Some(f) = frames.next() else { break };
                *e = self.stage1(snap, f);
                *slot = Some(f);
                n += 1;
            }
            for p in &early[..n] {
                self.prefetch_staged(p);
            }
            // By reference: moving the array into the iterator copied all of it (a memmove of
            // 16 parsed headers per group, 18 % of the established-flow profile).
            for (f, &e) in group.iter_mut().zip(early.iter()).take(n) {
                let (Some(f), Some(v)) = (f.as_deref_mut(), verdicts.next()) else {
                    break;
                };
                let len = f.len();
                *v = self.stage2(snap, now, f, len, e).0;
            }
            if n < GROUP {
                break;
            }
        }
        self.housekeeping(now);
    }

    /// Expires flows within the per-batch budget and refreshes the conntrack gauges.
    pub fn housekeeping(&mut self, now: u32) {
        self.housekeeping_with(now, &mut |_, _| conntrack::LastSeen::Unknown);
    }

    /// [`Pipeline::housekeeping`], asking `seen` when offloaded flows last went through the XDP
    /// program (the shell reads it from the program's table).
    pub fn housekeeping_with(
        &mut self,
        now: u32,
        seen: &mut impl FnMut(u32, &Entry) -> conntrack::LastSeen,
    ) {
        let (ct, sched, snat) = (&mut self.ct, &mut self.sched, &mut self.snat);
        ct.expire_with(
            now,
            self.cfg.expire_budget,
            &mut |e: &Entry| release(sched, snat, e),
            seen,
        );
        let c = &mut self.counters;
        c.set(Counter::ConntrackUsed, u64::from(ct.used()));
        c.set(Counter::ConntrackExpired, ct.stats.expired);
        c.set(Counter::ConntrackEvicted, ct.stats.evicted);
        c.set(Counter::SnatMappings, snat.mappings.len() as u64);
        self.expire_v6(now, self.cfg.expire_budget);
        let used6 = u64::from(self.ct6.used());
        self.counters.set(Counter::ConntrackV6Used, used6);
    }

    /// One frame, whose length does not change on its way (see [`Pipeline::process_frame`] for
    /// frames that may be GRE-encapsulated or decapsulated). `snap` must be the batch's snapshot.
    #[inline]
    pub fn process(&mut self, snap: &Snapshot, now: u32, frame: &mut [u8]) -> Verdict {
        let len = frame.len();
        self.process_frame(snap, now, frame, len).0
    }

    /// One frame: the first `len` bytes of `buf`. The rest of `buf` is room for the tunnel
    /// headers a reply into a GRE tunnel needs (24 or 28 bytes; without it such a reply is
    /// dropped as `no_room`). Returns the verdict and the frame's new length.
    #[inline]
    pub fn process_frame(
        &mut self,
        snap: &Snapshot,
        now: u32,
        buf: &mut [u8],
        len: usize,
    ) -> (Verdict, usize) {
        self.sync(snap);
        let len = len.min(buf.len());
        let e = self.stage1(snap, &buf[..len]);
        self.stage2(snap, now, buf, len, e)
    }

    /// [`Pipeline::process_frame`] in two halves, for a caller that holds its frames one at a
    /// time (the AF_XDP worker: each frame is a mutable borrow of its UMEM): prepare a group of
    /// up to [`PREPARE_GROUP`] frames (parse, hash, fetch the index slot), [`Pipeline::prefetch`]
    /// their entries, then finish each in order. Per packet, at a million random flows, this is
    /// what `process_batch` gains over frame-by-frame processing (benchmarks (a) and (d)).
    #[inline]
    pub fn prepare(&mut self, snap: &Snapshot, frame: &[u8]) -> Prepared {
        self.sync(snap);
        Prepared(self.stage1(snap, frame))
    }

    /// Starts fetching the conntrack entries of a prepared group.
    #[inline]
    pub fn prefetch(&self, group: &[Prepared]) {
        for p in group {
            self.prefetch_staged(&p.0);
        }
    }

    #[inline(always)]
    fn prefetch_staged(&self, s: &Staged) {
        match s {
            Staged::V4(Ok(p)) => self.ct.prefetch_entry(p.hash),
            Staged::V6(Ok(p)) if !p.icmp_error => self.ct6.prefetch_entry(p.hash),
            _ => {}
        }
    }

    /// The second half of [`Pipeline::process_frame`] for a frame `prepare`d with this
    /// snapshot; `buf` and `len` as there.
    #[inline]
    pub fn finish(
        &mut self,
        snap: &Snapshot,
        now: u32,
        buf: &mut [u8],
        len: usize,
        prepared: Prepared,
    ) -> (Verdict, usize) {
        let len = len.min(buf.len());
        self.stage2(snap, now, buf, len, prepared.0)
    }

    /// Parses and starts fetching the flow's conntrack slot.
    #[inline(always)]
    fn stage1(&self, snap: &Snapshot, frame: &[u8]) -> Staged {
        match EthernetFrame::new_checked(frame).map(|e| e.ethertype()) {
            Ok(EtherType::Ipv4) => self.stage1_v4(snap, frame),
            Ok(EtherType::Ipv6) => match routed6_zone(snap, frame) {
                Some(zone) => Staged::Into6(zone),
                None => Staged::V6(self.stage1_v6(frame)),
            },
            _ => Staged::V4(Err((Verdict::Pass, 0))),
        }
    }

    #[inline(always)]
    fn stage1_v4(&self, snap: &Snapshot, frame: &[u8]) -> Staged {
        let eth = EthernetFrame::new_unchecked(frame);
        let Ok(ip) = Ipv4Packet::new_checked(eth.payload()) else {
            return Staged::V4(Err((Verdict::Drop(DropReason::Malformed), 0)));
        };
        let parsed = if ip.protocol() == proto::GRE && !snap.gw.tunnels.is_empty() {
            match parse_gre(snap, &ip) {
                Ok(Gre::V4(p)) => Ok(p),
                Ok(Gre::V6 { zone, at, len }) => {
                    return Staged::Out6 {
                        zone,
                        at: at + ethernet::HEADER_LEN as u16,
                        len,
                    }
                }
                Err(e) => Err(e),
            }
        } else {
            parse(&ip, 0).map_err(|v| (v, 0))
        };
        Staged::V4(parsed.map(|mut p| {
            p.l3 += ethernet::HEADER_LEN;
            if !p.icmp_error {
                p.hash = self.ct.prefetch(&p.key);
            }
            p
        }))
    }

    #[inline(always)]
    fn stage2(
        &mut self,
        snap: &Snapshot,
        now: u32,
        buf: &mut [u8],
        len: usize,
        staged: Staged,
    ) -> (Verdict, usize) {
        self.counters.add(Counter::RxPackets, 1);
        self.counters.add(Counter::RxBytes, len as u64);
        let early = match staged {
            Staged::V4(e) => e,
            Staged::V6(p) => {
                let (v, len) = self.stage2_v6(snap, now, buf, len, p);
                self.count_verdict(v, len, 0);
                return (v, len);
            }
            Staged::Into6(zone) => {
                let (v, len) = self
                    .enter_tunnel6(snap, now, buf, len, zone)
                    .unwrap_or_else(|v| (v, len));
                self.count_verdict(v, len, zone);
                return (v, len);
            }
            Staged::Out6 {
                zone,
                at,
                len: inner,
            } => {
                let (v, len) = self
                    .leave_tunnel6(snap, now, buf, zone, usize::from(at), usize::from(inner))
                    .unwrap_or_else(|v| (v, len));
                self.count_verdict(v, len, zone);
                return (v, len);
            }
        };
        let (v, len, zone) = match early {
            // A frame the pipeline refused before looking at its flow: malformed or a fragment
            // only counts against us if the steering rules make it ours.
            Err((v, _)) if v != Verdict::Pass && !steering::owns(snap, &buf[..len]) => {
                (Verdict::Pass, len, 0)
            }
            Err((v, zone)) => (v, len, zone),
            Ok(p) => {
                let zone = p.key.zone;
                if zone != 0 {
                    let t = self.tunnels.zone(zone);
                    t.rx_packets += 1;
                    t.rx_bytes += p.total as u64;
                    self.counters.add(Counter::GreDecapsulated, 1);
                }
                let site = match zone {
                    0 => None,
                    z => snap.gw.tunnel(z).filter(|t| t.site),
                };
                let r = if let Some(t) = site {
                    let learn = self.stateless_wanted(&p, len, buf, false);
                    let r = self.leave_site_tunnel(snap, now, buf, &p, t);
                    if let (true, Ok((Verdict::Tx { iface }, out))) = (learn, r) {
                        self.learn_stateless(iface, len, &buf[..out], u16::MAX);
                    }
                    r
                } else if p.icmp_error {
                    if zone == 0 && !steering::owns(snap, &buf[..len]) {
                        Err(Verdict::Pass)
                    } else {
                        self.icmp_error(snap, now, buf, len, &p).map_err(owned)
                    }
                } else {
                    self.translate(snap, now, buf, len, &p)
                };
                match r {
                    Ok((v, len)) => (v, len, zone),
                    Err(v) => (v, len, zone),
                }
            }
        };
        self.count_verdict(v, len, zone);
        (v, len)
    }

    #[inline(always)]
    fn count_verdict(&mut self, v: Verdict, len: usize, zone: u16) {
        match v {
            Verdict::Tx { .. } => {
                self.counters.add(Counter::TxPackets, 1);
                self.counters.add(Counter::TxBytes, len as u64);
            }
            Verdict::Pass => self.counters.add(Counter::Passed, 1),
            Verdict::Drop(r) => {
                self.counters.drop(r);
                if zone != 0 {
                    self.tunnels.zone(zone).drop(r);
                }
            }
            Verdict::Handoff { .. } => self.counters.add(Counter::Handoffs, 1),
        }
    }

    fn translate(
        &mut self,
        snap: &Snapshot,
        now: u32,
        frame: &mut [u8],
        len: usize,
        p: &Parsed,
    ) -> Result<(Verdict, usize)> {
        let key = p.key;
        // Known flows first: an entry exists only in its owner's table, so a hit needs neither
        // classification nor an ownership check, and established packets skip both lookups.
        let hit = match self.ct.lookup_hashed(&key, p.hash) {
            Some((i, Dir::Original)) if self.schedule_afresh(snap, i, key.proto, p.tcp_flags) => {
                self.end_flow(i);
                None
            }
            hit => hit,
        };
        let (i, dir) = match hit {
            Some((i, dir)) => {
                if p.ttl <= 1 {
                    let e = *self.ct.get(i);
                    let (from, back) = self.error_source(snap, &e, dir)?;
                    return self.time_exceeded(snap, now, frame, p, from, back);
                }
                self.ct.touch(i, dir, now, p.tcp_flags);
                (i, dir)
            }
            None => {
                // A flow's first packet: the steering rules say whether it is ours at all (the
                // worker only ever sees frames the program sent; this keeps the pipeline's
                // answer the same for any frame).
                if key.zone == 0 && !steering::owns(snap, &frame[..len]) {
                    return Err(Verdict::Pass);
                }
                match self.classify_new(snap, now, p).map_err(owned)? {
                    New::Flow(i) => (i, Dir::Original),
                    New::SiteEgress(zone) => {
                        let learn = self.stateless_wanted(p, len, frame, true);
                        let r = self
                            .enter_site_tunnel(snap, now, frame, p, zone)
                            .map_err(owned);
                        if let (true, Ok((Verdict::Tx { iface }, out))) = (learn, r) {
                            let mtu = snap.gw.tunnel(zone).map_or(0, |t| t.mtu);
                            self.learn_stateless(iface, len, &frame[..out], mtu);
                        }
                        return r;
                    }
                    New::TtlExpired { from, back } => {
                        return self.time_exceeded(snap, now, frame, p, from, back)
                    }
                    New::Nat64Reply(i) => return self.nat64_reply(snap, now, frame, p, i),
                }
            }
        };
        let e = *self.ct.get(i);
        let learn = self.offload_wanted(&e, dir, p, len);
        if learn {
            if let Some(b) = &mut self.offload {
                b.before[..len].copy_from_slice(&frame[..len]);
            }
        }
        let r = match dir {
            Dir::Original if e.kind().one_way() => {
                self.forward_direct(snap, now, frame, len, p, &e)
            }
            Dir::Original => self.forward_original(snap, frame, len, p, &e),
            Dir::Reply => self.forward_reply(snap, now, frame, len, p, &e),
        };
        if let (true, Ok((Verdict::Tx { iface }, out))) = (learn, r) {
            self.learn_offload(snap, i, dir, iface, len, &frame[..out]);
        }
        r
    }

    /// Whether this packet's direction should get a rule: the offload is on, the direction
    /// has none, the log has room, and the flow is established: TCP past its handshake (the
    /// client's last ACK, the backend's next packet), UDP and echo flows from the first packet
    /// of each direction (nothing in them says more later). A direction whose forwarding fit
    /// no rule (a tunnel packet without Don't Fragment, say) is tried again on every 64th
    /// packet of the flow only, so that it does not pay the copy and the check on every one.
    #[inline(always)]
    fn offload_wanted(&self, e: &Entry, dir: Dir, p: &Parsed, len: usize) -> bool {
        self.offload.is_some()
            && !e.offloaded(dir)
            && (!e.unfit(dir) || e.packets % UNFIT_RETRY == 0)
            && self.ct.offload.has_room()
            && len <= OFFLOAD_FRAME_MAX
            && match p.tcp_flags {
                Some(_) => e.state() == State::Established,
                None => true,
            }
    }

    /// Whether a packet through the site end of a tunnel, which tracks nothing, should teach
    /// the program its rule: the offload is on and the packet is no TCP SYN, FIN or RST (which
    /// the program leaves to the workers anyway), nor, going `into` the tunnel, one without
    /// Don't Fragment (which no rule forwards). Nothing remembers a try that failed here, so
    /// what can never fit is not tried. Keeps the frame as it was if so.
    #[inline(always)]
    fn stateless_wanted(&mut self, p: &Parsed, len: usize, frame: &[u8], into: bool) -> bool {
        let flags = crate::wire::tcp::flags::SYN | crate::wire::tcp::flags::FIN;
        let wanted = len <= OFFLOAD_FRAME_MAX
            && self.ct.offload.has_room()
            && !p.icmp_error
            && p.tcp_flags
                .is_none_or(|f| f & (flags | crate::wire::tcp::flags::RST) == 0)
            && (!into || Ipv4Packet::new_unchecked(&frame[p.l3..p.l3 + p.total]).dont_frag());
        match &mut self.offload {
            Some(b) if wanted => {
                b.before[..len].copy_from_slice(&frame[..len]);
                true
            }
            _ => false,
        }
    }

    /// Offers the rule of a site-end packet just forwarded. Nothing tracks such flows, so the
    /// offer names no conntrack slot ([`conntrack::STATELESS`]): the shell keeps the rule
    /// while the program's last-seen time says the flow is alive, and withdraws it with
    /// everything else when a new snapshot comes.
    fn learn_stateless(&mut self, iface: u16, before_len: usize, after: &[u8], max_len: u16) {
        let Some(b) = &mut self.offload else { return };
        let Some((key, action)) =
            offload::derive(&b.before[..before_len], after, max_len, &mut b.check)
        else {
            self.counters.add(Counter::OffloadUnfit, 1);
            return;
        };
        let offer = conntrack::Offer {
            flow: conntrack::STATELESS,
            dir: Dir::Original,
            key: key.emit(),
            action: action.emit(),
            egress: iface,
        };
        if self.ct.offer(offer) {
            self.counters.add(Counter::OffloadOffered, 1);
        }
    }

    /// Learns the rule that did what the pipeline just did to this packet and offers it.
    fn learn_offload(
        &mut self,
        snap: &Snapshot,
        i: u32,
        dir: Dir,
        iface: u16,
        before_len: usize,
        after: &[u8],
    ) {
        let e = *self.ct.get(i);
        // What the pipeline checks per packet against a size, the rule checks too.
        let max_len = if e.kind() == Kind::Tunnel {
            snap.mtu(iface).saturating_sub(tunnel::IPIP_OVERHEAD as u16)
        } else if dir == Dir::Reply && e.zone != 0 {
            snap.gw.tunnel(e.zone).map_or(0, |t| t.mtu)
        } else {
            u16::MAX
        };
        let Some(b) = &mut self.offload else { return };
        let Some((key, action)) =
            offload::derive(&b.before[..before_len], after, max_len, &mut b.check)
        else {
            self.counters.add(Counter::OffloadUnfit, 1);
            self.ct.mark_unfit(i, dir);
            return;
        };
        let offer = conntrack::Offer {
            flow: i,
            dir,
            key: key.emit(),
            action: action.emit(),
            egress: iface,
        };
        if self.ct.offer(offer) {
            self.counters.add(Counter::OffloadOffered, 1);
        }
    }

    /// A packet without a flow: opens one if it may, hands it to the owner, says whose it is,
    /// or sends it into a site tunnel.
    fn classify_new(&mut self, snap: &Snapshot, now: u32, p: &Parsed) -> Result<New> {
        let key = p.key;
        if key.zone != 0 {
            // From a site: only the SNAT gateway takes tunnel traffic.
            let pool = snap
                .gw
                .tunnel(key.zone)
                .and_then(|t| t.pool)
                .ok_or(Verdict::Drop(DropReason::NoPool))?;
            self.check_inside_owner(snap, key.zone, key.src, key.src_port)?;
            if p.ttl <= 1 {
                let t = snap.gw.tunnel(key.zone).ok_or(ttl_expired())?;
                return Ok(New::TtlExpired {
                    from: t.local,
                    back: Some(key.zone),
                });
            }
            return self.new_snat_flow(snap, now, pool, p).map(New::Flow);
        }
        if let Some(si) = snap.service_for(key.dst, key.dst_port, key.proto) {
            self.check_owner(snap, key.src, key.src_port)?;
            if p.ttl <= 1 {
                return Ok(New::TtlExpired {
                    from: key.dst,
                    back: None,
                });
            }
            return self
                .new_flow(snap, now, si, &key, p.tcp_flags)
                .map(New::Flow);
        }
        if snap.gw.pool_of_addr(key.dst).is_some() {
            // An echo request to a pool address is for the host, not a reply.
            if key.proto == proto::ICMP && key.dst_port == 0 {
                return Err(Verdict::Pass);
            }
            self.check_port_owner(snap, key.dst_port)?;
            if let Some(i) = self.nat64_lookup(&key) {
                return Ok(New::Nat64Reply(i));
            }
            return Err(Verdict::Drop(DropReason::NoMapping));
        }
        if snap.is_backend(key.src, key.src_port, key.proto) {
            // A reply of a flow another worker owns; or a backend's own traffic (health checks
            // answered, say), which is the kernel's.
            self.check_owner(snap, key.dst, key.dst_port)?;
            return Err(Verdict::Pass);
        }
        // After services, pools and backends: a site's backends answer their clients directly.
        if let Some(t) = snap.gw.site_egress(key.src, key.dst) {
            return Ok(New::SiteEgress(t.zone));
        }
        // From an inside prefix to the outside (inside-to-inside traffic is the kernel's to route).
        let inside = |a| snap.gw.pool_for_source(a);
        if let (Some(pool), None, true) = (
            inside(key.src),
            inside(key.dst),
            super::gateway::forwardable(key.dst),
        ) {
            self.check_inside_owner(snap, 0, key.src, key.src_port)?;
            if p.ttl <= 1 {
                // The address the host's flows leave from (paired pooling, as `new_snat_flow`).
                let addrs = &snap.gw.pools[usize::from(pool)].addrs;
                let preferred = mix2(key.src.hash_word(), 0, snap.hash_seed);
                let from = match addrs.len() {
                    0 => return Err(ttl_expired()),
                    n => Ipv4Addr::from(addrs[(preferred % n as u64) as usize]),
                };
                return Ok(New::TtlExpired { from, back: None });
            }
            return self.new_snat_flow(snap, now, pool, p).map(New::Flow);
        }
        Err(Verdict::Pass)
    }

    #[inline(always)]
    fn check_owner(&self, snap: &Snapshot, client: Ipv4Addr, client_port: u16) -> Result<()> {
        let h = client_hash(client, client_port, snap.hash_seed);
        self.owned_by(snap, (h % u64::from(snap.workers.max(1))) as u16)
    }

    #[inline(always)]
    fn check_inside_owner(
        &self,
        snap: &Snapshot,
        zone: u16,
        addr: Ipv4Addr,
        port: u16,
    ) -> Result<()> {
        let h = inside_hash(zone, addr, port, snap.hash_seed);
        self.owned_by(snap, (h % u64::from(snap.workers.max(1))) as u16)
    }

    #[inline(always)]
    fn check_port_owner(&self, snap: &Snapshot, port: u16) -> Result<()> {
        self.owned_by(snap, super::snat::ports::owner_of_port(port, snap.workers))
    }

    #[inline(always)]
    fn owned_by(&self, snap: &Snapshot, owner: u16) -> Result<()> {
        if snap.workers > 1 && owner != self.cfg.worker {
            return Err(Verdict::Handoff { worker: owner });
        }
        Ok(())
    }

    fn new_flow(
        &mut self,
        snap: &Snapshot,
        now: u32,
        si: u16,
        key: &FlowKey,
        tcp_flags: Option<u8>,
    ) -> Result<u32> {
        let svc = &snap.services[usize::from(si)];
        let state = match (svc.direct, tcp_flags) {
            (Some(_), Some(f)) => conntrack::state::tcp_initial_one_way(f),
            _ => initial_state(key.proto, tcp_flags)?,
        };
        let choice = self
            .sched
            .select(snap, si, key.src, key.src_port, now)
            .ok_or(Verdict::Drop(DropReason::NoBackend))?;
        let b = svc.backends[usize::from(choice.index())];
        if let Some(d) = svc.direct {
            return self.new_direct_flow(snap, now, si, key, state, b, d, choice);
        }
        // FullNAT: the source becomes a pool address and a port from this worker's share, so the
        // backend's reply comes back to this worker (the port says so) without a route to the
        // client.
        let (local, local_port, kind) = match svc.pool {
            None => (key.src, key.src_port, Kind::Nat),
            Some(pool) => {
                let preferred = client_hash(key.src, key.src_port, snap.hash_seed);
                let (a, port) = match self.snat.allocate(pool, key.proto, preferred) {
                    Some(x) => x,
                    None => {
                        self.reclaim(now);
                        self.snat
                            .allocate(pool, key.proto, preferred)
                            .ok_or(Verdict::Drop(DropReason::PortsExhausted))?
                    }
                };
                (a, port, Kind::FullNat)
            }
        };
        let flow = NewFlow {
            original: *key,
            backend: b.addr,
            backend_port: if key.proto == proto::ICMP { 0 } else { b.port },
            local,
            local_port,
            service: si,
            backend_id: b.id,
            state,
            kind,
            profile: 0,
        };
        let (ct, sched, snat) = (&mut self.ct, &mut self.sched, &mut self.snat);
        let inserted = ct.insert(now, &flow, &mut |e: &Entry| release(sched, snat, e));
        let i = match inserted {
            Ok(i) => i,
            Err(e) => {
                if kind == Kind::FullNat {
                    self.snat.release_port(key.proto, local, local_port);
                }
                return Err(insert_error(e));
            }
        };
        self.flow_opened(b.id, choice);
        Ok(i)
    }

    /// Whether a client's packet of service flow `i` starts a flow of its own, scheduled
    /// afresh (as IPVS's `expire_nodest_conn` and `conn_reuse_mode`):
    /// - a UDP or ICMP flow whose backend is down or gone: a connectionless flow loses nothing
    ///   by moving;
    /// - a TCP SYN (without ACK) on a flow that closed (TIME_WAIT, RST) or whose backend is down
    ///   or gone: a new connection that reuses the client's port, which would otherwise go to
    ///   the old flow's backend.
    ///
    /// An established TCP flow stays with its backend even when it is down: moving it would
    /// reset it anyway.
    #[inline(always)]
    fn schedule_afresh(
        &self,
        snap: &Snapshot,
        i: u32,
        protocol: u8,
        tcp_flags: Option<u8>,
    ) -> bool {
        use super::wire::tcp::flags::{ACK, SYN};
        let e = self.ct.get(i);
        if e.kind() == Kind::Snat {
            return false;
        }
        match tcp_flags {
            None => protocol != proto::TCP && !snap.backend_up(e.backend_id),
            Some(f) if f & (SYN | ACK) == SYN => {
                matches!(e.state(), State::TimeWait | State::Close)
                    || !snap.backend_up(e.backend_id)
            }
            Some(_) => false,
        }
    }

    /// Ends flow `i` now, giving back what it held.
    fn end_flow(&mut self, i: u32) {
        let (ct, sched, snat) = (&mut self.ct, &mut self.sched, &mut self.snat);
        ct.remove(i, &mut |e: &Entry| release(sched, snat, e));
        self.counters.add(Counter::Rescheduled, 1);
    }

    fn flow_opened(&mut self, backend_id: u16, choice: Choice) {
        self.sched.flow_started(backend_id);
        self.counters.add(Counter::NewFlows, 1);
        if matches!(choice, Choice::Persisted(_)) {
            self.counters.add(Counter::Persisted, 1);
        }
    }

    /// Frees expired flows (and so their ports) before giving up on an allocation.
    fn reclaim(&mut self, now: u32) {
        let (ct, sched, snat) = (&mut self.ct, &mut self.sched, &mut self.snat);
        ct.expire(now, 64, &mut |e: &Entry| release(sched, snat, e));
    }
}

/// A frame the steering rules give us but nothing here wants (a reply without a flow, traffic
/// to a pool address that no mapping expects): the kernel will not see it either, so it is a
/// counted drop, never `Pass`.
fn owned(v: Verdict) -> Verdict {
    match v {
        Verdict::Pass => Verdict::Drop(DropReason::NoFlow),
        v => v,
    }
}

fn insert_error(e: InsertError) -> Verdict {
    Verdict::Drop(match e {
        InsertError::Full => DropReason::ConntrackFull,
        InsertError::Conflict => DropReason::Conflict,
    })
}

/// The first state of a new flow, or a drop when the packet cannot open one.
fn initial_state(protocol: u8, tcp_flags: Option<u8>) -> Result<State> {
    Ok(match tcp_flags {
        Some(f) => conntrack::state::tcp_initial(f).ok_or(Verdict::Drop(DropReason::NoFlow))?,
        None if protocol == proto::UDP => State::Udp,
        None => State::Icmp,
    })
}

/// A packet whose TTL runs out here and gets no answer (an ICMP error, or over the rate
/// limit). The steering program sent it to us, so the kernel will never see it: a counted drop
/// (counted against the tunnel for an inner packet).
fn ttl_expired() -> Verdict {
    Verdict::Drop(DropReason::TtlExceeded)
}

/// Sets the frame's MAC addresses for the hop towards `dst`; returns the interface. A next hop
/// without a MAC is recorded in `unresolved`, so the shell can have the kernel resolve it now
/// rather than when something else happens to talk to it.
#[inline(always)]
fn next_hop(
    snap: &Snapshot,
    unresolved: &mut Unresolved,
    frame: &mut [u8],
    dst: Ipv4Addr,
) -> Result<u16> {
    let (iface, nh) = snap
        .next_hops
        .route(dst)
        .ok_or(Verdict::Drop(DropReason::NoRoute))?;
    let ifc = snap
        .interfaces
        .get(usize::from(iface))
        .ok_or(Verdict::Drop(DropReason::NoRoute))?;
    let Some(mac) = snap.next_hops.neighbour(nh) else {
        unresolved.note(nh);
        return Err(Verdict::Drop(DropReason::NoNeighbour));
    };
    let mut eth = EthernetFrame::new_unchecked(frame);
    eth.set_dst(mac);
    eth.set_src(ifc.mac);
    Ok(iface)
}

#[cfg(test)]
mod tests;

#[cfg(test)]
mod gateway_tests;

#[cfg(test)]
mod adopt_tests;

#[cfg(test)]
mod site_tests;

#[cfg(test)]
mod robustness_tests;

#[cfg(test)]
mod direct_tests;

#[cfg(test)]
mod gateway64_tests;
#[cfg(test)]
mod routed6_tests;
#[cfg(test)]
mod tunnel6_tests;
#[cfg(test)]
mod v6_tests;

#[cfg(test)]
mod nat64_tests;
