//! The supervisor: loads the configuration, starts every subsystem with a shutdown token and a
//! `watch` of the running configuration, handles signals and reloads, and on exit makes sure
//! nothing it added to the kernel remains.

mod lock;
mod metrics_endpoint;
pub mod notify;
mod reload;
mod reload_plan;
mod service;
mod shutdown;
mod sources;
mod start;

use std::path::PathBuf;
use std::time::{SystemTime, UNIX_EPOCH};

use tokio::signal::unix::{signal, SignalKind};

use crate::config::overrides::Overrides;
use crate::config::{self, Config};
use start::Daemon;

pub fn unix_ms() -> u64 {
    SystemTime::now()
        .duration_since(UNIX_EPOCH)
        .unwrap_or_default()
        .as_millis() as u64
}

/// Runs the daemon on `cfg`, loaded from `config_path` with `overrides` (the command line's)
/// applied; every reload applies them again.
pub async fn run(config_path: PathBuf, cfg: Config, overrides: Overrides) -> anyhow::Result<()> {
    let notifier = notify::Notifier::from_env();
    let mut daemon = start::start(config_path, cfg, overrides).await?;
    let why = match until_stopped(&mut daemon, &notifier).await {
        Ok(why) => why,
        Err(e) => {
            // What the subsystems added goes with the daemon.
            shutdown::shutdown(daemon, "an error in the supervisor").await;
            return Err(e);
        }
    };
    service::stopping(&daemon, &notifier, why);
    shutdown::shutdown(daemon, why).await;
    Ok(())
}

/// Serves reloads (SIGHUP, `appctl reload`) until SIGTERM or SIGINT, whose name it returns.
/// Under systemd it says when it is ready (once the signals are handled, so a stop right after
/// `systemctl start` is graceful too) and pets the watchdog: only this loop does, so a wedged
/// supervisor is restarted.
async fn until_stopped(d: &mut Daemon, n: &notify::Notifier) -> anyhow::Result<&'static str> {
    let mut sigterm = signal(SignalKind::terminate())?;
    let mut sigint = signal(SignalKind::interrupt())?;
    let mut sighup = signal(SignalKind::hangup())?;
    service::ready(d, n).await?;
    let reload = |d: &Daemon, trigger| {
        service::reloading(n, trigger);
        let r = reload::reload(
            &d.config_path,
            &d.overrides,
            &d.config_tx,
            &d.shared,
            &d.events,
            &d.metrics,
            trigger,
        );
        service::reloaded(n, &r);
        r
    };
    let mut watchdog = service::Watchdog::new(n);
    Ok(loop {
        tokio::select! {
            _ = sigterm.recv() => break "SIGTERM",
            _ = sigint.recv() => break "SIGINT",
            _ = sighup.recv() => {
                let _ = reload(d, "SIGHUP");
            }
            Some(reply) = d.reload_rx.recv() => {
                let r = reload(d, "appctl reload");
                let _ = reply.send(r);
            }
            _ = watchdog.tick() => watchdog.pet(d, n).await,
        }
    })
}

/// Used by `applianced check` and at start: the whole file, or every problem in it.
pub fn load(path: &std::path::Path, overrides: &Overrides) -> Result<Config, config::ConfigErrors> {
    let mut cfg = config::load_file(path)?;
    overrides.apply(&mut cfg);
    Ok(cfg)
}
