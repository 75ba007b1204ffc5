//! Per-core counters. The worker increments plain integers in its own [`Counters`] per packet,
//! with no atomics and no sharing; its shell publishes copies off the packet path, and readers
//! (status, metrics) sum the per-core copies.

/// Why the fast path dropped a frame.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
#[repr(u8)]
pub enum DropReason {
    /// Headers shorter than they claim.
    Malformed,
    /// IP fragments: only the first carries ports, so they cannot be balanced (as Katran).
    Fragment,
    /// A packet that cannot open a flow (TCP RST or FIN without one), or one the steering
    /// rules give us that belongs to no flow (a backend's reply, an ICMP error about nothing
    /// we track).
    NoFlow,
    /// Every backend of the service is down or drained.
    NoBackend,
    /// Conntrack full of flows that may not be evicted.
    ConntrackFull,
    /// The new flow's backend→client key is already taken.
    Conflict,
    /// No route towards the translated destination.
    NoRoute,
    /// The next hop's MAC address is not (yet) known.
    NoNeighbour,
    /// A GRE header we do not accept (checksum, sequence, routing, version, a key that is not
    /// the tunnel's or a missing one) or a payload that is not IPv4.
    GreUnsupported,
    /// Tunnel traffic with no SNAT pool to take it out.
    NoPool,
    /// Every port of the pool in this worker's share is taken (see `snat`).
    PortsExhausted,
    /// Traffic to a pool address that no mapping expects (filtering, RFC 4787 §5).
    NoMapping,
    /// Larger than the tunnel MTU without Don't Fragment: the fast path does not fragment.
    TooBig,
    /// A packet whose TTL ran out here: the steering program gave it to us, so the kernel
    /// never sees it.
    TtlExceeded,
    /// No room in the frame buffer for the tunnel headers.
    NoRoom,
    /// Out of a site tunnel, to an address outside the site's inside prefixes.
    NotInside,
    /// A source no router forwards from (RFC 1812 §5.3.7): 0.0.0.0/8, 127.0.0.0/8, multicast,
    /// class E and the limited broadcast.
    MartianSource,
    /// An IPv4 header whose checksum does not verify: nothing in it can be trusted, and a
    /// rewrite must not pass it on.
    BadChecksum,
    /// A direct-routing backend that is not on a directly connected segment: only its MAC
    /// changes, so a router in between would send the packet back to the VIP's owner.
    NotOnLink,
    /// A tunnel-mode packet with no outer source: no `tunnel_source` and no preferred source
    /// on the route towards the backend.
    NoSource,
    /// An IPv6 Payload Length that is zero (a jumbogram, RFC 2675, which the fast path does not
    /// take) or larger than the frame holds.
    BadPayloadLength,
    /// An IPv6 header chain the fast path does not walk: Routing, AH, ESP, No Next Header and
    /// the other extension headers but Hop-by-Hop and Destination Options, more than two of
    /// those, or one that runs past the payload (`wire::ipv6::upper_layer`).
    ExtensionHeader,
    /// A NAT64 packet or ICMP error with no translation (RFC 7915: ICMP types without an
    /// equivalent, an upper layer other than TCP, UDP and echo).
    Nat64Untranslatable,
}

pub const DROP_REASONS: usize = 23;

impl DropReason {
    pub const ALL: [DropReason; DROP_REASONS] = [
        DropReason::Malformed,
        DropReason::Fragment,
        DropReason::NoFlow,
        DropReason::NoBackend,
        DropReason::ConntrackFull,
        DropReason::Conflict,
        DropReason::NoRoute,
        DropReason::NoNeighbour,
        DropReason::GreUnsupported,
        DropReason::NoPool,
        DropReason::PortsExhausted,
        DropReason::NoMapping,
        DropReason::TooBig,
        DropReason::TtlExceeded,
        DropReason::NoRoom,
        DropReason::NotInside,
        DropReason::MartianSource,
        DropReason::BadChecksum,
        DropReason::NotOnLink,
        DropReason::NoSource,
        DropReason::BadPayloadLength,
        DropReason::ExtensionHeader,
        DropReason::Nat64Untranslatable,
    ];

    pub fn name(self) -> &'static str {
        match self {
            DropReason::Malformed => "malformed",
            DropReason::Fragment => "fragment",
            DropReason::NoFlow => "no_flow",
            DropReason::NoBackend => "no_backend",
            DropReason::ConntrackFull => "conntrack_full",
            DropReason::Conflict => "conflict",
            DropReason::NoRoute => "no_route",
            DropReason::NoNeighbour => "no_neighbour",
            DropReason::GreUnsupported => "gre_unsupported",
            DropReason::NoPool => "no_pool",
            DropReason::PortsExhausted => "ports_exhausted",
            DropReason::NoMapping => "no_mapping",
            DropReason::TooBig => "too_big",
            DropReason::TtlExceeded => "ttl_exceeded",
            DropReason::NoRoom => "no_room",
            DropReason::NotInside => "not_inside",
            DropReason::MartianSource => "martian_source",
            DropReason::BadChecksum => "bad_checksum",
            DropReason::NotOnLink => "not_on_link",
            DropReason::NoSource => "no_source",
            DropReason::BadPayloadLength => "bad_payload_length",
            DropReason::ExtensionHeader => "extension_header",
            DropReason::Nat64Untranslatable => "nat64_untranslatable",
        }
    }
}

/// Every counter of one core, by position.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
#[repr(usize)]
pub enum Counter {
    RxPackets,
    RxBytes,
    TxPackets,
    TxBytes,
    /// Frames given back to the kernel (not ours after all).
    Passed,
    /// Frames handed to their owner core.
    Handoffs,
    NewFlows,
    /// New flows whose backend came from source persistence.
    Persisted,
    IcmpTranslated,
    ConntrackUsed,
    ConntrackCapacity,
    /// Flows in the IPv6 table (`conntrack_used` is the IPv4 table's).
    ConntrackV6Used,
    ConntrackExpired,
    ConntrackEvicted,
    /// Packets taken out of a GRE tunnel, and put into one.
    GreDecapsulated,
    GreEncapsulated,
    /// ICMP fragmentation-needed errors sent for packets too large for a tunnel.
    FragNeededSent,
    /// TCP SYNs whose MSS option was lowered to fit a tunnel.
    MssClamped,
    /// ICMP time exceeded errors sent for packets whose TTL ran out here.
    IcmpTimeExceededSent,
    /// ICMP errors not sent because the worker's rate limit was reached (RFC 1812 §4.3.2.8).
    IcmpRateLimited,
    /// Endpoint-independent mappings in use (a gauge).
    SnatMappings,
    /// Packets of direct-return services sent on: MAC rewritten (`dr`), or wrapped in IP in IP
    /// (`tunnel`, RFC 2003).
    DirectRouted,
    IpipEncapsulated,
    /// UDP and ICMP flows whose backend was down or gone, scheduled afresh on their next packet.
    Rescheduled,
    /// Session sync: a peer's flows adopted here, updated (a refresh, a state change), removed
    /// because the peer reported them gone, and refused (see `pipeline::adopt::AdoptError`).
    SyncAdopted,
    SyncUpdated,
    SyncRemoved,
    /// A peer's removal of a flow that has more life left here (see `Pipeline::forget`).
    SyncRemoveIgnored,
    SyncRefused,
    /// This worker's changes that did not fit the change log between two drains (a bulk
    /// resynchronisation repairs them).
    SyncChangesLost,
    /// Established-flow offload: directions whose rule the worker offered to the XDP program,
    /// and established packets whose forwarding no rule can express (see `offload::derive`).
    OffloadOffered,
    OffloadUnfit,
    /// NAT64: packets translated from IPv6 to IPv4 (client to backend) and back (replies).
    Nat64ToIpv4,
    Nat64ToIpv6,
    Drops,
}

/// Counters before `Drops`, then one per drop reason.
pub const COUNTERS: usize = Counter::Drops as usize + DROP_REASONS;

impl Counter {
    pub const NAMED: [(Counter, &'static str); Counter::Drops as usize] = [
        (Counter::RxPackets, "rx_packets"),
        (Counter::RxBytes, "rx_bytes"),
        (Counter::TxPackets, "tx_packets"),
        (Counter::TxBytes, "tx_bytes"),
        (Counter::Passed, "passed"),
        (Counter::Handoffs, "handoffs"),
        (Counter::NewFlows, "new_flows"),
        (Counter::Persisted, "persisted"),
        (Counter::IcmpTranslated, "icmp_translated"),
        (Counter::ConntrackUsed, "conntrack_used"),
        (Counter::ConntrackV6Used, "conntrack_v6_used"),
        (Counter::ConntrackCapacity, "conntrack_capacity"),
        (Counter::ConntrackExpired, "conntrack_expired"),
        (Counter::ConntrackEvicted, "conntrack_evicted"),
        (Counter::GreDecapsulated, "gre_decapsulated"),
        (Counter::GreEncapsulated, "gre_encapsulated"),
        (Counter::FragNeededSent, "frag_needed_sent"),
        (Counter::MssClamped, "mss_clamped"),
        (Counter::IcmpTimeExceededSent, "icmp_time_exceeded_sent"),
        (Counter::IcmpRateLimited, "icmp_rate_limited"),
        (Counter::SnatMappings, "snat_mappings"),
        (Counter::DirectRouted, "direct_routed"),
        (Counter::IpipEncapsulated, "ipip_encapsulated"),
        (Counter::Rescheduled, "rescheduled"),
        (Counter::SyncAdopted, "sync_adopted"),
        (Counter::SyncUpdated, "sync_updated"),
        (Counter::SyncRemoved, "sync_removed"),
        (Counter::SyncRemoveIgnored, "sync_remove_ignored"),
        (Counter::SyncRefused, "sync_refused"),
        (Counter::SyncChangesLost, "sync_changes_lost"),
        (Counter::OffloadOffered, "offload_offered"),
        (Counter::OffloadUnfit, "offload_unfit"),
        (Counter::Nat64ToIpv4, "nat64_to_ipv4"),
        (Counter::Nat64ToIpv6, "nat64_to_ipv6"),
    ];
}

#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Counters {
    pub v: [u64; COUNTERS],
}

impl Default for Counters {
    fn default() -> Self {
        Counters { v: [0; COUNTERS] }
    }
}

impl Counters {
    #[inline(always)]
    pub fn add(&mut self, c: Counter, n: u64) {
        self.v[c as usize] += n;
    }

    #[inline(always)]
    pub fn set(&mut self, c: Counter, n: u64) {
        self.v[c as usize] = n;
    }

    #[inline(always)]
    pub fn drop(&mut self, r: DropReason) {
        self.v[Counter::Drops as usize + r as usize] += 1;
    }

    pub fn get(&self, c: Counter) -> u64 {
        self.v[c as usize]
    }

    pub fn drops(&self, r: DropReason) -> u64 {
        self.v[Counter::Drops as usize + r as usize]
    }

    pub fn total_drops(&self) -> u64 {
        self.v[Counter::Drops as usize..].iter().sum()
    }

    /// Adds another core's counters (for totals).
    pub fn accumulate(&mut self, other: &Counters) {
        for (a, b) in self.v.iter_mut().zip(other.v.iter()) {
            *a += b;
        }
    }

    /// `(name, value)` of every counter, drops as `drops_<reason>`.
    pub fn named(&self) -> Vec<(String, u64)> {
        let mut out: Vec<(String, u64)> = Counter::NAMED
            .iter()
            .map(|(c, n)| (n.to_string(), self.get(*c)))
            .collect();
        out.extend(
            DropReason::ALL
                .iter()
                .map(|r| (format!("drops_{}", r.name()), self.drops(*r))),
        );
        out
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn sum_and_name() {
        let mut c = Counters::default();
        c.add(Counter::RxPackets, 3);
        c.drop(DropReason::NoNeighbour);
        let mut total = c.clone();
        total.accumulate(&c);
        assert_eq!(total.get(Counter::RxPackets), 6);
        assert_eq!(total.drops(DropReason::NoNeighbour), 2);
        assert_eq!(total.total_drops(), 2);
        let named = total.named();
        assert!(named.contains(&("drops_no_neighbour".to_string(), 2)));
        assert_eq!(named.len(), COUNTERS);
    }
}
