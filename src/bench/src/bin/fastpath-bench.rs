//! Benchmark (b): the zero-loss forwarding rate and CPU per packet of the fast path against the
//! kernel, on veths in namespaces, in one run.
//!
//! ```text
//!  gen ──veth── lb ──veth── sink          UDP to VIP:9, 60-byte frames (IPv6: 80), 1 024 source ports
//! ```
//!
//! The generator is trafgen at a fixed rate (`-b <rate>pps`) on CPU 1; lb forwards on CPU 0
//! (the forwarding core). Modes:
//! - kernel: IP forwarding with an nftables DNAT rule (so conntrack), lb's receive moved to
//!   CPU 0 with RPS (veth would otherwise process it in the generator's context);
//! - kernel with the nftables flowtable (`CONFIG_NF_FLOW_TABLE`, the kernel's own software fast
//!   path for established flows), where the kernel has it; the benchmark says when it does not;
//! - fast path, offload off: `applianced`, one worker (pinned to CPU 0), NAT mode, every packet
//!   through AF_XDP; the receiving veth's NAPI (where the XDP program runs and copies into the
//!   UMEM) is threaded and pinned to CPU 0 too, as a NIC's queue interrupt would be;
//! - fast path, offload on (the default): established flows forwarded inside the XDP program
//!   (`[dataplane] offload = "xdp"`); on veth the data plane runs generic XDP then, in lb's
//!   receive path, which RPS moves to CPU 0 as for the kernel.
//!
//! - `--direct`: the fast path again in the direct-return modes, the same service reloaded with
//!   `mode = "dr"` (only the MACs change) and `mode = "tunnel"` (IP in IP to the sink).
//! - `--v6`: the same measurement over IPv6 (`fwdfamily::V6`, addresses in 2001:db8::/32, the
//!   same 18-byte datagram in 80-byte frames): the kernel forwarding IPv6 with an `ip6` family
//!   DNAT rule, the fast path with an IPv6 VIP in NAT mode, in FullNAT mode with an IPv6 pool,
//!   and in NAT mode with the offload on (which does not take IPv6 flows: they still go through
//!   the worker, behind generic XDP); `--direct` adds `dr` (tunnel mode is IPv4 only).
//!
//! Each fast-path row is also given against the kernel's of the same run (`pps_vs_kernel`,
//! `cpu_vs_kernel`).
//!
//! For each mode a binary search on the offered rate finds the highest rate with loss under
//! 0.1 % (sink's interface counter against the generator's). CPU per packet is the forwarding
//! core's busy time in `/proc/stat` over the measuring window, less what it was busy with
//! before the traffic (other jobs), per forwarded packet; for the fast path the worker thread's
//! own run time (`schedstat`) per packet is shown too.
//!
//! `APPLIANCE_BIN_DIR=target/release target/release/fastpath-bench [--seconds S] [--steps N]
//! [--max-rate PPS] [--no-napi-pin] [--fast-only] [--offload-only] [--direct] [--v6] [--json]`
//! as root, with trafgen (netsniff-ng) and nftables installed. `--json` prints one JSON object per forwarder
//! (`forwarder`, `family`, `zero_loss_pps`, `generator_bound`, `cpu_ns_per_packet`, ...) instead
//! of the table.

use std::path::{Path, PathBuf};

use bench::fwdbench::{
    header, napi_threads, quiet_sink, quiet_sink_v6, record, report, run_ok_sh, Bench, Opts,
    FWD_CPU,
};
use bench::fwdfamily::{Family, V4, V6};
use lab::cpustat::pin;
use lab::{Appliance, DataplaneHeader, Lab};

fn trafgen_config(lab: &Lab, fam: &Family, gen_mac: &str, lb_mac: &str) -> PathBuf {
    lab.write_artifact("trafgen.cfg", fam.trafgen_packet(gen_mac, lb_mac))
}

fn config(fam: &Family, mode: &str, offload: &str) -> String {
    let header = DataplaneHeader {
        node: "lb",
        shutdown_grace: None,
        interfaces: &[("eth0", ""), ("eth1", "")],
        workers: 1,
        queues: 1,
    };
    let (vip, sink) = (fam.vip, fam.sink);
    // FullNAT takes the client's source from a pool of the VIP's family; the sink drops what
    // arrives, so nothing needs a route back to the pool address.
    let (pool, pool_key) = if mode == "fullnat" {
        (
            format!(
                "\n[[snat.pool]]\nname = \"bench\"\naddresses = [\"{}\"]\n",
                fam.pool
            ),
            "pool = \"bench\"\n",
        )
    } else {
        (String::new(), "")
    };
    format!(
        r#"{header}
offload = "{offload}"
{pool}
[[service]]
name = "sink"
vip = "{vip}"
port = 9
protocol = "udp"
mode = "{mode}"
{pool_key}backends = [{{ address = "{sink}", port = 9 }}]
"#
    )
}

const USAGE: &str = "usage: fastpath-bench [--seconds S] [--steps N] [--max-rate PPS] [--no-napi-pin] [--fast-only] [--offload-only] [--direct] [--v6] [--json]\n\nZero-loss forwarding rate and CPU per packet of the fast path against nftables DNAT on veth (root; trafgen, nft). Set APPLIANCE_BIN_DIR to the applianced build.";

/// Makes lb's eth0 NAPI threaded and pins its thread(s) to the forwarding core.
fn pin_napi(lb: &lab::Netns) -> String {
    let threaded = Path::new("/sys/class/net/eth0/threaded");
    let before = napi_threads();
    // Off then on: the NAPI instance of a freshly attached program gets its own thread.
    let _ = lb.exec(&["sh", "-c", &format!("echo 0 > {}", threaded.display())]);
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
}

/// The fast path's modes to measure, each `(mode, offload)`.
fn modes(fam: &Family, opts: &Opts) -> Vec<(&'static str, &'static str)> {
    let mut modes = Vec::new();
    if !opts.flag("--offload-only") {
        modes.push(("nat", "off"));
        if fam.is_v6() {
            // FullNAT with an IPv6 pool: the source rewritten too, through the same worker.
            modes.push(("fullnat", "off"));
        }
    }
    // IPv6 flows are not offloaded; with the offload on, IPv6 still goes through the worker,
    // but behind the generic XDP program the offload attaches on veth.
    modes.push(("nat", "xdp"));
    if opts.flag("--direct") {
        modes.extend([("dr", "off"), ("dr", "xdp")]);
        if !fam.is_v6() {
            // Tunnel mode (IP in IP) is IPv4 only.
            modes.extend([("tunnel", "off"), ("tunnel", "xdp")]);
        }
    }
    modes
}

/// Each fast-path record measured against the kernel's (the first record): `pps_vs_kernel`
/// and `cpu_vs_kernel`, and the lines saying so.
fn ratios(records: &mut [serde_json::Value]) -> String {
    let Some((kernel, fast)) = records.split_first_mut() else {
        return String::new();
    };
    let (Some(k_pps), Some(k_cpu)) = (
        kernel["zero_loss_pps"].as_f64(),
        kernel["cpu_ns_per_packet"].as_f64(),
    ) else {
        return String::new();
    };
    let k_bound = kernel["generator_bound"] == true;
    let mut out = String::new();
    for r in fast.iter_mut().filter(|r| r.get("mode").is_some()) {
        let (Some(pps), Some(cpu)) = (r["zero_loss_pps"].as_f64(), r["cpu_ns_per_packet"].as_f64())
        else {
            continue;
        };
        r["pps_vs_kernel"] = serde_json::json!((pps / k_pps * 100.0).round() / 100.0);
        // A kernel row with no CPU left after the other jobs' share has no ratio (null).
        r["cpu_vs_kernel"] =
            serde_json::json!((k_cpu > 0.0).then(|| (cpu / k_cpu * 100.0).round() / 100.0));
        // A generator-bound rate is a lower bound: so is a ratio over it, or an upper bound
        // when it is the kernel's.
        let bound = match (r["generator_bound"] == true, k_bound) {
            (true, false) => ">= ",
            (false, true) => "<= ",
            (true, true) => "(both generator-bound) ",
            (false, false) => "",
        };
        out.push_str(&format!(
            "{:<32} rate {bound}{:.2}x the kernel's, CPU per packet {}\n",
            r["forwarder"].as_str().unwrap_or_default(),
            pps / k_pps,
            r["cpu_vs_kernel"]
                .as_f64()
                .map_or("-".into(), |c| format!("{c:.2}x"))
        ));
    }
    out
}

fn main() {
    bench::help_or_continue(USAGE);
    lab::tools_or_exit(
        "fastpath-bench",
        &["trafgen", "nft", "ip", "ethtool", "ping"],
    );
    let opts = Opts::parse();
    let (no_napi_pin, fast_only) = (opts.flag("--no-napi-pin"), opts.flag("--fast-only"));
    let json = opts.flag("--json");
    let fam = if opts.flag("--v6") { &V6 } else { &V4 };
    let host = if fam.is_v6() { 128 } else { 32 };
    let mut records = Vec::new();
    let lab = Lab::new("fastpath-bench");
    let (gen, lb, sink) = (lab.netns("gen"), lab.netns("lb"), lab.netns("sink"));
    lab.veth(&gen, "eth0", &lb, "eth0");
    lab.veth(&lb, "eth1", &sink, "eth0");
    gen.add_addr("eth0", &format!("{}/{}", fam.gen, fam.prefix));
    lb.add_addr("eth0", &format!("{}/{}", fam.lb_gen, fam.prefix));
    lb.add_addr("eth0", &format!("{}/{host}", fam.vip));
    lb.add_addr("eth1", &format!("{}/{}", fam.lb_sink, fam.prefix));
    sink.add_addr("eth0", &format!("{}/{}", fam.sink, fam.prefix));
    lb.assert_ping(fam.sink);
    gen.assert_ping(fam.lb_gen);
    if fam.is_v6() {
        quiet_sink_v6(&sink);
    } else {
        quiet_sink(&sink);
    }
    let mut bench = Bench::new(
        &gen,
        &sink,
        trafgen_config(&lab, fam, &gen.mac("eth0"), &lb.mac("eth0")),
        opts.seconds,
    );
    let mut table = header();
    let f = fam.nft;

    // The kernel: forwarding with nftables DNAT, receive processing on CPU 0 by RPS.
    lb.sysctl(fam.forwarding, "1");
    lb.run_ok(&["nft", &fam.kernel_dnat()]);
    let rps = "/sys/class/net/eth0/queues/rx-0/rps_cpus";
    run_ok_sh(&lb, &format!("echo {:x} > {rps}", 1u32 << FWD_CPU));
    // Each row says its family, and how busy CPU 0 was with other jobs just before its search:
    // the CPU figure is CPU 0's busy time less that share, which means little when the share
    // is large (another engineer's build on the forwarding core).
    let mut busy_note = String::new();
    let mut with_family = |mut r: serde_json::Value, bench: &Bench<'_>| {
        r["family"] = serde_json::json!(fam.name);
        r["cpu0_busy_before"] = serde_json::json!((bench.baseline * 100.0).round() / 100.0);
        if bench.baseline > 0.25 {
            busy_note.push_str(&format!(
                "{}: CPU 0 was {:.0} % busy with other jobs before it, its CPU figure is unreliable\n",
                r["forwarder"].as_str().unwrap_or_default(),
                bench.baseline * 100.0
            ));
        }
        r
    };
    if !fast_only {
        let what = format!("kernel, nftables {f} DNAT (RPS)");
        let (s, best) = bench.zero_loss(&what, opts.max_rate, opts.steps);
        report(&what, &s, &best, &mut table);
        records.push(with_family(
            record("kernel nftables DNAT", &s, &best),
            &bench,
        ));
    }
    // The kernel's flowtable: established flows bypass the forwarding path from its ingress
    // hook. Absent from many kernels (this one's too): then it is said, not measured.
    let flowtable = lb.exec(&[
        "nft",
        &format!(
            "add flowtable {f} bench ft {{ hook ingress priority 0; devices = {{ eth0, eth1 }}; }}"
        ),
    ]);
    let mut flowtable_note = String::new();
    if !flowtable.status.success() {
        flowtable_note = format!(
            "kernel nftables flowtable: not available in this kernel ({})",
            String::from_utf8_lossy(&flowtable.stderr).trim()
        );
        records.push(serde_json::json!({
            "forwarder": "kernel nftables DNAT + flowtable",
            "family": fam.name,
            "available": false,
            "reason": flowtable_note,
        }));
    } else if !fast_only {
        lb.run_ok(&[
            "nft",
            &format!("add chain {f} bench fwd {{ type filter hook forward priority filter; }}"),
        ]);
        lb.run_ok(&[
            "nft",
            &format!("add rule {f} bench fwd meta l4proto udp flow add @ft"),
        ]);
        let what = format!("kernel, nftables {f} DNAT + flowtable");
        let (s, best) = bench.zero_loss(&what, opts.max_rate, opts.steps);
        report(&what, &s, &best, &mut table);
        records.push(with_family(
            record("kernel nftables DNAT + flowtable", &s, &best),
            &bench,
        ));
    }
    run_ok_sh(&lb, &format!("echo 0 > {rps}"));
    lb.run_ok(&["nft", &format!("delete table {f} bench")]);
    lb.sysctl(fam.forwarding, "0");

    // The fast path, each mode from a fresh start: a reload would keep the flows the previous
    // mode opened (the same 1,024 source ports) and measure those.
    let mut napi_note = String::new();
    let mut status = None;
    for (mode, offload) in modes(fam, &opts) {
        let mut node = Appliance::new(
            &lab,
            &lb,
            &format!("lb-{mode}-{offload}"),
            &config(fam, mode, offload),
        );
        node.start();
        node.wait_dataplane_running();
        if offload == "xdp" {
            // Generic XDP runs in lb's receive path: on CPU 0 by RPS, as the kernel's forwarding.
            run_ok_sh(&lb, &format!("echo {:x} > {rps}", 1u32 << FWD_CPU));
        } else {
            // XDP on veth runs in the receiving device's NAPI (created when the program is
            // attached); threaded, its thread can be put on the forwarding core like a NIC
            // queue's interrupt.
            napi_note = if no_napi_pin {
                "NAPI of lb's eth0 not threaded: XDP runs on the generator's core".to_string()
            } else {
                pin_napi(&lb)
            };
        }
        bench.worker_of = Some(node.proc().pid());
        let what = match (mode, offload) {
            ("nat", "off") => "fast path, offload off".to_string(),
            ("nat", _) => "fast path, offload on".to_string(),
            (m, "off") => format!("fast path {m}, offload off"),
            (m, _) => format!("fast path {m}, offload on"),
        };
        let (s, best) = bench.zero_loss(&what, opts.max_rate, opts.steps);
        report(&what, &s, &best, &mut table);
        let mut r = record(&format!("fast path {mode} offload {offload}"), &s, &best);
        r["offload"] = serde_json::json!(offload == "xdp");
        r["mode"] = serde_json::json!(mode);
        records.push(with_family(r, &bench));
        status = Some(node.appctl(&["dataplane"]));
        run_ok_sh(&lb, &format!("echo 0 > {rps}"));
    }
    let status = status.expect("at least one mode");
    let ratios = if fast_only {
        String::new()
    } else {
        ratios(&mut records)
    };

    if json {
        for r in &records {
            println!("{r}");
        }
        return;
    }
    println!(
        "{}, {}-byte frames\n{table}",
        if fam.is_v6() { "IPv6" } else { "IPv4" },
        fam.frame_len()
    );
    if !ratios.is_empty() {
        println!("{ratios}");
    }
    print!("{busy_note}");
    println!(
        "trial {} s each, {} bisection steps, search from {:.0} pps; {napi_note}",
        opts.seconds, opts.steps, opts.max_rate
    );
    if !flowtable_note.is_empty() {
        println!("{flowtable_note}");
    }
    println!("\n{}", String::from_utf8_lossy(&status.stdout));
}
