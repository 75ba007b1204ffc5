//! `[daemon]`, `[control]` and `[metrics]`: the sections the process itself owns.

use std::net::SocketAddr;
use std::path::PathBuf;

use serde::{Deserialize, Serialize};

use super::locate::KeyPath;
use super::types::ConfigDuration;
use super::validate::Issues;

pub const DEFAULT_CONFIG_PATH: &str = "/etc/appliance/appliance.toml";
pub const DEFAULT_SOCKET: &str = "/run/appliance/appctl.sock";
pub const DEFAULT_STATE_DIR: &str = "/run/appliance";

#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct DaemonConfig {
    /// Name of this node in status, events and metrics; the host name when absent.
    #[serde(default)]
    pub node_name: Option<String>,
    /// Where the daemon keeps its pid lock and the ledger of kernel objects it created.
    #[serde(default = "default_state_dir")]
    pub state_dir: PathBuf,
    /// How long subsystems get to finish (withdraw routes, resign mastership) on SIGTERM.
    #[serde(default = "default_shutdown_grace")]
    pub shutdown_grace: ConfigDuration,
}

fn default_state_dir() -> PathBuf {
    PathBuf::from(DEFAULT_STATE_DIR)
}

fn default_shutdown_grace() -> ConfigDuration {
    ConfigDuration::from_secs(5)
}

impl Default for DaemonConfig {
    fn default() -> Self {
        DaemonConfig {
            node_name: None,
            state_dir: default_state_dir(),
            shutdown_grace: default_shutdown_grace(),
        }
    }
}

#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct ControlConfig {
    /// Unix socket that `appctl` talks to; created with mode 0600.
    #[serde(default = "default_socket")]
    pub socket: PathBuf,
}

fn default_socket() -> PathBuf {
    PathBuf::from(DEFAULT_SOCKET)
}

impl Default for ControlConfig {
    fn default() -> Self {
        ControlConfig {
            socket: default_socket(),
        }
    }
}

#[derive(Debug, Clone, Default, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct MetricsConfig {
    /// Address of the Prometheus text endpoint (`GET /metrics`); off when absent.
    #[serde(default)]
    pub listen: Option<SocketAddr>,
}

/// sun_path holds 108 bytes including the terminating NUL.
const SUN_PATH_MAX: usize = 107;
const MAX_GRACE_SECS: u64 = 300;

pub fn validate(d: &DaemonConfig, c: &ControlConfig, issues: &mut Issues) {
    let root = KeyPath::root();
    if let Some(name) = &d.node_name {
        if name.is_empty() || name.chars().any(|ch| ch.is_whitespace() || ch.is_control()) {
            issues.push(
                root.key("daemon").key("node_name"),
                "node name must be non-empty and contain no whitespace",
                Some("use a short host-like name such as \"lb1\"".into()),
            );
        }
    }
    if !d.state_dir.is_absolute() {
        issues.push(
            root.key("daemon").key("state_dir"),
            "state directory must be an absolute path",
            Some(format!("for example \"{DEFAULT_STATE_DIR}\"")),
        );
    }
    if d.shutdown_grace.get().as_secs() > MAX_GRACE_SECS {
        issues.push(
            root.key("daemon").key("shutdown_grace"),
            format!("shutdown grace of {} is too long", d.shutdown_grace),
            Some(format!(
                "at most {MAX_GRACE_SECS}s; a few seconds is typical"
            )),
        );
    }
    let sock = c.socket.as_os_str().len();
    if !c.socket.is_absolute() {
        issues.push(
            root.key("control").key("socket"),
            "control socket must be an absolute path",
            Some(format!("for example \"{DEFAULT_SOCKET}\"")),
        );
    } else if sock > SUN_PATH_MAX {
        issues.push(
            root.key("control").key("socket"),
            format!("socket path is {sock} bytes; Unix sockets allow at most {SUN_PATH_MAX}"),
            Some("choose a shorter path".into()),
        );
    }
}
