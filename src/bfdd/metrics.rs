//! BFD metrics, per peer.

use prometheus_client::metrics::counter::Counter;
use prometheus_client::metrics::family::Family;
use prometheus_client::metrics::gauge::Gauge;

use crate::metrics::{Labels, Metrics};

#[derive(Clone, Default)]
pub struct BfdMetrics {
    /// 0 admin-down, 1 down, 2 init, 3 up (the RFC 5880 State values).
    pub state: Family<Labels, Gauge>,
    pub packets_in: Family<Labels, Counter>,
    pub packets_out: Family<Labels, Counter>,
    pub send_errors: Family<Labels, Counter>,
    /// By peer ("" when no session matched) and reason.
    pub discards: Family<Labels, Counter>,
    /// Transitions into Up, and out of Up (with `failure` = true/false).
    pub up: Family<Labels, Counter>,
    pub down: Family<Labels, Counter>,
    pub detection_time: Family<Labels, Gauge<f64, std::sync::atomic::AtomicU64>>,
    pub tx_interval: Family<Labels, Gauge<f64, std::sync::atomic::AtomicU64>>,
}

pub fn peer(p: &str) -> Labels {
    vec![("peer".to_string(), p.to_string())]
}

pub fn with(p: &str, key: &str, value: &str) -> Labels {
    vec![
        ("peer".to_string(), p.to_string()),
        (key.to_string(), value.to_string()),
    ]
}

impl BfdMetrics {
    pub fn register(m: &Metrics) -> Self {
        let v = BfdMetrics::default();
        m.register(
            "bfd_session_state",
            "BFD session state: 0 admin-down, 1 down, 2 init, 3 up",
            v.state.clone(),
        );
        m.register(
            "bfd_packets_received",
            "BFD Control packets accepted",
            v.packets_in.clone(),
        );
        m.register(
            "bfd_packets_sent",
            "BFD Control packets sent",
            v.packets_out.clone(),
        );
        m.register(
            "bfd_send_errors",
            "BFD Control packets the kernel refused to send",
            v.send_errors.clone(),
        );
        m.register(
            "bfd_discards",
            "Received BFD datagrams discarded, by reason (RFC 5880 6.8.6, RFC 5881 5)",
            v.discards.clone(),
        );
        m.register(
            "bfd_session_up",
            "Transitions of a BFD session into Up",
            v.up.clone(),
        );
        m.register(
            "bfd_session_down",
            "Transitions of a BFD session out of Up; failure=false when the peer went AdminDown or we did",
            v.down.clone(),
        );
        m.register(
            "bfd_detection_time_seconds",
            "The BFD Detection Time (RFC 5880 6.8.4)",
            v.detection_time.clone(),
        );
        m.register(
            "bfd_tx_interval_seconds",
            "The negotiated BFD transmit interval before jitter (RFC 5880 6.8.7)",
            v.tx_interval.clone(),
        );
        v
    }
}
