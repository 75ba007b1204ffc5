//! `[[bond]]`: NICs the data plane aggregates into one link (issue 15). The data plane owns the
//! members (their AF_XDP sockets, LACP on each); the kernel sees the bond as a tap device of the
//! bond's name, which carries the host's traffic, so the bond and not its members is what every
//! other section names.
//!
//! ```toml
//! [interfaces.bond0]
//! static_addresses = ["198.18.0.2/24"]   # on the bond's tap device
//! [interfaces.eth1]                      # members: declared, nothing else
//! [interfaces.eth2]
//!
//! [[bond]]
//! name = "bond0"
//! members = ["eth1", "eth2"]
//! mode = "802.3ad"                       # active-backup, balance-xor or 802.3ad
//!
//! [dataplane]
//! interfaces = ["bond0", "eth3"]
//! ```

use std::collections::{BTreeMap, BTreeSet};
use std::fmt;
use std::net::Ipv4Addr;
use std::str::FromStr;
use std::time::Duration;

use serde::de::{self, Deserializer};
use serde::{Deserialize, Serialize, Serializer};

use super::interfaces::check_ref;
use super::locate::KeyPath;
use super::types::ConfigDuration;
use super::validate::Issues;
use super::Config;

/// Most members a bond takes (the Linux bonding driver has no such limit, but no NIC has more
/// ports to aggregate and every member costs the workers a socket per queue).
pub const MAX_MEMBERS: usize = 16;
/// The ARP monitor's interval range: faster than 10 ms is a flood, slower than 10 s never
/// notices a dead path before the upper layers do.
pub const MIN_ARP_INTERVAL: Duration = Duration::from_millis(10);
pub const MAX_ARP_INTERVAL: Duration = Duration::from_secs(10);

#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct BondConfig {
    /// The bond's name: the tap device the kernel sees. Declared under `[interfaces]` (its
    /// static addresses live there) and listed in `[dataplane] interfaces`.
    pub name: String,
    /// The NICs aggregated, 1 to 16, each declared under `[interfaces]`. They carry no host
    /// traffic: no addresses, VRRP, sync or tracking on them.
    pub members: Vec<String>,
    #[serde(default)]
    pub mode: BondMode,
    /// How balance-xor and 802.3ad pick a member for a flow; unused by active-backup.
    #[serde(default)]
    pub xmit_hash: XmitHash,
    /// LACP_Timeout (802.3ad only).
    #[serde(default)]
    pub lacp_rate: LacpRate,
    /// LACP_Activity (802.3ad only): active sends LACPDUs periodically, passive only answers.
    #[serde(default = "yes")]
    pub lacp_active: bool,
    /// Actor_System_Priority (802.3ad only); the Linux bonding driver's default.
    #[serde(default = "default_system_priority")]
    pub system_priority: u16,
    /// Actor_Admin_Port_Key of every member (802.3ad only). Keys have local significance.
    #[serde(default = "default_key")]
    pub key: u16,
    /// The member active-backup prefers whenever its link is up (active-backup only).
    #[serde(default)]
    pub primary: Option<String>,
    /// The bond carries traffic only while at least this many members can.
    #[serde(default = "one")]
    pub min_links: u16,
    /// The bond's MAC (also the LACP system identifier); default the first member's MAC, read
    /// at start.
    #[serde(default)]
    pub mac: Option<MacAddr>,
    /// Path check beyond the carrier (active-backup only).
    #[serde(default)]
    pub arp_monitor: Option<ArpMonitor>,
}

/// ARP requests sent through the active member to `target` every `interval`; a member from
/// which the replies stop is failed over as if its carrier were lost.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct ArpMonitor {
    pub target: Ipv4Addr,
    #[serde(default = "default_arp_interval")]
    pub interval: ConfigDuration,
}

#[derive(Debug, Clone, Copy, Default, PartialEq, Eq, Serialize, Deserialize)]
pub enum BondMode {
    /// One member carries everything; another takes over when it fails.
    #[serde(rename = "active-backup")]
    ActiveBackup,
    /// Static aggregation: flows spread by `xmit_hash`, no negotiation.
    #[serde(rename = "balance-xor")]
    BalanceXor,
    /// IEEE 802.1AX (formerly 802.3ad) LACP.
    #[default]
    #[serde(rename = "802.3ad")]
    Lacp,
}

impl BondMode {
    /// The spelling in the file.
    pub fn name(&self) -> &'static str {
        match self {
            BondMode::ActiveBackup => "active-backup",
            BondMode::BalanceXor => "balance-xor",
            BondMode::Lacp => "802.3ad",
        }
    }
}

/// The fields the transmit hash covers, as the Linux bonding driver's `xmit_hash_policy`.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "lowercase")]
pub enum XmitHash {
    /// MAC addresses.
    L2,
    /// MAC and IP addresses.
    L23,
    /// IP addresses and ports (the addresses alone for fragments and portless protocols).
    #[default]
    L34,
}

impl XmitHash {
    pub fn name(&self) -> &'static str {
        match self {
            XmitHash::L2 => "l2",
            XmitHash::L23 => "l23",
            XmitHash::L34 => "l34",
        }
    }
}

/// LACP_Timeout: fast asks the partner for a LACPDU every second (a silent link is dropped
/// after 3 s), slow every 30 s (90 s).
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "lowercase")]
pub enum LacpRate {
    #[default]
    Fast,
    Slow,
}

impl LacpRate {
    pub fn name(&self) -> &'static str {
        match self {
            LacpRate::Fast => "fast",
            LacpRate::Slow => "slow",
        }
    }
}

fn yes() -> bool {
    true
}

/// 65535: the Linux bonding driver's `ad_actor_sys_prio` default (and DPDK's).
fn default_system_priority() -> u16 {
    0xffff
}

fn default_key() -> u16 {
    1
}

fn one() -> u16 {
    1
}

fn default_arp_interval() -> ConfigDuration {
    ConfigDuration::from_millis(100)
}

impl BondConfig {
    /// Whether `other` differs only in what the running bond applies in place; the name,
    /// members, mode and MAC are what the tap device and the workers' sockets were made from.
    pub fn same_at_start(&self, other: &BondConfig) -> bool {
        self.name == other.name
            && self.members == other.members
            && self.mode == other.mode
            && self.mac == other.mac
    }
}

/// Whether two lists of bonds have the same bonds (by name, in any order), each the same at
/// start: otherwise the change waits for the data plane's next start.
pub fn all_same_at_start(old: &[BondConfig], new: &[BondConfig]) -> bool {
    old.len() == new.len()
        && old.iter().all(|o| {
            new.iter()
                .find(|n| n.name == o.name)
                .is_some_and(|n| o.same_at_start(n))
        })
}

impl Config {
    /// The bond named `name`, if any.
    pub fn bond(&self, name: &str) -> Option<&BondConfig> {
        self.bond.iter().find(|b| b.name == name)
    }
}

/// A unicast Ethernet address, written `"02:00:5e:10:00:01"`.
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Hash)]
pub struct MacAddr(pub [u8; 6]);

impl MacAddr {
    /// The group bit (I/G) of the first octet.
    pub fn is_multicast(&self) -> bool {
        self.0[0] & 1 == 1
    }

    pub fn is_zero(&self) -> bool {
        self.0 == [0; 6]
    }
}

impl fmt::Display for MacAddr {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        let m = self.0;
        write!(
            f,
            "{:02x}:{:02x}:{:02x}:{:02x}:{:02x}:{:02x}",
            m[0], m[1], m[2], m[3], m[4], m[5]
        )
    }
}

impl FromStr for MacAddr {
    type Err = String;

    fn from_str(s: &str) -> Result<Self, String> {
        let bad = || {
            format!(
                "invalid MAC address \"{s}\"; write six hex octets separated by ':', \
                 e.g. \"02:00:5e:10:00:01\""
            )
        };
        let mut out = [0u8; 6];
        let mut parts = s.split(':');
        for o in &mut out {
            let p = parts.next().ok_or_else(bad)?;
            if p.len() != 2 || !p.bytes().all(|b| b.is_ascii_hexdigit()) {
                return Err(bad());
            }
            *o = u8::from_str_radix(p, 16).map_err(|_| bad())?;
        }
        if parts.next().is_some() {
            return Err(bad());
        }
        Ok(MacAddr(out))
    }
}

impl<'de> Deserialize<'de> for MacAddr {
    fn deserialize<D: Deserializer<'de>>(d: D) -> Result<Self, D::Error> {
        let s = String::deserialize(d)?;
        s.parse().map_err(de::Error::custom)
    }
}

impl Serialize for MacAddr {
    fn serialize<S: Serializer>(&self, s: S) -> Result<S::Ok, S::Error> {
        s.serialize_str(&self.to_string())
    }
}

/// One line for `applianced check`: the bond, its members and the keys its mode uses.
pub fn describe(b: &BondConfig) -> String {
    let mut s = format!(
        "{} = {} ({}), min_links {}",
        b.name,
        b.members.join(" + "),
        b.mode.name(),
        b.min_links
    );
    match b.mode {
        BondMode::ActiveBackup => {
            if let Some(p) = &b.primary {
                s += &format!(", primary {p}");
            }
            if let Some(a) = &b.arp_monitor {
                s += &format!(", arp monitor {} every {}", a.target, a.interval);
            }
        }
        BondMode::BalanceXor => s += &format!(", hash {}", b.xmit_hash.name()),
        BondMode::Lacp => {
            s += &format!(
                ", hash {}, lacp {} {}, system priority {}, key {}",
                b.xmit_hash.name(),
                if b.lacp_active { "active" } else { "passive" },
                b.lacp_rate.name(),
                b.system_priority,
                b.key
            )
        }
    }
    s += &match b.mac {
        Some(m) => format!(", mac {m}"),
        None => ", mac of the first member".into(),
    };
    s
}

pub fn validate(cfg: &Config, issues: &mut Issues) {
    let root = KeyPath::root().key("bond");
    let bond_names: BTreeSet<&str> = cfg.bond.iter().map(|b| b.name.as_str()).collect();
    // member → the bond that took it first
    let mut owner: BTreeMap<&str, &str> = BTreeMap::new();
    let mut seen_names = BTreeSet::new();
    for (i, b) in cfg.bond.iter().enumerate() {
        let p = root.index(i);
        check_ref(&cfg.interfaces, &b.name, p.key("name"), issues);
        if !seen_names.insert(b.name.as_str()) {
            issues.push(
                p.key("name"),
                format!("bond `{}` is declared twice", b.name),
                Some("each [[bond]] needs a name of its own".into()),
            );
        }
        match &cfg.dataplane {
            None => issues.push(
                p.clone(),
                "a bond needs the data plane: it owns the members",
                Some(format!(
                    "add a [dataplane] section with interfaces = [\"{}\"]",
                    b.name
                )),
            ),
            Some(dp) if !dp.interfaces.contains(&b.name) => issues.push(
                p.key("name"),
                format!("bond `{}` is not among [dataplane] interfaces", b.name),
                Some(format!(
                    "add \"{}\" to [dataplane] interfaces: the data plane runs the bond",
                    b.name
                )),
            ),
            Some(_) => {}
        }
        validate_members(b, &p, &bond_names, &mut owner, cfg, issues);
        validate_mode_keys(b, &p, issues);
        if b.min_links == 0 || usize::from(b.min_links) > b.members.len().max(1) {
            issues.push(
                p.key("min_links"),
                format!(
                    "min_links must be 1 to the number of members ({})",
                    b.members.len()
                ),
                Some("the bond carries traffic while at least min_links members can".into()),
            );
        }
        if let Some(m) = b.mac {
            if m.is_zero() || m.is_multicast() {
                issues.push(
                    p.key("mac"),
                    format!("{m} is not a unicast address"),
                    Some(
                        "the first octet's lowest bit must be 0 and not every octet 0; \
                         a locally administered one looks like \"02:00:5e:10:00:01\""
                            .into(),
                    ),
                );
            }
        }
    }
    check_member_uses(cfg, &owner, issues);
}

fn validate_members<'a>(
    b: &'a BondConfig,
    p: &KeyPath,
    bond_names: &BTreeSet<&str>,
    owner: &mut BTreeMap<&'a str, &'a str>,
    cfg: &Config,
    issues: &mut Issues,
) {
    if b.members.is_empty() || b.members.len() > MAX_MEMBERS {
        issues.push(
            p.key("members"),
            format!(
                "a bond has 1 to {MAX_MEMBERS} members, this one {}",
                b.members.len()
            ),
            Some("members = [\"eth1\", \"eth2\"]: NICs declared under [interfaces]".into()),
        );
    }
    for (j, m) in b.members.iter().enumerate() {
        let mp = p.key("members").index(j);
        if bond_names.contains(m.as_str()) {
            issues.push(
                mp,
                format!("`{m}` is a bond; bonds do not nest"),
                Some("list the NICs themselves".into()),
            );
            continue;
        }
        check_ref(&cfg.interfaces, m, mp.clone(), issues);
        if b.members[..j].contains(m) {
            issues.push(mp, format!("`{m}` is listed twice"), None);
            continue;
        }
        if let Some(other) = owner.get(m.as_str()) {
            issues.push(
                mp,
                format!("`{m}` is already a member of bond `{other}`"),
                Some("a NIC belongs to one bond only".into()),
            );
            continue;
        }
        owner.insert(m, &b.name);
    }
}

fn validate_mode_keys(b: &BondConfig, p: &KeyPath, issues: &mut Issues) {
    if let Some(primary) = &b.primary {
        if b.mode != BondMode::ActiveBackup {
            issues.push(
                p.key("primary"),
                format!(
                    "`primary` applies to active-backup; mode {} uses every member at once",
                    b.mode.name()
                ),
                Some("remove `primary`, or set mode = \"active-backup\"".into()),
            );
        } else if !b.members.contains(primary) {
            let names: Vec<&str> = b.members.iter().map(String::as_str).collect();
            issues.push(
                p.key("primary"),
                format!("`{primary}` is not a member of bond `{}`", b.name),
                super::suggest::hint_for(primary, &names),
            );
        }
    }
    if let Some(arp) = &b.arp_monitor {
        if b.mode != BondMode::ActiveBackup {
            issues.push(
                p.key("arp_monitor"),
                format!(
                    "the ARP monitor applies to active-backup; mode {} does not use it",
                    b.mode.name()
                ),
                Some(if b.mode == BondMode::Lacp {
                    "LACP already checks every link: its partner stops answering on a dead one"
                        .into()
                } else {
                    "remove `arp_monitor`, or set mode = \"active-backup\"".into()
                }),
            );
        }
        let t = arp.target;
        if t.is_unspecified() || t.is_multicast() || t.is_broadcast() || t.is_loopback() {
            issues.push(
                p.key("arp_monitor").key("target"),
                format!("{t} is not the unicast address of a neighbour"),
                Some("the gateway's address on the bond's subnet is the usual target".into()),
            );
        }
        let iv = arp.interval.get();
        if !(MIN_ARP_INTERVAL..=MAX_ARP_INTERVAL).contains(&iv) {
            issues.push(
                p.key("arp_monitor").key("interval"),
                format!("{} is outside 10ms to 10s", arp.interval),
                Some("the default is 100ms".into()),
            );
        }
    }
}

/// Members carry no host traffic: whatever else names one of them is pointed at the bond.
fn check_member_uses(cfg: &Config, owner: &BTreeMap<&str, &str>, issues: &mut Issues) {
    let mut used = |name: &str, path: KeyPath, what: &str, instead: &str| {
        if let Some(bond) = owner.get(name) {
            issues.push(
                path,
                format!("`{name}` is a member of bond `{bond}`: {what}"),
                Some(format!("{instead} `{bond}` instead")),
            );
        }
    };
    if let Some(dp) = &cfg.dataplane {
        for (k, name) in dp.interfaces.iter().enumerate() {
            used(
                name,
                KeyPath::root().key("dataplane").key("interfaces").index(k),
                "the data plane reaches it through the bond",
                "list",
            );
        }
    }
    for (n, inst) in cfg.vrrp.instance.iter().enumerate() {
        let ip = KeyPath::root().key("vrrp").key("instance").index(n);
        used(
            &inst.interface,
            ip.key("interface"),
            "members carry no host traffic",
            "run the instance on",
        );
        for (m, t) in inst.track_interfaces.iter().enumerate() {
            used(
                &t.interface,
                ip.key("track_interfaces").index(m).key("interface"),
                "members carry no host traffic",
                "track",
            );
        }
    }
    if let Some(s) = &cfg.sync {
        used(
            &s.interface,
            KeyPath::root().key("sync").key("interface"),
            "members carry no host traffic",
            "use",
        );
    }
    for (name, i) in &cfg.interfaces {
        if !i.static_addresses.is_empty() {
            used(
                name,
                KeyPath::root()
                    .key("interfaces")
                    .key(name.as_str())
                    .key("static_addresses"),
                "members carry no addresses",
                "put them on",
            );
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    const GOOD: &str = r#"
[interfaces.bond0]
static_addresses = ["198.18.0.2/24"]
[interfaces.eth1]
[interfaces.eth2]
[interfaces.eth3]
[[bond]]
name = "bond0"
members = ["eth1", "eth2"]
mode = "802.3ad"
[dataplane]
interfaces = ["bond0", "eth3"]
"#;

    fn parse(text: &str) -> Config {
        super::super::parse_str(text, std::path::Path::new("t.toml"))
            .unwrap_or_else(|e| panic!("{e}"))
    }

    #[test]
    fn the_documented_example_parses_with_its_defaults() {
        let cfg = parse(GOOD);
        let b = cfg.bond("bond0").expect("bond0");
        assert!(cfg.bond("eth1").is_none());
        assert_eq!(b.members, ["eth1", "eth2"]);
        assert_eq!(
            (b.mode, b.xmit_hash, b.lacp_rate, b.lacp_active),
            (BondMode::Lacp, XmitHash::L34, LacpRate::Fast, true)
        );
        assert_eq!((b.system_priority, b.key, b.min_links), (65535, 1, 1));
        assert_eq!(
            (b.primary.as_deref(), b.mac, &b.arp_monitor),
            (None, None, &None)
        );
        // What the file writes is what it reads back (the reload's diff depends on it).
        let json = serde_json::to_value(b).unwrap();
        assert_eq!(json["mode"], "802.3ad");
        assert_eq!(json["xmit_hash"], "l34");
        let back: BondConfig = serde_json::from_value(json).unwrap();
        assert_eq!(&back, b);
        let summary = super::super::summary::summary(&cfg);
        assert!(
            summary.contains("bond        bond0 = eth1 + eth2 (802.3ad), min_links 1, hash l34, lacp active fast, system priority 65535, key 1, mac of the first member"),
            "{summary}"
        );
    }

    #[test]
    fn active_backup_with_every_key() {
        let text = GOOD.replace(
            "mode = \"802.3ad\"",
            "mode = \"active-backup\"\nprimary = \"eth2\"\nmin_links = 2\n\
             mac = \"02:00:5e:10:00:01\"\nxmit_hash = \"l2\"\nlacp_rate = \"slow\"\n\
             lacp_active = false\nsystem_priority = 100\nkey = 0\n\
             arp_monitor = { target = \"198.18.0.1\", interval = \"250ms\" }",
        );
        let cfg = parse(&text);
        let b = &cfg.bond[0];
        assert_eq!(b.mode, BondMode::ActiveBackup);
        assert_eq!(b.primary.as_deref(), Some("eth2"));
        assert_eq!(b.mac, Some(MacAddr([2, 0, 0x5e, 0x10, 0, 1])));
        assert_eq!(
            b.arp_monitor,
            Some(ArpMonitor {
                target: Ipv4Addr::new(198, 18, 0, 1),
                interval: ConfigDuration::from_millis(250)
            })
        );
        assert_eq!((b.system_priority, b.key, b.lacp_active), (100, 0, false));
        let line = describe(b);
        assert!(
            line.contains("primary eth2, arp monitor 198.18.0.1 every 250ms"),
            "{line}"
        );
        assert!(line.ends_with("mac 02:00:5e:10:00:01"), "{line}");
        // An ARP target with the default interval.
        let text = GOOD.replace(
            "mode = \"802.3ad\"",
            "mode = \"active-backup\"\narp_monitor = { target = \"198.18.0.1\" }",
        );
        let cfg = parse(&text);
        assert_eq!(
            cfg.bond[0].arp_monitor.as_ref().unwrap().interval,
            ConfigDuration::from_millis(100)
        );
    }

    #[test]
    fn mac_addresses_parse_and_print() {
        let m: MacAddr = "02:00:5E:10:00:01".parse().unwrap();
        assert_eq!(m.0, [2, 0, 0x5e, 0x10, 0, 1]);
        assert_eq!(m.to_string(), "02:00:5e:10:00:01");
        assert!(!m.is_multicast() && !m.is_zero());
        assert!("01:00:5e:00:00:01"
            .parse::<MacAddr>()
            .unwrap()
            .is_multicast());
        for bad in [
            "",
            "02:00:5e:10:00",
            "02:00:5e:10:00:01:02",
            "02-00-5e-10-00-01",
            "2:0:5e:10:0:1",
            "02:00:5e:10:00:0g",
            "02:00:5e:10:00:+1",
        ] {
            assert!(bad.parse::<MacAddr>().is_err(), "{bad}");
        }
    }

    fn bond(name: &str, members: &[&str]) -> BondConfig {
        BondConfig {
            name: name.into(),
            members: members.iter().map(|m| m.to_string()).collect(),
            mode: BondMode::default(),
            xmit_hash: XmitHash::default(),
            lacp_rate: LacpRate::default(),
            lacp_active: true,
            system_priority: default_system_priority(),
            key: default_key(),
            primary: None,
            min_links: 1,
            mac: None,
            arp_monitor: None,
        }
    }

    #[test]
    fn name_members_mode_and_mac_are_fixed_at_start() {
        let a = bond("bond0", &["eth1", "eth2"]);
        let mut b = a.clone();
        b.lacp_rate = LacpRate::Slow;
        b.min_links = 2;
        b.key = 7;
        assert!(a.same_at_start(&b));
        for change in [
            |b: &mut BondConfig| b.members.push("eth3".into()),
            |b: &mut BondConfig| b.mode = BondMode::BalanceXor,
            |b: &mut BondConfig| b.mac = Some(MacAddr([2, 0, 0, 0, 0, 1])),
            |b: &mut BondConfig| b.name = "bond1".into(),
        ] {
            let mut c = a.clone();
            change(&mut c);
            assert!(!a.same_at_start(&c), "{c:?}");
        }
        let other = bond("bond1", &["eth3"]);
        assert!(all_same_at_start(
            &[a.clone(), other.clone()],
            &[other.clone(), b]
        ));
        let both = [a.clone(), other.clone()];
        assert!(!all_same_at_start(&both, std::slice::from_ref(&a)));
        assert!(!all_same_at_start(std::slice::from_ref(&a), &[other]));
    }
}
