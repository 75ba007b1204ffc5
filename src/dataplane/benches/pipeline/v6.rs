//! (g): IPv6 beside IPv4 in the NAT pipeline: established flows (client packet and backend
//! reply alternating) and new flows through `process_batch`, 74-byte IPv6 TCP frames against
//! the 60-byte IPv4 ones of (a), and the IPv6 conntrack's bytes per flow when full.

use std::net::Ipv6Addr;
use std::time::{Duration, Instant};

use dataplane::batch::BATCH;
use dataplane::conntrack::{ConntrackV6, Kind, NewFlowV6, State, Timeouts};
use dataplane::flow::FlowKeyV6;
use dataplane::pipeline::{Pipeline, PipelineConfig, Verdict};
use dataplane::snapshot::Snapshot;
use dataplane::testkit::l2;
use dataplane::testkit::memory::shuffled_order;
use dataplane::testkit::v6::{a6, eth6, ip6_of, snapshot6, tcp6, CLIENT, VIP};
use dataplane::wire::tcp::flags::{ACK, SYN};

use crate::measure::Run;

/// Measurements of each case per family; the best counts.
const ROUNDS: usize = 3;

/// An IPv6 TCP frame without payload: 14 + 40 + 20.
const FRAME6: usize = 74;

fn client6(i: u32) -> (Ipv6Addr, u16) {
    let c = u128::from(a6(CLIENT)) + u128::from(i / 50_000);
    (Ipv6Addr::from(c), 10_000 + (i % 50_000) as u16)
}

fn frame6(ip: &[u8]) -> [u8; FRAME6] {
    let f = eth6(l2(1, 0xa0), ip);
    f[..FRAME6].try_into().expect("a 74-byte frame")
}

fn pipeline6(flows: u32) -> Pipeline {
    Pipeline::new(PipelineConfig {
        conntrack_capacity: 16,
        conntrack_v6_capacity: flows,
        ..PipelineConfig::default()
    })
}

fn run_frames6(
    p: &mut Pipeline,
    snap: &Snapshot,
    templates: &[[u8; FRAME6]],
    min: Duration,
    once: bool,
    allocs: fn() -> u64,
) -> Run {
    let mut work = vec![[0u8; FRAME6]; BATCH];
    let mut verdicts = [Verdict::Pass; BATCH];
    let start = Instant::now();
    let a0 = allocs();
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
        allocs: allocs() - a0,
        tx,
        last: Vec::new(),
        copy_ns: 0.0,
    }
}

pub fn established6(flows: u32, shuffled: bool, min: Duration, allocs: fn() -> u64) -> Run {
    let snap = snapshot6(4, 1);
    let mut p = pipeline6(flows);
    let vip = a6(VIP);
    let mut templates = Vec::with_capacity(flows as usize * 2);
    for i in 0..flows {
        let (c, port) = client6(i);
        let mut f = frame6(&tcp6(c, port, vip, 80, ACK));
        let v = p.process(&snap, 0, &mut f);
        assert!(matches!(v, Verdict::Tx { .. }), "{v:?}");
        let backend = ip6_of(&f).dst();
        templates.push(frame6(&tcp6(c, port, vip, 80, ACK)));
        templates.push(frame6(&tcp6(backend, 8080, c, port, ACK)));
    }
    if shuffled {
        templates = shuffled_order(templates.len() / 2)
            .iter()
            .flat_map(|&i| [templates[2 * i], templates[2 * i + 1]])
            .collect();
    }
    let run = run_frames6(&mut p, &snap, &templates, min, false, allocs);
    assert_eq!(run.tx, run.packets, "every frame translated");
    run
}

pub fn new_flows6(flows: u32, allocs: fn() -> u64) -> Run {
    let snap = snapshot6(4, 1);
    let mut p = pipeline6(flows);
    let vip = a6(VIP);
    let templates: Vec<[u8; FRAME6]> = (0..flows)
        .map(|i| {
            let (c, port) = client6(i);
            frame6(&tcp6(c, port, vip, 80, SYN))
        })
        .collect();
    p.process_batch(&snap, 0, std::iter::empty(), &mut []);
    let run = run_frames6(&mut p, &snap, &templates, Duration::ZERO, true, allocs);
    assert_eq!(run.tx, run.packets, "every flow created");
    run
}

/// The IPv6 table filled with `n` flows: bytes per flow (entries and index) and insert rate.
fn conntrack6(n: u32) -> (f64, f64) {
    let mut ct = ConntrackV6::new(n, Timeouts::default(), 1);
    let start = Instant::now();
    for i in 0..n {
        let (c, port) = client6(i);
        let flow = NewFlowV6 {
            original: FlowKeyV6::new(c, port, a6(VIP), 80, 6),
            backend: a6("2001:db8:2::10"),
            backend_port: 8080,
            local: c,
            local_port: port,
            backend_id: 0,
            state: State::Established,
            kind: Kind::Nat,
        };
        ct.insert(0, &flow, &mut |_| {}).expect("room");
    }
    let rate = f64::from(n) / start.elapsed().as_secs_f64() / 1e6;
    (ct.memory_bytes() as f64 / f64::from(n), rate)
}

pub fn run(big: u32, min: Duration, allocs: fn() -> u64) {
    println!("(g) IPv6 beside IPv4, NAT pipeline, one core, batches of {BATCH}: IPv4 60-byte frames, IPv6 {FRAME6}-byte frames; best of {ROUNDS} alternating runs");
    println!(
        "{:<40} {:>10} {:>9} {:>12} {:>8}",
        "case", "ns/packet", "Mpps", "packets", "allocs"
    );
    let row = |name: String, r: &Run, note: String| {
        println!(
            "{:<40} {:>10.1} {:>9.2} {:>12} {:>8}   {note}",
            name,
            r.ns_per_packet(),
            r.mpps(),
            r.packets,
            r.allocs
        );
    };
    // The two families measured in turn, three times, each keeping its best run: a shared VM's
    // interruptions only ever add time, and alternating keeps a slow spell from landing on one
    // family alone.
    let best = |a: Run, b: Run| {
        if b.ns_per_packet() < a.ns_per_packet() {
            b
        } else {
            a
        }
    };
    for (flows, shuffled) in [(1_000u32, false), (big, true)] {
        let tag = format!("{flows} flows{}", if shuffled { ", random" } else { "" });
        let mut v4 = crate::nat::established(flows, shuffled, min, allocs);
        let mut v6 = established6(flows, shuffled, min, allocs);
        for _ in 1..ROUNDS {
            v4 = best(v4, crate::nat::established(flows, shuffled, min, allocs));
            v6 = best(v6, established6(flows, shuffled, min, allocs));
        }
        row(format!("ipv4 established, {tag}"), &v4, String::new());
        let ratio = v6.ns_per_packet() / v4.ns_per_packet();
        row(
            format!("ipv6 established, {tag}"),
            &v6,
            format!("({ratio:.2}x IPv4)"),
        );
    }
    let mut v4 = crate::nat::new_flows(big, allocs);
    let mut v6 = new_flows6(big, allocs);
    for _ in 1..ROUNDS {
        v4 = best(v4, crate::nat::new_flows(big, allocs));
        v6 = best(v6, new_flows6(big, allocs));
    }
    row(format!("ipv4 new flows, {big}"), &v4, String::new());
    let ratio = v6.ns_per_packet() / v4.ns_per_packet();
    row(
        format!("ipv6 new flows, {big}"),
        &v6,
        format!("({ratio:.2}x IPv4)"),
    );
    let (per_flow, rate) = conntrack6(big);
    println!(
        "ipv6 conntrack at {big} entries: entry {} B; {per_flow:.1} B per flow with the index; insert {rate:.2} M/s (IPv4: entry {} B)",
        std::mem::size_of::<dataplane::conntrack::EntryV6>(),
        std::mem::size_of::<dataplane::conntrack::Entry>()
    );
}
