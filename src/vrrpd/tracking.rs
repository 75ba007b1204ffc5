//! Interface and health-check tracking: what the links and verdicts mean for one instance,
//! as keepalived defines it: a tracker with weight 0 puts the instance in Fault while it is
//! down; any other weight is added to the priority while it is down.

use ::vrrp::FaultReason;

use crate::config::vrrp::VrrpInstanceConfig;
use crate::kernel::links::LinkTable;
use crate::verdicts::Verdicts;

pub fn evaluate(
    cfg: &VrrpInstanceConfig,
    links: &LinkTable,
    verdicts: &Verdicts,
) -> (Option<FaultReason>, i32) {
    let mut fault = None;
    let mut adjustment = 0i32;
    if !links.get(&cfg.interface).is_some_and(|l| l.usable) {
        fault = Some(FaultReason::InterfaceDown);
    }
    for t in &cfg.track_interfaces {
        if !links.get(&t.interface).is_some_and(|l| l.usable) {
            if t.weight == 0 {
                fault.get_or_insert(FaultReason::Tracker(format!("interface {}", t.interface)));
            } else {
                adjustment += t.weight;
            }
        }
    }
    for t in &cfg.track_checks {
        // A check with no verdict yet counts as down: never claim health we have not seen.
        let verdict = verdicts.get(&t.check);
        let up = verdict.is_some_and(|v| v.up);
        if !up {
            if t.weight == 0 {
                fault.get_or_insert(FaultReason::Tracker(format!("check {}", t.check)));
            } else {
                adjustment += t.weight;
            }
        } else if let Some(w) = verdict.and_then(|v| v.weight) {
            // Checks that report a weight (track_file style) add it while up.
            adjustment += w;
        }
    }
    (fault, adjustment)
}
