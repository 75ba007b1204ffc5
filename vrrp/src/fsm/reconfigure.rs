//! A running Virtual Router takes a new configuration without leaving its state: nothing in
//! RFC 9568 ties a router's priority, interval, preemption or address list to a restart, and a
//! restart of a Master (priority-0 advert, addresses removed, a Backup's Skew_Time, addresses
//! added there) is an outage that a configuration change need not cause.

use std::time::Instant;

use super::instance::Instance;
use super::State;
use crate::action::Action;
use crate::config::{Config, PRIORITY_OWNER};
use crate::error::ConfigError;
use crate::events::TransitionReason;
use crate::timers::Timer;

impl Instance {
    /// Applies `new` in place. The primary address stays the one the instance
    /// runs with ([`Instance::set_primary_address`] owns it).
    ///
    /// * Priority: the effective priority is recomputed with the current
    ///   tracking adjustment. A Master stays Master and its next advert
    ///   carries the new priority, so a Backup with preemption and a higher
    ///   priority takes over as after any advert (RFC 9568 §6.4.2); a Backup
    ///   compares the next advert with it. A Backup that becomes the address
    ///   owner (255) becomes Master at once, as it would at startup (§6.4.1).
    /// * Advertisement_Interval: a Master's next advert is sent within the new
    ///   interval and carries it; a Backup keeps the Master's interval it
    ///   learned (§6.4.2), or takes the new one while it has not heard one.
    /// * Virtual addresses: a Master removes only the ones gone and adds and
    ///   announces only the new ones; the next advert carries the new list.
    /// * Everything else (preemption, Accept_Mode, checksum, TTL check, peers)
    ///   applies to the next advert sent or received.
    ///
    /// Refuses ([`ConfigError::NotInPlace`]) another VRID, and any invalid
    /// configuration; the instance is then unchanged.
    pub fn reconfigure(&mut self, now: Instant, mut new: Config) -> Result<(), ConfigError> {
        new.primary_address = self.config.primary_address;
        new.validate()?;
        if new.vrid != self.config.vrid {
            return Err(ConfigError::NotInPlace("VRID"));
        }
        let old = std::mem::replace(&mut self.config, new);

        if self.state == State::Master {
            let gone: Vec<_> = old
                .virtual_addresses
                .iter()
                .filter(|a| !self.config.virtual_addresses.contains(a))
                .copied()
                .collect();
            let added: Vec<_> = self
                .config
                .virtual_addresses
                .iter()
                .filter(|a| !old.virtual_addresses.contains(a))
                .copied()
                .collect();
            if !gone.is_empty() {
                self.actions.push_back(Action::RemoveVirtualAddresses(gone));
            }
            if !added.is_empty() {
                self.actions
                    .push_back(Action::AddVirtualAddresses(added.clone()));
                self.actions.push_back(Action::SendGratuitous(added));
            }
        }

        let interval = self.config.advertisement_interval;
        if interval != old.advertisement_interval {
            self.stats.refresh_rate_ms = interval.as_millis();
            match self.state {
                State::Master => {
                    self.master_adver_interval = interval;
                    let due = now + interval.as_duration();
                    if self.timers.get(Timer::Adver).is_none_or(|d| d > due) {
                        self.timers.set(Timer::Adver, due);
                    }
                }
                State::Backup if self.master.is_none() => self.master_adver_interval = interval,
                _ => {}
            }
        }

        // Recomputes the effective priority from the new base (reports a change).
        self.set_priority_adjustment(now, self.priority_adjustment);
        if self.state == State::Backup && self.effective_priority == PRIORITY_OWNER {
            self.enter_master(now, TransitionReason::Preempted);
        }
        Ok(())
    }
}
