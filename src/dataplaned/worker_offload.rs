//! A worker's end of the established-flow offload: it writes the rules its pipeline offers into
//! the XDP program's table, withdraws them when the pipeline says so, withdraws all of them when
//! the snapshot they were learnt from is replaced, and tells the pipeline's expiry when the
//! program last forwarded an offloaded flow. Every call here is a bpf(2) syscall, made between
//! batches: once per flow direction, never per packet.
//!
//! The worker is the only writer of its flows' rules, so the table needs no locking; an update
//! replaces a rule whole. The program's totals are in its own statistics, so a rule's counters
//! need no reading when it goes.

use std::collections::HashMap;
use std::os::fd::OwnedFd;
use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::Arc;
use std::time::{Duration, Instant};

use super::worker_bond::WorkerBond;
use crate::dataplaned::xdp::bpf;
use dataplane::bond::{Distributor, XmitHash};
use dataplane::conntrack::{Dir, Entry, LastSeen, OffloadEvent, STATELESS};
use dataplane::pipeline::Pipeline;
use dataplane::wire::offload::{set_ifindex, ActionCounters, ACTION_LEN, KEY_LEN};

/// The counters of one worker's offload, read by status and metrics.
#[derive(Debug, Default)]
pub struct OffloadShared {
    /// Rules in the program's table now.
    pub rules: AtomicU64,
    pub installed: AtomicU64,
    pub withdrawn: AtomicU64,
    /// Rules the kernel refused (the table full, memory).
    pub failed: AtomicU64,
    /// Times the whole of the worker's rules were withdrawn (a new snapshot, a full log).
    pub flushes: AtomicU64,
}

/// The rules of one flow slot, by direction.
#[derive(Debug, Default, Clone, Copy)]
struct Rules([Option<[u8; KEY_LEN]>; 2]);

/// How long the program follows rules after the last renewal, and how often workers renew:
/// a killed daemon's rules stop being followed within a second, and a worker held up for a
/// while only sends its flows through the workers meanwhile.
pub const ALIVE_FOR: Duration = Duration::from_secs(1);
const RENEW_EVERY: Duration = Duration::from_millis(100);
/// Rules of untracked flows (the site end of a tunnel) go when the program has forwarded
/// nothing by them for this long; a flow that comes back teaches the program again.
const STATELESS_IDLE: Duration = Duration::from_secs(120);
const SWEEP_EVERY: Duration = Duration::from_secs(10);

pub struct WorkerOffload {
    flows: Arc<OwnedFd>,
    alive: Arc<OwnedFd>,
    last_renewal: Option<Instant>,
    /// Kernel index of each snapshot interface.
    ifindex: Vec<u32>,
    rules: HashMap<u32, Rules>,
    /// Rules of untracked flows, with when they were installed.
    stateless: HashMap<[u8; KEY_LEN], Instant>,
    last_sweep: Option<Instant>,
    /// The pipeline's events of one turn (kept to reuse its memory).
    events: Vec<OffloadEvent>,
    /// The generation the rules were learnt from.
    generation: u64,
    /// CLOCK_MONOTONIC nanoseconds at the worker's clock zero (the program's timestamps are
    /// `bpf_ktime_get_ns`, the same clock).
    base_ns: u64,
    pub shared: Arc<OffloadShared>,
    /// By snapshot interface: the bond it is (its distributor, hash and members' kernel
    /// indexes), for rules that leave by a bond.
    bonds: Vec<Option<(Distributor, XmitHash, Vec<u32>)>>,
}

/// Lets the program follow the rules for [`ALIVE_FOR`] from now.
pub fn renew(alive: &impl std::os::fd::AsRawFd) {
    let deadline = monotonic_ns() + ALIVE_FOR.as_nanos() as u64;
    if let Err(e) = bpf::update_elem(alive, &0u32.to_ne_bytes(), &deadline.to_ne_bytes()) {
        tracing::debug!("renewing the offload's deadline: {e}");
    }
}

/// CLOCK_MONOTONIC now, in nanoseconds (what `Instant` and `bpf_ktime_get_ns` read).
pub fn monotonic_ns() -> u64 {
    let mut ts = libc::timespec {
        tv_sec: 0,
        tv_nsec: 0,
    };
    // SAFETY: writes a timespec we own.
    unsafe { libc::clock_gettime(libc::CLOCK_MONOTONIC, &mut ts) };
    ts.tv_sec as u64 * 1_000_000_000 + ts.tv_nsec as u64
}

impl WorkerOffload {
    pub fn new(
        flows: Arc<OwnedFd>,
        alive: Arc<OwnedFd>,
        ifindex: Vec<u32>,
        shared: Arc<OffloadShared>,
    ) -> Self {
        WorkerOffload {
            flows,
            alive,
            last_renewal: None,
            ifindex,
            rules: HashMap::new(),
            stateless: HashMap::new(),
            last_sweep: None,
            events: Vec::new(),
            generation: 0,
            base_ns: 0,
            shared,
            bonds: Vec::new(),
        }
    }

    /// The bonds' member sets as the worker now sees them.
    pub fn set_bonds(&mut self, bonds: &[WorkerBond]) {
        self.bonds.clear();
        for b in bonds {
            let at = usize::from(b.iface);
            if self.bonds.len() <= at {
                self.bonds.resize(at + 1, None);
            }
            self.bonds[at] = Some((b.distributor(), b.policy(), b.ifindex.clone()));
        }
    }

    /// The kernel interface a rule's packets leave by: the snapshot interface's, or for a
    /// bond the member its transmit hash picks (as the worker's own packets of the flow).
    fn egress_ifindex(&self, o: &dataplane::conntrack::offloaded::Offer) -> Option<u32> {
        let e = usize::from(o.egress);
        match self.bonds.get(e).and_then(Option::as_ref) {
            Some((dist, policy, members)) => {
                let f = dataplane::bond::rule_fields(&o.key, &o.action);
                let m = dist.pick(dataplane::bond::hash(&f, *policy))?;
                members.get(m).copied()
            }
            None => self.ifindex.get(e).copied(),
        }
    }

    /// Sets the worker's clock zero: `start` is the `Instant` its millisecond clock counts from.
    pub fn set_clock(&mut self, start: Instant) {
        let since = start.elapsed().as_nanos() as u64;
        self.base_ns = monotonic_ns().saturating_sub(since);
    }

    /// Once per turn, between batches: a new snapshot withdraws every rule, then the pipeline's
    /// offers and withdrawals go to the table in order.
    pub fn turn(&mut self, pipeline: &mut Pipeline, generation: u64, clock: Instant) {
        if self
            .last_renewal
            .is_none_or(|t| clock.duration_since(t) >= RENEW_EVERY)
        {
            self.last_renewal = Some(clock);
            renew(&self.alive);
        }
        if self
            .last_sweep
            .is_none_or(|t| clock.duration_since(t) >= SWEEP_EVERY)
        {
            self.last_sweep = Some(clock);
            self.sweep_stateless(clock);
        }
        if generation != self.generation {
            self.generation = generation;
            if !self.rules.is_empty() || !self.stateless.is_empty() {
                pipeline.withdraw_all_offloads();
            }
        }
        let mut events = std::mem::take(&mut self.events);
        let flush = pipeline.take_offload(|e| events.push(*e));
        if flush {
            self.flush();
        }
        if events.is_empty() && !flush {
            self.events = events;
            return;
        }
        for e in events.drain(..) {
            match e {
                OffloadEvent::Install(o) => {
                    let Some(ifindex) = self.egress_ifindex(&o) else {
                        continue;
                    };
                    if o.flow == STATELESS && self.stateless.contains_key(&o.key) {
                        continue;
                    }
                    let mut action = o.action;
                    set_ifindex(&mut action, ifindex);
                    match bpf::update_elem(&*self.flows, &o.key, &action) {
                        Ok(()) if o.flow == STATELESS => {
                            self.stateless.insert(o.key, clock);
                            self.shared.installed.fetch_add(1, Ordering::Relaxed);
                        }
                        Ok(()) => {
                            let r = self.rules.entry(o.flow).or_default();
                            if let Some(old) = r.0[o.dir as usize].replace(o.key) {
                                self.remove(&old);
                            }
                            self.shared.installed.fetch_add(1, Ordering::Relaxed);
                        }
                        Err(e) => {
                            tracing::debug!("offload rule refused: {e}");
                            self.shared.failed.fetch_add(1, Ordering::Relaxed);
                        }
                    }
                }
                OffloadEvent::Withdraw(i) => {
                    if let Some(r) = self.rules.remove(&i) {
                        for k in r.0.iter().flatten() {
                            self.remove(k);
                        }
                    }
                }
            }
        }
        self.events = events;
        self.count_rules();
    }

    fn count_rules(&self) {
        let n: usize = self
            .rules
            .values()
            .map(|r| r.0.iter().flatten().count())
            .sum();
        self.shared
            .rules
            .store((n + self.stateless.len()) as u64, Ordering::Relaxed);
    }

    /// Removes the untracked flows' rules the program has not used for [`STATELESS_IDLE`].
    fn sweep_stateless(&mut self, clock: Instant) {
        let now_ns = monotonic_ns();
        let idle_ns = STATELESS_IDLE.as_nanos() as u64;
        let stale: Vec<[u8; KEY_LEN]> = self
            .stateless
            .iter()
            .filter(|(k, installed)| {
                let used = self.counters(k).map_or(0, |c| c.last_seen_ns);
                if used > 0 {
                    now_ns.saturating_sub(used) > idle_ns
                } else {
                    clock.duration_since(**installed) > STATELESS_IDLE
                }
            })
            .map(|(k, _)| *k)
            .collect();
        for k in &stale {
            self.stateless.remove(k);
            self.remove(k);
        }
        if !stale.is_empty() {
            self.count_rules();
        }
    }

    /// Removes every rule of this worker (shutdown, a flush).
    pub fn flush(&mut self) {
        let mut all: Vec<[u8; KEY_LEN]> = self
            .rules
            .drain()
            .flat_map(|(_, r)| r.0.into_iter().flatten())
            .collect();
        all.extend(self.stateless.drain().map(|(k, _)| k));
        for k in &all {
            self.remove(k);
        }
        self.shared.flushes.fetch_add(1, Ordering::Relaxed);
        self.shared.rules.store(0, Ordering::Relaxed);
    }

    fn remove(&self, key: &[u8; KEY_LEN]) {
        let _ = bpf::delete_elem(&*self.flows, key);
        self.shared.withdrawn.fetch_add(1, Ordering::Relaxed);
    }

    fn counters(&self, key: &[u8; KEY_LEN]) -> Option<ActionCounters> {
        let mut v = [0u8; ACTION_LEN];
        match bpf::lookup_elem(&*self.flows, key, &mut v) {
            Ok(true) => Some(ActionCounters::parse(&v)),
            _ => None,
        }
    }

    /// The packets the program forwarded for flow slot `i` (its live rules).
    pub fn packets_of(&self, i: u32) -> u64 {
        self.rules.get(&i).map_or(0, |r| {
            r.0.iter()
                .flatten()
                .filter_map(|k| self.counters(k))
                .map(|c| c.packets)
                .sum()
        })
    }

    /// Whether flow slot `i` has a rule in the program's table.
    pub fn offloaded(&self, i: u32) -> bool {
        self.rules.contains_key(&i)
    }

    /// The answer the pipeline's expiry asks for: when the program last forwarded a packet of
    /// flow slot `i`, in the worker's millisecond clock.
    pub fn last_seen(&self, i: u32, _e: &Entry) -> LastSeen {
        let Some(r) = self.rules.get(&i) else {
            return LastSeen::NotOffloaded;
        };
        let latest = [Dir::Original, Dir::Reply]
            .iter()
            .filter_map(|d| r.0[*d as usize].as_ref())
            .filter_map(|k| self.counters(k))
            .map(|c| c.last_seen_ns)
            .filter(|&t| t > 0)
            .max();
        match latest {
            Some(t) => LastSeen::At((t.saturating_sub(self.base_ns) / 1_000_000) as u32),
            None => LastSeen::NotOffloaded,
        }
    }
}
