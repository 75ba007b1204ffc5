//! What the cluster is made of: its addresses, the service's mode, BFD, and each node's
//! configuration file (pure, so it is tested without namespaces).

use std::net::Ipv4Addr;

use lab::DataplaneHeader;

use super::router::Flavour;

pub const CLIENT: Ipv4Addr = Ipv4Addr::new(198, 18, 40, 2);
pub const ROUTER_CLIENT_SIDE: Ipv4Addr = Ipv4Addr::new(198, 18, 40, 1);
pub const LAN: &str = "198.18.41.0/24";
pub const ROUTER: Ipv4Addr = Ipv4Addr::new(198, 18, 41, 1);
pub const VIP: Ipv4Addr = Ipv4Addr::new(198, 18, 42, 1);
pub const PORT: u16 = 8080;
pub const ROUTER_AS: u32 = 65000;
pub const NODES_AS: u32 = 65001;
pub const NODES: usize = 3;
pub const BACKENDS: usize = 3;
/// The nodes' BGP hold time: the longest a silent node keeps its path without BFD.
pub const HOLD_TIME_S: u64 = 3;

/// Node `i`'s address (0-based): .2, .3, .4 (the router is .1 on the LAN).
pub fn node_addr(i: usize) -> Ipv4Addr {
    Ipv4Addr::new(198, 18, 41, 2 + i as u8)
}

/// Backend `i`'s address: .5, .6, .7.
pub fn backend_addr(i: usize) -> Ipv4Addr {
    Ipv4Addr::new(198, 18, 41, (2 + NODES + i) as u8)
}

/// The nodes' common `cluster_seed`: the same Maglev table on every node.
pub const CLUSTER_SEED: u64 = 14;

#[derive(Debug, Clone, Copy, PartialEq, Eq, serde::Serialize)]
#[serde(rename_all = "lowercase")]
pub enum Mode {
    /// Direct routing: the node rewrites the destination MAC only.
    Dr,
    /// IP-in-IP (RFC 2003) from the node to the backend.
    Tunnel,
}

impl Mode {
    pub const ALL: [Mode; 2] = [Mode::Dr, Mode::Tunnel];

    pub fn name(self) -> &'static str {
        match self {
            Mode::Dr => "dr",
            Mode::Tunnel => "tunnel",
        }
    }
}

/// BFD on the router sessions (both ends).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Bfd {
    pub interval_ms: u32,
    pub multiplier: u32,
}

#[derive(Debug, Clone, Copy)]
pub struct Spec {
    pub router: Flavour,
    pub mode: Mode,
    /// Off until the BFD work (issue 14, part 3) is merged: the node's config key does not
    /// exist before.
    pub bfd: Option<Bfd>,
    /// The counterfactual: every node gets a `cluster_seed` of its own, so the nodes' Maglev
    /// tables differ and a flow that moves to another node lands on another backend (which
    /// resets it). Shows what the consistent choice buys, and that the drill sees a break.
    pub per_node_seed: bool,
}

/// Node `i`'s configuration.
pub fn node_config(i: usize, spec: &Spec) -> String {
    let name = format!("n{}", i + 1);
    let header = DataplaneHeader {
        node: &name,
        shutdown_grace: Some("4s"),
        interfaces: &[("eth0", "cluster segment")],
        workers: 1,
        queues: 1,
    };
    let addr = node_addr(i);
    let backends: Vec<String> = (0..BACKENDS)
        .map(|b| format!("  {{ address = \"{}\", port = {PORT} }},", backend_addr(b)))
        .collect();
    let seed = if spec.per_node_seed {
        CLUSTER_SEED + 1 + i as u64
    } else {
        CLUSTER_SEED
    };
    let bfd = spec
        .bfd
        .map(|b| {
            format!(
                "bfd = {{ interval = \"{}ms\", multiplier = {} }}\n",
                b.interval_ms, b.multiplier
            )
        })
        .unwrap_or_default();
    format!(
        r#"{header}conntrack_per_worker = 16384
cluster_seed = {seed}

[[service]]
name = "echo"
vip = "{VIP}"
port = {PORT}
protocol = "tcp"
scheduler = "maglev"
mode = "{mode}"
backends = [
{backends}
]

[bgp]
local_as = {NODES_AS}
router_id = "{addr}"
hold_time = "{HOLD_TIME_S}s"
connect_retry = "1s"
graceful_shutdown_wait = "1s"

[[bgp.neighbor]]
address = "{ROUTER}"
remote_as = {ROUTER_AS}
local_address = "{addr}"
{bfd}
[[bgp.announce]]
prefix = "{VIP}/32"
"#,
        mode = spec.mode.name(),
        backends = backends.join("\n"),
    )
}

#[cfg(test)]
mod tests {
    use super::*;

    fn spec(mode: Mode, bfd: Option<Bfd>) -> Spec {
        Spec {
            router: Flavour::Bird,
            mode,
            bfd,
            per_node_seed: false,
        }
    }

    #[test]
    fn addresses_are_test_addresses_and_distinct() {
        let mut all = vec![CLIENT, ROUTER_CLIENT_SIDE, ROUTER, VIP];
        all.extend((0..NODES).map(node_addr));
        all.extend((0..BACKENDS).map(backend_addr));
        for a in &all {
            lab::assert_test_addr(&a.to_string());
        }
        let n = all.len();
        all.sort();
        all.dedup();
        assert_eq!(all.len(), n);
    }

    /// The file parses and validates as the daemon sees it, in both modes.
    #[test]
    fn node_config_is_valid() {
        for mode in Mode::ALL {
            valid(&node_config(1, &spec(mode, None)));
        }
        let mut s = spec(Mode::Dr, None);
        s.per_node_seed = true;
        valid(&node_config(2, &s));
        assert!(node_config(2, &s).contains("cluster_seed = 17"));
    }

    fn valid(text: &str) {
        let dir = std::env::temp_dir().join(format!("cluster-config-{}", std::process::id()));
        std::fs::create_dir_all(&dir).unwrap();
        let path = dir.join("n2.toml");
        std::fs::write(&path, text.replace("/run/appliance", dir.to_str().unwrap())).unwrap();
        let r = crate::daemon::load(&path, &Default::default());
        let _ = std::fs::remove_dir_all(&dir);
        if let Err(e) = r {
            panic!("{e}");
        }
    }

    #[test]
    fn node_config_says_mode_seed_and_bfd() {
        let c = node_config(0, &spec(Mode::Dr, None));
        assert!(c.contains("mode = \"dr\""), "{c}");
        assert!(c.contains("cluster_seed = 14"), "{c}");
        assert!(!c.contains("bfd"), "{c}");
        assert_eq!(c.matches("port = 8080 }").count(), BACKENDS, "{c}");
        let c = node_config(
            2,
            &spec(
                Mode::Tunnel,
                Some(Bfd {
                    interval_ms: 50,
                    multiplier: 3,
                }),
            ),
        );
        assert!(c.contains("mode = \"tunnel\""), "{c}");
        assert!(
            c.contains("bfd = { interval = \"50ms\", multiplier = 3 }"),
            "{c}"
        );
        assert!(c.contains("router_id = \"198.18.41.4\""), "{c}");
    }
}
