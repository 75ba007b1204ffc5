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
//!   and [`logtail`] (what a stopping daemon logged after its event stream ended); [`spec`]:
//!   the traffic the client and each SNAT user send;
//! - [`scenario`]: crash, graceful stop, link down, a backend failing, a BGP peer lost, a bad
//!   reload, each followed by recovery (`session` runs them in order); [`timeline`] and
//!   [`svg`]: one picture per scenario; [`report`]: the table and the JSON.

pub mod addr;
pub mod bed;
pub mod capture;
pub mod dns;
pub mod follow;
pub(crate) mod interrupt;
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
mod session;
pub mod spec;
pub mod svg;
pub mod timeline;
pub mod tls;
pub mod traffic;

use std::path::{Path, PathBuf};
use std::process::ExitCode;

use plan::Plan;
use scenario::Scenario;
use session::rehearse;
use traffic::now_us;

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
    interrupt::install();
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

/// Root and the tools the rehearsal runs (the lab's check: one line naming what is missing and
/// its packages, exit 1), and the binaries the nodes run.
fn preflight(plan: &Plan) -> Result<(), Vec<String>> {
    let mut tools = vec!["ip", "tcpdump", "ethtool"];
    if plan.has_bgp() {
        tools.extend(["bird", "birdc"]);
    }
    lab::tools_or_exit("applianced drill", &tools);
    if lab::bin_dirs()
        .iter()
        .all(|d| !d.join("appctl").is_file() || !d.join("applianced").is_file())
    {
        return Err(vec![
            "needs `applianced` and `appctl` side by side (build both: cargo build --bins)".into(),
        ]);
    }
    Ok(())
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
