//! `applianced drill [CONFIG_A [CONFIG_B]]`: rehearses the operator's own HA pair in network
//! namespaces, with real traffic, and reports what each failure would cost.
//!
//! - [`pair`]: the two files (one file: the second node derived from it; none: the built-in
//!   example pair); [`plan`]: what to build from them, or why they cannot be rehearsed;
//! - [`bed`]: the namespaces (a segment per interface, the nodes, the client, the backends
//!   with their [`servers`], the BGP routers ([`router`]), the checks' targets);
//! - [`rehearsal`]: the running pair and its watchers: [`follow`] (each node's events),
//!   [`routes`] (each router's FIB), [`traffic`] (the client's requests and connections),
//!   [`capture`] (VRRP and ARP on the segment);
//! - [`scenario`]: crash, graceful stop, link down, a backend failing, a BGP peer lost, a bad
//!   reload, each followed by recovery; [`timeline`] and [`svg`]: one picture per scenario;
//!   [`report`]: the table and the JSON.

pub mod addr;
pub mod bed;
pub mod capture;
pub mod follow;
pub mod logtail;
pub mod node_text;
pub mod pair;
pub mod plan;
pub mod rehearsal;
pub mod report;
pub mod router;
pub mod routes;
pub mod scenario;
pub mod servers;
pub mod svg;
pub mod timeline;
pub mod traffic;

use std::panic::AssertUnwindSafe;
use std::path::{Path, PathBuf};
use std::process::ExitCode;
use std::time::Duration;

use serde_json::json;

use bed::Bed;
use plan::{Plan, Role};
use rehearsal::Rehearsal;
use report::{Report, Row};
use scenario::Scenario;
use traffic::{now_us, Spec, Traffic};

/// How long the pair may take to be steady before the first scenario: daemons, checks rising,
/// BGP sessions.
const START_LIMIT: Duration = Duration::from_secs(30);

#[derive(Debug, Clone)]
pub struct Options {
    /// Zero, one or two files.
    pub configs: Vec<PathBuf>,
    pub scenarios: Vec<Scenario>,
    pub out: Option<PathBuf>,
    /// HTTP requests per second (UDP: half as many).
    pub rate: u32,
    pub connections: usize,
}

impl Default for Options {
    fn default() -> Self {
        Options {
            configs: Vec::new(),
            scenarios: Scenario::ALL.to_vec(),
            out: None,
            rate: 200,
            connections: 100,
        }
    }
}

/// Exit status of a pair that cannot be rehearsed.
const REFUSED: u8 = 2;

/// The command: prints the report (text, or JSON with `json`); exit 0 when every scenario ran
/// without a problem, 1 otherwise, 2 when the files cannot be rehearsed.
pub fn run(opts: Options, json: bool) -> ExitCode {
    let files = match pair::load(&opts.configs) {
        Ok(f) => f,
        Err(errs) => return refuse(&errs),
    };
    let plan = match plan::plan(files) {
        Ok(p) => p,
        Err(why) => return refuse(&why),
    };
    if let Err(missing) = preflight(&plan) {
        for m in &missing {
            eprintln!("applianced drill: {m}");
        }
        return ExitCode::FAILURE;
    }
    let out = match out_dir(opts.out.as_deref()) {
        Ok(o) => o,
        Err(e) => {
            eprintln!("applianced drill: {e}");
            return ExitCode::FAILURE;
        }
    };
    for n in &plan.nodes {
        let _ = std::fs::write(out.join(format!("{}.toml", n.name)), &n.file.text);
    }
    if !json {
        println!(
            "rehearsing the pair in network namespaces; output in {}",
            out.display()
        );
    }
    let report = rehearse(plan, &opts, &out, !json);
    let _ = std::fs::write(
        out.join("report.json"),
        serde_json::to_string_pretty(&report.to_json()).unwrap_or_default(),
    );
    let text = report.text();
    let _ = std::fs::write(out.join("report.txt"), &text);
    if json {
        println!(
            "{}",
            serde_json::to_string_pretty(&report.to_json()).expect("JSON of numbers and names")
        );
    } else {
        print!("\n{text}");
    }
    if report.ok() {
        ExitCode::SUCCESS
    } else {
        ExitCode::FAILURE
    }
}

fn refuse(why: &[String]) -> ExitCode {
    for w in why {
        eprintln!("{w}");
    }
    eprintln!(
        "applianced drill: cannot rehearse this pair ({} reason{})",
        why.len(),
        if why.len() == 1 { "" } else { "s" }
    );
    ExitCode::from(REFUSED)
}

/// Root and the tools the rehearsal runs, each missing one with its Debian package.
fn preflight(plan: &Plan) -> Result<(), Vec<String>> {
    let mut missing = Vec::new();
    if !nix::unistd::geteuid().is_root() {
        missing.push("needs root (it builds network namespaces); run it as root".to_string());
    }
    let mut tools = vec!["ip", "tcpdump", "ethtool"];
    if plan.has_bgp() {
        tools.extend(["bird", "birdc"]);
    }
    for t in tools {
        if lab::find_tool(t).is_none() {
            let pkg = lab::debian_package(t).unwrap_or(t);
            missing.push(format!(
                "needs `{t}`, which is not installed: apt-get install {pkg}"
            ));
        }
    }
    if lab::bin_dirs()
        .iter()
        .all(|d| !d.join("appctl").is_file() || !d.join("applianced").is_file())
    {
        missing.push(
            "needs `applianced` and `appctl` side by side (build both: cargo build --bins)".into(),
        );
    }
    if missing.is_empty() {
        Ok(())
    } else {
        Err(missing)
    }
}

/// `--out DIR` (created if missing), or a fresh directory under the temporary directory.
fn out_dir(given: Option<&Path>) -> Result<PathBuf, String> {
    if let Some(d) = given {
        std::fs::create_dir_all(d).map_err(|e| format!("{}: {e}", d.display()))?;
        return d
            .canonicalize()
            .map_err(|e| format!("{}: {e}", d.display()));
    }
    let base = std::env::temp_dir();
    let stem = format!("appliance-drill-{}", now_us() / 1_000_000);
    for k in 1..1000 {
        let d = if k == 1 {
            base.join(&stem)
        } else {
            base.join(format!("{stem}-{k}"))
        };
        match std::fs::create_dir(&d) {
            Ok(()) => return Ok(d),
            Err(e) if e.kind() == std::io::ErrorKind::AlreadyExists => continue,
            Err(e) => return Err(format!("{}: {e}", d.display())),
        }
    }
    Err("no fresh output directory under the temporary directory".into())
}

/// Builds the pair, runs the scenarios, tears everything down; a failure to build or to
/// recover ends the rehearsal with an error in the report (the rows so far stay).
fn rehearse(plan: Plan, opts: &Options, out: &Path, progress: bool) -> Report {
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
            let s = snat_spec(sp, opts);
            json!({
                "pool": sp.pool,
                "from": plan.hosts[sp.host].first_v4().map(|a| a.to_string()),
                "describe": describe_traffic(&s),
            })
        }).collect::<Vec<_>>(),
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
    for sp in r.bed.plan.snat.clone() {
        let ns = r.bed.hosts[sp.host].name().to_string();
        let t = Traffic::start(&ns, snat_spec(&sp, opts));
        t.reopen(Duration::from_secs(15));
        r.snat.push(t);
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

fn traffic_spec(plan: &Plan, opts: &Options) -> Spec {
    use crate::config::dataplane::Protocol;
    let addr = |s: &plan::ServicePlan| std::net::SocketAddrV4::new(s.vip, s.port);
    Spec {
        http: plan
            .services
            .iter()
            .filter(|s| s.protocol == Protocol::Tcp)
            .map(addr)
            .collect(),
        udp: plan
            .services
            .iter()
            .filter(|s| s.protocol == Protocol::Udp)
            .map(addr)
            .collect(),
        icmp: if plan.services.is_empty() {
            plan.front.vip.into_iter().collect()
        } else {
            Vec::new()
        },
        http_rate: opts.rate.max(1),
        udp_rate: (opts.rate / 2).max(1),
        connections: opts.connections,
        period: Duration::from_millis(500),
        request_timeout: Duration::from_secs(1),
        connection_timeout: Duration::from_secs(3),
    }
}

/// The inside host's traffic to the client through the SNAT gateway: half the services' rate,
/// a fifth of their connections.
fn snat_spec(sp: &plan::SnatPlan, opts: &Options) -> Spec {
    Spec {
        http: vec![std::net::SocketAddrV4::new(sp.to, plan::OUTSIDE_TCP)],
        udp: vec![std::net::SocketAddrV4::new(sp.to, plan::OUTSIDE_UDP)],
        icmp: Vec::new(),
        http_rate: (opts.rate / 2).max(1),
        udp_rate: (opts.rate / 4).max(1),
        connections: opts.connections / 5,
        period: Duration::from_millis(500),
        request_timeout: Duration::from_secs(1),
        connection_timeout: Duration::from_secs(3),
    }
}

fn describe_traffic(s: &Spec) -> String {
    let list = |v: &[std::net::SocketAddrV4]| {
        v.iter()
            .map(|a| a.to_string())
            .collect::<Vec<_>>()
            .join(" ")
    };
    let mut parts = Vec::new();
    if !s.http.is_empty() {
        parts.push(format!(
            "{} HTTP requests/s to {} (failed without an answer in {} ms), {} connections \
             exchanging every {} ms (broken without an answer in {} ms)",
            s.http_rate,
            list(&s.http),
            s.request_timeout.as_millis(),
            s.connections,
            s.period.as_millis(),
            s.connection_timeout.as_millis()
        ));
    }
    if !s.udp.is_empty() {
        parts.push(format!("{} UDP requests/s to {}", s.udp_rate, list(&s.udp)));
    }
    if !s.icmp.is_empty() {
        let to: Vec<String> = s.icmp.iter().map(|a| a.to_string()).collect();
        parts.push(format!(
            "{} echo requests/s to {} (no service: the virtual address itself)",
            s.http_rate,
            to.join(" ")
        ));
    }
    if parts.is_empty() {
        "none (no TCP or UDP service)".into()
    } else {
        parts.join("; ")
    }
}
