//! The cost of a bond: the zero-loss rate and CPU per packet of the fast path forwarding into
//! a two-member bond against the same path into a plain interface, in one run, with the
//! kernel's forwarding (nftables DNAT, plain interfaces: it has no bonding module here) as the
//! reference.
//!
//! ```text
//!  gen eth0 ──── eth0 lb ─┬─ eth1 ──────────── eth0 sink        plain
//!                         └─ bond1 = n1 + n2 ── s1, s2 sink      bonded (balance-xor, l34)
//! ```
//!
//! The generator sends UDP to VIP:9 from 1,024 source ports (60-byte frames); lb translates
//! (NAT) and sends each flow by the member the bond's hash picks; the sink counts what arrives
//! on all its interfaces. The bond is `balance-xor`: 802.3ad needs a partner, and the
//! transmit side (hash, member choice, a copy into the member's UMEM) is the same. No bridge
//! is in the path: a Linux bridge has no link aggregation, and one bond MAC seen on two of its
//! ports would make it relearn on every frame, which it would bill to the forwarding core.
//! The forwarding core is CPU 0, the generator CPU 1, as in `fastpath-bench` (whose measuring
//! code this shares).
//!
//! `APPLIANCE_BIN_DIR=target/release target/release/bond-bench [--seconds S] [--steps N]
//! [--max-rate PPS] [--offload-only] [--json]` as root, with trafgen and nftables.

use std::path::PathBuf;

use bench::fwdbench::{header, quiet_sink, record, report, run_ok_sh, Bench, Opts, FWD_CPU};
use lab::{Appliance, Lab};

const VIP: &str = "198.18.42.1";
const GEN: &str = "198.18.40.2";
const SINK: &str = "198.18.41.2";

const USAGE: &str = "usage: bond-bench [--seconds S] [--steps N] [--max-rate PPS] [--offload-only] [--json]\n\nZero-loss rate and CPU per packet of the fast path through two-member bonds against plain interfaces, the kernel as reference (root; trafgen, nft). Set APPLIANCE_BIN_DIR to the applianced build.";

fn trafgen_config(lab: &Lab, name: &str, gen_mac: &str, lb_mac: &str) -> PathBuf {
    lab.write_artifact(
        name,
        format!(
            "{{ eth(da={lb_mac}, sa={gen_mac}), ipv4(sa={GEN}, da={VIP}, ttl=64, df), \
             udp(sp=dinc(10000, 11023), dp=9), \"0123456789abcdefgh\" }}\n"
        ),
    )
}

fn config(bonded: bool, offload: &str) -> String {
    let (server, extra) = if bonded {
        (
            "bond1",
            "[interfaces.n1]\n[interfaces.n2]\n\n\
             [[bond]]\nname = \"bond1\"\nmembers = [\"n1\", \"n2\"]\nmode = \"balance-xor\"\n",
        )
    } else {
        ("eth1", "")
    };
    format!(
        r#"[daemon]
node_name = "lb"
state_dir = "/run/appliance"

[control]
socket = "/run/appliance/appctl.sock"

[interfaces.eth0]
static_addresses = ["198.18.40.1/24"]
[interfaces.{server}]
static_addresses = ["198.18.41.1/24"]
{extra}
[dataplane]
interfaces = ["eth0", "{server}"]
workers = 1
queues = 1
offload = "{offload}"

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
    bench::help_or_continue(USAGE);
    lab::tools_or_exit("bond-bench", &["trafgen", "nft", "ip", "ethtool", "ping"]);
    let opts = Opts::parse();
    let json = opts.flag("--json");
    let lab = Lab::new("bond-bench");
    let (gen, lb, sink) = (lab.netns("gen"), lab.netns("lb"), lab.netns("sink"));
    lab.veth(&gen, "eth0", &lb, "eth0");
    for (lb_if, sink_if) in [("eth1", "eth0"), ("n1", "s1"), ("n2", "s2")] {
        lab.veth_builder(&lb, lb_if, &sink, sink_if)
            .queues(1)
            .create();
    }
    gen.add_addr("eth0", &format!("{GEN}/24"));
    // The sink's address is on eth0 (plain) or s1 (bonded), whichever the variant uses; s2
    // has s1's MAC: the two are one host behind the bond, as a switch would make them
    // (whichever member a frame takes, its destination MAC is accepted).
    sink.add_addr("eth0", &format!("{SINK}/24"));
    sink.ip_ok(&["link", "set", "s2", "address", &sink.mac("s1")]);
    quiet_sink(&sink);

    let mut table = header();
    let mut records = Vec::new();
    let rps = "/sys/class/net/eth0/queues/rx-0/rps_cpus";

    // The kernel on the plain interfaces.
    lb.add_addr("eth0", "198.18.40.1/24");
    lb.add_addr("eth1", "198.18.41.1/24");
    lb.set_down("n1");
    lb.set_down("n2");
    lb.assert_ping(SINK);
    let mut bench = Bench::new(
        &gen,
        &sink,
        trafgen_config(&lab, "trafgen.cfg", &gen.mac("eth0"), &lb.mac("eth0")),
        opts.seconds,
    );
    bench.sink_ifs = ["eth0", "s1", "s2"].map(String::from).to_vec();
    if !opts.flag("--offload-only") {
        lb.sysctl("net.ipv4.ip_forward", "1");
        lb.run_ok(&[
            "nft",
            &format!(
                "add table ip bench; add chain ip bench pre {{ type nat hook prerouting priority dstnat; }}; \
                 add rule ip bench pre ip daddr {VIP} udp dport 9 dnat to {SINK}:9"
            ),
        ]);
        run_ok_sh(&lb, &format!("echo {:x} > {rps}", 1u32 << FWD_CPU));
        let (s, best) = bench.zero_loss("kernel, nftables DNAT, plain", opts.max_rate, opts.steps);
        report("kernel, nftables DNAT, plain", &s, &best, &mut table);
        records.push(record("kernel nftables DNAT plain", &s, &best));
        run_ok_sh(&lb, &format!("echo 0 > {rps}"));
        lb.run_ok(&["nft", "delete table ip bench"]);
        lb.sysctl("net.ipv4.ip_forward", "0");
    }
    lb.del_addr("eth0", "198.18.40.1/24");
    lb.del_addr("eth1", "198.18.41.1/24");

    let offloads: &[&str] = if opts.flag("--offload-only") {
        &["xdp"]
    } else {
        &["off", "xdp"]
    };
    let mut status = None;
    for &offload in offloads {
        for bond in [false, true] {
            // Only the variant's own links carry anything.
            for (i, up) in [("eth1", !bond), ("n1", bond), ("n2", bond)] {
                if up {
                    lb.set_up(i);
                } else {
                    lb.set_down(i);
                }
            }
            let (on, off) = if bond { ("s1", "eth0") } else { ("eth0", "s1") };
            let _ = sink.exec(&["ip", "addr", "del", &format!("{SINK}/24"), "dev", off]);
            let _ = sink.exec(&["ip", "addr", "add", &format!("{SINK}/24"), "dev", on]);
            let mut node = Appliance::new(
                &lab,
                &lb,
                &format!("lb-{}-{offload}", if bond { "bond" } else { "plain" }),
                &config(bond, offload),
            );
            node.start();
            node.wait_dataplane_running();
            if bond {
                // The sink's two links are not one L2 domain (no switch): its ARP request on
                // s1 may be answered on s2. Its one neighbour, the bond, is set.
                sink.ip_ok(&[
                    "neigh",
                    "replace",
                    "198.18.41.1",
                    "lladdr",
                    &lb.mac("bond1"),
                    "dev",
                    "s1",
                    "nud",
                    "permanent",
                ]);
            }
            lb.assert_ping(SINK);
            // Generic XDP (the offload on veth) runs in lb's receive path: RPS puts it on the
            // forwarding core.
            run_ok_sh(&lb, &format!("echo {:x} > {rps}", 1u32 << FWD_CPU));
            bench.worker_of = Some(node.proc().pid());
            let what = format!(
                "fast path, {}, offload {}",
                if bond {
                    "into a 2-member bond"
                } else {
                    "plain"
                },
                if offload == "xdp" { "on" } else { "off" }
            );
            let (s, best) = bench.zero_loss(&what, opts.max_rate, opts.steps);
            report(&what, &s, &best, &mut table);
            let mut r = record(&what, &s, &best);
            r["bond"] = serde_json::json!(bond);
            r["offload"] = serde_json::json!(offload == "xdp");
            records.push(r);
            if bond {
                status = Some((node.appctl(&["bond"]), node.appctl(&["dataplane"])));
            }
            run_ok_sh(&lb, &format!("echo 0 > {rps}"));
        }
    }

    if json {
        for r in &records {
            println!("{r}");
        }
        return;
    }
    println!("{table}");
    println!(
        "trial {} s each, {} bisection steps, search from {:.0} pps",
        opts.seconds, opts.steps, opts.max_rate
    );
    if let Some((b, d)) = status {
        println!("\n{}", String::from_utf8_lossy(&b.stdout));
        println!("{}", String::from_utf8_lossy(&d.stdout));
    }
}
