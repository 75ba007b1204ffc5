//! Session sync end to end: an HA pair (VRRP on the client side and the backend side, one
//! sync group) with a NAT service under least connections; long-lived TCP connections through
//! the master; the master is killed, comes back and preempts once it has the table, then is
//! stopped gracefully. After each event every connection must still echo, probed in an order
//! unlike the order of opening, so a scheduler that happens to choose alike on both nodes
//! proves nothing (least connections does not: it depends on the order flows arrived).
//!
//! ```text
//!  client .1 ── front 198.18.0.0/24 ── a .2, b .3        VIP 198.18.0.10 (VRRP "front")
//!  be1 .1, be2 .4 ── back 198.18.2.0/24 ── a .2, b .3    gateway 198.18.2.254 (VRRP "back")
//!                                          sync between a and b over "back"
//! ```

use std::io::{Read, Write};
use std::net::{SocketAddr, TcpListener, TcpStream};
use std::time::Duration;

use appliance::drill::cluster::netns;
use netns_tests::peers::full_checksums;
use netns_tests::{wait_until, Appliance, Lab, Netns};

const CONNECTIONS: usize = 200;
const KEY: &str = "session sync test key, 32 bytes";

fn config(node: &str, priority: u8, local: &str, peer: &str, with_sync: bool) -> String {
    let sync = if with_sync {
        format!(
            "[sync]\ninterface = \"eth1\"\nlocal = \"{local}\"\npeers = [\"{peer}\"]\nkey = \"{KEY}\"\npreempt_hold = \"10s\"\n"
        )
    } else {
        String::new()
    };
    format!(
        r#"[daemon]
node_name = "{node}"
state_dir = "/run/appliance"
shutdown_grace = "3s"

[control]
socket = "/run/appliance/appctl.sock"

[interfaces.eth0]
[interfaces.eth1]

[[vrrp.instance]]
name = "front"
interface = "eth0"
vrid = 10
priority = {priority}
advert_interval = "100ms"
virtual_addresses = ["198.18.0.10/24"]

[[vrrp.instance]]
name = "back"
interface = "eth1"
vrid = 20
priority = {priority}
advert_interval = "100ms"
virtual_addresses = ["198.18.2.254/24"]

[[vrrp.sync_group]]
name = "lb"
instances = ["front", "back"]

[dataplane]
interfaces = ["eth0", "eth1"]
workers = 1
queues = 1
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

{sync}"#
    )
}

/// An echo server on `port` inside `ns`, one thread per connection, for the test's life.
fn echo_server(ns: &Netns, port: u16) {
    let l = netns::run(ns.name(), move || {
        TcpListener::bind(("0.0.0.0", port)).expect("bind the echo server")
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
}

/// Sends a message on every connection, in an order drawn from `round`, and reads it back;
/// returns how many echoed.
fn probe(conns: &mut [TcpStream], round: u64) -> usize {
    let n = conns.len();
    // A permutation that differs per round: stride coprime with n.
    let strides = [7usize, 13, 17, 19, 23, 29];
    let stride = strides
        .iter()
        .copied()
        .cycle()
        .skip(round as usize)
        .find(|s| gcd(*s, n) == 1)
        .unwrap_or(1);
    let mut ok = 0;
    for k in 0..n {
        let i = (k * stride + round as usize) % n;
        let c = &mut conns[i];
        let msg = format!("{round:04}:{i:05}");
        let mut back = [0u8; 10];
        if c.write_all(msg.as_bytes()).is_ok()
            && c.read_exact(&mut back).is_ok()
            && back == msg.as_bytes()
        {
            ok += 1;
        }
    }
    ok
}

fn gcd(a: usize, b: usize) -> usize {
    if b == 0 {
        a
    } else {
        gcd(b, a % b)
    }
}

struct Pair {
    nodes: [Appliance; 2],
}

impl Pair {
    fn master(&self) -> Option<usize> {
        (0..2).find(|&i| {
            self.nodes[i].proc_opt().is_some_and(|p| p.is_running())
                && self.nodes[i]
                    .json(&["vrrp", "--json"])
                    .as_array()
                    // A daemon still starting lists no instance yet: not a master.
                    .is_some_and(|a| !a.is_empty() && a.iter().all(|x| x["state"] == "master"))
        })
    }

    fn wait_master(&self, i: usize, within: Duration) {
        wait_until(
            &format!("node {i} master of both instances"),
            within,
            Duration::from_millis(100),
            || self.master() == Some(i),
        )
        .unwrap();
    }
}

fn sync_json(node: &Appliance) -> serde_json::Value {
    node.json(&["sync", "--json"])
}

#[test]
fn connections_survive_a_crash_the_masters_return_and_a_graceful_stop() {
    let lab = Lab::for_current_test();
    let client = lab.netns("client");
    let (a, b) = (lab.netns("a"), lab.netns("b"));
    let (be1, be2) = (lab.netns("be1"), lab.netns("be2"));
    let _front = lab.lan_on(&[&client, &a, &b], "198.18.0.0/24", "eth0");
    let _back = lab.lan_on(&[&be1, &a, &b, &be2], "198.18.2.0/24", "eth1");
    // The fast path checks what it rewrites: veth's partial checksums would not pass.
    full_checksums(&client, "eth0");
    for be in [&be1, &be2] {
        full_checksums(be, "eth1");
        be.add_route("default via 198.18.2.254");
        echo_server(be, 8080);
    }
    let mut nodes = [
        Appliance::new(
            &lab,
            &a,
            "a",
            &config("a", 200, "198.18.2.2", "198.18.2.3", true),
        ),
        Appliance::new(
            &lab,
            &b,
            "b",
            &config("b", 100, "198.18.2.3", "198.18.2.2", true),
        ),
    ];
    for n in &mut nodes {
        n.start();
    }
    let mut pair = Pair { nodes };
    pair.wait_master(0, Duration::from_secs(15));
    for n in &pair.nodes {
        n.wait_dataplane_running();
    }
    wait_until(
        "the nodes' sync sessions up",
        Duration::from_secs(10),
        Duration::from_millis(100),
        || {
            pair.nodes
                .iter()
                .all(|n| sync_json(n)["peers"][0]["state"] == "up")
        },
    )
    .unwrap();

    let mut conns: Vec<TcpStream> = netns::run(client.name(), || {
        (0..CONNECTIONS)
            .map(|_| {
                let to: SocketAddr = "198.18.0.10:80".parse().unwrap();
                let c = TcpStream::connect_timeout(&to, Duration::from_secs(3))
                    .expect("connect through the VIP");
                c.set_read_timeout(Some(Duration::from_secs(3))).unwrap();
                c.set_nodelay(true).unwrap();
                c
            })
            .collect()
    });
    assert_eq!(
        probe(&mut conns, 0),
        CONNECTIONS,
        "all echo before any event"
    );
    // Established at least a second before the first event, and known to the backup.
    std::thread::sleep(Duration::from_secs(1));
    wait_until(
        "the backup to hold every flow",
        Duration::from_secs(5),
        Duration::from_millis(100),
        || sync_json(&pair.nodes[1])["adopted"].as_u64() >= Some(CONNECTIONS as u64),
    )
    .unwrap();

    // 1. The master crashes: the backup takes over with the flows.
    pair.nodes[0].proc().kill();
    pair.wait_master(1, Duration::from_secs(5));
    assert_eq!(
        probe(&mut conns, 1),
        CONNECTIONS,
        "after the master crashed"
    );

    // 2. It comes back with an empty table, gets b's table, and only then preempts.
    pair.nodes[0].start();
    pair.wait_master(0, Duration::from_secs(20));
    let s = sync_json(&pair.nodes[0]);
    assert!(
        s["peers"][0]["bulk_in"]["done"] == true,
        "preempted before the bulk arrived: {s:#}"
    );
    assert!(s["adopted"].as_u64() >= Some(CONNECTIONS as u64), "{s:#}");
    assert!(
        s["preempt"].as_str().is_some_and(|p| p.contains("arrived")),
        "{s:#}"
    );
    assert_eq!(
        probe(&mut conns, 2),
        CONNECTIONS,
        "after the master came back"
    );

    // 3. A graceful stop of the master: b carries on.
    pair.nodes[0].proc().stop(Duration::from_secs(10));
    pair.wait_master(1, Duration::from_secs(5));
    assert_eq!(probe(&mut conns, 3), CONNECTIONS, "after a graceful stop");

    // Nothing was refused or lost on the way.
    let s = sync_json(&pair.nodes[1]);
    assert_eq!(s["refused"], 0, "{s:#}");
    assert_eq!(s["changes_lost"], 0, "{s:#}");
}
