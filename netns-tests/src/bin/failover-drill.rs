//! The failover drill: two appliance nodes and a client on one bridged LAN, in namespaces that
//! are removed afterwards. Until VRRP lands it starts both daemons and shows their status.

use std::time::Duration;

use netns_tests::{wait_until, Appliance, Lab};

fn node_config(name: &str, addr: &str) -> String {
    format!(
        "[daemon]\nnode_name = \"{name}\"\nstate_dir = \"/run/appliance\"\nshutdown_grace = \"2s\"\n\n\
         [control]\nsocket = \"/run/appliance/appctl.sock\"\n\n\
         [interfaces.eth0]\ndescription = \"drill LAN\"\nstatic_addresses = [\"{addr}\"]\n"
    )
}

fn main() {
    let json = std::env::args().any(|a| a == "--json");
    let lab = Lab::new("failover-drill");
    let (a, b, client) = (lab.netns("lb1"), lab.netns("lb2"), lab.netns("client"));
    let lan = lab.lan(&[&a, &b, &client], "198.18.0.0/24");
    let mut nodes = vec![
        Appliance::new(&lab, &a, "lb1", &node_config("lb1", "198.18.0.101/24")),
        Appliance::new(&lab, &b, "lb2", &node_config("lb2", "198.18.0.102/24")),
    ];
    for n in &mut nodes {
        n.start();
    }
    for n in &nodes {
        let want = if n.name == "lb1" {
            "198.18.0.101"
        } else {
            "198.18.0.102"
        };
        wait_until(
            "managed address answers",
            Duration::from_secs(5),
            Duration::from_millis(20),
            || client.ping(want),
        )
        .unwrap();
    }
    let mut report = Vec::new();
    for n in &nodes {
        if json {
            report.push(n.status());
        } else {
            let out = n.appctl(&["status"]);
            println!(
                "=== {} ({}) ===\n{}",
                n.name,
                lan.addr(if n.name == "lb1" { 0 } else { 1 }),
                String::from_utf8_lossy(&out.stdout)
            );
        }
    }
    if json {
        println!("{}", serde_json::to_string_pretty(&report).unwrap());
    }
}
