//! A bond: one actor system's LACP over several member ports, with the Selection Logic
//! that binds them. This is the object the shell drives.

use std::collections::VecDeque;
use std::time::Instant;

use crate::codec::frame::{SlowFrame, SlowPdu};
use crate::codec::lacpdu::{Lacpdu, PortInfo};
use crate::codec::marker::{MarkerKind, MarkerPdu};
use crate::config::{validate, BondConfig, PortConfig};
use crate::error::{ConfigError, DecodeError, RxCounter};
use crate::port::transmit::TxHistory;
use crate::port::{ChurnState, MuxState, PeriodicState, Port, RxState, Selected};
use crate::selection::{self, LagId};
use crate::statistics::PortStatistics;
use crate::timers::earliest;

/// A frame to send: on member `port`, now.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Transmit {
    /// Index of the member port (in the order given to [`Bond::new`]).
    pub port: usize,
    /// The frame, from the port's MAC to the Slow_Protocols_Multicast address.
    pub frame: SlowFrame,
}

impl Transmit {
    /// The frame's octets (124 for an LACPDU or a Marker Response).
    pub fn bytes(&self) -> Vec<u8> {
        self.frame.encode()
    }
}

/// A snapshot of one member port, for `appctl bond` and the tests.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct PortStatus {
    /// Actor_Port_Number.
    pub number: u16,
    /// port_enabled (carrier).
    pub enabled: bool,
    /// Our information as we send it (Actor_Oper_*).
    pub actor: PortInfo,
    /// What we hold of the partner (Partner_Oper_*).
    pub partner: PortInfo,
    /// Receive machine state.
    pub rx: RxState,
    /// Periodic Transmission machine state.
    pub periodic: PeriodicState,
    /// Mux machine state.
    pub mux: MuxState,
    /// Selected.
    pub selected: Selected,
    /// The aggregator the port chose.
    pub aggregator: Option<LagId>,
    /// Actor.Collecting.
    pub collecting: bool,
    /// Actor.Distributing.
    pub distributing: bool,
    /// actor_churn: we have not reached Synchronization for Churn_Detection_Time.
    pub actor_churn: bool,
    /// partner_churn: the partner has not, as far as we can tell.
    pub partner_churn: bool,
    /// Actor churn machine state.
    pub actor_churn_state: ChurnState,
    /// Partner churn machine state.
    pub partner_churn_state: ChurnState,
    /// Counters.
    pub stats: PortStatistics,
}

/// "Marker Responder ... subject to the Slow Protocols rate limit": with our three LACPDUs,
/// five responses a second keeps a port under Annex 57A's ten Slow Protocols frames a second
/// whatever a partner floods us with.
const MAX_MARKER_RESPONSES_PER_SECOND: usize = 5;

/// Enough rounds for any chain of transitions one input can cause (each round lets every
/// machine take all its transitions); the machines settle in a few.
const MAX_ROUNDS: usize = 16;

/// One bond's LACP: member ports, their machines, the aggregator selection.
#[derive(Debug, Clone)]
pub struct Bond {
    config: BondConfig,
    ports: Vec<Port>,
    marker_tx: Vec<TxHistory<MAX_MARKER_RESPONSES_PER_SECOND>>,
    active: Option<LagId>,
    transmits: VecDeque<Transmit>,
}

impl Bond {
    /// A bond whose ports are all disabled (no carrier) until [`Bond::set_port_enabled`].
    pub fn new(
        config: BondConfig,
        ports: &[PortConfig],
        now: Instant,
    ) -> Result<Bond, ConfigError> {
        validate(&config, ports)?;
        let mut b = Bond {
            ports: ports.iter().map(|p| Port::new(&config, p)).collect(),
            marker_tx: vec![TxHistory::default(); ports.len()],
            config,
            active: None,
            transmits: VecDeque::new(),
        };
        b.step(now, None);
        Ok(b)
    }

    /// The configuration.
    pub fn config(&self) -> &BondConfig {
        &self.config
    }

    /// Number of member ports.
    pub fn port_count(&self) -> usize {
        self.ports.len()
    }

    /// Tells the machines the port's MAC became operable or stopped being so (carrier
    /// up or down). Out-of-range indices are ignored.
    pub fn set_port_enabled(&mut self, now: Instant, port: usize, enabled: bool) {
        let Some(p) = self.ports.get_mut(port) else {
            return;
        };
        if p.port_enabled != enabled {
            p.port_enabled = enabled;
            self.step(now, None);
        }
    }

    /// A received Slow Protocols frame (the whole Ethernet frame) on member `port`. A frame
    /// that does not decode is counted and returned as the error; a Marker PDU is answered.
    pub fn handle_frame(
        &mut self,
        now: Instant,
        port: usize,
        frame: &[u8],
    ) -> Result<(), DecodeError> {
        if port >= self.ports.len() {
            return Ok(());
        }
        match SlowFrame::decode(frame) {
            Ok(f) => {
                match f.pdu {
                    SlowPdu::Lacp(pdu) => self.handle_lacpdu(now, port, &pdu),
                    SlowPdu::Marker(m) => self.handle_marker(now, port, &m),
                }
                Ok(())
            }
            Err(e) => {
                let s = &mut self.ports[port].stats;
                match e.counter() {
                    RxCounter::Unknown => s.unknown_rx += 1,
                    RxCounter::Illegal => s.illegal_rx += 1,
                }
                Err(e)
            }
        }
    }

    /// A decoded LACPDU received on member `port`.
    pub fn handle_lacpdu(&mut self, now: Instant, port: usize, pdu: &Lacpdu) {
        let Some(p) = self.ports.get_mut(port) else {
            return;
        };
        p.stats.lacpdus_rx += 1;
        if pdu.actor.system.mac == self.config.system.mac {
            // Our own system as the partner: recording it would make the port its own
            // partner and aggregate a loop. The Linux bonding driver drops these too ("An
            // illegal loopback occurred on slave"); the port stays without a partner and
            // never distributes.
            p.stats.lacpdus_looped_back += 1;
            return;
        }
        if !p.port_enabled {
            // The Receive machine is in PORT_DISABLED and takes no PDU; a frame that raced
            // the carrier loss is dropped.
            p.stats.lacpdus_dropped_disabled += 1;
            return;
        }
        // port_moved: "set to TRUE if the Receive machine for an Aggregation Port is in the
        // PORT_DISABLED state, and the combination of Partner_Oper_System and
        // Partner_Oper_Port_Number in use by that Aggregation Port has been received in an
        // incoming LACPDU on a different Aggregation Port."
        for (i, q) in self.ports.iter_mut().enumerate() {
            if i != port
                && q.rx == RxState::PortDisabled
                && !q.actor_oper_port_state.defaulted()
                && q.partner_oper.system == pdu.actor.system
                && q.partner_oper.port == pdu.actor.port
            {
                q.port_moved = true;
            }
        }
        self.step(now, Some((port, pdu)));
    }

    fn handle_marker(&mut self, now: Instant, port: usize, m: &MarkerPdu) {
        let p = &mut self.ports[port];
        match m.kind {
            MarkerKind::Response => p.stats.marker_response_pdus_rx += 1,
            MarkerKind::Request => {
                p.stats.marker_pdus_rx += 1;
                if p.port_enabled && self.marker_tx[port].allows(now) {
                    self.marker_tx[port].record(now);
                    p.stats.marker_response_pdus_tx += 1;
                    self.transmits.push_back(Transmit {
                        port,
                        frame: SlowFrame::new(p.mac, SlowPdu::Marker(m.response())),
                    });
                }
            }
        }
    }

    /// Runs the machines whose timers have expired. Call at [`Bond::next_deadline`] (calling
    /// early or late is harmless: timers compare with `now`).
    pub fn handle_timeout(&mut self, now: Instant) {
        self.step(now, None);
    }

    /// The earliest instant at which a timer expires; re-read after every input.
    pub fn next_deadline(&self) -> Option<Instant> {
        self.ports
            .iter()
            .fold(None, |d, p| earliest(d, p.next_deadline()))
    }

    /// The next frame to send, in order.
    pub fn poll_transmit(&mut self) -> Option<Transmit> {
        self.transmits.pop_front()
    }

    /// The aggregator selected to carry the bond's traffic.
    pub fn selected_aggregator(&self) -> Option<LagId> {
        self.active
    }

    /// The members that may carry traffic now: Collecting_Distributing in the selected
    /// aggregator, in port order; none while fewer than `min_links` are.
    pub fn members(&self) -> Vec<usize> {
        let m: Vec<usize> = self
            .ports
            .iter()
            .enumerate()
            .filter(|(_, p)| {
                p.mux == MuxState::CollectingDistributing
                    && p.selected == Selected::Selected
                    && p.aggregator.is_some()
                    && p.aggregator == self.active
            })
            .map(|(i, _)| i)
            .collect();
        if m.len() < self.config.min_links.max(1) {
            Vec::new()
        } else {
            m
        }
    }

    /// The bond carries traffic (at least `min_links` members).
    pub fn is_up(&self) -> bool {
        !self.members().is_empty()
    }

    /// A snapshot of member `port`, `None` when out of range.
    pub fn port_status(&self, port: usize) -> Option<PortStatus> {
        let p = self.ports.get(port)?;
        let actor = p.actor_info();
        Some(PortStatus {
            number: p.actor_port_number,
            enabled: p.port_enabled,
            actor,
            partner: p.partner_oper,
            rx: p.rx,
            periodic: p.periodic,
            mux: p.mux,
            selected: p.selected,
            aggregator: p.aggregator,
            collecting: actor.state.collecting(),
            distributing: actor.state.distributing(),
            actor_churn: p.actor_churn,
            partner_churn: p.partner_churn,
            actor_churn_state: p.actor_churn_state,
            partner_churn_state: p.partner_churn_state,
            stats: p.stats,
        })
    }

    /// Runs every machine of every port, and the Selection Logic, until nothing changes;
    /// then lets each port's Transmit machine send what NTT asks for.
    fn step(&mut self, now: Instant, mut rx: Option<(usize, &Lacpdu)>) {
        for _ in 0..MAX_ROUNDS {
            let mut changed = false;
            for (i, p) in self.ports.iter_mut().enumerate() {
                let pdu = match rx {
                    Some((j, pdu)) if j == i => Some(pdu),
                    _ => None,
                };
                changed |= p.run_receive(now, pdu);
            }
            rx = None;
            changed |= selection::select(&mut self.ports, &mut self.active);
            for i in 0..self.ports.len() {
                let ready = selection::ready(&self.ports, self.ports[i].aggregator);
                let p = &mut self.ports[i];
                changed |= p.run_mux(now, ready);
                changed |= p.run_periodic(now);
                changed |= p.run_churn(now);
            }
            if !changed {
                break;
            }
        }
        for (i, p) in self.ports.iter_mut().enumerate() {
            if let Some(pdu) = p.run_transmit(now) {
                self.transmits.push_back(Transmit {
                    port: i,
                    frame: SlowFrame::new(p.mac, SlowPdu::Lacp(pdu)),
                });
            }
        }
    }
}
