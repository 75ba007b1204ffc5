//! What `appctl dataplane`, `appctl service` and `appctl conntrack` show, as stable JSON.

use std::collections::BTreeMap;

use serde::{Deserialize, Serialize};

#[derive(Debug, Clone, Default, PartialEq, Serialize, Deserialize)]
pub struct DataplaneStatus {
    /// `disabled` (no [dataplane]), `starting`, `running`, `failed: <reason>` or `stopped`.
    pub state: super::DataplaneState,
    pub snapshot_generation: u64,
    #[serde(default)]
    pub interfaces: Vec<InterfaceStatus>,
    #[serde(default)]
    pub workers: Vec<WorkerStatus>,
    /// Every worker's counters summed.
    #[serde(default)]
    pub totals: BTreeMap<String, u64>,
    /// Addresses the fast path needs a MAC for and the kernel has not resolved yet.
    #[serde(default)]
    pub unresolved_neighbours: Vec<String>,
    /// The established-flow offload (none before the data plane starts).
    #[serde(default)]
    pub offload: Option<super::offload::OffloadStatus>,
}

#[derive(Debug, Clone, Default, PartialEq, Serialize, Deserialize)]
pub struct InterfaceStatus {
    pub name: String,
    pub index: u32,
    pub mac: String,
    /// `native` or `generic` XDP.
    pub xdp_mode: String,
    pub queues: u32,
    /// Frames one copy-mode transmit kick sends (`XDP_MAX_TX_SKB_BUDGET`, Linux 6.17+);
    /// none where the kernel keeps its 32.
    #[serde(default)]
    pub tx_budget: Option<u32>,
}

#[derive(Debug, Clone, Default, PartialEq, Serialize, Deserialize)]
pub struct WorkerStatus {
    pub id: u16,
    pub cpu: Option<usize>,
    /// `interface:queue` of each socket.
    pub sockets: Vec<String>,
    pub counters: BTreeMap<String, u64>,
    /// Frames dropped because a handoff ring or a TX ring was full.
    pub handoff_ring_full: u64,
    pub tx_ring_full: u64,
    /// Kernel-side socket drops (`XDP_STATISTICS` rx_dropped + rx_ring_full), summed.
    pub socket_drops: u64,
    /// The two parts: the RX ring was full (the worker did not keep up), and the frame was
    /// dropped otherwise, in copy mode nearly always for want of a fill-ring buffer.
    #[serde(default)]
    pub socket_rx_ring_full: u64,
    #[serde(default)]
    pub socket_rx_dropped: u64,
}

#[derive(Debug, Clone, Default, PartialEq, Serialize, Deserialize)]
pub struct ServiceStatus {
    pub name: String,
    pub vip: String,
    pub port: u16,
    pub protocol: String,
    pub scheduler: String,
    pub persistence_ms: u32,
    /// `nat`, `fullnat`, `dr`, `tunnel` or `nat64` (FullNAT from an IPv6 VIP to IPv4
    /// backends).
    #[serde(default)]
    pub mode: String,
    pub backends: Vec<BackendStatus>,
}

#[derive(Debug, Clone, Default, PartialEq, Serialize, Deserialize)]
pub struct BackendStatus {
    pub address: String,
    pub port: u16,
    pub weight: u32,
    pub up: bool,
    #[serde(default)]
    pub check: Option<String>,
    /// Flows in the conntrack tables of all workers.
    pub active_flows: u64,
}

#[derive(Debug, Clone, Default, PartialEq, Serialize, Deserialize)]
pub struct FlowStatus {
    pub worker: u16,
    pub protocol: u8,
    pub client: String,
    pub vip: String,
    pub backend: String,
    pub state: String,
    pub idle_ms: u32,
    pub packets: u32,
    /// `nat`, `snat`, `fullnat`, `dr` or `tunnel`.
    #[serde(default)]
    pub kind: String,
    /// The translated source (SNAT and FullNAT), or a tunnel's outer source.
    #[serde(default)]
    pub source: Option<String>,
    /// The GRE tunnel the client is behind.
    #[serde(default)]
    pub tunnel: Option<String>,
    /// Whether the XDP program forwards the flow's packets on its own (established-flow
    /// offload); `packets` counts them too.
    #[serde(default)]
    pub offloaded: bool,
}

#[derive(Debug, Clone, Default, PartialEq, Serialize, Deserialize)]
pub struct ConntrackStatus {
    pub used: u64,
    pub capacity: u64,
    /// The IPv6 tables (one per worker, beside the IPv4 ones).
    #[serde(default)]
    pub used_v6: u64,
    #[serde(default)]
    pub capacity_v6: u64,
    /// Up to the requested number of flows, per worker in table order.
    pub flows: Vec<FlowStatus>,
}
