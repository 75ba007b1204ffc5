//! What each worker publishes about itself, through one mechanism: the worker stores a whole
//! [`WorkerStats`] on its [`StatsBoard`] and readers (status, metrics, `appctl service`, `gre`,
//! `snat`) load the latest one. Neither side ever waits for the other: the worker only swaps a
//! pointer, and a reader keeps the value it loaded for as long as it needs it. A whole value
//! rather than one atomic per number because the gateway's part (per tunnel, per pool address)
//! has no fixed size, and so that a reader's numbers all come from one moment.
//!
//! The pipeline's counters are refreshed every millisecond. The rest only every publish period:
//! socket statistics cost a system call each, and the gateway's state a walk over every tunnel
//! and pool.

use std::sync::Arc;

use arc_swap::ArcSwap;

use super::gateway_status::GatewayStats;
use dataplane::counters::Counters;
use dataplane::pipeline::Pipeline;
use dataplane::snapshot::Snapshot;

/// One worker's numbers at one moment.
#[derive(Debug, Clone, Default)]
pub struct WorkerStats {
    /// The pipeline's per-core counters.
    pub counters: Counters,
    pub queues: QueueStats,
    pub active: Arc<ActiveFlows>,
    pub gateway: Arc<GatewayStats>,
}

/// Frames lost between the sockets and the pipeline, totals since the worker started.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub struct QueueStats {
    /// Dropped because the handoff ring towards their owner was full.
    pub handoff_ring_full: u64,
    /// Dropped because a TX ring was full.
    pub tx_ring_full: u64,
    /// Kernel side (`XDP_STATISTICS`), summed over the worker's sockets: the RX ring was full
    /// (the worker did not keep up)...
    pub socket_rx_ring_full: u64,
    /// ... or the frame was dropped otherwise, in copy mode nearly always for want of a
    /// fill-ring buffer.
    pub socket_rx_dropped: u64,
}

impl QueueStats {
    /// Every kernel-side socket drop.
    pub fn socket_drops(&self) -> u64 {
        self.socket_rx_ring_full + self.socket_rx_dropped
    }
}

/// Flows in one worker's conntrack table per backend id.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct ActiveFlows(Vec<u32>);

impl ActiveFlows {
    /// The counts of every backend of the worker's snapshot.
    pub fn collect(pipeline: &Pipeline, snap: &Snapshot) -> ActiveFlows {
        let mut v = Vec::new();
        let v4 = snap
            .services
            .iter()
            .flat_map(|s| s.backends.iter().map(|b| b.id));
        let v6 = snap
            .v6
            .services
            .iter()
            .flat_map(|s| s.backends.iter().map(|b| b.id));
        for id in v4.chain(v6) {
            let i = usize::from(id);
            if v.len() <= i {
                v.resize(i + 1, 0);
            }
            v[i] = pipeline.sched().active(id);
        }
        ActiveFlows(v)
    }

    /// Zero for a backend the worker's snapshot does not have (yet).
    pub fn get(&self, backend_id: u16) -> u32 {
        self.0.get(usize::from(backend_id)).copied().unwrap_or(0)
    }
}

/// Where one worker publishes its [`WorkerStats`]; written by that worker alone.
pub struct StatsBoard {
    current: ArcSwap<WorkerStats>,
}

impl Default for StatsBoard {
    fn default() -> Self {
        StatsBoard {
            current: ArcSwap::from_pointee(WorkerStats::default()),
        }
    }
}

impl StatsBoard {
    /// The latest numbers.
    pub fn read(&self) -> Arc<WorkerStats> {
        self.current.load_full()
    }

    /// The worker's counters, with the rest as last published.
    pub fn publish_counters(&self, counters: &Counters) {
        let next = WorkerStats {
            counters: counters.clone(),
            ..WorkerStats::clone(&self.current.load())
        };
        self.current.store(Arc::new(next));
    }

    /// Everything but the counters, which stay as last published.
    pub fn publish_periodic(&self, queues: QueueStats, active: ActiveFlows, gw: GatewayStats) {
        let next = WorkerStats {
            queues,
            active: Arc::new(active),
            gateway: Arc::new(gw),
            counters: self.current.load().counters.clone(),
        };
        self.current.store(Arc::new(next));
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use dataplane::counters::{Counter, DropReason};

    #[test]
    fn each_publication_keeps_the_other_part() {
        let board = StatsBoard::default();
        let mut c = Counters::default();
        c.add(Counter::RxPackets, 3);
        c.drop(DropReason::NoNeighbour);
        board.publish_counters(&c);
        let queues = QueueStats {
            tx_ring_full: 2,
            socket_rx_ring_full: 4,
            socket_rx_dropped: 1,
            ..QueueStats::default()
        };
        board.publish_periodic(
            queues,
            ActiveFlows(vec![0, 7]),
            GatewayStats {
                mappings: 5,
                ..GatewayStats::default()
            },
        );
        let before = board.read();
        c.add(Counter::RxPackets, 1);
        board.publish_counters(&c);
        let s = board.read();
        assert_eq!(s.counters.get(Counter::RxPackets), 4);
        assert_eq!(s.counters.drops(DropReason::NoNeighbour), 1);
        assert_eq!((s.queues, s.queues.socket_drops()), (queues, 5));
        assert_eq!((s.active.get(1), s.active.get(2)), (7, 0));
        assert_eq!(s.gateway.mappings, 5);
        // A reader's value stays as it loaded it.
        assert_eq!(before.counters.get(Counter::RxPackets), 3);
    }
}
