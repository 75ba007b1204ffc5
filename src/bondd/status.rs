//! What `appctl bond` shows: one entry per bond, rebuilt by the bond thread on every change
//! and every 200 ms (counters).

use serde::{Deserialize, Serialize};

#[derive(Debug, Clone, Default, PartialEq, Serialize, Deserialize)]
pub struct BondStatus {
    pub name: String,
    pub mode: String,
    pub xmit_hash: String,
    pub mac: String,
    /// The tap's interface index (the bond as the kernel sees it).
    pub ifindex: u32,
    /// At least `min_links` members carry traffic.
    pub up: bool,
    pub min_links: u16,
    /// Active-backup: the member that carries the bond.
    #[serde(default)]
    pub active: Option<String>,
    /// Active-backup: how many times the active member changed.
    pub failovers: u64,
    /// 802.3ad: this system and the selected aggregator.
    #[serde(default)]
    pub lacp: Option<LacpStatus>,
    pub members: Vec<MemberStatus>,
    /// Frames the kernel sent on the bond while no member could carry them.
    pub host_tx_dropped: u64,
}

#[derive(Debug, Clone, Default, PartialEq, Serialize, Deserialize)]
pub struct LacpStatus {
    pub system_priority: u16,
    pub system: String,
    pub key: u16,
    pub rate: String,
    pub active: bool,
    /// The LAG ID of the aggregator the bond uses, none until one forms.
    #[serde(default)]
    pub aggregator: Option<String>,
}

#[derive(Debug, Clone, Default, PartialEq, Serialize, Deserialize)]
pub struct MemberStatus {
    pub name: String,
    pub ifindex: u32,
    pub mac: String,
    pub carrier: bool,
    /// Transmits frames of the bond.
    pub distributing: bool,
    /// Frames received here are accepted.
    pub collecting: bool,
    /// Active-backup with an ARP monitor: the target answered through this member lately.
    #[serde(default)]
    pub arp_ok: Option<bool>,
    #[serde(default)]
    pub lacp: Option<LacpPortStatus>,
    /// Times it joined and left the distributing set.
    pub joins: u64,
    pub leaves: u64,
    /// Frames of the host's (from the tap) sent here.
    pub host_tx: u64,
    /// Frames received here that were the host's, written to the tap.
    pub host_rx: u64,
    /// Frames received while not collecting, discarded.
    pub rx_discarded: u64,
}

#[derive(Debug, Clone, Default, PartialEq, Serialize, Deserialize)]
pub struct LacpPortStatus {
    pub port: u16,
    pub actor_state: String,
    pub partner_system: String,
    pub partner_key: u16,
    pub partner_port: u16,
    pub partner_state: String,
    pub rx: String,
    pub mux: String,
    pub selected: String,
    pub lacpdus_rx: u64,
    pub lacpdus_tx: u64,
    /// Slow Protocols frames that did not decode (unknown or illegal).
    pub rx_errors: u64,
    pub looped_back: u64,
}
