//! A GRE site as the drills build it (the kernel here has no GRE module): the site's gateway is a
//! third `applianced` whose `[[gre.tunnel]]` has `role = "site"`, on an underlay shared with the
//! central gateway; behind it, on a veth of their own, the site's inside network and one user
//! whose default route is the gateway. Shared by the stateful-failover drill (a fixed site) and
//! the rehearsal (one site per central tunnel of the operator's files).

use std::net::Ipv4Addr;
use std::time::Duration;

use ipnetwork::Ipv4Network;
use lab::{wait_until, Appliance, DataplaneHeader, Lab, Netns};

use crate::control::protocol::Command;
use crate::drill::rehearse::follow;

/// How long a daemon may take to come up: control socket, data plane, next hops.
const UP_TIMEOUT: Duration = Duration::from_secs(30);

/// The site end of one tunnel: what its gateway's file says.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct SiteTunnel {
    /// The gateway's `node_name` and its tunnel's name.
    pub node: String,
    pub tunnel: String,
    /// The site gateway's underlay address (the central tunnel's `remote`).
    pub local: Ipv4Addr,
    /// The central gateway's end (the central tunnel's `local`).
    pub remote: Ipv4Addr,
    pub key: Option<u32>,
    pub mtu: Option<u16>,
    /// The site's inside network; its first host is the gateway's inside address.
    pub inside: Ipv4Network,
    /// The gateway's data plane workers (and queues per interface).
    pub workers: u16,
}

impl SiteTunnel {
    /// The gateway's address on the inside network (its first host).
    pub fn gateway_inside(&self) -> Ipv4Addr {
        self.inside.nth(1).expect("an inside network holds hosts")
    }

    /// The gateway's file: `eth0` the underlay, `eth1` the inside network.
    pub fn config(&self) -> String {
        let header = DataplaneHeader {
            node: &self.node,
            shutdown_grace: Some("3s"),
            interfaces: &[
                ("eth0", "underlay to the central gateway"),
                ("eth1", "the site's inside network"),
            ],
            workers: self.workers,
            queues: self.workers,
        };
        let key = self.key.map(|k| format!("key = {k}\n")).unwrap_or_default();
        let mtu = self.mtu.map(|m| format!("mtu = {m}\n")).unwrap_or_default();
        format!(
            r#"{header}conntrack_per_worker = 1024

[[gre.tunnel]]
name = "{tunnel}"
role = "site"
local = "{local}"
remote = "{remote}"
{key}{mtu}inside = ["{inside}"]
"#,
            tunnel = self.tunnel,
            local = self.local,
            remote = self.remote,
            inside = self.inside,
        )
    }
}

/// The inside network between the site gateway's `eth1` and the user's `eth0`: addresses, the
/// user's default route through the gateway, whole checksums on what the user sends into the
/// gateway's fast path (veths compute none). The gateway's kernel does not forward: what
/// crosses it went through the fast path.
pub fn attach_user(
    lab: &Lab,
    gateway: &Netns,
    user: &Netns,
    site: &SiteTunnel,
    user_addr: Ipv4Addr,
) {
    let prefix = site.inside.prefix();
    lab.veth(gateway, "eth1", user, "eth0");
    gateway.add_addr("eth1", &format!("{}/{prefix}", site.gateway_inside()));
    user.add_addr("eth0", &format!("{user_addr}/{prefix}"));
    user.add_route(&format!("default via {}", site.gateway_inside()));
    lab::peers::full_checksums(user, "eth0");
    gateway.sysctl("net.ipv4.ip_forward", "0");
}

/// Starts `app`; returns once its control socket answers, or the tail of its log.
pub fn start(app: &mut Appliance) -> Result<(), String> {
    let r = std::panic::catch_unwind(std::panic::AssertUnwindSafe(|| {
        app.start();
    }));
    r.map_err(|_| {
        let log = app.proc_opt().map(|p| p.log()).unwrap_or_default();
        let tail: Vec<&str> = log.lines().rev().take(15).collect();
        format!(
            "applianced on {} did not start:\n{}",
            app.name,
            tail.into_iter().rev().collect::<Vec<_>>().join("\n")
        )
    })
}

/// Waits until `app`'s data plane runs with every next hop it knows of resolved.
pub fn wait_dataplane(app: &Appliance) -> Result<(), String> {
    wait_until(
        &format!("the data plane of {} running", app.name),
        UP_TIMEOUT,
        Duration::from_millis(50),
        || {
            follow::call(&app.socket, Command::Dataplane).is_ok_and(|st| {
                st["state"] == "running"
                    && st["unresolved_neighbours"]
                        .as_array()
                        .is_some_and(|a| a.is_empty())
            })
        },
    )
    .map(|_| ())
    .map_err(|e| e.to_string())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_gateway_file_has_the_site_end_of_the_tunnel() {
        let s = SiteTunnel {
            node: "site1".into(),
            tunnel: "to-central".into(),
            local: Ipv4Addr::new(198, 18, 80, 30),
            remote: Ipv4Addr::new(198, 18, 80, 10),
            key: Some(100),
            mtu: None,
            inside: "198.18.85.0/24".parse().unwrap(),
            workers: 1,
        };
        let t = s.config();
        assert!(t.contains("role = \"site\"\nlocal = \"198.18.80.30\"\nremote = \"198.18.80.10\"\nkey = 100\ninside = [\"198.18.85.0/24\"]"), "{t}");
        assert!(!t.contains("mtu ="));
        assert_eq!(s.gateway_inside(), Ipv4Addr::new(198, 18, 85, 1));
    }
}
