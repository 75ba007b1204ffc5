//! Human views of `appctl gre` and `appctl snat`.

use std::fmt::Write;

use crate::dataplaned::gateway_status::{PoolStatus, TunnelStatus};

pub fn tunnels(list: &[TunnelStatus]) -> String {
    let mut o = String::new();
    if list.is_empty() {
        let _ = writeln!(o, "no GRE tunnels");
    }
    for t in list {
        // A site tunnel has no pool: its traffic is translated at the central end.
        let end = if t.role == "site" {
            "site".to_string()
        } else {
            format!("pool {}", t.pool.as_deref().unwrap_or("-"))
        };
        let _ = writeln!(
            o,
            "{} {} -> {}{} mtu {} {end}",
            t.name,
            t.remote,
            t.local,
            t.key.map(|k| format!(" key {k}")).unwrap_or_default(),
            t.mtu,
        );
        if !t.ipv6_prefixes.is_empty() {
            let _ = writeln!(o, "  IPv6 routed {}", t.ipv6_prefixes.join(" "));
        }
        if !t.nat64_sources.is_empty() {
            let _ = writeln!(o, "  IPv6 NAT64 from {}", t.nat64_sources.join(" "));
        }
        let _ = writeln!(
            o,
            "  in  {} packets {} bytes\n  out {} packets {} bytes",
            t.rx_packets, t.rx_bytes, t.tx_packets, t.tx_bytes
        );
        let _ = writeln!(
            o,
            "  frag-needed / packet-too-big sent {}, time-exceeded sent {}, MSS clamped {}",
            t.frag_needed_sent, t.time_exceeded_sent, t.mss_clamped
        );
        if !t.drops.is_empty() {
            let drops: Vec<String> = t.drops.iter().map(|(k, v)| format!("{k} {v}")).collect();
            let _ = writeln!(o, "  drops {}", drops.join(", "));
        }
    }
    o
}

pub fn pools(list: &[PoolStatus]) -> String {
    let mut o = String::new();
    if list.is_empty() {
        let _ = writeln!(o, "no SNAT pools");
    }
    for p in list {
        let _ = writeln!(
            o,
            "{} ports {} exhausted {}{}",
            p.name,
            p.ports,
            p.exhausted,
            if p.tunnels.is_empty() {
                String::new()
            } else {
                format!(" tunnels {}", p.tunnels.join(", "))
            }
        );
        for a in &p.addresses {
            let per: Vec<String> = a
                .per_worker
                .iter()
                .enumerate()
                .map(|(w, n)| format!("w{w} {n}"))
                .collect();
            let _ = writeln!(
                o,
                "  {} tcp {} udp {} icmp {} ({})",
                a.address,
                a.tcp,
                a.udp,
                a.icmp,
                per.join(", ")
            );
        }
    }
    o
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::dataplaned::gateway_status::AddressStatus;

    #[test]
    fn one_block_per_tunnel_and_pool() {
        let mut t = TunnelStatus {
            name: "site-a".into(),
            local: "198.18.8.1".into(),
            remote: "198.18.8.10".into(),
            key: Some(100),
            mtu: 1400,
            pool: Some("internet".into()),
            rx_packets: 5,
            ..TunnelStatus::default()
        };
        t.drops.insert("too_big".into(), 2);
        let text = tunnels(&[t]);
        assert!(
            text.starts_with("site-a 198.18.8.10 -> 198.18.8.1 key 100 mtu 1400 pool internet\n"),
            "{text}"
        );
        assert!(text.contains("  in  5 packets"), "{text}");
        assert!(text.contains("  drops too_big 2"), "{text}");
        let site = TunnelStatus {
            name: "to-central".into(),
            local: "198.18.8.10".into(),
            remote: "198.18.8.1".into(),
            mtu: 1400,
            role: "site".into(),
            ..TunnelStatus::default()
        };
        assert!(
            tunnels(&[site]).starts_with("to-central 198.18.8.1 -> 198.18.8.10 mtu 1400 site\n"),
            "{}",
            tunnels(&[TunnelStatus::default()])
        );
        let p = PoolStatus {
            name: "internet".into(),
            ports: "1024-65535".into(),
            exhausted: 3,
            tunnels: vec!["site-a".into()],
            addresses: vec![AddressStatus {
                address: "198.19.0.1".into(),
                tcp: 1,
                udp: 2,
                icmp: 0,
                per_worker: vec![1, 2],
            }],
        };
        let text = pools(&[p]);
        assert_eq!(
            text,
            "internet ports 1024-65535 exhausted 3 tunnels site-a\n  198.19.0.1 tcp 1 udp 2 icmp 0 (w0 1, w1 2)\n"
        );
        assert_eq!(pools(&[]), "no SNAT pools\n");
    }
}
