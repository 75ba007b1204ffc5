//! The scenarios, each on the steady pair and followed by its recovery: what breaks, when the
//! drill calls the pair settled again, and what it undoes afterwards.

use std::net::IpAddr;
use std::time::{Duration, Instant};

use lab::Signal;

use super::capture::{self, Capture};
use super::node_text;
use super::plan::Role;
use super::rehearsal::Rehearsal;
use super::traffic::now_us;
use crate::control::protocol::Command;

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Scenario {
    Crash,
    Graceful,
    LinkDown,
    BackendFail,
    BgpPeerLost,
    BadReload,
}

impl Scenario {
    pub const ALL: [Scenario; 6] = [
        Scenario::Crash,
        Scenario::Graceful,
        Scenario::LinkDown,
        Scenario::BackendFail,
        Scenario::BgpPeerLost,
        Scenario::BadReload,
    ];

    pub fn name(self) -> &'static str {
        match self {
            Scenario::Crash => "crash",
            Scenario::Graceful => "graceful",
            Scenario::LinkDown => "link-down",
            Scenario::BackendFail => "backend-fail",
            Scenario::BgpPeerLost => "bgp-peer-lost",
            Scenario::BadReload => "bad-reload",
        }
    }

    pub fn parse(s: &str) -> Option<Scenario> {
        Scenario::ALL.into_iter().find(|x| x.name() == s)
    }

    /// Whether the master is expected to change.
    pub fn fails_over(self) -> bool {
        matches!(
            self,
            Scenario::Crash | Scenario::Graceful | Scenario::LinkDown
        )
    }
}

/// Traffic before the event, so the timeline shows the steady state it breaks.
const LEAD: Duration = Duration::from_millis(800);
/// Traffic after the pair settled, on the timeline.
const TAIL: Duration = Duration::from_millis(700);
/// How long the pair must stay steady to count as recovered.
pub const CALM: Duration = Duration::from_millis(500);
pub const RECOVERY_LIMIT: Duration = Duration::from_secs(40);

/// What one scenario did and measured (the report's row before the figures are counted).
#[derive(Debug, Clone)]
pub struct Run {
    pub scenario: Scenario,
    /// What broke: a node, a backend, a router's session.
    pub target: String,
    pub action: String,
    /// The window: from before the event to after the pair settled.
    pub from_us: i64,
    pub event_us: i64,
    pub to_us: i64,
    /// The end of the recovery.
    pub end_us: i64,
    pub master_before: Option<usize>,
    pub master_after: Option<usize>,
    pub failover_ms: Option<f64>,
    /// `capture` or `events` (VRRP state changes, when the capture could not time it).
    pub failover_source: Option<&'static str>,
    /// RFC 9568's time for the backup: Master_Down_Interval, or Skew_Time for a graceful stop.
    pub rfc_ms: Option<f64>,
    pub route_convergence_ms: Option<f64>,
    pub settled: bool,
    pub detail: String,
    pub problems: Vec<String>,
    pub recovery_ms: Option<u64>,
    /// What kept a slow recovery (over 3 s) from being steady, most of the time.
    pub recovery_held_by: Option<String>,
    /// Connections open when the event came.
    pub connections: usize,
    /// Connections through the SNAT gateway open when the event came.
    pub snat_connections: usize,
    /// The same, per origin of [`Rehearsal::snat`].
    pub snat_connections_by: Vec<usize>,
}

impl Rehearsal {
    /// Runs `s` and its recovery. `Err` when the scenario cannot be carried out (nothing to
    /// break) or the pair does not recover (the scenarios after it would mean nothing).
    pub fn run(&mut self, s: Scenario, n: usize) -> Result<Run, String> {
        let Some(m) = self.master() else {
            return Err("no single master before the scenario".into());
        };
        let other = 1 - m;
        let pcap = self
            .bed
            .lab
            .artifact_path(&format!("{}-{}.pcap", n + 1, s.name()));
        let front = self.bed.plan.front.clone();
        let sw = self.bed.switches[&front.interface].clone();
        let cap = Capture::start(&sw, &format!("tcpdump-{}", s.name()), "br0", pcap)?;
        let from_us = now_us();
        std::thread::sleep(LEAD);
        let connections = self.traffic.as_ref().map_or(0, |t| t.alive());
        let snat_connections_by: Vec<usize> = self.snat.iter().map(|t| t.alive()).collect();
        let snat_connections = snat_connections_by.iter().sum();
        let rfc_ms = self.rfc_ms(s, other);
        let mut problems = Vec::new();
        let mut detail = String::new();
        // A router may keep a dead node's path until its hold timer expires: the window waits
        // for that, so the convergence is measured, not cut short.
        let mut limit = (self.hold_time() + Duration::from_secs(5)).max(Duration::from_secs(15));
        let mut backend: Option<usize> = None;
        let (target, action) = match s {
            Scenario::Crash | Scenario::Graceful | Scenario::LinkDown => {
                let name = self.bed.nodes[m].name.clone();
                let a = match s {
                    Scenario::Crash => format!("SIGKILL applianced on {name} (master)"),
                    Scenario::Graceful => format!("SIGTERM applianced on {name} (master)"),
                    _ => format!("{} down on {name} (master)", front.interface),
                };
                (name, a)
            }
            Scenario::BackendFail => {
                let b = self.backend_to_fail().ok_or("no backend to fail")?;
                backend = Some(b);
                let h = &self.bed.plan.hosts[b];
                let ip = h.links[0].addrs[0].ip();
                (
                    h.name.clone(),
                    format!("backend {} ({ip}) stops serving", h.name),
                )
            }
            Scenario::BgpPeerLost => {
                if self.bed.routers.is_empty() {
                    return Err("no BGP router".into());
                }
                let host = self.bed.plan.hosts[self.bed.plan.routers[0].host]
                    .name
                    .clone();
                (
                    host,
                    format!(
                        "router {} stops its session to {} (master)",
                        self.bed.plan.hosts[self.bed.plan.routers[0].host].name,
                        self.bed.nodes[m].name
                    ),
                )
            }
            Scenario::BadReload => (
                self.bed.nodes[m].name.clone(),
                format!(
                    "reload of a broken file on {} (master)",
                    self.bed.nodes[m].name
                ),
            ),
        };

        // The event.
        let event_us = self.mark(action.clone());
        let generation = self.bed.nodes[m]
            .status()
            .map(|s| s.daemon.config_generation);
        match s {
            Scenario::Crash => {
                self.bed.nodes[m].app.proc().kill();
                self.node_down(m, event_us);
            }
            Scenario::Graceful => {
                // The daemon runs on while it resigns and withdraws; it is down once it exits.
                let _ = self.bed.nodes[m].app.proc().signal(Signal::SIGTERM);
            }
            Scenario::LinkDown => {
                let n = &self.bed.nodes[m];
                n.ns.set_down(&front.interface);
            }
            Scenario::BackendFail => {
                let b = backend.expect("chosen above");
                let name = self.bed.plan.hosts[b].name.clone();
                if let Some(srv) = self.bed.servers.iter().find(|x| x.host == name) {
                    srv.stop();
                }
                limit = self.check_down_bound(b) + Duration::from_secs(3);
            }
            Scenario::BgpPeerLost => {
                let name = super::router::session_name(m);
                self.bed.routers[0].birdc(&["disable", &name])?;
                self.disabled.insert((0, m));
            }
            Scenario::BadReload => {
                let node = &self.bed.nodes[m];
                let bad = node_text::broken(&node.app.render(&node.text))?;
                std::fs::write(&node.app.config, bad).map_err(|e| e.to_string())?;
                let r = node.call(Command::Reload);
                // The good file back at once: the daemon must never have left it.
                node.app.write_config(&node.text);
                match r {
                    Ok(_) => problems.push("the broken file was accepted".into()),
                    Err(e) => {
                        detail = format!("refused: {}", e.lines().next().unwrap_or(""));
                    }
                }
                limit = Duration::from_secs(2);
            }
        }

        // Settling.
        let start = Instant::now();
        let mut exited = false;
        let settled = loop {
            if s == Scenario::Graceful && !exited && !self.bed.nodes[m].running() {
                exited = true;
                self.node_down(m, now_us());
            }
            let st = self.statuses();
            let master_ok = if s.fails_over() {
                self.master() == Some(other)
            } else {
                true
            };
            let checks_ok = match backend {
                Some(b) => self.checks_of(b).iter().all(|(node, check)| {
                    st[*node].as_ref().is_some_and(|x| {
                        x.checks
                            .iter()
                            .any(|c| &c.name == check && c.state == "down")
                    })
                }),
                None => true,
            };
            let fixed = s == Scenario::BadReload;
            let graceful_done = s != Scenario::Graceful || !self.bed.nodes[m].running();
            if !fixed && master_ok && checks_ok && graceful_done && self.routes_as_expected(&st) {
                let (done, failed) = self.recent_requests(300);
                if failed == 0 || done == 0 {
                    break true;
                }
            }
            if start.elapsed() > limit {
                break fixed;
            }
            std::thread::sleep(Duration::from_millis(20));
        };
        if s == Scenario::Graceful {
            let st = self.bed.nodes[m].app.proc().wait_timeout(self.stop_limit());
            if !exited {
                self.node_down(m, now_us());
            }
            self.read_back_log(m);
            match st {
                Some(x) if x.success() => {}
                Some(x) => problems.push(format!("{} stopped with {x}", self.bed.nodes[m].name)),
                None => problems.push(format!(
                    "{} did not stop within {} s of SIGTERM",
                    self.bed.nodes[m].name,
                    self.stop_limit().as_secs()
                )),
            }
        }
        // An exchange in flight across the event may still be retransmitting: the window stays
        // open until every open connection has been answered since the pair settled (or broke).
        self.wait_answered(now_us());
        std::thread::sleep(TAIL);
        let to_us = now_us();
        let frames = cap.finish();

        // What happened.
        let master_after = self.master();
        if s.fails_over() && master_after != Some(other) {
            problems.push(format!("{} did not take over", self.bed.nodes[other].name));
        }
        if !s.fails_over() && master_after != Some(m) {
            problems.push(format!(
                "the master moved although {} kept running",
                self.bed.nodes[m].name
            ));
        }
        if !settled {
            problems.push(format!(
                "not settled within {:.1} s: {}",
                limit.as_secs_f64(),
                self.unsteady().join("; ")
            ));
        }
        let (failover_ms, failover_source) = self.failover(&frames, event_us, m);
        let (route_at, changed) = self.routes_settled_at(event_us);
        let route_convergence_ms = if self.routes.is_empty() || !changed {
            None
        } else {
            route_at.map(|t| (t - event_us) as f64 / 1000.0)
        };
        if s == Scenario::BadReload {
            let now = self.bed.nodes[m]
                .status()
                .map(|s| s.daemon.config_generation);
            if now != generation {
                problems.push(format!(
                    "the running configuration changed (generation {generation:?} -> {now:?})"
                ));
            }
        }

        // Recovery.
        let rec = Instant::now();
        match s {
            Scenario::Crash | Scenario::Graceful => {
                self.bed.start_node(m)?;
                let t = self.mark(format!("{} restarted", self.bed.nodes[m].name));
                self.node_up(m, t);
            }
            Scenario::LinkDown => {
                self.bed.nodes[m].ns.set_up(&front.interface);
                self.mark(format!(
                    "{} up on {}",
                    front.interface, self.bed.nodes[m].name
                ));
            }
            Scenario::BackendFail => {
                let name = self.bed.plan.hosts[backend.expect("chosen")].name.clone();
                if let Some(srv) = self.bed.servers.iter().find(|x| x.host == name) {
                    srv.start()?;
                }
                self.mark(format!("backend {name} serves again"));
            }
            Scenario::BgpPeerLost => {
                let name = super::router::session_name(m);
                self.bed.routers[0].birdc(&["enable", &name])?;
                self.disabled.remove(&(0, m));
                self.mark("router's session enabled");
            }
            Scenario::BadReload => {}
        }
        let recovery = self.wait_steady(RECOVERY_LIMIT, CALM).map_err(|why| {
            format!(
                "the pair did not recover after {} within {} s: {}",
                s.name(),
                RECOVERY_LIMIT.as_secs(),
                why.join("; ")
            )
        })?;
        // What the recovery itself breaks (a preempting master takes the VIPs back) is counted
        // apart, once every connection has been answered since the pair was steady again.
        self.wait_answered(now_us());
        self.reopen();
        let end_us = now_us();
        let recovery_held_by = recovery.1.filter(|_| recovery.0 > Duration::from_secs(3));
        Ok(Run {
            scenario: s,
            target,
            action,
            from_us,
            event_us,
            to_us,
            end_us,
            master_before: Some(m),
            master_after,
            failover_ms,
            failover_source,
            rfc_ms,
            route_convergence_ms,
            settled,
            detail,
            problems,
            recovery_ms: Some(rec.elapsed().as_millis() as u64),
            recovery_held_by,
            connections,
            snat_connections,
            snat_connections_by,
        })
    }

    /// Waits until every open connection has had an exchange answered at or after `t_us`,
    /// at most the connection timeout and a period and a half.
    fn wait_answered(&self, t_us: i64) {
        let deadline = Instant::now() + Duration::from_millis(3_750);
        while Instant::now() < deadline
            && !self
                .traffic
                .iter()
                .chain(&self.snat)
                .all(|t| t.answered_since(t_us))
        {
            std::thread::sleep(Duration::from_millis(20));
        }
    }

    /// The longest BGP hold time of the files (zero without BGP), at most 200 s.
    fn hold_time(&self) -> Duration {
        self.bed
            .plan
            .nodes
            .iter()
            .filter_map(|n| n.config().bgp.as_ref().map(|b| b.hold_time.get()))
            .max()
            .unwrap_or_default()
            .min(Duration::from_secs(200))
    }

    /// How long a SIGTERMed daemon may take to exit: its `shutdown_grace` and 5 s.
    fn stop_limit(&self) -> Duration {
        let grace = self
            .bed
            .plan
            .nodes
            .iter()
            .map(|n| n.config().daemon.shutdown_grace.get())
            .max()
            .unwrap_or_default();
        grace + Duration::from_secs(5)
    }

    /// RFC 9568's failover time for the backup `b` of the timed instance.
    fn rfc_ms(&self, s: Scenario, b: usize) -> Option<f64> {
        if !s.fails_over() {
            return None;
        }
        let st = self.bed.nodes[b].status()?;
        let v = st
            .vrrp
            .iter()
            .find(|v| v.name == self.bed.plan.front.instance)?;
        Some(match s {
            Scenario::Graceful => v.skew_time_ms,
            _ => v.master_down_interval_ms,
        })
    }

    /// The failover: from the capture when it shows one, else from the VRRP state changes
    /// (the event to the other node's change to master).
    fn failover(
        &self,
        frames: &[lab::pcap::Frame],
        event_us: i64,
        old: usize,
    ) -> (Option<f64>, Option<&'static str>) {
        let front = &self.bed.plan.front;
        if let Some(vip) = front.vip {
            if let Some((ms, _)) = capture::failover(frames, event_us as f64 / 1e6, front.vrid, vip)
            {
                return (Some(ms), Some("capture"));
            }
        }
        let took = self.events().into_iter().find(|e| {
            e.node != old
                && e.t_us() >= event_us
                && e.event.object == front.instance
                && e.vrrp_change().is_some_and(|(_, to)| to == "master")
        });
        match took {
            Some(e) => (Some((e.t_us() - event_us) as f64 / 1000.0), Some("events")),
            None => (None, None),
        }
    }

    /// The backend to fail: the first one a health check watches (else the first one).
    fn backend_to_fail(&self) -> Option<usize> {
        let backends = self.hosts_of(Role::Backend);
        backends
            .iter()
            .copied()
            .find(|&b| !self.checks_of(b).is_empty())
            .or_else(|| backends.first().copied())
    }

    /// `(node, check)` of the checks that target host `h`.
    pub fn checks_of(&self, h: usize) -> Vec<(usize, String)> {
        let ips: Vec<IpAddr> = self.bed.plan.hosts[h]
            .links
            .iter()
            .flat_map(|l| l.addrs.iter().map(|a| a.ip()))
            .collect();
        let mut out = Vec::new();
        for (k, n) in self.bed.plan.nodes.iter().enumerate() {
            for (name, c) in &n.config().checks {
                let hit = c
                    .target
                    .as_deref()
                    .and_then(|t| super::addr::parse_target(t, 0))
                    .is_some_and(|(ip, _)| ips.contains(&ip));
                if hit {
                    out.push((k, name.clone()));
                }
            }
        }
        out
    }

    /// How long the checks of host `h` may take to call it down: fall x interval + timeout,
    /// the slowest of them.
    pub fn check_down_bound(&self, h: usize) -> Duration {
        self.checks_of(h)
            .iter()
            .filter_map(|(k, name)| self.bed.plan.nodes[*k].config().checks.get(name))
            .map(|c| {
                let timeout = c.timeout.map_or(c.interval.get(), |t| t.get());
                c.interval.get() * c.fall + timeout
            })
            .max()
            .unwrap_or(Duration::from_secs(5))
    }
}
