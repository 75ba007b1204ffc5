//! The BGP speaker against peers whose connection behaviour is not BIRD's steady dial-and-listen:
//! ExaBGP, which only dials out, and a BIRD that is killed and started again. In both the
//! appliance's own dials are refused for a while, and the session must come up from the peer's
//! dial as soon as the peer makes one (RFC 4271 §8.2.2: Connect and Active accept an incoming
//! connection; the speaker also accepts while Idle waits to dial again), not after the
//! speaker's restart backoff (1 s doubling to 30 s).

use std::time::{Duration, Instant};

use netns_tests::exabgp::{ExaBgp, Neighbor};
use netns_tests::{bird, require_tool, wait_until, Appliance, Lab, Netns, Proc};

const VIP: &str = "198.18.255.1";
const ROUTER: &str = "198.18.1.1";
const NODE: &str = "198.18.1.2";
const ROUTER_AS: u32 = 65000;
const NODE_AS: u32 = 65001;

/// A router namespace and a node namespace on one /30; the node (not started) dials the router
/// and announces the VIP unconditionally.
fn pair(lab: &Lab) -> (Netns, Appliance) {
    let router = lab.netns("r");
    let ns = lab.netns("n1");
    lab.veth(&router, "eth1", &ns, "eth0");
    router.add_addr("eth1", &format!("{ROUTER}/30"));
    ns.add_addr("eth0", &format!("{NODE}/30"));
    let cfg = format!(
        "[daemon]\nnode_name = \"n1\"\nshutdown_grace = \"5s\"\n\n\
         [bgp]\nlocal_as = {NODE_AS}\nrouter_id = \"{NODE}\"\nconnect_retry = \"1s\"\n\
         graceful_shutdown_wait = \"0s\"\n\n\
         [[bgp.neighbor]]\naddress = \"{ROUTER}\"\nremote_as = {ROUTER_AS}\n\
         local_address = \"{NODE}\"\npassive = false\n\n\
         [[bgp.announce]]\nprefix = \"{VIP}/32\"\n"
    );
    let node = Appliance::new(lab, &ns, "n1", &cfg);
    (router, node)
}

/// How many of the node's own connection attempts have failed so far (its info log).
fn dials_failed(node: &Appliance) -> usize {
    node.proc().log().matches("dialling failed").count()
}

fn wait_dials_failed(node: &Appliance, n: usize) {
    wait_until(
        &format!("{n} failed dial(s) of the node"),
        Duration::from_secs(20),
        Duration::from_millis(20),
        || dials_failed(node) >= n,
    )
    .unwrap();
}

fn peer_status(node: &Appliance) -> serde_json::Value {
    node.status()["bgp"]["peers"][0].clone()
}

fn wait_established(node: &Appliance, within: Duration) -> Duration {
    let t = Instant::now();
    let r = wait_until(
        "the node's session Established",
        within,
        Duration::from_millis(20),
        || peer_status(node)["state"] == "established",
    );
    if let Err(e) = r {
        panic!(
            "{e}\n{}",
            String::from_utf8_lossy(&node.appctl(&["bgp"]).stdout)
        );
    }
    t.elapsed()
}

/// Established, and neither status nor `appctl bgp` shows the errors of the refused dials.
fn assert_clean_established(node: &Appliance) {
    let p = peer_status(node);
    assert_eq!(p["state"], "established", "{p}");
    assert!(p["last_error"].is_null(), "stale error: {p}");
    let text = String::from_utf8_lossy(&node.appctl(&["bgp"]).stdout).to_string();
    assert!(text.contains("ESTABLISHED"), "{text}");
    assert!(!text.contains("last error"), "{text}");
}

/// ExaBGP never listens, so every dial of the node is refused; the session can only be
/// ExaBGP's connection. Before the accept-while-Idle fix the node refused it too (it sat in
/// its restart backoff between dials that fail within a millisecond), and no session ever
/// came up: this test would fail its 10 s deadline.
#[test]
fn exabgp_dials() {
    let lab = Lab::for_current_test();
    let (router, mut node) = pair(&lab);
    node.start();
    // The node is in its backoff after refused dials: the state that used to refuse peers.
    wait_dials_failed(&node, 2);
    let exa = ExaBgp::spawn(
        &lab,
        &router,
        "exabgp",
        &Neighbor {
            router_id: ROUTER,
            neighbor: NODE,
            local: ROUTER,
            local_as: ROUTER_AS,
            peer_as: NODE_AS,
        },
    );
    // ExaBGP's start (Python) takes a second or two on a loaded machine; it dials at once.
    let took = wait_established(&node, Duration::from_secs(10));
    eprintln!("established {took:?} after ExaBGP started");
    assert_clean_established(&node);
    wait_until(
        "ExaBGP received the VIP from the node",
        Duration::from_secs(5),
        Duration::from_millis(50),
        || exa.has_route(&format!("{VIP}/32"), NODE),
    )
    .unwrap_or_else(|e| panic!("{e}\n{}", exa.proc.log()));
    let log = node.proc().log();
    assert!(
        log.contains("accepted a connection from the peer"),
        "info log of the accept:\n{log}"
    );
}

/// BIRD's routes from the node (`birdc show route ... protocol n1`).
fn bird_routes(router: &Netns, sock: &str) -> String {
    let birdc = require_tool("birdc");
    let out = router.exec(&[
        birdc.to_str().unwrap(),
        "-s",
        sock,
        &format!("show route {VIP}/32 protocol n1"),
    ]);
    String::from_utf8_lossy(&out.stdout).into_owned()
}

fn bird_established(router: &Netns, sock: &str) -> bool {
    let birdc = require_tool("birdc");
    let out = router.exec(&[birdc.to_str().unwrap(), "-s", sock, "show protocols n1"]);
    String::from_utf8_lossy(&out.stdout).contains("Established")
}

fn start_bird(lab: &Lab, router: &Netns) -> Proc {
    let mut conf = bird::router_header(ROUTER, "all", ROUTER_AS, false);
    // BIRD dials 1 s after it starts (default 5 s): a router back from a restart dials soon.
    conf.push_str(&bird::session(
        "n1",
        NODE,
        NODE_AS,
        ROUTER,
        "connect delay time 1;",
        "ipv4",
    ));
    bird::spawn(lab, router, "bird", &conf)
}

/// BIRD is killed (SIGKILL) and started again after the node's dials have failed three times
/// (its next dial is then 6-8 s away): the session is back from BIRD's own dial within 5 s,
/// and so is the route in BIRD's table. Before the fix the node refused BIRD's dials until its
/// own next dial, 6 s or more after the restart, and this test failed.
#[test]
fn bird_restart() {
    let lab = Lab::for_current_test();
    let (router, mut node) = pair(&lab);
    let sock = lab.artifact_path("bird.ctl").display().to_string();
    let bird = start_bird(&lab, &router);
    node.start();
    wait_established(&node, Duration::from_secs(20));
    wait_until(
        "the VIP in BIRD's table",
        Duration::from_secs(5),
        Duration::from_millis(20),
        || bird_routes(&router, &sock).contains(VIP),
    )
    .unwrap();

    let before = dials_failed(&node);
    bird.kill();
    // 1 s, 2 s, 4 s (each jittered by 0.75-1) between the node's attempts.
    wait_dials_failed(&node, before + 3);
    assert_ne!(peer_status(&node)["state"], "established");
    let _bird = start_bird(&lab, &router);
    let took = wait_established(&node, Duration::from_secs(5));
    eprintln!("established {took:?} after BIRD started again");
    wait_until(
        "BIRD Established, the VIP back in its table",
        Duration::from_secs(2),
        Duration::from_millis(20),
        || bird_established(&router, &sock) && bird_routes(&router, &sock).contains(VIP),
    )
    .unwrap_or_else(|e| panic!("{e}\n{}", bird_routes(&router, &sock)));
    assert_clean_established(&node);
}
