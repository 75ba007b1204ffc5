//! OPEN validation (RFC 4271 §6.2, RFC 5492, RFC 6286, RFC 6793) and what
//! the two OPENs negotiate.

use std::net::{IpAddr, Ipv4Addr};
use std::time::Duration;

use crate::adj_rib_out::ExportPolicy;
use crate::config::PeerConfig;
use crate::error::OpenError;
use crate::packet::capabilities::Capability;
use crate::packet::family::{Afi, Family};
use crate::packet::open::{OpenMessage, OptionalParameter};
use crate::packet::CodecContext;

/// Session parameters agreed by the OPEN exchange.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Negotiated {
    pub peer_as: u32,
    pub peer_id: Ipv4Addr,
    /// min(ours, theirs); 0 disables hold and keepalive timers.
    pub hold_time: u16,
    /// hold_time / 3 (RFC 4271 §10 suggests one third).
    pub keepalive: Duration,
    /// Both sides advertised the 4-octet AS capability.
    pub four_octet_as: bool,
    /// Families both sides advertised (ours that have a next hop).
    pub families: Vec<Family>,
    /// Peer advertised Route Refresh and we did too.
    pub route_refresh: bool,
    /// The peer's Graceful Restart capability, if any (RFC 4724). We act as
    /// neither restarting nor helper speaker, but report it and send EoR.
    pub peer_graceful_restart: Option<Capability>,
    /// Every capability the peer advertised.
    pub peer_capabilities: Vec<Capability>,
    pub ebgp: bool,
}

impl Negotiated {
    pub fn codec(&self) -> CodecContext {
        CodecContext {
            four_octet_as: self.four_octet_as,
        }
    }

    pub fn hold(&self) -> Option<Duration> {
        (self.hold_time > 0).then(|| Duration::from_secs(self.hold_time as u64))
    }
}

/// Families we can offer on a session whose local address is `local`: a
/// family without a next hop would be a "non-shared MP" capability we could
/// never use (metallb#65, exabgp#108).
pub fn offered_families(cfg: &PeerConfig, local: Option<IpAddr>) -> Vec<Family> {
    cfg.families
        .iter()
        .copied()
        .filter(|f| match f.afi {
            Afi::Ipv4 => cfg.next_hop_v4.is_some() || matches!(local, Some(IpAddr::V4(_))),
            Afi::Ipv6 => {
                cfg.next_hop_v6.is_some()
                    || matches!(local, Some(IpAddr::V6(a)) if !a.is_unicast_link_local())
            }
            Afi::Unknown(_) => false,
        })
        .collect()
}

/// Our OPEN for a session with local address `local`.
pub fn build_open(cfg: &PeerConfig, local: Option<IpAddr>) -> OpenMessage {
    let mut caps: Vec<Capability> = offered_families(cfg, local)
        .into_iter()
        .map(Capability::Multiprotocol)
        .collect();
    if cfg.route_refresh {
        caps.push(Capability::RouteRefresh);
    }
    if cfg.four_octet_as {
        caps.push(Capability::FourOctetAs(cfg.local_as));
    }
    OpenMessage::new(cfg.local_as, cfg.hold_time, cfg.router_id, caps)
}

/// Validates the peer's OPEN against our configuration and what we sent.
pub fn negotiate(
    cfg: &PeerConfig,
    ours: &OpenMessage,
    theirs: &OpenMessage,
) -> Result<Negotiated, OpenError> {
    if theirs.version != 4 {
        return Err(OpenError::UnsupportedVersion(theirs.version));
    }
    // RFC 5492 §5: only Capabilities is a parameter we know.
    if let Some(OptionalParameter::Unknown { param_type, .. }) = theirs
        .params
        .iter()
        .find(|p| matches!(p, OptionalParameter::Unknown { .. }))
    {
        return Err(OpenError::UnsupportedOptionalParameter(*param_type));
    }
    // RFC 6793 §4.1: with the capability, the real AS is in it; the 2-octet
    // field holds AS_TRANS (or the same AS when it fits).
    let peer_as = theirs.asn();
    if peer_as != cfg.remote_as {
        return Err(OpenError::BadPeerAs(peer_as));
    }
    // RFC 4271 §6.2: Hold Time must be 0 or at least 3 seconds.
    if theirs.hold_time == 1 || theirs.hold_time == 2 {
        return Err(OpenError::UnacceptableHoldTime(theirs.hold_time));
    }
    // RFC 6286 §2.2: any non-zero identifier; equal to ours only forbidden
    // between internal peers.
    let ebgp = cfg.local_as != cfg.remote_as;
    if theirs.bgp_id.is_unspecified() || (!ebgp && theirs.bgp_id == cfg.router_id) {
        return Err(OpenError::BadBgpIdentifier(theirs.bgp_id));
    }
    let hold_time = ours.hold_time.min(theirs.hold_time);
    let our_families = ours.families();
    let their_families = theirs.families();
    let families = our_families
        .into_iter()
        .filter(|f| their_families.contains(f) && cfg.families.contains(f))
        .collect();
    Ok(Negotiated {
        peer_as,
        peer_id: theirs.bgp_id,
        hold_time,
        keepalive: Duration::from_secs(hold_time as u64) / 3,
        four_octet_as: ours.four_octet_as().is_some() && theirs.four_octet_as().is_some(),
        families,
        route_refresh: ours.supports_route_refresh() && theirs.supports_route_refresh(),
        peer_graceful_restart: theirs.graceful_restart().cloned(),
        peer_capabilities: theirs.capabilities().cloned().collect(),
        ebgp,
    })
}

/// What the Adj-RIB-Out needs to know about an Established session: the
/// next hops come from configuration or, by default, the local address of
/// the TCP connection.
pub fn export_policy(cfg: &PeerConfig, neg: &Negotiated, local: Option<IpAddr>) -> ExportPolicy {
    let next_hop_v4 = cfg.next_hop_v4.or(match local {
        Some(IpAddr::V4(a)) => Some(a),
        _ => None,
    });
    let local_v6 = match local {
        Some(IpAddr::V6(a)) => Some(a),
        _ => None,
    };
    let global = cfg
        .next_hop_v6
        .or(local_v6.filter(|a| !a.is_unicast_link_local()));
    let link_local = cfg
        .next_hop_v6_link_local
        .or(local_v6.filter(|a| a.is_unicast_link_local()));
    ExportPolicy {
        local_as: cfg.local_as,
        ebgp: neg.ebgp,
        four_octet_as: neg.four_octet_as,
        families: neg.families.clone(),
        next_hop_v4,
        next_hop_v6: global.map(|g| (g, link_local)),
        default_local_pref: cfg.default_local_pref,
    }
}
