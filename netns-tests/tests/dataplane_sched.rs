//! Backend selection through the fast path end to end: each scheduler, health verdicts taking a
//! backend out and back, and a drain by weight 0 that keeps an open connection.
//!
//! One worker and one queue everywhere: the schedulers' state (WRR cursors, connection counts,
//! persistence) is per core, and one core makes the expected counts exact.

use std::collections::BTreeMap;
use std::time::Duration;

use netns_tests::peers::{full_checksums, serve_http};
use netns_tests::{wait_until, Appliance, DataplaneHeader, Lab, Netns, Proc};

const VIP: &str = "198.18.30.1";

struct Setup {
    lab: Lab,
    client: Netns,
    b1: Netns,
    node: Appliance,
    servers: Vec<Proc>,
}

/// The `[[service]]` and `[checks]` part of the configuration.
struct Service<'a> {
    scheduler: &'a str,
    persistence: Option<&'a str>,
    weights: [u32; 2],
    /// Backend b1 is checked by `[checks.b1]` (HTTP GET /who).
    check_b1: bool,
}

fn config(s: &Service<'_>) -> String {
    let persistence = s
        .persistence
        .map(|p| format!("persistence = \"{p}\"\n"))
        .unwrap_or_default();
    let (checks, b1_check) = if s.check_b1 {
        (
            r#"
[checks.b1]
type = "http"
target = "198.18.21.2:8080"
path = "/who"
interval = "200ms"
timeout = "500ms"
rise = 2
fall = 2
"#,
            r#", check = "b1""#,
        )
    } else {
        ("", "")
    };
    let header = DataplaneHeader {
        node: "lb",
        shutdown_grace: Some("3s"),
        interfaces: &[("eth0", ""), ("eth1", ""), ("eth2", "")],
        workers: 1,
        queues: 1,
    };
    format!(
        r#"{header}conntrack_per_worker = 4096
{checks}
[[service]]
name = "web"
vip = "{VIP}"
port = 80
protocol = "tcp"
scheduler = "{scheduler}"
{persistence}backends = [
  {{ address = "198.18.21.2", port = 8080, weight = {w1}{b1_check} }},
  {{ address = "198.18.22.2", port = 8080, weight = {w2} }},
]
"#,
        scheduler = s.scheduler,
        w1 = s.weights[0],
        w2 = s.weights[1],
    )
}

/// Client, appliance and two backends, each on its own veth; the kernel does not forward.
fn setup(s: &Service<'_>) -> Setup {
    let lab = Lab::for_current_test();
    let (lb, client) = (lab.netns("lb"), lab.netns("cl"));
    lab.veth(&lb, "eth0", &client, "eth0");
    lb.add_addr("eth0", "198.18.20.1/24");
    lb.add_addr("eth0", &format!("{VIP}/32"));
    client.add_addr("eth0", "198.18.20.2/24");
    client.add_route("198.18.30.0/24 via 198.18.20.1");
    full_checksums(&client, "eth0");
    let mut servers = Vec::new();
    let mut backends = Vec::new();
    for (name, lb_if, subnet) in [("b1", "eth1", 21), ("b2", "eth2", 22)] {
        let b = lab.netns(name);
        lab.veth(&lb, lb_if, &b, "eth0");
        lb.add_addr(lb_if, &format!("198.18.{subnet}.1/24"));
        b.add_addr("eth0", &format!("198.18.{subnet}.2/24"));
        b.add_route(&format!("default via 198.18.{subnet}.1"));
        full_checksums(&b, "eth0");
        servers.push(serve_http(&lab, &b, name));
        backends.push(b);
    }
    lb.sysctl("net.ipv4.ip_forward", "0");
    let mut node = Appliance::new(&lab, &lb, "lb", &config(s));
    node.start();
    wait_until(
        "data plane running, every backend up and resolved",
        Duration::from_secs(20),
        Duration::from_millis(100),
        || {
            let st = node.json(&["dataplane", "--json"]);
            let svc = node.json(&["service", "--json"]);
            st["state"] == "running"
                && st["unresolved_neighbours"].as_array().unwrap().is_empty()
                && svc[0]["backends"]
                    .as_array()
                    .unwrap()
                    .iter()
                    .all(|b| b["up"] == true)
        },
    )
    .unwrap();
    client.assert_ping("198.18.20.1");
    let b1 = backends.remove(0);
    Setup {
        lab,
        client,
        b1,
        node,
        servers,
    }
}

fn get(client: &Netns) -> Option<String> {
    let out = client.exec(&[
        "curl",
        "-sS",
        "--max-time",
        "3",
        &format!("http://{VIP}/who"),
    ]);
    out.status
        .success()
        .then(|| String::from_utf8_lossy(&out.stdout).into_owned())
}

/// Which backend answered each of `n` sequential requests, counted.
fn tally(client: &Netns, n: usize) -> BTreeMap<String, usize> {
    let mut seen = BTreeMap::new();
    for _ in 0..n {
        let who = get(client).unwrap_or_else(|| "failed".into());
        *seen.entry(who).or_insert(0) += 1;
    }
    seen
}

fn counts(pairs: &[(&str, usize)]) -> BTreeMap<String, usize> {
    pairs.iter().map(|(k, v)| (k.to_string(), *v)).collect()
}

fn reload(node: &Appliance, s: &Service<'_>) {
    node.write_config(&config(s));
    let out = node.appctl(&["reload"]);
    assert!(
        out.status.success(),
        "{}",
        String::from_utf8_lossy(&out.stderr)
    );
    wait_until(
        "new weights in the running snapshot",
        Duration::from_secs(5),
        Duration::from_millis(50),
        || {
            let b = &node.json(&["service", "--json"])[0]["backends"];
            b[0]["weight"] == s.weights[0] && b[1]["weight"] == s.weights[1]
        },
    )
    .unwrap();
}

#[test]
fn maglev_spreads_clients_over_both_backends() {
    let s = setup(&Service {
        scheduler: "maglev",
        persistence: None,
        weights: [1, 1],
        check_b1: false,
    });
    assert_eq!(
        s.node.json(&["service", "--json"])[0]["scheduler"],
        "maglev"
    );
    // Every request comes from a new source port, so Maglev hashes it anew.
    let seen = tally(&s.client, 16);
    assert!(
        seen.keys().all(|k| k == "b1" || k == "b2") && seen.len() == 2,
        "{seen:?}"
    );
}

#[test]
fn weighted_round_robin_serves_two_to_one() {
    let s = setup(&Service {
        scheduler: "round_robin",
        persistence: None,
        weights: [2, 1],
        check_b1: false,
    });
    // Smooth WRR repeats a cycle of three picks; nine consecutive new flows are three cycles.
    assert_eq!(tally(&s.client, 9), counts(&[("b1", 6), ("b2", 3)]));
}

#[test]
fn least_connections_fills_the_emptier_backend() {
    let mut svc = Service {
        scheduler: "least_conn",
        persistence: None,
        weights: [1, 0],
        check_b1: false,
    };
    let s = setup(&svc);
    // Four flows on b1 while b2 is drained; closed flows stay in conntrack (and count) for
    // their closing timeout, far longer than this test.
    assert_eq!(tally(&s.client, 4), counts(&[("b1", 4)]));
    svc.weights = [1, 1];
    reload(&s.node, &svc);
    // b2 has fewer flows until it has as many: round robin would alternate instead.
    assert_eq!(tally(&s.client, 4), counts(&[("b2", 4)]));
    let seen = tally(&s.client, 4);
    assert_eq!(seen.values().sum::<usize>(), 4);
    assert_eq!(seen.len(), 2, "{seen:?}");
}

#[test]
fn source_persistence_keeps_a_client_on_one_backend() {
    let s = setup(&Service {
        scheduler: "round_robin",
        persistence: Some("60s"),
        weights: [1, 1],
        check_b1: false,
    });
    let seen = tally(&s.client, 8);
    assert_eq!(seen.len(), 1, "{seen:?}");
    assert_ne!(seen.keys().next().unwrap(), "failed");
    // A second client address is scheduled on its own: round robin gives it the other backend.
    s.client.add_addr("eth0", "198.18.20.3/24");
    // The fast path never resolves addresses: the kernel learns the new client from its ping.
    s.client.run_ok(&[
        "ping",
        "-n",
        "-c",
        "1",
        "-W",
        "1",
        "-I",
        "198.18.20.3",
        "198.18.20.1",
    ]);
    let out = s.client.exec(&[
        "curl",
        "-sS",
        "--max-time",
        "3",
        "--interface",
        "198.18.20.3",
        &format!("http://{VIP}/who"),
    ]);
    let other = String::from_utf8_lossy(&out.stdout).into_owned();
    assert!(other == "b1" || other == "b2", "{other}");
    assert_ne!(&other, seen.keys().next().unwrap());
    // The first client still sticks to its backend.
    assert_eq!(tally(&s.client, 4).len(), 1);
}

#[test]
fn a_failed_health_check_takes_a_backend_out_and_back() {
    let mut s = setup(&Service {
        scheduler: "round_robin",
        persistence: None,
        weights: [1, 1],
        check_b1: true,
    });
    assert_eq!(tally(&s.client, 4), counts(&[("b1", 2), ("b2", 2)]));

    // b1's server dies: the check goes down and b1 gets no new flows.
    s.servers.remove(0).kill();
    let b1_up =
        |node: &Appliance| node.json(&["service", "--json"])[0]["backends"][0]["up"].clone();
    wait_until(
        "b1 marked down by its check",
        Duration::from_secs(10),
        Duration::from_millis(50),
        || b1_up(&s.node) == false,
    )
    .unwrap();
    assert_eq!(tally(&s.client, 6), counts(&[("b2", 6)]));

    // The server returns: the check goes up and b1 serves again.
    s.servers.insert(0, serve_http(&s.lab, &s.b1, "b1"));
    wait_until(
        "b1 back up",
        Duration::from_secs(10),
        Duration::from_millis(50),
        || b1_up(&s.node) == true,
    )
    .unwrap();
    assert_eq!(tally(&s.client, 4), counts(&[("b1", 2), ("b2", 2)]));
}

/// Connects to the VIP, records its local port in `argv[1]`, waits until `argv[2]` exists, then
/// sends one request on the same connection and writes the reply's body to `argv[3]`.
const HELD_CLIENT: &str = r#"
import os, socket, sys, time
s = socket.create_connection((sys.argv[4], 80), timeout=5)
open(sys.argv[1], "w").write(str(s.getsockname()[1]))
while not os.path.exists(sys.argv[2]):
    time.sleep(0.02)
s.sendall(b"GET /who HTTP/1.0\r\n\r\n")
reply = b""
while True:
    chunk = s.recv(4096)
    if not chunk:
        break
    reply += chunk
open(sys.argv[3], "w").write(reply.split(b"\r\n\r\n", 1)[1].decode())
"#;

#[test]
fn a_drained_backend_keeps_its_open_connection() {
    let mut svc = Service {
        scheduler: "round_robin",
        persistence: None,
        weights: [1, 1],
        check_b1: false,
    };
    let s = setup(&svc);
    let (port_file, go, reply) = (
        s.lab.artifact_path("held-port"),
        s.lab.artifact_path("held-go"),
        s.lab.artifact_path("held-reply"),
    );
    let held = s
        .client
        .process(
            "held",
            &[
                "python3",
                "-c",
                HELD_CLIENT,
                port_file.to_str().unwrap(),
                go.to_str().unwrap(),
                reply.to_str().unwrap(),
                VIP,
            ],
        )
        .spawn();
    wait_until(
        "held connection open",
        Duration::from_secs(5),
        Duration::from_millis(20),
        || std::fs::read_to_string(&port_file).is_ok_and(|p| !p.is_empty()),
    )
    .unwrap();
    let port = std::fs::read_to_string(&port_file).unwrap();
    let ct = s.node.json(&["conntrack", "--json"]);
    let flow = ct["flows"]
        .as_array()
        .unwrap()
        .iter()
        .find(|f| f["client"].as_str().unwrap().ends_with(&format!(":{port}")))
        .unwrap_or_else(|| panic!("no flow for port {port}: {ct}"))
        .clone();
    let held_on = if flow["backend"].as_str().unwrap().starts_with("198.18.21.2") {
        0
    } else {
        1
    };
    let (held_name, other_name) = [("b1", "b2"), ("b2", "b1")][held_on];

    // Drain the backend holding the connection: new flows go to the other one only.
    svc.weights[held_on] = 0;
    reload(&s.node, &svc);
    assert_eq!(tally(&s.client, 4), counts(&[(other_name, 4)]));

    // The open connection still reaches its (drained) backend.
    std::fs::write(&go, "").unwrap();
    wait_until(
        "reply on the held connection",
        Duration::from_secs(5),
        Duration::from_millis(20),
        || std::fs::read_to_string(&reply).is_ok_and(|r| !r.is_empty()),
    )
    .unwrap();
    assert_eq!(std::fs::read_to_string(&reply).unwrap(), held_name);
    held.kill();
}
