//! A snapshot of one instance for the control socket, metrics and logs.

use std::net::IpAddr;
use std::time::{Duration, Instant};

use crate::events::{FaultReason, TransitionReason};
use crate::fsm::State;
use crate::timers::Centiseconds;

/// What `appctl status` shows for one Virtual Router.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Status {
    /// VRID.
    pub vrid: u8,
    /// Current state.
    pub state: State,
    /// Configured priority.
    pub base_priority: u8,
    /// Sum of the tracker weights the shell set.
    pub priority_adjustment: i32,
    /// Priority actually advertised and compared: base plus adjustment,
    /// clamped to 1..=254; 255 for the owner, never adjusted.
    pub effective_priority: u8,
    /// Whether this router is the address owner (priority 255).
    pub is_owner: bool,
    /// The Master: ourselves while Master, the learned one while Backup.
    pub master_address: Option<IpAddr>,
    /// The Master's advertised priority.
    pub master_priority: Option<u8>,
    /// Configured Advertisement_Interval.
    pub advertisement_interval: Centiseconds,
    /// Master_Adver_Interval: the Master's advertised interval while Backup,
    /// our own Advertisement_Interval while Master.
    pub master_adver_interval: Centiseconds,
    /// Current Skew_Time.
    pub skew_time: Duration,
    /// Current Master_Down_Interval.
    pub master_down_interval: Duration,
    /// When and why the last transition happened.
    pub last_transition: Option<(Instant, TransitionReason)>,
    /// The instance's own fault, if any.
    pub fault: Option<FaultReason>,
    /// Whether a sync-group peer holds this instance in Fault.
    pub group_fault: bool,
    /// The other Master while a split brain is detected.
    pub split_brain_peer: Option<IpAddr>,
    /// Configured Accept_Mode.
    pub accept_mode: bool,
    /// RFC 9568 §6.4.3: the Master "MUST accept packets addressed to the IPvX
    /// address(es) associated with the Virtual Router if it is the IPvX
    /// address owner or if Accept_Mode is True. Otherwise, it MUST NOT accept
    /// these packets." True only while Master.
    pub accepts_virtual_traffic: bool,
    /// Sync-group members: the Master_Down_Timer fired and the instance waits
    /// for the group to let it become Master.
    pub wants_master: bool,
    /// The next deadline (same as `poll_timeout`).
    pub next_timeout: Option<Instant>,
}
