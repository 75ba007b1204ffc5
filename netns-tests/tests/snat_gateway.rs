//! The SNAT gateway end to end: two remote sites whose inside users have the same address
//! reach an Internet-side server through GRE tunnels to the appliance, whose fast path takes
//! the tunnels apart, translates the sources to a pool and sends the replies back down the
//! right tunnel.
//!
//! ```text
//!  ua (198.18.64.5) ── sa ══GRE key 100══╗
//!                    (tun gre0)          ║ eth1 198.18.41.1
//!                                        lb ── eth0 198.18.50.1 ── srv (198.18.70.2 behind .50.2)
//!                                        ║ eth2 198.18.42.1
//!  ub (198.18.64.5) ── sb ══GRE no key═══╝
//!                                        │ eth3 198.18.96.1
//!  in (198.18.96.9, a pool `sources` prefix, no tunnel)
//! ```
//!
//! The kernel here has no GRE module: each site gateway is `peers/gre_site.py`, a TUN device
//! and a raw protocol-47 socket. The appliance's kernel does not forward (ip_forward 0), so
//! whatever crosses it went through the fast path.
//!
//! In the last test the site gateway is a second appliance (a tunnel with `role = "site"`):
//!
//! ```text
//!  user (198.18.64.5) ── site ══GRE key 100══ lb ── srv
//! ```

use std::time::Duration;

use netns_tests::peers::full_checksums;
use netns_tests::{wait_for_log, wait_until, Appliance, DataplaneHeader, Lab, Netns};

const SERVER: &str = "198.18.70.2";
const PORT: &str = "7000";

fn peer_script(name: &str) -> String {
    format!("{}/tests/peers/{name}", env!("CARGO_MANIFEST_DIR"))
}

/// The central gateway's end of site a's tunnel.
const SITE_A_TUNNEL: &str = r#"[[gre.tunnel]]
name = "site-a"
local = "198.18.41.1"
remote = "198.18.41.2"
key = 100
mtu = 1400
"#;

/// The appliance: two tunnels into one pool (`pool` is the rest of its `[[snat.pool]]`).
fn config(pool: &str) -> String {
    let header = DataplaneHeader {
        node: "gw",
        shutdown_grace: Some("3s"),
        interfaces: &[
            ("eth0", "Internet"),
            ("eth1", "site a underlay"),
            ("eth2", "site b underlay"),
            ("eth3", "an inside network without a tunnel"),
        ],
        workers: 2,
        queues: 2,
    };
    format!(
        r#"{header}conntrack_per_worker = 4096

{SITE_A_TUNNEL}
[[gre.tunnel]]
name = "site-b"
local = "198.18.42.1"
remote = "198.18.42.2"
mtu = 1400

[[snat.pool]]
name = "internet"
tunnels = ["site-a", "site-b"]
{pool}
"#
    )
}

const TWO_ADDRESSES: &str = r#"addresses = ["198.18.60.1", "198.18.60.2"]
sources = ["198.18.96.0/24"]"#;

const THREE_ADDRESSES: &str = r#"addresses = ["198.18.60.1", "198.18.60.2", "198.18.60.3"]
sources = ["198.18.96.0/24"]"#;

/// A veth of two queues from `a`'s `a_if` to `b`'s `eth0` on `net`.0/24: `a` is `net`.1, `b`
/// is `net`.`host`.
fn link(lab: &Lab, a: &Netns, a_if: &str, b: &Netns, net: &str, host: u8) {
    lab.veth_builder(a, a_if, b, "eth0").queues(2).create();
    a.add_addr(a_if, &format!("{net}.1/24"));
    b.add_addr("eth0", &format!("{net}.{host}/24"));
}

/// [`link`], and `host` sends everything through `gw`, with full checksums.
fn host_behind(lab: &Lab, gw: &Netns, gw_if: &str, host: &Netns, net: &str, addr: u8) {
    link(lab, gw, gw_if, host, net, addr);
    host.add_route(&format!("default via {net}.1"));
    full_checksums(host, "eth0");
}

/// A site: gateway namespace with its underlay veth to the appliance and a TUN device driven
/// by the GRE peer, and a user namespace behind it with the shared inside address.
fn site(lab: &Lab, lb: &Netns, tag: &str, lb_if: &str, underlay: u8, key: &str) -> Netns {
    let (gw, user) = (lab.netns(&format!("s{tag}")), lab.netns(&format!("u{tag}")));
    link(lab, lb, lb_if, &gw, &format!("198.18.{underlay}"), 2);
    host_behind(lab, &gw, "eth1", &user, "198.18.64", 5);
    gw.sysctl("net.ipv4.ip_forward", "1");
    gw.ip_ok(&["tuntap", "add", "dev", "gre0", "mode", "tun"]);
    let peer = gw
        .process(
            &format!("gre-site-{tag}"),
            &[
                "python3",
                &peer_script("gre_site.py"),
                "gre0",
                &format!("198.18.{underlay}.2"),
                &format!("198.18.{underlay}.1"),
                key,
            ],
        )
        .spawn();
    wait_for_log(&peer, "ready", Duration::from_secs(10)).unwrap();
    gw.sysctl("net.ipv6.conf.gre0.disable_ipv6", "1");
    gw.ip_ok(&["link", "set", "gre0", "mtu", "1400", "up"]);
    gw.add_route("198.18.70.0/24 dev gre0");
    for key in ["all", "default", "gre0", "eth1"] {
        gw.sysctl(&format!("net.ipv4.conf.{key}.rp_filter"), "0");
    }
    user
}

/// What the server saw as the user's address, over TCP and over UDP from source port 5000.
fn ask(node: &Appliance, user: &Netns, tag: &str) -> (String, String) {
    ask_at(node, user, SERVER, PORT, tag)
}

/// What the echo peer at `server`:`port` saw as the user's address, over TCP and over UDP from
/// source port 5000.
fn ask_at(node: &Appliance, user: &Netns, server: &str, port: &str, tag: &str) -> (String, String) {
    let mut last = String::new();
    let mut answer = None;
    wait_until(
        &format!("{tag} reaching {server}:{port}"),
        Duration::from_secs(20),
        Duration::from_millis(200),
        || {
            let out = user.exec(&[
                "python3",
                &peer_script("ask_peer.py"),
                server,
                port,
                "5000",
                tag,
            ]);
            last = format!(
                "{}{}",
                String::from_utf8_lossy(&out.stdout),
                String::from_utf8_lossy(&out.stderr)
            );
            if !out.status.success() {
                return false;
            }
            let seen = |proto: &str| {
                last.lines()
                    .find_map(|l| l.strip_prefix(&format!("{proto} ")))
                    .and_then(|l| l.split_whitespace().next())
                    .map(str::to_string)
            };
            answer = seen("tcp").zip(seen("udp"));
            answer.is_some()
        },
    )
    .unwrap_or_else(|e| {
        let st = node.appctl(&["dataplane"]);
        let gre = node.appctl(&["gre"]);
        panic!(
            "{e}: {last}\n{}\n{}",
            String::from_utf8_lossy(&st.stdout),
            String::from_utf8_lossy(&gre.stdout)
        )
    });
    answer.unwrap()
}

/// The Internet side of `lb`'s eth0: the server (with the echo peer) behind a router, which
/// routes the pool's 198.18.60.0/24 back to `lb`.
fn internet(lab: &Lab, lb: &Netns) -> Netns {
    let srv = lab.netns("srv");
    link(lab, lb, "eth0", &srv, "198.18.50", 2);
    // The Internet is behind a router (the server's namespace), as it would be.
    lb.add_route("198.18.70.0/24 via 198.18.50.2");
    srv.add_addr("lo", &format!("{SERVER}/32"));
    srv.add_route("198.18.60.0/24 via 198.18.50.1");
    full_checksums(&srv, "eth0");
    let echo = srv
        .process(
            "echo",
            &["python3", &peer_script("echo_peer.py"), SERVER, PORT],
        )
        .spawn();
    wait_for_log(&echo, "ready", Duration::from_secs(10)).unwrap();
    srv
}

/// The whole lab: the Internet-side server (with the echo peer), both sites, the appliance
/// running with next hops resolved.
fn gateway_lab(lab: &Lab, pool: &str) -> (Netns, Netns, Netns, Netns, Appliance) {
    let lb = lab.netns("lb");
    let srv = internet(lab, &lb);
    let ua = site(lab, &lb, "a", "eth1", 41, "100");
    let ub = site(lab, &lb, "b", "eth2", 42, "-");
    let inside = lab.netns("in");
    host_behind(lab, &lb, "eth3", &inside, "198.18.96", 9);
    lb.sysctl("net.ipv4.ip_forward", "0");

    let mut node = Appliance::new(lab, &lb, "gw", &config(pool));
    node.start();
    node.wait_dataplane_running();
    // The gateway learns the inside host's MAC address from its ARP request.
    inside.assert_ping("198.18.96.1");
    (srv, ua, ub, inside, node)
}

#[test]
fn two_sites_with_the_same_addresses_reach_the_internet_through_gre() {
    let lab = Lab::for_current_test();
    let (_srv, ua, ub, inside, node) = gateway_lab(&lab, TWO_ADDRESSES);
    let (tcp_a, udp_a) = ask(&node, &ua, "a");
    let (tcp_b, udp_b) = ask(&node, &ub, "b");
    lab.write_artifact(
        "seen.txt",
        format!("a tcp {tcp_a} udp {udp_a}\nb tcp {tcp_b} udp {udp_b}\n"),
    );
    for seen in [&tcp_a, &udp_a, &tcp_b, &udp_b] {
        assert!(
            seen.starts_with("198.18.60.1:") || seen.starts_with("198.18.60.2:"),
            "the server sees a pool address, not the inside one: {seen}"
        );
    }
    // The same inside endpoint (198.18.64.5:5000) at two sites: two external endpoints.
    assert_ne!(udp_a, udp_b);
    // Endpoint-independent mapping: asking again from the same port keeps the mapping.
    let (_, udp_a2) = ask(&node, &ua, "a");
    assert_eq!(udp_a, udp_a2);
    // A reload that adds a pool address rebuilds the workers' port maps; the live mapping
    // keeps its external endpoint.
    node.write_config(&config(THREE_ADDRESSES));
    let out = node.appctl(&["reload"]);
    assert!(
        out.status.success(),
        "{}",
        String::from_utf8_lossy(&out.stderr)
    );
    let (_, udp_a3) = ask(&node, &ua, "a");
    assert_eq!(udp_a, udp_a3, "the mapping survives a reload");
    let snat = node.json(&["snat", "--json"]);
    assert_eq!(snat[0]["addresses"].as_array().unwrap().len(), 3, "{snat}");
    // An untunnelled inside prefix of the pool is translated too.
    let (tcp_in, udp_in) = ask(&node, &inside, "in");
    assert!(tcp_in.starts_with("198.18.60."), "{tcp_in}");
    assert!(udp_in.starts_with("198.18.60."), "{udp_in}");

    // Both UDP flows are tracked at once, each with its own tunnel.
    let ct = node.json(&["conntrack", "--json", "--limit", "100"]);
    lab.write_artifact("conntrack.json", ct.to_string());
    let flows = ct["flows"].as_array().unwrap();
    for tunnel in ["site-a", "site-b"] {
        assert!(
            flows.iter().any(|f| f["tunnel"] == tunnel
                && f["kind"] == "snat"
                && f["client"] == "198.18.64.5:5000"
                && f["protocol"] == 17),
            "no UDP flow of {tunnel}: {ct}"
        );
    }

    // Tunnel and pool statistics are published by the workers every 200 ms.
    wait_until(
        "both tunnels counted both ways, one UDP mapping per site and one for the inside network",
        Duration::from_secs(5),
        Duration::from_millis(100),
        || {
            let gre = node.json(&["gre", "--json"]);
            let snat = node.json(&["snat", "--json"]);
            lab.write_artifact("gre.json", gre.to_string());
            lab.write_artifact("snat.json", snat.to_string());
            let tunnels_ok = gre.as_array().unwrap().iter().all(|t| {
                t["rx_packets"].as_u64().unwrap() >= 4 && t["tx_packets"].as_u64().unwrap() >= 4
            });
            let udp: u64 = snat[0]["addresses"]
                .as_array()
                .unwrap()
                .iter()
                .map(|a| a["udp"].as_u64().unwrap())
                .sum();
            tunnels_ok && udp == 3
        },
    )
    .unwrap();
    for (view, needle) in [
        (["gre"], "site-b 198.18.42.2 -> 198.18.42.1"),
        (["snat"], "internet ports 1024-65535"),
    ] {
        let out = node.appctl(&view);
        let text = String::from_utf8_lossy(&out.stdout);
        assert!(out.status.success() && text.contains(needle), "{text}");
    }
    let st = node.json(&["dataplane", "--json"]);
    lab.write_artifact("dataplane.json", st.to_string());
    assert!(
        st["totals"]["gre_encapsulated"].as_u64().unwrap() >= 8,
        "{st}"
    );
    assert!(st["totals"]["mss_clamped"].as_u64().unwrap() >= 2, "{st}");
}

/// `udp_probe.py` from `user` to the server: one line per source port.
fn probe(user: &Netns, port: &str, message: &str, sports: &[u16]) -> Vec<String> {
    let mut args = vec![
        "python3".to_string(),
        peer_script("udp_probe.py"),
        SERVER.to_string(),
        port.to_string(),
        message.to_string(),
    ];
    args.extend(sports.iter().map(u16::to_string));
    let args: Vec<&str> = args.iter().map(String::as_str).collect();
    let out = user.exec(&args);
    assert!(
        out.status.success(),
        "udp_probe: {}",
        String::from_utf8_lossy(&out.stderr)
    );
    String::from_utf8_lossy(&out.stdout)
        .lines()
        .map(str::to_string)
        .collect()
}

#[test]
fn icmp_errors_go_back_into_the_tunnel_and_big_replies_get_frag_needed() {
    let lab = Lab::for_current_test();
    let (srv, ua, _ub, _inside, node) = gateway_lab(&lab, TWO_ADDRESSES);
    ask(&node, &ua, "a");
    // Nothing listens on 7999: the server's port unreachable, sent to the pool address, must
    // reach the user's socket through the tunnel, quoting exactly what that socket sent.
    let got = probe(&ua, "7999", "anyone?", &[6000]);
    assert_eq!(got, ["6000 refused"], "{got:?}");

    // A reply of 1450 bytes with Don't Fragment does not fit the 1400-byte tunnel: the server
    // is told so, and its kernel takes the MTU for the pool address it answered from.
    let got = probe(&ua, PORT, "big", &[6001]);
    assert_eq!(got, ["6001 silence"], "{got:?}");
    wait_until(
        "frag-needed counted and learnt by the server",
        Duration::from_secs(5),
        Duration::from_millis(100),
        || {
            let gre = node.json(&["gre", "--json"]);
            let sent = gre[0]["frag_needed_sent"].as_u64().unwrap();
            let learnt = ["198.18.60.1", "198.18.60.2"].iter().any(|a| {
                srv.ip_ok(&["route", "get", a])
                    .split_whitespace()
                    .collect::<Vec<_>>()
                    .windows(2)
                    .any(|w| w == ["mtu", "1400"])
            });
            sent >= 1 && learnt
        },
    )
    .unwrap();
    let st = node.json(&["dataplane", "--json"]);
    assert!(
        st["totals"]["icmp_translated"].as_u64().unwrap() >= 1,
        "{st}"
    );
}

#[test]
fn ports_run_out_counted_and_come_back_after_the_timeout() {
    let lab = Lab::for_current_test();
    // One address, ports 2000-2003: two UDP ports for each of the two workers.
    let pool = r#"addresses = ["198.18.60.1"]
ports = "2000-2003"
timeouts = { udp = "5s" }"#;
    let (_srv, ua, _ub, _inside, node) = gateway_lab(&lab, pool);
    let sports: Vec<u16> = (7100..7108).collect();
    let got = probe(&ua, PORT, "hello", &sports);
    lab.write_artifact("exhaustion.txt", got.join("\n"));
    let answered = got.iter().filter(|l| l.contains(" answer ")).count();
    // Eight inside endpoints, two ports per worker: at most four get through, and whichever
    // worker owns four or more of them runs out.
    assert!((2..=4).contains(&answered), "{got:?}");
    for line in got.iter().filter(|l| l.contains(" answer ")) {
        let port: u16 = line
            .split_whitespace()
            .nth(2)
            .and_then(|seen| seen.rsplit(':').next())
            .and_then(|p| p.parse().ok())
            .unwrap_or_else(|| panic!("{line}"));
        assert!((2000..=2003).contains(&port), "{line}");
    }
    wait_until(
        "exhaustion counted",
        Duration::from_secs(5),
        Duration::from_millis(100),
        || {
            let snat = node.json(&["snat", "--json"]);
            let st = node.json(&["dataplane", "--json"]);
            snat[0]["exhausted"].as_u64().unwrap() >= 1
                && st["totals"]["drops_ports_exhausted"].as_u64().unwrap() >= 1
        },
    )
    .unwrap();
    // The mappings are reclaimed for new endpoints once idle for the pool's 5 s UDP timeout;
    // a flow that was active after it was queued is freed up to one timeout later (conntrack
    // expiry looks at each list head once per timeout).
    let mut got = Vec::new();
    wait_until(
        "ports back after the timeout",
        Duration::from_secs(15),
        Duration::from_millis(500),
        || {
            got = probe(&ua, PORT, "again", &[7200, 7201]);
            got.iter().all(|l| l.contains(" answer "))
        },
    )
    .unwrap_or_else(|e| panic!("{e}: {got:?}"));
}

#[test]
fn fullnat_service_with_a_backend_that_has_no_route_to_clients() {
    let lab = Lab::for_current_test();
    let (lb, client, be) = (lab.netns("lb"), lab.netns("cl"), lab.netns("be"));
    link(&lab, &lb, "eth0", &client, "198.18.20", 2);
    lb.add_addr("eth0", "198.18.30.1/32");
    client.add_route("198.18.30.0/24 via 198.18.20.1");
    full_checksums(&client, "eth0");
    link(&lab, &lb, "eth1", &be, "198.18.21", 2);
    // The pool address is on the backends' subnet, so they reach it without any route; the
    // host answers ARP for it.
    lb.add_addr("eth1", "198.18.21.100/32");
    full_checksums(&be, "eth0");
    let unreachable = be.exec(&["ip", "route", "get", "198.18.20.2"]);
    assert!(
        !unreachable.status.success(),
        "the backend must have no route"
    );
    let echo = be
        .process(
            "echo",
            &[
                "python3",
                &peer_script("echo_peer.py"),
                "198.18.21.2",
                "8080",
            ],
        )
        .spawn();
    wait_for_log(&echo, "ready", Duration::from_secs(10)).unwrap();
    lb.sysctl("net.ipv4.ip_forward", "0");
    let header = DataplaneHeader {
        node: "lb",
        shutdown_grace: None,
        interfaces: &[("eth0", ""), ("eth1", "")],
        workers: 2,
        queues: 2,
    };
    let config = format!(
        r#"{header}
[[snat.pool]]
name = "lb"
addresses = ["198.18.21.100"]

[[service]]
name = "echo-tcp"
vip = "198.18.30.1"
port = 80
protocol = "tcp"
mode = "fullnat"
pool = "lb"
backends = [{{ address = "198.18.21.2", port = 8080 }}]

[[service]]
name = "echo-udp"
vip = "198.18.30.1"
port = 80
protocol = "udp"
mode = "fullnat"
pool = "lb"
backends = [{{ address = "198.18.21.2", port = 8080 }}]
"#
    );
    let mut node = Appliance::new(&lab, &lb, "lb", &config);
    node.start();
    node.wait_dataplane_running();
    client.assert_ping("198.18.20.1");
    // The backend saw the pool address, over TCP and UDP.
    let (tcp, udp) = ask_at(&node, &client, "198.18.30.1", "80", "c");
    for seen in [&tcp, &udp] {
        assert!(seen.starts_with("198.18.21.100:"), "{tcp} {udp}");
    }
    let ct = node.json(&["conntrack", "--json"]);
    assert!(
        ct["flows"]
            .as_array()
            .unwrap()
            .iter()
            .any(|f| f["kind"] == "fullnat" && f["client"] == "198.18.20.2:5000"),
        "{ct}"
    );
}

/// The appliance at both ends: `site` is the site's gateway (a tunnel with `role = "site"`
/// carrying its inside prefix, as the drills build it), `lb` the central SNAT gateway with the
/// usual tunnel and pool. Neither kernel forwards.
fn site_appliance_config() -> String {
    appliance::drill::site::SiteTunnel {
        node: "site".into(),
        tunnel: "to-central".into(),
        local: "198.18.41.2".parse().unwrap(),
        remote: "198.18.41.1".parse().unwrap(),
        key: Some(100),
        mtu: Some(1400),
        inside: "198.18.64.0/24".parse().unwrap(),
        workers: 2,
    }
    .config()
}

fn central_config() -> String {
    let header = DataplaneHeader {
        node: "gw",
        shutdown_grace: Some("3s"),
        interfaces: &[("eth0", "Internet"), ("eth1", "site underlay")],
        workers: 2,
        queues: 2,
    };
    format!(
        r#"{header}conntrack_per_worker = 4096

{SITE_A_TUNNEL}
[[snat.pool]]
name = "internet"
tunnels = ["site-a"]
addresses = ["198.18.60.1", "198.18.60.2"]
"#
    )
}

#[test]
fn a_second_appliance_is_the_site_gateway() {
    let lab = Lab::for_current_test();
    let (lb, site, user) = (lab.netns("lb"), lab.netns("site"), lab.netns("user"));
    let _srv = internet(&lab, &lb);
    link(&lab, &lb, "eth1", &site, "198.18.41", 2);
    host_behind(&lab, &site, "eth1", &user, "198.18.64", 5);
    for ns in [&lb, &site] {
        ns.sysctl("net.ipv4.ip_forward", "0");
    }
    let mut central = Appliance::new(&lab, &lb, "gw", &central_config());
    central.start();
    let mut gw = Appliance::new(&lab, &site, "site", &site_appliance_config());
    gw.start();
    central.wait_dataplane_running();
    gw.wait_dataplane_running();
    // The site gateway learns the user's MAC address from its ARP request; the host's own
    // address stays the kernel's.
    user.assert_ping("198.18.64.1");

    // TCP and UDP from the user reach the server through both fast paths, and the answers
    // come back the same way; the server sees a pool address of the central gateway.
    let (tcp, udp) = ask(&central, &user, "site");
    lab.write_artifact("seen.txt", format!("tcp {tcp} udp {udp}\n"));
    for seen in [&tcp, &udp] {
        assert!(
            seen.starts_with("198.18.60.1:") || seen.starts_with("198.18.60.2:"),
            "the server sees a pool address, not the inside one: {seen}"
        );
    }
    // ICMP echo, too (the identifier is translated like a port at the central end).
    user.assert_ping(SERVER);

    // The central gateway tracks the site's flows in the tunnel's zone; the site gateway
    // tracks nothing.
    let ct = central.json(&["conntrack", "--json", "--limit", "100"]);
    lab.write_artifact("central-conntrack.json", ct.to_string());
    assert!(
        ct["flows"]
            .as_array()
            .unwrap()
            .iter()
            .any(|f| f["tunnel"] == "site-a"
                && f["client"] == "198.18.64.5:5000"
                && f["protocol"] == 17),
        "{ct}"
    );
    let ct = gw.json(&["conntrack", "--json", "--limit", "100"]);
    assert!(ct["flows"].as_array().unwrap().is_empty(), "{ct}");

    // Both ends count the tunnel both ways (TCP handshake, request, answer, close; a UDP
    // question and answer; an echo and its reply), and the site clamped the user's SYN.
    wait_until(
        "the tunnel counted both ways at both ends",
        Duration::from_secs(5),
        Duration::from_millis(100),
        || {
            let (a, b) = (
                gw.json(&["gre", "--json"]),
                central.json(&["gre", "--json"]),
            );
            lab.write_artifact("site-gre.json", a.to_string());
            lab.write_artifact("central-gre.json", b.to_string());
            let (a, b) = (&a[0], &b[0]);
            let both_ways = |t: &serde_json::Value| {
                t["rx_packets"].as_u64() >= Some(4) && t["tx_packets"].as_u64() >= Some(4)
            };
            a["role"] == "site"
                && b["role"] == "central"
                && both_ways(a)
                && both_ways(b)
                && a["mss_clamped"].as_u64() >= Some(1)
                && a["drops"].as_object().is_some_and(|d| d.is_empty())
        },
    )
    .unwrap();
    for (node, needle) in [
        (
            &gw,
            "to-central 198.18.41.1 -> 198.18.41.2 key 100 mtu 1400 site",
        ),
        (
            &central,
            "site-a 198.18.41.2 -> 198.18.41.1 key 100 mtu 1400 pool internet",
        ),
    ] {
        let out = node.appctl(&["gre"]);
        let text = String::from_utf8_lossy(&out.stdout);
        lab.write_artifact(
            &format!("{}-gre.txt", needle.split(' ').next().unwrap()),
            text.as_bytes(),
        );
        assert!(out.status.success() && text.contains(needle), "{text}");
    }
    let st = gw.json(&["dataplane", "--json"]);
    lab.write_artifact("site-dataplane.json", st.to_string());
    assert!(
        st["totals"]["gre_encapsulated"].as_u64().unwrap() >= 4,
        "{st}"
    );
    assert!(
        st["totals"]["gre_decapsulated"].as_u64().unwrap() >= 4,
        "{st}"
    );

    // Too big for the tunnel, with Don't Fragment: the site gateway answers
    // fragmentation-needed itself, and the user's kernel takes the tunnel's MTU for the server.
    wait_until(
        "frag-needed from the site gateway, learnt by the user",
        Duration::from_secs(5),
        Duration::from_millis(200),
        || {
            user.exec(&[
                "ping", "-n", "-c", "1", "-W", "1", "-M", "do", "-s", "1400", SERVER,
            ]);
            let gre = gw.json(&["gre", "--json"]);
            let learnt = user
                .ip_ok(&["route", "get", SERVER])
                .split_whitespace()
                .collect::<Vec<_>>()
                .windows(2)
                .any(|w| w == ["mtu", "1400"]);
            gre[0]["frag_needed_sent"].as_u64() >= Some(1) && learnt
        },
    )
    .unwrap();
}

/// GRE from a tunnel's remote with the wrong key (or none where one is expected, or one where
/// none is) is refused and counted against that tunnel as `gre_unsupported`, which `appctl gre`
/// shows; nothing of it reaches the server.
#[test]
fn gre_with_a_wrong_or_missing_key_is_counted_against_its_tunnel() {
    let lab = Lab::for_current_test();
    let lb = lab.netns("lb");
    let _srv = internet(&lab, &lb);
    // Site a's tunnel expects key 100 and its gateway sends none; site b's expects none and
    // gets key 100.
    let ua = site(&lab, &lb, "a", "eth1", 41, "-");
    let ub = site(&lab, &lb, "b", "eth2", 42, "100");
    let inside = lab.netns("in");
    host_behind(&lab, &lb, "eth3", &inside, "198.18.96", 9);
    lb.sysctl("net.ipv4.ip_forward", "0");
    let mut node = Appliance::new(&lab, &lb, "gw", &config(TWO_ADDRESSES));
    node.start();
    node.wait_dataplane_running();
    for user in [&ua, &ub] {
        let out = user.exec(&["ping", "-c", "3", "-i", "0.2", "-W", "1", SERVER]);
        assert!(!out.status.success(), "a refused tunnel reached the server");
    }
    let drops = |name: &str| {
        let gre = node.json(&["gre", "--json"]);
        gre.as_array()
            .unwrap()
            .iter()
            .find(|t| t["name"] == name)
            .and_then(|t| t["drops"]["gre_unsupported"].as_u64())
            .unwrap_or(0)
    };
    wait_until(
        "gre_unsupported counted on both tunnels",
        Duration::from_secs(5),
        Duration::from_millis(100),
        || drops("site-a") >= 3 && drops("site-b") >= 3,
    )
    .unwrap_or_else(|e| panic!("{e}: {}", node.json(&["gre", "--json"])));
    let human = String::from_utf8_lossy(&node.appctl(&["gre"]).stdout).into_owned();
    assert!(human.contains("gre_unsupported"), "{human}");
}
