//! (e) Direct server return beside NAT: the client's direction of a service in each mode,
//! through the AF_XDP worker's own packet path (`dataplane::batch::WorkerLoop`).
//!
//! - *established*: `flows` open flows, visited in a random order (every entry a cache miss);
//! - *mid-flow pickup*: every frame an ACK of a flow this node has never seen, into an empty
//!   table (what a node meets when an ECMP router moves flows to it): scheduled by Maglev and
//!   tracked.
//!
//! NAT rewrites the destination (address, port, checksums); `dr` only the MACs and the TTL;
//! `tunnel` adds an IP-in-IP header (the frame grows by 20 bytes into the room behind it).

use std::time::Duration;

use dataplane::counters::Counter;
use dataplane::pipeline::{Pipeline, Verdict};
use dataplane::snapshot::{Direct, ServiceSpec, Snapshot, Spec};
use dataplane::testkit::memory::{Frames, SLOT};
use dataplane::testkit::web::{self, client_frame, FRAME, VIP};
use dataplane::testkit::{self, ip_of, mac, route, two_interfaces};
use dataplane::wire::proto;
use dataplane::wire::tcp::flags::ACK;

use crate::measure::{measure, Api, Run};

const ROUTER: std::net::Ipv4Addr = std::net::Ipv4Addr::new(198, 18, 0, 254);
const OWN: std::net::Ipv4Addr = std::net::Ipv4Addr::new(198, 18, 2, 254);

fn snapshot(direct: Option<Direct>) -> Snapshot {
    let mut backends = route([198, 18, 2, 0], 24, None, 1);
    backends.src = Some(OWN);
    let spec = Spec {
        services: vec![ServiceSpec {
            direct,
            ..web::service(None)
        }],
        interfaces: two_interfaces("outside", "inside"),
        routes: vec![backends, route([0, 0, 0, 0], 0, Some(ROUTER), 0)],
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

fn name(direct: Option<Direct>) -> &'static str {
    match direct {
        None => "nat",
        Some(Direct::Routing) => "dr",
        Some(Direct::Tunnel { .. }) => "tunnel",
    }
}

/// Checks a frame as the mode sends it to a backend.
fn check(direct: Option<Direct>, f: &[u8]) {
    let ip = ip_of(f);
    match direct {
        None => assert_eq!(ip.dst().octets()[..3], [198, 18, 2], "to a backend"),
        Some(Direct::Routing) => {
            assert_eq!(ip.dst(), VIP, "addresses unchanged");
            assert_eq!(f[0..5], mac(0xb0).0[..5], "to a backend's MAC");
        }
        Some(Direct::Tunnel { .. }) => {
            assert_eq!((ip.protocol(), ip.src()), (proto::IPIP, OWN));
            assert_eq!(
                f.len(),
                14 + usize::from(ip.total_len()),
                "wrapped, padding dropped"
            );
            assert_eq!(
                ip.total_len(),
                20 + 40,
                "IP in IP around the 40-byte segment"
            );
        }
    }
}

fn pipeline(flows: u32) -> Pipeline {
    testkit::pipeline(0, flows)
}

/// One mode's two cases.
pub fn cases(direct: Option<Direct>, flows: u32, min: Duration, a: fn() -> u64) -> [Run; 2] {
    let snap = snapshot(direct);
    let mut t = Frames::new(FRAME, flows as usize);
    for i in 0..flows {
        t.push(&client_frame(i, ACK));
    }
    // Mid-flow pickup: every ACK opens its flow.
    let mut p = pipeline(flows);
    p.process_batch(&snap, 0, std::iter::empty(), &mut []);
    let pickup = measure(&mut p, &snap, &t, Duration::ZERO, true, Api::Worker, a);
    assert_eq!(pickup.tx, pickup.packets, "every flow picked up");
    assert_eq!(p.counters().get(Counter::NewFlows), u64::from(flows));
    check(direct, &pickup.last);
    // Established: the same flows again, in a random order.
    let shuffled = t.shuffled(1);
    let est = measure(&mut p, &snap, &shuffled, min, false, Api::Worker, a);
    assert_eq!(est.tx, est.packets, "every frame forwarded");
    check(direct, &est.last);
    let mut buf = [0u8; SLOT];
    let f = client_frame(0, ACK);
    buf[..f.len()].copy_from_slice(&f);
    assert!(matches!(
        p.process_frame(&snap, 0, &mut buf, f.len()).0,
        Verdict::Tx { .. }
    ));
    [est, pickup]
}

pub fn run(flows: u32, min: Duration, json: bool, a: fn() -> u64) {
    if !json {
        println!("(e) direct server return beside NAT, client direction, worker path, {FRAME}-byte frames");
        println!(
            "{:<46} {:>10} {:>9} {:>12} {:>8}",
            "case", "ns/packet", "Mpps", "packets", "allocs"
        );
    }
    let modes = [
        None,
        Some(Direct::Routing),
        Some(Direct::Tunnel { source: None }),
    ];
    let mut nat_ns = [0f64; 2];
    for direct in modes {
        let [est, pickup] = cases(direct, flows, min, a);
        if direct.is_none() {
            nat_ns = [est.ns_per_packet(), pickup.ns_per_packet()];
        }
        for (case, r, nat) in [
            ("established, random", &est, nat_ns[0]),
            ("mid-flow pickup", &pickup, nat_ns[1]),
        ] {
            if json {
                println!(
                    "{}",
                    serde_json::json!({
                        "benchmark": "pipeline-direct",
                        "mode": name(direct),
                        "case": case,
                        "flows": flows,
                        "ns_per_packet": r.ns_per_packet(),
                        "mpps": r.mpps(),
                        "packets": r.packets,
                        "allocs": r.allocs,
                        "ratio_to_nat": r.ns_per_packet() / nat,
                    })
                );
            } else {
                crate::gateway::line(
                    &format!("{} {case}, {flows} flows", name(direct)),
                    r,
                    &format!("({:.2}x NAT)", r.ns_per_packet() / nat),
                );
            }
        }
    }
}
