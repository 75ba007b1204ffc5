//! The router in front of the cluster: one eBGP session to each node, every path to the VIP
//! installed in its kernel as one multipath route (BIRD 2: the kernel protocol's `merge
//! paths`; FRR: zebra with `maximum-paths`), and flows spread over the paths by their L4 hash
//! (`fib_multipath_hash_policy = 1`, set by the topology).
//!
//! Both import with the RFC 8326 receiver policy: a path carrying GRACEFUL_SHUTDOWN (65535:0)
//! gets LOCAL_PREF 0, so it leaves the multipath route as soon as a node starts a graceful stop,
//! not only when the node withdraws it at the end of its `graceful_shutdown_wait`. Both export
//! nothing to the nodes.

use std::net::Ipv4Addr;

use lab::frr_router::FrrRouter;
use lab::{bird, require_tool, Lab, Netns, Proc};

#[derive(Debug, Clone, Copy, PartialEq, Eq, serde::Serialize)]
#[serde(rename_all = "lowercase")]
pub enum Flavour {
    Frr,
    Bird,
}

impl Flavour {
    pub const ALL: [Flavour; 2] = [Flavour::Frr, Flavour::Bird];

    pub fn name(self) -> &'static str {
        match self {
            Flavour::Frr => "frr",
            Flavour::Bird => "bird",
        }
    }
}

/// What the router's configuration is made from.
#[derive(Debug, Clone)]
pub struct RouterSpec {
    pub flavour: Flavour,
    pub id: Ipv4Addr,
    pub local_as: u32,
    pub nodes_as: u32,
    pub nodes: Vec<Ipv4Addr>,
    /// BFD on every session: (interval in ms, detect multiplier).
    pub bfd: Option<(u32, u32)>,
}

pub enum Router {
    Bird { proc: Proc, ctl: String },
    Frr(FrrRouter),
}

/// BIRD's configuration.
pub fn bird_config(s: &RouterSpec) -> String {
    let mut c = bird::router_header(&s.id.to_string(), "all", s.local_as, false);
    c.push_str(
        "filter from_nodes {\n  # RFC 8326: a path in graceful shutdown loses to every other.\n  \
         if (65535, 0) ~ bgp_community then bgp_local_pref = 0;\n  accept;\n}\n",
    );
    if let Some((ms, mult)) = s.bfd {
        c.push_str(&format!(
            "protocol bfd {{ interface \"*\" {{ min rx interval {ms} ms; min tx interval {ms} ms; \
             multiplier {mult}; }}; }}\n"
        ));
    }
    let bfd = if s.bfd.is_some() { "bfd on;" } else { "" };
    for (i, n) in s.nodes.iter().enumerate() {
        c.push_str(&format!(
            "protocol bgp n{} from peer {{ neighbor {n} as {}; source address {}; {bfd} \
             ipv4 {{ import filter from_nodes; export none; }}; }}\n",
            i + 1,
            s.nodes_as,
            s.id
        ));
    }
    c
}

/// bgpd's configuration (zebra needs none but its hostname).
pub fn frr_bgpd_config(s: &RouterSpec) -> String {
    let mut c = format!(
        "frr defaults traditional\nhostname router\nlog stdout informational\n!\n\
         bgp community-list standard GSHUT seq 5 permit graceful-shutdown\n!\n\
         route-map FROM-NODES permit 10\n match community GSHUT\n set local-preference 0\nexit\n\
         route-map FROM-NODES permit 20\nexit\n\
         route-map NOTHING deny 10\nexit\n!\n\
         router bgp {las}\n bgp router-id {id}\n no bgp ebgp-requires-policy\n\
         timers bgp 1 3\n neighbor nodes peer-group\n neighbor nodes remote-as {nas}\n\
         neighbor nodes timers 1 3\n neighbor nodes timers connect 1\n\
         neighbor nodes advertisement-interval 0\n",
        las = s.local_as,
        id = s.id,
        nas = s.nodes_as,
    );
    if s.bfd.is_some() {
        // FRR 8.4 takes the profile only with BFD itself on for the group.
        c.push_str(" neighbor nodes bfd\n neighbor nodes bfd profile cluster\n");
    }
    for n in &s.nodes {
        c.push_str(&format!(" neighbor {n} peer-group nodes\n"));
    }
    c.push_str(
        " address-family ipv4 unicast\n  maximum-paths 16\n  \
         neighbor nodes route-map FROM-NODES in\n  neighbor nodes route-map NOTHING out\n \
         exit-address-family\nexit\n",
    );
    c
}

/// bfdd's configuration: the profile the sessions name.
pub fn frr_bfdd_config(interval_ms: u32, multiplier: u32) -> String {
    format!(
        "hostname router\nlog stdout informational\n!\nbfd\n profile cluster\n  \
         detect-multiplier {multiplier}\n  receive-interval {interval_ms}\n  \
         transmit-interval {interval_ms}\n exit\nexit\n"
    )
}

impl Router {
    /// Starts the router in `ns`.
    pub fn start(lab: &Lab, ns: &Netns, s: &RouterSpec) -> Router {
        match s.flavour {
            Flavour::Bird => {
                let proc = bird::spawn(lab, ns, "bird", &bird_config(s));
                let ctl = lab.artifact_path("bird.ctl").display().to_string();
                Router::Bird { proc, ctl }
            }
            Flavour::Frr => {
                let bfdd = s.bfd.map(|(ms, mult)| frr_bfdd_config(ms, mult));
                Router::Frr(FrrRouter::start(
                    lab,
                    ns,
                    "router",
                    &frr_bgpd_config(s),
                    bfdd.as_deref(),
                ))
            }
        }
    }

    /// The router's own view of its sessions, for a report of a failure.
    pub fn sessions(&self, ns: &Netns) -> String {
        match self {
            Router::Bird { ctl, .. } => {
                let birdc = require_tool("birdc");
                let out = ns.exec(&[
                    birdc.to_str().expect("UTF-8 path"),
                    "-s",
                    ctl,
                    "show protocols",
                ]);
                String::from_utf8_lossy(&out.stdout).into_owned()
            }
            Router::Frr(f) => f.vtysh("show bgp summary"),
        }
    }

    /// Every process of the router still running.
    pub fn running(&self) -> bool {
        match self {
            Router::Bird { proc, .. } => proc.is_running(),
            Router::Frr(f) => f.running(),
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn spec(flavour: Flavour, bfd: Option<(u32, u32)>) -> RouterSpec {
        RouterSpec {
            flavour,
            id: "198.18.41.1".parse().unwrap(),
            local_as: 65000,
            nodes_as: 65001,
            nodes: vec![
                "198.18.41.2".parse().unwrap(),
                "198.18.41.3".parse().unwrap(),
            ],
            bfd,
        }
    }

    #[test]
    fn bird_sessions_import_through_the_graceful_shutdown_filter() {
        let c = bird_config(&spec(Flavour::Bird, None));
        assert!(c.contains("merge paths yes"), "{c}");
        assert_eq!(c.matches("import filter from_nodes").count(), 2, "{c}");
        assert!(!c.contains("bfd"), "{c}");
        let c = bird_config(&spec(Flavour::Bird, Some((50, 3))));
        assert!(c.contains("min rx interval 50 ms"), "{c}");
        assert_eq!(c.matches("bfd on;").count(), 2, "{c}");
    }

    #[test]
    fn frr_is_multipath_with_the_receiver_policy() {
        let c = frr_bgpd_config(&spec(Flavour::Frr, None));
        assert!(c.contains("maximum-paths 16"), "{c}");
        assert!(c.contains("neighbor 198.18.41.3 peer-group nodes"), "{c}");
        assert!(c.contains("set local-preference 0"), "{c}");
        assert!(!c.contains("bfd"), "{c}");
        let c = frr_bgpd_config(&spec(Flavour::Frr, Some((50, 3))));
        assert!(c.contains("neighbor nodes bfd profile cluster"), "{c}");
        assert!(frr_bfdd_config(50, 3).contains("transmit-interval 50"));
    }
}
