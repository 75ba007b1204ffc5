//! Issue 7's benchmark on veth: the SNAT gateway's zero-loss forwarding rate and CPU per packet
//! for GRE-encapsulated traffic from a site, with one and with two workers, and the kernel's
//! nftables SNAT of the same inner traffic without GRE (the kernel here has no GRE module) as
//! the reference, in one run.
//!
//! ```text
//!  site ──veth── gw ──veth── inet        site → Internet: 1 280 UDP sessions, 18-byte payload
//! ```
//!
//! - kernel: `site` sends plain UDP from 198.18.60.2 to the Internet host; `gw` forwards it with
//!   an nftables `snat to` the pool address (conntrack), its receive moved to the forwarding core
//!   with RPS, as in `fastpath-bench`;
//! - fast path: `site` sends the same inner packets in GRE with key 100 to the tunnel's local
//!   address; `applianced` decapsulates, allocates a pool port, translates and forwards. With
//!   two workers all GRE from one site arrives on one queue (its outer header does not vary, as
//!   on a NIC hashing on it) and half the sessions are handed to the other worker, which owns
//!   their ports; on this 2-core machine that worker shares CPU 1 with the generator;
//! - each fast-path row twice: offload off (every packet through AF_XDP) and on (established
//!   sessions decapsulated, translated and forwarded inside XDP; generic XDP on veth, in gw's
//!   receive path, moved to the forwarding core with RPS as for the kernel).
//!
//! The generator is trafgen on CPU 1; the search, counters and CPU figures are `fwdbench`'s.
//!
//! `APPLIANCE_BIN_DIR=target/release target/release/gateway-bench [--seconds S] [--steps N]
//! [--max-rate PPS] [--json]` as root, with trafgen (netsniff-ng) and nftables installed.
//! `--json` prints one JSON object per forwarder (`forwarder`, `zero_loss_pps`,
//! `generator_bound`, `cpu_ns_per_packet`, ...) instead of the table.

use std::path::PathBuf;

use bench::fwdbench::{header, quiet_sink, record, report, run_ok_sh, Bench, Opts, FWD_CPU};
use dataplane::checksum;
use lab::{Appliance, DataplaneHeader, Lab};

const SITE: &str = "198.18.50.2";
const TUNNEL_LOCAL: &str = "198.18.50.1";
const INSIDE: [u8; 4] = [198, 18, 60, 2];
const INET: [u8; 4] = [198, 18, 51, 2];
const POOL: &str = "198.18.52.1";
const KEY: u32 = 100;

const PAYLOAD: &str = "0123456789abcdefgh";

/// The inner packet as trafgen bytes: an IPv4 header with its checksum (constant: only the UDP
/// source port varies, over 1 280 values), then UDP with checksum 0 (allowed over IPv4).
fn inner_bytes() -> String {
    let udp_len = 8 + PAYLOAD.len();
    let total = 20 + udp_len;
    let mut ip = [0u8; 20];
    ip[0] = 0x45;
    ip[2..4].copy_from_slice(&(total as u16).to_be_bytes());
    ip[6] = 0x40; // DF, as most hosts send
    ip[8] = 64;
    ip[9] = 17;
    ip[12..16].copy_from_slice(&INSIDE);
    ip[16..20].copy_from_slice(&INET);
    let sum = !checksum::fold(checksum::sum(&ip));
    ip[10..12].copy_from_slice(&sum.to_be_bytes());
    let hex = |b: &[u8]| {
        b.iter()
            .map(|x| format!("0x{x:02x}"))
            .collect::<Vec<_>>()
            .join(", ")
    };
    // The source port's high byte counts over 5 values and its low byte over 256, each by one
    // per packet, so the pair cycles through lcm(5, 256) = 1 280 sessions.
    format!(
        "{}, dinc(0x28, 0x2c), dinc(0, 255), 0x00, 0x09, {}, 0x00, 0x00, \"{PAYLOAD}\"",
        hex(&ip),
        hex(&(udp_len as u16).to_be_bytes())
    )
}

fn dotted(a: [u8; 4]) -> String {
    format!("{}.{}.{}.{}", a[0], a[1], a[2], a[3])
}

/// The inner packet alone, for the kernel (no GRE): 14 + 46 = 60 bytes.
fn plain_config(lab: &Lab, site_mac: &str, gw_mac: &str) -> PathBuf {
    lab.write_artifact(
        "trafgen-plain.cfg",
        format!(
            "{{ eth(da={gw_mac}, sa={site_mac}, type=0x0800), {} }}\n",
            inner_bytes()
        ),
    )
}

/// The inner packet in GRE with a key (RFC 2784 + RFC 2890): 14 + 20 + 8 + 46 = 88 bytes. The
/// outer header's length and checksum are trafgen's.
fn gre_config(lab: &Lab, site_mac: &str, gw_mac: &str) -> PathBuf {
    let key = KEY.to_be_bytes();
    lab.write_artifact(
        "trafgen-gre.cfg",
        format!(
            "{{ eth(da={gw_mac}, sa={site_mac}), ipv4(sa={SITE}, da={TUNNEL_LOCAL}, ttl=64, \
             proto=47), 0x20, 0x00, 0x08, 0x00, 0x{:02x}, 0x{:02x}, 0x{:02x}, 0x{:02x}, {} }}\n",
            key[0],
            key[1],
            key[2],
            key[3],
            inner_bytes()
        ),
    )
}

fn config(workers: u16, offload: &str) -> String {
    let header = DataplaneHeader {
        node: "gw",
        shutdown_grace: None,
        interfaces: &[("eth0", ""), ("eth1", "")],
        workers,
        // Both of the veth's queues: the generator's frames land on either.
        queues: 2,
    };
    format!(
        r#"{header}
offload = "{offload}"

[[gre.tunnel]]
name = "site"
local = "{TUNNEL_LOCAL}"
remote = "{SITE}"
key = {KEY}

[[snat.pool]]
name = "internet"
addresses = ["{POOL}"]
tunnels = ["site"]
"#
    )
}

const USAGE: &str = "usage: gateway-bench [--seconds S] [--steps N] [--max-rate PPS] [--json]\n\nZero-loss rate of the SNAT gateway (GRE + SNAT) against nftables SNAT on veth (root; trafgen, nft). Set APPLIANCE_BIN_DIR to the applianced build.";

fn main() {
    bench::help_or_continue(USAGE);
    lab::tools_or_exit(
        "gateway-bench",
        &["trafgen", "nft", "ip", "ethtool", "ping"],
    );
    let opts = Opts::parse();
    let json = opts.flag("--json");
    let mut records = Vec::new();
    let lab = Lab::new("gateway-bench");
    let (site, gw, inet) = (lab.netns("site"), lab.netns("gw"), lab.netns("inet"));
    lab.veth_builder(&site, "eth0", &gw, "eth0")
        .queues(2)
        .create();
    lab.veth_builder(&gw, "eth1", &inet, "eth0")
        .queues(2)
        .create();
    site.add_addr("eth0", &format!("{SITE}/24"));
    gw.add_addr("eth0", &format!("{TUNNEL_LOCAL}/24"));
    gw.add_addr("eth1", "198.18.51.1/24");
    inet.add_addr("eth0", &format!("{}/24", dotted(INET)));
    gw.add_route("198.18.60.0/24 via 198.18.50.2");
    inet.add_route(&format!("{POOL}/32 via 198.18.51.1"));
    gw.assert_ping(&dotted(INET));
    site.assert_ping(TUNNEL_LOCAL);
    quiet_sink(&inet);
    let (site_mac, gw_mac) = (site.mac("eth0"), gw.mac("eth0"));
    let mut bench = Bench::new(
        &site,
        &inet,
        plain_config(&lab, &site_mac, &gw_mac),
        opts.seconds,
    );
    let mut table = header();

    // The kernel: forwarding with nftables SNAT to the pool address, RPS to the forwarding core.
    gw.sysctl("net.ipv4.ip_forward", "1");
    gw.sysctl("net.ipv4.conf.all.rp_filter", "0");
    gw.sysctl("net.ipv4.conf.eth0.rp_filter", "0");
    gw.run_ok(&[
        "nft",
        &format!(
            "add table ip bench; \
             add chain ip bench post {{ type nat hook postrouting priority srcnat; }}; \
             add rule ip bench post oifname eth1 snat to {POOL}"
        ),
    ]);
    let rps = |mask: u32| {
        for q in 0..2 {
            run_ok_sh(
                &gw,
                &format!("echo {mask:x} > /sys/class/net/eth0/queues/rx-{q}/rps_cpus"),
            );
        }
    };
    rps(1 << FWD_CPU);
    let (s, best) = bench.zero_loss("kernel, nftables SNAT", opts.max_rate, opts.steps);
    report("kernel, nftables SNAT, no GRE", &s, &best, &mut table);
    records.push(record("kernel nftables SNAT (no GRE)", &s, &best));
    rps(0);
    gw.run_ok(&["nft", "delete table ip bench"]);
    gw.sysctl("net.ipv4.ip_forward", "0");

    bench.config = gre_config(&lab, &site_mac, &gw_mac);
    let mut statuses = Vec::new();
    for (workers, offload) in [(1u16, "off"), (1, "xdp"), (2, "off"), (2, "xdp")] {
        let mut node = Appliance::new(&lab, &gw, "gw", &config(workers, offload));
        node.start();
        node.wait_dataplane_running();
        if offload == "xdp" {
            rps(1 << FWD_CPU);
        }
        bench.worker_of = Some(node.proc().pid());
        let mode = format!(
            "GRE + SNAT, {workers} worker{}, offload {}",
            if workers > 1 { "s" } else { "" },
            if offload == "xdp" { "on" } else { "off" }
        );
        let (s, best) = bench.zero_loss(&mode, opts.max_rate, opts.steps);
        report(&mode, &s, &best, &mut table);
        let mut r = record(
            &format!("fast path GRE + SNAT {workers} worker(s) offload {offload}"),
            &s,
            &best,
        );
        r["workers"] = serde_json::json!(workers);
        r["offload"] = serde_json::json!(offload == "xdp");
        records.push(r);
        rps(0);
        let gre = node.appctl(&["gre"]);
        let snat = node.appctl(&["snat"]);
        let dp = node.appctl(&["dataplane"]);
        statuses.push(format!(
            "--- {mode}\n{}{}{}",
            String::from_utf8_lossy(&dp.stdout),
            String::from_utf8_lossy(&gre.stdout),
            String::from_utf8_lossy(&snat.stdout)
        ));
        drop(node);
    }

    if json {
        for r in &records {
            println!("{r}");
        }
        return;
    }
    println!("{table}");
    println!(
        "trial {} s each, {} bisection steps, search from {:.0} pps; receive processing of gw's \
         eth0 (XDP, the copy into the UMEM) on the generator's core with the offload off, on CPU 0 \
         by RPS with it on",
        opts.seconds, opts.steps, opts.max_rate
    );
    for s in statuses {
        println!("\n{s}");
    }
}
