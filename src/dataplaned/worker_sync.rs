//! A worker's end of session sync: once per millisecond, between batches, it hands its flow
//! changes to the sync thread, adopts what the peers reported (a bounded number per turn, so
//! a bulk resync never stalls the packets), and answers the sync thread's bulk export page.

use std::sync::atomic::{AtomicBool, AtomicU64, Ordering};
use std::sync::{Arc, Mutex};

use super::spsc::{Consumer, Producer};
use dataplane::conntrack::{Change, Entry, State};
use dataplane::flow::FlowKey;
use dataplane::pipeline::adopt::Adopted;
use dataplane::pipeline::Pipeline;
use dataplane::snapshot::Snapshot;

/// Records adopted per worker turn (a millisecond): 4 million a second at most.
const ADOPT_PER_TURN: usize = 4096;

/// What the sync thread asks a worker to do with its table.
#[derive(Debug, Clone, Copy)]
pub enum Inbound {
    Adopt(Adopted),
    Refresh {
        key: FlowKey,
        state: State,
        fins: u8,
        remaining_ms: u32,
    },
    Forget(FlowKey),
}

/// One page of a worker's table for a bulk resync: flows with their slot and remaining
/// lifetime, and the slot to continue from.
pub type ExportPage = (Vec<(u32, Entry, u32)>, Option<u32>);

/// Shared between a worker and the sync thread, off the packet path.
#[derive(Default)]
pub struct SyncShared {
    pub export_requested: AtomicBool,
    /// (first slot, most entries) of the page asked for.
    pub export_request: Mutex<(u32, usize)>,
    pub export_reply: Mutex<Option<ExportPage>>,
    /// Changes lost because the change log or the ring to the sync thread was full.
    pub lost: AtomicU64,
    /// Pending inbound records (a worker with some does not sleep long).
    pub inbound_waiting: AtomicBool,
}

pub struct WorkerSync {
    pub changes: Producer<Change>,
    pub inbound: Consumer<Inbound>,
    pub shared: Arc<SyncShared>,
    ring_lost: u64,
}

impl WorkerSync {
    pub fn new(
        changes: Producer<Change>,
        inbound: Consumer<Inbound>,
        shared: Arc<SyncShared>,
    ) -> WorkerSync {
        WorkerSync {
            changes,
            inbound,
            shared,
            ring_lost: 0,
        }
    }

    /// Whether the sync thread left work: records to adopt, a page to export.
    pub fn pending(&self) -> bool {
        !self.inbound.is_empty() || self.shared.export_requested.load(Ordering::Relaxed)
    }

    /// One turn; returns whether inbound records are still waiting.
    pub fn turn(&mut self, p: &mut Pipeline, snap: &Snapshot, now: u32) -> bool {
        let out = &mut self.changes;
        let mut lost = 0;
        p.take_changes(|c| {
            if !out.push(*c) {
                lost += 1;
            }
        });
        self.ring_lost += lost;
        let log_lost = p
            .counters()
            .get(dataplane::counters::Counter::SyncChangesLost);
        self.shared
            .lost
            .store(log_lost + self.ring_lost, Ordering::Relaxed);

        self.inbound.drain(ADOPT_PER_TURN, |r| match r {
            Inbound::Adopt(a) => {
                let _ = p.adopt(snap, now, &a);
            }
            Inbound::Refresh {
                key,
                state,
                fins,
                remaining_ms,
            } => {
                p.refresh_adopted(now, &key, state, fins, remaining_ms);
            }
            Inbound::Forget(key) => {
                p.forget(now, &key);
            }
        });
        let waiting = !self.inbound.is_empty();
        self.shared
            .inbound_waiting
            .store(waiting, Ordering::Relaxed);

        if self.shared.export_requested.swap(false, Ordering::Acquire) {
            let (cursor, max) = *self
                .shared
                .export_request
                .lock()
                .unwrap_or_else(|e| e.into_inner());
            let mut page = Vec::with_capacity(max.min(4096));
            let next = p.export(cursor, max, now, |i, e, left| page.push((i, *e, left)));
            *self
                .shared
                .export_reply
                .lock()
                .unwrap_or_else(|e| e.into_inner()) = Some((page, next));
        }
        waiting
    }
}
