//! Start: one daemon per state directory, the kernel left clean by an earlier run, then the
//! subsystems in dependency order and finally the control socket.

use std::os::unix::fs::DirBuilderExt;
use std::path::PathBuf;
use std::sync::{Arc, Mutex};
use std::time::Instant;

use serde_json::json;
use tokio::sync::{mpsc, watch};
use tokio::task::JoinSet;
use tokio_util::sync::CancellationToken;

use super::lock::{self, PidLock};
use super::sources::{Shared, StatusSources};
use super::{metrics_endpoint, unix_ms};
use crate::config::overrides::Overrides;
use crate::config::Config;
use crate::control::server::{ControlContext, ControlServer, ReloadRequest};
use crate::events::{DaemonEvent, EventLog};
use crate::healthd;
use crate::interfaces::Interfaces;
use crate::kernel::{links, Ledger, Netlink};
use crate::metrics::Metrics;
use crate::verdicts::Verdicts;

/// A started daemon: what the main loop and the shutdown need.
pub(super) struct Daemon {
    pub node: String,
    pub config_path: PathBuf,
    /// The command line's settings, applied to every reload too.
    pub overrides: Overrides,
    /// The control socket's path, removed at the end.
    pub socket: PathBuf,
    pub events: EventLog,
    pub metrics: Metrics,
    pub netlink: Netlink,
    pub ledger: Ledger,
    pub shared: Arc<Mutex<Shared>>,
    pub config_tx: watch::Sender<Arc<Config>>,
    pub reload_rx: mpsc::Receiver<ReloadRequest>,
    /// Cancelled to stop every subsystem; they run in `tasks`.
    pub stop: CancellationToken,
    pub tasks: JoinSet<()>,
    /// The fast path stops last, once the subsystems that move traffic away (VRRP resigning,
    /// BGP's graceful shutdown and withdrawal) are done: until then, whatever still arrives
    /// for the VIPs is forwarded.
    pub last_stop: CancellationToken,
    pub last_tasks: JoinSet<()>,
    /// Held until the subsystems are done, so every verdict consumer could take a clone.
    pub verdict_rx: watch::Receiver<Verdicts>,
    /// Released last, when the process is about to exit.
    pub lock: PidLock,
}

/// What the supervisor itself holds before any subsystem starts.
struct Base {
    node: String,
    lock: PidLock,
    control: ControlServer,
    metrics: Metrics,
    events: EventLog,
    netlink: Netlink,
    ledger: Ledger,
    leftovers_removed: u64,
}

pub(super) async fn start(
    config_path: PathBuf,
    cfg: Config,
    overrides: Overrides,
) -> anyhow::Result<Daemon> {
    let base = prepare(&cfg).await?;
    let shared = Arc::new(Mutex::new(Shared {
        node: base.node.clone(),
        config_path: config_path.clone(),
        started_unix_ms: unix_ms(),
        started: Instant::now(),
        generation: 1,
        loaded_unix_ms: unix_ms(),
        last_reload: None,
        leftovers_removed: base.leftovers_removed,
        metrics_listen: None,
    }));
    base.metrics.config_generation.set(1);

    let stop = CancellationToken::new();
    let mut tasks = JoinSet::new();
    let last_stop = CancellationToken::new();
    let mut last_tasks = JoinSet::new();
    let (config_tx, config_rx) = watch::channel(Arc::new(cfg.clone()));
    let (verdict_tx, verdict_rx) = crate::verdicts::channel();
    let parts = match subsystems(
        &base,
        &config_rx,
        verdict_tx,
        &verdict_rx,
        (&mut tasks, &stop),
        (&mut last_tasks, &last_stop),
    )
    .await
    {
        Ok(parts) => parts,
        Err(e) => {
            // What the subsystems added before one of them failed is in the ledger: the
            // shutdown path removes it, and the socket file goes with it.
            stop.cancel();
            last_stop.cancel();
            tasks.shutdown().await;
            last_tasks.shutdown().await;
            crate::kernel::sweep::sweep(&base.netlink, &base.ledger, &base.events, "start failed")
                .await;
            let _ = std::fs::remove_file(&cfg.control.socket);
            return Err(e);
        }
    };
    let control = base.control;
    tasks.spawn(metrics_endpoint::run(
        base.metrics.clone(),
        config_rx.clone(),
        shared.clone(),
        stop.clone(),
    ));

    let (reload_tx, reload_rx) = mpsc::channel::<ReloadRequest>(4);
    let sources = StatusSources {
        shared: shared.clone(),
        events: base.events.clone(),
        interfaces: parts.interfaces,
        vrrp: parts.vrrp,
        health: parts.health.clone(),
        bgp: parts.bgp.clone(),
    };
    tasks.spawn(control.serve(
        Arc::new(ControlContext {
            events: base.events.clone(),
            status: Box::new(move || sources.status()),
            reload: reload_tx,
            health: parts.health,
            dataplane: parts.dataplane,
            bgp: parts.bgp,
            bfd: parts.bfd,
            bonds: parts.bonds,
        }),
        stop.clone(),
    ));

    base.events.emit(
        DaemonEvent::Started,
        &base.node,
        format!(
            "applianced {} started (pid {})",
            env!("CARGO_PKG_VERSION"),
            std::process::id()
        ),
        json!({ "config": config_path.display().to_string() }),
    );
    Ok(Daemon {
        node: base.node,
        config_path,
        overrides,
        socket: cfg.control.socket.clone(),
        events: base.events,
        metrics: base.metrics,
        netlink: base.netlink,
        ledger: base.ledger,
        shared,
        config_tx,
        reload_rx,
        stop,
        tasks,
        last_stop,
        last_tasks,
        verdict_rx,
        lock: base.lock,
    })
}

/// The node's name, the state directory and its lock, metrics and events, and a kernel clean
/// of what an earlier run that did not stop gracefully left: before anything new is added.
async fn prepare(cfg: &Config) -> anyhow::Result<Base> {
    let node = cfg.daemon.node_name.clone().unwrap_or_else(|| {
        nix::unistd::gethostname()
            .ok()
            .and_then(|h| h.into_string().ok())
            .unwrap_or_else(|| "appliance".into())
    });

    // The state directory holds the ledger and the pid lock (and, by default, the control
    // socket): private to root, as the documentation says.
    std::fs::DirBuilder::new()
        .recursive(true)
        .mode(0o700)
        .create(&cfg.daemon.state_dir)
        .map_err(|e| {
            anyhow::anyhow!(
                "cannot create state directory {}: {e}",
                cfg.daemon.state_dir.display()
            )
        })?;
    let lock = lock::acquire(&cfg.daemon.state_dir).map_err(anyhow::Error::msg)?;
    // Every exclusive resource before the kernel is touched: a second daemon that shares the
    // socket path must be refused before it sweeps, adds an address or attaches a program.
    let control = ControlServer::bind(&cfg.control.socket)
        .await
        .map_err(|e| anyhow::anyhow!("control socket {}: {e}", cfg.control.socket.display()))?;

    let metrics = Metrics::new(&node);
    let events = {
        let m = metrics.clone();
        EventLog::with_hook(Arc::new(move |e| m.count_event(&e.subsystem, &e.kind)))
    };
    let netlink = Netlink::connect()?;

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
    Ok(Base {
        node,
        lock,
        control,
        metrics,
        events,
        netlink,
        ledger,
        leftovers_removed: removed,
    })
}

/// What the running subsystems give the control socket.
struct Parts {
    interfaces: watch::Receiver<Vec<crate::status::InterfaceStatus>>,
    vrrp: watch::Receiver<Vec<crate::status::VrrpInstanceStatus>>,
    health: healthd::HealthControl,
    dataplane: crate::dataplaned::DataplaneHandle,
    bgp: crate::bgpd::BgpHandle,
    bfd: crate::bfdd::BfdHandle,
    bonds: crate::bondd::Bonds,
}

/// Starts the subsystems, each after those whose output it consumes.
async fn subsystems(
    base: &Base,
    config_rx: &watch::Receiver<Arc<Config>>,
    verdict_tx: watch::Sender<Verdicts>,
    verdict_rx: &watch::Receiver<Verdicts>,
    (tasks, stop): (&mut JoinSet<()>, &CancellationToken),
    (last_tasks, last_stop): (&mut JoinSet<()>, &CancellationToken),
) -> anyhow::Result<Parts> {
    // Health first: every verdict consumer (VRRP, BGP, pools) starts with the full table.
    // Consumers take `verdict_rx.clone()`.
    let (health, health_task) = healthd::start(
        config_rx.clone(),
        base.events.clone(),
        &base.metrics,
        verdict_tx,
        stop.clone(),
    );
    tasks.spawn(health_task);

    let link_rx = links::watch_links(last_stop.clone()).await?;
    // Bonds before anything that uses an interface: their taps are interfaces. They stop
    // last, with the data plane (BGP's last messages leave through them).
    let bonds = crate::bondd::start(
        &config_rx.borrow().clone(),
        &base.netlink,
        link_rx.clone(),
        config_rx.clone(),
        (&base.events, &base.metrics),
        last_stop.clone(),
    )
    .await?;
    let (if_status_tx, if_status_rx) = watch::channel(Vec::new());
    // The static addresses stay until the end with the data plane: BGP's sessions use them
    // to send their graceful shutdown, withdrawal and Cease.
    last_tasks.spawn(
        Interfaces {
            netlink: base.netlink.clone(),
            ledger: base.ledger.clone(),
            events: base.events.clone(),
            links: link_rx.clone(),
            config: config_rx.clone(),
            status: if_status_tx,
        }
        .run(last_stop.clone()),
    );

    // Session sync holds VRRP preemption from the start until the peer's table is in.
    let preempt_hold = Arc::new(watch::Sender::new(config_rx.borrow().sync.is_some()));
    let (vrrp_status_tx, vrrp_status_rx) = watch::channel(Vec::new());
    let (vrrp_states_tx, vrrp_states_rx) = watch::channel(Default::default());
    tasks.spawn(
        crate::vrrpd::Vrrp {
            netlink: base.netlink.clone(),
            ledger: base.ledger.clone(),
            events: base.events.clone(),
            metrics: base.metrics.clone(),
            links: link_rx.clone(),
            verdicts: verdict_rx.clone(),
            config: config_rx.clone(),
            status: vrrp_status_tx,
            states: vrrp_states_tx,
            preempt_hold: preempt_hold.subscribe(),
        }
        .run_isolated(stop.clone()),
    );

    // The fast path (idle when the file has no [dataplane]).
    let dataplane = crate::dataplaned::DataplaneHandle::default();
    last_tasks.spawn(
        crate::dataplaned::Dataplane {
            netlink: base.netlink.clone(),
            ledger: base.ledger.clone(),
            events: base.events.clone(),
            config: config_rx.clone(),
            verdicts: Some(verdict_rx.clone()),
            handle: dataplane.clone(),
            metrics: base.metrics.clone(),
            preempt_hold,
            bonds: bonds.clone(),
        }
        .run(last_stop.clone()),
    );

    // BFD before BGP: the sessions watch their neighbour's BFD state from their start.
    let (bfd, bfd_requests) = crate::bfdd::BfdHandle::new();
    let (bfd_states_tx, bfd_states_rx) = watch::channel(crate::bfdd::BfdStates::new());
    let bgp_stopped = CancellationToken::new();
    tasks.spawn(
        crate::bfdd::Bfd {
            events: base.events.clone(),
            metrics: base.metrics.clone(),
            config: config_rx.clone(),
            requests: bfd_requests,
            states: bfd_states_tx,
            bgp_stopped: bgp_stopped.clone(),
        }
        .run_isolated(stop.clone()),
    );

    // BGP: announcements gated by verdicts, VRRP states and the operator's drain set.
    let bgp = crate::bgpd::BgpHandle::default();
    tasks.spawn(
        crate::bgpd::Bgp {
            events: base.events.clone(),
            metrics: base.metrics.clone(),
            verdicts: verdict_rx.clone(),
            vrrp_states: vrrp_states_rx,
            config: config_rx.clone(),
            handle: bgp.clone(),
            bfd: bfd_states_rx,
            dataplane: dataplane.serving(),
            stopped: bgp_stopped,
        }
        .run(stop.clone()),
    );

    Ok(Parts {
        interfaces: if_status_rx,
        vrrp: vrrp_status_rx,
        health,
        dataplane,
        bgp,
        bfd,
        bonds,
    })
}
