//! The NAT-mode pipeline of one worker: for each frame of a batch, parse → classify (service
//! VIP:port/proto, or a reply from a backend) → ownership → conntrack lookup or create →
//! backend selection → DNAT (or reverse SNAT of replies) with incremental checksums → next-hop
//! MAC → verdict. ICMP errors quoting a tracked flow are translated too.
//!
//! Nothing here allocates, locks or performs IO. Time is an argument (milliseconds on a wrapping
//! 32-bit clock), so tests drive it on a virtual clock.

use super::conntrack::{self, Conntrack, Dir, InsertError, NewFlow, State, Timeouts};
use super::counters::{Counter, Counters, DropReason};
use super::flow::{client_hash, FlowKey};
use super::nat::{self, Side};
use super::sched::{Choice, SchedState};
use super::snapshot::Snapshot;
use super::wire::{
    be16, be32, ethernet, icmp, proto, IcmpPacket, Ipv4Packet, TcpSegment, UdpDatagram,
};

/// What to do with a frame after the pipeline.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Verdict {
    /// Rewritten in place; transmit on this interface (index into the snapshot's interfaces).
    Tx {
        iface: u16,
    },
    /// Not the fast path's: the kernel's (ARP, other protocols, unknown replies, TTL expiry).
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
        }
    }
}

pub struct Pipeline {
    cfg: PipelineConfig,
    ct: Conntrack,
    sched: SchedState,
    counters: Counters,
}

type Result<T> = std::result::Result<T, Verdict>;

/// Frames parsed and prefetched ahead of processing, per group of a batch.
const GROUP: usize = 16;

/// The outcome of parsing: the flow, an ICMP error (`None`) or an early verdict.
type Early = std::result::Result<Option<Parsed>, Verdict>;

/// The flow a packet belongs to, from its headers.
#[derive(Debug, Clone, Copy)]
struct Parsed {
    key: FlowKey,
    /// `key`'s hash in this worker's conntrack.
    hash: u64,
    tcp_flags: Option<u8>,
    total: usize,
    ttl: u8,
}

impl Pipeline {
    pub fn new(cfg: PipelineConfig) -> Pipeline {
        let ct = Conntrack::new(cfg.conntrack_capacity, cfg.timeouts, cfg.local_seed);
        let mut counters = Counters::default();
        counters.set(Counter::ConntrackCapacity, u64::from(ct.capacity()));
        Pipeline {
            sched: SchedState::new(cfg.persist_slots, cfg.local_seed ^ 0x7065_7273),
            cfg,
            ct,
            counters,
        }
    }

    pub fn counters(&self) -> &Counters {
        &self.counters
    }

    pub fn conntrack(&self) -> &Conntrack {
        &self.ct
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
        self.sched.sync(snap);
        let mut frames = frames.into_iter();
        let mut verdicts = verdicts.iter_mut();
        loop {
            let mut group: [Option<&'a mut [u8]>; GROUP] = Default::default();
            let mut early: [Early; GROUP] = [Err(Verdict::Pass); GROUP];
            let mut n = 0;
            for (slot, e) in group.iter_mut().zip(early.iter_mut()) {
                let Some(f) = frames.next() else { break };
                *e = self.stage1(f);
                *slot = Some(f);
                n += 1;
            }
            for p in early[..n].iter().flatten().flatten() {
                self.ct.prefetch_entry(p.hash);
            }
            for (f, e) in group.iter_mut().zip(early).take(n) {
                let (Some(f), Some(v)) = (f.as_deref_mut(), verdicts.next()) else {
                    break;
                };
                *v = self.stage2(snap, now, f, e);
            }
            if n < GROUP {
                break;
            }
        }
        self.housekeeping(now);
    }

    /// Expires flows within the per-batch budget and refreshes the conntrack gauges.
    pub fn housekeeping(&mut self, now: u32) {
        let (ct, sched) = (&mut self.ct, &mut self.sched);
        ct.expire(now, self.cfg.expire_budget, &mut |e: &conntrack::Entry| {
            sched.flow_ended(e.backend_id)
        });
        let c = &mut self.counters;
        c.set(Counter::ConntrackUsed, u64::from(ct.used()));
        c.set(Counter::ConntrackExpired, ct.stats.expired);
        c.set(Counter::ConntrackEvicted, ct.stats.evicted);
    }

    /// One frame. `snap` must be the batch's snapshot (see [`Pipeline::process_batch`]).
    #[inline]
    pub fn process(&mut self, snap: &Snapshot, now: u32, frame: &mut [u8]) -> Verdict {
        let e = self.stage1(frame);
        self.stage2(snap, now, frame, e)
    }

    /// Parses and starts fetching the flow's conntrack slot.
    #[inline(always)]
    fn stage1(&self, frame: &[u8]) -> Early {
        if frame.len() < ethernet::HEADER_LEN || be16(frame, 12) != 0x0800 {
            return Err(Verdict::Pass);
        }
        let mut p = parse(&frame[ethernet::HEADER_LEN..])?;
        if let Some(p) = p.as_mut() {
            p.hash = self.ct.prefetch(&p.key);
        }
        Ok(p)
    }

    #[inline(always)]
    fn stage2(&mut self, snap: &Snapshot, now: u32, frame: &mut [u8], early: Early) -> Verdict {
        self.counters.add(Counter::RxPackets, 1);
        self.counters.add(Counter::RxBytes, frame.len() as u64);
        let v = match early {
            Err(v) => v,
            Ok(None) => match self.icmp_error(snap, frame) {
                Ok(v) | Err(v) => v,
            },
            Ok(Some(p)) => match self.translate(snap, now, frame, &p) {
                Ok(v) | Err(v) => v,
            },
        };
        match v {
            Verdict::Tx { .. } => {
                self.counters.add(Counter::TxPackets, 1);
                self.counters.add(Counter::TxBytes, frame.len() as u64);
            }
            Verdict::Pass => self.counters.add(Counter::Passed, 1),
            Verdict::Drop(r) => self.counters.drop(r),
            Verdict::Handoff { .. } => self.counters.add(Counter::Handoffs, 1),
        }
        v
    }

    fn translate(
        &mut self,
        snap: &Snapshot,
        now: u32,
        frame: &mut [u8],
        p: &Parsed,
    ) -> Result<Verdict> {
        let key = p.key;
        // Known flows first: an entry exists only in its owner's table, so a hit needs neither
        // classification nor an ownership check, and established packets skip both lookups.
        let (i, dir) = match self.ct.lookup_hashed(&key, p.hash) {
            Some((i, dir)) => {
                if p.ttl <= 1 {
                    // The kernel sends the time-exceeded error.
                    return Err(Verdict::Pass);
                }
                self.ct.touch(i, dir, now, p.tcp_flags);
                (i, dir)
            }
            None => {
                // A new flow to a service, or a reply from a backend that belongs to a flow
                // another worker owns; anything else is not ours.
                let si = snap.service_for(key.dst, key.dst_port, key.proto);
                let (client, client_port) = match si {
                    Some(_) => (key.src, key.src_port),
                    None if snap.is_backend(key.src, key.src_port, key.proto) => {
                        (key.dst, key.dst_port)
                    }
                    None => return Err(Verdict::Pass),
                };
                self.check_owner(snap, client, client_port)?;
                // Ours, but a backend's own traffic (not a reply to a client flow) is the kernel's.
                let si = si.ok_or(Verdict::Pass)?;
                if p.ttl <= 1 {
                    return Err(Verdict::Pass);
                }
                (
                    self.new_flow(snap, now, si, &key, p.tcp_flags)?,
                    Dir::Original,
                )
            }
        };
        let e = self.ct.get(i);
        let (side, addr, port, towards) = match dir {
            Dir::Original => (Side::Dst, e.backend, e.backend_port, e.backend),
            Dir::Reply => (Side::Src, e.vip, e.vip_port, e.client),
        };
        let iface = next_hop(snap, frame, towards)?;
        let ip = &mut frame[ethernet::HEADER_LEN..ethernet::HEADER_LEN + p.total];
        nat::rewrite(ip, side, addr, port);
        nat::decrement_ttl(ip);
        Ok(Verdict::Tx { iface })
    }

    #[inline(always)]
    fn check_owner(&self, snap: &Snapshot, client: u32, client_port: u16) -> Result<()> {
        if snap.workers > 1 {
            let owner =
                (client_hash(client, client_port, snap.hash_seed) % u64::from(snap.workers)) as u16;
            if owner != self.cfg.worker {
                return Err(Verdict::Handoff { worker: owner });
            }
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
        let state = match tcp_flags {
            Some(f) => conntrack::state::tcp_initial(f).ok_or(Verdict::Drop(DropReason::NoFlow))?,
            None if key.proto == proto::UDP => State::Udp,
            None => State::Icmp,
        };
        let choice = self
            .sched
            .select(snap, si, key.src, key.src_port, now)
            .ok_or(Verdict::Drop(DropReason::NoBackend))?;
        let b = snap.services[usize::from(si)].backends[usize::from(choice.index())];
        let flow = NewFlow {
            original: *key,
            backend: b.addr,
            backend_port: if key.proto == proto::ICMP { 0 } else { b.port },
            service: si,
            backend_id: b.id,
            state,
        };
        let (ct, sched) = (&mut self.ct, &mut self.sched);
        let i = ct
            .insert(now, &flow, &mut |e: &conntrack::Entry| {
                sched.flow_ended(e.backend_id)
            })
            .map_err(|e| {
                Verdict::Drop(match e {
                    InsertError::Full => DropReason::ConntrackFull,
                    InsertError::Conflict => DropReason::Conflict,
                })
            })?;
        self.sched.flow_started(b.id);
        self.counters.add(Counter::NewFlows, 1);
        if matches!(choice, Choice::Persisted(_)) {
            self.counters.add(Counter::Persisted, 1);
        }
        Ok(i)
    }

    /// An ICMP error whose quoted packet is one we translated: the quote is what we sent, so its
    /// reversed key is the key of the flow's other direction.
    fn icmp_error(&mut self, snap: &Snapshot, frame: &mut [u8]) -> Result<Verdict> {
        let ipb = &frame[ethernet::HEADER_LEN..];
        let ip = Ipv4Packet::new_checked(ipb).map_err(|_| Verdict::Drop(DropReason::Malformed))?;
        let (total, ttl) = (usize::from(ip.total_len()), ip.ttl());
        let (outer_src, outer_dst) = (be32(ipb, 12), be32(ipb, 16));
        let msg = IcmpPacket::new_checked(ip.payload())
            .map_err(|_| Verdict::Drop(DropReason::Malformed))?;
        let quoted = quoted_key(msg.quoted())?;
        let (client, client_port) = if snap
            .service_for(quoted.src, quoted.src_port, quoted.proto)
            .is_some()
        {
            // About our reply VIP → client: it travels on towards the backend.
            (quoted.dst, quoted.dst_port)
        } else if snap.is_backend(quoted.dst, quoted.dst_port, quoted.proto) {
            // About our packet client → backend: it travels back to the client.
            (quoted.src, quoted.src_port)
        } else {
            return Err(Verdict::Pass);
        };
        self.check_owner(snap, client, client_port)?;
        if ttl <= 1 {
            return Err(Verdict::Pass);
        }
        let (i, dir) = self.ct.lookup(&quoted.reversed()).ok_or(Verdict::Pass)?;
        let e = *self.ct.get(i);
        let towards = match dir {
            Dir::Original => e.backend,
            Dir::Reply => e.client,
        };
        let iface = next_hop(snap, frame, towards)?;
        let ip = &mut frame[ethernet::HEADER_LEN..ethernet::HEADER_LEN + total];
        match dir {
            Dir::Original => nat::translate_icmp_error(
                ip,
                (outer_dst == e.vip).then_some((Side::Dst, e.backend)),
                Side::Src,
                e.backend,
                e.backend_port,
            ),
            Dir::Reply => nat::translate_icmp_error(
                ip,
                (outer_src == e.backend).then_some((Side::Src, e.vip)),
                Side::Dst,
                e.vip,
                e.vip_port,
            ),
        }
        nat::decrement_ttl(ip);
        self.counters.add(Counter::IcmpTranslated, 1);
        Ok(Verdict::Tx { iface })
    }
}

/// Parses an IPv4 packet into its flow; `Ok(None)` for an ICMP error (handled separately).
#[inline(always)]
fn parse(ipb: &[u8]) -> Result<Option<Parsed>> {
    let malformed = Verdict::Drop(DropReason::Malformed);
    let ip = Ipv4Packet::new_checked(ipb).map_err(|_| malformed)?;
    if ip.is_fragment() {
        return Err(Verdict::Drop(DropReason::Fragment));
    }
    let l4 = ip.payload();
    let protocol = ip.protocol();
    let (src_port, dst_port, tcp_flags) = match protocol {
        proto::TCP => {
            let t = TcpSegment::new_checked(l4).map_err(|_| malformed)?;
            (t.src_port(), t.dst_port(), Some(t.flags()))
        }
        proto::UDP => {
            let u = UdpDatagram::new_checked(l4).map_err(|_| malformed)?;
            (u.src_port(), u.dst_port(), None)
        }
        proto::ICMP => {
            let m = IcmpPacket::new_checked(l4).map_err(|_| malformed)?;
            match m.msg_type() {
                icmp::kind::ECHO_REQUEST => (m.echo_ident(), 0, None),
                icmp::kind::ECHO_REPLY => (0, m.echo_ident(), None),
                _ if m.is_error() => return Ok(None),
                _ => return Err(Verdict::Pass),
            }
        }
        _ => return Err(Verdict::Pass),
    };
    Ok(Some(Parsed {
        hash: 0,
        key: FlowKey {
            src: be32(ipb, 12),
            dst: be32(ipb, 16),
            src_port,
            dst_port,
            proto: protocol,
        },
        tcp_flags,
        total: usize::from(ip.total_len()),
        ttl: ip.ttl(),
    }))
}

/// The flow key of the datagram quoted by an ICMP error (header plus at least 8 bytes).
fn quoted_key(q: &[u8]) -> Result<FlowKey> {
    let malformed = Verdict::Drop(DropReason::Malformed);
    let ip = Ipv4Packet::new_quoted(q).map_err(|_| malformed)?;
    let l4 = &q[ip.header_len()..];
    if l4.len() < 8 {
        return Err(malformed);
    }
    let (src_port, dst_port) = match ip.protocol() {
        proto::TCP | proto::UDP => (be16(l4, 0), be16(l4, 2)),
        proto::ICMP => match l4[0] {
            icmp::kind::ECHO_REQUEST => (be16(l4, 4), 0),
            icmp::kind::ECHO_REPLY => (0, be16(l4, 4)),
            _ => return Err(Verdict::Pass),
        },
        _ => return Err(Verdict::Pass),
    };
    Ok(FlowKey {
        src: be32(q, 12),
        dst: be32(q, 16),
        src_port,
        dst_port,
        proto: ip.protocol(),
    })
}

/// Sets the frame's MAC addresses for the hop towards `dst`; returns the interface.
#[inline(always)]
fn next_hop(snap: &Snapshot, frame: &mut [u8], dst: u32) -> Result<u16> {
    let (iface, nh) = snap
        .next_hops
        .route(dst)
        .ok_or(Verdict::Drop(DropReason::NoRoute))?;
    let ifc = snap
        .interfaces
        .get(usize::from(iface))
        .ok_or(Verdict::Drop(DropReason::NoRoute))?;
    let mac = snap
        .next_hops
        .neighbour(nh)
        .ok_or(Verdict::Drop(DropReason::NoNeighbour))?;
    frame[0..6].copy_from_slice(&mac.0);
    frame[6..12].copy_from_slice(&ifc.mac.0);
    Ok(iface)
}

#[cfg(test)]
mod tests;
