//! appctl: the operator's view of and handle on a running applianced.

use std::path::PathBuf;
use std::process::ExitCode;

use clap::{Parser, Subcommand};

use appliance::cli::dataplane as render_dp;
use appliance::cli::render;
use appliance::config::daemon::DEFAULT_SOCKET;
use appliance::control::client::{Client, ClientError};
use appliance::control::protocol::Command;
use appliance::events::Event;
use appliance::status::Status;

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
    /// Re-read the configuration file; a bad file leaves the running configuration in place.
    Reload,
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
    /// Tracked flows of every worker.
    Conntrack {
        /// At most this many flows.
        #[arg(long, default_value_t = 100)]
        limit: u32,
        #[arg(long)]
        json: bool,
    },
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
    let cli = Cli::parse();
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
        Cmd::Reload => {
            let data = client.call(Command::Reload)?;
            println!(
                "reloaded: configuration generation {}",
                data.get("generation").and_then(|g| g.as_u64()).unwrap_or(0)
            );
        }
        Cmd::Dataplane { json } => {
            let data = client.call(Command::Dataplane)?;
            show(data, *json, render_dp::dataplane)?;
        }
        Cmd::Service { json } => {
            let data = client.call(Command::Services)?;
            show(data, *json, |v: &Vec<_>| render_dp::services(v))?;
        }
        Cmd::Conntrack { limit, json } => {
            let data = client.call(Command::Conntrack { limit: *limit })?;
            show(data, *json, render_dp::conntrack)?;
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
    }
    Ok(())
}
