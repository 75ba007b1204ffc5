//! VRRP in namespaces: appliance pairs, and interop with keepalived 2.2.7 in both roles, over
//! IPv4 and IPv6, with and without the virtual MAC.

use std::time::Duration;

use netns_tests::vrrp_lab::{
    appliance_config, has_addr, vrrp_state, wait_vrrp_state, Keepalived, VrrpSpec,
};
use netns_tests::{wait_until, Appliance, Lab, Netns, Signal};

const T: Duration = Duration::from_secs(10);

struct Lan {
    a: Netns,
    b: Netns,
    client: Netns,
}

fn lan(lab: &Lab) -> Lan {
    let (a, b, client) = (lab.netns("a"), lab.netns("b"), lab.netns("c"));
    let l = lab.lan(&[&a, &b, &client], "198.18.0.0/24");
    l.add_subnet("2001:db8:0:1::/64", 1);
    Lan { a, b, client }
}

fn node(lab: &Lab, ns: &Netns, name: &str, specs: &[VrrpSpec]) -> Appliance {
    let mut n = Appliance::new(lab, ns, name, &appliance_config(name, specs, ""));
    n.start();
    n
}

fn counters(n: &Appliance, inst: &str) -> serde_json::Value {
    let st = n.status();
    st["vrrp"]
        .as_array()
        .unwrap()
        .iter()
        .find(|i| i["name"] == inst)
        .unwrap()["counters"]
        .clone()
}

#[test]
fn pair_elects_highest_priority_and_fails_over() {
    let lab = Lab::for_current_test();
    let l = lan(&lab);
    let a = node(&lab, &l.a, "a", &[VrrpSpec::v4(200, 100)]);
    let b = node(&lab, &l.b, "b", &[VrrpSpec::v4(100, 100)]);
    wait_vrrp_state(&a, "vi", "master", T);
    wait_vrrp_state(&b, "vi", "backup", T);
    assert!(has_addr(&l.a, "198.18.0.100") && !has_addr(&l.b, "198.18.0.100"));
    l.client.assert_ping("198.18.0.100");
    let st = b.status();
    let vi = &st["vrrp"][0];
    assert_eq!(vi["master_address"], "198.18.0.1");
    // Master_Down_Interval = 3 * 100 ms + (256 - 100) * 100 ms / 256.
    assert!(
        (vi["master_down_interval_ms"].as_f64().unwrap() - 360.9375).abs() < 0.01,
        "{vi}"
    );

    // Crash: no priority-0 advert; the backup waits Master_Down_Interval.
    a.proc().kill();
    wait_vrrp_state(&b, "vi", "master", T);
    assert!(has_addr(&l.b, "198.18.0.100"));
    l.client.assert_ping("198.18.0.100");
    assert_eq!(counters(&b, "vi")["rcvd_pri_zero_packets"], 0);
}

#[test]
fn graceful_stop_resigns_and_link_down_faults() {
    let lab = Lab::for_current_test();
    let l = lan(&lab);
    let a = node(&lab, &l.a, "a", &[VrrpSpec::v4(200, 100)]);
    let b = node(&lab, &l.b, "b", &[VrrpSpec::v4(100, 100)]);
    wait_vrrp_state(&a, "vi", "master", T);
    wait_vrrp_state(&b, "vi", "backup", T);

    // Link down on the master: Fault, addresses gone, the backup takes over.
    l.a.set_down("eth0");
    wait_vrrp_state(&a, "vi", "fault", T);
    wait_vrrp_state(&b, "vi", "master", T);
    assert!(!has_addr(&l.a, "198.18.0.100"));
    // Link back: a preempts (higher priority).
    l.a.set_up("eth0");
    wait_vrrp_state(&a, "vi", "master", T);
    wait_vrrp_state(&b, "vi", "backup", T);

    // Graceful stop: priority 0 advert, the backup takes over after Skew_Time.
    a.proc().signal(Signal::SIGTERM).unwrap();
    assert!(a.proc().wait_timeout(T).unwrap().success());
    wait_vrrp_state(&b, "vi", "master", T);
    assert!(
        counters(&b, "vi")["rcvd_pri_zero_packets"]
            .as_u64()
            .unwrap()
            >= 1
    );
    assert!(
        !has_addr(&l.a, "198.18.0.100"),
        "resigned master removed its address"
    );
    l.client.assert_ping("198.18.0.100");
}

/// A backup that was not scheduled for longer than Master_Down_Interval (SIGSTOP here; a paused
/// VM, a stalled host) must, once it runs again, take the master's adverts that wait in its
/// socket into account before its expired timer: it stays backup, never becomes master for a
/// moment (which sends an advert and gratuitous ARPs that pull the clients away from the real
/// master). Found by the chaos drill. A stop longer than the 1 s retry tick makes a timer, not
/// the socket, wake the thread first.
#[test]
fn stalled_backup_hears_the_waiting_adverts_before_its_timer() {
    let lab = Lab::for_current_test();
    let l = lan(&lab);
    let a = node(&lab, &l.a, "a", &[VrrpSpec::v4(200, 100)]);
    let b = node(&lab, &l.b, "b", &[VrrpSpec::v4(100, 100)]);
    wait_vrrp_state(&a, "vi", "master", T);
    wait_vrrp_state(&b, "vi", "backup", T);
    for round in 0..5 {
        let before = counters(&b, "vi")["master_transitions"].clone();
        b.proc().signal(Signal::SIGSTOP).unwrap();
        std::thread::sleep(Duration::from_millis(1500));
        b.proc().signal(Signal::SIGCONT).unwrap();
        std::thread::sleep(Duration::from_millis(300));
        let c = counters(&b, "vi");
        assert_eq!(
            c["master_transitions"], before,
            "round {round}: the resumed backup became master: {c}"
        );
        assert!(
            a.status()["vrrp"][0]["split_brain_peer"].is_null(),
            "round {round}"
        );
    }
    let ev = String::from_utf8_lossy(&a.appctl(&["events", "--json"]).stdout).to_string();
    assert!(!ev.contains("\"split_brain\""), "{ev}");
}

#[test]
fn split_brain_is_detected_and_shown() {
    let lab = Lab::for_current_test();
    let l = lan(&lab);
    let a = node(&lab, &l.a, "a", &[VrrpSpec::v4(200, 100)]);
    let b = node(&lab, &l.b, "b", &[VrrpSpec::v4(100, 100)]);
    wait_vrrp_state(&b, "vi", "backup", T);
    // b stops hearing a (one-way loss): it becomes master too; a still hears b.
    l.b.run_ok(&[
        "nft",
        "add table inet t; add chain inet t in { type filter hook input priority 0; }; add rule inet t in meta l4proto 112 drop",
    ]);
    wait_vrrp_state(&b, "vi", "master", T);
    wait_until(
        "split brain shown on a",
        T,
        Duration::from_millis(20),
        || a.status()["vrrp"][0]["split_brain_peer"] == "198.18.0.2",
    )
    .unwrap();
    let out = a.appctl(&["status"]);
    assert!(String::from_utf8_lossy(&out.stdout).contains("SPLIT BRAIN with 198.18.0.2"));
    let ev = String::from_utf8_lossy(&a.appctl(&["events", "--json"]).stdout).to_string();
    assert!(ev.contains("\"split_brain\""), "{ev}");
    // Heal: a stays master (it never stopped), b steps down, the split brain clears.
    l.b.run_ok(&["nft", "delete table inet t"]);
    wait_vrrp_state(&b, "vi", "backup", T);
    wait_until("split brain cleared", T, Duration::from_millis(20), || {
        a.status()["vrrp"][0]["split_brain_peer"].is_null()
    })
    .unwrap();
}

#[test]
fn keepalived_master_then_crash_v4() {
    let lab = Lab::for_current_test();
    let l = lan(&lab);
    let mut ka_spec = VrrpSpec::v4(200, 100);
    ka_spec.name = "VI_1".into();
    let ka = Keepalived::start(&lab, &l.a, "ka", &[ka_spec]);
    wait_until("keepalived master", T, Duration::from_millis(20), || {
        has_addr(&l.a, "198.18.0.100")
    })
    .unwrap();
    let b = node(&lab, &l.b, "b", &[VrrpSpec::v4(100, 100)]);
    wait_vrrp_state(&b, "vi", "backup", T);
    // Adverts from keepalived pass our checks (checksum with the pseudo-header, TTL 255).
    wait_until("adverts counted", T, Duration::from_millis(20), || {
        counters(&b, "vi")["rcvd_advertisements"].as_u64().unwrap() >= 3
    })
    .unwrap();
    let c = counters(&b, "vi");
    assert_eq!(c["checksum_errors"], 0, "{c}");
    assert_eq!(b.status()["vrrp"][0]["master_address"], "198.18.0.1");

    ka.crash(&l.a);
    wait_vrrp_state(&b, "vi", "master", T);
    l.client.assert_ping("198.18.0.100");
}

#[test]
fn appliance_master_keepalived_backup_v4_graceful() {
    let lab = Lab::for_current_test();
    let l = lan(&lab);
    let a = node(&lab, &l.a, "a", &[VrrpSpec::v4(200, 100)]);
    wait_vrrp_state(&a, "vi", "master", T);
    let mut ka_spec = VrrpSpec::v4(100, 100);
    ka_spec.name = "VI_1".into();
    let _ka = Keepalived::start(&lab, &l.b, "ka", &[ka_spec]);
    // keepalived stays backup: give it several Master_Down_Intervals to disagree.
    std::thread::sleep(Duration::from_millis(1500));
    assert!(
        !has_addr(&l.b, "198.18.0.100"),
        "keepalived must accept our adverts"
    );
    assert_eq!(vrrp_state(&a, "vi"), "master");
    assert!(a.status()["vrrp"][0]["split_brain_peer"].is_null());

    a.proc().signal(Signal::SIGTERM).unwrap();
    wait_until(
        "keepalived takes over after our priority 0",
        T,
        Duration::from_millis(10),
        || has_addr(&l.b, "198.18.0.100"),
    )
    .unwrap();
    l.client.assert_ping("198.18.0.100");
}

#[test]
fn keepalived_interop_v6_and_preemption_both_ways() {
    let lab = Lab::for_current_test();
    let l = lan(&lab);
    let mut ka_spec = VrrpSpec::v6(150, 100);
    ka_spec.name = "VI_6".into();
    let _ka = Keepalived::start(&lab, &l.b, "ka", &[ka_spec]);
    wait_until("keepalived v6 master", T, Duration::from_millis(20), || {
        has_addr(&l.b, "2001:db8:0:1::100")
    })
    .unwrap();
    // We join at a higher priority: we preempt keepalived.
    let a = node(&lab, &l.a, "a", &[VrrpSpec::v6(200, 100)]);
    wait_vrrp_state(&a, "vi6", "master", T);
    wait_until(
        "keepalived gave up the address",
        T,
        Duration::from_millis(20),
        || !has_addr(&l.b, "2001:db8:0:1::100"),
    )
    .unwrap();
    l.client.assert_ping("2001:db8:0:1::100");
    assert_eq!(counters(&a, "vi6")["checksum_errors"], 0);

    // Lower our priority by reload: keepalived preempts us.
    a.write_config(&appliance_config("a", &[VrrpSpec::v6(50, 100)], ""));
    let out = a.appctl(&["reload"]);
    assert!(
        out.status.success(),
        "{}",
        String::from_utf8_lossy(&out.stderr)
    );
    wait_vrrp_state(&a, "vi6", "backup", T);
    wait_until(
        "keepalived master again",
        T,
        Duration::from_millis(20),
        || has_addr(&l.b, "2001:db8:0:1::100"),
    )
    .unwrap();
    assert!(!has_addr(&l.a, "2001:db8:0:1::100"));
    l.client.assert_ping("2001:db8:0:1::100");
}

#[test]
fn keepalived_interop_virtual_mac() {
    let lab = Lab::for_current_test();
    let l = lan(&lab);
    let mut ours = VrrpSpec::v4(200, 100);
    ours.virtual_mac = true;
    let a = node(&lab, &l.a, "a", &[ours]);
    wait_vrrp_state(&a, "vi", "master", T);
    let mut ka_spec = VrrpSpec::v4(100, 100);
    ka_spec.name = "VI_1".into();
    ka_spec.virtual_mac = true;
    let _ka = Keepalived::start(&lab, &l.b, "ka", &[ka_spec]);
    l.client.assert_ping("198.18.0.100");
    let neigh = l.client.ip_ok(&["neigh", "show", "198.18.0.100"]);
    assert!(
        neigh.contains("00:00:5e:00:01:33"),
        "client resolved the virtual MAC: {neigh}"
    );
    assert!(l
        .a
        .ip_ok(&["-o", "link", "show", "vr4.51"])
        .contains("00:00:5e:00:01:33"));

    // Graceful stop: keepalived takes over with the same MAC; our macvlan is gone.
    a.proc().signal(Signal::SIGTERM).unwrap();
    assert!(a.proc().wait_timeout(T).unwrap().success());
    wait_until("keepalived master", T, Duration::from_millis(10), || {
        has_addr(&l.b, "198.18.0.100")
    })
    .unwrap();
    assert!(
        !l.a.ip_ok(&["-o", "link", "show"]).contains("vr4.51"),
        "macvlan removed"
    );
    // The client's entry still points at the virtual MAC, now owned by keepalived. (Checked
    // before traffic: keepalived leaves arp_announce alone, so its own ARP requests for the
    // client may repoint the entry to its parent MAC later; ours set arp_announce=2.)
    let neigh = l.client.ip_ok(&["neigh", "show", "198.18.0.100"]);
    assert!(neigh.contains("00:00:5e:00:01:33"), "{neigh}");
    l.client.assert_ping("198.18.0.100");
    // The ARP sysctls we changed on eth0 are restored.
    assert_eq!(l.a.sysctl_get("net.ipv4.conf.eth0.arp_ignore"), "0");
}

#[test]
fn unicast_peers_and_ordered_notify() {
    let lab = Lab::for_current_test();
    let l = lan(&lab);
    let script = lab.write_artifact(
        "notify.sh",
        "#!/bin/sh\necho \"$1 $2 $3\" >> \"$(dirname \"$0\")/notify-$NODE.log\"\n",
    );
    std::fs::set_permissions(&script, std::os::unix::fs::PermissionsExt::from_mode(0o755)).unwrap();
    let spec = |prio: u8, peer: &str, node: &str| {
        let mut s = VrrpSpec::v4(prio, 100);
        s.extra = format!(
            "unicast_peers = [\"{peer}\"]\nnotify = [\"/usr/bin/env\", \"NODE={node}\", \"{}\"]\n",
            script.display()
        );
        s
    };
    let a = node(&lab, &l.a, "a", &[spec(200, "198.18.0.2", "a")]);
    let b = node(&lab, &l.b, "b", &[spec(100, "198.18.0.1", "b")]);
    wait_vrrp_state(&a, "vi", "master", T);
    wait_vrrp_state(&b, "vi", "backup", T);
    // Adverts went unicast: b counted them from a and nobody else.
    wait_until("unicast adverts", T, Duration::from_millis(20), || {
        counters(&b, "vi")["rcvd_advertisements"].as_u64().unwrap() >= 3
    })
    .unwrap();
    a.proc().kill();
    wait_vrrp_state(&b, "vi", "master", T);
    l.client.assert_ping("198.18.0.100");
    // Notify ran for each transition of b, in order.
    let log = lab.artifact_path("notify-b.log");
    wait_until("notify of b", T, Duration::from_millis(20), || {
        std::fs::read_to_string(&log).is_ok_and(|s| s.lines().count() >= 2)
    })
    .unwrap();
    let lines: Vec<String> = std::fs::read_to_string(&log)
        .unwrap()
        .lines()
        .map(String::from)
        .collect();
    assert_eq!(lines[0], "vi backup 100", "{lines:?}");
    assert_eq!(lines[1], "vi master 100", "{lines:?}");
}

#[test]
fn priority_follows_health_check_verdicts() {
    let lab = Lab::for_current_test();
    let l = lan(&lab);
    // The tracked service runs on the client's host, so a's check can fail without VRRP
    // traffic changing at all.
    let start_server = || {
        l.client.spawn(
            "web",
            &[
                "python3",
                "-m",
                "http.server",
                "8080",
                "--bind",
                "198.18.0.3",
            ],
        )
    };
    let server = start_server();
    wait_until("web server", T, Duration::from_millis(50), || {
        l.a.exec(&["bash", "-c", "exec 3<>/dev/tcp/198.18.0.3/8080"])
            .status
            .success()
    })
    .unwrap();
    let checks =
        "[checks.web]\ntype = \"tcp\"\ntarget = \"198.18.0.3:8080\"\ninterval = \"100ms\"\n\
                  timeout = \"100ms\"\nrise = 2\nfall = 2\ninitial = \"up\"\n";
    let mut tracked = VrrpSpec::v4(200, 100);
    tracked.extra = "track_checks = [{ check = \"web\", weight = -150 }]\n".into();
    let mut a = Appliance::new(&lab, &l.a, "a", &appliance_config("a", &[tracked], checks));
    a.start();
    let b = node(&lab, &l.b, "b", &[VrrpSpec::v4(100, 100)]);
    wait_vrrp_state(&a, "vi", "master", T);
    wait_vrrp_state(&b, "vi", "backup", T);

    // The check fails: a's priority drops to 50 and b (100) preempts it.
    server.kill();
    wait_vrrp_state(&b, "vi", "master", T);
    wait_vrrp_state(&a, "vi", "backup", T);
    let st = a.status();
    assert_eq!(st["vrrp"][0]["effective_priority"], 50, "{st}");
    assert_eq!(st["checks"][0]["state"], "down", "{st}");
    l.client.assert_ping("198.18.0.100");

    // It recovers: a is back at 200 and preempts b.
    let _server = start_server();
    wait_vrrp_state(&a, "vi", "master", T);
    wait_vrrp_state(&b, "vi", "backup", T);
    assert_eq!(a.status()["vrrp"][0]["effective_priority"], 200);

    // The operator drains the check: the same as a failure.
    let out = a.appctl(&["health", "set", "web", "down"]);
    assert!(
        out.status.success(),
        "{}",
        String::from_utf8_lossy(&out.stderr)
    );
    wait_vrrp_state(&b, "vi", "master", T);
    let out = a.appctl(&["health", "set", "web", "auto"]);
    assert!(out.status.success());
    wait_vrrp_state(&a, "vi", "master", T);
}

/// Watches `addrs` in `ns` every 5 ms until stopped; returns every address seen missing.
fn watch_addrs(
    ns: &Netns,
    addrs: &[&str],
) -> (
    std::sync::Arc<std::sync::atomic::AtomicBool>,
    std::thread::JoinHandle<Vec<String>>,
) {
    let stop = std::sync::Arc::new(std::sync::atomic::AtomicBool::new(false));
    let (ns, addrs, flag) = (
        ns.clone(),
        addrs.iter().map(|a| a.to_string()).collect::<Vec<_>>(),
        stop.clone(),
    );
    let handle = std::thread::spawn(move || {
        let mut missing = Vec::new();
        while !flag.load(std::sync::atomic::Ordering::Relaxed) {
            for a in &addrs {
                if !has_addr(&ns, a) {
                    missing.push(a.clone());
                }
            }
            std::thread::sleep(Duration::from_millis(5));
        }
        missing
    });
    (stop, handle)
}

fn instance(n: &Appliance, inst: &str) -> serde_json::Value {
    n.status()["vrrp"]
        .as_array()
        .unwrap()
        .iter()
        .find(|i| i["name"] == inst)
        .unwrap()
        .clone()
}

fn reload(n: &Appliance, config: &str) {
    n.write_config(config);
    let out = n.appctl(&["reload"]);
    assert!(out.status.success(), "{out:?}");
}

/// A reload applies priority and address changes in place: the master never resigns, its
/// addresses never leave, and only a priority below the backup's makes the backup take over,
/// by an ordinary preemption.
#[test]
fn reload_applies_in_place() {
    let lab = Lab::for_current_test();
    let l = lan(&lab);
    let a = node(&lab, &l.a, "a", &[VrrpSpec::v4(200, 100)]);
    let b = node(&lab, &l.b, "b", &[VrrpSpec::v4(100, 100)]);
    wait_vrrp_state(&a, "vi", "master", T);
    wait_vrrp_state(&b, "vi", "backup", T);
    let transitions = counters(&a, "vi")["master_transitions"].clone();

    // Priority 200 -> 150 (still the highest).
    let (stop, watcher) = watch_addrs(&l.a, &["198.18.0.100"]);
    reload(&a, &appliance_config("a", &[VrrpSpec::v4(150, 100)], ""));
    wait_until("priority 150 shown", T, Duration::from_millis(10), || {
        instance(&a, "vi")["base_priority"] == 150
            && instance(&a, "vi")["effective_priority"] == 150
    })
    .unwrap();
    // Several adverts with the new priority reach the backup.
    wait_until("b hears priority 150", T, Duration::from_millis(10), || {
        instance(&b, "vi")["master_priority"] == 150
    })
    .unwrap();
    std::thread::sleep(Duration::from_millis(300));
    stop.store(true, std::sync::atomic::Ordering::Relaxed);
    let missing = watcher.join().unwrap();
    assert!(
        missing.is_empty(),
        "VIP left during the reload: {missing:?}"
    );
    assert_eq!(vrrp_state(&a, "vi"), "master");
    assert_eq!(counters(&a, "vi")["master_transitions"], transitions);
    assert_eq!(counters(&a, "vi")["sent_pri_zero_packets"], 0);
    assert_eq!(counters(&b, "vi")["rcvd_pri_zero_packets"], 0);
    assert_eq!(counters(&b, "vi")["master_transitions"], 0);

    // One more virtual address: it appears, the other never leaves.
    let two = |prio: u8| {
        appliance_config("a", &[VrrpSpec::v4(prio, 100)], "").replace(
            "virtual_addresses = [\"198.18.0.100/24\"]",
            "virtual_addresses = [\"198.18.0.100/24\", \"198.18.0.101/24\"]",
        )
    };
    let (stop, watcher) = watch_addrs(&l.a, &["198.18.0.100"]);
    reload(&a, &two(150));
    wait_until("second VIP added", T, Duration::from_millis(5), || {
        has_addr(&l.a, "198.18.0.101")
    })
    .unwrap();
    std::thread::sleep(Duration::from_millis(300));
    stop.store(true, std::sync::atomic::Ordering::Relaxed);
    assert!(watcher.join().unwrap().is_empty());
    l.client.assert_ping("198.18.0.101");
    assert_eq!(counters(&a, "vi")["master_transitions"], transitions);
    assert_eq!(counters(&b, "vi")["rcvd_pri_zero_packets"], 0);

    // Below the backup (preempt on): b takes over once, by preemption; no resignation.
    reload(&a, &two(50));
    wait_vrrp_state(&b, "vi", "master", T);
    wait_vrrp_state(&a, "vi", "backup", T);
    std::thread::sleep(Duration::from_millis(500));
    let cb = counters(&b, "vi");
    assert_eq!(cb["master_transitions"], 1, "{cb}");
    assert_eq!(cb["new_master_reason"], "preempted", "{cb}");
    assert_eq!(cb["rcvd_pri_zero_packets"], 0, "{cb}");
    assert_eq!(vrrp_state(&a, "vi"), "backup");
    assert!(!has_addr(&l.a, "198.18.0.100") && !has_addr(&l.a, "198.18.0.101"));
    l.client.assert_ping("198.18.0.100");
}
