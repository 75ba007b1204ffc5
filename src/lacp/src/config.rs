//! The administrative parameters of a bond (one Aggregation System's LACP instance) and of
//! its member ports (§6.4.7 "Aggregation Port ... Admin" variables).

use crate::codec::state::PortState;
use crate::codec::{MacAddr, SystemId};
use crate::error::ConfigError;

/// LACP_Activity (§6.4.2.3 k.1).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
pub enum Activity {
    /// Send LACPDUs periodically, whatever the partner does.
    #[default]
    Active,
    /// "Speak when spoken to": send only while the partner is Active.
    Passive,
}

/// LACP_Timeout (§6.4.2.3 k.2): how soon the actor gives up on a silent partner, and what it
/// asks the partner to transmit at.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
pub enum Timeout {
    /// Short_Timeout_Time 3 s; asks the partner for Fast_Periodic_Time (1 s).
    #[default]
    Fast,
    /// Long_Timeout_Time 90 s; asks the partner for Slow_Periodic_Time (30 s).
    Slow,
}

/// The bond's parameters: one actor system, one key, one rate for every member.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct BondConfig {
    /// Actor_System_Priority and Actor_System (the bond's MAC).
    pub system: SystemId,
    /// Actor_Admin_Port_Key for every member unless a port sets its own.
    pub key: u16,
    /// LACP_Activity of every member.
    pub activity: Activity,
    /// LACP_Timeout of every member.
    pub timeout: Timeout,
    /// The bond carries traffic only when at least this many members are
    /// Collecting_Distributing in the selected aggregator (0 and 1 behave alike).
    pub min_links: usize,
}

impl BondConfig {
    /// Active, fast, priority 65535 (the Linux bonding driver's and Open vSwitch's default),
    /// key 1, min_links 1.
    pub fn new(mac: MacAddr) -> BondConfig {
        BondConfig {
            system: SystemId {
                priority: 0xffff,
                mac,
            },
            key: 1,
            activity: Activity::Active,
            timeout: Timeout::Fast,
            min_links: 1,
        }
    }
}

/// One member port.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct PortConfig {
    /// Actor_Port_Number: nonzero and unique in the bond.
    pub number: u16,
    /// Actor_Port_Priority.
    pub priority: u16,
    /// The port's own MAC address: the source of the LACPDUs it sends.
    pub mac: MacAddr,
    /// A key of its own instead of the bond's (a port with another key cannot join the
    /// others' aggregator: the way to keep a link out of the group on purpose).
    pub key: Option<u16>,
    /// Aggregation bit of Actor_Admin_Port_State: `false` makes the link Individual.
    pub aggregatable: bool,
}

impl PortConfig {
    /// Port `number` with priority 255 (the Linux bonding driver's default), aggregatable.
    pub fn new(number: u16, mac: MacAddr) -> PortConfig {
        PortConfig {
            number,
            priority: 0xff,
            mac,
            key: None,
            aggregatable: true,
        }
    }
}

pub(crate) fn validate(bond: &BondConfig, ports: &[PortConfig]) -> Result<(), ConfigError> {
    if ports.is_empty() {
        return Err(ConfigError::NoPorts);
    }
    if bond.min_links > ports.len() {
        return Err(ConfigError::MinLinksAboveMembers {
            min_links: bond.min_links,
            ports: ports.len(),
        });
    }
    let m = bond.system.mac;
    if m == MacAddr::ZERO || m.is_multicast() {
        return Err(ConfigError::BadSystemMac(m));
    }
    for (i, p) in ports.iter().enumerate() {
        if p.number == 0 {
            return Err(ConfigError::ZeroPortNumber);
        }
        if ports[..i].iter().any(|q| q.number == p.number) {
            return Err(ConfigError::DuplicatePortNumber(p.number));
        }
        if p.mac.is_multicast() {
            return Err(ConfigError::BadPortMac(p.mac));
        }
    }
    Ok(())
}

/// Actor_Admin_Port_State from the configuration: activity, timeout and aggregation bits.
pub(crate) fn actor_admin_state(bond: &BondConfig, port: &PortConfig) -> PortState {
    let mut s = PortState::default();
    s.set_activity(bond.activity == Activity::Active);
    s.set_timeout(bond.timeout == Timeout::Fast);
    s.set_aggregation(port.aggregatable);
    s
}
