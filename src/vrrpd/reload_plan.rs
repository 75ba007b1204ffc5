//! What a reload does to each VRRP instance: everything RFC 9568 lets a running Virtual Router
//! change is applied in place (`vrrp::Instance::reconfigure`); only what makes it another
//! Virtual Router on the wire or in the kernel restarts it. The subsystem applies exactly this
//! plan (`restart_reasons` decides both), so the reply to a reload says what happened.

use std::fmt::Display;

use crate::config::vrrp::{VrrpConfig, VrrpInstanceConfig};

pub use crate::control::protocol::ReloadAction;

/// Why `new` cannot be applied to a running `old` in place (empty: it can). A different
/// VRID or family is another Virtual Router; another interface, virtual-MAC device or
/// unicast/multicast mode needs other sockets and another device for the addresses.
pub fn restart_reasons(old: &VrrpInstanceConfig, new: &VrrpInstanceConfig) -> Vec<String> {
    let mut why = Vec::new();
    if old.vrid != new.vrid {
        why.push(format!("vrid {} -> {}", old.vrid, new.vrid));
    }
    if old.interface != new.interface {
        why.push(format!("interface {} -> {}", old.interface, new.interface));
    }
    if old.is_ipv6() != new.is_ipv6() {
        why.push("address family".to_string());
    }
    if old.unicast_peers.is_empty() != new.unicast_peers.is_empty() {
        why.push(format!(
            "mode {} -> {}",
            mode(old.unicast_peers.is_empty()),
            mode(new.unicast_peers.is_empty())
        ));
    }
    if old.virtual_mac != new.virtual_mac {
        why.push(format!(
            "virtual_mac {} -> {}",
            old.virtual_mac, new.virtual_mac
        ));
    } else if new.virtual_mac && old.vmac_ifname() != new.vmac_ifname() {
        why.push(format!(
            "vmac_name {} -> {}",
            old.vmac_ifname(),
            new.vmac_ifname()
        ));
    }
    why
}

fn mode(multicast: bool) -> &'static str {
    if multicast {
        "multicast"
    } else {
        "unicast"
    }
}

/// The sync group `name` belongs to in `cfg`.
pub fn group_of(cfg: &VrrpConfig, name: &str) -> Option<String> {
    cfg.sync_group
        .iter()
        .find(|g| g.instances.iter().any(|i| i == name))
        .map(|g| g.name.clone())
}

/// Per instance (by name), what a reload from `old` to `new` does: one `Restarted` entry with
/// the reasons, or one `Applied` entry per changed setting; `Added` / `Removed` for instances
/// that appear or disappear. Unchanged instances are not listed. Subsystem-wide settings are
/// listed under the empty instance name.
pub fn reload_plan(old: &VrrpConfig, new: &VrrpConfig) -> Vec<(String, ReloadAction, String)> {
    let mut plan = Vec::new();
    if old.realtime_priority != new.realtime_priority {
        plan.push((
            String::new(),
            ReloadAction::Applied,
            changed(
                "realtime_priority",
                old.realtime_priority,
                new.realtime_priority,
            ),
        ));
    }
    for o in &old.instance {
        if !new.instance.iter().any(|n| n.name == o.name) {
            plan.push((o.name.clone(), ReloadAction::Removed, describe(o)));
        }
    }
    for n in &new.instance {
        let Some(o) = old.instance.iter().find(|o| o.name == n.name) else {
            plan.push((n.name.clone(), ReloadAction::Added, describe(n)));
            continue;
        };
        let why = restart_reasons(o, n);
        if !why.is_empty() {
            plan.push((n.name.clone(), ReloadAction::Restarted, why.join(", ")));
            continue;
        }
        let (og, ng) = (group_of(old, &o.name), group_of(new, &n.name));
        for what in in_place_changes(o, n, og.as_deref(), ng.as_deref()) {
            plan.push((n.name.clone(), ReloadAction::Applied, what));
        }
    }
    plan
}

fn describe(c: &VrrpInstanceConfig) -> String {
    format!("vrid {} on {}", c.vrid, c.interface)
}

fn changed(key: &str, old: impl Display, new: impl Display) -> String {
    format!("{key} {old} -> {new}")
}

fn list<T: Display>(v: &[T]) -> String {
    let items: Vec<String> = v.iter().map(|x| x.to_string()).collect();
    format!("[{}]", items.join(", "))
}

/// Every setting that differs, one line each (the caller has ruled out a restart).
fn in_place_changes(
    o: &VrrpInstanceConfig,
    n: &VrrpInstanceConfig,
    old_group: Option<&str>,
    new_group: Option<&str>,
) -> Vec<String> {
    let mut out = Vec::new();
    macro_rules! scalar {
        ($field:ident) => {
            if o.$field != n.$field {
                out.push(changed(stringify!($field), &o.$field, &n.$field));
            }
        };
    }
    macro_rules! debug {
        ($field:ident) => {
            if o.$field != n.$field {
                out.push(format!(
                    "{} {:?} -> {:?}",
                    stringify!($field),
                    o.$field,
                    n.$field
                ));
            }
        };
    }
    scalar!(priority);
    scalar!(advert_interval);
    scalar!(preempt);
    scalar!(preempt_delay);
    scalar!(accept_mode);
    debug!(checksum);
    scalar!(accept_either_checksum);
    if o.unicast_peers != n.unicast_peers {
        out.push(changed(
            "unicast_peers",
            list(&o.unicast_peers),
            list(&n.unicast_peers),
        ));
    }
    debug!(unicast_min_ttl);
    for a in &o.virtual_addresses {
        if !n.virtual_addresses.contains(a) {
            out.push(format!("virtual address {a} removed"));
        }
    }
    for a in &n.virtual_addresses {
        if !o.virtual_addresses.contains(a) {
            out.push(format!("virtual address {a} added"));
        }
    }
    scalar!(garp_count);
    scalar!(garp_interval);
    if o.track_interfaces != n.track_interfaces {
        let show = |t: &[crate::config::vrrp::TrackInterface]| {
            list(
                &t.iter()
                    .map(|t| format!("{} weight {}", t.interface, t.weight))
                    .collect::<Vec<_>>(),
            )
        };
        out.push(changed(
            "track_interfaces",
            show(&o.track_interfaces),
            show(&n.track_interfaces),
        ));
    }
    if o.track_checks != n.track_checks {
        let show = |t: &[crate::config::vrrp::TrackCheck]| {
            list(
                &t.iter()
                    .map(|t| format!("{} weight {}", t.check, t.weight))
                    .collect::<Vec<_>>(),
            )
        };
        out.push(changed(
            "track_checks",
            show(&o.track_checks),
            show(&n.track_checks),
        ));
    }
    if o.notify != n.notify {
        let show = |n: &Option<Vec<String>>| n.as_ref().map_or("none".into(), |v| v.join(" "));
        out.push(changed("notify", show(&o.notify), show(&n.notify)));
    }
    scalar!(notify_timeout);
    if old_group != new_group {
        out.push(changed(
            "sync_group",
            old_group.unwrap_or("none"),
            new_group.unwrap_or("none"),
        ));
    }
    out
}

#[cfg(test)]
mod tests {
    use super::*;

    fn cfg(text: &str) -> VrrpConfig {
        toml::from_str(text).unwrap()
    }

    const BASE: &str = r#"
        [[instance]]
        name = "vi4"
        interface = "eth0"
        vrid = 51
        priority = 200
        advert_interval = "100ms"
        virtual_addresses = ["198.18.0.100/24", "198.18.0.101/24"]

        [[instance]]
        name = "vi6"
        interface = "eth0"
        vrid = 52
        virtual_addresses = ["2001:db8::100/64"]
    "#;

    fn with(from: &str, to: &str) -> VrrpConfig {
        assert!(BASE.contains(from), "{from}");
        cfg(&BASE.replacen(from, to, 1))
    }

    #[test]
    fn nothing_changed_nothing_listed() {
        assert!(reload_plan(&cfg(BASE), &cfg(BASE)).is_empty());
    }

    #[test]
    fn priority_interval_and_addresses_apply_in_place() {
        let new = with("priority = 200", "priority = 150\npreempt = false");
        let new = VrrpConfig {
            instance: {
                let mut i = new.instance;
                i[0].advert_interval = crate::config::types::ConfigDuration::from_millis(10);
                i[0].virtual_addresses = vec![
                    "198.18.0.100/24".parse().unwrap(),
                    "198.18.0.102/24".parse().unwrap(),
                ];
                i
            },
            ..new
        };
        let plan = reload_plan(&cfg(BASE), &new);
        let vi4: Vec<_> = plan.iter().filter(|p| p.0 == "vi4").collect();
        assert!(vi4.iter().all(|p| p.1 == ReloadAction::Applied), "{plan:?}");
        let what: Vec<&str> = vi4.iter().map(|p| p.2.as_str()).collect();
        assert_eq!(
            what,
            vec![
                "priority 200 -> 150",
                "advert_interval 100ms -> 10ms",
                "preempt true -> false",
                "virtual address 198.18.0.101/24 removed",
                "virtual address 198.18.0.102/24 added",
            ]
        );
        assert!(plan.iter().all(|p| p.0 == "vi4"), "vi6 untouched: {plan:?}");
    }

    #[test]
    fn tracking_notify_and_sync_group_apply_in_place() {
        let new = with(
            "priority = 200",
            "priority = 200\nnotify = [\"/bin/true\"]\ntrack_checks = [{ check = \"web\", weight = -60 }]",
        );
        let mut new = new;
        new.sync_group.push(crate::config::vrrp::SyncGroupConfig {
            name: "g".into(),
            instances: vec!["vi4".into(), "vi6".into()],
        });
        let plan = reload_plan(&cfg(BASE), &new);
        let lines: Vec<String> = plan
            .iter()
            .map(|(i, a, w)| format!("{i} {} {w}", a.as_str()))
            .collect();
        assert_eq!(
            lines,
            vec![
                "vi4 applied track_checks [] -> [web weight -60]",
                "vi4 applied notify none -> /bin/true",
                "vi4 applied sync_group none -> g",
                "vi6 applied sync_group none -> g",
            ]
        );
    }

    #[test]
    fn identity_changes_restart_only_that_instance() {
        for (from, to, why) in [
            ("vrid = 51", "vrid = 61", "vrid 51 -> 61"),
            (
                "interface = \"eth0\"\n        vrid = 51",
                "interface = \"eth1\"\n        vrid = 51",
                "interface eth0 -> eth1",
            ),
            (
                "vrid = 51",
                "vrid = 51\nvirtual_mac = true",
                "virtual_mac false -> true",
            ),
            (
                "vrid = 51",
                "vrid = 51\nunicast_peers = [\"198.18.0.2\"]",
                "mode multicast -> unicast",
            ),
        ] {
            let plan = reload_plan(&cfg(BASE), &with(from, to));
            assert_eq!(
                plan,
                vec![("vi4".to_string(), ReloadAction::Restarted, why.to_string())]
            );
        }
        // Peers changed within unicast mode: in place.
        let a = with("vrid = 51", "vrid = 51\nunicast_peers = [\"198.18.0.2\"]");
        let b = with("vrid = 51", "vrid = 51\nunicast_peers = [\"198.18.0.3\"]");
        assert_eq!(
            reload_plan(&a, &b),
            vec![(
                "vi4".to_string(),
                ReloadAction::Applied,
                "unicast_peers [198.18.0.2] -> [198.18.0.3]".to_string()
            )]
        );
    }

    #[test]
    fn added_and_removed_instances() {
        let new = with("name = \"vi6\"", "name = \"vi6b\"");
        let plan = reload_plan(&cfg(BASE), &new);
        assert_eq!(
            plan,
            vec![
                (
                    "vi6".into(),
                    ReloadAction::Removed,
                    "vrid 52 on eth0".into()
                ),
                ("vi6b".into(), ReloadAction::Added, "vrid 52 on eth0".into()),
            ]
        );
    }
}
