//! The VRRP subsystem: drives every configured virtual router (`::vrrp::Instance`, sans-IO)
//! with raw-socket adverts, timers, link state and health verdicts, and turns its actions into
//! netlink changes, adverts and gratuitous announcements.

mod garp;
mod metrics;
mod notify;
pub mod reload_plan;
mod router;
mod socket;
mod state;
mod status;
mod tracking;

use std::collections::BTreeMap;
use std::sync::Arc;
use std::time::{Duration, Instant};

use tokio::sync::{mpsc, watch};
use tokio::task::JoinHandle;
use tokio_util::sync::CancellationToken;

use ::vrrp::{peek_vrid, RxMeta, SyncCommand, SyncGroup};

use crate::config::Config;
use crate::events::EventLog;
use crate::kernel::links::LinkTable;
use crate::kernel::{Ledger, Netlink};
use crate::status::VrrpInstanceStatus;
use crate::verdicts::Verdicts;

pub use router::virtual_mac;
pub use state::{VrrpState, VrrpStates};

use router::{Router, Shared};
use socket::{Received, RxSocket};

/// The subsystem's OS thread.
const THREAD_NAME: &str = "vrrp";

/// How often an instance that could not start (no interface or address yet) is retried.
const RETRY: Duration = Duration::from_secs(1);

pub struct Vrrp {
    pub netlink: Netlink,
    pub ledger: Ledger,
    pub events: EventLog,
    pub metrics: crate::metrics::Metrics,
    pub links: watch::Receiver<LinkTable>,
    pub verdicts: watch::Receiver<Verdicts>,
    pub config: watch::Receiver<Arc<Config>>,
    pub status: watch::Sender<Vec<VrrpInstanceStatus>>,
    /// Each instance's state alone, for the subsystems that act on it.
    pub states: watch::Sender<VrrpStates>,
    /// True while session sync holds preemption (see `syncd`); a closed channel releases it.
    pub preempt_hold: watch::Receiver<bool>,
}

/// Receive sockets are per (interface, family) and shared by the instances there.
type RxKey = (String, bool);

struct RxTask {
    ifindex: u32,
    handle: JoinHandle<()>,
    /// Shared with the task, so that a firing timer can read what waits in the socket.
    sock: Arc<RxSocket>,
}

impl Vrrp {
    /// Runs the subsystem on its own OS thread with its own runtime and netlink connection,
    /// real-time scheduled when configured: nothing else in the daemon (health probes, BGP,
    /// status requests) can delay an advert or a Master_Down timer.
    pub async fn run_isolated(self, stop: CancellationToken) {
        let (done_tx, done_rx) = tokio::sync::oneshot::channel();
        let rt_prio = self.config.borrow().vrrp.realtime_priority;
        let spawned = std::thread::Builder::new()
            .name(THREAD_NAME.into())
            .spawn(move || {
                if rt_prio > 0 {
                    set_realtime(rt_prio);
                }
                let rt = match tokio::runtime::Builder::new_current_thread()
                    .enable_all()
                    .build()
                {
                    Ok(rt) => rt,
                    Err(e) => {
                        tracing::error!("vrrp: cannot start its runtime: {e}");
                        return;
                    }
                };
                rt.block_on(async move {
                    let mut me = self;
                    // Requests on this thread's own connection, served by this runtime.
                    match Netlink::connect() {
                        Ok(nl) => me.netlink = nl,
                        Err(e) => tracing::warn!(
                            "vrrp: own netlink connection failed ({e}); sharing the daemon's"
                        ),
                    }
                    me.run(stop).await
                });
                let _ = done_tx.send(());
            });
        match spawned {
            Ok(_) => {
                let _ = done_rx.await;
            }
            Err(e) => tracing::error!("vrrp: cannot start its thread: {e}"),
        }
    }

    pub async fn run(mut self, stop: CancellationToken) {
        let metrics = metrics::VrrpMetrics::register(&self.metrics);
        let notifier = notify::Notifier::start();
        let (rx_tx, mut rx_rx) = mpsc::channel::<(RxKey, Received)>(1024);
        let mut routers: Vec<Router> = Vec::new();
        let mut groups: BTreeMap<String, SyncGroup<String>> = BTreeMap::new();
        let mut rx_tasks: BTreeMap<RxKey, RxTask> = BTreeMap::new();
        let precise = crate::realtime::LoopTimer::new("vrrp");
        let mut retry = tokio::time::interval(RETRY);
        retry.set_missed_tick_behavior(tokio::time::MissedTickBehavior::Delay);
        let mut cfg = self.config.borrow_and_update().clone();
        apply_config(
            &cfg,
            &mut routers,
            &mut groups,
            Instant::now(),
            &self.shared(&metrics, &notifier),
        )
        .await;

        let mut hold_open = true;
        loop {
            let now = Instant::now();
            let links = self.links.borrow().clone();
            let verdicts = self.verdicts.borrow().clone();
            let sh = self.shared(&metrics, &notifier);
            let held = hold_open && *self.preempt_hold.borrow();
            for r in &mut routers {
                r.set_preempt_held(now, held);
                let (fault, adj) = tracking::evaluate(&r.cfg, &links, &verdicts);
                r.set_tracking(now, fault, adj);
                r.try_start(now, &links, &sh).await;
            }
            settle(&mut routers, &mut groups, now, &sh).await;
            ensure_rx(&routers, &links, &mut rx_tasks, &rx_tx);
            self.publish(&routers, &metrics);

            let deadline = routers.iter().filter_map(Router::next_timeout).min();
            let sleep = precise.sleep_until(deadline);
            // Biased, in this order: a shutdown resigns before any other advert goes out; a due
            // timer, a link, verdict or configuration change is never starved by a stream of
            // packets (the sleep branch itself handles what was received before firing).
            tokio::select! {
                biased;
                _ = stop.cancelled() => break,
                _ = sleep => {
                    // A Master_Down_Timer that fires late (this thread was not scheduled on
                    // time, or the process was stopped) may find the Master's adverts already
                    // waiting: handle what was received first, so a live Master is never taken
                    // over by a stale timer. What the receive tasks moved into the channel is
                    // older than what the sockets still hold, so the channel goes first. The
                    // sockets are read here rather than left to the receive tasks: this loop is
                    // the runtime's `block_on` future, polled before any task that the same
                    // IO poll woke, so a yield alone does not let them run first.
                    let now = Instant::now();
                    while let Ok((key, pkt)) = rx_rx.try_recv() {
                        dispatch(&mut routers, &key, pkt, now, &metrics);
                    }
                    for (key, t) in &rx_tasks {
                        while let Some(pkt) = t.sock.try_recv() {
                            dispatch(&mut routers, key, pkt, now, &metrics);
                        }
                    }
                    for r in &mut routers {
                        if r.next_timeout().is_some_and(|d| d <= now) {
                            if let Some(i) = &mut r.inst {
                                i.handle_timeout(now);
                            }
                        }
                    }
                }
                _ = retry.tick() => {}
                r = self.links.changed() => if r.is_err() { break },
                r = self.verdicts.changed() => if r.is_err() { break },
                r = self.preempt_hold.changed(), if hold_open => if r.is_err() {
                    // The data plane is gone: nothing holds preemption any more.
                    hold_open = false;
                },
                r = self.config.changed() => {
                    if r.is_err() { break }
                    let new = self.config.borrow_and_update().clone();
                    if new.vrrp != cfg.vrrp {
                        // Only the subsystem's own thread (`run_isolated`) is rescheduled,
                        // never a runtime thread shared with the rest of the daemon.
                        if new.vrrp.realtime_priority != cfg.vrrp.realtime_priority
                            && std::thread::current().name() == Some(THREAD_NAME)
                        {
                            set_realtime(new.vrrp.realtime_priority);
                        }
                        let sh = self.shared(&metrics, &notifier);
                        apply_config(&new, &mut routers, &mut groups, Instant::now(), &sh).await;
                    }
                    cfg = new;
                }
                Some((key, pkt)) = rx_rx.recv() => {
                    let now = Instant::now();
                    let mut batch = vec![(key, pkt)];
                    // Adverts that arrived together are handled together, then settled once.
                    while let Ok(more) = rx_rx.try_recv() {
                        batch.push(more);
                    }
                    for (key, pkt) in batch {
                        dispatch(&mut routers, &key, pkt, now, &metrics);
                    }
                }
            }
        }

        // Shutdown: every instance resigns (priority 0) and removes what it added.
        let sh = self.shared(&metrics, &notifier);
        let now = Instant::now();
        for r in &mut routers {
            r.stop(now, &sh).await;
        }
        for (_, t) in rx_tasks {
            t.handle.abort();
        }
        self.publish(&routers, &metrics);
    }

    fn shared<'a>(
        &'a self,
        metrics: &'a metrics::VrrpMetrics,
        notifier: &'a notify::Notifier,
    ) -> Shared<'a> {
        Shared {
            netlink: &self.netlink,
            ledger: &self.ledger,
            events: &self.events,
            metrics,
            notifier,
        }
    }

    fn publish(&self, routers: &[Router], m: &metrics::VrrpMetrics) {
        for r in routers {
            m.state
                .get_or_create(&metrics::instance(r.name()))
                .set(r.state().gauge());
        }
        self.status
            .send_replace(routers.iter().map(status::of).collect());
        let states: VrrpStates = routers
            .iter()
            .map(|r| (r.name().to_string(), r.state()))
            .collect();
        self.states.send_if_modified(|cur| {
            let changed = *cur != states;
            if changed {
                *cur = states;
            }
            changed
        });
    }
}

fn set_realtime(priority: u8) {
    crate::realtime::set_realtime("vrrp", priority);
}

/// Reconciles the routers with the configuration, as `reload_plan` describes: removed
/// instances stop (resign, remove their addresses), new ones are created, changed ones take
/// the new configuration in place unless `reload_plan::restart_reasons` says it makes them
/// another Virtual Router; unchanged ones are not touched.
async fn apply_config(
    cfg: &Config,
    routers: &mut Vec<Router>,
    groups: &mut BTreeMap<String, SyncGroup<String>>,
    now: Instant,
    sh: &Shared<'_>,
) {
    let mut keep = Vec::new();
    for mut r in std::mem::take(routers) {
        let group = reload_plan::group_of(&cfg.vrrp, r.name());
        match cfg.vrrp.instance.iter().find(|c| c.name == r.cfg.name) {
            Some(c) if *c == r.cfg && group == r.sync_group => keep.push(r),
            Some(c) if reload_plan::restart_reasons(&r.cfg, c).is_empty() => {
                if r.reconfigure(now, c.clone(), group.clone(), sh).await {
                    keep.push(r);
                } else {
                    r.stop(now, sh).await;
                    keep.push(Router::new(c.clone(), group));
                }
            }
            Some(c) => {
                r.stop(now, sh).await;
                keep.push(Router::new(c.clone(), group));
            }
            None => r.stop(now, sh).await,
        }
    }
    for c in &cfg.vrrp.instance {
        if !keep.iter().any(|r| r.cfg.name == c.name) {
            keep.push(Router::new(
                c.clone(),
                reload_plan::group_of(&cfg.vrrp, &c.name),
            ));
        }
    }
    *routers = keep;
    groups.clear();
    for g in &cfg.vrrp.sync_group {
        groups.insert(g.name.clone(), SyncGroup::new(g.instances.iter().cloned()));
    }
}

/// Performs every router's pending actions and lets sync groups move their members, until
/// nothing is left to do.
async fn settle(
    routers: &mut [Router],
    groups: &mut BTreeMap<String, SyncGroup<String>>,
    now: Instant,
    sh: &Shared<'_>,
) {
    // Each group command moves a member towards the group state, so this ends quickly; the
    // bound only guards against a logic error looping forever.
    for _ in 0..16 {
        for r in routers.iter_mut() {
            r.drain(sh).await;
        }
        let mut commands = Vec::new();
        for r in routers.iter() {
            if let (Some(g), Some(inst)) = (&r.sync_group, &r.inst) {
                if let Some(group) = groups.get_mut(g) {
                    commands.extend(group.update(&r.cfg.name, inst.sync_view()));
                }
            }
        }
        if commands.is_empty() {
            return;
        }
        for (name, cmd) in commands {
            if let Some(inst) = routers
                .iter_mut()
                .find(|r| r.cfg.name == name)
                .and_then(|r| r.inst.as_mut())
            {
                match cmd {
                    SyncCommand::ForceMaster => inst.force_master(now),
                    SyncCommand::ForceBackup => inst.force_backup(now),
                    SyncCommand::SetGroupFault(f) => inst.set_group_fault(now, f),
                }
            }
        }
    }
}

fn dispatch(
    routers: &mut [Router],
    key: &RxKey,
    pkt: Received,
    now: Instant,
    m: &metrics::VrrpMetrics,
) {
    let Some(vrid) = peek_vrid(&pkt.payload) else {
        // Not even a VRID: no instance's row can count it, so the subsystem does
        // (RFC 6527 vrrpv3StatisticsPacketLengthErrors, router-wide).
        m.rx_errors
            .get_or_create(&metrics::with("", "reason", "packet_length"))
            .inc();
        return;
    };
    let meta = RxMeta {
        src: pkt.src,
        dst: pkt.dst,
        ttl_or_hop_limit: pkt.ttl,
    };
    let mut matched = false;
    for r in routers.iter_mut() {
        if r.cfg.interface == key.0 && r.v6() == key.1 && r.cfg.vrid == vrid {
            if let Some(inst) = &mut r.inst {
                matched = true;
                let before = inst.statistics().rcvd_advertisements;
                // Every discard is counted here; the instance's ReceiveError event only
                // reports the first of a run, for the log.
                if let Some(error) = inst.handle_advertisement(now, meta, &pkt.payload) {
                    m.rx_errors
                        .get_or_create(&metrics::with(
                            &r.cfg.name,
                            "reason",
                            router::rx_reason(&error),
                        ))
                        .inc();
                }
                if inst.statistics().rcvd_advertisements > before {
                    m.adverts_received
                        .get_or_create(&metrics::instance(&r.cfg.name))
                        .inc();
                }
            }
        }
    }
    if !matched {
        // RFC 6527 vrrpv3RouterVrIdErrors: a VRID nobody here is configured for.
        m.rx_errors
            .get_or_create(&metrics::with("", "reason", "unknown_vrid"))
            .inc();
    }
}

/// Opens the receive socket of every (interface, family) in use, and closes unused ones or
/// ones whose interface was recreated (new index).
fn ensure_rx(
    routers: &[Router],
    links: &LinkTable,
    tasks: &mut BTreeMap<RxKey, RxTask>,
    tx: &mpsc::Sender<(RxKey, Received)>,
) {
    let mut wanted: BTreeMap<RxKey, u32> = BTreeMap::new();
    for r in routers {
        if let (Some(idx), Some(_)) = (r.ifindex(), &r.inst) {
            wanted.insert((r.cfg.interface.clone(), r.v6()), idx);
        }
    }
    tasks.retain(|k, t| {
        let keep = wanted.get(k) == Some(&t.ifindex) && !t.handle.is_finished();
        if !keep {
            t.handle.abort();
        }
        keep
    });
    for (key, ifindex) in wanted {
        if tasks.contains_key(&key) || !links.contains_key(&key.0) {
            continue;
        }
        match RxSocket::open(&key.0, ifindex, key.1) {
            Ok(sock) => {
                let sock = Arc::new(sock);
                let tx = tx.clone();
                let k = key.clone();
                let task_sock = sock.clone();
                let handle = tokio::spawn(async move {
                    let sock = task_sock;
                    loop {
                        match sock.recv().await {
                            Ok(pkt) => {
                                if tx.send((k.clone(), pkt)).await.is_err() {
                                    return;
                                }
                            }
                            Err(e) => {
                                tracing::warn!("vrrp receive on {}: {e}", k.0);
                                tokio::time::sleep(Duration::from_millis(100)).await;
                            }
                        }
                    }
                });
                tasks.insert(
                    key,
                    RxTask {
                        ifindex,
                        handle,
                        sock,
                    },
                );
            }
            Err(e) => tracing::error!("vrrp: cannot open receive socket on {}: {e}", key.0),
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::config::vrrp::VrrpConfig;

    fn router(vip: &str, primary: &str) -> Router {
        let cfg: VrrpConfig = toml::from_str(&format!(
            "[[instance]]\nname = \"vi\"\ninterface = \"eth0\"\nvrid = 51\nvirtual_addresses = [\"{vip}\"]"
        ))
        .unwrap();
        let c = cfg.instance[0].clone();
        let mut r = Router::new(c, None);
        let mut inst = ::vrrp::Instance::new(::vrrp::Config::new(
            51,
            primary.parse().unwrap(),
            vec![vip.parse::<ipnetwork::IpNetwork>().unwrap().ip()],
        ))
        .unwrap();
        inst.handle_startup(Instant::now());
        r.inst = Some(inst);
        r
    }

    fn received(src: &str, dst: &str, payload: &[u8]) -> Received {
        Received {
            src: src.parse().unwrap(),
            dst: dst.parse().unwrap(),
            ttl: 255,
            payload: payload.to_vec(),
        }
    }

    /// A header cut after 4 or 7 bytes (IPv4) or 6 (IPv6) is a length error of the instance
    /// its VRID names, in its RFC 6527 row and in the metric; one without a VRID is counted
    /// router-wide.
    #[test]
    fn truncated_adverts_are_counted() {
        let m = metrics::VrrpMetrics::default();
        let header = [0x31, 51, 200, 1, 0x00, 0x64, 0, 0];
        let mut routers = vec![router("198.18.0.100", "198.18.0.10")];
        let key = ("eth0".to_string(), false);
        for len in [4, 7] {
            let pkt = received("198.18.0.1", "224.0.0.18", &header[..len]);
            dispatch(&mut routers, &key, pkt, Instant::now(), &m);
        }
        let stats = routers[0].inst.as_ref().unwrap().statistics();
        assert_eq!(stats.packet_length_errors, 2);
        let reason = |inst: &str, r: &str| {
            m.rx_errors
                .get_or_create(&metrics::with(inst, "reason", r))
                .get()
        };
        assert_eq!(reason("vi", "packet_length"), 2);

        let mut v6 = vec![router("2001:db8::100", "fe80::10")];
        let key6 = ("eth0".to_string(), true);
        let pkt = received("fe80::1", "ff02::12", &header[..6]);
        dispatch(&mut v6, &key6, pkt, Instant::now(), &m);
        assert_eq!(
            v6[0]
                .inst
                .as_ref()
                .unwrap()
                .statistics()
                .packet_length_errors,
            1
        );
        assert_eq!(reason("vi", "packet_length"), 3);

        let pkt = received("198.18.0.1", "224.0.0.18", &header[..1]);
        dispatch(&mut routers, &key, pkt, Instant::now(), &m);
        assert_eq!(reason("", "packet_length"), 1);
    }

    /// Every discarded advert is counted in the metric, not only the first of a run.
    #[test]
    fn every_discard_is_counted() {
        let m = metrics::VrrpMetrics::default();
        let mut routers = vec![router("198.18.0.100", "198.18.0.10")];
        let key = ("eth0".to_string(), false);
        let adv = ::vrrp::Advertisement {
            vrid: 51,
            priority: 200,
            max_adver_int: ::vrrp::Centiseconds(100),
            addresses: vec!["198.18.0.100".parse().unwrap()],
        };
        let ctx = ::vrrp::ChecksumContext {
            src: "0.0.0.0".parse().unwrap(),
            dst: "224.0.0.18".parse().unwrap(),
            mode: ::vrrp::ChecksumMode::PseudoHeaderV4,
        };
        let bytes = adv.to_bytes(&ctx);
        for _ in 0..3 {
            let pkt = received("0.0.0.0", "224.0.0.18", &bytes);
            dispatch(&mut routers, &key, pkt, Instant::now(), &m);
        }
        let n = m
            .rx_errors
            .get_or_create(&metrics::with("vi", "reason", "invalid_source"))
            .get();
        assert_eq!(n, 3);
        assert_eq!(
            routers[0]
                .inst
                .as_ref()
                .unwrap()
                .statistics()
                .invalid_source_errors,
            3
        );
    }
}
