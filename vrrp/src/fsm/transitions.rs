//! State entry actions and timer expiries (RFC 9568 §6.4).

use std::net::IpAddr;
use std::time::Instant;

use super::instance::{Instance, LearnedMaster};
use super::State;
use crate::action::{Action, Transmit};
use crate::advertisement::Advertisement;
use crate::checksum::ChecksumContext;
use crate::config::{PRIORITY_OWNER, PRIORITY_RESIGN, TTL};
use crate::events::{Event, TransitionReason};
use crate::statistics::NewMasterReason;
use crate::timers::{Centiseconds, Timer};

impl Instance {
    /// Startup, or return from Fault (RFC 9568 §6.4.1):
    ///
    /// "If the Priority = 255 (i.e., the router owns the IPvX address(es)
    /// associated with the Virtual Router), then: ... Transition to the
    /// {Active} state; else // Router is not the IPvX address owner: Set
    /// Active_Adver_Interval to Advertisement_Interval, Set the
    /// Active_Down_Timer to Active_Down_Interval, Transition to the {Backup}
    /// state."
    pub(super) fn start(&mut self, now: Instant, reason: TransitionReason) {
        if self.is_faulted() {
            let reason = match &self.fault {
                Some(f) => TransitionReason::Fault(f.clone()),
                None => TransitionReason::SyncGroup,
            };
            self.enter_fault(now, reason);
        } else if self.effective_priority == PRIORITY_OWNER {
            self.enter_master(now, reason);
        } else {
            self.master_adver_interval = self.config.advertisement_interval;
            self.enter_backup(now, reason, None);
        }
    }

    /// Entry into Master (§6.4.1 owner startup, §6.4.2 Master_Down_Timer):
    /// "Send an ADVERTISEMENT", announce every address (gratuitous ARP /
    /// unsolicited NA), "Set the Adver_Timer to Advertisement_Interval".
    pub(super) fn enter_master(&mut self, now: Instant, reason: TransitionReason) {
        let from = self.state;
        self.state = State::Master;
        // The Master is us: the interval in force is our own, not the one
        // learned from the Master we followed (RFC 9568 §6.1: the
        // Active_Adver_Interval is "the Advertisement_Interval of the
        // current Active Router").
        self.master_adver_interval = self.config.advertisement_interval;
        self.reset_backup_memory();
        self.timers.stop(Timer::MasterDown);
        self.send_advertisement(self.effective_priority);
        let vips = self.config.virtual_addresses.clone();
        self.actions
            .push_back(Action::AddVirtualAddresses(vips.clone()));
        self.actions.push_back(Action::SendGratuitous(vips));
        self.timers.set(
            Timer::Adver,
            now + self.config.advertisement_interval.as_duration(),
        );
        self.stats.master_transitions += 1;
        self.stats.new_master_reason = match reason {
            TransitionReason::Preempted => NewMasterReason::Preempted,
            TransitionReason::MasterDownTimer | TransitionReason::MasterResigned => {
                NewMasterReason::MasterNoResponse
            }
            _ => NewMasterReason::Priority,
        };
        self.transition(now, from, reason);
        let me = LearnedMaster {
            address: self.config.primary_address,
            priority: self.effective_priority,
        };
        self.set_master(Some(me));
    }

    /// Entry into Backup: from Initialize (§6.4.1), from Master on a better
    /// advert (§6.4.3), or forced by a sync group. `new_master` carries the
    /// advert that made a Master step down, whose interval becomes
    /// Master_Adver_Interval.
    pub(super) fn enter_backup(
        &mut self,
        now: Instant,
        reason: TransitionReason,
        new_master: Option<(LearnedMaster, Centiseconds)>,
    ) {
        let from = self.state;
        self.leave_master(false);
        self.state = State::Backup;
        self.reset_backup_memory();
        if let Some((_, interval)) = new_master {
            self.master_adver_interval = interval;
        }
        self.timers
            .set(Timer::MasterDown, now + self.master_down_interval());
        self.transition(now, from, reason);
        self.set_master(new_master.map(|(m, _)| m));
    }

    /// Entry into Fault (non-RFC). A Master resigns first with a priority-0
    /// advert, as on Shutdown, so the backups take over after Skew_Time
    /// instead of Master_Down_Interval (if the link is down the send fails
    /// harmlessly in the shell).
    pub(super) fn enter_fault(&mut self, now: Instant, reason: TransitionReason) {
        let from = self.state;
        self.leave_master(true);
        self.timers.stop_all();
        self.state = State::Fault;
        self.reset_backup_memory();
        self.transition(now, from, reason);
        self.set_master(None);
    }

    /// Shutdown (§6.4.2, §6.4.3): "Cancel the Adver_Timer, Send an
    /// ADVERTISEMENT with Priority = 0, Transition to the {Initialize} state."
    pub(super) fn enter_initialize(&mut self, now: Instant) {
        let from = self.state;
        self.leave_master(true);
        self.timers.stop_all();
        self.state = State::Initialize;
        self.reset_backup_memory();
        self.transition(now, from, TransitionReason::Shutdown);
        self.set_master(None);
    }

    /// Adver_Timer (§6.4.3): "Send an ADVERTISEMENT, Reset the Adver_Timer to
    /// Advertisement_Interval".
    pub(super) fn on_adver_timer(&mut self, now: Instant, deadline: Instant) {
        if self.state != State::Master {
            return;
        }
        self.send_advertisement(self.effective_priority);
        // Schedule from the deadline, not from `now`, so a late wake-up does
        // not push every later advert back; if we are more than a whole
        // interval late, restart from now.
        let interval = self.config.advertisement_interval.as_duration();
        let next = deadline + interval;
        self.timers
            .set(Timer::Adver, if next > now { next } else { now + interval });
    }

    /// Master_Down_Timer (§6.4.2): "If the Active_Down_Timer fires, then:
    /// Send an ADVERTISEMENT ... Transition to the {Active} state".
    pub(super) fn on_master_down_timer(&mut self, now: Instant) {
        if self.state != State::Backup {
            return;
        }
        if self.config.sync_group {
            // keepalived vrrp_sync_can_goto_master: wait for the whole group,
            // re-arming the timer meanwhile.
            self.wants_master = true;
            self.timers
                .set(Timer::MasterDown, now + self.master_down_interval());
            return;
        }
        let reason = if self.discarding_lower {
            TransitionReason::Preempted
        } else if self.master_resigned {
            TransitionReason::MasterResigned
        } else {
            TransitionReason::MasterDownTimer
        };
        self.enter_master(now, reason);
    }

    /// Builds the ADVERTISEMENT and queues one transmission per destination.
    pub(super) fn send_advertisement(&mut self, priority: u8) {
        let advertisement = Advertisement {
            vrid: self.config.vrid,
            priority,
            max_adver_int: self.config.advertisement_interval,
            addresses: self.config.virtual_addresses.clone(),
        };
        let src = self.config.primary_address;
        for dst in self.config.destinations() {
            let ctx = ChecksumContext {
                src,
                dst,
                mode: self.config.checksum_mode,
            };
            let payload = advertisement.to_bytes(&ctx);
            self.stats.sent_advertisements += 1;
            if priority == PRIORITY_RESIGN {
                self.stats.sent_pri_zero_packets += 1;
            }
            self.actions.push_back(Action::SendAdvertisement(Transmit {
                src,
                dst,
                ttl: TTL,
                advertisement: advertisement.clone(),
                payload,
            }));
        }
    }

    /// Ends the split brain report, if one is open.
    pub(super) fn clear_split_brain(&mut self) {
        self.timers.stop(Timer::SplitBrainClear);
        if let Some(peer) = self.split_brain_peer.take() {
            self.event(Event::SplitBrainCleared { peer });
        }
    }

    /// Records the Master we follow and reports a change.
    pub(super) fn set_master(&mut self, master: Option<LearnedMaster>) {
        let previous = self.master.map(|m| m.address);
        let current = master.map(|m| m.address);
        self.master = master;
        if previous != current {
            self.event(Event::MasterChanged { previous, current });
        }
    }

    /// Leaving Master for any state: stop advertising, optionally resign with
    /// priority 0, drop the addresses.
    fn leave_master(&mut self, resign: bool) {
        if self.state != State::Master {
            return;
        }
        self.timers.stop(Timer::Adver);
        if resign {
            self.send_advertisement(PRIORITY_RESIGN);
        }
        self.actions.push_back(Action::RemoveVirtualAddresses(
            self.config.virtual_addresses.clone(),
        ));
        self.clear_split_brain();
    }

    fn reset_backup_memory(&mut self) {
        self.preempt_hold_until = None;
        self.discarding_lower = false;
        self.master_resigned = false;
        self.wants_master = false;
    }

    fn transition(&mut self, now: Instant, from: super::State, reason: TransitionReason) {
        self.last_transition = Some((now, reason.clone()));
        self.event(Event::StateChanged {
            from,
            to: self.state,
            reason,
        });
    }
}

/// Whether `a` wins the §6.4.3 tie-break against `b`: "the primary IPvX
/// address of the sender is greater than the local primary IPvX address
/// (based on an unsigned integer comparison of the IPvX addresses in network
/// byte order)". `Ipv4Addr`/`Ipv6Addr` order is exactly that.
pub(super) fn address_greater(a: IpAddr, b: IpAddr) -> bool {
    match (a, b) {
        (IpAddr::V4(a), IpAddr::V4(b)) => a > b,
        (IpAddr::V6(a), IpAddr::V6(b)) => a > b,
        _ => false,
    }
}
