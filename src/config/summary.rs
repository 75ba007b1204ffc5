//! The one-screen summary printed by `applianced check`.

use std::fmt::Write;

use super::Config;

pub fn summary(cfg: &Config) -> String {
    let mut s = String::new();
    let d = &cfg.daemon;
    let _ = writeln!(
        s,
        "node        {}",
        d.node_name.as_deref().unwrap_or("(host name)")
    );
    let _ = writeln!(s, "state dir   {}", d.state_dir.display());
    let _ = writeln!(s, "control     {}", cfg.control.socket.display());
    let _ = writeln!(
        s,
        "metrics     {}",
        cfg.metrics
            .listen
            .map(|a| format!("http://{a}/metrics"))
            .unwrap_or_else(|| "off".into())
    );
    let _ = writeln!(s, "shutdown    grace {}", d.shutdown_grace);
    let _ = writeln!(s, "interfaces  {}", cfg.interfaces.len());
    for (name, i) in &cfg.interfaces {
        let addrs: Vec<String> = i.static_addresses.iter().map(|a| a.to_string()).collect();
        let _ = writeln!(
            s,
            "  {name:<12} {}{}",
            if addrs.is_empty() {
                "no static addresses".to_string()
            } else {
                format!("static {}", addrs.join(", "))
            },
            i.description
                .as_deref()
                .map(|d| format!("  ({d})"))
                .unwrap_or_default()
        );
    }
    if !cfg.vrrp.instance.is_empty() {
        let _ = writeln!(s, "vrrp        {} instance(s)", cfg.vrrp.instance.len());
        for i in &cfg.vrrp.instance {
            let vips: Vec<String> = i.virtual_addresses.iter().map(|a| a.to_string()).collect();
            let _ = writeln!(
                s,
                "  {:<12} {} vrid {:<3} prio {:<3} every {:<6} {}{}",
                i.name,
                i.interface,
                i.vrid,
                i.priority,
                i.advert_interval.to_string(),
                vips.join(", "),
                if i.virtual_mac { "  (virtual MAC)" } else { "" }
            );
        }
        for g in &cfg.vrrp.sync_group {
            let _ = writeln!(s, "  sync group {}: {}", g.name, g.instances.join(", "));
        }
    }
    let _ = writeln!(s, "checks      {}", cfg.checks.len());
    for (name, c) in &cfg.checks {
        let timeout = c.timeout.unwrap_or(c.interval);
        let _ = writeln!(
            s,
            "  {name:<12} {:<5} {}  every {}, timeout {timeout}, rise {} fall {}, starts {}",
            c.kind.as_str(),
            c.describe_target(),
            c.interval,
            c.rise,
            c.fall,
            match c.initial {
                health::Initial::Up => "up",
                health::Initial::Down => "down",
                health::Initial::Unknown => "unknown",
            }
        );
    }
    if let Some(dp) = &cfg.dataplane {
        let _ = writeln!(
            s,
            "dataplane   {} worker(s), {} queue(s) on {}",
            dp.workers,
            dp.queues,
            dp.interfaces.join(", ")
        );
    }
    for b in &cfg.bond {
        let _ = writeln!(s, "bond        {}", super::bond::describe(b));
    }
    let _ = writeln!(s, "services    {}", cfg.service.len());
    for svc in &cfg.service {
        let _ = writeln!(
            s,
            "  {:<12} {}/{} {}, {} backend(s){}",
            svc.name,
            std::net::SocketAddr::new(svc.vip, svc.port),
            svc.protocol.name(),
            svc.scheduler.name(),
            svc.backends.len(),
            svc.pool
                .as_deref()
                .map(|p| format!(", fullnat via pool {p}"))
                .unwrap_or_default()
        );
    }
    super::gateway::summary(&mut s, &cfg.gre, &cfg.snat);
    if let Some(b) = &cfg.bgp {
        super::bgp::summary(&mut s, b);
    }
    s
}
