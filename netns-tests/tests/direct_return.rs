//! Direct server return through the real daemon: a client on one subnet, an appliance and two
//! HTTP backends on a switched LAN; the backends hold the VIP on `lo` (ARP for it suppressed)
//! and answer the client directly. The appliance changes only the MACs (`mode = "dr"`), so what
//! the backends receive is the client's packet to the VIP, and their replies never reach the
//! appliance.

use std::time::Duration;

use netns_tests::peers::{full_checksums, serve_http};
use netns_tests::{wait_until, Appliance, DataplaneHeader, Lab, Netns};

const VIP: &str = "198.18.30.1";

fn get(client: &Netns) -> Option<String> {
    let out = client.exec(&[
        "curl",
        "-sS",
        "--max-time",
        "3",
        &format!("http://{VIP}:8080/who"),
    ]);
    out.status
        .success()
        .then(|| String::from_utf8_lossy(&out.stdout).into_owned())
}

/// What a real DR backend needs: the VIP on `lo`, ARP for it neither answered nor announced.
fn hold_vip(b: &Netns) {
    b.run_ok(&["ip", "addr", "add", &format!("{VIP}/32"), "dev", "lo"]);
    b.sysctl("net.ipv4.conf.all.arp_ignore", "1");
    b.sysctl("net.ipv4.conf.all.arp_announce", "2");
    b.sysctl("net.ipv4.conf.eth0.arp_ignore", "1");
    b.sysctl("net.ipv4.conf.eth0.arp_announce", "2");
}

#[test]
fn direct_routing_backends_answer_the_client_themselves() {
    let lab = Lab::for_current_test();
    let (lb, client, b1, b2) = (
        lab.netns("lb"),
        lab.netns("cl"),
        lab.netns("b1"),
        lab.netns("b2"),
    );
    // lb .1, client .2, b1 .3, b2 .4 on one wire; the client is also in a second subnet, which
    // the backends reach directly (their replies bypass the appliance).
    let _lan = lab.lan(&[&lb, &client, &b1, &b2], "198.18.50.0/24");
    lb.add_addr("eth0", "198.18.51.1/24");
    client.add_addr("eth0", "198.18.51.2/24");
    client.add_route(&format!("{VIP}/32 via 198.18.51.1"));
    full_checksums(&client, "eth0");
    let mut servers = Vec::new();
    for (b, name) in [(&b1, "b1"), (&b2, "b2")] {
        hold_vip(b);
        b.add_route("198.18.51.0/24 dev eth0");
        full_checksums(b, "eth0");
        servers.push(serve_http(&lab, b, name));
    }
    lb.sysctl("net.ipv4.ip_forward", "0");
    let header = DataplaneHeader {
        node: "lb",
        shutdown_grace: None,
        interfaces: &[("eth0", "")],
        workers: 1,
        queues: 1,
    };
    let config = format!(
        r#"{header}cluster_seed = 11

[[service]]
name = "web"
vip = "{VIP}"
port = 8080
protocol = "tcp"
mode = "dr"
backends = [{{ address = "198.18.50.3" }}, {{ address = "198.18.50.4" }}]
"#
    );
    let mut node = Appliance::new(&lab, &lb, "lb", &config);
    node.start();
    node.wait_dataplane_running();
    client.assert_ping("198.18.51.1");
    let mut seen = std::collections::BTreeMap::new();
    wait_until(
        "answers from both DR backends",
        Duration::from_secs(30),
        Duration::from_millis(10),
        || {
            if let Some(body) = get(&client) {
                *seen.entry(body).or_insert(0u32) += 1;
            }
            seen.len() == 2 && seen.values().sum::<u32>() >= 10
        },
    )
    .unwrap_or_else(|e| {
        let st = node.appctl(&["dataplane"]);
        panic!("{e}: {seen:?}\n{}", String::from_utf8_lossy(&st.stdout))
    });
    let st = node.json(&["dataplane", "--json"]);
    let totals = &st["totals"];
    let direct = totals["direct_routed"].as_u64().unwrap();
    assert!(direct > 0, "{st}");
    // Only the client's direction crossed the fast path: the backends' replies did not.
    assert_eq!(totals["tx_packets"].as_u64(), Some(direct), "{st}");
    let svc = node.json(&["service", "--json"]);
    assert_eq!(svc[0]["mode"], "dr", "{svc}");
    let ct = node.json(&["conntrack", "--json"]);
    let flows = ct["flows"].as_array().unwrap();
    assert!(
        !flows.is_empty() && flows.iter().all(|f| f["kind"] == "dr"),
        "{ct}"
    );
    drop(node);
}
