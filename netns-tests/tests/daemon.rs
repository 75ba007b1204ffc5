//! The daemon's lifecycle in a namespace: start from an example config, status, reload with a
//! broken file, events, metrics, SIGTERM cleanup and leftovers of a crash.

use std::time::Duration;

use netns_tests::{run_appctl, wait_until, Appliance, Lab, Signal};

fn example(name: &str) -> String {
    let path = netns_tests::workspace_root().join("examples").join(name);
    std::fs::read_to_string(&path).unwrap_or_else(|e| panic!("{}: {e}", path.display()))
}

/// Addresses on `eth0` of a namespace, as `ip -br` prints them.
fn addrs(ns: &netns_tests::Netns) -> String {
    ns.ip_ok(&["-br", "addr", "show", "dev", "eth0"])
}

fn node_with_example(lab: &Lab) -> (netns_tests::Netns, Appliance) {
    let a = lab.netns("a");
    let peer = lab.netns("p");
    lab.veth(&a, "eth0", &peer, "eth0");
    let mut node = Appliance::new(lab, &a, "a", &example("lb-node.toml"));
    // Several tests run at once: metrics listen inside each namespace's own loopback.
    node.start();
    (peer, node)
}

#[test]
fn starts_from_example_and_reports_status() {
    let lab = Lab::for_current_test();
    let (_peer, node) = node_with_example(&lab);
    let st = node.status();
    assert_eq!(st["schema"], 1);
    assert_eq!(st["daemon"]["node"], "lb1");
    assert_eq!(st["daemon"]["config_generation"], 1);
    assert_eq!(st["daemon"]["pid"], node.proc().pid());
    // The interfaces subsystem publishes its first view a moment after the socket answers.
    wait_until(
        "the interfaces' first status",
        Duration::from_secs(5),
        Duration::from_millis(10),
        || node.status()["interfaces"][0]["name"] == "eth0",
    )
    .unwrap();
    let st = node.status();
    let eth0 = &st["interfaces"][0];
    assert_eq!(eth0["name"], "eth0");
    assert_eq!(eth0["present"], true);
    wait_until(
        "static addresses installed",
        Duration::from_secs(5),
        Duration::from_millis(20),
        || {
            let st = node.status();
            st["interfaces"][0]["static_addresses"]
                .as_array()
                .unwrap()
                .iter()
                .all(|a| a["state"] == "installed")
        },
    )
    .unwrap();
    let shown = addrs(&node.ns);
    assert!(
        shown.contains("198.18.0.10/24") && shown.contains("2001:db8:0:1::10/64"),
        "{shown}"
    );

    // The human view names the node and the interface.
    let out = node.appctl(&["status"]);
    let text = String::from_utf8_lossy(&out.stdout);
    assert!(
        out.status.success() && text.contains("node lb1") && text.contains("eth0"),
        "{text}"
    );

    // The control socket is private to root.
    let mode = std::fs::metadata(&node.socket).unwrap();
    assert_eq!(
        std::os::unix::fs::PermissionsExt::mode(&mode.permissions()) & 0o777,
        0o600
    );

    // Metrics answer inside the namespace.
    let body = node.ns.run_ok(&[
        "bash",
        "-c",
        "exec 3<>/dev/tcp/127.0.0.1/9469; printf 'GET /metrics HTTP/1.0\\r\\n\\r\\n' >&3; cat <&3",
    ]);
    assert!(body.starts_with("HTTP/1.1 200 OK"), "{body}");
    assert!(body.contains("appliance_config_generation 1"), "{body}");
    assert!(body.contains("process_resident_memory_bytes"), "{body}");
    assert!(
        body.contains("appliance_events_total{subsystem=\"interfaces\",kind=\"address_added\"} 2"),
        "{body}"
    );
}

#[test]
fn sighup_with_broken_file_keeps_running_config() {
    let lab = Lab::for_current_test();
    let (_peer, node) = node_with_example(&lab);
    let good = std::fs::read_to_string(&node.config).unwrap();

    // A typo: the daemon must keep generation 1 and say why, both on SIGHUP and appctl reload.
    std::fs::write(
        &node.config,
        good.replace("static_addresses", "static_adresses"),
    )
    .unwrap();
    node.proc().signal(Signal::SIGHUP).unwrap();
    wait_until(
        "reload failure recorded",
        Duration::from_secs(5),
        Duration::from_millis(20),
        || node.status()["daemon"]["last_reload"]["ok"] == false,
    )
    .unwrap();
    let st = node.status();
    assert_eq!(st["daemon"]["config_generation"], 1);
    let err = st["daemon"]["last_reload"]["error"]
        .as_str()
        .unwrap()
        .to_string();
    assert!(
        err.contains(":18:1: `interfaces.eth0.static_adresses`"),
        "{err}"
    );
    assert!(err.contains("did you mean `static_addresses`?"), "{err}");
    assert!(node.proc().is_running());
    assert!(addrs(&node.ns).contains("198.18.0.10/24"));

    let out = node.appctl(&["reload"]);
    let stderr = String::from_utf8_lossy(&out.stderr);
    assert_eq!(out.status.code(), Some(1));
    assert!(
        stderr.contains("static_adresses") && stderr.contains("unchanged"),
        "{stderr}"
    );

    // A good file with a different address applies, and the old address goes.
    std::fs::write(
        &node.config,
        good.replace("198.18.0.10/24", "198.18.0.11/24"),
    )
    .unwrap();
    let out = node.appctl(&["reload"]);
    assert!(
        out.status.success(),
        "{}",
        String::from_utf8_lossy(&out.stderr)
    );
    assert_eq!(node.status()["daemon"]["config_generation"], 2);
    // The reply says what changed: one address removed, one added, nothing else.
    let text = String::from_utf8_lossy(&out.stdout).to_string();
    let lines: Vec<&str> = text.lines().skip(1).collect();
    assert_eq!(lines.len(), 2, "{text}");
    assert!(
        lines[0].contains("removed") && lines[0].contains("address 198.18.0.10/24"),
        "{text}"
    );
    assert!(
        lines[1].contains("added") && lines[1].contains("address 198.18.0.11/24"),
        "{text}"
    );
    wait_until(
        "address moved",
        Duration::from_secs(5),
        Duration::from_millis(20),
        || {
            let a = addrs(&node.ns);
            a.contains("198.18.0.11/24") && !a.contains("198.18.0.10/24")
        },
    )
    .unwrap();

    // The event log has all of it, in order.
    let out = node.appctl(&["events", "--json"]);
    let kinds: Vec<String> = String::from_utf8_lossy(&out.stdout)
        .lines()
        .map(|l| {
            serde_json::from_str::<serde_json::Value>(l).unwrap()["kind"]
                .as_str()
                .unwrap()
                .to_string()
        })
        .collect();
    let pos = |k: &str| {
        kinds
            .iter()
            .position(|x| x == k)
            .unwrap_or_else(|| panic!("{k} in {kinds:?}"))
    };
    assert!(
        pos("started") < pos("reload_failed") && pos("reload_failed") < pos("reloaded"),
        "{kinds:?}"
    );
}

#[test]
fn sigterm_exits_cleanly_and_leaves_nothing() {
    let lab = Lab::for_current_test();
    let (_peer, node) = node_with_example(&lab);
    wait_until(
        "addresses installed",
        Duration::from_secs(5),
        Duration::from_millis(20),
        || addrs(&node.ns).contains("2001:db8:0:1::10/64"),
    )
    .unwrap();
    node.proc().signal(Signal::SIGTERM).unwrap();
    let status = node
        .proc()
        .wait_timeout(Duration::from_secs(10))
        .expect("exits within the grace period");
    assert!(
        status.success(),
        "exit status {status:?}\n{}",
        node.proc().log()
    );
    let left = addrs(&node.ns);
    assert!(
        !left.contains("198.18.0.10") && !left.contains("2001:db8:0:1::10"),
        "{left}"
    );
    assert!(!node.socket.exists(), "control socket removed");
    let ledger = std::fs::read_to_string(node.state_dir.join("kernel-objects.json")).unwrap();
    let ledger: serde_json::Value = serde_json::from_str(&ledger).unwrap();
    assert_eq!(ledger["objects"].as_array().unwrap().len(), 0, "{ledger}");

    // With no daemon, appctl says so in one line naming the socket, and exits 1.
    let out = run_appctl(&node.socket, &["status"]);
    let err = String::from_utf8_lossy(&out.stderr);
    assert_eq!(out.status.code(), Some(1));
    assert_eq!(err.lines().count(), 1, "{err}");
    assert!(err.contains(node.socket.to_str().unwrap()), "{err}");
}

#[test]
fn leftovers_of_a_crash_are_removed_at_start() {
    let lab = Lab::for_current_test();
    let (_peer, mut node) = node_with_example(&lab);
    wait_until(
        "addresses installed",
        Duration::from_secs(5),
        Duration::from_millis(20),
        || addrs(&node.ns).contains("2001:db8:0:1::10/64"),
    )
    .unwrap();
    node.proc().kill();
    assert!(
        addrs(&node.ns).contains("198.18.0.10/24"),
        "a crash leaves the address behind"
    );

    // The next run no longer manages that address: it must still find and remove it.
    let cfg = std::fs::read_to_string(&node.config).unwrap();
    let cfg = cfg.replace(
        "static_addresses = [\"198.18.0.10/24\", \"2001:db8:0:1::10/64\"]",
        "static_addresses = []",
    );
    std::fs::write(&node.config, cfg).unwrap();
    node.start();
    let st = node.status();
    assert_eq!(st["daemon"]["leftovers_removed"], 2, "{st}");
    let left = addrs(&node.ns);
    assert!(
        !left.contains("198.18.0.10") && !left.contains("2001:db8:0:1::10"),
        "{left}"
    );
    let out = node.appctl(&["events", "--json"]);
    assert!(String::from_utf8_lossy(&out.stdout).contains("leftover_removed"));
}

#[test]
fn events_follow_streams_live_changes() {
    let lab = Lab::for_current_test();
    let (_peer, node) = node_with_example(&lab);
    // Quiet first: the start's own events (addresses added) come after the socket answers.
    wait_until(
        "static addresses installed",
        Duration::from_secs(5),
        Duration::from_millis(20),
        || {
            // The interfaces subsystem may not have published its first status yet.
            node.status()["interfaces"][0]["static_addresses"]
                .as_array()
                .is_some_and(|a| !a.is_empty() && a.iter().all(|a| a["state"] == "installed"))
        },
    )
    .unwrap();
    let since = node.status()["daemon"]["last_event_seq"].as_u64().unwrap();
    let mut child = std::process::Command::new(netns_tests::bin_path("appctl"))
        .args([
            "-s",
            node.socket.to_str().unwrap(),
            "events",
            "--follow",
            "--json",
        ])
        .arg("--since")
        .arg(since.to_string())
        .stdout(std::process::Stdio::piped())
        .spawn()
        .unwrap();
    let out = node.appctl(&["reload"]);
    assert!(out.status.success());
    let stdout = child.stdout.take().unwrap();
    let (tx, rx) = std::sync::mpsc::channel();
    std::thread::spawn(move || {
        use std::io::BufRead;
        for line in std::io::BufReader::new(stdout)
            .lines()
            .map_while(Result::ok)
        {
            if tx.send(line).is_err() {
                break;
            }
        }
    });
    let line = rx
        .recv_timeout(Duration::from_secs(5))
        .expect("a live event");
    let _ = child.kill();
    let _ = child.wait();
    let ev: serde_json::Value = serde_json::from_str(&line).unwrap();
    assert_eq!(ev["kind"], "reloaded");
    assert_eq!(ev["seq"].as_u64().unwrap(), since + 1);
}

#[test]
fn check_accepts_examples_and_rejects_broken_files() {
    let lab = Lab::for_current_test();
    let bin = netns_tests::bin_path("applianced");
    for entry in std::fs::read_dir(netns_tests::workspace_root().join("examples")).unwrap() {
        let path = entry.unwrap().path();
        if path.extension().is_some_and(|e| e == "toml") {
            let out = std::process::Command::new(&bin)
                .arg("check")
                .arg("-c")
                .arg(&path)
                .output()
                .unwrap();
            assert!(
                out.status.success(),
                "{}: {}",
                path.display(),
                String::from_utf8_lossy(&out.stderr)
            );
            assert!(String::from_utf8_lossy(&out.stdout).contains("valid"));
        }
    }
    let bad = lab.write_artifact("bad.toml", "[metrics]\nlisten = \"127.0.0.1\"\n");
    let out = std::process::Command::new(&bin)
        .arg("check")
        .arg("-c")
        .arg(&bad)
        .output()
        .unwrap();
    assert_eq!(out.status.code(), Some(1));
    let err = String::from_utf8_lossy(&out.stderr);
    assert!(err.contains("bad.toml:2:10: `metrics.listen`"), "{err}");
}

/// The control socket's limits apply per request: a monitoring loop may send thousands of
/// requests on one connection, and one oversized request is refused without ending it.
#[test]
fn control_socket_limits_are_per_request() {
    use std::io::{BufRead, BufReader, Write};
    use std::os::unix::net::UnixStream;

    let lab = Lab::for_current_test();
    let (_peer, node) = node_with_example(&lab);
    let mut conn = UnixStream::connect(&node.socket).expect("connect");
    conn.set_read_timeout(Some(Duration::from_secs(10)))
        .unwrap();
    let mut replies = BufReader::new(conn.try_clone().unwrap());
    // 3,000 requests of 31 bytes: 93 kB in all, beyond the 64 KiB a single request may have.
    let ping = b"{\"version\":1,\"command\":\"ping\"}\n";
    let mut line = String::new();
    for i in 0..3000 {
        conn.write_all(ping).unwrap();
        line.clear();
        replies.read_line(&mut line).unwrap();
        assert!(line.contains("\"ok\":true"), "request {i}: {line}");
    }
    // One request over the limit: an error, and the next request is served.
    let mut big = vec![b' '; 70 * 1024];
    big.push(b'\n');
    conn.write_all(&big).unwrap();
    line.clear();
    replies.read_line(&mut line).unwrap();
    assert!(line.contains("request longer than"), "{line}");
    conn.write_all(ping).unwrap();
    line.clear();
    replies.read_line(&mut line).unwrap();
    assert!(line.contains("pong"), "{line}");
    // The daemon still answers others.
    assert_eq!(node.status()["daemon"]["node"], "lb1");
}
