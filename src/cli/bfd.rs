//! What `appctl bfd` prints.

use std::fmt::Write;
use std::time::{SystemTime, UNIX_EPOCH};

use crate::bfdd::{BfdSessionStatus, BfdStatus};

use super::render::duration_ms;

/// Microseconds as milliseconds, without trailing zeros ("50", "37.5").
fn ms(us: u64) -> String {
    if us % 1000 == 0 {
        format!("{}ms", us / 1000)
    } else {
        let n = format!("{:.3}", us as f64 / 1000.0);
        format!("{}ms", n.trim_end_matches('0'))
    }
}

fn ago(unix_ms: Option<u64>) -> String {
    let now = SystemTime::now()
        .duration_since(UNIX_EPOCH)
        .unwrap_or_default()
        .as_millis() as u64;
    unix_ms
        .map(|t| format!("{} ago", duration_ms(now.saturating_sub(t))))
        .unwrap_or_else(|| "never".into())
}

fn session(o: &mut String, s: &BfdSessionStatus) {
    let _ = writeln!(
        o,
        "{:<28} {:<10} remote {:<10} since {}",
        s.peer,
        s.state.to_uppercase(),
        s.remote_state,
        ago(s.last_state_change_unix_ms)
    );
    let local = match (&s.local_address, s.source_port) {
        (Some(a), Some(p)) => format!("{a} port {p}"),
        (Some(a), None) => a.clone(),
        (None, Some(p)) => format!("(by route) port {p}"),
        (None, None) => "(by route)".into(),
    };
    let _ = writeln!(o, "  local {local}");
    let _ = writeln!(
        o,
        "  discriminators {:#010x} / {:#010x}   diag {} / remote {}",
        s.local_discriminator, s.remote_discriminator, s.local_diag, s.remote_diag
    );
    let _ = writeln!(
        o,
        "  configured {} x{}{}   tx every {}   detection {}{}",
        ms(s.interval_us),
        s.multiplier,
        s.auth
            .as_ref()
            .map(|a| format!(" auth {a}"))
            .unwrap_or_default(),
        ms(s.tx_interval_us),
        s.detection_time_us.map(ms).unwrap_or_else(|| "-".into()),
        if s.polling { "   (polling)" } else { "" }
    );
    if s.remote_multiplier > 0 {
        let _ = writeln!(
            o,
            "  remote min tx {} min rx {} x{}",
            ms(s.remote_min_tx_us),
            ms(s.remote_min_rx_us),
            s.remote_multiplier
        );
    }
    let _ = writeln!(
        o,
        "  packets in {} out {}   up {} down {}   polls {}{}",
        s.packets_in,
        s.packets_out,
        s.up_transitions,
        s.down_transitions,
        s.polls_completed,
        if s.send_errors > 0 {
            format!("   send errors {}", s.send_errors)
        } else {
            String::new()
        }
    );
    if !s.discards.is_empty() {
        let d: Vec<String> = s.discards.iter().map(|(r, n)| format!("{r} {n}")).collect();
        let _ = writeln!(o, "  discarded {}", d.join(", "));
    }
    if let Some(e) = &s.error {
        let _ = writeln!(o, "  error: {e}");
    }
}

/// `appctl bfd`: every session, then what no session took.
pub fn bfd(b: &BfdStatus) -> String {
    let mut o = String::new();
    if b.sessions.is_empty() {
        let _ = writeln!(o, "no BFD sessions (no [[bgp.neighbor]] has `bfd`)");
    }
    for s in &b.sessions {
        session(&mut o, s);
    }
    if !b.unmatched_discards.is_empty() {
        let d: Vec<String> = b
            .unmatched_discards
            .iter()
            .map(|(r, n)| format!("{r} {n}"))
            .collect();
        let _ = writeln!(o, "\nno session for {}", d.join(", "));
    }
    o
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn renders_a_session() {
        let s = BfdSessionStatus {
            peer: "198.18.1.1".into(),
            local_address: Some("198.18.1.2".into()),
            source_port: Some(49200),
            state: "up".into(),
            remote_state: "up".into(),
            local_diag: "none".into(),
            remote_diag: "none".into(),
            local_discriminator: 0x1234,
            remote_discriminator: 0xabcd,
            interval_us: 50_000,
            multiplier: 3,
            tx_interval_us: 37_500,
            detection_time_us: Some(150_000),
            remote_multiplier: 3,
            remote_min_rx_us: 50_000,
            remote_min_tx_us: 50_000,
            packets_in: 10,
            packets_out: 11,
            discards: [("ttl".to_string(), 2)].into_iter().collect(),
            ..Default::default()
        };
        let out = bfd(&BfdStatus {
            sessions: vec![s],
            unmatched_discards: [("no_session".to_string(), 1)].into_iter().collect(),
        });
        assert!(out.contains("198.18.1.1"), "{out}");
        assert!(out.contains("UP"), "{out}");
        assert!(out.contains("198.18.1.2 port 49200"), "{out}");
        assert!(out.contains("0x00001234 / 0x0000abcd"), "{out}");
        assert!(out.contains("tx every 37.5ms   detection 150ms"), "{out}");
        assert!(out.contains("discarded ttl 2"), "{out}");
        assert!(out.contains("no session for no_session 1"), "{out}");
    }
}
