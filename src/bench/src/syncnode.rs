//! One node of `sync-bench`: the daemon's session-sync machinery without the AF_XDP sockets.
//! Its workers' pipelines, a thread per worker that runs the production sync turn
//! (`WorkerSync::turn`) once per millisecond as the daemon's worker does between batches,
//! and the production sync thread (`SyncThread::start`) with its UDP socket opened inside the
//! node's network namespace. A node may also carry a live load: new flows created through the
//! packet path at a steady pace, whose changes the sync thread streams to the peer.

use std::net::Ipv4Addr;
use std::sync::atomic::{AtomicBool, AtomicU64, Ordering};
use std::sync::{Arc, Mutex};
use std::thread::JoinHandle;
use std::time::{Duration, Instant};

use appliance::config::sync::SyncConfig;
use appliance::config::types::ConfigDuration;
use appliance::dataplaned::spsc;
use appliance::dataplaned::worker::{Waker, WorkerShared};
use appliance::dataplaned::worker_sync::{SyncShared, WorkerSync};
use appliance::events::EventLog;
use appliance::syncd::{SyncHandle, SyncLink, SyncThread, SyncWorker, CHANGE_LOG, RING};
use dataplane::batch::BATCH;
use dataplane::counters::Counter;
use dataplane::pipeline::{Pipeline, Verdict};
use dataplane::snapshot::{self, Publisher, Snapshot, Spec, Subscriber};
use dataplane::testkit::web::{self, client_frame, FRAME, VIP};
use dataplane::testkit::{mac, route, two_interfaces};
use dataplane::wire::tcp::flags::SYN;

/// The sync link's UDP port.
pub const PORT: u16 = 7531;
const ROUTER: Ipv4Addr = Ipv4Addr::new(198, 18, 0, 254);

/// The data plane's configuration on both nodes: the web service of the in-memory benchmarks
/// (`VIP`:80 over ten backends, NAT), `workers` workers, flows owned by `hash_seed`.
pub fn snapshot(workers: u16, hash_seed: u64) -> Snapshot {
    let spec = Spec {
        services: vec![web::service(None)],
        interfaces: two_interfaces("outside", "inside"),
        routes: vec![
            route([198, 18, 2, 0], 24, None, 1),
            route([0, 0, 0, 0], 0, Some(ROUTER), 0),
        ],
        neighbours: web::backend_neighbours()
            .chain([(ROUTER, mac(0xfe))])
            .collect(),
        workers,
        hash_seed,
        cluster_seed: 0,
        ..Spec::default()
    };
    Snapshot::build(&spec, None).expect("valid snapshot")
}

/// What both nodes agree on in their hellos.
pub fn settings(workers: u16) -> session_sync::Settings {
    session_sync::Settings {
        workers,
        pools: Vec::new(),
        config_digest: u64::from(u32::from(VIP)),
    }
}

/// When each worker last adopted a peer's flow, and how many it has adopted.
#[derive(Default)]
pub struct Progress {
    pub adopted: AtomicU64,
    /// Microseconds since the node's clock started, of the first and the last adoption seen.
    pub first_us: AtomicU64,
    pub last_us: AtomicU64,
    /// New flows this worker created from its live load, and when it created the last.
    pub created: AtomicU64,
    pub created_us: AtomicU64,
}

/// New flows a worker creates at a steady pace once the node goes live: SYNs of the clients
/// in `ids` (all owned by the worker), `per_ms` each millisecond.
#[derive(Default)]
pub struct Live {
    pub ids: Vec<u32>,
    pub per_ms: usize,
}

pub struct Node {
    pub name: String,
    pub handle: SyncHandle,
    /// When each event (`kind`) was first emitted, since `clock`.
    pub events: Arc<Mutex<Vec<(String, Duration)>>>,
    pub clock: Instant,
    pub progress: Vec<Arc<Progress>>,
    pub worker_shared: Vec<Arc<WorkerShared>>,
    publisher: Publisher,
    stop: Arc<AtomicBool>,
    threads: Vec<JoinHandle<()>>,
    sync: Option<SyncThread>,
    /// The sync thread's id (for its CPU time).
    pub sync_tid: Option<u32>,
    /// The millisecond of the node's clock its live load starts at (`u64::MAX`: not yet).
    go: Arc<AtomicU64>,
}

impl Node {
    /// Starts one thread per pipeline, each turning every millisecond, and creating the new
    /// flows of its `live` load (if any) once [`Node::go_live`] is called.
    pub fn start(
        name: &str,
        pipelines: Vec<Pipeline>,
        snap: Snapshot,
        mut live: Vec<Live>,
    ) -> (Node, SyncLink) {
        live.resize_with(pipelines.len(), Live::default);
        let go = Arc::new(AtomicU64::new(u64::MAX));
        let (publisher, subscriber) = snapshot::channel(snap);
        let clock = Instant::now();
        let stop = Arc::new(AtomicBool::new(false));
        let wakers = Arc::new(
            (0..pipelines.len())
                .map(|_| Waker::new().expect("eventfd"))
                .collect::<Vec<_>>(),
        );
        let (mut link_workers, mut threads, mut progress, mut worker_shared) =
            (Vec::new(), Vec::new(), Vec::new(), Vec::new());
        for (w, (mut p, load)) in pipelines.into_iter().zip(live).enumerate() {
            p.log_changes(CHANGE_LOG);
            let (ctx, crx) = spsc::ring(RING);
            let (itx, irx) = spsc::ring(RING);
            let shared = Arc::new(SyncShared::default());
            link_workers.push(SyncWorker {
                changes: crx,
                inbound: itx,
                shared: shared.clone(),
            });
            let ws = WorkerSync::new(ctx, irx, shared);
            let stats = Arc::new(WorkerShared::default());
            let prog = Arc::new(Progress::default());
            let ends = Ends {
                snaps: subscriber.clone(),
                stats: stats.clone(),
                progress: prog.clone(),
                clock,
                stop: stop.clone(),
                go: go.clone(),
            };
            threads.push(
                std::thread::Builder::new()
                    .name(format!("{name}-worker-{w}"))
                    .spawn(move || worker(p, ws, load, ends))
                    .expect("spawn a worker"),
            );
            progress.push(prog);
            worker_shared.push(stats);
        }
        let link = SyncLink {
            workers: link_workers,
            worker_stats: worker_shared.clone(),
            wakers,
            snapshots: subscriber,
        };
        let node = Node {
            name: name.into(),
            handle: SyncHandle::default(),
            events: Arc::default(),
            clock,
            progress,
            worker_shared,
            publisher,
            stop,
            threads,
            sync: None,
            sync_tid: None,
            go,
        };
        (node, link)
    }

    /// Starts the production sync thread with `link`, its socket opened in namespace `netns`
    /// (the thread's namespace is the one its socket was made in).
    pub fn start_sync(
        &mut self,
        netns: &str,
        local: Ipv4Addr,
        peer: Ipv4Addr,
        key: &str,
        link: SyncLink,
        workers: u16,
    ) {
        let sc = SyncConfig {
            interface: "eth0".into(),
            local: Some(local),
            peers: vec![peer],
            port: PORT,
            key: Some(appliance::config::bgp::Secret::new(key)),
            key_file: None,
            preempt_hold: ConfigDuration::from_secs(60),
        };
        let times = self.events.clone();
        let clock = self.clock;
        let events = EventLog::with_hook(Arc::new(move |e| {
            let mut t = times.lock().unwrap_or_else(|p| p.into_inner());
            if !t.iter().any(|(k, _)| *k == e.kind) {
                t.push((e.kind.clone(), clock.elapsed()));
            }
        }));
        let hold = Arc::new(tokio::sync::watch::channel(true).0);
        let handle = self.handle.clone();
        let before = sync_threads();
        let path = format!("/run/netns/{netns}");
        let thread = std::thread::spawn(move || {
            let ns = std::fs::File::open(&path).expect("the namespace's file");
            nix::sched::setns(ns, nix::sched::CloneFlags::CLONE_NEWNET).expect("setns");
            SyncThread::start(
                &sc,
                settings(workers),
                link,
                handle,
                events,
                hold,
                Default::default(),
            )
        })
        .join()
        .expect("the starting thread")
        .expect("the sync thread starts");
        // The new thread names itself once it runs.
        let named = Instant::now() + Duration::from_secs(1);
        while self.sync_tid.is_none() && Instant::now() < named {
            self.sync_tid = sync_threads().into_iter().find(|t| !before.contains(t));
            std::thread::sleep(Duration::from_micros(200));
        }
        self.sync = Some(thread);
    }

    /// Starts the workers' live load at the next millisecond.
    pub fn go_live(&self) {
        let ms = self.clock.elapsed().as_millis() as u64 + 1;
        self.go.store(ms, Ordering::Relaxed);
    }

    /// New flows created by the live load, over every worker, and when the last was.
    pub fn created(&self) -> (u64, Duration) {
        let n = self
            .progress
            .iter()
            .map(|p| p.created.load(Ordering::Relaxed))
            .sum();
        let at = self
            .progress
            .iter()
            .map(|p| p.created_us.load(Ordering::Relaxed))
            .max()
            .unwrap_or(0);
        (n, Duration::from_micros(at))
    }

    /// Flows adopted from the peer, over every worker.
    pub fn adopted(&self) -> u64 {
        self.progress
            .iter()
            .map(|p| p.adopted.load(Ordering::Relaxed))
            .sum()
    }

    /// When the first adoption happened, since the node's clock started.
    pub fn first_adoption(&self) -> Option<Duration> {
        self.progress
            .iter()
            .map(|p| p.first_us.load(Ordering::Relaxed))
            .filter(|&t| t > 0)
            .min()
            .map(Duration::from_micros)
    }

    /// When the last adoption happened, since the node's clock started.
    pub fn last_adoption(&self) -> Duration {
        Duration::from_micros(
            self.progress
                .iter()
                .map(|p| p.last_us.load(Ordering::Relaxed))
                .max()
                .unwrap_or(0),
        )
    }

    pub fn event_at(&self, kind: &str) -> Option<Duration> {
        self.events
            .lock()
            .unwrap_or_else(|p| p.into_inner())
            .iter()
            .find(|(k, _)| k == kind)
            .map(|(_, t)| *t)
    }

    /// Summed counter `c` of the workers, as last published.
    pub fn counter(&self, c: Counter) -> u64 {
        self.worker_shared
            .iter()
            .map(|w| w.stats.read().counters.get(c))
            .sum()
    }

    /// CPU time of the sync thread so far.
    pub fn sync_cpu(&self) -> Duration {
        self.sync_tid.map_or(Duration::ZERO, thread_cpu)
    }

    /// CPU time of the worker threads so far.
    pub fn workers_cpu(&self) -> Duration {
        let prefix = format!("{}-worker-", self.name);
        lab::cpustat::threads_runtime(std::process::id(), |c| c.starts_with(&prefix))
            .unwrap_or_default()
    }

    pub fn publisher(&self) -> &Publisher {
        &self.publisher
    }
}

impl Drop for Node {
    fn drop(&mut self) {
        if let Some(s) = self.sync.take() {
            s.stop();
        }
        self.stop.store(true, Ordering::Relaxed);
        for t in self.threads.drain(..) {
            let _ = t.join();
        }
    }
}

/// What a worker thread shares with its node.
struct Ends {
    snaps: Subscriber,
    stats: Arc<WorkerShared>,
    progress: Arc<Progress>,
    clock: Instant,
    stop: Arc<AtomicBool>,
    go: Arc<AtomicU64>,
}

/// A worker without sockets, looping as the daemon's worker does: a batch of its live load
/// through the packet path while flows are due, and at each new millisecond the housekeeping
/// and the sync turn, and its counters published.
fn worker(mut p: Pipeline, mut ws: WorkerSync, live: Live, e: Ends) {
    let mut last = u32::MAX;
    let mut made = 0usize;
    let mut work = vec![[0u8; FRAME]; BATCH];
    let mut verdicts = [Verdict::Pass; BATCH];
    while !e.stop.load(Ordering::Relaxed) {
        let snap = e.snaps.load();
        let now = e.clock.elapsed().as_millis() as u32;
        if now != last {
            last = now;
            p.housekeeping(now);
            ws.turn(&mut p, &snap, now);
            e.stats.stats.publish_counters(p.counters());
            let adopted = p.counters().get(Counter::SyncAdopted);
            let before = e.progress.adopted.load(Ordering::Relaxed);
            if adopted != before {
                let at = e.clock.elapsed().as_micros() as u64;
                e.progress.adopted.store(adopted, Ordering::Relaxed);
                if before == 0 {
                    e.progress.first_us.store(at, Ordering::Relaxed);
                }
                e.progress.last_us.store(at, Ordering::Relaxed);
            }
        }
        // The flows due by this millisecond, a batch at a time (a late worker catches up).
        let go = e.go.load(Ordering::Relaxed);
        let due = match u64::from(now).checked_sub(go) {
            Some(ms) => ((ms as usize + 1) * live.per_ms).min(live.ids.len()),
            None => 0,
        };
        if made < due {
            let chunk = &live.ids[made..due.min(made + BATCH)];
            for (slot, &i) in work.iter_mut().zip(chunk) {
                *slot = client_frame(i, SYN);
            }
            p.process_batch(
                &snap,
                now,
                work[..chunk.len()].iter_mut().map(|f| &mut f[..]),
                &mut verdicts,
            );
            made += chunk.len();
            e.progress.created.store(made as u64, Ordering::Relaxed);
            e.progress
                .created_us
                .store(e.clock.elapsed().as_micros() as u64, Ordering::Relaxed);
            continue;
        }
        // To the next millisecond of the clock.
        let next = e.clock + Duration::from_millis(u64::from(now) + 1);
        std::thread::sleep(next.saturating_duration_since(Instant::now()));
    }
}

/// This process's threads named `sync`.
fn sync_threads() -> Vec<u32> {
    std::fs::read_dir("/proc/self/task")
        .map(|d| {
            d.filter_map(|t| {
                let t = t.ok()?;
                let comm = std::fs::read_to_string(t.path().join("comm")).ok()?;
                (comm.trim_end() == "sync")
                    .then(|| t.file_name().to_str()?.parse().ok())
                    .flatten()
            })
            .collect()
        })
        .unwrap_or_default()
}

/// Run time of thread `tid` of this process (`schedstat`).
fn thread_cpu(tid: u32) -> Duration {
    std::fs::read_to_string(format!("/proc/self/task/{tid}/schedstat"))
        .ok()
        .and_then(|s| s.split_whitespace().next()?.parse().ok())
        .map_or(Duration::ZERO, Duration::from_nanos)
}
