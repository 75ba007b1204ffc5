//! The cost of a bond: the zero-loss rate and CPU per packet of the fast path through two
//! two-member bonds against the same path through plain interfaces, in one run, with the
//! kernel's forwarding (nftables DNAT, plain interfaces: it has no bonding module here) as the
//! reference.
//!
//! ```text
//!            ┌──── swa (bridge) ────┐                 ┌──── swb (bridge) ────┐
//!  gen eth0 ─┤ pa0 ─ lb eth0        │                 │ lb eth1 ─ pb0        ├─ sink eth0
//!            │ pa1 ─ lb m1 ┐ bond0  │   lb: NAT to    │ bond1 ┌ lb n1 ─ pb1  │
//!            │ pa2 ─ lb m2 ┘        │   the sink      │       └ lb n2 ─ pb2  │
//!            └──────────────────────┘                 └──────────────────────┘
//! ```
//!
//! The generator sends UDP to VIP:9 from 1,024 source ports (60-byte frames) to lb's MAC on
//! its client side: plain `eth0`, or the bond `bond0` (802.3ad needs a partner; the bridges
//! have none, so the bonds are `balance-xor` with the `l34` hash: the same distributor, member
//! sockets and transmit hash). Unused ports are down on the bridges. The forwarding core is
//! CPU 0, the generator CPU 1, as in `fastpath-bench` (whose measuring code this shares).
//!
//! `APPLIANCE_BIN_DIR=target/release target/release/bond-bench [--seconds S] [--steps N]
//! [--max-rate PPS] [--offload-only] [--json]` as root, with trafgen and nftables.

use std::path::PathBuf;

use bench::fwdbench::{header, quiet_sink, record, report, run_ok_sh, Bench, Opts, FWD_CPU};
use lab::{Appliance, Lab, Netns};

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
    let (client, server, extra) = if bonded {
        (
            "bond0",
            "bond1",
            "[interfaces.m1]\n[interfaces.m2]\n[interfaces.n1]\n[interfaces.n2]\n\n\
             [[bond]]\nname = \"bond0\"\nmembers = [\"m1\", \"m2\"]\nmode = \"balance-xor\"\n\n\
             [[bond]]\nname = \"bond1\"\nmembers = [\"n1\", \"n2\"]\nmode = \"balance-xor\"\n",
        )
    } else {
        ("eth0", "eth1", "")
    };
    format!(
        r#"[daemon]
node_name = "lb"
state_dir = "/run/appliance"

[control]
socket = "/run/appliance/appctl.sock"

[interfaces.{client}]
static_addresses = ["198.18.40.1/24"]
[interfaces.{server}]
static_addresses = ["198.18.41.1/24"]
{extra}
[dataplane]
interfaces = ["{client}", "{server}"]
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

/// The bridge ports of one side: only `on` carries traffic.
fn ports(sw: &Netns, names: &[&str], on: &[&str]) {
    for n in names {
        if on.contains(n) {
            sw.set_up(n);
        } else {
            sw.set_down(n);
        }
    }
}

fn main() {
    bench::help_or_continue(USAGE);
    lab::tools_or_exit("bond-bench", &["trafgen", "nft", "ip", "ethtool", "ping"]);
    let opts = Opts::parse();
    let json = opts.flag("--json");
    let lab = Lab::new("bond-bench");
    let (gen, sw, lb, sink) = (
        lab.netns("gen"),
        lab.netns("sw"),
        lab.netns("lb"),
        lab.netns("sink"),
    );
    lab.bridge(&sw, "swa");
    lab.bridge(&sw, "swb");
    lab.veth(&gen, "eth0", &sw, "ga");
    sw.attach("ga", "swa");
    lab.veth(&sink, "eth0", &sw, "sb");
    sw.attach("sb", "swb");
    for (lb_if, port, bridge) in [
        ("eth0", "pa0", "swa"),
        ("m1", "pa1", "swa"),
        ("m2", "pa2", "swa"),
        ("eth1", "pb0", "swb"),
        ("n1", "pb1", "swb"),
        ("n2", "pb2", "swb"),
    ] {
        lab.veth_builder(&lb, lb_if, &sw, port).queues(1).create();
        sw.attach(port, bridge);
    }
    gen.add_addr("eth0", &format!("{GEN}/24"));
    sink.add_addr("eth0", &format!("{SINK}/24"));
    quiet_sink(&sink);
    let plain = ["pa0", "pb0"];
    let bonded = ["pa1", "pa2", "pb1", "pb2"];
    let all = ["pa0", "pb0", "pa1", "pa2", "pb1", "pb2"];

    let mut table = header();
    let mut records = Vec::new();
    let rps = "/sys/class/net/eth0/queues/rx-0/rps_cpus";

    // The kernel on the plain interfaces.
    ports(&sw, &all, &plain);
    lb.add_addr("eth0", "198.18.40.1/24");
    lb.add_addr("eth1", "198.18.41.1/24");
    lb.assert_ping(SINK);
    let mut bench = Bench::new(
        &gen,
        &sink,
        trafgen_config(&lab, "trafgen-plain.cfg", &gen.mac("eth0"), &lb.mac("eth0")),
        opts.seconds,
    );
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
            ports(&sw, &all, if bond { &bonded } else { &plain });
            let mut node = Appliance::new(
                &lab,
                &lb,
                &format!("lb-{}-{offload}", if bond { "bond" } else { "plain" }),
                &config(bond, offload),
            );
            node.start();
            node.wait_dataplane_running();
            let client = if bond { "bond0" } else { "eth0" };
            lb.assert_ping(SINK);
            bench.config = trafgen_config(
                &lab,
                &format!("trafgen-{client}.cfg"),
                &gen.mac("eth0"),
                &lb.mac(client),
            );
            // Generic XDP (the offload on veth) runs in lb's receive path: RPS puts it on the
            // forwarding core, for every receiving interface of the client side.
            let rx_ifs: &[&str] = if bond { &["m1", "m2"] } else { &["eth0"] };
            for i in rx_ifs {
                run_ok_sh(
                    &lb,
                    &format!(
                        "echo {:x} > /sys/class/net/{i}/queues/rx-0/rps_cpus",
                        1u32 << FWD_CPU
                    ),
                );
            }
            bench.worker_of = Some(node.proc().pid());
            let what = format!(
                "fast path, {}, offload {}",
                if bond { "2-member bonds" } else { "plain" },
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
            for i in rx_ifs {
                run_ok_sh(
                    &lb,
                    &format!("echo 0 > /sys/class/net/{i}/queues/rx-0/rps_cpus"),
                );
            }
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
