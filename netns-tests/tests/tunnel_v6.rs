//! Tunnel mode over IPv6 (RFC 2473) through the real daemon: the client's packets to an IPv6
//! VIP reach backends behind a router wrapped in IPv6, and the backends (holding the VIP on
//! `lo`) answer the client themselves by another way, never through the appliance.
//!
//! ```text
//!   cl ── eth0 2001:db8:20::/64 ── lb ── eth1 2001:db8:21::/64 ── r ── b1 (2001:db8:22::2)
//!    └─── eth1 2001:db8:24::/64 (the replies' way back) ──────────┘└─ b2 (2001:db8:23::2)
//! ```
//!
//! The kernel here has no `ip6_tunnel` module: the backends take the outer header off with the
//! drill's XDP decapsulator (`drill::cluster::decap`), as that module would, and the rest is
//! their own stack (the VIP on `lo`, python's HTTP server, a TCP sink). Proven here:
//! - HTTP to the VIP spreads over both backends (Maglev, 16 connections);
//! - only the client's direction crosses the fast path (`ipip_encapsulated` counts every
//!   packet it sent), the flows are one-way `tunnel` flows with the outer source shown;
//! - path MTU: a 1 MiB upload's full-sized segments do not fit the link once wrapped; the
//!   appliance answers Packet Too Big (1460) from the VIP and the upload completes;
//! - a 4 MiB download comes back directly from a backend.

use std::collections::BTreeMap;
use std::time::Duration;

use appliance::drill::cluster::decap;
use netns_tests::peers::{full_checksums, serve_http6};
use netns_tests::{wait_for_log, wait_until, Appliance, DataplaneHeader, Lab, Netns, Proc};

const VIP: &str = "2001:db8:30::1";
const CLIENT: &str = "2001:db8:20::2";
const SOURCE: &str = "2001:db8:21::1";
const SINK_PORT: &str = "7007";

fn peer_script(name: &str) -> String {
    format!("{}/tests/peers/{name}", env!("CARGO_MANIFEST_DIR"))
}

fn config() -> String {
    let header = DataplaneHeader {
        node: "lb",
        shutdown_grace: Some("3s"),
        interfaces: &[("eth0", "clients"), ("eth1", "to the backends' router")],
        workers: 2,
        queues: 2,
    };
    format!(
        r#"{header}conntrack_v6_per_worker = 4096
cluster_seed = 11

[[service]]
name = "web6"
vip = "{VIP}"
port = 8080
protocol = "tcp"
mode = "tunnel"
tunnel_source = "{SOURCE}"
backends = [{{ address = "2001:db8:22::2" }}, {{ address = "2001:db8:23::2" }}]

[[service]]
name = "sink6"
vip = "{VIP}"
port = {SINK_PORT}
protocol = "tcp"
mode = "tunnel"
backends = [{{ address = "2001:db8:23::2" }}]
"#
    )
}

fn status(node: &Appliance) -> String {
    let mut s = String::new();
    for what in ["dataplane", "service", "conntrack"] {
        s += &String::from_utf8_lossy(&node.appctl(&[what]).stdout);
    }
    s
}

struct Bed {
    _lab: Lab,
    node: Appliance,
    client: Netns,
    _ns: Vec<Netns>,
    _procs: Vec<Proc>,
}

fn setup() -> Bed {
    let lab = Lab::for_current_test();
    let (lb, cl, r, b1, b2) = (
        lab.netns("lb"),
        lab.netns("cl"),
        lab.netns("r"),
        lab.netns("b1"),
        lab.netns("b2"),
    );
    lab.veth_builder(&lb, "eth0", &cl, "eth0")
        .queues(2)
        .create();
    lb.add_addr("eth0", "2001:db8:20::1/64");
    cl.add_addr("eth0", &format!("{CLIENT}/64"));
    cl.ip_ok(&[
        "-6",
        "route",
        "add",
        &format!("{VIP}/128"),
        "via",
        "2001:db8:20::1",
    ]);
    full_checksums(&cl, "eth0");
    // The way back: the backends reach the client through r, not through the appliance.
    lab.veth(&cl, "eth1", &r, "eth0");
    cl.add_addr("eth1", "2001:db8:24::2/64");
    r.add_addr("eth0", "2001:db8:24::1/64");
    r.ip_ok(&[
        "-6",
        "route",
        "add",
        "2001:db8:20::/64",
        "via",
        "2001:db8:24::2",
    ]);
    full_checksums(&cl, "eth1");

    lab.veth_builder(&lb, "eth1", &r, "eth1").queues(2).create();
    lb.add_addr("eth1", &format!("{SOURCE}/64"));
    r.add_addr("eth1", "2001:db8:21::2/64");
    // The route's preferred source is the outer source of services without `tunnel_source`.
    for net in ["2001:db8:22::/64", "2001:db8:23::/64"] {
        lb.ip_ok(&[
            "-6",
            "route",
            "add",
            net,
            "via",
            "2001:db8:21::2",
            "src",
            SOURCE,
        ]);
    }
    r.sysctl("net.ipv6.conf.all.forwarding", "1");

    let mut procs = Vec::new();
    for (b, name, r_if, net) in [(&b1, "b1", "eth2", "22"), (&b2, "b2", "eth3", "23")] {
        lab.veth(&r, r_if, b, "eth0");
        r.add_addr(r_if, &format!("2001:db8:{net}::1/64"));
        b.add_addr("eth0", &format!("2001:db8:{net}::2/64"));
        b.ip_ok(&[
            "-6",
            "route",
            "add",
            "default",
            "via",
            &format!("2001:db8:{net}::1"),
        ]);
        // What a real tunnel-mode backend has: the VIP on `lo`, the tunnel taken apart.
        b.add_addr("lo", &format!("{VIP}/128"));
        full_checksums(b, "eth0");
        decap::attach(b.name(), "eth0").expect("the decapsulator attaches");
        procs.push(serve_http6(&lab, b, name));
    }
    let sink = b2
        .process(
            "sink",
            &["python3", &peer_script("v6_peer.py"), "b2", VIP, SINK_PORT],
        )
        .spawn();
    wait_for_log(&sink, "ready", Duration::from_secs(10)).unwrap();
    procs.push(sink);

    lb.sysctl("net.ipv6.conf.all.forwarding", "0");
    let mut node = Appliance::new(&lab, &lb, "lb", &config());
    node.start();
    node.wait_dataplane_running();
    cl.assert_ping("2001:db8:20::1");
    Bed {
        _lab: lab,
        node,
        client: cl,
        _ns: vec![lb, r, b1, b2],
        _procs: procs,
    }
}

fn curl(client: &Netns, path: &str) -> Option<String> {
    let out = client.exec(&[
        "curl",
        "-sS",
        "-g",
        "--max-time",
        "20",
        &format!("http://[{VIP}]:8080{path}"),
    ]);
    out.status
        .success()
        .then(|| String::from_utf8_lossy(&out.stdout).into_owned())
}

const UPLOAD: &str = "
import socket, sys
n = 1 << 20
s = socket.create_connection((sys.argv[1], int(sys.argv[2])), timeout=20)
s.sendall(b'%d\\n' % n + b'u' * n)
s.shutdown(socket.SHUT_WR)
print(s.makefile().readline().strip())
";

#[test]
fn ipv6_tunnel_mode_backends_answer_the_client_themselves() {
    let bed = setup();
    let mut seen = BTreeMap::new();
    wait_until(
        "answers from both tunnel-mode backends",
        Duration::from_secs(30),
        Duration::from_millis(10),
        || {
            if let Some(body) = curl(&bed.client, "/who") {
                *seen.entry(body).or_insert(0u32) += 1;
            }
            seen.len() == 2 && seen.values().sum::<u32>() >= 16
        },
    )
    .unwrap_or_else(|e| panic!("{e}: {seen:?}\n{}", status(&bed.node)));

    // Only the client's direction crossed the fast path.
    let st = bed.node.json(&["dataplane", "--json"]);
    let totals = &st["totals"];
    let wrapped = totals["ipip_encapsulated"].as_u64().unwrap();
    assert!(wrapped > 0, "{st}");
    assert_eq!(totals["tx_packets"].as_u64(), Some(wrapped), "{st}");
    let svc = bed.node.json(&["service", "--json"]);
    assert_eq!(svc[0]["mode"], "tunnel", "{svc}");
    let ct = bed.node.json(&["conntrack", "--json"]);
    let flows = ct["flows"].as_array().unwrap();
    assert!(
        !flows.is_empty()
            && flows
                .iter()
                .all(|f| f["kind"] == "tunnel" && f["source"] == SOURCE),
        "{ct}"
    );

    // A 1 MiB upload: full-sized segments meet Packet Too Big from the VIP.
    let out = bed
        .client
        .run_ok(&["python3", "-c", UPLOAD, VIP, SINK_PORT]);
    assert_eq!(out.trim(), "b2 got 1048576", "{}", status(&bed.node));
    let st = bed.node.json(&["dataplane", "--json"]);
    assert!(
        st["totals"]["frag_needed_sent"].as_u64().unwrap() >= 1,
        "{st}"
    );
    let cache = bed.client.run_ok(&["ip", "-6", "route", "get", VIP]);
    assert!(cache.contains("mtu 1460"), "{cache}");

    // A 4 MiB download, straight back from the backend.
    let out = bed.client.exec(&[
        "curl",
        "-sS",
        "-g",
        "--max-time",
        "20",
        "-o",
        "/dev/null",
        "-w",
        "%{size_download}",
        &format!("http://[{VIP}]:8080/big"),
    ]);
    assert!(out.status.success(), "{}", status(&bed.node));
    assert_eq!(String::from_utf8_lossy(&out.stdout), (4 << 20).to_string());
}
