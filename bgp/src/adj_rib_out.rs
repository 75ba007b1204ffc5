//! Adj-RIB-Out for one peer (RFC 4271 §3.2, §9.2): the routes the shell
//! wants announced, what the current session has actually been sent, and
//! the UPDATEs that turn the second into the first.
//!
//! Rules this module enforces, each learnt from a deployed speaker's bug:
//! - withdrawals go before any pending announcement and are generated only
//!   for prefixes the peer has (an empty MP_UNREACH is an End-of-RIB, and
//!   sending one by accident resets sessions: exabgp#954);
//! - prefixes sharing attributes are packed into one UPDATE up to 4096
//!   octets (MetalLB sent one UPDATE per prefix);
//! - only negotiated families are announced, IPv4 in the NLRI field, IPv6 in
//!   MP_REACH_NLRI with a 16- or 32-octet next hop (RFC 2545);
//! - End-of-RIB follows the initial dump (RFC 4724 §2);
//! - UPDATEs are generated lazily, one per poll, so a withdrawal issued
//!   during a bulk dump overtakes every announcement not yet handed out.

use std::collections::{BTreeMap, BTreeSet, HashMap, VecDeque};
use std::net::{IpAddr, Ipv4Addr, Ipv6Addr};
use std::sync::Arc;

use crate::packet::aspath::AsPath;
use crate::packet::attributes::{
    flags, AttrContext, AttributeValue, Community, LargeCommunity, MpNextHop, MpReachNlri,
    MpUnreachNlri, Nlri, Origin, PathAttribute,
};
use crate::packet::family::{Afi, Family};
use crate::packet::prefix::Prefix;
use crate::packet::update::UpdateMessage;
use crate::packet::{HEADER_LEN, MAX_MESSAGE_LEN};

/// What the shell wants announced for one prefix. The session adds what
/// depends on the peer (AS_PATH, NEXT_HOP, LOCAL_PREF for iBGP).
#[derive(Debug, Clone, Default, PartialEq, Eq, Hash)]
pub struct RouteAttributes {
    pub origin: Origin,
    pub med: Option<u32>,
    /// Extra copies of our AS in front of the path (eBGP only).
    pub prepend: u8,
    pub communities: Vec<Community>,
    pub large_communities: Vec<LargeCommunity>,
    /// LOCAL_PREF for iBGP peers; `None` uses the configured default (100).
    /// Never sent to eBGP peers.
    pub local_pref: Option<u32>,
    /// Overrides the session's next hop (used only if of the prefix's family).
    pub next_hop: Option<IpAddr>,
}

/// Per-session facts the attributes depend on.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ExportPolicy {
    pub local_as: u32,
    pub ebgp: bool,
    pub four_octet_as: bool,
    pub families: Vec<Family>,
    pub next_hop_v4: Option<Ipv4Addr>,
    /// Global and optional link-local next hop (RFC 2545 §3).
    pub next_hop_v6: Option<(Ipv6Addr, Option<Ipv6Addr>)>,
    pub default_local_pref: u32,
}

/// Attributes as sent to the peer, shared by all prefixes that use them.
#[derive(Debug, Clone, PartialEq, Eq, Hash)]
struct Exported {
    family: Family,
    /// Sorted by type code; holds NEXT_HOP for IPv4 only.
    attrs: Vec<PathAttribute>,
    /// MP_REACH next hop for non-IPv4 families.
    mp_next_hop: Option<MpNextHop>,
}

#[derive(Debug)]
struct SessionOut {
    policy: ExportPolicy,
    /// What the peer has been sent.
    advertised: HashMap<Prefix, Arc<Exported>>,
    /// Prefixes whose desired state changed since they were last examined.
    dirty: BTreeSet<Prefix>,
    /// Prefixes the peer has and must lose.
    withdraw: BTreeSet<Prefix>,
    /// Announcements grouped by attributes, waiting to be packed.
    groups: VecDeque<(Arc<Exported>, VecDeque<Prefix>)>,
    /// Families still owed an End-of-RIB.
    eor_pending: Vec<Family>,
}

/// The Adj-RIB-Out of one peer; survives session resets (the desired set is
/// kept, the advertised set starts empty with each new session).
#[derive(Debug, Default)]
pub struct AdjRibOut {
    desired: BTreeMap<Prefix, RouteAttributes>,
    graceful_shutdown: bool,
    session: Option<SessionOut>,
}

/// One generated UPDATE; `end_of_rib` is set when it is an End-of-RIB.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct RibUpdate {
    pub update: UpdateMessage,
    pub end_of_rib: Option<Family>,
}

impl AdjRibOut {
    pub fn new() -> Self {
        AdjRibOut::default()
    }

    /// Announces (or changes) a prefix. Host bits are cleared.
    pub fn set_route(&mut self, prefix: Prefix, attrs: RouteAttributes) {
        let prefix = prefix.canonical();
        if self.desired.get(&prefix) == Some(&attrs) {
            return;
        }
        self.desired.insert(prefix, attrs);
        if let Some(s) = &mut self.session {
            s.withdraw.remove(&prefix);
            s.dirty.insert(prefix);
        }
    }

    /// Withdraws a prefix (a no-op toward the peer if it never got it).
    pub fn remove_route(&mut self, prefix: Prefix) {
        let prefix = prefix.canonical();
        if self.desired.remove(&prefix).is_none() {
            return;
        }
        if let Some(s) = &mut self.session {
            s.dirty.remove(&prefix);
            if s.advertised.contains_key(&prefix) {
                s.withdraw.insert(prefix);
            }
        }
    }

    /// Replaces the whole desired set.
    pub fn set_routes(&mut self, routes: impl IntoIterator<Item = (Prefix, RouteAttributes)>) {
        let new: BTreeMap<Prefix, RouteAttributes> = routes
            .into_iter()
            .map(|(p, a)| (p.canonical(), a))
            .collect();
        let gone: Vec<Prefix> = self
            .desired
            .keys()
            .filter(|p| !new.contains_key(p))
            .copied()
            .collect();
        for p in gone {
            self.remove_route(p);
        }
        for (p, a) in new {
            self.set_route(p, a);
        }
    }

    pub fn routes(&self) -> &BTreeMap<Prefix, RouteAttributes> {
        &self.desired
    }

    /// RFC 8326 graceful shutdown: every route carries GRACEFUL_SHUTDOWN
    /// (65535:0) and, toward iBGP peers, LOCAL_PREF 0.
    pub fn set_graceful_shutdown(&mut self, on: bool) {
        if self.graceful_shutdown == on {
            return;
        }
        self.graceful_shutdown = on;
        if let Some(s) = &mut self.session {
            s.dirty.extend(self.desired.keys().copied());
        }
    }

    pub fn graceful_shutdown(&self) -> bool {
        self.graceful_shutdown
    }

    /// A session reached Established: everything desired is to be sent,
    /// followed by End-of-RIB for each negotiated family.
    pub fn session_up(&mut self, policy: ExportPolicy) {
        let eor_pending = policy.families.clone();
        self.session = Some(SessionOut {
            policy,
            advertised: HashMap::new(),
            dirty: self.desired.keys().copied().collect(),
            withdraw: BTreeSet::new(),
            groups: VecDeque::new(),
            eor_pending,
        });
    }

    pub fn session_down(&mut self) {
        self.session = None;
    }

    /// RFC 2918: re-send every route of `family`.
    pub fn route_refresh(&mut self, family: Family) {
        if let Some(s) = &mut self.session {
            s.advertised.retain(|p, _| p.family() != family);
            s.dirty.extend(
                self.desired
                    .keys()
                    .filter(|p| p.family() == family)
                    .copied(),
            );
        }
    }

    /// Prefixes the current session has been sent.
    pub fn advertised_count(&self) -> usize {
        self.session.as_ref().map_or(0, |s| s.advertised.len())
    }

    /// Whether `prefix` has been announced on the current session.
    pub fn is_advertised(&self, prefix: &Prefix) -> bool {
        self.session
            .as_ref()
            .is_some_and(|s| s.advertised.contains_key(&prefix.canonical()))
    }

    /// Whether there is anything left to send (withdrawals, announcements
    /// or End-of-RIB).
    pub fn has_pending(&self) -> bool {
        self.session.as_ref().is_some_and(|s| {
            !s.withdraw.is_empty()
                || !s.dirty.is_empty()
                || !s.groups.is_empty()
                || !s.eor_pending.is_empty()
        })
    }

    /// Only withdrawals pending (they are sent even when the announcement
    /// window is full).
    pub fn has_pending_withdrawals(&self) -> bool {
        self.session
            .as_ref()
            .is_some_and(|s| !s.withdraw.is_empty())
    }

    /// The next UPDATE to send, withdrawals first.
    pub fn next_update(&mut self) -> Option<RibUpdate> {
        self.next_withdrawal().or_else(|| self.next_announcement())
    }

    /// The next withdrawal UPDATE only.
    pub fn next_withdrawal(&mut self) -> Option<RibUpdate> {
        let s = self.session.as_mut()?;
        let first = *s.withdraw.iter().next()?;
        let family = first.family();
        let ipv4 = family == Family::IPV4_UNICAST;
        // Header, two length fields, and for MP the attribute header
        // (flags, type, 2-octet length) plus AFI/SAFI.
        let mut room = MAX_MESSAGE_LEN - HEADER_LEN - 4 - if ipv4 { 0 } else { 4 + 3 };
        let mut batch = Vec::new();
        for p in s.withdraw.iter().filter(|p| p.family() == family) {
            if p.wire_len() > room {
                break;
            }
            room -= p.wire_len();
            batch.push(*p);
        }
        for p in &batch {
            s.withdraw.remove(p);
            s.advertised.remove(p);
        }
        let update = if ipv4 {
            UpdateMessage {
                withdrawn: batch,
                ..Default::default()
            }
        } else {
            UpdateMessage {
                attributes: vec![PathAttribute {
                    flags: flags::OPTIONAL | flags::EXTENDED_LENGTH,
                    value: AttributeValue::MpUnreachNlri(MpUnreachNlri {
                        family,
                        withdrawn: Nlri::Prefixes(batch),
                    }),
                }],
                ..Default::default()
            }
        };
        Some(RibUpdate {
            update,
            end_of_rib: None,
        })
    }

    fn next_announcement(&mut self) -> Option<RibUpdate> {
        let gshut = self.graceful_shutdown;
        let s = self.session.as_mut()?;
        loop {
            if s.groups.is_empty() && !s.dirty.is_empty() {
                Self::regroup(s, &self.desired, gshut);
                if !s.withdraw.is_empty() {
                    // Regrouping found routes that can no longer be exported.
                    return self.next_withdrawal();
                }
            }
            let Some((exported, prefixes)) = s.groups.front_mut() else {
                break;
            };
            let exported = exported.clone();
            let ctx = AttrContext {
                four_octet_as: s.policy.four_octet_as,
            };
            let base: usize = HEADER_LEN
                + 4
                + exported
                    .attrs
                    .iter()
                    .map(|a| a.wire_len(ctx))
                    .sum::<usize>();
            let mp_overhead = exported
                .mp_next_hop
                .as_ref()
                .map_or(0, |nh| 4 + 3 + 1 + mp_nh_len(nh) + 1);
            let mut room = MAX_MESSAGE_LEN.saturating_sub(base + mp_overhead);
            let mut batch = Vec::new();
            while let Some(p) = prefixes.front() {
                if p.wire_len() > room {
                    break;
                }
                let p = prefixes.pop_front().expect("front exists");
                // Changed again since grouping: it is in `dirty` or
                // `withdraw` and will be handled from there, or it is gone
                // (never sent, so nothing to withdraw).
                if s.dirty.contains(&p) || s.withdraw.contains(&p) || !self.desired.contains_key(&p)
                {
                    continue;
                }
                room -= p.wire_len();
                batch.push(p);
            }
            if prefixes.is_empty() {
                s.groups.pop_front();
            }
            if batch.is_empty() {
                continue;
            }
            for p in &batch {
                s.advertised.insert(*p, exported.clone());
            }
            let mut attributes = exported.attrs.clone();
            let nlri = if let Some(nh) = &exported.mp_next_hop {
                attributes.push(PathAttribute {
                    flags: flags::OPTIONAL | flags::EXTENDED_LENGTH,
                    value: AttributeValue::MpReachNlri(MpReachNlri {
                        family: exported.family,
                        next_hop: nh.clone(),
                        reserved: 0,
                        nlri: Nlri::Prefixes(batch),
                    }),
                });
                attributes.sort_by_key(|a| a.type_code());
                vec![]
            } else {
                batch
            };
            return Some(RibUpdate {
                update: UpdateMessage {
                    attributes,
                    nlri,
                    ..Default::default()
                },
                end_of_rib: None,
            });
        }
        // Initial dump done: End-of-RIB, one family per call.
        if s.dirty.is_empty() && s.withdraw.is_empty() && !s.eor_pending.is_empty() {
            let family = s.eor_pending.remove(0);
            return Some(RibUpdate {
                update: UpdateMessage::end_of_rib(family),
                end_of_rib: Some(family),
            });
        }
        None
    }

    /// Moves every dirty prefix into an attribute group (or the withdraw
    /// set when it can no longer be exported).
    fn regroup(s: &mut SessionOut, desired: &BTreeMap<Prefix, RouteAttributes>, gshut: bool) {
        let mut interned: HashMap<Exported, Arc<Exported>> = HashMap::new();
        let mut order: Vec<Arc<Exported>> = Vec::new();
        let mut by_attrs: HashMap<Arc<Exported>, VecDeque<Prefix>> = HashMap::new();
        for p in std::mem::take(&mut s.dirty) {
            let exported = desired
                .get(&p)
                .and_then(|r| export(&p, r, &s.policy, gshut));
            let Some(e) = exported else {
                if s.advertised.contains_key(&p) {
                    s.withdraw.insert(p);
                }
                continue;
            };
            if s.advertised.get(&p).is_some_and(|a| **a == e) {
                continue;
            }
            let arc = interned
                .entry(e.clone())
                .or_insert_with(|| {
                    let a = Arc::new(e);
                    order.push(a.clone());
                    a
                })
                .clone();
            by_attrs.entry(arc).or_default().push_back(p);
        }
        for a in order {
            if let Some(ps) = by_attrs.remove(&a) {
                s.groups.push_back((a, ps));
            }
        }
    }
}

fn mp_nh_len(nh: &MpNextHop) -> usize {
    match nh {
        MpNextHop::Ipv4(_) => 4,
        MpNextHop::Ipv6 { link_local, .. } => 16 + 16 * link_local.is_some() as usize,
        MpNextHop::Raw(b) => b.len(),
    }
}

/// Attributes for `prefix` toward this peer, or `None` if it cannot be
/// announced (family not negotiated, no next hop of the right family).
fn export(
    prefix: &Prefix,
    route: &RouteAttributes,
    policy: &ExportPolicy,
    gshut: bool,
) -> Option<Exported> {
    let family = prefix.family();
    if !policy.families.contains(&family) {
        return None;
    }
    let mut attrs = vec![PathAttribute::new(AttributeValue::Origin(route.origin))];
    // RFC 4271 §5.1.2: eBGP prepends our AS; iBGP leaves the path empty.
    let path = if policy.ebgp {
        let mut p = AsPath::empty();
        p.prepend(policy.local_as, 1 + route.prepend as usize);
        p
    } else {
        AsPath::empty()
    };
    // RFC 6793 §4.2.2: a 2-octet peer sees AS_TRANS, plus the real path in
    // AS4_PATH.
    if !policy.four_octet_as && path.needs_as4() {
        attrs.push(PathAttribute::new(AttributeValue::As4Path(path.clone())));
    }
    attrs.push(PathAttribute::new(AttributeValue::AsPath(path)));
    let mut mp_next_hop = None;
    match family.afi {
        Afi::Ipv4 => {
            let nh = match route.next_hop {
                Some(IpAddr::V4(a)) => a,
                _ => policy.next_hop_v4?,
            };
            attrs.push(PathAttribute::new(AttributeValue::NextHop(nh)));
        }
        _ => {
            let (global, link_local) = match route.next_hop {
                Some(IpAddr::V6(a)) => (a, None),
                _ => policy.next_hop_v6?,
            };
            mp_next_hop = Some(MpNextHop::Ipv6 { global, link_local });
        }
    }
    if let Some(med) = route.med {
        attrs.push(PathAttribute::new(AttributeValue::MultiExitDisc(med)));
    }
    if !policy.ebgp {
        // RFC 8326 §4: graceful shutdown toward iBGP also lowers LOCAL_PREF.
        let lp = if gshut {
            0
        } else {
            route.local_pref.unwrap_or(policy.default_local_pref)
        };
        attrs.push(PathAttribute::new(AttributeValue::LocalPref(lp)));
    }
    let mut communities = route.communities.clone();
    if gshut && !communities.contains(&Community::GRACEFUL_SHUTDOWN) {
        communities.push(Community::GRACEFUL_SHUTDOWN);
    }
    if !communities.is_empty() {
        attrs.push(PathAttribute::new(AttributeValue::Communities(communities)));
    }
    if !route.large_communities.is_empty() {
        attrs.push(PathAttribute::new(AttributeValue::LargeCommunities(
            route.large_communities.clone(),
        )));
    }
    // RFC 4271 §5: ascending type order.
    attrs.sort_by_key(|a| a.type_code());
    Some(Exported {
        family,
        attrs,
        mp_next_hop,
    })
}
