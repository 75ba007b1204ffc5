//! Human views of the status model and events: compact, aligned, one line per object.

use std::fmt::Write;

use crate::events::{rfc3339_ms, Event};
use crate::status::Status;

pub fn duration_ms(ms: u64) -> String {
    let s = ms / 1000;
    match s {
        0..=59 => format!("{}.{:01}s", s, (ms % 1000) / 100),
        60..=3599 => format!("{}m{:02}s", s / 60, s % 60),
        3600..=86_399 => format!("{}h{:02}m", s / 3600, (s / 60) % 60),
        _ => format!("{}d{:02}h", s / 86_400, (s / 3600) % 24),
    }
}

pub fn status(st: &Status) -> String {
    let mut o = String::new();
    let d = &st.daemon;
    let _ = writeln!(
        o,
        "node {}  applianced {}  pid {}  up {}",
        d.node,
        d.version,
        d.pid,
        duration_ms(d.uptime_ms)
    );
    let reload = match &d.last_reload {
        None => "none".to_string(),
        Some(r) if r.ok => format!("ok at {}", rfc3339_ms(r.unix_ms)),
        Some(r) => format!(
            "FAILED at {}: {}",
            rfc3339_ms(r.unix_ms),
            r.error
                .as_deref()
                .unwrap_or("")
                .lines()
                .next()
                .unwrap_or("")
        ),
    };
    let _ = writeln!(
        o,
        "config {} (generation {}, loaded {})  last reload: {}",
        d.config_path,
        d.config_generation,
        rfc3339_ms(d.config_loaded_unix_ms),
        reload
    );
    let _ = writeln!(
        o,
        "events {}  metrics {}{}",
        d.last_event_seq,
        st.metrics
            .listen
            .as_deref()
            .map(|l| format!("http://{l}/metrics"))
            .unwrap_or_else(|| "off".into()),
        if d.leftovers_removed > 0 {
            format!(
                "  removed {} leftover kernel object(s) at start",
                d.leftovers_removed
            )
        } else {
            String::new()
        }
    );
    if !st.interfaces.is_empty() {
        let _ = writeln!(o, "\ninterfaces");
        for i in &st.interfaces {
            let addrs: Vec<String> = i
                .static_addresses
                .iter()
                .map(|a| {
                    if a.state == "installed" {
                        a.address.clone()
                    } else {
                        format!("{} ({})", a.address, a.state)
                    }
                })
                .collect();
            let _ = writeln!(
                o,
                "  {:<12} {:<11} {}{}",
                i.name,
                i.oper_state,
                if i.present {
                    format!("index {:<3} {} mtu {}", i.index, i.mac, i.mtu)
                } else {
                    "-".into()
                },
                if addrs.is_empty() {
                    String::new()
                } else {
                    format!("  static {}", addrs.join(", "))
                }
            );
        }
    }
    o
}

pub fn event(e: &Event) -> String {
    let obj = if e.object.is_empty() {
        String::new()
    } else {
        format!(" {}", e.object)
    };
    format!(
        "{:>6} {} {}/{}{}: {}",
        e.seq, e.time, e.subsystem, e.kind, obj, e.message
    )
}
