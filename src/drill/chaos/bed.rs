//! The chaos drill's test bed: two appliance nodes, a BGP router (BIRD), a backend HTTP server
//! and a client, all on one bridged LAN (198.18.0.0/24, .1 to .5), in namespaces of a [`Lab`]
//! that removes them on every path.
//!
//! Each node runs VRRP for the VIP (priority 200 and 100), tracks an HTTP check of the backend
//! (weight -50, so a backend failure lowers both nodes alike and keeps the master), and
//! announces the service prefix to the router with the VRRP gate: the router's route must
//! follow the master. The client pings the VIP every 10 ms for the whole run.

use std::time::Duration;

use lab::vrrp_lab::{appliance_config, VrrpSpec};
use lab::{bird, wait_for_log, Appliance, Lab, Netns, Proc, Signal};

use crate::status::Status;

pub const VIP: &str = "198.18.0.100";
/// Announced by the master only (VRRP gate).
pub const PREFIX: &str = "198.18.255.1";
pub const INSTANCE: &str = "vi";
pub const CHECK: &str = "backend";
pub const BASE_PRIORITY: [u8; 2] = [200, 100];
const ROUTER: &str = "198.18.0.4";
const BACKEND: &str = "198.18.0.5";
const ROUTER_AS: u32 = 65000;
const NODE_AS: u32 = 65001;

pub struct Node {
    pub name: String,
    pub ns: Netns,
    pub ip: String,
    pub app: Appliance,
    /// The priority in the file the daemon runs now.
    pub priority: u8,
    /// `ip monitor address` of the namespace: the VIP's timeline.
    pub monitor: Proc,
}

pub struct Bed {
    pub lab: Lab,
    pub nodes: Vec<Node>,
    pub router: Netns,
    backend_ns: Netns,
    pub bird: Option<Proc>,
    pub backend: Option<Proc>,
    pub ping: Option<Proc>,
}

/// The config of node `i` (0 or 1) with `priority`.
pub fn node_config(i: usize, priority: u8, interval_ms: u64) -> String {
    let ip = format!("198.18.0.{}", i + 1);
    let mut spec = VrrpSpec::v4(priority, interval_ms);
    spec.extra = format!("track_checks = [{{ check = \"{CHECK}\", weight = -50 }}]\n");
    let top = format!(
        "[checks.{CHECK}]\ntype = \"http\"\ntarget = \"{BACKEND}:8080\"\ninterval = \"200ms\"\n\
         fastinter = \"100ms\"\ntimeout = \"300ms\"\nrise = 1\nfall = 2\n\n\
         [bgp]\nlocal_as = {NODE_AS}\nrouter_id = \"{ip}\"\nhold_time = \"3s\"\nconnect_retry = \"1s\"\n\
         graceful_shutdown_wait = \"1s\"\n\n\
         [[bgp.neighbor]]\naddress = \"{ROUTER}\"\nremote_as = {ROUTER_AS}\nlocal_address = \"{ip}\"\n\n\
         [[bgp.announce]]\nprefix = \"{PREFIX}/32\"\nvrrp_instance = \"{INSTANCE}\"\n\n"
    );
    appliance_config(&format!("lb{}", i + 1), &[spec], &top)
}

fn router_config() -> String {
    let mut c = bird::router_header(ROUTER, "all", ROUTER_AS, false);
    for i in 0..2 {
        c.push_str(&bird::session(
            &format!("lb{}", i + 1),
            &format!("198.18.0.{}", i + 1),
            NODE_AS,
            ROUTER,
            "",
            "ipv4",
        ));
    }
    c
}

impl Bed {
    pub fn new(lab: Lab, interval_ms: u64) -> Bed {
        lab::require_tool("bird");
        lab::require_tool("python3");
        lab::require_tool("ping");
        let names = ["lb1", "lb2", "client", "router", "backend"];
        let ns: Vec<Netns> = names.iter().map(|n| lab.netns(n)).collect();
        let hosts: Vec<&Netns> = ns.iter().collect();
        lab.lan(&hosts, "198.18.0.0/24");
        let mut nodes = Vec::new();
        for i in 0..2 {
            let name = names[i].to_string();
            // Started before the daemon, so the timeline holds every change of the VIP.
            let monitor = ns[i]
                .process(
                    &format!("ipmon-{name}"),
                    &["ip", "-tshort", "-o", "monitor", "address"],
                )
                .env("TZ", "UTC")
                .spawn();
            let app = Appliance::new(
                &lab,
                &ns[i],
                &name,
                &node_config(i, BASE_PRIORITY[i], interval_ms),
            );
            nodes.push(Node {
                name,
                ns: ns[i].clone(),
                ip: format!("198.18.0.{}", i + 1),
                app,
                priority: BASE_PRIORITY[i],
                monitor,
            });
        }
        let mut bed = Bed {
            router: ns[3].clone(),
            backend_ns: ns[4].clone(),
            lab,
            nodes,
            bird: None,
            backend: None,
            ping: None,
        };
        bed.start_backend();
        bed.start_bird();
        std::thread::sleep(Duration::from_millis(100));
        for n in &mut bed.nodes {
            n.app.start();
        }
        bed.ping = Some(ns[2].spawn(
            "ping-vip",
            &["ping", "-D", "-O", "-n", "-i", "0.01", "-W", "1", VIP],
        ));
        bed
    }

    pub fn start_backend(&mut self) {
        let www = self.lab.artifact_path("www");
        let _ = std::fs::create_dir_all(&www);
        let _ = std::fs::write(www.join("index.html"), "ok\n");
        let p = self
            .backend_ns
            .process(
                "backend-http",
                &[
                    "python3",
                    "-u",
                    "-m",
                    "http.server",
                    "8080",
                    "--bind",
                    BACKEND,
                ],
            )
            .current_dir(&www)
            .spawn();
        wait_for_log(&p, "Serving HTTP", Duration::from_secs(10))
            .expect("backend HTTP server starts");
        self.backend = Some(p);
    }

    pub fn kill_backend(&mut self) {
        if let Some(p) = self.backend.take() {
            p.kill();
        }
    }

    pub fn start_bird(&mut self) {
        self.bird = Some(bird::spawn(
            &self.lab,
            &self.router,
            "bird",
            &router_config(),
        ));
    }

    pub fn kill_bird(&mut self) {
        if let Some(p) = self.bird.take() {
            p.kill();
        }
    }

    /// Ends the traffic and returns (sent, received).
    pub fn stop_ping(&mut self) -> (u64, u64) {
        let Some(p) = self.ping.take() else {
            return (0, 0);
        };
        let _ = p.signal(Signal::SIGINT);
        p.wait_timeout(Duration::from_secs(5));
        super::super::failover::parse_ping(&p.log())
    }

    pub fn status(&self, i: usize) -> Option<Status> {
        let out = self.nodes[i].app.appctl(&["status", "--json"]);
        if !out.status.success() {
            return None;
        }
        serde_json::from_slice(&out.stdout).ok()
    }

    /// Whether node `i`'s namespace has the VIP (on any interface).
    pub fn has_vip(&self, i: usize) -> bool {
        lab::vrrp_lab::has_addr(&self.nodes[i].ns, VIP)
    }

    /// Next hops of the router's kernel route to the service prefix (BIRD exports what it
    /// learned): the addresses after `via`.
    pub fn prefix_nexthops(&self) -> Vec<String> {
        let out = self.router.ip(&["route", "show", PREFIX]);
        let text = String::from_utf8_lossy(&out.stdout);
        let toks: Vec<&str> = text.split_whitespace().collect();
        toks.windows(2)
            .filter(|w| w[0] == "via")
            .map(|w| w[1].to_string())
            .collect()
    }
}
