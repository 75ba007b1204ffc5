//! Human views of the status model and events: compact, aligned, one line per object.

use std::fmt::Write;

use crate::events::{rfc3339_ms, Event};
use crate::status::{CheckView, Status};

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
    if !st.vrrp.is_empty() {
        let _ = writeln!(o, "\nvrrp");
        for v in &st.vrrp {
            vrrp_line(&mut o, v);
        }
    }
    if !st.checks.is_empty() {
        let _ = writeln!(o, "\nchecks");
        for c in &st.checks {
            let _ = writeln!(o, "{}", check_line(c));
        }
    }
    if let Some(b) = &st.bgp {
        super::bgp::summary(&mut o, b);
    }
    o
}

fn vrrp_line(o: &mut String, v: &crate::status::VrrpInstanceStatus) {
    let prio = if v.effective_priority == v.base_priority {
        format!("{}", v.base_priority)
    } else {
        format!("{}/{}", v.effective_priority, v.base_priority)
    };
    let master = match (v.state, &v.master_address) {
        (crate::vrrpd::VrrpState::Master, _) => "self".to_string(),
        (_, Some(m)) => m.clone(),
        _ => "-".to_string(),
    };
    let since = v
        .last_transition_unix_ms
        .map(|t| {
            format!(
                "since {} ({})",
                rfc3339_ms(t),
                v.last_transition_reason.as_deref().unwrap_or("")
            )
        })
        .unwrap_or_default();
    let _ = writeln!(
        o,
        "  {:<10} {:<6} vrid {:<3} {:<10} prio {:<7} every {}ms  master {}  {}",
        v.name,
        v.interface,
        v.vrid,
        v.state.as_str().to_uppercase(),
        prio,
        v.advert_interval_ms,
        master,
        since
    );
    let mut extra = Vec::new();
    extra.push(format!("vips {}", v.virtual_addresses.join(", ")));
    if let Some(m) = &v.virtual_mac {
        extra.push(format!("vmac {m}"));
    }
    if let Some(g) = &v.sync_group {
        extra.push(format!("sync group {g}"));
    }
    if let Some(f) = &v.fault {
        extra.push(format!("FAULT: {f}"));
    }
    if let Some(p) = &v.split_brain_peer {
        extra.push(format!("SPLIT BRAIN with {p}"));
    }
    let _ = writeln!(o, "  {:<10} {}", "", extra.join("  "));
}

/// `appctl vrrp`: the instances with their RFC 6527 counters.
pub fn vrrp(st: &Status) -> String {
    let mut o = String::new();
    if st.vrrp.is_empty() {
        o.push_str("no VRRP instances configured\n");
    }
    for v in &st.vrrp {
        vrrp_line(&mut o, v);
        let c = &v.counters;
        let _ = writeln!(
            o,
            "  {:<10} timers: master_adver_interval {}ms skew {:.2}ms master_down {:.2}ms",
            "", v.master_adver_interval_ms, v.skew_time_ms, v.master_down_interval_ms
        );
        let _ = writeln!(
            o,
            "  {:<10} adverts sent {} received {}  master transitions {} (last reason: {})",
            "",
            c.sent_advertisements,
            c.rcvd_advertisements,
            c.master_transitions,
            c.new_master_reason
        );
        let _ = writeln!(
            o,
            "  {:<10} priority 0 sent {} received {}  errors: ttl {} interval {} address list {} length {} type {} checksum {} version {} vrid {} unknown source {} invalid source {} destination {}",
            "",
            c.sent_pri_zero_packets,
            c.rcvd_pri_zero_packets,
            c.ip_ttl_errors,
            c.adv_interval_errors,
            c.address_list_errors,
            c.packet_length_errors,
            c.rcvd_invalid_type_packets,
            c.checksum_errors,
            c.version_errors,
            c.vrid_errors,
            c.unknown_source_errors,
            c.invalid_source_errors,
            c.destination_errors
        );
    }
    o
}

/// One line per check: what it probes, its state and, when down, why.
fn check_line(c: &CheckView) -> String {
    let mut line = format!(
        "  {:<12} {:<5} {:<24} {:<7}",
        c.name,
        c.kind,
        c.target,
        c.state.to_uppercase()
    );
    if c.override_state != "auto" {
        let _ = write!(
            line,
            " override {} (probes: {})",
            c.override_state, c.health
        );
    }
    if let Some(ms) = c.latency_ms {
        let _ = write!(line, " {ms:.1}ms");
    }
    if let Some(w) = c.weight {
        let _ = write!(line, " weight {w}");
    }
    if c.state != "up" {
        if let Some(e) = &c.last_error {
            let _ = write!(line, "  {e}");
        }
    }
    line
}

/// `appctl health`: every check in detail.
pub fn health(checks: &[CheckView]) -> String {
    if checks.is_empty() {
        return "no health checks configured\n".into();
    }
    let mut o = String::new();
    for (i, c) in checks.iter().enumerate() {
        if i > 0 {
            o.push('\n');
        }
        let _ = writeln!(o, "{} ({} {})", c.name, c.kind, c.target);
        let since = c
            .last_change_unix_ms
            .map(|t| format!(" since {}", rfc3339_ms(t)))
            .unwrap_or_default();
        let _ = writeln!(
            o,
            "  state       {}{}  (probes: {}, override: {})",
            c.state, since, c.health, c.override_state
        );
        let last = match (&c.last_result, c.latency_ms) {
            (Some(r), Some(ms)) => format!(
                "{r} in {ms:.1} ms{}",
                c.last_detail
                    .as_deref()
                    .map(|d| format!(": {d}"))
                    .unwrap_or_default()
            ),
            _ => "no probe yet".into(),
        };
        let _ = writeln!(o, "  last probe  {last}");
        let _ = writeln!(
            o,
            "  streak      {} ok, {} failed  (rise {}, fall {}, every {})",
            c.consecutive_ok,
            c.consecutive_fail,
            c.rise,
            c.fall,
            crate::config::ConfigDuration::from_millis(c.interval_ms)
        );
        let k = &c.counters;
        let _ = writeln!(
            o,
            "  counters    probes {}, ok {}, failed {}, timeouts {}, transitions {}",
            k.probes, k.successes, k.failures, k.timeouts, k.transitions
        );
        if let Some(e) = &c.last_error {
            let _ = writeln!(o, "  last error  {e}");
        }
        if let Some(w) = c.weight {
            let _ = writeln!(o, "  weight      {w}");
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
