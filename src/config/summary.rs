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
    if let Some(dp) = &cfg.dataplane {
        let _ = writeln!(
            s,
            "dataplane   {} worker(s), {} queue(s) on {}",
            dp.workers,
            dp.queues,
            dp.interfaces.join(", ")
        );
    }
    let _ = writeln!(s, "services    {}", cfg.service.len());
    for svc in &cfg.service {
        let _ = writeln!(
            s,
            "  {:<12} {}:{}/{} {}, {} backend(s)",
            svc.name,
            svc.vip,
            svc.port,
            svc.protocol.name(),
            svc.scheduler.name(),
            svc.backends.len()
        );
    }
    s
}
