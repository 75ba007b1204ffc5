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
//!
//! For each mode a binary search on the offered rate finds the highest rate with loss under
//! 0.1 % (sink's interface counter against the generator's). CPU per packet is the forwarding
//! core's busy time in `/proc/stat` over the measuring window, less what it was busy with
//! before the traffic (other jobs), per forwarded packet; for the fast path the worker thread's
//! own run time (`schedstat`) per packet is shown too.
//!
//! `APPLIANCE_BIN_DIR=target/release target/release/fastpath-bench [--seconds S] [--steps N]
//! [--max-rate PPS] [--no-napi-pin] [--fast-only] [--direct] [--json]` as root, with trafgen
//! (netsniff-ng) and nftables installed. `--json` prints one JSON object per forwarder
//! (`forwarder`, `zero_loss_pps`, `generator_bound`, `cpu_ns_per_packet`, ...) instead of the
//! table.

use std::path::{Path, PathBuf};

use bench::fwdbench::{
    header, napi_threads, quiet_sink, record, report, run_ok_sh, Bench, Opts, FWD_CPU,
};
use lab::cpustat::pin;
use lab::{Appliance, DataplaneHeader, Lab};

const VIP: &str = "198.18.42.1";
const GEN: &str = "198.18.40.2";
const SINK: &str = "198.18.41.2";

fn trafgen_config(lab: &Lab, gen_mac: &str, lb_mac: &str) -> PathBuf {
    // 14 + 20 + 8 + 18 = 60 bytes, the Ethernet minimum; trafgen computes the checksums (the
    // kernel's conntrack drops UDP with a bad one) and varies the source port per packet.
    // Don't Fragment, as Linux sends UDP (path MTU discovery on by default): what may be
    // wrapped in IP in IP by the XDP program, which leaves the numbering of fragmentable outer
    // packets to the workers.
    lab.write_artifact(
        "trafgen.cfg",
        format!(
            "{{ eth(da={lb_mac}, sa={gen_mac}), ipv4(sa={GEN}, da={VIP}, ttl=64, df), \
             udp(sp=dinc(10000, 11023), dp=9), \"0123456789abcdefgh\" }}\n"
        ),
    )
}

fn config(mode: &str, offload: &str) -> String {
    let header = DataplaneHeader {
        node: "lb",
        shutdown_grace: None,
        interfaces: &[("eth0", ""), ("eth1", "")],
        workers: 1,
        queues: 1,
    };
    format!(
        r#"{header}
offload = "{offload}"

[[service]]
name = "sink"
vip = "{VIP}"
port = 9
protocol = "udp"
mode = "{mode}"
backends = [{{ address = "{SINK}", port = 9 }}]
"#
    )
}

const USAGE: &str = "usage: fastpath-bench [--seconds S] [--steps N] [--max-rate PPS] [--no-napi-pin] [--fast-only] [--offload-only] [--direct] [--json]\n\nZero-loss forwarding rate and CPU per packet of the fast path against nftables DNAT on veth (root; trafgen, nft). Set APPLIANCE_BIN_DIR to the applianced build.";

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

fn main() {
    bench::help_or_continue(USAGE);
    lab::tools_or_exit(
        "fastpath-bench",
        &["trafgen", "nft", "ip", "ethtool", "ping"],
    );
    let opts = Opts::parse();
    let (no_napi_pin, fast_only) = (opts.flag("--no-napi-pin"), opts.flag("--fast-only"));
    let (direct, json) = (opts.flag("--direct"), opts.flag("--json"));
    let mut records = Vec::new();
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
    quiet_sink(&sink);
    let mut bench = Bench::new(
        &gen,
        &sink,
        trafgen_config(&lab, &gen.mac("eth0"), &lb.mac("eth0")),
        opts.seconds,
    );
    let mut table = header();

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
    if !fast_only {
        let (s, best) = bench.zero_loss("kernel, nftables DNAT", opts.max_rate, opts.steps);
        report("kernel, nftables DNAT (RPS)", &s, &best, &mut table);
        records.push(record("kernel nftables DNAT", &s, &best));
    }
    // The kernel's flowtable: established flows bypass the forwarding path from its ingress
    // hook. Absent from many kernels (this one's too): then it is said, not measured.
    let flowtable = lb.exec(&[
        "nft",
        "add flowtable ip bench ft { hook ingress priority 0; devices = { eth0, eth1 }; }",
    ]);
    let mut flowtable_note = String::new();
    if !flowtable.status.success() {
        flowtable_note = format!(
            "kernel nftables flowtable: not available in this kernel ({})",
            String::from_utf8_lossy(&flowtable.stderr).trim()
        );
        records.push(serde_json::json!({
            "forwarder": "kernel nftables DNAT + flowtable",
            "available": false,
            "reason": flowtable_note,
        }));
    } else if !fast_only {
        lb.run_ok(&[
            "nft",
            "add chain ip bench fwd { type filter hook forward priority filter; }",
        ]);
        lb.run_ok(&["nft", "add rule ip bench fwd ip protocol udp flow add @ft"]);
        let what = "kernel, nftables DNAT + flowtable";
        let (s, best) = bench.zero_loss(what, opts.max_rate, opts.steps);
        report(what, &s, &best, &mut table);
        records.push(record("kernel nftables DNAT + flowtable", &s, &best));
    }
    run_ok_sh(&lb, &format!("echo 0 > {rps}"));
    lb.run_ok(&["nft", "delete table ip bench"]);
    lb.sysctl("net.ipv4.ip_forward", "0");

    // The fast path, each mode from a fresh start: a reload would keep the flows the previous
    // mode opened (the same 1,024 source ports) and measure those.
    let mut modes: Vec<(&str, &str)> = Vec::new();
    if !opts.flag("--offload-only") {
        modes.push(("nat", "off"));
    }
    modes.push(("nat", "xdp"));
    if direct {
        modes.extend([
            ("dr", "off"),
            ("dr", "xdp"),
            ("tunnel", "off"),
            ("tunnel", "xdp"),
        ]);
    }
    let mut napi_note = String::new();
    let mut status = None;
    for (mode, offload) in modes {
        let mut node = Appliance::new(
            &lab,
            &lb,
            &format!("lb-{mode}-{offload}"),
            &config(mode, offload),
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
        records.push(r);
        status = Some(node.appctl(&["dataplane"]));
        run_ok_sh(&lb, &format!("echo 0 > {rps}"));
    }
    let status = status.expect("at least one mode");

    if json {
        for r in &records {
            println!("{r}");
        }
        return;
    }
    println!("{table}");
    println!(
        "trial {} s each, {} bisection steps, search from {:.0} pps; {napi_note}",
        opts.seconds, opts.steps, opts.max_rate
    );
    if !flowtable_note.is_empty() {
        println!("{flowtable_note}");
    }
    println!("\n{}", String::from_utf8_lossy(&status.stdout));
}
