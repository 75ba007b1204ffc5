//! BGP metrics: session state per neighbour, announcement state per prefix, and how long a
//! routing decision (health flip, drain, VRRP change) takes to reach the wire.

use prometheus_client::metrics::counter::Counter;
use prometheus_client::metrics::family::Family;
use prometheus_client::metrics::gauge::Gauge;
use prometheus_client::metrics::histogram::Histogram;

use crate::metrics::{Labels, Metrics};

#[derive(Clone)]
pub struct BgpMetrics {
    /// 1 while established.
    pub established: Family<Labels, Gauge>,
    pub notifications_sent: Family<Labels, Counter>,
    pub notifications_received: Family<Labels, Counter>,
    /// 1 while announced.
    pub announced: Family<Labels, Gauge>,
    /// Routing decision → first UPDATE written to the socket.
    pub update_latency: Histogram,
    /// Sessions torn down because the neighbour's BFD session failed.
    pub bfd_teardowns: Family<Labels, Counter>,
}

pub fn label(key: &str, value: &str) -> Labels {
    vec![(key.to_string(), value.to_string())]
}

impl BgpMetrics {
    pub fn register(m: &Metrics) -> Self {
        let v = BgpMetrics {
            established: Family::default(),
            notifications_sent: Family::default(),
            notifications_received: Family::default(),
            announced: Family::default(),
            bfd_teardowns: Family::default(),
            update_latency: Histogram::new([
                0.0002, 0.0005, 0.001, 0.002, 0.005, 0.01, 0.02, 0.05, 0.1, 0.5, 1.0,
            ]),
        };
        m.register(
            "bgp_peer_established",
            "1 while the session with the neighbor is established",
            v.established.clone(),
        );
        m.register(
            "bgp_notifications_sent",
            "NOTIFICATION messages sent",
            v.notifications_sent.clone(),
        );
        m.register(
            "bgp_notifications_received",
            "NOTIFICATION messages received",
            v.notifications_received.clone(),
        );
        m.register(
            "bgp_prefix_announced",
            "1 while the prefix is announced",
            v.announced.clone(),
        );
        m.register(
            "bgp_bfd_teardowns",
            "BGP sessions torn down because the neighbor's BFD session failed (RFC 5882)",
            v.bfd_teardowns.clone(),
        );
        m.register(
            "bgp_update_latency_seconds",
            "From a routing decision (health verdict, drain, VRRP state) to the UPDATE written",
            v.update_latency.clone(),
        );
        v
    }
}
