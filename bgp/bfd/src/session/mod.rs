//! One BFD session (RFC 5880 §6.8): the bfd.* state variables, the state machine, the timers
//! and the Poll Sequence, in Asynchronous mode. Demand mode is not offered (our D bit is
//! always clear) but a remote system's Demand mode is honoured; the Echo function is not
//! implemented (Required Min Echo RX Interval is 0).
//!
//! Inputs: [`Session::start`], [`Session::handle_packet`], [`Session::handle_timeout`],
//! [`Session::admin_down`], [`Session::admin_up`], [`Session::reconfigure`]. Outputs:
//! [`Session::poll_action`] and [`Session::poll_timeout`]. Time is always an argument, and
//! the random values the RFC asks for (discriminator, first authentication sequence number,
//! per-packet jitter) are arguments too.

mod admin;
pub mod receive;
mod transmit;

use std::collections::VecDeque;
use std::time::{Duration, Instant};

use crate::action::{Action, StateChange};
use crate::config::{micros, SessionConfig};
use crate::error::ConfigError;
use crate::packet::{Diagnostic, State};
use crate::statistics::Statistics;
use crate::timers::{self, Jitter, SLOW_TX_US};

/// Authentication state (§6.8.1 bfd.RcvAuthSeq, bfd.XmitAuthSeq, bfd.AuthSeqKnown).
#[derive(Debug, Clone)]
struct AuthState {
    rcv_seq: u32,
    xmit_seq: u32,
    seq_known: bool,
}

/// A Poll Sequence (§6.5) and the values it carries.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
struct Poll {
    /// bfd.DesiredMinTxInterval and bfd.RequiredMinRxInterval when it started: what the
    /// remote system is known to have once the Final arrives.
    desired_min_tx: u32,
    required_min_rx: u32,
}

/// A snapshot of a session for status displays.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Status {
    /// bfd.SessionState.
    pub state: State,
    /// bfd.RemoteSessionState.
    pub remote_state: State,
    /// bfd.LocalDiag.
    pub local_diag: Diagnostic,
    /// The Diag field of the last packet accepted.
    pub remote_diag: Diagnostic,
    /// bfd.LocalDiscr.
    pub local_discr: u32,
    /// bfd.RemoteDiscr (0: unknown).
    pub remote_discr: u32,
    /// bfd.DesiredMinTxInterval as advertised now.
    pub desired_min_tx: Duration,
    /// bfd.RequiredMinRxInterval as advertised now.
    pub required_min_rx: Duration,
    /// bfd.RemoteMinRxInterval.
    pub remote_min_rx: Duration,
    /// The remote system's last Desired Min TX Interval.
    pub remote_desired_min_tx: Duration,
    /// The remote system's last Detect Mult (0: never heard).
    pub remote_detect_mult: u8,
    /// The negotiated transmit interval, before jitter (§6.8.7).
    pub tx_interval: Duration,
    /// The Detection Time (§6.8.4), once the remote system has been heard.
    pub detection_time: Option<Duration>,
    /// A Poll Sequence is under way.
    pub polling: bool,
    /// The remote system asked for Demand mode and it is in effect (§6.6).
    pub remote_demand: bool,
}

/// One BFD session. See the module documentation.
#[derive(Debug)]
pub struct Session {
    cfg: SessionConfig,
    started: bool,
    // ----- §6.8.1 state variables -------------------------------------------------------
    state: State,
    remote_state: State,
    local_discr: u32,
    remote_discr: u32,
    local_diag: Diagnostic,
    /// bfd.DesiredMinTxInterval (µs) as advertised.
    desired_min_tx: u32,
    /// bfd.RequiredMinRxInterval (µs) as advertised.
    required_min_rx: u32,
    /// bfd.RemoteMinRxInterval (µs).
    remote_min_rx: u32,
    remote_demand: bool,
    auth: Option<AuthState>,
    // ----- what the remote system last said --------------------------------------------
    remote_desired_min_tx: u32,
    remote_detect_mult: u8,
    remote_diag: Diagnostic,
    // ----- §6.8.3: the values in effect while a Poll Sequence has not confirmed a change --
    /// The Desired Min TX the transmit interval uses: an increase waits for the Final.
    tx_desired_in_use: u32,
    /// The Required Min RX the Detection Time uses: a decrease waits for the Final.
    rx_required_in_use: u32,
    poll: Option<Poll>,
    /// A change happened during a Poll Sequence: poll again once a packet without F arrives
    /// after it ends (§6.8.3's third way of keeping Finals unambiguous).
    poll_again: bool,
    // ----- timers ------------------------------------------------------------------------
    last_periodic_tx: Option<Instant>,
    /// The jitter drawn for the next periodic packet, kept so that an interval change can
    /// move the deadline without a new random value.
    jitter: Jitter,
    next_tx: Option<Instant>,
    last_rx: Option<Instant>,
    /// Detection Time expiry; `None` once it fired or before anything was heard.
    rx_deadline: Option<Instant>,
    /// AdminDown packets keep going out until then (§6.8.16).
    admin_down_until: Option<Instant>,
    /// The transmit interval AdminDown packets use (the last one in effect before it).
    admin_down_interval: Duration,
    actions: VecDeque<Action>,
    stats: Statistics,
}

impl Session {
    /// A session in state Down (§6.8.1 initial values). `local_discr` must be nonzero and
    /// unique on this system, and should be random; `xmit_auth_seq` is the random initial
    /// bfd.XmitAuthSeq. Nothing is sent until [`Session::start`].
    pub fn new(
        cfg: SessionConfig,
        local_discr: u32,
        xmit_auth_seq: u32,
    ) -> Result<Session, ConfigError> {
        cfg.validate()?;
        if local_discr == 0 {
            return Err(ConfigError::Discriminator);
        }
        let required_min_rx = micros(cfg.required_min_rx).unwrap_or(SLOW_TX_US);
        let desired_min_tx = micros(cfg.desired_min_tx)
            .unwrap_or(SLOW_TX_US)
            .max(SLOW_TX_US);
        let auth = cfg.auth.as_ref().map(|_| AuthState {
            rcv_seq: 0,
            xmit_seq: xmit_auth_seq,
            seq_known: false,
        });
        Ok(Session {
            cfg,
            started: false,
            state: State::Down,
            remote_state: State::Down,
            local_discr,
            remote_discr: 0,
            local_diag: Diagnostic::NoDiagnostic,
            desired_min_tx,
            required_min_rx,
            // §6.8.1: "This variable MUST be initialized to 1."
            remote_min_rx: 1,
            remote_demand: false,
            auth,
            remote_desired_min_tx: 0,
            remote_detect_mult: 0,
            remote_diag: Diagnostic::NoDiagnostic,
            tx_desired_in_use: desired_min_tx,
            rx_required_in_use: required_min_rx,
            poll: None,
            poll_again: false,
            last_periodic_tx: None,
            jitter: Jitter::NONE,
            next_tx: None,
            last_rx: None,
            rx_deadline: None,
            admin_down_until: None,
            admin_down_interval: Duration::ZERO,
            actions: VecDeque::new(),
            stats: Statistics::default(),
        })
    }

    /// Starts the session: an active system sends its first packet at once (§6.1).
    pub fn start(&mut self, now: Instant) {
        if self.started {
            return;
        }
        self.started = true;
        self.reschedule(now);
    }

    // ----- getters -------------------------------------------------------------------------

    /// The configuration.
    pub fn config(&self) -> &SessionConfig {
        &self.cfg
    }

    /// bfd.SessionState.
    pub fn state(&self) -> State {
        self.state
    }

    /// bfd.RemoteSessionState.
    pub fn remote_state(&self) -> State {
        self.remote_state
    }

    /// bfd.LocalDiscr.
    pub fn local_discr(&self) -> u32 {
        self.local_discr
    }

    /// bfd.RemoteDiscr.
    pub fn remote_discr(&self) -> u32 {
        self.remote_discr
    }

    /// bfd.LocalDiag.
    pub fn local_diag(&self) -> Diagnostic {
        self.local_diag
    }

    /// Counters.
    pub fn statistics(&self) -> &Statistics {
        &self.stats
    }

    /// The negotiated transmit interval before jitter (§6.8.7).
    pub fn tx_interval(&self) -> Duration {
        timers::transmit_interval(self.tx_desired_in_use, self.remote_min_rx)
    }

    /// The Detection Time (§6.8.4), once the remote system has been heard.
    pub fn detection_time(&self) -> Option<Duration> {
        (self.remote_detect_mult > 0).then(|| {
            timers::detection_time(
                self.remote_detect_mult,
                self.rx_required_in_use,
                self.remote_desired_min_tx,
            )
        })
    }

    /// A snapshot for status displays.
    pub fn status(&self) -> Status {
        let us = |v: u32| Duration::from_micros(u64::from(v));
        Status {
            state: self.state,
            remote_state: self.remote_state,
            local_diag: self.local_diag,
            remote_diag: self.remote_diag,
            local_discr: self.local_discr,
            remote_discr: self.remote_discr,
            desired_min_tx: us(self.desired_min_tx),
            required_min_rx: us(self.required_min_rx),
            remote_min_rx: us(self.remote_min_rx),
            remote_desired_min_tx: us(self.remote_desired_min_tx),
            remote_detect_mult: self.remote_detect_mult,
            tx_interval: self.tx_interval(),
            detection_time: self.detection_time(),
            polling: self.poll.is_some(),
            remote_demand: self.remote_demand_active(),
        }
    }

    // ----- outputs -------------------------------------------------------------------------

    /// The next action, in order. Drain after every input.
    pub fn poll_action(&mut self) -> Option<Action> {
        self.actions.pop_front()
    }

    /// The earliest deadline; call [`Session::handle_timeout`] when it is reached. Re-read
    /// after every input.
    pub fn poll_timeout(&self) -> Option<Instant> {
        [self.next_tx, self.rx_deadline, self.auth_reset_at()]
            .into_iter()
            .flatten()
            .min()
    }

    // ----- internals shared by the inputs ---------------------------------------------------

    /// §6.8.6: Demand mode is active on the remote system when it set D and both are Up.
    fn remote_demand_active(&self) -> bool {
        self.remote_demand && self.state == State::Up && self.remote_state == State::Up
    }

    /// bfd.AuthSeqKnown "MUST be set to zero after no packets have been received on this
    /// session for at least twice the Detection Time" (§6.8.1).
    fn auth_reset_at(&self) -> Option<Instant> {
        let a = self.auth.as_ref()?;
        if !a.seq_known {
            return None;
        }
        Some(self.last_rx? + self.detection_time()? * 2)
    }

    /// The Desired Min TX the session advertises now: §6.8.3 keeps it at 1 s or more while
    /// not Up.
    fn wanted_desired_min_tx(&self) -> u32 {
        let configured = micros(self.cfg.desired_min_tx).unwrap_or(SLOW_TX_US);
        if self.state == State::Up {
            configured
        } else {
            configured.max(SLOW_TX_US)
        }
    }

    /// Brings bfd.DesiredMinTxInterval and bfd.RequiredMinRxInterval to what the state and
    /// the configuration want, with §6.8.3's rules: a change while Up starts a Poll Sequence;
    /// while it runs, a higher Desired Min TX does not slow our transmissions and a lower
    /// Required Min RX does not shorten the Detection Time; every other change takes effect
    /// at once.
    fn update_intervals(&mut self, now: Instant) {
        let desired = self.wanted_desired_min_tx();
        let required = micros(self.cfg.required_min_rx).unwrap_or(SLOW_TX_US);
        if desired == self.desired_min_tx && required == self.required_min_rx {
            return;
        }
        self.desired_min_tx = desired;
        self.required_min_rx = required;
        if self.state == State::Up {
            if desired < self.tx_desired_in_use {
                self.tx_desired_in_use = desired;
            }
            if required > self.rx_required_in_use {
                self.rx_required_in_use = required;
            }
            if self.poll.is_some() {
                // §6.8.3: one Poll Sequence per change, or the Final is ambiguous.
                self.poll_again = true;
            } else {
                self.start_poll();
            }
        } else {
            self.tx_desired_in_use = desired;
            self.rx_required_in_use = required;
        }
        self.rearm_detection();
        self.reschedule(now);
    }

    /// §6.5: the periodic packets carry P until a Final arrives.
    fn start_poll(&mut self) {
        self.poll = Some(Poll {
            desired_min_tx: self.desired_min_tx,
            required_min_rx: self.required_min_rx,
        });
        self.poll_again = false;
    }

    /// The Final arrived: the remote system knows the values the poll carried.
    fn end_poll(&mut self) {
        let Some(p) = self.poll.take() else { return };
        self.stats.polls_completed += 1;
        self.tx_desired_in_use = p.desired_min_tx.min(self.desired_min_tx);
        self.rx_required_in_use = p.required_min_rx.max(self.required_min_rx);
        self.rearm_detection();
    }

    /// Recomputes the Detection Time deadline from the last packet heard, after any of its
    /// inputs changed.
    fn rearm_detection(&mut self) {
        if self.rx_deadline.is_some() {
            if let (Some(last), Some(d)) = (self.last_rx, self.detection_time()) {
                self.rx_deadline = Some(last + d);
            }
        }
    }

    /// Changes bfd.SessionState: reports it, recomputes the intervals (they depend on the
    /// state) and sends a packet at once to tell the remote system (§6.8.7: "A BFD Control
    /// packet SHOULD be transmitted during the interval between periodic Control packet
    /// transmissions when the contents of that packet would differ from that in the
    /// previously transmitted packet").
    fn set_state(&mut self, now: Instant, to: State, diag: Diagnostic) {
        let from = self.state;
        if from == to {
            return;
        }
        self.state = to;
        self.local_diag = diag;
        if to == State::Up {
            self.stats.up_transitions += 1;
        }
        if from == State::Up {
            self.stats.down_transitions += 1;
        }
        self.stats.last_state_change = Some(now);
        self.actions.push_back(Action::StateChanged(StateChange {
            from,
            to,
            diag,
            remote_state: self.remote_state,
            at: now,
        }));
        if to != State::Up {
            // A Poll Sequence confirms timers of an Up session; outside Up they apply at once.
            self.poll = None;
            self.poll_again = false;
        }
        if let (Some(a), Some(cfg)) = (&mut self.auth, &self.cfg.auth) {
            // §6.7.3: Keyed MD5/SHA1's bfd.XmitAuthSeq "SHOULD be incremented when the
            // session state changes" (the meticulous types advance on every packet anyway).
            if !cfg.auth_type.meticulous() {
                a.xmit_seq = a.xmit_seq.wrapping_add(1);
            }
        }
        self.update_intervals(now);
        if self.may_transmit() {
            // Coming Up starts a Poll Sequence for the faster interval: this packet is its
            // first.
            let poll = self.poll.is_some();
            self.transmit(poll, false);
        }
    }
}
