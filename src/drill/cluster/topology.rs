//! The cluster in namespaces: a client behind a router, and three appliance nodes and three
//! backends on one switched segment with the router (direct server return needs the nodes and
//! the backends on one L2 segment; the router is there too, so the backends' replies reach it
//! directly).
//!
//! ```text
//!  client 198.18.40.2 ── eth1 198.18.40.1  router (BIRD or FRR, ECMP, L4 hash)
//!                                  eth0 198.18.41.1
//!                                    │ switch (bridge)
//!    ┌───────────────┬───────────────┼───────────────┬───────────────┬─────────┐
//!  n1 .2           n2 .3           n3 .4           b1 .5           b2 .6     b3 .7
//!  applianced: [[service]] VIP:8080 (maglev, dr|tunnel)  DSR backends: VIP on lo, echo
//!  eBGP (AS 65001) to the router, announcing VIP/32      server; replies via the router
//! ```
//!
//! Every node announces the same VIP/32 (198.18.42.1) to the router, which installs one
//! multipath route over the three and spreads the client's flows by their L4 hash. A node
//! forwards a flow to a backend: in `dr` mode by rewriting the MAC only, in `tunnel` mode in an
//! IP-in-IP packet to the backend's address. Every node has the same `cluster_seed`, so every
//! node's Maglev picks the same backend for a flow.

use std::net::{Ipv4Addr, SocketAddrV4};
use std::time::{Duration, Instant};

use lab::{bin_path, wait_until, Appliance, Lab, Netns};

use super::backend::{self, Backend, Service};
use super::fib::FibWatch;
pub use super::plan::*;
use super::probe;
use super::router::{Router, RouterSpec};

pub struct Node {
    pub name: String,
    pub ns: Netns,
    pub addr: Ipv4Addr,
    pub app: Appliance,
    /// Its link is cut (a crash takes the node off the segment with its daemon).
    pub cut: bool,
}

impl Node {
    pub fn running(&self) -> bool {
        self.app.proc_opt().is_some_and(|p| p.is_running())
    }
}

/// The built cluster. Fields drop in order: the watcher's thread and the processes' handles
/// go before the lab removes the namespaces.
pub struct Cluster {
    pub spec: Spec,
    pub fib: FibWatch,
    pub router: Router,
    pub nodes: Vec<Node>,
    pub backends: Vec<Backend>,
    pub router_ns: Netns,
    pub client_ns: Netns,
    pub lab: Lab,
}

/// How long the cluster may take to come up: BGP sessions, the FIB, the data planes.
const UP_TIMEOUT: Duration = Duration::from_secs(30);

impl Cluster {
    /// Builds the cluster in `lab` and waits until the router has a path through every node
    /// and every node's data plane runs.
    pub fn build(lab: Lab, spec: Spec) -> Cluster {
        lab::require_tool("python3");
        check_config(&lab, &spec);
        let router_ns = lab.netns("r");
        let client_ns = lab.netns("cl");
        let node_ns: Vec<Netns> = (0..NODES)
            .map(|i| lab.netns(&format!("n{}", i + 1)))
            .collect();
        let backend_ns: Vec<Netns> = (0..BACKENDS)
            .map(|i| lab.netns(&format!("b{}", i + 1)))
            .collect();
        let mut hosts: Vec<&Netns> = vec![&router_ns];
        hosts.extend(node_ns.iter());
        hosts.extend(backend_ns.iter());
        lab.lan(&hosts, LAN);

        lab.veth(&router_ns, "eth1", &client_ns, "eth0");
        router_ns.add_addr("eth1", &format!("{ROUTER_CLIENT_SIDE}/24"));
        client_ns.add_addr("eth0", &format!("{CLIENT}/24"));
        client_ns.add_route(&format!("default via {ROUTER_CLIENT_SIDE}"));
        for (key, value) in [
            ("net.ipv4.ip_forward", "1"),
            // L4 hash: the flows of one client spread over every path.
            ("net.ipv4.fib_multipath_hash_policy", "1"),
            ("net.ipv4.conf.all.rp_filter", "0"),
            ("net.ipv4.conf.default.rp_filter", "0"),
            ("net.ipv4.conf.eth0.rp_filter", "0"),
            ("net.ipv4.conf.eth1.rp_filter", "0"),
        ] {
            router_ns.sysctl(key, value);
        }
        // What enters a node's fast path must carry whole checksums (veths compute none).
        lab::peers::full_checksums(&client_ns, "eth0");
        lab::peers::full_checksums(&router_ns, "eth0");
        lab::peers::full_checksums(&router_ns, "eth1");

        let svc = Service {
            vip: VIP,
            port: PORT,
            router: ROUTER,
        };
        let backends: Vec<Backend> = backend_ns
            .iter()
            .enumerate()
            .map(|(i, ns)| {
                backend::start(
                    &lab,
                    ns,
                    &format!("b{}", i + 1),
                    backend_addr(i),
                    svc,
                    spec.mode == Mode::Tunnel,
                )
            })
            .collect();
        // The backends answer for the VIP the way this mode hands them packets, before any
        // node runs (each node's fast path would take these packets).
        for b in &backends {
            let checked = match spec.mode {
                Mode::Dr => probe::direct(&node_ns[0], b.addr, VIP),
                Mode::Tunnel => probe::tunnel(node_ns[0].name(), node_addr(0), b.addr, VIP),
            };
            checked.unwrap_or_else(|e| panic!("backend {}: {e}", b.name));
        }

        let mut nodes = Vec::new();
        for (i, ns) in node_ns.iter().enumerate() {
            // The fast path forwards; the kernel must not (what reaches a backend went
            // through the node's workers).
            ns.sysctl("net.ipv4.ip_forward", "0");
            // The way to the clients, for what a node itself sends them (tunnel mode's ICMP
            // fragmentation-needed).
            ns.add_route(&format!("default via {ROUTER}"));
            let name = format!("n{}", i + 1);
            let app = Appliance::new(&lab, ns, &name, &node_config(i, &spec));
            nodes.push(Node {
                name,
                ns: ns.clone(),
                addr: node_addr(i),
                app,
                cut: false,
            });
        }

        let router = Router::start(
            &lab,
            &router_ns,
            &RouterSpec {
                flavour: spec.router,
                id: ROUTER,
                local_as: ROUTER_AS,
                nodes_as: NODES_AS,
                nodes: (0..NODES).map(node_addr).collect(),
                bfd: spec.bfd.map(|b| (b.interval_ms, b.multiplier)),
            },
        );
        let fib = FibWatch::start(router_ns.name(), VIP);
        let mut c = Cluster {
            spec,
            fib,
            router,
            nodes,
            backends,
            router_ns,
            client_ns,
            lab,
        };
        for n in &mut c.nodes {
            n.app.start();
        }
        let all: Vec<Ipv4Addr> = (0..NODES).map(node_addr).collect();
        c.wait_paths(Instant::now(), &all, UP_TIMEOUT)
            .unwrap_or_else(|e| panic!("the cluster does not come up: {e}"));
        for i in 0..NODES {
            c.wait_dataplane(i, UP_TIMEOUT)
                .unwrap_or_else(|e| panic!("the cluster does not come up: {e}"));
        }
        c
    }

    /// The VIP and port the client talks to.
    pub fn service(&self) -> SocketAddrV4 {
        SocketAddrV4::new(VIP, PORT)
    }

    /// Waits until the router's route to the VIP has exactly the paths `want` (in any order);
    /// returns when that was first seen, at or after `since`.
    pub fn wait_paths(
        &self,
        since: Instant,
        want: &[Ipv4Addr],
        timeout: Duration,
    ) -> Result<Instant, String> {
        let mut want = want.to_vec();
        want.sort();
        self.fib
            .wait(since, timeout, |h| h == want.as_slice())
            .ok_or_else(|| {
                format!(
                    "the router's route to {VIP} has {:?}, not {want:?}, after {timeout:?}{}\n{}",
                    self.fib.current(),
                    self.fib
                        .error()
                        .map(|e| format!(" (FIB watch failed: {e})"))
                        .unwrap_or_default(),
                    self.router.sessions(&self.router_ns)
                )
            })
    }

    /// Waits until node `i`'s data plane runs with every next hop resolved.
    pub fn wait_dataplane(&self, i: usize, timeout: Duration) -> Result<(), String> {
        let n = &self.nodes[i];
        wait_until(
            &format!("data plane of {} running", n.name),
            timeout,
            Duration::from_millis(50),
            || {
                let out = n.app.appctl(&["dataplane", "--json"]);
                let st: serde_json::Value = serde_json::from_slice(&out.stdout).unwrap_or_default();
                st["state"] == "running"
                    && st["unresolved_neighbours"]
                        .as_array()
                        .is_some_and(|a| a.is_empty())
            },
        )
        .map(|_| ())
        .map_err(|e| e.to_string())
    }

    /// Per node whose daemon runs: its pid and its data plane's `new_flows` counter.
    pub fn new_flows(&self) -> Vec<Option<(u32, u64)>> {
        self.nodes
            .iter()
            .map(|n| {
                let pid = n.app.proc_opt().filter(|p| p.is_running())?.pid();
                let out = n.app.appctl(&["dataplane", "--json"]);
                let st: serde_json::Value = serde_json::from_slice(&out.stdout).ok()?;
                Some((pid, st["totals"]["new_flows"].as_u64()?))
            })
            .collect()
    }

    /// With BFD on: waits until every live node's BFD sessions are Up, so that an event
    /// measures BFD's detection rather than a session still in its slow start (a fresh
    /// session paces at 1 s until Up, RFC 5880 §6.8.3).
    pub fn wait_bfd_up(&self, within: Duration) -> Result<(), String> {
        if self.spec.bfd.is_none() {
            return Ok(());
        }
        let up = |n: &Node| {
            let out = n.app.appctl(&["bfd", "--json"]);
            serde_json::from_slice::<serde_json::Value>(&out.stdout)
                .ok()
                .and_then(|v| {
                    let s = v["sessions"].as_array()?.clone();
                    Some(!s.is_empty() && s.iter().all(|x| x["state"] == "up"))
                })
                .unwrap_or(false)
        };
        lab::wait_until("BFD sessions Up", within, Duration::from_millis(20), || {
            self.nodes.iter().filter(|n| n.running() && !n.cut).all(up)
        })
        .map(|_| ())
        .map_err(|e| e.to_string())
    }

    /// The addresses of the nodes whose daemon runs and whose link is up.
    pub fn live(&self) -> Vec<Ipv4Addr> {
        self.nodes
            .iter()
            .filter(|n| n.running() && !n.cut)
            .map(|n| n.addr)
            .collect()
    }

    /// `appctl bgp drain VIP/32` on node `i`.
    pub fn drain(&self, i: usize) -> Result<(), String> {
        let out = self.nodes[i]
            .app
            .appctl(&["bgp", "drain", &format!("{VIP}/32")]);
        if out.status.success() {
            Ok(())
        } else {
            Err(String::from_utf8_lossy(&out.stderr).into_owned())
        }
    }

    /// SIGTERM to node `i`'s daemon; waits for it to exit. Err if it exits with a failure or
    /// needs SIGKILL.
    pub fn stop(&self, i: usize) -> Result<(), String> {
        let p = self.nodes[i].app.proc();
        let st = p.stop(Duration::from_secs(10));
        if st.success() {
            Ok(())
        } else {
            Err(format!("{} stopped with {st}", self.nodes[i].name))
        }
    }

    /// A node dies as a machine does: its link is cut first (nothing it sent afterwards, such
    /// as the kernel closing its BGP connection, reaches anyone), then its daemon gets SIGKILL.
    /// Returns the moment of the SIGKILL.
    pub fn crash(&mut self, i: usize) -> Instant {
        let n = &mut self.nodes[i];
        n.ns.set_down("eth0");
        n.cut = true;
        let t = Instant::now();
        n.app.proc().kill();
        t
    }

    /// Starts node `i`'s daemon (its link first, if cut) and waits for its control socket.
    pub fn start(&mut self, i: usize) {
        let n = &mut self.nodes[i];
        if n.cut {
            n.ns.set_up("eth0");
            n.cut = false;
        }
        n.app.start();
    }
}

/// `applianced check` on node 1's file before anything is built: a mode or key this build does
/// not know fails here with the configuration's own message.
fn check_config(lab: &Lab, spec: &Spec) {
    let path = lab.write_artifact("check-n1.toml", node_config(0, spec));
    let out = std::process::Command::new(bin_path("applianced"))
        .args(["check", "-c"])
        .arg(&path)
        .output()
        .expect("run applianced check");
    assert!(
        out.status.success(),
        "this build refuses the nodes' configuration (mode {}{}):\n{}",
        spec.mode.name(),
        if spec.bfd.is_some() { ", BFD" } else { "" },
        String::from_utf8_lossy(&out.stderr)
    );
}
