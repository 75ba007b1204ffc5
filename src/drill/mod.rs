//! `applianced drill`: the failover drill (below), the chaos drill ([`chaos`]), the ECMP
//! cluster drill ([`cluster`]) and the stateful-failover drill ([`stateful`]).
//!
//! The failover drill. Two appliance nodes (VRRP, priority 200 and 100) and
//! a client on one bridged LAN, in network namespaces removed afterwards. It crashes the
//! master, then stops it gracefully, then takes its link down, and for each reports the
//! failover time measured from packets captured on the bridge and the loss seen by a 200/s
//! probe stream to the virtual address.
//!
//! The nodes run this executable's own `applianced` (and `appctl` beside it), so the drill
//! tests the build it is part of.

pub mod chaos;
pub mod cluster;
pub mod failover;
pub mod rehearse;
pub mod rng;
pub mod site;
pub mod stateful;

use std::process::ExitCode;

use failover::{Drill, Implementation, Scenario, Trial};

/// Runs the drill; `json` prints the trials for machines, `interval_ms` is the advertisement
/// interval. Fails when not root or when a failover could not be timed.
pub fn run(json: bool, interval_ms: u64) -> ExitCode {
    if !nix::unistd::geteuid().is_root() {
        eprintln!("applianced drill: needs root (it builds network namespaces); run it with sudo");
        return ExitCode::FAILURE;
    }
    // Outside the source tree: the logs and captures of a failed drill are kept there.
    let lab = lab::Lab::new_in(&std::env::temp_dir(), "failover-drill");
    if !json {
        println!("failover drill: 2 appliance nodes + client on a bridge, advert interval {interval_ms} ms");
    }
    let mut drill = Drill::new(lab, Implementation::Appliance, interval_ms);
    let mut trials = Vec::new();
    for s in [Scenario::Crash, Scenario::Graceful, Scenario::LinkDown] {
        let t = drill.run(Implementation::Appliance, s);
        if !json {
            eprintln!("  {} done", s.name());
        }
        trials.push(t);
    }
    if json {
        let v: Vec<_> = trials.iter().map(Trial::to_json).collect();
        println!(
            "{}",
            serde_json::to_string_pretty(&v).expect("JSON of numbers and names")
        );
    } else {
        print_table(&trials);
    }
    let bad = trials.iter().any(|t| t.failover_ms.is_none());
    drop(drill);
    if bad {
        eprintln!("failover-drill: a failover could not be timed from the capture");
        return ExitCode::FAILURE;
    }
    ExitCode::SUCCESS
}

/// `applianced drill --scenario ecmp-cluster`.
pub fn run_cluster(opts: cluster::Options, json: bool) -> ExitCode {
    if !nix::unistd::geteuid().is_root() {
        eprintln!("applianced drill: needs root (it builds network namespaces); run it with sudo");
        return ExitCode::FAILURE;
    }
    cluster::run(opts, json)
}

/// `applianced drill --scenario stateful-failover`.
pub fn run_stateful(opts: stateful::Options, json: bool) -> ExitCode {
    if !nix::unistd::geteuid().is_root() {
        eprintln!("applianced drill: needs root (it builds network namespaces); run it with sudo");
        return ExitCode::FAILURE;
    }
    stateful::run(opts, json)
}

/// `applianced drill --scenario chaos`.
pub fn run_chaos(opts: chaos::Options, json: bool) -> ExitCode {
    if !nix::unistd::geteuid().is_root() {
        eprintln!("applianced drill: needs root (it builds network namespaces); run it with sudo");
        return ExitCode::FAILURE;
    }
    chaos::run(opts, json)
}

fn print_table(trials: &[Trial]) {
    println!(
        "\n{:<10} {:>12} {:>12} {:>10} {:>8} {:>8} {:>9}",
        "scenario", "failover ms", "RFC ms", "delta ms", "probes", "lost", "loss ms"
    );
    for t in trials {
        let f = t
            .failover_ms
            .map(|f| format!("{f:.1}"))
            .unwrap_or_else(|| "n/a".into());
        let d = t
            .failover_ms
            .map(|f| format!("{:+.1}", f - t.expected_ms))
            .unwrap_or_else(|| "n/a".into());
        println!(
            "{:<10} {:>12} {:>12.1} {:>10} {:>8} {:>8} {:>9}",
            t.scenario.name(),
            f,
            t.expected_ms,
            d,
            t.probes_sent,
            t.probes_lost,
            t.loss_ms()
        );
    }
    println!("\nfailover: old master's last advertisement -> new master's first gratuitous ARP (bridge capture)");
    println!("RFC: Master_Down_Interval (crash, link down) or Skew_Time (graceful) of the backup, priority 100");
}
