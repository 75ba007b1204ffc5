//! Receive path: RFC 9568 §7.1 validation, then the per-state rules of §6.4.

use std::time::Instant;

use super::instance::{Instance, LearnedMaster, RxMeta};
use super::transitions::address_greater;
use super::State;
use crate::advertisement::{Advertisement, VERSION_3};
use crate::checksum::{ChecksumContext, ChecksumMode};
use crate::config::{AddressMismatchPolicy, PRIORITY_RESIGN};
use crate::error::{DecodeError, RxError};
use crate::events::{Event, TransitionReason};
use crate::packet::{AddressFamily, Packet};
use crate::timers::Timer;
use crate::v2::{AdvertisementV2, VERSION_2};

impl Instance {
    pub(super) fn receive(&mut self, now: Instant, meta: RxMeta, bytes: &[u8]) -> Option<RxError> {
        // Our own multicast looped back: not an error, not an advert.
        if meta.src == self.config.primary_address {
            return None;
        }
        let advert = match self.validate(&meta, bytes) {
            Ok(advert) => advert,
            Err(error) => {
                self.stats.record_rx_error(&error);
                let event = self.error_event(&meta, bytes, &error);
                self.report_rx_error(meta.src, error.clone(), event);
                return Some(error);
            }
        };
        self.stats.rcvd_advertisements += 1;
        if advert.priority == PRIORITY_RESIGN {
            self.stats.rcvd_pri_zero_packets += 1;
        }
        if advert.max_adver_int != self.config.advertisement_interval {
            // RFC 6527 counts it; RFC 9568 (unlike RFC 3768) does not discard
            // it: a Backup adopts the Master's interval.
            self.stats.adv_interval_errors += 1;
        }
        if !self.address_list_matches(&advert) {
            self.stats.address_list_errors += 1;
            let key = (meta.src, advert.addresses.clone());
            if self.last_mismatch.as_ref() != Some(&key) {
                self.last_mismatch = Some(key);
                self.event(Event::AddressListMismatch {
                    peer: meta.src,
                    advertised: advert.addresses.clone(),
                });
            }
            if self.config.address_mismatch == AddressMismatchPolicy::Discard {
                return Some(RxError::AddressList);
            }
        }
        if self
            .last_reported_error
            .is_some_and(|(src, _)| src == meta.src)
        {
            self.last_reported_error = None;
        }
        match self.state {
            State::Backup => self.backup_receive(now, &meta, &advert),
            State::Master => self.master_receive(now, &meta, &advert),
            // Counted above; no state to update.
            State::Initialize | State::Fault => {}
        }
        None
    }

    /// RFC 9568 §7.1, in the RFC's order. The VRID check follows the
    /// checksum so that a corrupted VRID byte counts as a checksum error.
    fn validate(&self, meta: &RxMeta, bytes: &[u8]) -> Result<Advertisement, RxError> {
        let family = self.config.family();
        if AddressFamily::of(&meta.src) != family {
            return Err(RxError::Family(meta.src));
        }
        // §5.1.1.3: "A VRRP Router receiving a packet with the TTL not equal
        // to 255 MUST discard the packet [RFC5082]."
        if !self.config.ttl_check.accepts(meta.ttl_or_hop_limit) {
            return Err(RxError::Ttl {
                ttl: meta.ttl_or_hop_limit,
            });
        }
        if !is_unicast(meta.src) {
            return Err(RxError::InvalidSource(meta.src));
        }
        // §7.1: "It MUST verify that the IP destination address is the
        // VRRP multicast group" — a multicast instance takes nothing else;
        // with unicast peers the kernel only delivers what is addressed here.
        if self.config.unicast_peers.is_empty() && !self.config.destinations().contains(&meta.dst) {
            return Err(RxError::Destination(meta.dst));
        }
        let packet = Packet::new_checked(bytes).map_err(RxError::Decode)?;
        // "It MUST verify that the VRRP version is 3."
        if packet.version() != VERSION_3 {
            return Err(RxError::Decode(DecodeError::Version {
                version: packet.version(),
            }));
        }
        // "It MUST verify that the VRRP packet type is 1 (ADVERTISEMENT)."
        // "It MUST verify that the received packet contains the complete VRRP
        // packet (including fixed fields and the IPvX address)."
        let advert = Advertisement::parse(&packet, family).map_err(RxError::Decode)?;
        // "It MUST verify the VRRP checksum."
        if !self.checksum_ok(&packet, meta) {
            return Err(RxError::Checksum {
                received: packet.checksum(),
            });
        }
        // "It MUST verify that the VRID is configured on the receiving interface."
        if advert.vrid != self.config.vrid {
            return Err(RxError::Vrid { vrid: advert.vrid });
        }
        if self.config.check_unicast_source
            && !self.config.unicast_peers.is_empty()
            && !self.config.unicast_peers.contains(&meta.src)
        {
            return Err(RxError::UnknownSource(meta.src));
        }
        // Erratum 8301: "It MUST verify that the Max Advertise Interval is non zero."
        if advert.max_adver_int.0 == 0 {
            return Err(RxError::ZeroInterval);
        }
        // Erratum 8299: "If the received count is 0, the VRRP advertisement
        // MUST be ignored."
        if advert.addresses.is_empty() {
            return Err(RxError::NoAddresses);
        }
        Ok(advert)
    }

    fn checksum_ok<T: AsRef<[u8]>>(&self, packet: &Packet<T>, meta: &RxMeta) -> bool {
        let ctx = ChecksumContext {
            src: meta.src,
            dst: meta.dst,
            mode: self.config.checksum_mode,
        };
        if packet.verify_checksum(&ctx) {
            return true;
        }
        if self.config.accept_either_checksum {
            let other = match ctx.mode {
                ChecksumMode::Rfc9568 => ChecksumMode::PseudoHeaderV4,
                ChecksumMode::PseudoHeaderV4 => ChecksumMode::Rfc9568,
            };
            return packet.verify_checksum(&ChecksumContext { mode: other, ..ctx });
        }
        false
    }

    /// The event that reports `error`; a VRRPv2 peer gets its decode attached.
    fn error_event(&self, meta: &RxMeta, bytes: &[u8], error: &RxError) -> Event {
        if let RxError::Decode(DecodeError::Version { version: VERSION_2 }) = error {
            if self.config.family() == AddressFamily::Ipv4 {
                if let Ok(advertisement) = AdvertisementV2::parse_bytes(bytes) {
                    return Event::Version2Peer {
                        src: meta.src,
                        advertisement,
                    };
                }
            }
        }
        Event::ReceiveError {
            src: meta.src,
            error: error.clone(),
        }
    }

    /// Same set of addresses, in any order.
    fn address_list_matches(&self, advert: &Advertisement) -> bool {
        let mut ours = self.config.virtual_addresses.clone();
        let mut theirs = advert.addresses.clone();
        ours.sort();
        ours.dedup();
        theirs.sort();
        theirs.dedup();
        ours == theirs
    }

    /// RFC 9568 §6.4.2, Backup.
    fn backup_receive(&mut self, now: Instant, meta: &RxMeta, advert: &Advertisement) {
        // "If the Priority in the ADVERTISEMENT is 0, then: Set the
        // Active_Down_Timer to Skew_Time"
        if advert.priority == PRIORITY_RESIGN {
            self.master_resigned = true;
            self.timers.set(Timer::MasterDown, now + self.skew_time());
            return;
        }
        let local = self.effective_priority;
        let follow = !self.config.preempt || advert.priority >= local || self.preempt_held(now);
        if follow {
            // "If Preempt_Mode is False, or if the Priority in the
            // ADVERTISEMENT is greater than or equal to the local Priority,
            // then: Set Active_Adver_Interval to Max Advertise Interval
            // contained in the ADVERTISEMENT, Recompute the Skew_Time,
            // Recompute the Active_Down_Interval, Set the Active_Down_Timer
            // to Active_Down_Interval"
            self.master_adver_interval = advert.max_adver_int;
            self.timers
                .set(Timer::MasterDown, now + self.master_down_interval());
            self.master_resigned = false;
            self.wants_master = false;
            if advert.priority >= local {
                self.discarding_lower = false;
                self.preempt_hold_until = None;
            }
            self.set_master(Some(LearnedMaster {
                address: meta.src,
                priority: advert.priority,
            }));
        } else {
            // "else // preempt was true and priority was less than the local
            // priority: Discard the ADVERTISEMENT"
            self.discarding_lower = true;
        }
    }

    /// preempt_delay: a lower-priority Master is still followed until the
    /// delay, started by its first advert, has passed.
    fn preempt_held(&mut self, now: Instant) -> bool {
        if self.config.preempt_delay.is_zero() {
            return false;
        }
        let until = *self
            .preempt_hold_until
            .get_or_insert(now + self.config.preempt_delay);
        now < until
    }

    /// RFC 9568 §6.4.3, Master.
    fn master_receive(&mut self, now: Instant, meta: &RxMeta, advert: &Advertisement) {
        // "If the Priority in the ADVERTISEMENT is 0, then: Send an
        // ADVERTISEMENT, Reset the Adver_Timer to Advertisement_Interval"
        if advert.priority == PRIORITY_RESIGN {
            self.send_advertisement(self.effective_priority);
            self.timers.set(
                Timer::Adver,
                now + self.config.advertisement_interval.as_duration(),
            );
            return;
        }
        let local = self.effective_priority;
        let higher = advert.priority > local
            || (advert.priority == local && address_greater(meta.src, self.config.primary_address));
        if higher {
            // "Cancel Adver_Timer, Set Active_Adver_Interval to the Max
            // Advertise Interval contained in the ADVERTISEMENT, Recompute the
            // Skew_Time, Recompute the Active_Down_Interval, Set
            // Active_Down_Timer to Active_Down_Interval, Transition to the
            // {Backup} state"
            let master = LearnedMaster {
                address: meta.src,
                priority: advert.priority,
            };
            self.enter_backup(
                now,
                TransitionReason::HigherPriorityAdvert {
                    from: meta.src,
                    priority: advert.priority,
                },
                Some((master, advert.max_adver_int)),
            );
            return;
        }
        // Another Master with lower precedence: a split brain.
        if self.split_brain_peer != Some(meta.src) {
            self.clear_split_brain();
            self.split_brain_peer = Some(meta.src);
            self.event(Event::SplitBrainDetected {
                peer: meta.src,
                peer_priority: advert.priority,
            });
            if self.config.gratuitous_on_split_brain {
                self.actions
                    .push_back(crate::action::Action::SendGratuitous(
                        self.config.virtual_addresses.clone(),
                    ));
            }
        }
        self.timers
            .set(Timer::SplitBrainClear, now + self.master_down_interval());
        // "else // new Active Router logic: Discard the ADVERTISEMENT, Send an
        // ADVERTISEMENT immediately to assert the {Active} state to the
        // sending VRRP Router and to update any learning bridges with the
        // correct Active VRRP Router path."
        self.send_advertisement(local);
    }
}

/// Whether `a` can be a router's interface address: not unspecified, not
/// multicast, not the IPv4 limited broadcast.
fn is_unicast(a: std::net::IpAddr) -> bool {
    match a {
        std::net::IpAddr::V4(v) => !v.is_unspecified() && !v.is_broadcast() && !v.is_multicast(),
        std::net::IpAddr::V6(v) => !v.is_unspecified() && !v.is_multicast(),
    }
}
