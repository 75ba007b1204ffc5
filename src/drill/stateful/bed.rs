//! The drill's namespaces (see [`super::plan`] for the picture), in a [`Lab`] that removes every
//! namespace, link and process on every path: a switch per segment, the pair, the router, the
//! clients, the site gateway and its user, the backends and the outside server with their
//! [`Echo`] servers; then the three daemons.

use std::time::{Duration, Instant};

use lab::{wait_until, Appliance, Lab, Netns};

use super::echo::Echo;
use super::plan::{self, Node, Place, BACK, FRONT};
use crate::control::protocol::Command;
use crate::drill::rehearse::follow;
use crate::drill::site::{self, start, wait_dataplane};

/// How long the daemons may take to come up: control sockets, data planes, VRRP.
const UP_TIMEOUT: Duration = Duration::from_secs(30);

/// Fields drop in order: the servers' threads and the daemons before the lab removes the
/// namespaces.
pub struct Bed {
    pub echo: Vec<Echo>,
    /// `a` and `b`, in [`Node::index`] order.
    pub pair: Vec<Appliance>,
    pub site: Appliance,
    /// The front segment's switch (bridge `br0`): VRRP and ARP are captured there.
    pub front_switch: Netns,
    /// The client namespace of each place.
    pub clients: Vec<(Place, Netns)>,
    /// Whether the pair runs with `[sync]`.
    pub sync: bool,
    pub lab: Lab,
}

/// `ns`'s `ifname` plugged into the bridge of `switch` by a veth, with `cidr` on it.
fn plug(lab: &Lab, switch: &Netns, port: &mut usize, ns: &Netns, ifname: &str, cidr: &str) {
    let p = format!("p{port}");
    *port += 1;
    lab.veth(ns, ifname, switch, &p);
    switch.attach(&p, "br0");
    ns.add_addr(ifname, cidr);
}

/// A host on the back segment: its default gateway is the back VIP, and what it sends into
/// the fast path carries whole checksums (veths compute none).
fn back_host(lab: &Lab, sw: &Netns, port: &mut usize, name: &str, addr: &str) -> Netns {
    let ns = lab.netns(name);
    plug(lab, sw, port, &ns, "eth0", &format!("{addr}/24"));
    ns.add_route(&format!("default via {}", plan::BACK_VIP));
    lab::peers::full_checksums(&ns, "eth0");
    ns
}

impl Bed {
    /// Builds everything, starts the three daemons and waits until `a` is the master with
    /// every data plane running. `sync` asks for `[sync]`; a build that refuses the section
    /// runs without it (`Bed::sync` says which).
    pub fn build(lab: Lab, sync: bool) -> Result<Bed, String> {
        let front_sw = lab.netns("sw-front");
        lab.bridge(&front_sw, "br0");
        let back_sw = lab.netns("sw-back");
        lab.bridge(&back_sw, "br0");
        let (mut fp, mut bp) = (0usize, 0usize);

        let pair_ns: Vec<Netns> = Node::BOTH.iter().map(|n| lab.netns(n.name())).collect();
        for (n, ns) in Node::BOTH.iter().zip(&pair_ns) {
            plug(
                &lab,
                &front_sw,
                &mut fp,
                ns,
                "eth0",
                &format!("{}/24", n.addr(FRONT)),
            );
            plug(
                &lab,
                &back_sw,
                &mut bp,
                ns,
                "eth1",
                &format!("{}/24", n.addr(BACK)),
            );
            // The fast path forwards; the kernel must not (what crosses a node went through
            // its workers).
            ns.sysctl("net.ipv4.ip_forward", "0");
            // The routed client's replies leave through the router.
            ns.add_route(&format!("{} via {}", plan::ROUTED_NET, plan::ROUTER_FRONT));
        }
        lab.veth(&pair_ns[0], "eth2", &pair_ns[1], "eth2");
        for (n, ns) in Node::BOTH.iter().zip(&pair_ns) {
            ns.add_addr("eth2", &format!("{}/24", n.addr(plan::SYNC_NET)));
        }

        let router = lab.netns("router");
        plug(
            &lab,
            &front_sw,
            &mut fp,
            &router,
            "eth0",
            &format!("{}/24", plan::ROUTER_FRONT),
        );
        let routed = lab.netns("cl-routed");
        lab.veth(&router, "eth1", &routed, "eth0");
        router.add_addr("eth1", &format!("{}/24", plan::ROUTER_CLIENT_SIDE));
        routed.add_addr("eth0", &format!("{}/24", plan::ROUTED_CLIENT));
        routed.add_route(&format!("default via {}", plan::ROUTER_CLIENT_SIDE));
        for (key, value) in [
            ("net.ipv4.ip_forward", "1"),
            ("net.ipv4.conf.all.rp_filter", "0"),
            ("net.ipv4.conf.default.rp_filter", "0"),
        ] {
            router.sysctl(key, value);
        }
        for (ns, ifname) in [(&router, "eth0"), (&router, "eth1"), (&routed, "eth0")] {
            lab::peers::full_checksums(ns, ifname);
        }

        let lan = lab.netns("cl-lan");
        plug(
            &lab,
            &front_sw,
            &mut fp,
            &lan,
            "eth0",
            &format!("{}/24", plan::LAN_CLIENT),
        );
        lab::peers::full_checksums(&lan, "eth0");

        let site = lab.netns("site");
        plug(
            &lab,
            &front_sw,
            &mut fp,
            &site,
            "eth0",
            &format!("{}/24", plan::SITE_UNDERLAY),
        );
        let user = lab.netns("user");
        site::attach_user(&lab, &site, &user, &plan::site(), plan::SITE_USER);

        let mut echo = Vec::new();
        for (i, addr) in plan::BACKENDS.iter().enumerate() {
            let name = format!("b{}", i + 1);
            let ns = back_host(&lab, &back_sw, &mut bp, &name, &addr.to_string());
            echo.push(Echo::start(
                ns.name(),
                &name,
                &[plan::NAT_PORT, plan::FULLNAT_PORT],
                &[plan::NAT_PORT],
            )?);
        }
        let srv = back_host(&lab, &back_sw, &mut bp, "server", &plan::SERVER.to_string());
        echo.push(Echo::start(
            srv.name(),
            "server",
            &[plan::SERVER_PORT],
            &[],
        )?);

        let mut pair = Vec::new();
        for (n, ns) in Node::BOTH.iter().zip(&pair_ns) {
            let app = Appliance::new(&lab, ns, n.name(), &plan::node_config(*n, sync));
            crate::drill::rehearse::bed::check_file(&app.config)?;
            pair.push(app);
        }
        let site_app = Appliance::new(&lab, &site, "site", &plan::site_config());
        crate::drill::rehearse::bed::check_file(&site_app.config)?;
        let mut bed = Bed {
            echo,
            pair,
            site: site_app,
            front_switch: front_sw,
            clients: vec![
                (Place::Lan, lan),
                (Place::Routed, routed),
                (Place::Site, user),
            ],
            sync,
            lab,
        };
        // `a` first: it is the master from the start, not by preempting `b`.
        bed.start(Node::A)?;
        bed.wait_master(Node::A, Instant::now(), UP_TIMEOUT)?;
        bed.start(Node::B)?;
        start(&mut bed.site)?;
        for app in bed.pair.iter().chain([&bed.site]) {
            wait_dataplane(app)?;
        }
        bed.wait_master(Node::A, Instant::now(), UP_TIMEOUT)?;
        Ok(bed)
    }

    pub fn node(&self, n: Node) -> &Appliance {
        &self.pair[n.index()]
    }

    pub fn running(&self, n: Node) -> bool {
        self.node(n).proc_opt().is_some_and(|p| p.is_running())
    }

    /// Starts `n`'s daemon; returns once its control socket answers.
    pub fn start(&mut self, n: Node) -> Result<(), String> {
        start(&mut self.pair[n.index()])
    }

    /// The state of each VRRP instance of `n` (empty when its daemon does not answer).
    pub fn vrrp_states(&self, n: Node) -> Vec<String> {
        if !self.running(n) {
            return Vec::new();
        }
        follow::call(&self.node(n).socket, Command::Status)
            .ok()
            .and_then(|st| {
                st["vrrp"].as_array().map(|a| {
                    a.iter()
                        .map(|i| i["state"].as_str().unwrap_or_default().to_string())
                        .collect()
                })
            })
            .unwrap_or_default()
    }

    /// Waits until `n` is the master of both instances and the other node of none; returns
    /// when that was first seen.
    pub fn wait_master(
        &self,
        n: Node,
        since: Instant,
        timeout: Duration,
    ) -> Result<Instant, String> {
        let mut seen = (Vec::new(), Vec::new());
        let r = wait_until(
            &format!("{} master of both VIPs", n.name()),
            timeout.saturating_sub(since.elapsed()),
            Duration::from_millis(10),
            || {
                seen = (self.vrrp_states(n), self.vrrp_states(n.other()));
                seen.0.len() == 2
                    && seen.0.iter().all(|s| s == "master")
                    && seen.1.iter().all(|s| s != "master")
            },
        );
        r.map(|_| Instant::now()).map_err(|e| {
            format!(
                "{e}: {} {:?}, {} {:?}",
                n.name(),
                seen.0,
                n.other().name(),
                seen.1
            )
        })
    }
}
