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
    super::dataplane::validate(
        cfg.dataplane.as_ref(),
        &cfg.service,
        &cfg.interfaces,
        &mut issues,
    );
    issues
}
