//! Per-core connection tracking: a slab of [`Entry`]s allocated once at start, an
//! open-addressing [`Index`] holding two keys per flow (client→VIP and backend→client, both
//! pointing at the same entry), and one LRU list per timeout [`Class`].
//!
//! # When the table is full
//!
//! A new flow needs a free entry. If there is none, in this order:
//! 1. expired entries at the heads of the lists are reclaimed (counted in `expired`);
//! 2. otherwise the oldest embryonic flow (TCP, handshake not finished) is evicted (counted in
//!    `evicted`): a half-open connection is the cheapest to lose, and this keeps a SYN flood
//!    from locking established flows out;
//! 3. otherwise the new flow is refused (counted in `full_drops`) and its packet is dropped:
//!    established flows are never evicted for new ones.

pub mod changes;
pub mod entry;
pub mod index;
pub mod lru;
pub mod offloaded;
pub mod state;
pub mod v6;

use std::net::Ipv4Addr;

pub use changes::{Change, ChangeKind, ChangeLog};
pub use entry::{Entry, Kind, NIL};
pub use index::Index;
pub use offloaded::{Offer, OffloadEvent, OffloadLog, STATELESS};
pub use state::{Class, Dir, State, Timeouts, CLASSES};
pub use v6::{ConntrackV6, EntryV6, NewFlowV6};

use crate::flow::FlowKey;
use crate::tables::{self, AllocError};
use lru::List;

/// When an offloaded flow last carried a packet through the XDP program, as its caller knows.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum LastSeen {
    /// At this time of the table's clock.
    At(u32),
    /// The program has no rule of it (any more): the table's own time counts.
    NotOffloaded,
    /// The caller cannot ask now; the flow is left for one that can.
    Unknown,
}

/// A new flow to record: its original-direction key (zone included), where it was sent and the
/// source it was given (`local`: the client itself in NAT mode).
#[derive(Debug, Clone, Copy)]
pub struct NewFlow {
    pub original: FlowKey,
    pub backend: Ipv4Addr,
    pub backend_port: u16,
    pub local: Ipv4Addr,
    pub local_port: u16,
    pub service: u16,
    pub backend_id: u16,
    pub state: State,
    pub kind: Kind,
    /// Timeout profile, below [`PROFILES`].
    pub profile: u8,
}

impl NewFlow {
    /// A NAT-mode flow: only the destination changes, the client stays the source.
    pub fn nat(
        original: FlowKey,
        backend: Ipv4Addr,
        backend_port: u16,
        service: u16,
        backend_id: u16,
        state: State,
    ) -> NewFlow {
        NewFlow {
            original,
            backend,
            backend_port,
            local: original.src,
            local_port: original.src_port,
            service,
            backend_id,
            state,
            kind: Kind::Nat,
            profile: 0,
        }
    }
}

/// Timeout profiles: the load balancer's (0) and one per SNAT pool.
pub const PROFILES: usize = 1 + crate::gateway::MAX_POOLS;

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum InsertError {
    /// No free entry and nothing evictable (see the module documentation).
    Full,
    /// Another flow already uses the same backend→client key, so replies would be ambiguous.
    Conflict,
}

/// Monotonic event counts, read by the worker into its counters.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub struct Stats {
    pub inserted: u64,
    pub expired: u64,
    pub evicted: u64,
    pub full_drops: u64,
    pub conflicts: u64,
}

pub struct Conntrack {
    entries: Box<[Entry]>,
    index: Index,
    /// One list per (profile, class): entries of a list share one timeout, which keeps each list
    /// ordered by expiry.
    lists: [List; CLASSES * PROFILES],
    free: u32,
    used: u32,
    seed: u64,
    timeouts: [Timeouts; PROFILES],
    pub stats: Stats,
    /// What changed, for session sync (off unless [`Conntrack::log_changes`] sized it).
    pub log: ChangeLog,
    /// Rules for the XDP program to install and withdraw (off unless
    /// [`Conntrack::log_offload`] sized it).
    pub offload: OffloadLog,
}

/// What a peer's copy of a flow lives beyond the lifetime the peer reported: room for the
/// records' transit and for the half-timeout scan that sends the next refresh, so a copy of a
/// live flow is renewed before it ends. At most a quarter of the timeout.
pub fn adopted_slack(timeout: u32) -> u32 {
    (timeout / 4).min(2_000)
}

/// How old a peer's copy counts as, with `remaining_ms` left at the peer: its lifetime is
/// that plus the slack, within the timeout.
fn adopted_age(timeout: u32, remaining_ms: u32) -> u32 {
    timeout
        - remaining_ms
            .saturating_add(adopted_slack(timeout))
            .min(timeout)
}

/// Milliseconds from `then` to `now` on the wrapping 32-bit clock.
#[inline(always)]
fn age(now: u32, then: u32) -> u32 {
    now.wrapping_sub(then)
}

impl Conntrack {
    /// Allocates everything now; nothing is allocated afterwards. Panics when the memory
    /// cannot be had: the daemon uses [`Conntrack::try_new`].
    pub fn new(capacity: u32, timeouts: Timeouts, seed: u64) -> Conntrack {
        Conntrack::try_new(capacity, timeouts, seed).expect("conntrack")
    }

    /// The memory a table of `capacity` flows takes: its entries and its index.
    pub fn bytes_for(capacity: u32) -> u64 {
        tables::bytes_of::<Entry>(capacity as usize) + Index::bytes_for(capacity as usize * 2)
    }

    /// [`Conntrack::new`], or an error when the memory cannot be had.
    pub fn try_new(capacity: u32, timeouts: Timeouts, seed: u64) -> Result<Conntrack, AllocError> {
        assert!(capacity > 0 && capacity < (1 << 30), "capacity {capacity}");
        let mut entries = tables::boxed("conntrack entries", capacity as usize, Entry::EMPTY)?;
        // Free list threaded through `next`, in index order so fresh tables fill from the start.
        for (i, e) in entries.iter_mut().enumerate() {
            e.next = if i + 1 == capacity as usize {
                NIL
            } else {
                i as u32 + 1
            };
        }
        Ok(Conntrack {
            entries,
            index: Index::try_with_keys(capacity as usize * 2)?,
            lists: [List::EMPTY; CLASSES * PROFILES],
            free: 0,
            used: 0,
            seed,
            timeouts: [timeouts; PROFILES],
            stats: Stats::default(),
            log: ChangeLog::default(),
            offload: OffloadLog::default(),
        })
    }

    pub fn capacity(&self) -> u32 {
        self.entries.len() as u32
    }

    /// Starts logging changes for session sync, up to `capacity` between two drains (0 stops).
    /// Allocates now, off the packet path.
    pub fn log_changes(&mut self, capacity: usize) {
        let lost = self.log.lost;
        self.log = ChangeLog::with_capacity(capacity);
        self.log.lost = lost;
    }

    /// Starts the offload log, up to `capacity` events between two drains (0 stops, and
    /// forgets every flow's offload). Allocates now, off the packet path.
    pub fn log_offload(&mut self, capacity: usize) {
        let refused = self.offload.refused;
        self.offload = OffloadLog::with_capacity(capacity);
        self.offload.refused = refused;
        if capacity == 0 {
            self.forget_offloads();
        }
    }

    /// Records that direction `dir` of flow `i` has a rule, logging the install; `false` (and
    /// nothing recorded) when the log has no room.
    pub fn offer(&mut self, offer: Offer) -> bool {
        if !self.offload.install(offer) {
            return false;
        }
        if offer.flow != STATELESS {
            self.entries[offer.flow as usize].set_offloaded(offer.dir);
        }
        true
    }

    /// Records that direction `dir` of flow `i` was established but its forwarding fit no rule;
    /// it is tried again only now and then (see `Pipeline::offload_wanted`).
    pub fn mark_unfit(&mut self, i: u32, dir: Dir) {
        self.entries[i as usize].set_unfit(dir);
    }

    /// Forgets every flow's offload: after a flush the shell removed every rule.
    pub fn forget_offloads(&mut self) {
        for e in self.entries.iter_mut() {
            e.clear_offloaded();
        }
    }

    /// Withdraws flow `i`'s rules, if it has any.
    #[inline(always)]
    fn withdraw_offload(&mut self, i: u32) {
        let e = &mut self.entries[i as usize];
        if e.any_offloaded() {
            e.clear_offloaded();
            self.offload.withdraw(i);
        }
    }

    /// The timeout of flow `e` now (its profile's, for its class).
    #[inline(always)]
    pub fn timeout_of(&self, e: &Entry) -> u32 {
        let c = e.class().unwrap_or(state::Class::TcpSyn);
        self.timeouts[usize::from(e.profile).min(PROFILES - 1)].of(c)
    }

    /// Milliseconds flow `e` has left at `now`.
    pub fn remaining(&self, e: &Entry, now: u32) -> u32 {
        self.timeout_of(e).saturating_sub(age(now, e.last_seen))
    }

    #[inline(always)]
    fn log(&mut self, kind: ChangeKind, i: u32, now: u32) {
        if self.log.enabled() {
            let e = self.entries[i as usize];
            let left = self.remaining(&e, now);
            self.log.push(kind, &e, left);
        }
    }

    pub fn used(&self) -> u32 {
        self.used
    }

    pub fn timeouts(&self) -> &Timeouts {
        &self.timeouts[0]
    }

    /// Sets the timeouts of a profile (a pool's, when a snapshot brings new ones). Every entry
    /// of a list has the same timeout before and after, so the lists stay ordered.
    pub fn set_timeouts(&mut self, profile: usize, t: Timeouts) {
        if let Some(slot) = self.timeouts.get_mut(profile) {
            *slot = t;
        }
    }

    /// Entries in a class, over all profiles.
    pub fn class_len(&self, c: Class) -> u32 {
        (0..PROFILES)
            .map(|p| self.lists[p * CLASSES + c as usize].len)
            .sum()
    }

    /// Bytes allocated: the slab plus the index.
    pub fn memory_bytes(&self) -> usize {
        std::mem::size_of_val(&*self.entries) + self.index.bytes()
    }

    #[inline(always)]
    pub fn lookup(&self, key: &FlowKey) -> Option<(u32, Dir)> {
        self.lookup_hashed(key, key.hash(self.seed))
    }

    /// Hashes `key` and prefetches its index slot; pass the hash to [`Conntrack::lookup_hashed`].
    #[inline(always)]
    pub fn prefetch(&self, key: &FlowKey) -> u64 {
        let h = key.hash(self.seed);
        self.index.prefetch(h);
        h
    }

    /// Second prefetch step, once the slot prefetched by [`Conntrack::prefetch`] has had time to
    /// arrive: starts loading the entry it most likely points at.
    #[inline(always)]
    pub fn prefetch_entry(&self, hash: u64) {
        if let Some(e) = self.index.first_candidate(hash) {
            index::prefetch(&self.entries[e as usize]);
        }
    }

    /// [`Conntrack::lookup`] with the hash already computed (by [`Conntrack::prefetch`]).
    #[inline(always)]
    pub fn lookup_hashed(&self, key: &FlowKey, hash: u64) -> Option<(u32, Dir)> {
        let entries = &self.entries;
        self.index
            .find(hash, |e, dir| entries[e as usize].key(dir) == *key)
    }

    #[inline(always)]
    pub fn get(&self, i: u32) -> &Entry {
        &self.entries[i as usize]
    }

    /// Live entries, for status listings (not for the packet path).
    pub fn iter(&self) -> impl Iterator<Item = &Entry> {
        self.entries.iter().filter(|e| !e.is_free())
    }

    /// The live flows with their slots.
    pub fn iter_slots(&self) -> impl Iterator<Item = (u32, &Entry)> {
        self.entries
            .iter()
            .enumerate()
            .filter(|(_, e)| !e.is_free())
            .map(|(i, e)| (i as u32, e))
    }

    /// Records a packet of flow `i`: its time, and for TCP its flags' effect on the state.
    #[inline(always)]
    pub fn touch(&mut self, i: u32, dir: Dir, now: u32, tcp_flags: Option<u8>) {
        let e = &mut self.entries[i as usize];
        e.last_seen = now;
        e.packets = e.packets.wrapping_add(1);
        let Some(f) = tcp_flags else { return };
        let (next, fins) = if e.kind().one_way() {
            state::tcp_next_one_way(e.state(), e.fins, f)
        } else {
            state::tcp_next(e.state(), e.fins, dir, f)
        };
        e.fins = fins;
        if next as u8 != e.state {
            let (old, new) = (e.state().class(), next.class());
            e.state = next as u8;
            // The program forwards established flows only; a FIN or RST took the flow out.
            self.withdraw_offload(i);
            if old != new {
                self.requeue(i, old, new, now);
                self.log(ChangeKind::ClassChanged, i, now);
            }
        }
    }

    #[inline(always)]
    fn list_of(&self, i: u32, c: Class) -> usize {
        usize::from(self.entries[i as usize].profile) * CLASSES + c as usize
    }

    fn requeue(&mut self, i: u32, old: Class, new: Class, now: u32) {
        let (from, to) = (self.list_of(i, old), self.list_of(i, new));
        self.lists[from].unlink(&mut self.entries, i);
        self.entries[i as usize].class = new as u8;
        self.entries[i as usize].queued_at = now;
        self.lists[to].push_tail(&mut self.entries, i);
    }

    /// Records a new flow; `on_free` sees every entry freed to make room (for connection counts).
    pub fn insert(
        &mut self,
        now: u32,
        flow: &NewFlow,
        on_free: &mut impl FnMut(&Entry),
    ) -> Result<u32, InsertError> {
        let reply = FlowKey {
            src: flow.backend,
            dst: flow.local,
            src_port: flow.backend_port,
            dst_port: flow.local_port,
            proto: flow.original.proto,
            zone: 0,
        };
        debug_assert!(usize::from(flow.profile) < PROFILES);
        let one_way = flow.kind.one_way();
        if !one_way && self.lookup(&reply).is_some() {
            self.stats.conflicts += 1;
            return Err(InsertError::Conflict);
        }
        if self.free == NIL {
            self.make_room(now, on_free)?;
        }
        let i = self.free;
        self.free = self.entries[i as usize].next;
        let class = flow.state.class();
        self.entries[i as usize] = Entry {
            client: flow.original.src,
            vip: flow.original.dst,
            backend: reply.src,
            local: reply.dst,
            prev: NIL,
            next: NIL,
            last_seen: now,
            queued_at: now,
            packets: 0,
            client_port: flow.original.src_port,
            vip_port: flow.original.dst_port,
            backend_port: flow.backend_port,
            local_port: flow.local_port,
            zone: flow.original.zone,
            service: flow.service,
            backend_id: flow.backend_id,
            proto: flow.original.proto,
            state: flow.state as u8,
            class: class as u8,
            fins: 0,
            profile: flow.profile.min(PROFILES as u8 - 1),
            kind: flow.kind as u8,
        };
        let l = self.list_of(i, class);
        self.lists[l].push_tail(&mut self.entries, i);
        self.index
            .insert(flow.original.hash(self.seed), i, Dir::Original);
        if !one_way {
            self.index.insert(reply.hash(self.seed), i, Dir::Reply);
        }
        self.used += 1;
        self.stats.inserted += 1;
        self.log(ChangeKind::Created, i, now);
        Ok(i)
    }

    /// Records a flow a peer reported (session sync): as [`Conntrack::insert`], with the peer's
    /// FIN bits and with `remaining_ms` of its lifetime left, and without logging it.
    pub fn adopt(
        &mut self,
        now: u32,
        flow: &NewFlow,
        fins: u8,
        remaining_ms: u32,
        on_free: &mut impl FnMut(&Entry),
    ) -> Result<u32, InsertError> {
        self.log.mute(true);
        let r = self.insert(now, flow, on_free);
        self.log.mute(false);
        let i = r?;
        let e = &mut self.entries[i as usize];
        e.fins = fins;
        let timeout = self.timeout_of(&self.entries[i as usize]);
        self.entries[i as usize].last_seen = now.wrapping_sub(adopted_age(timeout, remaining_ms));
        Ok(i)
    }

    /// A peer's newer word on flow `i`: its TCP state and FIN bits, and a lifetime that only
    /// grows (a packet seen here since counts too). Not logged.
    pub fn update_adopted(&mut self, i: u32, now: u32, state: State, fins: u8, remaining_ms: u32) {
        let e = &mut self.entries[i as usize];
        e.fins = fins;
        let (old, new) = (e.state().class(), state.class());
        e.state = state as u8;
        if old != new {
            self.requeue(i, old, new, now);
        }
        let e = self.entries[i as usize];
        let peer_age = adopted_age(self.timeout_of(&e), remaining_ms);
        if peer_age < age(now, e.last_seen) {
            self.entries[i as usize].last_seen = now.wrapping_sub(peer_age);
        }
    }

    /// Whether flow `i` carried a packet here since it was last queued (a peer's copy that
    /// this node never forwarded has not).
    pub fn carried_here(&self, i: u32, now: u32) -> bool {
        let e = &self.entries[i as usize];
        age(now, e.last_seen) < age(now, e.queued_at)
    }

    /// Frees flow `i` because a peer reported it gone. Not logged.
    pub fn remove_adopted(&mut self, i: u32, on_free: &mut impl FnMut(&Entry)) {
        self.log.mute(true);
        self.remove(i, on_free);
        self.log.mute(false);
    }

    fn make_room(&mut self, now: u32, on_free: &mut impl FnMut(&Entry)) -> Result<(), InsertError> {
        // A small budget: enough to find an expired head, bounded so one packet never stalls.
        if self.expire(now, 8, on_free) > 0 {
            return Ok(());
        }
        for p in 0..PROFILES {
            let syn = self.lists[p * CLASSES + Class::TcpSyn as usize].head;
            if syn != NIL {
                self.remove(syn, on_free);
                self.stats.evicted += 1;
                return Ok(());
            }
        }
        self.stats.full_drops += 1;
        Err(InsertError::Full)
    }

    /// Frees flow `i`.
    pub fn remove(&mut self, i: u32, on_free: &mut impl FnMut(&Entry)) {
        let e = self.entries[i as usize];
        debug_assert!(!e.is_free());
        if self.log.enabled() {
            self.log.push(ChangeKind::Removed, &e, 0);
        }
        on_free(&e);
        self.withdraw_offload(i);
        if let Some(c) = e.class() {
            let l = self.list_of(i, c);
            self.lists[l].unlink(&mut self.entries, i);
        }
        self.index
            .remove(e.original_key().hash(self.seed), i, Dir::Original);
        if !e.kind().one_way() {
            self.index
                .remove(e.reply_key().hash(self.seed), i, Dir::Reply);
        }
        self.entries[i as usize] = Entry {
            next: self.free,
            ..Entry::EMPTY
        };
        self.free = i;
        self.used -= 1;
    }

    /// Frees expired flows, looking at no more than `budget` list heads; returns how many were
    /// freed. Call it once per batch with a small budget so expiry keeps pace without stalls.
    ///
    /// With session sync, every flow is looked at twice per timeout instead of once, and one
    /// that carried packets since it was last looked at is logged as refreshed: its copy on a
    /// peer, which expires by the last lifetime reported, is renewed half a timeout before it
    /// would run out. A copy that carried none (a peer's flow held here) is not reported back.
    pub fn expire(&mut self, now: u32, budget: u32, on_free: &mut impl FnMut(&Entry)) -> u32 {
        self.expire_with(now, budget, on_free, &mut |_, _| LastSeen::Unknown)
    }

    /// [`Conntrack::expire`], asking `seen` when an offloaded flow's last packet went through
    /// the XDP program (whose packets the table never sees) before judging it.
    pub fn expire_with(
        &mut self,
        now: u32,
        mut budget: u32,
        on_free: &mut impl FnMut(&Entry),
        seen: &mut impl FnMut(u32, &Entry) -> LastSeen,
    ) -> u32 {
        let mut freed = 0;
        let logging = self.log.enabled();
        'lists: for l in 0..CLASSES * PROFILES {
            let c = Class::ALL[l % CLASSES];
            let timeout = self.timeouts[l / CLASSES].of(c);
            let horizon = if logging { timeout / 2 } else { timeout };
            while budget > 0 {
                let head = self.lists[l].head;
                if head == NIL {
                    break;
                }
                let e = self.entries[head as usize];
                if age(now, e.queued_at) < horizon {
                    break;
                }
                if e.any_offloaded() {
                    match seen(head, &e) {
                        LastSeen::At(t) if age(now, t) < age(now, e.last_seen) => {
                            self.entries[head as usize].last_seen = t;
                        }
                        LastSeen::At(_) | LastSeen::NotOffloaded => {}
                        // Left for a caller that can ask: the list waits behind it.
                        LastSeen::Unknown => continue 'lists,
                    }
                }
                let e = &self.entries[head as usize];
                budget -= 1;
                if age(now, e.last_seen) >= timeout {
                    self.remove(head, on_free);
                    self.stats.expired += 1;
                    freed += 1;
                } else {
                    let carried = age(now, e.last_seen) < age(now, e.queued_at);
                    self.requeue(head, c, c, now);
                    if logging && carried {
                        self.log(ChangeKind::Refreshed, head, now);
                    }
                }
            }
        }
        freed
    }

    /// Up to `max` live flows from slot `cursor` on, for a bulk resynchronisation, each with its
    /// slot and remaining lifetime; returns the slot to continue from (`None`: the end).
    pub fn export(
        &self,
        cursor: u32,
        max: usize,
        now: u32,
        mut f: impl FnMut(u32, &Entry, u32),
    ) -> Option<u32> {
        let mut n = 0;
        let mut i = cursor as usize;
        while i < self.entries.len() {
            if n == max {
                return Some(i as u32);
            }
            let e = &self.entries[i];
            if !e.is_free() {
                f(i as u32, e, self.remaining(e, now));
                n += 1;
            }
            i += 1;
        }
        None
    }
}

#[cfg(test)]
mod tests;
