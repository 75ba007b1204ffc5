//! Per-instance configuration (RFC 9568 §6.1 parameters plus interop knobs).

use std::net::{IpAddr, Ipv4Addr, Ipv6Addr};
use std::time::Duration;

use crate::checksum::ChecksumMode;
use crate::error::ConfigError;
use crate::packet::AddressFamily;
use crate::timers::Centiseconds;

/// The IPv4 VRRP multicast group (RFC 9568 §5.1.1.2).
pub const MULTICAST_GROUP_V4: Ipv4Addr = Ipv4Addr::new(224, 0, 0, 18);
/// The IPv6 VRRP multicast group (RFC 9568 §5.1.2.2).
pub const MULTICAST_GROUP_V6: Ipv6Addr = Ipv6Addr::new(0xff02, 0, 0, 0, 0, 0, 0, 0x12);

/// Priority of the IPvX address owner (RFC 9568 §5.2.4).
pub const PRIORITY_OWNER: u8 = 255;
/// Priority a resigning Master advertises (RFC 9568 §5.2.4).
pub const PRIORITY_RESIGN: u8 = 0;
/// RFC 9568 §6.1 default priority for a backup.
pub const PRIORITY_DEFAULT: u8 = 100;
/// The TTL / Hop Limit every VRRP packet carries (RFC 9568 §5.1.1.3, §5.1.2.3).
pub const TTL: u8 = 255;

/// How the TTL (IPv4) or Hop Limit (IPv6) of received adverts is checked.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
pub enum TtlCheck {
    /// RFC 9568 §5.1.1.3: "A VRRP Router receiving a packet with the TTL not
    /// equal to 255 MUST discard the packet." (GTSM, RFC 5082.)
    #[default]
    Exact255,
    /// Non-RFC, unicast only (keepalived `min_ttl`/`max_ttl`): peers reached
    /// through routers cannot keep 255.
    Range {
        /// Lowest accepted value.
        min: u8,
        /// Highest accepted value.
        max: u8,
    },
}

impl TtlCheck {
    /// Whether `ttl` passes.
    pub fn accepts(self, ttl: u8) -> bool {
        match self {
            TtlCheck::Exact255 => ttl == TTL,
            TtlCheck::Range { min, max } => (min..=max).contains(&ttl),
        }
    }
}

/// What to do with an advert whose address list differs from ours.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
pub enum AddressMismatchPolicy {
    /// RFC 9568 §7.1: "It MAY verify that the IPvX address(es) associated with
    /// the VRID are valid. If the above check fails, the receiver SHOULD log
    /// the event and MAY indicate via network management that a
    /// misconfiguration was detected." Count, report, process the advert.
    #[default]
    Report,
    /// Count, report, and discard the advert (RFC 3768 behaviour, for
    /// operators who prefer a loud split to a silent misconfiguration).
    Discard,
}

/// Configuration of one Virtual Router instance (one VRID, one family, one
/// interface).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Config {
    /// VRID, 1..=255.
    pub vrid: u8,
    /// The interface's primary IPv4 address, or its IPv6 link-local address
    /// (RFC 9568 §7.2). It is the advert source, the tie-break key (§6.4.3)
    /// and part of the checksum pseudo-header. The shell updates it with
    /// [`crate::Instance::set_primary_address`] when the interface changes.
    pub primary_address: IpAddr,
    /// Configured priority: 255 for the address owner, otherwise 1..=254.
    pub priority: u8,
    /// Advertisement_Interval in centiseconds (1..=4095).
    pub advertisement_interval: Centiseconds,
    /// The Virtual Router's addresses. For IPv6 the RFC wants a link-local
    /// first; we do not enforce it because keepalived does not (outside strict
    /// mode) and its adverts carry only global addresses.
    pub virtual_addresses: Vec<IpAddr>,
    /// Preempt_Mode (RFC default true).
    pub preempt: bool,
    /// keepalived `preempt_delay`: after first seeing a lower-priority Master,
    /// keep accepting its adverts for this long before preempting it. Zero
    /// disables it.
    pub preempt_delay: Duration,
    /// Accept_Mode (RFC default false). The core only reports it (see
    /// [`crate::Status::accepts_virtual_traffic`]); the shell enforces it.
    pub accept_mode: bool,
    /// IPv4 checksum form; see [`ChecksumMode`] for why the default is the
    /// pseudo-header.
    pub checksum_mode: ChecksumMode,
    /// Also accept IPv4 adverts whose checksum is valid in the other form.
    /// Useful while migrating a segment between the two forms; transmission
    /// always uses `checksum_mode`.
    pub accept_either_checksum: bool,
    /// TTL / Hop Limit check on receive.
    pub ttl_check: TtlCheck,
    /// Non-RFC unicast mode: when non-empty, adverts go to each peer instead
    /// of the multicast group.
    pub unicast_peers: Vec<IpAddr>,
    /// With unicast peers: discard adverts from sources that are not peers.
    pub check_unicast_source: bool,
    /// Override of the multicast destination (keepalived `mcast_dst_ip`).
    pub multicast_group: Option<IpAddr>,
    /// Handling of adverts whose address list differs.
    pub address_mismatch: AddressMismatchPolicy,
    /// When a Master sees a lower-priority Master (split brain), ask the shell
    /// to re-announce the VIPs (GARP / unsolicited NA) so hosts that followed
    /// the other Master come back (keepalived `garp_lower_prio_repeat`).
    pub gratuitous_on_split_brain: bool,
    /// Member of a sync group: when the Master_Down_Timer fires the instance
    /// does not promote itself; it raises `wants_master` (see
    /// [`crate::Instance::sync_view`]) and waits for
    /// [`crate::SyncGroup`] to tell it to go (keepalived prefers Backup for
    /// the whole group to avoid thrashing).
    pub sync_group: bool,
}

impl Config {
    /// A configuration with the RFC defaults (priority 100, 1 s, preempt,
    /// no accept) and the keepalived-compatible checksum.
    pub fn new(vrid: u8, primary_address: IpAddr, virtual_addresses: Vec<IpAddr>) -> Self {
        Config {
            vrid,
            primary_address,
            priority: PRIORITY_DEFAULT,
            advertisement_interval: Centiseconds::DEFAULT_INTERVAL,
            virtual_addresses,
            preempt: true,
            preempt_delay: Duration::ZERO,
            accept_mode: false,
            checksum_mode: ChecksumMode::default(),
            accept_either_checksum: false,
            ttl_check: TtlCheck::Exact255,
            unicast_peers: Vec::new(),
            check_unicast_source: false,
            multicast_group: None,
            address_mismatch: AddressMismatchPolicy::Report,
            gratuitous_on_split_brain: true,
            sync_group: false,
        }
    }

    /// The instance's address family (that of the primary address).
    pub fn family(&self) -> AddressFamily {
        AddressFamily::of(&self.primary_address)
    }

    /// Whether this router owns the addresses (priority 255).
    pub fn is_owner(&self) -> bool {
        self.priority == PRIORITY_OWNER
    }

    /// Destinations of each advertisement: the unicast peers, or the group.
    pub fn destinations(&self) -> Vec<IpAddr> {
        if !self.unicast_peers.is_empty() {
            return self.unicast_peers.clone();
        }
        vec![self.multicast_group.unwrap_or(match self.family() {
            AddressFamily::Ipv4 => IpAddr::V4(MULTICAST_GROUP_V4),
            AddressFamily::Ipv6 => IpAddr::V6(MULTICAST_GROUP_V6),
        })]
    }

    /// Checks every rule the state machine relies on.
    pub fn validate(&self) -> Result<(), ConfigError> {
        if self.vrid == 0 {
            return Err(ConfigError::InvalidVrid);
        }
        if self.priority == PRIORITY_RESIGN {
            return Err(ConfigError::InvalidPriority);
        }
        let interval = self.advertisement_interval;
        if interval.0 == 0 || interval > Centiseconds::MAX_INTERVAL {
            return Err(ConfigError::InvalidInterval(interval.0));
        }
        if self.virtual_addresses.is_empty() {
            return Err(ConfigError::NoVirtualAddresses);
        }
        if self.virtual_addresses.len() > usize::from(u8::MAX) {
            return Err(ConfigError::TooManyVirtualAddresses(
                self.virtual_addresses.len(),
            ));
        }
        let family = self.family();
        let foreign = self
            .virtual_addresses
            .iter()
            .chain(&self.unicast_peers)
            .chain(&self.multicast_group)
            .find(|a| AddressFamily::of(a) != family);
        if let Some(addr) = foreign {
            return Err(ConfigError::FamilyMismatch(*addr));
        }
        if let TtlCheck::Range { min, max } = self.ttl_check {
            if self.unicast_peers.is_empty() {
                return Err(ConfigError::RelaxedTtlWithoutUnicast);
            }
            if min > max {
                return Err(ConfigError::EmptyTtlRange { min, max });
            }
        }
        Ok(())
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn v4() -> Config {
        Config::new(
            51,
            "198.18.0.1".parse().unwrap(),
            vec!["198.18.0.100".parse().unwrap()],
        )
    }

    #[test]
    fn defaults_are_valid_and_rfc() {
        let c = v4();
        assert_eq!(c.validate(), Ok(()));
        assert!(c.preempt);
        assert!(!c.accept_mode);
        assert_eq!(c.advertisement_interval, Centiseconds(100));
        assert_eq!(c.destinations(), vec![IpAddr::V4(MULTICAST_GROUP_V4)]);
    }

    #[test]
    fn rejects_bad_values() {
        let mut c = v4();
        c.vrid = 0;
        assert_eq!(c.validate(), Err(ConfigError::InvalidVrid));
        let mut c = v4();
        c.priority = 0;
        assert_eq!(c.validate(), Err(ConfigError::InvalidPriority));
        let mut c = v4();
        c.advertisement_interval = Centiseconds(4096);
        assert_eq!(c.validate(), Err(ConfigError::InvalidInterval(4096)));
        let mut c = v4();
        c.virtual_addresses = vec!["2001:db8::1".parse().unwrap()];
        assert!(matches!(c.validate(), Err(ConfigError::FamilyMismatch(_))));
        let mut c = v4();
        c.ttl_check = TtlCheck::Range { min: 250, max: 255 };
        assert_eq!(c.validate(), Err(ConfigError::RelaxedTtlWithoutUnicast));
        c.unicast_peers = vec!["198.18.1.2".parse().unwrap()];
        assert_eq!(c.validate(), Ok(()));
        assert_eq!(c.destinations(), c.unicast_peers);
    }
}
