//! `[bgp]`, `[[bgp.neighbor]]` and `[[bgp.announce]]`: the BGP speaker that announces VIPs to
//! upstream routers while their health checks (and optionally a VRRP instance) say so.

use std::collections::BTreeSet;
use std::fmt;
use std::net::{IpAddr, Ipv4Addr};

use ipnetwork::IpNetwork;
use serde::{Deserialize, Serialize, Serializer};

use super::locate::KeyPath;
use super::types::ConfigDuration;
use super::validate::Issues;

#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct BgpConfig {
    pub local_as: u32,
    /// BGP Identifier; must be non-zero (RFC 6286).
    pub router_id: Ipv4Addr,
    /// Hold time proposed in the OPEN: whole seconds, 0 or 3 to 65535.
    #[serde(default = "default_hold")]
    pub hold_time: ConfigDuration,
    /// Delay before redialling a neighbour that did not answer.
    #[serde(default = "default_connect_retry")]
    pub connect_retry: ConfigDuration,
    /// RFC 8326: how long routes stay announced with GRACEFUL_SHUTDOWN before they are
    /// withdrawn when the daemon stops.
    #[serde(default = "default_gshut_wait")]
    pub graceful_shutdown_wait: ConfigDuration,
    /// SCHED_FIFO priority of the BFD thread (1-99), 0 for normal scheduling: a BFD
    /// Detection Time of 150 ms must not wait for a busy runtime.
    #[serde(default = "default_bfd_rt_priority")]
    pub bfd_realtime_priority: u8,
    #[serde(default)]
    pub neighbor: Vec<NeighborConfig>,
    #[serde(default)]
    pub announce: Vec<AnnounceConfig>,
}

#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "kebab-case")]
pub enum FamilyName {
    Ipv4Unicast,
    Ipv6Unicast,
}

#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct NeighborConfig {
    pub address: IpAddr,
    pub remote_as: u32,
    /// Source address of the session (and the listen address for passive sessions).
    #[serde(default)]
    pub local_address: Option<IpAddr>,
    /// Only accept the neighbour's connection; never dial.
    #[serde(default)]
    pub passive: bool,
    /// eBGP multihop: the TTL of our packets (default 1 for eBGP, 64 for iBGP).
    #[serde(default)]
    pub multihop: Option<u8>,
    /// RFC 5082 GTSM: send with TTL 255, accept only TTL >= 254. Excludes `multihop`.
    #[serde(default)]
    pub gtsm: bool,
    /// RFC 2385 TCP MD5 signature key; never printed.
    #[serde(default)]
    pub md5_password: Option<Secret>,
    /// Default: the family of `address`.
    #[serde(default)]
    pub families: Vec<FamilyName>,
    /// A single-hop BFD session (RFC 5880, RFC 5881) with the neighbour: when it goes down
    /// the BGP session is torn down at once (RFC 5882).
    #[serde(default)]
    pub bfd: Option<BfdConfig>,
}

/// `bfd = { interval = "50ms", multiplier = 3 }`.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct BfdConfig {
    /// Both the Desired Min TX Interval and the Required Min RX Interval.
    #[serde(default = "default_bfd_interval")]
    pub interval: ConfigDuration,
    /// Detect Mult: a failure is declared after this many intervals without a packet.
    #[serde(default = "default_bfd_multiplier")]
    pub multiplier: u8,
    /// RFC 5880 §6.7 authentication (none by default).
    #[serde(default)]
    pub auth: Option<BfdAuthConfig>,
}

/// `auth = { type = "keyed-sha1", key_id = 1, key = "..." }`.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct BfdAuthConfig {
    #[serde(rename = "type")]
    pub auth_type: BfdAuthType,
    #[serde(default = "default_key_id")]
    pub key_id: u8,
    /// The password or key; never printed.
    pub key: Secret,
}

#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "kebab-case")]
pub enum BfdAuthType {
    Simple,
    KeyedMd5,
    MeticulousKeyedMd5,
    KeyedSha1,
    MeticulousKeyedSha1,
}

impl BfdAuthType {
    pub fn core(self) -> ::bfd::AuthType {
        match self {
            BfdAuthType::Simple => ::bfd::AuthType::SimplePassword,
            BfdAuthType::KeyedMd5 => ::bfd::AuthType::KeyedMd5,
            BfdAuthType::MeticulousKeyedMd5 => ::bfd::AuthType::MeticulousKeyedMd5,
            BfdAuthType::KeyedSha1 => ::bfd::AuthType::KeyedSha1,
            BfdAuthType::MeticulousKeyedSha1 => ::bfd::AuthType::MeticulousKeyedSha1,
        }
    }
}

fn default_bfd_interval() -> ConfigDuration {
    ConfigDuration::from_millis(300)
}
fn default_bfd_multiplier() -> u8 {
    3
}
fn default_key_id() -> u8 {
    1
}
fn default_bfd_rt_priority() -> u8 {
    10
}
/// The range of `bfd.interval`: below 10 ms a user-space daemon cannot promise its timers,
/// above a minute BFD is slower than the BGP hold timer it is meant to beat.
const BFD_MIN_INTERVAL: std::time::Duration = std::time::Duration::from_millis(10);
const BFD_MAX_INTERVAL: std::time::Duration = std::time::Duration::from_secs(60);

impl NeighborConfig {
    pub fn families(&self) -> Vec<FamilyName> {
        if !self.families.is_empty() {
            return self.families.clone();
        }
        match self.address {
            IpAddr::V4(_) => vec![FamilyName::Ipv4Unicast],
            IpAddr::V6(_) => vec![FamilyName::Ipv6Unicast],
        }
    }
}

/// A password that Debug, Display and Serialize never reveal (status, logs, `check` output).
#[derive(Clone, PartialEq, Eq, Deserialize)]
#[serde(transparent)]
pub struct Secret(String);

impl Secret {
    pub fn new(s: impl Into<String>) -> Self {
        Secret(s.into())
    }

    /// The key itself: only for the setsockopt that installs it.
    pub fn expose(&self) -> &[u8] {
        self.0.as_bytes()
    }
}

impl fmt::Debug for Secret {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str("<redacted>")
    }
}

impl Serialize for Secret {
    fn serialize<S: Serializer>(&self, s: S) -> Result<S::Ok, S::Error> {
        s.serialize_str("<redacted>")
    }
}

#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct AnnounceConfig {
    pub prefix: IpNetwork,
    /// Overrides the session's local address as NEXT_HOP.
    #[serde(default)]
    pub next_hop: Option<IpAddr>,
    /// Announced only while every one of these checks is up.
    #[serde(default)]
    pub checks: Vec<String>,
    /// Announced only while this VRRP instance is master.
    #[serde(default)]
    pub vrrp_instance: Option<String>,
    /// What a failed gate does: withdraw (default), or keep announcing with a worse MED or a
    /// prepended AS path so the route stays as a backup.
    #[serde(default)]
    pub on_failure: OnFailure,
    /// Standard communities as "ASN:VALUE".
    #[serde(default)]
    pub communities: Vec<String>,
    /// Large communities as "GLOBAL:DATA1:DATA2".
    #[serde(default)]
    pub large_communities: Vec<String>,
    #[serde(default)]
    pub med: Option<u32>,
    #[serde(default)]
    pub local_pref: Option<u32>,
}

#[derive(Debug, Clone, Copy, PartialEq, Eq, Default, Serialize, Deserialize)]
#[serde(untagged)]
pub enum OnFailure {
    #[default]
    #[serde(with = "withdraw_str")]
    Withdraw,
    Med {
        med: u32,
    },
    Prepend {
        prepend: u8,
    },
}

/// `on_failure = "withdraw"` as a plain string inside the untagged enum.
mod withdraw_str {
    use serde::{de, Deserialize, Deserializer, Serializer};

    pub fn serialize<S: Serializer>(s: S) -> Result<S::Ok, S::Error> {
        s.serialize_str("withdraw")
    }

    pub fn deserialize<'de, D: Deserializer<'de>>(d: D) -> Result<(), D::Error> {
        let s = String::deserialize(d)?;
        if s == "withdraw" {
            Ok(())
        } else {
            Err(de::Error::custom("expected \"withdraw\""))
        }
    }
}

fn default_hold() -> ConfigDuration {
    ConfigDuration::from_secs(9)
}
/// As FRR's `timers connect` (1-65535 s).
const MAX_CONNECT_RETRY: std::time::Duration = std::time::Duration::from_secs(65535);

fn default_connect_retry() -> ConfigDuration {
    ConfigDuration::from_secs(5)
}
fn default_gshut_wait() -> ConfigDuration {
    ConfigDuration::from_secs(5)
}

/// "65000:100" → the 32-bit community value.
pub fn parse_community(s: &str) -> Option<u32> {
    let (a, b) = s.split_once(':')?;
    Some((a.trim().parse::<u16>().ok()? as u32) << 16 | b.trim().parse::<u16>().ok()? as u32)
}

/// "65000:1:2" → (global, data1, data2).
pub fn parse_large_community(s: &str) -> Option<(u32, u32, u32)> {
    let mut it = s.split(':').map(|p| p.trim().parse::<u32>());
    let r = (it.next()?.ok()?, it.next()?.ok()?, it.next()?.ok()?);
    it.next().is_none().then_some(r)
}

/// The `applianced check` lines: sessions and announcements, never the MD5 key.
pub fn summary(s: &mut String, b: &BgpConfig) {
    use std::fmt::Write;
    let _ = writeln!(
        s,
        "bgp         AS {} router id {}, hold {}, {} neighbor(s), {} prefix(es)",
        b.local_as,
        b.router_id,
        b.hold_time,
        b.neighbor.len(),
        b.announce.len()
    );
    for n in &b.neighbor {
        let _ = writeln!(
            s,
            "  neighbor {} AS {}{}{}{}{}",
            n.address,
            n.remote_as,
            if n.passive { " passive" } else { "" },
            if n.gtsm { " gtsm" } else { "" },
            if n.md5_password.is_some() { " md5" } else { "" },
            n.bfd
                .as_ref()
                .map(|b| format!(" bfd {} x{}", b.interval, b.multiplier))
                .unwrap_or_default()
        );
    }
    for a in &b.announce {
        let mut gates: Vec<String> = a.checks.iter().map(|c| format!("check {c}")).collect();
        if let Some(v) = &a.vrrp_instance {
            gates.push(format!("vrrp {v}"));
        }
        let _ = writeln!(
            s,
            "  announce {} {}",
            a.prefix,
            if gates.is_empty() {
                "always".to_string()
            } else {
                format!("while {}", gates.join(" and "))
            }
        );
    }
}

pub fn validate(
    bgp: Option<&BgpConfig>,
    check_names: &[&str],
    vrrp_names: &[&str],
    issues: &mut Issues,
) {
    let Some(bgp) = bgp else { return };
    let root = KeyPath::root().key("bgp");
    if bgp.local_as == 0 {
        issues.push(
            root.key("local_as"),
            "AS 0 is reserved",
            Some("use your AS, or a private one from 64512-65534 or 4200000000-4294967294".into()),
        );
    }
    if bgp.router_id.is_unspecified() {
        issues.push(
            root.key("router_id"),
            "router id must not be 0.0.0.0",
            Some("use an IPv4 address of this node, e.g. its loopback".into()),
        );
    }
    let hold = bgp.hold_time.get();
    if hold.subsec_nanos() != 0
        || (hold.as_secs() != 0 && hold.as_secs() < 3)
        || hold.as_secs() > 65535
    {
        issues.push(
            root.key("hold_time"),
            "hold time must be whole seconds: 0 or 3s to 65535s",
            Some("e.g. \"9s\"; 0s turns keepalives off".into()),
        );
    }
    if bgp.connect_retry.get().is_zero() {
        issues.push(
            root.key("connect_retry"),
            "must be greater than zero",
            Some("e.g. \"5s\"".into()),
        );
    } else if bgp.connect_retry.get() > MAX_CONNECT_RETRY {
        // It also bounds each dial (the TCP handshake's timeout): a day-long value is a typo.
        issues.push(
            root.key("connect_retry"),
            "connect_retry is at most 65535s",
            Some("e.g. \"5s\"; the router's own connect timer is typically 5s to 120s".into()),
        );
    }
    let mut seen = BTreeSet::new();
    for (i, n) in bgp.neighbor.iter().enumerate() {
        let p = root.key("neighbor").index(i);
        if !seen.insert(n.address) {
            issues.push(
                p.key("address"),
                format!("neighbor {} is declared twice", n.address),
                None,
            );
        }
        if n.remote_as == 0 {
            issues.push(p.key("remote_as"), "AS 0 is reserved", None);
        }
        if let Some(l) = n.local_address {
            if l.is_ipv4() != n.address.is_ipv4() {
                issues.push(
                    p.key("local_address"),
                    "local address and neighbor address are of different families",
                    None,
                );
            }
        }
        if n.gtsm && n.multihop.is_some() {
            issues.push(
                p.key("gtsm"),
                "gtsm and multihop exclude each other",
                Some("GTSM sends TTL 255 and accepts only directly connected peers".into()),
            );
        }
        if n.multihop == Some(0) {
            issues.push(p.key("multihop"), "TTL must be 1-255", None);
        }
        if let Some(k) = &n.md5_password {
            // TCP_MD5SIG_MAXKEYLEN.
            if k.0.is_empty() || k.0.len() > 80 {
                issues.push(p.key("md5_password"), "MD5 key must be 1-80 bytes", None);
            }
        }
        if let Some(b) = &n.bfd {
            validate_bfd(n, b, &p.key("bfd"), issues);
        }
    }
    if bgp.bfd_realtime_priority > 99 {
        issues.push(
            root.key("bfd_realtime_priority"),
            "SCHED_FIFO priorities are 1-99 (0 turns real-time scheduling off)",
            None,
        );
    }
    let mut prefixes = BTreeSet::new();
    for (i, a) in bgp.announce.iter().enumerate() {
        let p = root.key("announce").index(i);
        if a.prefix.network() != a.prefix.ip() {
            issues.push(
                p.key("prefix"),
                format!("{} has host bits set", a.prefix),
                Some(format!(
                    "write {}/{}",
                    a.prefix.network(),
                    a.prefix.prefix()
                )),
            );
        }
        if !prefixes.insert(a.prefix) {
            issues.push(
                p.key("prefix"),
                format!("{} is announced twice", a.prefix),
                Some("merge the two [[bgp.announce]] tables".into()),
            );
        }
        if let Some(nh) = a.next_hop {
            if nh.is_ipv4() != a.prefix.is_ipv4() {
                issues.push(
                    p.key("next_hop"),
                    "next hop and prefix are of different families",
                    None,
                );
            }
        }
        for (j, c) in a.checks.iter().enumerate() {
            if !check_names.contains(&c.as_str()) {
                let hint = super::suggest::closest(c, check_names.iter().copied())
                    .map(|s| format!("did you mean `{s}`?"))
                    .unwrap_or_else(|| format!("declare it first as [checks.{c}]"));
                issues.push(
                    p.key("checks").index(j),
                    format!("unknown check `{c}`"),
                    Some(hint),
                );
            }
        }
        if let Some(v) = &a.vrrp_instance {
            if !vrrp_names.contains(&v.as_str()) {
                let hint = super::suggest::closest(v, vrrp_names.iter().copied())
                    .map(|s| format!("did you mean `{s}`?"))
                    .unwrap_or_else(|| "declare it as a [[vrrp.instance]]".into());
                issues.push(
                    p.key("vrrp_instance"),
                    format!("unknown VRRP instance `{v}`"),
                    Some(hint),
                );
            }
        }
        for (j, c) in a.communities.iter().enumerate() {
            if parse_community(c).is_none() {
                issues.push(
                    p.key("communities").index(j),
                    format!("`{c}` is not a community"),
                    Some("write \"ASN:VALUE\" with two 16-bit numbers, e.g. \"65000:100\"".into()),
                );
            }
        }
        for (j, c) in a.large_communities.iter().enumerate() {
            if parse_large_community(c).is_none() {
                issues.push(
                    p.key("large_communities").index(j),
                    format!("`{c}` is not a large community"),
                    Some("write three 32-bit numbers, e.g. \"65000:1:2\"".into()),
                );
            }
        }
    }
    if !bgp.announce.is_empty() && bgp.neighbor.is_empty() {
        issues.push(
            root.key("announce"),
            "prefixes are announced but no neighbor is configured",
            Some("add a [[bgp.neighbor]]".into()),
        );
    }
}

fn validate_bfd(n: &NeighborConfig, b: &BfdConfig, p: &KeyPath, issues: &mut Issues) {
    let iv = b.interval.get();
    if !(BFD_MIN_INTERVAL..=BFD_MAX_INTERVAL).contains(&iv) {
        issues.push(
            p.key("interval"),
            format!("BFD interval {} is outside 10ms to 60s", b.interval),
            Some(
                "50ms x 3 detects a failure in 150 ms; 300ms x 3 (FRR's default) in 900 ms".into(),
            ),
        );
    }
    if b.multiplier == 0 {
        issues.push(
            p.key("multiplier"),
            "the BFD multiplier must be at least 1",
            Some("3 is usual: a failure is declared after 3 intervals without a packet".into()),
        );
    }
    if n.multihop.is_some() {
        issues.push(
            p.clone(),
            "BFD here is single hop (RFC 5881) and this neighbor is multihop",
            Some("peer over a directly connected address, or remove `bfd`".into()),
        );
    }
    if let Some(a) = &b.auth {
        let max = a.auth_type.core().max_key_len();
        if a.key.0.is_empty() || a.key.0.len() > max {
            issues.push(
                p.key("auth").key("key"),
                format!(
                    "a {} key must be 1 to {max} bytes",
                    a.auth_type.core().as_str()
                ),
                Some("RFC 5880 §4.2-4.4 fix the field sizes: 16 bytes for passwords and MD5, 20 for SHA1".into()),
            );
        }
    }
}

#[cfg(test)]
mod tests {
    use std::path::Path;

    const GOOD: &str = r#"
[checks.web]
type = "tcp"
target = "198.18.0.10:80"

[bgp]
local_as = 65001
router_id = "198.18.0.1"

[[bgp.neighbor]]
address = "198.18.0.254"
remote_as = 65000
md5_password = "s3cret-key"

[[bgp.announce]]
prefix = "198.18.255.1/32"
checks = ["web"]
on_failure = { med = 1000 }
communities = ["65000:100"]
"#;

    #[test]
    fn parses_defaults_and_never_shows_the_key() {
        let cfg =
            super::super::parse_str(GOOD, Path::new("t.toml")).unwrap_or_else(|e| panic!("{e}"));
        let bgp = cfg.bgp.as_ref().expect("bgp section");
        assert_eq!(bgp.hold_time.get().as_secs(), 9);
        assert_eq!(bgp.connect_retry.get().as_secs(), 5);
        assert_eq!(
            bgp.announce[0].on_failure,
            super::OnFailure::Med { med: 1000 }
        );
        assert_eq!(
            bgp.neighbor[0].families(),
            vec![super::FamilyName::Ipv4Unicast]
        );
        let dbg = format!("{cfg:?}");
        let json = serde_json::to_string(&cfg).unwrap();
        assert!(!dbg.contains("s3cret") && !json.contains("s3cret"));
        assert!(json.contains("<redacted>"));
        let summary = super::super::summary::summary(&cfg);
        assert!(
            summary.contains("neighbor 198.18.0.254 AS 65000 md5"),
            "{summary}"
        );
        assert!(!summary.contains("s3cret"));
    }

    #[test]
    fn on_failure_forms() {
        for (text, want) in [
            ("\"withdraw\"", super::OnFailure::Withdraw),
            ("{ prepend = 3 }", super::OnFailure::Prepend { prepend: 3 }),
        ] {
            let t = GOOD.replace("{ med = 1000 }", text);
            let cfg =
                super::super::parse_str(&t, Path::new("t.toml")).unwrap_or_else(|e| panic!("{e}"));
            assert_eq!(cfg.bgp.unwrap().announce[0].on_failure, want);
        }
        let t = GOOD.replace("{ med = 1000 }", "\"drop\"");
        assert!(super::super::parse_str(&t, Path::new("t.toml")).is_err());
    }

    #[test]
    fn communities_parse() {
        assert_eq!(super::parse_community("65535:0"), Some(0xFFFF_0000));
        assert_eq!(super::parse_community("65536:0"), None);
        assert_eq!(super::parse_large_community("1:2:3"), Some((1, 2, 3)));
        assert_eq!(super::parse_large_community("1:2"), None);
    }
}
