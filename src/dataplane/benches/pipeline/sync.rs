//! (f) Session sync's cost to a worker: new flows (SYNs of distinct flows into an empty table)
//! and established flows through the AF_XDP worker's own packet path, with the change log on
//! (`log_changes(8192)`, the daemon's `CHANGE_LOG`) and drained once per millisecond as a
//! worker's sync turn does, against the same pipeline without it.
//!
//! The daemon's worker pushes each change into an SPSC ring the sync thread drains on another
//! core (`src/dataplaned/spsc.rs`, in the root crate, which this crate cannot use). Here each
//! change is copied into a preallocated buffer of the ring's size (`RING`, 65,536), and the
//! buffer is handed to a consumer thread that reads every change and hands it back: the same
//! per-change copy, and the same cache lines moving between cores, with no unsafe code. A
//! change that finds the buffer full is lost and counted, as a full ring's would be.

use std::hint::black_box;
use std::sync::mpsc::{sync_channel, Receiver, SyncSender};
use std::time::{Duration, Instant};

use dataplane::batch::{NoHandoff, WorkerLoop};
use dataplane::conntrack::Change;
use dataplane::counters::Counter;
use dataplane::pipeline::Pipeline;
use dataplane::snapshot::Snapshot;
use dataplane::testkit::memory::{Frames, MemoryQueue, Slot};
use dataplane::testkit::web::{client_frame, FRAME};
use dataplane::testkit::{self};
use dataplane::wire::tcp::flags::{ACK, SYN};

use crate::measure::Run;

/// The daemon's change log between two turns (`syncd::CHANGE_LOG`).
const CHANGE_LOG: usize = 8192;
/// The daemon's ring from a worker to the sync thread (`syncd::RING`).
const RING: usize = 1 << 16;

/// The worker's end: what `WorkerSync::turn` does with the change log.
struct ToSync {
    buf: Vec<Change>,
    give: SyncSender<Vec<Change>>,
    spare: Receiver<Vec<Change>>,
    handed: u64,
    lost: u64,
    consumer: Option<std::thread::JoinHandle<u64>>,
}

impl ToSync {
    fn new() -> ToSync {
        let (give, take) = sync_channel::<Vec<Change>>(1);
        let (back, spare) = sync_channel::<Vec<Change>>(1);
        // The sync thread's side: reads every change (as it would encode it) and hands the
        // buffer back.
        let consumer = std::thread::spawn(move || {
            let mut seen = 0u64;
            while let Ok(mut v) = take.recv() {
                for c in &v {
                    seen = seen
                        .wrapping_add(u64::from(c.remaining_ms) ^ u64::from(c.entry.client_port));
                }
                black_box(seen);
                v.clear();
                if back.send(v).is_err() {
                    break;
                }
            }
            seen
        });
        // The spare buffer goes round once before the clock starts: the consumer's first
        // wait allocates the channel's bookkeeping, which later waits reuse.
        give.send(Vec::with_capacity(RING))
            .expect("the consumer runs");
        std::thread::sleep(Duration::from_millis(20));
        ToSync {
            buf: Vec::with_capacity(RING),
            give,
            spare,
            handed: 0,
            lost: 0,
            consumer: Some(consumer),
        }
    }

    /// The change-log part of a worker's sync turn.
    fn turn(&mut self, p: &mut Pipeline) {
        let (buf, lost) = (&mut self.buf, &mut self.lost);
        p.take_changes(|c| {
            if buf.len() < RING {
                buf.push(*c);
            } else {
                *lost += 1;
            }
        });
        if !self.buf.is_empty() {
            if let Ok(mut next) = self.spare.try_recv() {
                std::mem::swap(&mut self.buf, &mut next);
                self.handed += next.len() as u64;
                self.give.send(next).expect("the consumer runs");
            }
        }
    }
}

impl Drop for ToSync {
    fn drop(&mut self) {
        // Closing the channel ends the consumer.
        let (give, _) = sync_channel(0);
        drop(std::mem::replace(&mut self.give, give));
        if let Some(c) = self.consumer.take() {
            let _ = c.join();
        }
    }
}

/// Feeds `t` through `p` by the worker's path until `min` has passed (or once), with a sync
/// turn after each millisecond's housekeeping when `sync` is given.
fn measure(
    p: &mut Pipeline,
    snap: &Snapshot,
    t: &Frames,
    min: Duration,
    once: bool,
    mut sync: Option<&mut ToSync>,
    allocs: fn() -> u64,
) -> Run {
    let mut queue = MemoryQueue::new(t);
    let mut path = WorkerLoop::new(0, Slot::default());
    let mut packets = 0u64;
    let a0 = allocs();
    let start = Instant::now();
    loop {
        queue.rewind();
        while queue.remaining() > 0 {
            let now = start.elapsed().as_millis() as u32;
            packets += path
                .receive(p, snap, now, &mut queue, &mut NoHandoff)
                .frames as u64;
            if path.housekeeping(p, now) {
                if let Some(s) = sync.as_deref_mut() {
                    s.turn(p);
                }
            }
        }
        if once || start.elapsed() >= min {
            break;
        }
    }
    if let Some(s) = sync {
        s.turn(p);
    }
    Run {
        packets,
        elapsed: start.elapsed(),
        allocs: allocs() - a0,
        tx: queue.sent,
        last: Vec::new(),
        copy_ns: 0.0,
    }
}

/// One case's figures with sync off and on.
pub struct Pair {
    pub off: Run,
    pub on: Run,
    pub handed: u64,
    pub lost: u64,
}

fn fresh(flows: u32, sync: bool) -> (Pipeline, Option<ToSync>) {
    let mut p = testkit::pipeline(0, flows);
    let s = sync.then(|| {
        p.log_changes(CHANGE_LOG);
        ToSync::new()
    });
    (p, s)
}

/// New flows: every frame a SYN of another client into an empty table, off and on
/// alternately `rounds` times; the fastest of each.
pub fn new_flows(flows: u32, rounds: u32, a: fn() -> u64) -> Pair {
    let snap = crate::nat::snapshot();
    let mut t = Frames::new(FRAME, flows as usize);
    for i in 0..flows {
        t.push(&client_frame(i, SYN));
    }
    let (mut off, mut on, mut handed, mut lost): (Option<Run>, Option<Run>, u64, u64) =
        (None, None, 0, 0);
    for round in 0..rounds {
        // Either first in turn: a slower spell of the machine falls on both alike.
        let order = if round % 2 == 0 {
            [false, true]
        } else {
            [true, false]
        };
        for sync in order {
            let (mut p, mut s) = fresh(flows, sync);
            // The first snapshot sizes per-service state: before the clock starts.
            p.process_batch(&snap, 0, std::iter::empty(), &mut []);
            let r = measure(&mut p, &snap, &t, Duration::ZERO, true, s.as_mut(), a);
            assert_eq!(r.tx, r.packets, "every flow created");
            assert_eq!(p.counters().get(Counter::NewFlows), u64::from(flows));
            let best = if sync { &mut on } else { &mut off };
            if best.as_ref().is_none_or(|b| r.elapsed < b.elapsed) {
                *best = Some(r);
            }
            if let Some(s) = s {
                // Every creation reached the consumer, or was counted lost.
                let log_lost = p.counters().get(Counter::SyncChangesLost);
                assert_eq!(
                    s.handed + s.buf.len() as u64 + s.lost + log_lost,
                    u64::from(flows)
                );
                handed = s.handed + s.buf.len() as u64;
                lost = s.lost + log_lost;
            }
        }
    }
    Pair {
        off: off.expect("a round"),
        on: on.expect("a round"),
        handed,
        lost,
    }
}

/// Established flows: `flows` open flows visited in a random order for `min`, off and on.
pub fn established(flows: u32, rounds: u32, min: Duration, a: fn() -> u64) -> Pair {
    let snap = crate::nat::snapshot();
    let mut t = Frames::new(FRAME, flows as usize);
    for i in 0..flows {
        t.push(&client_frame(i, ACK));
    }
    let shuffled = t.shuffled(1);
    let mut runs: [(Option<Run>, u64, u64); 2] = [(None, 0, 0), (None, 0, 0)];
    let mut setups: Vec<(Pipeline, Option<ToSync>)> = [false, true]
        .into_iter()
        .map(|sync| {
            let (mut p, mut s) = fresh(flows, sync);
            p.process_batch(&snap, 0, std::iter::empty(), &mut []);
            // Open every flow (an ACK picks it up mid-flow, established); their creations
            // reach the consumer before the clock starts.
            let r = measure(&mut p, &snap, &t, Duration::ZERO, true, s.as_mut(), a);
            assert_eq!(r.tx, r.packets, "every flow opened");
            (p, s)
        })
        .collect();
    for round in 0..rounds {
        // Either first in turn, as for new flows.
        if round > 0 {
            setups.swap(0, 1);
        }
        for (p, s) in setups.iter_mut() {
            let i = usize::from(s.is_some());
            let before = s.as_ref().map_or(0, |s| s.handed);
            let r = measure(p, &snap, &shuffled, min, false, s.as_mut(), a);
            assert_eq!(r.tx, r.packets, "every frame forwarded");
            let handed = s.as_ref().map_or(0, |s| s.handed) - before;
            let lost =
                s.as_ref().map_or(0, |s| s.lost) + p.counters().get(Counter::SyncChangesLost);
            let best = &mut runs[i];
            if best
                .0
                .as_ref()
                .is_none_or(|b| r.ns_per_packet() < b.ns_per_packet())
            {
                *best = (Some(r), handed, lost);
            }
        }
    }
    let [(off, _, _), (on, handed, lost)] = runs;
    Pair {
        off: off.expect("a round"),
        on: on.expect("a round"),
        handed,
        lost,
    }
}

pub fn run(flows: u32, min: Duration, rounds: u32, json: bool, a: fn() -> u64) {
    if !json {
        println!(
            "(f) session sync's cost to a worker: change log of {CHANGE_LOG} drained every ms, worker path, {FRAME}-byte frames, fastest of {rounds}"
        );
        println!(
            "{:<46} {:>10} {:>9} {:>12} {:>8}",
            "case", "ns/packet", "Mpps", "packets", "allocs"
        );
    }
    let cases = [
        ("new flows", new_flows(flows, rounds, a)),
        ("established, random", established(flows, rounds, min, a)),
    ];
    for (case, pair) in &cases {
        let ratio = pair.on.ns_per_packet() / pair.off.ns_per_packet();
        for (sync, r) in [(false, &pair.off), (true, &pair.on)] {
            if json {
                println!(
                    "{}",
                    serde_json::json!({
                        "benchmark": "pipeline-sync",
                        "case": case,
                        "sync": sync,
                        "flows": flows,
                        "rounds": rounds,
                        "ns_per_packet": r.ns_per_packet(),
                        "mpps": r.mpps(),
                        "packets": r.packets,
                        "allocs": r.allocs,
                        "changes_handed": if sync { pair.handed } else { 0 },
                        "changes_lost": if sync { pair.lost } else { 0 },
                        "ratio_on_to_off": ratio,
                    })
                );
            } else {
                let note = if sync {
                    format!(
                        "({:+.1} % against off; {} changes handed over, {} lost)",
                        (ratio - 1.0) * 100.0,
                        pair.handed,
                        pair.lost
                    )
                } else {
                    String::new()
                };
                crate::gateway::line(
                    &format!(
                        "{case}, {flows} flows, sync {}",
                        if sync { "on" } else { "off" }
                    ),
                    r,
                    &note,
                );
            }
        }
    }
}
