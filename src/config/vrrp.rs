//! `[[vrrp.instance]]` and `[[vrrp.sync_group]]`: virtual routers (RFC 9568) and the groups of
//! them that change state together.

use std::collections::{BTreeMap, BTreeSet};
use std::net::IpAddr;

use ipnetwork::IpNetwork;
use serde::{Deserialize, Serialize};

use super::interfaces::{self, valid_ifname, InterfaceConfig};
use super::locate::KeyPath;
use super::types::ConfigDuration;
use super::validate::Issues;

#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct VrrpConfig {
    /// SCHED_FIFO priority of the VRRP thread (1-99), 0 for normal scheduling. A failover is
    /// a timer that must fire on time even while the rest of the host is busy.
    #[serde(default = "default_rt_priority")]
    pub realtime_priority: u8,
    #[serde(default)]
    pub instance: Vec<VrrpInstanceConfig>,
    #[serde(default)]
    pub sync_group: Vec<SyncGroupConfig>,
}

/// How the IPv4 checksum is computed; IPv6 always includes the pseudo-header.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "kebab-case")]
pub enum ChecksumSetting {
    /// With the IPv4 pseudo-header, as keepalived and FRR send by default.
    #[default]
    PseudoHeader,
    /// RFC 9568 §5.2.8: the VRRP message only.
    Rfc9568,
}

#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct VrrpInstanceConfig {
    /// Name used in status, events, metrics and notify commands.
    pub name: String,
    /// Declared interface the instance runs on.
    pub interface: String,
    /// Virtual Router Identifier, 1-255.
    pub vrid: u8,
    /// 1-254, or 255 for the address owner.
    #[serde(default = "default_priority")]
    pub priority: u8,
    /// Advertisement_Interval: a multiple of 10 ms from 10 ms to 40.95 s.
    #[serde(default = "default_advert_interval")]
    pub advert_interval: ConfigDuration,
    /// The virtual addresses, one family per instance; a prefix length sets the subnet the
    /// address is added with (default /32 or /128).
    pub virtual_addresses: Vec<IpNetwork>,
    #[serde(default = "default_true")]
    pub preempt: bool,
    #[serde(default)]
    pub preempt_delay: ConfigDuration,
    /// Accept packets to the virtual addresses while master even if not the owner.
    #[serde(default = "default_true")]
    pub accept_mode: bool,
    #[serde(default)]
    pub checksum: ChecksumSetting,
    /// Also accept adverts whose checksum uses the other IPv4 form (for migrations).
    #[serde(default)]
    pub accept_either_checksum: bool,
    /// Send adverts to these addresses instead of the multicast group.
    #[serde(default)]
    pub unicast_peers: Vec<IpAddr>,
    /// With unicast peers: the lowest TTL / hop limit accepted (adverts routed across hops
    /// cannot keep 255). Without unicast peers the RFC's 255 applies.
    #[serde(default)]
    pub unicast_min_ttl: Option<u8>,
    /// Put the virtual addresses on a macvlan with the RFC's virtual MAC
    /// (00:00:5e:00:01:VRID, or 00:00:5e:00:02:VRID for IPv6).
    #[serde(default)]
    pub virtual_mac: bool,
    /// Name of the virtual MAC interface (default `vr4.VRID` / `vr6.VRID`).
    #[serde(default)]
    pub vmac_name: Option<String>,
    /// Gratuitous ARPs / unsolicited NAs sent on becoming master (the first at once).
    #[serde(default = "default_garp_count")]
    pub garp_count: u32,
    #[serde(default = "default_garp_interval")]
    pub garp_interval: ConfigDuration,
    #[serde(default)]
    pub track_interfaces: Vec<TrackInterface>,
    #[serde(default)]
    pub track_checks: Vec<TrackCheck>,
    /// Command run on every state change, with arguments appended: instance name, new state,
    /// effective priority. Commands run in order, one at a time.
    #[serde(default)]
    pub notify: Option<Vec<String>>,
    #[serde(default = "default_notify_timeout")]
    pub notify_timeout: ConfigDuration,
}

#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct TrackInterface {
    pub interface: String,
    /// 0: the instance goes to Fault while the link is down; otherwise added to the priority
    /// while the link is down (usually negative).
    #[serde(default)]
    pub weight: i32,
}

#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct TrackCheck {
    pub check: String,
    /// 0: Fault while the check is down; otherwise added to the priority while it is down.
    #[serde(default)]
    pub weight: i32,
}

#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct SyncGroupConfig {
    pub name: String,
    pub instances: Vec<String>,
}

impl Default for VrrpConfig {
    fn default() -> Self {
        VrrpConfig {
            realtime_priority: default_rt_priority(),
            instance: Vec::new(),
            sync_group: Vec::new(),
        }
    }
}

fn default_rt_priority() -> u8 {
    10
}

fn default_priority() -> u8 {
    100
}
fn default_advert_interval() -> ConfigDuration {
    ConfigDuration::from_secs(1)
}
fn default_true() -> bool {
    true
}
fn default_garp_count() -> u32 {
    3
}
fn default_garp_interval() -> ConfigDuration {
    ConfigDuration::from_millis(20)
}
fn default_notify_timeout() -> ConfigDuration {
    ConfigDuration::from_secs(5)
}

impl VrrpInstanceConfig {
    pub fn is_ipv6(&self) -> bool {
        self.virtual_addresses.first().is_some_and(|a| a.is_ipv6())
    }

    /// The macvlan name: short enough for IFNAMSIZ with any VRID.
    pub fn vmac_ifname(&self) -> String {
        self.vmac_name
            .clone()
            .unwrap_or_else(|| format!("vr{}.{}", if self.is_ipv6() { 6 } else { 4 }, self.vrid))
    }
}

const MAX_WEIGHT: i32 = 254;

pub fn validate(
    vrrp: &VrrpConfig,
    ifaces: &BTreeMap<String, InterfaceConfig>,
    check_names: &[&str],
    issues: &mut Issues,
) {
    let root = KeyPath::root().key("vrrp");
    if vrrp.realtime_priority > 99 {
        issues.push(
            root.key("realtime_priority"),
            "SCHED_FIFO priorities are 1-99 (0 turns real-time scheduling off)",
            None,
        );
    }
    let mut names = BTreeSet::new();
    let mut routers = BTreeMap::new();
    for (i, inst) in vrrp.instance.iter().enumerate() {
        let p = root.key("instance").index(i);
        if inst.name.is_empty() || inst.name.chars().any(char::is_whitespace) {
            issues.push(
                p.key("name"),
                "instance name must be non-empty without whitespace",
                None,
            );
        } else if !names.insert(inst.name.as_str()) {
            issues.push(
                p.key("name"),
                format!("instance name `{}` is used twice", inst.name),
                Some("names identify instances in status and sync groups".into()),
            );
        }
        interfaces::check_ref(ifaces, &inst.interface, p.key("interface"), issues);
        if inst.vrid == 0 {
            issues.push(p.key("vrid"), "VRID must be 1-255", None);
        }
        if inst.priority == 0 {
            issues.push(
                p.key("priority"),
                "priority 0 is reserved for a master that resigns",
                Some("use 1-254, or 255 for the address owner".into()),
            );
        }
        let cs = inst.advert_interval.get().as_millis();
        if cs == 0
            || cs % 10 != 0
            || cs > 40_950
            || inst.advert_interval.get().subsec_nanos() % 1_000_000 != 0
        {
            issues.push(
                p.key("advert_interval"),
                format!(
                    "advertisement interval {} is not a multiple of 10 ms between 10ms and 40.95s",
                    inst.advert_interval
                ),
                Some(
                    "VRRPv3 carries the interval in centiseconds, e.g. \"1s\", \"100ms\", \"10ms\""
                        .into(),
                ),
            );
        }
        if inst.virtual_addresses.is_empty() {
            issues.push(
                p.key("virtual_addresses"),
                "at least one virtual address is needed",
                None,
            );
        }
        if inst.virtual_addresses.len() > 255 {
            issues.push(
                p.key("virtual_addresses"),
                "at most 255 virtual addresses fit in an advertisement",
                None,
            );
        }
        let v6 = inst.is_ipv6();
        for (j, a) in inst.virtual_addresses.iter().enumerate() {
            if a.is_ipv6() != v6 {
                issues.push(
                    p.key("virtual_addresses").index(j),
                    format!("{a} is not of the same family as the first virtual address"),
                    Some("an instance is IPv4 or IPv6; declare a second instance for the other family".into()),
                );
            }
            if a.ip().is_multicast() || a.ip().is_unspecified() || a.ip().is_loopback() {
                issues.push(
                    p.key("virtual_addresses").index(j),
                    format!("{a} cannot be a virtual address"),
                    None,
                );
            }
        }
        for (j, peer) in inst.unicast_peers.iter().enumerate() {
            if peer.is_ipv6() != v6 {
                issues.push(
                    p.key("unicast_peers").index(j),
                    format!("unicast peer {peer} is not of the instance's family"),
                    None,
                );
            }
        }
        if inst.unicast_min_ttl.is_some() && inst.unicast_peers.is_empty() {
            issues.push(
                p.key("unicast_min_ttl"),
                "unicast_min_ttl applies only with unicast_peers",
                Some("multicast adverts must arrive with TTL 255 (RFC 9568 §7.1)".into()),
            );
        }
        if inst.preempt_delay.get().as_secs() > 1000 {
            issues.push(
                p.key("preempt_delay"),
                "preempt delay is at most 1000s",
                None,
            );
        }
        if inst.garp_count > 100 {
            issues.push(p.key("garp_count"), "at most 100 gratuitous ARPs/NAs", None);
        }
        if inst.garp_interval.get().as_secs() > 10 {
            issues.push(
                p.key("garp_interval"),
                "gratuitous ARP spacing is at most 10s",
                None,
            );
        }
        if inst.virtual_mac && v6 {
            issues.push(
                p.key("virtual_mac"),
                "a virtual MAC is supported for IPv4 instances only",
                Some("IPv6 adverts must leave from the interface's link-local address; drop virtual_mac here".into()),
            );
        }
        if inst.virtual_mac && !valid_ifname(&inst.vmac_ifname()) {
            issues.push(
                p.key("vmac_name"),
                format!("`{}` is not a valid interface name", inst.vmac_ifname()),
                Some("1 to 15 characters".into()),
            );
        }
        for (j, t) in inst.track_interfaces.iter().enumerate() {
            let tp = p.key("track_interfaces").index(j);
            interfaces::check_ref(ifaces, &t.interface, tp.key("interface"), issues);
            if t.weight.unsigned_abs() > MAX_WEIGHT.unsigned_abs() {
                issues.push(tp.key("weight"), "weight must be within -254..254", None);
            }
        }
        for (j, t) in inst.track_checks.iter().enumerate() {
            let tp = p.key("track_checks").index(j);
            if !check_names.contains(&t.check.as_str()) {
                let hint = super::suggest::closest(&t.check, check_names.iter().copied())
                    .map(|c| format!("did you mean `{c}`?"))
                    .unwrap_or_else(|| format!("declare it as [checks.{}]", t.check));
                issues.push(
                    tp.key("check"),
                    format!("unknown check `{}`", t.check),
                    Some(hint),
                );
            }
            if t.weight.unsigned_abs() > MAX_WEIGHT.unsigned_abs() {
                issues.push(tp.key("weight"), "weight must be within -254..254", None);
            }
        }
        if let Some(cmd) = &inst.notify {
            if cmd.first().is_none_or(|c| !c.starts_with('/')) {
                issues.push(
                    p.key("notify"),
                    "notify must be a command with an absolute path, e.g. [\"/usr/local/bin/vrrp-notify\"]",
                    None,
                );
            }
        }
        let key = (inst.interface.clone(), inst.vrid, v6);
        if let Some(other) = routers.insert(key, inst.name.clone()) {
            issues.push(
                p.key("vrid"),
                format!(
                    "VRID {} on {} ({}) is already used by instance `{other}`",
                    inst.vrid,
                    inst.interface,
                    if v6 { "IPv6" } else { "IPv4" }
                ),
                Some("a VRID identifies one virtual router per interface and family".into()),
            );
        }
    }
    let mut grouped = BTreeMap::new();
    for (i, g) in vrrp.sync_group.iter().enumerate() {
        let p = root.key("sync_group").index(i);
        if g.instances.len() < 2 {
            issues.push(
                p.key("instances"),
                "a sync group needs at least two instances",
                None,
            );
        }
        for (j, m) in g.instances.iter().enumerate() {
            if !names.contains(m.as_str()) {
                let all: Vec<&str> = names.iter().copied().collect();
                let hint = super::suggest::hint_for(m, &all);
                issues.push(
                    p.key("instances").index(j),
                    format!("unknown instance `{m}`"),
                    hint,
                );
            } else if let Some(other) = grouped.insert(m.clone(), g.name.clone()) {
                issues.push(
                    p.key("instances").index(j),
                    format!("instance `{m}` is already in sync group `{other}`"),
                    None,
                );
            }
        }
    }
}
