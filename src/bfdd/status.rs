//! What the BFD subsystem shows: `appctl bfd` (asked of the BFD thread on request, so it
//! costs nothing between requests) and the per-peer state the BGP sessions watch.

use std::collections::BTreeMap;
use std::net::IpAddr;

use serde::{Deserialize, Serialize};
use tokio::sync::{mpsc, oneshot};

/// `appctl bfd`.
#[derive(Debug, Clone, Default, PartialEq, Serialize, Deserialize)]
pub struct BfdStatus {
    pub sessions: Vec<BfdSessionStatus>,
    /// Datagrams no session could take, by reason (`no_session`, `your_discriminator_unknown`).
    #[serde(default)]
    pub unmatched_discards: BTreeMap<String, u64>,
}

#[derive(Debug, Clone, Default, PartialEq, Serialize, Deserialize)]
pub struct BfdSessionStatus {
    pub peer: String,
    /// The configured source address, if any.
    #[serde(default)]
    pub local_address: Option<String>,
    /// Our UDP source port (49152-65535), once the socket is open.
    #[serde(default)]
    pub source_port: Option<u16>,
    /// `admin-down`, `down`, `init`, `up`.
    pub state: String,
    pub remote_state: String,
    /// Why our state last changed (bfd.LocalDiag).
    pub local_diag: String,
    /// The Diag field of the peer's last packet.
    pub remote_diag: String,
    pub local_discriminator: u32,
    pub remote_discriminator: u32,
    /// Configured interval (Desired Min TX and Required Min RX), microseconds.
    pub interval_us: u64,
    pub multiplier: u8,
    #[serde(default)]
    pub auth: Option<String>,
    /// The negotiated transmit interval before jitter (RFC 5880 §6.8.7), microseconds.
    pub tx_interval_us: u64,
    /// The Detection Time (§6.8.4), once the peer has been heard, microseconds.
    #[serde(default)]
    pub detection_time_us: Option<u64>,
    pub remote_multiplier: u8,
    pub remote_min_rx_us: u64,
    pub remote_min_tx_us: u64,
    pub polling: bool,
    pub packets_in: u64,
    pub packets_out: u64,
    /// Sends the kernel refused (no route, no address yet).
    pub send_errors: u64,
    /// Discarded datagrams by reason (RFC 5880 §6.8.6, RFC 5881 §5).
    pub discards: BTreeMap<String, u64>,
    pub up_transitions: u64,
    pub down_transitions: u64,
    pub polls_completed: u64,
    #[serde(default)]
    pub last_state_change_unix_ms: Option<u64>,
    /// Why the session cannot run (its socket could not be opened).
    #[serde(default)]
    pub error: Option<String>,
}

/// The BFD state of each peer that has a session, as the BGP sessions need it.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct BfdPeer {
    pub state: ::bfd::State,
    /// Up → Down transitions that are path failures (RFC 5882 §4.3; not the peer going
    /// AdminDown): a BGP session tears down when this grows.
    pub failures: u64,
}

pub type BfdStates = BTreeMap<IpAddr, BfdPeer>;

/// The control socket's way to the BFD thread.
#[derive(Clone)]
pub struct BfdHandle {
    pub(super) requests: mpsc::Sender<oneshot::Sender<BfdStatus>>,
}

impl BfdHandle {
    /// A handle and the receiving end the subsystem serves.
    pub fn new() -> (BfdHandle, mpsc::Receiver<oneshot::Sender<BfdStatus>>) {
        let (tx, rx) = mpsc::channel(8);
        (BfdHandle { requests: tx }, rx)
    }

    /// The sessions now; `None` if the subsystem is not running.
    pub async fn status(&self) -> Option<BfdStatus> {
        let (tx, rx) = oneshot::channel();
        self.requests.send(tx).await.ok()?;
        rx.await.ok()
    }
}
