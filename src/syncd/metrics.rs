//! Session-sync metrics, per peer. The endpoints count monotonically; the thread publishes the
//! growth since its last look, so the counters survive a restart of the thread (a reload).

use std::collections::BTreeMap;

use prometheus_client::metrics::counter::Counter;
use prometheus_client::metrics::family::Family;
use prometheus_client::metrics::gauge::Gauge;

use super::status::{PeerStatus, SyncStatus};
use crate::metrics::{Labels, Metrics};

#[derive(Clone, Default)]
pub struct SyncMetrics {
    /// 1 while the peer is heard and its settings agree, 0 otherwise.
    pub peer_up: Family<Labels, Gauge>,
    /// 1 while the peer's settings differ from ours (nothing is exchanged).
    pub settings_mismatch: Family<Labels, Gauge>,
    pub records_sent: Family<Labels, Counter>,
    pub records_resent: Family<Labels, Counter>,
    pub records_received: Family<Labels, Counter>,
    pub records_lost: Family<Labels, Counter>,
    pub datagrams_sent: Family<Labels, Counter>,
    pub datagrams_received: Family<Labels, Counter>,
    /// By peer and reason.
    pub discards: Family<Labels, Counter>,
    pub lag: Family<Labels, Gauge<f64, std::sync::atomic::AtomicU64>>,
    /// 1 while VRRP preemption waits for a peer's table.
    pub preempt_held: Gauge,
    /// Our last view of every peer, to publish growth.
    last: std::sync::Arc<std::sync::Mutex<BTreeMap<String, PeerStatus>>>,
}

/// What a monotonic count grew by since `then`; a restarted thread counts from zero again,
/// so a smaller count is all new.
fn growth(now: u64, then: u64) -> u64 {
    if now >= then {
        now - then
    } else {
        now
    }
}

fn peer(p: &str) -> Labels {
    vec![("peer".to_string(), p.to_string())]
}

impl SyncMetrics {
    pub fn register(m: &Metrics) -> Self {
        let v = SyncMetrics::default();
        m.register(
            "sync_peer_up",
            "1 while the sync peer is heard and its settings agree with ours",
            v.peer_up.clone(),
        );
        m.register(
            "sync_settings_mismatch",
            "1 while the sync peer's settings (workers, SNAT pools, services digest) differ from ours",
            v.settings_mismatch.clone(),
        );
        m.register(
            "sync_records_sent",
            "Flow records sent to the peer (first transmissions)",
            v.records_sent.clone(),
        );
        m.register(
            "sync_records_resent",
            "Flow records sent again after a retransmission timeout",
            v.records_resent.clone(),
        );
        m.register(
            "sync_records_received",
            "Flow records received from the peer, in order, once each",
            v.records_received.clone(),
        );
        m.register(
            "sync_records_lost",
            "Flow records refused by a full queue or abandoned when the peer restarted (a bulk resync follows)",
            v.records_lost.clone(),
        );
        m.register(
            "sync_datagrams_sent",
            "Sync datagrams sent, retransmissions included",
            v.datagrams_sent.clone(),
        );
        m.register(
            "sync_datagrams_received",
            "Sync datagrams received and accepted",
            v.datagrams_received.clone(),
        );
        m.register(
            "sync_discards",
            "Sync datagrams discarded, by reason (forged, replayed, truncated, ...)",
            v.discards.clone(),
        );
        m.register(
            "sync_lag_seconds",
            "Age of the oldest record the peer has not acknowledged",
            v.lag.clone(),
        );
        m.register(
            "sync_preempt_held",
            "1 while VRRP preemption waits for a sync peer's table",
            v.preempt_held.clone(),
        );
        v
    }

    pub fn update(&self, s: &SyncStatus) {
        self.preempt_held.set(i64::from(s.preempt == "held"));
        let mut last = self.last.lock().unwrap_or_else(|e| e.into_inner());
        for p in &s.peers {
            let l = peer(&p.address);
            self.peer_up
                .get_or_create(&l)
                .set(i64::from(p.state == "up"));
            self.settings_mismatch
                .get_or_create(&l)
                .set(i64::from(p.state == "settings-mismatch"));
            self.lag.get_or_create(&l).set(p.lag_ms / 1e3);
            let before = last.remove(&p.address).unwrap_or_default();
            let grow = |c: &Family<Labels, Counter>, now: u64, then: u64| {
                let d = growth(now, then);
                if d > 0 {
                    c.get_or_create(&l).inc_by(d);
                }
            };
            grow(&self.records_sent, p.records_sent, before.records_sent);
            grow(
                &self.records_resent,
                p.records_resent,
                before.records_resent,
            );
            grow(
                &self.records_received,
                p.records_received,
                before.records_received,
            );
            grow(&self.records_lost, p.records_lost, before.records_lost);
            grow(
                &self.datagrams_sent,
                p.datagrams_sent,
                before.datagrams_sent,
            );
            grow(
                &self.datagrams_received,
                p.datagrams_received,
                before.datagrams_received,
            );
            for ((reason, now), (_, then)) in
                p.discards.named().into_iter().zip(before.discards.named())
            {
                let delta = growth(now, then);
                if delta > 0 {
                    self.discards
                        .get_or_create(&vec![
                            ("peer".to_string(), p.address.clone()),
                            ("reason".to_string(), reason.to_string()),
                        ])
                        .inc_by(delta);
                }
            }
            last.insert(p.address.clone(), p.clone());
        }
    }

    /// The thread stopped: its counts start again from zero.
    pub fn forget(&self) {
        self.last.lock().unwrap_or_else(|e| e.into_inner()).clear();
    }
}
