//! The rehearsal's report: per scenario the failover, the requests that failed, the
//! connections that broke, the routers' convergence and the picture's path; as a table or as
//! one JSON document.

use std::collections::BTreeMap;
use std::fmt::Write;
use std::path::PathBuf;

use serde_json::{json, Value};

use super::scenario::Run;
use super::traffic::{Break, Proto, Req};

#[derive(Debug, Clone)]
pub struct Row {
    pub run: Run,
    pub master_before: Option<String>,
    pub master_after: Option<String>,
    /// Requests sent from the event to the end of the window.
    pub requests: usize,
    pub failed_http: usize,
    pub failed_udp: usize,
    pub failed_icmp: usize,
    /// Why they failed: `timeout`, `refused`, `reset`, ...
    pub failed_by: BTreeMap<&'static str, usize>,
    pub connections_broken: usize,
    /// Why they broke: `reset`, `closed`, `timeout`, ...
    pub broken_by: BTreeMap<&'static str, usize>,
    /// Connections (services and SNAT) the recovery broke (a master taking its VIPs back).
    pub broken_in_recovery: usize,
    /// Through the SNAT gateway (when a pool has `sources`): requests sent from the event on,
    /// those that failed, connections broken.
    pub snat: Option<(usize, usize, usize)>,
    pub snat_broken_by: BTreeMap<&'static str, usize>,
    /// The same per origin: each pool's inside host, each GRE site's user.
    pub snat_by: Vec<Origin>,
    pub svg: Option<PathBuf>,
}

/// Traffic through the SNAT gateway from one origin, from the event to the end of the window.
#[derive(Debug, Clone)]
pub struct Origin {
    /// `pool NAME ADDR` or `site TUNNEL ADDR`.
    pub from: String,
    pub requests: usize,
    pub failed: usize,
    /// Open when the event came.
    pub connections: usize,
    pub broken: usize,
}

impl Row {
    pub fn new(
        run: Run,
        names: &[String],
        reqs: &[Req],
        breaks: &[Break],
        svg: Option<PathBuf>,
    ) -> Row {
        let counted: Vec<&Req> = reqs.iter().filter(|r| r.t_us >= run.event_us).collect();
        let mut failed_by = BTreeMap::new();
        for r in &counted {
            if let Some(w) = r.failed {
                *failed_by.entry(w).or_insert(0) += 1;
            }
        }
        let failed = |p: Proto| {
            counted
                .iter()
                .filter(|r| r.proto == p && r.failed.is_some())
                .count()
        };
        let name = |i: Option<usize>| i.and_then(|i| names.get(i).cloned());
        Row {
            master_before: name(run.master_before),
            master_after: name(run.master_after),
            requests: counted.len(),
            failed_http: failed(Proto::Http),
            failed_udp: failed(Proto::Udp),
            failed_icmp: failed(Proto::Icmp),
            failed_by,
            connections_broken: breaks.iter().filter(|b| b.t_us >= run.event_us).count(),
            broken_by: by_reason(breaks.iter().filter(|b| b.t_us >= run.event_us)),
            broken_in_recovery: 0,
            snat: None,
            snat_broken_by: BTreeMap::new(),
            snat_by: Vec::new(),
            svg,
            run,
        }
    }

    /// Counts the SNAT gateway's traffic of the window.
    pub fn with_snat(mut self, reqs: &[Req], breaks: &[Break]) -> Row {
        let after: Vec<&Req> = reqs
            .iter()
            .filter(|r| r.t_us >= self.run.event_us)
            .collect();
        self.snat = Some((
            after.len(),
            after.iter().filter(|r| r.failed.is_some()).count(),
            breaks
                .iter()
                .filter(|b| b.t_us >= self.run.event_us)
                .count(),
        ));
        self.snat_broken_by = by_reason(breaks.iter().filter(|b| b.t_us >= self.run.event_us));
        self
    }

    /// Counts one origin's traffic of the window (`connections`: open at the event).
    pub fn with_origin(
        mut self,
        from: &str,
        reqs: &[Req],
        breaks: &[Break],
        connections: usize,
    ) -> Row {
        let ev = self.run.event_us;
        let after: Vec<&Req> = reqs.iter().filter(|r| r.t_us >= ev).collect();
        self.snat_by.push(Origin {
            from: from.to_string(),
            requests: after.len(),
            failed: after.iter().filter(|r| r.failed.is_some()).count(),
            connections,
            broken: breaks.iter().filter(|b| b.t_us >= ev).count(),
        });
        self
    }

    pub fn requests_failed(&self) -> usize {
        self.failed_http + self.failed_udp + self.failed_icmp
    }

    pub fn to_json(&self) -> Value {
        let r = &self.run;
        json!({
            "name": r.scenario.name(),
            "target": r.target,
            "action": r.action,
            "failover_ms": r.failover_ms.map(round1),
            "failover_source": r.failover_source,
            "rfc_ms": r.rfc_ms.map(round1),
            "master_before": self.master_before,
            "master_after": self.master_after,
            "requests": self.requests,
            "requests_failed": self.requests_failed(),
            "requests_failed_http": self.failed_http,
            "requests_failed_udp": self.failed_udp,
            "requests_failed_icmp": self.failed_icmp,
            "requests_failed_by": self.failed_by,
            "connections": r.connections,
            "connections_broken": self.connections_broken,
            "connections_broken_by": self.broken_by,
            "snat": self.snat.map(|(n, failed, broken)| json!({
                "requests": n,
                "requests_failed": failed,
                "connections": r.snat_connections,
                "connections_broken": broken,
                "connections_broken_by": self.snat_broken_by,
                "by_origin": self.snat_by.iter().map(|o| json!({
                    "from": o.from,
                    "requests": o.requests,
                    "requests_failed": o.failed,
                    "connections": o.connections,
                    "connections_broken": o.broken,
                })).collect::<Vec<_>>(),
            })),
            "route_convergence_ms": r.route_convergence_ms.map(round1),
            "settled": r.settled,
            "recovery_ms": r.recovery_ms,
            "recovery_held_by": r.recovery_held_by,
            "connections_broken_in_recovery": self.broken_in_recovery,
            "window_ms": (r.to_us - r.from_us) / 1000,
            "detail": r.detail,
            "problems": r.problems,
            "svg": self.svg.as_ref().map(|p| p.display().to_string()),
        })
    }
}

fn by_reason<'a>(breaks: impl Iterator<Item = &'a Break>) -> BTreeMap<&'static str, usize> {
    let mut m = BTreeMap::new();
    for b in breaks {
        *m.entry(b.why).or_insert(0) += 1;
    }
    m
}

fn round1(x: f64) -> f64 {
    (x * 10.0).round() / 10.0
}

#[derive(Debug, Clone, Default)]
pub struct Report {
    pub out_dir: PathBuf,
    /// `(name, where its file came from, what derivation changed)`.
    pub nodes: Vec<(String, String, Vec<String>)>,
    pub topology: String,
    pub traffic: Value,
    pub rows: Vec<Row>,
    /// `(scenario, why)`.
    pub skipped: Vec<(String, String)>,
    pub notes: Vec<String>,
    /// What kept the pair from being steady before the first scenario.
    pub unsteady_at_start: Vec<String>,
    /// Why the rehearsal stopped early.
    pub error: Option<String>,
}

impl Report {
    pub fn problems(&self) -> Vec<String> {
        let mut p: Vec<String> = self
            .unsteady_at_start
            .iter()
            .map(|w| format!("before the scenarios: {w}"))
            .collect();
        for r in &self.rows {
            p.extend(
                r.run
                    .problems
                    .iter()
                    .map(|x| format!("{}: {x}", r.run.scenario.name())),
            );
        }
        p.extend(self.error.iter().cloned());
        p
    }

    pub fn ok(&self) -> bool {
        self.problems().is_empty()
    }

    pub fn to_json(&self) -> Value {
        json!({
            "output_dir": self.out_dir.display().to_string(),
            "nodes": self.nodes.iter().map(|(n, o, c)| json!({
                "name": n, "config": o, "derived": c,
            })).collect::<Vec<_>>(),
            "traffic": self.traffic,
            "scenarios": self.rows.iter().map(Row::to_json).collect::<Vec<_>>(),
            "skipped": self.skipped.iter().map(|(s, w)| json!({"name": s, "why": w})).collect::<Vec<_>>(),
            "notes": self.notes,
            "problems": self.problems(),
            "ok": self.ok(),
        })
    }

    pub fn text(&self) -> String {
        let mut s = String::new();
        let _ = writeln!(s, "rehearsal of the pair:");
        s.push_str(&self.topology);
        let _ = writeln!(
            s,
            "traffic: {}",
            self.traffic["describe"].as_str().unwrap_or("")
        );
        for sn in self.traffic["snat"].as_array().into_iter().flatten() {
            let site = sn["site"]
                .as_str()
                .map(|t| format!("GRE site {t}, "))
                .unwrap_or_default();
            let _ = writeln!(
                s,
                "through SNAT pool {} from {site}{}: {}",
                sn["pool"].as_str().unwrap_or(""),
                sn["from"].as_str().unwrap_or("?"),
                sn["describe"].as_str().unwrap_or("")
            );
        }
        let _ = writeln!(
            s,
            "\n{:<14} {:<7} {:>11} {:>8} {:>8} {:>7} {:>9} {:>9} {:>9}",
            "scenario",
            "target",
            "failover",
            "RFC",
            "requests",
            "failed",
            "broken",
            "routes",
            "recovery"
        );
        for r in &self.rows {
            let ms = |v: Option<f64>| v.map_or("-".to_string(), |v| format!("{v:.1} ms"));
            let _ = writeln!(
                s,
                "{:<14} {:<7} {:>11} {:>8} {:>8} {:>7} {:>9} {:>9} {:>9}",
                r.run.scenario.name(),
                r.run.target,
                ms(r.run.failover_ms),
                r.run.rfc_ms.map_or("-".into(), |v| format!("{v:.0} ms")),
                r.requests,
                r.requests_failed(),
                if r.run.connections == 0 && r.connections_broken == 0 {
                    "-".to_string()
                } else {
                    format!("{}/{}", r.connections_broken, r.run.connections)
                },
                ms(r.run.route_convergence_ms),
                r.run
                    .recovery_ms
                    .map_or("-".into(), |v| format!("{:.1} s", v as f64 / 1000.0)),
            );
        }
        let _ = writeln!(
            s,
            "\nfailover: the old master's last advertisement to the new master's first \
             gratuitous ARP (capture on the segment)\nfailed: requests sent from the event to \
             the end of the window without a whole answer in time; broken: long-lived \
             connections lost / open\nroutes: the event to the router's last route change \
             (- : no BGP, or no change)"
        );
        for r in &self.rows {
            if let Some((n, failed, broken)) = r.snat {
                let _ = writeln!(
                    s,
                    "{}: through the SNAT gateway {failed} of {n} requests failed, {broken}/{} \
                     connections broken",
                    r.run.scenario.name(),
                    r.run.snat_connections
                );
            }
            for o in r.snat_by.iter().filter(|o| o.from.starts_with("site ")) {
                let _ = writeln!(
                    s,
                    "{}: through the SNAT gateway from {}: {} of {} requests failed, {}/{} \
                     connections broken",
                    r.run.scenario.name(),
                    o.from,
                    o.failed,
                    o.requests,
                    o.broken,
                    o.connections
                );
            }
            if !r.run.detail.is_empty() {
                let _ = writeln!(s, "{}: {}", r.run.scenario.name(), r.run.detail);
            }
            if r.broken_in_recovery > 0 {
                let _ = writeln!(
                    s,
                    "{}: the recovery broke {} connection(s)",
                    r.run.scenario.name(),
                    r.broken_in_recovery
                );
            }
            if let Some(w) = &r.run.recovery_held_by {
                let _ = writeln!(s, "{}: recovery held up by: {w}", r.run.scenario.name());
            }
        }
        for (n, why) in &self.skipped {
            let _ = writeln!(s, "skipped {n}: {why}");
        }
        for n in &self.notes {
            let _ = writeln!(s, "note: {n}");
        }
        let problems = self.problems();
        if problems.is_empty() {
            let _ = writeln!(s, "\nno problem found");
        } else {
            let _ = writeln!(s, "\nproblems:");
            for p in problems {
                let _ = writeln!(s, "  {p}");
            }
        }
        let _ = writeln!(
            s,
            "\ntimelines (SVG) and this report in {}",
            self.out_dir.display()
        );
        s
    }
}
