//! The XDP steering program on a veth in a namespace: with it attached (native, and generic),
//! ping and TCP to the host still work, frames to a configured VIP:port reach the AF_XDP socket,
//! a graceful stop detaches it, and after a crash the daemon's leftover sweep does.

use std::time::Duration;

use netns_tests::{bin_path, wait_for_log, wait_until, Appliance, Lab, Netns, Proc, Signal};

const LB: &str = "198.18.10.1";
const CLIENT: &str = "198.18.10.2";
const VIP: &str = "198.18.10.100";

fn topology(lab: &Lab) -> (Netns, Netns) {
    let (lb, client) = (lab.netns("lb"), lab.netns("cl"));
    lab.veth(&lb, "eth0", &client, "eth0");
    lb.add_addr("eth0", &format!("{LB}/24"));
    lb.add_addr("eth0", &format!("{VIP}/32"));
    client.add_addr("eth0", &format!("{CLIENT}/24"));
    (lb, client)
}

fn probe(lb: &Netns, state: &str, generic: bool) -> Proc {
    let bin = bin_path("xdp-probe");
    let vip_tcp = format!("{VIP}:80/tcp");
    let vip_udp = format!("{VIP}:53/udp");
    let mut args = vec![
        bin.to_str().unwrap(),
        "--iface",
        "eth0",
        "--state",
        state,
        "--service",
        &vip_tcp,
        "--service",
        &vip_udp,
        "--local",
        LB,
    ];
    if generic {
        args.push("--generic");
    }
    let p = lb.process("xdp-probe", &args).spawn();
    wait_for_log(&p, "ready", Duration::from_secs(10)).unwrap();
    p
}

/// An XDP program of ours is attached: the steering program, or the offload program that
/// runs in front of it when the daemon has the offload on.
fn xdp_attached(ns: &Netns) -> bool {
    let link = ns.ip_ok(&["link", "show", "dev", "eth0"]);
    link.contains("appl_steer") || link.contains("name offload")
}

/// `bash -c 'exec 3<>/dev/tcp/..'` connects (and closes) within `secs`.
fn tcp_connects(ns: &Netns, addr: &str, port: u16, secs: u32) -> bool {
    ns.exec(&[
        "timeout",
        &secs.to_string(),
        "bash",
        "-c",
        &format!("exec 3<>/dev/tcp/{addr}/{port}"),
    ])
    .status
    .success()
}

fn steers_owned_frames_only(generic: bool) {
    let lab = Lab::for_current_test();
    let (lb, client) = topology(&lab);
    let state = lab.artifact_path("state");
    std::fs::create_dir_all(&state).unwrap();
    let p = probe(&lb, state.to_str().unwrap(), generic);
    let mode = if generic { "Generic" } else { "Native" };
    assert!(p.log().contains(&format!("attached {mode}")), "{}", p.log());
    assert!(xdp_attached(&lb));

    // The host's own traffic still goes to the kernel: ARP, ping, TCP to an address and to a
    // port of the VIP that is not a service.
    let _web = lb
        .process(
            "host-http",
            &["python3", "-m", "http.server", "8000", "--bind", "0.0.0.0"],
        )
        .spawn();
    client.assert_ping(LB);
    client.assert_ping(VIP);
    wait_until(
        "host TCP through the kernel",
        Duration::from_secs(10),
        Duration::from_millis(100),
        || tcp_connects(&client, LB, 8000, 2),
    )
    .unwrap();
    assert!(tcp_connects(&client, VIP, 8000, 2));

    // Service traffic reaches the AF_XDP socket (and so never the kernel: the TCP connection
    // to VIP:80 is not answered).
    assert!(!tcp_connects(&client, VIP, 80, 1));
    client.run_ok(&["bash", "-c", &format!("echo probe > /dev/udp/{VIP}/53")]);
    wait_for_log(&p, &format!("tcp {CLIENT}:"), Duration::from_secs(5)).unwrap();
    wait_for_log(&p, &format!("-> {VIP}:53"), Duration::from_secs(5)).unwrap();
    let log = p.log();
    for line in log.lines().filter(|l| l.starts_with("rx ")) {
        assert!(
            line.contains(&format!("-> {VIP}:80")) || line.contains(&format!("-> {VIP}:53")),
            "a frame that is not a service's reached the socket: {line}\n{log}"
        );
    }

    // A graceful stop detaches the program and empties the ledger.
    p.signal(Signal::SIGTERM).unwrap();
    wait_for_log(&p, "detached", Duration::from_secs(5)).unwrap();
    assert!(!xdp_attached(&lb));
    let ledger = std::fs::read_to_string(state.join("kernel-objects.json")).unwrap();
    assert!(!ledger.contains("xdp"), "{ledger}");
}

#[test]
fn steering_native_mode() {
    steers_owned_frames_only(false);
}

#[test]
fn steering_generic_mode() {
    steers_owned_frames_only(true);
}

#[test]
fn xdp_left_by_a_crash_is_swept_by_the_daemon() {
    let lab = Lab::for_current_test();
    let (lb, _client) = topology(&lab);
    let config = "[daemon]\nnode_name = \"lb\"\nstate_dir = \"/run/appliance\"\n\n\
                  [control]\nsocket = \"/run/appliance/appctl.sock\"\n\n\
                  [interfaces.eth0]\ndescription = \"data\"\n";
    let mut node = Appliance::new(&lab, &lb, "lb", config);
    let p = probe(&lb, node.state_dir.to_str().unwrap(), false);
    p.kill();
    assert!(xdp_attached(&lb), "a killed process leaves its XDP program");
    node.start();
    assert!(!xdp_attached(&lb), "the start-up sweep detached it");
    let st = node.status();
    assert_eq!(st["daemon"]["leftovers_removed"], 1, "{st}");
}
