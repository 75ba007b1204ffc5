//! Administrative control (RFC 5880 §6.8.16) and changes of configuration (§6.8.3).

use std::time::Instant;

use super::{AuthState, Session};
use crate::config::SessionConfig;
use crate::error::ConfigError;
use crate::packet::{Diagnostic, State};

impl Session {
    /// Takes the session administratively down: "Set bfd.SessionState to AdminDown. Set
    /// bfd.LocalDiag to an appropriate value. Cease the transmission of BFD Echo packets."
    /// (§6.8.16; `diag` is usually [`Diagnostic::AdministrativelyDown`], or
    /// [`Diagnostic::PathDown`] when something outside BFD says the path failed.)
    ///
    /// "BFD Control packets SHOULD be transmitted for at least a Detection Time after
    /// transitioning to AdminDown state in order to ensure that the remote system is aware of
    /// the state change": the remote system's Detection Time is our Detect Mult times the
    /// interval we were sending at, so AdminDown packets keep that pace for that long (one
    /// lost packet is then not taken for a failure), and stop.
    pub fn admin_down(&mut self, now: Instant, diag: Diagnostic) {
        if self.state == State::AdminDown {
            return;
        }
        let interval = self.tx_interval();
        self.admin_down_interval = interval;
        self.admin_down_until = Some(now + interval * u32::from(self.cfg.detect_mult));
        // The AdminDown packets follow one another at that interval from the first, sent now.
        self.last_periodic_tx = Some(now);
        self.jitter = crate::timers::Jitter::NONE;
        self.set_state(now, State::AdminDown, diag);
        self.reschedule(now);
    }

    /// Enables the session again: "Set bfd.SessionState to Down." (§6.8.16)
    pub fn admin_up(&mut self, now: Instant) {
        if self.state != State::AdminDown {
            return;
        }
        self.admin_down_until = None;
        self.set_state(now, State::Down, Diagnostic::NoDiagnostic);
        self.reschedule(now);
    }

    /// Applies a new configuration in place: the state, discriminators and counters stay.
    /// Changed intervals follow §6.8.3 (a Poll Sequence while Up), a new Detect Mult is sent
    /// from the next packet, new authentication applies to the next packet in and out.
    pub fn reconfigure(&mut self, now: Instant, cfg: SessionConfig) -> Result<(), ConfigError> {
        cfg.validate()?;
        if cfg.auth != self.cfg.auth {
            let xmit_seq = self.auth.as_ref().map_or(0, |a| a.xmit_seq);
            self.auth = cfg.auth.as_ref().map(|_| AuthState {
                rcv_seq: 0,
                xmit_seq,
                seq_known: false,
            });
        }
        self.cfg = cfg;
        self.update_intervals(now);
        self.reschedule(now);
        Ok(())
    }
}
