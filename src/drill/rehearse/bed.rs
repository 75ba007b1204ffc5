//! The plan built in namespaces of a [`Lab`] (which removes every namespace, link and process
//! on every path): a switch namespace per segment with a bridge, the two nodes plugged into each
//! by an interface named as in their files, the hosts around them, the servers, the routers,
//! then the two daemons and the GRE sites' gateways.

use std::collections::BTreeMap;
use std::net::IpAddr;
use std::time::Duration;

use lab::{bin_path, wait_until, Appliance, Lab, Netns};
use tokio_rustls::TlsAcceptor;

use super::follow;
use super::node_text;
use super::plan::{Plan, Role, Serve};
use super::router::{self, Router};
use super::servers::Servers;
use super::tls::Authority;
use crate::control::protocol::Command;
use crate::drill::site;

/// How long the pair may take to come up: daemons, data planes, checks, BGP sessions.
const UP_TIMEOUT: Duration = Duration::from_secs(30);

pub struct Node {
    pub name: String,
    pub ns: Netns,
    pub app: Appliance,
    /// The file the daemon runs (the bad reload puts it back).
    pub text: String,
    pub has_dataplane: bool,
}

impl Node {
    pub fn running(&self) -> bool {
        self.app.proc_opt().is_some_and(|p| p.is_running())
    }

    /// `Command` over the control socket, with a deadline.
    pub fn call(&self, c: Command) -> Result<serde_json::Value, String> {
        follow::call(&self.app.socket, c)
    }

    pub fn status(&self) -> Option<crate::status::Status> {
        self.call(Command::Status)
            .ok()
            .and_then(|v| serde_json::from_value(v).ok())
    }
}

/// Fields drop in order: servers' threads and daemons before the lab removes the namespaces.
pub struct Bed {
    pub servers: Vec<Servers>,
    pub node_servers: Vec<Option<Servers>>,
    pub routers: Vec<Router>,
    /// The GRE sites' gateways, in [`Plan::sites`] order.
    pub sites: Vec<Appliance>,
    pub nodes: Vec<Node>,
    pub hosts: Vec<Netns>,
    /// Per segment, its switch namespace (bridge `br0`).
    pub switches: BTreeMap<String, Netns>,
    pub plan: Plan,
    pub lab: Lab,
}

impl Bed {
    /// Builds everything and starts both daemons; waits until the pair is up.
    pub fn build(lab: Lab, plan: Plan) -> Result<Bed, String> {
        let mut switches = BTreeMap::new();
        for seg in &plan.segments {
            let sw = lab.netns(&format!("sw-{}", seg.name));
            lab.bridge(&sw, "br0");
            switches.insert(seg.name.clone(), sw);
        }
        let mut port = 0usize;
        let mut plug = |ns: &Netns, ifname: &str, segment: &str, queues: u32| {
            let sw = &switches[segment];
            let p = format!("p{port}");
            port += 1;
            let mut v = lab.veth_builder(ns, ifname, sw, &p);
            if queues > 1 {
                v = v.queues(queues);
            }
            v.create();
            sw.attach(&p, "br0");
        };

        let mut node_ns = Vec::new();
        for n in &plan.nodes {
            let ns = lab.netns(&n.name);
            for seg in &plan.segments {
                let q = n.queues.get(&seg.name).copied().unwrap_or(1);
                plug(&ns, &seg.name, &seg.name, q);
            }
            for (ifname, a) in &n.extra {
                ns.add_addr(ifname, &a.to_string());
            }
            for r in &n.routes {
                ns.add_route(r);
            }
            // With a data plane, what crosses the node went through the fast path: the kernel
            // does not forward. Without one, the node is a router and forwards.
            let dp = n.config().dataplane.is_some();
            ns.sysctl("net.ipv4.ip_forward", if dp { "0" } else { "1" });
            node_ns.push(ns);
        }

        let mut hosts = Vec::new();
        for h in &plan.hosts {
            let ns = lab.netns(&h.name);
            for (i, l) in h.links.iter().enumerate() {
                let ifname = format!("eth{i}");
                plug(&ns, &ifname, &l.segment, 1);
                for a in &l.addrs {
                    ns.add_addr(&ifname, &a.to_string());
                }
                // What enters a node's fast path must carry whole checksums (veths compute
                // none).
                lab::peers::full_checksums(&ns, &ifname);
            }
            for g in &h.gateways {
                ns.add_route(&format!("default via {g}"));
            }
            for r in &h.routes {
                ns.add_route(r);
            }
            if h.role == Role::Client {
                // Echo requests from ping sockets, without raw sockets.
                ns.sysctl("net.ipv4.ping_group_range", "0 2147483647");
            }
            hosts.push(ns);
        }
        // Each GRE site's inside network: its gateway's second link, to its user only.
        for sp in &plan.sites {
            site::attach_user(
                &lab,
                &hosts[sp.gateway],
                &hosts[sp.user],
                &sp.site,
                sp.user_addr,
            );
        }

        // The drill's own certificate authority, for the HTTPS ports and the checks that trust
        // it in place of the public roots.
        let ca = if plan.needs_tls() {
            let a = Authority::new()?;
            let path = lab.artifacts().join("drill-ca.pem");
            a.write(&path)?;
            Some((a, path))
        } else {
            None
        };
        let acceptor = |serve: &Serve| -> Result<Option<TlsAcceptor>, String> {
            match &ca {
                Some((a, _)) if !serve.https.is_empty() => {
                    Ok(Some(TlsAcceptor::from(a.server(&serve.tls_names)?)))
                }
                _ => Ok(None),
            }
        };
        let mut servers = Vec::new();
        for (h, ns) in plan.hosts.iter().zip(&hosts) {
            if h.serve.is_empty() {
                continue;
            }
            let s = Servers::new(ns.name(), &h.name, h.serve.clone(), acceptor(&h.serve)?);
            s.start()?;
            servers.push(s);
        }
        let mut node_servers = Vec::new();
        for (k, ns) in node_ns.iter().enumerate() {
            let serve = &plan.node_serve[k];
            if serve.is_empty() {
                node_servers.push(None);
                continue;
            }
            let s = Servers::new(
                ns.name(),
                &plan.nodes[k].name,
                serve.clone(),
                acceptor(serve)?,
            );
            s.start()?;
            node_servers.push(Some(s));
        }

        let names: Vec<String> = plan.nodes.iter().map(|n| n.name.clone()).collect();
        let mut routers = Vec::new();
        for r in &plan.routers {
            let h = &plan.hosts[r.host];
            routers.push(Router::start(
                &lab,
                &hosts[r.host],
                &format!("bird-{}", h.name),
                &router::config(r, &names),
            ));
        }

        let mut nodes = Vec::new();
        for (n, ns) in plan.nodes.iter().zip(&node_ns) {
            let ca_file = ca
                .as_ref()
                .map(|(_, p)| (p.as_path(), n.drill_ca.as_slice()));
            let text = node_text::render(&n.file.text, &n.name, ca_file)?;
            let app = Appliance::new(&lab, ns, &n.name, &text);
            check_file(&app.config)?;
            nodes.push(Node {
                name: n.name.clone(),
                ns: ns.clone(),
                text,
                has_dataplane: n.config().dataplane.is_some(),
                app,
            });
        }
        let mut sites = Vec::new();
        for sp in &plan.sites {
            let app = Appliance::new(&lab, &hosts[sp.gateway], &sp.site.node, &sp.site.config());
            check_file(&app.config)?;
            sites.push(app);
        }
        let mut bed = Bed {
            servers,
            node_servers,
            routers,
            sites,
            nodes,
            hosts,
            switches,
            plan,
            lab,
        };
        for i in 0..bed.nodes.len() {
            bed.start_node(i)?;
        }
        for app in &mut bed.sites {
            site::start(app)?;
        }
        Ok(bed)
    }

    /// Starts node `i`'s daemon; returns once its control socket answers.
    pub fn start_node(&mut self, i: usize) -> Result<(), String> {
        let n = &mut self.nodes[i];
        let r = std::panic::catch_unwind(std::panic::AssertUnwindSafe(|| {
            n.app.start();
        }));
        r.map_err(|_| {
            let log = n.app.proc_opt().map(|p| p.log()).unwrap_or_default();
            let tail: Vec<&str> = log.lines().rev().take(15).collect();
            format!(
                "applianced on {} did not start:\n{}",
                n.name,
                tail.into_iter().rev().collect::<Vec<_>>().join("\n")
            )
        })
    }

    pub fn client(&self) -> &Netns {
        let i = self
            .plan
            .hosts
            .iter()
            .position(|h| h.role == Role::Client)
            .expect("a plan has a client");
        &self.hosts[i]
    }

    /// Waits until each node's data plane runs with every next hop resolved.
    pub fn wait_dataplanes(&self) -> Result<(), String> {
        for n in self.nodes.iter().filter(|n| n.has_dataplane) {
            wait_until(
                &format!("the data plane of {} running", n.name),
                UP_TIMEOUT,
                Duration::from_millis(100),
                || {
                    n.call(Command::Dataplane).is_ok_and(|st| {
                        st["state"] == "running"
                            && st["unresolved_neighbours"]
                                .as_array()
                                .is_some_and(|a| a.is_empty())
                    })
                },
            )
            .map_err(|e| e.to_string())?;
        }
        for app in &self.sites {
            site::wait_dataplane(app)?;
        }
        Ok(())
    }

    /// The node whose namespace owns `ip` (a gateway of the router's routes).
    pub fn node_of(&self, ip: IpAddr) -> Option<usize> {
        self.plan.nodes.iter().position(|n| n.owns(ip))
    }
}

/// `applianced check` on a node's file before its daemon starts: what this build refuses gets
/// the configuration's own message.
pub(crate) fn check_file(path: &std::path::Path) -> Result<(), String> {
    let out = std::process::Command::new(bin_path("applianced"))
        .args(["check", "-c"])
        .arg(path)
        .output()
        .map_err(|e| format!("cannot run applianced check: {e}"))?;
    if out.status.success() {
        Ok(())
    } else {
        Err(format!(
            "the node's file as rehearsed is refused:\n{}",
            String::from_utf8_lossy(&out.stderr)
        ))
    }
}
