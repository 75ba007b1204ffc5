//! A worker's packet path, minus its IO: what the AF_XDP worker does with each group of frames
//! it receives and each frame another worker hands it, and its once-per-millisecond
//! housekeeping. The daemon's worker drives it with its sockets and handoff rings, the in-memory
//! benchmarks with frames in memory ([`crate::testkit::memory`]), so the benchmarks measure the
//! worker's own code.
//!
//! Per frame everything is generic and inlined into the caller: no dynamic dispatch, nothing
//! the worker did not do before this loop had a name.

use crate::conntrack::{Entry, LastSeen};
use crate::pipeline::{Pipeline, Prepared, Verdict, PREPARE_GROUP};
use crate::snapshot::Snapshot;

/// Frames taken from a queue (or a handoff ring) per call.
pub const BATCH: usize = 64;

/// A worker's receive queues and the frames in them: AF_XDP sockets in the daemon, buffers in
/// the benchmarks. Queue `q` receives on one interface ([`Queues::iface`]); a frame leaves by
/// that interface from where it lies, and by another as a copy.
pub trait Queues {
    /// A received frame: where it lies and how long it is.
    type Frame: Copy;

    /// Whether every queue's frames can leave by every interface from where they lie (one
    /// memory for all interfaces), so that nothing is ever copied: the in-memory benchmarks'
    /// queues, whose figures are the pipeline's cost without the copy between UMEMs that two
    /// interfaces cost the daemon's worker.
    const SHARED_MEMORY: bool = false;

    /// How many queues there are: `0..count()`.
    fn count(&self) -> usize;
    /// The interface index (in the snapshot) queue `q` receives on.
    fn iface(&self, q: usize) -> u16;
    /// Takes up to `into.len()` received frames; returns how many. Each is later given back
    /// by [`Queues::transmit`] or [`Queues::recycle`].
    fn receive(&mut self, q: usize, into: &mut [Self::Frame]) -> usize;
    /// The length of a received frame.
    fn len(frame: &Self::Frame) -> usize;
    /// The received bytes of a frame.
    fn frame(&mut self, q: usize, frame: Self::Frame) -> &[u8];
    /// A frame and the room behind it, which a frame growing on its way (GRE encapsulation)
    /// uses.
    fn frame_room(&mut self, q: usize, frame: Self::Frame) -> &mut [u8];
    /// Sends a frame, now `len` bytes long, by its queue's interface; `false` when that
    /// queue's transmit ring is full (the frame is given back all the same).
    fn transmit(&mut self, q: usize, frame: Self::Frame, len: usize) -> bool;
    /// Gives a frame back without sending it.
    fn recycle(&mut self, q: usize, frame: Self::Frame);
    /// A frame that is not the fast path's ([`Verdict::Pass`]), `len` bytes: the kernel's.
    /// Given back by default (the steering program passes the kernel's frames itself); a
    /// bond member's queue writes it to the bond's tap first, since on a member the kernel
    /// sees nothing but what the workers give it.
    #[inline]
    fn pass(&mut self, q: usize, frame: Self::Frame, len: usize) {
        let _ = len;
        self.recycle(q, frame)
    }
    /// Sends a copy of `bytes` by interface `iface`; `false` when this worker has no queue on
    /// it or no room there.
    fn transmit_copy(&mut self, iface: u16, bytes: &[u8]) -> bool;
}

/// Where a worker sends frames that another worker owns.
pub trait Handoff {
    /// Copies `frame` to worker `to`'s ring; `false` when there is no room (or no such ring).
    fn push(&mut self, to: u16, frame: &[u8]) -> bool;
}

/// No other worker: every handoff fails (and is counted as such).
pub struct NoHandoff;

impl Handoff for NoHandoff {
    #[inline]
    fn push(&mut self, _to: u16, _frame: &[u8]) -> bool {
        false
    }
}

/// A ring of frames handed to this worker by another.
pub trait HandedOver {
    /// Hands up to `max` frames to `f` as (buffer, frame length), where `f` may rewrite a
    /// frame in place and grow it into the rest of the buffer; returns how many.
    fn drain(&mut self, max: usize, f: impl FnMut(&mut [u8], usize)) -> usize;
}

/// What one call did, for the worker's statistics.
#[derive(Debug, Default, Clone, Copy, PartialEq, Eq)]
pub struct Tally {
    /// Frames taken from the queues or rings.
    pub frames: usize,
    /// Frames that found a transmit ring full (or no queue on their interface).
    pub tx_full: u64,
    /// Frames for another worker that found its ring full.
    pub handoff_full: u64,
}

/// The state a worker's packet path keeps between turns of its loop.
pub struct WorkerLoop<F> {
    received: [F; BATCH],
    /// Where a frame for another interface is copied before its own buffer is given back.
    scratch: Box<[u8]>,
    last_tick: u32,
}

impl<F: Copy> WorkerLoop<F> {
    /// `scratch` bytes hold the largest frame sent to another interface than its queue's;
    /// `empty` fills the receive array before the first frame.
    pub fn new(scratch: usize, empty: F) -> WorkerLoop<F> {
        WorkerLoop {
            received: [empty; BATCH],
            scratch: vec![0; scratch].into_boxed_slice(),
            last_tick: u32::MAX,
        }
    }

    /// Takes up to [`BATCH`] frames from each queue and acts on each one's verdict: sent by
    /// its own interface in place, copied to another interface's queue, copied to the worker
    /// that owns its flow, or given back. `snap` is this turn's snapshot, `now` its clock.
    #[inline]
    pub fn receive<Q, H>(
        &mut self,
        pipeline: &mut Pipeline,
        snap: &Snapshot,
        now: u32,
        queues: &mut Q,
        handoff: &mut H,
    ) -> Tally
    where
        Q: Queues<Frame = F>,
        H: Handoff,
    {
        let mut tally = Tally::default();
        for q in 0..queues.count() {
            let n = queues.receive(q, &mut self.received);
            tally.frames += n;
            let here = queues.iface(q);
            for group in self.received[..n].chunks(PREPARE_GROUP) {
                // Parse the group and fetch its conntrack entries before the first is
                // processed: at a million flows each lookup misses the cache otherwise.
                let mut prepared = [Prepared::default(); PREPARE_GROUP];
                for (p, &f) in prepared.iter_mut().zip(group) {
                    *p = pipeline.prepare(snap, queues.frame(q, f));
                }
                pipeline.prefetch(&prepared[..group.len()]);
                for (&p, &f) in prepared.iter().zip(group) {
                    let received = Q::len(&f);
                    // The frame and the rest of its buffer: GRE encapsulation grows it.
                    let buf = queues.frame_room(q, f);
                    let (verdict, len) = pipeline.finish(snap, now, buf, received, p);
                    match verdict {
                        Verdict::Tx { iface } if Q::SHARED_MEMORY || iface == here => {
                            if !queues.transmit(q, f, len) {
                                tally.tx_full += 1;
                            }
                        }
                        Verdict::Tx { iface } => {
                            self.scratch[..len].copy_from_slice(&buf[..len]);
                            queues.recycle(q, f);
                            if !queues.transmit_copy(iface, &self.scratch[..len]) {
                                tally.tx_full += 1;
                            }
                        }
                        Verdict::Handoff { worker } => {
                            if !handoff.push(worker, &buf[..received]) {
                                tally.handoff_full += 1;
                            }
                            queues.recycle(q, f);
                        }
                        // `Pass` here means the steering program sent a frame the pipeline does
                        // not want: counted (as passed) and given to the queue (the kernel's on
                        // a bond member, dropped elsewhere).
                        Verdict::Pass => queues.pass(q, f, len),
                        Verdict::Drop(_) => queues.recycle(q, f),
                    }
                }
            }
        }
        tally
    }

    /// Processes up to [`BATCH`] frames from each ring other workers hand this one frames
    /// through, and sends them by their interface.
    #[inline]
    pub fn handed_over<Q, R>(
        &mut self,
        pipeline: &mut Pipeline,
        snap: &Snapshot,
        now: u32,
        queues: &mut Q,
        rings: &mut [R],
    ) -> Tally
    where
        Q: Queues<Frame = F>,
        R: HandedOver,
    {
        let mut tally = Tally::default();
        for ring in rings {
            tally.frames += ring.drain(BATCH, |buf, len| {
                let (verdict, len) = pipeline.process_frame(snap, now, buf, len);
                if let Verdict::Tx { iface } = verdict {
                    if !queues.transmit_copy(iface, &buf[..len]) {
                        tally.tx_full += 1;
                    }
                }
            });
        }
        tally
    }

    /// Runs the pipeline's housekeeping (expiry, gauges) when the millisecond clock has moved
    /// since the last run; returns whether it ran. Expiry works in whole milliseconds, and
    /// readers sample counters far more rarely: once per millisecond is enough for both, not
    /// once per turn of the loop.
    #[inline]
    pub fn housekeeping(&mut self, pipeline: &mut Pipeline, now: u32) -> bool {
        self.housekeeping_with(pipeline, now, &mut |_, _| LastSeen::Unknown)
    }

    /// [`WorkerLoop::housekeeping`] for a worker whose flows the XDP program may forward:
    /// `seen` says when it last did (see [`Pipeline::housekeeping_with`]).
    #[inline]
    pub fn housekeeping_with(
        &mut self,
        pipeline: &mut Pipeline,
        now: u32,
        seen: &mut impl FnMut(u32, &Entry) -> LastSeen,
    ) -> bool {
        if now == self.last_tick {
            return false;
        }
        self.last_tick = now;
        pipeline.housekeeping_with(now, seen);
        true
    }
}

#[cfg(test)]
mod tests;
