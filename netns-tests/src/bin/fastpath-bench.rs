//! Benchmark (b): the zero-loss forwarding rate and CPU per packet of the fast path against the
//! kernel, on veths in namespaces, in one run.
//!
//! ```text
//!  gen ──veth── lb ──veth── sink          UDP to VIP:9, 60-byte frames, 1 024 source ports
//! ```
//!
//! The generator is trafgen at a fixed rate (`-b <rate>pps`) on CPU 1; lb forwards on CPU 0
//! (the forwarding core). Modes:
//! - kernel: IPv4 forwarding with an nftables DNAT rule (so conntrack), lb's receive moved to
//!   CPU 0 with RPS (veth would otherwise process it in the generator's context);
//! - fast path: `applianced`, one worker (pinned to CPU 0), NAT mode; the receiving veth's NAPI
//!   (where the XDP program runs and copies into the UMEM) is threaded and pinned to CPU 0 too,
//!   as a NIC's queue interrupt would be.
//!
//! For each mode a binary search on the offered rate finds the highest rate with loss under
//! 0.1 % (sink's interface counter against the generator's). CPU per packet is the forwarding
//! core's busy time in `/proc/stat` over the measuring window, less what it was busy with
//! before the traffic (other jobs), per forwarded packet; for the fast path the worker thread's
//! own run time (`schedstat`) per packet is shown too.
//!
//! `APPLIANCE_BIN_DIR=target/release target/release/fastpath-bench [--seconds S] [--steps N]
//! [--max-rate PPS] [--no-napi-pin] [--fast-only]` as root, with trafgen (netsniff-ng) and nftables installed.

use std::path::{Path, PathBuf};
use std::time::{Duration, Instant};

use netns_tests::cpustat::{cpu_busy, pin, thread_runtime};
use netns_tests::zeroloss::{search, Search, Trial};
use netns_tests::{require_tool, wait_until, Appliance, Lab, Netns};

const VIP: &str = "198.18.42.1";
const GEN: &str = "198.18.40.2";
const SINK: &str = "198.18.41.2";
const FWD_CPU: usize = 0;
const GEN_CPU: usize = 1;
const MAX_LOSS: f64 = 0.001;
/// Traffic runs this long before the window opens (queues and rates settle).
const WARMUP: Duration = Duration::from_millis(300);

struct Opts {
    seconds: f64,
    steps: usize,
    max_rate: f64,
    /// Leave the receiving veth's NAPI (XDP and the copy into the UMEM) where veth runs it, on
    /// the generator's core, instead of threading it onto the forwarding core.
    no_napi_pin: bool,
    /// Skip the kernel's search (diagnosing the fast path).
    fast_only: bool,
}

fn opts() -> Opts {
    let args: Vec<String> = std::env::args().skip(1).collect();
    let val = |f: &str| {
        args.windows(2)
            .find(|w| w[0] == f)
            .map(|w| w[1].parse::<f64>().unwrap_or_else(|_| panic!("{f} NUMBER")))
    };
    Opts {
        seconds: val("--seconds").unwrap_or(3.0),
        steps: val("--steps").map_or(7, |s| s as usize),
        max_rate: val("--max-rate").unwrap_or(1_000_000.0),
        no_napi_pin: args.iter().any(|a| a == "--no-napi-pin"),
        fast_only: args.iter().any(|a| a == "--fast-only"),
    }
}

/// One trial's figures.
#[derive(Clone, Copy)]
struct Measured {
    trial: Trial,
    /// Forwarding core's busy time per forwarded packet, other jobs' share removed.
    fwd_ns: f64,
    /// The fast-path worker thread's run time per forwarded packet.
    worker_ns: Option<f64>,
}

struct Bench<'a> {
    gen: &'a Netns,
    sink: &'a Netns,
    config: PathBuf,
    seconds: f64,
    /// The forwarding core's busy fraction without traffic.
    baseline: f64,
    /// applianced's pid, whose `dp-worker-0` thread is timed.
    worker_of: Option<u32>,
    log: Vec<Measured>,
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

/// A process and all its descendants.
fn family(pid: u32) -> Vec<u32> {
    let mut all = vec![pid];
    let mut i = 0;
    while i < all.len() {
        let p = all[i];
        if let Ok(tasks) = std::fs::read_dir(format!("/proc/{p}/task")) {
            for t in tasks.flatten() {
                let children =
                    std::fs::read_to_string(t.path().join("children")).unwrap_or_default();
                all.extend(
                    children
                        .split_whitespace()
                        .filter_map(|c| c.parse::<u32>().ok()),
                );
            }
        }
        i += 1;
    }
    all
}

/// Busy fraction of the forwarding core over `d` with no traffic.
fn idle_busy(d: Duration) -> f64 {
    let b0 = cpu_busy(FWD_CPU);
    std::thread::sleep(d);
    (cpu_busy(FWD_CPU) - b0).as_secs_f64() / d.as_secs_f64()
}

impl Bench<'_> {
    fn trial(&mut self, rate: f64) -> Trial {
        let p = self
            .gen
            .process(
                &format!("trafgen-{}", self.log.len()),
                &[
                    "trafgen",
                    "-o",
                    "eth0",
                    "-i",
                    self.config.to_str().unwrap(),
                    "-b",
                    &format!("{}pps", rate.round() as u64),
                    "-n",
                    "0",
                    "-P",
                    "1",
                    "-q",
                ],
            )
            .spawn();
        // trafgen pins its sending child to CPU 0, the forwarding core: move it (and its
        // parent) to the generator's core as soon as the child exists.
        wait_until(
            "trafgen's sender started",
            Duration::from_secs(5),
            Duration::from_millis(1),
            || family(p.pid()).len() > 1,
        )
        .expect("trafgen child");
        for pid in family(p.pid()) {
            let _ = pin(pid, GEN_CPU);
        }
        std::thread::sleep(WARMUP);
        let read = |b: &Bench<'_>| {
            (
                Instant::now(),
                counter(b.gen, "eth0", "tx_packets"),
                counter(b.sink, "eth0", "rx_packets"),
                cpu_busy(FWD_CPU),
                b.worker_of
                    .and_then(|pid| thread_runtime(pid, "dp-worker-0")),
            )
        };
        let (t0, tx0, rx0, busy0, w0) = read(self);
        std::thread::sleep(Duration::from_secs_f64(self.seconds));
        let (t1, tx1, rx1, busy1, w1) = read(self);
        for pid in family(p.pid()).into_iter().rev() {
            // SAFETY: kill has no memory-safety preconditions; these are our own children.
            unsafe { libc::kill(pid as libc::pid_t, libc::SIGKILL) };
        }
        p.kill();
        // Let the queues drain before the next trial.
        std::thread::sleep(Duration::from_millis(300));

        let window = (t1 - t0).as_secs_f64();
        let forwarded = (rx1 - rx0) as f64;
        let per_packet = |ns: f64| ns / forwarded.max(1.0);
        let m = Measured {
            trial: Trial {
                requested: rate,
                offered: (tx1 - tx0) as f64 / window,
                forwarded: forwarded / window,
            },
            fwd_ns: per_packet(
                ((busy1 - busy0).as_secs_f64() - self.baseline * window).max(0.0) * 1e9,
            ),
            worker_ns: w0
                .zip(w1)
                .map(|(a, b)| per_packet((b - a).as_secs_f64() * 1e9)),
        };
        eprintln!(
            "  requested {:>9.0}  offered {:>9.0}  forwarded {:>9.0}  loss {:>6.2} %  CPU {:>5.0} ns/pkt",
            rate,
            m.trial.offered,
            m.trial.forwarded,
            100.0 * m.trial.loss(),
            m.fwd_ns
        );
        self.log.push(m);
        m.trial
    }

    /// The zero-loss search, and the figures of its best trial.
    fn zero_loss(&mut self, mode: &str, opts: &Opts) -> (Search, Option<Measured>) {
        eprintln!("{mode}:");
        self.baseline = idle_busy(Duration::from_secs(2));
        self.log.clear();
        let s = search(opts.max_rate, opts.steps, MAX_LOSS, |r| self.trial(r));
        let best = s
            .best
            .and_then(|b| self.log.iter().find(|m| m.trial == b).copied());
        (s, best)
    }
}

fn trafgen_config(lab: &Lab, gen_mac: &str, lb_mac: &str) -> PathBuf {
    // 14 + 20 + 8 + 18 = 60 bytes, the Ethernet minimum; trafgen computes the checksums (the
    // kernel's conntrack drops UDP with a bad one) and varies the source port per packet.
    lab.write_artifact(
        "trafgen.cfg",
        format!(
            "{{ eth(da={lb_mac}, sa={gen_mac}), ipv4(sa={GEN}, da={VIP}, ttl=64), \
             udp(sp=dinc(10000, 11023), dp=9), \"0123456789abcdefgh\" }}\n"
        ),
    )
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

/// `napi/*` kernel threads (threaded NAPI) by pid.
fn napi_threads() -> Vec<u32> {
    std::fs::read_dir("/proc")
        .into_iter()
        .flatten()
        .flatten()
        .filter_map(|e| {
            let pid: u32 = e.file_name().to_str()?.parse().ok()?;
            let comm = std::fs::read_to_string(e.path().join("comm")).ok()?;
            comm.starts_with("napi/").then_some(pid)
        })
        .collect()
}

fn run_ok_sh(ns: &Netns, script: &str) {
    ns.run_ok(&["sh", "-c", script]);
}

fn report(mode: &str, s: &Search, best: &Option<Measured>, out: &mut String) {
    let rate = match (best, s.generator_bound) {
        (Some(b), true) => format!(">= {:.0} (generator-bound)", b.trial.forwarded),
        (Some(b), false) => format!("{:.0}", b.trial.forwarded),
        (None, _) => "none found".into(),
    };
    let fwd = best.map_or("-".into(), |b| format!("{:.0}", b.fwd_ns));
    let worker = best
        .and_then(|b| b.worker_ns)
        .map_or("-".into(), |w| format!("{w:.0}"));
    out.push_str(&format!("{mode:<32} {rate:>30} {fwd:>16} {worker:>14}\n"));
}

fn main() {
    let opts = opts();
    require_tool("trafgen");
    require_tool("nft");
    let lab = Lab::new("fastpath-bench");
    let (gen, lb, sink) = (lab.netns("gen"), lab.netns("lb"), lab.netns("sink"));
    lab.veth(&gen, "eth0", &lb, "eth0");
    lab.veth(&lb, "eth1", &sink, "eth0");
    gen.add_addr("eth0", &format!("{GEN}/24"));
    lb.add_addr("eth0", "198.18.40.1/24");
    lb.add_addr("eth0", &format!("{VIP}/32"));
    lb.add_addr("eth1", "198.18.41.1/24");
    sink.add_addr("eth0", &format!("{SINK}/24"));
    lb.assert_ping(SINK);
    gen.assert_ping("198.18.40.1");
    let mut bench = Bench {
        gen: &gen,
        sink: &sink,
        config: trafgen_config(&lab, &gen.mac("eth0"), &lb.mac("eth0")),
        seconds: opts.seconds,
        baseline: 0.0,
        worker_of: None,
        log: Vec::new(),
    };
    let mut table = format!(
        "{:<32} {:>30} {:>16} {:>14}\n",
        "load balancer", "zero-loss pps (loss < 0.1 %)", "CPU 0 ns/pkt", "worker ns/pkt"
    );

    // The kernel: forwarding with nftables DNAT, receive processing on CPU 0 by RPS.
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
    run_ok_sh(&lb, &format!("echo {:x} > {rps}", 1u32 << FWD_CPU));
    if !opts.fast_only {
        let (s, best) = bench.zero_loss("kernel, nftables DNAT", &opts);
        report("kernel, nftables DNAT (RPS)", &s, &best, &mut table);
    }
    run_ok_sh(&lb, &format!("echo 0 > {rps}"));
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
    // XDP on veth runs in the receiving device's NAPI; threaded, its thread can be put on the
    // forwarding core like a NIC queue's interrupt.
    let before = napi_threads();
    let threaded = Path::new("/sys/class/net/eth0/threaded");
    let napi_note = if opts.no_napi_pin {
        "NAPI of lb's eth0 not threaded: XDP runs on the generator's core".to_string()
    } else {
        match lb.exec(&["sh", "-c", &format!("echo 1 > {}", threaded.display())]) {
            o if o.status.success() => {
                let new: Vec<u32> = napi_threads()
                    .into_iter()
                    .filter(|p| !before.contains(p))
                    .collect();
                for p in &new {
                    let _ = pin(*p, FWD_CPU);
                }
                format!(
                    "{} NAPI thread(s) of lb's eth0 pinned to CPU {FWD_CPU}",
                    new.len()
                )
            }
            _ => "threaded NAPI unavailable: XDP runs on the generator's core".into(),
        }
    };
    bench.worker_of = Some(node.proc().pid());
    let (s, best) = bench.zero_loss("fast path, 1 worker", &opts);
    report("fast path, 1 worker", &s, &best, &mut table);
    let status = node.appctl(&["dataplane"]);

    println!("{table}");
    println!(
        "trial {} s each, {} bisection steps, search from {:.0} pps; {napi_note}",
        opts.seconds, opts.steps, opts.max_rate
    );
    println!("\n{}", String::from_utf8_lossy(&status.stdout));
}
