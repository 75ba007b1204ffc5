//! Benchmark (b): the fast path end to end against the kernel, on veths in namespaces.
//!
//! ```text
//!  gen ──veth── lb ──veth── sink          UDP to VIP:9, 60-byte frames, many source ports
//! ```
//!
//! The generator (this binary's `flood` mode, an AF_XDP sender in copy mode) floods the VIP as
//! fast as it can from one pinned CPU (CPU 1). The load balancer is the kernel (forwarding with
//! nftables DNAT to the sink), either in the sender's softirq (veth's default: everything on the
//! generator's CPU) or moved to CPU 0 with RPS, or `applianced` with the data plane (NAT mode,
//! one worker, pinned to CPU 0). The
//! sink's interface counter says what arrived. Reported per mode: offered and forwarded packets
//! per second and loss. (CPU time per packet is not reported: the machine's CPUs are shared
//! with other jobs, so machine-wide busy time would not be this benchmark's.)
//!
//! `sudo APPLIANCE_BIN_DIR=target/release target/release/fastpath-bench [--seconds N] [--runs N]`
//! (nftables installed); each mode runs `--runs` times and the median is reported.

use std::net::{Ipv4Addr, SocketAddrV4};
use std::time::{Duration, Instant};

use appliance::dataplane::frames::{self, L2};
use appliance::dataplane::wire::MacAddr;
use appliance::xdp::xsk::{Xsk, XskConfig};
use netns_tests::{bin_path, wait_until, Appliance, Lab, Netns};

const VIP: &str = "198.18.42.1";
const SINK: &str = "198.18.41.2";
const FLOWS: u16 = 1024;

/// Numbers the generator processes (their logs are named after them).
static RUN: std::sync::atomic::AtomicUsize = std::sync::atomic::AtomicUsize::new(0);

/// `flood --iface IF --dst-mac MAC --seconds N [--cpu C]`: sends UDP frames to VIP:9 from
/// `FLOWS` source ports, then prints `sent N`.
fn flood(args: &[String]) {
    let val = |f: &str| {
        args.windows(2)
            .find(|w| w[0] == f)
            .map(|w| w[1].clone())
            .unwrap_or_else(|| panic!("{f}"))
    };
    let ifname = val("--iface");
    let dst: MacAddr = val("--dst-mac").parse().expect("MAC");
    let seconds: u64 = val("--seconds").parse().expect("seconds");
    if let Some(cpu) = args.windows(2).find(|w| w[0] == "--cpu") {
        pin(cpu[1].parse().expect("cpu"));
    }
    let c = std::ffi::CString::new(ifname.clone()).unwrap();
    // SAFETY: `c` is a valid NUL-terminated name.
    let ifindex = unsafe { libc::if_nametoindex(c.as_ptr()) };
    assert!(ifindex != 0, "no interface {ifname}");
    let mut xsk = Xsk::open(ifindex, 0, XskConfig::default()).unwrap_or_else(|e| panic!("{e}"));
    let l2 = L2 {
        src: MacAddr([2, 0, 0, 0, 0, 1]),
        dst,
    };
    let gen: Ipv4Addr = "198.18.40.2".parse().unwrap();
    let vip: Ipv4Addr = VIP.parse().unwrap();
    let templates: Vec<Vec<u8>> = (0..FLOWS)
        .map(|i| {
            frames::ethernet(
                l2,
                &frames::udp_datagram(
                    SocketAddrV4::new(gen, 10_000 + i),
                    SocketAddrV4::new(vip, 9),
                    b"0123456789ab",
                ),
            )
        })
        .collect();
    println!("flooding");
    let start = Instant::now();
    let (mut sent, mut i) = (0u64, 0usize);
    while start.elapsed() < Duration::from_secs(seconds) {
        for _ in 0..64 {
            if xsk.transmit_copy(&templates[i % templates.len()]) {
                sent += 1;
                i += 1;
            }
        }
        xsk.flush();
    }
    println!("sent {sent}");
}

fn pin(cpu: usize) {
    // SAFETY: a zeroed cpu_set_t is an empty set; CPU_SET writes within it; the call reads it.
    unsafe {
        let mut set: libc::cpu_set_t = std::mem::zeroed();
        libc::CPU_SET(cpu, &mut set);
        libc::sched_setaffinity(0, std::mem::size_of::<libc::cpu_set_t>(), &set);
    }
}

fn counter(ns: &Netns, ifname: &str, which: &str) -> u64 {
    ns.run_ok(&[
        "cat",
        &format!("/sys/class/net/{ifname}/statistics/{which}"),
    ])
    .trim()
    .parse()
    .expect("counter")
}

struct Result {
    mode: &'static str,
    offered: f64,
    forwarded: f64,
}

fn run(mode: &'static str, gen: &Netns, sink: &Netns, lb_mac: &str, seconds: u64) -> Result {
    let bin = bin_path("fastpath-bench");
    let (tx0, rx0) = (
        counter(gen, "eth0", "tx_packets"),
        counter(sink, "eth0", "rx_packets"),
    );
    let secs = seconds.to_string();
    let p = gen
        .process(
            &format!(
                "flood-{mode}-{}",
                RUN.fetch_add(1, std::sync::atomic::Ordering::Relaxed)
            ),
            &[
                bin.to_str().unwrap(),
                "flood",
                "--iface",
                "eth0",
                "--dst-mac",
                lb_mac,
                "--seconds",
                &secs,
                "--cpu",
                "1",
            ],
        )
        .spawn();
    let started = Instant::now();
    p.wait_timeout(Duration::from_secs(seconds + 20))
        .expect("generator finished");
    let elapsed = started.elapsed().as_secs_f64();
    std::thread::sleep(Duration::from_millis(200));
    let sent = counter(gen, "eth0", "tx_packets") - tx0;
    let got = counter(sink, "eth0", "rx_packets") - rx0;
    Result {
        mode,
        offered: sent as f64 / elapsed,
        forwarded: got as f64 / elapsed,
    }
}

fn config() -> String {
    format!(
        r#"[daemon]
node_name = "lb"
state_dir = "/run/appliance"

[control]
socket = "/run/appliance/appctl.sock"

[interfaces.eth0]
[interfaces.eth1]

[dataplane]
interfaces = ["eth0", "eth1"]
workers = 1
queues = 1

[[service]]
name = "sink"
vip = "{VIP}"
port = 9
protocol = "udp"
backends = [{{ address = "{SINK}", port = 9 }}]
"#
    )
}

fn main() {
    let args: Vec<String> = std::env::args().skip(1).collect();
    if args.first().map(String::as_str) == Some("flood") {
        return flood(&args);
    }
    let seconds: u64 = args
        .windows(2)
        .find(|w| w[0] == "--seconds")
        .map_or(5, |w| w[1].parse().expect("--seconds N"));
    let lab = Lab::new("fastpath-bench");
    let (gen, lb, sink) = (lab.netns("gen"), lab.netns("lb"), lab.netns("sink"));
    lab.veth(&gen, "eth0", &lb, "eth0");
    lab.veth(&lb, "eth1", &sink, "eth0");
    gen.add_addr("eth0", "198.18.40.2/24");
    lb.add_addr("eth0", "198.18.40.1/24");
    lb.add_addr("eth0", &format!("{VIP}/32"));
    lb.add_addr("eth1", "198.18.41.1/24");
    sink.add_addr("eth0", &format!("{SINK}/24"));
    lb.assert_ping(SINK);
    let lb_mac = lb.mac("eth0");

    let runs: usize = args
        .windows(2)
        .find(|w| w[0] == "--runs")
        .map_or(3, |w| w[1].parse().expect("--runs N"));
    let median = |mode: &'static str, f: &dyn Fn() -> Result| -> Result {
        let mut rs: Vec<Result> = (0..runs).map(|_| f()).collect();
        rs.sort_by(|a, b| a.forwarded.total_cmp(&b.forwarded));
        let m = rs.swap_remove(rs.len() / 2);
        Result { mode, ..m }
    };

    // The kernel: forwarding with nftables DNAT.
    lb.sysctl("net.ipv4.ip_forward", "1");
    lb.run_ok(&["nft", "add table ip bench"]);
    lb.run_ok(&[
        "nft",
        "add chain ip bench pre { type nat hook prerouting priority dstnat; }",
    ]);
    lb.run_ok(&[
        "nft",
        &format!("add rule ip bench pre ip daddr {VIP} udp dport 9 dnat to {SINK}:9"),
    ]);
    let rps = "/sys/class/net/eth0/queues/rx-0/rps_cpus";
    let kernel = median("kernel, nftables DNAT", &|| {
        run("kernel", &gen, &sink, &lb_mac, seconds)
    });
    lb.run_ok(&["sh", "-c", &format!("echo 1 > {rps}")]);
    let kernel_rps = median("kernel, nftables DNAT, RPS", &|| {
        run("kernel-rps", &gen, &sink, &lb_mac, seconds)
    });
    lb.run_ok(&["sh", "-c", &format!("echo 0 > {rps}")]);
    lb.run_ok(&["nft", "delete table ip bench"]);
    lb.sysctl("net.ipv4.ip_forward", "0");

    // The fast path.
    let mut node = Appliance::new(&lab, &lb, "lb", &config());
    node.start();
    wait_until(
        "data plane running with the sink resolved",
        Duration::from_secs(15),
        Duration::from_millis(200),
        || {
            let out = node.appctl(&["dataplane", "--json"]);
            let st: serde_json::Value = serde_json::from_slice(&out.stdout).unwrap_or_default();
            st["state"] == "running"
                && st["unresolved_neighbours"]
                    .as_array()
                    .is_some_and(|a| a.is_empty())
        },
    )
    .expect("data plane up");
    let fast = median("fast path, 1 worker", &|| {
        run("fastpath", &gen, &sink, &lb_mac, seconds)
    });
    let status = node.appctl(&["dataplane"]);

    println!(
        "{:<30} {:>14} {:>14} {:>8}",
        "mode", "offered pps", "forwarded pps", "loss %"
    );
    for r in [&kernel, &kernel_rps, &fast] {
        println!(
            "{:<30} {:>14.0} {:>14.0} {:>8.2}",
            r.mode,
            r.offered,
            r.forwarded,
            100.0 * (1.0 - r.forwarded / r.offered.max(1.0)),
        );
    }
    println!("\n{}", String::from_utf8_lossy(&status.stdout));
}
