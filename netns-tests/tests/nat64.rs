//! NAT64 end to end: an IPv6 client reaches an IPv6 VIP whose backends are IPv4 (FullNAT from
//! an IPv4 pool, RFC 6146 / RFC 7915 translation in the AF_XDP workers):
//! - HTTP (python3 -m http.server) spread over both backends, UDP echo, ping6 of the VIP;
//! - a 4 MiB download from each backend;
//! - path MTU through the translation: b2 sits behind an IPv4 router whose route onward to b2
//!   carries a locked MTU of 1280 while every link is 1500. The client's full-sized segments
//!   (1500 bytes of IPv6, 1480 of IPv4 with Don't Fragment once translated) meet the router's
//!   ICMPv4 fragmentation needed (MTU 1280), which the appliance translates into an ICMPv6
//!   Packet Too Big (MTU 1300) from the router's address under `nat64_prefix`; a 1 MiB
//!   upload to b2 completes and `icmp_translated` grows;
//! - `appctl service` and `appctl conntrack` show the service and its flows, `appctl
//!   dataplane` the NAT64 counters.
//!
//! Addresses: 2001:db8::/32 and 198.18.0.0/15 only. The kernel of the appliance's namespace
//! forwards neither family: what reaches a backend went through the workers.

use std::collections::BTreeMap;
use std::time::Duration;

use netns_tests::peers::{full_checksums, serve_http6};
use netns_tests::{wait_for_log, wait_until, Appliance, DataplaneHeader, Lab, Netns, Proc};

const VIP: &str = "2001:db8:30::1";
const CLIENT: &str = "2001:db8:20::2";
const POOL: &str = "198.19.0.1";
const PREFIX: &str = "2001:db8:64::/96";
const PEER_PORT: u16 = 7007;

fn peer_script(name: &str) -> String {
    format!("{}/tests/peers/{name}", env!("CARGO_MANIFEST_DIR"))
}

fn config() -> String {
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
    format!(
        r#"{header}conntrack_per_worker = 4096
conntrack_v6_per_worker = 4096
nat64_prefix = "{PREFIX}"

[[snat.pool]]
name = "v4"
addresses = ["{POOL}"]

[[service]]
name = "web64"
vip = "{VIP}"
port = 80
protocol = "tcp"
scheduler = "round_robin"
mode = "fullnat"
pool = "v4"
backends = [
  {{ address = "198.18.21.2", port = 8080 }},
  {{ address = "198.18.23.2", port = 8080 }},
]

[[service]]
name = "echo64"
vip = "{VIP}"
port = 7
protocol = "udp"
scheduler = "round_robin"
mode = "fullnat"
pool = "v4"
backends = [
  {{ address = "198.18.21.2", port = {PEER_PORT} }},
  {{ address = "198.18.23.2", port = {PEER_PORT} }},
]

[[service]]
name = "ping64"
vip = "{VIP}"
protocol = "icmp"
mode = "fullnat"
pool = "v4"
backends = [{{ address = "198.18.21.2" }}]

# Behind the router with the smaller MTU only.
[[service]]
name = "sink64"
vip = "{VIP}"
port = 9
protocol = "tcp"
mode = "fullnat"
pool = "v4"
backends = [{{ address = "198.18.23.2", port = {PEER_PORT} }}]
"#
    )
}

struct Bed {
    _lab: Lab,
    client: Netns,
    node: Appliance,
    /// The router in front of b2 (its ICMP counters explain a failure).
    router: Netns,
    _servers: Vec<Proc>,
    _ns: Vec<Netns>,
}

/// A backend `name` at IPv4 `addr`: HTTP on 8080, UDP echo and TCP sink on [`PEER_PORT`]
/// (the IPv6 peer bound to the IPv4-mapped address: IPv4 on the wire).
fn servers(lab: &Lab, ns: &Netns, name: &str, addr: &str) -> Vec<Proc> {
    full_checksums(ns, "eth0");
    let http = serve_http6(lab, ns, name);
    let mapped = format!("::ffff:{addr}");
    let peer = ns
        .process(
            &format!("peer-{name}"),
            &[
                "python3",
                &peer_script("v6_peer.py"),
                name,
                &mapped,
                &PEER_PORT.to_string(),
            ],
        )
        .spawn();
    wait_for_log(&peer, "ready", Duration::from_secs(10)).unwrap();
    vec![http, peer]
}

fn setup() -> Bed {
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
    client.add_route("2001:db8:64::/96 via 2001:db8:20::1");
    full_checksums(&client, "eth0");

    lab.veth_builder(&lb, "eth1", &b1, "eth0")
        .queues(2)
        .create();
    lb.add_addr("eth1", "198.18.21.1/24");
    b1.add_addr("eth0", "198.18.21.2/24");
    b1.add_route("default via 198.18.21.1");

    // b2 is behind router r, whose route onward to b2 carries a locked MTU of 1280 while
    // every link is 1500: the client's full-sized segments, translated, meet fragmentation
    // needed from r. Its route back is locked at 1280 too, so b2's own segments shrink
    // (that error stays between r and b2).
    lab.veth_builder(&lb, "eth2", &r, "eth0").queues(2).create();
    lab.veth(&r, "eth1", &b2, "eth0");
    lb.add_addr("eth2", "198.18.22.1/24");
    r.add_addr("eth0", "198.18.22.2/24");
    r.add_addr("eth1", "198.18.23.1/24");
    b2.add_addr("eth0", "198.18.23.2/24");
    b2.add_route("default via 198.18.23.1");
    r.sysctl("net.ipv4.ip_forward", "1");
    r.ip_ok(&[
        "route",
        "replace",
        "198.18.23.0/24",
        "dev",
        "eth1",
        "mtu",
        "lock",
        "1280",
    ]);
    r.ip_ok(&[
        "route",
        "replace",
        "default",
        "via",
        "198.18.22.1",
        "dev",
        "eth0",
        "mtu",
        "lock",
        "1280",
    ]);
    full_checksums(&r, "eth0");
    full_checksums(&r, "eth1");
    lb.add_route("198.18.23.0/24 via 198.18.22.2");

    let mut servers_all = servers(&lab, &b1, "b1", "198.18.21.2");
    servers_all.extend(servers(&lab, &b2, "b2", "198.18.23.2"));
    lb.sysctl("net.ipv6.conf.all.forwarding", "0");
    lb.sysctl("net.ipv4.ip_forward", "0");

    let mut node = Appliance::new(&lab, &lb, "lb", &config());
    node.start();
    wait_until(
        "data plane running, every backend up and its next hop resolved",
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
    .unwrap_or_else(|e| panic!("{e}\n{}", status(&node)));
    client.assert_ping("2001:db8:20::1");
    Bed {
        _lab: lab,
        client,
        node,
        router: r,
        _servers: servers_all,
        _ns: vec![lb, b1, b2],
    }
}

fn status(node: &Appliance) -> String {
    let mut s = String::new();
    for what in ["dataplane", "service", "conntrack"] {
        s += &String::from_utf8_lossy(&node.appctl(&[what]).stdout);
    }
    s
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

fn counter(node: &Appliance, name: &str) -> u64 {
    node.json(&["dataplane", "--json"])["totals"][name]
        .as_u64()
        .unwrap_or(0)
}

const UDP_SPREAD: &str = "
import socket, sys
names = []
for i in range(int(sys.argv[2])):
    s = socket.socket(socket.AF_INET6, socket.SOCK_DGRAM)
    s.settimeout(2)
    s.connect((sys.argv[1], 7))
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

const UPLOAD: &str = "
import socket, sys
n = 1 << 20
s = socket.create_connection((sys.argv[1], 9), timeout=20)
s.sendall(b'%d\\n' % n + b'u' * n)
s.shutdown(socket.SHUT_WR)
print(s.makefile().readline().strip())
";

#[test]
fn ipv6_clients_to_ipv4_backends() {
    let bed = setup();
    let client = bed.client.clone();

    // HTTP over both backends (round robin per worker).
    let mut seen = BTreeMap::new();
    for _ in 0..8 {
        let body = get(&client, "/who")
            .unwrap_or_else(|| panic!("no answer; seen {seen:?}\n{}", status(&bed.node)));
        *seen.entry(body).or_insert(0u32) += 1;
    }
    assert!(seen.get("b1").is_some_and(|n| *n >= 2), "{seen:?}");
    assert!(seen.get("b2").is_some_and(|n| *n >= 2), "{seen:?}");

    // UDP echo through the translation.
    let out = client.run_ok(&["python3", "-c", UDP_SPREAD, VIP, "8"]);
    let names: Vec<&str> = out.split_whitespace().collect();
    assert!(!names.contains(&"none"), "{out}\n{}", status(&bed.node));
    assert!(names.contains(&"b1") && names.contains(&"b2"), "{out}");

    // ping6 of the VIP: ICMPv6 echo to ICMP echo and back.
    let ping = client.exec(&["ping", "-6", "-c", "3", "-i", "0.2", "-W", "2", VIP]);
    assert!(
        ping.status.success(),
        "{}\n{}",
        String::from_utf8_lossy(&ping.stdout),
        status(&bed.node)
    );

    // What the operator sees.
    let svc = bed.node.json(&["service", "--json"]);
    let web = svc
        .as_array()
        .unwrap()
        .iter()
        .find(|s| s["name"] == "web64")
        .unwrap_or_else(|| panic!("{svc}"));
    assert_eq!(
        (web["vip"].as_str(), web["mode"].as_str()),
        (Some(VIP), Some("nat64")),
        "{svc}"
    );
    assert_eq!(web["backends"][0]["address"], "198.18.21.2", "{svc}");
    let human = String::from_utf8_lossy(&bed.node.appctl(&["service"]).stdout).into_owned();
    assert!(
        human.contains(&format!("web64 [{VIP}]:80/tcp fullnat/nat64")),
        "{human}"
    );
    assert!(human.contains("198.18.23.2:8080"), "{human}");
    let ct = bed.node.json(&["conntrack", "--json"]);
    let flows = ct["flows"].as_array().unwrap();
    let ours = flows
        .iter()
        .find(|f| f["kind"] == "nat64")
        .unwrap_or_else(|| panic!("no NAT64 flow: {ct}"));
    assert!(
        ours["client"]
            .as_str()
            .unwrap()
            .starts_with(&format!("[{CLIENT}]:")),
        "{ct}"
    );
    assert!(
        ours["vip"]
            .as_str()
            .unwrap()
            .starts_with(&format!("[{VIP}]:")),
        "{ct}"
    );
    assert!(
        ours["source"]
            .as_str()
            .unwrap()
            .starts_with(&format!("{POOL}:")),
        "{ct}"
    );
    assert!(
        ours["backend"].as_str().unwrap().starts_with("198.18.2"),
        "{ct}"
    );
    let human = String::from_utf8_lossy(&bed.node.appctl(&["conntrack"]).stdout).into_owned();
    assert!(human.contains("(nat64)"), "{human}");
    assert!(
        counter(&bed.node, "nat64_to_ipv4") > 0,
        "{}",
        status(&bed.node)
    );
    assert!(
        counter(&bed.node, "nat64_to_ipv6") > 0,
        "{}",
        status(&bed.node)
    );

    // The upload to b2 meets r's MTU: fragmentation needed, translated to Packet Too Big. First,
    // before a download teaches b2 the path MTU towards the pool (Linux then advertises an MSS
    // that fits it, and the client's segments would never be too big).
    let before = counter(&bed.node, "icmp_translated");
    let out = client.run_ok(&["python3", "-c", UPLOAD, VIP]);
    assert_eq!(out.trim(), "b2 got 1048576", "{}", status(&bed.node));
    let after = counter(&bed.node, "icmp_translated");
    let icmp_out = bed.router.run_ok(&["cat", "/proc/net/snmp"]);
    let client_route = client.run_ok(&["ip", "-6", "route", "get", VIP]);
    assert!(
        after > before,
        "no ICMP error translated ({before} -> {after})\nrouter: {icmp_out}\nclient: {client_route}\n{}",
        status(&bed.node)
    );
    // The client learnt the path MTU from the router's address under the NAT64 prefix.
    let cache = client.run_ok(&["ip", "-6", "route", "get", VIP]);
    assert!(cache.contains("mtu 1300"), "{cache}");
    // Large downloads from both backends.
    for _ in 0..2 {
        let out = client.exec(&[
            "curl",
            "-sS",
            "-g",
            "--max-time",
            "30",
            "-o",
            "/dev/null",
            "-w",
            "%{size_download}",
            &format!("http://[{VIP}]/big"),
        ]);
        assert!(out.status.success(), "{}", status(&bed.node));
        assert_eq!(String::from_utf8_lossy(&out.stdout), (4 << 20).to_string());
    }

    bed._lab.write_artifact("status.txt", status(&bed.node));
}
