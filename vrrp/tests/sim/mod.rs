//! A virtual L2 segment of N VRRP routers on a virtual clock (quinn-proto
//! `Pair` style). The harness is the shell: it drains actions, delivers
//! advertisements to every other live router (demultiplexed by VRID as the
//! real shell does), fires timers, and drives sync groups. Time jumps straight
//! to the next deadline, so minutes of protocol time run in microseconds.
//!
//! Knobs: crash/restart, graceful shutdown, partitions, deterministic random
//! loss, and "drop the next n adverts from router i".

#![allow(dead_code)]

use std::net::IpAddr;
use std::time::{Duration, Instant};

use vrrp::{
    peek_vrid, Action, Advertisement, Config, Event, Instance, RxMeta, State, SyncCommand,
    SyncGroup, Transmit,
};

/// One router (one instance) on the segment.
pub struct Router {
    pub name: String,
    pub config: Config,
    pub inst: Instance,
    /// False once crashed: no timers, no receive, no transmit.
    pub alive: bool,
    /// Partition id: frames cross only between equal ids.
    pub island: u32,
    /// Drop this many of the router's next outgoing adverts.
    pub drop_next: u32,
    /// Whether the VIPs are installed (from Add/RemoveVirtualAddresses).
    pub holds_vips: bool,
    pub events: Vec<(Instant, Event)>,
    pub sent: Vec<(Instant, Advertisement)>,
    pub gratuitous: Vec<Instant>,
}

/// The segment and its clock.
pub struct Segment {
    pub t0: Instant,
    pub now: Instant,
    pub routers: Vec<Router>,
    /// Frames in flight: (deliver at, sender index, frame).
    in_flight: Vec<(Instant, usize, Transmit)>,
    /// One-way delay on the segment.
    pub latency: Duration,
    /// Probability (0..=1) that any one delivery is lost.
    pub loss: f64,
    rng: u64,
    /// Sync groups: member router indexes.
    pub sync_groups: Vec<SyncGroup<usize>>,
}

impl Segment {
    pub fn new() -> Self {
        let t0 = Instant::now();
        Segment {
            t0,
            now: t0,
            routers: Vec::new(),
            in_flight: Vec::new(),
            latency: Duration::ZERO,
            loss: 0.0,
            rng: 0x9e37_79b9_7f4a_7c15,
            sync_groups: Vec::new(),
        }
    }

    /// Adds a router (in Initialize) and returns its index.
    pub fn add(&mut self, name: &str, config: Config) -> usize {
        let inst = Instance::new(config.clone()).expect("valid config");
        self.routers.push(Router {
            name: name.to_string(),
            config,
            inst,
            alive: true,
            island: 0,
            drop_next: 0,
            holds_vips: false,
            events: Vec::new(),
            sent: Vec::new(),
            gratuitous: Vec::new(),
        });
        self.routers.len() - 1
    }

    /// Time since the start of the test.
    pub fn elapsed(&self) -> Duration {
        self.now - self.t0
    }

    pub fn start(&mut self, i: usize) {
        let now = self.now;
        self.routers[i].inst.handle_startup(now);
        self.flush(i);
    }

    pub fn start_all(&mut self) {
        for i in 0..self.routers.len() {
            self.start(i);
        }
    }

    /// Graceful stop (priority-0 advert if Master).
    pub fn shutdown(&mut self, i: usize) {
        let now = self.now;
        self.routers[i].inst.handle_shutdown(now);
        self.flush(i);
    }

    /// Power loss: the router vanishes without a word.
    pub fn crash(&mut self, i: usize) {
        self.routers[i].alive = false;
        self.in_flight.retain(|(_, from, _)| *from != i);
    }

    /// A crashed router boots again (fresh instance, same config).
    pub fn restart(&mut self, i: usize) {
        let r = &mut self.routers[i];
        r.inst = Instance::new(r.config.clone()).unwrap();
        r.alive = true;
        r.holds_vips = false;
        self.start(i);
    }

    /// Puts each router in the island given by `islands[i]`.
    pub fn partition(&mut self, islands: &[u32]) {
        for (r, island) in self.routers.iter_mut().zip(islands) {
            r.island = *island;
        }
    }

    pub fn heal(&mut self) {
        for r in &mut self.routers {
            r.island = 0;
        }
    }

    pub fn set_priority_adjustment(&mut self, i: usize, adjustment: i32) {
        let now = self.now;
        self.routers[i]
            .inst
            .set_priority_adjustment(now, adjustment);
        self.flush(i);
    }

    pub fn set_fault(&mut self, i: usize, fault: Option<vrrp::FaultReason>) {
        let now = self.now;
        self.routers[i].inst.set_fault(now, fault);
        self.flush(i);
    }

    /// Routers currently Master.
    pub fn masters(&self) -> Vec<usize> {
        (0..self.routers.len())
            .filter(|&i| self.routers[i].alive && self.routers[i].inst.state() == State::Master)
            .collect()
    }

    pub fn state(&self, i: usize) -> State {
        self.routers[i].inst.state()
    }

    /// When router `i` last entered `state`.
    pub fn entered(&self, i: usize, state: State) -> Option<Instant> {
        self.routers[i]
            .events
            .iter()
            .rev()
            .find_map(|(t, e)| match e {
                Event::StateChanged { to, .. } if *to == state => Some(*t),
                _ => None,
            })
    }

    /// Number of times router `i` entered `state`.
    pub fn times_entered(&self, i: usize, state: State) -> usize {
        self.routers[i]
            .events
            .iter()
            .filter(|(_, e)| matches!(e, Event::StateChanged { to, .. } if *to == state))
            .count()
    }

    /// The last advert router `i` sent (time, priority).
    pub fn last_sent(&self, i: usize) -> Option<(Instant, u8)> {
        self.routers[i].sent.last().map(|(t, a)| (*t, a.priority))
    }

    /// Next instant anything happens.
    fn next_wakeup(&self) -> Option<Instant> {
        let timers = self
            .routers
            .iter()
            .filter(|r| r.alive)
            .filter_map(|r| r.inst.poll_timeout());
        let frames = self.in_flight.iter().map(|(t, _, _)| *t);
        timers.chain(frames).min()
    }

    /// Processes the next instant at which anything happens, if it is not
    /// after `limit`. Returns false when nothing is due by then.
    pub fn step(&mut self, limit: Instant) -> bool {
        let Some(next) = self.next_wakeup() else {
            return false;
        };
        if next > limit {
            return false;
        }
        self.now = self.now.max(next);
        let now = self.now;
        // Frames first: an advert arriving at the same instant as a timer
        // is seen before the timer fires (the kernel queued it first).
        while let Some(pos) = self.in_flight.iter().position(|(t, _, _)| *t <= now) {
            let (_, from, frame) = self.in_flight.remove(pos);
            self.deliver(from, &frame);
        }
        for i in 0..self.routers.len() {
            if !self.routers[i].alive {
                continue;
            }
            if self.routers[i]
                .inst
                .poll_timeout()
                .is_some_and(|t| t <= now)
            {
                self.routers[i].inst.handle_timeout(now);
                self.flush(i);
            }
        }
        true
    }

    /// Runs until `duration` after the current time.
    pub fn run_for(&mut self, duration: Duration) {
        let limit = self.now + duration;
        self.run_until(limit);
    }

    pub fn run_until(&mut self, limit: Instant) {
        let mut guard = 0u64;
        while self.step(limit) {
            guard += 1;
            assert!(guard < 10_000_000, "simulation does not converge");
        }
        self.now = self.now.max(limit);
    }

    /// Runs until `pred` holds or `max` passes; returns when it held.
    pub fn run_until_pred(
        &mut self,
        max: Duration,
        mut pred: impl FnMut(&Segment) -> bool,
    ) -> Option<Instant> {
        let limit = self.now + max;
        loop {
            if pred(self) {
                return Some(self.now);
            }
            if !self.step(limit) {
                return None;
            }
        }
    }

    fn random(&mut self) -> f64 {
        // xorshift64*: deterministic, seeded once per segment.
        self.rng ^= self.rng >> 12;
        self.rng ^= self.rng << 25;
        self.rng ^= self.rng >> 27;
        (self.rng.wrapping_mul(0x2545_f491_4f6c_dd1d) >> 11) as f64 / (1u64 << 53) as f64
    }

    fn deliver(&mut self, from: usize, frame: &Transmit) {
        let vrid = peek_vrid(&frame.payload);
        for to in 0..self.routers.len() {
            if to == from || !self.routers[to].alive {
                continue;
            }
            if self.routers[to].island != self.routers[from].island {
                continue;
            }
            // Unicast frames reach only their destination.
            let dst_is_group = frame.dst.is_multicast();
            if !dst_is_group && frame.dst != self.routers[to].config.primary_address {
                continue;
            }
            // The shell demultiplexes by VRID (and family).
            if vrid != Some(self.routers[to].config.vrid)
                || frame.src.is_ipv4() != self.routers[to].config.primary_address.is_ipv4()
            {
                continue;
            }
            if self.loss > 0.0 && self.random() < self.loss {
                continue;
            }
            let meta = RxMeta {
                src: frame.src,
                dst: frame.dst,
                ttl_or_hop_limit: frame.ttl,
            };
            let now = self.now;
            self.routers[to]
                .inst
                .handle_advertisement(now, meta, &frame.payload);
            self.flush(to);
        }
    }

    /// Drains router `i`'s actions, as the shell would, then lets its sync
    /// group react.
    fn flush(&mut self, i: usize) {
        let now = self.now;
        while let Some(action) = self.routers[i].inst.poll_action() {
            let r = &mut self.routers[i];
            match action {
                Action::SendAdvertisement(tx) => {
                    r.sent.push((now, tx.advertisement.clone()));
                    if r.drop_next > 0 {
                        r.drop_next -= 1;
                    } else {
                        self.in_flight.push((now + self.latency, i, tx));
                    }
                }
                Action::AddVirtualAddresses(_) => r.holds_vips = true,
                Action::RemoveVirtualAddresses(_) => r.holds_vips = false,
                Action::SendGratuitous(_) => r.gratuitous.push(now),
                Action::Event(e) => r.events.push((now, e)),
            }
        }
        self.drive_sync_groups(i);
    }

    fn drive_sync_groups(&mut self, i: usize) {
        let mut pending = vec![i];
        while let Some(member) = pending.pop() {
            let view = self.routers[member].inst.sync_view();
            let mut commands = Vec::new();
            for g in &mut self.sync_groups {
                if g.keys().any(|k| *k == member) {
                    commands.extend(g.update(&member, view));
                }
            }
            let now = self.now;
            for (target, command) in commands {
                let inst = &mut self.routers[target].inst;
                match command {
                    SyncCommand::ForceMaster => inst.force_master(now),
                    SyncCommand::ForceBackup => inst.force_backup(now),
                    SyncCommand::SetGroupFault(f) => inst.set_group_fault(now, f),
                }
                // Drain without recursing into the group; queue its update.
                while let Some(action) = self.routers[target].inst.poll_action() {
                    let r = &mut self.routers[target];
                    match action {
                        Action::SendAdvertisement(tx) => {
                            r.sent.push((now, tx.advertisement.clone()));
                            self.in_flight.push((now + self.latency, target, tx));
                        }
                        Action::AddVirtualAddresses(_) => r.holds_vips = true,
                        Action::RemoveVirtualAddresses(_) => r.holds_vips = false,
                        Action::SendGratuitous(_) => r.gratuitous.push(now),
                        Action::Event(e) => r.events.push((now, e)),
                    }
                }
                pending.push(target);
            }
        }
    }
}

/// An IPv4 router config on 198.18.0.0/24 for VRID 51, VIP .100.
pub fn v4_config(host: u8, priority: u8) -> Config {
    let mut c = Config::new(
        51,
        IpAddr::from([198, 18, 0, host]),
        vec![IpAddr::from([198, 18, 0, 100])],
    );
    c.priority = priority;
    c
}
