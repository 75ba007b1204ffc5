//! Benchmarks of the fast path's pure core over frames in memory (no IO), one thread:
//!
//! (a) packets per second through the NAT pipeline, for established flows (half client → VIP,
//!     half backend → client replies) and for new flows (every packet creates a flow);
//! (c) conntrack memory per entry and raw insert / lookup rates at one million entries.
//!
//! (d) the SNAT gateway (GRE-decapsulated and translated site → Internet, translated back and
//!     encapsulated Internet → site, new sessions) and a FullNAT service: `netns_tests::gwbench`.
//!
//! With `--xdp` (root): the steering program's cost per frame, run in the kernel with
//! `BPF_PROG_TEST_RUN`, for an owned frame and for a frame passed to the kernel.
//!
//! A counting allocator checks that the measured loops allocate nothing.
//!
//! Run in release: `cargo run --release -p netns-tests --bin dataplane-bench -- [--cpu N] [--xdp]
//! [--quick] [--min-ms N] [--gateway-only | --no-gateway] [--gw-workers N]`.
//! `--min-ms`: the duration of each timed run (default 2000; 200 with `--quick`, which also
//! uses 100 000 flows instead of 1 000 000). `--gateway-only` runs only (d), `--no-gateway` all
//! but (d). `--gw-workers N`: (d) benchmarks worker 0 of N, with its share of the pool ports
//! (`port % N == 0`) and the sessions it owns (default 1).

use std::alloc::{GlobalAlloc, Layout, System};
use std::hint::black_box;
use std::net::{Ipv4Addr, SocketAddrV4};
use std::sync::atomic::{AtomicU64, Ordering};
use std::time::{Duration, Instant};

use dataplane::conntrack::{Conntrack, NewFlow, State, Timeouts};
use dataplane::flow::FlowKey;
use dataplane::frames;
use dataplane::pipeline::{Pipeline, Verdict};
use dataplane::snapshot::{Snapshot, Spec};
use dataplane::testkit::{self, l2, mac, route, two_interfaces};
use dataplane::wire::tcp::flags::{ACK, SYN};
use netns_tests::gwbench::{self, backend, BACKENDS, VIP};

struct Counting;

static ALLOCS: AtomicU64 = AtomicU64::new(0);

// SAFETY: forwards to the system allocator unchanged; only counts calls.
unsafe impl GlobalAlloc for Counting {
    unsafe fn alloc(&self, l: Layout) -> *mut u8 {
        ALLOCS.fetch_add(1, Ordering::Relaxed);
        // SAFETY: same contract as our caller's.
        unsafe { System.alloc(l) }
    }
    unsafe fn dealloc(&self, p: *mut u8, l: Layout) {
        // SAFETY: `p` came from `System.alloc` with layout `l`.
        unsafe { System.dealloc(p, l) }
    }
}

#[global_allocator]
static GLOBAL: Counting = Counting;

fn allocs() -> u64 {
    ALLOCS.load(Ordering::Relaxed)
}

const ROUTER: Ipv4Addr = Ipv4Addr::new(198, 18, 0, 254);
const BATCH: usize = 64;
/// Frames are the 60-byte minimum (a TCP ACK without payload, padded).
const FRAME: usize = 60;

/// Flow `i`'s client: addresses across 198.19.0.0/16, ports above 1024.
fn client(i: u32) -> SocketAddrV4 {
    SocketAddrV4::new(
        Ipv4Addr::new(198, 19, (i >> 8) as u8, i as u8),
        1024 + (i >> 16) as u16,
    )
}

fn snapshot() -> Snapshot {
    let spec = Spec {
        locals: Vec::new(),
        services: vec![gwbench::web(None)],
        interfaces: two_interfaces("outside", "inside"),
        routes: vec![
            route([198, 18, 2, 0], 24, None, 1),
            route([0, 0, 0, 0], 0, Some(ROUTER), 0),
        ],
        neighbours: gwbench::backend_neighbours()
            .chain([(ROUTER, mac(0xfe))])
            .collect(),
        workers: 1,
        hash_seed: 42,
        ..Spec::default()
    };
    Snapshot::build(&spec, None).expect("valid snapshot")
}

fn to_array(v: Vec<u8>) -> [u8; FRAME] {
    v.try_into().expect("60-byte frame")
}

fn forward_frame(i: u32, flags: u8) -> [u8; FRAME] {
    to_array(frames::ethernet(
        l2(0xfe, 0xa0),
        &frames::tcp_segment(client(i), SocketAddrV4::new(VIP, 80), flags, b""),
    ))
}

struct Run {
    packets: u64,
    elapsed: Duration,
    allocs: u64,
    tx: u64,
}

impl Run {
    fn ns_per_packet(&self) -> f64 {
        self.elapsed.as_nanos() as f64 / self.packets as f64
    }
    fn mpps(&self) -> f64 {
        self.packets as f64 / self.elapsed.as_secs_f64() / 1e6
    }
}

/// Feeds `templates` through the pipeline in batches until `min` has passed, copying each
/// batch into a work area first (the pipeline rewrites frames in place).
fn run_frames(
    p: &mut Pipeline,
    snap: &Snapshot,
    templates: &[[u8; FRAME]],
    min: Duration,
    once: bool,
) -> Run {
    let mut work = vec![[0u8; FRAME]; BATCH];
    let mut verdicts = [Verdict::Pass; BATCH];
    let start = Instant::now();
    let allocs = ALLOCS.load(Ordering::Relaxed);
    let (mut packets, mut tx) = (0u64, 0u64);
    loop {
        for chunk in templates.chunks(BATCH) {
            work[..chunk.len()].copy_from_slice(chunk);
            let now = start.elapsed().as_millis() as u32;
            p.process_batch(
                snap,
                now,
                work[..chunk.len()].iter_mut().map(|f| &mut f[..]),
                &mut verdicts,
            );
            tx += verdicts[..chunk.len()]
                .iter()
                .filter(|v| matches!(v, Verdict::Tx { .. }))
                .count() as u64;
            packets += chunk.len() as u64;
        }
        if once || start.elapsed() >= min {
            break;
        }
    }
    Run {
        packets,
        elapsed: start.elapsed(),
        allocs: ALLOCS.load(Ordering::Relaxed) - allocs,
        tx,
    }
}

/// Established flows: each flow is opened, then the measured frames alternate between the
/// client's packet and the backend's reply.
fn established(flows: u32, shuffled: bool, min: Duration) -> (Run, f64) {
    let snap = snapshot();
    let mut p = testkit::pipeline(0, flows);
    let mut templates = Vec::with_capacity(flows as usize * 2);
    for i in 0..flows {
        let mut f = forward_frame(i, ACK);
        let v = p.process(&snap, 0, &mut f);
        assert!(matches!(v, Verdict::Tx { .. }), "{v:?}");
        let to = Ipv4Addr::new(f[30], f[31], f[32], f[33]);
        templates.push(forward_frame(i, ACK));
        templates.push(to_array(frames::ethernet(
            l2(0xb0 + to.octets()[3] - 1, 0xa1),
            &frames::tcp_segment(SocketAddrV4::new(to, 8080), client(i), ACK, b""),
        )));
    }
    if shuffled {
        // Flows were created in order, so their entries sit in order too; visiting them in a
        // fixed pseudo-random order (pairs kept together) makes every entry a cache miss, as
        // real traffic would.
        templates = gwbench::shuffled_order(templates.len() / 2)
            .iter()
            .flat_map(|&i| [templates[2 * i], templates[2 * i + 1]])
            .collect();
    }
    let run = run_frames(&mut p, &snap, &templates, min, false);
    assert_eq!(run.tx, run.packets, "every frame translated");
    (run, copy_cost(&templates, min / 4))
}

/// The cost of the benchmark's own per-batch copy, to tell it apart from the pipeline's.
fn copy_cost(templates: &[[u8; FRAME]], min: Duration) -> f64 {
    let mut work = vec![[0u8; FRAME]; BATCH];
    let start = Instant::now();
    let mut packets = 0u64;
    while start.elapsed() < min {
        for chunk in templates.chunks(BATCH) {
            work[..chunk.len()].copy_from_slice(chunk);
            black_box(&mut work);
            packets += chunk.len() as u64;
        }
    }
    start.elapsed().as_nanos() as f64 / packets.max(1) as f64
}

/// New flows: every frame is a SYN from a different client into an empty table.
fn new_flows(flows: u32) -> Run {
    let snap = snapshot();
    let mut p = testkit::pipeline(0, flows);
    let templates: Vec<[u8; FRAME]> = (0..flows).map(|i| forward_frame(i, SYN)).collect();
    // Taking the first snapshot sizes per-service state (an allocation per snapshot, not per
    // packet); do it before measuring.
    p.process_batch(&snap, 0, std::iter::empty(), &mut []);
    let run = run_frames(&mut p, &snap, &templates, Duration::ZERO, true);
    assert_eq!(run.tx, run.packets, "every flow created");
    run
}

/// Conntrack alone at `n` entries: bytes per entry, insert and lookup rates over shuffled keys.
fn conntrack_rates(n: u32) -> (f64, f64, f64, u64) {
    let mut ct = Conntrack::new(n, Timeouts::default(), 99);
    let key = |i: u32| {
        let c = client(i);
        FlowKey::new(*c.ip(), c.port(), VIP, 80, 6)
    };
    // A fixed permutation (multiplication by a prime not dividing n) defeats locality.
    let order: Vec<u32> = (0..u64::from(n))
        .map(|i| (i * 2_654_435_761 % u64::from(n)) as u32)
        .collect();
    let allocs = ALLOCS.load(Ordering::Relaxed);
    let start = Instant::now();
    for &i in &order {
        let f = NewFlow::nat(
            key(i),
            backend((i % u32::from(BACKENDS)) as u8),
            8080,
            0,
            0,
            State::Established,
        );
        ct.insert(0, &f, &mut |_| {}).expect("room for every flow");
    }
    let insert = start.elapsed();
    let start = Instant::now();
    let mut found = 0u64;
    for &i in order.iter().rev() {
        found += u64::from(ct.lookup(&key(i)).is_some());
    }
    let lookup = start.elapsed();
    assert_eq!(found, u64::from(n));
    let allocs = ALLOCS.load(Ordering::Relaxed) - allocs;
    (
        ct.memory_bytes() as f64 / f64::from(n),
        f64::from(n) / insert.as_secs_f64() / 1e6,
        f64::from(n) / lookup.as_secs_f64() / 1e6,
        allocs,
    )
}

/// ns per run of the steering program for a frame it steers and one it passes.
fn steering_cost() -> Result<(u32, u32), String> {
    use appliance::dataplaned::xdp::steer::{OwnedKey, OwnedMap, Program, Unbound};
    let mut owned = OwnedMap::create().map_err(|e| e.to_string())?;
    let keys = [
        OwnedKey::service(VIP, 80, 6),
        OwnedKey::backend(backend(0), 8080, 6),
        OwnedKey::local(ROUTER),
    ]
    .into();
    owned.set_keys(&keys).map_err(|e| e.to_string())?;
    let prog = Program::load_with(&owned, 1, Unbound::Drop).map_err(|e| e.to_string())?;
    let owned_frame = forward_frame(0, SYN);
    let passed_frame = to_array(frames::ethernet(
        l2(1, 2),
        &frames::tcp_segment(client(0), SocketAddrV4::new(VIP, 22), SYN, b""),
    ));
    let run = |f: &[u8]| {
        prog.test_run(f, 1_000_000)
            .map(|r| r.1)
            .map_err(|e| e.to_string())
    };
    Ok((run(&owned_frame)?, run(&passed_frame)?))
}

fn pin(cpu: usize) {
    // SAFETY: a zeroed cpu_set_t is a valid empty set; CPU_SET writes within it; the call only
    // reads the set we pass for the calling thread (pid 0).
    unsafe {
        let mut set: libc::cpu_set_t = std::mem::zeroed();
        libc::CPU_SET(cpu, &mut set);
        if libc::sched_setaffinity(0, std::mem::size_of::<libc::cpu_set_t>(), &set) != 0 {
            eprintln!(
                "cannot pin to CPU {cpu}: {}",
                std::io::Error::last_os_error()
            );
        }
    }
}

fn main() {
    let args: Vec<String> = std::env::args().collect();
    if let Some(i) = args.iter().position(|a| a == "--cpu") {
        let cpu = args
            .get(i + 1)
            .and_then(|c| c.parse().ok())
            .expect("--cpu N");
        pin(cpu);
    }
    let quick = args.iter().any(|a| a == "--quick");
    let min = match args.iter().position(|a| a == "--min-ms") {
        Some(i) => Duration::from_millis(
            args.get(i + 1)
                .and_then(|m| m.parse().ok())
                .expect("--min-ms N"),
        ),
        None if quick => Duration::from_millis(200),
        None => Duration::from_secs(2),
    };
    if cfg!(debug_assertions) {
        eprintln!("warning: a debug build; figures mean nothing (use --release)");
    }
    let big = if quick { 100_000 } else { 1_000_000 };
    let gateway_only = args.iter().any(|a| a == "--gateway-only");
    if !gateway_only {
        nat_cases(&args, quick, big, min);
    }
    if gateway_only || !args.iter().any(|a| a == "--no-gateway") {
        let workers = match args.iter().position(|a| a == "--gw-workers") {
            Some(i) => args
                .get(i + 1)
                .and_then(|w| w.parse().ok())
                .filter(|&w| w >= 1)
                .expect("--gw-workers N (N >= 1)"),
            None => 1,
        };
        println!();
        gwbench::run(big, workers, min, allocs);
    }
}

/// (a), the steering program with `--xdp`, and (c).
fn nat_cases(args: &[String], quick: bool, big: u32, min: Duration) {
    println!("(a) NAT pipeline, one core, {FRAME}-byte frames, batches of {BATCH}");
    println!(
        "{:<34} {:>10} {:>9} {:>12} {:>8}",
        "case", "ns/packet", "Mpps", "packets", "allocs"
    );
    for (flows, shuffled) in [(1_000u32, false), (big, false), (big, true)] {
        let (r, copy) = established(flows, shuffled, min);
        println!(
            "{:<34} {:>10.1} {:>9.2} {:>12} {:>8}   (of which {:.1} ns is the benchmark's frame copy)",
            format!(
                "established, {flows} flows{}",
                if shuffled { ", random" } else { "" }
            ),
            r.ns_per_packet(),
            r.mpps(),
            r.packets,
            r.allocs,
            copy
        );
    }
    let r = new_flows(big);
    println!(
        "{:<34} {:>10.1} {:>9.2} {:>12} {:>8}",
        format!("new flows, {big} into empty table"),
        r.ns_per_packet(),
        r.mpps(),
        r.packets,
        r.allocs
    );
    if args.iter().any(|a| a == "--xdp") {
        match steering_cost() {
            Ok((owned, passed)) => println!(
                "steering program (BPF_PROG_TEST_RUN, 10^6 runs): owned frame {owned} ns, passed frame {passed} ns"
            ),
            Err(e) => println!("steering program: cannot run it: {e}"),
        }
    }
    let n = if quick { 100_000 } else { 1_000_000 };
    let (bytes, ins, look, allocs) = conntrack_rates(n);
    println!();
    println!("(c) conntrack at {n} entries");
    println!(
        "entry {} B; {bytes:.1} B per flow with the index; insert {ins:.2} M/s; lookup {look:.2} M/s; allocs {allocs}",
        std::mem::size_of::<dataplane::conntrack::Entry>()
    );
    println!("{}", kernel_conntrack());
}

/// The kernel's conntrack entry for comparison: `struct nf_conn`'s slab object size (its two
/// tuple hashes are embedded) and the hash table's 8-byte buckets per entry at
/// `nf_conntrack_max`. NAT and other extensions are allocated apart and not counted.
fn kernel_conntrack() -> String {
    let slab = std::fs::read_to_string("/proc/slabinfo").unwrap_or_default();
    let Some(objsize) = slab
        .lines()
        .find(|l| l.split_whitespace().next() == Some("nf_conntrack"))
        .and_then(|l| l.split_whitespace().nth(3)?.parse::<f64>().ok())
    else {
        return "kernel nf_conntrack: not loaded (no slab cache), not compared".into();
    };
    let sysctl = |k: &str| {
        std::fs::read_to_string(format!("/proc/sys/net/netfilter/{k}"))
            .ok()
            .and_then(|v| v.trim().parse::<f64>().ok())
    };
    match (sysctl("nf_conntrack_buckets"), sysctl("nf_conntrack_max")) {
        (Some(b), Some(m)) if m > 0.0 => format!(
            "kernel nf_conntrack: object {objsize:.0} B + {:.1} B of hash buckets per entry at \
             nf_conntrack_max {m:.0} = {:.1} B per flow (extensions such as NAT not counted)",
            8.0 * b / m,
            objsize + 8.0 * b / m
        ),
        _ => format!("kernel nf_conntrack: object {objsize:.0} B (+ hash buckets)"),
    }
}
