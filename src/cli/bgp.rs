//! What `appctl bgp` prints, and the BGP part of `appctl status`.

use std::fmt::Write;

use crate::bgpd::{BgpStatus, PeerStatus};

use super::render::duration_ms;

fn peer_line(o: &mut String, p: &PeerStatus) {
    let up = p
        .uptime_ms
        .map(|u| format!("up {}", duration_ms(u)))
        .unwrap_or_else(|| "-".into());
    let _ = writeln!(
        o,
        "  {:<28} AS {:<10} {:<12} {:<14} prefixes {}",
        p.address,
        p.remote_as,
        p.state.to_uppercase(),
        up,
        p.prefixes_advertised
    );
}

/// The compact part of `appctl status`.
pub fn summary(o: &mut String, b: &BgpStatus) {
    let _ = writeln!(o, "\nbgp  AS {}  router id {}", b.local_as, b.router_id);
    for p in &b.peers {
        peer_line(o, p);
    }
    for p in &b.prefixes {
        let _ = writeln!(
            o,
            "  {:<28} {:<10} {}",
            p.prefix,
            if p.announced {
                "announced"
            } else {
                "withdrawn"
            },
            p.reason
        );
    }
}

/// `appctl bgp`: peers with their negotiated session and prefixes with the reason.
pub fn bgp(b: &BgpStatus) -> String {
    let mut o = String::new();
    let _ = writeln!(o, "local AS {}  router id {}", b.local_as, b.router_id);
    let _ = writeln!(o, "\npeers");
    for p in &b.peers {
        peer_line(&mut o, p);
        let mut caps = Vec::new();
        if let Some(h) = p.hold_time {
            caps.push(format!("hold {h}s"));
        }
        if !p.families.is_empty() {
            caps.push(p.families.join(","));
        }
        if p.four_octet_as {
            caps.push("as4".into());
        }
        if p.route_refresh {
            caps.push("route-refresh".into());
        }
        if p.peer_graceful_restart {
            caps.push("peer-gr".into());
        }
        if p.md5 {
            caps.push("md5".into());
        }
        if let Some(b) = &p.bfd {
            caps.push(format!("bfd {b}"));
        }
        if p.bfd_teardowns > 0 {
            caps.push(format!("bfd teardowns {}", p.bfd_teardowns));
        }
        if !caps.is_empty() {
            let _ = writeln!(o, "  {:<28} {}", "", caps.join("  "));
        }
        if let Some(n) = &p.last_notification_sent {
            let _ = writeln!(o, "  {:<28} last NOTIFICATION sent: {n}", "");
        }
        if let Some(n) = &p.last_notification_received {
            let _ = writeln!(o, "  {:<28} last NOTIFICATION received: {n}", "");
        }
        if let Some(e) = &p.last_error {
            let _ = writeln!(o, "  {:<28} last error: {e}", "");
        }
    }
    let _ = writeln!(o, "\nprefixes");
    for p in &b.prefixes {
        let _ = writeln!(
            o,
            "  {:<28} {:<10} {}",
            p.prefix,
            if p.announced {
                "announced"
            } else {
                "withdrawn"
            },
            p.reason
        );
    }
    if !b.drained.is_empty() {
        let _ = writeln!(o, "\ndrained: {}", b.drained.join(", "));
    }
    o
}
