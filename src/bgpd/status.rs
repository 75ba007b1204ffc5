//! The BGP part of `appctl status` and `appctl bgp`, and the handle the control socket uses to
//! read it and to drain prefixes.

use std::collections::{BTreeMap, BTreeSet};
use std::sync::{Arc, Mutex};

use ::bgp::Prefix;
use serde::{Deserialize, Serialize};
use tokio::sync::watch;

use super::announce::PrefixStatus;

#[derive(Debug, Clone, Default, PartialEq, Serialize, Deserialize)]
pub struct BgpStatus {
    pub local_as: u32,
    pub router_id: String,
    pub peers: Vec<PeerStatus>,
    pub prefixes: Vec<PrefixStatus>,
    /// Prefixes the operator drained with `appctl bgp drain`.
    #[serde(default)]
    pub drained: Vec<String>,
}

#[derive(Debug, Clone, Default, PartialEq, Serialize, Deserialize)]
pub struct PeerStatus {
    pub address: String,
    pub remote_as: u32,
    /// `idle`, `connect`, `active`, `opensent`, `openconfirm`, `established`.
    pub state: String,
    #[serde(default)]
    pub established_unix_ms: Option<u64>,
    #[serde(default)]
    pub uptime_ms: Option<u64>,
    /// Negotiated hold time in seconds (while established).
    #[serde(default)]
    pub hold_time: Option<u16>,
    #[serde(default)]
    pub families: Vec<String>,
    #[serde(default)]
    pub four_octet_as: bool,
    #[serde(default)]
    pub route_refresh: bool,
    #[serde(default)]
    pub peer_graceful_restart: bool,
    pub md5: bool,
    pub prefixes_advertised: usize,
    #[serde(default)]
    pub last_notification_sent: Option<String>,
    #[serde(default)]
    pub last_notification_received: Option<String>,
    #[serde(default)]
    pub last_error: Option<String>,
    /// The BFD session's state (`up`, `down`, ...), when the neighbour has `bfd`.
    #[serde(default)]
    pub bfd: Option<String>,
    /// Times a BFD failure tore this session down.
    #[serde(default)]
    pub bfd_teardowns: u64,
}

/// Shared between the subsystem and the control socket.
#[derive(Clone)]
pub struct BgpHandle {
    pub(super) peers: Arc<Mutex<BTreeMap<String, PeerStatus>>>,
    pub(super) engine: Arc<Mutex<BgpStatus>>,
    pub(super) drained: watch::Sender<BTreeSet<Prefix>>,
    /// The drain set the announcement engine last decided with (its `prefixes` follow it).
    pub(super) applied: watch::Sender<BTreeSet<Prefix>>,
}

impl Default for BgpHandle {
    fn default() -> Self {
        BgpHandle {
            peers: Default::default(),
            engine: Default::default(),
            drained: watch::channel(BTreeSet::new()).0,
            applied: watch::channel(BTreeSet::new()).0,
        }
    }
}

impl BgpHandle {
    /// `None` when the configuration has no `[bgp]`.
    pub fn status(&self) -> Option<BgpStatus> {
        let mut s = self
            .engine
            .lock()
            .unwrap_or_else(|p| p.into_inner())
            .clone();
        if s.local_as == 0 {
            return None;
        }
        s.peers = self
            .peers
            .lock()
            .unwrap_or_else(|p| p.into_inner())
            .values()
            .cloned()
            .collect();
        s.drained = self
            .drained
            .borrow()
            .iter()
            .map(|p| p.to_string())
            .collect();
        Some(s)
    }

    /// Drains (withdraws regardless of health) or undrains a configured prefix, and returns
    /// the status once the announcement engine has decided with the change (the state after
    /// it, not before).
    pub async fn set_drain(&self, prefix: &str, drain: bool) -> Result<BgpStatus, String> {
        let p: Prefix = prefix
            .parse()
            .map_err(|e| format!("{e}; write a prefix such as 198.18.255.1/32"))?;
        let p = p.canonical();
        let known = self
            .engine
            .lock()
            .unwrap_or_else(|e| e.into_inner())
            .prefixes
            .iter()
            .any(|s| s.prefix == p.to_string());
        if !known {
            return Err(format!("{p} is not a configured [[bgp.announce]] prefix"));
        }
        self.drained.send_modify(|d| {
            if drain {
                d.insert(p);
            } else {
                d.remove(&p);
            }
        });
        let mut applied = self.applied.subscribe();
        // The engine recomputes at once; the bound only keeps a stopping daemon from
        // holding the request.
        let _ = tokio::time::timeout(
            std::time::Duration::from_secs(2),
            applied.wait_for(|a| a.contains(&p) == drain),
        )
        .await;
        self.status()
            .ok_or_else(|| "BGP is not configured".to_string())
    }
}
