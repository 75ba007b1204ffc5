//! Zero-loss forwarding benchmarks over veth (`fastpath-bench`, `gateway-bench`): a trafgen
//! generator in one namespace, the forwarder under test, a sink in another. A trial offers a
//! fixed rate, and the figures are the sink's interface counter against the generator's, the
//! forwarding core's busy time and the fast-path workers' own run time, per forwarded packet.

use std::path::PathBuf;
use std::time::{Duration, Instant};

use lab::cpustat::{cpu_busy, pin, threads_runtime};
use lab::{wait_until, Netns};

use crate::zeroloss::{search, Search, Trial};

/// The forwarding core; the generator runs on the other.
pub const FWD_CPU: usize = 0;
pub const GEN_CPU: usize = 1;
/// Loss below this counts as zero.
pub const MAX_LOSS: f64 = 0.001;
/// Traffic runs this long before the window opens (queues and rates settle).
const WARMUP: Duration = Duration::from_millis(300);

/// Run time of all `dp-worker-N` threads of `pid`.
pub fn workers_runtime(pid: u32) -> Option<Duration> {
    threads_runtime(pid, |comm| comm.starts_with("dp-worker-"))
}

/// The report's header line, matching [`report`]'s columns.
pub fn header() -> String {
    format!(
        "{:<32} {:>30} {:>16} {:>14}\n",
        "forwarder", "zero-loss pps (loss < 0.1 %)", "CPU 0 ns/pkt", "workers ns/pkt"
    )
}

/// One trial's figures.
#[derive(Clone, Copy)]
pub struct Measured {
    pub trial: Trial,
    /// Forwarding core's busy time per forwarded packet, other jobs' share removed.
    pub fwd_ns: f64,
    /// The fast-path worker threads' run time per forwarded packet.
    pub worker_ns: Option<f64>,
}

/// The generator and sink namespaces (interface `eth0` in each) and what a trial sends.
pub struct Bench<'a> {
    pub gen: &'a Netns,
    pub sink: &'a Netns,
    /// The sink's interfaces whose received frames count as forwarded (`eth0`; a bond's
    /// benchmark has one per member).
    pub sink_ifs: Vec<String>,
    /// trafgen's packet configuration.
    pub config: PathBuf,
    pub seconds: f64,
    /// The forwarding core's busy fraction without traffic.
    pub baseline: f64,
    /// applianced's pid, whose `dp-worker-N` threads are timed.
    pub worker_of: Option<u32>,
    pub log: Vec<Measured>,
}

pub fn counter(ns: &Netns, ifname: &str, which: &str) -> u64 {
    ns.run_ok(&[
        "cat",
        &format!("/sys/class/net/{ifname}/statistics/{which}"),
    ])
    .trim()
    .parse()
    .expect("counter")
}

/// A process and all its descendants.
pub fn family(pid: u32) -> Vec<u32> {
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
pub fn idle_busy(d: Duration) -> f64 {
    let b0 = cpu_busy(FWD_CPU);
    std::thread::sleep(d);
    (cpu_busy(FWD_CPU) - b0).as_secs_f64() / d.as_secs_f64()
}

impl<'a> Bench<'a> {
    pub fn new(gen: &'a Netns, sink: &'a Netns, config: PathBuf, seconds: f64) -> Bench<'a> {
        Bench {
            gen,
            sink,
            sink_ifs: vec!["eth0".into()],
            config,
            seconds,
            baseline: 0.0,
            worker_of: None,
            log: Vec::new(),
        }
    }

    /// One trial at `rate` packets per second.
    pub fn trial(&mut self, rate: f64) -> Trial {
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
                b.sink_ifs
                    .iter()
                    .map(|i| counter(b.sink, i, "rx_packets"))
                    .sum::<u64>(),
                cpu_busy(FWD_CPU),
                b.worker_of.and_then(workers_runtime),
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
    pub fn zero_loss(
        &mut self,
        mode: &str,
        max_rate: f64,
        steps: usize,
    ) -> (Search, Option<Measured>) {
        eprintln!("{mode}:");
        self.baseline = idle_busy(Duration::from_secs(2));
        self.log.clear();
        let s = search(max_rate, steps, MAX_LOSS, |r| self.trial(r));
        let best = s
            .best
            .and_then(|b| self.log.iter().find(|m| m.trial == b).copied());
        (s, best)
    }
}

/// `napi/*` kernel threads (threaded NAPI) by pid.
pub fn napi_threads() -> Vec<u32> {
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

pub fn run_ok_sh(ns: &Netns, script: &str) {
    ns.run_ok(&["sh", "-c", script]);
}

pub fn report(mode: &str, s: &Search, best: &Option<Measured>, out: &mut String) {
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

/// One forwarder's result as a JSON record (`--json`): `forwarder`, `zero_loss_pps`,
/// `generator_bound`, `cpu_ns_per_packet` (the forwarding core), `worker_ns_per_packet`.
pub fn record(forwarder: &str, s: &Search, best: &Option<Measured>) -> serde_json::Value {
    serde_json::json!({
        "forwarder": forwarder,
        "zero_loss_pps": best.map(|b| b.trial.forwarded.round()),
        "generator_bound": s.generator_bound,
        "cpu_ns_per_packet": best.map(|b| b.fwd_ns.round()),
        "worker_ns_per_packet": best.and_then(|b| b.worker_ns).map(f64::round),
    })
}

/// Makes the sink drop the benchmark's datagrams (UDP port 9, also inside IP in IP) at its
/// earliest netfilter hook. IP in IP is protocol 4, which nftables calls `ipencap`: its `ipip`
/// is protocol 94, and a rule with it let every IP-in-IP packet through to a sink without the
/// ipip module, whose "protocol unreachable" path (a route lookup per packet) was then billed
/// to the forwarding core.
/// On veth the sink's receive runs on the forwarding core, in softirq after each transmit:
/// without this, its route lookup, socket lookup and a rate-limited port unreachable per packet
/// were about half of what was measured as forwarding, in both modes (`perf` on the worker).
/// The sink's interface counter, which the figures use, counts before the hook.
pub fn quiet_sink(sink: &Netns) {
    sink.run_ok(&[
        "nft",
        "add table ip sink; \
         add chain ip sink pre { type filter hook prerouting priority raw; }; \
         add rule ip sink pre udp dport 9 drop; \
         add rule ip sink pre ip protocol 4 drop",
    ]);
}

/// [`quiet_sink`] for IPv6 too: the benchmark's datagrams over IPv6 dropped at the sink's
/// earliest hook, in a table of their own (the IPv4 rules are left as the IPv4 runs had them).
pub fn quiet_sink_v6(sink: &Netns) {
    quiet_sink(sink);
    sink.run_ok(&[
        "nft",
        "add table ip6 sink; \
         add chain ip6 sink pre { type filter hook prerouting priority raw; }; \
         add rule ip6 sink pre udp dport 9 drop",
    ]);
}

/// Command-line options shared by the veth forwarding benchmarks.
pub struct Opts {
    pub seconds: f64,
    pub steps: usize,
    pub max_rate: f64,
    args: Vec<String>,
}

impl Opts {
    /// `--seconds S` (3), `--steps N` (7), `--max-rate PPS` (1 000 000), and flags by [`Opts::flag`].
    pub fn parse() -> Opts {
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
            args,
        }
    }

    pub fn flag(&self, name: &str) -> bool {
        self.args.iter().any(|a| a == name)
    }
}
