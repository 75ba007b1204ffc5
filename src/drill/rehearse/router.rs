//! The BGP router at a neighbour address: BIRD 2 with a session to each node that names it,
//! as the node's file describes the session (AS numbers, MD5, GTSM, multihop, families),
//! importing every route into its kernel (equal paths merged), exporting none. The drill reads
//! where its routes point from the kernel ([`super::routes`]) and stops its sessions through
//! `birdc`.

use std::net::IpAddr;
use std::path::PathBuf;

use lab::{bird, require_tool, Lab, Netns, Proc};

use super::plan::RouterPlan;

/// The session's name in BIRD for node `i`.
pub fn session_name(i: usize) -> String {
    format!("node{}", i + 1)
}

/// BIRD's configuration for `r`; `nodes` are the nodes' names (for comments).
pub fn config(r: &RouterPlan, nodes: &[String]) -> String {
    let id = match r.addr {
        IpAddr::V4(v) => v.to_string(),
        // BIRD's router id is an IPv4 number: any one unique in the rehearsal does.
        IpAddr::V6(_) => "198.19.255.254".to_string(),
    };
    let v6 = r.sessions.iter().any(|s| s.ipv6);
    let mut c = bird::router_header(&id, "all", r.local_as, v6);
    for s in &r.sessions {
        let mut opts = String::new();
        if let Some(p) = &s.md5 {
            opts.push_str(&format!("password \"{}\"; ", p.replace('"', "\\\"")));
        }
        if s.gtsm {
            opts.push_str("ttl security yes; ");
        }
        if let Some(ttl) = s.multihop {
            opts.push_str(&format!("multihop {ttl}; "));
        }
        let mut channels = String::new();
        if s.ipv4 {
            channels.push_str("ipv4 { import all; export none; }; ");
        }
        if s.ipv6 {
            channels.push_str("ipv6 { import all; export none; }; ");
        }
        c.push_str(&format!(
            "# {}\nprotocol bgp {} from peer {{ neighbor {} as {}; source address {}; {opts}{channels}}}\n",
            nodes.get(s.node).map(String::as_str).unwrap_or("?"),
            session_name(s.node),
            s.node_addr,
            s.node_as,
            r.addr,
        ));
    }
    c
}

pub struct Router {
    pub name: String,
    pub ns: Netns,
    pub proc: Proc,
    pub ctl: PathBuf,
}

impl Router {
    pub fn start(lab: &Lab, ns: &Netns, name: &str, conf: &str) -> Router {
        let proc = bird::spawn(lab, ns, name, conf);
        Router {
            name: name.to_string(),
            ns: ns.clone(),
            proc,
            ctl: lab.artifact_path(&format!("{name}.ctl")),
        }
    }

    /// `birdc <args>`; its output, or why it failed.
    pub fn birdc(&self, args: &[&str]) -> Result<String, String> {
        let birdc = require_tool("birdc");
        let mut argv = vec![
            birdc.to_str().unwrap_or("birdc"),
            "-s",
            self.ctl.to_str().unwrap_or_default(),
        ];
        argv.extend_from_slice(args);
        let out = self.ns.exec(&argv);
        let text = String::from_utf8_lossy(&out.stdout).into_owned();
        if out.status.success() {
            Ok(text)
        } else {
            Err(format!("{text}{}", String::from_utf8_lossy(&out.stderr)))
        }
    }

    /// Whether the session to node `i` is Established.
    pub fn established(&self, i: usize) -> bool {
        self.birdc(&["show", "protocols", &session_name(i)])
            .is_ok_and(|t| t.contains("Established"))
    }
}

#[cfg(test)]
mod tests {
    use super::super::plan::Session;
    use super::*;

    #[test]
    fn sessions_as_the_files_say() {
        let r = RouterPlan {
            host: 0,
            addr: "198.18.0.254".parse().unwrap(),
            local_as: 65000,
            sessions: vec![
                Session {
                    node: 0,
                    node_addr: "198.18.0.2".parse().unwrap(),
                    node_as: 65001,
                    md5: Some("s3cret".into()),
                    gtsm: true,
                    multihop: None,
                    ipv4: true,
                    ipv6: false,
                },
                Session {
                    node: 1,
                    node_addr: "198.18.0.3".parse().unwrap(),
                    node_as: 65001,
                    md5: None,
                    gtsm: false,
                    multihop: Some(2),
                    ipv4: true,
                    ipv6: true,
                },
            ],
        };
        let c = config(&r, &["lb1".into(), "lb2".into()]);
        assert!(c.contains("protocol bgp node1 from peer { neighbor 198.18.0.2 as 65001; source address 198.18.0.254; password \"s3cret\"; ttl security yes; ipv4"), "{c}");
        assert!(c.contains("multihop 2;"), "{c}");
        assert!(c.contains("protocol kernel { ipv6"), "{c}");
        assert!(c.contains("local as 65000"), "{c}");
    }
}
