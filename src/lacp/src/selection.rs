//! The Selection Logic (§6.4.14): which aggregator each port joins, and which of the bond's
//! aggregators carries traffic.
//!
//! Ports whose actor key, partner system and partner key agree share one Link Aggregation
//! Group (LAG ID, §6.3.6); an Individual link (the Aggregation bit clear at either end) is a
//! group of its own. As in the Linux bonding driver, every port can head an aggregator, so
//! a port never waits for a free one.
//!
//! A bond delivers one logical link, so one aggregator is selected to carry traffic: the one
//! with the most ports whose partner information comes from the partner (not defaulted);
//! ties keep the aggregator already selected, else take the group of the lowest port. Ports
//! of the other aggregators are put in STANDBY: their Mux machine waits (Synchronization
//! FALSE) so the partner does not distribute to them either. This is the rule of the Linux
//! driver's `ad_select=count`, made sticky to avoid moving traffic between equal groups.
//!
//! A port chooses an aggregator only once its Mux machine has detached from the old one, so
//! that it is never attached to two (the ordering the selection rules of §6.4.14.1 ask
//! for).

use std::collections::BTreeMap;

use crate::codec::SystemId;
use crate::port::{MuxState, Port, Selected};

/// A Link Aggregation Group identifier as the bond tells its aggregators apart. The actor's
/// system is the same for every port of a bond, so it is left out.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, PartialOrd, Ord)]
pub enum LagId {
    /// Links that may aggregate: same actor key, same partner system and partner key.
    Aggregate {
        /// Actor_Oper_Port_Key.
        actor_key: u16,
        /// Partner_Oper_System and Partner_Oper_System_Priority.
        partner_system: SystemId,
        /// Partner_Oper_Key.
        partner_key: u16,
    },
    /// An Individual link: an aggregator of its own.
    Individual {
        /// Actor_Port_Number.
        actor_port: u16,
    },
}

impl std::fmt::Display for LagId {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        match self {
            LagId::Aggregate {
                actor_key,
                partner_system,
                partner_key,
            } => write!(
                f,
                "key {actor_key} to {},{} key {partner_key}",
                partner_system.priority, partner_system.mac
            ),
            LagId::Individual { actor_port } => write!(f, "individual port {actor_port}"),
        }
    }
}

/// The LAG a port belongs in by its current operational values.
pub(crate) fn lag_id(p: &Port) -> LagId {
    if p.is_individual() {
        LagId::Individual {
            actor_port: p.actor_port_number,
        }
    } else {
        LagId::Aggregate {
            actor_key: p.actor_oper_port_key,
            partner_system: p.partner_oper.system,
            partner_key: p.partner_oper.key,
        }
    }
}

/// Runs the Selection Logic over a bond's ports: attaches unselected, detached, enabled ports
/// to their group's aggregator, picks the selected aggregator (`active`), and sets each
/// chosen port SELECTED or STANDBY accordingly. Returns whether anything changed.
pub(crate) fn select(ports: &mut [Port], active: &mut Option<LagId>) -> bool {
    let mut changed = false;
    for p in ports.iter_mut() {
        if p.selected == Selected::Unselected && p.mux == MuxState::Detached {
            let want = p.port_enabled.then(|| lag_id(p));
            if p.aggregator != want {
                p.aggregator = want;
                changed = true;
            }
            if want.is_some() {
                // SELECTED or STANDBY is settled below, once the bond's choice is known.
                p.selected = Selected::Standby;
                changed = true;
            }
        }
    }

    // Score each aggregator by the ports that hear from their partner, in port order so
    // that ties resolve to the group of the lowest port.
    let mut scores: BTreeMap<usize, (LagId, usize)> = BTreeMap::new();
    for (i, p) in ports.iter().enumerate() {
        let Some(lag) = p.aggregator else { continue };
        if p.selected == Selected::Unselected {
            continue;
        }
        let live = usize::from(p.port_enabled && !p.actor_oper_port_state.defaulted());
        match scores.values_mut().find(|(l, _)| *l == lag) {
            Some((_, n)) => *n += live,
            None => {
                scores.insert(i, (lag, live));
            }
        }
    }
    let best = scores.values().map(|(_, n)| *n).max().unwrap_or(0);
    let keep = active.is_some_and(|a| scores.values().any(|&(l, n)| l == a && n == best));
    // A selected aggregator whose ports all lost their partners (carrier loss on a one-port
    // bond) stays selected, so its ports stay SELECTED and rejoin without a new wait.
    let choice = if keep {
        *active
    } else if best == 0 {
        None
    } else {
        scores.values().find(|(_, n)| *n == best).map(|(l, _)| *l)
    };
    if *active != choice {
        *active = choice;
        changed = true;
    }

    for p in ports.iter_mut() {
        if p.selected == Selected::Unselected {
            continue;
        }
        let want = if p.aggregator.is_some() && p.aggregator == *active {
            Selected::Selected
        } else {
            Selected::Standby
        };
        if p.selected != want {
            p.selected = want;
            changed = true;
        }
    }
    changed
}

/// Ready for an aggregator: "The Selection Logic asserts Ready TRUE when the values of
/// Ready_N for all Aggregation Ports that are waiting to attach to a given Aggregator are
/// TRUE."
pub(crate) fn ready(ports: &[Port], lag: Option<LagId>) -> bool {
    lag.is_some()
        && ports.iter().all(|p| {
            p.aggregator != lag
                || p.selected != Selected::Selected
                || p.mux != MuxState::Waiting
                || p.ready_n
        })
}
