//! Reception of BFD Control packets (RFC 5880 §6.8.6) and their authentication (§6.7).

use std::time::Instant;

use super::Session;
use crate::auth::{self, AuthSection, AuthType};
use crate::config::AuthConfig;
use crate::error::Discard;
use crate::packet::{ControlPacket, Diagnostic, State};

/// What the shell knows about a datagram from its IP header.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct RxMeta {
    /// IPv4 TTL or IPv6 Hop Limit.
    pub ttl: u8,
}

impl Session {
    /// Handles one received datagram (the UDP payload) that the shell attributed to this
    /// session: by Your Discriminator when nonzero, else by its source address and interface
    /// (§6.8.6). Returns why it was discarded, if it was; every discard is counted in
    /// [`crate::Statistics`] by its reason, and nothing else changes.
    pub fn handle_packet(
        &mut self,
        now: Instant,
        meta: RxMeta,
        bytes: &[u8],
    ) -> Result<(), Discard> {
        let r = self.receive(now, meta, bytes);
        match r {
            Ok(()) => self.stats.packets_in += 1,
            Err(d) => self.stats.discard(d),
        }
        self.reschedule(now);
        r
    }

    fn receive(&mut self, now: Instant, meta: RxMeta, bytes: &[u8]) -> Result<(), Discard> {
        // RFC 5881 §5: single hop means TTL / Hop Limit 255, whether or not authentication is
        // in use (it "MAY" be relaxed with authentication; we do not).
        if meta.ttl != 255 {
            return Err(Discard::Ttl);
        }
        let p = ControlPacket::decode(bytes)?;
        if p.detect_mult == 0 {
            return Err(Discard::DetectMultZero);
        }
        if p.multipoint {
            return Err(Discard::Multipoint);
        }
        if p.my_discriminator == 0 {
            return Err(Discard::MyDiscriminatorZero);
        }
        if p.your_discriminator != 0 && p.your_discriminator != self.local_discr {
            return Err(Discard::YourDiscriminatorUnknown);
        }
        if p.your_discriminator == 0 && !matches!(p.state, State::Down | State::AdminDown) {
            return Err(Discard::YourDiscriminatorZero);
        }
        match (&p.auth, &self.cfg.auth) {
            (Some(_), None) => return Err(Discard::AuthUnexpected),
            (None, Some(_)) => return Err(Discard::AuthMissing),
            (Some(section), Some(cfg)) => {
                let cfg = cfg.clone();
                self.authenticate(&cfg, section, &bytes[..p.length()], p.detect_mult)?
            }
            (None, None) => {}
        }

        // The packet is valid: take the remote system's variables.
        self.remote_discr = p.my_discriminator;
        self.remote_state = p.state;
        self.remote_demand = p.demand;
        self.remote_diag = p.diag;
        self.remote_desired_min_tx = p.desired_min_tx;
        self.remote_detect_mult = p.detect_mult;
        // §6.8.3: a lower Required Min RX from the remote system is honoured "immediately";
        // `reschedule` (after this function) moves the next transmission.
        self.remote_min_rx = p.required_min_rx;
        // §6.8.6: "If a Poll Sequence is being transmitted by the local system and the Final
        // (F) bit in the received packet is set, the Poll Sequence MUST be terminated."
        if p.final_ {
            self.end_poll();
        } else if self.poll_again && self.poll.is_none() && self.state == State::Up {
            // A packet without F after the last Poll ended: the next Final will be ours.
            self.start_poll();
        }
        // §6.8.4: the Detection Time runs from this packet, with the values it brought.
        self.last_rx = Some(now);
        self.rx_deadline = self.detection_time().map(|d| now + d);

        // "If bfd.SessionState is AdminDown: Discard the packet."
        if self.state == State::AdminDown {
            return Err(Discard::AdminDown);
        }
        if p.state == State::AdminDown {
            // "If received state is AdminDown: If bfd.SessionState is not Down, Set
            // bfd.LocalDiag to 3 (Neighbor signaled session down), Set bfd.SessionState to
            // Down."
            if self.state != State::Down {
                self.set_state(now, State::Down, Diagnostic::NeighborSignaledSessionDown);
            }
        } else {
            match (self.state, p.state) {
                // "If bfd.SessionState is Down: If received State is Down, Set
                // bfd.SessionState to Init. Else if received State is Init, Set
                // bfd.SessionState to Up."
                (State::Down, State::Down) => {
                    self.set_state(now, State::Init, Diagnostic::NoDiagnostic)
                }
                (State::Down, State::Init) => {
                    self.set_state(now, State::Up, Diagnostic::NoDiagnostic)
                }
                // "Else if bfd.SessionState is Init: If received State is Init or Up, Set
                // bfd.SessionState to Up."
                (State::Init, State::Init | State::Up) => {
                    self.set_state(now, State::Up, Diagnostic::NoDiagnostic)
                }
                // "Else (bfd.SessionState is Up): If received State is Down, Set
                // bfd.LocalDiag to 3 (Neighbor signaled session down), Set bfd.SessionState
                // to Down."
                (State::Up, State::Down) => {
                    self.set_state(now, State::Down, Diagnostic::NeighborSignaledSessionDown)
                }
                _ => {}
            }
        }
        // "If the Poll (P) bit is set, send a BFD Control packet to the remote system with the
        // Poll (P) bit clear, and the Final (F) bit set" -- "as soon as practicable, without
        // respect to the transmission timer or any other transmission limitations, without
        // respect to the session state, and without respect to whether Demand mode is active
        // on either system" (§6.8.7).
        if p.poll {
            self.transmit(false, true);
        }
        Ok(())
    }

    /// §6.7.2-6.7.4 reception. `packet` is the whole packet (its Length bytes).
    fn authenticate(
        &mut self,
        cfg: &AuthConfig,
        section: &AuthSection,
        packet: &[u8],
        detect_mult: u8,
    ) -> Result<(), Discard> {
        // "If the Auth Type is not <the session's>, then the received packet MUST be
        // discarded."
        if section.auth_type_code() != cfg.auth_type.code() {
            return Err(Discard::AuthType);
        }
        // "If the Auth Key ID field does not match the ID of a configured <key>, the received
        // packet MUST be discarded."
        if section.key_id() != Some(cfg.key_id) {
            return Err(Discard::AuthKeyId);
        }
        if cfg.auth_type == AuthType::SimplePassword {
            // "If the Auth Len field is not equal to the length of the password selected by
            // the key ID, plus three, the packet MUST be discarded." / "If the Password field
            // does not match the password selected by the key ID, the packet MUST be
            // discarded."
            return match section {
                AuthSection::SimplePassword { password, .. } if password.len() != cfg.key.len() => {
                    Err(Discard::AuthLength)
                }
                AuthSection::SimplePassword { password, .. }
                    if crate::digest::equal(password, &cfg.key) =>
                {
                    Ok(())
                }
                _ => Err(Discard::AuthFailed),
            };
        }
        let Some(seq) = section.sequence() else {
            return Err(Discard::AuthType);
        };
        let Some(state) = &mut self.auth else {
            return Err(Discard::AuthUnexpected);
        };
        if state.seq_known {
            // Keyed: "if the sequence number lies outside of the range of bfd.RcvAuthSeq to
            // bfd.RcvAuthSeq+(3*Detect Mult) inclusive (when treated as an unsigned 32-bit
            // circular number space), the received packet MUST be discarded"; meticulous:
            // from bfd.RcvAuthSeq+1.
            let lo = state
                .rcv_seq
                .wrapping_add(u32::from(cfg.auth_type.meticulous()));
            let hi = state.rcv_seq.wrapping_add(3 * u32::from(detect_mult));
            if seq.wrapping_sub(lo) > hi.wrapping_sub(lo) {
                return Err(Discard::AuthSequence);
            }
        }
        if !auth::verify(packet, &cfg.key) {
            return Err(Discard::AuthFailed);
        }
        // bfd.RcvAuthSeq is "the last sequence number ... that was received". The RFC lets
        // the first packet set it before its digest is checked; we take it only from a packet
        // that passed, so a forged packet cannot move the window.
        state.rcv_seq = seq;
        state.seq_known = true;
        Ok(())
    }
}
