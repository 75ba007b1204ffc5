//! The data plane's tables as a bulk-resync source. Each worker owns its table, so a page is
//! asked of the worker (answered between its batches, within a millisecond) in chunks far
//! larger than the endpoint's pages; the endpoint's pages are cut from the chunk.
//!
//! A cursor is `worker << 32 | slot`: the slot of the next entry to send in that worker's
//! table. Entries that come and go during the bulk are sent by the live change stream, so a
//! bulk of a busy table is complete once it ends, whatever it missed while it ran.

use std::collections::VecDeque;
use std::sync::atomic::Ordering;
use std::sync::Arc;
use std::time::{Duration, Instant};

use dataplane::conntrack::Entry;
use session_sync::{BulkSource, Record};

use crate::dataplaned::worker::{Waker, WorkerShared};
use crate::dataplaned::worker_sync::{ExportPage, SyncShared};

/// Entries asked of a worker at once.
const CHUNK: usize = 16_384;
/// Longest the sync thread waits for a worker's page (a worker turns every millisecond).
const PATIENCE: Duration = Duration::from_millis(200);

pub struct Tables {
    pub sync: Vec<Arc<SyncShared>>,
    pub workers: Vec<Arc<WorkerShared>>,
    pub wakers: Arc<Vec<Waker>>,
    /// Entries fetched ahead, with their cursors, and the cursor after the last of them.
    chunk: VecDeque<(u64, Entry, u32)>,
    chunk_end: Option<u64>,
    /// Workers that did not answer in time (a stalled worker; the bulk moves on).
    pub timeouts: u64,
}

impl Tables {
    pub fn new(
        sync: Vec<Arc<SyncShared>>,
        workers: Vec<Arc<WorkerShared>>,
        wakers: Arc<Vec<Waker>>,
    ) -> Tables {
        Tables {
            sync,
            workers,
            wakers,
            chunk: VecDeque::new(),
            chunk_end: None,
            timeouts: 0,
        }
    }

    /// Asks worker `w` for up to [`CHUNK`] entries from `slot`; `None` when it does not answer.
    fn fetch(&mut self, w: usize, slot: u32) -> Option<ExportPage> {
        let s = &self.sync[w];
        s.export_reply
            .lock()
            .unwrap_or_else(|e| e.into_inner())
            .take();
        *s.export_request.lock().unwrap_or_else(|e| e.into_inner()) = (slot, CHUNK);
        s.export_requested.store(true, Ordering::Release);
        self.wakers[w].wake();
        let start = Instant::now();
        loop {
            if let Some(r) = s
                .export_reply
                .lock()
                .unwrap_or_else(|e| e.into_inner())
                .take()
            {
                return Some(r);
            }
            if start.elapsed() > PATIENCE {
                s.export_requested.store(false, Ordering::Release);
                self.timeouts += 1;
                return None;
            }
            std::thread::sleep(Duration::from_micros(100));
        }
    }

    /// Refills the chunk from `cursor`: entries from one worker, or the next worker's start.
    fn refill(&mut self, cursor: u64) -> bool {
        let (w, slot) = ((cursor >> 32) as usize, cursor as u32);
        if w >= self.sync.len() {
            return false;
        }
        let Some((entries, next)) = self.fetch(w, slot) else {
            return false;
        };
        let w64 = (w as u64) << 32;
        self.chunk = entries
            .into_iter()
            .map(|(i, e, left)| (w64 | u64::from(i), e, left))
            .collect();
        self.chunk_end = match next {
            Some(s) => Some(w64 | u64::from(s)),
            None if w + 1 < self.sync.len() => Some(((w + 1) as u64) << 32),
            None => None,
        };
        true
    }
}

impl BulkSource for Tables {
    fn entries(&self) -> u64 {
        self.workers
            .iter()
            .map(|w| {
                w.stats
                    .read()
                    .counters
                    .get(dataplane::counters::Counter::ConntrackUsed)
            })
            .sum()
    }

    fn page(&mut self, cursor: u64, max: usize, out: &mut Vec<Record>) -> Option<u64> {
        // A chunk that does not start at the cursor (another peer's bulk, or a restarted one)
        // is fetched again.
        if self.chunk.front().map(|c| c.0) != Some(cursor) && !self.refill(cursor) {
            // Nothing more, or a worker that did not answer: on to the next worker.
            let next_worker = ((cursor >> 32) + 1) << 32;
            return ((next_worker >> 32) < self.sync.len() as u64).then_some(next_worker);
        }
        while out.len() < max {
            let Some((_, e, left)) = self.chunk.pop_front() else {
                break;
            };
            out.push(Record::FlowUpsert(super::convert::flow_of(&e, left)));
        }
        match self.chunk.front() {
            Some(c) => Some(c.0),
            None => self.chunk_end,
        }
    }
}
