//! VRRP metrics, labelled by instance.

use prometheus_client::metrics::counter::Counter;
use prometheus_client::metrics::family::Family;
use prometheus_client::metrics::gauge::Gauge;

use crate::metrics::{Labels, Metrics};

#[derive(Clone, Default)]
pub struct VrrpMetrics {
    /// 0 initialize, 1 backup, 2 master, 3 fault.
    pub state: Family<Labels, Gauge>,
    pub effective_priority: Family<Labels, Gauge>,
    pub transitions: Family<Labels, Counter>,
    pub split_brain: Family<Labels, Gauge>,
    pub adverts_sent: Family<Labels, Counter>,
    pub adverts_received: Family<Labels, Counter>,
    pub rx_errors: Family<Labels, Counter>,
    pub send_errors: Family<Labels, Counter>,
}

pub fn instance(name: &str) -> Labels {
    vec![("instance".to_string(), name.to_string())]
}

pub fn with(name: &str, key: &str, value: &str) -> Labels {
    vec![
        ("instance".to_string(), name.to_string()),
        (key.to_string(), value.to_string()),
    ]
}

impl VrrpMetrics {
    pub fn register(m: &Metrics) -> Self {
        let v = VrrpMetrics::default();
        m.register(
            "vrrp_state",
            "VRRP state per instance: 0 initialize, 1 backup, 2 master, 3 fault",
            v.state.clone(),
        );
        m.register(
            "vrrp_effective_priority",
            "Priority after tracking adjustments",
            v.effective_priority.clone(),
        );
        m.register(
            "vrrp_transitions",
            "State transitions by new state",
            v.transitions.clone(),
        );
        m.register(
            "vrrp_split_brain",
            "1 while another master is seen for the instance's VRID",
            v.split_brain.clone(),
        );
        m.register(
            "vrrp_adverts_sent",
            "Advertisements sent",
            v.adverts_sent.clone(),
        );
        m.register(
            "vrrp_adverts_received",
            "Advertisements received and accepted",
            v.adverts_received.clone(),
        );
        m.register(
            "vrrp_rx_errors",
            "Received packets discarded, by reason",
            v.rx_errors.clone(),
        );
        m.register(
            "vrrp_send_errors",
            "Advertisements the kernel refused to send",
            v.send_errors.clone(),
        );
        v
    }
}
