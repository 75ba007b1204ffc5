//! Bonds in the data plane, against real partners that need no bonding module:
//! - active-backup to a plain Linux bridge: carrier loss on the active member while a
//!   1,000 pps UDP stream crosses a service, a VRRP instance (with a keepalived backup) and a
//!   BGP session (to BIRD) live on the bond: at most 10 datagrams lost, nothing flaps, and the
//!   primary takes the bond back when its carrier returns;
//! - the host's own traffic (ping, ARP) through the bond's tap in every mode;
//! - 802.3ad against Open vSwitch (userspace datapath, balance-tcp, active fast LACP): the
//!   aggregation forms, many flows use both members both ways, a member's carrier loss moves
//!   its flows, LACPDUs stopped by the switch take the member out within 3.5 s and it rejoins
//!   when they resume;
//! - 802.3ad against DPDK testpmd's bonding PMD (mode 4 over net_af_packet): the aggregation
//!   forms and carries traffic.

use std::time::Duration;

use netns_tests::bird;
use netns_tests::ovs::OvsSwitch;
use netns_tests::peers::full_checksums;
use netns_tests::testpmd::{TestpmdBond, TestpmdBondMode, TestpmdSpec};
use netns_tests::vrrp_lab::{has_addr, Keepalived, VrrpSpec};
use netns_tests::{wait_until, Appliance, Lab, Netns};

const VIP: &str = "198.18.0.100";
const NODE: &str = "198.18.0.2";
const SWITCH: &str = "198.18.0.1";
const BACKEND: &str = "198.18.5.2";

/// The tests here time failovers to the millisecond and one of them runs a polling testpmd:
/// they run one at a time, whatever the harness's thread count.
static ONE_AT_A_TIME: std::sync::Mutex<()> = std::sync::Mutex::new(());

fn one_at_a_time() -> std::sync::MutexGuard<'static, ()> {
    ONE_AT_A_TIME.lock().unwrap_or_else(|p| p.into_inner())
}

fn peer_script(name: &str) -> String {
    format!("{}/tests/peers/{name}", env!("CARGO_MANIFEST_DIR"))
}

struct Bed {
    sw: Netns,
    node: Appliance,
    _keepalived: Keepalived,
    _bird: netns_tests::Proc,
    _echo: netns_tests::Proc,
}

/// The node: a bond over m1, m2 (`bond`: its keys after `members`; `bond_addrs`: the static
/// addresses on it), eth1 to the backend, the echo service on the VIP; `extra` appended.
fn node_config(bond: &str, bond_addrs: &str, extra: &str) -> String {
    format!(
        r#"[daemon]
node_name = "node"
shutdown_grace = "3s"

[interfaces.bond0]
static_addresses = [{bond_addrs}]
[interfaces.m1]
[interfaces.m2]
[interfaces.eth1]
static_addresses = ["198.18.5.1/24"]

[[bond]]
name = "bond0"
members = ["m1", "m2"]
{bond}

[dataplane]
interfaces = ["bond0", "eth1"]
workers = 1
queues = 1

[[service]]
name = "echo"
vip = "{VIP}"
port = 7
protocol = "udp"
scheduler = "round_robin"
backends = [{{ address = "{BACKEND}", port = 7 }}]
{extra}"#
    )
}

/// VRRP (with the VIP) and BGP (to the switch) on the bond.
fn vrrp_and_bgp() -> String {
    format!(
        r#"
[[vrrp.instance]]
name = "vi"
interface = "bond0"
vrid = 51
priority = 200
advert_interval = "1s"
virtual_addresses = ["{VIP}/24"]

[bgp]
local_as = 65001
router_id = "{NODE}"
connect_retry = "1s"

[[bgp.neighbor]]
address = "{SWITCH}"
remote_as = 65000
local_address = "{NODE}"

[[bgp.announce]]
prefix = "{VIP}/32"
vrrp_instance = "vi"
"#
    )
}

/// The backend behind the node's eth1, with the UDP echo server.
fn backend(lab: &Lab, node_ns: &Netns) -> (Netns, netns_tests::Proc) {
    let be = lab.netns("be");
    lab.veth_builder(node_ns, "eth1", &be, "eth0")
        .queues(1)
        .create();
    be.add_addr("eth0", &format!("{BACKEND}/24"));
    be.add_route("default via 198.18.5.1");
    full_checksums(&be, "eth0");
    let echo = be.spawn(
        "echo",
        &["python3", &peer_script("echo_peer.py"), BACKEND, "7"],
    );
    (be, echo)
}

/// The node's two members to a bridge `eth0` in `sw` (which is also the client, the VRRP
/// backup and the BGP router), a backend behind `eth1`.
fn bed(lab: &Lab, mode: &str) -> Bed {
    let sw = lab.netns("sw");
    let node_ns = lab.netns("node");
    let br = lab.bridge(&sw, "eth0");
    for i in 1..=2 {
        lab.veth_builder(&node_ns, &format!("m{i}"), &sw, &format!("s{i}"))
            .queues(1)
            .create();
        sw.attach(&format!("s{i}"), br.name());
        full_checksums(&sw, &format!("s{i}"));
    }
    sw.add_addr("eth0", &format!("{SWITCH}/24"));
    full_checksums(&sw, "eth0");
    let (_be, echo) = backend(lab, &node_ns);

    let mut conf = bird::router_header(SWITCH, "all", 65000, false);
    conf.push_str(&bird::session("node", NODE, 65001, SWITCH, "", "ipv4"));
    let bird = bird::spawn(lab, &sw, "bird", &conf);
    // 1 s adverts: a loaded CI machine must not make the backup take over on its own.
    let mut backup = VrrpSpec::v4(100, 1000);
    backup.vip = format!("{VIP}/24");
    let keepalived = Keepalived::start(lab, &sw, "keepalived", &[backup]);

    let primary = if mode == "active-backup" {
        "primary = \"m1\""
    } else {
        ""
    };
    let conf = node_config(
        &format!("mode = \"{mode}\"\n{primary}"),
        &format!("\"{NODE}/24\""),
        &vrrp_and_bgp(),
    );
    let mut node = Appliance::new(lab, &node_ns, "node", &conf);
    node.start();
    node.wait_dataplane_running();
    Bed {
        sw,
        node,
        _keepalived: keepalived,
        _bird: bird,
        _echo: echo,
    }
}

fn bond(node: &Appliance) -> serde_json::Value {
    node.json(&["bond", "--json"])[0].clone()
}

fn member<'a>(b: &'a serde_json::Value, name: &str) -> &'a serde_json::Value {
    b["members"]
        .as_array()
        .and_then(|m| m.iter().find(|m| m["name"] == name))
        .unwrap_or_else(|| panic!("no member {name} in {b}"))
}

fn vrrp(node: &Appliance) -> serde_json::Value {
    node.status()["vrrp"][0].clone()
}

fn bgp_peer(node: &Appliance) -> serde_json::Value {
    node.status()["bgp"]["peers"][0].clone()
}

/// Runs the UDP stream (1,000 pps for `seconds`) in the switch namespace while `during`
/// acts; returns the stream's report.
fn stream_while(sw: &Netns, seconds: u32, during: impl FnOnce()) -> serde_json::Value {
    let client = sw.clone();
    let count = (seconds * 1000).to_string();
    let t = std::thread::spawn(move || {
        client.run_ok(&[
            "python3",
            &peer_script("udp_stream.py"),
            VIP,
            "7",
            &count,
            "1000",
            "16",
        ])
    });
    during();
    let out = t.join().expect("stream thread");
    serde_json::from_str(out.trim()).unwrap_or_else(|e| panic!("{e}: {out}"))
}

fn wait_settled(b: &Bed) {
    let node = &b.node;
    wait_until(
        "VRRP master, BGP established, the stream's path up",
        Duration::from_secs(30),
        Duration::from_millis(100),
        || {
            vrrp(node)["state"] == "master"
                && bgp_peer(node)["state"] == "established"
                && bond(node)["up"] == true
        },
    )
    .unwrap_or_else(|e| {
        panic!(
            "{e}\n{}\n{}",
            String::from_utf8_lossy(&node.appctl(&["bond"]).stdout),
            String::from_utf8_lossy(&node.appctl(&["status"]).stdout)
        )
    });
    // A first stream teaches the switch, the neighbours and the flow table.
    let warm = stream_while(&b.sw, 1, || {});
    assert!(warm["received"].as_u64().unwrap() > 900, "{warm}");
}

#[test]
fn active_backup_carrier_loss_loses_at_most_ten_datagrams_and_nothing_flaps() {
    let _serial = one_at_a_time();
    // A short name: BIRD's control socket lives in the artifacts directory.
    let lab = Lab::new("bond-ab");
    let b = bed(&lab, "active-backup");
    wait_settled(&b);
    let before = bond(&b.node);
    assert_eq!(before["active"], "m1", "{before}");
    assert_eq!(member(&before, "m1")["distributing"], true);
    assert_eq!(member(&before, "m2")["collecting"], false);
    // Transitions counted, not their time: the status derives that from the monotonic clock
    // and it may read a millisecond apart between two calls.
    let vrrp_transitions = vrrp(&b.node)["counters"]["master_transitions"].clone();
    let bgp_since = bgp_peer(&b.node)["established_unix_ms"].clone();

    // Carrier loss on the active member, two seconds into a six-second stream.
    let sw = b.sw.clone();
    let report = stream_while(&b.sw, 6, || {
        std::thread::sleep(Duration::from_secs(2));
        sw.set_down("s1");
    });
    eprintln!("failover: {report}");
    let after = bond(&b.node);
    assert_eq!(after["active"], "m2", "{after}");
    assert_eq!(after["failovers"], 1, "{after}");
    assert_eq!(member(&after, "m1")["carrier"], false, "{after}");
    assert!(
        report["lost"].as_u64().unwrap() <= 10,
        "more than 10 of 6,000 datagrams lost in the failover: {report}"
    );

    // The primary's carrier returns: it takes the bond back, again without a loss above 10.
    let sw = b.sw.clone();
    let report = stream_while(&b.sw, 6, || {
        std::thread::sleep(Duration::from_secs(2));
        sw.set_up("s1");
    });
    eprintln!("failback: {report}");
    let back = bond(&b.node);
    assert_eq!(back["active"], "m1", "{back}");
    assert_eq!(back["failovers"], 2, "{back}");
    assert!(report["lost"].as_u64().unwrap() <= 10, "{report}");

    // With the offload, the stream's established packets were forwarded by the XDP program
    // on the members, out of the member the bond's hash picked.
    let offload = b.node.json(&["dataplane", "--json"])["offload"].clone();
    if offload["mode"] == "xdp" {
        assert!(
            offload["forwarded_packets"].as_u64().unwrap() > 1000,
            "{offload}"
        );
    }

    // VRRP and BGP on the bond did not notice.
    let v = vrrp(&b.node);
    assert_eq!(v["state"], "master", "{v}");
    assert_eq!(
        v["counters"]["master_transitions"], vrrp_transitions,
        "VRRP transitioned: {v}"
    );
    assert!(!has_addr(&b.sw, VIP), "keepalived took the VIP over");
    let p = bgp_peer(&b.node);
    assert_eq!(p["state"], "established", "{p}");
    assert_eq!(
        p["established_unix_ms"], bgp_since,
        "the BGP session flapped: {p}"
    );
}

/// The host's traffic (ARP, ICMP, VRRP, BGP) crosses the bond's tap in every mode; a member
/// that is not collecting discards what it receives.
#[test]
fn host_traffic_crosses_the_bond_in_every_mode() {
    let _serial = one_at_a_time();
    for mode in ["active-backup", "balance-xor"] {
        let lab = Lab::new(&format!("bond-{}", &mode[..3]));
        let b = bed(&lab, mode);
        wait_settled(&b);
        let out = b.sw.run_ok(&["ping", "-c", "5", "-i", "0.05", NODE]);
        assert!(out.contains(" 0% packet loss"), "{mode}: {out}");
        let st = bond(&b.node);
        let rx: u64 = st["members"]
            .as_array()
            .unwrap()
            .iter()
            .map(|m| m["host_rx"].as_u64().unwrap())
            .sum();
        assert!(rx >= 5, "{mode}: {st}");
        let tap = b.node.ns.ip_ok(&["-d", "link", "show", "bond0"]);
        assert!(tap.contains("tun type tap"), "{tap}");
        drop(b);
        drop(lab);
    }
}

const BOND_MAC: &str = "02:00:00:00:0b:01";
const SWITCH_MAC: &str = "02:00:00:00:0c:00";

/// A node with an 802.3ad bond (fixed MAC) over m1, m2 and the echo service, members to `sw`'s
/// o1, o2 (or whatever the partner calls them).
fn lacp_node(
    lab: &Lab,
    sw: &Netns,
    partner_ifs: [&str; 2],
) -> (Appliance, Netns, netns_tests::Proc) {
    let node_ns = lab.netns("node");
    for (i, p) in partner_ifs.iter().enumerate() {
        lab.veth_builder(&node_ns, &format!("m{}", i + 1), sw, p)
            .queues(1)
            .create();
        full_checksums(sw, p);
    }
    let (be, echo) = backend(lab, &node_ns);
    let conf = node_config(
        &format!("mode = \"802.3ad\"\nlacp_rate = \"fast\"\nmac = \"{BOND_MAC}\""),
        &format!("\"{NODE}/24\", \"{VIP}/32\""),
        "",
    );
    let mut node = Appliance::new(lab, &node_ns, "node", &conf);
    node.start();
    node.wait_dataplane_running();
    (node, be, echo)
}

/// Waits until exactly `members` of our bond are Collecting_Distributing; how long it took.
fn wait_members(node: &Appliance, members: &[&str], timeout: Duration) -> Duration {
    let t0 = std::time::Instant::now();
    let mut last = serde_json::Value::Null;
    wait_until(
        &format!("our bond distributing on exactly {members:?}"),
        timeout,
        Duration::from_millis(20),
        || {
            last = bond(node);
            let on: Vec<&str> = last["members"]
                .as_array()
                .into_iter()
                .flatten()
                .filter(|m| m["distributing"] == true)
                .filter_map(|m| m["name"].as_str())
                .collect();
            on == members
        },
    )
    .unwrap_or_else(|e| panic!("{e}\n{last:#}"));
    t0.elapsed()
}

fn counter(ns: &Netns, ifname: &str, which: &str) -> u64 {
    ns.run_ok(&[
        "cat",
        &format!("/sys/class/net/{ifname}/statistics/{which}"),
    ])
    .trim()
    .parse()
    .unwrap()
}

#[test]
fn lacp_with_open_vswitch() {
    let _serial = one_at_a_time();
    let lab = Lab::new("bond-ovs");
    let sw = lab.netns("sw");
    let ovs = OvsSwitch::start(&lab, &sw, "ovs");
    ovs.add_bridge("br0", SWITCH_MAC);
    ovs.set_bridge_addr("br0", &format!("{SWITCH}/24"));
    full_checksums(&sw, "br0");
    let (node, _be, _echo) = lacp_node(&lab, &sw, ["o1", "o2"]);
    ovs.add_lacp_bond("br0", "bond0", &["o1", "o2"], true);
    let t0 = std::time::Instant::now();
    ovs.wait_aggregated("bond0", &["o1", "o2"], Duration::from_secs(15));
    wait_members(&node, &["m1", "m2"], Duration::from_secs(15));
    eprintln!(
        "aggregated both ways in {:.2} s",
        t0.elapsed().as_secs_f64()
    );
    let lacp = ovs.lacp_show("bond0");
    for m in &lacp.members {
        assert_eq!(m.partner_sys_id, BOND_MAC, "{m:?}");
    }
    let ours = bond(&node);
    assert!(ours["lacp"]["aggregator"].is_string(), "{ours}");
    for m in ["m1", "m2"] {
        let p = &member(&ours, m)["lacp"];
        assert!(
            p["partner_system"].as_str().unwrap().ends_with(SWITCH_MAC),
            "{p}"
        );
        assert_eq!(p["mux"], "CollectingDistributing", "{p}");
    }

    // Many flows: both members carry them, both ways.
    let warm = stream_while(&sw, 1, || {});
    assert!(warm["received"].as_u64().unwrap() > 900, "{warm}");
    let read =
        || ["o1", "o2"].map(|o| (counter(&sw, o, "rx_packets"), counter(&sw, o, "tx_packets")));
    let before = read();
    let report = stream_while(&sw, 3, || {});
    let after = read();
    eprintln!(
        "64 flows: {report}; per member (ours tx, ours rx) before {before:?} after {after:?}"
    );
    assert!(report["lost"].as_u64().unwrap() <= 3, "{report}");
    for i in 0..2 {
        let ours_tx = after[i].0 - before[i].0;
        let ours_rx = after[i].1 - before[i].1;
        assert!(
            ours_tx > 500 && ours_rx > 500,
            "member {} carried too little: tx {ours_tx} rx {ours_rx}",
            i + 1
        );
    }

    // Carrier loss on a member: its flows move to the other.
    let sw2 = sw.clone();
    let report = stream_while(&sw, 6, || {
        std::thread::sleep(Duration::from_secs(2));
        sw2.set_down("o1");
    });
    eprintln!("carrier loss of m1: {report}");
    let b = bond(&node);
    assert_eq!(member(&b, "m1")["distributing"], false, "{b}");
    assert_eq!(member(&b, "m2")["distributing"], true, "{b}");
    assert!(report["lost"].as_u64().unwrap() <= 10, "{report}");
    sw.set_up("o1");
    let back = wait_members(&node, &["m1", "m2"], Duration::from_secs(15));
    ovs.wait_aggregated("bond0", &["o1", "o2"], Duration::from_secs(15));
    eprintln!("m1 back {:.2} s after its carrier", back.as_secs_f64());

    // The switch stops its LACPDUs on o1: m1 leaves within the short timeout, and rejoins.
    ovs.block_lacpdus("o1", true);
    let left = wait_members(&node, &["m2"], Duration::from_secs(10));
    eprintln!(
        "m1 left {:.2} s after the switch's LACPDUs stopped",
        left.as_secs_f64()
    );
    assert!(
        left <= Duration::from_millis(3500),
        "m1 left after {left:?}"
    );
    assert!(ovs.lacpdus_blocked("o1") > 0);
    let now = bond(&node);
    let p = &member(&now, "m1")["lacp"];
    assert_ne!(p["rx"], "Current", "{p}");
    ovs.block_lacpdus("o1", false);
    let back = wait_members(&node, &["m1", "m2"], Duration::from_secs(10));
    eprintln!("m1 rejoined {:.2} s after they resumed", back.as_secs_f64());
    let report = stream_while(&sw, 1, || {});
    assert!(report["lost"].as_u64().unwrap() <= 3, "{report}");
}

#[test]
fn lacp_with_dpdk_testpmd() {
    let _serial = one_at_a_time();
    let lab = Lab::new("bond-dpdk");
    let dp = lab.netns("dpdk");
    let (node, _be, _echo) = lacp_node(&lab, &dp, ["d1", "d2"]);
    let t0 = std::time::Instant::now();
    let pmd = TestpmdBond::start(
        &lab,
        &dp,
        "testpmd",
        &TestpmdSpec {
            members: &["d1", "d2"],
            mode: TestpmdBondMode::Lacp,
            host_addr: &format!("{SWITCH}/24"),
            peer_addr: NODE,
            peer_mac: BOND_MAC,
        },
    );
    wait_members(&node, &["m1", "m2"], Duration::from_secs(15));
    wait_until(
        "testpmd's bond active on d1 and d2",
        Duration::from_secs(10),
        Duration::from_millis(100),
        || pmd.active_members() == ["d1", "d2"],
    )
    .unwrap();
    eprintln!(
        "aggregated both ways {:.2} s after testpmd's start",
        t0.elapsed().as_secs_f64()
    );
    let ours = bond(&node);
    for m in ["m1", "m2"] {
        let p = &member(&ours, m)["lacp"];
        assert!(
            p["partner_system"]
                .as_str()
                .unwrap()
                .ends_with(&dp.mac("d1")),
            "{p}"
        );
    }
    // The host behind testpmd's bond reaches the node, and a service through it (with whole
    // checksums: testpmd forwards the frames as the veth gives them).
    full_checksums(&dp, "tphost");
    wait_until(
        "the node answering pings through testpmd",
        Duration::from_secs(10),
        Duration::from_millis(200),
        || {
            dp.exec(&["ping", "-n", "-q", "-c", "1", "-W", "1", NODE])
                .status
                .success()
        },
    )
    .unwrap_or_else(|e| {
        panic!(
            "{e}\n{}\ntestpmd bond port {:?}\n{}",
            String::from_utf8_lossy(&node.appctl(&["bond"]).stdout),
            pmd.port_stats(pmd.bond_port()),
            dp.ip_ok(&["neigh"]),
        )
    });
    let before = pmd.port_stats(pmd.bond_port());
    let out = dp.run_ok(&[
        "ping", "-n", "-q", "-c", "20", "-i", "0.05", "-W", "1", NODE,
    ]);
    assert!(out.contains(" 0% packet loss"), "{out}");
    let after = pmd.port_stats(pmd.bond_port());
    assert!(
        after.rx_packets >= before.rx_packets + 20 && after.tx_packets >= before.tx_packets + 20,
        "{before:?} {after:?}"
    );
    let report = stream_while(&dp, 2, || {});
    eprintln!("through testpmd: {report}");
    assert!(report["lost"].as_u64().unwrap() <= 3, "{report}");
}
