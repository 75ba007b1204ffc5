//! The reload's plan: from the running and the new configuration, every change and what the
//! daemon does about it (applied in place, restarted, added, removed, or used from the next
//! start). Each subsystem decides for its own section in its `reload_plan`; this only gathers
//! them, in start order, and adds the supervisor's own keys. Pure: it runs before the new
//! configuration is handed to anyone, and is what `appctl reload` prints.

use crate::config::{diff, Config};
use crate::control::protocol::{ReloadAction, ReloadChange};

pub fn plan(old: &Config, new: &Config) -> Vec<ReloadChange> {
    let mut out = Vec::new();
    let mut add = |subsystem: &str, changes: Vec<(String, ReloadAction, String)>| {
        out.extend(
            changes
                .into_iter()
                .map(|(object, action, what)| ReloadChange {
                    subsystem: subsystem.into(),
                    object,
                    action,
                    what,
                }),
        );
    };
    add("daemon", daemon(old, new));
    add(
        "interfaces",
        crate::interfaces::reload_plan(&old.interfaces, &new.interfaces),
    );
    add(
        "health",
        crate::healthd::reload_plan::reload_plan(&old.checks, &new.checks),
    );
    add(
        "vrrp",
        crate::vrrpd::reload_plan::reload_plan(&old.vrrp, &new.vrrp),
    );
    add(
        "bgp",
        crate::bgpd::reload_plan::reload_plan(old.bgp.as_ref(), new.bgp.as_ref()),
    );
    add("bfd", crate::bfdd::reload_plan(old, new));
    add(
        "dataplane",
        crate::dataplaned::reload_plan::reload_plan(old, new),
    );
    out
}

/// The supervisor's keys. `state_dir` and `control.socket` never get here: a reload that
/// changes them is refused (`reload::restart_only`).
fn daemon(old: &Config, new: &Config) -> Vec<(String, ReloadAction, String)> {
    let mut out = Vec::new();
    if old.daemon.shutdown_grace != new.daemon.shutdown_grace {
        out.push((
            "shutdown_grace".into(),
            ReloadAction::Applied,
            diff::summary(&old.daemon, &new.daemon, "changed"),
        ));
    }
    if old.daemon.node_name != new.daemon.node_name {
        // Status, events and metrics carry the name the daemon started with.
        out.push((
            "node_name".into(),
            ReloadAction::NextStart,
            diff::summary(&old.daemon, &new.daemon, "changed"),
        ));
    }
    if old.metrics != new.metrics {
        out.push((
            "metrics".into(),
            ReloadAction::Restarted,
            format!(
                "{}; the endpoint listens again",
                diff::summary(&old.metrics, &new.metrics, "changed")
            ),
        ));
    }
    out
}

#[cfg(test)]
mod tests {
    use std::path::Path;

    use super::*;
    use crate::config::parse_str;

    fn cfg(text: &str) -> Config {
        parse_str(text, Path::new("t.toml")).unwrap_or_else(|e| panic!("{e}"))
    }

    #[test]
    fn gathers_every_subsystem_in_order() {
        let old = cfg("[checks.web]\ntype = \"tcp\"\ntarget = \"198.18.0.2:80\"\n");
        let new = cfg("[daemon]\nshutdown_grace = \"9s\"\n\
             [checks.web]\ntype = \"tcp\"\ntarget = \"198.18.0.2:80\"\ninterval = \"3s\"\n\
             [bgp]\nlocal_as = 65001\nrouter_id = \"198.18.0.1\"\n");
        let p = plan(&old, &new);
        let short: Vec<(&str, &str, ReloadAction)> = p
            .iter()
            .map(|c| (c.subsystem.as_str(), c.object.as_str(), c.action))
            .collect();
        assert_eq!(
            short,
            vec![
                ("daemon", "shutdown_grace", ReloadAction::Applied),
                ("health", "web", ReloadAction::Applied),
                ("bgp", "speaker", ReloadAction::Added),
            ]
        );
        assert!(
            p[0].what.contains("shutdown_grace 5s → 9s"),
            "{}",
            p[0].what
        );
        assert!(plan(&new, &new).is_empty());
    }
}
