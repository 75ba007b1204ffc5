//! The `Instance` type: one Virtual Router, its inputs and its outputs.

use std::collections::VecDeque;
use std::net::IpAddr;
use std::time::{Duration, Instant};

use super::State;
use crate::action::Action;
use crate::config::{Config, PRIORITY_OWNER};
use crate::error::{ConfigError, RxError};
use crate::events::{Event, FaultReason, TransitionReason};
use crate::packet::AddressFamily;
use crate::statistics::Statistics;
use crate::status::Status;
use crate::timers::{self, Centiseconds, Timer, TimerTable};

/// What the shell knows about a received packet from its IP header.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct RxMeta {
    /// IP source address (the sender's primary address).
    pub src: IpAddr,
    /// IP destination address (multicast group or our unicast address); part
    /// of the checksum pseudo-header.
    pub dst: IpAddr,
    /// IPv4 TTL or IPv6 Hop Limit (`IP_RECVTTL` / `IPV6_RECVHOPLIMIT`).
    pub ttl_or_hop_limit: u8,
}

/// What a [`crate::SyncGroup`] needs to know about one member.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct SyncView {
    /// The member's state.
    pub state: State,
    /// The member's own fault (not one imposed by the group).
    pub own_fault: bool,
    /// The member's Master_Down_Timer fired while gated by the group.
    pub wants_master: bool,
}

/// The Master we follow while Backup.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(super) struct LearnedMaster {
    pub address: IpAddr,
    pub priority: u8,
}

/// One VRRPv3 Virtual Router instance: a deterministic state machine with no
/// IO and no clock.
///
/// Inputs are the `handle_*` and `set_*` methods, each taking `now`. Outputs
/// are drained with [`Instance::poll_action`]; the next deadline is
/// [`Instance::poll_timeout`]. See the crate documentation for the order in
/// which the shell calls them.
#[derive(Debug)]
pub struct Instance {
    pub(super) config: Config,
    pub(super) state: State,
    pub(super) priority_adjustment: i32,
    pub(super) effective_priority: u8,
    /// Master_Adver_Interval (RFC 9568: Active_Adver_Interval).
    pub(super) master_adver_interval: Centiseconds,
    pub(super) master: Option<LearnedMaster>,
    pub(super) timers: TimerTable,
    pub(super) actions: VecDeque<Action>,
    pub(super) stats: Statistics,
    pub(super) fault: Option<FaultReason>,
    pub(super) group_fault: bool,
    /// preempt_delay: until when a lower-priority Master is still followed.
    pub(super) preempt_hold_until: Option<Instant>,
    /// Backup discarded lower-priority adverts since the last accepted one,
    /// so a Master_Down_Timer expiry is a preemption.
    pub(super) discarding_lower: bool,
    /// Backup's Master resigned (priority 0) since the last accepted advert.
    pub(super) master_resigned: bool,
    pub(super) wants_master: bool,
    pub(super) split_brain_peer: Option<IpAddr>,
    pub(super) last_mismatch: Option<(IpAddr, Vec<IpAddr>)>,
    pub(super) last_reported_error: Option<(IpAddr, u8)>,
    pub(super) last_transition: Option<(Instant, TransitionReason)>,
}

impl Instance {
    /// Creates an instance in the Initialize state. Nothing happens until
    /// [`Instance::handle_startup`].
    pub fn new(config: Config) -> Result<Self, ConfigError> {
        config.validate()?;
        let stats = Statistics {
            refresh_rate_ms: config.advertisement_interval.as_millis(),
            ..Statistics::default()
        };
        let effective_priority = config.priority;
        let master_adver_interval = config.advertisement_interval;
        Ok(Instance {
            config,
            state: State::Initialize,
            priority_adjustment: 0,
            effective_priority,
            master_adver_interval,
            master: None,
            timers: TimerTable::default(),
            actions: VecDeque::new(),
            stats,
            fault: None,
            group_fault: false,
            preempt_hold_until: None,
            discarding_lower: false,
            master_resigned: false,
            wants_master: false,
            split_brain_peer: None,
            last_mismatch: None,
            last_reported_error: None,
            last_transition: None,
        })
    }

    // ===== getters =====

    /// The configuration.
    pub fn config(&self) -> &Config {
        &self.config
    }

    /// The current state.
    pub fn state(&self) -> State {
        self.state
    }

    /// The priority advertised and compared.
    pub fn effective_priority(&self) -> u8 {
        self.effective_priority
    }

    /// RFC 6527 counters.
    pub fn statistics(&self) -> &Statistics {
        &self.stats
    }

    /// Skew_Time for the current priority and Master_Adver_Interval.
    pub fn skew_time(&self) -> Duration {
        timers::skew_time(self.effective_priority, self.master_adver_interval)
    }

    /// Master_Down_Interval for the current priority and Master_Adver_Interval.
    pub fn master_down_interval(&self) -> Duration {
        timers::master_down_interval(self.effective_priority, self.master_adver_interval)
    }

    /// What a sync group needs to know about this instance.
    pub fn sync_view(&self) -> SyncView {
        SyncView {
            state: self.state,
            own_fault: self.fault.is_some(),
            wants_master: self.wants_master,
        }
    }

    /// A snapshot for status displays.
    pub fn status(&self) -> Status {
        let master_is_self = self.state == State::Master;
        Status {
            vrid: self.config.vrid,
            state: self.state,
            base_priority: self.config.priority,
            priority_adjustment: self.priority_adjustment,
            effective_priority: self.effective_priority,
            is_owner: self.config.is_owner(),
            master_address: if master_is_self {
                Some(self.config.primary_address)
            } else {
                self.master.map(|m| m.address)
            },
            master_priority: if master_is_self {
                Some(self.effective_priority)
            } else {
                self.master.map(|m| m.priority)
            },
            advertisement_interval: self.config.advertisement_interval,
            master_adver_interval: self.master_adver_interval,
            skew_time: self.skew_time(),
            master_down_interval: self.master_down_interval(),
            last_transition: self.last_transition.clone(),
            fault: self.fault.clone(),
            group_fault: self.group_fault,
            split_brain_peer: self.split_brain_peer,
            accept_mode: self.config.accept_mode,
            accepts_virtual_traffic: master_is_self
                && (self.config.is_owner() || self.config.accept_mode),
            wants_master: self.wants_master,
            next_timeout: self.poll_timeout(),
        }
    }

    // ===== outputs =====

    /// The next queued action, in the order the state machine produced them.
    pub fn poll_action(&mut self) -> Option<Action> {
        self.actions.pop_front()
    }

    /// When [`Instance::handle_timeout`] must next be called.
    #[must_use]
    pub fn poll_timeout(&self) -> Option<Instant> {
        self.timers.next_timeout()
    }

    // ===== inputs =====

    /// The Startup event (RFC 9568 §6.4.1). Ignored unless in Initialize.
    pub fn handle_startup(&mut self, now: Instant) {
        if self.state != State::Initialize {
            return;
        }
        self.stats.row_discontinuity_time.get_or_insert(now);
        self.start(now, TransitionReason::Startup);
    }

    /// The Shutdown event: a Master resigns with a priority-0 advert (RFC 9568
    /// §6.4.3); every state returns to Initialize.
    pub fn handle_shutdown(&mut self, now: Instant) {
        if self.state == State::Initialize {
            return;
        }
        self.enter_initialize(now);
    }

    /// Fires every timer due at `now`.
    pub fn handle_timeout(&mut self, now: Instant) {
        while let Some((timer, deadline)) = self.timers.pop_expired(now) {
            match timer {
                Timer::Adver => self.on_adver_timer(now, deadline),
                Timer::MasterDown => self.on_master_down_timer(now),
                Timer::SplitBrainClear => self.clear_split_brain(),
            }
        }
    }

    /// A received VRRP message (the IP payload). Malformed or invalid packets
    /// are counted and dropped; this never panics. Returns why the packet was
    /// discarded, if it was (every discard, where the [`Event::ReceiveError`]
    /// reports only the first of a run from one source).
    pub fn handle_advertisement(
        &mut self,
        now: Instant,
        meta: RxMeta,
        bytes: &[u8],
    ) -> Option<RxError> {
        self.receive(now, meta, bytes)
    }

    /// Sets the sum of the tracker weights. The effective priority is the
    /// configured one plus `adjustment`, clamped to 1..=254 (RFC 9568 §5.2.4:
    /// backups "MUST use priority values between 1-254"); an owner stays 255.
    pub fn set_priority_adjustment(&mut self, now: Instant, adjustment: i32) {
        self.priority_adjustment = adjustment;
        let effective = if self.config.is_owner() {
            PRIORITY_OWNER
        } else {
            let p = i64::from(self.config.priority) + i64::from(adjustment);
            // Clamped into u8 range just above.
            p.clamp(1, 254) as u8
        };
        if effective != self.effective_priority {
            let from = self.effective_priority;
            self.effective_priority = effective;
            // Nothing else changes now: a Master's next advert carries the new
            // priority, and a Backup uses it for the next comparison and the
            // next Skew_Time, exactly as RFC 9568 §6.4 recomputes them.
            self.event(Event::PriorityChanged {
                from,
                to: effective,
            });
        }
        // `now` keeps every input's signature uniform (and free for later use).
        let _ = now;
    }

    /// Raises (`Some`) or clears (`None`) the instance's own fault.
    pub fn set_fault(&mut self, now: Instant, fault: Option<FaultReason>) {
        let was_faulted = self.is_faulted();
        self.fault = fault;
        self.apply_fault_change(now, was_faulted);
    }

    /// Sync group: holds the instance in Fault because another member is
    /// faulted (or releases it).
    pub fn set_group_fault(&mut self, now: Instant, faulted: bool) {
        let was_faulted = self.is_faulted();
        self.group_fault = faulted;
        self.apply_fault_change(now, was_faulted);
    }

    /// Sync group: a Backup becomes Master now (another member did).
    pub fn force_master(&mut self, now: Instant) {
        if self.state == State::Backup {
            self.enter_master(now, TransitionReason::SyncGroup);
        }
    }

    /// Sync group: a Master steps down to Backup now (another member did).
    pub fn force_backup(&mut self, now: Instant) {
        if self.state == State::Master {
            self.enter_backup(now, TransitionReason::SyncGroup, None);
        }
    }

    /// The interface's primary address changed (RFC 9568 §7.2: adverts are
    /// sourced from it). It must stay in the instance's family.
    pub fn set_primary_address(
        &mut self,
        now: Instant,
        address: IpAddr,
    ) -> Result<(), ConfigError> {
        if AddressFamily::of(&address) != self.config.family() {
            return Err(ConfigError::FamilyMismatch(address));
        }
        self.config.primary_address = address;
        // `now` keeps every input's signature uniform.
        let _ = now;
        Ok(())
    }

    // ===== helpers shared by the fsm files =====

    pub(super) fn is_faulted(&self) -> bool {
        self.fault.is_some() || self.group_fault
    }

    pub(super) fn event(&mut self, event: Event) {
        self.actions.push_back(Action::Event(event));
    }

    /// Reports a discarded packet unless it repeats the last report.
    pub(super) fn report_rx_error(&mut self, src: IpAddr, error: RxError, event: Event) {
        let key = (src, rx_error_kind(&error));
        if self.last_reported_error != Some(key) {
            self.last_reported_error = Some(key);
            self.event(event);
        }
    }

    fn apply_fault_change(&mut self, now: Instant, was_faulted: bool) {
        let faulted = self.is_faulted();
        match (self.state, was_faulted, faulted) {
            // Not started: remembered; handle_startup enters Fault directly.
            (State::Initialize, _, _) => {}
            (_, false, true) => {
                let reason = match &self.fault {
                    Some(f) => TransitionReason::Fault(f.clone()),
                    None => TransitionReason::SyncGroup,
                };
                self.enter_fault(now, reason);
            }
            (State::Fault, true, false) => self.start(now, TransitionReason::FaultCleared),
            _ => {}
        }
    }
}

/// A small code per error kind, for rate-limiting reports.
fn rx_error_kind(error: &RxError) -> u8 {
    use crate::error::DecodeError as D;
    match error {
        RxError::Ttl { .. } => 1,
        RxError::Decode(D::TooShort { .. }) => 2,
        RxError::Decode(D::LengthMismatch { .. }) => 3,
        RxError::Decode(D::Version { .. }) => 4,
        RxError::Decode(D::UnknownType { .. }) => 5,
        RxError::Decode(D::V2OverIpv6) => 6,
        RxError::Checksum { .. } => 7,
        RxError::Vrid { .. } => 8,
        RxError::ZeroInterval => 9,
        RxError::NoAddresses => 10,
        RxError::AddressList => 11,
        RxError::Family(_) => 12,
        RxError::UnknownSource(_) => 13,
        RxError::InvalidSource(_) => 14,
        RxError::Destination(_) => 15,
    }
}
