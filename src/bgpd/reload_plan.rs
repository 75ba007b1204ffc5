//! What a reload does to `[bgp]`, decided here and carried out by the supervisor in this
//! module's parent:
//! - announcements change in place (the engine recomputes the routes; sessions stay up);
//! - `graceful_shutdown_wait` applies in place (it is read when the daemon stops);
//! - a neighbour that was added, removed or changed starts, stops or restarts alone; its
//!   `bfd` table is the BFD subsystem's (timers change in place there, the session stays);
//! - the keys every session is built from (`local_as`, `router_id`, `hold_time`,
//!   `connect_retry`: the OPEN and the FSM's timers) restart every session.

use std::net::IpAddr;

use crate::config::bgp::{BgpConfig, NeighborConfig};
use crate::config::diff;
use crate::config::ConfigDuration;
use crate::control::protocol::ReloadAction;

/// The part of `[bgp]` that every session is built from.
pub fn global_part(b: &BgpConfig) -> BgpConfig {
    BgpConfig {
        neighbor: Vec::new(),
        announce: Vec::new(),
        graceful_shutdown_wait: ConfigDuration::default(),
        // The BFD thread's scheduling, not a session's.
        bfd_realtime_priority: 0,
        ..b.clone()
    }
}

/// What a neighbour's BGP session is built from: everything but its `bfd` table.
pub fn session_part(n: &NeighborConfig) -> NeighborConfig {
    NeighborConfig {
        bfd: None,
        ..n.clone()
    }
}

fn neighbor(b: &BgpConfig, a: IpAddr) -> Option<&NeighborConfig> {
    b.neighbor.iter().find(|n| n.address == a)
}

fn neighbor_change(o: &NeighborConfig, n: &NeighborConfig) -> String {
    let mut what = diff::changed_keys(o, n);
    if o.md5_password != n.md5_password {
        what.retain(|k| !k.starts_with("md5_password"));
        what.push("md5_password changed".into());
    }
    what.join(", ")
}

pub fn reload_plan(
    old: Option<&BgpConfig>,
    new: Option<&BgpConfig>,
) -> Vec<(String, ReloadAction, String)> {
    let mut out = Vec::new();
    match (old, new) {
        (None, None) => {}
        (Some(_), None) => out.push((
            "speaker".into(),
            ReloadAction::Removed,
            "[bgp] removed: sessions closed".into(),
        )),
        (None, Some(n)) => {
            out.push((
                "speaker".into(),
                ReloadAction::Added,
                format!("AS {}, router id {}", n.local_as, n.router_id),
            ));
            for nb in &n.neighbor {
                out.push((
                    nb.address.to_string(),
                    ReloadAction::Added,
                    format!("neighbor AS {}", nb.remote_as),
                ));
            }
            for a in &n.announce {
                out.push((
                    a.prefix.to_string(),
                    ReloadAction::Added,
                    "announcement".into(),
                ));
            }
        }
        (Some(o), Some(n)) => {
            let global = diff::changed_keys(&global_part(o), &global_part(n));
            if o.graceful_shutdown_wait != n.graceful_shutdown_wait {
                let what = diff::changed_keys(o, n)
                    .into_iter()
                    .filter(|k| k.starts_with("graceful_shutdown_wait"))
                    .collect::<Vec<_>>()
                    .join(", ");
                out.push(("speaker".into(), ReloadAction::Applied, what));
            }
            for nb in o
                .neighbor
                .iter()
                .filter(|x| neighbor(n, x.address).is_none())
            {
                out.push((
                    nb.address.to_string(),
                    ReloadAction::Removed,
                    "neighbor: session closed".into(),
                ));
            }
            for nb in &n.neighbor {
                match neighbor(o, nb.address) {
                    None => out.push((
                        nb.address.to_string(),
                        ReloadAction::Added,
                        format!("neighbor AS {}", nb.remote_as),
                    )),
                    Some(ob) if !global.is_empty() => {
                        out.push((nb.address.to_string(), ReloadAction::Restarted, {
                            let mut w = global.clone();
                            if session_part(ob) != session_part(nb) {
                                w.push(neighbor_change(&session_part(ob), &session_part(nb)));
                            }
                            w.join(", ")
                        }))
                    }
                    Some(ob) if session_part(ob) != session_part(nb) => out.push((
                        nb.address.to_string(),
                        ReloadAction::Restarted,
                        neighbor_change(&session_part(ob), &session_part(nb)),
                    )),
                    Some(_) => {}
                }
            }
            for a in o
                .announce
                .iter()
                .filter(|a| !n.announce.iter().any(|b| b.prefix == a.prefix))
            {
                out.push((
                    a.prefix.to_string(),
                    ReloadAction::Removed,
                    "announcement: withdrawn; sessions kept".into(),
                ));
            }
            for a in &n.announce {
                match o.announce.iter().find(|b| b.prefix == a.prefix) {
                    None => out.push((
                        a.prefix.to_string(),
                        ReloadAction::Added,
                        "announcement; sessions kept".into(),
                    )),
                    Some(b) if b != a => out.push((
                        a.prefix.to_string(),
                        ReloadAction::Applied,
                        format!("{}; sessions kept", diff::summary(b, a, "changed")),
                    )),
                    Some(_) => {}
                }
            }
        }
    }
    out
}

#[cfg(test)]
mod tests {
    use std::path::Path;

    use super::*;
    use crate::config::parse_str;

    const BASE: &str = r#"
[bgp]
local_as = 65001
router_id = "198.18.0.1"
[[bgp.neighbor]]
address = "198.18.0.2"
remote_as = 65002
[[bgp.neighbor]]
address = "198.18.0.3"
remote_as = 65003
[[bgp.announce]]
prefix = "198.18.255.1/32"
"#;

    fn bgp(text: &str) -> BgpConfig {
        parse_str(text, Path::new("t.toml"))
            .unwrap_or_else(|e| panic!("{e}"))
            .bgp
            .unwrap()
    }

    fn plan(a: &str, b: &str) -> Vec<(String, ReloadAction, String)> {
        reload_plan(Some(&bgp(a)), Some(&bgp(b)))
    }

    #[test]
    fn announcements_change_without_touching_sessions() {
        assert!(plan(BASE, BASE).is_empty());
        let more = format!("{BASE}[[bgp.announce]]\nprefix = \"198.18.255.2/32\"\n");
        assert_eq!(
            plan(BASE, &more),
            vec![(
                "198.18.255.2/32".into(),
                ReloadAction::Added,
                "announcement; sessions kept".into()
            )]
        );
        let med = format!("{BASE}med = 50\n");
        let p = plan(BASE, &med);
        assert_eq!(p.len(), 1);
        assert_eq!(p[0].1, ReloadAction::Applied);
        assert!(p[0].2.contains("med (unset) → 50"), "{}", p[0].2);
        assert_eq!(plan(&more, BASE)[0].1, ReloadAction::Removed);
    }

    #[test]
    fn only_the_changed_neighbour_restarts() {
        let changed = BASE.replace("remote_as = 65003", "remote_as = 65003\npassive = true");
        assert_eq!(
            plan(BASE, &changed),
            vec![(
                "198.18.0.3".into(),
                ReloadAction::Restarted,
                "passive false → true".into()
            )]
        );
        let md5 = BASE.replace(
            "remote_as = 65003",
            "remote_as = 65003\nmd5_password = \"k\"",
        );
        assert_eq!(plan(BASE, &md5)[0].2, "md5_password changed");
        let added =
            format!("{BASE}[[bgp.neighbor]]\naddress = \"198.18.0.4\"\nremote_as = 65004\n");
        assert_eq!(
            plan(BASE, &added),
            vec![(
                "198.18.0.4".into(),
                ReloadAction::Added,
                "neighbor AS 65004".into()
            )]
        );
        assert_eq!(plan(&added, BASE)[0].1, ReloadAction::Removed);
    }

    /// A neighbour's `bfd` table and the BFD thread's priority are the BFD subsystem's: the
    /// BGP sessions stay (the BFD plan reports the change).
    #[test]
    fn bfd_changes_leave_the_bgp_session_alone() {
        let with = BASE.replace(
            "remote_as = 65003",
            "remote_as = 65003\nbfd = { interval = \"300ms\" }",
        );
        let faster = with.replace("300ms", "50ms");
        assert!(plan(BASE, &with).is_empty());
        assert!(plan(&with, &faster).is_empty());
        assert!(plan(&faster, BASE).is_empty());
        let prio = BASE.replace(
            "router_id = \"198.18.0.1\"",
            "router_id = \"198.18.0.1\"\nbfd_realtime_priority = 20",
        );
        assert!(plan(BASE, &prio).is_empty());
    }

    #[test]
    fn session_keys_restart_every_session_and_the_shutdown_wait_applies() {
        let hold = BASE.replace(
            "router_id = \"198.18.0.1\"",
            "router_id = \"198.18.0.1\"\nhold_time = \"30s\"",
        );
        let p = plan(BASE, &hold);
        assert_eq!(p.len(), 2, "{p:?}");
        assert!(p
            .iter()
            .all(|(_, a, w)| *a == ReloadAction::Restarted && w.contains("hold_time")));
        let wait = BASE.replace(
            "router_id = \"198.18.0.1\"",
            "router_id = \"198.18.0.1\"\ngraceful_shutdown_wait = \"9s\"",
        );
        let p = plan(BASE, &wait);
        assert_eq!(p.len(), 1, "{p:?}");
        assert_eq!(p[0].1, ReloadAction::Applied);
        assert!(p[0].2.contains("graceful_shutdown_wait"), "{}", p[0].2);
    }

    #[test]
    fn adding_and_removing_the_speaker() {
        let p = reload_plan(None, Some(&bgp(BASE)));
        assert_eq!(p.len(), 4, "{p:?}");
        assert!(p.iter().all(|(_, a, _)| *a == ReloadAction::Added));
        let p = reload_plan(Some(&bgp(BASE)), None);
        assert_eq!(p[0].1, ReloadAction::Removed);
    }
}
