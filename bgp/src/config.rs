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

/// A configuration the core cannot run with.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum ConfigError {
    /// RFC 4271 §4.2: 0 or at least 3 seconds.
    #[error("hold time {0} s: must be 0 or at least 3")]
    HoldTime(u16),
    /// RFC 6286: the identifier must be non-zero.
    #[error("router id must not be 0.0.0.0")]
    RouterId,
    #[error("no address family configured")]
    NoFamily,
    /// Zero would redial in a busy loop.
    #[error("{0} must be greater than zero")]
    ZeroDuration(&'static str),
    #[error("AS number 0 is reserved")]
    ZeroAs,
}

impl PeerConfig {
    /// Checks the values the RFCs constrain; the shell should call this when
    /// loading configuration (the core itself does not refuse to run).
    pub fn validate(&self) -> Result<(), ConfigError> {
        if self.hold_time == 1 || self.hold_time == 2 {
            return Err(ConfigError::HoldTime(self.hold_time));
        }
        if self.router_id.is_unspecified() {
            return Err(ConfigError::RouterId);
        }
        if self.families.is_empty() {
            return Err(ConfigError::NoFamily);
        }
        if self.local_as == 0 || self.remote_as == 0 {
            return Err(ConfigError::ZeroAs);
        }
        for (name, d) in [
            ("connect_retry_time", self.connect_retry_time),
            ("idle_hold_min", self.idle_hold_min),
            ("open_hold_time", self.open_hold_time),
        ] {
            if d.is_zero() {
                return Err(ConfigError::ZeroDuration(name));
            }
        }
        Ok(())
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn validate_rejects_rfc_violations() {
        let ok = PeerConfig::new(65001, 65002, Ipv4Addr::new(192, 0, 2, 1));
        assert_eq!(ok.validate(), Ok(()));
        let mut c = ok.clone();
        c.hold_time = 2;
        assert_eq!(c.validate(), Err(ConfigError::HoldTime(2)));
        c.hold_time = 0;
        assert_eq!(c.validate(), Ok(()));
        let mut c = ok.clone();
        c.router_id = Ipv4Addr::UNSPECIFIED;
        assert_eq!(c.validate(), Err(ConfigError::RouterId));
        let mut c = ok.clone();
        c.families.clear();
        assert_eq!(c.validate(), Err(ConfigError::NoFamily));
        let mut c = ok;
        c.connect_retry_time = Duration::ZERO;
        assert!(matches!(c.validate(), Err(ConfigError::ZeroDuration(_))));
    }
}
