//! Human views of `appctl dataplane`, `appctl service` and `appctl conntrack`.

use std::fmt::Write;

use crate::dataplaned::status::{ConntrackStatus, DataplaneStatus, ServiceStatus};

/// Counters worth a line of their own; the rest are in `--json`.
const SHOWN: [&str; 11] = [
    "rx_packets",
    "tx_packets",
    "new_flows",
    "handoffs",
    "passed",
    "icmp_translated",
    "nat64_to_ipv4",
    "nat64_to_ipv6",
    "conntrack_used",
    "conntrack_capacity",
    "conntrack_v6_used",
];

pub fn dataplane(s: &DataplaneStatus) -> String {
    let mut o = String::new();
    let _ = writeln!(
        o,
        "data plane  {} (snapshot {})",
        s.state, s.snapshot_generation
    );
    for i in &s.interfaces {
        let budget = i
            .tx_budget
            .map_or(String::new(), |b| format!(" tx_budget {b}"));
        let _ = writeln!(
            o,
            "  {:<12} {} xdp {} queues {}{budget}",
            i.name, i.mac, i.xdp_mode, i.queues
        );
    }
    if let Some(off) = &s.offload {
        let _ = match &off.reason {
            Some(r) => writeln!(o, "offload {} ({r})", off.mode),
            None if off.mode == "xdp" => writeln!(
                o,
                "offload xdp  rules {} of {}  forwarded {} packets {} bytes  installed {} withdrawn {} failed {} flushes {}",
                off.rules,
                off.table_size,
                off.forwarded_packets,
                off.forwarded_bytes,
                off.installed,
                off.withdrawn,
                off.failed,
                off.flushes
            ),
            None => writeln!(o, "offload {}", off.mode),
        };
        let to_worker: Vec<String> = off
            .to_worker
            .iter()
            .filter(|(_, v)| **v > 0)
            .map(|(k, v)| format!("{k} {v}"))
            .collect();
        if !to_worker.is_empty() {
            let _ = writeln!(o, "  to the workers: {}", to_worker.join("  "));
        }
    }
    for w in &s.workers {
        let cpu = w.cpu.map_or("-".to_string(), |c| c.to_string());
        let _ = writeln!(
            o,
            "worker {} cpu {cpu} sockets {}",
            w.id,
            w.sockets.join(" ")
        );
        let shown: Vec<String> = SHOWN
            .iter()
            .map(|k| format!("{k} {}", w.counters.get(*k).copied().unwrap_or(0)))
            .collect();
        let _ = writeln!(o, "  {}", shown.join("  "));
        let drops: Vec<String> = w
            .counters
            .iter()
            .filter(|(k, v)| k.starts_with("drops_") && **v > 0)
            .map(|(k, v)| format!("{} {v}", &k[6..]))
            .collect();
        if !drops.is_empty() || w.handoff_ring_full + w.tx_ring_full + w.socket_drops > 0 {
            let _ = writeln!(
                o,
                "  drops: {} handoff_ring_full {} tx_ring_full {} socket {} (rx_ring_full {} no_fill {})",
                drops.join(" "),
                w.handoff_ring_full,
                w.tx_ring_full,
                w.socket_drops,
                w.socket_rx_ring_full,
                w.socket_rx_dropped
            );
        }
    }
    if !s.unresolved_neighbours.is_empty() {
        let _ = writeln!(
            o,
            "unresolved neighbours: {}",
            s.unresolved_neighbours.join(" ")
        );
    }
    o
}

/// `address:port`, an IPv6 address in brackets (RFC 5952, 6).
fn endpoint(address: &str, port: u16) -> String {
    if address.contains(':') {
        format!("[{address}]:{port}")
    } else {
        format!("{address}:{port}")
    }
}

pub fn services(list: &[ServiceStatus]) -> String {
    let mut o = String::new();
    if list.is_empty() {
        o.push_str("no services\n");
    }
    for s in list {
        let _ = writeln!(
            o,
            "{} {}/{} {} {}{}",
            s.name,
            endpoint(&s.vip, s.port),
            s.protocol,
            match s.mode.as_str() {
                "" => "nat",
                "nat64" => "fullnat/nat64",
                m => m,
            },
            s.scheduler,
            if s.persistence_ms > 0 {
                format!(" persistence {} ms", s.persistence_ms)
            } else {
                String::new()
            }
        );
        for b in &s.backends {
            let _ = writeln!(
                o,
                "  {} weight {} {} flows {}{}",
                endpoint(&b.address, b.port),
                b.weight,
                if b.up { "up" } else { "down" },
                b.active_flows,
                b.check
                    .as_ref()
                    .map(|c| format!(" check {c}"))
                    .unwrap_or_default()
            );
        }
    }
    o
}

pub fn conntrack(c: &ConntrackStatus) -> String {
    let mut o = String::new();
    let _ = writeln!(o, "flows {} of {}", c.used, c.capacity);
    if c.capacity_v6 > 0 {
        let _ = writeln!(o, "ipv6 flows {} of {}", c.used_v6, c.capacity_v6);
    }
    for f in &c.flows {
        // IPv6 entries keep no packet count.
        let packets = if f.client.starts_with('[') {
            String::new()
        } else {
            format!(" packets {}", f.packets)
        };
        let _ = writeln!(
            o,
            "  w{} proto {} {}{}{} -> {} -> {} {} idle {} ms{}{}{}",
            f.worker,
            f.protocol,
            f.tunnel
                .as_ref()
                .map(|t| format!("[{t}] "))
                .unwrap_or_default(),
            f.client,
            f.source
                .as_ref()
                .map(|s| format!(" as {s}"))
                .unwrap_or_default(),
            f.vip,
            f.backend,
            f.state,
            f.idle_ms,
            packets,
            if f.kind.is_empty() || f.kind == "nat" {
                String::new()
            } else {
                format!(" ({})", f.kind)
            },
            if f.offloaded { " offloaded" } else { "" }
        );
    }
    o
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::dataplaned::status::{BackendStatus, FlowStatus};

    #[test]
    fn ipv6_endpoints_are_bracketed() {
        let s = ServiceStatus {
            name: "web6".into(),
            vip: "2001:db8:30::1".into(),
            port: 80,
            protocol: "tcp".into(),
            scheduler: "round_robin".into(),
            persistence_ms: 0,
            mode: "nat".into(),
            backends: vec![BackendStatus {
                address: "2001:db8:21::2".into(),
                port: 8080,
                weight: 1,
                up: true,
                check: None,
                active_flows: 2,
            }],
        };
        let text = services(&[s]);
        assert!(
            text.starts_with("web6 [2001:db8:30::1]:80/tcp nat"),
            "{text}"
        );
        assert!(
            text.contains("  [2001:db8:21::2]:8080 weight 1 up flows 2"),
            "{text}"
        );
        let c = ConntrackStatus {
            used_v6: 1,
            capacity_v6: 16,
            flows: vec![FlowStatus {
                worker: 0,
                protocol: 6,
                client: "[2001:db8:20::2]:4000".into(),
                vip: "[2001:db8:30::1]:80".into(),
                backend: "[2001:db8:21::2]:8080".into(),
                state: "Established".into(),
                idle_ms: 5,
                packets: 0,
                kind: "nat".into(),
                source: None,
                tunnel: None,
                offloaded: false,
            }],
            ..ConntrackStatus::default()
        };
        let text = conntrack(&c);
        assert!(text.contains("ipv6 flows 1 of 16"), "{text}");
        assert!(text.contains("Established idle 5 ms\n"), "{text}");
    }
}
