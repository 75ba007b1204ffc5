//! The data plane as the control socket sees it: the controller writes a view (state,
//! interfaces, workers, the current snapshot), status requests read it and the workers'
//! published statistics; a conntrack listing is asked of each worker and collected here.

use std::collections::BTreeMap;
use std::sync::atomic::Ordering;
use std::sync::{Arc, Mutex};
use std::time::Duration;

use super::gateway_status::GatewayStats;
use super::state::DataplaneState;
use super::stats::WorkerStats;
use super::status::{
    BackendStatus, ConntrackStatus, DataplaneStatus, InterfaceStatus, ServiceStatus, WorkerStatus,
};
use super::worker::WorkerShared;
use dataplane::counters::Counters;
use dataplane::snapshot::Snapshot;

/// What the control socket asks of the data plane.
#[derive(Clone)]
pub struct DataplaneHandle {
    inner: Arc<Mutex<View>>,
    /// Whether the fast path forwards (state `running`): BGP announces a service's VIP only
    /// then.
    serving: Arc<tokio::sync::watch::Sender<bool>>,
    sync: crate::syncd::SyncHandle,
}

impl Default for DataplaneHandle {
    fn default() -> Self {
        DataplaneHandle {
            inner: Arc::default(),
            serving: Arc::new(tokio::sync::watch::Sender::new(false)),
            sync: crate::syncd::SyncHandle::default(),
        }
    }
}

/// A worker as status sees it: id, CPU, `iface:queue` of its sockets, and what it publishes.
pub(super) type WorkerView = (u16, Option<usize>, Vec<String>, Arc<WorkerShared>);

#[derive(Default)]
pub(super) struct View {
    pub(super) state: DataplaneState,
    pub(super) snapshot: Option<Arc<Snapshot>>,
    pub(super) interfaces: Vec<InterfaceStatus>,
    pub(super) workers: Vec<WorkerView>,
    pub(super) checks: BTreeMap<(String, usize), Option<String>>,
    pub(super) unresolved: Vec<String>,
    pub(super) offload: Option<super::offload::OffloadStatus>,
}

impl DataplaneHandle {
    pub(super) fn update(&self, f: impl FnOnce(&mut View)) {
        let mut v = self.inner.lock().unwrap_or_else(|p| p.into_inner());
        f(&mut v);
        let running = v.state == DataplaneState::Running;
        self.serving
            .send_if_modified(|s| std::mem::replace(s, running) != running);
    }

    /// Where the sync thread publishes its status.
    pub fn sync_handle(&self) -> crate::syncd::SyncHandle {
        self.sync.clone()
    }

    /// `appctl sync`: `None` when no session sync runs.
    pub fn sync_status(&self) -> Option<crate::syncd::SyncStatus> {
        self.sync.get()
    }

    /// Follows whether the fast path forwards.
    pub fn serving(&self) -> tokio::sync::watch::Receiver<bool> {
        self.serving.subscribe()
    }

    /// The latest statistics of every worker, in worker order.
    fn worker_stats(v: &View) -> Vec<Arc<WorkerStats>> {
        v.workers.iter().map(|w| w.3.stats.read()).collect()
    }

    pub fn status(&self) -> DataplaneStatus {
        let v = self.inner.lock().unwrap_or_else(|p| p.into_inner());
        let mut totals = Counters::default();
        let workers = v
            .workers
            .iter()
            .zip(Self::worker_stats(&v))
            .map(|((id, cpu, sockets, _), s)| {
                totals.accumulate(&s.counters);
                WorkerStatus {
                    id: *id,
                    cpu: *cpu,
                    sockets: sockets.clone(),
                    counters: s.counters.named().into_iter().collect(),
                    handoff_ring_full: s.queues.handoff_ring_full,
                    tx_ring_full: s.queues.tx_ring_full,
                    socket_drops: s.queues.socket_drops(),
                    socket_rx_ring_full: s.queues.socket_rx_ring_full,
                    socket_rx_dropped: s.queues.socket_rx_dropped,
                }
            })
            .collect();
        DataplaneStatus {
            state: v.state.clone(),
            snapshot_generation: v.snapshot.as_ref().map_or(0, |s| s.generation),
            interfaces: v.interfaces.clone(),
            workers,
            totals: totals.named().into_iter().collect(),
            unresolved_neighbours: v.unresolved.clone(),
            offload: v.offload.clone(),
        }
    }

    pub fn services(&self) -> Vec<ServiceStatus> {
        let v = self.inner.lock().unwrap_or_else(|p| p.into_inner());
        let Some(snap) = &v.snapshot else {
            return Vec::new();
        };
        let stats = Self::worker_stats(&v);
        let v4 = snap.services.iter().map(|s| service_status(s, &v, &stats));
        let v6 = snap
            .v6
            .services
            .iter()
            .map(|s| service_status(s, &v, &stats));
        v4.chain(v6).collect()
    }

    fn gateway_stats(v: &View) -> Vec<Arc<GatewayStats>> {
        Self::worker_stats(v)
            .iter()
            .map(|s| s.gateway.clone())
            .collect()
    }

    /// `appctl gre`: every tunnel with its counters summed over the workers.
    pub fn gre(&self) -> Vec<super::gateway_status::TunnelStatus> {
        let v = self.inner.lock().unwrap_or_else(|p| p.into_inner());
        match &v.snapshot {
            Some(snap) => super::gateway_status::tunnels(snap, &Self::gateway_stats(&v)),
            None => Vec::new(),
        }
    }

    /// `appctl snat`: every pool with its ports in use per address and per worker.
    pub fn snat(&self) -> Vec<super::gateway_status::PoolStatus> {
        let v = self.inner.lock().unwrap_or_else(|p| p.into_inner());
        match &v.snapshot {
            Some(snap) => super::gateway_status::pools(snap, &Self::gateway_stats(&v)),
            None => Vec::new(),
        }
    }

    /// Asks every worker for up to `limit` flows and waits (briefly) for the answers.
    pub async fn conntrack(&self, limit: u32) -> ConntrackStatus {
        let workers: Vec<(u16, Arc<WorkerShared>)> = {
            let v = self.inner.lock().unwrap_or_else(|p| p.into_inner());
            v.workers.iter().map(|w| (w.0, w.3.clone())).collect()
        };
        for (_, w) in &workers {
            *w.dump.lock().unwrap_or_else(|p| p.into_inner()) = None;
            w.dump_limit.store(limit, Ordering::Relaxed);
            w.dump_request.store(true, Ordering::Release);
        }
        let mut out = ConntrackStatus::default();
        for (_, w) in &workers {
            // Idle workers answer within their poll timeout (50 ms).
            for _ in 0..100 {
                if let Some(d) = w.dump.lock().unwrap_or_else(|p| p.into_inner()).take() {
                    out.used += d.used;
                    out.capacity += d.capacity;
                    out.used_v6 += d.used_v6;
                    out.capacity_v6 += d.capacity_v6;
                    let room = (limit as usize).saturating_sub(out.flows.len());
                    out.flows.extend(d.flows.into_iter().take(room));
                    break;
                }
                tokio::time::sleep(Duration::from_millis(10)).await;
            }
        }
        out
    }
}

/// An address as shown: a NAT64 backend's (kept IPv4-mapped) as the IPv4 address it is.
fn shown<A: std::fmt::Display>(a: &A, nat64: bool) -> String {
    let text = a.to_string();
    match text.parse::<std::net::Ipv6Addr>() {
        Ok(v6) if nat64 => v6.to_ipv4_mapped().map_or(text, |v4| v4.to_string()),
        _ => text,
    }
}

/// One service of either family as `appctl service` shows it.
fn service_status<A: std::fmt::Display>(
    s: &dataplane::snapshot::Service<A>,
    v: &View,
    stats: &[Arc<WorkerStats>],
) -> ServiceStatus {
    ServiceStatus {
        name: s.name.clone(),
        vip: s.vip.to_string(),
        port: s.port,
        protocol: match s.proto {
            6 => "tcp".into(),
            17 => "udp".into(),
            // ICMP echo, or ICMPv6 echo for an IPv6 service.
            1 | 58 => "icmp".into(),
            p => p.to_string(),
        },
        scheduler: s.scheduler.name().to_string(),
        persistence_ms: s.persistence_ms,
        mode: match (&s.direct, s.pool) {
            // FullNAT to IPv4 backends: the IPv6 VIP's flows are translated.
            _ if s.nat64 => "nat64",
            (Some(dataplane::snapshot::Direct::Routing), _) => "dr",
            (Some(dataplane::snapshot::Direct::Tunnel { .. }), _) => "tunnel",
            (None, Some(_)) => "fullnat",
            (None, None) => "nat",
        }
        .to_string(),
        backends: s
            .backends
            .iter()
            .enumerate()
            .map(|(i, b)| BackendStatus {
                address: shown(&b.addr, s.nat64),
                port: b.port,
                weight: b.weight,
                up: b.up,
                check: v.checks.get(&(s.name.clone(), i)).cloned().flatten(),
                active_flows: stats.iter().map(|s| u64::from(s.active.get(b.id))).sum(),
            })
            .collect(),
    }
}
