//! Transmission (RFC 5880 §6.8.7) and the timers (§6.8.4).

use std::time::Instant;

use super::{AuthState, Session};
use crate::action::{Action, Transmit};
use crate::auth::{self, AuthSection, AuthType};
use crate::config::AuthConfig;
use crate::packet::{ControlPacket, Diagnostic, State};
use crate::timers::Jitter;

impl Session {
    /// Fires what is due at `now`: the Detection Time, the reset of bfd.AuthSeqKnown, the
    /// periodic packet. `jitter` is the random reduction of the interval to the packet after
    /// the one sent now (§6.8.7); the caller draws a new one for every call.
    pub fn handle_timeout(&mut self, now: Instant, jitter: Jitter) {
        if self.rx_deadline.is_some_and(|d| d <= now) {
            self.rx_deadline = None;
            self.detection_time_expired(now);
        }
        if self.auth_reset_at().is_some_and(|t| t <= now) {
            if let Some(a) = &mut self.auth {
                a.seq_known = false;
            }
        }
        if self.next_tx.is_some_and(|t| t <= now) {
            let poll = self.poll.is_some();
            self.transmit(poll, false);
            self.last_periodic_tx = Some(now);
            self.jitter = jitter;
        }
        self.reschedule(now);
    }

    /// §6.8.4: "If Demand mode is not active, and a period of time equal to the Detection
    /// Time passes without receiving a BFD Control packet from the remote system, and
    /// bfd.SessionState is Init or Up, the session has gone down -- the local system MUST set
    /// bfd.SessionState to Down and bfd.LocalDiag to 1 (Control Detection Time Expired)."
    fn detection_time_expired(&mut self, now: Instant) {
        // §6.8.1: bfd.RemoteDiscr "MUST be set to zero" once a Detection Time passes in
        // silence; §6.8.18: bfd.RemoteMinRxInterval SHOULD return to its initial 1 µs, since
        // nothing obliges us to the remote system's pace any more.
        self.remote_discr = 0;
        self.remote_min_rx = 1;
        self.remote_demand = false;
        if matches!(self.state, State::Init | State::Up) {
            self.set_state(now, State::Down, Diagnostic::ControlDetectionTimeExpired);
        }
    }

    /// Whether periodic packets go out now (§6.1, §6.8.7, §6.8.16).
    pub(super) fn may_transmit(&self) -> bool {
        if !self.started {
            return false;
        }
        // "A system MUST NOT transmit BFD Control packets if bfd.RemoteDiscr is zero and the
        // system is taking the Passive role."
        if self.cfg.passive && self.remote_discr == 0 {
            return false;
        }
        // "A system MUST NOT periodically transmit BFD Control packets if
        // bfd.RemoteMinRxInterval is zero."
        if self.remote_min_rx == 0 {
            return false;
        }
        // "... if Demand mode is active on the remote system ... and a Poll Sequence is not
        // being transmitted."
        if self.remote_demand_active() && self.poll.is_none() {
            return false;
        }
        true
    }

    /// Recomputes the next periodic transmission: one jittered interval after the last
    /// (§6.8.7: the interval "MUST be recalculated whenever bfd.DesiredMinTxInterval
    /// changes, or whenever bfd.RemoteMinRxInterval changes"), at once for the first.
    pub(super) fn reschedule(&mut self, now: Instant) {
        self.next_tx = None;
        if !self.may_transmit() {
            return;
        }
        let (interval, until) = match self.state {
            State::AdminDown => match self.admin_down_until {
                // §6.8.16: AdminDown packets for a Detection Time of the remote system, then
                // silence.
                Some(until) if until > now => (self.admin_down_interval, Some(until)),
                _ => return,
            },
            _ => (self.tx_interval(), None),
        };
        let next = match self.last_periodic_tx {
            Some(last) => last + self.jitter.apply(interval, self.cfg.detect_mult),
            None => now,
        };
        if until.is_some_and(|u| next > u) {
            return;
        }
        self.next_tx = Some(next);
    }

    /// Queues one packet: periodic (`poll` while a Poll Sequence runs) or the Final answer to
    /// a Poll.
    pub(super) fn transmit(&mut self, poll: bool, final_: bool) {
        let mut packet = ControlPacket {
            diag: self.local_diag,
            state: self.state,
            poll,
            final_,
            // C: our BFD runs in the control plane and shares its fate.
            control_plane_independent: false,
            // Demand mode is not offered.
            demand: false,
            multipoint: false,
            detect_mult: self.cfg.detect_mult,
            my_discriminator: self.local_discr,
            your_discriminator: self.remote_discr,
            desired_min_tx: self.desired_min_tx,
            required_min_rx: self.required_min_rx,
            // No Echo function: §6.8.9 keeps the remote from sending us Echo packets.
            required_min_echo_rx: 0,
            auth: None,
            trailing: Vec::new(),
        };
        if let (Some(cfg), Some(state)) = (&self.cfg.auth, &mut self.auth) {
            packet.auth = Some(auth_section(cfg, state));
        }
        let Ok(mut bytes) = packet.encode() else {
            // Unreachable: the configuration was validated and the session builds the rest.
            return;
        };
        if let Some(cfg) = &self.cfg.auth {
            if cfg.auth_type.keyed() {
                auth::sign(&mut bytes, &cfg.key);
            }
        }
        if let Ok(signed) = ControlPacket::decode(&bytes) {
            packet = signed;
        }
        self.stats.packets_out += 1;
        self.actions
            .push_back(Action::Transmit(Transmit { packet, bytes }));
    }
}

/// The Authentication Section of the next packet (§6.7.2-6.7.4 transmission), the digest
/// left zero for [`auth::sign`].
fn auth_section(cfg: &AuthConfig, state: &mut AuthState) -> AuthSection {
    if cfg.auth_type.meticulous() {
        // "bfd.XmitAuthSeq MUST be incremented in a circular fashion" for every packet.
        state.xmit_seq = state.xmit_seq.wrapping_add(1);
    }
    match cfg.auth_type {
        AuthType::SimplePassword => AuthSection::SimplePassword {
            key_id: cfg.key_id,
            password: cfg.key.clone(),
        },
        AuthType::KeyedMd5 | AuthType::MeticulousKeyedMd5 => AuthSection::KeyedMd5 {
            meticulous: cfg.auth_type.meticulous(),
            key_id: cfg.key_id,
            reserved: 0,
            sequence: state.xmit_seq,
            digest: [0; 16],
        },
        AuthType::KeyedSha1 | AuthType::MeticulousKeyedSha1 => AuthSection::KeyedSha1 {
            meticulous: cfg.auth_type.meticulous(),
            key_id: cfg.key_id,
            reserved: 0,
            sequence: state.xmit_seq,
            hash: [0; 20],
        },
    }
}
