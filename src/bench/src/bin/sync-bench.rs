//! Session sync over veth: the bulk resynchronisation of a full table to a peer that appears,
//! and the bytes on the wire per synced flow, with the production sync thread and worker turn.
//!
//! ```text
//!  a ──veth── b          sync on UDP 7531, 198.18.60.1 ↔ 198.18.60.2
//! ```
//!
//! Both nodes live in this process (`bench::syncnode`): each has `--workers` pipelines, a
//! thread per worker running the daemon's sync turn (`WorkerSync::turn`) every millisecond,
//! and the daemon's sync thread (`SyncThread::start`) with its socket in the node's namespace.
//! a's pipelines are filled with `--flows` established NAT flows through the packet path (an
//! ACK of each client to the web service, given to the worker that owns it); b starts empty.
//! a starts; then b starts, and the clock runs until b's workers have adopted every flow and
//! b's sync thread has the bulk's last page (its `bulk_received` event).
//!
//! Reported: seconds (to the last flow adopted; and to the first, the start-up of the
//! exchange) and entries per second; a's datagrams and bytes to b by the veth's
//! counters (Ethernet frames, and without the 14-byte Ethernet, 20-byte IP and 8-byte UDP
//! headers: the UDP payload), per flow, and b's acks back; CPU time of both sync threads and
//! b's workers; a's retransmissions and b's apply-ring overflows (each of which asks for the
//! whole table again).
//!
//! With `--live RATE`, once the bulk is in, `a`'s workers create RATE new flows a second
//! (SYNs of new clients, through the packet path, each worker its own) for `--live-seconds`,
//! and the clock runs until `b` has adopted every one: whether the live stream keeps up, the
//! changes or records lost, the lag of the last flow, and the bytes per live flow.
//!
//! No comparison runs beside it: conntrackd is not installed here, and the LVS sync daemon
//! (keepalived's `lvs_sync_daemon`) has no bulk resynchronisation to compare with.
//!
//! `target/release/sync-bench [--flows N] [--workers W] [--timeout S] [--live RATE
//! [--live-seconds S]] [--json]` as root.

use std::net::Ipv4Addr;
use std::time::{Duration, Instant};

use bench::syncnode::{settings, snapshot, Live, Node};
use dataplane::batch::BATCH;
use dataplane::conntrack::Kind;
use dataplane::counters::Counter;
use dataplane::flow::FlowKey;
use dataplane::pipeline::adopt::owner;
use dataplane::pipeline::{Pipeline, Verdict};
use dataplane::snapshot::Snapshot;
use dataplane::testkit::web::{client, client_frame, FRAME, VIP};
use dataplane::wire::tcp::flags::ACK;
use lab::{Lab, Netns};
use serde_json::json;

const USAGE: &str = "usage: sync-bench [--flows N] [--workers W] [--timeout S] [--live RATE [--live-seconds S]] [--json]\n\nBulk resync of N flows (default 1000000) between two nodes' production sync threads over veth, bytes on the wire per flow; with --live, then RATE new flows a second on a for S seconds (default 2), streamed to b (root).";

const A: Ipv4Addr = Ipv4Addr::new(198, 18, 60, 1);
const B: Ipv4Addr = Ipv4Addr::new(198, 18, 60, 2);
const KEY: &str = "sync-bench key, 32 bytes long...";
/// Ethernet, IPv4 and UDP headers of a sync datagram on the veth.
const ETH: u64 = 14;
const IP_UDP: u64 = 20 + 8;

fn arg<T: std::str::FromStr>(args: &[String], name: &str, default: T) -> T {
    match args.iter().position(|a| a == name) {
        Some(i) => args
            .get(i + 1)
            .and_then(|v| v.parse().ok())
            .unwrap_or_else(|| {
                eprintln!("sync-bench: {name} needs a number\n{USAGE}");
                std::process::exit(2)
            }),
        None => default,
    }
}

/// Clients `ids` by the worker that owns their flow to the web service.
fn by_owner(snap: &Snapshot, ids: std::ops::Range<u32>, workers: u16) -> Vec<Vec<u32>> {
    let mut per: Vec<Vec<u32>> = vec![Vec::new(); usize::from(workers)];
    for i in ids {
        let c = client(i);
        let key = FlowKey {
            src: *c.ip(),
            dst: VIP,
            src_port: c.port(),
            dst_port: 80,
            proto: 6,
            zone: 0,
        };
        per[usize::from(owner(snap, Kind::Nat, &key))].push(i);
    }
    per
}

/// `flows` established flows in `workers` pipelines, each in the worker that owns it.
fn filled(snap: &Snapshot, flows: u32, workers: u16, capacity: u32) -> Vec<Pipeline> {
    let per = by_owner(snap, 0..flows, workers);
    let mut work = vec![[0u8; FRAME]; BATCH];
    let mut verdicts = [Verdict::Pass; BATCH];
    per.iter()
        .enumerate()
        .map(|(w, ids)| {
            let mut p = dataplane::testkit::pipeline(w as u16, capacity);
            for chunk in ids.chunks(BATCH) {
                for (slot, &i) in work.iter_mut().zip(chunk) {
                    *slot = client_frame(i, ACK);
                }
                p.process_batch(
                    snap,
                    0,
                    work[..chunk.len()].iter_mut().map(|f| &mut f[..]),
                    &mut verdicts,
                );
                assert!(
                    verdicts[..chunk.len()]
                        .iter()
                        .all(|v| matches!(v, Verdict::Tx { .. })),
                    "every flow opened"
                );
            }
            p.housekeeping(0);
            assert_eq!(
                p.counters().get(Counter::ConntrackUsed),
                ids.len() as u64,
                "worker {w} holds its flows"
            );
            p
        })
        .collect()
}

/// (packets, bytes) sent and received by `ns`'s eth0.
fn link_counters(ns: &Netns) -> [u64; 4] {
    let read = |f: &str| -> u64 {
        ns.run_ok(&["cat", &format!("/sys/class/net/eth0/statistics/{f}")])
            .trim()
            .parse()
            .expect("a counter")
    };
    [
        read("tx_packets"),
        read("tx_bytes"),
        read("rx_packets"),
        read("rx_bytes"),
    ]
}

fn main() {
    bench::help_or_continue(USAGE);
    lab::require_root();
    lab::tools_or_exit("sync-bench", &["ip", "ping", "cat"]);
    let args: Vec<String> = std::env::args().collect();
    let flows: u32 = arg(&args, "--flows", 1_000_000);
    let workers: u16 = arg(&args, "--workers", 2);
    let timeout = Duration::from_secs(arg(&args, "--timeout", 60));
    let json = args.iter().any(|a| a == "--json");
    let live_rate: u32 = arg(&args, "--live", 0);
    let live_s: u32 = arg(&args, "--live-seconds", 2);
    let live_flows = live_rate.saturating_mul(live_s);
    assert!(workers >= 1 && flows >= 1);

    let lab = Lab::new("sync-bench");
    let (na, nb) = (lab.netns("a"), lab.netns("b"));
    lab.veth(&na, "eth0", &nb, "eth0");
    na.add_addr("eth0", &format!("{A}/24"));
    nb.add_addr("eth0", &format!("{B}/24"));
    na.assert_ping(&B.to_string());

    let seed = appliance::syncd::ownership_seed(KEY.as_bytes());
    let snap = snapshot(workers, seed);
    // Room for each worker's share and its unevenness.
    let capacity = ((flows + live_flows) / u32::from(workers)).saturating_mul(3) / 2 + 1024;
    let t = Instant::now();
    let pipelines = filled(&snap, flows, workers, capacity);
    let fill_s = t.elapsed().as_secs_f64();
    let empty = (0..workers)
        .map(|w| dataplane::testkit::pipeline(w, capacity))
        .collect();

    // The live load: new clients after the table's, each worker's owned ones, spread evenly
    // over the live seconds.
    let live: Vec<Live> = by_owner(&snap, flows..flows + live_flows, workers)
        .into_iter()
        .map(|ids| Live {
            per_ms: ids.len().div_ceil((live_s as usize * 1000).max(1)),
            ids,
        })
        .collect();
    let (mut a, link_a) = Node::start("a", pipelines, snap.clone(), live);
    let (mut b, link_b) = Node::start("b", empty, snap, Vec::new());
    a.start_sync(na.name(), A, B, KEY, link_a, workers);
    // a's workers publish their counters (the bulk's total) within a millisecond.
    while a.counter(Counter::ConntrackUsed) < u64::from(flows) {
        std::thread::sleep(Duration::from_millis(1));
    }
    std::thread::sleep(Duration::from_millis(100));
    let (links0, cpu_a0, cpu_bw0) = (link_counters(&na), a.sync_cpu(), b.workers_cpu());
    let t0 = b.clock.elapsed();
    b.start_sync(nb.name(), B, A, KEY, link_b, workers);
    let deadline = Instant::now() + timeout;
    let complete = loop {
        if b.adopted() >= u64::from(flows) && b.event_at("bulk_received").is_some() {
            break true;
        }
        if Instant::now() > deadline {
            break false;
        }
        std::thread::sleep(Duration::from_millis(1));
    };
    let wall = b.clock.elapsed() - t0;
    let adopted_at = b.last_adoption().saturating_sub(t0);
    let first_at = b.first_adoption().map(|t| t.saturating_sub(t0));
    let received_at = b.event_at("bulk_received").map(|t| t.saturating_sub(t0));
    // a learns of the last ack within a round trip; its status is published every 200 ms.
    let acked_deadline = Instant::now() + Duration::from_secs(2);
    while a.event_at("bulk_sent").is_none() && Instant::now() < acked_deadline {
        std::thread::sleep(Duration::from_millis(1));
    }
    let acked_at = a.event_at("bulk_sent").map(|t| {
        (a.clock + t)
            .saturating_duration_since(b.clock)
            .saturating_sub(t0)
    });
    let links1 = link_counters(&na);
    let (cpu_a, cpu_b, cpu_bw) = (
        a.sync_cpu() - cpu_a0,
        b.sync_cpu(),
        b.workers_cpu() - cpu_bw0,
    );
    std::thread::sleep(Duration::from_millis(250));
    let sa = a.handle.get().expect("a's status");
    let sb = b.handle.get().expect("b's status");
    let (pa, pb) = (&sa.peers[0], &sb.peers[0]);

    let n = f64::from(flows);
    let [tx_pkts, tx_bytes, rx_pkts, rx_bytes] = [0, 1, 2, 3].map(|i| links1[i] - links0[i]);
    let seconds = adopted_at.as_secs_f64();
    let record = json!({
        "benchmark": "sync-bulk",
        "flows": flows,
        "workers": workers,
        "complete": complete,
        "seconds": seconds,
        "entries_per_second": n / seconds,
        "first_adopted_s": first_at.map(|t| t.as_secs_f64()),
        "bulk_received_s": received_at.map(|t| t.as_secs_f64()),
        "bulk_acked_s": acked_at.map(|t| t.as_secs_f64()),
        "wall_s": wall.as_secs_f64(),
        "adopted": b.adopted(),
        "b_conntrack_used": b.counter(Counter::ConntrackUsed),
        "b_refused": b.counter(Counter::SyncRefused),
        "b_apply_ring_full": sb.apply_ring_full,
        "b_apply_held_back": sb.apply_held_back,
        "a_datagrams": tx_pkts,
        "a_records_sent": pa.records_sent,
        "a_datagrams_sent": pa.datagrams_sent,
        "a_datagrams_resent": pa.datagrams_resent,
        "a_bulk_out": { "sent": pa.bulk_out.sent, "acked": pa.bulk_out.acked, "total": pa.bulk_out.total, "done": pa.bulk_out.done },
        "b_discards": pb.discards,
        "wire_bytes_per_flow": tx_bytes as f64 / n,
        "ip_bytes_per_flow": (tx_bytes - ETH * tx_pkts) as f64 / n,
        "udp_payload_bytes_per_flow": (tx_bytes - (ETH + IP_UDP) * tx_pkts) as f64 / n,
        "flows_per_datagram": n / tx_pkts as f64,
        "ack_datagrams": rx_pkts,
        "ack_wire_bytes_per_flow": rx_bytes as f64 / n,
        "sync_cpu_a_s": cpu_a.as_secs_f64(),
        "sync_cpu_b_s": cpu_b.as_secs_f64(),
        "workers_cpu_b_s": cpu_bw.as_secs_f64(),
        "fill_s": fill_s,
        "target_s": 3.0,
        "target_met": complete && seconds <= 3.0,
    });
    if json {
        println!("{record}");
    } else {
        println!("{}", serde_json::to_string_pretty(&record).expect("json"));
        println!(
            "\nsettings: {:?}; a's status: {}",
            settings(workers),
            serde_json::to_string(&sa).expect("json")
        );
    }
    let live_ok = !complete || live_flows == 0 || {
        let r = live_run(&a, &b, &na, u64::from(flows), live_flows, live_s, timeout);
        let ok = r["complete"] == true;
        if json {
            println!("{r}");
        } else {
            println!("{}", serde_json::to_string_pretty(&r).expect("json"));
        }
        ok
    };
    drop(b);
    drop(a);
    if !complete || !live_ok {
        eprintln!("b did not get every flow within {timeout:?}");
        std::process::exit(1);
    }
}

/// The live load: `a`'s workers create `live` new flows over `seconds`; the clock runs until
/// `b` has adopted each (after the `table` flows of the bulk).
fn live_run(
    a: &Node,
    b: &Node,
    na: &Netns,
    table: u64,
    live: u32,
    seconds: u32,
    timeout: Duration,
) -> serde_json::Value {
    let before_a = a.handle.get().expect("a's status");
    let (links0, cpu_a0, cpu_b0, cpu_aw0) = (
        link_counters(na),
        a.sync_cpu(),
        b.sync_cpu(),
        a.workers_cpu(),
    );
    let t0 = a.clock.elapsed();
    a.go_live();
    let deadline = Instant::now() + Duration::from_secs(u64::from(seconds)) + timeout;
    let want = table + u64::from(live);
    let complete = loop {
        if a.created().0 >= u64::from(live) && b.adopted() >= want {
            break true;
        }
        if Instant::now() > deadline {
            break false;
        }
        std::thread::sleep(Duration::from_millis(1));
    };
    let (created, created_at) = a.created();
    let created_s = created_at.saturating_sub(t0).as_secs_f64();
    // b's clock started a moment after a's.
    let adopted_s = (b.clock + b.last_adoption())
        .saturating_duration_since(a.clock + t0)
        .as_secs_f64();
    let links1 = link_counters(na);
    let (cpu_a, cpu_b, cpu_aw) = (
        a.sync_cpu() - cpu_a0,
        b.sync_cpu() - cpu_b0,
        a.workers_cpu() - cpu_aw0,
    );
    std::thread::sleep(Duration::from_millis(250));
    let sa = a.handle.get().expect("a's status");
    let sb = b.handle.get().expect("b's status");
    let (pa0, pa) = (&before_a.peers[0], &sa.peers[0]);
    let [tx_pkts, tx_bytes, rx_pkts, rx_bytes] = [0, 1, 2, 3].map(|i| links1[i] - links0[i]);
    let n = created.max(1) as f64;
    json!({
        "benchmark": "sync-live",
        "offered_per_second": f64::from(live) / f64::from(seconds),
        "created": created,
        "created_per_second": created as f64 / created_s,
        "complete": complete,
        "b_adopted": b.adopted() - table,
        "last_adopted_after_last_created_ms": (adopted_s - created_s) * 1e3,
        "a_changes_lost": sa.changes_lost - before_a.changes_lost,
        "a_records_lost": pa.records_lost - pa0.records_lost,
        "a_records_sent": pa.records_sent - pa0.records_sent,
        "a_datagrams_resent": pa.datagrams_resent - pa0.datagrams_resent,
        "a_bulks_after": pa.bulk_out.total != pa0.bulk_out.total || pa.bulk_out.sent != pa0.bulk_out.sent,
        "b_apply_held_back": sb.apply_held_back,
        "b_apply_ring_full": sb.apply_ring_full,
        "a_datagrams": tx_pkts,
        "udp_payload_bytes_per_flow": (tx_bytes - (ETH + IP_UDP) * tx_pkts) as f64 / n,
        "wire_bytes_per_flow": tx_bytes as f64 / n,
        "ack_datagrams": rx_pkts,
        "ack_wire_bytes_per_flow": rx_bytes as f64 / n,
        "sync_cpu_a_s": cpu_a.as_secs_f64(),
        "sync_cpu_b_s": cpu_b.as_secs_f64(),
        "workers_cpu_a_s": cpu_aw.as_secs_f64(),
        "seconds": seconds,
    })
}
