//! IPv6 through the fast path end to end: an IPv6 client reaches an IPv6 VIP in front of two
//! IPv6 backends, in NAT mode and in FullNAT mode (an IPv6 pool), through the AF_XDP workers:
//! - TCP (python3 -m http.server on `::`) and UDP (an echo server), round robin spreading new
//!   flows over both backends, and UDP services with the Maglev and least-connections
//!   schedulers doing the same;
//! - `appctl service` and `appctl conntrack` show the IPv6 service and its flows;
//! - path MTU through the translation: b2 sits behind a router whose routes onward carry a
//!   locked MTU of 1280; the client's full-sized segments of a 1 MiB upload to b2 meet Packet
//!   Too Big from the router, which the workers translate back to the client (counted in
//!   `icmp_translated`, and the client's route cache learns 1280); the upload and a 4 MiB
//!   download from each backend complete;
//! - a backend whose health check fails gets no new flows.
//!
//! Addresses: 2001:db8::/32 only. The kernel of the appliance's namespace does not forward
//! IPv6: what reaches a backend went through the workers (the IPv6 steering program hands them
//! the VIP's, the pool's and the backends' frames).

use std::collections::BTreeMap;
use std::time::Duration;

use netns_tests::peers::{full_checksums, serve_http6};
use netns_tests::{wait_for_log, wait_until, Appliance, DataplaneHeader, Lab, Netns, Proc};

const VIP: &str = "2001:db8:30::1";
const POOL: &str = "2001:db8:40::1";
const CLIENT: &str = "2001:db8:20::2";
/// Port of the peers' UDP echo and TCP sink (`peers/v6_peer.py`).
const PEER_PORT: u16 = 7007;

fn peer_script(name: &str) -> String {
    format!("{}/tests/peers/{name}", env!("CARGO_MANIFEST_DIR"))
}

fn config(fullnat: bool) -> String {
    let header = DataplaneHeader {
        node: "lb",
        shutdown_grace: Some("3s"),
        interfaces: &[
            ("eth0", "clients"),
            ("eth1", "backend b1"),
            ("eth2", "router to b2"),
        ],
        workers: 2,
        queues: 2,
    };
    let (mode, pool) = if fullnat {
        (
            "mode = \"fullnat\"\npool = \"p6\"\n",
            format!("[[snat.pool]]\nname = \"p6\"\naddresses = [\"{POOL}\"]\n"),
        )
    } else {
        ("", String::new())
    };
    format!(
        r#"{header}conntrack_per_worker = 4096
conntrack_v6_per_worker = 4096

{pool}
[checks.b1]
type = "http"
target = "[2001:db8:21::2]:8080"
path = "/who"
interval = "200ms"
timeout = "500ms"
rise = 2
fall = 2

[[service]]
name = "web6"
vip = "{VIP}"
port = 80
protocol = "tcp"
scheduler = "round_robin"
{mode}backends = [
  {{ address = "2001:db8:21::2", port = 8080, check = "b1" }},
  {{ address = "2001:db8:23::2", port = 8080 }},
]

[[service]]
name = "echo6"
vip = "{VIP}"
port = 7
protocol = "udp"
scheduler = "round_robin"
{mode}backends = [
  {{ address = "2001:db8:21::2", port = {PEER_PORT} }},
  {{ address = "2001:db8:23::2", port = {PEER_PORT} }},
]

# The other schedulers, over the same backends.
[[service]]
name = "echo6-maglev"
vip = "{VIP}"
port = 17
protocol = "udp"
scheduler = "maglev"
{mode}backends = [
  {{ address = "2001:db8:21::2", port = {PEER_PORT} }},
  {{ address = "2001:db8:23::2", port = {PEER_PORT} }},
]

[[service]]
name = "echo6-lc"
vip = "{VIP}"
port = 27
protocol = "udp"
scheduler = "least_conn"
{mode}backends = [
  {{ address = "2001:db8:21::2", port = {PEER_PORT} }},
  {{ address = "2001:db8:23::2", port = {PEER_PORT} }},
]

# Behind the router with the smaller MTU only.
[[service]]
name = "sink6"
vip = "{VIP}"
port = 9
protocol = "tcp"
{mode}backends = [
  {{ address = "2001:db8:23::2", port = {PEER_PORT} }},
]
"#
    )
}

struct Bed {
    lab: Lab,
    client: Netns,
    node: Appliance,
    /// b1's HTTP server, stopped to fail its check.
    b1_http: Proc,
    _servers: Vec<Proc>,
    _ns: Vec<Netns>,
}

/// A backend `name` on `ns`: HTTP on 8080, UDP echo and TCP sink on [`PEER_PORT`].
fn servers(lab: &Lab, ns: &Netns, name: &str, addr: &str) -> (Proc, Proc) {
    full_checksums(ns, "eth0");
    let http = serve_http6(lab, ns, name);
    let peer = ns
        .process(
            &format!("peer-{name}"),
            &[
                "python3",
                &peer_script("v6_peer.py"),
                name,
                addr,
                &PEER_PORT.to_string(),
            ],
        )
        .spawn();
    wait_for_log(&peer, "ready", Duration::from_secs(10)).unwrap();
    (http, peer)
}

fn setup(fullnat: bool) -> Bed {
    let lab = Lab::for_current_test();
    let (lb, client, b1, r, b2) = (
        lab.netns("lb"),
        lab.netns("cl"),
        lab.netns("b1"),
        lab.netns("r"),
        lab.netns("b2"),
    );
    lab.veth_builder(&lb, "eth0", &client, "eth0")
        .queues(2)
        .create();
    lb.add_addr("eth0", "2001:db8:20::1/64");
    lb.add_addr("eth0", &format!("{VIP}/128"));
    client.add_addr("eth0", &format!("{CLIENT}/64"));
    client.add_route("2001:db8:30::/64 via 2001:db8:20::1");
    full_checksums(&client, "eth0");

    lab.veth_builder(&lb, "eth1", &b1, "eth0")
        .queues(2)
        .create();
    lb.add_addr("eth1", "2001:db8:21::1/64");
    b1.add_addr("eth0", "2001:db8:21::2/64");
    b1.add_route("default via 2001:db8:21::1");

    // b2 is behind router r, whose routes onward (to b2, and back to the appliance) carry an
    // MTU of 1280 while every link is 1500: both ends advertise an MSS of 1440, so the first
    // full-sized segment each way meets Packet Too Big from r. The MTU is locked: Linux
    // forwards by the device's MTU and honours a route's only when it is. The route to b2 is a
    // host route: beside the connected /64 (metric 256) a /64 of the default metric would
    // never be chosen.
    lab.veth_builder(&lb, "eth2", &r, "eth0").queues(2).create();
    lab.veth(&r, "eth1", &b2, "eth0");
    lb.add_addr("eth2", "2001:db8:22::1/64");
    r.add_addr("eth0", "2001:db8:22::2/64");
    r.add_addr("eth1", "2001:db8:23::1/64");
    b2.add_addr("eth0", "2001:db8:23::2/64");
    b2.add_route("default via 2001:db8:23::1");
    r.sysctl("net.ipv6.conf.all.forwarding", "1");
    r.ip_ok(&[
        "-6",
        "route",
        "replace",
        "2001:db8:23::2/128",
        "dev",
        "eth1",
        "mtu",
        "lock",
        "1280",
    ]);
    r.ip_ok(&[
        "-6",
        "route",
        "replace",
        "default",
        "via",
        "2001:db8:22::1",
        "dev",
        "eth0",
        "mtu",
        "lock",
        "1280",
    ]);
    full_checksums(&r, "eth0");
    full_checksums(&r, "eth1");
    lb.add_route("2001:db8:23::/64 via 2001:db8:22::2");

    let (b1_http, b1_peer) = servers(&lab, &b1, "b1", "2001:db8:21::2");
    let (b2_http, b2_peer) = servers(&lab, &b2, "b2", "2001:db8:23::2");
    // The kernel must not forward: what reaches the backends went through the fast path.
    lb.sysctl("net.ipv6.conf.all.forwarding", "0");
    lb.sysctl("net.ipv4.ip_forward", "0");

    let mut node = Appliance::new(&lab, &lb, "lb", &config(fullnat));
    node.start();
    wait_until(
        "data plane running, every IPv6 backend up and its next hop resolved",
        Duration::from_secs(20),
        Duration::from_millis(100),
        || {
            let st = node.json(&["dataplane", "--json"]);
            let svc = node.json(&["service", "--json"]);
            st["state"] == "running"
                && st["unresolved_neighbours"].as_array().unwrap().is_empty()
                && svc
                    .as_array()
                    .unwrap()
                    .iter()
                    .flat_map(|s| s["backends"].as_array().unwrap())
                    .all(|b| b["up"] == true)
        },
    )
    .unwrap_or_else(|e| {
        let st = node.appctl(&["dataplane"]);
        let svc = node.appctl(&["service"]);
        panic!(
            "{e}\n{}\n{}",
            String::from_utf8_lossy(&st.stdout),
            String::from_utf8_lossy(&svc.stdout)
        )
    });
    client.assert_ping("2001:db8:20::1");
    Bed {
        lab,
        client,
        node,
        b1_http,
        _servers: vec![b1_peer, b2_http, b2_peer],
        _ns: vec![lb, b1, r, b2],
    }
}

fn get(client: &Netns, path: &str) -> Option<String> {
    let out = client.exec(&[
        "curl",
        "-sS",
        "-g",
        "--max-time",
        "5",
        &format!("http://[{VIP}]{path}"),
    ]);
    out.status
        .success()
        .then(|| String::from_utf8_lossy(&out.stdout).into_owned())
}

fn status(node: &Appliance) -> String {
    let mut s = String::new();
    for what in ["dataplane", "service", "conntrack"] {
        s += &String::from_utf8_lossy(&node.appctl(&[what]).stdout);
    }
    s
}

/// `n` new TCP connections to the VIP; the answers by backend.
fn http_spread(bed: &Bed, n: u32) -> BTreeMap<String, u32> {
    let mut seen = BTreeMap::new();
    for _ in 0..n {
        let body = get(&bed.client, "/who").unwrap_or_else(|| {
            panic!(
                "no answer from [{VIP}]:80; seen {seen:?}\n{}",
                status(&bed.node)
            )
        });
        *seen.entry(body).or_insert(0) += 1;
    }
    seen
}

/// One datagram from each of `n` sockets (each a new flow) to the VIP's echo service; the
/// answering backends' names.
const UDP_SPREAD: &str = "
import socket, sys
names = []
for i in range(int(sys.argv[2])):
    s = socket.socket(socket.AF_INET6, socket.SOCK_DGRAM)
    s.settimeout(2)
    s.connect((sys.argv[1], int(sys.argv[3]) if len(sys.argv) > 3 else 7))
    for _ in range(3):
        try:
            s.send(b'hello %d' % i)
            data = s.recv(1000).decode()
            assert data.endswith('hello %d' % i), data
            names.append(data.split()[0])
            break
        except socket.timeout:
            pass
    else:
        names.append('none')
print(' '.join(names))
";

/// A 1 MiB upload to the sink behind the router: `b2 got 1048576` once the client's path MTU
/// came down to what Packet Too Big said.
const UPLOAD: &str = "
import socket, sys
n = 1 << 20
s = socket.create_connection((sys.argv[1], 9), timeout=20)
s.sendall(b'%d\\n' % n + b'u' * n)
s.shutdown(socket.SHUT_WR)
print(s.makefile().readline().strip())
";

fn run(fullnat: bool) {
    let bed = setup(fullnat);
    let client = bed.client.clone();

    // TCP: round robin over both backends (each of the two workers keeps its own turn, so
    // the split is even per worker, not overall).
    let seen = http_spread(&bed, 8);
    assert!(seen.get("b1").is_some_and(|n| *n >= 2), "{seen:?}");
    assert!(seen.get("b2").is_some_and(|n| *n >= 2), "{seen:?}");

    // UDP: new flows alternate between the backends.
    let out = client.run_ok(&["python3", "-c", UDP_SPREAD, VIP, "8"]);
    let names: Vec<&str> = out.split_whitespace().collect();
    assert!(!names.contains(&"none"), "{out}\n{}", status(&bed.node));
    assert!(names.iter().filter(|n| **n == "b1").count() >= 2, "{out}");
    assert!(names.iter().filter(|n| **n == "b2").count() >= 2, "{out}");

    // Maglev (client address and port hashed: 16 flows from one client land on both with
    // odds of 2^-15 against) and least connections (each worker's flows alternate while the
    // earlier ones live).
    for port in ["17", "27"] {
        let out = client.run_ok(&["python3", "-c", UDP_SPREAD, VIP, "16", port]);
        let names: Vec<&str> = out.split_whitespace().collect();
        assert!(
            !names.contains(&"none"),
            "{port}: {out}\n{}",
            status(&bed.node)
        );
        for b in ["b1", "b2"] {
            assert!(names.contains(&b), "port {port}: {out}");
        }
    }

    // What the operator sees.
    let svc = bed.node.json(&["service", "--json"]);
    let web = svc
        .as_array()
        .unwrap()
        .iter()
        .find(|s| s["name"] == "web6")
        .unwrap_or_else(|| panic!("{svc}"));
    assert_eq!(web["vip"], VIP, "{svc}");
    assert_eq!(
        web["mode"],
        if fullnat { "fullnat" } else { "nat" },
        "{svc}"
    );
    let human = String::from_utf8_lossy(&bed.node.appctl(&["service"]).stdout).into_owned();
    assert!(human.contains(&format!("web6 [{VIP}]:80/tcp")), "{human}");
    assert!(human.contains("[2001:db8:23::2]:8080"), "{human}");
    let ct = bed.node.json(&["conntrack", "--json"]);
    assert!(ct["used_v6"].as_u64().unwrap() >= 1, "{ct}");
    assert!(ct["capacity_v6"].as_u64().unwrap() == 2 * 4096, "{ct}");
    let flows = ct["flows"].as_array().unwrap();
    let ours = flows
        .iter()
        .find(|f| {
            f["client"]
                .as_str()
                .unwrap()
                .starts_with(&format!("[{CLIENT}]:"))
        })
        .unwrap_or_else(|| panic!("{ct}"));
    assert!(
        ours["vip"]
            .as_str()
            .unwrap()
            .starts_with(&format!("[{VIP}]:")),
        "{ct}"
    );
    if fullnat {
        // The IPv6 pool in `appctl snat`, with the UDP flows' ports in use (published by the
        // workers every 200 ms).
        wait_until(
            "the IPv6 pool's ports in use shown",
            Duration::from_secs(5),
            Duration::from_millis(100),
            || {
                let snat = bed.node.json(&["snat", "--json"]);
                snat.as_array().unwrap().iter().any(|p| {
                    p["name"] == "p6"
                        && p["addresses"][0]["address"] == POOL
                        && p["addresses"][0]["udp"].as_u64().unwrap() >= 1
                })
            },
        )
        .unwrap_or_else(|e| panic!("{e}\n{}", bed.node.json(&["snat", "--json"])));
        assert_eq!(ours["kind"], "fullnat", "{ct}");
        assert!(
            ours["source"]
                .as_str()
                .unwrap()
                .starts_with(&format!("[{POOL}]:")),
            "{ct}"
        );
    }
    let st = bed.node.json(&["dataplane", "--json"]);
    for reason in ["bad_payload_length", "extension_header"] {
        assert!(
            st["totals"].get(format!("drops_{reason}")).is_some(),
            "{reason} not counted: {st}"
        );
    }

    // A large upload to b2, behind the router.
    let translated = |node: &Appliance| {
        node.json(&["dataplane", "--json"])["totals"]["icmp_translated"]
            .as_u64()
            .unwrap()
    };
    let before = translated(&bed.node);
    let out = client.run_ok(&["python3", "-c", UPLOAD, VIP]);
    assert_eq!(out.trim(), "b2 got 1048576", "{}", status(&bed.node));
    assert!(
        translated(&bed.node) > before,
        "no Packet Too Big translated\n{}",
        status(&bed.node)
    );
    let cache = client.run_ok(&["ip", "-6", "route", "get", VIP]);
    assert!(cache.contains("mtu 1280"), "{cache}");
    // Large downloads from both backends (b2's own segments meet r's MTU too).
    for _ in 0..2 {
        let out = client.exec(&[
            "curl",
            "-sS",
            "-g",
            "--max-time",
            "20",
            "-o",
            "/dev/null",
            "-w",
            "%{size_download}",
            &format!("http://[{VIP}]/big"),
        ]);
        assert!(out.status.success(), "{}", status(&bed.node));
        assert_eq!(String::from_utf8_lossy(&out.stdout), (4 << 20).to_string());
    }

    // b1's check fails: no new flows for it.
    bed.b1_http.kill();
    wait_until(
        "b1 marked down",
        Duration::from_secs(10),
        Duration::from_millis(100),
        || {
            let svc = bed.node.json(&["service", "--json"]);
            svc.as_array()
                .unwrap()
                .iter()
                .find(|s| s["name"] == "web6")
                .is_some_and(|s| s["backends"][0]["up"] == false)
        },
    )
    .unwrap();
    let seen = http_spread(&bed, 6);
    assert_eq!(seen.get("b2"), Some(&6), "{seen:?}");
    bed.lab.write_artifact("status.txt", status(&bed.node));
}

#[test]
fn nat_service_over_ipv6() {
    run(false);
}

#[test]
fn fullnat_service_over_ipv6_with_an_ipv6_pool() {
    run(true);
}
