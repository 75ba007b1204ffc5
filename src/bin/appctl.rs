//! appctl: the operator's view of and handle on a running applianced.

use std::path::PathBuf;
use std::process::ExitCode;

use clap::{CommandFactory, FromArgMatches, Parser, Subcommand, ValueEnum};

use appliance::cli::dataplane as render_dp;
use appliance::cli::render;
use appliance::config::daemon::DEFAULT_SOCKET;
use appliance::control::client::{Client, ClientError};
use appliance::control::protocol::Command;
use appliance::events::Event;
use appliance::status::{CheckView, Status};

#[derive(Parser)]
#[command(
    name = "appctl",
    version,
    about = "Query and control a running applianced"
)]
struct Cli {
    /// Control socket of the daemon.
    #[arg(short = 's', long = "socket", default_value = DEFAULT_SOCKET, global = true)]
    socket: PathBuf,
    #[command(subcommand)]
    command: Cmd,
}

#[derive(Subcommand)]
enum Cmd {
    /// One view of every subsystem.
    Status {
        /// Stable JSON instead of the human view.
        #[arg(long)]
        json: bool,
    },
    /// VRRP instances with their RFC 6527 counters.
    Vrrp {
        #[arg(long)]
        json: bool,
    },
    /// Re-read the configuration file; a bad file leaves the running configuration in place.
    /// Prints what was applied in place, restarted, added or removed.
    Reload {
        /// The reply as JSON (`generation` and `changes`).
        #[arg(long)]
        json: bool,
    },
    /// The ordered event log.
    Events {
        /// Keep printing new events as they happen.
        #[arg(short, long)]
        follow: bool,
        /// Only events with a sequence number above this.
        #[arg(long, default_value_t = 0)]
        since: u64,
        /// One JSON object per line.
        #[arg(long)]
        json: bool,
    },
    /// Health checks in detail: state, counters, latency, last error.
    Health {
        /// The checks as JSON (the `checks` part of `status --json`).
        #[arg(long)]
        json: bool,
        #[command(subcommand)]
        action: Option<HealthCmd>,
    },
    /// The fast path: interfaces, workers and their counters.
    Dataplane {
        #[arg(long)]
        json: bool,
    },
    /// The data plane's services: backends, health and active flows.
    Service {
        #[arg(long)]
        json: bool,
    },
    /// BGP peers (state, uptime, capabilities, last NOTIFICATION) and prefixes (why announced
    /// or not); `drain`/`undrain` withdraw a prefix for maintenance.
    Bgp {
        #[arg(long)]
        json: bool,
        #[command(subcommand)]
        action: Option<BgpCmd>,
    },
    /// BFD sessions: state, discriminators, negotiated timers, packets, discards by reason.
    Bfd {
        #[arg(long)]
        json: bool,
    },
    /// Bonds: mode, members (carrier, distributing), LACP actor and partner state per member,
    /// the aggregator, active-backup's active member and failovers, counters.
    Bond {
        #[arg(long)]
        json: bool,
    },
    /// Session sync with the HA peers: peer state, records sent / received / resent / lost,
    /// lag, bulk resync progress both ways, discards by reason, whether VRRP preemption waits.
    Sync {
        #[arg(long)]
        json: bool,
    },
    /// GRE tunnels: packets and bytes each way, drops by reason.
    Gre {
        #[arg(long)]
        json: bool,
    },
    /// SNAT pools: ports in use per address and per worker, allocation failures.
    Snat {
        #[arg(long)]
        json: bool,
    },
    /// Tracked flows of every worker.
    Conntrack {
        /// At most this many flows.
        #[arg(long, default_value_t = 100)]
        limit: u32,
        #[arg(long)]
        json: bool,
    },
}

#[derive(Subcommand)]
enum HealthCmd {
    /// Force a check up or down (maintenance), or hand it back to its probes with `auto`.
    /// Kept across reloads; probes keep running underneath.
    Set {
        check: String,
        #[arg(value_enum)]
        state: OverrideArg,
    },
}

#[derive(Subcommand)]
enum BgpCmd {
    /// Withdraw a configured prefix from every peer regardless of its health (not persisted).
    Drain { prefix: String },
    /// Announce a drained prefix again when its gates allow.
    Undrain { prefix: String },
}

#[derive(Clone, Copy, ValueEnum)]
enum OverrideArg {
    Up,
    Down,
    Auto,
}

impl From<OverrideArg> for health::Override {
    fn from(o: OverrideArg) -> Self {
        match o {
            OverrideArg::Up => health::Override::Up,
            OverrideArg::Down => health::Override::Down,
            OverrideArg::Auto => health::Override::Auto,
        }
    }
}

/// Prints `data` as JSON, or decoded as `T` and rendered.
fn show<T: serde::de::DeserializeOwned>(
    data: serde_json::Value,
    json: bool,
    render: impl Fn(&T) -> String,
) -> Result<(), ClientError> {
    if json {
        println!(
            "{}",
            serde_json::to_string_pretty(&data).unwrap_or_default()
        );
    } else {
        let v: T =
            serde_json::from_value(data).map_err(|e| ClientError::Protocol(e.to_string()))?;
        print!("{}", render(&v));
    }
    Ok(())
}

fn main() -> ExitCode {
    // The package build's hidden `generate-assets` documents `Cli` as operators see it.
    let matches = appliance::package::with_generator(Cli::command()).get_matches();
    if let Some(out) = appliance::package::requested(&matches) {
        return appliance::package::generate(&Cli::command(), &out);
    }
    let cli = Cli::from_arg_matches(&matches).unwrap_or_else(|e| e.exit());
    match run(&cli) {
        Ok(()) => ExitCode::SUCCESS,
        Err(e) => {
            eprintln!("appctl: {e}");
            ExitCode::FAILURE
        }
    }
}

fn run(cli: &Cli) -> Result<(), ClientError> {
    let mut client = Client::connect(&cli.socket)?;
    match &cli.command {
        Cmd::Status { json } => {
            let data = client.call(Command::Status)?;
            if *json {
                println!(
                    "{}",
                    serde_json::to_string_pretty(&data).unwrap_or_default()
                );
            } else {
                let status: Status = serde_json::from_value(data)
                    .map_err(|e| ClientError::Protocol(e.to_string()))?;
                print!("{}", render::status(&status));
            }
        }
        Cmd::Vrrp { json } => {
            let data = client.call(Command::Status)?;
            let status: Status =
                serde_json::from_value(data).map_err(|e| ClientError::Protocol(e.to_string()))?;
            if *json {
                println!(
                    "{}",
                    serde_json::to_string_pretty(&status.vrrp).unwrap_or_default()
                );
            } else {
                print!("{}", render::vrrp(&status));
            }
        }
        Cmd::Reload { json } => {
            let data = client.call(Command::Reload)?;
            show(data, *json, appliance::cli::reload::reload)?;
        }
        Cmd::Dataplane { json } => {
            let data = client.call(Command::Dataplane)?;
            show(data, *json, render_dp::dataplane)?;
        }
        Cmd::Service { json } => {
            let data = client.call(Command::Services)?;
            show(data, *json, |v: &Vec<_>| render_dp::services(v))?;
        }
        Cmd::Gre { json } => {
            let data = client.call(Command::Gre)?;
            show(data, *json, |v: &Vec<_>| {
                appliance::cli::gateway::tunnels(v)
            })?;
        }
        Cmd::Snat { json } => {
            let data = client.call(Command::Snat)?;
            show(data, *json, |v: &Vec<_>| appliance::cli::gateway::pools(v))?;
        }
        Cmd::Conntrack { limit, json } => {
            let data = client.call(Command::Conntrack { limit: *limit })?;
            show(data, *json, render_dp::conntrack)?;
        }
        Cmd::Bgp { json, action } => {
            let cmd = match action {
                None => Command::Bgp,
                Some(BgpCmd::Drain { prefix }) => Command::BgpDrain {
                    prefix: prefix.clone(),
                    drain: true,
                },
                Some(BgpCmd::Undrain { prefix }) => Command::BgpDrain {
                    prefix: prefix.clone(),
                    drain: false,
                },
            };
            let data = client.call(cmd)?;
            show(data, *json, appliance::cli::bgp::bgp)?;
        }
        Cmd::Bfd { json } => {
            let data = client.call(Command::Bfd)?;
            show(data, *json, appliance::cli::bfd::bfd)?;
        }
        Cmd::Bond { json } => {
            let data = client.call(Command::Bond)?;
            show(data, *json, appliance::cli::bond::bonds)?;
        }
        Cmd::Sync { json } => {
            let data = client.call(Command::Sync)?;
            show(data, *json, appliance::cli::sync::sync)?;
        }
        Cmd::Events {
            follow,
            since,
            json,
        } => {
            client.send(Command::Events {
                since: *since,
                follow: *follow,
            })?;
            while let Some(data) = client.next_response()? {
                if *json {
                    println!("{data}");
                } else {
                    let ev: Event = serde_json::from_value(data)
                        .map_err(|e| ClientError::Protocol(e.to_string()))?;
                    println!("{}", render::event(&ev));
                }
            }
        }
        Cmd::Health { json, action: None } => {
            let data = client.call(Command::Status)?;
            let status: Status =
                serde_json::from_value(data).map_err(|e| ClientError::Protocol(e.to_string()))?;
            if *json {
                println!(
                    "{}",
                    serde_json::to_string_pretty(&status.checks).unwrap_or_default()
                );
            } else {
                print!("{}", render::health(&status.checks));
            }
        }
        Cmd::Health {
            action: Some(HealthCmd::Set { check, state }),
            ..
        } => {
            let data = client.call(Command::HealthSet {
                check: check.clone(),
                state: (*state).into(),
            })?;
            let view: CheckView =
                serde_json::from_value(data).map_err(|e| ClientError::Protocol(e.to_string()))?;
            println!(
                "{}: override {}, state {} (probes say {})",
                view.name, view.override_state, view.state, view.health
            );
        }
    }
    Ok(())
}
