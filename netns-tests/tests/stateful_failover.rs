//! Issue 13's proof as a test: `applianced drill --scenario stateful-failover --json`. An HA
//! pair with session sync carries 1,000 NAT TCP connections and 200 UDP flows (least
//! connections; half the clients on the VIP's segment, half behind a router), 200 FullNAT TCP
//! connections and 1,000 TCP connections from a GRE site through the SNAT gateway; the master
//! is killed, returns and preempts, is stopped gracefully, returns again, and loses its
//! client-side link. The target: every connection and flow alive before an event (opened at
//! least 1 s before it) sends and receives after it, in an order other than the opening one.
//!
//! The drill runs as the product command, from this build's binaries (`cargo build -p
//! appliance --bins` first); its namespaces are its own and must all be gone when it exits.

use std::process::{Command, Stdio};

use netns_tests::{bin_path, list_netns, require_root, workspace_root};

/// The connections and flows of every class together: 1,000 + 200 + 200 + 1,000.
const ALL: u64 = 2400;

#[test]
fn every_connection_survives_every_event_with_session_sync() {
    require_root();
    let out_dir = workspace_root()
        .join("netns-tests")
        .join("artifacts")
        .join("stateful_failover");
    let child = Command::new(bin_path("applianced"))
        .args([
            "drill",
            "--scenario",
            "stateful-failover",
            "--json",
            "--out",
        ])
        .arg(&out_dir)
        .stdout(Stdio::piped())
        .stderr(Stdio::piped())
        .spawn()
        .expect("run applianced drill");
    let pid = child.id();
    let out = child.wait_with_output().expect("applianced drill ends");
    let stderr = String::from_utf8_lossy(&out.stderr);
    let report: serde_json::Value = serde_json::from_slice(&out.stdout).unwrap_or_else(|e| {
        panic!(
            "the drill printed no JSON ({e}), exit {}:\n{stderr}\n{}",
            out.status,
            String::from_utf8_lossy(&out.stdout)
        )
    });
    // Nothing of the drill's bed remains: its namespaces are named after its pid.
    let left: Vec<String> = list_netns()
        .into_iter()
        .filter(|n| n.starts_with(&format!("nt-{pid}-")))
        .collect();
    assert!(left.is_empty(), "namespaces left behind: {left:?}");

    let events = report["events"].as_array().cloned().unwrap_or_default();
    for e in &events {
        println!(
            "{:<16} {}/{} survived, failover {} ms, takeover {} ms: {} {}",
            e["event"].as_str().unwrap_or("?"),
            e["survived"],
            e["connections"],
            e["failover_ms"],
            e["takeover_ms"],
            e["broken"],
            e["detail"].as_str().unwrap_or("")
        );
        if let Some(classes) = e["classes"].as_object() {
            for (name, c) in classes {
                println!(
                    "    {name:<20} {}/{} {}",
                    c["survived"], c["connections"], c["broken"]
                );
            }
        }
    }
    assert!(
        report["errors"].as_array().is_some_and(|e| e.is_empty()),
        "the drill did not finish: {}\n{stderr}",
        report["errors"]
    );
    let names: Vec<&str> = events.iter().filter_map(|e| e["event"].as_str()).collect();
    assert_eq!(
        names,
        [
            "crash",
            "crash-return",
            "graceful",
            "graceful-return",
            "link-down"
        ]
    );
    for e in &events {
        let event = e["event"].as_str().unwrap_or("?");
        // Every class was at its full count before each event, so each event tests them all.
        assert_eq!(e["connections"].as_u64(), Some(ALL), "{event}: {e}");
        assert!(
            e["failover_ms"].as_f64().is_some(),
            "{event}: the failover was not seen in the capture: {e}"
        );
    }
    // The target: 100 % of the connections established before each event survive it.
    for e in &events {
        assert_eq!(
            e["survived"], e["connections"],
            "{}: {} broken: {}",
            e["event"], e["broken"], e["classes"]
        );
    }
    assert_eq!(
        report["sync"], true,
        "this build runs the pair without [sync] (it does not know the section)"
    );
}
