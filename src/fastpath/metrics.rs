//! The data plane's Prometheus metrics. Workers keep plain per-core counters; once a second the
//! controller reads them and advances the exported counters by the difference, so scrapes cost
//! the workers nothing.

use std::collections::BTreeMap;

use prometheus_client::metrics::counter::Counter;
use prometheus_client::metrics::family::Family;
use prometheus_client::metrics::gauge::Gauge;

use crate::dataplane::counters::{Counter as C, Counters, DropReason};
use crate::metrics::{Labels, Metrics};

/// Counters exported as `appliance_dataplane_<name>_total{worker}`.
const PLAIN: [(C, &str, &str); 7] = [
    (
        C::Passed,
        "passed",
        "Frames the steering program sent that were not the fast path's",
    ),
    (
        C::Handoffs,
        "handoffs",
        "Frames handed to the worker owning their flow",
    ),
    (C::NewFlows, "new_flows", "Flows created"),
    (
        C::Persisted,
        "persisted_flows",
        "New flows placed by source-address persistence",
    ),
    (
        C::IcmpTranslated,
        "icmp_translated",
        "ICMP errors about tracked flows translated",
    ),
    (
        C::ConntrackExpired,
        "conntrack_expired",
        "Flows freed after their timeout",
    ),
    (
        C::ConntrackEvicted,
        "conntrack_evicted",
        "Embryonic flows evicted from a full table",
    ),
];

pub struct DataplaneMetrics {
    packets: Family<Labels, Counter>,
    bytes: Family<Labels, Counter>,
    drops: Family<Labels, Counter>,
    plain: Vec<Family<Labels, Counter>>,
    flows: Family<Labels, Gauge>,
    capacity: Family<Labels, Gauge>,
    /// What was last exported, per worker.
    seen: BTreeMap<u16, Counters>,
}

fn worker(w: u16) -> Labels {
    vec![("worker".to_string(), w.to_string())]
}

fn with(mut l: Labels, k: &str, v: &str) -> Labels {
    l.push((k.to_string(), v.to_string()));
    l
}

impl DataplaneMetrics {
    pub fn register(m: &Metrics) -> DataplaneMetrics {
        let d = DataplaneMetrics {
            packets: Family::default(),
            bytes: Family::default(),
            drops: Family::default(),
            plain: PLAIN.iter().map(|_| Family::default()).collect(),
            flows: Family::default(),
            capacity: Family::default(),
            seen: BTreeMap::new(),
        };
        m.register(
            "dataplane_packets",
            "Frames received and transmitted by the fast path, by worker and direction",
            d.packets.clone(),
        );
        m.register(
            "dataplane_bytes",
            "Bytes received and transmitted by the fast path, by worker and direction",
            d.bytes.clone(),
        );
        m.register(
            "dataplane_drops",
            "Frames the fast path dropped, by worker and reason",
            d.drops.clone(),
        );
        for ((_, name, help), f) in PLAIN.iter().zip(&d.plain) {
            m.register(&format!("dataplane_{name}"), help, f.clone());
        }
        m.register(
            "dataplane_conntrack_flows",
            "Flows in each worker's conntrack table",
            d.flows.clone(),
        );
        m.register(
            "dataplane_conntrack_capacity",
            "Size of each worker's conntrack table",
            d.capacity.clone(),
        );
        d
    }

    /// Advances the exported values to `now`, one worker's counters.
    pub fn update(&mut self, w: u16, now: &Counters) {
        let before = self.seen.entry(w).or_default();
        let delta = |c: C| now.get(c).saturating_sub(before.get(c));
        let l = worker(w);
        for (c, dir) in [(C::RxPackets, "rx"), (C::TxPackets, "tx")] {
            self.packets
                .get_or_create(&with(l.clone(), "direction", dir))
                .inc_by(delta(c));
        }
        for (c, dir) in [(C::RxBytes, "rx"), (C::TxBytes, "tx")] {
            self.bytes
                .get_or_create(&with(l.clone(), "direction", dir))
                .inc_by(delta(c));
        }
        for r in DropReason::ALL {
            let d = now.drops(r).saturating_sub(before.drops(r));
            self.drops
                .get_or_create(&with(l.clone(), "reason", r.name()))
                .inc_by(d);
        }
        for ((c, _, _), f) in PLAIN.iter().zip(&self.plain) {
            f.get_or_create(&l).inc_by(delta(*c));
        }
        self.flows
            .get_or_create(&l)
            .set(now.get(C::ConntrackUsed) as i64);
        self.capacity
            .get_or_create(&l)
            .set(now.get(C::ConntrackCapacity) as i64);
        *before = now.clone();
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn exported_counters_follow_the_workers() {
        let m = Metrics::new("t");
        let mut d = DataplaneMetrics::register(&m);
        let mut c = Counters::default();
        c.add(C::RxPackets, 5);
        c.drop(DropReason::NoBackend);
        c.set(C::ConntrackUsed, 3);
        d.update(1, &c);
        c.add(C::RxPackets, 2);
        d.update(1, &c);
        let text = m.encode();
        assert!(
            text.contains(r#"appliance_dataplane_packets_total{worker="1",direction="rx"} 7"#),
            "{text}"
        );
        assert!(
            text.contains(r#"appliance_dataplane_drops_total{worker="1",reason="no_backend"} 1"#)
        );
        assert!(text.contains(r#"appliance_dataplane_conntrack_flows{worker="1"} 3"#));
        assert!(text.contains("appliance_dataplane_handoffs_total"));
    }
}
