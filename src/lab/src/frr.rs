//! FRR's vrrpd (with the zebra it needs) as a VRRP peer in a namespace, started by hand with
//! its own config, pid, zserv and vty paths in the lab's artifacts, so nothing of the host's
//! FRR is used or touched.
//!
//! FRR always runs a Virtual Router on a macvlan with the virtual MAC (RFC 9568 §7.3): the
//! macvlan (bridge mode, VIPs on it) is created here as FRR's documentation asks; vrrpd finds
//! it by MAC on the parent, sends the adverts from it and keeps it protodown while backup.

use std::path::PathBuf;
use std::time::Duration;

use crate::vrrp_lab::VrrpSpec;
use crate::{require_tool, wait_for_file, wait_until, Lab, Netns, Proc};

pub struct FrrVrrp {
    pub zebra: Proc,
    pub vrrpd: Proc,
    /// The macvlan vrrpd runs the Virtual Router on.
    pub macvlan: String,
    ns: Netns,
}

fn vmac(spec: &VrrpSpec, v6: bool) -> String {
    format!("00:00:5e:00:0{}:{:02x}", if v6 { 2 } else { 1 }, spec.vrid)
}

impl FrrVrrp {
    /// Starts zebra and vrrpd in `ns` with one Virtual Router `spec` on `eth0`.
    pub fn start(lab: &Lab, ns: &Netns, name: &str, spec: &VrrpSpec) -> FrrVrrp {
        let zebra_bin = require_tool("/usr/lib/frr/zebra");
        let vrrpd_bin = require_tool("/usr/lib/frr/vrrpd");
        let v6 = spec.vip.contains(':');
        let macvlan = format!("vrrp{}-{}", if v6 { "6" } else { "4" }, spec.vrid);
        if !ns
            .ip_ok(&["-o", "link", "show"])
            .contains(&format!(" {macvlan}@"))
        {
            ns.ip_ok(&[
                "link", "add", &macvlan, "link", "eth0", "type", "macvlan", "mode", "bridge",
            ]);
            // A link-local of its own: vrrpd sends IPv6 adverts from the macvlan's.
            ns.ip_ok(&["link", "set", "dev", &macvlan, "addrgenmode", "random"]);
            ns.ip_ok(&["link", "set", "dev", &macvlan, "address", &vmac(spec, v6)]);
            ns.ip_ok(&["addr", "add", &spec.vip, "dev", &macvlan, "nodad"]);
            ns.ip_ok(&["link", "set", "dev", &macvlan, "up"]);
        }
        // vrrpd and zebra drop to the `frr` user (root is refused: not in `frrvty`), which
        // must write its pid files and zserv socket here.
        let dir = lab.artifacts().join(format!("{name}-frr"));
        std::fs::create_dir_all(&dir).unwrap();
        std::fs::set_permissions(&dir, std::os::unix::fs::PermissionsExt::from_mode(0o777))
            .unwrap();
        let zserv = dir.join("zserv.api");
        let path = |f: &str| -> PathBuf { dir.join(f) };
        let common = |conf: &PathBuf, pid: &PathBuf| -> Vec<String> {
            vec![
                "-f".into(),
                conf.to_str().unwrap().into(),
                "-i".into(),
                pid.to_str().unwrap().into(),
                "-z".into(),
                zserv.to_str().unwrap().into(),
                "--vty_socket".into(),
                dir.to_str().unwrap().into(),
                "-P".into(),
                "0".into(),
                "-u".into(),
                "frr".into(),
                "-g".into(),
                "frr".into(),
                "--log".into(),
                "stdout".into(),
            ]
        };
        let zconf = dir.join("zebra.conf");
        std::fs::write(&zconf, "hostname zebra\n").unwrap();
        let mut zargs = vec![zebra_bin.to_str().unwrap().to_string()];
        zargs.extend(common(&zconf, &path("zebra.pid")));
        let zargs: Vec<&str> = zargs.iter().map(String::as_str).collect();
        let zebra = ns.spawn(&format!("{name}-zebra"), &zargs);
        wait_for_file(&zserv, Duration::from_secs(10)).unwrap();

        let interval = spec.interval_ms;
        let family = if v6 { "ipv6" } else { "ip" };
        let conf = format!(
            "hostname {name}\ninterface eth0\n vrrp {id} version 3\n vrrp {id} priority {p}\n \
             vrrp {id} advertisement-interval {interval}\n vrrp {id} {family} {vip}\n{preempt}",
            id = spec.vrid,
            p = spec.priority,
            vip = spec.vip_addr(),
            preempt = if spec.preempt {
                String::new()
            } else {
                format!(" no vrrp {} preempt\n", spec.vrid)
            },
        );
        let vconf = dir.join("vrrpd.conf");
        std::fs::write(&vconf, conf).unwrap();
        let mut vargs = vec![vrrpd_bin.to_str().unwrap().to_string()];
        vargs.extend(common(&vconf, &path("vrrpd.pid")));
        let vargs: Vec<&str> = vargs.iter().map(String::as_str).collect();
        let vrrpd = ns.spawn(&format!("{name}-vrrpd"), &vargs);
        FrrVrrp {
            zebra,
            vrrpd,
            macvlan,
            ns: ns.clone(),
        }
    }

    /// vrrpd's state of the Virtual Router, from its last transition in its log
    /// (`Initialize -> Backup`, `Backup -> Master`, ...).
    pub fn state(&self) -> String {
        self.vrrpd
            .log()
            .lines()
            .rev()
            .find_map(|l| {
                l.split_once("] Initialize -> ")
                    .or_else(|| l.split_once("] Backup -> "))
                    .or_else(|| l.split_once("] Master -> "))
            })
            .map(|(_, to)| to.trim().to_string())
            .unwrap_or_default()
    }

    pub fn is_master(&self) -> bool {
        self.state() == "Master"
    }

    /// Whether its macvlan carries traffic: vrrpd sets protodown on it while not Master.
    pub fn macvlan_protodown(&self) -> bool {
        self.ns
            .ip_ok(&["-d", "link", "show", "dev", &self.macvlan])
            .contains("protodown on")
    }

    pub fn wait_state(&self, state: &str, timeout: Duration) {
        wait_until(
            &format!("FRR {} {state}", self.macvlan),
            timeout,
            Duration::from_millis(10),
            || self.state() == state,
        )
        .unwrap();
    }

    /// Stops vrrpd gracefully (it resigns with a priority-0 advert), then zebra, and removes
    /// the macvlan.
    pub fn stop(self) {
        self.vrrpd.stop(Duration::from_secs(5));
        self.zebra.stop(Duration::from_secs(5));
        let _ = self.ns.ip(&["link", "del", &self.macvlan]);
    }
}
