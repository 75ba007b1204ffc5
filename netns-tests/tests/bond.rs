//! Bonds in the data plane, against real partners that need no bonding module:
//! - active-backup to a plain Linux bridge: carrier loss on the active member while a
//!   1,000 pps UDP stream crosses a service, a VRRP instance (with a keepalived backup) and a
//!   BGP session (to BIRD) live on the bond: at most 10 datagrams lost, nothing flaps, and the
//!   primary takes the bond back when its carrier returns;
//! - the host's own traffic (ping, ARP) through the bond's tap in every mode.

use std::time::Duration;

use netns_tests::bird;
use netns_tests::peers::full_checksums;
use netns_tests::vrrp_lab::{has_addr, Keepalived, VrrpSpec};
use netns_tests::{wait_until, Appliance, Lab, Netns};

const VIP: &str = "198.18.0.100";
const NODE: &str = "198.18.0.2";
const SWITCH: &str = "198.18.0.1";
const BACKEND: &str = "198.18.5.2";

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

fn node_config(mode: &str) -> String {
    let primary = if mode == "active-backup" {
        "primary = \"m1\"\n"
    } else {
        ""
    };
    format!(
        r#"[daemon]
node_name = "node"
shutdown_grace = "3s"

[interfaces.bond0]
static_addresses = ["{NODE}/24"]
[interfaces.m1]
[interfaces.m2]
[interfaces.eth1]
static_addresses = ["198.18.5.1/24"]

[[bond]]
name = "bond0"
members = ["m1", "m2"]
mode = "{mode}"
{primary}
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

[[vrrp.instance]]
name = "vi"
interface = "bond0"
vrid = 51
priority = 200
advert_interval = "100ms"
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

/// The node's two members to a bridge `eth0` in `sw` (which is also the client, the VRRP
/// backup and the BGP router), a backend behind `eth1`.
fn bed(lab: &Lab, mode: &str) -> Bed {
    let sw = lab.netns("sw");
    let node_ns = lab.netns("node");
    let be = lab.netns("be");
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
    lab.veth_builder(&node_ns, "eth1", &be, "eth0")
        .queues(1)
        .create();
    be.add_addr("eth0", &format!("{BACKEND}/24"));
    be.add_route("default via 198.18.5.1");
    full_checksums(&be, "eth0");
    let echo = be.spawn(
        "echo",
        &["python3", &peer_script("echo_peer.py"), BACKEND, "7"],
    );

    let mut conf = bird::router_header(SWITCH, "all", 65000, false);
    conf.push_str(&bird::session("node", NODE, 65001, SWITCH, "", "ipv4"));
    let bird = bird::spawn(lab, &sw, "bird", &conf);
    let mut backup = VrrpSpec::v4(100, 100);
    backup.vip = format!("{VIP}/24");
    let keepalived = Keepalived::start(lab, &sw, "keepalived", &[backup]);

    let mut node = Appliance::new(lab, &node_ns, "node", &node_config(mode));
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
    // A short name: BIRD's control socket lives in the artifacts directory.
    let lab = Lab::new("bond-ab");
    let b = bed(&lab, "active-backup");
    wait_settled(&b);
    let before = bond(&b.node);
    assert_eq!(before["active"], "m1", "{before}");
    assert_eq!(member(&before, "m1")["distributing"], true);
    assert_eq!(member(&before, "m2")["collecting"], false);
    let vrrp_since = vrrp(&b.node)["last_transition_unix_ms"].clone();
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
        v["last_transition_unix_ms"], vrrp_since,
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
