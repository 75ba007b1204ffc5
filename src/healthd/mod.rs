//! The health subsystem: runs every `[checks.NAME]` once and publishes the whole verdict table
//! (`crate::verdicts`) that VRRP, BGP and backend pools consume: one probe stream, many
//! consumers. Transitions go to the event log, probe counts to the metrics.
//!
//! Reload: nothing happens unless the `[checks]` section changed. Then only the checks that
//! changed are restarted; unchanged checks keep their state and counters. A check whose change
//! is limited to timing keys (interval, timeout, rise, fall, fastinter, downinter, jitter,
//! initial) starts from the state it had; one that probes something else (type, target, path,
//! ...) starts from its `initial` state. Operator overrides are kept for every check that
//! remains in the file.

mod control;
mod forward;
mod metrics;
pub mod reload_plan;
mod view;

#[cfg(test)]
mod tests;

use std::collections::BTreeMap;
use std::future::Future;
use std::sync::Arc;

use serde_json::json;
use tokio::sync::watch;
use tokio_util::sync::CancellationToken;

pub use control::HealthControl;
pub use metrics::CheckMetrics;

use crate::config::{CheckConfig, Config};
use crate::events::{EventLog, HealthEvent};
use crate::metrics::Metrics;
use crate::verdicts::Verdicts;

/// Starts the checks of the running configuration at once, so the verdict table lists every
/// check before any consumer starts, and returns the operator handle and the task that follows
/// reloads (spawn it with the other subsystems).
pub fn start(
    config: watch::Receiver<Arc<Config>>,
    events: EventLog,
    metrics: &Metrics,
    verdicts: watch::Sender<Verdicts>,
    stop: CancellationToken,
) -> (HealthControl, impl Future<Output = ()> + Send + 'static) {
    let control = HealthControl::new(
        forward::Sink { events, verdicts },
        CheckMetrics::register(metrics),
        stop.clone(),
    );
    let initial = config.borrow().clone();
    for (name, cfg) in &initial.checks {
        control.start(name, cfg, None);
    }
    (control.clone(), follow(control, config, stop))
}

async fn follow(
    control: HealthControl,
    mut config: watch::Receiver<Arc<Config>>,
    stop: CancellationToken,
) {
    config.borrow_and_update();
    loop {
        tokio::select! {
            _ = stop.cancelled() => break,
            r = config.changed() => if r.is_err() { break },
        }
        let new = config.borrow_and_update().checks.clone();
        if new != control.configs() {
            apply(&control, &new).await;
        }
    }
    control.stop_all().await;
}

/// Brings the running checks in line with `new`.
async fn apply(control: &HealthControl, new: &BTreeMap<String, CheckConfig>) {
    let old = control.configs();
    let events = control.events();
    for name in old.keys().filter(|n| !new.contains_key(*n)) {
        control.stop(name, true).await;
        events.emit(
            HealthEvent::CheckRemoved,
            name,
            format!("{name} removed from the configuration"),
            json!({}),
        );
    }
    for (name, cfg) in new {
        match old.get(name) {
            Some(o) if o == cfg => {}
            Some(o) => {
                let state = control.stop(name, false).await;
                let carry = if o.same_probe(cfg) { state } else { None };
                control.start(name, cfg, carry);
                events.emit(
                    HealthEvent::CheckChanged,
                    name,
                    match carry {
                        Some(s) => format!("{name} reconfigured; continues from state {s}"),
                        None => format!(
                            "{name} reconfigured; probes something else, restarts from its initial state"
                        ),
                    },
                    json!({ "carried_state": carry.map(|s| s.to_string()) }),
                );
            }
            None => {
                control.start(name, cfg, None);
                events.emit(
                    HealthEvent::CheckAdded,
                    name,
                    format!(
                        "{name} added ({} {})",
                        cfg.kind.as_str(),
                        cfg.describe_target()
                    ),
                    json!({}),
                );
            }
        }
    }
}
