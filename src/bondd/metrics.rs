//! Bond metrics, per bond and member, taken from the status the bond thread publishes.

use std::sync::{Arc, Mutex};

use prometheus_client::metrics::counter::Counter;
use prometheus_client::metrics::family::Family;
use prometheus_client::metrics::gauge::Gauge;

use super::status::BondStatus;
use crate::metrics::{Labels, Metrics};

#[derive(Clone, Default)]
pub struct BondMetrics {
    pub up: Family<Labels, Gauge>,
    pub members_distributing: Family<Labels, Gauge>,
    pub member_carrier: Family<Labels, Gauge>,
    pub member_distributing: Family<Labels, Gauge>,
    pub failovers: Family<Labels, Counter>,
    pub lacpdus: Family<Labels, Counter>,
    pub host_frames: Family<Labels, Counter>,
    pub rx_discarded: Family<Labels, Counter>,
    /// What was last added to each counter, so that each observation adds the difference.
    seen: Arc<Mutex<std::collections::HashMap<(String, Labels), u64>>>,
}

fn bond(b: &str) -> Labels {
    vec![("bond".to_string(), b.to_string())]
}

fn member(b: &str, m: &str) -> Labels {
    vec![
        ("bond".to_string(), b.to_string()),
        ("member".to_string(), m.to_string()),
    ]
}

fn with(mut l: Labels, k: &str, v: &str) -> Labels {
    l.push((k.to_string(), v.to_string()));
    l
}

impl BondMetrics {
    pub fn register(m: &Metrics) -> Self {
        let v = BondMetrics::default();
        m.register(
            "bond_up",
            "1 while at least min_links members carry the bond",
            v.up.clone(),
        );
        m.register(
            "bond_members_distributing",
            "Members that transmit the bond's frames now",
            v.members_distributing.clone(),
        );
        m.register(
            "bond_member_carrier",
            "1 while the member has carrier",
            v.member_carrier.clone(),
        );
        m.register(
            "bond_member_distributing",
            "1 while the member transmits the bond's frames",
            v.member_distributing.clone(),
        );
        m.register(
            "bond_failovers",
            "Active-backup: changes of the active member",
            v.failovers.clone(),
        );
        m.register(
            "bond_lacpdus",
            "LACPDUs by member and direction (rx, tx)",
            v.lacpdus.clone(),
        );
        m.register(
            "bond_host_frames",
            "The host's frames by member and direction (rx: to the tap, tx: from it)",
            v.host_frames.clone(),
        );
        m.register(
            "bond_rx_discarded",
            "Frames received on a member that was not collecting",
            v.rx_discarded.clone(),
        );
        v
    }

    fn add(&self, family: &Family<Labels, Counter>, name: &str, labels: Labels, total: u64) {
        let mut seen = self.seen.lock().unwrap_or_else(|p| p.into_inner());
        let last = seen.entry((name.to_string(), labels.clone())).or_insert(0);
        if total > *last {
            family.get_or_create(&labels).inc_by(total - *last);
        }
        *last = total;
    }

    pub fn observe(&self, s: &BondStatus) {
        let b = &s.name;
        self.up.get_or_create(&bond(b)).set(s.up.into());
        self.members_distributing
            .get_or_create(&bond(b))
            .set(s.members.iter().filter(|m| m.distributing).count() as i64);
        self.add(&self.failovers, "failovers", bond(b), s.failovers);
        for m in &s.members {
            let l = member(b, &m.name);
            self.member_carrier.get_or_create(&l).set(m.carrier.into());
            self.member_distributing
                .get_or_create(&l)
                .set(m.distributing.into());
            if let Some(p) = &m.lacp {
                self.add(
                    &self.lacpdus,
                    "lacpdus",
                    with(l.clone(), "direction", "rx"),
                    p.lacpdus_rx,
                );
                self.add(
                    &self.lacpdus,
                    "lacpdus",
                    with(l.clone(), "direction", "tx"),
                    p.lacpdus_tx,
                );
            }
            self.add(
                &self.host_frames,
                "host",
                with(l.clone(), "direction", "rx"),
                m.host_rx,
            );
            self.add(
                &self.host_frames,
                "host",
                with(l.clone(), "direction", "tx"),
                m.host_tx,
            );
            self.add(&self.rx_discarded, "discarded", l, m.rx_discarded);
        }
    }
}
