//! `applianced drill --scenario stateful-failover`: the proof of issue 13. An HA pair (VRRP
//! sync group of a client-side and a backend-side VIP, session sync between the nodes) carries
//! long-lived TCP connections and UDP flows through a NAT service with least connections,
//! TCP connections through a FullNAT service, and TCP connections from a GRE site (whose
//! gateway is a third appliance) through the SNAT gateway; the master is killed, comes back
//! and preempts, is stopped gracefully, comes back again, and loses its client-side link.
//! After each event every connection and flow must still send and receive.
//!
//! - [`plan`]: the addresses, the traffic classes and the nodes' files;
//! - [`bed`]: the namespaces and the daemons; [`echo`]: the backends' and the server's echo
//!   servers, in this process;
//! - [`traffic`]: the clients' connections and flows, one thread per client namespace;
//! - [`scenario`]: the events; [`report`]: the rows, as a table or JSON.
//!
//! `--without-sync` runs the pair without `[sync]`: the baseline, where connections break.

pub mod bed;
pub mod echo;
pub mod plan;
pub mod report;
pub mod scenario;
pub mod traffic;

use std::path::{Path, PathBuf};
use std::process::ExitCode;
use std::time::Instant;

use lab::Lab;

use bed::Bed;
use plan::Volume;
use report::Report;
use scenario::{Drill, Event};

#[derive(Debug, Clone)]
pub struct Options {
    /// `[sync]` between the pair (off: the baseline).
    pub sync: bool,
    pub volume: Volume,
    /// Seeds the order connections and flows are exercised in and their payloads.
    pub seed: u64,
    /// Where the report goes (and the lab's logs and captures, kept when a connection broke).
    pub out: Option<PathBuf>,
}

impl Default for Options {
    fn default() -> Self {
        Options {
            sync: true,
            volume: Volume::default(),
            seed: 1,
            out: None,
        }
    }
}

/// Builds the bed in `lab`, opens the traffic and runs every event; the report (with the
/// error that stopped it early, if any). `progress` sees each row as it comes.
pub fn run_one(lab: Lab, opts: &Options, progress: &mut dyn FnMut(&str)) -> Report {
    let start = Instant::now();
    let mut report = Report {
        sync_requested: opts.sync,
        ..Report::default()
    };
    let bed = match Bed::build(lab, opts.sync) {
        Ok(b) => b,
        Err(e) => {
            report
                .errors
                .push(format!("the pair does not come up: {e}"));
            report.seconds = start.elapsed().as_secs_f64();
            return report;
        }
    };
    report.sync = bed.sync;
    let mut drill = Drill::new(bed, &opts.volume, opts.seed);
    report.opened = drill.open();
    for (name, c) in &report.opened {
        progress(&format!("opened {name}: {}/{}", c.survived, c.connections));
    }
    for event in Event::SEQUENCE {
        match drill.run(event) {
            Ok(r) => {
                progress(&format!(
                    "{}: {}/{} survived, failover {} ms",
                    r.event,
                    r.survived,
                    r.connections,
                    r.failover_ms.map_or("-".into(), |m| format!("{m:.1}"))
                ));
                report.events.push(r);
            }
            Err(e) => {
                report.errors.push(format!("{}: {e}", event.name()));
                break;
            }
        }
    }
    if !report.ok() {
        drill.bed.lab.keep_artifacts();
    }
    report.seconds = start.elapsed().as_secs_f64();
    report
}

/// The command: the table (or the JSON) and the report's files in `--out`; fails when the run
/// could not finish, or, with sync, when a connection broke (without sync breaks are the
/// baseline's point).
pub fn run(opts: Options, json: bool) -> ExitCode {
    lab::tools_or_exit("applianced drill", &["ip", "tcpdump", "ethtool"]);
    // Ctrl-C, SIGTERM or SIGHUP: the lab cannot unwind from a signal; this removes what it made.
    crate::drill::rehearse::interrupt::install();
    let base = match &opts.out {
        Some(d) => match std::fs::create_dir_all(d).and_then(|_| d.canonicalize()) {
            Ok(d) => d,
            Err(e) => {
                eprintln!("applianced drill: {}: {e}", d.display());
                return ExitCode::FAILURE;
            }
        },
        None => std::env::temp_dir(),
    };
    if !json {
        let v = opts.volume;
        println!(
            "stateful failover drill: HA pair {} session sync; {} NAT TCP connections, {} UDP \
             flows, {} FullNAT TCP, {} SNAT TCP from a GRE site",
            if opts.sync { "with" } else { "without" },
            v.nat_tcp,
            v.nat_udp,
            v.fullnat_tcp,
            v.snat_tcp
        );
    }
    let name = if opts.sync {
        "stateful-failover"
    } else {
        "stateful-failover-without-sync"
    };
    let mut progress = |line: &str| {
        if !json {
            eprintln!("  {line}");
        }
    };
    let report = match std::panic::catch_unwind(std::panic::AssertUnwindSafe(|| {
        run_one(Lab::new_in(&base, name), &opts, &mut progress)
    })) {
        Ok(r) => r,
        Err(p) => Report {
            sync_requested: opts.sync,
            errors: vec![p
                .downcast_ref::<String>()
                .cloned()
                .or_else(|| p.downcast_ref::<&str>().map(|s| s.to_string()))
                .unwrap_or_else(|| "the run panicked".into())],
            ..Report::default()
        },
    };
    write_files(opts.out.as_deref().map(|_| base.as_path()), &report);
    if json {
        println!(
            "{}",
            serde_json::to_string_pretty(&report.to_json()).expect("JSON of numbers and names")
        );
    } else {
        print!("\n{}", report.table());
    }
    let finished = report.errors.is_empty() && report.events.len() == Event::SEQUENCE.len();
    if finished && (report.ok() || !opts.sync) {
        ExitCode::SUCCESS
    } else {
        ExitCode::FAILURE
    }
}

fn write_files(out: Option<&Path>, report: &Report) {
    let Some(out) = out else { return };
    let _ = std::fs::write(
        out.join("stateful-failover.json"),
        serde_json::to_string_pretty(&report.to_json()).unwrap_or_default(),
    );
    let _ = std::fs::write(out.join("stateful-failover.txt"), report.table());
}
