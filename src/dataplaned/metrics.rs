//! The data plane's Prometheus metrics. Workers keep plain per-core counters; once a second the
//! controller reads them and advances the exported counters by the difference, so scrapes cost
//! the workers nothing.

use std::collections::BTreeMap;

use prometheus_client::metrics::counter::Counter;
use prometheus_client::metrics::family::Family;
use prometheus_client::metrics::gauge::Gauge;

use crate::metrics::{Labels, Metrics};
use dataplane::counters::{Counter as C, Counters, DropReason};

/// Counters exported as `appliance_dataplane_<name>_total{worker}`.
const PLAIN: [(C, &str, &str); 24] = [
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
    (
        C::GreDecapsulated,
        "gre_decapsulated",
        "Packets taken out of GRE tunnels",
    ),
    (
        C::GreEncapsulated,
        "gre_encapsulated",
        "Packets put into GRE tunnels",
    ),
    (
        C::FragNeededSent,
        "frag_needed_sent",
        "ICMP fragmentation-needed errors sent for packets too large for a tunnel",
    ),
    (
        C::MssClamped,
        "mss_clamped",
        "TCP SYNs whose MSS was lowered to fit a tunnel",
    ),
    (
        C::IcmpTimeExceededSent,
        "icmp_time_exceeded_sent",
        "ICMP time exceeded errors sent for packets whose TTL ran out here",
    ),
    (
        C::IcmpRateLimited,
        "icmp_rate_limited",
        "ICMP errors not sent because the worker's rate limit was reached",
    ),
    (
        C::Rescheduled,
        "rescheduled",
        "UDP and ICMP flows whose backend was down or gone, scheduled afresh",
    ),
    (
        C::SyncAdopted,
        "sync_adopted",
        "Session sync: a peer's flows adopted into this worker's table",
    ),
    (
        C::SyncUpdated,
        "sync_updated",
        "Session sync: flows here updated by a peer's record",
    ),
    (
        C::SyncRemoved,
        "sync_removed",
        "Session sync: flows removed because the peer reported them gone",
    ),
    (
        C::SyncRemoveIgnored,
        "sync_remove_ignored",
        "Session sync: a peer's removals of flows that live on here, ignored",
    ),
    (
        C::SyncRefused,
        "sync_refused",
        "Session sync: a peer's flows refused (unknown service, backend or pool, port taken)",
    ),
    (
        C::SyncChangesLost,
        "sync_changes_lost",
        "Session sync: this worker's flow changes lost to a full change log",
    ),
    (
        C::OffloadOffered,
        "offload_offered",
        "Established-flow offload: flow directions whose rule the worker offered to the XDP program",
    ),
    (
        C::OffloadUnfit,
        "offload_unfit",
        "Established-flow offload: established packets whose forwarding no rule can express",
    ),
    (
        C::Nat64ToIpv4,
        "nat64_to_ipv4",
        "NAT64: IPv6 client packets translated to IPv4 for a backend",
    ),
    (
        C::Nat64ToIpv6,
        "nat64_to_ipv6",
        "NAT64: IPv4 backend replies translated to IPv6 for a client",
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
    gre_packets: Family<Labels, Counter>,
    gre_bytes: Family<Labels, Counter>,
    gre_drops: Family<Labels, Counter>,
    snat_ports: Family<Labels, Gauge>,
    snat_exhausted: Family<Labels, Counter>,
    /// Per tunnel and per pool: what was last exported. Only growth is added, so a tunnel
    /// removed and added again (with fresh counters) never makes an exported counter go back.
    gw_seen: BTreeMap<String, u64>,
    offload_rules: Gauge,
    offload_events: Family<Labels, Counter>,
    offload_packets: Counter,
    offload_bytes: Counter,
    offload_to_worker: Family<Labels, Counter>,
    offload_seen: BTreeMap<String, u64>,
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
            gre_packets: Family::default(),
            gre_bytes: Family::default(),
            gre_drops: Family::default(),
            snat_ports: Family::default(),
            snat_exhausted: Family::default(),
            gw_seen: BTreeMap::new(),
            offload_rules: Gauge::default(),
            offload_events: Family::default(),
            offload_packets: Counter::default(),
            offload_bytes: Counter::default(),
            offload_to_worker: Family::default(),
            offload_seen: BTreeMap::new(),
        };
        m.register(
            "dataplane_offload_rules",
            "Established-flow offload: rules (flow directions) in the XDP program's table",
            d.offload_rules.clone(),
        );
        m.register(
            "dataplane_offload_rule_events",
            "Established-flow offload: rules installed, withdrawn and refused, and flushes",
            d.offload_events.clone(),
        );
        m.register(
            "dataplane_offload_forwarded_packets",
            "Packets the XDP program forwarded itself (established flows)",
            d.offload_packets.clone(),
        );
        m.register(
            "dataplane_offload_forwarded_bytes",
            "Bytes the XDP program forwarded itself (established flows)",
            d.offload_bytes.clone(),
        );
        m.register(
            "dataplane_offload_to_worker",
            "Packets the XDP program left to the workers, by reason",
            d.offload_to_worker.clone(),
        );
        m.register(
            "gre_packets",
            "Inner packets out of (rx) and into (tx) each GRE tunnel",
            d.gre_packets.clone(),
        );
        m.register(
            "gre_bytes",
            "Inner bytes out of (rx) and into (tx) each GRE tunnel",
            d.gre_bytes.clone(),
        );
        m.register(
            "gre_drops",
            "Packets of each GRE tunnel dropped, by reason",
            d.gre_drops.clone(),
        );
        m.register(
            "snat_ports_in_use",
            "Ports in use per SNAT pool address and protocol",
            d.snat_ports.clone(),
        );
        m.register(
            "snat_exhausted",
            "Allocations refused because a worker's share of a pool was full",
            d.snat_exhausted.clone(),
        );
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

impl DataplaneMetrics {
    /// Advances the offload's metrics to its status (counters only grow).
    pub fn update_offload(&mut self, o: &super::offload::OffloadStatus) {
        self.offload_rules.set(o.rules as i64);
        let seen = &mut self.offload_seen;
        let mut delta = |id: &str, now: u64| {
            let before = seen.insert(id.to_string(), now).unwrap_or(0);
            now.saturating_sub(before)
        };
        self.offload_packets
            .inc_by(delta("packets", o.forwarded_packets));
        self.offload_bytes.inc_by(delta("bytes", o.forwarded_bytes));
        for (event, n) in [
            ("installed", o.installed),
            ("withdrawn", o.withdrawn),
            ("failed", o.failed),
            ("flush", o.flushes),
        ] {
            let d = delta(event, n);
            self.offload_events
                .get_or_create(&vec![("event".to_string(), event.to_string())])
                .inc_by(d);
        }
        for (reason, n) in &o.to_worker {
            let d = delta(&format!("w/{reason}"), *n);
            self.offload_to_worker
                .get_or_create(&vec![("reason".to_string(), reason.clone())])
                .inc_by(d);
        }
    }

    /// Advances the per-tunnel and per-pool metrics to the summed status.
    pub fn update_gateway(
        &mut self,
        tunnels: &[super::gateway_status::TunnelStatus],
        pools: &[super::gateway_status::PoolStatus],
    ) {
        let seen = &mut self.gw_seen;
        let mut advance = |f: &Family<Labels, Counter>, id: String, l: Labels, now: u64| {
            let before = seen.insert(id, now).unwrap_or(0);
            f.get_or_create(&l).inc_by(now.saturating_sub(before));
        };
        for t in tunnels {
            let l = vec![("tunnel".to_string(), t.name.clone())];
            for (dir, p, b) in [
                ("rx", t.rx_packets, t.rx_bytes),
                ("tx", t.tx_packets, t.tx_bytes),
            ] {
                let l = with(l.clone(), "direction", dir);
                advance(
                    &self.gre_packets,
                    format!("p/{}/{dir}", t.name),
                    l.clone(),
                    p,
                );
                advance(&self.gre_bytes, format!("b/{}/{dir}", t.name), l, b);
            }
            for (reason, n) in &t.drops {
                let l = with(l.clone(), "reason", reason);
                advance(&self.gre_drops, format!("d/{}/{reason}", t.name), l, *n);
            }
        }
        for p in pools {
            let l = vec![("pool".to_string(), p.name.clone())];
            advance(
                &self.snat_exhausted,
                format!("x/{}", p.name),
                l.clone(),
                p.exhausted,
            );
            for a in &p.addresses {
                let l = with(l.clone(), "address", &a.address);
                for (proto, n) in [("tcp", a.tcp), ("udp", a.udp), ("icmp", a.icmp)] {
                    self.snat_ports
                        .get_or_create(&with(l.clone(), "protocol", proto))
                        .set(n as i64);
                }
            }
        }
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
        // The IPv6 path's drop reasons are labels like the rest.
        for reason in ["bad_payload_length", "extension_header"] {
            assert!(
                text.contains(&format!(
                    r#"appliance_dataplane_drops_total{{worker="1",reason="{reason}"}} 0"#
                )),
                "{text}"
            );
        }
        assert!(text.contains("appliance_dataplane_handoffs_total"));
    }

    #[test]
    fn gateway_metrics_follow_the_status() {
        use crate::dataplaned::gateway_status::{AddressStatus, PoolStatus, TunnelStatus};
        let m = Metrics::new("t");
        let mut d = DataplaneMetrics::register(&m);
        let mut t = TunnelStatus {
            name: "site-a".into(),
            rx_packets: 4,
            ..TunnelStatus::default()
        };
        t.drops.insert("too_big".into(), 1);
        let p = PoolStatus {
            name: "out".into(),
            exhausted: 2,
            addresses: vec![AddressStatus {
                address: "198.19.0.1".into(),
                udp: 3,
                ..AddressStatus::default()
            }],
            ..PoolStatus::default()
        };
        d.update_gateway(&[t.clone()], std::slice::from_ref(&p));
        t.rx_packets = 6;
        d.update_gateway(&[t], &[p]);
        let text = m.encode();
        for want in [
            r#"appliance_gre_packets_total{tunnel="site-a",direction="rx"} 6"#,
            r#"appliance_gre_drops_total{tunnel="site-a",reason="too_big"} 1"#,
            r#"appliance_snat_exhausted_total{pool="out"} 2"#,
            r#"appliance_snat_ports_in_use{pool="out",address="198.19.0.1",protocol="udp"} 3"#,
        ] {
            assert!(text.contains(want), "{want} not in {text}");
        }
    }
}
