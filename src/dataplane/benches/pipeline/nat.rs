//! (a): the NAT pipeline through [`Pipeline::process_batch`] over 60-byte frames, for
//! established flows (half client → VIP, half backend → client replies) and for new flows
//! (every packet creates a flow).

use std::hint::black_box;
use std::net::{Ipv4Addr, SocketAddrV4};
use std::time::{Duration, Instant};

use dataplane::batch::BATCH;
use dataplane::frames;
use dataplane::pipeline::{Pipeline, Verdict};
use dataplane::snapshot::{Snapshot, Spec};
use dataplane::testkit::memory::shuffled_order;
use dataplane::testkit::web::{self, client, client_frame, to_frame, FRAME};
use dataplane::testkit::{self, ip_of, l2, mac, route, two_interfaces};
use dataplane::wire::tcp::flags::{ACK, SYN};

use crate::measure::Run;

/// The default router's address (`…:fe`).
pub const ROUTER: Ipv4Addr = Ipv4Addr::new(198, 18, 0, 254);

pub fn snapshot() -> Snapshot {
    let spec = Spec {
        locals: Vec::new(),
        services: vec![web::service(None)],
        interfaces: two_interfaces("outside", "inside"),
        routes: vec![
            route([198, 18, 2, 0], 24, None, 1),
            route([0, 0, 0, 0], 0, Some(ROUTER), 0),
        ],
        neighbours: web::backend_neighbours()
            .chain([(ROUTER, mac(0xfe))])
            .collect(),
        workers: 1,
        hash_seed: 42,
        cluster_seed: 0,
        ..Spec::default()
    };
    Snapshot::build(&spec, None).expect("valid snapshot")
}

/// Feeds `templates` through the pipeline in batches until `min` has passed, copying each
/// batch into a work area first (the pipeline rewrites frames in place).
fn run_frames(
    p: &mut Pipeline,
    snap: &Snapshot,
    templates: &[[u8; FRAME]],
    min: Duration,
    once: bool,
    allocs: fn() -> u64,
) -> Run {
    let mut work = vec![[0u8; FRAME]; BATCH];
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

/// Established flows: each flow is opened, then the measured frames alternate between the
/// client's packet and the backend's reply.
pub fn established(flows: u32, shuffled: bool, min: Duration, allocs: fn() -> u64) -> Run {
    let snap = snapshot();
    let mut p = testkit::pipeline(0, flows);
    let mut templates = Vec::with_capacity(flows as usize * 2);
    for i in 0..flows {
        let mut f = client_frame(i, ACK);
        let v = p.process(&snap, 0, &mut f);
        assert!(matches!(v, Verdict::Tx { .. }), "{v:?}");
        let to = ip_of(&f).dst();
        templates.push(client_frame(i, ACK));
        templates.push(to_frame(frames::ethernet(
            l2(0xb0 + to.octets()[3] - 1, 0xa1),
            &frames::tcp_segment(SocketAddrV4::new(to, 8080), client(i), ACK, b""),
        )));
    }
    if shuffled {
        // Flows were created in order, so their entries sit in order too; visiting them in a
        // fixed pseudo-random order (pairs kept together) makes every entry a cache miss, as
        // real traffic would.
        templates = shuffled_order(templates.len() / 2)
            .iter()
            .flat_map(|&i| [templates[2 * i], templates[2 * i + 1]])
            .collect();
    }
    let mut run = run_frames(&mut p, &snap, &templates, min, false, allocs);
    assert_eq!(run.tx, run.packets, "every frame translated");
    run.copy_ns = copy_cost(&templates, min / 4);
    run
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
pub fn new_flows(flows: u32, allocs: fn() -> u64) -> Run {
    let snap = snapshot();
    let mut p = testkit::pipeline(0, flows);
    let templates: Vec<[u8; FRAME]> = (0..flows).map(|i| client_frame(i, SYN)).collect();
    // Taking the first snapshot sizes per-service state (an allocation per snapshot, not per
    // packet); do it before measuring.
    p.process_batch(&snap, 0, std::iter::empty(), &mut []);
    let run = run_frames(&mut p, &snap, &templates, Duration::ZERO, true, allocs);
    assert_eq!(run.tx, run.packets, "every flow created");
    run
}

/// All of (a): 1 000 and `big` flows established, in order and shuffled, then `big` new ones.
pub fn run(big: u32, min: Duration, allocs: fn() -> u64) {
    println!("(a) NAT pipeline, one core, {FRAME}-byte frames, batches of {BATCH}");
    println!(
        "{:<34} {:>10} {:>9} {:>12} {:>8}",
        "case", "ns/packet", "Mpps", "packets", "allocs"
    );
    for (flows, shuffled) in [(1_000u32, false), (big, false), (big, true)] {
        let r = established(flows, shuffled, min, allocs);
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
            r.copy_ns
        );
    }
    let r = new_flows(big, allocs);
    println!(
        "{:<34} {:>10.1} {:>9.2} {:>12} {:>8}",
        format!("new flows, {big} into empty table"),
        r.ns_per_packet(),
        r.mpps(),
        r.packets,
        r.allocs
    );
}
