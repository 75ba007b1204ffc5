//! The established-flow offload end to end: a client downloads from a real HTTP backend and
//! holds a TCP connection and a UDP exchange open through the appliance (NAT mode, two workers,
//! native and generic XDP). Once established, the flows' packets are forwarded by the XDP
//! program: `appctl dataplane` counts them, `appctl conntrack` marks the flows offloaded and
//! counts their packets; a FIN gives the flow back to the worker and withdraws its rules, and
//! a stop leaves no program attached.

use std::time::Duration;

use netns_tests::peers::{full_checksums, serve_http};
use netns_tests::{wait_until, Appliance, DataplaneHeader, Lab, Netns};

const VIP: &str = "198.18.30.1";
const BACKEND: &str = "198.18.21.2";

fn config(generic: bool, offload: &str) -> String {
    let header = DataplaneHeader {
        node: "lb",
        shutdown_grace: Some("2s"),
        interfaces: &[("eth0", "clients"), ("eth1", "backend")],
        workers: 2,
        queues: 2,
    };
    format!(
        r#"{header}conntrack_per_worker = 4096
generic_xdp = {generic}
offload = "{offload}"

[[service]]
name = "web"
vip = "{VIP}"
port = 80
protocol = "tcp"
backends = [{{ address = "{BACKEND}", port = 8080 }}]

[[service]]
name = "echo"
vip = "{VIP}"
port = 7
protocol = "udp"
backends = [{{ address = "{BACKEND}", port = 7007 }}]

[[service]]
name = "hold"
vip = "{VIP}"
port = 9
protocol = "tcp"
backends = [{{ address = "{BACKEND}", port = 9009 }}]
"#
    )
}

/// A UDP echo server and a TCP server that echoes each line, both on the backend.
const SERVERS: &str = r#"
import socket, threading
u = socket.socket(socket.AF_INET, socket.SOCK_DGRAM)
u.bind(("0.0.0.0", 7007))
def udp():
    while True:
        d, a = u.recvfrom(2048)
        u.sendto(d, a)
threading.Thread(target=udp, daemon=True).start()
t = socket.socket()
t.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
t.bind(("0.0.0.0", 9009))
t.listen(8)
def serve(c):
    f = c.makefile("rb")
    for line in f:
        c.sendall(line)
    c.close()
while True:
    c, _ = t.accept()
    threading.Thread(target=serve, args=(c,), daemon=True).start()
"#;

/// Holds one TCP connection and one UDP flow: `n` round trips on each, then waits for the file
/// `go`, then `n` more and closes. Prints `ok` after each half.
const CLIENT: &str = r#"
import os, socket, sys, time
vip, n, go = sys.argv[1], int(sys.argv[2]), sys.argv[3]
t = socket.create_connection((vip, 9), timeout=5)
f = t.makefile("rb")
u = socket.socket(socket.AF_INET, socket.SOCK_DGRAM)
u.settimeout(2)
u.connect((vip, 7))
def rounds():
    for i in range(n):
        msg = b"line %d %s\n" % (i, b"x" * (i % 1200))
        t.sendall(msg)
        assert f.readline() == msg, "tcp echo"
        for _ in range(3):
            u.send(msg)
            try:
                assert u.recv(2048) == msg, "udp echo"
                break
            except socket.timeout:
                pass
        else:
            raise SystemExit("udp lost 3 times")
rounds()
print("ok", flush=True)
while not os.path.exists(go):
    time.sleep(0.01)
rounds()
t.close()
print("ok", flush=True)
"#;

struct Bed {
    lab: Lab,
    lb: Netns,
    client: Netns,
    node: Appliance,
    _servers: Vec<netns_tests::Proc>,
}

fn bed(generic: bool, offload: &str) -> Bed {
    let lab = Lab::for_current_test();
    let (lb, client, backend) = (lab.netns("lb"), lab.netns("cl"), lab.netns("be"));
    lab.veth_builder(&lb, "eth0", &client, "eth0")
        .queues(2)
        .create();
    lab.veth_builder(&lb, "eth1", &backend, "eth0")
        .queues(2)
        .create();
    lb.add_addr("eth0", "198.18.20.1/24");
    lb.add_addr("eth0", &format!("{VIP}/32"));
    lb.add_addr("eth1", "198.18.21.1/24");
    client.add_addr("eth0", "198.18.20.2/24");
    client.add_route("198.18.30.0/24 via 198.18.20.1");
    backend.add_addr("eth0", &format!("{BACKEND}/24"));
    backend.add_route("default via 198.18.21.1");
    full_checksums(&client, "eth0");
    full_checksums(&backend, "eth0");
    lb.sysctl("net.ipv4.ip_forward", "0");
    let http = serve_http(&lab, &backend, "be");
    let big = lab.artifact_path("www-be").join("big");
    std::fs::write(
        &big,
        (0..8_000_000u32)
            .map(|i| (i % 251) as u8)
            .collect::<Vec<u8>>(),
    )
    .unwrap();
    let servers = backend
        .process("servers", &["python3", "-c", SERVERS])
        .spawn();
    let mut node = Appliance::new(&lab, &lb, "lb", &config(generic, offload));
    node.start();
    node.wait_dataplane_running();
    client.assert_ping("198.18.20.1");
    Bed {
        lab,
        lb,
        client,
        node,
        _servers: vec![http, servers],
    }
}

fn status(node: &Appliance) -> serde_json::Value {
    node.json(&["dataplane", "--json"])["offload"].clone()
}

fn download(b: &Bed) {
    let out = b.client.exec(&[
        "curl",
        "-sS",
        "--max-time",
        "20",
        "-o",
        "/dev/null",
        "-w",
        "%{size_download}",
        &format!("http://{VIP}/big"),
    ]);
    assert!(
        out.status.success(),
        "{}",
        String::from_utf8_lossy(&out.stderr)
    );
    assert_eq!(String::from_utf8_lossy(&out.stdout), "8000000");
}

/// Starts the client holding a TCP and a UDP flow with `rounds` round trips each, and waits
/// for them; it goes on when the returned file exists.
fn hold_flows(b: &Bed, rounds: u32) -> (netns_tests::Proc, std::path::PathBuf) {
    let go = b.lab.artifact_path("go");
    let hold = b
        .client
        .process(
            "client",
            &[
                "python3",
                "-c",
                CLIENT,
                VIP,
                &rounds.to_string(),
                go.to_str().unwrap(),
            ],
        )
        .spawn();
    wait_until(
        "first round trips",
        Duration::from_secs(20),
        Duration::from_millis(20),
        || hold.log().contains("ok"),
    )
    .unwrap_or_else(|e| panic!("{e}: {}", hold.log()));
    (hold, go)
}

fn offloaded_flows(node: &Appliance) -> Vec<serde_json::Value> {
    node.json(&["conntrack", "--json"])["flows"]
        .as_array()
        .unwrap()
        .iter()
        .filter(|f| f["offloaded"] == true)
        .cloned()
        .collect()
}

#[test]
fn established_flows_leave_through_the_program() {
    let b = bed(false, "xdp");
    let st = status(&b.node);
    assert_eq!(st["mode"], "xdp", "{st}");
    // On veths the data plane runs generic XDP when the offload is on (a veth's native
    // redirect needs NAPI on the peer, which the peer need not have).
    let ifaces = b.node.json(&["dataplane", "--json"])["interfaces"].clone();
    assert!(
        ifaces
            .as_array()
            .unwrap()
            .iter()
            .all(|i| i["xdp_mode"] == "generic"),
        "{ifaces}"
    );
    download(&b);
    let st = status(&b.node);
    // Nearly all of 8 MB of segments and their ACKs: the handshake and the FIN went to a
    // worker, the rest through the program.
    wait_until(
        "the program's counters published",
        Duration::from_secs(3),
        Duration::from_millis(100),
        || status(&b.node)["forwarded_packets"].as_u64().unwrap_or(0) > 2_000,
    )
    .unwrap_or_else(|e| panic!("{e}: {st}"));

    let (hold, go) = hold_flows(&b, 200);
    let flows = offloaded_flows(&b.node);
    assert!(
        flows
            .iter()
            .any(|f| f["vip"] == format!("{VIP}:9") && f["packets"].as_u64().unwrap() > 300),
        "{flows:?}"
    );
    assert!(
        flows.iter().any(|f| f["vip"] == format!("{VIP}:7")),
        "{flows:?}"
    );
    // The counters are read from the program once a second.
    wait_until(
        "the open flows' rules counted",
        Duration::from_secs(3),
        Duration::from_millis(100),
        || status(&b.node)["rules"].as_u64().unwrap_or(0) >= 4,
    )
    .unwrap_or_else(|e| panic!("{e}: {}", status(&b.node)));
    assert_eq!(status(&b.node)["failed"], 0);

    // The second half, then the close: the FIN takes the TCP flow back to its worker.
    std::fs::write(&go, "go").unwrap();
    wait_until(
        "second round trips and the close",
        Duration::from_secs(20),
        Duration::from_millis(20),
        || hold.log().matches("ok").count() == 2,
    )
    .unwrap_or_else(|e| panic!("{e}: {}", hold.log()));
    wait_until(
        "the closed connection's rules withdrawn",
        Duration::from_secs(5),
        Duration::from_millis(50),
        || {
            !offloaded_flows(&b.node)
                .iter()
                .any(|f| f["vip"] == format!("{VIP}:9"))
        },
    )
    .unwrap();
    b.lab
        .write_artifact("offload-status.json", status(&b.node).to_string());

    b.node.proc().signal(netns_tests::Signal::SIGTERM).unwrap();
    b.node
        .proc()
        .wait_timeout(Duration::from_secs(10))
        .expect("stopped");
    for ifname in ["eth0", "eth1"] {
        assert!(!b.lb.ip_ok(&["link", "show", "dev", ifname]).contains("xdp"));
    }
}

#[test]
fn offload_off_leaves_every_packet_to_the_workers() {
    let b = bed(false, "off");
    let st = status(&b.node);
    assert_eq!(st["mode"], "off", "{st}");
    download(&b);
    assert_eq!(status(&b.node)["forwarded_packets"], 0);
    assert!(offloaded_flows(&b.node).is_empty());
}

/// A killed daemon leaves its program attached until the next start sweeps it, but its rules
/// stop being followed within a second (the workers no longer renew the program's deadline):
/// nothing is forwarded for flows nobody tracks any more, as without the offload.
#[test]
fn a_killed_daemons_rules_are_not_followed() {
    let b = bed(false, "xdp");
    let (hold, go) = hold_flows(&b, 50);
    wait_until(
        "the held flows offloaded",
        Duration::from_secs(3),
        Duration::from_millis(50),
        || offloaded_flows(&b.node).len() >= 2,
    )
    .unwrap();
    b.node.proc().signal(netns_tests::Signal::SIGKILL).unwrap();
    b.node.proc().wait_timeout(Duration::from_secs(5));
    assert!(
        b.lb.ip_ok(&["link", "show", "dev", "eth0"])
            .contains("name offload"),
        "a killed process leaves its program"
    );
    std::thread::sleep(Duration::from_millis(1500));
    std::fs::write(&go, "go").unwrap();
    std::thread::sleep(Duration::from_secs(8));
    assert_eq!(
        hold.log().matches("ok").count(),
        1,
        "the orphaned program went on forwarding: {}",
        hold.log()
    );
}
