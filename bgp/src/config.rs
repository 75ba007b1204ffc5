//! Per-peer configuration of the speaker core.

use std::net::{Ipv4Addr, Ipv6Addr};
use std::time::Duration;

use crate::packet::family::Family;

#[derive(Debug, Clone)]
pub struct PeerConfig {
    pub local_as: u32,
    pub remote_as: u32,
    /// Our BGP Identifier (RFC 6286: any non-zero value, unique in the AS).
    pub router_id: Ipv4Addr,
    /// Hold Time we propose: 0 (no keepalives) or at least 3 seconds.
    pub hold_time: u16,
    /// RFC 4271 §8: "large" hold time used in OpenSent before negotiation.
    pub open_hold_time: Duration,
    /// ConnectRetryTime: how long an outgoing TCP attempt may take before a
    /// new one is started. Jittered.
    pub connect_retry_time: Duration,
    /// First and largest delay before an automatic restart after the
    /// session failed (doubling in between, jittered).
    pub idle_hold_min: Duration,
    pub idle_hold_max: Duration,
    /// Only wait for the peer to connect; never dial.
    pub passive: bool,
    /// RFC 4271 DelayOpen: wait this long for the peer's OPEN after TCP
    /// comes up before sending ours.
    pub delay_open: Option<Duration>,
    /// RFC 9687 SendHoldTime. `None`: max(8 minutes, 2 × negotiated hold).
    pub send_hold_time: Option<Duration>,
    /// Families to advertise Multiprotocol capabilities for (and to carry).
    /// Only families with a usable next hop are advertised in the OPEN.
    pub families: Vec<Family>,
    /// Advertise the 4-octet AS capability (RFC 6793). Off only to test
    /// 2-octet peers.
    pub four_octet_as: bool,
    /// Advertise Route Refresh (RFC 2918).
    pub route_refresh: bool,
    /// NEXT_HOP for IPv4 routes; default: the session's local address when it
    /// is IPv4.
    pub next_hop_v4: Option<Ipv4Addr>,
    /// Global IPv6 next hop; default: the session's local address when it is
    /// a global IPv6 address.
    pub next_hop_v6: Option<Ipv6Addr>,
    /// RFC 2545 §3 link-local next hop, sent as the second half of a 32-octet
    /// MP_REACH next hop. Default: the session's local address when that is
    /// link-local.
    pub next_hop_v6_link_local: Option<Ipv6Addr>,
    /// LOCAL_PREF sent to iBGP peers when a route does not set one.
    pub default_local_pref: u32,
}

impl PeerConfig {
    /// Defaults: hold 90 s, ConnectRetry 30 s, restart backoff 1 s → 60 s,
    /// active, IPv4 unicast, 4-octet AS and route refresh advertised.
    pub fn new(local_as: u32, remote_as: u32, router_id: Ipv4Addr) -> Self {
        PeerConfig {
            local_as,
            remote_as,
            router_id,
            hold_time: 90,
            open_hold_time: Duration::from_secs(240),
            connect_retry_time: Duration::from_secs(30),
            idle_hold_min: Duration::from_secs(1),
            idle_hold_max: Duration::from_secs(60),
            passive: false,
            delay_open: None,
            send_hold_time: None,
            families: vec![Family::IPV4_UNICAST],
            four_octet_as: true,
            route_refresh: true,
            next_hop_v4: None,
            next_hop_v6: None,
            next_hop_v6_link_local: None,
            default_local_pref: 100,
        }
    }

    pub fn is_ibgp(&self) -> bool {
        self.local_as == self.remote_as
    }
}
