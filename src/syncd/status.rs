//! `appctl sync`: the sync thread's state as the control socket reads it.

use std::sync::{Arc, Mutex};

use serde::{Deserialize, Serialize};

#[derive(Debug, Clone, Default, PartialEq, Serialize, Deserialize)]
pub struct SyncStatus {
    /// `ip:port` the datagrams leave from.
    pub local: String,
    pub node_id: u64,
    /// Random per start: a peer seeing a new one knows our tables were lost.
    pub epoch: u64,
    /// `held` (waiting for the peer's table), or `released: <why>`.
    pub preempt: String,
    /// Flows in this node's tables, and the peers' records applied, refused, and removed.
    pub table_entries: u64,
    pub adopted: u64,
    pub updated: u64,
    pub removed: u64,
    pub refused: u64,
    /// Changes the workers could not hand over (a full log or ring): each loss starts a bulk
    /// resync to every peer.
    pub changes_lost: u64,
    /// Records for the workers dropped because a worker's inbound ring was full.
    pub apply_ring_full: u64,
    /// Times the thread stopped reading the peers' datagrams because a worker's inbound ring
    /// was nearly full (back-pressure: the peers' windows wait for the workers).
    #[serde(default)]
    pub apply_held_back: u64,
    /// Datagrams from addresses that are not peers.
    pub unknown_source: u64,
    pub peers: Vec<PeerStatus>,
}

#[derive(Debug, Clone, Default, PartialEq, Serialize, Deserialize)]
pub struct PeerStatus {
    pub address: String,
    /// `up`, `down` (never heard, or silent for the dead interval), `settings-mismatch`.
    pub state: String,
    pub node_id: Option<u64>,
    pub epoch: Option<u64>,
    pub srtt_ms: Option<f64>,
    pub rto_ms: f64,
    /// Age of the oldest record not yet acknowledged, in milliseconds.
    pub lag_ms: f64,
    pub queued: u64,
    pub in_flight: u64,
    pub records_queued: u64,
    pub records_coalesced: u64,
    pub records_sent: u64,
    pub records_resent: u64,
    pub records_received: u64,
    pub records_lost: u64,
    pub datagrams_sent: u64,
    pub datagrams_resent: u64,
    pub datagrams_received: u64,
    pub discards: Discards,
    pub peer_restarts: u64,
    pub bulk_out: Bulk,
    pub bulk_in: Bulk,
}

#[derive(Debug, Clone, Default, PartialEq, Serialize, Deserialize)]
pub struct Discards {
    pub total: u64,
    pub truncated: u64,
    pub bad_magic: u64,
    pub unsupported_version: u64,
    pub bad_length: u64,
    pub bad_hmac: u64,
    pub malformed: u64,
    pub unknown_record_type: u64,
    pub stale_epoch: u64,
    pub replayed: u64,
    pub out_of_window: u64,
    pub settings_mismatch: u64,
}

#[derive(Debug, Clone, Default, PartialEq, Serialize, Deserialize)]
pub struct Bulk {
    pub sent: u64,
    pub acked: u64,
    pub total: u64,
    pub done: bool,
}

impl Discards {
    /// Every reason with its count, as `appctl sync` and the metrics name them.
    pub fn named(&self) -> [(&'static str, u64); 11] {
        [
            ("truncated", self.truncated),
            ("bad_magic", self.bad_magic),
            ("unsupported_version", self.unsupported_version),
            ("bad_length", self.bad_length),
            ("bad_hmac", self.bad_hmac),
            ("malformed", self.malformed),
            ("unknown_record_type", self.unknown_record_type),
            ("stale_epoch", self.stale_epoch),
            ("replayed", self.replayed),
            ("out_of_window", self.out_of_window),
            ("settings_mismatch", self.settings_mismatch),
        ]
    }
}

impl From<session_sync::BulkProgress> for Bulk {
    fn from(b: session_sync::BulkProgress) -> Bulk {
        Bulk {
            sent: b.sent,
            acked: b.acked,
            total: b.total,
            done: b.done,
        }
    }
}

impl From<&session_sync::Discards> for Discards {
    fn from(d: &session_sync::Discards) -> Discards {
        Discards {
            total: d.total(),
            truncated: d.truncated,
            bad_magic: d.bad_magic,
            unsupported_version: d.unsupported_version,
            bad_length: d.bad_length,
            bad_hmac: d.bad_hmac,
            malformed: d.malformed,
            unknown_record_type: d.unknown_record_type,
            stale_epoch: d.stale_epoch,
            replayed: d.replayed,
            out_of_window: d.out_of_window,
            settings_mismatch: d.settings_mismatch,
        }
    }
}

/// Where the sync thread publishes its status (`None`: no sync running).
#[derive(Clone, Default)]
pub struct SyncHandle(Arc<Mutex<Option<SyncStatus>>>);

impl SyncHandle {
    pub fn publish(&self, s: Option<SyncStatus>) {
        *self.0.lock().unwrap_or_else(|p| p.into_inner()) = s;
    }

    pub fn get(&self) -> Option<SyncStatus> {
        self.0.lock().unwrap_or_else(|p| p.into_inner()).clone()
    }
}
