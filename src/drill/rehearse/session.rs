//! One rehearsal from plan to report: the bed built, the pair steady, the traffic started, the
//! scenarios run, each row counted and drawn; everything torn down on every path.

use std::panic::AssertUnwindSafe;
use std::path::Path;
use std::time::Duration;

use serde_json::json;

use super::bed::Bed;
use super::plan::{Plan, Role};
use super::rehearsal::{self, Rehearsal};
use super::report::{Report, Row};
use super::scenario::{self, Scenario};
use super::spec::{describe_traffic, snat_spec, traffic_spec};
use super::svg;
use super::traffic::Traffic;
use super::Options;

/// How long the pair may take to be steady before the first scenario: daemons, checks rising,
/// BGP sessions.
const START_LIMIT: Duration = Duration::from_secs(30);

/// Builds the pair, runs the scenarios, tears everything down; a failure to build or to
/// recover ends the rehearsal with an error in the report (the rows so far stay).
pub fn rehearse(plan: Plan, opts: &Options, out: &Path, progress: bool) -> Report {
    let mut report = Report {
        out_dir: out.to_path_buf(),
        nodes: plan
            .nodes
            .iter()
            .map(|n| {
                (
                    n.name.clone(),
                    n.file.origin.describe(),
                    n.file.changes.clone(),
                )
            })
            .collect(),
        topology: plan.describe(),
        notes: plan.notes.clone(),
        ..Report::default()
    };
    if progress {
        print!("{}", report.topology);
    }
    let r = std::panic::catch_unwind(AssertUnwindSafe(|| {
        let lab = lab::Lab::new_in(out, "lab");
        let result = run_in(lab, plan, opts, &mut report, progress);
        if let Err(e) = result {
            report.error = Some(e);
        }
    }));
    if let Err(p) = r {
        let msg = p
            .downcast_ref::<String>()
            .cloned()
            .or_else(|| p.downcast_ref::<&str>().map(|s| s.to_string()))
            .unwrap_or_else(|| "the rehearsal panicked".into());
        report.error = Some(format!("the rehearsal stopped: {msg}"));
    }
    report
}

fn run_in(
    lab: lab::Lab,
    plan: Plan,
    opts: &Options,
    report: &mut Report,
    progress: bool,
) -> Result<(), String> {
    let spec = traffic_spec(&plan, opts);
    report.traffic = json!({
        "http_per_s": if spec.http.is_empty() { 0 } else { spec.http_rate },
        "udp_per_s": if spec.udp.is_empty() { 0 } else { spec.udp_rate },
        "icmp_per_s": if spec.icmp.is_empty() { 0 } else { spec.http_rate },
        "connections": if spec.http.is_empty() { 0 } else { spec.connections },
        "exchange_every_ms": spec.period.as_millis() as u64,
        "request_timeout_ms": spec.request_timeout.as_millis() as u64,
        "connection_timeout_ms": spec.connection_timeout.as_millis() as u64,
        "describe": describe_traffic(&spec),
        "snat": plan.snat.iter().map(|sp| {
            let s = snat_spec(sp.to, opts);
            json!({
                "pool": sp.pool,
                "from": plan.hosts[sp.host].first_v4().map(|a| a.to_string()),
                "describe": describe_traffic(&s),
            })
        }).chain(plan.sites.iter().map(|sp| {
            let s = snat_spec(sp.to, opts);
            json!({
                "pool": sp.pool,
                "site": sp.tunnel,
                "from": sp.user_addr.to_string(),
                "describe": describe_traffic(&s),
            })
        })).collect::<Vec<_>>(),
    });
    let lab_dir = lab.artifacts().to_path_buf();
    let bed = Bed::build(lab, plan)?;
    let mut r = Rehearsal::new(bed, None);
    if progress {
        println!("built; waiting for the pair to settle");
    }
    r.bed.wait_dataplanes()?;
    if let Some(vip) = r.bed.plan.front.vip {
        // The client's first ARP for the VIP, before the traffic counts.
        let client = r.bed.client().clone();
        let _ = lab::wait_until(
            "the VIP answering",
            START_LIMIT,
            Duration::from_millis(100),
            || client.ping(&vip.to_string()),
        );
    }
    if let Err(why) = r.wait_steady(START_LIMIT, Duration::from_millis(500)) {
        // The scenarios still run; what is wrong already is the pair's own state, reported
        // once, and recoveries are judged against it.
        r.tolerated = why.iter().map(|w| rehearsal::kind_of(w)).collect();
        report.unsteady_at_start = why;
    }
    if !spec.http.is_empty() || !spec.udp.is_empty() || !spec.icmp.is_empty() {
        let t = Traffic::start(r.bed.client().name(), spec);
        t.reopen(Duration::from_secs(15));
        r.traffic = Some(t);
    }
    let mut inside: Vec<(String, usize, std::net::Ipv4Addr)> = Vec::new();
    for sp in &r.bed.plan.snat {
        let from = r.bed.plan.hosts[sp.host]
            .first_v4()
            .map_or(String::new(), |a| format!(" {a}"));
        inside.push((format!("pool {}{from}", sp.pool), sp.host, sp.to));
    }
    for sp in &r.bed.plan.sites {
        inside.push((
            format!("site {} {}", sp.tunnel, sp.user_addr),
            sp.user,
            sp.to,
        ));
    }
    for (label, host, to) in inside {
        let ns = r.bed.hosts[host].name().to_string();
        let t = Traffic::start(&ns, snat_spec(to, opts));
        t.reopen(Duration::from_secs(15));
        r.snat.push(t);
        r.snat_from.push(label);
    }
    if r.traffic.is_some() || !r.snat.is_empty() {
        // The traffic itself settles (first ARP, first flows).
        let _ = r.wait_steady(Duration::from_secs(10), Duration::from_millis(500));
    }
    for (n, &s) in opts.scenarios.iter().enumerate() {
        if s == Scenario::BgpPeerLost && !r.bed.plan.has_bgp() {
            report
                .skipped
                .push((s.name().into(), "no BGP neighbor in the files".into()));
            continue;
        }
        if s == Scenario::BackendFail && r.hosts_of(Role::Backend).is_empty() {
            report
                .skipped
                .push((s.name().into(), "no backend in the files".into()));
            continue;
        }
        if progress {
            println!("scenario {}", s.name());
        }
        let run = match r.run(s, n) {
            Ok(run) => run,
            Err(e) => {
                r.bed.lab.keep_artifacts();
                return Err(format!(
                    "{}: {e} (logs kept in {})",
                    s.name(),
                    lab_dir.display()
                ));
            }
        };
        let row = row(&r, run, report.out_dir.as_path(), n);
        if progress {
            println!(
                "  failover {} ms, {} of {} requests failed, {} connection(s) broken",
                row.run
                    .failover_ms
                    .map_or("-".to_string(), |f| format!("{f:.1}")),
                row.requests_failed(),
                row.requests,
                row.connections_broken
            );
        }
        report.rows.push(row);
    }
    if !report.ok() {
        r.bed.lab.keep_artifacts();
    }
    Ok(())
}

/// The row of `run`, with its timeline drawn to `<out>/<n>-<scenario>.svg`.
fn row(r: &Rehearsal, run: scenario::Run, out: &Path, n: usize) -> Row {
    let names: Vec<String> = r.bed.nodes.iter().map(|n| n.name.clone()).collect();
    let (reqs, breaks) = r
        .traffic
        .as_ref()
        .map(|t| t.between(run.from_us, run.to_us))
        .unwrap_or_default();
    let in_recovery: usize = r
        .traffic
        .iter()
        .chain(&r.snat)
        .map(|t| t.between(run.to_us, run.end_us).1.len())
        .sum();
    let route_at = run
        .route_convergence_ms
        .map(|ms| run.event_us + (ms * 1000.0) as i64);
    let mut tl = r.timeline(
        format!("{}: {}", run.scenario.name(), run.action),
        run.from_us,
        run.to_us,
        route_at,
    );
    let mut row = Row::new(run, &names, &reqs, &breaks, None);
    row.broken_in_recovery = in_recovery;
    if !r.snat.is_empty() {
        let (mut sreqs, mut sbreaks) = (Vec::new(), Vec::new());
        for t in &r.snat {
            let (q, b) = t.between(row.run.from_us, row.run.to_us);
            sreqs.extend(q);
            sbreaks.extend(b);
        }
        row = row.with_snat(&sreqs, &sbreaks);
        for (k, t) in r.snat.iter().enumerate() {
            let (q, b) = t.between(row.run.from_us, row.run.to_us);
            let open = row.run.snat_connections_by.get(k).copied().unwrap_or(0);
            row = row.with_origin(&r.snat_from[k], &q, &b, open);
        }
    }
    let ms = |v: Option<f64>| v.map_or("none".to_string(), |v| format!("{v:.1} ms"));
    tl.summary = vec![
        format!(
            "failover {} (RFC 9568: {}), routes settled {}",
            ms(row.run.failover_ms),
            ms(row.run.rfc_ms),
            ms(row.run.route_convergence_ms)
        ),
        format!(
            "{} of {} requests failed after the event, {} of {} connections broken",
            row.requests_failed(),
            row.requests,
            row.connections_broken,
            row.run.connections
        ),
    ];
    if let Some((n, failed, broken)) = row.snat {
        tl.summary.push(format!(
            "through the SNAT gateway: {failed} of {n} requests failed, {broken} of {} \
             connections broken",
            row.run.snat_connections
        ));
    }
    for o in row.snat_by.iter().filter(|o| o.from.starts_with("site ")) {
        tl.summary.push(format!(
            "through the SNAT gateway from {}: {} of {} requests failed, {} of {} connections \
             broken",
            o.from, o.failed, o.requests, o.broken, o.connections
        ));
    }
    if !row.run.problems.is_empty() {
        tl.summary
            .push(format!("problems: {}", row.run.problems.join("; ")));
    }
    let path = out.join(format!("{}-{}.svg", n + 1, row.run.scenario.name()));
    if std::fs::write(&path, svg::render(&tl, row.run.event_us)).is_ok() {
        row.svg = Some(path);
    }
    row
}
