//! LACP convergence: from the links coming up to the bond's members Collecting_Distributing,
//! for applianced's 802.3ad bond against Open vSwitch (userspace datapath, balance-tcp, active
//! fast LACP) and against DPDK testpmd's bonding PMD (mode 4), with an Open vSwitch pair as
//! the reference in the same run.
//!
//! ```text
//!  node (applianced, bond0 = m1 + m2) ──two veths── partner (OVS bond0 = o1 + o2 | testpmd d1 + d2)
//!  ovs a (bond0 = a1 + a2)            ──two veths── ovs b (bond0 = b1 + b2)        [reference]
//! ```
//!
//! Each round takes both links down on the partner's side, waits until the bond is down, then
//! brings both up and times until every member carries the bond on our side (`appctl bond`,
//! polled every 5 ms) and on the partner's (OVS `lacp/show`; testpmd's active members). The
//! 802.1AX Mux machine holds a selected port for `Aggregate_Wait_Time` (2 s, running from its
//! selection) so that the aggregation's other ports can join it first, as the Linux bonding
//! driver does; Open vSwitch attaches at once.
//!
//! `APPLIANCE_BIN_DIR=target/release target/release/lacp-bench [--rounds N] [--json]` as root,
//! with openvswitch-switch and dpdk-dev (dpdk-testpmd) installed.

use std::time::{Duration, Instant};

use lab::ovs::OvsSwitch;
use lab::testpmd::{TestpmdBond, TestpmdBondMode, TestpmdSpec};
use lab::{wait_until, Appliance, Lab, Netns};

const USAGE: &str = "usage: lacp-bench [--rounds N] [--json]\n\nLACP convergence time (links up to Collecting_Distributing) of applianced's 802.3ad bond against Open vSwitch and DPDK testpmd, an Open vSwitch pair as reference (root). Set APPLIANCE_BIN_DIR to the applianced build.";
const BOND_MAC: &str = "02:00:00:00:0b:01";

fn node_config() -> String {
    format!(
        r#"[daemon]
node_name = "node"
state_dir = "/run/appliance"
shutdown_grace = "1s"

[control]
socket = "/run/appliance/appctl.sock"

[interfaces.bond0]
static_addresses = ["198.18.0.2/24"]
[interfaces.m1]
[interfaces.m2]

[[bond]]
name = "bond0"
members = ["m1", "m2"]
mode = "802.3ad"
lacp_rate = "fast"
mac = "{BOND_MAC}"

[dataplane]
interfaces = ["bond0"]
workers = 1
queues = 1
"#
    )
}

/// Our bond's distributing members.
fn ours(node: &Appliance) -> usize {
    node.json(&["bond", "--json"])[0]["members"]
        .as_array()
        .map_or(0, |m| {
            m.iter().filter(|m| m["distributing"] == true).count()
        })
}

struct Round {
    ours: Option<Duration>,
    partner: Option<Duration>,
}

/// Takes `links` (in `ns`) down until `is_down`, brings them up and times `done_ours` and
/// `done_partner` from that instant.
fn round(
    ns: &Netns,
    links: &[&str],
    is_down: impl Fn() -> bool,
    done_ours: impl Fn() -> bool,
    done_partner: impl Fn() -> bool,
) -> Round {
    for l in links {
        ns.set_down(l);
    }
    wait_until(
        "the bond down",
        Duration::from_secs(15),
        Duration::from_millis(20),
        &is_down,
    )
    .expect("the bond went down");
    std::thread::sleep(Duration::from_millis(500));
    let t0 = Instant::now();
    for l in links {
        ns.set_up(l);
    }
    let (mut o, mut p) = (None, None);
    while t0.elapsed() < Duration::from_secs(30) && (o.is_none() || p.is_none()) {
        if o.is_none() && done_ours() {
            o = Some(t0.elapsed());
        }
        if p.is_none() && done_partner() {
            p = Some(t0.elapsed());
        }
        std::thread::sleep(Duration::from_millis(5));
    }
    Round {
        ours: o,
        partner: p,
    }
}

fn stats(v: &[Option<Duration>]) -> serde_json::Value {
    let mut ms: Vec<f64> = v
        .iter()
        .flatten()
        .map(|d| d.as_secs_f64() * 1000.0)
        .collect();
    ms.sort_by(|a, b| a.total_cmp(b));
    if ms.is_empty() {
        return serde_json::json!({"converged": 0});
    }
    serde_json::json!({
        "converged": ms.len(),
        "rounds": v.len(),
        "min_ms": ms[0].round(),
        "median_ms": ms[ms.len() / 2].round(),
        "max_ms": ms[ms.len() - 1].round(),
    })
}

fn main() {
    bench::help_or_continue(USAGE);
    lab::tools_or_exit(
        "lacp-bench",
        &["ovsdb-server", "ovs-vswitchd", "dpdk-testpmd", "ip"],
    );
    let args: Vec<String> = std::env::args().collect();
    let rounds: usize = args
        .windows(2)
        .find(|w| w[0] == "--rounds")
        .map_or(5, |w| w[1].parse().expect("--rounds N"));
    let json = args.iter().any(|a| a == "--json");
    let mut records = Vec::new();

    // Against Open vSwitch.
    {
        let lab = Lab::new("lacp-bench-ovs");
        let (node_ns, sw) = (lab.netns("node"), lab.netns("sw"));
        for i in 1..=2 {
            lab.veth_builder(&node_ns, &format!("m{i}"), &sw, &format!("o{i}"))
                .queues(1)
                .create();
        }
        let ovs = OvsSwitch::start(&lab, &sw, "ovs");
        ovs.add_bridge("br0", "02:00:00:00:0c:00");
        ovs.add_lacp_bond("br0", "bond0", &["o1", "o2"], true);
        let mut node = Appliance::new(&lab, &node_ns, "node", &node_config());
        node.start();
        node.wait_dataplane_running();
        ovs.wait_aggregated("bond0", &["o1", "o2"], Duration::from_secs(20));
        let mut r = Vec::new();
        for i in 0..rounds {
            let x = round(
                &sw,
                &["o1", "o2"],
                || ours(&node) == 0,
                || ours(&node) == 2,
                || ovs.lacp_show("bond0").aggregated().len() == 2,
            );
            eprintln!("ovs round {i}: ours {:?} partner {:?}", x.ours, x.partner);
            r.push(x);
        }
        records.push(serde_json::json!({
            "partner": "open vswitch 3.1 (userspace)",
            "applianced": stats(&r.iter().map(|x| x.ours).collect::<Vec<_>>()),
            "partner_view": stats(&r.iter().map(|x| x.partner).collect::<Vec<_>>()),
        }));
    }

    // Against DPDK testpmd.
    {
        let lab = Lab::new("lacp-bench-dpdk");
        let (node_ns, dp) = (lab.netns("node"), lab.netns("dpdk"));
        for i in 1..=2 {
            lab.veth_builder(&node_ns, &format!("m{i}"), &dp, &format!("d{i}"))
                .queues(1)
                .create();
        }
        let mut node = Appliance::new(&lab, &node_ns, "node", &node_config());
        node.start();
        node.wait_dataplane_running();
        let pmd = TestpmdBond::start(
            &lab,
            &dp,
            "testpmd",
            &TestpmdSpec {
                members: &["d1", "d2"],
                mode: TestpmdBondMode::Lacp,
                host_addr: "198.18.0.1/24",
                peer_addr: "198.18.0.2",
                peer_mac: BOND_MAC,
            },
        );
        wait_until(
            "aggregated with testpmd",
            Duration::from_secs(20),
            Duration::from_millis(50),
            || ours(&node) == 2,
        )
        .expect("aggregation with testpmd");
        let mut r = Vec::new();
        for i in 0..rounds {
            let x = round(
                &dp,
                &["d1", "d2"],
                || ours(&node) == 0,
                || ours(&node) == 2,
                || pmd.active_members().len() == 2,
            );
            eprintln!(
                "testpmd round {i}: ours {:?} partner {:?}",
                x.ours, x.partner
            );
            r.push(x);
        }
        records.push(serde_json::json!({
            "partner": "dpdk 22.11 testpmd, bonding mode 4",
            "applianced": stats(&r.iter().map(|x| x.ours).collect::<Vec<_>>()),
            "partner_view": stats(&r.iter().map(|x| x.partner).collect::<Vec<_>>()),
        }));
    }

    // The reference: two Open vSwitch instances, the same links, the same rounds.
    {
        let lab = Lab::new("lacp-bench-pair");
        let (a_ns, b_ns) = (lab.netns("ovsa"), lab.netns("ovsb"));
        lab.veth(&a_ns, "a1", &b_ns, "b1");
        lab.veth(&a_ns, "a2", &b_ns, "b2");
        let a = OvsSwitch::start(&lab, &a_ns, "a");
        let b = OvsSwitch::start(&lab, &b_ns, "b");
        a.add_bridge("br0", "02:00:00:00:0a:00");
        b.add_bridge("br0", "02:00:00:00:0b:00");
        a.add_lacp_bond("br0", "bond0", &["a1", "a2"], true);
        b.add_lacp_bond("br0", "bond0", &["b1", "b2"], true);
        b.wait_aggregated("bond0", &["b1", "b2"], Duration::from_secs(20));
        let mut r = Vec::new();
        for i in 0..rounds {
            let x = round(
                &b_ns,
                &["b1", "b2"],
                || a.lacp_show("bond0").aggregated().is_empty(),
                || a.lacp_show("bond0").aggregated().len() == 2,
                || b.lacp_show("bond0").aggregated().len() == 2,
            );
            eprintln!("ovs pair round {i}: a {:?} b {:?}", x.ours, x.partner);
            r.push(x);
        }
        records.push(serde_json::json!({
            "partner": "reference: open vswitch pair",
            "applianced": serde_json::Value::Null,
            "partner_view": stats(&r.iter().map(|x| x.ours).collect::<Vec<_>>()),
        }));
    }

    if json {
        for r in &records {
            println!("{r}");
        }
        return;
    }
    println!(
        "{:<36} {:>28} {:>28}",
        "partner", "applianced min/median/max", "partner's view"
    );
    let fmt = |v: &serde_json::Value| match v.get("median_ms") {
        Some(m) => format!(
            "{}/{}/{} ms ({} of {})",
            v["min_ms"], m, v["max_ms"], v["converged"], v["rounds"]
        ),
        None => "-".into(),
    };
    for r in &records {
        println!(
            "{:<36} {:>28} {:>28}",
            r["partner"].as_str().unwrap_or(""),
            fmt(&r["applianced"]),
            fmt(&r["partner_view"])
        );
    }
}
