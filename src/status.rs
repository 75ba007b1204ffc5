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
    #[serde(default)]
    pub vrrp: Vec<VrrpInstanceStatus>,
    /// Health checks, by name.
    #[serde(default)]
    pub checks: Vec<CheckView>,
    /// The BGP speaker (absent without `[bgp]`).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub bgp: Option<crate::bgpd::BgpStatus>,
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

#[derive(Debug, Clone, Default, PartialEq, Serialize, Deserialize)]
pub struct VrrpInstanceStatus {
    pub name: String,
    pub interface: String,
    pub vrid: u8,
    /// `ipv4` or `ipv6`.
    pub family: String,
    /// `initialize`, `backup`, `master` or `fault`.
    pub state: crate::vrrpd::VrrpState,
    pub base_priority: u8,
    pub effective_priority: u8,
    /// Sum of the weights of failed trackers now applied.
    pub priority_adjustment: i32,
    #[serde(default)]
    pub master_address: Option<String>,
    #[serde(default)]
    pub master_priority: Option<u8>,
    pub advert_interval_ms: u64,
    /// Master_Adver_Interval: learned from the master's adverts while backup.
    pub master_adver_interval_ms: u64,
    pub skew_time_ms: f64,
    pub master_down_interval_ms: f64,
    #[serde(default)]
    pub last_transition_unix_ms: Option<u64>,
    #[serde(default)]
    pub last_transition_reason: Option<String>,
    /// Why the instance is in Fault (or cannot start), if it is.
    #[serde(default)]
    pub fault: Option<String>,
    /// Another master seen on the wire for this VRID while we are master.
    #[serde(default)]
    pub split_brain_peer: Option<String>,
    pub virtual_addresses: Vec<String>,
    #[serde(default)]
    pub virtual_mac: Option<String>,
    #[serde(default)]
    pub sync_group: Option<String>,
    pub counters: VrrpCounters,
}

/// RFC 6527 statistics of one instance plus a few operator counters.
#[derive(Debug, Clone, Default, PartialEq, Serialize, Deserialize)]
pub struct VrrpCounters {
    pub master_transitions: u64,
    pub new_master_reason: String,
    pub rcvd_advertisements: u64,
    pub sent_advertisements: u64,
    pub adv_interval_errors: u64,
    pub ip_ttl_errors: u64,
    pub rcvd_pri_zero_packets: u64,
    pub sent_pri_zero_packets: u64,
    pub rcvd_invalid_type_packets: u64,
    pub address_list_errors: u64,
    pub packet_length_errors: u64,
    pub checksum_errors: u64,
    pub version_errors: u64,
    pub vrid_errors: u64,
    pub unknown_source_errors: u64,
    /// Adverts from a source that is not a unicast address (0.0.0.0, broadcast, multicast, ::).
    #[serde(default)]
    pub invalid_source_errors: u64,
    /// Adverts to another destination than the instance's group (multicast instances).
    #[serde(default)]
    pub destination_errors: u64,
    pub proto_err_reason: String,
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
