//! A running rehearsal: the bed and what watches it (each node's events, each router's routes,
//! the client's traffic), and the questions the scenarios ask of it: who is master, what should
//! the routers route where, is the pair steady.

use std::collections::BTreeSet;
use std::net::IpAddr;
use std::time::{Duration, Instant};

use super::bed::Bed;
use super::follow::{Follower, NodeEvent};
use super::plan::Role;
use super::routes::RouteWatch;
use super::traffic::{now_us, Traffic};
use crate::status::Status;
use crate::vrrpd::VrrpState;

/// Something the drill did, for the timeline.
#[derive(Debug, Clone)]
pub struct Mark {
    pub t_us: i64,
    pub label: String,
}

/// Fields drop in order: the watchers' threads before the bed (and its lab) go.
pub struct Rehearsal {
    pub traffic: Option<Traffic>,
    /// Per SNAT pool of the plan, its inside host's traffic to the client; then per GRE site,
    /// its user's.
    pub snat: Vec<Traffic>,
    /// Where each of `snat` comes from (`pool NAME ADDR`, `site TUNNEL ADDR`).
    pub snat_from: Vec<String>,
    pub follower: Follower,
    pub routes: Vec<RouteWatch>,
    pub bed: Bed,
    pub marks: Vec<Mark>,
    /// Per node, the times its daemon was not running: `(from, to)`, `to` open while down.
    pub down: Vec<Vec<(i64, Option<i64>)>>,
    /// Sessions the drill stopped at a router: `(router, node)`.
    pub disabled: BTreeSet<(usize, usize)>,
    /// Events a stopped daemon wrote after its event stream had ended, from its log.
    pub from_logs: Vec<NodeEvent>,
    /// What already kept the pair from being steady before the first scenario (a check that
    /// never comes up, say): the pair's own state, not a failure to recover (digits taken out,
    /// as in [`kind_of`]).
    pub tolerated: BTreeSet<String>,
}

/// A reason without its numbers: what repeats from poll to poll.
pub fn kind_of(reason: &str) -> String {
    reason.chars().filter(|c| !c.is_ascii_digit()).collect()
}

impl Rehearsal {
    pub fn new(bed: Bed, traffic: Option<Traffic>) -> Rehearsal {
        let sockets = bed.nodes.iter().map(|n| n.app.socket.clone()).collect();
        let follower = Follower::start(sockets);
        let routes = bed
            .plan
            .routers
            .iter()
            .map(|r| RouteWatch::start(bed.hosts[r.host].name(), bed.plan.prefixes.clone()))
            .collect();
        let down = vec![Vec::new(); bed.nodes.len()];
        Rehearsal {
            traffic,
            snat: Vec::new(),
            snat_from: Vec::new(),
            follower,
            routes,
            bed,
            marks: Vec::new(),
            down,
            disabled: BTreeSet::new(),
            from_logs: Vec::new(),
            tolerated: BTreeSet::new(),
        }
    }

    /// Every node event: the followed ones and those read back from logs.
    pub fn events(&self) -> Vec<NodeEvent> {
        let mut ev = self.follower.events();
        ev.extend(self.from_logs.iter().cloned());
        ev.sort_by_key(|e| e.event.unix_ms);
        ev
    }

    /// After node `i`'s daemon exited: the events of its last moments that the stream did not
    /// carry (the control socket closes first when a daemon stops).
    pub fn read_back_log(&mut self, i: usize) {
        let Some(p) = self.bed.nodes[i].app.proc_opt() else {
            return;
        };
        let seen: BTreeSet<(u64, u64)> = self
            .events()
            .iter()
            .filter(|e| e.node == i)
            .map(|e| (e.event.seq, e.event.unix_ms))
            .collect();
        let start = self.down[i].last().map_or(0, |d| d.0 / 1000 - 60_000);
        for ev in super::logtail::events(&p.log()) {
            if ev.unix_ms as i64 >= start && !seen.contains(&(ev.seq, ev.unix_ms)) {
                self.from_logs.push(NodeEvent { node: i, event: ev });
            }
        }
    }

    pub fn mark(&mut self, label: impl Into<String>) -> i64 {
        let t_us = now_us();
        self.marks.push(Mark {
            t_us,
            label: label.into(),
        });
        t_us
    }

    pub fn node_down(&mut self, i: usize, t_us: i64) {
        self.down[i].push((t_us, None));
    }

    pub fn node_up(&mut self, i: usize, t_us: i64) {
        if let Some(last) = self.down[i].last_mut().filter(|d| d.1.is_none()) {
            last.1 = Some(t_us);
        }
    }

    pub fn statuses(&self) -> Vec<Option<Status>> {
        self.bed
            .nodes
            .iter()
            .map(|n| if n.running() { n.status() } else { None })
            .collect()
    }

    /// The node that is master of the timed instance, if exactly one is.
    pub fn master(&self) -> Option<usize> {
        let inst = &self.bed.plan.front.instance;
        let masters: Vec<usize> = self
            .statuses()
            .iter()
            .enumerate()
            .filter(|(_, s)| {
                s.as_ref()
                    .is_some_and(|s| state_of(s, inst) == Some(VrrpState::Master))
            })
            .map(|(i, _)| i)
            .collect();
        (masters.len() == 1).then(|| masters[0])
    }

    /// Per router and prefix, the next hops the router should have now: the nodes that
    /// announce the prefix whole (or, if none does, those that announce it degraded), over
    /// sessions the drill has not stopped.
    pub fn expected_routes(&self, st: &[Option<Status>]) -> Vec<Vec<Vec<IpAddr>>> {
        let plan = &self.bed.plan;
        plan.routers
            .iter()
            .enumerate()
            .map(|(ri, r)| {
                plan.prefixes
                    .iter()
                    .map(|p| {
                        let mut whole = Vec::new();
                        let mut degraded = Vec::new();
                        for s in &r.sessions {
                            // A session carries only its families' prefixes.
                            let carries = if p.is_ipv4() { s.ipv4 } else { s.ipv6 };
                            if !carries || self.disabled.contains(&(ri, s.node)) {
                                continue;
                            }
                            let Some(Some(status)) = st.get(s.node) else {
                                continue;
                            };
                            let Some(ps) = status.bgp.as_ref().and_then(|b| {
                                b.prefixes.iter().find(|x| x.prefix == p.to_string())
                            }) else {
                                continue;
                            };
                            if !ps.announced {
                                continue;
                            }
                            let nh = plan.nodes[s.node]
                                .config()
                                .bgp
                                .iter()
                                .flat_map(|b| &b.announce)
                                .find(|a| a.prefix == *p)
                                .and_then(|a| a.next_hop)
                                .unwrap_or(s.node_addr);
                            if ps.degraded {
                                degraded.push(nh);
                            } else {
                                whole.push(nh);
                            }
                        }
                        let mut v = if whole.is_empty() { degraded } else { whole };
                        v.sort();
                        v
                    })
                    .collect()
            })
            .collect()
    }

    /// Whether every router routes every prefix as expected now.
    pub fn routes_as_expected(&self, st: &[Option<Status>]) -> bool {
        self.route_mismatches(st).is_empty()
    }

    /// Each route that is not as expected: router, prefix, what it has, what it should have.
    pub fn route_mismatches(&self, st: &[Option<Status>]) -> Vec<String> {
        let want = self.expected_routes(st);
        let plan = &self.bed.plan;
        let mut out = Vec::new();
        for (ri, (w, e)) in self.routes.iter().zip(&want).enumerate() {
            for (pi, (has, should)) in w.current().iter().zip(e).enumerate() {
                if has != should {
                    out.push(format!(
                        "router {} routes {} via {has:?}, the nodes announce it via {should:?}",
                        plan.hosts[plan.routers[ri].host].name, plan.prefixes[pi]
                    ));
                }
            }
        }
        out
    }

    /// The first moment at or after `since` from which every router's routes stayed as they
    /// are now (the routes' convergence), and whether they changed after `since` at all.
    pub fn routes_settled_at(&self, since: i64) -> (Option<i64>, bool) {
        let mut last: Option<i64> = None;
        for w in &self.routes {
            if let Some(s) = w.timeline().iter().rev().find(|s| s.t_us >= since) {
                last = Some(last.map_or(s.t_us, |l: i64| l.max(s.t_us)));
            }
        }
        (last, last.is_some())
    }

    /// Requests (through the services and the SNAT gateway) done in the last `ms`
    /// milliseconds: `(done, failed)`.
    pub fn recent_requests(&self, ms: i64) -> (usize, usize) {
        let now = now_us();
        let mut out = (0, 0);
        for t in self.traffic.iter().chain(&self.snat) {
            let (reqs, _) = t.between(now - ms * 1000 - 2_000_000, now + 1);
            for r in reqs.iter().filter(|r| r.done_us >= now - ms * 1000) {
                out.0 += 1;
                out.1 += usize::from(r.failed.is_some());
            }
        }
        out
    }

    /// Reopens the broken connections of every traffic.
    pub fn reopen(&self) {
        for t in self.traffic.iter().chain(&self.snat) {
            t.reopen(Duration::from_secs(10));
        }
    }

    /// What keeps the pair from being steady now (empty: steady): both daemons answering,
    /// one master for every instance, every check up on both nodes, the routers' routes as
    /// expected, the traffic answered.
    pub fn unsteady(&self) -> Vec<String> {
        let st = self.statuses();
        let mut why = Vec::new();
        for (i, s) in st.iter().enumerate() {
            if s.is_none() {
                why.push(format!("{} does not answer", self.bed.nodes[i].name));
            }
        }
        let instances: BTreeSet<&str> = st
            .iter()
            .flatten()
            .flat_map(|s| s.vrrp.iter().map(|v| v.name.as_str()))
            .collect();
        for inst in instances {
            let masters = st
                .iter()
                .flatten()
                .filter(|s| state_of(s, inst) == Some(VrrpState::Master))
                .count();
            if masters != 1 {
                why.push(format!("VRRP instance {inst} has {masters} masters"));
            }
        }
        for (i, s) in st.iter().enumerate() {
            for c in s.iter().flat_map(|s| &s.checks) {
                if c.state != "up" {
                    why.push(format!(
                        "check {} is {} on {}",
                        c.name, c.state, self.bed.nodes[i].name
                    ));
                }
            }
        }
        why.extend(self.route_mismatches(&st));
        if self.traffic.is_some() || !self.snat.is_empty() {
            let (done, failed) = self.recent_requests(300);
            if failed > 0 {
                why.push(format!("{failed} of the last {done} requests failed"));
            }
        }
        why.retain(|w| !self.tolerated.contains(&kind_of(w)));
        why
    }

    /// Waits until the pair is steady for `calm`, up to `limit`; the time it took and what
    /// held it up longest (if anything), or what was still wrong at the limit.
    pub fn wait_steady(
        &self,
        limit: Duration,
        calm: Duration,
    ) -> Result<(Duration, Option<String>), Vec<String>> {
        let start = Instant::now();
        let mut since: Option<Instant> = None;
        let mut seen: std::collections::BTreeMap<String, u32> = Default::default();
        loop {
            let why = self.unsteady();
            if why.is_empty() {
                let s = *since.get_or_insert_with(Instant::now);
                if s.elapsed() >= calm {
                    let longest = seen.into_iter().max_by_key(|(_, n)| *n).map(|(w, _)| w);
                    return Ok((s - start, longest));
                }
            } else {
                since = None;
                for w in &why {
                    // Counts vary from poll to poll; the kind of reason is what repeats.
                    *seen.entry(kind_of(w)).or_default() += 1;
                }
                if start.elapsed() > limit {
                    return Err(why);
                }
            }
            std::thread::sleep(Duration::from_millis(50));
        }
    }

    /// The namespace names of hosts of `role`, with their plan index.
    pub fn hosts_of(&self, role: Role) -> Vec<usize> {
        self.bed
            .plan
            .hosts
            .iter()
            .enumerate()
            .filter(|(_, h)| h.role == role)
            .map(|(i, _)| i)
            .collect()
    }
}

pub fn state_of(s: &Status, instance: &str) -> Option<VrrpState> {
    s.vrrp.iter().find(|v| v.name == instance).map(|v| v.state)
}
