//! VRRP test topologies: config text for appliance nodes and keepalived 2.2.7 peers, and
//! helpers to read a node's instance state.

use std::path::PathBuf;
use std::time::Duration;

use crate::{require_tool, wait_until, Appliance, Lab, Netns, Proc};

/// One VRRP instance as a test wants it.
#[derive(Debug, Clone)]
pub struct VrrpSpec {
    pub name: String,
    pub vrid: u8,
    pub priority: u8,
    /// Advertisement interval in milliseconds (multiple of 10).
    pub interval_ms: u64,
    /// Virtual address with prefix, e.g. "198.18.0.100/24".
    pub vip: String,
    pub preempt: bool,
    pub virtual_mac: bool,
    /// Extra TOML lines for the instance table.
    pub extra: String,
}

impl VrrpSpec {
    pub fn v4(priority: u8, interval_ms: u64) -> VrrpSpec {
        VrrpSpec {
            name: "vi".into(),
            vrid: 51,
            priority,
            interval_ms,
            vip: "198.18.0.100/24".into(),
            preempt: true,
            virtual_mac: false,
            extra: String::new(),
        }
    }

    pub fn v6(priority: u8, interval_ms: u64) -> VrrpSpec {
        VrrpSpec {
            name: "vi6".into(),
            vrid: 52,
            vip: "2001:db8:0:1::100/64".into(),
            ..VrrpSpec::v4(priority, interval_ms)
        }
    }

    pub fn vip_addr(&self) -> String {
        self.vip.split('/').next().unwrap().to_string()
    }
}

/// An appliance config with one interface `eth0` and the given instances.
pub fn appliance_config(node: &str, specs: &[VrrpSpec], extra_top: &str) -> String {
    let mut s = format!(
        "[daemon]\nnode_name = \"{node}\"\nstate_dir = \"/run/appliance\"\nshutdown_grace = \"3s\"\n\n\
         [control]\nsocket = \"/run/appliance/appctl.sock\"\n\n[interfaces.eth0]\n\n{extra_top}\n"
    );
    for v in specs {
        s.push_str(&format!(
            "[[vrrp.instance]]\nname = \"{}\"\ninterface = \"eth0\"\nvrid = {}\npriority = {}\n\
             advert_interval = \"{}ms\"\nvirtual_addresses = [\"{}\"]\npreempt = {}\nvirtual_mac = {}\n\
             garp_count = 2\ngarp_interval = \"20ms\"\n{}\n",
            v.name, v.vrid, v.priority, v.interval_ms, v.vip, v.preempt, v.virtual_mac, v.extra
        ));
    }
    s
}

/// The state of `instance` on a node (`master`, `backup`, ...).
pub fn vrrp_state(node: &Appliance, instance: &str) -> String {
    let st = node.status();
    st["vrrp"]
        .as_array()
        .and_then(|a| a.iter().find(|i| i["name"] == instance))
        .map(|i| i["state"].as_str().unwrap_or("").to_string())
        .unwrap_or_default()
}

pub fn wait_vrrp_state(node: &Appliance, instance: &str, state: &str, timeout: Duration) {
    wait_until(
        &format!("{} {instance} {state}", node.name),
        timeout,
        Duration::from_millis(10),
        || vrrp_state(node, instance) == state,
    )
    .unwrap();
}

/// Whether the namespace has `addr` on eth0 or on any other interface.
pub fn has_addr(ns: &Netns, addr: &str) -> bool {
    ns.ip_ok(&["-o", "addr", "show"])
        .contains(&format!(" {addr}/"))
}

/// A keepalived 2.2.7 VRRP-only process in a namespace.
pub struct Keepalived {
    pub proc: Proc,
    vrrp_pidfile: PathBuf,
}

impl Keepalived {
    /// `specs` become `vrrp_instance` blocks on `eth0`, VRRPv3, no GARP delay.
    pub fn start(lab: &Lab, ns: &Netns, name: &str, specs: &[VrrpSpec]) -> Keepalived {
        let bin = require_tool("keepalived");
        let mut conf = format!(
            "global_defs {{\n  router_id {name}\n  vrrp_version 3\n  vrrp_garp_master_delay 0\n  \
             vrrp_garp_master_repeat 1\n  script_user root\n}}\n"
        );
        for v in specs {
            let interval = v.interval_ms as f64 / 1000.0;
            conf.push_str(&format!(
                "vrrp_instance {} {{\n  state BACKUP\n  interface eth0\n  virtual_router_id {}\n  \
                 priority {}\n  advert_int {interval}\n{}{}  virtual_ipaddress {{\n    {}\n  }}\n}}\n",
                v.name,
                v.vrid,
                v.priority,
                if v.preempt { "" } else { "  nopreempt\n" },
                if v.virtual_mac {
                    format!("  use_vmac ka{}\n", v.vrid)
                } else {
                    String::new()
                },
                v.vip
            ));
        }
        let conf_path = lab.write_artifact(&format!("{name}.conf"), conf);
        let pid = lab.artifact_path(&format!("{name}.pid"));
        let vrrp_pidfile = lab.artifact_path(&format!("{name}-vrrp.pid"));
        let proc = ns
            .process(
                name,
                &[
                    bin.to_str().unwrap(),
                    "-n",
                    "-l",
                    "-D",
                    "-P",
                    "-f",
                    conf_path.to_str().unwrap(),
                    "-p",
                    pid.to_str().unwrap(),
                    "-r",
                    vrrp_pidfile.to_str().unwrap(),
                ],
            )
            .spawn();
        Keepalived { proc, vrrp_pidfile }
    }

    /// The VRRP child's pid: killing it (and the parent) is a crash with no priority-0 advert.
    pub fn vrrp_child(&self) -> Option<i32> {
        std::fs::read_to_string(&self.vrrp_pidfile)
            .ok()
            .and_then(|s| s.trim().parse().ok())
    }

    /// A crash: the parent is stopped first so it cannot restart the child, then every
    /// keepalived process in the namespace (parent and VRRP child, all started by this test)
    /// is killed. The pid file is not trusted: keepalived rewrites it at start.
    pub fn crash(&self, ns: &Netns) {
        use nix::sys::signal::{kill, Signal};
        use nix::unistd::Pid;
        let _ = self.proc.signal(Signal::SIGSTOP);
        // Children first: keepalived's VRRP child has a parent-death signal (SIGTERM) and
        // would resign gracefully, with a priority-0 advert, if the parent died before it.
        let parent = self.proc.pid() as i32;
        for pid in ns.pids().into_iter().filter(|p| *p != parent) {
            let _ = kill(Pid::from_raw(pid), Signal::SIGKILL);
        }
        if let Some(c) = self.vrrp_child() {
            let _ = kill(Pid::from_raw(c), Signal::SIGKILL);
        }
        self.proc.kill();
        let _ = std::fs::remove_file(&self.vrrp_pidfile);
    }
}
