//! The supervisor: loads the configuration, starts every subsystem with a shutdown token and a
//! `watch` of the running configuration, handles signals and reloads, and on exit makes sure
//! nothing it added to the kernel remains.

mod lock;
mod reload;

use std::path::PathBuf;
use std::sync::{Arc, Mutex};
use std::time::{Instant, SystemTime, UNIX_EPOCH};

use serde_json::json;
use tokio::signal::unix::{signal, SignalKind};
use tokio::sync::{mpsc, watch};
use tokio::task::JoinSet;
use tokio_util::sync::CancellationToken;

use crate::config::{self, Config};
use crate::control::server::{ControlContext, ControlServer, ReloadRequest};
use crate::events::{DaemonEvent, EventLog};
use crate::healthd;
use crate::interfaces::Interfaces;
use crate::kernel::{links, Ledger, Netlink};
use crate::metrics::{self, Metrics};
use crate::status::{DaemonStatus, MetricsStatus, ReloadOutcome, Status, STATUS_SCHEMA};

pub fn unix_ms() -> u64 {
    SystemTime::now()
        .duration_since(UNIX_EPOCH)
        .unwrap_or_default()
        .as_millis() as u64
}

/// What the status command reads; each part is written by its owner.
struct Shared {
    node: String,
    config_path: PathBuf,
    started_unix_ms: u64,
    started: Instant,
    generation: u64,
    loaded_unix_ms: u64,
    last_reload: Option<ReloadOutcome>,
    leftovers_removed: u64,
    metrics_listen: Option<String>,
}

pub async fn run(config_path: PathBuf, cfg: Config) -> anyhow::Result<()> {
    let node = cfg.daemon.node_name.clone().unwrap_or_else(|| {
        nix::unistd::gethostname()
            .ok()
            .and_then(|h| h.into_string().ok())
            .unwrap_or_else(|| "appliance".into())
    });

    std::fs::create_dir_all(&cfg.daemon.state_dir).map_err(|e| {
        anyhow::anyhow!(
            "cannot create state directory {}: {e}",
            cfg.daemon.state_dir.display()
        )
    })?;
    let _lock = lock::acquire(&cfg.daemon.state_dir).map_err(anyhow::Error::msg)?;

    let metrics = Metrics::new(&node);
    let events = {
        let m = metrics.clone();
        EventLog::with_hook(Arc::new(move |e| m.count_event(&e.subsystem, &e.kind)))
    };
    let netlink = Netlink::connect()?;

    // Leftovers of a run that did not stop gracefully go before anything new is added.
    let (ledger, leftovers) = Ledger::open(&cfg.daemon.state_dir)?;
    let mut removed = 0;
    if !leftovers.is_empty() {
        tracing::warn!(
            "{} kernel object(s) left by an earlier run that did not stop cleanly",
            leftovers.len()
        );
        removed =
            crate::kernel::sweep::sweep(&netlink, &ledger, &events, "left by an earlier run").await;
        metrics.leftovers_removed.inc_by(removed);
    }

    let shared = Arc::new(Mutex::new(Shared {
        node: node.clone(),
        config_path: config_path.clone(),
        started_unix_ms: unix_ms(),
        started: Instant::now(),
        generation: 1,
        loaded_unix_ms: unix_ms(),
        last_reload: None,
        leftovers_removed: removed,
        metrics_listen: None,
    }));
    metrics.config_generation.set(1);

    let stop = CancellationToken::new();
    let mut tasks = JoinSet::new();
    let (config_tx, config_rx) = watch::channel(Arc::new(cfg.clone()));

    // Health first: every verdict consumer (VRRP, BGP, pools) starts with the full table.
    // Consumers take `verdict_rx.clone()`.
    let (verdict_tx, verdict_rx) = crate::verdicts::channel();
    let (health, health_task) = healthd::start(
        config_rx.clone(),
        events.clone(),
        &metrics,
        verdict_tx,
        stop.clone(),
    );
    tasks.spawn(health_task);

    let link_rx = links::watch_links(stop.clone()).await?;
    let (if_status_tx, if_status_rx) = watch::channel(Vec::new());
    tasks.spawn(
        Interfaces {
            netlink: netlink.clone(),
            ledger: ledger.clone(),
            events: events.clone(),
            links: link_rx.clone(),
            config: config_rx.clone(),
            status: if_status_tx,
        }
        .run(stop.clone()),
    );

    let (vrrp_status_tx, vrrp_status_rx) = watch::channel(Vec::new());
    let (vrrp_states_tx, vrrp_states_rx) = watch::channel(Default::default());
    tasks.spawn(
        crate::vrrpd::Vrrp {
            netlink: netlink.clone(),
            ledger: ledger.clone(),
            events: events.clone(),
            metrics: metrics.clone(),
            links: link_rx.clone(),
            verdicts: verdict_rx.clone(),
            config: config_rx.clone(),
            status: vrrp_status_tx,
            states: vrrp_states_tx,
        }
        .run_isolated(stop.clone()),
    );

    // The fast path (idle when the file has no [dataplane]).
    let dataplane = crate::dataplaned::DataplaneHandle::default();
    tasks.spawn(
        crate::dataplaned::Dataplane {
            netlink: netlink.clone(),
            ledger: ledger.clone(),
            events: events.clone(),
            config: config_rx.clone(),
            verdicts: Some(verdict_rx.clone()),
            handle: dataplane.clone(),
            metrics: metrics.clone(),
        }
        .run(stop.clone()),
    );

    // BGP: announcements gated by verdicts, VRRP states and the operator's drain set.
    let bgp = crate::bgpd::BgpHandle::default();
    tasks.spawn(
        crate::bgpd::Bgp {
            events: events.clone(),
            metrics: metrics.clone(),
            verdicts: verdict_rx.clone(),
            vrrp_states: vrrp_states_rx,
            config: config_rx.clone(),
            handle: bgp.clone(),
        }
        .run(stop.clone()),
    );

    tasks.spawn(metrics_task(
        metrics.clone(),
        config_rx.clone(),
        shared.clone(),
        stop.clone(),
    ));

    let (reload_tx, mut reload_rx) = mpsc::channel::<ReloadRequest>(4);
    let control = ControlServer::bind(&cfg.control.socket)
        .await
        .map_err(|e| anyhow::anyhow!("control socket {}: {e}", cfg.control.socket.display()))?;
    let status_fn = {
        let shared = shared.clone();
        let events = events.clone();
        let if_status = if_status_rx.clone();
        let vrrp_status = vrrp_status_rx.clone();
        let health = health.clone();
        let bgp = bgp.clone();
        move || {
            let s = shared.lock().unwrap_or_else(|p| p.into_inner());
            Status {
                schema: STATUS_SCHEMA,
                daemon: DaemonStatus {
                    node: s.node.clone(),
                    version: env!("CARGO_PKG_VERSION").to_string(),
                    pid: std::process::id(),
                    started_unix_ms: s.started_unix_ms,
                    uptime_ms: s.started.elapsed().as_millis() as u64,
                    config_path: s.config_path.display().to_string(),
                    config_generation: s.generation,
                    config_loaded_unix_ms: s.loaded_unix_ms,
                    last_reload: s.last_reload.clone(),
                    last_event_seq: events.last_seq(),
                    leftovers_removed: s.leftovers_removed,
                },
                interfaces: if_status.borrow().clone(),
                metrics: MetricsStatus {
                    listen: s.metrics_listen.clone(),
                },
                vrrp: vrrp_status.borrow().clone(),
                checks: health.statuses(),
                bgp: bgp.status(),
            }
        }
    };
    tasks.spawn(control.serve(
        Arc::new(ControlContext {
            events: events.clone(),
            status: Box::new(status_fn),
            reload: reload_tx,
            health,
            dataplane,
            bgp,
        }),
        stop.clone(),
    ));

    events.emit(
        DaemonEvent::Started,
        &node,
        format!(
            "applianced {} started (pid {})",
            env!("CARGO_PKG_VERSION"),
            std::process::id()
        ),
        json!({ "config": config_path.display().to_string() }),
    );

    let mut sigterm = signal(SignalKind::terminate())?;
    let mut sigint = signal(SignalKind::interrupt())?;
    let mut sighup = signal(SignalKind::hangup())?;
    let why = loop {
        tokio::select! {
            _ = sigterm.recv() => break "SIGTERM",
            _ = sigint.recv() => break "SIGINT",
            _ = sighup.recv() => {
                let _ = reload::reload(&config_path, &config_tx, &shared, &events, &metrics, "SIGHUP");
            }
            Some(reply) = reload_rx.recv() => {
                let r = reload::reload(&config_path, &config_tx, &shared, &events, &metrics, "appctl reload");
                let _ = reply.send(r);
            }
        }
    };

    let grace = config_tx.borrow().daemon.shutdown_grace.get();
    events.emit(
        DaemonEvent::Stopping,
        &node,
        format!("{why} received; stopping (grace {} ms)", grace.as_millis()),
        json!({ "signal": why }),
    );
    stop.cancel();
    let drained =
        tokio::time::timeout(grace, async { while tasks.join_next().await.is_some() {} }).await;
    if drained.is_err() {
        tracing::warn!(
            "subsystems did not finish within {} ms; aborting them",
            grace.as_millis()
        );
        tasks.abort_all();
    }
    // Held until here so every verdict consumer could take a clone of it.
    drop(verdict_rx);
    // Whatever a subsystem could not remove (or was aborted before removing) goes now.
    let swept =
        crate::kernel::sweep::sweep(&netlink, &ledger, &events, "not removed by its subsystem")
            .await;
    if swept > 0 {
        tracing::warn!("removed {swept} kernel object(s) in the final sweep");
    }
    let _ = std::fs::remove_file(cfg.control.socket.as_path());
    tracing::info!("stopped");
    Ok(())
}

/// Runs the metrics endpoint and rebinds it when a reload changes `[metrics] listen`.
async fn metrics_task(
    metrics: Metrics,
    mut config: watch::Receiver<Arc<Config>>,
    shared: Arc<Mutex<Shared>>,
    stop: CancellationToken,
) {
    let mut current: Option<std::net::SocketAddr> = None;
    let mut server: Option<CancellationToken> = None;
    loop {
        let want = config.borrow_and_update().metrics.listen;
        if want != current {
            if let Some(s) = server.take() {
                s.cancel();
            }
            current = want;
            let mut listen = None;
            if let Some(addr) = want {
                match metrics::http::bind(addr).await {
                    Ok(l) => {
                        let token = stop.child_token();
                        tokio::spawn(metrics::http::serve(l, metrics.clone(), token.clone()));
                        server = Some(token);
                        listen = Some(addr.to_string());
                        tracing::info!("metrics on http://{addr}/metrics");
                    }
                    Err(e) => tracing::error!("cannot listen for metrics on {addr}: {e}"),
                }
            }
            shared
                .lock()
                .unwrap_or_else(|p| p.into_inner())
                .metrics_listen = listen;
        }
        tokio::select! {
            _ = stop.cancelled() => return,
            r = config.changed() => if r.is_err() { return },
        }
    }
}

/// Used by `applianced check` and at start: the whole file, or every problem in it.
pub fn load(path: &std::path::Path) -> Result<Config, config::ConfigErrors> {
    config::load_file(path)
}
