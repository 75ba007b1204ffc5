//! applianced: the appliance daemon.

use std::path::PathBuf;
use std::process::ExitCode;

use clap::{Parser, Subcommand};

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
    /// Drills (root) on nodes of this build in network namespaces. `failover` (the default):
    /// crashes, stops and unplugs the master and reports each failover time and the loss.
    /// `chaos`: random events against an HA pair with traffic, invariants checked after each.
    /// `ecmp-cluster`: three nodes behind an ECMP router, long-lived connections to a DSR
    /// service, nodes drained, crashed, added and restarted; fails if a connection breaks.
    Drill {
        /// `failover`, `chaos` or `ecmp-cluster`.
        #[arg(long, value_enum, default_value = "failover")]
        scenario: DrillScenario,
        /// Print the report as JSON.
        #[arg(long)]
        json: bool,
        /// VRRP advertisement interval in milliseconds.
        #[arg(long, default_value_t = 100)]
        interval_ms: u64,
        /// chaos: run this many minutes (default 1).
        #[arg(long, conflicts_with = "events")]
        minutes: Option<f64>,
        /// chaos: run this many events.
        #[arg(long)]
        events: Option<u64>,
        /// chaos: seed of the event generator (the same seed draws the same events).
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
        /// ecmp-cluster: long-lived connections from the client.
        #[arg(long, default_value_t = 1000)]
        connections: usize,
        /// ecmp-cluster: BFD on the router sessions at this interval in milliseconds
        /// (multiplier 3).
        #[arg(long, value_name = "MS")]
        bfd_ms: Option<u32>,
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

#[derive(Clone, Copy, clap::ValueEnum)]
enum DrillScenario {
    Failover,
    Chaos,
    EcmpCluster,
}

fn main() -> ExitCode {
    let cli = Cli::parse();
    match cli.command {
        Cmd::Drill {
            scenario: DrillScenario::Failover,
            json,
            interval_ms,
            ..
        } => appliance::drill::run(json, interval_ms),
        Cmd::Drill {
            scenario: DrillScenario::EcmpCluster,
            json,
            seed,
            router,
            mode,
            connections,
            bfd_ms,
            per_node_seed,
            ..
        } => {
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
                    connections,
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
        Cmd::Drill {
            scenario: DrillScenario::Chaos,
            json,
            interval_ms,
            minutes,
            events,
            seed,
            ..
        } => {
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
