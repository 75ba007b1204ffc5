//! The status model: what `appctl status` shows, as stable JSON. Each subsystem owns one part
//! and publishes it; the control socket assembles the parts on request.

use serde::{Deserialize, Serialize};

/// Bumped only on incompatible changes; fields are only ever added.
pub const STATUS_SCHEMA: u32 = 1;

#[derive(Debug, Clone, Default, PartialEq, Serialize, Deserialize)]
pub struct Status {
    pub schema: u32,
    pub daemon: DaemonStatus,
    #[serde(default)]
    pub interfaces: Vec<InterfaceStatus>,
    #[serde(default)]
    pub metrics: MetricsStatus,
    /// Health checks, by name.
    #[serde(default)]
    pub checks: Vec<CheckView>,
}

#[derive(Debug, Clone, Default, PartialEq, Serialize, Deserialize)]
pub struct DaemonStatus {
    pub node: String,
    pub version: String,
    pub pid: u32,
    pub started_unix_ms: u64,
    pub uptime_ms: u64,
    pub config_path: String,
    /// 1 for the file loaded at start, +1 for every successful reload.
    pub config_generation: u64,
    pub config_loaded_unix_ms: u64,
    #[serde(default)]
    pub last_reload: Option<ReloadOutcome>,
    /// Sequence number of the newest event.
    pub last_event_seq: u64,
    /// Kernel objects found from a crashed earlier run and removed at start.
    pub leftovers_removed: u64,
}

#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct ReloadOutcome {
    pub unix_ms: u64,
    pub ok: bool,
    #[serde(default)]
    pub error: Option<String>,
}

#[derive(Debug, Clone, Default, PartialEq, Serialize, Deserialize)]
pub struct InterfaceStatus {
    pub name: String,
    #[serde(default)]
    pub description: Option<String>,
    /// Whether the kernel has a link of this name in the daemon's namespace.
    pub present: bool,
    pub index: u32,
    /// `up`, `down`, `lowerlayerdown`, `unknown`, ... as the kernel reports operstate.
    pub oper_state: String,
    pub mac: String,
    pub mtu: u32,
    /// Configured static addresses and whether each is installed now.
    #[serde(default)]
    pub static_addresses: Vec<ManagedAddress>,
}

#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct ManagedAddress {
    pub address: String,
    /// `installed`, `pending` (interface absent), `foreign` (already present, left alone),
    /// or `failed: <reason>`.
    pub state: String,
}

#[derive(Debug, Clone, Default, PartialEq, Serialize, Deserialize)]
pub struct MetricsStatus {
    #[serde(default)]
    pub listen: Option<String>,
}

/// One health check as `appctl status` / `appctl health` show it.
#[derive(Debug, Clone, Default, PartialEq, Serialize, Deserialize)]
pub struct CheckView {
    pub name: String,
    /// `tcp`, `http`, `https`, `udp`, `icmp`, `dns`, `exec` or `file`.
    #[serde(rename = "type")]
    pub kind: String,
    /// The address probed, the command run or the file read.
    pub target: String,
    /// Effective state, what VRRP/BGP/pools act on: `up`, `down` or `unknown`.
    pub state: String,
    /// The probes' verdict alone, ignoring any override.
    pub health: String,
    /// `auto`, `up` or `down` (set with `appctl health set`).
    #[serde(rename = "override")]
    pub override_state: String,
    pub consecutive_ok: u32,
    pub consecutive_fail: u32,
    /// `ok`, `fail` or `timeout`; none before the first probe.
    #[serde(default)]
    pub last_result: Option<String>,
    /// The last probe's detail text ("HTTP 200", "connection refused", ...).
    #[serde(default)]
    pub last_detail: Option<String>,
    #[serde(default)]
    pub latency_ms: Option<f64>,
    /// The latest failure's detail; kept after recovery, for diagnosis.
    #[serde(default)]
    pub last_error: Option<String>,
    /// When the effective state last changed; none if it never did.
    #[serde(default)]
    pub last_change_unix_ms: Option<u64>,
    #[serde(default)]
    pub weight: Option<i32>,
    pub interval_ms: u64,
    pub rise: u32,
    pub fall: u32,
    /// Since the check started or was last changed by a reload.
    pub counters: CheckCounters,
}

#[derive(Debug, Clone, Copy, Default, PartialEq, Eq, Serialize, Deserialize)]
pub struct CheckCounters {
    pub probes: u64,
    pub successes: u64,
    /// Every failed probe, timeouts included.
    pub failures: u64,
    pub timeouts: u64,
    pub transitions: u64,
}
