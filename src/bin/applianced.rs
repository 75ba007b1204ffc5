//! applianced: the appliance daemon.

use std::path::PathBuf;
use std::process::ExitCode;

use clap::{CommandFactory, FromArgMatches, Parser, Subcommand};

use appliance::config::overrides::Overrides;
use appliance::config::DEFAULT_CONFIG_PATH;
use appliance::logging::{self, LogFormat};

#[derive(Parser)]
#[command(
    name = "applianced",
    version,
    about = "VRRP, BGP, health checks and an AF_XDP fast path in one daemon"
)]
struct Cli {
    #[command(subcommand)]
    command: Cmd,
}

#[derive(Subcommand)]
enum Cmd {
    /// Run the daemon in the foreground.
    Run {
        #[arg(short = 'c', long = "config", default_value = DEFAULT_CONFIG_PATH)]
        config: PathBuf,
        #[arg(long, value_enum, default_value = "human")]
        log_format: LogFormat,
        /// Log level (error, warn, info, debug, trace); RUST_LOG overrides it.
        #[arg(long, default_value = "info")]
        log_level: String,
        /// State directory (pid lock, ledger); overrides `[daemon] state_dir`.
        #[arg(long = "state-dir", value_name = "DIR")]
        state_dir: Option<PathBuf>,
        /// Control socket; overrides `[control] socket`.
        #[arg(short = 's', long = "socket", value_name = "PATH")]
        socket: Option<PathBuf>,
    },
    /// Validate a configuration file and print a summary; exit 0 when valid, 1 when not.
    Check {
        #[arg(short = 'c', long = "config", default_value = DEFAULT_CONFIG_PATH)]
        config: PathBuf,
    },
    /// Drills (root) on nodes of this build in network namespaces. By default it rehearses an
    /// HA pair: CONFIG_A and CONFIG_B (one file: the second node is derived from it; none: the
    /// built-in example pair), with HTTP, UDP and long-lived connections through the VIPs,
    /// through a crash, a graceful stop, a link down, a backend failing, a BGP peer lost and a
    /// bad reload; a report and an SVG timeline per scenario. Exit 2: the files cannot be
    /// rehearsed. `--scenario failover`: the fixed two-node VRRP drill. `chaos`: random events
    /// against an HA pair, invariants checked after each. `ecmp-cluster`: three nodes behind an
    /// ECMP router, connections to a DSR service through drains, crashes, additions, restarts.
    /// `stateful-failover`: an HA pair with session sync carrying NAT, FullNAT and SNAT
    /// connections through a crash, a graceful stop and a link down of the master, and its
    /// returns.
    Drill {
        /// The pair's configuration files (none: the built-in example pair).
        #[arg(value_name = "CONFIG", num_args = 0..=2)]
        configs: Vec<PathBuf>,
        /// Scenarios to rehearse (repeat it; default: all of crash, graceful, link-down,
        /// backend-fail, bgp-peer-lost, bad-reload), or one of the other drills: failover,
        /// chaos, ecmp-cluster, stateful-failover.
        #[arg(long, value_enum)]
        scenario: Vec<DrillScenario>,
        /// Where the report and the timelines go (default: a fresh directory under /tmp);
        /// stateful-failover: its report and, when a connection broke, the lab's logs and
        /// captures.
        #[arg(long, value_name = "DIR")]
        out: Option<PathBuf>,
        /// The rehearsal's HTTP requests per second (UDP: half as many).
        #[arg(long, default_value_t = 200)]
        rate: u32,
        /// Print the report as JSON.
        #[arg(long)]
        json: bool,
        /// failover and chaos: VRRP advertisement interval in milliseconds.
        #[arg(long, default_value_t = 100)]
        interval_ms: u64,
        /// chaos: run this many minutes (default 1).
        #[arg(long, conflicts_with = "events")]
        minutes: Option<f64>,
        /// chaos: run this many events.
        #[arg(long)]
        events: Option<u64>,
        /// chaos: seed of the event generator (the same seed draws the same events);
        /// ecmp-cluster and stateful-failover: seed of the order connections are exercised in.
        #[arg(long, default_value_t = 1)]
        seed: u64,
        /// ecmp-cluster: the router in front of the nodes.
        #[arg(long, value_enum, default_value = "both")]
        router: RouterChoice,
        /// ecmp-cluster: the service's direct-return mode.
        #[arg(long, value_enum, default_value = "both")]
        mode: ModeChoice,
        /// ecmp-cluster: give every node a `cluster_seed` of its own (the counterfactual:
        /// connections that move between nodes break).
        #[arg(long)]
        per_node_seed: bool,
        /// Long-lived connections from the client (default: 100 in the rehearsal, 1000 in
        /// ecmp-cluster; stateful-failover: NAT and SNAT TCP connections each, default 1000,
        /// with a fifth as many UDP flows and FullNAT connections).
        #[arg(long)]
        connections: Option<usize>,
        /// ecmp-cluster: BFD on the router sessions at this interval in milliseconds
        /// (multiplier 3).
        #[arg(long, value_name = "MS")]
        bfd_ms: Option<u32>,
        /// stateful-failover: run the pair without `[sync]` (the baseline: connections that
        /// the backup never heard of break).
        #[arg(long)]
        without_sync: bool,
    },
}

#[derive(Clone, Copy, clap::ValueEnum)]
enum RouterChoice {
    Frr,
    Bird,
    Both,
}

#[derive(Clone, Copy, clap::ValueEnum)]
enum ModeChoice {
    Dr,
    Tunnel,
    Both,
}

#[derive(Clone, Copy, PartialEq, Eq, clap::ValueEnum)]
enum DrillScenario {
    Crash,
    Graceful,
    LinkDown,
    BackendFail,
    BgpPeerLost,
    BadReload,
    Failover,
    Chaos,
    EcmpCluster,
    StatefulFailover,
}

impl DrillScenario {
    /// The drill other than the rehearsal it names, if it does.
    fn other_drill(self) -> bool {
        matches!(
            self,
            DrillScenario::Failover
                | DrillScenario::Chaos
                | DrillScenario::EcmpCluster
                | DrillScenario::StatefulFailover
        )
    }

    fn rehearsal(self) -> Option<appliance::drill::rehearse::scenario::Scenario> {
        use appliance::drill::rehearse::scenario::Scenario;
        Some(match self {
            DrillScenario::Crash => Scenario::Crash,
            DrillScenario::Graceful => Scenario::Graceful,
            DrillScenario::LinkDown => Scenario::LinkDown,
            DrillScenario::BackendFail => Scenario::BackendFail,
            DrillScenario::BgpPeerLost => Scenario::BgpPeerLost,
            DrillScenario::BadReload => Scenario::BadReload,
            _ => return None,
        })
    }
}

fn main() -> ExitCode {
    // The package build's hidden `generate-assets` documents `Cli` as operators see it.
    let matches = appliance::package::with_generator(Cli::command()).get_matches();
    if let Some(out) = appliance::package::requested(&matches) {
        return appliance::package::generate(&Cli::command(), &out);
    }
    let cli = Cli::from_arg_matches(&matches).unwrap_or_else(|e| e.exit());
    match cli.command {
        Cmd::Drill {
            configs,
            scenario,
            out,
            rate,
            json,
            interval_ms,
            minutes,
            events,
            seed,
            router,
            mode,
            per_node_seed,
            connections,
            bfd_ms,
            without_sync,
        } => {
            let other: Vec<DrillScenario> = scenario
                .iter()
                .copied()
                .filter(|s| s.other_drill())
                .collect();
            if !other.is_empty() && (scenario.len() > 1 || !configs.is_empty()) {
                eprintln!(
                    "applianced drill: --scenario failover, chaos, ecmp-cluster and \
                     stateful-failover are drills of their own: give one alone, without \
                     configuration files"
                );
                return ExitCode::from(2);
            }
            match other.first() {
                Some(DrillScenario::Failover) => appliance::drill::run(json, interval_ms),
                Some(DrillScenario::EcmpCluster) => {
                    use appliance::drill::cluster::router::Flavour;
                    use appliance::drill::cluster::topology::{Bfd, Mode};
                    use appliance::drill::cluster::Options;
                    let routers = match router {
                        RouterChoice::Frr => vec![Flavour::Frr],
                        RouterChoice::Bird => vec![Flavour::Bird],
                        RouterChoice::Both => Flavour::ALL.to_vec(),
                    };
                    let modes = match mode {
                        ModeChoice::Dr => vec![Mode::Dr],
                        ModeChoice::Tunnel => vec![Mode::Tunnel],
                        ModeChoice::Both => Mode::ALL.to_vec(),
                    };
                    appliance::drill::run_cluster(
                        Options {
                            routers,
                            modes,
                            connections: connections.unwrap_or(1000),
                            bfd: bfd_ms.map(|ms| Bfd {
                                interval_ms: ms,
                                multiplier: 3,
                            }),
                            per_node_seed,
                            seed,
                        },
                        json,
                    )
                }
                Some(DrillScenario::StatefulFailover) => {
                    use appliance::drill::stateful::Options;
                    appliance::drill::run_stateful(
                        Options {
                            sync: !without_sync,
                            volume: appliance::drill::stateful::plan::Volume::scaled(
                                connections.unwrap_or(1000),
                            ),
                            seed,
                            out,
                        },
                        json,
                    )
                }
                Some(_) => {
                    use appliance::drill::chaos::{Length, Options};
                    let length = match (events, minutes) {
                        (Some(n), _) => Length::Events(n),
                        (None, Some(m)) => Length::Minutes(m),
                        (None, None) => Length::Minutes(1.0),
                    };
                    appliance::drill::run_chaos(
                        Options {
                            length,
                            seed,
                            interval_ms,
                        },
                        json,
                    )
                }
                None => {
                    use appliance::drill::rehearse::{self, Options};
                    let mut scenarios: Vec<_> =
                        scenario.iter().filter_map(|s| s.rehearsal()).collect();
                    if scenarios.is_empty() {
                        scenarios = Options::default().scenarios;
                    }
                    scenarios.dedup();
                    rehearse::run(
                        Options {
                            configs,
                            scenarios,
                            out,
                            rate,
                            connections: connections.unwrap_or(100),
                        },
                        json,
                    )
                }
            }
        }
        Cmd::Check { config } => match appliance::daemon::load(&config, &Overrides::default()) {
            Ok(cfg) => {
                println!("{}: valid", config.display());
                print!("{}", appliance::config::summary::summary(&cfg));
                ExitCode::SUCCESS
            }
            Err(errs) => {
                eprintln!("{errs}");
                eprintln!("{}: {} error(s)", config.display(), errs.0.len());
                ExitCode::FAILURE
            }
        },
        Cmd::Run {
            config,
            log_format,
            log_level,
            state_dir,
            socket,
        } => {
            logging::init(log_format, &log_level);
            let overrides = Overrides { state_dir, socket };
            let cfg = match appliance::daemon::load(&config, &overrides) {
                Ok(c) => c,
                Err(errs) => {
                    for e in &errs.0 {
                        tracing::error!("{e}");
                    }
                    eprintln!("{errs}");
                    return ExitCode::FAILURE;
                }
            };
            let rt = match tokio::runtime::Builder::new_multi_thread()
                .worker_threads(2)
                .enable_all()
                .build()
            {
                Ok(rt) => rt,
                Err(e) => {
                    eprintln!("applianced: cannot start the runtime: {e}");
                    return ExitCode::FAILURE;
                }
            };
            match rt.block_on(appliance::daemon::run(config, cfg, overrides)) {
                Ok(()) => ExitCode::SUCCESS,
                Err(e) => {
                    tracing::error!("{e:#}");
                    eprintln!("applianced: {e:#}");
                    ExitCode::FAILURE
                }
            }
        }
    }
}
