//! One worker thread: pinned to a core, it owns its AF_XDP sockets (one per interface queue
//! assigned to it), its pipeline (conntrack, scheduler state) and its end of the handoff rings.
//! The loop is: load the snapshot once, drain RX rings and handoff rings through the pipeline,
//! act on verdicts, flush TX, refill, expire, publish counters; sleep in poll() when idle,
//! because the cores are shared with the control plane and other processes.

use std::os::fd::{AsRawFd, FromRawFd, OwnedFd};
use std::sync::atomic::{AtomicBool, AtomicU32, Ordering};
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

use super::gateway_status::GatewayStats;
use super::handoff::{Consumer, Producer};
use super::stats::{ActiveFlows, QueueStats, StatsBoard};
use super::status::FlowStatus;
use super::worker_bond::{MemberOf, WorkerBond};
use crate::dataplaned::xdp::xsk::{wait_readable, RxFrame, Xsk};
use dataplane::batch::{Handoff, Queues, WorkerLoop, BATCH};
use dataplane::pipeline::Pipeline;
use dataplane::snapshot::Subscriber;

/// Longest a transmitted frame waits in the TX ring for its kick.
const KICK_AFTER: Duration = Duration::from_micros(25);
/// How long after its last packet a worker still polls with a short timeout.
const ACTIVE: Duration = Duration::from_secs(1);
/// How often connection counts, socket statistics and the gateway's state are published.
const PUBLISH_EVERY: Duration = Duration::from_millis(200);

/// An eventfd a producer writes after handing frames over, so an idle owner wakes at once.
pub struct Waker(OwnedFd);

impl Waker {
    pub fn new() -> std::io::Result<Waker> {
        // SAFETY: plain eventfd creation.
        let fd = unsafe { libc::eventfd(0, libc::EFD_NONBLOCK | libc::EFD_CLOEXEC) };
        if fd < 0 {
            return Err(std::io::Error::last_os_error());
        }
        // SAFETY: a new descriptor nothing else owns.
        Ok(Waker(unsafe { OwnedFd::from_raw_fd(fd) }))
    }

    pub fn wake(&self) {
        let one = 1u64;
        // SAFETY: writes 8 bytes from a live u64 to our eventfd.
        unsafe {
            libc::write(
                self.0.as_raw_fd(),
                &one as *const u64 as *const libc::c_void,
                8,
            )
        };
    }

    pub fn fd(&self) -> i32 {
        self.0.as_raw_fd()
    }

    pub fn clear(&self) {
        let mut v = 0u64;
        // SAFETY: reads 8 bytes into a live u64 from our non-blocking eventfd.
        unsafe {
            libc::read(
                self.0.as_raw_fd(),
                &mut v as *mut u64 as *mut libc::c_void,
                8,
            )
        };
    }
}

/// What the controller and status readers share with one worker.
#[derive(Default)]
pub struct WorkerShared {
    /// Everything the worker counts, written by the worker alone.
    pub stats: StatsBoard,
    pub stop: AtomicBool,
    /// Set by a reader wanting a conntrack listing of at most `dump_limit` flows; the worker
    /// answers between batches, off the packet path.
    pub dump_request: AtomicBool,
    pub dump_limit: AtomicU32,
    pub dump: Mutex<Option<Dump>>,
}

pub struct Socket {
    /// Index of the interface in the snapshot (a bond's, for a bond member's socket).
    pub iface: u16,
    pub xsk: Xsk,
    /// The bond and member this socket receives on, if it is a member's.
    pub member: Option<MemberOf>,
}

pub struct Worker {
    pub id: u16,
    pub cpu: Option<usize>,
    pub sockets: Vec<Socket>,
    pub snapshots: Subscriber,
    /// `handoff_out[w]`: ring to worker `w` (none to itself).
    pub handoff_out: Vec<Option<Producer>>,
    pub handoff_in: Vec<Consumer>,
    /// `wakers[w]`: worker `w`'s waker; this worker's own is `wakers[id]`.
    pub wakers: Arc<Vec<Waker>>,
    pub shared: Arc<WorkerShared>,
    /// This worker's end of session sync (none without `[sync]`).
    pub sync: Option<super::worker_sync::WorkerSync>,
    /// This worker's end of the established-flow offload (none when it is off).
    pub offload: Option<super::worker_offload::WorkerOffload>,
    /// The bonds among this worker's interfaces.
    pub bonds: Vec<WorkerBond>,
}

fn pin(cpu: usize) {
    // SAFETY: a zeroed cpu_set_t is an empty set; CPU_SET writes within it; the call reads it.
    unsafe {
        let mut set: libc::cpu_set_t = std::mem::zeroed();
        libc::CPU_SET(cpu, &mut set);
        if libc::sched_setaffinity(0, std::mem::size_of::<libc::cpu_set_t>(), &set) != 0 {
            tracing::warn!(
                "cannot pin worker to CPU {cpu}: {}",
                std::io::Error::last_os_error()
            );
        }
    }
}

/// This worker's sockets as the packet path's queues: socket `q` receives on its interface and
/// sends there in place; a frame for another interface is copied to this worker's first socket
/// on it (the frame is in another UMEM).
struct Sockets<'a> {
    sockets: &'a mut [Socket],
    /// Snapshot interface index → this worker's first socket on it.
    tx_socket: &'a [Option<usize>],
    bonds: &'a [WorkerBond],
    /// Snapshot interface index → its bond among `bonds`.
    bond_of: &'a [Option<u8>],
}

impl Sockets<'_> {
    /// Sends a copy by socket `s` (another member's, or another interface's).
    #[inline]
    fn copy_to(&mut self, s: Option<usize>, bytes: &[u8]) -> bool {
        match s {
            Some(s) => self.sockets[s].xsk.transmit_copy(bytes),
            None => false,
        }
    }
}

impl Queues for Sockets<'_> {
    type Frame = RxFrame;

    #[inline]
    fn count(&self) -> usize {
        self.sockets.len()
    }

    #[inline]
    fn iface(&self, q: usize) -> u16 {
        self.sockets[q].iface
    }

    #[inline]
    fn receive(&mut self, q: usize, into: &mut [RxFrame]) -> usize {
        let n = self.sockets[q].xsk.receive(into);
        let Some(m) = self.sockets[q].member else {
            return n;
        };
        let bond = &self.bonds[usize::from(m.bond)];
        if n == 0 || bond.collecting(m.pos) {
            return n;
        }
        // A member that is not collecting (a backup link, a port outside the aggregation)
        // accepts nothing; the ARP monitor still hears its target there.
        let shared = &bond.shared;
        let xsk = &mut self.sockets[q].xsk;
        for f in &into[..n] {
            shared.note_arp(usize::from(m.pos), xsk.frame_mut(f.addr, f.len));
            xsk.recycle(f.addr);
        }
        shared.counters[usize::from(m.pos)]
            .discarded
            .fetch_add(n as u64, Ordering::Relaxed);
        0
    }

    #[inline]
    fn len(f: &RxFrame) -> usize {
        f.len as usize
    }

    #[inline]
    fn frame(&mut self, q: usize, f: RxFrame) -> &[u8] {
        self.sockets[q].xsk.frame_mut(f.addr, f.len)
    }

    #[inline]
    fn frame_room(&mut self, q: usize, f: RxFrame) -> &mut [u8] {
        self.sockets[q].xsk.frame_room_mut(f.addr)
    }

    #[inline]
    fn transmit(&mut self, q: usize, f: RxFrame, len: usize) -> bool {
        let Some(m) = self.sockets[q].member else {
            return self.sockets[q].xsk.transmit(f.addr, len as u32);
        };
        // Back out of the bond it came in by: the member the hash picks, which is this one
        // (in place) or another (a copy into that member's memory).
        let bond = &self.bonds[usize::from(m.bond)];
        let frame = self.sockets[q].xsk.frame_mut(f.addr, len as u32);
        match bond.socket_for(frame) {
            Some(s) if s == q => self.sockets[q].xsk.transmit(f.addr, len as u32),
            to => {
                let sent = match to {
                    Some(s) => {
                        // Two sockets of one worker: split the borrow.
                        let (a, b) = if s < q {
                            let (lo, hi) = self.sockets.split_at_mut(q);
                            (&mut hi[0], &mut lo[s])
                        } else {
                            let (lo, hi) = self.sockets.split_at_mut(s);
                            (&mut lo[q], &mut hi[0])
                        };
                        let bytes = a.xsk.frame_mut(f.addr, len as u32);
                        b.xsk.transmit_copy(bytes)
                    }
                    None => false,
                };
                self.sockets[q].xsk.recycle(f.addr);
                sent
            }
        }
    }

    #[inline]
    fn recycle(&mut self, q: usize, f: RxFrame) {
        self.sockets[q].xsk.recycle(f.addr)
    }

    #[inline]
    fn transmit_copy(&mut self, iface: u16, bytes: &[u8]) -> bool {
        let s = match self.bond_of.get(usize::from(iface)).copied().flatten() {
            Some(b) => self.bonds[usize::from(b)].socket_for(bytes),
            None => self.tx_socket.get(usize::from(iface)).copied().flatten(),
        };
        self.copy_to(s, bytes)
    }

    #[inline]
    fn pass(&mut self, q: usize, f: RxFrame, len: usize) {
        if let Some(m) = self.sockets[q].member {
            let shared = &self.bonds[usize::from(m.bond)].shared;
            let frame = self.sockets[q].xsk.frame_mut(f.addr, len as u32);
            shared.note_arp(usize::from(m.pos), frame);
            shared.to_host(usize::from(m.pos), frame);
        }
        self.sockets[q].xsk.recycle(f.addr)
    }
}

/// The rings to the other workers; a worker handed frames is woken after the turn.
struct Handoffs<'a> {
    /// `out[w]`: ring to worker `w` (none to itself).
    out: &'a mut [Option<Producer>],
    woke: &'a mut [bool],
}

impl Handoff for Handoffs<'_> {
    #[inline]
    fn push(&mut self, to: u16, frame: &[u8]) -> bool {
        let to = usize::from(to);
        let pushed = self
            .out
            .get_mut(to)
            .and_then(Option::as_mut)
            .is_some_and(|p| p.push(frame));
        if pushed {
            self.woke[to] = true;
        }
        pushed
    }
}

impl Worker {
    /// Starts the worker's thread with `pipeline`, whose tables the controller allocated
    /// before it changed anything in the kernel.
    pub fn spawn(self, pipeline: Pipeline) -> std::io::Result<std::thread::JoinHandle<()>> {
        std::thread::Builder::new()
            .name(format!("dp-worker-{}", self.id))
            .spawn(move || self.run(pipeline))
    }

    fn run(mut self, mut pipeline: Pipeline) {
        if let Some(cpu) = self.cpu {
            pin(cpu);
        }
        let start = Instant::now();
        if let Some(o) = &mut self.offload {
            o.set_clock(start);
        }
        let mut fds: Vec<i32> = self.sockets.iter().map(|s| s.xsk.fd()).collect();
        fds.push(self.wakers[usize::from(self.id)].0.as_raw_fd());
        let mut last_publish = start;
        let mut last_work = start;
        let mut woke = vec![false; self.handoff_out.len()];
        let (mut tx_full, mut handoff_full) = (0u64, 0u64);
        // Snapshot interface index → this worker's first socket on it.
        let mut tx_socket: Vec<Option<usize>> = Vec::new();
        for (i, s) in self.sockets.iter().enumerate() {
            let at = usize::from(s.iface);
            if tx_socket.len() <= at {
                tx_socket.resize(at + 1, None);
            }
            tx_socket[at].get_or_insert(i);
        }
        for s in &mut self.sockets {
            s.xsk.refill(u32::MAX);
        }
        let mut bond_of: Vec<Option<u8>> = vec![None; tx_socket.len()];
        for (i, b) in self.bonds.iter_mut().enumerate() {
            let at = usize::from(b.iface);
            if bond_of.len() <= at {
                bond_of.resize(at + 1, None);
            }
            bond_of[at] = Some(i as u8);
        }
        for (i, s) in self.sockets.iter().enumerate() {
            if let Some(m) = s.member {
                let slot = &mut self.bonds[usize::from(m.bond)].socket[usize::from(m.pos)];
                slot.get_or_insert(i);
            }
        }

        let mut path = WorkerLoop::new(super::handoff::SLOT_BYTES, RxFrame { addr: 0, len: 0 });
        let mut resolver = super::resolve::Resolver::default();
        let (mut since_flush, mut last_flush) = (0usize, start);
        while !self.shared.stop.load(Ordering::Relaxed) {
            let snap = self.snapshots.load();
            let clock = Instant::now();
            let now = clock.duration_since(start).as_millis() as u32;
            let mut bonds_changed = false;
            for b in &mut self.bonds {
                bonds_changed |= b.refresh();
            }
            if bonds_changed {
                if let Some(o) = &mut self.offload {
                    o.set_bonds(&self.bonds);
                    // Rules that leave by a bond name a member: the set changed.
                    pipeline.withdraw_all_offloads();
                }
            }
            let mut queues = Sockets {
                sockets: &mut self.sockets,
                tx_socket: &tx_socket,
                bonds: &self.bonds,
                bond_of: &bond_of,
            };
            let mut handoff = Handoffs {
                out: &mut self.handoff_out,
                woke: &mut woke,
            };
            let rx = path.receive(&mut pipeline, &snap, now, &mut queues, &mut handoff);
            let handed =
                path.handed_over(&mut pipeline, &snap, now, &mut queues, &mut self.handoff_in);
            if let Some(o) = &mut self.offload {
                o.turn(&mut pipeline, snap.generation, clock);
            }
            let work = rx.frames + handed.frames;
            tx_full += rx.tx_full + handed.tx_full;
            handoff_full += rx.handoff_full;
            // A copy-mode TX kick is a syscall that sends at most 32 frames; kicking after
            // every loop turn made it one syscall per frame at rates where turns carry one or
            // two frames (perf: sendto and its entry were a sixth of the worker). Kick when 32
            // frames may be waiting, when the loop is about to sleep, or after 25 µs.
            since_flush += work;
            let mut tx_waiting = false;
            if work == 0 || since_flush >= 32 || clock.duration_since(last_flush) >= KICK_AFTER {
                for s in &mut self.sockets {
                    tx_waiting |= s.xsk.flush();
                }
                since_flush = 0;
                last_flush = clock;
            }
            for s in &mut self.sockets {
                s.xsk.refill(BATCH as u32 * 2);
            }
            for (w, flag) in woke.iter_mut().enumerate() {
                if std::mem::take(flag) {
                    self.wakers[w].wake();
                }
            }
            // Counters are published with the housekeeping: once per millisecond.
            let mut sync_waiting = false;
            let housekept = match &self.offload {
                Some(o) => {
                    path.housekeeping_with(&mut pipeline, now, &mut |i, e| o.last_seen(i, e))
                }
                None => path.housekeeping(&mut pipeline, now),
            };
            if housekept {
                if let Some(sync) = &mut self.sync {
                    sync_waiting = sync.turn(&mut pipeline, &snap, now);
                }
                self.shared.stats.publish_counters(pipeline.counters());
                resolver.ask(pipeline.take_unresolved(), clock);
                resolver.ask_v6(pipeline.take_unresolved_v6(), clock, |a| {
                    link_scope(&snap, a)
                });
            }
            if let Some(sync) = &self.sync {
                sync_waiting |= sync.pending();
            }

            if last_publish.elapsed() >= PUBLISH_EVERY {
                last_publish = Instant::now();
                self.publish_slow(&pipeline, &snap, tx_full, handoff_full);
            }
            if self.shared.dump_request.swap(false, Ordering::Acquire) {
                self.dump(&pipeline, &snap, now);
            }
            if work > 0 {
                last_work = clock;
            } else {
                // Frames left in a TX ring (the device queue was full) must not wait for the
                // next received packet: poll() kicks copy-mode TX, and 1 ms later we retry.
                // While traffic flows the timeout is 1 ms too: measured on veth (copy mode,
                // kernel 6.18), the RX wakeup of poll() was missed often enough that rings
                // overflowed at 40,000 pps with the worker using 8 % of its core and sleeping
                // in 30-50 ms polls; with 1 ms, no loss at the same rate. After a second
                // without traffic the worker sleeps up to 50 ms, so an idle worker costs
                // nothing much.
                let busy = tx_waiting || sync_waiting || last_work.elapsed() < ACTIVE;
                wait_readable(&fds, if busy { 1 } else { 50 });
                self.wakers[usize::from(self.id)].clear();
            }
        }
    }

    /// Connection counts, socket statistics and the gateway's state: cheap, but not per batch.
    fn publish_slow(
        &self,
        pipeline: &Pipeline,
        snap: &dataplane::snapshot::Snapshot,
        tx_full: u64,
        handoff_full: u64,
    ) {
        let (ring_full, dropped) = self
            .sockets
            .iter()
            .filter_map(|s| s.xsk.stats().ok())
            .fold((0, 0), |(f, d), s| (f + s.rx_ring_full, d + s.rx_dropped));
        let queues = QueueStats {
            handoff_ring_full: handoff_full,
            tx_ring_full: tx_full,
            socket_rx_ring_full: ring_full,
            socket_rx_dropped: dropped,
        };
        self.shared.stats.publish_periodic(
            queues,
            ActiveFlows::collect(pipeline, snap),
            GatewayStats::collect(pipeline, snap),
        );
    }

    fn dump(&self, pipeline: &Pipeline, snap: &dataplane::snapshot::Snapshot, now: u32) {
        use dataplane::conntrack::{Kind, LastSeen};
        let limit = self.shared.dump_limit.load(Ordering::Relaxed) as usize;
        let ct = pipeline.conntrack();
        let flows = ct
            .iter_slots()
            .take(limit)
            .map(|(i, e)| FlowStatus {
                worker: self.id,
                protocol: e.proto,
                client: format!("{}:{}", e.client_addr(), e.client_port),
                vip: format!("{}:{}", e.vip_addr(), e.vip_port),
                backend: format!("{}:{}", e.backend_addr(), e.backend_port),
                state: format!("{:?}", e.state()),
                // An offloaded flow's packets go through the XDP program, which keeps its time.
                idle_ms: match self.offload.as_ref().map(|o| o.last_seen(i, e)) {
                    Some(LastSeen::At(t)) => now.wrapping_sub(t).min(now.wrapping_sub(e.last_seen)),
                    _ => now.wrapping_sub(e.last_seen),
                },
                // The program's packets of an offloaded flow count as the worker's do.
                packets: e
                    .packets
                    .wrapping_add(self.offload.as_ref().map_or(0, |o| o.packets_of(i) as u32)),
                offloaded: self.offload.as_ref().is_some_and(|o| o.offloaded(i)),
                kind: e.kind().name().to_string(),
                source: match e.kind() {
                    Kind::Nat | Kind::Dr => None,
                    // The tunnel's outer source.
                    Kind::Tunnel => Some(e.local_addr().to_string()),
                    Kind::Snat | Kind::FullNat | Kind::Nat64 => {
                        Some(format!("{}:{}", e.local_addr(), e.local_port))
                    }
                },
                tunnel: snap.gw.tunnel(e.zone).map(|t| t.name.clone()),
            })
            .collect();
        let mut flows: Vec<FlowStatus> = flows;
        let ct6 = pipeline.conntrack_v6();
        let room = limit.saturating_sub(flows.len());
        flows.extend(ct6.iter().take(room).map(|e| {
            let at = |a: std::net::Ipv6Addr, p: u16| std::net::SocketAddrV6::new(a, p, 0, 0);
            // A NAT64 flow's backend and pool address are IPv4 (kept IPv4-mapped): shown as such.
            let any = |a: std::net::Ipv6Addr, p: u16| match a.to_ipv4_mapped() {
                Some(v4) if e.kind() == Kind::Nat64 => format!("{v4}:{p}"),
                _ => at(a, p).to_string(),
            };
            FlowStatus {
                worker: self.id,
                protocol: e.proto,
                client: at(e.client, e.client_port).to_string(),
                vip: at(e.vip, e.vip_port).to_string(),
                backend: any(e.backend, e.backend_port),
                state: format!("{:?}", e.state()),
                idle_ms: now.wrapping_sub(e.last_seen),
                // IPv6 entries keep no packet count (and are never offloaded).
                packets: 0,
                offloaded: false,
                kind: e.kind().name().to_string(),
                source: match e.kind() {
                    Kind::FullNat | Kind::Nat64 => Some(any(e.local, e.local_port)),
                    // The tunnel's outer source.
                    Kind::Tunnel => Some(e.local.to_string()),
                    _ => None,
                },
                // A site's NAT64 flow: the tunnel its client is behind.
                tunnel: snap.gw.nat64_tunnel(e.client).map(|t| t.name.clone()),
            }
        }));
        *self.shared.dump.lock().unwrap_or_else(|p| p.into_inner()) = Some(Dump {
            used: u64::from(ct.used()),
            capacity: u64::from(ct.capacity()),
            used_v6: u64::from(ct6.used()),
            capacity_v6: u64::from(ct6.capacity()),
            flows,
        });
    }
}

/// One worker's answer to a conntrack listing: both tables' fill and up to the limit of flows,
/// IPv4 first.
#[derive(Debug, Default)]
pub struct Dump {
    pub used: u64,
    pub capacity: u64,
    pub used_v6: u64,
    pub capacity_v6: u64,
    pub flows: Vec<FlowStatus>,
}

/// The interface index a link-local IPv6 next hop `a` is reached on: that of the route whose
/// gateway it is, by the interface's name (a rare lookup: only for a missing link-local MAC,
/// at most every 200 ms per address).
fn link_scope(snap: &dataplane::snapshot::Snapshot, a: std::net::Ipv6Addr) -> u32 {
    let Some(r) = snap
        .v6
        .next_hops
        .routes()
        .iter()
        .find(|r| r.gateway == Some(a))
    else {
        return 0;
    };
    let Some(i) = snap.interfaces.get(usize::from(r.iface)) else {
        return 0;
    };
    let Ok(name) = std::ffi::CString::new(i.name.as_str()) else {
        return 0;
    };
    // SAFETY: `name` is a valid NUL-terminated string for the duration of the call.
    unsafe { libc::if_nametoindex(name.as_ptr()) }
}
