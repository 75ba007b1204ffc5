//! The announcement engine: from configuration, health verdicts, VRRP states and the operator's
//! drain set to the routes every peer should carry, with the reason for each decision. Pure, so
//! every gate combination is unit-tested without sockets.

use std::collections::{BTreeMap, BTreeSet};

use ::bgp::packet::attributes::{Community, LargeCommunity};
use ::bgp::{Prefix, RouteAttributes};
use serde::{Deserialize, Serialize};

use crate::config::bgp::{parse_community, parse_large_community, AnnounceConfig, OnFailure};
use crate::verdicts::Verdict;
use crate::vrrpd::{VrrpState, VrrpStates};

/// What `appctl bgp` shows for one configured prefix.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct PrefixStatus {
    pub prefix: String,
    pub announced: bool,
    /// Why it is (or is not) announced, e.g. `healthy`, `check web down`, `drained`.
    pub reason: String,
    /// Announced as a backup with a worse MED or a prepended path.
    #[serde(default)]
    pub degraded: bool,
}

pub type Routes = BTreeMap<Prefix, RouteAttributes>;

pub fn prefix_of(a: &AnnounceConfig) -> Option<Prefix> {
    Prefix::new(a.prefix.network(), a.prefix.prefix()).ok()
}

/// Prefixes held back whatever their gates say: drained by the operator, or covering a
/// service's VIP while the fast path does not forward (starting, failed or stopped).
#[derive(Debug, Clone, Default)]
pub struct Held {
    pub drained: BTreeSet<Prefix>,
    pub not_serving: BTreeSet<Prefix>,
}

/// The first gate that fails, in the order an operator would look: drain, data plane, checks,
/// VRRP.
fn failed_gate(
    a: &AnnounceConfig,
    prefix: &Prefix,
    verdicts: &BTreeMap<String, Verdict>,
    vrrp_states: &VrrpStates,
    held: &Held,
) -> Option<String> {
    if held.drained.contains(prefix) {
        return Some("drained by operator".into());
    }
    if held.not_serving.contains(prefix) {
        return Some("data plane not running".into());
    }
    for c in &a.checks {
        match verdicts.get(c) {
            Some(v) if v.up => {}
            Some(_) => return Some(format!("check {c} down")),
            None => return Some(format!("check {c} has no verdict yet")),
        }
    }
    if let Some(v) = &a.vrrp_instance {
        match vrrp_states.get(v) {
            Some(VrrpState::Master) => {}
            Some(s) => return Some(format!("vrrp {v} is {s}")),
            None => return Some(format!("vrrp {v} not running")),
        }
    }
    None
}

fn base_attributes(a: &AnnounceConfig) -> RouteAttributes {
    RouteAttributes {
        med: a.med,
        local_pref: a.local_pref,
        next_hop: a.next_hop,
        communities: a
            .communities
            .iter()
            .filter_map(|c| parse_community(c))
            .map(Community)
            .collect(),
        large_communities: a
            .large_communities
            .iter()
            .filter_map(|c| parse_large_community(c))
            .map(|(g, d1, d2)| LargeCommunity {
                global_admin: g,
                local_data1: d1,
                local_data2: d2,
            })
            .collect(),
        ..Default::default()
    }
}

/// Desired routes and the per-prefix explanation.
pub fn compute(
    announce: &[AnnounceConfig],
    verdicts: &BTreeMap<String, Verdict>,
    vrrp_states: &VrrpStates,
    held: &Held,
) -> (Routes, Vec<PrefixStatus>) {
    let mut routes = Routes::new();
    let mut status = Vec::new();
    for a in announce {
        let Some(prefix) = prefix_of(a) else { continue };
        let mut attrs = base_attributes(a);
        let failed = failed_gate(a, &prefix, verdicts, vrrp_states, held);
        // An operator drain always withdraws: it is maintenance, not a backup role; so does a
        // data plane that cannot forward what the route would attract.
        let drain = held.drained.contains(&prefix) || held.not_serving.contains(&prefix);
        let (announced, degraded, reason) = match (failed, a.on_failure) {
            (None, _) => (true, false, "healthy".to_string()),
            (Some(r), OnFailure::Withdraw) => (false, false, r),
            (Some(r), _) if drain => (false, false, r),
            (Some(r), OnFailure::Med { med }) => {
                attrs.med = Some(med);
                (true, true, format!("{r}; announced with MED {med}"))
            }
            (Some(r), OnFailure::Prepend { prepend }) => {
                attrs.prepend = prepend;
                (
                    true,
                    true,
                    format!("{r}; announced with {prepend} prepends"),
                )
            }
        };
        if announced {
            routes.insert(prefix, attrs);
        }
        status.push(PrefixStatus {
            prefix: prefix.to_string(),
            announced,
            reason,
            degraded,
        });
    }
    (routes, status)
}

#[cfg(test)]
mod tests {
    use super::*;

    fn ann(text: &str) -> AnnounceConfig {
        toml::from_str(text).unwrap()
    }

    fn verdicts(up: bool) -> BTreeMap<String, Verdict> {
        [("web".to_string(), Verdict { up, weight: None })].into()
    }

    #[test]
    fn checks_gate_and_on_failure() {
        let a = ann("prefix = \"198.18.255.1/32\"\nchecks = [\"web\"]\n");
        let none = BTreeMap::new();
        let (r, s) = compute(
            std::slice::from_ref(&a),
            &verdicts(true),
            &none,
            &Held::default(),
        );
        assert_eq!(r.len(), 1);
        assert_eq!(s[0].reason, "healthy");
        let (r, s) = compute(
            std::slice::from_ref(&a),
            &verdicts(false),
            &none,
            &Held::default(),
        );
        assert!(r.is_empty());
        assert_eq!(s[0].reason, "check web down");
        let (r, _) = compute(
            std::slice::from_ref(&a),
            &BTreeMap::new(),
            &none,
            &Held::default(),
        );
        assert!(r.is_empty(), "no verdict yet withdraws");

        let a =
            ann("prefix = \"198.18.255.1/32\"\nchecks = [\"web\"]\non_failure = { med = 500 }\n");
        let (r, s) = compute(
            std::slice::from_ref(&a),
            &verdicts(false),
            &none,
            &Held::default(),
        );
        assert_eq!(r.values().next().unwrap().med, Some(500));
        assert!(s[0].degraded);
        // A drain withdraws even a prefix that would stay as backup.
        let drained = Held {
            drained: [prefix_of(&a).unwrap()].into(),
            ..Held::default()
        };
        let (r, s) = compute(std::slice::from_ref(&a), &verdicts(false), &none, &drained);
        assert!(r.is_empty());
        assert_eq!(s[0].reason, "drained by operator");
        // So does a data plane that does not forward what the route would attract.
        let held = Held {
            not_serving: [prefix_of(&a).unwrap()].into(),
            ..Held::default()
        };
        let (r, s) = compute(std::slice::from_ref(&a), &verdicts(true), &none, &held);
        assert!(r.is_empty());
        assert_eq!(s[0].reason, "data plane not running");
    }

    #[test]
    fn vrrp_gate() {
        let a = ann("prefix = \"2001:db8:ffff::1/128\"\nvrrp_instance = \"vi\"\n");
        let st = |s: VrrpState| [("vi".to_string(), s)].into();
        let (r, _) = compute(
            std::slice::from_ref(&a),
            &BTreeMap::new(),
            &st(VrrpState::Master),
            &Held::default(),
        );
        assert_eq!(r.len(), 1);
        let (r, s) = compute(
            std::slice::from_ref(&a),
            &BTreeMap::new(),
            &st(VrrpState::Backup),
            &Held::default(),
        );
        assert!(r.is_empty());
        assert_eq!(s[0].reason, "vrrp vi is backup");
    }
}
