//! The BGP subsystem: announces `[[bgp.announce]]` prefixes to every `[[bgp.neighbor]]` while
//! their gates (health checks, VRRP mastership, operator drain) allow. One task per neighbour
//! drives a sans-IO `bgp::Peer` (see `neighbor`); this supervisor owns the listeners and the
//! announcement engine, and starts, stops or restarts sessions as a reload changes them
//! (`reload_plan`).

mod announce;
mod listener;
mod metrics;
mod neighbor;
pub mod reload_plan;
mod socket;
mod status;

use std::collections::{BTreeMap, BTreeSet, HashMap};
use std::net::IpAddr;
use std::sync::atomic::{AtomicBool, AtomicU64, Ordering};
use std::sync::Arc;
use std::time::{Duration, Instant};

use serde_json::json;
use tokio::sync::{mpsc, watch};
use tokio::task::{JoinHandle, JoinSet};
use tokio_util::sync::CancellationToken;

use crate::config::bgp::{BgpConfig, NeighborConfig};
use crate::config::Config;
use crate::events::{BgpEvent, EventLog};
use crate::verdicts::Verdicts;
use crate::vrrpd::VrrpStates;

pub use announce::PrefixStatus;
pub use status::{BgpHandle, BgpStatus, PeerStatus};

use neighbor::{NeighborTask, RouteSet};

pub struct Bgp {
    pub events: EventLog,
    pub metrics: crate::metrics::Metrics,
    pub verdicts: watch::Receiver<Verdicts>,
    pub vrrp_states: watch::Receiver<VrrpStates>,
    pub config: watch::Receiver<Arc<Config>>,
    pub handle: BgpHandle,
    /// Each neighbour's BFD state (empty without BFD sessions).
    pub bfd: watch::Receiver<crate::bfdd::BfdStates>,
    /// Whether the fast path forwards: a prefix covering a service's VIP is announced only
    /// then (before, the route would attract traffic nothing forwards).
    pub dataplane: watch::Receiver<bool>,
    /// Cancelled when every session has closed at shutdown (or the subsystem ended): BFD
    /// keeps its sessions Up until then, so that no peer takes our leaving for a failure
    /// before the graceful shutdown is done.
    pub stopped: CancellationToken,
}

/// One neighbour's running session.
struct Session {
    cfg: NeighborConfig,
    stop: CancellationToken,
    /// Set before `stop` when the session is only restarted (a reload): no graceful wait.
    quick: Arc<AtomicBool>,
    task: JoinHandle<()>,
    inbound: mpsc::Sender<tokio::net::TcpStream>,
}

impl Session {
    async fn stop_quickly(self) {
        self.quick.store(true, Ordering::Relaxed);
        self.stop.cancel();
        let _ = self.task.await;
    }
}

/// The running sessions and listeners, and what they were started from.
#[derive(Default)]
struct Sessions {
    /// `reload_plan::global_part` of the running `[bgp]`; `None` when there is none.
    global: Option<BgpConfig>,
    neighbors: BTreeMap<IpAddr, Session>,
    /// The neighbours the listeners were set up for, their stop token and tasks.
    listeners: Option<(Vec<NeighborConfig>, CancellationToken, JoinSet<()>)>,
    /// `graceful_shutdown_wait` in milliseconds, shared with every session so a reload
    /// changes it in place.
    gshut_wait_ms: Arc<AtomicU64>,
}

impl Sessions {
    async fn stop_listeners(&mut self) {
        if let Some((_, stop, mut tasks)) = self.listeners.take() {
            stop.cancel();
            while tasks.join_next().await.is_some() {}
        }
    }
}

/// The announced prefixes that cover a service's VIP while the configured fast path does
/// not forward.
fn not_serving(cfg: &Config, serving: bool) -> BTreeSet<::bgp::Prefix> {
    if cfg.dataplane.is_none() || serving {
        return BTreeSet::new();
    }
    let Some(b) = &cfg.bgp else {
        return BTreeSet::new();
    };
    b.announce
        .iter()
        .filter(|a| cfg.service.iter().any(|s| a.prefix.contains(s.vip)))
        .filter_map(announce::prefix_of)
        .collect()
}

/// The withdrawal and the Cease must still go out before the supervisor's shutdown grace
/// aborts the task: keep a second (or a fifth of a short grace) for them.
fn gshut_wait(b: &BgpConfig, grace: Duration) -> Duration {
    let margin = Duration::from_secs(1).min(grace / 5);
    b.graceful_shutdown_wait
        .get()
        .min(grace.saturating_sub(margin))
}

impl Bgp {
    pub async fn run(mut self, stop: CancellationToken) {
        // However this ends (a panic too), BFD must learn that BGP is done.
        let _stopped = self.stopped.clone().drop_guard();
        let m = metrics::BgpMetrics::register(&self.metrics);
        let (routes_tx, _) = watch::channel(Arc::new(RouteSet::default()));
        let mut drained_rx = self.handle.drained.subscribe();
        let mut sessions = Sessions::default();
        let mut last: BTreeMap<String, PrefixStatus> = BTreeMap::new();
        loop {
            // Other subsystems stop with us and may publish their last states (checks gone,
            // VRRP instances leaving master); the neighbour tasks handle shutdown themselves,
            // graceful shutdown first, so those must not turn into early withdrawals.
            if stop.is_cancelled() {
                break;
            }
            let full = self.config.borrow_and_update().clone();
            let cfg = full.bgp.clone();
            let grace = full.daemon.shutdown_grace.get();
            self.reconcile(cfg.as_ref(), grace, &mut sessions, &routes_tx, &m, &stop)
                .await;
            let serving = *self.dataplane.borrow_and_update();
            let not_serving = not_serving(&full, serving);
            self.recompute(cfg.as_ref(), not_serving, &routes_tx, &mut last, &m);

            tokio::select! {
                _ = stop.cancelled() => break,
                r = self.config.changed() => if r.is_err() { break },
                r = self.verdicts.changed() => if r.is_err() { break },
                r = self.vrrp_states.changed() => if r.is_err() { break },
                r = drained_rx.changed() => if r.is_err() { break },
                r = self.dataplane.changed() => if r.is_err() { break },
            }
        }
        // The neighbour tasks saw the same token (theirs are its children): they announce
        // GRACEFUL_SHUTDOWN, wait, withdraw and send Cease before they finish.
        for (_, s) in std::mem::take(&mut sessions.neighbors) {
            s.stop.cancel();
            let _ = s.task.await;
        }
        sessions.stop_listeners().await;
    }

    /// Brings the sessions in line with `cfg` as `reload_plan` describes: a change of the keys
    /// every session is built from restarts them all, otherwise only the neighbours that were
    /// added, removed or changed start, stop or restart.
    async fn reconcile(
        &self,
        cfg: Option<&BgpConfig>,
        grace: Duration,
        s: &mut Sessions,
        routes_tx: &watch::Sender<Arc<RouteSet>>,
        m: &metrics::BgpMetrics,
        stop: &CancellationToken,
    ) {
        let global = cfg.map(reload_plan::global_part);
        if global != s.global {
            for (_, n) in std::mem::take(&mut s.neighbors) {
                n.stop_quickly().await;
            }
            s.stop_listeners().await;
            s.global = global;
            if let Some(b) = cfg {
                *self.handle.engine.lock().unwrap_or_else(|p| p.into_inner()) = BgpStatus {
                    local_as: b.local_as,
                    router_id: b.router_id.to_string(),
                    ..Default::default()
                };
            }
        }
        let Some(b) = cfg else { return };
        s.gshut_wait_ms
            .store(gshut_wait(b, grace).as_millis() as u64, Ordering::Relaxed);
        let mut changed = false;
        let gone: Vec<IpAddr> = s
            .neighbors
            .iter()
            .filter(|(a, run)| {
                !b.neighbor.iter().any(|n| {
                    n.address == **a
                        && reload_plan::session_part(n) == reload_plan::session_part(&run.cfg)
                })
            })
            .map(|(a, _)| *a)
            .collect();
        for a in gone {
            if let Some(n) = s.neighbors.remove(&a) {
                n.stop_quickly().await;
                changed = true;
            }
        }
        for n in &b.neighbor {
            if s.neighbors.contains_key(&n.address) {
                continue;
            }
            let (tx, rx) = mpsc::channel(4);
            let token = stop.child_token();
            let quick = Arc::new(AtomicBool::new(false));
            let task = tokio::spawn(
                NeighborTask {
                    global: b.clone(),
                    cfg: n.clone(),
                    routes: routes_tx.subscribe(),
                    accepted: rx,
                    events: self.events.clone(),
                    metrics: m.clone(),
                    status: self.handle.peers.clone(),
                    quick: quick.clone(),
                    gshut_wait_ms: s.gshut_wait_ms.clone(),
                    bfd: self.bfd.clone(),
                }
                .run(token.clone()),
            );
            s.neighbors.insert(
                n.address,
                Session {
                    cfg: n.clone(),
                    stop: token,
                    quick,
                    task,
                    inbound: tx,
                },
            );
            changed = true;
        }
        // Listeners carry every neighbour's MD5 key and hand connections to its session:
        // set them up again when the neighbours changed (sessions already up have their own
        // sockets and are not affected).
        if changed || s.listeners.is_none() {
            s.stop_listeners().await;
            let inbound: HashMap<IpAddr, mpsc::Sender<tokio::net::TcpStream>> = s
                .neighbors
                .iter()
                .map(|(a, n)| (*a, n.inbound.clone()))
                .collect();
            let token = stop.child_token();
            let mut tasks = JoinSet::new();
            listener::start(b, inbound, &mut tasks, token.clone());
            s.listeners = Some((b.neighbor.clone(), token, tasks));
        }
    }

    /// Recomputes the desired routes; hands them to every session only when they changed.
    fn recompute(
        &self,
        cfg: Option<&BgpConfig>,
        not_serving: BTreeSet<::bgp::Prefix>,
        routes_tx: &watch::Sender<Arc<RouteSet>>,
        last: &mut BTreeMap<String, PrefixStatus>,
        m: &metrics::BgpMetrics,
    ) {
        let decided_at = Instant::now();
        let Some(b) = cfg else {
            *self.handle.engine.lock().unwrap_or_else(|p| p.into_inner()) = BgpStatus::default();
            return;
        };
        let verdicts = self.verdicts.borrow().clone();
        let vrrp = self.vrrp_states.borrow().clone();
        let held = announce::Held {
            drained: self.handle.drained.borrow().clone(),
            not_serving,
        };
        let (routes, prefixes) = announce::compute(&b.announce, &verdicts, &vrrp, &held);
        for p in &prefixes {
            let before = last.get(&p.prefix);
            // The first decision is news only when something is announced.
            let changed = match before {
                Some(b) => (b.announced, b.degraded) != (p.announced, p.degraded),
                None => p.announced,
            };
            if changed {
                let kind = if p.announced {
                    BgpEvent::Announce
                } else {
                    BgpEvent::Withdraw
                };
                self.events.emit(
                    kind,
                    &p.prefix,
                    format!("{} {}: {}", kind.as_str(), p.prefix, p.reason),
                    json!({ "reason": p.reason, "degraded": p.degraded }),
                );
            }
            m.announced
                .get_or_create(&metrics::label("prefix", &p.prefix))
                .set(i64::from(p.announced));
        }
        *last = prefixes
            .iter()
            .map(|p| (p.prefix.clone(), p.clone()))
            .collect();
        self.handle
            .engine
            .lock()
            .unwrap_or_else(|p| p.into_inner())
            .prefixes = prefixes;
        self.handle.applied.send_replace(held.drained);
        routes_tx.send_if_modified(|cur| {
            if cur.routes == routes {
                return false;
            }
            *cur = Arc::new(RouteSet {
                routes,
                decided_at: Some(decided_at),
            });
            true
        });
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn graceful_wait_leaves_room_for_the_withdrawal() {
        let b: BgpConfig = toml::from_str("local_as = 1\nrouter_id = \"198.18.0.1\"\n").unwrap();
        assert_eq!(
            gshut_wait(&b, Duration::from_secs(5)),
            Duration::from_secs(4)
        );
        assert_eq!(
            gshut_wait(&b, Duration::from_secs(30)),
            Duration::from_secs(5)
        );
        assert_eq!(
            gshut_wait(&b, Duration::from_secs(1)),
            Duration::from_millis(800)
        );
    }
}
