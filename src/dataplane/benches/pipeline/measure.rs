//! Timing a pipeline over frames in memory: through the AF_XDP worker's own packet path
//! ([`WorkerLoop`]) fed by a [`MemoryQueue`], or through [`Pipeline::process_batch`] for
//! comparison.

use std::hint::black_box;
use std::time::{Duration, Instant};

use dataplane::batch::{NoHandoff, Queues, WorkerLoop, BATCH};
use dataplane::pipeline::{Pipeline, Verdict};
use dataplane::snapshot::Snapshot;
use dataplane::testkit::memory::{Frames, MemoryQueue, Slot};

/// A timed run's figures.
pub struct Run {
    pub packets: u64,
    pub elapsed: Duration,
    pub allocs: u64,
    pub tx: u64,
    /// The last frame processed, as transmitted (empty where a case does not check it).
    pub last: Vec<u8>,
    /// The benchmark's own copy of a frame into its slot, ns (0 where not measured).
    pub copy_ns: f64,
}

impl Run {
    pub fn ns_per_packet(&self) -> f64 {
        self.elapsed.as_nanos() as f64 / self.packets as f64
    }
    pub fn mpps(&self) -> f64 {
        self.packets as f64 / self.elapsed.as_secs_f64() / 1e6
    }
}

/// How frames are handed to the pipeline.
#[derive(Clone, Copy, PartialEq, Eq)]
pub enum Api {
    /// [`WorkerLoop::receive`], the AF_XDP worker's packet path: groups prepared, prefetched
    /// and finished in slots with room to grow, verdicts dispatched, housekeeping once per
    /// millisecond.
    Worker,
    /// [`Pipeline::process_batch`] (groups with prefetch, housekeeping included); frames cannot
    /// grow (no encapsulation) and their new length is not returned.
    Batch,
}

/// Feeds `t` through `p` a batch at a time until `min` has passed (or once), each frame
/// copied from its template into a slot with room to grow first, as a NIC delivers it.
pub fn measure(
    p: &mut Pipeline,
    snap: &Snapshot,
    t: &Frames,
    min: Duration,
    once: bool,
    api: Api,
    allocs: fn() -> u64,
) -> Run {
    let mut queue = MemoryQueue::new(t);
    let mut path = WorkerLoop::new(0, Slot::default());
    let mut received = [Slot::default(); BATCH];
    let mut verdicts = [Verdict::Pass; BATCH];
    let (mut packets, mut batch_tx, mut last_batch) = (0u64, 0u64, None);
    let a0 = allocs();
    let start = Instant::now();
    loop {
        queue.rewind();
        while queue.remaining() > 0 {
            let now = start.elapsed().as_millis() as u32;
            match api {
                Api::Worker => {
                    let tally = path.receive(p, snap, now, &mut queue, &mut NoHandoff);
                    packets += tally.frames as u64;
                    path.housekeeping(p, now);
                }
                Api::Batch => {
                    let n = queue.receive(0, &mut received);
                    p.process_batch(snap, now, queue.received_mut(n), &mut verdicts);
                    batch_tx += verdicts[..n]
                        .iter()
                        .filter(|v| matches!(v, Verdict::Tx { .. }))
                        .count() as u64;
                    last_batch = Some(received[n - 1]);
                    packets += n as u64;
                }
            }
        }
        if once || start.elapsed() >= min {
            break;
        }
    }
    let elapsed = start.elapsed();
    let allocs = allocs() - a0;
    let last = match api {
        Api::Worker => queue.last_sent(),
        Api::Batch => last_batch.map(|s| queue.bytes(s)),
    };
    Run {
        packets,
        elapsed,
        allocs,
        tx: queue.sent + batch_tx,
        last: last.unwrap_or_default().to_vec(),
        copy_ns: if once { 0.0 } else { copy_cost(t, min / 4) },
    }
}

/// The cost of the benchmark's own copy of each frame into its slot.
fn copy_cost(t: &Frames, min: Duration) -> f64 {
    let mut queue = MemoryQueue::new(t);
    let mut received = [Slot::default(); BATCH];
    let start = Instant::now();
    let mut packets = 0u64;
    while start.elapsed() < min {
        queue.rewind();
        while queue.remaining() > 0 {
            packets += queue.receive(0, &mut received) as u64;
            black_box(&mut queue);
        }
    }
    start.elapsed().as_nanos() as f64 / packets.max(1) as f64
}
