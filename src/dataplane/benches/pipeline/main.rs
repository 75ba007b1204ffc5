//! Benchmarks of the fast path's pure core over frames in memory (no IO), one thread:
//!
//! (a) packets per second through the NAT pipeline, for established flows (half client → VIP,
//!     half backend → client replies) and for new flows (every packet creates a flow);
//! (c) conntrack memory per entry and raw insert / lookup rates at one million entries;
//! (d) the SNAT gateway (GRE-decapsulated and translated site → Internet, translated back and
//!     encapsulated Internet → site, new sessions) and a FullNAT service, through the AF_XDP
//!     worker's own packet path (`dataplane::batch`);
//! (e) direct server return (`dr`, `tunnel`) beside NAT: established flows and mid-flow pickup;
//! (f) session sync's cost to a worker: new and established flows with the change log on and
//!     drained every millisecond, against off.
//!
//! (The XDP steering program's cost, which runs in the kernel, is `steering-bench` in
//! `src/bench`.)
//!
//! A counting allocator checks that the measured loops allocate nothing.
//!
//! `cargo bench -p dataplane --bench pipeline -- [--cpu N] [--quick] [--min-ms N]
//! [--gateway-only | --no-gateway] [--gw-workers N] [--direct-only [--json]]
//! [--sync-only [--rounds N] [--json]] [--v6-only]`. `--v6-only` runs only (g): IPv6 beside IPv4.
//! `--cpu N` pins the benchmark to CPU N. `--min-ms`: the duration of each timed run (default
//! 2000; 200 with `--quick`, which also uses 100 000 flows instead of 1 000 000).
//! `--gateway-only` runs only (d), `--no-gateway` all but (d). `--gw-workers N`: (d) benchmarks
//! worker 0 of N, with its share of the pool ports (`port % N == 0`) and the sessions it owns
//! (default 1). `--direct-only` runs only (e); with `--json` it prints one JSON object per case
//! (`mode`, `case`, `ns_per_packet`, `ratio_to_nat`, ...). `--sync-only` runs only (f), each
//! case `--rounds` times (default 5) with sync off and on in turn, the fastest kept; with
//! `--json`, one object per case and setting (`case`, `sync`, `ns_per_packet`,
//! `ratio_on_to_off`, `changes_lost`, ...).

mod conntrack;
mod direct;
mod gateway;
mod measure;
mod nat;
mod sync;
mod v6;

use std::alloc::{GlobalAlloc, Layout, System};
use std::sync::atomic::{AtomicU64, Ordering};
use std::time::Duration;

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
    if args.iter().any(|a| a == "--xdp") {
        eprintln!("--xdp: the steering program's cost is `steering-bench` of src/bench");
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
        eprintln!("warning: a debug build; figures mean nothing (use cargo bench)");
    }
    let big = if quick { 100_000 } else { 1_000_000 };
    if args.iter().any(|a| a == "--v6-only") {
        v6::run(big, min, allocs);
        return;
    }
    if args.iter().any(|a| a == "--direct-only") {
        direct::run(big, min, args.iter().any(|a| a == "--json"), allocs);
        return;
    }
    let rounds = match args.iter().position(|a| a == "--rounds") {
        Some(i) => args
            .get(i + 1)
            .and_then(|r| r.parse().ok())
            .filter(|&r| r >= 1)
            .expect("--rounds N (N >= 1)"),
        None => 5,
    };
    if args.iter().any(|a| a == "--sync-only") {
        sync::run(big, min, rounds, args.iter().any(|a| a == "--json"), allocs);
        return;
    }
    let gateway_only = args.iter().any(|a| a == "--gateway-only");
    if !gateway_only {
        nat::run(big, min, allocs);
        conntrack::run(big, allocs);
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
        gateway::run(big, workers, min, allocs);
    }
    if !gateway_only {
        println!();
        direct::run(big, min, false, allocs);
        println!();
        sync::run(big, min, rounds, false, allocs);
        println!();
        v6::run(big, min, allocs);
    }
}
