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
    Drill {
        /// `failover` or `chaos`.
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
    },
}

#[derive(Clone, Copy, clap::ValueEnum)]
enum DrillScenario {
    Failover,
    Chaos,
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
            scenario: DrillScenario::Chaos,
            json,
            interval_ms,
            minutes,
            events,
            seed,
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
