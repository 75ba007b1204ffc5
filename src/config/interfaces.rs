//! `[interfaces.NAME]`: the interfaces the appliance uses. Every other section names interfaces
//! from this table, so a typo in an instance is caught by `applianced check`, not at 3 a.m.

use std::collections::BTreeMap;

use ipnetwork::IpNetwork;
use serde::{Deserialize, Serialize};

use super::locate::KeyPath;
use super::validate::Issues;

#[derive(Debug, Clone, Default, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct InterfaceConfig {
    /// Free text shown in status.
    #[serde(default)]
    pub description: Option<String>,
    /// Addresses the appliance adds when it starts and removes when it stops (keepalived's
    /// `static_ipaddress`). Addresses configured by the OS are not listed here.
    #[serde(default)]
    pub static_addresses: Vec<IpNetwork>,
}

/// Linux IFNAMSIZ is 16 including the NUL.
const IFNAME_MAX: usize = 15;

pub fn valid_ifname(name: &str) -> bool {
    !name.is_empty()
        && name.len() <= IFNAME_MAX
        && name != "."
        && name != ".."
        && !name
            .chars()
            .any(|c| c == '/' || c == ':' || c.is_whitespace() || c.is_control())
}

pub fn validate(ifaces: &BTreeMap<String, InterfaceConfig>, issues: &mut Issues) {
    let root = KeyPath::root().key("interfaces");
    let mut seen: BTreeMap<std::net::IpAddr, &str> = BTreeMap::new();
    for (name, cfg) in ifaces {
        if !valid_ifname(name) {
            issues.push(
                root.key(name),
                format!("`{name}` is not a valid Linux interface name"),
                Some(format!(
                    "1 to {IFNAME_MAX} characters, no '/', ':' or whitespace"
                )),
            );
        }
        for (i, net) in cfg.static_addresses.iter().enumerate() {
            let path = root.key(name).key("static_addresses").index(i);
            if let Some(other) = seen.insert(net.ip(), name) {
                issues.push(
                    path.clone(),
                    format!(
                        "address {} is already listed on interface `{other}`",
                        net.ip()
                    ),
                    Some("an address may be managed on one interface only".into()),
                );
            }
            if net.ip().is_unspecified() || net.ip().is_multicast() {
                issues.push(
                    path.clone(),
                    format!("{} cannot be assigned to an interface", net.ip()),
                    None,
                );
            }
        }
    }
}

/// A reference from another section to an interface: an error naming the nearest declared one.
pub fn check_ref(
    ifaces: &BTreeMap<String, InterfaceConfig>,
    name: &str,
    path: KeyPath,
    issues: &mut Issues,
) {
    if !ifaces.contains_key(name) {
        let names: Vec<&str> = ifaces.keys().map(String::as_str).collect();
        let hint = super::suggest::closest(name, names.iter().copied())
            .map(|c| format!("did you mean `{c}`?"))
            .unwrap_or_else(|| format!("declare it first as [interfaces.{name}]"));
        issues.push(path, format!("unknown interface `{name}`"), Some(hint));
    }
}
