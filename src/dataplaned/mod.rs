//! The data-plane subsystem of the daemon: it turns `[dataplane]` and `[[service]]` into running
//! workers. Start order: read the data interfaces and the kernel's routes and neighbours, build
//! the first snapshot, load one steering program per interface (sharing one map of owned keys),
//! open one AF_XDP socket per interface queue and hand each to the worker owning that queue,
//! start the workers, and only then attach the programs (recorded in the ledger first). Then it
//! follows configuration, health verdicts and the kernel's tables, publishing new snapshots.
//! On stop it detaches the programs first (traffic falls back to the kernel), then stops and
//! joins the workers.

pub mod gateway_status;
pub mod handle;
pub mod handoff;
pub mod kernel_monitor;
pub mod kernel_view;
pub mod metrics;
pub mod offload;
pub mod reload_plan;
pub mod resolve;
pub mod spec;
pub mod spsc;
pub mod state;
pub mod stats;
pub mod status;
pub mod worker;
pub mod worker_bond;
pub mod worker_offload;
pub mod worker_sync;
pub mod xdp;

use std::collections::BTreeMap;
use std::sync::atomic::Ordering;
use std::sync::Arc;
use std::time::Duration;

use serde_json::json;
use tokio::sync::watch;
use tokio_util::sync::CancellationToken;

use crate::config::dataplane::DataplaneConfig;
use crate::config::Config;
use crate::dataplaned::xdp::attach::{self, Mode};
use crate::dataplaned::xdp::steer::{OwnedMap, Program};
use crate::dataplaned::xdp::xsk::{Xsk, XskConfig};
use crate::events::{DataplaneEvent, EventLog};
use crate::kernel::{Ledger, Netlink};
use crate::verdicts::Verdicts;
use dataplane::pipeline::{Pipeline, PipelineConfig};
use dataplane::snapshot::{self, Publisher, Snapshot};
pub use handle::DataplaneHandle;
use kernel_view::{Iface, KernelView};
pub use state::DataplaneState;
use status::InterfaceStatus;
use worker::{Waker, Worker, WorkerShared};

/// How often the counters are copied to the metrics and missing next hops are asked for again
/// (routes and neighbours themselves come from the kernel monitor as they change).
const REFRESH: Duration = Duration::from_secs(1);
const HANDOFF_SLOTS: usize = 1024;

pub struct Dataplane {
    pub netlink: Netlink,
    pub ledger: Ledger,
    pub events: EventLog,
    pub config: watch::Receiver<Arc<Config>>,
    /// Health verdicts; `None` until a health subsystem publishes them.
    pub verdicts: Option<watch::Receiver<Verdicts>>,
    pub handle: DataplaneHandle,
    pub metrics: crate::metrics::Metrics,
    /// True while session sync holds VRRP preemption; released here when sync cannot run.
    pub preempt_hold: Arc<watch::Sender<bool>>,
    /// The bonds (a data interface may be one: its frames arrive on its members).
    pub bonds: crate::bondd::Bonds,
}

/// Where frames of a data interface arrive: the interface itself, or each member of a bond.
struct Port {
    /// The data interface's index in the snapshot.
    iface: u16,
    kernel: Iface,
    member: Option<worker_bond::MemberOf>,
}

/// Everything a running data plane holds.
struct Running {
    ifaces: Vec<Iface>,
    /// The kernel interfaces the programs are attached to, in `programs` order.
    ports: Vec<Iface>,
    /// The bonds as they were when the data plane started.
    bonds_at_start: Vec<crate::config::bond::BondConfig>,
    metrics: metrics::DataplaneMetrics,
    owned: OwnedMap,
    programs: Vec<Program>,
    attached: Vec<String>,
    publisher: Publisher,
    workers: Vec<(Arc<WorkerShared>, std::thread::JoinHandle<()>)>,
    view: KernelView,
    /// The kernel monitor's view of routes, neighbours and local addresses.
    kernel: watch::Receiver<KernelView>,
    /// Stops the kernel monitor.
    monitor_stop: CancellationToken,
    /// Session sync: the thread with the `[sync]` it runs, or the workers' ends while it is
    /// stopped (a reload removed `[sync]`, or it failed to start).
    sync: SyncRun,
    sync_metrics: crate::syncd::metrics::SyncMetrics,
    /// The established-flow offload, when it runs.
    offload: Option<offload::OffloadRun>,
}

#[derive(Default)]
enum SyncRun {
    /// No `[sync]` at start: the workers log no changes.
    #[default]
    Off,
    Running(crate::syncd::SyncThread, crate::config::sync::SyncConfig),
    Stopped(crate::syncd::SyncLink),
}

fn verdicts_now(v: &Option<watch::Receiver<Verdicts>>) -> Verdicts {
    v.as_ref()
        .map(|r| r.borrow().clone())
        .unwrap_or_else(|| Arc::new(BTreeMap::new()))
}

impl Dataplane {
    pub async fn run(mut self, stop: CancellationToken) {
        let cfg = self.config.borrow_and_update().clone();
        let Some(dp) = cfg.dataplane.clone() else {
            stop.cancelled().await;
            return;
        };
        self.handle.update(|v| v.state = DataplaneState::Starting);
        let mut running = match self.start(&cfg, &dp).await {
            Ok(r) => r,
            Err(e) => {
                let msg = format!("{e:#}");
                self.events.emit(
                    DataplaneEvent::Failed,
                    "dataplane",
                    format!("data plane not started: {msg}"),
                    json!({ "error": msg }),
                );
                self.handle
                    .update(|v| v.state = DataplaneState::Failed { reason: msg });
                self.preempt_hold.send_replace(false);
                stop.cancelled().await;
                return;
            }
        };
        self.handle.update(|v| v.state = DataplaneState::Running);
        self.events.emit(
            DataplaneEvent::Started,
            "dataplane",
            format!(
                "data plane running: {} worker(s) on {}",
                dp.workers,
                dp.interfaces.join(", ")
            ),
            json!({ "workers": dp.workers, "interfaces": dp.interfaces }),
        );
        let mut tick = tokio::time::interval(REFRESH);
        let mut verdicts = self.verdicts.clone();
        loop {
            tokio::select! {
                _ = stop.cancelled() => break,
                r = self.config.changed() => {
                    if r.is_err() {
                        break;
                    }
                    self.on_reload(&mut running, &dp).await;
                }
                changed = verdicts_changed(&mut verdicts) => {
                    if changed {
                        let cfg = self.config.borrow().clone();
                        self.republish(&mut running, &cfg, &dp).await;
                    } else {
                        // The health subsystem went away: keep the last verdicts.
                        verdicts = None;
                    }
                }
                r = running.kernel.changed() => {
                    if r.is_err() {
                        // The monitor stopped: keep the last view.
                        std::future::pending::<()>().await;
                    }
                    self.on_kernel_change(&mut running, &dp).await;
                }
                _ = tick.tick() => self.on_tick(&mut running, &dp),
            }
        }
        self.shutdown(running).await;
    }

    async fn on_reload(&mut self, running: &mut Running, dp: &DataplaneConfig) {
        let new = self.config.borrow_and_update().clone();
        if !new.dataplane.as_ref().is_some_and(|n| n.same_at_start(dp)) {
            self.events.emit(
                DataplaneEvent::RestartNeeded,
                "dataplane",
                "[dataplane] changed: the new interfaces or workers apply at the next start"
                    .to_string(),
                json!({}),
            );
        }
        if !crate::config::bond::all_same_at_start(&running.bonds_at_start, &new.bond) {
            self.events.emit(
                DataplaneEvent::RestartNeeded,
                "dataplane",
                "a [[bond]] was added or removed, or its members, mode or MAC changed: that \
                 applies at the next start"
                    .to_string(),
                json!({}),
            );
        }
        self.republish(running, &new, dp).await;
        self.reload_sync(running, &new);
    }

    /// The monitor saw routes, neighbours or addresses change: publish a snapshot with them.
    async fn on_kernel_change(&self, running: &mut Running, dp: &DataplaneConfig) {
        running.view = running.kernel.borrow_and_update().clone();
        let cfg = self.config.borrow().clone();
        self.republish(running, &cfg, dp).await;
        self.resolve_missing(running, &cfg, dp);
    }

    /// Copies the counters to the metrics and asks the kernel again for next hops still missing
    /// (a resolution can fail, e.g. while a backend is down, and nothing else retries it).
    fn on_tick(&self, running: &mut Running, dp: &DataplaneConfig) {
        for (id, (shared, _)) in running.workers.iter().enumerate() {
            running
                .metrics
                .update(id as u16, &shared.stats.read().counters);
        }
        running
            .metrics
            .update_gateway(&self.handle.gre(), &self.handle.snat());
        if let Some(o) = &running.offload {
            let status = o.status();
            running.metrics.update_offload(&status);
            self.handle.update(|v| {
                if let Some(old) = &mut v.offload {
                    *old = status;
                }
            });
        }
        let cfg = self.config.borrow().clone();
        self.resolve_missing(running, &cfg, dp);
    }

    /// Makes the kernel resolve the next hops the snapshot lacks; frames towards them are
    /// counted and dropped until the monitor brings the answer.
    fn resolve_missing(&self, running: &Running, cfg: &Config, dp: &DataplaneConfig) {
        let (spec, spec6) = spec_of(cfg, running, &self.verdicts, dp);
        let mut missing: Vec<std::net::IpAddr> = spec::unresolved(&spec)
            .into_iter()
            .map(Into::into)
            .collect();
        for a in &missing {
            kernel_view::provoke_resolution(*a, 0);
        }
        for a in spec::unresolved_v6(&spec6) {
            // A link-local gateway is resolved on its route's interface.
            let scope = spec6
                .routes
                .iter()
                .find(|r| r.gateway == Some(a))
                .and_then(|r| running.ifaces.get(usize::from(r.iface)))
                .map_or(0, |i| i.index);
            kernel_view::provoke_resolution(a.into(), scope);
            missing.push(a.into());
        }
        self.handle.update(|v| {
            v.unresolved = missing.iter().map(|a| a.to_string()).collect();
        });
    }

    /// The offload was asked for and cannot run: the workers forward everything.
    fn offload_unavailable(&self, reason: &str) {
        tracing::warn!(
            "established-flow offload unavailable, the workers forward every packet: {reason}"
        );
        self.events.emit(
            DataplaneEvent::OffloadUnavailable,
            "dataplane",
            format!("established-flow offload unavailable: {reason}"),
            json!({ "reason": reason }),
        );
    }

    async fn start(&self, cfg: &Config, dp: &DataplaneConfig) -> anyhow::Result<Running> {
        let mut ifaces = Vec::new();
        for name in &dp.interfaces {
            ifaces.push(kernel_view::iface(&self.netlink, name).await?);
        }
        let monitor_stop = CancellationToken::new();
        let mut kernel =
            kernel_monitor::watch(self.netlink.clone(), ifaces.clone(), monitor_stop.clone())
                .await?;
        let view = kernel.borrow_and_update().clone();
        // From here on, a failed start must stop the monitor too.
        let monitor_guard = monitor_stop.clone().drop_guard();
        // The ownership hash must agree between sync peers: its seed then comes from the
        // shared key. The workers' own tables keep seeds of their own, random per start.
        let hash_seed = match cfg.sync.as_ref().map(|s| s.key_bytes()) {
            Some(Ok(k)) => crate::syncd::ownership_seed(&k),
            _ => rand_seed(),
        };
        let verdicts = verdicts_now(&self.verdicts);
        let spec = spec::build(
            &cfg.service,
            (&cfg.gre, &cfg.snat),
            &verdicts,
            &ifaces,
            &view,
            dp.workers,
            (hash_seed, dp.cluster_seed),
        );
        let spec6 = spec::build_v6(
            &cfg.service,
            &cfg.snat,
            &verdicts,
            &view,
            crate::config::dataplane::nat64_prefix(cfg),
        );
        let mut ports = Vec::new();
        let mut bonds: Vec<(Arc<crate::bondd::shared::BondShared>, u16, Vec<u32>)> = Vec::new();
        for (i, iface) in ifaces.iter().enumerate() {
            let Some(b) = self.bonds.get(&iface.name) else {
                ports.push(Port {
                    iface: i as u16,
                    kernel: iface.clone(),
                    member: None,
                });
                continue;
            };
            for (pos, m) in b.members.iter().enumerate() {
                ports.push(Port {
                    iface: i as u16,
                    kernel: kernel_view::iface(&self.netlink, &m.name).await?,
                    member: Some(worker_bond::MemberOf {
                        bond: bonds.len() as u8,
                        pos: pos as u8,
                    }),
                });
            }
            let indexes = b.members.iter().map(|m| m.ifindex).collect();
            bonds.push((b.shared, i as u16, indexes));
        }
        let first = Snapshot::build_with_v6(&spec, &spec6, None)?;
        let (publisher, subscriber) = snapshot::channel(first);
        // Every worker's tables before anything in the kernel changes: a size that cannot be
        // had refuses the start and leaves no map, program or socket behind.
        let mut pipelines = allocate_pipelines(dp, rand_seed())?;
        let mut offload_reason = None;
        let port_ifaces: Vec<Iface> = ports.iter().map(|p| p.kernel.clone()).collect();
        let mut offload_run = match offload::OffloadRun::load(dp, &ifaces, &port_ifaces) {
            Ok(o) => o,
            Err(reason) => {
                self.offload_unavailable(&reason);
                offload_reason = Some(reason);
                None
            }
        };
        let mut owned = OwnedMap::create()?;
        owned.set_keys(&spec::owned_keys(
            &cfg.service,
            (&cfg.gre, &cfg.snat),
            &view.locals,
        ))?;
        owned.set_keys_v6(&spec::owned_keys_v6(&spec6))?;
        owned.set_sources(&spec::source_prefixes(&cfg.gre, &cfg.snat))?;
        owned.set_routed6(&spec::routed6_prefixes(&cfg.gre))?;

        let workers_n = usize::from(dp.workers);
        let mut sockets: Vec<Vec<worker::Socket>> = (0..workers_n).map(|_| Vec::new()).collect();
        let mut names: Vec<Vec<String>> = vec![Vec::new(); workers_n];
        let mut programs = Vec::new();
        // Per interface: what its first socket's kernel took for XDP_MAX_TX_SKB_BUDGET.
        let mut tx_budgets = Vec::new();
        for port in &ports {
            let iface = &port.kernel;
            let mut tx_budget = None;
            let prog = match port.member {
                Some(_) => Program::load_member(dp.queues)?,
                None => Program::load(&owned, dp.queues)?,
            };
            if let Some(o) = &mut offload_run {
                if let Err(reason) = o.chain(iface.index, prog.fd()) {
                    self.offload_unavailable(&reason);
                    offload_reason = Some(reason);
                    offload_run = None;
                }
            }
            for q in 0..dp.queues {
                let xsk = Xsk::open(iface.index, q, XskConfig::default())?;
                tx_budget = tx_budget.or(xsk.tx_budget());
                prog.set_socket(q, xsk.fd())?;
                let w = q as usize % workers_n;
                sockets[w].push(worker::Socket {
                    iface: port.iface,
                    xsk,
                    member: port.member,
                });
                names[w].push(format!("{}:{q}", iface.name));
            }
            programs.push(prog);
            tx_budgets.push(tx_budget);
        }

        // Rings between every ordered pair of workers.
        let wakers: Arc<Vec<Waker>> = Arc::new(
            (0..workers_n)
                .map(|_| Waker::new())
                .collect::<std::io::Result<_>>()?,
        );
        let mut outs: Vec<Vec<Option<handoff::Producer>>> = (0..workers_n)
            .map(|_| (0..workers_n).map(|_| None).collect())
            .collect();
        let mut ins: Vec<Vec<handoff::Consumer>> = (0..workers_n).map(|_| Vec::new()).collect();
        for (from, row) in outs.iter_mut().enumerate() {
            for (to, slot) in row.iter_mut().enumerate() {
                if from != to {
                    let (p, c) = handoff::ring(HANDOFF_SLOTS);
                    *slot = Some(p);
                    ins[to].push(c);
                }
            }
        }
        if offload_run.is_some() {
            for p in &mut pipelines {
                p.set_offload(true);
            }
        }
        // Session sync: a change log in every pipeline and rings both ways per worker.
        let mut sync_ends = Vec::new();
        let mut sync_link = Vec::new();
        for p in &mut pipelines {
            if cfg.sync.is_some() {
                p.log_changes(crate::syncd::CHANGE_LOG);
                let (ctx, crx) = spsc::ring(crate::syncd::RING);
                let (itx, irx) = spsc::ring(crate::syncd::RING);
                let shared = Arc::new(worker_sync::SyncShared::default());
                sync_ends.push(Some(worker_sync::WorkerSync::new(ctx, irx, shared.clone())));
                sync_link.push(crate::syncd::SyncWorker {
                    changes: crx,
                    inbound: itx,
                    shared,
                });
            } else {
                sync_ends.push(None);
            }
        }
        for (shared, _, _) in &bonds {
            *shared.workers.lock().unwrap_or_else(|p| p.into_inner()) = Some(wakers.clone());
        }
        let cpus = std::thread::available_parallelism().map_or(1, |n| n.get());
        let mut workers = Vec::new();
        let mut view_workers = Vec::new();
        let per_worker = sockets
            .into_iter()
            .zip(outs)
            .zip(ins)
            .zip(pipelines)
            .zip(sync_ends);
        for (id, ((((socks, out), inn), pipeline), sync)) in per_worker.enumerate() {
            let shared = Arc::new(WorkerShared::default());
            let cpu = Some(id % cpus);
            let w = Worker {
                id: id as u16,
                cpu,
                sockets: socks,
                snapshots: subscriber.clone(),
                handoff_out: out,
                handoff_in: inn,
                wakers: wakers.clone(),
                shared: shared.clone(),
                sync,
                offload: offload_run.as_ref().map(|o| o.worker(id)),
                bonds: bonds
                    .iter()
                    .map(|(shared, iface, indexes)| {
                        worker_bond::WorkerBond::new(shared.clone(), *iface, indexes.clone())
                    })
                    .collect(),
            };
            view_workers.push((id as u16, cpu, names[id].clone(), shared.clone()));
            workers.push((shared, w.spawn(pipeline)?));
        }

        let mut running = Running {
            metrics: metrics::DataplaneMetrics::register(&self.metrics),
            sync_metrics: crate::syncd::metrics::SyncMetrics::register(&self.metrics),
            ifaces,
            ports: port_ifaces,
            bonds_at_start: cfg.bond.clone(),
            owned,
            programs,
            attached: Vec::new(),
            publisher,
            workers,
            view,
            kernel,
            monitor_stop: monitor_guard.disarm(),
            sync: if cfg.sync.is_some() {
                SyncRun::Stopped(crate::syncd::SyncLink {
                    workers: sync_link,
                    worker_stats: view_workers.iter().map(|w| w.3.clone()).collect(),
                    wakers: wakers.clone(),
                    snapshots: subscriber.clone(),
                })
            } else {
                SyncRun::Off
            },
            offload: offload_run,
        };
        let mut if_status = Vec::new();
        for ((iface, prog), tx_budget) in
            running.ports.iter().zip(&running.programs).zip(tx_budgets)
        {
            // With the offload, its program is what runs first on every interface; the
            // interface's steering program runs behind it for what it does not forward.
            let fd = match &running.offload {
                Some(o) => o.prog_fd(),
                None => prog.fd(),
            };
            // A veth's native XDP hands redirected frames to its peer's NAPI, which the peer
            // has only with an XDP program or GRO of its own (otherwise they are dropped); in
            // generic mode they are transmitted like any packet. So with the offload, veths
            // run generic.
            let generic = dp.generic_xdp || (running.offload.is_some() && iface.veth);
            match attach::attach(&self.netlink, &self.ledger, &iface.name, fd, generic).await {
                Ok(mode) => {
                    running.attached.push(iface.name.clone());
                    if_status.push(InterfaceStatus {
                        name: iface.name.clone(),
                        index: iface.index,
                        mac: iface.mac.to_string(),
                        xdp_mode: match mode {
                            Mode::Native => "native".into(),
                            Mode::Generic => "generic".into(),
                        },
                        queues: dp.queues,
                        tx_budget,
                    });
                }
                Err(e) => {
                    self.shutdown(running).await;
                    return Err(e.into());
                }
            }
        }
        self.start_sync(&mut running, cfg);
        let offload_status = match &running.offload {
            Some(o) => o.status(),
            None => offload::not_running(dp, offload_reason),
        };
        let checks = backend_checks(cfg);
        let snap = running.publisher.current();
        self.handle.update(|v| {
            v.interfaces = if_status;
            v.workers = view_workers;
            v.snapshot = Some(snap);
            v.checks = checks;
            v.offload = Some(offload_status);
        });
        Ok(running)
    }

    /// Publishes a snapshot of the current configuration, verdicts and kernel tables, and
    /// updates the owned keys.
    async fn republish(&self, running: &mut Running, cfg: &Config, dp: &DataplaneConfig) {
        let (spec, spec6) = spec_of(cfg, running, &self.verdicts, dp);
        let prev = running.publisher.current();
        match Snapshot::build_with_v6(&spec, &spec6, Some(&prev)) {
            Ok(s) => {
                let generation = s.generation;
                running.publisher.publish(s);
                if let Err(e) = running.owned.set_keys(&spec::owned_keys(
                    &cfg.service,
                    (&cfg.gre, &cfg.snat),
                    &running.view.locals,
                )) {
                    tracing::error!("updating the steering keys: {e}");
                }
                if let Err(e) = running.owned.set_keys_v6(&spec::owned_keys_v6(&spec6)) {
                    tracing::error!("updating the IPv6 steering keys: {e}");
                }
                if let Err(e) = running
                    .owned
                    .set_sources(&spec::source_prefixes(&cfg.gre, &cfg.snat))
                {
                    tracing::error!("updating the steering source prefixes: {e}");
                }
                if let Err(e) = running.owned.set_routed6(&spec::routed6_prefixes(&cfg.gre)) {
                    tracing::error!("updating the steering IPv6 tunnel prefixes: {e}");
                }
                let snap = running.publisher.current();
                let checks = backend_checks(cfg);
                self.handle.update(|v| {
                    v.snapshot = Some(snap);
                    v.checks = checks;
                });
                tracing::debug!("published data-plane snapshot {generation}");
            }
            Err(e) => tracing::error!("data-plane snapshot rejected: {e}"),
        }
    }

    /// Starts the sync thread with `cfg.sync` if its ends are free; a failure is an event and
    /// releases VRRP preemption (nothing will bring the peer's table).
    fn start_sync(&self, running: &mut Running, cfg: &Config) {
        let (SyncRun::Stopped(_), Some(sc)) = (&running.sync, cfg.sync.as_ref()) else {
            return;
        };
        let SyncRun::Stopped(link) = std::mem::take(&mut running.sync) else {
            unreachable!("checked above");
        };
        let seed = running.publisher.current().hash_seed;
        // The link is given back only by a running thread: on failure, rebuild nothing and
        // run without sync until the next start.
        match crate::syncd::SyncThread::start(
            sc,
            crate::syncd::settings(cfg, seed),
            link,
            self.handle.sync_handle(),
            self.events.clone(),
            self.preempt_hold.clone(),
            running.sync_metrics.clone(),
        ) {
            Ok(t) => running.sync = SyncRun::Running(t, sc.clone()),
            Err(e) => {
                let msg = format!("{e:#}");
                tracing::error!("session sync not started: {msg}");
                self.events.emit(
                    crate::events::SyncEvent::Failed,
                    "sync",
                    format!("session sync not started: {msg}"),
                    json!({ "error": msg }),
                );
                self.preempt_hold.send_replace(false);
            }
        }
    }

    /// A reload: `[sync]` changed in place by restarting the thread (a new epoch, so the
    /// peers send their tables again); removed, it stops; added, it waits for the next start
    /// (the workers log no changes without it).
    fn reload_sync(&self, running: &mut Running, cfg: &Config) {
        let same = match (&running.sync, &cfg.sync) {
            (SyncRun::Running(_, old), Some(new)) => old == new,
            (SyncRun::Off, Some(_)) => {
                self.events.emit(
                    DataplaneEvent::RestartNeeded,
                    "dataplane",
                    "[sync] added: session sync starts with the data plane's next start"
                        .to_string(),
                    json!({}),
                );
                true
            }
            (SyncRun::Off, None) | (SyncRun::Stopped(_), None) => true,
            _ => false,
        };
        if same {
            return;
        }
        if let SyncRun::Running(t, _) = std::mem::take(&mut running.sync) {
            match t.stop() {
                Some(link) => running.sync = SyncRun::Stopped(link),
                None => return,
            }
        }
        self.start_sync(running, cfg);
    }

    async fn shutdown(&self, mut running: Running) {
        // Sync first: the peers keep the flows (nothing here is removed, and no removal is
        // sent), so a graceful stop keeps every connection on the node that takes over.
        if let SyncRun::Running(t, _) = std::mem::take(&mut running.sync) {
            let _ = tokio::task::spawn_blocking(move || t.stop()).await;
        }
        running.monitor_stop.cancel();
        for name in &running.attached {
            if let Err(e) = attach::detach(&self.netlink, &self.ledger, name).await {
                tracing::error!("detaching XDP from {name}: {e}");
            }
        }
        for (shared, _) in &running.workers {
            shared.stop.store(true, Ordering::Relaxed);
        }
        let joins: Vec<_> = running.workers.into_iter().map(|(_, j)| j).collect();
        let _ = tokio::task::spawn_blocking(move || {
            for j in joins {
                let _ = j.join();
            }
        })
        .await;
        drop(running.offload);
        drop(running.programs);
        self.handle.update(|v| {
            v.state = DataplaneState::Stopped;
            v.workers.clear();
        });
    }
}

/// Waits for new verdicts: `true` when they changed, `false` when their sender is gone; never
/// returns without a receiver.
async fn verdicts_changed(v: &mut Option<watch::Receiver<Verdicts>>) -> bool {
    match v {
        Some(r) => r.changed().await.is_ok(),
        None => std::future::pending().await,
    }
}

fn spec_of(
    cfg: &Config,
    running: &Running,
    verdicts: &Option<watch::Receiver<Verdicts>>,
    dp: &DataplaneConfig,
) -> (dataplane::snapshot::Spec, dataplane::snapshot::v6::SpecV6) {
    let prev = running.publisher.current();
    let verdicts = verdicts_now(verdicts);
    let spec6 = spec::build_v6(
        &cfg.service,
        &cfg.snat,
        &verdicts,
        &running.view,
        crate::config::dataplane::nat64_prefix(cfg),
    );
    let spec = spec::build(
        &cfg.service,
        (&cfg.gre, &cfg.snat),
        &verdicts,
        &running.ifaces,
        &running.view,
        dp.workers,
        // The cluster seed is only in the snapshot: a reload changes it in place.
        (
            prev.hash_seed,
            cfg.dataplane
                .as_ref()
                .map_or(dp.cluster_seed, |d| d.cluster_seed),
        ),
    );
    (spec, spec6)
}

/// A seed nobody outside can guess, so hash tables cannot be attacked with colliding flows.
/// One worker's pipeline configuration.
fn pipeline_config(dp: &DataplaneConfig, id: u16, hash_seed: u64) -> PipelineConfig {
    PipelineConfig {
        worker: id,
        conntrack_capacity: dp.conntrack_per_worker,
        conntrack_v6_capacity: dp.conntrack_v6_per_worker,
        local_seed: hash_seed ^ u64::from(id).wrapping_mul(0x9e37_79b9_7f4a_7c15),
        ..PipelineConfig::default()
    }
}

/// Allocates every worker's pipeline, after checking that their tables fit in the memory the
/// machine has free: the allocator would promise more (overcommit) and the kernel's OOM killer
/// would take the daemon while it fills them.
fn allocate_pipelines(dp: &DataplaneConfig, hash_seed: u64) -> anyhow::Result<Vec<Pipeline>> {
    let configs: Vec<PipelineConfig> = (0..dp.workers)
        .map(|id| pipeline_config(dp, id, hash_seed))
        .collect();
    let need: u64 = configs.iter().map(Pipeline::table_bytes).sum();
    if let Some(mem) = crate::config::dataplane::host_memory() {
        if need > mem.available {
            anyhow::bail!(
                "conntrack_per_worker = {} and conntrack_v6_per_worker = {} need {} MiB of tables \
                 for {} worker(s), but only {} MiB of memory is available: lower \
                 dataplane.conntrack_per_worker or dataplane.conntrack_v6_per_worker",
                dp.conntrack_per_worker,
                dp.conntrack_v6_per_worker,
                need >> 20,
                dp.workers,
                mem.available >> 20
            );
        }
    }
    configs
        .into_iter()
        .map(|c| {
            Pipeline::try_new(c).map_err(|e| {
                anyhow::anyhow!(
                    "conntrack_per_worker = {}, conntrack_v6_per_worker = {}: {e}: lower \
                     dataplane.conntrack_per_worker or dataplane.conntrack_v6_per_worker",
                    dp.conntrack_per_worker,
                    dp.conntrack_v6_per_worker
                )
            })
        })
        .collect()
}

/// A random number for seeds and epochs.
pub fn random_u64() -> u64 {
    rand_seed()
}

fn rand_seed() -> u64 {
    let mut b = [0u8; 8];
    // SAFETY: getrandom writes at most 8 bytes into our buffer.
    let n = unsafe { libc::getrandom(b.as_mut_ptr() as *mut libc::c_void, 8, 0) };
    if n != 8 {
        // Fall back to time and pid: still unpredictable enough across restarts.
        return std::time::SystemTime::now()
            .duration_since(std::time::UNIX_EPOCH)
            .map_or(0, |d| d.as_nanos() as u64)
            ^ u64::from(std::process::id()) << 32;
    }
    u64::from_ne_bytes(b)
}

/// The health check of every backend, by (service, backend index), for `appctl service`.
fn backend_checks(cfg: &Config) -> std::collections::BTreeMap<(String, usize), Option<String>> {
    cfg.service
        .iter()
        .flat_map(|s| {
            s.backends
                .iter()
                .enumerate()
                .map(move |(i, b)| ((s.name.clone(), i), b.check.clone()))
        })
        .collect()
}
