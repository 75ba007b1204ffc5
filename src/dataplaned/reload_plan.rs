//! What a reload does to the data plane's sections, as the controller carries it out: services,
//! backends, GRE tunnels and SNAT pools go into a new snapshot that the workers pick up between
//! two batches (applied: flows in progress keep their backend, counters carry over by name);
//! `[dataplane]` itself (interfaces, workers, queues, table sizes) is what the workers and the
//! XDP programs were built from, and applies at the next start.

use serde::Serialize;

use crate::config::diff;
use crate::config::Config;
use crate::control::protocol::ReloadAction;

type Plan = Vec<(String, ReloadAction, String)>;

pub fn reload_plan(old: &Config, new: &Config) -> Plan {
    let mut out = Vec::new();
    if let (Some(a), Some(b)) = (&old.dataplane, &new.dataplane) {
        if a.cluster_seed != b.cluster_seed {
            out.push((
                "dataplane.cluster_seed".into(),
                ReloadAction::Applied,
                format!(
                    "{} -> {}: new flows follow the new Maglev tables",
                    a.cluster_seed, b.cluster_seed
                ),
            ));
        }
    }
    let at_start = match (&old.dataplane, &new.dataplane) {
        (Some(a), Some(b)) => a.same_at_start(b),
        (a, b) => a == b,
    };
    if !at_start {
        let what = match (&old.dataplane, &new.dataplane) {
            (Some(a), Some(b)) => diff::summary(a, b, "changed"),
            (None, Some(_)) => "[dataplane] added".into(),
            _ => "[dataplane] removed".into(),
        };
        out.push(("dataplane".into(), ReloadAction::NextStart, what));
    }
    bonds(&mut out, old, new);
    // Without a running data plane the rest waits for the next start too.
    let action = if old.dataplane.is_some() {
        ReloadAction::Applied
    } else {
        ReloadAction::NextStart
    };
    let named =
        |o: &mut Plan, kind: &str, before: Vec<(&str, Named)>, after: Vec<(&str, Named)>| {
            for (name, _) in before
                .iter()
                .filter(|(n, _)| !after.iter().any(|(m, _)| m == n))
            {
                o.push((format!("{kind} {name}"), removed(action), String::new()));
            }
            for (name, a) in &after {
                match before.iter().find(|(n, _)| n == name) {
                    None => o.push((format!("{kind} {name}"), added(action), String::new())),
                    Some((_, b)) if b != a => {
                        o.push((format!("{kind} {name}"), action, b.describe(a)));
                    }
                    Some(_) => {}
                }
            }
        };
    named(
        &mut out,
        "service",
        old.service
            .iter()
            .map(|s| (s.name.as_str(), Named::service(s)))
            .collect(),
        new.service
            .iter()
            .map(|s| (s.name.as_str(), Named::service(s)))
            .collect(),
    );
    named(
        &mut out,
        "tunnel",
        old.gre
            .tunnel
            .iter()
            .map(|t| (t.name.as_str(), Named::of(t)))
            .collect(),
        new.gre
            .tunnel
            .iter()
            .map(|t| (t.name.as_str(), Named::of(t)))
            .collect(),
    );
    named(
        &mut out,
        "pool",
        old.snat
            .pool
            .iter()
            .map(|p| (p.name.as_str(), Named::of(p)))
            .collect(),
        new.snat
            .pool
            .iter()
            .map(|p| (p.name.as_str(), Named::of(p)))
            .collect(),
    );
    out
}

/// `[[bond]]`, by name: a bond's name, members, mode and MAC are what its tap device and the
/// workers' sockets were made from, so adding, removing or changing them waits for the next
/// start like `[dataplane] interfaces`; the rest (hash, LACP rate, activity, priority and key,
/// primary, min_links, ARP monitor) the running bond takes in place.
fn bonds(out: &mut Plan, old: &Config, new: &Config) {
    for b in old.bond.iter().filter(|b| new.bond(&b.name).is_none()) {
        out.push((
            format!("bond {}", b.name),
            ReloadAction::NextStart,
            "removed".into(),
        ));
    }
    for b in &new.bond {
        let Some(o) = old.bond(&b.name) else {
            out.push((
                format!("bond {}", b.name),
                ReloadAction::NextStart,
                "added".into(),
            ));
            continue;
        };
        if o == b {
            continue;
        }
        let action = if !o.same_at_start(b) || old.dataplane.is_none() {
            ReloadAction::NextStart
        } else {
            ReloadAction::Applied
        };
        out.push((
            format!("bond {}", b.name),
            action,
            diff::summary(o, b, "changed"),
        ));
    }
}

fn added(a: ReloadAction) -> ReloadAction {
    if a == ReloadAction::Applied {
        ReloadAction::Added
    } else {
        a
    }
}

fn removed(a: ReloadAction) -> ReloadAction {
    if a == ReloadAction::Applied {
        ReloadAction::Removed
    } else {
        a
    }
}

/// A named object as the file writes it, with its backends apart for a readable diff.
#[derive(PartialEq)]
struct Named {
    value: serde_json::Value,
    backends: Vec<(String, serde_json::Value)>,
}

impl Named {
    fn of<T: Serialize>(t: &T) -> Self {
        Named {
            value: serde_json::to_value(t).unwrap_or_default(),
            backends: Vec::new(),
        }
    }

    fn service(s: &crate::config::dataplane::ServiceConfig) -> Self {
        let mut n = Named::of(s);
        if let serde_json::Value::Object(m) = &mut n.value {
            m.remove("backends");
        }
        n.backends = s
            .backends
            .iter()
            .map(|b| {
                (
                    std::net::SocketAddr::new(b.address, b.port).to_string(),
                    serde_json::to_value(b).unwrap_or_default(),
                )
            })
            .collect();
        n
    }

    fn describe(&self, new: &Named) -> String {
        let mut what = diff::changed_keys(&self.value, &new.value);
        for (k, _) in self
            .backends
            .iter()
            .filter(|(k, _)| !new.backends.iter().any(|(m, _)| m == k))
        {
            what.push(format!("backend {k} removed"));
        }
        for (k, v) in &new.backends {
            match self.backends.iter().find(|(m, _)| m == k) {
                None => what.push(format!("backend {k} added")),
                Some((_, old)) if old != v => what.push(format!(
                    "backend {k}: {}",
                    diff::changed_keys(old, v).join(", ")
                )),
                Some(_) => {}
            }
        }
        if what.is_empty() {
            "order changed".into()
        } else {
            what.join(", ")
        }
    }
}

#[cfg(test)]
mod tests {
    use std::path::Path;

    use super::*;
    use crate::config::parse_str;

    const BASE: &str = r#"
[interfaces.eth0]
[dataplane]
interfaces = ["eth0"]
[[service]]
name = "web"
vip = "198.18.100.1"
port = 80
protocol = "tcp"
backends = [{ address = "198.18.1.2", port = 80 }, { address = "198.18.1.3", port = 80 }]
"#;

    fn cfg(text: &str) -> Config {
        parse_str(text, Path::new("t.toml")).unwrap_or_else(|e| panic!("{e}"))
    }

    #[test]
    fn backends_and_services_apply_in_a_new_snapshot() {
        let old = cfg(BASE);
        assert!(reload_plan(&old, &old).is_empty());
        let new = cfg(&BASE.replace(
            "{ address = \"198.18.1.3\", port = 80 }",
            "{ address = \"198.18.1.4\", port = 80, weight = 5 }",
        ));
        assert_eq!(
            reload_plan(&old, &new),
            vec![(
                "service web".into(),
                ReloadAction::Applied,
                "backend 198.18.1.3:80 removed, backend 198.18.1.4:80 added".into()
            )]
        );
        let port = cfg(&BASE.replace("port = 80\nprotocol", "port = 8080\nprotocol"));
        assert_eq!(reload_plan(&old, &port)[0].2, "port 80 → 8080");
    }

    const BONDED: &str = r#"
[interfaces.bond0]
[interfaces.eth1]
[interfaces.eth2]
[interfaces.eth3]
[dataplane]
interfaces = ["bond0"]
[[bond]]
name = "bond0"
members = ["eth1", "eth2"]
"#;

    #[test]
    fn bond_members_mode_and_mac_wait_for_the_next_start_the_rest_applies() {
        let old = cfg(BONDED);
        assert!(reload_plan(&old, &old).is_empty());
        let members = "members = [\"eth1\", \"eth2\"]";
        for (change, action, what) in [
            (
                "members = [\"eth1\", \"eth2\", \"eth3\"]",
                ReloadAction::NextStart,
                "members changed",
            ),
            (
                "members = [\"eth1\", \"eth2\"]\nmode = \"balance-xor\"",
                ReloadAction::NextStart,
                "mode 802.3ad → balance-xor",
            ),
            (
                "members = [\"eth1\", \"eth2\"]\nmac = \"02:00:5e:10:00:01\"",
                ReloadAction::NextStart,
                "mac (unset) → 02:00:5e:10:00:01",
            ),
            (
                "members = [\"eth1\", \"eth2\"]\nlacp_rate = \"slow\"\nmin_links = 2",
                ReloadAction::Applied,
                "lacp_rate fast → slow, min_links 1 → 2",
            ),
            (
                "members = [\"eth1\", \"eth2\"]\nxmit_hash = \"l23\"\nkey = 9\n\
                 system_priority = 7\nlacp_active = false",
                ReloadAction::Applied,
                "key 1 → 9, lacp_active true → false, system_priority 65535 → 7, xmit_hash l34 → l23",
            ),
        ] {
            let new = cfg(&BONDED.replace(members, change));
            assert_eq!(
                reload_plan(&old, &new),
                vec![("bond bond0".into(), action, what.into())],
                "{change}"
            );
        }
        // primary and the ARP monitor, in active-backup, apply in place too.
        let ab = cfg(&BONDED.replace(
            members,
            "members = [\"eth1\", \"eth2\"]\nmode = \"active-backup\"",
        ));
        let tuned = cfg(&BONDED.replace(
            members,
            "members = [\"eth1\", \"eth2\"]\nmode = \"active-backup\"\nprimary = \"eth2\"\n\
             arp_monitor = { target = \"198.18.0.1\" }",
        ));
        let plan = reload_plan(&ab, &tuned);
        assert_eq!(plan.len(), 1, "{plan:?}");
        assert_eq!(plan[0].1, ReloadAction::Applied);
        assert_eq!(plan[0].2, "arp_monitor changed, primary (unset) → eth2");
        // A bond renamed: the old one goes and a new one comes, both at the next start.
        let renamed = cfg(&BONDED.replace("bond0", "bond1"));
        assert_eq!(
            reload_plan(&old, &renamed),
            vec![
                (
                    "dataplane".into(),
                    ReloadAction::NextStart,
                    "interfaces changed".into()
                ),
                (
                    "bond bond0".into(),
                    ReloadAction::NextStart,
                    "removed".into()
                ),
                ("bond bond1".into(), ReloadAction::NextStart, "added".into()),
            ]
        );
    }

    #[test]
    fn the_dataplane_section_waits_for_the_next_start() {
        let old = cfg(BASE);
        let new = cfg(&BASE.replace(
            "interfaces = [\"eth0\"]",
            "interfaces = [\"eth0\"]\nworkers = 2\nqueues = 2",
        ));
        let plan = reload_plan(&old, &new);
        assert_eq!(plan.len(), 1, "{plan:?}");
        assert_eq!(plan[0].1, ReloadAction::NextStart);
        assert!(plan[0].2.contains("workers"), "{}", plan[0].2);
    }
}
