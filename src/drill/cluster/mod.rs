//! `applianced drill --scenario ecmp-cluster`: the proof of issue 14. Three appliance nodes
//! announce one VIP to a real router (FRR or BIRD 2) that spreads flows over them by ECMP with
//! L4 hashing; the client holds long-lived TCP connections to a direct-server-return service
//! (DR or tunnel mode) through them; nodes are drained, crashed, added and restarted, and after
//! each event every connection must still send and receive.
//!
//! - [`plan`]: the addresses and the nodes' configuration; [`topology`]: the namespaces, the
//!   router ([`router`]), the nodes, the backends ([`backend`], with the tunnel backends' XDP
//!   decapsulation in [`decap`], checked by [`probe`]);
//! - [`fib`]: the router's FIB, dumped at more than 1 kHz from inside its namespace;
//! - [`traffic`]: the client's connections, on one thread inside the client's namespace;
//! - [`scenario`]: the events; [`report`]: the rows, as a table or JSON.

pub mod backend;
pub mod decap;
pub mod fib;
pub mod netns;
pub mod plan;
pub mod probe;
pub mod report;
pub mod router;
pub mod scenario;
pub mod topology;
pub mod traffic;

use std::panic::AssertUnwindSafe;
use std::process::ExitCode;

use lab::Lab;
use serde_json::json;

use report::{Report, Row, RunError};
use router::Flavour;
use scenario::{Event, Scenario};
use topology::{Bfd, Cluster, Mode, Spec};

#[derive(Debug, Clone)]
pub struct Options {
    pub routers: Vec<Flavour>,
    pub modes: Vec<Mode>,
    pub connections: usize,
    pub bfd: Option<Bfd>,
    /// Every node a `cluster_seed` of its own (see [`Spec::per_node_seed`]).
    pub per_node_seed: bool,
    /// Seeds the order connections are exercised in and their payloads.
    pub seed: u64,
}

/// One router and one mode in `lab`: builds the cluster, opens the connections, runs every
/// event. Rows up to the first event that could not be carried out; the error, if any.
/// Panics when the cluster cannot be built (the lab prints its logs).
pub fn run_one(
    lab: Lab,
    router: Flavour,
    mode: Mode,
    opts: &Options,
    progress: &mut dyn FnMut(&Row),
) -> (Vec<Row>, Option<String>, f64) {
    let cluster = Cluster::build(
        lab,
        Spec {
            router,
            mode,
            bfd: opts.bfd,
            per_node_seed: opts.per_node_seed,
        },
    );
    let mut s = Scenario::new(cluster, opts.seed);
    let mut rows = vec![s.establish(opts.connections)];
    progress(&rows[0]);
    let mut error = None;
    for (event, node) in Event::SEQUENCE {
        match s.run(event, node) {
            Ok(r) => {
                progress(&r);
                rows.push(r);
            }
            Err(e) => {
                error = Some(format!("{} of n{}: {e}", event.name(), node + 1));
                s.cluster.lab.keep_artifacts();
                break;
            }
        }
    }
    // The counterfactual breaks connections by design.
    if !opts.per_node_seed && rows.iter().any(|r| r.survived < r.connections) {
        s.cluster.lab.keep_artifacts();
    }
    let hz = s.cluster.fib.poll_rate_hz();
    (rows, error, hz)
}

/// Every router and mode of `opts`, each in a lab of its own under `base`.
pub fn run_all(base: &std::path::Path, opts: &Options, progress: &mut dyn FnMut(&Row)) -> Report {
    let mut report = Report {
        connections: opts.connections,
        bfd: opts
            .bfd
            .map(|b| json!({"interval_ms": b.interval_ms, "multiplier": b.multiplier})),
        per_node_seed: opts.per_node_seed,
        ..Report::default()
    };
    for &router in &opts.routers {
        for &mode in &opts.modes {
            let name = format!("ecmp-cluster-{}-{}", router.name(), mode.name());
            let run = std::panic::catch_unwind(AssertUnwindSafe(|| {
                run_one(Lab::new_in(base, &name), router, mode, opts, progress)
            }));
            match run {
                Ok((rows, error, hz)) => {
                    report.rows.extend(rows);
                    report.fib_poll_hz = Some(report.fib_poll_hz.map_or(hz, |h: f64| h.min(hz)));
                    if let Some(error) = error {
                        report.errors.push(RunError {
                            router: router.name(),
                            mode: mode.name(),
                            error,
                        });
                    }
                }
                Err(p) => {
                    let error = p
                        .downcast_ref::<String>()
                        .cloned()
                        .or_else(|| p.downcast_ref::<&str>().map(|s| s.to_string()))
                        .unwrap_or_else(|| "the run panicked".into());
                    report.errors.push(RunError {
                        router: router.name(),
                        mode: mode.name(),
                        error,
                    });
                }
            }
        }
    }
    report
}

/// The command: prints the table (rows as they come) or the JSON; fails when a connection
/// broke or a run could not finish.
pub fn run(opts: Options, json: bool) -> ExitCode {
    if !json {
        println!(
            "ECMP cluster drill: 3 nodes, 3 backends, {} connections; routers {:?}, modes {:?}{}",
            opts.connections,
            opts.routers.iter().map(|r| r.name()).collect::<Vec<_>>(),
            opts.modes.iter().map(|m| m.name()).collect::<Vec<_>>(),
            opts.bfd
                .map(|b| format!(", BFD {} ms x {}", b.interval_ms, b.multiplier))
                .unwrap_or_default()
        );
        if opts.per_node_seed {
            println!("every node with a cluster_seed of its own: moved connections should break");
        }
    }
    let mut progress = |r: &Row| {
        if !json {
            eprintln!(
                "  {} {} {} {}: {}/{} survived",
                r.router, r.mode, r.event, r.node, r.survived, r.connections
            );
        }
    };
    let report = run_all(&std::env::temp_dir(), &opts, &mut progress);
    if json {
        println!(
            "{}",
            serde_json::to_string_pretty(&report.to_json()).expect("JSON of numbers and names")
        );
    } else {
        print!("\n{}", report.table());
    }
    if report.ok() {
        ExitCode::SUCCESS
    } else {
        ExitCode::FAILURE
    }
}
