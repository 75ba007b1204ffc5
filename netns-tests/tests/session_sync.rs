//! Session sync end to end: an HA pair (two workers each; VRRP on the client, backend and
//! office sides, one sync group) with NAT services (TCP and UDP) and a FullNAT service under
//! least connections, and the SNAT gateway for an office network. Long-lived flows through
//! the master from a client on the VIP's segment, one behind a router, and the office host;
//! the master is killed, comes back and preempts once it has the table, is stopped
//! gracefully, comes back again and loses its client-side link. After each event every flow
//! must still echo, probed in an order unlike the order of opening, so a scheduler that
//! happens to choose alike on both nodes proves nothing (least connections does not: it
//! depends on the order flows arrived).
//!
//! ```text
//!  client .1, router .4 ── front 198.18.0.0/24 ── a .2, b .3   VIP .10 (VRRP "front")
//!  far 198.18.10.2 ── router
//!  be1 .1, be2 .4, srv .5 ── back 198.18.2.0/24 ── a .2, b .3  gateway .254, FullNAT pool
//!                                                              .100 (VRRP "back"); sync here
//!  office .1 ── office 198.18.96.0/24 ── a .2, b .3            gateway .254 (VRRP "office"),
//!                                                              out as 198.19.0.1 (SNAT)
//! ```

use std::collections::BTreeMap;
use std::io::{Read, Write};
use std::net::{SocketAddr, TcpListener, TcpStream, UdpSocket};
use std::time::Duration;

use appliance::drill::cluster::netns;
use netns_tests::peers::full_checksums;
use netns_tests::{wait_until, Appliance, Lab, Netns};

/// Long-lived flows of each kind, per client (one on the VIP's segment, one behind a router).
const TCP_PER_CLIENT: usize = 100;
const UDP_PER_CLIENT: usize = 50;
const FULLNAT_PER_CLIENT: usize = 50;
/// Through the SNAT gateway, from the office host.
const SNAT_CONNECTIONS: usize = 100;
const KEY: &str = "session sync test key, 32 bytes";

fn config(node: &str, priority: u8, local: &str, peer: &str) -> String {
    format!(
        r#"[daemon]
node_name = "{node}"
state_dir = "/run/appliance"
shutdown_grace = "3s"

[control]
socket = "/run/appliance/appctl.sock"

[interfaces.eth0]
[interfaces.eth1]
[interfaces.eth2]

[[vrrp.instance]]
name = "front"
interface = "eth0"
vrid = 10
priority = {priority}
advert_interval = "100ms"
virtual_addresses = ["198.18.0.10/24"]

# The backends' gateway, and the FullNAT pool address they answer to.
[[vrrp.instance]]
name = "back"
interface = "eth1"
vrid = 20
priority = {priority}
advert_interval = "100ms"
virtual_addresses = ["198.18.2.254/24", "198.18.2.100/24"]

[[vrrp.instance]]
name = "office"
interface = "eth2"
vrid = 30
priority = {priority}
advert_interval = "100ms"
virtual_addresses = ["198.18.96.254/24"]

[[vrrp.sync_group]]
name = "lb"
instances = ["front", "back", "office"]

[dataplane]
interfaces = ["eth0", "eth1", "eth2"]
workers = 2
queues = 2
conntrack_per_worker = 65536
cluster_seed = 7

[[service]]
name = "echo"
vip = "198.18.0.10"
port = 80
protocol = "tcp"
scheduler = "least_conn"
backends = [
  {{ address = "198.18.2.1", port = 8080 }},
  {{ address = "198.18.2.4", port = 8080 }},
]

[[service]]
name = "echo-udp"
vip = "198.18.0.10"
port = 53
protocol = "udp"
scheduler = "least_conn"
backends = [
  {{ address = "198.18.2.1", port = 5353 }},
  {{ address = "198.18.2.4", port = 5353 }},
]

[[service]]
name = "echo-fullnat"
vip = "198.18.0.10"
port = 81
protocol = "tcp"
mode = "fullnat"
pool = "lb"
scheduler = "least_conn"
backends = [
  {{ address = "198.18.2.1", port = 8080 }},
  {{ address = "198.18.2.4", port = 8080 }},
]

[[snat.pool]]
name = "lb"
addresses = ["198.18.2.100"]

[[snat.pool]]
name = "office"
addresses = ["198.19.0.1"]
sources = ["198.18.96.0/24"]

[sync]
interface = "eth1"
local = "{local}"
peers = ["{peer}"]
key = "{KEY}"
preempt_hold = "10s"
"#
    )
}

/// TCP and UDP echo servers on `ports` inside `ns`, for the test's life.
fn echo_servers(ns: &Netns, tcp: u16, udp: Option<u16>) {
    let (l, u) = netns::run(ns.name(), move || {
        (
            TcpListener::bind(("0.0.0.0", tcp)).expect("bind the TCP echo server"),
            udp.map(|p| UdpSocket::bind(("0.0.0.0", p)).expect("bind the UDP echo server")),
        )
    });
    std::thread::spawn(move || {
        for c in l.incoming() {
            let Ok(mut c) = c else { continue };
            std::thread::spawn(move || {
                let mut buf = [0u8; 64];
                while let Ok(n) = c.read(&mut buf) {
                    if n == 0 || c.write_all(&buf[..n]).is_err() {
                        break;
                    }
                }
            });
        }
    });
    if let Some(u) = u {
        std::thread::spawn(move || {
            let mut buf = [0u8; 64];
            while let Ok((n, from)) = u.recv_from(&mut buf) {
                let _ = u.send_to(&buf[..n], from);
            }
        });
    }
}

/// One long-lived flow of the test.
enum Flow {
    Tcp(&'static str, TcpStream),
    Udp(UdpSocket),
}

impl Flow {
    fn class(&self) -> &'static str {
        match self {
            Flow::Tcp(c, _) => c,
            Flow::Udp(_) => "udp",
        }
    }

    /// Sends `msg` and reads it back. A UDP datagram may be lost like any other: three tries.
    fn echo(&mut self, msg: &[u8]) -> bool {
        let mut back = vec![0u8; msg.len()];
        match self {
            Flow::Tcp(_, c) => {
                c.write_all(msg).is_ok() && c.read_exact(&mut back).is_ok() && back == msg
            }
            Flow::Udp(u) => (0..3).any(|_| {
                u.send(msg).is_ok()
                    && u.recv(&mut back).is_ok_and(|n| n == msg.len())
                    && back == msg
            }),
        }
    }
}

fn tcp(class: &'static str, to: &str) -> Flow {
    let to: SocketAddr = to.parse().unwrap();
    let c = TcpStream::connect_timeout(&to, Duration::from_secs(3))
        .unwrap_or_else(|e| panic!("{class}: connect to {to}: {e}"));
    c.set_read_timeout(Some(Duration::from_secs(3))).unwrap();
    c.set_nodelay(true).unwrap();
    Flow::Tcp(class, c)
}

fn udp(to: &str) -> Flow {
    let u = UdpSocket::bind("0.0.0.0:0").unwrap();
    u.connect(to).unwrap();
    u.set_read_timeout(Some(Duration::from_secs(1))).unwrap();
    Flow::Udp(u)
}

/// The flows a client opens through the VIP.
fn client_flows(ns: &Netns) -> Vec<Flow> {
    netns::run(ns.name(), || {
        let mut v: Vec<Flow> = (0..TCP_PER_CLIENT)
            .map(|_| tcp("nat", "198.18.0.10:80"))
            .collect();
        v.extend((0..UDP_PER_CLIENT).map(|_| udp("198.18.0.10:53")));
        v.extend((0..FULLNAT_PER_CLIENT).map(|_| tcp("fullnat", "198.18.0.10:81")));
        v
    })
}

/// Sends a message on every flow, in an order drawn from `round` (a stride coprime with the
/// count), and reads it back; returns the flows that did not echo, by class.
fn probe(flows: &mut [Flow], round: usize) -> BTreeMap<&'static str, usize> {
    let n = flows.len();
    let stride = [7usize, 13, 17, 19, 23, 29, 31]
        .iter()
        .copied()
        .cycle()
        .skip(round)
        .find(|s| gcd(*s, n) == 1)
        .unwrap_or(1);
    let mut failed = BTreeMap::new();
    for k in 0..n {
        let i = (k * stride + round) % n;
        let msg = format!("{round:04}:{i:05}");
        if !flows[i].echo(msg.as_bytes()) {
            *failed.entry(flows[i].class()).or_default() += 1;
        }
    }
    failed
}

fn gcd(a: usize, b: usize) -> usize {
    if b == 0 {
        a
    } else {
        gcd(b, a % b)
    }
}

fn is_master(node: &Appliance) -> bool {
    node.proc_opt().is_some_and(|p| p.is_running())
        && node
            .json(&["vrrp", "--json"])
            .as_array()
            // A daemon still starting lists no instance yet: not a master.
            .is_some_and(|a| !a.is_empty() && a.iter().all(|x| x["state"] == "master"))
}

fn wait_master(nodes: &[Appliance; 2], i: usize, within: Duration) {
    wait_until(
        &format!("node {} master of every instance", nodes[i].name),
        within,
        Duration::from_millis(100),
        || is_master(&nodes[i]) && !is_master(&nodes[1 - i]),
    )
    .unwrap();
}

/// `appctl sync --json`, or null while sync is not running (yet).
fn sync_json(node: &Appliance) -> serde_json::Value {
    let out = node.appctl(&["sync", "--json"]);
    serde_json::from_slice(&out.stdout).unwrap_or_default()
}

/// The master came back: it must have taken over only once the other node's table arrived.
fn returned_with_the_table(node: &Appliance, flows: usize) {
    let s = sync_json(node);
    assert!(
        s["peers"][0]["bulk_in"]["done"] == true,
        "preempted before the bulk arrived: {s:#}"
    );
    assert!(s["adopted"].as_u64() >= Some(flows as u64), "{s:#}");
    assert!(
        s["preempt"].as_str().is_some_and(|p| p.contains("arrived")),
        "{s:#}"
    );
}

#[test]
fn every_flow_survives_crash_return_graceful_stop_and_link_down() {
    let lab = Lab::for_current_test();
    let client = lab.netns("client");
    let router = lab.netns("router");
    let far = lab.netns("far");
    let office = lab.netns("office");
    let server = lab.netns("srv");
    let (a, b) = (lab.netns("a"), lab.netns("b"));
    let (be1, be2) = (lab.netns("be1"), lab.netns("be2"));
    lab.lan_with_queues(&[&client, &a, &b, &router], "198.18.0.0/24", "eth0", 2);
    lab.lan_with_queues(&[&be1, &a, &b, &be2, &server], "198.18.2.0/24", "eth1", 2);
    lab.lan_with_queues(&[&office, &a, &b], "198.18.96.0/24", "eth2", 2);
    // The far client is behind a router on the VIP's segment.
    lab.lan_on(&[&router, &far], "198.18.10.0/24", "eth1");
    router.sysctl("net.ipv4.ip_forward", "1");
    far.add_route("default via 198.18.10.1");
    client.add_route("198.18.10.0/24 via 198.18.0.4");
    for n in [&a, &b] {
        n.add_route("198.18.10.0/24 via 198.18.0.4");
    }
    // The fast path checks what it rewrites: veth's partial checksums would not pass.
    full_checksums(&client, "eth0");
    full_checksums(&router, "eth0");
    full_checksums(&office, "eth2");
    for be in [&be1, &be2, &server] {
        full_checksums(be, "eth1");
        be.add_route("default via 198.18.2.254");
    }
    for be in [&be1, &be2] {
        echo_servers(be, 8080, Some(5353));
    }
    echo_servers(&server, 7000, None);
    office.add_route("default via 198.18.96.254");

    let mut nodes = [
        Appliance::new(&lab, &a, "a", &config("a", 200, "198.18.2.2", "198.18.2.3")),
        Appliance::new(&lab, &b, "b", &config("b", 100, "198.18.2.3", "198.18.2.2")),
    ];
    for n in &mut nodes {
        n.start();
    }
    wait_master(&nodes, 0, Duration::from_secs(15));
    for n in &nodes {
        n.wait_dataplane_running();
    }
    wait_until(
        "the nodes' sync sessions up",
        Duration::from_secs(10),
        Duration::from_millis(100),
        || {
            nodes
                .iter()
                .all(|n| sync_json(n)["peers"][0]["state"] == "up")
        },
    )
    .unwrap();

    let opened = std::panic::catch_unwind(std::panic::AssertUnwindSafe(|| {
        let mut flows = client_flows(&client);
        flows.extend(client_flows(&far));
        flows.extend(netns::run(office.name(), || {
            (0..SNAT_CONNECTIONS)
                .map(|_| tcp("snat", "198.18.2.5:7000"))
                .collect::<Vec<_>>()
        }));
        flows
    }));
    let mut flows = opened.unwrap_or_else(|e| {
        let drops = |n: &Appliance| {
            let d = n.json(&["dataplane", "--json"]);
            d["totals"]
                .as_object()
                .map(|o| {
                    o.iter()
                        .filter(|(k, v)| k.starts_with("drops") && v.as_u64() > Some(0))
                        .map(|(k, v)| format!("{k} {v}"))
                        .collect::<Vec<_>>()
                        .join(", ")
                })
                .unwrap_or_default()
        };
        panic!(
            "opening the flows: {:?}; drops on a: {}; on b: {}",
            e.downcast_ref::<String>(),
            drops(&nodes[0]),
            drops(&nodes[1])
        )
    });
    let total = flows.len();
    assert_eq!(probe(&mut flows, 0), BTreeMap::new(), "before any event");
    // Established at least a second before the first event, and known to the backup.
    std::thread::sleep(Duration::from_secs(1));
    wait_until(
        "the backup to hold every flow",
        Duration::from_secs(5),
        Duration::from_millis(100),
        || sync_json(&nodes[1])["table_entries"].as_u64() >= Some(total as u64),
    )
    .unwrap();

    let mut round = 0;
    let mut check = |flows: &mut Vec<Flow>, what: &str| {
        round += 1;
        let failed = probe(flows, round);
        assert!(
            failed.is_empty(),
            "{what}: flows that did not echo: {failed:?} of {total}"
        );
    };

    // 1. The master crashes: the backup takes over with the flows.
    nodes[0].proc().kill();
    wait_master(&nodes, 1, Duration::from_secs(5));
    check(&mut flows, "after the master crashed");

    // 2. It comes back with an empty table, gets b's table, and only then preempts.
    nodes[0].start();
    wait_master(&nodes, 0, Duration::from_secs(20));
    returned_with_the_table(&nodes[0], total);
    check(&mut flows, "after the master came back");

    // 3. A graceful stop of the master: b carries on.
    nodes[0].proc().stop(Duration::from_secs(10));
    wait_master(&nodes, 1, Duration::from_secs(5));
    check(&mut flows, "after a graceful stop");

    // 4. Back again, then its client-side link goes down.
    nodes[0].start();
    wait_master(&nodes, 0, Duration::from_secs(20));
    returned_with_the_table(&nodes[0], total);
    check(&mut flows, "after the master came back again");
    a.set_down("eth0");
    wait_until(
        "b master after a's link went down",
        Duration::from_secs(5),
        Duration::from_millis(100),
        || is_master(&nodes[1]),
    )
    .unwrap();
    check(&mut flows, "after the master's link went down");

    // Nothing was refused or lost on the way.
    for n in &nodes {
        let s = sync_json(n);
        assert_eq!(s["refused"], 0, "{}: {s:#}", n.name);
        assert_eq!(s["changes_lost"], 0, "{}: {s:#}", n.name);
    }
}

/// The events of `kind` in `subsystem` the node wrote so far.
fn events(node: &Appliance, subsystem: &str, kind: &str) -> usize {
    let out = node.appctl(&["events", "--json"]);
    String::from_utf8_lossy(&out.stdout)
        .lines()
        .filter_map(|l| serde_json::from_str::<serde_json::Value>(l).ok())
        .filter(|e| e["subsystem"] == subsystem && e["kind"] == kind)
        .count()
}

/// Bad datagrams from the peer's own address (forged, replayed, truncated, another version)
/// and from a stranger are counted by reason and never applied; a reload moves sync to
/// another port in place; a reload with a bad `[sync]` keeps the running one.
#[test]
fn bad_datagrams_are_counted_and_a_reload_changes_sync_in_place() {
    use session_sync::wire::{Datagram, Header, Key, MsgType};
    let lab = Lab::for_current_test();
    let client = lab.netns("client");
    let (a, b) = (lab.netns("a"), lab.netns("b"));
    let (be1, be2) = (lab.netns("be1"), lab.netns("be2"));
    let stranger = lab.netns("stranger");
    lab.lan_with_queues(&[&client, &a, &b], "198.18.0.0/24", "eth0", 2);
    lab.lan_with_queues(&[&be1, &a, &b, &be2, &stranger], "198.18.2.0/24", "eth1", 2);
    lab.lan_with_queues(&[&client, &a, &b], "198.18.96.0/24", "eth2", 2);
    let texts = [
        config("a", 200, "198.18.2.2", "198.18.2.3"),
        config("b", 100, "198.18.2.3", "198.18.2.2"),
    ];
    let mut nodes = [
        Appliance::new(&lab, &a, "a", &texts[0]),
        Appliance::new(&lab, &b, "b", &texts[1]),
    ];
    for n in &mut nodes {
        n.start();
    }
    let up = |nodes: &[Appliance; 2]| {
        wait_until(
            "the nodes' sync sessions up",
            Duration::from_secs(10),
            Duration::from_millis(100),
            || {
                nodes
                    .iter()
                    .all(|n| sync_json(n)["peers"][0]["state"] == "up")
            },
        )
        .unwrap()
    };
    up(&nodes);
    let s = sync_json(&nodes[0]);
    let b_epoch = s["peers"][0]["epoch"].as_u64().unwrap();
    let a_epoch = s["epoch"].as_u64().unwrap();

    // From b's address: what a forger on the sync link could send.
    let b_node = u64::from(u32::from(std::net::Ipv4Addr::new(198, 18, 2, 3))) << 16 | 7531;
    let flow = session_sync::Record::FlowUpsert(session_sync::Flow {
        key: session_sync::FlowKey {
            zone: 0,
            proto: 6,
            client: "198.18.0.1".parse().unwrap(),
            client_port: 40000,
            vip: "198.18.0.10".parse().unwrap(),
            vip_port: 80,
        },
        kind: session_sync::Kind::Nat,
        state: 2,
        class: 1,
        fins: 0,
        profile: 0,
        backend: "198.18.2.1".parse().unwrap(),
        backend_port: 8080,
        local: "198.18.0.1".parse().unwrap(),
        local_port: 40000,
        remaining_ms: 60_000,
    });
    let datagram = |seq: u32| Datagram {
        header: Header {
            msg_type: MsgType::Data,
            flags: 0,
            node_id: b_node,
            epoch: b_epoch,
            seq,
            peer_epoch: a_epoch,
            cum_ack: 0,
            sack: 0,
        },
        records: vec![flow.clone()],
    };
    let forged = datagram(1_000).encode(&Key::new(b"not the key at all, but as long"));
    // Sequence number 1 of b's stream was delivered at start (its bulk's page marker).
    let replayed = datagram(1).encode(&Key::new(KEY.as_bytes()));
    let mut other_version = datagram(1_000).encode(&Key::new(KEY.as_bytes()));
    other_version[4] = 2;
    let bad: Vec<Vec<u8>> = vec![
        forged,
        replayed,
        other_version,
        b"ASYN".to_vec(),
        vec![0u8; 100],
    ];
    netns::run(b.name(), move || {
        let s = UdpSocket::bind("198.18.2.3:0").unwrap();
        for d in &bad {
            s.send_to(d, "198.18.2.2:7531").unwrap();
        }
    });
    netns::run(stranger.name(), || {
        let s = UdpSocket::bind("0.0.0.0:0").unwrap();
        s.send_to(b"hello", "198.18.2.2:7531").unwrap();
    });
    wait_until(
        "a to count every bad datagram",
        Duration::from_secs(5),
        Duration::from_millis(100),
        || {
            let d = &sync_json(&nodes[0])["peers"][0]["discards"];
            d["bad_hmac"] == 1
                && d["replayed"] == 1
                && d["unsupported_version"] == 1
                && d["truncated"] == 1
                && d["bad_magic"] == 1
        },
    )
    .unwrap_or_else(|e| panic!("{e}: {:#}", sync_json(&nodes[0])));
    let s = sync_json(&nodes[0]);
    assert_eq!(s["unknown_source"], 1, "{s:#}");
    assert_eq!(
        s["adopted"], 0,
        "nothing forged or replayed was applied: {s:#}"
    );
    assert_eq!(s["peers"][0]["state"], "up", "{s:#}");
    let m = String::from_utf8_lossy(&nodes[0].appctl(&["status", "--json"]).stdout).to_string();
    assert!(!m.is_empty());

    // A reload moves sync to another port: the thread restarts under a new epoch, in place.
    for (n, t) in nodes.iter().zip(&texts) {
        n.write_config(&t.replace(
            "preempt_hold = \"10s\"",
            "preempt_hold = \"10s\"\nport = 7532",
        ));
        let out = n.appctl(&["reload"]);
        assert!(
            out.status.success(),
            "{}",
            String::from_utf8_lossy(&out.stderr)
        );
    }
    up(&nodes);
    for n in &nodes {
        assert!(sync_json(n)["local"].as_str().unwrap().ends_with(":7532"));
        assert_eq!(events(n, "sync", "started"), 2, "{}", n.name);
    }
    assert_ne!(sync_json(&nodes[0])["epoch"].as_u64(), Some(a_epoch));

    // A bad [sync] is refused with its place in the file; the running sync carries on.
    nodes[0].write_config(&texts[0].replace(KEY, "short"));
    let out = nodes[0].appctl(&["reload"]);
    let err = String::from_utf8_lossy(&out.stderr);
    assert!(!out.status.success() && err.contains("`sync.key`"), "{err}");
    assert!(sync_json(&nodes[0])["local"]
        .as_str()
        .unwrap()
        .ends_with(":7532"));
    up(&nodes);
}
