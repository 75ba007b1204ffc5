//! `applianced drill --scenario chaos`: random events against an HA pair with traffic, and
//! after each the invariants checked once the system should have settled.
//!
//! Events (drawn by a seeded generator in rounds: each round is every kind once, in random
//! order, so any run of 7 events or more has each kind): a node SIGKILLed and restarted, a
//! node SIGSTOPped for 0.1-2 s, a node's LAN link down for 0.2-2 s, a reload with a valid
//! changed file (priority ±10), a reload with an invalid file, the backend killed and
//! restarted, the BGP router (BIRD) killed and restarted.
//!
//! Invariants: exactly one VRRP master, the one of highest priority (`one_master`); the VIP
//! never on both live nodes longer than one advertisement interval (`vip_overlap`); nothing in
//! a node's namespace that its running daemon does not own, a restarted master's leftovers
//! swept (`leftovers`); counters that never go back within a daemon's life (`counters`);
//! resident memory bounded (`memory`); daemons that exit only when the drill kills them
//! (`daemon_exit`); a valid reload applied in place without a transition, an invalid one
//! refused with nothing changed (`reload`); the health check following the backend
//! (`health`); the router's route following the master (`bgp`); VRRP settled within
//! 3 × advert + skew + 1 s (`settle`); an event that touches only the backup, the backend or
//! the router moves mastership not even for a moment (`stable_master`).

mod bed;
mod invariants;
mod overlap;
pub mod report;
mod traffic;

use std::process::ExitCode;
use std::time::{Duration, Instant, SystemTime, UNIX_EPOCH};

use lab::{Lab, Signal};

use super::rng::Rng;
use bed::{node_config, Bed, BASE_PRIORITY, INSTANCE, VIP};
use invariants::{observe, violation, Memory, Monotonic, Observation, Violation};
use report::{event_line, EventRecord, Report};

/// How long a run lasts: a number of events or of minutes.
#[derive(Debug, Clone, Copy)]
pub enum Length {
    Events(u64),
    Minutes(f64),
}

#[derive(Debug, Clone, Copy)]
pub struct Options {
    pub length: Length,
    pub seed: u64,
    pub interval_ms: u64,
}

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Kind {
    Crash,
    Stop,
    LinkFlap,
    ReloadValid,
    ReloadInvalid,
    Backend,
    BgpPeer,
}

impl Kind {
    pub const ALL: [Kind; 7] = [
        Kind::Crash,
        Kind::Stop,
        Kind::LinkFlap,
        Kind::ReloadValid,
        Kind::ReloadInvalid,
        Kind::Backend,
        Kind::BgpPeer,
    ];

    pub fn name(self) -> &'static str {
        match self {
            Kind::Crash => "crash",
            Kind::Stop => "sigstop",
            Kind::LinkFlap => "link-flap",
            Kind::ReloadValid => "reload",
            Kind::ReloadInvalid => "reload-invalid",
            Kind::Backend => "backend-fail",
            Kind::BgpPeer => "bgp-peer-restart",
        }
    }
}

/// Measurement slack on top of the RFC bound for the overlap: the two `ip monitor` processes
/// timestamp what they read, each after its own scheduling delay.
const OVERLAP_TOLERANCE_MS: f64 = 50.0;
/// Slack on top of Master_Down_Interval for VRRP to settle (process start, polling).
const VRRP_MARGIN_MS: u64 = 1000;
/// Health check and BGP: a session to re-establish takes BIRD's connect retry and error
/// wait (1-2 s) and the node's idle hold (1 s, doubling).
const SETTLE_LIMIT: Duration = Duration::from_secs(20);
/// A restarted daemon removes its predecessor's addresses before anything else it does.
const SWEEP_LIMIT: Duration = Duration::from_secs(2);
/// The backend check goes down on the second failure: interval + fastinter + timeouts.
const HEALTH_LIMIT: Duration = Duration::from_secs(3);

fn unix_us() -> i64 {
    SystemTime::now()
        .duration_since(UNIX_EPOCH)
        .map(|d| d.as_micros() as i64)
        .unwrap_or(0)
}

/// Master_Down_Interval of the backup (priority 100) plus the margin.
pub fn vrrp_settle_bound_ms(interval_ms: u64) -> u64 {
    let skew = (256 - 100) * interval_ms / 256;
    3 * interval_ms + skew + VRRP_MARGIN_MS
}

struct Chaos {
    bed: Bed,
    rng: Rng,
    opts: Options,
    mono: Monotonic,
    mem: Memory,
    start: Instant,
    seq: u64,
    /// Daemon exits found at a look, reported with the event in progress.
    pending: Vec<Violation>,
    /// Per kind (in [`Kind::ALL`] order), the node its next event targets.
    next_target: [usize; 7],
}

/// Runs the drill in `lab`; `progress` prints each event's line as it completes.
pub fn run_in(lab: Lab, opts: Options, progress: bool) -> Report {
    let bed = Bed::new(lab, opts.interval_ms);
    let mut rng = Rng::new(opts.seed);
    let next_target = std::array::from_fn(|_| rng.range(0, 1) as usize);
    let mut c = Chaos {
        bed,
        rng,
        next_target,
        opts,
        mono: Monotonic::default(),
        mem: Memory::default(),
        start: Instant::now(),
        seq: 0,
        pending: Vec::new(),
    };
    // The starting point must itself be settled: that is the state every event disturbs.
    let initial = c.settle(Instant::now(), "up");
    let mut events = Vec::new();
    if !initial.2.is_empty() {
        events.push(EventRecord {
            seq: 0,
            t_ms: 0,
            kind: "start",
            target: "-".into(),
            detail: "both nodes started".into(),
            vrrp_settle_ms: initial.0,
            settle_ms: initial.1,
            overlap_ms: 0.0,
            pings_lost: 0,
            violations: initial.2,
        });
    }
    c.start = Instant::now();
    let mut round: Vec<Kind> = Vec::new();
    loop {
        let done = match opts.length {
            Length::Events(n) => c.seq >= n,
            Length::Minutes(m) => c.start.elapsed().as_secs_f64() >= m * 60.0,
        };
        if done {
            break;
        }
        if round.is_empty() {
            round = Kind::ALL.to_vec();
            c.rng.shuffle(&mut round);
        }
        let kind = round.pop().expect("refilled above");
        let e = c.event(kind);
        if progress {
            println!("{}", event_line(&e));
        }
        events.push(e);
    }
    let duration_s = c.start.elapsed().as_secs_f64();
    let mut final_violations = std::mem::take(&mut c.pending);
    for (i, n) in c.bed.nodes.iter().enumerate() {
        if let Some(st) = n.app.proc().try_status() {
            final_violations.push(violation(
                "daemon_exit",
                format!("lb{} exited on its own: {st}", i + 1),
            ));
        }
    }
    let (sent, received) = c.bed.stop_ping();
    if !final_violations.is_empty() || events.iter().any(|e| !e.violations.is_empty()) {
        c.bed.lab.keep_artifacts();
    }
    Report {
        seed: opts.seed,
        interval_ms: opts.interval_ms,
        duration_s,
        overlap_bound_ms: opts.interval_ms as f64 + OVERLAP_TOLERANCE_MS,
        vrrp_settle_bound_ms: vrrp_settle_bound_ms(opts.interval_ms),
        events,
        max_rss_kib: c.mem.max_kib(),
        max_rss_growth_kib: c.mem.max_growth_kib(),
        pings_sent: sent,
        pings_received: received,
        final_violations,
    }
}

/// The command: builds the lab in the temporary directory, prints the report; fails when an
/// invariant was violated.
pub fn run(opts: Options, json: bool) -> ExitCode {
    let lab = Lab::new_in(&std::env::temp_dir(), "chaos-drill");
    let artifacts = lab.artifacts().to_path_buf();
    if !json {
        println!(
            "chaos drill: 2 appliance nodes (VRRP {} ms, BGP to BIRD, HTTP check of a backend), \
             client pinging the VIP every 10 ms; seed {}",
            opts.interval_ms, opts.seed
        );
    }
    let report = run_in(lab, opts, !json);
    if json {
        println!(
            "{}",
            serde_json::to_string_pretty(&report.to_json()).expect("JSON of numbers and names")
        );
    } else {
        print!("{}", report.summary_text());
    }
    if report.violations().is_empty() {
        ExitCode::SUCCESS
    } else {
        eprintln!(
            "chaos drill: invariants violated; logs kept in {}",
            artifacts.display()
        );
        ExitCode::FAILURE
    }
}

impl Chaos {
    fn sleep_ms(&mut self, lo: u64, hi: u64) -> u64 {
        let ms = self.rng.range(lo, hi);
        std::thread::sleep(Duration::from_millis(ms));
        ms
    }

    /// Every look: daemons alive (restarted if not, so the run goes on), counters, memory.
    fn look(&mut self) -> Observation {
        for i in 0..self.bed.nodes.len() {
            let n = &mut self.bed.nodes[i];
            if let Some(st) = n.app.proc().try_status() {
                self.pending.push(violation(
                    "daemon_exit",
                    format!("{} exited on its own: {st}", n.name),
                ));
                n.app.start();
            }
            let pid = n.app.proc().pid();
            if let Some(v) = self.mem.sample(i, pid) {
                self.pending.push(v);
            }
        }
        let o = observe(&self.bed);
        for (i, st) in o.status.iter().enumerate() {
            if let Some(st) = st {
                let v = self.mono.check(i, st);
                self.pending.extend(v);
            }
        }
        o
    }

    /// Polls until VRRP, the kernel, the health check (`check` state) and the router agree;
    /// returns (VRRP settle ms, full settle ms, violations).
    fn settle(
        &mut self,
        since: Instant,
        check: &str,
    ) -> (Option<u64>, Option<u64>, Vec<Violation>) {
        let mut vrrp_ms = None;
        let mut out = Vec::new();
        let full_ms = loop {
            let o = self.look();
            let elapsed = since.elapsed();
            let vrrp = o.one_master().and_then(|_| o.no_leftovers(&self.bed));
            if vrrp.is_ok() && vrrp_ms.is_none() {
                vrrp_ms = Some(elapsed.as_millis() as u64);
            }
            let rest = o.health(check).and_then(|_| o.bgp(&self.bed));
            if vrrp.is_ok() && rest.is_ok() {
                break Some(elapsed.as_millis() as u64);
            }
            if elapsed > SETTLE_LIMIT {
                if let Err(e) = o.one_master() {
                    out.push(violation("one_master", e));
                }
                if let Err(e) = o.no_leftovers(&self.bed) {
                    out.push(violation("leftovers", e));
                }
                if let Err(e) = o.health(check) {
                    out.push(violation("health", e));
                }
                if let Err(e) = o.bgp(&self.bed) {
                    out.push(violation("bgp", e));
                }
                break None;
            }
            std::thread::sleep(Duration::from_millis(20));
        };
        let bound = vrrp_settle_bound_ms(self.opts.interval_ms);
        if let Some(ms) = vrrp_ms.filter(|&ms| ms > bound) {
            out.push(violation(
                "settle",
                format!("VRRP settled after {ms} ms, bound {bound} ms"),
            ));
        }
        (vrrp_ms, full_ms, out)
    }

    fn status_or(&self, i: usize, v: &mut Vec<Violation>) -> Option<crate::status::Status> {
        let st = self.bed.status(i);
        if st.is_none() {
            v.push(violation(
                "reload",
                format!("lb{}: no status after the reload", i + 1),
            ));
        }
        st
    }

    /// Per node: (pid, master transitions, master now).
    fn mastership(&self) -> Vec<(u32, u64, bool)> {
        (0..self.bed.nodes.len())
            .map(|i| {
                self.bed
                    .status(i)
                    .map(|s| {
                        let v = s.vrrp.iter().find(|v| v.name == INSTANCE);
                        (
                            s.daemon.pid,
                            v.map(|v| v.counters.master_transitions).unwrap_or(0),
                            v.is_some_and(|v| v.state == crate::vrrpd::VrrpState::Master),
                        )
                    })
                    .unwrap_or_default()
            })
            .collect()
    }

    fn transitions(&self) -> Vec<u64> {
        (0..self.bed.nodes.len())
            .map(|i| {
                self.bed
                    .status(i)
                    .and_then(|s| s.vrrp.into_iter().find(|v| v.name == INSTANCE))
                    .map(|v| v.counters.master_transitions)
                    .unwrap_or(0)
            })
            .collect()
    }

    fn event(&mut self, kind: Kind) -> EventRecord {
        self.seq += 1;
        let t_ms = self.start.elapsed().as_millis() as u64;
        let from_us = unix_us();
        // Each kind alternates between the nodes from a random first one, so that two rounds
        // break the master and the backup alike.
        let k = Kind::ALL.iter().position(|&x| x == kind).unwrap_or(0);
        let t = self.next_target[k];
        self.next_target[k] = 1 - t;
        let mut target = self.bed.nodes[t].name.clone();
        let before = self.mastership();
        let mut excluded = Vec::new();
        let mut v = Vec::new();
        let detail: String;
        let mut swept_check = None;
        match kind {
            Kind::Crash => {
                let had_vip = self.bed.has_vip(t);
                self.bed.nodes[t].app.proc().kill();
                let dead = unix_us();
                let ms = self.sleep_ms(100, 1500);
                let restart = unix_us();
                excluded.push((dead, restart));
                self.bed.nodes[t].app.start();
                swept_check = Some((had_vip, restart));
                detail = format!(
                    "SIGKILL{}, restarted after {ms} ms",
                    if had_vip { " (holding the VIP)" } else { "" }
                );
            }
            Kind::Stop => {
                let p = self.bed.nodes[t].app.proc().clone();
                let _ = p.signal(Signal::SIGSTOP);
                let stopped = unix_us();
                let ms = self.sleep_ms(100, 2000);
                excluded.push((stopped, unix_us()));
                let _ = p.signal(Signal::SIGCONT);
                detail = format!("SIGSTOP for {ms} ms, then SIGCONT");
            }
            Kind::LinkFlap => {
                self.bed.nodes[t].ns.set_down("eth0");
                let down = unix_us();
                let ms = self.sleep_ms(200, 2000);
                excluded.push((down, unix_us()));
                self.bed.nodes[t].ns.set_up("eth0");
                detail = format!("eth0 down for {ms} ms");
            }
            Kind::ReloadValid => {
                let before = self.transitions();
                let gen = self
                    .status_or(t, &mut v)
                    .map(|s| s.daemon.config_generation);
                let base = BASE_PRIORITY[t];
                let now = self.bed.nodes[t].priority;
                let choices: Vec<u8> = [base - 10, base, base + 10]
                    .into_iter()
                    .filter(|&p| p != now)
                    .collect();
                let p = choices[self.rng.range(0, choices.len() as u64 - 1) as usize];
                let n = &mut self.bed.nodes[t];
                n.app
                    .write_config(&node_config(t, p, self.opts.interval_ms));
                n.priority = p;
                let out = n.app.appctl(&["reload"]);
                detail = format!("priority {now} -> {p}");
                if !out.status.success() {
                    v.push(violation(
                        "reload",
                        format!(
                            "valid file refused: {}",
                            String::from_utf8_lossy(&out.stderr).trim()
                        ),
                    ));
                } else if let Some(st) = self.status_or(t, &mut v) {
                    let inst = st.vrrp.iter().find(|i| i.name == INSTANCE);
                    if Some(st.daemon.config_generation) != gen.map(|g| g + 1) {
                        v.push(violation(
                            "reload",
                            format!(
                                "generation {} after a reload from {gen:?}",
                                st.daemon.config_generation
                            ),
                        ));
                    }
                    if inst.map(|i| i.base_priority) != Some(p) {
                        v.push(violation(
                            "reload",
                            format!(
                                "priority {:?} after the reload, want {p}",
                                inst.map(|i| i.base_priority)
                            ),
                        ));
                    }
                }
                let after = self.transitions();
                if after != before {
                    v.push(violation(
                        "reload",
                        format!(
                            "master transitions {before:?} -> {after:?}: the reload disturbed VRRP"
                        ),
                    ));
                }
            }
            Kind::ReloadInvalid => {
                let before = self.transitions();
                let st0 = self.status_or(t, &mut v);
                let good = node_config(t, self.bed.nodes[t].priority, self.opts.interval_ms);
                let variants: [(&str, String); 5] = [
                    (
                        "priority 300",
                        good.replace(
                            &format!("priority = {}\n", self.bed.nodes[t].priority),
                            "priority = 300\n",
                        ),
                    ),
                    (
                        "shutdown_grace 1e20s",
                        good.replace("shutdown_grace = \"3s\"", "shutdown_grace = \"1e20s\""),
                    ),
                    ("TOML syntax error", format!("{good}\n[vrrp.instance\n")),
                    ("unknown key", good.replace("preempt = ", "preemt = ")),
                    (
                        "unknown check",
                        good.replace(&format!("check = \"{}\"", bed::CHECK), "check = \"nope\""),
                    ),
                ];
                let (what, text) = &variants[self.rng.range(0, variants.len() as u64 - 1) as usize];
                let n = &self.bed.nodes[t];
                n.app.write_config(text);
                let out = n.app.appctl(&["reload"]);
                // Restored at once: a restart (a later crash) reads the file.
                n.app.write_config(&good);
                detail = format!("invalid file: {what}");
                if out.status.success() {
                    v.push(violation(
                        "reload",
                        format!("invalid file ({what}) accepted"),
                    ));
                }
                if let Some(st) = n.app.proc().try_status() {
                    v.push(violation(
                        "daemon_exit",
                        format!("{} exited on an invalid reload: {st}", n.name),
                    ));
                    self.bed.nodes[t].app.start();
                } else if let (Some(st0), Some(st)) = (st0, self.status_or(t, &mut v)) {
                    if st.daemon.config_generation != st0.daemon.config_generation {
                        v.push(violation(
                            "reload",
                            format!(
                                "generation {} -> {} on a refused reload",
                                st0.daemon.config_generation, st.daemon.config_generation
                            ),
                        ));
                    }
                    if st.daemon.last_reload.as_ref().is_none_or(|r| r.ok) {
                        v.push(violation(
                            "reload",
                            "status does not show the refused reload",
                        ));
                    }
                }
                let after = self.transitions();
                if after != before {
                    v.push(violation(
                        "reload",
                        format!("master transitions {before:?} -> {after:?} on a refused reload"),
                    ));
                }
            }
            Kind::Backend => {
                target = "backend".into();
                self.bed.kill_backend();
                let killed = Instant::now();
                let followed = loop {
                    let o = self.look();
                    if o.health("down").is_ok() {
                        break Some(killed.elapsed().as_millis());
                    }
                    if killed.elapsed() > HEALTH_LIMIT {
                        v.push(violation(
                            "health",
                            format!("backend killed, check not down within {HEALTH_LIMIT:?}"),
                        ));
                        break None;
                    }
                    std::thread::sleep(Duration::from_millis(20));
                };
                let o = self.look();
                if let Err(e) = o.one_master() {
                    v.push(violation("one_master", format!("backend down: {e}")));
                }
                let ms = self.sleep_ms(0, 1000);
                self.bed.start_backend();
                detail = format!(
                    "killed; check down after {} ms; restarted after {ms} ms more",
                    followed
                        .map(|m| m.to_string())
                        .unwrap_or_else(|| "-".into())
                );
            }
            Kind::BgpPeer => {
                target = "router".into();
                self.bed.kill_bird();
                let ms = self.sleep_ms(100, 1500);
                self.bed.start_bird();
                detail = format!("BIRD killed, restarted after {ms} ms");
            }
        }
        let (vrrp_ms, settle_ms, sv) = self.settle(Instant::now(), "up");
        v.extend(sv);
        // An event that touches only the backup, the backend or the router must not move
        // mastership, not even for a moment (a transient master sends adverts and gratuitous
        // ARPs that pull the clients away). Reloads have their own check above.
        let touches_master = before.get(t).is_some_and(|m| m.2);
        let node_event = matches!(kind, Kind::Crash | Kind::Stop | Kind::LinkFlap);
        let reload = matches!(kind, Kind::ReloadValid | Kind::ReloadInvalid);
        let spared = reload || (node_event && touches_master);
        if !spared {
            let after = self.mastership();
            // A node whose status could not be read (pid 0) is judged by the other invariants.
            for (i, (b, a)) in before.iter().zip(after).enumerate() {
                if b.0 == 0 || a.0 == 0 {
                    continue;
                }
                // A restarted daemon counts from zero.
                let expected = if a.0 == b.0 { b.1 } else { 0 };
                if a.1 != expected {
                    v.push(violation(
                        "stable_master",
                        format!(
                            "lb{}: {} master transition(s) during an event that did not touch the master",
                            i + 1,
                            a.1 - expected.min(a.1)
                        ),
                    ));
                }
            }
        }
        let mut detail = detail;
        if let Some((true, restart)) = swept_check {
            let removed = self
                .bed
                .status(t)
                .map(|s| s.daemon.leftovers_removed)
                .unwrap_or(0);
            if removed == 0 {
                v.push(violation(
                    "leftovers",
                    format!("{target} died holding {VIP}; the restart swept nothing"),
                ));
            }
            // The dead daemon's address stays until the new one sweeps it at start: that is
            // the start-up's work, bounded by SWEEP_LIMIT, not VRRP's; the overlap that counts
            // starts once it is gone.
            let now = unix_us();
            let leftover = overlap::presence(&self.bed.nodes[t].monitor.log(), VIP, now)
                .into_iter()
                .find(|&(a, b)| a <= restart && restart < b);
            if let Some((_, swept)) = leftover {
                let ms = (swept - restart) / 1000;
                detail.push_str(&format!(", its VIP swept {ms} ms after the restart"));
                if swept >= now || ms > SWEEP_LIMIT.as_millis() as i64 {
                    v.push(violation(
                        "leftovers",
                        format!("{target}'s leftover {VIP} not swept within {SWEEP_LIMIT:?} of the restart"),
                    ));
                }
                excluded.push((restart, swept));
            }
        }
        let overlap_ms = self.overlap_ms(from_us, &excluded);
        let pings_lost = self
            .bed
            .ping
            .as_ref()
            .map(|p| traffic::lost_since(&p.log(), from_us))
            .unwrap_or(0);
        let bound = self.opts.interval_ms as f64 + OVERLAP_TOLERANCE_MS;
        if overlap_ms > bound {
            v.push(violation(
                "vip_overlap",
                format!("{VIP} on both nodes for {overlap_ms:.1} ms, bound {bound:.0} ms"),
            ));
        }
        v.append(&mut self.pending);
        EventRecord {
            seq: self.seq,
            t_ms,
            kind: kind.name(),
            target,
            detail,
            vrrp_settle_ms: vrrp_ms,
            settle_ms,
            overlap_ms,
            pings_lost,
            violations: v,
        }
    }

    fn overlap_ms(&self, from_us: i64, excluded: &[overlap::Interval]) -> f64 {
        // The monitors write each change as it comes; a moment lets the last lines land.
        std::thread::sleep(Duration::from_millis(50));
        let now = unix_us();
        let p: Vec<Vec<overlap::Interval>> = self
            .bed
            .nodes
            .iter()
            .map(|n| overlap::presence(&n.monitor.log(), VIP, now))
            .collect();
        overlap::longest_overlap(&p[0], &p[1], excluded, from_us, now) as f64 / 1000.0
    }
}
