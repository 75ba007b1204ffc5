//! Human views of `appctl gre` and `appctl snat`.

use std::fmt::Write;

use crate::fastpath::gateway_status::{PoolStatus, TunnelStatus};

pub fn tunnels(list: &[TunnelStatus]) -> String {
    let mut o = String::new();
    if list.is_empty() {
        let _ = writeln!(o, "no GRE tunnels");
    }
    for t in list {
        let _ = writeln!(
            o,
            "{} {} -> {}{} mtu {} pool {}",
            t.name,
            t.remote,
            t.local,
            t.key.map(|k| format!(" key {k}")).unwrap_or_default(),
            t.mtu,
            t.pool.as_deref().unwrap_or("-")
        );
        let _ = writeln!(
            o,
            "  in  {} packets {} bytes\n  out {} packets {} bytes",
            t.rx_packets, t.rx_bytes, t.tx_packets, t.tx_bytes
        );
        let _ = writeln!(
            o,
            "  frag-needed sent {}, MSS clamped {}",
            t.frag_needed_sent, t.mss_clamped
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
