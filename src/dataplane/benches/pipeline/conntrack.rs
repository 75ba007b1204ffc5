//! (c): the conntrack table alone: bytes per flow, insert and lookup rates over shuffled keys,
//! and the kernel's conntrack entry for comparison.

use std::net::SocketAddrV4;
use std::time::Instant;

use dataplane::conntrack::{Conntrack, Entry, NewFlow, State, Timeouts};
use dataplane::flow::FlowKey;
use dataplane::testkit::web::{backend, client, BACKENDS, VIP};

/// Conntrack alone at `n` entries: bytes per entry, insert and lookup rates over shuffled keys,
/// and the allocations while measuring.
fn rates(n: u32, allocs: fn() -> u64) -> (f64, f64, f64, u64) {
    let mut ct = Conntrack::new(n, Timeouts::default(), 99);
    let key = |i: u32| {
        let c: SocketAddrV4 = client(i);
        FlowKey::new(*c.ip(), c.port(), VIP, 80, 6)
    };
    // A fixed permutation (multiplication by a prime not dividing n) defeats locality.
    let order: Vec<u32> = (0..u64::from(n))
        .map(|i| (i * 2_654_435_761 % u64::from(n)) as u32)
        .collect();
    let a0 = allocs();
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
    (
        ct.memory_bytes() as f64 / f64::from(n),
        f64::from(n) / insert.as_secs_f64() / 1e6,
        f64::from(n) / lookup.as_secs_f64() / 1e6,
        allocs() - a0,
    )
}

/// All of (c) at `n` entries.
pub fn run(n: u32, allocs: fn() -> u64) {
    let (bytes, ins, look, allocs) = rates(n, allocs);
    println!();
    println!("(c) conntrack at {n} entries");
    println!(
        "entry {} B; {bytes:.1} B per flow with the index; insert {ins:.2} M/s; lookup {look:.2} M/s; allocs {allocs}",
        std::mem::size_of::<Entry>()
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
