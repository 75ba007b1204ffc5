//! The BGP speaker of two real `applianced` nodes against BIRD 2 as the upstream router, judged
//! by what matters: the router's kernel route to the VIP and its nexthops (BIRD's kernel
//! protocol with `merge paths`, as in the lab report). Health flips, drains, hung nodes
//! (SIGSTOP), MD5 and SIGTERM each must show up there.

use std::time::Duration;

use netns_tests::{
    bird, require_tool, wait_for_log, wait_until, Appliance, Lab, Netns, Proc, Signal,
};

const VIP: &str = "198.18.255.1";
const VIP6: &str = "2001:db8:ffff::1";
const ROUTER_AS: u32 = 65000;

/// Node i (1-based) sits on its own /30 and /64 towards the router.
fn node_addr(i: u32) -> (String, String) {
    (
        format!("198.18.1.{}", 4 * (i - 1) + 2),
        format!("2001:db8:{i}::2"),
    )
}
fn router_addr(i: u32) -> (String, String) {
    (
        format!("198.18.1.{}", 4 * (i - 1) + 1),
        format!("2001:db8:{i}::1"),
    )
}

#[derive(Default)]
struct Peering {
    node_as: u32,
    md5_router: Option<&'static str>,
    /// BIRD side: `ttl security yes` (GTSM).
    gtsm: bool,
    /// BIRD side dials; the node only listens.
    node_passive: bool,
    /// Rewrites the node's generated configuration.
    node_edit: Option<fn(String) -> String>,
}

fn router_conf(peers: &[Peering], v6: bool) -> String {
    let mut c = bird::router_header("198.18.1.1", "all", ROUTER_AS, v6);
    for (i, p) in peers.iter().enumerate() {
        let i = i as u32 + 1;
        let (n4, n6) = node_addr(i);
        let (r4, r6) = router_addr(i);
        let pw = p
            .md5_router
            .map(|k| format!("password \"{k}\";"))
            .unwrap_or_default();
        // BIRD treats iBGP as multihop unless told the peer is on the link.
        let mut direct = if p.node_as == ROUTER_AS {
            "direct;"
        } else {
            ""
        }
        .to_string();
        if p.gtsm {
            direct.push_str(" ttl security yes;");
        }
        let options = format!("{pw} {direct}");
        c.push_str(&bird::session(
            &format!("n{i}"),
            &n4,
            p.node_as,
            &r4,
            &options,
            "ipv4",
        ));
        if v6 {
            c.push_str(&bird::session(
                &format!("n{i}v6"),
                &n6,
                p.node_as,
                &r6,
                &options,
                "ipv6",
            ));
        }
    }
    c
}

fn node_conf(i: u32, p: &Peering, md5: Option<&str>, v6: bool) -> String {
    let node_as = p.node_as;
    let (n4, n6) = node_addr(i);
    let (r4, r6) = router_addr(i);
    let mut pw = md5
        .map(|k| format!("md5_password = \"{k}\"\n"))
        .unwrap_or_default();
    if p.gtsm {
        pw.push_str("gtsm = true\n");
    }
    if p.node_passive {
        pw.push_str("passive = true\n");
    }
    let mut c = format!(
        "[daemon]\nnode_name = \"n{i}\"\nshutdown_grace = \"10s\"\n\n\
         [checks.web]\ntype = \"tcp\"\ntarget = \"{n4}:8080\"\ntimeout = \"500ms\"\n\
         interval = \"200ms\"\nfastinter = \"200ms\"\ndowninter = \"200ms\"\nrise = 1\nfall = 1\n\n\
         [bgp]\nlocal_as = {node_as}\nrouter_id = \"{n4}\"\ngraceful_shutdown_wait = \"2s\"\n\
         connect_retry = \"1s\"\n\n\
         [[bgp.neighbor]]\naddress = \"{r4}\"\nremote_as = {ROUTER_AS}\nlocal_address = \"{n4}\"\n{pw}\n\
         [[bgp.announce]]\nprefix = \"{VIP}/32\"\nchecks = [\"web\"]\n"
    );
    if v6 {
        c.push_str(&format!(
            "\n[[bgp.neighbor]]\naddress = \"{r6}\"\nremote_as = {ROUTER_AS}\nlocal_address = \"{n6}\"\n{pw}\n\
             [[bgp.announce]]\nprefix = \"{VIP6}/128\"\nchecks = [\"web\"]\n"
        ));
    }
    c
}

struct Bed {
    lab: Lab,
    router: Netns,
    nodes: Vec<(Netns, Appliance)>,
    webs: Vec<Option<Proc>>,
    _bird: Proc,
}

const WEB_PY: &str = "import socket,sys\n\
s=socket.socket()\ns.setsockopt(socket.SOL_SOCKET,socket.SO_REUSEADDR,1)\n\
s.bind((sys.argv[1],8080))\ns.listen(16)\nprint('listening',flush=True)\n\
while True:\n    c,_=s.accept()\n    c.close()\n";

fn setup(peers: Vec<Peering>, node_md5: &[Option<&str>], v6: bool) -> Bed {
    let lab = Lab::for_current_test();
    let router = lab.netns("r");
    let mut nodes = Vec::new();
    for i in 1..=peers.len() as u32 {
        let ns = lab.netns(&format!("n{i}"));
        lab.veth(&router, &format!("eth{i}"), &ns, "eth0");
        let (n4, n6) = node_addr(i);
        let (r4, r6) = router_addr(i);
        router.add_addr(&format!("eth{i}"), &format!("{r4}/30"));
        ns.add_addr("eth0", &format!("{n4}/30"));
        if v6 {
            router.sysctl(&format!("net.ipv6.conf.eth{i}.accept_dad"), "0");
            ns.sysctl("net.ipv6.conf.eth0.accept_dad", "0");
            router.add_addr(&format!("eth{i}"), &format!("{r6}/64"));
            ns.add_addr("eth0", &format!("{n6}/64"));
        }
        let p = &peers[i as usize - 1];
        let mut cfg = node_conf(i, p, node_md5[i as usize - 1], v6);
        if let Some(edit) = p.node_edit {
            cfg = edit(cfg);
        }
        let node = Appliance::new(&lab, &ns, &format!("n{i}"), &cfg);
        nodes.push((ns, node));
    }
    let bird = bird::spawn(&lab, &router, "bird", &router_conf(&peers, v6));
    let mut bed = Bed {
        lab,
        router,
        webs: Vec::new(),
        nodes,
        _bird: bird,
    };
    for i in 0..bed.nodes.len() {
        let w = bed.start_web(i);
        bed.webs.push(Some(w));
        bed.nodes[i].1.start();
    }
    bed
}

impl Bed {
    fn start_web(&self, i: usize) -> Proc {
        let (n4, _) = node_addr(i as u32 + 1);
        let script = self.lab.write_artifact("web.py", WEB_PY);
        let p = self.nodes[i].0.spawn(
            &format!("web-n{}", i + 1),
            &["/usr/bin/python3", script.to_str().unwrap(), &n4],
        );
        wait_for_log(&p, "listening", Duration::from_secs(10)).unwrap();
        p
    }

    /// Nexthops of the router's kernel route to `dst` (0: no route).
    fn nexthops(&self, dst: &str) -> usize {
        let out = self.router.ip(&["route", "show", dst]);
        let text = String::from_utf8_lossy(&out.stdout).to_string();
        let text = if dst.contains(':') {
            String::from_utf8_lossy(&self.router.ip(&["-6", "route", "show", dst]).stdout)
                .to_string()
        } else {
            text
        };
        if text.trim().is_empty() {
            0
        } else {
            text.matches("nexthop").count().max(1)
        }
    }

    fn expect_nexthops(&self, dst: &str, n: usize, within: Duration) {
        let r = wait_until(
            &format!("router route to {dst} with {n} nexthop(s)"),
            within,
            Duration::from_millis(20),
            || self.nexthops(dst) == n,
        );
        if let Err(e) = r {
            let route = self.router.ip(&["route", "show", "table", "all"]);
            panic!(
                "{e}\nrouter routes:\n{}\nn1 bgp:\n{}",
                String::from_utf8_lossy(&route.stdout),
                String::from_utf8_lossy(&self.nodes[0].1.appctl(&["bgp"]).stdout)
            );
        }
    }
}

#[test]
fn ebgp_ecmp_follows_health_drain_and_sigterm() {
    let mut bed = setup(
        vec![
            Peering {
                node_as: 65001,
                ..Default::default()
            },
            Peering {
                node_as: 65002,
                ..Default::default()
            },
        ],
        &[None, None],
        false,
    );
    bed.expect_nexthops(VIP, 2, Duration::from_secs(20));

    // n1's service dies: its route goes, n2's stays.
    bed.webs[0].take().unwrap().kill();
    bed.expect_nexthops(VIP, 1, Duration::from_secs(5));
    let bgp = String::from_utf8_lossy(&bed.nodes[0].1.appctl(&["bgp"]).stdout).to_string();
    assert!(bgp.contains("check web down"), "{bgp}");
    // It recovers: both again.
    bed.webs[0] = Some(bed.start_web(0));
    bed.expect_nexthops(VIP, 2, Duration::from_secs(5));

    // Operator drain and undrain.
    let out = bed.nodes[1].1.appctl(&["bgp", "drain", "198.18.255.1/32"]);
    assert!(
        out.status.success(),
        "{}",
        String::from_utf8_lossy(&out.stderr)
    );
    // The reply is the state after the drain, not before it.
    let text = String::from_utf8_lossy(&out.stdout).to_string();
    assert!(text.contains("drained by operator"), "{text}");
    bed.expect_nexthops(VIP, 1, Duration::from_secs(5));
    let st = bed.nodes[1].1.status();
    assert_eq!(
        st["bgp"]["prefixes"][0]["reason"], "drained by operator",
        "{st}"
    );
    let out = bed.nodes[1]
        .1
        .appctl(&["bgp", "undrain", "198.18.255.1/32"]);
    assert!(out.status.success());
    let text = String::from_utf8_lossy(&out.stdout).to_string();
    assert!(!text.contains("drained by operator"), "{text}");
    bed.expect_nexthops(VIP, 2, Duration::from_secs(5));
    let bad = bed.nodes[1].1.appctl(&["bgp", "drain", "198.18.254.0/24"]);
    assert!(!bad.status.success());

    // Status: the session and its negotiated parameters.
    let st = bed.nodes[0].1.status();
    let peer = &st["bgp"]["peers"][0];
    assert_eq!(peer["state"], "established", "{st}");
    assert_eq!(peer["hold_time"], 3, "{st}");

    // SIGTERM: first RFC 8326 GRACEFUL_SHUTDOWN (65535:0) on n1's route, then the route
    // leaves the router and the node exits cleanly.
    let p = bed.nodes[0].1.proc().clone();
    p.signal(Signal::SIGTERM).unwrap();
    let birdc = require_tool("birdc");
    let sock = bed.lab.artifact_path("bird.ctl");
    wait_until(
        "GRACEFUL_SHUTDOWN community on the router's route",
        Duration::from_secs(2),
        Duration::from_millis(20),
        || {
            let out = bed.router.exec(&[
                birdc.to_str().unwrap(),
                "-s",
                sock.to_str().unwrap(),
                "show route 198.18.255.1/32 all protocol n1",
            ]);
            String::from_utf8_lossy(&out.stdout).contains("(65535,0)")
        },
    )
    .unwrap();
    bed.expect_nexthops(VIP, 1, Duration::from_secs(5));
    let status = p.wait_timeout(Duration::from_secs(10)).expect("node exits");
    assert!(status.success(), "exit {status:?}:\n{}", p.log());
}

#[test]
fn ibgp_and_ipv6_ecmp() {
    let bed = setup(
        vec![
            Peering {
                node_as: ROUTER_AS,
                ..Default::default()
            },
            Peering {
                node_as: ROUTER_AS,
                ..Default::default()
            },
        ],
        &[None, None],
        true,
    );
    bed.expect_nexthops(VIP, 2, Duration::from_secs(20));
    bed.expect_nexthops(VIP6, 2, Duration::from_secs(20));
}

#[test]
fn hung_node_dropped_at_hold_expiry() {
    let bed = setup(
        vec![
            Peering {
                node_as: 65001,
                ..Default::default()
            },
            Peering {
                node_as: 65002,
                ..Default::default()
            },
        ],
        &[None, None],
        false,
    );
    bed.expect_nexthops(VIP, 2, Duration::from_secs(20));
    let p = bed.nodes[0].1.proc().clone();
    p.signal(Signal::SIGSTOP).unwrap();
    // Hold time 3 s: gone after at most ~3 s plus BIRD's timer granularity, not before ~2 s.
    let t = std::time::Instant::now();
    bed.expect_nexthops(VIP, 1, Duration::from_secs(6));
    assert!(
        t.elapsed() >= Duration::from_millis(1500),
        "{:?}",
        t.elapsed()
    );
    p.signal(Signal::SIGCONT).unwrap();
    bed.expect_nexthops(VIP, 2, Duration::from_secs(20));
}

#[test]
fn md5_key_must_match() {
    let bed = setup(
        vec![
            Peering {
                node_as: 65001,
                md5_router: Some("right-key"),
                ..Default::default()
            },
            Peering {
                node_as: 65002,
                md5_router: Some("right-key"),
                ..Default::default()
            },
        ],
        &[Some("right-key"), Some("wrong-key")],
        false,
    );
    bed.expect_nexthops(VIP, 1, Duration::from_secs(20));
    // The mismatched node never establishes.
    std::thread::sleep(Duration::from_secs(3));
    assert_eq!(bed.nexthops(VIP), 1);
    let st = bed.nodes[1].1.status();
    assert_ne!(st["bgp"]["peers"][0]["state"], "established", "{st}");
    let good = bed.nodes[0].1.status();
    assert_eq!(good["bgp"]["peers"][0]["state"], "established", "{good}");
    assert_eq!(good["bgp"]["peers"][0]["md5"], true);
    // The key never appears in status.
    assert!(!good.to_string().contains("right-key"));
}

#[test]
fn gtsm_and_passive_sessions() {
    let bed = setup(
        vec![
            Peering {
                node_as: 65001,
                gtsm: true,
                ..Default::default()
            },
            Peering {
                node_as: 65002,
                node_passive: true,
                ..Default::default()
            },
        ],
        &[None, None],
        false,
    );
    bed.expect_nexthops(VIP, 2, Duration::from_secs(20));
}

/// The VIP follows VRRP mastership (here: Fault through a tracked check), and the session,
/// its events and the latency histogram are visible to the operator.
#[test]
fn vrrp_gate_events_and_metrics() {
    fn edit(c: String) -> String {
        let c = c.replace(
            "prefix = \"198.18.255.1/32\"\nchecks = [\"web\"]\n",
            "prefix = \"198.18.255.1/32\"\nvrrp_instance = \"vi\"\n",
        );
        format!(
            "{c}\n[interfaces.eth0]\n\n[metrics]\nlisten = \"127.0.0.1:9469\"\n\n\
             [[vrrp.instance]]\nname = \"vi\"\ninterface = \"eth0\"\nvrid = 7\n\
             advert_interval = \"100ms\"\nvirtual_addresses = [\"198.18.2.1/32\"]\n\
             track_checks = [{{ check = \"web\", weight = 0 }}]\n"
        )
    }
    let mut bed = setup(
        vec![Peering {
            node_as: 65001,
            node_edit: Some(edit),
            ..Default::default()
        }],
        &[None],
        false,
    );
    bed.expect_nexthops(VIP, 1, Duration::from_secs(20));
    bed.webs[0].take().unwrap().kill();
    bed.expect_nexthops(VIP, 0, Duration::from_secs(5));
    let st = bed.nodes[0].1.status();
    let reason = st["bgp"]["prefixes"][0]["reason"]
        .as_str()
        .unwrap_or_default();
    assert!(reason.starts_with("vrrp vi is"), "{st}");
    bed.webs[0] = Some(bed.start_web(0));
    bed.expect_nexthops(VIP, 1, Duration::from_secs(10));

    let ev = bed.nodes[0].1.appctl(&["events", "--json"]);
    let ev = String::from_utf8_lossy(&ev.stdout);
    for kind in ["peer_established", "withdraw", "announce"] {
        assert!(
            ev.contains(&format!("\"kind\":\"{kind}\"")),
            "{kind} in {ev}"
        );
    }
    let curl = require_tool("curl");
    let out = bed.nodes[0].0.exec(&[
        curl.to_str().unwrap(),
        "-s",
        "http://127.0.0.1:9469/metrics",
    ]);
    let m = String::from_utf8_lossy(&out.stdout);
    assert!(
        m.contains("appliance_bgp_peer_established{neighbor=\"198.18.1.1\"} 1"),
        "{m}"
    );
    let count = m
        .lines()
        .find(|l| l.starts_with("appliance_bgp_update_latency_seconds_count"))
        .and_then(|l| l.split_whitespace().last())
        .and_then(|v| v.parse::<u64>().ok())
        .unwrap_or(0);
    assert!(
        count >= 2,
        "a withdrawal and an announcement measured:\n{m}"
    );
}

/// GTSM on our side only: the router sends TTL 1 (plain eBGP), which the receive floor of 254
/// drops, so no session comes up.
#[test]
fn gtsm_one_sided_does_not_establish() {
    fn edit(c: String) -> String {
        c.replace(
            "local_address = \"198.18.1.2\"\n",
            "local_address = \"198.18.1.2\"\ngtsm = true\n",
        )
    }
    let bed = setup(
        vec![Peering {
            node_as: 65001,
            node_edit: Some(edit),
            ..Default::default()
        }],
        &[None],
        false,
    );
    std::thread::sleep(Duration::from_secs(5));
    assert_eq!(bed.nexthops(VIP), 0);
    let st = bed.nodes[0].1.status();
    assert_ne!(st["bgp"]["peers"][0]["state"], "established", "{st}");
}

/// A reload that adds an announcement and changes a check's interval applies both in place:
/// the reply says so, the session stays up (same establishment time), the new prefix reaches
/// the router.
#[test]
fn reload_keeps_session() {
    let bed = setup(
        vec![Peering {
            node_as: 65001,
            ..Default::default()
        }],
        &[None],
        false,
    );
    bed.expect_nexthops(VIP, 1, Duration::from_secs(20));
    let node = &bed.nodes[0].1;
    let since = node.status()["bgp"]["peers"][0]["established_unix_ms"].clone();
    assert!(since.is_u64(), "{}", node.status());

    let cfg = std::fs::read_to_string(&node.config).unwrap();
    let cfg = cfg.replace("interval = \"200ms\"", "interval = \"300ms\"")
        + "\n[[bgp.announce]]\nprefix = \"198.18.255.2/32\"\n";
    std::fs::write(&node.config, cfg).unwrap();
    let out = node.appctl(&["reload"]);
    let text = String::from_utf8_lossy(&out.stdout).to_string();
    assert!(
        out.status.success(),
        "{}",
        String::from_utf8_lossy(&out.stderr)
    );
    let lines: Vec<&str> = text.lines().skip(1).collect();
    assert_eq!(lines.len(), 2, "{text}");
    assert!(
        lines[0].starts_with("health")
            && lines[0].contains("web")
            && lines[0].contains("applied")
            && lines[0].contains("interval 200ms → 300ms"),
        "{text}"
    );
    assert!(
        lines[1].starts_with("bgp")
            && lines[1].contains("198.18.255.2/32")
            && lines[1].contains("added"),
        "{text}"
    );
    let json = node.appctl(&["reload", "--json"]);
    let v: serde_json::Value = serde_json::from_slice(&json.stdout).unwrap();
    assert_eq!(v["changes"], serde_json::json!([]), "{v}");

    bed.expect_nexthops("198.18.255.2", 1, Duration::from_secs(5));
    let st = node.status();
    assert_eq!(st["bgp"]["peers"][0]["state"], "established", "{st}");
    assert_eq!(st["bgp"]["peers"][0]["established_unix_ms"], since, "{st}");
}
