//! A bond's settings as its thread uses them: the configuration resolved against the kernel
//! (members' indexes and MACs, the tap's index, the bond's MAC).

use std::net::Ipv4Addr;
use std::time::Duration;

use dataplane::bond::XmitHash;

use crate::config::bond::{BondConfig, BondMode, LacpRate};

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Mode {
    ActiveBackup,
    BalanceXor,
    Lacp,
}

impl Mode {
    pub fn name(self) -> &'static str {
        match self {
            Mode::ActiveBackup => "active-backup",
            Mode::BalanceXor => "balance-xor",
            Mode::Lacp => "802.3ad",
        }
    }
}

#[derive(Debug, Clone, PartialEq, Eq)]
pub struct MemberSpec {
    pub name: String,
    pub ifindex: u32,
    pub mac: [u8; 6],
}

#[derive(Debug, Clone, PartialEq, Eq)]
pub struct BondSpec {
    pub name: String,
    /// The tap's interface index.
    pub ifindex: u32,
    pub mac: [u8; 6],
    pub mode: Mode,
    pub xmit_hash: XmitHash,
    pub lacp_fast: bool,
    pub lacp_active: bool,
    pub system_priority: u16,
    pub key: u16,
    /// Index into `members`.
    pub primary: Option<usize>,
    pub min_links: u16,
    pub arp_monitor: Option<(Ipv4Addr, Duration)>,
    pub members: Vec<MemberSpec>,
}

pub fn xmit_hash(c: &BondConfig) -> XmitHash {
    use crate::config::bond::XmitHash as H;
    match c.xmit_hash {
        H::L2 => XmitHash::L2,
        H::L23 => XmitHash::L23,
        H::L34 => XmitHash::L34,
    }
}

impl BondSpec {
    pub fn new(c: &BondConfig, ifindex: u32, mac: [u8; 6], members: Vec<MemberSpec>) -> BondSpec {
        BondSpec {
            name: c.name.clone(),
            ifindex,
            mac,
            mode: match c.mode {
                BondMode::ActiveBackup => Mode::ActiveBackup,
                BondMode::BalanceXor => Mode::BalanceXor,
                BondMode::Lacp => Mode::Lacp,
            },
            xmit_hash: xmit_hash(c),
            lacp_fast: c.lacp_rate == LacpRate::Fast,
            lacp_active: c.lacp_active,
            system_priority: c.system_priority,
            key: c.key,
            primary: c
                .primary
                .as_ref()
                .and_then(|p| members.iter().position(|m| &m.name == p)),
            min_links: c.min_links,
            arp_monitor: c.arp_monitor.as_ref().map(|a| (a.target, a.interval.0)),
            members,
        }
    }

    /// The same bond with the settings of `c` that change in place.
    pub fn reconfigured(&self, c: &BondConfig) -> BondSpec {
        BondSpec::new(c, self.ifindex, self.mac, self.members.clone())
    }

    pub fn lacp_params(&self) -> (bool, bool, u16, u16) {
        (
            self.lacp_fast,
            self.lacp_active,
            self.system_priority,
            self.key,
        )
    }

    pub fn member_names(&self) -> Vec<String> {
        self.members.iter().map(|m| m.name.clone()).collect()
    }
}
