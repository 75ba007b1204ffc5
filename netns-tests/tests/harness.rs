//! Self-tests of the netns harness. They need root (and fail without it).

use std::panic::{catch_unwind, AssertUnwindSafe};
use std::path::Path;
use std::process::Command;
use std::time::Duration;

use netns_tests::*;

/// Asserts none of `names` is still listed by `ip netns list`.
fn assert_gone(names: &[String]) {
    let live = list_netns();
    for n in names {
        assert!(!live.contains(n), "namespace {n} leaked: {live:?}");
    }
}

#[test]
fn handles_are_send_and_sync() {
    fn check<T: Send + Sync>() {}
    check::<Lab>();
    check::<Netns>();
    check::<Proc>();
    check::<Link>();
    check::<Lan>();
}

#[test]
fn veth_pair_pings_over_ipv4_and_ipv6() {
    let lab = Lab::new("veth_pair_pings_over_ipv4_and_ipv6");
    let a = lab.netns("a");
    let b = lab.netns("b");
    let veth = lab.veth(&a, "eth0", &b, "eth0");
    assert_eq!(veth.a.name(), "eth0");
    a.add_addr("eth0", "198.18.0.1/24");
    b.add_addr("eth0", "198.18.0.2/24");
    veth.a.add_addr("2001:db8::1/64");
    veth.b.add_addr("2001:db8::2/64");

    a.assert_ping("198.18.0.2");
    b.assert_ping("198.18.0.1");
    a.assert_ping("2001:db8::2");
    b.assert_ping("2001:db8::1");
    assert!(a.addrs("eth0").contains(&"2001:db8::1".parse().unwrap()));

    // The root namespace has no such interface: links live only in the lab.
    let root = Command::new("ip").args(["-br", "addr"]).output().unwrap();
    assert!(!String::from_utf8_lossy(&root.stdout).contains("198.18.0."));

    let names = lab.namespaces();
    drop(lab);
    assert_gone(&names);
}

#[test]
fn three_hosts_on_a_bridged_lan() {
    let lab = Lab::new("three_hosts_on_a_bridged_lan");
    let hosts = [lab.netns("h1"), lab.netns("h2"), lab.netns("h3")];
    let lan = lab.lan(&[&hosts[0], &hosts[1], &hosts[2]], "198.18.5.0/24");
    let want: Vec<String> = vec![
        "198.18.5.1".into(),
        "198.18.5.2".into(),
        "198.18.5.3".into(),
    ];
    let got: Vec<String> = lan.addrs().iter().map(|a| a.to_string()).collect();
    assert_eq!(got, want);
    assert_eq!(lan.cidr(1), "198.18.5.2/24");

    let v6 = lan.add_subnet("2001:db8:5::/64", 1);
    assert_eq!(v6[2].to_string(), "2001:db8:5::3");

    for (i, h) in hosts.iter().enumerate() {
        for (j, v6_addr) in v6.iter().enumerate() {
            if i != j {
                h.assert_ping(&lan.addr(j));
                h.assert_ping(&v6_addr.to_string());
            }
        }
    }
    // All three ports are enslaved to the switch's bridge.
    let ports = lan.switch.ip_ok(&["-br", "link", "show", "master", "br0"]);
    assert_eq!(ports.lines().count(), 3, "{ports}");
}

#[test]
fn multiqueue_veth_has_two_channels() {
    let lab = Lab::new("multiqueue_veth_has_two_channels");
    let a = lab.netns("a");
    let b = lab.netns("b");
    let veth = lab
        .veth_builder(&a, "xdp0", &b, "eth0")
        .queues(2)
        .mtu(3000)
        .mac_a("02:00:00:00:00:0a")
        .mac_b("02:00:00:00:00:0b")
        .create();

    for end in [&veth.a, &veth.b] {
        let out = end.ns().run_ok(&["ethtool", "-l", end.name()]);
        let current = out
            .split("Current hardware settings:")
            .nth(1)
            .unwrap_or_else(|| panic!("unexpected ethtool -l output:\n{out}"));
        let val = |key: &str| {
            current
                .lines()
                .find(|l| l.starts_with(key))
                .and_then(|l| l.split_whitespace().nth(1))
                .map(str::to_string)
        };
        assert_eq!(val("RX:").as_deref(), Some("2"), "{out}");
        assert_eq!(val("TX:").as_deref(), Some("2"), "{out}");
        // The kernel made two queues of each kind.
        let queues = end
            .ns()
            .run_ok(&["ls", &format!("/sys/class/net/{}/queues", end.name())]);
        for q in ["rx-0", "rx-1", "tx-0", "tx-1"] {
            assert!(queues.split_whitespace().any(|x| x == q), "{queues}");
        }
    }
    assert_eq!(veth.a.mac(), "02:00:00:00:00:0a");
    assert_eq!(veth.b.mac(), "02:00:00:00:00:0b");
    let link = a.ip_ok(&["link", "show", "xdp0"]);
    assert!(link.contains("mtu 3000"), "{link}");
}

#[test]
fn spawned_process_is_captured_and_gone_after_drop() {
    let lab = Lab::new("spawned_process_is_captured_and_gone_after_drop");
    let a = lab.netns("a");
    a.add_addr("lo", "198.18.99.1/32");
    // The shell prints its own pid, then becomes `sleep` via exec.
    let p = a.spawn(
        "sleeper",
        &[
            "sh",
            "-c",
            "echo pid=$$; ip -br addr show lo; echo oops >&2; exec sleep 600",
        ],
    );
    wait_for_log(&p, "oops", Duration::from_secs(5)).unwrap();
    let log = p.log();
    // `ip netns exec` exec()s into the command: no wrapper process.
    assert!(log.contains(&format!("pid={}", p.pid())), "{log}");
    // Output comes from inside the namespace.
    assert!(log.contains("198.18.99.1"), "{log}");
    assert!(p.log_path().ends_with("sleeper.log"));
    wait_until(
        "sleeper to exec sleep",
        Duration::from_secs(5),
        Duration::from_millis(10),
        || {
            std::fs::read_to_string(format!("/proc/{}/comm", p.pid()))
                .is_ok_and(|c| c.trim() == "sleep")
        },
    )
    .unwrap();
    assert!(a.pids().contains(&(p.pid() as i32)));
    assert!(p.is_running());

    // A second process with the same name gets its own log.
    let again = a.spawn("sleeper", &["echo", "second"]);
    assert!(again.log_path().ends_with("sleeper-2.log"));
    assert!(again
        .wait_timeout(Duration::from_secs(5))
        .is_some_and(|s| s.success()));
    assert_eq!(again.log(), "second\n");

    let pid = p.pid();
    let artifacts = lab.artifacts().to_path_buf();
    drop(lab);
    assert!(
        !Path::new(&format!("/proc/{pid}")).exists(),
        "pid {pid} survived the Lab"
    );
    assert!(p.try_status().is_some());
    // Passing test, no NETNS_KEEP: artifacts removed.
    if std::env::var("NETNS_KEEP").as_deref() != Ok("1") {
        assert!(!artifacts.exists());
    }
}

#[test]
fn signals_wait_and_env() {
    let lab = Lab::new("signals_wait_and_env");
    let a = lab.netns("a");
    let p = a
        .process("env", &["sh", "-c", "echo v=$NT_VAR; exec sleep 600"])
        .env("NT_VAR", "hello")
        .spawn();
    wait_for_log(&p, "v=hello", Duration::from_secs(5)).unwrap();
    assert!(p.wait_timeout(Duration::from_millis(50)).is_none());
    p.signal(Signal::SIGTERM).unwrap();
    let st = p
        .wait_timeout(Duration::from_secs(5))
        .expect("exits on SIGTERM");
    use std::os::unix::process::ExitStatusExt;
    assert_eq!(st.signal(), Some(15));
    // Signalling an exited (reaped) process never hits a recycled pid.
    assert!(p.signal(Signal::SIGTERM).is_err());

    let k = a.spawn("killme", &["sleep", "600"]);
    assert_eq!(k.kill().signal(), Some(9));

    // A process that exits without printing the awaited line fails fast.
    let quick = a.spawn("quick", &["sh", "-c", "echo bye; exit 3"]);
    let err = wait_for_log(&quick, "never printed", Duration::from_secs(30)).unwrap_err();
    assert!(err.elapsed < Duration::from_secs(10), "{err}");
    let msg = err.to_string();
    assert!(msg.contains("exited first") && msg.contains("bye"), "{msg}");
}

#[test]
fn process_spawned_from_short_lived_thread_survives_it() {
    // PR_SET_PDEATHSIG is tied to the forking thread; the harness forks from
    // a long-lived thread so this process is not killed when `t` ends.
    let lab = Lab::new("process_spawned_from_short_lived_thread_survives_it");
    let a = lab.netns("a");
    let p = std::thread::spawn({
        let a = a.clone();
        move || a.spawn("sleeper", &["sleep", "600"])
    })
    .join()
    .unwrap();
    std::thread::sleep(Duration::from_millis(300));
    assert!(p.is_running(), "killed when its spawning thread exited");
}

#[test]
fn sysctl_is_per_namespace() {
    let lab = Lab::new("sysctl_is_per_namespace");
    let a = lab.netns("a");
    let b = lab.netns("b");
    a.sysctl("net.ipv4.ip_forward", "1");
    assert_eq!(a.sysctl_get("net.ipv4.ip_forward"), "1");
    assert_eq!(b.sysctl_get("net.ipv4.ip_forward"), "0");
    assert_eq!(a.sysctl_get("net.ipv6.conf.default.accept_dad"), "0");
}

#[test]
fn routing_through_a_router_namespace() {
    let lab = Lab::new("routing_through_a_router_namespace");
    let (h1, r, h2) = (lab.netns("h1"), lab.netns("r"), lab.netns("h2"));
    lab.veth(&h1, "eth0", &r, "eth1");
    lab.veth(&r, "eth2", &h2, "eth0");
    h1.add_addr("eth0", "198.18.1.2/24");
    r.add_addr("eth1", "198.18.1.1/24");
    r.add_addr("eth2", "198.18.2.1/24");
    h2.add_addr("eth0", "198.18.2.2/24");
    r.sysctl("net.ipv4.ip_forward", "1");
    h1.add_route("default via 198.18.1.1");
    h2.add_route("198.18.1.0/24 via 198.18.2.1");
    h1.assert_ping("198.18.2.2");
}

#[test]
fn non_test_addresses_are_refused() {
    let lab = Lab::new("non_test_addresses_are_refused");
    let a = lab.netns("a");
    let r = catch_unwind(AssertUnwindSafe(|| a.add_addr("lo", "203.0.113.1/24")));
    assert!(r.is_err());
    let r = catch_unwind(AssertUnwindSafe(|| a.add_route("192.0.2.0/24 dev lo")));
    assert!(r.is_err());
    assert!(a.addrs("lo").iter().all(|ip| ip.is_loopback()));
}

#[test]
fn failing_command_names_itself() {
    let lab = Lab::new("failing_command_names_itself");
    let a = lab.netns("a");
    let err = catch_unwind(AssertUnwindSafe(|| a.set_up("nope0"))).unwrap_err();
    let msg = err.downcast_ref::<String>().cloned().unwrap_or_default();
    assert!(
        msg.contains("link set nope0 up") && msg.contains("stderr"),
        "{msg}"
    );
    assert!(!a.exec(&["false"]).status.success());
}

#[test]
fn panic_inside_a_lab_leaves_nothing_behind() {
    let mut names = Vec::new();
    let mut pid = 0;
    let mut artifacts = None;
    let r = catch_unwind(AssertUnwindSafe(|| {
        let lab = Lab::new("panic_inside_a_lab_leaves_nothing_behind");
        let a = lab.netns("a");
        let b = lab.netns("b");
        lab.veth(&a, "eth0", &b, "eth0");
        let p = a.spawn("victim", &["sh", "-c", "echo started; exec sleep 600"]);
        wait_for_log(&p, "started", Duration::from_secs(5)).unwrap();
        pid = p.pid();
        names = lab.namespaces();
        artifacts = Some(lab.artifacts().to_path_buf());
        panic!("deliberate failure inside a Lab");
    }));
    assert!(r.is_err());
    assert_eq!(names.len(), 2);
    assert_gone(&names);
    assert!(!Path::new(&format!("/proc/{pid}")).exists());
    // A failing test keeps its logs for inspection; remove them here since
    // this failure was deliberate.
    let artifacts = artifacts.unwrap();
    assert!(artifacts.join("victim.log").exists());
    std::fs::remove_dir_all(artifacts).unwrap();
}

#[test]
fn stale_namespaces_of_dead_pids_are_removed() {
    require_root();
    // A pid that certainly belongs to no live process: one we just reaped.
    let dead = loop {
        let mut c = Command::new("true").spawn().unwrap();
        let pid = c.id();
        c.wait().unwrap();
        if !Path::new(&format!("/proc/{pid}")).exists() {
            break pid;
        }
    };
    let name = format!("{NETNS_PREFIX}{dead}-0-stale");
    assert_eq!(owner_pid(&name), Some(dead));
    let st = Command::new("ip")
        .args(["netns", "add", &name])
        .status()
        .unwrap();
    assert!(st.success());
    // Remove it even if an assertion below fails.
    struct Guard(String);
    impl Drop for Guard {
        fn drop(&mut self) {
            let _ = Command::new("ip")
                .args(["netns", "del", &self.0])
                .stderr(std::process::Stdio::null())
                .status();
        }
    }
    let _guard = Guard(name.clone());
    // A leftover process inside it, as a killed run would leave.
    let mut inside = Command::new("ip")
        .args(["netns", "exec", &name, "sleep", "600"])
        .spawn()
        .unwrap();
    wait_until(
        "sleep to enter the stale namespace",
        Duration::from_secs(5),
        Duration::from_millis(10),
        || {
            let out = Command::new("ip")
                .args(["netns", "pids", &name])
                .output()
                .unwrap();
            !out.stdout.is_empty()
        },
    )
    .unwrap();

    remove_stale_namespaces();
    assert!(
        !list_netns().contains(&name),
        "stale namespace {name} survived"
    );
    let st = inside.wait().unwrap();
    use std::os::unix::process::ExitStatusExt;
    assert_eq!(
        st.signal(),
        Some(9),
        "process inside the stale namespace was not killed"
    );

    // Our own (live) namespaces are never touched.
    let lab = Lab::new("stale_namespaces_of_dead_pids_are_removed");
    let a = lab.netns("a");
    remove_stale_namespaces();
    assert!(list_netns().contains(&a.name().to_string()));
}

#[test]
fn parallel_labs_do_not_clash() {
    let handles: Vec<_> = (0..4)
        .map(|i| {
            std::thread::spawn(move || {
                // Same short names, interface names and addresses in every lab:
                // only the namespace names differ.
                let lab = Lab::new("parallel_labs_do_not_clash");
                let a = lab.netns("a");
                let b = lab.netns("b");
                lab.veth(&a, "eth0", &b, "eth0");
                a.add_addr("eth0", "198.18.0.1/24");
                b.add_addr("eth0", "198.18.0.2/24");
                let p = b.spawn("sleeper", &["sleep", "600"]);
                a.assert_ping("198.18.0.2");
                assert!(p.is_running(), "lab {i}");
                (lab.namespaces(), lab.artifacts().to_path_buf())
            })
        })
        .collect();
    let results: Vec<(Vec<String>, std::path::PathBuf)> =
        handles.into_iter().map(|h| h.join().unwrap()).collect();
    let mut all: Vec<String> = results.iter().flat_map(|r| r.0.clone()).collect();
    let mut dirs: Vec<_> = results.iter().map(|r| r.1.clone()).collect();
    all.sort();
    all.dedup();
    dirs.sort();
    dirs.dedup();
    assert_eq!(all.len(), 8, "namespace names collided");
    assert_eq!(dirs.len(), 4, "artifact dirs collided");
    assert_gone(&all);
}

#[test]
fn keep_artifacts_keeps_them() {
    let lab = Lab::new("keep_artifacts_keeps_them");
    let p = lab.write_artifact("note.txt", "x");
    lab.keep_artifacts();
    let dir = lab.artifacts().to_path_buf();
    drop(lab);
    assert!(p.exists());
    std::fs::remove_dir_all(dir).unwrap();
}

#[test]
fn for_current_test_names_lab_after_the_test() {
    let lab = Lab::for_current_test();
    assert!(lab
        .test_name()
        .contains("for_current_test_names_lab_after_the_test"));
    wait_for_file(
        lab.artifacts().join("lab-commands.log"),
        Duration::from_secs(1),
    )
    .unwrap();
}
