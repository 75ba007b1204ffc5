//! The fast path end to end: a client reaches two real HTTP backends (python3 -m http.server)
//! through the appliance's AF_XDP workers in NAT mode:
//! - two-armed (clients and each backend on their own veth), two queues and two workers, so
//!   frames landing on the wrong worker are handed over; with `appctl dataplane`, `service` and
//!   `conntrack`, ICMP error translation, a drain on reload and a clean stop;
//! - the same in generic (skb) XDP mode;
//! - one-armed (everyone on one switched LAN): frames leave by the interface they came in on.

use std::time::Duration;

use netns_tests::cpustat::cpu_seconds;
use netns_tests::peers::{full_checksums, serve_http};
use netns_tests::{wait_until, Appliance, DataplaneHeader, Lab, Netns};

const VIP: &str = "198.18.30.1";

fn backend(lab: &Lab, lb: &Netns, name: &str, lb_if: &str, subnet: u8) -> Netns {
    let b = lab.netns(name);
    lab.veth_builder(lb, lb_if, &b, "eth0").queues(2).create();
    lb.add_addr(lb_if, &format!("198.18.{subnet}.1/24"));
    b.add_addr("eth0", &format!("198.18.{subnet}.2/24"));
    b.add_route(&format!("default via 198.18.{subnet}.1"));
    full_checksums(&b, "eth0");
    serve_http(lab, &b, name);
    b
}

fn config(b1_weight: u32) -> String {
    two_armed_config(b1_weight, false)
}

fn two_armed_config(b1_weight: u32, generic: bool) -> String {
    let header = DataplaneHeader {
        node: "lb",
        shutdown_grace: Some("3s"),
        interfaces: &[
            ("eth0", "clients"),
            ("eth1", "backend b1"),
            ("eth2", "backend b2"),
        ],
        workers: 2,
        queues: 2,
    };
    format!(
        r#"{header}conntrack_per_worker = 4096
generic_xdp = {generic}

[metrics]
listen = "127.0.0.1:9469"

[[service]]
name = "web"
vip = "{VIP}"
port = 80
protocol = "tcp"
scheduler = "round_robin"
backends = [
  {{ address = "198.18.21.2", port = 8080, weight = {b1_weight} }},
  {{ address = "198.18.22.2", port = 8080 }},
]

# Nothing listens on 5353: the backends answer with ICMP port unreachable.
[[service]]
name = "dns"
vip = "{VIP}"
port = 53
protocol = "udp"
backends = [
  {{ address = "198.18.21.2", port = 5353 }},
  {{ address = "198.18.22.2", port = 5353 }},
]
"#
    )
}

/// A connected UDP socket sees ICMP port unreachable as "connection refused", and only when the
/// quoted datagram matches what it sent (client → VIP:53): proof the error was translated.
const UDP_REFUSED: &str = "
import socket, sys
s = socket.socket(socket.AF_INET, socket.SOCK_DGRAM)
s.settimeout(3)
s.connect((sys.argv[1], 53))
for _ in range(3):
    try:
        s.send(b'q')
        s.recv(100)
    except ConnectionRefusedError:
        print('refused')
        sys.exit(0)
    except socket.timeout:
        pass
print('no answer')
sys.exit(1)
";

fn get(client: &Netns, path: &str) -> Option<String> {
    let out = client.exec(&[
        "curl",
        "-sS",
        "--max-time",
        "3",
        &format!("http://{VIP}{path}"),
    ]);
    out.status
        .success()
        .then(|| String::from_utf8_lossy(&out.stdout).into_owned())
}

/// Requests `/who` until both backends have answered (and at least `n` answers came).
fn both_backends_answer(node: &Appliance, client: &Netns, n: u32) {
    let mut seen = std::collections::BTreeMap::new();
    wait_until(
        "responses from both backends",
        Duration::from_secs(30),
        Duration::from_millis(10),
        || {
            if let Some(body) = get(client, "/who") {
                *seen.entry(body).or_insert(0) += 1;
            }
            seen.contains_key("b1") && seen.contains_key("b2") && seen.values().sum::<u32>() >= n
        },
    )
    .unwrap_or_else(|e| {
        let st = node.appctl(&["dataplane"]);
        panic!(
            "{e}; seen {seen:?}\n{}",
            String::from_utf8_lossy(&st.stdout)
        )
    });
    assert!(seen.keys().all(|k| k == "b1" || k == "b2"), "{seen:?}");
}

fn two_armed(lab: &Lab, generic: bool) -> (Netns, Netns, Appliance) {
    let (lb, client, node, _b1, _b2) = two_armed_with_backends(lab, generic);
    (lb, client, node)
}

fn two_armed_with_backends(lab: &Lab, generic: bool) -> (Netns, Netns, Appliance, Netns, Netns) {
    let (lb, client) = (lab.netns("lb"), lab.netns("cl"));
    lab.veth_builder(&lb, "eth0", &client, "eth0")
        .queues(2)
        .create();
    lb.add_addr("eth0", "198.18.20.1/24");
    lb.add_addr("eth0", &format!("{VIP}/32"));
    client.add_addr("eth0", "198.18.20.2/24");
    client.add_route("198.18.30.0/24 via 198.18.20.1");
    full_checksums(&client, "eth0");
    let b1 = backend(lab, &lb, "b1", "eth1", 21);
    let b2 = backend(lab, &lb, "b2", "eth2", 22);
    // The kernel must not forward: what reaches the backends went through the fast path.
    lb.sysctl("net.ipv4.ip_forward", "0");
    let mut node = Appliance::new(lab, &lb, "lb", &two_armed_config(1, generic));
    node.start();
    node.wait_dataplane_running();
    // The client's address gets into the neighbour table with its first ARP.
    client.assert_ping("198.18.20.1");
    (lb, client, node, b1, b2)
}

#[test]
fn generic_xdp_mode() {
    let lab = Lab::for_current_test();
    let (_lb, client, node) = two_armed(&lab, true);
    let st = node.json(&["dataplane", "--json"]);
    assert!(
        st["interfaces"]
            .as_array()
            .unwrap()
            .iter()
            .all(|i| i["xdp_mode"] == "generic"),
        "{st}"
    );
    both_backends_answer(&node, &client, 6);
}

#[test]
fn one_armed_on_a_switched_lan() {
    let lab = Lab::for_current_test();
    let (lb, client, b1, b2) = (
        lab.netns("lb"),
        lab.netns("cl"),
        lab.netns("b1"),
        lab.netns("b2"),
    );
    // lb .1, client .2, b1 .3, b2 .4; the client also lives in a second subnet on the same wire,
    // so the backends' replies to it go through their default route (the appliance).
    let _lan = lab.lan(&[&lb, &client, &b1, &b2], "198.18.50.0/24");
    lb.add_addr("eth0", "198.18.51.1/24");
    lb.add_addr("eth0", &format!("{VIP}/32"));
    client.add_addr("eth0", "198.18.51.2/24");
    client.add_route("198.18.30.0/24 via 198.18.51.1");
    full_checksums(&client, "eth0");
    for (b, name) in [(&b1, "b1"), (&b2, "b2")] {
        b.add_route("default via 198.18.50.1");
        full_checksums(b, "eth0");
        serve_http(&lab, b, name);
    }
    lb.sysctl("net.ipv4.ip_forward", "0");
    let header = DataplaneHeader {
        node: "lb",
        shutdown_grace: None,
        interfaces: &[("eth0", "")],
        workers: 1,
        queues: 1,
    };
    let config = format!(
        r#"{header}
[[service]]
name = "web"
vip = "{VIP}"
port = 80
protocol = "tcp"
scheduler = "least_conn"
backends = [
  {{ address = "198.18.50.3", port = 8080 }},
  {{ address = "198.18.50.4", port = 8080 }},
]
"#
    );
    let mut node = Appliance::new(&lab, &lb, "lb", &config);
    node.start();
    node.wait_dataplane_running();
    client.assert_ping("198.18.51.1");
    both_backends_answer(&node, &client, 6);
    let st = node.json(&["dataplane", "--json"]);
    assert!(st["totals"]["tx_packets"].as_u64().unwrap() > 0, "{st}");
}

#[test]
fn client_reaches_two_http_backends_through_the_fast_path() {
    let lab = Lab::for_current_test();
    let (lb, client, node) = two_armed(&lab, false);
    let st = node.json(&["dataplane", "--json"]);
    assert_eq!(st["interfaces"].as_array().unwrap().len(), 3, "{st}");
    // The offload program when it runs (the steering program behind it), else the steering
    // program itself.
    let attached = if st["offload"]["mode"] == "xdp" {
        "offload"
    } else {
        "appl_steer"
    };
    assert!(lb
        .ip_ok(&["link", "show", "dev", "eth0"])
        .contains(attached));
    both_backends_answer(&node, &client, 6);

    let st = node.json(&["dataplane", "--json"]);
    lab.write_artifact("dataplane-status.json", st.to_string());
    let totals = &st["totals"];
    assert!(totals["new_flows"].as_u64().unwrap() >= 6, "{st}");
    assert!(totals["tx_packets"].as_u64().unwrap() > 0, "{st}");
    let svc = node.json(&["service", "--json"]);
    assert_eq!(svc[0]["name"], "web");
    assert_eq!(svc[0]["backends"].as_array().unwrap().len(), 2);
    assert!(svc[0]["backends"]
        .as_array()
        .unwrap()
        .iter()
        .all(|b| b["up"] == true));
    let ct = node.json(&["conntrack", "--json"]);
    assert!(ct["used"].as_u64().unwrap() >= 6, "{ct}");
    assert!(
        ct["flows"][0]["vip"].as_str().unwrap().starts_with(VIP),
        "{ct}"
    );
    let human = node.appctl(&["dataplane"]);
    assert!(String::from_utf8_lossy(&human.stdout).contains("worker 1"));

    // The counters reach Prometheus (copied once a second).
    wait_until(
        "data-plane metrics exported",
        Duration::from_secs(5),
        Duration::from_millis(200),
        || {
            let text = lb.run_ok(&["curl", "-s", "http://127.0.0.1:9469/metrics"]);
            text.lines()
                .any(|l| l.starts_with("appliance_dataplane_new_flows_total") && !l.ends_with(" 0"))
        },
    )
    .unwrap();

    // ICMP errors from a backend reach the client translated.
    let udp = client.exec(&["python3", "-c", UDP_REFUSED, VIP]);
    assert!(
        String::from_utf8_lossy(&udp.stdout).contains("refused"),
        "{}{}",
        String::from_utf8_lossy(&udp.stdout),
        String::from_utf8_lossy(&udp.stderr)
    );
    let st = node.json(&["dataplane", "--json"]);
    assert!(
        st["totals"]["icmp_translated"].as_u64().unwrap() >= 1,
        "{st}"
    );

    // A reload that drains b1 (weight 0) sends every new connection to b2.
    node.write_config(&config(0));
    let out = node.appctl(&["reload"]);
    assert!(
        out.status.success(),
        "{}",
        String::from_utf8_lossy(&out.stderr)
    );
    wait_until(
        "b1 drained in the running snapshot",
        Duration::from_secs(5),
        Duration::from_millis(50),
        || node.json(&["service", "--json"])[0]["backends"][0]["weight"] == 0,
    )
    .unwrap();
    for _ in 0..6 {
        assert_eq!(get(&client, "/who").as_deref(), Some("b2"));
    }

    // A graceful stop detaches the programs (the kernel answers for the VIP again).
    node.proc().signal(netns_tests::Signal::SIGTERM).unwrap();
    node.proc()
        .wait_timeout(Duration::from_secs(10))
        .expect("stopped");
    for ifname in ["eth0", "eth1", "eth2"] {
        assert!(!lb.ip_ok(&["link", "show", "dev", ifname]).contains("xdp"));
    }
}

/// Next hops follow the kernel through the rtnetlink monitor: while requests run, b1 takes a
/// new MAC and the appliance's neighbour entry for it is flushed. The fast path counts and drops
/// frames for the missing neighbour, makes the kernel resolve it, and sends to the new MAC as
/// soon as the kernel has it. With nothing changing in the kernel, no snapshot is published.
#[test]
fn a_backend_mac_change_reaches_the_fast_path() {
    let lab = Lab::for_current_test();
    let (lb, client, node, b1, _b2) = two_armed_with_backends(&lab, false);
    both_backends_answer(&node, &client, 4);

    let generation = |n: &Appliance| {
        n.json(&["dataplane", "--json"])["snapshot_generation"]
            .as_u64()
            .unwrap()
    };
    let idle = generation(&node);
    std::thread::sleep(Duration::from_secs(2));
    assert_eq!(
        generation(&node),
        idle,
        "a snapshot without a kernel change"
    );

    // Requests run in the background for the whole change.
    let load = client
        .process(
            "load",
            &[
                "sh",
                "-c",
                &format!("while :; do curl -s -o /dev/null --max-time 1 http://{VIP}/who; done"),
            ],
        )
        .spawn();
    let new_mac = "02:00:5e:12:34:56";
    b1.ip_ok(&["link", "set", "dev", "eth0", "address", new_mac]);
    lb.ip_ok(&["neigh", "flush", "dev", "eth1"]);
    let changed = std::time::Instant::now();
    wait_until(
        "the fast path sends to b1's new MAC",
        Duration::from_secs(5),
        Duration::from_millis(20),
        || get(&client, "/who").as_deref() == Some("b1"),
    )
    .unwrap_or_else(|e| {
        panic!(
            "{e}\n{}\n{}",
            lb.ip_ok(&["neigh", "show", "dev", "eth1"]),
            String::from_utf8_lossy(&node.appctl(&["dataplane"]).stdout)
        )
    });
    let followed = changed.elapsed();
    load.kill();
    lab.write_artifact("mac-change-followed-ms", followed.as_millis().to_string());
    assert!(lb
        .ip_ok(&["neigh", "show", "dev", "eth1"])
        .contains(new_mac));
    assert!(generation(&node) > idle);
    // Every later request to b1 works: the old MAC is gone from the fast path.
    both_backends_answer(&node, &client, 6);
}

/// CPU seconds (user + system) a running process has used so far.
fn cpu_used(pid: u32) -> f64 {
    let (user, system) = cpu_seconds(pid, false).expect("applianced running");
    user + system
}

/// Removing a data interface under a running data plane: the workers stay idle (no busy loop on
/// a socket whose device is gone) and the daemon still stops cleanly.
#[test]
fn a_data_interface_vanishing_does_not_make_workers_spin() {
    let lab = Lab::for_current_test();
    let (lb, _client, node) = two_armed(&lab, false);
    let pid = node.proc().pid();
    lb.ip_ok(&["link", "del", "eth2"]);
    std::thread::sleep(Duration::from_millis(300));
    let before = cpu_used(pid);
    std::thread::sleep(Duration::from_secs(2));
    let used = cpu_used(pid) - before;
    assert!(
        used < 0.5,
        "applianced used {used:.2} s of CPU in 2 s while idle"
    );
    node.proc().signal(netns_tests::Signal::SIGTERM).unwrap();
    let status = node
        .proc()
        .wait_timeout(Duration::from_secs(10))
        .expect("stopped");
    assert!(status.success(), "{status:?}");
    assert!(!lb.ip_ok(&["link", "show", "dev", "eth0"]).contains("xdp"));
}

/// Tables larger than the machine: `check` and `run` refuse the configuration, naming the key
/// with its line and column, before anything in the kernel changes (no XDP program attached,
/// no static address added).
#[test]
fn tables_too_large_for_the_machine_refuse_the_start_without_touching_the_kernel() {
    let lab = Lab::for_current_test();
    let (lb, peer) = (lab.netns("lb"), lab.netns("peer"));
    lab.veth_builder(&lb, "eth0", &peer, "eth0").create();
    // 64 workers of 2^26 flows: hundreds of GiB of tables.
    let config = "[daemon]\nnode_name = \"lb\"\nstate_dir = \"/run/appliance\"\n\n\
                  [control]\nsocket = \"/run/appliance/appctl.sock\"\n\n\
                  [interfaces.eth0]\nstatic_addresses = [\"198.18.20.1/24\"]\n\n\
                  [dataplane]\ninterfaces = [\"eth0\"]\nworkers = 64\nqueues = 64\n\
                  conntrack_per_worker = 67108864\n";
    let node = Appliance::new(&lab, &lb, "lb", config);
    let path = lab.artifacts().join("huge.toml");
    let rendered = node.render(config);
    std::fs::write(&path, &rendered).unwrap();
    // Where the key is in the file as written (the lab may add settings to it).
    let line = 1 + rendered
        .lines()
        .position(|l| l.starts_with("conntrack_per_worker"))
        .unwrap();
    let at = format!("huge.toml:{line}:");
    let bin = netns_tests::bin_path("applianced");
    for cmd in ["check", "run"] {
        let out = lb.exec(&[
            "timeout",
            "30",
            bin.to_str().unwrap(),
            cmd,
            "-c",
            path.to_str().unwrap(),
        ]);
        let err = String::from_utf8_lossy(&out.stderr);
        assert!(!out.status.success(), "{cmd} accepted it:\n{err}");
        assert_ne!(out.status.code(), Some(124), "{cmd} did not stop:\n{err}");
        assert!(
            err.contains(&at)
                && err.contains("dataplane.conntrack_per_worker")
                && err.contains("more than this machine's"),
            "{cmd}: {err}"
        );
    }
    let link = lb.run_ok(&["ip", "-d", "link", "show", "eth0"]);
    assert!(!link.contains("xdp"), "a program was attached: {link}");
    let addrs = lb.run_ok(&["ip", "-4", "addr", "show", "eth0"]);
    assert!(
        !addrs.contains("198.18.20.1"),
        "an address was added: {addrs}"
    );
}

/// Sends a UDP datagram with TTL 1 to `VIP:53` and prints the ICMP error the kernel queued
/// for the socket: `type code offender`.
const TTL_ONE: &str = r#"
import socket, struct, sys, time
s = socket.socket(socket.AF_INET, socket.SOCK_DGRAM)
s.setsockopt(socket.IPPROTO_IP, socket.IP_TTL, 1)
s.setsockopt(socket.IPPROTO_IP, 11, 1)  # IP_RECVERR
s.connect((sys.argv[1], 53))
for _ in range(30):
    try:
        s.send(b'q')
    except OSError:
        pass
    time.sleep(0.1)
    try:
        _, anc, _, _ = s.recvmsg(512, 512, socket.MSG_ERRQUEUE | socket.MSG_DONTWAIT)
    except BlockingIOError:
        continue
    for level, kind, data in anc:
        if level == socket.IPPROTO_IP and kind == 11:
            _, origin, typ, code = struct.unpack_from('=IBBB', data)
            offender = socket.inet_ntoa(data[20:24])
            print(typ, code, offender)
            sys.exit(0)
print('no error')
sys.exit(1)
"#;

/// TTL running out at the appliance is answered as a router answers it: ICMP time exceeded
/// from the VIP the packet was sent to, which is what a traceroute shows for this hop.
#[test]
fn ttl_expiry_at_the_vip_is_answered_with_time_exceeded() {
    let lab = Lab::for_current_test();
    let (_lb, client, node) = two_armed(&lab, false);
    let out = client.exec(&["python3", "-c", TTL_ONE, VIP]);
    let said = String::from_utf8_lossy(&out.stdout);
    assert!(
        out.status.success() && said.trim() == format!("11 0 {VIP}"),
        "{said}{}",
        String::from_utf8_lossy(&out.stderr)
    );
    let st = node.json(&["dataplane", "--json"]);
    assert!(
        st["totals"]["icmp_time_exceeded_sent"].as_u64() >= Some(1),
        "{st}"
    );
}

/// A reply towards an on-link client the kernel has no neighbour entry for (it aged out, or a
/// new VRRP master never talked to it) makes the worker ask the kernel to resolve it at once:
/// the connection carries on after one retransmission instead of stalling until the client
/// happens to ARP again.
#[test]
fn a_missing_client_neighbour_is_resolved_at_once() {
    let lab = Lab::for_current_test();
    let (lb, client, node) = two_armed(&lab, false);
    assert!(get(&client, "/who").is_some());
    // The client keeps lb's MAC (so it will not ARP on its own); lb forgets the client's.
    lb.ip_ok(&["neigh", "flush", "dev", "eth0"]);
    let started = std::time::Instant::now();
    let body = get(&client, "/who");
    let took = started.elapsed();
    let st = node.json(&["dataplane", "--json"]);
    assert!(body.is_some(), "no answer within 3 s: {st}");
    // One retransmission of the backend's SYN-ACK (1 s) at most, not the seconds until the
    // client's own entry for lb goes stale.
    assert!(took < Duration::from_millis(2500), "{took:?}: {st}");
    let neigh = lb.ip_ok(&["neigh", "show", "198.18.20.2", "dev", "eth0"]);
    assert!(
        neigh.contains("REACHABLE") || neigh.contains("STALE") || neigh.contains("DELAY"),
        "{neigh}"
    );
    drop(node);
}
