//! The BGP subsystem: announces `[[bgp.announce]]` prefixes to every `[[bgp.neighbor]]` while
//! their gates (health checks, VRRP mastership, operator drain) allow. One task per neighbour
//! drives a sans-IO `bgp::Peer` (see `neighbor`); this supervisor owns the listeners and the
//! announcement engine, and restarts sessions when a reload changes them.

mod announce;
mod listener;
mod metrics;
mod neighbor;
mod socket;
mod status;

use std::collections::{BTreeMap, BTreeSet, HashMap};
use std::net::IpAddr;
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::Arc;
use std::time::{Duration, Instant};

use serde_json::json;
use tokio::sync::{mpsc, watch};
use tokio::task::JoinSet;
use tokio_util::sync::CancellationToken;

use crate::config::bgp::BgpConfig;
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
}

/// The running sessions and what they were started from.
struct Sessions {
    /// The `[bgp]` section without its announcements (those never restart a session).
    started_from: Option<BgpConfig>,
    stop: CancellationToken,
    quick: Arc<AtomicBool>,
    tasks: JoinSet<()>,
}

impl Sessions {
    fn idle() -> Self {
        Sessions {
            started_from: None,
            stop: CancellationToken::new(),
            quick: Arc::new(AtomicBool::new(false)),
            tasks: JoinSet::new(),
        }
    }
}

/// The withdrawal and the Cease must still go out before the supervisor's shutdown grace
/// aborts the task: keep a second (or a fifth of a short grace) for them.
fn gshut_wait(b: &BgpConfig, grace: Duration) -> Duration {
    let margin = Duration::from_secs(1).min(grace / 5);
    b.graceful_shutdown_wait
        .get()
        .min(grace.saturating_sub(margin))
}

fn session_part(b: &BgpConfig) -> BgpConfig {
    BgpConfig {
        announce: Vec::new(),
        ..b.clone()
    }
}

impl Bgp {
    pub async fn run(mut self, stop: CancellationToken) {
        let m = metrics::BgpMetrics::register(&self.metrics);
        let (routes_tx, _) = watch::channel(Arc::new(RouteSet::default()));
        let mut drained_rx = self.handle.drained.subscribe();
        let mut sessions = Sessions::idle();
        let mut last: BTreeMap<String, PrefixStatus> = BTreeMap::new();
        loop {
            // Other subsystems stop with us and may publish their last states (checks gone,
            // VRRP instances leaving master); the neighbour tasks handle shutdown themselves,
            // graceful shutdown first, so those must not turn into early withdrawals.
            if stop.is_cancelled() {
                break;
            }
            let cfg = self.config.borrow_and_update().bgp.clone();
            let want = cfg.as_ref().map(session_part);
            if want != sessions.started_from {
                // A reload changed the sessions: restart them without the graceful wait.
                sessions.quick.store(true, Ordering::Relaxed);
                sessions.stop.cancel();
                while sessions.tasks.join_next().await.is_some() {}
                sessions = Sessions::idle();
                if let Some(b) = &cfg {
                    let grace = self.config.borrow().daemon.shutdown_grace.get();
                    self.start_sessions(grace, b, &mut sessions, &routes_tx, &m, &stop);
                }
                sessions.started_from = want;
            }
            self.recompute(cfg.as_ref(), &routes_tx, &mut last, &m);

            tokio::select! {
                _ = stop.cancelled() => break,
                r = self.config.changed() => if r.is_err() { break },
                r = self.verdicts.changed() => if r.is_err() { break },
                r = self.vrrp_states.changed() => if r.is_err() { break },
                r = drained_rx.changed() => if r.is_err() { break },
            }
        }
        // The neighbour tasks saw the same token: they announce GRACEFUL_SHUTDOWN, wait,
        // withdraw and send Cease before they finish.
        sessions.stop.cancel();
        while sessions.tasks.join_next().await.is_some() {}
    }

    fn start_sessions(
        &self,
        grace: Duration,
        b: &BgpConfig,
        s: &mut Sessions,
        routes_tx: &watch::Sender<Arc<RouteSet>>,
        m: &metrics::BgpMetrics,
        stop: &CancellationToken,
    ) {
        s.stop = stop.child_token();
        *self.handle.engine.lock().unwrap_or_else(|p| p.into_inner()) = BgpStatus {
            local_as: b.local_as,
            router_id: b.router_id.to_string(),
            ..Default::default()
        };
        let mut inbound: HashMap<IpAddr, mpsc::Sender<tokio::net::TcpStream>> = HashMap::new();
        for n in &b.neighbor {
            let (tx, rx) = mpsc::channel(4);
            inbound.insert(n.address, tx);
            s.tasks.spawn(
                NeighborTask {
                    global: b.clone(),
                    cfg: n.clone(),
                    routes: routes_tx.subscribe(),
                    accepted: rx,
                    events: self.events.clone(),
                    metrics: m.clone(),
                    status: self.handle.peers.clone(),
                    quick: s.quick.clone(),
                    gshut_wait: gshut_wait(b, grace),
                }
                .run(s.stop.clone()),
            );
        }
        listener::start(b, inbound, &mut s.tasks, s.stop.clone());
    }

    /// Recomputes the desired routes; hands them to every session only when they changed.
    fn recompute(
        &self,
        cfg: Option<&BgpConfig>,
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
        let drained: BTreeSet<_> = self.handle.drained.borrow().clone();
        let (routes, prefixes) = announce::compute(&b.announce, &verdicts, &vrrp, &drained);
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
        self.handle.applied.send_replace(drained);
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
