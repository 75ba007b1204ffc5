//! The second pass: typed values are checked against each other (cross-references, ranges that
//! depend on other keys). Each section contributes its own checks; problems carry key paths that
//! `locate` turns into line and column.

use super::locate::KeyPath;
use super::Config;

#[derive(Debug, Clone)]
pub struct Issue {
    pub path: KeyPath,
    pub message: String,
    pub hint: Option<String>,
}

#[derive(Debug, Default)]
pub struct Issues(pub Vec<Issue>);

impl Issues {
    pub fn push(&mut self, path: KeyPath, message: impl Into<String>, hint: Option<String>) {
        self.0.push(Issue {
            path,
            message: message.into(),
            hint,
        });
    }
}

pub fn validate(cfg: &Config) -> Issues {
    let mut issues = Issues::default();
    super::daemon::validate(&cfg.daemon, &cfg.control, &mut issues);
    super::interfaces::validate(&cfg.interfaces, &mut issues);
    super::checks::validate(&cfg.checks, &mut issues);
    let check_names: Vec<&str> = cfg.checks.keys().map(String::as_str).collect();
    super::vrrp::validate(&cfg.vrrp, &cfg.interfaces, &check_names, &mut issues);
    super::dataplane::validate(
        cfg.dataplane.as_ref(),
        &cfg.service,
        &cfg.interfaces,
        &mut issues,
    );
    super::gateway::validate(
        &cfg.gre,
        &cfg.snat,
        &cfg.service,
        cfg.dataplane.is_some(),
        cfg.dataplane.as_ref().map_or(1, |d| d.workers),
        &mut issues,
    );
    // Backends that name a health check: the check must exist.
    for (i, svc) in cfg.service.iter().enumerate() {
        for (j, b) in svc.backends.iter().enumerate() {
            if let Some(name) = b.check.as_deref().filter(|n| !n.is_empty()) {
                let path = KeyPath::root()
                    .key("service")
                    .index(i)
                    .key("backends")
                    .index(j)
                    .key("check");
                super::checks::check_ref(&cfg.checks, name, path, &mut issues);
            }
        }
    }
    super::sync::validate(cfg.sync.as_ref(), cfg.dataplane.is_some(), &mut issues);
    super::bond::validate(cfg, &mut issues);
    // BGP announcements are gated by checks and VRRP instances declared elsewhere.
    let vrrp_names: Vec<&str> = cfg.vrrp.instance.iter().map(|i| i.name.as_str()).collect();
    super::bgp::validate(cfg.bgp.as_ref(), &check_names, &vrrp_names, &mut issues);
    if let Some(bgp) = &cfg.bgp {
        super::dataplane::check_anycast_state(&cfg.service, &bgp.announce, &mut issues);
    }
    issues
}
